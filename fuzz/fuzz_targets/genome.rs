//! Indexed genomes (`seqcnn::io::genome`), as `seqcnn index` and every `--genome` command read
//! them. The first byte picks the input: even, the rest is a FASTA genome (plain or BGZF), indexed
//! with `index::write_index` and opened; odd, the rest is a `.fai` index opened beside a fixed
//! small FASTA. Each contig is then read at both ends, padded past them, and as a region.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::io::genome::Genome;
use seqcnn::io::genome::index::{gzi_path, write_index};
use seqcnn_fuzz::scratch_file;

/// The FASTA an odd-mode `.fai` indexes: two contigs, lines of 10 bases.
const FIXED: &[u8] = b">chr1 first\nACGTACGTAC\nACGTAC\n>chr2\nNNNNacgt\n";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fa = if mode % 2 == 0 {
        let fa = scratch_file("genome.fa", rest);
        let _ = std::fs::remove_file(gzi_path(&fa));
        if write_index(&fa, true).is_err() {
            return;
        }
        fa
    } else {
        let fa = scratch_file("fixed.fa", FIXED);
        scratch_file("fixed.fa.fai", rest);
        fa
    };
    let Ok(g) = Genome::open(&fa) else {
        return;
    };
    for (name, len) in g.contigs().iter().take(16) {
        let _ = g.fetch(name, 0, (*len).min(64));
        let _ = g.fetch(name, len.saturating_sub(64), *len);
        let _ = g.fetch_padded(name, -10, 54);
        let _ = g.region(&format!("{name}:1-{}", (*len).min(100)));
        let _ = g.region(name);
    }
});
