//! bigWig tracks: [`TrackWriter`] takes bins (contig, start, end) with one value per track, in
//! the genome's order, and writes one bigWig file per track through the bigtools crate, with the
//! genome's contig sizes. The bins stream through a temporary spool file beside the outputs, so
//! memory stays bounded whatever the number of bins or tracks; every track is written to a
//! temporary file and all are renamed into place only when all are written.
//!
//! A bigWig stores each value as an `f32`: a value given as `f64` is rounded to the nearest
//! `f32`. Coordinates are 0-based half-open, as in BED and bedGraph, and 32-bit in the format,
//! so a contig longer than 4,294,967,295 bp cannot hold bins.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bigtools::{BBIDataProcessor, BBIDataSource, BBIProcessError, BigWigWrite, ProcessDataError};
use tempfile::NamedTempFile;

use super::cleanup::Pending;
use super::output::AtomicFile;
use crate::error::{Error, Result};

/// Bins spooled in one block: `n`, then `n` x (contig, start, end), then each track's `n` values.
const BLOCK_BINS: usize = 4096;

/// Writes bigWig tracks, one file per track, from bins given in the genome's order: contigs in
/// the order of `contigs` (the genome's index), positions ascending, no two bins overlapping.
/// [`push`](TrackWriter::push) refuses a bin out of that order; [`finish`](TrackWriter::finish)
/// writes every track and renames them all into place. Dropped without `finish` (an error on the
/// way), nothing is written.
///
/// ```
/// use seqcnn::io::bigwig::TrackWriter;
/// let dir = tempfile::tempdir().unwrap();
/// let (a, b) = (dir.path().join("a.bw"), dir.path().join("b.bw"));
/// let contigs = [("chr1".to_string(), 1000), ("chr2".to_string(), 500)];
/// let mut w = TrackWriter::create(vec![a.clone(), b.clone()], &contigs).unwrap();
/// w.push("chr1", 0, 200, [0.25, 1.5]).unwrap();
/// w.push("chr1", 200, 400, [0.5, 2.5]).unwrap();
/// w.push("chr2", 100, 300, [0.75, 3.5]).unwrap();
/// // Out of order: chr1 comes before chr2 in the genome.
/// assert!(w.push("chr1", 400, 600, [0.0, 0.0]).is_err());
/// assert_eq!(w.bins(), 3);
/// assert!(!a.exists());
/// w.finish(1).unwrap();
/// // The bigWig magic number, little-endian.
/// assert_eq!(&std::fs::read(&b).unwrap()[..4], &[0x26, 0xfc, 0x8f, 0x88]);
/// ```
pub struct TrackWriter {
    outputs: Vec<AtomicFile>,
    /// Contig names and lengths in the genome's order.
    contigs: Vec<(String, u64)>,
    index: HashMap<String, usize>,
    spool: NamedTempFile,
    writer: BufWriter<File>,
    _pending: Pending,
    /// The current block: coordinates, and per track its values.
    coords: Vec<[u32; 3]>,
    values: Vec<Vec<f32>>,
    /// The last bin pushed: its contig's index and its end.
    last: Option<(usize, u64, u64)>,
    bins: u64,
}

impl TrackWriter {
    /// Starts tracks written to `outputs` (one per track; their directories must exist) for a
    /// genome of `contigs` (names and lengths, in the genome's order). Every output is started
    /// here, so a path that cannot be written fails before any bin.
    pub fn create(outputs: Vec<PathBuf>, contigs: &[(String, u64)]) -> Result<Self> {
        let Some(first) = outputs.first() else {
            return Err(Error::Config("bigWig: no tracks to write".into()));
        };
        let files = outputs
            .iter()
            .map(|p| AtomicFile::create(p))
            .collect::<Result<Vec<_>>>()?;
        let dir = match first.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let spool = tempfile::Builder::new()
            .prefix(".seqcnn-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(first, e))?;
        let pending = Pending::new(spool.path());
        let file = spool
            .as_file()
            .try_clone()
            .map_err(|e| Error::io(first, e))?;
        let index = contigs
            .iter()
            .enumerate()
            .map(|(i, (c, _))| (c.clone(), i))
            .collect();
        let n = outputs.len();
        Ok(TrackWriter {
            outputs: files,
            contigs: contigs.to_vec(),
            index,
            spool,
            writer: BufWriter::new(file),
            _pending: pending,
            coords: Vec::with_capacity(BLOCK_BINS),
            values: vec![Vec::with_capacity(BLOCK_BINS); n],
            last: None,
            bins: 0,
        })
    }

    /// Bins pushed so far.
    pub fn bins(&self) -> u64 {
        self.bins
    }

    /// Adds the bin `start..end` (0-based half-open) of `contig` with one value per track, each
    /// rounded to `f32`. The bin must come after the last one in the genome's order and not
    /// overlap it.
    pub fn push(
        &mut self,
        contig: &str,
        start: u64,
        end: u64,
        values: impl IntoIterator<Item = f64>,
    ) -> Result<()> {
        let Some(&c) = self.index.get(contig) else {
            return Err(Error::Config(format!(
                "bigWig: contig '{contig}' is not a contig of the genome"
            )));
        };
        let len = self.contigs[c].1;
        if start >= end || end > len {
            return Err(Error::Config(format!(
                "bigWig: bin {contig}:{start}-{end} (0-based) is empty or past the end of \
                 '{contig}' ({len} bp)"
            )));
        }
        if len > u64::from(u32::MAX) {
            return Err(Error::Config(format!(
                "bigWig: contig '{contig}' has {len} bp, more than a bigWig's 32-bit positions \
                 hold (4,294,967,295)"
            )));
        }
        if let Some((lc, ls, le)) = self.last
            && (c < lc || (c == lc && start < le))
        {
            let prev = &self.contigs[lc].0;
            let why = if c == lc && start >= ls {
                "overlaps"
            } else {
                "comes before"
            };
            return Err(Error::Config(format!(
                "bigWig: bin {contig}:{start}-{end} {why} the bin before it, {prev}:{ls}-{le} \
                 (0-based): bins must come in the genome's order (contigs as in its index, \
                 positions ascending) without overlapping"
            )));
        }
        let mut given = 0;
        for v in values {
            if let Some(track) = self.values.get_mut(given) {
                track.push(v as f32);
            }
            given += 1;
        }
        if given != self.outputs.len() {
            for track in &mut self.values {
                track.truncate(self.coords.len());
            }
            return Err(Error::Config(format!(
                "bigWig: bin {contig}:{start}-{end} has {given} values for {} tracks",
                self.outputs.len()
            )));
        }
        // Positions fit: end <= len <= u32::MAX was checked above.
        self.coords.push([c as u32, start as u32, end as u32]);
        self.last = Some((c, start, end));
        self.bins += 1;
        if self.coords.len() == BLOCK_BINS {
            self.spill()?;
        }
        Ok(())
    }

    /// Appends the current block to the spool file.
    fn spill(&mut self) -> Result<()> {
        if self.coords.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(4 + self.coords.len() * (12 + 4 * self.values.len()));
        bytes.extend((self.coords.len() as u32).to_le_bytes());
        for c in &self.coords {
            for x in c {
                bytes.extend(x.to_le_bytes());
            }
        }
        for track in &mut self.values {
            for v in track.iter() {
                bytes.extend(v.to_le_bytes());
            }
            track.clear();
        }
        self.coords.clear();
        self.writer
            .write_all(&bytes)
            .map_err(|e| Error::io(self.spool.path(), e))
    }

    /// Writes every track (on a pool of `threads` threads for compression) and renames all of
    /// them into place once all are written. With no bins pushed it fails and writes nothing.
    pub fn finish(mut self, threads: usize) -> Result<()> {
        if self.bins == 0 {
            // bigtools does not finish a file without data.
            return Err(Error::Config(
                "bigWig: no bins to write; a track needs at least one".into(),
            ));
        }
        self.spill()?;
        let spool_path = self.spool.path().to_path_buf();
        self.writer.flush().map_err(|e| Error::io(&spool_path, e))?;
        // Contigs too long for bigWig positions hold no bins (push refuses them), so they are
        // left out of the sizes.
        let sizes: HashMap<String, u32> = self
            .contigs
            .iter()
            .filter_map(|(c, len)| Some((c.clone(), u32::try_from(*len).ok()?)))
            .collect();
        let names: Arc<Vec<String>> = Arc::new(self.contigs.iter().map(|c| c.0.clone()).collect());
        let tracks = self.outputs.len();
        for (track, out) in self.outputs.iter().enumerate() {
            let path = out.path();
            let file = Checked::new(out.file()?);
            let failed = file.error.clone();
            let reader = self.spool.reopen().map_err(|e| Error::io(&spool_path, e))?;
            let source = SpoolTrack {
                reader: BufReader::new(reader),
                path: spool_path.clone(),
                track,
                tracks,
                names: names.clone(),
                block: Vec::new(),
                at: 0,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .thread_name("seqcnn-bigwig")
                .build()
                .map_err(|e| Error::io(path, e))?;
            let result = BigWigWrite::new(file, sizes.clone()).write(source, runtime);
            // Writes that failed where bigtools could not report them (its buffer's last flush
            // on drop) are in `failed`.
            let late = failed.lock().unwrap_or_else(|e| e.into_inner()).take();
            match result {
                Err(BBIProcessError::SourceError(e)) => return Err(e),
                Err(e) => {
                    return Err(Error::io(
                        path,
                        io::Error::other(format!("writing the bigWig: {e}")),
                    ));
                }
                Ok(()) => {}
            }
            if let Some(e) = late {
                return Err(Error::io(path, e));
            }
            out.sync()?;
        }
        for out in self.outputs {
            out.commit()?;
        }
        Ok(())
    }
}

/// A file whose write and seek errors are kept, to be checked after a writer that drops its
/// buffer (and with it the error of the last flush) has finished.
struct Checked {
    file: File,
    error: Arc<Mutex<Option<io::Error>>>,
}

impl Checked {
    fn new(file: File) -> Self {
        Checked {
            file,
            error: Arc::new(Mutex::new(None)),
        }
    }

    fn keep<T>(&self, r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r {
            let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = Some(io::Error::new(e.kind(), e.to_string()));
            }
        }
        r
    }
}

impl Write for Checked {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.file.write(buf);
        self.keep(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.file.flush();
        self.keep(r)
    }
}

impl Seek for Checked {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let r = self.file.seek(pos);
        self.keep(r)
    }
}

/// One track's bins read back from the spool, in order, as bigtools takes them.
struct SpoolTrack {
    reader: BufReader<File>,
    path: PathBuf,
    track: usize,
    tracks: usize,
    names: Arc<Vec<String>>,
    /// The current block's bins of this track: (contig index, value).
    block: Vec<(u32, bigtools::Value)>,
    at: usize,
}

impl SpoolTrack {
    /// The next bin, or `None` at the end of the spool.
    fn next(&mut self) -> Result<Option<(u32, bigtools::Value)>> {
        if self.at == self.block.len() && !self.read_block()? {
            return Ok(None);
        }
        self.at += 1;
        Ok(Some(self.block[self.at - 1]))
    }

    /// Reads the next block; false at the end of the spool.
    fn read_block(&mut self) -> Result<bool> {
        let err = |e| Error::io(&self.path, e);
        let mut word = [0u8; 4];
        match self.reader.read_exact(&mut word) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(err(e)),
        }
        let n = u32::from_le_bytes(word) as usize;
        let mut coords = vec![0u8; 12 * n];
        self.reader.read_exact(&mut coords).map_err(err)?;
        self.reader
            .seek_relative((4 * n * self.track) as i64)
            .map_err(err)?;
        let mut values = vec![0u8; 4 * n];
        self.reader.read_exact(&mut values).map_err(err)?;
        self.reader
            .seek_relative((4 * n * (self.tracks - self.track - 1)) as i64)
            .map_err(err)?;
        let word = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        self.block.clear();
        self.block.extend((0..n).map(|i| {
            (
                word(&coords, 12 * i),
                bigtools::Value {
                    start: word(&coords, 12 * i + 4),
                    end: word(&coords, 12 * i + 8),
                    value: f32::from_bits(word(&values, 4 * i)),
                },
            )
        }));
        self.at = 0;
        Ok(n > 0)
    }
}

impl BBIDataSource for SpoolTrack {
    type Value = bigtools::Value;
    type Error = Error;

    fn process_to_bbi<
        P: BBIDataProcessor<Value = Self::Value> + Send + 'static,
        StartProcessing: FnMut(String) -> std::result::Result<P, ProcessDataError>,
        Advance: FnMut(P),
    >(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        start_processing: &mut StartProcessing,
        advance: &mut Advance,
    ) -> std::result::Result<(), BBIProcessError<Self::Error>> {
        runtime.block_on(async move {
            let mut current = self.next().map_err(BBIProcessError::SourceError)?;
            // The contig being written and its processor.
            let mut open: Option<(u32, P)> = None;
            while let Some((contig, value)) = current {
                let next = self.next().map_err(BBIProcessError::SourceError)?;
                let p = match open.take() {
                    Some((c, p)) if c == contig => p,
                    done => {
                        if let Some((_, p)) = done {
                            advance(p);
                        }
                        start_processing(self.names[contig as usize].clone())?
                    }
                };
                let mut p = p;
                let same = next.as_ref().filter(|n| n.0 == contig).map(|n| &n.1);
                p.do_process(value, same).await?;
                open = Some((contig, p));
                current = next;
            }
            if let Some((_, p)) = open {
                advance(p);
            }
            Ok(())
        })
    }
}

impl std::fmt::Debug for TrackWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackWriter")
            .field(
                "outputs",
                &self.outputs.iter().map(|o| o.path()).collect::<Vec<_>>(),
            )
            .field("bins", &self.bins)
            .finish()
    }
}

/// Whether `path` names a bigWig file: it ends in `.bw` or `.bigWig` (any case).
///
/// ```
/// use seqcnn::io::bigwig::is_bigwig;
/// use std::path::Path;
/// assert!(is_bigwig(Path::new("tiles.bw")) && is_bigwig(Path::new("t.bigWig")));
/// assert!(!is_bigwig(Path::new("tiles.tsv")) && !is_bigwig(Path::new("tiles.bw.gz")));
/// ```
pub fn is_bigwig(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("bw") || e.eq_ignore_ascii_case("bigwig"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_from_blocks_in_order_per_track() {
        let dir = tempfile::tempdir().unwrap();
        let outs: Vec<PathBuf> = (0..3)
            .map(|i| dir.path().join(format!("t{i}.bw")))
            .collect();
        let contigs = [("a".to_string(), 100_000), ("b".to_string(), 100_000)];
        let mut w = TrackWriter::create(outs.clone(), &contigs).unwrap();
        // Over two blocks, across a contig change.
        let n = BLOCK_BINS as u64 + 10;
        for i in 0..n {
            let (c, s) = if i < 5000 {
                ("a", i * 10)
            } else {
                ("b", (i - 5000) * 10)
            };
            w.push(c, s, s + 10, [i as f64, -(i as f64), 0.5]).unwrap();
        }
        w.writer.flush().unwrap();
        w.spill().unwrap();
        w.writer.flush().unwrap();
        for track in 0..3 {
            let mut r = SpoolTrack {
                reader: BufReader::new(w.spool.reopen().unwrap()),
                path: w.spool.path().to_path_buf(),
                track,
                tracks: 3,
                names: Arc::new(vec!["a".into(), "b".into()]),
                block: Vec::new(),
                at: 0,
            };
            let mut i = 0u64;
            while let Some((c, v)) = r.next().unwrap() {
                let want = [i as f32, -(i as f32), 0.5][track];
                assert_eq!((c, v.value), (u32::from(i >= 5000), want), "bin {i}");
                i += 1;
            }
            assert_eq!(i, n);
        }
    }

    #[test]
    fn bins_out_of_order_overlapping_or_past_the_end_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let contigs = [("a".to_string(), 1000), ("b".to_string(), 1000)];
        let mut w = TrackWriter::create(vec![dir.path().join("x.bw")], &contigs).unwrap();
        w.push("b", 0, 100, [1.0]).unwrap();
        let e = w.push("a", 0, 100, [1.0]).unwrap_err().to_string();
        assert!(
            e.contains("a:0-100 comes before the bin before it, b:0-100"),
            "{e}"
        );
        let e = w.push("b", 50, 150, [1.0]).unwrap_err().to_string();
        assert!(e.contains("overlaps"), "{e}");
        assert!(w.push("b", 900, 1001, [1.0]).is_err());
        assert!(w.push("c", 0, 10, [1.0]).is_err());
        assert!(w.push("b", 100, 200, [1.0, 2.0]).is_err());
        assert!(w.push("b", 100, 200, []).is_err());
        w.push("b", 100, 200, [2.0]).unwrap();
        assert_eq!(w.bins(), 2);
        // A failed run leaves nothing, not even the spool.
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
