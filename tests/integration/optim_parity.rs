//! Parity of the optimisers, gradient clipping and learning-rate schedules with PyTorch.
//!
//! Expected values: tests/data/optim_fixture.safetensors, made by
//! `/work/torchenv/bin/python tests/fixtures/make_optim_fixture.py` with torch 2.15.0+cu132 (CPU
//! kernels), safetensors 0.8.0. Two parameters ([3, 4] and [5]) get the same six gradients under
//! every optimiser; the script records the parameters after every step.

use ndarray::{ArrayD, IxDyn};
use safetensors::{Dtype, SafeTensors};
use seqcnn::train::optim::{
    AdamConfig, AdamWConfig, Optimizer, OptimizerConfig, SgdConfig, clip_grad_norm,
};
use seqcnn::train::schedule::{PlateauConfig, PlateauMode, Schedule, Scheduler, ThresholdMode};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/optim_fixture.safetensors"
);
const STEPS: usize = 6;

fn fixture() -> Vec<u8> {
    std::fs::read(FIXTURE).unwrap_or_else(|e| panic!("{FIXTURE}: {e}"))
}

fn f32_tensor(st: &SafeTensors, name: &str) -> ArrayD<f32> {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    let v: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    ArrayD::from_shape_vec(IxDyn(t.shape()), v).unwrap()
}

fn f64_vec(st: &SafeTensors, name: &str) -> Vec<f64> {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), Dtype::F64, "{name}");
    t.data()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn init(st: &SafeTensors) -> Vec<ArrayD<f32>> {
    vec![f32_tensor(st, "init.p0"), f32_tensor(st, "init.p1")]
}

fn grads(st: &SafeTensors, k: usize) -> Vec<ArrayD<f32>> {
    (0..2)
        .map(|j| f32_tensor(st, &format!("grad.step{k}.p{j}")))
        .collect()
}

/// Largest error of `got` against `want` in units of the tolerance `rel * |want| + abs`
/// (<= 1 passes), with the worst element for the message.
fn worst(got: &ArrayD<f32>, want: &ArrayD<f32>, rel: f64, abs: f64) -> (f64, String) {
    assert_eq!(got.shape(), want.shape());
    let mut out = (0.0, String::new());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (f64::from(g), f64::from(w));
        let r = (g - w).abs() / (rel * w.abs() + abs);
        if r.is_nan() || r > out.0 {
            out = (r, format!("element {i}: got {g:e}, want {w:e}"));
        }
    }
    out
}

/// Runs `opt` through the six fixture steps from `start` (1-based) and checks every step.
fn check_steps(
    st: &SafeTensors,
    case: &str,
    opt: &mut Optimizer,
    params: &mut [ArrayD<f32>],
    start: usize,
) {
    let mut max_ratio: f64 = 0.0;
    for k in start..=STEPS {
        opt.step(params, &grads(st, k)).unwrap();
        for (j, p) in params.iter().enumerate() {
            let want = f32_tensor(st, &format!("{case}.step{k}.p{j}"));
            let (r, at) = worst(p, &want, REL, ABS);
            assert!(
                r <= 1.0,
                "{case} step {k} p{j}: {at} (error {r:.2} x tolerance)"
            );
            max_ratio = max_ratio.max(r);
        }
    }
    eprintln!("{case}: worst error {max_ratio:.3} x tolerance");
}

/// The optimiser cases of the fixture: name, settings, parameter 1 excluded from weight decay.
fn cases() -> Vec<(&'static str, OptimizerConfig, bool)> {
    let sgd = |lr, momentum, dampening, nesterov, weight_decay| {
        OptimizerConfig::Sgd(SgdConfig {
            lr,
            momentum,
            dampening,
            nesterov,
            weight_decay,
        })
    };
    vec![
        ("sgd_plain", sgd(0.01, 0.0, 0.0, false, 0.0), false),
        ("sgd_momentum", sgd(0.01, 0.9, 0.0, false, 0.0), false),
        ("sgd_nesterov_wd", sgd(0.01, 0.9, 0.0, true, 1e-2), false),
        ("sgd_dampening", sgd(0.01, 0.9, 0.1, false, 0.0), false),
        ("sgd_momentum_lr_0_1", sgd(0.1, 0.9, 0.0, false, 0.0), false),
        ("sgd_wd_masked", sgd(0.01, 0.9, 0.0, false, 1e-2), true),
        ("adam", OptimizerConfig::Adam(AdamConfig::new(0.01)), false),
        (
            "adam_wd",
            OptimizerConfig::Adam(AdamConfig {
                weight_decay: 1e-2,
                ..AdamConfig::new(0.01)
            }),
            false,
        ),
        (
            "adam_lr_0_1",
            OptimizerConfig::Adam(AdamConfig::new(0.1)),
            false,
        ),
        (
            "adamw",
            OptimizerConfig::AdamW(AdamWConfig::new(0.01)),
            false,
        ),
        (
            "adamw_masked",
            OptimizerConfig::AdamW(AdamWConfig::new(0.01)),
            true,
        ),
    ]
}

/// Every optimiser is held to 1e-6 relative, plus 1e-7 absolute for values near zero (the brief
/// allowed 1e-5 absolute for Adam; it is not needed: the worst case is ~0.3 of this tolerance).
const REL: f64 = 1e-6;
const ABS: f64 = 1e-7;

fn build(cfg: &OptimizerConfig, masked: bool) -> Optimizer {
    let mut opt = cfg.build().unwrap();
    if masked {
        opt.set_decay_mask(vec![true, false]);
    }
    opt
}

#[test]
fn optimisers_match_torch_step_for_step() {
    let bytes = fixture();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for (case, cfg, masked) in cases() {
        let mut opt = build(&cfg, masked);
        let mut params = init(&st);
        check_steps(&st, case, &mut opt, &mut params, 1);
        assert_eq!(opt.steps(), STEPS as u64);
    }
}

#[test]
fn optimisers_resumed_from_exported_state_match_torch() {
    let bytes = fixture();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for (case, cfg, masked) in cases() {
        let mut first = build(&cfg, masked);
        let mut params = init(&st);
        for k in 1..=3 {
            first.step(&mut params, &grads(&st, k)).unwrap();
        }
        let mut resumed = build(&cfg, masked);
        resumed.load_state(first.state()).unwrap();
        check_steps(&st, case, &mut resumed, &mut params, 4);
    }
}

#[test]
fn clip_grad_norm_matches_torch() {
    let bytes = fixture();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut clipped_steps = 0;
    for k in 1..=STEPS {
        let mut g = grads(&st, k);
        let before = g.clone();
        let total = clip_grad_norm(&mut g, 0.5);
        let want = f32_tensor(&st, &format!("clip.step{k}.total_norm"))[[0]];
        assert!(
            (f64::from(total) - f64::from(want)).abs() <= 1e-6 * f64::from(want),
            "step {k}: total norm {total} vs torch {want}"
        );
        for (j, gj) in g.iter().enumerate() {
            let want = f32_tensor(&st, &format!("clip.step{k}.p{j}"));
            let (r, at) = worst(gj, &want, 1e-6, 1e-9);
            assert!(r <= 1.0, "clip step {k} p{j}: {at}");
        }
        if g != before {
            clipped_steps += 1;
        }
    }
    // The fixture's gradient scales make some steps clip and others not.
    assert!(
        clipped_steps > 0 && clipped_steps < STEPS,
        "{clipped_steps} steps clipped"
    );
}

fn check_lrs(name: &str, schedule: Schedule, metrics: Option<&[f64]>, want: &[f64]) {
    let mut s = Scheduler::new(schedule, 0.1).unwrap();
    let mut got = vec![s.lr()];
    for e in 0..want.len() - 1 {
        got.push(s.step(metrics.map(|m| m[e])).unwrap());
    }
    for (e, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs(),
            "{name} epoch {e}: got {g}, torch {w}"
        );
    }
}

#[test]
fn step_and_cosine_schedules_match_torch() {
    let bytes = fixture();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    check_lrs(
        "step",
        Schedule::Step {
            step_size: 3,
            gamma: 0.5,
        },
        None,
        &f64_vec(&st, "lr.step"),
    );
    check_lrs(
        "cosine",
        Schedule::Cosine {
            t_max: 10,
            eta_min: 1e-4,
        },
        None,
        &f64_vec(&st, "lr.cosine"),
    );
}

#[test]
fn reduce_on_plateau_matches_torch() {
    let bytes = fixture();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let metrics = f64_vec(&st, "plateau.metrics");
    let base = PlateauConfig {
        factor: 0.5,
        patience: 2,
        ..PlateauConfig::default()
    };
    check_lrs(
        "plateau",
        Schedule::ReduceOnPlateau(base.clone()),
        Some(&metrics),
        &f64_vec(&st, "lr.plateau"),
    );
    check_lrs(
        "plateau_cooldown",
        Schedule::ReduceOnPlateau(PlateauConfig {
            cooldown: 2,
            ..base
        }),
        Some(&metrics),
        &f64_vec(&st, "lr.plateau_cooldown"),
    );
    let max = PlateauConfig {
        mode: PlateauMode::Max,
        factor: 0.5,
        patience: 1,
        threshold: 0.01,
        threshold_mode: ThresholdMode::Abs,
        min_lr: 0.03,
        ..PlateauConfig::default()
    };
    check_lrs(
        "plateau_max",
        Schedule::ReduceOnPlateau(max),
        Some(&f64_vec(&st, "plateau_max.metrics")),
        &f64_vec(&st, "lr.plateau_max"),
    );
}
