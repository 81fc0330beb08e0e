//! Image classification through `train`, `eval` and `predict`: the image options those commands
//! share, and what each does with IDX (MNIST) or CSV images. The commands send their input here
//! when it is an IDX file or when `--image-shape` is given.

use super::fitting::{Progress, Session};
use anyhow::Result;
use seqcnn::arch::Arch;
use seqcnn::io::output::AtomicOutput;
use seqcnn::model::Model;
use seqcnn::rng;
use seqcnn::train::fit::FitConfig;
use seqcnn::train::schedule::{PlateauConfig, Schedule};
use seqcnn::vision::classify::{ClassEval, evaluate, predict_logits};
use seqcnn::vision::dataset::{ImageSet, ImageSource, Preprocess};
use seqcnn::vision::raw::LabelColumn;
use seqcnn::vision::train::{Augment, fit_images};
use std::io::Write;
use std::path::{Path, PathBuf};

fn shape_arg(text: &str) -> std::result::Result<[usize; 3], String> {
    seqcnn::vision::raw::parse_shape(text).map_err(|e| e.to_string())
}

/// Options of image inputs, shared by `train`, `eval` and `predict`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ImageArgs {
    /// Read the input as CSV images of this shape, C,H,W (e.g. 1,8,8): one image a row,
    /// `label,p1,...,pn` (see --label-column). IDX files (MNIST) need no shape.
    #[arg(long, value_name = "C,H,W", value_parser = shape_arg)]
    pub image_shape: Option<[usize; 3]>,
    /// CSV images: where each row's class label is.
    #[arg(long, value_enum, default_value_t = LabelColumn::First)]
    pub label_column: LabelColumn,
}

/// Image options of `train`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TrainImageArgs {
    /// IDX labels of the --train images (MNIST `train-labels-idx1-ubyte[.gz]`).
    #[arg(long, value_name = "LABELS")]
    pub train_labels: Option<PathBuf>,
    /// IDX labels of the --valid images.
    #[arg(long, value_name = "LABELS")]
    pub valid_labels: Option<PathBuf>,
    /// Images: divide pixel values by this (stored in the model; default: the architecture's,
    /// else 255).
    #[arg(long)]
    pub pixel_scale: Option<f32>,
    /// Images: standardise each channel by the training images' mean and standard deviation
    /// (after --pixel-scale); the statistics are stored in the model.
    #[arg(long)]
    pub standardize: bool,
    /// Images: shift each training image by up to this many pixels along each axis, at random
    /// every epoch (0: no augmentation) [default: the smaller side / 14, so 2 for 28x28 digits
    /// and 0 below 14x14].
    #[arg(long)]
    pub shift: Option<usize>,
    #[command(flatten)]
    pub image: ImageArgs,
}

/// Image options of `predict`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct PredictImageArgs {
    /// IDX labels of the input images: adds a `label` column.
    #[arg(long, value_name = "LABELS")]
    pub labels: Option<PathBuf>,
    #[command(flatten)]
    pub image: ImageArgs,
}

/// Whether `input` is to be read as images: an IDX file, or anything with `--image-shape`.
pub fn is_images(input: &Path, image: &ImageArgs) -> Result<bool> {
    Ok(seqcnn::vision::dataset::is_image_input(
        input,
        image.image_shape,
    )?)
}

fn source(path: &Path, labels: Option<&Path>, image: &ImageArgs) -> ImageSource {
    ImageSource {
        path: path.to_path_buf(),
        labels: labels.map(Path::to_path_buf),
        csv_shape: image.image_shape,
        label_column: image.label_column,
    }
}

/// Class names of a model trained on `n` classes: `0`, `1`, ...
fn class_names(n: usize) -> Vec<String> {
    (0..n).map(|c| c.to_string()).collect()
}

/// What image training reads and how it splits, resolved from the command line.
pub(super) struct ImagePlan<'a> {
    /// The training images (IDX or CSV) and an optional validation set.
    pub train: PathBuf,
    pub valid: Option<PathBuf>,
    /// Without `valid`, the seeded share of the training images held out.
    pub valid_fraction: f64,
    /// Labels, shapes and scaling of the images.
    pub image: &'a TrainImageArgs,
    /// No `--schedule` given: images take the plateau schedule.
    pub default_schedule: bool,
}

/// `seqcnn train` on images; `cfg` gives the fit settings.
pub(super) fn train(
    s: &Session,
    plan: &ImagePlan,
    mut arch: Arch,
    cfg: impl FnOnce() -> Result<FitConfig>,
) -> Result<()> {
    let img = plan.image;
    let train_path = plan.train.as_path();
    if !arch.input.is_image() {
        return Err(seqcnn::Error::Config(format!(
            "architecture '{}' takes sequences; for images use an image architecture (lenet5, resnet_small, smallcnn) or a file with input = {{ channels, height, width }}",
            arch.name
        ))
        .into());
    }
    let started = std::time::Instant::now();
    let mut rng = rng::seeded(s.seed);
    let src = source(train_path, img.train_labels.as_deref(), &img.image);
    let data = ImageSet::load(&src, true)?;
    data.check_fits(&arch).map_err(|e| {
        anyhow::anyhow!(
            "{e}; for other image sizes use --set input.channels=C --set input.height=H --set input.width=W"
        )
    })?;
    let fingerprint = data.fingerprint();
    let (train, valid) = match &plan.valid {
        Some(p) => {
            let v = ImageSet::load(&source(p, img.valid_labels.as_deref(), &img.image), true)?;
            v.check_fits(&arch)?;
            (data, v)
        }
        None => data.split(plan.valid_fraction, &mut rng),
    };
    super::fitting::check_split(train.len(), valid.len(), plan.valid_fraction)?;
    if let Some(s) = img.pixel_scale {
        arch.input.pixel_scale = Some(s);
    }
    if img.standardize {
        let scale = Preprocess::from_input(&arch.input).scale;
        let (mean, std) = train.channel_stats(scale);
        arch.input.mean = Some(mean);
        arch.input.std = Some(std);
    }
    // Re-validate: the scaling settings came from the command line.
    let arch = Arch::from_json(&arch.to_json())?;
    let classes = train.n_classes().max(valid.n_classes());
    let mut cfg = cfg()?;
    if plan.default_schedule {
        // Images: the learning rate drops to 0.3x after 3 epochs without progress on the
        // validation set. Constant Adam steps leave LeNet-5 bouncing around 98% on 8,000 MNIST
        // digits (97.95-98.85% over seeds); decaying them gives 98.45-98.75%.
        cfg.schedule = Schedule::ReduceOnPlateau(PlateauConfig {
            patience: 3,
            factor: 0.3,
            ..Default::default()
        });
    }
    let mut model = Model::new(arch, class_names(classes), &mut rng, s.init_scale)?;
    model.meta.alphabet = String::new();
    eprintln!(
        "seqcnn: training {} on {} images ({classes} classes), validating on {}",
        model.arch.name,
        train.len(),
        valid.len()
    );
    let mut progress = Progress::new(s.epochs, s.log.as_deref(), &model.meta.tasks, None)?;
    let [_, h, w] = train.shape();
    let aug = Augment {
        shift: img.shift.unwrap_or(h.min(w) / 14),
    };
    let report = fit_images(
        &mut model,
        &train,
        Some(&valid),
        &cfg,
        aug,
        &mut rng,
        &mut progress,
    )?;
    progress.finish()?;
    let secs = started.elapsed().as_secs_f64();
    s.stamp(&mut model, report.epochs_run, report.best_epoch, &cfg)?;
    let p = &mut model.meta.provenance;
    p.insert("train_file".into(), train_path.display().to_string().into());
    if let Some(l) = &img.train_labels {
        p.insert("train_labels".into(), l.display().to_string().into());
    }
    p.insert("train_data".into(), fingerprint.into());
    p.insert("shift".into(), aug.shift.into());
    if let Some(best) = &report.best {
        p.insert("valid_loss".into(), best.loss.into());
        p.insert("valid_accuracy".into(), best.accuracy.into());
    }
    model.save(&s.out)?;
    eprintln!(
        "seqcnn: best epoch {} of {} (valid accuracy {}); wrote {} ({secs:.1}s)",
        report.best_epoch,
        report.epochs_run,
        report
            .best
            .as_ref()
            .map_or("NA".into(), |b| format!("{:.4}", b.accuracy)),
        s.out.display(),
    );
    Ok(())
}

/// Loads the images of `input` for a trained model, checking they fit it.
fn load_for(model: &Model, src: &ImageSource, need_labels: bool) -> Result<ImageSet> {
    let set = ImageSet::load(src, need_labels)?;
    set.check_fits(&model.arch)?;
    Ok(set)
}

fn write_stdout(text: &str) -> Result<()> {
    // Written, not printed: `println!` panics on a closed pipe.
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| seqcnn::Error::io("<stdout>", e))?;
    Ok(())
}

/// The report of `seqcnn eval` on images: TSV sections, or one JSON object.
pub fn eval_report(e: &ClassEval, classes: &[String], json: bool) -> Result<String> {
    if json {
        let per_class: Vec<serde_json::Value> = classes
            .iter()
            .zip(&e.per_class)
            .zip(&e.confusion)
            .map(|((c, a), row)| {
                serde_json::json!({"class": c, "accuracy": a, "n": row.iter().sum::<u64>()})
            })
            .collect();
        let doc = serde_json::json!({
            "n": e.n,
            "loss": e.loss,
            "accuracy": e.accuracy,
            "per_class": per_class,
            "confusion": e.confusion,
        });
        return Ok(serde_json::to_string_pretty(&doc)? + "\n");
    }
    let fmt = |v: Option<f64>| v.map_or("NA".to_string(), |v| format!("{v:.6}"));
    let mut t = format!(
        "accuracy\t{:.6}\nloss\t{:.6}\nn\t{}\n\nclass\taccuracy\tn\n",
        e.accuracy, e.loss, e.n
    );
    for ((c, a), row) in classes.iter().zip(&e.per_class).zip(&e.confusion) {
        t += &format!("{c}\t{}\t{}\n", fmt(*a), row.iter().sum::<u64>());
    }
    t += "\nconfusion (rows: true class, columns: predicted)\ntrue";
    for c in classes {
        t += &format!("\t{c}");
    }
    t.push('\n');
    for (c, row) in classes.iter().zip(&e.confusion) {
        t += c;
        for v in row {
            t += &format!("\t{v}");
        }
        t.push('\n');
    }
    Ok(t)
}

/// `seqcnn eval` on images: `labels` is the IDX label file (`--labels`, which for sequence
/// tables names label columns; a comma in a path splits it, so it is joined back).
pub fn eval(
    model_path: &Path,
    input: &Path,
    labels: &[String],
    image: &ImageArgs,
    json: bool,
) -> Result<()> {
    let model = Model::load(model_path)?;
    let labels = (!labels.is_empty()).then(|| PathBuf::from(labels.join(",")));
    let set = load_for(&model, &source(input, labels.as_deref(), image), true)?;
    let e = evaluate(&model, &set)?;
    write_stdout(&eval_report(&e, &model.meta.tasks, json)?)
}

/// `seqcnn predict` on images: one row per image, its 1-based number (the line for CSV), the
/// label when known, the predicted class and every class's probability (or raw output).
pub fn predict(
    model_path: &Path,
    input: &Path,
    out: &Path,
    args: &PredictImageArgs,
    raw: bool,
) -> Result<()> {
    let model = Model::load(model_path)?;
    let set = load_for(
        &model,
        &source(input, args.labels.as_deref(), &args.image),
        false,
    )?;
    let logits = predict_logits(&model, &set)?;
    let scores = if raw {
        logits.clone()
    } else {
        seqcnn::score::to_output(seqcnn::arch::LossKind::CrossEntropy, logits.clone())
    };
    let mut w = AtomicOutput::create(out)?;
    let labels = set.raw.labels.as_ref();
    let mut header = String::from("image");
    if labels.is_some() {
        header += "\tlabel";
    }
    header += "\tclass";
    for c in &model.meta.tasks {
        header += &format!("\t{}{c}", if raw { "logit_" } else { "p_" });
    }
    writeln!(w, "{header}").map_err(|e| w.error(e))?;
    let mut text = String::new();
    for (i, row) in scores.rows().into_iter().enumerate() {
        text += &set.raw.lines[i].to_string();
        if let Some(l) = labels {
            text += &format!("\t{}", l[i]);
        }
        let best = seqcnn::metrics::argmax(&logits.row(i).to_vec()).unwrap_or(0);
        text += &format!("\t{}", model.meta.tasks[best]);
        for v in row {
            text += &format!("\t{v}");
        }
        text.push('\n');
        if text.len() > 1 << 16 {
            w.write_all(text.as_bytes()).map_err(|e| w.error(e))?;
            text.clear();
        }
    }
    w.write_all(text.as_bytes()).map_err(|e| w.error(e))?;
    w.commit()?;
    Ok(())
}
