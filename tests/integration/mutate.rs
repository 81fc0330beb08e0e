//! `seqcnn mutate` through the CLI: row count and order, reference scores equal to `predict`,
//! diff = alt - ref, logit differences equal to `predict --raw` on the mutant, for a model
//! trained here and for an imported DeepBind model; bad input fails cleanly.

use crate::common::*;
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
    use seqcnn::model::Strand;
    use seqcnn::mutate::{fast_ism, naive_ism};
    use seqcnn::score::Scorer;

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

    /// Full DeepSEA (320/480/960 filters, 919 tasks), both strands: slow in a dev build, run
    /// with `cargo test --release --test integration mutate:: -- --ignored`.
    #[test]
    #[ignore]
    fn fast_ism_equals_naive_on_full_deepsea_at_1000_bp() {
        let arch = Arch::builtin("deepsea").expect("builtin");
        let tasks = (0..919).map(|t| format!("t{t}")).collect();
        let model = Model::new(arch, tasks, &mut seqcnn::rng::seeded(7), 1.0).expect("model");
        let seq = random_seq(1000, 1);
        let scorer = Scorer::new(&model).with_strand(Strand::Mean);
        let naive = naive_ism(&scorer, &seq, true, 128).expect("naive ISM");
        let fast = fast_ism(&model, &scorer, &seq, true, 128)
            .expect("fast ISM")
            .expect("fast ISM handles deepsea");
        let worst = naive
            .mutants
            .iter()
            .zip(fast.mutants.iter())
            .map(|(a, b)| (a - b).abs() / (1.0 + a.abs()))
            .fold(0f32, f32::max);
        println!("full deepsea: max relative |fast - naive| = {worst:.2e}");
        assert!(worst <= 1e-4, "{worst}");
    }

    #[test]
    fn fast_ism_equals_naive_with_strided_padded_convs_into_a_last_linear() {
        // Strides, asymmetric padding and dilation in the changed-column products, a flatten
        // then dropout then the final linear (the incremental linear with no layers after it).
        let arch = Arch::from_toml(
            r#"
name = "strided"
input = { channels = 4, length = 64 }
[[layers]]
type = "conv1d"
out_channels = 6
kernel_size = 5
stride = 2
padding = [1, 2]
[[layers]]
type = "relu"
[[layers]]
type = "max_pool1d"
kernel_size = 3
stride = 2
[[layers]]
type = "conv1d"
out_channels = 7
kernel_size = 3
dilation = 2
padding = 1
[[layers]]
type = "sigmoid"
[[layers]]
type = "flatten"
[[layers]]
type = "dropout"
p = 0.3
[[layers]]
type = "linear"
"#,
        )
        .expect("arch");
        let tasks = vec!["a".into(), "b".into(), "c".into()];
        let model = Model::new(arch, tasks, &mut seqcnn::rng::seeded(4), 1.0).expect("model");
        let mut seq = random_seq(64, 6);
        seq[10] = b'N';
        agree(&model, &seq);
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

mod genome {
    //! `mutate --genome`: BED intervals read from the vendored chr20 slice, resized as `predict
    //! --genome` does, with genomic positions in the rows.
    use super::*;
    use seqcnn::arch::Arch;
    use seqcnn::io::bed::read_bed;
    use seqcnn::io::genome::Genome;
    use seqcnn::model::Model;

    fn table(tsv: &str) -> (Vec<String>, Vec<Vec<String>>) {
        let mut lines = tsv.lines();
        let header = lines
            .next()
            .expect("header")
            .split('\t')
            .map(String::from)
            .collect();
        let rows = lines
            .map(|l| l.split('\t').map(String::from).collect())
            .collect();
        (header, rows)
    }

    /// The base at 1-based `gpos` of contig `20` of the slice.
    fn base_at(genome: &Genome, gpos: u64) -> String {
        let b = genome.fetch("20", gpos - 1, gpos).expect("fetch");
        String::from_utf8(b).expect("ascii")
    }

    #[test]
    fn mutate_bed_gives_genomic_positions_and_the_scores_of_the_window() {
        let dir = tempdir();
        let model = imported(dir.path(), "D00328.003");
        let fa = data("genome/chr20_30M.fa.gz");
        let bed = data("genome/chr20_30M_CTCF.bed");
        let maps = dir.path().join("maps");
        let tsv = ok(&[
            "mutate",
            "--model",
            s(&model),
            "--genome",
            s(&fa),
            s(&bed),
            "--window",
            "20",
            "--plot",
            s(&maps),
        ]);
        let (header, rows) = table(&tsv);
        assert_eq!(
            header[..6],
            ["name", "pos", "chrom", "gpos", "ref", "alt"],
            "genomic columns after pos"
        );
        let genome = Genome::open(&fa).expect("genome");
        let ivs = read_bed(&bed).expect("bed");
        assert_eq!(ivs.len(), 32);
        assert_eq!(rows.len(), ivs.len() * 20 * 3);
        // The same windows as FASTA: identical scores.
        let mut fasta = String::new();
        for (k, iv) in ivs.iter().enumerate() {
            // A DeepBind model takes any length: 20 bp around the centre, the centre at offset
            // (20 - 1) / 2 = 9 (Selene's rule for even windows).
            let start = iv.start + iv.len() / 2 - 9;
            let name = format!("chr20:{}-{}", iv.start + 1, iv.end);
            let seq = genome.fetch("20", start, start + 20).expect("fetch");
            fasta.push_str(&format!(
                ">{name}\n{}\n",
                String::from_utf8(seq).expect("ascii")
            ));
            for (j, row) in rows[k * 60..(k + 1) * 60].iter().enumerate() {
                let p = j / 3 + 1;
                assert_eq!(row[0], name);
                assert_eq!(row[1], p.to_string());
                assert_eq!(row[2], "chr20", "the contig as the BED spells it");
                let gpos: u64 = row[3].parse().expect("gpos");
                assert_eq!(gpos, start + p as u64, "1-based genomic position");
                assert_eq!(row[4], base_at(&genome, gpos), "{name} pos {p}");
            }
        }
        let fa_path = dir.path().join("windows.fa");
        std::fs::write(&fa_path, fasta).expect("write windows");
        let (_, plain) = table(&ok(&["mutate", "--model", s(&model), s(&fa_path)]));
        assert_eq!(plain.len(), rows.len());
        for (a, b) in rows.iter().zip(&plain) {
            assert_eq!(a[..2], b[..2]);
            assert_eq!(a[4..], b[2..], "BED and FASTA input give the same scores");
        }
        // Maps labelled with genomic positions: the first peak's window starts at 1532 (0-based).
        let svg = std::fs::read_to_string(maps.join("chr20_1340-1743.D00328.003.svg"))
            .expect("map of the first peak");
        assert!(svg.contains(">1540</text>") && svg.contains("positions 1533-1552"));
        assert_eq!(std::fs::read_dir(&maps).expect("maps").count(), 32);
    }

    #[test]
    fn mutate_bed_resizes_to_the_models_length_around_summit_or_centre() {
        let dir = tempdir();
        let toml =
            std::fs::read_to_string(data("genome/tiny_genome_arch.toml")).expect("arch file");
        let arch = Arch::from_toml(&toml).expect("arch");
        let model =
            Model::new(arch, vec!["t".into()], &mut seqcnn::rng::seeded(5), 1.0).expect("model");
        let mpath = dir.path().join("tiny.safetensors");
        model.save(&mpath).expect("save");
        // Two CTCF peaks of the vendored BED, the second as narrowPeak with a summit 30 bp in,
        // and an interval at the contig's start whose window runs off it.
        let text = std::fs::read_to_string(data("genome/chr20_30M_CTCF.bed")).expect("bed");
        let lines: Vec<&str> = text.lines().take(2).collect();
        let f: Vec<&str> = lines[1].split('\t').collect();
        let bed = dir.path().join("in.bed");
        std::fs::write(
            &bed,
            format!(
                "{}\n{}\t{}\t{}\tpk\t0\t.\t5.0\t-1\t-1\t30\nchr20\t0\t100\tedge\n",
                lines[0], f[0], f[1], f[2]
            ),
        )
        .expect("write bed");
        let fa = data("genome/chr20_30M.fa.gz");
        let genome = Genome::open(&fa).expect("genome");
        let (header, rows) = table(&ok(&[
            "mutate",
            "--model",
            s(&mpath),
            "--genome",
            s(&fa),
            s(&bed),
        ]));
        assert_eq!(header[2..4], ["chrom", "gpos"]);
        // Window starts (0-based): the centre or summit at offset 499 of 1000.
        let starts: [(&str, i64); 3] = [
            ("chr20:1340-1743", 1339 + 202 - 499),
            ("pk", 28011 + 30 - 499),
            ("edge", 50 - 499),
        ];
        let mut at = 0;
        for (name, start) in starts {
            for p in 1..=1000i64 {
                let g = start + p;
                let n = if g < 1 { 4 } else { 3 };
                for _ in 0..n {
                    let row = &rows[at];
                    at += 1;
                    assert_eq!((row[0].as_str(), row[1].as_str()), (name, &*p.to_string()));
                    if g < 1 {
                        assert_eq!((row[3].as_str(), row[4].as_str()), (".", "N"));
                    } else {
                        assert_eq!(row[3], g.to_string());
                        assert_eq!(row[4], base_at(&genome, g as u64));
                    }
                }
            }
        }
        assert_eq!(at, rows.len());
        fails_with(
            2,
            &[
                "mutate",
                "--model",
                s(&mpath),
                "--genome",
                s(&fa),
                s(&bed),
                "--window",
                "500",
            ],
            &["--window 500", "1000 bp"],
        );
    }
}

mod maps {
    //! `mutate --plot` and the mutation-map SVG.
    use super::*;
    use seqcnn::model::Model;
    use seqcnn::mutate::{MapOptions, mutation_map_svg, naive_ism};
    use seqcnn::score::Scorer;

    /// One element of an SVG: its name and attributes.
    struct Element {
        name: String,
        attrs: Vec<(String, String)>,
    }

    impl Element {
        fn attr(&self, key: &str) -> Option<&str> {
            self.attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }
    }

    /// Checks that `svg` is well-formed XML (tags nested and closed, attributes quoted, only
    /// the five predefined entities) with an `svg` root, and returns its elements in order.
    fn elements(svg: &str) -> Vec<Element> {
        let mut out = Vec::new();
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg.trim();
        let entity_ok = |text: &str| {
            text.split('&').skip(1).all(|t| {
                ["amp;", "lt;", "gt;", "quot;", "apos;"]
                    .iter()
                    .any(|e| t.starts_with(e))
            })
        };
        while !rest.is_empty() {
            let Some(open) = rest.find('<') else {
                panic!("text after the root element: {rest:?}");
            };
            let text = &rest[..open];
            assert!(entity_ok(text), "bad entity in text {text:?}");
            assert!(
                !stack.is_empty() || text.trim().is_empty(),
                "text outside the root"
            );
            let close = rest[open..].find('>').expect("unclosed tag") + open;
            let tag = &rest[open + 1..close];
            rest = &rest[close + 1..];
            assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(
                    stack.pop().as_deref(),
                    Some(name.trim()),
                    "mismatched </{name}>"
                );
                assert!(
                    !stack.is_empty() || rest.trim().is_empty(),
                    "content after the root element"
                );
                continue;
            }
            let selfclosing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let (name, mut attrs_text) = tag.split_once(' ').unwrap_or((tag, ""));
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                "bad element name {name:?}"
            );
            assert!(!stack.is_empty() || name == "svg", "root element is {name}");
            let mut attrs = Vec::new();
            loop {
                attrs_text = attrs_text.trim_start();
                if attrs_text.is_empty() {
                    break;
                }
                let (key, after) = attrs_text.split_once("=\"").expect("attribute key=\"...\"");
                let (value, after) = after.split_once('"').expect("closing quote");
                assert!(entity_ok(value), "bad entity in {value:?}");
                assert!(
                    attrs.iter().all(|(k, _): &(String, String)| k != key),
                    "duplicate attribute {key}"
                );
                attrs.push((key.to_string(), value.to_string()));
                attrs_text = after;
            }
            out.push(Element {
                name: name.to_string(),
                attrs,
            });
            if !selfclosing {
                stack.push(name.to_string());
            }
            if stack.is_empty() {
                assert!(rest.trim().is_empty(), "content after the root element");
            }
        }
        assert!(stack.is_empty(), "unclosed elements {stack:?}");
        out
    }

    #[test]
    fn the_svg_check_catches_malformed_documents() {
        assert_eq!(
            elements(r#"<svg a="1"><g><rect x="&lt;"/></g></svg>"#).len(),
            3
        );
        for bad in [
            "<svg><g></svg>",
            "<svg><g></g>",
            r#"<svg a="1" a="2"></svg>"#,
            "<svg>a & b</svg>",
            "<svg x=1></svg>",
            "<g></g>",
            "<svg></svg><svg></svg>",
        ] {
            let caught = std::panic::catch_unwind(|| elements(bad)).is_err();
            assert!(caught, "{bad} should be rejected");
        }
    }

    fn count(els: &[Element], name: &str, class: &str) -> usize {
        els.iter()
            .filter(|e| e.name == name && e.attr("class") == Some(class))
            .count()
    }

    #[test]
    fn plot_writes_one_valid_map_per_sequence_and_task() {
        let dir = tempdir();
        let model = imported(dir.path(), "D00328.003");
        let input = fasta(dir.path());
        let maps = dir.path().join("maps");
        ok(&[
            "mutate",
            "--model",
            s(&model),
            s(&input),
            "--plot",
            s(&maps),
            "--wrap",
            "20",
            "--out",
            s(&dir.path().join("o.tsv")),
        ]);
        for (name, seq) in SEQS {
            let path = maps.join(format!("{name}.D00328.003.svg"));
            let svg = std::fs::read_to_string(&path).expect("map written");
            let els = elements(&svg);
            assert_eq!(count(&els, "rect", "cell"), 4 * seq.len(), "{name}");
            assert_eq!(count(&els, "g", "legend"), 1);
            assert_eq!(count(&els, "rect", "mark"), 0);
            assert!(svg.contains(&format!(">{name} · D00328.003</text>")));
            // 40 bp in rows of 20: the letter-track axis drawn once per row.
            let rows = seq.len().div_ceil(20);
            assert_eq!(svg.matches(">loss</text>").count(), rows);
        }
        // A zoom: only positions 5 to 14.
        let zoom = dir.path().join("zoom");
        ok(&[
            "mutate",
            "--model",
            s(&model),
            s(&input),
            "--plot",
            s(&zoom),
            "--plot-window",
            "5-14",
            "--plot-task",
            "D00328.003",
            "--out",
            s(&dir.path().join("o2.tsv")),
        ]);
        let svg = std::fs::read_to_string(zoom.join("first.D00328.003.svg")).expect("zoomed map");
        assert_eq!(count(&elements(&svg), "rect", "cell"), 4 * 10);
        assert!(svg.contains("positions 5-14"));
        fails_with(
            2,
            &[
                "mutate",
                "--model",
                s(&model),
                s(&input),
                "--plot",
                s(&zoom),
                "--plot-task",
                "CTCF",
            ],
            &["--task CTCF", "D00328.003"],
        );
    }

    #[test]
    fn map_marks_a_position_and_colours_by_the_score_change() {
        let dir = tempdir();
        let model = Model::load(&imported(dir.path(), "D00328.003")).expect("model");
        let seq = SEQS[0].1.as_bytes();
        let ism = naive_ism(&Scorer::new(&model), seq, false, 64).expect("ISM");
        let opts = MapOptions {
            mark: Some((12, 13)),
            offset: 1000,
            range: Some((10, 30)),
            ..MapOptions::default()
        };
        let svg = mutation_map_svg("first", "CTCF", seq, &ism, 0, &opts);
        let els = elements(&svg);
        assert_eq!(count(&els, "rect", "mark"), 1);
        assert_eq!(count(&els, "path", "mark"), 1, "an arrow");
        let cells: Vec<&Element> = els
            .iter()
            .filter(|e| e.attr("class") == Some("cell"))
            .collect();
        assert_eq!(cells.len(), 4 * 20);
        // Position labels are offset + 1-based position: 1011..=1030, ticks on round numbers.
        assert!(svg.contains(">1020</text>") && svg.contains("positions 1011-1030"));
        // Cells are white at the reference base, blue where the mutant scores lower, red where
        // higher, and the most extreme change is the full colour.
        let diff = ism.diff();
        let lim = diff
            .slice(ndarray::s![30..90, 0])
            .iter()
            .fold(0f32, |m, v| m.max(v.abs()));
        for (i, m) in ism.mutations.iter().enumerate() {
            if !(10..30).contains(&m.pos) {
                continue;
            }
            let row = b"ACGT".iter().position(|&b| b == m.alt).expect("base");
            let cell = cells[row * 20 + m.pos - 10];
            let fill = cell.attr("fill").expect("fill");
            let rgb: Vec<u8> = (0..3)
                .map(|k| u8::from_str_radix(&fill[1 + 2 * k..3 + 2 * k], 16).expect("hex"))
                .collect();
            let d = diff[[i, 0]];
            if d < -1e-3 * lim {
                assert!(rgb[2] > rgb[0], "{m:?} {d}: {fill} should be blue");
            } else if d > 1e-3 * lim {
                assert!(rgb[0] > rgb[2], "{m:?} {d}: {fill} should be red");
            }
            if d == -lim {
                assert_eq!(fill, "#2166ac");
            }
            let refrow = b"ACGT".iter().position(|&b| b == m.ref_base).expect("ref");
            assert_eq!(
                cells[refrow * 20 + m.pos - 10].attr("fill"),
                Some("#ffffff")
            );
        }
        // A mark outside the range is not drawn.
        let svg = mutation_map_svg(
            "first",
            "CTCF",
            seq,
            &ism,
            0,
            &MapOptions {
                mark: Some((5, 6)),
                ..opts
            },
        );
        assert_eq!(count(&elements(&svg), "rect", "mark"), 0);
    }
}

/// Maps of sigmoid models are drawn on the logit difference by default (their probabilities
/// saturate), on the probability with `--plot-scale prob`, and DeepBind models on their score;
/// the colour bar names the scale and the map's largest change is that scale's.
#[test]
fn maps_are_drawn_on_the_scale_they_name() {
    let dir = tempdir();
    let model = trained(dir.path());
    let input = fasta(dir.path());
    let map = |model: &Path, extra: &[&str]| -> String {
        let maps = dir.path().join("maps");
        let tsv = dir.path().join("ism.tsv");
        let _ = std::fs::remove_dir_all(&maps);
        let mut args = vec!["mutate", "--model", s(model), s(&input), "--plot", s(&maps)];
        args.extend_from_slice(extra);
        args.extend(["--out", s(&tsv)]);
        ok(&args);
        let file = std::fs::read_dir(&maps)
            .expect("maps")
            .map(|e| e.expect("entry").path())
            .find(|p| p.to_string_lossy().contains("first"))
            .expect("map of 'first'");
        std::fs::read_to_string(file).expect("svg")
    };
    let logit = map(&model, &[]);
    assert!(
        logit.contains("logit change (mutant − reference)"),
        "default scale"
    );
    assert!(logit.contains("reference logit "));
    let prob = map(&model, &["--plot-scale", "prob"]);
    assert!(prob.contains("probability change (mutant − reference)"));
    assert_ne!(logit, prob);
    let deepbind = imported(dir.path(), "D00328.003");
    assert!(map(&deepbind, &[]).contains("DeepBind score change"));
    fails_with(
        2,
        &[
            "mutate",
            "--model",
            s(&deepbind),
            s(&input),
            "--plot",
            s(&dir.path().join("m2")),
            "--plot-scale",
            "logit",
        ],
        &["--plot-scale logit", "sigmoid"],
    );
}
