//! First-layer filters as motifs, as Basset does (Kelley et al. 2016): for each filter, every
//! placement on the input sequences whose activation (convolution plus bias, before the
//! nonlinearity) exceeds a fraction of the filter's maximum over the whole input is a site; the
//! sites' bases make a position frequency matrix, smoothed by pseudocounts and trimmed of
//! low-information edge columns. Also the raw filter weights as position weight matrices, and
//! motif helpers (information content, IUPAC consensus, reverse complement).

use std::io::Write;

use crate::encode;
use crate::io::meme::Motif;
use crate::model::Model;
use crate::nn::FirstConv;
use crate::score::Presentation;
use crate::{Error, Result};

/// Settings of [`filter_motifs`].
#[derive(Clone, Debug, PartialEq)]
pub struct MotifOptions {
    /// A placement is a site when its activation exceeds this fraction of the filter's maximum
    /// (Basset: 0.5).
    pub threshold: f32,
    /// Pseudocount added to each column, spread over the letters by the background.
    pub pseudocount: f64,
    /// Edge columns with less information than this (bits) are trimmed.
    pub trim_bits: f64,
    /// Background letter frequencies A, C, G, T.
    pub background: [f64; 4],
    /// Sequences per forward pass.
    pub batch: usize,
}

impl Default for MotifOptions {
    fn default() -> Self {
        MotifOptions {
            threshold: 0.5,
            pseudocount: 1.0,
            trim_bits: 0.2,
            background: [0.25; 4],
            batch: crate::score::INFER_BATCH,
        }
    }
}

/// One filter's motif and what went into it.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterMotif {
    /// Filter index in the first layer (0-based).
    pub filter: usize,
    /// The trimmed motif: id [`filter_id`], name the IUPAC consensus (`dead_filter_no_sites`
    /// when the filter has no site), `nsites` the site count.
    pub motif: Motif,
    /// The untrimmed frequency matrix, one row per tap. shape: [k][4]
    pub full: Vec<[f64; 4]>,
    /// Columns trimmed from the left and the right of `full`.
    pub trimmed: (usize, usize),
    /// Activation statistics.
    pub stats: FilterStats,
}

/// A filter's activations over the input.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterStats {
    /// Placements above the threshold.
    pub sites: usize,
    /// Input sequences with at least one site (on either strand).
    pub seqs_with_site: usize,
    /// Input sequences scanned.
    pub seqs: usize,
    /// Largest activation.
    pub max: f32,
    /// Mean activation over every placement.
    pub mean: f64,
    /// Standard deviation of the activation over every placement.
    pub sd: f64,
    /// The site threshold: `threshold * max` (infinite when `max <= 0`: no sites).
    pub cutoff: f32,
}

/// Information content of one column in bits: the relative entropy against the background.
///
/// ```
/// use seqcnn::interpret::motifs::information_content;
/// assert!((information_content(&[1.0, 0.0, 0.0, 0.0], &[0.25; 4]) - 2.0).abs() < 1e-12);
/// assert_eq!(information_content(&[0.25; 4], &[0.25; 4]), 0.0);
/// ```
pub fn information_content(row: &[f64; 4], bg: &[f64; 4]) -> f64 {
    row.iter()
        .zip(bg)
        .filter(|(p, b)| **p > 0.0 && **b > 0.0)
        .map(|(p, b)| p * (p / b).log2())
        .sum::<f64>()
        .max(0.0)
}

/// IUPAC consensus: a letter when it has at least half the mass and twice the next one, a
/// two-letter code when the top two have three quarters, else `N` (Cavener's rules).
///
/// ```
/// use seqcnn::interpret::motifs::consensus;
/// let rows = [[0.9, 0.0, 0.1, 0.0], [0.4, 0.0, 0.45, 0.15], [0.25; 4]];
/// assert_eq!(consensus(&rows), "ARN");
/// ```
pub fn consensus(probs: &[[f64; 4]]) -> String {
    const PAIRS: [[char; 4]; 4] = [
        ['A', 'M', 'R', 'W'],
        ['M', 'C', 'S', 'Y'],
        ['R', 'S', 'G', 'K'],
        ['W', 'Y', 'K', 'T'],
    ];
    probs
        .iter()
        .map(|row| {
            let mut idx = [0usize, 1, 2, 3];
            idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            let (a, b) = (idx[0], idx[1]);
            if row[a] >= 0.5 && row[a] >= 2.0 * row[b] {
                b"ACGT"[a] as char
            } else if row[a] + row[b] >= 0.75 {
                PAIRS[a][b]
            } else {
                'N'
            }
        })
        .collect()
}

/// The matrix of the other strand: rows reversed, A<->T and C<->G.
///
/// ```
/// use seqcnn::interpret::motifs::reverse_complement;
/// let rc = reverse_complement(&[[0.7, 0.1, 0.1, 0.1], [0.0, 0.0, 0.2, 0.8]]);
/// assert_eq!(rc, vec![[0.8, 0.2, 0.0, 0.0], [0.1, 0.1, 0.1, 0.7]]);
/// ```
pub fn reverse_complement(probs: &[[f64; 4]]) -> Vec<[f64; 4]> {
    probs
        .iter()
        .rev()
        .map(|r| [r[3], r[2], r[1], r[0]])
        .collect()
}

/// The columns to keep, `start..end`, after trimming edge columns with less than `min_bits` of
/// information; all of them when every column is below.
///
/// ```
/// use seqcnn::interpret::motifs::trim;
/// let rows = [[0.25; 4], [1.0, 0.0, 0.0, 0.0], [0.3, 0.2, 0.2, 0.3], [0.0, 1.0, 0.0, 0.0], [0.25; 4]];
/// assert_eq!(trim(&rows, &[0.25; 4], 0.2), 1..4);
/// assert_eq!(trim(&[[0.25; 4]; 3], &[0.25; 4], 0.2), 0..3);
/// ```
pub fn trim(probs: &[[f64; 4]], bg: &[f64; 4], min_bits: f64) -> std::ops::Range<usize> {
    let keep = |r: &[f64; 4]| information_content(r, bg) >= min_bits;
    match (probs.iter().position(keep), probs.iter().rposition(keep)) {
        (Some(a), Some(b)) => a..b + 1,
        _ => 0..probs.len(),
    }
}

/// A frequency matrix as log-odds scores in bits, `log2((p + pc * bg) / (1 + pc) / bg)` per
/// letter, for scanning sequences.
///
/// ```
/// use seqcnn::interpret::motifs::log_odds;
/// let lo = log_odds(&[[1.0, 0.0, 0.0, 0.0]], &[0.25; 4], 0.0);
/// assert_eq!(lo[0][0], 2.0);
/// assert_eq!(lo[0][1], f64::NEG_INFINITY);
/// ```
pub fn log_odds(probs: &[[f64; 4]], bg: &[f64; 4], pc: f64) -> Vec<[f64; 4]> {
    probs
        .iter()
        .map(|r| {
            let mut out = [0.0; 4];
            for c in 0..4 {
                out[c] = ((r[c] + pc * bg[c]) / (1.0 + pc) / bg[c]).log2();
            }
            out
        })
        .collect()
}

/// The best placement of a log-odds matrix on either strand of `seq`: `(start, reverse,
/// score)`, `start` 0-based on the forward strand (first best on ties, forward strand first).
/// An ambiguous base scores the mean of its column. `None` if `seq` is shorter than the matrix.
///
/// ```
/// use seqcnn::interpret::motifs::{best_site, log_odds};
/// let lo = log_odds(&[[0.97, 0.01, 0.01, 0.01], [0.01, 0.97, 0.01, 0.01]], &[0.25; 4], 0.0);
/// assert_eq!(best_site(&lo, b"TTACTT").map(|s| (s.0, s.1)), Some((2, false)));
/// assert_eq!(best_site(&lo, b"TTGTTT").map(|s| (s.0, s.1)), Some((2, true))); // GT = rc of AC
/// assert_eq!(best_site(&lo, b"A"), None);
/// ```
pub fn best_site(pwm: &[[f64; 4]], seq: &[u8]) -> Option<(usize, bool, f64)> {
    let w = pwm.len();
    if w == 0 || seq.len() < w {
        return None;
    }
    let rc = reverse_complement(pwm);
    let score = |m: &[[f64; 4]], s: &[u8]| -> f64 {
        m.iter()
            .zip(s)
            .map(|(col, &b)| match encode::base_index(b) {
                Some(c) => col[c],
                None => col.iter().sum::<f64>() / 4.0,
            })
            .sum()
    };
    let mut best: Option<(usize, bool, f64)> = None;
    for start in 0..=seq.len() - w {
        for (reverse, m) in [(false, pwm), (true, rc.as_slice())] {
            let v = score(m, &seq[start..start + w]);
            if best.is_none_or(|b| v > b.2) {
                best = Some((start, reverse, v));
            }
        }
    }
    best
}

/// Running activation statistics of one filter.
#[derive(Clone, Copy, Default)]
struct Running {
    max: f32,
    sum: f64,
    sumsq: f64,
    n: u64,
}

/// The inputs the network sees for one sequence, whole: forward (and reverse complement),
/// padded as the presentation pads a window.
fn presented(seq: &[u8], pres: &Presentation) -> Vec<Vec<u8>> {
    let mut out = vec![pres.padded(seq, 0, seq.len())];
    if pres.both_strands() {
        out.push(pres.padded(&encode::reverse_complement(seq), 0, seq.len()));
    }
    out
}

/// Runs `f(sequence index, presented input, activations [filters, l_out])` over every presented
/// input, batching inputs of one length.
fn scan(
    conv: &FirstConv,
    seqs: &[&[u8]],
    pres: &Presentation,
    batch: usize,
    progress: &mut dyn FnMut(usize, usize),
    mut f: impl FnMut(usize, &[u8], ndarray::ArrayView2<f32>),
) -> Result<()> {
    let mut items: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, s) in seqs.iter().enumerate() {
        for p in presented(s, pres) {
            items.push((i, p));
        }
    }
    items.sort_by_key(|(i, p)| (p.len(), *i));
    let mut done = 0;
    for group in items.chunk_by(|a, b| a.1.len() == b.1.len()) {
        if !conv.fits(group[0].1.len()) {
            let (i, _) = group[0];
            return Err(Error::Config(format!(
                "sequence {} is {} bp, shorter than the first layer's span of {} bp",
                i + 1,
                seqs[i].len(),
                conv.span()
            )));
        }
        for chunk in group.chunks(batch.max(1)) {
            let inputs: Vec<&[u8]> = chunk.iter().map(|(_, p)| p.as_slice()).collect();
            let act = conv.activations(&inputs)?;
            for ((i, p), a) in chunk.iter().zip(act.outer_iter()) {
                f(*i, p, a);
            }
            done += chunk.len();
            progress(done, items.len());
        }
    }
    Ok(())
}

/// Basset's filter motifs over `seqs` as `pres` presents them (DeepBind models: each whole
/// sequence padded with N, both strands when the model scores both). Bases outside the sequence
/// or ambiguous (N) are not counted, so a column's count can be below the site count.
pub fn filter_motifs(
    model: &Model,
    pres: &Presentation,
    seqs: &[&[u8]],
    opts: &MotifOptions,
) -> Result<Vec<FilterMotif>> {
    filter_motifs_observed(model, pres, seqs, opts, &mut |_| {})
}

/// The id of filter `f` of `n`: `filter` and its index, zero-padded to the width of the largest
/// (`filter00` to `filter15` for 16 filters), so that file listings sort in filter order.
///
/// ```
/// use seqcnn::interpret::motifs::filter_id;
/// assert_eq!((filter_id(3, 16), filter_id(3, 10), filter_id(2, 3)), ("filter03".into(), "filter3".into(), "filter2".into()));
/// assert_eq!(filter_id(7, 320), "filter007");
/// ```
pub fn filter_id(f: usize, n: usize) -> String {
    let width = n.saturating_sub(1).max(1).to_string().len();
    format!("filter{f:0width$}")
}

/// [`filter_motifs`], telling `progress` the share of the work done (0 to 1) after every batch:
/// the sequences are scanned twice, for each filter's maximum and then for its sites.
pub fn filter_motifs_observed(
    model: &Model,
    pres: &Presentation,
    seqs: &[&[u8]],
    opts: &MotifOptions,
    progress: &mut dyn FnMut(f64),
) -> Result<Vec<FilterMotif>> {
    if !(opts.threshold > 0.0 && opts.threshold <= 1.0) {
        return Err(Error::Config(format!(
            "the site threshold must be in (0, 1], got {}",
            opts.threshold
        )));
    }
    if !(opts.pseudocount >= 0.0 && opts.pseudocount.is_finite()) {
        return Err(Error::Config(format!(
            "the pseudocount must be a non-negative number, got {}",
            opts.pseudocount
        )));
    }
    if seqs.is_empty() {
        return Err(Error::Config("no input sequences".into()));
    }
    let conv = model.first_conv()?;
    let (nf, k) = (conv.filters(), conv.k());
    let mut run = vec![
        Running {
            max: f32::NEG_INFINITY,
            ..Default::default()
        };
        nf
    ];
    let mut first = |done: usize, total: usize| progress(0.5 * done as f64 / total as f64);
    scan(&conv, seqs, pres, opts.batch, &mut first, |_, _, act| {
        for (r, row) in run.iter_mut().zip(act.outer_iter()) {
            for &v in row {
                r.max = r.max.max(v);
                r.sum += v as f64;
                r.sumsq += v as f64 * v as f64;
                r.n += 1;
            }
        }
    })?;
    let cutoff: Vec<f32> = run
        .iter()
        .map(|r| {
            if r.max > 0.0 {
                opts.threshold * r.max
            } else {
                f32::INFINITY
            }
        })
        .collect();
    // counts[f][j][c]; sites per filter; last sequence with a site per filter.
    let mut counts = vec![vec![[0f64; 4]; k]; nf];
    let mut sites = vec![0usize; nf];
    let mut seq_hits = vec![0usize; nf];
    let mut last_seq = vec![usize::MAX; nf];
    let dil = conv.geom.dilation as isize;
    let mut second = |done: usize, total: usize| progress(0.5 + 0.5 * done as f64 / total as f64);
    scan(
        &conv,
        seqs,
        pres,
        opts.batch,
        &mut second,
        |i, input, act| {
            for (f, row) in act.outer_iter().enumerate() {
                for (p, &v) in row.iter().enumerate() {
                    if v <= cutoff[f] {
                        continue;
                    }
                    sites[f] += 1;
                    if last_seq[f] != i {
                        last_seq[f] = i;
                        seq_hits[f] += 1;
                    }
                    let t0 = conv.tap0(p);
                    for (j, col) in counts[f].iter_mut().enumerate() {
                        let q = t0 + j as isize * dil;
                        if let Some(c) = usize::try_from(q)
                            .ok()
                            .and_then(|q| input.get(q))
                            .and_then(|&b| encode::base_index(b))
                        {
                            col[c] += 1.0;
                        }
                    }
                }
            }
        },
    )?;
    let bg = opts.background;
    let pc = opts.pseudocount;
    let mut out = Vec::with_capacity(nf);
    for f in 0..nf {
        let full: Vec<[f64; 4]> = counts[f]
            .iter()
            .map(|col| {
                let n: f64 = col.iter().sum();
                if n + pc <= 0.0 {
                    return bg;
                }
                let mut row = [0f64; 4];
                for c in 0..4 {
                    row[c] = (col[c] + pc * bg[c]) / (n + pc);
                }
                row
            })
            .collect();
        let keep = if sites[f] > 0 {
            trim(&full, &bg, opts.trim_bits)
        } else {
            0..k
        };
        let probs = full[keep.clone()].to_vec();
        let mut motif = Motif::new(filter_id(f, nf), probs);
        // A dead filter (no site above the threshold) says so where a consensus would be.
        motif.name = Some(if sites[f] > 0 {
            consensus(&motif.probs)
        } else {
            "dead_filter_no_sites".into()
        });
        motif.nsites = Some(sites[f] as f64);
        motif.evalue = Some(0.0);
        let r = run[f];
        let n = r.n.max(1) as f64;
        let mean = r.sum / n;
        let var = (r.sumsq / n - mean * mean).max(0.0);
        out.push(FilterMotif {
            filter: f,
            motif,
            trimmed: (keep.start, k - keep.end),
            full,
            stats: FilterStats {
                sites: sites[f],
                seqs_with_site: seq_hits[f],
                seqs: seqs.len(),
                max: r.max,
                mean,
                sd: var.sqrt(),
                cutoff: cutoff[f],
            },
        });
    }
    Ok(out)
}

/// How raw filter weights become probabilities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightMode {
    /// `exp(w) / sum(exp(w))` per column.
    #[default]
    Softmax,
    /// `(w - min) / sum(w - min)` per column (uniform when the column is flat).
    Normalised,
}

/// The first layer's weights `[filters, 4, k]` as one matrix per filter (id `filter<i>`, name the
/// consensus, no site count), untrimmed.
pub fn weight_motifs(model: &Model, mode: WeightMode) -> Result<Vec<Motif>> {
    let conv = model.first_conv()?;
    let nf = conv.filters();
    let mut out = Vec::with_capacity(nf);
    for (f, w) in conv.weight.outer_iter().enumerate() {
        let probs: Vec<[f64; 4]> = (0..conv.k())
            .map(|j| {
                let col = [0, 1, 2, 3].map(|c| w[[c, j]] as f64);
                match mode {
                    WeightMode::Softmax => {
                        let m = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let e = col.map(|v| (v - m).exp());
                        let s: f64 = e.iter().sum();
                        e.map(|v| v / s)
                    }
                    WeightMode::Normalised => {
                        let m = col.iter().copied().fold(f64::INFINITY, f64::min);
                        let e = col.map(|v| v - m);
                        let s: f64 = e.iter().sum();
                        if s > 0.0 { e.map(|v| v / s) } else { [0.25; 4] }
                    }
                }
            })
            .collect();
        if probs.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::Numeric(format!(
                "filter {f} has weights that are not finite numbers"
            )));
        }
        let mut m = Motif::new(filter_id(f, nf), probs);
        m.name = Some(consensus(&m.probs));
        m.evalue = Some(0.0);
        out.push(m);
    }
    Ok(out)
}

/// Writes one TSV row per filter: `filter consensus sites seqs_with_site frac_seqs act_max
/// act_mean act_sd threshold width trim_left trim_right ic ic_per_column` (information in bits
/// against `bg`, of the trimmed motif).
pub fn write_stats(
    out: &mut impl Write,
    filters: &[FilterMotif],
    bg: &[f64; 4],
) -> std::io::Result<()> {
    let mut s = String::from(
        "filter\tconsensus\tsites\tseqs_with_site\tfrac_seqs\tact_max\tact_mean\tact_sd\tthreshold\twidth\ttrim_left\ttrim_right\tic\tic_per_column\n",
    );
    for f in filters {
        let ic: f64 = f
            .motif
            .probs
            .iter()
            .map(|r| information_content(r, bg))
            .sum();
        let st = &f.stats;
        let threshold = if st.cutoff.is_finite() {
            format!("{:.4}", st.cutoff)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "{}\t{}\t{}\t{}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\t{}\t{}\t{}\t{}\t{:.3}\t{:.3}\n",
            f.motif.id,
            f.motif.name.as_deref().unwrap_or(""),
            st.sites,
            st.seqs_with_site,
            st.seqs_with_site as f64 / st.seqs.max(1) as f64,
            st.max,
            st.mean,
            st.sd,
            threshold,
            f.motif.width(),
            f.trimmed.0,
            f.trimmed.1,
            ic,
            ic / f.motif.width().max(1) as f64,
        ));
    }
    out.write_all(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interpret::testutil::planted_model;

    fn random_seq(rng: &mut crate::rng::Rng, n: usize) -> Vec<u8> {
        (0..n).map(|_| b"ACGT"[crate::rng::below(rng, 4)]).collect()
    }

    #[test]
    fn planted_filter_recovers_its_motif() {
        let motif = b"GATTACA";
        let model = planted_model(motif, crate::model::Strand::None);
        let pres = Presentation::of(&model, None).unwrap();
        let mut rng = crate::rng::seeded(2);
        let seqs: Vec<Vec<u8>> = (0..200)
            .map(|i| {
                let mut s = random_seq(&mut rng, 40);
                if i % 2 == 0 {
                    s[10..17].copy_from_slice(motif);
                }
                s
            })
            .collect();
        let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
        let opts = MotifOptions {
            threshold: 0.99,
            ..Default::default()
        };
        let out = filter_motifs(&model, &pres, &refs, &opts).unwrap();
        assert_eq!(out.len(), 2);
        let f0 = &out[0];
        // Only exact matches reach the maximum of 1: the 100 planted ones and any chance ones.
        assert!(
            f0.stats.sites >= 100 && f0.stats.sites < 110,
            "{:?}",
            f0.stats
        );
        assert_eq!(f0.motif.name.as_deref(), Some("GATTACA"));
        assert_eq!(f0.motif.nsites, Some(f0.stats.sites as f64));
        assert_eq!(f0.trimmed, (0, 0));
        let n = f0.stats.sites as f64;
        assert!((f0.motif.probs[0][2] - (n + 0.25) / (n + 1.0)).abs() < 1e-12);
        assert!((f0.stats.max - 1.0).abs() < 1e-6);
        // The dead filter: no sites, uniform, no cutoff.
        let f1 = &out[1];
        assert_eq!((f1.stats.sites, f1.stats.seqs_with_site), (0, 0));
        assert!(f1.stats.cutoff.is_infinite());
        assert_eq!(f1.motif.probs, vec![[0.25; 4]; 7]);
    }

    #[test]
    fn both_strands_and_deepbind_padding_find_sites_on_either_strand() {
        let motif = b"GGGACT";
        let mut model = planted_model(motif, crate::model::Strand::Max);
        model.meta.scoring = crate::model::Scoring::DeepBind {
            window: None,
            average: false,
        };
        let pres = Presentation::of(&model, None).unwrap();
        assert_eq!(pres.pad, 5);
        // The motif only on the reverse strand, and at the very start (half in the padding).
        let rc = encode::reverse_complement(motif);
        let s1 = [b"AAAA".as_slice(), &rc, b"AAAA"].concat();
        let s2 = [&motif[3..], b"TTTTTT".as_slice()].concat();
        let refs = [s1.as_slice(), s2.as_slice()];
        let opts = MotifOptions {
            threshold: 0.99,
            trim_bits: 0.0,
            ..Default::default()
        };
        let out = filter_motifs(&model, &pres, &refs, &opts).unwrap();
        assert_eq!(out[0].stats.sites, 1);
        assert_eq!(out[0].stats.seqs_with_site, 1);
        assert_eq!(out[0].motif.name.as_deref(), Some("GGGACT"));
    }

    #[test]
    fn weights_as_pwms() {
        let model = planted_model(b"ACG", crate::model::Strand::None);
        let soft = weight_motifs(&model, WeightMode::Softmax).unwrap();
        let e = 1f64.exp();
        assert!((soft[0].probs[0][0] - e / (e + 3.0)).abs() < 1e-12);
        assert_eq!(soft[0].name.as_deref(), Some("NNN"));
        let norm = weight_motifs(&model, WeightMode::Normalised).unwrap();
        assert_eq!(norm[0].probs[1], [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(norm[1].probs[0], [0.25; 4]);
        assert_eq!(norm[0].name.as_deref(), Some("ACG"));
    }

    #[test]
    fn stats_table_has_one_row_per_filter() {
        let model = planted_model(b"ACGT", crate::model::Strand::None);
        let pres = Presentation::of(&model, None).unwrap();
        let seqs = [b"TTACGTTT".as_slice(), b"ACGTACGT"];
        let out = filter_motifs(&model, &pres, &seqs, &MotifOptions::default()).unwrap();
        let mut buf = Vec::new();
        write_stats(&mut buf, &out, &[0.25; 4]).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("filter\tconsensus\tsites\t"));
        let f0: Vec<&str> = lines[1].split('\t').collect();
        assert_eq!(&f0[..5], ["filter0", "ACGT", "3", "2", "1.0000"]);
        let f1: Vec<&str> = lines[2].split('\t').collect();
        assert_eq!(f1[8], "", "no threshold for a filter that never fires");
    }

    #[test]
    fn bad_settings_and_short_sequences_are_errors() {
        let model = planted_model(b"ACGTAC", crate::model::Strand::None);
        let pres = Presentation::of(&model, None).unwrap();
        let opts = MotifOptions {
            threshold: 0.0,
            ..Default::default()
        };
        assert!(filter_motifs(&model, &pres, &[b"ACGTACGT"], &opts).is_err());
        let e = filter_motifs(
            &model,
            &pres,
            &[b"ACGTACGT", b"ACG"],
            &MotifOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "sequence 2 is 3 bp, shorter than the first layer's span of 6 bp"
        );
    }
}
