//! 2D pooling kernels with PyTorch semantics: `MaxPool2d` (kernel, stride, padding; the argmax of
//! every output is saved and the backward pass scatters to it, whatever the stride and padding)
//! and `AvgPool2d` (`count_include_pad=True`, floor mode). Layout `[N, C, H, W]`; work is split
//! over samples with rayon, each sample written by one thread, so results do not depend on the
//! thread count.

use crate::{Error, Result};
use ndarray::{Array4, ArrayView4};
use rayon::prelude::*;

/// Kernel, stride and symmetric padding of a 2D pooling window, per axis (`[height, width]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeom {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Pool2dGeom {
    /// A square window with stride and padding the same on both axes.
    pub fn square(kernel: usize, stride: usize, padding: usize) -> Self {
        Pool2dGeom {
            kernel: [kernel; 2],
            stride: [stride; 2],
            padding: [padding; 2],
        }
    }

    /// Output `[OH, OW]` for an input of `[H, W]`.
    pub fn out_size(&self, op: &'static str, h: usize, w: usize) -> Result<[usize; 2]> {
        if self.kernel.contains(&0) || self.stride.contains(&0) {
            return Err(Error::shape(
                op,
                "kernel sizes and strides must be positive",
            ));
        }
        let mut out = [0; 2];
        for (a, n) in [h, w].into_iter().enumerate() {
            if self.padding[a] * 2 > self.kernel[a] {
                return Err(Error::shape(
                    op,
                    format!(
                        "padding {:?} must be at most half the kernel size {:?}",
                        self.padding, self.kernel
                    ),
                ));
            }
            let padded = n + 2 * self.padding[a];
            if padded < self.kernel[a] {
                return Err(Error::shape(
                    op,
                    format!(
                        "input {h}x{w} is smaller than the pooling window {}x{}",
                        self.kernel[0], self.kernel[1]
                    ),
                ));
            }
            out[a] = (padded - self.kernel[a]) / self.stride[a] + 1;
        }
        Ok(out)
    }

    /// The in-range input span `[lo, hi)` of output position `t` along `axis` of size `n`.
    #[inline]
    fn span(&self, axis: usize, t: usize, n: usize) -> (usize, usize) {
        let start = (t * self.stride[axis]) as isize - self.padding[axis] as isize;
        let lo = start.max(0) as usize;
        let hi = ((start + self.kernel[axis] as isize).max(0) as usize).min(n);
        (lo, hi)
    }
}

fn dims4(op: &'static str, s: &[usize]) -> Result<(usize, usize, usize, usize)> {
    match s {
        [n, c, h, w] => Ok((*n, *c, *h, *w)),
        _ => Err(Error::shape(
            op,
            format!("expected input [N, C, H, W], got {s:?}"),
        )),
    }
}

/// Max pooling; returns the output and, per output element, the index in its `H * W` plane of the
/// input it came from.
pub fn max_pool2d_forward(x: ArrayView4<f32>, g: &Pool2dGeom) -> Result<(Array4<f32>, Vec<u32>)> {
    let (n, c, h, w) = dims4("max_pool2d", x.shape())?;
    let [oh, ow] = g.out_size("max_pool2d", h, w)?;
    if h * w > u32::MAX as usize {
        return Err(Error::shape(
            "max_pool2d",
            format!("plane {h}x{w} is too large"),
        ));
    }
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut y = Array4::<f32>::zeros((n, c, oh, ow));
    let mut arg = vec![0u32; n * c * oh * ow];
    let (ip, op) = ((c * h * w).max(1), (c * oh * ow).max(1));
    let rows: Vec<(usize, usize)> = (0..oh).map(|r| g.span(0, r, h)).collect();
    let cols: Vec<(usize, usize)> = (0..ow).map(|q| g.span(1, q, w)).collect();
    // The usual 2x2 window at stride 2 without padding has its own loop.
    let pairs = g.kernel == [2, 2] && g.stride == [2, 2] && g.padding == [0, 0];
    y.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(op)
        .zip(arg.par_chunks_mut(op))
        .zip(xs.par_chunks(ip))
        .for_each(|((yn, an), xn)| {
            for ((yc, ac), xc) in yn
                .chunks_mut(oh * ow)
                .zip(an.chunks_mut(oh * ow))
                .zip(xn.chunks(h * w))
            {
                if pairs {
                    max_pool_2x2(xc, w, yc, ac, ow);
                    continue;
                }
                for (r, &(rlo, rhi)) in rows.iter().enumerate() {
                    for (q, &(clo, chi)) in cols.iter().enumerate() {
                        // Padding counts as -inf, so the max is over the in-range part (never
                        // empty, as padding <= kernel / 2). PyTorch's rule, `v > max || isnan(v)`,
                        // as selects rather than branches: data-dependent branches mispredict.
                        let mut bi = rlo * w + clo;
                        let mut bv = xc[bi];
                        for i in rlo..rhi {
                            let start = i * w + clo;
                            for (j, &v) in xc[start..i * w + chi].iter().enumerate() {
                                let take = v > bv || v.is_nan();
                                bi = if take { start + j } else { bi };
                                bv = if take { v } else { bv };
                            }
                        }
                        yc[r * ow + q] = bv;
                        ac[r * ow + q] = bi as u32;
                    }
                }
            }
        });
    Ok((y, arg))
}

/// [`max_pool2d_forward`] of one `[H, W]` plane `x` (row length `w`) with a 2x2 window at
/// stride 2, no padding: `ow` outputs a row.
fn max_pool_2x2(x: &[f32], w: usize, y: &mut [f32], arg: &mut [u32], ow: usize) {
    for (r, (yr, ar)) in y.chunks_mut(ow).zip(arg.chunks_mut(ow)).enumerate() {
        let top = 2 * r * w;
        let (r0, r1) = (&x[top..top + 2 * ow], &x[top + w..top + w + 2 * ow]);
        for (q, ((y, a), (p0, p1))) in yr
            .iter_mut()
            .zip(ar.iter_mut())
            .zip(r0.chunks_exact(2).zip(r1.chunks_exact(2)))
            .enumerate()
        {
            let at = top + 2 * q;
            let (mut bv, mut bi) = (p0[0], at);
            for (v, i) in [(p0[1], at + 1), (p1[0], at + w), (p1[1], at + w + 1)] {
                let take = v > bv || v.is_nan();
                bi = if take { i } else { bi };
                bv = if take { v } else { bv };
            }
            *y = bv;
            *a = bi as u32;
        }
    }
}

/// Scatters `dy` back to the saved argmax positions of an input of `[H, W] = hw`.
pub fn max_pool2d_backward(dy: ArrayView4<f32>, arg: &[u32], hw: [usize; 2]) -> Array4<f32> {
    let (n, c, oh, ow) = dy.dim();
    let dy = dy.as_standard_layout();
    let ds = dy.as_slice().expect("standard layout");
    let plane = hw[0] * hw[1];
    let mut dx = Array4::<f32>::zeros((n, c, hw[0], hw[1]));
    let op = (oh * ow).max(1);
    dx.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut((c * plane).max(1))
        .zip(ds.par_chunks(c * op))
        .zip(arg.par_chunks(c * op))
        .for_each(|((dxn, dyn_), an)| {
            for ((dxc, dyc), ac) in dxn
                .chunks_mut(plane)
                .zip(dyn_.chunks(op))
                .zip(an.chunks(op))
            {
                for (&d, &a) in dyc.iter().zip(ac) {
                    dxc[a as usize] += d;
                }
            }
        });
    dx
}

/// Average pooling; padded positions count as zeros in the denominator (`count_include_pad`).
pub fn avg_pool2d_forward(x: ArrayView4<f32>, g: &Pool2dGeom) -> Result<Array4<f32>> {
    let (n, c, h, w) = dims4("avg_pool2d", x.shape())?;
    let [oh, ow] = g.out_size("avg_pool2d", h, w)?;
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let inv = 1.0 / (g.kernel[0] * g.kernel[1]) as f32;
    let mut y = Array4::<f32>::zeros((n, c, oh, ow));
    y.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut((c * oh * ow).max(1))
        .zip(xs.par_chunks((c * h * w).max(1)))
        .for_each(|(yn, xn)| {
            for (yc, xc) in yn.chunks_mut(oh * ow).zip(xn.chunks(h * w)) {
                for r in 0..oh {
                    let (rlo, rhi) = g.span(0, r, h);
                    for q in 0..ow {
                        let (clo, chi) = g.span(1, q, w);
                        let s: f32 = (rlo..rhi)
                            .map(|i| xc[i * w + clo..i * w + chi].iter().sum::<f32>())
                            .sum();
                        yc[r * ow + q] = s * inv;
                    }
                }
            }
        });
    Ok(y)
}

/// Backward of [`avg_pool2d_forward`] for an input of `[H, W] = hw`.
pub fn avg_pool2d_backward(dy: ArrayView4<f32>, g: &Pool2dGeom, hw: [usize; 2]) -> Array4<f32> {
    let (n, c, oh, ow) = dy.dim();
    let [h, w] = hw;
    let dy = dy.as_standard_layout();
    let ds = dy.as_slice().expect("standard layout");
    let inv = 1.0 / (g.kernel[0] * g.kernel[1]) as f32;
    let mut dx = Array4::<f32>::zeros((n, c, h, w));
    dx.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut((c * h * w).max(1))
        .zip(ds.par_chunks((c * oh * ow).max(1)))
        .for_each(|(dxn, dyn_)| {
            for (dxc, dyc) in dxn.chunks_mut(h * w).zip(dyn_.chunks(oh * ow)) {
                for r in 0..oh {
                    let (rlo, rhi) = g.span(0, r, h);
                    for q in 0..ow {
                        let (clo, chi) = g.span(1, q, w);
                        let d = dyc[r * ow + q] * inv;
                        for i in rlo..rhi {
                            dxc[i * w + clo..i * w + chi]
                                .iter_mut()
                                .for_each(|v| *v += d);
                        }
                    }
                }
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    #[test]
    fn max_and_avg_pool_match_torch() {
        // import torch
        // x = torch.arange(1 * 2 * 5 * 6, dtype=torch.float32).reshape(1, 2, 5, 6).mul(1.7).sin()
        // m = torch.nn.functional.max_pool2d(x, (3, 2), stride=(2, 3), padding=(1, 1))
        // a = torch.nn.functional.avg_pool2d(x, (3, 2), stride=(2, 3), padding=(1, 1))
        // print(m[0, 1].tolist(), a[0, 1].tolist())   # torch 2.15.0
        let x = Array::from_shape_fn((1, 2, 5, 6), |(_, b, c, d)| {
            (((b * 5 + c) * 6 + d) as f32 * 1.7).sin()
        });
        let g = Pool2dGeom {
            kernel: [3, 2],
            stride: [2, 3],
            padding: [1, 1],
        };
        let (m, arg) = max_pool2d_forward(x.view(), &g).unwrap();
        let a = avg_pool2d_forward(x.view(), &g).unwrap();
        assert_eq!(m.shape(), [1, 2, 3, 3]);
        let want_m = [
            [0.6702292, 0.9805898, 0.5521712],
            [0.7556392, 0.9805898, 0.8447944],
            [-0.081313, 0.8147077, 0.8447944],
        ];
        let want_a = [
            [-0.0546512, -0.101931, 0.1235476],
            [-0.0539684, -0.0234859, 0.0698437],
            [-0.1201315, 0.0258698, 0.1026467],
        ];
        for r in 0..3 {
            for q in 0..3 {
                assert!(
                    (m[[0, 1, r, q]] - want_m[r][q]).abs() < 1e-6,
                    "max [{r},{q}]"
                );
                assert!(
                    (a[[0, 1, r, q]] - want_a[r][q]).abs() < 1e-6,
                    "avg [{r},{q}]"
                );
                let at = arg[9 + r * 3 + q] as usize;
                assert_eq!(x[[0, 1, at / 6, at % 6]], m[[0, 1, r, q]]);
            }
        }
    }

    #[test]
    fn max_pool_backward_scatters_to_the_argmax() {
        // Overlapping windows (stride 1) send two gradients to a shared maximum.
        let x = ndarray::array![[[[1.0f32, 2.0, 0.0], [0.0, 9.0, 0.0], [3.0, 0.0, 4.0]]]];
        let (y, arg) = max_pool2d_forward(x.view(), &Pool2dGeom::square(2, 1, 0)).unwrap();
        assert_eq!(y, ndarray::array![[[[9.0f32, 9.0], [9.0, 9.0]]]]);
        let dx = max_pool2d_backward(Array4::ones((1, 1, 2, 2)).view(), &arg, [3, 3]);
        assert_eq!(dx[[0, 0, 1, 1]], 4.0);
        assert_eq!(dx.sum(), 4.0);
    }

    #[test]
    fn window_larger_than_input_or_bad_padding_is_an_error() {
        let x = Array4::<f32>::zeros((1, 1, 2, 5));
        assert!(max_pool2d_forward(x.view(), &Pool2dGeom::square(3, 1, 0)).is_err());
        assert!(avg_pool2d_forward(x.view(), &Pool2dGeom::square(2, 1, 2)).is_err());
        assert!(avg_pool2d_forward(x.view(), &Pool2dGeom::square(2, 0, 0)).is_err());
    }
}
