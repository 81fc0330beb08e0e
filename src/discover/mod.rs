//! Motif discovery from contribution scores, as TF-MoDISco (modisco-lite) does it: seqlets called
//! from the tracks ([`seqlets`]), split by the sign of their contribution into two metaclusters,
//! each clustered by the similarity of their contributions ([`cluster`]) and each cluster
//! aggregated into a motif ([`pattern`]); similar motifs are merged and weak ones dropped. Every
//! motif has its contribution weight matrix (CWM), hypothetical CWM, position probability matrix
//! and seqlets; [`report`] writes them (MEME, TSV, BED, HTML).
//!
//! Where seqcnn differs from modisco-lite (defaults otherwise the same): clusters are Louvain
//! communities of a nearest-neighbour graph of the seqlets' similarities, where modisco-lite runs
//! Leiden 50 times over a density-adapted graph, re-clusters once and detects spurious merges by
//! sub-clustering; seqcnn aligns each cluster once and merges motifs by modisco-lite's rules
//! ([`merging`]), one pair at a time, without its sub-clustering.

pub mod cluster;
pub mod merging;
pub mod pattern;
pub mod report;
pub mod seqlets;

use rayon::prelude::*;

use crate::{Error, Result};
use cluster::Snippet;
use pattern::{Pattern, Tracks};
use seqlets::{Called, Seqlet, SeqletOptions};

/// Settings of [`discover`] (modisco-lite's `modisco motifs` defaults where it has them).
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// How seqlets are called.
    pub seqlets: SeqletOptions,
    /// Seqlets clustered per sign, the first in sequence order (modisco-lite's `-n`: 2000).
    pub max_seqlets: usize,
    /// Fewer seqlets of a sign than this and that sign is not clustered (100).
    pub min_metacluster: usize,
    /// Nearest neighbours per seqlet in the clustering graph.
    pub neighbours: usize,
    /// Least fraction of a seqlet that overlaps another when they are slid (0.7).
    pub min_overlap: f64,
    /// Columns of most information a motif is cut to before its flanks are added (30).
    pub trim_window: usize,
    /// Columns added on each side after the cut (10).
    pub flank: usize,
    /// Seqlets per motif compared when deciding a merge (modisco-lite: 1000).
    pub merge_subsample: usize,
    /// Fewest seqlets a motif keeps (20).
    pub min_seqlets: usize,
    /// Least information (bits) in the best window of `ic_window` columns (0.6 over 6).
    pub min_ic: f64,
    /// Columns of that window.
    pub ic_window: usize,
    /// Report trim: columns whose summed |CWM| reaches this share of the largest (0.3).
    pub trim_threshold: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seqlets: SeqletOptions::default(),
            max_seqlets: 2000,
            min_metacluster: 100,
            neighbours: 20,
            min_overlap: 0.7,
            trim_window: 30,
            flank: 10,
            merge_subsample: 300,
            min_seqlets: 20,
            min_ic: 0.6,
            ic_window: 6,
            trim_threshold: 0.3,
        }
    }
}

/// The sign of a metacluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    /// Seqlets that raise the score.
    Positive,
    /// Seqlets that lower it.
    Negative,
}

impl Sign {
    /// 1 or -1.
    pub fn value(self) -> f64 {
        match self {
            Sign::Positive => 1.0,
            Sign::Negative => -1.0,
        }
    }

    /// modisco-lite's group name: `pos_patterns` or `neg_patterns`.
    pub fn group(self) -> &'static str {
        match self {
            Sign::Positive => "pos_patterns",
            Sign::Negative => "neg_patterns",
        }
    }
}

/// A discovered motif.
#[derive(Clone, Debug)]
pub struct Motif {
    /// `pos_patterns.pattern_0`, ... as modisco-lite names them, largest first.
    pub name: String,
    /// Its metacluster.
    pub sign: Sign,
    /// Aligned seqlets (all `cwm.len()` long).
    pub seqlets: Vec<Seqlet>,
    /// Contribution weight matrix: mean actual contribution per column and base.
    pub cwm: Vec<[f64; 4]>,
    /// Mean hypothetical contribution.
    pub hyp_cwm: Vec<[f64; 4]>,
    /// Base frequencies of the seqlets.
    pub pwm: Vec<[f64; 4]>,
    /// Columns kept by the report trim.
    pub trim: std::ops::Range<usize>,
}

impl Motif {
    /// The trimmed PWM as a MEME motif named after this one.
    pub fn trimmed_pwm(&self) -> crate::io::meme::Motif {
        let mut m = crate::io::meme::Motif::new(
            self.name.clone(),
            self.pwm[self.trim.clone()]
                .iter()
                .map(|r| {
                    let s: f64 = r.iter().sum();
                    if s > 0.0 { r.map(|v| v / s) } else { [0.25; 4] }
                })
                .collect(),
        );
        m.nsites = Some(self.seqlets.len() as f64);
        m
    }
}

/// Everything [`discover`] found.
#[derive(Clone, Debug)]
pub struct Discovery {
    /// The seqlet calling.
    pub called: Called,
    /// Background base frequencies of the seqlets.
    pub background: [f64; 4],
    /// Motifs, positive first, each sign largest first.
    pub motifs: Vec<Motif>,
    /// Seqlets clustered per sign (after the cap).
    pub clustered: [usize; 2],
}

/// Contribution tracks checked and laid out position-major: `hyp` and `seq` as `[N, 4, L]`
/// (the layout `seqcnn attribute --out F.npz` writes).
pub fn tracks_from_arrays(
    hyp: &ndarray::ArrayView3<f32>,
    seq: &ndarray::ArrayView3<f32>,
) -> Result<Tracks> {
    if hyp.shape() != seq.shape() {
        return Err(Error::Config(format!(
            "hypothetical contributions are {:?} but the sequences {:?}: both must be \
             [sequences, 4, length]",
            hyp.shape(),
            seq.shape()
        )));
    }
    let (n, c, len) = hyp.dim();
    if c != 4 {
        let hint = if len == 4 {
            " (this looks like [N, length, 4]: transpose to [N, 4, length], the layout \
             `seqcnn attribute` and modisco-lite's inputs use)"
        } else {
            ""
        };
        return Err(Error::Config(format!(
            "attributions are {:?}: the second axis must be the 4 bases A, C, G, T{hint}",
            hyp.shape()
        )));
    }
    if n == 0 {
        return Err(Error::Config("no sequences in the attributions".into()));
    }
    let mut h = Vec::with_capacity(n * len * 4);
    let mut s = Vec::with_capacity(n * len * 4);
    for i in 0..n {
        for p in 0..len {
            for b in 0..4 {
                h.push(hyp[[i, b, p]]);
                s.push(seq[[i, b, p]]);
            }
        }
    }
    Ok(Tracks::new(n, len, h, s))
}

/// Motifs of one metacluster.
fn metacluster(
    tracks: &Tracks,
    seqlets: &[Seqlet],
    sign: Sign,
    bg: &[f64; 4],
    opts: &Options,
) -> Vec<Motif> {
    // Strongest first (TF-MoDISco's order), after the cap in sequence order.
    let mut seqlets: Vec<(f64, Seqlet)> = seqlets
        .iter()
        .take(opts.max_seqlets)
        .map(|s| (tracks.magnitude(s), *s))
        .collect();
    seqlets.sort_by(|a, b| b.0.total_cmp(&a.0));
    let seqlets: Vec<Seqlet> = seqlets.into_iter().map(|(_, s)| s).collect();
    let snips: Vec<Snippet> = seqlets.par_iter().map(|s| tracks.snippet(s)).collect();
    let labels = cluster::cluster(&snips, opts.neighbours, opts.min_overlap);
    let count = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<Seqlet>> = vec![Vec::new(); count];
    for (s, &l) in seqlets.iter().zip(&labels) {
        members[l].push(*s);
    }
    let mut patterns: Vec<Pattern> = members
        .par_iter()
        .filter(|m| !m.is_empty())
        .map(|m| {
            let p = pattern::aggregate(tracks, m, opts.min_overlap);
            pattern::polish(tracks, &p, bg, sign.value(), opts.trim_window, opts.flank)
        })
        .collect();
    // Merge, one pair at a time, the most similar pair that TF-MoDISco's rules would merge.
    loop {
        patterns.retain(|p| !p.seqlets.is_empty());
        patterns.sort_by_key(|p| std::cmp::Reverse(p.seqlets.len()));
        match merging::best_pair(tracks, &patterns, opts) {
            Some((i, j, p)) => {
                let merged = pattern::merge(tracks, &patterns[i], &patterns[j], &p);
                patterns[i] = merged;
                patterns.remove(j);
            }
            None => break,
        }
    }
    let mut kept: Vec<Pattern> = patterns
        .par_iter()
        .map(|p| {
            let p = pattern::realign(tracks, p, opts.min_overlap);
            pattern::polish(tracks, &p, bg, sign.value(), opts.trim_window, opts.flank)
        })
        .filter(|p| p.seqlets.len() >= opts.min_seqlets)
        .filter(|p| {
            let ic = pattern::position_ic(&p.pwm(tracks), bg, 0.001);
            let w = opts.ic_window.min(ic.len());
            let at = pattern::best_window(&ic, w);
            ic[at..at + w].iter().sum::<f64>() >= opts.min_ic
        })
        .collect();
    kept.sort_by_key(|p| std::cmp::Reverse(p.seqlets.len()));
    kept.iter()
        .enumerate()
        .map(|(i, p)| {
            let cwm = pattern::rows(&p.mean(tracks, &tracks.actual));
            let trim = pattern::trim_span(&cwm, sign.value(), opts.trim_threshold);
            Motif {
                name: format!("{}.pattern_{i}", sign.group()),
                sign,
                seqlets: p.seqlets.clone(),
                hyp_cwm: pattern::rows(&p.mean(tracks, &tracks.hyp)),
                pwm: p.pwm(tracks),
                cwm,
                trim,
            }
        })
        .collect()
}

/// Seqlets, then motifs, of contribution tracks. The result does not depend on the number of
/// threads.
pub fn discover(tracks: &Tracks, opts: &Options) -> Result<Discovery> {
    let scores = tracks.position_scores();
    let called = seqlets::call(&scores, tracks.n, tracks.len, &opts.seqlets)?;
    let all: Vec<&Seqlet> = called.positive.iter().chain(&called.negative).collect();
    let mut background = [0.0f64; 4];
    for s in &all {
        for (i, v) in tracks.window(&tracks.seq, s).iter().enumerate() {
            background[i % 4] += *v as f64;
        }
    }
    let total: f64 = background.iter().sum();
    if total > 0.0 {
        background.iter_mut().for_each(|v| *v /= total);
    } else {
        background = [0.25; 4];
    }
    let mut motifs = Vec::new();
    let mut clustered = [0usize; 2];
    for (k, (sign, set)) in [
        (Sign::Positive, &called.positive),
        (Sign::Negative, &called.negative),
    ]
    .into_iter()
    .enumerate()
    {
        if set.len() > opts.min_metacluster {
            clustered[k] = set.len().min(opts.max_seqlets);
            motifs.extend(metacluster(tracks, set, sign, &background, opts));
        }
    }
    Ok(Discovery {
        called,
        background,
        motifs,
        clustered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;

    /// Random sequences, each with `GATTACAGG` planted on a random strand where the
    /// contributions are high; elsewhere noise. One positive motif comes out, spelling it.
    #[test]
    fn a_planted_motif_is_found_on_either_strand() {
        // 200 bp, so that the windows over the motif are under a fifth of all (modisco-lite
        // raises the threshold to keep at most 20% of windows).
        let (n, len) = (200, 200);
        let motif = b"GATTACAGG";
        let code = |c: u8| b"ACGT".iter().position(|&b| b == c).unwrap();
        let mut r = rng::seeded(11);
        let mut seq = vec![0.0f32; n * len * 4];
        let mut hyp = vec![0.0f32; n * len * 4];
        for s in 0..n {
            let mut bases: Vec<usize> = (0..len).map(|_| rng::below(&mut r, 4)).collect();
            let at = 20 + rng::below(&mut r, 150);
            let reverse = rng::below(&mut r, 2) == 1;
            for (k, &c) in motif.iter().enumerate() {
                let (p, b) = if reverse {
                    (at + motif.len() - 1 - k, 3 - code(c))
                } else {
                    (at + k, code(c))
                };
                bases[p] = b;
                for x in 0..4 {
                    hyp[(s * len + p) * 4 + x] = if x == b { 0.5 } else { -0.1 };
                }
            }
            for (p, &b) in bases.iter().enumerate() {
                seq[(s * len + p) * 4 + b] = 1.0;
                for x in 0..4 {
                    hyp[(s * len + p) * 4 + x] += 0.01 * rng::normal(&mut r);
                }
            }
        }
        let tracks = Tracks::new(n, len, hyp, seq);
        let d = discover(&tracks, &Options::default()).unwrap();
        assert_eq!(
            d.motifs.len(),
            1,
            "{:?}",
            d.motifs.iter().map(|m| m.seqlets.len())
        );
        let m = &d.motifs[0];
        assert_eq!(m.sign, Sign::Positive);
        assert!(
            m.seqlets.len() >= 190,
            "{} of {} called",
            m.seqlets.len(),
            d.called.positive.len()
        );
        let cons = crate::interpret::motifs::consensus(&m.trimmed_pwm().probs);
        assert!(
            cons == "GATTACAGG" || cons == "CCTGTAATC",
            "{cons} ({:?})",
            m.trim
        );
        // Both strands were aligned into one motif.
        let rev = m.seqlets.iter().filter(|s| s.reverse).count();
        assert!(rev > 50 && rev < 150, "{rev}");
    }

    #[test]
    fn the_npz_layout_is_checked() {
        let a = ndarray::Array3::<f32>::zeros((2, 10, 4));
        let e = tracks_from_arrays(&a.view(), &a.view()).unwrap_err();
        assert!(e.to_string().contains("[N, length, 4]"), "{e}");
    }
}
