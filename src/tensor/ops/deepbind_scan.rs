//! DeepBind's first stage scanned over many windows at once: an unpadded convolution over the
//! four bases, ReLU, then global max (or max and mean, interleaved) pooling, for every `w`-bp
//! window of a stretch, each window read with `k - 1` N's (0.25 in every channel) on both sides.
//!
//! Per detector, a placement's value is `base + sum of (tap on base - tap on N)` over the taps
//! that fall inside the window, where `base` is the bias plus every tap reading N. Running sums
//! of those differences along each placement (in f64) make every window's edge placements a
//! difference of two sums, so the convolution is done once per stretch, not once per window.

/// The scan of one convolution (weights `[out, 4, k]`, PyTorch's layout).
#[derive(Clone, Debug)]
pub struct ScanConv {
    /// shape: [k, 4, out]: tap `j` on base `c` minus tap `j` on N, per detector.
    diff: Vec<f64>,
    /// shape: [out]: the bias plus every tap reading N.
    base: Vec<f64>,
    out: usize,
    k: usize,
    avg: bool,
}

impl ScanConv {
    /// The scan of a convolution with `weight` `[out, 4, k]` (row-major) and `bias` `[out]`,
    /// followed by global max pooling, or with `avg` max and mean pooling interleaved.
    pub fn new(weight: &[f32], bias: Option<&[f32]>, out: usize, k: usize, avg: bool) -> Self {
        let base = (0..out)
            .map(|o| {
                let b = bias.map_or(0.0, |b| b[o] as f64);
                let taps: f64 = weight[o * 4 * k..(o + 1) * 4 * k]
                    .iter()
                    .map(|&v| v as f64)
                    .sum();
                b + 0.25 * taps
            })
            .collect();
        let mut diff = vec![0f64; k * 4 * out];
        for o in 0..out {
            for j in 0..k {
                let tap = |c: usize| weight[(o * 4 + c) * k + j] as f64;
                let n = 0.25 * (0..4).map(tap).sum::<f64>();
                for c in 0..4 {
                    diff[(j * 4 + c) * out + o] = tap(c) - n;
                }
            }
        }
        ScanConv {
            diff,
            base,
            out,
            k,
            avg,
        }
    }

    /// Pooled features per window.
    pub fn n_features(&self) -> usize {
        if self.avg { 2 * self.out } else { self.out }
    }

    /// Pooled features `[windows, features]` of every `w`-bp window of a stretch whose encoding
    /// is `x` `[4, len]` (row-major), in order. Positions that are not one-hot read as N.
    pub fn features(&self, x: &[f32], len: usize, w: usize) -> Vec<f32> {
        let (d, k) = (self.out, self.k);
        let p = k - 1;
        // Each position is one base (one-hot) or reads as N (0.25 everywhere: no difference).
        let code: Vec<Option<usize>> = (0..len)
            .map(|q| (0..4).find(|&c| x[c * len + q] == 1.0))
            .collect();
        // cum[(a + p) * (k + 1) * d + j * d + o]: the sum over taps j' < j of detector o's
        // (tap on base a + j' - tap on N), for the placement starting at sequence position a.
        let stride = (k + 1) * d;
        let mut cum = vec![0f64; (len + p) * stride];
        for (diag, row) in cum.chunks_exact_mut(stride).enumerate() {
            for j in 0..k {
                let (done, next) = row.split_at_mut((j + 1) * d);
                let prev = &done[j * d..];
                // Sequence position of tap j; off the sequence a tap reads N.
                let base = (diag + j)
                    .checked_sub(p)
                    .and_then(|q| code.get(q).copied().flatten());
                match base {
                    None => next[..d].copy_from_slice(prev),
                    Some(c) => {
                        let diff = &self.diff[(j * 4 + c) * d..][..d];
                        let (next, prev) = (&mut next[..d], &prev[..d]);
                        for o in 0..d {
                            next[o] = prev[o] + diff[o];
                        }
                    }
                }
            }
        }
        let windows = len + 1 - w;
        let f = self.n_features();
        let placements = w + p;
        let mut out = vec![0f32; windows * f];
        let mut best = vec![0f32; d];
        let mut sum = vec![0f32; d];
        for (i, feats) in out.chunks_exact_mut(f).enumerate() {
            best.fill(0.0);
            sum.fill(0.0);
            // Placement t of window i starts at sequence position i + t - p; taps before the
            // window (j < p - t) or after it (j >= w + p - t) read N.
            for t in 0..placements {
                let row = &cum[(i + t) * stride..(i + t + 1) * stride];
                let lo = &row[p.saturating_sub(t) * d..][..d];
                let hi = &row[k.min(w + p - t) * d..][..d];
                let (best, sum, base) = (&mut best[..d], &mut sum[..d], &self.base[..d]);
                for o in 0..d {
                    // Comparisons rather than f32::max: the values are finite, and these
                    // vectorise.
                    let v = (base[o] + hi[o] - lo[o]) as f32;
                    let v = if v > 0.0 { v } else { 0.0 };
                    best[o] = if v > best[o] { v } else { best[o] };
                    sum[o] += v;
                }
            }
            if self.avg {
                for o in 0..d {
                    feats[2 * o] = best[o];
                    feats[2 * o + 1] = sum[o] / placements as f32;
                }
            } else {
                feats.copy_from_slice(&best);
            }
        }
        out
    }
}
