//! 2D convolution kernels with PyTorch semantics: `Conv2d` (stride, zero padding, dilation, bias)
//! as im2col + GEMM, and `ConvTranspose2d` ("deconvolution": stride, padding, output padding,
//! dilation) as GEMM + col2im; every backward pass is GEMMs too.
//!
//! Layouts (NCHW, as PyTorch): conv input `[N, C_in, H, W]`, weight `[C_out, C_in, KH, KW]`, bias
//! `[C_out]`, output `[N, C_out, OH, OW]` with `OH = (H + pad_top + pad_bottom - dh * (KH - 1) - 1)
//! / sh + 1` (and the same for widths). The transposed convolution's weight is `[C_in, C_out, KH,
//! KW]` as in PyTorch, and it is the adjoint of the convolution with the same weight: its forward
//! pass is the convolution's input-gradient pass and the other way round.
//!
//! Work is split over samples with rayon; weight and bias gradients are summed over a fixed number
//! of sample blocks in a fixed order, so results do not depend on the thread count.

use super::gemm::{Mat, sgemm};
use super::split_lengths;
use crate::{Error, Result};
use ndarray::{Array1, Array4, ArrayView1, ArrayView4};
use rayon::prelude::*;

/// Stride, zero padding and dilation of a 2D convolution, per spatial axis (`[height, width]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeom {
    pub stride: [usize; 2],
    /// `[(top, bottom), (left, right)]`.
    pub padding: [(usize, usize); 2],
    pub dilation: [usize; 2],
}

impl Default for Conv2dGeom {
    fn default() -> Self {
        Conv2dGeom {
            stride: [1, 1],
            padding: [(0, 0), (0, 0)],
            dilation: [1, 1],
        }
    }
}

impl Conv2dGeom {
    /// Symmetric padding `[ph, pw]` with the given stride and dilation.
    pub fn new(stride: [usize; 2], padding: [usize; 2], dilation: [usize; 2]) -> Self {
        Conv2dGeom {
            stride,
            padding: [(padding[0], padding[0]), (padding[1], padding[1])],
            dilation,
        }
    }

    /// Output size along `axis` (0 = height, 1 = width) for input size `n` and kernel size `k`,
    /// or `None` if the kernel does not fit.
    pub fn out_len(&self, axis: usize, n: usize, k: usize) -> Option<usize> {
        let span = self.dilation[axis] * (k.max(1) - 1) + 1;
        let padded = n + self.padding[axis].0 + self.padding[axis].1;
        if self.stride[axis] == 0 || padded < span {
            None
        } else {
            Some((padded - span) / self.stride[axis] + 1)
        }
    }
}

/// Stride, padding, output padding and dilation of a transposed 2D convolution
/// (`[height, width]` each), as PyTorch `ConvTranspose2d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvT2dGeom {
    pub stride: [usize; 2],
    /// Removed from both sides of the output (the padding of the matching convolution).
    pub padding: [usize; 2],
    /// Extra rows / columns added at the bottom / right of the output; less than the stride or
    /// the dilation.
    pub output_padding: [usize; 2],
    pub dilation: [usize; 2],
}

impl Default for ConvT2dGeom {
    fn default() -> Self {
        ConvT2dGeom {
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
        }
    }
}

impl ConvT2dGeom {
    /// Output size along `axis` for input size `n` and kernel size `k`:
    /// `(n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1`, or `None` when
    /// that is not positive.
    pub fn out_len(&self, axis: usize, n: usize, k: usize) -> Option<usize> {
        let full = (n.max(1) - 1) * self.stride[axis]
            + self.dilation[axis] * (k.max(1) - 1)
            + self.output_padding[axis]
            + 1;
        full.checked_sub(2 * self.padding[axis]).filter(|&o| o > 0)
    }

    /// The convolution whose input-gradient pass this transposed convolution is.
    fn conv(&self) -> Conv2dGeom {
        Conv2dGeom::new(self.stride, self.padding, self.dilation)
    }
}

/// Number of sample blocks weight gradients are accumulated over (fixed, for determinism).
const WGRAD_BLOCKS: usize = 4;

/// Sizes of one convolution: batch, the convolution's input `[c, h, w]`, its output `[o, oh, ow]`
/// and the kernel `[kh, kw]`. For a transposed convolution these are the sizes of the matching
/// convolution (its input is the transposed convolution's output).
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    oh: usize,
    ow: usize,
    k: [usize; 2],
}

impl Dims {
    fn ckk(&self) -> usize {
        self.c * self.k[0] * self.k[1]
    }
    fn in_plane(&self) -> usize {
        self.c * self.h * self.w
    }
    fn out_plane(&self) -> usize {
        self.o * self.oh * self.ow
    }
    fn p(&self) -> usize {
        self.oh * self.ow
    }
}

fn positive(op: &'static str, vals: &[usize], what: &str) -> Result<()> {
    if vals.contains(&0) {
        return Err(Error::shape(op, format!("{what} must be positive")));
    }
    Ok(())
}

fn check_bias(op: &'static str, b: Option<&[usize]>, out: usize) -> Result<()> {
    match b {
        Some(b) if b != [out] => Err(Error::shape(
            op,
            format!("bias {b:?} does not match {out} output channels"),
        )),
        _ => Ok(()),
    }
}

/// The checks every 2-D convolution makes of its weight `w`: the input's channels against the
/// weight's (`(input, weight)`), positive kernel sizes, strides and dilations.
fn check_kernel(
    op: &'static str,
    w: &[usize],
    (c, wc): (usize, usize),
    k: [usize; 2],
    stride: &[usize; 2],
    dilation: &[usize; 2],
) -> Result<()> {
    if wc != c {
        return Err(Error::shape(
            op,
            format!("input has {c} channels but weight {w:?} expects {wc}"),
        ));
    }
    positive(op, &k, "kernel sizes")?;
    positive(op, stride, "strides")?;
    positive(op, dilation, "dilations")
}

/// Checks the shapes of a convolution: input `[N, C, H, W]`, weight `[O, C, KH, KW]`.
fn conv_dims(x: &[usize], w: &[usize], b: Option<&[usize]>, g: &Conv2dGeom) -> Result<Dims> {
    const OP: &str = "conv2d";
    let (&[n, c, h, wd], &[o, wc, kh, kw]) = (x, w) else {
        return Err(Error::shape(
            OP,
            format!(
                "expected input [N, C, H, W] and weight [out, in, kh, kw], got {x:?} and {w:?}"
            ),
        ));
    };
    check_kernel(OP, w, (c, wc), [kh, kw], &g.stride, &g.dilation)?;
    check_bias(OP, b, o)?;
    let fit = |axis: usize, n: usize, k: usize| {
        g.out_len(axis, n, k).ok_or_else(|| {
            Error::shape(
                OP,
                format!(
                    "input {x:?} is smaller than the kernel span {}x{} (with padding)",
                    g.dilation[0] * (kh - 1) + 1,
                    g.dilation[1] * (kw - 1) + 1
                ),
            )
        })
    };
    Ok(Dims {
        n,
        c,
        h,
        w: wd,
        o,
        oh: fit(0, h, kh)?,
        ow: fit(1, wd, kw)?,
        k: [kh, kw],
    })
}

/// Checks the shapes of a transposed convolution: input `[N, C_in, H, W]`, weight
/// `[C_in, C_out, KH, KW]`; returns the sizes of the matching convolution.
fn convt_dims(x: &[usize], w: &[usize], b: Option<&[usize]>, g: &ConvT2dGeom) -> Result<Dims> {
    const OP: &str = "conv_transpose2d";
    let (&[n, ci, h, wd], &[wi, co, kh, kw]) = (x, w) else {
        return Err(Error::shape(
            OP,
            format!(
                "expected input [N, C, H, W] and weight [in, out, kh, kw], got {x:?} and {w:?}"
            ),
        ));
    };
    check_kernel(OP, w, (ci, wi), [kh, kw], &g.stride, &g.dilation)?;
    positive(OP, &[h, wd], "input sizes")?;
    for a in 0..2 {
        if g.output_padding[a] >= g.stride[a].max(g.dilation[a]) {
            return Err(Error::shape(
                OP,
                format!(
                    "output padding {:?} must be smaller than the stride {:?} or the dilation {:?}",
                    g.output_padding, g.stride, g.dilation
                ),
            ));
        }
    }
    check_bias(OP, b, co)?;
    let (Some(oh), Some(ow)) = (g.out_len(0, h, kh), g.out_len(1, wd, kw)) else {
        return Err(Error::shape(
            OP,
            format!(
                "padding {:?} removes the whole output of input {x:?}",
                g.padding
            ),
        ));
    };
    // The matching convolution maps [co, oh, ow] to [ci, h, w].
    Ok(Dims {
        n,
        c: co,
        h: oh,
        w: ow,
        o: ci,
        oh: h,
        ow: wd,
        k: [kh, kw],
    })
}

/// Copies a short row: whole 8-float blocks (inline moves, no call to `memcpy`, whose fixed cost
/// dominates rows of 10 or 28 floats), the tail as an overlapping block.
#[inline(always)]
fn copy_row(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    if n < 8 {
        dst.copy_from_slice(&src[..n]);
        return;
    }
    let mut k = 0;
    while k + 8 <= n {
        dst[k..k + 8].copy_from_slice(&src[k..k + 8]);
        k += 8;
    }
    if k < n {
        dst[n - 8..].copy_from_slice(&src[n - 8..n]);
    }
}

/// im2col and col2im for one geometry. Inputs with padding are first copied into a zero-bordered
/// buffer `[C, H + top + bottom, W + left + right]`, so every unfolded row is a plain copy of
/// `OW` values (no bounds logic, no short fills).
struct Unfold {
    d: Dims,
    g: Conv2dGeom,
    hp: usize,
    wp: usize,
}

impl Unfold {
    fn new(d: Dims, g: Conv2dGeom) -> Self {
        Unfold {
            hp: d.h + g.padding[0].0 + g.padding[0].1,
            wp: d.w + g.padding[1].0 + g.padding[1].1,
            d,
            g,
        }
    }

    fn padded(&self) -> bool {
        self.g.padding != [(0, 0), (0, 0)]
    }

    /// Length of the padded scratch buffer (0 without padding).
    fn scratch_len(&self) -> usize {
        if self.padded() {
            self.d.c * self.hp * self.wp
        } else {
            0
        }
    }

    /// Unfolds one sample `x [C, H, W]` into `OH * OW` columns of `cols [C * KH * KW, ld]`
    /// starting at column `at`; `xp` is scratch of [`Unfold::scratch_len`] whose borders are zero
    /// (this writes only the interior; do not share it with [`Unfold::col2im_add`]).
    fn im2col(&self, x: &[f32], xp: &mut [f32], cols: &mut [f32], ld: usize, at: usize) {
        let Dims {
            c, h, w, oh, ow, k, ..
        } = self.d;
        let (hp, wp) = (self.hp, self.wp);
        let src: &[f32] = if self.padded() {
            let (top, left) = (self.g.padding[0].0, self.g.padding[1].0);
            for (xc, pc) in x.chunks(h * w).zip(xp.chunks_mut(hp * wp)) {
                for (r, row) in xc.chunks(w).enumerate() {
                    pc[(top + r) * wp + left..][..w].copy_from_slice(row);
                }
            }
            xp
        } else {
            x
        };
        let p = oh * ow;
        let ([sh, sw], [dh, dw]) = (self.g.stride, self.g.dilation);
        for ch in 0..c {
            let pc = &src[ch * hp * wp..(ch + 1) * hp * wp];
            for i in 0..k[0] {
                for j in 0..k[1] {
                    let r = (ch * k[0] + i) * k[1] + j;
                    let row = &mut cols[r * ld + at..r * ld + at + p];
                    for (t, dst) in row.chunks_mut(ow).enumerate() {
                        let s = &pc[(t * sh + i * dh) * wp + j * dw..];
                        if sw == 1 {
                            copy_row(dst, s);
                        } else {
                            for (v, s) in dst.iter_mut().zip(s.iter().step_by(sw)) {
                                *v = *s;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Folds the `OH * OW` columns of `cols [C * KH * KW, ld]` starting at column `at` back into
    /// `x [C, H, W]`, adding overlapping entries; `xp` is scratch of [`Unfold::scratch_len`].
    fn col2im_add(&self, cols: &[f32], ld: usize, at: usize, xp: &mut [f32], x: &mut [f32]) {
        let Dims {
            c, h, w, oh, ow, k, ..
        } = self.d;
        let (hp, wp) = (self.hp, self.wp);
        let padded = self.padded();
        let dst: &mut [f32] = if padded {
            xp.fill(0.0);
            xp
        } else {
            x
        };
        let p = oh * ow;
        let ([sh, sw], [dh, dw]) = (self.g.stride, self.g.dilation);
        for ch in 0..c {
            let pc = &mut dst[ch * hp * wp..(ch + 1) * hp * wp];
            for i in 0..k[0] {
                for j in 0..k[1] {
                    let r = (ch * k[0] + i) * k[1] + j;
                    let row = &cols[r * ld + at..r * ld + at + p];
                    for (t, src) in row.chunks(ow).enumerate() {
                        let d = &mut pc[(t * sh + i * dh) * wp + j * dw..];
                        if sw == 1 {
                            for (d, s) in d[..ow].iter_mut().zip(src) {
                                *d += s;
                            }
                        } else {
                            for (d, s) in d.iter_mut().step_by(sw).zip(src) {
                                *d += s;
                            }
                        }
                    }
                }
            }
        }
        if padded {
            let (top, left) = (self.g.padding[0].0, self.g.padding[1].0);
            for (xc, pc) in x.chunks_mut(h * w).zip(xp.chunks(hp * wp)) {
                for (r, row) in xc.chunks_mut(w).enumerate() {
                    for (d, s) in row.iter_mut().zip(&pc[(top + r) * wp + left..][..w]) {
                        *d += s;
                    }
                }
            }
        }
    }
}

/// Sum in eight lanes (which vectorises; a single running sum does not), then across lanes.
fn sum(xs: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (l, v) in lanes.iter_mut().zip(c) {
            *l += v;
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Floats of unfolded input per GEMM: samples are unfolded side by side into one
/// `[C * KH * KW, S * OH * OW]` matrix of at most this size (at least one sample), wide enough
/// for the GEMM to run at speed and small enough (256 KB) to stay in cache between the unfolding
/// and the GEMM. Measured on LeNet-5: 16% less time than groups of 4 MB whose columns were kept
/// for the backward pass.
const GROUP_FLOATS: usize = 1 << 16;

/// The samples `0..n` in [`WGRAD_BLOCKS`] contiguous blocks, each cut into groups of at most
/// `GROUP_FLOATS / per_sample` samples: `(start, len)` per group, per block. The partition
/// depends on `n` and the sizes only, never on the thread count, so neither do the results.
fn partition(n: usize, per_sample: usize) -> Vec<Vec<(usize, usize)>> {
    let (nb, per) = blocks(n);
    let g = (GROUP_FLOATS / per_sample.max(1)).max(1);
    (0..nb)
        .map(|b| {
            let (lo, hi) = (b * per, ((b + 1) * per).min(n));
            (lo..hi).step_by(g).map(|s| (s, g.min(hi - s))).collect()
        })
        .collect()
}

fn std_slice<'a>(a: &'a ndarray::CowArray<'_, f32, ndarray::Ix4>) -> &'a [f32] {
    a.as_slice().expect("standard layout")
}

fn add_bias(y: &mut [f32], bias: &[f32], plane: usize) {
    for (row, b) in y.chunks_mut(plane).zip(bias) {
        row.iter_mut().for_each(|v| *v += b);
    }
}

/// Forward pass of a convolution: `y = conv2d(x, w) + b`.
pub fn conv2d_forward(
    x: ArrayView4<f32>,
    w: ArrayView4<f32>,
    b: Option<ArrayView1<f32>>,
    g: &Conv2dGeom,
) -> Result<Array4<f32>> {
    let d = conv_dims(x.shape(), w.shape(), b.as_ref().map(|b| b.shape()), g)?;
    let (x, w) = (x.as_standard_layout(), w.as_standard_layout());
    let (xs, ws) = (std_slice(&x), std_slice(&w));
    let bias: Option<Vec<f32>> = b.map(|b| b.to_vec());
    let mut y = Array4::<f32>::zeros((d.n, d.o, d.oh, d.ow));
    let (ckk, p, ip, op) = (d.ckk(), d.p(), d.in_plane(), d.out_plane());
    let unfold = Unfold::new(d, *g);
    let groups: Vec<(usize, usize)> = partition(d.n, ckk * p).concat();
    let widest = groups.iter().map(|&(_, l)| l).max().unwrap_or(0) * p;
    let y_lens: Vec<usize> = groups.iter().map(|&(_, l)| l * op).collect();
    split_lengths(y.as_slice_mut().expect("fresh array"), &y_lens)
        .into_par_iter()
        .zip(groups)
        .for_each_init(
            || {
                let cols = vec![0.0f32; ckk * widest];
                let out = vec![0.0f32; d.o * widest];
                (cols, out, vec![0.0f32; unfold.scratch_len()])
            },
            |(cols, out, xp), (yg, (start, len))| {
                let ld = len * p;
                for s in 0..len {
                    let xn = &xs[(start + s) * ip..(start + s + 1) * ip];
                    unfold.im2col(xn, xp, cols, ld, s * p);
                }
                // out[o, S * p] = w[o, ckk] @ cols[ckk, S * p], then each sample's [o, p] block.
                sgemm(
                    d.o,
                    ld,
                    ckk,
                    Mat::rows(ws, ckk),
                    Mat::rows(cols, ld),
                    out,
                    false,
                );
                for (s, yn) in yg.chunks_mut(op).enumerate() {
                    for (o, row) in yn.chunks_mut(p).enumerate() {
                        row.copy_from_slice(&out[o * ld + s * p..o * ld + (s + 1) * p]);
                        if let Some(bias) = &bias {
                            row.iter_mut().for_each(|v| *v += bias[o]);
                        }
                    }
                }
            },
        );
    Ok(y)
}

/// `(dx, dw, db)` of a 2D convolution or transposed convolution.
pub type Conv2dGrads = (Option<Array4<f32>>, Array4<f32>, Option<Array1<f32>>);

/// Splits `n` samples into at most [`WGRAD_BLOCKS`] contiguous blocks: `(blocks, per block)`.
fn blocks(n: usize) -> (usize, usize) {
    let blocks = WGRAD_BLOCKS.min(n.max(1));
    (blocks, n.div_ceil(blocks).max(1))
}

/// Sums per-block partial gradients in block order.
fn sum_partials(
    partials: Vec<(Vec<f32>, Vec<f32>)>,
    wlen: usize,
    blen: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut dw = vec![0.0f32; wlen];
    let mut db = vec![0.0f32; blen];
    for (pw, pb) in &partials {
        dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    (dw, db)
}

fn sum_rows(src: &[f32], plane: usize, into: &mut [f32]) {
    for (acc, row) in into.iter_mut().zip(src.chunks(plane)) {
        *acc += sum(row);
    }
}

/// Gradients of a convolution: `(dx, dw, db)`; `dx` only when `need_dx`, `db` only when
/// `has_bias`. Each block of samples computes its samples' `dx` and a partial `dw`, `db`, one
/// GEMM per sample group.
pub fn conv2d_backward(
    x: ArrayView4<f32>,
    w: ArrayView4<f32>,
    dy: ArrayView4<f32>,
    g: &Conv2dGeom,
    need_dx: bool,
    has_bias: bool,
) -> Result<Conv2dGrads> {
    let d = conv_dims(x.shape(), w.shape(), None, g)?;
    if dy.shape() != [d.n, d.o, d.oh, d.ow] {
        return Err(Error::shape(
            "conv2d backward",
            format!("gradient shape {:?}", dy.shape()),
        ));
    }
    let (x, w, dy) = (
        x.as_standard_layout(),
        w.as_standard_layout(),
        dy.as_standard_layout(),
    );
    let (xs, ws, dys) = (std_slice(&x), std_slice(&w), std_slice(&dy));
    let (ckk, p, ip, op) = (d.ckk(), d.p(), d.in_plane(), d.out_plane());
    let unfold = Unfold::new(d, *g);
    let parts = partition(d.n, ckk * p);
    let mut dx = vec![0.0f32; if need_dx { d.n * ip } else { 0 }];
    let block_lens: Vec<usize> = parts
        .iter()
        .map(|b| b.iter().map(|&(_, l)| l).sum::<usize>() * if need_dx { ip } else { 0 })
        .collect();
    let dx_chunks = split_lengths(&mut dx, &block_lens);
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx_chunks
        .into_par_iter()
        .zip(parts)
        .map(|(dxb, groups)| {
            let mut dw = vec![0.0f32; d.o * ckk];
            let mut db = vec![0.0f32; if has_bias { d.o } else { 0 }];
            let first = groups.first().map_or(0, |&(s, _)| s);
            let widest = groups.iter().map(|&(_, l)| l).max().unwrap_or(0) * p;
            let mut cols = vec![0.0f32; ckk * widest];
            let mut dcols = vec![0.0f32; if need_dx { ckk * widest } else { 0 }];
            let mut dyg = vec![0.0f32; d.o * widest];
            // Separate scratch for unfolding (zero borders) and folding back (overwritten).
            let mut xp = vec![0.0f32; unfold.scratch_len()];
            let mut dxp = vec![0.0f32; if need_dx { unfold.scratch_len() } else { 0 }];
            for (start, len) in groups {
                let ld = len * p;
                for s in 0..len {
                    let xn = &xs[(start + s) * ip..(start + s + 1) * ip];
                    unfold.im2col(xn, &mut xp, &mut cols, ld, s * p);
                }
                // dy of the group as [o, S * p]
                for s in 0..len {
                    let dyn_ = &dys[(start + s) * op..(start + s + 1) * op];
                    for (o, row) in dyn_.chunks(p).enumerate() {
                        dyg[o * ld + s * p..o * ld + (s + 1) * p].copy_from_slice(row);
                    }
                }
                let dym = Mat::rows(&dyg, ld);
                // dw[o, ckk] += dy[o, S * p] @ cols^T[S * p, ckk]
                sgemm(d.o, ckk, ld, dym, Mat::rows_t(&cols, ld), &mut dw, true);
                if has_bias {
                    sum_rows(&dyg[..d.o * ld], ld, &mut db);
                }
                if need_dx {
                    // dcols[ckk, S * p] = w^T[ckk, o] @ dy[o, S * p], folded back per sample
                    sgemm(ckk, ld, d.o, Mat::rows_t(ws, ckk), dym, &mut dcols, false);
                    for s in 0..len {
                        let at = (start + s - first) * ip;
                        unfold.col2im_add(&dcols, ld, s * p, &mut dxp, &mut dxb[at..at + ip]);
                    }
                }
            }
            (dw, db)
        })
        .collect();
    let (dw, db) = sum_partials(partials, d.o * ckk, if has_bias { d.o } else { 0 });
    let dw = Array4::from_shape_vec((d.o, d.c, d.k[0], d.k[1]), dw).expect("sized above");
    let dx =
        need_dx.then(|| Array4::from_shape_vec((d.n, d.c, d.h, d.w), dx).expect("sized above"));
    Ok((dx, dw, has_bias.then(|| Array1::from_vec(db))))
}

/// Forward pass of a transposed convolution (PyTorch `ConvTranspose2d`): `x [N, C_in, H, W]`,
/// `w [C_in, C_out, KH, KW]`, `b [C_out]`, output `[N, C_out, OH, OW]` with
/// `OH = (H - 1) * sh - 2 * ph + dh * (KH - 1) + output_padding_h + 1`.
pub fn conv_transpose2d_forward(
    x: ArrayView4<f32>,
    w: ArrayView4<f32>,
    b: Option<ArrayView1<f32>>,
    g: &ConvT2dGeom,
) -> Result<Array4<f32>> {
    // `d` describes the matching convolution: its input [c, h, w] is our output.
    let d = convt_dims(x.shape(), w.shape(), b.as_ref().map(|b| b.shape()), g)?;
    let (x, w) = (x.as_standard_layout(), w.as_standard_layout());
    let (xs, ws) = (std_slice(&x), std_slice(&w));
    let bias: Option<Vec<f32>> = b.map(|b| b.to_vec());
    let mut y = Array4::<f32>::zeros((d.n, d.c, d.h, d.w));
    let (ckk, p) = (d.ckk(), d.p());
    let unfold = Unfold::new(d, g.conv());
    y.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(d.in_plane().max(1))
        .zip(xs.par_chunks(d.out_plane().max(1)))
        .for_each_init(
            || (vec![0.0f32; ckk * p], vec![0.0f32; unfold.scratch_len()]),
            |(cols, xp), (yn, xn)| {
                // cols[c_out * kk, h * w] = w^T[c_out * kk, c_in] @ x_n[c_in, h * w]
                sgemm(
                    ckk,
                    p,
                    d.o,
                    Mat::rows_t(ws, ckk),
                    Mat::rows(xn, p),
                    cols,
                    false,
                );
                unfold.col2im_add(cols, p, 0, xp, yn);
                if let Some(bias) = &bias {
                    add_bias(yn, bias, d.h * d.w);
                }
            },
        );
    Ok(y)
}

/// Gradients of a transposed convolution: `(dx, dw, db)`; `dx` only when `need_dx`, `db` only
/// when `has_bias`.
pub fn conv_transpose2d_backward(
    x: ArrayView4<f32>,
    w: ArrayView4<f32>,
    dy: ArrayView4<f32>,
    g: &ConvT2dGeom,
    need_dx: bool,
    has_bias: bool,
) -> Result<Conv2dGrads> {
    let d = convt_dims(x.shape(), w.shape(), None, g)?;
    if dy.shape() != [d.n, d.c, d.h, d.w] {
        return Err(Error::shape(
            "conv_transpose2d backward",
            format!("gradient shape {:?}", dy.shape()),
        ));
    }
    let (x, w, dy) = (
        x.as_standard_layout(),
        w.as_standard_layout(),
        dy.as_standard_layout(),
    );
    let (xs, ws, dys) = (std_slice(&x), std_slice(&w), std_slice(&dy));
    let (ckk, p, yp, xp) = (d.ckk(), d.p(), d.in_plane(), d.out_plane());
    let unfold = Unfold::new(d, g.conv());
    let (nb, per) = blocks(d.n);
    let mut dx = vec![0.0f32; if need_dx { d.n * xp } else { 0 }];
    let dx_chunks: Vec<&mut [f32]> = if need_dx {
        dx.chunks_mut(per * xp).collect()
    } else {
        (0..nb).map(|_| &mut [][..]).collect()
    };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx_chunks
        .into_par_iter()
        .enumerate()
        .map(|(bi, dxb)| {
            let mut dw = vec![0.0f32; d.o * ckk];
            let mut db = vec![0.0f32; if has_bias { d.c } else { 0 }];
            let mut cols = vec![0.0f32; ckk * p];
            let mut pad = vec![0.0f32; unfold.scratch_len()];
            for s in (bi * per)..((bi + 1) * per).min(d.n) {
                let xn = &xs[s * xp..(s + 1) * xp];
                let dyn_ = &dys[s * yp..(s + 1) * yp];
                unfold.im2col(dyn_, &mut pad, &mut cols, p, 0);
                // dw[c_in, c_out * kk] += x_n[c_in, h * w] @ cols^T[h * w, c_out * kk]
                sgemm(
                    d.o,
                    ckk,
                    p,
                    Mat::rows(xn, p),
                    Mat::rows_t(&cols, p),
                    &mut dw,
                    true,
                );
                if has_bias {
                    sum_rows(dyn_, d.h * d.w, &mut db);
                }
                if need_dx {
                    // dx_n[c_in, h * w] = w[c_in, c_out * kk] @ cols[c_out * kk, h * w]
                    let dxn = &mut dxb[(s - bi * per) * xp..][..xp];
                    sgemm(
                        d.o,
                        p,
                        ckk,
                        Mat::rows(ws, ckk),
                        Mat::rows(&cols, p),
                        dxn,
                        false,
                    );
                }
            }
            (dw, db)
        })
        .collect();
    let (dw, db) = sum_partials(partials, d.o * ckk, if has_bias { d.c } else { 0 });
    let dw = Array4::from_shape_vec((d.o, d.c, d.k[0], d.k[1]), dw).expect("sized above");
    let dx =
        need_dx.then(|| Array4::from_shape_vec((d.n, d.o, d.oh, d.ow), dx).expect("sized above"));
    Ok((dx, dw, has_bias.then(|| Array1::from_vec(db))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    /// Direct definition of the convolution, for checking the im2col path.
    fn direct(x: &Array4<f32>, w: &Array4<f32>, b: &[f32], g: &Conv2dGeom) -> Array4<f32> {
        let (n, c, h, wd) = x.dim();
        let (o, _, kh, kw) = w.dim();
        let oh = g.out_len(0, h, kh).unwrap();
        let ow = g.out_len(1, wd, kw).unwrap();
        Array4::from_shape_fn((n, o, oh, ow), |(s, oc, r, q)| {
            let mut acc = b[oc] as f64;
            for ch in 0..c {
                for i in 0..kh {
                    for j in 0..kw {
                        let ih = (r * g.stride[0] + i * g.dilation[0]) as isize
                            - g.padding[0].0 as isize;
                        let iw = (q * g.stride[1] + j * g.dilation[1]) as isize
                            - g.padding[1].0 as isize;
                        if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < wd {
                            acc +=
                                (x[[s, ch, ih as usize, iw as usize]] * w[[oc, ch, i, j]]) as f64;
                        }
                    }
                }
            }
            acc as f32
        })
    }

    fn wave(shape: (usize, usize, usize, usize), f: f32) -> Array4<f32> {
        Array::from_shape_fn(shape, |(a, b, c, d)| {
            ((a * 131 + b * 31 + c * 7 + d) as f32 * f).sin()
        })
    }

    #[test]
    fn im2col_forward_matches_direct_definition() {
        for (k, stride, pad, dil) in [
            ([1, 1], [1, 1], [(0, 0), (0, 0)], [1, 1]),
            ([3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1]),
            ([3, 2], [2, 1], [(2, 0), (0, 1)], [1, 2]),
            ([2, 4], [3, 2], [(0, 1), (3, 0)], [2, 1]),
            ([5, 5], [1, 1], [(2, 2), (2, 2)], [1, 1]),
            ([1, 1], [2, 3], [(1, 0), (0, 2)], [1, 1]),
        ] {
            let g = Conv2dGeom {
                stride,
                padding: pad,
                dilation: dil,
            };
            let x = wave((3, 2, 9, 8), 0.3);
            let w = wave((4, 2, k[0], k[1]), 0.7);
            let b = [0.1, -0.2, 0.3, 0.0];
            let got = conv2d_forward(x.view(), w.view(), Some(ndarray::aview1(&b)), &g).unwrap();
            let want = direct(&x, &w, &b, &g);
            assert_eq!(got.dim(), want.dim(), "{g:?}");
            for (a, b) in got.iter().zip(want.iter()) {
                assert!((a - b).abs() < 1e-5, "{g:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn samples_are_partitioned_into_blocks_and_groups() {
        assert_eq!(
            partition(10, GROUP_FLOATS / 3),
            vec![vec![(0, 3)], vec![(3, 3)], vec![(6, 3)], vec![(9, 1)]]
        );
        assert_eq!(
            partition(10, GROUP_FLOATS / 2),
            vec![
                vec![(0, 2), (2, 1)],
                vec![(3, 2), (5, 1)],
                vec![(6, 2), (8, 1)],
                vec![(9, 1)]
            ]
        );
        assert_eq!(
            partition(2, GROUP_FLOATS * 4),
            vec![vec![(0, 1)], vec![(1, 1)]]
        );
        assert_eq!(partition(0, 1), vec![Vec::<(usize, usize)>::new()]);
    }

    #[test]
    fn several_groups_in_a_block_match_sample_by_sample() {
        // 18 x 2025 unfolded floats a sample: one sample per group, two groups per block.
        let g = Conv2dGeom::new([1, 1], [1, 1], [1, 1]);
        let x = wave((5, 2, 45, 45), 0.01);
        let w = wave((3, 2, 3, 3), 0.7);
        assert_eq!(partition(5, 18 * 45 * 45)[0], vec![(0, 1), (1, 1)]);
        let y = conv2d_forward(x.view(), w.view(), None, &g).unwrap();
        let dy = y.mapv(f32::cos);
        let (dx, dw, db) = conv2d_backward(x.view(), w.view(), dy.view(), &g, true, true).unwrap();
        let mut dw_sum = Array4::<f32>::zeros(dw.dim());
        let mut db_sum = 0.0f32;
        for s in 0..5 {
            let xs = x.slice(ndarray::s![s..s + 1, .., .., ..]);
            let ys = conv2d_forward(xs, w.view(), None, &g).unwrap();
            assert_eq!(
                ys.slice(ndarray::s![0, .., .., ..]),
                y.slice(ndarray::s![s, .., .., ..])
            );
            let dys = dy.slice(ndarray::s![s..s + 1, .., .., ..]);
            let (dxs, dws, dbs) = conv2d_backward(xs, w.view(), dys, &g, true, true).unwrap();
            assert_eq!(
                dxs.unwrap().slice(ndarray::s![0, .., .., ..]),
                dx.as_ref().unwrap().slice(ndarray::s![s, .., .., ..])
            );
            dw_sum += &dws;
            db_sum += dbs.unwrap()[0];
        }
        for (a, b) in dw.iter().zip(dw_sum.iter()) {
            assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert!((db.unwrap()[0] - db_sum).abs() <= 1e-3 * db_sum.abs().max(1.0));
    }

    #[test]
    fn conv2d_matches_torch() {
        // import torch
        // x = torch.arange(2 * 2 * 4 * 5, dtype=torch.float32).reshape(2, 2, 4, 5).sin()
        // w = torch.arange(3 * 2 * 2 * 3, dtype=torch.float32).reshape(3, 2, 2, 3).cos()
        // b = torch.tensor([0.5, -1.0, 0.25])
        // y = torch.nn.functional.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2))
        // print(y.shape, y[0, :, 1].tolist(), y[1, 2, 2].tolist())   # torch 2.15.0
        let x = Array::from_shape_fn((2, 2, 4, 5), |(a, b, c, d)| {
            (((a * 2 + b) * 4 + c) * 5 + d) as f32
        })
        .mapv(f32::sin);
        let w = Array::from_shape_fn((3, 2, 2, 3), |(a, b, c, d)| {
            (((a * 2 + b) * 2 + c) * 3 + d) as f32
        })
        .mapv(f32::cos);
        let b = [0.5f32, -1.0, 0.25];
        let g = Conv2dGeom::new([2, 1], [1, 2], [1, 2]);
        let y = conv2d_forward(x.view(), w.view(), Some(ndarray::aview1(&b)), &g).unwrap();
        assert_eq!(y.shape(), [2, 3, 3, 5]);
        let want_row: [[f32; 5]; 3] = [
            [0.504415, 1.589055, 2.025221, 1.936036, 0.734963],
            [-0.158108, 0.459496, -0.20688, 0.012114, -1.468382],
            [1.666452, 1.624147, 0.063334, 0.522117, -0.775454],
        ];
        for (o, row) in want_row.iter().enumerate() {
            for (q, v) in row.iter().enumerate() {
                assert!((y[[0, o, 1, q]] - v).abs() < 1e-5, "y[0,{o},1,{q}]");
            }
        }
        let want = [0.020306, 1.321961, 1.154169, 1.570388, 0.814077];
        for (q, v) in want.iter().enumerate() {
            assert!((y[[1, 2, 2, q]] - v).abs() < 1e-5, "y[1,2,2,{q}]");
        }
    }

    #[test]
    fn conv_transpose2d_matches_torch() {
        // x = torch.arange(1 * 2 * 3 * 2, dtype=torch.float32).reshape(1, 2, 3, 2).sin()
        // w = torch.arange(2 * 3 * 3 * 2, dtype=torch.float32).reshape(2, 3, 3, 2).cos()
        // b = torch.tensor([0.5, -1.0, 0.25])
        // y = torch.nn.functional.conv_transpose2d(x, w, b, stride=(2, 3), padding=(1, 0),
        //                                          output_padding=(1, 2))
        // print(y.shape, y[0, 1].tolist())   # torch 2.15.0
        let x = Array::from_shape_fn((1, 2, 3, 2), |(_, b, c, d)| ((b * 3 + c) * 2 + d) as f32)
            .mapv(f32::sin);
        let w = Array::from_shape_fn((2, 3, 3, 2), |(a, b, c, d)| {
            (((a * 3 + b) * 3 + c) * 2 + d) as f32
        })
        .mapv(f32::cos);
        let b = [0.5f32, -1.0, 0.25];
        let g = ConvT2dGeom {
            stride: [2, 3],
            padding: [1, 0],
            output_padding: [1, 2],
            dilation: [1, 1],
        };
        let y =
            conv_transpose2d_forward(x.view(), w.view(), Some(ndarray::aview1(&b)), &g).unwrap();
        assert_eq!(y.shape(), [1, 3, 6, 7]);
        let want: [[f32; 7]; 6] = [
            [-1.180759, -0.918372, -1.0, -0.697417, -1.958621, -1.0, -1.0],
            [0.561712, 0.875195, -1.0, -2.028162, -0.972856, -1.0, -1.0],
            [-0.492268, -2.117518, -1.0, -0.753926, -1.248975, -1.0, -1.0],
            [-3.672749, -2.845863, -1.0, -2.860023, -3.021792, -1.0, -1.0],
            [-1.241823, -0.151525, -1.0, -1.507389, 0.165841, -1.0, -1.0],
            [0.158689, -0.59639, -1.0, 0.767203, -0.256194, -1.0, -1.0],
        ];
        for (r, row) in want.iter().enumerate() {
            for (q, v) in row.iter().enumerate() {
                assert!((y[[0, 1, r, q]] - v).abs() < 1e-5, "y[0,1,{r},{q}]");
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let x = Array4::<f32>::zeros((1, 2, 4, 4));
        let w = Array4::<f32>::zeros((3, 2, 5, 5));
        let err = conv2d_forward(x.view(), w.view(), None, &Conv2dGeom::default()).unwrap_err();
        assert!(err.to_string().contains("smaller than the kernel"), "{err}");
        let w = Array4::<f32>::zeros((3, 1, 3, 3));
        let err = conv2d_forward(x.view(), w.view(), None, &Conv2dGeom::default()).unwrap_err();
        assert!(err.to_string().contains("2 channels"), "{err}");
        let w = Array4::<f32>::zeros((2, 3, 3, 3));
        let g = ConvT2dGeom {
            stride: [2, 2],
            output_padding: [2, 0],
            ..Default::default()
        };
        let err = conv_transpose2d_forward(x.view(), w.view(), None, &g).unwrap_err();
        assert!(err.to_string().contains("output padding"), "{err}");
    }
}
