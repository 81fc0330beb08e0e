//! Tests of the attribution methods: against saliency and ISM, on linear models where every
//! method's answer is known, and completeness of the methods with a reference.

use super::*;
use crate::arch::Arch;
use crate::model::{Scoring, Strand};
use crate::rng;

pub(super) fn random_seq(r: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| b"ACGT"[rng::below(r, 4)]).collect()
}

pub(super) fn model_of(toml: &str, tasks: usize, seed: u64) -> Model {
    let arch = Arch::from_toml(toml).unwrap();
    let names = (0..tasks).map(|t| format!("t{t}")).collect();
    Model::new(arch, names, &mut rng::seeded(seed), 3.0).unwrap()
}

/// A DeepBind-shaped model with random weights (nonlinear, smooth after the pooling).
pub(super) fn deepbind_like(tasks: usize, seed: u64) -> Model {
    model_of(
        "name='t'\ninput={channels=4}\n[[layers]]\ntype='conv1d'\nout_channels=6\nkernel_size=5\n\
         [[layers]]\ntype='relu'\n[[layers]]\ntype='global_max_pool'\n\
         [[layers]]\ntype='linear'\nout_features=8\n[[layers]]\ntype='tanh'\n\
         [[layers]]\ntype='dropout'\np=0.5\n[[layers]]\ntype='linear'\n",
        tasks,
        seed,
    )
}

/// A model linear in its input: conv, global average pool, linear.
pub(super) fn linear_model() -> Model {
    model_of(
        "name='lin'\ninput={channels=4}\n[[layers]]\ntype='conv1d'\nout_channels=3\nkernel_size=4\n\
         [[layers]]\ntype='global_avg_pool'\n[[layers]]\ntype='linear'\n",
        2,
        4,
    )
}

/// A smooth model: conv, tanh, average pooling, sigmoid, linear.
fn smooth_model() -> Model {
    model_of(
        "name='s'\ninput={channels=4}\n[[layers]]\ntype='conv1d'\nout_channels=5\nkernel_size=3\n\
         [[layers]]\ntype='tanh'\n[[layers]]\ntype='global_avg_pool'\n\
         [[layers]]\ntype='linear'\nout_features=4\n[[layers]]\ntype='sigmoid'\n[[layers]]\ntype='linear'\n",
        2,
        9,
    )
}

pub(super) fn presentations() -> Vec<(Strand, Scoring)> {
    let mut v = Vec::new();
    for strand in [Strand::None, Strand::Mean, Strand::Max] {
        v.push((strand, Scoring::Plain));
        for average in [false, true] {
            v.push((
                strand,
                Scoring::DeepBind {
                    window: Some(9),
                    average,
                },
            ));
        }
    }
    v
}

fn opts(method: Method) -> Options {
    Options {
        method,
        ..Options::default()
    }
}

fn seqs(seed: u64, lens: &[usize]) -> Vec<Vec<u8>> {
    let mut r = rng::seeded(seed);
    lens.iter().map(|&n| random_seq(&mut r, n)).collect()
}

#[test]
fn gradient_is_saliencys_gradient_under_every_rule() {
    let mut all = seqs(1, &[12, 7, 12, 20]);
    all[3][4] = b'N';
    let refs: Vec<&[u8]> = all.iter().map(|s| s.as_slice()).collect();
    for (strand, scoring) in presentations() {
        let mut model = deepbind_like(2, 3);
        model.meta.strand = strand;
        model.meta.scoring = scoring;
        let pres = Presentation::of(&model, None).unwrap();
        let sal = crate::interpret::saliency::saliency(&model, &pres, &refs, &[1, 0], 64).unwrap();
        for method in [Method::Gradient, Method::InputXGradient] {
            let mut o = opts(method);
            // A small budget: one sequence per pass.
            o.budget = 10;
            let got = attribute(&model, &pres, &refs, &[1, 0], &o, &mut rng::seeded(0)).unwrap();
            for (i, (a, s)) in got.iter().zip(&sal).enumerate() {
                assert_eq!(a.output, s.output, "{strand:?} {scoring:?} seq {i}");
                let diff = (&a.hypothetical - &s.grad).mapv(f32::abs);
                assert!(
                    diff.iter().all(|&d| d < 1e-6),
                    "{strand:?} {scoring:?} seq {i}"
                );
                let v = a.per_position();
                assert!((&v - &s.values).iter().all(|d| d.abs() < 1e-6));
                assert!(a.reference.is_none() && a.delta.is_none());
            }
        }
    }
}

#[test]
fn on_a_linear_model_integrated_gradients_is_exact_and_ism_is_the_centred_gradient() {
    let all = seqs(2, &[14, 9]);
    let refs: Vec<&[u8]> = all.iter().map(|s| s.as_slice()).collect();
    for (strand, scoring) in [
        (Strand::None, Scoring::Plain),
        (Strand::Mean, Scoring::Plain),
        (
            Strand::Mean,
            Scoring::DeepBind {
                window: Some(6),
                average: true,
            },
        ),
    ] {
        let mut model = linear_model();
        model.meta.strand = strand;
        model.meta.scoring = scoring;
        let pres = Presentation::of(&model, None).unwrap();
        let grad = attribute(
            &model,
            &pres,
            &refs,
            &[0, 1],
            &opts(Method::Gradient),
            &mut rng::seeded(0),
        )
        .unwrap();
        for baseline in [Baseline::Zeros, Baseline::Uniform, Baseline::Shuffled] {
            let o = Options {
                method: Method::IntegratedGradients,
                steps: 3,
                baseline,
                references: 4,
                ..Options::default()
            };
            let ig = attribute(&model, &pres, &refs, &[0, 1], &o, &mut rng::seeded(5)).unwrap();
            for (a, g) in ig.iter().zip(&grad) {
                // Linear: the path gradient is the gradient, whatever the steps.
                let d = a.delta.as_ref().unwrap();
                assert!(d.iter().all(|d| d.abs() < 1e-4), "{baseline:?}: {d:?}");
                if baseline == Baseline::Zeros {
                    assert!(
                        (&a.hypothetical - &g.hypothetical)
                            .iter()
                            .all(|d| d.abs() < 1e-5)
                    );
                }
            }
        }
        let ism = attribute(
            &model,
            &pres,
            &refs,
            &[0, 1],
            &opts(Method::Ism),
            &mut rng::seeded(0),
        )
        .unwrap();
        for (a, g) in ism.iter().zip(&grad) {
            assert_eq!(a.output.len(), 2);
            for t in 0..2 {
                for p in 0..a.hypothetical.shape()[2] {
                    let col = g.hypothetical.slice(ndarray::s![t, .., p]);
                    let mean = col.sum() / 4.0;
                    for c in 0..4 {
                        let want = col[c] - mean;
                        let got = a.hypothetical[[t, c, p]];
                        assert!(
                            (got - want).abs() < 1e-4,
                            "{strand:?} t{t} p{p} c{c}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn integrated_gradients_converges_with_steps_on_a_smooth_model() {
    let all = seqs(3, &[16]);
    let refs: Vec<&[u8]> = all.iter().map(|s| s.as_slice()).collect();
    for strand in [Strand::None, Strand::Mean] {
        let mut model = smooth_model();
        model.meta.strand = strand;
        let pres = Presentation::of(&model, None).unwrap();
        let delta = |steps| {
            let o = Options {
                method: Method::IntegratedGradients,
                steps,
                baseline: Baseline::Uniform,
                ..Options::default()
            };
            let a = attribute(&model, &pres, &refs, &[0], &o, &mut rng::seeded(0)).unwrap();
            a[0].delta.as_ref().unwrap()[0].abs()
        };
        let (d1, d20) = (delta(1), delta(20));
        assert!(d20 < 1e-5, "{strand:?}: delta {d20} with 20 steps");
        assert!(d20 < d1, "{strand:?}: {d1} -> {d20}");
    }
}

#[test]
fn shuffled_references_are_seeded() {
    let all = seqs(4, &[30]);
    let refs: Vec<&[u8]> = all.iter().map(|s| s.as_slice()).collect();
    let model = deepbind_like(1, 2);
    let pres = Presentation::of(&model, None).unwrap();
    let o = Options {
        method: Method::IntegratedGradients,
        steps: 4,
        baseline: Baseline::Shuffled,
        references: 3,
        ..Options::default()
    };
    let a = attribute(&model, &pres, &refs, &[0], &o, &mut rng::seeded(7)).unwrap();
    let b = attribute(&model, &pres, &refs, &[0], &o, &mut rng::seeded(7)).unwrap();
    let c = attribute(&model, &pres, &refs, &[0], &o, &mut rng::seeded(8)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a[0].hypothetical, c[0].hypothetical);
}

#[test]
fn actual_contributions_are_the_input_times_the_hypothetical() {
    let mut s = seqs(5, &[11]).remove(0);
    s[3] = b'N';
    let model = deepbind_like(1, 2);
    let pres = Presentation::of(&model, None).unwrap();
    for method in [Method::Gradient, Method::Ism] {
        let a = &attribute(
            &model,
            &pres,
            &[&s],
            &[0],
            &opts(method),
            &mut rng::seeded(0),
        )
        .unwrap()[0];
        for (p, &b) in s.iter().enumerate() {
            for c in 0..4 {
                let x = match encode::base_index(b) {
                    Some(b) if b == c => 1.0,
                    Some(_) => 0.0,
                    None => 0.25,
                };
                assert_eq!(a.contributions[[0, c, p]], x * a.hypothetical[[0, c, p]]);
            }
        }
        if method == Method::Ism {
            // Centred effects: an N position contributes nothing.
            assert!(a.per_position()[[0, 3]].abs() < 1e-6);
        }
    }
}

#[test]
fn image_models_tasks_and_lengths_are_errors() {
    let image = Model::new(
        Arch::builtin("lenet5").unwrap(),
        (0..10).map(|i| i.to_string()).collect(),
        &mut rng::seeded(1),
        1.0,
    )
    .unwrap();
    let e = check_model(&image).unwrap_err().to_string();
    assert!(e.contains("DNA sequence models"), "{e}");
    let model = deepbind_like(1, 1);
    let pres = Presentation::of(&model, None).unwrap();
    let o = opts(Method::Gradient);
    let e = attribute(&model, &pres, &[b"ACGTACGT"], &[1], &o, &mut rng::seeded(0)).unwrap_err();
    assert!(e.to_string().contains("task index 1"), "{e}");
    assert!(attribute(&model, &pres, &[b"ACG"], &[0], &o, &mut rng::seeded(0)).is_err());
    assert!(attribute(&model, &pres, &[b""], &[0], &o, &mut rng::seeded(0)).is_err());
    let zero_steps = Options {
        method: Method::IntegratedGradients,
        steps: 0,
        ..Options::default()
    };
    assert!(
        attribute(
            &model,
            &pres,
            &[b"ACGTACGT"],
            &[0],
            &zero_steps,
            &mut rng::seeded(0)
        )
        .is_err()
    );
}

#[test]
fn tsv_rows() {
    let attr = Attribution {
        output: vec![1.0],
        reference: Some(vec![0.25]),
        hypothetical: ndarray::Array3::from_shape_vec(
            (1, 4, 2),
            vec![0.5, 1.0, -0.5, 0.0, 0.0, 2.0, 1e-7, -3.0],
        )
        .unwrap(),
        contributions: ndarray::Array3::from_shape_vec(
            (1, 4, 2),
            vec![0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -3.0],
        )
        .unwrap(),
        delta: Some(vec![-2.75]),
        residuals: None,
    };
    let mut out = tsv_header(false).as_bytes().to_vec();
    write_tsv(&mut out, "s1", b"aT", &attr, &["x"], None).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "name\tpos\tbase\ttask\tattribution\thyp_A\thyp_C\thyp_G\thyp_T\n\
         s1\t1\tA\tx\t0.5\t0.5\t-0.5\t0\t1e-7\n\
         s1\t2\tT\tx\t-3\t1\t0\t2\t-3\n"
    );
    let mut g = tsv_header(true).as_bytes().to_vec();
    let locus = Locus {
        contig: "chr2",
        start: 9,
        contig_len: 10,
    };
    write_tsv(&mut g, "s1", b"aT", &attr, &["x"], Some(locus)).unwrap();
    assert_eq!(
        String::from_utf8(g).unwrap(),
        "name\tpos\tchrom\tgpos\tbase\ttask\tattribution\thyp_A\thyp_C\thyp_G\thyp_T\n\
         s1\t1\tchr2\t10\tA\tx\t0.5\t0.5\t-0.5\t0\t1e-7\n\
         s1\t2\tchr2\t.\tT\tx\t-3\t1\t0\t2\t-3\n"
    );
    let mut d = Vec::new();
    write_deltas(&mut d, "s1", &attr, &["x"]).unwrap();
    assert_eq!(String::from_utf8(d).unwrap(), "s1\tx\t1\t0.25\t-2.75\n");
}

/// A builtin architecture with `sets` applied, random weights (batch-norm statistics too).
fn builtin(name: &str, sets: &[&str], seed: u64) -> Model {
    let mut arch = Arch::builtin(name).unwrap();
    for s in sets {
        arch.set(s).unwrap();
    }
    let mut m = Model::new(
        arch,
        vec!["a".into(), "b".into()],
        &mut rng::seeded(seed),
        1.0,
    )
    .unwrap();
    let mut r = rng::seeded(seed + 100);
    for (p, spec) in m.params.iter_mut().zip(m.net.params()) {
        let (lo, hi) = match (spec.suffix, spec.init) {
            ("running_mean", _) => (-0.5, 0.5),
            ("running_var", _) => (0.5, 2.0),
            ("weight", crate::nn::Init::Ones) => (0.5, 1.5),
            ("bias", crate::nn::Init::Zeros) => (-0.2, 0.2),
            _ => continue,
        };
        p.mapv_inplace(|_| rng::uniform(&mut r, lo, hi));
    }
    m
}

fn deep_opts(method: Method, references: usize) -> Options {
    Options {
        method,
        baseline: Baseline::Shuffled,
        references,
        ..Options::default()
    }
}

/// The largest |delta| of DeepLIFT (one shuffled reference) and DeepSHAP (`refs` references)
/// over `seqs` and both tasks, asserting each under `bound`.
fn completeness(model: &Model, seqs: &[Vec<u8>], refs: usize, bound: f32) -> f32 {
    let pres = Presentation::of(model, None).unwrap();
    let s: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
    // The unfused network DeepLIFT runs scores as the scorer does.
    let want = crate::score::Scorer::new(model).score_raw(&s).unwrap();
    let mut worst = 0f32;
    for o in [
        deep_opts(Method::DeepLift, 1),
        deep_opts(Method::DeepShap, refs),
    ] {
        let a = attribute(model, &pres, &s, &[0, 1], &o, &mut rng::seeded(3)).unwrap();
        for (i, a) in a.iter().enumerate() {
            for t in 0..2 {
                let (got, w) = (a.output[t], want[[i, t]]);
                assert!(
                    (got - w).abs() < 1e-5 * (1.0 + w.abs()),
                    "seq {i}: {got} vs {w}"
                );
            }
            let d = a.delta.as_ref().unwrap();
            for (t, d) in d.iter().enumerate() {
                let total: f32 = a.contributions.index_axis(Axis(0), t).sum();
                let diff = a.output[t] - a.reference.as_ref().unwrap()[t];
                assert!(
                    d.abs() < bound,
                    "{:?} seq {i} task {t}: delta {d} (sum {total}, f(x) - f(ref) {diff})",
                    o.method
                );
                // The residuals account for the delta but for rounding at the input.
                let res: f64 = a.residuals.as_ref().unwrap()[t].iter().map(|r| r.1).sum();
                assert!(
                    (res - *d as f64).abs() < 1e-4,
                    "{res} vs {d}: {:?}",
                    a.residuals
                );
                worst = worst.max(d.abs());
            }
            // Not a trivial pass: the attributions are not all zero.
            assert!(a.contributions.iter().any(|&v| v != 0.0));
        }
    }
    worst
}

#[test]
fn deeplift_is_complete_on_a_deepbind_network_under_every_strand_and_window_rule() {
    let all = seqs(11, &[40, 25, 40]);
    for (strand, scoring) in presentations() {
        let mut model = builtin("deepbind", &[], 1);
        model.meta.strand = strand;
        model.meta.scoring = scoring;
        let worst = completeness(&model, &all, 4, 1e-4);
        eprintln!("deepbind {strand:?} {scoring:?}: largest |delta| {worst:.2e}");
    }
}

#[test]
fn deeplift_is_complete_on_a_reduced_deepsea_network() {
    let model = builtin(
        "deepsea",
        &[
            "layers.0.out_channels=16",
            "layers.4.out_channels=24",
            "layers.8.out_channels=32",
            "layers.12.out_features=20",
        ],
        2,
    );
    for strand in [Strand::None, Strand::Mean] {
        let mut model = model.clone();
        model.meta.strand = strand;
        let worst = completeness(&model, &seqs(12, &[1000, 1000]), 3, 1e-4);
        eprintln!("deepsea (reduced) {strand:?}: largest |delta| {worst:.2e}");
    }
}

#[test]
fn deeplift_is_complete_on_the_dilated_residual_network() {
    let mut model = builtin("dilated", &[], 3);
    model.meta.strand = Strand::Max;
    let worst = completeness(&model, &seqs(13, &[1000, 1000]), 3, 1e-4);
    eprintln!("dilated: largest |delta| {worst:.2e}");
}

#[test]
fn deeplift_multipliers_by_hand() {
    // conv1d of kernel 2 over a 2 bp input (one output), ReLU, flatten, linear: u = w1 . x + b1,
    // f = w2 relu(u) + b2. Against the zero reference: u_ref = b1 = -1 and u_x = 2 + 1 - 1 = 2
    // for "AC" (A at 0 weighs 2, C at 1 weighs 1), so the ReLU's multiplier is (2 - 0) / (2 + 1)
    // = 2/3, where its gradient would be 1; each input's multiplier is w1 x 2/3 x w2.
    let mut model = model_of(
        "name='h'\ninput={channels=4, length=2}\n[[layers]]\ntype='conv1d'\nout_channels=1\nkernel_size=2\n\
         [[layers]]\ntype='relu'\n[[layers]]\ntype='flatten'\n[[layers]]\ntype='linear'\n",
        1,
        1,
    );
    let w1 = [[2.0f32, 0.5], [-1.0, 1.0], [0.25, -2.0], [1.5, 3.0]];
    model.params[0] = ndarray::Array3::from_shape_fn((1, 4, 2), |(_, c, k)| w1[c][k]).into_dyn();
    model.params[1] = ndarray::arr1(&[-1.0f32]).into_dyn();
    model.params[2] = ndarray::arr2(&[[3.0f32]]).into_dyn();
    model.params[3] = ndarray::arr1(&[0.5f32]).into_dyn();
    let pres = Presentation::of(&model, None).unwrap();
    let o = Options {
        method: Method::DeepLift,
        baseline: Baseline::Zeros,
        ..Options::default()
    };
    let a = &attribute(&model, &pres, &[b"AC"], &[0], &o, &mut rng::seeded(0)).unwrap()[0];
    for (c, row) in w1.iter().enumerate() {
        for (k, w) in row.iter().enumerate() {
            let want = w * 2.0 / 3.0 * 3.0;
            let got = a.hypothetical[[0, c, k]];
            assert!(
                (got - want).abs() < 1e-6,
                "base {c} pos {k}: {got} vs {want}"
            );
        }
    }
    // Actual: A at 0 gives 4, C at 1 gives 2; f(x) - f(ref) = 3 x 2 + 0.5 - 0.5 = 6.
    let v = a.per_position();
    assert!((v[[0, 0]] - 4.0).abs() < 1e-6 && (v[[0, 1]] - 2.0).abs() < 1e-6);
    assert_eq!((a.output[0], a.reference.as_ref().unwrap()[0]), (6.5, 0.5));
    assert!(a.delta.as_ref().unwrap()[0].abs() < 1e-6);
    // The gradient would have given 6 and 3: more than the difference explained.
    let g = &attribute(
        &model,
        &pres,
        &[b"AC"],
        &[0],
        &opts(Method::Gradient),
        &mut rng::seeded(0),
    )
    .unwrap()[0];
    assert!((g.per_position()[[0, 0]] - 6.0).abs() < 1e-6);
}

#[test]
fn deeplift_on_a_linear_model_is_integrated_gradients() {
    let all = seqs(14, &[14, 9]);
    let s: Vec<&[u8]> = all.iter().map(|s| s.as_slice()).collect();
    let mut model = linear_model();
    model.meta.strand = Strand::Mean;
    let pres = Presentation::of(&model, None).unwrap();
    for baseline in [Baseline::Zeros, Baseline::Uniform, Baseline::Shuffled] {
        let o = |method| Options {
            method,
            baseline,
            steps: 2,
            references: 2,
            ..Options::default()
        };
        let dl = attribute(
            &model,
            &pres,
            &s,
            &[0, 1],
            &o(Method::DeepLift),
            &mut rng::seeded(1),
        )
        .unwrap();
        let ig = attribute(
            &model,
            &pres,
            &s,
            &[0, 1],
            &o(Method::IntegratedGradients),
            &mut rng::seeded(1),
        )
        .unwrap();
        for (a, b) in dl.iter().zip(&ig) {
            assert!(
                (&a.hypothetical - &b.hypothetical)
                    .iter()
                    .all(|d| d.abs() < 1e-5)
            );
        }
    }
}

#[test]
fn an_op_without_a_rescale_rule_is_named() {
    use crate::tensor::ops::rescale::Pairs;
    use crate::tensor::{Array, Tape};
    let mut tape = Tape::deeplift();
    let x = tape.param(Array::from_elem(ndarray::IxDyn(&[2, 3]), 0.5));
    let h = tape.tanh(x);
    let y = tape.mul(h, h).unwrap();
    let seed = Array::from_elem(ndarray::IxDyn(&[1, 3]), 1.0);
    let e = tape
        .backward_rescale(y, seed.clone(), &Pairs::halves(1))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("no rescale rule for mul") && e.contains("product of two"),
        "{e}"
    );
    // A seed of the wrong shape, and pairs whose input rows are not inputs, are refused.
    let two = Array::from_elem(ndarray::IxDyn(&[2, 3]), 1.0);
    assert!(tape.backward_rescale(h, two, &Pairs::halves(1)).is_err());
    let bad = Pairs {
        inputs: 1,
        partner: vec![1],
    };
    assert!(tape.backward_rescale(h, seed.clone(), &bad).is_err());
    // And a tape that fuses layers is refused.
    let mut tape = Tape::new();
    let x = tape.param(Array::zeros(ndarray::IxDyn(&[2, 3])));
    let h = tape.tanh(x);
    assert!(tape.backward_rescale(h, seed, &Pairs::halves(1)).is_err());
}

#[test]
fn every_layer_of_the_builtin_sequence_networks_has_a_rule() {
    for name in ["deepbind", "deepsea", "dilated"] {
        let m = builtin(name, &[], 1);
        let rules: Vec<LayerRule> = m.net.layers().iter().map(layer_rule).collect();
        assert!(rules.contains(&LayerRule::Rescale) && rules.contains(&LayerRule::Linear));
    }
}
