//! Progress and summaries: without a terminal on stderr, a long command writes no bar, only one
//! summary line at the end (what it did, how fast, what it wrote).

use crate::common::*;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `args`, asserts success, and returns stderr, which must be exactly one line.
fn summary(args: &[&str]) -> String {
    let out = seqcnn(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{args:?}: {err}");
    assert_eq!(
        err.lines().count(),
        1,
        "{args:?}: one summary line, got {err:?}"
    );
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}'),
        "no bar: {err:?}"
    );
    err
}

#[test]
fn long_commands_end_with_one_summary_line_and_no_bar() {
    let dir = tempdir();
    ok(&[
        "import",
        "deepbind",
        "--out",
        s(dir.path()),
        s(&data("deepbind/D00328.003.txt")),
    ]);
    let model = dir.path().join("D00328.003.safetensors");
    let m = s(&model);
    let seqs = data("REST_B.head50.seq");
    let genome = data("genome/chr20_30M.fa.gz");
    let out = dir.path().join("p.tsv");
    let err = summary(&["predict", "--model", m, s(&seqs), "--out", s(&out)]);
    assert!(
        err.starts_with("seqcnn predict: 50 sequences in ")
            && err.contains(&format!("wrote {}", out.display())),
        "{err}"
    );
    let err = summary(&[
        "predict",
        "--model",
        m,
        "--genome",
        s(&genome),
        "--window",
        "101",
        s(&data("genome/chr20_30M_CTCF.bed")),
    ]);
    assert!(
        err.starts_with("seqcnn predict: 32 intervals in ") && err.contains("wrote stdout"),
        "{err}"
    );
    let err = summary(&[
        "mutate",
        "--model",
        m,
        s(&seqs),
        "--out",
        s(&dir.path().join("m.tsv")),
    ]);
    assert!(
        err.starts_with("seqcnn mutate: 50 sequences in ") && err.contains("mutants scored"),
        "{err}"
    );
    let err = summary(&[
        "variants",
        "--model",
        m,
        "--genome",
        s(&genome),
        "--window",
        "101",
        "--vcf",
        s(&data("variants/chr20_30M_snvs.vcf")),
        "--out",
        s(&dir.path().join("v.tsv")),
    ]);
    assert!(
        err.starts_with("seqcnn variants: ") && err.contains(" records/s)"),
        "{err}"
    );
    let err = summary(&[
        "saliency",
        "--model",
        m,
        s(&seqs),
        "--out",
        s(&dir.path().join("s.tsv")),
    ]);
    assert!(
        err.starts_with("seqcnn saliency: 50 sequences in "),
        "{err}"
    );
    let err = summary(&[
        "motifs",
        "--model",
        m,
        s(&seqs),
        "--out",
        s(&dir.path().join("f.meme")),
    ]);
    assert!(
        err.starts_with("seqcnn motifs: 50 sequences in ") && err.contains("f.meme"),
        "{err}"
    );
    // eval prints its report on stdout, and its summary on stderr after it.
    let out = seqcnn(&["eval", "--model", m, s(&data("REST_B.head50.seq"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.lines().count() == 1 && err.starts_with("seqcnn eval: 50 sequences in "),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("task\tauroc"));
}
