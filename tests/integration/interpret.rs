//! Interpretation through the CLI: `seqcnn motifs` (filters as MEME motifs, matches against
//! JASPAR, logos) and `seqcnn saliency`, on a model whose filters are JASPAR's CTCF and REST
//! matrices; plus the acceptance figures on the shared data (ignored: run with
//! `cargo test --release --test integration interpret:: -- --ignored --nocapture`).

use crate::common::{data, fails_with, ok, seqcnn, tempdir};
use seqcnn::arch::Arch;
use seqcnn::interpret::motifs::{best_site, log_odds};
use seqcnn::interpret::saliency::top_window;
use seqcnn::io::meme::{Motif, read_meme};
use seqcnn::model::Model;
use std::path::{Path, PathBuf};

fn jaspar_subset() -> PathBuf {
    data("motifs/JASPAR2024_CORE_vertebrates.subset.meme")
}

fn jaspar(id: &str) -> Motif {
    read_meme(&jaspar_subset())
        .unwrap()
        .motifs
        .into_iter()
        .find(|m| m.id == id)
        .unwrap()
}

/// A deepbind-shaped model (3 filters of 20 taps) whose filter 0 is CTCF MA0139.2 as log-odds
/// (left-aligned, zero taps after it), filter 1 REST MA0138.3, filter 2 dead; the output is the
/// sum of the two live filters' maxima, the larger over both strands. Saved under `dir`.
fn pwm_model(dir: &Path) -> PathBuf {
    let arch = Arch::from_toml(
        "name='pwm'\ninput={channels=4}\n[[layers]]\ntype='conv1d'\nout_channels=3\nkernel_size=20\n\
         [[layers]]\ntype='relu'\n[[layers]]\ntype='global_max_pool'\n[[layers]]\ntype='linear'\n",
    )
    .unwrap();
    let mut m = Model::new(arch, vec!["bound".into()], &mut seqcnn::rng::seeded(1), 1.0).unwrap();
    let mut w = ndarray::Array3::<f32>::zeros((3, 4, 20));
    for (f, id) in [(0, "MA0139.2"), (1, "MA0138.3")] {
        for (j, col) in log_odds(&jaspar(id).probs, &[0.25; 4], 0.01)
            .iter()
            .enumerate()
        {
            for c in 0..4 {
                w[[f, c, j]] = col[c] as f32;
            }
        }
    }
    w.index_axis_mut(ndarray::Axis(0), 2).fill(-1.0);
    m.params[0] = w.into_dyn();
    m.params[1] = ndarray::arr1(&[0.0f32, 0.0, 0.0]).into_dyn();
    m.params[2] = ndarray::arr2(&[[1.0f32, 1.0, 0.0]]).into_dyn();
    m.params[3] = ndarray::arr1(&[0.0f32]).into_dyn();
    m.meta.strand = seqcnn::model::Strand::Max;
    let path = dir.join("pwm.safetensors");
    m.save(&path).unwrap();
    path
}

/// A base drawn from a probability row.
fn draw(rng: &mut seqcnn::rng::Rng, row: &[f64; 4]) -> u8 {
    let u = seqcnn::rng::uniform(rng, 0.0, 1.0) as f64;
    let mut acc = 0.0;
    for (c, p) in row.iter().enumerate() {
        acc += p;
        if u < acc {
            return b"ACGT"[c];
        }
    }
    b'T'
}

/// 120 random 60-bp sequences, a CTCF site (drawn from MA0139.2) in the first 60 and a REST
/// site in the last 60, at random places and strands; returns FASTA text and the site starts.
fn planted_fasta() -> (String, Vec<usize>) {
    let mut rng = seqcnn::rng::seeded(11);
    let (ctcf, rest) = (jaspar("MA0139.2"), jaspar("MA0138.3"));
    let mut text = String::new();
    let mut starts = Vec::new();
    for i in 0..120 {
        let mut s: Vec<u8> = (0..60)
            .map(|_| b"ACGT"[seqcnn::rng::below(&mut rng, 4)])
            .collect();
        let m = if i < 60 { &ctcf } else { &rest };
        let mut site: Vec<u8> = m.probs.iter().map(|r| draw(&mut rng, r)).collect();
        if seqcnn::rng::below(&mut rng, 2) == 1 {
            site = seqcnn::encode::reverse_complement(&site);
        }
        let at = seqcnn::rng::below(&mut rng, 60 - site.len());
        s[at..at + site.len()].copy_from_slice(&site);
        starts.push(at);
        text.push_str(&format!(">s{i}\n{}\n", String::from_utf8(s).unwrap()));
    }
    (text, starts)
}

/// Checks a MEME file line by line against the minimal-format spec.
fn check_meme_spec(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "MEME version 4");
    assert!(lines.contains(&"ALPHABET= ACGT"));
    assert!(lines.contains(&"strands: + -"));
    let bg = lines
        .iter()
        .position(|l| *l == "Background letter frequencies")
        .unwrap();
    let pairs: Vec<&str> = lines[bg + 1].split_whitespace().collect();
    assert_eq!(
        pairs.iter().step_by(2).copied().collect::<Vec<_>>(),
        ["A", "C", "G", "T"]
    );
    let mut k = 0;
    let mut motifs = 0;
    while k < lines.len() {
        if let Some(rest) = lines[k].strip_prefix("MOTIF ") {
            motifs += 1;
            assert!(!rest.trim().is_empty());
            let head = lines[k + 1];
            let words: Vec<&str> = head.split_whitespace().collect();
            assert_eq!(
                &words[..4],
                ["letter-probability", "matrix:", "alength=", "4"]
            );
            assert_eq!(words[4], "w=");
            let w: usize = words[5].parse().unwrap();
            assert_eq!(words[6], "nsites=");
            let _: f64 = words[7].parse().unwrap();
            assert_eq!(&words[8..], ["E=", "0"]);
            for row in &lines[k + 2..k + 2 + w] {
                let v: Vec<f64> = row.split_whitespace().map(|x| x.parse().unwrap()).collect();
                assert_eq!(v.len(), 4, "{row}");
                assert!((v.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{row}");
            }
            assert_eq!(lines.get(k + 2 + w).copied().unwrap_or(""), "");
            k += 2 + w;
        }
        k += 1;
    }
    assert!(motifs > 0);
}

#[test]
fn motifs_recovers_planted_ctcf_and_rest_and_matches_them_in_jaspar() {
    let dir = tempdir();
    let model = pwm_model(dir.path());
    let (fa, _) = planted_fasta();
    let input = dir.path().join("seqs.fa");
    std::fs::write(&input, fa).unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let run = seqcnn(&[
        "motifs",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--out",
        &p("f.meme"),
        "--weights",
        &p("w.meme"),
        "--stats",
        &p("stats.tsv"),
        "--compare",
        jaspar_subset().to_str().unwrap(),
        "--matches",
        &p("matches.tsv"),
        "--logos",
        &p("logos"),
        "--shuffles",
        "200",
        "--top",
        "3",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    // The MEME output follows the spec and reads back with our parser.
    let text = std::fs::read_to_string(p("f.meme")).unwrap();
    check_meme_spec(&text);
    let back = read_meme(Path::new(&p("f.meme"))).unwrap();
    let ids: Vec<&str> = back.motifs.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["filter0", "filter1", "filter2"]);
    assert_eq!(back.motifs[2].nsites, Some(0.0));
    let n0 = back.motifs[0].nsites.unwrap();
    assert!((40.0..=200.0).contains(&n0), "{n0} CTCF sites");
    let weights = read_meme(Path::new(&p("w.meme"))).unwrap();
    assert!(weights.motifs.iter().all(|m| m.width() == 20));
    // Stats: one row per filter.
    let stats = std::fs::read_to_string(p("stats.tsv")).unwrap();
    assert_eq!(stats.lines().count(), 4);
    assert!(stats.lines().nth(3).unwrap().starts_with("filter2\t"));
    // Matches: exact header; CTCF in filter 0's top 3, REST first for filter 1; none for the
    // dead filter.
    let matches = std::fs::read_to_string(p("matches.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = matches.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "query",
            "rank",
            "target",
            "target_name",
            "offset",
            "orientation",
            "overlap",
            "score",
            "pvalue",
            "evalue",
            "qvalue"
        ]
    );
    let top = |f: &str| -> Vec<&str> { rows.iter().filter(|r| r[0] == f).map(|r| r[2]).collect() };
    assert!(top("filter0").contains(&"MA0139.2"), "{matches}");
    assert_eq!(top("filter1").first(), Some(&"MA0138.3"), "{matches}");
    // The dead filter: one row saying so.
    let dead: Vec<&Vec<&str>> = rows.iter().filter(|r| r[0] == "filter2").collect();
    assert_eq!(dead.len(), 1, "{matches}");
    assert_eq!(dead[0][3], "dead_filter_no_sites");
    assert!(
        dead[0]
            .iter()
            .enumerate()
            .all(|(i, v)| i == 0 || i == 3 || *v == ".")
    );
    let best = rows.iter().find(|r| r[0] == "filter1").unwrap();
    let p1: f64 = best[8].parse().unwrap();
    assert!(p1 < 1e-3, "{matches}");
    // Tomtom's columns: an orientation, an overlap within both motifs, E = p x targets and a
    // q-value between p and 1.
    assert!(["+", "-"].contains(&best[5]), "{matches}");
    let overlap: usize = best[6].parse().unwrap();
    assert!(overlap >= 1, "{matches}");
    let (e, q): (f64, f64) = (best[9].parse().unwrap(), best[10].parse().unwrap());
    let targets =
        seqcnn::io::meme::read_meme(&data("motifs/JASPAR2024_CORE_vertebrates.subset.meme"))
            .unwrap()
            .motifs
            .len() as f64;
    assert!(
        (e / (p1 * targets) - 1.0).abs() < 0.01,
        "E {e} p {p1} targets {targets}"
    );
    assert!(q >= p1 * 0.999 && q <= 1.0, "{matches}");
    // Logos: one per filter, with the best match named.
    let logo = std::fs::read_to_string(dir.path().join("logos/filter1.svg")).unwrap();
    assert!(logo.starts_with("<svg") && logo.contains("best match: MA0138.3 REST"));
    // The dead filter: named so in the MEME file, no logo, and a note saying why.
    assert!(!dir.path().join("logos/filter2.svg").exists());
    assert!(
        stderr.contains("no logo for 1 dead filter (no site above --threshold): filter2"),
        "{stderr}"
    );
    let meme_text = std::fs::read_to_string(p("f.meme")).unwrap();
    assert!(
        meme_text.contains("MOTIF filter2 dead_filter_no_sites"),
        "{meme_text}"
    );
}

#[test]
fn saliency_points_at_the_planted_sites() {
    let dir = tempdir();
    let model = pwm_model(dir.path());
    let (fa, starts) = planted_fasta();
    let input = dir.path().join("seqs.fa");
    std::fs::write(&input, &fa).unwrap();
    let out = dir.path().join("sal.tsv");
    ok(&[
        "saliency",
        "--model",
        model.to_str().unwrap(),
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--plot",
        dir.path().join("plots").to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("name\tpos\tbase\ttask\tsaliency"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 120 * 60);
    // The 15-bp window of highest saliency overlaps the planted CTCF site.
    let mut hits = 0;
    for (i, &at) in starts.iter().enumerate().take(60) {
        let v: Vec<f32> = rows[i * 60..(i + 1) * 60]
            .iter()
            .map(|r| r[4].parse().unwrap())
            .collect();
        assert_eq!(rows[i * 60][0], format!("s{i}"));
        let w = top_window(&v, 15).unwrap();
        if w + 15 > at && at + 15 > w {
            hits += 1;
        }
    }
    assert!(hits >= 57, "{hits} of 60");
    assert!(dir.path().join("plots/s0.svg").exists());
    assert!(dir.path().join("plots/s119.svg").exists());
    // Wide form, chosen task, stdout.
    let wide = ok(&[
        "saliency",
        "--model",
        model.to_str().unwrap(),
        input.to_str().unwrap(),
        "--wide",
        "--task",
        "bound",
    ]);
    assert!(wide.starts_with("name\tpos\tbase\tbound\ns0\t1\t"));
    assert_eq!(wide.lines().count(), 1 + 120 * 60);
}

#[test]
fn bad_input_fails_cleanly() {
    let dir = tempdir();
    let model = pwm_model(dir.path());
    let m = model.to_str().unwrap();
    let fa = dir.path().join("x.fa");
    std::fs::write(&fa, ">a\nACGTACGTACGTACGTACGTACGT\n>short\nACGT\n").unwrap();
    let f = fa.to_str().unwrap();
    let out = dir.path().join("o.meme");
    let o = out.to_str().unwrap();
    // A record shorter than the filters.
    fails_with(
        2,
        &["motifs", "--model", m, "--input", f, "--out", o],
        &[
            "x.fa:3",
            "record 'short'",
            "shorter than the first layer's span of 20 bp",
        ],
    );
    assert!(!out.exists());
    fails_with(
        2,
        &["saliency", "--model", m, f],
        &["x.fa:3", "record 'short'"],
    );
    // A broken motif database, named with its line, before any output is written.
    let db = dir.path().join("db.meme");
    std::fs::write(
        &db,
        "MEME version 4\n\nMOTIF a\nletter-probability matrix: alength= 4 w= 2\n0.25 0.25 0.25 0.25\n",
    )
    .unwrap();
    std::fs::write(&fa, ">a\nACGTACGTACGTACGTACGTACGT\n").unwrap();
    let mt = dir.path().join("m.tsv");
    fails_with(
        2,
        &[
            "motifs",
            "--model",
            m,
            "--input",
            f,
            "--out",
            o,
            "--compare",
            db.to_str().unwrap(),
            "--matches",
            mt.to_str().unwrap(),
        ],
        &["db.meme:4", "matrix declares w= 2 but has 1 row"],
    );
    assert!(!out.exists() && !mt.exists());
    // --compare needs --matches; an unknown task.
    let e = seqcnn(&[
        "motifs",
        "--model",
        m,
        "--input",
        f,
        "--out",
        o,
        "--compare",
        "x",
    ]);
    assert_eq!(e.status.code(), Some(2));
    fails_with(
        2,
        &["saliency", "--model", m, f, "--task", "nope"],
        &["no task 'nope'"],
    );
}

// ---- acceptance on the shared data (ignored by default) ----------------------------------

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("../shared/data is not here: skipped");
        None
    }
}

/// The rows of a matches TSV for targets whose id is in `ids`: (filter, rank, id, score, p).
fn hits(matches: &Path, ids: &[&str]) -> Vec<(String, usize, String, f64, f64)> {
    std::fs::read_to_string(matches)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split('\t').map(String::from).collect::<Vec<_>>())
        .filter(|r| ids.contains(&r[2].as_str()))
        .map(|r| {
            (
                r[0].clone(),
                r[1].parse().unwrap(),
                r[2].clone(),
                r[7].parse().unwrap(),
                r[8].parse().unwrap(),
            )
        })
        .collect()
}

/// CTCF peaks of chr20 as 101-bp sequences around their centres, as FASTA.
fn ctcf_peaks(shared: &Path, out: &Path) -> Vec<(String, Vec<u8>)> {
    use seqcnn::io::{bed, genome::Genome};
    let g = Genome::open(&shared.join("genome/20.fa.gz")).unwrap();
    let peaks = bed::read_bed_checked(&shared.join("peaks/chr20_CTCF.bed"), &g).unwrap();
    let mut text = String::new();
    let mut seqs = Vec::new();
    for iv in &peaks {
        let c = iv.centre() as i64;
        let s = g.fetch_padded(&iv.contig, c - 50, c + 51).unwrap();
        let name = format!("{}:{}-{}", iv.contig, c - 50, c + 51);
        text.push_str(&format!(">{name}\n{}\n", String::from_utf8_lossy(&s)));
        seqs.push((name, s));
    }
    std::fs::write(out, text).unwrap();
    seqs
}

#[test]
#[ignore = "trains on ../shared/data (about 30 s in release)"]
fn acceptance_rest_model_has_a_rest_filter() {
    let Some(sh) = shared() else { return };
    let dir = tempdir();
    let model = dir.path().join("rest.safetensors");
    let enc = sh.join("encode");
    ok(&[
        "train",
        "--arch",
        "deepbind",
        "--train",
        enc.join("REST_GM12878_NRSF_HudsonAlpha_AC.seq.gz")
            .to_str()
            .unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    let matches = dir.path().join("m.tsv");
    ok(&[
        "motifs",
        "--model",
        model.to_str().unwrap(),
        "--input",
        enc.join("REST_GM12878_NRSF_HudsonAlpha_B.seq.gz")
            .to_str()
            .unwrap(),
        "--out",
        dir.path().join("f.meme").to_str().unwrap(),
        "--compare",
        sh.join("motifs/JASPAR2024_CORE_vertebrates.meme")
            .to_str()
            .unwrap(),
        "--matches",
        matches.to_str().unwrap(),
    ]);
    let rest = hits(&matches, &["MA0138.3"]);
    for h in &rest {
        println!(
            "REST model: {} matches {} at rank {}, score {:.3}, p {:.2e}",
            h.0, h.2, h.1, h.3, h.4
        );
    }
    assert!(
        rest.iter().any(|h| h.1 <= 3),
        "no filter has REST in its top 3"
    );
}

#[test]
#[ignore = "imports DeepBind's CTCF model (or trains one) and scans ../shared/data CTCF peaks"]
fn acceptance_ctcf_model_has_a_ctcf_filter_and_saliency_finds_the_site() {
    let Some(sh) = shared() else { return };
    let dir = tempdir();
    let fa = dir.path().join("peaks.fa");
    let peaks = ctcf_peaks(&sh, &fa);
    // DeepBind's D00328.003 when `seqcnn import deepbind` exists; else a model trained on the
    // peaks (DeepBind-style, against dinucleotide-shuffled negatives).
    let imported = seqcnn(&[
        "import",
        "deepbind",
        sh.join("deepbind/params/D00328.003.txt").to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let model = if imported.status.success() {
        println!("CTCF model: DeepBind D00328.003, imported");
        dir.path().join("D00328.003.safetensors")
    } else {
        println!("CTCF model: trained on the chr20 peaks (no `seqcnn import deepbind`)");
        let m = dir.path().join("ctcf.safetensors");
        ok(&[
            "train",
            "--arch",
            "deepbind",
            "--train",
            fa.to_str().unwrap(),
            "--out",
            m.to_str().unwrap(),
        ]);
        m
    };
    let matches = dir.path().join("m.tsv");
    ok(&[
        "motifs",
        "--model",
        model.to_str().unwrap(),
        "--input",
        fa.to_str().unwrap(),
        "--out",
        dir.path().join("f.meme").to_str().unwrap(),
        "--compare",
        sh.join("motifs/JASPAR2024_CORE_vertebrates.meme")
            .to_str()
            .unwrap(),
        "--matches",
        matches.to_str().unwrap(),
    ]);
    let ctcf = hits(&matches, &["MA0139.2", "MA1929.2", "MA1930.2"]);
    for h in &ctcf {
        println!(
            "CTCF model: {} matches {} at rank {}, score {:.3}, p {:.2e}",
            h.0, h.2, h.1, h.3, h.4
        );
    }
    assert!(
        ctcf.iter().any(|h| h.1 <= 3),
        "no filter has CTCF in its top 3"
    );

    // Saliency: the best 19-mer by saliency against the best MA0139.2 site in each peak.
    let m = Model::load(&model).unwrap();
    let pres = seqcnn::score::Presentation::of(&m, None).unwrap();
    let db = read_meme(&sh.join("motifs/JASPAR2024_CORE_vertebrates.meme")).unwrap();
    let pwm = log_odds(
        &db.motifs.iter().find(|x| x.id == "MA0139.2").unwrap().probs,
        &[0.25; 4],
        0.01,
    );
    let seqs: Vec<&[u8]> = peaks.iter().map(|(_, s)| s.as_slice()).collect();
    let sal = seqcnn::interpret::saliency::saliency(&m, &pres, &seqs, &[0], 4096).unwrap();
    let (mut overlap, mut strong, mut strong_overlap) = (0, 0, 0);
    for (s, sl) in seqs.iter().zip(&sal) {
        let v: Vec<f32> = sl.values.row(0).to_vec();
        let w = top_window(&v, 19).unwrap();
        let (at, _, score) = best_site(&pwm, s).unwrap();
        let hit = w < at + pwm.len() && at < w + 19;
        overlap += hit as usize;
        // Peaks with a clear CTCF site (log-odds above 10 bits).
        if score > 10.0 {
            strong += 1;
            strong_overlap += hit as usize;
        }
    }
    let frac = overlap as f64 / seqs.len() as f64;
    // Chance: a 19-mer and a site of the matrix's width placed independently at random.
    let (n19, nw) = (101 - 19 + 1, 101 - pwm.len() + 1);
    let chance = (0..n19)
        .flat_map(|w| (0..nw).map(move |a| (w, a)))
        .filter(|&(w, a)| w < a + pwm.len() && a < w + 19)
        .count() as f64
        / (n19 * nw) as f64;
    println!(
        "saliency: top 19-mer overlaps the best MA0139.2 match in {overlap} of {} peaks ({:.1}%); \
         {strong_overlap} of {strong} ({:.1}%) peaks with a match above 10 bits; chance {:.1}%",
        seqs.len(),
        100.0 * frac,
        100.0 * strong_overlap as f64 / strong.max(1) as f64,
        100.0 * chance
    );
    assert!(frac > 0.5, "overlap fraction {frac}");
}
