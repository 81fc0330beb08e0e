//! Opening inputs: `-` for standard input, gzip (and BGZF) detected by content, the name an
//! input is reported under, and the errors and message pieces every reader shares (a failed read
//! at a line, a bad byte shown in a message).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};

/// Size of the read and write buffers.
pub(super) const BUF_SIZE: usize = 1 << 16;

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
/// let lines: Vec<String> = seqcnn::io::input::open_input(&path).unwrap().lines().collect::<Result<_, _>>().unwrap();
/// assert_eq!(lines, ["hello", "world"]);
/// assert!(seqcnn::io::input::open_input(&dir.path().join("missing.fa")).is_err());
/// ```
pub fn open_input(path: &Path) -> Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = if is_dash(path) {
        Box::new(io::stdin().lock())
    } else {
        Box::new(open_file(path)?)
    };
    sniff_gzip(raw).map_err(|e| Error::io(input_name(path), e))
}

/// Regular files this process has read, by device and inode, with the path they were read as:
/// an output that would replace one of them is refused ([`read_as`]).
static READ: std::sync::Mutex<Vec<(u64, u64, PathBuf)>> = std::sync::Mutex::new(Vec::new());

/// Whether inputs are noted ([`guard_inputs`]).
static GUARD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on, the files this process reads as inputs are noted, and an output that would
/// replace one of them is an error ([`crate::io::output::AtomicOutput`]). The `seqcnn` binary
/// turns this on: one command's outputs must never replace its inputs. A program that loads a
/// model and saves it back in place leaves it off.
pub fn guard_inputs() {
    GUARD.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Opens an input file, noting it as read ([`read_as`]). Errors name the file.
pub fn open_file(path: &Path) -> Result<File> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    if let Ok(m) = file.metadata() {
        note(path, &m);
    }
    Ok(file)
}

/// Reads a whole input file, noting it as read ([`read_as`]). Errors name the file.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_file(path)?
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

fn note(path: &Path, m: &std::fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    if m.is_file() && GUARD.load(std::sync::atomic::Ordering::Relaxed) {
        let mut read = READ.lock().unwrap_or_else(|e| e.into_inner());
        if !read.iter().any(|(d, i, _)| (*d, *i) == (m.dev(), m.ino())) {
            read.push((m.dev(), m.ino(), path.to_path_buf()));
        }
    }
}

/// The path an input was read as, when `path` names the same file (by device and inode,
/// however it is spelled): writing `path` would replace that input.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
/// std::fs::write(&a, "x\n").unwrap();
/// std::fs::write(&b, "y\n").unwrap();
/// seqcnn::io::input::guard_inputs();
/// seqcnn::io::input::read_file(&a).unwrap();
/// assert_eq!(seqcnn::io::input::read_as(&dir.path().join(".").join("a.txt")), Some(a));
/// assert_eq!(seqcnn::io::input::read_as(&b), None);
/// ```
pub fn read_as(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let read = READ.lock().unwrap_or_else(|e| e.into_inner());
    read.iter()
        .find(|(d, i, _)| (*d, *i) == (m.dev(), m.ino()))
        .map(|(_, _, p)| p.clone())
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    /// Writes `bytes` to `dir/name`.
    pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// `bytes` gzip-compressed.
    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
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
        let e = crate::io::sequence::sequence_records(&p, None)
            .and_then(|s| s.collect::<Result<Vec<_>>>())
            .err()
            .unwrap();
        assert!(e.to_string().contains("bad.gz"), "{e}");
    }
}
