//! BED intervals: BED3, BED6 (name, score, strand) and ENCODE narrowPeak (summit offset in
//! column 10), plain or gzip; coordinates 0-based half-open as in the file, kept as an
//! [`Interval`] in each [`BedRecord`]; checked against a genome's contig names and lengths.
//!
//! A line's format is read from its column count: 3 to 9 or 11+ columns are BED (name from
//! column 4, strand from column 6, further columns ignored), exactly 10 columns are narrowPeak.
//! Blank lines and `#`, `track` and `browser` lines are skipped. Errors name the file and line.

use std::collections::HashMap;
use std::io::BufRead;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::interval::{Interval, MAX_POSITION};
use crate::io::genome::Genome;

/// The strand column of BED6 and narrowPeak (`.` = no strand, stored as `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strand {
    /// `+`
    Forward,
    /// `-`
    Reverse,
}

/// One BED line: its interval (columns 1 to 3) and the columns read beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedRecord {
    /// Columns 1 to 3, 0-based half-open as in the file; the contig as written in the file, or the
    /// genome's name after [`check_against`].
    pub interval: Interval,
    /// Column 4, if present and not `.`.
    pub name: Option<String>,
    /// Column 6, if present and not `.`.
    pub strand: Option<Strand>,
    /// narrowPeak summit as an absolute 0-based position (`start` + column 10), inside
    /// `start..end`; `None` for BED and for a narrowPeak offset of `-1`.
    pub summit: Option<u64>,
    /// 1-based line in the file.
    pub line: u64,
    /// The contig as the file spells it, when [`check_against`] renamed it to the genome's name
    /// (`chr20` in the file, `20` in the genome): outputs write it back, so their rows join the
    /// user's BED.
    pub written: Option<String>,
}

/// A record reads as its interval (`rec.contig`, `rec.start`, `rec.len()`...): the interval is
/// what most users of a BED line want, and the other columns stay one field away.
impl Deref for BedRecord {
    type Target = Interval;

    fn deref(&self) -> &Interval {
        &self.interval
    }
}

impl AsRef<Interval> for BedRecord {
    fn as_ref(&self) -> &Interval {
        &self.interval
    }
}

impl BedRecord {
    /// The summit if there is one, else the middle (rounded down).
    pub fn centre(&self) -> u64 {
        self.summit.unwrap_or(self.start + self.len() / 2)
    }

    /// The `len`-bp window a fixed-length model scores for this interval, 0-based half-open,
    /// with the [`centre`](Self::centre) at offset [`centre_offset`](crate::interval::centre_offset)
    /// (`(len - 1) / 2`: the middle base, or the left of the two middle ones, as Selene centres
    /// variants). It may start before 0 or end past the contig: [`Genome::fetch_padded`] reads
    /// those positions as N.
    ///
    /// ```
    /// use seqcnn::io::bed::BedReader;
    /// let text = b"chr1\t100\t200\nchr1\t100\t200\tp\t0\t.\t1\t-1\t-1\t10\n";
    /// let ivs: Vec<_> = BedReader::new(&text[..], "x.bed").collect::<Result<_, _>>().unwrap();
    /// // Centre 150 at offset 499 of 1000.
    /// assert_eq!(ivs[0].window(1000), (-349, 651));
    /// // Summit 110 at offset 2 of 5.
    /// assert_eq!(ivs[1].window(5), (108, 113));
    /// ```
    pub fn window(&self, len: u64) -> (i64, i64) {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let start = self.centre() as i64 - crate::interval::centre_offset(len) as i64;
        (start, start + len as i64)
    }

    /// The contig as the file spells it (see [`BedRecord::written`]).
    pub fn written_contig(&self) -> &str {
        self.written.as_deref().unwrap_or(&self.interval.contig)
    }

    /// The name column, or `contig:start-end` with a 1-based start (as genome browsers show
    /// an interval) and the contig as the file spells it, when there is none.
    ///
    /// ```
    /// use seqcnn::io::bed::BedReader;
    /// let text = b"chr1\t100\t200\nchr1\t5\t8\tg1\n";
    /// let ivs: Vec<_> = BedReader::new(&text[..], "x.bed").collect::<Result<_, _>>().unwrap();
    /// assert_eq!((ivs[0].label(), ivs[1].label()), ("chr1:101-200".into(), "g1".into()));
    /// ```
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            Interval::new(self.written_contig(), self.start, self.end).to_string()
        })
    }
}

/// A streaming reader of [`BedRecord`]s. After the first error it yields nothing more.
///
/// ```
/// use seqcnn::io::bed::{BedReader, Strand};
/// let text = b"track name=x\n# comment\nchr1\t10\t20\nchr1\t5\t8\tg1\t0\t-\n\
///              chr2\t100\t200\tp1\t0\t.\t5.0\t-1\t-1\t40\n";
/// let ivs: Vec<_> = BedReader::new(&text[..], "x.bed").collect::<Result<_, _>>().unwrap();
/// assert_eq!((ivs[0].contig.as_str(), ivs[0].start, ivs[0].end, ivs[0].line), ("chr1", 10, 20, 3));
/// assert_eq!((ivs[1].name.as_deref(), ivs[1].strand), (Some("g1"), Some(Strand::Reverse)));
/// assert_eq!(ivs[2].summit, Some(140));
/// ```
pub struct BedReader<R> {
    reader: R,
    path: PathBuf,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl BedReader<Box<dyn BufRead>> {
    /// Opens a BED or narrowPeak file (`-` = stdin; gzip detected by content).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let p = dir.path().join("x.bed");
    /// std::fs::write(&p, "chr1\t0\t5\n").unwrap();
    /// let mut r = seqcnn::io::bed::BedReader::from_path(&p).unwrap();
    /// assert_eq!(r.next().unwrap().unwrap().end, 5);
    /// assert!(r.next().is_none());
    /// ```
    pub fn from_path(path: &Path) -> Result<Self> {
        Ok(BedReader::new(
            super::input::open_input(path)?,
            super::input::input_name(path),
        ))
    }
}

impl<R: BufRead> BedReader<R> {
    /// Reads from `reader`; `path` is the name errors give.
    pub fn new(reader: R, path: impl Into<PathBuf>) -> Self {
        BedReader {
            reader,
            path: path.into(),
            line: 0,
            buf: Vec::new(),
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for BedReader<R> {
    type Item = Result<BedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    match parse_line(&self.buf, self.line) {
                        Ok(None) => continue,
                        Ok(Some(iv)) => return Some(Ok(iv)),
                        Err(msg) => {
                            self.done = true;
                            return Some(Err(Error::parse(&self.path, self.line, msg)));
                        }
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(super::input::read_error(&self.path, self.line + 1, e)));
                }
            }
        }
        None
    }
}

/// Parses one line: `Ok(None)` for a line to skip, `Err` with the message for a bad one.
fn parse_line(raw: &[u8], line: u64) -> std::result::Result<Option<BedRecord>, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "line is not valid UTF-8".to_string())?;
    let text = text.trim_end_matches(['\n', '\r']);
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || is_header(trimmed) {
        return Ok(None);
    }
    let mut cols: Vec<&str> = text.split('\t').collect();
    if cols.len() < 3 {
        // Old-style whitespace-separated BED.
        cols = trimmed.split_ascii_whitespace().collect();
    }
    if cols.len() < 3 {
        return Err(format!(
            "expected at least 3 tab-separated columns (chrom, start, end), found {}",
            cols.len()
        ));
    }
    let contig = cols[0].trim();
    if contig.is_empty() {
        return Err("empty contig name in column 1".to_string());
    }
    let pos = |i: usize, what: &str| -> std::result::Result<u64, String> {
        let s = cols[i].trim();
        let v = s.parse::<u64>().map_err(|_| {
            format!(
                "{what} '{s}' in column {} is not a whole number >= 0",
                i + 1
            )
        })?;
        if v > MAX_POSITION {
            return Err(format!(
                "{what} {v} in column {} is past the largest position seqcnn reads ({MAX_POSITION}): is the file BED?",
                i + 1
            ));
        }
        Ok(v)
    };
    let start = pos(1, "start")?;
    let end = pos(2, "end")?;
    if start > end {
        return Err(format!("start {start} is after end {end}"));
    }
    let opt = |i: usize| {
        cols.get(i)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty() && *s != ".")
    };
    let name = opt(3).map(str::to_string);
    let strand = match opt(5) {
        None => None,
        Some("+") => Some(Strand::Forward),
        Some("-") => Some(Strand::Reverse),
        Some(s) => return Err(format!("strand '{s}' in column 6 must be +, - or .")),
    };
    let summit = if cols.len() == 10 {
        let s = cols[9].trim();
        let off: i64 = s.parse().map_err(|_| {
            format!("narrowPeak summit offset '{s}' in column 10 is not a whole number")
        })?;
        if off == -1 {
            None
        } else if off < 0 || off as u64 >= end - start {
            return Err(format!(
                "narrowPeak summit offset {off} (column 10) is outside the interval \
                 {contig}:{start}-{end} (offsets run from 0 to {})",
                (end - start).saturating_sub(1)
            ));
        } else {
            Some(start + off as u64)
        }
    } else {
        None
    };
    Ok(Some(BedRecord {
        interval: Interval::new(contig, start, end),
        name,
        strand,
        summit,
        line,
        written: None,
    }))
}

/// UCSC `track` and `browser` lines.
fn is_header(t: &str) -> bool {
    ["track", "browser"].iter().any(|h| {
        t.strip_prefix(h)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    })
}

/// Reads every interval of a BED or narrowPeak file (`-` = stdin, gzip or plain).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("x.bed");
/// std::fs::write(&p, "chr1\t0\t5\nchr1\t9\t7\n").unwrap();
/// let e = seqcnn::io::bed::read_bed(&p).unwrap_err().to_string();
/// assert_eq!(e, format!("{}:2: start 9 is after end 7", p.display()));
/// ```
pub fn read_bed(path: &Path) -> Result<Vec<BedRecord>> {
    BedReader::from_path(path)?.collect()
}

/// Checks intervals read from `path` against a genome and renames each contig to the genome's
/// name (so `chr20` in the file becomes `20` when the genome says `20`; see
/// [`Genome::resolve`]). An unknown contig, or an interval ending past its contig's end, is an
/// error naming the file and line (and, for an unknown contig, the closest known names).
///
/// ```
/// use seqcnn::io::{bed, genome};
/// let dir = tempfile::tempdir().unwrap();
/// let fa = dir.path().join("g.fa");
/// std::fs::write(&fa, ">20\nACGTACGTAC\n").unwrap();
/// genome::index::write_index(&fa, false).unwrap();
/// let g = genome::Genome::open(&fa).unwrap();
/// let p = dir.path().join("x.bed");
/// std::fs::write(&p, "chr20\t0\t5\nchr20\t8\t11\n").unwrap();
/// let mut ivs = bed::read_bed(&p).unwrap();
/// let e = bed::check_against(&mut ivs, &g, &p).unwrap_err().to_string();
/// assert!(e.starts_with(&format!("{}:2: ", p.display())) && e.contains("past the end"), "{e}");
/// ivs.pop();
/// bed::check_against(&mut ivs, &g, &p).unwrap();
/// assert_eq!(ivs[0].contig, "20");
/// ```
pub fn check_against(intervals: &mut [BedRecord], genome: &Genome, path: &Path) -> Result<()> {
    let name = super::input::input_name(path);
    let mut resolved: HashMap<String, usize> = HashMap::new();
    for iv in intervals.iter_mut() {
        let id = match resolved.get(&iv.contig) {
            Some(&id) => id,
            None => {
                let id = genome
                    .contig_id(&iv.contig)
                    .map_err(|msg| Error::parse(&name, iv.line, msg))?;
                resolved.insert(iv.contig.clone(), id);
                id
            }
        };
        let (contig, len) = &genome.contigs()[id];
        if iv.end > *len {
            return Err(Error::parse(
                &name,
                iv.line,
                format!(
                    "interval {}:{}-{} ends past the end of contig '{contig}' ({len} bp) in {}",
                    iv.contig,
                    iv.start,
                    iv.end,
                    genome.path().display()
                ),
            ));
        }
        if iv.contig != *contig {
            iv.written = Some(std::mem::replace(&mut iv.interval.contig, contig.clone()));
        }
    }
    Ok(())
}

/// [`read_bed`] then [`check_against`]: the intervals of a file, with the genome's contig names.
///
/// ```
/// use seqcnn::io::{bed, genome};
/// let dir = tempfile::tempdir().unwrap();
/// let fa = dir.path().join("g.fa");
/// std::fs::write(&fa, ">chrX\nACGTACGTAC\n").unwrap();
/// genome::index::write_index(&fa, false).unwrap();
/// let g = genome::Genome::open(&fa).unwrap();
/// let p = dir.path().join("x.bed");
/// std::fs::write(&p, "X\t2\t4\n").unwrap();
/// assert_eq!(bed::read_bed_checked(&p, &g).unwrap()[0].contig, "chrX");
/// ```
pub fn read_bed_checked(path: &Path, genome: &Genome) -> Result<Vec<BedRecord>> {
    let mut ivs = read_bed(path)?;
    check_against(&mut ivs, genome, path)?;
    Ok(ivs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn parse(text: &str) -> Result<Vec<BedRecord>> {
        BedReader::new(text.as_bytes(), "t.bed").collect()
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn formats_and_skipped_lines() {
        let ivs = parse(
            "browser position chr1\ntrack name=t\n\n  \n#c\nchr1 5 9\r\n\
             chr1\t1\t2\tCpG:32\nchr2\t3\t4\tG\t960\t+\textra\n\
             trackless\t0\t1\n",
        )
        .unwrap();
        assert_eq!(ivs.len(), 4);
        assert_eq!((ivs[0].start, ivs[0].end, ivs[0].line), (5, 9, 6));
        assert_eq!(ivs[1].name.as_deref(), Some("CpG:32"));
        assert_eq!(ivs[1].strand, None);
        assert_eq!(ivs[2].strand, Some(Strand::Forward));
        assert_eq!(ivs[3].contig, "trackless");
        // Zero-length intervals are allowed; a missing final newline is fine.
        assert_eq!(parse("c\t7\t7").unwrap()[0].len(), 0);
    }

    #[test]
    fn narrowpeak_summits() {
        let ivs = parse(
            "chr22\t100\t200\tp\t1\t.\t1\t2\t3\t0\nchr22\t100\t200\tp\t1\t.\t1\t2\t3\t99\n\
             chr22\t100\t200\tp\t1\t.\t1\t2\t3\t-1\n",
        )
        .unwrap();
        assert_eq!(
            ivs.iter().map(|i| i.summit).collect::<Vec<_>>(),
            [Some(100), Some(199), None]
        );
        assert_eq!(ivs[2].centre(), 150);
        let e = err("chr22\t100\t200\tp\t1\t.\t1\t2\t3\t100\n");
        assert!(
            e.starts_with("t.bed:1: narrowPeak summit offset 100"),
            "{e}"
        );
        assert!(e.contains("outside the interval"), "{e}");
        assert!(err("a\t1\t2\tp\t1\t.\t1\t2\t3\t-5\n").contains("outside"));
        assert!(err("a\t1\t2\tp\t1\t.\t1\t2\t3\tx\n").contains("column 10"));
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let cases = [
            ("chr1\t1\t2\nchr1\t1\n", "t.bed:2: expected at least 3"),
            ("chr1\tx\t2\n", "t.bed:1: start 'x' in column 2"),
            ("chr1\t1\t2.5\n", "t.bed:1: end '2.5' in column 3"),
            ("chr1\t-1\t2\n", "t.bed:1: start '-1'"),
            (
                "chr1\t1\t2\nchr1\t5\t3\n",
                "t.bed:2: start 5 is after end 3",
            ),
            ("chr1\t1\t2\tn\t0\t*\n", "t.bed:1: strand '*'"),
            ("\t1\t2\n", "t.bed:1: empty contig"),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
        // Nothing after the first error.
        let mut it = BedReader::new(&b"a\t1\nb\t1\t2\n"[..], "t.bed");
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn coordinates_past_max_position_are_errors_not_overflows() {
        // Fuzz target `bed`: a start of 2^63 passed the parser and overflowed the window
        // arithmetic (`window`) and the 1-based label.
        let crash = b"c\t9223372036854775808\t9223372036854775808\n";
        let e = BedReader::new(&crash[..], "t.bed")
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.bed:1: start 9223372036854775808 in column 2 is past the largest position seqcnn \
             reads (4611686018427387904): is the file BED?"
        );
        assert!(
            err("c\t0\t18446744073709551615\n").starts_with("t.bed:1: end 18446744073709551615")
        );
        // The input the fuzzer found: whitespace-separated columns, an end of 2^64 - 1 with
        // leading zeros (the window is centred near 2^63).
        let found = b"r%25browss1  5                  0000000000000000000000000000000000000000\
                      0000000018446744073709551615\r\x000000000000000000\t4\n\n~     ";
        let e = BedReader::new(&found[..], "t.bed")
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.bed:1: end 18446744073709551615 in column 3 is past"),
            "{e}"
        );
        // The largest position itself is read, and everything computed from it fits.
        let ivs = parse(&format!("c\t{MAX_POSITION}\t{MAX_POSITION}\n")).unwrap();
        assert_eq!(
            ivs[0].window(1000),
            (MAX_POSITION as i64 - 499, MAX_POSITION as i64 + 501)
        );
        assert_eq!(
            ivs[0].label(),
            format!("c:{}-{MAX_POSITION}", MAX_POSITION + 1)
        );
    }

    #[test]
    fn truncated_gzip_is_a_parse_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..5000u64 {
            text.push_str(&format!("chr1\t{}\t{}\tpeak{i}\n", i * 300, i * 300 + 150));
        }
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        let gz = e.finish().unwrap();
        let p = dir.path().join("cut.bed.gz");
        std::fs::write(&p, &gz[..gz.len() / 2]).unwrap();
        let e = read_bed(&p).unwrap_err();
        assert!(matches!(e, Error::Parse { line, .. } if line > 1), "{e:?}");
        assert!(e.to_string().contains("truncated or corrupt"), "{e}");
    }
}
