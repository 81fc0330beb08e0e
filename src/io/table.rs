//! DeepBind-style sequence tables: tab-separated with a header row (`FoldID EventID seq Bound`),
//! plain or gzip; a required `seq` column, an optional `EventID` name column and any number of
//! numeric label columns (`Bound` by default).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Name of the required sequence column.
pub const SEQ_COLUMN: &str = "seq";
/// Name of the optional record-name column.
pub const NAME_COLUMN: &str = "EventID";
/// The label column used when none is named.
pub const DEFAULT_LABEL_COLUMN: &str = "Bound";

/// One row of a sequence table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRecord {
    /// The `EventID` field, or `seq<N>` with `N` the 1-based row number when there is no such
    /// column (or the field is empty).
    pub name: String,
    /// The `seq` field with surrounding whitespace removed, case kept.
    pub seq: Vec<u8>,
    /// One value per label column, in the order of [`TableReader::label_names`]; a field that is
    /// empty, `NA` or `nan` (any case) is NaN.
    pub labels: Vec<f32>,
    /// 1-based line of the row.
    pub line: u64,
}

/// A streaming reader of [`TableRecord`]s. Errors carry file and line: no `seq` column (the
/// columns found are listed), a missing label column, a row whose field count differs from the
/// header's, a label that is not a number, an empty sequence, a table with no rows. After the
/// first error it yields nothing more.
///
/// ```
/// use seqcnn::io::table::TableReader;
/// let data = b"FoldID\tEventID\tseq\tBound\nA\tpeak1\tACGT\t1\nA\tpeak2\ttgca\t0\r\n";
/// let reader = TableReader::new(&data[..], "x.seq", None).unwrap();
/// assert_eq!(reader.label_names(), ["Bound"]);
/// let rows: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
/// assert_eq!((rows[1].name.as_str(), rows[1].seq.as_slice(), rows[1].labels[0], rows[1].line),
///            ("peak2", &b"tgca"[..], 0.0, 3));
///
/// // Several label columns, in the order asked for; a missing label is NaN.
/// let data = b"seq\tctcf\tdnase\nACGT\t1\tNA\n";
/// let cols = ["dnase".to_string(), "ctcf".to_string()];
/// let rows: Vec<_> = TableReader::new(&data[..], "y.tsv", Some(&cols)).unwrap().collect::<Result<_, _>>().unwrap();
/// assert!(rows[0].labels[0].is_nan());
/// assert_eq!((rows[0].name.as_str(), rows[0].labels[1]), ("seq1", 1.0));
/// ```
pub struct TableReader<R> {
    reader: R,
    path: PathBuf,
    columns: Vec<String>,
    seq_col: usize,
    name_col: Option<usize>,
    label_cols: Vec<usize>,
    label_names: Vec<String>,
    buf: Vec<u8>,
    /// 1-based number of the last line read.
    line: u64,
    rows: u64,
    done: bool,
}

impl TableReader<Box<dyn BufRead>> {
    /// Opens a table file (`-` = stdin; gzip detected by content); see [`TableReader::new`].
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("t.seq");
    /// std::fs::write(&path, "EventID\tseq\tBound\ne1\tACGT\t1\n").unwrap();
    /// let mut rows = seqcnn::io::table::TableReader::from_path(&path, None).unwrap();
    /// assert_eq!(rows.next().unwrap().unwrap().name, "e1");
    /// ```
    pub fn from_path(path: &Path, label_columns: Option<&[String]>) -> Result<Self> {
        TableReader::new(
            super::input::open_input(path)?,
            super::input::input_name(path),
            label_columns,
        )
    }
}

// Read line by line rather than through the csv crate: csv's record positions skip blank lines
// and so would put errors on the wrong line, and these tables have no quoting to handle.
impl<R: BufRead> TableReader<R> {
    /// Reads the header row (the first non-blank line) of a table from `reader` (`path` names it
    /// in errors). `label_columns`: `None` = `Bound` if the table has it, else no labels;
    /// `Some(list)` = exactly those columns, each of which must exist (`Some(&[])` = no labels).
    pub fn new(
        reader: R,
        path: impl Into<PathBuf>,
        label_columns: Option<&[String]>,
    ) -> Result<Self> {
        let mut t = TableReader {
            reader,
            path: path.into(),
            columns: Vec::new(),
            seq_col: 0,
            name_col: None,
            label_cols: Vec::new(),
            label_names: Vec::new(),
            buf: Vec::new(),
            line: 0,
            rows: 0,
            done: false,
        };
        if !t.next_line()? {
            return Err(Error::parse(
                &t.path,
                0,
                "empty input: no header row and no records",
            ));
        }
        t.columns = split_fields(&t.buf)
            .map(|f| String::from_utf8_lossy(f.trim_ascii()).into_owned())
            .collect();
        let find = |name: &str| t.columns.iter().position(|c| c == name);
        let missing = |what: String| {
            Error::parse(
                &t.path,
                t.line,
                format!(
                    "{what}; columns found: {}",
                    crate::error::excerpt(&t.columns.join(", "), 120)
                ),
            )
        };
        let seq_col = find(SEQ_COLUMN).ok_or_else(|| {
            missing(format!(
                "no '{SEQ_COLUMN}' column (expected a tab-separated table with a header row, or FASTA)"
            ))
        })?;
        let name_col = find(NAME_COLUMN);
        let (label_cols, label_names) = match label_columns {
            None => match find(DEFAULT_LABEL_COLUMN) {
                Some(i) => (vec![i], vec![DEFAULT_LABEL_COLUMN.to_string()]),
                None => (Vec::new(), Vec::new()),
            },
            Some(names) => {
                let mut cols = Vec::with_capacity(names.len());
                for name in names {
                    let col =
                        find(name).ok_or_else(|| missing(format!("no label column '{name}'")))?;
                    cols.push(col);
                }
                (cols, names.to_vec())
            }
        };
        t.seq_col = seq_col;
        t.name_col = name_col;
        t.label_cols = label_cols;
        t.label_names = label_names;
        Ok(t)
    }

    /// The column names of the header row.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Names of the label columns, in the order of [`TableRecord::labels`].
    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }

    /// Reads the next non-blank line into `buf` without its line end; `false` at the end.
    fn next_line(&mut self) -> Result<bool> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| super::input::read_error(&self.path, self.line + 1, e))?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            if self.buf.trim_ascii().is_empty() {
                continue;
            }
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            return Ok(true);
        }
    }

    fn parse_row(&self) -> Result<TableRecord> {
        let line = self.line;
        let fail = |msg: String| Error::parse(&self.path, line, msg);
        let fields: Vec<&[u8]> = split_fields(&self.buf).collect();
        if fields.len() != self.columns.len() {
            return Err(fail(format!(
                "row has {} fields, the header has {} ({})",
                fields.len(),
                self.columns.len(),
                self.columns.join(", ")
            )));
        }
        let field = |i: usize| fields.get(i).copied().unwrap_or_default();
        let name = match self.name_col.map(|i| field(i).trim_ascii()) {
            Some(n) if !n.is_empty() => String::from_utf8_lossy(n).into_owned(),
            _ => format!("seq{}", self.rows),
        };
        let seq = field(self.seq_col).trim_ascii().to_vec();
        if seq.is_empty() {
            return Err(fail(format!("record '{name}' has an empty sequence")));
        }
        let mut labels = Vec::with_capacity(self.label_cols.len());
        for (&col, col_name) in self.label_cols.iter().zip(&self.label_names) {
            let raw = field(col).trim_ascii();
            labels.push(parse_label(raw).ok_or_else(|| {
                fail(format!(
                    "record '{name}': label column '{col_name}': '{}' is not a number",
                    String::from_utf8_lossy(raw)
                ))
            })?);
        }
        Ok(TableRecord {
            name,
            seq,
            labels,
            line,
        })
    }
}

fn split_fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b'\t')
}

/// A label value: a finite number, or NaN for a missing one (empty, `NA`, `nan`, any case).
fn parse_label(raw: &[u8]) -> Option<f32> {
    if raw.is_empty() || raw.eq_ignore_ascii_case(b"na") || raw.eq_ignore_ascii_case(b"nan") {
        return Some(f32::NAN);
    }
    let v: f32 = std::str::from_utf8(raw).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

impl<R: BufRead> Iterator for TableReader<R> {
    type Item = Result<TableRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.next_line() {
            Ok(true) => {
                self.rows += 1;
                self.parse_row()
            }
            Ok(false) => {
                self.done = true;
                if self.rows > 0 {
                    return None;
                }
                Err(Error::parse(
                    &self.path,
                    0,
                    "empty table: a header row but no records",
                ))
            }
            Err(e) => Err(e),
        };
        self.done = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEEPBIND: &[u8] = b"FoldID\tEventID\tseq\tBound\nA\tseq_00002_peak\tGACCCTGCG\t1\nA\tseq_00004_peak\ttagagn\t0\n";

    fn read(data: &[u8], labels: Option<&[String]>) -> Result<Vec<TableRecord>> {
        TableReader::new(data, "t.seq", labels)?.collect()
    }

    fn err(data: &[u8], labels: Option<&[String]>) -> String {
        match read(data, labels) {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn deepbind_layout() {
        let r = read(DEEPBIND, None).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            TableRecord {
                name: "seq_00002_peak".into(),
                seq: b"GACCCTGCG".to_vec(),
                labels: vec![1.0],
                line: 2
            }
        );
        assert_eq!(
            (&r[1].seq[..], r[1].labels[0], r[1].line),
            (&b"tagagn"[..], 0.0, 3)
        );
        let t = TableReader::new(DEEPBIND, "t.seq", None).unwrap();
        assert_eq!(t.columns(), ["FoldID", "EventID", "seq", "Bound"]);
    }

    #[test]
    fn crlf_blank_lines_and_missing_final_newline() {
        let data = b"EventID\tseq\tBound\r\n\r\ne1\tACGT\t1\r\n\r\ne2\tGG\t0";
        let r = read(data, None).unwrap();
        let got: Vec<_> = r
            .iter()
            .map(|r| (r.name.as_str(), &r.seq[..], r.labels[0], r.line))
            .collect();
        assert_eq!(got, [("e1", &b"ACGT"[..], 1.0, 3), ("e2", b"GG", 0.0, 5)]);
    }

    #[test]
    fn no_name_column_numbers_rows_and_no_bound_means_no_labels() {
        let r = read(b"seq\nAC\nGT\n", None).unwrap();
        assert_eq!((r[0].name.as_str(), r[1].name.as_str()), ("seq1", "seq2"));
        assert!(r[0].labels.is_empty());
        // Empty Some: no labels even with a Bound column.
        let r = read(DEEPBIND, Some(&[])).unwrap();
        assert!(r[0].labels.is_empty());
    }

    #[test]
    fn missing_labels_are_nan_and_multi_task_order_follows_request() {
        let data = b"seq\ta\tb\tc\nAC\t1\t\tNA\nGT\tnan\t2.5\t-1e-3\n";
        let cols = names(&["c", "a", "b"]);
        let r = read(data, Some(&cols)).unwrap();
        assert!(r[0].labels[0].is_nan() && r[0].labels[2].is_nan());
        assert_eq!(r[0].labels[1], 1.0);
        assert!(r[1].labels[1].is_nan());
        assert_eq!((r[1].labels[0], r[1].labels[2]), (-1e-3, 2.5));
        let t = TableReader::new(&data[..], "t.seq", Some(&cols)).unwrap();
        assert_eq!(t.label_names(), cols);
    }

    #[test]
    fn errors_name_file_and_line() {
        assert_eq!(
            err(b"FoldID\tEventID\tsequence\tBound\nA\tx\tAC\t1\n", None),
            "t.seq:1: no 'seq' column (expected a tab-separated table with a header row, or FASTA); \
             columns found: FoldID, EventID, sequence, Bound"
        );
        assert_eq!(
            err(DEEPBIND, Some(&names(&["Bound", "ctcf"]))),
            "t.seq:1: no label column 'ctcf'; columns found: FoldID, EventID, seq, Bound"
        );
        assert_eq!(
            err(b"EventID\tseq\tBound\ne1\tAC\t1\ne2\tGT\n", None),
            "t.seq:3: row has 2 fields, the header has 3 (EventID, seq, Bound)"
        );
        assert_eq!(
            err(b"EventID\tseq\tBound\ne1\tAC\t1\t\n", None),
            "t.seq:2: row has 4 fields, the header has 3 (EventID, seq, Bound)"
        );
        assert_eq!(
            err(b"EventID\tseq\tBound\ne1\tAC\tyes\n", None),
            "t.seq:2: record 'e1': label column 'Bound': 'yes' is not a number"
        );
        assert_eq!(
            err(b"EventID\tseq\tBound\ne1\tAC\tinf\n", None),
            "t.seq:2: record 'e1': label column 'Bound': 'inf' is not a number"
        );
        assert_eq!(
            err(b"EventID\tseq\tBound\n\ne1\t \t1\n", None),
            "t.seq:3: record 'e1' has an empty sequence"
        );
        assert_eq!(
            err(b"EventID\tseq\tBound\n", None),
            "t.seq: empty table: a header row but no records"
        );
        assert_eq!(
            err(b"", None),
            "t.seq: empty input: no header row and no records"
        );
    }

    #[test]
    fn stops_after_error_and_non_utf8_does_not_panic() {
        let mut it =
            TableReader::new(&b"seq\tBound\nAC\t1\nGT\tx\nAA\t0\n"[..], "t.seq", None).unwrap();
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        let r = read(b"EventID\tseq\tBound\nn\xffm\tAC\t\xff\n", None);
        assert!(r.is_err());
        let r = read(b"EventID\tseq\nn\xffm\tAC\n", None).unwrap();
        assert!(r[0].name.starts_with('n'));
    }

    #[test]
    fn quotes_are_plain_characters() {
        // DeepBind tables have no quoting; a quote is data (and encode will reject it).
        let r = read(b"EventID\tseq\n\"a b\"\t\"AC\"\n", None).unwrap();
        assert_eq!(
            (r[0].name.as_str(), &r[0].seq[..]),
            ("\"a b\"", &b"\"AC\""[..])
        );
    }

    #[test]
    fn real_deepbind_slice_plain_and_gzip() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let plain: Vec<_> = TableReader::from_path(&base.join("REST_B.head50.seq"), None)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        let gz: Vec<_> = TableReader::from_path(&base.join("REST_B.head50.seq.gz"), None)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(plain, gz);
        assert_eq!(plain.len(), 50);
        assert_eq!(plain[0].name, "seq_00002_peak");
        assert_eq!(&plain[0].seq[..10], b"GACCCTGCGC");
        assert_eq!(
            (plain[49].line, plain[49].labels.as_slice()),
            (51, &[1.0][..])
        );
        assert!(plain.iter().all(|r| r.seq.len() == 101));
    }
}
