//! The indexes of a genome FASTA: reading `.fai` (contig names, lengths and line layout) and
//! `.gzi` (BGZF block offsets) for [`Genome::open`](super::Genome::open), telling plain, BGZF and
//! plain gzip files apart, and writing missing indexes ([`write_index`], `seqcnn index`) in the
//! formats of `samtools faidx` and `bgzip -r`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use noodles_bgzf as bgzf;
use noodles_fasta as fasta;

use crate::error::{Error, Result};
use crate::interval::MAX_POSITION;
use crate::io::output::AtomicOutput;

/// How a contig's bases sit in the (uncompressed) file: the `.fai` columns.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
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
    pub(super) fn byte(&self, pos: u64) -> u64 {
        self.offset + pos / self.line_bases * self.line_width + pos % self.line_bases
    }
}

impl Layout {
    /// [`byte`](Self::byte), or `None` when it does not fit in 64 bits (a corrupt index).
    fn checked_byte(&self, pos: u64) -> Option<u64> {
        (pos / self.line_bases)
            .checked_mul(self.line_width)?
            .checked_add(pos % self.line_bases)?
            .checked_add(self.offset)
    }
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
pub(super) enum Compression {
    None,
    Bgzf,
    /// gzip, but not blocked: no random access.
    Gzip,
}

pub(super) fn sniff(path: &Path) -> Result<Compression> {
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

pub(super) fn not_bgzf(path: &Path) -> Error {
    Error::Config(format!(
        "{} is gzip-compressed but not BGZF, so it cannot be read at random places: \
         decompress it (plain FASTA can be indexed too) or recompress it with bgzip \
         (from htslib/samtools): `zcat {0} | bgzip -c > NEW.fa.gz`",
        path.display()
    ))
}

/// Reads a `.fai`: its records in file order, at least one.
pub(super) fn read_fai(fai: &Path) -> Result<Vec<fasta::fai::Record>> {
    let index = fasta::fai::fs::read(fai).map_err(|e| {
        Error::parse(
            fai,
            0,
            format!(
                "cannot read the FASTA index ({e}): it is damaged or not a .fai; delete it \
                     and rebuild it with `seqcnn index`"
            ),
        )
    })?;
    let records: Vec<fasta::fai::Record> = index.into();
    if records.is_empty() {
        return Err(Error::parse(fai, 0, "the FASTA index lists no contigs"));
    }
    Ok(records)
}

/// The contigs of a `.fai`, checked against the FASTA it indexes.
pub(super) struct FaiContigs {
    /// Names and lengths, in file order.
    pub(super) contigs: Vec<(String, u64)>,
    /// Where each contig's bases sit.
    pub(super) layouts: Vec<Layout>,
    /// Index of each exact name.
    pub(super) by_name: HashMap<String, usize>,
}

/// Checks the `.fai` records of `path` (`file_len` bytes long): names are UTF-8 and listed once,
/// lines are longer than their bases, and (for a plain file) no contig runs past the file's end,
/// which would mean the index is stale. Errors name the `.fai` line.
pub(super) fn fai_contigs(
    path: &Path,
    fai: &Path,
    records: &[fasta::fai::Record],
    compression: Compression,
    file_len: u64,
) -> Result<FaiContigs> {
    let mut contigs = Vec::with_capacity(records.len());
    let mut layouts = Vec::with_capacity(records.len());
    let mut by_name = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let name = String::from_utf8(r.name().to_vec())
            .map_err(|_| Error::parse(fai, i as u64 + 1, "contig name is not valid UTF-8"))?;
        let layout = Layout {
            offset: r.position(),
            line_bases: r.line_base_count().get(),
            line_width: r.line_width().get(),
        };
        if layout.line_width <= layout.line_bases {
            return Err(Error::parse(
                fai,
                i as u64 + 1,
                format!("contig '{name}': line width must exceed bases per line"),
            ));
        }
        // `byte` grows with the position, so every position of the contig fits when its end does.
        let end = layout
            .checked_byte(r.length())
            .filter(|_| r.length() <= MAX_POSITION);
        let Some(end) = end else {
            return Err(Error::parse(
                fai,
                i as u64 + 1,
                format!(
                    "contig '{name}': {} bp at offset {} with {} bases in lines of {} bytes \
                     cannot be in a file: the index is corrupt, rebuild it with \
                     `seqcnn index --force {}`",
                    r.length(),
                    layout.offset,
                    layout.line_bases,
                    layout.line_width,
                    path.display()
                ),
            ));
        };
        if compression == Compression::None && end > file_len + 1 {
            return Err(Error::parse(
                fai,
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
                fai,
                i as u64 + 1,
                format!("contig '{name}' is listed twice"),
            ));
        }
        contigs.push((name, r.length()));
        layouts.push(layout);
    }
    Ok(FaiContigs {
        contigs,
        layouts,
        by_name,
    })
}

/// Reads the `.gzi` of the BGZF file `path` (`file_len` bytes long): the `(compressed,
/// uncompressed)` start offsets of every block, `(0, 0)` put in front, checked to increase and to
/// stay inside the file.
pub(super) fn read_gzi(path: &Path, gzi: &Path, file_len: u64) -> Result<Vec<(u64, u64)>> {
    let gz = bgzf::gzi::fs::read(gzi).map_err(|e| {
        Error::parse(
            gzi,
            0,
            format!(
                "cannot read the BGZF index ({e}): it is damaged or not a .gzi; rebuild it \
                     with `seqcnn index --force {}`",
                path.display()
            ),
        )
    })?;
    let mut blocks = vec![(0u64, 0u64)];
    blocks.extend(gz.as_ref().iter().copied());
    if blocks
        .windows(2)
        .any(|w| w[1].0 <= w[0].0 || w[1].1 < w[0].1)
    {
        return Err(Error::parse(
            gzi,
            0,
            "BGZF index offsets are not increasing",
        ));
    }
    if blocks.last().is_some_and(|b| b.0 > file_len) {
        return Err(Error::parse(
            gzi,
            0,
            format!(
                "BGZF index points past the end of {}: rebuild it with \
                 `seqcnn index --force {}`",
                path.display(),
                path.display()
            ),
        ));
    }
    Ok(blocks)
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
/// let done = seqcnn::io::genome::index::write_index(&fa, false).unwrap();
/// assert!(done.len() == 1 && done[0].written);
/// assert_eq!(std::fs::read_to_string(dir.path().join("g.fa.fai")).unwrap(),
///            "a\t6\t3\t4\t5\nb\t3\t19\t3\t4\n");
/// assert!(!seqcnn::io::genome::index::write_index(&fa, false).unwrap()[0].written); // kept
/// ```
pub fn write_index(path: &Path, force: bool) -> Result<Vec<IndexFile>> {
    let compression = sniff(path)?;
    if compression == Compression::Gzip {
        return Err(not_bgzf(path));
    }
    let mut done = Vec::new();
    // Both indexes are built before either is written: a FASTA that cannot be indexed leaves
    // neither.
    let gzi = (compression == Compression::Bgzf).then(|| gzi_path(path));
    let gzi_index = match &gzi {
        Some(gzi) if force || !gzi.exists() => Some(scan_bgzf_blocks(path)?),
        _ => None,
    };
    let fai = fai_path(path);
    let fai_index = if force || !fai.exists() {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let reader: Box<dyn BufRead> = match compression {
            Compression::Bgzf => Box::new(bgzf::io::Reader::new(BufReader::new(file))),
            _ => Box::new(BufReader::with_capacity(1 << 16, file)),
        };
        Some(build_fai(path, reader)?)
    } else {
        None
    };
    if let Some(gzi) = gzi {
        let written = gzi_index.is_some();
        if let Some(index) = gzi_index {
            let mut out = AtomicOutput::create(&gzi)?;
            bgzf::gzi::io::Writer::new(&mut out)
                .write_index(&index)
                .map_err(|e| Error::io(&gzi, e))?;
            out.commit()?;
        }
        done.push(IndexFile { path: gzi, written });
    }
    let written = fai_index.is_some();
    if let Some(index) = fai_index {
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
    let mut seen = std::collections::HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Some(first) = seen.insert(r.name(), i + 1) {
            return Err(Error::parse(
                path,
                0,
                format!(
                    "records {first} and {} are both named '{}': contig names must be unique",
                    i + 1,
                    String::from_utf8_lossy(r.name())
                ),
            ));
        }
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
    use super::super::Genome;
    use super::super::tests::bgzip;
    use super::*;

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
    fn fai_layout_past_64_bits_is_an_error_not_an_overflow() {
        // Fuzz target `genome`: a `.fai` contig of 2^64 - 1 bases overflowed the byte offset of
        // its end (on opening a plain FASTA, on every read of a BGZF one).
        let crash = b"chr1\t18446744073709551615\t0\t4\t5\n";
        let dir = tempfile::tempdir().unwrap();
        for (name, fasta) in [
            ("g.fa", b">chr1\nACGT\n".to_vec()),
            ("g.fa.gz", bgzip(b">chr1\nACGT\n")),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, fasta).unwrap();
            write_index(&p, false).unwrap();
            std::fs::write(fai_path(&p), crash).unwrap();
            let e = Genome::open(&p).err().unwrap().to_string();
            assert!(
                e.starts_with(&format!(
                    "{}:1: contig 'chr1': 18446744073709551615 bp at offset 0",
                    fai_path(&p).display()
                )),
                "{e}"
            );
            assert!(
                e.ends_with(&format!("seqcnn index --force {}`", p.display())),
                "{e}"
            );
        }
        // A length that fits in 64 bits but past interval::MAX_POSITION, in a BGZF genome.
        let p = dir.path().join("g.fa.gz");
        std::fs::write(fai_path(&p), b"chr1\t4611686018427387905\t6\t4\t5\n").unwrap();
        assert!(Genome::open(&p).is_err());
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
}
