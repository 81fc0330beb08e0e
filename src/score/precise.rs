//! Outputs on the output scale in double precision, made from the network's raw outputs, for the
//! tables that print scores and their differences (`variants`, `mutate`).
//!
//! A network's raw outputs are `f32`; a probability made from them in `f32` is exactly `1` for
//! every logit above about 16.6, so a trained model's strong sites print as `1` and their
//! differences as `0`. Here the output map (sigmoid, softmax, exp) is taken in `f64` from the raw
//! value of each strand, and the strand rule applied after, as [`super::Scorer::score`] applies it:
//! probabilities keep their distance from 1 down to about 1e-16 and differences keep their digits.
//! [`Shown`] prints them with seven significant digits of that distance.

use std::fmt;

use ndarray::{Array2, Zip};

use crate::arch::LossKind;
use crate::model::Strand;

/// Raw outputs and outputs on the output scale, `[n, tasks]` each.
#[derive(Clone, Debug)]
pub struct Precise {
    /// The raw outputs under the strand rule, as [`super::Scorer::score_raw`] gives them.
    pub raw: Array2<f32>,
    /// The outputs on the output scale, as [`super::Scorer::score`] gives them, in `f64`.
    pub out: Array2<f64>,
    /// How the outputs print.
    pub kind: OutputKind,
}

/// What an output is, for printing: a probability keeps its distance from 1; any other value
/// prints as the `f32` it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// `bce` and `cross_entropy` outputs.
    Probability,
    /// Raw scores (DeepBind models), `mse` values, `poisson` rates.
    Value,
}

impl OutputKind {
    /// The kind of a plain model's outputs under `loss`.
    pub fn of(loss: LossKind) -> OutputKind {
        match loss {
            LossKind::Bce | LossKind::CrossEntropy => OutputKind::Probability,
            LossKind::Mse | LossKind::Poisson => OutputKind::Value,
        }
    }

    /// `v` ready to print.
    pub fn show(self, v: f64) -> Shown {
        Shown { v, kind: self }
    }
}

/// The output map of `loss` on one strand's raw outputs, in `f64`.
pub fn output64(loss: LossKind, raw: &Array2<f32>) -> Array2<f64> {
    let mut y = raw.mapv(f64::from);
    match loss {
        LossKind::Bce => y.mapv_inplace(sigmoid64),
        LossKind::Poisson => y.mapv_inplace(f64::exp),
        LossKind::Mse => {}
        LossKind::CrossEntropy => {
            for mut row in y.rows_mut() {
                let m = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                row.mapv_inplace(|v| (v - m).exp());
                let s = row.sum();
                row.mapv_inplace(|v| v / s);
            }
        }
    }
    y
}

/// The logistic function in `f64`, exact to rounding for both signs.
pub fn sigmoid64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The strand rule on raw outputs of the forward strand and, when both are scored, the reverse
/// strand: `raw` exactly as the scorer combines raw outputs (the larger, or the mean), `out` the
/// output map of the combined raw score (none, max: the map is monotone, so it commutes with the
/// larger) or the mean of both strands' outputs (mean).
pub fn combine(
    loss: LossKind,
    strand: Strand,
    fwd: Array2<f32>,
    rev: Option<Array2<f32>>,
) -> Precise {
    let kind = OutputKind::of(loss);
    match (strand, rev) {
        (Strand::Mean, Some(r)) => {
            let out = (output64(loss, &fwd) + output64(loss, &r)) * 0.5;
            let raw = (fwd + r) * 0.5;
            Precise { raw, out, kind }
        }
        (Strand::Max, Some(r)) => {
            let raw = Zip::from(&fwd).and(&r).map_collect(|&a, &b| a.max(b));
            let out = output64(loss, &raw);
            Precise { raw, out, kind }
        }
        _ => {
            let out = output64(loss, &fwd);
            Precise {
                raw: fwd,
                out,
                kind,
            }
        }
    }
}

/// A score ready to print: a probability above 0.5 with seven significant digits of its distance
/// from 1 (`0.999999997938846` for a logit of 20, where `f32` prints `1`), within 1e-16 of 1 as
/// `0.9999999999999999`; anything else as the `f32` nearest to it (seven significant digits).
#[derive(Clone, Copy, Debug)]
pub struct Shown {
    v: f64,
    kind: OutputKind,
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.v;
        if self.kind == OutputKind::Value || !(v > 0.5 && v <= 1.0) {
            return write!(f, "{}", v as f32);
        }
        // 1 - v is exact here (Sterbenz); print down to its seventh significant digit, at most
        // the 16 decimals a double holds.
        let c = 1.0 - v;
        let decimals = if c > 0.0 {
            ((-c.log10().floor()) as usize + 6).clamp(7, 16)
        } else {
            16
        };
        let s = format!("{:.decimals$}", v.min(1.0 - 1e-16));
        let s = s.trim_end_matches('0');
        write!(f, "{}", s.trim_end_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn show(v: f64) -> String {
        OutputKind::Probability.show(v).to_string()
    }

    #[test]
    fn saturated_probabilities_keep_their_distance_from_one() {
        assert_eq!(crate::tensor::sigmoid(20.0), 1.0, "f32 saturates");
        assert_eq!(show(sigmoid64(20.0)), "0.999999997938846");
        assert_eq!(show(sigmoid64(30.0)), "0.9999999999999065");
        assert_eq!(show(sigmoid64(50.0)), "0.9999999999999999");
        assert_eq!(show(1.0), "0.9999999999999999");
        // Ordinary values print as f32 does.
        assert_eq!(show(0.75), "0.75");
        assert_eq!(show(sigmoid64(1.0)), (sigmoid64(1.0) as f32).to_string());
        assert_eq!(show(0.25), "0.25");
        assert_eq!(show(sigmoid64(-20.0)), "0.0000000020611537");
        assert_eq!(OutputKind::Value.show(3.5).to_string(), "3.5");
        assert_eq!(OutputKind::Value.show(0.9).to_string(), "0.9");
    }

    #[test]
    fn sigmoid64_is_exact_for_both_signs() {
        for x in [-40.0, -20.0, -1.0, 0.0, 0.5, 1.0, 20.0, 40.0] {
            let s = sigmoid64(x);
            assert!((s + sigmoid64(-x) - 1.0).abs() < 1e-15, "{x}");
        }
        assert!(sigmoid64(-40.0) > 0.0 && sigmoid64(-40.0) < 1e-17);
    }

    #[test]
    fn combine_follows_the_strand_rule() {
        let f = array![[20.0f32, -1.0]];
        let r = array![[22.0f32, 1.0]];
        let max = combine(LossKind::Bce, Strand::Max, f.clone(), Some(r.clone()));
        assert_eq!(max.raw, array![[22.0f32, 1.0]]);
        assert_eq!(max.out[[0, 0]], sigmoid64(22.0));
        let mean = combine(LossKind::Bce, Strand::Mean, f.clone(), Some(r));
        assert_eq!(mean.raw, array![[21.0f32, 0.0]]);
        assert_eq!(mean.out[[0, 1]], 0.5);
        assert_eq!(mean.out[[0, 0]], (sigmoid64(20.0) + sigmoid64(22.0)) / 2.0);
        assert!(mean.out[[0, 0]] < 1.0);
        let none = combine(LossKind::Poisson, Strand::None, f, None);
        assert_eq!(none.kind, OutputKind::Value);
        assert_eq!(none.out[[0, 1]], (-1.0f64).exp());
        let ce = output64(LossKind::CrossEntropy, &array![[0.0f32, 30.0]]);
        assert!(ce[[0, 1]] < 1.0 && (ce.row(0).sum() - 1.0).abs() < 1e-15);
    }
}
