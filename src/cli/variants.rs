//! `seqcnn variants`: the effect of VCF variants on a model's scores, from windows of an indexed
//! genome centred on each variant; TSV, skipped list, annotated VCF and an HTML report.

use super::progress::Meter;
use anyhow::Result;
use seqcnn::io::genome::Genome;
use seqcnn::io::output::AtomicOutput;
use seqcnn::io::vcf::{VcfHeader, VcfReader, VcfRecord};
use seqcnn::io::vcf_region::{RegionReader, VcfRegion};
use seqcnn::model::Model;
use seqcnn::model::Strand;
use seqcnn::mutate::PlotScale;
use seqcnn::score::{Scorer, window_length};
use seqcnn::shard::{
    Shard, count_items, scored_items, stream_block, vcf_header_with_marker, write_tsv_marker,
};
use seqcnn::variants::report::{Report, ReportScale, figures, utc_datetime};
use seqcnn::variants::{InfoKeys, SKIPPED_HEADER, Summary, VariantScorer, tsv_header};
use std::io::Write;
use std::path::PathBuf;

/// Effects of VCF variants: REF and ALT windows from a genome scored (TSV, VCF, HTML).
///
/// Each record's window is cut from the genome around the variant and scored under the model's
/// strand rule (and DeepBind's window rules for imported DeepBind models), as `predict` scores a
/// sequence. Output: TSV `chrom pos id ref alt ref_match`, then per task `TASK:ref TASK:alt
/// TASK:diff TASK:logit_diff` (diff = ALT score minus REF score on predict's scale; logit_diff
/// the same on raw scores). Scores on predict's scale are made in double precision from the raw
/// scores, so a probability near 1 keeps seven significant digits of its distance from 1 (never
/// a bare 1) and diff keeps its digits where both alleles saturate. One row per ALT: multi-allelic records are split. `ref_match` says
/// whether REF agrees with the genome (the reference window is always the genome's).
///
/// Windows: N bp (the model's input length, or --window N for models that take any length,
/// such as imported DeepBind models), with genome position POS + len(REF)/2 (1-based, integer
/// division, as Selene centres variants; for a SNV the variant itself) at 0-based offset
/// (N-1)/2: the centre when N is odd, 499 of 1000 when N is even. The ALT window keeps the same left flank up to REF's first base,
/// then ALT, then the genome after REF up to N bases: an insertion trims the right flank, a
/// deletion extends it further into the genome; an ALT longer than the rest of the window is cut
/// at the window's end. Both windows are exactly N bp.
///
/// Not scored, and listed with a reason in --skipped (and counted on stderr): unknown contigs,
/// windows that would reach past a contig end, REF longer than the window, symbolic (<DEL>),
/// `*` and breakend ALTs, records without ALT. Contig names match with or without `chr`.
/// Records are read and scored one batch at a time (bounded memory); output files are written
/// only when the whole run succeeds (stdout streams).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn variants --model deepsea.safetensors --vcf calls.vcf.gz --genome hg19.fa.gz --out effects.tsv\n  \
    seqcnn variants --model models/D00328.018.safetensors --window 101 --vcf chr20.vcf.gz \\\n      \
    --genome 20.fa.gz --out effects.tsv --skipped skipped.tsv --out-vcf annotated.vcf.gz --report report.html\n  \
    zcat calls.vcf.gz | seqcnn variants --model m.safetensors --vcf - --genome hg19.fa.gz --strict > effects.tsv\n  \
    seqcnn variants --model m.safetensors --vcf calls.vcf.gz --genome hg19.fa.gz --shard 2/8 --out effects.2.tsv")]
pub struct Args {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// VCF (plain, gzip or bgzip); `-` reads stdin.
    #[arg(long)]
    vcf: PathBuf,
    /// Indexed genome (FASTA + .fai, or BGZF + .fai + .gzi; see `seqcnn index`).
    #[arg(long)]
    genome: PathBuf,
    /// Window length for models without a fixed input length (DeepBind models); the variant
    /// sits at 0-based offset (N-1)/2 (50 of 101, 499 of 1000), as Selene places it.
    #[arg(long)]
    window: Option<usize>,
    /// Output TSV (`-` = stdout; `.gz` = gzip).
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// Write the alleles not scored to this TSV: `chrom pos id ref alt reason`.
    #[arg(long)]
    skipped: Option<PathBuf>,
    /// Write the VCF back with per-task INFO fields SEQCNN_<TASK>_REF, _ALT, _DIFF, _LOGIT_DIFF
    /// (`.gz` = gzip).
    #[arg(long)]
    out_vcf: Option<PathBuf>,
    /// Write an HTML report: the run's model, inputs, version, command and date; the variants
    /// of largest effect, sortable and filterable; and for the top ones the mutation maps of
    /// their REF and ALT windows side by side, REF's and ALT's bases outlined. One file, no
    /// network needed to view it.
    #[arg(long)]
    report: Option<PathBuf>,
    /// The report's colour scale: one for every map on the page (`shared`, so effects compare
    /// across variants) or one per variant (`each`).
    #[arg(long, value_enum, default_value_t = ReportScale::Shared)]
    report_scale: ReportScale,
    /// Mutation maps in the report: this many variants of largest effect.
    #[arg(long, default_value_t = 20, value_parser = super::count)]
    report_top: usize,
    /// Rows of the report's table: this many variants of largest effect.
    #[arg(long, default_value_t = 500, value_parser = super::count)]
    report_rows: usize,
    /// Fail on an unknown contig or a REF that disagrees with the genome (naming file, line and
    /// bases) instead of skipping or flagging the record.
    #[arg(long)]
    strict: bool,
    /// Strand rule (default: the model's own).
    #[arg(long, value_enum)]
    strand: Option<Strand>,
    /// DeepBind models: the mean over a sequence's windows instead of the maximum.
    #[arg(long)]
    average: bool,
    /// Records scored together (old name: --batch).
    #[arg(long = "batch-size", alias = "batch", default_value_t = 128, value_parser = super::count)]
    batch: usize,
    /// Only block I of N contiguous, equal-sized blocks of the VCF records, in input order
    /// (1 <= I <= N; a first pass counts the records, so not from stdin); `seqcnn merge` joins
    /// the shards' TSV, VCF and skipped lists into the unsharded outputs.
    #[arg(long, value_name = "I/N", conflicts_with = "region")]
    shard: Option<Shard>,
    /// Only the records in this region, `CHROM` or `CHROM:START-END` (1-based inclusive, as
    /// bcftools and tabix take them; contig matched with or without `chr`); repeatable, the
    /// regions read in the order given. The VCF must be bgzipped with a tabix (.tbi) or CSI
    /// (.csi) index beside it: only the index's chunks for the regions are read, no pass over the
    /// rest. A record is in a region when its REF overlaps it (`bcftools view -r`).
    #[arg(long, value_name = "REGION")]
    region: Vec<String>,
    /// With --region, one job of a split by region: label the outputs part I of N (the marker
    /// line `--shard` writes), so `seqcnn merge` joins the parts, given in genome order, into one
    /// TSV, VCF and skipped list; a record then belongs to the region holding its POS (not to
    /// every region its REF overlaps), so adjacent regions partition the records.
    #[arg(
        long,
        value_name = "I/N",
        requires = "region",
        conflicts_with = "shard"
    )]
    part: Option<Shard>,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || variants(&args))
}

fn variants(args: &Args) -> Result<()> {
    super::check_outputs(
        &[
            ("--out", Some(&args.out)),
            ("--skipped", args.skipped.as_ref()),
            ("--out-vcf", args.out_vcf.as_ref()),
            ("--report", args.report.as_ref()),
        ],
        &[Some(&args.vcf), Some(&args.genome), Some(&args.model)],
    )?;
    let model = Model::load(&args.model)?;
    let window = window_length(&model, &args.model.display().to_string(), args.window)?;
    let mut scorer = Scorer::new(&model);
    if let Some(s) = args.strand {
        scorer = scorer.with_strand(s);
    }
    if args.average {
        scorer = scorer.with_window_average(true)?;
    }
    let genome = Genome::open(&args.genome)?;
    // With --shard: whole batches of the unsharded run are scored, so every record is scored as
    // there, and only the shard's own records are written (and counted).
    let block = stream_block(&args.vcf, args.shard, args.batch.max(1), || {
        count_items(VcfReader::from_path(&args.vcf)?)
    })?;
    let (header, vcf_name, reader) = open_vcf(args, &genome)?;
    let tasks = &model.meta.tasks;

    let mut out = AtomicOutput::create(&args.out)?;
    if args.out_vcf.is_some() || args.skipped.is_some() || args.report.is_some() {
        // `| head` ends the table, not the other outputs.
        out.discard_if_closed();
    }
    // The marker line of a shard, or of a part of a split by region.
    let label = args.shard.or(args.part);
    write_tsv_marker(&mut out, label)?;
    writeln!(out, "{}", tsv_header(tasks)).map_err(|e| out.error(e))?;
    let mut skipped = match &args.skipped {
        Some(p) => {
            let mut o = AtomicOutput::create(p)?;
            write_tsv_marker(&mut o, label)?;
            writeln!(o, "{SKIPPED_HEADER}").map_err(|e| o.error(e))?;
            Some(o)
        }
        None => None,
    };
    let keys = InfoKeys::new(tasks);
    let model_name = args.model.file_name().map_or_else(
        || args.model.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let strand = scorer.strand().to_string();
    let mut out_vcf = match &args.out_vcf {
        Some(p) => {
            let mut o = AtomicOutput::create(p)?;
            let provenance = format!("model={model_name} window={window} strand={strand}");
            let header = keys.header(&header, &provenance);
            o.write_all(vcf_header_with_marker(header, label).as_bytes())
                .map_err(|e| o.error(e))?;
            Some(o)
        }
        None => None,
    };
    let mut report = args.report.as_ref().map(|_| {
        let raw = (!scorer.raw_is_output()).then(|| PlotScale::Raw.label(&model));
        let rows = args.report_rows.max(args.report_top);
        Report::new(tasks, scorer.output_kind(), raw, rows)
    });

    let vs = VariantScorer::new(&scorer, &genome, window, args.strict, &vcf_name)?;
    let mut summary = Summary::default();
    let mut index = block.scored.start;
    let mut meter = Meter::new("variants", "records", None);
    vs.run(scored_items(reader, &block), args.batch, |e| {
        index += 1;
        if !block.written.contains(&(index - 1)) {
            return Ok(());
        }
        summary.add(&e);
        meter.add(1);
        out.write_all(e.tsv_rows().as_bytes())
            .map_err(|err| out.error(err))?;
        if let Some(o) = &mut skipped {
            o.write_all(e.skipped_rows().as_bytes())
                .map_err(|err| o.error(err))?;
        }
        if let Some(o) = &mut out_vcf {
            o.write_all(keys.annotate(&e).as_bytes())
                .map_err(|err| o.error(err))?;
        }
        if let Some(r) = &mut report {
            r.add(&e);
        }
        Ok(())
    })?;

    let report_html = match &report {
        Some(r) => {
            let header = report_header(args, &model, window, &strand, &vcf_name);
            let figures = figures(
                &model,
                &scorer,
                tasks,
                &r.entries(),
                args.report_top,
                args.report_scale,
                256,
            )?;
            Some(r.html("seqcnn variants", &header, &format!("{summary}."), &figures))
        }
        None => None,
    };
    // Everything succeeded: make the outputs visible.
    if let (Some(path), Some(html)) = (&args.report, report_html) {
        let mut o = AtomicOutput::create(path)?;
        o.write_all(html.as_bytes()).map_err(|e| o.error(e))?;
        o.commit()?;
    }
    if let Some(o) = out_vcf {
        o.commit()?;
    }
    if let Some(o) = skipped {
        o.commit()?;
    }
    out.commit()?;
    let listed = match (&args.skipped, summary.skipped_total()) {
        (_, 0) => String::new(),
        (Some(p), _) => format!("; skipped alleles listed in {}", p.display()),
        (None, _) => "; list the skipped alleles with --skipped FILE".to_string(),
    };
    let outputs: Vec<&std::path::Path> = std::iter::once(args.out.as_path())
        .chain(args.out_vcf.as_deref())
        .chain(args.skipped.as_deref())
        .chain(args.report.as_deref())
        .collect();
    meter.finish(Some(summary.to_string()), &outputs, &listed);
    Ok(())
}

/// The report's header: what was run on what, by which seqcnn, when.
fn report_header(
    args: &Args,
    model: &Model,
    window: usize,
    strand: &str,
    vcf: &std::path::Path,
) -> Vec<(String, String)> {
    let tasks = &model.meta.tasks;
    let mut h = vec![("Model".to_string(), args.model.display().to_string())];
    let p = &model.meta.provenance;
    let field = |k: &str| p.get(k).and_then(|v| v.as_str()).filter(|v| !v.is_empty());
    if let Some(id) = field("deepbind_id") {
        let mut d = id.to_string();
        for k in ["protein", "type", "experiment", "species"] {
            if let Some(v) = field(k) {
                d.push_str(" · ");
                d.push_str(v);
            }
        }
        h.push(("DeepBind model".into(), d));
    }
    let named = if tasks.len() <= 8 {
        tasks.join(", ")
    } else {
        format!("{}, ... {}", tasks[..5].join(", "), tasks[tasks.len() - 1])
    };
    h.push((
        format!("Task{}", if tasks.len() == 1 { "" } else { "s" }),
        if tasks.len() == 1 {
            named
        } else {
            format!("{} ({named})", tasks.len())
        },
    ));
    h.push((
        "Windows".into(),
        format!("{window} bp, strand rule {strand}"),
    ));
    h.push(("Genome".into(), args.genome.display().to_string()));
    h.push(("VCF".into(), vcf.display().to_string()));
    h.push(("seqcnn".into(), env!("CARGO_PKG_VERSION").to_string()));
    h.push(("Command".into(), super::command_line()));
    // SOURCE_DATE_EPOCH, where set, fixes the date (reproducible pages).
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    h.push(("Date".into(), utc_datetime(secs)));
    h
}

/// The VCF's header, its name for messages and its records: all of them, or with --region only
/// those of the regions, read through the index.
#[allow(clippy::type_complexity)]
fn open_vcf(
    args: &Args,
    genome: &Genome,
) -> Result<(
    VcfHeader,
    PathBuf,
    Box<dyn Iterator<Item = seqcnn::Result<VcfRecord>>>,
)> {
    if args.region.is_empty() {
        let r = VcfReader::from_path(&args.vcf)?;
        return Ok((r.header().clone(), r.path().to_path_buf(), Box::new(r)));
    }
    let regions = args
        .region
        .iter()
        .map(|t| VcfRegion::parse(t))
        .collect::<seqcnn::Result<Vec<_>>>()?;
    // A contig of the genome without records is absent from the index: its regions are empty.
    let mut r = RegionReader::open(&args.vcf, regions, &|c| genome.contig_len(c).is_ok())?;
    if args.part.is_some() {
        // Parts of a split partition the records: each belongs to the region holding its POS.
        r = r.by_position();
    }
    Ok((r.header().clone(), r.path().to_path_buf(), Box::new(r)))
}
