//! `seqcnn mutate`: in-silico saturation mutagenesis of every input sequence, streaming TSV.

use anyhow::Result;
use seqcnn::io::{AtomicOutput, sequence_records};
use seqcnn::model::Model;
use seqcnn::mutate::{IsmScores, fast_ism, naive_ism};
use seqcnn::score::{Scorer, Strand};
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

/// Score every single-base substitution of every sequence of a FASTA file or sequence table
/// (`-` for stdin).
///
/// Output: TSV with a header `name pos ref alt` then, per task, `TASK:ref TASK:alt TASK:diff`
/// (reference score, mutant score, mutant minus reference; with --logit also `TASK:logit_diff`,
/// the difference of raw scores). One row per (sequence, position, alternative base): three per
/// position (four where the sequence has N), positions 1-based, alternatives in ACGT order.
/// Scores are on `predict`'s scale, under the model's strand rule (and DeepBind's window rules for
/// imported DeepBind models). Sequences are read and written one at a time.
///
/// Plain sequential networks (convolutions, activations, pooling, batch norm, dropout up to the
/// first flatten or global pooling) use fast ISM: only the slice of each convolutional layer
/// inside the changed base's receptive field is recomputed; other models, and --naive, score
/// every mutant sequence whole. Both give the same numbers within 1e-4.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn mutate --model ctcf.safetensors peaks.fa > ism.tsv\n  \
    seqcnn mutate --model models/D00328.003.safetensors seqs.tsv --logit --out ism.tsv.gz\n  \
    seqcnn mutate --model deepsea.safetensors windows.fa --naive --batch 64 --out ism.tsv\n  \
    zcat seqs.fa.gz | seqcnn mutate --model m.safetensors - --strand max --out ism.tsv")]
pub struct Args {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// FASTA or sequence table (gzip or not); `-` reads stdin.
    input: PathBuf,
    /// Output TSV (`-` = stdout; `.gz` = gzip).
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// Also write `TASK:logit_diff`: the mutant's raw score (logit) minus the reference's.
    #[arg(long)]
    logit: bool,
    /// Strand rule (default: the model's own).
    #[arg(long, value_enum)]
    strand: Option<Strand>,
    /// DeepBind models: the mean over a sequence's windows instead of the maximum.
    #[arg(long)]
    average: bool,
    /// Score every mutant sequence whole (naive ISM) instead of fast ISM.
    #[arg(long)]
    naive: bool,
    /// Mutant sequences scored per forward pass.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || mutate(&args))
}

fn mutate(args: &Args) -> Result<()> {
    super::check_output_dir(&args.out)?;
    let model = Model::load(&args.model)?;
    let mut scorer = Scorer::new(&model);
    if let Some(s) = args.strand {
        scorer = scorer.with_strand(s);
    }
    if args.average {
        scorer = scorer.with_window_average(true)?;
    }
    let records = sequence_records(&args.input, Some(&[]))?;
    let input = if args.input.as_os_str() == "-" {
        PathBuf::from("<stdin>")
    } else {
        args.input.clone()
    };
    let mut out = AtomicOutput::create(&args.out)?;
    let mut header = String::from("name\tpos\tref\talt");
    for t in &model.meta.tasks {
        for col in ["ref", "alt", "diff"] {
            let _ = write!(header, "\t{t}:{col}");
        }
        if args.logit {
            let _ = write!(header, "\t{t}:logit_diff");
        }
    }
    writeln!(out, "{header}").map_err(|e| out.error(e))?;
    for r in records {
        let r = r?;
        let named = |e: seqcnn::Error| {
            seqcnn::Error::parse(&input, r.line, format!("record '{}': {e}", r.name))
        };
        let ism_of = |raw: bool| -> seqcnn::Result<IsmScores> {
            if !args.naive
                && let Some(ism) = fast_ism(&model, &scorer, &r.seq, raw, args.batch)?
            {
                return Ok(ism);
            }
            naive_ism(&scorer, &r.seq, raw, args.batch)
        };
        let ism = ism_of(false).map_err(named)?;
        let logit = if args.logit {
            Some(ism_of(true).map_err(named)?.diff())
        } else {
            None
        };
        let diff = ism.diff();
        let mut text = String::new();
        for (i, m) in ism.mutations.iter().enumerate() {
            let _ = write!(
                text,
                "{}\t{}\t{}\t{}",
                r.name,
                m.pos + 1,
                m.ref_base as char,
                m.alt as char
            );
            for (t, &rv) in ism.reference.iter().enumerate() {
                let _ = write!(text, "\t{rv}\t{}\t{}", ism.mutants[[i, t]], diff[[i, t]]);
                if let Some(l) = &logit {
                    let _ = write!(text, "\t{}", l[[i, t]]);
                }
            }
            text.push('\n');
        }
        out.write_all(text.as_bytes()).map_err(|e| out.error(e))?;
    }
    out.commit()?;
    Ok(())
}
