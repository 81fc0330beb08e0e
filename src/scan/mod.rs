//! Motif scanning as FIMO does it (Grant, Bailey & Noble 2011, MEME suite 5): every window of
//! every sequence scored on both strands with a motif's log-odds matrix, an exact p-value for each
//! score from the score's distribution under the background ([`pssm`]), q-values by
//! Benjamini-Hochberg over all tested windows, and FIMO's output columns.
//!
//! What is FIMO's, step by step (the `fimo` program of MEME 5.5, checked against pymemesuite's
//! bindings to its C sources by `tests/integration/scan.rs`):
//! - the background: [`BackgroundSource`] (FIMO's `--bfile`), averaged with its reverse
//!   complement (A with T, C with G) when both strands are scanned, as FIMO reads motifs;
//! - pseudocounts ([`pseudocounted`], FIMO's `--motif-pseudo`, default 0.1): `p' = (p n + c b) /
//!   (n + c)` with `n` the motif's `nsites` cut to an integer (20 when the file gives none);
//! - the reverse strand is scored with the reverse-complement motif's own matrix and table, and a
//!   window holding any letter other than A, C, G, T (either case; U reads as T) is not scored on
//!   either strand and not counted;
//! - a hit is a window with p-value <= the threshold; `start`/`stop` are 1-based within the
//!   sequence, `start < stop` on both strands, and the matched sequence of a `-` hit is the
//!   reverse complement of the window in upper case (MEME's complement), a `+` hit's the window as
//!   the input writes it;
//! - q-values ([`qvalues`]): for a motif's hits sorted by p-value, `q_i = min over j >= i of
//!   p_j N / j` with `N` the windows scored for that motif on both strands, capped at 1.
//!
//! Where this differs from `fimo`, on purpose: FIMO multiplies its q-values by an estimate of
//! pi0 (Storey's bootstrap over a random sample of 10,000 of the p-values), so its q-values vary
//! from run to run and are at most ours; we use pi0 = 1 (plain Benjamini-Hochberg, reproducible).
//! FIMO keeps at most 100,000 hits per motif (`--max-stored-scores`, dropping the least
//! significant); we keep every hit under the threshold.

pub mod pssm;

use crate::error::{Error, Result};
use crate::io::meme::{MemeFile, Motif};
use pssm::Pssm;
use rayon::prelude::*;

/// Where the background letter frequencies come from (FIMO's `--bfile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackgroundSource {
    /// The motif file's `Background letter frequencies` (uniform when it has none): `fimo --bfile
    /// --motif--`.
    #[default]
    Motif,
    /// A, C, G, T at 0.25: `fimo --bfile --uniform--`.
    Uniform,
    /// MEME's non-redundant-database DNA frequencies, FIMO's own default for DNA: `fimo --bfile
    /// --nrdb--`.
    Nrdb,
}

/// MEME's NRDB DNA letter frequencies as its motif reader holds them, A, C, G, T.
pub const NRDB: [f64; 4] = [
    0.2817739364521271,
    0.22202005595988805,
    0.22887604224791547,
    0.2673299653400693,
];

/// Settings of a scan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanOptions {
    /// A window is a hit when its p-value is at most this (FIMO's `--thresh`, default 1e-4).
    pub threshold: f64,
    /// Scan the reverse strand too (FIMO's default; `--norc` turns it off).
    pub both_strands: bool,
    /// Pseudocount added to each motif position (FIMO's `--motif-pseudo`, default 0.1).
    pub pseudocount: f64,
    /// Background letter frequencies.
    pub background: BackgroundSource,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            threshold: 1e-4,
            both_strands: true,
            pseudocount: 0.1,
            background: BackgroundSource::Motif,
        }
    }
}

/// The background a scan uses: from `source`, averaged with its complement when `both_strands`.
///
/// ```
/// use seqcnn::io::meme::MemeFile;
/// use seqcnn::scan::{background, BackgroundSource};
/// let mut f = MemeFile::new(vec![]);
/// f.background = [0.375, 0.25, 0.0625, 0.3125];
/// assert_eq!(background(&f, BackgroundSource::Motif, false), f.background);
/// assert_eq!(background(&f, BackgroundSource::Motif, true), [0.34375, 0.15625, 0.15625, 0.34375]);
/// assert_eq!(background(&f, BackgroundSource::Uniform, true), [0.25; 4]);
/// ```
pub fn background(file: &MemeFile, source: BackgroundSource, both_strands: bool) -> [f64; 4] {
    let bg = match source {
        BackgroundSource::Motif => file.background,
        BackgroundSource::Uniform => [0.25; 4],
        BackgroundSource::Nrdb => NRDB,
    };
    let sum: f64 = bg.iter().sum();
    let bg = bg.map(|b| b / sum);
    if !both_strands {
        return bg;
    }
    let at = (bg[0] + bg[3]) / 2.0;
    let cg = (bg[1] + bg[2]) / 2.0;
    let sum = at + cg + cg + at;
    [at / sum, cg / sum, cg / sum, at / sum]
}

/// A motif's letter frequencies with FIMO's pseudocount: `(p n + c b) / (n + c)`, `n` the
/// integer part of `nsites` (20 when absent or 0), `c` the pseudocount, `b` the background.
///
/// ```
/// use seqcnn::io::meme::Motif;
/// let mut m = Motif::new("m", vec![[1.0, 0.0, 0.0, 0.0]]);
/// m.nsites = Some(9.9); // read as 9 sites
/// let f = seqcnn::scan::pseudocounted(&m, [0.25; 4], 1.0);
/// assert_eq!(f[0], [9.25 / 10.0, 0.025, 0.025, 0.025]);
/// ```
pub fn pseudocounted(motif: &Motif, bg: [f64; 4], pseudocount: f64) -> Vec<[f64; 4]> {
    if pseudocount == 0.0 {
        return motif.probs.clone();
    }
    let n = match motif.nsites {
        Some(n) if n.trunc() > 0.0 => n.trunc(),
        _ => 20.0,
    };
    let total = n + pseudocount;
    motif
        .probs
        .iter()
        .map(|row| std::array::from_fn(|a| (row[a] * n + pseudocount * bg[a]) / total))
        .collect()
}

/// Letter codes of a sequence for scanning: A, C, G, T (either case; U as T) are 0 to 3, anything
/// else 4 (a window holding one is not scored).
///
/// ```
/// assert_eq!(seqcnn::scan::codes(b"ACgtuNR-"), vec![0, 1, 2, 3, 3, 4, 4, 4]);
/// ```
pub fn codes(seq: &[u8]) -> Vec<u8> {
    seq.iter().map(|&b| CODE[b as usize]).collect()
}

const CODE: [u8; 256] = {
    let mut t = [4u8; 256];
    t[b'A' as usize] = 0;
    t[b'a' as usize] = 0;
    t[b'C' as usize] = 1;
    t[b'c' as usize] = 1;
    t[b'G' as usize] = 2;
    t[b'g' as usize] = 2;
    t[b'T' as usize] = 3;
    t[b't' as usize] = 3;
    t[b'U' as usize] = 3;
    t[b'u' as usize] = 3;
    t
};

/// Reverse complement in upper case, as MEME's `invcomp_seq` writes a `-` hit (the letters of a
/// scored window are A, C, G, T or U in either case).
fn reverse_complement(window: &[u8]) -> Vec<u8> {
    window
        .iter()
        .rev()
        .map(|&b| match b.to_ascii_uppercase() {
            b'A' => b'T',
            b'C' => b'G',
            b'G' => b'C',
            b'T' | b'U' => b'A',
            other => other,
        })
        .collect()
}

/// One motif ready to scan: its matrices for both strands and the score a hit needs.
#[derive(Debug, Clone)]
pub struct MotifScanner {
    /// The motif's identifier (`motif_id`).
    pub id: String,
    /// The motif's alternate name (`motif_alt_id`; empty when the file gives none).
    pub alt: String,
    /// The forward-strand matrix.
    pub forward: Pssm,
    /// The reverse-complement motif's matrix, when both strands are scanned.
    pub reverse: Option<Pssm>,
    /// Smallest scaled score of a hit per strand (`None`: no score is under the threshold).
    min_scaled: [Option<u32>; 2],
}

impl MotifScanner {
    /// Builds the scanner of `motif` against background `bg` (see [`background`]).
    pub fn new(motif: &Motif, bg: [f64; 4], options: &ScanOptions) -> Result<MotifScanner> {
        let freqs = pseudocounted(motif, bg, options.pseudocount);
        let forward = Pssm::new(&freqs, bg).map_err(|e| named(motif, e))?;
        let reverse = if options.both_strands {
            // The reverse-complement motif's frequencies, as FIMO builds its second matrix.
            let rc: Vec<[f64; 4]> = freqs
                .iter()
                .rev()
                .map(|r| [r[3], r[2], r[1], r[0]])
                .collect();
            Some(Pssm::new(&rc, bg).map_err(|e| named(motif, e))?)
        } else {
            None
        };
        let min_scaled = [
            forward.min_scaled(options.threshold),
            reverse
                .as_ref()
                .and_then(|r| r.min_scaled(options.threshold)),
        ];
        Ok(MotifScanner {
            id: motif.id.clone(),
            alt: motif.name.clone().unwrap_or_default(),
            forward,
            reverse,
            min_scaled,
        })
    }

    /// Number of positions.
    pub fn width(&self) -> usize {
        self.forward.width()
    }

    /// Scores windows starting at `windows` (0-based) of a sequence (`text`, with `codes` from
    /// [`codes`]); pushes the hits onto `out` with `seq` as their sequence index and returns the
    /// number of tests made (scored windows times strands).
    pub fn scan(
        &self,
        seq: u32,
        text: &[u8],
        codes: &[u8],
        windows: std::ops::Range<usize>,
        motif: u32,
        out: &mut Vec<Hit>,
    ) -> u64 {
        let w = self.width();
        if codes.len() < w || windows.is_empty() {
            return 0;
        }
        let last = codes.len() - w;
        let (from, to) = (windows.start.min(last + 1), windows.end.min(last + 1));
        let strands: Vec<(&Pssm, Option<u32>, bool)> =
            std::iter::once((&self.forward, self.min_scaled[0], false))
                .chain(self.reverse.as_ref().map(|r| (r, self.min_scaled[1], true)))
                .collect();
        // Letters other than A, C, G, T inside the current window.
        let mut bad = codes[from..(from + w).min(codes.len())]
            .iter()
            .filter(|&&c| c > 3)
            .count();
        let mut tests = 0u64;
        for off in from..to {
            if off > from {
                bad -= usize::from(codes[off - 1] > 3);
                bad += usize::from(codes[off + w - 1] > 3);
            }
            if bad > 0 {
                continue;
            }
            let window = &codes[off..off + w];
            for &(pssm, min, reverse) in &strands {
                tests += 1;
                let Some(min) = min else { continue };
                let scaled: u32 = pssm
                    .scaled
                    .iter()
                    .zip(window)
                    .map(|(row, &c)| row[usize::from(c & 3)])
                    .sum();
                if scaled < min {
                    continue;
                }
                let letters = &text[off..off + w];
                out.push(Hit {
                    motif,
                    seq,
                    start: off as u64,
                    reverse,
                    score: pssm.score(scaled),
                    pvalue: pssm.pvalue(scaled),
                    qvalue: f64::NAN,
                    matched: if reverse {
                        reverse_complement(letters)
                    } else {
                        letters.to_vec()
                    },
                });
            }
        }
        tests
    }
}

/// An error about `motif`, naming it.
fn named(motif: &Motif, e: Error) -> Error {
    Error::Config(format!("motif '{}': {e}", motif.id))
}

/// One window at or under the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Index of the motif among the scanned ones.
    pub motif: u32,
    /// Index of the sequence in input order.
    pub seq: u32,
    /// 0-based start of the window in the sequence.
    pub start: u64,
    /// On the reverse strand (`-`).
    pub reverse: bool,
    /// Log-odds score in bits (10 significant digits, as FIMO).
    pub score: f64,
    /// p-value (10 significant digits, as FIMO).
    pub pvalue: f64,
    /// q-value, once [`Scan::finish`] has computed it.
    pub qvalue: f64,
    /// The window's letters as in the input; for `-`, reverse-complemented in upper case.
    pub matched: Vec<u8>,
}

/// Benjamini-Hochberg q-values of `pvalues` (sorted ascending) out of `tests` tests, as FIMO's
/// `compute_qvalues` with pi0 = 1: `min(1, p_i N / i)` for 1-based rank `i`, made monotone from
/// the largest p-value down. `N` and `i` pass through single precision as in FIMO (exact below
/// 2^24 tests).
///
/// ```
/// let q = seqcnn::scan::qvalues(&[0.001, 0.001, 0.01, 0.5], 100);
/// assert_eq!(q, vec![0.05, 0.05, 1.0 / 3.0, 1.0]);
/// ```
pub fn qvalues(pvalues: &[f64], tests: u64) -> Vec<f64> {
    let n = (tests as f32) as f64;
    let mut q: Vec<f64> = pvalues
        .iter()
        .enumerate()
        .map(|(i, &p)| (p * n / (((i + 1) as f32) as f64)).min(1.0))
        .collect();
    for i in (0..q.len().saturating_sub(1)).rev() {
        if q[i + 1] < q[i] {
            q[i] = q[i + 1];
        }
    }
    q
}

/// Windows one task scans: one motif over many short sequences, or over a slice of a long one
/// (the slices of a long sequence are scanned in parallel).
const SLICE: usize = 1 << 20;

/// Part of a task: a sequence of the batch (its index) and the windows to scan in it.
type Piece = (usize, std::ops::Range<usize>);

/// A scan in progress: motifs ready, hits gathered so far, tests counted per motif.
pub struct Scan {
    motifs: Vec<MotifScanner>,
    hits: Vec<Vec<Hit>>,
    tests: Vec<u64>,
}

impl Scan {
    /// A scan of `motifs` (picked from `file`) with `options`.
    pub fn new(file: &MemeFile, motifs: &[&Motif], options: &ScanOptions) -> Result<Scan> {
        if !(options.threshold > 0.0 && options.threshold <= 1.0) {
            return Err(Error::Config(format!(
                "--thresh {}: a p-value threshold must be above 0 and at most 1",
                options.threshold
            )));
        }
        if !(options.pseudocount.is_finite() && options.pseudocount >= 0.0) {
            return Err(Error::Config(format!(
                "--motif-pseudo {}: a pseudocount must be a number of at least 0",
                options.pseudocount
            )));
        }
        let bg = background(file, options.background, options.both_strands);
        let motifs = motifs
            .iter()
            .map(|m| MotifScanner::new(m, bg, options))
            .collect::<Result<Vec<_>>>()?;
        Ok(Scan {
            hits: vec![Vec::new(); motifs.len()],
            tests: vec![0; motifs.len()],
            motifs,
        })
    }

    /// The motifs, in scan order.
    pub fn motifs(&self) -> &[MotifScanner] {
        &self.motifs
    }

    /// Tests made so far per motif (scored windows times strands).
    pub fn tests(&self) -> &[u64] {
        &self.tests
    }

    /// Scans a batch of sequences, `(sequence index, letters)`, every motif on the rayon pool.
    pub fn add(&mut self, batch: &[(u32, &[u8])]) {
        let encoded: Vec<Vec<u8>> = batch.par_iter().map(|(_, s)| codes(s)).collect();
        // Tasks of about SLICE windows each: a motif and pieces (sequence in batch, windows), so
        // that many short sequences make one task and a long one several.
        let mut tasks: Vec<(usize, Vec<Piece>)> = Vec::new();
        for (m, scanner) in self.motifs.iter().enumerate() {
            let w = scanner.width();
            let mut pieces = Vec::new();
            let mut held = 0;
            for (b, c) in encoded.iter().enumerate() {
                if c.len() < w {
                    continue;
                }
                let n = c.len() - w + 1;
                let mut from = 0;
                while from < n {
                    let to = (from + SLICE - held).min(n);
                    pieces.push((b, from..to));
                    held += to - from;
                    from = to;
                    if held >= SLICE {
                        tasks.push((m, std::mem::take(&mut pieces)));
                        held = 0;
                    }
                }
            }
            if !pieces.is_empty() {
                tasks.push((m, pieces));
            }
        }
        let results: Vec<(usize, Vec<Hit>, u64)> = tasks
            .into_par_iter()
            .map(|(m, pieces)| {
                let mut hits = Vec::new();
                let mut tests = 0;
                for (b, windows) in pieces {
                    let (seq, text) = batch[b];
                    tests +=
                        self.motifs[m].scan(seq, text, &encoded[b], windows, m as u32, &mut hits);
                }
                (m, hits, tests)
            })
            .collect();
        for (m, hits, tests) in results {
            self.hits[m].extend(hits);
            self.tests[m] += tests;
        }
    }

    /// The q-values, and every hit sorted as FIMO's output: by p-value, then motif, sequence,
    /// start and strand (`+` first).
    pub fn finish(self) -> Vec<Hit> {
        let mut all = Vec::new();
        for (mut hits, tests) in self.hits.into_iter().zip(self.tests) {
            hits.sort_by(order);
            let p: Vec<f64> = hits.iter().map(|h| h.pvalue).collect();
            for (h, q) in hits.iter_mut().zip(qvalues(&p, tests)) {
                h.qvalue = q;
            }
            all.extend(hits);
        }
        all.sort_by(order);
        all
    }
}

fn order(a: &Hit, b: &Hit) -> std::cmp::Ordering {
    a.pvalue
        .total_cmp(&b.pvalue)
        .then(a.motif.cmp(&b.motif))
        .then(a.seq.cmp(&b.seq))
        .then(a.start.cmp(&b.start))
        .then(a.reverse.cmp(&b.reverse))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctcf_like() -> Motif {
        let mut m = Motif::new(
            "m",
            b"GCCAGCAGAGGGCGC"
                .iter()
                .map(|&b| {
                    let mut r = [0.02; 4];
                    r[usize::from(CODE[b as usize])] = 0.94;
                    r
                })
                .collect(),
        );
        m.nsites = Some(100.0);
        m
    }

    fn scan(seqs: &[&[u8]], options: ScanOptions) -> (Vec<Hit>, u64) {
        let m = ctcf_like();
        let file = MemeFile::new(vec![m.clone()]);
        let mut s = Scan::new(&file, &[&m], &options).unwrap();
        let batch: Vec<(u32, &[u8])> = seqs
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u32, *s))
            .collect();
        s.add(&batch);
        let tests = s.tests()[0];
        (s.finish(), tests)
    }

    #[test]
    fn finds_both_strands_at_the_ends_and_skips_windows_with_n() {
        let site = b"GCCAGCAGAGGGCGC";
        let rc = reverse_complement(site);
        let mut seq = site.to_vec();
        seq.extend_from_slice(b"ATATATATAT");
        seq.extend_from_slice(&rc);
        let (hits, tests) = scan(&[&seq, site, b"GCCAGCANAGGGCGC"], ScanOptions::default());
        // 40 letters: 26 windows on each strand; the exact site: 1 window on each; with N: none.
        assert_eq!(tests, 2 * 26 + 2);
        let found: Vec<(u32, u64, bool, &[u8])> = hits
            .iter()
            .map(|h| (h.seq, h.start, h.reverse, h.matched.as_slice()))
            .collect();
        assert!(found.contains(&(0, 0, false, &site[..])), "{found:?}");
        // The last window of the sequence, read on the reverse strand, is the site again.
        assert!(found.contains(&(0, 25, true, &site[..])), "{found:?}");
        assert!(found.contains(&(1, 0, false, &site[..])), "{found:?}");
        assert!(found.iter().all(|f| f.0 != 2));
        // The three best hits tie: same score, same p-value, same q-value.
        assert_eq!(hits[0].pvalue, hits[2].pvalue);
        assert_eq!(hits[0].qvalue, hits[2].qvalue);
        assert!(hits.windows(2).all(|h| h[0].pvalue <= h[1].pvalue));
    }

    #[test]
    fn norc_scans_the_forward_strand_only_and_case_follows_fimo() {
        let options = ScanOptions {
            both_strands: false,
            ..ScanOptions::default()
        };
        let (hits, tests) = scan(&[b"ttgccagcagagggcgctt"], options);
        assert_eq!(tests, 5);
        assert_eq!(hits.len(), 1);
        assert_eq!((hits[0].start, hits[0].reverse), (2, false));
        assert_eq!(hits[0].matched, b"gccagcagagggcgc");
        // On the reverse strand FIMO writes the matched letters in upper case.
        let (hits, _) = scan(&[b"ttgcgccctctgctggctt"], ScanOptions::default());
        assert_eq!((hits[0].start, hits[0].reverse), (2, true));
        assert_eq!(hits[0].matched, b"GCCAGCAGAGGGCGC");
    }

    #[test]
    fn slices_of_a_long_sequence_give_the_hits_of_one_pass() {
        let mut rng = crate::rng::seeded(3);
        let mut seq: Vec<u8> = (0..SLICE + 5000)
            .map(|_| b"ACGT"[crate::rng::below(&mut rng, 4)])
            .collect();
        for at in [10, SLICE - 7, SLICE + 100] {
            seq[at..at + 15].copy_from_slice(b"GCCAGCAGAGGGCGC");
        }
        let (hits, tests) = scan(&[&seq], ScanOptions::default());
        assert_eq!(tests, 2 * (seq.len() as u64 - 14));
        let m = ctcf_like();
        let one = MotifScanner::new(&m, [0.25; 4], &ScanOptions::default()).unwrap();
        let mut direct = Vec::new();
        let t = one.scan(0, &seq, &codes(&seq), 0..seq.len(), 0, &mut direct);
        assert_eq!(t, tests);
        direct.sort_by(order);
        let strip = |h: &[Hit]| -> Vec<(u64, bool, f64)> {
            h.iter().map(|h| (h.start, h.reverse, h.pvalue)).collect()
        };
        assert_eq!(strip(&hits), strip(&direct));
        for at in [10, SLICE - 7, SLICE + 100] {
            assert!(hits.iter().any(|h| h.start == at as u64 && !h.reverse));
        }
    }

    #[test]
    fn qvalues_follow_benjamini_hochberg() {
        assert_eq!(qvalues(&[], 10), Vec::<f64>::new());
        assert_eq!(qvalues(&[0.2], 10), vec![1.0]);
        // Monotone from the top: the second p-value's q (0.1875 * 4 / 2) bounds the first's 0.5.
        assert_eq!(qvalues(&[0.125, 0.1875, 0.375], 4), vec![0.375, 0.375, 0.5]);
    }
}
