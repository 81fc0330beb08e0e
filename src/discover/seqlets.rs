//! Seqlets: the stretches of high contribution, called from per-position contribution tracks as
//! TF-MoDISco (modisco-lite's `extract_seqlets`) calls them.
//!
//! Each sequence's contributions are summed over sliding windows. A Laplace null is fitted to
//! those window sums (its centre the mode, found by a two-level histogram; its two rates the most
//! aggressive over the 5th to 95th percentiles of each side), and 10,000 values drawn from it.
//! Isotonic regression of "is a real window" on the window sum, the real windows against the
//! null weighted to the same total, gives each side's threshold at the target false discovery
//! rate; the fraction of windows passing is then held between a floor and a ceiling. Windows
//! past a threshold are taken greedily, strongest first, each suppressing its neighbourhood, and
//! widened by a flank on each side. A seqlet counts for a sign when its core's sum passes a weak
//! threshold (the percentile of |window sums| the weaker transformed threshold sits at, capped
//! at 0.8).

use crate::rng::{self, Rng};
use crate::{Error, Result};
use rand::Rng as _;

/// Settings of [`call`] (modisco-lite's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct SeqletOptions {
    /// Sliding window whose sums are scored (modisco-lite: 21).
    pub window: usize,
    /// Bases added on each side of a window to make a seqlet (10).
    pub flank: usize,
    /// Target false discovery rate of a window against the Laplace null (0.2).
    pub target_fdr: f64,
    /// Fewest windows that pass, as a fraction of all (0.03).
    pub min_passing: f64,
    /// Most windows that pass, as a fraction of all (0.2).
    pub max_passing: f64,
    /// Cap on the percentile (0-1) of the threshold a seqlet's sign is counted at (0.8).
    pub weak_threshold: f64,
    /// Values drawn from the null (10,000).
    pub null_samples: usize,
    /// Window sums kept (a seeded subsample) for the thresholds (1,000,000).
    pub subsample_cap: usize,
    /// Seed of the null's draws and the subsample.
    pub seed: u64,
}

impl Default for SeqletOptions {
    fn default() -> Self {
        SeqletOptions {
            window: 21,
            flank: 10,
            target_fdr: 0.2,
            min_passing: 0.03,
            max_passing: 0.2,
            weak_threshold: 0.8,
            null_samples: 10_000,
            subsample_cap: 1_000_000,
            seed: 1234,
        }
    }
}

/// One seqlet: `len` bases of sequence `seq` from `start`, read on the reverse strand when
/// `reverse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seqlet {
    /// Index of the sequence.
    pub seq: usize,
    /// 0-based first base.
    pub start: usize,
    /// Length in bases.
    pub len: usize,
    /// Read as the reverse complement.
    pub reverse: bool,
}

/// What [`call`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Called {
    /// Seqlets whose core sums above `sign_threshold`, in sequence order.
    pub positive: Vec<Seqlet>,
    /// Seqlets whose core sums below `-sign_threshold`, in sequence order.
    pub negative: Vec<Seqlet>,
    /// Window sums at or above this pass.
    pub pos_threshold: f64,
    /// Window sums at or below this pass.
    pub neg_threshold: f64,
    /// |core sum| a seqlet needs to count for its sign.
    pub sign_threshold: f64,
    /// Windows scored.
    pub windows: usize,
}

/// Sums of `w` consecutive values of each row (`n` rows of `len`): `len - w + 1` per row.
pub fn window_sums(scores: &[f64], n: usize, len: usize, w: usize) -> Vec<f64> {
    let d = len + 1 - w;
    let mut out = Vec::with_capacity(n * d);
    for row in scores.chunks(len).take(n) {
        let mut cum = Vec::with_capacity(len + 1);
        cum.push(0.0f64);
        let mut s = 0.0;
        for &v in row {
            s += v;
            cum.push(s);
        }
        out.extend((0..d).map(|i| cum[i + w] - cum[i]));
    }
    out
}

/// numpy's `percentile` (linear interpolation) of sorted values, `q` in 0-100.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The left and right edges of the fullest of 1,000 equal bins over `values`, and the values
/// strictly inside it (numpy's `histogram` binning).
fn bin_mode(values: &[f64]) -> (f64, f64, Vec<f64>) {
    const BINS: usize = 1000;
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let width = (hi - lo) / BINS as f64;
    let mut counts = vec![0usize; BINS];
    for &v in values {
        let b = (((v - lo) / (hi - lo)) * BINS as f64) as usize;
        counts[b.min(BINS - 1)] += 1;
    }
    let peak = counts
        .iter()
        .enumerate()
        .fold(0, |best, (i, &c)| if c > counts[best] { i } else { best });
    let l = lo + peak as f64 * width;
    let r = lo + (peak + 1) as f64 * width;
    let inside = values.iter().copied().filter(|&v| l < v && v < r).collect();
    (l, r, inside)
}

/// Values drawn from the Laplace null fitted to `values`: (those >= 0, those < 0).
fn laplace_null(values: &[f64], samples: usize, rng: &mut Rng) -> (Vec<f64>, Vec<f64>) {
    let pcts: Vec<f64> = (1..=19).map(|x| 5.0 * x as f64).collect();
    let (_, _, top) = bin_mode(values);
    let (l, r, _) = if top.is_empty() {
        bin_mode(values)
    } else {
        bin_mode(&top)
    };
    let mu = (l + r) / 2.0;
    let mut pos: Vec<f64> = values.iter().copied().filter(|&v| v >= mu).collect();
    let mut neg: Vec<f64> = values.iter().copied().filter(|&v| v <= mu).collect();
    pos.sort_by(f64::total_cmp);
    neg.sort_by(f64::total_cmp);
    let rate = |side: &[f64], upper: bool| -> f64 {
        if side.is_empty() {
            return f64::INFINITY;
        }
        pcts.iter()
            .map(|&p| {
                let q = if upper { p } else { 100.0 - p };
                -(1.0 - p / 100.0).ln() / (percentile(side, q) - mu).abs()
            })
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let (lp, ln) = (rate(&pos, true), rate(&neg, false));
    let prob_pos = pos.len() as f64 / (pos.len() + neg.len()) as f64;
    let (mut np, mut nn) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        let sign: f64 = rng.random();
        let cdf: f64 = rng.random();
        let v = if sign < prob_pos {
            -(1.0 - cdf).ln() / lp + mu
        } else {
            mu + (1.0 - cdf).ln() / ln
        };
        if v >= 0.0 {
            np.push(v);
        } else {
            nn.push(v);
        }
    }
    (np, nn)
}

/// Weighted isotonic (non-decreasing) regression of `y` on `x` by pooling adjacent violators,
/// ties in `x` first merged to their weighted mean (as scikit-learn does). Returns the distinct
/// `x`, ascending, and the fitted value at each.
pub fn isotonic(points: &mut [(f64, f64, f64)]) -> (Vec<f64>, Vec<f64>) {
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    // (x, weighted y sum, weight) per distinct x.
    let mut xs: Vec<f64> = Vec::new();
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new(); // (sum wy, sum w, distinct xs in block)
    for &(x, y, w) in points.iter() {
        if xs.last() == Some(&x) {
            let b = blocks.last_mut().expect("a block per distinct x");
            b.0 += w * y;
            b.1 += w;
        } else {
            xs.push(x);
            blocks.push((w * y, w, 1));
        }
    }
    // Pool adjacent violators.
    let mut stack: Vec<(f64, f64, usize)> = Vec::with_capacity(blocks.len());
    for b in blocks {
        let mut cur = b;
        while let Some(&top) = stack.last() {
            if top.0 / top.1 >= cur.0 / cur.1 {
                stack.pop();
                cur = (top.0 + cur.0, top.1 + cur.1, top.2 + cur.2);
            } else {
                break;
            }
        }
        stack.push(cur);
    }
    let mut fit = Vec::with_capacity(xs.len());
    for (s, w, k) in stack {
        fit.extend(std::iter::repeat_n(s / w, k));
    }
    (xs, fit)
}

/// modisco-lite's `_isotonic_thresholds` for the positive side: `values` ascending, all >= 0.
fn isotonic_threshold(values: &[f64], null: &[f64], target_fdr: f64) -> f64 {
    const MIN_FRAC_NEG: f64 = 0.95;
    if values.is_empty() {
        return f64::INFINITY;
    }
    if null.is_empty() {
        return values[0];
    }
    let w = values.len() as f64 / null.len() as f64;
    let mut points: Vec<(f64, f64, f64)> = values
        .iter()
        .map(|&x| (x, 1.0, 1.0))
        .chain(null.iter().map(|&x| (x, 0.0, w)))
        .collect();
    let (xs, fit) = isotonic(&mut points);
    let at = |x: f64| -> f64 {
        let i = xs.partition_point(|&v| v < x);
        fit[i.min(fit.len() - 1)]
    };
    let min_precision = fit[0];
    let mut frac_neg = -1.0 / (1.0 - 1.0 / min_precision.max(1e-7));
    if !(MIN_FRAC_NEG..=1.0).contains(&frac_neg) {
        frac_neg = frac_neg.clamp(MIN_FRAC_NEG, 1.0);
    }
    let last = values.len() - 1;
    for (i, &v) in values.iter().enumerate() {
        let precision = if i == last {
            1.0
        } else {
            (1.0 + frac_neg * (1.0 - 1.0 / at(v).max(1e-7))).clamp(0.0, 1.0)
        };
        if precision >= 1.0 - target_fdr {
            return v;
        }
    }
    values[last]
}

/// Seqlets of the per-position contribution `scores` (`n` rows of `len`, the sum over bases of
/// each position's actual contribution).
pub fn call(scores: &[f64], n: usize, len: usize, opts: &SeqletOptions) -> Result<Called> {
    let (w, flank) = (opts.window, opts.flank);
    if w == 0 || len < w + 2 * flank + 1 {
        return Err(Error::Config(format!(
            "sequences of {len} bp are too short for seqlets of a {w} bp window with {flank} bp \
             flanks (need at least {} bp; lower --window or --flank)",
            w + 2 * flank + 1
        )));
    }
    if let Some(i) = scores.iter().position(|v| !v.is_finite()) {
        return Err(Error::Numeric(format!(
            "the contribution of sequence {} at position {} is {} (attributions must be finite)",
            i / len,
            i % len + 1,
            scores[i]
        )));
    }
    let mut smoothed = window_sums(scores, n, len, w);
    let d = len + 1 - w;
    let mut rng = rng::seeded(opts.seed);
    let (pos_null, neg_null) = laplace_null(&smoothed, opts.null_samples, &mut rng);
    let mut distribution: Vec<f64> = smoothed.iter().map(|v| v.abs()).collect();
    distribution.sort_by(f64::total_cmp);

    let mut values = smoothed.clone();
    if values.len() > opts.subsample_cap {
        rng::shuffle(&mut rng, &mut values);
        values.truncate(opts.subsample_cap);
    }
    let mut pos: Vec<f64> = values.iter().copied().filter(|&v| v >= 0.0).collect();
    pos.sort_by(f64::total_cmp);
    // The negative side mirrored, so one routine serves both.
    let mut neg: Vec<f64> = values.iter().filter(|&&v| v < 0.0).map(|v| -v).collect();
    neg.sort_by(f64::total_cmp);
    let neg_null: Vec<f64> = neg_null.iter().map(|v| -v).collect();
    let mut pos_t = isotonic_threshold(&pos, &pos_null, opts.target_fdr);
    let mut neg_t = -isotonic_threshold(&neg, &neg_null, opts.target_fdr);

    let passing =
        values.iter().filter(|&&v| v >= pos_t || v <= neg_t).count() as f64 / values.len() as f64;
    let mut abs: Vec<f64> = values.iter().map(|v| v.abs()).collect();
    abs.sort_by(f64::total_cmp);
    if passing < opts.min_passing {
        pos_t = percentile(&abs, 100.0 * (1.0 - opts.min_passing));
        neg_t = -pos_t;
    }
    if passing > opts.max_passing {
        pos_t = percentile(&abs, 100.0 * (1.0 - opts.max_passing));
        neg_t = -pos_t;
    }
    let transformed =
        |t: f64| distribution.partition_point(|&v| v < t.abs()) as f64 / distribution.len() as f64;
    let weak = (transformed(pos_t).min(transformed(neg_t)) - 0.0001).min(opts.weak_threshold);
    let idx = ((weak * distribution.len() as f64) as usize).min(distribution.len() - 1);
    let sign_threshold = distribution[idx];

    for row in smoothed.chunks_mut(d) {
        for (i, v) in row.iter_mut().enumerate() {
            let pass = *v >= pos_t || *v <= neg_t;
            *v = if pass && i >= flank && i + flank < d {
                v.abs()
            } else {
                f64::NEG_INFINITY
            };
        }
    }
    let suppress = (w / 2 + flank) as f64;
    let (mut positive, mut negative) = (Vec::new(), Vec::new());
    for (s, row) in smoothed.chunks_mut(d).enumerate() {
        loop {
            let (arg, best) =
                row.iter()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &v)| {
                        if v > bv { (i, v) } else { (bi, bv) }
                    });
            if best == f64::NEG_INFINITY {
                break;
            }
            if arg >= flank && arg < d - flank {
                let seqlet = Seqlet {
                    seq: s,
                    start: arg - flank,
                    len: w + 2 * flank,
                    reverse: false,
                };
                let core: f64 = scores[s * len + arg..s * len + arg + w].iter().sum();
                if core > sign_threshold {
                    positive.push(seqlet);
                } else if core < -sign_threshold {
                    negative.push(seqlet);
                }
            }
            let l = ((arg as f64 + 0.5 - suppress).floor()).max(0.0) as usize;
            let r = ((arg as f64 + 0.5 + suppress).ceil() as usize).min(d);
            row[l..r].fill(f64::NEG_INFINITY);
        }
    }
    Ok(Called {
        positive,
        negative,
        pos_threshold: pos_t,
        neg_threshold: neg_t,
        sign_threshold,
        windows: n * d,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_pools_violators_with_weights() {
        // y = 1, 0, 1 at x = 1, 2, 3 (weights 1, 1, 1): the first two pool to 0.5.
        let mut p = vec![(2.0, 0.0, 1.0), (1.0, 1.0, 1.0), (3.0, 1.0, 1.0)];
        let (xs, fit) = isotonic(&mut p);
        assert_eq!(xs, [1.0, 2.0, 3.0]);
        assert_eq!(fit, [0.5, 0.5, 1.0]);
        // Ties in x merge first: x = 1 holds y 1 (w 1) and 0 (w 3), mean 0.25.
        let mut p = vec![(1.0, 1.0, 1.0), (1.0, 0.0, 3.0), (2.0, 1.0, 1.0)];
        let (xs, fit) = isotonic(&mut p);
        assert_eq!(xs, [1.0, 2.0]);
        assert_eq!(fit, [0.25, 1.0]);
    }

    #[test]
    fn percentile_interpolates_as_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert!((percentile(&v, 10.0) - 1.3).abs() < 1e-12);
    }

    #[test]
    fn window_sums_slide() {
        let s = window_sums(&[1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 0.0, 1.0], 2, 4, 2);
        assert_eq!(s, [3.0, 5.0, 7.0, 1.0, 1.0, 1.0]);
    }

    /// Noise with one planted block of high contribution per sequence: one seqlet each, over
    /// the block, and none on the positive side elsewhere.
    #[test]
    fn planted_blocks_are_called_once_each() {
        let (n, len) = (200, 100);
        let mut rng = rng::seeded(3);
        let mut scores: Vec<f64> = (0..n * len)
            .map(|_| 0.02 * rng::normal(&mut rng) as f64)
            .collect();
        for s in 0..n {
            let at = 25 + (s * 7) % 40;
            for p in at..at + 10 {
                scores[s * len + p] += 0.5;
            }
        }
        let c = call(&scores, n, len, &SeqletOptions::default()).unwrap();
        assert_eq!(c.positive.len(), n, "{:?}", &c.positive[..3]);
        for q in &c.positive {
            let at = 25 + (q.seq * 7) % 40;
            // The 41 bp seqlet covers the 10 bp block.
            assert!(q.start <= at && at + 10 <= q.start + q.len, "{q:?} vs {at}");
        }
        assert!(c.pos_threshold > 0.5, "{}", c.pos_threshold);
    }

    #[test]
    fn short_sequences_and_nan_are_errors() {
        let e = call(&[0.0; 30], 1, 30, &SeqletOptions::default()).unwrap_err();
        assert!(e.to_string().contains("too short"), "{e}");
        let mut s = vec![0.1; 100];
        s[57] = f64::NAN;
        let e = call(&s, 1, 100, &SeqletOptions::default()).unwrap_err();
        assert!(e.to_string().contains("position 58"), "{e}");
    }
}
