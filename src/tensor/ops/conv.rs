//! 1D convolution kernels (PyTorch `Conv1d` semantics): im2col + GEMM forward, and the backward
//! passes as GEMMs too.
//!
//! Layouts: input `[N, C_in, L]`, weight `[C_out, C_in, K]`, bias `[C_out]`, output
//! `[N, C_out, L_out]` with `L_out = (L + pad_left + pad_right - dilation * (K - 1) - 1) / stride + 1`.
//! Samples are unfolded side by side in groups, one GEMM per group (see [`GROUP_COLS`]); groups
//! run in parallel with rayon, each GEMM single-threaded. The weight gradient is summed over a
//! fixed number of sample blocks in a fixed order, so results do not depend on the thread count.
//! The forward pass can fuse the bias and a ReLU into the GEMM's output pass. Inputs with at most
//! [`lookup::MAX_CHANNELS`] channels (one-hot DNA) take the table-lookup kernel of
//! `conv_lookup.rs` instead of im2col + GEMM, forward and for the weight gradient.

use super::conv_lookup::{self as lookup, Shape};
use super::gemm::{Mat, sgemm};
use super::pool::{Pool1dGeom, max_pool_row};
use super::scratch;
use super::split_lengths;
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
}

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

/// Unfolds one sample `x [C_in, L]` into `L_out` columns of `cols [C_in * K, ld]` starting at
/// column `at` (zeros where the kernel reads padding).
#[allow(clippy::too_many_arguments)]
fn im2col(x: &[f32], d: &Dims, g: &Conv1dGeom, cols: &mut [f32], ld: usize, at: usize) {
    let Dims {
        c_in, l, k, l_out, ..
    } = *d;
    for c in 0..c_in {
        let xc = &x[c * l..(c + 1) * l];
        for kk in 0..k {
            let r = c * k + kk;
            let row = &mut cols[r * ld + at..r * ld + at + l_out];
            let off = (kk * g.dilation) as isize - g.pad_left as isize;
            let (t0, t1) = valid_range(off, g.stride, l, l_out);
            row[..t0].fill(0.0);
            row[t1..].fill(0.0);
            if t0 < t1 {
                let i0 = (t0 as isize * g.stride as isize + off) as usize;
                if g.stride == 1 {
                    row[t0..t1].copy_from_slice(&xc[i0..i0 + (t1 - t0)]);
                } else {
                    for (v, s) in row[t0..t1]
                        .iter_mut()
                        .zip(xc[i0..].iter().step_by(g.stride))
                    {
                        *v = *s;
                    }
                }
            }
        }
    }
}

/// The outputs `t0..t1` whose input index `t * stride + off` lies in `0..l`.
fn valid_range(off: isize, stride: usize, l: usize, l_out: usize) -> (usize, usize) {
    let s = stride as isize;
    // first t with t * s + off >= 0, first t with t * s + off >= l
    let t0 = if off >= 0 { 0 } else { ((-off) + s - 1) / s };
    let t1 = if (l as isize) <= off {
        0
    } else {
        ((l as isize - off) + s - 1) / s
    };
    let t0 = (t0 as usize).min(l_out);
    (t0, (t1 as usize).clamp(t0, l_out))
}

/// Folds the `L_out` columns of `cols [C_in * K, ld]` starting at column `at` back into
/// `dx [C_in, L]`, adding overlapping contributions.
fn col2im_add(cols: &[f32], d: &Dims, g: &Conv1dGeom, ld: usize, at: usize, dx: &mut [f32]) {
    let Dims {
        c_in, l, k, l_out, ..
    } = *d;
    for c in 0..c_in {
        let dxc = &mut dx[c * l..(c + 1) * l];
        for kk in 0..k {
            let r = c * k + kk;
            let row = &cols[r * ld + at..r * ld + at + l_out];
            let off = (kk * g.dilation) as isize - g.pad_left as isize;
            let (t0, t1) = valid_range(off, g.stride, l, l_out);
            if t0 < t1 {
                let i0 = (t0 as isize * g.stride as isize + off) as usize;
                if g.stride == 1 {
                    for (d, v) in dxc[i0..i0 + (t1 - t0)].iter_mut().zip(&row[t0..t1]) {
                        *d += v;
                    }
                } else {
                    for (d, v) in dxc[i0..].iter_mut().step_by(g.stride).zip(&row[t0..t1]) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// Sizes of one convolution.
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    c_in: usize,
    l: usize,
    k: usize,
    l_out: usize,
}

impl Dims {
    fn ck(&self) -> usize {
        self.c_in * self.k
    }
}

/// Samples are unfolded side by side into one `[C_in * K, S * L_out]` matrix per group, so that
/// one GEMM serves `S` samples: the weights are packed once per group instead of once per sample
/// and the weight gradient's GEMM has `S * L_out` terms per output, not `L_out` (with DeepSEA's
/// third layer, 53 columns per sample, per-sample GEMMs read and wrote the 15 MB weight gradient
/// 64 times a step). A group has about `GROUP_COLS` columns, at most `GROUP_FLOATS` floats of
/// unfolded input (16 MB).
const GROUP_COLS: usize = 512;
const GROUP_FLOATS: usize = 4 << 20;

/// The forward pass alone groups about twice as many columns: every group packs the weights for
/// its GEMM again (DeepSEA's second layer: 1.2 M floats per group), and with no weight gradient to
/// accumulate, fewer packings is all larger groups change (DeepSEA inference, 2 threads: 130-133
/// samples/s at 512 columns, 132-134 at 1024).
const FORWARD_GROUP_COLS: usize = 1024;

/// Unpooled output positions per chunk when the lookup kernel's output is pooled as it is made
/// (64 positions of 320 channels: 80 KB).
const POOL_ROWS: usize = 64;

/// Number of sample blocks the weight gradient is accumulated over (fixed, for determinism): each
/// block sums its groups in order into its own partial gradient, and the partials are added in
/// block order, so the result does not depend on the thread count. Four blocks keep two threads
/// evenly busy.
const WGRAD_BLOCKS: usize = 4;

/// The samples `0..n` in at most [`WGRAD_BLOCKS`] contiguous blocks, each cut into groups:
/// `(start, len)` per group, per block. Depends on the sizes only, never on the thread count.
fn partition(d: &Dims, cols: usize) -> Vec<Vec<(usize, usize)>> {
    let per_sample = d.ck() * d.l_out;
    let by_cols = cols.div_ceil(d.l_out.max(1));
    let by_mem = (GROUP_FLOATS / per_sample.max(1)).max(1);
    let gs = by_cols.min(by_mem).max(1);
    let blocks = WGRAD_BLOCKS.min(d.n.max(1));
    let per = d.n.div_ceil(blocks).max(1);
    (0..blocks)
        .map(|b| {
            let (lo, hi) = (b * per, ((b + 1) * per).min(d.n));
            (lo..hi).step_by(gs).map(|s| (s, gs.min(hi - s))).collect()
        })
        .filter(|g: &Vec<(usize, usize)>| !g.is_empty())
        .collect()
}

/// `row = act(row + b)`: the bias and (when `relu`) the ReLU, fused into one pass over the GEMM's
/// output.
#[inline]
fn epilogue(row: &mut [f32], b: f32, relu: bool) {
    if relu {
        row.iter_mut().for_each(|v| *v = (*v + b).max(0.0));
    } else if b != 0.0 {
        row.iter_mut().for_each(|v| *v += b);
    }
}

/// Forward pass: `y = conv1d(x, w) + b`.
pub fn conv1d_forward(
    x: ArrayView3<f32>,
    w: ArrayView3<f32>,
    b: Option<ArrayView1<f32>>,
    g: &Conv1dGeom,
) -> Result<Array3<f32>> {
    conv1d_forward_act(x, w, b, g, false)
}

/// Forward pass with the activation fused: `y = relu(conv1d(x, w) + b)` when `relu`.
pub fn conv1d_forward_act(
    x: ArrayView3<f32>,
    w: ArrayView3<f32>,
    b: Option<ArrayView1<f32>>,
    g: &Conv1dGeom,
    relu: bool,
) -> Result<Array3<f32>> {
    Ok(conv1d_forward_fused(x, w, b, g, relu, None)?.0)
}

/// Forward pass with the activation and a max pooling fused:
/// `y = max_pool1d(relu(conv1d(x, w) + b))` (each step when asked). With pooling, the
/// convolution's output exists only one group of samples at a time, in scratch, and the argmax of
/// every pooled output (an index into the convolution's output row) is returned for the backward
/// pass; DeepSEA's first layer would otherwise make an 81 MB array per batch only to pool it.
pub fn conv1d_forward_fused(
    x: ArrayView3<f32>,
    w: ArrayView3<f32>,
    b: Option<ArrayView1<f32>>,
    g: &Conv1dGeom,
    relu: bool,
    pool: Option<&Pool1dGeom>,
) -> Result<(Array3<f32>, Vec<u32>)> {
    let (n, c_in, l, c_out, k, l_out) =
        conv1d_dims(x.shape(), w.shape(), b.as_ref().map(|b| b.shape()), g)?;
    let d = Dims {
        n,
        c_in,
        l,
        k,
        l_out,
    };
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let ws = w.as_slice().expect("standard layout");
    let bias: Vec<f32> = b.map_or_else(|| vec![0.0; c_out], |b| b.to_vec());
    let l_y = match pool {
        Some(p) => p.out_len("max_pool1d", l_out)?,
        None => l_out,
    };
    let mut y = Array3::<f32>::zeros((n, c_out, l_y));
    let mut arg = vec![0u32; if pool.is_some() { n * c_out * l_y } else { 0 }];
    let op = c_out * l_y;
    let groups: Vec<(usize, usize)> = partition(&d, FORWARD_GROUP_COLS).concat();
    let lut = (c_in <= lookup::MAX_CHANNELS).then(|| lookup::table(ws, c_out, c_in, k));
    let mut bias_p = bias.clone();
    bias_p.resize(lookup::padded(c_out), 0.0);
    let lens: Vec<usize> = groups.iter().map(|&(_, len)| len * op).collect();
    let arg_lens: Vec<usize> = groups
        .iter()
        .map(|&(_, len)| if pool.is_some() { len * op } else { 0 })
        .collect();
    split_lengths(y.as_slice_mut().expect("fresh array"), &lens)
        .into_par_iter()
        .zip(split_lengths(&mut arg, &arg_lens))
        .zip(groups)
        .for_each(|((yg, ag), (start, len))| {
            if let (Some(lut), Some(p)) = (lut.as_deref(), pool) {
                // Lookup and pooling: each sample's output is pooled position-major, as made.
                let shape = lookup_shape(&d, c_out);
                let cp = lookup::padded(c_out);
                let mut cols = lookup::Columns::default();
                // Windows in chunks whose unpooled rows stay in cache between the lookup that
                // writes them and the pooling that reads them (a whole DeepSEA first-layer
                // output, 1.3 MB per sample, did not).
                let chunk = (POOL_ROWS / p.stride.max(1)).max(1);
                let rows = lookup::window_span(0..chunk.min(l_y), p, l_out).len();
                let mut pm = scratch::take(rows.max(1) * cp);
                for s in 0..len {
                    let xn = &xs[(start + s) * c_in * l..(start + s + 1) * c_in * l];
                    cols.read(xn, &shape);
                    let (ys, ars) = (&mut yg[s * op..(s + 1) * op], &mut ag[s * op..(s + 1) * op]);
                    for t0 in (0..l_y).step_by(chunk) {
                        let ts = t0..(t0 + chunk).min(l_y);
                        let ps = lookup::window_span(ts.clone(), p, l_out);
                        let p0 = ps.start;
                        let need = ps.len() * cp;
                        if pm.len() < need {
                            pm = scratch::take(need);
                        }
                        lookup::forward(xn, &cols, lut, &shape, g, ps, &mut pm);
                        lookup::bias_relu_pool(&pm, p0, &bias_p, relu, p, &shape, ts, ys, ars);
                    }
                }
                return;
            }
            let ld = len * l_out;
            let product = |out: &mut [f32]| {
                group_product(xs, ws, lut.as_deref(), &d, g, c_out, start, len, out)
            };
            if let Some(p) = pool {
                let mut out = scratch::take(c_out * ld);
                product(&mut out);
                for (o, orow) in out.chunks_mut(ld).enumerate() {
                    for s in 0..len {
                        let row = &mut orow[s * l_out..(s + 1) * l_out];
                        epilogue(row, bias[o], relu);
                        let at = s * op + o * l_y;
                        max_pool_row(row, p, &mut yg[at..at + l_y], &mut ag[at..at + l_y]);
                    }
                }
            } else if len == 1 {
                // One sample: the product is written in place.
                product(yg);
                for (row, &bv) in yg.chunks_mut(l_out).zip(&bias) {
                    epilogue(row, bv, relu);
                }
            } else {
                // out[c_out, S * L_out], then each sample's [c_out, L_out] block.
                let mut out = scratch::take(c_out * ld);
                product(&mut out);
                for (s, yn) in yg.chunks_mut(op).enumerate() {
                    for (o, row) in yn.chunks_mut(l_out).enumerate() {
                        row.copy_from_slice(&out[o * ld + s * l_out..o * ld + (s + 1) * l_out]);
                        epilogue(row, bias[o], relu);
                    }
                }
            }
        });
    Ok((y, arg))
}

/// The convolution without bias of the samples `start..start + len` as `out [c_out, S * L_out]`
/// (sample `s` in columns `s * L_out..`): by table lookup when `lut` (the weights in
/// [`lookup::table`] layout) is given, else im2col + one GEMM.
#[allow(clippy::too_many_arguments)]
fn group_product(
    xs: &[f32],
    ws: &[f32],
    lut: Option<&[f32]>,
    d: &Dims,
    g: &Conv1dGeom,
    c_out: usize,
    start: usize,
    len: usize,
    out: &mut [f32],
) {
    let (c_in, l, l_out) = (d.c_in, d.l, d.l_out);
    let ld = len * l_out;
    let sample = |s: usize| &xs[(start + s) * c_in * l..(start + s + 1) * c_in * l];
    match lut {
        Some(lut) => {
            let shape = lookup_shape(d, c_out);
            let cp = lookup::padded(c_out);
            let mut pm = scratch::take(l_out * cp);
            let mut cols = lookup::Columns::default();
            for s in 0..len {
                let xn = sample(s);
                cols.read(xn, &shape);
                lookup::forward(xn, &cols, lut, &shape, g, 0..l_out, &mut pm);
                lookup::to_channel_major(&pm, c_out, l_out, out, ld, s * l_out);
            }
        }
        None => {
            let ck = d.ck();
            let mut cols = scratch::take(ck * ld);
            for s in 0..len {
                im2col(sample(s), d, g, &mut cols, ld, s * l_out);
            }
            sgemm(
                c_out,
                ld,
                ck,
                Mat::rows(ws, ck),
                Mat::rows(&cols, ld),
                out,
                false,
            );
        }
    }
}

/// The lookup kernel's view of the shapes.
fn lookup_shape(d: &Dims, c_out: usize) -> Shape {
    Shape {
        c_in: d.c_in,
        l: d.l,
        k: d.k,
        l_out: d.l_out,
        c_out,
    }
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
    conv1d_backward_act(x, w, dy, None, g, need_dx, has_bias)
}

/// Gradients of [`conv1d_forward_act`]: with `relu_out = Some(y)` (the fused ReLU's output),
/// `dy` is first zeroed where `y` is not positive.
pub fn conv1d_backward_act(
    x: ArrayView3<f32>,
    w: ArrayView3<f32>,
    dy: ArrayView3<f32>,
    relu_out: Option<ArrayView3<f32>>,
    g: &Conv1dGeom,
    need_dx: bool,
    has_bias: bool,
) -> Result<ConvGrads> {
    conv1d_backward_fused(x, w, dy, relu_out, None, g, need_dx, has_bias)
}

/// Gradients of [`conv1d_forward_fused`]: `dy` and `out` (the fused op's output, for the ReLU's
/// mask, when `relu`) have the pooled shape when `argmax` (from the forward pass) is given; the
/// convolution's gradient is then `dy` scattered to the argmax positions, one group of samples
/// at a time.
#[allow(clippy::too_many_arguments)]
pub fn conv1d_backward_fused(
    x: ArrayView3<f32>,
    w: ArrayView3<f32>,
    dy: ArrayView3<f32>,
    relu_out: Option<ArrayView3<f32>>,
    argmax: Option<&[u32]>,
    g: &Conv1dGeom,
    need_dx: bool,
    has_bias: bool,
) -> Result<ConvGrads> {
    let (n, c_in, l, c_out, k, l_out) = conv1d_dims(x.shape(), w.shape(), None, g)?;
    let l_y = dy.shape().get(2).copied().unwrap_or(0);
    let pooled_ok = argmax.is_none_or(|a| a.len() == n * c_out * l_y);
    if dy.shape()[..2] != [n, c_out]
        || (argmax.is_none() && l_y != l_out)
        || !pooled_ok
        || relu_out.is_some_and(|y| y.shape() != dy.shape())
    {
        return Err(Error::shape(
            "conv1d backward",
            format!("gradient shape {:?}", dy.shape()),
        ));
    }
    let d = Dims {
        n,
        c_in,
        l,
        k,
        l_out,
    };
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let dy = dy.as_standard_layout();
    let yr = relu_out.as_ref().map(|y| y.as_standard_layout());
    let xs = x.as_slice().expect("standard layout");
    let ws = w.as_slice().expect("standard layout");
    let dys = dy.as_slice().expect("standard layout");
    let ys: Option<&[f32]> = yr.as_ref().map(|y| y.as_slice().expect("standard layout"));
    let ck = d.ck();
    let (ip, op) = (c_in * l, c_out * l_y);
    let parts = partition(&d, GROUP_COLS);
    // The lookup kernel has no input gradient: with one wanted, both gradients come from GEMMs.
    let lut = c_in <= lookup::MAX_CHANNELS && !need_dx;
    let cp = lookup::padded(c_out);
    let mut dx = vec![0.0f32; if need_dx { n * ip } else { 0 }];
    let block_lens: Vec<usize> = parts
        .iter()
        .map(|b| b.iter().map(|&(_, len)| len).sum::<usize>() * if need_dx { ip } else { 0 })
        .collect();
    let partials: Vec<(Vec<f32>, Vec<f32>)> = split_lengths(&mut dx, &block_lens)
        .into_par_iter()
        .zip(parts)
        .map(|(dxb, groups)| {
            let mut dw = vec![0.0f32; c_out * ck];
            let mut db = vec![0.0f32; if has_bias { c_out } else { 0 }];
            // The lookup kernel's weight gradient, in table layout.
            let mut dt = vec![
                0.0f32;
                if lut {
                    lookup::table_len(c_out, c_in, k)
                } else {
                    0
                }
            ];
            let first = groups.first().map_or(0, |&(s, _)| s);
            for (start, len) in groups {
                let ld = len * l_out;
                let mut cols = scratch::take(if lut { 0 } else { ck * ld });
                if !lut {
                    for s in 0..len {
                        let xn = &xs[(start + s) * ip..(start + s + 1) * ip];
                        im2col(xn, &d, g, &mut cols, ld, s * l_out);
                    }
                }
                // The group's gradient of the convolution's output as [c_out, S * L_out]:
                // scattered to the pooling's argmax positions when fused, through the ReLU's
                // mask when fused (the mask is the op's output: after pooling, the output at the
                // argmax is the pooled value).
                let mut dyg = scratch::take(c_out * ld);
                for s in 0..len {
                    let at = (start + s) * op;
                    for o in 0..c_out {
                        let r = at + o * l_y..at + (o + 1) * l_y;
                        let src = &dys[r.clone()];
                        let dst = &mut dyg[o * ld + s * l_out..o * ld + (s + 1) * l_out];
                        match (argmax, ys) {
                            (Some(am), _) => {
                                dst.fill(0.0);
                                let yrow = ys.map(|ys| &ys[r.clone()]);
                                for (j, (&gv, &a)) in src.iter().zip(&am[r.clone()]).enumerate() {
                                    if yrow.is_none_or(|y| y[j] > 0.0) {
                                        dst[a as usize] += gv;
                                    }
                                }
                            }
                            (None, Some(ys)) => {
                                let yrow = &ys[r];
                                for ((d, &gv), &yv) in dst.iter_mut().zip(src).zip(yrow) {
                                    *d = if yv > 0.0 { gv } else { 0.0 };
                                }
                            }
                            (None, None) => dst.copy_from_slice(src),
                        }
                    }
                }
                let dym = Mat::rows(&dyg, ld);
                if lut {
                    // Per sample: the gradient position-major, then the table walk.
                    let shape = lookup_shape(&d, c_out);
                    let mut pm = scratch::take(l_out * cp);
                    let mut columns = lookup::Columns::default();
                    for s in 0..len {
                        lookup::to_position_major(&dyg, c_out, l_out, ld, s * l_out, &mut pm);
                        let xn = &xs[(start + s) * ip..(start + s + 1) * ip];
                        columns.read(xn, &shape);
                        lookup::weight_grad(xn, &columns, &pm, &shape, g, &mut dt);
                    }
                } else {
                    // dw[c_out, ck] += dy[c_out, S * L_out] @ cols^T[S * L_out, ck]
                    sgemm(c_out, ck, ld, dym, Mat::rows_t(&cols, ld), &mut dw, true);
                }
                if has_bias {
                    for (acc, row) in db.iter_mut().zip(dyg.chunks(ld)) {
                        *acc += sum(row);
                    }
                }
                if need_dx {
                    // dcols[ck, S * L_out] = w^T[ck, c_out] @ dy[c_out, S * L_out], folded back
                    // per sample (reusing the unfolded input's buffer).
                    sgemm(ck, ld, c_out, Mat::rows_t(ws, ck), dym, &mut cols, false);
                    for s in 0..len {
                        let at = (start + s - first) * ip;
                        col2im_add(&cols, &d, g, ld, s * l_out, &mut dxb[at..at + ip]);
                    }
                }
            }
            if lut {
                lookup::add_untable(&dt, c_out, c_in, k, &mut dw);
            }
            (dw, db)
        })
        .collect();
    let mut partials = partials.into_iter();
    let (mut dw, mut db) = partials.next().expect("at least one block");
    for (pw, pb) in partials {
        dw.iter_mut().zip(&pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(&pb).for_each(|(a, b)| *a += b);
    }
    let dw = Array3::from_shape_vec((c_out, c_in, k), dw).expect("sized above");
    let db = has_bias.then(|| Array1::from_vec(db));
    let dx = need_dx.then(|| Array3::from_shape_vec((n, c_in, l), dx).expect("sized above"));
    Ok((dx, dw, db))
}

/// The input gradient alone of a convolution with weights `w [C_out, C_in, K]`, from `dy [N,
/// C_out, L_out]`, for inputs of length `l`: `dx [N, C_in, l]`. What DeepLIFT's backward pass
/// needs at a convolution (parameters get no multipliers): no unfolding of the input and no
/// weight-gradient GEMM, which [`conv1d_backward_fused`] always computes. Groups of samples run
/// in parallel (the forward pass's grouping), each one GEMM `w^T @ dy` folded back per sample;
/// every sample's result is the same whatever the thread count.
pub fn conv1d_backward_input(
    w: ArrayView3<f32>,
    dy: ArrayView3<f32>,
    g: &Conv1dGeom,
    l: usize,
) -> Result<Array3<f32>> {
    let (n, c_in) = (dy.shape()[0], w.shape().get(1).copied().unwrap_or(0));
    let (_, _, _, c_out, k, l_out) = conv1d_dims(&[n, c_in, l], w.shape(), None, g)?;
    if dy.shape() != [n, c_out, l_out] {
        return Err(Error::shape(
            "conv1d backward",
            format!(
                "gradient shape {:?}, expected [{n}, {c_out}, {l_out}]",
                dy.shape()
            ),
        ));
    }
    let d = Dims {
        n,
        c_in,
        l,
        k,
        l_out,
    };
    let w = w.as_standard_layout();
    let dy = dy.as_standard_layout();
    let ws = w.as_slice().expect("standard layout");
    let dys = dy.as_slice().expect("standard layout");
    let (ck, ip, op) = (d.ck(), c_in * l, c_out * l_out);
    let groups: Vec<(usize, usize)> = partition(&d, FORWARD_GROUP_COLS).concat();
    let mut dx = Array3::<f32>::zeros((n, c_in, l));
    let lens: Vec<usize> = groups.iter().map(|&(_, len)| len * ip).collect();
    split_lengths(dx.as_slice_mut().expect("fresh array"), &lens)
        .into_par_iter()
        .zip(groups)
        .for_each(|(dxg, (start, len))| {
            let ld = len * l_out;
            // The group's gradient as [c_out, S * L_out].
            let mut dyg = scratch::take(c_out * ld);
            for s in 0..len {
                let at = (start + s) * op;
                for o in 0..c_out {
                    dyg[o * ld + s * l_out..o * ld + (s + 1) * l_out]
                        .copy_from_slice(&dys[at + o * l_out..at + (o + 1) * l_out]);
                }
            }
            // dcols[ck, S * L_out] = w^T[ck, c_out] @ dy[c_out, S * L_out], folded per sample.
            let mut cols = scratch::take(ck * ld);
            sgemm(
                ck,
                ld,
                c_out,
                Mat::rows_t(ws, ck),
                Mat::rows(&dyg, ld),
                &mut cols,
                false,
            );
            for s in 0..len {
                col2im_add(&cols, &d, g, ld, s * l_out, &mut dxg[s * ip..(s + 1) * ip]);
            }
        });
    Ok(dx)
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
            // Nine samples: groups of several samples share one GEMM.
            let x = Array::from_shape_fn((9, 2, 17), |(a, b, c)| {
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

    /// DNA-like input: one-hot columns, some N (0.25 each) and some all-zero columns.
    fn dna(n: usize, l: usize) -> Array3<f32> {
        Array::from_shape_fn((n, 4, l), |(s, c, j)| {
            let h = (s * 7919 + j * 104_729) % 97;
            match h {
                0..=4 => 0.25,
                5..=7 => 0.0,
                _ => f32::from(h % 4 == c),
            }
        })
    }

    #[test]
    fn lookup_forward_matches_direct_definition_on_dna() {
        // 37 outputs: one block of 32 channels and one of 8 with padding channels.
        for (k, stride, pl, pr, dil) in [(24, 1, 0, 0, 1), (8, 1, 3, 4, 1), (5, 2, 4, 1, 3)] {
            let g = Conv1dGeom {
                stride,
                pad_left: pl,
                pad_right: pr,
                dilation: dil,
            };
            let x = dna(11, 60);
            let w = Array::from_shape_fn((37, 4, k), |(a, b, c)| {
                ((a * 5 + b * 3 + c) as f32 * 0.7).cos()
            });
            let b: Vec<f32> = (0..37).map(|o| o as f32 * 0.01).collect();
            let got = conv1d_forward(x.view(), w.view(), Some(ndarray::aview1(&b)), &g).unwrap();
            let want = direct(&x, &w, &b, &g);
            assert_eq!(got.dim(), want.dim());
            for (a, b) in got.iter().zip(want.iter()) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn lookup_fused_pooling_equals_convolution_then_pooling() {
        use crate::tensor::ops::pool::max_pool1d_forward;
        let g = Conv1dGeom {
            stride: 1,
            pad_left: 2,
            pad_right: 1,
            dilation: 1,
        };
        let x = dna(9, 40);
        let w = Array::from_shape_fn((19, 4, 6), |(a, b, c)| ((a * 5 + b * 3 + c) as f32).sin());
        let b: Vec<f32> = (0..19).map(|o| (o as f32 - 9.0) * 0.1).collect();
        let l_out = g.out_len(40, 6).unwrap();
        let pools = [
            (4, 4, 0),
            (3, 2, 1),
            (l_out, l_out, 0), // global
        ];
        for relu in [true, false] {
            for (kernel, stride, padding) in pools {
                let p = Pool1dGeom {
                    kernel,
                    stride,
                    padding,
                };
                let bias = Some(ndarray::aview1(&b));
                let (fused, arg) =
                    conv1d_forward_fused(x.view(), w.view(), bias, &g, relu, Some(&p)).unwrap();
                let y = conv1d_forward_act(x.view(), w.view(), bias, &g, relu).unwrap();
                let (want, want_arg) = max_pool1d_forward(y.view(), &p).unwrap();
                assert_eq!(fused, want, "relu {relu} pool {p:?}");
                assert_eq!(arg, want_arg, "relu {relu} pool {p:?}");
            }
        }
    }

    #[test]
    fn lookup_weight_gradient_matches_the_gemm_path() {
        for (k, stride, pl, pr, dil, c_out) in [
            (24, 1, 0, 0, 1, 16),
            (8, 1, 3, 4, 1, 37),
            (5, 2, 4, 1, 3, 9),
        ] {
            let g = Conv1dGeom {
                stride,
                pad_left: pl,
                pad_right: pr,
                dilation: dil,
            };
            let x = dna(13, 50);
            let w = Array::from_shape_fn((c_out, 4, k), |(a, b, c)| {
                ((a * 3 + b * 5 + c) as f32 * 0.3).sin()
            });
            let l_out = g.out_len(50, k).unwrap();
            let dy = Array::from_shape_fn((13, c_out, l_out), |(a, b, c)| {
                ((a * 11 + b * 13 + c) as f32 * 0.37).cos()
            });
            // Without an input gradient the weight gradient comes from the lookup kernel; with
            // one, from the GEMMs.
            let (dx0, dw_lookup, db0) =
                conv1d_backward(x.view(), w.view(), dy.view(), &g, false, true).unwrap();
            let (dx1, dw_gemm, db1) =
                conv1d_backward(x.view(), w.view(), dy.view(), &g, true, true).unwrap();
            assert!(dx0.is_none() && dx1.is_some());
            assert_eq!(db0, db1);
            let scale = dw_gemm.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (a, b) in dw_lookup.iter().zip(dw_gemm.iter()) {
                assert!((a - b).abs() < 1e-5 * scale, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn the_input_gradient_alone_is_the_full_backward_passs() {
        for (c_in, k, stride, pl, pr, dil, c_out, n) in [
            (4, 8, 1, 0, 0, 1, 16, 5),
            (7, 5, 2, 4, 1, 3, 9, 13),
            (12, 3, 1, 1, 1, 2, 6, 40),
        ] {
            let g = Conv1dGeom {
                stride,
                pad_left: pl,
                pad_right: pr,
                dilation: dil,
            };
            let x = Array::from_shape_fn((n, c_in, 50), |(a, b, c)| {
                ((a * 7 + b * 3 + c) as f32 * 0.21).sin()
            });
            let w = Array::from_shape_fn((c_out, c_in, k), |(a, b, c)| {
                ((a * 3 + b * 5 + c) as f32 * 0.3).sin()
            });
            let l_out = g.out_len(50, k).unwrap();
            let dy = Array::from_shape_fn((n, c_out, l_out), |(a, b, c)| {
                ((a * 11 + b * 13 + c) as f32 * 0.37).cos()
            });
            let (dx, _, _) =
                conv1d_backward(x.view(), w.view(), dy.view(), &g, true, false).unwrap();
            let alone = conv1d_backward_input(w.view(), dy.view(), &g, 50).unwrap();
            assert_eq!(alone, dx.unwrap());
        }
        // A gradient of the wrong length is an error.
        let w = Array::zeros((3, 2, 4));
        let dy = Array::zeros((1, 3, 5));
        assert!(conv1d_backward_input(w.view(), dy.view(), &Conv1dGeom::default(), 10).is_err());
    }

    #[test]
    fn kernel_longer_than_input_is_an_error() {
        let x = Array3::<f32>::zeros((1, 4, 5));
        let w = Array3::<f32>::zeros((2, 4, 7));
        let err = conv1d_forward(x.view(), w.view(), None, &Conv1dGeom::default()).unwrap_err();
        assert!(err.to_string().contains("shorter than the kernel"), "{err}");
    }
}
