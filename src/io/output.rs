//! Outputs: [`AtomicOutput`], a file that appears whole or not at all (BGZF for `.gz`, `-` for
//! standard output); devices, pipes and other files that are not regular are written in place.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::cleanup::Pending;
use super::input::{BUF_SIZE, is_dash};
use crate::error::{Error, Result};

/// Where an [`AtomicOutput`] writes.
enum Sink {
    Stdout(BufWriter<io::Stdout>),
    Plain(BufWriter<NamedTempFile>),
    Gzip(noodles_bgzf::io::Writer<BufWriter<NamedTempFile>>),
    /// A file that is not regular (`/dev/null`, a FIFO, `/dev/stdout`), opened and written as it
    /// is: a rename would replace it with a regular file.
    InPlace(BufWriter<std::fs::File>),
    InPlaceGzip(noodles_bgzf::io::Writer<BufWriter<std::fs::File>>),
}

/// Whether `path` is written in place rather than through a temporary file and a rename: it
/// exists and either (following symbolic links) is not a regular file, or lies under `/dev` or
/// `/proc` (`/dev/stdout` redirected to a file), where a rename would put a regular file in the
/// place of a device or a link to one.
fn in_place(path: &Path) -> Option<std::fs::Metadata> {
    let meta = std::fs::metadata(path).ok()?;
    let special = path.starts_with("/dev") || path.starts_with("/proc");
    (special || !meta.is_file()).then_some(meta)
}

/// An output file that appears whole or not at all: bytes go to a temporary file in the target's
/// directory, and [`commit`](AtomicOutput::commit) renames it into place. Dropped without a
/// commit (an error on the way, a panic), the temporary file is removed and any existing file at
/// the path is left untouched. A path ending in `.gz` is compressed as BGZF, the blocked gzip of
/// `bgzip` and htslib: any gzip reader reads it, and `tabix` can index a sorted VCF or bedGraph
/// written so. `-` is standard output (written through, flushed on commit). A symbolic link to a
/// regular file is followed: the file it names is replaced, the link kept. A path that is not a
/// regular file (`/dev/null`, a FIFO, `/dev/stdout`, `/dev/fd/N`, anything under `/dev`) is
/// written in place, and its write errors (`/dev/full`: no space left) are errors of the run.
///
/// ```
/// use std::io::Write;
/// use seqcnn::io::output::AtomicOutput;
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
    /// The temporary file, registered for removal on SIGINT / SIGTERM until committed.
    _pending: Option<Pending>,
    /// Standard output whose reader went away is discarded, not an error.
    discard_closed: bool,
    /// Standard output's reader went away: nothing more is written.
    closed: bool,
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
                _pending: None,
                discard_closed: false,
                closed: false,
            });
        }
        refuse_input(path)?;
        let gz = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        if let Some(meta) = in_place(path) {
            // A regular file reached through /dev or /proc is emptied first, as `>` would.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .truncate(meta.is_file())
                .open(path)
                .map_err(|e| Error::io(path, e))?;
            let file = BufWriter::with_capacity(BUF_SIZE, file);
            let sink = if gz {
                Sink::InPlaceGzip(noodles_bgzf::io::Writer::new(file))
            } else {
                Sink::InPlace(file)
            };
            return Ok(AtomicOutput {
                path: path.to_path_buf(),
                sink,
                _pending: None,
                discard_closed: false,
                closed: false,
            });
        }
        let (target, tmp, pending) = temp_beside(path)?;
        let file = BufWriter::with_capacity(BUF_SIZE, tmp);
        let sink = if gz {
            Sink::Gzip(noodles_bgzf::io::Writer::new(file))
        } else {
            Sink::Plain(file)
        };
        Ok(AtomicOutput {
            path: target,
            sink,
            _pending: Some(pending),
            discard_closed: false,
            closed: false,
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
        let (path, _pending) = (self.path, self._pending);
        let tmp = match self.sink {
            Sink::Stdout(_) if self.closed => return Ok(()),
            Sink::Stdout(mut w) => {
                return match w.flush() {
                    Err(e) if self.discard_closed && e.kind() == io::ErrorKind::BrokenPipe => {
                        Ok(())
                    }
                    r => r.map_err(|e| Error::io(&path, e)),
                };
            }
            Sink::InPlace(mut w) => return w.flush().map_err(|e| Error::io(&path, e)),
            Sink::InPlaceGzip(gz) => {
                let mut w = gz.finish().map_err(|e| Error::io(&path, e))?;
                return w.flush().map_err(|e| Error::io(&path, e));
            }
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
        // An input read after the output was started: the temporary file goes, the input stays.
        refuse_input(&path)?;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        Ok(())
    }
}

/// A temporary file in the directory of the output `path`, registered for removal on SIGINT /
/// SIGTERM, and the path it is to be renamed onto: `path`, or the regular file a symbolic link
/// at `path` names (the file is replaced, the link kept). The directory must exist.
fn temp_beside(path: &Path) -> Result<(PathBuf, NamedTempFile, Pending)> {
    let resolved = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => path.canonicalize().ok(),
        _ => None,
    };
    let target = resolved.as_deref().unwrap_or(path);
    let parent = match target.parent() {
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
    let pending = Pending::new(tmp.path());
    Ok((target.to_path_buf(), tmp, pending))
}

/// A seekable output file that appears whole or not at all, for formats written with seeks
/// (bigWig): a temporary file in the target's directory, renamed onto the path by
/// [`commit`](AtomicFile::commit), as [`AtomicOutput`] does (a symbolic link to a regular file
/// is followed; dropped without a commit, or on SIGINT / SIGTERM, the temporary file is
/// removed). It holds no open file between [`file`](AtomicFile::file) handles, so a command can
/// keep many. Standard output and paths that are not regular files (devices, FIFOs) cannot be
/// written with seeks and renamed, so they are errors.
///
/// ```
/// use std::io::{Seek, SeekFrom, Write};
/// use seqcnn::io::output::AtomicFile;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("track.bin");
/// let out = AtomicFile::create(&path).unwrap();
/// let mut f = out.file().unwrap();
/// f.write_all(b"xxcd").unwrap();
/// f.seek(SeekFrom::Start(0)).unwrap();
/// f.write_all(b"ab").unwrap();
/// assert!(!path.exists()); // nothing visible before the commit
/// out.commit().unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"abcd");
/// assert!(AtomicFile::create(std::path::Path::new("-")).is_err());
/// ```
pub struct AtomicFile {
    path: PathBuf,
    tmp: tempfile::TempPath,
    _pending: Pending,
}

impl AtomicFile {
    /// Starts the output `path`; its directory must exist.
    pub fn create(path: &Path) -> Result<Self> {
        if is_dash(path) || in_place(path).is_some() {
            return Err(Error::Config(format!(
                "{}: this output is written with seeks and renamed into place: name a regular \
                 file, not standard output, a device or a pipe",
                path.display()
            )));
        }
        refuse_input(path)?;
        let (path, tmp, pending) = temp_beside(path)?;
        Ok(AtomicFile {
            path,
            tmp: tmp.into_temp_path(),
            _pending: pending,
        })
    }

    /// The path the file is renamed onto.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new handle on the temporary file, to read, write and seek (at offset 0).
    pub fn file(&self) -> Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.tmp)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Syncs the temporary file to disk.
    pub fn sync(&self) -> Result<()> {
        self.file()?
            .sync_all()
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Syncs the file and renames it onto the path, replacing any file there.
    pub fn commit(self) -> Result<()> {
        self.sync()?;
        // An input read after the output was started: the temporary file goes, the input stays.
        refuse_input(&self.path)?;
        let AtomicFile {
            path,
            tmp,
            _pending,
        } = self;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        Ok(())
    }
}

/// An error when `path` is a file this process has read as an input: replacing it would lose
/// the input (`predict --out INPUT`, an export onto the model it reads).
fn refuse_input(path: &Path) -> Result<()> {
    match crate::io::input::read_as(path) {
        Some(input) => Err(Error::Config(format!(
            "{}: this output is the input {}: writing it would replace that input; name another \
             output",
            path.display(),
            input.display()
        ))),
        None => Ok(()),
    }
}

/// A directory of outputs (plots) that appears with all its files or not at all: files are
/// written into a temporary directory beside it ([`path`](AtomicDir::path)), which
/// [`commit`](AtomicDir::commit) renames into place, or, when the directory exists already,
/// whose files it moves into it. Dropped without a commit (a failed run), or on SIGINT /
/// SIGTERM, the temporary directory is removed with what was drawn in it.
pub struct AtomicDir {
    target: PathBuf,
    tmp: tempfile::TempDir,
    _pending: Pending,
}

impl AtomicDir {
    /// Starts the directory `dir` (its parent directories are created). `dir` may exist as a
    /// directory; an existing file there is an error.
    pub fn create(dir: &Path) -> Result<Self> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::Config(format!(
                "{} exists and is not a directory: name a directory for the plots",
                dir.display()
            )));
        }
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".seqcnn-")
            .suffix(".tmp")
            .tempdir_in(parent)
            .map_err(|e| Error::io(dir, e))?;
        let pending = Pending::new(tmp.path());
        Ok(AtomicDir {
            target: dir.to_path_buf(),
            tmp,
            _pending: pending,
        })
    }

    /// Where the files are written until the commit.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Makes the files visible: the temporary directory becomes `dir`, or its files move into
    /// `dir` if it exists (replacing files of the same names).
    pub fn commit(self) -> Result<()> {
        let AtomicDir {
            target,
            tmp,
            _pending,
        } = self;
        if !target.exists() {
            let kept = tmp.keep();
            return std::fs::rename(&kept, &target).map_err(|e| {
                let _ = std::fs::remove_dir_all(&kept);
                Error::io(&target, e)
            });
        }
        for entry in std::fs::read_dir(tmp.path()).map_err(|e| Error::io(tmp.path(), e))? {
            let entry = entry.map_err(|e| Error::io(tmp.path(), e))?;
            let to = target.join(entry.file_name());
            std::fs::rename(entry.path(), &to).map_err(|e| Error::io(&to, e))?;
        }
        Ok(())
    }
}

impl AtomicOutput {
    /// For a command with outputs besides this one: if this is standard output and its reader
    /// goes away (`| head`), the rest is discarded instead of failing the run, so the other
    /// outputs (a model, plots) are still written.
    pub fn discard_if_closed(&mut self) {
        self.discard_closed = true;
    }

    /// A write error, unless it is standard output closed under
    /// [`discard_if_closed`](Self::discard_if_closed), which then takes nothing more.
    fn failed(&mut self, e: io::Error) -> io::Result<()> {
        if self.discard_closed
            && matches!(self.sink, Sink::Stdout(_))
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.closed = true;
            return Ok(());
        }
        Err(e)
    }
}

impl Write for AtomicOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let r = match &mut self.sink {
            Sink::Stdout(w) => w.write(buf),
            Sink::Plain(w) => w.write(buf),
            Sink::Gzip(w) => w.write(buf),
            Sink::InPlace(w) => w.write(buf),
            Sink::InPlaceGzip(w) => w.write(buf),
        };
        match r {
            Err(e) => self.failed(e).map(|()| buf.len()),
            ok => ok,
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = match &mut self.sink {
            Sink::Stdout(w) => w.write_all(buf),
            Sink::Plain(w) => w.write_all(buf),
            Sink::Gzip(w) => w.write_all(buf),
            Sink::InPlace(w) => w.write_all(buf),
            Sink::InPlaceGzip(w) => w.write_all(buf),
        };
        r.or_else(|e| self.failed(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = match &mut self.sink {
            Sink::Stdout(w) => w.flush(),
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
            Sink::InPlace(w) => w.flush(),
            Sink::InPlaceGzip(w) => w.flush(),
        };
        r.or_else(|e| self.failed(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::input::open_input;
    use std::io::Read;

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
}
