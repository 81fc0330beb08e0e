//! `seqcnn train --train TABLE`: a model fitted to labelled sequences (DeepBind tables, FASTA +
//! labels), with DeepBind's shuffled negatives for positive-only sets, a seeded validation split
//! and optionally DeepBind's calibration (a cross-validated search of settings) first.

use super::fitting::{Session, fit_reported};
use anyhow::Result;
use seqcnn::arch::Arch;
use seqcnn::data::Dataset;
use seqcnn::io::output::AtomicOutput;
use seqcnn::model::Model;
use seqcnn::rng;
use seqcnn::train::calibrate::{Run, Search, Trial, TrialResult, calibrate};
use seqcnn::train::fit::FitConfig;
use std::io::Write;
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
    /// One setting only, 1-based (a job of a split calibration): its result is the output.
    pub calibrate_trial: Option<usize>,
    /// The jobs' results, for the gathering run.
    pub calibrate_results: Vec<PathBuf>,
}

/// One job's result of a split calibration, as written by `--calibrate-trial`: which setting of
/// which search, on which data, and its score.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TrialFile {
    /// Always `seqcnn calibration trial`.
    format: String,
    /// 1-based setting number and the search's size and folds.
    trial: usize,
    trials: usize,
    folds: usize,
    seed: u64,
    /// The training data's fingerprint (as models record it).
    data: String,
    result: TrialResult,
}

const TRIAL_FORMAT: &str = "seqcnn calibration trial";

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
        let given = read_trial_files(&plan.calibrate_results, plan, s.seed, &fingerprint)?;
        let run = match (plan.calibrate_trial, &given) {
            (Some(k), _) => Run::One(k.max(1) - 1),
            (None, Some(g)) => Run::Given(g),
            (None, None) => Run::All,
        };
        if plan.calibrate_trial == Some(0) {
            return Err(seqcnn::Error::Config(format!(
                "--calibrate-trial counts from 1 to {}",
                plan.calibrate
            ))
            .into());
        }
        let results = calibrate(&arch, &train, &ccfg, search, run, &mut rng, &mut |i, r| {
            eprintln!(
                "trial {}/{}  {}  cv_score {:.4}",
                i + 1,
                plan.calibrate,
                r.trial,
                r.score
            );
        })?;
        if let Some(k) = plan.calibrate_trial {
            let file = TrialFile {
                format: TRIAL_FORMAT.into(),
                trial: k,
                trials: plan.calibrate,
                folds: plan.folds,
                seed: s.seed,
                data: fingerprint.clone(),
                result: results[0].clone(),
            };
            let mut out = AtomicOutput::create(&s.out)?;
            writeln!(out, "{}", serde_json::to_string_pretty(&file)?).map_err(|e| out.error(e))?;
            out.commit()?;
            eprintln!(
                "seqcnn: calibration trial {k} of {}: cv_score {:.4}; wrote {}",
                plan.calibrate,
                results[0].score,
                s.out.display()
            );
            return Ok(());
        }
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

/// The `--calibrate-trial` results of a split calibration, in setting order; `None` when none
/// are given. Each must come from this search (size, folds, seed, data), and every setting must
/// be there once.
fn read_trial_files(
    paths: &[PathBuf],
    plan: &TablePlan,
    seed: u64,
    data: &str,
) -> Result<Option<Vec<TrialResult>>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut by_trial: Vec<Option<TrialResult>> = vec![None; plan.calibrate];
    for p in paths {
        let text = String::from_utf8(seqcnn::io::input::read_file(p)?)
            .map_err(|_| seqcnn::Error::parse(p, 0, "not UTF-8 text"))?;
        let f: TrialFile = serde_json::from_str(&text).map_err(|e| {
            seqcnn::Error::parse(
                p,
                e.line() as u64,
                format!("not a --calibrate-trial result: {e}"),
            )
        })?;
        let mismatch = |what: &str, theirs: String, ours: String| {
            seqcnn::Error::parse(
                p,
                0,
                format!(
                    "made with {what} {theirs}, this run has {ours}: every job of a split calibration needs the same settings"
                ),
            )
        };
        if f.format != TRIAL_FORMAT {
            return Err(seqcnn::Error::parse(p, 0, "not a --calibrate-trial result").into());
        }
        if f.trials != plan.calibrate {
            return Err(mismatch(
                "--calibrate",
                f.trials.to_string(),
                plan.calibrate.to_string(),
            )
            .into());
        }
        if f.folds != plan.folds {
            return Err(mismatch("--folds", f.folds.to_string(), plan.folds.to_string()).into());
        }
        if f.seed != seed {
            return Err(mismatch("--seed", f.seed.to_string(), seed.to_string()).into());
        }
        if f.data != data {
            return Err(mismatch("training data", f.data, data.to_string()).into());
        }
        let slot = f
            .trial
            .checked_sub(1)
            .and_then(|i| by_trial.get_mut(i))
            .ok_or_else(|| {
                seqcnn::Error::parse(p, 0, format!("trial {} of {}", f.trial, plan.calibrate))
            })?;
        if slot.is_some() {
            return Err(
                seqcnn::Error::parse(p, 0, format!("trial {} is given twice", f.trial)).into(),
            );
        }
        *slot = Some(f.result);
    }
    let missing: Vec<String> = by_trial
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_none())
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    if !missing.is_empty() {
        return Err(seqcnn::Error::Config(format!(
            "--calibrate-results lacks trial {} of {}: run `train --calibrate {} --calibrate-trial K` for each",
            missing.join(", "),
            plan.calibrate,
            plan.calibrate
        ))
        .into());
    }
    Ok(Some(by_trial.into_iter().flatten().collect()))
}
