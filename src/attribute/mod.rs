//! Attribution: how much each position and base of a sequence contributes to a model's raw score
//! (the logit of a classification model, DeepBind's score for an imported DeepBind model: what
//! captum and tangermeme attribute), by one of several methods ([`Method`]), through the same
//! strand and window rules as the scorer ([`Presentation`]).
//!
//! Every method gives, per task, the *hypothetical* contribution `H [4, len]` of each of the four
//! bases at each position (what the position would contribute if it held that base: the input
//! TF-MoDISco takes) and the *actual* contribution, the encoded input times `H` (at an A/C/G/T
//! position the hypothetical contribution of the base present; at an N, 0.25 times the sum over
//! the four). For the methods with a reference (a baseline input) the hypothetical contribution
//! is DeepLIFT's projection `H[b, p] = m[b, p] - sum_c ref[c, p] m[c, p]` of the multipliers `m`
//! (the averaged path gradient for integrated gradients), averaged over the references, so the
//! actual contributions sum to the explained difference `f(x) - mean f(ref)` up to the reported
//! convergence delta.
//!
//! Gradients of continuous inputs (integrated-gradients steps) go through `gradient.rs`: each
//! input is cut into the network inputs the presentation makes (both strands, DeepBind windows),
//! and their gradients mapped back onto the sequence's positions. DeepLIFT and DeepSHAP go
//! through `deeplift.rs`: the network inputs of an input and of its references in one batch (the
//! input's once), walked back with the rescale rule ([`crate::tensor::Tape::backward_rescale`]).

mod deeplift;
mod gradient;

pub use deeplift::{LayerRule, layer_rule};
pub use gradient::gauss_legendre;

use std::io::Write;

use ndarray::{Array2, Array3, ArrayView2, Axis};

use crate::encode::{self, NMode};
use crate::model::Model;
use crate::mutate::{FastIsm, naive_ism};
use crate::nn::Shape;
use crate::rng::Rng;
use crate::score::{Presentation, Scorer};
use crate::{Error, Result};
use gradient::{Point, gradients};

/// How contributions are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// The gradient of the score with respect to the one-hot input (captum's `Saliency` without
    /// the absolute value): the hypothetical contribution of each base is its gradient.
    Gradient,
    /// Gradient x input (captum's `InputXGradient`, `seqcnn saliency`): hypothetical
    /// contributions are the gradient, actual ones the gradient at the base present. On one-hot
    /// input the same numbers as `gradient`.
    InputXGradient,
    /// Integrated gradients (Sundararajan et al. 2017; captum's default Gauss-Legendre rule):
    /// `(x - ref)` times the gradient averaged along the straight path from the reference.
    IntegratedGradients,
    /// DeepLIFT with the rescale rule (Shrikumar et al. 2017; captum's `DeepLift`): `(x - ref)`
    /// times multipliers taken back through the network with `(f(x) - f(ref)) / (x - ref)` at
    /// every nonlinearity.
    #[value(name = "deeplift")]
    DeepLift,
    /// DeepSHAP: DeepLIFT averaged over dinucleotide-shuffled references (captum's
    /// `DeepLiftShap`, tangermeme's `deep_lift_shap`).
    #[value(name = "deepshap")]
    DeepShap,
    /// In-silico mutagenesis: each base's effect on the score (the base present: 0), minus the
    /// mean of the four effects at its position.
    Ism,
}

impl Method {
    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            Method::Gradient => "gradient",
            Method::InputXGradient => "input-x-gradient",
            Method::IntegratedGradients => "integrated-gradients",
            Method::DeepLift => "deeplift",
            Method::DeepShap => "deepshap",
            Method::Ism => "ism",
        }
    }

    /// Whether the method explains a difference from reference inputs (and so has a
    /// convergence delta).
    pub fn has_reference(self) -> bool {
        matches!(
            self,
            Method::IntegratedGradients | Method::DeepLift | Method::DeepShap
        )
    }

    /// Whether the method conserves the explained difference exactly (DeepLIFT's rules), so
    /// that a convergence delta above rounding is an error.
    pub fn is_exact(self) -> bool {
        matches!(self, Method::DeepLift | Method::DeepShap)
    }
}

/// The reference input of integrated gradients and DeepLIFT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Baseline {
    /// All zeros (captum's default).
    Zeros,
    /// 0.25 in each channel (an all-N sequence).
    Uniform,
    /// Dinucleotide-shuffled copies of the input (seeded; the shuffle `train` uses for
    /// negatives), the result averaged over them.
    Shuffled,
}

/// What [`attribute`] computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    pub method: Method,
    /// Integrated gradients: points of the Gauss-Legendre rule.
    pub steps: usize,
    pub baseline: Baseline,
    /// Shuffled references per input, with [`Baseline::Shuffled`] and for DeepSHAP (whose
    /// references are always shuffles; the command line's default for it is 20).
    pub references: usize,
    /// About this many input positions (network inputs x their length) per pass.
    pub budget: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Method::InputXGradient,
            steps: 50,
            baseline: Baseline::Zeros,
            references: 1,
            budget: 1 << 16,
        }
    }
}

/// The attribution of one sequence, per task asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribution {
    /// The raw score explained, `f(x)`. shape: [tasks]
    pub output: Vec<f32>,
    /// The mean raw score of the references, for methods with one. shape: [tasks]
    pub reference: Option<Vec<f32>>,
    /// Hypothetical contributions. shape: [tasks, 4, len]
    pub hypothetical: Array3<f32>,
    /// Actual contributions: the encoded input times `hypothetical`. shape: [tasks, 4, len]
    pub contributions: Array3<f32>,
    /// `sum(contributions) - (output - reference)` per task, for methods with a reference.
    pub delta: Option<Vec<f32>>,
    /// DeepLIFT: per task, what each op kind failed to conserve (`relu`, `max_pool1d`, ...),
    /// averaged over the references; these and rounding at the input make up the delta.
    pub residuals: Option<Vec<Vec<(&'static str, f64)>>>,
}

impl Attribution {
    /// The largest convergence delta task `ti` may have: `tolerance` times the scale of its
    /// scores, `max(1, |output|, |reference|)`.
    pub fn allowed_delta(&self, ti: usize, tolerance: f32) -> f32 {
        let r = self
            .reference
            .as_ref()
            .map_or(0.0, |r| r.get(ti).copied().unwrap_or(0.0));
        let f = self.output.get(ti).copied().unwrap_or(0.0);
        tolerance * 1f32.max(f.abs()).max(r.abs())
    }

    /// The tasks (indices into the attribution's tasks) whose convergence delta is above
    /// [`Attribution::allowed_delta`].
    pub fn over_tolerance(&self, tolerance: f32) -> Vec<usize> {
        match &self.delta {
            Some(d) => (0..d.len())
                .filter(|&ti| {
                    // NaN is over any tolerance.
                    let (d, allowed) = (d[ti].abs(), self.allowed_delta(ti, tolerance));
                    d.is_nan() || allowed.is_nan() || d > allowed
                })
                .collect(),
            None => Vec::new(),
        }
    }

    /// The actual contribution of each position (summed over the four channels). shape:
    /// [tasks, len]
    pub fn per_position(&self) -> Array2<f32> {
        self.contributions.sum_axis(Axis(1))
    }
}

/// Checks that `model` reads DNA: a sequence network of four input channels.
pub fn check_model(model: &Model) -> Result<()> {
    match model.net.input_shape() {
        Shape::Seq { channels: 4, .. } => Ok(()),
        other => Err(Error::Config(format!(
            "attribution explains DNA sequence models (4 one-hot channels); this model takes {other:?}"
        ))),
    }
}

/// Checks one sequence before its attribution: not empty, of the model's length if it has one,
/// and made of nucleotide or IUPAC codes.
pub fn check_sequence(model: &Model, seq: &[u8]) -> Result<()> {
    if seq.is_empty() {
        return Err(Error::Config("the sequence is empty".into()));
    }
    gradient::check_length(model, seq.len())?;
    encode::check_sequence(seq).map_err(|b| Error::Config(b.to_string()))
}

/// Attributions of each sequence for each task in `tasks` (indices into the model's tasks).
/// `rng` draws the shuffled references, sequence by sequence in order.
pub fn attribute(
    model: &Model,
    pres: &Presentation,
    seqs: &[&[u8]],
    tasks: &[usize],
    opts: &Options,
    rng: &mut Rng,
) -> Result<Vec<Attribution>> {
    let baseline = match opts.method {
        Method::DeepShap => Baseline::Shuffled,
        _ => opts.baseline,
    };
    explain(model, pres, seqs, tasks, opts, &mut |s| {
        references(s, baseline, opts.references, rng)
    })
}

/// Attributions of each sequence against the same fixed `references` (sequences of its length,
/// N and other IUPAC codes 0.25 in each channel), averaged over them, as captum's `DeepLift`,
/// `DeepLiftShap` and `IntegratedGradients` take their `baselines`: for
/// [`Method::IntegratedGradients`], [`Method::DeepLift`] and [`Method::DeepShap`] (the two
/// DeepLIFT methods are then one: DeepLIFT averaged over the references); `opts.baseline` and
/// `opts.references` are not used.
pub fn attribute_against(
    model: &Model,
    pres: &Presentation,
    seqs: &[&[u8]],
    tasks: &[usize],
    opts: &Options,
    references: &[&[u8]],
) -> Result<Vec<Attribution>> {
    if !opts.method.has_reference() {
        return Err(Error::Config(format!(
            "references apply to integrated-gradients, deeplift and deepshap, not to {}",
            opts.method.name()
        )));
    }
    if references.is_empty() {
        return Err(Error::Config("at least one reference is needed".into()));
    }
    let refs: Vec<Array2<f32>> = references
        .iter()
        .enumerate()
        .map(|(k, r)| {
            encode::one_hot(r, NMode::Quarter)
                .map_err(|b| Error::Config(format!("reference {}: {b}", k + 1)))
        })
        .collect::<Result<_>>()?;
    explain(model, pres, seqs, tasks, opts, &mut |s| match refs
        .iter()
        .position(|r| r.ncols() != s.len())
    {
        Some(k) => Err(Error::Config(format!(
            "reference {} is {} bp and the sequence {} bp: a reference has the length of \
                 the sequences it explains",
            k + 1,
            refs[k].ncols(),
            s.len()
        ))),
        None => Ok(refs.clone()),
    })
}

/// The references (`[4, len]` each) of one sequence, given the sequence.
type RefSource<'a> = dyn FnMut(&[u8]) -> Result<Vec<Array2<f32>>> + 'a;

/// [`attribute`] with the references of each sequence (`[4, len]` each) from `refs`, called
/// sequence by sequence in order by the methods that have references.
fn explain(
    model: &Model,
    pres: &Presentation,
    seqs: &[&[u8]],
    tasks: &[usize],
    opts: &Options,
    refs: &mut RefSource,
) -> Result<Vec<Attribution>> {
    check_model(model)?;
    let n_tasks = model.meta.tasks.len();
    if let Some(&t) = tasks.iter().find(|&&t| t >= n_tasks) {
        return Err(Error::Config(format!(
            "task index {t} is out of range: the model has {n_tasks} tasks"
        )));
    }
    if let Some(i) = seqs.iter().position(|s| s.is_empty()) {
        return Err(Error::Config(format!("sequence {} is empty", i + 1)));
    }
    for s in seqs {
        gradient::check_length(model, s.len())?;
    }
    let encoded: Vec<Array2<f32>> = seqs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            encode::one_hot(s, NMode::Quarter)
                .map_err(|b| Error::Config(format!("sequence {}: {b}", i + 1)))
        })
        .collect::<Result<_>>()?;
    match opts.method {
        Method::Gradient | Method::InputXGradient => {
            let points: Vec<Point> = encoded
                .iter()
                .enumerate()
                .map(|(i, x)| Point {
                    x: x.clone(),
                    seq: i,
                })
                .collect();
            let grads = gradients(model, pres, seqs, &points, tasks, opts.budget)?;
            Ok(grads
                .into_iter()
                .zip(&encoded)
                .map(|(g, x)| finish(x, g.output, None, g.grad))
                .collect())
        }
        Method::IntegratedGradients => seqs
            .iter()
            .zip(&encoded)
            .map(|(s, x)| {
                let rs = refs(s)?;
                integrated_gradients(model, pres, s, x, &rs, tasks, opts)
            })
            .collect(),
        Method::DeepLift | Method::DeepShap => {
            let rs: Vec<Vec<Array2<f32>>> = seqs.iter().map(|s| refs(s)).collect::<Result<_>>()?;
            lift(model, pres, seqs, &encoded, &rs, tasks, opts.budget)
        }
        Method::Ism => {
            let mut scorer = Scorer::new(model).with_strand(pres.strand);
            if !model.meta.scoring.is_plain() {
                scorer = scorer.with_window_average(pres.average)?;
            }
            let fast = FastIsm::new(model)?;
            seqs.iter()
                .zip(&encoded)
                .map(|(s, x)| ism(&scorer, fast.as_ref(), s, x, tasks, opts.budget))
                .collect()
        }
    }
}

/// The references of `seq`: one for zeros and uniform, `n` dinucleotide shuffles.
fn references(seq: &[u8], baseline: Baseline, n: usize, rng: &mut Rng) -> Result<Vec<Array2<f32>>> {
    let len = seq.len();
    Ok(match baseline {
        Baseline::Zeros => vec![Array2::zeros((4, len))],
        Baseline::Uniform => vec![Array2::from_elem((4, len), 0.25)],
        Baseline::Shuffled => {
            if n == 0 {
                return Err(Error::Config(
                    "at least one shuffled reference is needed".into(),
                ));
            }
            (0..n)
                .map(|_| {
                    let s = encode::dinucleotide_shuffle(seq, rng);
                    encode::one_hot(&s, NMode::Quarter).map_err(|b| Error::Config(b.to_string()))
                })
                .collect::<Result<_>>()?
        }
    })
}

/// DeepLIFT's hypothetical contributions from multipliers `m [4, len]` against the reference
/// `r [4, len]`: `m[b, p] - sum_c r[c, p] m[c, p]`, added into `out` times `scale`.
fn add_projection(
    out: &mut ndarray::ArrayViewMut2<f32>,
    m: ArrayView2<f32>,
    r: ArrayView2<f32>,
    scale: f32,
) {
    let base = (&m * &r).sum_axis(Axis(0));
    for ((b, p), o) in out.indexed_iter_mut() {
        *o += scale * (m[[b, p]] - base[p]);
    }
}

/// Integrated gradients of one sequence `x` from each reference, averaged.
fn integrated_gradients(
    model: &Model,
    pres: &Presentation,
    seq: &[u8],
    x: &Array2<f32>,
    refs: &[Array2<f32>],
    tasks: &[usize],
    opts: &Options,
) -> Result<Attribution> {
    if opts.steps == 0 {
        return Err(Error::Config(
            "integrated gradients needs at least one step".into(),
        ));
    }
    let (alphas, weights) = gauss_legendre(opts.steps);
    // The input, then per reference: the reference and the path's points.
    let mut points = vec![Point {
        x: x.clone(),
        seq: 0,
    }];
    for r in refs {
        points.push(Point {
            x: r.clone(),
            seq: 0,
        });
        let d = x - r;
        for &a in &alphas {
            points.push(Point {
                x: r + &(&d * a as f32),
                seq: 0,
            });
        }
    }
    let grads = gradients(model, pres, &[seq], &points, tasks, opts.budget)?;
    let per_ref = 1 + alphas.len();
    let mut hyp = Array3::<f32>::zeros((tasks.len(), 4, seq.len()));
    let mut reference = vec![0.0f32; tasks.len()];
    let share = 1.0 / refs.len() as f32;
    for (k, r) in refs.iter().enumerate() {
        let at = 1 + k * per_ref;
        for (ti, refv) in reference.iter_mut().enumerate() {
            *refv += share * grads[at].output[ti];
            let mut m = Array2::<f32>::zeros((4, seq.len()));
            for (s, &w) in weights.iter().enumerate() {
                m.scaled_add(w as f32, &grads[at + 1 + s].grad.index_axis(Axis(0), ti));
            }
            add_projection(
                &mut hyp.index_axis_mut(Axis(0), ti),
                m.view(),
                r.view(),
                share,
            );
        }
    }
    let output = grads[0].output.clone();
    Ok(finish(x, output, Some(reference), hyp))
}

/// DeepLIFT of each sequence `xs[i]` against each of its references `refs[i]`, averaged.
fn lift(
    model: &Model,
    pres: &Presentation,
    seqs: &[&[u8]],
    xs: &[Array2<f32>],
    refs: &[Vec<Array2<f32>>],
    tasks: &[usize],
    budget: usize,
) -> Result<Vec<Attribution>> {
    let lifts = deeplift::deeplift(model, pres, seqs, xs, refs, tasks, budget)?;
    let mut out = Vec::with_capacity(xs.len());
    for ((x, rs), ls) in xs.iter().zip(refs).zip(lifts) {
        let share = 1.0 / rs.len() as f32;
        let mut hyp = Array3::<f32>::zeros((tasks.len(), 4, x.ncols()));
        let mut reference = vec![0.0f32; tasks.len()];
        let mut output = vec![0.0f32; tasks.len()];
        let mut residuals: Vec<Vec<(&'static str, f64)>> = vec![Vec::new(); tasks.len()];
        for (r, l) in rs.iter().zip(ls) {
            for ti in 0..tasks.len() {
                output[ti] = l.output[ti];
                reference[ti] += share * l.reference[ti];
                add_projection(
                    &mut hyp.index_axis_mut(Axis(0), ti),
                    l.mult.index_axis(Axis(0), ti),
                    r.view(),
                    share,
                );
                for &(op, v) in &l.residuals[ti] {
                    let v = v * share as f64;
                    match residuals[ti].iter_mut().find(|(o, _)| *o == op) {
                        Some(e) => e.1 += v,
                        None => residuals[ti].push((op, v)),
                    }
                }
            }
        }
        let mut a = finish(x, output, Some(reference), hyp);
        a.residuals = Some(residuals);
        out.push(a);
    }
    Ok(out)
}

/// Mean-centred substitution effects of one sequence, from fast ISM where the network allows
/// and scoring every mutant otherwise.
fn ism(
    scorer: &Scorer,
    fast: Option<&FastIsm>,
    seq: &[u8],
    x: &Array2<f32>,
    tasks: &[usize],
    budget: usize,
) -> Result<Attribution> {
    let batch = (budget / seq.len().max(1)).clamp(1, 4096);
    let scores = match fast.map(|f| f.run(scorer, seq, true, batch)).transpose()? {
        Some(Some(s)) => s,
        _ => naive_ism(scorer, seq, true, batch)?,
    };
    let diff = scores.diff();
    let len = seq.len();
    let mut hyp = Array3::<f32>::zeros((tasks.len(), 4, len));
    for (m, mu) in scores.mutations.iter().enumerate() {
        let Some(c) = encode::base_index(mu.alt) else {
            continue;
        };
        for (ti, &t) in tasks.iter().enumerate() {
            hyp[[ti, c, mu.pos]] = diff[[m, t]];
        }
    }
    for mut lane in hyp.lanes_mut(Axis(1)) {
        let mean = lane.sum() / 4.0;
        lane.mapv_inplace(|v| v - mean);
    }
    let output = tasks.iter().map(|&t| scores.reference[t]).collect();
    Ok(finish(x, output, None, hyp))
}

/// The attribution from its hypothetical contributions: actual contributions and, with a
/// reference, the convergence delta.
fn finish(
    x: &Array2<f32>,
    output: Vec<f32>,
    reference: Option<Vec<f32>>,
    hypothetical: Array3<f32>,
) -> Attribution {
    let mut contributions = hypothetical.clone();
    for mut c in contributions.outer_iter_mut() {
        c *= x;
    }
    let delta = reference.as_ref().map(|r| {
        contributions
            .outer_iter()
            .zip(output.iter().zip(r))
            .map(|(c, (&f, &fr))| {
                let total: f64 = c.iter().map(|&v| v as f64).sum();
                (total - (f as f64 - fr as f64)) as f32
            })
            .collect()
    });
    Attribution {
        output,
        reference,
        hypothetical,
        contributions,
        delta,
        residuals: None,
    }
}

/// A value for a TSV: the shortest text that reads back as the same `f32`, in exponent form
/// below 1e-4 and from 1e6 on.
///
/// ```
/// use seqcnn::attribute::format_value;
/// assert_eq!(format_value(0.25), "0.25");
/// assert_eq!(format_value(-1.5e-7), "-1.5e-7");
/// assert_eq!(format_value(0.0), "0");
/// ```
pub fn format_value(v: f32) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() || (1e-4..1e6).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// Where a sequence read from a genome lies: its first base is 0-based `start` on `contig`, a
/// contig of `contig_len` bp (bases outside it are N padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locus<'a> {
    pub contig: &'a str,
    pub start: i64,
    pub contig_len: u64,
}

/// The header of [`write_tsv`]'s rows (with `chrom gpos` after `pos` for sequences read from a
/// genome).
pub fn tsv_header(genome: bool) -> &'static str {
    if genome {
        "name\tpos\tchrom\tgpos\tbase\ttask\tattribution\thyp_A\thyp_C\thyp_G\thyp_T\n"
    } else {
        "name\tpos\tbase\ttask\tattribution\thyp_A\thyp_C\thyp_G\thyp_T\n"
    }
}

/// Writes one sequence's rows: `name pos base task attribution hyp_A hyp_C hyp_G hyp_T`, one
/// row per position and task, `pos` 1-based, `attribution` the position's actual contribution
/// and `hyp_*` the hypothetical contribution of each base. With a `locus`, `chrom gpos` follow
/// `pos` (`gpos` 1-based on the contig, `.` in the padding past its ends).
pub fn write_tsv(
    out: &mut impl Write,
    name: &str,
    seq: &[u8],
    attr: &Attribution,
    task_names: &[&str],
    locus: Option<Locus>,
) -> std::io::Result<()> {
    let per_pos = attr.per_position();
    let mut s = String::new();
    for (p, &b) in seq.iter().enumerate() {
        let base = b.to_ascii_uppercase() as char;
        let at = match locus {
            None => String::new(),
            Some(l) => {
                let g = l.start + p as i64;
                if g >= 0 && (g as u64) < l.contig_len {
                    format!("\t{}\t{}", l.contig, g + 1)
                } else {
                    format!("\t{}\t.", l.contig)
                }
            }
        };
        for (ti, t) in task_names.iter().enumerate() {
            s.push_str(&format!(
                "{name}\t{}{at}\t{base}\t{t}\t{}",
                p + 1,
                format_value(per_pos[[ti, p]])
            ));
            for c in 0..4 {
                s.push('\t');
                s.push_str(&format_value(attr.hypothetical[[ti, c, p]]));
            }
            s.push('\n');
        }
    }
    out.write_all(s.as_bytes())
}

/// The header of [`write_deltas`]' rows.
pub const DELTAS_HEADER: &str = "name\ttask\toutput\treference\tdelta\n";

/// Writes one sequence's convergence rows: `name task output reference delta` (nothing for a
/// method without a reference).
pub fn write_deltas(
    out: &mut impl Write,
    name: &str,
    attr: &Attribution,
    task_names: &[&str],
) -> std::io::Result<()> {
    let (Some(r), Some(d)) = (&attr.reference, &attr.delta) else {
        return Ok(());
    };
    let mut s = String::new();
    for (ti, t) in task_names.iter().enumerate() {
        s.push_str(&format!(
            "{name}\t{t}\t{}\t{}\t{}\n",
            format_value(attr.output[ti]),
            format_value(r[ti]),
            format_value(d[ti])
        ));
    }
    out.write_all(s.as_bytes())
}

#[cfg(test)]
mod tests;
