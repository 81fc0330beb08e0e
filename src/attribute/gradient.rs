//! Gradients of the scorer's raw score at continuous inputs: a point (a `[4, len]` array standing
//! for a sequence's positions, such as a step on an integrated-gradients path) is cut into the
//! network inputs the [`Presentation`] makes of its sequence (both strands, DeepBind windows with
//! their N padding), the network runs on them with a tape, and the gradient of the combined score
//! (the presentation's weights: the winning strand and window under `max`, each with its share
//! under `mean`) is mapped back onto the point's positions. Also the Gauss-Legendre rule that
//! integrated gradients integrates with.

use ndarray::{Array2, Array3, ArrayView2, Axis, IxDyn};

use crate::encode::NMode;
use crate::interpret::add_back;
use crate::model::Model;
use crate::score::presentation::{Input, Presentation};
use crate::tensor::{Array, Tape};
use crate::{Error, Result};

/// An input to take the gradient at: `x [4, len]` stands for the positions of sequence `seq`.
pub(super) struct Point {
    pub x: Array2<f32>,
    pub seq: usize,
}

/// The score and its gradient at one point, per task.
pub(super) struct Grad {
    /// shape: [tasks]
    pub output: Vec<f32>,
    /// shape: [tasks, 4, len]
    pub grad: Array3<f32>,
}

/// The network input `it` made from the point `x [4, len]`: position `q` (forward orientation) is
/// `x[:, q + shift]` inside `it.real` and N (0.25 in each channel) elsewhere; reversed and
/// complemented (both axes flipped) on the reverse strand. The adjoint of [`add_back`].
pub(super) fn item_array(x: ArrayView2<f32>, it: &Input) -> Array2<f32> {
    let n = it.input.len();
    let len = x.ncols() as isize;
    let mut a = Array2::from_elem((4, n), NMode::Quarter.value());
    for q in it.real.clone() {
        let pos = q as isize + it.shift;
        if (0..len).contains(&pos) {
            a.column_mut(q).assign(&x.column(pos as usize));
        }
    }
    if it.reverse {
        a.invert_axis(Axis(0));
        a.invert_axis(Axis(1));
        a = a.as_standard_layout().into_owned();
    }
    a
}

/// Checks that the network takes inputs of `len` bp.
pub(super) fn check_length(model: &Model, len: usize) -> Result<()> {
    match model.meta.input_length {
        Some(want) if want != len => Err(Error::Config(format!(
            "the model takes sequences of exactly {want} bp, got {len} bp"
        ))),
        _ => Ok(()),
    }
}

/// The score and its gradient at every point, for each task in `tasks`, about `budget` input
/// positions (network inputs x their length) per pass, at least one point.
pub(super) fn gradients(
    model: &Model,
    pres: &Presentation,
    seqs: &[&[u8]],
    points: &[Point],
    tasks: &[usize],
    budget: usize,
) -> Result<Vec<Grad>> {
    let mut out: Vec<Option<Grad>> = (0..points.len()).map(|_| None).collect();
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| (seqs[points[i].seq].len(), i));
    let len_of = |i: usize| seqs[points[i].seq].len();
    for group in order.chunk_by(|&a, &b| len_of(a) == len_of(b)) {
        let mut start = 0;
        while start < group.len() {
            let mut end = start;
            let mut used = 0;
            let mut items = Vec::new();
            while end < group.len() && (end == start || used < budget) {
                let before = items.len();
                let i = group[end];
                pres.inputs(end - start, seqs[points[i].seq], &mut items);
                used += items[before..]
                    .iter()
                    .map(|it| it.input.len())
                    .sum::<usize>();
                end += 1;
            }
            let members: Vec<usize> = group[start..end].to_vec();
            for (k, g) in pass(model, pres, points, &members, &items, tasks)?
                .into_iter()
                .enumerate()
            {
                out[members[k]] = Some(g);
            }
            start = end;
        }
    }
    out.into_iter()
        .map(|g| g.ok_or_else(|| Error::Config("internal: a point got no gradient".into())))
        .collect()
}

/// One forward pass over the inputs of `members` (`items[..].seq` indexes `members`), one
/// backward pass per task.
fn pass(
    model: &Model,
    pres: &Presentation,
    points: &[Point],
    members: &[usize],
    items: &[Input],
    tasks: &[usize],
) -> Result<Vec<Grad>> {
    let n = items.first().map_or(0, |it| it.input.len());
    check_length(model, n)?;
    let mut x = Array3::<f32>::zeros((items.len(), 4, n));
    for (i, it) in items.iter().enumerate() {
        x.index_axis_mut(Axis(0), i)
            .assign(&item_array(points[members[it.seq]].x.view(), it));
    }
    let mut tape = Tape::new();
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
    let mut result: Vec<Grad> = members
        .iter()
        .map(|&m| Grad {
            output: vec![0.0; tasks.len()],
            grad: Array3::zeros((tasks.len(), 4, points[m].x.ncols())),
        })
        .collect();
    for (ti, &t) in tasks.iter().enumerate() {
        let w = pres.weights(items, &yv.column(t).to_vec());
        let mut wfull = Array::zeros(IxDyn(&[items.len(), yv.ncols()]));
        for (i, &v) in w.iter().enumerate() {
            wfull[[i, t]] = v;
            result[items[i].seq].output[ti] += v * yv[[i, t]];
        }
        let loss = tape.weighted_sum(y, wfull)?;
        let grads = tape.backward(loss)?;
        let g = crate::interpret::input_gradient(&grads, xv, "attribute")?;
        for (i, it) in items.iter().enumerate() {
            if w[i] == 0.0 {
                continue;
            }
            let mut dst = result[it.seq].grad.index_axis_mut(Axis(0), ti);
            add_back(
                &mut dst,
                g.index_axis(Axis(0), i),
                it.shift,
                it.real.clone(),
                it.reverse,
            );
        }
    }
    Ok(result)
}

/// The `n`-point Gauss-Legendre rule on [0, 1]: `(alphas, weights)`, exact for polynomials of
/// degree up to `2n - 1` (as numpy's `leggauss` mapped to [0, 1], captum's default for
/// integrated gradients). Nodes in increasing order.
///
/// ```
/// let (a, w) = seqcnn::attribute::gauss_legendre(3);
/// assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-14);
/// let x4: f64 = a.iter().zip(&w).map(|(a, w)| w * a.powi(4)).sum();
/// assert!((x4 - 0.2).abs() < 1e-14);
/// ```
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = Vec::with_capacity(n);
    let mut weights = Vec::with_capacity(n);
    for i in 0..n {
        // Newton's method on P_n from Tricomi's guess for its i-th root (in descending order).
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            // P_n(x) and P_{n-1}(x) by Bonnet's recurrence.
            let (mut p_prev, mut p) = (1.0f64, x);
            for j in 2..=n {
                let jf = j as f64;
                let next = ((2.0 * jf - 1.0) * x * p - (jf - 1.0) * p_prev) / jf;
                p_prev = p;
                p = next;
            }
            dp = n as f64 * (x * p - p_prev) / (x * x - 1.0);
            let dx = p / dp;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        nodes.push((x + 1.0) / 2.0);
        // The weight on [-1, 1] is 2 / ((1 - x^2) P_n'(x)^2); halved on [0, 1].
        weights.push(1.0 / ((1.0 - x * x) * dp * dp));
    }
    nodes.reverse();
    weights.reverse();
    (nodes, weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        for n in 1..=60 {
            let (a, w) = gauss_legendre(n);
            assert_eq!(a.len(), n);
            assert!(a.windows(2).all(|p| p[0] < p[1]), "n = {n}");
            assert!(a.iter().all(|&x| x > 0.0 && x < 1.0));
            for deg in 0..(2 * n).min(40) {
                let got: f64 = a.iter().zip(&w).map(|(a, w)| w * a.powi(deg as i32)).sum();
                let want = 1.0 / (deg as f64 + 1.0);
                assert!((got - want).abs() < 1e-12, "n = {n}, degree {deg}: {got}");
            }
        }
        // numpy.polynomial.legendre.leggauss(2): nodes -+1/sqrt(3), weights 1.
        let (a, w) = gauss_legendre(2);
        let r = 1.0 / 3f64.sqrt();
        assert!((a[0] - (1.0 - r) / 2.0).abs() < 1e-15 && (w[0] - 0.5).abs() < 1e-15);
    }

    #[test]
    fn item_arrays_are_the_encoded_network_inputs() {
        // For a one-hot point, the network inputs are the encoded inputs the scorer makes.
        let seq = b"ACGTTGCANNAC".to_vec();
        let x = crate::encode::one_hot(&seq, NMode::Quarter).unwrap();
        for pres in [
            Presentation {
                strand: crate::model::Strand::Mean,
                pad: 0,
                window: None,
                average: false,
            },
            Presentation {
                strand: crate::model::Strand::Max,
                pad: 3,
                window: Some(5),
                average: false,
            },
        ] {
            let mut items = Vec::new();
            pres.inputs(0, &seq, &mut items);
            for it in &items {
                let want = crate::encode::one_hot(&it.input, NMode::Quarter).unwrap();
                assert_eq!(item_array(x.view(), it), want, "{it:?}");
            }
        }
    }
}
