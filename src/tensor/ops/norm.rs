//! Batch normalisation kernels (PyTorch `BatchNorm1d` / `BatchNorm2d` semantics) over inputs
//! `[N, C, ...]`: statistics per channel over the batch and every spatial position.
//!
//! Training mode normalises with the batch mean and the biased variance and reports the batch
//! statistics (the unbiased variance, as PyTorch uses for its running estimate); evaluation mode
//! uses given running statistics.

use crate::{Error, Result};
use ndarray::{ArrayD, ArrayViewD};
use rayon::prelude::*;

/// Saved by the forward pass for the backward pass.
#[derive(Debug)]
pub struct NormSaved {
    /// The normalised input `(x - mean) / sqrt(var + eps)`.
    pub xhat: ArrayD<f32>,
    /// `1 / sqrt(var + eps)` per channel.
    pub inv_std: Vec<f32>,
}

/// Per-channel statistics of a training batch.
#[derive(Debug, Clone)]
pub struct BatchStats {
    pub mean: Vec<f32>,
    /// Unbiased variance (divided by `count - 1`), for the running estimate.
    pub var_unbiased: Vec<f32>,
}

fn dims(
    op: &'static str,
    s: &[usize],
    gamma: &[f32],
    beta: &[f32],
) -> Result<(usize, usize, usize)> {
    if s.len() < 2 {
        return Err(Error::shape(op, format!("expected [N, C, ...], got {s:?}")));
    }
    let (n, c) = (s[0], s[1]);
    let inner: usize = s[2..].iter().product();
    if gamma.len() != c || beta.len() != c {
        return Err(Error::shape(
            op,
            format!(
                "{c} channels but weight/bias of {}/{}",
                gamma.len(),
                beta.len()
            ),
        ));
    }
    Ok((n, c, inner))
}

/// Per-channel sums over the rows `(sample, channel)` of a `[N, C, ...]` input: `f(sample,
/// channel)` gives one row's sum; rows are added in f64 in sample order, one channel per task, so
/// the result does not depend on the thread count.
fn channel_sums(n: usize, c: usize, f: impl Fn(usize, usize) -> f64 + Sync) -> Vec<f64> {
    (0..c)
        .into_par_iter()
        .map(|ch| (0..n).map(|s| f(s, ch)).sum::<f64>())
        .collect()
}

/// Training-mode forward: `y = gamma * xhat + beta` with batch statistics.
pub fn batch_norm_train(
    x: ArrayViewD<f32>,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) -> Result<(ArrayD<f32>, NormSaved, BatchStats)> {
    let (n, c, inner) = dims("batch_norm", x.shape(), gamma, beta)?;
    let count = n * inner;
    if count < 2 {
        return Err(Error::shape(
            "batch_norm",
            format!(
                "training needs more than one value per channel, got input {:?}",
                x.shape()
            ),
        ));
    }
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let row = |s: usize, ch: usize| &xs[(s * c + ch) * inner..(s * c + ch + 1) * inner];
    let mean: Vec<f64> = channel_sums(n, c, |s, ch| row(s, ch).iter().sum::<f32>() as f64)
        .into_iter()
        .map(|v| v / count as f64)
        .collect();
    let sq = channel_sums(n, c, |s, ch| {
        let m = mean[ch] as f32;
        row(s, ch).iter().map(|&v| (v - m) * (v - m)).sum::<f32>() as f64
    });
    let var: Vec<f64> = sq.iter().map(|s| s / count as f64).collect();
    let inv_std: Vec<f32> = var
        .iter()
        .map(|v| (1.0 / (v + eps as f64).sqrt()) as f32)
        .collect();
    let mut xhat = vec![0.0f32; xs.len()];
    let mut y = vec![0.0f32; xs.len()];
    xhat.par_chunks_mut(inner.max(1))
        .zip(y.par_chunks_mut(inner.max(1)))
        .zip(xs.par_chunks(inner.max(1)))
        .enumerate()
        .for_each(|(r, ((h, yr), xr))| {
            let ch = r % c;
            let (m, is, g, b) = (mean[ch] as f32, inv_std[ch], gamma[ch], beta[ch]);
            for ((h, yv), &xv) in h.iter_mut().zip(yr.iter_mut()).zip(xr) {
                *h = (xv - m) * is;
                *yv = g * *h + b;
            }
        });
    let shape = ndarray::IxDyn(x.shape());
    let stats = BatchStats {
        mean: mean.iter().map(|&m| m as f32).collect(),
        var_unbiased: sq.iter().map(|s| (s / (count - 1) as f64) as f32).collect(),
    };
    Ok((
        ArrayD::from_shape_vec(shape.clone(), y).expect("same size"),
        NormSaved {
            xhat: ArrayD::from_shape_vec(shape, xhat).expect("same size"),
            inv_std,
        },
        stats,
    ))
}

/// Backward of [`batch_norm_train`]: `(dx, dgamma, dbeta)`.
pub fn batch_norm_train_backward(
    dy: ArrayViewD<f32>,
    gamma: &[f32],
    saved: &NormSaved,
) -> (ArrayD<f32>, Vec<f32>, Vec<f32>) {
    let s = dy.shape();
    let (n, c) = (s[0], s[1]);
    let inner: usize = s[2..].iter().product();
    let count = (n * inner) as f64;
    let dy = dy.as_standard_layout();
    let dys = dy.as_slice().expect("standard layout");
    let xh = saved.xhat.as_slice().expect("owned standard array");
    let rows = |smp: usize, ch: usize| (smp * c + ch) * inner..(smp * c + ch + 1) * inner;
    let dbeta = channel_sums(n, c, |smp, ch| {
        dys[rows(smp, ch)].iter().sum::<f32>() as f64
    });
    let dgamma = channel_sums(n, c, |smp, ch| {
        let r = rows(smp, ch);
        dys[r.clone()]
            .iter()
            .zip(&xh[r])
            .map(|(a, b)| a * b)
            .sum::<f32>() as f64
    });
    // dx = gamma * inv_std / M * (M dy - sum(dy) - xhat * sum(dy * xhat))
    let mut dx = vec![0.0f32; dys.len()];
    dx.par_chunks_mut(inner.max(1))
        .zip(dys.par_chunks(inner.max(1)))
        .zip(xh.par_chunks(inner.max(1)))
        .enumerate()
        .for_each(|(r, ((d, dyr), xr))| {
            let ch = r % c;
            let k = (gamma[ch] as f64 * saved.inv_std[ch] as f64 / count) as f32;
            let (sb, sg, m) = (dbeta[ch] as f32, dgamma[ch] as f32, count as f32);
            for ((d, &g), &h) in d.iter_mut().zip(dyr).zip(xr) {
                *d = k * (m * g - sb - h * sg);
            }
        });
    (
        ArrayD::from_shape_vec(ndarray::IxDyn(s), dx).expect("same size"),
        dgamma.iter().map(|&v| v as f32).collect(),
        dbeta.iter().map(|&v| v as f32).collect(),
    )
}

/// Evaluation-mode forward with running statistics: `y = gamma (x - mean) / sqrt(var + eps) + beta`.
pub fn batch_norm_eval(
    x: ArrayViewD<f32>,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
) -> Result<(ArrayD<f32>, Vec<f32>)> {
    let (_, c, inner) = dims("batch_norm", x.shape(), gamma, beta)?;
    if mean.len() != c || var.len() != c {
        return Err(Error::shape(
            "batch_norm",
            "running statistics do not match the channels",
        ));
    }
    let inv_std: Vec<f32> = var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect();
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut y = vec![0.0f32; xs.len()];
    // One row (sample, channel) per task: element-wise, so any split gives the same values.
    y.par_chunks_mut(inner.max(1))
        .zip(xs.par_chunks(inner.max(1)))
        .enumerate()
        .for_each(|(r, (yr, xr))| {
            let ch = r % c;
            let (g, b, m, is) = (gamma[ch], beta[ch], mean[ch], inv_std[ch]);
            for (y, &x) in yr.iter_mut().zip(xr) {
                *y = g * ((x - m) * is) + b;
            }
        });
    Ok((
        ArrayD::from_shape_vec(ndarray::IxDyn(x.shape()), y).expect("same size"),
        inv_std,
    ))
}
