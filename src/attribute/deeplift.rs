//! DeepLIFT with the rescale rule of sequences against their references: the network inputs of
//! a sequence (both strands, DeepBind windows) and of each of its references run as one batch on
//! a [`Tape::deeplift`] tape, the sequence's once however many references it has (the
//! references' rows paired with them, [`Pairs`]), and [`Tape::backward_rescale`] takes the
//! multipliers of every pair back to the inputs. The presentation's combination of its network
//! inputs into one score is given the same rules: a mean is linear, and a maximum (the max
//! strand rule, DeepBind's best window) takes the max-pooling rule of `tensor/ops/rescale.rs`
//! over the inputs' outputs, so the sum of the attributions is the combined score's difference,
//! under every strand and window rule.
//!
//! [`layer_rule`] is the rule each layer kind gets: one exhaustive match, so a new layer kind
//! must be given a rule before the crate compiles.

use std::sync::Arc;

use ndarray::{Array2, Array3, Axis, IxDyn};

use super::gradient::{check_length, item_array};
use crate::interpret::add_back;
use crate::model::{Model, Strand};
use crate::nn::Layer;
use crate::score::presentation::{Input, Presentation};
use crate::tensor::ops::rescale::{EPS, Pairs};
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

/// DeepLIFT of one sequence against one reference, per task.
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

/// DeepLIFT multipliers of each sequence `xs[i]` (`[4, len]`, the positions of `seqs[i]`) against
/// each of its references `refs[i][k]`, for each task in `tasks`: `[i][k]`. About `budget` input
/// positions (network inputs, references included, times their length) per pass, at least one
/// reference; a sequence's references go through as few passes as the budget allows, its own
/// network inputs once in each.
pub(super) fn deeplift(
    model: &Model,
    pres: &Presentation,
    seqs: &[&[u8]],
    xs: &[Array2<f32>],
    refs: &[Vec<Array2<f32>>],
    tasks: &[usize],
    budget: usize,
) -> Result<Vec<Vec<Lift>>> {
    let params: Vec<Arc<crate::tensor::Array>> = model.shared_params();
    let mut out: Vec<Vec<Option<Lift>>> = refs
        .iter()
        .map(|rs| (0..rs.len()).map(|_| None).collect())
        .collect();
    // (sequence, reference) units, by sequence length.
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| (seqs[i].len(), i));
    let units: Vec<(usize, usize)> = order
        .iter()
        .flat_map(|&i| (0..refs[i].len()).map(move |k| (i, k)))
        .collect();
    let len_of = |u: &(usize, usize)| seqs[u.0].len();
    let mut items = Vec::new();
    for group in units.chunk_by(|a, b| len_of(a) == len_of(b)) {
        let mut start = 0;
        while start < group.len() {
            let mut end = start;
            let mut used = 0;
            while end < group.len() && (end == start || used < budget) {
                items.clear();
                pres.inputs(0, seqs[group[end].0], &mut items);
                let positions: usize = items.iter().map(|it| it.input.len()).sum();
                let new_seq = end == start || group[end - 1].0 != group[end].0;
                used += positions * if new_seq { 2 } else { 1 };
                end += 1;
            }
            let members = &group[start..end];
            let lifts = pass(model, &params, pres, seqs, xs, refs, members, tasks)?;
            for (&(i, k), lift) in members.iter().zip(lifts) {
                out[i][k] = Some(lift);
            }
            start = end;
        }
    }
    out.into_iter()
        .map(|rs| {
            rs.into_iter()
                .map(|l| {
                    l.ok_or_else(|| Error::Config("internal: a pair got no multipliers".into()))
                })
                .collect()
        })
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

/// One pass over the network inputs of the sequences of `members` ((sequence, reference) units,
/// a sequence's units adjacent) and of their references, one rescale backward pass per task.
#[allow(clippy::too_many_arguments)]
fn pass(
    model: &Model,
    params: &[Arc<crate::tensor::Array>],
    pres: &Presentation,
    seqs: &[&[u8]],
    xs: &[Array2<f32>],
    refs: &[Vec<Array2<f32>>],
    members: &[(usize, usize)],
    tasks: &[usize],
) -> Result<Vec<Lift>> {
    // The network inputs of each sequence, once: `items[first[j]..first[j + 1]]` are those of
    // the j-th sequence, `seq_of[m]` the j of member m.
    let mut items: Vec<Input> = Vec::new();
    let mut first = vec![0];
    let mut seq_of = Vec::with_capacity(members.len());
    let mut owners: Vec<usize> = Vec::new();
    for (m, &(i, _)) in members.iter().enumerate() {
        if m == 0 || members[m - 1].0 != i {
            pres.inputs(owners.len(), seqs[i], &mut items);
            owners.push(i);
            first.push(items.len());
        }
        seq_of.push(owners.len() - 1);
    }
    let n = items.first().map_or(0, |it| it.input.len());
    check_length(model, n)?;
    let inputs = items.len();
    // Pair rows: per member, one per network input of its sequence.
    let mut partner = Vec::new();
    let mut spans = Vec::with_capacity(members.len());
    for &j in &seq_of {
        let at = partner.len();
        partner.extend(first[j]..first[j + 1]);
        spans.push(at..partner.len());
    }
    let pairs = Pairs { inputs, partner };
    let mut x = Array3::<f32>::zeros((pairs.rows(), 4, n));
    for (row, it) in items.iter().enumerate() {
        x.index_axis_mut(Axis(0), row)
            .assign(&item_array(xs[owners[it.seq]].view(), it));
    }
    for (m, &(i, k)) in members.iter().enumerate() {
        for p in spans[m].clone() {
            let it = &items[pairs.partner[p]];
            x.index_axis_mut(Axis(0), inputs + p)
                .assign(&item_array(refs[i][k].view(), it));
        }
    }
    let mut tape = Tape::deeplift();
    let xv = tape.param(x.into_dyn());
    let pv: Vec<_> = params
        .iter()
        .map(|p| tape.constant_shared(Arc::clone(p)))
        .collect();
    let y = model.net.infer(&mut tape, xv, &pv)?;
    let yv = tape
        .value(y)
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .map_err(|_| Error::Config("the model's output is not [N, tasks]".into()))?;
    let mut result: Vec<Lift> = members
        .iter()
        .map(|&(i, _)| Lift {
            output: vec![0.0; tasks.len()],
            reference: vec![0.0; tasks.len()],
            mult: Array3::zeros((tasks.len(), 4, xs[i].ncols())),
            residuals: vec![Vec::new(); tasks.len()],
        })
        .collect();
    for (ti, &t) in tasks.iter().enumerate() {
        let mut w = Array::zeros(IxDyn(&[pairs.len(), yv.ncols()]));
        for (m, span) in spans.iter().enumerate() {
            let a: Vec<f32> = span.clone().map(|p| yv[[pairs.partner[p], t]]).collect();
            let b: Vec<f32> = span.clone().map(|p| yv[[inputs + p, t]]).collect();
            let j = seq_of[m];
            let (sa, sb, mult) = combine(pres, &items[first[j]..first[j + 1]], &a, &b);
            result[m].output[ti] = sa;
            result[m].reference[ti] = sb;
            for (p, mu) in span.clone().zip(mult) {
                w[[p, t]] = mu;
            }
        }
        let (grads, residuals) = tape.backward_rescale(y, w, &pairs)?;
        let g = crate::interpret::input_gradient(&grads, xv, "deeplift")?;
        for (m, span) in spans.iter().enumerate() {
            let mut dst = result[m].mult.index_axis_mut(Axis(0), ti);
            for p in span.clone() {
                let it = &items[pairs.partner[p]];
                add_back(
                    &mut dst,
                    g.index_axis(Axis(0), p),
                    it.shift,
                    it.real.clone(),
                    it.reverse,
                );
            }
        }
        // Residuals per member: the rows of its pairs, by op kind.
        for (m, span) in spans.iter().enumerate() {
            let mut by_op: Vec<(&'static str, f64)> = Vec::new();
            for r in &residuals {
                let v: f64 = span.clone().filter_map(|p| r.per_pair.get(p)).sum();
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
