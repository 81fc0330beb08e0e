//! `seqcnn train --genome G --targets NAME=BED ...`: DeepSEA-style multi-task training on
//! windows of an indexed genome, labelled by overlap with one BED file per task.

use super::fitting::{Session, fit_reported};
use anyhow::{Context, Result};
use seqcnn::arch::Arch;
use seqcnn::data::tiling::{TileConfig, subtract};
use seqcnn::data::{Examples, GenomeWindows};
use seqcnn::interval::Interval;
use seqcnn::io::genome::Genome;
use seqcnn::model::Model;
use seqcnn::rng;
use seqcnn::train::fit::FitConfig;
use std::path::PathBuf;

/// What genome training reads, tiles and holds out, resolved from the command line.
pub(super) struct GenomePlan {
    pub genome: PathBuf,
    /// `NAME=FILE.bed`, one per task.
    pub targets: Vec<String>,
    /// Regions held out for validation and for testing.
    pub valid_region: Vec<String>,
    pub test_region: Vec<String>,
    /// Bins, windows and labelling.
    pub tile: TileConfig,
    /// The share of all-negative windows kept (drawn afresh every epoch with
    /// `resample_negatives`).
    pub keep_negatives: f64,
    pub resample_negatives: bool,
    /// Shift augmentation, bp.
    pub jitter: u64,
}

/// Trains on windows of the genome of `plan` and writes the model; `cfg` gives the fit settings.
pub(super) fn run(
    s: &Session,
    plan: &GenomePlan,
    arch: Arch,
    cfg: impl FnOnce() -> Result<FitConfig>,
) -> Result<()> {
    let genome = Genome::open(&plan.genome)?;
    let tasks = super::tasks(&plan.targets, &genome)?;
    let window = plan.tile.window;
    if arch.input.length != Some(window as usize) {
        return Err(seqcnn::Error::Config(format!(
            "the architecture takes {} inputs but --window is {} bp: set input.length in the architecture (--set input.length={}) or --window",
            arch.input.length.map_or("any-length".into(), |l| format!("{l} bp")),
            window, window
        ))
        .into());
    }
    if plan.valid_region.is_empty() {
        return Err(seqcnn::Error::Config("--genome needs --valid-region (e.g. a contig or chr:start-end held out for early stopping)".into()).into());
    }
    let valid_regions = super::regions(&plan.valid_region, &genome)?;
    let test_regions = super::regions(&plan.test_region, &genome)?;
    let whole = genome.whole();
    let held: Vec<Interval> = valid_regions.iter().chain(&test_regions).cloned().collect();
    let train_regions = subtract(&whole, &held);
    let valid_only = subtract(&valid_regions, &test_regions);
    let tile = plan.tile.clone();
    let mut rng = rng::seeded(s.seed);
    let started = std::time::Instant::now();
    let train = GenomeWindows::new(
        &genome,
        train_regions,
        &tasks,
        tile.clone(),
        if plan.resample_negatives {
            1.0
        } else {
            plan.keep_negatives
        },
        &mut rng,
    )
    .context("building the training windows")?;
    let valid = GenomeWindows::new(&genome, valid_only, &tasks, tile, 1.0, &mut rng)
        .context("building the validation windows")?;
    if train.is_empty() || valid.is_empty() {
        return Err(seqcnn::Error::Config(
            "no training or no validation windows: check the regions".into(),
        )
        .into());
    }
    let mut cfg = cfg()?;
    if plan.resample_negatives {
        cfg.resample_negatives = Some(plan.keep_negatives);
    }
    if cfg
        .pos_weight
        .as_ref()
        .is_some_and(|w| w.len() != tasks.len())
    {
        return Err(seqcnn::Error::Config(format!(
            "--pos-weight needs one value per task ({})",
            tasks.len()
        ))
        .into());
    }
    let names: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
    let mut model = Model::new(arch, names, &mut rng, s.init_scale)?;
    let sampled = if plan.resample_negatives && plan.keep_negatives < 1.0 {
        format!(
            ", all-negative ones drawn at {} every epoch",
            plan.keep_negatives
        )
    } else {
        String::new()
    };
    eprintln!(
        "seqcnn: training {} on {} windows{sampled} (positives per task {:?}), validating on {} windows ({:.1}s to tile)",
        model.arch.name,
        train.len(),
        train.positives(),
        valid.len(),
        started.elapsed().as_secs_f64()
    );
    let report = fit_reported(s, &mut model, &train, &valid, &cfg, &mut rng)?;
    s.stamp(&mut model, report.epochs_run, report.best_epoch, &cfg)?;
    let p = &mut model.meta.provenance;
    p.insert("genome".into(), plan.genome.display().to_string().into());
    p.insert("targets".into(), plan.targets.clone().into());
    p.insert("valid_regions".into(), plan.valid_region.clone().into());
    p.insert("test_regions".into(), plan.test_region.clone().into());
    p.insert("bin".into(), plan.tile.bin.into());
    p.insert("window".into(), window.into());
    p.insert("threshold".into(), plan.tile.threshold.into());
    p.insert("jitter".into(), plan.jitter.into());
    p.insert("keep_negatives".into(), plan.keep_negatives.into());
    p.insert("resample_negatives".into(), plan.resample_negatives.into());
    p.insert("train_windows".into(), train.len().into());
    if let Some(best) = &report.best {
        p.insert("valid_loss".into(), best.loss.into());
        p.insert("valid_auroc".into(), serde_json::to_value(&best.auroc)?);
        p.insert("valid_auprc".into(), serde_json::to_value(&best.auprc)?);
    }
    s.save(&model, &report, started.elapsed().as_secs_f64())
}
