//! Motifs from clusters of seqlets: each cluster's seqlets aligned into one aggregate, trimmed to
//! its most informative window and widened again (TF-MoDISco's polishing), similar aggregates
//! merged, and the weak ones dropped; then each motif's contribution weight matrix (CWM, the
//! mean actual contribution), hypothetical CWM and position probability matrix (PWM).

use std::ops::Range;

use super::cluster::{Placement, Snippet, best_placement};
use super::seqlets::Seqlet;

/// Contribution tracks of the sequences, position-major (`[N][L][4]`, A C G T).
#[derive(Clone, Debug)]
pub struct Tracks {
    /// Sequences.
    pub n: usize,
    /// Length of each.
    pub len: usize,
    /// Hypothetical contributions.
    pub hyp: Vec<f32>,
    /// One-hot sequences (N = 0.25 in each channel, or zeros).
    pub seq: Vec<f32>,
    /// Actual contributions: `hyp * seq`.
    pub actual: Vec<f32>,
}

impl Tracks {
    /// Tracks from position-major hypothetical contributions and one-hot sequences.
    pub fn new(n: usize, len: usize, hyp: Vec<f32>, seq: Vec<f32>) -> Tracks {
        let actual = hyp.iter().zip(&seq).map(|(h, s)| h * s).collect();
        Tracks {
            n,
            len,
            hyp,
            seq,
            actual,
        }
    }

    /// The per-position sum over bases of the actual contributions, `[N][L]`.
    pub fn position_scores(&self) -> Vec<f64> {
        self.actual
            .chunks(4)
            .map(|c| c.iter().map(|&v| v as f64).sum())
            .collect()
    }

    /// Whether the seqlet lies within its sequence.
    pub fn holds(&self, s: &Seqlet) -> bool {
        s.seq < self.n && s.start + s.len <= self.len
    }

    /// One track of a seqlet, in its orientation (`len` x 4, position-major); the seqlet must
    /// lie within its sequence.
    pub fn window(&self, track: &[f32], s: &Seqlet) -> Vec<f32> {
        let base = (s.seq * self.len + s.start) * 4;
        let w = &track[base..base + s.len * 4];
        if !s.reverse {
            return w.to_vec();
        }
        let mut out = vec![0.0f32; w.len()];
        for p in 0..s.len {
            for b in 0..4 {
                out[p * 4 + b] = w[(s.len - 1 - p) * 4 + 3 - b];
            }
        }
        out
    }

    /// A seqlet's comparison data.
    pub fn snippet(&self, s: &Seqlet) -> Snippet {
        Snippet::new(&self.window(&self.hyp, s), &self.window(&self.actual, s))
    }

    /// Sum of |actual contribution| over a seqlet.
    pub fn magnitude(&self, s: &Seqlet) -> f64 {
        self.window(&self.actual, s)
            .iter()
            .map(|v| v.abs() as f64)
            .sum()
    }
}

/// The seqlet covering columns `a..a + len` of `s` as `s` reads, reverse-complemented when
/// `flip` (columns may lie outside `s`; the result may lie outside its sequence: `None` when it
/// would start before it).
pub fn subwindow(s: &Seqlet, a: isize, len: usize, flip: bool) -> Option<Seqlet> {
    let start = if s.reverse {
        s.start as isize + s.len as isize - a - len as isize
    } else {
        s.start as isize + a
    };
    (start >= 0).then_some(Seqlet {
        seq: s.seq,
        start: start as usize,
        len,
        reverse: s.reverse != flip,
    })
}

/// The seqlet of `x` that covers the `len` columns of the aggregate it was placed on by `p`.
pub fn placed(x: &Seqlet, p: &Placement, len: usize) -> Option<Seqlet> {
    if p.reverse {
        subwindow(x, x.len as isize - len as isize + p.offset, len, true)
    } else {
        subwindow(x, -p.offset, len, false)
    }
}

/// A motif under construction: its aligned seqlets (all of one length).
#[derive(Clone, Debug)]
pub struct Pattern {
    /// Aligned seqlets.
    pub seqlets: Vec<Seqlet>,
    /// Their common length.
    pub len: usize,
}

impl Pattern {
    /// Mean of one track over the seqlets (`len` x 4).
    pub fn mean(&self, tracks: &Tracks, track: &[f32]) -> Vec<f64> {
        let mut sum = vec![0.0f64; self.len * 4];
        for s in &self.seqlets {
            for (a, v) in sum.iter_mut().zip(tracks.window(track, s)) {
                *a += v as f64;
            }
        }
        let n = self.seqlets.len().max(1) as f64;
        sum.iter().map(|v| v / n).collect()
    }

    /// The aggregate's comparison data.
    pub fn snippet(&self, tracks: &Tracks) -> Snippet {
        let h: Vec<f32> = self
            .mean(tracks, &tracks.hyp)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let a: Vec<f32> = self
            .mean(tracks, &tracks.actual)
            .iter()
            .map(|&v| v as f32)
            .collect();
        Snippet::new(&h, &a)
    }

    /// Position probability matrix (base frequencies of the aligned seqlets).
    pub fn pwm(&self, tracks: &Tracks) -> Vec<[f64; 4]> {
        rows(&self.mean(tracks, &tracks.seq))
    }
}

/// `len x 4` values as rows.
pub fn rows(v: &[f64]) -> Vec<[f64; 4]> {
    v.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect()
}

/// Aligns `members` (strongest first) into one pattern the length of the first: each is placed
/// where it best matches the running aggregate. Members whose placement would leave their
/// sequence are dropped.
pub fn aggregate(tracks: &Tracks, members: &[Seqlet], min_overlap: f64) -> Pattern {
    let Some(seed) = members.first() else {
        return Pattern {
            seqlets: Vec::new(),
            len: 0,
        };
    };
    let len = seed.len;
    let mut sum_h: Vec<f64> = vec![0.0; len * 4];
    let mut sum_a: Vec<f64> = vec![0.0; len * 4];
    let mut out = Vec::with_capacity(members.len());
    let mut add = |s: Seqlet, sum_h: &mut Vec<f64>, sum_a: &mut Vec<f64>| {
        for (a, v) in sum_h.iter_mut().zip(tracks.window(&tracks.hyp, &s)) {
            *a += v as f64;
        }
        for (a, v) in sum_a.iter_mut().zip(tracks.window(&tracks.actual, &s)) {
            *a += v as f64;
        }
        out.push(s);
    };
    add(*seed, &mut sum_h, &mut sum_a);
    for m in &members[1..] {
        let agg = Snippet::new(
            &sum_h.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            &sum_a.iter().map(|&v| v as f32).collect::<Vec<_>>(),
        );
        let p = best_placement(&tracks.snippet(m), &agg, min_overlap);
        if let Some(s) = placed(m, &p, len).filter(|s| tracks.holds(s)) {
            add(s, &mut sum_h, &mut sum_a);
        }
    }
    dedup(Pattern { seqlets: out, len })
}

/// Each seqlet re-placed where it best matches the pattern's whole aggregate (a second pass
/// over [`aggregate`]'s running alignment); seqlets that would leave their sequence are dropped.
pub fn realign(tracks: &Tracks, p: &Pattern, min_overlap: f64) -> Pattern {
    let agg = p.snippet(tracks);
    let seqlets = p
        .seqlets
        .iter()
        .filter_map(|s| {
            let pl = best_placement(&tracks.snippet(s), &agg, min_overlap);
            placed(s, &pl, p.len)
        })
        .filter(|s| tracks.holds(s))
        .collect();
    dedup(Pattern {
        seqlets,
        len: p.len,
    })
}

/// Drops repeated seqlets (the same bases on the same strand).
fn dedup(mut p: Pattern) -> Pattern {
    let mut seen = std::collections::HashSet::new();
    p.seqlets
        .retain(|s| seen.insert((s.seq, s.start, s.reverse)));
    p
}

/// Information content (bits) of each row of a PPM against `bg`, with a pseudocount (as
/// modisco-lite's `compute_per_position_ic`).
pub fn position_ic(pwm: &[[f64; 4]], bg: &[f64; 4], pseudocount: f64) -> Vec<f64> {
    pwm.iter()
        .map(|r| {
            let s: f64 = r.iter().map(|v| v + pseudocount).sum();
            (0..4)
                .map(|b| {
                    let p = (r[b] + pseudocount) / s;
                    if p > 0.0 && bg[b] > 0.0 {
                        p * (p / bg[b]).log2()
                    } else {
                        0.0
                    }
                })
                .sum()
        })
        .collect()
}

/// The start of the `w`-column window of largest total (the first on ties).
pub fn best_window(values: &[f64], w: usize) -> usize {
    if values.len() <= w {
        return 0;
    }
    let mut best = (0, f64::NEG_INFINITY);
    for s in 0..=values.len() - w {
        let t: f64 = values[s..s + w].iter().sum();
        if t > best.1 {
            best = (s, t);
        }
    }
    best.0
}

/// TF-MoDISco's polishing: the pattern cut to its `window` columns of most information and
/// widened by `flank` on each side; seqlets that would leave their sequence are dropped. Only
/// columns whose summed contribution has the pattern's `sign` (1 or -1) count towards the
/// window, so a negative pattern is not moved onto a strong positive site beside it.
pub fn polish(
    tracks: &Tracks,
    p: &Pattern,
    bg: &[f64; 4],
    sign: f64,
    window: usize,
    flank: usize,
) -> Pattern {
    let cwm = p.mean(tracks, &tracks.actual);
    let ic: Vec<f64> = position_ic(&p.pwm(tracks), bg, 0.001)
        .into_iter()
        .zip(cwm.chunks(4))
        .map(|(ic, c)| {
            if sign * c.iter().sum::<f64>() > 0.0 {
                ic
            } else {
                0.0
            }
        })
        .collect();
    let w = window.min(p.len);
    let at = best_window(&ic, w) as isize;
    let len = w + 2 * flank;
    let seqlets = p
        .seqlets
        .iter()
        .filter_map(|s| subwindow(s, at - flank as isize, len, false))
        .filter(|s| tracks.holds(s))
        .collect();
    dedup(Pattern { seqlets, len })
}

/// Merges `child` into `parent` at their best placement: the child's seqlets are re-cut to the
/// parent's columns.
pub fn merge(tracks: &Tracks, parent: &Pattern, child: &Pattern, p: &Placement) -> Pattern {
    let mut seqlets = parent.seqlets.clone();
    seqlets.extend(
        child
            .seqlets
            .iter()
            .filter_map(|s| placed(s, p, parent.len))
            .filter(|s| tracks.holds(s)),
    );
    dedup(Pattern {
        seqlets,
        len: parent.len,
    })
}

/// The columns a report keeps (modisco-lite's `trim_cwm`): from the first to the last column
/// whose summed |CWM| reaches `threshold` times the largest, counting only columns whose summed
/// CWM has the motif's `sign` (1 or -1).
pub fn trim_span(cwm: &[[f64; 4]], sign: f64, threshold: f64) -> Range<usize> {
    let score: Vec<f64> = cwm
        .iter()
        .map(|r| {
            if sign * r.iter().sum::<f64>() > 0.0 {
                r.iter().map(|v| v.abs()).sum()
            } else {
                0.0
            }
        })
        .collect();
    let max = score.iter().copied().fold(0.0f64, f64::max);
    let cut = max * threshold;
    let first = score.iter().position(|&v| v >= cut).unwrap_or(0);
    let last = score.iter().rposition(|&v| v >= cut).unwrap_or(0);
    first..last + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subwindows_map_columns_on_either_strand() {
        let s = Seqlet {
            seq: 0,
            start: 10,
            len: 8,
            reverse: false,
        };
        // Columns 2..6 of a forward seqlet are bases 12..16.
        let w = subwindow(&s, 2, 4, false).unwrap();
        assert_eq!((w.start, w.len, w.reverse), (12, 4, false));
        // Of a reverse seqlet, column 0 is base 17, so columns 2..6 are bases 12..16 read
        // backwards.
        let r = Seqlet { reverse: true, ..s };
        let w = subwindow(&r, 2, 4, false).unwrap();
        assert_eq!((w.start, w.len, w.reverse), (12, 4, true));
        // Flipping a reverse window reads it forward.
        let w = subwindow(&r, -3, 14, true).unwrap();
        assert_eq!((w.start, w.len, w.reverse), (7, 14, false));
        assert!(subwindow(&s, -11, 4, false).is_none());
    }

    #[test]
    fn windows_read_the_reverse_complement() {
        // One sequence, ACGT then T.
        let seq: Vec<f32> = [0, 1, 2, 3, 3]
            .iter()
            .flat_map(|&b| (0..4).map(move |c| if c == b { 1.0 } else { 0.0 }))
            .collect();
        let t = Tracks::new(1, 5, seq.clone(), seq);
        let s = Seqlet {
            seq: 0,
            start: 1,
            len: 4,
            reverse: true,
        };
        // CGTT reverse-complemented is AACG.
        let w = t.window(&t.seq, &s);
        let bases: Vec<usize> = w
            .chunks(4)
            .map(|c| c.iter().position(|&v| v == 1.0).unwrap())
            .collect();
        assert_eq!(bases, [0, 0, 1, 2]);
    }

    #[test]
    fn trim_keeps_the_span_of_strong_columns() {
        let cwm = vec![
            [0.01, 0.0, 0.0, 0.0],
            [0.5, 0.0, 0.0, 0.0],
            [0.0, 0.1, 0.0, 0.0],
            [0.0, 0.0, -0.4, 0.0],
            [0.0, 0.0, 0.0, 0.05],
        ];
        // Positive: 0.5 is the largest, and only it reaches 0.15.
        assert_eq!(trim_span(&cwm, 1.0, 0.3), 1..2);
        assert_eq!(trim_span(&cwm, -1.0, 0.3), 3..4);
    }
}
