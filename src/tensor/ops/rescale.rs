//! DeepLIFT's rescale rule (Shrikumar et al. 2017) as backward kernels over a batch of pairs laid
//! out as [`Pairs`] says: rows `0..inputs` are inputs, and each further row a reference, paired
//! with one input row (several references may share one input, whose forward pass then runs
//! once). Values (`u`, `y`, `v`) have the batch's rows; multipliers (`g` and what the kernels
//! return) have one row per pair. The multiplier of a nonlinearity `y = f(u)` is
//! `(f(u_x) - f(u_ref)) / (u_x - u_ref)`, its gradient at the input where the difference is below
//! [`EPS`]; max pooling routes each output's difference to the positions that were the maximum
//! (captum's rule, below). [`flow`] measures what a node carries: the upstream multipliers times
//! the pair differences, per pair.

use ndarray::IxDyn;
use rayon::prelude::*;

use crate::tensor::Array;
use crate::{Error, Result};

/// Input differences below this (absolute) take the gradient instead of the quotient, as captum.
pub const EPS: f32 = 1e-10;

/// How a DeepLIFT batch pairs its rows: rows `0..inputs` are inputs; row `inputs + p` is pair
/// `p`'s reference, and `partner[p]` the row of its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pairs {
    pub inputs: usize,
    pub partner: Vec<usize>,
}

impl Pairs {
    /// Rows `0..n` inputs and `n..2n` their references, row `r` paired with row `n + r`.
    pub fn halves(n: usize) -> Pairs {
        Pairs {
            inputs: n,
            partner: (0..n).collect(),
        }
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.partner.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.partner.is_empty()
    }

    /// The rows of a batch laid out this way.
    pub fn rows(&self) -> usize {
        self.inputs + self.partner.len()
    }

    /// Checks that every partner is an input row.
    pub fn check(&self) -> Result<()> {
        match self.partner.iter().find(|&&r| r >= self.inputs) {
            Some(r) => Err(Error::Config(format!(
                "DeepLIFT pairs: input row {r} of {} input rows",
                self.inputs
            ))),
            None => Ok(()),
        }
    }

    /// `(input row, reference row)` of pair `p`.
    fn rows_of(&self, p: usize) -> (usize, usize) {
        (self.partner[p], self.inputs + p)
    }
}

/// A value as a standard-layout slice, and the number of values per row.
fn rows(a: &Array) -> (std::borrow::Cow<'_, [f32]>, usize) {
    let b = a.shape().first().copied().unwrap_or(1).max(1);
    let s = a.len() / b;
    let data = match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    };
    (data, s)
}

/// The shape of a multiplier of `v`: `v`'s with one row per pair.
pub fn pair_shape(v: &[usize], pairs: &Pairs) -> Vec<usize> {
    let mut s = v.to_vec();
    if let Some(first) = s.first_mut() {
        *first = pairs.len();
    }
    s
}

/// The rescale rule for an elementwise nonlinearity with input `u`, output `y` (batch rows) and
/// upstream multipliers `g` (pair rows); `deriv(u, y)` is its derivative, used where the pair's
/// input difference is below [`EPS`].
pub fn elementwise(
    g: &Array,
    u: &Array,
    y: &Array,
    pairs: &Pairs,
    deriv: impl Fn(f32, f32) -> f32 + Sync,
) -> Array {
    let (gs, s) = rows(g);
    let (us, _) = rows(u);
    let (ys, _) = rows(y);
    let mut dx = vec![0.0f32; g.len()];
    dx.par_chunks_mut(s.max(1)).enumerate().for_each(|(p, d)| {
        let (ix, ir) = pairs.rows_of(p);
        let (ux, ur) = (&us[ix * s..(ix + 1) * s], &us[ir * s..(ir + 1) * s]);
        let (yx, yr) = (&ys[ix * s..(ix + 1) * s], &ys[ir * s..(ir + 1) * s]);
        let gp = &gs[p * s..(p + 1) * s];
        for (j, dj) in d.iter_mut().enumerate() {
            let du = ux[j] - ur[j];
            let m = if du.abs() < EPS {
                deriv(ux[j], yx[j])
            } else {
                (yx[j] - yr[j]) / du
            };
            *dj = gp[j] * m;
        }
    });
    Array::from_shape_vec(IxDyn(g.shape()), dx).expect("sized as g")
}

/// The rescale rule for max pooling (1D, 2D, global): `u [B, C, ...]` pooled to `y [B, C, ...]`,
/// `argmax` the position in its channel's plane of `u` of every output (for the input and the
/// reference rows alike), `g` the upstream multipliers of `y` (pair rows). Per output, with `o`
/// and `o_ref` the pooled values and `m = max(o, o_ref)`: `m - o_ref` (not negative) goes to the
/// input's argmax and `o - m` (not positive) to the reference's, each times the upstream
/// multiplier; a position's multiplier is what it received over its input difference (its
/// gradient where that is below [`EPS`]). What a position receives has the sign of its difference
/// and is at most its size, so the rule conserves `sum(multiplier x difference) = sum(g x (o -
/// o_ref))` exactly.
pub fn max_pool(g: &Array, u: &Array, y: &Array, argmax: &[u32], pairs: &Pairs) -> Array {
    let b = u.shape().first().copied().unwrap_or(0);
    let c = u.shape().get(1).copied().unwrap_or(1);
    let plane = u.len() / (b * c).max(1);
    let outs = y.len() / (b * c).max(1);
    let (gs, _) = rows(g);
    let (us, _) = rows(u);
    let (ys, _) = rows(y);
    let shape = pair_shape(u.shape(), pairs);
    let mut dx = vec![0.0f32; pairs.len() * c * plane];
    dx.par_chunks_mut(plane.max(1))
        .enumerate()
        .for_each(|(k, d)| {
            let (p, ch) = (k / c.max(1), k % c.max(1));
            let (ix, ir) = pairs.rows_of(p);
            let (kx, kr) = (ix * c + ch, ir * c + ch);
            let mut routed = vec![0.0f32; plane];
            let mut grad = vec![0.0f32; plane];
            for t in 0..outs {
                let (ax, ar) = (
                    argmax[kx * outs + t] as usize,
                    argmax[kr * outs + t] as usize,
                );
                let (ox, or) = (ys[kx * outs + t], ys[kr * outs + t]);
                let m = ox.max(or);
                let gt = gs[k * outs + t];
                routed[ax] += gt * (m - or);
                routed[ar] += gt * (ox - m);
                grad[ax] += gt;
            }
            for (q, dq) in d.iter_mut().enumerate() {
                let du = us[kx * plane + q] - us[kr * plane + q];
                *dq = if du.abs() < EPS {
                    grad[q]
                } else {
                    routed[q] / du
                };
            }
        });
    Array::from_shape_vec(IxDyn(&shape), dx).expect("sized as the pairs")
}

/// What a node carries for each pair: `sum(g x (v_input - v_reference))` over the pair's rows
/// (in `f64`), `g` with pair rows and `v` with batch rows. Empty when the node has no pair rows
/// (a scalar).
pub fn flow(g: &Array, v: &Array, pairs: &Pairs) -> Vec<f64> {
    if v.ndim() == 0 || g.shape() != pair_shape(v.shape(), pairs).as_slice() {
        return Vec::new();
    }
    let (gs, s) = rows(g);
    let (vs, _) = rows(v);
    (0..pairs.len())
        .into_par_iter()
        .map(|p| {
            let (ix, ir) = pairs.rows_of(p);
            let (vx, vr) = (&vs[ix * s..(ix + 1) * s], &vs[ir * s..(ir + 1) * s]);
            gs[p * s..(p + 1) * s]
                .iter()
                .zip(vx.iter().zip(vr))
                .map(|(&g, (&a, &b))| g as f64 * (a as f64 - b as f64))
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(shape: &[usize], v: &[f32]) -> Array {
        Array::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap()
    }

    #[test]
    fn relu_multipliers_by_hand() {
        // Pairs (x, ref): (2, -1) -> (2 - 0) / 3; (-1, -3) -> 0 / 2; (1, 1) -> gradient 1;
        // (-2, -2) -> gradient 0.
        let u = arr(&[2, 4], &[2.0, -1.0, 1.0, -2.0, -1.0, -3.0, 1.0, -2.0]);
        let y = u.mapv(|v| v.max(0.0));
        let g = arr(&[1, 4], &[3.0, 1.0, 5.0, 7.0]);
        let pairs = Pairs::halves(1);
        let d = elementwise(&g, &u, &y, &pairs, |u, _| f32::from(u > 0.0));
        assert_eq!(d.iter().copied().collect::<Vec<_>>(), [2.0, 0.0, 5.0, 0.0]);
        // Conservation: sum(d x du) = sum(g x dy) per pair.
        let (dy, du) = (flow(&g, &y, &pairs), flow(&d, &u, &pairs));
        assert!((dy[0] - du[0]).abs() < 1e-6, "{dy:?} {du:?}");
    }

    #[test]
    fn references_sharing_an_input_row_get_what_pairs_of_their_own_get() {
        // Input row x and references r1, r2: [x, r1, r2] with both pairs on row 0, against
        // [x, x, r1, r2] in halves.
        let (x, r1, r2) = (
            [2.0f32, -1.0, 0.5],
            [-1.0f32, -3.0, 0.5],
            [3.0f32, 1.0, -2.0],
        );
        let shared = arr(&[3, 3], &[x, r1, r2].concat());
        let halves = arr(&[4, 3], &[x, x, r1, r2].concat());
        let g = arr(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let sp = Pairs {
            inputs: 1,
            partner: vec![0, 0],
        };
        let hp = Pairs::halves(2);
        let relu = |u: &Array| u.mapv(|v| v.max(0.0));
        let d = |u: &Array, p: &Pairs| elementwise(&g, u, &relu(u), p, |u, _| f32::from(u > 0.0));
        assert_eq!(d(&shared, &sp), d(&halves, &hp));
        assert_eq!(flow(&g, &shared, &sp), flow(&g, &halves, &hp));
        // Max pooling over the whole row (one output per row).
        let pool = |u: &Array| {
            let rows: Vec<(f32, u32)> = u
                .outer_iter()
                .map(|r| {
                    let (i, v) = r
                        .iter()
                        .enumerate()
                        .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
                    (v, i as u32)
                })
                .collect();
            let y = arr(
                &[rows.len(), 1, 1],
                &rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            );
            (y, rows.iter().map(|r| r.1).collect::<Vec<_>>())
        };
        let g1 = arr(&[2, 1, 1], &[2.0, 3.0]);
        let m = |u: &Array, p: &Pairs| {
            let u3 = u
                .clone()
                .into_shape_with_order(IxDyn(&[u.shape()[0], 1, 3]))
                .unwrap();
            let (y, am) = pool(u);
            max_pool(&g1, &u3, &y, &am, p)
        };
        assert_eq!(m(&shared, &sp), m(&halves, &hp));
    }

    #[test]
    fn max_pool_routes_both_parts_and_conserves() {
        // One pair, one channel, a window of 3: x = [1, 4, 2] (max 4 at 1), ref = [5, 0, 3] (max
        // 5 at 0). o - o_ref = -1: m = 5, so 5 - 5 = 0 to position 1 and 4 - 5 = -1 to position
        // 0, whose difference is 1 - 5 = -4: multiplier -1 / -4 = 0.25 (times g = 2).
        let pairs = Pairs::halves(1);
        let u = arr(&[2, 1, 3], &[1.0, 4.0, 2.0, 5.0, 0.0, 3.0]);
        let y = arr(&[2, 1, 1], &[4.0, 5.0]);
        let g = arr(&[1, 1, 1], &[2.0]);
        let d = max_pool(&g, &u, &y, &[1, 0], &pairs);
        assert_eq!(d.iter().copied().collect::<Vec<_>>(), [0.5, 0.0, 0.0]);
        assert!((flow(&d, &u, &pairs)[0] - flow(&g, &y, &pairs)[0]).abs() < 1e-12);
        // The input's maximum wins: x = [1, 6, 2]: 6 - 5 = 1 to position 1 (difference 6).
        let u = arr(&[2, 1, 3], &[1.0, 6.0, 2.0, 5.0, 0.0, 3.0]);
        let y = arr(&[2, 1, 1], &[6.0, 5.0]);
        let d = max_pool(&g, &u, &y, &[1, 0], &pairs);
        let got: Vec<f32> = d.iter().copied().collect();
        assert!(
            (got[1] - 2.0 / 6.0).abs() < 1e-7 && got[0] == 0.0,
            "{got:?}"
        );
        assert!((flow(&d, &u, &pairs)[0] - flow(&g, &y, &pairs)[0]).abs() < 1e-6);
    }
}
