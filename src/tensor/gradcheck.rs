//! The finite-difference gradient checker every op test uses: it compares the tape's gradients
//! with central differences of the same forward pass, for each input element.
//!
//! The loss is `sum(f(inputs) * R)` for a fixed random `R`, so the upstream gradient is not all
//! ones. The forward pass runs in f32; the perturbed losses are accumulated in f64.

use super::{Array, Tape, Var};
use crate::Result;
use crate::rng;

/// Settings of one check.
#[derive(Clone, Copy, Debug)]
pub struct CheckConfig {
    /// Central-difference step.
    pub eps: f32,
    /// Allowed error: `|analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|)`.
    pub atol: f64,
    pub rtol: f64,
    /// Seed for the weights `R` of the loss.
    pub seed: u64,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            eps: 1e-2,
            atol: 2e-3,
            rtol: 1e-2,
            seed: 7,
        }
    }
}

/// The outcome of a check: the worst disagreement found and where.
#[derive(Debug)]
pub struct CheckReport {
    pub max_abs_err: f64,
    pub worst: Option<(usize, usize, f64, f64)>,
    pub passed: bool,
}

/// Builds the function under test on a tape from its inputs.
pub trait Build: Fn(&mut Tape, &[Var]) -> Result<Var> {}
impl<F: Fn(&mut Tape, &[Var]) -> Result<Var>> Build for F {}

fn loss_of(
    f: &impl Build,
    inputs: &[Array],
    weights: &mut Option<Array>,
    seed: u64,
) -> Result<(f64, Tape, Vec<Var>, Var)> {
    let mut tape = Tape::new();
    let vars: Vec<Var> = inputs.iter().map(|a| tape.param(a.clone())).collect();
    let out = f(&mut tape, &vars)?;
    if weights.is_none() {
        let mut r = rng::seeded(seed);
        *weights = Some(tape.value(out).mapv(|_| rng::uniform(&mut r, -1.0, 1.0)));
    }
    let w = weights.as_ref().expect("set above");
    let l: f64 = tape
        .value(out)
        .iter()
        .zip(w.iter())
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum();
    Ok((l, tape, vars, out))
}

/// Compares analytic and numeric gradients of `f` at `inputs` with respect to every input.
pub fn check(f: impl Build, inputs: &[Array], cfg: CheckConfig) -> Result<CheckReport> {
    let mut weights = None;
    let (_, mut tape, vars, out) = loss_of(&f, inputs, &mut weights, cfg.seed)?;
    let w = weights.clone().expect("set by loss_of");
    let loss = tape.weighted_sum(out, w)?;
    let mut grads = tape.backward(loss)?;
    let analytic: Vec<Array> = vars
        .iter()
        .zip(inputs)
        .map(|(&v, a)| {
            grads
                .take_or_zeros(v, a.shape())
                .as_standard_layout()
                .into_owned()
        })
        .collect();

    let mut report = CheckReport {
        max_abs_err: 0.0,
        worst: None,
        passed: true,
    };
    for (i, input) in inputs.iter().enumerate() {
        for j in 0..input.len() {
            let mut plus = inputs.to_vec();
            let mut minus = inputs.to_vec();
            plus[i].as_slice_mut().expect("owned standard arrays")[j] += cfg.eps;
            minus[i].as_slice_mut().expect("owned standard arrays")[j] -= cfg.eps;
            let lp = loss_of(&f, &plus, &mut weights, cfg.seed)?.0;
            let lm = loss_of(&f, &minus, &mut weights, cfg.seed)?.0;
            let numeric = (lp - lm) / (2.0 * cfg.eps as f64);
            let a = analytic[i].as_slice().expect("owned standard arrays")[j] as f64;
            let err = (a - numeric).abs();
            if err > report.max_abs_err {
                report.max_abs_err = err;
            }
            if err > cfg.atol + cfg.rtol * a.abs().max(numeric.abs()) {
                report.passed = false;
                if report
                    .worst
                    .is_none_or(|(_, _, wa, wn)| err > (wa - wn).abs())
                {
                    report.worst = Some((i, j, a, numeric));
                }
            }
        }
    }
    Ok(report)
}

/// Asserts that [`check`] passes, with a message naming the case and the worst element.
pub fn assert_grads(case: &str, f: impl Build, inputs: &[Array], cfg: CheckConfig) {
    let report = check(f, inputs, cfg).unwrap_or_else(|e| panic!("{case}: forward failed: {e}"));
    assert!(
        report.passed,
        "{case}: gradient mismatch, worst (input, element, analytic, numeric) = {:?}",
        report.worst
    );
}

/// A random array in `[-1, 1)` for test inputs.
pub fn random(shape: &[usize], seed: u64) -> Array {
    let mut r = rng::seeded(seed);
    Array::from_shape_fn(ndarray::IxDyn(shape), |_| rng::uniform(&mut r, -1.0, 1.0))
}

/// A random array whose elements are all at least `gap` apart (a shuffled, jittered ramp), so that
/// max and ReLU kinks stay out of reach of the finite-difference step.
pub fn random_distinct(shape: &[usize], gap: f32, seed: u64) -> Array {
    let n: usize = shape.iter().product();
    let mut r = rng::seeded(seed);
    // Offsets of 0.37 gap keep every value (and so every ReLU input) away from zero.
    let mid = (n as f32 - 1.0) / 2.0;
    let mut vals: Vec<f32> = (0..n).map(|i| (i as f32 - mid + 0.37) * gap).collect();
    rng::shuffle(&mut r, &mut vals);
    Array::from_shape_vec(ndarray::IxDyn(shape), vals).expect("n elements")
}
