//! conv1d kernels at the DeepSEA layer shapes (batch 64) in GFLOP/s, against the machine's
//! single-precision FMA peak measured in the same run by an AVX2 loop of independent
//! `vfmadd` chains (what no real kernel can beat), on 1 and 2 threads.
//!
//! ```sh
//! cargo bench --bench conv1d                      # 1 and 2 threads
//! cargo bench --bench conv1d -- --threads 2 --reps 10
//! ```
//!
//! GFLOP/s are given per wall second (median of the runs) and per CPU second times the thread
//! count (what the run would reach alone on a machine shared with other work).
//!
//! Each layer runs as in the network: convolution, bias, ReLU and max pooling (4) fused into one
//! node, forward and backward.
//!
//! FLOPs count 2 per multiply-add of the convolution's definition: forward `2 N C_out L_out C_in
//! K`; the backward pass computes the weight gradient (the same count) and the input gradient
//! (the same again; not needed for the first layer, whose input is the data, as in training).
//! The first layer's input is one-hot DNA, which seqcnn convolves by table lookup (a quarter of
//! the arithmetic, no multiplications): its GFLOP/s are the dense product's count over the time
//! taken, so they can exceed the FMA peak.

use ndarray::{Array1, Array3};
use seqcnn::tensor::ops::conv::{Conv1dGeom, conv1d_backward_fused, conv1d_forward_fused};
use seqcnn::tensor::ops::pool::Pool1dGeom;
use std::time::Instant;

/// `(name, c_in, l, c_out, k)` of DeepSEA's three convolutions.
const LAYERS: [(&str, usize, usize, usize, usize); 3] = [
    ("conv1 4->320 k8 L1000", 4, 1000, 320, 8),
    ("conv2 320->480 k8 L248", 320, 248, 480, 8),
    ("conv3 480->960 k8 L60", 480, 60, 960, 8),
];
const BATCH: usize = 64;

/// DeepSEA's max pooling after each convolution.
const POOL: Pool1dGeom = Pool1dGeom {
    kernel: 4,
    stride: 4,
    padding: 0,
};

/// The FMA peak: independent chains of 8-wide fused multiply-adds, 2 FLOPs per lane each.
#[cfg(target_arch = "x86_64")]
fn fma_peak_one_thread(iters: u64) -> Option<f64> {
    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        return None;
    }
    // SAFETY: the features the function needs were detected just above.
    let (secs, acc) = unsafe { fma_loop(iters) };
    std::hint::black_box(acc);
    // 12 chains x 8 lanes x 2 FLOPs per iteration.
    Some((iters * 12 * 8 * 2) as f64 / secs / 1e9)
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_peak_one_thread(_iters: u64) -> Option<f64> {
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop(iters: u64) -> (f64, f32) {
    use std::arch::x86_64::*;
    let a = _mm256_set1_ps(0.999_999);
    let b = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(1.0); 12];
    let start = Instant::now();
    for _ in 0..iters {
        // Twelve independent chains cover the FMA latency (4 cycles) on both FMA ports.
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mut out = [0.0f32; 8];
    let mut s = _mm256_setzero_ps();
    for v in acc {
        s = _mm256_add_ps(s, v);
    }
    // SAFETY: `out` holds the 8 floats stored.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    (secs, out.iter().sum())
}

/// FMA peak of `threads` threads running the loop at once, GFLOP/s: the best of 9 runs of about
/// 50 ms (other processes on the machine only ever lower a run's figure), and the FLOPs of all
/// runs per CPU second times the thread count.
fn fma_peak(pool: &rayon::ThreadPool, threads: usize) -> Option<(f64, Option<f64>)> {
    let iters = 300_000_000 / 12;
    let cpu0 = cpu_secs();
    let best = (0..9)
        .map(|_| {
            let per: Vec<Option<f64>> = pool.install(|| {
                use rayon::prelude::*;
                (0..threads)
                    .into_par_iter()
                    .map(|_| fma_peak_one_thread(iters))
                    .collect()
            });
            per.into_iter().sum::<Option<f64>>()
        })
        .max_by(|a, b| a.partial_cmp(b).expect("finite"))
        .flatten()?;
    let flops = (9 * threads as u64 * iters * 12 * 8 * 2) as f64;
    let per_cpu = match (cpu0, cpu_secs()) {
        (Some(a), Some(b)) if b > a => Some(flops / ((b - a) / threads as f64) / 1e9),
        _ => None,
    };
    Some((best, per_cpu))
}

fn values(n: usize, seed: u32) -> impl Iterator<Item = f32> {
    (0..n).map(move |i| {
        ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 / u32::MAX as f32 - 0.5
    })
}

/// One-hot sequences `[n, 4, l]` with pseudo-random bases.
fn one_hot(n: usize, l: usize) -> Array3<f32> {
    Array3::from_shape_fn((n, 4, l), |(s, c, j)| {
        let h = ((s * l + j) as u32).wrapping_mul(2_654_435_761) >> 30;
        f32::from(h as usize == c)
    })
}

/// CPU seconds (user + system) this process has used, from `/proc/self/stat` (Linux; 100 ticks
/// a second).
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Median wall seconds of `reps` runs of `f` (after one untimed run), and the mean CPU seconds
/// per run: on a machine shared with other work, CPU time over the thread count estimates the
/// wall time the run would take alone.
fn median_secs(reps: usize, mut f: impl FnMut()) -> (f64, Option<f64>) {
    f();
    let cpu0 = cpu_secs();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    let cpu = match (cpu0, cpu_secs()) {
        (Some(a), Some(b)) if b > a => Some((b - a) / reps as f64),
        _ => None,
    };
    t.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    (t[t.len() / 2], cpu)
}

fn main() {
    // As `seqcnn` itself does (src/main.rs).
    seqcnn::alloc::tune();
    let args: Vec<String> = std::env::args().collect();
    let quick = !args.iter().any(|a| a == "--bench");
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let threads: Vec<usize> = match flag("--threads") {
        Some(t) => vec![t],
        None if quick => vec![1],
        None => vec![1, 2],
    };
    let reps = flag("--reps").unwrap_or(if quick { 1 } else { 7 });
    let batch = if quick { 2 } else { BATCH };
    let g = Conv1dGeom::default();
    for &t in &threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .expect("thread pool");
        // Measured before and after the layers; the higher figure is the peak.
        let before = fma_peak(&pool, t);
        let mut lines = Vec::new();
        for (li, &(name, c_in, l, c_out, k)) in LAYERS.iter().enumerate() {
            let l_out = l - k + 1;
            // The first layer reads one-hot DNA (and takes the table-lookup kernel).
            let x = if c_in == 4 {
                one_hot(batch, l)
            } else {
                Array3::from_shape_vec((batch, c_in, l), values(batch * c_in * l, 1).collect())
                    .expect("sized")
            };
            let w = Array3::from_shape_vec((c_out, c_in, k), values(c_out * c_in * k, 2).collect())
                .expect("sized");
            let b = Array1::from_iter(values(c_out, 3));
            // As the network runs each layer: convolution, bias, ReLU and max pooling (4) in one
            // node, the pooled output's gradient scattered back through the saved argmax.
            let l_pool = l_out / POOL.kernel;
            let dy = Array3::from_shape_vec(
                (batch, c_out, l_pool),
                values(batch * c_out * l_pool, 4).collect(),
            )
            .expect("sized");
            let (y, arg) =
                conv1d_forward_fused(x.view(), w.view(), Some(b.view()), &g, true, Some(&POOL))
                    .expect("conv");
            let macs = (batch * c_out * l_out * c_in * k) as f64;
            let need_dx = li > 0;
            let fwd = pool.install(|| {
                median_secs(reps, || {
                    std::hint::black_box(
                        conv1d_forward_fused(
                            x.view(),
                            w.view(),
                            Some(b.view()),
                            &g,
                            true,
                            Some(&POOL),
                        )
                        .expect("conv"),
                    );
                })
            });
            let bwd = pool.install(|| {
                median_secs(reps, || {
                    std::hint::black_box(
                        conv1d_backward_fused(
                            x.view(),
                            w.view(),
                            dy.view(),
                            Some(y.view()),
                            Some(&arg),
                            &g,
                            need_dx,
                            true,
                        )
                        .expect("conv backward"),
                    );
                })
            });
            let bwd_flops = 2.0 * macs * if need_dx { 2.0 } else { 1.0 };
            for (pass, secs, flops) in [("forward", fwd, 2.0 * macs), ("backward", bwd, bwd_flops)]
            {
                let (wall, cpu) = secs;
                let alone = cpu.map(|c| flops / (c / t as f64) / 1e9);
                lines.push((name, pass, wall, flops / wall / 1e9, alone));
            }
        }
        // Measured before and after the layers; the higher figures are the peak.
        let after = fma_peak(&pool, t);
        let best = |f: fn(&(f64, Option<f64>)) -> Option<f64>| {
            [before, after]
                .iter()
                .flatten()
                .filter_map(f)
                .max_by(|a, b| a.partial_cmp(b).expect("finite"))
        };
        let peak = best(|p| Some(p.0));
        let peak_cpu = best(|p| p.1);
        match (peak, peak_cpu) {
            (Some(p), Some(c)) => println!(
                "{t} thread(s): AVX2 FMA peak {p:.1} GFLOP/s, {c:.1} per CPU-s x {t} thread(s)"
            ),
            (Some(p), None) => println!("{t} thread(s): AVX2 FMA peak {p:.1} GFLOP/s"),
            _ => println!("{t} thread(s): no AVX2 + FMA on this CPU, no peak to compare with"),
        }
        println!(
            "{:<24} {:<9} {:>9} {:>9} {:>8} {:>10} {:>8}",
            "layer (batch 64)", "pass", "ms", "GFLOP/s", "of peak", "per CPU-s", "of peak"
        );
        let pct =
            |gf: f64, p: Option<f64>| p.map_or("-".into(), |p| format!("{:.0}%", 100.0 * gf / p));
        for (name, pass, secs, gf, alone) in lines {
            let (a, apct) = alone.map_or(("-".into(), "-".into()), |a| {
                (format!("{a:.1}"), pct(a, peak_cpu))
            });
            println!(
                "{name:<24} {pass:<9} {:>9.2} {gf:>9.1} {:>8} {a:>10} {apct:>8}",
                secs * 1e3,
                pct(gf, peak)
            );
        }
        println!();
    }
}
