//! Training logs: one TSV row per epoch (Keras' `CSVLogger`, Selene's training log), written
//! and flushed as each epoch ends so that a run can be followed with `tail -f` or plotted while
//! it trains. A resumed run keeps the rows up to its checkpoint's epoch and goes on from there,
//! so its log reads like an uninterrupted run's.

use crate::{Error, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// One epoch's figures, for any training loop; `V` is what validation measured.
#[derive(Clone, Debug)]
pub struct Epoch<V> {
    pub epoch: usize,
    pub epochs: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub valid: Option<V>,
    pub seconds: f64,
    /// The epoch improved on the best so far.
    pub improved: bool,
}

/// A validation result as the epoch log shows it.
pub trait Validation {
    fn loss(&self) -> f64;
    /// The headline figures for the epoch line, e.g. `valid_auroc 0.9512`.
    fn headline(&self) -> String;
    /// Names of the figures logged per epoch, for `tasks` (class names for images).
    fn metric_names(tasks: &[String]) -> Vec<String>;
    /// Their values, in the order of [`Validation::metric_names`] (`None`: not measured).
    fn metric_values(&self, n_tasks: usize) -> Vec<Option<f64>>;
}

impl<V: Validation> std::fmt::Display for Epoch<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "epoch {}/{}  lr {:.2e}  train_loss {:.4}",
            self.epoch, self.epochs, self.lr, self.train_loss
        )?;
        if let Some(v) = &self.valid {
            write!(f, "  valid_loss {:.4}", v.loss())?;
            let h = v.headline();
            if !h.is_empty() {
                write!(f, "  {h}")?;
            }
        }
        write!(
            f,
            "  {:.1}s{}",
            self.seconds,
            if self.improved { "  *" } else { "" }
        )
    }
}

impl<V: Validation> Epoch<V> {
    /// The log header for `tasks`: `epoch lr train_loss valid_loss`, the validation figures,
    /// `seconds best`.
    pub fn columns(tasks: &[String]) -> Vec<String> {
        let mut c: Vec<String> = ["epoch", "lr", "train_loss", "valid_loss"]
            .map(String::from)
            .into();
        c.extend(V::metric_names(tasks));
        c.extend(["seconds".into(), "best".into()]);
        c
    }

    /// The log row under [`Epoch::columns`]: numbers in Rust's shortest exact form, `NA` for
    /// missing ones.
    pub fn values(&self, tasks: &[String]) -> Vec<String> {
        let cell = |v: Option<f64>| v.map_or_else(|| "NA".into(), |v: f64| v.to_string());
        let mut r = vec![
            self.epoch.to_string(),
            cell(Some(self.lr)),
            cell(Some(self.train_loss)),
            cell(self.valid.as_ref().map(V::loss)),
        ];
        let n = V::metric_names(tasks).len();
        let metrics = match &self.valid {
            Some(v) => v.metric_values(tasks.len()),
            None => vec![None; n],
        };
        r.extend(metrics.into_iter().map(cell));
        r.push(format!("{:.1}", self.seconds));
        r.push(u8::from(self.improved).to_string());
        r
    }
}

/// An epoch log being written.
pub struct EpochTable {
    path: PathBuf,
    /// Open once the first row fixes the header.
    file: Option<Box<dyn Write>>,
    /// Rows kept from a resumed run's log, written under the header.
    kept: Vec<String>,
    /// The kept rows' header, which the resumed run must repeat.
    kept_header: Option<String>,
}

impl EpochTable {
    /// A log at `path` (`-`: standard output). With `resume_after = Some(k)`, the rows of
    /// epochs `1..=k` already in `path` (if it exists) are kept; otherwise the file starts
    /// afresh (created empty here, so that a path that cannot be written fails before training;
    /// the header and rows come with the first epoch).
    pub fn new(path: &Path, resume_after: Option<usize>) -> Result<Self> {
        let mut table = EpochTable {
            path: path.to_path_buf(),
            file: None,
            kept: vec![],
            kept_header: None,
        };
        if crate::io::input::is_dash(path) {
            return Ok(table);
        }
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
            File::create(path).map_err(|e| Error::io(path, e))?;
        }
        Ok(table)
    }

    /// Appends one epoch's row (writing the header first) and flushes it.
    pub fn write<V: Validation>(&mut self, epoch: &Epoch<V>, tasks: &[String]) -> Result<()> {
        let path = &self.path;
        if self.file.is_none() {
            let header = Epoch::<V>::columns(tasks).join("\t");
            if let Some(old) = &self.kept_header
                && *old != header
            {
                return Err(Error::Config(format!(
                    "{}: the log being resumed has other columns ({old}); give a new --log file",
                    path.display()
                )));
            }
            let mut f: Box<dyn Write> = if crate::io::input::is_dash(path) {
                Box::new(std::io::stdout())
            } else {
                Box::new(File::create(path).map_err(|e| Error::io(path, e))?)
            };
            writeln!(f, "{header}").map_err(|e| Error::io(path, e))?;
            for line in self.kept.drain(..) {
                writeln!(f, "{line}").map_err(|e| Error::io(path, e))?;
            }
            self.file = Some(f);
        }
        let f = self.file.as_mut().expect("opened above");
        writeln!(f, "{}", epoch.values(tasks).join("\t")).map_err(|e| Error::io(path, e))?;
        f.flush().map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One AUROC per task, all equal.
    struct Auroc(f64);

    impl Validation for Auroc {
        fn loss(&self) -> f64 {
            1.0 / 3.0
        }
        fn headline(&self) -> String {
            String::new()
        }
        fn metric_names(tasks: &[String]) -> Vec<String> {
            tasks.iter().map(|t| format!("auroc.{t}")).collect()
        }
        fn metric_values(&self, n_tasks: usize) -> Vec<Option<f64>> {
            vec![Some(self.0); n_tasks]
        }
    }

    fn logged(epoch: usize, auroc: f64) -> Epoch<Auroc> {
        Epoch {
            epoch,
            epochs: 9,
            lr: 0.5,
            train_loss: 0.25,
            valid: (epoch != 2).then_some(Auroc(auroc)),
            seconds: 1.5,
            improved: epoch % 2 == 1,
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
            t.write(&logged(e, e as f64 / 10.0), &tasks).unwrap();
            // flushed: readable while the run goes on
            assert_eq!(read(&p).lines().count(), e + 1);
        }
        let head = "epoch\tlr\ttrain_loss\tvalid_loss\tauroc.A\tseconds\tbest\n";
        let row = |e: usize, a: &str| match e {
            2 => "2\t0.5\t0.25\tNA\tNA\t1.5\t0\n".to_string(), // not validated
            _ => format!("{e}\t0.5\t0.25\t0.3333333333333333\t{a}\t1.5\t{}\n", e % 2),
        };
        assert_eq!(
            read(&p),
            [
                head.to_string(),
                row(1, "0.1"),
                row(2, "0.2"),
                row(3, "0.3")
            ]
            .concat()
        );
        // a run resumed after epoch 2 drops epoch 3's row and writes its own
        let mut t = EpochTable::new(&p, Some(2)).unwrap();
        t.write(&logged(3, 0.35), &tasks).unwrap();
        let resumed = [
            head.to_string(),
            row(1, "0.1"),
            row(2, "0.2"),
            row(3, "0.35"),
        ]
        .concat();
        assert_eq!(read(&p), resumed);
        // resuming into a log of other tasks is refused before anything is overwritten
        let mut t = EpochTable::new(&p, Some(3)).unwrap();
        let err = t.write(&logged(4, 0.4), &["B".to_string()]).unwrap_err();
        assert!(err.to_string().contains("other columns"), "{err}");
        assert_eq!(read(&p), resumed);
        // a resume without an earlier log starts one; a missing directory fails at once
        let q = dir.path().join("new.tsv");
        EpochTable::new(&q, Some(5))
            .unwrap()
            .write(&logged(6, 0.6), &tasks)
            .unwrap();
        assert_eq!(read(&q), [head.to_string(), row(6, "0.6")].concat());
        let bad = dir.path().join("no/such/dir/log.tsv");
        assert!(EpochTable::new(&bad, None).is_err());
        // a file that is not a log is not taken for one
        std::fs::write(&q, "epoch\nfoo\n").unwrap();
        let Err(err) = EpochTable::new(&q, Some(1)) else {
            panic!("a file that is not a log was taken for one")
        };
        assert!(err.to_string().contains(":2:"), "{err}");
    }
}
