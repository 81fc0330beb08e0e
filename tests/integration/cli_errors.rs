//! Bad input through the CLI (`train`, `predict`, `eval`): each case fails with one error line
//! naming the file and the line or record, exit code 2, no panic, and nothing left at the output
//! path or in its directory.

use crate::common::{data, fails_with, ok, tempdir};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

/// A tiny valid model, trained once per test run: one epoch on 50 REST peaks.
fn model() -> &'static str {
    static MODEL: OnceLock<String> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_errors.safetensors");
        let path = utf8(&path);
        let train = data("REST_B.head50.seq");
        ok(&[
            "train",
            "--arch",
            "deepbind",
            "--train",
            &utf8(&train),
            "--out",
            &path,
            "--epochs",
            "1",
            "--threads",
            "1",
        ]);
        path
    })
}

fn utf8(path: &Path) -> String {
    path.to_str().expect("test paths are UTF-8").to_string()
}

/// A temporary directory of bad inputs, which remembers what it should hold.
struct Scratch {
    dir: tempfile::TempDir,
    files: BTreeSet<String>,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            dir: tempdir(),
            files: BTreeSet::new(),
        }
    }

    /// Writes an input file and returns its path.
    fn write(&mut self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.dir.path().join(name), bytes).expect("write input");
        self.files.insert(name.to_string());
        self.path(name)
    }

    /// The path of `name` in the directory (not created).
    fn path(&self, name: &str) -> String {
        utf8(&self.dir.path().join(name))
    }

    /// Asserts the directory holds exactly the inputs written: no output, no temporary file.
    fn assert_clean(&self, what: &str) {
        let found: BTreeSet<String> = std::fs::read_dir(self.dir.path())
            .expect("read temp dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let left: Vec<&String> = found.difference(&self.files).collect();
        assert!(left.is_empty(), "{what} left files behind: {left:?}");
    }
}

/// Runs `seqcnn args`, which must fail on bad input: exit code 2, no panic, one error line that
/// ends stderr and contains every needle. Nothing may exist at `out` afterwards, nor any file in
/// the scratch directory but its inputs. Returns the error line.
fn bad_input(s: &Scratch, args: &[&str], out: Option<&str>, needles: &[&str]) -> String {
    let err = fails_with(2, args, needles);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("seqcnn: error: "),
        "the error should be stderr's last line, alone: {err}"
    );
    for n in needles {
        assert!(last.contains(n), "error line should mention '{n}': {last}");
    }
    let parts: Vec<&str> = last.split(": ").collect();
    assert!(
        parts.windows(2).all(|w| w[0] != w[1]),
        "a cause is printed twice: {last}"
    );
    if let Some(out) = out {
        assert!(
            !Path::new(out).exists(),
            "seqcnn {args:?} left output at {out}"
        );
    }
    s.assert_clean(&format!("seqcnn {args:?}"));
    last.to_string()
}

/// `train`, `predict` and `eval` on one bad input: each must fail with every needle.
fn all_commands(s: &Scratch, input: &str, needles: &[&str]) -> Vec<String> {
    let model_out = s.path("model.safetensors");
    let scores_out = s.path("out.tsv");
    let train = [
        "train",
        "--arch",
        "deepbind",
        "--train",
        input,
        "--out",
        &model_out,
        "--epochs",
        "1",
        "--threads",
        "1",
    ];
    let predict = ["predict", "--model", model(), input, "--out", &scores_out];
    let eval = ["eval", "--model", model(), input];
    vec![
        bad_input(s, &train, Some(&model_out), needles),
        bad_input(s, &predict, Some(&scores_out), needles),
        bad_input(s, &eval, None, needles),
    ]
}

const HEADER: &str = "FoldID\tEventID\tseq\tBound\n";
const SEQ: &str = "GACCCTGCGCTTGGATTTCAGCACCGCGGACAGGAGCGCG";

#[test]
fn empty_fasta() {
    let mut s = Scratch::new();
    for (name, bytes) in [("empty.fa", &b""[..]), ("blank.fa", b"\n\r\n   \n")] {
        let p = s.write(name, bytes);
        all_commands(&s, &p, &[&format!("{p}: "), "no records"]);
    }
    // A header and no sequence: the record and its line.
    let p = s.write("header_only.fa", b">r1 some peak\n\n");
    all_commands(
        &s,
        &p,
        &[&format!("{p}:1: "), "record 'r1'", "empty sequence"],
    );
}

#[test]
fn table_without_a_seq_column() {
    let mut s = Scratch::new();
    let p = s.write(
        "noseq.tsv",
        format!("FoldID\tEventID\tsequence\tBound\nA\tp1\t{SEQ}\t1\n").as_bytes(),
    );
    all_commands(
        &s,
        &p,
        &[
            &format!("{p}:1: "),
            "no 'seq' column",
            "columns found: FoldID, EventID, sequence, Bound",
        ],
    );
}

#[test]
fn digits_in_a_table_sequence() {
    let mut s = Scratch::new();
    let p = s.write(
        "digits.tsv",
        format!("{HEADER}A\tp1\t{SEQ}\t1\nA\tp2\tACGT7ACGT{SEQ}\t1\nA\tp3\t{SEQ}\t1\n").as_bytes(),
    );
    all_commands(
        &s,
        &p,
        &[
            &format!("{p}:3: "),
            "record 'p2'",
            "invalid character '7' at position 5 of the sequence",
        ],
    );
}

#[test]
fn digits_in_a_fasta_record_name_its_line_and_record() {
    let mut s = Scratch::new();
    // Multi-line records: the digit is on line 6, inside record r2 (header on line 4).
    let p = s.write(
        "digits.fa",
        format!(">r1\n{SEQ}\n{SEQ}\n>r2 desc\n{SEQ}\nAC3GT{SEQ}\n>r3\n{SEQ}\n").as_bytes(),
    );
    all_commands(
        &s,
        &p,
        &[
            &format!("{p}:6: "),
            "record 'r2'",
            "invalid character '3' at column 3",
        ],
    );
}

#[test]
fn table_row_with_too_few_fields() {
    let mut s = Scratch::new();
    let p = s.write(
        "short_row.tsv",
        format!("{HEADER}A\tp1\t{SEQ}\t1\nA\tp2\t{SEQ}\t1\nA\tp3\t{SEQ}\n").as_bytes(),
    );
    all_commands(
        &s,
        &p,
        &[&format!("{p}:4: "), "row has 3 fields, the header has 4"],
    );
}

#[test]
fn out_in_a_directory_that_does_not_exist() {
    let s = Scratch::new();
    let input = utf8(&data("REST_B.head50.seq"));
    let missing = s.path("no_such_dir");
    let model_out = format!("{missing}/model.safetensors");
    let scores_out = format!("{missing}/out.tsv");
    let needles = |out: &str| {
        [
            out.to_string(),
            format!("directory {missing} does not exist"),
        ]
    };
    let n = needles(&model_out);
    bad_input(
        &s,
        &[
            "train", "--arch", "deepbind", "--train", &input, "--out", &model_out, "--epochs", "1",
        ],
        Some(&model_out),
        &[&n[0], &n[1]],
    );
    let n = needles(&scores_out);
    bad_input(
        &s,
        &["predict", "--model", model(), &input, "--out", &scores_out],
        Some(&scores_out),
        &[&n[0], &n[1]],
    );
    assert!(!Path::new(&missing).exists());
}

#[test]
fn truncated_gzip_table_is_a_clear_error_at_a_line() {
    let mut s = Scratch::new();
    let gz = std::fs::read(data("REST_B.head50.seq.gz")).expect("fixture");
    // Cut in the compressed data: the lines before the cut are read, then the error.
    let p = s.write("cut.seq.gz", &gz[..gz.len() * 3 / 4]);
    for line in all_commands(&s, &p, &["gzip data is truncated or corrupt"]) {
        let rest = line
            .strip_prefix(&format!("seqcnn: error: {p}:"))
            .unwrap_or_else(|| panic!("should name the file and a line: {line}"));
        let n: u64 = rest
            .split(':')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("should name a line: {line}"));
        assert!(
            (2..=51).contains(&n),
            "line {n} is not in the table: {line}"
        );
    }
    // Cut in the gzip header: nothing can be read, the file is still named.
    let p = s.write("head.seq.gz", &gz[..6]);
    all_commands(
        &s,
        &p,
        &[&format!("{p}: "), "gzip data is truncated or corrupt"],
    );
}

#[test]
fn model_file_that_does_not_exist() {
    let s = Scratch::new();
    let input = utf8(&data("REST_B.head50.seq"));
    let missing = s.path("no_such_model.safetensors");
    let out = s.path("out.tsv");
    bad_input(
        &s,
        &["predict", "--model", &missing, &input, "--out", &out],
        Some(&out),
        &[&format!("{missing}: ")],
    );
    bad_input(
        &s,
        &["eval", "--model", &missing, &input],
        None,
        &[&format!("{missing}: ")],
    );
}

#[test]
fn threads_zero_is_bad_usage() {
    let s = Scratch::new();
    let input = utf8(&data("REST_B.head50.seq"));
    let model_out = s.path("model.safetensors");
    let scores_out = s.path("out.tsv");
    let needles = ["--threads must be at least 1"];
    bad_input(
        &s,
        &[
            "train",
            "--arch",
            "deepbind",
            "--train",
            &input,
            "--out",
            &model_out,
            "--epochs",
            "1",
            "--threads",
            "0",
        ],
        Some(&model_out),
        &needles,
    );
    bad_input(
        &s,
        &[
            "predict",
            "--model",
            model(),
            &input,
            "--out",
            &scores_out,
            "--threads",
            "0",
        ],
        Some(&scores_out),
        &needles,
    );
    bad_input(
        &s,
        &["eval", "--model", model(), &input, "--threads", "0"],
        None,
        &needles,
    );
}

#[test]
fn predict_failing_midway_leaves_no_partial_output() {
    let mut s = Scratch::new();
    // 60 good records with long names (more than the 64 KiB output buffer once scored), then a
    // bad one: with --chunk 1 the good rows are written before the error is met.
    let mut fasta = String::new();
    for i in 0..60 {
        fasta.push_str(&format!(">r{i}_{}\n{SEQ}\n", "x".repeat(2000)));
    }
    let good = s.write("good.fa", fasta.as_bytes());
    fasta.push_str(&format!(">bad\n{SEQ}\nACGT.ACGT\n"));
    let bad = s.write("bad.fa", fasta.as_bytes());
    for name in ["out.tsv", "out.tsv.gz"] {
        let out = s.path(name);
        let args = [
            "predict",
            "--model",
            model(),
            &bad,
            "--out",
            &out,
            "--chunk",
            "1",
        ];
        bad_input(
            &s,
            &args,
            Some(&out),
            &[&format!("{bad}:123: "), "record 'bad'", "'.' at column 5"],
        );
        // An existing file at the path is left as it was.
        let old = s.write(name, b"old\n");
        bad_input(&s, &args, None, &[&format!("{bad}:123: ")]);
        assert_eq!(std::fs::read(&old).expect("old output"), b"old\n");
        // The same command on good input does write the file.
        ok(&[
            "predict",
            "--model",
            model(),
            &good,
            "--out",
            &out,
            "--chunk",
            "1",
        ]);
        let mut text = String::new();
        let file = std::fs::File::open(&out).expect("output");
        if name.ends_with(".gz") {
            std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(file), &mut text)
        } else {
            std::io::Read::read_to_string(&mut { file }, &mut text)
        }
        .expect("read output");
        assert!(text.len() > 1 << 16, "{name}: {} bytes", text.len());
        assert_eq!(text.lines().count(), 61, "{name}");
        s.assert_clean("a successful predict");
    }
}

/// `seqcnn ARGS` with its stdout closed before it writes: it must exit 0 and print nothing.
#[cfg(unix)]
fn closed_stdout(args: &[&str]) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_seqcnn"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run seqcnn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for seqcnn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.is_empty(),
        "seqcnn {args:?} into a closed pipe: {:?}, stderr: {err}",
        out.status
    );
}

#[cfg(unix)]
#[test]
fn writing_to_a_closed_pipe_is_not_an_error() {
    let input = utf8(&data("REST_B.head50.seq"));
    closed_stdout(&["predict", "--model", model(), &input]);
    closed_stdout(&["predict", "--model", model(), &input, "--out", "-"]);
    closed_stdout(&["eval", "--model", model(), &input]);
    closed_stdout(&["eval", "--model", model(), &input, "--json"]);
}

#[test]
fn valid_inputs_pass_the_same_commands() {
    // The checks above are not vacuous: the commands they run succeed on good input.
    let mut s = Scratch::new();
    let input = utf8(&data("REST_B.head50.seq.gz"));
    let model_out = s.path("model.safetensors");
    ok(&[
        "train",
        "--arch",
        "deepbind",
        "--train",
        &input,
        "--out",
        &model_out,
        "--epochs",
        "1",
        "--threads",
        "1",
    ]);
    let fa = s.write("ok.fa", format!(">a\n{SEQ}\n>b\n{SEQ}\n").as_bytes());
    let scores_out = s.path("out.tsv");
    ok(&["predict", "--model", &model_out, &fa, "--out", &scores_out]);
    let scores = std::fs::read_to_string(&scores_out).expect("scores");
    assert_eq!(scores.lines().count(), 3, "{scores}");
    let report = ok(&["eval", "--model", &model_out, &input]);
    assert!(report.starts_with("task\tauroc"), "{report}");
}

/// An output that is one of the command's inputs (however it is spelled: here through a
/// symlink) is refused before any work, exit 2, and the input is left as it was; so is a thread
/// count no machine has.
#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = tempdir();
    let d = dir.path();
    let input = d.join("seqs.seq");
    std::fs::copy(data("REST_B.head50.seq"), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let link = d.join("link.seq");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    ok(&[
        "import",
        "deepbind",
        "--out",
        d.to_str().unwrap(),
        data("deepbind/D00328.003.txt").to_str().unwrap(),
    ]);
    let model = d.join("D00328.003.safetensors");
    let (m, i, l) = (
        model.to_str().unwrap(),
        input.to_str().unwrap(),
        link.to_str().unwrap(),
    );
    for cmd in ["predict", "mutate", "saliency"] {
        fails_with(
            2,
            &[cmd, "--model", m, i, "--out", l],
            &["--out", "is the input", "seqs.seq"],
        );
        assert_eq!(
            std::fs::read(&input).unwrap(),
            before,
            "{cmd} left its input as it was"
        );
    }
    let vcf = d.join("v.vcf");
    std::fs::copy(data("variants/chr20_30M_snvs.vcf"), &vcf).unwrap();
    let vcf_before = std::fs::read(&vcf).unwrap();
    let genome = data("genome/chr20_30M.fa.gz");
    fails_with(
        2,
        &[
            "variants",
            "--model",
            m,
            "--genome",
            genome.to_str().unwrap(),
            "--window",
            "101",
            "--vcf",
            vcf.to_str().unwrap(),
            "--out-vcf",
            vcf.to_str().unwrap(),
        ],
        &["--out-vcf", "is the input", "v.vcf"],
    );
    assert_eq!(std::fs::read(&vcf).unwrap(), vcf_before);
    fails_with(
        2,
        &["predict", "--model", m, i, "--threads", "99999999999"],
        &["--threads", "at most"],
    );
}

/// Outputs that are not regular files are written in place, never replaced by a regular file:
/// a FIFO gets the rows, a device stays a device (a null device takes the rows, a full one fails
/// the run with exit 1 and "No space left"), a link to a device stays a link; a link to a
/// regular file keeps pointing at the file, which gets the new contents.
#[cfg(unix)]
#[test]
fn outputs_that_are_not_regular_files_are_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempdir();
    let d = dir.path();
    let input = utf8(&data("REST_B.head50.seq"));
    let predict = |out: &Path| {
        crate::common::seqcnn(&["predict", "--model", model(), &input, "--out", &utf8(out)])
    };

    let fifo = d.join("scores.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let run = predict(&fifo);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(reader.join().unwrap().lines().count(), 51);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

    let file = d.join("real.tsv");
    std::fs::write(&file, "old\n").unwrap();
    let link = d.join("link.tsv");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    assert!(predict(&link).status.success());
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 51);

    // Character devices need root to make (as in CI and containers, where a rename onto
    // /dev/null would break the machine).
    let (null, full) = (d.join("null"), d.join("full"));
    let made = ["1 3", "1 7"].iter().zip([&null, &full]).all(|(nums, p)| {
        let mut args = vec![utf8(p), "c".into()];
        args.extend(nums.split(' ').map(String::from));
        std::process::Command::new("mknod")
            .args(&args)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !made {
        eprintln!("not root: the character-device cases are skipped");
        return;
    }
    assert!(predict(&null).status.success());
    let to_full = d.join("to_full.tsv");
    std::os::unix::fs::symlink(&full, &to_full).unwrap();
    for out in [&full, &to_full] {
        let run = predict(out);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{err}");
        assert!(err.contains("No space left"), "{err}");
    }
    for p in [&null, &full] {
        assert!(
            std::fs::metadata(p).unwrap().file_type().is_char_device(),
            "{p:?}"
        );
    }
    assert!(
        std::fs::symlink_metadata(&to_full)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let names: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

/// SIGTERM or SIGINT while an output is being written: its temporary file is removed, the
/// output never appears, and the exit code is 128 + the signal (143, 130).
#[cfg(unix)]
#[test]
fn a_signal_removes_the_unfinished_output() {
    use std::io::Write;
    let input = std::fs::read_to_string(data("REST_B.head50.seq")).unwrap();
    for (sig, code) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        let dir = tempdir();
        let out = dir.path().join("scores.tsv");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_seqcnn"))
            .args(["predict", "--model", model(), "-", "--out", &utf8(&out)])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Some records, with stdin kept open: the run waits for more, its output unfinished.
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        stdin.flush().unwrap();
        let started = std::time::Instant::now();
        while std::fs::read_dir(dir.path()).unwrap().count() == 0 {
            assert!(
                started.elapsed().as_secs() < 30,
                "no temporary output appeared"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        let status = child.wait().unwrap();
        drop(stdin);
        assert_eq!(status.code(), Some(code), "signal {sig}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "signal {sig}: left {left:?}");
    }
}

/// Standard output closed early (`| head`) ends the table, never the files: `train --log -`
/// still writes its model, `mutate --plot` draws every map.
#[cfg(unix)]
#[test]
fn a_closed_stdout_still_writes_the_files() {
    let dir = tempdir();
    let d = dir.path();
    let closed = |args: &[&str]| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_seqcnn"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let trained = d.join("m.safetensors");
    let input = utf8(&data("REST_B.head50.seq"));
    closed(&[
        "train",
        "--arch",
        "deepbind",
        "--train",
        &input,
        "--epochs",
        "2",
        "--threads",
        "1",
        "--log",
        "-",
        "--out",
        &utf8(&trained),
    ]);
    assert!(
        trained.exists(),
        "train --log - into a closed pipe wrote no model"
    );
    let maps = d.join("maps");
    let fa = d.join("three.fa");
    std::fs::write(&fa, format!(">a\n{SEQ}\n>b\n{SEQ}\n>c\n{SEQ}\n")).unwrap();
    closed(&[
        "mutate",
        "--model",
        model(),
        &utf8(&fa),
        "--plot",
        &utf8(&maps),
    ]);
    assert_eq!(std::fs::read_dir(&maps).unwrap().count(), 3);
}

/// A run that fails leaves none of its plots, and a --plot that names a file is bad usage.
#[test]
fn a_failed_run_leaves_no_plots() {
    let dir = tempdir();
    let d = dir.path();
    let fa = d.join("bad.fa");
    std::fs::write(&fa, format!(">a\n{SEQ}\n>b\n{SEQ}\n>c\nAC7T\n")).unwrap();
    let maps = d.join("maps");
    for cmd in ["mutate", "saliency"] {
        fails_with(
            2,
            &[
                cmd,
                "--model",
                model(),
                &utf8(&fa),
                "--plot",
                &utf8(&maps),
                "--out",
                &utf8(&d.join("o.tsv")),
            ],
            &["bad.fa", "'7'"],
        );
        assert!(!maps.exists(), "{cmd}: maps left");
    }
    let file = d.join("file.txt");
    std::fs::write(&file, "x").unwrap();
    fails_with(
        2,
        &[
            "mutate",
            "--model",
            model(),
            &utf8(&fa),
            "--plot",
            &utf8(&file),
        ],
        &["file.txt", "not a directory"],
    );
    let names: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "left: {names:?}");
}

/// A damaged genome or index is bad input (exit 2) whose message says how to rebuild the index:
/// a truncated or binary index, a block that fails its checksum, an index whose offsets do not
/// match the blocks, a plain FASTA edited after indexing.
#[test]
fn damaged_genomes_and_indexes_are_input_errors_with_the_fix() {
    let dir = tempdir();
    let d = dir.path();
    let src = data("genome/chr20_30M.fa.gz");
    let fa = d.join("g.fa.gz");
    let (fai, gzi) = (d.join("g.fa.gz.fai"), d.join("g.fa.gz.gzi"));
    let reset = || {
        std::fs::copy(&src, &fa).unwrap();
        std::fs::copy(src.with_extension("gz.fai"), &fai).unwrap();
        std::fs::copy(src.with_extension("gz.gzi"), &gzi).unwrap();
    };
    let bed = d.join("one.bed");
    std::fs::write(&bed, "chr20\t1000\t1101\n").unwrap();
    // A 101 bp model over the first block of the slice.
    let m = d.join("m.safetensors");
    let mut arch = seqcnn::arch::Arch::builtin("deepbind").unwrap();
    arch.set("input.length=101").unwrap();
    seqcnn::model::Model::new(arch, vec!["t".into()], &mut seqcnn::rng::seeded(1), 1.0)
        .unwrap()
        .save(&m)
        .unwrap();
    let args = [
        "predict",
        "--model",
        &utf8(&m),
        "--genome",
        &utf8(&fa),
        &utf8(&bed),
    ];
    reset();
    ok(&args);
    /// What is damaged, how, and what the message must say.
    type Case<'a> = (&'a str, &'a dyn Fn(), &'a [&'a str]);
    let cases: [Case; 4] = [
        (
            "truncated .gzi",
            &|| {
                let b = std::fs::read(&gzi).unwrap();
                std::fs::write(&gzi, &b[..40]).unwrap();
            },
            &["g.fa.gz.gzi", "damaged", "seqcnn index --force"],
        ),
        (
            "binary .fai",
            &|| std::fs::write(&fai, [0xff, 0xfe, 0, 1, 2, 3]).unwrap(),
            &["g.fa.gz.fai", "not a .fai", "seqcnn index"],
        ),
        (
            "a flipped bit in a block",
            &|| {
                let mut b = std::fs::read(&fa).unwrap();
                b[200] ^= 1;
                std::fs::write(&fa, b).unwrap();
            },
            &[
                "g.fa.gz",
                "block at byte 0",
                "damaged",
                "seqcnn index --force",
            ],
        ),
        (
            "offsets of another file",
            &|| {
                let mut b = std::fs::read(&gzi).unwrap();
                let u = u64::from_le_bytes(b[16..24].try_into().unwrap()) + 7;
                b[16..24].copy_from_slice(&u.to_le_bytes());
                std::fs::write(&gzi, b).unwrap();
            },
            &["g.fa.gz", "where the index says", "seqcnn index --force"],
        ),
    ];
    for (what, damage, needles) in cases {
        reset();
        damage();
        let err = fails_with(2, &args, needles);
        assert!(!err.is_empty(), "{what}");
    }
    // A plain FASTA edited after indexing.
    let plain = d.join("p.fa");
    let text = String::from_utf8(
        std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&src)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::write(&plain, &text).unwrap();
    ok(&["index", &utf8(&plain)]);
    // Ten bases cut from the first sequence line: the file is shorter than its index says.
    let (head, rest) = text.split_once('\n').unwrap();
    std::fs::write(&plain, format!("{head}\n{}", &rest[10..])).unwrap();
    let args = [
        "predict",
        "--model",
        &utf8(&m),
        "--genome",
        &utf8(&plain),
        &utf8(&bed),
    ];
    fails_with(2, &args, &["p.fa", "stale", "seqcnn index --force"]);
}

/// Sizes from the user are checked before anything is allocated: an architecture's huge channel
/// count or kernel, a network whose activations no machine holds, a batch size or report size in
/// the trillions. Each is bad input (exit 2) naming the file or flag, never an abort.
#[test]
fn absurd_sizes_are_refused_before_allocating() {
    let dir = tempdir();
    let d = dir.path();
    let input = utf8(&data("REST_B.head50.seq"));
    let out = utf8(&d.join("m.safetensors"));
    let arch = |name: &str, input_line: &str, layer: &str| {
        let p = d.join(name);
        std::fs::write(
            &p,
            format!(
                "name = \"x\"\ninput = {input_line}\n[[layers]]\ntype = \"conv1d\"\n{layer}\n\
                 [[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"linear\"\n"
            ),
        )
        .unwrap();
        utf8(&p)
    };
    let cases = [
        (
            arch(
                "channels.toml",
                "{ channels = 4, length = 101 }",
                "out_channels = 100000000000\nkernel_size = 3",
            ),
            vec![
                "channels.toml",
                "out_channels = 100000000000",
                "larger than 16777216",
            ],
        ),
        (
            arch(
                "kernel.toml",
                "{ channels = 4, length = 101 }",
                "out_channels = 8\nkernel_size = 9223372036854775000",
            ),
            vec!["kernel.toml", "kernel_size", "larger than 16777216"],
        ),
        (
            arch(
                "wide.toml",
                "{ channels = 4, length = 16000000 }",
                "out_channels = 16000000\nkernel_size = 3",
            ),
            vec![
                "wide.toml",
                "layer 0 (conv1d)",
                "values per example",
                "more than 4294967296",
            ],
        ),
    ];
    for (a, needles) in cases {
        fails_with(
            2,
            &[
                "train", "--arch", &a, "--train", &input, "--out", &out, "--epochs", "1",
            ],
            &needles,
        );
    }
    // Flags: the argument parser's own usage error, exit 2.
    for args in [
        vec![
            "predict",
            "--model",
            model(),
            &input,
            "--batch-size",
            "1000000000000",
        ],
        vec![
            "mutate",
            "--model",
            model(),
            &input,
            "--batch-size",
            "1000000000000",
        ],
        vec![
            "train",
            "--arch",
            "deepbind",
            "--train",
            &input,
            "--out",
            &out,
            "--batch-size",
            "0",
        ],
    ] {
        let run = crate::common::seqcnn(&args);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("--batch-size") && err.contains("1048576"),
            "{err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("memory allocation"),
            "{err}"
        );
    }
    assert!(!d.join("m.safetensors").exists());
}

/// Errors stay one short line that points at the right place: an architecture's unknown key at
/// its own line (toml reports the table's header), a layer that does not fit its input under
/// the file's name, a binary file read as a table without its bytes dumped.
#[test]
fn messages_name_the_right_line_and_stay_short() {
    let dir = tempdir();
    let d = dir.path();
    let input = utf8(&data("REST_B.head50.seq"));
    let out = utf8(&d.join("m.safetensors"));
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        utf8(&p)
    };
    let head = "name = \"x\"\ninput = { channels = 4, length = 101 }\n[[layers]]\n\
                type = \"conv1d\"\nout_channels = 8\n";
    let tail = "[[layers]]\ntype = \"global_max_pool\"\n[[layers]]\ntype = \"linear\"\n";
    let unknown = write(
        "unknown.toml",
        &format!("{head}kernel_size = 5\nin_channels = 4\n{tail}"),
    );
    let long = write("long.toml", &format!("{head}kernel_size = 200\n{tail}"));
    let train = |arch: &str, needles: &[&str]| {
        let args = [
            "train", "--arch", arch, "--train", &input, "--out", &out, "--epochs", "1",
        ];
        fails_with(2, &args, needles);
        assert!(!Path::new(&out).exists());
    };
    train(&unknown, &["unknown.toml", "line 7", "in_channels"]);
    train(
        &long,
        &[
            "long.toml",
            "layer 0 (conv1d)",
            "shorter than the kernel span",
        ],
    );
    // An IDX image file whose magic number is damaged reads as a table: the columns it
    // "found" are its binary header and pixels.
    let images = data("images/mnist-test100-images-idx3-ubyte.gz");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(images).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    bytes[3] = 9;
    let bad = d.join("bad.idx");
    std::fs::write(&bad, &bytes).unwrap();
    let err = fails_with(
        2,
        &["predict", "--model", model(), &utf8(&bad)],
        &["bad.idx:1"],
    );
    let line = err.lines().last().unwrap();
    assert!(line.len() < 300, "{} bytes: {line}", line.len());
}
