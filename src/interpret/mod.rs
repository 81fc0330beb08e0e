//! Interpretation of trained models: first-layer filters as motifs ([`motifs`], as Basset does),
//! comparison of motifs with a database ([`compare`], Tomtom-like), gradient x input saliency
//! through the tape ([`saliency`]) and SVG sequence logos ([`logo`]).
//!
//! Sequences are presented to the network as the [`Scorer`](crate::score::Scorer) presents them:
//! both strands when the strand rule is `mean` or `max`, and for imported DeepBind models
//! ([`Scoring::DeepBind`]) each window padded with `k - 1` N's on both sides. [`Presentation`]
//! holds those rules for this module; `saliency`'s tests check that the output it takes the
//! gradient of is the scorer's raw score, so the two cannot drift apart.

pub mod compare;
pub mod logo;
pub mod motifs;
pub mod saliency;

use crate::arch::LayerSpec;
use crate::encode::{self, NMode};
use crate::model::Model;
use crate::score::{Scoring, Strand};
use crate::tensor::Tape;
use crate::tensor::ops::conv::Conv1dGeom;
use crate::{Error, Result};
use ndarray::{Array3, Axis};

/// How the scorer presents a sequence to a model's network (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presentation {
    /// The strand rule.
    pub strand: Strand,
    /// N's added on each side of a window (DeepBind models: the first layer's span minus one).
    pub pad: usize,
    /// DeepBind models: sequences longer than this are scored in windows of this length.
    pub window: Option<usize>,
    /// DeepBind models: the mean over windows instead of the maximum.
    pub average: bool,
}

impl Presentation {
    /// The presentation of `model` under `strand` (its own rule when `None`).
    pub fn of(model: &Model, strand: Option<Strand>) -> Result<Presentation> {
        let strand = strand.unwrap_or(model.meta.strand);
        Ok(match model.meta.scoring {
            Scoring::Plain => Presentation {
                strand,
                pad: 0,
                window: None,
                average: false,
            },
            Scoring::DeepBind { window, average } => Presentation {
                strand,
                pad: FirstConv::of(model)?.span() - 1,
                window,
                average,
            },
        })
    }

    /// Whether the reverse strand is scored too.
    pub fn both_strands(&self) -> bool {
        self.strand != Strand::None
    }
}

/// The first layer of a network, a convolution over the four bases: its weights and geometry.
#[derive(Clone, Debug)]
pub struct FirstConv {
    /// shape: [filters, 4, k]
    pub weight: Array3<f32>,
    /// shape: [filters]
    pub bias: Option<Vec<f32>>,
    /// Stride, zero padding and dilation as the architecture gives them.
    pub geom: Conv1dGeom,
}

impl FirstConv {
    /// The first layer of `model`; an error unless it is a `conv1d` over 4 channels.
    pub fn of(model: &Model) -> Result<FirstConv> {
        let not_conv = || {
            Error::Config(
                "interpretation needs a model whose first layer is a conv1d over the 4 bases"
                    .into(),
            )
        };
        let Some(LayerSpec::Conv1d {
            kernel_size,
            stride,
            padding,
            dilation,
            bias,
            ..
        }) = model.arch.layers.first()
        else {
            return Err(not_conv());
        };
        if model.arch.input.channels != 4 {
            return Err(not_conv());
        }
        let (pad_left, pad_right) = padding.resolve(*kernel_size, *dilation, *stride)?;
        let weight = model
            .params
            .first()
            .ok_or_else(not_conv)?
            .clone()
            .into_dimensionality::<ndarray::Ix3>()
            .map_err(|_| not_conv())?;
        if weight.shape()[1] != 4 {
            return Err(not_conv());
        }
        let bias = if *bias {
            Some(
                model
                    .params
                    .get(1)
                    .ok_or_else(not_conv)?
                    .iter()
                    .copied()
                    .collect(),
            )
        } else {
            None
        };
        Ok(FirstConv {
            weight,
            bias,
            geom: Conv1dGeom {
                stride: *stride,
                pad_left,
                pad_right,
                dilation: *dilation,
            },
        })
    }

    /// Number of filters.
    pub fn filters(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Kernel size (taps).
    pub fn k(&self) -> usize {
        self.weight.shape()[2]
    }

    /// Bases one filter placement covers: `dilation * (k - 1) + 1`.
    pub fn span(&self) -> usize {
        self.geom.dilation * (self.k().max(1) - 1) + 1
    }

    /// Whether an input of `len` bp (padding included) gives at least one output position.
    pub fn fits(&self, len: usize) -> bool {
        self.geom.out_len(len, self.k()).is_some()
    }

    /// Where output position `p` reads: the input position of tap 0 (may be negative or past
    /// the end inside the zero padding); tap `j` reads `start + j * dilation`.
    pub fn tap0(&self, p: usize) -> isize {
        (p * self.geom.stride) as isize - self.geom.pad_left as isize
    }

    /// Pre-activation outputs (convolution plus bias) `[n, filters, l_out]` for sequences of
    /// one length.
    pub fn activations(&self, seqs: &[&[u8]]) -> Result<Array3<f32>> {
        let len = seqs.first().map_or(0, |s| s.len());
        if seqs.iter().any(|s| s.len() != len) {
            return Err(Error::shape(
                "filter activations",
                "sequences of one batch must have one length",
            ));
        }
        let x = encode::encode_batch(seqs, len, NMode::Quarter)
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut tape = Tape::inference();
        let xv = tape.constant(x.into_dyn());
        let w = tape.constant(self.weight.clone().into_dyn());
        let b = self
            .bias
            .as_ref()
            .map(|b| tape.constant(ndarray::Array1::from(b.clone()).into_dyn()));
        let y = tape.conv1d(xv, w, b, self.geom)?;
        tape.value(y)
            .clone()
            .into_dimensionality::<ndarray::Ix3>()
            .map_err(|_| Error::shape("filter activations", "output is not [N, C, L]"))
    }
}

/// Maps a gradient over an input the network saw back onto the original sequence: `item
/// [4, len_item]` whose position `q` (in forward orientation) is original position `q + shift`,
/// reversed and complemented when `reverse`. Only forward positions in `real` are sequence; the
/// rest (N padding) is dropped, as are positions outside `out`. Adds into `out` `[4, len]`.
pub(crate) fn add_back(
    out: &mut ndarray::ArrayViewMut2<f32>,
    item: ndarray::ArrayView2<f32>,
    shift: isize,
    real: std::ops::Range<usize>,
    reverse: bool,
) {
    let len = out.len_of(Axis(1)) as isize;
    let n = item.len_of(Axis(1));
    for q in 0..n {
        // On the reverse strand item position q is position n - 1 - q of the forward item.
        let fwd_q = if reverse { n - 1 - q } else { q };
        let pos = fwd_q as isize + shift;
        if !real.contains(&fwd_q) || pos < 0 || pos >= len {
            continue;
        }
        for c in 0..4 {
            let cc = if reverse { 3 - c } else { c };
            out[[cc, pos as usize]] += item[[c, q]];
        }
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use crate::arch::Arch;
    use crate::model::Model;

    /// A model with two filters: filter 0 exactly the one-hot of `motif` (bias `-(len - 1)`,
    /// so a perfect match scores 1 and one mismatch 0), filter 1 never firing.
    pub(crate) fn planted_model(motif: &[u8], strand: crate::score::Strand) -> Model {
        let k = motif.len();
        let toml = format!(
            "name='t'\ninput={{channels=4}}\n[[layers]]\ntype='conv1d'\nout_channels=2\nkernel_size={k}\n\
             [[layers]]\ntype='relu'\n[[layers]]\ntype='global_max_pool'\n[[layers]]\ntype='linear'\n"
        );
        let arch = Arch::from_toml(&toml).unwrap();
        let mut m = Model::new(arch, vec!["t".into()], &mut crate::rng::seeded(1), 1.0).unwrap();
        let mut w = ndarray::Array3::<f32>::zeros((2, 4, k));
        for (j, &b) in motif.iter().enumerate() {
            let c = b"ACGT".iter().position(|&x| x == b).unwrap();
            w[[0, c, j]] = 1.0;
        }
        w.index_axis_mut(ndarray::Axis(0), 1).fill(-1.0);
        m.params[0] = w.into_dyn();
        m.params[1] = ndarray::arr1(&[-(k as f32 - 1.0), -1.0]).into_dyn();
        m.meta.strand = strand;
        m
    }
}
