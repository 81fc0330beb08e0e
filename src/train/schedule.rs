//! Learning-rate schedules with PyTorch's semantics (`StepLR`, `CosineAnnealingLR`,
//! `ReduceLROnPlateau`), stepped once per epoch, with state that can be saved in a checkpoint.
//!
//! Use: make a [`Scheduler`] from a [`Schedule`] and the optimiser's initial learning rate; train
//! an epoch at [`Scheduler::lr`]; call [`Scheduler::step`] (with the validation metric for
//! `reduce_on_plateau`) at the end of the epoch and pass the returned rate to
//! `Optimizer::set_lr`. This is the order of torch's `optimizer.step()` ... `scheduler.step()`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A learning-rate schedule. In TOML/JSON the variant is the `kind` field, e.g.
/// `{ kind = "cosine", t_max = 50, eta_min = 1e-5 }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The initial learning rate throughout.
    #[default]
    Constant,
    /// `torch.optim.lr_scheduler.StepLR`: multiply by `gamma` every `step_size` epochs.
    Step {
        /// Epochs between decays (>= 1).
        step_size: u64,
        /// Multiplicative factor (torch default 0.1).
        #[serde(default = "default_gamma")]
        gamma: f64,
    },
    /// `torch.optim.lr_scheduler.CosineAnnealingLR`, closed form:
    /// `eta_min + (base - eta_min) * (1 + cos(pi * epoch / t_max)) / 2`
    /// (past `t_max` it rises again, as torch's).
    Cosine {
        /// Half-period in epochs (>= 1).
        t_max: u64,
        /// Minimum learning rate (torch default 0).
        #[serde(default)]
        eta_min: f64,
    },
    /// `torch.optim.lr_scheduler.ReduceLROnPlateau`: multiply by `factor` when the metric has not
    /// improved for more than `patience` epochs.
    ReduceOnPlateau(PlateauConfig),
}

fn default_gamma() -> f64 {
    0.1
}

/// Whether a smaller or a larger metric is better.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateauMode {
    /// Lower is better (a loss).
    #[default]
    Min,
    /// Higher is better (an accuracy, an AUC).
    Max,
}

/// How `threshold` defines a significant improvement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMode {
    /// Better than `best * (1 -/+ threshold)` (torch default).
    #[default]
    Rel,
    /// Better than `best -/+ threshold`.
    Abs,
}

/// Settings of `ReduceLROnPlateau`; the defaults are torch's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlateauConfig {
    /// Minimise or maximise the metric (default min).
    pub mode: PlateauMode,
    /// Multiplier applied on a plateau, in (0, 1) (default 0.1).
    pub factor: f64,
    /// Epochs without improvement tolerated before reducing (default 10).
    pub patience: u64,
    /// Smallest improvement that counts (default 1e-4, relative).
    pub threshold: f64,
    /// Relative or absolute threshold (default rel).
    pub threshold_mode: ThresholdMode,
    /// Epochs after a reduction during which bad epochs are not counted (default 0).
    pub cooldown: u64,
    /// Lower bound on the learning rate (default 0).
    pub min_lr: f64,
    /// A reduction smaller than this is skipped (default 1e-8).
    pub eps: f64,
}

impl Default for PlateauConfig {
    fn default() -> Self {
        PlateauConfig {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

impl Schedule {
    /// Short name used in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Step { .. } => "step",
            Schedule::Cosine { .. } => "cosine",
            Schedule::ReduceOnPlateau(_) => "reduce_on_plateau",
        }
    }

    /// Whether [`Scheduler::step`] needs the epoch's metric.
    pub fn needs_metric(&self) -> bool {
        matches!(self, Schedule::ReduceOnPlateau(_))
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let name = self.name();
        let bad = |msg: String| Err(Error::Config(format!("{name} schedule: {msg}")));
        match self {
            Schedule::Constant => {}
            Schedule::Step { step_size, gamma } => {
                if *step_size == 0 {
                    return bad("step_size must be >= 1".into());
                }
                if !(gamma.is_finite() && *gamma > 0.0) {
                    return bad(format!("gamma must be finite and > 0, got {gamma}"));
                }
            }
            Schedule::Cosine { t_max, eta_min } => {
                if *t_max == 0 {
                    return bad("t_max must be >= 1".into());
                }
                if !(eta_min.is_finite() && *eta_min >= 0.0) {
                    return bad(format!("eta_min must be finite and >= 0, got {eta_min}"));
                }
            }
            Schedule::ReduceOnPlateau(c) => {
                if !(c.factor > 0.0 && c.factor < 1.0) {
                    return bad(format!("factor must be in (0, 1), got {}", c.factor));
                }
                for (what, v) in [
                    ("threshold", c.threshold),
                    ("min_lr", c.min_lr),
                    ("eps", c.eps),
                ] {
                    if !(v.is_finite() && v >= 0.0) {
                        return bad(format!("{what} must be finite and >= 0, got {v}"));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A scheduler's state for a checkpoint (serialisable, e.g. as JSON metadata).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchedulerState {
    /// Epochs stepped so far (torch's `last_epoch`).
    pub epoch: u64,
    /// Current learning rate.
    pub lr: f64,
    /// Best metric so far (`reduce_on_plateau`); `None` before the first one.
    pub best: Option<f64>,
    /// Consecutive epochs without improvement (`reduce_on_plateau`).
    pub num_bad_epochs: u64,
    /// Epochs of cooldown left (`reduce_on_plateau`).
    pub cooldown_counter: u64,
}

/// A schedule in progress: gives the learning rate for the current epoch.
#[derive(Clone, Debug)]
pub struct Scheduler {
    schedule: Schedule,
    base_lr: f64,
    state: SchedulerState,
}

impl Scheduler {
    /// Starts `schedule` at epoch 0 with learning rate `base_lr` (the optimiser's initial one).
    pub fn new(schedule: Schedule, base_lr: f64) -> Result<Self> {
        schedule.validate()?;
        if !(base_lr.is_finite() && base_lr >= 0.0) {
            return Err(Error::Config(format!(
                "{} schedule: base learning rate must be finite and >= 0, got {base_lr}",
                schedule.name()
            )));
        }
        let state = SchedulerState {
            epoch: 0,
            lr: base_lr,
            best: None,
            num_bad_epochs: 0,
            cooldown_counter: 0,
        };
        Ok(Scheduler {
            schedule,
            base_lr,
            state,
        })
    }

    /// The schedule being followed.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The initial learning rate.
    pub fn base_lr(&self) -> f64 {
        self.base_lr
    }

    /// Learning rate for the current epoch.
    pub fn lr(&self) -> f64 {
        self.state.lr
    }

    /// Epochs stepped so far.
    pub fn epoch(&self) -> u64 {
        self.state.epoch
    }

    /// Ends an epoch: advances the schedule and returns the learning rate for the next epoch.
    /// `reduce_on_plateau` needs the epoch's `metric` (an error without it); the others ignore
    /// it. As in torch, a NaN metric counts as an epoch without improvement.
    pub fn step(&mut self, metric: Option<f64>) -> Result<f64> {
        let st = &mut self.state;
        match &self.schedule {
            Schedule::Constant => {
                st.epoch += 1;
            }
            Schedule::Step { step_size, gamma } => {
                // torch StepLR.get_lr: the current rate times gamma on multiples of step_size.
                st.epoch += 1;
                if st.epoch.is_multiple_of(*step_size) {
                    st.lr *= gamma;
                }
            }
            Schedule::Cosine { t_max, eta_min } => {
                st.epoch += 1;
                let t = st.epoch as f64 / *t_max as f64;
                st.lr = eta_min
                    + (self.base_lr - eta_min) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0;
            }
            Schedule::ReduceOnPlateau(c) => {
                let Some(current) = metric else {
                    return Err(Error::Config(
                        "reduce_on_plateau schedule: step needs the epoch's metric".into(),
                    ));
                };
                // torch ReduceLROnPlateau.step
                st.epoch += 1;
                if is_better(c, current, st.best) {
                    st.best = Some(current);
                    st.num_bad_epochs = 0;
                } else {
                    st.num_bad_epochs += 1;
                }
                if st.cooldown_counter > 0 {
                    st.cooldown_counter -= 1;
                    st.num_bad_epochs = 0;
                }
                if st.num_bad_epochs > c.patience {
                    let new_lr = (st.lr * c.factor).max(c.min_lr);
                    if st.lr - new_lr > c.eps {
                        st.lr = new_lr;
                    }
                    st.cooldown_counter = c.cooldown;
                    st.num_bad_epochs = 0;
                }
            }
        }
        Ok(st.lr)
    }

    /// The state to save in a checkpoint.
    pub fn state(&self) -> SchedulerState {
        self.state.clone()
    }

    /// Restores a state made by [`Scheduler::state`] of a scheduler with the same schedule.
    pub fn load_state(&mut self, state: SchedulerState) -> Result<()> {
        if !(state.lr.is_finite() && state.lr >= 0.0) {
            return Err(Error::Config(format!(
                "{} schedule state: bad learning rate {}",
                self.schedule.name(),
                state.lr
            )));
        }
        if state.best.is_some_and(f64::is_nan) {
            return Err(Error::Config(format!(
                "{} schedule state: best metric is NaN",
                self.schedule.name()
            )));
        }
        self.state = state;
        Ok(())
    }
}

/// torch `ReduceLROnPlateau.is_better`; `best = None` is torch's initial `inf` (min) or `-inf`
/// (max), which every metric but NaN and the infinity itself beats.
fn is_better(c: &PlateauConfig, a: f64, best: Option<f64>) -> bool {
    let best = best.unwrap_or(match c.mode {
        PlateauMode::Min => f64::INFINITY,
        PlateauMode::Max => f64::NEG_INFINITY,
    });
    match (c.mode, c.threshold_mode) {
        (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - c.threshold),
        (PlateauMode::Min, ThresholdMode::Abs) => a < best - c.threshold,
        (PlateauMode::Max, ThresholdMode::Rel) => a > best * (c.threshold + 1.0),
        (PlateauMode::Max, ThresholdMode::Abs) => a > best + c.threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: Schedule, base: f64, metrics: &[f64]) -> Vec<f64> {
        let mut sch = Scheduler::new(s, base).unwrap();
        let mut out = vec![sch.lr()];
        for &m in metrics {
            out.push(sch.step(Some(m)).unwrap());
        }
        out
    }

    #[test]
    fn constant_and_step() {
        assert_eq!(run(Schedule::Constant, 0.1, &[0.0; 3]), vec![0.1; 4]);
        let lrs = run(
            Schedule::Step {
                step_size: 2,
                gamma: 0.5,
            },
            1.0,
            &[0.0; 5],
        );
        assert_eq!(lrs, vec![1.0, 1.0, 0.5, 0.5, 0.25, 0.25]);
    }

    #[test]
    fn cosine_reaches_eta_min_at_t_max() {
        let lrs = run(
            Schedule::Cosine {
                t_max: 4,
                eta_min: 0.1,
            },
            1.0,
            &[0.0; 8],
        );
        assert_eq!(lrs[0], 1.0);
        assert!((lrs[2] - 0.55).abs() < 1e-12);
        assert!((lrs[4] - 0.1).abs() < 1e-12);
        assert!((lrs[8] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn plateau_needs_a_metric() {
        let mut s =
            Scheduler::new(Schedule::ReduceOnPlateau(PlateauConfig::default()), 0.1).unwrap();
        let err = s.step(None).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert_eq!(s.epoch(), 0);
    }

    #[test]
    fn plateau_respects_min_lr_and_max_mode() {
        let c = PlateauConfig {
            mode: PlateauMode::Max,
            factor: 0.5,
            patience: 0,
            min_lr: 0.3,
            ..PlateauConfig::default()
        };
        // 1.0 improves on -inf; then every epoch is bad: 1.0 -> 0.5 -> 0.3 (floor) -> 0.3.
        let lrs = run(Schedule::ReduceOnPlateau(c), 1.0, &[1.0, 1.0, 0.5, 0.9]);
        assert_eq!(lrs, vec![1.0, 1.0, 0.5, 0.3, 0.3]);
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let bad = [
            Schedule::Step {
                step_size: 0,
                gamma: 0.5,
            },
            Schedule::Step {
                step_size: 2,
                gamma: f64::NAN,
            },
            Schedule::Cosine {
                t_max: 0,
                eta_min: 0.0,
            },
            Schedule::Cosine {
                t_max: 3,
                eta_min: -1.0,
            },
            Schedule::ReduceOnPlateau(PlateauConfig {
                factor: 1.0,
                ..PlateauConfig::default()
            }),
            Schedule::ReduceOnPlateau(PlateauConfig {
                min_lr: -1.0,
                ..PlateauConfig::default()
            }),
        ];
        for s in bad {
            let err = Scheduler::new(s.clone(), 0.1).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{s:?}: {err}");
        }
        assert!(Scheduler::new(Schedule::Constant, -0.1).is_err());
    }

    #[test]
    fn schedule_reads_from_toml_with_torch_defaults() {
        let s: Schedule = toml::from_str("kind = \"reduce_on_plateau\"\nfactor = 0.5\n").unwrap();
        assert_eq!(
            s,
            Schedule::ReduceOnPlateau(PlateauConfig {
                factor: 0.5,
                ..PlateauConfig::default()
            })
        );
        let s: Schedule = toml::from_str("kind = \"step\"\nstep_size = 3\n").unwrap();
        assert_eq!(
            s,
            Schedule::Step {
                step_size: 3,
                gamma: 0.1
            }
        );
        let s: Schedule = toml::from_str("kind = \"constant\"\n").unwrap();
        assert_eq!(s, Schedule::Constant);
        assert!(toml::from_str::<Schedule>("kind = \"cosine\"\nt_max = 3\ntmax = 4\n").is_err());
        assert!(toml::from_str::<Schedule>("kind = \"cosine\"\n").is_err());
        for s in [
            Schedule::Constant,
            Schedule::Cosine {
                t_max: 10,
                eta_min: 1e-4,
            },
            Schedule::ReduceOnPlateau(PlateauConfig::default()),
        ] {
            let j = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<Schedule>(&j).unwrap(), s);
        }
    }

    #[test]
    fn state_round_trip_through_json_continues_identically() {
        let c = PlateauConfig {
            factor: 0.5,
            patience: 1,
            cooldown: 1,
            ..PlateauConfig::default()
        };
        let metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85];
        let mut a = Scheduler::new(Schedule::ReduceOnPlateau(c.clone()), 0.1).unwrap();
        for &m in &metrics[..4] {
            a.step(Some(m)).unwrap();
        }
        let json = serde_json::to_string(&a.state()).unwrap();
        let mut b = Scheduler::new(Schedule::ReduceOnPlateau(c), 0.1).unwrap();
        b.load_state(serde_json::from_str(&json).unwrap()).unwrap();
        for &m in &metrics[4..] {
            assert_eq!(a.step(Some(m)).unwrap(), b.step(Some(m)).unwrap());
        }
        assert_eq!(a.state(), b.state());
        let mut bad = a.state();
        bad.lr = f64::INFINITY;
        assert!(b.load_state(bad).is_err());
    }
}
