//! The training loop for image classifiers: seeded shuffling, one optimiser step per batch
//! (the same [`train_step`] as for sequences), validation accuracy and loss after every epoch,
//! early stopping with the best weights kept.
//!
//! The best epoch is the one with the lowest validation loss under [`Monitor::Loss`]; under any
//! other monitor (AUROC does not apply to classes) the one with the highest validation accuracy,
//! ties going to the lower loss. Determinism as for sequences: one generator drawn on the calling
//! thread, fixed-order reductions in every kernel.

use super::classify::{ClassEval, evaluate};
use super::dataset::{ImageSet, Preprocess};
use crate::model::Model;
use crate::rng::{self, Rng};
use crate::tensor::Array;
use crate::train::fit::{FitConfig, Monitor, optimizer_for, train_step};
use crate::train::log::{Epoch, Validation};
use crate::train::schedule::Scheduler;
use crate::{Error, Result};
use std::time::Instant;

/// Data augmentation of training images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Augment {
    /// Translate each training image by a random whole number of pixels in `[-shift, shift]`
    /// along each axis (drawn per image and epoch; uncovered pixels are 0), as LeCun et al.
    /// distorted their training digits. 0: no augmentation.
    pub shift: usize,
}

/// One epoch's figures.
pub type ImageEpochLog = Epoch<ClassEval>;

impl Validation for ClassEval {
    fn loss(&self) -> f64 {
        self.loss
    }

    fn headline(&self) -> String {
        format!("valid_accuracy {:.4}", self.accuracy)
    }

    fn metric_names(classes: &[String]) -> Vec<String> {
        let mut names = vec!["valid_accuracy".to_string()];
        names.extend(classes.iter().map(|k| format!("accuracy.{k}")));
        names
    }

    fn metric_values(&self, n_classes: usize) -> Vec<Option<f64>> {
        let mut v = vec![Some(self.accuracy)];
        v.extend((0..n_classes).map(|i| self.per_class.get(i).copied().flatten()));
        v
    }
}

/// The outcome of [`fit_images`].
#[derive(Clone, Debug)]
pub struct ImageFitReport {
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub best: Option<ClassEval>,
    pub history: Vec<ImageEpochLog>,
}

fn better(monitor: Monitor, new: &ClassEval, best: &ClassEval) -> bool {
    match monitor {
        Monitor::Loss => new.loss < best.loss,
        _ => {
            new.accuracy > best.accuracy || (new.accuracy == best.accuracy && new.loss < best.loss)
        }
    }
}

/// Trains the image classifier `model` on `train` (augmented as `aug` says), validating on
/// `valid` after every epoch and keeping the best weights. Pixels are scaled as the model's
/// architecture says. `on_epoch` sees each epoch's log.
pub fn fit_images(
    model: &mut Model,
    train: &ImageSet,
    valid: Option<&ImageSet>,
    cfg: &FitConfig,
    aug: Augment,
    rng: &mut Rng,
    on_epoch: &mut dyn FnMut(&ImageEpochLog),
) -> Result<ImageFitReport> {
    if train.is_empty() {
        return Err(Error::Config("no training images".into()));
    }
    if cfg.batch_size == 0 || cfg.epochs == 0 {
        return Err(Error::Config(
            "--batch-size and --epochs must be positive".into(),
        ));
    }
    train.check_fits(&model.arch)?;
    if let Some(v) = valid {
        v.check_fits(&model.arch)?;
    }
    let classes = model.meta.tasks.len();
    for set in std::iter::once(train).chain(valid) {
        if set.n_classes() > classes {
            return Err(Error::Config(format!(
                "{}: label {} but the model has {classes} classes",
                set.origin.display(),
                set.n_classes() - 1
            )));
        }
    }
    let pre = Preprocess::from_input(&model.arch.input);
    let mut opt = optimizer_for(model, &cfg.optimizer)?;
    let mut sched = Scheduler::new(
        cfg.monitor.plateau_schedule(&cfg.schedule),
        cfg.optimizer.lr(),
    )?;
    let mut best: Option<(Option<ClassEval>, Vec<Array>, usize)> = None;
    let mut history = Vec::new();
    let mut since_best = 0;
    for epoch in 1..=cfg.epochs {
        let start = Instant::now();
        opt.set_lr(sched.lr());
        let mut order: Vec<usize> = (0..train.len()).collect();
        rng::shuffle(rng, &mut order);
        let (mut total, mut count) = (0.0f64, 0usize);
        for idx in order.chunks(cfg.batch_size) {
            let (x, y) = if aug.shift > 0 {
                let s = aug.shift;
                let mut draw = || rng::below(rng, 2 * s + 1) as isize - s as isize;
                let shifts: Vec<[isize; 2]> = idx.iter().map(|_| [draw(), draw()]).collect();
                train.batch_shifted(idx, &pre, &shifts)
            } else {
                train.batch(idx, &pre)
            };
            let l = train_step(model, &mut opt, x, &y, cfg, rng).map_err(|e| match e {
                Error::Numeric(m) => Error::Numeric(format!("epoch {epoch}: {m}")),
                other => other,
            })?;
            total += l as f64 * idx.len() as f64;
            count += idx.len();
        }
        let train_loss = total / count.max(1) as f64;
        let eval = valid.map(|v| evaluate(model, v)).transpose()?;
        let improved = match (&eval, &best) {
            (Some(e), Some((Some(b), _, _))) => better(cfg.monitor, e, b),
            _ => true,
        };
        let log = ImageEpochLog {
            epoch,
            epochs: cfg.epochs,
            lr: opt.lr(),
            train_loss,
            valid: eval.clone(),
            seconds: start.elapsed().as_secs_f64(),
            improved,
        };
        on_epoch(&log);
        history.push(log);
        if improved {
            since_best = 0;
            best = Some((eval.clone(), model.params.clone(), epoch));
        } else {
            since_best += 1;
        }
        let metric = cfg
            .monitor
            .plateau_metric(eval.as_ref().map(|e| (e.loss, e.accuracy)), train_loss);
        sched.step(cfg.schedule.needs_metric().then_some(metric))?;
        if cfg.patience.is_some_and(|p| since_best >= p) {
            break;
        }
    }
    let epochs_run = history.len();
    let (best_eval, params, best_epoch) = best.expect("at least one epoch ran");
    model.params = params;
    Ok(ImageFitReport {
        best_epoch,
        epochs_run,
        best: best_eval,
        history,
    })
}
