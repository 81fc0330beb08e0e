//! `seqcnn predict --genome`: scores for BED intervals, or for every bin along a genome, read
//! from an indexed genome and written as they are scored (bounded memory).

use super::predict::Args;
use anyhow::Result;
use seqcnn::io::AtomicOutput;
use seqcnn::io::bed::read_bed_checked;
use seqcnn::io::genome::{Genome, Region};
use seqcnn::io::windows::{TileConfig, Tiler};
use seqcnn::model::Model;
use seqcnn::score::Scorer;
use std::io::Write;
use std::path::Path;

const CHUNK: usize = 1024;

fn header(first: &str, model: &Model) -> String {
    let mut h = first.to_string();
    for t in &model.meta.tasks {
        h.push('\t');
        h.push_str(t);
    }
    h
}

fn write_rows(
    out: &mut AtomicOutput,
    keys: &[String],
    scores: &ndarray::Array2<f32>,
) -> Result<()> {
    let mut text = String::new();
    for (k, row) in keys.iter().zip(scores.rows()) {
        text.push_str(k);
        for v in row {
            text.push('\t');
            text.push_str(&v.to_string());
        }
        text.push('\n');
    }
    out.write_all(text.as_bytes()).map_err(|e| out.error(e))?;
    Ok(())
}

pub fn run(args: &Args, model: &Model, scorer: &Scorer, genome_path: &Path) -> Result<()> {
    let genome = Genome::open(genome_path)?;
    let window = model.meta.input_length.ok_or_else(|| {
        seqcnn::Error::Config(
            "the model takes any input length: genome windows need a model with a fixed input length".into(),
        )
    })? as u64;
    let score = |seqs: &[&[u8]]| {
        if args.raw {
            scorer.score_raw(seqs)
        } else {
            scorer.score(seqs)
        }
    };
    let mut out = AtomicOutput::create(&args.out)?;
    if let Some(bin) = args.tile {
        writeln!(out, "{}", header("chrom\tstart\tend", model)).map_err(|e| out.error(e))?;
        let regions: Vec<Region> = if args.region.is_empty() {
            genome
                .contigs()
                .iter()
                .map(|(c, l)| Region {
                    contig: c.clone(),
                    start: 0,
                    end: *l,
                })
                .collect()
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
        let mut tiles = Tiler::new(&genome, regions, &[], config)?.peekable();
        while tiles.peek().is_some() {
            let chunk: Vec<_> = tiles.by_ref().take(CHUNK).collect::<seqcnn::Result<_>>()?;
            let seqs: Vec<&[u8]> = chunk.iter().map(|t| t.seq.as_slice()).collect();
            let keys: Vec<String> = chunk
                .iter()
                .map(|t| format!("{}\t{}\t{}", t.contig, t.start, t.end))
                .collect();
            write_rows(&mut out, &keys, &score(&seqs)?)?;
        }
    } else {
        let bed = args
            .input
            .as_deref()
            .ok_or_else(|| seqcnn::Error::Config("a BED file is required".into()))?;
        let intervals = read_bed_checked(bed, &genome)?;
        writeln!(out, "{}", header("chrom\tstart\tend\tname", model)).map_err(|e| out.error(e))?;
        for chunk in intervals.chunks(CHUNK) {
            let seqs: Vec<Vec<u8>> = chunk
                .iter()
                .map(|iv| {
                    // Centred on the summit (narrowPeak) or the interval's centre.
                    let (start, end) = iv.window(window);
                    genome.fetch_padded(&iv.contig, start, end)
                })
                .collect::<seqcnn::Result<_>>()?;
            let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
            let keys: Vec<String> = chunk
                .iter()
                .map(|iv| format!("{}\t{}\t{}\t{}", iv.contig, iv.start, iv.end, iv.label()))
                .collect();
            write_rows(&mut out, &keys, &score(&refs)?)?;
        }
    }
    out.commit()?;
    Ok(())
}
