//! Variant effects: each VCF record's reference and alternative windows cut from an indexed
//! genome, scored through a [`Scorer`] (so strand and DeepBind window rules are `predict`'s),
//! one batch of records at a time; plus the TSV, skipped-list and annotated-VCF writers.
//!
//! The window rule ([`Placement`]): an `N`-bp window whose 0-based offset `(N - 1) / 2`
//! ([`crate::interval::centre_offset`]: the centre when `N` is odd, the left of the two middle
//! bases when it is even) holds genome position `POS + len(REF) / 2` (1-based, integer division;
//! for a SNV the variant itself): Selene's and ExPecto's centring, so a 1000-bp window holds a
//! SNV at offset 499 and a 101-bp window at offset 50. The reference window is the genome there.
//! The alternative window keeps the same left flank up to REF's first base, then ALT, then the
//! genome after REF for as many bases as make `N`: the right flank is trimmed by an insertion's
//! extra bases and extended into the genome by a deletion's missing ones (an ALT longer than the
//! rest of the window is cut at its end). Both windows are exactly `N` bp.
//!
//! Alleles that cannot be scored are listed with a [`SkipReason`], never dropped: an unknown
//! contig, a window past a contig end, REF longer than the window, a symbolic, `*` or breakend
//! ALT, or no ALT at all.

pub mod report;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::genome::Genome;
use crate::io::vcf::{AltKind, VcfHeader, VcfRecord, alt_kind};
use crate::score::{OutputKind, Scorer};

/// Where a variant's windows lie: window start in the genome and REF's offset in the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// 0-based genome position of the window's first base (negative: before the contig).
    pub start: i64,
    /// Offset of REF's first base in the window.
    pub ref_offset: usize,
    /// Window length.
    pub len: usize,
}

impl Placement {
    /// The windows of a variant with REF of `ref_len` bases at 1-based `pos`, for `len`-bp
    /// windows; `None` when REF does not fit in the window.
    ///
    /// ```
    /// use seqcnn::variants::Placement;
    /// // A SNV at POS 11 (0-based 10) in a 5-bp window: bases 8..13, the SNV at offset 2.
    /// let p = Placement::new(11, 1, 5).unwrap();
    /// assert_eq!((p.start, p.ref_offset), (8, 2));
    /// // Even windows: offset N/2 - 1, one more base on the right (Selene's rule).
    /// let e = Placement::new(11, 1, 4).unwrap();
    /// assert_eq!((e.start, e.ref_offset), (9, 1));
    /// assert_eq!(Placement::new(1_000_000, 1, 1000).unwrap().ref_offset, 499);
    /// // A 3-bp REF (deletion GTG>G): centred on its middle base.
    /// let d = Placement::new(11, 3, 5).unwrap();
    /// assert_eq!((d.start, d.ref_offset), (9, 1));
    /// assert!(Placement::new(11, 7, 5).is_none());
    /// ```
    pub fn new(pos: u64, ref_len: usize, len: usize) -> Option<Placement> {
        let half = crate::interval::centre_offset(len);
        let ref_offset = half.checked_sub(ref_len / 2)?;
        if ref_len == 0 || ref_offset + ref_len > len {
            return None;
        }
        let centre = pos as i64 - 1 + (ref_len / 2) as i64;
        Some(Placement {
            start: centre - half as i64,
            ref_offset,
            len,
        })
    }

    /// Genome bases, from [`start`](Self::start), that the alternative window of an ALT of
    /// `alt_len` bases needs: the window itself, or more for a deletion.
    pub fn span(&self, ref_len: usize, alt_len: usize) -> usize {
        let right = self.len - self.ref_offset - alt_len.min(self.len - self.ref_offset);
        self.len.max(self.ref_offset + ref_len + right)
    }

    /// The alternative window from the genome `stretch` starting at [`start`](Self::start):
    /// left flank, ALT, then the genome after REF up to the window length. `None` when the
    /// stretch is shorter than [`span`](Self::span) (the contig ends first).
    ///
    /// ```
    /// use seqcnn::variants::Placement;
    /// let genome = b"AACCGGTTAC";
    /// let p = Placement::new(3, 1, 5).unwrap(); // SNV at 0-based 2: window AACCG
    /// assert_eq!(p.start, 0);
    /// assert_eq!(p.alt_window(genome, 1, b"T").unwrap(), b"AATCG");
    /// assert_eq!(p.alt_window(genome, 1, b"CAA").unwrap(), b"AACAA"); // insertion: trimmed
    /// let d = Placement::new(3, 3, 5).unwrap(); // deletion CCG>C centred on 0-based 3
    /// assert_eq!((d.start, d.ref_offset), (1, 1));
    /// assert_eq!(d.alt_window(&genome[1..], 3, b"C").unwrap(), b"ACGTT"); // extended
    /// assert!(d.alt_window(&genome[1..6], 3, b"C").is_none());
    /// ```
    pub fn alt_window(&self, stretch: &[u8], ref_len: usize, alt: &[u8]) -> Option<Vec<u8>> {
        if stretch.len() < self.span(ref_len, alt.len()) {
            return None;
        }
        let room = self.len - self.ref_offset;
        let alt = &alt[..alt.len().min(room)];
        let after = self.ref_offset + ref_len;
        let mut w = Vec::with_capacity(self.len);
        w.extend_from_slice(&stretch[..self.ref_offset]);
        w.extend(alt.iter().map(u8::to_ascii_uppercase));
        w.extend_from_slice(&stretch[after..after + room - alt.len()]);
        Some(w)
    }
}

/// Why an allele was not scored (the `reason` column of the skipped list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// CHROM is not in the genome.
    UnknownContig,
    /// The window would reach past either end of the contig.
    NearContigEnd,
    /// REF is longer than the window.
    RefLongerThanWindow,
    /// A symbolic ALT such as `<DEL>`.
    SymbolicAlt,
    /// The `*` allele (a deletion elsewhere).
    StarAllele,
    /// A breakend ALT.
    Breakend,
    /// ALT is `.`: no alternative allele.
    NoAlt,
}

impl SkipReason {
    /// The code written in the `reason` column.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::UnknownContig => "unknown_contig",
            SkipReason::NearContigEnd => "near_contig_end",
            SkipReason::RefLongerThanWindow => "ref_longer_than_window",
            SkipReason::SymbolicAlt => "symbolic_alt",
            SkipReason::StarAllele => "star_allele",
            SkipReason::Breakend => "breakend",
            SkipReason::NoAlt => "no_alt",
        }
    }
}

/// One allele's scores per task: on the output scale (as `predict`, in `f64` so saturated
/// probabilities keep their digits; see [`crate::score::precise`]) and raw (as `predict --raw`).
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// shape: [tasks]
    pub scores: Vec<f64>,
    /// shape: [tasks]
    pub raw: Vec<f32>,
}

/// One ALT of a record and what became of it.
#[derive(Clone, Debug)]
pub struct AlleleEffect {
    /// The ALT as written (`.` for a record without ALT).
    pub alt: String,
    /// Its window's scores, or why it was not scored.
    pub outcome: std::result::Result<Scores, SkipReason>,
    /// The alternative window as scored (see [`Placement::alt_window`]), when it was cut.
    pub window: Option<Vec<u8>>,
}

/// A record with its reference scores and one [`AlleleEffect`] per ALT.
#[derive(Clone, Debug)]
pub struct RecordEffects {
    /// The record as read.
    pub record: VcfRecord,
    /// Whether REF equals the genome's bases (case aside); `None` when the genome could not
    /// be read there (unknown contig, REF past the contig end).
    pub ref_match: Option<bool>,
    /// The reference window and REF's offset in it, when the record has one.
    pub window: Option<(Vec<u8>, usize)>,
    /// The reference window's scores.
    pub reference: Option<Scores>,
    /// How the scores print.
    pub kind: OutputKind,
    /// One per ALT, in order (one `.` entry when ALT is `.`).
    pub alleles: Vec<AlleleEffect>,
}

impl RecordEffects {
    /// `alt - ref` and `alt_raw - ref_raw` per task for allele `i`, if it was scored.
    pub fn diffs(&self, i: usize) -> Option<(Vec<f64>, Vec<f32>)> {
        let r = self.reference.as_ref()?;
        let a = self.alleles.get(i)?.outcome.as_ref().ok()?;
        let d = a.scores.iter().zip(&r.scores).map(|(x, y)| x - y).collect();
        let l = a.raw.iter().zip(&r.raw).map(|(x, y)| x - y).collect();
        Some((d, l))
    }

    /// The scored alleles as TSV rows (see [`tsv_header`]).
    pub fn tsv_rows(&self) -> String {
        let mut s = String::new();
        let Some(r) = &self.reference else {
            return s;
        };
        for (i, a) in self.alleles.iter().enumerate() {
            let (Ok(scores), Some((diff, logit))) = (&a.outcome, self.diffs(i)) else {
                continue;
            };
            let _ = write!(
                s,
                "{}\t{}",
                self.allele_key(&a.alt),
                self.ref_match.unwrap_or(false)
            );
            for t in 0..r.scores.len() {
                let _ = write!(
                    s,
                    "\t{}\t{}\t{}\t{}",
                    self.kind.show(r.scores[t]),
                    self.kind.show(scores.scores[t]),
                    diff[t] as f32,
                    logit[t]
                );
            }
            s.push('\n');
        }
        s
    }

    /// The first columns of an allele's rows: `chrom pos id ref alt`.
    fn allele_key(&self, alt: &str) -> String {
        let rec = &self.record;
        format!(
            "{}\t{}\t{}\t{}\t{alt}",
            rec.chrom, rec.pos, rec.id, rec.reference
        )
    }

    /// The alleles not scored as rows `chrom pos id ref alt reason`.
    pub fn skipped_rows(&self) -> String {
        let mut s = String::new();
        for a in &self.alleles {
            if let Err(why) = a.outcome {
                let _ = writeln!(s, "{}\t{}", self.allele_key(&a.alt), why.as_str());
            }
        }
        s
    }
}

/// The TSV header: `chrom pos id ref alt ref_match`, then per task `TASK:ref TASK:alt TASK:diff
/// TASK:logit_diff`.
pub fn tsv_header(tasks: &[String]) -> String {
    let mut h = String::from("chrom\tpos\tid\tref\talt\tref_match");
    for t in tasks {
        for col in ["ref", "alt", "diff", "logit_diff"] {
            let _ = write!(h, "\t{t}:{col}");
        }
    }
    h
}

/// The header of the skipped list.
pub const SKIPPED_HEADER: &str = "chrom\tpos\tid\tref\talt\treason";

/// Counts over a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records read.
    pub records: u64,
    /// Alleles scored (TSV rows).
    pub scored: u64,
    /// Scored alleles whose REF disagrees with the genome.
    pub ref_mismatch: u64,
    /// Alleles not scored, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
}

impl Summary {
    /// Alleles not scored.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Counts one record's effects.
    pub fn add(&mut self, e: &RecordEffects) {
        self.records += 1;
        for a in &e.alleles {
            match a.outcome {
                Ok(_) => {
                    self.scored += 1;
                    if e.ref_match == Some(false) {
                        self.ref_mismatch += 1;
                    }
                }
                Err(why) => *self.skipped.entry(why).or_default() += 1,
            }
        }
    }
}

impl std::fmt::Display for Summary {
    /// `300 records: 298 alleles scored (1 with REF not matching the genome), 3 skipped
    /// (unknown_contig 2, symbolic_alt 1)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} record{}: {} allele{} scored",
            self.records,
            if self.records == 1 { "" } else { "s" },
            self.scored,
            if self.scored == 1 { "" } else { "s" }
        )?;
        if self.ref_mismatch > 0 {
            write!(
                f,
                " ({} with REF not matching the genome)",
                self.ref_mismatch
            )?;
        }
        write!(f, ", {} skipped", self.skipped_total())?;
        if !self.skipped.is_empty() {
            let parts: Vec<String> = self
                .skipped
                .iter()
                .map(|(k, n)| format!("{} {n}", k.as_str()))
                .collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// Scores VCF records against a genome with a model: windows per [`Placement`], through the
/// scorer.
pub struct VariantScorer<'a> {
    scorer: &'a Scorer<'a>,
    genome: &'a Genome,
    window: usize,
    strict: bool,
    vcf: PathBuf,
}

impl<'a> VariantScorer<'a> {
    /// `scorer` scores the windows; `window` is the window length (the model's input length, or
    /// the chosen one for models that take any length); `vcf` is the name errors give for the input. With `strict`, an
    /// unknown contig or a REF that disagrees with the genome is an error instead of a skipped
    /// or flagged row.
    pub fn new(
        scorer: &'a Scorer<'a>,
        genome: &'a Genome,
        window: usize,
        strict: bool,
        vcf: &Path,
    ) -> Result<Self> {
        if window == 0 {
            return Err(Error::Config("the window length must be positive".into()));
        }
        Ok(VariantScorer {
            scorer,
            genome,
            window,
            strict,
            vcf: vcf.to_path_buf(),
        })
    }

    /// Scores `records` `batch` at a time and hands each record's effects to `emit`, in input
    /// order. Stops at the first error (a malformed record, or under `strict` an unknown contig
    /// or REF mismatch).
    pub fn run(
        &self,
        records: impl IntoIterator<Item = Result<VcfRecord>>,
        batch: usize,
        mut emit: impl FnMut(RecordEffects) -> Result<()>,
    ) -> Result<Summary> {
        let mut summary = Summary::default();
        let mut pending: Vec<Prepared> = Vec::with_capacity(batch.max(1));
        let mut flush = |pending: &mut Vec<Prepared>, summary: &mut Summary| -> Result<()> {
            self.score(pending)?;
            for p in pending.drain(..) {
                summary.add(&p.effects);
                emit(p.effects)?;
            }
            Ok(())
        };
        for r in records {
            pending.push(self.prepare(r?)?);
            if pending.len() >= batch.max(1) {
                flush(&mut pending, &mut summary)?;
            }
        }
        flush(&mut pending, &mut summary)?;
        Ok(summary)
    }

    /// Cuts a record's windows: the reference window, and the window of each ALT that can be
    /// scored (its outcome `Ok` with empty scores until [`score`](Self::score) fills them).
    fn prepare(&self, record: VcfRecord) -> Result<Prepared> {
        let rec = &record;
        let kind = self.scorer.output_kind();
        let mut ref_match = None;
        let skip_all = |ref_match: Option<bool>, why: SkipReason| {
            let alts = if record.alts.is_empty() {
                vec![".".to_string()]
            } else {
                record.alts.clone()
            };
            let alleles = alts
                .into_iter()
                .map(|alt| AlleleEffect {
                    alt,
                    outcome: Err(why),
                    window: None,
                })
                .collect();
            Prepared {
                effects: RecordEffects {
                    record: record.clone(),
                    ref_match,
                    window: None,
                    reference: None,
                    kind,
                    alleles,
                },
            }
        };
        let contig_len = match self.genome.contig_len(&rec.chrom) {
            Ok(n) => n,
            Err(err) => {
                if self.strict {
                    return Err(Error::parse(
                        &self.vcf,
                        rec.line,
                        format!("{err} (under --strict every contig must be in the genome)"),
                    ));
                }
                return Ok(skip_all(None, SkipReason::UnknownContig));
            }
        };
        let ref_len = rec.reference.len();
        // REF against the genome, wherever it lies inside the contig.
        if rec.pos >= 1 && rec.pos - 1 + ref_len as u64 <= contig_len {
            let found = self
                .genome
                .fetch(&rec.chrom, rec.pos - 1, rec.pos - 1 + ref_len as u64)?;
            let matches = found.eq_ignore_ascii_case(rec.reference.as_bytes());
            if !matches && self.strict {
                return Err(Error::parse(
                    &self.vcf,
                    rec.line,
                    format!(
                        "REF does not match the genome at {}:{}: expected {} (the VCF's REF), found {} in {} (fix the VCF or use the genome it was called on; without --strict the row is flagged ref_match=false)",
                        rec.chrom,
                        rec.pos,
                        rec.reference.to_ascii_uppercase(),
                        String::from_utf8_lossy(&found),
                        self.genome.path().display()
                    ),
                ));
            }
            ref_match = Some(matches);
        }
        if rec.alts.is_empty() {
            return Ok(skip_all(ref_match, SkipReason::NoAlt));
        }
        let Some(place) = Placement::new(rec.pos, ref_len, self.window) else {
            return Ok(skip_all(ref_match, SkipReason::RefLongerThanWindow));
        };
        if place.start < 0 || place.start as u64 + self.window as u64 > contig_len {
            return Ok(skip_all(ref_match, SkipReason::NearContigEnd));
        }
        let start = place.start as u64;
        let span = rec
            .alts
            .iter()
            .filter(|a| alt_kind(a) == AltKind::Bases)
            .map(|a| place.span(ref_len, a.len()))
            .max()
            .unwrap_or(self.window) as u64;
        let end = (start + span).min(contig_len);
        let stretch = self.genome.fetch(&rec.chrom, start, end)?;
        let mut alleles = Vec::with_capacity(rec.alts.len());
        for alt in &rec.alts {
            let (outcome, window) = match alt_kind(alt) {
                AltKind::Symbolic => (Err(SkipReason::SymbolicAlt), None),
                AltKind::Overlap => (Err(SkipReason::StarAllele), None),
                AltKind::Breakend => (Err(SkipReason::Breakend), None),
                AltKind::Bases => match place.alt_window(&stretch, ref_len, alt.as_bytes()) {
                    Some(w) => {
                        let unscored = Scores {
                            scores: Vec::new(),
                            raw: Vec::new(),
                        };
                        (Ok(unscored), Some(w))
                    }
                    None => (Err(SkipReason::NearContigEnd), None),
                },
            };
            alleles.push(AlleleEffect {
                alt: alt.clone(),
                outcome,
                window,
            });
        }
        let window = Some((stretch[..self.window].to_vec(), place.ref_offset));
        Ok(Prepared {
            effects: RecordEffects {
                record,
                ref_match,
                window,
                reference: None,
                kind,
                alleles,
            },
        })
    }

    /// Scores every prepared window of `batch` in one pass of the scorer per scale.
    fn score(&self, batch: &mut [Prepared]) -> Result<()> {
        let mut refs: Vec<&[u8]> = Vec::new();
        for p in batch.iter() {
            if let Some((w, _)) = &p.effects.window {
                refs.push(w);
                refs.extend(p.effects.alleles.iter().filter_map(|a| a.window.as_deref()));
            }
        }
        if refs.is_empty() {
            return Ok(());
        }
        let scored = self.scorer.score_precise(&refs)?;
        let row = |i: usize| Scores {
            scores: scored.out.row(i).to_vec(),
            raw: scored.raw.row(i).to_vec(),
        };
        let mut i = 0;
        for p in batch.iter_mut() {
            let e = &mut p.effects;
            if e.window.is_none() {
                continue;
            }
            e.reference = Some(row(i));
            i += 1;
            for a in &mut e.alleles {
                if let Ok(s) = &mut a.outcome {
                    *s = row(i);
                    i += 1;
                }
            }
        }
        Ok(())
    }
}

/// A record waiting to be scored: its effects so far, with the windows of its scorable ALTs.
struct Prepared {
    effects: RecordEffects,
}

/// INFO keys for the annotated VCF: per task `SEQCNN_<TASK>_REF` (Number=1) and `_ALT`,
/// `_DIFF`, `_LOGIT_DIFF` (Number=A), the task name made a valid INFO ID (characters other than
/// letters, digits, `_` and `.` become `_`; a clash gets `_2`, `_3`...).
#[derive(Clone, Debug)]
pub struct InfoKeys {
    /// Per task: the sanitized name and the original one.
    tasks: Vec<(String, String)>,
}

/// The suffixes of the per-task INFO keys, their Number, and what they hold.
const INFO_FIELDS: [(&str, &str, &str); 4] = [
    ("REF", "1", "score of the reference window"),
    ("ALT", "A", "score of each ALT's window"),
    ("DIFF", "A", "ALT score minus REF score"),
    ("LOGIT_DIFF", "A", "ALT minus REF on raw scores (logits)"),
];

impl InfoKeys {
    /// Keys for these task names.
    ///
    /// ```
    /// let k = seqcnn::variants::InfoKeys::new(&["CTCF".into(), "DNase:HeLa-S3".into(), "DNase/HeLa_S3".into()]);
    /// assert_eq!(k.key(0, "DIFF"), "SEQCNN_CTCF_DIFF");
    /// assert_eq!(k.key(1, "DIFF"), "SEQCNN_DNase_HeLa_S3_DIFF");
    /// assert_eq!(k.key(2, "DIFF"), "SEQCNN_DNase_HeLa_S3_2_DIFF");
    /// ```
    pub fn new(tasks: &[String]) -> InfoKeys {
        let mut seen = HashSet::new();
        let tasks = tasks
            .iter()
            .map(|t| {
                let base: String = t
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let mut name = base.clone();
                let mut n = 1;
                while !seen.insert(name.clone()) {
                    n += 1;
                    name = format!("{base}_{n}");
                }
                (name, t.clone())
            })
            .collect();
        InfoKeys { tasks }
    }

    /// The INFO key of task `t` for a field suffix (`REF`, `ALT`, `DIFF`, `LOGIT_DIFF`).
    pub fn key(&self, t: usize, field: &str) -> String {
        format!("SEQCNN_{}_{field}", self.tasks[t].0)
    }

    fn all_keys(&self) -> HashSet<String> {
        (0..self.tasks.len())
            .flat_map(|t| INFO_FIELDS.iter().map(move |f| self.key(t, f.0)))
            .collect()
    }

    /// The input's header with `##INFO` lines for every key (replacing lines that already
    /// declare one of them) and a `##seqcnn_variants` line saying how the values were made,
    /// before the `#CHROM` line; every other header line kept as it was.
    pub fn header(&self, input: &VcfHeader, provenance: &str) -> String {
        let keys = self.all_keys();
        let mut s = String::new();
        for line in &input.meta {
            let declared = line
                .strip_prefix("##INFO=<ID=")
                .and_then(|rest| rest.split([',', '>']).next());
            if declared.is_some_and(|id| keys.contains(id))
                || line.starts_with("##seqcnn_variants=")
            {
                continue;
            }
            s.push_str(line);
            s.push('\n');
        }
        for (t, (_, task)) in self.tasks.iter().enumerate() {
            for (field, number, what) in INFO_FIELDS {
                let task = task.replace(['"', '\\'], "_");
                let _ = writeln!(
                    s,
                    "##INFO=<ID={},Number={number},Type=Float,Description=\"seqcnn variants: {what}, task {task}\">",
                    self.key(t, field)
                );
            }
        }
        let _ = writeln!(s, "##seqcnn_variants={provenance}");
        s.push_str(&input.columns);
        s.push('\n');
        s
    }

    /// The record as a VCF line (with line end) carrying the keys in its INFO column: `.` for an
    /// ALT that was not scored; no keys when nothing was scored. Keys of the same names already
    /// in INFO are replaced.
    pub fn annotate(&self, e: &RecordEffects) -> String {
        let keys = self.all_keys();
        let kept: Vec<&str> = e
            .record
            .info
            .split(';')
            .filter(|f| {
                let key = f.split('=').next().unwrap_or("");
                !f.is_empty() && *f != "." && !keys.contains(key)
            })
            .collect();
        let mut info = kept.join(";");
        if let Some(r) = &e.reference
            && e.alleles.iter().any(|a| a.outcome.is_ok())
        {
            let diffs: Vec<Option<(Vec<f64>, Vec<f32>)>> =
                (0..e.alleles.len()).map(|i| e.diffs(i)).collect();
            let list = |f: &dyn Fn(usize) -> Option<String>| -> String {
                (0..e.alleles.len())
                    .map(|i| f(i).unwrap_or_else(|| ".".to_string()))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let show = |v: f64| e.kind.show(v).to_string();
            for t in 0..self.tasks.len() {
                let alt = list(&|i| {
                    let s = e.alleles[i].outcome.as_ref().ok()?;
                    Some(show(s.scores[t]))
                });
                let diff = list(&|i| Some((diffs[i].as_ref()?.0[t] as f32).to_string()));
                let logit = list(&|i| Some(diffs[i].as_ref()?.1[t].to_string()));
                for (field, value) in [
                    ("REF", show(r.scores[t])),
                    ("ALT", alt),
                    ("DIFF", diff),
                    ("LOGIT_DIFF", logit),
                ] {
                    if !info.is_empty() {
                        info.push(';');
                    }
                    let _ = write!(info, "{}={value}", self.key(t, field));
                }
            }
        }
        if info.is_empty() {
            info.push('.');
        }
        let mut line = e.record.to_line(&info);
        line.push('\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_keep_both_windows_at_the_window_length() {
        let genome: Vec<u8> = b"ACGTTGCAAC".repeat(4);
        for len in [1, 2, 5, 6, 11] {
            for pos in 8..20u64 {
                for ref_len in 1..4 {
                    let Some(p) = Placement::new(pos, ref_len, len) else {
                        let half = crate::interval::centre_offset(len);
                        assert!(ref_len / 2 > half || ref_len > len, "{len} {ref_len}");
                        continue;
                    };
                    // REF's middle base sits at offset (len - 1) / 2.
                    assert_eq!(p.ref_offset + ref_len / 2, (len - 1) / 2);
                    assert_eq!(p.start + p.ref_offset as i64, pos as i64 - 1);
                    let stretch = &genome[p.start as usize..];
                    for alt in [&b"A"[..], b"AC", b"ACGTACG", b"ACGTACGTACGTACG"] {
                        let w = p.alt_window(stretch, ref_len, alt).unwrap();
                        assert_eq!(w.len(), len);
                        assert_eq!(&w[..p.ref_offset], &stretch[..p.ref_offset]);
                        let shown = alt.len().min(len - p.ref_offset);
                        assert_eq!(&w[p.ref_offset..p.ref_offset + shown], &alt[..shown]);
                        let after = p.ref_offset + ref_len;
                        assert_eq!(
                            &w[p.ref_offset + shown..],
                            &stretch[after..after + len - p.ref_offset - shown]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn summary_line() {
        let mut s = Summary {
            records: 3,
            scored: 2,
            ..Summary::default()
        };
        assert_eq!(s.to_string(), "3 records: 2 alleles scored, 0 skipped");
        s.skipped.insert(SkipReason::SymbolicAlt, 1);
        s.skipped.insert(SkipReason::UnknownContig, 2);
        s.ref_mismatch = 1;
        assert_eq!(
            s.to_string(),
            "3 records: 2 alleles scored (1 with REF not matching the genome), 3 skipped (unknown_contig 2, symbolic_alt 1)"
        );
    }

    #[test]
    fn annotation_replaces_old_keys_and_marks_unscored_alts() {
        let keys = InfoKeys::new(&["t".into()]);
        let record = VcfRecord {
            line: 3,
            chrom: "20".into(),
            pos: 5,
            id: ".".into(),
            reference: "A".into(),
            alts: vec!["G".into(), "<DEL>".into()],
            qual: ".".into(),
            filter: "PASS".into(),
            info: "DP=3;SEQCNN_t_DIFF=9".into(),
            samples: String::new(),
        };
        let s = |v: f32| Scores {
            scores: vec![v.into()],
            raw: vec![2.0 * v],
        };
        let e = RecordEffects {
            record,
            ref_match: Some(true),
            window: None,
            reference: Some(s(0.25)),
            kind: OutputKind::Probability,
            alleles: vec![
                AlleleEffect {
                    alt: "G".into(),
                    outcome: Ok(s(0.5)),
                    window: Some(b"G".to_vec()),
                },
                AlleleEffect {
                    alt: "<DEL>".into(),
                    outcome: Err(SkipReason::SymbolicAlt),
                    window: None,
                },
            ],
        };
        assert_eq!(
            keys.annotate(&e),
            "20\t5\t.\tA\tG,<DEL>\t.\tPASS\tDP=3;SEQCNN_t_REF=0.25;SEQCNN_t_ALT=0.5,.;SEQCNN_t_DIFF=0.25,.;SEQCNN_t_LOGIT_DIFF=0.5,.\n"
        );
        assert_eq!(e.skipped_rows(), "20\t5\t.\tA\t<DEL>\tsymbolic_alt\n");
        assert_eq!(e.tsv_rows(), "20\t5\t.\tA\tG\ttrue\t0.25\t0.5\t0.25\t0.5\n");
        // Saturated probabilities keep their distance from 1, and their difference its digits.
        let mut sat = e.clone();
        sat.reference.as_mut().unwrap().scores = vec![1.0 - 2.0e-9];
        if let Ok(a) = &mut sat.alleles[0].outcome {
            a.scores = vec![1.0 - 5.0e-12];
        }
        assert_eq!(
            sat.tsv_rows(),
            "20\t5\t.\tA\tG\ttrue\t0.999999998\t0.999999999995\t0.0000000019950002\t0.5\n"
        );
        let header = VcfHeader {
            meta: vec![
                "##fileformat=VCFv4.2".into(),
                "##INFO=<ID=SEQCNN_t_DIFF,Number=A,Type=Float,Description=\"old\">".into(),
                "##INFO=<ID=DP,Number=1,Type=Integer,Description=\"depth\">".into(),
            ],
            columns: "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO".into(),
        };
        let h = keys.header(&header, "model=m.safetensors");
        assert!(!h.contains("old"), "{h}");
        assert!(h.contains("##INFO=<ID=DP,"), "{h}");
        assert_eq!(h.matches("##INFO=<ID=SEQCNN_t_").count(), 4, "{h}");
        assert!(h.ends_with(
            "##seqcnn_variants=model=m.safetensors\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        ));
    }
}
