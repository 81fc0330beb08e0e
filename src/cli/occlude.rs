//! `seqcnn occlude`: an occlusion map (Zeiler & Fergus 2014) of one image: a grey square slid
//! over it, the drop in the true class's probability at every position drawn as a heatmap over
//! the image (PNG or SVG).

use super::images::ImageArgs;
use anyhow::Result;
use seqcnn::model::Model;
use seqcnn::vision::dataset::{ImageSet, ImageSource};
use seqcnn::vision::occlusion::{OcclusionConfig, occlusion_map};
use std::path::PathBuf;

/// Occlusion map of an image: slide a grey square over it and plot, at every pixel, how much
/// covering it lowers the probability of the true class (red) or raises it (blue).
///
/// The class followed is the image's label (--labels, or the CSV label column), else --class,
/// else the predicted class. Each pixel's value is the mean drop over the square positions that
/// cover it. The output format follows the file name: `.png` (raster) or `.svg`; --tsv also
/// writes the drop at every square position.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn occlude --model lenet5.safetensors t10k-images-idx3-ubyte.gz --labels t10k-labels-idx1-ubyte.gz \\\n      \
    --index 7 --out digit7.png\n  \
    seqcnn occlude --model digits.safetensors digits.csv --image-shape 1,8,8 --label-column last \\\n      \
    --patch 2 --out map.svg --tsv map.tsv")]
pub struct Args {
    /// The model file (an image classifier).
    #[arg(long)]
    model: PathBuf,
    /// Images: IDX (MNIST) or CSV with --image-shape.
    input: PathBuf,
    /// IDX labels of the images.
    #[arg(long, value_name = "LABELS")]
    labels: Option<PathBuf>,
    #[command(flatten)]
    image: ImageArgs,
    /// Which image, 1-based (the row number among the images for CSV).
    #[arg(long, default_value_t = 1)]
    index: usize,
    /// Follow this class instead of the label.
    #[arg(long)]
    class: Option<usize>,
    /// Side of the grey square in pixels [default: a quarter of the smaller side, at least 1].
    #[arg(long)]
    patch: Option<usize>,
    /// Step between square positions, in pixels.
    #[arg(long, default_value_t = 1)]
    stride: usize,
    /// Raw pixel value of the square [default: mid-grey, half the model's pixel scale].
    #[arg(long)]
    fill: Option<f32>,
    /// Size of an image pixel in the picture, 1 to 64 [default: the picture is about 280 pixels
    /// wide].
    #[arg(long, value_parser = pixel_scale)]
    scale: Option<usize>,
    /// Output picture: `.png` or `.svg`.
    #[arg(long)]
    out: PathBuf,
    /// Also write the drop at every square position as TSV (`row col drop`, top-left corners).
    #[arg(long)]
    tsv: Option<PathBuf>,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || occlude(&args))
}

fn occlude(args: &Args) -> Result<()> {
    let ext = args
        .out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let svg = match ext.as_deref() {
        Some("svg") => true,
        Some("png") => false,
        _ => {
            return Err(seqcnn::Error::Config(format!(
                "--out {}: the picture is written as .png or .svg",
                args.out.display()
            ))
            .into());
        }
    };
    super::check_output_dir(&args.out)?;
    let model = Model::load(&args.model)?;
    let set = ImageSet::load(
        &ImageSource {
            path: args.input.clone(),
            labels: args.labels.clone(),
            csv_shape: args.image.image_shape,
            label_column: args.image.label_column,
        },
        false,
    )?;
    set.check_fits(&model.arch)?;
    if args.index == 0 {
        return Err(seqcnn::Error::Config("--index counts from 1".into()).into());
    }
    let [_, h, w] = set.shape();
    let cfg = OcclusionConfig {
        patch: args.patch.unwrap_or((h.min(w) / 4).max(1)),
        stride: args.stride,
        fill: args.fill,
    };
    let map = occlusion_map(&model, &set, args.index - 1, args.class, &cfg)?;
    let scale = args.scale.unwrap_or((280 / h.max(w)).max(1));
    let name = |c: usize| model.meta.tasks[c].clone();
    let title = format!(
        "image {} of {}: class {} p={:.3} (predicted {}), {}x{} square",
        args.index,
        args.input.file_name().map_or_else(
            || args.input.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        ),
        name(map.class),
        map.prob,
        name(map.predicted),
        cfg.patch,
        cfg.patch
    );
    if svg {
        let mut out = seqcnn::io::output::AtomicOutput::create(&args.out)?;
        std::io::Write::write_all(&mut out, map.svg(scale, &title).as_bytes())
            .map_err(|e| out.error(e))?;
        out.commit()?;
    } else {
        let (wd, ht, rgb) = map.raster(scale);
        seqcnn::vision::png::write_rgb(&args.out, wd as u32, ht as u32, &rgb)?;
    }
    if let Some(path) = &args.tsv {
        let mut out = seqcnn::io::output::AtomicOutput::create(path)?;
        let mut text = String::from("row\tcol\tdrop\n");
        for ((i, j), d) in map.drops.indexed_iter() {
            text += &format!("{}\t{}\t{d}\n", map.rows[i], map.cols[j]);
        }
        std::io::Write::write_all(&mut out, text.as_bytes()).map_err(|e| out.error(e))?;
        out.commit()?;
    }
    let (r, q, d) = map.worst();
    eprintln!(
        "seqcnn: {title}; largest drop in p over the squares {d:.3} (the square at rows {}-{}, \
         columns {}-{}, 1-based); colour scale to ±{:.3}, the largest per-pixel mean drop; wrote {}",
        r + 1,
        r + cfg.patch,
        q + 1,
        q + cfg.patch,
        map.scale_end(),
        args.out.display()
    );
    Ok(())
}

/// `--scale`: picture pixels per image pixel, 1 to 64.
fn pixel_scale(text: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(v) if (1..=64).contains(&v) => Ok(v),
        _ => Err(format!("'{text}' is not a whole number from 1 to 64")),
    }
}
