//! Contig names: how a name from a user's file finds a contig of the genome. Exact names first,
//! then alias tables ([`Genome::with_aliases`]), then the name without `chr` and with the
//! mitochondrion spelled `MT` ([`contig_key`]); an unknown name is an error that suggests the
//! closest known ones.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use super::Genome;
use crate::error::{Error, Result};

/// The name a contig is matched under when the exact name is not found: without a leading `chr`
/// (any case), and the mitochondrion `M` spelled `MT`. So `chr20` = `20` and `chrM` = `MT`.
///
/// ```
/// use seqcnn::io::genome::names::contig_key;
/// assert_eq!(contig_key("chr20"), contig_key("20"));
/// assert_eq!(contig_key("chrM"), contig_key("MT"));
/// assert_ne!(contig_key("chr2"), contig_key("20"));
/// ```
pub fn contig_key(name: &str) -> String {
    let bare = match name.get(..3) {
        Some(p) if p.eq_ignore_ascii_case("chr") && name.len() > 3 => &name[3..],
        _ => name,
    };
    if bare.eq_ignore_ascii_case("M") || bare.eq_ignore_ascii_case("MT") {
        "MT".to_string()
    } else {
        bare.to_string()
    }
}

/// The contigs under their [`contig_key`]: `None` for a key that two contigs share, so only their
/// exact names work.
pub(super) fn key_index(contigs: &[(String, u64)]) -> HashMap<String, Option<usize>> {
    let mut by_key: HashMap<String, Option<usize>> = HashMap::new();
    for (i, (name, _)) in contigs.iter().enumerate() {
        by_key
            .entry(contig_key(name))
            .and_modify(|v| *v = None)
            .or_insert(Some(i));
    }
    by_key
}

/// Levenshtein distance between two names (for "did you mean" suggestions).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

impl Genome {
    /// Adds an alias table: a two-column text file (tab or spaces), one `ALIAS CONTIG` pair per
    /// line, where `CONTIG` names a contig of this genome (itself matched with or without `chr`);
    /// the columns may also come the other way round. Blank lines and lines starting with `#` are
    /// skipped. Errors name the file and line.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let fa = dir.path().join("g.fa");
    /// std::fs::write(&fa, ">NC_000020.11\nACGT\n").unwrap();
    /// seqcnn::io::genome::index::write_index(&fa, false).unwrap();
    /// let aliases = dir.path().join("alias.tsv");
    /// std::fs::write(&aliases, "# alias\tgenome\nchr20\tNC_000020.11\n").unwrap();
    /// let g = seqcnn::io::genome::Genome::open(&fa).unwrap().with_aliases(&aliases).unwrap();
    /// assert_eq!(g.resolve("chr20").unwrap(), "NC_000020.11");
    /// assert_eq!(g.resolve("20").unwrap(), "NC_000020.11"); // `chr` rule applies to aliases too
    /// ```
    pub fn with_aliases(mut self, table: &Path) -> Result<Genome> {
        let name = crate::io::input::input_name(table);
        let reader = crate::io::input::open_input(table)?;
        for (i, line) in reader.lines().enumerate() {
            let lineno = i as u64 + 1;
            let line = line.map_err(|e| Error::io(&name, e))?;
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = t.split_whitespace().collect();
            if cols.len() != 2 {
                return Err(Error::parse(
                    &name,
                    lineno,
                    format!("expected 2 columns (ALIAS CONTIG), found {}", cols.len()),
                ));
            }
            let (alias, id) = match (self.lookup(cols[1]), self.lookup(cols[0])) {
                (Some(id), _) => (cols[0], id),
                (None, Some(id)) => (cols[1], id),
                (None, None) => {
                    return Err(Error::parse(
                        &name,
                        lineno,
                        format!(
                            "neither '{}' nor '{}' is a contig of {}",
                            cols[0],
                            cols[1],
                            self.path.display()
                        ),
                    ));
                }
            };
            if let Some(&old) = self.aliases.get(alias)
                && old != id
            {
                return Err(Error::parse(
                    &name,
                    lineno,
                    format!(
                        "alias '{alias}' given for both '{}' and '{}'",
                        self.contigs[old].0, self.contigs[id].0
                    ),
                ));
            }
            self.aliases.insert(alias.to_string(), id);
            self.aliases.entry(contig_key(alias)).or_insert(id);
        }
        Ok(self)
    }

    /// Finds a contig by exact name, then alias, then `chr`-less key.
    pub(super) fn lookup(&self, name: &str) -> Option<usize> {
        if let Some(&i) = self.by_name.get(name) {
            return Some(i);
        }
        if let Some(&i) = self.aliases.get(name) {
            return Some(i);
        }
        let key = contig_key(name);
        if let Some(&Some(i)) = self.by_key.get(&key) {
            return Some(i);
        }
        self.aliases.get(&key).copied()
    }

    /// The index of a contig in [`contigs`](Self::contigs), or the message for an unknown one:
    /// it names the contig and the closest known names.
    pub(crate) fn contig_id(&self, name: &str) -> std::result::Result<usize, String> {
        self.lookup(name).ok_or_else(|| self.unknown(name))
    }

    fn unknown(&self, name: &str) -> String {
        let key = contig_key(name);
        let mut scored: Vec<(usize, &str)> = self
            .contigs
            .iter()
            .map(|(c, _)| {
                let d = edit_distance(name, c).min(edit_distance(&key, &contig_key(c)));
                (d, c.as_str())
            })
            .chain(
                self.aliases
                    .keys()
                    .map(|a| (edit_distance(name, a), a.as_str())),
            )
            .collect();
        scored.sort();
        scored.dedup_by(|a, b| a.1 == b.1);
        let best: Vec<&str> = scored.iter().take(3).map(|s| s.1).collect();
        format!(
            "unknown contig '{name}': not in {} ({} contig{}); closest: {}",
            self.path.display(),
            self.contigs.len(),
            if self.contigs.len() == 1 { "" } else { "s" },
            best.join(", ")
        )
    }

    /// The genome's own name for `name`, matched exactly, through the alias table, or with or
    /// without the `chr` prefix (`chr20` = `20`, `chrM` = `MT`). An unknown name is an error that
    /// names it and the closest known names.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let fa = dir.path().join("g.fa");
    /// std::fs::write(&fa, ">20\nACGT\n>21\nACGT\n>MT\nAC\n").unwrap();
    /// seqcnn::io::genome::index::write_index(&fa, false).unwrap();
    /// let g = seqcnn::io::genome::Genome::open(&fa).unwrap();
    /// assert_eq!(g.resolve("chr20").unwrap(), "20");
    /// assert_eq!(g.resolve("chrM").unwrap(), "MT");
    /// let e = g.resolve("chr22").unwrap_err().to_string();
    /// assert!(e.contains("unknown contig 'chr22'") && e.contains("closest: 20, 21"), "{e}");
    /// ```
    pub fn resolve(&self, name: &str) -> Result<&str> {
        match self.contig_id(name) {
            Ok(i) => Ok(&self.contigs[i].0),
            Err(msg) => Err(Error::Config(msg)),
        }
    }

    /// Length of a contig (any accepted spelling of its name).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let fa = dir.path().join("g.fa");
    /// std::fs::write(&fa, ">chrX\nACGTA\n").unwrap();
    /// seqcnn::io::genome::index::write_index(&fa, false).unwrap();
    /// let g = seqcnn::io::genome::Genome::open(&fa).unwrap();
    /// assert_eq!(g.contig_len("X").unwrap(), 5);
    /// ```
    pub fn contig_len(&self, name: &str) -> Result<u64> {
        let i = self.contig_id(name).map_err(Error::Config)?;
        Ok(self.contigs[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::genome;
    use super::*;

    #[test]
    fn edit_distance_small_cases() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("chr21", "21"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("20", "20"), 0);
    }

    #[test]
    fn contig_keys() {
        assert_eq!(contig_key("chrM"), "MT");
        assert_eq!(contig_key("M"), "MT");
        assert_eq!(contig_key("chrMT"), "MT");
        assert_eq!(contig_key("Chr1"), "1");
        assert_eq!(contig_key("chr"), "chr");
        assert_eq!(contig_key("chrUn_gl000220"), "Un_gl000220");
    }

    #[test]
    fn ambiguous_keys_need_exact_names() {
        let dir = tempfile::tempdir().unwrap();
        let g = genome(dir.path(), "g.fa", ">chr1\nAAAA\n>1\nCCCC\n>chrM\nGG\n");
        assert_eq!(g.resolve("chr1").unwrap(), "chr1");
        assert_eq!(g.resolve("1").unwrap(), "1");
        assert!(g.resolve("CHR1").is_err());
        assert_eq!(g.resolve("M").unwrap(), "chrM");
        assert_eq!(g.resolve("chrMT").unwrap(), "chrM");
    }

    #[test]
    fn alias_table_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let g = genome(dir.path(), "g.fa", ">NC_1\nAAAA\n>NC_2\nCC\n");
        let t = dir.path().join("a.tsv");
        std::fs::write(&t, "\n# c\nNC_1 one\nnope nada\n").unwrap();
        let e = g.with_aliases(&t).err().unwrap().to_string();
        assert!(
            e.contains("a.tsv:4:") && e.contains("neither 'nope'"),
            "{e}"
        );
        let g = Genome::open(&dir.path().join("g.fa")).unwrap();
        std::fs::write(&t, "one\tNC_1\none\tNC_2\n").unwrap();
        let e = g.with_aliases(&t).err().unwrap().to_string();
        assert!(e.contains("a.tsv:2:"), "{e}");
        let g = Genome::open(&dir.path().join("g.fa")).unwrap();
        std::fs::write(&t, "one\tNC_1\nNC_2\ttwo\n").unwrap();
        let g = g.with_aliases(&t).unwrap();
        assert_eq!(g.resolve("two").unwrap(), "NC_2");
        assert_eq!(g.fetch("one", 1, 3).unwrap(), b"AA");
        let e = g.resolve("three").unwrap_err().to_string();
        assert!(e.contains("unknown contig 'three'"), "{e}");
    }
}
