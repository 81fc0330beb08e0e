//! `seqcnn motifs`: a model's first-layer filters as motifs (MEME), their weights as PWMs, per
//! filter statistics, matches against a motif database and logos.

use super::progress::Meter;
use anyhow::Result;
use seqcnn::interpret::compare::{self, CompareOptions, Metric, Null};
use seqcnn::interpret::logo;
use seqcnn::interpret::motifs::{self, MotifOptions, WeightMode};
use seqcnn::io::meme::{self, MemeFile};
use seqcnn::io::output::{AtomicDir, AtomicOutput};
use seqcnn::io::sequence::sequence_records;
use seqcnn::model::Model;
use seqcnn::model::Strand;
use seqcnn::score::Presentation;
use std::path::PathBuf;

/// Turn a model's first-layer filters into motifs, as Basset does, and compare them with known
/// motifs, as Tomtom does.
///
/// For each filter, every placement on the input sequences whose activation (convolution plus
/// bias) exceeds --threshold times the filter's maximum over the input is a site; the sites make
/// a frequency matrix (plus --pseudocount), trimmed of edge columns under --trim bits. All
/// filters are written in MEME minimal format as filter0, filter1, ... with their IUPAC
/// consensus as name and the site count as nsites. Sequences are presented as the model scores
/// them (both strands under the mean or max strand rule; DeepBind models padded with N).
///
/// --compare matches every filter motif against a MEME database over both strands and all
/// offsets overlapping by --min-overlap columns, summing column similarities (--metric). The
/// score is calibrated against --shuffles column-shuffled copies of the filter: the best
/// alignment's z-score; the p-value comes from a Gumbel fit to the shuffled copies' best
/// z-scores. --matches gets the --top matches per filter, in Tomtom's columns: TSV `query rank
/// target target_name offset orientation overlap score pvalue evalue qvalue` (E = p x the
/// targets in the database; q by Benjamini-Hochberg over them). A dead filter (no site above
/// --threshold) is one row with target_name `dead_filter_no_sites` and `.` elsewhere, is named
/// so in the MEME file, and gets no logo.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn motifs --model rest.safetensors REST_B.seq.gz --out rest_filters.meme\n  \
    seqcnn motifs --model ctcf.safetensors peaks.fa --out f.meme --weights w.meme --stats f.tsv\n  \
    seqcnn motifs --model ctcf.safetensors peaks.fa --out f.meme \\\n    \
      --compare JASPAR2024_CORE_vertebrates.meme --matches matches.tsv --logos logos/")]
pub struct Args {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// Sequences to scan: FASTA, sequence table or one per line (gzip or not); `-` reads stdin.
    #[arg(required_unless_present = "input_flag")]
    input: Option<PathBuf>,
    /// The input, given as an option (the older spelling of the positional INPUT).
    #[arg(long = "input", hide = true, conflicts_with = "input")]
    input_flag: Option<PathBuf>,
    /// Output MEME file of the filters' site motifs (`-` = stdout).
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// Also write the raw filter weights as PWMs (MEME), untrimmed.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// How weights become probabilities.
    #[arg(long, value_enum, default_value_t)]
    weights_mode: WeightMode,
    /// Per-filter TSV: consensus, sites, sequences with a site, activation max/mean/sd,
    /// threshold, width, trimmed columns, information content.
    #[arg(long)]
    stats: Option<PathBuf>,
    /// Motif database (MEME) to compare the filter motifs with; needs --matches.
    #[arg(long, requires = "matches")]
    compare: Option<PathBuf>,
    /// Output TSV of the top matches per filter; needs --compare.
    #[arg(long, requires = "compare")]
    matches: Option<PathBuf>,
    /// Directory for one SVG logo per filter (with its best match when comparing); created if
    /// missing.
    #[arg(long)]
    logos: Option<PathBuf>,
    /// A site's activation must exceed this fraction of the filter's maximum.
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,
    /// Pseudocount per column, spread over the letters by the background.
    #[arg(long, default_value_t = 1.0)]
    pseudocount: f64,
    /// Trim edge columns with less information than this (bits).
    #[arg(long, default_value_t = 0.2)]
    trim: f64,
    /// Column similarity for --compare.
    #[arg(long, value_enum, default_value_t)]
    metric: Metric,
    /// How match p-values are found: against column-shuffled copies of the filter, or Tomtom's
    /// exact distribution of column scores against the database.
    #[arg(long, value_enum, default_value_t)]
    null: Null,
    /// Fewest overlapping columns in an alignment.
    #[arg(long, default_value_t = 5)]
    min_overlap: usize,
    /// Column-shuffled copies of each filter in the null (0: raw scores, no p-values).
    #[arg(long, default_value_t = 1000)]
    shuffles: usize,
    /// Matches written per filter.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Seed of the shuffles.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Strand rule (default: the model's own).
    #[arg(long, value_enum)]
    strand: Option<Strand>,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || motifs_cmd(&args))
}

fn motifs_cmd(args: &Args) -> Result<()> {
    let input = args
        .input
        .as_ref()
        .or(args.input_flag.as_ref())
        .ok_or_else(|| seqcnn::Error::Config("an input file is required".into()))?;
    let model = Model::load(&args.model)?;
    let pres = Presentation::of(&model, args.strand)?;
    // Everything that can fail on bad input fails before the work starts.
    let db = match &args.compare {
        Some(p) => Some(meme::read_meme(p)?),
        None => None,
    };
    super::check_outputs(
        &[
            ("--out", Some(&args.out)),
            ("--weights", args.weights.as_ref()),
            ("--stats", args.stats.as_ref()),
            ("--matches", args.matches.as_ref()),
        ],
        &[Some(input), Some(&args.model), args.compare.as_ref()],
    )?;
    // The logo directory is made (empty, beside its target) before any output is written: a
    // --logos that cannot be a directory fails first.
    let logos = args.logos.as_deref().map(AtomicDir::create).transpose()?;
    let weights = match &args.weights {
        Some(_) => Some(motifs::weight_motifs(&model, args.weights_mode)?),
        None => None,
    };
    let records: Vec<_> = sequence_records(input, Some(&[]))?.collect::<seqcnn::Result<_>>()?;
    let seqs: Vec<&[u8]> = records.iter().map(|r| r.seq.as_slice()).collect();
    let opts = MotifOptions {
        threshold: args.threshold,
        pseudocount: args.pseudocount,
        trim_bits: args.trim,
        ..Default::default()
    };
    let conv = model.first_conv()?;
    if let Some(r) = records
        .iter()
        .find(|r| !conv.fits(r.seq.len() + 2 * pres.pad))
    {
        let input = if input.as_os_str() == "-" {
            PathBuf::from("<stdin>")
        } else {
            input.clone()
        };
        let msg = format!(
            "record '{}': {} bp is shorter than the first layer's span of {} bp",
            r.name,
            r.seq.len(),
            conv.span()
        );
        return Err(seqcnn::Error::parse(input, r.line, msg).into());
    }
    let n = seqs.len() as u64;
    let mut meter = Meter::new("motifs", "sequences", Some(n));
    let mut shown = 0;
    let found = motifs::filter_motifs_observed(&model, &pres, &seqs, &opts, &mut |share| {
        let now = (share * n as f64) as u64;
        meter.add(now.saturating_sub(shown));
        shown = shown.max(now);
    })?;
    let bg = opts.background;
    let mut file = MemeFile::new(found.iter().map(|f| f.motif.clone()).collect());
    file.background = bg;
    meme::write_meme_file(&args.out, &file)?;
    if let (Some(path), Some(w)) = (&args.weights, weights) {
        let mut wf = MemeFile::new(w);
        wf.background = bg;
        meme::write_meme_file(path, &wf)?;
    }
    if let Some(path) = &args.stats {
        let mut out = AtomicOutput::create(path)?;
        motifs::write_stats(&mut out, &found, &bg).map_err(|e| out.error(e))?;
        out.commit()?;
    }
    let queries: Vec<_> = found.iter().map(|f| f.motif.clone()).collect();
    let matches = match (&db, &args.matches) {
        (Some(db), Some(path)) => {
            let copts = CompareOptions {
                metric: args.metric,
                null: args.null,
                min_overlap: args.min_overlap,
                shuffles: args.shuffles,
                seed: args.seed,
                top: args.top,
            };
            // Filters that never fire have no motif to match.
            let live: Vec<usize> = (0..found.len())
                .filter(|&i| found[i].stats.sites > 0)
                .collect();
            let live_q: Vec<_> = live.iter().map(|&i| queries[i].clone()).collect();
            let mut m = vec![Vec::new(); queries.len()];
            for (i, ms) in live
                .iter()
                .zip(compare::compare(&live_q, &db.motifs, &copts)?)
            {
                m[*i] = ms;
            }
            let mut out = AtomicOutput::create(path)?;
            let dead: Vec<bool> = found.iter().map(|f| f.stats.sites == 0).collect();
            compare::write_matches(&mut out, &queries, &db.motifs, &m, &dead)
                .map_err(|e| out.error(e))?;
            out.commit()?;
            Some(m)
        }
        _ => None,
    };
    if let Some(dir) = logos {
        // Dead filters (no site above the threshold) have no motif to draw.
        let dead: Vec<&str> = found
            .iter()
            .filter(|f| f.stats.sites == 0)
            .map(|f| f.motif.id.as_str())
            .collect();
        if !dead.is_empty() {
            eprintln!(
                "seqcnn motifs: no logo for {} dead filter{} (no site above --threshold): {}",
                dead.len(),
                if dead.len() == 1 { "" } else { "s" },
                dead.join(", ")
            );
        }
        for (i, q) in queries.iter().enumerate() {
            if found[i].stats.sites == 0 {
                continue;
            }
            let best = match (&db, &matches) {
                (Some(db), Some(m)) => m[i].first().map(|m| (&db.motifs[m.target], m)),
                _ => None,
            };
            let svg = logo::filter_logo_svg(q, best, &bg);
            super::write_svg(&dir.path().join(format!("{}.svg", q.id)), &svg)?;
        }
        dir.commit()?;
    }
    let outputs: Vec<&std::path::Path> = std::iter::once(args.out.as_path())
        .chain(args.weights.as_deref())
        .chain(args.stats.as_deref())
        .chain(args.matches.as_deref().filter(|_| db.is_some()))
        .chain(args.logos.as_deref())
        .collect();
    meter.finish(None, &outputs, "");
    Ok(())
}
