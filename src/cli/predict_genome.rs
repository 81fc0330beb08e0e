//! `seqcnn predict --genome`: scores for BED intervals, or for every bin along a genome, read
//! from an indexed genome and written as they are scored (bounded memory).

use super::progress::Meter;
use anyhow::Result;
use ndarray::Array2;
use seqcnn::data::tiling::{Tile, TileConfig, Tiler, WindowSkip, check_window};
use seqcnn::interval::Interval;
use seqcnn::io::bed::{self, read_bed_checked};
use seqcnn::io::bigwig::TrackWriter;
use seqcnn::io::genome::Genome;
use seqcnn::io::output::AtomicOutput;
use seqcnn::score::{OutputKind, Panel};
use seqcnn::shard::{
    Block, Shard, check_shardable, count_bins, shard_items, shard_regions, write_tsv_marker,
};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

fn header(first: &str, columns: &[String]) -> String {
    let mut h = first.to_string();
    for t in columns {
        h.push('\t');
        h.push_str(t);
    }
    h
}

/// The summary line's note on the BED intervals not scored: how many, why, and where they are
/// listed.
fn skipped_note(skips: &[WindowSkip], listed: Option<&Path>) -> String {
    if skips.is_empty() {
        return String::new();
    }
    let near = skips
        .iter()
        .filter(|w| matches!(w, WindowSkip::NearContigEnd))
        .count();
    let where_ = match listed {
        Some(p) => format!("listed in {}", p.display()),
        None => "list them with --skipped FILE".into(),
    };
    format!(
        "; {} intervals not scored ({near} with the window past a contig end, {} over --max-n N); \
         {where_}",
        skips.len(),
        skips.len() - near
    )
}

/// Writes the rows of a scored chunk whose record indices (`index`) `block` says to write, with
/// the score columns `columns`; returns how many it wrote.
fn write_rows(
    out: &mut AtomicOutput,
    keys: &[String],
    (kinds, columns): (&[OutputKind], &[usize]),
    scores: &Array2<f64>,
    block: &Block,
    index: impl Iterator<Item = usize>,
) -> Result<u64> {
    let mut text = String::new();
    let mut n = 0;
    for ((k, row), i) in keys.iter().zip(scores.rows()).zip(index) {
        if !block.written.contains(&i) {
            continue;
        }
        n += 1;
        text.push_str(k);
        for &c in columns {
            let _ = write!(text, "\t{}", kinds[c].show(row[c]));
        }
        text.push('\n');
    }
    out.write_all(text.as_bytes()).map_err(|e| out.error(e))?;
    Ok(n)
}

/// What `predict --genome` scores and writes, resolved from the command line.
pub(super) struct GenomePredict {
    pub genome: PathBuf,
    /// The BED intervals to score (without `tile`).
    pub input: Option<PathBuf>,
    /// Score every bin of this size instead, along `region` (every contig when empty).
    pub tile: Option<u64>,
    pub region: Vec<String>,
    /// Bins with more N than this share are skipped.
    pub max_n: f64,
    /// `--window`, for models that take any length.
    pub window: Option<usize>,
    /// Raw outputs instead of the output scale.
    pub raw: bool,
    /// Records scored per pass (and the unit of sharding).
    pub chunk: usize,
    pub shard: Option<Shard>,
    /// The score columns written (`--task`), as indices into the scorer's columns.
    pub columns: Vec<usize>,
    pub out: PathBuf,
    /// With `tile`: bigWig tracks instead of the TSV `out`, one file per written column.
    pub tracks: Option<Vec<PathBuf>>,
    /// The list of BED intervals not scored, with the reason.
    pub skipped: Option<PathBuf>,
}

/// The regions `--tile` tiles: `--region`, or every contig of the genome.
fn tile_regions(args: &GenomePredict, genome: &Genome) -> Result<Vec<Interval>> {
    if args.region.is_empty() {
        return Ok(genome.whole());
    }
    Ok(args
        .region
        .iter()
        .map(|r| genome.region(r))
        .collect::<seqcnn::Result<_>>()?)
}

/// Sorts `regions` into the genome's order (contigs as in its index, then by start), the order
/// a bigWig holds its intervals in, and fails when the bins (of `bin` bp from each region's
/// start) of two regions overlap: a bigWig track has one value per base.
fn genome_order(regions: &mut [Interval], genome: &Genome, bin: u64) -> Result<()> {
    let rank: std::collections::HashMap<&str, usize> = genome
        .contigs()
        .iter()
        .enumerate()
        .map(|(i, (c, _))| (c.as_str(), i))
        .collect();
    regions.sort_by_key(|r| (rank.get(r.contig.as_str()).copied(), r.start, r.end));
    // The region whose bins reach furthest so far on this contig, and the end of its last bin.
    let mut reach: Option<(&Interval, u64)> = None;
    let bin = bin.max(1);
    for r in regions.iter() {
        let bins = r.end.saturating_sub(r.start) / bin;
        if bins == 0 {
            continue;
        }
        let end = r.start + bins * bin;
        match reach {
            Some((a, a_end)) if a.contig == r.contig && r.start < a_end => {
                return Err(seqcnn::Error::Config(format!(
                    "--region {a} and --region {r} overlap: a bigWig track holds one value per \
                     base, so the bins of a .bw output must not overlap; give regions that do \
                     not overlap (join these into one region), or write TSV"
                ))
                .into());
            }
            Some((a, a_end)) if a.contig == r.contig && a_end >= end => {}
            _ => reach = Some((r, end)),
        }
    }
    Ok(())
}

/// Scores every bin of `regions` (of the tiling's `config`) in chunks of `chunk_size`
/// consecutive bins of the unsharded run (fewer tiles where windows are skipped for N; with
/// --shard, the regions holding the chunks of `block`'s bins), and hands each chunk, its bins'
/// indices and its scores, to `emit`, which returns how many bins it wrote; the progress meter
/// of the bins written comes back.
fn score_tiles(
    genome: &Genome,
    regions: Vec<Interval>,
    config: TileConfig,
    block: &Block,
    chunk_size: usize,
    score: impl Fn(&[&[u8]]) -> seqcnn::Result<Array2<f64>>,
    mut emit: impl FnMut(&[(usize, Tile)], &Array2<f64>) -> Result<u64>,
) -> Result<Meter> {
    let mut meter = Meter::new("predict", "bins", Some(block.written.len() as u64));
    let mut tiler = Tiler::new(genome, regions, &[], config)?;
    let mut chunk: Vec<(usize, Tile)> = Vec::new();
    let mut emitted = 0;
    let mut flush = |chunk: &mut Vec<(usize, Tile)>| -> Result<()> {
        let seqs: Vec<&[u8]> = chunk.iter().map(|(_, t)| t.seq.as_slice()).collect();
        let scores = score(&seqs)?;
        meter.add(emit(chunk, &scores)?);
        chunk.clear();
        Ok(())
    };
    while let Some(tile) = tiler.next() {
        // The bin's index: the bins before it were emitted or skipped.
        let index = block.scored.start + emitted + tiler.skipped() as usize;
        emitted += 1;
        if chunk
            .first()
            .is_some_and(|c| c.0 / chunk_size != index / chunk_size)
        {
            flush(&mut chunk)?;
        }
        chunk.push((index, tile?));
    }
    if !chunk.is_empty() {
        flush(&mut chunk)?;
    }
    Ok(meter)
}

/// `--tile` with a bigWig output: every bin of the regions, in the genome's order, one track per
/// written column.
fn tile_tracks(
    args: &GenomePredict,
    scorer: &Panel,
    genome: &Genome,
    config: TileConfig,
    paths: &[PathBuf],
) -> Result<()> {
    let mut regions = tile_regions(args, genome)?;
    let config_bin = config.bin;
    genome_order(&mut regions, genome, config.bin)?;
    let chunk_size = args.chunk.max(1);
    let block = shard_items(count_bins(&regions, config.bin), None, chunk_size);
    let mut tracks = TrackWriter::create(paths.to_vec(), genome.contigs())?;
    let meter = score_tiles(
        genome,
        regions,
        config,
        &block,
        chunk_size,
        |seqs| scorer.score(seqs, args.raw),
        |chunk, scores| {
            for ((_, t), row) in chunk.iter().zip(scores.rows()) {
                tracks.push(
                    &t.contig,
                    t.start,
                    t.end,
                    args.columns.iter().map(|&c| row[c]),
                )?;
            }
            Ok(chunk.len() as u64)
        },
    )?;
    if tracks.bins() == 0 {
        return Err(seqcnn::Error::Config(format!(
            "--out {}: no bin was scored (the regions are shorter than --tile {} bp, or every \
             window is over --max-n {}), and a bigWig track needs at least one",
            args.out.display(),
            config_bin,
            args.max_n
        ))
        .into());
    }
    tracks.finish(rayon::current_num_threads())?;
    let outputs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    meter.finish(None, &outputs, "");
    Ok(())
}

/// Scores the intervals or bins of `args` with `scorer` and writes them.
pub(super) fn run(args: &GenomePredict, scorer: &Panel) -> Result<()> {
    let genome_path = args.genome.as_path();
    let columns: Vec<String> = args
        .columns
        .iter()
        .map(|&c| scorer.columns()[c].clone())
        .collect();
    let window = scorer.window(args.window)? as u64;
    let genome = Genome::open(genome_path)?;
    let config = |bin| TileConfig {
        bin,
        window,
        threshold: 0.5,
        max_n: args.max_n,
    };
    if let (Some(bin), Some(paths)) = (args.tile, &args.tracks) {
        return tile_tracks(args, scorer, &genome, config(bin), paths);
    }
    let score = |seqs: &[&[u8]]| scorer.score(seqs, args.raw);
    let kinds = scorer.kinds(args.raw);
    let picked = (kinds.as_slice(), args.columns.as_slice());
    let mut out = AtomicOutput::create(&args.out)?;
    if args.skipped.is_some() {
        // `| head` ends the scores, not the skipped list.
        out.discard_if_closed();
    }
    write_tsv_marker(&mut out, args.shard)?;
    let chunk_size = args.chunk.max(1);
    let (meter, note) = if let Some(bin) = args.tile {
        writeln!(out, "{}", header("#chrom\tstart\tend", &columns)).map_err(|e| out.error(e))?;
        let regions = tile_regions(args, &genome)?;
        // With --shard, the regions holding the chunks of this shard's bins.
        let block = shard_items(count_bins(&regions, bin), args.shard, chunk_size);
        let regions = shard_regions(&regions, bin, block.scored.clone());
        let meter = score_tiles(
            &genome,
            regions,
            config(bin),
            &block,
            chunk_size,
            score,
            |chunk, scores| {
                let keys: Vec<String> = chunk
                    .iter()
                    .map(|(_, t)| format!("{}\t{}\t{}", t.contig, t.start, t.end))
                    .collect();
                write_rows(
                    &mut out,
                    &keys,
                    picked,
                    scores,
                    &block,
                    chunk.iter().map(|c| c.0),
                )
            },
        )?;
        (meter, String::new())
    } else {
        let bed = args
            .input
            .as_deref()
            .ok_or_else(|| seqcnn::Error::Config("a BED file is required".into()))?;
        check_shardable(bed, args.shard)?;
        let intervals = read_bed_checked(bed, &genome)?;
        // With --shard: the whole chunks holding the shard's intervals are scored.
        let block = shard_items(intervals.len(), args.shard, chunk_size);
        writeln!(out, "{}", header("#chrom\tstart\tend\tname", &columns))
            .map_err(|e| out.error(e))?;
        let mut skipped = match &args.skipped {
            Some(p) => {
                let mut o = AtomicOutput::create(p)?;
                write_tsv_marker(&mut o, args.shard)?;
                writeln!(o, "#chrom\tstart\tend\tname\treason").map_err(|e| o.error(e))?;
                Some(o)
            }
            None => None,
        };
        let mut skips: Vec<WindowSkip> = Vec::new();
        let mut meter = Meter::new("predict", "intervals", Some(block.written.len() as u64));
        let scored = &intervals[block.scored.clone()];
        let stranded = scorer.single_strand();
        for (k, chunk) in scored.chunks(chunk_size).enumerate() {
            let first = block.scored.start + k * chunk_size;
            let (mut seqs, mut keys, mut index) = (Vec::new(), Vec::new(), Vec::new());
            for (i, iv) in (first..).zip(chunk) {
                // Centred on the summit (narrowPeak) or the interval's centre.
                let (start, end) = iv.window(window);
                let seq = genome.fetch_padded(&iv.contig, start, end)?;
                let contig = iv.written_contig();
                let key = format!("{contig}\t{}\t{}\t{}", iv.start, iv.end, iv.label());
                let len = genome.contig_len(&iv.contig)?;
                if let Err(why) = check_window(&seq, start, end, len, args.max_n) {
                    if block.written.contains(&i) {
                        skips.push(why);
                        meter.add(1);
                        if let Some(o) = &mut skipped {
                            writeln!(o, "{key}\t{why}").map_err(|e| o.error(e))?;
                        }
                    }
                    continue;
                }
                // A `-` interval reads its reverse strand when the models score one strand.
                seqs.push(if stranded && iv.strand == Some(bed::Strand::Reverse) {
                    seqcnn::encode::reverse_complement(&seq)
                } else {
                    seq
                });
                keys.push(key);
                index.push(i);
            }
            if seqs.is_empty() {
                continue;
            }
            let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
            let scores = score(&refs)?;
            meter.add(write_rows(
                &mut out,
                &keys,
                picked,
                &scores,
                &block,
                index.into_iter(),
            )?);
        }
        if let Some(o) = skipped {
            o.commit()?;
        }
        (meter, skipped_note(&skips, args.skipped.as_deref()))
    };
    out.commit()?;
    let outputs: Vec<&Path> = std::iter::once(args.out.as_path())
        .chain(args.skipped.as_deref())
        .collect();
    meter.finish(None, &outputs, &note);
    Ok(())
}
