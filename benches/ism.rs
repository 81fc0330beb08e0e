//! In-silico saturation mutagenesis of one 1000 bp sequence (3,000 variants) with the built-in
//! `deepsea` architecture (320/480/960 filters, 919 tasks, seeded random weights): seqcnn's fast
//! ISM and naive ISM against naive batched ISM in PyTorch (`benches/peers/ism_torch.py`, the same
//! nn.Sequential with the same weights, exported through safetensors), all in the same run with
//! the same thread count. Scores are raw outputs (logits) on the forward strand; the run fails
//! if the implementations disagree by more than 1e-4 (relative to the score's size).
//!
//! ```sh
//! cargo bench --bench ism                         # seqcnn, then PyTorch from /work/torchenv
//! SEQCNN_TORCH_PYTHON=/path/to/python cargo bench --bench ism
//! SEQCNN_BENCH_THREADS=1 SEQCNN_BENCH_BATCH=64 cargo bench --bench ism
//! SEQCNN_BENCH_WIDTHS=64,64,64 cargo bench --bench ism   # a narrower DeepSEA
//! SEQCNN_BENCH_FAST_ONLY=1 cargo bench --bench ism        # time fast ISM alone
//! ```
//!
//! Without a PyTorch interpreter (torch and safetensors importable) the peer is skipped with a
//! note. `cargo test --benches` runs a quick check on a narrow network instead.

use rand::Rng as _;
use seqcnn::arch::Arch;
use seqcnn::model::Model;
use seqcnn::model::Strand;
use seqcnn::mutate::{IsmScores, fast_ism, naive_ism};
use seqcnn::score::Scorer;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const TASKS: usize = 919;
const LEN: usize = 1000;

mod common;
use common::{env_usize, run_peer};

/// DeepSEA with the given filter counts and seeded PyTorch-default weights.
fn model(widths: [usize; 3]) -> Model {
    let mut arch = Arch::builtin("deepsea").expect("built in");
    for (layer, w) in [0, 4, 8].into_iter().zip(widths) {
        arch.set(&format!("layers.{layer}.out_channels={w}"))
            .expect("set width");
    }
    let tasks = (0..TASKS).map(|t| format!("t{t}")).collect();
    Model::new(arch, tasks, &mut seqcnn::rng::seeded(1), 1.0).expect("deepsea builds")
}

/// The largest |a - b| and the largest relative difference |a - b| / (1 + |a|).
fn max_diff(a: &[f32], b: &[f32]) -> (f64, f64) {
    assert_eq!(a.len(), b.len(), "score counts differ");
    a.iter().zip(b).fold((0.0f64, 0.0f64), |(m, r), (&x, &y)| {
        let d = (x as f64 - y as f64).abs();
        (m.max(d), r.max(d / (1.0 + (x as f64).abs())))
    })
}

fn all_scores(ism: &IsmScores) -> Vec<f32> {
    ism.reference
        .iter()
        .chain(ism.mutants.iter())
        .copied()
        .collect()
}

/// PyTorch's seconds and scores (reference then mutants), or why there are none.
fn torch_run(
    model: &Model,
    widths: [usize; 3],
    seq: &[u8],
    threads: usize,
    batch: usize,
) -> Result<(f64, Vec<f32>), String> {
    let python = std::env::var("SEQCNN_TORCH_PYTHON").unwrap_or_else(|_| {
        let venv = "/work/torchenv/bin/python";
        if Path::new(venv).exists() {
            venv.into()
        } else {
            "python3".into()
        }
    });
    let probe = Command::new(&python)
        .args(["-c", "import torch, safetensors"])
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "{python} cannot import torch and safetensors (set SEQCNN_TORCH_PYTHON to a Python that can)"
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let state = dir.path().join("state.safetensors");
    let seq_path = dir.path().join("seq.txt");
    let out_path = dir.path().join("scores.safetensors");
    std::fs::write(
        &state,
        model.torch_state_dict_bytes().map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(&seq_path, seq).map_err(|e| e.to_string())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/ism_torch.py");
    let widths = widths.map(|w| w.to_string()).join(",");
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .args(["--state", &state.display().to_string()])
        .args(["--seq", &seq_path.display().to_string()])
        .args(["--tasks", &TASKS.to_string()])
        .args(["--widths", &widths])
        .args(["--out", &out_path.display().to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--batch", &batch.to_string()]);
    let doc = run_peer(&python, &mut cmd)?;
    let text = doc.to_string();
    let secs = doc["seconds"]
        .as_f64()
        .ok_or_else(|| format!("peer output has no seconds: {text}"))?;
    let bytes = std::fs::read(&out_path).map_err(|e| e.to_string())?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| e.to_string())?;
    let mut scores = Vec::new();
    for name in ["reference", "mutants"] {
        let t = st.tensor(name).map_err(|e| format!("{name}: {e}"))?;
        scores.extend(
            t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    Ok((secs, scores))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep that short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let threads = env_usize("SEQCNN_BENCH_THREADS", 2);
    let batch = env_usize("SEQCNN_BENCH_BATCH", 128);
    let fast_only = env_usize("SEQCNN_BENCH_FAST_ONLY", 0) == 1;
    let widths: [usize; 3] = std::env::var("SEQCNN_BENCH_WIDTHS")
        .ok()
        .and_then(|v| {
            let w: Vec<usize> = v.split(',').filter_map(|x| x.trim().parse().ok()).collect();
            w.try_into().ok()
        })
        .unwrap_or(if quick { [16, 16, 16] } else { [320, 480, 960] });
    let model = model(widths);
    let mut rng = seqcnn::rng::seeded(2);
    let seq: Vec<u8> = (0..LEN).map(|_| b"ACGT"[rng.random_range(0..4)]).collect();
    let variants = 3 * LEN;
    println!(
        "ISM of one {LEN} bp sequence ({variants} variants), deepsea {}/{}/{} filters, {TASKS} tasks, batch {batch}, {threads} threads",
        widths[0], widths[1], widths[2]
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let scorer = Scorer::new(&model).with_strand(Strand::None);
    let (fast, fast_secs, naive, naive_secs) = pool.install(|| {
        // Warm-up: one small forward pass (allocations, thread pool).
        scorer.score_raw(&[&seq]).expect("score");
        let start = Instant::now();
        let fast = fast_ism(&model, &scorer, &seq, true, batch)
            .expect("fast ISM")
            .expect("fast ISM handles deepsea");
        let fast_secs = start.elapsed().as_secs_f64();
        println!("seqcnn fast ISM: {fast_secs:.2} s");
        if fast_only {
            std::process::exit(0);
        }
        let start = Instant::now();
        let naive = naive_ism(&scorer, &seq, true, batch).expect("naive ISM");
        let naive_secs = start.elapsed().as_secs_f64();
        println!("seqcnn naive ISM: {naive_secs:.2} s");
        (fast, fast_secs, naive, naive_secs)
    });
    let fast_scores = all_scores(&fast);
    let torch = if quick {
        Err("quick run (cargo bench runs it)".to_string())
    } else {
        torch_run(&model, widths, &seq, threads, batch)
    };
    if let Ok((secs, _)) = &torch {
        println!("pytorch naive ISM: {secs:.2} s");
    }
    let peer_secs = torch.as_ref().ok().map(|(s, _)| *s);
    let base = peer_secs.unwrap_or(naive_secs);
    let base_name = if peer_secs.is_some() {
        "pytorch naive"
    } else {
        "seqcnn naive"
    };
    println!();
    println!("| implementation | seconds | variants/s | speed vs {base_name} |");
    println!("|---|---|---|---|");
    let mut rows = vec![
        ("seqcnn fast ISM", fast_secs),
        ("seqcnn naive ISM", naive_secs),
    ];
    if let Some(s) = peer_secs {
        rows.push(("pytorch naive ISM", s));
    }
    for (name, secs) in rows {
        println!(
            "| {name} | {secs:.2} | {:.0} | {:.2}x |",
            variants as f64 / secs,
            base / secs
        );
    }
    println!();
    let mut ok = true;
    let (abs, rel) = max_diff(&all_scores(&naive), &fast_scores);
    println!("max |fast - naive| = {abs:.2e} (relative {rel:.2e})");
    ok &= rel <= 1e-4;
    match &torch {
        Ok((_, scores)) => {
            let (abs, rel) = max_diff(scores, &fast_scores);
            println!("max |fast - pytorch| = {abs:.2e} (relative {rel:.2e})");
            ok &= rel <= 1e-4;
        }
        Err(e) => println!("pytorch skipped: {e}"),
    }
    if !ok {
        eprintln!("ism bench: the implementations disagree by more than 1e-4");
        std::process::exit(1);
    }
}
