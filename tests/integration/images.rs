//! Image classification through the CLI on the vendored MNIST and digits slices: train, eval,
//! predict; identical models with 1 and 2 threads; bad image inputs as one-line errors (exit 2).
//! The acceptance runs on the full shared sets are `#[ignore]`d (minutes, and data not vendored):
//! `cargo test --release --test integration images:: -- --ignored`.

use crate::common::{data, fails_with, ok, tempdir};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

fn img(name: &str) -> String {
    data(&format!("images/{name}")).display().to_string()
}

fn train200() -> (String, String) {
    (
        img("mnist-train200-images-idx3-ubyte.gz"),
        img("mnist-train200-labels-idx1-ubyte.gz"),
    )
}

fn test100() -> (String, String) {
    (
        img("mnist-test100-images-idx3-ubyte.gz"),
        img("mnist-test100-labels-idx1-ubyte.gz"),
    )
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Trains LeNet-5 for a few epochs on the 200 vendored digits.
fn train_lenet(out: &Path, threads: &str) {
    let (images, labels) = train200();
    ok(&[
        "train",
        "--arch",
        "lenet5",
        "--train",
        &images,
        "--train-labels",
        &labels,
        "--epochs",
        "2",
        "--threads",
        threads,
        "--out",
        &s(out),
    ]);
}

#[test]
fn lenet5_trains_evaluates_and_predicts_on_mnist_slice() {
    let dir = tempdir();
    let model = dir.path().join("lenet5.safetensors");
    train_lenet(&model, "2");
    let (images, labels) = test100();
    let json = ok(&[
        "eval",
        "--model",
        &s(&model),
        &images,
        "--labels",
        &labels,
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let acc = doc["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc), "{json}");
    assert_eq!(doc["n"], 100);
    let confusion: u64 = doc["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(confusion, 100);
    assert_eq!(doc["per_class"].as_array().unwrap().len(), 10);
    let tsv = ok(&["eval", "--model", &s(&model), &images, "--labels", &labels]);
    assert!(tsv.starts_with(&format!("accuracy\t{acc:.6}\n")), "{tsv}");
    assert!(tsv.contains("\nconfusion (rows: true class, columns: predicted)\ntrue\t0\t1"));

    let out = dir.path().join("pred.tsv");
    ok(&[
        "predict",
        "--model",
        &s(&model),
        &images,
        "--labels",
        &labels,
        "--out",
        &s(&out),
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(header[..4], ["image", "label", "class", "p_0"]);
    assert_eq!(header.len(), 13);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 100);
    assert_eq!((rows[0][0], rows[99][0], rows[1][1]), ("1", "100", "1"));
    for r in &rows {
        let p: Vec<f64> = r[3..].iter().map(|v| v.parse().unwrap()).collect();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{r:?}");
        let best = (0..10).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(r[2], best.to_string());
    }
    // Without labels there is no label column; --raw gives logits.
    let raw = ok(&["predict", "--model", &s(&model), &images, "--raw"]);
    assert!(raw.starts_with("image\tclass\tlogit_0\t"), "{raw}");
}

#[test]
fn occlusion_maps_as_png_svg_and_tsv() {
    let dir = tempdir();
    let model = dir.path().join("lenet5.safetensors");
    train_lenet(&model, "2");
    let (images, labels) = test100();
    let png = dir.path().join("map.png");
    let tsv = dir.path().join("map.tsv");
    let out = crate::common::seqcnn(&[
        "occlude",
        "--model",
        &s(&model),
        &images,
        "--labels",
        &labels,
        "--index",
        "2",
        "--out",
        &s(&png),
        "--tsv",
        &s(&tsv),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("image 2 of") && err.contains("class 1 p="),
        "{err}"
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // 28x28 drawn at 10 pixels a pixel.
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 280);
    let rows = std::fs::read_to_string(&tsv).unwrap();
    // A 7x7 square at stride 1: 22 x 22 positions.
    assert_eq!(rows.lines().count(), 1 + 22 * 22);
    assert!(rows.starts_with("row\tcol\tdrop\n0\t0\t"));
    let svg = dir.path().join("map.svg");
    ok(&[
        "occlude",
        "--model",
        &s(&model),
        &images,
        "--patch",
        "4",
        "--stride",
        "3",
        "--out",
        &s(&svg),
    ]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") && text.contains("4x4 square"),
        "{}",
        &text[..200]
    );
    fails_with(
        2,
        &[
            "occlude",
            "--model",
            &s(&model),
            &images,
            "--out",
            &s(&dir.path().join("m.jpg")),
        ],
        &[".png or .svg"],
    );
    fails_with(
        2,
        &[
            "occlude",
            "--model",
            &s(&model),
            &images,
            "--index",
            "101",
            "--out",
            &s(&png),
        ],
        &["image 101 requested but the input has 100"],
    );
}

#[test]
fn image_models_are_identical_with_one_and_two_threads() {
    let dir = tempdir();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    train_lenet(&a, "1");
    train_lenet(&b, "2");
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
}

#[test]
fn csv_digits_train_and_evaluate() {
    let dir = tempdir();
    let model = dir.path().join("digits.safetensors");
    let csv = img("digits.head100.csv.gz");
    let args = ["--image-shape", "1,8,8", "--label-column", "last"];
    let mut train = vec![
        "train",
        "--arch",
        "smallcnn",
        "--train",
        &csv,
        "--pixel-scale",
        "16",
        "--standardize",
        "--epochs",
        "3",
    ];
    train.extend(args);
    let out = s(&model);
    let log = s(&dir.path().join("epochs.tsv"));
    train.extend(["--out", &out, "--log", &log]);
    ok(&train);
    // the epoch log: accuracy overall and per class; the best row's is the model's
    let m = seqcnn::model::Model::load(&model).unwrap();
    let best = m.meta.provenance["best_epoch"].as_u64().unwrap() as usize;
    let text = std::fs::read_to_string(&log).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 4, "{text}");
    assert_eq!(rows[0][4], "valid_accuracy");
    assert_eq!(
        rows[0][5..15],
        (0..10).map(|k| format!("accuracy.{k}")).collect::<Vec<_>>()
    );
    assert_eq!(rows[0][15..], ["seconds", "best"]);
    assert_eq!(
        rows[best][4].parse::<f64>().unwrap(),
        m.meta.provenance["valid_accuracy"].as_f64().unwrap()
    );
    let info = ok(&["info", &out]);
    assert!(
        info.contains("pixel_scale") || info.contains("smallcnn"),
        "{info}"
    );
    let mut eval = vec!["eval", "--model", &out, &csv];
    eval.extend(args);
    let tsv = ok(&eval);
    assert!(tsv.starts_with("accuracy\t"), "{tsv}");
    assert!(tsv.contains("\nn\t100\n"), "{tsv}");
    // The same model refuses 28x28 digits.
    let (images, labels) = test100();
    fails_with(
        2,
        &["eval", "--model", &out, &images, "--labels", &labels],
        &["images are 1x28x28", "takes 1x8x8"],
    );
}

fn gunzip(path: &str) -> Vec<u8> {
    let mut v = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut v)
        .unwrap();
    v
}

fn write(path: &Path, bytes: &[u8]) -> String {
    std::fs::File::create(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    s(path)
}

#[test]
fn bad_image_inputs_are_one_line_errors() {
    let dir = tempdir();
    let out = s(&dir.path().join("m.safetensors"));
    let (images, labels) = train200();
    let train = |imgs: &str, labs: &str| {
        vec![
            "train".to_string(),
            "--arch".into(),
            "lenet5".into(),
            "--train".into(),
            imgs.into(),
            "--train-labels".into(),
            labs.into(),
            "--out".into(),
            out.clone(),
        ]
    };
    let run = |args: Vec<String>, needles: &[&str]| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        fails_with(2, &a, needles);
    };
    // A label file given as the images: wrong magic number.
    run(
        train(&labels, &labels),
        &["magic number 0x00000801", "expected 0x00000803"],
    );
    // Images and labels swapped the other way.
    run(train(&images, &images), &["expected 0x00000801"]);
    // A header promising more images than the file holds.
    let raw = gunzip(&images);
    let cut = write(
        &dir.path().join("cut-idx3-ubyte"),
        &raw[..16 + 150 * 784 + 10],
    );
    run(
        train(&cut, &labels),
        &[
            "cut-idx3-ubyte",
            "header says 200 images but the file holds only 150",
        ],
    );
    // Labels for a different number of images.
    let (_, test_labels) = test100();
    run(
        train(&images, &test_labels),
        &["100 labels for the 200 images"],
    );
    // CSV rows of differing length name their line.
    let csv = write(
        &dir.path().join("ragged.csv"),
        b"1,0,0,0,0\n2,0,0,0,0\n3,0,0,0\n",
    );
    fails_with(
        2,
        &[
            "train",
            "--arch",
            "smallcnn",
            "--train",
            &csv,
            "--image-shape",
            "1,2,2",
            "--out",
            &out,
        ],
        &["ragged.csv:3: 4 fields, expected 5"],
    );
    // A bad shape argument (a usage error from the argument parser), and a sequence
    // architecture given images.
    let o = crate::common::seqcnn(&[
        "train",
        "--arch",
        "smallcnn",
        "--train",
        &csv,
        "--image-shape",
        "1,x,2",
        "--out",
        &out,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("image shape '1,x,2' is not C,H,W"), "{err}");
    run(
        vec![
            "train".into(),
            "--arch".into(),
            "deepbind".into(),
            "--train".into(),
            images.clone(),
            "--train-labels".into(),
            labels.clone(),
            "--out".into(),
            out.clone(),
        ],
        &["takes sequences"],
    );
    assert!(!Path::new(&out).exists());
}

/// The full shared MNIST split, or `None` when it is not there.
fn shared(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/images")
        .join(name);
    p.exists().then_some(p)
}

/// Acceptance: LeNet-5 with default settings on the 8,004 shared training digits reaches 98% on
/// the 1,996 test digits.
#[test]
#[ignore]
fn lenet5_reaches_98_percent_on_mnist() {
    let (Some(train), Some(train_labels), Some(test), Some(test_labels)) = (
        shared("mnist/train-images-idx3-ubyte.gz"),
        shared("mnist/train-labels-idx1-ubyte.gz"),
        shared("mnist/test-images-idx3-ubyte.gz"),
        shared("mnist/test-labels-idx1-ubyte.gz"),
    ) else {
        eprintln!("shared MNIST not found: skipped");
        return;
    };
    let dir = tempdir();
    let model = s(&dir.path().join("lenet5.safetensors"));
    let started = std::time::Instant::now();
    ok(&[
        "train",
        "--arch",
        "lenet5",
        "--train",
        &s(&train),
        "--train-labels",
        &s(&train_labels),
        "--threads",
        "2",
        "--out",
        &model,
    ]);
    let secs = started.elapsed().as_secs_f64();
    let json = ok(&[
        "eval",
        "--model",
        &model,
        &s(&test),
        "--labels",
        &s(&test_labels),
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let acc = doc["accuracy"].as_f64().unwrap();
    eprintln!("lenet5: test accuracy {acc:.4}, training {secs:.1}s");
    assert!(acc >= 0.98, "{acc}");
}

/// Acceptance: the small CNN on scikit-learn's 8x8 digits, a seeded 80/20 split (the 20% never
/// seen in training or early stopping), reaches 97%.
#[test]
#[ignore]
fn smallcnn_reaches_97_percent_on_digits() {
    let Some(csv) = shared("digits.csv.gz") else {
        eprintln!("shared digits.csv.gz not found: skipped");
        return;
    };
    let text = String::from_utf8(gunzip(&s(&csv))).unwrap();
    let mut rows: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let mut rng = seqcnn::rng::seeded(1);
    seqcnn::rng::shuffle(&mut rng, &mut rows);
    let cut = rows.len() * 4 / 5;
    let dir = tempdir();
    let train = write(
        &dir.path().join("train.csv"),
        (rows[..cut].join("\n") + "\n").as_bytes(),
    );
    let test = write(
        &dir.path().join("test.csv"),
        (rows[cut..].join("\n") + "\n").as_bytes(),
    );
    let model = s(&dir.path().join("digits.safetensors"));
    let shape = ["--image-shape", "1,8,8", "--label-column", "last"];
    let mut args = vec![
        "train",
        "--arch",
        "smallcnn",
        "--train",
        &train,
        "--pixel-scale",
        "16",
        "--out",
        &model,
    ];
    args.extend(shape);
    ok(&args);
    let mut args = vec!["eval", "--model", &model, &test, "--json"];
    args.extend(shape);
    let doc: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    let acc = doc["accuracy"].as_f64().unwrap();
    eprintln!(
        "smallcnn on digits: test accuracy {acc:.4} ({} test rows)",
        rows.len() - cut
    );
    assert!(acc >= 0.97, "{acc}");
}
