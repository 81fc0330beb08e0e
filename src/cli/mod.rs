//! Subcommands: one file each, holding its clap arguments and its `run`; a subcommand with
//! several modes resolves its arguments into a plan per mode (`train_table::TablePlan`,
//! `train_genome::GenomePlan`, `images::ImagePlan`, `predict_genome::GenomePredict`) handed to
//! that mode's file. The helpers more than one subcommand uses live here and in `fitting.rs`
//! (what every training mode shares); no subcommand file imports another's.

mod attribute;
mod discover;
mod eval;
mod export;
mod fitting;
mod images;
mod import;
mod index;
mod info;
mod merge;
mod models;
mod motifs;
mod mutate;
mod occlude;
mod predict;
mod predict_genome;
mod progress;
mod saliency;
mod scan;
mod train;
mod train_genome;
mod train_table;
mod variants;

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
    /// Train a model on labelled sequences.
    Train(Box<train::Args>),
    /// Score sequences with a model (TSV out; bigWig tracks of genome bins).
    Predict(predict::Args),
    /// AUROC, AUPRC and loss of a model on labelled sequences.
    Eval(eval::Args),
    /// First-layer filters as motifs (MEME), matched against a motif database.
    Motifs(Box<motifs::Args>),
    /// Saturation mutagenesis: every base x 3 alternatives scored (TSV out).
    Mutate(mutate::Args),
    // About and long help (the window and indel rules) come from `variants::Args`.
    Variants(Box<variants::Args>),
    /// Gradient x input saliency per position and task (TSV, SVG).
    Saliency(saliency::Args),
    // About and long help (the scoring, output and BED rules) come from `scan::Args`.
    Scan(Box<scan::Args>),
    // About and long help (methods, formats, the completeness check) come from `attribute::Args`.
    Attribute(Box<attribute::Args>),
    // About and long help (the algorithm and its outputs) come from `discover::Args`.
    Discover(Box<discover::Args>),
    /// Occlusion map of an image classifier: where covering the image lowers the true class.
    Occlude(Box<occlude::Args>),
    /// Build a seqcnn model from another tool's weights.
    #[command(subcommand)]
    Import(import::Import),
    /// Write a seqcnn model's weights in another tool's format.
    #[command(subcommand)]
    Export(export::Export),
    /// Show a model file's architecture, tasks and provenance.
    Info(info::Args),
    /// Find DeepBind models by protein or ID (index or imported models).
    #[command(subcommand)]
    Models(models::Models),
    /// Write the missing .fai (and .gzi) index of a genome FASTA.
    Index(index::Args),
    /// Join the outputs of --shard runs (TSV or VCF) into the unsharded output.
    Merge(merge::Args),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Predict(args) => predict::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Motifs(args) => motifs::run(*args),
        Command::Mutate(args) => mutate::run(args),
        Command::Variants(args) => variants::run(*args),
        Command::Saliency(args) => saliency::run(args),
        Command::Scan(args) => scan::run(*args),
        Command::Attribute(args) => attribute::run(*args),
        Command::Discover(args) => discover::run(*args),
        Command::Occlude(args) => occlude::run(*args),
        Command::Import(cmd) => import::run(cmd),
        Command::Export(cmd) => export::run(cmd),
        Command::Info(args) => info::run(args),
        Command::Models(cmd) => models::run(cmd),
        Command::Index(args) => index::run(args),
        Command::Merge(args) => merge::run(args),
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

/// The most worker threads a command starts: far above any CPU count seqcnn runs on, far below
/// what would exhaust the machine's threads or memory for stacks.
const MAX_THREADS: usize = 1024;

/// Runs `f` inside a rayon pool of `threads` workers (default: all CPUs): the one pool every
/// kernel uses.
pub fn with_threads<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> anyhow::Result<T> + Send,
) -> anyhow::Result<T> {
    let n = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if n == 0 {
        return Err(seqcnn::Error::Config("--threads must be at least 1".into()).into());
    }
    if n > MAX_THREADS {
        return Err(seqcnn::Error::Config(format!(
            "--threads {n}: at most {MAX_THREADS} (this machine has {} CPUs)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ))
        .into());
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build()?;
    pool.install(f)
}

/// Checks, before any work, every output given (`(flag, path)`; `None` when the flag is not
/// given): its directory exists ([`check_output_dir`]) and it is none of the `inputs` given
/// ([`check_not_input`]).
pub fn check_outputs(
    outputs: &[(&str, Option<&std::path::PathBuf>)],
    inputs: &[Option<&std::path::PathBuf>],
) -> anyhow::Result<()> {
    let inputs: Vec<&std::path::Path> = inputs.iter().flatten().map(|p| p.as_path()).collect();
    for (flag, out) in outputs {
        if let Some(out) = out {
            check_output_dir(out)?;
            check_not_input(flag, out, &inputs)?;
        }
    }
    Ok(())
}

/// Fails before any work, naming both, when the output `out` is one of the command's `inputs`
/// (the same file, by device and inode, however it is spelled): the output would replace the
/// input it is read from.
pub fn check_not_input(
    flag: &str,
    out: &std::path::Path,
    inputs: &[&std::path::Path],
) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(o) = std::fs::metadata(out) else {
        return Ok(());
    };
    if !o.is_file() {
        return Ok(());
    }
    for input in inputs {
        if let Ok(i) = std::fs::metadata(input)
            && (i.dev(), i.ino()) == (o.dev(), o.ino())
        {
            return Err(seqcnn::Error::Config(format!(
                "{flag} {} is the input {}: writing it would destroy the input; choose another output",
                out.display(),
                input.display()
            ))
            .into());
        }
    }
    Ok(())
}

/// Fails early, naming the path, when an output's directory does not exist.
pub fn check_output_dir(path: &std::path::Path) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        return Ok(());
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if !parent.is_dir() {
        return Err(seqcnn::Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("directory {} does not exist", parent.display()),
            ),
        )
        .into());
    }
    Ok(())
}

/// The single `--model` of an image command (ensembles are for sequence models).
pub fn image_model(models: &[std::path::PathBuf]) -> anyhow::Result<&std::path::Path> {
    match models {
        [model] => Ok(model),
        _ => Err(seqcnn::Error::Config(
            "ensembles (--model given more than once) are for sequence models, not images".into(),
        )
        .into()),
    }
}

/// The models a command names, as `(ID, file)` in order: each `--model` file, then each line of
/// `--models FILE` (a model file, or a DeepBind-style ID found as `DIR/ID.safetensors` in
/// `--model-dir`, else in the current directory; `#` starts a comment, as in DeepBind's
/// `example.ids`), or without `--models` every `*.safetensors` in `--model-dir` by name. The ID
/// is the file name without `.safetensors`.
pub fn model_list(
    models: &[std::path::PathBuf],
    list: Option<&std::path::Path>,
    dir: Option<&std::path::Path>,
) -> anyhow::Result<Vec<(String, std::path::PathBuf)>> {
    use std::path::{Path, PathBuf};
    let id = |p: &Path| {
        let name = p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        name.strip_suffix(".safetensors")
            .map_or(name.clone(), str::to_string)
    };
    let mut out: Vec<(String, PathBuf)> = models.iter().map(|p| (id(p), p.clone())).collect();
    match (list, dir) {
        (Some(list), _) => {
            let text = std::fs::read_to_string(list).map_err(|e| seqcnn::Error::io(list, e))?;
            for (n, line) in text.lines().enumerate() {
                let entry = line.split('#').next().unwrap_or("").trim();
                if entry.is_empty() {
                    continue;
                }
                let as_path = PathBuf::from(entry);
                let path = if as_path.extension().is_some_and(|e| e == "safetensors") {
                    match dir {
                        Some(d) if as_path.is_relative() && !as_path.exists() => d.join(&as_path),
                        _ => as_path,
                    }
                } else {
                    dir.unwrap_or(Path::new("."))
                        .join(format!("{entry}.safetensors"))
                };
                if !path.exists() {
                    return Err(seqcnn::Error::parse(
                        list,
                        n as u64 + 1,
                        format!(
                            "model '{entry}': no file {} (import it with `seqcnn import deepbind`, or give --model-dir)",
                            path.display()
                        ),
                    )
                    .into());
                }
                out.push((id(&path), path));
            }
        }
        (None, Some(dir)) => {
            let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| seqcnn::Error::io(dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(seqcnn::Error::Config(format!(
                    "--model-dir {}: no .safetensors model files in it",
                    dir.display()
                ))
                .into());
            }
            out.extend(found.into_iter().map(|p| (id(&p), p)));
        }
        (None, None) => {}
    }
    if out.is_empty() {
        return Err(seqcnn::Error::Config(
            "no model: give --model FILE, --models LIST or --model-dir DIR".into(),
        )
        .into());
    }
    Ok(out)
}

/// Loads every `--model` file of an ensemble, in order.
pub fn load_models(models: &[std::path::PathBuf]) -> anyhow::Result<Vec<seqcnn::model::Model>> {
    Ok(models
        .iter()
        .map(|p| seqcnn::model::Model::load(p))
        .collect::<seqcnn::Result<_>>()?)
}

/// Parses `NAME=FILE` targets and reads each BED file against the genome.
pub fn tasks(
    targets: &[String],
    genome: &seqcnn::io::genome::Genome,
) -> anyhow::Result<Vec<seqcnn::data::tiling::Task>> {
    let mut names: Vec<&str> = Vec::new();
    targets
        .iter()
        .map(|t| {
            let (name, path) = t
                .split_once('=')
                .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                .ok_or_else(|| {
                    seqcnn::Error::Config(format!("--targets '{t}': expected NAME=FILE.bed"))
                })?;
            if names.contains(&name) {
                return Err(seqcnn::Error::Config(format!(
                    "--targets: task '{name}' is named twice; give each task its own name"
                ))
                .into());
            }
            names.push(name);
            let intervals = seqcnn::io::bed::read_bed_checked(std::path::Path::new(path), genome)?;
            if intervals.is_empty() {
                return Err(seqcnn::Error::parse(
                    path,
                    0,
                    format!("no intervals: task '{name}' would have no positive bin"),
                )
                .into());
            }
            Ok(seqcnn::data::tiling::Task::new(name, &intervals))
        })
        .collect()
}

/// The indices of the tasks `--task` names (every task when none is named), in the order named.
pub fn task_indices(model: &seqcnn::model::Model, names: &[String]) -> seqcnn::Result<Vec<usize>> {
    if names.is_empty() {
        return Ok((0..model.meta.tasks.len()).collect());
    }
    names
        .iter()
        .map(|t| {
            model.meta.tasks.iter().position(|m| m == t).ok_or_else(|| {
                seqcnn::Error::Config(format!(
                    "--task {t}: the model has no task '{t}' (its tasks: {})",
                    model.meta.tasks.join(", ")
                ))
            })
        })
        .collect()
}

/// The largest count a user may give for records in memory at once (batch sizes, report rows,
/// an image scale): far above any useful setting, far below what exhausts memory.
pub const MAX_COUNT: usize = 1 << 20;

/// A clap value parser for a count of records held at once: a whole number from 1 to
/// [`MAX_COUNT`].
pub fn count(text: &str) -> Result<usize, String> {
    let v: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a whole number"))?;
    if (1..=MAX_COUNT).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not from 1 to {MAX_COUNT}"))
    }
}

/// A clap value parser for a fraction: a number from 0 to 1.
pub fn fraction(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not a fraction from 0 to 1"))
    }
}

/// Parses region arguments against the genome.
pub fn regions(
    texts: &[String],
    genome: &seqcnn::io::genome::Genome,
) -> anyhow::Result<Vec<seqcnn::interval::Interval>> {
    texts.iter().map(|t| Ok(genome.region(t)?)).collect()
}

/// An SVG file name made from a record name ([`safe_name`] + `.svg`).
pub fn file_name(name: &str, used: &mut std::collections::HashSet<String>) -> String {
    format!("{}.svg", safe_name(name, used))
}

/// A name made safe for part of a file name: characters other than letters, digits, `.`, `-` and
/// `_` become `_` (and a leading `.` gets a `_` before it); a name already used gets `_2`, `_3`,
/// ...
pub fn safe_name(name: &str, used: &mut std::collections::HashSet<String>) -> String {
    let mut base: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if base.is_empty() || base.starts_with('.') {
        base.insert(0, '_');
    }
    let mut candidate = base.clone();
    let mut n = 1;
    while !used.insert(candidate.clone()) {
        n += 1;
        candidate = format!("{base}_{n}");
    }
    candidate
}

/// Writes one SVG file atomically.
pub fn write_svg(path: &std::path::Path, svg: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = seqcnn::io::output::AtomicOutput::create(path)?;
    out.write_all(svg.as_bytes()).map_err(|e| out.error(e))?;
    out.commit()?;
    Ok(())
}

/// This process's command line as a shell would take it back: arguments with characters
/// outside `[A-Za-z0-9_./=:,+@%-]` single-quoted.
pub(crate) fn command_line() -> String {
    std::env::args_os()
        .map(|a| {
            let a = a.to_string_lossy().into_owned();
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_./=:,+@%-".contains(c));
            if plain {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn file_names_are_safe_and_unique() {
        let mut used = HashSet::new();
        assert_eq!(
            file_name("chr20:100-200(+)", &mut used),
            "chr20_100-200___.svg"
        );
        assert_eq!(file_name("../x", &mut used), "_.._x.svg");
        assert_eq!(file_name("a", &mut used), "a.svg");
        assert_eq!(file_name("a", &mut used), "a_2.svg");
        assert_eq!(file_name("", &mut used), "_.svg");
    }
}
