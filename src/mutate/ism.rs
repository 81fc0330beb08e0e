//! Saturation mutagenesis by brute force ([`naive_ism`]): all mutants of one sequence built and
//! scored in batches, so memory is bounded by the batch size, not by the number of mutants; and
//! by recomputing only each layer's slice inside the changed base's receptive field
//! ([`fast_ism`]).

use crate::arch::{Arch, InputSpec};
use crate::encode::{self, NMode};
use crate::model::Model;
use crate::nn::Network;
use crate::score::{Scorer, Scoring, Strand, to_output};
use crate::tensor::ops::conv::Conv1dGeom;
use crate::tensor::{Array, Tape};
use crate::{Error, Result};
use ndarray::{Array2, IxDyn, Zip};
use rayon::prelude::*;

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

/// One layer of the convolutional prefix, as [`fast_ism`] runs it on a slice.
enum Step {
    /// shape: w [out, in, k]; b [out].
    Conv {
        w: Vec<f32>,
        b: Option<Vec<f32>>,
        cout: usize,
        k: usize,
        geom: Conv1dGeom,
    },
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

/// The activations of one layer for one sequence: `[channels, len]`, row-major.
#[derive(Clone)]
struct Act {
    c: usize,
    len: usize,
    v: Vec<f32>,
}

/// The changed columns `[start, start + len)` of an activation, `[c, len]` row-major.
struct Patch {
    start: usize,
    len: usize,
    v: Vec<f32>,
}

impl Patch {
    fn get(&self, x: &Act, c: usize, i: usize) -> f32 {
        if i >= self.start && i < self.start + self.len {
            self.v[c * self.len + i - self.start]
        } else {
            x.v[c * x.len + i]
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

impl Step {
    /// Output length for an input of `l` columns; `None` when the input is too short.
    fn out_len(&self, l: usize) -> Option<usize> {
        match self {
            Step::Conv { k, geom, .. } => geom.out_len(l, *k),
            Step::MaxPool { k, s } | Step::AvgPool { k, s } => (l >= *k).then(|| (l - k) / s + 1),
            _ => Some(l),
        }
    }

    /// This layer's output at columns `[lo, hi)` for the input `x` overlaid with `p`.
    fn slice(&self, x: &Act, p: &Patch, lo: usize, hi: usize) -> Patch {
        let n = hi - lo;
        let cin = x.c;
        let v = match self {
            Step::Conv {
                w,
                b,
                cout,
                k,
                geom,
            } => {
                let mut out = vec![0.0f32; cout * n];
                for o in 0..*cout {
                    let bias = b.as_ref().map_or(0.0, |b| b[o]);
                    for j in lo..hi {
                        let mut acc = bias;
                        for t in 0..*k {
                            let pos = (j * geom.stride + t * geom.dilation) as isize
                                - geom.pad_left as isize;
                            if pos < 0 || pos as usize >= x.len {
                                continue;
                            }
                            for c in 0..cin {
                                acc += w[(o * cin + c) * k + t] * p.get(x, c, pos as usize);
                            }
                        }
                        out[o * n + j - lo] = acc;
                    }
                }
                out
            }
            Step::MaxPool { k, s } | Step::AvgPool { k, s } => {
                let max = matches!(self, Step::MaxPool { .. });
                let mut out = vec![0.0f32; cin * n];
                for c in 0..cin {
                    for j in lo..hi {
                        let vals = (j * s..j * s + k).map(|i| p.get(x, c, i));
                        out[c * n + j - lo] = if max {
                            vals.fold(f32::NEG_INFINITY, f32::max)
                        } else {
                            vals.sum::<f32>() / *k as f32
                        };
                    }
                }
                out
            }
            _ => {
                let mut out = vec![0.0f32; cin * n];
                for c in 0..cin {
                    for j in lo..hi {
                        let v = p.get(x, c, j);
                        out[c * n + j - lo] = match self {
                            Step::Relu => v.max(0.0),
                            Step::Sigmoid => crate::tensor::sigmoid(v),
                            Step::Tanh => v.tanh(),
                            Step::Affine { scale, shift } => v * scale[c] + shift[c],
                            _ => v,
                        };
                    }
                }
                out
            }
        };
        Patch {
            start: lo,
            len: n,
            v,
        }
    }

    /// The columns of the output changed by the patch `p` of the input.
    fn touched(&self, p: &Patch, l_in: usize) -> (usize, usize) {
        let out = self.out_len(l_in).unwrap_or(0);
        let (a, b) = (p.start, p.start + p.len);
        match self {
            Step::Conv { k, geom, .. } => touched(
                a,
                b,
                geom.dilation * (k - 1) + 1,
                geom.stride,
                geom.pad_left,
                out,
            ),
            Step::MaxPool { k, s } | Step::AvgPool { k, s } => touched(a, b, *k, *s, 0, out),
            _ => (a.min(out), b.min(out)),
        }
    }
}

/// A plain sequential network split into a convolutional prefix (run on slices) and the rest
/// (flatten or global pooling onwards, run whole).
struct Split {
    steps: Vec<Step>,
    rest_specs: Vec<crate::arch::LayerSpec>,
    rest_params: Vec<crate::tensor::Array>,
}

impl Split {
    /// `None` when the network is not a plain sequential stack of supported layers.
    fn new(model: &Model) -> Result<Option<Split>> {
        use crate::arch::LayerSpec as L;
        let specs = &model.arch.layers;
        let param = |layer: usize, suffix: &str| -> Option<Vec<f32>> {
            model
                .net
                .params()
                .iter()
                .position(|p| p.layer == layer && p.suffix == suffix)
                .map(|i| model.params[i].iter().copied().collect())
        };
        let mut steps = Vec::new();
        let mut split = specs.len();
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
                    Step::Conv {
                        w,
                        b: param(i, "bias"),
                        cout: *out_channels,
                        k: *kernel_size,
                        geom: Conv1dGeom {
                            stride: *stride,
                            pad_left,
                            pad_right,
                            dilation: *dilation,
                        },
                    }
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
        if split == specs.len() || !steps.iter().any(|s| matches!(s, Step::Conv { .. })) {
            return Ok(None);
        }
        let first = model
            .net
            .params()
            .iter()
            .position(|p| p.layer >= split)
            .unwrap_or(model.params.len());
        Ok(Some(Split {
            steps,
            rest_specs: specs[split..].to_vec(),
            rest_params: model.params[first..].to_vec(),
        }))
    }

    /// Every layer's activation for the encoded input `[4, L]`.
    fn activations(&self, x: Act) -> Result<Vec<Act>> {
        let mut acts = vec![x];
        for step in &self.steps {
            let x = &acts[acts.len() - 1];
            let out = step.out_len(x.len).ok_or_else(|| {
                Error::Config(format!(
                    "input length {} is too short for the network",
                    x.len
                ))
            })?;
            let c = match step {
                Step::Conv { cout, .. } => *cout,
                _ => x.c,
            };
            let whole = Patch {
                start: 0,
                len: 0,
                v: Vec::new(),
            };
            let p = step.slice(x, &whole, 0, out);
            acts.push(Act {
                c,
                len: out,
                v: p.v,
            });
        }
        Ok(acts)
    }

    /// The last prefix activation of the mutant `base` at `pos`, written into `dst`.
    fn mutant(&self, acts: &[Act], pos: usize, base: u8, dst: &mut [f32]) {
        let x = &acts[0];
        let mut onehot = vec![0.0f32; 4];
        match BASES.iter().position(|&b| b == base) {
            Some(i) => onehot[i] = 1.0,
            None => onehot.fill(0.25),
        }
        let mut p = Patch {
            start: pos,
            len: 1,
            v: onehot,
        };
        for (step, x) in self.steps.iter().zip(acts) {
            let (lo, hi) = step.touched(&p, x.len);
            p = step.slice(x, &p, lo, hi);
        }
        let last = &acts[acts.len() - 1];
        dst.copy_from_slice(&last.v);
        for c in 0..last.c {
            dst[c * last.len + p.start..c * last.len + p.start + p.len]
                .copy_from_slice(&p.v[c * p.len..(c + 1) * p.len]);
        }
        let _ = x;
    }
}

/// Saturation mutagenesis the fastISM way (Nair et al. 2021): the convolutional prefix of the
/// network (convolutions, activations, pooling, eval-mode batch norm and dropout, up to the first
/// flatten or global pooling) is run once on the sequence; for each mutant only the columns of
/// each layer inside the changed base's receptive field are recomputed, then the rest of the
/// network runs on the patched features. Equal to [`naive_ism`] up to float rounding.
///
/// `Ok(None)` when the model or sequence is outside what this path handles (a network with
/// residual blocks or padded pooling, a DeepBind model scoring more than one window): use
/// [`naive_ism`] then. The reference scores come from the scorer, as in `predict`.
pub fn fast_ism(
    model: &Model,
    scorer: &Scorer,
    seq: &[u8],
    raw: bool,
    batch: usize,
) -> Result<Option<IsmScores>> {
    let Some(split) = Split::new(model)? else {
        return Ok(None);
    };
    let (input, offset, scaled) = match model.meta.scoring {
        Scoring::Plain => (seq.to_vec(), 0, !raw),
        Scoring::DeepBind { window, .. } => {
            if window.is_some_and(|w| seq.len() > w) {
                return Ok(None);
            }
            let Some(Step::Conv { k, geom, .. }) = split.steps.first() else {
                return Ok(None);
            };
            let pad = geom.dilation * (k - 1);
            let mut padded = vec![b'N'; pad];
            padded.extend_from_slice(seq);
            padded.resize(seq.len() + 2 * pad, b'N');
            (padded, pad, false)
        }
    };
    let reference: Vec<f32> = if raw {
        scorer.score_raw(&[seq])?
    } else {
        scorer.score(&[seq])?
    }
    .iter()
    .copied()
    .collect();
    let tasks = reference.len();
    let strand = scorer.strand();
    let mut strands = vec![input.clone()];
    if strand != Strand::None {
        strands.push(encode::reverse_complement(&input));
    }
    let len = input.len();
    let acts: Vec<Vec<Act>> = strands
        .iter()
        .map(|s| {
            let x = encode::encode_batch(&[s.as_slice()], len, NMode::Quarter)
                .map_err(|e| Error::Config(e.to_string()))?;
            split.activations(Act {
                c: 4,
                len,
                v: x.iter().copied().collect(),
            })
        })
        .collect::<Result<_>>()?;
    let last = &acts[0][acts[0].len() - 1];
    let (c_last, l_last) = (last.c, last.len);
    let rest_arch = Arch {
        name: "fast_ism_rest".into(),
        description: String::new(),
        input: InputSpec {
            channels: c_last,
            length: Some(l_last),
            ..Default::default()
        },
        loss: model.arch.loss,
        layers: split.rest_specs.clone(),
    };
    let rest = Network::build(&rest_arch, model.meta.tasks.len())?;
    rest.check_params(&split.rest_params)?;
    let run_rest = |x: Vec<f32>, n: usize| -> Result<Array2<f32>> {
        let x = Array::from_shape_vec(IxDyn(&[n, c_last, l_last]), x)
            .map_err(|e| Error::Config(format!("fast ISM batch: {e}")))?;
        let mut tape = Tape::inference();
        let xv = tape.constant(x);
        let pv: Vec<_> = split
            .rest_params
            .iter()
            .map(|p| tape.param(p.clone()))
            .collect();
        let y = rest.forward(&mut tape, xv, &pv, false, &mut crate::rng::seeded(0))?;
        tape.value(y)
            .clone()
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(|_| Error::Config("the model's output is not [N, tasks]".into()))
    };
    let scale = |y: Array2<f32>| {
        if scaled {
            to_output(model.arch.loss, y)
        } else {
            y
        }
    };
    let muts = mutations(seq);
    let mut mutants = Array2::<f32>::zeros((muts.len(), tasks));
    let width = c_last * l_last;
    let batch = batch.max(1);
    for (ci, chunk) in muts.chunks(batch).enumerate() {
        let mut outs = Vec::with_capacity(strands.len());
        for (si, a) in acts.iter().enumerate() {
            let mut x = vec![0.0f32; chunk.len() * width];
            x.par_chunks_mut(width).zip(chunk).for_each(|(dst, m)| {
                let (pos, base) = if si == 0 {
                    (offset + m.pos, m.alt)
                } else {
                    (
                        len - 1 - (offset + m.pos),
                        encode::reverse_complement(&[m.alt])[0],
                    )
                };
                split.mutant(a, pos, base, dst);
            });
            outs.push(run_rest(x, chunk.len())?);
        }
        let mut it = outs.into_iter();
        let f = it.next().unwrap_or_default();
        let y = match (strand, it.next()) {
            (Strand::Max, Some(r)) => scale(Zip::from(&f).and(&r).map_collect(|&a, &b| a.max(b))),
            (Strand::Mean, Some(r)) => (scale(f) + scale(r)) * 0.5,
            _ => scale(f),
        };
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
