//! The `seqcnn` command line: parse, run, map errors to exit codes (0 ok, 1 runtime failure,
//! 2 bad usage or bad input). Errors go to stderr as one line with their causes.

use std::process::ExitCode;

fn main() -> ExitCode {
    seqcnn::alloc::tune();
    // One command's outputs never replace its inputs.
    seqcnn::io::input::guard_inputs();
    // Interrupted (SIGINT, SIGTERM): unfinished outputs' temporary files are removed, exit 130/143.
    if let Err(e) = seqcnn::io::cleanup::remove_pending_on_signals() {
        eprintln!("seqcnn: warning: cannot watch for SIGINT/SIGTERM: {e}");
    }
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
            eprintln!("seqcnn: error: {}", one_line(&err));
            ExitCode::from(seqcnn_cli::exit_code(&err))
        }
    }
}

/// The error and its causes joined with `: `, skipping a cause whose text the message already
/// ends with (the library's I/O errors print their cause and also report it as their source).
fn one_line(err: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if msg.is_empty() {
            msg = text;
        } else if !msg.ends_with(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}

#[path = "cli/mod.rs"]
mod seqcnn_cli;
