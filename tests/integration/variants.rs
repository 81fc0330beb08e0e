//! `seqcnn variants` through the CLI on the vendored chr20 slice: scores equal `predict` on
//! windows cut here from the genome by the documented rule (SNVs, multi-allelic records,
//! insertions, deletions; even and odd windows; a DeepBind model and a fixed-length model), REF
//! mismatches flagged or fatal under --strict, every allele either scored or listed with a
//! reason, malformed input failing with its line and no output, the annotated VCF read back by
//! noodles-vcf, and the HTML report self-contained.

use crate::common::*;
use seqcnn::arch::Arch;
use seqcnn::io::genome::Genome;
use seqcnn::model::Model;
use seqcnn::model::Strand;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn vcf(name: &str) -> PathBuf {
    data(&format!("variants/{name}"))
}

fn genome_path() -> PathBuf {
    data("genome/chr20_30M.fa.gz")
}

fn genome() -> Genome {
    Genome::open(&genome_path()).expect("vendored genome")
}

/// DeepBind's CTCF model D00328.003 (any input length).
fn deepbind(dir: &Path) -> PathBuf {
    let file = data("deepbind/D00328.003.txt");
    ok(&["import", "deepbind", "--out", s(dir), s(&file)]);
    dir.join("D00328.003.safetensors")
}

/// A two-task network on 64-bp inputs (an even length), random weights, mean over strands;
/// one task name is not a valid INFO ID as it stands.
fn fixed(dir: &Path) -> PathBuf {
    let arch = Arch::from_toml(
        r#"
name = "fixed64"
input = { channels = 4, length = 64 }
loss = "bce"
[[layers]]
type = "conv1d"
out_channels = 8
kernel_size = 7
[[layers]]
type = "relu"
[[layers]]
type = "max_pool1d"
kernel_size = 4
[[layers]]
type = "flatten"
[[layers]]
type = "linear"
"#,
    )
    .expect("arch");
    let tasks = vec!["CTCF".to_string(), "DNase:HeLa-S3".to_string()];
    let mut model = Model::new(arch, tasks, &mut seqcnn::rng::seeded(11), 1.0).expect("model");
    model.meta.strand = Strand::Mean;
    let path = dir.join("fixed64.safetensors");
    model.save(&path).expect("save");
    path
}

/// A network that takes any input length (like DeepBind's) and averages over positions, so
/// every base of a window counts and a window shifted by one base scores differently.
fn any_length(dir: &Path) -> PathBuf {
    let arch = Arch::from_toml(
        r#"
name = "avg_any"
input = { channels = 4 }
loss = "bce"
[[layers]]
type = "conv1d"
out_channels = 6
kernel_size = 3
[[layers]]
type = "relu"
[[layers]]
type = "global_avg_pool"
[[layers]]
type = "linear"
"#,
    )
    .expect("arch");
    let model =
        Model::new(arch, vec!["t".into()], &mut seqcnn::rng::seeded(5), 4.0).expect("model");
    assert_eq!(model.meta.input_length, None);
    let path = dir.join("avg_any.safetensors");
    model.save(&path).expect("save");
    path
}

/// A TSV as a header and rows of named fields.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn parse(text: &str) -> Table {
        let mut lines = text.lines();
        let header = lines
            .next()
            .expect("a header")
            .split('\t')
            .map(str::to_string)
            .collect();
        let rows = lines
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        Table { header, rows }
    }

    fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.header))
    }

    fn get<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        &row[self.col(name)]
    }

    fn num(&self, row: &[String], name: &str) -> f64 {
        self.get(row, name)
            .parse()
            .unwrap_or_else(|_| panic!("{name} is not a number"))
    }
}

/// The windows of a record by the rule in `seqcnn variants --help`, cut here from the genome:
/// REF's middle base (`POS + len(REF)/2`, 1-based) at 0-based offset `(w - 1) / 2`; the ALT window is
/// the same left flank, ALT, then the genome after REF, `w` bases in all.
fn windows(g: &Genome, pos: u64, reference: &str, alt: &str, w: usize) -> (Vec<u8>, Vec<u8>) {
    let p0 = pos as i64 - 1;
    // The centre base at offset (w - 1) / 2: Selene's rule (see below).
    let start = p0 + (reference.len() / 2) as i64 - ((w - 1) / 2) as i64;
    assert!(start >= 0, "test windows stay inside the contig");
    let start = start as u64;
    let r = g.fetch("20", start, start + w as u64).expect("fetch");
    let mut a = g.fetch("20", start, pos - 1).expect("fetch");
    a.extend(alt.bytes());
    let after = pos - 1 + reference.len() as u64;
    let more = w.saturating_sub(a.len());
    a.extend(g.fetch("20", after, after + more as u64).expect("fetch"));
    a.truncate(w);
    (r, a)
}

/// `predict` scores (one column per task) of sequences, in order.
fn predict(dir: &Path, model: &Path, seqs: &[Vec<u8>], extra: &[&str]) -> Vec<Vec<f64>> {
    let fa = dir.join("windows.fa");
    let mut text = String::new();
    for (i, q) in seqs.iter().enumerate() {
        text.push_str(&format!(">w{i}\n{}\n", String::from_utf8_lossy(q)));
    }
    std::fs::write(&fa, text).expect("write");
    let mut args = vec!["predict", "--model", s(model), s(&fa)];
    args.extend(extra);
    ok(&args)
        .lines()
        .skip(1)
        .map(|l| {
            l.split('\t')
                .skip(1)
                .map(|v| v.parse().expect("number"))
                .collect()
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + a.abs().max(b.abs()))
}

/// Runs `variants` and returns the TSV.
fn variants(model: &Path, input: &Path, extra: &[&str]) -> Table {
    let genome = genome_path();
    let mut args = vec![
        "variants",
        "--model",
        s(model),
        "--vcf",
        s(input),
        "--genome",
        s(&genome),
    ];
    args.extend(extra);
    Table::parse(&ok(&args))
}

/// Every row's four numbers per task equal `predict` and `predict --raw` on the windows cut
/// here; returns the rows checked.
fn check_against_predict(
    dir: &Path,
    model: &Path,
    t: &Table,
    w: usize,
    tasks: &[&str],
    extra: &[&str],
) {
    let g = genome();
    let mut seqs = Vec::new();
    for row in &t.rows {
        let pos: u64 = t.get(row, "pos").parse().expect("pos");
        let (r, a) = windows(&g, pos, t.get(row, "ref"), t.get(row, "alt"), w);
        assert_eq!((r.len(), a.len()), (w, w));
        seqs.push(r);
        seqs.push(a);
    }
    let scaled = predict(dir, model, &seqs, extra);
    let mut raw_args = extra.to_vec();
    raw_args.push("--raw");
    let raw = predict(dir, model, &seqs, &raw_args);
    for (i, row) in t.rows.iter().enumerate() {
        for (k, task) in tasks.iter().enumerate() {
            let (r, a) = (scaled[2 * i][k], scaled[2 * i + 1][k]);
            let got = |c: &str| t.num(row, &format!("{task}:{c}"));
            let want_logit = raw[2 * i + 1][k] - raw[2 * i][k];
            assert!(
                close(got("ref"), r)
                    && close(got("alt"), a)
                    && close(got("diff"), a - r)
                    && close(got("logit_diff"), want_logit),
                "row {row:?} task {task}: predict gives ref {r} alt {a} logit diff {want_logit}"
            );
        }
    }
}

#[test]
fn deepbind_scores_equal_predict_on_the_same_windows() {
    let dir = tempdir();
    let model = deepbind(dir.path());
    for file in [
        "chr20_30M_snvs.vcf",
        "chr20_30M_indels.vcf",
        "synthetic.vcf",
    ] {
        let t = variants(&model, &vcf(file), &["--window", "101"]);
        check_against_predict(dir.path(), &model, &t, 101, &["D00328.003"], &[]);
        if file != "synthetic.vcf" {
            // Real records: REF matches the genome.
            assert_eq!(t.rows.len(), if file.contains("snvs") { 3 } else { 2 });
            assert!(t.rows.iter().all(|r| t.get(r, "ref_match") == "true"));
        }
    }
    // The synthetic records: one row per scored ALT, in input order, multi-allelic split.
    let t = variants(&model, &vcf("synthetic.vcf"), &["--window", "101"]);
    let ids: Vec<(&str, &str)> = t
        .rows
        .iter()
        .map(|r| (t.get(r, "id"), t.get(r, "alt")))
        .collect();
    assert_eq!(
        ids,
        [
            ("syn_multi", "C"),
            ("syn_multi", "G"),
            ("syn_multi", "T"),
            ("syn_ref_mismatch", "G"),
            ("syn_ins", "CGGCGC"),
            ("syn_del", "A"),
            ("syn_mnv", "AC"),
            ("syn_chr_prefix", "C"),
            ("syn_symbolic", "A"),
            ("syn_star", "T"),
        ]
    );
    // The three ALTs of one record share its reference window.
    let refs: Vec<&str> = t.rows[..3]
        .iter()
        .map(|r| t.get(r, "D00328.003:ref"))
        .collect();
    assert!(refs.iter().all(|r| *r == refs[0]), "{refs:?}");
    let flags: Vec<&str> = t.rows.iter().map(|r| t.get(r, "ref_match")).collect();
    assert_eq!(flags.iter().filter(|f| **f == "false").count(), 1);
    assert_eq!(t.get(&t.rows[3], "ref_match"), "false");
}

#[test]
fn fixed_length_model_uses_its_even_length_and_each_strand_rule() {
    let dir = tempdir();
    let model = fixed(dir.path());
    // The model's own rule (mean), then the others.
    for strand in [&[][..], &["--strand", "max"], &["--strand", "none"]] {
        let t = variants(&model, &vcf("synthetic.vcf"), strand);
        assert_eq!(t.rows.len(), 10);
        assert_eq!(t.header.len(), 6 + 2 * 4);
        assert_eq!(
            t.header[6..10],
            ["CTCF:ref", "CTCF:alt", "CTCF:diff", "CTCF:logit_diff"]
        );
        check_against_predict(
            dir.path(),
            &model,
            &t,
            64,
            &["CTCF", "DNase:HeLa-S3"],
            strand,
        );
    }
    // --window must agree with the model's own length.
    fails_with(
        2,
        &[
            "variants",
            "--model",
            s(&model),
            "--vcf",
            s(&vcf("synthetic.vcf")),
            "--genome",
            s(&genome_path()),
            "--window",
            "101",
        ],
        &["takes exactly 64 bp", "--window 101"],
    );
}

/// The window rule spelled out with literal coordinates, for odd and even windows, on a model
/// of any input length (so --window applies) in which every base counts; the test checks it can
/// tell a window shifted by one base from the right one.
#[test]
fn window_offsets_for_odd_and_even_windows_and_indel_centring() {
    let dir = tempdir();
    let model = any_length(dir.path());
    let g = genome();
    let fetch = |a: u64, b: u64| g.fetch("20", a, b).expect("fetch");
    let input = dir.path().join("three.vcf");
    // A SNV at 0-based 7712 (T>C), the 5-bp deletion ATATT>A at 0-based 28299..28304 and the
    // insertion C>CGGCGC at 0-based 28199.
    let head = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";
    std::fs::write(
        &input,
        format!(
            "{head}20\t7713\tsnv\tT\tC\t.\t.\t.\n20\t28300\tdel\tATATT\tA\t.\t.\t.\n20\t28200\tins\tC\tCGGCGC\t.\t.\t.\n"
        ),
    )
    .expect("write");
    // Selene's window, written out from its source (selene_sdk/predict/model_predict.py,
    // `AnalyzeSequences.__init__` and `variant_effect_prediction`): `start_radius = N // 2`,
    // plus one when N is odd, `end_radius = N // 2`; `center = pos + len(ref) // 2` with POS
    // 1-based; the window is genome[center - start_radius : center + end_radius], 0-based.
    let selene_start = |pos: u64, ref_len: u64, n: u64| pos + ref_len / 2 - (n / 2 + n % 2);
    for (w, snv_start) in [
        (101u64, 7712 - 50),
        (100, 7712 - 49),
        (7, 7712 - 3),
        (6, 7712 - 2),
    ] {
        assert_eq!(snv_start, selene_start(7713, 1, w));
        let t = variants(&model, &input, &["--window", &w.to_string()]);
        let snv_ref = fetch(snv_start, snv_start + w);
        let mut snv_alt = snv_ref.clone();
        let off = ((w - 1) / 2) as usize;
        assert_eq!(snv_alt[off], b'T');
        snv_alt[off] = b'C';
        // Deletion: centred on REF's middle base (0-based 28301); the ALT window is the left
        // flank to 28299, `A`, then the genome from 28304 on, extended by the 4 deleted bases.
        let del_start = selene_start(28300, 5, w);
        let del_ref = fetch(del_start, del_start + w);
        let mut del_alt = fetch(del_start, 28299);
        del_alt.push(b'A');
        del_alt.extend(fetch(28304, 28304 + (w as usize - del_alt.len()) as u64));
        // Insertion: centred on the C at 0-based 28199; the right flank trimmed by 5 bases.
        let ins_start = selene_start(28200, 1, w);
        let ins_ref = fetch(ins_start, ins_start + w);
        let mut ins_alt = fetch(ins_start, 28199);
        ins_alt.extend(b"CGGCGC");
        let room = w as usize - ins_alt.len().min(w as usize);
        ins_alt.extend(fetch(28200, 28200 + room as u64));
        ins_alt.truncate(w as usize);
        // The same windows shifted one base right, which must score differently.
        let shifted = fetch(snv_start + 1, snv_start + 1 + w);
        let seqs = vec![
            snv_ref, snv_alt, del_ref, del_alt, ins_ref, ins_alt, shifted,
        ];
        let want = predict(dir.path(), &model, &seqs, &[]);
        for (i, row) in t.rows.iter().enumerate() {
            let r = t.num(row, "t:ref");
            let a = t.num(row, "t:alt");
            assert!(
                close(r, want[2 * i][0]) && close(a, want[2 * i + 1][0]),
                "window {w}, {}: got {r} {a}, want {} {}",
                t.get(row, "id"),
                want[2 * i][0],
                want[2 * i + 1][0]
            );
        }
        assert!(
            !close(want[6][0], want[0][0]),
            "window {w}: a shifted window scores the same ({} vs {}), so this test could not see an offset error",
            want[6][0],
            want[0][0]
        );
    }
}

#[test]
fn ref_mismatch_is_flagged_and_fatal_under_strict() {
    let dir = tempdir();
    let model = deepbind(dir.path());
    let out = dir.path().join("out.tsv");
    let skipped = dir.path().join("skipped.tsv");
    let input = vcf("synthetic.vcf");
    let err = fails_with(
        2,
        &[
            "variants",
            "--model",
            s(&model),
            "--vcf",
            s(&input),
            "--genome",
            s(&genome_path()),
            "--window",
            "101",
            "--strict",
            "--out",
            s(&out),
            "--skipped",
            s(&skipped),
        ],
        // syn_ref_mismatch is on line 10: REF A where the genome has C.
        &["synthetic.vcf:10", "20:1541", "expected A", "found C"],
    );
    assert!(
        !out.exists() && !skipped.exists(),
        "no partial output: {err}"
    );
}

/// Runs `variants` with every output; returns (TSV, skipped list, stderr).
fn run_all(dir: &Path, model: &Path, input: &Path, extra: &[&str]) -> (Table, Table, String) {
    let genome = genome_path();
    let out = dir.join("out.tsv");
    let skipped = dir.join("skipped.tsv");
    let mut args = vec![
        "variants",
        "--model",
        s(model),
        "--vcf",
        s(input),
        "--genome",
        s(&genome),
        "--out",
        s(&out),
        "--skipped",
        s(&skipped),
    ];
    args.extend(extra);
    let o = seqcnn(&args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{args:?}: {err}");
    let read = |p: &Path| Table::parse(&std::fs::read_to_string(p).expect("output"));
    (read(&out), read(&skipped), err)
}

/// (id, alt, reason) of each skipped allele.
fn reasons(t: &Table) -> Vec<(String, String, String)> {
    assert_eq!(t.header, ["chrom", "pos", "id", "ref", "alt", "reason"]);
    t.rows
        .iter()
        .map(|r| (r[2].clone(), r[4].clone(), r[5].clone()))
        .collect()
}

/// ALT alleles of a VCF (a `.` ALT counts as one): every one must be scored or listed.
fn alleles(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').nth(4).expect("ALT").split(',').count())
        .sum()
}

#[test]
fn unscorable_alleles_are_listed_with_a_reason() {
    let dir = tempdir();
    let model = deepbind(dir.path());
    let input = vcf("synthetic.vcf");
    let (t, skipped, err) = run_all(dir.path(), &model, &input, &["--window", "101"]);
    let want = [
        ("syn_symbolic", "<DEL>", "symbolic_alt"),
        ("syn_star", "*", "star_allele"),
        ("syn_breakend", "G]20:90000]", "breakend"),
        ("syn_no_alt", ".", "no_alt"),
        ("syn_contig_end", "A", "near_contig_end"),
    ];
    let got = reasons(&skipped);
    assert_eq!(
        got,
        want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    assert_eq!(t.rows.len() + skipped.rows.len(), alleles(&input));
    assert!(
        err.contains("11 records: 10 alleles scored (1 with REF not matching the genome), 5 skipped (near_contig_end 1, symbolic_alt 1, star_allele 1, breakend 1, no_alt 1)"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one summary line: {err}");
}

#[test]
fn bad_input_unknown_contig() {
    let dir = tempdir();
    let model = deepbind(dir.path());
    let input = vcf("bad_unknown_contig.vcf");
    let (t, skipped, err) = run_all(dir.path(), &model, &input, &["--window", "101"]);
    assert_eq!(
        reasons(&skipped),
        [("on_21".into(), "A".into(), "unknown_contig".into())]
    );
    let ids: Vec<&str> = t.rows.iter().map(|r| t.get(r, "id")).collect();
    assert_eq!(ids, ["before", "after"]);
    assert!(err.contains("1 skipped (unknown_contig 1)"), "{err}");
    // Without --skipped the summary says how to list them.
    let o = seqcnn(&[
        "variants",
        "--model",
        s(&model),
        "--vcf",
        s(&input),
        "--genome",
        s(&genome_path()),
        "--window",
        "101",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--skipped FILE"));
    // Under --strict: an error naming the line and the contig, and no output.
    let out = dir.path().join("strict.tsv");
    let vcf_out = dir.path().join("strict.vcf");
    fails_with(
        2,
        &[
            "variants",
            "--model",
            s(&model),
            "--vcf",
            s(&input),
            "--genome",
            s(&genome_path()),
            "--window",
            "101",
            "--strict",
            "--out",
            s(&out),
            "--out-vcf",
            s(&vcf_out),
        ],
        &[
            "bad_unknown_contig.vcf:4",
            "unknown contig '21'",
            "--strict",
        ],
    );
    assert!(!out.exists() && !vcf_out.exists());
}

#[test]
fn bad_input_malformed_record_names_its_line() {
    let dir = tempdir();
    let model = deepbind(dir.path());
    let out = dir.path().join("out.tsv");
    let skipped = dir.path().join("skipped.tsv");
    let vcf_out = dir.path().join("out.vcf");
    let report = dir.path().join("report.html");
    fails_with(
        2,
        &[
            "variants",
            "--model",
            s(&model),
            "--vcf",
            s(&vcf("bad_malformed.vcf")),
            "--genome",
            s(&genome_path()),
            "--window",
            "101",
            "--out",
            s(&out),
            "--skipped",
            s(&skipped),
            "--out-vcf",
            s(&vcf_out),
            "--report",
            s(&report),
        ],
        &[
            "bad_malformed.vcf:5",
            "POS '30,183,598' is not a whole number",
        ],
    );
    for p in [&out, &skipped, &vcf_out, &report] {
        assert!(!p.exists(), "{} written by a failed run", p.display());
    }
    // Nothing half-written either: the directory holds no temporary files.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n.to_string_lossy().starts_with(".seqcnn-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bad_input_symbolic_alt_and_contig_start() {
    let dir = tempdir();
    let model = deepbind(dir.path());
    for (file, id, alt, reason) in [
        ("bad_symbolic.vcf", "sv", "<DEL>", "symbolic_alt"),
        ("bad_contig_start.vcf", "first_base", "C", "near_contig_end"),
    ] {
        let input = vcf(file);
        // --strict does not turn these into errors: they are listed either way.
        for strict in [false, true] {
            let extra: &[&str] = if strict {
                &["--window", "101", "--strict"]
            } else {
                &["--window", "101"]
            };
            let (t, skipped, err) = run_all(dir.path(), &model, &input, extra);
            assert_eq!(
                reasons(&skipped),
                [(id.into(), alt.into(), reason.into())],
                "{file}"
            );
            assert_eq!(t.rows.len(), 1, "{file}");
            assert_eq!(t.get(&t.rows[0], "id"), "snv");
            assert!(err.contains(&format!("1 skipped ({reason} 1)")), "{err}");
        }
    }
    // Position 1 with a 1-bp window is inside the contig: scored.
    let (t, skipped, _) = run_all(
        dir.path(),
        &model,
        &vcf("bad_contig_start.vcf"),
        &["--window", "1"],
    );
    assert_eq!((t.rows.len(), skipped.rows.len()), (2, 0));
}

#[test]
fn gzip_vcf_on_stdin() {
    let dir = tempdir();
    let model = deepbind(dir.path());
    let plain = std::fs::read(vcf("chr20_30M_snvs.vcf")).expect("read");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_seqcnn"))
        .args([
            "variants",
            "--model",
            s(&model),
            "--vcf",
            "-",
            "--genome",
            s(&genome_path()),
            "--window",
            "101",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&gz)
        .expect("write stdin");
    let o = child.wait_with_output().expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let from_stdin = String::from_utf8(o.stdout).expect("utf-8");
    let from_file = ok(&[
        "variants",
        "--model",
        s(&model),
        "--vcf",
        s(&vcf("chr20_30M_snvs.vcf")),
        "--genome",
        s(&genome_path()),
        "--window",
        "101",
    ]);
    assert_eq!(from_stdin, from_file);
    assert_eq!(from_file.lines().count(), 4);
}

/// Reads a VCF (plain, or BGZF as htslib writes it) with noodles-vcf: the header and the
/// records. A `.gz` goes through noodles' BGZF reader, which rejects plain gzip.
fn noodles_read(path: &Path) -> (noodles_vcf::Header, Vec<noodles_vcf::variant::RecordBuf>) {
    let file = std::fs::File::open(path).expect("open");
    let inner: Box<dyn std::io::BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(noodles_bgzf::io::Reader::new(file))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let mut reader = noodles_vcf::io::Reader::new(inner);
    let header = reader.read_header().expect("noodles reads the header");
    let records = reader
        .record_bufs(&header)
        .collect::<Result<Vec<_>, _>>()
        .expect("noodles reads every record");
    (header, records)
}

/// The values of a Number=A float INFO field (`None` for `.`), or a Number=1 one as a list.
fn floats(record: &noodles_vcf::variant::RecordBuf, key: &str) -> Option<Vec<Option<f32>>> {
    use noodles_vcf::variant::record_buf::info::field::Value;
    use noodles_vcf::variant::record_buf::info::field::value::Array;
    match record.info().get(key)? {
        Some(Value::Array(Array::Float(v))) => Some(v.clone()),
        Some(Value::Float(v)) => Some(vec![Some(*v)]),
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn annotated_vcf_is_read_back_by_noodles_with_the_tsv_values() {
    let dir = tempdir();
    let model = fixed(dir.path());
    let input = vcf("synthetic.vcf");
    for name in ["annotated.vcf", "annotated.vcf.gz"] {
        let annotated = dir.path().join(name);
        let (t, _, _) = run_all(dir.path(), &model, &input, &["--out-vcf", s(&annotated)]);
        let (header, records) = noodles_read(&annotated);
        // Every input header line kept, the new INFO fields declared.
        let text = std::fs::read_to_string(&input).expect("read");
        let mut written = String::new();
        if name.ends_with(".gz") {
            use std::io::Read;
            flate2::read::MultiGzDecoder::new(std::fs::File::open(&annotated).expect("open"))
                .read_to_string(&mut written)
                .expect("gunzip");
        } else {
            written = std::fs::read_to_string(&annotated).expect("read");
        }
        for line in text.lines().filter(|l| l.starts_with('#')) {
            assert!(
                written.lines().any(|w| w == line),
                "header line lost: {line}"
            );
        }
        for key in ["SEQCNN_CTCF_DIFF", "SEQCNN_DNase_HeLa_S3_DIFF"] {
            let info = header
                .infos()
                .get(key)
                .unwrap_or_else(|| panic!("{key} declared"));
            assert_eq!(format!("{:?}", info.number()), "AlternateBases", "{key}");
        }
        assert_eq!(records.len(), 11, "every record written back");
        // Per record and ALT, the INFO values are the TSV's.
        let mut by_key: HashMap<(String, String), &Vec<String>> = HashMap::new();
        for row in &t.rows {
            by_key.insert((t.get(row, "id").into(), t.get(row, "alt").into()), row);
        }
        let mut checked = 0;
        for rec in &records {
            let id = rec.ids().as_ref().iter().next().expect("an ID").to_string();
            let alts: Vec<String> = rec.alternate_bases().as_ref().to_vec();
            for (task, key) in [
                ("CTCF", "SEQCNN_CTCF"),
                ("DNase:HeLa-S3", "SEQCNN_DNase_HeLa_S3"),
            ] {
                let diff = floats(rec, &format!("{key}_DIFF"));
                let logit = floats(rec, &format!("{key}_LOGIT_DIFF"));
                let refv = floats(rec, &format!("{key}_REF"));
                let Some(diff) = diff else {
                    // No ALT scored: no values at all.
                    assert!(
                        alts.iter()
                            .all(|a| !by_key.contains_key(&(id.clone(), a.clone())))
                    );
                    continue;
                };
                let logit = logit.expect("logit values with diff values");
                assert_eq!(diff.len(), alts.len(), "{id}: Number=A");
                for (i, alt) in alts.iter().enumerate() {
                    match by_key.get(&(id.clone(), alt.clone())) {
                        Some(row) => {
                            let cell = |c: &str| -> f32 {
                                t.get(row, &format!("{task}:{c}")).parse().expect("f32")
                            };
                            assert_eq!(diff[i], Some(cell("diff")), "{id} {alt}");
                            assert_eq!(logit[i], Some(cell("logit_diff")), "{id} {alt}");
                            assert_eq!(refv.as_ref().expect("REF")[0], Some(cell("ref")));
                            checked += 1;
                        }
                        None => assert_eq!(diff[i], None, "{id} {alt}: unscored ALT is '.'"),
                    }
                }
            }
        }
        assert_eq!(checked, 2 * t.rows.len(), "every TSV row found in the VCF");
    }
}

/// The `<div class="ref">` or `<div class="alt">` map of the figure whose caption names `id`.
fn figure_map<'a>(html: &'a str, id: &str, side: &str) -> &'a str {
    let fig = html
        .split("<figure ")
        .skip(1)
        .find(|f| f.contains(&format!("({id})")))
        .unwrap_or_else(|| panic!("a figure for {id}"));
    let open = format!("<div class=\"{side}\">");
    let start = fig.find(&open).expect("map") + open.len();
    &fig[start..start + fig[start..].find("</svg>").expect("svg end")]
}

/// The numbers an SVG's colour bar is labelled with: -limit, 0, +limit.
fn legend_limit(svg: &str) -> String {
    let g = &svg[svg.find("<g class=\"legend\">").expect("legend")..];
    let g = &g[..g.find("</g>").expect("legend end")];
    let labels: Vec<&str> = g
        .split("text-anchor=\"middle\">")
        .skip(1)
        .map(|t| &t[..t.find('<').unwrap_or(0)])
        .collect();
    labels[2].to_string()
}

/// Width of the first `<rect class="mark"` of an SVG.
fn mark_width(svg: &str) -> f64 {
    let r = &svg[svg.find("<rect class=\"mark\"").expect("a mark")..];
    let w = &r[r.find("width=\"").expect("width") + 7..];
    w[..w.find('"').expect("quote")].parse().expect("number")
}

#[test]
fn report_is_one_self_contained_html_file() {
    let dir = tempdir();
    // Imported with DeepBind's index, so the model knows its protein and experiment.
    let index = data("deepbind/db.slice.tsv");
    let file = data("deepbind/D00328.003.txt");
    ok(&[
        "import",
        "deepbind",
        "--index",
        s(&index),
        "--out",
        s(dir.path()),
        s(&file),
    ]);
    let model = dir.path().join("D00328.003.safetensors");
    let report = dir.path().join("report.html");
    run_all(
        dir.path(),
        &model,
        &vcf("synthetic.vcf"),
        &[
            "--window",
            "101",
            "--report",
            s(&report),
            "--report-top",
            "10",
        ],
    );
    let html = std::fs::read_to_string(&report).expect("report written");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<table id=\"variants\">"));
    assert_eq!(
        html.matches("<tr id=\"row").count(),
        10,
        "one row per scored allele"
    );
    // Each row links to its map and each map back to its row.
    for k in 1..=10 {
        assert!(html.contains(&format!("<a href=\"#map{k}\">map {k}</a>")));
        assert!(html.contains(&format!("<figure id=\"map{k}\">")));
        assert!(html.contains(&format!("<a href=\"#row{k}\">Back to row {k}</a>")));
    }
    assert_eq!(html.matches("<svg").count(), 20, "REF and ALT maps");
    assert!(html.contains("<script>") && html.contains("addEventListener('click'"));
    assert!(html.contains("addEventListener('input'"), "filters");
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(
        !html.contains("<link") && !html.contains(" src="),
        "nothing loaded from elsewhere"
    );
    // The header names the run.
    for (label, value) in [
        ("Model", s(&model).to_string()),
        (
            "DeepBind model",
            "D00328.003 · CTCF · TF · SELEX · Homo sapiens".to_string(),
        ),
        ("Task", "D00328.003".to_string()),
        ("Windows", "101 bp, strand rule max".to_string()),
        ("seqcnn", env!("CARGO_PKG_VERSION").to_string()),
    ] {
        let dt = format!("<dt>{label}</dt><dd>");
        let at = html.find(&dt).unwrap_or_else(|| panic!("{label}")) + dt.len();
        assert!(
            html[at..].starts_with(&value),
            "{label}: {}",
            &html[at..at + 80]
        );
    }
    assert!(html.contains("<dt>Command</dt><dd>") && html.contains("--report-top 10"));
    assert!(html.contains("<dt>Date</dt><dd>20"));
    // A deletion: all of REF (ATATT) outlined in the REF window, ALT's one base in the ALT
    // window; an insertion the other way round.
    let cells = |svg: &str| mark_width(svg) - 1.5;
    let (r, a) = (
        figure_map(&html, "syn_del", "ref"),
        figure_map(&html, "syn_del", "alt"),
    );
    assert!(
        (cells(r) / cells(a) - 5.0).abs() < 0.01,
        "REF ATATT over ALT A"
    );
    assert!(r.contains("· REF") && a.contains("· ALT") && a.contains("ALT window"));
    let (r, a) = (
        figure_map(&html, "syn_ins", "ref"),
        figure_map(&html, "syn_ins", "alt"),
    );
    assert!(
        (cells(a) / cells(r) - 6.0).abs() < 0.01,
        "REF C under ALT CGGCGC"
    );
    // One colour scale for the page by default, one per variant on request.
    let limits = |html: &str| -> Vec<(String, String)> {
        ["syn_del", "syn_ins", "syn_mnv", "syn_multi"]
            .iter()
            .map(|id| {
                (
                    legend_limit(figure_map(html, id, "ref")),
                    legend_limit(figure_map(html, id, "alt")),
                )
            })
            .collect()
    };
    let shared = limits(&html);
    assert!(shared.iter().all(|l| *l == shared[0]), "{shared:?}");
    run_all(
        dir.path(),
        &model,
        &vcf("synthetic.vcf"),
        &[
            "--window",
            "101",
            "--report",
            s(&report),
            "--report-top",
            "10",
            "--report-scale",
            "each",
        ],
    );
    let each = limits(&std::fs::read_to_string(&report).expect("report"));
    assert!(each.iter().all(|(r, a)| r == a), "a pair shares its scale");
    assert!(each.iter().any(|l| *l != each[0]), "{each:?}");
    assert!(each.iter().all(|(r, _)| r.parse::<f64>().expect("number") <= shared[0].0.parse().expect("number")));
    // Rows are ranked by the largest |diff|.
    let t = variants(&model, &vcf("synthetic.vcf"), &["--window", "101"]);
    let top = t
        .rows
        .iter()
        .max_by(|a, b| {
            t.num(a, "D00328.003:diff")
                .abs()
                .total_cmp(&t.num(b, "D00328.003:diff").abs())
        })
        .expect("rows");
    let first = html.find("<tr id=\"row1\"><td>1</td>").expect("rank 1");
    let row_end = html[first..].find("</tr>").expect("row end") + first;
    assert!(
        html[first..row_end].contains(&format!("<td>{}</td>", t.get(top, "id"))),
        "{}",
        &html[first..row_end]
    );
}

/// The shared chr20 sets with DeepBind's CTCF ChIP-seq model D00328.018 at 101 bp: every record
/// scored with REF matching, the annotated VCF read back by noodles, the report written.
/// Needs ../shared/data (not part of a clone):
/// `cargo test --release --test integration variants:: -- --ignored --nocapture`.
#[test]
#[ignore]
fn shared_chr20_snvs_and_indels_with_deepbind_ctcf() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let params = shared.join("deepbind/params/D00328.018.txt");
    let genome = shared.join("genome/20.fa.gz");
    if !params.exists() || !genome.exists() {
        eprintln!("skipped: {} not found", shared.display());
        return;
    }
    let dir = tempdir();
    ok(&["import", "deepbind", "--out", s(dir.path()), s(&params)]);
    let model = dir.path().join("D00328.018.safetensors");
    for (set, n) in [("snvs", 300), ("indels", 194)] {
        let input = shared.join(format!("variants/chr20_{set}.vcf.gz"));
        let out = dir.path().join(format!("{set}.tsv"));
        let skipped = dir.path().join(format!("{set}.skipped.tsv"));
        let annotated = dir.path().join(format!("{set}.vcf.gz"));
        let report = dir.path().join(format!("{set}.html"));
        let t0 = std::time::Instant::now();
        ok(&[
            "variants",
            "--model",
            s(&model),
            "--vcf",
            s(&input),
            "--genome",
            s(&genome),
            "--window",
            "101",
            "--out",
            s(&out),
            "--skipped",
            s(&skipped),
        ]);
        let secs = t0.elapsed().as_secs_f64();
        let t = Table::parse(&std::fs::read_to_string(&out).expect("tsv"));
        assert_eq!(t.rows.len(), n, "{set}");
        assert!(t.rows.iter().all(|r| t.get(r, "ref_match") == "true"));
        assert_eq!(
            std::fs::read_to_string(&skipped)
                .expect("skipped")
                .lines()
                .count(),
            1
        );
        ok(&[
            "variants",
            "--model",
            s(&model),
            "--vcf",
            s(&input),
            "--genome",
            s(&genome),
            "--window",
            "101",
            "--out-vcf",
            s(&annotated),
            "--report",
            s(&report),
        ]);
        let (_, records) = noodles_read(&annotated);
        assert_eq!(records.len(), n);
        for (rec, row) in records.iter().zip(&t.rows) {
            let diff = floats(rec, "SEQCNN_D00328.018_DIFF").expect("values");
            assert_eq!(diff, [Some(t.num(row, "D00328.018:diff") as f32)]);
        }
        assert!(
            std::fs::read_to_string(&report)
                .expect("report")
                .contains("<svg")
        );
        let top = t
            .rows
            .iter()
            .max_by(|a, b| {
                t.num(a, "D00328.018:diff")
                    .abs()
                    .total_cmp(&t.num(b, "D00328.018:diff").abs())
            })
            .expect("rows");
        eprintln!(
            "{set}: {n} rows in {secs:.2}s ({:.0} variants/s incl. start-up); top |diff|: {}",
            n as f64 / secs,
            top.join(" ")
        );
    }
}

#[test]
fn help_states_the_window_and_indel_rules_with_examples() {
    let help = ok(&["variants", "--help"]);
    for needle in [
        "POS + len(REF)/2",
        "0-based offset (N-1)/2",
        "499 of 1000",
        "an insertion trims the right flank, a deletion extends it",
        "--skipped",
        "Examples:",
    ] {
        assert!(help.contains(needle), "--help lacks '{needle}'");
    }
}

/// A 1000-bp model (DeepSEA's length): a SNV sits at window offset 499, in the window Selene
/// cuts (`start_radius = end_radius = N // 2` for even N, `center = POS + len(REF) // 2`,
/// window `[center - start_radius, center + end_radius)` 0-based: selene_sdk/predict/
/// model_predict.py), and the scores are `predict`'s on that window and not on the window one
/// base to the right (where the rule of offset N/2 put it).
#[test]
fn a_1000_bp_model_holds_a_snv_at_offset_499_as_selene_does() {
    let dir = tempdir();
    // Average pooling: every base counts, so a window one base off scores differently.
    let arch = Arch::from_toml(
        "name = \"avg1000\"\ninput = { channels = 4, length = 1000 }\nloss = \"bce\"\n\
         [[layers]]\ntype = \"conv1d\"\nout_channels = 6\nkernel_size = 3\n\
         [[layers]]\ntype = \"relu\"\n[[layers]]\ntype = \"global_avg_pool\"\n\
         [[layers]]\ntype = \"linear\"\n",
    )
    .expect("arch");
    let model = dir.path().join("m1000.safetensors");
    Model::new(arch, vec!["t".into()], &mut seqcnn::rng::seeded(5), 4.0)
        .expect("model")
        .save(&model)
        .expect("save");
    let input = dir.path().join("snv.vcf");
    let head = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";
    std::fs::write(&input, format!("{head}chr20\t7713\tsnv\tT\tC\t.\t.\t.\n")).expect("write");
    let (pos, n) = (7713u64, 1000u64);
    let centre = pos; // + len(REF) // 2 = 0
    let start = centre - n / 2;
    let p = seqcnn::variants::Placement::new(pos, 1, n as usize).expect("placement");
    assert_eq!((p.start, p.ref_offset), (start as i64, 499));
    let g = genome();
    let reference = g.fetch("20", start, start + n).expect("fetch");
    assert_eq!(reference[499], b'T', "the SNV's REF at offset 499");
    let mut alt = reference.clone();
    alt[499] = b'C';
    let mut shifted = g.fetch("20", start - 1, start - 1 + n).expect("fetch");
    assert_eq!(shifted[500], b'T', "the N/2 rule's window");
    let want = predict(dir.path(), &model, &[reference, alt, shifted.clone()], &[]);
    let t = variants(&model, &input, &[]);
    let (r, a) = (t.num(&t.rows[0], "t:ref"), t.num(&t.rows[0], "t:alt"));
    assert!(
        close(r, want[0][0]) && close(a, want[1][0]),
        "{r} {a} {want:?}"
    );
    shifted[500] = b'C';
    let old = predict(dir.path(), &model, &[shifted], &[]);
    assert!(
        !close(a, old[0][0]),
        "the shifted window scores the same: the test cannot tell"
    );
}

/// The records of an indexed VCF in `regions` as a plain filter finds them: REF overlapping the
/// region (`bcftools view -r`), region by region in the order given; `(pos, ref, alt)`.
fn in_regions(path: &Path, regions: &[(&str, u64, u64)]) -> Vec<(u64, String, String)> {
    use std::io::Read;
    let mut text = String::new();
    noodles_bgzf::io::Reader::new(std::fs::File::open(path).expect("vcf"))
        .read_to_string(&mut text)
        .expect("bgzf text");
    let records: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect();
    let mut out = Vec::new();
    for &(contig, start, end) in regions {
        for r in &records {
            let pos: u64 = r[1].parse().expect("pos");
            let last = pos + r[3].len() as u64 - 1;
            if r[0] == contig.trim_start_matches("chr") && last >= start && pos <= end {
                for alt in r[4].split(',') {
                    out.push((pos, r[3].to_string(), alt.to_string()));
                }
            }
        }
    }
    out
}

/// `(pos, ref, alt)` of every allele in a variants TSV and its skipped list, in file order
/// (scored and skipped alleles interleaved by position).
fn alleles_read(out: &Path, skipped: &Path) -> Vec<(u64, String, String)> {
    let mut all = Vec::new();
    for p in [out, skipped] {
        let text = std::fs::read_to_string(p).expect("output");
        // Without the marker line of a part, if any.
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("##"))
            .map(|l| format!("{l}\n"))
            .collect();
        let t = Table::parse(&body);
        for r in &t.rows {
            all.push((
                t.get(r, "pos").parse::<u64>().expect("pos"),
                t.get(r, "ref").to_string(),
                t.get(r, "alt").to_string(),
            ));
        }
    }
    all
}

#[test]
fn region_reads_exactly_the_records_bcftools_selects_through_the_index() {
    let dir = tempdir();
    let model = deepbind(dir.path());
    let indexed = vcf("chr20_snvs_indels.vcf.gz");
    // A CSI-only copy: the same records through the other index format.
    let csi_dir = dir.path().join("csi");
    std::fs::create_dir_all(&csi_dir).unwrap();
    let csi_copy = csi_dir.join("calls.vcf.gz");
    std::fs::copy(&indexed, &csi_copy).unwrap();
    std::fs::copy(
        vcf("chr20_snvs_indels.vcf.gz.csi"),
        csi_dir.join("calls.vcf.gz.csi"),
    )
    .unwrap();
    // A copy indexed by `seqcnn index` (htslib's tabix reads that index too).
    let own_dir = dir.path().join("own");
    std::fs::create_dir_all(&own_dir).unwrap();
    let own_copy = own_dir.join("calls.vcf.gz");
    std::fs::copy(&indexed, &own_copy).unwrap();
    let listed = ok(&["index", s(&own_copy)]);
    assert!(listed.contains("calls.vcf.gz.tbi\twritten"), "{listed}");
    let regions = [
        ("20", 30_000_000, 31_000_000),
        ("20", 50_018_400, 50_018_402),
        ("chr20", 1, 2_000_000),
    ];
    let want = in_regions(&indexed, &regions);
    // The counts bcftools view -r gives (tests/data/README.md): 10, 1 and 11 records.
    assert_eq!(want.len(), 10 + 1 + 11, "{want:?}");
    assert!(want.contains(&(50_018_388, "GGTGTCAACAAATAG".into(), "G".into())));
    for input in [&indexed, &csi_copy, &own_copy] {
        let out = dir.path().join("region.tsv");
        let skipped = dir.path().join("region_skipped.tsv");
        let o = seqcnn(&[
            "variants",
            "--model",
            s(&model),
            "--window",
            "101",
            "--vcf",
            s(input),
            "--genome",
            s(&genome_path()),
            "--region",
            "20:30,000,000-31,000,000",
            "--region",
            "20:50018400-50018402",
            "--region",
            "chr20:1-2000000",
            "--out",
            s(&out),
            "--skipped",
            s(&skipped),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut got = alleles_read(&out, &skipped);
        let mut want_sorted = want.clone();
        // Scored and skipped rows are in two files: compare as sets, then the TSV's order.
        got.sort();
        want_sorted.sort();
        assert_eq!(got, want_sorted, "{}", input.display());
        let t = Table::parse(&std::fs::read_to_string(&out).unwrap());
        let order: Vec<u64> = t
            .rows
            .iter()
            .map(|r| t.get(r, "pos").parse().unwrap())
            .collect();
        let want_order: Vec<u64> = want
            .iter()
            .map(|w| w.0)
            .filter(|p| order.contains(p))
            .collect();
        assert_eq!(order, want_order, "regions in the order given");
    }
    // The rows scored equal those of a run over the whole file.
    let whole = dir.path().join("whole.tsv");
    let o = seqcnn(&[
        "variants",
        "--model",
        s(&model),
        "--window",
        "101",
        "--vcf",
        s(&indexed),
        "--genome",
        s(&genome_path()),
        "--out",
        s(&whole),
    ]);
    assert!(o.status.success());
    let whole = std::fs::read_to_string(&whole).unwrap();
    let part = std::fs::read_to_string(dir.path().join("region.tsv")).unwrap();
    for line in part.lines().skip(1) {
        assert!(whole.lines().any(|l| l == line), "{line}");
    }
}

#[test]
fn region_errors_say_what_to_do() {
    let dir = tempdir();
    let model = deepbind(dir.path());
    let genome = genome_path();
    let run = |input: &Path, regions: &[&str], needles: &[&str]| {
        let mut args = vec![
            "variants",
            "--model",
            s(&model),
            "--window",
            "101",
            "--vcf",
            s(input),
            "--genome",
            s(&genome),
        ];
        for r in regions {
            args.extend(["--region", r]);
        }
        let out = dir.path().join("never.tsv");
        args.extend(["--out", s(&out)]);
        fails(&args, needles);
        assert!(!out.exists(), "nothing written");
    };
    let indexed = vcf("chr20_snvs_indels.vcf.gz");
    // A plain VCF, and a bgzipped one without an index.
    run(
        &vcf("synthetic.vcf"),
        &["20:1-10"],
        &["synthetic.vcf", "bgzip", "tabix -p vcf"],
    );
    let bare = dir.path().join("bare.vcf.gz");
    std::fs::copy(&indexed, &bare).unwrap();
    run(
        &bare,
        &["20:1-10"],
        &["bare.vcf.gz", "index", "tabix -p vcf"],
    );
    // `seqcnn index` on a plain VCF and on an unsorted bgzipped one.
    fails(
        &["index", s(&vcf("synthetic.vcf"))],
        &["synthetic.vcf", "bgzip"],
    );
    let unsorted = dir.path().join("unsorted.vcf.gz");
    let text = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n20\t500\t.\tA\tG\t.\t.\t.\n20\t100\t.\tC\tT\t.\t.\t.\n";
    let mut w = noodles_bgzf::io::Writer::new(std::fs::File::create(&unsorted).unwrap());
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap();
    fails(
        &["index", s(&unsorted)],
        &["unsorted.vcf.gz", "cannot index", "sorted"],
    );
    assert!(!dir.path().join("unsorted.vcf.gz.tbi").exists());
    // A contig the file does not have, overlapping regions, a malformed region.
    run(
        &indexed,
        &["21:1-100"],
        &["contig '21'", "not in the index", "with or without `chr`"],
    );
    run(
        &indexed,
        &["20:100-500", "chr20:400-900"],
        &["20:100-500", "chr20:400-900", "overlap", "merge them"],
    );
    run(
        &indexed,
        &["20:500-100"],
        &["20:500-100", "END is before START"],
    );
    // --region and --shard do not mix (a usage error).
    let o = seqcnn(&[
        "variants",
        "--model",
        s(&model),
        "--window",
        "101",
        "--vcf",
        s(&indexed),
        "--genome",
        s(&genome),
        "--region",
        "20",
        "--shard",
        "1/2",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--region") && err.contains("--shard"), "{err}");
}

#[test]
fn parts_of_a_split_by_region_partition_the_records_by_pos() {
    let dir = tempdir();
    let model = deepbind(dir.path());
    let genome = genome_path();
    let indexed = vcf("chr20_snvs_indels.vcf.gz");
    // The 15-bp deletion at 50018388 (REF to 50018402) crosses the boundary at 50018395.
    let run = |region: &str, part: Option<&str>, name: &str| -> Vec<(u64, String, String)> {
        let out = dir.path().join(format!("{name}.tsv"));
        let skipped = dir.path().join(format!("{name}.skipped.tsv"));
        let mut args = vec![
            "variants",
            "--model",
            s(&model),
            "--window",
            "101",
            "--vcf",
            s(&indexed),
            "--genome",
            s(&genome),
            "--region",
            region,
            "--out",
            s(&out),
            "--skipped",
            s(&skipped),
        ];
        if let Some(p) = part {
            args.extend(["--part", p]);
        }
        ok(&args);
        if let Some(p) = part {
            let text = std::fs::read_to_string(&out).unwrap();
            assert!(text.starts_with(&format!("##seqcnn_shard={p}\n")), "{text}");
        }
        alleles_read(&out, &skipped)
    };
    let deletion = (50_018_388, "GGTGTCAACAAATAG".to_string(), "G".to_string());
    let first = run("20:50018000-50018395", Some("1/2"), "p1");
    let second = run("20:50018396-50018800", Some("2/2"), "p2");
    assert!(first.contains(&deletion) && !second.contains(&deletion));
    // As a plain region, the second one holds the deletion too (its REF overlaps it).
    assert!(run("20:50018396-50018800", None, "plain").contains(&deletion));
    // The parts merge into one file.
    let merged = dir.path().join("merged.tsv");
    ok(&[
        "merge",
        "--out",
        s(&merged),
        s(&dir.path().join("p1.tsv")),
        s(&dir.path().join("p2.tsv")),
    ]);
}
