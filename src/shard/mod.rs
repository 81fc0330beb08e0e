//! Sharding: a command's input records split into N contiguous blocks in input order, so that N
//! jobs (a workflow's shards, a cluster array) each take one block and their outputs, concatenated
//! in order with the header kept once, are exactly the unsharded output.
//!
//! Two jobs, one file each: choosing what a shard computes (here) and joining the shards' outputs
//! again ([`merge`]: TSV with one header row, or VCF with one header block). They share the
//! promise that the join of the shards is the unsharded output, and the marker line
//! ([`MARKER`]) that names each shard's `I/N` in its outputs, so that [`merge`] finds a shard
//! missing, repeated or out of order.
//!
//! The partition lives here and nowhere else: [`Shard::range`] for any counted input,
//! [`sharded_records`] for sequence files (a first pass counts the records, then the block is
//! streamed) and [`shard_regions`] for genome tiling (bins are counted from the region lengths).
//!
//! Byte-identical joins need more than the same records: a score can differ in its last bits
//! with the batch it was computed in (the GEMM kernel is chosen by the matrix sizes). So a shard
//! scores whole batches of the unsharded run's batch grid ([`Shard::block`]: records
//! `k * batch .. (k + 1) * batch`) and writes only its own records; the at most two batches cut by
//! its ends are scored by both neighbours.

pub mod merge;

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::interval::Interval;
use crate::io::input::is_dash;
use crate::io::output::AtomicOutput;
use crate::io::sequence::{SeqRecord, sequence_records};

/// Block `index` (1-based) of `count` contiguous blocks of an input, written `I/N` on the
/// command line.
///
/// ```
/// use seqcnn::shard::Shard;
/// let s: Shard = "2/3".parse().unwrap();
/// assert_eq!((s.index, s.count), (2, 3));
/// // 10 records: blocks of 4, 3, 3.
/// assert_eq!(s.range(10), 4..7);
/// assert!("0/3".parse::<Shard>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which block, 1-based: `1..=count`.
    pub index: usize,
    /// How many blocks the input is split into (at least 1).
    pub count: usize,
}

impl Shard {
    /// The whole input as one block (`1/1`).
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// Block `index` of `count`; an error unless `1 <= index <= count`.
    pub fn new(index: usize, count: usize) -> Result<Shard> {
        if count == 0 {
            return Err(Error::Config(format!(
                "shard {index}/{count}: the number of shards must be at least 1"
            )));
        }
        if index == 0 || index > count {
            return Err(Error::Config(format!(
                "shard {index}/{count}: the shard number must be between 1 and {count}"
            )));
        }
        Ok(Shard { index, count })
    }

    /// True for `1/1`, the whole input.
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// The records (0-based, half-open) of this shard out of `total`: blocks in input order,
    /// sizes as even as can be, the first `total % count` blocks one record larger. Blocks past
    /// the records (more shards than records) are empty.
    ///
    /// ```
    /// use seqcnn::shard::Shard;
    /// let blocks: Vec<_> = (1..=4).map(|i| Shard::new(i, 4).unwrap().range(6)).collect();
    /// assert_eq!(blocks, [0..2, 2..4, 4..5, 5..6]);
    /// assert_eq!(Shard::new(3, 3).unwrap().range(2), 2..2);
    /// ```
    pub fn range(&self, total: usize) -> Range<usize> {
        let (base, extra) = (total / self.count, total % self.count);
        let i = self.index - 1;
        let start = i * base + i.min(extra);
        let len = base + usize::from(i < extra);
        start..start + len
    }
}

impl Shard {
    /// What this shard scores and writes out of `total` records scored `batch` at a time: it
    /// writes [`range`](Shard::range) and scores the batches of the whole run's grid that
    /// overlap it, so every record is scored in the same batch as in the unsharded run.
    ///
    /// ```
    /// use seqcnn::shard::Shard;
    /// // 10 records in batches of 4: [0, 4) [4, 8) [8, 10); shard 2/3 writes 4..7.
    /// let b = Shard::new(2, 3).unwrap().block(10, 4);
    /// assert_eq!((b.scored, b.written), (4..8, 4..7));
    /// let b = Shard::new(3, 3).unwrap().block(10, 4);
    /// assert_eq!((b.scored, b.written), (4..10, 7..10));
    /// ```
    pub fn block(&self, total: usize, batch: usize) -> Block {
        let written = self.range(total);
        if written.is_empty() {
            return Block {
                scored: written.clone(),
                written,
            };
        }
        let batch = batch.max(1);
        let start = written.start / batch * batch;
        let end = written.end.div_ceil(batch).saturating_mul(batch).min(total);
        Block {
            scored: start..end,
            written,
        }
    }
}

/// One shard's records: `scored` (whole batches) and `written` (the shard's own, inside
/// `scored`), as indices into the whole input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Records to score: whole batches of the unsharded run.
    pub scored: Range<usize>,
    /// Records to write.
    pub written: Range<usize>,
}

impl Block {
    /// Everything: for an unsharded run, whose record count is not needed.
    pub const ALL: Block = Block {
        scored: 0..usize::MAX,
        written: 0..usize::MAX,
    };

    /// Of `n` records scored together starting at index `first`, the ones to write, as
    /// positions `0..n` in that batch.
    ///
    /// ```
    /// use seqcnn::shard::Shard;
    /// let b = Shard::new(2, 3).unwrap().block(10, 4);
    /// assert_eq!(b.written_of(4, 4), 0..3);
    /// assert_eq!(b.written_of(8, 2), 0..0);
    /// ```
    pub fn written_of(&self, first: usize, n: usize) -> Range<usize> {
        let start = self.written.start.clamp(first, first + n) - first;
        let end = self.written.end.clamp(first, first + n) - first;
        start..end
    }
}

/// The start of the line naming a shard in its outputs: `##seqcnn_shard=I/N`. It is the first
/// line of a TSV made with `--shard` (before the column header) and a meta line of a VCF (before
/// `#CHROM`); [`merge`] checks and drops it, so the merged output is the unsharded one. `##` lines
/// are comments to `tabix` and to VCF readers.
pub const MARKER: &str = "##seqcnn_shard=";

impl Shard {
    /// The marker line of this shard's outputs, without its newline.
    ///
    /// ```
    /// let s = seqcnn::shard::Shard::new(2, 8).unwrap();
    /// assert_eq!(s.marker(), "##seqcnn_shard=2/8");
    /// ```
    pub fn marker(&self) -> String {
        format!("{MARKER}{self}")
    }

    /// The shard a marker line names (`None` for any other line).
    ///
    /// ```
    /// use seqcnn::shard::Shard;
    /// assert_eq!(Shard::from_marker(b"##seqcnn_shard=3/4\n"), Some(Shard::new(3, 4).unwrap()));
    /// assert_eq!(Shard::from_marker(b"name\tREST\n"), None);
    /// ```
    pub fn from_marker(line: &[u8]) -> Option<Shard> {
        let text = std::str::from_utf8(line.strip_prefix(MARKER.as_bytes())?).ok()?;
        text.trim_end_matches(['\n', '\r']).parse().ok()
    }
}

/// Starts a TSV output of a `--shard` run with its marker line (nothing for an unsharded run).
pub fn write_tsv_marker(out: &mut AtomicOutput, shard: Option<Shard>) -> Result<()> {
    use std::io::Write;
    match shard {
        Some(s) => writeln!(out, "{}", s.marker()).map_err(|e| out.error(e)),
        None => Ok(()),
    }
}

/// A VCF header (`##` lines, then `#CHROM`) with the marker line of a `--shard` run added before
/// the `#CHROM` line (unchanged for an unsharded run).
pub fn vcf_header_with_marker(header: String, shard: Option<Shard>) -> String {
    let Some(s) = shard else { return header };
    let at = std::iter::once(0)
        .chain(header.match_indices('\n').map(|(i, _)| i + 1))
        .rfind(|&i| header[i..].starts_with("#CHROM"))
        .unwrap_or(header.len());
    format!("{}{}\n{}", &header[..at], s.marker(), &header[at..])
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// Parses `I/N`, for example `3/8`.
    fn from_str(text: &str) -> Result<Shard> {
        let bad = |why: &str| {
            Error::Config(format!(
                "shard '{text}': {why}; write I/N with 1 <= I <= N, for example 2/8"
            ))
        };
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| bad("no '/' between the shard number and the number of shards"))?;
        let i: usize = i
            .trim()
            .parse()
            .map_err(|_| bad("the shard number is not a whole number"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| bad("the number of shards is not a whole number"))?;
        Shard::new(i, n).map_err(|_| {
            if n == 0 {
                bad("the number of shards must be at least 1")
            } else {
                bad(&format!("the shard number must be between 1 and {n}"))
            }
        })
    }
}

/// The error for a shard of standard input: a block needs the record count, and stdin cannot be
/// read twice.
fn stdin_error(shard: &Shard) -> Error {
    Error::Config(format!(
        "--shard {shard} needs the input as a file: standard input cannot be read twice to count \
         its records (save it to a file, or use --shard 1/1)"
    ))
}

/// The block of `shard` (no shard = everything) of a streamed input that `count` counts in a
/// first pass without scoring, scored `batch` at a time (see [`Shard::block`]). `count` is only
/// called for a shard other than `1/1`, which standard input (`-`) cannot be.
///
/// ```
/// use seqcnn::shard::{Block, stream_block};
/// let path = std::path::Path::new("calls.vcf");
/// let b = stream_block(path, Some("3/3".parse().unwrap()), 4, || Ok(10)).unwrap();
/// assert_eq!((b.scored, b.written), (4..10, 7..10));
/// assert_eq!(stream_block(path, None, 4, || unreachable!()).unwrap(), Block::ALL);
/// assert!(stream_block(std::path::Path::new("-"), Some("1/2".parse().unwrap()), 4, || Ok(10)).is_err());
/// ```
pub fn stream_block(
    path: &Path,
    shard: Option<Shard>,
    batch: usize,
    count: impl FnOnce() -> Result<usize>,
) -> Result<Block> {
    match shard {
        Some(s) if !s.is_whole() => {
            check_shardable(path, shard)?;
            Ok(s.block(count()?, batch))
        }
        _ => Ok(Block::ALL),
    }
}

/// Counts the items of a stream, stopping at the first error.
pub fn count_items<T>(items: impl Iterator<Item = Result<T>>) -> Result<usize> {
    let mut n = 0;
    for item in items {
        item?;
        n += 1;
    }
    Ok(n)
}

/// The items of `block.scored` from the stream of all items of an input (every item counts,
/// errors pass through), stopping after the block.
///
/// ```
/// use seqcnn::shard::{Shard, scored_items};
/// let block = Shard::new(2, 2).unwrap().block(5, 2);
/// let items = (0..5).map(Ok::<_, seqcnn::Error>);
/// let got: Vec<_> = scored_items(items, &block).map(Result::unwrap).collect();
/// assert_eq!(got, [2, 3, 4]);
/// ```
pub fn scored_items<T, I: Iterator<Item = Result<T>>>(
    items: I,
    block: &Block,
) -> impl Iterator<Item = Result<T>> + use<T, I> {
    let range = block.scored.clone();
    items
        .take(range.end)
        .enumerate()
        .filter_map(move |(i, r)| match r {
            Err(e) => Some(Err(e)),
            Ok(v) if i >= range.start => Some(Ok(v)),
            Ok(_) => None,
        })
}

/// A stream of sequence records.
pub type Records = Box<dyn Iterator<Item = Result<SeqRecord>>>;

/// The records one shard of a sequence file (FASTA, table or plain list; see
/// [`sequence_records`]) scores, `batch` at a time, and which of them it writes (see
/// [`Shard::block`]; the iterator starts at record `block.scored.start`). With a shard other than
/// `1/1` a first pass reads and checks every record without scoring to count them, so a bad
/// record anywhere fails every shard, as it fails the unsharded run. Standard input (`-`) can
/// only be read whole.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("s.fa");
/// std::fs::write(&path, ">a\nAC\n>b\nGT\n>c\nTT\n>d\nGG\n").unwrap();
/// let shard = "2/2".parse().unwrap();
/// let (block, records) = seqcnn::shard::sharded_records(&path, Some(&[]), Some(shard), 3).unwrap();
/// let names: Vec<String> = records.map(|r| r.unwrap().name).collect();
/// // Shard 2/2 writes c and d; a, b and c are one batch, scored whole.
/// assert_eq!(names, ["a", "b", "c", "d"]);
/// assert_eq!((block.scored, block.written), (0..4, 2..4));
/// ```
pub fn sharded_records(
    path: &Path,
    label_columns: Option<&[String]>,
    shard: Option<Shard>,
    batch: usize,
) -> Result<(Block, Records)> {
    let block = stream_block(path, shard, batch, || {
        count_items(sequence_records(path, label_columns)?)
    })?;
    let records = sequence_records(path, label_columns)?;
    if block == Block::ALL {
        return Ok((block, Box::new(records)));
    }
    let records = scored_items(records, &block);
    Ok((block, Box::new(records)))
}

/// One shard of items already in memory (BED intervals, variants) scored `batch` at a time:
/// its [`Block`] (everything for no shard).
///
/// ```
/// let shard = "1/2".parse().unwrap();
/// let b = seqcnn::shard::shard_items(5, Some(shard), 2);
/// assert_eq!((b.scored, b.written), (0..4, 0..3));
/// assert_eq!(seqcnn::shard::shard_items(5, None, 2).written, 0..5);
/// ```
pub fn shard_items(total: usize, shard: Option<Shard>, batch: usize) -> Block {
    shard.unwrap_or(Shard::WHOLE).block(total, batch)
}

/// Fails for a shard other than `1/1` of standard input (`-`): for commands that read their
/// input into memory, to say why rather than read stdin once per shard.
pub fn check_shardable(path: &Path, shard: Option<Shard>) -> Result<()> {
    match shard {
        Some(s) if !s.is_whole() && is_dash(path) => Err(stdin_error(&s)),
        _ => Ok(()),
    }
}

/// The number of bins of `bin` bp tiling `regions`, each from its start (a last partial bin
/// dropped): the records of genome tiling.
pub fn count_bins(regions: &[Interval], bin: u64) -> usize {
    if bin == 0 {
        return 0;
    }
    regions
        .iter()
        .map(|r| (r.end.saturating_sub(r.start) / bin) as usize)
        .sum()
}

/// The bins `bins` (0-based indices, see [`count_bins`]) of genome tiling as regions: `regions`
/// tiled in order in bins of `bin` bp from each region's start, cut to the regions that hold
/// exactly those bins. The bins keep their coordinates, and each window still reads its context
/// outside the region, so the rows are those of the whole run.
///
/// ```
/// use seqcnn::interval::Interval;
/// use seqcnn::shard::shard_regions;
/// let r = |c: &str, start, end| Interval { contig: c.into(), start, end };
/// // 5 bins of 10 bp on 1, 2 on 2.
/// let regions = [r("1", 0, 55), r("2", 100, 120)];
/// assert_eq!(shard_regions(&regions, 10, 0..4), [r("1", 0, 40)]);
/// assert_eq!(shard_regions(&regions, 10, 4..7), [r("1", 40, 50), r("2", 100, 120)]);
/// ```
pub fn shard_regions(regions: &[Interval], bin: u64, bins: Range<usize>) -> Vec<Interval> {
    if bin == 0 {
        // The tiler rejects a zero bin with its own message.
        return regions.to_vec();
    }
    let mut out = Vec::new();
    let mut first = 0;
    for r in regions {
        let n = count_bins(std::slice::from_ref(r), bin);
        let (from, to) = (bins.start.max(first), bins.end.min(first + n));
        if from < to {
            out.push(Interval {
                contig: r.contig.clone(),
                start: r.start + (from - first) as u64 * bin,
                end: r.start + (to - first) as u64 * bin,
            });
        }
        first += n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_record_once_in_order_with_balanced_sizes() {
        for total in 0..40 {
            for count in 1..=9 {
                let blocks: Vec<_> = (1..=count)
                    .map(|i| Shard::new(i, count).unwrap().range(total))
                    .collect();
                let mut next = 0;
                for b in &blocks {
                    assert_eq!(b.start, next, "{total} records, {count} shards");
                    next = b.end;
                }
                assert_eq!(next, total);
                let sizes: Vec<_> = blocks.iter().map(|b| b.len()).collect();
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 1, "{sizes:?}");
                // Larger blocks first.
                assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
            }
        }
    }

    #[test]
    fn blocks_score_whole_batches_of_the_whole_run() {
        for total in 0..30 {
            for count in 1..=6 {
                for batch in 1..=7 {
                    let mut written = 0;
                    for i in 1..=count {
                        let b = Shard::new(i, count).unwrap().block(total, batch);
                        assert_eq!(b.written, Shard::new(i, count).unwrap().range(total));
                        written += b.written.len();
                        if b.written.is_empty() {
                            assert!(b.scored.is_empty());
                            continue;
                        }
                        // Scored: whole batches of the grid (the last one may be short).
                        assert_eq!(b.scored.start % batch, 0);
                        assert!(b.scored.end.is_multiple_of(batch) || b.scored.end == total);
                        assert!(b.scored.start <= b.written.start && b.written.end <= b.scored.end);
                        // No more than needed.
                        assert!(b.written.start - b.scored.start < batch);
                        assert!(b.scored.end - b.written.end < batch);
                        // Written positions of each scored batch are the written records.
                        let mut got = Vec::new();
                        for first in b.scored.clone().step_by(batch) {
                            let n = batch.min(b.scored.end - first);
                            got.extend(b.written_of(first, n).map(|j| first + j));
                        }
                        assert_eq!(got, b.written.clone().collect::<Vec<_>>());
                    }
                    assert_eq!(written, total);
                }
            }
        }
    }

    #[test]
    fn parse_and_errors() {
        assert_eq!("1/1".parse::<Shard>().unwrap(), Shard::WHOLE);
        assert_eq!(
            " 3 / 8 ".parse::<Shard>().unwrap(),
            Shard::new(3, 8).unwrap()
        );
        assert_eq!(Shard::new(3, 8).unwrap().to_string(), "3/8");
        for (text, why) in [
            ("3", "no '/'"),
            ("a/3", "shard number is not a whole number"),
            ("1/x", "number of shards is not a whole number"),
            ("-1/3", "shard number is not a whole number"),
            ("0/3", "between 1 and 3"),
            ("4/3", "between 1 and 3"),
            ("1/0", "at least 1"),
        ] {
            let e = text.parse::<Shard>().unwrap_err().to_string();
            assert!(
                e.contains(why) && e.contains(text.trim()) && e.contains("I/N"),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn scored_items_pass_errors_through_and_stop_at_the_end() {
        let block = |scored| Block {
            scored,
            written: 0..0,
        };
        let items = vec![Ok(0), Ok(1), Err(Error::Config("bad".into())), Ok(3)];
        let got: Vec<_> = scored_items(items.into_iter(), &block(1..2)).collect();
        assert_eq!(got.len(), 1);
        assert_eq!(*got[0].as_ref().unwrap(), 1);
        let items = vec![Ok(0), Err(Error::Config("bad".into())), Ok(2), Ok(3)];
        let got: Vec<_> = scored_items(items.into_iter(), &block(2..4)).collect();
        assert!(got[0].is_err());
        let items = vec![Ok(0), Ok(1), Ok(2), Err(Error::Config("bad".into()))];
        assert_eq!(scored_items(items.into_iter(), &block(0..3)).count(), 3);
    }

    #[test]
    fn region_shards_tile_the_same_bins() {
        let r = |c: &str, start, end| Interval {
            contig: c.into(),
            start,
            end,
        };
        let regions = [r("1", 3, 98), r("2", 0, 5), r("3", 10, 61)];
        let bins_of = |rs: &[Interval]| -> Vec<(String, u64)> {
            rs.iter()
                .flat_map(|r| {
                    (0..(r.end - r.start) / 7).map(move |k| (r.contig.clone(), r.start + k * 7))
                })
                .collect()
        };
        let all = bins_of(&regions);
        for count in 1..=20 {
            let total = count_bins(&regions, 7);
            assert_eq!(total, all.len());
            let joined: Vec<_> = (1..=count)
                .flat_map(|i| {
                    let block = Shard::new(i, count).unwrap().block(total, 1);
                    bins_of(&shard_regions(&regions, 7, block.written))
                })
                .collect();
            assert_eq!(joined, all, "{count} shards");
        }
    }
}
