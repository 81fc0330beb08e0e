//! Every backward rule, side by side: one `match` arm per op. Each arm adds (never assigns) the
//! gradient it computes into its inputs' slots, so a node used twice gets both contributions.
//! Under [`Rule::Rescale`] (DeepLIFT, [`Tape::backward_rescale`]) the slots hold multipliers with
//! one row per pair (values have the batch's rows; `ops/rescale.rs`), the nonlinear arms apply
//! the rescale rule instead of the gradient, the linear ones pass the multipliers back to their
//! activation input alone (parameters get none), and the ops that have no rescale rule are
//! refused by name.

use super::ops::rescale::{self, Pairs};
use super::ops::{conv, conv2d, norm, pool, pool2d};
use super::{Array, Op, Tape, Var, matmul2};
use crate::{Error, Result};
use ndarray::{Axis, Ix2, Ix3, Ix4, IxDyn, Slice, Zip};

/// Adds `delta` into the gradient slot of `v` if `v` requires a gradient.
fn acc(tape: &Tape, grads: &mut [Option<Array>], v: Var, delta: Array) {
    if !tape.nodes[v.0].requires_grad {
        return;
    }
    match &mut grads[v.0] {
        Some(g) => *g += &delta,
        slot @ None => *slot = Some(delta),
    }
}

fn needs(tape: &Tape, v: Var) -> bool {
    tape.nodes[v.0].requires_grad
}

/// Which backward rule the nonlinear ops apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rule<'a> {
    /// The gradient.
    Gradient,
    /// DeepLIFT's rescale rule over a batch of (input, reference) pairs laid out as given.
    Rescale(&'a Pairs),
}

/// Why `op` has no rescale rule, if it has none: it is not linear in its inputs that carry
/// multipliers and is not one of the nonlinearities the rule covers.
fn no_rescale_rule(tape: &Tape, op: &Op) -> Option<&'static str> {
    match op {
        Op::Mul(a, b) | Op::MatMul(a, b) if needs(tape, *a) && needs(tape, *b) => {
            Some("a product of two activations")
        }
        Op::Mul(..) => Some("a product with a value of the batch's shape"),
        Op::MatMul(_, b) if needs(tape, *b) => Some("a product that mixes the batch's rows"),
        Op::Concat { axis: 0, .. } => Some("a concatenation of batches"),
        Op::Dropout { .. } => Some("dropout in training mode"),
        Op::Sum(_) | Op::Mean(_) | Op::WeightedSum { .. } => {
            Some("a reduction that mixes inputs with their references")
        }
        Op::Loss { .. } => Some("a loss"),
        Op::BatchNorm { .. } => Some("batch statistics (training mode)"),
        Op::Conv1d { relu, pool, .. } if *relu || pool.is_some() => {
            Some("a fused activation (the network ran fused layers)")
        }
        #[cfg(test)]
        Op::BrokenScale(..) => Some("a deliberately wrong rule"),
        _ => None,
    }
}

/// Propagates the gradient `g` of node `node`'s output to the node's inputs (under `rule`).
pub(super) fn apply(
    tape: &Tape,
    node: usize,
    g: &Array,
    grads: &mut [Option<Array>],
    rule: Rule,
) -> Result<()> {
    let pairs = match rule {
        Rule::Rescale(p) => Some(p),
        Rule::Gradient => None,
    };
    // Under the rescale rule `g` has one row per pair: a value read for a parameter's gradient
    // (which the rule does not compute) is cut to as many rows, so that shapes agree.
    fn rows<'v>(a: &'v Array, pairs: Option<&Pairs>) -> ndarray::ArrayViewD<'v, f32> {
        match pairs {
            Some(p) => a.slice_axis(Axis(0), Slice::from(0..p.len())),
            None => a.view(),
        }
    }
    let val = |v: Var| tape.value(v);
    let op = &tape.nodes[node].op;
    let y = &tape.nodes[node].value;
    let rescale = pairs.is_some();
    if rescale && let Some(why) = no_rescale_rule(tape, op) {
        return Err(Error::Config(format!(
            "DeepLIFT has no rescale rule for {} (node {node}): {why}",
            op.name()
        )));
    }
    match op {
        Op::Leaf => {}
        Op::BatchNorm {
            x,
            gamma,
            beta,
            saved,
        } => {
            let gv: Vec<f32> = val(*gamma).iter().copied().collect();
            let (dx, dg, db) = norm::batch_norm_train_backward(g.view(), &gv, saved);
            acc(tape, grads, *x, dx);
            acc(
                tape,
                grads,
                *gamma,
                Array::from_shape_vec(IxDyn(&[dg.len()]), dg).expect("per channel"),
            );
            acc(
                tape,
                grads,
                *beta,
                Array::from_shape_vec(IxDyn(&[db.len()]), db).expect("per channel"),
            );
        }
        Op::BatchNormEval {
            x,
            gamma,
            beta,
            mean,
            inv_std,
        } => {
            // y = gamma * (x - mean) * inv_std + beta, per channel (axis 1)
            let gv: Vec<f32> = val(*gamma).iter().copied().collect();
            let xv = rows(val(*x), pairs);
            let c = gv.len();
            let mut dx = g.clone();
            let mut dg = vec![0.0f32; c];
            let mut db = vec![0.0f32; c];
            for ((idx, d), &xi) in dx.indexed_iter_mut().zip(xv.iter()) {
                let ch = idx[1];
                dg[ch] += *d * (xi - mean[ch]) * inv_std[ch];
                db[ch] += *d;
                *d *= gv[ch] * inv_std[ch];
            }
            acc(tape, grads, *x, dx);
            if !rescale {
                acc(
                    tape,
                    grads,
                    *gamma,
                    Array::from_shape_vec(IxDyn(&[c]), dg).expect("per channel"),
                );
                acc(
                    tape,
                    grads,
                    *beta,
                    Array::from_shape_vec(IxDyn(&[c]), db).expect("per channel"),
                );
            }
        }
        Op::Add(a, b) => {
            acc(tape, grads, *a, g.clone());
            acc(tape, grads, *b, g.clone());
        }
        Op::Mul(a, b) => {
            acc(tape, grads, *a, g * val(*b));
            acc(tape, grads, *b, g * val(*a));
        }
        Op::Scale(x, c) => acc(tape, grads, *x, g * *c),
        Op::MatMul(a, b) => {
            // y = a b: da = g b^T, db = a^T g
            if needs(tape, *a) {
                acc(tape, grads, *a, matmul2(g, false, val(*b), true));
            }
            if needs(tape, *b) {
                acc(tape, grads, *b, matmul2(val(*a), true, g, false));
            }
        }
        Op::Linear { x, w, b } => {
            // y = x w^T + b: dx = g w, dw = g^T x, db = sum_n g
            if needs(tape, *x) {
                acc(tape, grads, *x, matmul2(g, false, val(*w), false));
            }
            if needs(tape, *w) && !rescale {
                acc(tape, grads, *w, matmul2(g, true, val(*x), false));
            }
            if let Some(b) = b.filter(|&b| needs(tape, b) && !rescale) {
                acc(tape, grads, b, g.sum_axis(Axis(0)));
            }
        }
        Op::Conv1d { x, w, geom, .. } if rescale => {
            if needs(tape, *x) {
                let l = val(*x).shape()[2];
                let dx = conv::conv1d_backward_input(view3(val(*w)), view3(g), geom, l)?;
                acc(tape, grads, *x, dx.into_dyn());
            }
        }
        Op::Conv1d {
            x,
            w,
            b,
            geom,
            relu,
            pool,
        } => {
            let (dx, dw, db) = conv::conv1d_backward_fused(
                view3(val(*x)),
                view3(val(*w)),
                view3(g),
                relu.then(|| view3(y)),
                pool.as_deref(),
                geom,
                needs(tape, *x),
                b.is_some(),
            )?;
            if let Some(dx) = dx {
                acc(tape, grads, *x, dx.into_dyn());
            }
            acc(tape, grads, *w, dw.into_dyn());
            if let (Some(b), Some(db)) = (b, db) {
                acc(tape, grads, *b, db.into_dyn());
            }
        }
        Op::MaxPool1d { x, argmax }
        | Op::GlobalMaxPool { x, argmax }
        | Op::MaxPool2d { x, argmax }
            if rescale =>
        {
            let p = pairs.expect("the rescale rule has pairs");
            acc(tape, grads, *x, rescale::max_pool(g, val(*x), y, argmax, p));
        }
        Op::MaxPool1d { x, argmax } => {
            let dx = pool::max_pool1d_backward(view3(g), argmax, val(*x).shape()[2]);
            acc(tape, grads, *x, dx.into_dyn());
        }
        Op::AvgPool1d { x, geom } => {
            let dx = pool::avg_pool1d_backward(view3(g), geom, val(*x).shape()[2]);
            acc(tape, grads, *x, dx.into_dyn());
        }
        Op::GlobalMaxPool { x, argmax } => {
            let dx = pool::global_max_pool_backward(view2(g), argmax, val(*x).shape()[2]);
            acc(tape, grads, *x, dx.into_dyn());
        }
        Op::GlobalAvgPool(x) => {
            let dx = pool::global_avg_pool_backward(view2(g), val(*x).shape()[2]);
            acc(tape, grads, *x, dx.into_dyn());
        }
        Op::Conv2d { x, w, b, geom } => {
            let (dx, dw, db) = conv2d::conv2d_backward(
                view4d(rows(val(*x), pairs)),
                view4(val(*w)),
                view4(g),
                geom,
                needs(tape, *x),
                b.is_some(),
            )?;
            acc_conv(tape, grads, (*x, *w, *b), (dx, dw, db), rescale);
        }
        Op::ConvTranspose2d { x, w, b, geom } => {
            let (dx, dw, db) = conv2d::conv_transpose2d_backward(
                view4d(rows(val(*x), pairs)),
                view4(val(*w)),
                view4(g),
                geom,
                needs(tape, *x),
                b.is_some(),
            )?;
            acc_conv(tape, grads, (*x, *w, *b), (dx, dw, db), rescale);
        }
        Op::MaxPool2d { x, argmax } => {
            let s = val(*x).shape();
            let dx = pool2d::max_pool2d_backward(view4(g), argmax, [s[2], s[3]]);
            acc(tape, grads, *x, dx.into_dyn());
        }
        Op::AvgPool2d { x, geom } => {
            let s = val(*x).shape();
            let dx = pool2d::avg_pool2d_backward(view4(g), geom, [s[2], s[3]]);
            acc(tape, grads, *x, dx.into_dyn());
        }
        Op::Relu(x) if rescale => {
            let p = pairs.expect("the rescale rule has pairs");
            let d = rescale::elementwise(g, val(*x), y, p, |u, _| f32::from(u > 0.0));
            acc(tape, grads, *x, d);
        }
        Op::Sigmoid(x) if rescale => {
            acc(
                tape,
                grads,
                *x,
                rescale::elementwise(g, val(*x), y, pairs.expect("rescale"), |_, y| y * (1.0 - y)),
            );
        }
        Op::Tanh(x) if rescale => {
            acc(
                tape,
                grads,
                *x,
                rescale::elementwise(g, val(*x), y, pairs.expect("rescale"), |_, y| 1.0 - y * y),
            );
        }
        Op::Relu(x) => {
            // A select, not a branch: the sign pattern of ReLU inputs mispredicts, and the select
            // vectorises (10% of LeNet-5 training time).
            let d = Zip::from(g)
                .and(val(*x))
                .map_collect(|&g, &v| if v <= 0.0 { 0.0 } else { g });
            acc(tape, grads, *x, d);
        }
        Op::Sigmoid(x) | Op::Tanh(x) => {
            // Both rules read the op's own output y.
            let mut d = g.clone();
            let tanh = matches!(op, Op::Tanh(_));
            Zip::from(&mut d)
                .and(&**y)
                .for_each(|d, &y| *d *= if tanh { 1.0 - y * y } else { y * (1.0 - y) });
            acc(tape, grads, *x, d);
        }
        Op::Dropout { x, mask } => acc(tape, grads, *x, g * mask),
        Op::Concat { xs, axis } => {
            let mut start = 0;
            for &v in xs {
                let len = val(v).shape()[*axis];
                let part = g
                    .slice_axis(Axis(*axis), ndarray::Slice::from(start..start + len))
                    .to_owned();
                acc(tape, grads, v, part);
                start += len;
            }
        }
        Op::Reshape(x) => {
            let mut shape = val(*x).shape().to_vec();
            if let (Some(first), Some(p)) = (shape.first_mut(), pairs) {
                *first = p.len();
            }
            let d = g
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(&shape))
                .expect("same size");
            acc(tape, grads, *x, d);
        }
        Op::Sum(x) => {
            let s = scalar(g);
            acc(tape, grads, *x, Array::from_elem(val(*x).raw_dim(), s));
        }
        Op::Mean(x) => {
            let n = val(*x).len().max(1) as f32;
            acc(
                tape,
                grads,
                *x,
                Array::from_elem(val(*x).raw_dim(), scalar(g) / n),
            );
        }
        Op::WeightedSum { x, w } => acc(tape, grads, *x, w * scalar(g)),
        Op::Loss { x, grad } => acc(tape, grads, *x, grad * scalar(g)),
        #[cfg(test)]
        Op::BrokenScale(x, c) => acc(tape, grads, *x, g * (*c * 1.05)),
    }
    Ok(())
}

/// A 3-D view of a value or gradient of a 1D op (its forward pass checked the rank).
fn view3(a: &Array) -> ndarray::ArrayView3<'_, f32> {
    a.view()
        .into_dimensionality::<Ix3>()
        .expect("3-D, checked in forward")
}

/// A 2-D view of a value or gradient (its forward pass checked the rank).
fn view2(a: &Array) -> ndarray::ArrayView2<'_, f32> {
    a.view()
        .into_dimensionality::<Ix2>()
        .expect("2-D, checked in forward")
}

/// A 4-D view of a value or gradient of a 2D op (its forward pass checked the rank).
fn view4(a: &Array) -> ndarray::ArrayView4<'_, f32> {
    view4d(a.view())
}

fn view4d(a: ndarray::ArrayViewD<'_, f32>) -> ndarray::ArrayView4<'_, f32> {
    a.into_dimensionality::<Ix4>()
        .expect("4-D, checked in forward")
}

/// Accumulates the `(dx, dw, db)` of a 2D convolution into `(x, w, b)`.
fn acc_conv(
    tape: &Tape,
    grads: &mut [Option<Array>],
    (x, w, b): (Var, Var, Option<Var>),
    (dx, dw, db): conv2d::Conv2dGrads,
    rescale: bool,
) {
    if let Some(dx) = dx {
        acc(tape, grads, x, dx.into_dyn());
    }
    // DeepLIFT gives parameters no multipliers.
    if rescale {
        return;
    }
    acc(tape, grads, w, dw.into_dyn());
    if let (Some(b), Some(db)) = (b, db) {
        acc(tape, grads, b, db.into_dyn());
    }
}

fn scalar(g: &Array) -> f32 {
    g.iter().next().copied().unwrap_or(0.0)
}
