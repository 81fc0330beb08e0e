//! Interpretation of trained models: first-layer filters as motifs ([`motifs`], as Basset does),
//! comparison of motifs with a database ([`compare`], Tomtom-like), gradient x input saliency
//! through the tape ([`saliency`]) and SVG sequence logos ([`logo`]). Attributions by other
//! methods live in [`crate::attribute`].
//!
//! Sequences are presented to the network as the [`Scorer`](crate::score::Scorer) presents them,
//! through its [`Presentation`](crate::score::Presentation): both strands when the strand rule is
//! `mean` or `max`, and for imported DeepBind models each window padded with `k - 1` N's on both
//! sides. `saliency`'s tests check that the output it takes the gradient of is the scorer's raw
//! score, so the two cannot drift apart.

pub mod compare;
pub mod logo;
pub mod motifs;
pub mod saliency;

use ndarray::Axis;

use crate::tensor::{Grads, Var};
use crate::{Error, Result};

/// The gradient (or DeepLIFT's multipliers) at the network input `x`, `[N, 4, L]`; an error
/// naming `op` when the output does not depend on the input or the input is not one-hot
/// sequence.
pub(crate) fn input_gradient<'a>(
    grads: &'a Grads,
    x: Var,
    op: &'static str,
) -> Result<ndarray::ArrayView3<'a, f32>> {
    grads
        .get(x)
        .ok_or_else(|| Error::Config("the model's output does not depend on its input".into()))?
        .view()
        .into_dimensionality::<ndarray::Ix3>()
        .map_err(|_| Error::shape(op, "input gradient is not [N, 4, L]"))
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
    pub(crate) fn planted_model(motif: &[u8], strand: crate::model::Strand) -> Model {
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
