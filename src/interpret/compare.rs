//! Motif comparison, Tomtom-like (Gupta et al. 2007): every query motif against every target
//! motif, over both strands of the target and every offset that overlaps by at least a minimum
//! number of columns, scoring each alignment as the sum over its overlapping columns of a column
//! similarity (Pearson correlation, or minus the Euclidean distance).
//!
//! Scores are calibrated against a null made by shuffling the query's columns. The same
//! `shuffles` column permutations of a query are scored against each target at every alignment;
//! from them each alignment gets a mean and standard deviation, and its observed score a z-score.
//! A pair's score is its best z-score over alignments. Its p-value comes from the shuffled
//! queries' own best z-scores (the null of that maximum): the upper tail of a Gumbel
//! distribution fitted to them, which agrees with the empirical fraction where that has
//! resolution and extends past `1 / shuffles`. The null keeps the query's composition and the
//! target's length and content, so long targets, low-complexity queries and the number of
//! alignments tried are all accounted for. With `shuffles = 0` the score is the best raw sum and
//! no p-value is given.

use std::io::Write;

use rayon::prelude::*;

use super::motifs::reverse_complement;
use crate::io::meme::Motif;
use crate::rng::{self, Rng};
use crate::{Error, Result};

/// How two columns are compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Pearson correlation of the two columns' probabilities (0 when one is uniform).
    #[default]
    Pearson,
    /// Minus the Euclidean distance between the two columns.
    Euclidean,
}

/// How a match's p-value is found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Null {
    /// The best z-score against column-shuffled copies of the query (`shuffles` of them), its
    /// tail fitted by a Gumbel distribution.
    #[default]
    Shuffled,
    /// Tomtom's: each query column's scores against every column of the database (both
    /// strands), binned into 100 steps, give the exact distribution of an alignment's summed
    /// score by convolution; the best alignment's p-value is corrected for the alignments tried,
    /// `1 - (1 - p)^n`.
    Tomtom,
}

/// Settings of [`compare`].
#[derive(Clone, Debug, PartialEq)]
pub struct CompareOptions {
    /// Column similarity.
    pub metric: Metric,
    /// How p-values are found.
    pub null: Null,
    /// Fewest overlapping columns an alignment may have (capped at the shorter motif's width).
    pub min_overlap: usize,
    /// Column-shuffled queries in the null (0: raw scores, no p-values).
    pub shuffles: usize,
    /// Seed of the shuffles (mixed with each query's id).
    pub seed: u64,
    /// Matches kept per query.
    pub top: usize,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            metric: Metric::Pearson,
            null: Null::Shuffled,
            min_overlap: 5,
            shuffles: 1000,
            seed: 1,
            top: 5,
        }
    }
}

/// Where a target sits against a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alignment {
    /// The target is reverse-complemented.
    pub reverse: bool,
    /// Query column facing the target's first column (in the orientation used); negative when
    /// the target starts before the query.
    pub offset: isize,
    /// Overlapping columns.
    pub overlap: usize,
}

/// One query-target match.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Match {
    /// Index of the target motif.
    pub target: usize,
    /// 1-based rank among the query's matches.
    pub rank: usize,
    /// Calibrated score: the best alignment's z-score against the shuffled null (with no
    /// shuffles, its raw sum of column similarities).
    pub score: f64,
    /// Mean column similarity over the best alignment's overlap.
    pub similarity: f64,
    /// p-value against the shuffled null (`None` without shuffles).
    pub pvalue: Option<f64>,
    /// E-value: the p-value times the number of targets compared (as Tomtom reports it).
    pub evalue: Option<f64>,
    /// q-value: the smallest false discovery rate (Benjamini-Hochberg, over every target compared
    /// with this query) at which this match would be called.
    pub qvalue: Option<f64>,
    /// The best alignment.
    pub alignment: Alignment,
}

/// Columns prepared for the metric.
fn prepare(probs: &[[f64; 4]], metric: Metric) -> Vec<[f64; 4]> {
    probs
        .iter()
        .map(|r| {
            let s: f64 = r.iter().sum();
            let r = if s > 0.0 { r.map(|v| v / s) } else { [0.25; 4] };
            match metric {
                Metric::Euclidean => r,
                Metric::Pearson => {
                    // Probabilities have mean 1/4, so centring is subtracting it.
                    let c = r.map(|v| v - 0.25);
                    let n = c.iter().map(|v| v * v).sum::<f64>().sqrt();
                    if n > 1e-9 { c.map(|v| v / n) } else { [0.0; 4] }
                }
            }
        })
        .collect()
}

fn column_score(a: &[f64; 4], b: &[f64; 4], metric: Metric) -> f64 {
    match metric {
        Metric::Pearson => a.iter().zip(b).map(|(x, y)| x * y).sum(),
        Metric::Euclidean => -a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f64>()
            .sqrt(),
    }
}

/// A motif's columns, prepared for the metric.
type Columns = Vec<[f64; 4]>;

/// A target's best alignment: (score, mean column similarity, p-value, alignment).
type Scored = (f64, f64, Option<f64>, Alignment);

/// How one query finds its best alignment on a target (both strands' columns).
type BestAlignment<'a> = dyn Fn(&Columns, &Columns) -> Option<Scored> + Sync + 'a;

/// One (strand, offset) alignment: the query columns `lo..hi` face target columns `lo - offset..`.
#[derive(Clone, Copy)]
struct Placement {
    reverse: bool,
    offset: isize,
    lo: usize,
    hi: usize,
}

/// Scores every placement of one query (rows permuted by `perm`) on the similarity matrices
/// `[wq, wt]` of both strands, in [`Placement`] order. Each cell lies on one diagonal, and a
/// placement's score is its diagonal's sum, so all placements cost one pass over the cells.
fn score_placements(
    sims: &[Vec<f64>; 2],
    wt: usize,
    m: usize,
    perm: &[usize],
    diag: &mut Vec<f64>,
    out: &mut [f64],
) {
    let wq = perm.len();
    let per = wq + wt + 1 - 2 * m;
    for (s, out) in sims.iter().zip(out.chunks_exact_mut(per)) {
        diag.clear();
        diag.resize(wq + wt - 1, 0.0);
        // Cell (i, j) is on diagonal i + wt - 1 - j (offset i - j).
        for (i, &pi) in perm.iter().enumerate() {
            let row = &s[pi * wt..(pi + 1) * wt];
            for (d, &v) in diag[i..i + wt].iter_mut().rev().zip(row) {
                *d += v;
            }
        }
        out.copy_from_slice(&diag[m - 1..m - 1 + per]);
    }
}

/// The p-value of `x` against `null`, a sample of maxima: the upper tail of a Gumbel
/// distribution fitted by moments (`beta = sd * sqrt(6) / pi`, `mu = mean - 0.5772 * beta`), so
/// it resolves beyond `1 / null.len()`; the plain empirical fraction `(1 + hits) / (1 + n)` when
/// the null has no spread.
///
/// ```
/// use seqcnn::interpret::compare::gumbel_pvalue;
/// let null: Vec<f64> = (0..1000).map(|i| (i as f64 + 0.5) / 1000.0).collect();
/// assert!(gumbel_pvalue(&null, 0.5) > 0.3 && gumbel_pvalue(&null, 0.5) < 0.7);
/// assert!(gumbel_pvalue(&null, 3.0) < 1e-4);
/// assert_eq!(gumbel_pvalue(&[1.0; 9], 1.0), 1.0);
/// assert_eq!(gumbel_pvalue(&[1.0; 9], 2.0), 0.1);
/// ```
pub fn gumbel_pvalue(null: &[f64], x: f64) -> f64 {
    let n = null.len() as f64;
    let mean = null.iter().sum::<f64>() / n;
    let sd = (null.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    if sd.is_nan() || sd <= 1e-9 {
        let hits = null.iter().filter(|&&v| v >= x).count();
        return (1 + hits) as f64 / (1.0 + n);
    }
    let beta = sd * 6f64.sqrt() / std::f64::consts::PI;
    let mu = mean - 0.577_215_664_901_532_9 * beta;
    // 1 - exp(-exp(-t)), accurate in the far tail.
    -(-(-(x - mu) / beta).exp()).exp_m1()
}

/// Compares one query against one target.
fn compare_pair(
    q: &[[f64; 4]],
    t_fwd: &[[f64; 4]],
    t_rev: &[[f64; 4]],
    perms: &[Vec<usize>],
    opts: &CompareOptions,
) -> Option<(f64, f64, Option<f64>, Alignment)> {
    let (wq, wt) = (q.len(), t_fwd.len());
    let m = opts.min_overlap.max(1).min(wq).min(wt);
    if m == 0 {
        return None;
    }
    let sims = [t_fwd, t_rev].map(|t| {
        let mut s = vec![0.0; wq * wt];
        for i in 0..wq {
            for j in 0..wt {
                s[i * wt + j] = column_score(&q[i], &t[j], opts.metric);
            }
        }
        s
    });
    let mut placements = Vec::new();
    for reverse in [false, true] {
        for offset in -((wt - m) as isize)..=(wq - m) as isize {
            let lo = offset.max(0) as usize;
            let hi = wq.min((wt as isize + offset) as usize);
            placements.push(Placement {
                reverse,
                offset,
                lo,
                hi,
            });
        }
    }
    let a = placements.len();
    let identity: Vec<usize> = (0..wq).collect();
    let mut diag = Vec::new();
    let mut observed = vec![0.0; a];
    score_placements(&sims, wt, m, &identity, &mut diag, &mut observed);
    let align = |k: usize| Alignment {
        reverse: placements[k].reverse,
        offset: placements[k].offset,
        overlap: placements[k].hi - placements[k].lo,
    };
    if perms.is_empty() {
        let (k, &best) = observed
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(y.1).then(y.0.cmp(&x.0)))?;
        let al = align(k);
        return Some((best, best / al.overlap as f64, None, al));
    }
    let n = perms.len();
    let mut null = vec![0.0; n * a];
    for (perm, row) in perms.iter().zip(null.chunks_exact_mut(a)) {
        score_placements(&sims, wt, m, perm, &mut diag, row);
    }
    let mut mean = vec![0.0; a];
    let mut sd = vec![0.0; a];
    for row in null.chunks_exact(a) {
        for (mu, &v) in mean.iter_mut().zip(row) {
            *mu += v;
        }
    }
    mean.iter_mut().for_each(|mu| *mu /= n as f64);
    for row in null.chunks_exact(a) {
        for ((var, &mu), &v) in sd.iter_mut().zip(&mean).zip(row) {
            *var += (v - mu) * (v - mu);
        }
    }
    sd.iter_mut().for_each(|v| *v = (*v / n as f64).sqrt());
    let z = |k: usize, v: f64| {
        if sd[k] > 1e-9 {
            (v - mean[k]) / sd[k]
        } else {
            0.0
        }
    };
    let (best_k, best_z) =
        (0..a)
            .map(|k| (k, z(k, observed[k])))
            .fold(
                (0, f64::NEG_INFINITY),
                |acc, x| if x.1 > acc.1 { x } else { acc },
            );
    // Each shuffled query's best z-score: the null of the statistic.
    let maxima: Vec<f64> = null
        .chunks_exact(a)
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(k, &v)| z(k, v))
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect();
    let p = gumbel_pvalue(&maxima, best_z);
    let al = align(best_k);
    Some((best_z, observed[best_k] / al.overlap as f64, Some(p), al))
}

/// 64-bit FNV-1a hash.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The `top` best targets for each query, best first: by p-value, then score (by score alone
/// without shuffles); ties keep database order. Runs on the rayon pool; the result does not
/// depend on the number of threads.
pub fn compare(
    queries: &[Motif],
    targets: &[Motif],
    opts: &CompareOptions,
) -> Result<Vec<Vec<Match>>> {
    if let Some(m) = queries.iter().chain(targets).find(|m| m.probs.is_empty()) {
        return Err(Error::Config(format!("motif '{}' has no columns", m.id)));
    }
    // Each target's columns, forward and reverse complement.
    let prepared: Vec<(Columns, Columns)> = targets
        .iter()
        .map(|t| {
            (
                prepare(&t.probs, opts.metric),
                prepare(&reverse_complement(&t.probs), opts.metric),
            )
        })
        .collect();
    let mut out = Vec::with_capacity(queries.len());
    // Every database column on both strands: Tomtom's background of column scores.
    let columns: Vec<[f64; 4]> = prepared
        .iter()
        .flat_map(|(f, r)| f.iter().chain(r).copied())
        .collect();
    for q in queries {
        let qc = prepare(&q.probs, opts.metric);
        // One target's best alignment: (score, mean column similarity, p-value, alignment).
        let best: Box<BestAlignment> = match opts.null {
            Null::Tomtom => {
                let null = TomtomNull::new(&qc, &columns, opts);
                let qc = qc.clone();
                Box::new(move |tf, tr| {
                    null.compare(&qc, tf, tr, opts)
                        .map(|(s, sim, p, al)| (s, sim, Some(p), al))
                })
            }
            Null::Shuffled => {
                // Each query's shuffles come from the seed and its id alone, so its matches do
                // not depend on which other queries are compared.
                let mut rng: Rng = rng::seeded(opts.seed ^ fnv1a(q.id.as_bytes()));
                let perms: Vec<Vec<usize>> = (0..opts.shuffles)
                    .map(|_| {
                        let mut p: Vec<usize> = (0..qc.len()).collect();
                        rng::shuffle(&mut rng, &mut p);
                        p
                    })
                    .collect();
                let qc = qc.clone();
                Box::new(move |tf, tr| compare_pair(&qc, tf, tr, &perms, opts))
            }
        };
        let mut found: Vec<Match> = prepared
            .par_iter()
            .enumerate()
            .filter_map(|(ti, (tf, tr))| {
                best(tf, tr).map(|(score, similarity, pvalue, alignment)| Match {
                    target: ti,
                    rank: 0,
                    score,
                    similarity,
                    pvalue,
                    evalue: None,
                    qvalue: None,
                    alignment,
                })
            })
            .collect();
        rank(&mut found, targets.len(), opts.top);
        out.push(found);
    }
    Ok(out)
}

/// Sorts one query's matches (by p-value, then score, then database order), adjusts them
/// ([`adjust`]), keeps the `top` and numbers them.
fn rank(found: &mut Vec<Match>, targets: usize, top: usize) {
    found.sort_by(|a, b| {
        let pa = a.pvalue.unwrap_or(1.0);
        let pb = b.pvalue.unwrap_or(1.0);
        pa.total_cmp(&pb)
            .then(b.score.total_cmp(&a.score))
            .then(a.target.cmp(&b.target))
    });
    adjust(found, targets);
    found.truncate(top);
    for (r, m) in found.iter_mut().enumerate() {
        m.rank = r + 1;
    }
}

/// Steps a column score is binned into (Tomtom's default).
const TOMTOM_BINS: usize = 100;

/// Tomtom's null for one query: for every run `lo..hi` of query columns, the exact upper tail
/// of the summed binned column scores when each column faces a database column drawn at random.
struct TomtomNull {
    /// Lowest and highest column score of the metric.
    range: (f64, f64),
    /// `tails[lo * wq + hi - 1][k]`: P(sum of binned scores of columns lo..hi >= k).
    tails: Vec<Vec<f64>>,
    min_overlap: usize,
}

impl TomtomNull {
    fn bin(&self, v: f64) -> usize {
        let (lo, hi) = self.range;
        (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * TOMTOM_BINS as f64).round() as usize
    }

    fn new(q: &[[f64; 4]], columns: &[[f64; 4]], opts: &CompareOptions) -> TomtomNull {
        let range = match opts.metric {
            Metric::Pearson => (-1.0, 1.0),
            Metric::Euclidean => (-(2f64.sqrt()), 0.0),
        };
        let wq = q.len();
        let mut null = TomtomNull {
            range,
            tails: vec![Vec::new(); wq * wq],
            min_overlap: opts.min_overlap.max(1),
        };
        let pmfs: Vec<Vec<f64>> = q
            .iter()
            .map(|c| {
                let mut pmf = vec![0.0; TOMTOM_BINS + 1];
                for t in columns {
                    pmf[null.bin(column_score(c, t, opts.metric))] += 1.0;
                }
                let n = columns.len().max(1) as f64;
                pmf.iter_mut().for_each(|v| *v /= n);
                pmf
            })
            .collect();
        for lo in 0..wq {
            let mut dist = vec![1.0];
            for hi in lo + 1..=wq {
                let pmf = &pmfs[hi - 1];
                let mut next = vec![0.0; dist.len() + TOMTOM_BINS];
                for (a, &pa) in dist.iter().enumerate() {
                    if pa == 0.0 {
                        continue;
                    }
                    for (b, &pb) in pmf.iter().enumerate() {
                        next[a + b] += pa * pb;
                    }
                }
                dist = next;
                // Upper tail, summed from the top so small tails keep their digits.
                let mut tail = vec![0.0; dist.len()];
                let mut acc = 0.0;
                for k in (0..dist.len()).rev() {
                    acc += dist[k];
                    tail[k] = acc.min(1.0);
                }
                null.tails[lo * wq + hi - 1] = tail;
            }
        }
        null
    }

    /// The best alignment of the query on one target and its corrected p-value:
    /// `(summed score, mean column score, p, alignment)`.
    fn compare(
        &self,
        q: &[[f64; 4]],
        t_fwd: &[[f64; 4]],
        t_rev: &[[f64; 4]],
        opts: &CompareOptions,
    ) -> Option<(f64, f64, f64, Alignment)> {
        let (wq, wt) = (q.len(), t_fwd.len());
        let m = self.min_overlap.min(wq).min(wt);
        if m == 0 {
            return None;
        }
        let mut best: Option<(f64, f64, Alignment)> = None;
        let mut tried = 0usize;
        for (reverse, t) in [(false, t_fwd), (true, t_rev)] {
            for offset in -((wt - m) as isize)..=(wq - m) as isize {
                let lo = offset.max(0) as usize;
                let hi = wq.min((wt as isize + offset) as usize);
                tried += 1;
                let (mut raw, mut binned) = (0.0, 0usize);
                for i in lo..hi {
                    let v = column_score(&q[i], &t[(i as isize - offset) as usize], opts.metric);
                    raw += v;
                    binned += self.bin(v);
                }
                let p = self.tails[lo * wq + hi - 1]
                    .get(binned)
                    .copied()
                    .unwrap_or(0.0);
                let al = Alignment {
                    reverse,
                    offset,
                    overlap: hi - lo,
                };
                if best.is_none_or(|b| p < b.0 || (p == b.0 && raw > b.1)) {
                    best = Some((p, raw, al));
                }
            }
        }
        let (p, raw, al) = best?;
        // The chance that the best of `tried` alignments is at least this good.
        let corrected = -((tried as f64) * (-p).ln_1p()).exp_m1();
        Some((raw, raw / al.overlap as f64, corrected.clamp(0.0, 1.0), al))
    }
}

/// E-values (p times the `targets` compared) and Benjamini-Hochberg q-values of one query's
/// matches, sorted by p-value ascending (matches without a p-value get neither).
///
/// ```
/// use seqcnn::interpret::compare::{adjust, Alignment, Match};
/// let m = |p: f64| Match { target: 0, rank: 0, score: 0.0, similarity: 0.0, pvalue: Some(p),
///     evalue: None, qvalue: None, alignment: Alignment { reverse: false, offset: 0, overlap: 1 } };
/// let mut ms = vec![m(0.01), m(0.04), m(0.03), m(0.5)];
/// ms.sort_by(|a, b| a.pvalue.unwrap().total_cmp(&b.pvalue.unwrap()));
/// adjust(&mut ms, 4);
/// // q = min over j >= i of p_j * 4 / j: 0.04, 0.04 * 4 / 3 = 0.0533 twice, 0.5.
/// let q: Vec<f64> = ms.iter().map(|m| m.qvalue.unwrap()).collect();
/// assert!((q[0] - 0.04).abs() < 1e-12 && (q[1] - 0.16 / 3.0).abs() < 1e-12);
/// assert!((q[2] - 0.16 / 3.0).abs() < 1e-12 && (q[3] - 0.5).abs() < 1e-12);
/// assert!((ms[0].evalue.unwrap() - 0.04).abs() < 1e-12);
/// ```
pub fn adjust(matches: &mut [Match], targets: usize) {
    let n = targets.max(1) as f64;
    let with_p = matches.iter().take_while(|m| m.pvalue.is_some()).count();
    let mut running = 1.0f64;
    for i in (0..with_p).rev() {
        let p = matches[i].pvalue.unwrap_or(1.0);
        running = running.min(p * n / (i + 1) as f64).min(1.0);
        matches[i].qvalue = Some(running);
        matches[i].evalue = Some(p * n);
    }
}

/// Writes the TSV `query rank target target_name offset orientation overlap score pvalue
/// evalue qvalue`, Tomtom's columns, one row per match: `query` is the filter's id; `offset` the
/// 0-based query column facing the target's first column in the aligned orientation (negative:
/// the target starts before the query); `orientation` `+` or `-` (the target reverse
/// complemented); `overlap` the aligned columns; the p-, E- and q-values empty when not computed
/// (no shuffles). A query marked in `dead` (a filter with no site, so no motif) gets one row
/// with target_name `dead_filter_no_sites` and `.` in every other column.
pub fn write_matches(
    out: &mut impl Write,
    queries: &[Motif],
    targets: &[Motif],
    matches: &[Vec<Match>],
    dead: &[bool],
) -> std::io::Result<()> {
    let mut s = String::from(
        "query\trank\ttarget\ttarget_name\toffset\torientation\toverlap\tscore\tpvalue\tevalue\tqvalue\n",
    );
    let sci = |v: Option<f64>| v.map(|v| format!("{v:.3e}")).unwrap_or_default();
    for (i, (q, ms)) in queries.iter().zip(matches).enumerate() {
        if dead.get(i).copied().unwrap_or(false) {
            s.push_str(&format!(
                "{}\t.\t.\tdead_filter_no_sites\t.\t.\t.\t.\t.\t.\t.\n",
                q.id
            ));
            continue;
        }
        for m in ms {
            let t = &targets[m.target];
            s.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.3}\t{}\t{}\t{}\n",
                q.id,
                m.rank,
                t.id,
                t.name.as_deref().unwrap_or(""),
                m.alignment.offset,
                if m.alignment.reverse { '-' } else { '+' },
                m.alignment.overlap,
                m.score,
                sci(m.pvalue),
                sci(m.evalue),
                sci(m.qvalue),
            ));
        }
    }
    out.write_all(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::meme::read_meme;
    use std::path::Path;

    fn jaspar() -> Vec<Motif> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/motifs");
        read_meme(&dir.join("JASPAR2024_CORE_vertebrates.subset.meme"))
            .unwrap()
            .motifs
    }

    fn find(db: &[Motif], id: &str) -> Motif {
        db.iter().find(|m| m.id == id).unwrap().clone()
    }

    /// Blends `m` with the uniform distribution and adds `pad` uniform-ish columns each side.
    fn blurred(m: &Motif, keep: f64, pad: usize) -> Motif {
        let mut probs = vec![[0.3, 0.2, 0.2, 0.3]; pad];
        probs.extend(
            m.probs
                .iter()
                .map(|r| r.map(|v| keep * v + (1.0 - keep) * 0.25)),
        );
        probs.extend(vec![[0.2, 0.3, 0.3, 0.2]; pad]);
        Motif::new("q", probs)
    }

    #[test]
    fn a_database_motif_finds_itself_on_either_strand() {
        let db = jaspar();
        let opts = CompareOptions {
            shuffles: 200,
            ..Default::default()
        };
        // CTCF's MA0139.2 is the core of MA1929.2 and MA1930.2, which match it as well.
        for (id, within) in [
            ("MA0139.2", 3),
            ("MA0138.3", 1),
            ("MA0114.5", 1),
            ("MA0148.5", 1),
        ] {
            let m = find(&db, id);
            let rc = Motif::new("rc", reverse_complement(&m.probs));
            let got = compare(&[m.clone(), rc], &db, &opts).unwrap();
            for (res, reverse) in got.iter().zip([false, true]) {
                let me = res.iter().find(|x| db[x.target].id == id).unwrap();
                assert!(me.rank <= within, "{id}: {res:?}");
                assert!((me.similarity - 1.0).abs() < 1e-9, "{id}: {me:?}");
                assert_eq!(me.alignment.offset, 0);
                assert_eq!(me.alignment.reverse, reverse);
                assert_eq!(me.alignment.overlap, m.width());
                assert!(me.pvalue.unwrap() < 0.01, "{id}: {me:?}");
            }
            if id == "MA0139.2" {
                let names: Vec<_> = got[0][..3]
                    .iter()
                    .map(|x| db[x.target].name.clone())
                    .collect();
                assert!(
                    names.iter().all(|n| n.as_deref() == Some("CTCF")),
                    "{names:?}"
                );
            }
        }
    }

    #[test]
    fn a_blurred_padded_ctcf_matches_ctcf_first_with_the_offset() {
        let db = jaspar();
        let q = blurred(&find(&db, "MA0139.2"), 0.6, 3);
        for metric in [Metric::Pearson, Metric::Euclidean] {
            let opts = CompareOptions {
                metric,
                shuffles: 300,
                ..Default::default()
            };
            let got = compare(std::slice::from_ref(&q), &db, &opts).unwrap();
            let best = &got[0][0];
            let name = db[best.target].name.as_deref().unwrap();
            assert!(name == "CTCF" || name == "CTCFL", "{metric:?}: {name}");
            let ctcf = got[0]
                .iter()
                .find(|m| db[m.target].id == "MA0139.2")
                .unwrap();
            assert!(ctcf.rank <= 3, "{metric:?}: {:?}", got[0]);
            assert_eq!(ctcf.alignment.offset, 3, "{metric:?}");
            assert!(!ctcf.alignment.reverse);
            assert!(ctcf.pvalue.unwrap() < 0.01);
        }
    }

    #[test]
    fn a_motif_whose_columns_are_interchangeable_is_not_significant() {
        // SP1's columns are nearly all C (or G on the other strand): its own shuffles match it
        // almost as well as it does, so even a perfect match says little about column order.
        let db = jaspar();
        let sp1 = find(&db, "MA0079.5");
        let opts = CompareOptions {
            shuffles: 200,
            top: db.len(),
            ..Default::default()
        };
        let got = compare(std::slice::from_ref(&sp1), &db, &opts).unwrap();
        let me = got[0]
            .iter()
            .find(|x| db[x.target].id == "MA0079.5")
            .unwrap();
        assert!((me.similarity - 1.0).abs() < 1e-9);
        assert!(me.pvalue.unwrap() > 0.01, "{me:?}");
    }

    #[test]
    fn random_queries_get_unremarkable_pvalues() {
        let db = jaspar();
        let mut r = rng::seeded(9);
        let queries: Vec<Motif> = (0..20)
            .map(|i| {
                let probs = (0..10)
                    .map(|_| {
                        let v = [0; 4].map(|_| rng::uniform(&mut r, 0.0, 1.0) as f64);
                        let s: f64 = v.iter().sum();
                        v.map(|x| x / s)
                    })
                    .collect();
                Motif::new(format!("r{i}"), probs)
            })
            .collect();
        let opts = CompareOptions {
            shuffles: 100,
            top: db.len(),
            ..Default::default()
        };
        let got = compare(&queries, &db, &opts).unwrap();
        // Under the null the p-values are roughly uniform: about 5% below 0.05.
        let all: Vec<f64> = got.iter().flatten().map(|m| m.pvalue.unwrap()).collect();
        assert_eq!(all.len(), 20 * db.len());
        let low = all.iter().filter(|&&p| p <= 0.05).count() as f64 / all.len() as f64;
        assert!(low < 0.12, "fraction of p <= 0.05: {low}");
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        assert!((0.35..0.65).contains(&mean), "mean p {mean}");
    }

    #[test]
    fn no_shuffles_gives_raw_scores_and_no_pvalue() {
        let db = jaspar();
        let m = find(&db, "MA0138.3");
        let opts = CompareOptions {
            shuffles: 0,
            top: 2,
            ..Default::default()
        };
        let got = compare(std::slice::from_ref(&m), &db, &opts).unwrap();
        assert_eq!(got[0].len(), 2);
        assert_eq!(db[got[0][0].target].id, "MA0138.3");
        assert!((got[0][0].score - m.width() as f64).abs() < 1e-9);
        assert_eq!(got[0][0].pvalue, None);
        let mut buf = Vec::new();
        write_matches(&mut buf, &[m], &db, &got, &[false]).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "query\trank\ttarget\ttarget_name\toffset\torientation\toverlap\tscore\tpvalue\t\
             evalue\tqvalue"
        );
        // The motif against itself: whole overlap at offset 0, forward; no p-, E- or q-value.
        assert_eq!(
            lines[1],
            "MA0138.3\t1\tMA0138.3\tREST\t0\t+\t20\t20.000\t\t\t"
        );
    }

    #[test]
    fn results_do_not_depend_on_threads_or_other_queries() {
        let db = jaspar();
        let q = blurred(&find(&db, "MA0079.5"), 0.5, 2);
        let opts = CompareOptions {
            shuffles: 50,
            top: 10,
            ..Default::default()
        };
        let run = |t: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
                .install(|| compare(std::slice::from_ref(&q), &db, &opts).unwrap())
        };
        assert_eq!(run(1), run(3));
        // Nor on which other queries are compared.
        let other = blurred(&find(&db, "MA0138.3"), 0.5, 0);
        let both = compare(&[other, q.clone()], &db, &opts).unwrap();
        assert_eq!(both[1], run(2)[0]);
    }

    /// Tomtom's null on a database small enough to enumerate: the p-value of an alignment is
    /// the fraction of all ways of drawing its columns from the database that score at least as
    /// high (on the binned scale), and the best alignment's is corrected for those tried.
    #[test]
    fn tomtom_p_values_are_exact_on_an_enumerable_database() {
        let q = vec![[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1]];
        let db = vec![Motif::new(
            "t",
            vec![[0.6, 0.2, 0.1, 0.1], [0.1, 0.2, 0.6, 0.1]],
        )];
        let opts = CompareOptions {
            null: Null::Tomtom,
            min_overlap: 2,
            ..Default::default()
        };
        let ms = compare(&[Motif::new("q", q.clone())], &db, &opts).unwrap();
        let m = ms[0][0];
        assert_eq!((m.alignment.offset, m.alignment.reverse), (0, false));
        // Enumerate: 4 database columns (both strands), 16 pairs for the two query columns.
        let qc = prepare(&q, Metric::Pearson);
        let cols: Vec<[f64; 4]> = prepare(&db[0].probs, Metric::Pearson)
            .into_iter()
            .chain(prepare(&reverse_complement(&db[0].probs), Metric::Pearson))
            .collect();
        let bin = |v: f64| (((v + 1.0) / 2.0) * 100.0).round() as usize;
        let s = |i: usize, c: &[f64; 4]| bin(column_score(&qc[i], c, Metric::Pearson));
        let observed = s(0, &cols[0]) + s(1, &cols[1]);
        let hits = cols
            .iter()
            .flat_map(|a| cols.iter().map(move |b| (a, b)))
            .filter(|(a, b)| s(0, a) + s(1, b) >= observed)
            .count();
        let p = hits as f64 / 16.0;
        // Two alignments were tried (one offset, two strands).
        let expected = 1.0 - (1.0 - p) * (1.0 - p);
        assert!(
            (m.pvalue.unwrap() - expected).abs() < 1e-12,
            "{m:?} vs {expected}"
        );
    }

    /// A query that is a database motif finds it first, with the p-value of drawing its columns'
    /// best scores from the database: on a database whose columns all hold one base at 0.85,
    /// each query column scores its best against the columns of its own base only.
    #[test]
    fn tomtom_finds_a_database_motif_with_the_exact_p_value() {
        let mut rng = rng::seeded(5);
        let db: Vec<Motif> = (0..40)
            .map(|k| {
                let probs = (0..12)
                    .map(|_| {
                        let mut r = [0.05; 4];
                        r[rng::below(&mut rng, 4)] = 0.85;
                        r
                    })
                    .collect();
                Motif::new(format!("m{k}"), probs)
            })
            .collect();
        let probs = reverse_complement(&db[17].probs[2..10]);
        let query = Motif::new("q", probs.clone());
        let opts = CompareOptions {
            null: Null::Tomtom,
            top: 3,
            ..Default::default()
        };
        let m = compare(&[query], &db, &opts).unwrap()[0][0];
        assert_eq!(m.target, 17);
        assert!(m.alignment.reverse && m.alignment.overlap == 8, "{m:?}");
        // The share of database columns (both strands) with each base on top.
        let mut share = [0.0f64; 4];
        for t in &db {
            for r in t.probs.iter().chain(&reverse_complement(&t.probs)) {
                share[(0..4).find(|&b| r[b] > 0.5).unwrap()] += 1.0;
            }
        }
        let total: f64 = share.iter().sum();
        let p: f64 = probs
            .iter()
            .map(|r| share[(0..4).find(|&b| r[b] > 0.5).unwrap()] / total)
            .product();
        // Alignments tried: both strands, offsets -(12 - 5)..=(8 - 5).
        let tried = 2.0 * (7.0 + 3.0 + 1.0);
        let expected = 1.0 - (1.0 - p).powf(tried);
        assert!(
            (m.pvalue.unwrap() / expected - 1.0).abs() < 1e-9,
            "{m:?} vs {expected}"
        );
    }
}
