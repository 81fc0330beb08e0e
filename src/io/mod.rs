//! File input and output: opening inputs (stdin, plain or gzip/BGZF), atomic outputs, and the
//! unified sequence reader that accepts FASTA, DeepBind-style tables or one sequence per line.

pub mod bed;
pub mod fasta;
pub mod genome;
pub mod meme;
pub mod shard;
pub mod table;
pub mod windows;

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Cursor, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use tempfile::NamedTempFile;

use crate::encode;
use crate::error::{Error, Result};

/// Size of the read and write buffers.
const BUF_SIZE: usize = 1 << 16;

/// The name an input or output path is reported under: `-` is shown as `<stdin>`/`<stdout>`.
pub(crate) fn input_name(path: &Path) -> PathBuf {
    if is_dash(path) {
        PathBuf::from("<stdin>")
    } else {
        path.to_path_buf()
    }
}

/// Whether `path` is `-` (standard input or output).
pub(crate) fn is_dash(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Opens `path` for buffered reading: `-` is standard input; an input starting with the gzip
/// magic bytes (`1f 8b`) is decompressed as concatenated gzip members (so BGZF works too);
/// anything else is read as it is. Errors name the file.
///
/// ```
/// use std::io::BufRead;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.txt");
/// std::fs::write(&path, "hello\nworld\n").unwrap();
/// let lines: Vec<String> = seqcnn::io::open_input(&path).unwrap().lines().collect::<Result<_, _>>().unwrap();
/// assert_eq!(lines, ["hello", "world"]);
/// assert!(seqcnn::io::open_input(&dir.path().join("missing.fa")).is_err());
/// ```
pub fn open_input(path: &Path) -> Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = if is_dash(path) {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(path).map_err(|e| Error::io(path, e))?)
    };
    sniff_gzip(raw).map_err(|e| Error::io(input_name(path), e))
}

/// Reads the first two bytes of `raw` to look for the gzip magic, then puts them back in front.
fn sniff_gzip(mut raw: Box<dyn Read>) -> io::Result<Box<dyn BufRead>> {
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match raw.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = Cursor::new(magic[..got].to_vec());
    let joined = head.chain(raw);
    if got == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::with_capacity(
            BUF_SIZE,
            GzipInput(MultiGzDecoder::new(joined)),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(BUF_SIZE, joined)))
    }
}

/// A gzip decoder whose decoding errors (a truncated or corrupt stream) come out as
/// `InvalidData` saying so; errors of the underlying reader pass through unchanged.
struct GzipInput<R>(MultiGzDecoder<R>);

impl<R: Read> Read for GzipInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            // flate2's own errors: `UnexpectedEof` for a cut stream, `InvalidInput` for a bad
            // header, corrupt data or a checksum mismatch.
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::InvalidData => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("gzip data is truncated or corrupt ({e})"),
            ),
            _ => e,
        })
    }
}

/// The error for a failed read of `path` while reading its 1-based `line` (0 = not known): bad
/// data (a truncated or corrupt gzip stream) is a parse error at that line, so it counts as bad
/// input; anything else is an I/O error.
pub(crate) fn read_error(path: &Path, line: u64, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::InvalidData {
        Error::parse(path, line, e.to_string())
    } else {
        Error::io(path, e)
    }
}

/// A byte of a bad sequence as shown in messages: quoted when printable, else its code.
pub(crate) fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("0x{b:02x}")
    }
}

/// Where an [`AtomicOutput`] writes.
enum Sink {
    Stdout(BufWriter<io::Stdout>),
    Plain(BufWriter<NamedTempFile>),
    Gzip(noodles_bgzf::io::Writer<BufWriter<NamedTempFile>>),
}

/// An output file that appears whole or not at all: bytes go to a temporary file in the target's
/// directory, and [`commit`](AtomicOutput::commit) renames it into place. Dropped without a
/// commit (an error on the way, a panic), the temporary file is removed and any existing file at
/// the path is left untouched. A path ending in `.gz` is compressed as BGZF, the blocked gzip of
/// `bgzip` and htslib: any gzip reader reads it, and `tabix` can index a sorted VCF or bedGraph
/// written so. `-` is standard output (written through, flushed on commit).
///
/// ```
/// use std::io::Write;
/// use seqcnn::io::AtomicOutput;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("scores.tsv");
/// let mut out = AtomicOutput::create(&path).unwrap();
/// writeln!(out, "name\tscore").unwrap();
/// assert!(!path.exists()); // nothing visible before the commit
/// out.commit().unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "name\tscore\n");
/// ```
pub struct AtomicOutput {
    path: PathBuf,
    sink: Sink,
}

impl AtomicOutput {
    /// Starts an output to `path` (`-` for standard output). The directory must exist: a
    /// missing one is an error naming the path.
    pub fn create(path: &Path) -> Result<Self> {
        if is_dash(path) {
            let sink = Sink::Stdout(BufWriter::with_capacity(BUF_SIZE, io::stdout()));
            return Ok(AtomicOutput {
                path: PathBuf::from("<stdout>"),
                sink,
            });
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            let msg = format!("directory {} does not exist", parent.display());
            return Err(Error::io(
                path,
                io::Error::new(io::ErrorKind::NotFound, msg),
            ));
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix(".seqcnn-").suffix(".tmp");
        // The default 0600 would survive the rename; ask for 0666 so the umask decides, as for
        // any file a program creates.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let tmp = builder
            .tempfile_in(parent)
            .map_err(|e| Error::io(path, e))?;
        let file = BufWriter::with_capacity(BUF_SIZE, tmp);
        let gz = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        let sink = if gz {
            Sink::Gzip(noodles_bgzf::io::Writer::new(file))
        } else {
            Sink::Plain(file)
        };
        Ok(AtomicOutput {
            path: path.to_path_buf(),
            sink,
        })
    }

    /// The path written to (`<stdout>` for standard output), for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An I/O error on this output, naming its path.
    pub fn error(&self, e: io::Error) -> Error {
        Error::io(&self.path, e)
    }

    /// Finishes the output: flushes (and ends the gzip stream), syncs, and renames the temporary
    /// file onto the path, replacing any file there.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        let tmp = match self.sink {
            Sink::Stdout(mut w) => return w.flush().map_err(|e| Error::io(&path, e)),
            Sink::Plain(w) => w
                .into_inner()
                .map_err(|e| Error::io(&path, e.into_error()))?,
            Sink::Gzip(gz) => {
                let w = gz.finish().map_err(|e| Error::io(&path, e))?;
                w.into_inner()
                    .map_err(|e| Error::io(&path, e.into_error()))?
            }
        };
        tmp.as_file().sync_all().map_err(|e| Error::io(&path, e))?;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        Ok(())
    }
}

impl Write for AtomicOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.sink {
            Sink::Stdout(w) => w.write(buf),
            Sink::Plain(w) => w.write(buf),
            Sink::Gzip(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(w) => w.write_all(buf),
            Sink::Plain(w) => w.write_all(buf),
            Sink::Gzip(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(w) => w.flush(),
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
        }
    }
}

/// One input sequence, from any of the formats [`sequence_records`] reads.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqRecord {
    /// Record name: FASTA header's first word, the table's `EventID`, or `seq<N>` (1-based).
    pub name: String,
    /// The sequence as written (case kept); checked by [`encode::check_sequence`].
    pub seq: Vec<u8>,
    /// Labels from a table's label columns (NaN = missing); empty for FASTA and plain lists.
    pub labels: Vec<f32>,
    /// 1-based line where the record starts.
    pub line: u64,
}

/// The formats [`sequence_records`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqFormat {
    /// FASTA: the first non-blank byte is `>`.
    Fasta,
    /// A tab-separated table with a header row naming a `seq` column (DeepBind's format).
    Table,
    /// One sequence per line, no header (the input of the original `deepbind` tool): chosen when
    /// the first non-blank line has no tab and is a valid sequence.
    Lines,
}

/// A streaming reader of [`SeqRecord`]s from FASTA, a sequence table or a plain list, with each
/// sequence checked; see [`sequence_records`]. After the first error it yields nothing more.
pub struct SeqRecords {
    inner: Box<dyn Iterator<Item = Result<SeqRecord>>>,
    path: PathBuf,
    format: SeqFormat,
    label_names: Vec<String>,
    done: bool,
}

impl SeqRecords {
    /// The format the input was read as.
    pub fn format(&self) -> SeqFormat {
        self.format
    }

    /// Names of the label columns, in the order of [`SeqRecord::labels`] (empty unless a table).
    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }
}

impl Iterator for SeqRecords {
    type Item = Result<SeqRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.inner.next()? {
            Ok(rec) => match encode::check_sequence(&rec.seq) {
                Ok(()) => Ok(rec),
                Err(bad) => Err(Error::parse(
                    &self.path,
                    rec.line,
                    format!(
                        "record '{}': invalid character {} at position {} of the sequence",
                        rec.name,
                        show_byte(bad.byte),
                        bad.pos + 1
                    ),
                )),
            },
            Err(e) => Err(e),
        };
        self.done = item.is_err();
        Some(item)
    }
}

/// Opens `path` (`-` = stdin, gzip or plain) and streams its sequences, choosing the format from
/// the first non-blank line: `>` means FASTA; a line with no tab that is a valid sequence means
/// one sequence per line (names `seq1`, `seq2`, ...); anything else is a table read by
/// [`table::TableReader`] with `label_columns` (`None` = `Bound` if present). Every sequence is
/// checked with [`encode::check_sequence`]; a bad one is an error naming file, line, record and
/// the 1-based position of the bad character (for FASTA, the line and column it is on).
/// An input with no records is an error.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.seq");
/// std::fs::write(&path, "FoldID\tEventID\tseq\tBound\nA\tpeak1\tACGTn\t1\nA\tpeak2\tTTGA\t0\n").unwrap();
/// let recs: Vec<_> = seqcnn::io::sequence_records(&path, None).unwrap().collect::<Result<_, _>>().unwrap();
/// assert_eq!(recs.len(), 2);
/// assert_eq!((recs[0].name.as_str(), recs[0].seq.as_slice(), recs[0].labels.as_slice()), ("peak1", &b"ACGTn"[..], &[1.0][..]));
///
/// std::fs::write(&path, ">chr1 test\nACGT\nAC\n").unwrap();
/// let recs: Vec<_> = seqcnn::io::sequence_records(&path, None).unwrap().collect::<Result<_, _>>().unwrap();
/// assert_eq!((recs[0].name.as_str(), recs[0].seq.as_slice()), ("chr1", &b"ACGTAC"[..]));
/// ```
pub fn sequence_records(path: &Path, label_columns: Option<&[String]>) -> Result<SeqRecords> {
    let name = input_name(path);
    let reader = open_input(path)?;
    let (first_line, reader) = peek_first_line(reader).map_err(|e| read_error(&name, 0, e))?;
    let Some(first_line) = first_line else {
        return Err(Error::parse(&name, 0, "empty input: no records"));
    };
    let (format, inner, label_names): (_, Box<dyn Iterator<Item = Result<SeqRecord>>>, _) =
        if first_line.first() == Some(&b'>') {
            let it = fasta::FastaReader::new(reader, &name).map(|r| {
                r.map(|f| SeqRecord {
                    name: f.name,
                    seq: f.seq,
                    labels: Vec::new(),
                    line: f.line,
                })
            });
            (SeqFormat::Fasta, Box::new(it), Vec::new())
        } else if !first_line.contains(&b'\t') && encode::check_sequence(&first_line).is_ok() {
            (
                SeqFormat::Lines,
                Box::new(LinesReader::new(reader, &name)),
                Vec::new(),
            )
        } else {
            let t = table::TableReader::new(reader, &name, label_columns)?;
            let label_names = t.label_names().to_vec();
            let it = t.map(|r| {
                r.map(|t| SeqRecord {
                    name: t.name,
                    seq: t.seq,
                    labels: t.labels,
                    line: t.line,
                })
            });
            (SeqFormat::Table, Box::new(it), label_names)
        };
    Ok(SeqRecords {
        inner,
        path: name,
        format,
        label_names,
        done: false,
    })
}

/// The first non-blank line of an input (if any) and a reader over the whole input.
type Peeked = (Option<Vec<u8>>, Box<dyn BufRead>);

/// Reads the leading blank lines and the first non-blank line (trimmed of surrounding ASCII
/// whitespace), and returns that line with a reader that yields the whole input again.
fn peek_first_line(mut reader: Box<dyn BufRead>) -> io::Result<Peeked> {
    let mut consumed = Vec::new();
    let mut first = None;
    loop {
        let start = consumed.len();
        if reader.read_until(b'\n', &mut consumed)? == 0 {
            break;
        }
        let line = consumed[start..].trim_ascii();
        if !line.is_empty() {
            first = Some(line.to_vec());
            break;
        }
    }
    Ok((first, Box::new(Cursor::new(consumed).chain(reader))))
}

/// One sequence per line, no header: blank lines skipped, surrounding whitespace trimmed.
struct LinesReader {
    reader: Box<dyn BufRead>,
    path: PathBuf,
    line: u64,
    count: u64,
    buf: Vec<u8>,
    done: bool,
}

impl LinesReader {
    fn new(reader: Box<dyn BufRead>, path: &Path) -> Self {
        LinesReader {
            reader,
            path: path.to_path_buf(),
            line: 0,
            count: 0,
            buf: Vec::new(),
            done: false,
        }
    }
}

impl Iterator for LinesReader {
    type Item = Result<SeqRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    if self.count == 0 {
                        return Some(Err(Error::parse(&self.path, 0, "empty input: no records")));
                    }
                }
                Ok(_) => {
                    self.line += 1;
                    let seq = self.buf.trim_ascii();
                    if seq.is_empty() {
                        continue;
                    }
                    self.count += 1;
                    let name = format!("seq{}", self.count);
                    return Some(Ok(SeqRecord {
                        name,
                        seq: seq.to_vec(),
                        labels: Vec::new(),
                        line: self.line,
                    }));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(read_error(&self.path, self.line + 1, e)));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn read_all(path: &Path) -> Vec<u8> {
        let mut v = Vec::new();
        open_input(path).unwrap().read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn gz_outputs_are_bgzf_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.tsv.gz");
        // Over one 64 KiB block, so the stream has several gzip members.
        let text: String = (0..20_000).map(|i| format!("seq{i}\t{i}\n")).collect();
        let mut out = AtomicOutput::create(&path).unwrap();
        out.write_all(text.as_bytes()).unwrap();
        out.commit().unwrap();
        let raw = std::fs::read(&path).unwrap();
        // BGZF (SAM spec 4.1): gzip with FEXTRA, a `BC` subfield, and the empty EOF block.
        assert_eq!(&raw[..4], &[0x1f, 0x8b, 8, 4]);
        assert_eq!(&raw[12..14], b"BC");
        assert_eq!(&raw[raw.len() - 28..raw.len() - 24], &[0x1f, 0x8b, 8, 4]);
        assert_eq!(&raw[raw.len() - 8..], &[0; 8]);
        assert_eq!(read_all(&path), text.as_bytes());
        let mut block = noodles_bgzf::io::Reader::new(&raw[..]);
        let mut back = String::new();
        block.read_to_string(&mut back).unwrap();
        assert_eq!(back, text);
    }

    fn records(path: &Path) -> Result<Vec<SeqRecord>> {
        sequence_records(path, None)?.collect()
    }

    #[test]
    fn open_input_plain_gzip_multimember_and_tiny() {
        let dir = tempfile::tempdir().unwrap();
        let text = b">a\nACGT\n";
        assert_eq!(read_all(&write(dir.path(), "a.fa", text)), text);
        assert_eq!(read_all(&write(dir.path(), "a.fa.gz", &gzip(text))), text);
        // Gzip detected by content, not name.
        assert_eq!(read_all(&write(dir.path(), "b.fa", &gzip(text))), text);
        // Two members (as BGZF writes) are both read.
        let mut two = gzip(b">a\nAC\n");
        two.extend(gzip(b">b\nGT\n"));
        assert_eq!(
            read_all(&write(dir.path(), "two.gz", &two)),
            b">a\nAC\n>b\nGT\n"
        );
        // Inputs shorter than the magic.
        assert_eq!(read_all(&write(dir.path(), "empty", b"")), b"");
        assert_eq!(read_all(&write(dir.path(), "one", b"\x1f")), b"\x1f");
    }

    #[test]
    fn open_input_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.fa");
        let e = open_input(&missing).err().unwrap();
        assert!(e.to_string().contains("nope.fa"), "{e}");
        // Corrupt gzip: the error comes while reading.
        let p = write(
            dir.path(),
            "bad.gz",
            b"\x1f\x8b\x08\x00garbage-garbage-garbage",
        );
        let mut v = Vec::new();
        assert!(open_input(&p).unwrap().read_to_end(&mut v).is_err());
        let e = records(&p).err().unwrap();
        assert!(e.to_string().contains("bad.gz"), "{e}");
    }

    #[test]
    fn truncated_gzip_is_a_parse_error_at_the_line_where_data_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("EventID\tseq\tBound\n");
        let mut rng = crate::rng::seeded(5);
        for i in 0..400 {
            let seq: String = (0..60)
                .map(|_| b"ACGT"[rand::Rng::random_range(&mut rng, 0..4)] as char)
                .collect();
            text.push_str(&format!("e{i}\t{seq}\t1\n"));
        }
        let gz = gzip(text.as_bytes());
        let cut = write(dir.path(), "cut.seq.gz", &gz[..gz.len() / 2]);
        let e = records(&cut).err().unwrap();
        let Error::Parse { line, msg, .. } = &e else {
            panic!("expected a parse error, got {e:?}");
        };
        assert!((2..=401).contains(line), "{e}");
        assert_eq!(
            msg,
            "gzip data is truncated or corrupt (incomplete deflate stream)"
        );
        // Cut inside the gzip header: nothing can be read at all.
        let head = write(dir.path(), "head.gz", &gz[..5]);
        let e = records(&head).err().unwrap();
        assert!(matches!(e, Error::Parse { line: 0, .. }), "{e:?}");
        assert!(e.to_string().contains("truncated or corrupt"), "{e}");
        // FASTA too.
        let fa = gzip(format!(">a\n{}\n", "ACGT".repeat(20_000)).as_bytes());
        let cut = write(dir.path(), "cut.fa.gz", &fa[..fa.len() / 2]);
        let e = records(&cut).err().unwrap();
        assert!(matches!(e, Error::Parse { line: 2, .. }), "{e:?}");
    }

    #[test]
    fn atomic_output_commits_or_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tsv");
        std::fs::write(&path, "old\n").unwrap();
        {
            let mut out = AtomicOutput::create(&path).unwrap();
            writeln!(out, "half").unwrap();
            // dropped without commit
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left behind"
        );

        let mut out = AtomicOutput::create(&path).unwrap();
        writeln!(out, "new").unwrap();
        assert_eq!(out.path(), path);
        out.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_ne!(
                mode & 0o044,
                0,
                "committed file should not be owner-only: {mode:o}"
            );
        }
    }

    #[test]
    fn atomic_output_gzip_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tsv.gz");
        let mut out = AtomicOutput::create(&path).unwrap();
        for i in 0..1000 {
            writeln!(out, "row{i}\t{}", i * 2).unwrap();
        }
        out.commit().unwrap();
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(&raw[..2], &[0x1f, 0x8b]);
        let text = String::from_utf8(read_all(&path)).unwrap();
        assert_eq!(text.lines().count(), 1000);
        assert_eq!(text.lines().last(), Some("row999\t1998"));
    }

    #[test]
    fn atomic_output_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/out.tsv");
        let e = AtomicOutput::create(&path).err().unwrap();
        let msg = e.to_string();
        assert!(
            msg.contains("out.tsv") && msg.contains("does not exist"),
            "{msg}"
        );
    }

    #[test]
    fn sequence_records_detects_formats() {
        let dir = tempfile::tempdir().unwrap();
        let fa = write(dir.path(), "a.fa", b"\n\n>r1 desc\nAC\ngt\n>r2\nNN\n");
        let s = sequence_records(&fa, None).unwrap();
        assert_eq!(s.format(), SeqFormat::Fasta);
        let recs: Vec<_> = s.collect::<Result<_>>().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(
            (recs[0].name.as_str(), &recs[0].seq[..], recs[0].line),
            ("r1", &b"ACgt"[..], 3)
        );
        assert!(recs[1].labels.is_empty());

        let tab = write(
            dir.path(),
            "t.seq",
            b"EventID\tseq\tBound\tother\ne1\tACGT\t1\t0.5\ne2\tAAAA\tNA\t1\n",
        );
        let s = sequence_records(&tab, None).unwrap();
        assert_eq!(s.format(), SeqFormat::Table);
        assert_eq!(s.label_names(), ["Bound"]);
        let recs: Vec<_> = s.collect::<Result<_>>().unwrap();
        assert_eq!(recs[0].labels, [1.0]);
        assert!(recs[1].labels[0].is_nan());
        let cols = ["other".to_string(), "Bound".to_string()];
        let s = sequence_records(&tab, Some(&cols)).unwrap();
        assert_eq!(s.label_names(), cols);
        let recs: Vec<_> = s.collect::<Result<_>>().unwrap();
        assert_eq!(recs[0].labels, [0.5, 1.0]);

        let lines = write(dir.path(), "l.seq", b"AGGUAAUA\r\n\nGAGGTTACG\nacgn");
        let s = sequence_records(&lines, None).unwrap();
        assert_eq!(s.format(), SeqFormat::Lines);
        let recs: Vec<_> = s.collect::<Result<_>>().unwrap();
        let got: Vec<_> = recs
            .iter()
            .map(|r| (r.name.as_str(), &r.seq[..], r.line))
            .collect();
        assert_eq!(
            got,
            [
                ("seq1", &b"AGGUAAUA"[..], 1),
                ("seq2", b"GAGGTTACG", 3),
                ("seq3", b"acgn", 4)
            ]
        );
    }

    #[test]
    fn sequence_records_rejects_bad_characters_with_place() {
        let dir = tempfile::tempdir().unwrap();
        let fa = write(dir.path(), "bad.fa", b">ok\nACGT\n>r2\nACGT\nACGTACGT7AC\n");
        // FASTA: the line and column of the bad byte (the record spans lines 3-5).
        let e = records(&fa).err().unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:5: record 'r2': invalid character '7' at column 9",
                fa.display()
            )
        );
        let tab = write(dir.path(), "bad.seq", b"EventID\tseq\nx\tAC-GT\n");
        let e = records(&tab).err().unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:2: record 'x': invalid character '-' at position 3 of the sequence",
                tab.display()
            )
        );
        // Iteration stops after the error.
        let mut it = sequence_records(&fa, None).unwrap();
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn sequence_records_empty_inputs() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("e1", &b""[..]),
            ("e2", b"\n \n\r\n"),
            ("e3.gz", &gzip(b"")[..]),
        ] {
            let p = write(dir.path(), name, bytes);
            let e = records(&p).err().unwrap();
            assert!(e.to_string().contains("no records"), "{name}: {e}");
        }
        let p = write(dir.path(), "h.seq", b"EventID\tseq\tBound\n");
        let e = records(&p).err().unwrap();
        assert!(e.to_string().contains("no records"), "{e}");
    }

    #[test]
    fn sequence_records_on_real_deepbind_table() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let plain = records(&base.join("REST_B.head50.seq")).unwrap();
        let gz = records(&base.join("REST_B.head50.seq.gz")).unwrap();
        assert_eq!(plain, gz);
        assert_eq!(plain.len(), 50);
        assert_eq!(plain[0].name, "seq_00002_peak");
        assert!(
            plain
                .iter()
                .all(|r| r.seq.len() == 101 && r.labels == [1.0])
        );
        assert_eq!(plain[49].line, 51);
    }
}
