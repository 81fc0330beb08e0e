//! The DeepBind zoo: every published DeepBind model (927 parameter files) scored side by side
//! over the same sequences, as `seqcnn predict --model-dir DIR` does, in model-sequence scores
//! per second, next to a native `deepbind`-architecture model (`src/arch/deepbind.toml`, randomly
//! initialised, seed 1) scoring the same sequences in the same run and thread pool, and the ratio.
//!
//! Both go through [`Panel::score`], what `predict` calls per batch of `--batch-size` sequences:
//! the zoo as one panel of all models (DeepBind's rules: N-padded full convolution, windows of
//! 1.5 x motif length, the maximum over windows and, for the 683 models that ask for it, both
//! strands), the native model on its own under each strand rule (`none`, its default, and `max`,
//! both strands as DeepBind), timed before and after the zoo. The ratio (`zoo/it`) is zoo
//! scores/s over the native model's (the mean of before and after), per wall-clock second and
//! per CPU second of the process (on a busy machine the second is the steadier). Then the same
//! work on both sides: the zoo's one-strand models (DeepBind's `reverse_complement = 0`) against
//! the native model on one strand, its both-strand models against the native model on both.
//!
//! Sequences: `--seqs N` (default 10,000) of 101 bp (DeepBind's ChIP-seq length), uniform random
//! bases from a ChaCha8 generator seeded with 1.
//!
//! ```sh
//! cargo bench --bench zoo                          # all 927 models x 10,000 sequences, 2 threads
//! cargo bench --bench zoo -- --models 93 --seqs 2000 --threads 1
//! SEQCNN_DEEPBIND_PARAMS=/data/deepbind/params cargo bench --bench zoo
//! ```
//!
//! Options: `--models N` (every (927/N)th model, for a quick estimate), `--seqs N`, `--threads N`
//! (2), `--batch N` (sequences per scoring call, 1024 as `predict --batch-size`), `--native-secs S`
//! (the native model is timed over repeated passes for at least this long, default 3).
//! The parameter files are read from `$SEQCNN_DEEPBIND_PARAMS`, by default
//! `../shared/data/deepbind/params` next to the repository; the bench says so and stops when
//! they are missing.

mod common;

use common::cpu_secs;

use seqcnn::arch::Arch;
use seqcnn::model::{Model, Strand};
use seqcnn::rng;
use seqcnn::score::{Ensemble, Panel, Scorer};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// The input length: DeepBind's ChIP-seq sequences.
const LEN: usize = 101;

struct Opts {
    models: Option<usize>,
    seqs: usize,
    threads: usize,
    batch: usize,
    native_secs: f64,
}

fn parse_args() -> Opts {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this without it: keep that
    // run tiny.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = !args.iter().any(|a| a == "--bench");
    let mut o = Opts {
        models: None,
        seqs: 10_000,
        threads: 2,
        batch: 1024,
        native_secs: 3.0,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--bench" {
            continue;
        }
        let v = it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        let number = || -> f64 {
            v.parse()
                .unwrap_or_else(|_| panic!("{a}: {v:?} is not a number"))
        };
        match a.as_str() {
            "--models" => o.models = Some(number() as usize),
            "--seqs" => o.seqs = number() as usize,
            "--threads" => o.threads = number() as usize,
            "--batch" => o.batch = number() as usize,
            "--native-secs" => o.native_secs = number(),
            other => panic!("unknown option {other}"),
        }
    }
    if quick {
        o.models = Some(o.models.unwrap_or(4));
        o.seqs = o.seqs.min(50);
        o.native_secs = 0.0;
    }
    o
}

/// Where the parameter files are: `$SEQCNN_DEEPBIND_PARAMS`, or `../shared/data/deepbind/params`
/// next to the repository.
fn params_dir() -> PathBuf {
    std::env::var_os("SEQCNN_DEEPBIND_PARAMS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/deepbind/params")
        })
}

/// `n` random sequences of [`LEN`] bp (seed 1).
fn sequences(n: usize) -> Vec<Vec<u8>> {
    let mut r = rng::seeded(1);
    (0..n)
        .map(|_| (0..LEN).map(|_| b"ACGT"[rng::below(&mut r, 4)]).collect())
        .collect()
}

/// Wall-clock and CPU seconds (user + system, of the whole process) of some work.
#[derive(Clone, Copy, Default)]
struct Secs {
    wall: f64,
    cpu: f64,
}

impl Secs {
    /// Times `f`.
    fn of(f: impl FnOnce()) -> Secs {
        let cpu0 = cpu_secs().unwrap_or(0.0);
        let start = Instant::now();
        f();
        Secs {
            wall: start.elapsed().as_secs_f64(),
            cpu: cpu_secs().unwrap_or(0.0) - cpu0,
        }
    }

    /// `n` items over these seconds: (per second, per CPU second).
    fn rates(self, n: f64) -> (f64, f64) {
        (n / self.wall, n / self.cpu.max(1e-9))
    }
}

/// Scores every sequence with `panel`, batch by batch as `predict` does.
fn score_all(panel: &Panel, seqs: &[&[u8]], batch: usize) -> Secs {
    Secs::of(|| {
        for chunk in seqs.chunks(batch.max(1)) {
            let y = panel.score(chunk, false).expect("scoring");
            std::hint::black_box(y);
        }
    })
}

/// Scores per second and per CPU second of `panel` (one column) over `seqs`, passes repeated for
/// at least `secs`.
fn rate(panel: &Panel, seqs: &[&[u8]], batch: usize, secs: f64) -> (f64, f64) {
    // One untimed pass first: the parameters are shared from the first batch on.
    score_all(panel, &seqs[..seqs.len().min(batch)], batch);
    let (mut passes, mut total) = (0, Secs::default());
    while passes == 0 || total.wall < secs {
        let t = score_all(panel, seqs, batch);
        total.wall += t.wall;
        total.cpu += t.cpu;
        passes += 1;
    }
    total.rates((passes * seqs.len()) as f64)
}

/// The 1-, 5- and 15-minute load averages.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "-".into())
}

fn main() -> ExitCode {
    // As `seqcnn` itself does (src/main.rs).
    seqcnn::alloc::tune();
    let o = parse_args();
    let dir = params_dir();
    if !dir.is_dir() {
        eprintln!(
            "zoo bench: no DeepBind parameter files at {}; set SEQCNN_DEEPBIND_PARAMS to the \
             directory of the 927 D*.txt files (deepbind v0.11's db/params)",
            dir.display()
        );
        // `cargo test --benches` (no `--bench`) should not fail for want of the data.
        let quick = !std::env::args().any(|a| a == "--bench");
        return if quick {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let files = match seqcnn::deepbind::param_files(std::slice::from_ref(&dir)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("zoo bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let all = files.len();
    let files: Vec<PathBuf> = match o.models {
        Some(n) if n > 0 && n < all => (0..n).map(|i| files[i * all / n].clone()).collect(),
        _ => files,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(o.threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        let started = Instant::now();
        let models: Vec<Model> = match files
            .iter()
            .map(|f| seqcnn::deepbind::import(f))
            .collect::<Result<_, _>>()
        {
            Ok(m) => m,
            Err(e) => {
                eprintln!("zoo bench: {e}");
                return ExitCode::FAILURE;
            }
        };
        let import_secs = started.elapsed().as_secs_f64();
        let seqs = sequences(o.seqs);
        let seqs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();

        let arch = Arch::builtin("deepbind").expect("built-in architecture");
        let native = Model::new(arch, vec!["native".into()], &mut rng::seeded(1), 1.0)
            .expect("native model");
        let native_rate = |strand: Strand| {
            let panel = Panel::single(
                Ensemble::new(vec![Scorer::new(&native).with_strand(strand)]).expect("one model"),
            );
            rate(&panel, &seqs, o.batch, o.native_secs)
        };
        // The native model before and after the zoo: the machine's speed may change during a
        // long run on a shared machine; the ratio is against the mean of the two.
        let load_before = load();
        let before = [native_rate(Strand::None), native_rate(Strand::Max)];

        let members = models
            .iter()
            .map(|m| (m.meta.tasks[0].clone(), Scorer::new(m)))
            .collect();
        let zoo = Panel::side_by_side(members).expect("the zoo as a panel");
        let zoo_secs = score_all(&zoo, &seqs, o.batch);
        let scores = (models.len() * seqs.len()) as f64;
        let (zoo_rate, zoo_cpu) = zoo_secs.rates(scores);

        // The same work on each side: the zoo's one-strand models against the native model on
        // one strand, its both-strand models against the native model on both.
        let by_strand = |strand: Strand| {
            let members: Vec<_> = models
                .iter()
                .filter(|m| m.meta.strand == strand)
                .map(|m| (m.meta.tasks[0].clone(), Scorer::new(m)))
                .collect();
            let n = members.len();
            if n == 0 {
                return (0, (0.0, 0.0));
            }
            let panel = Panel::side_by_side(members).expect("a panel");
            (
                n,
                score_all(&panel, &seqs, o.batch).rates((n * seqs.len()) as f64),
            )
        };
        let parts = [by_strand(Strand::None), by_strand(Strand::Max)];

        let after = [native_rate(Strand::None), native_rate(Strand::Max)];
        let load_after = load();

        println!(
            "DeepBind zoo: {} of {all} models x {} sequences of {LEN} bp (random, seed 1), \
             {} threads, batch {}; models imported in {import_secs:.1} s",
            models.len(),
            seqs.len(),
            o.threads,
            o.batch,
        );
        println!("load average (1, 5, 15 min) before {load_before}, after {load_after}");
        println!(
            "{:<30} {:>10} {:>8} {:>13} {:>8}",
            "scorer", "scores/s", "zoo/it", "scores/cpu-s", "zoo/it"
        );
        println!(
            "{:<30} {zoo_rate:>10.0} {:>8} {zoo_cpu:>13.0} {:>8}",
            format!("zoo: {:.1} s ({:.1} cpu-s)", zoo_secs.wall, zoo_secs.cpu),
            "",
            ""
        );
        for (i, rule) in ["none", "max"].iter().enumerate() {
            let (b, a) = (before[i], after[i]);
            let (r, c) = ((b.0 + a.0) / 2.0, (b.1 + a.1) / 2.0);
            println!(
                "{:<30} {r:>10.0} {:>8.3} {c:>13.0} {:>8.3}",
                format!("native, strand {rule}"),
                zoo_rate / r,
                zoo_cpu / c
            );
            println!("  (before the zoo {:.0}, after {:.0})", b.0, a.0);
        }
        println!("the same work on both sides: the zoo's models by strand rule");
        for (i, rule) in ["none", "max"].iter().enumerate() {
            let (n, (zr, zc)) = parts[i];
            let (b, a) = (before[i], after[i]);
            let (r, c) = ((b.0 + a.0) / 2.0, (b.1 + a.1) / 2.0);
            println!(
                "{:<30} {zr:>10.0} {:>8.3} {zc:>13.0} {:>8.3}",
                format!("zoo, {n} models on strand {rule}"),
                zr / r,
                zc / c
            );
        }
        if models.len() < all {
            println!(
                "all {all} models x {} sequences at this rate: {:.0} s",
                seqs.len(),
                (all * seqs.len()) as f64 / zoo_rate
            );
        }
        ExitCode::SUCCESS
    })
}
