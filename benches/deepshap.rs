//! DeepSHAP throughput, in sequences per second: seqcnn's `attribute --method deepshap` (DeepLIFT's
//! rescale rule against 20 dinucleotide-shuffled references per sequence, averaged) on a
//! DeepBind-architecture network over 101 bp and on the DeepSEA architecture (the built-in preset:
//! 320/480/960 filters, 919 tasks) over 1000 bp, seeded random weights, the logit of one task
//! (task 0), forward strand only (strand rule `none`). `benches/peers/deepshap.sh` runs this and
//! `benches/peers/deepshap_torch.py` (captum's `DeepLiftShap`, tangermeme's `deep_lift_shap`)
//! back to back and prints the ratio table.
//!
//! ```sh
//! cargo bench --bench deepshap                                  # both networks, 2 threads
//! cargo bench --bench deepshap -- --model deepsea --n 8 --json
//! cargo bench --bench deepshap -- --model deepbind --data /tmp/shap   # + the peers' inputs
//! ```
//!
//! Options: `--model deepbind|deepsea` (repeatable; default both), `--n N` sequences (default
//! 256 for deepbind, 8 for deepsea), `--threads N` (2), `--references N` (20), `--json` (one
//! JSON line per network), `--data DIR`: writes what the peer needs to `DIR/NAME.state.safetensors`
//! (`seqcnn export torch`'s state dict) and `DIR/NAME.npz` (`x [N, 4, L]` the one-hot inputs,
//! `refs [N, R, 4, L]` the references, drawn exactly as `attribute` draws them: the same seed and
//! order, `attr [N, L]` seqcnn's attributions summed over the four channels, `task`), so both
//! sides explain the same inputs against the same references with the same weights.
//!
//! Timing: one untimed sequence first (allocations, thread pool), then the N sequences through
//! [`seqcnn::attribute::attribute`] in chunks of 64 (the command's default `--batch-size`); the
//! figure is N over the timed seconds. Sequences are random A/C/G/T.

mod common;

use ndarray::{Array2, Array3, Array4, Axis};
use rand::Rng as _;
use seqcnn::arch::Arch;
use seqcnn::attribute::{self, Method, Options};
use seqcnn::encode::{self, NMode};
use seqcnn::model::{Model, Strand};
use seqcnn::score::Presentation;
use std::path::PathBuf;
use std::time::Instant;

/// The networks timed: (name, tasks, input length, default sequence count).
const MODELS: [(&str, usize, usize, usize); 2] =
    [("deepbind", 1, 101, 256), ("deepsea", 919, 1000, 8)];

/// The seed of the sequences; the references' generator is seeded with `SEED + 1`.
const SEED: u64 = 7;

/// The command line's `--batch-size` default: sequences per `attribute` call.
const CHUNK: usize = 64;

struct Opts {
    models: Vec<String>,
    n: Option<usize>,
    threads: usize,
    references: usize,
    json: bool,
    data: Option<PathBuf>,
    quick: bool,
}

fn parse_args() -> Opts {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this without it: keep that
    // run tiny (a narrow DeepSEA, a few sequences).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = Opts {
        models: Vec::new(),
        n: None,
        threads: 2,
        references: 20,
        json: false,
        data: None,
        quick: !args.iter().any(|a| a == "--bench"),
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
            "--n" => o.n = Some(number(value(&mut it, a), a)),
            "--threads" => o.threads = number(value(&mut it, a), a),
            "--references" => o.references = number(value(&mut it, a), a),
            "--data" => o.data = Some(PathBuf::from(value(&mut it, a))),
            "--json" => o.json = true,
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    if o.models.is_empty() {
        o.models = MODELS.iter().map(|m| m.0.to_string()).collect();
    }
    if o.quick {
        o.n = Some(o.n.unwrap_or(2).min(2));
        o.references = o.references.min(3);
    }
    o
}

/// The network `name` with seeded random weights (a narrow DeepSEA in a quick run).
fn model(name: &str, tasks: usize, quick: bool) -> Model {
    let mut arch = Arch::builtin(name).expect("built-in architecture");
    if quick && name == "deepsea" {
        for (layer, w) in [(0, 8), (4, 8), (8, 8), (12, 16)] {
            let key = if layer == 12 {
                "out_features"
            } else {
                "out_channels"
            };
            arch.set(&format!("layers.{layer}.{key}={w}"))
                .expect("set width");
        }
    }
    let names = (0..tasks).map(|t| format!("t{t}")).collect();
    Model::new(arch, names, &mut seqcnn::rng::seeded(1), 1.0).expect("model builds")
}

/// One network's measurement.
struct Rate {
    seqs_per_sec: f64,
    seconds: f64,
}

fn measure(name: &str, o: &Opts) -> Rate {
    let &(_, tasks, len, default_n) = MODELS
        .iter()
        .find(|m| m.0 == name)
        .unwrap_or_else(|| panic!("unknown model {name}: deepbind or deepsea"));
    let n = o.n.unwrap_or(default_n);
    let model = model(name, tasks, o.quick);
    let pres = Presentation::of(&model, Some(Strand::None)).expect("presentation");
    let mut rng = seqcnn::rng::seeded(SEED);
    let seqs: Vec<Vec<u8>> = (0..n + 1)
        .map(|_| (0..len).map(|_| b"ACGT"[rng.random_range(0..4)]).collect())
        .collect();
    let (warm, timed) = seqs.split_first().expect("at least one sequence");
    let opts = Options {
        method: Method::DeepShap,
        references: o.references,
        ..Options::default()
    };
    let task = [0usize];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(o.threads)
        .build()
        .expect("thread pool");
    let (attrs, seconds) = pool.install(|| {
        let mut r = seqcnn::rng::seeded(SEED);
        attribute::attribute(&model, &pres, &[warm], &task, &opts, &mut r).expect("warm-up");
        // The references' generator, as `seqcnn attribute --seed` seeds it.
        let mut r = seqcnn::rng::seeded(SEED + 1);
        let start = Instant::now();
        let mut attrs = Vec::with_capacity(n);
        for chunk in timed.chunks(CHUNK) {
            let views: Vec<&[u8]> = chunk.iter().map(|s| s.as_slice()).collect();
            attrs.extend(
                attribute::attribute(&model, &pres, &views, &task, &opts, &mut r)
                    .expect("deepshap"),
            );
        }
        (attrs, start.elapsed().as_secs_f64())
    });
    if let Some(dir) = &o.data {
        std::fs::create_dir_all(dir).expect("data directory");
        let state = model.torch_state_dict_bytes().expect("state dict");
        std::fs::write(dir.join(format!("{name}.state.safetensors")), state)
            .expect("write state dict");
        // The references again, drawn as `attribute` draws them: per sequence in order, each a
        // dinucleotide shuffle from the one generator.
        let mut r = seqcnn::rng::seeded(SEED + 1);
        let mut x = Array3::<f32>::zeros((n, 4, len));
        let mut refs = Array4::<f32>::zeros((n, o.references, 4, len));
        let mut attr = Array2::<f32>::zeros((n, len));
        for (i, s) in timed.iter().enumerate() {
            let one_hot = |s: &[u8]| encode::one_hot(s, NMode::Quarter).expect("ACGT");
            x.index_axis_mut(Axis(0), i).assign(&one_hot(s));
            for k in 0..o.references {
                let shuffled = encode::dinucleotide_shuffle(s, &mut r);
                refs.index_axis_mut(Axis(0), i)
                    .index_axis_mut(Axis(0), k)
                    .assign(&one_hot(&shuffled));
            }
            attr.index_axis_mut(Axis(0), i)
                .assign(&attrs[i].per_position().index_axis(Axis(0), 0));
        }
        let task = ndarray::arr1(&[0.0f32]).into_dyn();
        seqcnn::io::npz::write_npz(
            &dir.join(format!("{name}.npz")),
            &[
                ("x", x.view().into_dyn()),
                ("refs", refs.view().into_dyn()),
                ("attr", attr.view().into_dyn()),
                ("task", task.view()),
            ],
        )
        .expect("write npz");
    }
    let worst = attrs
        .iter()
        .filter_map(|a| a.delta.as_ref())
        .flatten()
        .fold(0.0f32, |m, d| m.max(d.abs()));
    assert!(worst < 1e-2, "{name}: convergence delta {worst}");
    Rate {
        seqs_per_sec: n as f64 / seconds,
        seconds,
    }
}

fn main() {
    // As `seqcnn` itself does (src/main.rs).
    seqcnn::alloc::tune();
    let o = parse_args();
    if !o.json {
        println!(
            "DeepSHAP, {} references, task 0 of each network, strand none, {} threads",
            o.references, o.threads
        );
        println!(
            "{:<9} {:>6} {:>10} {:>8}",
            "model", "n", "seqs/s", "seconds"
        );
    }
    for name in &o.models {
        let Rate {
            seqs_per_sec,
            seconds,
        } = measure(name, &o);
        let n =
            o.n.unwrap_or_else(|| MODELS.iter().find(|m| m.0 == name).map_or(0, |m| m.3));
        if o.json {
            println!(
                "{}",
                serde_json::json!({
                    "peer": "seqcnn",
                    "model": name,
                    "threads": o.threads,
                    "references": o.references,
                    "n": n,
                    "seconds": seconds,
                    "seqs_per_sec": seqs_per_sec,
                })
            );
        } else {
            println!("{name:<9} {n:>6} {seqs_per_sec:>10.2} {seconds:>8.2}");
        }
    }
}
