//! Joining the outputs of a command's shards ([`merge`], `seqcnn merge`): the first shard's
//! header once, then every shard's data lines unchanged, after checking that every shard's
//! header equals the first's and that the shards' markers ([`MARKER`](super::MARKER)) run
//! `1/N` to `N/N` in order. TSV shards have one header row; VCF shards a block of `#` lines.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use super::Shard;
use crate::error::{Error, Result};
use crate::io::input::{input_name, is_dash, open_input, read_error};
use crate::io::output::AtomicOutput;

/// What [`merge`] found in its shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergedFormat {
    /// Tab-separated with one header row.
    Tsv,
    /// VCF: a header block of `##` lines and the `#CHROM` line.
    Vcf,
}

/// What [`merge`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSummary {
    /// The shards' format.
    pub format: MergedFormat,
    /// Data lines (rows or records, the header not counted) of each shard, in order.
    pub lines: Vec<u64>,
}

/// A shard's header: the header row of a TSV, or every leading `#` line of a VCF, without the
/// shard's marker line, which is kept apart.
struct Header {
    lines: Vec<Vec<u8>>,
    /// The 1-based line number of each of `lines` in the file.
    numbers: Vec<u64>,
    /// The shard the marker line names, if the file has one.
    shard: Option<Shard>,
    /// Lines read, the marker included: the 1-based number of the last header line.
    read: u64,
}

impl Header {
    /// Reads the header of `reader` (named `path` in errors).
    fn read(reader: &mut dyn BufRead, path: &Path) -> Result<Header> {
        let mut lines = Vec::new();
        let mut numbers = Vec::new();
        let mut shard = None;
        let mut read = 0u64;
        loop {
            let buf = reader
                .fill_buf()
                .map_err(|e| read_error(path, read + 1, e))?;
            let vcf = lines
                .first()
                .is_some_and(|l: &Vec<u8>| l.starts_with(b"##fileformat=VCF"));
            let more = lines.is_empty() || (vcf && buf.first() == Some(&b'#'));
            if !more {
                break;
            }
            let mut line = Vec::new();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| read_error(path, read + 1, e))?;
            if n == 0 {
                break;
            }
            read += 1;
            if line.last() != Some(&b'\n') {
                return Err(Error::parse(
                    path,
                    read,
                    "the header line has no newline: the file looks truncated",
                ));
            }
            if let Some(s) = Shard::from_marker(&line) {
                if shard.is_some() {
                    return Err(Error::parse(
                        path,
                        read,
                        "a second shard marker line: the file is not one shard's output",
                    ));
                }
                shard = Some(s);
                continue;
            }
            lines.push(line);
            numbers.push(read);
        }
        if lines.is_empty() {
            return Err(Error::parse(
                path,
                read,
                "empty file: a shard output has at least its header line",
            ));
        }
        Ok(Header {
            lines,
            numbers,
            shard,
            read,
        })
    }

    fn format(&self) -> MergedFormat {
        if self.lines[0].starts_with(b"##fileformat=VCF") {
            MergedFormat::Vcf
        } else {
            MergedFormat::Tsv
        }
    }

    /// The lines that must agree between shards, with their 1-based line numbers: all of them,
    /// except VCF meta lines whose key names a command line (`##commandline=`,
    /// `##seqcnnCommand=`...), which legitimately differ in their `--shard`.
    fn compared(&self) -> Vec<(u64, &[u8])> {
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                let key = l
                    .strip_prefix(b"##")
                    .and_then(|m| m.split(|&c| c == b'=').next())
                    .map(|k| String::from_utf8_lossy(k).to_ascii_lowercase());
                !key.is_some_and(|k| k.contains("command"))
            })
            .map(|(i, l)| (self.numbers[i], l.as_slice()))
            .collect()
    }
}

/// A line as shown in a message: tabs as `\t`, line end dropped, cut after 120 characters.
fn show_line(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\n', '\r']).replace('\t', "\\t");
    match text.char_indices().nth(120) {
        Some((i, _)) => format!("'{}...'", &text[..i]),
        None => format!("'{text}'"),
    }
}

/// The checks [`merge`] makes before reading anything: at least one shard, the output not one of
/// the shards, standard input at most once, and no shard given twice (a repeated file would
/// repeat its rows).
pub fn check_inputs(out: &Path, shards: &[PathBuf]) -> Result<()> {
    if shards.is_empty() {
        return Err(Error::Config("merge: no shard files given".into()));
    }
    if !is_dash(out) {
        let same = |p: &Path| match (p.canonicalize(), out.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => p == out,
        };
        if let Some(s) = shards.iter().find(|s| same(s)) {
            return Err(Error::Config(format!(
                "merge: the output {} is also a shard input ({}); write to another file",
                out.display(),
                s.display()
            )));
        }
    }
    if shards.iter().filter(|s| is_dash(s)).count() > 1 {
        return Err(Error::Config(
            "merge: standard input (-) can be only one of the shards".into(),
        ));
    }
    let mut seen: Vec<(PathBuf, &Path)> = Vec::new();
    for s in shards.iter().filter(|s| !is_dash(s)) {
        let key = s.canonicalize().unwrap_or_else(|_| s.clone());
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            return Err(Error::Config(format!(
                "merge: shard {} is given twice ({} and {}); give each shard once, in order",
                s.display(),
                first.display(),
                s.display()
            )));
        }
        seen.push((key, s));
    }
    Ok(())
}

/// The shards' markers as [`merge`] meets them: all shards have one or none does, and marked
/// shards run `1/N`, `2/N` ... `N/N`, each once.
#[derive(Default)]
struct Order {
    /// The shards met so far: file and marker.
    met: Vec<(PathBuf, Option<Shard>)>,
}

impl Order {
    /// Checks the next shard, `name` with `marker`, against those met before it.
    fn next(&mut self, name: &Path, marker: Option<Shard>) -> Result<()> {
        let position = self.met.len() + 1;
        let fail = |why: String| Err(Error::Config(format!("merge: {}: {why}", name.display())));
        if let Some((first, first_marker)) = self.met.first() {
            match (first_marker, marker) {
                (Some(f), None) => {
                    return fail(format!(
                        "no shard marker line, but {} has one ({}): is it a shard of the same \
                         run (made with --shard)?",
                        first.display(),
                        f.marker()
                    ));
                }
                (None, Some(m)) => {
                    let n = m.count;
                    return fail(format!(
                        "shard {m}, but {} has no shard marker line: give the shards of one \
                         run, 1/{n} to {n}/{n}, in order",
                        first.display()
                    ));
                }
                (Some(f), Some(m)) if f.count != m.count => {
                    return fail(format!(
                        "shard {m}, but {} is shard {f}: the shards come from runs split in \
                         different numbers of shards",
                        first.display()
                    ));
                }
                _ => {}
            }
        }
        if let Some(m) = marker
            && m.index != position
        {
            let again = self.met.iter().find(|(_, e)| *e == Some(m));
            return match again {
                Some((earlier, _)) => fail(format!(
                    "shard {m} again ({} is shard {m} too); give each shard once, in order",
                    earlier.display()
                )),
                None => {
                    let n = m.count;
                    fail(format!(
                        "shard {m} where shard {position}/{n} is due: shard {position}/{n} \
                             is missing, or the shards are out of order (give 1/{n} to {n}/{n} \
                             in order)"
                    ))
                }
            };
        }
        self.met.push((name.to_path_buf(), marker));
        Ok(())
    }

    /// After the last shard: every marked shard up to `N/N` was given.
    fn finish(&self) -> Result<()> {
        match self.met.last() {
            Some((last, Some(m))) if m.index < m.count => Err(Error::Config(format!(
                "merge: shard {}/{} is missing: the last shard given, {}, is shard {m}",
                m.index + 1,
                m.count,
                last.display()
            ))),
            _ => Ok(()),
        }
    }
}

/// Joins the outputs of a command's shards, in order, into `out` (`-` = stdout, `.gz` = gzip;
/// written atomically): the first shard's header once, then every shard's data lines unchanged.
/// Shards may be gzip-compressed. A TSV shard's first line is its header; a VCF shard's header
/// is its block of leading `#` lines. Every shard's header must equal the first's (for VCF,
/// meta lines naming a command line excepted), else the error names the shard and the line;
/// an empty shard, or one whose last line has no newline (a cut file), is an error too. `out`
/// may not be one of the shards. Outputs of `--shard I/N` runs carry a marker line
/// ([`MARKER`](super::MARKER)), which is dropped: they must be shards `1/N` to `N/N` of one
/// split, each once and in order, or the error names the shard missing, repeated or out of
/// place. Files without markers are joined as they are.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let a = dir.path().join("a.tsv");
/// let b = dir.path().join("b.tsv.gz");
/// std::fs::write(&a, "name\tREST\nr1\t0.5\n").unwrap();
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
/// std::io::Write::write_all(&mut gz, b"name\tREST\nr2\t0.25\n").unwrap();
/// std::fs::write(&b, gz.finish().unwrap()).unwrap();
/// let out = dir.path().join("all.tsv");
/// let summary = seqcnn::shard::merge::merge(&out, &[a.clone(), b]).unwrap();
/// assert_eq!(summary.lines, [1, 1]);
/// assert_eq!(std::fs::read_to_string(&out).unwrap(), "name\tREST\nr1\t0.5\nr2\t0.25\n");
///
/// let c = dir.path().join("c.tsv");
/// std::fs::write(&c, "name\tCTCF\nr3\t0.1\n").unwrap();
/// let e = seqcnn::shard::merge::merge(&out, &[a, c]).unwrap_err().to_string();
/// assert!(e.contains("c.tsv:1: header differs"), "{e}");
/// ```
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<MergeSummary> {
    check_inputs(out, shards)?;
    let mut output = AtomicOutput::create(out)?;
    let mut first: Option<(PathBuf, Header)> = None;
    let mut lines = Vec::with_capacity(shards.len());
    let mut order = Order::default();
    for shard in shards {
        let name = input_name(shard);
        let mut reader = open_input(shard)?;
        let header = Header::read(&mut reader, &name)?;
        order.next(&name, header.shard)?;
        match &first {
            None => {
                for l in &header.lines {
                    output.write_all(l).map_err(|e| output.error(e))?;
                }
            }
            Some((first_name, first_header)) => {
                let (want, got) = (first_header.compared(), header.compared());
                let differ = want
                    .iter()
                    .zip(&got)
                    .find(|(w, g)| w.1 != g.1)
                    .map(|(w, g)| (g.0, show_line(g.1), show_line(w.1)))
                    .or_else(|| match want.len().cmp(&got.len()) {
                        std::cmp::Ordering::Equal => None,
                        std::cmp::Ordering::Less => {
                            let g = got[want.len()];
                            Some((g.0, show_line(g.1), "no such line".into()))
                        }
                        std::cmp::Ordering::Greater => {
                            let w = want[got.len()];
                            Some((header.read + 1, "no such line".into(), show_line(w.1)))
                        }
                    });
                if let Some((line, got, want)) = differ {
                    return Err(Error::parse(
                        &name,
                        line,
                        format!(
                            "header differs from the first shard's ({}): {got} where it has \
                             {want}; were the shards made by the same command and model?",
                            first_name.display()
                        ),
                    ));
                }
            }
        }
        let data_line = header.read;
        let (mut count, mut last) = (0u64, b'\n');
        loop {
            let buf = reader
                .fill_buf()
                .map_err(|e| read_error(&name, data_line + count + 1, e))?;
            if buf.is_empty() {
                break;
            }
            count += buf.iter().filter(|&&c| c == b'\n').count() as u64;
            last = buf[buf.len() - 1];
            output.write_all(buf).map_err(|e| output.error(e))?;
            let n = buf.len();
            reader.consume(n);
        }
        if last != b'\n' {
            return Err(Error::parse(
                &name,
                data_line + count + 1,
                "the last line has no newline: the file looks truncated",
            ));
        }
        lines.push(count);
        if first.is_none() {
            first = Some((name, header));
        }
    }
    order.finish()?;
    output.commit()?;
    let format = first.map_or(MergedFormat::Tsv, |(_, h)| h.format());
    Ok(MergeSummary { format, lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const VCF_HEAD: &str = "##fileformat=VCFv4.2\n##contig=<ID=20,length=200000>\n";

    #[test]
    fn merge_vcf_keeps_one_header_block_and_ignores_command_lines() {
        let dir = tempfile::tempdir().unwrap();
        let cols = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";
        let a = write(
            dir.path(),
            "a.vcf",
            &format!(
                "{VCF_HEAD}##seqcnnCommand=variants --shard 1/2\n{cols}20\t5\t.\tA\tG\t.\t.\t.\n"
            ),
        );
        let b = write(
            dir.path(),
            "b.vcf",
            &format!(
                "{VCF_HEAD}##seqcnnCommand=variants --shard 2/2\n{cols}20\t9\t.\tC\tT\t.\t.\t.\n20\t12\t.\tC\tT\t.\t.\t.\n"
            ),
        );
        let empty = write(
            dir.path(),
            "e.vcf",
            &format!("{VCF_HEAD}##seqcnnCommand=variants --shard 2/2\n{cols}"),
        );
        let out = dir.path().join("all.vcf");
        let s = merge(&out, &[a.clone(), empty, b.clone()]).unwrap();
        assert_eq!((s.format, s.lines), (MergedFormat::Vcf, vec![1, 0, 2]));
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.matches("#CHROM").count(), 1);
        assert!(text.contains("--shard 1/2") && !text.contains("--shard 2/2"));
        assert!(text.ends_with(
            "20\t5\t.\tA\tG\t.\t.\t.\n20\t9\t.\tC\tT\t.\t.\t.\n20\t12\t.\tC\tT\t.\t.\t.\n"
        ));
        // A different contig line is a different header.
        let c = write(
            dir.path(),
            "c.vcf",
            &format!("##fileformat=VCFv4.2\n##contig=<ID=21,length=9>\n{cols}"),
        );
        let e = merge(&out, &[a, c]).unwrap_err().to_string();
        assert!(
            e.contains("c.vcf:2: header differs") && e.contains("a.vcf"),
            "{e}"
        );
        // The failed merge left the earlier output as it was.
        assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
    }

    #[test]
    fn merge_errors_name_the_shard() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.tsv", "name\tX\nr1\t1\n");
        let out = dir.path().join("out.tsv");
        let cases = [
            ("empty.tsv", "", "empty.tsv: empty file"),
            (
                "cut.tsv",
                "name\tX\nr2\t0.",
                "cut.tsv:2: the last line has no newline",
            ),
            (
                "head.tsv",
                "name\tX",
                "head.tsv:1: the header line has no newline",
            ),
            ("more.tsv", "name\tX\tY\n", "more.tsv:1: header differs"),
        ];
        for (name, text, want) in cases {
            let p = write(dir.path(), name, text);
            let e = merge(&out, &[a.clone(), p]).unwrap_err().to_string();
            assert!(e.contains(want), "{name}: {e}");
            assert!(!out.exists(), "{name}: output written");
        }
        let e = merge(&a, std::slice::from_ref(&a)).unwrap_err().to_string();
        assert!(e.contains("also a shard input"), "{e}");
        assert!(merge(&out, &[]).is_err());
        // Nothing but the inputs in the directory: no temporary file left behind.
        let n = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(n, 1 + cases.len());
    }
}
