//! `seqcnn mutate` through the CLI: row count and order, reference scores equal to `predict`,
//! diff = alt - ref, logit differences equal to `predict --raw` on the mutant, for a model
//! trained here and for an imported DeepBind model; bad input fails cleanly.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Trains a tiny DeepBind-shaped model on the REST fixture.
fn trained(dir: &Path) -> PathBuf {
    let model = dir.join("m.safetensors");
    ok(&[
        "train",
        "--arch",
        "deepbind",
        "--train",
        s(&data("REST_B.head50.seq")),
        "--epochs",
        "1",
        "--out",
        s(&model),
    ]);
    model
}

/// Imports a vendored DeepBind model.
fn imported(dir: &Path, id: &str) -> PathBuf {
    let file = data(&format!("deepbind/{id}.txt"));
    ok(&["import", "deepbind", "--out", s(dir), s(&file)]);
    dir.join(format!("{id}.safetensors"))
}

const SEQS: [(&str, &str); 3] = [
    ("first", "GACCCTGCGCTTGGATTTCAGCACCGCGGACAGGAGCGCG"),
    ("second", "tagagattgtaatcctttatcagcaccgcggacagcatccaggcagg"),
    ("third", "ACGTTGCAACGTTGCAAGGTTGCAACGTTG"),
];

fn fasta(dir: &Path) -> PathBuf {
    let path = dir.join("in.fa");
    let text: String = SEQS.iter().map(|(n, q)| format!(">{n}\n{q}\n")).collect();
    std::fs::write(&path, text).expect("write fixture");
    path
}

/// `name -> scores` from a `predict` TSV.
fn predicted(model: &Path, input: &Path, raw: bool) -> Vec<(String, Vec<f64>)> {
    let mut args = vec!["predict", "--model", s(model), s(input)];
    if raw {
        args.push("--raw");
    }
    ok(&args)
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split('\t');
            let name = f.next().expect("name").to_string();
            (name, f.map(|v| v.parse().expect("a number")).collect())
        })
        .collect()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// Checks a `mutate --logit` table against `predict` on the reference and on some mutants.
fn check(model: &Path, dir: &Path) {
    let input = fasta(dir);
    let tsv = ok(&["mutate", "--model", s(model), s(&input), "--logit"]);
    // Fast ISM (the default where the model allows) and --naive give the same table.
    let naive = ok(&[
        "mutate",
        "--model",
        s(model),
        s(&input),
        "--logit",
        "--naive",
    ]);
    assert_eq!(tsv.lines().count(), naive.lines().count());
    for (a, b) in tsv.lines().zip(naive.lines()).skip(1) {
        let (a, b): (Vec<&str>, Vec<&str>) = (a.split('\t').collect(), b.split('\t').collect());
        assert_eq!(a[..4], b[..4]);
        for (x, y) in a[4..].iter().zip(&b[4..]) {
            let (x, y): (f64, f64) = (x.parse().expect("a number"), y.parse().expect("a number"));
            assert!(close(x, y, 1e-4), "fast {x} vs naive {y}");
        }
    }
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    assert_eq!(header[..4], ["name", "pos", "ref", "alt"]);
    assert_eq!((header.len() - 4) % 4, 0, "four columns per task");
    let tasks = (header.len() - 4) / 4;
    assert!(tasks >= 1);
    assert!(header[4].ends_with(":ref") && header[7].ends_with(":logit_diff"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    let total: usize = SEQS.iter().map(|(_, q)| 3 * q.len()).sum();
    assert_eq!(rows.len(), total, "3 rows per position");
    let reference = predicted(model, &input, false);
    let mut at = 0;
    // A few mutants per sequence checked against predict on the mutant sequence itself.
    let mut mutants = String::new();
    let mut expect = Vec::new();
    for ((name, q), (pname, pref)) in SEQS.iter().zip(&reference) {
        assert_eq!(name, pname);
        let seq = q.to_ascii_uppercase();
        for (p, base) in seq.bytes().enumerate() {
            let mut alts = Vec::new();
            for _ in 0..3 {
                let row = &rows[at];
                at += 1;
                assert_eq!(row.len(), header.len());
                assert_eq!(row[0], *name);
                assert_eq!(row[1], (p + 1).to_string(), "1-based position");
                assert_eq!(row[2].as_bytes(), [base]);
                let alt = row[3].as_bytes()[0];
                assert!(alt != base && b"ACGT".contains(&alt));
                alts.push(alt);
                let v: Vec<f64> = row[4..]
                    .iter()
                    .map(|v| v.parse().expect("a number"))
                    .collect();
                for t in 0..tasks {
                    let (r, a, d) = (v[4 * t], v[4 * t + 1], v[4 * t + 2]);
                    assert!(
                        close(r, pref[t], 1e-6),
                        "{name}: ref {r} vs predict {}",
                        pref[t]
                    );
                    assert!(
                        close(d, a - r, 1e-5),
                        "{name}:{}: diff {d} != {a} - {r}",
                        p + 1
                    );
                }
                if p % 7 == 3 {
                    let mut m = seq.clone().into_bytes();
                    m[p] = alt;
                    let mname = format!("{name}_{}_{}", p + 1, alt as char);
                    mutants.push_str(&format!(
                        ">{mname}\n{}\n",
                        String::from_utf8(m).expect("ascii")
                    ));
                    expect.push((mname, v));
                }
            }
            alts.sort();
            alts.dedup();
            assert_eq!(alts.len(), 3, "three distinct alternatives");
        }
    }
    let mpath = dir.join("mutants.fa");
    std::fs::write(&mpath, mutants).expect("write mutants");
    let alt = predicted(model, &mpath, false);
    let alt_raw = predicted(model, &mpath, true);
    let ref_raw = predicted(model, &input, true);
    assert_eq!(alt.len(), expect.len());
    for (((mname, v), (n, a)), (_, ar)) in expect.iter().zip(&alt).zip(&alt_raw) {
        assert_eq!(mname, n);
        let which = SEQS
            .iter()
            .position(|(s, _)| mname.starts_with(&format!("{s}_")))
            .expect("known sequence");
        for t in 0..tasks {
            assert!(
                close(v[4 * t + 1], a[t], 1e-5),
                "{mname}: alt {} vs {}",
                v[4 * t + 1],
                a[t]
            );
            let ld = ar[t] - ref_raw[which].1[t];
            assert!(
                close(v[4 * t + 3], ld, 1e-4),
                "{mname}: logit_diff {} vs {ld}",
                v[4 * t + 3]
            );
        }
    }
}

#[test]
fn mutate_matches_predict_on_a_trained_model() {
    let dir = tempdir();
    let model = trained(dir.path());
    check(&model, dir.path());
}

#[test]
fn mutate_matches_predict_on_an_imported_deepbind_model() {
    let dir = tempdir();
    let model = imported(dir.path(), "D00328.003");
    check(&model, dir.path());
}

#[test]
fn mutate_gives_four_alternatives_at_n() {
    let dir = tempdir();
    let model = imported(dir.path(), "D00328.003");
    let input = dir.path().join("n.fa");
    std::fs::write(&input, ">x\nACNGTACGTACGTAC\n").expect("write fixture");
    let out = dir.path().join("o.tsv");
    ok(&["mutate", "--model", s(&model), s(&input), "--out", s(&out)]);
    let text = std::fs::read_to_string(&out).expect("output written");
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 3 * 14 + 4);
    let at_n: Vec<&str> = rows
        .iter()
        .filter(|r| r.starts_with("x\t3\t"))
        .copied()
        .collect();
    assert_eq!(at_n.len(), 4);
    assert!(at_n.iter().all(|r| r.split('\t').nth(2) == Some("N")));
}

#[test]
fn mutate_bad_input_fails_cleanly() {
    let dir = tempdir();
    let model = imported(dir.path(), "D00328.003");
    let missing = dir.path().join("missing.fa");
    fails(
        &["mutate", "--model", s(&model), s(&missing)],
        &["missing.fa"],
    );
    fails(
        &[
            "mutate",
            "--model",
            s(&dir.path().join("nope.safetensors")),
            s(&missing),
        ],
        &["nope.safetensors"],
    );
    let bad = dir.path().join("bad.fa");
    std::fs::write(&bad, ">ok\nACGT\n>broken\nAC#GT\n").expect("write fixture");
    fails(&["mutate", "--model", s(&model), s(&bad)], &["bad.fa"]);
    let out = dir.path().join("no/such/dir/o.tsv");
    fails(
        &["mutate", "--model", s(&model), s(&bad), "--out", s(&out)],
        &["does not exist"],
    );
}

mod fast {
    //! Fast ISM against naive ISM through the library API.
    use super::*;
    use rand::Rng as _;
    use seqcnn::arch::Arch;
    use seqcnn::model::Model;
    use seqcnn::mutate::{fast_ism, naive_ism};
    use seqcnn::score::{Scorer, Strand};

    fn random_seq(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = seqcnn::rng::seeded(seed);
        (0..len).map(|_| b"ACGT"[rng.random_range(0..4)]).collect()
    }

    /// Fast and naive ISM agree within 1e-4 (relative to the score's size), scaled and raw,
    /// under every strand rule.
    fn agree(model: &Model, seq: &[u8]) {
        for strand in [Strand::None, Strand::Mean, Strand::Max] {
            let scorer = Scorer::new(model).with_strand(strand);
            for raw in [false, true] {
                let naive = naive_ism(&scorer, seq, raw, 128).expect("naive ISM");
                let fast = fast_ism(model, &scorer, seq, raw, 128)
                    .expect("fast ISM")
                    .expect("fast ISM handles this model");
                assert_eq!(naive.mutations, fast.mutations);
                assert_eq!(naive.reference, fast.reference);
                for (a, b) in naive.mutants.iter().zip(fast.mutants.iter()) {
                    assert!(
                        (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                        "{strand:?} raw={raw}: naive {a} vs fast {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn fast_ism_equals_naive_on_small_deepsea_at_1000_bp() {
        let mut arch = Arch::builtin("deepsea").expect("builtin");
        for set in [
            "layers.0.out_channels=16",
            "layers.4.out_channels=16",
            "layers.8.out_channels=16",
            "layers.12.out_features=8",
        ] {
            arch.set(set).expect("set");
        }
        let tasks = vec!["a".to_string(), "b".to_string()];
        let model = Model::new(arch, tasks, &mut seqcnn::rng::seeded(7), 1.0).expect("model");
        agree(&model, &random_seq(1000, 1));
    }

    #[test]
    fn fast_ism_equals_naive_with_same_padding_batchnorm_and_avg_pool() {
        let arch = Arch::from_toml(
            r#"
name = "mixed"
input = { channels = 4 }
[[layers]]
type = "conv1d"
out_channels = 6
kernel_size = 5
padding = "same"
[[layers]]
type = "batchnorm1d"
[[layers]]
type = "relu"
[[layers]]
type = "avg_pool1d"
kernel_size = 3
stride = 2
[[layers]]
type = "conv1d"
out_channels = 5
kernel_size = 3
dilation = 2
[[layers]]
type = "tanh"
[[layers]]
type = "max_pool1d"
kernel_size = 2
[[layers]]
type = "global_max_avg_pool"
[[layers]]
type = "linear"
"#,
        )
        .expect("arch");
        let mut model =
            Model::new(arch, vec!["t".into()], &mut seqcnn::rng::seeded(3), 1.0).expect("model");
        // Non-trivial running statistics for the batch norm.
        for (spec, p) in model
            .net
            .params()
            .to_vec()
            .iter()
            .zip(model.params.iter_mut())
        {
            match spec.suffix {
                "running_mean" => p.mapv_inplace(|_| 0.3),
                "running_var" => p.mapv_inplace(|_| 2.0),
                "weight" if spec.name.starts_with("1") || spec.layer == 1 => {
                    p.mapv_inplace(|_| 1.5)
                }
                _ => {}
            }
        }
        agree(&model, &random_seq(97, 2));
    }

    #[test]
    fn fast_ism_equals_naive_on_trained_and_imported_deepbind() {
        let dir = tempdir();
        let trained = Model::load(&super::trained(dir.path())).expect("load");
        agree(&trained, &random_seq(60, 3));
        let imported = Model::load(&super::imported(dir.path(), "D00328.003")).expect("load");
        let scorer = Scorer::new(&imported);
        // One DeepBind window: handled; more: left to naive ISM.
        agree(&imported, &random_seq(20, 4));
        assert!(
            fast_ism(&imported, &scorer, &random_seq(400, 5), false, 64)
                .expect("fast ISM")
                .is_none()
        );
    }
}
