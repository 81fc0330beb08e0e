//! `seqcnn merge`: join the outputs of `--shard I/N` runs into the unsharded output.

use anyhow::Result;
use std::path::PathBuf;

/// Join shard outputs (TSV or VCF, gzip or not) into one file, in the order given.
///
/// The first shard's header (a TSV's header row, a VCF's block of `#` lines) is written once,
/// then every shard's data lines unchanged, so merging the N outputs of `--shard 1/N` ... `N/N`
/// in order gives exactly the output of the unsharded run. Every shard's header must equal the
/// first's (VCF meta lines naming a command line excepted): a shard from another command, model
/// or option set is an error naming the file and line. A shard that is empty or ends without a
/// newline (a cut file) is an error too, as is a shard given twice. Every output of a --shard
/// run starts with a marker line, `##seqcnn_shard=I/N` (a VCF has it before `#CHROM`), which
/// merge checks and drops: the shards must be 1/N to N/N of one split, each once and in order,
/// or the error names the shard missing, repeated or out of place. Without --out the first file
/// is the output (as in `samtools merge OUT IN...`). An output file that exists is never
/// overwritten unless --force is given (`seqcnn merge shards/*.tsv` would otherwise replace the
/// first shard); the output is written atomically, and `.gz` gzip-compresses it.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn merge scores.tsv scores.1.tsv scores.2.tsv scores.3.tsv\n  \
    seqcnn merge --out ism.tsv.gz shards/ism.*.tsv.gz\n  \
    seqcnn merge --out variants.vcf.gz variants.1.vcf.gz variants.2.vcf.gz\n\n\
Shell globs sort 10 before 2: name shards with zero-padded numbers (scores.01.tsv) or list them \
in order.")]
pub struct Args {
    /// OUT then the shard files in order; with --out, only the shard files. `-` reads one shard
    /// from stdin (or, as OUT, writes to stdout).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Output file (`-` = stdout; `.gz` = gzip).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an output file that exists.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<()> {
    let (out, shards) = match &args.out {
        Some(out) => (out.as_path(), &args.files[..]),
        None => match args.files.split_first() {
            Some((out, shards)) if !shards.is_empty() => (out.as_path(), shards),
            _ => {
                return Err(seqcnn::Error::Config(
                    "merge needs an output and at least one shard: seqcnn merge OUT SHARD... \
                     (or --out OUT SHARD...)"
                        .into(),
                )
                .into());
            }
        },
    };
    seqcnn::shard::merge::check_inputs(out, shards)?;
    if !args.force && std::fs::metadata(out).is_ok_and(|m| m.is_file()) {
        let how = if args.out.is_some() {
            "add --force to replace it"
        } else {
            "the first file is the output: name a new one first (or with --out), or add --force"
        };
        return Err(seqcnn::Error::Config(format!(
            "merge: the output {} exists; {how}",
            out.display()
        ))
        .into());
    }
    seqcnn::shard::merge::merge(out, shards)?;
    Ok(())
}
