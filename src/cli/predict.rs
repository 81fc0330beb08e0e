//! `seqcnn predict`: score sequences with a model, streaming.

use anyhow::Result;
use seqcnn::io::{AtomicOutput, sequence_records};
use seqcnn::model::Model;
use seqcnn::score::{Scorer, Strand};
use std::io::Write;
use std::path::PathBuf;

/// Score every sequence of a FASTA file or sequence table (`-` for stdin).
///
/// Output: TSV with a header `name` then one column per task, one row per input record, in input
/// order. Values are probabilities for classification models (sigmoid of the logit), or the raw
/// network output with --raw. Imported DeepBind models give DeepBind's score either way.
/// Memory stays bounded whatever the input size.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn predict --model ctcf.safetensors peaks.fa > scores.tsv\n  \
    zcat seqs.tsv.gz | seqcnn predict --model m.safetensors - --raw --out scores.tsv.gz\n  \
    seqcnn predict --model models/D00328.003.safetensors long.fa --average")]
pub struct Args {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// FASTA or sequence table (gzip or not); `-` reads stdin.
    input: PathBuf,
    /// Output TSV (`-` = stdout; `.gz` = gzip).
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// Raw network outputs (logits) instead of probabilities.
    #[arg(long)]
    raw: bool,
    /// Strand rule (default: the model's own).
    #[arg(long, value_enum)]
    strand: Option<Strand>,
    /// DeepBind models: the mean over a sequence's windows instead of the maximum.
    #[arg(long)]
    average: bool,
    /// Sequences read and scored at a time.
    #[arg(long, default_value_t = 1024)]
    chunk: usize,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || predict(&args))
}

fn predict(args: &Args) -> Result<()> {
    let model = Model::load(&args.model)?;
    let mut scorer = Scorer::new(&model);
    if let Some(s) = args.strand {
        scorer = scorer.with_strand(s);
    }
    if args.average {
        scorer = scorer.with_window_average(true)?;
    }
    let records = sequence_records(&args.input, Some(&[]))?;
    let mut out = AtomicOutput::create(&args.out)?;
    let mut header = String::from("name");
    for t in &model.meta.tasks {
        header.push('\t');
        header.push_str(t);
    }
    writeln!(out, "{header}").map_err(|e| out.error(e))?;
    let mut chunk = Vec::with_capacity(args.chunk);
    let mut records = records.peekable();
    while records.peek().is_some() {
        chunk.clear();
        while chunk.len() < args.chunk.max(1) {
            match records.next() {
                Some(r) => chunk.push(r?),
                None => break,
            }
        }
        let score = |seqs: &[&[u8]]| {
            if args.raw {
                scorer.score_raw(seqs)
            } else {
                scorer.score(seqs)
            }
        };
        let seqs: Vec<&[u8]> = chunk.iter().map(|r| r.seq.as_slice()).collect();
        let scores = score(&seqs).map_err(|e| {
            // Name the first record that fails on its own (a sequence too short for the
            // model, say); the chunk's error if none does.
            let input = if args.input.as_os_str() == "-" {
                PathBuf::from("<stdin>")
            } else {
                args.input.clone()
            };
            match chunk
                .iter()
                .find_map(|r| score(&[&r.seq]).err().map(|e| (r, e)))
            {
                Some((r, e)) => {
                    seqcnn::Error::parse(input, r.line, format!("record '{}': {e}", r.name))
                }
                None => seqcnn::Error::parse(input, 0, e.to_string()),
            }
        })?;
        let mut text = String::new();
        for (r, row) in chunk.iter().zip(scores.rows()) {
            text.push_str(&r.name);
            for v in row {
                text.push('\t');
                text.push_str(&v.to_string());
            }
            text.push('\n');
        }
        out.write_all(text.as_bytes()).map_err(|e| out.error(e))?;
    }
    out.commit()?;
    Ok(())
}
