//! `predict --tile --out X.bw`: bigWig tracks read back with bigtools' reader hold, at every bin,
//! the value the TSV of the same run prints (a two-task model, with one file per task or one
//! picked by --task; an imported DeepBind model with skipped bins); tracks of regions given out
//! of order are in the genome's order, on a genome whose contig order is not alphabetical; and
//! the command lines that cannot write a bigWig fail before leaving any file.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const GENOME: &str = "genome/chr20_30M.fa.gz";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A freshly initialised DeepBind-architecture model with a 101 bp input and two tasks, `t1`
/// and `t2` (probabilities, some above 0.5, which the TSV prints with extra digits).
fn two_task_model(dir: &Path) -> PathBuf {
    let mut arch = seqcnn::arch::Arch::builtin("deepbind").unwrap();
    arch.set("input.length=101").unwrap();
    let mut rng = seqcnn::rng::seeded(11);
    let m = seqcnn::model::Model::new(arch, vec!["t1".into(), "t2".into()], &mut rng, 1.0).unwrap();
    let path = dir.join("m.safetensors");
    m.save(&path).unwrap();
    path
}

/// DeepBind's CTCF model D00328.003 (any input length; raw scores).
fn deepbind(dir: &Path) -> PathBuf {
    let file = data("deepbind/D00328.003.txt");
    ok(&["import", "deepbind", "--out", s(dir), s(&file)]);
    dir.join("D00328.003.safetensors")
}

/// A bigWig's contigs (name, length) and its intervals per contig, read with bigtools.
type Track = (Vec<(String, u32)>, BTreeMap<String, Vec<(u32, u32, f32)>>);

fn read_track(path: &Path) -> Track {
    let mut bw = bigtools::BigWigRead::open_file(path).expect("a bigWig bigtools opens");
    let chroms: Vec<(String, u32)> = bw
        .chroms()
        .iter()
        .map(|c| (c.name.clone(), c.length))
        .collect();
    let mut values = BTreeMap::new();
    for (name, len) in &chroms {
        let v: Vec<(u32, u32, f32)> = bw
            .get_interval(name, 0, *len)
            .unwrap()
            .map(|v| {
                let v = v.unwrap();
                (v.start, v.end, v.value)
            })
            .collect();
        values.insert(name.clone(), v);
    }
    (chroms, values)
}

/// The TSV's bins per contig, in the TSV's order: (start, end, the column's field as printed).
fn tsv_column(tsv: &str, column: &str) -> BTreeMap<String, Vec<(u32, u32, String)>> {
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let c = header.iter().position(|h| *h == column).unwrap();
    let mut out: BTreeMap<String, Vec<(u32, u32, String)>> = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split('\t').collect();
        out.entry(f[0].to_string()).or_default().push((
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[c].to_string(),
        ));
    }
    out
}

/// Whether a bigWig value `bw` is the TSV's `field`: exactly `field` read as `f32` when the TSV
/// prints the value as the `f32` it rounds to (any value but a probability above 0.5). A
/// probability above 0.5 is printed from the `f64`, rounded to d >= 7 decimals (trailing zeros
/// dropped), so there `bw`, the `f64` rounded to `f32`, lies within 0.5e-d (the TSV's rounding,
/// d taken as the digits printed, at least 7) + 2^-25 (half an `f32` step in [0.5, 1]) of the
/// field. Returns whether the match was exact.
fn same_value(field: &str, bw: f32, at: &str) -> bool {
    let t: f64 = field.parse().unwrap();
    if t as f32 == bw {
        return true;
    }
    let decimals = field.split_once('.').map_or(0, |(_, d)| d.len()).max(7) as i32;
    let tol = 0.5 * 10f64.powi(-decimals) + 2f64.powi(-25);
    assert!(
        t > 0.5 && (f64::from(bw) - t).abs() <= tol,
        "{at}: bigWig {bw} vs TSV {field}"
    );
    false
}

/// Checks a track against a TSV column: the same contigs (with the genome's lengths), the same
/// bins in genome order, the same values. Returns (bins compared, exact matches).
fn check_track(track: &Track, tsv: &str, column: &str, lengths: &[(&str, u32)]) -> (usize, usize) {
    let (chroms, values) = track;
    let want = tsv_column(tsv, column);
    let mut names: Vec<&str> = chroms.iter().map(|c| c.0.as_str()).collect();
    names.sort();
    let mut want_names: Vec<&str> = want.keys().map(String::as_str).collect();
    want_names.sort();
    assert_eq!(names, want_names, "{column}: contigs");
    for (name, len) in chroms {
        let fai = lengths.iter().find(|l| l.0 == name).unwrap().1;
        assert_eq!(*len, fai, "{column}: length of {name}");
    }
    let (mut n, mut exact) = (0, 0);
    for (contig, rows) in &want {
        let mut rows = rows.clone();
        rows.sort_by_key(|r| r.0);
        let got = &values[contig];
        assert_eq!(got.len(), rows.len(), "{column} {contig}: bins");
        for ((s, e, field), (bs, be, v)) in rows.iter().zip(got) {
            let at = format!("{column} {contig}:{s}-{e}");
            assert_eq!((s, e), (bs, be), "{at}");
            n += 1;
            exact += usize::from(same_value(field, *v, &at));
        }
    }
    (n, exact)
}

/// The names in a directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn tile_tracks_hold_the_tsv_value_of_every_bin() {
    let dir = tempdir();
    let m = two_task_model(dir.path());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let genome = data(GENOME);
    let base = [
        "predict",
        "--model",
        s(&m),
        "--genome",
        s(&genome),
        "--tile",
        "200",
    ];
    let tsv_path = out.join("tiles.tsv");
    ok(&[&base[..], &["--out", s(&tsv_path)]].concat());
    let tsv = std::fs::read_to_string(&tsv_path).unwrap();
    // Every 200 bp bin of the 200 kb slice.
    assert_eq!(tsv.lines().count(), 1 + 1000);
    let bw = out.join("tiles.bw");
    ok(&[&base[..], &["--out", s(&bw)]].concat());
    // One file per task beside --out, which itself is not written.
    assert_eq!(
        listing(&out),
        ["tiles.t1.bw", "tiles.t2.bw", "tiles.tsv"],
        "no temporary file left"
    );
    let lengths = [("20", 200_000)];
    let mut inexact = 0;
    for t in ["t1", "t2"] {
        let track = read_track(&out.join(format!("tiles.{t}.bw")));
        assert_eq!(track.0, [("20".to_string(), 200_000)]);
        let (n, exact) = check_track(&track, &tsv, t, &lengths);
        assert_eq!(n, 1000);
        inexact += n - exact;
    }
    // Some probabilities above 0.5 print more digits than their f32 holds.
    assert!(inexact > 0 && inexact < 2000, "{inexact}");

    // --task picks one column: written to --out itself, and to the TSV's only column.
    let one = out.join("t2.bw");
    ok(&[&base[..], &["--task", "t2", "--out", s(&one)]].concat());
    let picked = ok(&[&base[..], &["--task", "t2", "--region", "20:1-1000"]].concat());
    assert_eq!(picked.lines().next(), Some("#chrom\tstart\tend\tt2"));
    assert_eq!(picked.lines().count(), 1 + 5);
    assert_eq!(
        read_track(&one),
        read_track(&out.join("tiles.t2.bw")),
        "--task t2 writes the t2 track"
    );
}

#[test]
fn deepbind_track_holds_the_scored_bins_only() {
    let dir = tempdir();
    let m = deepbind(dir.path());
    let genome = data(GENOME);
    // 20 bp bins with 101 bp windows: the first window reaches 40 bp past the contig's start
    // and --max-n 0.3 skips it, so the track starts at the second bin; the second region is
    // given first.
    let args = [
        "predict",
        "--model",
        s(&m),
        "--genome",
        s(&genome),
        "--tile",
        "20",
        "--window",
        "101",
        "--max-n",
        "0.3",
        "--region",
        "20:100,001-120,000",
        "--region",
        "20:1-300",
    ];
    let tsv = ok(&args);
    let bw = dir.path().join("ctcf.bw");
    ok(&[&args[..], &["--out", s(&bw)]].concat());
    let track = read_track(&bw);
    assert_eq!(
        track.1["20"][0].0, 20,
        "the skipped first bin is not in the track"
    );
    let (n, exact) = check_track(&track, &tsv, "D00328.003", &[("20", 200_000)]);
    assert_eq!(
        (n, exact),
        (1000 + 14, 1000 + 14),
        "raw scores are equal as f32"
    );
}

#[test]
fn tracks_are_in_genome_order_whatever_the_region_order() {
    let dir = tempdir();
    let m = deepbind(dir.path());
    // Contigs in an order that is neither alphabetical nor by length, each read from the slice.
    let slice = seqcnn::io::genome::Genome::open(&data(GENOME)).unwrap();
    let contigs: [(&str, u32); 3] = [("chr2", 3000), ("chr10", 2000), ("chr1", 2500)];
    let mut fasta = String::new();
    for (i, (name, len)) in contigs.iter().enumerate() {
        let from = 100_000 + 10_000 * i as u64;
        let seq = slice.fetch("20", from, from + u64::from(*len)).unwrap();
        fasta.push_str(&format!(">{name}\n{}\n", String::from_utf8(seq).unwrap()));
    }
    let fa = dir.path().join("toy.fa");
    std::fs::write(&fa, fasta).unwrap();
    ok(&["index", s(&fa)]);
    let args = [
        "predict",
        "--model",
        s(&m),
        "--genome",
        s(&fa),
        "--tile",
        "100",
        "--window",
        "101",
        "--region",
        "chr1",
        "--region",
        "chr10:1001-2000",
        "--region",
        "chr2:1-1000",
        "--region",
        "chr10:1-1000",
    ];
    let tsv = ok(&args);
    // The TSV keeps the order given.
    let mut given: Vec<&str> = tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    given.dedup();
    assert_eq!(given, ["chr1", "chr10", "chr2", "chr10"]);
    let bw = dir.path().join("toy.bw");
    ok(&[&args[..], &["--out", s(&bw)]].concat());
    let track = read_track(&bw);
    // The genome's order, with the .fai's lengths.
    let names: Vec<&str> = track.0.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ["chr2", "chr10", "chr1"]);
    let (n, exact) = check_track(&track, &tsv, "D00328.003", &contigs);
    assert_eq!((n, exact), (25 + 10 + 10 + 10, 55));
}

#[test]
fn bigwig_outputs_that_cannot_be_written_fail_and_leave_nothing() {
    let dir = tempdir();
    let m = two_task_model(dir.path());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let genome = data(GENOME);
    let bed = data("genome/chr20_30M_CTCF.bed");
    let bw = out.join("tiles.bw");
    let tile = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["predict", "--model", s(&m), "--genome", s(&genome)]
            .iter()
            .map(|x| x.to_string())
            .collect();
        a.extend(["--tile", "200", "--region", "20:1-2000"].map(String::from));
        a.extend(extra.iter().map(|x| x.to_string()));
        a.extend(["--out".to_string(), s(&bw).to_string()]);
        a
    };
    let run = |args: Vec<String>, needles: &[&str]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails_with(2, &args, needles);
        assert_eq!(listing(&out), Vec::<String>::new(), "{args:?} left files");
    };
    // Not tiles: BED intervals and sequences are TSV.
    run(
        [
            "predict",
            "--model",
            s(&m),
            "--genome",
            s(&genome),
            s(&bed),
            "--out",
            s(&bw),
        ]
        .map(String::from)
        .to_vec(),
        &["tiles.bw", "--tile"],
    );
    let seqs = data("REST_B.head50.seq");
    run(
        ["predict", "--model", s(&m), s(&seqs), "--out", s(&bw)]
            .map(String::from)
            .to_vec(),
        &["--tile"],
    );
    run(tile(&["--task", "CTCF"]), &["--task CTCF", "t1, t2"]);
    run(tile(&["--task", "t1", "--task", "t1"]), &["given twice"]);
    run(tile(&["--shard", "2/3"]), &["--shard", "merge"]);
    run(
        tile(&["--region", "20:1001-3000"]),
        &["20:1-2000", "20:1001-3000", "overlap"],
    );
    // Shorter than one bin: nothing to write.
    let mut a = tile(&[]);
    let r = a.iter().position(|x| x == "20:1-2000").unwrap();
    a[r] = "20:1-100".into();
    run(a, &["no bin was scored"]);
    // A directory where a track goes: neither track is written.
    std::fs::create_dir(out.join("tiles.t2.bw")).unwrap();
    let args = tile(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails_with(2, &args, &["tiles.t2.bw", "regular file"]);
    assert_eq!(listing(&out), ["tiles.t2.bw"]);
    // A FIFO is no place for a bigWig either (it is written with seeks).
    let fifo = out.join("pipe.bw");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let mut a = tile(&["--task", "t1"]);
        *a.last_mut().unwrap() = s(&fifo).to_string();
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        fails_with(2, &a, &["pipe.bw", "regular file"]);
    }
}
