//! FIMO's position-specific scoring matrix: log-odds scores scaled to integers, and the exact
//! p-value of every integer score by dynamic programming over the background, as the MEME suite's
//! `build_motif_pssm` (pssm.c) computes them, operation for operation, so that the p-values are
//! FIMO's to the last bit.
//!
//! For a motif of width `w` with (pseudocounted) letter frequencies `f[i][a]` and background `b`:
//! 1. log-odds `x[i][a] = log2(f[i][a] / b[a])`, with MEME's `log2` (`ln(x) * 1.44269504`, and
//!    `1e-300` for `log2(0)`, so a letter of frequency 0 scores about 0, not minus infinity);
//! 2. over all `x`: `small`, `large` (`small = large - 1` when they are equal); `offset =
//!    floor(small)`, `scale = floor(1000 / (large - offset))`;
//! 3. scaled scores `s[i][a] = nint((x[i][a] - offset) * scale)` in `0..=1000`, so a window's
//!    scaled score (the sum over its positions) lies in `0..=1000 w`;
//! 4. the distribution of the scaled score of a background window: `pdf[0] = 1`, then for each
//!    position `i`, for each letter `a` in A, C, G, T order, for each `k` with `pdf[k] != 0`,
//!    `new[k + s[i][a]] += pdf[k] * b[a]`; the p-value table is `pv[k] = min(1, pdf[k] + pv[k+1])`
//!    summed from the top, `pv[k] = P(score >= k)`;
//! 5. a window's p-value is `pv[scaled]` and its score, in bits, `scaled / scale + w * offset`,
//!    both rounded to 10 significant digits as FIMO 5 does.
//!
//! rust-bio's `pattern_matching::pssm` is not used: its `DNAMotif` holds `f32` probabilities (no
//! background, no log-odds in bits), scales a window's score to `[0, 1]` between the motif's
//! worst and best sums, and reports the best window of a sequence only. FIMO's p-values depend on
//! the exact integer scaling and on summing the table in MEME's order, which it has no place for.

use crate::error::{Error, Result};

/// Range of the integer score of one motif position (MEME's `PSSM_RANGE`).
pub const PSSM_RANGE: usize = 1000;

/// Widest motif accepted: the p-value table has `1000 w + 1` entries and takes `~2000 w^2`
/// operations to fill.
pub const MAX_WIDTH: usize = 1000;

/// MEME's `1 / ln 2`, cut to 9 digits (utils.h): FIMO's log-odds are made with it, not with
/// `LOG2_E`, and the scaled scores must round as FIMO's do.
#[allow(clippy::approx_constant)]
const MEME_LOG2_E: f64 = 1.44269504;

/// MEME's `ln 10` of `mylog10` (macros.h), used by its rounding to significant digits.
#[allow(clippy::approx_constant)]
const MEME_LN_10: f64 = 2.30258509299405;

/// MEME's `my_log2`: the natural log times MEME's 9-digit constant, `LOG_ZERO` (-1e10) below
/// `LOG_SMALL`, and `SMALL_POS` (1e-300) for 0.
pub fn meme_log2(x: f64) -> f64 {
    if x > 0.0 {
        let lx = x.ln();
        let lx = if lx < -0.5e10 { -1.0e10 } else { lx };
        lx * MEME_LOG2_E
    } else {
        1e-300
    }
}

/// MEME's `RND(x, d, y)`: `x` rounded to `d` significant digits (halves to even, as `rint`).
///
/// ```
/// use seqcnn::scan::pssm::round_sig;
/// assert_eq!(round_sig(9.313225746154785e-10, 10), 9.313225746e-10);
/// assert_eq!(round_sig(-22.590163934426243, 10), -22.59016393);
/// assert_eq!(round_sig(0.0, 10), 0.0);
/// ```
pub fn round_sig(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let a = x.abs();
    let z = 10f64.powf((f64::from(digits) - 1.0 - a.ln() / MEME_LN_10).ceil());
    let y = (z * a).round_ties_even() / z;
    if x < 0.0 { -y } else { y }
}

/// A scaled scoring matrix with its p-value table.
#[derive(Debug, Clone, PartialEq)]
pub struct Pssm {
    /// Scaled integer scores, one row per position, columns A, C, G, T. shape: [w][4]
    pub scaled: Vec<[u32; 4]>,
    /// Scaled units per bit.
    pub scale: f64,
    /// The bits subtracted from every entry before scaling (an integer).
    pub offset: f64,
    /// `pvalues[k]` = P(scaled score >= k) for a background window, `k` in `0..=1000 w`.
    pub pvalues: Vec<f64>,
}

impl Pssm {
    /// Builds the scaled matrix and p-value table of letter frequencies `freqs` (rows A, C, G, T,
    /// pseudocounts already applied) against background `bg`, as FIMO does.
    ///
    /// ```
    /// use seqcnn::scan::pssm::Pssm;
    /// let p = Pssm::new(&[[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]], [0.25; 4]).unwrap();
    /// // log2(0.7/0.25) = 1.485, log2(0.1/0.25) = -1.322: offset -2, scale floor(1000/3.485) = 286.
    /// assert_eq!((p.offset, p.scale), (-2.0, 286.0));
    /// assert_eq!(p.pvalues[0], 1.0);
    /// // The best window, AT, has probability 1/16 under the background.
    /// let best: u32 = p.scaled.iter().map(|r| *r.iter().max().unwrap()).sum();
    /// assert_eq!(p.pvalues[best as usize], 0.0625);
    /// ```
    pub fn new(freqs: &[[f64; 4]], bg: [f64; 4]) -> Result<Pssm> {
        let w = freqs.len();
        if w == 0 {
            return Err(Error::Config("a motif of width 0 has no scores".into()));
        }
        if w > MAX_WIDTH {
            return Err(Error::Config(format!(
                "a motif of width {w}: at most {MAX_WIDTH} positions are supported"
            )));
        }
        if bg.iter().any(|b| !(b.is_finite() && *b > 0.0)) {
            return Err(Error::Config(format!(
                "background frequencies {bg:?}: every letter needs a frequency above 0"
            )));
        }
        // Log-odds, filled letter by letter as build_motif_pssm does (the order does not change
        // any value, only the code's shape).
        let mut logodds = vec![[0f64; 4]; w];
        for (row, f) in logodds.iter_mut().zip(freqs) {
            for a in 0..4 {
                row[a] = meme_log2(f[a] / bg[a]);
            }
        }
        let mut small = f64::INFINITY;
        let mut large = f64::NEG_INFINITY;
        for row in &logodds {
            for &x in row {
                small = small.min(x);
                large = large.max(x);
            }
        }
        if !(small.is_finite() && large.is_finite()) {
            return Err(Error::Config(
                "motif log-odds scores are not finite: check the frequencies".into(),
            ));
        }
        if large == small {
            small = large - 1.0;
        }
        let offset = small.floor();
        let scale = (PSSM_RANGE as f64 / (large - offset)).floor();
        if scale < 1.0 {
            return Err(Error::Config(format!(
                "motif log-odds scores span {:.1} bits: at most {PSSM_RANGE} can be scaled",
                large - offset
            )));
        }
        let scaled: Vec<[u32; 4]> = logodds
            .iter()
            .map(|row| row.map(|x| nint((x - offset) * scale).clamp(0, PSSM_RANGE as i64) as u32))
            .collect();
        let pvalues = pvalue_table(&scaled, bg);
        Ok(Pssm {
            scaled,
            scale,
            offset,
            pvalues,
        })
    }

    /// Number of positions.
    pub fn width(&self) -> usize {
        self.scaled.len()
    }

    /// The score in bits of a window of scaled score `scaled`, rounded to 10 significant digits.
    pub fn score(&self, scaled: u32) -> f64 {
        round_sig(
            f64::from(scaled) / self.scale + self.width() as f64 * self.offset,
            10,
        )
    }

    /// The p-value of scaled score `scaled`, rounded to 10 significant digits.
    pub fn pvalue(&self, scaled: u32) -> f64 {
        let i = (scaled as usize).min(self.pvalues.len() - 1);
        round_sig(self.pvalues[i], 10)
    }

    /// The smallest scaled score whose (rounded) p-value is at most `threshold`, if any.
    pub fn min_scaled(&self, threshold: f64) -> Option<u32> {
        (0..self.pvalues.len() as u32).find(|&s| self.pvalue(s) <= threshold)
    }
}

/// MEME's `nint`: nearest integer, halves away from zero.
fn nint(x: f64) -> i64 {
    if x >= 0.0 {
        (x + 0.5) as i64
    } else {
        (x - 0.5) as i64
    }
}

/// P(score >= k) for k in `0..=1000 w`, by MEME's `get_pdf_table` and `get_pv_lookup_pos_dep`.
fn pvalue_table(scaled: &[[u32; 4]], bg: [f64; 4]) -> Vec<f64> {
    let range = PSSM_RANGE;
    let size = scaled.len() * range + 1;
    let mut pdf_new = vec![0f64; size];
    let mut pdf_old = vec![0f64; size];
    pdf_new[0] = 1.0;
    for (i, row) in scaled.iter().enumerate() {
        let max = i * range;
        std::mem::swap(&mut pdf_new, &mut pdf_old);
        pdf_new[..=max + range].fill(0.0);
        for (a, &s) in row.iter().enumerate() {
            let s = s as usize;
            for k in 0..=max {
                let old = pdf_old[k];
                if old != 0.0 {
                    pdf_new[k + s] += old * bg[a];
                }
            }
        }
    }
    let mut pv = pdf_new;
    for i in (0..size - 1).rev() {
        let p = pv[i] + pv[i + 1];
        pv[i] = p.min(1.0);
    }
    pv
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every window of the motif enumerated: the exact tail probability of each scaled score.
    fn brute_force(p: &Pssm, bg: [f64; 4]) -> Vec<f64> {
        let w = p.width();
        let mut pdf = vec![0f64; p.pvalues.len()];
        for code in 0..4usize.pow(w as u32) {
            let (mut c, mut s, mut prob) = (code, 0usize, 1f64);
            for row in &p.scaled {
                s += row[c % 4] as usize;
                prob *= bg[c % 4];
                c /= 4;
            }
            pdf[s] += prob;
        }
        let mut tail = vec![0f64; pdf.len()];
        let mut acc = 0.0;
        for k in (0..pdf.len()).rev() {
            acc += pdf[k];
            tail[k] = acc;
        }
        tail
    }

    #[test]
    fn dp_equals_enumeration_of_every_window() {
        let bgs = [[0.25; 4], [0.3, 0.2, 0.2, 0.3], [0.1, 0.4, 0.4, 0.1]];
        let mut rng = crate::rng::seeded(7);
        for bg in bgs {
            for w in 1..=6 {
                let freqs: Vec<[f64; 4]> = (0..w)
                    .map(|_| {
                        let r: [f64; 4] =
                            std::array::from_fn(|_| 0.01 + crate::rng::below(&mut rng, 100) as f64);
                        let s: f64 = r.iter().sum();
                        r.map(|v| v / s)
                    })
                    .collect();
                let p = Pssm::new(&freqs, bg).unwrap();
                let exact = brute_force(&p, bg);
                for (k, (a, b)) in p.pvalues.iter().zip(&exact).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-12 * b.max(1e-300) + 1e-15,
                        "w {w} bg {bg:?} score {k}: dp {a} vs {b}"
                    );
                }
                // A tail probability never grows with the score, and starts at 1 (up to the
                // rounding of the background's products).
                assert!((p.pvalues[0] - 1.0).abs() < 1e-12);
                assert!(p.pvalues.windows(2).all(|x| x[0] >= x[1]));
            }
        }
    }

    #[test]
    fn ctcf_matches_pymemesuite() {
        // MA0139.2 (JASPAR 2024, nsites 913) with FIMO's pseudocount 0.1 on a uniform background.
        // Values from pymemesuite 0.1.0a4 (MEME's build_motif_pssm):
        //   m = Motif(Alphabet.dna(), frequencies=Matrix(pseudocounted));
        //   pssm = m.build_pssm(Background(Alphabet.dna(), Array([0.25] * 4)))
        //   pssm.scale, pssm.offset, pssm.matrix rows 0 and 14, list(pssm.pvalues)[k] for k below
        // (tests/fixtures/make_fimo_fixture.py builds the same PSSM). The table is equal bit for
        // bit, not only to a tolerance.
        let rows = [
            [0.307777, 0.053669, 0.491785, 0.146769],
            [0.061336, 0.876232, 0.023001, 0.039430],
            [0.008762, 0.989047, 0.000000, 0.002191],
            [0.814896, 0.014239, 0.071194, 0.099671],
            [0.043812, 0.578313, 0.365827, 0.012048],
            [0.117325, 0.474781, 0.052632, 0.355263],
            [0.933114, 0.012061, 0.035088, 0.019737],
            [0.005488, 0.000000, 0.991218, 0.003293],
            [0.365532, 0.003293, 0.621295, 0.009879],
            [0.059276, 0.013172, 0.553238, 0.374314],
            [0.013187, 0.000000, 0.978022, 0.008791],
            [0.061538, 0.008791, 0.851648, 0.078022],
            [0.114411, 0.806381, 0.005501, 0.073707],
            [0.409241, 0.014301, 0.557756, 0.018702],
            [0.090308, 0.530837, 0.338106, 0.040749],
        ];
        let freqs: Vec<[f64; 4]> = rows
            .iter()
            .map(|r| r.map(|p| (p * 913.0 + 0.1 * 0.25) / 913.1))
            .collect();
        let p = Pssm::new(&freqs, [0.25; 4]).unwrap();
        assert_eq!((p.scale, p.offset), (62.0, -14.0));
        assert_eq!(p.scaled[0], [887, 730, 929, 820]);
        assert_eq!(p.scaled[14], [777, 935, 895, 706]);
        assert_eq!(p.pvalues.len(), 15001);
        let table = [
            (0, 1.0),
            (5000, 1.0),
            (9000, 0.9968880359083414),
            (10000, 0.9047769317403436),
            (11000, 0.49332369305193424),
            (12000, 0.08861724194139242),
            (13000, 0.002642259933054447),
            (14423, 9.313225746154785e-10),
        ];
        for (k, v) in table {
            assert_eq!(p.pvalues[k], v, "pv[{k}]");
        }
        let best: u32 = p.scaled.iter().map(|r| *r.iter().max().unwrap()).sum();
        assert_eq!(best, 14423);
        // FIMO 5 rounds to 10 significant digits; pymemesuite does not (22.629032258064512).
        assert_eq!(p.pvalue(best), 9.313225746e-10);
        assert_eq!(p.score(best), 22.62903226);
    }
}
