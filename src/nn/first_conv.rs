//! The first layer of a DNA network, a convolution over the four bases (A, C, G, T): the one
//! place that recognises it. DeepBind's N padding (its span), filter motifs, the scan of
//! DeepBind's first stage and fast ISM read its weights and geometry from here.

use crate::arch::{Arch, LayerSpec};
use crate::encode::{self, NMode};
use crate::tensor::ops::conv::Conv1dGeom;
use crate::tensor::{Array, Tape};
use crate::{Error, Result};
use ndarray::Array3;

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

fn not_conv() -> Error {
    Error::Config(
        "interpretation needs a model whose first layer is a conv1d over the 4 bases".into(),
    )
}

impl FirstConv {
    /// Bases one placement of the first layer of `arch` covers (`dilation * (k - 1) + 1`),
    /// from the architecture alone (no weights read); an error unless that layer is a `conv1d`
    /// over 4 channels. Scoring asks this for DeepBind's N padding on every call.
    pub fn span_of(arch: &Arch) -> Result<usize> {
        match arch.layers.first() {
            Some(LayerSpec::Conv1d {
                kernel_size,
                dilation,
                ..
            }) if arch.input.channels == 4 => Ok(dilation * ((*kernel_size).max(1) - 1) + 1),
            _ => Err(not_conv()),
        }
    }

    /// The first layer of a network built from `arch` with `params`; an error unless it is a
    /// `conv1d` over 4 channels.
    pub fn of(arch: &Arch, params: &[Array]) -> Result<FirstConv> {
        let Some(LayerSpec::Conv1d {
            kernel_size,
            stride,
            padding,
            dilation,
            bias,
            ..
        }) = arch.layers.first()
        else {
            return Err(not_conv());
        };
        if arch.input.channels != 4 {
            return Err(not_conv());
        }
        let (pad_left, pad_right) = padding.resolve(*kernel_size, *dilation, *stride)?;
        let weight = params
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
                params
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
