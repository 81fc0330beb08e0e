//! Checkpoints and --resume: a run stopped after any epoch (or killed mid-epoch) and resumed from
//! its checkpoint ends with the same model file, byte for byte, as an uninterrupted run.

use crate::common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn train_args<'a>(input: &'a str, out: &'a str, epochs: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--arch",
        "deepbind",
        "--train",
        input,
        "--out",
        out,
        "--epochs",
        epochs,
        "--patience",
        "100",
        "--seed",
        "4",
    ]
}

#[test]
fn stopped_after_two_epochs_and_resumed_equals_uninterrupted() {
    let dir = tempdir();
    let input = data("REST_B.head50.seq");
    let input = input.to_str().unwrap();
    let a = dir.path().join("a.safetensors");
    let b = dir.path().join("b.safetensors");
    let ck = dir.path().join("b.ckpt");
    ok(&train_args(input, a.to_str().unwrap(), "5"));
    let mut first = train_args(input, b.to_str().unwrap(), "2");
    first.extend(["--checkpoint", ck.to_str().unwrap()]);
    ok(&first);
    let mut resumed = train_args(input, b.to_str().unwrap(), "5");
    resumed.extend(["--checkpoint", ck.to_str().unwrap(), "--resume"]);
    ok(&resumed);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

fn wait_for(path: &Path, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn killed_mid_run_and_resumed_equals_uninterrupted() {
    let dir = tempdir();
    let input = data("encode/REST_GM12878_NRSF_HudsonAlpha_B.seq.gz");
    let input = input.to_str().unwrap();
    let a = dir.path().join("a.safetensors");
    let b = dir.path().join("b.safetensors");
    let ck = dir.path().join("b.ckpt");
    ok(&train_args(input, a.to_str().unwrap(), "12"));
    let mut args = train_args(input, b.to_str().unwrap(), "12");
    args.extend(["--checkpoint", ck.to_str().unwrap()]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_seqcnn"))
        .args(&args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(&ck, Duration::from_secs(120)),
        "no checkpoint was written"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let mut resumed = args.clone();
    resumed.push("--resume");
    ok(&resumed);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn resume_from_a_missing_or_corrupt_checkpoint_is_an_error() {
    let dir = tempdir();
    let input = data("REST_B.head50.seq");
    let out = dir.path().join("m.safetensors");
    let ck = dir.path().join("nope.ckpt");
    let mut args = train_args(input.to_str().unwrap(), out.to_str().unwrap(), "2");
    args.extend(["--checkpoint", ck.to_str().unwrap(), "--resume"]);
    fails(&args, &["nope.ckpt"]);
    std::fs::write(&ck, b"not a checkpoint").unwrap();
    fails(&args, &["nope.ckpt"]);
    assert!(!out.exists());
}

/// A checkpoint resumes only its own run: other training data or other settings are refused
/// with what differs, and a checkpoint with a flipped bit is refused by its checksum (exit 2,
/// no model written). More epochs than the first run asked for are fine.
#[test]
fn resume_refuses_another_runs_or_a_damaged_checkpoint() {
    let dir = tempdir();
    let d = dir.path();
    let input = data("REST_B.head50.seq");
    let input = input.to_str().unwrap();
    let out = d.join("m.safetensors");
    let out_s = out.to_str().unwrap();
    let ck = d.join("run.ckpt");
    let ck_s = ck.to_str().unwrap();
    let mut first = train_args(input, out_s, "1");
    first.extend(["--checkpoint", ck_s]);
    ok(&first);
    std::fs::remove_file(&out).unwrap();
    // Other data: the same records with one label flipped.
    let text = std::fs::read_to_string(input).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let last = lines.last_mut().unwrap();
    let flipped = if last.ends_with('1') { "0" } else { "1" };
    last.replace_range(last.len() - 1.., flipped);
    let other = d.join("other.seq");
    std::fs::write(&other, lines.join("\n") + "\n").unwrap();
    let mut args = train_args(other.to_str().unwrap(), out_s, "3");
    args.extend(["--checkpoint", ck_s, "--resume"]);
    fails_with(2, &args, &["run.ckpt", "not of this run", "other training"]);
    // Other settings: another batch size.
    let mut args = train_args(input, out_s, "3");
    args.extend(["--checkpoint", ck_s, "--resume", "--batch-size", "7"]);
    fails_with(2, &args, &["not of this run", "batch_size"]);
    assert!(!out.exists());
    // A flipped bit in the tensors.
    let mut bytes = std::fs::read(&ck).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x10;
    std::fs::write(&ck, &bytes).unwrap();
    let mut args = train_args(input, out_s, "3");
    args.extend(["--checkpoint", ck_s, "--resume"]);
    fails_with(2, &args, &["run.ckpt", "checksum does not match"]);
    assert!(!out.exists());
    // Repaired, the same run resumes with more epochs.
    bytes[n - 3] ^= 0x10;
    std::fs::write(&ck, &bytes).unwrap();
    ok(&args);
    assert!(out.exists());
}
