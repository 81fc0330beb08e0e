//! `seqcnn train`: fit a model to labelled sequences.

use anyhow::{Context, Result};
use seqcnn::arch::Arch;
use seqcnn::data::{Dataset, Examples};
use seqcnn::model::Model;
use seqcnn::model::Strand;
use seqcnn::rng;
use seqcnn::train::calibrate::{Search, Trial, calibrate};
use seqcnn::train::fit::{self, FitConfig, Monitor};
use seqcnn::train::log::{Epoch, EpochTable, Validation};
use seqcnn::train::optim::{AdamConfig, AdamWConfig, OptimizerConfig, SgdConfig};
use seqcnn::train::schedule::Schedule;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Train a model on labelled sequences (a DeepBind table or FASTA + labels).
///
/// A table of positives only (like DeepBind's ENCODE `AC` files) gets one dinucleotide-shuffled
/// negative per positive, as DeepBind trained. Without --valid, a seeded 10% of the training
/// data is held out for early stopping; the best epoch's weights are kept.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn train --arch deepbind --train data/CTCF_AC.seq.gz --out ctcf.safetensors\n  \
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
    #[arg(long, default_value_t = 0.5)]
    pub(super) threshold: f64,
    /// Genome mode: skip windows with more than this fraction of N.
    #[arg(long, default_value_t = 0.1)]
    pub(super) max_n: f64,
    /// Genome mode: keep this fraction of the training windows that are negative for every task.
    #[arg(long, default_value_t = 1.0)]
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
    /// Maximum number of epochs.
    #[arg(long, default_value_t = 60)]
    pub(super) epochs: usize,
    /// Sequences per optimiser step.
    #[arg(long, default_value_t = 64)]
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

/// Checkpoint settings from the command line (loading the checkpoint for --resume).
pub(super) fn checkpointing(args: &Args) -> Result<fit::Checkpointing> {
    let resume = match (&args.checkpoint, args.resume) {
        (Some(p), true) => Some(seqcnn::train::checkpoint::Checkpoint::load(p)?),
        _ => None,
    };
    if let Some(c) = &resume {
        eprintln!("seqcnn: resuming after epoch {}", c.epoch);
    }
    Ok(fit::Checkpointing {
        path: args.checkpoint.clone(),
        resume,
    })
}

/// Trains `model` with the command line's checkpointing (`--checkpoint`, `--resume`) and
/// reporting (epoch lines, `--log`).
pub(super) fn fit_reported(
    args: &Args,
    model: &mut Model,
    train: &dyn Examples,
    valid: &dyn Examples,
    cfg: &FitConfig,
    rng: &mut rng::Rng,
) -> Result<fit::FitReport> {
    let ckpt = checkpointing(args)?;
    let mut progress = Progress::new(
        args.epochs,
        args.log.as_deref(),
        &model.meta.tasks,
        ckpt.resume.as_ref().map(|c| c.epoch),
    )?;
    let report =
        fit::fit_with_checkpoints(model, train, Some(valid), cfg, rng, &ckpt, &mut |log| {
            progress.seq_epoch(log)
        })?;
    progress.finish()?;
    Ok(report)
}

/// The fit settings the command line asks for.
pub(super) fn fit_config(args: &Args) -> Result<FitConfig> {
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
    // Fail on an unwritable output before any work is done.
    super::check_output_dir(&args.out)?;
    if let Some(genome) = &args.genome {
        return super::train_genome::run(args, arch, genome);
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
        return super::images::train(args, arch, train_path);
    }
    let labels = (!args.labels.is_empty()).then_some(args.labels.as_slice());
    let mut rng = rng::seeded(args.seed);
    let mut data = Dataset::load(train_path, labels)?;
    if data.tasks.is_empty() {
        return Err(seqcnn::Error::parse(
            train_path,
            0,
            "no label column: training needs labels (a table with a Bound column, or --labels)",
        )
        .into());
    }
    let negatives = args
        .negatives
        .unwrap_or(if data.positives_only() { 1 } else { 0 });
    let fingerprint = data.fingerprint();
    data.add_shuffled_negatives(negatives, &mut rng);
    let (train, valid) = match &args.valid {
        Some(p) => (data, Dataset::load(p, labels)?),
        None => data.split(args.valid_fraction, &mut rng),
    };
    if train.is_empty() || valid.is_empty() {
        return Err(seqcnn::Error::Config(format!(
            "training and validation sets must both be non-empty (--valid-fraction {})",
            args.valid_fraction
        ))
        .into());
    }
    let cfg = fit_config(args)?;
    let dropout = arch
        .layers
        .iter()
        .find_map(|l| match l {
            seqcnn::arch::LayerSpec::Dropout { p } => Some(*p),
            _ => None,
        })
        .unwrap_or(0.0);
    let mut chosen = Trial::from_config(&cfg, dropout, args.init_scale);
    let mut calibration = None;
    if args.calibrate > 0 {
        let mut ccfg = cfg.clone();
        ccfg.epochs = args.calibrate_epochs.min(args.epochs).max(1);
        eprintln!(
            "seqcnn: calibrating {} settings by {}-fold cross-validation ({} epochs max each)",
            args.calibrate, args.folds, ccfg.epochs
        );
        let search = Search {
            first: chosen.clone(),
            trials: args.calibrate,
            folds: args.folds,
        };
        let results = calibrate(&arch, &train, &ccfg, search, &mut rng, &mut |i, r| {
            eprintln!(
                "trial {}/{}  {}  cv_score {:.4}",
                i + 1,
                args.calibrate,
                r.trial,
                r.score
            );
        })?;
        chosen = results[0].trial.clone();
        eprintln!("seqcnn: best setting: {chosen}");
        calibration = Some(results);
    }
    let arch = chosen.arch(&arch)?;
    let cfg = chosen.apply(&cfg);
    let mut model = Model::new(arch, train.tasks.clone(), &mut rng, chosen.init_scale)?;
    eprintln!(
        "seqcnn: training {} on {} sequences ({} negatives per positive), validating on {}",
        model.arch.name,
        train.len(),
        negatives,
        valid.len()
    );
    let started = std::time::Instant::now();
    let report = fit_reported(args, &mut model, &train, &valid, &cfg, &mut rng)?;
    let secs = started.elapsed().as_secs_f64();
    let p = &mut model.meta.provenance;
    p.insert(
        "tool".into(),
        format!("seqcnn {}", env!("CARGO_PKG_VERSION")).into(),
    );
    p.insert("train_file".into(), train_path.display().to_string().into());
    p.insert("train_data".into(), fingerprint.into());
    p.insert("seed".into(), args.seed.into());
    p.insert("epochs_run".into(), report.epochs_run.into());
    p.insert("best_epoch".into(), report.best_epoch.into());
    p.insert("optimizer".into(), serde_json::to_value(&cfg.optimizer)?);
    p.insert("negatives_per_positive".into(), negatives.into());
    p.insert("init_scale".into(), chosen.init_scale.into());
    if let Some(results) = &calibration {
        p.insert("calibration".into(), serde_json::to_value(results)?);
    }
    if let Some(best) = &report.best {
        p.insert("valid_loss".into(), best.loss.into());
        if let Some(a) = best.mean_auroc() {
            p.insert("valid_auroc".into(), a.into());
        }
    }
    model.save(&args.out)?;
    eprintln!(
        "seqcnn: best epoch {} of {}; wrote {} ({:.1}s)",
        report.best_epoch,
        report.epochs_run,
        args.out.display(),
        secs
    );
    Ok(())
}

/// Epoch reporting: a bar on a terminal, one log line per epoch otherwise (with each task's
/// figures under it for a few tasks), and the `--log` table.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    table: Option<EpochTable>,
    tasks: Vec<String>,
    /// The first failure to write the table, reported when training ends.
    failed: Option<seqcnn::Error>,
}

impl Progress {
    /// Reporting for a run of `epochs` over `tasks` (class names for images), resumed after
    /// `resumed` epochs if given.
    pub(super) fn new(
        epochs: usize,
        log: Option<&Path>,
        tasks: &[String],
        resumed: Option<usize>,
    ) -> Result<Self> {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(epochs as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} epoch {pos}/{len} {msg} [{elapsed}]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_position(resumed.unwrap_or(0) as u64);
            b
        });
        let table = log
            .map(|p| EpochTable::new(p, resumed).with_context(|| "--log".to_string()))
            .transpose()?;
        Ok(Progress {
            bar,
            table,
            tasks: tasks.to_vec(),
            failed: None,
        })
    }

    /// Reports one epoch: its line, `detail` under it, and its row in the table.
    pub(super) fn epoch<V: Validation>(&mut self, log: &Epoch<V>, detail: Option<String>) {
        let mut text = log.to_string();
        if let Some(d) = detail {
            text = format!("{text}\n{d}");
        }
        match &self.bar {
            Some(b) => {
                b.println(text);
                b.inc(1);
            }
            None => eprintln!("{text}"),
        }
        if let Some(t) = &mut self.table
            && self.failed.is_none()
            && let Err(e) = t.write(log, &self.tasks)
        {
            self.failed = Some(e);
        }
    }

    /// A sequence-training epoch, with its per-task figures.
    pub(super) fn seq_epoch(&mut self, log: &fit::EpochLog) {
        let detail = log.per_task(&self.tasks);
        self.epoch(log, detail);
    }

    /// Clears the bar; an error if the table could not be written.
    pub(super) fn finish(self) -> Result<()> {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        match self.failed {
            Some(e) => Err(anyhow::Error::new(e).context("--log")),
            None => Ok(()),
        }
    }
}
