//! `seqcnn train --train TABLE`: a model fitted to labelled sequences (DeepBind tables, FASTA +
//! labels), with DeepBind's shuffled negatives for positive-only sets, a seeded validation split
//! and optionally DeepBind's calibration (a cross-validated search of settings) first.

use super::fitting::{Session, fit_reported};
use anyhow::Result;
use seqcnn::arch::Arch;
use seqcnn::data::Dataset;
use seqcnn::model::Model;
use seqcnn::rng;
use seqcnn::train::calibrate::{Search, Trial, calibrate};
use seqcnn::train::fit::FitConfig;
use std::path::PathBuf;

/// What table training reads and how it splits, resolved from the command line.
pub(super) struct TablePlan {
    /// The training table or FASTA.
    pub train: PathBuf,
    /// Label columns (`--labels`); empty: the table's `Bound`.
    pub labels: Vec<String>,
    /// The model's task names (`--tasks`), one per label column; empty: the columns' names.
    pub tasks: Vec<String>,
    /// Shuffled negatives per positive; `None`: one for positive-only sets, else none.
    pub negatives: Option<usize>,
    /// A validation set; `None`: a seeded `valid_fraction` of the training data.
    pub valid: Option<PathBuf>,
    pub valid_fraction: f64,
    /// Calibration: settings tried (0: none), epochs per trial, cross-validation folds.
    pub calibrate: usize,
    pub calibrate_epochs: usize,
    pub folds: usize,
}

/// Trains on the table of `plan` and writes the model; `cfg` gives the fit settings.
pub(super) fn run(
    s: &Session,
    plan: &TablePlan,
    arch: Arch,
    cfg: impl FnOnce() -> Result<FitConfig>,
) -> Result<()> {
    let labels = (!plan.labels.is_empty()).then_some(plan.labels.as_slice());
    let mut rng = rng::seeded(s.seed);
    let mut data = Dataset::load(&plan.train, labels)?;
    if data.tasks.is_empty() {
        return Err(seqcnn::Error::parse(
            &plan.train,
            0,
            "no label column: training needs labels (a table with a Bound column, or --labels)",
        )
        .into());
    }
    if !plan.tasks.is_empty() && plan.tasks.len() != data.tasks.len() {
        return Err(seqcnn::Error::Config(format!(
            "--tasks names {} tasks ({}) but the data has {} label columns ({})",
            plan.tasks.len(),
            plan.tasks.join(","),
            data.tasks.len(),
            data.tasks.join(",")
        ))
        .into());
    }
    let negatives = plan
        .negatives
        .unwrap_or(if data.positives_only() { 1 } else { 0 });
    let fingerprint = data.fingerprint();
    data.add_shuffled_negatives(negatives, &mut rng);
    let (train, valid) = match &plan.valid {
        Some(p) => (data, Dataset::load(p, labels)?),
        None => data.split(plan.valid_fraction, &mut rng),
    };
    super::fitting::check_split(train.len(), valid.len(), plan.valid_fraction)?;
    let cfg = cfg()?;
    let dropout = arch
        .layers
        .iter()
        .find_map(|l| match l {
            seqcnn::arch::LayerSpec::Dropout { p } => Some(*p),
            _ => None,
        })
        .unwrap_or(0.0);
    let mut chosen = Trial::from_config(&cfg, dropout, s.init_scale);
    let mut calibration = None;
    if plan.calibrate > 0 {
        let mut ccfg = cfg.clone();
        ccfg.epochs = plan.calibrate_epochs.min(s.epochs).max(1);
        eprintln!(
            "seqcnn: calibrating {} settings by {}-fold cross-validation ({} epochs max each)",
            plan.calibrate, plan.folds, ccfg.epochs
        );
        let search = Search {
            first: chosen.clone(),
            trials: plan.calibrate,
            folds: plan.folds,
        };
        let results = calibrate(&arch, &train, &ccfg, search, &mut rng, &mut |i, r| {
            eprintln!(
                "trial {}/{}  {}  cv_score {:.4}",
                i + 1,
                plan.calibrate,
                r.trial,
                r.score
            );
        })?;
        chosen = results[0].trial.clone();
        eprintln!("seqcnn: best setting: {chosen}");
        calibration = Some(results);
    }
    let arch = chosen.arch(&arch)?;
    let cfg = chosen.apply(&cfg);
    let names = if plan.tasks.is_empty() {
        train.tasks.clone()
    } else {
        plan.tasks.clone()
    };
    let mut model = Model::new(arch, names, &mut rng, chosen.init_scale)?;
    eprintln!(
        "seqcnn: training {} on {} sequences ({} negatives per positive), validating on {}",
        model.arch.name,
        train.len(),
        negatives,
        valid.len()
    );
    let started = std::time::Instant::now();
    let report = fit_reported(s, &mut model, &train, &valid, &cfg, &mut rng)?;
    let secs = started.elapsed().as_secs_f64();
    s.stamp(&mut model, report.epochs_run, report.best_epoch, &cfg)?;
    let p = &mut model.meta.provenance;
    p.insert("train_file".into(), plan.train.display().to_string().into());
    p.insert("train_data".into(), fingerprint.into());
    p.insert("negatives_per_positive".into(), negatives.into());
    p.insert("init_scale".into(), chosen.init_scale.into());
    if let Some(results) = &calibration {
        p.insert("calibration".into(), serde_json::to_value(results)?);
    }
    if let Some(best) = &report.best {
        p.insert("valid_loss".into(), best.loss.into());
        if let Some(a) = best.mean_auroc() {
            p.insert("valid_auroc".into(), a.into());
        }
    }
    s.save(&model, &report, secs)
}
