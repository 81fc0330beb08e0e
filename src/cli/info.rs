//! `seqcnn info`: what a model file holds.

use anyhow::Result;
use seqcnn::model::Model;
use std::path::PathBuf;

/// Show a model's architecture, tasks, parameters and provenance.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  seqcnn info model.safetensors")]
pub struct Args {
    /// The model file.
    model: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let m = Model::load(&args.model)?;
    println!("model\t{}", args.model.display());
    println!("arch\t{}", m.arch.name);
    println!("tasks\t{}", m.meta.tasks.join(","));
    println!("alphabet\t{}", m.meta.alphabet);
    println!(
        "input_length\t{}",
        m.meta.input_length.map_or("any".into(), |l| l.to_string())
    );
    let n: usize = m.params.iter().map(|p| p.len()).sum();
    println!("parameters\t{n}");
    for (spec, p) in m.net.params().iter().zip(&m.params) {
        println!("param\t{}\t{:?}", spec.name, p.shape());
    }
    for (k, v) in &m.meta.provenance {
        println!("provenance.{k}\t{v}");
    }
    Ok(())
}
