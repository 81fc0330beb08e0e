//! The integration tests, one test binary with a module per area: `cargo test --test integration`
//! runs them all, `cargo test --test integration shard::` one area (the filter is a substring of
//! `area::test`: `genome::` also selects `mutate::genome::`), and the ignored ones run with
//! `cargo test --release --test integration AREA:: -- --ignored`. One binary links the crate once
//! instead of once per area.
//!
//! Tests of every area run in one process, on the test harness's threads: a test must not change
//! process-wide state (environment variables, the current directory, rayon's global pool) and
//! writes only under its own temp dir or a file name of its own in `CARGO_TARGET_TMPDIR` (the
//! ignored `genome::regenerate_vendored_slice` rewrites files of tests/data: run it alone).
//!
//! - [`common`]: the shared harness: run the `seqcnn` binary, temp dirs, fixture paths.
//! - [`attribute`]: `seqcnn attribute`: every method, TSV and `.npz`, convergence deltas, captum
//!   parity.
//! - [`bigwig`]: `predict --tile --out X.bw`: bigWig tracks read back equal the TSV.
//! - [`calibrate`]: `train --calibrate` split into jobs gives the model of one run.
//! - [`cli_errors`]: bad input through `train`, `predict`, `eval`: one error line, exit code 2.
//! - [`deepbind`]: DeepBind's published models: import, predict, eval, malformed files.
//! - [`discover`]: `seqcnn discover` finds REST in DeepSHAP attributions of a REST model; bad
//!   shapes.
//! - [`determinism`]: identical weights and model files whatever the thread count.
//! - [`genome`]: indexed genomes, intervals, `seqcnn index` and the DeepSEA tiler.
//! - [`genome_train`]: genome mode end to end: multi-task training, evaluation, prediction.
//! - [`help`]: every command's `--help` shows an example.
//! - [`images`]: image classification on the vendored MNIST and digits slices.
//! - [`interpret`]: `seqcnn motifs` and `seqcnn saliency`.
//! - [`matrix`]: the bad-input matrix: every class of fault across the commands, nothing changed.
//! - [`model_files`]: damaged model files fail cleanly.
//! - [`mutate`]: `seqcnn mutate`, in silico mutagenesis.
//! - [`progress`]: no bar off a terminal, one summary line per long command.
//! - [`optim_parity`]: optimisers, gradient clipping and schedules against PyTorch.
//! - [`resume`]: checkpoints and `--resume`.
//! - [`scan`]: `seqcnn scan` against FIMO's hits (pymemesuite fixtures), bad input.
//! - [`shard`]: `--shard I/N` and `seqcnn merge`.
//! - [`torch_parity`]: networks imported from PyTorch give PyTorch's outputs and gradients.
//! - [`variants`]: `seqcnn variants` on the vendored chr20 slice.

mod common;

mod attribute;
mod bigwig;
mod calibrate;
mod cli_errors;
mod deepbind;
mod determinism;
mod discover;
mod genome;
mod genome_train;
mod help;
mod images;
mod interpret;
mod matrix;
mod model_files;
mod mutate;
mod optim_parity;
mod progress;
mod resume;
mod scan;
mod shard;
mod torch_parity;
mod variants;
