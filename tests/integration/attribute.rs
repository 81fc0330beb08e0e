//! `seqcnn attribute`: every method through the CLI on models with random weights, TSV and
//! `.npz` read back, agreement with `saliency` and `mutate`, convergence deltas and DeepLIFT's
//! completeness check, BED input read from the vendored genome slice, bad input, fixed references
//! (`--references-file`), and parity with captum on a network exported from PyTorch (fixture:
//! tests/fixtures/make_attribute_parity.py) and on three seqcnn networks exported to PyTorch
//! (tests/fixtures/make_attribute_parity_nets.py).

use crate::common::{data, fails_with, ok, tempdir};
use ndarray::{ArrayD, Axis};
use seqcnn::arch::Arch;
use seqcnn::model::{Model, Strand};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A model of `toml`'s architecture with random weights and `tasks` tasks, saved under `dir`.
fn saved(dir: &Path, file: &str, toml: &str, tasks: &[&str], strand: Strand) -> PathBuf {
    let arch = Arch::from_toml(toml).expect("arch");
    let names = tasks.iter().map(|t| t.to_string()).collect();
    let mut m = Model::new(arch, names, &mut seqcnn::rng::seeded(3), 3.0).expect("model");
    m.meta.strand = strand;
    let path = dir.join(file);
    m.save(&path).expect("save");
    path
}

/// A DeepBind-shaped network of any input length, two tasks.
fn deepbind_like(dir: &Path, strand: Strand) -> PathBuf {
    saved(
        dir,
        "db.safetensors",
        "name='db'\ninput={channels=4}\n[[layers]]\ntype='conv1d'\nout_channels=6\nkernel_size=5\n\
         [[layers]]\ntype='relu'\n[[layers]]\ntype='global_max_pool'\n\
         [[layers]]\ntype='linear'\nout_features=8\n[[layers]]\ntype='tanh'\n[[layers]]\ntype='linear'\n",
        &["CTCF", "REST"],
        strand,
    )
}

/// A smooth network (tanh, average pooling, sigmoid), one task.
fn smooth(dir: &Path) -> PathBuf {
    saved(
        dir,
        "smooth.safetensors",
        "name='s'\ninput={channels=4}\n[[layers]]\ntype='conv1d'\nout_channels=5\nkernel_size=3\n\
         [[layers]]\ntype='tanh'\n[[layers]]\ntype='global_avg_pool'\n\
         [[layers]]\ntype='linear'\nout_features=4\n[[layers]]\ntype='sigmoid'\n[[layers]]\ntype='linear'\n",
        &["bound"],
        Strand::Mean,
    )
}

/// Random sequences of `len` bp as FASTA under `dir`, one with an N.
fn fasta(dir: &Path, n: usize, len: usize) -> PathBuf {
    let mut rng = seqcnn::rng::seeded(9);
    let mut text = String::new();
    for i in 0..n {
        let mut seq: Vec<u8> = (0..len)
            .map(|_| b"ACGT"[seqcnn::rng::below(&mut rng, 4)])
            .collect();
        if i == 1 {
            seq[len / 2] = b'N';
        }
        text.push_str(&format!(">s{i}\n{}\n", String::from_utf8(seq).unwrap()));
    }
    let path = dir.join("seqs.fa");
    std::fs::write(&path, text).unwrap();
    path
}

/// The rows of a TSV (header first), split on tabs.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split('\t').map(String::from).collect())
        .collect()
}

/// The float arrays of an `.npz` (its text arrays, `names` and `loci`, are read with
/// `seqcnn::io::npz::read_text`).
fn npz(path: &Path) -> HashMap<String, ArrayD<f32>> {
    let mut r = ndarray_npy::NpzReader::new(std::fs::File::open(path).expect("npz")).expect("zip");
    r.names()
        .expect("names")
        .into_iter()
        .filter(|n| n != "names" && n != "loci")
        .map(|n| {
            let a: ArrayD<f32> = r.by_name(&n).expect("array");
            (n, a)
        })
        .collect()
}

#[test]
fn input_x_gradient_per_position_is_saliency() {
    let dir = tempdir();
    for strand in [Strand::None, Strand::Mean, Strand::Max] {
        let model = deepbind_like(dir.path(), strand);
        let fa = fasta(dir.path(), 4, 30);
        let attr = rows(&ok(&[
            "attribute",
            "--model",
            s(&model),
            "--method",
            "input-x-gradient",
            s(&fa),
        ]));
        let sal = rows(&ok(&["saliency", "--model", s(&model), s(&fa)]));
        assert_eq!(
            attr[0],
            [
                "name",
                "pos",
                "base",
                "task",
                "attribution",
                "hyp_A",
                "hyp_C",
                "hyp_G",
                "hyp_T"
            ]
        );
        assert_eq!(sal[0], ["name", "pos", "base", "task", "saliency"]);
        assert_eq!(attr.len(), 1 + 4 * 30 * 2);
        assert_eq!(attr.len(), sal.len());
        for (a, b) in attr[1..].iter().zip(&sal[1..]) {
            assert_eq!(a[..4], b[..4]);
            let (x, y): (f64, f64) = (a[4].parse().unwrap(), b[4].parse().unwrap());
            assert!((x - y).abs() < 2e-6, "{strand:?} {a:?} vs {b:?}");
            // The actual contribution is the hypothetical one of the base present.
            let hyp: Vec<f64> = a[5..9].iter().map(|v| v.parse().unwrap()).collect();
            let want = match a[2].as_str() {
                "A" => hyp[0],
                "C" => hyp[1],
                "G" => hyp[2],
                "T" => hyp[3],
                _ => hyp.iter().sum::<f64>() * 0.25,
            };
            assert!((x - want).abs() < 1e-6 * (1.0 + x.abs()), "{a:?}");
        }
    }
}

#[test]
fn ism_is_mutates_logit_differences_centred() {
    let dir = tempdir();
    let model = deepbind_like(dir.path(), Strand::Max);
    let fa = fasta(dir.path(), 3, 25);
    let attr = rows(&ok(&[
        "attribute",
        "--model",
        s(&model),
        "--method",
        "ism",
        "--task",
        "REST",
        s(&fa),
    ]));
    let ism = rows(&ok(&["mutate", "--model", s(&model), "--logit", s(&fa)]));
    let col = ism[0].iter().position(|c| c == "REST:logit_diff").unwrap();
    // (name, pos) -> effect of each base (0 for the base present).
    let mut effects: HashMap<(String, String), [f64; 4]> = HashMap::new();
    for r in &ism[1..] {
        let e = effects.entry((r[0].clone(), r[1].clone())).or_default();
        let c = "ACGT".find(r[3].as_str()).unwrap();
        e[c] = r[col].parse().unwrap();
    }
    assert_eq!(attr.len() - 1, effects.len());
    for a in &attr[1..] {
        assert_eq!(a[3], "REST");
        let e = effects[&(a[0].clone(), a[1].clone())];
        let mean = e.iter().sum::<f64>() / 4.0;
        for c in 0..4 {
            let got: f64 = a[5 + c].parse().unwrap();
            assert!((got - (e[c] - mean)).abs() < 1e-4, "{a:?} vs {e:?}");
        }
    }
}

#[test]
fn npz_holds_sequences_hypothetical_and_actual_contributions_for_modisco() {
    let dir = tempdir();
    let model = smooth(dir.path());
    let fa = fasta(dir.path(), 5, 40);
    let out = dir.path().join("ig.npz");
    let prefix = dir.path().join("mo");
    let tsv = ok(&[
        "attribute",
        "--model",
        s(&model),
        "--method",
        "integrated-gradients",
        "--baseline",
        "shuffled",
        "--references",
        "3",
        "--steps",
        "30",
        s(&fa),
    ]);
    ok(&[
        "attribute",
        "--model",
        s(&model),
        "--method",
        "integrated-gradients",
        "--baseline",
        "shuffled",
        "--references",
        "3",
        "--steps",
        "30",
        s(&fa),
        "--out",
        s(&out),
        "--modisco",
        s(&prefix),
    ]);
    let a = npz(&out);
    let mut names: Vec<&str> = a.keys().map(|k| k.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "attributions",
            "deltas",
            "hypothetical",
            "outputs",
            "references",
            "sequences"
        ]
    );
    for k in ["attributions", "hypothetical", "sequences"] {
        assert_eq!(a[k].shape(), &[5, 4, 40], "{k}");
    }
    // The records' names as a NumPy unicode array; no loci for FASTA input.
    let names = seqcnn::io::npz::read_text(&out, "names").unwrap().unwrap();
    assert_eq!(names, ["s0", "s1", "s2", "s3", "s4"]);
    assert_eq!(seqcnn::io::npz::read_text(&out, "loci").unwrap(), None);
    let seqs = &a["sequences"];
    // One-hot in A, C, G, T order, N = 0.25.
    assert_eq!(
        seqs[[0, 0, 0]] + seqs[[0, 1, 0]] + seqs[[0, 2, 0]] + seqs[[0, 3, 0]],
        1.0
    );
    assert_eq!(seqs[[1, 2, 20]], 0.25);
    assert_eq!(a["attributions"], seqs * &a["hypothetical"]);
    // The TSV's numbers, in the same order.
    let t = rows(&tsv);
    let hyp = a["hypothetical"]
        .view()
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap();
    for r in &t[1..] {
        let i: usize = r[0][1..].parse().unwrap();
        let p: usize = r[1].parse::<usize>().unwrap() - 1;
        for c in 0..4 {
            let v: f32 = r[5 + c].parse().unwrap();
            assert_eq!(v, hyp[[i, c, p]], "{r:?}");
        }
    }
    // Completeness: the actual contributions sum to f(x) - mean f(ref) - delta.
    let attr = a["attributions"]
        .view()
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap();
    for i in 0..5 {
        let total: f64 = attr.index_axis(Axis(0), i).iter().map(|&v| v as f64).sum();
        let (f, r, d) = (a["outputs"][[i]], a["references"][[i]], a["deltas"][[i]]);
        assert!((total - (f - r - d) as f64).abs() < 1e-5, "seq {i}");
        assert!(d.abs() < 1e-3, "seq {i}: delta {d}");
    }
    // modisco-lite reads `arr_0` of each: one-hot [N, 4, L] and hypothetical [N, 4, L].
    let m = npz(&dir.path().join("mo.seqs.npz"));
    assert_eq!(m.keys().collect::<Vec<_>>(), ["arr_0"]);
    assert_eq!(m["arr_0"], a["sequences"]);
    let h = npz(&dir.path().join("mo.hyp.npz"));
    assert_eq!(h["arr_0"], a["hypothetical"]);
}

#[test]
fn integrated_gradients_deltas_shrink_with_steps_and_are_seeded() {
    let dir = tempdir();
    let model = smooth(dir.path());
    let fa = fasta(dir.path(), 3, 30);
    let deltas = |steps: &str, seed: &str| -> Vec<f64> {
        let d = dir.path().join(format!("d{steps}.{seed}.tsv"));
        ok(&[
            "attribute",
            "--model",
            s(&model),
            "--method",
            "integrated-gradients",
            "--baseline",
            "shuffled",
            "--steps",
            steps,
            "--seed",
            seed,
            s(&fa),
            "--out",
            "/dev/null",
            "--deltas",
            s(&d),
        ]);
        let t = rows(&std::fs::read_to_string(&d).unwrap());
        assert_eq!(t[0], ["name", "task", "output", "reference", "delta"]);
        t[1..].iter().map(|r| r[4].parse().unwrap()).collect()
    };
    let (one, many) = (deltas("1", "1"), deltas("40", "1"));
    assert_eq!(many.len(), 3);
    assert!(many.iter().all(|d| d.abs() < 1e-5), "{many:?}");
    let sum = |v: &[f64]| v.iter().map(|d| d.abs()).sum::<f64>();
    assert!(sum(&many) < sum(&one), "{one:?} -> {many:?}");
    assert_eq!(deltas("40", "1"), many);
    assert_ne!(deltas("40", "2"), many);
}

#[test]
fn bed_intervals_are_read_from_the_genome_with_genomic_positions() {
    let dir = tempdir();
    let model = deepbind_like(dir.path(), Strand::Max);
    let fa = data("genome/chr20_30M.fa.gz");
    let bed = dir.path().join("two.bed");
    let text = std::fs::read_to_string(data("genome/chr20_30M_CTCF.bed")).unwrap();
    std::fs::write(
        &bed,
        text.lines().take(2).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let t = rows(&ok(&[
        "attribute",
        "--model",
        s(&model),
        "--method",
        "gradient",
        "--genome",
        s(&fa),
        s(&bed),
        "--window",
        "21",
        "--task",
        "CTCF",
    ]));
    assert_eq!(t[0][..6], ["name", "pos", "chrom", "gpos", "base", "task"]);
    assert_eq!(t.len(), 1 + 2 * 21);
    // chr20 1339-1743 (labelled 1-based): the centre 1541, 21 bp from 1531 (0-based), gpos
    // 1532 first.
    assert_eq!(t[1][..4], ["chr20:1340-1743", "1", "chr20", "1532"]);
    let genome = seqcnn::io::genome::Genome::open(&fa).unwrap();
    let seq = genome.fetch("20", 1531, 1552).unwrap();
    for (p, r) in t[1..22].iter().enumerate() {
        assert_eq!(r[4].as_bytes()[0], seq[p].to_ascii_uppercase(), "{r:?}");
    }
}

#[test]
fn attribute_bad_input_fails_cleanly() {
    let dir = tempdir();
    let model = deepbind_like(dir.path(), Strand::None);
    let fa = fasta(dir.path(), 2, 20);
    let m = s(&model);
    let f = s(&fa);
    let out = dir.path().join("x.npz");
    let o = s(&out);
    for (args, needles) in [
        (
            vec!["--method", "gradient", "--steps", "5"],
            vec!["--steps applies to integrated-gradients"],
        ),
        (
            vec!["--method", "ism", "--deltas", "d.tsv"],
            vec!["--deltas applies to the methods with a reference"],
        ),
        (
            vec!["--method", "integrated-gradients", "--references", "3"],
            vec!["--references applies to --baseline shuffled"],
        ),
        (
            vec!["--method", "gradient", "--out", o],
            vec![".npz output holds one task", "--task"],
        ),
        (
            vec!["--method", "gradient", "--modisco", "mo"],
            vec!["--modisco goes with .npz output"],
        ),
        (
            vec!["--method", "gradient", "--task", "NRF1"],
            vec!["--task NRF1", "CTCF, REST"],
        ),
        (
            vec!["--method", "deepshap", "--baseline", "zeros"],
            vec!["--baseline applies to integrated-gradients and deeplift"],
        ),
        (
            vec!["--method", "integrated-gradients", "--allow-delta"],
            vec!["--allow-delta applies to deeplift and deepshap"],
        ),
        (
            vec![
                "--method",
                "ism",
                "--out",
                "m.seqs.npz",
                "--task",
                "CTCF",
                "--modisco",
                "m",
            ],
            vec!["--modisco and --out name the same file"],
        ),
        (
            vec!["--method", "deeplift", "--tolerance=-1"],
            vec!["--tolerance -1 must be a number >= 0"],
        ),
    ] {
        let mut all = vec!["attribute", "--model", m, f];
        all.extend(args);
        fails_with(2, &all, &needles);
    }
    // Sequences of two lengths cannot share .npz arrays.
    let ragged = dir.path().join("ragged.fa");
    std::fs::write(&ragged, ">a\nACGTACGTAC\n>b\nACGTACGTACGT\n").unwrap();
    fails_with(
        2,
        &[
            "attribute",
            "--model",
            m,
            "--method",
            "gradient",
            "--task",
            "CTCF",
            s(&ragged),
            "--out",
            o,
        ],
        &["record 'b' is 12 bp", "one length"],
    );
    // Too short for the first convolution: the record is named.
    let short = dir.path().join("short.fa");
    std::fs::write(&short, ">ok\nACGTACGTAC\n>tiny\nACG\n").unwrap();
    fails_with(
        2,
        &["attribute", "--model", m, "--method", "gradient", s(&short)],
        &["short.fa:3", "record 'tiny'"],
    );
    // An image model has no bases to attribute to.
    let lenet = dir.path().join("lenet.safetensors");
    let image = Model::new(
        Arch::builtin("lenet5").unwrap(),
        (0..10).map(|i| i.to_string()).collect(),
        &mut seqcnn::rng::seeded(1),
        1.0,
    )
    .unwrap();
    image.save(&lenet).unwrap();
    fails_with(
        2,
        &["attribute", "--model", s(&lenet), "--method", "gradient", f],
        &["DNA sequence models"],
    );
    assert!(!out.exists());
}

#[test]
fn deepshap_is_complete_and_its_deltas_are_written() {
    let dir = tempdir();
    for strand in [Strand::Max, Strand::Mean] {
        let model = deepbind_like(dir.path(), strand);
        let fa = fasta(dir.path(), 4, 50);
        let out = dir.path().join("shap.npz");
        let deltas = dir.path().join("d.tsv");
        ok(&[
            "attribute",
            "--model",
            s(&model),
            "--method",
            "deepshap",
            "--references",
            "5",
            "--task",
            "REST",
            s(&fa),
            "--out",
            s(&out),
            "--deltas",
            s(&deltas),
        ]);
        let a = npz(&out);
        let t = rows(&std::fs::read_to_string(&deltas).unwrap());
        assert_eq!(t.len(), 1 + 4);
        let attr = a["attributions"]
            .view()
            .into_dimensionality::<ndarray::Ix3>()
            .unwrap();
        for i in 0..4 {
            let total: f64 = attr.index_axis(Axis(0), i).iter().map(|&v| v as f64).sum();
            let (f, r) = (a["outputs"][[i]] as f64, a["references"][[i]] as f64);
            assert!(
                (total - (f - r)).abs() < 1e-5,
                "{strand:?} seq {i}: {total} vs {}",
                f - r
            );
            let d: f64 = t[1 + i][4].parse().unwrap();
            assert!(d.abs() < 1e-5 && (d - a["deltas"][[i]] as f64).abs() < 1e-12);
            assert_eq!(t[1 + i][..2], [format!("s{i}"), "REST".to_string()]);
        }
    }
}

#[test]
fn a_delta_over_the_tolerance_fails_naming_the_sequences_and_ops() {
    let dir = tempdir();
    let model = deepbind_like(dir.path(), Strand::None);
    let fa = fasta(dir.path(), 3, 30);
    let out = dir.path().join("dl.tsv");
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "attribute".to_string(),
            "--model".into(),
            s(&model).into(),
            "--method".into(),
            "deeplift".into(),
            "--baseline".into(),
            "uniform".into(),
            s(&fa).into(),
            "--out".into(),
            s(&out).into(),
        ];
        a.extend(extra.iter().map(|e| e.to_string()));
        a
    };
    // Rounding alone leaves deltas of about 1e-8: a tolerance of 0 trips on them.
    let strict = args(&["--tolerance", "0"]);
    let strict: Vec<&str> = strict.iter().map(|a| a.as_str()).collect();
    let err = fails_with(
        1,
        &strict,
        &[
            "miss completeness",
            "--tolerance 0",
            "'s0' (CTCF)",
            "residual by op",
            "--allow-delta",
        ],
    );
    assert!(err.contains("conv1d") || err.contains("linear"), "{err}");
    assert!(!out.exists());
    let allowed = args(&["--tolerance", "0", "--allow-delta"]);
    let allowed: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
    let run = crate::common::seqcnn(&allowed);
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("over --tolerance 0"));
    assert_eq!(
        rows(&std::fs::read_to_string(&out).unwrap()).len(),
        1 + 3 * 30 * 2
    );
    // The default tolerance passes, and the thread count changes no number.
    let plain = args(&["--threads", "1"]);
    let plain: Vec<&str> = plain.iter().map(|a| a.as_str()).collect();
    ok(&plain);
    let one = std::fs::read(&out).unwrap();
    let two = args(&["--threads", "2"]);
    let two: Vec<&str> = two.iter().map(|a| a.as_str()).collect();
    ok(&two);
    assert_eq!(std::fs::read(&out).unwrap(), one);
}

/// captum's attributions of the network of tests/fixtures/make_attribute_parity.py (captum 0.9.0,
/// torch 2.15.0): a tensor of the fixture as a three-axis array.
fn fixture(io: &[u8], name: &str) -> ndarray::Array3<f32> {
    let (shape, vals) = crate::common::tensor(io, name);
    // Deltas [N] and outputs [N, T] padded with unit axes to three.
    let mut dims = shape.clone();
    dims.resize(3, 1);
    ndarray::Array3::from_shape_vec((dims[0], dims[1], dims[2]), vals).unwrap()
}

fn max_diff(a: ndarray::ArrayView2<f32>, b: ndarray::ArrayView2<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn attributions_match_captum() {
    use seqcnn::attribute::{Baseline, Method, Options, attribute};
    let arch =
        Arch::from_toml(&std::fs::read_to_string(data("attribute_parity.toml")).unwrap()).unwrap();
    let model = Model::from_torch(
        arch,
        vec!["t0".into(), "t1".into()],
        &data("attribute_parity_state.safetensors"),
    )
    .unwrap();
    let io = std::fs::read(data("attribute_parity_io.safetensors")).unwrap();
    let x = fixture(&io, "input");
    // The one-hot input back to bases (0.25 everywhere: N).
    let seqs: Vec<Vec<u8>> = x
        .outer_iter()
        .map(|s| {
            s.columns()
                .into_iter()
                .map(|c| match c.iter().position(|&v| v == 1.0) {
                    Some(k) => b"ACGT"[k],
                    None => b'N',
                })
                .collect()
        })
        .collect();
    assert_eq!(seqs[1][17], b'N');
    let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
    let pres = seqcnn::score::Presentation::of(&model, Some(Strand::None)).unwrap();
    let run = |method, baseline| {
        let o = Options {
            method,
            baseline,
            steps: 50,
            ..Options::default()
        };
        attribute(
            &model,
            &pres,
            &refs,
            &[0, 1],
            &o,
            &mut seqcnn::rng::seeded(0),
        )
        .unwrap()
    };
    let out = fixture(&io, "output")
        .into_shape_with_order((3, 2))
        .unwrap();
    let mut worst: Vec<(String, f32)> = Vec::new();
    let mut check =
        |what: String, got: ndarray::ArrayView2<f32>, want: ndarray::ArrayView2<f32>, tol: f32| {
            let d = max_diff(got, want);
            assert!(d < tol, "{what}: differs from captum by {d}");
            match worst.iter_mut().find(|w| w.0 == what) {
                Some(w) => w.1 = w.1.max(d),
                None => worst.push((what, d)),
            }
        };
    let (grad, ixg, ig) = (
        run(Method::Gradient, Baseline::Zeros),
        run(Method::InputXGradient, Baseline::Zeros),
        run(Method::IntegratedGradients, Baseline::Zeros),
    );
    let (dl0, dlu) = (
        run(Method::DeepLift, Baseline::Zeros),
        run(Method::DeepLift, Baseline::Uniform),
    );
    for t in 0..2 {
        let f = |name: &str| fixture(&io, &format!("{name}.{t}"));
        let (sal, cixg, cig, cig_d) =
            (f("saliency"), f("input_x_gradient"), f("ig"), f("ig_delta"));
        let (cdl0, cdl0_m, cdl0_d) = (
            f("deeplift_zeros"),
            f("deeplift_zeros_mult"),
            f("deeplift_zeros_delta"),
        );
        let (cdlu, cdlu_m, cdlu_d) = (
            f("deeplift_uniform"),
            f("deeplift_uniform_mult"),
            f("deeplift_uniform_delta"),
        );
        for i in 0..3 {
            let at = |a: &seqcnn::attribute::Attribution| a.output[t];
            assert!((at(&grad[i]) - out[[i, t]]).abs() < 1e-5);
            let h = |a: &seqcnn::attribute::Attribution| {
                a.hypothetical.index_axis(Axis(0), t).to_owned()
            };
            let c = |a: &seqcnn::attribute::Attribution| {
                a.contributions.index_axis(Axis(0), t).to_owned()
            };
            let cap = |a: &ndarray::Array3<f32>| a.index_axis(Axis(0), i).to_owned();
            check(
                "Saliency".into(),
                h(&grad[i]).view(),
                cap(&sal).view(),
                1e-5,
            );
            check(
                "InputXGradient".into(),
                c(&ixg[i]).view(),
                cap(&cixg).view(),
                1e-5,
            );
            // Zero baselines: the actual contributions are captum's attributions, element by
            // element, and the hypothetical ones captum's multipliers.
            check(
                "IntegratedGradients".into(),
                c(&ig[i]).view(),
                cap(&cig).view(),
                1e-5,
            );
            let d = ig[i].delta.as_ref().unwrap()[t];
            assert!(
                (d - cig_d[[i, 0, 0]]).abs() < 1e-5,
                "IG delta {d} vs {}",
                cig_d[[i, 0, 0]]
            );
            check(
                "DeepLift (zeros)".into(),
                c(&dl0[i]).view(),
                cap(&cdl0).view(),
                1e-5,
            );
            check(
                "DeepLift multipliers (zeros)".into(),
                h(&dl0[i]).view(),
                cap(&cdl0_m).view(),
                1e-5,
            );
            // The uniform baseline: hypothetical = captum's multipliers projected, and per
            // position the same sums.
            let m = cap(&cdlu_m);
            let proj = &m - &(m.sum_axis(Axis(0)) * 0.25).insert_axis(Axis(0));
            check(
                "DeepLift multipliers (uniform)".into(),
                h(&dlu[i]).view(),
                proj.view(),
                1e-5,
            );
            let sums = |a: ndarray::Array2<f32>| a.sum_axis(Axis(0)).insert_axis(Axis(0));
            check(
                "DeepLift per position (uniform)".into(),
                sums(c(&dlu[i])).view(),
                sums(cap(&cdlu)).view(),
                1e-5,
            );
            for (a, cd) in [(&dl0[i], &cdl0_d), (&dlu[i], &cdlu_d)] {
                let d = a.delta.as_ref().unwrap()[t];
                assert!(
                    d.abs() < 1e-6 && cd[[i, 0, 0]].abs() < 1e-6,
                    "{d} {}",
                    cd[[i, 0, 0]]
                );
            }
        }
    }
    for (what, d) in worst {
        eprintln!("max |seqcnn - captum| {what}: {d:.1e}");
    }
}

/// The larger of two differences, NaN if either is.
fn nan_max(m: f32, v: f32) -> f32 {
    if m.is_nan() || v.is_nan() {
        f32::NAN
    } else {
        m.max(v)
    }
}

/// The three networks of tests/fixtures/make_attribute_parity_nets.py (seqcnn models exported with
/// `seqcnn export torch`; captum 0.9.0, torch 2.15.0): DeepLIFT (zero baseline and a fixed
/// reference), DeepSHAP over five fixed references (`--references-file`) and integrated
/// gradients (50 steps; zero baseline and the five references) through the CLI agree with captum
/// to 1e-4 (actual contributions per position, hypothetical contributions per base, outputs,
/// reference outputs; convergence deltas, sums over every position, to 1e-4 of max(1, |f(x)|)),
/// and DeepLIFT's and DeepSHAP's deltas are below 1e-4 of max(1, |f(x)|). Integrated gradients
/// on the dilated network come closest (up to 1e-4): a few of its path points fall within float32
/// rounding of a tie in a max-pooling window, where the gradient goes to one input or the other.
#[test]
fn attributions_match_captum_on_deepbind_deepsea_and_dilated_networks() {
    const TOL: f32 = 1e-4;
    let dir = tempdir();
    let fixtures = data("attribute_parity_nets");
    let (mut report, mut failures) = (Vec::new(), Vec::new());
    for net in ["deepbind", "deepsea", "dilated"] {
        let model = fixtures.join(format!("{net}.safetensors"));
        let inputs = fixtures.join(format!("inputs.{net}.fa"));
        let refs = fixtures.join(format!("references.{net}.fa"));
        let io = std::fs::read(fixtures.join(format!("{net}.io.safetensors"))).unwrap();
        let tasks = Model::load(&model).unwrap().meta.tasks;
        let (t, task) = (tasks.len() - 1, tasks[tasks.len() - 1].as_str());
        // The first reference alone, for DeepLIFT against one fixed reference.
        let ref0 = dir.path().join(format!("ref0.{net}.fa"));
        let text = std::fs::read_to_string(&refs).unwrap();
        std::fs::write(
            &ref0,
            text.lines().take(2).collect::<Vec<_>>().join("\n") + "\n",
        )
        .unwrap();
        let outputs = fixture(&io, "output");
        let ref_outputs = fixture(&io, "ref_output");
        let mean_ref = ref_outputs.index_axis(Axis(1), t).mean().unwrap();
        for (method, args) in [
            ("dl_zeros", vec!["deeplift", "--baseline", "zeros"]),
            ("dl_ref", vec!["deeplift", "--references-file", s(&ref0)]),
            ("shap", vec!["deepshap", "--references-file", s(&refs)]),
            (
                "ig_zeros",
                vec![
                    "integrated-gradients",
                    "--steps",
                    "50",
                    "--baseline",
                    "zeros",
                ],
            ),
            (
                "ig_refs",
                vec![
                    "integrated-gradients",
                    "--steps",
                    "50",
                    "--references-file",
                    s(&refs),
                ],
            ),
        ] {
            let out = dir.path().join(format!("{net}.{method}.npz"));
            let mut all = vec![
                "attribute",
                "--model",
                s(&model),
                "--task",
                task,
                s(&inputs),
                "--out",
                s(&out),
                "--method",
            ];
            all.extend(&args);
            ok(&all);
            let a = npz(&out);
            let what = format!("{net} {method}");
            let cap = |k: &str| fixture(&io, &format!("{method}.{k}"));
            let per_pos = a["attributions"].sum_axis(Axis(1));
            let (want_attr, want_hyp, want_delta) = (cap("attr"), cap("hyp"), cap("delta"));
            let diff = |got: &ArrayD<f32>, want: ndarray::ArrayViewD<f32>| {
                assert_eq!(got.len(), want.len(), "{what}");
                got.iter()
                    .zip(want.iter())
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, nan_max)
            };
            let d_attr = diff(&per_pos, want_attr.view().into_dyn());
            let d_hyp = diff(&a["hypothetical"], want_hyp.view().into_dyn());
            let d_out = diff(
                &a["outputs"],
                outputs.index_axis(Axis(1), t).into_dyn().view(),
            );
            // The deltas sum the attributions' differences: compared on the output scale.
            let d_delta = a["deltas"]
                .iter()
                .zip(want_delta.iter())
                .zip(a["outputs"].iter())
                .map(|((x, y), f)| (x - y).abs() / f.abs().max(1.0))
                .fold(0.0f32, nan_max);
            let want_ref = if method.ends_with("zeros") {
                None
            } else if method == "dl_ref" {
                Some(ref_outputs[[0, t, 0]])
            } else {
                Some(mean_ref)
            };
            for (i, &r) in a["references"].iter().enumerate() {
                if let Some(w) = want_ref {
                    assert!(
                        (r - w).abs() < TOL,
                        "{what}: reference output {r} vs {w} (seq {i})"
                    );
                }
            }
            for (part, d) in [
                ("attributions per position", d_attr),
                ("hypothetical contributions", d_hyp),
                ("outputs", d_out),
                ("convergence deltas (over max(1, |f(x)|))", d_delta),
            ] {
                if d.is_nan() || d >= TOL {
                    failures.push(format!(
                        "{what}: {part} differ from captum's by up to {d:.2e} (tolerance {TOL:e})"
                    ));
                }
            }
            // Completeness: DeepLIFT's rules conserve the difference, so the deltas are rounding.
            let worst_delta = a["deltas"]
                .iter()
                .zip(a["outputs"].iter())
                .map(|(d, f)| d.abs() / f.abs().max(1.0))
                .fold(0.0f32, nan_max);
            if !method.starts_with("ig") && (worst_delta.is_nan() || worst_delta >= TOL) {
                failures.push(format!(
                    "{what}: convergence delta {worst_delta:.2e} of max(1, |f(x)|)"
                ));
            }
            report.push(format!(
                "{what}: max |seqcnn - captum| attributions {d_attr:.1e}, hypothetical \
                 {d_hyp:.1e}, deltas {d_delta:.1e}; max |delta| / max(1, |f(x)|) {worst_delta:.1e}"
            ));
        }
    }
    for r in report {
        eprintln!("{r}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn references_file_is_checked_and_explains_against_each_reference() {
    let dir = tempdir();
    let model = deepbind_like(dir.path(), Strand::None);
    let fa = fasta(dir.path(), 2, 20);
    let (m, f) = (s(&model), s(&fa));
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let short = write("short.fa", ">r0\nACGTACGTAC\n");
    let ragged = write("ragged.fa", ">r0\nACGTACGTACACGTACGTAC\n>r1\nACGT\n");
    let one = write("one.fa", ">r0\nNNNNNNNNNNNNNNNNNNNN\n");
    let two = write(
        "two.fa",
        ">r0\nACGTACGTACACGTACGTAC\n>r1\nTTTTGGGGCCCCAAAATTTT\n",
    );
    fails_with(
        2,
        &[
            "attribute",
            "--model",
            m,
            "--method",
            "gradient",
            "--references-file",
            s(&two),
            f,
        ],
        &["--references-file applies to the methods with a reference"],
    );
    fails_with(
        2,
        &[
            "attribute",
            "--model",
            m,
            "--method",
            "deeplift",
            "--references-file",
            s(&short),
            f,
        ],
        &["record 's0'", "reference 1 is 10 bp and the sequence 20 bp"],
    );
    fails_with(
        2,
        &[
            "attribute",
            "--model",
            m,
            "--method",
            "deepshap",
            "--references-file",
            s(&ragged),
            f,
        ],
        &["ragged.fa:3", "reference 'r1' is 4 bp and the first 20 bp"],
    );
    // An all-N reference is the uniform baseline.
    let run = |args: &[&str]| {
        let mut all = vec!["attribute", "--model", m, f, "--method"];
        all.extend(args);
        ok(&all)
    };
    assert_eq!(
        run(&["deeplift", "--references-file", s(&one)]),
        run(&["deeplift", "--baseline", "uniform"])
    );
    // Two references: DeepLIFT and DeepSHAP are one method, the mean over them, and complete.
    let deltas = dir.path().join("d.tsv");
    let shap = run(&[
        "deepshap",
        "--references-file",
        s(&two),
        "--deltas",
        s(&deltas),
    ]);
    assert_eq!(shap, run(&["deeplift", "--references-file", s(&two)]));
    let t = rows(&std::fs::read_to_string(&deltas).unwrap());
    assert_eq!(t.len(), 1 + 2 * 2);
    for r in &t[1..] {
        let d: f64 = r[4].parse().unwrap();
        assert!(d.abs() < 1e-5, "{r:?}");
    }
}
