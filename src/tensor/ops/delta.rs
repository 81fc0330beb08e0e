//! Delta kernels of fast ISM (`mutate/fast.rs`): a layer run on the changed columns of many
//! variants of one sequence at once, as the reference activation plus the layer applied to each
//! variant's change. A convolution takes every variant's changed columns in one matrix product
//! per tap ([`ConvDelta`]); activations, unpadded pooling and eval-mode batch norm recompute the
//! columns a change reaches ([`ColumnMap`]); a linear layer after a flatten reads only the weights
//! of the changed features ([`LinearDelta`]).
//!
//! Activations here are one sequence's, position-major (`[len, c]`, [`Columns`]), so the columns
//! of a variant are contiguous. Products are split into fixed blocks of rows, so results do not
//! depend on the thread count.

use super::conv::Conv1dGeom;
use super::gemm::{Mat, sgemm};
use crate::{Error, Result};
use ndarray::ArrayView3;
use rayon::prelude::*;

/// Rows of a product computed by one task (fixed, so results do not depend on the thread count).
const ROWS: usize = 256;

/// Output rows of a linear layer per task in [`LinearDelta`].
const LINEAR_ROWS: usize = 32;

/// One activation of one sequence, position-major: `[len, c]`, column `i` at `v[i * c..][..c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Columns {
    pub c: usize,
    pub len: usize,
    /// shape: [len, c]
    pub v: Vec<f32>,
}

impl Columns {
    /// Column `i`.
    pub fn col(&self, i: usize) -> &[f32] {
        &self.v[i * self.c..][..self.c]
    }
}

/// The changed columns `[start, start + len)` of one variant's activation, position-major
/// `[len, c]` (the channels of the activation it patches).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Patch {
    pub start: usize,
    pub len: usize,
    /// shape: [len, c]
    pub v: Vec<f32>,
}

impl Patch {
    /// Column `i` of `x` overlaid with this patch.
    pub fn col<'a>(&'a self, x: &'a Columns, i: usize) -> &'a [f32] {
        if i >= self.start && i < self.start + self.len {
            &self.v[(i - self.start) * x.c..][..x.c]
        } else {
            &x.v[i * x.c..][..x.c]
        }
    }
}

/// Output columns `[lo, hi)` touched by input columns `[a, b)` for a window of `span` inputs at
/// stride `s` starting at `j * s - pad`, out of `out` columns.
pub fn touched(
    a: usize,
    b: usize,
    span: usize,
    s: usize,
    pad: usize,
    out: usize,
) -> (usize, usize) {
    if a >= b {
        return (0, 0);
    }
    let lo = (a + pad).saturating_sub(span - 1).div_ceil(s);
    let hi = ((b - 1 + pad) / s + 1).min(out);
    (lo.min(hi), hi)
}

fn too_short(len: usize) -> Error {
    Error::Config(format!("input length {len} is too short for the network"))
}

/// A 1D convolution with its weights laid out per tap, for products with many columns.
#[derive(Clone, Debug)]
pub struct ConvDelta {
    /// shape: [k][cin * cout]: tap `t` as a row-major `[cin, cout]` matrix (`w[o, c, t]` at
    /// `c * cout + o`), so `columns [m, cin] @ taps[t]` is that tap's contribution.
    taps: Vec<Vec<f32>>,
    /// shape: [cout]
    bias: Option<Vec<f32>>,
    cin: usize,
    cout: usize,
    k: usize,
    geom: Conv1dGeom,
}

impl ConvDelta {
    /// The convolution with `weight` `[cout, cin, k]` (PyTorch's layout), `bias` `[cout]` and
    /// `geom`.
    pub fn new(weight: ArrayView3<f32>, bias: Option<&[f32]>, geom: Conv1dGeom) -> ConvDelta {
        let (cout, cin, k) = weight.dim();
        let taps = (0..k)
            .map(|t| {
                let mut m = vec![0.0f32; cin * cout];
                for o in 0..cout {
                    for c in 0..cin {
                        m[c * cout + o] = weight[[o, c, t]];
                    }
                }
                m
            })
            .collect();
        ConvDelta {
            taps,
            bias: bias.map(<[f32]>::to_vec),
            cin,
            cout,
            k,
            geom,
        }
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.cin
    }

    fn span(&self) -> usize {
        self.geom.dilation * (self.k - 1) + 1
    }

    /// Output length for an input of `l` columns; `None` when the input is too short.
    pub fn out_len(&self, l: usize) -> Option<usize> {
        self.geom.out_len(l, self.k)
    }

    /// The columns of the output (of `out`) a change of input columns `[a, b)` can change.
    pub fn touched(&self, a: usize, b: usize, out: usize) -> (usize, usize) {
        touched(a, b, self.span(), self.geom.stride, self.geom.pad_left, out)
    }

    /// The output column (of `out`) that tap `t` reads input column `q` into, if any.
    fn out_col(&self, q: usize, t: usize, out: usize) -> Option<usize> {
        let at = (q + self.geom.pad_left).checked_sub(t * self.geom.dilation)?;
        let j = at / self.geom.stride;
        (at % self.geom.stride == 0 && j < out).then_some(j)
    }

    /// `cols [m, cin] @ taps[t]` for every tap: `k` row-major `[m, cout]` matrices, computed in
    /// parallel over taps and blocks of [`ROWS`] rows.
    fn products(&self, cols: &[f32], m: usize) -> Vec<Vec<f32>> {
        (0..self.k)
            .into_par_iter()
            .map(|t| {
                let mut z = vec![0.0f32; m * self.cout];
                z.par_chunks_mut(ROWS * self.cout)
                    .enumerate()
                    .for_each(|(i, zc)| {
                        let rows = zc.len() / self.cout;
                        let a = &cols[i * ROWS * self.cin..][..rows * self.cin];
                        sgemm(
                            rows,
                            self.cout,
                            self.cin,
                            Mat::rows(a, self.cin),
                            Mat::rows(&self.taps[t], self.cout),
                            zc,
                            false,
                        );
                    });
                z
            })
            .collect()
    }

    /// The whole output for the input `x`.
    pub fn full(&self, x: &Columns) -> Result<Columns> {
        let out = self.out_len(x.len).ok_or_else(|| too_short(x.len))?;
        let z = self.products(&x.v, x.len);
        let mut v = vec![0.0f32; out * self.cout];
        v.par_chunks_mut(self.cout).enumerate().for_each(|(j, o)| {
            if let Some(b) = &self.bias {
                o.copy_from_slice(b);
            }
            for (t, zt) in z.iter().enumerate() {
                let q = (j * self.geom.stride + t * self.geom.dilation) as isize
                    - self.geom.pad_left as isize;
                if q >= 0 && (q as usize) < x.len {
                    for (a, &d) in o.iter_mut().zip(&zt[q as usize * self.cout..]) {
                        *a += d;
                    }
                }
            }
        });
        Ok(Columns {
            c: self.cout,
            len: out,
            v,
        })
    }

    /// The changed output columns of every variant: the reference output `y` (of the input
    /// `x`) plus the convolution of each variant's input change (its patch minus `x`), all
    /// variants' changed columns in one product per tap.
    pub fn patches(&self, x: &Columns, y: &Columns, patches: &[Patch]) -> Vec<Patch> {
        // Each variant's changed input columns, trimmed of unchanged ones at both ends (pooling
        // often absorbs a change), as rows of differences.
        let spans: Vec<(usize, usize)> = patches
            .iter()
            .map(|p| {
                let changed = |i: &usize| {
                    let i = p.start + i;
                    p.col(x, i) != x.col(i)
                };
                match (0..p.len).find(changed) {
                    Some(a) => {
                        let b = (0..p.len).rev().find(changed).unwrap_or(a);
                        (p.start + a, p.start + b + 1)
                    }
                    None => (0, 0),
                }
            })
            .collect();
        let mut first = Vec::with_capacity(patches.len());
        let mut m = 0;
        for &(a, b) in &spans {
            first.push(m);
            m += b - a;
        }
        let mut cols = vec![0.0f32; m * self.cin];
        for ((p, &(a, b)), &r) in patches.iter().zip(&spans).zip(&first) {
            for i in a..b {
                let dst = &mut cols[(r + i - a) * self.cin..][..self.cin];
                for ((d, &pv), &xv) in dst.iter_mut().zip(p.col(x, i)).zip(&x.v[i * x.c..]) {
                    *d = pv - xv;
                }
            }
        }
        let z = self.products(&cols, m);
        spans
            .par_iter()
            .zip(&first)
            .map(|(&(a, b), &r)| {
                let (lo, hi) = self.touched(a, b, y.len);
                let mut v = y.v[lo * self.cout..hi * self.cout].to_vec();
                for q in a..b {
                    for (t, zt) in z.iter().enumerate() {
                        let Some(j) = self.out_col(q, t, y.len) else {
                            continue;
                        };
                        if j < lo || j >= hi {
                            continue;
                        }
                        let src = &zt[(r + q - a) * self.cout..][..self.cout];
                        for (o, &d) in v[(j - lo) * self.cout..].iter_mut().zip(src) {
                            *o += d;
                        }
                    }
                }
                Patch {
                    start: lo,
                    len: hi - lo,
                    v,
                }
            })
            .collect()
    }
}

/// A layer that keeps the channels and computes each output column from a window of input
/// columns: an activation, an unpadded pooling or a per-channel affine map.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnMap {
    Relu,
    Sigmoid,
    Tanh,
    /// Max pooling over `k` columns at stride `s`, no padding.
    MaxPool {
        k: usize,
        s: usize,
    },
    /// Average pooling over `k` columns at stride `s`, no padding.
    AvgPool {
        k: usize,
        s: usize,
    },
    /// `x * scale + shift`, per channel.
    Affine {
        /// shape: `[c]`
        scale: Vec<f32>,
        /// shape: `[c]`
        shift: Vec<f32>,
    },
}

impl ColumnMap {
    /// Batch norm in evaluation mode, `gamma (x - mean) / sqrt(var + eps) + beta`, as
    /// `x * scale + shift` (all `[c]`).
    pub fn batch_norm(gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], eps: f32) -> Self {
        let scale: Vec<f32> = gamma
            .iter()
            .zip(var)
            .map(|(w, v)| w / (v + eps).sqrt())
            .collect();
        let shift = beta
            .iter()
            .zip(mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        ColumnMap::Affine { scale, shift }
    }

    /// Output length for an input of `l` columns; `None` when the input is too short.
    pub fn out_len(&self, l: usize) -> Option<usize> {
        match self {
            ColumnMap::MaxPool { k, s } | ColumnMap::AvgPool { k, s } => {
                (l >= *k).then(|| (l - k) / s + 1)
            }
            ColumnMap::Relu | ColumnMap::Sigmoid | ColumnMap::Tanh | ColumnMap::Affine { .. } => {
                Some(l)
            }
        }
    }

    /// The columns of the output (of `out`) a change of input columns `[a, b)` can change.
    pub fn touched(&self, a: usize, b: usize, out: usize) -> (usize, usize) {
        match self {
            ColumnMap::MaxPool { k, s } | ColumnMap::AvgPool { k, s } => {
                touched(a, b, *k, *s, 0, out)
            }
            ColumnMap::Relu | ColumnMap::Sigmoid | ColumnMap::Tanh | ColumnMap::Affine { .. } => {
                (a.min(out), b.min(out))
            }
        }
    }

    /// The output at columns `[lo, hi)` for the input `x` overlaid with `p`.
    pub fn slice(&self, x: &Columns, p: &Patch, lo: usize, hi: usize) -> Patch {
        let c = x.c;
        let mut v = vec![0.0f32; c * (hi - lo)];
        for (j, out) in (lo..hi).zip(v.chunks_mut(c.max(1))) {
            match self {
                ColumnMap::MaxPool { k, s } => {
                    out.fill(f32::NEG_INFINITY);
                    for i in j * s..j * s + k {
                        for (o, &a) in out.iter_mut().zip(p.col(x, i)) {
                            *o = o.max(a);
                        }
                    }
                }
                ColumnMap::AvgPool { k, s } => {
                    for i in j * s..j * s + k {
                        for (o, &a) in out.iter_mut().zip(p.col(x, i)) {
                            *o += a;
                        }
                    }
                    out.iter_mut().for_each(|o| *o /= *k as f32);
                }
                ColumnMap::Relu => {
                    for (o, &a) in out.iter_mut().zip(p.col(x, j)) {
                        *o = a.max(0.0);
                    }
                }
                ColumnMap::Sigmoid => {
                    for (o, &a) in out.iter_mut().zip(p.col(x, j)) {
                        *o = crate::tensor::sigmoid(a);
                    }
                }
                ColumnMap::Tanh => {
                    for (o, &a) in out.iter_mut().zip(p.col(x, j)) {
                        *o = a.tanh();
                    }
                }
                ColumnMap::Affine { scale, shift } => {
                    for (ch, (o, &a)) in out.iter_mut().zip(p.col(x, j)).enumerate() {
                        *o = a * scale[ch] + shift[ch];
                    }
                }
            }
        }
        Patch {
            start: lo,
            len: hi - lo,
            v,
        }
    }

    /// The whole output for the input `x`.
    pub fn full(&self, x: &Columns) -> Result<Columns> {
        let out = self.out_len(x.len).ok_or_else(|| too_short(x.len))?;
        let p = self.slice(x, &Patch::default(), 0, out);
        Ok(Columns {
            c: x.c,
            len: out,
            v: p.v,
        })
    }

    /// The changed output columns of every variant, for the input `x` with output `y`.
    pub fn patches(&self, x: &Columns, y: &Columns, patches: &[Patch]) -> Vec<Patch> {
        patches
            .par_iter()
            .map(|p| {
                let (lo, hi) = self.touched(p.start, p.start + p.len, y.len);
                self.slice(x, p, lo, hi)
            })
            .collect()
    }
}

/// A linear layer on the flattened activation `[c, len]`, with its weights in position-major
/// feature order, so the features of a run of columns are contiguous.
#[derive(Clone, Debug)]
pub struct LinearDelta {
    /// shape: [out, len * c]: feature `i * c + ch` is PyTorch's `ch * len + i`.
    w: Vec<f32>,
    /// shape: [out]
    bias: Option<Vec<f32>>,
    out: usize,
    /// Positions of the flattened activation.
    len: usize,
}

impl LinearDelta {
    /// The layer with `weight` `[out, c * len]` (row-major, features channel-major as a
    /// flatten of `[c, len]` gives them) and `bias` `[out]`.
    pub fn new(weight: &[f32], bias: Option<&[f32]>, c: usize, len: usize) -> LinearDelta {
        let features = c * len;
        let out = weight.len() / features.max(1);
        let mut w = vec![0.0f32; out * features];
        w.par_chunks_mut(features.max(1))
            .zip(weight.par_chunks(features.max(1)))
            .for_each(|(dst, row)| {
                for ch in 0..c {
                    for i in 0..len {
                        dst[i * c + ch] = row[ch * len + i];
                    }
                }
            });
        LinearDelta {
            w,
            bias: bias.map(<[f32]>::to_vec),
            out,
            len,
        }
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.out
    }

    /// The layer's output `[out]` for the activation `last`.
    pub fn reference(&self, last: &Columns) -> Result<Vec<f32>> {
        if last.len != self.len {
            return Err(Error::Config(format!(
                "the network's linear layer takes {} positions, the sequence gives {}",
                self.len, last.len
            )));
        }
        let feats = last.len * last.c;
        let mut h = self.bias.clone().unwrap_or_else(|| vec![0.0; self.out]);
        h.par_chunks_mut(LINEAR_ROWS)
            .enumerate()
            .for_each(|(bi, dst)| {
                let rows = dst.len();
                sgemm(
                    rows,
                    1,
                    feats,
                    Mat::rows(&self.w[bi * LINEAR_ROWS * feats..], feats),
                    Mat::rows(&last.v, 1),
                    dst,
                    true,
                );
            });
        Ok(h)
    }

    /// The outputs `[n, out]` (row-major) for the `n` variants of `last` given by `patches`:
    /// `h = h_ref + W[:, changed] (features - reference features)[changed]`, `h_ref` being
    /// [`LinearDelta::reference`] of `last`. Only the weights of the union of the variants'
    /// changed columns are read.
    pub fn outputs(&self, last: &Columns, h_ref: &[f32], patches: &[Patch]) -> Vec<f32> {
        let n = patches.len();
        let out = self.out;
        let c = last.c;
        let feats = last.len * c;
        // The union of the variants' changed columns, as one block of features.
        let (u0, u1) = patches
            .iter()
            .filter(|p| p.len > 0)
            .fold(None, |u: Option<(usize, usize)>, p| {
                let (a, b) = (p.start, p.start + p.len);
                Some(u.map_or((a, b), |(x, y)| (x.min(a), y.max(b))))
            })
            .unwrap_or((0, 0));
        let width = (u1 - u0) * c;
        let mut dx = vec![0.0f32; n * width];
        if width > 0 {
            dx.par_chunks_mut(width).zip(patches).for_each(|(row, p)| {
                for i in p.start..p.start + p.len {
                    let dst = &mut row[(i - u0) * c..][..c];
                    for ((d, &a), &r) in dst.iter_mut().zip(p.col(last, i)).zip(&last.v[i * c..]) {
                        *d = a - r;
                    }
                }
            });
        }
        // dh^T [out, n] = W[:, block] @ dx^T, in blocks of output rows.
        let mut dht = vec![0.0f32; out * n];
        dht.par_chunks_mut(LINEAR_ROWS * n)
            .enumerate()
            .for_each(|(bi, dst)| {
                let rows = dst.len() / n;
                let a = Mat {
                    data: &self.w[bi * LINEAR_ROWS * feats + u0 * c..],
                    rs: feats,
                    cs: 1,
                };
                sgemm(rows, n, width, a, Mat::rows_t(&dx, width), dst, false);
            });
        let mut h = vec![0.0f32; n * out];
        h.par_chunks_mut(out).enumerate().for_each(|(m, row)| {
            for (o, v) in row.iter_mut().enumerate() {
                *v = h_ref[o] + dht[o * n + m];
            }
        });
        h
    }
}

/// Every variant's activation in full, channel-major (`[n, c * len]`, row-major: the layout of
/// `[n, c, len]`): `last` overlaid with each patch.
pub fn channel_major(last: &Columns, patches: &[Patch]) -> Vec<f32> {
    let width = last.c * last.len;
    let mut x = vec![0.0f32; patches.len() * width];
    x.par_chunks_mut(width.max(1))
        .zip(patches)
        .for_each(|(dst, p)| {
            for i in 0..last.len {
                for (ch, &a) in p.col(last, i).iter().enumerate() {
                    dst[ch * last.len + i] = a;
                }
            }
        });
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::gradcheck::random;
    use crate::tensor::ops::pool::Pool1dGeom;
    use crate::tensor::{Array, Tape};
    use ndarray::IxDyn;

    /// `[1, c, len]` (the tape's layout) as position-major columns.
    fn columns(x: &Array) -> Columns {
        let (c, len) = (x.shape()[1], x.shape()[2]);
        let mut v = vec![0.0f32; c * len];
        for ch in 0..c {
            for i in 0..len {
                v[i * c + ch] = x[[0, ch, i]];
            }
        }
        Columns { c, len, v }
    }

    /// Columns back in the tape's layout `[1, c, len]`.
    fn array(x: &Columns) -> Array {
        Array::from_shape_fn(IxDyn(&[1, x.c, x.len]), |d| x.v[d[2] * x.c + d[1]])
    }

    fn close(got: &Columns, want: &Columns, what: &str) {
        assert_eq!((got.c, got.len), (want.c, want.len), "{what}");
        for (i, (a, b)) in got.v.iter().zip(&want.v).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{what}: element {i}: {a} vs {b}"
            );
        }
    }

    /// `x` overlaid with `p`, as a whole activation.
    fn overlaid(x: &Columns, p: &Patch) -> Columns {
        let v = (0..x.len).flat_map(|i| p.col(x, i).to_vec()).collect();
        Columns { v, ..x.clone() }
    }

    /// Variants of `x`: one changed column at each end and in the middle, a run of three, and
    /// a patch that changes nothing.
    fn variants(x: &Columns, seed: u64) -> Vec<Patch> {
        let runs = [(0, 1), (x.len - 1, 1), (x.len / 2, 1), (1, 3)];
        let mut patches: Vec<Patch> = runs
            .iter()
            .enumerate()
            .map(|(r, &(start, len))| Patch {
                start,
                len,
                v: random(&[len * x.c], seed + r as u64)
                    .iter()
                    .copied()
                    .collect(),
            })
            .collect();
        patches.push(Patch {
            start: 2,
            len: 2,
            v: x.v[2 * x.c..4 * x.c].to_vec(),
        });
        patches
    }

    /// Each variant's patch of the output against the layer on the whole overlaid input, and
    /// the output outside the patch against the reference output.
    fn check_patches(
        full: impl Fn(&Columns) -> Columns,
        patched: Vec<Patch>,
        x: &Columns,
        y: &Columns,
        inputs: &[Patch],
        what: &str,
    ) {
        for (p, q) in inputs.iter().zip(&patched) {
            let want = full(&overlaid(x, p));
            close(
                &overlaid(y, q),
                &want,
                &format!("{what}, patch at {}", p.start),
            );
        }
    }

    #[test]
    fn conv_delta_matches_the_tapes_conv1d_on_a_grid() {
        // (cin, cout, k, stride, pad_left, pad_right, dilation, len)
        let grid = [
            (4, 3, 5, 1, 0, 0, 1, 20),
            (4, 6, 5, 2, 1, 2, 1, 23),
            (3, 5, 3, 1, 2, 2, 2, 17),
            (5, 4, 4, 3, 0, 3, 2, 30),
            (2, 2, 1, 1, 0, 0, 1, 9),
            (6, 3, 3, 2, 4, 4, 3, 12),
        ];
        for (n, &(cin, cout, k, stride, pad_left, pad_right, dilation, len)) in
            grid.iter().enumerate()
        {
            let what = format!("case {n}");
            let geom = Conv1dGeom {
                stride,
                pad_left,
                pad_right,
                dilation,
            };
            let seed = 10 * n as u64;
            let w = random(&[cout, cin, k], seed);
            let b = random(&[cout], seed + 1);
            let xa = random(&[1, cin, len], seed + 2);
            for bias in [true, false] {
                let w3 = w.view().into_dimensionality::<ndarray::Ix3>().unwrap();
                let bv: Vec<f32> = b.iter().copied().collect();
                let conv = ConvDelta::new(w3, bias.then_some(&bv[..]), geom);
                let tape_conv = |x: &Columns| {
                    let mut tape = Tape::inference();
                    let xv = tape.constant(array(x));
                    let wv = tape.param(w.clone());
                    let bv = bias.then(|| tape.param(b.clone()));
                    let y = tape.conv1d(xv, wv, bv, geom).unwrap();
                    columns(tape.value(y))
                };
                let x = columns(&xa);
                let y = conv.full(&x).unwrap();
                close(&y, &tape_conv(&x), &what);
                let inputs = variants(&x, seed + 3);
                let patched = conv.patches(&x, &y, &inputs);
                check_patches(tape_conv, patched.clone(), &x, &y, &inputs, &what);
                // A patch that changes nothing changes no output column.
                assert_eq!(patched[4].len, 0, "{what}");
            }
        }
    }

    #[test]
    fn conv_delta_of_a_too_short_input_is_an_error() {
        let w = random(&[2, 4, 5], 1);
        let conv = ConvDelta::new(
            w.view().into_dimensionality().unwrap(),
            None,
            Conv1dGeom::default(),
        );
        let x = columns(&random(&[1, 4, 4], 2));
        let err = conv.full(&x).unwrap_err().to_string();
        assert!(err.contains("input length 4 is too short"), "{err}");
    }

    #[test]
    fn column_maps_match_the_tapes_activations_pooling_and_batch_norm() {
        let (c, len) = (3, 19);
        let xa = random(&[1, c, len], 7);
        let gamma = random(&[c], 8);
        let beta = random(&[c], 9);
        let mean = random(&[c], 10);
        let var = random(&[c], 11).mapv(|v| v.abs() + 0.5);
        let vec = |a: &Array| a.iter().copied().collect::<Vec<f32>>();
        let pool = |kernel, stride| Pool1dGeom {
            kernel,
            stride,
            padding: 0,
        };
        let maps = [
            ColumnMap::Relu,
            ColumnMap::Sigmoid,
            ColumnMap::Tanh,
            ColumnMap::MaxPool { k: 3, s: 2 },
            ColumnMap::MaxPool { k: 2, s: 2 },
            ColumnMap::AvgPool { k: 4, s: 3 },
            ColumnMap::AvgPool { k: 1, s: 1 },
            ColumnMap::batch_norm(&vec(&gamma), &vec(&beta), &vec(&mean), &vec(&var), 1e-5),
        ];
        for map in maps {
            let what = format!("{map:?}");
            let on_tape = |x: &Columns| {
                let mut tape = Tape::inference();
                let h = tape.constant(array(x));
                let y = match &map {
                    ColumnMap::Relu => tape.relu(h),
                    ColumnMap::Sigmoid => tape.sigmoid(h),
                    ColumnMap::Tanh => tape.tanh(h),
                    ColumnMap::MaxPool { k, s } => tape.max_pool1d(h, pool(*k, *s)).unwrap(),
                    ColumnMap::AvgPool { k, s } => tape.avg_pool1d(h, pool(*k, *s)).unwrap(),
                    ColumnMap::Affine { .. } => {
                        let (g, b) = (tape.param(gamma.clone()), tape.param(beta.clone()));
                        let running = (&vec(&mean)[..], &vec(&var)[..]);
                        tape.batch_norm(h, g, b, running, 1e-5, false).unwrap().0
                    }
                };
                columns(tape.value(y))
            };
            let x = columns(&xa);
            let y = map.full(&x).unwrap();
            close(&y, &on_tape(&x), &what);
            let inputs = variants(&x, 12);
            let patched = map.patches(&x, &y, &inputs);
            check_patches(on_tape, patched, &x, &y, &inputs, &what);
        }
        let short = columns(&random(&[1, c, 2], 1));
        assert!(ColumnMap::MaxPool { k: 3, s: 1 }.full(&short).is_err());
    }

    #[test]
    fn linear_delta_matches_the_tapes_flatten_and_linear() {
        let (c, len, out) = (3, 7, 40);
        let w = random(&[out, c * len], 1);
        let b = random(&[out], 2);
        let xa = random(&[1, c, len], 3);
        let bv: Vec<f32> = b.iter().copied().collect();
        let linear = LinearDelta::new(w.as_slice().unwrap(), Some(&bv), c, len);
        assert_eq!(linear.out_features(), out);
        let on_tape = |x: &Columns| -> Vec<f32> {
            let mut tape = Tape::inference();
            let h = tape.constant(array(x));
            let h = tape.flatten(h).unwrap();
            let (wv, bv) = (tape.param(w.clone()), tape.param(b.clone()));
            let y = tape.linear(h, wv, Some(bv)).unwrap();
            tape.value(y).iter().copied().collect()
        };
        let near = |got: &[f32], want: &[f32], what: &str| {
            for (a, b) in got.iter().zip(want) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{what}: {a} vs {b}"
                );
            }
        };
        let x = columns(&xa);
        let h_ref = linear.reference(&x).unwrap();
        near(&h_ref, &on_tape(&x), "reference");
        let inputs = variants(&x, 4);
        let h = linear.outputs(&x, &h_ref, &inputs);
        for (p, got) in inputs.iter().zip(h.chunks(out)) {
            near(
                got,
                &on_tape(&overlaid(&x, p)),
                &format!("patch at {}", p.start),
            );
        }
        // The features of every variant, channel-major as a flatten gives them.
        let feats = channel_major(&x, &inputs);
        for (p, row) in inputs.iter().zip(feats.chunks(c * len)) {
            let want: Vec<f32> = array(&overlaid(&x, p)).iter().copied().collect();
            assert_eq!(row, &want[..]);
        }
        let err = linear
            .reference(&columns(&random(&[1, c, len + 1], 5)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("takes 7 positions, the sequence gives 8"),
            "{err}"
        );
    }

    #[test]
    fn touched_columns_cover_every_window_that_reads_the_change() {
        // Window j reads [j * s - pad, j * s - pad + span); brute force against the formula.
        for (span, s, pad, inputs) in [(5, 2, 1, 20), (3, 1, 0, 10), (7, 3, 3, 25), (1, 1, 0, 4)] {
            let out = (inputs + 2 * pad - span) / s + 1;
            for a in 0..inputs {
                for b in a + 1..=inputs.min(a + 3) {
                    let hit: Vec<usize> = (0..out)
                        .filter(|&j| {
                            let lo = (j * s) as isize - pad as isize;
                            let hi = lo + span as isize;
                            (a as isize) < hi && (b as isize) > lo
                        })
                        .collect();
                    let (lo, hi) = touched(a, b, span, s, pad, out);
                    assert_eq!(
                        (lo..hi).collect::<Vec<_>>(),
                        hit,
                        "span {span} stride {s} pad {pad}: [{a}, {b})"
                    );
                }
            }
            assert_eq!(touched(3, 3, span, s, pad, out), (0, 0));
        }
    }
}
