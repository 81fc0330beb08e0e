//! Loss kernels (PyTorch semantics, mean reduction). Each returns the loss and its gradient with
//! respect to the prediction, which the tape saves for the backward pass.
//!
//! Targets written as NaN are missing labels: they are masked out and the mean is taken over the
//! labels present (the convention of multi-task genomics models such as DeepSEA and Basset).

use crate::{Error, Result};
use ndarray::{ArrayD, ArrayViewD, Zip};

/// Loss value and `d loss / d prediction`.
pub type LossOut = (f32, ArrayD<f32>);

fn same_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<()> {
    if a != b {
        return Err(Error::shape(
            op,
            format!("prediction {a:?} and target {b:?} differ in shape"),
        ));
    }
    Ok(())
}

/// Per-task vector (pos_weight or task weight) matched against the last axis.
fn task_vec<'a>(
    op: &'static str,
    what: &str,
    v: Option<&'a [f32]>,
    shape: &[usize],
) -> Result<Option<&'a [f32]>> {
    if let Some(v) = v {
        let t = shape.last().copied().unwrap_or(1);
        if v.len() != t {
            return Err(Error::shape(
                op,
                format!("{what} has {} entries for {t} tasks", v.len()),
            ));
        }
    }
    Ok(v)
}

/// Binary cross-entropy on logits (`BCEWithLogitsLoss`), multi-task over the last axis, with
/// optional per-task `pos_weight` and per-task weights, NaN targets masked.
pub fn bce_with_logits(
    x: ArrayViewD<f32>,
    y: ArrayViewD<f32>,
    pos_weight: Option<&[f32]>,
    task_weight: Option<&[f32]>,
) -> Result<LossOut> {
    const OP: &str = "bce_with_logits";
    same_shape(OP, x.shape(), y.shape())?;
    let pw = task_vec(OP, "pos_weight", pos_weight, x.shape())?;
    let tw = task_vec(OP, "task weight", task_weight, x.shape())?;
    let t = x.shape().last().copied().unwrap_or(1).max(1);
    let mut grad = ArrayD::<f32>::zeros(x.raw_dim());
    let mut total = 0.0f64;
    let mut count = 0usize;
    for (i, ((g, &xi), &yi)) in grad.iter_mut().zip(x.iter()).zip(y.iter()).enumerate() {
        if yi.is_nan() {
            continue;
        }
        let task = i % t;
        let p = pw.map_or(1.0, |v| v[task]);
        let w = tw.map_or(1.0, |v| v[task]);
        // softplus(-x) computed stably; l = (1 - y) x + (1 + (p - 1) y) softplus(-x)
        let sp = (-xi.abs()).exp().ln_1p() + (-xi).max(0.0);
        let coef = 1.0 + (p - 1.0) * yi;
        total += (w * ((1.0 - yi) * xi + coef * sp)) as f64;
        let sig_neg = 1.0 / (1.0 + xi.exp()); // sigmoid(-x)
        *g = w * ((1.0 - yi) - coef * sig_neg);
        count += 1;
    }
    Ok(mean_over(total, count, grad))
}

/// Softmax cross-entropy (`CrossEntropyLoss`) of logits `[N, C]` against class indices.
pub fn softmax_cross_entropy(x: ArrayViewD<f32>, labels: &[usize]) -> Result<LossOut> {
    const OP: &str = "softmax_cross_entropy";
    let (n, c) = match x.shape() {
        [n, c] => (*n, *c),
        s => {
            return Err(Error::shape(
                OP,
                format!("expected logits [N, C], got {s:?}"),
            ));
        }
    };
    if labels.len() != n {
        return Err(Error::shape(
            OP,
            format!("{} labels for {n} rows", labels.len()),
        ));
    }
    if let Some(&bad) = labels.iter().find(|&&k| k >= c) {
        return Err(Error::shape(
            OP,
            format!("label {bad} out of range for {c} classes"),
        ));
    }
    let x = x
        .into_dimensionality::<ndarray::Ix2>()
        .expect("checked 2-D");
    let mut grad = ndarray::Array2::<f32>::zeros((n, c));
    let mut total = 0.0f64;
    for (r, (row, mut g)) in x.rows().into_iter().zip(grad.rows_mut()).enumerate() {
        let m = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let z: f32 = row.iter().map(|&v| (v - m).exp()).sum();
        let lse = m + z.ln();
        total += (lse - row[labels[r]]) as f64;
        Zip::from(&mut g)
            .and(&row)
            .for_each(|g, &v| *g = (v - lse).exp() / n as f32);
        g[labels[r]] -= 1.0 / n as f32;
    }
    if n == 0 {
        return Ok((0.0, grad.into_dyn()));
    }
    Ok(((total / n as f64) as f32, grad.into_dyn()))
}

/// Mean squared error, NaN targets masked.
pub fn mse(x: ArrayViewD<f32>, y: ArrayViewD<f32>) -> Result<LossOut> {
    same_shape("mse", x.shape(), y.shape())?;
    elementwise(x, y, |p, t| ((p - t) * (p - t), 2.0 * (p - t)))
}

/// Poisson negative log-likelihood (`PoissonNLLLoss`, `full=False`), NaN targets masked. With
/// `log_input` the prediction is the log rate: `exp(x) - t x`; otherwise `x - t log(x + 1e-8)`.
pub fn poisson_nll(x: ArrayViewD<f32>, y: ArrayViewD<f32>, log_input: bool) -> Result<LossOut> {
    same_shape("poisson_nll", x.shape(), y.shape())?;
    if log_input {
        elementwise(x, y, |p, t| (p.exp() - t * p, p.exp() - t))
    } else {
        elementwise(x, y, |p, t| (p - t * (p + 1e-8).ln(), 1.0 - t / (p + 1e-8)))
    }
}

/// Mean of a per-element loss `f(p, t) -> (loss, dloss/dp)` over the non-NaN targets.
fn elementwise(
    x: ArrayViewD<f32>,
    y: ArrayViewD<f32>,
    f: impl Fn(f32, f32) -> (f32, f32),
) -> Result<LossOut> {
    let mut grad = ArrayD::<f32>::zeros(x.raw_dim());
    let mut total = 0.0f64;
    let mut count = 0usize;
    Zip::from(&mut grad).and(&x).and(&y).for_each(|g, &p, &t| {
        if !t.is_nan() {
            let (l, d) = f(p, t);
            total += l as f64;
            *g = d;
            count += 1;
        }
    });
    Ok(mean_over(total, count, grad))
}

/// Row-wise softmax of `[n, classes]` outputs (the maximum subtracted first).
pub fn softmax_rows(mut a: ndarray::Array2<f32>) -> ndarray::Array2<f32> {
    for mut row in a.rows_mut() {
        let m = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    a
}

/// The mean loss and its gradient over `count` labelled elements, from the sum `total` and the
/// per-element gradients (0 and unscaled when nothing is labelled).
fn mean_over(total: f64, count: usize, mut grad: ArrayD<f32>) -> (f32, ArrayD<f32>) {
    if count == 0 {
        return (0.0, grad);
    }
    let inv = 1.0 / count as f32;
    grad.mapv_inplace(|g| g * inv);
    ((total / count as f64) as f32, grad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn bce_matches_hand_computed_values() {
        // PyTorch 2.15:
        // x = torch.tensor([[1.5, -0.3], [0.2, 4.0]]); y = torch.tensor([[1., 0.], [0., 1.]])
        // torch.nn.BCEWithLogitsLoss()(x, y).item()                                  -> 0.3930143415927887
        // torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2., 3.]))(x, y).item() -> 0.45244261622428894
        let x = array![[1.5f32, -0.3], [0.2, 4.0]].into_dyn();
        let y = array![[1.0f32, 0.0], [0.0, 1.0]].into_dyn();
        let (l, _) = bce_with_logits(x.view(), y.view(), None, None).unwrap();
        // by hand: softplus(-1.5) + softplus(-0.3) + softplus(0.2) + softplus(-4)
        //        = 0.201413 + 0.554355 + 0.798139 + 0.018150 = 1.572057, / 4 = 0.393014
        assert!((l - 0.393_014_34).abs() < 1e-6, "{l}");
        let (lw, _) = bce_with_logits(x.view(), y.view(), Some(&[2.0, 3.0]), None).unwrap();
        assert!((lw - 0.452_442_6).abs() < 1e-6, "{lw}");
    }

    #[test]
    fn bce_masks_missing_labels() {
        let x = array![[1.5f32, -0.3]].into_dyn();
        let y = array![[1.0f32, f32::NAN]].into_dyn();
        let (l, g) = bce_with_logits(x.view(), y.view(), None, None).unwrap();
        assert!((l - 0.201413).abs() < 1e-5);
        assert_eq!(g[[0, 1]], 0.0);
    }

    #[test]
    fn cross_entropy_by_hand() {
        // logits [0, ln 3]: softmax = [0.25, 0.75]; label 1 -> -ln 0.75 = 0.287682
        let x = array![[0.0f32, 3.0f32.ln()]].into_dyn();
        let (l, g) = softmax_cross_entropy(x.view(), &[1]).unwrap();
        assert!((l - 0.287682).abs() < 1e-5);
        assert!((g[[0, 0]] - 0.25).abs() < 1e-6 && (g[[0, 1]] + 0.25).abs() < 1e-6);
        assert!(softmax_cross_entropy(x.view(), &[2]).is_err());
    }
}
