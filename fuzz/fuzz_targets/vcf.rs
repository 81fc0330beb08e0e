//! VCF header and records (`seqcnn::io::vcf::VcfReader`), each record written back as
//! `variants --out-vcf` does, its ALT alleles classified, and its scoring windows placed as
//! `seqcnn variants` places them (`seqcnn::variants::Placement`, 101 and 1000 bp).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcnn::io::vcf::{AltKind, VcfReader, alt_kind};
use seqcnn::variants::Placement;
use seqcnn_fuzz::MAX_RECORDS;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = VcfReader::new(data, "fuzz.vcf") else {
        return;
    };
    let _ = reader.header().clone();
    for rec in reader.take(MAX_RECORDS) {
        let Ok(rec) = rec else { break };
        let ref_len = rec.reference.len();
        let places: Vec<Placement> = [101, 1000]
            .into_iter()
            .filter_map(|len| Placement::new(rec.pos, ref_len, len))
            .collect();
        for alt in &rec.alts {
            if alt_kind(alt) == AltKind::Bases {
                for p in &places {
                    let _ = p.span(ref_len, alt.len());
                }
            }
        }
        let _ = rec.to_line("X=1");
    }
});
