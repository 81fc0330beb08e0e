//! `seqcnn eval`: a model's (or an ensemble's) AUROC, AUPRC and loss on labelled sequences.

use super::progress::Meter;
use anyhow::Result;
use seqcnn::data::Dataset;
use seqcnn::model::Model;
use seqcnn::model::Strand;
use seqcnn::score::{Ensemble, Scorer};
use seqcnn::train::fit::evaluate_observed;
use std::io::Write;
use std::path::PathBuf;

/// Evaluate a model on labelled sequences: per-task AUROC (ties averaged), AUPRC (average
/// precision) and loss, as TSV (or JSON with --json). Several --model files are evaluated as
/// an ensemble: their raw outputs averaged.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn eval --model rest.safetensors REST_B.seq.gz\n  \
    seqcnn eval --model m.safetensors test.tsv --labels TF1,TF2 --json\n  \
    seqcnn eval --model a.safetensors --model b.safetensors --genome 20.fa.gz \\\n      \
    --targets CTCF=ctcf.bed --region 20:50,000,001-63,025,520")]
pub struct Args {
    /// The model file; repeat it to evaluate an ensemble (members with the same tasks, their raw
    /// outputs averaged, each on its own strand rule unless --strand is given).
    #[arg(long, required = true)]
    model: Vec<PathBuf>,
    /// Labelled sequence table (gzip or not).
    #[arg(required_unless_present = "genome")]
    input: Option<PathBuf>,
    /// Evaluate on every bin of --region(s) of an indexed genome, labelled by --targets.
    #[arg(
        long,
        requires = "targets",
        requires = "region",
        conflicts_with = "input"
    )]
    genome: Option<PathBuf>,
    /// Genome mode: one task per NAME=FILE.bed, in the model's task order (repeatable).
    #[arg(long, value_name = "NAME=BED")]
    targets: Vec<String>,
    /// Genome mode: region(s) to score (chr:start-end, 1-based inclusive, or a contig).
    #[arg(long)]
    region: Vec<String>,
    /// Genome mode: bin size (bp).
    #[arg(long, default_value_t = 200)]
    bin: u64,
    /// Genome mode: a bin is positive when this fraction of it overlaps a target interval.
    #[arg(long, default_value_t = 0.5, value_parser = super::fraction, allow_negative_numbers = true)]
    threshold: f64,
    /// Genome mode: skip windows with more than this fraction of N.
    #[arg(long, default_value_t = 0.1, value_parser = super::fraction, allow_negative_numbers = true)]
    max_n: f64,
    /// Genome mode, for models that take any length (DeepBind): the window (bp) centred on each
    /// bin.
    #[arg(long, requires = "genome", value_name = "N")]
    window: Option<usize>,
    /// Label columns, comma-separated (default: the model's task names if present, else Bound).
    #[arg(long, value_delimiter = ',')]
    labels: Vec<String>,
    /// Strand rule (default: the model's own).
    #[arg(long, value_enum)]
    strand: Option<Strand>,
    /// Print JSON instead of TSV.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    image: super::images::ImageArgs,
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || eval(&args))
}

fn eval(args: &Args) -> Result<()> {
    if let Some(input) = &args.input
        && super::images::is_images(input, &args.image)?
    {
        let model = super::image_model(&args.model)?;
        return super::images::eval(model, input, &args.labels, &args.image, args.json);
    }
    let models = super::load_models(&args.model)?;
    let scorers = models
        .iter()
        .map(|m| match args.strand {
            Some(strand) => Scorer::new(m).with_strand(strand),
            None => Scorer::new(m),
        })
        .collect();
    let ensemble = Ensemble::new(scorers)?;
    let model = ensemble.model();
    let labels = if args.labels.is_empty() {
        None
    } else {
        Some(args.labels.as_slice())
    };
    if let Some(genome) = &args.genome {
        let genome = seqcnn::io::genome::Genome::open(genome)?;
        let tasks = super::tasks(&args.targets, &genome)?;
        let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
        if names
            != model
                .meta
                .tasks
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        {
            return Err(seqcnn::Error::Config(format!(
                "--targets name tasks {} but the model's tasks are {}",
                names.join(","),
                model.meta.tasks.join(",")
            ))
            .into());
        }
        let window = ensemble.window(args.window)?;
        let regions = super::regions(&args.region, &genome)?;
        let config = seqcnn::data::tiling::TileConfig {
            bin: args.bin,
            window: window as u64,
            threshold: args.threshold,
            max_n: args.max_n,
        };
        let windows = seqcnn::data::GenomeWindows::new(
            &genome,
            regions,
            &tasks,
            config,
            1.0,
            &mut seqcnn::rng::seeded(0),
        )?;
        return evaluate_and_report(args, model, &ensemble, &windows, "windows");
    }
    let input = args
        .input
        .as_ref()
        .ok_or_else(|| seqcnn::Error::Config("an input file is required".into()))?;
    let data = Dataset::load(input, labels)?;
    if data.tasks.len() != model.meta.tasks.len() {
        let msg = format!(
            "{} label column(s) ({}) for a model with {} task(s); choose columns with --labels",
            data.tasks.len(),
            data.tasks.join(","),
            model.meta.tasks.len()
        );
        return Err(seqcnn::Error::parse(input, 0, msg).into());
    }
    evaluate_and_report(args, model, &ensemble, &data, "sequences")
}

/// Evaluates `ensemble` on `ds` (`unit`: what its examples are), with a bar on a terminal, and
/// prints the report, then the summary line on stderr.
fn evaluate_and_report(
    args: &Args,
    model: &Model,
    ensemble: &Ensemble,
    ds: &dyn seqcnn::data::Examples,
    unit: &'static str,
) -> Result<()> {
    let mut meter = Meter::new("eval", unit, Some(ds.len() as u64));
    let e = evaluate_observed(ensemble, ds, &mut |n| meter.add(n as u64))?;
    report(args, model, &e)?;
    meter.finish(None, &[], "");
    Ok(())
}

/// Prints the evaluation as TSV or JSON.
fn report(args: &Args, model: &Model, e: &seqcnn::train::fit::Evaluation) -> Result<()> {
    let fmt = |v: Option<f64>| v.map_or("NA".to_string(), |v| format!("{v:.6}"));
    let mut text = String::new();
    if args.json {
        let tasks: Vec<serde_json::Value> = model
            .meta
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| serde_json::json!({"task": t, "auroc": e.auroc[i], "auprc": e.auprc[i]}))
            .collect();
        let doc = serde_json::json!({"n": e.n, "loss": e.loss, "mean_auroc": e.mean_auroc(), "tasks": tasks});
        text.push_str(&serde_json::to_string_pretty(&doc)?);
        text.push('\n');
    } else {
        text.push_str("task\tauroc\tauprc\tloss\tn\n");
        for (i, t) in model.meta.tasks.iter().enumerate() {
            text.push_str(&format!(
                "{t}\t{}\t{}\t{:.6}\t{}\n",
                fmt(e.auroc[i]),
                fmt(e.auprc[i]),
                e.loss,
                e.n
            ));
        }
    }
    // Written, not printed: `println!` panics on a closed pipe (`seqcnn eval ... | head -0`),
    // where an error lets main exit quietly.
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| seqcnn::Error::io("<stdout>", e))?;
    Ok(())
}
