//! `seqcnn train --genome G --targets NAME=BED ...`: DeepSEA-style multi-task training on
//! windows of an indexed genome, labelled by overlap with one BED file per task.

use super::train::{Args, fit_config, fit_reported};
use anyhow::{Context, Result};
use seqcnn::arch::Arch;
use seqcnn::data::tiling::{Task, TileConfig, subtract};
use seqcnn::data::{Examples, GenomeWindows};
use seqcnn::interval::Interval;
use seqcnn::io::bed::read_bed_checked;
use seqcnn::io::genome::Genome;
use seqcnn::model::Model;
use seqcnn::rng;
use std::path::Path;

/// Parses `NAME=FILE` targets and reads each BED file against the genome.
pub fn tasks(targets: &[String], genome: &Genome) -> Result<Vec<Task>> {
    targets
        .iter()
        .map(|t| {
            let (name, path) = t
                .split_once('=')
                .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                .ok_or_else(|| {
                    seqcnn::Error::Config(format!("--targets '{t}': expected NAME=FILE.bed"))
                })?;
            let intervals = read_bed_checked(Path::new(path), genome)?;
            Ok(Task::new(name, &intervals))
        })
        .collect()
}

/// Parses region arguments against the genome.
pub fn regions(texts: &[String], genome: &Genome) -> Result<Vec<Interval>> {
    texts.iter().map(|t| Ok(genome.region(t)?)).collect()
}

pub fn run(args: &Args, arch: Arch, genome_path: &Path) -> Result<()> {
    let genome = Genome::open(genome_path)?;
    let tasks = tasks(&args.targets, &genome)?;
    if arch.input.length != Some(args.window as usize) {
        return Err(seqcnn::Error::Config(format!(
            "the architecture takes {} inputs but --window is {} bp: set input.length in the architecture (--set input.length={}) or --window",
            arch.input.length.map_or("any-length".into(), |l| format!("{l} bp")),
            args.window,
            args.window
        ))
        .into());
    }
    if args.valid_region.is_empty() {
        return Err(seqcnn::Error::Config("--genome needs --valid-region (e.g. a contig or chr:start-end held out for early stopping)".into()).into());
    }
    let valid_regions = regions(&args.valid_region, &genome)?;
    let test_regions = regions(&args.test_region, &genome)?;
    let whole: Vec<Interval> = genome
        .contigs()
        .iter()
        .map(|(c, len)| Interval {
            contig: c.clone(),
            start: 0,
            end: *len,
        })
        .collect();
    let held: Vec<Interval> = valid_regions.iter().chain(&test_regions).cloned().collect();
    let train_regions = subtract(&whole, &held);
    let valid_only = subtract(&valid_regions, &test_regions);
    let tile = TileConfig {
        bin: args.bin,
        window: args.window,
        threshold: args.threshold,
        max_n: args.max_n,
    };
    let mut rng = rng::seeded(args.seed);
    let started = std::time::Instant::now();
    let train = GenomeWindows::new(
        &genome,
        train_regions,
        &tasks,
        tile.clone(),
        if args.resample_negatives {
            1.0
        } else {
            args.keep_negatives
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
    let mut cfg = fit_config(args)?;
    if args.resample_negatives {
        cfg.resample_negatives = Some(args.keep_negatives);
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
    let mut model = Model::new(arch, names, &mut rng, args.init_scale)?;
    let sampled = if args.resample_negatives && args.keep_negatives < 1.0 {
        format!(
            ", all-negative ones drawn at {} every epoch",
            args.keep_negatives
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
    let report = fit_reported(args, &mut model, &train, &valid, &cfg, &mut rng)?;
    let p = &mut model.meta.provenance;
    p.insert(
        "tool".into(),
        format!("seqcnn {}", env!("CARGO_PKG_VERSION")).into(),
    );
    p.insert("genome".into(), genome_path.display().to_string().into());
    p.insert("targets".into(), args.targets.clone().into());
    p.insert("valid_regions".into(), args.valid_region.clone().into());
    p.insert("test_regions".into(), args.test_region.clone().into());
    p.insert("bin".into(), args.bin.into());
    p.insert("window".into(), args.window.into());
    p.insert("threshold".into(), args.threshold.into());
    p.insert("jitter".into(), args.jitter.into());
    p.insert("keep_negatives".into(), args.keep_negatives.into());
    p.insert("resample_negatives".into(), args.resample_negatives.into());
    p.insert("seed".into(), args.seed.into());
    p.insert("train_windows".into(), train.len().into());
    p.insert("epochs_run".into(), report.epochs_run.into());
    p.insert("best_epoch".into(), report.best_epoch.into());
    p.insert("optimizer".into(), serde_json::to_value(&cfg.optimizer)?);
    if let Some(best) = &report.best {
        p.insert("valid_loss".into(), best.loss.into());
        p.insert("valid_auroc".into(), serde_json::to_value(&best.auroc)?);
        p.insert("valid_auprc".into(), serde_json::to_value(&best.auprc)?);
    }
    model.save(&args.out)?;
    eprintln!(
        "seqcnn: best epoch {} of {}; wrote {} ({:.1}s)",
        report.best_epoch,
        report.epochs_run,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
