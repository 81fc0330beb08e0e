//! MEME minimal motif format (<https://meme-suite.org/meme/doc/meme-format.html>): a reader that
//! never panics and names file and line in every error, and a writer whose output the reader (and
//! the MEME suite) reads back.
//!
//! Only DNA is supported: `ALPHABET= ACGT` (or `ACGU`, or a custom alphabet block whose core
//! letters are A, C, G, T/U) or no alphabet line at all. Columns are in A, C, G, T order, the
//! channel order of [`crate::encode`]. The reader takes the minimal format and the motif sections
//! of full MEME text output: lines it does not know outside a matrix are skipped, `log-odds
//! matrix` blocks are skipped, `URL` lines are kept.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Tolerance on a row or the background summing to 1 (files print 3 to 6 decimals).
const SUM_TOLERANCE: f64 = 0.02;

/// The `strands:` line of a MEME file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strands {
    /// `strands: +`
    Forward,
    /// `strands: + -` (also assumed when the line is missing).
    #[default]
    Both,
}

/// One motif: a letter-probability matrix with its name and optional counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Motif {
    /// The identifier after `MOTIF` (unique within a database, e.g. `MA0139.2`).
    pub id: String,
    /// The optional alternate name after the identifier (e.g. `CTCF`).
    pub name: Option<String>,
    /// Letter probabilities, one row per position, columns A, C, G, T. shape: [w][4]
    pub probs: Vec<[f64; 4]>,
    /// `nsites=`: the number of sites the matrix was made from, if given.
    pub nsites: Option<f64>,
    /// `E=`: the motif's E-value, if given.
    pub evalue: Option<f64>,
    /// The `URL` line, if any.
    pub url: Option<String>,
    /// 1-based line of the `MOTIF` line in the file read (0 for motifs not read from a file).
    pub line: u64,
}

impl Motif {
    /// A motif with the given rows and nothing else set.
    ///
    /// ```
    /// let m = seqcnn::io::meme::Motif::new("m1", vec![[0.7, 0.1, 0.1, 0.1]]);
    /// assert_eq!((m.id.as_str(), m.width()), ("m1", 1));
    /// ```
    pub fn new(id: impl Into<String>, probs: Vec<[f64; 4]>) -> Motif {
        Motif {
            id: id.into(),
            name: None,
            probs,
            nsites: None,
            evalue: None,
            url: None,
            line: 0,
        }
    }

    /// Number of positions.
    ///
    /// ```
    /// let m = seqcnn::io::meme::Motif::new("m", vec![[0.25; 4]; 3]);
    /// assert_eq!(m.width(), 3);
    /// ```
    pub fn width(&self) -> usize {
        self.probs.len()
    }
}

/// A MEME file: header fields and motifs in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct MemeFile {
    /// The version after `MEME version` (e.g. `4`, `5.5.4`).
    pub version: String,
    /// The `strands:` line.
    pub strands: Strands,
    /// Background letter frequencies, A, C, G, T (uniform when the file has none).
    pub background: [f64; 4],
    /// The motifs.
    pub motifs: Vec<Motif>,
}

impl MemeFile {
    /// A version-4 file for both strands with a uniform background.
    ///
    /// ```
    /// let f = seqcnn::io::meme::MemeFile::new(vec![]);
    /// assert_eq!(f.background, [0.25; 4]);
    /// ```
    pub fn new(motifs: Vec<Motif>) -> MemeFile {
        MemeFile {
            version: "4".into(),
            strands: Strands::Both,
            background: [0.25; 4],
            motifs,
        }
    }
}

/// Reads a MEME file (`-` = stdin; gzip detected by content).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("m.meme");
/// std::fs::write(&p, "MEME version 4\n\nALPHABET= ACGT\n\nMOTIF m1 NAME\n\
///     letter-probability matrix: alength= 4 w= 2 nsites= 10 E= 0\n\
///     0.7 0.1 0.1 0.1\n0.1 0.1 0.1 0.7\n").unwrap();
/// let f = seqcnn::io::meme::read_meme(&p).unwrap();
/// assert_eq!(f.motifs[0].name.as_deref(), Some("NAME"));
/// assert_eq!(f.motifs[0].probs[1][3], 0.7);
/// ```
pub fn read_meme(path: &Path) -> Result<MemeFile> {
    let reader = super::input::open_input(path)?;
    parse_meme(reader, &super::input::input_name(path))
}

/// Parses MEME text from `reader`; `path` names the input in errors.
///
/// ```
/// let text = "MEME version 5.5.4\n\nstrands: +\n\nMOTIF a\n\
///     letter-probability matrix: alength= 4 w= 1\n 1 0 0 0\nURL http://x\n";
/// let f = seqcnn::io::meme::parse_meme(text.as_bytes(), "x.meme".as_ref()).unwrap();
/// assert_eq!(f.version, "5.5.4");
/// assert_eq!(f.strands, seqcnn::io::meme::Strands::Forward);
/// assert_eq!(f.motifs[0].url.as_deref(), Some("http://x"));
/// let bad = "MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5\n";
/// let e = seqcnn::io::meme::parse_meme(bad.as_bytes(), "x.meme".as_ref()).unwrap_err();
/// assert_eq!(e.to_string(), "x.meme:4: matrix row has 2 values, alength is 4");
/// ```
pub fn parse_meme(reader: impl BufRead, path: &Path) -> Result<MemeFile> {
    Parser::new(path).run(reader)
}

/// Writes `file` in MEME minimal format.
///
/// ```
/// use seqcnn::io::meme::{write_meme, parse_meme, MemeFile, Motif};
/// let mut m = Motif::new("filter0", vec![[0.7, 0.1, 0.1, 0.1]]);
/// m.nsites = Some(12.0);
/// let mut out = Vec::new();
/// write_meme(&mut out, &MemeFile::new(vec![m])).unwrap();
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n"));
/// assert!(text.contains("letter-probability matrix: alength= 4 w= 1 nsites= 12 E= 0\n"));
/// let back = parse_meme(text.as_bytes(), "x".as_ref()).unwrap();
/// assert_eq!(back.motifs[0].nsites, Some(12.0));
/// ```
pub fn write_meme(out: &mut impl Write, file: &MemeFile) -> std::io::Result<()> {
    let mut s = String::new();
    s.push_str(&format!("MEME version {}\n\n", file.version));
    s.push_str("ALPHABET= ACGT\n\n");
    s.push_str(match file.strands {
        Strands::Both => "strands: + -\n\n",
        Strands::Forward => "strands: +\n\n",
    });
    let bg = normalised(file.background);
    s.push_str("Background letter frequencies\n");
    s.push_str(&format!(
        "A {:.6} C {:.6} G {:.6} T {:.6}\n\n",
        bg[0], bg[1], bg[2], bg[3]
    ));
    out.write_all(s.as_bytes())?;
    for m in &file.motifs {
        let mut s = String::new();
        s.push_str("MOTIF ");
        s.push_str(&token(&m.id));
        if let Some(name) = &m.name {
            s.push(' ');
            s.push_str(&token(name));
        }
        s.push('\n');
        s.push_str(&format!(
            "letter-probability matrix: alength= 4 w= {}",
            m.width()
        ));
        if let Some(n) = m.nsites {
            s.push_str(&format!(" nsites= {}", number(n)));
        }
        s.push_str(&format!(" E= {}\n", number(m.evalue.unwrap_or(0.0))));
        for row in &m.probs {
            let r = normalised(*row);
            s.push_str(&format!(
                " {:.6}  {:.6}  {:.6}  {:.6}\n",
                r[0], r[1], r[2], r[3]
            ));
        }
        if let Some(url) = &m.url {
            s.push_str(&format!("URL {url}\n"));
        }
        s.push('\n');
        out.write_all(s.as_bytes())?;
    }
    Ok(())
}

/// Writes `file` to `path` atomically (see [`super::output::AtomicOutput`]; `-` = stdout).
///
/// ```
/// use seqcnn::io::meme::{write_meme_file, read_meme, MemeFile, Motif};
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("out.meme");
/// let f = MemeFile::new(vec![Motif::new("a", vec![[0.1, 0.2, 0.3, 0.4]])]);
/// write_meme_file(&p, &f).unwrap();
/// assert_eq!(read_meme(&p).unwrap().motifs[0].probs, f.motifs[0].probs);
/// ```
pub fn write_meme_file(path: &Path, file: &MemeFile) -> Result<()> {
    let mut out = super::output::AtomicOutput::create(path)?;
    write_meme(&mut out, file).map_err(|e| out.error(e))?;
    out.commit()
}

/// An identifier or name as one whitespace-free token (MEME splits the MOTIF line on spaces).
fn token(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    if t.is_empty() { "_".into() } else { t }
}

/// A count or E-value: integers without a fraction, others as Rust prints them.
fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// `row` scaled to sum to 1 (uniform if it sums to 0 or is not finite).
fn normalised(row: [f64; 4]) -> [f64; 4] {
    let s: f64 = row.iter().sum();
    if s > 0.0 && s.is_finite() {
        row.map(|v| v / s)
    } else {
        [0.25; 4]
    }
}

/// Where the parser is.
enum State {
    /// Between sections.
    Top,
    /// Inside a custom `ALPHABET "..."` block, collecting core letters.
    Alphabet(Vec<char>),
    /// After `Background letter frequencies`, collecting pairs.
    Background(Vec<(char, f64)>),
    /// Reading `left` more rows of a letter-probability matrix (`None` = until a non-row line).
    Matrix { left: Option<usize> },
    /// Skipping `left` rows of a log-odds matrix.
    LogOdds { left: Option<usize> },
}

struct Parser {
    path: PathBuf,
    line: u64,
    version: Option<String>,
    strands: Strands,
    background: Option<[f64; 4]>,
    motifs: Vec<Motif>,
    /// The motif being read and whether its matrix has been seen.
    current: Option<(Motif, bool)>,
    /// Declared `w=` of the current matrix and the line it was declared on.
    declared: Option<(usize, u64)>,
    /// The line that opened the current alphabet or background section.
    opened: u64,
    state: State,
}

impl Parser {
    fn new(path: &Path) -> Parser {
        Parser {
            path: path.to_path_buf(),
            line: 0,
            version: None,
            strands: Strands::Both,
            background: None,
            motifs: Vec::new(),
            current: None,
            declared: None,
            opened: 0,
            state: State::Top,
        }
    }

    fn err(&self, msg: impl Into<String>) -> Error {
        Error::parse(&self.path, self.line, msg)
    }

    fn run(mut self, mut reader: impl BufRead) -> Result<MemeFile> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    self.line += 1;
                    let text = std::str::from_utf8(&buf)
                        .map_err(|_| self.err("line is not valid UTF-8 text"))?;
                    self.line_in(text.trim())?;
                }
                Err(e) => return Err(super::input::read_error(&self.path, self.line + 1, e)),
            }
        }
        self.line += 1;
        self.end_section()?;
        self.finish_motif()?;
        let Some(version) = self.version.take() else {
            self.line = 0;
            return Err(self.err("not a MEME file: no 'MEME version' line"));
        };
        if self.motifs.is_empty() {
            self.line = 0;
            return Err(self.err("no motifs (no 'MOTIF' lines)"));
        }
        Ok(MemeFile {
            version,
            strands: self.strands,
            background: self.background.unwrap_or([0.25; 4]),
            motifs: self.motifs,
        })
    }

    fn line_in(&mut self, t: &str) -> Result<()> {
        // Sections that consume the following lines; the state is put back unless it ends.
        match std::mem::replace(&mut self.state, State::Top) {
            State::Top => {}
            State::Alphabet(mut letters) => {
                if t.starts_with("END ALPHABET") {
                    return self.check_alphabet_block(&letters);
                }
                // Core symbol lines: `A "Adenine" CC0000 ~ T "Thymine" 008000`, or `A`.
                let mut chars = t.chars();
                if let (Some(c), next) = (chars.next(), chars.next())
                    && c.is_ascii_alphabetic()
                    && next.is_none_or(char::is_whitespace)
                    && !t.contains('=')
                {
                    letters.push(c.to_ascii_uppercase());
                    if let Some(rest) = t.split('~').nth(1)
                        && let Some(c2) = rest.trim().chars().next()
                        && c2.is_ascii_alphabetic()
                    {
                        letters.push(c2.to_ascii_uppercase());
                    }
                }
                self.state = State::Alphabet(letters);
                return Ok(());
            }
            State::Background(pairs) => {
                let blank_before = t.is_empty() && pairs.is_empty();
                self.state = State::Background(pairs);
                if !blank_before && let Some(done) = self.background_line(t)? {
                    self.background = Some(done);
                    self.state = State::Top;
                }
                return Ok(());
            }
            State::Matrix { left } => {
                let row_like =
                    is_row(t) || t.starts_with(|c: char| c.is_ascii_digit() || ".+-".contains(c));
                let more = match left {
                    Some(0) => false,
                    Some(_) => t.is_empty() || row_like,
                    None => is_row(t),
                };
                self.state = State::Matrix { left };
                if more {
                    return if t.is_empty() {
                        Ok(())
                    } else {
                        self.matrix_row(t)
                    };
                }
                self.end_section()?;
            }
            State::LogOdds { left } => {
                let more = match left {
                    Some(0) => false,
                    Some(_) => true,
                    None => is_row(t),
                };
                if more {
                    if t.is_empty() {
                        self.state = State::LogOdds { left };
                        return Ok(());
                    }
                    if !is_row(t) {
                        return Err(self.err(format!(
                            "expected a log-odds matrix row, got '{}'",
                            short(t)
                        )));
                    }
                    self.state = State::LogOdds {
                        left: left.map(|n| n - 1),
                    };
                    return Ok(());
                }
            }
        }
        self.top_line(t)
    }

    fn top_line(&mut self, t: &str) -> Result<()> {
        if t.is_empty() || t.starts_with('#') {
            return Ok(());
        }
        if let Some(rest) = t.strip_prefix("MEME version") {
            if self.version.is_some() {
                return Err(self.err("a second 'MEME version' line"));
            }
            let v = rest.split_whitespace().next().unwrap_or_default();
            if v.is_empty() || !v.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.err("'MEME version' needs a version number, as 'MEME version 4'"));
            }
            if !v.starts_with(['3', '4', '5']) {
                return Err(self.err(format!("unsupported MEME version {v} (3, 4 or 5 expected)")));
            }
            self.version = Some(v.to_string());
            return Ok(());
        }
        if self.version.is_none() {
            return Err(self.err(format!(
                "not a MEME file: expected 'MEME version 4' before '{}'",
                short(t)
            )));
        }
        if let Some(rest) = t.strip_prefix("ALPHABET") {
            let Some(rest) = rest.trim_start().strip_prefix('=') else {
                self.state = State::Alphabet(Vec::new());
                self.opened = self.line;
                return Ok(());
            };
            let a = rest.trim().to_ascii_uppercase();
            if a != "ACGT" && a != "ACGU" {
                return Err(self.err(format!(
                    "alphabet '{}' is not DNA: only ACGT motifs are supported",
                    rest.trim()
                )));
            }
            return Ok(());
        }
        if let Some(rest) = t.strip_prefix("strands:") {
            let s: Vec<&str> = rest.split_whitespace().collect();
            self.strands = match s.as_slice() {
                ["+"] => Strands::Forward,
                ["+", "-"] | ["-", "+"] => Strands::Both,
                _ => {
                    return Err(self.err(format!(
                        "strands must be '+' or '+ -', got '{}'",
                        rest.trim()
                    )));
                }
            };
            return Ok(());
        }
        if t.starts_with("Background letter frequencies") {
            if self.background.is_some() {
                return Err(self.err("a second background letter frequencies section"));
            }
            self.state = State::Background(Vec::new());
            self.opened = self.line;
            return Ok(());
        }
        if let Some(rest) = t.strip_prefix("MOTIF") {
            if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
                return Ok(()); // e.g. "MOTIFS" in full MEME text output: not a motif line.
            }
            self.finish_motif()?;
            let mut words = rest.split_whitespace();
            let Some(id) = words.next() else {
                return Err(self.err("'MOTIF' needs an identifier"));
            };
            let name = words.next().map(String::from);
            let mut m = Motif::new(id, Vec::new());
            m.name = name;
            m.line = self.line;
            self.current = Some((m, false));
            return Ok(());
        }
        if let Some(rest) = t.strip_prefix("letter-probability matrix:") {
            return self.matrix_header(rest);
        }
        if let Some(rest) = t.strip_prefix("log-odds matrix:") {
            if self.current.is_none() {
                return Err(self.err("log-odds matrix before any 'MOTIF' line"));
            }
            let fields = self.fields(rest)?;
            let w = fields.iter().find(|(k, _)| *k == "w").map(|(_, v)| *v);
            self.state = State::LogOdds {
                left: w.map(|w| w as usize),
            };
            return Ok(());
        }
        if let Some(rest) = t.strip_prefix("URL") {
            if let Some((m, _)) = &mut self.current {
                let u = rest.trim();
                if !u.is_empty() {
                    m.url = Some(u.to_string());
                }
            }
            return Ok(());
        }
        if self.current.as_ref().is_some_and(|(_, seen)| !seen) && is_row(t) {
            return Err(self.err("matrix rows before a 'letter-probability matrix:' line"));
        }
        // Anything else (full MEME output's sites, diagrams, commands) is not ours to read.
        Ok(())
    }

    /// Parses `key= value` pairs of a matrix header line.
    fn fields<'a>(&self, rest: &'a str) -> Result<Vec<(&'a str, f64)>> {
        let mut out = Vec::new();
        let mut words = rest.split_whitespace().peekable();
        while let Some(w) = words.next() {
            let Some((key, val)) = w.split_once('=') else {
                return Err(self.err(format!(
                    "matrix header: expected key= value, got '{}'",
                    short(w)
                )));
            };
            let val = if val.is_empty() {
                words.next().unwrap_or_default()
            } else {
                val
            };
            let v: f64 = val.parse().map_err(|_| {
                self.err(format!(
                    "matrix header: {key}= needs a number, got '{}'",
                    short(val)
                ))
            })?;
            if !v.is_finite() || v < 0.0 {
                return Err(self.err(format!(
                    "matrix header: {key}= must be a non-negative number, got {val}"
                )));
            }
            out.push((key, v));
        }
        Ok(out)
    }

    fn matrix_header(&mut self, rest: &str) -> Result<()> {
        let fields = self.fields(rest)?;
        let Some((m, seen)) = &self.current else {
            return Err(self.err("letter-probability matrix before any 'MOTIF' line"));
        };
        if *seen {
            return Err(self.err(format!(
                "motif '{}' has a second letter-probability matrix",
                m.id
            )));
        }
        let mut w = None;
        let (mut nsites, mut evalue) = (None, None);
        for (key, v) in fields {
            match key {
                "alength" if v != 4.0 => {
                    return Err(self.err(format!(
                        "alength= {v}: only DNA motifs (alength= 4) are supported"
                    )));
                }
                "w" if v == 0.0 => {
                    return Err(self.err(format!(
                        "motif '{}' has width 0 (w= 0): a motif needs at least one matrix row; \
                         remove the motif or give its rows",
                        m.id
                    )));
                }
                "w" => {
                    if v.fract() != 0.0 || v < 1.0 {
                        return Err(self.err(format!("w= must be a positive integer, got {v}")));
                    }
                    w = Some(v as usize);
                }
                "nsites" => nsites = Some(v),
                "E" => evalue = Some(v),
                _ => {}
            }
        }
        let line = self.line;
        if let Some((m, seen)) = &mut self.current {
            m.nsites = nsites;
            m.evalue = evalue;
            *seen = true;
        }
        self.declared = w.map(|w| (w, line));
        self.state = State::Matrix { left: w };
        Ok(())
    }

    fn matrix_row(&mut self, t: &str) -> Result<()> {
        let mut row = [0f64; 4];
        let mut n = 0;
        for word in t.split_whitespace() {
            let v: f64 = word.parse().map_err(|_| {
                self.err(format!(
                    "expected a matrix row of 4 probabilities, got '{}'",
                    short(t)
                ))
            })?;
            if n < 4 {
                row[n] = v;
            }
            n += 1;
        }
        if n != 4 {
            return Err(self.err(format!("matrix row has {n} values, alength is 4")));
        }
        if row.iter().any(|v| !v.is_finite() || *v < 0.0 || *v > 1.0) {
            return Err(self.err(format!(
                "matrix row '{}': probabilities must lie in [0, 1]",
                short(t)
            )));
        }
        let sum: f64 = row.iter().sum();
        if (sum - 1.0).abs() > SUM_TOLERANCE {
            return Err(self.err(format!("matrix row sums to {sum}, not 1")));
        }
        if let Some((m, _)) = &mut self.current {
            m.probs.push(row);
        }
        if let State::Matrix { left: Some(l) } = &mut self.state {
            *l -= 1;
        }
        Ok(())
    }

    /// Closes a matrix or background section at the current line.
    fn end_section(&mut self) -> Result<()> {
        match &self.state {
            State::Matrix { left: Some(l) } if *l > 0 => {
                let (w, line) = self.declared.unwrap_or((0, 0));
                let got = w - l;
                self.line = line;
                return Err(self.err(format!(
                    "matrix declares w= {w} but has {got} row{}",
                    if got == 1 { "" } else { "s" }
                )));
            }
            State::Background(_) => {
                self.line = self.opened;
                return Err(self.err("background letter frequencies must give A, C, G and T"));
            }
            State::Alphabet(_) => {
                self.line = self.opened;
                return Err(self.err("alphabet block has no 'END ALPHABET'"));
            }
            _ => {}
        }
        self.state = State::Top;
        self.declared = None;
        Ok(())
    }

    fn finish_motif(&mut self) -> Result<()> {
        if let Some((m, seen)) = self.current.take() {
            if m.probs.is_empty() {
                self.line = m.line;
                return Err(self.err(if seen {
                    format!(
                        "motif '{}' has width 0: its letter-probability matrix has no rows",
                        m.id
                    )
                } else {
                    format!("motif '{}' has no letter-probability matrix", m.id)
                }));
            }
            self.motifs.push(m);
        }
        Ok(())
    }

    /// Adds a line of `A 0.25 C 0.25 ...` pairs; the background once all four letters are in.
    fn background_line(&mut self, t: &str) -> Result<Option<[f64; 4]>> {
        let words: Vec<&str> = t.split_whitespace().collect();
        if !words.len().is_multiple_of(2) || words.is_empty() {
            return Err(self.err(format!(
                "background: expected letter-frequency pairs as 'A 0.25 C 0.25 G 0.25 T 0.25', got '{}'",
                short(t)
            )));
        }
        let mut new = Vec::new();
        for pair in words.chunks_exact(2) {
            let letter = pair[0].to_ascii_uppercase();
            let c = match letter.as_str() {
                "A" => 'A',
                "C" => 'C',
                "G" => 'G',
                "T" | "U" => 'T',
                _ => {
                    return Err(self.err(format!(
                        "background: '{}' is not one of A, C, G, T",
                        pair[0]
                    )));
                }
            };
            let v: f64 = pair[1].parse().map_err(|_| {
                self.err(format!(
                    "background: frequency of {} is not a number: '{}'",
                    pair[0],
                    short(pair[1])
                ))
            })?;
            if !v.is_finite() || !(0.0..=1.0).contains(&v) {
                return Err(self.err(format!(
                    "background: frequency of {} must lie in [0, 1], got {v}",
                    pair[0]
                )));
            }
            new.push((c, v));
        }
        let State::Background(pairs) = &mut self.state else {
            return Ok(None);
        };
        pairs.extend(new);
        if pairs.len() < 4 {
            return Ok(None);
        }
        let mut bg = [f64::NAN; 4];
        for &(c, v) in pairs.iter() {
            let i = "ACGT".find(c).unwrap_or(0);
            if !bg[i].is_nan() {
                return Err(self.err(format!("background: {c} is given twice")));
            }
            bg[i] = v;
        }
        if pairs.len() > 4 {
            return Err(self.err("background: more than four letters"));
        }
        let sum: f64 = bg.iter().sum();
        if (sum - 1.0).abs() > SUM_TOLERANCE {
            return Err(self.err(format!("background frequencies sum to {sum}, not 1")));
        }
        Ok(Some(bg))
    }

    fn check_alphabet_block(&self, letters: &[char]) -> Result<()> {
        let mut core: Vec<char> = letters
            .iter()
            .map(|&c| if c == 'U' { 'T' } else { c })
            .collect();
        core.sort_unstable();
        core.dedup();
        if core != ['A', 'C', 'G', 'T'] {
            let got: String = letters.iter().collect();
            return Err(self.err(format!(
                "alphabet has core letters '{got}': only DNA (ACGT) motifs are supported"
            )));
        }
        Ok(())
    }
}

/// A line of numbers only (a matrix row).
fn is_row(t: &str) -> bool {
    !t.is_empty() && t.split_whitespace().all(|w| w.parse::<f64>().is_ok())
}

/// A line cut to 40 characters for messages.
fn short(t: &str) -> String {
    crate::error::excerpt(t, 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MemeFile> {
        parse_meme(text.as_bytes(), Path::new("t.meme"))
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    const HEAD: &str = "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n\
                        Background letter frequencies\nA 0.3 C 0.2 G 0.2 T 0.3\n\n";

    #[test]
    fn round_trip_keeps_everything() {
        let mut a = Motif::new("filter0", vec![[0.1, 0.2, 0.3, 0.4], [1.0, 0.0, 0.0, 0.0]]);
        a.name = Some("ACGT".into());
        a.nsites = Some(123.0);
        a.evalue = Some(0.0);
        let mut b = Motif::new("MA0139.2", vec![[0.25; 4]; 3]);
        b.name = Some("CTCF".into());
        b.nsites = Some(2.5);
        b.evalue = Some(1.5e-7);
        b.url = Some("http://jaspar.genereg.net/matrix/MA0139.2".into());
        let c = Motif::new("bare", vec![[0.123456, 0.2, 0.3, 0.376544]]);
        let mut file = MemeFile::new(vec![a, b, c]);
        file.background = [0.3, 0.2, 0.2, 0.3];
        let mut out = Vec::new();
        write_meme(&mut out, &file).unwrap();
        let back = parse_meme(&out[..], Path::new("x")).unwrap();
        assert_eq!(back.version, "4");
        assert_eq!(back.strands, Strands::Both);
        assert_eq!(back.background, file.background);
        assert_eq!(back.motifs.len(), 3);
        for (x, y) in back.motifs.iter().zip(&file.motifs) {
            assert_eq!((&x.id, &x.name, &x.url), (&y.id, &y.name, &y.url));
            assert_eq!(x.nsites, y.nsites);
            assert_eq!(x.evalue, Some(y.evalue.unwrap_or(0.0)));
            assert_eq!(x.width(), y.width());
            for (r, s) in x.probs.iter().zip(&y.probs) {
                for (u, v) in r.iter().zip(s) {
                    assert!((u - v).abs() < 1e-6, "{u} vs {v}");
                }
            }
        }
        // Writing what was read gives the same bytes.
        let mut again = Vec::new();
        write_meme(&mut again, &back).unwrap();
        assert_eq!(
            String::from_utf8(again).unwrap(),
            String::from_utf8(out).unwrap()
        );
    }

    #[test]
    fn writer_follows_the_minimal_format() {
        let mut m = Motif::new("f 1", vec![[0.5, 0.5, 0.0, 0.0]]);
        m.nsites = Some(7.0);
        let mut out = Vec::new();
        write_meme(&mut out, &MemeFile::new(vec![m])).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n\
             Background letter frequencies\nA 0.250000 C 0.250000 G 0.250000 T 0.250000\n\n\
             MOTIF f_1\nletter-probability matrix: alength= 4 w= 1 nsites= 7 E= 0\n \
             0.500000  0.500000  0.000000  0.000000\n\n"
        );
    }

    #[test]
    fn reads_variants_of_the_format() {
        // CRLF, no final newline, tabs, header fields without spaces, no w=, multi-line
        // background, custom alphabet block, log-odds matrix skipped, "MOTIFS" ignored.
        let text = "MEME version 5.5.4 (Release date: x)\r\n\r\n\
            ALPHABET \"DNA\" DNA-LIKE\r\nA \"Adenine\" CC0000 ~ T \"Thymine\" 008000\r\n\
            C \"Cytosine\" 0000CC ~ G \"Guanine\" FFB300\r\nN \"Any base\" = ACGT\r\nEND ALPHABET\r\n\
            Background letter frequencies (from x)\r\nA 0.25 C 0.25\r\nG 0.25 T 0.25\r\n\
            MOTIFS found\r\nMOTIF one\r\n\
            log-odds matrix: alength= 4 w= 2 E= 0\r\n1 -1 -1 -1\r\n-1 1 -1 -1\r\n\
            letter-probability matrix: alength=4 w=2 nsites=20 E=1e-5\r\n\
            0.7\t0.1\t0.1\t0.1\r\n  0.1 0.1 0.1 0.7\r\n\r\nMOTIF two x\r\n\
            letter-probability matrix:\r\n0.25 0.25 0.25 0.25\r\nURL none";
        let f = parse(text).unwrap();
        assert_eq!(f.version, "5.5.4");
        assert_eq!(f.motifs.len(), 2);
        assert_eq!(
            f.motifs[0].probs,
            vec![[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]]
        );
        assert_eq!(
            (f.motifs[0].nsites, f.motifs[0].evalue, f.motifs[0].line),
            (Some(20.0), Some(1e-5), 12)
        );
        assert_eq!(f.motifs[1].width(), 1);
        assert_eq!(f.motifs[1].name.as_deref(), Some("x"));
        assert_eq!(f.motifs[1].url.as_deref(), Some("none"));
    }

    #[test]
    fn errors_name_the_line() {
        let m = "MOTIF a\nletter-probability matrix: alength= 4 w= 2\n";
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "t.meme: not a MEME file: no 'MEME version' line"),
            (
                "MOTIF a\n".into(),
                "t.meme:1: not a MEME file: expected 'MEME version 4' before 'MOTIF a'",
            ),
            (
                "MEME version 4\n".into(),
                "t.meme: no motifs (no 'MOTIF' lines)",
            ),
            (
                "MEME version\n".into(),
                "t.meme:1: 'MEME version' needs a version number, as 'MEME version 4'",
            ),
            (
                "MEME version 4\nALPHABET= ACDEFGHIKLMNPQRSTVWY\n".into(),
                "t.meme:2: alphabet 'ACDEFGHIKLMNPQRSTVWY' is not DNA: only ACGT motifs are supported",
            ),
            (
                "MEME version 4\nstrands: x\n".into(),
                "t.meme:2: strands must be '+' or '+ -', got 'x'",
            ),
            (
                format!("{HEAD}{m}0.7 0.1 0.1 0.1\n"),
                "t.meme:11: matrix declares w= 2 but has 1 row",
            ),
            (
                format!("{HEAD}{m}0.7 0.1 0.1 0.1\nMOTIF b\n"),
                "t.meme:11: matrix declares w= 2 but has 1 row",
            ),
            (
                format!("{HEAD}{m}0.7 0.1 0.1\n"),
                "t.meme:12: matrix row has 3 values, alength is 4",
            ),
            (
                format!("{HEAD}{m}0.7 0.1 0.1 x\n"),
                "t.meme:12: expected a matrix row of 4 probabilities, got '0.7 0.1 0.1 x'",
            ),
            (
                format!("{HEAD}{m}0.7 0.1 0.1 0.5\n"),
                "t.meme:12: matrix row sums to 1.4, not 1",
            ),
            (
                format!("{HEAD}{m}1.5 -0.5 0 0\n"),
                "t.meme:12: matrix row '1.5 -0.5 0 0': probabilities must lie in [0, 1]",
            ),
            (
                format!("{HEAD}{m}NaN 0 0 0\n"),
                "t.meme:12: matrix row 'NaN 0 0 0': probabilities must lie in [0, 1]",
            ),
            (
                format!("{HEAD}MOTIF a\nletter-probability matrix: alength= 20 w= 1\n"),
                "t.meme:11: alength= 20: only DNA motifs (alength= 4) are supported",
            ),
            (
                format!("{HEAD}MOTIF a\nletter-probability matrix: alength= 4 w= x\n"),
                "t.meme:11: matrix header: w= needs a number, got 'x'",
            ),
            (
                format!("{HEAD}MOTIF a\nletter-probability matrix: alength= 4 w= 1.5\n"),
                "t.meme:11: w= must be a positive integer, got 1.5",
            ),
            (
                format!("{HEAD}MOTIF a\nletter-probability matrix: alength= 4 w= 0 nsites= 0\n"),
                "t.meme:11: motif 'a' has width 0 (w= 0): a motif needs at least one matrix row; \
                 remove the motif or give its rows",
            ),
            (
                format!("{HEAD}MOTIF a\nletter-probability matrix: alength= 4\n\nMOTIF b\n"),
                "t.meme:10: motif 'a' has width 0: its letter-probability matrix has no rows",
            ),
            (
                format!("{HEAD}MOTIF a\nMOTIF b\n"),
                "t.meme:10: motif 'a' has no letter-probability matrix",
            ),
            (
                format!("{HEAD}MOTIF\n"),
                "t.meme:10: 'MOTIF' needs an identifier",
            ),
            (
                format!("{HEAD}MOTIF a\n0.25 0.25 0.25 0.25\n"),
                "t.meme:11: matrix rows before a 'letter-probability matrix:' line",
            ),
            (
                format!("{HEAD}letter-probability matrix: alength= 4 w= 1\n"),
                "t.meme:10: letter-probability matrix before any 'MOTIF' line",
            ),
            (
                "MEME version 4\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 X 0.25\n"
                    .into(),
                "t.meme:3: background: 'X' is not one of A, C, G, T",
            ),
            (
                "MEME version 4\nBackground letter frequencies\nA 0.5 C 0.25 G 0.25 T 0.25\n"
                    .into(),
                "t.meme:3: background frequencies sum to 1.25, not 1",
            ),
            (
                "MEME version 4\nBackground letter frequencies\nA 0.5 C 0.5\n".into(),
                // At the end of the file: the line that opened the section, not one past the end.
                "t.meme:2: background letter frequencies must give A, C, G and T",
            ),
            (
                "MEME version 4\n\nALPHABET \"x\" DNA-LIKE\nA\nC\nG\nT\n\nMOTIF a\n".into(),
                "t.meme:3: alphabet block has no 'END ALPHABET'",
            ),
            (
                "MEME version 4\nALPHABET \"x\" PROTEIN-LIKE\nA\nB\nEND ALPHABET\n".into(),
                "t.meme:5: alphabet has core letters 'AB': only DNA (ACGT) motifs are supported",
            ),
            (
                "MEME version 4\n\u{0}\u{ff}\u{fe}\n".into(),
                "t.meme: no motifs (no 'MOTIF' lines)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(&text), want, "input:\n{text}");
        }
        let e = parse_meme(&b"MEME version 4\n\xff\xfe\n"[..], Path::new("t.meme")).unwrap_err();
        assert_eq!(e.to_string(), "t.meme:2: line is not valid UTF-8 text");
    }

    #[test]
    fn never_panics_on_cut_or_mangled_input() {
        let mut good = Vec::new();
        let m = Motif::new("a", vec![[0.1, 0.2, 0.3, 0.4]; 3]);
        write_meme(&mut good, &MemeFile::new(vec![m.clone(), m])).unwrap();
        for cut in 0..good.len() {
            let _ = parse_meme(&good[..cut], Path::new("x"));
        }
        let mut rng = crate::rng::seeded(3);
        for _ in 0..2000 {
            let mut bytes = good.clone();
            for _ in 0..3 {
                let i = crate::rng::below(&mut rng, bytes.len());
                bytes[i] = b" \n0.9-=+xMOTIF\t"[crate::rng::below(&mut rng, 15)];
            }
            let _ = parse_meme(&bytes[..], Path::new("x"));
        }
    }

    #[test]
    fn vendored_files_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/motifs");
        let t = read_meme(&dir.join("tangermeme_test.meme")).unwrap();
        assert_eq!(t.motifs.len(), 12);
        assert_eq!(t.motifs[0].id, "MEOX1_homeodomain_1");
        assert_eq!(t.motifs[0].width(), 10);
        assert!(t.motifs.iter().all(|m| m.url.as_deref() == Some("none")));
        let j = read_meme(&dir.join("JASPAR2024_CORE_vertebrates.subset.meme")).unwrap();
        let ctcf = j.motifs.iter().find(|m| m.id == "MA0139.2").unwrap();
        assert_eq!((ctcf.name.as_deref(), ctcf.width()), (Some("CTCF"), 15));
        assert!(j.motifs.iter().any(|m| m.id == "MA0138.3"));
    }
}
