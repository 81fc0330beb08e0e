//! Shared harness for the integration tests: run the `seqcnn` binary, temp dirs, fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of a file under `tests/data`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Runs `seqcnn` with the given arguments.
pub fn seqcnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seqcnn"))
        .args(args)
        .output()
        .expect("run seqcnn")
}

/// Runs `seqcnn` and asserts success, returning stdout.
pub fn ok(args: &[&str]) -> String {
    let out = seqcnn(args);
    assert!(
        out.status.success(),
        "seqcnn {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs `seqcnn`, asserts a clean failure (non-zero exit, no panic, one-line message containing
/// every `needle`), and returns stderr.
pub fn fails(args: &[&str], needles: &[&str]) -> String {
    clean_failure(args, &seqcnn(args), needles)
}

/// [`fails`], and the exit code is `code` (2: bad usage or bad input; 1: runtime failure).
pub fn fails_with(code: i32, args: &[&str], needles: &[&str]) -> String {
    let out = seqcnn(args);
    let err = clean_failure(args, &out, needles);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code of seqcnn {args:?}; stderr: {err}"
    );
    err
}

fn clean_failure(args: &[&str], out: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "seqcnn {args:?} should fail; stderr: {err}"
    );
    assert!(!err.contains("panicked"), "seqcnn {args:?} panicked: {err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("seqcnn: error"))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    for n in needles {
        assert!(
            err.contains(n),
            "error for {args:?} should mention '{n}': {err}"
        );
    }
    err
}

/// Reads a float32 tensor from a safetensors file as (shape, values).
pub fn tensor(bytes: &[u8], name: &str) -> (Vec<usize>, Vec<f32>) {
    let st = safetensors::SafeTensors::deserialize(bytes).expect("fixture parses");
    let t = st
        .tensor(name)
        .unwrap_or_else(|_| panic!("fixture has {name}"));
    let vals = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (t.shape().to_vec(), vals)
}

/// Creates a fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
