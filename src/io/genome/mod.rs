//! Indexed reference genomes: random access to plain or BGZF-compressed FASTA through its `.fai`
//! (and `.gzi`) index, contig names matched with or without `chr` (plus alias tables), genomic
//! regions (`chr:start-end`), and writing missing indexes (`seqcnn index`).
//!
//! Coordinates are 0-based and half-open everywhere in this module, as in BED; only the text form
//! of a region (`20:1-1000`, as samtools writes it) is 1-based inclusive, and [`Genome::region`]
//! converts it on parsing.
//!
//! # Reading many small windows
//! Training and tiling read millions of ~1 kb windows at random places, from many threads. The
//! `.fai` and `.gzi` are read with noodles, but the reads themselves do not go through noodles'
//! `IndexedReader`: that reader needs `&mut self` (so one per thread) and inflates the whole
//! 64 KiB BGZF block again on every query, even when consecutive windows fall in the same block.
//! Instead a [`Genome`] reads with positional reads (`pread`) on one shared file handle, which need
//! no lock, and keeps a small cache of inflated BGZF blocks behind a mutex that is held only to
//! look up or insert an `Arc` (never while inflating). So [`Genome::fetch`] takes `&self`, a
//! `Genome` is `Send + Sync` and can be shared by all threads of the rayon pool, and a sequential
//! scan inflates each block once.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use noodles_bgzf as bgzf;
use noodles_fasta as fasta;

use crate::error::{Error, Result};
use crate::io::output::AtomicOutput;

/// Number of inflated BGZF blocks (up to 64 KiB each) kept per genome.
const BLOCK_CACHE: usize = 16;

/// How a contig's bases sit in the (uncompressed) file: the `.fai` columns.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Byte offset of the first base.
    offset: u64,
    /// Bases per full line.
    line_bases: u64,
    /// Bytes per full line, line end included.
    line_width: u64,
}

impl Layout {
    /// Byte offset of the base at 0-based position `pos` (or, for `pos` = length, just past the
    /// last base's line).
    fn byte(&self, pos: u64) -> u64 {
        self.offset + pos / self.line_bases * self.line_width + pos % self.line_bases
    }
}

/// Where the bytes come from.
enum Source {
    /// Uncompressed FASTA: offsets are file offsets.
    Plain,
    /// BGZF: `blocks[i] = (compressed, uncompressed)` start offsets of block `i` (the `.gzi`
    /// entries with `(0, 0)` put in front); `file_len` ends the last block.
    Bgzf {
        blocks: Vec<(u64, u64)>,
        file_len: u64,
        cache: Mutex<Vec<(usize, Arc<Vec<u8>>)>>,
    },
}

/// An indexed FASTA file (plain + `.fai`, or BGZF + `.fai` + `.gzi`) with random access to any
/// stretch of any contig. See the module documentation for why reads take `&self`.
///
/// ```
/// use std::io::Write;
/// use seqcnn::io::genome::Genome;
/// let dir = tempfile::tempdir().unwrap();
/// let fa = dir.path().join("toy.fa");
/// std::fs::write(&fa, ">chr1 toy\nACGTACGTAC\ngtNNacgt\n>chrM\nAAAACCCC\n").unwrap();
/// assert!(Genome::open(&fa).unwrap_err().to_string().contains("run `seqcnn index"));
/// seqcnn::io::genome::write_index(&fa, false).unwrap();
/// let g = Genome::open(&fa).unwrap();
/// assert_eq!(g.contigs(), [("chr1".to_string(), 18), ("chrM".to_string(), 8)]);
/// assert_eq!(g.fetch("1", 8, 14).unwrap(), b"ACGTNN"); // `1` = `chr1`; uppercase
/// assert_eq!(g.fetch("MT", 0, 4).unwrap(), b"AAAA"); // `MT` = `chrM`
/// assert_eq!(g.fetch_padded("chrM", -2, 3).unwrap(), b"NNAAA");
/// ```
pub struct Genome {
    path: PathBuf,
    contigs: Vec<(String, u64)>,
    layouts: Vec<Layout>,
    /// Exact names.
    by_name: HashMap<String, usize>,
    /// Names with `chr` removed and `M` spelled `MT` (see [`contig_key`]); `None` when two
    /// contigs share a key, so only their exact names work.
    by_key: HashMap<String, Option<usize>>,
    /// Names from an alias table.
    aliases: HashMap<String, usize>,
    file: File,
    source: Source,
}

impl std::fmt::Debug for Genome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Genome")
            .field("path", &self.path)
            .field("contigs", &self.contigs.len())
            .field("bgzf", &matches!(self.source, Source::Bgzf { .. }))
            .finish()
    }
}

/// A stretch of one contig, 0-based half-open, with the contig named as in the genome.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region {
    /// The genome's name of the contig.
    pub contig: String,
    /// First base, 0-based.
    pub start: u64,
    /// One past the last base.
    pub end: u64,
}

impl Region {
    /// Length in bases.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// True when the region holds no base.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

impl std::fmt::Display for Region {
    /// The samtools form, 1-based inclusive: `20:1-1000` for the first 1000 bases.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}-{}", self.contig, self.start + 1, self.end)
    }
}

/// Parses a region as samtools writes it: `NAME:START-END`, 1-based and inclusive, commas
/// allowed in the numbers (`chr20:50,000,001-63,025,520`), or a bare `NAME` for a whole contig
/// (returned with no range). The result is 0-based half-open: `(name, Some((START - 1, END)))`.
/// The name is not checked here; [`Genome::region`] does that.
///
/// ```
/// use seqcnn::io::genome::parse_region;
/// assert_eq!(parse_region("chr20:1-1,000").unwrap(), ("chr20".to_string(), Some((0, 1000))));
/// assert_eq!(parse_region("20").unwrap(), ("20".to_string(), None));
/// assert!(parse_region("20:0-10").is_err()); // 1-based: positions start at 1
/// assert!(parse_region("20:10-5").is_err());
/// ```
pub fn parse_region(text: &str) -> Result<(String, Option<(u64, u64)>)> {
    let bad = |why: &str| {
        Error::Config(format!(
            "region '{text}': {why} (expected NAME or NAME:START-END, 1-based inclusive)"
        ))
    };
    let text_t = text.trim();
    if text_t.is_empty() {
        return Err(bad("empty"));
    }
    let Some((name, range)) = text_t.rsplit_once(':') else {
        return Ok((text_t.to_string(), None));
    };
    if name.is_empty() {
        return Err(bad("no contig name"));
    }
    let Some((a, b)) = range.split_once('-') else {
        return Err(bad("no '-' between START and END"));
    };
    let num = |s: &str| -> Result<u64> {
        let digits: String = s.chars().filter(|&c| c != ',').collect();
        digits
            .parse::<u64>()
            .map_err(|_| bad(&format!("'{s}' is not a position")))
    };
    let (start, end) = (num(a)?, num(b)?);
    if start == 0 {
        return Err(bad("positions are 1-based, START must be at least 1"));
    }
    if end < start {
        return Err(bad("END is before START"));
    }
    Ok((name.to_string(), Some((start - 1, end))))
}

/// The name a contig is matched under when the exact name is not found: without a leading `chr`
/// (any case), and the mitochondrion `M` spelled `MT`. So `chr20` = `20` and `chrM` = `MT`.
///
/// ```
/// use seqcnn::io::genome::contig_key;
/// assert_eq!(contig_key("chr20"), contig_key("20"));
/// assert_eq!(contig_key("chrM"), contig_key("MT"));
/// assert_ne!(contig_key("chr2"), contig_key("20"));
/// ```
pub fn contig_key(name: &str) -> String {
    let bare = match name.get(..3) {
        Some(p) if p.eq_ignore_ascii_case("chr") && name.len() > 3 => &name[3..],
        _ => name,
    };
    if bare.eq_ignore_ascii_case("M") || bare.eq_ignore_ascii_case("MT") {
        "MT".to_string()
    } else {
        bare.to_string()
    }
}

/// Levenshtein distance between two names (for "did you mean" suggestions).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The `.fai` path of a FASTA: `X` -> `X.fai`.
pub fn fai_path(path: &Path) -> PathBuf {
    with_suffix(path, ".fai")
}

/// The `.gzi` path of a BGZF FASTA: `X` -> `X.gzi`.
pub fn gzi_path(path: &Path) -> PathBuf {
    with_suffix(path, ".gzi")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Bgzf,
    /// gzip, but not blocked: no random access.
    Gzip,
}

fn sniff(path: &Path) -> Result<Compression> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = [0u8; 18];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Ok(if got >= 2 && head[..2] == [0x1f, 0x8b] {
        if got == 18 && is_bgzf_header(&head) {
            Compression::Bgzf
        } else {
            Compression::Gzip
        }
    } else {
        Compression::None
    })
}

/// A gzip member header with the BGZF `BC` extra field (the fixed 18-byte form every BGZF
/// writer uses).
fn is_bgzf_header(h: &[u8; 18]) -> bool {
    h[..4] == [0x1f, 0x8b, 0x08, 0x04] && h[10..12] == [6, 0] && h[12..16] == [b'B', b'C', 2, 0]
}

fn not_bgzf(path: &Path) -> Error {
    Error::Config(format!(
        "{} is gzip-compressed but not BGZF, so it cannot be read at random places: \
         decompress it (plain FASTA can be indexed too) or recompress it with bgzip \
         (from htslib/samtools): `zcat {0} | bgzip -c > NEW.fa.gz`",
        path.display()
    ))
}

/// Reads exactly `buf.len()` bytes at `offset` without moving any shared cursor.
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let (mut done, mut buf) = (0u64, buf);
        while !buf.is_empty() {
            match file.seek_read(buf, offset + done) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    done += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Genome {
    /// Opens an indexed FASTA: plain with `X.fai`, or BGZF with `X.fai` and `X.gzi`. A missing
    /// index is an error that says to run `seqcnn index X`; a gzip file that is not BGZF is an
    /// error that says how to recompress it.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let fa = dir.path().join("g.fa");
    /// std::fs::write(&fa, ">20\nACGT\n").unwrap();
    /// let e = seqcnn::io::genome::Genome::open(&fa).err().unwrap();
    /// assert_eq!(e.to_string(), format!("no index for {0}: run `seqcnn index {0}`", fa.display()));
    /// ```
    pub fn open(path: &Path) -> Result<Genome> {
        let compression = sniff(path)?;
        if compression == Compression::Gzip {
            return Err(not_bgzf(path));
        }
        let fai = fai_path(path);
        let gzi = gzi_path(path);
        let missing = !fai.is_file() || (compression == Compression::Bgzf && !gzi.is_file());
        if missing {
            return Err(Error::Config(format!(
                "no index for {0}: run `seqcnn index {0}`",
                path.display()
            )));
        }
        let index = fasta::fai::fs::read(&fai)
            .map_err(|e| Error::parse(&fai, 0, format!("cannot read the FASTA index: {e}")))?;
        let records: Vec<fasta::fai::Record> = index.into();
        if records.is_empty() {
            return Err(Error::parse(&fai, 0, "the FASTA index lists no contigs"));
        }
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut contigs = Vec::with_capacity(records.len());
        let mut layouts = Vec::with_capacity(records.len());
        let mut by_name = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            let name = String::from_utf8(r.name().to_vec())
                .map_err(|_| Error::parse(&fai, i as u64 + 1, "contig name is not valid UTF-8"))?;
            let layout = Layout {
                offset: r.position(),
                line_bases: r.line_base_count().get(),
                line_width: r.line_width().get(),
            };
            if layout.line_width <= layout.line_bases {
                return Err(Error::parse(
                    &fai,
                    i as u64 + 1,
                    format!("contig '{name}': line width must exceed bases per line"),
                ));
            }
            if compression == Compression::None && layout.byte(r.length()) > file_len + 1 {
                return Err(Error::parse(
                    &fai,
                    i as u64 + 1,
                    format!(
                        "contig '{name}' runs past the end of {}: the index is stale, \
                         rebuild it with `seqcnn index --force {}`",
                        path.display(),
                        path.display()
                    ),
                ));
            }
            if by_name.insert(name.clone(), i).is_some() {
                return Err(Error::parse(
                    &fai,
                    i as u64 + 1,
                    format!("contig '{name}' is listed twice"),
                ));
            }
            contigs.push((name, r.length()));
            layouts.push(layout);
        }
        let mut by_key: HashMap<String, Option<usize>> = HashMap::new();
        for (i, (name, _)) in contigs.iter().enumerate() {
            by_key
                .entry(contig_key(name))
                .and_modify(|v| *v = None)
                .or_insert(Some(i));
        }
        let source = match compression {
            Compression::Bgzf => {
                let gz = bgzf::gzi::fs::read(&gzi).map_err(|e| {
                    Error::parse(&gzi, 0, format!("cannot read the BGZF index: {e}"))
                })?;
                let mut blocks = vec![(0u64, 0u64)];
                blocks.extend(gz.as_ref().iter().copied());
                if blocks
                    .windows(2)
                    .any(|w| w[1].0 <= w[0].0 || w[1].1 < w[0].1)
                {
                    return Err(Error::parse(
                        &gzi,
                        0,
                        "BGZF index offsets are not increasing",
                    ));
                }
                if blocks.last().is_some_and(|b| b.0 > file_len) {
                    return Err(Error::parse(
                        &gzi,
                        0,
                        format!(
                            "BGZF index points past the end of {}: rebuild it with \
                             `seqcnn index --force {}`",
                            path.display(),
                            path.display()
                        ),
                    ));
                }
                Source::Bgzf {
                    blocks,
                    file_len,
                    cache: Mutex::new(Vec::with_capacity(BLOCK_CACHE)),
                }
            }
            _ => Source::Plain,
        };
        Ok(Genome {
            path: path.to_path_buf(),
            contigs,
            layouts,
            by_name,
            by_key,
            aliases: HashMap::new(),
            file,
            source,
        })
    }

    /// Adds an alias table: a two-column text file (tab or spaces), one `ALIAS CONTIG` pair per
    /// line, where `CONTIG` names a contig of this genome (itself matched with or without `chr`);
    /// the columns may also come the other way round. Blank lines and lines starting with `#` are
    /// skipped. Errors name the file and line.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let fa = dir.path().join("g.fa");
    /// std::fs::write(&fa, ">NC_000020.11\nACGT\n").unwrap();
    /// seqcnn::io::genome::write_index(&fa, false).unwrap();
    /// let aliases = dir.path().join("alias.tsv");
    /// std::fs::write(&aliases, "# alias\tgenome\nchr20\tNC_000020.11\n").unwrap();
    /// let g = seqcnn::io::genome::Genome::open(&fa).unwrap().with_aliases(&aliases).unwrap();
    /// assert_eq!(g.resolve("chr20").unwrap(), "NC_000020.11");
    /// assert_eq!(g.resolve("20").unwrap(), "NC_000020.11"); // `chr` rule applies to aliases too
    /// ```
    pub fn with_aliases(mut self, table: &Path) -> Result<Genome> {
        let name = super::input::input_name(table);
        let reader = super::input::open_input(table)?;
        for (i, line) in reader.lines().enumerate() {
            let lineno = i as u64 + 1;
            let line = line.map_err(|e| Error::io(&name, e))?;
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = t.split_whitespace().collect();
            if cols.len() != 2 {
                return Err(Error::parse(
                    &name,
                    lineno,
                    format!("expected 2 columns (ALIAS CONTIG), found {}", cols.len()),
                ));
            }
            let (alias, id) = match (self.lookup(cols[1]), self.lookup(cols[0])) {
                (Some(id), _) => (cols[0], id),
                (None, Some(id)) => (cols[1], id),
                (None, None) => {
                    return Err(Error::parse(
                        &name,
                        lineno,
                        format!(
                            "neither '{}' nor '{}' is a contig of {}",
                            cols[0],
                            cols[1],
                            self.path.display()
                        ),
                    ));
                }
            };
            if let Some(&old) = self.aliases.get(alias)
                && old != id
            {
                return Err(Error::parse(
                    &name,
                    lineno,
                    format!(
                        "alias '{alias}' given for both '{}' and '{}'",
                        self.contigs[old].0, self.contigs[id].0
                    ),
                ));
            }
            self.aliases.insert(alias.to_string(), id);
            self.aliases.entry(contig_key(alias)).or_insert(id);
        }
        Ok(self)
    }

    /// The FASTA file this genome reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Contig names and lengths, in file order.
    pub fn contigs(&self) -> &[(String, u64)] {
        &self.contigs
    }

    /// Finds a contig by exact name, then alias, then `chr`-less key.
    fn lookup(&self, name: &str) -> Option<usize> {
        if let Some(&i) = self.by_name.get(name) {
            return Some(i);
        }
        if let Some(&i) = self.aliases.get(name) {
            return Some(i);
        }
        let key = contig_key(name);
        if let Some(&Some(i)) = self.by_key.get(&key) {
            return Some(i);
        }
        self.aliases.get(&key).copied()
    }

    /// The index of a contig in [`contigs`](Self::contigs), or the message for an unknown one:
    /// it names the contig and the closest known names.
    pub(crate) fn contig_id(&self, name: &str) -> std::result::Result<usize, String> {
        self.lookup(name).ok_or_else(|| self.unknown(name))
    }

    fn unknown(&self, name: &str) -> String {
        let key = contig_key(name);
        let mut scored: Vec<(usize, &str)> = self
            .contigs
            .iter()
            .map(|(c, _)| {
                let d = edit_distance(name, c).min(edit_distance(&key, &contig_key(c)));
                (d, c.as_str())
            })
            .chain(
                self.aliases
                    .keys()
                    .map(|a| (edit_distance(name, a), a.as_str())),
            )
            .collect();
        scored.sort();
        scored.dedup_by(|a, b| a.1 == b.1);
        let best: Vec<&str> = scored.iter().take(3).map(|s| s.1).collect();
        format!(
            "unknown contig '{name}': not in {} ({} contig{}); closest: {}",
            self.path.display(),
            self.contigs.len(),
            if self.contigs.len() == 1 { "" } else { "s" },
            best.join(", ")
        )
    }

    /// The genome's own name for `name`, matched exactly, through the alias table, or with or
    /// without the `chr` prefix (`chr20` = `20`, `chrM` = `MT`). An unknown name is an error that
    /// names it and the closest known names.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let fa = dir.path().join("g.fa");
    /// std::fs::write(&fa, ">20\nACGT\n>21\nACGT\n>MT\nAC\n").unwrap();
    /// seqcnn::io::genome::write_index(&fa, false).unwrap();
    /// let g = seqcnn::io::genome::Genome::open(&fa).unwrap();
    /// assert_eq!(g.resolve("chr20").unwrap(), "20");
    /// assert_eq!(g.resolve("chrM").unwrap(), "MT");
    /// let e = g.resolve("chr22").unwrap_err().to_string();
    /// assert!(e.contains("unknown contig 'chr22'") && e.contains("closest: 20, 21"), "{e}");
    /// ```
    pub fn resolve(&self, name: &str) -> Result<&str> {
        match self.contig_id(name) {
            Ok(i) => Ok(&self.contigs[i].0),
            Err(msg) => Err(Error::Config(msg)),
        }
    }

    /// Length of a contig (any accepted spelling of its name).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let fa = dir.path().join("g.fa");
    /// std::fs::write(&fa, ">chrX\nACGTA\n").unwrap();
    /// seqcnn::io::genome::write_index(&fa, false).unwrap();
    /// let g = seqcnn::io::genome::Genome::open(&fa).unwrap();
    /// assert_eq!(g.contig_len("X").unwrap(), 5);
    /// ```
    pub fn contig_len(&self, name: &str) -> Result<u64> {
        let i = self.contig_id(name).map_err(Error::Config)?;
        Ok(self.contigs[i].1)
    }

    /// Parses a region (see [`parse_region`]), resolves its contig and checks it lies inside the
    /// contig; a bare name is the whole contig (also when the name itself contains `:`).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let fa = dir.path().join("g.fa");
    /// std::fs::write(&fa, ">20\nACGTACGTAC\n").unwrap();
    /// seqcnn::io::genome::write_index(&fa, false).unwrap();
    /// let g = seqcnn::io::genome::Genome::open(&fa).unwrap();
    /// let r = g.region("chr20:3-6").unwrap();
    /// assert_eq!((r.contig.as_str(), r.start, r.end), ("20", 2, 6));
    /// assert_eq!(r.to_string(), "20:3-6");
    /// assert_eq!(g.region("chr20").unwrap().end, 10);
    /// assert!(g.region("20:5-11").is_err()); // past the end
    /// ```
    pub fn region(&self, text: &str) -> Result<Region> {
        if let Some(i) = self.lookup(text.trim()) {
            let (contig, len) = &self.contigs[i];
            return Ok(Region {
                contig: contig.clone(),
                start: 0,
                end: *len,
            });
        }
        let (name, range) = parse_region(text)?;
        let i = self.contig_id(&name).map_err(Error::Config)?;
        let (contig, len) = &self.contigs[i];
        let (start, end) = range.unwrap_or((0, *len));
        if end > *len {
            return Err(Error::Config(format!(
                "region '{text}' ends at {end}, past the end of contig '{contig}' ({len} bp)"
            )));
        }
        Ok(Region {
            contig: contig.clone(),
            start,
            end,
        })
    }

    /// The bases `start..end` (0-based, half-open) of a contig, uppercase. The contig is matched
    /// as by [`resolve`](Self::resolve); `end` past the contig's end or `start > end` is an
    /// error (use [`fetch_padded`](Self::fetch_padded) for windows that may stick out).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let fa = dir.path().join("g.fa");
    /// std::fs::write(&fa, ">20\nACGTA\ncgtac\nGT\n").unwrap();
    /// seqcnn::io::genome::write_index(&fa, false).unwrap();
    /// let g = seqcnn::io::genome::Genome::open(&fa).unwrap();
    /// assert_eq!(g.fetch("20", 3, 8).unwrap(), b"TACGT");
    /// assert_eq!(g.fetch("20", 12, 12).unwrap(), b"");
    /// assert!(g.fetch("20", 10, 13).is_err());
    /// ```
    pub fn fetch(&self, contig: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        let i = self.contig_id(contig).map_err(Error::Config)?;
        let (name, len) = &self.contigs[i];
        if start > end || end > *len {
            return Err(Error::Config(format!(
                "cannot fetch {name}:{start}-{end} (0-based): contig '{name}' has {len} bp"
            )));
        }
        let mut out = Vec::with_capacity((end - start) as usize);
        self.read_bases(i, start, end, &mut out)?;
        Ok(out)
    }

    /// Like [`fetch`](Self::fetch), but `start` may be negative and `end` past the contig's end:
    /// those positions come back as `N`. Always returns `end - start` bases (for windows near
    /// contig ends).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let fa = dir.path().join("g.fa");
    /// std::fs::write(&fa, ">20\nACGTA\n").unwrap();
    /// seqcnn::io::genome::write_index(&fa, false).unwrap();
    /// let g = seqcnn::io::genome::Genome::open(&fa).unwrap();
    /// assert_eq!(g.fetch_padded("20", -2, 7).unwrap(), b"NNACGTANN");
    /// assert_eq!(g.fetch_padded("20", 6, 8).unwrap(), b"NN");
    /// assert_eq!(g.fetch_padded("20", -3, -1).unwrap(), b"NN");
    /// ```
    pub fn fetch_padded(&self, contig: &str, start: i64, end: i64) -> Result<Vec<u8>> {
        let i = self.contig_id(contig).map_err(Error::Config)?;
        if start > end {
            return Err(Error::Config(format!(
                "cannot fetch {contig}:{start}-{end}: start is after end"
            )));
        }
        let len = self.contigs[i].1 as i64;
        let total = (end - start) as usize;
        // The part inside the contig, if any.
        let (a, b) = (start.max(0), end.min(len));
        if a >= b {
            return Ok(vec![b'N'; total]);
        }
        let mut out = Vec::with_capacity(total);
        out.resize((a - start) as usize, b'N');
        self.read_bases(i, a as u64, b as u64, &mut out)?;
        out.resize(total, b'N');
        Ok(out)
    }

    /// Appends the bases `start..end` of contig `i` (in range) to `out`, uppercase.
    fn read_bases(&self, i: usize, start: u64, end: u64, out: &mut Vec<u8>) -> Result<()> {
        if start == end {
            return Ok(());
        }
        let layout = &self.layouts[i];
        let (a, b) = (layout.byte(start), layout.byte(end));
        let first = out.len();
        let mut push = |chunk: &[u8]| {
            out.extend(
                chunk
                    .iter()
                    .filter(|&&c| c != b'\n' && c != b'\r')
                    .map(u8::to_ascii_uppercase),
            );
        };
        match &self.source {
            Source::Plain => {
                let mut buf = vec![0u8; (b - a) as usize];
                read_exact_at(&self.file, &mut buf, a).map_err(|e| self.stale(i, e))?;
                push(&buf);
            }
            Source::Bgzf { blocks, .. } => {
                let mut pos = a;
                while pos < b {
                    // The block holding `pos`: the last one starting at or before it.
                    let k = blocks.partition_point(|blk| blk.1 <= pos) - 1;
                    let data = self.block(k)?;
                    let skip = (pos - blocks[k].1) as usize;
                    if skip >= data.len() {
                        let e = io::Error::new(io::ErrorKind::UnexpectedEof, "past the last block");
                        return Err(self.stale(i, e));
                    }
                    let take = ((b - pos) as usize).min(data.len() - skip);
                    push(&data[skip..skip + take]);
                    pos += take as u64;
                }
            }
        }
        let got = &out[first..];
        if got.len() as u64 != end - start || got.contains(&b'>') {
            let e = io::Error::new(io::ErrorKind::InvalidData, "bases and index disagree");
            return Err(self.stale(i, e));
        }
        Ok(())
    }

    fn stale(&self, i: usize, e: io::Error) -> Error {
        Error::io(
            &self.path,
            io::Error::new(
                e.kind(),
                format!(
                    "reading contig '{}': {e}; if the file changed, rebuild the index with \
                     `seqcnn index --force {}`",
                    self.contigs[i].0,
                    self.path.display()
                ),
            ),
        )
    }

    /// Block `k` of a BGZF genome, inflated, from the cache or the file.
    fn block(&self, k: usize) -> Result<Arc<Vec<u8>>> {
        let Source::Bgzf {
            blocks,
            file_len,
            cache,
        } = &self.source
        else {
            unreachable!("block() is only called for BGZF genomes");
        };
        // A poisoned lock only means another thread panicked mid-update of a plain Vec of
        // finished entries; the entries are still whole, so keep using it.
        {
            let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(j) = c.iter().position(|e| e.0 == k) {
                let hit = c.remove(j);
                let data = Arc::clone(&hit.1);
                c.push(hit);
                return Ok(data);
            }
        }
        let from = blocks[k].0;
        let to = blocks.get(k + 1).map_or(*file_len, |b| b.0);
        let mut raw = vec![0u8; (to - from) as usize];
        let corrupt = |e: io::Error| {
            Error::io(
                &self.path,
                io::Error::new(e.kind(), format!("BGZF block at byte {from}: {e}")),
            )
        };
        read_exact_at(&self.file, &mut raw, from).map_err(corrupt)?;
        let mut data = Vec::with_capacity(bgzf_max_block());
        bgzf::io::Reader::new(&raw[..])
            .read_to_end(&mut data)
            .map_err(corrupt)?;
        let data = Arc::new(data);
        let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.len() >= BLOCK_CACHE {
            c.remove(0);
        }
        c.push((k, Arc::clone(&data)));
        Ok(data)
    }
}

const fn bgzf_max_block() -> usize {
    1 << 16
}

/// What [`write_index`] did with one index file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// The index's path.
    pub path: PathBuf,
    /// True when written now; false when it existed and was kept.
    pub written: bool,
}

/// Writes the missing indexes of a FASTA file: `X.fai` always, and `X.gzi` when `X` is BGZF
/// (same formats as `samtools faidx` and `bgzip -r`). Existing indexes are kept unless `force`.
/// Each index appears whole or not at all. A plain gzip file is an error saying how to make it
/// BGZF; a FASTA whose lines are uneven is an error naming the contig.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let fa = dir.path().join("g.fa");
/// std::fs::write(&fa, ">a\nACGT\nAC\n>b desc\nGGG\n").unwrap();
/// let done = seqcnn::io::genome::write_index(&fa, false).unwrap();
/// assert!(done.len() == 1 && done[0].written);
/// assert_eq!(std::fs::read_to_string(dir.path().join("g.fa.fai")).unwrap(),
///            "a\t6\t3\t4\t5\nb\t3\t19\t3\t4\n");
/// assert!(!seqcnn::io::genome::write_index(&fa, false).unwrap()[0].written); // kept
/// ```
pub fn write_index(path: &Path, force: bool) -> Result<Vec<IndexFile>> {
    let compression = sniff(path)?;
    if compression == Compression::Gzip {
        return Err(not_bgzf(path));
    }
    let mut done = Vec::new();
    if compression == Compression::Bgzf {
        let gzi = gzi_path(path);
        let written = force || !gzi.exists();
        if written {
            let index = scan_bgzf_blocks(path)?;
            let mut out = AtomicOutput::create(&gzi)?;
            bgzf::gzi::io::Writer::new(&mut out)
                .write_index(&index)
                .map_err(|e| Error::io(&gzi, e))?;
            out.commit()?;
        }
        done.push(IndexFile { path: gzi, written });
    }
    let fai = fai_path(path);
    let written = force || !fai.exists();
    if written {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let reader: Box<dyn BufRead> = match compression {
            Compression::Bgzf => Box::new(bgzf::io::Reader::new(BufReader::new(file))),
            _ => Box::new(BufReader::with_capacity(1 << 16, file)),
        };
        let index = build_fai(path, reader)?;
        let mut out = AtomicOutput::create(&fai)?;
        fasta::fai::io::Writer::new(&mut out)
            .write_index(&index)
            .map_err(|e| Error::io(&fai, e))?;
        out.flush().map_err(|e| Error::io(&fai, e))?;
        out.commit()?;
    }
    done.push(IndexFile { path: fai, written });
    Ok(done)
}

/// Indexes the (uncompressed) FASTA stream with noodles' indexer.
fn build_fai(path: &Path, reader: Box<dyn BufRead>) -> Result<fasta::fai::Index> {
    let mut indexer = fasta::io::Indexer::new(reader);
    let mut records: Vec<fasta::fai::Record> = Vec::new();
    loop {
        match indexer.index_record() {
            Ok(Some(r)) => records.push(r),
            Ok(None) => break,
            Err(e) => {
                let after = records
                    .last()
                    .map(|r| format!(" (after contig '{}')", r.name()))
                    .unwrap_or_default();
                return Err(Error::parse(
                    path,
                    0,
                    format!(
                        "cannot index{after}: {e}; every line of a record but its last must \
                         hold the same number of bases"
                    ),
                ));
            }
        }
    }
    if records.is_empty() {
        return Err(Error::parse(path, 0, "no FASTA records to index"));
    }
    Ok(fasta::fai::Index::from(records))
}

/// Walks the BGZF blocks of a file (headers and sizes only, no inflating) and returns the `.gzi`
/// entries: `(compressed, uncompressed)` offsets of the start of every block after the first
/// that follows a block with data, as `bgzip -r` writes them.
fn scan_bgzf_blocks(path: &Path) -> Result<bgzf::gzi::Index> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 16, file);
    let (mut coff, mut uoff) = (0u64, 0u64);
    let mut entries = Vec::new();
    let mut rest = vec![0u8; 1 << 16];
    loop {
        let mut head = [0u8; 18];
        let n = read_full(&mut r, &mut head).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        let bad = |msg: &str| Error::parse(path, 0, format!("BGZF block at byte {coff}: {msg}"));
        if n < head.len() {
            return Err(bad("file ends inside a block header (truncated?)"));
        }
        if !is_bgzf_header(&head) {
            return Err(bad("not a BGZF block header (mixed gzip and BGZF?)"));
        }
        let bsize = u64::from(u16::from_le_bytes([head[16], head[17]])) + 1;
        if bsize < 18 + 8 {
            return Err(bad("block size too small"));
        }
        let tail = (bsize - 18) as usize;
        let got = read_full(&mut r, &mut rest[..tail]).map_err(|e| Error::io(path, e))?;
        if got < tail {
            return Err(bad("file ends inside the block (truncated?)"));
        }
        let isize = u32::from_le_bytes([
            rest[tail - 4],
            rest[tail - 3],
            rest[tail - 2],
            rest[tail - 1],
        ]);
        coff += bsize;
        uoff += u64::from(isize);
        if isize > 0 {
            entries.push((coff, uoff));
        }
    }
    Ok(bgzf::gzi::Index::from(entries))
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genome(dir: &Path, name: &str, text: &str) -> Genome {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        write_index(&p, false).unwrap();
        Genome::open(&p).unwrap()
    }

    fn bgzip(bytes: &[u8]) -> Vec<u8> {
        let mut w = bgzf::io::Writer::new(Vec::new());
        w.write_all(bytes).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn edit_distance_small_cases() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("chr21", "21"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("20", "20"), 0);
    }

    #[test]
    fn contig_keys() {
        assert_eq!(contig_key("chrM"), "MT");
        assert_eq!(contig_key("M"), "MT");
        assert_eq!(contig_key("chrMT"), "MT");
        assert_eq!(contig_key("Chr1"), "1");
        assert_eq!(contig_key("chr"), "chr");
        assert_eq!(contig_key("chrUn_gl000220"), "Un_gl000220");
    }

    #[test]
    fn fetch_every_range_matches_the_sequence() {
        let dir = tempfile::tempdir().unwrap();
        // Lines of 7 bases, CRLF line ends, lowercase, two contigs.
        let seq1 = "ACGTACGtacgtaNNNNacgtTTGCAaacgG";
        let seq2 = "GGGCCCA";
        let mut text = String::from(">chr1 first\r\n");
        for chunk in seq1.as_bytes().chunks(7) {
            text.push_str(std::str::from_utf8(chunk).unwrap());
            text.push_str("\r\n");
        }
        text.push_str(">chr2\r\n");
        text.push_str(seq2);
        text.push_str("\r\n");
        let plain = genome(dir.path(), "g.fa", &text);
        let gz_path = dir.path().join("g.fa.gz");
        std::fs::write(&gz_path, bgzip(text.as_bytes())).unwrap();
        write_index(&gz_path, false).unwrap();
        let gz = Genome::open(&gz_path).unwrap();
        let up1 = seq1.to_ascii_uppercase();
        for g in [&plain, &gz] {
            assert_eq!(g.contigs()[0], ("chr1".to_string(), seq1.len() as u64));
            for s in 0..=seq1.len() {
                for e in s..=seq1.len() {
                    let got = g.fetch("1", s as u64, e as u64).unwrap();
                    assert_eq!(got, up1.as_bytes()[s..e].to_vec(), "{s}..{e}");
                }
            }
            assert_eq!(g.fetch("chr2", 0, 7).unwrap(), seq2.as_bytes());
            assert!(g.fetch("chr2", 0, 8).is_err());
            assert!(g.fetch("chr2", 5, 4).is_err());
        }
    }

    #[test]
    fn bgzf_fetch_across_many_blocks_and_cache() {
        let dir = tempfile::tempdir().unwrap();
        // ~300 kb over several 64 KiB blocks, so windows straddle block boundaries.
        let mut seq = Vec::new();
        let mut x: u32 = 12345;
        for _ in 0..300_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            seq.push(b"ACGT"[(x >> 16) as usize % 4]);
        }
        let mut text = b">big\n".to_vec();
        for line in seq.chunks(60) {
            text.extend_from_slice(line);
            text.push(b'\n');
        }
        let p = dir.path().join("big.fa.gz");
        std::fs::write(&p, bgzip(&text)).unwrap();
        let done = write_index(&p, false).unwrap();
        assert_eq!(done.len(), 2);
        let g = Genome::open(&p).unwrap();
        let Source::Bgzf { blocks, .. } = &g.source else {
            panic!("not BGZF")
        };
        assert!(blocks.len() >= 5, "{}", blocks.len());
        for start in (0..299_000u64).step_by(997) {
            let got = g.fetch("big", start, start + 1000).unwrap();
            assert_eq!(got, &seq[start as usize..start as usize + 1000], "{start}");
        }
        // A 100 kb read spanning blocks, and the whole contig.
        assert_eq!(g.fetch("big", 1000, 101_000).unwrap(), &seq[1000..101_000]);
        assert_eq!(g.fetch("big", 0, 300_000).unwrap(), seq);
    }

    #[test]
    fn shared_across_threads() {
        fn is_sync<T: Send + Sync>() {}
        is_sync::<Genome>();
    }

    #[test]
    fn plain_gzip_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.fa.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b">a\nACGT\n").unwrap();
        std::fs::write(&p, e.finish().unwrap()).unwrap();
        for msg in [
            write_index(&p, false).unwrap_err().to_string(),
            Genome::open(&p).err().unwrap().to_string(),
        ] {
            assert!(msg.contains("not BGZF") && msg.contains("bgzip"), "{msg}");
        }
    }

    #[test]
    fn missing_gzi_names_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.fa.gz");
        std::fs::write(&p, bgzip(b">a\nACGT\n")).unwrap();
        write_index(&p, false).unwrap();
        std::fs::remove_file(gzi_path(&p)).unwrap();
        let e = Genome::open(&p).err().unwrap().to_string();
        assert!(e.contains("run `seqcnn index"), "{e}");
        // `write_index` puts back only what is missing.
        let done = write_index(&p, false).unwrap();
        assert_eq!(
            done.iter().map(|d| d.written).collect::<Vec<_>>(),
            [true, false]
        );
        assert!(Genome::open(&p).is_ok());
    }

    #[test]
    fn uneven_lines_cannot_be_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.fa");
        std::fs::write(&p, ">ok\nACGT\nAC\n>bad\nACGT\nAC\nACGT\n").unwrap();
        let e = write_index(&p, false).unwrap_err().to_string();
        assert!(e.contains("after contig 'ok'"), "{e}");
        assert!(!fai_path(&p).exists(), "no partial index");
    }

    #[test]
    fn stale_index_is_an_error_not_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.fa");
        std::fs::write(&p, ">a\nACGTACGT\nACGT\n>b\nTTTT\n").unwrap();
        write_index(&p, false).unwrap();
        // The file changes under the index: `a` gains a line, so `b` moved.
        std::fs::write(&p, ">a\nACGTACGT\nACGT\nAAAA\n>b\nTTTT\n").unwrap();
        let g = Genome::open(&p).unwrap();
        let e = g.fetch("b", 0, 4).unwrap_err().to_string();
        assert!(e.contains("seqcnn index --force"), "{e}");
        // `a` loses a line: `b` now ends past the file's end, caught on opening.
        std::fs::write(&p, ">a\nACGTACGT\n>b\nTTTT\n").unwrap();
        let e = Genome::open(&p).err().unwrap().to_string();
        assert!(e.contains("stale") && e.contains("g.fa.fai:2:"), "{e}");
    }

    #[test]
    fn ambiguous_keys_need_exact_names() {
        let dir = tempfile::tempdir().unwrap();
        let g = genome(dir.path(), "g.fa", ">chr1\nAAAA\n>1\nCCCC\n>chrM\nGG\n");
        assert_eq!(g.resolve("chr1").unwrap(), "chr1");
        assert_eq!(g.resolve("1").unwrap(), "1");
        assert!(g.resolve("CHR1").is_err());
        assert_eq!(g.resolve("M").unwrap(), "chrM");
        assert_eq!(g.resolve("chrMT").unwrap(), "chrM");
    }

    #[test]
    fn alias_table_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let g = genome(dir.path(), "g.fa", ">NC_1\nAAAA\n>NC_2\nCC\n");
        let t = dir.path().join("a.tsv");
        std::fs::write(&t, "\n# c\nNC_1 one\nnope nada\n").unwrap();
        let e = g.with_aliases(&t).err().unwrap().to_string();
        assert!(
            e.contains("a.tsv:4:") && e.contains("neither 'nope'"),
            "{e}"
        );
        let g = Genome::open(&dir.path().join("g.fa")).unwrap();
        std::fs::write(&t, "one\tNC_1\none\tNC_2\n").unwrap();
        let e = g.with_aliases(&t).err().unwrap().to_string();
        assert!(e.contains("a.tsv:2:"), "{e}");
        let g = Genome::open(&dir.path().join("g.fa")).unwrap();
        std::fs::write(&t, "one\tNC_1\nNC_2\ttwo\n").unwrap();
        let g = g.with_aliases(&t).unwrap();
        assert_eq!(g.resolve("two").unwrap(), "NC_2");
        assert_eq!(g.fetch("one", 1, 3).unwrap(), b"AA");
        let e = g.resolve("three").unwrap_err().to_string();
        assert!(e.contains("unknown contig 'three'"), "{e}");
    }

    #[test]
    fn regions_parse_and_check() {
        assert_eq!(
            parse_region("chr20:50,000,001-63,025,520").unwrap(),
            ("chr20".to_string(), Some((50_000_000, 63_025_520)))
        );
        for bad in ["", ":1-2", "20:1", "20:a-5", "20:5-", "20:0-3"] {
            assert!(parse_region(bad).is_err(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let g = genome(dir.path(), "g.fa", ">HLA-A*01:01\nACGT\n>20\nACGTACGT\n");
        assert_eq!(g.region("HLA-A*01:01").unwrap().len(), 4);
        assert_eq!(g.region("HLA-A*01:01:2-3").unwrap().start, 1);
        let e = g.region("chr21:1-5").unwrap_err().to_string();
        assert!(e.contains("unknown contig 'chr21'"), "{e}");
    }
}
