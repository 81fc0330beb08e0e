//! `--shard I/N` and `seqcnn merge` through the CLI: for N = 1..=5 the shard outputs, merged or
//! concatenated with the header kept once, are exactly the unsharded output, for predict on a
//! sequence table, on BED intervals of the vendored chr20 slice and on genome tiles, and for
//! mutate; plus the errors (stdin, bad shard numbers, mismatched shards) and failed runs leaving
//! no files behind.

use crate::common::*;
use std::io::Read;
use std::path::{Path, PathBuf};

const GENOME: &str = "genome/chr20_30M.fa.gz";
const CTCF: &str = "genome/chr20_30M_CTCF.bed";
const PEAKS22: &str = "genome/chr22_CTCF.head20.narrowPeak";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A freshly initialised DeepBind-architecture model with a fixed 101 bp input and two tasks:
/// scores sequence files and genome windows alike.
fn model(dir: &Path) -> PathBuf {
    let mut arch = seqcnn::arch::Arch::builtin("deepbind").unwrap();
    arch.set("input.length=101").unwrap();
    let mut rng = seqcnn::rng::seeded(11);
    let m = seqcnn::model::Model::new(arch, vec!["t1".into(), "t2".into()], &mut rng, 1.0).unwrap();
    let path = dir.join("m.safetensors");
    m.save(&path).unwrap();
    path
}

/// A file's text, gunzipped when its name ends in `.gz`.
fn text(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = String::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_string(&mut out)
            .unwrap();
        out
    } else {
        String::from_utf8(raw).unwrap()
    }
}

/// Runs `args --out FULL` once, then `args --shard I/N --out SHARD` for every I of N = 1..=5, and
/// checks the shards against the full output: each has the header, their row counts are the
/// balanced block sizes (when every record gives `rows_per_record` rows), and both `seqcnn merge`
/// and a plain concatenation dropping the marker lines and the repeated headers give the full
/// output byte for byte.
fn check_shards(dir: &Path, name: &str, args: &[&str], ext: &str, rows_per_record: Option<usize>) {
    let full = dir.join(format!("{name}.full{ext}"));
    ok(&[args, &["--out", s(&full)]].concat());
    let want = text(&full);
    let header = want.lines().next().unwrap().to_string();
    let rows = want.lines().count() - 1;
    assert!(rows >= 10, "{name}: only {rows} rows");
    for n in 1..=5 {
        let mut shards = Vec::new();
        let mut concatenated = String::new();
        for i in 1..=n {
            let p = dir.join(format!("{name}.{i}-of-{n}{ext}"));
            let shard = format!("{i}/{n}");
            ok(&[args, &["--shard", &shard, "--out", s(&p)]].concat());
            let t = text(&p);
            // The marker line naming the shard, then the unsharded output's header.
            let (marker, t) = t.split_once('\n').unwrap();
            assert_eq!(marker, format!("##seqcnn_shard={shard}"), "{name}");
            let (head, body) = t.split_once('\n').unwrap();
            assert_eq!(head, header, "{name} shard {shard}");
            if let Some(per) = rows_per_record {
                // Balanced blocks: the first records % n shards get one record more.
                let records = rows / per;
                let size = records / n + usize::from(i - 1 < records % n);
                assert_eq!(body.lines().count(), size * per, "{name} {shard}");
            }
            if i == 1 {
                concatenated.push_str(t);
            } else {
                concatenated.push_str(body);
            }
            shards.push(p);
        }
        assert!(
            concatenated == want,
            "{name}: {n} shards concatenated differ"
        );
        let merged = dir.join(format!("{name}.merged-{n}{ext}"));
        let mut merge = vec!["merge", s(&merged)];
        merge.extend(shards.iter().map(|p| s(p)));
        ok(&merge);
        assert!(text(&merged) == want, "{name}: {n} shards merged differ");
        if ext.ends_with(".gz") {
            // Same bytes compressed as well.
            assert_eq!(
                std::fs::read(&merged).unwrap(),
                std::fs::read(&full).unwrap()
            );
        }
    }
}

#[test]
fn predict_shards_of_a_sequence_table_join_to_the_full_output() {
    let dir = tempdir();
    // An imported DeepBind model (any input length, DeepBind's window rules) on 50 sequences,
    // scored 20 at a time so that shard and chunk boundaries fall in different places.
    let models = dir.path().join("models");
    ok(&[
        "import",
        "deepbind",
        s(&data("deepbind/D00799.001.txt")),
        "--out",
        s(&models),
    ]);
    let m = models.join("D00799.001.safetensors");
    let input = data("REST_B.head50.seq");
    let args = ["predict", "--model", s(&m), s(&input), "--chunk", "20"];
    check_shards(dir.path(), "seq", &args, ".tsv", Some(1));
}

#[test]
fn predict_shards_of_bed_intervals_join_to_the_full_output() {
    let dir = tempdir();
    let m = model(dir.path());
    let (genome, bed) = (data(GENOME), data(CTCF));
    // 32 intervals scored 20 at a time. A shard scoring only its own 8 intervals would get
    // other last bits than the whole run (the GEMM kernel differs below 16 rows): this failed
    // before shards scored whole chunks of the whole run.
    let args = [
        "predict",
        "--model",
        s(&m),
        "--genome",
        s(&genome),
        s(&bed),
        "--chunk",
        "20",
    ];
    check_shards(dir.path(), "bed", &args, ".tsv", Some(1));
}

#[test]
fn predict_shards_of_genome_tiles_join_to_the_full_output() {
    let dir = tempdir();
    let m = model(dir.path());
    let genome = data(GENOME);
    // Two regions, the second not a whole number of bins (its last 50 bp are not tiled): 50 + 4
    // bins, split across the regions for most shard counts; scored 20 bins at a time.
    let args = [
        "predict",
        "--model",
        s(&m),
        "--genome",
        s(&genome),
        "--tile",
        "200",
        "--region",
        "20:1-10,000",
        "--region",
        "20:150,001-150,850",
        "--chunk",
        "20",
    ];
    check_shards(dir.path(), "tiles", &args, ".tsv.gz", Some(1));
    let full = text(&dir.path().join("tiles.full.tsv.gz"));
    assert_eq!(full.lines().count(), 1 + 54);
    assert!(
        full.lines()
            .last()
            .unwrap()
            .starts_with("20\t150600\t150800\t")
    );
    // Bins of 20 bp with 101 bp windows: the first two windows reach 40 and 20 bp past the
    // contig's start, and --max-n 0.3 skips the first; chunks of 3 bins hold 2 or 3 tiles.
    let args = [
        "predict",
        "--model",
        s(&m),
        "--genome",
        s(&genome),
        "--tile",
        "20",
        "--max-n",
        "0.3",
        "--region",
        "20:1-300",
        "--chunk",
        "3",
    ];
    check_shards(dir.path(), "skips", &args, ".tsv", None);
    let full = text(&dir.path().join("skips.full.tsv"));
    assert_eq!(full.lines().count(), 1 + 14);
    assert!(full.lines().nth(1).unwrap().starts_with("20\t20\t40\t"));
}

#[test]
fn mutate_shards_join_to_the_full_output() {
    let dir = tempdir();
    let m = model(dir.path());
    // 12 sequences of 101 bp (303 rows each), FASTA.
    let fa = dir.path().join("twelve.fa");
    let table = std::fs::read_to_string(data("REST_B.head50.seq")).unwrap();
    let fasta: String = table
        .lines()
        .skip(1)
        .take(12)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            format!(">{}\n{}\n", f[1], f[2])
        })
        .collect();
    std::fs::write(&fa, fasta).unwrap();
    let args = ["mutate", "--model", s(&m), s(&fa), "--batch", "64"];
    check_shards(dir.path(), "ism", &args, ".tsv.gz", Some(303));
    // BED intervals of the chr20 slice, windows read from the genome: 10 of the CTCF peaks.
    let bed = dir.path().join("ten.bed");
    let peaks = std::fs::read_to_string(data(CTCF)).unwrap();
    let ten: String = peaks.lines().take(10).map(|l| format!("{l}\n")).collect();
    std::fs::write(&bed, ten).unwrap();
    let genome = data(GENOME);
    let args = ["mutate", "--model", s(&m), "--genome", s(&genome), s(&bed)];
    check_shards(dir.path(), "ism_bed", &args, ".tsv", Some(303));
}

#[test]
fn variants_shards_merge_to_the_full_tsv_vcf_and_skipped_list() {
    let dir = tempdir();
    let d = dir.path();
    let m = model(d);
    let genome = data(GENOME);
    // 11 records, 16 alleles, some skipped (symbolic, star, breakend, no ALT, contig end), one
    // REF mismatch; scored 3 records at a time.
    let input = data("variants/synthetic.vcf");
    let run = |tag: &str, shard: Option<String>| -> [PathBuf; 3] {
        let outs = [
            d.join(format!("v{tag}.tsv")),
            d.join(format!("v{tag}.vcf.gz")),
            d.join(format!("v{tag}.skipped.tsv")),
        ];
        let mut args = vec![
            "variants",
            "--model",
            s(&m),
            "--genome",
            s(&genome),
            "--vcf",
            s(&input),
            "--batch",
            "3",
            "--out",
            s(&outs[0]),
            "--out-vcf",
            s(&outs[1]),
            "--skipped",
            s(&outs[2]),
        ];
        if let Some(sh) = &shard {
            args.extend(["--shard", sh]);
        }
        ok(&args);
        outs
    };
    let full = run("full", None);
    let want: Vec<String> = full.iter().map(|p| text(p)).collect();
    assert_eq!(want[0].lines().count(), 1 + 16 - 6, "{}", want[0]);
    assert!(want[1].lines().filter(|l| !l.starts_with('#')).count() == 11);
    for n in 1..=5 {
        let shards: Vec<[PathBuf; 3]> = (1..=n)
            .map(|i| run(&format!("{i}-of-{n}"), Some(format!("{i}/{n}"))))
            .collect();
        for k in 0..3 {
            let merged = d.join(format!("merged{k}-{n}{}", [".tsv", ".vcf.gz", ".tsv"][k]));
            let mut args = vec!["merge", "--out", s(&merged)];
            args.extend(shards.iter().map(|o| s(&o[k])));
            ok(&args);
            assert!(
                text(&merged) == want[k],
                "output {k}: {n} shards merged differ"
            );
        }
        // Each shard wrote its own records only: the VCF records add up to the input's.
        let records: usize = shards
            .iter()
            .map(|o| text(&o[1]).lines().filter(|l| !l.starts_with('#')).count())
            .sum();
        assert_eq!(records, 11);
    }
    // Unknown contig under --strict: every shard fails as the whole run does, and no output is
    // left behind.
    let out = d.join("strict");
    std::fs::create_dir(&out).unwrap();
    for shard in ["1/2", "2/2"] {
        fails_with(
            2,
            &[
                "variants",
                "--model",
                s(&m),
                "--genome",
                s(&genome),
                "--vcf",
                s(&data("variants/bad_unknown_contig.vcf")),
                "--strict",
                "--shard",
                shard,
                "--out",
                s(&out.join("v.tsv")),
                "--out-vcf",
                s(&out.join("v.vcf.gz")),
            ],
            &["bad_unknown_contig.vcf", "21"],
        );
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

#[test]
fn shard_errors_are_bad_usage() {
    let dir = tempdir();
    let m = model(dir.path());
    let input = data("REST_B.head50.seq");
    for (shard, needle) in [
        ("0/3", "between 1 and 3"),
        ("4/3", "between 1 and 3"),
        ("1/0", "at least 1"),
        ("2", "no '/'"),
    ] {
        let out = seqcnn(&["predict", "--model", s(&m), s(&input), "--shard", shard]);
        assert_eq!(out.status.code(), Some(2), "{shard}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{shard}: {err}");
    }
    // Standard input can be read once: only 1/1.
    fails_with(
        2,
        &["predict", "--model", s(&m), "-", "--shard", "2/3"],
        &["--shard 2/3", "standard input"],
    );
    let genome = data(GENOME);
    fails_with(
        2,
        &[
            "predict",
            "--model",
            s(&m),
            "--genome",
            s(&genome),
            "-",
            "--shard",
            "1/2",
        ],
        &["standard input"],
    );
    let stdin_ok = std::process::Command::new(env!("CARGO_BIN_EXE_seqcnn"))
        .args(["predict", "--model", s(&m), "-", "--shard", "1/1"])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert!(stdin_ok.status.success());
    // The marker line, the header and 50 rows.
    let stdout = String::from_utf8_lossy(&stdin_ok.stdout);
    assert_eq!(stdout.lines().next(), Some("##seqcnn_shard=1/1"));
    assert_eq!(stdout.lines().count(), 52);
    // A bad record anywhere fails every shard, as it fails the whole run.
    let bad = dir.path().join("bad.fa");
    std::fs::write(&bad, ">a\nACGT\n>b\nAC7T\n>c\nGGGG\n").unwrap();
    for shard in ["1/3", "3/3"] {
        fails_with(
            2,
            &["predict", "--model", s(&m), s(&bad), "--shard", shard],
            &["bad.fa:4", "invalid character '7'"],
        );
    }
    // An unknown contig fails every shard of a BED run, and leaves no file behind.
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("bed.2.tsv");
    fails_with(
        2,
        &[
            "predict",
            "--model",
            s(&m),
            "--genome",
            s(&genome),
            s(&data(PEAKS22)),
            "--shard",
            "2/2",
            "--out",
            s(&out),
        ],
        &["chr22"],
    );
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
}

#[test]
fn merge_through_the_cli() {
    let dir = tempdir();
    let d = dir.path();
    let w = |name: &str, t: &str| {
        let p = d.join(name);
        std::fs::write(&p, t).unwrap();
        p
    };
    let a = w("a.tsv", "name\tt1\nr1\t0.5\n");
    let b = w("b.tsv", "name\tt1\nr2\t0.25\n");
    let c = w("c.tsv", "name\tt2\nr3\t0.1\n");
    // OUT first, or --out; gzip out by extension.
    let out = d.join("ab.tsv");
    ok(&["merge", s(&out), s(&a), s(&b)]);
    assert_eq!(text(&out), "name\tt1\nr1\t0.5\nr2\t0.25\n");
    let gz = d.join("ab.tsv.gz");
    ok(&["merge", "--out", s(&gz), s(&a), s(&b)]);
    assert_eq!(text(&gz), text(&out));
    // To stdout, and from the gzip file back.
    assert_eq!(ok(&["merge", "-", s(&gz)]), text(&out));
    // A shard of another model: the error names it and the line; nothing is written.
    let bad = d.join("abc.tsv");
    fails_with(
        2,
        &["merge", s(&bad), s(&a), s(&b), s(&c)],
        &["c.tsv:1: header differs", "a.tsv", "'name\\tt2'"],
    );
    assert!(!bad.exists());
    fails_with(2, &["merge", s(&out)], &["at least one shard"]);
    fails_with(
        2,
        &["merge", s(&out), s(&out), s(&b)],
        &["also a shard input"],
    );
    fails_with(
        2,
        &["merge", s(&bad), s(&d.join("missing.tsv"))],
        &["missing.tsv"],
    );
    // An output that exists is not replaced (the positional OUT would be the first shard of a
    // glob), unless --force; a shard given twice is refused.
    let before = text(&a);
    fails_with(2, &["merge", s(&a), s(&b)], &["a.tsv exists", "--force"]);
    fails_with(
        2,
        &["merge", "--out", s(&out), s(&a), s(&b)],
        &["ab.tsv exists", "--force"],
    );
    assert_eq!(text(&a), before);
    ok(&["merge", "--force", "--out", s(&out), s(&b), s(&a)]);
    assert_eq!(text(&out), "name\tt1\nr2\t0.25\nr1\t0.5\n");
    fails_with(
        2,
        &[
            "merge",
            "--out",
            s(&d.join("twice.tsv")),
            s(&a),
            s(&b),
            s(&a),
        ],
        &["a.tsv is given twice"],
    );
    assert!(!d.join("twice.tsv").exists());
    let names: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

#[test]
fn merge_finds_a_shard_missing_repeated_or_out_of_order() {
    let dir = tempdir();
    let d = dir.path();
    let m = model(d);
    let input = data("REST_B.head50.seq");
    let shard = |i: usize, n: usize| {
        let p = d.join(format!("s{i}-of-{n}.tsv"));
        let spec = format!("{i}/{n}");
        ok(&[
            "predict",
            "--model",
            s(&m),
            s(&input),
            "--shard",
            &spec,
            "--out",
            s(&p),
        ]);
        p
    };
    let (s1, s2, s3) = (shard(1, 3), shard(2, 3), shard(3, 3));
    let other = shard(2, 2);
    let copy = d.join("copy-of-2.tsv");
    std::fs::copy(&s2, &copy).unwrap();
    let full = d.join("full.tsv");
    ok(&["predict", "--model", s(&m), s(&input), "--out", s(&full)]);
    let out = d.join("merged.tsv");
    let cases: [(&[&PathBuf], &[&str]); 7] = [
        (
            &[&s1, &s2],
            &["shard 3/3 is missing", "s2-of-3.tsv", "shard 2/3"],
        ),
        (
            &[&s1, &s3],
            &["s3-of-3.tsv", "shard 3/3 where shard 2/3 is due"],
        ),
        (
            &[&s2, &s1, &s3],
            &["s2-of-3.tsv", "shard 2/3 where shard 1/3 is due"],
        ),
        (
            &[&s1, &s2, &copy],
            &["copy-of-2.tsv", "shard 2/3 again", "s2-of-3.tsv"],
        ),
        (
            &[&s1, &other],
            &[
                "s2-of-2.tsv",
                "shard 2/2",
                "is shard 1/3",
                "different numbers",
            ],
        ),
        (&[&full, &s2], &["s2-of-3.tsv", "no shard marker line"]),
        (
            &[&s1, &full],
            &["full.tsv", "no shard marker line", "##seqcnn_shard=1/3"],
        ),
    ];
    for (shards, needles) in cases {
        let mut args = vec!["merge", "--out", s(&out)];
        args.extend(shards.iter().map(|p| s(p)));
        fails_with(2, &args, needles);
        assert!(!out.exists(), "{needles:?}: output written");
    }
    // In order and complete: the unsharded output, marker lines dropped.
    ok(&["merge", "--out", s(&out), s(&s1), s(&s2), s(&s3)]);
    assert_eq!(text(&out), text(&full));
}
