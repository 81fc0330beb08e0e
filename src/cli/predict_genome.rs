//! `seqcnn predict --genome`: scores for BED intervals, or for every bin along a genome, read
//! from an indexed genome and written as they are scored (bounded memory).

use super::progress::Meter;
use anyhow::Result;
use seqcnn::data::tiling::{Tile, TileConfig, Tiler, WindowSkip, check_window};
use seqcnn::interval::Interval;
use seqcnn::io::bed::{self, read_bed_checked};
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

/// Writes the rows of a scored chunk whose record indices (`index`) `block` says to write;
/// returns how many it wrote.
fn write_rows(
    out: &mut AtomicOutput,
    keys: &[String],
    kinds: &[OutputKind],
    scores: &ndarray::Array2<f64>,
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
        for (v, kind) in row.iter().zip(kinds) {
            let _ = write!(text, "\t{}", kind.show(*v));
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
    pub out: PathBuf,
    /// The list of BED intervals not scored, with the reason.
    pub skipped: Option<PathBuf>,
}

/// Scores the intervals or bins of `args` with `scorer` and writes them.
pub(super) fn run(args: &GenomePredict, scorer: &Panel) -> Result<()> {
    let genome_path = args.genome.as_path();
    let columns = scorer.columns();
    let window = scorer.window(args.window)? as u64;
    let genome = Genome::open(genome_path)?;
    let score = |seqs: &[&[u8]]| scorer.score(seqs, args.raw);
    let kinds = scorer.kinds(args.raw);
    let mut out = AtomicOutput::create(&args.out)?;
    if args.skipped.is_some() {
        // `| head` ends the scores, not the skipped list.
        out.discard_if_closed();
    }
    write_tsv_marker(&mut out, args.shard)?;
    let chunk_size = args.chunk.max(1);
    let (meter, note) = if let Some(bin) = args.tile {
        writeln!(out, "{}", header("#chrom\tstart\tend", columns)).map_err(|e| out.error(e))?;
        let regions: Vec<Interval> = if args.region.is_empty() {
            genome.whole()
        } else {
            args.region
                .iter()
                .map(|r| genome.region(r))
                .collect::<seqcnn::Result<_>>()?
        };
        let config = TileConfig {
            bin,
            window,
            threshold: 0.5,
            max_n: args.max_n,
        };
        // Bins are scored in chunks of --batch-size consecutive bins (fewer tiles where windows are
        // skipped for N); with --shard, the regions holding the chunks of this shard's bins.
        let block = shard_items(count_bins(&regions, bin), args.shard, chunk_size);
        let regions = shard_regions(&regions, bin, block.scored.clone());
        let mut tiler = Tiler::new(&genome, regions, &[], config)?;
        let mut meter = Meter::new("predict", "bins", Some(block.written.len() as u64));
        let mut chunk: Vec<(usize, Tile)> = Vec::new();
        let mut emitted = 0;
        let mut flush = |chunk: &mut Vec<(usize, Tile)>| -> Result<()> {
            let seqs: Vec<&[u8]> = chunk.iter().map(|(_, t)| t.seq.as_slice()).collect();
            let keys: Vec<String> = chunk
                .iter()
                .map(|(_, t)| format!("{}\t{}\t{}", t.contig, t.start, t.end))
                .collect();
            let scores = score(&seqs)?;
            let n = write_rows(
                &mut out,
                &keys,
                &kinds,
                &scores,
                &block,
                chunk.iter().map(|c| c.0),
            )?;
            meter.add(n);
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
        writeln!(out, "{}", header("#chrom\tstart\tend\tname", columns))
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
                &kinds,
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
