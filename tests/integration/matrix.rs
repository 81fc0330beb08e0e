//! The bad-input matrix: broken files, absurd numbers, outputs that are inputs, damaged indexes
//! and nonsense options, across the commands, in one table. Every case must fail without a
//! panic, with the exit code it names (2: bad input or usage) and one error line naming the file,
//! line or flag, and must leave the scratch directory as it was: no output or temporary file
//! left, no input changed or removed. `cargo test --test integration matrix:: -- --nocapture`
//! prints the cases per class and command and what failed.

use crate::common::{data, ok, seqcnn, tempdir};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// One row of the matrix.
struct Case {
    /// The class of fault (the classes, and the parsers).
    class: &'static str,
    args: Vec<String>,
    /// Strings the error line must contain.
    needles: Vec<&'static str>,
    /// A usage error from the argument parser (several lines, `error:` first) rather than one
    /// `seqcnn: error:` line.
    usage: bool,
}

fn case(class: &'static str, args: &[&str], needles: &[&'static str]) -> Case {
    Case {
        class,
        args: args.iter().map(|a| a.to_string()).collect(),
        needles: needles.to_vec(),
        usage: false,
    }
}

fn usage(class: &'static str, args: &[&str], needles: &[&'static str]) -> Case {
    Case {
        usage: true,
        ..case(class, args, needles)
    }
}

/// Every file under `dir` and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read scratch dir") {
            let p = e.expect("dir entry").path();
            let name = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                out.insert(format!("{name}/"), Vec::new());
                todo.push(p);
            } else {
                out.insert(name, std::fs::read(&p).expect("read scratch file"));
            }
        }
    }
    out
}

/// What went wrong with one case, if anything.
fn check(c: &Case, dir: &Path) -> Vec<String> {
    let before = snapshot(dir);
    let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
    let out = seqcnn(&args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let mut faults = Vec::new();
    if err.contains("panicked") || out.status.code().is_none() {
        faults.push(format!("panic: {err}"));
    }
    if out.status.code() != Some(2) {
        faults.push(format!("exit code {:?}, expected 2", out.status.code()));
    }
    let line = if c.usage {
        err.lines().find(|l| l.starts_with("error:")).unwrap_or("")
    } else {
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("seqcnn: error"))
            .collect();
        if lines.len() != 1 || err.lines().last() != lines.first().copied() {
            faults.push(format!("not one error line ending stderr: {err}"));
        }
        lines.first().copied().unwrap_or("")
    };
    for n in &c.needles {
        if !line.contains(n) {
            faults.push(format!("message lacks '{n}': {line}"));
        }
    }
    if line.len() > 400 {
        faults.push(format!("message of {} bytes", line.len()));
    }
    let after = snapshot(dir);
    for (name, bytes) in &after {
        match before.get(name) {
            None => faults.push(format!("partial output: {name} left")),
            Some(b) if b != bytes => faults.push(format!("data loss: {name} changed")),
            _ => {}
        }
    }
    for name in before.keys().filter(|n| !after.contains_key(*n)) {
        faults.push(format!("data loss: {name} removed"));
    }
    faults
}

/// Damages a genome's bytes, its `.fai` and its `.gzi`.
type Damage = dyn Fn(&mut Vec<u8>, &mut Vec<u8>, &mut Vec<u8>);

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn every_bad_input_fails_cleanly_and_changes_nothing() {
    let scratch = tempdir();
    let d = scratch.path();
    let p = |name: &str| d.join(name).to_string_lossy().into_owned();
    let copy = |from: &str, to: &str| {
        std::fs::copy(data(from), d.join(to)).unwrap();
        p(to)
    };

    // Good inputs.
    let seqs = copy("REST_B.head50.seq", "seqs.seq");
    let genome = copy("genome/chr20_30M.fa.gz", "g.fa.gz");
    copy("genome/chr20_30M.fa.gz.fai", "g.fa.gz.fai");
    copy("genome/chr20_30M.fa.gz.gzi", "g.fa.gz.gzi");
    let bed = copy("genome/chr20_30M_CTCF.bed", "peaks.bed");
    let vcf = copy("variants/chr20_30M_snvs.vcf", "snvs.vcf");
    let meme = copy("motifs/JASPAR2024_CORE_vertebrates.subset.meme", "db.meme");
    let params = copy("deepbind/D00328.003.txt", "D00328.003.txt");
    let model = p("m.safetensors");
    let mut arch = seqcnn::arch::Arch::builtin("deepbind").unwrap();
    arch.set("input.length=101").unwrap();
    seqcnn::model::Model::new(arch, vec!["t".into()], &mut seqcnn::rng::seeded(1), 1.0)
        .unwrap()
        .save(Path::new(&model))
        .unwrap();
    let s1 = p("s1.tsv");
    let s2 = p("s2.tsv");
    ok(&[
        "predict", "--model", &model, &seqs, "--shard", "1/2", "--out", &s1,
    ]);
    ok(&[
        "predict", "--model", &model, &seqs, "--shard", "2/2", "--out", &s2,
    ]);
    let scores = p("scores.tsv");
    ok(&["predict", "--model", &model, &seqs, "--out", &scores]);

    // Broken inputs.
    let empty_fa = write(d, "empty.fa", "");
    let noseq = write(
        d,
        "noseq.tsv",
        "FoldID\tEventID\tsequence\tBound\nA\tx\tACGT\t1\n",
    );
    let junk_model = write(
        d,
        "junk.safetensors",
        [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5],
    );
    let bin_arch = write(d, "bin.toml", [0u8, 0xff, 0xfe, 7, b'\n', 0x80]);
    let huge = write(
        d,
        "huge.toml",
        "name = \"x\"\ninput = { channels = 4, length = 101 }\n[[layers]]\ntype = \"conv1d\"\n\
         out_channels = 100000000000\nkernel_size = 3\n[[layers]]\ntype = \"global_max_pool\"\n\
         [[layers]]\ntype = \"linear\"\n",
    );
    let unknown_key = write(
        d,
        "key.toml",
        "name = \"x\"\ninput = { channels = 4 }\n[[layers]]\ntype = \"conv1d\"\nout_channels = 4\n\
         kernel_size = 3\nstrides = 2\n[[layers]]\ntype = \"global_max_pool\"\n\
         [[layers]]\ntype = \"linear\"\n",
    );
    let bad_bed = write(d, "bad.bed", "chr20\t1000\t1101\nchr20\tabc\t2000\n");
    let unknown_bed = write(d, "unknown.bed", "chrUn\t1000\t1101\n");
    let empty_bed = write(d, "empty.bed", "# nothing\n");
    let bad_vcf = copy("variants/bad_malformed.vcf", "malformed.vcf");
    let bad_meme = write(
        d,
        "bad.meme",
        "MEME version 4\n\nMOTIF a\nletter-probability matrix: w= 2\n0.25 0.25 0.25 0.25\n\
         0.2 0.25 0.25\n",
    );
    let bad_params = write(
        d,
        "D99999.001.txt",
        "# deepbind 0.1\nreverse_complement = 0\nnum_detectors = 2\ndetector_len = x\n",
    );
    let ckpt = write(d, "junk.ckpt", [7u8; 64]);
    let mut idx = gunzip(&data("images/mnist-test100-images-idx3-ubyte.gz"));
    idx[3] = 9;
    let bad_idx = write(d, "bad.idx", &idx);
    // Damaged genome indexes, each on its own copy of the genome.
    let damaged = |name: &str, damage: &Damage| {
        let mut fa = std::fs::read(data("genome/chr20_30M.fa.gz")).unwrap();
        let mut fai = std::fs::read(data("genome/chr20_30M.fa.gz.fai")).unwrap();
        let mut gzi = std::fs::read(data("genome/chr20_30M.fa.gz.gzi")).unwrap();
        damage(&mut fa, &mut fai, &mut gzi);
        write(d, &format!("{name}.fa.gz.fai"), fai);
        write(d, &format!("{name}.fa.gz.gzi"), gzi);
        write(d, &format!("{name}.fa.gz"), fa)
    };
    let stale_gzi = damaged("stalegzi", &|_, _, gzi| gzi.truncate(40));
    let bin_fai = damaged("binfai", &|_, fai, _| *fai = vec![0xff, 0xfe, 0, 1, 2]);
    let flipped = damaged("flipped", &|fa, _, _| fa[200] ^= 1);
    let plain = write(d, "plain.fa", gunzip(&data("genome/chr20_30M.fa.gz")));
    ok(&["index", &plain]);
    {
        let text = std::fs::read_to_string(&plain).unwrap();
        let (head, rest) = text.split_once('\n').unwrap();
        std::fs::write(&plain, format!("{head}\n{}", &rest[10..])).unwrap();
    }
    let dup_fa = write(d, "dup.fa", ">a\nACGT\n>a\nACGT\n");
    let out = p("out.tsv");
    let out_model = p("new.safetensors");
    let no_dir = p("seqs.seq/new.safetensors");

    let train = |extra: &[&str]| -> Vec<String> {
        let mut a = vec!["train", "--epochs", "1"];
        if !extra.contains(&"--out") {
            a.extend(["--out", out_model.as_str()]);
        }
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect()
    };
    let t = |class, extra: &[&str], needles: &[&'static str]| Case {
        args: train(extra),
        ..case(class, &[], needles)
    };
    let tu = |class, extra: &[&str], needles: &[&'static str]| Case {
        usage: true,
        ..t(class, extra, needles)
    };
    let m = model.as_str();
    let g = genome.as_str();
    let cases = vec![
        // Sizes from the user, checked before anything is allocated.
        t(
            "sizes",
            &["--arch", &huge, "--train", &seqs],
            &["huge.toml", "larger than"],
        ),
        tu(
            "sizes",
            &[
                "--arch",
                "deepbind",
                "--train",
                &seqs,
                "--batch-size",
                "1000000000000",
            ],
            &["--batch-size"],
        ),
        usage(
            "sizes",
            &[
                "predict",
                "--model",
                m,
                &seqs,
                "--batch-size",
                "1000000000000",
            ],
            &["--batch-size"],
        ),
        usage(
            "sizes",
            &["eval", "--model", m, &seqs, "--batch-size", "1000000000000"],
            &["--batch-size"],
        ),
        usage(
            "sizes",
            &[
                "mutate",
                "--model",
                m,
                &seqs,
                "--batch-size",
                "1000000000000",
            ],
            &["--batch-size"],
        ),
        usage(
            "sizes",
            &[
                "variants",
                "--model",
                m,
                "--genome",
                g,
                "--vcf",
                &vcf,
                "--report",
                &p("r.html"),
                "--report-top",
                "1000000000000",
            ],
            &["--report-top"],
        ),
        usage(
            "sizes",
            &[
                "occlude", "--model", m, "--out", &out, &seqs, "--scale", "1000000",
            ],
            &["--scale"],
        ),
        case(
            "sizes",
            &["predict", "--model", m, &seqs, "--threads", "99999999999"],
            &["--threads"],
        ),
        t(
            "sizes",
            &["--arch", "deepbind", "--train", &seqs, "--threads", "3000"],
            &["--threads"],
        ),
        case(
            "sizes",
            &["saliency", "--model", m, &seqs, "--threads", "5000"],
            &["--threads"],
        ),
        case(
            "sizes",
            &["motifs", "--model", m, &seqs, "--threads", "5000"],
            &["--threads"],
        ),
        case(
            "sizes",
            &[
                "variants",
                "--model",
                m,
                "--genome",
                g,
                "--vcf",
                &vcf,
                "--threads",
                "5000",
            ],
            &["--threads"],
        ),
        // Outputs that would destroy an input or a file the user keeps.
        case(
            "data loss",
            &["predict", "--model", m, &seqs, "--out", &seqs],
            &["seqs.seq"],
        ),
        case(
            "data loss",
            &["mutate", "--model", m, &seqs, "--out", &seqs],
            &["seqs.seq"],
        ),
        case(
            "data loss",
            &["saliency", "--model", m, &seqs, "--out", &seqs],
            &["seqs.seq"],
        ),
        case(
            "data loss",
            &["motifs", "--model", m, &seqs, "--out", &seqs],
            &["seqs.seq"],
        ),
        case(
            "data loss",
            &[
                "variants",
                "--model",
                m,
                "--genome",
                g,
                "--vcf",
                &vcf,
                "--out-vcf",
                &vcf,
            ],
            &["snvs.vcf"],
        ),
        case(
            "data loss",
            &[
                "variants", "--model", m, "--genome", g, "--vcf", &vcf, "--out", &vcf,
            ],
            &["snvs.vcf"],
        ),
        case(
            "data loss",
            &["predict", "--model", m, "--genome", g, &bed, "--out", &bed],
            &["peaks.bed"],
        ),
        case(
            "data loss",
            &["merge", "--out", &scores, &s1, &s2],
            &["scores.tsv", "--force"],
        ),
        case("data loss", &["merge", &s1, &s2], &["s1.tsv", "--force"]),
        case(
            "data loss",
            &["export", "torch", m, "--out", m],
            &["m.safetensors", "input"],
        ),
        case(
            "data loss",
            &["occlude", "--model", m, "--out", &seqs, &seqs],
            &["seqs.seq"],
        ),
        case(
            "data loss",
            &["import", "deepbind", &params, "--out", &params],
            &["D00328.003.txt"],
        ),
        case(
            "data loss",
            &["merge", "--out", &out, &s1, &s1],
            &["s1.tsv"],
        ),
        case("data loss", &["merge", "--out", &out, &s2], &["1/2"]),
        t(
            "data loss",
            &["--arch", "deepbind", "--train", &seqs, "--out", &no_dir],
            &["seqs.seq"],
        ),
        t(
            "data loss",
            &[
                "--arch",
                "deepbind",
                "--train",
                &seqs,
                "--checkpoint",
                &ckpt,
                "--resume",
            ],
            &["junk.ckpt"],
        ),
        t(
            "data loss",
            &["--arch", "deepbind", "--train", &seqs, "--log", &seqs],
            &["seqs.seq"],
        ),
        // Output paths of the wrong kind.
        case(
            "output paths",
            &["mutate", "--model", m, &seqs, "--plot", &seqs],
            &["seqs.seq", "not a directory"],
        ),
        case(
            "output paths",
            &[
                "motifs",
                "--model",
                m,
                &seqs,
                "--compare",
                &meme,
                "--matches",
                &out,
                "--logos",
                &seqs,
            ],
            &["seqs.seq"],
        ),
        // Damaged or stale genome indexes: input errors with the fix.
        case(
            "indexes",
            &["predict", "--model", m, "--genome", &stale_gzi, &bed],
            &["stalegzi.fa.gz.gzi", "seqcnn index --force"],
        ),
        case(
            "indexes",
            &["mutate", "--model", m, "--genome", &bin_fai, &bed],
            &["binfai.fa.gz.fai", "seqcnn index"],
        ),
        case(
            "indexes",
            &[
                "variants", "--model", m, "--genome", &flipped, "--vcf", &vcf,
            ],
            &["flipped.fa.gz", "seqcnn index --force"],
        ),
        case(
            "indexes",
            &["predict", "--model", m, "--genome", &plain, &bed],
            &["plain.fa", "seqcnn index --force"],
        ),
        case("indexes", &["index", &dup_fa], &["dup.fa"]),
        case("indexes", &["index", &p("missing.fa")], &["missing.fa"]),
        // Nonsense that used to pass silently.
        t(
            "nonsense",
            &[
                "--arch",
                "deepbind",
                "--genome",
                g,
                "--targets",
                &format!("A={bed}"),
                "--targets",
                &format!("A={bed}"),
            ],
            &["A"],
        ),
        tu(
            "nonsense",
            &[
                "--arch",
                "deepbind",
                "--genome",
                g,
                "--targets",
                &format!("A={bed}"),
                "--keep-negatives",
                "-1",
            ],
            &["--keep-negatives"],
        ),
        t(
            "nonsense",
            &[
                "--arch",
                "deepbind",
                "--genome",
                g,
                "--targets",
                &format!("A={empty_bed}"),
            ],
            &["empty.bed"],
        ),
        case(
            "nonsense",
            &["models", "list", "--index", &p("nowhere.tsv"), "CTCF"],
            &["nowhere.tsv"],
        ),
        case("nonsense", &["models", "list", "CTCF"], &["--index"]),
        // Parsers: each format's broken file, through every command that reads it.
        case(
            "parsers",
            &["predict", "--model", m, &empty_fa],
            &["empty.fa"],
        ),
        case("parsers", &["eval", "--model", m, &empty_fa], &["empty.fa"]),
        case(
            "parsers",
            &["mutate", "--model", m, &empty_fa],
            &["empty.fa"],
        ),
        case(
            "parsers",
            &["saliency", "--model", m, &empty_fa],
            &["empty.fa"],
        ),
        case(
            "parsers",
            &["motifs", "--model", m, &empty_fa],
            &["empty.fa"],
        ),
        t(
            "parsers",
            &["--arch", "deepbind", "--train", &empty_fa],
            &["empty.fa"],
        ),
        case(
            "parsers",
            &["predict", "--model", m, &noseq],
            &["noseq.tsv:1", "seq"],
        ),
        case(
            "parsers",
            &["eval", "--model", m, &noseq],
            &["noseq.tsv:1", "seq"],
        ),
        case(
            "parsers",
            &["predict", "--model", m, &bad_idx],
            &["bad.idx:1"],
        ),
        case(
            "parsers",
            &["predict", "--model", m, "--genome", g, &bad_bed],
            &["bad.bed:2"],
        ),
        case(
            "parsers",
            &["mutate", "--model", m, "--genome", g, &bad_bed],
            &["bad.bed:2"],
        ),
        case(
            "parsers",
            &["predict", "--model", m, "--genome", g, &unknown_bed],
            &["unknown.bed:1", "chrUn"],
        ),
        case(
            "parsers",
            &["variants", "--model", m, "--genome", g, "--vcf", &bad_vcf],
            &["malformed.vcf:"],
        ),
        case(
            "parsers",
            &[
                "motifs",
                "--model",
                m,
                &seqs,
                "--compare",
                &bad_meme,
                "--matches",
                &out,
            ],
            &["bad.meme:6"],
        ),
        case(
            "parsers",
            &["scan", "--motifs", &bad_meme, &seqs, "--out", &out],
            &["bad.meme:6"],
        ),
        case(
            "parsers",
            &[
                "scan",
                "--motifs",
                &meme,
                "--genome",
                g,
                &unknown_bed,
                "--out",
                &out,
            ],
            &["unknown.bed:1", "chrUn"],
        ),
        case(
            "parsers",
            &[
                "scan", "--motifs", &meme, "--motif", "MA9999.9", &seqs, "--out", &out,
            ],
            &["--motif MA9999.9", "db.meme"],
        ),
        case(
            "parsers",
            &["import", "deepbind", &bad_params, "--out", &out_model],
            &["D99999.001.txt:4", "detector_len"],
        ),
        case(
            "parsers",
            &["predict", "--model", &junk_model, &seqs],
            &["junk.safetensors"],
        ),
        case("parsers", &["info", &junk_model], &["junk.safetensors"]),
        case(
            "parsers",
            &["export", "torch", &junk_model, "--out", &out_model],
            &["junk.safetensors"],
        ),
        t(
            "parsers",
            &["--arch", &bin_arch, "--train", &seqs],
            &["bin.toml"],
        ),
        t(
            "parsers",
            &["--arch", &unknown_key, "--train", &seqs],
            &["key.toml", "line 7", "strides"],
        ),
    ];

    let mut table: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut commands: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for c in &cases {
        let faults = check(c, d);
        let row = table.entry(c.class).or_default();
        row.0 += 1;
        if !faults.is_empty() {
            row.1 += 1;
            failures.push(format!(
                "seqcnn {}\n  {}",
                c.args.join(" "),
                faults.join("\n  ")
            ));
        }
        *commands.entry(command_of(&c.args)).or_default() += 1;
    }
    eprintln!("{:<14} {:>6} {:>7}", "class", "cases", "failed");
    for (class, (n, bad)) in &table {
        eprintln!("{class:<14} {n:>6} {bad:>7}");
    }
    eprintln!(
        "{} cases over {} commands: {commands:?}",
        cases.len(),
        commands.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn command_of(args: &[String]) -> &'static str {
    let names = [
        "train", "predict", "eval", "mutate", "variants", "saliency", "motifs", "scan", "occlude",
        "import", "export", "info", "models", "index", "merge",
    ];
    names
        .into_iter()
        .find(|n| args.first().is_some_and(|a| a == n))
        .unwrap_or("?")
}
