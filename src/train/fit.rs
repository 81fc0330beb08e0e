//! The training loop, one for every kind of input: seeded shuffling, one optimiser step per
//! batch, validation after every epoch, the learning-rate schedule, early stopping with the best
//! weights kept, a checkpoint after every epoch. What differs between inputs (the examples of an
//! epoch, how a batch is made and augmented, what validation measures and which result is
//! better) is a [`FitTask`]; [`fit_task`] runs any of them. Sequences and genome windows
//! ([`fit`], [`fit_with_checkpoints`]: reverse-complement and shift augmentation, negative
//! resampling, validation AUROC through the [`Scorer`]) are one task, images
//! (`crate::vision::train`) another.
//!
//! Determinism: every random draw (shuffle, strand flips, shifts, dropout) comes from the one
//! generator passed in, on the calling thread, and every kernel reduces in a fixed order, so the
//! same data and seed give the same weights whatever the number of threads.

use super::checkpoint::{Checkpoint, Fnv, RngState, RunId};
use super::log::{Epoch, Validation};
use super::optim::{Optimizer, OptimizerConfig, clip_grad_norm};
use super::schedule::{PlateauConfig, PlateauMode, Schedule, Scheduler};
use crate::arch::LossKind;
use crate::data::{self, Examples};
use crate::metrics;
use crate::model::Model;
use crate::model::Strand;
use crate::rng::{self, Rng};
use crate::score::{Ensemble, Scorer};
use crate::tensor::{Array, Tape, Var};
use crate::{Error, Result};
use std::sync::Arc;
use std::time::Instant;

/// What decides the best epoch.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Lowest validation loss.
    Loss,
    /// Highest mean validation AUROC.
    Auroc,
}

impl Monitor {
    /// `schedule` with a plateau schedule set to follow this monitor's direction: a loss falls, an
    /// AUROC or an accuracy rises. The plateau metric is the monitored one, so the rate is cut
    /// when the monitored metric stalls, never while it improves.
    pub fn plateau_schedule(self, schedule: &Schedule) -> Schedule {
        match schedule {
            Schedule::ReduceOnPlateau(c) => Schedule::ReduceOnPlateau(PlateauConfig {
                mode: match self {
                    Monitor::Loss => PlateauMode::Min,
                    Monitor::Auroc => PlateauMode::Max,
                },
                ..c.clone()
            }),
            other => other.clone(),
        }
    }

    /// The plateau schedule's metric for an epoch, in the direction of
    /// [`Monitor::plateau_schedule`]: `valid` is the validation (loss, score), the score being
    /// higher-is-better (a mean AUROC, an accuracy); without a validation set, the training loss.
    pub fn plateau_metric(self, valid: Option<(f64, f64)>, train_loss: f64) -> f64 {
        match (self, valid) {
            (Monitor::Loss, Some((loss, _))) => loss,
            (Monitor::Loss, None) => train_loss,
            (Monitor::Auroc, Some((_, score))) => score,
            (Monitor::Auroc, None) => -train_loss,
        }
    }
}

/// Settings of one training run.
#[derive(Clone, Debug)]
pub struct FitConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    pub schedule: Schedule,
    /// Clip the total gradient norm to this value.
    pub clip_norm: Option<f32>,
    /// Stop after this many epochs without improvement.
    pub patience: Option<usize>,
    pub monitor: Monitor,
    /// Present each training sequence on a random strand.
    pub rc_augment: bool,
    /// Strand rule for validation scoring (and stored in the model).
    pub strand: Strand,
    /// Per-task positive-class weights for `bce`.
    pub pos_weight: Option<Vec<f32>>,
    /// Shift augmentation: move each training window by a random offset in
    /// `[-jitter, jitter]` bp every epoch, labels unchanged (examples read from a genome only;
    /// 0 = none, and no random draws).
    pub jitter: u64,
    /// Negative resampling: each epoch trains on every example positive for some task and on
    /// this fraction of the others, drawn afresh (`None`: every example, no draws).
    pub resample_negatives: Option<f64>,
}

/// One epoch's figures.
pub type EpochLog = Epoch<Evaluation>;

impl EpochLog {
    /// Validation AUROC / AUPRC of each task, as a line for the log (`None` for a single task,
    /// whose AUROC the epoch line shows, or above `MAX_TASKS_SHOWN` tasks: see `--log`).
    pub fn per_task(&self, tasks: &[String]) -> Option<String> {
        const MAX_TASKS_SHOWN: usize = 12;
        let v = self.valid.as_ref()?;
        if tasks.len() < 2 || tasks.len() > MAX_TASKS_SHOWN || v.auroc.len() != tasks.len() {
            return None;
        }
        let f = |x: Option<f64>| x.map_or_else(|| "NA".into(), |x| format!("{x:.4}"));
        let cells: Vec<String> = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    "{t} {}/{}",
                    f(v.auroc[i]),
                    f(v.auprc.get(i).copied().flatten())
                )
            })
            .collect();
        Some(format!("  valid auroc/auprc  {}", cells.join("  ")))
    }
}

impl Validation for Evaluation {
    fn loss(&self) -> f64 {
        self.loss
    }

    fn headline(&self) -> String {
        self.mean_auroc()
            .map_or_else(String::new, |a| format!("valid_auroc {a:.4}"))
    }

    fn metric_names(tasks: &[String]) -> Vec<String> {
        let mut names = vec!["valid_auroc".to_string()];
        for t in tasks {
            names.push(format!("auroc.{t}"));
            names.push(format!("auprc.{t}"));
        }
        names
    }

    fn metric_values(&self, n_tasks: usize) -> Vec<Option<f64>> {
        let mut v = vec![self.mean_auroc()];
        for i in 0..n_tasks {
            v.push(self.auroc.get(i).copied().flatten());
            v.push(self.auprc.get(i).copied().flatten());
        }
        v
    }
}

/// Loss and per-task metrics of a model on a labelled set.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    pub loss: f64,
    pub auroc: Vec<Option<f64>>,
    pub auprc: Vec<Option<f64>>,
    pub n: usize,
}

impl Evaluation {
    /// Mean AUROC over the tasks that have both classes.
    pub fn mean_auroc(&self) -> Option<f64> {
        let v: Vec<f64> = self.auroc.iter().flatten().copied().collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }
}

/// The outcome of a training run ([`fit`], [`fit_task`]); `V` is what validation measured.
#[derive(Clone, Debug)]
pub struct FitReport<V = Evaluation> {
    pub best_epoch: usize,
    pub epochs_run: usize,
    /// The best epoch's validation (`None` without a validation set).
    pub best: Option<V>,
    pub history: Vec<Epoch<V>>,
}

/// What [`fit_task`] trains on and how it validates: everything that differs between kinds of
/// input (sequences here, images in `crate::vision::train`). The loop itself (optimiser steps,
/// schedule, early stopping, checkpoints, the epoch log) is the same for all.
pub trait FitTask {
    /// What validation measures: shown in the epoch log, kept with the best weights, stored in
    /// checkpoints (`Default`: the placeholder kept when there is no validation set).
    type Eval: Validation + Clone + Default + serde::Serialize + serde::de::DeserializeOwned;

    /// What the training examples are called in messages: `sequences`, `images`.
    const EXAMPLES: &'static str;

    /// Number of training examples.
    fn n_train(&self) -> usize;

    /// Checks before the first epoch, and what training records in the model.
    fn prepare(&self, model: &mut Model, cfg: &FitConfig) -> Result<()>;

    /// The training examples of one epoch, in index order (the loop shuffles them).
    fn epoch_examples(&self, cfg: &FitConfig, rng: &mut Rng) -> Vec<usize>;

    /// The batch `(x, y)` of the training examples `idx`, augmented with draws from `rng`.
    fn batch(&self, idx: &[usize], cfg: &FitConfig, rng: &mut Rng) -> Result<(Array, Array)>;

    /// Whether there is a validation set.
    fn has_validation(&self) -> bool;

    /// The validation figures of `model` (`None` without a validation set).
    fn validate(&self, model: &Model, cfg: &FitConfig) -> Result<Option<Self::Eval>>;

    /// Whether `new` beats `best` under `monitor`.
    fn better(monitor: Monitor, new: &Self::Eval, best: &Self::Eval) -> bool;

    /// The higher-is-better figure a plateau schedule follows under a monitor other than the
    /// loss (see [`Monitor::plateau_metric`]).
    fn score(eval: &Self::Eval) -> f64;

    /// A fingerprint of the training and validation examples and their labels (see
    /// [`RunId`](crate::train::checkpoint::RunId)).
    fn fingerprint(&self) -> Result<u64>;
}

/// What fixes a run of `task` under `cfg`: its examples' fingerprint and every setting but the
/// number of epochs.
fn run_id<T: FitTask>(task: &T, cfg: &FitConfig) -> Result<RunId> {
    let settings = format!("{cfg:#?}")
        .lines()
        .filter(|l| !l.trim_start().starts_with("epochs:"))
        .map(|l| l.trim().trim_end_matches(','))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(RunId {
        data: task.fingerprint()?,
        settings,
    })
}

/// Adds the sequences and labels of `ds` to a fingerprint, a chunk at a time.
fn fingerprint_examples(ds: &dyn Examples, h: &mut Fnv) -> Result<()> {
    let all: Vec<usize> = (0..ds.len()).collect();
    for chunk in all.chunks(crate::score::VALID_CHUNK) {
        for (&i, s) in chunk.iter().zip(ds.sequences(chunk)?) {
            h.add(&(s.len() as u64).to_le_bytes());
            h.add(&s);
            for v in ds.label_row(i) {
                h.add(&v.to_le_bytes());
            }
        }
    }
    Ok(())
}

/// The optimiser for a model, with weight decay on weights only (never on biases).
pub fn optimizer_for(model: &Model, cfg: &OptimizerConfig) -> Result<Optimizer> {
    let mut opt = cfg.build()?;
    opt.set_decay_mask(
        model
            .net
            .params()
            .iter()
            .map(|p| p.trainable && p.suffix == "weight")
            .collect(),
    );
    Ok(opt)
}

/// The examples of one epoch, in index order: all of them, or (negative resampling) those
/// positive for some task plus a fresh draw of `keep` of the rest, one draw per such example.
fn epoch_examples(train: &dyn Examples, keep: Option<f64>, rng: &mut Rng) -> Vec<usize> {
    match keep {
        Some(keep) if keep < 1.0 => (0..train.len())
            .filter(|&i| {
                train.label_row(i).iter().any(|&v| v > 0.0)
                    || (rng::uniform(rng, 0.0, 1.0) as f64) < keep
            })
            .collect(),
        _ => (0..train.len()).collect(),
    }
}

/// One optimiser step on a batch `x [B, C, L]`, `y [B, tasks]`; returns the batch loss.
pub fn train_step(
    model: &mut Model,
    opt: &mut Optimizer,
    x: Array,
    y: &Array,
    cfg: &FitConfig,
    rng: &mut Rng,
) -> Result<f32> {
    // The weights go onto the tape shared, not copied (DeepSEA's dense layer alone is 188 MB),
    // and come back once the tape is gone, whatever happened.
    let shared: Vec<Arc<Array>> = std::mem::take(&mut model.params)
        .into_iter()
        .map(Arc::new)
        .collect();
    let outcome = forward_backward(model, &shared, x, y, cfg, rng);
    model.params = shared
        .into_iter()
        .map(|p| Arc::try_unwrap(p).unwrap_or_else(|p| (*p).clone()))
        .collect();
    let (value, mut g, updates) = outcome?;
    if let Some(c) = cfg.clip_norm {
        clip_grad_norm(&mut g, c);
    }
    opt.step(&mut model.params, &g)?;
    // Buffers (batch-norm running statistics) take the values the forward pass computed.
    for (i, v) in updates {
        model.params[i] = v;
    }
    Ok(value)
}

/// The loss, the parameter gradients and the buffer updates of one batch, with the weights
/// `params` (in [`Model::params`] order) shared with the tape.
fn forward_backward(
    model: &Model,
    params: &[Arc<Array>],
    x: Array,
    y: &Array,
    cfg: &FitConfig,
    rng: &mut Rng,
) -> Result<(f32, Vec<Array>, crate::nn::BufferUpdates)> {
    let mut tape = Tape::new();
    let xv = tape.constant(x);
    let pv: Vec<Var> = params
        .iter()
        .map(|p| tape.param_shared(p.clone()))
        .collect();
    let (out, updates) = model
        .net
        .forward_with_updates(&mut tape, xv, &pv, true, rng)?;
    let loss = loss_node(
        &mut tape,
        model.arch.loss,
        out,
        y,
        cfg.pos_weight.as_deref(),
    )?;
    let value = tape.scalar(loss)?;
    if !value.is_finite() {
        return Err(Error::Numeric(format!(
            "training diverged: the loss is {value}; lower the learning rate (--lr) or clip gradients (--clip-norm)"
        )));
    }
    let mut grads = tape.backward(loss)?;
    let g = pv
        .iter()
        .zip(params)
        .map(|(&v, p)| grads.take_or_zeros(v, p.shape()))
        .collect();
    Ok((value, g, updates))
}

/// The training loss of `kind` on the outputs `out` against the targets `y` (the one dispatch on
/// the loss kind; evaluation takes its value on an inference tape).
fn loss_node(
    tape: &mut Tape,
    kind: LossKind,
    out: crate::tensor::Var,
    y: &Array,
    pos_weight: Option<&[f32]>,
) -> Result<crate::tensor::Var> {
    match kind {
        LossKind::Bce => tape.bce_with_logits(out, y, pos_weight, None),
        LossKind::Mse => tape.mse(out, y),
        LossKind::Poisson => tape.poisson_nll(out, y, true),
        LossKind::CrossEntropy => {
            let labels = class_labels(y)?;
            tape.softmax_cross_entropy(out, &labels)
        }
    }
}

fn class_labels(y: &Array) -> Result<Vec<usize>> {
    y.iter()
        .map(|&v| {
            if v >= 0.0 && v.fract() == 0.0 {
                Ok(v as usize)
            } else {
                Err(Error::Config(format!(
                    "class label {v} is not a non-negative integer"
                )))
            }
        })
        .collect()
}

/// Loss and per-task AUROC / AUPRC of `model` on `ds`, scored with `strand`; sequences are
/// read and scored a chunk at a time.
pub fn evaluate(model: &Model, ds: &dyn Examples, strand: Strand) -> Result<Evaluation> {
    evaluate_ensemble(
        &Ensemble::new(vec![Scorer::new(model).with_strand(strand)])?,
        ds,
    )
}

/// [`evaluate`] for an ensemble, on the mean of its members' raw outputs (logits for `bce`), as
/// `mean` averages a model's two strands.
pub fn evaluate_ensemble(ensemble: &Ensemble, ds: &dyn Examples) -> Result<Evaluation> {
    evaluate_observed(ensemble, ds, &mut |_| {})
}

/// [`evaluate_ensemble`], telling `scored` how many examples each pass scored (for progress).
pub fn evaluate_observed(
    ensemble: &Ensemble,
    ds: &dyn Examples,
    scored: &mut dyn FnMut(usize),
) -> Result<Evaluation> {
    let model = ensemble.model();
    let t = model.meta.tasks.len();
    if ds.tasks().len() != t {
        return Err(Error::Config(format!(
            "the data has {} label columns, the model {t} tasks",
            ds.tasks().len()
        )));
    }
    let mut raw = ndarray::Array2::<f32>::zeros((ds.len(), t));
    let all: Vec<usize> = (0..ds.len()).collect();
    for chunk in all.chunks(crate::score::VALID_CHUNK) {
        let seqs = ds.sequences(chunk)?;
        let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
        let scores = ensemble.score_raw(&refs)?;
        for (row, &i) in chunk.iter().enumerate() {
            raw.row_mut(i).assign(&scores.row(row));
        }
        scored(chunk.len());
    }
    let y = Array::from_shape_fn(ndarray::IxDyn(&[ds.len(), t]), |d| ds.label_row(d[0])[d[1]]);
    // The loss the training minimises, on the raw outputs.
    let mut tape = Tape::inference();
    let out = tape.constant(raw.clone().into_dyn());
    let node = loss_node(&mut tape, model.arch.loss, out, &y, None)?;
    let loss = tape.value(node).first().copied().unwrap_or(0.0);
    let mut auroc = Vec::with_capacity(t);
    let mut auprc = Vec::with_capacity(t);
    for k in 0..t {
        let scores: Vec<f32> = raw.column(k).to_vec();
        let labels: Vec<f32> = (0..ds.len()).map(|i| ds.label_row(i)[k]).collect();
        let binary = model.arch.loss == LossKind::Bce;
        auroc.push(if binary {
            metrics::auroc(&scores, &labels)
        } else {
            None
        });
        auprc.push(if binary {
            metrics::auprc(&scores, &labels)
        } else {
            None
        });
    }
    Ok(Evaluation {
        loss: loss as f64,
        auroc,
        auprc,
        n: ds.len(),
    })
}

/// Sequence training (sequences or genome windows) as a [`FitTask`].
struct SequenceTask<'a> {
    train: &'a dyn Examples,
    valid: Option<&'a dyn Examples>,
}

impl FitTask for SequenceTask<'_> {
    type Eval = Evaluation;
    const EXAMPLES: &'static str = "sequences";

    fn n_train(&self) -> usize {
        self.train.len()
    }

    fn prepare(&self, model: &mut Model, cfg: &FitConfig) -> Result<()> {
        model.meta.strand = cfg.strand;
        Ok(())
    }

    fn fingerprint(&self) -> Result<u64> {
        let mut h = Fnv::default();
        fingerprint_examples(self.train, &mut h)?;
        h.add(b"valid");
        if let Some(v) = self.valid {
            fingerprint_examples(v, &mut h)?;
        }
        Ok(h.value())
    }

    fn epoch_examples(&self, cfg: &FitConfig, rng: &mut Rng) -> Vec<usize> {
        epoch_examples(self.train, cfg.resample_negatives, rng)
    }

    /// Strand flips (`rc_augment`), then shifts (`jitter`), one draw per example each.
    fn batch(&self, idx: &[usize], cfg: &FitConfig, rng: &mut Rng) -> Result<(Array, Array)> {
        let flip: Vec<bool> = idx
            .iter()
            .map(|_| cfg.rc_augment && rng::below(rng, 2) == 1)
            .collect();
        let shifts: Vec<i64> = if cfg.jitter > 0 {
            let span = 2 * cfg.jitter + 1;
            idx.iter()
                .map(|_| rng::below(rng, span as usize) as i64 - cfg.jitter as i64)
                .collect()
        } else {
            vec![0; idx.len()]
        };
        data::batch_shifted(self.train, idx, &flip, &shifts)
    }

    fn has_validation(&self) -> bool {
        self.valid.is_some()
    }

    fn validate(&self, model: &Model, cfg: &FitConfig) -> Result<Option<Evaluation>> {
        self.valid
            .map(|v| evaluate(model, v, cfg.strand))
            .transpose()
    }

    fn better(monitor: Monitor, new: &Evaluation, best: &Evaluation) -> bool {
        match monitor {
            Monitor::Loss => new.loss < best.loss,
            Monitor::Auroc => match (new.mean_auroc(), best.mean_auroc()) {
                (Some(a), Some(b)) => a > b || (a == b && new.loss < best.loss),
                _ => new.loss < best.loss,
            },
        }
    }

    /// The mean AUROC, or minus the loss when no task has both classes.
    fn score(eval: &Evaluation) -> f64 {
        eval.mean_auroc().unwrap_or(-eval.loss)
    }
}

/// What the training loop tells its caller as it goes: every batch, and every epoch's log.
/// A closure over the epoch's log is an observer that ignores the batches.
pub trait Observer<V> {
    /// `done` of the epoch's `total` training examples have been through a step.
    fn batch(&mut self, _done: usize, _total: usize) {}
    /// An epoch ended (validation included).
    fn epoch(&mut self, log: &Epoch<V>);
}

impl<V, F: FnMut(&Epoch<V>)> Observer<V> for F {
    fn epoch(&mut self, log: &Epoch<V>) {
        self(log)
    }
}

/// Trains `model` on `train`, validating on `valid` after every epoch and keeping the best
/// weights. `on_epoch` sees each epoch's log.
pub fn fit(
    model: &mut Model,
    train: &dyn Examples,
    valid: Option<&dyn Examples>,
    cfg: &FitConfig,
    rng: &mut Rng,
    on_epoch: &mut dyn FnMut(&EpochLog),
) -> Result<FitReport> {
    fit_with_checkpoints(
        model,
        train,
        valid,
        cfg,
        rng,
        &Checkpointing::default(),
        &mut |log: &EpochLog| on_epoch(log),
    )
}

/// Where checkpoints go and whether to continue from one; `V` is what validation measures.
#[derive(Clone, Debug, Default)]
pub struct Checkpointing<V = Evaluation> {
    /// Write a checkpoint here (atomically) after every epoch.
    pub path: Option<std::path::PathBuf>,
    /// Continue from this checkpoint instead of starting afresh.
    pub resume: Option<Checkpoint<V>>,
}

/// [`fit`] with a checkpoint after every epoch and, optionally, a start from a checkpoint: a run
/// resumed from the checkpoint of epoch k ends with the same weights as an uninterrupted run.
/// `observer` sees every batch and every epoch's log.
pub fn fit_with_checkpoints(
    model: &mut Model,
    train: &dyn Examples,
    valid: Option<&dyn Examples>,
    cfg: &FitConfig,
    rng: &mut Rng,
    ckpt: &Checkpointing,
    observer: &mut dyn Observer<Evaluation>,
) -> Result<FitReport> {
    fit_task(
        model,
        &SequenceTask { train, valid },
        cfg,
        rng,
        ckpt,
        observer,
    )
}

/// The training loop: trains `model` on `task`'s examples, validating after every epoch and
/// keeping the best weights, with a checkpoint after every epoch if `ckpt` says so and a start
/// from its checkpoint if it has one. `observer` sees every batch and every epoch's log.
pub fn fit_task<T: FitTask>(
    model: &mut Model,
    task: &T,
    cfg: &FitConfig,
    rng: &mut Rng,
    ckpt: &Checkpointing<T::Eval>,
    observer: &mut dyn Observer<T::Eval>,
) -> Result<FitReport<T::Eval>> {
    if task.n_train() == 0 {
        return Err(Error::Config(format!("no training {}", T::EXAMPLES)));
    }
    if cfg.batch_size == 0 || cfg.epochs == 0 {
        return Err(Error::Config(
            "--batch-size and --epochs must be positive".into(),
        ));
    }
    task.prepare(model, cfg)?;
    let mut opt = optimizer_for(model, &cfg.optimizer)?;
    let mut sched = Scheduler::new(
        cfg.monitor.plateau_schedule(&cfg.schedule),
        cfg.optimizer.lr(),
    )?;
    let mut best: Option<(T::Eval, Vec<Array>, usize)> = None;
    let mut history = Vec::new();
    let mut since_best = 0;
    let mut first = 1;
    // Checkpoints name their run; a run resumes only from its own.
    let run = if ckpt.path.is_some() || ckpt.resume.is_some() {
        run_id(task, cfg)?
    } else {
        RunId::default()
    };
    if let Some(c) = &ckpt.resume {
        if let Some(why) = c.run.differs(&run) {
            let name = ckpt
                .path
                .as_ref()
                .map_or_else(|| "the checkpoint".into(), |p| p.display().to_string());
            return Err(Error::Config(format!(
                "--resume: {name} is not of this run: {why}; resume with the data and settings \
                 it was made with, or start afresh"
            )));
        }
        model.net.check_params(&c.params)?;
        model.params = c.params.clone();
        opt.load_state(c.optimizer.clone())?;
        sched.load_state(c.scheduler.clone())?;
        *rng = c.rng.restore()?;
        best = c.best.clone();
        since_best = c.since_best;
        first = c.epoch + 1;
        if cfg.patience.is_some_and(|p| since_best >= p) {
            first = cfg.epochs + 1; // the run had already stopped early
        }
    }
    for epoch in first..=cfg.epochs {
        let start = Instant::now();
        opt.set_lr(sched.lr());
        let mut order = task.epoch_examples(cfg, rng);
        rng::shuffle(rng, &mut order);
        let (mut total, mut count) = (0.0f64, 0usize);
        for idx in order.chunks(cfg.batch_size) {
            let (x, y) = task.batch(idx, cfg, rng)?;
            let l = train_step(model, &mut opt, x, &y, cfg, rng).map_err(|e| match e {
                Error::Numeric(m) => Error::Numeric(format!("epoch {epoch}: {m}")),
                other => other,
            })?;
            total += l as f64 * idx.len() as f64;
            count += idx.len();
            observer.batch(count, order.len());
        }
        let eval = task.validate(model, cfg)?;
        let improved = match (&eval, &best) {
            (Some(e), Some((b, _, _))) => T::better(cfg.monitor, e, b),
            _ => true,
        };
        let train_loss = total / count.max(1) as f64;
        let metric = cfg
            .monitor
            .plateau_metric(eval.as_ref().map(|e| (e.loss(), T::score(e))), train_loss);
        let log = Epoch {
            epoch,
            epochs: cfg.epochs,
            lr: opt.lr(),
            train_loss,
            valid: eval.clone(),
            seconds: start.elapsed().as_secs_f64(),
            improved,
        };
        observer.epoch(&log);
        history.push(log);
        if improved {
            since_best = 0;
            best = Some((eval.unwrap_or_default(), model.params.clone(), epoch));
        } else {
            since_best += 1;
        }
        sched.step(cfg.schedule.needs_metric().then_some(metric))?;
        if let Some(path) = &ckpt.path {
            Checkpoint {
                epoch,
                params: model.params.clone(),
                optimizer: opt.state(),
                scheduler: sched.state(),
                rng: RngState::of(rng),
                best: best.clone(),
                since_best,
                run: run.clone(),
            }
            .save(path)?;
        }
        if cfg.patience.is_some_and(|p| since_best >= p) {
            break;
        }
    }
    let epochs_run = history.len() + first - 1;
    let (best_eval, params, best_epoch) =
        best.ok_or_else(|| Error::Config("no epoch ran: the checkpoint is past --epochs".into()))?;
    model.params = params;
    Ok(FitReport {
        best_epoch,
        epochs_run,
        best: task.has_validation().then_some(best_eval),
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    #[test]
    fn resampling_keeps_every_positive_and_a_fresh_share_of_negatives() {
        // Positives for task a (every 21st) and task b (the last 100); negatives, some with a
        // missing label.
        let n = 2_100;
        let labels: Vec<Vec<f32>> = (0..n)
            .map(|i| match i % 21 {
                0 => vec![1.0, 0.0],
                1 => vec![f32::NAN, 0.0],
                _ if i < 2_000 => vec![0.0, 0.0],
                _ => vec![0.0, 1.0],
            })
            .collect();
        let ds = Dataset {
            names: (0..n).map(|i| format!("s{i}")).collect(),
            seqs: vec![b"ACGT".to_vec(); n],
            labels: labels.clone(),
            tasks: vec!["a".into(), "b".into()],
        };
        let positive = |i: usize| labels[i].iter().any(|&v| v > 0.0);
        let n_pos = (0..n).filter(|&i| positive(i)).count();
        let mut rng = rng::seeded(3);
        assert_eq!(epoch_examples(&ds, None, &mut rng).len(), n);
        assert_eq!(epoch_examples(&ds, Some(1.0), &mut rng).len(), n);
        let first = epoch_examples(&ds, Some(0.25), &mut rng);
        let second = epoch_examples(&ds, Some(0.25), &mut rng);
        for e in [&first, &second] {
            assert!(e.windows(2).all(|w| w[0] < w[1]), "index order");
            assert_eq!(e.iter().filter(|&&i| positive(i)).count(), n_pos);
            let negatives = e.len() - n_pos;
            let expected = 0.25 * (n - n_pos) as f64;
            assert!(
                (negatives as f64 - expected).abs() < 5.0 * expected.sqrt(),
                "{negatives} negatives kept, expected about {expected}"
            );
        }
        assert_ne!(first, second, "the draw is fresh every epoch");
        let mut again = rng::seeded(3);
        epoch_examples(&ds, None, &mut again);
        epoch_examples(&ds, Some(1.0), &mut again);
        assert_eq!(epoch_examples(&ds, Some(0.25), &mut again), first);
    }

    #[test]
    fn plateau_cuts_the_rate_only_when_the_monitored_metric_stalls() {
        // torch ReduceLROnPlateau with patience 0 and factor 0.5, replayed on the logged metric:
        // the rate halves after every epoch that does not beat the best so far.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        for monitor in [Monitor::Auroc, Monitor::Loss] {
            let mut rng = rng::seeded(5);
            let mut ds = Dataset::load(&dir.join("REST_B.head50.seq"), None).unwrap();
            ds.add_shuffled_negatives(1, &mut rng);
            let arch = crate::arch::Arch::builtin("deepbind").unwrap();
            let mut model = Model::new(arch, ds.tasks.clone(), &mut rng, 1.0).unwrap();
            let cfg = FitConfig {
                epochs: 8,
                batch_size: 20,
                optimizer: OptimizerConfig::Adam(super::super::optim::AdamConfig {
                    lr: 0.01,
                    ..Default::default()
                }),
                schedule: Schedule::ReduceOnPlateau(PlateauConfig {
                    patience: 0,
                    factor: 0.5,
                    ..Default::default()
                }),
                clip_norm: None,
                patience: None,
                monitor,
                rc_augment: true,
                strand: Strand::Max,
                pos_weight: None,
                jitter: 0,
                resample_negatives: None,
            };
            let report = fit(&mut model, &ds, Some(&ds), &cfg, &mut rng, &mut |_| {}).unwrap();
            let metric = |log: &EpochLog| {
                let e = log.valid.as_ref().unwrap();
                match monitor {
                    Monitor::Loss => -e.loss,
                    Monitor::Auroc => e.mean_auroc().unwrap(),
                }
            };
            let (mut best, mut lr, mut gains) = (f64::NEG_INFINITY, 0.01, 0);
            for (log, next) in report.history.iter().zip(&report.history[1..]) {
                let m = metric(log);
                let better = if best < 0.0 {
                    m > best * (1.0 - 1e-4)
                } else {
                    m > best * (1.0 + 1e-4)
                };
                if better {
                    gains += usize::from(best.is_finite());
                    best = m;
                } else {
                    lr *= 0.5;
                }
                assert!(
                    (next.lr - lr).abs() < 1e-12,
                    "{monitor:?}, epoch {}: rate {} where {lr} was due",
                    next.epoch,
                    next.lr
                );
            }
            assert!(gains > 0, "{monitor:?}: the metric never improved");
        }
    }
}
