//! `seqcnn predict`: score sequences with a model, streaming.

use super::predict_genome::GenomePredict;
use super::progress::Meter;
use anyhow::Result;
use seqcnn::io::bigwig::is_bigwig;
use seqcnn::io::output::AtomicOutput;
use seqcnn::model::Strand;
use seqcnn::score::{Ensemble, Panel, Scorer};
use seqcnn::shard::{Shard, sharded_records, write_tsv_marker};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Score every sequence of a FASTA file or sequence table (`-` for stdin).
///
/// Output: TSV with a header `name` then one column per task, one row per input record, in input
/// order. Values are probabilities for classification models (sigmoid of the logit, taken in
/// double precision: a probability near 1 prints seven significant digits of its distance from
/// 1, never a bare 1), or the raw network output with --raw. Imported DeepBind models give
/// DeepBind's score either way.
/// Memory stays bounded whatever the input size.
///
/// Several models (--model repeated, --models FILE with one model file or DeepBind ID per line as
/// DeepBind's `example.ids`, --model-dir DIR) score side by side in one pass over the input: one
/// column per model, named after the model file (`ID`, or `ID:TASK` for each task of a
/// multi-task model), in the order given. With --ensemble they score as one model instead: each
/// with its own strand rule (or --strand), every value written the mean of the models' values
/// (probabilities, or raw outputs with --raw); the models must share tasks (and, with --genome,
/// the window length).
///
/// --shard I/N scores block I of N contiguous blocks of the records (sequences, BED intervals or
/// tiled bins) in input order; every shard's output has the header, and `seqcnn merge` joins the
/// shards into exactly the unsharded output.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn predict --model ctcf.safetensors peaks.fa > scores.tsv\n  \
    zcat seqs.tsv.gz | seqcnn predict --model m.safetensors - --raw --out scores.tsv.gz\n  \
    seqcnn predict --model models/D00328.003.safetensors long.fa --average\n  \
    seqcnn predict --model deepsea.safetensors --genome hg19.fa.gz peaks.narrowPeak\n  \
    seqcnn predict --model D00328.018.safetensors --genome 20.fa.gz --window 101 chr20_CTCF.bed\n  \
    seqcnn predict --model deepsea.safetensors --genome 20.fa.gz --tile 200 --region 20:1-5,000,000 --out chr20.tsv.gz\n  \
    seqcnn predict --model multi.safetensors --genome hg19.fa.gz --tile 200 --task CTCF --out ctcf.bw\n  \
    seqcnn predict --model D00328.003.safetensors --genome 20.fa.gz --tile 50 --window 101 --out ctcf.bw\n  \
    seqcnn predict --model m.safetensors peaks.fa --shard 3/8 --out scores.3.tsv\n  \
    seqcnn predict --models example.ids --model-dir models/ example.seq\n  \
    seqcnn predict --model a.safetensors --model b.safetensors --ensemble --genome 20.fa.gz peaks.bed")]
pub struct Args {
    /// A model file; repeat it to score several models side by side (or as one, --ensemble).
    #[arg(long, required_unless_present_any = ["models", "model_dir"])]
    pub(super) model: Vec<PathBuf>,
    /// A list of models, one per line: a model file, or an ID found in --model-dir (`#` starts a
    /// comment, as in DeepBind's example.ids).
    #[arg(long, value_name = "FILE")]
    pub(super) models: Option<PathBuf>,
    /// Where the IDs of --models are found (`ID.safetensors`); without --models, every model in it.
    #[arg(long, value_name = "DIR")]
    pub(super) model_dir: Option<PathBuf>,
    /// Score the models as one: the mean of their outputs.
    #[arg(long)]
    pub(super) ensemble: bool,
    /// FASTA or sequence table (gzip or not); `-` reads stdin. With --genome: a BED file of
    /// intervals, each resized to the model's input (or --window) around its summit or centre,
    /// read on its reverse strand when its strand is `-` and the strand rule is `none`; rows keep
    /// the BED's contig names.
    #[arg(required_unless_present = "tile")]
    pub(super) input: Option<PathBuf>,
    /// Indexed genome (FASTA + .fai, or BGZF + .fai + .gzi) for BED input or --tile.
    #[arg(long)]
    pub(super) genome: Option<PathBuf>,
    /// Score every bin of this size (bp) along the genome (or --region): bedGraph-style TSV
    /// `chrom start end` + one column per task (the contig as the genome names it), each bin
    /// scored on the model's window around it; bins are laid end to end from each region's start.
    /// With --out X.bw: bigWig tracks (see --out).
    #[arg(long, requires = "genome", conflicts_with = "input")]
    pub(super) tile: Option<u64>,
    /// With --tile: region(s) to tile (chr:start-end, 1-based inclusive, or a contig).
    #[arg(long, requires = "tile")]
    pub(super) region: Vec<String>,
    /// With --genome, for models that take any length (DeepBind): score N bp around each
    /// interval's summit or centre (or each bin's centre).
    #[arg(long, requires = "genome", value_name = "N")]
    pub(super) window: Option<usize>,
    /// With --genome: skip windows (of BED intervals or tiled bins) with more than this fraction
    /// of N; BED intervals whose window runs past a contig end are skipped too.
    #[arg(long, default_value_t = 0.5, value_parser = super::fraction, allow_negative_numbers = true)]
    pub(super) max_n: f64,
    /// With --genome and BED input: list the intervals not scored (window past a contig end, or
    /// over --max-n N), TSV `#chrom start end name reason` (`.gz` = gzip).
    #[arg(
        long,
        requires = "genome",
        conflicts_with = "tile",
        value_name = "FILE"
    )]
    pub(super) skipped: Option<PathBuf>,
    /// Output TSV (`-` = stdout; `.gz` = gzip). With --tile, a name ending in `.bw` or `.bigWig`
    /// writes bigWig tracks instead, for genome browsers: one track per column, each bin an
    /// interval with its value (rounded to 32-bit float), on the genome's contigs with the sizes
    /// of its .fai. One column (a one-task model, or one --task) goes to this path; several to one
    /// file per column beside it, STEM.COLUMN.bw (tiles.bw: tiles.CTCF.bw, tiles.DNase.bw;
    /// characters other than letters, digits, `.`, `-` and `_` become `_`), all renamed into place
    /// together when the run succeeds. Bins are in the genome's order whatever the order of
    /// --region; regions whose bins overlap are an error (a track has one value per base). Not
    /// with --shard, nor to standard output or a pipe (a bigWig is written with seeks).
    #[arg(long, default_value = "-")]
    pub(super) out: PathBuf,
    /// Write only this column (a task, or `ID:TASK` with several models side by side, as the
    /// header names it); repeat for several, in the order given. Default: every column.
    #[arg(long, value_name = "NAME")]
    pub(super) task: Vec<String>,
    /// Raw network outputs (logits) instead of probabilities.
    #[arg(long)]
    pub(super) raw: bool,
    /// Strand rule (default: the model's own).
    #[arg(long, value_enum)]
    pub(super) strand: Option<Strand>,
    /// DeepBind models: the mean over a sequence's windows instead of the maximum.
    #[arg(long)]
    pub(super) average: bool,
    /// Sequences (BED intervals, bins) read and scored at a time (old name: --chunk).
    #[arg(long = "batch-size", alias = "chunk", default_value_t = 1024, value_parser = super::count)]
    pub(super) chunk: usize,
    /// Score only block I of N contiguous, equal-sized blocks of the input records, in input
    /// order (1 <= I <= N); needs a file, not stdin.
    #[arg(long, value_name = "I/N")]
    pub(super) shard: Option<Shard>,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    pub(super) threads: Option<usize>,
    #[command(flatten)]
    pub(super) image: super::images::PredictImageArgs,
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || predict(&args))
}

/// The indices of the columns `tasks` names among `columns` (every column when empty).
fn pick_columns(columns: &[String], tasks: &[String]) -> seqcnn::Result<Vec<usize>> {
    if tasks.is_empty() {
        return Ok((0..columns.len()).collect());
    }
    let mut picked = Vec::with_capacity(tasks.len());
    for t in tasks {
        let Some(i) = columns.iter().position(|c| c == t) else {
            return Err(seqcnn::Error::Config(format!(
                "--task {t}: no such column (the columns: {})",
                columns.join(", ")
            )));
        };
        if picked.contains(&i) {
            return Err(seqcnn::Error::Config(format!("--task {t} is given twice")));
        }
        picked.push(i);
    }
    Ok(picked)
}

/// The bigWig files of `--out` for the written columns `names`: `out` itself for one column,
/// else `STEM.NAME.EXT` beside it for each, the name made safe for a file name.
fn track_paths(out: &Path, names: &[&str]) -> Vec<PathBuf> {
    if let [_] = names {
        return vec![out.to_path_buf()];
    }
    let stem = out.file_stem().unwrap_or_default().to_string_lossy();
    let ext = out.extension().unwrap_or_default().to_string_lossy();
    let mut used = std::collections::HashSet::new();
    names
        .iter()
        .map(|n| out.with_file_name(format!("{stem}.{}.{ext}", super::safe_name(n, &mut used))))
        .collect()
}

/// Fails, before any work, for a bigWig `--out` the command line cannot write.
fn check_bigwig(args: &Args) -> seqcnn::Result<()> {
    let out = args.out.display();
    if args.tile.is_none() {
        return Err(seqcnn::Error::Config(format!(
            "--out {out}: a bigWig track is written from --tile (every bin of the genome or \
             --region); scores of sequences or BED intervals are TSV: name a .tsv output"
        )));
    }
    if args.shard.is_some_and(|s| !s.is_whole()) {
        return Err(seqcnn::Error::Config(format!(
            "--out {out}: --shard writes TSV shards for `seqcnn merge`; write the bigWig from an \
             unsharded run, or shard to .tsv outputs"
        )));
    }
    Ok(())
}

fn predict(args: &Args) -> Result<()> {
    let bigwig = is_bigwig(&args.out);
    if bigwig {
        check_bigwig(args)?;
    }
    let mut inputs: Vec<&std::path::Path> = args.model.iter().map(|p| p.as_path()).collect();
    inputs.extend(args.input.as_deref());
    inputs.extend(args.genome.as_deref());
    inputs.extend(args.models.as_deref());
    super::check_not_input("--out", &args.out, &inputs)?;
    if let Some(input) = &args.input
        && super::images::is_images(input, &args.image.image)?
    {
        if args.shard.is_some_and(|s| !s.is_whole()) {
            return Err(
                seqcnn::Error::Config("--shard is not available for image inputs".into()).into(),
            );
        }
        if !args.task.is_empty() {
            return Err(seqcnn::Error::Config(
                "--task picks the tasks of sequence models, not image classes".into(),
            )
            .into());
        }
        let model = super::image_model(&args.model)?;
        return super::images::predict(model, input, &args.out, &args.image, args.raw);
    }
    let list = super::model_list(
        &args.model,
        args.models.as_deref(),
        args.model_dir.as_deref(),
    )?;
    let paths: Vec<PathBuf> = list.iter().map(|(_, p)| p.clone()).collect();
    let models = super::load_models(&paths)?;
    let mut scorers = Vec::with_capacity(models.len());
    for model in &models {
        let mut scorer = Scorer::new(model);
        if let Some(s) = args.strand {
            scorer = scorer.with_strand(s);
        }
        if args.average {
            scorer = scorer.with_window_average(true)?;
        }
        scorers.push(scorer);
    }
    let scorer = if args.ensemble || scorers.len() == 1 {
        Panel::single(Ensemble::new(scorers)?)
    } else {
        Panel::side_by_side(list.iter().map(|(id, _)| id.clone()).zip(scorers).collect())?
    };
    let columns = pick_columns(scorer.columns(), &args.task)?;
    let tracks = if bigwig {
        let names: Vec<&str> = columns
            .iter()
            .map(|&c| scorer.columns()[c].as_str())
            .collect();
        let paths = track_paths(&args.out, &names);
        super::check_output_dir(&args.out)?;
        for p in &paths {
            super::check_not_input("--out", p, &inputs)?;
        }
        Some(paths)
    } else {
        None
    };
    if let Some(genome) = &args.genome {
        let plan = GenomePredict {
            genome: genome.clone(),
            input: args.input.clone(),
            tile: args.tile,
            region: args.region.clone(),
            max_n: args.max_n,
            window: args.window,
            raw: args.raw,
            chunk: args.chunk,
            shard: args.shard,
            columns,
            out: args.out.clone(),
            tracks,
            skipped: args.skipped.clone(),
        };
        return super::predict_genome::run(&plan, &scorer);
    }
    let input_path = args
        .input
        .as_ref()
        .ok_or_else(|| seqcnn::Error::Config("an input file is required".into()))?;
    // Before the counting pass of --shard, which reads the whole input.
    super::check_output_dir(&args.out)?;
    // With --shard: whole chunks of the unsharded run are scored (from `first`), so every record
    // is scored in the same batch as there, and only the shard's own records are written.
    let chunk_size = args.chunk.max(1);
    let (block, records) = sharded_records(input_path, Some(&[]), args.shard, chunk_size)?;
    let mut first = block.scored.start;
    let mut out = AtomicOutput::create(&args.out)?;
    write_tsv_marker(&mut out, args.shard)?;
    let mut header = String::from("name");
    for &c in &columns {
        header.push('\t');
        header.push_str(&scorer.columns()[c]);
    }
    writeln!(out, "{header}").map_err(|e| out.error(e))?;
    let mut chunk = Vec::with_capacity(args.chunk);
    let mut records = records.peekable();
    let mut meter = Meter::new("predict", "sequences", None);
    let kinds = scorer.kinds(args.raw);
    while records.peek().is_some() {
        chunk.clear();
        while chunk.len() < chunk_size {
            match records.next() {
                Some(r) => chunk.push(r?),
                None => break,
            }
        }
        let score = |seqs: &[&[u8]]| scorer.score(seqs, args.raw);
        let seqs: Vec<&[u8]> = chunk.iter().map(|r| r.seq.as_slice()).collect();
        let scores = score(&seqs).map_err(|e| {
            // Name the first record that fails on its own (a sequence too short for the
            // model, say); the chunk's error if none does.
            let input = if input_path.as_os_str() == "-" {
                PathBuf::from("<stdin>")
            } else {
                input_path.clone()
            };
            match chunk
                .iter()
                .find_map(|r| score(&[&r.seq]).err().map(|e| (r, e)))
            {
                Some((r, e)) => {
                    seqcnn::Error::parse(input, r.line, format!("record '{}': {e}", r.name))
                }
                None => seqcnn::Error::parse(input, 0, e.to_string()),
            }
        })?;
        let mut text = String::new();
        let keep = block.written_of(first, chunk.len());
        first += chunk.len();
        meter.add(keep.len() as u64);
        for (r, row) in chunk[keep.clone()]
            .iter()
            .zip(scores.slice(ndarray::s![keep, ..]).rows())
        {
            text.push_str(&r.name);
            for &c in &columns {
                let _ = write!(text, "\t{}", kinds[c].show(row[c]));
            }
            text.push('\n');
        }
        out.write_all(text.as_bytes()).map_err(|e| out.error(e))?;
    }
    out.commit()?;
    meter.finish(None, &[&args.out], "");
    Ok(())
}
