//! `seqcnn index`: write the missing `.fai` (and, for BGZF, `.gzi`) index of a genome FASTA.

use anyhow::Result;
use std::path::PathBuf;

/// Index a genome FASTA (plain or BGZF) for random access.
#[derive(clap::Args)]
#[command(
    after_help = "Writes GENOME.fai, and GENOME.gzi when GENOME is BGZF-compressed \
(the formats of `samtools faidx` and `bgzip -r`). Existing indexes are kept unless --force.\n\n\
Example:\n  seqcnn index hg19.fa.gz"
)]
pub struct Args {
    /// The genome FASTA: plain, or BGZF-compressed (`bgzip`); plain gzip cannot be indexed.
    genome: PathBuf,
    /// Rebuild indexes that already exist (after the FASTA changed).
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<()> {
    let done = seqcnn::io::genome::index::write_index(&args.genome, args.force)?;
    let genome = seqcnn::io::genome::Genome::open(&args.genome)?;
    for f in &done {
        let what = if f.written { "written" } else { "kept" };
        println!("{}\t{what}", f.path.display());
    }
    let total: u64 = genome.contigs().iter().map(|c| c.1).sum();
    println!("contigs\t{}", genome.contigs().len());
    println!("bases\t{total}");
    Ok(())
}
