//! 1D pooling kernels with PyTorch semantics (`MaxPool1d`, `AvgPool1d` with
//! `count_include_pad=True`, floor mode) and global max / average pooling.
//!
//! Max pooling saves the argmax of every output so the backward pass scatters the gradient to it,
//! whatever the stride and padding.

use crate::{Error, Result};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

/// Kernel, stride and symmetric zero/-inf padding of a 1D pooling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool1dGeom {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Pool1dGeom {
    /// Output length for an input of length `l`.
    pub fn out_len(&self, op: &'static str, l: usize) -> Result<usize> {
        if self.kernel == 0 || self.stride == 0 {
            return Err(Error::shape(op, "kernel size and stride must be positive"));
        }
        if self.padding * 2 > self.kernel {
            return Err(Error::shape(
                op,
                format!(
                    "padding {} must be at most half the kernel size {}",
                    self.padding, self.kernel
                ),
            ));
        }
        if l == 0 {
            return Err(Error::shape(op, "input length is zero"));
        }
        let padded = l + 2 * self.padding;
        if padded < self.kernel {
            return Err(Error::shape(
                op,
                format!(
                    "input length {l} is shorter than the pooling window {}",
                    self.kernel
                ),
            ));
        }
        Ok((padded - self.kernel) / self.stride + 1)
    }

    /// The in-range positions `lo..hi` of output `t`'s window over a row of length `l`
    /// (padding reads -inf for a max and zeros for an average, so a window is its in-range
    /// part, never empty).
    #[inline(always)]
    pub(crate) fn window(&self, t: usize, l: usize) -> std::ops::Range<usize> {
        let start = (t * self.stride) as isize - self.padding as isize;
        let lo = start.max(0) as usize;
        let hi = ((start + self.kernel as isize).max(0) as usize).min(l);
        lo..hi
    }

    /// Adjacent windows without padding and short enough for [`max_short`].
    fn adjacent_short(&self) -> bool {
        self.padding == 0 && self.stride == self.kernel && self.kernel < 16
    }
}

fn dims3(op: &'static str, s: &[usize]) -> Result<(usize, usize, usize)> {
    match s {
        [n, c, l] => Ok((*n, *c, *l)),
        _ => Err(Error::shape(
            op,
            format!("expected input [N, C, L], got {s:?}"),
        )),
    }
}

/// Max pooling; returns the output and, per output element, the input index (along L) it came from.
pub fn max_pool1d_forward(x: ArrayView3<f32>, g: &Pool1dGeom) -> Result<(Array3<f32>, Vec<u32>)> {
    let (n, c, l) = dims3("max_pool1d", x.shape())?;
    let l_out = g.out_len("max_pool1d", l)?;
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut y = Array3::<f32>::zeros((n, c, l_out));
    let mut arg = vec![0u32; n * c * l_out];
    let ys = y.as_slice_mut().expect("fresh array");
    ys.par_chunks_mut(l_out)
        .zip(arg.par_chunks_mut(l_out))
        .zip(xs.par_chunks(l))
        .for_each(|((yr, ar), row)| max_pool_row(row, g, yr, ar));
    Ok((y, arg))
}

/// Max pooling without the argmax, for inference (no backward pass to serve): the values of
/// [`max_pool1d_forward`], bit for bit.
pub fn max_pool1d_values(x: ArrayView3<f32>, g: &Pool1dGeom) -> Result<Array3<f32>> {
    if g.adjacent_short() {
        // A fifth of the dilated network's inference went to the argmax.
        return pool_rows("max_pool1d", x, g, |row, yr| {
            for (w, y) in row.chunks_exact(g.kernel).zip(yr.iter_mut()) {
                let (m, nan) = max_short(w);
                *y = if nan { f32::NAN } else { m };
            }
        });
    }
    pool_rows("max_pool1d", x, g, |row, yr| {
        for (t, y) in yr.iter_mut().enumerate() {
            let w = g.window(t, row.len());
            *y = row[w.start + argmax(&row[w])];
        }
    })
}

/// `[N, C, L] -> [N, C, L_out]`, each row `x[n, c, :]` pooled into `y[n, c, :]` by `pool_row`.
fn pool_rows(
    op: &'static str,
    x: ArrayView3<f32>,
    g: &Pool1dGeom,
    pool_row: impl Fn(&[f32], &mut [f32]) + Sync,
) -> Result<Array3<f32>> {
    let (n, c, l) = dims3(op, x.shape())?;
    let l_out = g.out_len(op, l)?;
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut y = Array3::<f32>::zeros((n, c, l_out));
    let ys = y.as_slice_mut().expect("fresh array");
    ys.par_chunks_mut(l_out)
        .zip(xs.par_chunks(l))
        .for_each(|(yr, row)| pool_row(row, yr));
    Ok(y)
}

/// Max pooling of one row into `yr` (the output length) with the argmax of each output in `ar`.
pub(crate) fn max_pool_row(row: &[f32], g: &Pool1dGeom, yr: &mut [f32], ar: &mut [u32]) {
    if g.adjacent_short() {
        // Adjacent windows without padding (DeepSEA's and Basenji's pools): no bounds to work
        // out per output; 18% of the dilated network's inference went to the general loop below.
        let k = g.kernel;
        for (t, ((w, y), a)) in row
            .chunks_exact(k)
            .zip(yr.iter_mut())
            .zip(ar.iter_mut())
            .enumerate()
        {
            let best = argmax_short(w);
            *y = w[best];
            *a = (t * k + best) as u32;
        }
        return;
    }
    for (t, (y, a)) in yr.iter_mut().zip(ar.iter_mut()).enumerate() {
        let w = g.window(t, row.len());
        let best = w.start + argmax(&row[w]);
        *y = row[best];
        *a = best as u32;
    }
}

/// [`argmax`] for short windows without data-dependent branches: the maximum first (compiled to
/// `maxss`), then its first position counted arithmetically. The comparisons of real activations
/// are unpredictable, and the branch mispredictions of the loop in [`argmax`] made max pooling 27%
/// of the dilated network's inference (perf). With a NaN in the window, [`argmax`] decides.
#[inline]
fn argmax_short(w: &[f32]) -> usize {
    let (m, nan) = max_short(w);
    if nan {
        return argmax(w);
    }
    let (mut idx, mut found) = (0usize, false);
    for &v in w {
        found |= v == m;
        idx += usize::from(!found);
    }
    idx
}

/// The first maximum of a short non-empty window (equal to every later one, signed zeros
/// included), without branches, and whether the window holds a NaN.
#[inline]
fn max_short(w: &[f32]) -> (f32, bool) {
    let (mut m, mut nan) = (w[0], false);
    for &v in w {
        nan |= v.is_nan();
        m = if v > m { v } else { m };
    }
    (m, nan)
}

/// The index of the maximum of a non-empty window, the first one of equal maxima; NaN propagates
/// as in PyTorch (the index of a NaN).
#[inline]
fn argmax(w: &[f32]) -> usize {
    // Long windows (global pooling): a branch-free pass for the maximum, which vectorises, then
    // its first position; the element-wise loop below mispredicts on every new maximum.
    if w.len() >= 16 {
        let (mut m, mut nan) = (f32::NEG_INFINITY, false);
        for &v in w {
            nan |= v.is_nan();
            m = if v > m { v } else { m };
        }
        if !nan {
            return w.iter().position(|&v| v == m).unwrap_or(0);
        }
    }
    let mut best = 0;
    for (i, &v) in w.iter().enumerate().skip(1) {
        if v > w[best] || v.is_nan() {
            best = i;
            if v.is_nan() {
                break;
            }
        }
    }
    best
}

/// Scatters `dy` back to the saved argmax positions.
pub fn max_pool1d_backward(dy: ArrayView3<f32>, arg: &[u32], l: usize) -> Array3<f32> {
    backward_rows(dy, l, Some(arg), |dr, gr, ar| {
        for (&g, &a) in gr.iter().zip(ar) {
            dr[a as usize] += g;
        }
    })
}

/// Average pooling; padded positions count as zeros in the denominator (`count_include_pad`).
pub fn avg_pool1d_forward(x: ArrayView3<f32>, g: &Pool1dGeom) -> Result<Array3<f32>> {
    let inv = 1.0 / g.kernel as f32;
    pool_rows("avg_pool1d", x, g, |row, yr| {
        for (t, v) in yr.iter_mut().enumerate() {
            *v = row[g.window(t, row.len())].iter().sum::<f32>() * inv;
        }
    })
}

/// Backward of [`avg_pool1d_forward`].
pub fn avg_pool1d_backward(dy: ArrayView3<f32>, g: &Pool1dGeom, l: usize) -> Array3<f32> {
    let inv = 1.0 / g.kernel as f32;
    backward_rows(dy, l, None, |dr, gr, _| {
        for (t, &gv) in gr.iter().enumerate() {
            dr[g.window(t, l)].iter_mut().for_each(|d| *d += gv * inv);
        }
    })
}

/// The frame of a pooling backward: `dx [N, C, l]` filled row by row (in parallel) by
/// `row(dx row, dy row, saved argmax row)`; `arg`, when given, holds one position per output.
fn backward_rows(
    dy: ArrayView3<f32>,
    l: usize,
    arg: Option<&[u32]>,
    row: impl Fn(&mut [f32], &[f32], &[u32]) + Sync,
) -> Array3<f32> {
    let (n, c, l_out) = dy.dim();
    let dy = dy.as_standard_layout();
    let ds = dy.as_slice().expect("standard layout");
    let mut dx = Array3::<f32>::zeros((n, c, l));
    let dxs = dx.as_slice_mut().expect("fresh array");
    let rows = dxs.par_chunks_mut(l).zip(ds.par_chunks(l_out.max(1)));
    match arg {
        Some(arg) => rows
            .zip(arg.par_chunks(l_out.max(1)))
            .for_each(|((dr, gr), ar)| row(dr, gr, ar)),
        None => rows.for_each(|(dr, gr)| row(dr, gr, &[])),
    }
    dx
}

/// Global max over the length axis: `[N, C, L] -> [N, C]`, with the argmax of each output.
pub fn global_max_pool_forward(x: ArrayView3<f32>) -> Result<(Array2<f32>, Vec<u32>)> {
    let (n, c, l) = dims3("global_max_pool", x.shape())?;
    if l == 0 {
        return Err(Error::shape("global_max_pool", "input length is zero"));
    }
    let (y, arg) = max_pool1d_forward(
        x,
        &Pool1dGeom {
            kernel: l,
            stride: l,
            padding: 0,
        },
    )?;
    Ok((y.into_shape_with_order((n, c)).expect("l_out is 1"), arg))
}

/// Backward of [`global_max_pool_forward`].
pub fn global_max_pool_backward(dy: ArrayView2<f32>, arg: &[u32], l: usize) -> Array3<f32> {
    max_pool1d_backward(dy.insert_axis(Axis(2)), arg, l)
}

/// Global mean over the length axis: `[N, C, L] -> [N, C]`.
pub fn global_avg_pool_forward(x: ArrayView3<f32>) -> Result<Array2<f32>> {
    let (_, _, l) = dims3("global_avg_pool", x.shape())?;
    if l == 0 {
        return Err(Error::shape("global_avg_pool", "input length is zero"));
    }
    Ok(x.sum_axis(Axis(2)) / l as f32)
}

/// Backward of [`global_avg_pool_forward`].
pub fn global_avg_pool_backward(dy: ArrayView2<f32>, l: usize) -> Array3<f32> {
    let (n, c) = dy.dim();
    let inv = 1.0 / l as f32;
    Array3::from_shape_fn((n, c, l), |(s, ch, _)| dy[[s, ch]] * inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_free_argmax_agrees_with_the_loop() {
        let vals = [0.0f32, 1.0, -1.0, 1.0, f32::NAN, 2.0, -0.0];
        // Every window of length 1-5 over these values (ties, signed zeros, NaN first or later).
        for k in 1..=5u32 {
            for code in 0..vals.len().pow(k) {
                let w: Vec<f32> = (0..k)
                    .map(|i| vals[code / vals.len().pow(i) % vals.len()])
                    .collect();
                assert_eq!(argmax_short(&w), argmax(&w), "{w:?}");
            }
        }
    }
    use ndarray::array;

    #[test]
    fn inference_pooling_gives_the_forward_values_bit_for_bit() {
        let vals = [0.0f32, 1.0, -1.0, 1.0, f32::NAN, 2.0, -0.0, 0.5];
        let x = ndarray::Array3::from_shape_fn((2, 3, 37), |(n, c, l)| {
            vals[(n * 5 + c * 3 + l * l) % vals.len()]
        });
        let bits = |y: &ndarray::Array3<f32>| -> Vec<u32> {
            // every NaN alike: its payload is not part of the contract
            y.iter()
                .map(|v| if v.is_nan() { u32::MAX } else { v.to_bits() })
                .collect()
        };
        for (kernel, stride, padding) in [
            (1, 1, 0),
            (2, 2, 0),
            (4, 4, 0),
            (5, 5, 0),
            (3, 2, 1),
            (4, 1, 2),
            (16, 16, 0),
        ] {
            let g = Pool1dGeom {
                kernel,
                stride,
                padding,
            };
            let (y, _) = max_pool1d_forward(x.view(), &g).unwrap();
            let v = max_pool1d_values(x.view(), &g).unwrap();
            assert_eq!(bits(&v), bits(&y), "{g:?}");
        }
        assert!(
            max_pool1d_values(
                x.view(),
                &Pool1dGeom {
                    kernel: 40,
                    stride: 1,
                    padding: 0
                }
            )
            .is_err()
        );
    }

    #[test]
    fn max_pool_matches_torch_on_a_worked_example() {
        // torch.nn.MaxPool1d(3, stride=2, padding=1)(torch.tensor([[[1., 5, 2, 0, 3, 4, 1]]]))
        // -> tensor([[[5., 5., 4., 4.]]])   (PyTorch 2.15)
        let x = array![[[1.0f32, 5.0, 2.0, 0.0, 3.0, 4.0, 1.0]]];
        let (y, arg) = max_pool1d_forward(
            x.view(),
            &Pool1dGeom {
                kernel: 3,
                stride: 2,
                padding: 1,
            },
        )
        .unwrap();
        assert_eq!(y, array![[[5.0f32, 5.0, 4.0, 4.0]]]);
        assert_eq!(arg, vec![1, 1, 5, 5]);
        let dx = max_pool1d_backward(ndarray::Array3::ones((1, 1, 4)).view(), &arg, 7);
        assert_eq!(dx, array![[[0.0f32, 2.0, 0.0, 0.0, 0.0, 2.0, 0.0]]]);
    }

    #[test]
    fn long_windows_take_the_first_maximum_and_propagate_nan() {
        let mut row: Vec<f32> = (0..40).map(|i| ((i * 7) % 13) as f32).collect();
        // 12 first appears at i = 11 (77 % 13), again at i = 24.
        assert_eq!(argmax(&row), 11);
        assert_eq!(argmax(&row[..11]), 9, "short window: 11 at i = 9");
        row[30] = f32::NAN;
        assert_eq!(argmax(&row), 30);
        assert_eq!(argmax(&[f32::NEG_INFINITY; 20]), 0);
        let x = ndarray::Array3::from_shape_vec((1, 1, 40), row).unwrap();
        let (y, arg) = global_max_pool_forward(x.view()).unwrap();
        assert!(y[[0, 0]].is_nan());
        assert_eq!(arg, vec![30]);
    }

    #[test]
    fn avg_pool_counts_padding() {
        // torch.nn.AvgPool1d(2, stride=2, padding=1)(torch.tensor([[[2., 4, 6]]])) -> tensor([[[1., 5.]]])
        let x = array![[[2.0f32, 4.0, 6.0]]];
        let y = avg_pool1d_forward(
            x.view(),
            &Pool1dGeom {
                kernel: 2,
                stride: 2,
                padding: 1,
            },
        )
        .unwrap();
        assert_eq!(y, array![[[1.0f32, 5.0]]]);
    }

    #[test]
    fn window_longer_than_input_is_an_error() {
        let x = Array3::<f32>::zeros((1, 1, 2));
        assert!(
            max_pool1d_forward(
                x.view(),
                &Pool1dGeom {
                    kernel: 3,
                    stride: 1,
                    padding: 0
                }
            )
            .is_err()
        );
    }
}
