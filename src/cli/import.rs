//! `seqcnn import`: models from other tools' weight files.

use anyhow::Result;
use clap::Subcommand;
use seqcnn::arch::Arch;
use seqcnn::model::Model;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Import {
    /// A PyTorch nn.Sequential state dict saved with safetensors.
    ///
    /// The state dict's keys are the nn.Sequential indices of the architecture's layers
    /// (0.weight, 0.bias, ...) or the layers' names; shapes are checked against the architecture.
    #[command(after_help = "Example:\n  \
        # in Python: safetensors.torch.save_file(net.state_dict(), \"state.safetensors\")\n  \
        seqcnn import torch --arch deepbind --weights state.safetensors --tasks CTCF --out ctcf.safetensors")]
    Torch {
        /// Built-in architecture name or architecture file (TOML).
        #[arg(long)]
        arch: String,
        /// The state dict (.safetensors).
        #[arg(long)]
        weights: PathBuf,
        /// Task names, comma-separated (default: task1, task2, ... one per output).
        #[arg(long, value_delimiter = ',')]
        tasks: Vec<String>,
        /// Output model file.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: Import) -> Result<()> {
    match cmd {
        Import::Torch {
            arch,
            weights,
            tasks,
            out,
        } => {
            let arch = Arch::load(&arch)?;
            let tasks = if tasks.is_empty() {
                default_tasks(&arch, &weights)?
            } else {
                tasks
            };
            let mut model = Model::from_torch(arch, tasks, &weights)?;
            model
                .meta
                .provenance
                .insert("imported_from".into(), "pytorch state dict".into());
            model
                .meta
                .provenance
                .insert("source_file".into(), weights.display().to_string().into());
            model.save(&out)?;
            eprintln!(
                "seqcnn: wrote {} ({} tasks)",
                out.display(),
                model.meta.tasks.len()
            );
            Ok(())
        }
    }
}

/// Task names `task1..taskN` for an architecture whose last layer takes its size from the data:
/// N is read from the state dict's last linear weight.
fn default_tasks(arch: &Arch, weights: &std::path::Path) -> Result<Vec<String>> {
    // Build with one task to find the output layer's parameter, then read its row count.
    let net = seqcnn::nn::Network::build(arch, 1)?;
    let last = net
        .params()
        .iter()
        .rev()
        .find(|p| p.suffix == "weight")
        .map(|p| (p.name.clone(), p.torch_name()));
    let bytes = std::fs::read(weights).map_err(|e| seqcnn::Error::io(weights, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| seqcnn::Error::model(weights, format!("invalid safetensors file: {e}")))?;
    let n = last
        .and_then(|(name, torch)| st.tensor(&name).or_else(|_| st.tensor(&torch)).ok())
        .map(|t| t.shape()[0])
        .unwrap_or(1);
    Ok((1..=n).map(|i| format!("task{i}")).collect())
}
