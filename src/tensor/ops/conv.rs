//! 1D convolution kernels (PyTorch `Conv1d` semantics): im2col + GEMM forward, and the backward
//! passes as GEMMs too.
//!
//! Layouts: input `[N, C_in, L]`, weight `[C_out, C_in, K]`, bias `[C_out]`, output
//! `[N, C_out, L_out]` with `L_out = (L + pad_left + pad_right - dilation * (K - 1) - 1) / stride + 1`.
//! Work is split over samples with rayon; the weight gradient is summed over a fixed number of
//! sample blocks in a fixed order, so results do not depend on the thread count.

use super::gemm::{Mat, sgemm};
use crate::{Error, Result};
use ndarray::{Array1, Array3, ArrayView1, ArrayView3};
use rayon::prelude::*;

/// Stride, zero padding and dilation of a 1D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1dGeom {
    pub stride: usize,
    pub pad_left: usize,
    pub pad_right: usize,
    pub dilation: usize,
}

impl Default for Conv1dGeom {
    fn default() -> Self {
        Conv1dGeom {
            stride: 1,
            pad_left: 0,
            pad_right: 0,
            dilation: 1,
        }
    }
}

impl Conv1dGeom {
    /// Output length for an input of length `l` and kernel size `k`, or `None` if the kernel does
    /// not fit.
    pub fn out_len(&self, l: usize, k: usize) -> Option<usize> {
        let span = self.dilation * (k.max(1) - 1) + 1;
        let padded = l + self.pad_left + self.pad_right;
        if self.stride == 0 || padded < span {
            None
        } else {
            Some((padded - span) / self.stride + 1)
        }
    }

    fn is_pointwise(&self, k: usize) -> bool {
        k == 1 && self.stride == 1 && self.pad_left == 0 && self.pad_right == 0
    }
}

/// Number of sample blocks the weight gradient is accumulated over (fixed, for determinism).
const WGRAD_BLOCKS: usize = 4;

/// Checks shapes and returns `(n, c_in, l, c_out, k, l_out)`.
pub fn conv1d_dims(
    x: &[usize],
    w: &[usize],
    b: Option<&[usize]>,
    g: &Conv1dGeom,
) -> Result<(usize, usize, usize, usize, usize, usize)> {
    if x.len() != 3 || w.len() != 3 {
        return Err(Error::shape(
            "conv1d",
            format!("expected input [N, C, L] and weight [out, in, k], got {x:?} and {w:?}"),
        ));
    }
    let (n, c_in, l) = (x[0], x[1], x[2]);
    let (c_out, wc, k) = (w[0], w[1], w[2]);
    if wc != c_in {
        return Err(Error::shape(
            "conv1d",
            format!("input has {c_in} channels but weight {w:?} expects {wc}"),
        ));
    }
    if k == 0 || g.stride == 0 || g.dilation == 0 {
        return Err(Error::shape(
            "conv1d",
            "kernel size, stride and dilation must be positive",
        ));
    }
    if let Some(b) = b
        && b != [c_out]
    {
        return Err(Error::shape(
            "conv1d",
            format!("bias {b:?} does not match {c_out} outputs"),
        ));
    }
    let l_out = g.out_len(l, k).ok_or_else(|| {
        Error::shape(
            "conv1d",
            format!(
                "input length {l} is shorter than the kernel span {} (with padding)",
                g.dilation * (k - 1) + 1
            ),
        )
    })?;
    Ok((n, c_in, l, c_out, k, l_out))
}

/// Unfolds one sample `x [C_in, L]` into `cols [C_in * K, L_out]`.
fn im2col(
    x: &[f32],
    c_in: usize,
    l: usize,
    k: usize,
    g: &Conv1dGeom,
    l_out: usize,
    cols: &mut [f32],
) {
    for c in 0..c_in {
        let xc = &x[c * l..(c + 1) * l];
        for kk in 0..k {
            let row = &mut cols[(c * k + kk) * l_out..(c * k + kk + 1) * l_out];
            let off = (kk * g.dilation) as isize - g.pad_left as isize;
            for (t, v) in row.iter_mut().enumerate() {
                let i = (t * g.stride) as isize + off;
                *v = if i >= 0 && (i as usize) < l {
                    xc[i as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

/// Folds `cols [C_in * K, L_out]` back into `dx [C_in, L]`, adding overlapping contributions.
fn col2im_add(
    cols: &[f32],
    c_in: usize,
    l: usize,
    k: usize,
    g: &Conv1dGeom,
    l_out: usize,
    dx: &mut [f32],
) {
    for c in 0..c_in {
        let dxc = &mut dx[c * l..(c + 1) * l];
        for kk in 0..k {
            let row = &cols[(c * k + kk) * l_out..(c * k + kk + 1) * l_out];
            let off = (kk * g.dilation) as isize - g.pad_left as isize;
            for (t, v) in row.iter().enumerate() {
                let i = (t * g.stride) as isize + off;
                if i >= 0 && (i as usize) < l {
                    dxc[i as usize] += v;
                }
            }
        }
    }
}

/// Forward pass: `y = conv1d(x, w) + b`.
pub fn conv1d_forward(
    x: ArrayView3<f32>,
    w: ArrayView3<f32>,
    b: Option<ArrayView1<f32>>,
    g: &Conv1dGeom,
) -> Result<Array3<f32>> {
    let (n, c_in, l, c_out, k, l_out) =
        conv1d_dims(x.shape(), w.shape(), b.as_ref().map(|b| b.shape()), g)?;
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let ws = w.as_slice().expect("standard layout");
    let bias: Option<Vec<f32>> = b.map(|b| b.to_vec());
    let mut y = Array3::<f32>::zeros((n, c_out, l_out));
    let ys = y.as_slice_mut().expect("fresh array");
    let ck = c_in * k;
    let pointwise = g.is_pointwise(k);
    ys.par_chunks_mut(c_out * l_out)
        .zip(xs.par_chunks(c_in * l))
        .for_each_init(
            || vec![0.0f32; if pointwise { 0 } else { ck * l_out }],
            |cols, (yn, xn)| {
                let cm = if pointwise {
                    Mat::rows(xn, l_out)
                } else {
                    im2col(xn, c_in, l, k, g, l_out, cols);
                    Mat::rows(cols, l_out)
                };
                sgemm(c_out, l_out, ck, Mat::rows(ws, ck), cm, yn, false);
                if let Some(bias) = &bias {
                    for (o, row) in yn.chunks_mut(l_out).enumerate() {
                        row.iter_mut().for_each(|v| *v += bias[o]);
                    }
                }
            },
        );
    Ok(y)
}

/// `(dx, dw, db)` of a convolution.
pub type ConvGrads = (Option<Array3<f32>>, Array3<f32>, Option<Array1<f32>>);

/// Gradients of a conv1d: returns `(dx, dw, db)`; `dx` only when `need_dx`, `db` only when
/// `has_bias`.
pub fn conv1d_backward(
    x: ArrayView3<f32>,
    w: ArrayView3<f32>,
    dy: ArrayView3<f32>,
    g: &Conv1dGeom,
    need_dx: bool,
    has_bias: bool,
) -> Result<ConvGrads> {
    let (n, c_in, l, c_out, k, l_out) = conv1d_dims(x.shape(), w.shape(), None, g)?;
    if dy.shape() != [n, c_out, l_out] {
        return Err(Error::shape(
            "conv1d backward",
            format!("gradient shape {:?}", dy.shape()),
        ));
    }
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let dy = dy.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let ws = w.as_slice().expect("standard layout");
    let dys = dy.as_slice().expect("standard layout");
    let ck = c_in * k;
    let pointwise = g.is_pointwise(k);

    // Weight and bias gradients: per-block partial sums, then summed in block order.
    let blocks = WGRAD_BLOCKS.min(n.max(1));
    let per = n.div_ceil(blocks).max(1);
    let partials: Vec<(Vec<f32>, Vec<f32>)> = (0..blocks)
        .into_par_iter()
        .map(|bi| {
            let mut dw = vec![0.0f32; c_out * ck];
            let mut db = vec![0.0f32; if has_bias { c_out } else { 0 }];
            let mut cols = vec![0.0f32; if pointwise { 0 } else { ck * l_out }];
            for s in (bi * per)..((bi + 1) * per).min(n) {
                let xn = &xs[s * c_in * l..(s + 1) * c_in * l];
                let dyn_ = &dys[s * c_out * l_out..(s + 1) * c_out * l_out];
                // dw[c_out, ck] += dy_n[c_out, l_out] @ cols^T[l_out, ck]
                let cm = if pointwise {
                    Mat::rows_t(xn, l_out)
                } else {
                    im2col(xn, c_in, l, k, g, l_out, &mut cols);
                    Mat::rows_t(&cols, l_out)
                };
                sgemm(c_out, ck, l_out, Mat::rows(dyn_, l_out), cm, &mut dw, true);
                if has_bias {
                    for (o, row) in dyn_.chunks(l_out).enumerate() {
                        db[o] += row.iter().sum::<f32>();
                    }
                }
            }
            (dw, db)
        })
        .collect();
    let mut dw = vec![0.0f32; c_out * ck];
    let mut db = vec![0.0f32; if has_bias { c_out } else { 0 }];
    for (pw, pb) in &partials {
        dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    let dw = Array3::from_shape_vec((c_out, c_in, k), dw).expect("sized above");
    let db = has_bias.then(|| Array1::from_vec(db));

    let dx = if need_dx {
        let mut dx = Array3::<f32>::zeros((n, c_in, l));
        let dxs = dx.as_slice_mut().expect("fresh array");
        dxs.par_chunks_mut(c_in * l)
            .zip(dys.par_chunks(c_out * l_out))
            .for_each_init(
                || vec![0.0f32; ck * l_out],
                |dcols, (dxn, dyn_)| {
                    // dcols[ck, l_out] = w^T[ck, c_out] @ dy_n[c_out, l_out]
                    if pointwise {
                        sgemm(
                            ck,
                            l_out,
                            c_out,
                            Mat::rows_t(ws, ck),
                            Mat::rows(dyn_, l_out),
                            dxn,
                            false,
                        );
                    } else {
                        sgemm(
                            ck,
                            l_out,
                            c_out,
                            Mat::rows_t(ws, ck),
                            Mat::rows(dyn_, l_out),
                            dcols,
                            false,
                        );
                        col2im_add(dcols, c_in, l, k, g, l_out, dxn);
                    }
                },
            );
        Some(dx)
    } else {
        None
    };
    Ok((dx, dw, db))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    /// Direct definition of the convolution, for checking the im2col path.
    fn direct(x: &Array3<f32>, w: &Array3<f32>, b: &[f32], g: &Conv1dGeom) -> Array3<f32> {
        let (n, c_in, l) = x.dim();
        let (c_out, _, k) = w.dim();
        let l_out = g.out_len(l, k).unwrap();
        Array3::from_shape_fn((n, c_out, l_out), |(s, o, t)| {
            let mut acc = b[o] as f64;
            for c in 0..c_in {
                for kk in 0..k {
                    let i = (t * g.stride + kk * g.dilation) as isize - g.pad_left as isize;
                    if i >= 0 && (i as usize) < l {
                        acc += (x[[s, c, i as usize]] * w[[o, c, kk]]) as f64;
                    }
                }
            }
            acc as f32
        })
    }

    #[test]
    fn im2col_forward_matches_direct_definition() {
        for (k, stride, pl, pr, dil) in [
            (1, 1, 0, 0, 1),
            (3, 1, 1, 1, 1),
            (4, 2, 3, 0, 2),
            (5, 3, 0, 2, 3),
            (2, 1, 0, 1, 1),
        ] {
            let g = Conv1dGeom {
                stride,
                pad_left: pl,
                pad_right: pr,
                dilation: dil,
            };
            let x = Array::from_shape_fn((3, 2, 17), |(a, b, c)| {
                ((a * 31 + b * 7 + c) as f32 * 0.3).sin()
            });
            let w = Array::from_shape_fn((4, 2, k), |(a, b, c)| {
                ((a * 5 + b * 3 + c) as f32 * 0.7).cos()
            });
            let b = [0.1, -0.2, 0.3, 0.0];
            let got = conv1d_forward(x.view(), w.view(), Some(ndarray::aview1(&b)), &g).unwrap();
            let want = direct(&x, &w, &b, &g);
            assert_eq!(got.dim(), want.dim());
            for (a, b) in got.iter().zip(want.iter()) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn kernel_longer_than_input_is_an_error() {
        let x = Array3::<f32>::zeros((1, 4, 5));
        let w = Array3::<f32>::zeros((2, 4, 7));
        let err = conv1d_forward(x.view(), w.view(), None, &Conv1dGeom::default()).unwrap_err();
        assert!(err.to_string().contains("shorter than the kernel"), "{err}");
    }
}
