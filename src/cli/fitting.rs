//! What every `seqcnn train` mode shares once the command line is resolved: the [`Session`]
//! (output, seed, epochs, checkpointing, the epoch log), epoch reporting ([`Progress`]), fitting
//! with checkpoints, and the provenance and closing line every trained model gets.

use anyhow::{Context, Result};
use seqcnn::data::Examples;
use seqcnn::model::Model;
use seqcnn::rng;
use seqcnn::train::fit::{self, FitConfig};
use seqcnn::train::log::{Epoch, EpochTable, Validation};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// The settings of a training run that every mode uses, resolved from the command line.
pub(super) struct Session {
    /// The model file written at the end.
    pub out: PathBuf,
    pub seed: u64,
    pub init_scale: f32,
    pub epochs: usize,
    /// `--log`: the epoch table.
    pub log: Option<PathBuf>,
    /// `--checkpoint` and `--resume`.
    pub checkpoint: Option<PathBuf>,
    pub resume: bool,
}

impl Session {
    /// The provenance every trained model records: the tool, the seed, the epochs run and the
    /// best one, and the optimiser.
    pub(super) fn stamp(
        &self,
        model: &mut Model,
        epochs_run: usize,
        best_epoch: usize,
        cfg: &FitConfig,
    ) -> Result<()> {
        let p = &mut model.meta.provenance;
        p.insert(
            "tool".into(),
            format!("seqcnn {}", env!("CARGO_PKG_VERSION")).into(),
        );
        p.insert("seed".into(), self.seed.into());
        p.insert("epochs_run".into(), epochs_run.into());
        p.insert("best_epoch".into(), best_epoch.into());
        p.insert("optimizer".into(), serde_json::to_value(&cfg.optimizer)?);
        Ok(())
    }

    /// Writes the trained sequence model and its closing line: the best epoch, the output and
    /// the seconds the run took.
    pub(super) fn save(&self, model: &Model, report: &fit::FitReport, secs: f64) -> Result<()> {
        model.save(&self.out)?;
        eprintln!(
            "seqcnn: best epoch {} of {}; wrote {} ({secs:.1}s)",
            report.best_epoch,
            report.epochs_run,
            self.out.display(),
        );
        Ok(())
    }
}

/// An error unless the training and validation sets both hold examples.
pub(super) fn check_split(train: usize, valid: usize, valid_fraction: f64) -> Result<()> {
    if train == 0 || valid == 0 {
        return Err(seqcnn::Error::Config(format!(
            "training and validation sets must both be non-empty (--valid-fraction {valid_fraction})"
        ))
        .into());
    }
    Ok(())
}

/// Checkpoint settings from the command line (loading the checkpoint for --resume).
fn checkpointing(s: &Session) -> Result<fit::Checkpointing> {
    let resume = match (&s.checkpoint, s.resume) {
        (Some(p), true) => Some(seqcnn::train::checkpoint::Checkpoint::load(p)?),
        _ => None,
    };
    if let Some(c) = &resume {
        eprintln!("seqcnn: resuming after epoch {}", c.epoch);
    }
    Ok(fit::Checkpointing {
        path: s.checkpoint.clone(),
        resume,
    })
}

/// Trains `model` with the command line's checkpointing (`--checkpoint`, `--resume`) and
/// reporting (epoch lines, `--log`).
pub(super) fn fit_reported(
    s: &Session,
    model: &mut Model,
    train: &dyn Examples,
    valid: &dyn Examples,
    cfg: &FitConfig,
    rng: &mut rng::Rng,
) -> Result<fit::FitReport> {
    let ckpt = checkpointing(s)?;
    let mut progress = Progress::new(
        s.epochs,
        s.log.as_deref(),
        &model.meta.tasks,
        ckpt.resume.as_ref().map(|c| c.epoch),
    )?;
    let report =
        fit::fit_with_checkpoints(model, train, Some(valid), cfg, rng, &ckpt, &mut progress)?;
    progress.finish()?;
    Ok(report)
}

/// Epoch reporting: a bar on a terminal (moving with every batch: the epoch, and the examples
/// of the current epoch done), one log line per epoch otherwise (with each task's figures under
/// it for a few tasks), and the `--log` table.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    /// When the bar's batch count was last redrawn (batches can be thousands a second).
    drawn: std::time::Instant,
    table: Option<EpochTable>,
    tasks: Vec<String>,
    /// The first failure to write the table, reported when training ends.
    failed: Option<seqcnn::Error>,
}

impl Progress {
    /// Reporting for a run of `epochs` over `tasks` (class names for images), resumed after
    /// `resumed` epochs if given.
    pub(super) fn new(
        epochs: usize,
        log: Option<&Path>,
        tasks: &[String],
        resumed: Option<usize>,
    ) -> Result<Self> {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(epochs as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} epoch {pos}/{len} {msg} [{elapsed}]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_position(resumed.unwrap_or(0) as u64);
            b
        });
        let table = log
            .map(|p| EpochTable::new(p, resumed).with_context(|| "--log".to_string()))
            .transpose()?;
        Ok(Progress {
            bar,
            drawn: std::time::Instant::now(),
            table,
            tasks: tasks.to_vec(),
            failed: None,
        })
    }

    /// `done` of the epoch's `total` training examples are through: the bar's message, redrawn
    /// at most ten times a second.
    fn batch(&mut self, done: usize, total: usize) {
        if let Some(b) = &self.bar
            && (done == total || self.drawn.elapsed().as_millis() >= 100)
        {
            self.drawn = std::time::Instant::now();
            b.set_message(format!("{done}/{total} examples"));
        }
    }

    /// Reports one epoch: its line, `detail` under it, and its row in the table.
    pub(super) fn report_epoch<V: Validation>(&mut self, log: &Epoch<V>, detail: Option<String>) {
        let mut text = log.to_string();
        if let Some(d) = detail {
            text = format!("{text}\n{d}");
        }
        match &self.bar {
            Some(b) => {
                b.println(text);
                b.inc(1);
            }
            None => eprintln!("{text}"),
        }
        if let Some(t) = &mut self.table
            && self.failed.is_none()
            && let Err(e) = t.write(log, &self.tasks)
        {
            let closed = matches!(&e, seqcnn::Error::Io { source, .. }
                if source.kind() == std::io::ErrorKind::BrokenPipe);
            if closed {
                // `--log - | head`: the table ends there, the training and the model do not.
                self.table = None;
            } else {
                self.failed = Some(e);
            }
        }
    }

    /// Clears the bar; an error if the table could not be written.
    pub(super) fn finish(self) -> Result<()> {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        match self.failed {
            Some(e) => Err(anyhow::Error::new(e).context("--log")),
            None => Ok(()),
        }
    }
}

/// Sequence training: each epoch's line with its per-task figures.
impl fit::Observer<seqcnn::train::fit::Evaluation> for Progress {
    fn batch(&mut self, done: usize, total: usize) {
        Progress::batch(self, done, total);
    }

    fn epoch(&mut self, log: &fit::EpochLog) {
        let detail = log.per_task(&self.tasks);
        self.report_epoch(log, detail);
    }
}

/// Image training: each epoch's line.
impl fit::Observer<seqcnn::vision::classify::ClassEval> for Progress {
    fn batch(&mut self, done: usize, total: usize) {
        Progress::batch(self, done, total);
    }

    fn epoch(&mut self, log: &Epoch<seqcnn::vision::classify::ClassEval>) {
        self.report_epoch(log, None);
    }
}
