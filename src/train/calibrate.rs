//! Calibration as DeepBind did it: a random search over learning rate, momentum (SGD), dropout,
//! weight decay and initialisation scale, each setting scored by k-fold cross-validation; the
//! caller then retrains the best setting on all the training data.

use super::fit::{FitConfig, fit};
use super::optim::OptimizerConfig;
use crate::arch::Arch;
use crate::data::Dataset;
use crate::model::Model;
use crate::rng::{self, Rng};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// One point of the search space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub lr: f64,
    /// SGD momentum (ignored by Adam/AdamW).
    pub momentum: f64,
    pub dropout: f32,
    pub weight_decay: f64,
    pub init_scale: f32,
}

impl std::fmt::Display for Trial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "lr {:.2e}  momentum {:.3}  dropout {:.2}  weight_decay {:.1e}  init_scale {:.2}",
            self.lr, self.momentum, self.dropout, self.weight_decay, self.init_scale
        )
    }
}

/// A scored trial.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrialResult {
    pub trial: Trial,
    /// Mean over folds of the best validation AUROC (or minus the loss when AUROC is undefined).
    pub score: f64,
}

fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + (hi.ln() - lo.ln()) * rng::uniform(rng, 0.0, 1.0) as f64).exp()
}

impl Trial {
    /// The setting given on the command line (always the first trial).
    pub fn from_config(cfg: &FitConfig, dropout: f32, init_scale: f32) -> Trial {
        let (momentum, weight_decay) = match &cfg.optimizer {
            OptimizerConfig::Sgd(s) => (s.momentum, s.weight_decay),
            OptimizerConfig::Adam(a) => (0.0, a.weight_decay),
            OptimizerConfig::AdamW(a) => (0.0, a.weight_decay),
        };
        Trial {
            lr: cfg.optimizer.lr(),
            momentum,
            dropout,
            weight_decay,
            init_scale,
        }
    }

    /// A random setting around a base learning rate: lr within a factor 10 either way, dropout
    /// in {0, 0.25, 0.5}, weight decay log-uniform in [1e-10, 1e-3], momentum in [0.95, 0.99],
    /// init scale log-uniform in [0.3, 3] times PyTorch's default.
    pub fn sample(rng: &mut Rng, base_lr: f64) -> Trial {
        Trial {
            lr: log_uniform(rng, base_lr / 10.0, base_lr * 10.0),
            momentum: 0.95 + 0.04 * rng::uniform(rng, 0.0, 1.0) as f64,
            dropout: [0.0, 0.25, 0.5][rng::below(rng, 3)],
            weight_decay: log_uniform(rng, 1e-10, 1e-3),
            init_scale: log_uniform(rng, 0.3, 3.0) as f32,
        }
    }

    /// The fit settings for this trial.
    pub fn apply(&self, base: &FitConfig) -> FitConfig {
        let mut cfg = base.clone();
        cfg.optimizer = match &base.optimizer {
            OptimizerConfig::Sgd(s) => OptimizerConfig::Sgd(super::optim::SgdConfig {
                lr: self.lr,
                momentum: self.momentum,
                weight_decay: self.weight_decay,
                ..s.clone()
            }),
            OptimizerConfig::Adam(a) => OptimizerConfig::Adam(super::optim::AdamConfig {
                lr: self.lr,
                weight_decay: self.weight_decay,
                ..a.clone()
            }),
            OptimizerConfig::AdamW(a) => OptimizerConfig::AdamW(super::optim::AdamWConfig {
                lr: self.lr,
                weight_decay: self.weight_decay,
                ..a.clone()
            }),
        };
        cfg
    }

    /// The architecture with this trial's dropout.
    pub fn arch(&self, base: &Arch) -> Result<Arch> {
        let mut a = base.clone();
        a.set_dropout(self.dropout)?;
        Ok(a)
    }
}

/// What to search: the user's setting first, then random ones, `trials` in all, each scored by
/// `folds`-fold cross-validation.
#[derive(Clone, Debug)]
pub struct Search {
    pub first: Trial,
    pub trials: usize,
    pub folds: usize,
}

/// Scores the settings of `search` by cross-validation on `data`, each fold trained with `cfg`
/// (its epochs and patience); returns every result, best first. `on_trial` sees each result as
/// it is done.
pub fn calibrate(
    arch: &Arch,
    data: &Dataset,
    cfg: &FitConfig,
    search: Search,
    rng: &mut Rng,
    on_trial: &mut dyn FnMut(usize, &TrialResult),
) -> Result<Vec<TrialResult>> {
    let Search {
        first,
        trials: n_trials,
        folds,
    } = search;
    if folds < 2 {
        return Err(Error::Config("calibration needs at least 2 folds".into()));
    }
    if data.len() < folds * 2 {
        return Err(Error::Config(format!(
            "{} sequences are too few for {folds}-fold calibration",
            data.len()
        )));
    }
    let split = data.folds(folds, rng);
    let mut trials = vec![first];
    while trials.len() < n_trials {
        trials.push(Trial::sample(rng, trials[0].lr));
    }
    let mut results = Vec::with_capacity(n_trials);
    for (i, trial) in trials.into_iter().enumerate() {
        let fold_cfg = trial.apply(cfg);
        let trial_arch = trial.arch(arch)?;
        let mut total = 0.0;
        for (train, test) in &split {
            let mut trng = rng::fork(rng);
            let mut model = Model::new(
                trial_arch.clone(),
                data.tasks.clone(),
                &mut trng,
                trial.init_scale,
            )?;
            let report = fit(
                &mut model,
                train,
                Some(test),
                &fold_cfg,
                &mut trng,
                &mut |_| {},
            )?;
            let best = report
                .best
                .ok_or_else(|| Error::Config("calibration fold without validation".into()))?;
            total += best.mean_auroc().unwrap_or(-best.loss);
        }
        let r = TrialResult {
            trial,
            score: total / folds as f64,
        };
        on_trial(i, &r);
        results.push(r);
    }
    // Stable sort: ties keep trial order, so the user's own setting wins a tie.
    results.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(results)
}
