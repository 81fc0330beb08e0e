//! `seqcnn saliency`: gradient x input per position and task, as TSV and SVG logos.

use super::progress::Meter;
use anyhow::Result;
use seqcnn::interpret::logo;
use seqcnn::interpret::saliency::{self, Saliency};
use seqcnn::io::output::{AtomicDir, AtomicOutput};
use seqcnn::io::sequence::sequence_records;
use seqcnn::model::Model;
use seqcnn::model::Strand;
use seqcnn::score::Presentation;
use std::collections::HashSet;
use std::path::PathBuf;

/// Saliency of every input sequence: the gradient of the model's raw score (the logit for
/// classification models; DeepBind's score for imported DeepBind models) with respect to the
/// one-hot input, times the input, per position and task, by backpropagation through the
/// network.
///
/// The gradient follows the scorer's rules: under the max strand rule it flows through the
/// strand that scores higher, under mean through both (reverse-strand gradients are mapped back
/// onto the forward strand); for DeepBind models through the best window. Output: TSV `name pos
/// base task saliency`, one row per position and task (`pos` 1-based), or with --wide one row per
/// position and one column per task. --plot writes one SVG per sequence: each base drawn as tall
/// as its saliency, up when positive, down when negative.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn saliency --model ctcf.safetensors peaks.fa --out saliency.tsv\n  \
    seqcnn saliency --model rest.safetensors REST_B.seq.gz --wide --plot plots/ > sal.tsv\n  \
    seqcnn saliency --model multi.safetensors seqs.fa --task CTCF --task DNase")]
pub struct Args {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// FASTA or sequence table (gzip or not); `-` reads stdin.
    input: PathBuf,
    /// Output TSV (`-` = stdout; `.gz` = gzip).
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// One row per position with a column per task, instead of one row per position and task.
    #[arg(long)]
    wide: bool,
    /// Directory for one SVG per sequence (NAME.svg); created if missing.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Tasks to explain, by name (repeatable; default: all).
    #[arg(long)]
    task: Vec<String>,
    /// Strand rule (default: the model's own).
    #[arg(long, value_enum)]
    strand: Option<Strand>,
    /// Sequences read and explained at a time (old name: --chunk).
    #[arg(long = "batch-size", alias = "chunk", default_value_t = 256, value_parser = super::count)]
    chunk: usize,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || saliency_cmd(&args))
}

fn saliency_cmd(args: &Args) -> Result<()> {
    let model = Model::load(&args.model)?;
    let pres = Presentation::of(&model, args.strand)?;
    let tasks = super::task_indices(&model, &args.task)?;
    let names: Vec<&str> = tasks
        .iter()
        .map(|&t| model.meta.tasks[t].as_str())
        .collect();
    super::check_output_dir(&args.out)?;
    super::check_not_input("--out", &args.out, &[&args.input, &args.model])?;
    let plots = args.plot.as_deref().map(AtomicDir::create).transpose()?;
    let input = if args.input.as_os_str() == "-" {
        PathBuf::from("<stdin>")
    } else {
        args.input.clone()
    };
    let mut records = sequence_records(&args.input, Some(&[]))?.peekable();
    let mut out = AtomicOutput::create(&args.out)?;
    if plots.is_some() {
        // `| head` ends the table, not the plots.
        out.discard_if_closed();
    }
    let mut used = HashSet::new();
    let mut first = true;
    let mut chunk = Vec::with_capacity(args.chunk.max(1));
    let mut meter = Meter::new("saliency", "sequences", None);
    while records.peek().is_some() {
        chunk.clear();
        while chunk.len() < args.chunk.max(1) {
            match records.next() {
                Some(r) => chunk.push(r?),
                None => break,
            }
        }
        let seqs: Vec<&[u8]> = chunk.iter().map(|r| r.seq.as_slice()).collect();
        let explain = |seqs: &[&[u8]]| -> seqcnn::Result<Vec<Saliency>> {
            saliency::saliency(&model, &pres, seqs, &tasks, 4096)
        };
        let sal = explain(&seqs).map_err(|e| {
            // Name the first record that fails on its own; the chunk's error if none does.
            match chunk
                .iter()
                .find_map(|r| explain(&[&r.seq]).err().map(|e| (r, e)))
            {
                Some((r, e)) => {
                    seqcnn::Error::parse(&input, r.line, format!("record '{}': {e}", r.name))
                }
                None => seqcnn::Error::parse(&input, 0, e.to_string()),
            }
        })?;
        for (r, s) in chunk.iter().zip(&sal) {
            saliency::write_tsv(&mut out, &r.name, &r.seq, s, &names, args.wide, first)
                .map_err(|e| out.error(e))?;
            first = false;
            if let Some(dir) = &plots {
                let svg = logo::saliency_svg(&r.name, &r.seq, &s.values, &names);
                let file = super::file_name(&r.name, &mut used);
                super::write_svg(&dir.path().join(file), &svg)?;
            }
        }
        meter.add(chunk.len() as u64);
    }
    if let Some(dir) = plots {
        dir.commit()?;
    }
    out.commit()?;
    let mut outputs = vec![args.out.as_path()];
    outputs.extend(args.plot.as_deref());
    meter.finish(None, &outputs, "");
    Ok(())
}
