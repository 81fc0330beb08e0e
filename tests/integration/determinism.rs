//! Same data and seed, different thread counts: identical weights after optimiser steps (library)
//! and byte-identical model files from `seqcnn train` (CLI).

use crate::common::{data, ok, tempdir};
use seqcnn::arch::Arch;
use seqcnn::data::Dataset;
use seqcnn::model::Model;
use seqcnn::model::Strand;
use seqcnn::rng;
use seqcnn::train::fit::{FitConfig, Monitor, optimizer_for, train_step};
use seqcnn::train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use seqcnn::train::schedule::Schedule;

/// Weights as bits, so that equality is bit for bit (and NaN-safe).
fn bits(model: &Model) -> Vec<Vec<u32>> {
    model
        .params
        .iter()
        .map(|p| p.iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// A fresh DeepBind model (seed 7) after `steps` optimiser steps on the 50 REST peaks plus one
/// shuffled negative each, every step on the whole set with random strands and dropout on, run
/// in a rayon pool of `threads` workers. Returns the weights before and after.
fn steps_with_threads(
    threads: usize,
    optimizer: OptimizerConfig,
    steps: usize,
) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut rng = rng::seeded(7);
        let mut ds = Dataset::load(&data("REST_B.head50.seq"), None).unwrap();
        ds.add_shuffled_negatives(1, &mut rng);
        let arch = Arch::builtin("deepbind").unwrap();
        let mut model = Model::new(arch, ds.tasks.clone(), &mut rng, 1.0).unwrap();
        let cfg = FitConfig {
            epochs: 1,
            batch_size: ds.len(),
            optimizer,
            schedule: Schedule::Constant,
            clip_norm: None,
            patience: None,
            monitor: Monitor::Loss,
            rc_augment: true,
            strand: Strand::Max,
            pos_weight: None,
            jitter: 0,
            resample_negatives: None,
        };
        let mut opt = optimizer_for(&model, &cfg.optimizer).unwrap();
        let before = bits(&model);
        let idx: Vec<usize> = (0..ds.len()).collect();
        for _ in 0..steps {
            let flip: Vec<bool> = idx
                .iter()
                .map(|_| rand::Rng::random_bool(&mut rng, 0.5))
                .collect();
            let (x, y) = ds.batch(&idx, &flip).unwrap();
            let loss = train_step(&mut model, &mut opt, x, &y, &cfg, &mut rng).unwrap();
            assert!(loss.is_finite());
        }
        (before, bits(&model))
    })
}

#[test]
fn one_optimiser_step_is_bit_identical_with_1_and_2_threads() {
    let adam = || OptimizerConfig::Adam(AdamConfig::default());
    let (start, one) = steps_with_threads(1, adam(), 1);
    let (start2, two) = steps_with_threads(2, adam(), 1);
    assert_eq!(start, start2, "initial weights differ");
    assert_ne!(start, one, "the step changed nothing");
    for (i, (a, b)) in one.iter().zip(&two).enumerate() {
        let diff = a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert_eq!(diff, 0, "param {i}: {diff} of {} values differ", a.len());
    }
}

#[test]
fn several_sgd_steps_are_bit_identical_with_1_and_2_threads() {
    let sgd = || {
        OptimizerConfig::Sgd(SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            ..SgdConfig::default()
        })
    };
    let (start, one) = steps_with_threads(1, sgd(), 3);
    let (_, two) = steps_with_threads(2, sgd(), 3);
    assert_ne!(start, one, "the steps changed nothing");
    assert!(
        one == two,
        "weights after 3 SGD steps differ between 1 and 2 threads"
    );
}

#[test]
fn train_with_1_and_2_threads_writes_identical_model_files() {
    let dir = tempdir();
    let input = data("REST_B.head50.seq");
    let input = input.to_str().unwrap();
    let train = |threads: &str| {
        let out = dir.path().join(format!("model{threads}.safetensors"));
        ok(&[
            "train",
            "--arch",
            "deepbind",
            "--train",
            input,
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            "3",
            "--patience",
            "3",
            "--batch-size",
            "16",
            "--negatives",
            "1",
            "--seed",
            "3",
            "--threads",
            threads,
        ]);
        std::fs::read(&out).unwrap()
    };
    let one = train("1");
    let two = train("2");
    assert!(!one.is_empty());
    assert!(
        one == two,
        "model files differ between --threads 1 and --threads 2"
    );
    // A different seed does give a different model: the comparison can tell models apart.
    let out = dir.path().join("seed4.safetensors");
    ok(&[
        "train",
        "--arch",
        "deepbind",
        "--train",
        input,
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "3",
        "--patience",
        "3",
        "--batch-size",
        "16",
        "--negatives",
        "1",
        "--seed",
        "4",
        "--threads",
        "2",
    ]);
    assert!(std::fs::read(&out).unwrap() != one);
}
