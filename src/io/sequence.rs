//! The sequence reader every sequence command reads through: it picks the format from the first
//! non-blank line (FASTA, a DeepBind-style table, or one sequence per line, read here), streams
//! [`SeqRecord`]s and checks every sequence.

use std::io::{self, BufRead, Cursor, Read};
use std::path::{Path, PathBuf};

use super::input::{input_name, open_input, read_error, show_byte};
use super::{fasta, table};
use crate::encode;
use crate::error::{Error, Result};

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
/// let recs: Vec<_> = seqcnn::io::sequence::sequence_records(&path, None).unwrap().collect::<Result<_, _>>().unwrap();
/// assert_eq!(recs.len(), 2);
/// assert_eq!((recs[0].name.as_str(), recs[0].seq.as_slice(), recs[0].labels.as_slice()), ("peak1", &b"ACGTn"[..], &[1.0][..]));
///
/// std::fs::write(&path, ">chr1 test\nACGT\nAC\n").unwrap();
/// let recs: Vec<_> = seqcnn::io::sequence::sequence_records(&path, None).unwrap().collect::<Result<_, _>>().unwrap();
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
    use crate::io::input::tests::{gzip, write};

    fn records(path: &Path) -> Result<Vec<SeqRecord>> {
        sequence_records(path, None)?.collect()
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
