//! Training logs: one TSV row per epoch (Keras' `CSVLogger`, Selene's training log), written
//! and flushed as each epoch ends so that a run can be followed with `tail -f` or plotted while
//! it trains. A resumed run keeps the rows up to its checkpoint's epoch and goes on from there,
//! so its log reads like an uninterrupted run's.

use crate::{Error, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// What a training loop's epoch record puts in a log row.
pub trait EpochRow {
    /// The header: one name per value.
    fn columns(&self, tasks: &[String]) -> Vec<String>;
    /// This epoch's values, in the order of [`EpochRow::columns`].
    fn values(&self, tasks: &[String]) -> Vec<String>;
}

/// A number as a log cell: `NA` when missing, else Rust's shortest exact form.
pub fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "NA".into(), |v| v.to_string())
}

/// An epoch log being written.
#[derive(Debug)]
pub struct EpochTable {
    path: PathBuf,
    /// Open once the first row fixes the header.
    file: Option<File>,
    /// Rows kept from a resumed run's log, written under the header.
    kept: Vec<String>,
    /// The kept rows' header, which the resumed run must repeat.
    kept_header: Option<String>,
}

impl EpochTable {
    /// A log at `path`. With `resume_after = Some(k)`, the rows of epochs `1..=k` already in
    /// `path` (if it exists) are kept; otherwise the file starts afresh. Nothing is written
    /// until the first row.
    pub fn new(path: &Path, resume_after: Option<usize>) -> Result<Self> {
        let mut table = EpochTable {
            path: path.to_path_buf(),
            file: None,
            kept: vec![],
            kept_header: None,
        };
        if let Some(last) = resume_after
            && path.exists()
        {
            let reader = BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?);
            for (i, line) in reader.lines().enumerate() {
                let line = line.map_err(|e| Error::io(path, e))?;
                if i == 0 {
                    table.kept_header = Some(line);
                    continue;
                }
                let epoch = line.split('\t').next().unwrap_or("");
                let epoch: usize = epoch.parse().map_err(|_| Error::Parse {
                    path: path.to_path_buf(),
                    line: i as u64 + 1,
                    msg: format!("'{epoch}' is not an epoch number: is this a training log?"),
                })?;
                if epoch <= last {
                    table.kept.push(line);
                }
            }
        } else {
            // Fail now, not after the first epoch, when the log cannot be written.
            File::create(path).map_err(|e| Error::io(path, e))?;
        }
        Ok(table)
    }

    /// Appends one epoch's row (writing the header first) and flushes it.
    pub fn write(&mut self, row: &dyn EpochRow, tasks: &[String]) -> Result<()> {
        let path = &self.path;
        if self.file.is_none() {
            let header = row.columns(tasks).join("\t");
            if let Some(old) = &self.kept_header
                && *old != header
            {
                return Err(Error::Config(format!(
                    "{}: the log being resumed has other columns ({old}); give a new --log file",
                    path.display()
                )));
            }
            let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
            writeln!(f, "{header}").map_err(|e| Error::io(path, e))?;
            for line in self.kept.drain(..) {
                writeln!(f, "{line}").map_err(|e| Error::io(path, e))?;
            }
            self.file = Some(f);
        }
        let f = self.file.as_mut().expect("opened above");
        writeln!(f, "{}", row.values(tasks).join("\t")).map_err(|e| Error::io(path, e))?;
        f.flush().map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row(usize, f64);

    impl EpochRow for Row {
        fn columns(&self, tasks: &[String]) -> Vec<String> {
            let mut c = vec!["epoch".to_string()];
            c.extend(tasks.iter().map(|t| format!("auroc.{t}")));
            c
        }
        fn values(&self, _: &[String]) -> Vec<String> {
            vec![self.0.to_string(), cell(Some(self.1))]
        }
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn rows_follow_the_header_and_a_resume_keeps_the_checkpointed_epochs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.tsv");
        let tasks = ["A".to_string()];
        let mut t = EpochTable::new(&p, None).unwrap();
        assert_eq!(read(&p), "", "created empty before any epoch");
        for e in 1..=3 {
            t.write(&Row(e, e as f64 / 10.0), &tasks).unwrap();
            // flushed: readable while the run goes on
            assert_eq!(read(&p).lines().count(), e + 1);
        }
        assert_eq!(read(&p), "epoch\tauroc.A\n1\t0.1\n2\t0.2\n3\t0.3\n");
        // a run resumed after epoch 2 drops epoch 3's row and writes its own
        let mut t = EpochTable::new(&p, Some(2)).unwrap();
        t.write(&Row(3, 0.35), &tasks).unwrap();
        assert_eq!(read(&p), "epoch\tauroc.A\n1\t0.1\n2\t0.2\n3\t0.35\n");
        // resuming into a log of other tasks is refused before anything is overwritten
        let mut t = EpochTable::new(&p, Some(3)).unwrap();
        let err = t.write(&Row(4, 0.4), &["B".to_string()]).unwrap_err();
        assert!(err.to_string().contains("other columns"), "{err}");
        assert_eq!(read(&p), "epoch\tauroc.A\n1\t0.1\n2\t0.2\n3\t0.35\n");
        // a resume without an earlier log starts one; a missing directory fails at once
        let q = dir.path().join("new.tsv");
        EpochTable::new(&q, Some(5))
            .unwrap()
            .write(&Row(6, 0.6), &tasks)
            .unwrap();
        assert_eq!(read(&q), "epoch\tauroc.A\n6\t0.6\n");
        let bad = dir.path().join("no/such/dir/log.tsv");
        assert!(EpochTable::new(&bad, None).is_err());
        // a file that is not a log is not taken for one
        std::fs::write(&q, "epoch\nfoo\n").unwrap();
        let err = EpochTable::new(&q, Some(1)).unwrap_err();
        assert!(err.to_string().contains(":2:"), "{err}");
    }
}
