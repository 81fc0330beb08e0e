//! `seqcnn index`: write the missing `.fai` (and, for BGZF, `.gzi`) index of a genome FASTA, or
//! the tabix index of a bgzipped VCF.

use anyhow::Result;
use std::path::PathBuf;

/// Index a genome FASTA (plain or BGZF) for random access, or a bgzipped VCF for `variants
/// --region`.
#[derive(clap::Args)]
#[command(
    after_help = "Writes GENOME.fai, and GENOME.gzi when GENOME is BGZF-compressed \
(the formats of `samtools faidx` and `bgzip -r`); for a bgzipped VCF (sorted by contig and \
position), its tabix index VCF.tbi (`tabix -p vcf`; VCF.csi when a contig is longer than tabix \
allows). Existing indexes are kept unless --force.\n\n\
Examples:\n  seqcnn index hg19.fa.gz\n  seqcnn index calls.vcf.gz"
)]
pub struct Args {
    /// The genome FASTA: plain, or BGZF-compressed (`bgzip`); plain gzip cannot be indexed. Or a
    /// bgzipped VCF.
    genome: PathBuf,
    /// Rebuild indexes that already exist (after the FASTA changed).
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<()> {
    if seqcnn::io::vcf_region::is_vcf(&args.genome) {
        let (path, written) = seqcnn::io::vcf_region::write_vcf_index(&args.genome, args.force)?;
        println!(
            "{}\t{}",
            path.display(),
            if written { "written" } else { "kept" }
        );
        return Ok(());
    }
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
