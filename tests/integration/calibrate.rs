//! Calibration split into jobs: `train --calibrate N --calibrate-trial K` scores one setting per
//! job, and `--calibrate-results` gathers them into the model one `--calibrate` run writes, byte
//! for byte; results from another search are refused.

use crate::common::*;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `train` on the vendored REST sequences with a small calibration, plus `extra`.
fn train(out: &Path, seed: &str, extra: &[&str]) -> std::process::Output {
    let data = data("REST_B.head50.seq");
    let mut args = vec![
        "train",
        "--arch",
        "deepbind",
        "--set",
        "layers.0.out_channels=4",
        "--train",
        s(&data),
        "--calibrate",
        "3",
        "--folds",
        "2",
        "--calibrate-epochs",
        "2",
        "--epochs",
        "2",
        "--seed",
        seed,
        "--threads",
        "1",
        "--out",
        s(out),
    ];
    args.extend(extra);
    seqcnn(&args)
}

fn ok_run(out: &Path, seed: &str, extra: &[&str]) {
    let o = train(out, seed, extra);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn trials_as_jobs_give_the_model_of_one_run() {
    let dir = tempdir();
    let one = dir.path().join("one.safetensors");
    ok_run(&one, "11", &[]);
    // The jobs, in any order, then the gathering run.
    let trial = |k: usize| dir.path().join(format!("trial{k}.json"));
    for k in [2, 3, 1] {
        ok_run(&trial(k), "11", &["--calibrate-trial", &k.to_string()]);
    }
    let gathered = dir.path().join("gathered.safetensors");
    ok_run(
        &gathered,
        "11",
        &[
            "--calibrate-results",
            s(&trial(3)),
            s(&trial(1)),
            s(&trial(2)),
        ],
    );
    assert_eq!(
        std::fs::read(&one).unwrap(),
        std::fs::read(&gathered).unwrap(),
        "the same model bytes"
    );
    // Each job's score is the one the single run recorded for that setting.
    let model = seqcnn::model::Model::load(&one).unwrap();
    use seqcnn::train::calibrate::TrialResult;
    let recorded: Vec<TrialResult> =
        serde_json::from_value(model.meta.provenance["calibration"].clone()).unwrap();
    for k in 1..=3 {
        let job: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(trial(k)).unwrap()).unwrap();
        assert_eq!(job["trial"], k);
        let r: TrialResult = serde_json::from_value(job["result"].clone()).unwrap();
        let same = |x: &TrialResult| x.trial == r.trial && x.score == r.score;
        assert!(recorded.iter().any(same), "trial {k}: {job}");
    }

    // Results of another seed, a missing or repeated trial: refused, no model written.
    let refused = dir.path().join("refused.safetensors");
    let fails_with = |seed: &str, files: &[&Path], needles: &[&str]| {
        let mut extra = vec!["--calibrate-results"];
        extra.extend(files.iter().map(|p| s(p)));
        let o = train(&refused, seed, &extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{err}");
        for n in needles {
            assert!(err.contains(n), "{n:?} not in {err}");
        }
        assert!(!refused.exists());
    };
    let (t1, t2, t3) = (trial(1), trial(2), trial(3));
    fails_with(
        "12",
        &[&t1, &t2, &t3],
        &["trial1.json", "--seed 11", "this run has 12"],
    );
    fails_with(
        "11",
        &[&t1, &t3],
        &["lacks trial 2 of 3", "--calibrate-trial K"],
    );
    fails_with(
        "11",
        &[&t1, &t1, &t3],
        &["trial1.json", "trial 1 is given twice"],
    );
    let o = train(&refused, "11", &["--calibrate-trial", "4"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("trials count from 1 to 3"));
}
