//! The image side of the training loop ([`fit_task`]): every image of the set each epoch,
//! batches `[B, C, H, W]` scaled as the model's architecture says and shifted at random for
//! augmentation, validation accuracy and loss after every epoch. The optimiser steps (the same
//! [`train_step`](crate::train::fit::train_step) as for sequences), schedule, early stopping,
//! checkpoints and epoch log are the shared loop's.
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
use crate::train::fit::{
    Checkpointing, FitConfig, FitReport, FitTask, Monitor, Observer, fit_task,
};
use crate::train::log::{Epoch, Validation};
use crate::{Error, Result};

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
pub type ImageFitReport = FitReport<ClassEval>;

/// Image classification as a [`FitTask`].
struct ImageTask<'a> {
    train: &'a ImageSet,
    valid: Option<&'a ImageSet>,
    aug: Augment,
    /// The pixel scaling of the model's architecture.
    pre: Preprocess,
}

impl FitTask for ImageTask<'_> {
    type Eval = ClassEval;
    const EXAMPLES: &'static str = "images";

    fn fingerprint(&self) -> Result<u64> {
        let mut h = crate::train::checkpoint::Fnv::default();
        for set in std::iter::once(self.train).chain(self.valid) {
            let raw = &set.raw;
            for d in raw.shape {
                h.add(&(d as u64).to_le_bytes());
            }
            for p in &raw.pixels {
                h.add(&p.to_le_bytes());
            }
            for l in raw.labels.iter().flatten() {
                h.add(&(*l as u64).to_le_bytes());
            }
            h.add(b"set");
        }
        Ok(h.value())
    }

    fn n_train(&self) -> usize {
        self.train.len()
    }

    /// The images fit the model, and their labels are classes of it.
    fn prepare(&self, model: &mut Model, _cfg: &FitConfig) -> Result<()> {
        self.train.check_fits(&model.arch)?;
        if let Some(v) = self.valid {
            v.check_fits(&model.arch)?;
        }
        let classes = model.meta.tasks.len();
        for set in std::iter::once(self.train).chain(self.valid) {
            if set.n_classes() > classes {
                return Err(Error::Config(format!(
                    "{}: label {} but the model has {classes} classes",
                    set.origin.display(),
                    set.n_classes() - 1
                )));
            }
        }
        Ok(())
    }

    fn epoch_examples(&self, _cfg: &FitConfig, _rng: &mut Rng) -> Vec<usize> {
        (0..self.train.len()).collect()
    }

    /// With augmentation, a shift down then one right per image, drawn in `[-shift, shift]`.
    fn batch(&self, idx: &[usize], _cfg: &FitConfig, rng: &mut Rng) -> Result<(Array, Array)> {
        Ok(if self.aug.shift > 0 {
            let s = self.aug.shift;
            let mut draw = || rng::below(rng, 2 * s + 1) as isize - s as isize;
            let shifts: Vec<[isize; 2]> = idx.iter().map(|_| [draw(), draw()]).collect();
            self.train.batch_shifted(idx, &self.pre, &shifts)
        } else {
            self.train.batch(idx, &self.pre)
        })
    }

    fn has_validation(&self) -> bool {
        self.valid.is_some()
    }

    fn validate(&self, model: &Model, _cfg: &FitConfig) -> Result<Option<ClassEval>> {
        self.valid.map(|v| evaluate(model, v)).transpose()
    }

    fn better(monitor: Monitor, new: &ClassEval, best: &ClassEval) -> bool {
        match monitor {
            Monitor::Loss => new.loss < best.loss,
            _ => {
                new.accuracy > best.accuracy
                    || (new.accuracy == best.accuracy && new.loss < best.loss)
            }
        }
    }

    fn score(eval: &ClassEval) -> f64 {
        eval.accuracy
    }
}

/// Trains the image classifier `model` on `train` (augmented as `aug` says), validating on
/// `valid` after every epoch and keeping the best weights. Pixels are scaled as the model's
/// architecture says. `observer` sees every batch and each epoch's log.
pub fn fit_images(
    model: &mut Model,
    train: &ImageSet,
    valid: Option<&ImageSet>,
    cfg: &FitConfig,
    aug: Augment,
    rng: &mut Rng,
    observer: &mut dyn Observer<ClassEval>,
) -> Result<ImageFitReport> {
    let task = ImageTask {
        train,
        valid,
        aug,
        pre: Preprocess::from_input(&model.arch.input),
    };
    fit_task(model, &task, cfg, rng, &Checkpointing::default(), observer)
}
