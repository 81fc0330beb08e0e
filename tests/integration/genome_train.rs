//! Genome mode end to end on the vendored 200 kb slice of chr20: multi-task training on windows
//! labelled by BED files (the BED files say `chr20`, the genome `20`), evaluation on a held-out
//! region, and prediction over BED intervals and over every bin of a region.

use crate::common::*;

fn g(name: &str) -> String {
    data(&format!("genome/{name}"))
        .to_str()
        .unwrap()
        .to_string()
}

fn targets() -> Vec<String> {
    [
        "CTCF=chr20_30M_CTCF.bed",
        "CpG=chr20_30M_CpG_islands.bed",
        "CDS=chr20_30M_CDS.bed",
    ]
    .iter()
    .map(|t| {
        let (name, file) = t.split_once('=').unwrap();
        format!("{name}={}", g(file))
    })
    .collect()
}

fn train(dir: &std::path::Path) -> std::path::PathBuf {
    train_with(dir, &[])
}

fn train_with(dir: &std::path::Path, extra: &[&str]) -> std::path::PathBuf {
    let (model, out) = train_run(dir, extra);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    model
}

/// Trains the tiny genome network on the slice; the model's path and the run's output.
fn train_run(dir: &std::path::Path, extra: &[&str]) -> (std::path::PathBuf, std::process::Output) {
    let model = dir.join("genome.safetensors");
    let genome = g("chr20_30M.fa.gz");
    let arch = g("tiny_genome_arch.toml");
    let t = targets();
    let mut args = vec![
        "train",
        "--arch",
        &arch,
        "--genome",
        &genome,
        "--valid-region",
        "20:150,001-200,000",
    ];
    if !extra.contains(&"--epochs") {
        args.extend(["--epochs", "2"]);
    }
    args.extend(["--seed", "5", "--out", model.to_str().unwrap()]);
    for t in &t {
        args.extend(["--targets", t]);
    }
    args.extend(extra);
    let out = seqcnn(&args);
    (model, out)
}

#[test]
fn train_eval_and_predict_on_genome_windows() {
    let dir = tempdir();
    let model = train(dir.path());
    let m = seqcnn::model::Model::load(&model).unwrap();
    assert_eq!(m.meta.tasks, ["CTCF", "CpG", "CDS"]);
    // 750 bins in 20:1-150,000; the first two windows reach past the contig start (over 10% N).
    assert_eq!(m.meta.provenance["train_windows"], 748);

    let genome = g("chr20_30M.fa.gz");
    let t = targets();
    let mut args = vec![
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--genome",
        &genome,
        "--region",
        "20:150,001-200,000",
    ];
    for t in &t {
        args.extend(["--targets", t]);
    }
    let report = ok(&args);
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "task\tauroc\tauprc\tloss\tn");
    assert_eq!(lines.len(), 4, "{report}");
    assert!(
        lines[1].starts_with("CTCF\t") && lines[1].ends_with("\t248"),
        "{report}"
    );

    let tiles = ok(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--genome",
        &genome,
        "--tile",
        "200",
        "--region",
        "20:1-2000",
    ]);
    let rows: Vec<Vec<&str>> = tiles.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0], ["#chrom", "start", "end", "CTCF", "CpG", "CDS"]);
    assert_eq!(rows.len(), 11);
    assert_eq!(&rows[1][..3], ["20", "0", "200"]);
    assert_eq!(&rows[10][..3], ["20", "1800", "2000"]);
    for r in &rows[1..] {
        assert!(
            r[3..]
                .iter()
                .all(|v| v.parse::<f32>().is_ok_and(|p| (0.0..=1.0).contains(&p))),
            "{r:?}"
        );
    }

    let ctcf = g("chr20_30M_CTCF.bed");
    let scored = ok(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--genome",
        &genome,
        &ctcf,
    ]);
    let lines: Vec<&str> = scored.lines().collect();
    assert_eq!(lines[0], "#chrom\tstart\tend\tname\tCTCF\tCpG\tCDS");
    assert_eq!(lines.len(), 33, "one row per interval of the BED file");
    // The contig as the BED spells it (the genome says `20`), so rows join the BED.
    assert!(lines[1].starts_with("chr20\t1339\t1743\t"), "{}", lines[1]);
}

#[test]
fn genome_training_is_reproducible() {
    let (a, b) = (tempdir(), tempdir());
    let ma = std::fs::read(train(a.path())).unwrap();
    let mb = std::fs::read(train(b.path())).unwrap();
    assert_eq!(ma, mb);
}

#[test]
fn shift_augmentation_is_seeded_and_changes_the_model() {
    let (a, b, c) = (tempdir(), tempdir(), tempdir());
    let ja = std::fs::read(train_with(a.path(), &["--jitter", "20"])).unwrap();
    let jb = std::fs::read(train_with(b.path(), &["--jitter", "20"])).unwrap();
    let plain = std::fs::read(train_with(c.path(), &["--jitter", "0"])).unwrap();
    assert_eq!(ja, jb, "same seed, same jitter: same bytes");
    assert_ne!(ja, plain, "--jitter 20 trained the same model as no jitter");
    let m = seqcnn::model::Model::load(&a.path().join("genome.safetensors")).unwrap();
    assert_eq!(m.meta.provenance["jitter"], 20);
}

#[test]
fn resampled_negatives_are_seeded_and_differ_from_a_fixed_draw() {
    let (a, b, c) = (tempdir(), tempdir(), tempdir());
    let keep = ["--keep-negatives", "0.5"];
    let ra = std::fs::read(train_with(
        a.path(),
        &[&keep[..], &["--resample-negatives"]].concat(),
    ))
    .unwrap();
    let rb = std::fs::read(train_with(
        b.path(),
        &[&keep[..], &["--resample-negatives"]].concat(),
    ))
    .unwrap();
    let fixed = std::fs::read(train_with(c.path(), &keep)).unwrap();
    assert_eq!(ra, rb, "same seed: same bytes");
    assert_ne!(
        ra, fixed,
        "resampling trained the same model as one fixed draw"
    );
    let m = seqcnn::model::Model::load(&a.path().join("genome.safetensors")).unwrap();
    // Every window is kept; the draw happens per epoch.
    assert_eq!(m.meta.provenance["train_windows"], 748);
    assert_eq!(m.meta.provenance["resample_negatives"], true);
    let f = seqcnn::model::Model::load(&c.path().join("genome.safetensors")).unwrap();
    let fixed_windows = f.meta.provenance["train_windows"].as_u64().unwrap();
    assert!(fixed_windows < 748, "{fixed_windows}");
}

#[test]
fn resumed_with_sampling_and_shifts_equals_uninterrupted() {
    let (a, b) = (tempdir(), tempdir());
    let sampling = [
        "--keep-negatives",
        "0.5",
        "--resample-negatives",
        "--jitter",
        "15",
    ];
    let (log_a, log_b) = (a.path().join("log.tsv"), b.path().join("log.tsv"));
    let (log_a, log_b) = (log_a.to_str().unwrap(), log_b.to_str().unwrap());
    let whole = std::fs::read(train_with(
        a.path(),
        &[&sampling[..], &["--epochs", "3", "--log", log_a]].concat(),
    ))
    .unwrap();
    let ck = b.path().join("run.ckpt");
    let ck = ck.to_str().unwrap();
    // a checkpoint of epoch 1, and a log that had gone on to epoch 2 (killed in between)
    train_with(
        b.path(),
        &[&sampling[..], &["--epochs", "1", "--checkpoint", ck]].concat(),
    );
    train_with(
        b.path(),
        &[&sampling[..], &["--epochs", "2", "--log", log_b]].concat(),
    );
    let resumed = std::fs::read(train_with(
        b.path(),
        &[
            &sampling[..],
            &[
                "--epochs",
                "3",
                "--checkpoint",
                ck,
                "--resume",
                "--log",
                log_b,
            ],
        ]
        .concat(),
    ))
    .unwrap();
    assert_eq!(whole, resumed);
    // the resumed run's log reads like the uninterrupted run's, but for the seconds
    let without_seconds = |p: &str| -> Vec<String> {
        let text = std::fs::read_to_string(p).unwrap();
        let header: Vec<&str> = text.lines().next().unwrap().split('\t').collect();
        let s = header.iter().position(|c| *c == "seconds").unwrap();
        text.lines()
            .map(|l| {
                let mut c: Vec<&str> = l.split('\t').collect();
                c.remove(s);
                c.join("\t")
            })
            .collect()
    };
    let (wa, wb) = (without_seconds(log_a), without_seconds(log_b));
    assert_eq!(wa.len(), 4, "{wa:?}");
    assert_eq!(wa, wb);
}

#[test]
fn the_epoch_log_gives_each_tasks_auroc_and_auprc() {
    let dir = tempdir();
    let log = dir.path().join("epochs.tsv");
    let (model, out) = train_run(
        dir.path(),
        &["--epochs", "3", "--log", log.to_str().unwrap()],
    );
    assert!(out.status.success());
    let m = seqcnn::model::Model::load(&model).unwrap();
    let best = m.meta.provenance["best_epoch"].as_u64().unwrap() as usize;
    let auroc: Vec<f64> = serde_json::from_value(m.meta.provenance["valid_auroc"].clone()).unwrap();
    let auprc: Vec<f64> = serde_json::from_value(m.meta.provenance["valid_auprc"].clone()).unwrap();

    let text = std::fs::read_to_string(&log).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "epoch",
            "lr",
            "train_loss",
            "valid_loss",
            "valid_auroc",
            "auroc.CTCF",
            "auprc.CTCF",
            "auroc.CpG",
            "auprc.CpG",
            "auroc.CDS",
            "auprc.CDS",
            "seconds",
            "best"
        ]
    );
    assert_eq!(rows.len(), 4);
    let num = |s: &str| s.parse::<f64>().unwrap();
    // the best epoch's row holds the figures stored in the model, to the last digit
    let row = &rows[best];
    assert_eq!(row[0], best.to_string());
    for t in 0..3 {
        assert_eq!(num(row[5 + 2 * t]), auroc[t]);
        assert_eq!(num(row[6 + 2 * t]), auprc[t]);
    }
    assert!((num(row[4]) - auroc.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    assert_eq!(row[12], "1");
    // stderr: each epoch line is followed by the three tasks' figures
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with(&format!("epoch {best}/3")))
        .unwrap();
    let detail = lines[i + 1];
    assert!(detail.contains("valid auroc/auprc"), "{err}");
    assert!(
        detail.contains(&format!("CTCF {:.4}/{:.4}", auroc[0], auprc[0])),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("CDS {:.4}/", auroc[2])),
        "{detail}"
    );
    // `--log -`: the same table on stdout
    let (_, out) = train_run(dir.path(), &["--epochs", "3", "--log", "-"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let drop_seconds = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| {
                let mut c: Vec<&str> = l.split('\t').collect();
                c.remove(11);
                c.join("\t")
            })
            .collect()
    };
    assert_eq!(drop_seconds(&stdout), drop_seconds(&text));
}

#[test]
fn an_ensemble_is_evaluated_and_predicts_on_its_members_mean_output() {
    use seqcnn::data::{Examples, GenomeWindows};
    use seqcnn::io::genome::Genome;
    use seqcnn::model::Model;
    use seqcnn::score::Scorer;
    let (a, b) = (tempdir(), tempdir());
    let ma = train(a.path());
    let mb = train_with(b.path(), &["--jitter", "10"]);
    let genome = g("chr20_30M.fa.gz");
    let t = targets();
    let eval = |models: &[&std::path::Path]| -> serde_json::Value {
        let mut args = vec![
            "eval",
            "--json",
            "--genome",
            &genome,
            "--region",
            "20:150,001-200,000",
        ];
        for m in models {
            args.extend(["--model", m.to_str().unwrap()]);
        }
        for t in &t {
            args.extend(["--targets", t]);
        }
        serde_json::from_str(&ok(&args)).unwrap()
    };
    let both = eval(&[&ma, &mb]);
    assert_eq!(
        eval(&[&ma, &ma]),
        eval(&[&ma]),
        "a model with itself is the model"
    );
    assert_ne!(both, eval(&[&ma]));
    // Members must agree on tasks: a one-task DeepBind model cannot join.
    let rest = a.path().join("rest.safetensors");
    ok(&[
        "import",
        "deepbind",
        data("deepbind/D00799.001.txt").to_str().unwrap(),
        "--out",
        a.path().to_str().unwrap(),
    ]);
    std::fs::rename(a.path().join("D00799.001.safetensors"), &rest).unwrap();
    let mut args = vec![
        "eval",
        "--genome",
        &genome,
        "--region",
        "20:150,001-200,000",
    ];
    for m in [&ma, &rest] {
        args.extend(["--model", m.to_str().unwrap()]);
    }
    for t in &t {
        args.extend(["--targets", t]);
    }
    fails(
        &args,
        &[
            "ensemble members must share their tasks",
            "D00799.001",
            "CTCF,CpG,CDS",
        ],
    );
    // The same by hand: both models' raw outputs on every bin, averaged.
    let g20 = Genome::open(std::path::Path::new(&genome)).unwrap();
    let tasks = seqcnn_tasks(&g20);
    let windows = GenomeWindows::new(
        &g20,
        vec![g20.region("20:150,001-200,000").unwrap()],
        &tasks,
        seqcnn::data::tiling::TileConfig {
            bin: 200,
            window: 1000,
            threshold: 0.5,
            max_n: 0.1,
        },
        1.0,
        &mut seqcnn::rng::seeded(0),
    )
    .unwrap();
    let all: Vec<usize> = (0..windows.len()).collect();
    let seqs = windows.sequences(&all).unwrap();
    let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
    let (a, b) = (Model::load(&ma).unwrap(), Model::load(&mb).unwrap());
    let mean = (Scorer::new(&a).score_raw(&refs).unwrap()
        + Scorer::new(&b).score_raw(&refs).unwrap())
        / 2.0;
    for (k, task) in both["tasks"].as_array().unwrap().iter().enumerate() {
        let labels: Vec<f32> = all.iter().map(|&i| windows.label_row(i)[k]).collect();
        let want = seqcnn::metrics::auroc(&mean.column(k).to_vec(), &labels);
        assert_eq!(task["auroc"].as_f64(), want, "{}", task["task"]);
    }
    // predict writes the members' mean value, probability or raw, for every bin.
    fn predict_args<'a>(genome: &'a str, models: &[&'a std::path::Path]) -> Vec<&'a str> {
        let mut args = vec![
            "predict",
            "--genome",
            genome,
            "--tile",
            "200",
            "--region",
            "20:150,001-200,000",
            "--ensemble",
        ];
        for m in models {
            args.extend(["--model", m.to_str().unwrap()]);
        }
        args
    }
    let predict = |models: &[&std::path::Path], raw: bool| -> Vec<Vec<f64>> {
        let mut args = predict_args(&genome, models);
        if raw {
            args.push("--raw");
        }
        let text = ok(&args);
        assert!(text.starts_with("#chrom\tstart\tend\tCTCF\tCpG\tCDS\n"));
        text.lines()
            .skip(1)
            .map(|l| l.split('\t').skip(3).map(|v| v.parse().unwrap()).collect())
            .collect()
    };
    for raw in [false, true] {
        let (pa, pb, both) = (
            predict(&[&ma], raw),
            predict(&[&mb], raw),
            predict(&[&ma, &mb], raw),
        );
        assert_eq!(both.len(), pa.len());
        assert_ne!(both, pa);
        for ((x, y), z) in pa.iter().zip(&pb).zip(&both) {
            for k in 0..3 {
                let want = (x[k] + y[k]) / 2.0;
                assert!(
                    (z[k] - want).abs() < 1e-6 * want.abs().max(1.0),
                    "{z:?} {x:?} {y:?}"
                );
            }
        }
    }
    fails(
        &predict_args(&genome, &[&ma, &rest]),
        &[
            "ensemble members must share their tasks",
            "D00799.001",
            "CTCF,CpG,CDS",
        ],
    );
}

/// The three tasks of [`targets`] read against `genome`, in order.
fn seqcnn_tasks(genome: &seqcnn::io::genome::Genome) -> Vec<seqcnn::data::tiling::Task> {
    targets()
        .iter()
        .map(|t| {
            let (name, path) = t.split_once('=').unwrap();
            let intervals =
                seqcnn::io::bed::read_bed_checked(std::path::Path::new(path), genome).unwrap();
            seqcnn::data::tiling::Task::new(name, &intervals)
        })
        .collect()
}

#[test]
fn shifted_windows_read_the_genome_further_along() {
    use seqcnn::data::tiling::{Task, TileConfig};
    use seqcnn::data::{Dataset, Examples, GenomeWindows};
    use seqcnn::io::genome::Genome;
    let genome = Genome::open(std::path::Path::new(&g("chr20_30M.fa.gz"))).unwrap();
    let region = genome.region("20:100,001-102,000").unwrap();
    let tasks = [Task::new("none", &[])];
    let config = TileConfig {
        bin: 200,
        window: 1000,
        threshold: 0.5,
        max_n: 0.1,
    };
    let mut rng = seqcnn::rng::seeded(1);
    let w = GenomeWindows::new(&genome, vec![region], &tasks, config, 1.0, &mut rng).unwrap();
    assert_eq!(w.len(), 10);
    let (contig, bin) = w.bin(3);
    let start = bin as i64 - 400;
    let got = w.sequences_shifted(&[3, 3, 3], &[0, 37, -52]).unwrap();
    for (seq, shift) in got.iter().zip([0i64, 37, -52]) {
        let want = genome
            .fetch_padded(contig, start + shift, start + shift + 1000)
            .unwrap();
        assert_eq!(seq, &want, "shift {shift}");
    }
    assert_ne!(got[0], got[1]);
    assert_eq!(w.sequences(&[3]).unwrap()[0], got[0]);
    // Sequences held in memory have no genome to move along.
    let ds = Dataset::load(&data("REST_B.head50.seq"), None).unwrap();
    assert!(ds.sequences_shifted(&[0], &[0]).is_ok());
    let e = ds.sequences_shifted(&[0], &[3]).unwrap_err().to_string();
    assert!(e.contains("--jitter"), "{e}");
}

#[test]
fn genome_mode_needs_a_validation_region_and_a_fixed_window() {
    let dir = tempdir();
    let out = dir.path().join("m.safetensors");
    let genome = g("chr20_30M.fa.gz");
    let ctcf = format!("CTCF={}", g("chr20_30M_CTCF.bed"));
    let arch = g("tiny_genome_arch.toml");
    fails(
        &[
            "train",
            "--arch",
            &arch,
            "--genome",
            &genome,
            "--targets",
            &ctcf,
            "--out",
            out.to_str().unwrap(),
        ],
        &["--valid-region"],
    );
    fails(
        &[
            "train",
            "--arch",
            "deepbind",
            "--genome",
            &genome,
            "--targets",
            &ctcf,
            "--valid-region",
            "20",
            "--out",
            out.to_str().unwrap(),
        ],
        &["--window"],
    );
    fails(
        &[
            "train",
            "--arch",
            "deepbind",
            "--train",
            data("REST_B.head50.seq").to_str().unwrap(),
            "--jitter",
            "5",
            "--out",
            out.to_str().unwrap(),
        ],
        &["--jitter", "--genome"],
    );
    assert!(!out.exists());
}

#[test]
fn bad_genome_inputs_through_the_cli() {
    let dir = tempdir();
    let out = dir.path().join("m.safetensors");
    let out_s = out.to_str().unwrap();
    let genome = g("chr20_30M.fa.gz");
    let arch = g("tiny_genome_arch.toml");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let train_on = |bed: &str| {
        let t = format!("T={bed}");
        let args = [
            "train",
            "--arch",
            &arch,
            "--genome",
            &genome,
            "--targets",
            &t,
            "--valid-region",
            "20:1-50000",
            "--out",
            out_s,
        ];
        args.map(String::from)
    };
    let past = write("past.bed", "chr20\t100\t200\nchr20\t199990\t200100\n");
    fails(
        &train_on(&past)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &["past.bed:2", "200100"],
    );
    let unknown = write("unknown.bed", "chr2O\t100\t200\n");
    fails(
        &train_on(&unknown)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &["unknown.bed:1", "chr2O", "20"],
    );
    let malformed = write("malformed.bed", "chr20\t100\t200\nchr20\tten\t200\n");
    fails(
        &train_on(&malformed)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &["malformed.bed:2"],
    );
    let summit = write(
        "summit.narrowPeak",
        "chr20\t100\t200\tp1\t0\t.\t1\t1\t1\t150\n",
    );
    let m = train(dir.path());
    fails(
        &[
            "predict",
            "--model",
            m.to_str().unwrap(),
            "--genome",
            &genome,
            &summit,
        ],
        &["summit.narrowPeak:1", "summit"],
    );
    // A genome without an index.
    let plain = write("plain.fa", ">20\nACGTACGTAC\n");
    let t = format!("T={past}");
    fails(
        &[
            "train",
            "--arch",
            &arch,
            "--genome",
            &plain,
            "--targets",
            &t,
            "--valid-region",
            "20",
            "--out",
            out_s,
        ],
        &["plain.fa", "seqcnn index"],
    );
    assert!(!out.exists());
}

/// Settings that would train on nonsense are refused before any work (exit 2): a task named
/// twice, a target BED without intervals, and fractions outside 0..1.
#[test]
fn nonsense_settings_are_refused() {
    let dir = tempdir();
    let out = dir.path().join("m.safetensors");
    let out_s = out.to_str().unwrap();
    let genome = g("chr20_30M.fa.gz");
    let arch = g("tiny_genome_arch.toml");
    let empty = dir.path().join("empty.bed");
    std::fs::write(&empty, "# no intervals\n").unwrap();
    let (ctcf, cpg) = (g("chr20_30M_CTCF.bed"), g("chr20_30M_CpG_islands.bed"));
    let base = [
        "train",
        "--arch",
        &arch,
        "--genome",
        &genome,
        "--valid-region",
        "20:1-50000",
        "--out",
        out_s,
    ];
    let twice = [format!("T={ctcf}"), format!("T={cpg}")];
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec![
                "--targets".into(),
                twice[0].clone(),
                "--targets".into(),
                twice[1].clone(),
            ],
            vec!["task 'T' is named twice"],
        ),
        (
            vec!["--targets".into(), format!("E={}", empty.display())],
            vec!["empty.bed", "no intervals"],
        ),
        (
            vec![
                "--targets".into(),
                twice[0].clone(),
                "--keep-negatives".into(),
                "-1".into(),
            ],
            vec!["--keep-negatives", "not a fraction"],
        ),
        (
            vec![
                "--targets".into(),
                twice[0].clone(),
                "--max-n".into(),
                "1.5".into(),
            ],
            vec!["--max-n", "not a fraction"],
        ),
    ];
    for (extra, needles) in cases {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(extra.iter().map(String::as_str));
        // Usage errors of the argument parser (a value out of range) are its own few lines.
        let run = seqcnn(&args);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {err}");
        for n in &needles {
            assert!(err.contains(n), "{args:?}: {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists(), "{needles:?}: a model was written");
    }
}
