//! Genomes, intervals and tiling on a vendored 200 kb slice of human chr20 (`tests/data/genome/`):
//! indexed fetches against the decompressed file, `chr` prefixes, bad BED input with line
//! numbers, `seqcnn index`, and the DeepSEA tiler; plus checks on the full chr20 in
//! `../shared/data` when it is there.

use crate::common::*;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use seqcnn::Error;
use seqcnn::data::tiling::{IntervalSet, Task, TileConfig, Tiler};
use seqcnn::io::bed::{self, Strand};
use seqcnn::io::genome::{Genome, index::write_index};

/// The slice: GRCh37 20:30,000,001-30,200,000 as contig `20` of 200,000 bp.
const FASTA: &str = "genome/chr20_30M.fa.gz";
const CTCF: &str = "genome/chr20_30M_CTCF.bed";
const CPG: &str = "genome/chr20_30M_CpG_islands.bed";
const CDS: &str = "genome/chr20_30M_CDS.bed";
const PEAKS22: &str = "genome/chr22_CTCF.head20.narrowPeak";
/// Where the slice starts on the real chr20 (0-based).
const OFFSET: u64 = 30_000_000;
const LEN: u64 = 200_000;

fn shared(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    p.exists().then_some(p)
}

fn slice() -> Genome {
    Genome::open(&data(FASTA)).unwrap()
}

/// The slice's sequence, read without any index: gzip-decompress the whole file and parse it.
fn decompressed(path: &Path) -> (String, Vec<u8>) {
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut text)
        .unwrap();
    let nl = text.iter().position(|&c| c == b'\n').unwrap();
    let header = String::from_utf8(text[1..nl].to_vec()).unwrap();
    let seq = text[nl + 1..]
        .iter()
        .copied()
        .filter(|&c| c != b'\n')
        .collect();
    (header, seq)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn fetch_matches_the_decompressed_file() {
    let g = slice();
    assert_eq!(g.contigs(), [("20".to_string(), LEN)]);
    let (header, seq) = decompressed(&data(FASTA));
    assert!(header.starts_with("20 "), "{header}");
    assert_eq!(seq.len() as u64, LEN);
    // Known bases: GRCh37 20:30,000,001-30,000,060.
    assert_eq!(
        g.fetch("20", 0, 60).unwrap(),
        b"AAATAAGGCTTGGAAATTTTCTGGAGTTCTATTATATTCCAACTCTCTGGTTCCTGGTGC"
    );
    let mut x: u64 = 99;
    for _ in 0..500 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let start = (x >> 33) % LEN;
        let len = (x >> 13) % 3000;
        let end = (start + len).min(LEN);
        let got = g.fetch("chr20", start, end).unwrap();
        assert_eq!(got, &seq[start as usize..end as usize], "{start}..{end}");
    }
    assert_eq!(g.fetch("20", 0, LEN).unwrap(), seq);
    assert_eq!(
        g.fetch_padded("20", LEN as i64 - 3, LEN as i64 + 2)
            .unwrap(),
        [&seq[seq.len() - 3..], b"NN"].concat()
    );
    let e = g.fetch("20", LEN - 10, LEN + 1).unwrap_err().to_string();
    assert!(e.contains("has 200000 bp"), "{e}");
}

#[test]
fn plain_fasta_indexed_by_the_cli_reads_the_same() {
    let dir = tempdir();
    let (header, seq) = decompressed(&data(FASTA));
    let mut text = format!(">{header}\n").into_bytes();
    for line in seq.chunks(70) {
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    let fa = write(dir.path(), "slice.fa", &text);
    let out = ok(&["index", p(&fa)]);
    assert!(
        out.contains("slice.fa.fai\twritten") && out.contains("bases\t200000"),
        "{out}"
    );
    assert!(ok(&["index", p(&fa)]).contains("slice.fa.fai\tkept"));
    let plain = Genome::open(&fa).unwrap();
    let bgzf = slice();
    for start in (0..LEN - 1000).step_by(7919) {
        assert_eq!(
            plain.fetch("20", start, start + 1000).unwrap(),
            bgzf.fetch("20", start, start + 1000).unwrap()
        );
    }
}

#[test]
fn cli_index_rebuilds_the_vendored_indexes_exactly() {
    let dir = tempdir();
    let fa = dir.path().join("copy.fa.gz");
    std::fs::copy(data(FASTA), &fa).unwrap();
    let out = ok(&["index", p(&fa)]);
    assert!(out.contains("copy.fa.gz.gzi\twritten"), "{out}");
    for ext in ["fai", "gzi"] {
        let ours = std::fs::read(dir.path().join(format!("copy.fa.gz.{ext}"))).unwrap();
        let vendored = std::fs::read(data(&format!("{FASTA}.{ext}"))).unwrap();
        assert_eq!(ours, vendored, ".{ext}");
    }
    // --force rewrites.
    assert!(ok(&["index", "--force", p(&fa)]).contains("copy.fa.gz.fai\twritten"));
}

#[test]
fn genome_without_index_says_to_run_seqcnn_index() {
    let dir = tempdir();
    let fa = dir.path().join("noindex.fa.gz");
    std::fs::copy(data(FASTA), &fa).unwrap();
    let e = Genome::open(&fa).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("no index for {0}: run `seqcnn index {0}`", fa.display())
    );
    // With the .fai but not the .gzi, the same advice.
    std::fs::copy(
        data(&format!("{FASTA}.fai")),
        dir.path().join("noindex.fa.gz.fai"),
    )
    .unwrap();
    let e = Genome::open(&fa).unwrap_err().to_string();
    assert!(e.contains("run `seqcnn index"), "{e}");
}

#[test]
fn cli_index_bad_inputs() {
    let dir = tempdir();
    // Plain gzip: not BGZF.
    let (_, seq) = decompressed(&data(FASTA));
    let text = [b">20\n".as_slice(), &seq[..600], b"\n"].concat();
    let gz = write(dir.path(), "plain.fa.gz", &gzip(&text));
    fails(&["index", p(&gz)], &["plain.fa.gz", "not BGZF", "bgzip"]);
    // BGZF cut short.
    let raw = std::fs::read(data(FASTA)).unwrap();
    let cut = write(dir.path(), "cut.fa.gz", &raw[..raw.len() / 2]);
    fails(&["index", p(&cut)], &["cut.fa.gz", "truncated"]);
    assert!(
        !dir.path().join("cut.fa.gz.gzi").exists(),
        "no partial index"
    );
    // Uneven lines.
    let fa = write(dir.path(), "uneven.fa", b">a\nACGT\nACG\nACGT\n");
    fails(&["index", p(&fa)], &["uneven.fa", "cannot index"]);
    // Missing file: exit code 2 (bad input).
    let out = seqcnn(&["index", p(&dir.path().join("nope.fa"))]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bed_slices_match_the_genome_through_the_chr_prefix() {
    let g = slice();
    assert_eq!(g.resolve("chr20").unwrap(), "20");
    let mut counts = Vec::new();
    for name in [CTCF, CPG, CDS] {
        let raw = bed::read_bed(&data(name)).unwrap();
        assert!(raw.iter().all(|iv| iv.contig == "chr20"));
        let ivs = bed::read_bed_checked(&data(name), &g).unwrap();
        assert!(ivs.iter().all(|iv| iv.contig == "20" && iv.end <= LEN));
        counts.push(ivs.len());
    }
    assert_eq!(counts, [32, 9, 26]);
    let cds = bed::read_bed(&data(CDS)).unwrap();
    assert!(
        cds.iter()
            .all(|iv| iv.strand.is_some() && iv.name.is_some())
    );
    assert!(cds.iter().any(|iv| iv.strand == Some(Strand::Reverse)));
}

#[test]
fn narrowpeak_summits_and_unknown_contig_with_suggestion() {
    let peaks = bed::read_bed(&data(PEAKS22)).unwrap();
    assert_eq!(peaks.len(), 20);
    // First line: chr22 17255466 17255847 ... summit offset 166.
    assert_eq!(
        (peaks[0].start, peaks[0].end, peaks[0].summit),
        (17_255_466, 17_255_847, Some(17_255_632))
    );
    let mut peaks = peaks;
    let e = bed::check_against(&mut peaks, &slice(), &data(PEAKS22))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "{}:1: unknown contig 'chr22'",
            data(PEAKS22).display()
        )) && e.contains("closest: 20"),
        "{e}"
    );
}

#[test]
fn bed_past_contig_end_names_the_line() {
    let dir = tempdir();
    let mut text = std::fs::read(data(CTCF)).unwrap();
    let lines = text.iter().filter(|&&c| c == b'\n').count();
    text.extend_from_slice(b"chr20\t199900\t200001\n");
    let path = write(dir.path(), "past.bed", &text);
    let e = bed::read_bed_checked(&path, &slice()).unwrap_err();
    assert!(
        matches!(&e, Error::Parse { line, .. } if *line == lines as u64 + 1),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("chr20:199900-200001 ends past the end of contig '20' (200000 bp)"),
        "{msg}"
    );
}

#[test]
fn malformed_bed_line_names_the_line() {
    let dir = tempdir();
    let text = std::fs::read_to_string(data(CPG)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[4] = lines[4].replacen('\t', "\t1e5x", 1);
    let path = write(dir.path(), "bad.bed", lines.join("\n").as_bytes());
    let e = bed::read_bed(&path).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}:5: start '1e5x", path.display())),
        "{e}"
    );
    lines[4] = "chr20\t100".to_string();
    let path = write(dir.path(), "short.bed", lines.join("\n").as_bytes());
    let e = bed::read_bed(&path).unwrap_err().to_string();
    assert!(e.contains("short.bed:5: expected at least 3"), "{e}");
}

#[test]
fn narrowpeak_summit_outside_its_interval() {
    let dir = tempdir();
    let text = std::fs::read_to_string(data(PEAKS22)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut cols: Vec<String> = lines[2].split('\t').map(str::to_string).collect();
    let len: u64 = cols[2].parse::<u64>().unwrap() - cols[1].parse::<u64>().unwrap();
    cols[9] = len.to_string(); // one past the last offset
    lines[2] = cols.join("\t");
    let path = write(dir.path(), "summit.narrowPeak", lines.join("\n").as_bytes());
    let e = bed::read_bed(&path).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}:3: narrowPeak summit offset {len}",
            path.display()
        )) && e.contains("outside the interval"),
        "{e}"
    );
}

#[test]
fn gzip_bed_cut_short_is_a_clear_error() {
    let dir = tempdir();
    // Enough lines that the cut falls well inside the data.
    let mut text = Vec::new();
    for _ in 0..40 {
        text.extend(std::fs::read(data(CDS)).unwrap());
    }
    let gz = gzip(&text);
    let whole = write(dir.path(), "cds.bed.gz", &gz);
    assert_eq!(bed::read_bed(&whole).unwrap().len(), 26 * 40);
    let cut = write(dir.path(), "cut.bed.gz", &gz[..gz.len() * 2 / 3]);
    let e = bed::read_bed(&cut).unwrap_err();
    assert!(
        matches!(&e, Error::Parse { line, .. } if *line > 1),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("cut.bed.gz:") && msg.contains("truncated or corrupt"),
        "{msg}"
    );
}

/// Tiles the slice with the three tasks and checks every label against a per-base count made
/// here from the BED lines, and one bin by hand.
#[test]
fn tiler_on_the_slice_matches_brute_force_and_a_hand_checked_bin() {
    let g = slice();
    let names = ["CTCF", "CpG", "CDS"];
    let mut tasks = Vec::new();
    let mut raw: Vec<Vec<(u64, u64)>> = Vec::new();
    for (name, file) in names.iter().zip([CTCF, CPG, CDS]) {
        let ivs = bed::read_bed_checked(&data(file), &g).unwrap();
        raw.push(ivs.iter().map(|iv| (iv.start, iv.end)).collect());
        tasks.push(Task::new(*name, &ivs));
    }
    let mut tiler = Tiler::whole_genome(&g, &tasks, TileConfig::default()).unwrap();
    let tiles: Vec<_> = tiler.by_ref().collect::<Result<_, _>>().unwrap();
    // 1000 bins; the two at each end have 400 bp of padding in their windows (> 10% N).
    assert_eq!(tiler.skipped(), 4);
    assert_eq!(tiles.len(), 996);
    assert_eq!((tiles[0].start, tiles[0].window_start), (400, 0));
    let (_, seq) = decompressed(&data(FASTA));
    let mut covered = vec![[false; 3]; LEN as usize];
    for (t, ivs) in raw.iter().enumerate() {
        for &(s, e) in ivs {
            for c in &mut covered[s as usize..e as usize] {
                c[t] = true;
            }
        }
    }
    let mut positives = [0; 3];
    for tile in &tiles {
        let ws = tile.window_start as usize;
        assert_eq!(tile.seq, &seq[ws..ws + 1000]);
        for t in 0..3 {
            let n = covered[tile.start as usize..tile.end as usize]
                .iter()
                .filter(|c| c[t])
                .count();
            assert_eq!(tile.coverage[t], n as f32 / 200.0, "bin {}", tile.start);
            assert_eq!(tile.labels[t], if n >= 100 { 1.0 } else { 0.0 });
            positives[t] += usize::from(n >= 100);
        }
    }
    assert!(positives.iter().all(|&n| n > 5), "{positives:?}");
    // By hand: the first CTCF peak of the slice is 1339..1743 (chr20:30,001,339-30,001,743
    // 0-based in the source file). Bin 1200..1400 holds 61 bp of it (0.305 -> 0); bin
    // 1400..1600 lies inside (1.0 -> 1); bin 1600..1800 holds 143 bp (0.715 -> 1).
    let by_start: HashMap<u64, &seqcnn::data::tiling::Tile> =
        tiles.iter().map(|t| (t.start, t)).collect();
    assert_eq!(raw[0][0], (1339, 1743));
    let ctcf = |start: u64| (by_start[&start].coverage[0], by_start[&start].labels[0]);
    assert_eq!(ctcf(1200), (0.305, 0.0));
    assert_eq!(ctcf(1400), (1.0, 1.0));
    assert_eq!(ctcf(1600), (0.715, 1.0));
    // An interval set built from the unresolved `chr20` names would match nothing: refused.
    let unresolved = [Task {
        name: "CTCF".into(),
        targets: IntervalSet::from_intervals(&bed::read_bed(&data(CTCF)).unwrap()),
    }];
    let e = Tiler::whole_genome(&g, &unresolved, TileConfig::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("calls it '20'"), "{e}");
}

/// On the full chr20 (when `../shared/data` is there): the indexes we write are byte-identical to
/// samtools', windows match the slice, and the test region keeps its 64,318 bins.
#[test]
fn full_chr20_when_shared_data_is_present() {
    let Some(full) = shared("genome/20.fa.gz") else {
        eprintln!("skipped: ../shared/data not present");
        return;
    };
    let dir = tempdir();
    let link = dir.path().join("20.fa.gz");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&full, &link).unwrap();
    #[cfg(not(unix))]
    std::fs::copy(&full, &link).unwrap();
    write_index(&link, false).unwrap();
    for ext in ["fai", "gzi"] {
        let ours = std::fs::read(dir.path().join(format!("20.fa.gz.{ext}"))).unwrap();
        let samtools = std::fs::read(shared(&format!("genome/20.fa.gz.{ext}")).unwrap()).unwrap();
        assert_eq!(ours, samtools, ".{ext}");
    }
    let g = Genome::open(&full).unwrap();
    assert_eq!(g.contigs(), [("20".to_string(), 63_025_520)]);
    let s = slice();
    for start in (0..LEN - 1000).step_by(9973) {
        assert_eq!(
            g.fetch("chr20", OFFSET + start, OFFSET + start + 1000)
                .unwrap(),
            s.fetch("20", start, start + 1000).unwrap()
        );
    }
    // The genome starts with 60 kb of N; the last base is N too.
    assert!(g.fetch("20", 0, 60_000).unwrap().iter().all(|&c| c == b'N'));
    let edge = g.fetch("20", 59_999, 60_001).unwrap();
    assert!(edge[0] == b'N' && edge[1] != b'N', "{edge:?}");
    assert_eq!(g.fetch("20", 63_025_519, 63_025_520).unwrap(), b"N");
    let region = g.region("chr20:50,000,001-63,025,520").unwrap();
    let mut tiler = Tiler::new(&g, vec![region], &[], TileConfig::default()).unwrap();
    let kept = tiler.by_ref().count();
    assert_eq!((kept, tiler.skipped()), (64_318, 809));
}

/// Speed of random 1000 bp windows on the full chr20, one thread and all threads:
/// `cargo test --release --test integration genome::speed_random -- --ignored --nocapture`.
#[test]
#[ignore]
fn speed_random_windows_full_chr20() {
    use rayon::prelude::*;
    let Some(full) = shared("genome/20.fa.gz") else {
        return;
    };
    let g = Genome::open(&full).unwrap();
    let len = g.contigs()[0].1;
    let starts: Vec<u64> = (0..20_000u64)
        .map(|i| {
            let x = (i + 1)
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 20) % (len - 1000)
        })
        .collect();
    let t = std::time::Instant::now();
    let n: usize = starts
        .iter()
        .map(|&s| g.fetch("20", s, s + 1000).unwrap().len())
        .sum();
    let one = starts.len() as f64 / t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let m: usize = starts
        .par_iter()
        .map(|&s| g.fetch("20", s, s + 1000).unwrap().len())
        .sum();
    let all = starts.len() as f64 / t.elapsed().as_secs_f64();
    assert_eq!(n, m);
    let t = std::time::Instant::now();
    let tiles = Tiler::whole_genome(&g, &[], TileConfig::default())
        .unwrap()
        .count();
    let tiling = tiles as f64 / t.elapsed().as_secs_f64();
    println!(
        "random 1000 bp windows: {one:.0}/s on 1 thread, {all:.0}/s on {} threads; \
         tiling all of chr20: {tiles} windows at {tiling:.0}/s",
        rayon::current_num_threads()
    );
}

/// Rebuilds the vendored slice from `../shared/data` (run by hand:
/// `cargo test --test integration genome::regenerate_vendored_slice -- --ignored`).
#[test]
#[ignore]
fn regenerate_vendored_slice() {
    let full = shared("genome/20.fa.gz").expect("../shared/data/genome/20.fa.gz");
    let g = Genome::open(&full).unwrap();
    let seq = g.fetch("20", OFFSET, OFFSET + LEN).unwrap();
    let out_dir = data("genome");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut text = format!(
        ">20 GRCh37 20:{}-{} (200 kb slice, coordinates shifted by -{OFFSET})\n",
        OFFSET + 1,
        OFFSET + LEN
    )
    .into_bytes();
    for line in seq.chunks(60) {
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    let fa = data(FASTA);
    let mut w = noodles_bgzf::io::Writer::new(Vec::new());
    w.write_all(&text).unwrap();
    std::fs::write(&fa, w.finish().unwrap()).unwrap();
    write_index(&fa, true).unwrap();
    for (src, dst) in [
        ("peaks/chr20_CTCF.bed", CTCF),
        ("peaks/chr20_CpG_islands.bed", CPG),
        ("peaks/chr20_CDS.bed", CDS),
    ] {
        let text = std::fs::read_to_string(shared(src).unwrap()).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            let mut cols: Vec<String> = line.split('\t').map(str::to_string).collect();
            let (s, e): (u64, u64) = (cols[1].parse().unwrap(), cols[2].parse().unwrap());
            if s >= OFFSET && e <= OFFSET + LEN {
                cols[1] = (s - OFFSET).to_string();
                cols[2] = (e - OFFSET).to_string();
                out.push_str(&cols.join("\t"));
                out.push('\n');
            }
        }
        std::fs::write(data(dst), out).unwrap();
    }
    let text =
        std::fs::read_to_string(shared("peaks/chr22_CTCF.MACS3.narrowPeak").unwrap()).unwrap();
    let head: String = text.lines().take(20).map(|l| format!("{l}\n")).collect();
    std::fs::write(data(PEAKS22), head).unwrap();
}
