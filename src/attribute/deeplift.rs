//! DeepLIFT with the rescale rule over (input, reference) pairs: the network inputs of a pair's
//! sequence and of its reference (both strands, DeepBind windows) run as one batch on a
//! [`Tape::deeplift`] tape, inputs first, and [`Tape::backward_rescale`] takes the multipliers
//! back to the inputs. The presentation's combination of its network inputs into one score is
//! given the same rules: a mean is linear, and a maximum (the max strand rule, DeepBind's best
//! window) takes the max-pooling rule of `tensor/ops/rescale.rs` over the inputs' outputs, so
//! the sum of the attributions is the combined score's difference, under every strand and window
//! rule.
//!
//! [`layer_rule`] is the rule each layer kind gets: one exhaustive match, so a new layer kind
//! must be given a rule before the crate compiles.

use ndarray::{Array2, Array3, Axis, IxDyn};

use super::gradient::{check_length, item_array};
use crate::interpret::add_back;
use crate::model::{Model, Strand};
use crate::nn::Layer;
use crate::score::presentation::{Input, Presentation};
use crate::tensor::ops::rescale::EPS;
use crate::tensor::{Array, Tape};
use crate::{Error, Result};

/// How DeepLIFT's rescale rule treats a layer kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerRule {
    /// Linear in its input (evaluation mode): the multipliers go back through its gradient.
    Linear,
    /// An elementwise nonlinearity: multiplier `(f(x) - f(ref)) / (x - ref)`.
    Rescale,
    /// Max pooling: each output's difference routed to the input's and the reference's maximum.
    MaxPool,
    /// A residual block: the sum of its body (each layer by its own rule) and the identity.
    Residual,
}

/// The rule the rescale backward pass applies to `layer`.
pub fn layer_rule(layer: &Layer) -> LayerRule {
    match layer {
        Layer::Conv1d { .. }
        | Layer::Linear { .. }
        | Layer::AvgPool1d(_)
        | Layer::GlobalAvgPool
        | Layer::Dropout(_)
        | Layer::Flatten
        | Layer::BatchNorm { .. }
        | Layer::Conv2d { .. }
        | Layer::ConvTranspose2d { .. }
        | Layer::AvgPool2d(_)
        | Layer::GlobalAvgPool2d => LayerRule::Linear,
        Layer::Relu | Layer::Sigmoid | Layer::Tanh => LayerRule::Rescale,
        // Global max and mean, interleaved: the max half by the pooling rule.
        Layer::MaxPool1d(_)
        | Layer::GlobalMaxPool
        | Layer::GlobalMaxAvgPool
        | Layer::MaxPool2d(_) => LayerRule::MaxPool,
        Layer::Residual(_) => LayerRule::Residual,
    }
}

/// An input and its reference, both `[4, len]`, for the positions of sequence `seq`.
pub(super) struct Pair {
    pub x: Array2<f32>,
    pub r: Array2<f32>,
    pub seq: usize,
}

/// DeepLIFT of one pair, per task.
pub(super) struct Lift {
    /// The combined score of the input. shape: [tasks]
    pub output: Vec<f32>,
    /// The combined score of the reference. shape: [tasks]
    pub reference: Vec<f32>,
    /// Multipliers: the attribution is `(x - r)` times them. shape: [tasks, 4, len]
    pub mult: Array3<f32>,
    /// Per task, each op kind's residual (what it failed to conserve), summed over the pair's
    /// network inputs.
    pub residuals: Vec<Vec<(&'static str, f64)>>,
}

/// DeepLIFT multipliers of every pair for each task in `tasks`, about `budget` input positions
/// (network inputs, references included, times their length) per pass, at least one pair.
pub(super) fn deeplift(
    model: &Model,
    pres: &Presentation,
    seqs: &[&[u8]],
    pairs: &[Pair],
    tasks: &[usize],
    budget: usize,
) -> Result<Vec<Lift>> {
    let mut out: Vec<Option<Lift>> = (0..pairs.len()).map(|_| None).collect();
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by_key(|&i| (seqs[pairs[i].seq].len(), i));
    let len_of = |i: usize| seqs[pairs[i].seq].len();
    for group in order.chunk_by(|&a, &b| len_of(a) == len_of(b)) {
        let mut start = 0;
        while start < group.len() {
            let mut end = start;
            let mut used = 0;
            let mut items = Vec::new();
            while end < group.len() && (end == start || used < budget) {
                let before = items.len();
                pres.inputs(end - start, seqs[pairs[group[end]].seq], &mut items);
                used += 2 * items[before..]
                    .iter()
                    .map(|it| it.input.len())
                    .sum::<usize>();
                end += 1;
            }
            let members = &group[start..end];
            for (k, lift) in pass(model, pres, pairs, members, &items, tasks)?
                .into_iter()
                .enumerate()
            {
                out[members[k]] = Some(lift);
            }
            start = end;
        }
    }
    out.into_iter()
        .map(|l| l.ok_or_else(|| Error::Config("internal: a pair got no multipliers".into())))
        .collect()
}

/// DeepLIFT's max rule (captum's max pooling rule) over values `a` of the input and `b` of the
/// reference: `(max a, max b, multipliers)`, the multipliers conserving `max a - max b`. Ties go
/// to the first maximum, as the scorer's.
pub(super) fn max_rule(a: &[f32], b: &[f32]) -> (f32, f32, Vec<f32>) {
    let first_max = |v: &[f32]| {
        let mut best = 0;
        for (k, &x) in v.iter().enumerate() {
            if x > v[best] {
                best = k;
            }
        }
        best
    };
    let (i, j) = (first_max(a), first_max(b));
    let (big_a, big_b) = (a[i], b[j]);
    let m = big_a.max(big_b);
    let mut routed = vec![0.0f32; a.len()];
    routed[i] += m - big_b;
    routed[j] += big_a - m;
    let mult = (0..a.len())
        .map(|k| {
            let d = a[k] - b[k];
            if d.abs() < EPS {
                f32::from(k == i)
            } else {
                routed[k] / d
            }
        })
        .collect();
    (big_a, big_b, mult)
}

/// One window of a pair: (the input's value, the reference's value, [(network input,
/// multiplier)]).
type Window = (f32, f32, Vec<(usize, f32)>);

/// The presentation's rule over one pair's network inputs `items` (their outputs `a` for the
/// input and `b` for the reference): the combined scores and each network input's multiplier.
fn combine(pres: &Presentation, items: &[Input], a: &[f32], b: &[f32]) -> (f32, f32, Vec<f32>) {
    let mut windows: Vec<Window> = Vec::new();
    let mut k = 0;
    while k < items.len() {
        let win = items[k].window;
        let end = items[k..]
            .iter()
            .position(|it| it.window != win)
            .map_or(items.len(), |e| k + e);
        let fwd = (k..end).find(|&i| !items[i].reverse).unwrap_or(k);
        let rev = (k..end).find(|&i| items[i].reverse);
        windows.push(match (pres.strand, rev) {
            (Strand::None, _) | (_, None) => (a[fwd], b[fwd], vec![(fwd, 1.0)]),
            (Strand::Mean, Some(r)) => (
                (a[fwd] + a[r]) * 0.5,
                (b[fwd] + b[r]) * 0.5,
                vec![(fwd, 0.5), (r, 0.5)],
            ),
            (Strand::Max, Some(r)) => {
                // Forward first: the scorer keeps the forward strand on a tie.
                let (va, vb, m) = max_rule(&[a[fwd], a[r]], &[b[fwd], b[r]]);
                (va, vb, vec![(fwd, m[0]), (r, m[1])])
            }
        });
        k = end;
    }
    let mut mult = vec![0.0f32; items.len()];
    let (sa, sb) = if pres.average || windows.len() == 1 {
        let n = windows.len() as f32;
        for (_, _, parts) in &windows {
            for &(i, m) in parts {
                mult[i] += m / n;
            }
        }
        (
            windows.iter().map(|w| w.0).sum::<f32>() / n,
            windows.iter().map(|w| w.1).sum::<f32>() / n,
        )
    } else {
        let wa: Vec<f32> = windows.iter().map(|w| w.0).collect();
        let wb: Vec<f32> = windows.iter().map(|w| w.1).collect();
        let (sa, sb, wm) = max_rule(&wa, &wb);
        for ((_, _, parts), &m_w) in windows.iter().zip(&wm) {
            for &(i, m) in parts {
                mult[i] += m_w * m;
            }
        }
        (sa, sb)
    };
    (sa, sb, mult)
}

/// One pass over the network inputs of the pairs `members` (`items[..].seq` indexes `members`)
/// and of their references, one rescale backward pass per task.
fn pass(
    model: &Model,
    pres: &Presentation,
    pairs: &[Pair],
    members: &[usize],
    items: &[Input],
    tasks: &[usize],
) -> Result<Vec<Lift>> {
    let n = items.first().map_or(0, |it| it.input.len());
    check_length(model, n)?;
    let rows = items.len();
    let mut x = Array3::<f32>::zeros((2 * rows, 4, n));
    for (i, it) in items.iter().enumerate() {
        let p = &pairs[members[it.seq]];
        x.index_axis_mut(Axis(0), i)
            .assign(&item_array(p.x.view(), it));
        x.index_axis_mut(Axis(0), rows + i)
            .assign(&item_array(p.r.view(), it));
    }
    let mut tape = Tape::deeplift();
    let xv = tape.param(x.into_dyn());
    let pv: Vec<_> = model
        .params
        .iter()
        .map(|p| tape.constant(p.clone()))
        .collect();
    let y = model.net.infer(&mut tape, xv, &pv)?;
    let yv = tape
        .value(y)
        .clone()
        .into_dimensionality::<ndarray::Ix2>()
        .map_err(|_| Error::Config("the model's output is not [N, tasks]".into()))?;
    let mut result: Vec<Lift> = members
        .iter()
        .map(|&m| Lift {
            output: vec![0.0; tasks.len()],
            reference: vec![0.0; tasks.len()],
            mult: Array3::zeros((tasks.len(), 4, pairs[m].x.ncols())),
            residuals: vec![Vec::new(); tasks.len()],
        })
        .collect();
    // The items of each member, contiguous.
    let mut spans = vec![0..0; members.len()];
    let mut k = 0;
    while k < items.len() {
        let s = items[k].seq;
        let end = items[k..]
            .iter()
            .position(|it| it.seq != s)
            .map_or(items.len(), |e| k + e);
        spans[s] = k..end;
        k = end;
    }
    for (ti, &t) in tasks.iter().enumerate() {
        let mut w = Array::zeros(IxDyn(&[2 * rows, yv.ncols()]));
        for (m, span) in spans.iter().enumerate() {
            let a: Vec<f32> = span.clone().map(|i| yv[[i, t]]).collect();
            let b: Vec<f32> = span.clone().map(|i| yv[[rows + i, t]]).collect();
            let (sa, sb, mult) = combine(pres, &items[span.clone()], &a, &b);
            result[m].output[ti] = sa;
            result[m].reference[ti] = sb;
            for (i, mu) in span.clone().zip(mult) {
                w[[i, t]] = mu;
            }
        }
        let loss = tape.weighted_sum(y, w)?;
        let (grads, residuals) = tape.backward_rescale(loss)?;
        let g = grads
            .get(xv)
            .ok_or_else(|| Error::Config("the model's output does not depend on its input".into()))?
            .view()
            .into_dimensionality::<ndarray::Ix3>()
            .map_err(|_| Error::shape("deeplift", "input multipliers are not [N, 4, L]"))?;
        for (i, it) in items.iter().enumerate() {
            let mut dst = result[it.seq].mult.index_axis_mut(Axis(0), ti);
            add_back(
                &mut dst,
                g.index_axis(Axis(0), i),
                it.shift,
                it.real.clone(),
                it.reverse,
            );
        }
        // Residuals per member: the rows of its network inputs, by op kind.
        for (m, span) in spans.iter().enumerate() {
            let mut by_op: Vec<(&'static str, f64)> = Vec::new();
            for r in &residuals {
                let v: f64 = span.clone().filter_map(|i| r.per_pair.get(i)).sum();
                match by_op.iter_mut().find(|(op, _)| *op == r.op) {
                    Some(e) => e.1 += v,
                    None => by_op.push((r.op, v)),
                }
            }
            result[m].residuals[ti] = by_op;
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_rule_conserves_and_routes_to_both_maxima() {
        for (a, b) in [
            (vec![1.0f32, 4.0, 2.0], vec![5.0f32, 0.0, 3.0]),
            (vec![1.0, 6.0, 2.0], vec![5.0, 0.0, 3.0]),
            (vec![3.0, 3.0], vec![3.0, 3.0]),
            (vec![-1.0, 2.0, 2.0], vec![0.5, 0.5, -4.0]),
        ] {
            let (sa, sb, m) = max_rule(&a, &b);
            let total: f32 = m
                .iter()
                .zip(a.iter().zip(&b))
                .map(|(m, (a, b))| m * (a - b))
                .sum();
            assert!((total - (sa - sb)).abs() < 1e-6, "{a:?} {b:?}: {m:?}");
        }
        // x = [1, 4, 2] (max 4), ref = [5, 0, 3] (max 5): -1 goes to the reference's maximum,
        // position 0 (difference -4).
        let (_, _, m) = max_rule(&[1.0, 4.0, 2.0], &[5.0, 0.0, 3.0]);
        assert_eq!(m, [0.25, 0.0, 0.0]);
    }
}
