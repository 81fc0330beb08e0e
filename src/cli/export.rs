//! `seqcnn export`: a model's weights in other tools' formats.

use anyhow::Result;
use clap::Subcommand;
use seqcnn::model::Model;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Export {
    /// A PyTorch nn.Sequential state dict (safetensors), keys 0.weight, 0.bias, ...
    #[command(after_help = "Example:\n  \
        seqcnn export torch model.safetensors --out state.safetensors\n  \
        # in Python: net.load_state_dict(safetensors.torch.load_file(\"state.safetensors\"))")]
    Torch {
        /// The seqcnn model file.
        model: PathBuf,
        /// Output state dict (.safetensors).
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: Export) -> Result<()> {
    match cmd {
        Export::Torch { model, out } => {
            let m = Model::load(&model)?;
            let bytes = m.torch_state_dict_bytes()?;
            let mut w = seqcnn::io::output::AtomicOutput::create(&out)?;
            w.write_all(&bytes).map_err(|e| w.error(e))?;
            w.commit()?;
            Ok(())
        }
    }
}
