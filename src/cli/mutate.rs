//! `seqcnn mutate`: in-silico saturation mutagenesis of every input sequence (FASTA, table, or
//! BED intervals read from a genome), streaming TSV, with optional mutation-map SVGs.

use super::progress::Meter;
use anyhow::Result;
use seqcnn::io::bed::read_bed_checked;
use seqcnn::io::genome::Genome;
use seqcnn::io::output::{AtomicDir, AtomicOutput};
use seqcnn::model::Model;
use seqcnn::model::Strand;
use seqcnn::mutate::{FastIsm, IsmScores, MapOptions, PlotScale, mutation_map_svg, precise_ism};
use seqcnn::score::{Scorer, resolve_window};
use seqcnn::shard::{Shard, check_shardable, shard_items, sharded_records, write_tsv_marker};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Score every single-base substitution of every sequence of a FASTA file or sequence table
/// (`-` for stdin), or of every interval of a BED file read from an indexed genome (--genome).
///
/// Output: TSV with a header `name pos ref alt` then, per task, `TASK:ref TASK:alt TASK:diff`
/// (reference score, mutant score, mutant minus reference; with --logit also `TASK:logit_diff`,
/// the difference of raw scores). One row per (sequence, position, alternative base): three per
/// position (four where the sequence has N), positions 1-based, alternatives in ACGT order.
/// Scores are on `predict`'s scale, under the model's strand rule (and DeepBind's window rules for
/// imported DeepBind models), made in double precision from the raw scores: a probability near 1
/// keeps seven significant digits of its distance from 1 (0.999999997938846 for a logit of 20,
/// never a bare 1) and differences keep their digits. Sequences are read and written one at a
/// time.
///
/// With --genome, INPUT is BED3, BED6 or narrowPeak and each interval is resized as `predict
/// --genome` does: to the model's input length around its summit (narrowPeak) or centre, bases
/// past a contig's ends read as N. Models without a fixed input length (DeepBind) take the
/// interval as it is, or a --window of N bp around the summit or centre. Rows then carry the
/// genomic position too: `name pos chrom gpos ref alt ...`, `gpos` 1-based (`.` in N padding
/// outside the contig); `name` is the BED name or `chrom:start-end`.
///
/// --plot DIR draws a mutation map per sequence and task, `DIR/NAME.TASK.svg`, as in DeepBind's
/// paper: a heatmap of the score change of each substitution (blue: loss, red: gain) under the
/// reference sequence drawn with each base as tall as the largest loss a substitution there
/// causes; rows of --wrap positions, genomic positions for BED input.
///
/// Plain sequential networks (convolutions, activations, pooling, batch norm, dropout up to the
/// first flatten or global pooling) use fast ISM: only the slice of each convolutional layer
/// inside the changed base's receptive field is recomputed; other models, and --naive, score
/// every mutant sequence whole. Both give the same numbers within 1e-4.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn mutate --model ctcf.safetensors peaks.fa > ism.tsv\n  \
    seqcnn mutate --model models/D00328.003.safetensors seqs.tsv --logit --out ism.tsv.gz\n  \
    seqcnn mutate --model deepsea.safetensors --genome hg19.fa.gz peaks.narrowPeak --out ism.tsv.gz\n  \
    seqcnn mutate --model models/D00328.003.safetensors --genome hg19.fa.gz ctcf.bed --window 100 \\\n    \
    --plot maps/ --out ism.tsv\n  \
    seqcnn mutate --model deepsea.safetensors windows.fa --plot maps/ --task CTCF --plot-window 400-600 --out ism.tsv\n  \
    seqcnn mutate --model deepsea.safetensors windows.fa --naive --batch-size 64 --out ism.tsv\n  \
    zcat seqs.fa.gz | seqcnn mutate --model m.safetensors - --strand max --out ism.tsv\n  \
    seqcnn mutate --model m.safetensors peaks.fa --shard 3/8 --out ism.3.tsv.gz")]
pub struct Args {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// FASTA or sequence table (gzip or not); `-` reads stdin. With --genome: BED or narrowPeak.
    input: PathBuf,
    /// Output TSV (`-` = stdout; `.gz` = gzip).
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// Also write `TASK:logit_diff`: the mutant's raw score (logit) minus the reference's.
    #[arg(long)]
    logit: bool,
    /// Strand rule (default: the model's own).
    #[arg(long, value_enum)]
    strand: Option<Strand>,
    /// DeepBind models: the mean over a sequence's windows instead of the maximum.
    #[arg(long)]
    average: bool,
    /// Score every mutant sequence whole (naive ISM) instead of fast ISM.
    #[arg(long)]
    naive: bool,
    /// Mutant sequences scored per forward pass (old name: --batch).
    #[arg(long = "batch-size", alias = "batch", default_value_t = 256, value_parser = super::count)]
    batch: usize,
    /// Indexed genome FASTA (plain, gzip or BGZF with .fai/.gzi; see `seqcnn index`): INPUT is
    /// then a BED or narrowPeak file of intervals to mutate.
    #[arg(long)]
    genome: Option<PathBuf>,
    /// With --genome, for a model without a fixed input length: mutate N bp around each
    /// interval's summit or centre instead of the interval as it is.
    #[arg(long, value_name = "N", requires = "genome")]
    window: Option<u64>,
    /// Directory for mutation maps, one SVG per sequence and task (`NAME.TASK.svg`); created
    /// if missing.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Only these tasks' maps (repeatable; default: every task; old name: --plot-task).
    #[arg(
        long = "task",
        alias = "plot-task",
        value_name = "TASK",
        requires = "plot"
    )]
    plot_task: Vec<String>,
    /// What the maps' colours show, mutant minus reference: `logit` (the default for sigmoid
    /// models: their probabilities saturate), `prob` (predict's scale) or `raw` (the network's
    /// output; the default for DeepBind models, on DeepBind's score).
    #[arg(long, value_enum, requires = "plot")]
    plot_scale: Option<PlotScale>,
    /// Draw only positions START to END (1-based, inclusive, as the `pos` column).
    #[arg(long, value_name = "START-END", requires = "plot", value_parser = parse_span)]
    plot_window: Option<(usize, usize)>,
    /// Positions per row of a mutation map (longer sequences wrap).
    #[arg(long, default_value_t = 100, value_name = "N")]
    wrap: usize,
    /// Only block I of N contiguous, equal-sized blocks of the input's sequences or intervals,
    /// in input order (1 <= I <= N; a file, not stdin); `seqcnn merge` joins the shards' TSVs
    /// into the unsharded output.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

/// `START-END` (1-based inclusive) as a 0-based half-open range.
fn parse_span(text: &str) -> std::result::Result<(usize, usize), String> {
    let bad = || format!("'{text}' is not START-END (1-based positions, START <= END)");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (a, b): (usize, usize) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if a == 0 || a > b {
        return Err(bad());
    }
    Ok((a - 1, b))
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || mutate(&args))
}

/// Where a sequence read from a genome lies: its first base is 0-based `start` on `contig` (as
/// the BED file spells it).
struct Locus {
    contig: String,
    start: i64,
    contig_len: u64,
}

/// One sequence to mutate, with the file and line it came from (for errors).
struct Item {
    name: String,
    seq: Vec<u8>,
    locus: Option<Locus>,
    line: u64,
}

/// The sequences of INPUT: records of a FASTA file or table, or BED intervals read from the
/// genome (resized as `predict --genome` does), lazily.
fn items<'a>(
    args: &Args,
    model: &Model,
    genome: Option<&'a Genome>,
) -> Result<Box<dyn Iterator<Item = seqcnn::Result<Item>> + 'a>> {
    // Each sequence is mutated on its own (batches of its mutants): a shard reads only its own.
    let Some(genome) = genome else {
        let (_, records) = sharded_records(&args.input, Some(&[]), args.shard, 1)?;
        return Ok(Box::new(records.map(|r| {
            r.map(|r| Item {
                name: r.name,
                seq: r.seq,
                locus: None,
                line: r.line,
            })
        })));
    };
    let what = args.model.display().to_string();
    let window = resolve_window(model, &what, args.window.map(|w| w as usize))?.map(|w| w as u64);
    check_shardable(&args.input, args.shard)?;
    let mut intervals = read_bed_checked(&args.input, genome)?;
    let block = shard_items(intervals.len(), args.shard, 1);
    intervals.truncate(block.written.end);
    intervals.drain(..block.written.start);
    let bed = args.input.clone();
    Ok(Box::new(intervals.into_iter().map(move |iv| {
        let (start, end) = match window {
            Some(w) => iv.window(w),
            None => (iv.start as i64, iv.end as i64),
        };
        let at_line = |e: seqcnn::Error| seqcnn::Error::parse(&bed, iv.line, e.to_string());
        Ok(Item {
            name: iv.label(),
            seq: genome
                .fetch_padded(&iv.contig, start, end)
                .map_err(at_line)?,
            line: iv.line,
            locus: Some(Locus {
                contig_len: genome.contig_len(&iv.contig).map_err(at_line)?,
                contig: iv.written_contig().to_string(),
                start,
            }),
        })
    })))
}

/// Writes the mutation maps of one sequence into `dir`, with `base`'s options (wrap, zoom,
/// scale) and the sequence's own position labels.
fn plot(
    base: &MapOptions,
    model: &Model,
    dir: &Path,
    tasks: &[usize],
    item: &Item,
    ism: &IsmScores,
    used: &mut HashSet<String>,
) -> Result<()> {
    let opts = MapOptions {
        offset: item
            .locus
            .as_ref()
            .and_then(|l| u64::try_from(l.start).ok())
            .unwrap_or(0),
        ..base.clone()
    };
    for &t in tasks {
        let task = &model.meta.tasks[t];
        let svg = mutation_map_svg(&item.name, task, &item.seq, ism, t, &opts);
        let file = super::file_name(&format!("{}.{task}", item.name), used);
        super::write_svg(&dir.join(file), &svg)?;
    }
    Ok(())
}

fn mutate(args: &Args) -> Result<()> {
    super::check_output_dir(&args.out)?;
    let mut inputs = vec![args.input.as_path(), args.model.as_path()];
    inputs.extend(args.genome.as_deref());
    super::check_not_input("--out", &args.out, &inputs)?;
    let model = Model::load(&args.model)?;
    let mut scorer = Scorer::new(&model);
    if let Some(s) = args.strand {
        scorer = scorer.with_strand(s);
    }
    if args.average {
        scorer = scorer.with_window_average(true)?;
    }
    // Fast ISM where the network allows it, prepared once for all sequences.
    let fast = if args.naive {
        None
    } else {
        FastIsm::new(&model)?
    };
    let tasks = super::task_indices(&model, &args.plot_task)?;
    let scale = args
        .plot_scale
        .unwrap_or_else(|| PlotScale::default_for(&model));
    scale.check(&model)?;
    let map_opts = MapOptions {
        wrap: args.wrap,
        range: args.plot_window,
        scale: scale.label(&model).to_string(),
        ..MapOptions::default()
    };
    let plots = args.plot.as_deref().map(AtomicDir::create).transpose()?;
    let genome = args.genome.as_deref().map(Genome::open).transpose()?;
    let items = items(args, &model, genome.as_ref())?;
    let input = if args.input.as_os_str() == "-" {
        PathBuf::from("<stdin>")
    } else {
        args.input.clone()
    };
    let mut out = AtomicOutput::create(&args.out)?;
    if plots.is_some() {
        // `| head` ends the table, not the maps.
        out.discard_if_closed();
    }
    write_tsv_marker(&mut out, args.shard)?;
    let mut header = String::from("name\tpos");
    if genome.is_some() {
        header.push_str("\tchrom\tgpos");
    }
    header.push_str("\tref\talt");
    for t in &model.meta.tasks {
        for col in ["ref", "alt", "diff"] {
            let _ = write!(header, "\t{t}:{col}");
        }
        if args.logit {
            let _ = write!(header, "\t{t}:logit_diff");
        }
    }
    writeln!(out, "{header}").map_err(|e| out.error(e))?;
    let mut used = HashSet::new();
    let mut meter = Meter::new("mutate", "sequences", None);
    let mut mutants = 0;
    for item in items {
        let item = item?;
        let named = |e: seqcnn::Error| {
            seqcnn::Error::parse(&input, item.line, format!("record '{}': {e}", item.name))
        };
        let p = precise_ism(fast.as_ref(), &scorer, &item.seq, args.batch).map_err(named)?;
        let ism = &p.raw;
        let mut text = String::new();
        for (i, m) in ism.mutations.iter().enumerate() {
            let _ = write!(text, "{}\t{}", item.name, m.pos + 1);
            if let Some(l) = &item.locus {
                let g = l.start + m.pos as i64;
                if g >= 0 && (g as u64) < l.contig_len {
                    let _ = write!(text, "\t{}\t{}", l.contig, g + 1);
                } else {
                    let _ = write!(text, "\t{}\t.", l.contig);
                }
            }
            let _ = write!(text, "\t{}\t{}", m.ref_base as char, m.alt as char);
            for (t, &rv) in p.reference.iter().enumerate() {
                let mv = p.mutants[[i, t]];
                let _ = write!(
                    text,
                    "\t{}\t{}\t{}",
                    p.kind.show(rv),
                    p.kind.show(mv),
                    (mv - rv) as f32
                );
                if args.logit {
                    let _ = write!(text, "\t{}", ism.mutants[[i, t]] - ism.reference[t]);
                }
            }
            text.push('\n');
        }
        out.write_all(text.as_bytes()).map_err(|e| out.error(e))?;
        if let Some(dir) = &plots {
            let output;
            let drawn = if scale.raw() {
                ism
            } else {
                output = p.output();
                &output
            };
            plot(
                &map_opts,
                &model,
                dir.path(),
                &tasks,
                &item,
                drawn,
                &mut used,
            )?;
        }
        mutants += ism.mutations.len();
        meter.add(1);
    }
    if let Some(dir) = plots {
        dir.commit()?;
    }
    out.commit()?;
    let mut outputs = vec![args.out.as_path()];
    outputs.extend(args.plot.as_deref());
    meter.finish(None, &outputs, &format!("; {mutants} mutants scored"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_window_is_one_based_inclusive() {
        assert_eq!(parse_span("1-10"), Ok((0, 10)));
        assert_eq!(parse_span("400-400"), Ok((399, 400)));
        for bad in ["0-5", "6-5", "5", "a-b", "-3"] {
            assert!(parse_span(bad).is_err(), "{bad}");
        }
    }
}
