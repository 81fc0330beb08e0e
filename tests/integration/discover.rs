//! `seqcnn discover` on DeepSHAP attributions of DeepBind's REST model D00799.001 over 250 bound
//! sequences of its held-out set (`tests/data/discover/rest_deepshap.npz`, made by
//! `tests/fixtures/make_discover_fixture.sh`): the largest motif is REST's RE1, matched to JASPAR
//! MA0138.3 at q < 0.01; every output file is there and agrees with the others; the bytes do not
//! depend on the thread count; attributions of the wrong shape are refused.

use crate::common::{data, fails_with, ok, tempdir};
use ndarray::{Array1, Array3};
use std::path::Path;

fn run(out: &Path, threads: &str) {
    ok(&[
        "discover",
        data("discover/rest_deepshap.npz").to_str().unwrap(),
        "--motifs",
        data("motifs/JASPAR2024_CORE_vertebrates.subset.meme")
            .to_str()
            .unwrap(),
        "--threads",
        threads,
        "--out",
        out.to_str().unwrap(),
    ]);
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn rest_attributions_give_rest_as_the_largest_motif() {
    let dir = tempdir();
    let out = dir.path().join("motifs");
    run(&out, "2");
    let motifs = read(&out.join("motifs.tsv"));
    let mut lines = motifs.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert!(!rows.is_empty(), "{motifs}");
    let first = &rows[0];
    assert_eq!(first[col("motif")], "pos_patterns.pattern_0", "{motifs}");
    assert_eq!(first[col("best_match")], "MA0138.3", "{motifs}");
    let q: f64 = first[col("qvalue")].parse().unwrap();
    assert!(q < 0.01, "q {q}: {motifs}");
    // Largest first, and REST's core in the consensus (either strand).
    let counts: Vec<usize> = rows
        .iter()
        .map(|r| r[col("seqlets")].parse().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    let cons = first[col("consensus")];
    assert!(
        cons.contains("CAGCACC") || cons.contains("GGTGCTG"),
        "{cons}"
    );
    // Most of the 250 sequences hold one of its seqlets.
    assert!(counts[0] >= 150, "{counts:?}");

    // seqlets.tsv: as many rows per motif as motifs.tsv says, named, within the 101 bp.
    let seqlets = read(&out.join("seqlets.tsv"));
    let mut per_motif = std::collections::HashMap::new();
    for l in seqlets.lines().skip(1) {
        let f: Vec<&str> = l.split('\t').collect();
        *per_motif.entry(f[0].to_string()).or_insert(0usize) += 1;
        assert!(f[1].starts_with("seq_") && f[1].ends_with("_peak"), "{l}");
        let (s, e): (usize, usize) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        assert!(s < e && e <= 101 && (f[4] == "+" || f[4] == "-"), "{l}");
    }
    for r in &rows {
        assert_eq!(
            per_motif[r[col("motif")]],
            r[col("seqlets")].parse::<usize>().unwrap()
        );
    }
    // The MEME file holds the trimmed PWMs, as wide as the trim says.
    let meme = seqcnn::io::meme::read_meme(&out.join("motifs.meme")).unwrap();
    assert_eq!(meme.motifs.len(), rows.len());
    let width = col("trim_end");
    let start = col("trim_start");
    let w: usize = first[width].parse::<usize>().unwrap() - first[start].parse::<usize>().unwrap();
    assert_eq!(meme.motifs[0].width(), w);
    // Matches in Tomtom's columns, ranked.
    let matches = read(&out.join("matches.tsv"));
    assert!(matches.starts_with("query\trank\ttarget"), "{matches}");
    assert!(
        matches
            .lines()
            .any(|l| l.starts_with("pos_patterns.pattern_0\t1\tMA0138.3\tREST\t")),
        "{matches}"
    );
    // NumPy matrices of every motif.
    let mut npz =
        ndarray_npy::NpzReader::new(std::fs::File::open(out.join("motifs.npz")).unwrap()).unwrap();
    let cwm: ndarray::Array2<f32> = npz.by_name("pos_patterns.pattern_0.cwm").unwrap();
    assert_eq!(cwm.dim().1, 4);
    // The report: self-contained, every motif with its logos and its match.
    let html = read(&out.join("report.html"));
    // No script and no address but the SVG namespace's.
    let bare = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!bare.contains("http://") && !bare.contains("https://") && !bare.contains("<script"));
    for r in &rows {
        assert!(html.contains(r[col("motif")]));
    }
    assert!(html.contains("contribution weight matrix") && html.contains("MA0138.3 REST"));
    assert_eq!(html.matches("<svg").count(), 3 * rows.len());
}

#[test]
fn the_same_bytes_whatever_the_thread_count() {
    let dir = tempdir();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run(&a, "1");
    run(&b, "2");
    for f in [
        "motifs.tsv",
        "seqlets.tsv",
        "motifs.meme",
        "matches.tsv",
        "motifs.npz",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn attributions_of_the_wrong_shape_are_refused() {
    let dir = tempdir();
    let p = |n: &str| dir.path().join(n);
    let write = |path: &Path, hyp: Array3<f32>, seq: Array3<f32>| {
        seqcnn::io::npz::write_npz(
            path,
            &[
                ("hypothetical", hyp.view().into_dyn()),
                ("sequences", seq.view().into_dyn()),
            ],
        )
        .unwrap();
    };
    let out = p("out");
    let o = out.to_str().unwrap();
    // [N, L, 4], the layout of some other tools.
    let nl4 = p("nl4.npz");
    write(&nl4, Array3::zeros((5, 101, 4)), Array3::zeros((5, 101, 4)));
    fails_with(
        2,
        &["discover", nl4.to_str().unwrap(), "--out", o],
        &["[5, 101, 4]", "[N, 4, length]"],
    );
    // Hypothetical contributions and sequences of different shapes.
    let mismatch = p("mismatch.npz");
    write(
        &mismatch,
        Array3::zeros((5, 4, 101)),
        Array3::zeros((5, 4, 100)),
    );
    fails_with(
        2,
        &["discover", mismatch.to_str().unwrap(), "--out", o],
        &["[5, 4, 101]", "[5, 4, 100]"],
    );
    // Not three axes.
    let flat = p("flat.npz");
    let one = Array1::<f32>::zeros(8);
    seqcnn::io::npz::write_npz(
        &flat,
        &[
            ("hypothetical", one.view().into_dyn()),
            ("sequences", one.view().into_dyn()),
        ],
    )
    .unwrap();
    fails_with(
        2,
        &["discover", flat.to_str().unwrap(), "--out", o],
        &["'hypothetical' is [8]", "[sequences, 4, length]"],
    );
    // An .npz without the arrays, and a file that is not one.
    let other = p("other.npz");
    seqcnn::io::npz::write_npz(&other, &[("arr_0", one.view().into_dyn())]).unwrap();
    fails_with(
        2,
        &["discover", other.to_str().unwrap(), "--out", o],
        &["no array 'hypothetical'"],
    );
    let text = p("text.npz");
    std::fs::write(&text, "not a zip\n").unwrap();
    fails_with(
        2,
        &["discover", text.to_str().unwrap(), "--out", o],
        &["not a NumPy .npz file"],
    );
    // Sequences too short for a seqlet.
    let short = p("short.npz");
    write(&short, Array3::zeros((5, 4, 30)), Array3::zeros((5, 4, 30)));
    fails_with(
        2,
        &["discover", short.to_str().unwrap(), "--out", o],
        &["30 bp", "too short"],
    );
    // Nothing was written.
    assert!(!out.exists());
}

/// BED input: `attribute` records each window's locus, and `discover` writes its seqlets in
/// genome coordinates (TSV columns and BED). Input x gradient of DeepBind's CTCF model
/// D00328.003 over the 32 CTCF peaks of the vendored chr20 slice (101 bp windows), clustered
/// with the thresholds lowered for so few peaks: the motifs found match CTCF or CTCFL.
#[test]
fn seqlets_of_genome_windows_are_written_in_genome_coordinates() {
    let dir = tempdir();
    let p = |n: &str| dir.path().join(n);
    ok(&[
        "import",
        "deepbind",
        data("deepbind/D00328.003.txt").to_str().unwrap(),
        "--out",
        p("m").to_str().unwrap(),
    ]);
    let npz = p("ctcf.npz");
    ok(&[
        "attribute",
        "--model",
        p("m/D00328.003.safetensors").to_str().unwrap(),
        "--method",
        "input-x-gradient",
        "--genome",
        data("genome/chr20_30M.fa.gz").to_str().unwrap(),
        data("genome/chr20_30M_CTCF.bed").to_str().unwrap(),
        "--window",
        "101",
        "--out",
        npz.to_str().unwrap(),
    ]);
    let loci = seqcnn::io::npz::read_text(&npz, "loci").unwrap().unwrap();
    let names = seqcnn::io::npz::read_text(&npz, "names").unwrap().unwrap();
    assert_eq!(loci.len(), 32);
    // The first peak, chr20 1339-1743, centred at 1541 (0-based): 101 bp from 1491.
    assert_eq!(
        (loci[0].as_str(), names[0].as_str()),
        ("chr20:1492-1592", "chr20:1340-1743")
    );
    let out = p("motifs");
    ok(&[
        "discover",
        npz.to_str().unwrap(),
        "--motifs",
        data("motifs/JASPAR2024_CORE_vertebrates.subset.meme")
            .to_str()
            .unwrap(),
        "--min-metacluster",
        "5",
        "--min-seqlets",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    let motifs = read(&out.join("motifs.tsv"));
    let rows: Vec<Vec<&str>> = motifs
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert!(!rows.is_empty(), "{motifs}");
    for r in rows.iter().filter(|r| r[1] == "+") {
        assert!(r[9].starts_with("CTCF"), "{motifs}");
    }
    let tsv = read(&out.join("seqlets.tsv"));
    let bed = read(&out.join("seqlets.bed"));
    let starts: std::collections::HashMap<&str, u64> = names
        .iter()
        .zip(&loci)
        .map(|(n, l)| {
            (
                n.as_str(),
                l.split([':', '-']).nth(1).unwrap().parse::<u64>().unwrap() - 1,
            )
        })
        .collect();
    let mut lines = 0;
    for (t, b) in tsv.lines().skip(1).zip(bed.lines()) {
        let t: Vec<&str> = t.split('\t').collect();
        let b: Vec<&str> = b.split('\t').collect();
        let at = starts[t[1]] + t[2].parse::<u64>().unwrap();
        assert_eq!(t[5..8], ["chr20", &at.to_string(), &(at + 50).to_string()]);
        assert_eq!(b, ["chr20", t[6], t[7], t[0], "0", t[4]]);
        lines += 1;
    }
    assert_eq!(lines, tsv.lines().count() - 1);
    assert_eq!(lines, bed.lines().count());
}
