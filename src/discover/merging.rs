//! Which motifs are one: TF-MoDISco's `SimilarPatternsCollapser` rules. Two motifs are aligned by
//! the Pearson correlation of their CWMs (the child against each window of the zero-padded
//! parent, both strands, at least 70% overlapping); their cross-contamination is how poorly the
//! seqlets' own similarities tell them apart: `2 (1 - max(AUROC, 0.5))`, the AUROC of the
//! similarities within the parent against those between the parent's seqlets and the child's
//! (aligned onto the parent). A pair merges when its mean correlation and its smaller
//! cross-contamination pass one of modisco-lite's rules: contamination at least 0.8 with
//! correlation 0.8, 0.5 with 0.85, or 0.2 with 0.9.

use super::Options;
use super::cluster::{Placement, min_max_sums};
use super::pattern::{Pattern, Tracks, placed};

/// modisco-lite's (cross-contamination, correlation) merge rules.
pub const MERGE_RULES: [(f64, f64); 3] = [(0.8, 0.8), (0.5, 0.85), (0.2, 0.9)];

/// `x - mean(x)` scaled to unit norm (modisco-lite's `magnitude`).
fn magnitude(x: &[f64]) -> Vec<f64> {
    let mean = x.iter().sum::<f64>() / x.len().max(1) as f64;
    let c: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let norm = c.iter().map(|v| v * v).sum::<f64>().sqrt() + 1e-7;
    c.iter().map(|v| v / norm).collect()
}

/// Reverse complement of `len x 4` position-major values.
fn revcomp(x: &[f64]) -> Vec<f64> {
    let len = x.len() / 4;
    let mut out = vec![0.0; x.len()];
    for p in 0..len {
        for b in 0..4 {
            out[p * 4 + b] = x[(len - 1 - p) * 4 + 3 - b];
        }
    }
    out
}

/// The best Pearson alignment of the child CWM on the parent's (both `len x 4`).
pub fn align(parent: &[f64], child: &[f64], min_overlap: f64) -> Placement {
    let len = parent.len() / 4;
    let clen = child.len() / 4;
    let pad = (clen as f64 * (1.0 - min_overlap)).ceil() as isize;
    let p = magnitude(parent);
    let fwd = magnitude(child);
    let rev = revcomp(&fwd);
    let mut best = Placement {
        similarity: f32::NEG_INFINITY,
        offset: 0,
        reverse: false,
    };
    for (reverse, x) in [(false, &fwd), (true, &rev)] {
        let xn = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        for offset in -pad..=(len as isize - clen as isize + pad) {
            let (mut dot, mut wn) = (0.0f64, 0.0f64);
            for j in 0..clen as isize {
                let c = offset + j;
                if c < 0 || c >= len as isize {
                    continue;
                }
                for b in 0..4 {
                    let w = p[c as usize * 4 + b];
                    dot += x[j as usize * 4 + b] * w;
                    wn += w * w;
                }
            }
            let s = if wn > 0.0 && xn > 0.0 {
                (dot / (xn * wn.sqrt())) as f32
            } else {
                0.0
            };
            if s > best.similarity {
                best = Placement {
                    similarity: s,
                    offset,
                    reverse,
                };
            }
        }
    }
    best
}

/// Continuous Jaccard similarity of two equal-length comparison vectors.
fn jaccard(a: &[f32], b: &[f32]) -> f32 {
    let (min_sum, max_sum) = min_max_sums(a, b);
    if max_sum > 0.0 {
        min_sum / max_sum
    } else {
        0.0
    }
}

/// AUROC of `pos` against `neg`: the chance a positive is larger (ties count half).
fn auroc(mut pos: Vec<f32>, mut neg: Vec<f32>) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return 0.5;
    }
    pos.sort_by(f32::total_cmp);
    neg.sort_by(f32::total_cmp);
    let mut wins = 0.0f64;
    for &p in &pos {
        let below = neg.partition_point(|&v| v < p);
        let ties = neg.partition_point(|&v| v <= p) - below;
        wins += below as f64 + 0.5 * ties as f64;
    }
    wins / (pos.len() as f64 * neg.len() as f64)
}

/// Cross-contamination of `child` into `parent` when placed by `p`.
fn contamination(
    tracks: &Tracks,
    parent: &Pattern,
    child: &Pattern,
    p: &Placement,
    cap: usize,
) -> f64 {
    let data = |s: &super::seqlets::Seqlet| tracks.snippet(s).fwd;
    let mine: Vec<Vec<f32>> = parent.seqlets.iter().take(cap).map(data).collect();
    let theirs: Vec<Vec<f32>> = child
        .seqlets
        .iter()
        .take(cap)
        .filter_map(|s| placed(s, p, parent.len))
        .filter(|s| tracks.holds(s))
        .map(|s| data(&s))
        .collect();
    if theirs.is_empty() {
        return 0.0;
    }
    let within: Vec<f32> = mine
        .iter()
        .flat_map(|a| mine.iter().map(move |b| jaccard(a, b)))
        .collect();
    let between: Vec<f32> = mine
        .iter()
        .flat_map(|a| theirs.iter().map(move |b| jaccard(a, b)))
        .collect();
    2.0 * (1.0 - auroc(within, between).max(0.5))
}

/// The most correlated pair of `patterns` (largest first) that the merge rules would merge:
/// `(parent, child, the child's placement on the parent)`.
pub fn best_pair(
    tracks: &Tracks,
    patterns: &[Pattern],
    opts: &Options,
) -> Option<(usize, usize, Placement)> {
    use rayon::prelude::*;
    let cwms: Vec<Vec<f64>> = patterns
        .iter()
        .map(|p| p.mean(tracks, &tracks.actual))
        .collect();
    let n = patterns.len();
    let min_corr = MERGE_RULES
        .iter()
        .map(|r| r.1)
        .fold(f64::INFINITY, f64::min);
    let mut candidates: Vec<(usize, usize, f64, Placement, Placement)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect::<Vec<_>>()
        .par_iter()
        .map(|&(i, j)| {
            let ij = align(&cwms[i], &cwms[j], opts.min_overlap);
            let ji = align(&cwms[j], &cwms[i], opts.min_overlap);
            (i, j, 0.5 * (ij.similarity + ji.similarity) as f64, ij, ji)
        })
        .filter(|c| c.2 >= min_corr)
        .collect();
    candidates.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    candidates.into_iter().find_map(|(i, j, corr, ij, ji)| {
        let cap = opts.merge_subsample;
        let (a, b) = rayon::join(
            || contamination(tracks, &patterns[i], &patterns[j], &ij, cap),
            || contamination(tracks, &patterns[j], &patterns[i], &ji, cap),
        );
        let cc = a.min(b);
        MERGE_RULES
            .iter()
            .any(|&(c, s)| cc >= c && corr >= s)
            .then_some((i, j, ij))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::cluster::Snippet;

    #[test]
    fn auroc_counts_ties_half() {
        assert_eq!(auroc(vec![2.0, 3.0], vec![1.0, 1.0]), 1.0);
        assert_eq!(auroc(vec![1.0], vec![1.0]), 0.5);
        assert_eq!(auroc(vec![1.0, 3.0], vec![2.0]), 0.5);
    }

    #[test]
    fn a_cwm_aligns_with_its_own_reverse_complement() {
        // Columns A, C, G, T, T strongly; reverse complement A, A, C, G, T.
        let mut cwm = vec![0.0; 5 * 4];
        for (p, b) in [0usize, 1, 2, 3, 3].iter().enumerate() {
            cwm[p * 4 + b] = 1.0 + p as f64 * 0.1;
        }
        let rc = revcomp(&cwm);
        let p = align(&cwm, &rc, 0.7);
        assert!(p.reverse && p.offset == 0, "{p:?}");
        assert!((p.similarity - 1.0).abs() < 1e-5, "{p:?}");
        let s = Snippet::new(&[1.0; 8], &[1.0; 8]);
        assert!((jaccard(&s.fwd, &s.fwd) - 1.0).abs() < 1e-6);
    }
}
