//! Optimisers (SGD, Adam, AdamW) that follow `torch.optim` update rules step for step, gradient
//! clipping by total L2 norm, and optimiser state export/import for checkpoints.
//!
//! Hyper-parameters are `f64`, like PyTorch's Python floats; each is rounded to `f32` where PyTorch
//! hands it to an `f32` kernel, and Adam's bias corrections are computed in `f64` as in PyTorch.
//! The arithmetic order of every element-wise update follows the PyTorch CPU kernels
//! (`add_`, `mul_`, `lerp_`, `addcmul_`, `addcdiv_`), so results agree to float rounding.

use ndarray::{ArrayD, Zip};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Settings of stochastic gradient descent, as `torch.optim.SGD`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate (torch default 1e-3).
    pub lr: f64,
    /// Momentum factor; 0 = plain SGD.
    pub momentum: f64,
    /// Dampening of the gradient added to the momentum buffer (not applied on the first step).
    pub dampening: f64,
    /// Nesterov momentum: the update is `g + momentum * buf` (needs momentum > 0, dampening 0).
    pub nesterov: bool,
    /// L2 penalty added to the gradient: `g + weight_decay * p`.
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        SgdConfig {
            lr,
            ..SgdConfig::default()
        }
    }
}

/// Settings of Adam, as `torch.optim.Adam` (no amsgrad); weight decay is an L2 penalty added to
/// the gradient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate (torch default 1e-3).
    pub lr: f64,
    /// Decay of the first-moment average (torch default 0.9).
    pub beta1: f64,
    /// Decay of the second-moment average (torch default 0.999).
    pub beta2: f64,
    /// Added to the denominator (torch default 1e-8).
    pub eps: f64,
    /// L2 penalty added to the gradient (torch default 0).
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamConfig {
    /// Adam with learning rate `lr` and torch's other defaults.
    pub fn new(lr: f64) -> Self {
        AdamConfig {
            lr,
            ..AdamConfig::default()
        }
    }
}

/// Settings of AdamW, as `torch.optim.AdamW`: decoupled weight decay `p *= 1 - lr * wd` before
/// the Adam update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    /// Learning rate (torch default 1e-3).
    pub lr: f64,
    /// Decay of the first-moment average (torch default 0.9).
    pub beta1: f64,
    /// Decay of the second-moment average (torch default 0.999).
    pub beta2: f64,
    /// Added to the denominator (torch default 1e-8).
    pub eps: f64,
    /// Decoupled weight decay (torch default 1e-2).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-2,
        }
    }
}

impl AdamWConfig {
    /// AdamW with learning rate `lr` and torch's other defaults.
    pub fn new(lr: f64) -> Self {
        AdamWConfig {
            lr,
            ..AdamWConfig::default()
        }
    }
}

/// Which optimiser to use, with its settings. In TOML/JSON the variant is the `kind` field:
/// `{ kind = "adamw", lr = 1e-3 }`; missing fields take torch's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// `torch.optim.SGD`.
    Sgd(SgdConfig),
    /// `torch.optim.Adam`.
    Adam(AdamConfig),
    /// `torch.optim.AdamW`.
    AdamW(AdamWConfig),
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::Adam(AdamConfig::default())
    }
}

impl OptimizerConfig {
    /// The configured (initial) learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::Adam(c) => c.lr,
            OptimizerConfig::AdamW(c) => c.lr,
        }
    }

    /// Short name used in messages: `sgd`, `adam`, `adamw`.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd(_) => "sgd",
            OptimizerConfig::Adam(_) => "adam",
            OptimizerConfig::AdamW(_) => "adamw",
        }
    }

    /// Checks the settings the way torch's constructors do (plus finiteness).
    pub fn validate(&self) -> Result<()> {
        let name = self.name();
        match self {
            OptimizerConfig::Sgd(c) => {
                check_non_negative(name, "lr", c.lr)?;
                check_non_negative(name, "momentum", c.momentum)?;
                check_finite(name, "dampening", c.dampening)?;
                check_non_negative(name, "weight_decay", c.weight_decay)?;
                if c.nesterov && (c.momentum <= 0.0 || c.dampening != 0.0) {
                    return Err(Error::Config(format!(
                        "{name}: nesterov momentum needs momentum > 0 and dampening 0 \
                         (got momentum {}, dampening {})",
                        c.momentum, c.dampening
                    )));
                }
            }
            OptimizerConfig::Adam(AdamConfig {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            })
            | OptimizerConfig::AdamW(AdamWConfig {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            }) => {
                check_non_negative(name, "lr", *lr)?;
                check_non_negative(name, "eps", *eps)?;
                check_non_negative(name, "weight_decay", *weight_decay)?;
                for (what, beta) in [("beta1", *beta1), ("beta2", *beta2)] {
                    if !(0.0..1.0).contains(&beta) {
                        return Err(Error::Config(format!(
                            "{name}: {what} must be in [0, 1), got {beta}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Validates the settings and makes an optimiser with empty state.
    pub fn build(&self) -> Result<Optimizer> {
        Optimizer::new(self.clone())
    }
}

fn check_finite(name: &str, what: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{name}: {what} must be finite, got {v}"
        )))
    }
}

fn check_non_negative(name: &str, what: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{name}: {what} must be finite and >= 0, got {v}"
        )))
    }
}

/// An optimiser's state for a checkpoint: the step counter, the current learning rate and the
/// per-parameter buffers named `<slot>.<param index>` (`momentum_buffer.0`, `exp_avg.1`,
/// `exp_avg_sq.1`, ...), the names torch uses in its optimiser state dict.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimState {
    /// Number of `step` calls made so far (torch's Adam `step`).
    pub step: u64,
    /// Learning rate at export time (it may differ from the configured one under a schedule).
    pub lr: f64,
    /// Named per-parameter buffers; empty before the first step.
    pub tensors: Vec<(String, ArrayD<f32>)>,
}

/// An optimiser: settings, learning rate, step counter and per-parameter buffers.
///
/// The buffers are created on the first [`Optimizer::step`], from the parameters given there; every
/// later step must pass the same number of parameters with the same shapes.
#[derive(Clone, Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    lr: f64,
    step: u64,
    decay: Option<Vec<bool>>,
    /// `slots[s][i]`: buffer `slot_names()[s]` of parameter `i`; empty before the first step.
    slots: Vec<Vec<ArrayD<f32>>>,
}

const OP: &str = "optim.step";

impl Optimizer {
    /// Validates `config` and makes an optimiser with empty state.
    pub fn new(config: OptimizerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Optimizer {
            lr: config.lr(),
            config,
            step: 0,
            decay: None,
            slots: Vec::new(),
        })
    }

    /// The settings this optimiser was built from (the learning rate there is the initial one).
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Current learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate used by the next steps (what a scheduler does to torch's
    /// `param_group["lr"]`).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Restricts weight decay to the parameters whose entry is `true` (e.g. none on biases or
    /// batch-norm parameters), as torch does with a second parameter group that has
    /// `weight_decay = 0`. Without a mask every parameter is decayed. The mask's length is
    /// checked against the parameters at each step.
    pub fn set_decay_mask(&mut self, decay: Vec<bool>) {
        self.decay = Some(decay);
    }

    /// The weight-decay mask, if one was set.
    pub fn decay_mask(&self) -> Option<&[bool]> {
        self.decay.as_deref()
    }

    /// Names of the per-parameter buffers this optimiser keeps.
    fn slot_names(&self) -> &'static [&'static str] {
        match &self.config {
            OptimizerConfig::Sgd(c) if c.momentum != 0.0 => &["momentum_buffer"],
            OptimizerConfig::Sgd(_) => &[],
            OptimizerConfig::Adam(_) | OptimizerConfig::AdamW(_) => &["exp_avg", "exp_avg_sq"],
        }
    }

    /// Checks counts and shapes of parameters, gradients, the decay mask and existing buffers.
    fn check(&self, params: &[ArrayD<f32>], grads: &[ArrayD<f32>]) -> Result<()> {
        if params.len() != grads.len() {
            return Err(Error::shape(
                OP,
                format!("{} parameters but {} gradients", params.len(), grads.len()),
            ));
        }
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            if p.shape() != g.shape() {
                return Err(Error::shape(
                    OP,
                    format!(
                        "parameter {i} has shape {:?} but its gradient has shape {:?}",
                        p.shape(),
                        g.shape()
                    ),
                ));
            }
        }
        if let Some(mask) = &self.decay
            && mask.len() != params.len()
        {
            return Err(Error::shape(
                OP,
                format!(
                    "weight-decay mask has {} entries for {} parameters",
                    mask.len(),
                    params.len()
                ),
            ));
        }
        for (name, slot) in self.slot_names().iter().zip(&self.slots) {
            if slot.len() != params.len() {
                return Err(Error::shape(
                    OP,
                    format!(
                        "optimiser state has {} parameters ({name}) but {} were given",
                        slot.len(),
                        params.len()
                    ),
                ));
            }
            for (i, (b, p)) in slot.iter().zip(params).enumerate() {
                if b.shape() != p.shape() {
                    return Err(Error::shape(
                        OP,
                        format!(
                            "parameter {i} has shape {:?} but its optimiser state {name} has \
                             shape {:?}",
                            p.shape(),
                            b.shape()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn decays(&self, i: usize) -> bool {
        self.decay.as_ref().is_none_or(|m| m[i])
    }

    /// One optimisation step: updates `params` in place from `grads` (same order, same shapes).
    /// On error nothing is changed.
    pub fn step(&mut self, params: &mut [ArrayD<f32>], grads: &[ArrayD<f32>]) -> Result<()> {
        self.check(params, grads)?;
        match self.config.clone() {
            OptimizerConfig::Sgd(c) => self.sgd_step(&c, params, grads),
            OptimizerConfig::Adam(c) => {
                let h = AdamHyper {
                    beta1: c.beta1,
                    beta2: c.beta2,
                    eps: c.eps,
                    weight_decay: c.weight_decay,
                    decoupled: false,
                };
                self.adam_step(&h, params, grads);
            }
            OptimizerConfig::AdamW(c) => {
                let h = AdamHyper {
                    beta1: c.beta1,
                    beta2: c.beta2,
                    eps: c.eps,
                    weight_decay: c.weight_decay,
                    decoupled: true,
                };
                self.adam_step(&h, params, grads);
            }
        }
        self.step += 1;
        Ok(())
    }

    /// torch `_single_tensor_sgd`.
    fn sgd_step(&mut self, c: &SgdConfig, params: &mut [ArrayD<f32>], grads: &[ArrayD<f32>]) {
        let neg_lr = (-self.lr) as f32;
        let wd_all = c.weight_decay as f32;
        let decays: Vec<bool> = (0..params.len()).map(|i| self.decays(i)).collect();
        if c.momentum == 0.0 {
            for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
                let wd = if decays[i] { wd_all } else { 0.0 };
                Zip::from(p).and(g).for_each(|p, &g| {
                    // torch: grad.add(param, alpha=weight_decay); param.add_(grad, alpha=-lr)
                    let d = if wd != 0.0 { g + wd * *p } else { g };
                    *p += neg_lr * d;
                });
            }
            return;
        }
        let momentum = c.momentum as f32;
        let keep = (1.0 - c.dampening) as f32;
        let first = self.slots.is_empty();
        if first {
            self.slots = vec![params.iter().map(|p| ArrayD::zeros(p.raw_dim())).collect()];
        }
        for (i, ((p, g), buf)) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.slots[0])
            .enumerate()
        {
            let wd = if decays[i] { wd_all } else { 0.0 };
            Zip::from(p).and(g).and(buf).for_each(|p, &g, b| {
                let d = if wd != 0.0 { g + wd * *p } else { g };
                // torch: the buffer starts as a copy of the first d_p (no dampening), then
                // buf.mul_(momentum).add_(d_p, alpha=1 - dampening).
                *b = if first { d } else { *b * momentum + keep * d };
                // torch: nesterov d_p = d_p.add(buf, alpha=momentum), else d_p = buf.
                let d = if c.nesterov { d + momentum * *b } else { *b };
                *p += neg_lr * d;
            });
        }
    }

    /// torch `_single_tensor_adam` (amsgrad off), with `decoupled` weight decay for AdamW.
    fn adam_step(&mut self, h: &AdamHyper, params: &mut [ArrayD<f32>], grads: &[ArrayD<f32>]) {
        if self.slots.is_empty() {
            let zeros: Vec<ArrayD<f32>> =
                params.iter().map(|p| ArrayD::zeros(p.raw_dim())).collect();
            self.slots = vec![zeros.clone(), zeros];
        }
        let lr = self.lr;
        let step = (self.step + 1) as f64;
        let bias_correction1 = 1.0 - h.beta1.powf(step);
        let bias_correction2 = 1.0 - h.beta2.powf(step);
        let neg_step_size = (-(lr / bias_correction1)) as f32;
        let bc2_sqrt = bias_correction2.sqrt() as f32;
        let w1 = (1.0 - h.beta1) as f32;
        let beta2 = h.beta2 as f32;
        let w2 = (1.0 - h.beta2) as f32;
        let eps = h.eps as f32;
        let wd = h.weight_decay as f32;
        let shrink = (1.0 - lr * h.weight_decay) as f32;
        let decays: Vec<bool> = (0..params.len()).map(|i| self.decays(i)).collect();
        let [exp_avg, exp_avg_sq] = &mut self.slots[..] else {
            // Internal invariant: Adam's state is exactly the two slots created above or loaded
            // (and checked) by `load_state`.
            unreachable!("adam keeps exactly two state slots")
        };
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let decay = decays[i] && h.weight_decay != 0.0;
            if decay && h.decoupled {
                // torch: param.mul_(1 - lr * weight_decay)
                p.mapv_inplace(|p| p * shrink);
            }
            let coupled = decay && !h.decoupled;
            Zip::from(p)
                .and(g)
                .and(&mut exp_avg[i])
                .and(&mut exp_avg_sq[i])
                .for_each(|p, &g, m, v| {
                    // torch: grad.add(param, alpha=weight_decay)
                    let g = if coupled { g + wd * *p } else { g };
                    // torch: exp_avg.lerp_(grad, 1 - beta1)
                    *m = lerp(*m, g, w1);
                    // torch: exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    *v *= beta2;
                    *v += w2 * g * g;
                    // torch: denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
                    let denom = v.sqrt() / bc2_sqrt + eps;
                    // torch: param.addcdiv_(exp_avg, denom, value=-step_size)
                    *p += neg_step_size * *m / denom;
                });
        }
    }

    /// The state to save in a checkpoint: step counter, learning rate and the named
    /// per-parameter buffers (see [`OptimState`]).
    pub fn state(&self) -> OptimState {
        let mut tensors = Vec::new();
        for (name, slot) in self.slot_names().iter().zip(&self.slots) {
            for (i, b) in slot.iter().enumerate() {
                tensors.push((format!("{name}.{i}"), b.clone()));
            }
        }
        OptimState {
            step: self.step,
            lr: self.lr,
            tensors,
        }
    }

    /// Restores a state made by [`Optimizer::state`] of an optimiser with the same kind of
    /// settings. Names must be `<slot>.<index>` for this optimiser's slots with indices
    /// `0..n` in every slot and matching shapes across slots; otherwise this fails and the
    /// optimiser is unchanged. Shapes are checked against the parameters at the next step.
    pub fn load_state(&mut self, state: OptimState) -> Result<()> {
        let who = format!("{} state", self.config.name());
        if !(state.lr.is_finite() && state.lr >= 0.0) {
            return Err(Error::Config(format!(
                "{who}: bad learning rate {}",
                state.lr
            )));
        }
        let names = self.slot_names();
        let mut slots: Vec<Vec<Option<ArrayD<f32>>>> = vec![Vec::new(); names.len()];
        for (name, t) in state.tensors {
            let parsed = name.rsplit_once('.').and_then(|(slot, idx)| {
                let s = names.iter().position(|n| *n == slot)?;
                let i: usize = idx.parse().ok()?;
                Some((s, i))
            });
            let Some((s, i)) = parsed else {
                return Err(Error::Config(format!(
                    "{who}: unexpected tensor '{name}' (expected {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names
                            .iter()
                            .map(|n| format!("{n}.<i>"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )));
            };
            // Indices come from a file: refuse absurd ones before allocating for them.
            if i > 1 << 24 {
                return Err(Error::Config(format!(
                    "{who}: parameter index too large in '{name}'"
                )));
            }
            if slots[s].len() <= i {
                slots[s].resize(i + 1, None);
            }
            if slots[s][i].replace(t).is_some() {
                return Err(Error::Config(format!("{who}: tensor '{name}' given twice")));
            }
        }
        let n = slots.iter().map(Vec::len).max().unwrap_or(0);
        let mut full: Vec<Vec<ArrayD<f32>>> = Vec::with_capacity(slots.len());
        for (s, slot) in slots.into_iter().enumerate() {
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                match slot.get(i).cloned().flatten() {
                    Some(t) => v.push(t),
                    None => {
                        return Err(Error::Config(format!(
                            "{who}: tensor '{}.{i}' missing",
                            names[s]
                        )));
                    }
                }
            }
            full.push(v);
        }
        if n > 0 {
            for (s, slot) in full.iter().enumerate().skip(1) {
                for (i, (a, b)) in full[0].iter().zip(slot).enumerate() {
                    if a.shape() != b.shape() {
                        return Err(Error::Config(format!(
                            "{who}: '{}.{i}' has shape {:?} but '{}.{i}' has shape {:?}",
                            names[0],
                            a.shape(),
                            names[s],
                            b.shape()
                        )));
                    }
                }
            }
        } else if state.step > 0 && !names.is_empty() {
            return Err(Error::Config(format!(
                "{who}: step {} but no {} tensors",
                state.step,
                names.join("/")
            )));
        }
        self.step = state.step;
        self.lr = state.lr;
        self.slots = if n > 0 { full } else { Vec::new() };
        Ok(())
    }
}

/// Adam's hyper-parameters for one step.
struct AdamHyper {
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
}

/// torch's scalar `lerp`: `start + w * (end - start)` for |w| < 0.5, else
/// `end - (end - start) * (1 - w)`.
fn lerp(start: f32, end: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        start + w * (end - start)
    } else {
        end - (end - start) * (1.0 - w)
    }
}

/// Scales `grads` in place so that their total L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_` (norm type 2): `coef = max_norm / (total + 1e-6)`, applied
/// when below 1. Returns the total norm before clipping. Squares are summed in `f64` in a fixed
/// order, so the result is deterministic. As in torch, a non-finite total norm is not an error:
/// a NaN norm makes every gradient NaN.
pub fn clip_grad_norm(grads: &mut [ArrayD<f32>], max_norm: f32) -> f32 {
    let sum: f64 = grads
        .iter()
        .flat_map(|g| g.iter())
        .map(|&x| f64::from(x) * f64::from(x))
        .sum();
    let total = sum.sqrt() as f32;
    let coef = max_norm / (total + 1e-6);
    // torch multiplies by clamp(coef, max=1): a no-op unless coef < 1 or coef is NaN.
    if coef.is_nan() || coef < 1.0 {
        for g in grads.iter_mut() {
            g.mapv_inplace(|x| x * coef);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    fn arr(shape: &[usize], v: f32) -> ArrayD<f32> {
        ArrayD::from_elem(IxDyn(shape), v)
    }

    fn all_configs() -> Vec<OptimizerConfig> {
        vec![
            OptimizerConfig::Sgd(SgdConfig::new(0.1)),
            OptimizerConfig::Sgd(SgdConfig {
                momentum: 0.9,
                ..SgdConfig::new(0.1)
            }),
            OptimizerConfig::Adam(AdamConfig::new(0.1)),
            OptimizerConfig::AdamW(AdamWConfig::new(0.1)),
        ]
    }

    #[test]
    fn mismatched_lengths_and_shapes_are_errors_and_change_nothing() {
        for cfg in all_configs() {
            let mut opt = cfg.build().unwrap();
            let mut params = vec![arr(&[2, 3], 1.0), arr(&[4], 1.0)];
            let before = params.clone();
            let err = opt.step(&mut params, &[arr(&[2, 3], 1.0)]).unwrap_err();
            assert!(matches!(err, Error::Shape { .. }), "{err}");
            assert!(
                err.to_string().contains("2 parameters but 1 gradients"),
                "{err}"
            );
            let err = opt
                .step(&mut params, &[arr(&[2, 3], 1.0), arr(&[5], 1.0)])
                .unwrap_err();
            assert!(
                err.to_string().contains("[4]") && err.to_string().contains("[5]"),
                "{err}"
            );
            assert_eq!(params, before);
            assert_eq!(opt.steps(), 0);
        }
    }

    #[test]
    fn parameters_changing_after_the_first_step_are_errors() {
        for cfg in all_configs() {
            let mut opt = cfg.build().unwrap();
            let mut params = vec![arr(&[2, 3], 1.0), arr(&[4], 1.0)];
            let grads = vec![arr(&[2, 3], 0.5), arr(&[4], 0.5)];
            opt.step(&mut params, &grads).unwrap();
            let has_state = !opt.state().tensors.is_empty();
            // One parameter fewer.
            let r = opt.step(&mut params[..1], &grads[..1]);
            assert_eq!(r.is_err(), has_state, "{}", cfg.name());
            // Same count, other shape.
            let mut other = vec![arr(&[3, 2], 1.0), arr(&[4], 1.0)];
            let og = vec![arr(&[3, 2], 1.0), arr(&[4], 1.0)];
            let before = other.clone();
            let r = opt.step(&mut other, &og);
            assert_eq!(r.is_err(), has_state, "{}", cfg.name());
            if has_state {
                assert_eq!(other, before);
            }
        }
    }

    #[test]
    fn decay_mask_of_wrong_length_is_an_error() {
        let mut opt = OptimizerConfig::AdamW(AdamWConfig::new(0.1))
            .build()
            .unwrap();
        opt.set_decay_mask(vec![true]);
        let mut params = vec![arr(&[2], 1.0), arr(&[3], 1.0)];
        let err = opt
            .step(&mut params, &[arr(&[2], 1.0), arr(&[3], 1.0)])
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("mask has 1 entries for 2 parameters"),
            "{err}"
        );
    }

    #[test]
    fn decay_mask_switches_weight_decay_off() {
        // With zero gradient, AdamW's only effect is the decoupled decay p *= 1 - lr * wd.
        let mut opt = OptimizerConfig::AdamW(AdamWConfig::new(0.1))
            .build()
            .unwrap();
        opt.set_decay_mask(vec![true, false]);
        let mut params = vec![arr(&[2], 1.0), arr(&[2], 1.0)];
        opt.step(&mut params, &[arr(&[2], 0.0), arr(&[2], 0.0)])
            .unwrap();
        assert_eq!(params[0], arr(&[2], (1.0f64 - 0.1 * 0.01) as f32));
        assert_eq!(params[1], arr(&[2], 1.0));
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let bad = [
            OptimizerConfig::Sgd(SgdConfig::new(-1.0)),
            OptimizerConfig::Sgd(SgdConfig::new(f64::NAN)),
            OptimizerConfig::Sgd(SgdConfig {
                momentum: -0.1,
                ..SgdConfig::default()
            }),
            OptimizerConfig::Sgd(SgdConfig {
                nesterov: true,
                ..SgdConfig::default()
            }),
            OptimizerConfig::Sgd(SgdConfig {
                nesterov: true,
                momentum: 0.9,
                dampening: 0.1,
                ..SgdConfig::default()
            }),
            OptimizerConfig::Adam(AdamConfig {
                beta1: 1.0,
                ..AdamConfig::default()
            }),
            OptimizerConfig::Adam(AdamConfig {
                beta2: -0.5,
                ..AdamConfig::default()
            }),
            OptimizerConfig::AdamW(AdamWConfig {
                eps: -1e-8,
                ..AdamWConfig::default()
            }),
            OptimizerConfig::AdamW(AdamWConfig {
                weight_decay: -1.0,
                ..AdamWConfig::default()
            }),
        ];
        for cfg in bad {
            let err = cfg.build().unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{cfg:?}: {err}");
        }
    }

    #[test]
    fn config_reads_from_toml_with_torch_defaults() {
        let c: OptimizerConfig = toml::from_str("kind = \"adamw\"\nlr = 0.01\n").unwrap();
        assert_eq!(c, OptimizerConfig::AdamW(AdamWConfig::new(0.01)));
        let c: OptimizerConfig =
            toml::from_str("kind = \"sgd\"\nlr = 0.1\nmomentum = 0.9\nnesterov = true\n").unwrap();
        assert_eq!(
            c,
            OptimizerConfig::Sgd(SgdConfig {
                momentum: 0.9,
                nesterov: true,
                ..SgdConfig::new(0.1)
            })
        );
        assert!(toml::from_str::<OptimizerConfig>("kind = \"adam\"\nbeta3 = 0.5\n").is_err());
        assert!(toml::from_str::<OptimizerConfig>("kind = \"rmsprop\"\n").is_err());
        for c in all_configs() {
            let s = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<OptimizerConfig>(&s).unwrap(), c);
        }
    }

    #[test]
    fn state_round_trip_continues_identically() {
        for cfg in all_configs() {
            let grads = |k: usize| vec![arr(&[2, 2], 0.1 * k as f32 - 0.2), arr(&[3], 0.3)];
            let mut a = cfg.build().unwrap();
            let mut pa = vec![arr(&[2, 2], 1.0), arr(&[3], -1.0)];
            for k in 0..3 {
                a.step(&mut pa, &grads(k)).unwrap();
            }
            let mut b = cfg.build().unwrap();
            b.load_state(a.state()).unwrap();
            let mut pb = pa.clone();
            for k in 3..6 {
                a.step(&mut pa, &grads(k)).unwrap();
                b.step(&mut pb, &grads(k)).unwrap();
            }
            assert_eq!(pa, pb, "{}", cfg.name());
            assert_eq!(a.steps(), 6);
            assert_eq!(b.steps(), 6);
        }
    }

    #[test]
    fn bad_states_are_rejected_and_change_nothing() {
        let mut opt = OptimizerConfig::Adam(AdamConfig::new(0.1)).build().unwrap();
        let t = |n: &str, shape: &[usize]| (n.to_string(), arr(shape, 0.0));
        let cases = [
            vec![t("momentum_buffer.0", &[2])],
            vec![t("exp_avg.0", &[2])],
            vec![t("exp_avg.0", &[2]), t("exp_avg_sq.0", &[3])],
            vec![t("exp_avg.1", &[2]), t("exp_avg_sq.1", &[2])],
            vec![t("exp_avg.x", &[2]), t("exp_avg_sq.0", &[2])],
            vec![
                t("exp_avg.0", &[2]),
                t("exp_avg.0", &[2]),
                t("exp_avg_sq.0", &[2]),
            ],
            vec![t("exp_avg.99999999999", &[2])],
        ];
        for tensors in cases {
            let names: Vec<String> = tensors.iter().map(|(n, _)| n.clone()).collect();
            let err = opt
                .load_state(OptimState {
                    step: 3,
                    lr: 0.1,
                    tensors,
                })
                .unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{names:?}: {err}");
        }
        let err = opt
            .load_state(OptimState {
                step: 3,
                lr: 0.1,
                tensors: vec![],
            })
            .unwrap_err();
        assert!(err.to_string().contains("no exp_avg/exp_avg_sq"), "{err}");
        assert!(
            opt.load_state(OptimState {
                step: 0,
                lr: f64::NAN,
                tensors: vec![]
            })
            .is_err()
        );
        assert_eq!(opt.steps(), 0);
        assert_eq!(opt.lr(), 0.1);
        // Plain SGD keeps no buffers and accepts an empty state at any step.
        let mut sgd = OptimizerConfig::Sgd(SgdConfig::new(0.1)).build().unwrap();
        sgd.load_state(OptimState {
            step: 4,
            lr: 0.05,
            tensors: vec![],
        })
        .unwrap();
        assert_eq!((sgd.steps(), sgd.lr()), (4, 0.05));
    }

    #[test]
    fn loaded_state_with_other_shapes_fails_at_the_next_step() {
        let mut opt = OptimizerConfig::Sgd(SgdConfig {
            momentum: 0.9,
            ..SgdConfig::new(0.1)
        })
        .build()
        .unwrap();
        let tensors = vec![("momentum_buffer.0".to_string(), arr(&[3], 0.0))];
        opt.load_state(OptimState {
            step: 1,
            lr: 0.1,
            tensors,
        })
        .unwrap();
        let mut params = vec![arr(&[2], 1.0)];
        let err = opt.step(&mut params, &[arr(&[2], 1.0)]).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
        assert_eq!(params, vec![arr(&[2], 1.0)]);
    }

    #[test]
    fn clip_grad_norm_scales_only_above_the_limit() {
        // Norm 5 (3-4-5), limit 1: scaled by 1 / (5 + 1e-6).
        let mut g = vec![arr(&[1], 3.0), arr(&[1], 4.0)];
        let total = clip_grad_norm(&mut g, 1.0);
        assert_eq!(total, 5.0);
        let coef = 1.0f32 / (5.0 + 1e-6);
        assert_eq!(g, vec![arr(&[1], 3.0 * coef), arr(&[1], 4.0 * coef)]);
        // Below the limit: untouched.
        let mut g = vec![arr(&[1], 0.3), arr(&[1], 0.4)];
        let total = clip_grad_norm(&mut g, 1.0);
        assert!((total - 0.5).abs() < 1e-7);
        assert_eq!(g, vec![arr(&[1], 0.3), arr(&[1], 0.4)]);
        // No gradients: norm 0.
        assert_eq!(clip_grad_norm(&mut [], 1.0), 0.0);
        // NaN anywhere poisons everything, as in torch.
        let mut g = vec![arr(&[1], f32::NAN), arr(&[1], 1.0)];
        assert!(clip_grad_norm(&mut g, 1.0).is_nan());
        assert!(g[1][[0]].is_nan());
    }
}
