//! Streaming FASTA reader over any `BufRead` (plain or gzip via [`super::input::open_input`]):
//! multi-line sequences, CRLF, blank lines; case kept; characters checked line by line, so an
//! error points at the line and column of a bad one.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One FASTA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastaRecord {
    /// First word of the header line (after `>`, up to the first space or tab).
    pub name: String,
    /// The sequence lines joined, surrounding whitespace and line ends removed, case kept.
    pub seq: Vec<u8>,
    /// 1-based line of the header.
    pub line: u64,
}

/// An iterator of [`FastaRecord`]s. Errors (with file and line): sequence data before the first
/// header, a header with no name, a record with an empty sequence, a character that is not a
/// nucleotide or IUPAC code (with its column and record), an input with no records, and read
/// errors. After the first error it yields nothing more.
///
/// ```
/// use seqcnn::io::fasta::FastaReader;
/// let data = b">seq1 some description\r\nACGT\r\nac\r\n\r\n>seq2\nNNGT";
/// let recs: Vec<_> = FastaReader::new(&data[..], "example.fa").collect::<Result<_, _>>().unwrap();
/// assert_eq!(recs.len(), 2);
/// assert_eq!((recs[0].name.as_str(), recs[0].seq.as_slice(), recs[0].line), ("seq1", &b"ACGTac"[..], 1));
/// assert_eq!((recs[1].name.as_str(), recs[1].seq.as_slice(), recs[1].line), ("seq2", &b"NNGT"[..], 5));
/// ```
pub struct FastaReader<R> {
    reader: R,
    path: PathBuf,
    /// Lines read so far (1-based number of the last line read).
    line: u64,
    buf: Vec<u8>,
    /// Name and line of the record being read.
    header: Option<(String, u64)>,
    seq: Vec<u8>,
    records: u64,
    done: bool,
}

impl FastaReader<Box<dyn BufRead>> {
    /// Opens a FASTA file (`-` = stdin; gzip detected by content).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("x.fa");
    /// std::fs::write(&path, ">a\nACGT\n").unwrap();
    /// let mut reader = seqcnn::io::fasta::FastaReader::from_path(&path).unwrap();
    /// assert_eq!(reader.next().unwrap().unwrap().seq, b"ACGT");
    /// assert!(reader.next().is_none());
    /// ```
    pub fn from_path(path: &Path) -> Result<Self> {
        Ok(FastaReader::new(
            super::input::open_input(path)?,
            super::input::input_name(path),
        ))
    }
}

impl<R: BufRead> FastaReader<R> {
    /// Reads FASTA from `reader`; `path` names the input in errors.
    pub fn new(reader: R, path: impl Into<PathBuf>) -> Self {
        FastaReader {
            reader,
            path: path.into(),
            line: 0,
            buf: Vec::new(),
            header: None,
            seq: Vec::new(),
            records: 0,
            done: false,
        }
    }

    fn fail(&mut self, line: u64, msg: impl Into<String>) -> Option<Result<FastaRecord>> {
        self.done = true;
        Some(Err(Error::parse(&self.path, line, msg)))
    }

    /// Closes the record in progress (if any) and starts `next` (if any).
    fn finish(&mut self, next: Option<(String, u64)>) -> Option<Result<FastaRecord>> {
        let (name, line) = std::mem::replace(&mut self.header, next)?;
        let seq = std::mem::take(&mut self.seq);
        if seq.is_empty() {
            return self.fail(line, format!("record '{name}' has an empty sequence"));
        }
        self.records += 1;
        Some(Ok(FastaRecord { name, seq, line }))
    }
}

/// The message for a bad byte of a sequence line whose trimmed text starts after `lead` bytes.
fn bad_character(
    header: Option<&(String, u64)>,
    bad: crate::encode::BadBase,
    lead: usize,
) -> String {
    let name = header.map_or("", |(n, _)| n.as_str());
    format!(
        "record '{name}': invalid character {} at column {}",
        super::input::show_byte(bad.byte),
        lead + bad.pos + 1
    )
}

impl<R: BufRead> Iterator for FastaReader<R> {
    type Item = Result<FastaRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    if self.header.is_some() {
                        return self.finish(None);
                    }
                    if self.records == 0 {
                        return self.fail(0, "empty FASTA: no records");
                    }
                }
                Ok(_) => {
                    self.line += 1;
                    let line = self.buf.trim_ascii();
                    if line.is_empty() {
                        continue;
                    }
                    if let Some(header) = line.strip_prefix(b">") {
                        let name = header
                            .split(|b| b.is_ascii_whitespace())
                            .find(|w| !w.is_empty());
                        let Some(name) = name else {
                            return self.fail(self.line, "header line has no name");
                        };
                        let next = (String::from_utf8_lossy(name).into_owned(), self.line);
                        if self.header.is_some() {
                            return self.finish(Some(next));
                        }
                        self.header = Some(next);
                    } else if self.header.is_none() {
                        return self.fail(
                            self.line,
                            "sequence data before the first header ('>name' line)",
                        );
                    } else {
                        if let Err(bad) = crate::encode::check_sequence(line) {
                            let lead = self.buf.len() - self.buf.trim_ascii_start().len();
                            let msg = bad_character(self.header.as_ref(), bad, lead);
                            return self.fail(self.line, msg);
                        }
                        self.seq.extend_from_slice(line);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &[u8]) -> Result<Vec<FastaRecord>> {
        FastaReader::new(data, "t.fa").collect()
    }

    fn err(data: &[u8]) -> String {
        match read(data) {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn rec(name: &str, seq: &[u8], line: u64) -> FastaRecord {
        FastaRecord {
            name: name.into(),
            seq: seq.to_vec(),
            line,
        }
    }

    #[test]
    fn multi_line_crlf_lowercase_and_blank_lines() {
        let data = b"\r\n>chr1 Homo sapiens\r\nACGTN\r\nacgtn\r\n\r\n>chr2\tx\r\nGGGG\r\n";
        assert_eq!(
            read(data).unwrap(),
            [rec("chr1", b"ACGTNacgtn", 2), rec("chr2", b"GGGG", 6)]
        );
    }

    #[test]
    fn missing_final_newline() {
        assert_eq!(read(b">a\nAC\nGT").unwrap(), [rec("a", b"ACGT", 1)]);
        assert_eq!(
            read(b">a\nAC\n>b\nT").unwrap(),
            [rec("a", b"AC", 1), rec("b", b"T", 3)]
        );
    }

    #[test]
    fn surrounding_spaces_trimmed_inner_rejected_with_column() {
        assert_eq!(read(b">a  \n  ACGT  \n").unwrap(), [rec("a", b"ACGT", 1)]);
        assert_eq!(
            err(b">a  \nAC GT  \n"),
            "t.fa:2: record 'a': invalid character 0x20 at column 3"
        );
    }

    #[test]
    fn bad_character_names_its_line_column_and_record() {
        // The line of the bad byte, not the record's header line; columns count from 1 and
        // include leading whitespace.
        assert_eq!(
            err(b">r1\nACGT\n>r2 desc\nACGT\n\n \tAC3GT\r\n>r3\nAC\n"),
            "t.fa:6: record 'r2': invalid character '3' at column 5"
        );
        assert_eq!(
            err(b">r1\nACGTX\n"),
            "t.fa:2: record 'r1': invalid character 'X' at column 5"
        );
        // The record before the bad one is still returned.
        let mut it = FastaReader::new(&b">a\nAC\n>b\nA-C\n"[..], "t.fa");
        assert_eq!(it.next().unwrap().unwrap(), rec("a", b"AC", 1));
        assert_eq!(
            it.next().unwrap().unwrap_err().to_string(),
            "t.fa:4: record 'b': invalid character '-' at column 2"
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn non_utf8_header_is_not_a_panic() {
        let r = read(b">na\xffme\nAC\n").unwrap();
        assert_eq!(r[0].seq, b"AC");
        assert!(r[0].name.starts_with("na"));
    }

    #[test]
    fn errors_name_file_and_line() {
        assert_eq!(
            err(b"ACGT\n>a\nAC\n"),
            "t.fa:1: sequence data before the first header ('>name' line)"
        );
        assert_eq!(
            err(b"\n\nACGT\n"),
            "t.fa:3: sequence data before the first header ('>name' line)"
        );
        assert_eq!(
            err(b">a\nAC\n>b\n>c\nGT\n"),
            "t.fa:3: record 'b' has an empty sequence"
        );
        assert_eq!(
            err(b">a\nAC\n>b\n\n"),
            "t.fa:3: record 'b' has an empty sequence"
        );
        assert_eq!(err(b">a\nAC\n> \nGT\n"), "t.fa:3: header line has no name");
        assert_eq!(err(b""), "t.fa: empty FASTA: no records");
        assert_eq!(err(b"\n\r\n  \n"), "t.fa: empty FASTA: no records");
    }

    #[test]
    fn stops_after_error() {
        let mut it = FastaReader::new(&b">a\nAC\n>b\n>c\nGT\n"[..], "t.fa");
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn read_errors_are_io_errors_naming_the_file() {
        struct Failing;
        impl std::io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let mut it = FastaReader::new(std::io::BufReader::new(Failing), "t.fa");
        assert_eq!(
            it.next().unwrap().unwrap_err().to_string(),
            "t.fa: disk on fire"
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn gzip_file_through_from_path() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.fa.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b">x\nACGT\nTT\n").unwrap();
        std::fs::write(&path, e.finish().unwrap()).unwrap();
        let recs: Vec<_> = FastaReader::from_path(&path)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(recs, [rec("x", b"ACGTTT", 1)]);
    }
}
