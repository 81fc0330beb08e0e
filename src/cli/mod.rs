//! Subcommands: one file each, holding its clap arguments and its `run`.

mod export;
mod import;
mod info;

use clap::{Parser, Subcommand};

/// Convolutional networks for DNA sequence: train, predict, explain.
#[derive(Parser)]
#[command(name = "seqcnn", version, about, long_about = None)]
#[command(after_help = "Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input.")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a seqcnn model from another tool's weights.
    #[command(subcommand)]
    Import(import::Import),
    /// Write a seqcnn model's weights in another tool's format.
    #[command(subcommand)]
    Export(export::Export),
    /// Show a model file's architecture, tasks and provenance.
    Info(info::Args),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Import(cmd) => import::run(cmd),
        Command::Export(cmd) => export::run(cmd),
        Command::Info(args) => info::run(args),
    }
}

/// Exit code for an error: 2 for bad input or usage, 1 for anything else.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    use seqcnn::Error as E;
    match err.downcast_ref::<E>() {
        Some(E::Parse { .. } | E::Model { .. } | E::Arch(_) | E::Config(_) | E::Shape { .. }) => 2,
        Some(E::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => 2,
        _ => 1,
    }
}
