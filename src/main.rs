//! The `seqcnn` command line: parse, run, map errors to exit codes (0 ok, 1 runtime failure,
//! 2 bad usage or bad input). Errors go to stderr as one line with their causes.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = <seqcnn_cli::Cli as clap::Parser>::parse();
    match seqcnn_cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed downstream pipe (`seqcnn predict ... | head`) is not an error.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("seqcnn: error: {err:#}");
            ExitCode::from(seqcnn_cli::exit_code(&err))
        }
    }
}

#[path = "cli/mod.rs"]
mod seqcnn_cli;
