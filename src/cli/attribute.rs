//! `seqcnn attribute`: per-position, per-base attributions by a chosen method, as TSV or NumPy
//! `.npz` (what TF-MoDISco and tangermeme read), with convergence deltas for the methods that
//! explain a difference from references.

use super::progress::Meter;
use anyhow::Result;
use ndarray::{Array1, Array3, Axis};
use seqcnn::attribute::{self, Attribution, Baseline, DELTAS_HEADER, Locus, Method, Options};
use seqcnn::encode::{self, NMode};
use seqcnn::io::bed::read_bed_checked;
use seqcnn::io::genome::Genome;
use seqcnn::io::npz::{write_npz, write_npz_with_text};
use seqcnn::io::output::AtomicOutput;
use seqcnn::io::sequence::sequence_records;
use seqcnn::model::{Model, Strand};
use seqcnn::score::{Presentation, resolve_window};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Attributions per position and base: gradients, integrated gradients, DeepLIFT, DeepSHAP, ISM
/// (TSV, .npz).
///
/// How much each position and base of every input sequence contributes to the model's raw score (the logit for classification models, DeepBind's score for imported
/// DeepBind models; captum and tangermeme attribute the logit too), by --method:
///
/// `gradient`, `input-x-gradient`: the gradient of the score with respect to the one-hot input
/// (on one-hot input both give the same numbers; `saliency` gives the same per position).
///
/// `integrated-gradients`: (x - ref) times the gradient averaged over --steps points of the
/// Gauss-Legendre rule on the straight path from the --baseline (captum's default rule).
///
/// `deeplift`: DeepLIFT's rescale rule (captum's `DeepLift`): (x - ref) times multipliers taken
/// back through the network with (f(x) - f(ref)) / (x - ref) at every ReLU, sigmoid and tanh
/// (the gradient where the difference is below 1e-10), each max pooling's difference routed to
/// the input's and the reference's maximum (captum's rule; global max pooling too, and the max
/// strand and window rules), and the ordinary backward pass through the linear layers
/// (convolutions, linear, batch norm and dropout in evaluation mode, average pooling, residual
/// additions), against one --baseline.
///
/// `deepshap`: DeepLIFT averaged over --references
/// dinucleotide-shuffled copies of each input (captum's `DeepLiftShap`, tangermeme's
/// `deep_lift_shap`).
///
/// --references-file FILE: fixed references for integrated-gradients, deeplift and deepshap
/// instead of --baseline or shuffles (sequences of the inputs' length, N = 0.25 in each channel),
/// every input explained against each and the result averaged, as captum's `baselines`.
///
/// `ism`: in-silico mutagenesis, each base's effect on the score minus the mean of the four at
/// its position (the base present has effect 0 before centring).
///
/// Completeness is checked for DeepLIFT and DeepSHAP: their rules conserve the difference
/// exactly, so a sequence whose |delta| exceeds --tolerance times max(1, |f(x)|, |mean f(ref)|)
/// fails the run (exit 1), naming the sequences and what each op kind failed to conserve, unless
/// --allow-delta. Integrated gradients' delta is reported, never checked (it falls with --steps).
///
/// Output: per position and task, the actual contribution (`attribution`) and the hypothetical
/// contribution of each of the four bases (`hyp_A hyp_C hyp_G hyp_T`: what the position would
/// contribute holding that base; the actual one is that of the base present, 0.25 x their sum at
/// an N). For integrated gradients and DeepLIFT the hypothetical contribution of base b is
/// DeepLIFT's projection `m[b] - sum_c ref[c] m[c]` of the multipliers m (for integrated
/// gradients the averaged gradient), averaged over the references, so the actual contributions sum to f(x) - mean f(ref) up to the convergence
/// delta, `sum(attributions) - (f(x) - mean f(ref))`, which --deltas writes per sequence and task
/// (and the summary line on stderr gives the largest of).
///
/// TSV (`--out F.tsv`, `-` for stdout, `.gz` compressed): `name pos base task attribution hyp_A
/// hyp_C hyp_G hyp_T`, `pos` 1-based. NumPy (`--out F.npz`; one task, sequences of one length,
/// held in memory until written): float32 arrays `attributions` (actual contributions),
/// `hypothetical` and `sequences` (one-hot, N = 0.25), each [N, 4, L] in input order, and
/// `outputs` [N] (f(x)), with a reference also `references` [N] and `deltas` [N], and the
/// unicode arrays `names` [N] and, for BED input, `loci` [N] (each window as `chrom:start-end`,
/// 1-based, inclusive), which `seqcnn discover` reads for seqlet positions. --modisco
/// PREFIX also writes `PREFIX.seqs.npz` and `PREFIX.hyp.npz` holding `arr_0`, the one-hot
/// sequences and hypothetical contributions, as `modisco motifs -s PREFIX.seqs.npz -a
/// PREFIX.hyp.npz` reads them.
///
/// Strands and windows follow `predict`: under the mean strand rule the attributions of both
/// strands are averaged (the reverse strand's mapped back onto the forward one), under max the
/// winning strand's are taken (at each integrated-gradients step, the strand winning there; for
/// DeepLIFT, the max rule over the two strands' outputs); a DeepBind model's windows likewise
/// (the best window, or the mean under its `average` rule).
///
/// With --genome, INPUT is BED3, BED6 or narrowPeak, each interval resized as `predict --genome`
/// does (the model's input length, or --window N bp, around the summit or centre; the interval
/// as it is for a model of any length without --window), and rows carry `chrom gpos` after
/// `pos`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    seqcnn attribute --model ctcf.safetensors --method input-x-gradient peaks.fa --out attr.tsv\n  \
    seqcnn attribute --model ctcf.safetensors --method integrated-gradients --baseline shuffled \\\n    \
    --references 10 --steps 50 peaks.fa --out ig.npz --deltas ig.deltas.tsv\n  \
    seqcnn attribute --model deepsea.safetensors --method deepshap --task CTCF windows.fa \\\n    \
    --out shap.npz --modisco ctcf   # then: modisco motifs -s ctcf.seqs.npz -a ctcf.hyp.npz -n 2000\n  \
    seqcnn attribute --model ctcf.safetensors --method deeplift --baseline uniform peaks.fa \\\n    \
    --deltas d.tsv --tolerance 1e-4 --out dl.tsv\n  \
    seqcnn attribute --model ctcf.safetensors --method ism peaks.fa --out ism.tsv.gz\n  \
    seqcnn attribute --model models/D00328.003.safetensors --method gradient \\\n    \
    --genome hg19.fa.gz ctcf.bed --window 101 --out attr.tsv.gz")]
pub struct Args {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// FASTA or sequence table (gzip or not); `-` reads stdin. With --genome: BED or narrowPeak.
    input: PathBuf,
    /// The attribution method.
    #[arg(long, value_enum)]
    method: Method,
    /// Output: TSV (`-` = stdout; `.gz` = gzip) or, named `*.npz`, NumPy arrays.
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// Tasks to explain, by name (repeatable; default: all; `.npz` output takes one).
    #[arg(long)]
    task: Vec<String>,
    /// Strand rule (default: the model's own).
    #[arg(long, value_enum)]
    strand: Option<Strand>,
    /// Integrated gradients: points of the Gauss-Legendre rule on the path [default: 50].
    #[arg(long, value_parser = super::count)]
    steps: Option<usize>,
    /// Integrated gradients and DeepLIFT: the reference input: zeros, uniform (0.25 in each
    /// channel, an all-N sequence) or shuffled (dinucleotide-shuffled copies of the input,
    /// averaged) [default: zeros].
    #[arg(long, value_enum)]
    baseline: Option<Baseline>,
    /// Shuffled references per input: DeepSHAP's [default: 20], or with --baseline shuffled
    /// [default: 1].
    #[arg(long, value_parser = super::count)]
    references: Option<usize>,
    /// DeepLIFT and DeepSHAP: the largest |convergence delta| allowed, relative to
    /// max(1, |f(x)|, |mean f(ref)|).
    #[arg(long, default_value_t = 1e-3)]
    tolerance: f32,
    /// DeepLIFT and DeepSHAP: write the attributions even where a delta exceeds --tolerance.
    #[arg(long)]
    allow_delta: bool,
    /// Integrated gradients, DeepLIFT and DeepSHAP: fixed references instead of --baseline or
    /// shuffles, every input explained against each of them and the result averaged (FASTA or
    /// sequence table, gzip or not; each of the inputs' length; N = 0.25 in each channel), as
    /// captum's `baselines`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["baseline", "references"])]
    references_file: Option<PathBuf>,
    /// Seed of the shuffled references.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// TSV of convergence deltas, `name task output reference delta`: f(x), mean f(ref) and
    /// sum(attributions) - (f(x) - mean f(ref)) per sequence and task (integrated gradients,
    /// deeplift, deepshap).
    #[arg(long, value_name = "FILE")]
    deltas: Option<PathBuf>,
    /// Also write PREFIX.seqs.npz and PREFIX.hyp.npz (`arr_0` each) for `modisco motifs`.
    #[arg(long, value_name = "PREFIX")]
    modisco: Option<PathBuf>,
    /// Indexed genome FASTA (plain, gzip or BGZF with .fai/.gzi; see `seqcnn index`): INPUT is
    /// then a BED or narrowPeak file of intervals.
    #[arg(long)]
    genome: Option<PathBuf>,
    /// With --genome, for a model without a fixed input length: N bp around each interval's
    /// summit or centre instead of the interval as it is.
    #[arg(long, value_name = "N", requires = "genome")]
    window: Option<u64>,
    /// Sequences read and explained at a time.
    #[arg(long = "batch-size", default_value_t = 64, value_parser = super::count)]
    batch: usize,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    super::with_threads(args.threads, || attribute_cmd(&args))
}

/// One sequence to explain, with where it came from.
struct Item {
    name: String,
    seq: Vec<u8>,
    line: u64,
    locus: Option<(String, i64, u64)>,
}

/// The options of the chosen method, with flags that do not apply to it refused.
fn options(args: &Args) -> seqcnn::Result<Options> {
    let refuse = |flag: &str, given: bool, applies: bool, to: &str| {
        if given && !applies {
            Err(seqcnn::Error::Config(format!(
                "{flag} applies to {to}, not to --method {}",
                args.method.name()
            )))
        } else {
            Ok(())
        }
    };
    let ig = args.method == Method::IntegratedGradients;
    let shap = args.method == Method::DeepShap;
    refuse("--steps", args.steps.is_some(), ig, "integrated-gradients")?;
    refuse(
        "--baseline",
        args.baseline.is_some(),
        ig || args.method == Method::DeepLift,
        "integrated-gradients and deeplift (deepshap's are shuffled)",
    )?;
    refuse(
        "--references-file",
        args.references_file.is_some(),
        args.method.has_reference(),
        "the methods with a reference (integrated-gradients, deeplift, deepshap)",
    )?;
    refuse(
        "--deltas",
        args.deltas.is_some(),
        args.method.has_reference(),
        "the methods with a reference (integrated-gradients, deeplift, deepshap)",
    )?;
    let exact = args.method.is_exact();
    refuse(
        "--allow-delta",
        args.allow_delta,
        exact,
        "deeplift and deepshap",
    )?;
    if !(args.tolerance >= 0.0 && args.tolerance.is_finite()) {
        return Err(seqcnn::Error::Config(format!(
            "--tolerance {} must be a number >= 0",
            args.tolerance
        )));
    }
    let baseline = args.baseline.unwrap_or(Baseline::Zeros);
    if args.references.is_some() && baseline != Baseline::Shuffled && !shap {
        return Err(seqcnn::Error::Config(
            "--references applies to --baseline shuffled and --method deepshap".into(),
        ));
    }
    Ok(Options {
        method: args.method,
        steps: args.steps.unwrap_or(50),
        baseline,
        references: args.references.unwrap_or(if shap { 20 } else { 1 }),
        ..Options::default()
    })
}

/// The sequences of INPUT: records of a FASTA file or table, or BED intervals read from the
/// genome (resized as `predict --genome` does), lazily.
fn items<'a>(
    args: &Args,
    model: &Model,
    genome: Option<&'a Genome>,
) -> Result<Box<dyn Iterator<Item = seqcnn::Result<Item>> + 'a>> {
    let Some(genome) = genome else {
        let records = sequence_records(&args.input, Some(&[]))?;
        return Ok(Box::new(records.map(|r| {
            r.map(|r| Item {
                name: r.name,
                seq: r.seq,
                line: r.line,
                locus: None,
            })
        })));
    };
    let what = args.model.display().to_string();
    let window = resolve_window(model, &what, args.window.map(|w| w as usize))?.map(|w| w as u64);
    let intervals = read_bed_checked(&args.input, genome)?;
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
            locus: Some((
                iv.written_contig().to_string(),
                start,
                genome.contig_len(&iv.contig).map_err(at_line)?,
            )),
        })
    })))
}

/// What `.npz` output gathers, sequence by sequence.
#[derive(Default)]
struct Arrays {
    len: Option<usize>,
    attributions: Vec<f32>,
    hypothetical: Vec<f32>,
    sequences: Vec<f32>,
    outputs: Vec<f32>,
    references: Vec<f32>,
    deltas: Vec<f32>,
    names: Vec<String>,
    /// `contig:start-end` (1-based, inclusive) of each window read from a genome.
    loci: Vec<String>,
}

impl Arrays {
    fn push(&mut self, item: &Item, a: &Attribution) -> seqcnn::Result<()> {
        let len = item.seq.len();
        match self.len {
            Some(l) if l != len => {
                return Err(seqcnn::Error::Config(format!(
                    "record '{}' is {len} bp and the ones before it {l} bp: .npz output holds \
                     sequences of one length (write TSV instead)",
                    item.name
                )));
            }
            _ => self.len = Some(len),
        }
        let x = encode::one_hot(&item.seq, NMode::Quarter)
            .map_err(|b| seqcnn::Error::Config(b.to_string()))?;
        self.sequences.extend(x.iter());
        self.attributions
            .extend(a.contributions.index_axis(Axis(0), 0).iter());
        self.hypothetical
            .extend(a.hypothetical.index_axis(Axis(0), 0).iter());
        self.outputs.push(a.output[0]);
        self.names.push(item.name.clone());
        if let Some((contig, start, _)) = &item.locus {
            self.loci
                .push(format!("{contig}:{}-{}", start + 1, start + len as i64));
        }
        if let (Some(r), Some(d)) = (&a.reference, &a.delta) {
            self.references.push(r[0]);
            self.deltas.push(d[0]);
        }
        Ok(())
    }

    fn array(&self, v: &[f32]) -> seqcnn::Result<Array3<f32>> {
        let l = self.len.unwrap_or(0);
        let n = self.outputs.len();
        Array3::from_shape_vec((n, 4, l), v.to_vec())
            .map_err(|e| seqcnn::Error::Config(format!("internal: .npz arrays: {e}")))
    }

    fn write(&self, out: &Path, modisco: Option<&Path>) -> Result<()> {
        let (att, hyp, seqs) = (
            self.array(&self.attributions)?,
            self.array(&self.hypothetical)?,
            self.array(&self.sequences)?,
        );
        let outputs = Array1::from(self.outputs.clone());
        let references = Array1::from(self.references.clone());
        let deltas = Array1::from(self.deltas.clone());
        let mut arrays = vec![
            ("attributions", att.view().into_dyn()),
            ("hypothetical", hyp.view().into_dyn()),
            ("sequences", seqs.view().into_dyn()),
            ("outputs", outputs.view().into_dyn()),
        ];
        if !self.deltas.is_empty() {
            arrays.push(("references", references.view().into_dyn()));
            arrays.push(("deltas", deltas.view().into_dyn()));
        }
        let mut texts: Vec<(&str, &[String])> = vec![("names", &self.names)];
        if self.loci.len() == self.names.len() && !self.loci.is_empty() {
            texts.push(("loci", &self.loci));
        }
        write_npz_with_text(out, &arrays, &texts)?;
        if let Some(prefix) = modisco {
            write_npz(
                &suffixed(prefix, ".seqs.npz"),
                &[("arr_0", seqs.view().into_dyn())],
            )?;
            write_npz(
                &suffixed(prefix, ".hyp.npz"),
                &[("arr_0", hyp.view().into_dyn())],
            )?;
        }
        Ok(())
    }
}

/// One sequence and task over the tolerance: its delta, the bound, and the op kinds with the
/// largest residuals.
fn over_message(name: &str, task: &str, a: &Attribution, ti: usize, tolerance: f32) -> String {
    let d = a.delta.as_ref().map_or(0.0, |d| d[ti]);
    let mut ops: Vec<(&str, f64)> = a
        .residuals
        .as_ref()
        .and_then(|r| r.get(ti))
        .cloned()
        .unwrap_or_default();
    ops.sort_by(|x, y| y.1.abs().total_cmp(&x.1.abs()));
    let ops: Vec<String> = ops
        .iter()
        .take(3)
        .map(|(op, v)| format!("{op} {v:.2e}"))
        .collect();
    format!(
        "'{name}' ({task}): delta {d:.3e}, allowed {:.3e} (residual by op: {})",
        a.allowed_delta(ti, tolerance),
        ops.join(", ")
    )
}

/// The sequences of --references-file, each of the length of the first.
fn reference_file(path: &Path) -> Result<Vec<Vec<u8>>> {
    let mut refs: Vec<Vec<u8>> = Vec::new();
    for r in sequence_records(path, Some(&[]))? {
        let r = r?;
        if let Some(first) = refs.first()
            && first.len() != r.seq.len()
        {
            return Err(seqcnn::Error::parse(
                path,
                r.line,
                format!(
                    "reference '{}' is {} bp and the first {} bp: references have one length, \
                     the inputs'",
                    r.name,
                    r.seq.len(),
                    first.len()
                ),
            )
            .into());
        }
        refs.push(r.seq);
    }
    Ok(refs)
}

/// `prefix` with `suffix` appended to its file name.
fn suffixed(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn attribute_cmd(args: &Args) -> Result<()> {
    let opts = options(args)?;
    let npz = args
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
    if args.modisco.is_some() && !npz {
        return Err(
            seqcnn::Error::Config("--modisco goes with .npz output (--out F.npz)".into()).into(),
        );
    }
    let modisco = args
        .modisco
        .as_ref()
        .map(|p| [suffixed(p, ".seqs.npz"), suffixed(p, ".hyp.npz")]);
    let mut outputs: Vec<(&str, Option<&PathBuf>)> = vec![
        ("--out", Some(&args.out)),
        ("--deltas", args.deltas.as_ref()),
    ];
    if let Some([s, h]) = &modisco {
        outputs.push(("--modisco", Some(s)));
        outputs.push(("--modisco", Some(h)));
    }
    // Two outputs on one path: the second would replace the first.
    for (k, (flag, path)) in outputs.iter().enumerate() {
        if let Some(p) = path
            && p.as_os_str() != "-"
            && let Some((other, _)) = outputs[..k].iter().find(|(_, q)| *q == Some(*p))
        {
            return Err(seqcnn::Error::Config(format!(
                "{flag} and {other} name the same file {}",
                p.display()
            ))
            .into());
        }
    }
    super::check_outputs(
        &outputs,
        &[
            Some(&args.input),
            Some(&args.model),
            args.genome.as_ref(),
            args.references_file.as_ref(),
        ],
    )?;
    let model = Model::load(&args.model)?;
    attribute::check_model(&model)?;
    let pres = Presentation::of(&model, args.strand)?;
    let tasks = super::task_indices(&model, &args.task)?;
    let references = args
        .references_file
        .as_deref()
        .map(reference_file)
        .transpose()?;
    let references: Option<Vec<&[u8]>> = references
        .as_ref()
        .map(|r| r.iter().map(|s| s.as_slice()).collect());
    let explain = |seqs: &[&[u8]], rng: &mut seqcnn::rng::Rng| match &references {
        Some(r) => attribute::attribute_against(&model, &pres, seqs, &tasks, &opts, r),
        None => attribute::attribute(&model, &pres, seqs, &tasks, &opts, rng),
    };
    if npz && tasks.len() != 1 {
        return Err(seqcnn::Error::Config(format!(
            ".npz output holds one task; the model has {} (choose one with --task)",
            tasks.len()
        ))
        .into());
    }
    let names: Vec<&str> = tasks
        .iter()
        .map(|&t| model.meta.tasks[t].as_str())
        .collect();
    let genome = args.genome.as_deref().map(Genome::open).transpose()?;
    let input = if args.input.as_os_str() == "-" {
        PathBuf::from("<stdin>")
    } else {
        args.input.clone()
    };
    let mut items = items(args, &model, genome.as_ref())?.peekable();
    let mut out = if npz {
        None
    } else {
        let mut o = AtomicOutput::create(&args.out)?;
        o.write_all(attribute::tsv_header(genome.is_some()).as_bytes())
            .map_err(|e| o.error(e))?;
        Some(o)
    };
    let mut deltas = match &args.deltas {
        Some(p) => {
            let mut o = AtomicOutput::create(p)?;
            o.write_all(DELTAS_HEADER.as_bytes())
                .map_err(|e| o.error(e))?;
            Some(o)
        }
        None => None,
    };
    let mut arrays = Arrays::default();
    let mut rng = seqcnn::rng::seeded(args.seed);
    // The largest |delta|: (value, record, task).
    let mut worst: Option<(f32, String, String)> = None;
    // Sequence-task pairs over --tolerance (written with --allow-delta).
    let mut exceeded = 0;
    let mut chunk: Vec<Item> = Vec::with_capacity(args.batch);
    let mut meter = Meter::new("attribute", "sequences", None);
    while items.peek().is_some() {
        chunk.clear();
        while chunk.len() < args.batch {
            match items.next() {
                Some(r) => chunk.push(r?),
                None => break,
            }
        }
        for it in &chunk {
            attribute::check_sequence(&model, &it.seq).map_err(|e| {
                seqcnn::Error::parse(&input, it.line, format!("record '{}': {e}", it.name))
            })?;
        }
        let seqs: Vec<&[u8]> = chunk.iter().map(|r| r.seq.as_slice()).collect();
        let attrs = explain(&seqs, &mut rng).map_err(|e| {
            // Name the first record that fails on its own; the chunk's error if none does.
            let alone = |it: &Item| {
                let mut r = seqcnn::rng::seeded(args.seed);
                explain(&[&it.seq], &mut r).err()
            };
            match chunk.iter().find_map(|it| alone(it).map(|e| (it, e))) {
                Some((it, e)) => {
                    seqcnn::Error::parse(&input, it.line, format!("record '{}': {e}", it.name))
                }
                None => seqcnn::Error::parse(&input, 0, e.to_string()),
            }
        })?;
        if opts.method.is_exact() {
            let over: Vec<String> = chunk
                .iter()
                .zip(&attrs)
                .flat_map(|(it, a)| {
                    a.over_tolerance(args.tolerance)
                        .into_iter()
                        .map(|ti| over_message(&it.name, names[ti], a, ti, args.tolerance))
                        .collect::<Vec<_>>()
                })
                .collect();
            exceeded += over.len();
            if !over.is_empty() && !args.allow_delta {
                let shown = over.len().min(5);
                return Err(seqcnn::Error::Numeric(format!(
                    "{}: the attributions of {} sequence-task pair(s) of this batch miss \
                     completeness by more than --tolerance {}: {}{}; each rule conserves the \
                     difference exactly, so this is rounding in the op kinds named (large \
                     activations): --allow-delta writes the attributions anyway",
                    input.display(),
                    over.len(),
                    args.tolerance,
                    over[..shown].join("; "),
                    if over.len() > shown { "; ..." } else { "" }
                ))
                .into());
            }
        }
        for (it, a) in chunk.iter().zip(&attrs) {
            if let Some(o) = out.as_mut() {
                let locus = it.locus.as_ref().map(|(c, s, l)| Locus {
                    contig: c,
                    start: *s,
                    contig_len: *l,
                });
                attribute::write_tsv(o, &it.name, &it.seq, a, &names, locus)
                    .map_err(|e| o.error(e))?;
            } else {
                arrays.push(it, a)?;
            }
            if let Some(o) = deltas.as_mut() {
                attribute::write_deltas(o, &it.name, a, &names).map_err(|e| o.error(e))?;
            }
            for (ti, &d) in a.delta.iter().flatten().enumerate() {
                if worst.as_ref().is_none_or(|w| d.abs() > w.0) {
                    worst = Some((d.abs(), it.name.clone(), names[ti].to_string()));
                }
            }
        }
        meter.add(chunk.len() as u64);
    }
    match out {
        Some(o) => o.commit()?,
        None => arrays.write(&args.out, args.modisco.as_deref())?,
    }
    if let Some(o) = deltas {
        o.commit()?;
    }
    let mut note = match worst {
        Some((d, name, task)) => format!("; largest |convergence delta| {d:.3e} ({name}, {task})"),
        None => String::new(),
    };
    if exceeded > 0 {
        note.push_str(&format!(
            "; {exceeded} sequence-task pair(s) over --tolerance {}",
            args.tolerance
        ));
    }
    let mut written = vec![args.out.as_path()];
    written.extend(args.deltas.as_deref());
    if let Some([s, h]) = &modisco {
        written.push(s);
        written.push(h);
    }
    meter.finish(None, &written, &note);
    Ok(())
}
