//! LeNet-5 training throughput (samples per second of forward + backward + Adam step, batch 64,
//! 2 threads) against PyTorch measured in the same run by `benches/peers/lenet5_torch.py`: the same
//! network, optimiser, images, batch size, thread count and timing (warm-up steps untimed).
//!
//! ```sh
//! cargo bench --bench lenet5                      # seqcnn, then PyTorch from /work/torchenv
//! SEQCNN_TORCH_PYTHON=/path/to/python cargo bench --bench lenet5
//! SEQCNN_BENCH_STEPS=400 SEQCNN_BENCH_THREADS=1 cargo bench --bench lenet5
//! ```
//!
//! Images: `../shared/data/images/mnist/train-*` when present, else the 200 vendored digits in
//! `tests/data/images/`. Without a PyTorch interpreter the peer is skipped and only seqcnn's
//! figure is printed.

use seqcnn::arch::Arch;
use seqcnn::model::Model;
use seqcnn::rng;
use seqcnn::train::fit::{FitConfig, Monitor, optimizer_for, train_step};
use seqcnn::train::optim::{AdamConfig, OptimizerConfig};
use seqcnn::train::schedule::Schedule;
use seqcnn::vision::dataset::{ImageSet, ImageSource, Preprocess};
use seqcnn::vision::raw::LabelColumn;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const BATCH: usize = 64;

mod common;
use common::{env_usize, run_peer};

/// The MNIST training images and labels to time on.
fn data() -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/data/images/mnist");
    let (dir, stem) = if shared.join("train-images-idx3-ubyte.gz").exists() {
        (shared, "train")
    } else {
        (root.join("tests/data/images"), "mnist-train200")
    };
    (
        dir.join(format!("{stem}-images-idx3-ubyte.gz")),
        dir.join(format!("{stem}-labels-idx1-ubyte.gz")),
    )
}

/// seqcnn's samples per second.
fn seqcnn_rate(images: &Path, labels: &Path, threads: usize, warmup: usize, steps: usize) -> f64 {
    let set = ImageSet::load(
        &ImageSource {
            path: images.to_path_buf(),
            labels: Some(labels.to_path_buf()),
            csv_shape: None,
            label_column: LabelColumn::First,
        },
        true,
    )
    .expect("read MNIST");
    let arch = Arch::builtin("lenet5").expect("built in");
    let classes = (0..10).map(|c| c.to_string()).collect();
    let mut r = rng::seeded(1);
    let mut model = Model::new(arch, classes, &mut r, 1.0).expect("lenet5 builds");
    let cfg = FitConfig {
        epochs: 1,
        batch_size: BATCH,
        optimizer: OptimizerConfig::Adam(AdamConfig {
            lr: 1e-3,
            ..AdamConfig::default()
        }),
        schedule: Schedule::Constant,
        clip_norm: None,
        patience: None,
        monitor: Monitor::Loss,
        rc_augment: false,
        strand: Default::default(),
        pos_weight: None,
        jitter: 0,
        resample_negatives: None,
    };
    let pre = Preprocess::from_input(&model.arch.input);
    let batches: Vec<Vec<usize>> = (0..set.len() / BATCH)
        .map(|b| (b * BATCH..(b + 1) * BATCH).collect())
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        let mut opt = optimizer_for(&model, &cfg.optimizer).expect("adam");
        let mut step = |k: usize, model: &mut Model| {
            // Batches are made inside the timing, as PyTorch slices its tensor inside it.
            let (x, y) = set.batch(&batches[k % batches.len()], &pre);
            train_step(model, &mut opt, x, &y, &cfg, &mut r).expect("train step");
        };
        for k in 0..warmup {
            step(k, &mut model);
        }
        let start = Instant::now();
        for k in 0..steps {
            step(warmup + k, &mut model);
        }
        (steps * BATCH) as f64 / start.elapsed().as_secs_f64()
    })
}

/// PyTorch's samples per second, or why there is none.
fn torch_rate(
    images: &Path,
    labels: &Path,
    threads: usize,
    warmup: usize,
    steps: usize,
) -> Result<f64, String> {
    let python =
        std::env::var("SEQCNN_TORCH_PYTHON").unwrap_or_else(|_| "/work/torchenv/bin/python".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/lenet5_torch.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .args(["--images", &images.display().to_string()])
        .args(["--labels", &labels.display().to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--batch", &BATCH.to_string()])
        .args(["--warmup", &warmup.to_string()])
        .args(["--steps", &steps.to_string()]);
    let doc = run_peer(&python, &mut cmd)?;
    let text = doc.to_string();
    doc["samples_per_sec"]
        .as_f64()
        .ok_or_else(|| format!("peer output has no samples_per_sec: {text}"))
}

fn main() {
    // As `seqcnn` itself does (src/main.rs).
    seqcnn::alloc::tune();
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep that short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let threads = env_usize("SEQCNN_BENCH_THREADS", 2);
    let warmup = env_usize("SEQCNN_BENCH_WARMUP", if quick { 1 } else { 20 });
    let steps = env_usize("SEQCNN_BENCH_STEPS", if quick { 2 } else { 300 });
    let rounds = env_usize("SEQCNN_BENCH_ROUNDS", if quick { 1 } else { 3 });
    let (images, labels) = data();
    println!(
        "lenet5 training, batch {BATCH}, {threads} threads, {steps} timed steps after {warmup}, best of {rounds} rounds ({})",
        images.display()
    );
    let mut ours = 0.0f64;
    let mut theirs: Option<f64> = None;
    // Alternate the two so both see the same machine state; keep each one's best round.
    for round in 1..=rounds {
        let a = seqcnn_rate(&images, &labels, threads, warmup, steps);
        ours = ours.max(a);
        print!("round {round}: seqcnn {a:.0} samples/s");
        if quick {
            println!();
            continue;
        }
        match torch_rate(&images, &labels, threads, warmup, steps) {
            Ok(b) => {
                theirs = Some(theirs.map_or(b, |t| t.max(b)));
                println!(", pytorch {b:.0} samples/s");
            }
            Err(e) => {
                println!(", pytorch skipped: {e}");
                break;
            }
        }
    }
    match theirs {
        Some(t) => println!(
            "lenet5 train throughput: seqcnn {ours:.0} samples/s, pytorch {t:.0} samples/s, ratio {:.2}x",
            ours / t
        ),
        None => println!("lenet5 train throughput: seqcnn {ours:.0} samples/s"),
    }
}
