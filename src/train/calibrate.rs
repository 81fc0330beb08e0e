//! Calibration as DeepBind did it: a random search over learning rate, momentum (SGD), dropout,
//! weight decay and initialisation scale, each setting scored by k-fold cross-validation; the
//! caller then retrains the best setting on all the training data.
//!
//! The search can be split into jobs ([`Run`]): each job scores one setting, and a last run takes
//! their results instead of training them. Every run draws the same random numbers in the same
//! order (the folds, the settings, each fold's generator) whether it trains a setting or not, so
//! a job's score, the setting chosen and the final model equal those of one process.

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

/// Which settings of a search a run scores.
#[derive(Clone, Copy, Debug)]
pub enum Run<'a> {
    /// Every setting (one process).
    All,
    /// Only setting `i` (0-based): one job of a split search.
    One(usize),
    /// None: the jobs' results, one per setting in order, checked against the settings this run
    /// draws (so results of another seed or search are refused).
    Given(&'a [TrialResult]),
}

/// Scores the settings of `search` by cross-validation on `data`, each fold trained with `cfg`
/// (its epochs and patience), those `run` selects; returns the results, best first (under
/// [`Run::One`], the one result). `on_trial` sees each result as it is done. `rng` ends in the
/// same state under every [`Run`].
pub fn calibrate(
    arch: &Arch,
    data: &Dataset,
    cfg: &FitConfig,
    search: Search,
    run: Run,
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
    match run {
        Run::One(i) if i >= n_trials => {
            return Err(Error::Config(format!(
                "calibration trial {} of {n_trials}: trials count from 1 to {n_trials}",
                i + 1
            )));
        }
        Run::Given(given) if given.len() != n_trials => {
            return Err(Error::Config(format!(
                "{} calibration results given for a search of {n_trials} settings",
                given.len()
            )));
        }
        _ => {}
    }
    let mut results = Vec::with_capacity(n_trials);
    for (i, trial) in trials.into_iter().enumerate() {
        // Each fold's generator, drawn whether or not this run trains the setting.
        let fold_rngs: Vec<Rng> = split.iter().map(|_| rng::fork(rng)).collect();
        match run {
            Run::One(k) if k != i => continue,
            Run::Given(given) => {
                if given[i].trial != trial {
                    return Err(Error::Config(format!(
                        "calibration result {} is for the setting {}, but this run's setting {} is {trial}: the results come from another seed, search or data",
                        i + 1,
                        given[i].trial,
                        i + 1
                    )));
                }
                results.push(given[i].clone());
                continue;
            }
            _ => {}
        }
        let fold_cfg = trial.apply(cfg);
        let trial_arch = trial.arch(arch)?;
        let mut total = 0.0;
        for ((train, test), mut trng) in split.iter().zip(fold_rngs) {
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
