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
    /// DeepBind text parameter files (# deepbind 0.1), one native model each.
    ///
    /// Each file becomes DIR/<ID>.safetensors with one task named for the model ID (the file
    /// name without .txt). The model keeps DeepBind's scoring: N padding, windows of int(1.5 x
    /// detector length) with the maximum kept (predict --average for the mean), both strands when
    /// the file says reverse_complement = 1, raw scores. Every file is read and checked before
    /// any model is written.
    #[command(after_help = "Examples:\n  \
        seqcnn import deepbind D00328.003.txt --out models/\n  \
        seqcnn import deepbind deepbind/params --index deepbind/db.tsv --out models/\n  \
        seqcnn predict --model models/D00328.003.safetensors example.seq")]
    Deepbind {
        /// Parameter files, or directories whose *.txt files are parameter files.
        #[arg(required = true)]
        params: Vec<PathBuf>,
        /// DeepBind's model index (db.tsv): copies protein, type, species, family, class,
        /// experiment and details into each model's provenance.
        #[arg(long)]
        index: Option<PathBuf>,
        /// Output directory (created if missing).
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
        Import::Deepbind { params, index, out } => import_deepbind(&params, index.as_deref(), &out),
    }
}

/// Reads and checks every parameter file, then writes one model file each.
fn import_deepbind(
    params: &[PathBuf],
    index: Option<&std::path::Path>,
    out: &std::path::Path,
) -> Result<()> {
    use seqcnn::deepbind;
    let index = index.map(deepbind::Index::read).transpose()?;
    if out.exists() && !out.is_dir() {
        return Err(seqcnn::Error::Config(format!(
            "--out {} exists and is not a directory: DeepBind models are written one file per ID \
             into a directory",
            out.display()
        ))
        .into());
    }
    let files = deepbind::param_files(params)?;
    let mut models = Vec::with_capacity(files.len());
    let mut seen = std::collections::HashMap::new();
    for f in &files {
        let mut model = deepbind::import(f)?;
        let id = model.meta.tasks[0].clone();
        if let Some(first) = seen.insert(id.clone(), f.clone()) {
            anyhow::bail!(
                "{}: model ID {id} is also given by {}",
                f.display(),
                first.display()
            );
        }
        if let Some(ix) = &index
            && !ix.annotate(&mut model, &id)
        {
            eprintln!("seqcnn: warning: {id} is not in the index");
        }
        models.push((id, model));
    }
    std::fs::create_dir_all(out).map_err(|e| seqcnn::Error::io(out, e))?;
    for (id, model) in &models {
        model.save(&out.join(format!("{id}.safetensors")))?;
    }
    eprintln!(
        "seqcnn: wrote {} DeepBind model(s) to {}",
        models.len(),
        out.display()
    );
    Ok(())
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
    let bytes = seqcnn::io::input::read_file(weights)?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| seqcnn::Error::model(weights, format!("invalid safetensors file: {e}")))?;
    let n = last
        .and_then(|(name, torch)| st.tensor(&name).or_else(|_| st.tensor(&torch)).ok())
        .map(|t| t.shape()[0])
        .unwrap_or(1);
    Ok((1..=n).map(|i| format!("task{i}")).collect())
}
