//! DeepSEA-style genome tiling: bins (default 200 bp) with context windows (default 1000 bp)
//! centred on them, per-task coverage and 0/1 labels from merged target intervals, streamed bin by
//! bin so memory does not grow with the genome; plus [`IntervalSet`], sorted merged intervals per
//! contig with fast coverage queries.
//!
//! Bins are laid from each region's start: `start, start + bin, ...`, and only whole bins are
//! made (a shorter remainder at a region's end is dropped). A bin's window is centred on the bin
//! (for 200 / 1000: from 400 bp before the bin to 400 bp after it); positions outside the contig
//! read as `N`.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::interval::Interval;
use crate::io::bed::BedRecord;
use crate::io::genome::Genome;

/// Bins fetched in one read of the genome.
const CHUNK_BINS: u64 = 512;

/// Why a genome window is not scored: the one rule for windows of BED intervals (and, for the
/// `N` share, of tiled bins). Displayed as the code of a skipped list's `reason` column
/// (`near_contig_end`, as `variants` writes it, or `mostly_n`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowSkip {
    /// The window starts before the contig or ends past its end (it would be padded with `N`).
    NearContigEnd,
    /// More than the allowed share of the window is `N` (any base but A, C, G, T).
    MostlyN(f64),
}

impl std::fmt::Display for WindowSkip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WindowSkip::NearContigEnd => write!(f, "near_contig_end"),
            WindowSkip::MostlyN(_) => write!(f, "mostly_n"),
        }
    }
}

/// The number of bases of `seq` other than A, C, G, T (upper case, as the genome reader gives
/// them): `N`, other IUPAC codes and padding past a contig's ends.
pub fn n_count(seq: &[u8]) -> usize {
    seq.iter()
        .filter(|&&c| !matches!(c, b'A' | b'C' | b'G' | b'T'))
        .count()
}

/// Whether the window `start..end` of a contig of `contig_len` bp, read as `seq`, is scored:
/// not if it runs past either end of the contig, nor if more than `max_n` of it is `N`.
///
/// ```
/// use seqcnn::data::tiling::{WindowSkip, check_window};
/// assert_eq!(check_window(b"ACGT", 0, 4, 10, 0.5), Ok(()));
/// assert_eq!(check_window(b"NNAC", -2, 2, 10, 0.5), Err(WindowSkip::NearContigEnd));
/// assert_eq!(check_window(b"ANNN", 6, 10, 10, 0.5), Err(WindowSkip::MostlyN(0.75)));
/// ```
pub fn check_window(
    seq: &[u8],
    start: i64,
    end: i64,
    contig_len: u64,
    max_n: f64,
) -> std::result::Result<(), WindowSkip> {
    if start < 0 || end > contig_len as i64 {
        return Err(WindowSkip::NearContigEnd);
    }
    let n = n_count(seq);
    if n as f64 > max_n * seq.len() as f64 {
        return Err(WindowSkip::MostlyN(n as f64 / seq.len().max(1) as f64));
    }
    Ok(())
}

/// Sorted, merged (overlapping or touching intervals joined) 0-based half-open intervals per
/// contig, for coverage queries in `O(log n + k)`.
///
/// ```
/// use seqcnn::data::tiling::IntervalSet;
/// let set = IntervalSet::from_ranges([("20", 10, 20), ("20", 15, 30), ("20", 50, 60), ("21", 0, 5)]);
/// assert_eq!(set.ranges("20"), [(10, 30), (50, 60)]);
/// assert_eq!(set.covered("20", 0, 100), 30);
/// assert_eq!(set.covered("20", 25, 55), 10);
/// assert_eq!(set.covered("22", 0, 100), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntervalSet {
    by_contig: HashMap<String, Vec<(u64, u64)>>,
}

impl IntervalSet {
    /// Builds the set from `(contig, start, end)` ranges in any order; empty ranges are dropped.
    pub fn from_ranges<S: AsRef<str>>(ranges: impl IntoIterator<Item = (S, u64, u64)>) -> Self {
        let mut by_contig: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
        for (c, s, e) in ranges {
            if s < e {
                let c = c.as_ref();
                match by_contig.get_mut(c) {
                    Some(v) => v.push((s, e)),
                    None => {
                        by_contig.insert(c.to_string(), vec![(s, e)]);
                    }
                }
            }
        }
        for v in by_contig.values_mut() {
            v.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(v.len());
            for &(s, e) in v.iter() {
                match merged.last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            *v = merged;
        }
        IntervalSet { by_contig }
    }

    /// Builds the set from intervals or BED records (use [`crate::io::bed::read_bed_checked`]
    /// first so the contig names are the genome's).
    ///
    /// ```
    /// use seqcnn::{data::tiling::IntervalSet, io::bed::BedReader};
    /// let ivs: Vec<_> = BedReader::new(&b"20\t5\t10\n20\t0\t6\n"[..], "x.bed").collect::<Result<_, _>>().unwrap();
    /// assert_eq!(IntervalSet::from_intervals(&ivs).ranges("20"), [(0, 10)]);
    /// ```
    pub fn from_intervals<I: AsRef<Interval>>(intervals: &[I]) -> Self {
        Self::from_ranges(
            intervals
                .iter()
                .map(AsRef::as_ref)
                .map(|iv| (iv.contig.as_str(), iv.start, iv.end)),
        )
    }

    /// The merged ranges of one contig, sorted (empty for a contig with none).
    pub fn ranges(&self, contig: &str) -> &[(u64, u64)] {
        self.by_contig.get(contig).map_or(&[], Vec::as_slice)
    }

    /// The contigs that have ranges, in no particular order.
    pub fn contigs(&self) -> impl Iterator<Item = &str> {
        self.by_contig.keys().map(String::as_str)
    }

    /// Number of bases of `start..end` on `contig` covered by the set.
    pub fn covered(&self, contig: &str, start: u64, end: u64) -> u64 {
        let v = self.ranges(contig);
        let first = v.partition_point(|r| r.1 <= start);
        v[first..]
            .iter()
            .take_while(|r| r.0 < end)
            .map(|r| r.1.min(end) - r.0.max(start))
            .sum()
    }

    /// Total bases covered, over all contigs.
    pub fn total(&self) -> u64 {
        self.by_contig
            .values()
            .flat_map(|v| v.iter().map(|r| r.1 - r.0))
            .sum()
    }
}

/// The parts of `regions` that lie outside every one of `holes` (same contig names, as from
/// [`Genome::region`]), in the order of `regions`: what is left for training once validation and
/// test regions are held out. Pieces shorter than one bin make no tile, so they need no special
/// care.
///
/// ```
/// use seqcnn::interval::Interval;
/// use seqcnn::data::tiling::subtract;
/// let r = |c: &str, s, e| Interval { contig: c.to_string(), start: s, end: e };
/// let left = subtract(&[r("20", 0, 100), r("21", 0, 50)], &[r("20", 10, 20), r("20", 15, 30), r("21", 0, 50)]);
/// assert_eq!(left, [r("20", 0, 10), r("20", 30, 100)]);
/// ```
pub fn subtract(regions: &[Interval], holes: &[Interval]) -> Vec<Interval> {
    let cut = IntervalSet::from_intervals(holes);
    let mut out = Vec::new();
    for r in regions {
        let mut at = r.start;
        for &(s, e) in cut.ranges(&r.contig) {
            if e <= at || s >= r.end {
                continue;
            }
            if s > at {
                out.push(Interval {
                    contig: r.contig.clone(),
                    start: at,
                    end: s,
                });
            }
            at = at.max(e);
        }
        if at < r.end {
            out.push(Interval {
                contig: r.contig.clone(),
                start: at,
                end: r.end,
            });
        }
    }
    out
}

/// One prediction task: a name and its target intervals.
#[derive(Debug, Clone)]
pub struct Task {
    /// The task's name (a model output).
    pub name: String,
    /// Where the task is positive, with the genome's contig names.
    pub targets: IntervalSet,
}

impl Task {
    /// A task from BED records (after [`crate::io::bed::check_against`], so names match the
    /// genome).
    pub fn new(name: impl Into<String>, intervals: &[BedRecord]) -> Self {
        Task {
            name: name.into(),
            targets: IntervalSet::from_intervals(intervals),
        }
    }
}

/// How a genome is tiled.
#[derive(Debug, Clone, PartialEq)]
pub struct TileConfig {
    /// Bin size in bp: the stretch the labels describe.
    pub bin: u64,
    /// Context window in bp, centred on the bin: the model's input.
    pub window: u64,
    /// A bin is positive for a task when at least this fraction of it is covered.
    pub threshold: f64,
    /// Windows with more than this fraction of `N` (any base other than A, C, G, T, including
    /// padding past a contig's ends) are skipped.
    pub max_n: f64,
}

impl Default for TileConfig {
    /// DeepSEA's layout: 200 bp bins, 1000 bp windows, positive at >= 50% coverage; windows
    /// more than 10% `N` skipped (on chr20:50,000,001-63,025,520 of GRCh37 this keeps 64,318 of
    /// 65,127 bins, the test set of the issue's baselines).
    fn default() -> Self {
        TileConfig {
            bin: 200,
            window: 1000,
            threshold: 0.5,
            max_n: 0.1,
        }
    }
}

impl TileConfig {
    fn check(&self) -> Result<()> {
        if self.bin == 0 || self.window == 0 {
            return Err(Error::Config(format!(
                "bin ({}) and window ({}) must be at least 1 bp",
                self.bin, self.window
            )));
        }
        if !(0.0..=1.0).contains(&self.threshold) || !(0.0..=1.0).contains(&self.max_n) {
            return Err(Error::Config(format!(
                "threshold ({}) and max N fraction ({}) must be between 0 and 1",
                self.threshold, self.max_n
            )));
        }
        Ok(())
    }

    /// Where the window of the bin starting at `bin_start` starts (may be negative).
    pub fn window_start(&self, bin_start: u64) -> i64 {
        bin_start as i64 + (self.bin / 2) as i64 - (self.window / 2) as i64
    }
}

/// One bin with its window and per-task targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// The genome's name of the contig.
    pub contig: String,
    /// The bin, 0-based half-open.
    pub start: u64,
    /// One past the bin's last base.
    pub end: u64,
    /// Where the window starts (negative near a contig's start); it has `window` bases.
    pub window_start: i64,
    /// The window's bases, uppercase, `N` outside the contig.
    pub seq: Vec<u8>,
    /// Per task: the fraction of the bin covered by the task's intervals.
    pub coverage: Vec<f32>,
    /// Per task: 1 when `coverage >= threshold`, else 0.
    pub labels: Vec<f32>,
}

/// A streaming iterator of [`Tile`]s over regions of a genome: reads the genome in chunks of a few
/// hundred bins, so memory stays bounded whatever the genome's size. Windows with too many `N`
/// are skipped (counted in [`skipped`](Tiler::skipped)). After an error it yields nothing more.
///
/// ```
/// use seqcnn::data::tiling::{IntervalSet, Task, TileConfig, Tiler};
/// use seqcnn::io::genome;
/// let dir = tempfile::tempdir().unwrap();
/// let fa = dir.path().join("g.fa");
/// std::fs::write(&fa, format!(">20\n{}\n", "ACGT".repeat(10))).unwrap();
/// genome::index::write_index(&fa, false).unwrap();
/// let g = genome::Genome::open(&fa).unwrap();
/// let tasks = [Task { name: "peak".into(), targets: IntervalSet::from_ranges([("20", 12, 17)]) }];
/// let config = TileConfig { bin: 10, window: 20, max_n: 0.5, ..TileConfig::default() };
/// let tiles: Vec<_> = Tiler::whole_genome(&g, &tasks, config).unwrap().collect::<Result<_, _>>().unwrap();
/// assert_eq!(tiles.len(), 4);
/// assert_eq!((tiles[1].start, tiles[1].window_start, tiles[1].seq.len()), (10, 5, 20));
/// assert_eq!((tiles[1].coverage[0], tiles[1].labels[0]), (0.5, 1.0));
/// ```
pub struct Tiler<'a> {
    genome: &'a Genome,
    tasks: &'a [Task],
    config: TileConfig,
    regions: Vec<Interval>,
    /// Index of the region being tiled.
    region: usize,
    /// Start of the next bin to emit.
    next: u64,
    /// Sequence of the current chunk and where it starts.
    chunk: Vec<u8>,
    chunk_start: i64,
    /// Bins whose windows lie in the chunk: `chunk_bins.0 .. chunk_bins.1` (bin starts).
    chunk_bins: (u64, u64),
    skipped: u64,
    done: bool,
}

impl<'a> Tiler<'a> {
    /// Tiles `regions` (in order) of `genome` for `tasks`. The tasks' contig names must be the
    /// genome's (an interval set built from unresolved `chr20` against a genome saying `20` would
    /// silently give no positives, so it is an error here).
    pub fn new(
        genome: &'a Genome,
        regions: Vec<Interval>,
        tasks: &'a [Task],
        config: TileConfig,
    ) -> Result<Self> {
        config.check()?;
        for t in tasks {
            for c in t.targets.contigs() {
                let known = genome.resolve(c).ok();
                if known != Some(c) {
                    let hint = match known {
                        Some(k) => format!("the genome calls it '{k}'"),
                        None => "the genome has no such contig".to_string(),
                    };
                    return Err(Error::Config(format!(
                        "task '{}': contig '{c}' of its targets is not a contig name of {} \
                         ({hint}); check the intervals with bed::check_against first",
                        t.name,
                        genome.path().display()
                    )));
                }
            }
        }
        for r in &regions {
            let len = genome.contig_len(&r.contig)?;
            if genome.resolve(&r.contig)? != r.contig || r.start > r.end || r.end > len {
                return Err(Error::Config(format!(
                    "region {r} is not inside a contig of {}",
                    genome.path().display()
                )));
            }
        }
        let next = regions.first().map_or(0, |r| r.start);
        Ok(Tiler {
            genome,
            tasks,
            config,
            regions,
            region: 0,
            next,
            chunk: Vec::new(),
            chunk_start: 0,
            chunk_bins: (0, 0),
            skipped: 0,
            done: false,
        })
    }

    /// Tiles every contig of the genome, in file order.
    pub fn whole_genome(genome: &'a Genome, tasks: &'a [Task], config: TileConfig) -> Result<Self> {
        Self::new(genome, genome.whole(), tasks, config)
    }

    /// Windows skipped so far for having too many `N`.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Reads the sequence for the bins from `self.next` on (at most [`CHUNK_BINS`]).
    fn load_chunk(&mut self, region: &Interval) -> Result<()> {
        let bin = self.config.bin;
        let n_bins = ((region.end - self.next) / bin).min(CHUNK_BINS);
        let last = self.next + (n_bins - 1) * bin;
        let from = self.config.window_start(self.next);
        let to = self.config.window_start(last) + self.config.window as i64;
        self.chunk = self.genome.fetch_padded(&region.contig, from, to)?;
        self.chunk_start = from;
        self.chunk_bins = (self.next, last + bin);
        Ok(())
    }

    fn tile(&mut self) -> Result<Option<Tile>> {
        let bin = self.config.bin;
        loop {
            let Some(region) = self.regions.get(self.region) else {
                return Ok(None);
            };
            if self.next + bin > region.end {
                self.region += 1;
                self.next = self.regions.get(self.region).map_or(0, |r| r.start);
                self.chunk_bins = (0, 0);
                continue;
            }
            if !(self.chunk_bins.0..self.chunk_bins.1).contains(&self.next) {
                let region = region.clone();
                self.load_chunk(&region)?;
            }
            let region = &self.regions[self.region];
            let start = self.next;
            self.next += bin;
            let ws = self.config.window_start(start);
            let off = (ws - self.chunk_start) as usize;
            let window = &self.chunk[off..off + self.config.window as usize];
            if n_count(window) as f64 > self.config.max_n * self.config.window as f64 {
                self.skipped += 1;
                continue;
            }
            let end = start + bin;
            let mut coverage = Vec::with_capacity(self.tasks.len());
            let mut labels = Vec::with_capacity(self.tasks.len());
            for t in self.tasks {
                let covered = t.targets.covered(&region.contig, start, end);
                coverage.push((covered as f64 / bin as f64) as f32);
                let positive = covered as f64 >= self.config.threshold * bin as f64;
                labels.push(if positive { 1.0 } else { 0.0 });
            }
            return Ok(Some(Tile {
                contig: region.contig.clone(),
                start,
                end,
                window_start: ws,
                seq: window.to_vec(),
                coverage,
                labels,
            }));
        }
    }
}

impl Iterator for Tiler<'_> {
    type Item = Result<Tile>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.tile() {
            Ok(Some(t)) => Some(Ok(t)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::genome::index::write_index;

    fn genome(dir: &std::path::Path, text: &str) -> Genome {
        let p = dir.join("g.fa");
        std::fs::write(&p, text).unwrap();
        write_index(&p, false).unwrap();
        Genome::open(&p).unwrap()
    }

    /// Coverage by brute force over every base.
    fn covered_naive(ranges: &[(u64, u64)], start: u64, end: u64) -> u64 {
        (start..end)
            .filter(|&p| ranges.iter().any(|r| r.0 <= p && p < r.1))
            .count() as u64
    }

    #[test]
    fn interval_set_matches_brute_force() {
        let mut x: u64 = 7;
        let mut raw = Vec::new();
        for _ in 0..200 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let s = (x >> 33) % 2000;
            let l = (x >> 20) % 60;
            raw.push((s, s + l));
        }
        let set = IntervalSet::from_ranges(raw.iter().map(|&(s, e)| ("c", s, e)));
        let merged = set.ranges("c");
        assert!(
            merged.windows(2).all(|w| w[0].1 < w[1].0),
            "sorted, disjoint"
        );
        for start in (0..2100).step_by(37) {
            for len in [0, 1, 13, 200, 1000] {
                assert_eq!(
                    set.covered("c", start, start + len),
                    covered_naive(&raw, start, start + len),
                    "{start}+{len}"
                );
            }
        }
        assert_eq!(set.total(), covered_naive(&raw, 0, 3000));
    }

    #[test]
    fn touching_intervals_merge_and_empty_ones_vanish() {
        let set = IntervalSet::from_ranges([("a", 5, 10), ("a", 10, 12), ("a", 20, 20)]);
        assert_eq!(set.ranges("a"), [(5, 12)]);
    }

    /// A hand-checked example: contig of 100 bp, bins of 20 in windows of 40.
    /// Task A covers 30..45 (bin 20..40: 10 of 20 = 0.5 -> 1; bin 40..60: 5/20 = 0.25 -> 0),
    /// task B covers 0..3 and 2..19 merged to 0..19 (bin 0..20: 19/20 -> 1) and 60..61.
    /// Windows: bin 0 -> -10..30, bin 80 -> 70..110 (10 N of padding, 25%).
    #[test]
    fn tiler_labels_hand_checked() {
        let dir = tempfile::tempdir().unwrap();
        let seq: String = (0..100).map(|i| b"ACGT"[i % 4] as char).collect();
        let g = genome(dir.path(), &format!(">chr7\n{seq}\n"));
        let tasks = [
            Task {
                name: "A".into(),
                targets: IntervalSet::from_ranges([("chr7", 30, 45)]),
            },
            Task {
                name: "B".into(),
                targets: IntervalSet::from_ranges([
                    ("chr7", 0, 3),
                    ("chr7", 2, 19),
                    ("chr7", 60, 61),
                ]),
            },
        ];
        let config = TileConfig {
            bin: 20,
            window: 40,
            threshold: 0.5,
            max_n: 0.5,
        };
        let tiles: Vec<Tile> = Tiler::whole_genome(&g, &tasks, config)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        let got: Vec<(u64, i64, Vec<f32>, Vec<f32>)> = tiles
            .iter()
            .map(|t| {
                (
                    t.start,
                    t.window_start,
                    t.coverage.clone(),
                    t.labels.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (0, -10, vec![0.0, 0.95], vec![0.0, 1.0]),
                (20, 10, vec![0.5, 0.0], vec![1.0, 0.0]),
                (40, 30, vec![0.25, 0.0], vec![0.0, 0.0]),
                (60, 50, vec![0.0, 0.05], vec![0.0, 0.0]),
                (80, 70, vec![0.0, 0.0], vec![0.0, 0.0]),
            ]
        );
        assert_eq!(tiles[0].seq, format!("NNNNNNNNNN{}", &seq[..30]).as_bytes());
        assert_eq!(tiles[4].seq, format!("{}NNNNNNNNNN", &seq[70..]).as_bytes());
        assert!(
            tiles
                .iter()
                .all(|t| t.contig == "chr7" && t.end == t.start + 20)
        );
    }

    #[test]
    fn tiler_skips_n_windows_and_drops_partial_bins() {
        let dir = tempfile::tempdir().unwrap();
        // 50 bases, then 30 N, then 25 bases: 105 bp.
        let seq = format!(
            "{}{}{}",
            "AC".repeat(25),
            "N".repeat(30),
            "GT".repeat(12) + "G"
        );
        let g = genome(dir.path(), &format!(">1\n{seq}\n"));
        let config = TileConfig {
            bin: 10,
            window: 30,
            threshold: 0.5,
            max_n: 0.5,
        };
        let mut tiler = Tiler::whole_genome(&g, &[], config).unwrap();
        let starts: Vec<u64> = tiler.by_ref().map(|t| t.unwrap().start).collect();
        // Bin 50 (window 40..70: 20 N of 30) .. bin 70 (60..90: 20 N) are skipped; bin 40
        // (30..60: 10 N) and bin 80 (70..100: 10 N) kept; the 5 bp after bin 100 make no bin.
        assert_eq!(starts, [0, 10, 20, 30, 40, 80, 90]);
        assert_eq!(tiler.skipped(), 3);
    }

    #[test]
    fn tiler_regions_and_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let seq: String = (0..25_000)
            .map(|i| b"ACGT"[(i * 7 + i / 3) % 4] as char)
            .collect();
        let g = genome(dir.path(), &format!(">20\n{seq}\n>21\nACGT\n"));
        let region = g.region("chr20:101-24,000").unwrap();
        let config = TileConfig {
            bin: 20,
            window: 50,
            max_n: 0.5,
            ..TileConfig::default()
        };
        let tiles: Vec<Tile> = Tiler::new(&g, vec![region], &[], config.clone())
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        // (24000 - 100) / 20 = 1195 bins, across several chunks.
        assert_eq!(tiles.len(), 1195);
        for t in &tiles {
            let want = g
                .fetch_padded("20", t.window_start, t.window_start + 50)
                .unwrap();
            assert_eq!(t.seq, want, "bin {}", t.start);
            assert_eq!(t.window_start, t.start as i64 + 10 - 25);
        }
        assert_eq!(tiles[0].start, 100);
        // A whole genome walks both contigs; the 4 bp contig has no whole bin.
        let n = Tiler::whole_genome(&g, &[], config).unwrap().count();
        assert_eq!(n, 1250);
    }

    #[test]
    fn subtract_holes_at_edges_and_outside() {
        let r = |s, e| Interval {
            contig: "c".to_string(),
            start: s,
            end: e,
        };
        let got = |holes: &[Interval]| -> Vec<(u64, u64)> {
            subtract(&[r(100, 200)], holes)
                .iter()
                .map(|x| (x.start, x.end))
                .collect()
        };
        assert_eq!(got(&[]), [(100, 200)]);
        assert_eq!(got(&[r(0, 100), r(200, 300)]), [(100, 200)]);
        assert_eq!(got(&[r(50, 120), r(190, 250)]), [(120, 190)]);
        assert_eq!(got(&[r(0, 1000)]), []);
        assert_eq!(
            got(&[r(150, 160), r(110, 120)]),
            [(100, 110), (120, 150), (160, 200)]
        );
        let other = Interval {
            contig: "d".to_string(),
            start: 0,
            end: 1000,
        };
        assert_eq!(got(&[other]), [(100, 200)]);
    }

    #[test]
    fn tiler_refuses_unresolved_task_names() {
        let dir = tempfile::tempdir().unwrap();
        let g = genome(dir.path(), ">20\nACGT\n");
        let tasks = [Task {
            name: "CTCF".into(),
            targets: IntervalSet::from_ranges([("chr20", 0, 2)]),
        }];
        let e = Tiler::whole_genome(&g, &tasks, TileConfig::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("'chr20'") && e.contains("calls it '20'"), "{e}");
        let bad = TileConfig {
            bin: 0,
            ..TileConfig::default()
        };
        assert!(Tiler::whole_genome(&g, &[], bad).is_err());
    }
}
