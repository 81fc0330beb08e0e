//! A million variants in bounded memory: a seeded VCF of `SEQCNN_BENCH_VARIANTS` (1,000,000) SNVs
//! on chr20 with REF read from the genome, scored by the release binary with DeepBind's CTCF
//! model (101 bp windows) and with a DeepSEA-shaped network on 1000 bp windows (DeepSEA's three
//! convolution and pooling stages and dense head, widths reduced to 32/48/96 and 64 for a CPU,
//! 8 tasks, seeded weights). For each: variants/s, peak RSS of the process (VmHWM), and the sizes
//! of the TSV and the annotated `.vcf.gz`, which is checked to be BGZF and tabix-indexable
//! (noodles-tabix indexes it; htslib's `tabix` too where installed).
//!
//! `cargo bench --bench million_variants` (about 15 minutes on 2 cores); inputs from
//! `../shared/data` (`SEQCNN_SHARED`): genome/20.fa.gz and deepbind/params/D00328.018.txt.
//! `SEQCNN_BENCH_VARIANTS=100000` for a shorter run; `SEQCNN_BENCH_DIR` keeps the files.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use seqcnn::arch::Arch;
use seqcnn::io::genome::Genome;
use seqcnn::model::Model;

fn main() {
    let n = common::env_usize("SEQCNN_BENCH_VARIANTS", 1_000_000);
    let shared = PathBuf::from(
        std::env::var("SEQCNN_SHARED")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data").into()),
    );
    let genome_path = shared.join("genome/20.fa.gz");
    let params = shared.join("deepbind/params/D00328.018.txt");
    if !genome_path.exists() || !params.exists() {
        eprintln!("million_variants: skipped, {} not found", shared.display());
        return;
    }
    let keep = std::env::var("SEQCNN_BENCH_DIR").ok().map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("bench dir");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_seqcnn"));

    // The VCF: n distinct positions drawn uniformly (seeded) from chr20's A/C/G/T bases, sorted,
    // REF from the genome, ALT one of the three other bases.
    let vcf = dir.join(format!("chr20_{n}_snvs.vcf"));
    let t = Instant::now();
    write_snvs(&genome_path, &vcf, n, 20_261_207);
    println!(
        "generated {n} SNVs in {:.1} s: {} ({:.1} MB)",
        t.elapsed().as_secs_f64(),
        vcf.display(),
        size_mb(&vcf)
    );

    // The models.
    let out = Command::new(&bin)
        .args(["import", "deepbind", "--out"])
        .arg(&dir)
        .arg(&params)
        .output()
        .expect("import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deepbind = dir.join("D00328.018.safetensors");
    let deepsea = dir.join("deepsea_small.safetensors");
    let mut arch = Arch::builtin("deepsea").expect("deepsea");
    for (path, v) in [
        ("layers.0.out_channels", "32"),
        ("layers.4.out_channels", "48"),
        ("layers.8.out_channels", "96"),
        ("layers.12.out_features", "64"),
    ] {
        arch.set(&format!("{path}={v}")).expect("override");
    }
    let tasks = (0..8).map(|i| format!("task{i}")).collect();
    Model::new(arch, tasks, &mut seqcnn::rng::seeded(1), 1.0)
        .expect("model")
        .save(&deepsea)
        .expect("save");

    println!(
        "\n| model | window | variants | seconds | variants/s | peak RSS | TSV | annotated .vcf.gz |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, model, window) in [
        ("DeepBind D00328.018", &deepbind, Some("101")),
        ("DeepSEA-shaped 32/48/96", &deepsea, None),
    ] {
        let tsv = dir.join("effects.tsv.gz");
        let annotated = dir.join("annotated.vcf.gz");
        let mut cmd = Command::new(&bin);
        cmd.args(["variants", "--model"])
            .arg(model)
            .arg("--vcf")
            .arg(&vcf)
            .arg("--genome")
            .arg(&genome_path)
            .arg("--out")
            .arg(&tsv)
            .arg("--out-vcf")
            .arg(&annotated)
            .args(["--threads", "2"]);
        if let Some(w) = window {
            cmd.args(["--window", w]);
        }
        let t = Instant::now();
        let child = cmd
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("variants");
        let (status, peak_kb, stderr) = wait_with_peak(child);
        let secs = t.elapsed().as_secs_f64();
        assert!(status.success(), "{name}: {stderr}");
        let rows = count_lines_gz(&tsv) - 1;
        assert_eq!(rows, n, "{name}: one row per SNV");
        let indexed = tabix_indexable(&annotated);
        println!(
            "| {name} | {} bp | {n} | {secs:.0} | {:.0} | {:.0} MB | {:.1} MB | {:.1} MB, BGZF, {indexed} |",
            window.unwrap_or("1000"),
            n as f64 / secs,
            peak_kb as f64 / 1024.0,
            size_mb(&tsv),
            size_mb(&annotated),
        );
    }
    if keep.is_none() {
        drop(tmp);
    }
}

/// Writes `n` seeded SNVs on the genome's first contig, sorted, REF from the genome.
fn write_snvs(genome: &Path, out: &Path, n: usize, seed: u64) {
    let g = Genome::open(genome).expect("genome");
    let (contig, len) = g.contigs()[0].clone();
    let seq = g.fetch(&contig, 0, len).expect("contig");
    let mut rng = seqcnn::rng::seeded(seed);
    let mut picked = vec![false; seq.len()];
    let mut count = 0;
    while count < n {
        let p = (seqcnn::rng::uniform(&mut rng, 0.0, 1.0) * seq.len() as f32) as usize;
        // f32 draws are coarse on 63 Mb: add a second draw for the low digits.
        let p = (p + (seqcnn::rng::uniform(&mut rng, 0.0, 64.0) as usize)).min(seq.len() - 1);
        if !picked[p] && b"ACGT".contains(&seq[p].to_ascii_uppercase()) {
            picked[p] = true;
            count += 1;
        }
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).expect("vcf"));
    writeln!(
        w,
        "##fileformat=VCFv4.2\n##contig=<ID={contig},length={len}>\n##source=seqcnn benches/million_variants.rs seed {seed}\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
    )
    .expect("write");
    for (p, _) in picked.iter().enumerate().filter(|(_, k)| **k) {
        let r = seq[p].to_ascii_uppercase();
        let others: Vec<u8> = b"ACGT".iter().copied().filter(|&b| b != r).collect();
        let a = others[(p * 7 + 3) % 3];
        writeln!(
            w,
            "{contig}\t{}\tsnv{}\t{}\t{}\t.\tPASS\t.",
            p + 1,
            p + 1,
            r as char,
            a as char
        )
        .expect("write");
    }
    w.flush().expect("flush");
}

/// Waits for a child, polling its peak resident set (VmHWM, kB) every 50 ms.
fn wait_with_peak(mut child: std::process::Child) -> (std::process::ExitStatus, u64, String) {
    let pid = child.id();
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut peak = 0;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    (status, peak, reader.join().unwrap_or_default())
}

fn size_mb(p: &Path) -> f64 {
    std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1e6)
}

fn count_lines_gz(p: &Path) -> usize {
    let r = seqcnn::io::input::open_input(p).expect("open");
    BufReader::new(r).lines().count()
}

/// Builds a tabix index of a bgzipped VCF with noodles-tabix (and checks htslib's `tabix`
/// accepts it where installed); a description of what was checked.
fn tabix_indexable(path: &Path) -> String {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .expect("read");
    assert_eq!(magic, [0x1f, 0x8b, 0x08, 0x04], "BGZF magic");
    noodles_vcf::fs::index(path).expect("noodles indexes the annotated VCF");
    let mut what = "tabix-indexed by noodles".to_string();
    if let Ok(o) = Command::new("tabix")
        .args(["-f", "-p", "vcf"])
        .arg(path)
        .output()
    {
        assert!(
            o.status.success(),
            "tabix: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        what.push_str(" and by htslib tabix");
    }
    what
}
