//! DeepLIFT's rescale rule (Shrikumar et al. 2017) as backward kernels over a batch of pairs: rows
//! `0..B/2` are inputs and rows `B/2..B` their references, row `r` paired with row `r + B/2`. The
//! multiplier of a nonlinearity `y = f(u)` is `(f(u_x) - f(u_ref)) / (u_x - u_ref)`, its gradient
//! at the input where the difference is below [`EPS`]; max pooling routes each output's difference
//! to the positions that were the maximum (captum's rule, below). Multipliers are written into the
//! input rows; reference rows get zeros, so what flows back to the network's input is the input
//! rows' multipliers alone. [`flow`] measures what a node carries: the upstream multipliers times
//! the pair differences, per pair.

use ndarray::IxDyn;
use rayon::prelude::*;

use crate::tensor::Array;

/// Input differences below this (absolute) take the gradient instead of the quotient, as captum.
pub const EPS: f32 = 1e-10;

/// A value as a standard-layout slice, and the number of pair rows and values per row.
fn rows(a: &Array) -> (std::borrow::Cow<'_, [f32]>, usize, usize) {
    let b = a.shape().first().copied().unwrap_or(1).max(1);
    let s = a.len() / b;
    let data = match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    };
    (data, b / 2, s)
}

/// The rescale rule for an elementwise nonlinearity with input `u`, output `y` and upstream
/// multipliers `g` (all of one shape, pairs along the first axis); `deriv(u, y)` is its
/// derivative, used where the pair's input difference is below [`EPS`].
pub fn elementwise(
    g: &Array,
    u: &Array,
    y: &Array,
    deriv: impl Fn(f32, f32) -> f32 + Sync,
) -> Array {
    let (gs, half, s) = rows(g);
    let (us, _, _) = rows(u);
    let (ys, _, _) = rows(y);
    let mut dx = vec![0.0f32; g.len()];
    let off = half * s;
    dx[..off]
        .par_chunks_mut(s.max(1))
        .enumerate()
        .for_each(|(r, d)| {
            let a = r * s;
            for (j, dj) in d.iter_mut().enumerate() {
                let (ux, ur) = (us[a + j], us[off + a + j]);
                let du = ux - ur;
                let m = if du.abs() < EPS {
                    deriv(ux, ys[a + j])
                } else {
                    (ys[a + j] - ys[off + a + j]) / du
                };
                *dj = gs[a + j] * m;
            }
        });
    Array::from_shape_vec(IxDyn(g.shape()), dx).expect("sized as g")
}

/// The rescale rule for max pooling (1D, 2D, global): `u [B, C, ...]` pooled to `y [B, C, ...]`,
/// `argmax` the position in its channel's plane of `u` of every output (for the input and the
/// reference rows alike), `g` the upstream multipliers of `y`. Per output, with `o` and `o_ref`
/// the pooled values and `m = max(o, o_ref)`: `m - o_ref` (not negative) goes to the input's
/// argmax and `o - m` (not positive) to the reference's, each times the upstream multiplier; a
/// position's multiplier is what it received over its input difference (its gradient where that
/// is below [`EPS`]). What a position receives has the sign of its difference and is at most its
/// size, so the rule conserves `sum(multiplier x difference) = sum(g x (o - o_ref))` exactly.
pub fn max_pool(g: &Array, u: &Array, y: &Array, argmax: &[u32]) -> Array {
    let b = u.shape().first().copied().unwrap_or(0);
    let c = u.shape().get(1).copied().unwrap_or(1);
    let plane = u.len() / (b * c).max(1);
    let outs = y.len() / (b * c).max(1);
    let half_planes = (b / 2) * c;
    let (gs, _, _) = rows(g);
    let (us, _, _) = rows(u);
    let (ys, _, _) = rows(y);
    let mut dx = vec![0.0f32; u.len()];
    dx[..half_planes * plane]
        .par_chunks_mut(plane.max(1))
        .enumerate()
        .for_each(|(k, d)| {
            let kr = k + half_planes;
            let mut routed = vec![0.0f32; plane];
            let mut grad = vec![0.0f32; plane];
            for t in 0..outs {
                let (ix, ir) = (
                    argmax[k * outs + t] as usize,
                    argmax[kr * outs + t] as usize,
                );
                let (ox, or) = (ys[k * outs + t], ys[kr * outs + t]);
                let m = ox.max(or);
                let gt = gs[k * outs + t];
                routed[ix] += gt * (m - or);
                routed[ir] += gt * (ox - m);
                grad[ix] += gt;
            }
            for (p, dp) in d.iter_mut().enumerate() {
                let du = us[k * plane + p] - us[kr * plane + p];
                *dp = if du.abs() < EPS {
                    grad[p]
                } else {
                    routed[p] / du
                };
            }
        });
    Array::from_shape_vec(IxDyn(u.shape()), dx).expect("sized as u")
}

/// What a node carries for each pair: `sum(g x (v_input - v_reference))` over the input row
/// (in `f64`). Empty when the node has no pair rows (a scalar).
pub fn flow(g: &Array, v: &Array) -> Vec<f64> {
    if v.ndim() == 0 || g.shape() != v.shape() {
        return Vec::new();
    }
    let (gs, half, s) = rows(g);
    let (vs, _, _) = rows(v);
    let off = half * s;
    (0..half)
        .into_par_iter()
        .map(|r| {
            let a = r * s;
            (0..s)
                .map(|j| gs[a + j] as f64 * (vs[a + j] as f64 - vs[off + a + j] as f64))
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
        let g = arr(&[2, 4], &[3.0, 1.0, 5.0, 7.0, 9.0, 9.0, 9.0, 9.0]);
        let d = elementwise(&g, &u, &y, |u, _| f32::from(u > 0.0));
        assert_eq!(
            d.iter().copied().collect::<Vec<_>>(),
            [2.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        // Conservation: sum(d x du) = sum(g x dy) per pair.
        let (dy, du) = (flow(&g, &y), flow(&d, &u));
        assert!((dy[0] - du[0]).abs() < 1e-6, "{dy:?} {du:?}");
    }

    #[test]
    fn max_pool_routes_both_parts_and_conserves() {
        // One pair, one channel, a window of 3: x = [1, 4, 2] (max 4 at 1), ref = [5, 0, 3] (max
        // 5 at 0). o - o_ref = -1: m = 5, so 5 - 5 = 0 to position 1 and 4 - 5 = -1 to position
        // 0, whose difference is 1 - 5 = -4: multiplier -1 / -4 = 0.25 (times g = 2).
        let u = arr(&[2, 1, 3], &[1.0, 4.0, 2.0, 5.0, 0.0, 3.0]);
        let y = arr(&[2, 1, 1], &[4.0, 5.0]);
        let g = arr(&[2, 1, 1], &[2.0, 0.0]);
        let d = max_pool(&g, &u, &y, &[1, 0]);
        assert_eq!(
            d.iter().copied().collect::<Vec<_>>(),
            [0.5, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert!((flow(&d, &u)[0] - flow(&g, &y)[0]).abs() < 1e-12);
        // The input's maximum wins: x = [1, 6, 2]: 6 - 5 = 1 to position 1 (difference 6).
        let u = arr(&[2, 1, 3], &[1.0, 6.0, 2.0, 5.0, 0.0, 3.0]);
        let y = arr(&[2, 1, 1], &[6.0, 5.0]);
        let d = max_pool(&g, &u, &y, &[1, 0]);
        let got: Vec<f32> = d.iter().copied().collect();
        assert!(
            (got[1] - 2.0 / 6.0).abs() < 1e-7 && got[0] == 0.0,
            "{got:?}"
        );
        assert!((flow(&d, &u)[0] - flow(&g, &y)[0]).abs() < 1e-6);
    }
}
