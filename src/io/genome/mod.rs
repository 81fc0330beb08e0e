//! Indexed reference genomes: [`Genome`], random access to plain or BGZF-compressed FASTA through
//! its `.fai` (and `.gzi`) index. Beside it: the indexes, read and written ([`index`]); contig
//! names matched with or without `chr`, plus alias tables ([`names`]); genomic regions
//! (`chr:start-end`, [`region`]).
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

pub mod index;
pub mod names;
pub mod region;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use noodles_bgzf as bgzf;

use crate::error::{Error, Result};
use index::{Compression, FaiContigs, Layout, fai_path, gzi_path, not_bgzf, sniff};

/// Number of inflated BGZF blocks (up to 64 KiB each) kept per genome.
const BLOCK_CACHE: usize = 16;

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
/// seqcnn::io::genome::index::write_index(&fa, false).unwrap();
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
    /// Names with `chr` removed and `M` spelled `MT` (see [`names::contig_key`]); `None` when two
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
        let records = index::read_fai(&fai)?;
        let file = crate::io::input::open_file(path)?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let FaiContigs {
            contigs,
            layouts,
            by_name,
        } = index::fai_contigs(path, &fai, &records, compression, file_len)?;
        let by_key = names::key_index(&contigs);
        let source = match compression {
            Compression::Bgzf => Source::Bgzf {
                blocks: index::read_gzi(path, &gzi, file_len)?,
                file_len,
                cache: Mutex::new(Vec::with_capacity(BLOCK_CACHE)),
            },
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

    /// The FASTA file this genome reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Contig names and lengths, in file order.
    pub fn contigs(&self) -> &[(String, u64)] {
        &self.contigs
    }

    /// Every contig whole, as intervals, in file order.
    pub fn whole(&self) -> Vec<crate::interval::Interval> {
        self.contigs
            .iter()
            .map(|(c, len)| crate::interval::Interval {
                contig: c.clone(),
                start: 0,
                end: *len,
            })
            .collect()
    }

    /// as by [`resolve`](Self::resolve); `end` past the contig's end or `start > end` is an
    /// error (use [`fetch_padded`](Self::fetch_padded) for windows that may stick out).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let fa = dir.path().join("g.fa");
    /// std::fs::write(&fa, ">20\nACGTA\ncgtac\nGT\n").unwrap();
    /// seqcnn::io::genome::index::write_index(&fa, false).unwrap();
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
    /// seqcnn::io::genome::index::write_index(&fa, false).unwrap();
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

    /// The genome and its index disagree: an input error, with how to rebuild the index.
    fn stale(&self, i: usize, e: io::Error) -> Error {
        Error::parse(
            &self.path,
            0,
            format!(
                "reading contig '{}': {e}; if the file changed, rebuild the index with \
                 `seqcnn index --force {}`",
                self.contigs[i].0,
                self.path.display()
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
        read_exact_at(&self.file, &mut raw, from).map_err(|e| {
            Error::io(
                &self.path,
                io::Error::new(e.kind(), format!("BGZF block at byte {from}: {e}")),
            )
        })?;
        // A block that does not inflate, or inflates to another length than the index says, is a
        // damaged file or an index made for another one: input errors.
        let damaged = |what: String| {
            Error::parse(
                &self.path,
                0,
                format!(
                    "BGZF block at byte {from} {what}: the file is damaged, or its .gzi index was \
                     made for another file (rebuild it with `seqcnn index --force {}`)",
                    self.path.display()
                ),
            )
        };
        let mut data = Vec::with_capacity(bgzf_max_block());
        bgzf::io::Reader::new(&raw[..])
            .read_to_end(&mut data)
            .map_err(|e| damaged(format!("does not inflate ({e})")))?;
        if let Some(next) = blocks.get(k + 1) {
            let want = next.1 - blocks[k].1;
            if data.len() as u64 != want {
                return Err(damaged(format!(
                    "holds {} bases where the index says {want}",
                    data.len()
                )));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use index::write_index;
    use std::io::Write;

    pub(super) fn genome(dir: &Path, name: &str, text: &str) -> Genome {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        write_index(&p, false).unwrap();
        Genome::open(&p).unwrap()
    }

    pub(super) fn bgzip(bytes: &[u8]) -> Vec<u8> {
        let mut w = bgzf::io::Writer::new(Vec::new());
        w.write_all(bytes).unwrap();
        w.finish().unwrap()
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
}
