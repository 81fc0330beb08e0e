//! `seqcnn info`: what a model file holds.

use anyhow::Result;
use seqcnn::model::Model;
use std::io::Write;
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
    // Written, not printed: a closed pipe is an error to return, not a panic.
    let mut t = String::new();
    let input_length = m.meta.input_length.map_or("any".into(), |l| l.to_string());
    t += &format!("model\t{}\narch\t{}\n", args.model.display(), m.arch.name);
    t += &format!(
        "tasks\t{}\nalphabet\t{}\n",
        m.meta.tasks.join(","),
        m.meta.alphabet
    );
    t += &format!("input_length\t{input_length}\nstrand\t{}\n", m.meta.strand);
    let n: usize = m.params.iter().map(|p| p.len()).sum();
    t += &format!("parameters\t{n}\n");
    for (spec, p) in m.net.params().iter().zip(&m.params) {
        t += &format!("param\t{}\t{:?}\n", spec.name, p.shape());
    }
    for (k, v) in &m.meta.provenance {
        t += &format!("provenance.{k}\t{v}\n");
    }
    std::io::stdout().write_all(t.as_bytes())?;
    Ok(())
}
