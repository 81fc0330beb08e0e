//! `seqcnn eval`: a model's AUROC, AUPRC and loss on labelled sequences.

use anyhow::Result;
use seqcnn::data::Dataset;
use seqcnn::model::Model;
use seqcnn::score::Strand;
use seqcnn::train::fit::evaluate;
use std::io::Write;
use std::path::PathBuf;

/// Evaluate a model on labelled sequences: per-task AUROC (ties averaged), AUPRC (average
/// precision) and loss, as TSV (or JSON with --json).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn eval --model rest.safetensors REST_B.seq.gz\n  \
    seqcnn eval --model m.safetensors test.tsv --labels TF1,TF2 --json")]
pub struct Args {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// Labelled sequence table (gzip or not).
    input: PathBuf,
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
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || eval(&args))
}

fn eval(args: &Args) -> Result<()> {
    let model = Model::load(&args.model)?;
    let labels = if args.labels.is_empty() {
        None
    } else {
        Some(args.labels.as_slice())
    };
    let data = Dataset::load(&args.input, labels)?;
    if data.tasks.len() != model.meta.tasks.len() {
        let msg = format!(
            "{} label column(s) ({}) for a model with {} task(s); choose columns with --labels",
            data.tasks.len(),
            data.tasks.join(","),
            model.meta.tasks.len()
        );
        return Err(seqcnn::Error::parse(&args.input, 0, msg).into());
    }
    let e = evaluate(&model, &data, args.strand.unwrap_or(model.meta.strand))?;
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
