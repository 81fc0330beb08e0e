//! A small streaming VCF reader: the header kept line for line (so an annotated copy can be
//! written back), then one record at a time with its 1-based line number, each ALT classified
//! as a sequence or a symbolic allele. Errors name the file and the line.
//!
//! Only the eight fixed columns are read; FORMAT and sample columns are kept as text. REF must
//! be bases (A, C, G, T, N or another IUPAC code, any case); an ALT is bases, `*`, a symbolic
//! allele (`<DEL>`), a breakend (`G]17:198982]`, `.A`, `G.`) or `.` (no ALT at all).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::interval::MAX_POSITION;
use crate::io::input::{input_name, open_input, read_error, show_byte};

/// The header of a VCF file: every `##` meta line and the `#CHROM` column line, as written
/// (line ends removed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VcfHeader {
    /// The `##key=value` lines, in order.
    pub meta: Vec<String>,
    /// The `#CHROM POS ID REF ALT QUAL FILTER INFO ...` line.
    pub columns: String,
}

/// What an ALT allele is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AltKind {
    /// Bases: a substitution, insertion, deletion or complex change against REF.
    Bases,
    /// `<ID>` (`<DEL>`, `<NON_REF>`...): no sequence to score.
    Symbolic,
    /// `*`: an allele missing because of an overlapping deletion.
    Overlap,
    /// A breakend (`G]17:198982]`, `.A`, `G.`).
    Breakend,
}

/// One VCF data line. Positions are VCF's: 1-based, `pos` is the first base of REF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcfRecord {
    /// 1-based line of the record in its file.
    pub line: u64,
    /// CHROM as written.
    pub chrom: String,
    /// POS: 1-based position of REF's first base.
    pub pos: u64,
    /// ID as written (`.` when none).
    pub id: String,
    /// REF as written.
    pub reference: String,
    /// ALT alleles in order; empty when ALT is `.`.
    pub alts: Vec<String>,
    /// QUAL, FILTER and INFO as written.
    pub qual: String,
    pub filter: String,
    pub info: String,
    /// FORMAT and sample columns, tab-joined as written (empty when there are none).
    pub samples: String,
}

impl VcfRecord {
    /// The record as a VCF line (no line end) with `info` in place of its INFO column.
    pub fn to_line(&self, info: &str) -> String {
        let alt = if self.alts.is_empty() {
            ".".to_string()
        } else {
            self.alts.join(",")
        };
        let mut s = format!(
            "{}\t{}\t{}\t{}\t{alt}\t{}\t{}\t{info}",
            self.chrom, self.pos, self.id, self.reference, self.qual, self.filter
        );
        if !self.samples.is_empty() {
            s.push('\t');
            s.push_str(&self.samples);
        }
        s
    }
}

/// What kind of allele `alt` is (it has passed the record parser's checks).
///
/// ```
/// use seqcnn::io::vcf::{AltKind, alt_kind};
/// assert_eq!(alt_kind("ACG"), AltKind::Bases);
/// assert_eq!(alt_kind("<DEL>"), AltKind::Symbolic);
/// assert_eq!(alt_kind("*"), AltKind::Overlap);
/// assert_eq!(alt_kind("G]17:198982]"), AltKind::Breakend);
/// assert_eq!(alt_kind(".A"), AltKind::Breakend);
/// ```
pub fn alt_kind(alt: &str) -> AltKind {
    if alt.starts_with('<') {
        AltKind::Symbolic
    } else if alt == "*" {
        AltKind::Overlap
    } else if alt.contains(['[', ']']) || alt.starts_with('.') || alt.ends_with('.') {
        AltKind::Breakend
    } else {
        AltKind::Bases
    }
}

/// IUPAC nucleotide codes accepted in REF and ALT (either case).
fn is_base(b: u8) -> bool {
    matches!(
        b.to_ascii_uppercase(),
        b'A' | b'C'
            | b'G'
            | b'T'
            | b'N'
            | b'R'
            | b'Y'
            | b'S'
            | b'W'
            | b'K'
            | b'M'
            | b'B'
            | b'D'
            | b'H'
            | b'V'
    )
}

/// Checks one ALT allele; the message says what is wrong.
fn check_alt(alt: &str) -> std::result::Result<(), String> {
    let b = alt.as_bytes();
    if b.is_empty() {
        return Err("empty ALT allele (two commas in a row, or a trailing comma)".into());
    }
    if b[0] == b'<' {
        return if b.len() > 2 && b[b.len() - 1] == b'>' && !alt[1..alt.len() - 1].contains('>') {
            Ok(())
        } else {
            Err(format!(
                "ALT allele '{alt}' opens '<' but is not a symbolic allele like <DEL>"
            ))
        };
    }
    if alt == "*" {
        return Ok(());
    }
    let bracket = alt.contains(['[', ']']);
    let single = (b.len() > 1) && (b[0] == b'.' || b[b.len() - 1] == b'.');
    if bracket || single {
        // Breakends: bases plus a mate position between brackets, or a dot on one side.
        let ok = alt.bytes().all(|c| {
            is_base(c)
                || matches!(c, b'[' | b']' | b'.' | b':' | b'<' | b'>' | b'_')
                || c.is_ascii_alphanumeric()
        });
        return if ok {
            Ok(())
        } else {
            Err(format!("ALT allele '{alt}' is not a valid breakend"))
        };
    }
    match b.iter().find(|&&c| !is_base(c)) {
        None => Ok(()),
        Some(&c) => Err(format!(
            "ALT allele '{alt}' has {} where bases (A, C, G, T, N), '*', <ID> or a breakend are expected",
            show_byte(c)
        )),
    }
}

/// Parses one data line (line end removed).
pub(crate) fn parse_record(text: &str, line: u64) -> std::result::Result<VcfRecord, String> {
    let cols: Vec<&str> = text.splitn(9, '\t').collect();
    if cols.len() < 8 {
        return Err(format!(
            "expected at least 8 tab-separated columns (CHROM POS ID REF ALT QUAL FILTER INFO), found {}",
            cols.len()
        ));
    }
    let chrom = cols[0];
    if chrom.is_empty() || chrom.contains(char::is_whitespace) {
        return Err(format!("bad CHROM '{chrom}': empty or containing spaces"));
    }
    let pos: u64 = cols[1]
        .parse()
        .map_err(|_| format!("POS '{}' is not a whole number", cols[1]))?;
    if pos > MAX_POSITION {
        return Err(format!(
            "POS {pos} is past the largest position seqcnn reads ({MAX_POSITION})"
        ));
    }
    let reference = cols[3];
    if reference.is_empty() {
        return Err("empty REF".into());
    }
    if let Some(&c) = reference.as_bytes().iter().find(|&&c| !is_base(c)) {
        return Err(format!(
            "REF '{reference}' has {} where bases (A, C, G, T, N) are expected",
            show_byte(c)
        ));
    }
    let alts: Vec<String> = if cols[4] == "." {
        Vec::new()
    } else {
        let alts: Vec<String> = cols[4].split(',').map(str::to_string).collect();
        for a in &alts {
            check_alt(a)?;
        }
        alts
    };
    Ok(VcfRecord {
        line,
        chrom: chrom.to_string(),
        pos,
        id: cols[2].to_string(),
        reference: reference.to_string(),
        alts,
        qual: cols[5].to_string(),
        filter: cols[6].to_string(),
        info: cols[7].to_string(),
        samples: cols.get(8).map_or(String::new(), |s| s.to_string()),
    })
}

/// A streaming VCF reader: the header is read on opening, records one at a time after that.
/// After the first error it yields nothing more.
///
/// ```
/// use seqcnn::io::vcf::VcfReader;
/// let text = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n\
///             20\t100\trs1\tA\tG,T\t.\tPASS\t.\n20\t200\t.\tAC\t.\t.\t.\tDP=3\n";
/// let mut r = VcfReader::new(text.as_bytes(), "x.vcf").unwrap();
/// assert_eq!(r.header().meta, ["##fileformat=VCFv4.2"]);
/// let a = r.next().unwrap().unwrap();
/// assert_eq!((a.chrom.as_str(), a.pos, a.line, a.alts.len()), ("20", 100, 3, 2));
/// let b = r.next().unwrap().unwrap();
/// assert!(b.alts.is_empty());
/// assert_eq!(b.to_line("DP=3;X=1"), "20\t200\t.\tAC\t.\t.\t.\tDP=3;X=1");
/// assert!(r.next().is_none());
///
/// let bad = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n20\tx\t.\tA\tG\t.\t.\t.\n";
/// let e = VcfReader::new(bad.as_bytes(), "bad.vcf").unwrap().next().unwrap().unwrap_err();
/// assert_eq!(e.to_string(), "bad.vcf:2: POS 'x' is not a whole number");
/// ```
pub struct VcfReader<R> {
    reader: R,
    path: PathBuf,
    line: u64,
    buf: Vec<u8>,
    header: VcfHeader,
    done: bool,
}

impl VcfReader<Box<dyn BufRead>> {
    /// Opens a VCF file (`-` = stdin; gzip or BGZF detected by content) and reads its header.
    pub fn from_path(path: &Path) -> Result<Self> {
        VcfReader::new(open_input(path)?, input_name(path))
    }
}

impl<R: BufRead> VcfReader<R> {
    /// Reads the header from `reader`; `path` is the name errors give. The header must end with
    /// the `#CHROM` line before the first record.
    pub fn new(reader: R, path: impl Into<PathBuf>) -> Result<Self> {
        let mut r = VcfReader {
            reader,
            path: path.into(),
            line: 0,
            buf: Vec::new(),
            header: VcfHeader::default(),
            done: false,
        };
        loop {
            let Some(text) = r.read_line()? else {
                return Err(Error::parse(
                    &r.path,
                    r.line,
                    if r.header.meta.is_empty() {
                        "empty input: not a VCF file (no header)".to_string()
                    } else {
                        "the header ends without the #CHROM column line".to_string()
                    },
                ));
            };
            if text.starts_with("##") {
                r.header.meta.push(text);
            } else if text.starts_with("#CHROM") {
                r.header.columns = text;
                break;
            } else if text.trim().is_empty() {
                continue;
            } else {
                let what = if text.starts_with('#') {
                    "a header line that is neither ##meta nor #CHROM"
                } else if r.header.meta.is_empty() && r.line == 1 {
                    "no VCF header (the file must start with ##fileformat or #CHROM)"
                } else {
                    "a record before the #CHROM column line"
                };
                return Err(Error::parse(&r.path, r.line, what));
            }
        }
        Ok(r)
    }

    /// The header read on opening.
    pub fn header(&self) -> &VcfHeader {
        &self.header
    }

    /// The name errors give for this input.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next line without its line end, or `None` at the end.
    fn read_line(&mut self) -> Result<Option<String>> {
        self.buf.clear();
        match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => Ok(None),
            Ok(_) => {
                self.line += 1;
                while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                    self.buf.pop();
                }
                match std::str::from_utf8(&self.buf) {
                    Ok(s) => Ok(Some(s.to_string())),
                    Err(e) => Err(Error::parse(
                        &self.path,
                        self.line,
                        format!("not UTF-8 text (byte {} of the line)", e.valid_up_to() + 1),
                    )),
                }
            }
            Err(e) => Err(read_error(&self.path, self.line + 1, e)),
        }
    }
}

impl<R: BufRead> Iterator for VcfReader<R> {
    type Item = Result<VcfRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let text = match self.read_line() {
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(Some(t)) => t,
            };
            if text.trim().is_empty() {
                continue;
            }
            if text.starts_with('#') {
                self.done = true;
                return Some(Err(Error::parse(
                    &self.path,
                    self.line,
                    "a header line after the first record",
                )));
            }
            return Some(parse_record(&text, self.line).map_err(|msg| {
                self.done = true;
                Error::parse(&self.path, self.line, msg)
            }));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";

    fn read(body: &str) -> Vec<Result<VcfRecord>> {
        let text = format!("{HEAD}{body}");
        VcfReader::new(std::io::Cursor::new(text.into_bytes()), "t.vcf")
            .unwrap()
            .collect()
    }

    fn error(body: &str) -> String {
        let all = read(body);
        all.into_iter()
            .find_map(|r| r.err())
            .expect("an error")
            .to_string()
    }

    #[test]
    fn records_with_samples_crlf_and_blank_lines() {
        let recs = read(
            "20\t5\trs9\tac\tG,<DEL>,*\t50\tPASS\tDP=1\tGT\t0/1\t1/1\r\n\n20\t9\t.\tT\tC\t.\t.\t.\n",
        );
        let a = recs[0].as_ref().unwrap();
        assert_eq!(a.alts, ["G", "<DEL>", "*"]);
        assert_eq!(a.samples, "GT\t0/1\t1/1");
        assert_eq!(a.line, 3);
        assert_eq!(
            a.to_line("DP=1;S=2"),
            "20\t5\trs9\tac\tG,<DEL>,*\t50\tPASS\tDP=1;S=2\tGT\t0/1\t1/1"
        );
        let b = recs[1].as_ref().unwrap();
        assert_eq!((b.line, b.samples.as_str()), (5, ""));
        assert_eq!(recs.len(), 2);
    }

    #[test]
    fn malformed_records_name_the_line() {
        let cases = [
            (
                "20\t5\t.\tA\tG\n",
                "t.vcf:3: expected at least 8 tab-separated columns",
            ),
            ("20 5 . A G . . .\n", "found 1"),
            (
                "20\t-5\t.\tA\tG\t.\t.\t.\n",
                "POS '-5' is not a whole number",
            ),
            ("20\t5\t.\t\tG\t.\t.\t.\n", "empty REF"),
            ("20\t5\t.\tA1\tG\t.\t.\t.\n", "REF 'A1' has '1'"),
            ("20\t5\t.\tA\tG,\t.\t.\t.\n", "empty ALT allele"),
            ("20\t5\t.\tA\tG?\t.\t.\t.\n", "ALT allele 'G?' has '?'"),
            ("20\t5\t.\tA\t<DEL\t.\t.\t.\n", "not a symbolic allele"),
            ("\t5\t.\tA\tG\t.\t.\t.\n", "bad CHROM"),
        ];
        for (body, want) in cases {
            let e = error(body);
            assert!(e.contains(want), "{body:?}: {e}");
            assert!(e.starts_with("t.vcf:3:"), "{e}");
        }
        let e = error("20\t5\t.\tA\tG\t.\t.\t.\n#late header\n");
        assert!(e.starts_with("t.vcf:4: a header line after"), "{e}");
    }

    #[test]
    fn pos_past_max_position_is_an_error_not_an_overflow() {
        // Fuzz target `vcf`: POS 2^63 passed the parser and overflowed the placement of the
        // variant's windows (`variants::Placement::new`).
        let crash = b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n\
                      1\t9223372036854775808\t.\tA\tG\t.\t.\t.\n";
        let e = VcfReader::new(&crash[..], "t.vcf")
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.vcf:2: POS 9223372036854775808 is past the largest position seqcnn reads \
             (4611686018427387904)"
        );
        // The largest position is read and its windows placed.
        let rec = read(&format!("1\t{MAX_POSITION}\t.\tACG\tA\t.\t.\t.\n"))
            .pop()
            .unwrap()
            .unwrap();
        let p = crate::variants::Placement::new(rec.pos, 3, 1000).unwrap();
        assert_eq!(p.start, MAX_POSITION as i64 - 499);
    }

    #[test]
    fn headers_must_end_with_the_column_line() {
        let open = |t: &str| {
            VcfReader::new(t.as_bytes(), "h.vcf")
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(
            open("").as_deref(),
            Some("h.vcf: empty input: not a VCF file (no header)")
        );
        assert!(
            open("##fileformat=VCFv4.2\n")
                .unwrap()
                .contains("without the #CHROM")
        );
        assert!(
            open("20\t5\t.\tA\tG\t.\t.\t.\n")
                .unwrap()
                .starts_with("h.vcf:1: no VCF header")
        );
        assert!(
            open("##x=1\n20\t5\t.\tA\tG\t.\t.\t.\n")
                .unwrap()
                .starts_with("h.vcf:2: a record before")
        );
        // Only a header: no records, no error.
        let mut r = VcfReader::new(HEAD.as_bytes(), "h.vcf").unwrap();
        assert!(r.next().is_none());
    }

    #[test]
    fn alt_kinds() {
        for (alt, kind) in [
            ("A", AltKind::Bases),
            ("acgtn", AltKind::Bases),
            ("<INS:ME>", AltKind::Symbolic),
            ("<NON_REF>", AltKind::Symbolic),
            ("*", AltKind::Overlap),
            ("]13:123456]T", AltKind::Breakend),
            ("C[2:321682[", AltKind::Breakend),
            ("G.", AltKind::Breakend),
        ] {
            assert_eq!(check_alt(alt), Ok(()), "{alt}");
            assert_eq!(alt_kind(alt), kind, "{alt}");
        }
    }
}
