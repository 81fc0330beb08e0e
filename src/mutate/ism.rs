//! Saturation mutagenesis by brute force ([`naive_ism`]): all mutants of one sequence built and
//! scored in batches, so memory is bounded by the batch size, not by the number of mutants; and
//! by recomputing only each layer's slice inside the changed base's receptive field
//! ([`fast_ism`], [`FastIsm`]): the change of every mutant of a batch goes through each
//! convolution as one matrix product per tap, and through a following flatten + linear layer as
//! one product over the weights of the changed features only.

use crate::arch::{Arch, InputSpec};
use crate::encode::{self, NMode};
use crate::model::Model;
use crate::nn::Network;
use crate::score::{Scorer, to_output};
use crate::tensor::ops::conv::Conv1dGeom;
use crate::tensor::ops::gemm::{Mat, sgemm};
use crate::tensor::{Array, Tape};
use crate::{Error, Result};
use ndarray::{Array2, IxDyn};
use rayon::prelude::*;
use std::sync::Arc;

/// The four bases in the order alternatives are listed.
const BASES: [u8; 4] = *b"ACGT";

/// One single-base substitution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mutation {
    /// 0-based position in the sequence.
    pub pos: usize,
    /// The base at `pos`, upper-cased (N or another IUPAC code when the sequence has one).
    pub ref_base: u8,
    /// The substituted base: one of A, C, G, T, never equal to `ref_base`.
    pub alt: u8,
}

/// Every single-base substitution of `seq`, by position then alternative in ACGT order: three
/// per A/C/G/T position; four (all of ACGT) at a position holding N or another code.
///
/// ```
/// use seqcnn::mutate::mutations;
/// let m = mutations(b"aN");
/// assert_eq!(m.len(), 3 + 4);
/// assert_eq!((m[0].pos, m[0].ref_base, m[0].alt), (0, b'A', b'C'));
/// assert_eq!((m[3].pos, m[3].ref_base, m[3].alt), (1, b'N', b'A'));
/// ```
pub fn mutations(seq: &[u8]) -> Vec<Mutation> {
    let mut out = Vec::with_capacity(3 * seq.len());
    for (pos, &b) in seq.iter().enumerate() {
        let ref_base = b.to_ascii_uppercase();
        for &alt in BASES.iter().filter(|&&a| a != ref_base) {
            out.push(Mutation { pos, ref_base, alt });
        }
    }
    out
}

/// Scores of one sequence and of all its single-base mutants.
#[derive(Clone, Debug)]
pub struct IsmScores {
    /// The substitutions, in [`mutations`] order.
    pub mutations: Vec<Mutation>,
    /// shape: [tasks]: the unmutated sequence's scores (what `predict` gives).
    pub reference: Vec<f32>,
    /// shape: [mutations, tasks]: each mutant's scores.
    pub mutants: Array2<f32>,
}

impl IsmScores {
    /// Mutant minus reference, per mutation and task.
    pub fn diff(&self) -> Array2<f32> {
        let mut d = self.mutants.clone();
        for mut row in d.rows_mut() {
            for (v, r) in row.iter_mut().zip(&self.reference) {
                *v -= r;
            }
        }
        d
    }
}

/// Saturation mutagenesis by definition: each mutant sequence built and scored whole, `batch`
/// mutants per call to the scorer. `raw` scores with [`Scorer::score_raw`] (logits), otherwise
/// [`Scorer::score`] (the output scale).
pub fn naive_ism(scorer: &Scorer, seq: &[u8], raw: bool, batch: usize) -> Result<IsmScores> {
    let score = |seqs: &[&[u8]]| {
        if raw {
            scorer.score_raw(seqs)
        } else {
            scorer.score(seqs)
        }
    };
    let reference: Vec<f32> = score(&[seq])?.iter().copied().collect();
    let tasks = reference.len();
    let muts = mutations(seq);
    let mut mutants = Array2::<f32>::zeros((muts.len(), tasks));
    let batch = batch.max(1);
    let mut bufs: Vec<Vec<u8>> = Vec::with_capacity(batch);
    for (c, chunk) in muts.chunks(batch).enumerate() {
        bufs.resize_with(chunk.len(), Vec::new);
        for (buf, m) in bufs.iter_mut().zip(chunk) {
            buf.clear();
            buf.extend_from_slice(seq);
            buf[m.pos] = m.alt;
        }
        let refs: Vec<&[u8]> = bufs[..chunk.len()].iter().map(|b| b.as_slice()).collect();
        let y = score(&refs)?;
        mutants
            .slice_mut(ndarray::s![c * batch..c * batch + chunk.len(), ..])
            .assign(&y);
    }
    Ok(IsmScores {
        mutations: muts,
        reference,
        mutants,
    })
}

/// Rows of a product computed by one task (fixed, so results do not depend on the thread count).
const ROWS: usize = 256;

/// One activation of one sequence, position-major: `[len, c]`, column `i` at `v[i * c..][..c]`.
#[derive(Clone, Debug)]
struct Act {
    c: usize,
    len: usize,
    v: Vec<f32>,
}

/// The changed columns `[start, start + len)` of an activation, position-major `[len, c]`.
#[derive(Clone, Debug, Default)]
struct Patch {
    start: usize,
    len: usize,
    v: Vec<f32>,
}

impl Patch {
    /// Column `i` of `x` overlaid with this patch.
    fn col<'a>(&'a self, x: &'a Act, i: usize) -> &'a [f32] {
        if i >= self.start && i < self.start + self.len {
            &self.v[(i - self.start) * x.c..][..x.c]
        } else {
            &x.v[i * x.c..][..x.c]
        }
    }
}

/// Output columns `[lo, hi)` touched by input columns `[a, b)` for a window of `span` inputs at
/// stride `s` starting at `j * s - pad`, out of `out` columns.
fn touched(a: usize, b: usize, span: usize, s: usize, pad: usize, out: usize) -> (usize, usize) {
    if a >= b {
        return (0, 0);
    }
    let lo = (a + pad).saturating_sub(span - 1).div_ceil(s);
    let hi = ((b - 1 + pad) / s + 1).min(out);
    (lo.min(hi), hi)
}

/// A convolution of the prefix, its weights laid out per tap for products with many columns.
struct Conv {
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

impl Conv {
    fn span(&self) -> usize {
        self.geom.dilation * (self.k - 1) + 1
    }

    fn out_len(&self, l: usize) -> Option<usize> {
        self.geom.out_len(l, self.k)
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
    fn full(&self, x: &Act) -> Result<Act> {
        let out = self.out_len(x.len).ok_or_else(|| {
            Error::Config(format!(
                "input length {} is too short for the network",
                x.len
            ))
        })?;
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
        Ok(Act {
            c: self.cout,
            len: out,
            v,
        })
    }

    /// The changed output columns of every mutant: the reference output `y` plus the
    /// convolution of each mutant's input change (its patch minus the reference input `x`), all
    /// mutants' changed columns in one product per tap.
    fn patches(&self, x: &Act, y: &Act, patches: &[Patch]) -> Vec<Patch> {
        // Each mutant's changed input columns, trimmed of unchanged ones at both ends (pooling
        // often absorbs a change), as rows of differences.
        let spans: Vec<(usize, usize)> = patches
            .iter()
            .map(|p| {
                let changed = |i: &usize| {
                    let i = p.start + i;
                    p.col(x, i) != &x.v[i * x.c..][..x.c]
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
                let (lo, hi) = touched(
                    a,
                    b,
                    self.span(),
                    self.geom.stride,
                    self.geom.pad_left,
                    y.len,
                );
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

/// One layer of the convolutional prefix.
enum Step {
    Conv(Conv),
    Relu,
    Sigmoid,
    Tanh,
    MaxPool {
        k: usize,
        s: usize,
    },
    AvgPool {
        k: usize,
        s: usize,
    },
    /// Batch norm in eval mode as `x * scale + shift`, per channel.
    Affine {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
}

impl Step {
    /// Output length for an input of `l` columns; `None` when the input is too short.
    fn out_len(&self, l: usize) -> Option<usize> {
        match self {
            Step::Conv(conv) => conv.out_len(l),
            Step::MaxPool { k, s } | Step::AvgPool { k, s } => (l >= *k).then(|| (l - k) / s + 1),
            _ => Some(l),
        }
    }

    /// A layer other than a convolution: its output at columns `[lo, hi)` for the input `x`
    /// overlaid with `p`.
    fn slice(&self, x: &Act, p: &Patch, lo: usize, hi: usize) -> Patch {
        let c = x.c;
        let mut v = vec![0.0f32; c * (hi - lo)];
        for (j, out) in (lo..hi).zip(v.chunks_mut(c.max(1))) {
            match self {
                Step::MaxPool { k, s } => {
                    out.fill(f32::NEG_INFINITY);
                    for i in j * s..j * s + k {
                        for (o, &a) in out.iter_mut().zip(p.col(x, i)) {
                            *o = o.max(a);
                        }
                    }
                }
                Step::AvgPool { k, s } => {
                    for i in j * s..j * s + k {
                        for (o, &a) in out.iter_mut().zip(p.col(x, i)) {
                            *o += a;
                        }
                    }
                    out.iter_mut().for_each(|o| *o /= *k as f32);
                }
                _ => {
                    for (ch, (o, &a)) in out.iter_mut().zip(p.col(x, j)).enumerate() {
                        *o = match self {
                            Step::Relu => a.max(0.0),
                            Step::Sigmoid => crate::tensor::sigmoid(a),
                            Step::Tanh => a.tanh(),
                            Step::Affine { scale, shift } => a * scale[ch] + shift[ch],
                            _ => a,
                        };
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

    /// The columns of the output (of `out`) a change of input columns `[a, b)` can change.
    fn touched(&self, a: usize, b: usize, out: usize) -> (usize, usize) {
        match self {
            Step::Conv(conv) => {
                touched(a, b, conv.span(), conv.geom.stride, conv.geom.pad_left, out)
            }
            Step::MaxPool { k, s } | Step::AvgPool { k, s } => touched(a, b, *k, *s, 0, out),
            _ => (a.min(out), b.min(out)),
        }
    }
}

/// What follows the convolutional prefix.
enum Head {
    /// Flatten then a linear layer, updated by the change of each mutant's features only:
    /// `h = h_ref + W[:, changed] (features - reference features)[changed]`; then the `tail`
    /// layers on `[N, out, 1]`.
    Linear {
        /// shape: [out, len * c]: the linear weights with features in position-major order
        /// (PyTorch's flatten is channel-major: feature `ch * len + i` is column `i * c + ch`
        /// here), so the features of a run of positions are one contiguous block.
        w: Vec<f32>,
        /// shape: [out]
        bias: Option<Vec<f32>>,
        out: usize,
        /// Positions the flatten sees (the linear's inputs over the last prefix's channels).
        len: usize,
        tail: Network,
        tail_params: Vec<Arc<Array>>,
    },
    /// The rest of the network (global pooling, say) run whole on the patched features, with
    /// the model's parameters from index `first_param` on.
    Whole {
        specs: Vec<crate::arch::LayerSpec>,
        first_param: usize,
    },
}

/// A model prepared for fast ISM ([`fast_ism`]): its convolutional prefix as steps run on the
/// changed columns of many mutants at once, and its head. Prepare once per model and call
/// [`FastIsm::run`] per sequence. It holds a copy of the convolution weights and, when a flatten
/// and a linear layer follow the prefix, of that layer's weights in position-major order (for
/// DeepSEA 188 MB, as large as the model's own copy). Results do not depend on the thread count:
/// products are split into fixed blocks.
pub struct FastIsm<'m> {
    model: &'m Model,
    steps: Vec<Step>,
    head: Head,
}

impl<'m> FastIsm<'m> {
    /// `None` when the network is not a plain sequential stack of supported layers: fast ISM
    /// handles convolutions, activations, unpadded pooling, eval-mode batch norm and dropout up
    /// to the first flatten or global pooling; anything after that is run as it is.
    pub fn new(model: &'m Model) -> Result<Option<FastIsm<'m>>> {
        use crate::arch::LayerSpec as L;
        let specs = &model.arch.layers;
        let index = |layer: usize, suffix: &str| {
            model
                .net
                .params()
                .iter()
                .position(|p| p.layer == layer && p.suffix == suffix)
        };
        let param = |layer: usize, suffix: &str| -> Option<Vec<f32>> {
            index(layer, suffix).map(|i| model.params[i].iter().copied().collect())
        };
        let mut steps = Vec::new();
        let mut split = specs.len();
        let mut channels = model.arch.input.channels;
        for (i, spec) in specs.iter().enumerate() {
            let step = match spec {
                L::Conv1d {
                    out_channels,
                    kernel_size,
                    stride,
                    padding,
                    dilation,
                    ..
                } => {
                    let (pad_left, pad_right) =
                        padding.resolve(*kernel_size, *dilation, *stride)?;
                    let Some(w) = param(i, "weight") else {
                        return Ok(None);
                    };
                    let (cin, cout, k) = (channels, *out_channels, *kernel_size);
                    if w.len() != cout * cin * k {
                        return Ok(None);
                    }
                    let taps = (0..k)
                        .map(|t| {
                            let mut m = vec![0.0f32; cin * cout];
                            for o in 0..cout {
                                for c in 0..cin {
                                    m[c * cout + o] = w[(o * cin + c) * k + t];
                                }
                            }
                            m
                        })
                        .collect();
                    channels = cout;
                    Step::Conv(Conv {
                        taps,
                        bias: param(i, "bias"),
                        cin,
                        cout,
                        k,
                        geom: Conv1dGeom {
                            stride: *stride,
                            pad_left,
                            pad_right,
                            dilation: *dilation,
                        },
                    })
                }
                L::Relu {} => Step::Relu,
                L::Sigmoid {} => Step::Sigmoid,
                L::Tanh {} => Step::Tanh,
                L::Dropout { .. } => continue,
                L::MaxPool1d {
                    kernel_size,
                    stride,
                    padding: 0,
                } => Step::MaxPool {
                    k: *kernel_size,
                    s: stride.unwrap_or(*kernel_size),
                },
                L::AvgPool1d {
                    kernel_size,
                    stride,
                    padding: 0,
                } => Step::AvgPool {
                    k: *kernel_size,
                    s: stride.unwrap_or(*kernel_size),
                },
                L::Batchnorm1d { eps, .. } => {
                    let (Some(w), Some(b), Some(m), Some(v)) = (
                        param(i, "weight"),
                        param(i, "bias"),
                        param(i, "running_mean"),
                        param(i, "running_var"),
                    ) else {
                        return Ok(None);
                    };
                    let scale: Vec<f32> = w
                        .iter()
                        .zip(&v)
                        .map(|(w, v)| w / (v + eps).sqrt())
                        .collect();
                    let shift = b
                        .iter()
                        .zip(&m)
                        .zip(&scale)
                        .map(|((b, m), s)| b - m * s)
                        .collect();
                    Step::Affine { scale, shift }
                }
                L::Flatten {}
                | L::GlobalMaxPool {}
                | L::GlobalAvgPool {}
                | L::GlobalMaxAvgPool {} => {
                    split = i;
                    break;
                }
                _ => return Ok(None),
            };
            steps.push(step);
        }
        if split == specs.len() || !steps.iter().any(|s| matches!(s, Step::Conv(_))) {
            return Ok(None);
        }
        let first_param = model
            .net
            .params()
            .iter()
            .position(|p| p.layer >= split)
            .unwrap_or(model.params.len());
        let whole = Head::Whole {
            specs: specs[split..].to_vec(),
            first_param,
        };
        // Flatten, (dropout,) linear: the linear is updated incrementally.
        let linear = specs
            .iter()
            .enumerate()
            .skip(split + 1)
            .find(|(_, s)| !matches!(s, L::Dropout { .. }));
        let head = match (&specs[split], linear) {
            (L::Flatten {}, Some((li, L::Linear { .. }))) => {
                let Some(wi) = index(li, "weight") else {
                    return Ok(None);
                };
                let shape = model.params[wi].shape().to_vec();
                let (out, features) = (shape[0], shape[1]);
                if channels == 0 || features % channels != 0 {
                    return Ok(Some(FastIsm {
                        model,
                        steps,
                        head: whole,
                    }));
                }
                let len = features / channels;
                let src = model.params[wi]
                    .as_slice()
                    .ok_or_else(|| Error::Config("linear weights are not contiguous".into()))?;
                let mut w = vec![0.0f32; out * features];
                w.par_chunks_mut(features)
                    .zip(src.par_chunks(features))
                    .for_each(|(dst, row)| {
                        for ch in 0..channels {
                            for i in 0..len {
                                dst[i * channels + ch] = row[ch * len + i];
                            }
                        }
                    });
                let mut layers = vec![L::Flatten {}];
                layers.extend_from_slice(&specs[li + 1..]);
                let tail_arch = Arch {
                    name: "fast_ism_tail".into(),
                    description: String::new(),
                    input: InputSpec {
                        channels: out,
                        length: Some(1),
                        ..Default::default()
                    },
                    loss: model.arch.loss,
                    layers,
                };
                let tail = Network::build(&tail_arch, model.meta.tasks.len())?;
                let first_tail = model
                    .net
                    .params()
                    .iter()
                    .position(|p| p.layer > li)
                    .unwrap_or(model.params.len());
                let tail_params: Vec<Arc<Array>> = model.params[first_tail..]
                    .iter()
                    .map(|p| Arc::new(p.clone()))
                    .collect();
                let check: Vec<Array> = tail_params.iter().map(|p| (**p).clone()).collect();
                tail.check_params(&check)?;
                Head::Linear {
                    w,
                    bias: param(li, "bias"),
                    out,
                    len,
                    tail,
                    tail_params,
                }
            }
            _ => whole,
        };
        Ok(Some(FastIsm { model, steps, head }))
    }

    /// Every layer's activation for the sequence `seq` (as the network sees it).
    fn activations(&self, seq: &[u8]) -> Result<Vec<Act>> {
        let len = seq.len();
        let x = encode::encode_batch(&[seq], len, NMode::Quarter)
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut v = vec![0.0f32; 4 * len];
        for ((_, c, i), &a) in x.indexed_iter() {
            v[i * 4 + c] = a;
        }
        let mut acts = vec![Act { c: 4, len, v }];
        for step in &self.steps {
            let x = &acts[acts.len() - 1];
            let next = match step {
                Step::Conv(conv) => conv.full(x)?,
                _ => {
                    let out = step.out_len(x.len).ok_or_else(|| {
                        Error::Config(format!(
                            "input length {} is too short for the network",
                            x.len
                        ))
                    })?;
                    let p = step.slice(x, &Patch::default(), 0, out);
                    Act {
                        c: x.c,
                        len: out,
                        v: p.v,
                    }
                }
            };
            acts.push(next);
        }
        Ok(acts)
    }

    /// The changed columns of the last prefix activation for each of the mutants `(position,
    /// base)` of the sequence whose activations are `acts`.
    fn prefix(&self, acts: &[Act], muts: &[(usize, u8)]) -> Vec<Patch> {
        let mut patches: Vec<Patch> = muts
            .iter()
            .map(|&(pos, base)| {
                let mut v = vec![0.0f32; 4];
                match BASES.iter().position(|&b| b == base) {
                    Some(i) => v[i] = 1.0,
                    None => v.fill(0.25),
                }
                Patch {
                    start: pos,
                    len: 1,
                    v,
                }
            })
            .collect();
        for (i, step) in self.steps.iter().enumerate() {
            let (x, y) = (&acts[i], &acts[i + 1]);
            patches = match step {
                Step::Conv(conv) => conv.patches(x, y, &patches),
                _ => patches
                    .par_iter()
                    .map(|p| {
                        let (lo, hi) = step.touched(p.start, p.start + p.len, y.len);
                        step.slice(x, p, lo, hi)
                    })
                    .collect(),
            };
        }
        patches
    }

    /// Raw outputs `[mutants, tasks]` of the head for the last prefix activation `last` and
    /// each mutant's changed columns of it.
    fn head(&self, last: &Act, h_ref: &[f32], patches: &[Patch]) -> Result<Array2<f32>> {
        let n = patches.len();
        let to_2d = |y: &Array| {
            y.clone()
                .into_dimensionality::<ndarray::Ix2>()
                .map_err(|_| Error::Config("the model's output is not [N, tasks]".into()))
        };
        match &self.head {
            Head::Linear {
                w,
                out,
                tail,
                tail_params,
                ..
            } => {
                let c = last.c;
                let feats = last.len * c;
                // The union of the mutants' changed columns, as one block of features.
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
                            for ((d, &a), &r) in
                                dst.iter_mut().zip(p.col(last, i)).zip(&last.v[i * c..])
                            {
                                *d = a - r;
                            }
                        }
                    });
                }
                // dh^T [out, n] = W[:, block] @ dx^T, in blocks of output rows.
                let mut dht = vec![0.0f32; out * n];
                let block = 32;
                dht.par_chunks_mut(block * n)
                    .enumerate()
                    .for_each(|(bi, dst)| {
                        let rows = dst.len() / n;
                        let a = Mat {
                            data: &w[bi * block * feats + u0 * c..],
                            rs: feats,
                            cs: 1,
                        };
                        sgemm(rows, n, width, a, Mat::rows_t(&dx, width), dst, false);
                    });
                let mut h = vec![0.0f32; n * out];
                h.par_chunks_mut(*out).enumerate().for_each(|(m, row)| {
                    for (o, v) in row.iter_mut().enumerate() {
                        *v = h_ref[o] + dht[o * n + m];
                    }
                });
                let x = Array::from_shape_vec(IxDyn(&[n, *out, 1]), h)
                    .map_err(|e| Error::Config(format!("fast ISM batch: {e}")))?;
                let mut tape = Tape::inference();
                let xv = tape.constant(x);
                let pv: Vec<_> = tail_params
                    .iter()
                    .map(|p| tape.param_shared(p.clone()))
                    .collect();
                let y = tail.infer(&mut tape, xv, &pv)?;
                to_2d(tape.value(y))
            }
            Head::Whole { specs, first_param } => {
                let arch = Arch {
                    name: "fast_ism_rest".into(),
                    description: String::new(),
                    input: InputSpec {
                        channels: last.c,
                        length: Some(last.len),
                        ..Default::default()
                    },
                    loss: self.model.arch.loss,
                    layers: specs.clone(),
                };
                let rest = Network::build(&arch, self.model.meta.tasks.len())?;
                let params = &self.model.params[*first_param..];
                rest.check_params(params)?;
                // Channel-major features of each mutant, as the network takes them.
                let width = last.c * last.len;
                let mut x = vec![0.0f32; n * width];
                x.par_chunks_mut(width).zip(patches).for_each(|(dst, p)| {
                    for i in 0..last.len {
                        for (ch, &a) in p.col(last, i).iter().enumerate() {
                            dst[ch * last.len + i] = a;
                        }
                    }
                });
                let x = Array::from_shape_vec(IxDyn(&[n, last.c, last.len]), x)
                    .map_err(|e| Error::Config(format!("fast ISM batch: {e}")))?;
                let mut tape = Tape::inference();
                let xv = tape.constant(x);
                let pv: Vec<_> = params.iter().map(|p| tape.param(p.clone())).collect();
                let y = rest.infer(&mut tape, xv, &pv)?;
                to_2d(tape.value(y))
            }
        }
    }

    /// The head's input for the reference (the first linear's output for a [`Head::Linear`]).
    fn head_reference(&self, last: &Act) -> Result<Vec<f32>> {
        match &self.head {
            Head::Linear {
                w, bias, out, len, ..
            } => {
                if last.len != *len {
                    return Err(Error::Config(format!(
                        "the network's linear layer takes {len} positions, the sequence gives {}",
                        last.len
                    )));
                }
                let feats = last.len * last.c;
                let mut h = bias.clone().unwrap_or_else(|| vec![0.0; *out]);
                h.par_chunks_mut(32).enumerate().for_each(|(bi, dst)| {
                    let rows = dst.len();
                    sgemm(
                        rows,
                        1,
                        feats,
                        Mat::rows(&w[bi * 32 * feats..], feats),
                        Mat::rows(&last.v, 1),
                        dst,
                        true,
                    );
                });
                Ok(h)
            }
            Head::Whole { .. } => Ok(Vec::new()),
        }
    }

    /// Saturation mutagenesis of `seq` (see [`fast_ism`]); `None` when the sequence is outside
    /// what this path handles (a DeepBind model scoring more than one window).
    pub fn run(
        &self,
        scorer: &Scorer,
        seq: &[u8],
        raw: bool,
        batch: usize,
    ) -> Result<Option<IsmScores>> {
        let model = self.model;
        let pres = scorer.presentation()?;
        // One input per strand: the whole sequence (padded for DeepBind models, which are
        // scored raw); a DeepBind model scoring several windows is outside this path.
        if pres.window_len(seq.len()) != seq.len() {
            return Ok(None);
        }
        let (input, offset) = (pres.padded(seq, 0, seq.len()), pres.pad);
        let scaled = model.meta.scoring.is_plain() && !raw;
        let reference: Vec<f32> = if raw {
            scorer.score_raw(&[seq])?
        } else {
            scorer.score(&[seq])?
        }
        .iter()
        .copied()
        .collect();
        let tasks = reference.len();
        let mut strands = vec![input.clone()];
        if pres.both_strands() {
            strands.push(encode::reverse_complement(&input));
        }
        let len = input.len();
        let acts: Vec<Vec<Act>> = strands
            .iter()
            .map(|s| self.activations(s))
            .collect::<Result<_>>()?;
        let h_refs: Vec<Vec<f32>> = acts
            .iter()
            .map(|a| self.head_reference(&a[a.len() - 1]))
            .collect::<Result<_>>()?;
        let scale = |y: Array2<f32>| {
            if scaled {
                to_output(model.arch.loss, y)
            } else {
                y
            }
        };
        let muts = mutations(seq);
        let mut mutants = Array2::<f32>::zeros((muts.len(), tasks));
        let batch = batch.max(1);
        for (ci, chunk) in muts.chunks(batch).enumerate() {
            let mut outs = Vec::with_capacity(strands.len());
            for (si, (a, h_ref)) in acts.iter().zip(&h_refs).enumerate() {
                let at: Vec<(usize, u8)> = chunk
                    .iter()
                    .map(|m| {
                        if si == 0 {
                            (offset + m.pos, m.alt)
                        } else {
                            (
                                len - 1 - (offset + m.pos),
                                encode::reverse_complement(&[m.alt])[0],
                            )
                        }
                    })
                    .collect();
                let patches = self.prefix(a, &at);
                outs.push(self.head(&a[a.len() - 1], h_ref, &patches)?);
            }
            let mut it = outs.into_iter();
            let f = it.next().unwrap_or_default();
            let y = pres.combine(f, it.next(), scale);
            mutants
                .slice_mut(ndarray::s![ci * batch..ci * batch + chunk.len(), ..])
                .assign(&y);
        }
        Ok(Some(IsmScores {
            mutations: muts,
            reference,
            mutants,
        }))
    }
}

/// Saturation mutagenesis the fastISM way (Nair et al. 2021): the convolutional prefix of the
/// network (convolutions, activations, pooling, eval-mode batch norm and dropout, up to the first
/// flatten or global pooling) is run once on the sequence; for each mutant only the columns of
/// each layer inside the changed base's receptive field are recomputed, as the reference
/// activation plus the convolution of the change, with the changed columns of a whole batch of
/// mutants in one matrix product per layer and tap. A flatten followed by a linear layer is
/// updated the same way (only the weights of the changed features are read); the rest of the
/// network runs on the patched features. Equal to [`naive_ism`] up to float rounding.
///
/// `Ok(None)` when the model or sequence is outside what this path handles (a network with
/// residual blocks or padded pooling, a DeepBind model scoring more than one window): use
/// [`naive_ism`] then. The reference scores come from the scorer, as in `predict`. For many
/// sequences, prepare the model once with [`FastIsm::new`].
pub fn fast_ism(
    model: &Model,
    scorer: &Scorer,
    seq: &[u8],
    raw: bool,
    batch: usize,
) -> Result<Option<IsmScores>> {
    match FastIsm::new(model)? {
        Some(f) => f.run(scorer, seq, raw, batch),
        None => Ok(None),
    }
}
