//! Training-step and inference throughput of the built-in `deepbind`, `deepsea`, `dilated` and
//! `lenet5` networks at batch 64, in samples per second, plus the process's peak resident memory.
//! `benches/peers/models_torch.py` times the same networks in PyTorch and `benches/peers/run.sh`
//! runs both back to back and prints the ratio table.
//!
//! A training step is what `seqcnn train` runs per batch ([`train_step`]: forward with dropout
//! and batch statistics, loss, backward, Adam at lr 1e-3); inference is [`Model::predict_shared`]
//! (evaluation mode, no tape, the parameters shared by all batches), what `seqcnn predict` runs
//! per batch. Inputs are random one-hot sequences (images: uniform pixels) with random labels,
//! made before the timing; `deepsea` and `dilated` have 919 tasks (DeepSEA's), `deepbind` one,
//! `lenet5` ten classes. Input lengths are
//! the architectures' own: deepbind 101 (DeepBind's ChIP-seq length), deepsea and dilated 1000
//! (`src/arch/*.toml`), lenet5 1x28x28.
//!
//! ```sh
//! cargo bench --bench models                                   # every model, mode, 1 and 2 threads
//! cargo bench --bench models -- --model deepsea --mode train --threads 2 --json
//! cargo bench --bench models -- --model deepsea --mode train --steps 5 --json   # + peak RSS
//! ```
//!
//! Options: `--model NAME` (repeatable), `--mode train|infer`, `--threads N` (repeatable),
//! `--min-time SECS` (timed loop runs at least this long, default 3), `--steps N` (exactly N timed
//! steps), `--warmup N` (untimed steps first, default 2), `--batch N` (64), `--json` (one JSON line
//! per measurement). Timing: warm-up steps untimed, then timed steps until `--min-time` (at least
//! 3 steps); the figure is timed samples over timed seconds. Samples per CPU second (user +
//! system time of the process) are printed too: with one thread they show the speed other
//! processes on a shared machine took away. `rss_kb` is the process's `VmHWM`
//! (Linux), meaningful when the process measured one model and mode.

mod common;

use common::cpu_secs;
use seqcnn::arch::Arch;
use seqcnn::model::Model;
use seqcnn::rng::{self, Rng};
use seqcnn::tensor::Array;
use seqcnn::train::fit::{FitConfig, Monitor, optimizer_for, train_step};
use seqcnn::train::optim::{AdamConfig, OptimizerConfig};
use seqcnn::train::schedule::Schedule;
use std::time::Instant;

/// The networks timed, with their task (or class) count.
const MODELS: [(&str, usize); 4] = [
    ("deepbind", 1),
    ("deepsea", 919),
    ("dilated", 919),
    ("lenet5", 10),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Train,
    Infer,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Train => "train",
            Mode::Infer => "infer",
        }
    }
}

struct Opts {
    models: Vec<String>,
    modes: Vec<Mode>,
    threads: Vec<usize>,
    batch: usize,
    warmup: usize,
    steps: Option<usize>,
    min_time: f64,
    json: bool,
}

fn parse_args() -> Opts {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this without it: keep that
    // run tiny (one small model, one step each).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = !args.iter().any(|a| a == "--bench");
    let mut o = Opts {
        models: Vec::new(),
        modes: Vec::new(),
        threads: Vec::new(),
        batch: 64,
        warmup: 2,
        steps: None,
        min_time: 3.0,
        json: false,
    };
    let mut it = args.iter();
    let value = |it: &mut std::slice::Iter<String>, flag: &str| -> String {
        it.next()
            .unwrap_or_else(|| panic!("{flag} needs a value"))
            .clone()
    };
    let number = |v: String, flag: &str| -> usize {
        v.parse()
            .unwrap_or_else(|_| panic!("{flag}: {v:?} is not a number"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => o.models.push(value(&mut it, a)),
            "--mode" => o.modes.push(match value(&mut it, a).as_str() {
                "train" => Mode::Train,
                "infer" => Mode::Infer,
                m => panic!("--mode {m}: expected train or infer"),
            }),
            "--threads" => o.threads.push(number(value(&mut it, a), a)),
            "--batch" => o.batch = number(value(&mut it, a), a),
            "--warmup" => o.warmup = number(value(&mut it, a), a),
            "--steps" => o.steps = Some(number(value(&mut it, a), a)),
            "--min-time" => {
                let v = value(&mut it, a);
                o.min_time = v
                    .parse()
                    .unwrap_or_else(|_| panic!("--min-time: {v:?} is not a number"));
            }
            "--json" => o.json = true,
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    if quick {
        if o.models.is_empty() {
            o.models.push("deepbind".into());
        }
        o.warmup = 0;
        o.steps = Some(1);
        o.batch = o.batch.min(8);
    }
    if o.models.is_empty() {
        o.models = MODELS.iter().map(|(m, _)| m.to_string()).collect();
    }
    if o.modes.is_empty() {
        o.modes = vec![Mode::Train, Mode::Infer];
    }
    if o.threads.is_empty() {
        o.threads = if quick { vec![1] } else { vec![1, 2] };
    }
    o
}

/// A fresh model (seed 1) and a few batches of inputs and labels.
fn setup(name: &str, batch: usize, rng: &mut Rng) -> (Model, Vec<(Array, Array)>) {
    let &(_, tasks) = MODELS.iter().find(|(m, _)| *m == name).unwrap_or_else(|| {
        panic!("unknown model {name}: one of deepbind, deepsea, dilated, lenet5")
    });
    let arch = Arch::builtin(name).expect("built-in architecture");
    let names = (0..tasks).map(|t| t.to_string()).collect();
    let model = Model::new(arch, names, rng, 1.0).expect("model builds");
    let image = name == "lenet5";
    let batches = (0..4)
        .map(|_| {
            let x = if image {
                Array::from_shape_fn(ndarray::IxDyn(&[batch, 1, 28, 28]), |_| {
                    rng::uniform(rng, 0.0, 1.0)
                })
            } else {
                let len = model.arch.input.length.unwrap_or(101);
                let mut x = Array::zeros(ndarray::IxDyn(&[batch, 4, len]));
                for s in 0..batch {
                    for t in 0..len {
                        x[[s, rng::below(rng, 4), t]] = 1.0;
                    }
                }
                x
            };
            let y = if image {
                Array::from_shape_fn(ndarray::IxDyn(&[batch, 1]), |_| rng::below(rng, 10) as f32)
            } else {
                Array::from_shape_fn(ndarray::IxDyn(&[batch, tasks]), |_| {
                    rng::below(rng, 2) as f32
                })
            };
            (x, y)
        })
        .collect();
    (model, batches)
}

/// One measurement: samples per wall-clock second and per CPU second, and timed steps.
struct Rate {
    wall: f64,
    cpu: Option<f64>,
    steps: usize,
}

/// Throughput of one model, mode and thread count.
fn measure(name: &str, mode: Mode, threads: usize, o: &Opts) -> Rate {
    let mut r = rng::seeded(1);
    let (mut model, batches) = setup(name, o.batch, &mut r);
    let cfg = FitConfig {
        epochs: 1,
        batch_size: o.batch,
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
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        let mut opt = optimizer_for(&model, &cfg.optimizer).expect("adam");
        let shared = (mode == Mode::Infer).then(|| model.shared_params());
        let mut step = |k: usize, model: &mut Model| {
            let (x, y) = &batches[k % batches.len()];
            match mode {
                Mode::Train => {
                    train_step(model, &mut opt, x.clone(), y, &cfg, &mut r).expect("train step");
                }
                Mode::Infer => {
                    let params = shared.as_deref().expect("made for inference");
                    let out = model.predict_shared(params, x.clone()).expect("inference");
                    std::hint::black_box(out);
                }
            }
        };
        for k in 0..o.warmup {
            step(k, &mut model);
        }
        let cpu0 = cpu_secs();
        let start = Instant::now();
        let mut k = 0;
        loop {
            step(o.warmup + k, &mut model);
            k += 1;
            let done = match o.steps {
                Some(n) => k >= n,
                None => k >= 3 && start.elapsed().as_secs_f64() >= o.min_time,
            };
            if done {
                break;
            }
        }
        let samples = (k * o.batch) as f64;
        let wall = samples / start.elapsed().as_secs_f64();
        let cpu = match (cpu0, cpu_secs()) {
            (Some(a), Some(b)) if b > a => Some(samples / (b - a)),
            _ => None,
        };
        Rate {
            wall,
            cpu,
            steps: k,
        }
    })
}

/// Peak resident set size of this process in kB (`VmHWM`), where the kernel reports it.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    // As `seqcnn` itself does (src/main.rs).
    seqcnn::alloc::tune();
    let o = parse_args();
    if !o.json {
        println!(
            "{:<9} {:<5} {:>7} {:>12} {:>14} {:>6}",
            "model", "mode", "threads", "samples/s", "samples/cpu-s", "steps"
        );
    }
    for name in &o.models {
        for &mode in &o.modes {
            for &threads in &o.threads {
                let Rate {
                    wall: rate,
                    cpu,
                    steps,
                } = measure(name, mode, threads, &o);
                if o.json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "peer": "seqcnn",
                            "model": name,
                            "mode": mode.name(),
                            "threads": threads,
                            "batch": o.batch,
                            "steps": steps,
                            "samples_per_sec": rate,
                            "samples_per_cpu_sec": cpu,
                            "rss_kb": peak_rss_kb(),
                        })
                    );
                } else {
                    let cpu = cpu.map_or("-".into(), |c| format!("{c:.1}"));
                    println!(
                        "{name:<9} {:<5} {threads:>7} {rate:>12.1} {cpu:>14} {steps:>6}",
                        mode.name()
                    );
                }
            }
        }
    }
}
