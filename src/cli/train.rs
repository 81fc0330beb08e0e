//! `seqcnn train`: fit a model to labelled sequences.

use super::fitting::Session;
use super::images::ImagePlan;
use super::train_genome::GenomePlan;
use super::train_table::TablePlan;
use anyhow::{Context, Result};
use seqcnn::arch::Arch;
use seqcnn::data::tiling::TileConfig;
use seqcnn::model::Strand;
use seqcnn::train::fit::{FitConfig, Monitor};
use seqcnn::train::optim::{AdamConfig, AdamWConfig, OptimizerConfig, SgdConfig};
use seqcnn::train::schedule::Schedule;
use std::path::PathBuf;

/// Train a model on labelled sequences (a DeepBind table or FASTA + labels).
///
/// A table of positives only (like DeepBind's ENCODE `AC` files) gets one dinucleotide-shuffled
/// negative per positive, as DeepBind trained. Without --valid, a seeded 10% of the training
/// data is held out for early stopping; the best epoch's weights are kept.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn train --arch deepbind --train data/CTCF_AC.seq.gz --tasks CTCF --out ctcf.safetensors\n  \
    seqcnn train --arch my_arch.toml --train train.tsv --valid valid.tsv --labels TF1,TF2 \\\n      \
    --epochs 30 --lr 3e-3 --set layers.0.out_channels=32 --seed 7 --threads 2 --log epochs.tsv \\\n      \
    --out m.safetensors\n  \
    seqcnn train --arch deepsea --genome hg19.fa.gz --targets CTCF=ctcf.narrowPeak.gz \\\n      \
    --targets DNase=dnase.bed --valid-region chr7 --test-region chr8 --test-region chr9 \\\n      \
    --keep-negatives 0.25 --checkpoint deepsea.ckpt --log epochs.tsv --out deepsea.safetensors\n  \
    seqcnn train --arch lenet5 --train train-images-idx3-ubyte.gz \\\n      \
    --train-labels train-labels-idx1-ubyte.gz --out lenet5.safetensors")]
pub struct Args {
    /// Built-in architecture (deepbind, deepsea, dilated, lenet5, resnet_small, smallcnn) or
    /// architecture file (TOML; see README, Architectures).
    #[arg(long)]
    pub(super) arch: String,
    /// Training sequences: table (FoldID EventID seq Bound; gzip or not) or FASTA; or images:
    /// MNIST IDX (with --train-labels) or CSV (with --image-shape).
    #[arg(long, required_unless_present = "genome")]
    pub(super) train: Option<PathBuf>,
    /// Train on windows of an indexed genome (FASTA + .fai, or BGZF + .fai + .gzi) labelled by
    /// --targets, DeepSEA style, instead of --train.
    #[arg(long, requires = "targets", conflicts_with = "train")]
    pub(super) genome: Option<PathBuf>,
    /// Genome mode: one task per NAME=FILE.bed (BED3/BED6/narrowPeak, gzip or not; repeatable).
    #[arg(long, value_name = "NAME=BED")]
    pub(super) targets: Vec<String>,
    /// Genome mode: region(s) held out for validation (chr:start-end, 1-based inclusive, or a contig).
    #[arg(long, value_name = "REGION")]
    pub(super) valid_region: Vec<String>,
    /// Genome mode: region(s) held out for testing, never trained or validated on.
    #[arg(long, value_name = "REGION")]
    pub(super) test_region: Vec<String>,
    /// Genome mode: bin size (bp) the labels describe.
    #[arg(long, default_value_t = 200)]
    pub(super) bin: u64,
    /// Genome mode: context window (bp) centred on each bin; the model's input length.
    #[arg(long, default_value_t = 1000)]
    pub(super) window: u64,
    /// Genome mode: a bin is positive when this fraction of it overlaps a target interval.
    #[arg(long, default_value_t = 0.5, value_parser = super::fraction, allow_negative_numbers = true)]
    pub(super) threshold: f64,
    /// Genome mode: skip windows with more than this fraction of N.
    #[arg(long, default_value_t = 0.1, value_parser = super::fraction, allow_negative_numbers = true)]
    pub(super) max_n: f64,
    /// Genome mode: keep this fraction of the training windows that are negative for every task.
    #[arg(long, default_value_t = 1.0, value_parser = super::fraction, allow_negative_numbers = true)]
    pub(super) keep_negatives: f64,
    /// Genome mode: shift augmentation, moving each training window by a random offset of up to
    /// this many bp either way every epoch (labels unchanged; 0: none)
    #[arg(long, default_value_t = 0)]
    pub(super) jitter: u64,
    /// Genome mode: draw the --keep-negatives fraction of all-negative windows afresh every
    /// epoch, so training sees them all over the epochs (Selene's sampling), instead of once
    #[arg(long)]
    pub(super) resample_negatives: bool,
    /// Per-task weight of positive examples in the loss, comma-separated (one per task).
    #[arg(long, value_delimiter = ',')]
    pub(super) pos_weight: Vec<f32>,
    /// Validation sequences (default: a seeded split of --train).
    #[arg(long)]
    pub(super) valid: Option<PathBuf>,
    /// Output model file (.safetensors).
    #[arg(long)]
    pub(super) out: PathBuf,
    /// Label columns of the table, comma-separated (default: Bound).
    #[arg(long, value_delimiter = ',')]
    pub(super) labels: Vec<String>,
    /// Names for the model's tasks, comma-separated, one per label column (default: the
    /// columns' names, e.g. `Bound`).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NAME",
        conflicts_with = "genome"
    )]
    pub(super) tasks: Vec<String>,
    /// Maximum number of epochs.
    #[arg(long, default_value_t = 60)]
    pub(super) epochs: usize,
    /// Sequences per optimiser step.
    #[arg(long, default_value_t = 64, value_parser = super::count)]
    pub(super) batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub(super) lr: f64,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    pub(super) optimizer: OptimizerKind,
    /// Momentum (SGD).
    #[arg(long, default_value_t = 0.9)]
    pub(super) momentum: f64,
    /// Nesterov momentum (SGD).
    #[arg(long)]
    pub(super) nesterov: bool,
    /// Weight decay (L2 for SGD/Adam, decoupled for AdamW); never applied to biases.
    #[arg(long, default_value_t = 0.0)]
    pub(super) weight_decay: f64,
    /// Learning-rate schedule: constant, step:SIZE:GAMMA, cosine, or plateau:PATIENCE:FACTOR (the
    /// rate is multiplied by FACTOR after more than PATIENCE epochs without a better --monitor
    /// metric) [default: constant; plateau:3:0.3 for images].
    #[arg(long)]
    pub(super) schedule: Option<String>,
    /// Clip the total gradient norm.
    #[arg(long)]
    pub(super) clip_norm: Option<f32>,
    /// Stop after this many epochs without improvement on the validation set.
    #[arg(long, default_value_t = 8)]
    pub(super) patience: usize,
    /// What picks the best epoch.
    #[arg(long, value_enum, default_value_t = Monitor::Auroc)]
    pub(super) monitor: Monitor,
    /// Dropout probability for every dropout layer (overrides the architecture).
    #[arg(long)]
    pub(super) dropout: Option<f32>,
    /// Architecture override PATH=VALUE (repeatable), e.g. layers.0.out_channels=32.
    #[arg(long = "set")]
    pub(super) set: Vec<String>,
    /// Scale of the initial weights (times PyTorch's default bounds).
    #[arg(long, default_value_t = 1.0)]
    pub(super) init_scale: f32,
    /// Dinucleotide-shuffled negatives per positive (default: 1 when the data are all positives,
    /// else 0).
    #[arg(long)]
    pub(super) negatives: Option<usize>,
    /// Train on random strands (reverse-complement augmentation).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(super) rc_augment: bool,
    /// How strands are combined when scoring (stored in the model).
    #[arg(long, value_enum, default_value_t = Strand::Max)]
    pub(super) strand: Strand,
    /// Fraction held out for validation when --valid is not given.
    #[arg(long, default_value_t = 0.1)]
    pub(super) valid_fraction: f64,
    /// Calibrate first, as DeepBind did: score this many settings (yours plus random ones over
    /// learning rate, momentum, dropout, weight decay and init scale) by cross-validation, then
    /// train the best on all the training data.
    #[arg(long, default_value_t = 0)]
    pub(super) calibrate: usize,
    /// Cross-validation folds for --calibrate.
    #[arg(long, default_value_t = 3)]
    pub(super) folds: usize,
    /// Maximum epochs of each calibration fold.
    #[arg(long, default_value_t = 15)]
    pub(super) calibrate_epochs: usize,
    /// One job of a calibration split across jobs: score only setting K (1 <= K <= --calibrate)
    /// and write its result to --out as JSON instead of training a model. Every other setting
    /// (seed, data, --calibrate, --folds, fit options) must equal the gathering run's.
    #[arg(
        long,
        value_name = "K",
        requires = "calibrate",
        conflicts_with = "calibrate_results"
    )]
    pub(super) calibrate_trial: Option<usize>,
    /// The gathering run of a split calibration: take the --calibrate-trial results (one file
    /// per setting, any order) instead of scoring the settings, then train the best as one
    /// `--calibrate` run does; the model equals that run's.
    #[arg(long, value_name = "JSON", num_args = 1.., requires = "calibrate")]
    pub(super) calibrate_results: Vec<PathBuf>,
    /// Write a checkpoint here after every epoch (weights, optimiser, scheduler, generator).
    #[arg(long)]
    pub(super) checkpoint: Option<PathBuf>,
    /// Continue from --checkpoint: the result equals an uninterrupted run with the same settings.
    #[arg(long, requires = "checkpoint")]
    pub(super) resume: bool,
    /// Write a TSV log here, one row per epoch as it ends: learning rate, losses, validation
    /// AUROC and AUPRC of each task (accuracy of each class for images), seconds, whether best.
    /// With --resume, the rows up to the checkpoint's epoch are kept. `-`: standard output.
    #[arg(long, value_name = "TSV")]
    pub(super) log: Option<PathBuf>,
    /// Random seed (shuffles, splits, initialisation, dropout).
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    pub(super) threads: Option<usize>,
    #[command(flatten)]
    pub(super) image: super::images::TrainImageArgs,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(super) enum OptimizerKind {
    Sgd,
    Adam,
    Adamw,
}

fn optimizer(args: &Args) -> OptimizerConfig {
    match args.optimizer {
        OptimizerKind::Sgd => OptimizerConfig::Sgd(SgdConfig {
            lr: args.lr,
            momentum: args.momentum,
            nesterov: args.nesterov,
            weight_decay: args.weight_decay,
            ..SgdConfig::default()
        }),
        OptimizerKind::Adam => OptimizerConfig::Adam(AdamConfig {
            lr: args.lr,
            weight_decay: args.weight_decay,
            ..AdamConfig::default()
        }),
        OptimizerKind::Adamw => OptimizerConfig::AdamW(AdamWConfig {
            lr: args.lr,
            weight_decay: args.weight_decay,
            ..AdamWConfig::default()
        }),
    }
}

fn schedule(text: &str, epochs: usize) -> Result<Schedule> {
    let parts: Vec<&str> = text.split(':').collect();
    let num = |i: usize, default: f64| -> Result<f64> {
        parts.get(i).map_or(Ok(default), |s| {
            s.parse::<f64>()
                .with_context(|| format!("--schedule {text}: '{s}' is not a number"))
        })
    };
    Ok(match parts[0] {
        "constant" => Schedule::Constant,
        "step" => Schedule::Step {
            step_size: num(1, 10.0)? as u64,
            gamma: num(2, 0.1)?,
        },
        "cosine" => Schedule::Cosine {
            t_max: epochs as u64,
            eta_min: 0.0,
        },
        "plateau" => Schedule::ReduceOnPlateau(seqcnn::train::schedule::PlateauConfig {
            patience: num(1, 2.0)? as u64,
            factor: num(2, 0.5)?,
            ..Default::default()
        }),
        other => anyhow::bail!(
            "--schedule: unknown schedule '{other}' (constant, step:SIZE:GAMMA, cosine, plateau:PATIENCE:FACTOR)"
        ),
    })
}

/// The fit settings the command line asks for.
fn fit_config(args: &Args) -> Result<FitConfig> {
    let cfg = FitConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        optimizer: optimizer(args),
        schedule: schedule(args.schedule.as_deref().unwrap_or("constant"), args.epochs)?,
        clip_norm: args.clip_norm,
        patience: Some(args.patience),
        monitor: args.monitor,
        rc_augment: args.rc_augment,
        strand: args.strand,
        pos_weight: (!args.pos_weight.is_empty()).then(|| args.pos_weight.clone()),
        jitter: args.jitter,
        resample_negatives: None,
    };
    cfg.optimizer.validate()?;
    Ok(cfg)
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || train(&args))
}

fn train(args: &Args) -> Result<()> {
    let mut arch = Arch::load(&args.arch)?;
    for s in &args.set {
        arch.set(s)?;
    }
    if let Some(p) = args.dropout {
        arch.set_dropout(p)?;
    }
    train_arch(args, arch).map_err(|e| name_arch(e, args))
}

/// An architecture error found while building the network (a layer that does not fit the shape
/// it receives) names the architecture it came from, as a parse error of the file does.
fn name_arch(e: anyhow::Error, args: &Args) -> anyhow::Error {
    if !matches!(
        e.downcast_ref::<seqcnn::Error>(),
        Some(seqcnn::Error::Arch(_))
    ) {
        return e;
    }
    let from = if Arch::builtin(&args.arch).is_some() {
        format!("built-in architecture '{}'", args.arch)
    } else {
        args.arch.clone()
    };
    let changed = if args.set.is_empty() {
        String::new()
    } else {
        format!(" (with --set {})", args.set.join(" --set "))
    };
    e.context(format!("{from}{changed}"))
}

fn train_arch(args: &Args, arch: Arch) -> Result<()> {
    // Fail on an unwritable output before any work is done.
    super::check_outputs(
        &[
            ("--out", Some(&args.out)),
            ("--log", args.log.as_ref()),
            ("--checkpoint", args.checkpoint.as_ref()),
        ],
        &[
            args.train.as_ref(),
            args.valid.as_ref(),
            args.genome.as_ref(),
        ],
    )?;
    let session = Session {
        out: args.out.clone(),
        seed: args.seed,
        init_scale: args.init_scale,
        epochs: args.epochs,
        log: args.log.clone(),
        checkpoint: args.checkpoint.clone(),
        resume: args.resume,
    };
    if let Some(genome) = &args.genome {
        if args.calibrate > 0 {
            return Err(seqcnn::Error::Config(
                "--calibrate applies to training on a sequence table (--train), not on a genome"
                    .into(),
            )
            .into());
        }
        let plan = GenomePlan {
            genome: genome.clone(),
            targets: args.targets.clone(),
            valid_region: args.valid_region.clone(),
            test_region: args.test_region.clone(),
            tile: TileConfig {
                bin: args.bin,
                window: args.window,
                threshold: args.threshold,
                max_n: args.max_n,
            },
            keep_negatives: args.keep_negatives,
            resample_negatives: args.resample_negatives,
            jitter: args.jitter,
        };
        return super::train_genome::run(&session, &plan, arch, || fit_config(args));
    }
    if args.jitter > 0 || args.resample_negatives {
        return Err(seqcnn::Error::Config(
            "--jitter and --resample-negatives work on windows of a genome: they need --genome"
                .into(),
        )
        .into());
    }
    let train_path = args
        .train
        .as_ref()
        .ok_or_else(|| seqcnn::Error::Config("--train or --genome is required".into()))?;
    if super::images::is_images(train_path, &args.image.image)? {
        if args.calibrate > 0 || args.checkpoint.is_some() {
            return Err(seqcnn::Error::Config(
                "--calibrate and --checkpoint apply to sequence training, not images".into(),
            )
            .into());
        }
        let plan = ImagePlan {
            train: train_path.clone(),
            valid: args.valid.clone(),
            valid_fraction: args.valid_fraction,
            image: &args.image,
            default_schedule: args.schedule.is_none(),
        };
        return super::images::train(&session, &plan, arch, || fit_config(args));
    }
    let plan = TablePlan {
        train: train_path.clone(),
        labels: args.labels.clone(),
        tasks: args.tasks.clone(),
        negatives: args.negatives,
        valid: args.valid.clone(),
        valid_fraction: args.valid_fraction,
        calibrate: args.calibrate,
        calibrate_epochs: args.calibrate_epochs,
        folds: args.folds,
        calibrate_trial: args.calibrate_trial,
        calibrate_results: args.calibrate_results.clone(),
    };
    super::train_table::run(&session, &plan, arch, || fit_config(args))
}
