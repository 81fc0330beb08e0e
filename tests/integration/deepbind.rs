//! DeepBind's published models through the CLI: `import deepbind` then `predict` reproduces the
//! deepbind v0.11 README's score table, `eval` DeepBind's ENCODE AUROCs; malformed parameter
//! files fail cleanly; `models list|info` finds models. Every file used is under tests/data,
//! except the ignored test that imports all 927 models from ../shared/data.

use crate::common::*;
use std::path::{Path, PathBuf};

fn deepbind(name: &str) -> PathBuf {
    data(&format!("deepbind/{name}"))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Imports the vendored parameter files of `ids` into `dir`.
fn import(dir: &Path, ids: &[&str]) {
    let files: Vec<PathBuf> = ids
        .iter()
        .map(|id| deepbind(&format!("{id}.txt")))
        .collect();
    let mut args = vec!["import", "deepbind", "--out", s(dir)];
    args.extend(files.iter().map(|f| s(f)));
    ok(&args);
}

/// The values of a `name<TAB>value` TSV with a header, in row order.
fn column(tsv: &str) -> Vec<(String, f64)> {
    tsv.lines()
        .skip(1)
        .map(|l| {
            let (name, v) = l.split_once('\t').expect("two columns");
            (name.to_string(), v.parse().expect("a number"))
        })
        .collect()
}

#[test]
fn readme_score_table_is_reproduced() {
    let ids: Vec<String> = std::fs::read_to_string(deepbind("example.ids"))
        .unwrap()
        .lines()
        .map(|l| l.split('#').next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let expected = std::fs::read_to_string(deepbind("example_scores.tsv")).unwrap();
    let mut rows = expected.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = rows.next().unwrap().split('\t').skip(1).collect();
    assert_eq!(header, ids, "example_scores.tsv columns follow example.ids");
    let table: Vec<Vec<&str>> = rows.map(|r| r.split('\t').collect()).collect();
    let seqs = std::fs::read_to_string(deepbind("example.seq")).unwrap();
    let seqs: Vec<&str> = seqs.lines().collect();
    assert_eq!(
        table.iter().map(|r| r[0]).collect::<Vec<_>>(),
        seqs,
        "example_scores.tsv rows follow example.seq"
    );

    let dir = tempdir();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    import(dir.path(), &ids);
    let input = deepbind("example.seq");
    let mut worst = 0.0f64;
    for (col, id) in ids.iter().enumerate() {
        let model = dir.path().join(format!("{id}.safetensors"));
        let out = ok(&["predict", "--model", s(&model), s(&input)]);
        assert_eq!(out.lines().next(), Some(format!("name\t{id}").as_str()));
        // DeepBind's score is the raw output: --raw changes nothing.
        assert_eq!(
            ok(&["predict", "--model", s(&model), s(&input), "--raw"]),
            out
        );
        let got = column(&out);
        assert_eq!(got.len(), table.len());
        for (row, (name, v)) in got.iter().enumerate() {
            assert_eq!(name, &format!("seq{}", row + 1));
            let want: f64 = table[row][col + 1].parse().unwrap();
            let diff = (v - want).abs();
            assert!(
                diff <= 1e-5,
                "{id} on {}: got {v}, the README says {want}",
                seqs[row]
            );
            worst = worst.max(diff);
        }
    }
    eprintln!("largest absolute difference from the README table: {worst:.2e}");
}

#[test]
fn encode_test_sets_give_deepbinds_aurocs() {
    let dir = tempdir();
    let cases = [
        (
            "D00799.001",
            "REST_GM12878_NRSF_HudsonAlpha_B.seq.gz",
            "0.9995",
        ),
        (
            "D00409.004",
            "GABPA_GM12878_GABP_HudsonAlpha_B.seq.gz",
            "0.9761",
        ),
        (
            "D00650.007",
            "SP1_GM12878_SP1_HudsonAlpha_B.seq.gz",
            "0.8877",
        ),
    ];
    import(dir.path(), &cases.map(|c| c.0));
    for (id, set, want) in cases {
        let model = dir.path().join(format!("{id}.safetensors"));
        let out = ok(&[
            "eval",
            "--model",
            s(&model),
            s(&data(&format!("encode/{set}"))),
            "--labels",
            "Bound",
        ]);
        let row: Vec<&str> = out.lines().nth(1).unwrap().split('\t').collect();
        assert_eq!(row[0], id);
        let auroc: f64 = row[1].parse().unwrap();
        eprintln!("{id} on {set}: AUROC {auroc}");
        assert_eq!(format!("{auroc:.4}"), want, "{id} on {set}: AUROC {auroc}");
        assert_eq!(row[4], "1000");
    }
}

#[test]
fn average_over_windows() {
    let dir = tempdir();
    import(dir.path(), &["D00210.001"]);
    let model = dir.path().join("D00210.001.safetensors");
    let input = deepbind("example.seq");
    let max = column(&ok(&["predict", "--model", s(&model), s(&input)]));
    let mean = column(&ok(&[
        "predict",
        "--model",
        s(&model),
        s(&input),
        "--average",
    ]));
    // Detectors of 16 bp: windows of 24. The 38-bp RNAs have 15 windows, the 20-bp DNAs one.
    assert!(
        mean[0].1 < max[0].1 && mean[1].1 < max[1].1,
        "{mean:?} {max:?}"
    );
    assert_eq!(mean[2..], max[2..]);
}

#[test]
fn models_list_and_info() {
    let index = deepbind("db.slice.tsv");
    let list = ok(&["models", "list", "--index", s(&index), "ctcf"]);
    let ids: Vec<&str> = list.lines().skip(1).map(|l| &l[..10]).collect();
    assert_eq!(ids, ["D00328.003", "D00328.018"], "{list}");
    assert!(
        list.starts_with("ID\tProtein\tType\tSpecies\tFamily"),
        "{list}"
    );

    // Deprecated models are hidden unless asked for.
    let all = ok(&["models", "list", "--index", s(&index)]);
    assert!(!all.contains("D00012.001"), "{all}");
    assert!(ok(&["models", "list", "--index", s(&index), "--all"]).contains("D00012.001"));
    assert!(ok(&["models", "list", "--index", s(&index), "D00012.001"]).contains("Junb"));

    // A file of IDs, as deepbind --dump-info takes.
    let ids = ok(&[
        "models",
        "list",
        "--index",
        s(&index),
        s(&deepbind("example.ids")),
    ]);
    assert_eq!(ids.lines().count(), 5, "{ids}");

    let info = ok(&["models", "info", "--index", s(&index), "D00410.003"]);
    assert!(
        info.contains("id\tD00410.003\nprotein\tGATA3\ntype\tTF\n") && info.contains("SELEX"),
        "{info}"
    );
    fails(
        &["models", "info", "--index", s(&index), "NOSUCH"],
        &["no model matches NOSUCH"],
    );
    fails(&["models", "list"], &["--index", "--dir"]);

    // Imported with the index, the models carry its fields; --dir shows files and layers.
    let dir = tempdir();
    ok(&[
        "import",
        "deepbind",
        s(&deepbind("D00328.003.txt")),
        s(&deepbind("D00410.003.txt")),
        "--index",
        s(&index),
        "--out",
        s(dir.path()),
    ]);
    let list = ok(&["models", "list", "--dir", s(dir.path())]);
    assert!(
        list.contains("D00328.003\tCTCF\tTF\tHomo sapiens\tC2H2 ZF")
            && list.contains("D00410.003.safetensors"),
        "{list}"
    );
    let info = ok(&["models", "info", "--dir", s(dir.path()), "gata3"]);
    for want in [
        "param\t0.weight\t[16, 4, 20]",
        "strand\tmax",
        "scoring\tdeepbind, window 30 bp, max over windows",
        "experiment\tSELEX",
    ] {
        assert!(info.contains(want), "{want}: {info}");
    }
    // No hidden layer in this model: one linear layer after pooling.
    assert!(info.contains("param\t3.weight\t[1, 16]") && !info.contains("5.weight"));
}

/// A vendored parameter file with `edit` applied to its text, written into `dir`.
fn broken(dir: &Path, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let text = std::fs::read_to_string(deepbind("D00328.003.txt")).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, edit(&text)).unwrap();
    path
}

#[test]
fn malformed_parameter_files_fail_cleanly() {
    let dir = tempdir();
    let out = dir.path().join("models");
    let replace_field = |field: &'static str, with: &'static str| {
        move |t: &str| {
            t.lines()
                .map(|l| {
                    if l.starts_with(&format!("{field} =")) {
                        with.to_string()
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\r\n")
        }
    };
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (
            broken(dir.path(), "D1.001.txt", replace_field("thresholds", "")),
            vec!["D1.001.txt", "missing field 'thresholds'"],
        ),
        (
            broken(
                dir.path(),
                "D2.001.txt",
                replace_field("thresholds", "thresholds = 1,2,3"),
            ),
            vec![
                "D2.001.txt:8",
                "field 'thresholds'",
                "expected 16 numbers",
                "found 3",
            ],
        ),
        (
            broken(dir.path(), "D3.001.txt", |t| {
                t.replacen("weights1 = -9.1", "weights1 = x9.1", 1)
            }),
            vec![
                "D3.001.txt:9",
                "field 'weights1'",
                "value 1 'x9.115475230e-03' is not a finite number",
            ],
        ),
        (
            broken(dir.path(), "D4.001.txt", |t| {
                t.replacen("# deepbind 0.1", "# deepbind v2", 1)
            }),
            vec![
                "D4.001.txt:1",
                "wrong header",
                "expected '# deepbind 0.1'",
                "'# deepbind v2'",
            ],
        ),
        (
            broken(
                dir.path(),
                "D5.001.txt",
                replace_field("detector_len", "detector_len = twenty"),
            ),
            vec![
                "D5.001.txt:4",
                "field 'detector_len'",
                "expected a whole number",
            ],
        ),
        (
            broken(
                dir.path(),
                "D6.001.txt",
                replace_field("weights2", "weights2 = "),
            ),
            vec![
                "D6.001.txt:11",
                "field 'weights2'",
                "expected 32 numbers (num_hidden 32), found 0",
            ],
        ),
    ];
    let good = deepbind("D00410.003.txt");
    for (file, needles) in &cases {
        let o = seqcnn(&["import", "deepbind", s(&good), s(file), "--out", s(&out)]);
        assert_eq!(o.status.code(), Some(2), "bad input exits 2");
        fails(
            &["import", "deepbind", s(&good), s(file), "--out", s(&out)],
            needles,
        );
        // Every file is checked before any model is written.
        assert!(!out.exists(), "nothing written for {}", file.display());
    }
    fails(
        &[
            "import",
            "deepbind",
            s(&dir.path().join("none.txt")),
            "--out",
            s(&out),
        ],
        &["none.txt"],
    );
}

/// All 927 published models import. Needs ../shared/data (not part of a clone):
/// `cargo test --test integration deepbind:: -- --ignored`.
#[test]
#[ignore]
fn all_published_models_import() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/deepbind");
    let params = shared.join("params");
    if !params.is_dir() {
        eprintln!("skipped: {} is absent", params.display());
        return;
    }
    let n = std::fs::read_dir(&params)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "txt")
        })
        .count();
    let dir = tempdir();
    let started = std::time::Instant::now();
    ok(&[
        "import",
        "deepbind",
        s(&params),
        "--index",
        s(&shared.join("db.tsv")),
        "--out",
        s(dir.path()),
    ]);
    let written = std::fs::read_dir(dir.path()).unwrap().count();
    eprintln!(
        "imported {written} of {n} parameter files in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(written, n);
    assert_eq!(n, 927);
    let listed = ok(&["models", "list", "--dir", s(dir.path())]);
    assert_eq!(listed.lines().count(), n + 1);
    assert!(
        listed
            .lines()
            .skip(1)
            .all(|l| !l.split('\t').nth(1).unwrap().is_empty())
    );
}

/// `predict --genome` scores no window that runs past a contig end or is mostly N: those intervals
/// are left out of the scores, counted on stderr and listed with their reason by `--skipped`.
#[test]
fn genome_windows_past_a_contig_end_or_mostly_n_are_skipped_and_listed() {
    let dir = tempdir();
    let d = dir.path();
    import(d, &["D00328.003"]);
    let model = d.join("D00328.003.safetensors");
    // One contig: 300 bp of sequence, 200 N, 300 bp of sequence.
    let mut state = 7u32;
    let mut bases = |n: usize| -> String {
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                b"ACGT"[(state >> 16) as usize % 4] as char
            })
            .collect()
    };
    let seq = format!("{}{}{}", bases(300), "N".repeat(200), bases(300));
    let genome = d.join("g.fa");
    std::fs::write(&genome, format!(">chrT\n{seq}\n")).unwrap();
    ok(&["index", s(&genome)]);
    // Windows of 101 bp around each centre: -35..66 (past the start), 100..201, 350..451 (all
    // N), 550..651, 735..836 (past the end).
    let bed = d.join("i.bed");
    std::fs::write(
        &bed,
        "chrT\t10\t20\ta\nchrT\t100\t200\tb\nchrT\t380\t420\tc\nchrT\t560\t640\te\nchrT\t780\t790\tf\n",
    )
    .unwrap();
    let (out, skipped) = (d.join("scores.tsv"), d.join("skipped.tsv"));
    let args = [
        "predict",
        "--model",
        s(&model),
        "--genome",
        s(&genome),
        s(&bed),
        "--window",
        "101",
        "--out",
        s(&out),
    ];
    let run = seqcnn(&[&args[..], &["--skipped", s(&skipped)]].concat());
    assert!(run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(
            "3 intervals not scored (2 with the window past a contig end, 1 over --max-n N)"
        ),
        "{stderr}"
    );
    let rows: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split('\t').take(4).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(rows, ["chrT 100 200 b", "chrT 560 640 e"]);
    assert_eq!(
        std::fs::read_to_string(&skipped).unwrap(),
        "#chrom\tstart\tend\tname\treason\nchrT\t10\t20\ta\tnear_contig_end\n\
         chrT\t380\t420\tc\tmostly_n\nchrT\t780\t790\tf\tnear_contig_end\n"
    );
    // The N rule follows --max-n; without --skipped, stderr says how to list them.
    let run = seqcnn(&[&args[..], &["--max-n", "1"]].concat());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("2 intervals not scored") && stderr.contains("--skipped FILE"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 4);
}

/// `predict --genome --window 101` with a DeepBind model (any input length): each BED interval
/// scored on the 101 bp around its centre equals `predict` on those windows cut by hand from the
/// genome FASTA, rows keep the BED's `chr20` (the genome says `20`), and a `-` interval is read
/// on its reverse strand when the strand rule is `none`.
#[test]
fn genome_intervals_with_a_window_match_windows_cut_by_hand() {
    let dir = tempdir();
    import(dir.path(), &["D00328.003"]);
    let model = dir.path().join("D00328.003.safetensors");
    let genome = data("genome/chr20_30M.fa.gz");
    let bed_in = data("genome/chr20_30M_CTCF.bed");
    // The first five intervals, the third on the reverse strand.
    let lines: Vec<String> = std::fs::read_to_string(&bed_in)
        .unwrap()
        .lines()
        .take(5)
        .enumerate()
        .map(|(i, l)| {
            let f: Vec<&str> = l.split('\t').collect();
            let strand = if i == 2 { "-" } else { "+" };
            format!("{}\t{}\t{}\tp{i}\t0\t{strand}", f[0], f[1], f[2])
        })
        .collect();
    let bed = dir.path().join("five.bed");
    std::fs::write(&bed, lines.join("\n") + "\n").unwrap();
    let m = s(&model);
    let g = s(&genome);
    let fails_without = fails(
        &["predict", "--model", m, "--genome", g, s(&bed)],
        &["--window"],
    );
    assert!(fails_without.contains("any length"), "{fails_without}");
    let args = [
        "predict",
        "--model",
        m,
        "--genome",
        g,
        s(&bed),
        "--window",
        "101",
    ];
    let got = ok(&args);
    let got_none = ok(&[&args[..], &["--strand", "none"]].concat());
    // The windows by hand: the genome's one sequence, decompressed.
    let fasta = String::from_utf8(
        std::process::Command::new("gzip")
            .args(["-dc", s(&genome)])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let seq: String = fasta.lines().skip(1).collect();
    let mut by_hand = String::new();
    let mut by_hand_rc = String::new();
    for (i, l) in lines.iter().enumerate() {
        let f: Vec<u64> = l
            .split('\t')
            .skip(1)
            .take(2)
            .map(|v| v.parse().unwrap())
            .collect();
        let centre = (f[0] + f[1]) / 2;
        let w = &seq[(centre - 50) as usize..(centre + 51) as usize];
        by_hand.push_str(&format!(">p{i}\n{w}\n"));
        let rc: String = w
            .bytes()
            .rev()
            .map(|b| match b.to_ascii_uppercase() {
                b'A' => 'T',
                b'C' => 'G',
                b'G' => 'C',
                b'T' => 'A',
                _ => 'N',
            })
            .collect();
        by_hand_rc.push_str(&format!(
            ">p{i}\n{}\n",
            if i == 2 { rc.as_str() } else { w }
        ));
    }
    let fa = dir.path().join("hand.fa");
    let fa_rc = dir.path().join("hand_rc.fa");
    std::fs::write(&fa, by_hand).unwrap();
    std::fs::write(&fa_rc, by_hand_rc).unwrap();
    let want = ok(&["predict", "--model", m, s(&fa)]);
    let want_none = ok(&["predict", "--model", m, s(&fa_rc), "--strand", "none"]);
    let scores = |tsv: &str| -> Vec<String> {
        tsv.lines()
            .skip(1)
            .map(|r| r.rsplit('\t').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(scores(&got), scores(&want), "{got}\n{want}");
    assert_eq!(
        scores(&got_none),
        scores(&want_none),
        "{got_none}\n{want_none}"
    );
    // The reverse strand matters for this model: the `-` row differs from the forward window.
    let fwd_none = ok(&["predict", "--model", m, s(&fa), "--strand", "none"]);
    assert_ne!(scores(&fwd_none)[2], scores(&want_none)[2]);
    for row in got.lines().skip(1) {
        assert!(row.starts_with("chr20\t"), "{row}");
    }
}

/// `predict --models example.ids --model-dir DIR example.seq` gives DeepBind's whole 4 x 4 table
/// (README.deepbind-v0.11.txt) in one run, one column per model in the list's order, as
/// `deepbind example.ids < example.seq` does; the same as one model at a time.
#[test]
fn the_zoo_side_by_side_reproduces_the_readme_table_in_one_run() {
    let dir = tempdir();
    let ids = ["D00210.001", "D00120.001", "D00410.003", "D00328.003"];
    import(dir.path(), &ids);
    let input = deepbind("example.seq");
    let list = deepbind("example.ids");
    let got = ok(&[
        "predict",
        "--models",
        s(&list),
        "--model-dir",
        s(dir.path()),
        s(&input),
    ]);
    let mut lines = got.lines();
    assert_eq!(
        lines.next(),
        Some(format!("name\t{}", ids.join("\t")).as_str())
    );
    let expected = std::fs::read_to_string(deepbind("example_scores.tsv")).unwrap();
    let table: Vec<Vec<&str>> = expected
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|r| r.split('\t').collect())
        .collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), table.len());
    for (row, want) in rows.iter().zip(&table) {
        for c in 1..=ids.len() {
            let (g, w): (f64, f64) = (row[c].parse().unwrap(), want[c].parse().unwrap());
            assert!(
                (g - w).abs() < 1e-5 * (1.0 + w.abs()),
                "{row:?} against {want:?}"
            );
        }
    }
    // The same columns one model at a time, and --model repeated gives the same table.
    let models: Vec<PathBuf> = ids
        .iter()
        .map(|id| dir.path().join(format!("{id}.safetensors")))
        .collect();
    let mut args = vec!["predict"];
    for m in &models {
        args.extend(["--model", s(m)]);
    }
    args.push(s(&input));
    assert_eq!(ok(&args), got);
    for (c, m) in models.iter().enumerate() {
        let one = ok(&["predict", "--model", s(m), s(&input)]);
        for (a, b) in one.lines().skip(1).zip(got.lines().skip(1)) {
            assert_eq!(a.split('\t').nth(1), b.split('\t').nth(c + 1));
        }
    }
    // An ensemble of models with other tasks says which; a missing ID names the list's line.
    fails(
        &[
            "predict",
            "--models",
            s(&list),
            "--model-dir",
            s(dir.path()),
            s(&input),
            "--ensemble",
        ],
        &["must share their tasks", "D00120.001", "D00210.001"],
    );
    let bad = dir.path().join("bad.ids");
    std::fs::write(&bad, "D00210.001\n# comment\nD99999.001 # not imported\n").unwrap();
    fails(
        &[
            "predict",
            "--models",
            s(&bad),
            "--model-dir",
            s(dir.path()),
            s(&input),
        ],
        &["bad.ids:3", "D99999.001"],
    );
}
