//! How sequences are presented to a model: strand rule (forward only, mean or max over both
//! strands) and batching by length. `predict`, `eval` and training-time validation all score
//! through a [`Scorer`] (several models through an [`Ensemble`] of scorers), so these rules live
//! here and nowhere else. So do DeepBind's rules for imported DeepBind models
//! ([`Scoring::DeepBind`]): padding with N, windows, raw scores.

use crate::arch::LossKind;
use crate::encode::{self, NMode};
use crate::model::Model;
use crate::{Error, Result};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// How the two strands of a sequence are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Strand {
    /// The sequence as given.
    #[default]
    None,
    /// The mean of both strands' outputs (DeepSEA).
    Mean,
    /// The larger of both strands' outputs (DeepBind).
    Max,
}

/// How sequences become network inputs and outputs become scores (stored in the model).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Scoring {
    /// The sequence is the network's input; outputs are on the loss's scale ([`to_output`]).
    #[default]
    Plain,
    /// The rules of the original deepbind v0.11 tool, for imported DeepBind models. Each window
    /// is padded with `k - 1` N's (0.25 in every channel) on both sides, `k` being the span of the
    /// first layer, an unpadded convolution: DeepBind's "full" convolution over all `n + k - 1`
    /// placements, off-sequence positions read as N. A sequence longer than `window` is scored in
    /// every window of that length at stride 1 and the maximum kept (the mean with `average`);
    /// the strand rule applies within each window. The score is the raw network output, never
    /// mapped through a sigmoid.
    #[serde(rename = "deepbind")]
    DeepBind {
        /// Window length; `None` scores every sequence whole.
        window: Option<usize>,
        /// The mean over windows instead of the maximum (the tool's `--average`).
        #[serde(default)]
        average: bool,
    },
}

impl Scoring {
    /// True for [`Scoring::Plain`] (left out of model files, so older files keep their bytes).
    pub fn is_plain(&self) -> bool {
        *self == Scoring::Plain
    }
}

/// DeepBind models: windows scored per forward pass, times the batch size.
const WINDOWS_PER_BATCH: usize = 8;

/// A model plus the rules for presenting sequences to it.
pub struct Scorer<'m> {
    model: &'m Model,
    /// The model's parameters, shared by every batch (made at the first one).
    params: std::sync::OnceLock<Vec<std::sync::Arc<crate::tensor::Array>>>,
    strand: Strand,
    scoring: Scoring,
    batch_size: usize,
}

impl<'m> Scorer<'m> {
    /// A scorer with the model's own strand rule.
    pub fn new(model: &'m Model) -> Self {
        Scorer {
            model,
            params: std::sync::OnceLock::new(),
            strand: model.meta.strand,
            scoring: model.meta.scoring,
            batch_size: 256,
        }
    }

    /// Overrides the strand rule.
    pub fn with_strand(mut self, strand: Strand) -> Self {
        self.strand = strand;
        self
    }

    /// The strand rule in force.
    pub fn strand(&self) -> Strand {
        self.strand
    }

    /// For DeepBind models, the mean over windows instead of the maximum (`true`) or the
    /// maximum (`false`). Asking a model without windows for the mean is an error.
    pub fn with_window_average(mut self, average: bool) -> Result<Self> {
        match &mut self.scoring {
            Scoring::DeepBind { average: a, .. } => *a = average,
            Scoring::Plain if average => {
                return Err(Error::Config(
                    "averaging over windows applies to DeepBind models only; this model scores each sequence whole".into(),
                ));
            }
            Scoring::Plain => {}
        }
        Ok(self)
    }

    /// Outputs `[n, tasks]` on the output scale: probabilities for `bce`, rates for `poisson`,
    /// class probabilities for `cross_entropy`, values for `mse`; for DeepBind models, the raw
    /// score. Under `max` the strand with the larger raw score is taken; under `mean` the outputs
    /// are averaged.
    pub fn score(&self, seqs: &[&[u8]]) -> Result<Array2<f32>> {
        self.score_scaled(seqs, false)
    }

    /// Raw network outputs `[n, tasks]` (logits for `bce`; DeepBind's score for imported
    /// DeepBind models). Under `mean` the raw values of both strands are averaged.
    pub fn score_raw(&self, seqs: &[&[u8]]) -> Result<Array2<f32>> {
        self.score_scaled(seqs, true)
    }

    fn score_scaled(&self, seqs: &[&[u8]], raw: bool) -> Result<Array2<f32>> {
        if let Scoring::DeepBind { window, average } = self.scoring {
            return self.score_deepbind(seqs, window, average);
        }
        let tasks = self.model.meta.tasks.len();
        let mut out = Array2::<f32>::zeros((seqs.len(), tasks));
        // Sequences of one length are scored together; lengths never mix in a batch, so a score
        // does not depend on which other sequences share its batch.
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| (seqs[i].len(), i));
        for group in order.chunk_by(|&a, &b| seqs[a].len() == seqs[b].len()) {
            for chunk in group.chunks(self.batch_size) {
                let batch: Vec<&[u8]> = chunk.iter().map(|&i| seqs[i]).collect();
                let y = self.score_same_length(&batch, raw)?;
                for (row, &i) in chunk.iter().enumerate() {
                    out.row_mut(i).assign(&y.row(row));
                }
            }
        }
        Ok(out)
    }

    /// [`Scoring::DeepBind`]: every window, padded with N, scored on its own (so a score never
    /// depends on the rest of the batch), the strand rule applied per window, then the maximum or
    /// mean over a sequence's windows. Windows are made as they are scored, so memory stays
    /// bounded for long sequences.
    fn score_deepbind(
        &self,
        seqs: &[&[u8]],
        window: Option<usize>,
        average: bool,
    ) -> Result<Array2<f32>> {
        let pad = deepbind_pad(&self.model.arch)?;
        if window == Some(0) {
            return Err(Error::Config(
                "the model's DeepBind window is 0; it must be positive".into(),
            ));
        }
        let mut pool = WindowPool::new(seqs.len(), self.model.meta.tasks.len());
        match FirstStage::new(self.model)? {
            Some(fast) => self.deepbind_fast(&fast, seqs, window, &mut pool)?,
            None => self.deepbind_windows(seqs, window, pad, &mut pool)?,
        }
        Ok(pool.finish(average))
    }

    /// DeepBind scoring by definition: each padded window through the whole network.
    fn deepbind_windows(
        &self,
        seqs: &[&[u8]],
        window: Option<usize>,
        pad: usize,
        pool: &mut WindowPool,
    ) -> Result<()> {
        let limit = self.batch_size.max(1) * WINDOWS_PER_BATCH;
        let mut pending: Vec<(usize, Vec<u8>)> = Vec::with_capacity(limit);
        let mut flush = |pending: &mut Vec<(usize, Vec<u8>)>| -> Result<()> {
            // Padded windows of one length are scored together.
            pending.sort_by_key(|(i, w)| (w.len(), *i));
            for group in pending.chunk_by(|a, b| a.1.len() == b.1.len()) {
                let batch: Vec<&[u8]> = group.iter().map(|(_, w)| w.as_slice()).collect();
                let y = self.score_same_length(&batch, true)?;
                for ((i, _), row) in group.iter().zip(y.rows()) {
                    pool.add(*i, row.iter().copied());
                }
            }
            pending.clear();
            Ok(())
        };
        for (i, s) in seqs.iter().enumerate() {
            let w = window_len(s.len(), window);
            for start in 0..=s.len() - w {
                let mut padded = Vec::with_capacity(w + 2 * pad);
                padded.resize(pad, b'N');
                padded.extend_from_slice(&s[start..start + w]);
                padded.resize(w + 2 * pad, b'N');
                pending.push((i, padded));
                if pending.len() >= limit {
                    flush(&mut pending)?;
                }
            }
        }
        flush(&mut pending)
    }

    /// DeepBind scoring with the first stage (convolution, ReLU, pooling) computed for all of a
    /// stretch's windows at once: the same numbers as [`Scorer::deepbind_windows`] up to float
    /// rounding, far fewer operations. The rest of the network runs as usual on the pooled
    /// features.
    fn deepbind_fast(
        &self,
        fast: &FirstStage,
        seqs: &[&[u8]],
        window: Option<usize>,
        pool: &mut WindowPool,
    ) -> Result<()> {
        use rayon::prelude::*;
        // Stretches of at most BLOCK windows: (sequence, first window, window length, windows).
        const BLOCK: usize = 256;
        let limit = self.batch_size.max(1) * WINDOWS_PER_BATCH;
        let mut items: Vec<(usize, usize, usize, usize)> = Vec::new();
        let mut queued = 0;
        let both = self.strand != Strand::None;
        let mut flush = |items: &mut Vec<(usize, usize, usize, usize)>| -> Result<()> {
            // Features of every window, forward strand then (if needed) reverse strand, in
            // the same window order.
            let feats: Vec<(Vec<f32>, Vec<f32>)> = items
                .par_iter()
                .map(|&(i, start, w, n)| {
                    let stretch = &seqs[i][start..start + n + w - 1];
                    let fwd = fast.features(stretch, w)?;
                    let rev = if both {
                        let rc = encode::reverse_complement(stretch);
                        // Window k of the stretch is window n - 1 - k of its reverse complement.
                        let r = fast.features(&rc, w)?;
                        r.chunks_exact(fast.n_features())
                            .rev()
                            .flatten()
                            .copied()
                            .collect()
                    } else {
                        Vec::new()
                    };
                    Ok((fwd, rev))
                })
                .collect::<Result<_>>()?;
            let total: usize = items.iter().map(|it| it.3).sum();
            let mut all = Vec::with_capacity(total * fast.n_features() * 2);
            for (f, _) in &feats {
                all.extend_from_slice(f);
            }
            for (_, r) in &feats {
                all.extend_from_slice(r);
            }
            let y = fast.rest(self.model, all)?;
            let mut row = 0;
            for &(i, _, _, n) in items.iter() {
                for _ in 0..n {
                    let f = y.row(row);
                    if both {
                        let r = y.row(total + row);
                        let pick = |(&a, &b): (&f32, &f32)| match self.strand {
                            Strand::Max => a.max(b),
                            _ => (a + b) * 0.5,
                        };
                        pool.add(i, f.iter().zip(r.iter()).map(pick));
                    } else {
                        pool.add(i, f.iter().copied());
                    }
                    row += 1;
                }
            }
            items.clear();
            Ok(())
        };
        for (i, s) in seqs.iter().enumerate() {
            let w = window_len(s.len(), window);
            let windows = s.len() - w + 1;
            let mut start = 0;
            while start < windows {
                let n = BLOCK.min(windows - start);
                items.push((i, start, w, n));
                queued += n;
                start += n;
                if queued >= limit {
                    flush(&mut items)?;
                    queued = 0;
                }
            }
        }
        flush(&mut items)
    }

    fn forward(&self, seqs: &[&[u8]]) -> Result<Array2<f32>> {
        let len = seqs.first().map_or(0, |s| s.len());
        if let Some(want) = self.model.meta.input_length
            && want != len
        {
            return Err(Error::Config(format!(
                "the model takes sequences of exactly {want} bp, got {len} bp"
            )));
        }
        let x = encode::encode_batch(seqs, len, NMode::Quarter)
            .map_err(|e| Error::Config(e.to_string()))?;
        let params = self.params.get_or_init(|| self.model.shared_params());
        self.model
            .predict_shared(params, x.into_dyn())?
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(|_| Error::Config("the model's output is not [N, tasks]".into()))
    }

    fn score_same_length(&self, seqs: &[&[u8]], raw: bool) -> Result<Array2<f32>> {
        let loss = self.model.arch.loss;
        let scale = |y: Array2<f32>| if raw { y } else { to_output(loss, y) };
        let fwd = self.forward(seqs)?;
        if self.strand == Strand::None {
            return Ok(scale(fwd));
        }
        let rc: Vec<Vec<u8>> = seqs.iter().map(|s| encode::reverse_complement(s)).collect();
        let rc_refs: Vec<&[u8]> = rc.iter().map(|s| s.as_slice()).collect();
        let rev = self.forward(&rc_refs)?;
        Ok(match self.strand {
            // Every output map is monotone in the raw score, so the max commutes with it.
            Strand::Max => scale(
                ndarray::Zip::from(&fwd)
                    .and(&rev)
                    .map_collect(|&a, &b| a.max(b)),
            ),
            _ => (scale(fwd) + scale(rev)) * 0.5,
        })
    }
}

/// The window length for a sequence of `len` bp: the whole sequence unless it is longer than
/// the window.
fn window_len(len: usize, window: Option<usize>) -> usize {
    match window {
        Some(w) if len > w => w,
        _ => len,
    }
}

/// Per-sequence maximum, sum and count of window scores.
struct WindowPool {
    best: Array2<f32>,
    sum: Array2<f64>,
    count: Vec<usize>,
}

impl WindowPool {
    fn new(n: usize, tasks: usize) -> Self {
        WindowPool {
            best: Array2::from_elem((n, tasks), f32::NEG_INFINITY),
            sum: Array2::zeros((n, tasks)),
            count: vec![0; n],
        }
    }

    /// One window's scores for sequence `i`.
    fn add(&mut self, i: usize, scores: impl Iterator<Item = f32>) {
        for (t, v) in scores.enumerate() {
            self.best[[i, t]] = self.best[[i, t]].max(v);
            self.sum[[i, t]] += v as f64;
        }
        self.count[i] += 1;
    }

    /// The maximum, or with `average` the mean, over each sequence's windows.
    fn finish(self, average: bool) -> Array2<f32> {
        if !average {
            return self.best;
        }
        let count = self.count;
        let mut sum = self.sum;
        for (mut row, &c) in sum.rows_mut().into_iter().zip(&count) {
            row.mapv_inplace(|v| v / c.max(1) as f64);
        }
        sum.mapv(|v| v as f32)
    }
}

/// The first stage of a DeepBind-shaped network: an unpadded convolution over 4 channels, ReLU,
/// then global max (or max and mean, interleaved) pooling. For a stretch of sequence it gives
/// the pooled features of every window, each window read with `k - 1` N's on both sides.
///
/// Per detector, a placement's value is `base + sum of (tap on base - tap on N)` over the taps
/// that fall inside the window, where `base` is the bias plus every tap reading N. Running sums
/// of those differences along each placement (in f64) make every window's edge placements a
/// difference of two sums, so the convolution is done once per stretch, not once per window.
struct FirstStage {
    /// shape: [k, 4, out]: tap `j` on base `c` minus tap `j` on N, per detector.
    diff: Vec<f64>,
    /// shape: [out]: the bias plus every tap reading N.
    base: Vec<f64>,
    out: usize,
    k: usize,
    avg: bool,
    /// The layers after pooling, taking `[N, features, 1]`, and the index of their first
    /// parameter in the model's.
    rest: crate::nn::Network,
    first_param: usize,
}

impl FirstStage {
    /// The first stage of `model`, or `None` if its layers do not have that shape.
    fn new(model: &Model) -> Result<Option<FirstStage>> {
        use crate::arch::{Arch, InputSpec, LayerSpec as L};
        let layers = &model.arch.layers;
        let (
            Some(L::Conv1d {
                out_channels,
                kernel_size,
                stride: 1,
                padding,
                dilation: 1,
                bias,
                ..
            }),
            Some(L::Relu {}),
            Some(pool),
        ) = (layers.first(), layers.get(1), layers.get(2))
        else {
            return Ok(None);
        };
        let avg = match pool {
            L::GlobalMaxPool {} => false,
            L::GlobalMaxAvgPool {} => true,
            _ => return Ok(None),
        };
        let (out, k) = (*out_channels, *kernel_size);
        if model.arch.input.channels != 4
            || model.meta.input_length.is_some()
            || k < 2
            || padding.resolve(k, 1, 1)? != (0, 0)
        {
            return Ok(None);
        }
        let first_param = if *bias { 2 } else { 1 };
        let rest_arch = Arch {
            name: format!("{} after pooling", model.arch.name),
            description: String::new(),
            input: InputSpec {
                channels: if avg { 2 * out } else { out },
                length: Some(1),
                ..Default::default()
            },
            loss: model.arch.loss,
            layers: std::iter::once(L::Flatten {})
                .chain(layers[3..].iter().cloned())
                .collect(),
        };
        let rest = crate::nn::Network::build(&rest_arch, model.meta.tasks.len())?;
        rest.check_params(&model.params[first_param..])?;
        let weight: Vec<f32> = model.params[0].iter().copied().collect();
        let base = (0..out)
            .map(|o| {
                let b = if *bias {
                    model.params[1][o] as f64
                } else {
                    0.0
                };
                let taps: f64 = weight[o * 4 * k..(o + 1) * 4 * k]
                    .iter()
                    .map(|&v| v as f64)
                    .sum();
                b + 0.25 * taps
            })
            .collect();
        let mut diff = vec![0f64; k * 4 * out];
        for o in 0..out {
            for j in 0..k {
                let tap = |c: usize| weight[(o * 4 + c) * k + j] as f64;
                let n = 0.25 * (0..4).map(tap).sum::<f64>();
                for c in 0..4 {
                    diff[(j * 4 + c) * out + o] = tap(c) - n;
                }
            }
        }
        Ok(Some(FirstStage {
            diff,
            base,
            out,
            k,
            avg,
            rest,
            first_param,
        }))
    }

    /// Pooled features per window.
    fn n_features(&self) -> usize {
        if self.avg { 2 * self.out } else { self.out }
    }

    /// Pooled features `[windows, features]` of every `w`-bp window of `seq`, in order.
    fn features(&self, seq: &[u8], w: usize) -> Result<Vec<f32>> {
        let (d, k) = (self.out, self.k);
        let p = k - 1;
        let len = seq.len();
        let mut x = vec![0f32; 4 * len];
        encode::encode_into(seq, NMode::Quarter, &mut x)?;
        // Each position is one base (one-hot) or reads as N (0.25 everywhere: no difference).
        let code: Vec<Option<usize>> = (0..len)
            .map(|q| (0..4).find(|&c| x[c * len + q] == 1.0))
            .collect();
        // cum[(a + p) * (k + 1) * d + j * d + o]: the sum over taps j' < j of detector o's
        // (tap on base a + j' - tap on N), for the placement starting at sequence position a.
        let stride = (k + 1) * d;
        let mut cum = vec![0f64; (len + p) * stride];
        for (diag, row) in cum.chunks_exact_mut(stride).enumerate() {
            for j in 0..k {
                let (done, next) = row.split_at_mut((j + 1) * d);
                let prev = &done[j * d..];
                // Sequence position of tap j; off the sequence a tap reads N.
                let base = (diag + j)
                    .checked_sub(p)
                    .and_then(|q| code.get(q).copied().flatten());
                match base {
                    None => next[..d].copy_from_slice(prev),
                    Some(c) => {
                        let diff = &self.diff[(j * 4 + c) * d..][..d];
                        let (next, prev) = (&mut next[..d], &prev[..d]);
                        for o in 0..d {
                            next[o] = prev[o] + diff[o];
                        }
                    }
                }
            }
        }
        let windows = len + 1 - w;
        let f = self.n_features();
        let placements = w + p;
        let mut out = vec![0f32; windows * f];
        let mut best = vec![0f32; d];
        let mut sum = vec![0f32; d];
        for (i, feats) in out.chunks_exact_mut(f).enumerate() {
            best.fill(0.0);
            sum.fill(0.0);
            // Placement t of window i starts at sequence position i + t - p; taps before the
            // window (j < p - t) or after it (j >= w + p - t) read N.
            for t in 0..placements {
                let row = &cum[(i + t) * stride..(i + t + 1) * stride];
                let lo = &row[p.saturating_sub(t) * d..][..d];
                let hi = &row[k.min(w + p - t) * d..][..d];
                let (best, sum, base) = (&mut best[..d], &mut sum[..d], &self.base[..d]);
                for o in 0..d {
                    // Comparisons rather than f32::max: the values are finite, and these
                    // vectorise.
                    let v = (base[o] + hi[o] - lo[o]) as f32;
                    let v = if v > 0.0 { v } else { 0.0 };
                    best[o] = if v > best[o] { v } else { best[o] };
                    sum[o] += v;
                }
            }
            if self.avg {
                for o in 0..d {
                    feats[2 * o] = best[o];
                    feats[2 * o + 1] = sum[o] / placements as f32;
                }
            } else {
                feats.copy_from_slice(&best);
            }
        }
        Ok(out)
    }

    /// The layers after pooling on features `[N * features]`: raw outputs `[N, tasks]`.
    fn rest(&self, model: &Model, feats: Vec<f32>) -> Result<Array2<f32>> {
        let f = self.n_features();
        let n = feats.len() / f;
        let x = crate::tensor::Array::from_shape_vec(ndarray::IxDyn(&[n, f, 1]), feats)
            .map_err(|e| Error::shape("deepbind scoring", e.to_string()))?;
        let mut tape = crate::tensor::Tape::inference();
        let xv = tape.constant(x);
        let pv: Vec<_> = model.params[self.first_param..]
            .iter()
            .map(|p| tape.param(p.clone()))
            .collect();
        // Dropout is off outside training, so the generator is never drawn from.
        let y = self
            .rest
            .forward(&mut tape, xv, &pv, false, &mut crate::rng::seeded(0))?;
        tape.value(y)
            .clone()
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(|_| Error::Config("the model's output is not [N, tasks]".into()))
    }
}

/// The N's on each side of a window under [`Scoring::DeepBind`]: the span of the first layer, a
/// convolution, minus one.
fn deepbind_pad(arch: &crate::arch::Arch) -> Result<usize> {
    match arch.layers.first() {
        Some(crate::arch::LayerSpec::Conv1d {
            kernel_size,
            dilation,
            ..
        }) => Ok(dilation * ((*kernel_size).max(1) - 1)),
        _ => Err(Error::Config(
            "DeepBind scoring needs a model whose first layer is a convolution".into(),
        )),
    }
}

/// Raw outputs to the output scale of a loss.
pub fn to_output(loss: LossKind, raw: Array2<f32>) -> Array2<f32> {
    match loss {
        LossKind::Bce => raw.mapv(crate::tensor::sigmoid),
        LossKind::Poisson => raw.mapv(f32::exp),
        LossKind::Mse => raw,
        LossKind::CrossEntropy => {
            let mut p = raw;
            for mut row in p.rows_mut() {
                let m = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                row.mapv_inplace(|v| (v - m).exp());
                let s = row.sum();
                row.mapv_inplace(|v| v / s);
            }
            p
        }
    }
}

/// Checks that `models` can form an ensemble: at least one, all with the same tasks and loss, and
/// imported DeepBind models only with each other (their scores are raw, never probabilities).
fn check_ensemble(models: &[&Model]) -> Result<()> {
    let model = models
        .first()
        .ok_or_else(|| Error::Config("an ensemble needs at least one model".into()))?;
    for other in &models[1..] {
        if other.meta.tasks != model.meta.tasks || other.arch.loss != model.arch.loss {
            return Err(Error::Config(format!(
                "ensemble members must share tasks and loss: {} ({:?}) against {} ({:?})",
                other.meta.tasks.join(","),
                other.arch.loss,
                model.meta.tasks.join(","),
                model.arch.loss
            )));
        }
        if other.meta.scoring.is_plain() != model.meta.scoring.is_plain() {
            return Err(Error::Config(
                "an imported DeepBind model can form an ensemble only with other DeepBind models"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// Models scored as one: each member scores with its own [`Scorer`] (strand rule, DeepBind
/// windows), and the ensemble's output is the mean of the members' outputs, on the scale asked
/// for: raw outputs for [`Ensemble::score_raw`] (what `eval` ranks), the output scale for
/// [`Ensemble::score`] (what `predict` writes). One member scores exactly as its scorer does.
pub struct Ensemble<'m> {
    members: Vec<Scorer<'m>>,
}

impl<'m> Ensemble<'m> {
    /// An ensemble of `members`: at least one, all with the same tasks and loss, and imported
    /// DeepBind models only with each other.
    pub fn new(members: Vec<Scorer<'m>>) -> Result<Self> {
        check_ensemble(&members.iter().map(|s| s.model).collect::<Vec<_>>())?;
        Ok(Ensemble { members })
    }

    /// The first member's model; tasks and loss are the same for all.
    pub fn model(&self) -> &'m Model {
        self.members[0].model
    }

    /// The window length every member reads, for genome windows: an error when a member takes
    /// any length or two members differ.
    pub fn window(&self) -> Result<usize> {
        let length = |m: &Scorer| {
            m.model.meta.input_length.ok_or_else(|| {
                Error::Config(
                    "the model takes any input length: genome windows need a model with a fixed input length".into(),
                )
            })
        };
        let window = length(&self.members[0])?;
        for member in &self.members[1..] {
            let other = length(member)?;
            if other != window {
                return Err(Error::Config(format!(
                    "ensemble members must read windows of one length: {window} bp and {other} bp"
                )));
            }
        }
        Ok(window)
    }

    /// The members' mean output `[n, tasks]` on the output scale (see [`Scorer::score`]).
    pub fn score(&self, seqs: &[&[u8]]) -> Result<Array2<f32>> {
        self.mean(|m| m.score(seqs))
    }

    /// The members' mean raw output `[n, tasks]` (see [`Scorer::score_raw`]).
    pub fn score_raw(&self, seqs: &[&[u8]]) -> Result<Array2<f32>> {
        self.mean(|m| m.score_raw(seqs))
    }

    fn mean(&self, score: impl Fn(&Scorer<'m>) -> Result<Array2<f32>>) -> Result<Array2<f32>> {
        let mut sum = score(&self.members[0])?;
        for member in &self.members[1..] {
            sum += &score(member)?;
        }
        if self.members.len() > 1 {
            sum /= self.members.len() as f32;
        }
        Ok(sum)
    }
}

#[cfg(test)]
mod deepbind_tests {
    use super::*;
    use crate::deepbind::Params;
    use crate::rng;

    /// A DeepBind model with `d` detectors of length `m`, random weights.
    fn random_model(seed: u64, d: usize, m: usize, avg: bool, hidden: usize, rc: bool) -> Model {
        let mut r = rng::seeded(seed);
        let mut v =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng::uniform(&mut r, -1.0, 1.0)).collect() };
        let f = if avg { 2 * d } else { d };
        let units = hidden.max(1);
        let p = Params {
            reverse_complement: rc,
            num_detectors: d,
            detector_len: m,
            has_avg_pooling: avg,
            num_hidden: hidden,
            detectors: v(m * 4 * d),
            thresholds: v(d),
            weights1: v(f * units),
            biases1: v(units),
            weights2: v(hidden),
            biases2: if hidden > 0 { v(1) } else { Vec::new() },
        };
        p.to_model("t").unwrap()
    }

    /// One detector of length 2 that counts A's, no hidden layer, max and mean pooled; the
    /// output is `wmax * max + wmean * mean`.
    fn a_counter(wmax: f32, wmean: f32) -> Model {
        let mut detectors = vec![0.0; 2 * 4];
        detectors[0] = 1.0; // position 0, base A
        detectors[4] = 1.0; // position 1, base A
        Params {
            reverse_complement: false,
            num_detectors: 1,
            detector_len: 2,
            has_avg_pooling: true,
            num_hidden: 0,
            detectors,
            thresholds: vec![0.0],
            weights1: vec![wmax, wmean],
            biases1: vec![0.0],
            weights2: Vec::new(),
            biases2: Vec::new(),
        }
        .to_model("a")
        .unwrap()
    }

    /// Both implementations of DeepBind scoring.
    fn both_ways(s: &Scorer, seqs: &[&[u8]]) -> (Array2<f32>, Array2<f32>) {
        let Scoring::DeepBind { window, average } = s.scoring else {
            panic!("not a DeepBind model")
        };
        let pad = deepbind_pad(&s.model.arch).unwrap();
        let fast = FirstStage::new(s.model).unwrap().expect("DeepBind-shaped");
        let mut a = WindowPool::new(seqs.len(), 1);
        s.deepbind_fast(&fast, seqs, window, &mut a).unwrap();
        let mut b = WindowPool::new(seqs.len(), 1);
        s.deepbind_windows(seqs, window, pad, &mut b).unwrap();
        (a.finish(average), b.finish(average))
    }

    #[test]
    fn an_ensemble_scores_the_mean_and_keeps_deepbind_models_apart() {
        let a = random_model(1, 3, 5, true, 4, true);
        let b = random_model(2, 3, 5, false, 0, true);
        let seqs: Vec<&[u8]> = vec![b"ACGTTGCANNAC", b"GGGCCCAT", b"TTAGC"];
        let (sa, sb) = (Scorer::new(&a), Scorer::new(&b));
        let both = Ensemble::new(vec![Scorer::new(&a), Scorer::new(&b)]).unwrap();
        let want = (sa.score(&seqs).unwrap() + sb.score(&seqs).unwrap()) / 2.0;
        let got = both.score(&seqs).unwrap();
        assert!(
            got.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-6),
            "{got} {want}"
        );
        assert_eq!(
            both.score_raw(&seqs).unwrap(),
            got,
            "DeepBind scores are raw"
        );
        let one = Ensemble::new(vec![Scorer::new(&a)]).unwrap();
        assert_eq!(one.score(&seqs).unwrap(), sa.score(&seqs).unwrap());
        // The same network scored as a plain model gives probabilities: not an ensemble member.
        let mut plain = a.clone();
        plain.meta.scoring = Scoring::Plain;
        let err = Ensemble::new(vec![Scorer::new(&a), Scorer::new(&plain)])
            .err()
            .expect("mixed scoring refused")
            .to_string();
        assert!(err.contains("only with other DeepBind models"), "{err}");
        assert!(check_ensemble(&[]).is_err());
    }

    #[test]
    fn off_sequence_positions_read_as_n() {
        // "AA" padded to N A A N: placements score 1.25, 2, 1.25.
        for (wmax, wmean, want) in [(1.0, 0.0, 2.0), (0.0, 1.0, 1.5)] {
            let m = a_counter(wmax, wmean);
            let s = Scorer::new(&m);
            let (fast, slow) = both_ways(&s, &[b"AA"]);
            assert!((fast[[0, 0]] - want).abs() < 1e-6, "{fast}");
            assert!((slow[[0, 0]] - want).abs() < 1e-6, "{slow}");
            assert_eq!(s.score(&[b"AA"]).unwrap()[[0, 0]], fast[[0, 0]]);
        }
        // An all-N sequence and an empty one read N everywhere: 0.5 per placement.
        let m = a_counter(1.0, 0.0);
        let s = Scorer::new(&m);
        let y = s.score(&[b"NNN", b""]).unwrap();
        assert!(
            (y[[0, 0]] - 0.5).abs() < 1e-6 && (y[[1, 0]] - 0.5).abs() < 1e-6,
            "{y}"
        );
    }

    #[test]
    fn long_sequences_take_the_max_or_mean_over_windows() {
        let mut m = a_counter(1.0, 1.0);
        // Window 3 (the default for m = 2) over 5 bp: AAC, ACG, CGT.
        let seq: &[u8] = b"AACGT";
        let whole = |s: &[u8]| Scorer::new(&m).score(&[s]).unwrap()[[0, 0]];
        let per_window = [whole(b"AAC"), whole(b"ACG"), whole(b"CGT")];
        let max = per_window.iter().fold(f32::MIN, |a, &b| a.max(b));
        let mean = per_window.iter().sum::<f32>() / 3.0;
        let s = Scorer::new(&m);
        assert!((s.score(&[seq]).unwrap()[[0, 0]] - max).abs() < 1e-6);
        let s = Scorer::new(&m).with_window_average(true).unwrap();
        assert!((s.score(&[seq]).unwrap()[[0, 0]] - mean).abs() < 1e-6);
        // Without a window the sequence is scored whole.
        m.meta.scoring = Scoring::DeepBind {
            window: None,
            average: false,
        };
        let s = Scorer::new(&m);
        let got = s.score(&[seq]).unwrap()[[0, 0]];
        // 5 bp padded: placements N A, A A, A C, C G, G T, T N = 1.25, 2, 1, 0, 0, 0.25.
        assert!((got - (2.0 + 4.5 / 6.0)).abs() < 1e-6, "{got}");
    }

    #[test]
    fn fast_first_stage_matches_scoring_each_window() {
        let seqs: Vec<&[u8]> = vec![
            b"A",
            b"ACGTACGTAC",
            b"acgtnNNacgtRYacggggtttacgatcgatcgatcgACGTTAGCTAGC",
            b"TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTGCA",
            b"",
            b"GATTACA",
        ];
        let mut case = 0;
        for (d, m) in [(3, 4), (2, 7)] {
            for avg in [false, true] {
                for hidden in [0, 5] {
                    for rc in [false, true] {
                        case += 1;
                        let mut model = random_model(case, d, m, avg, hidden, rc);
                        for window in [None, Some(1), Some(5), Some(12)] {
                            for average in [false, true] {
                                model.meta.scoring = Scoring::DeepBind { window, average };
                                for strand in [Strand::None, Strand::Max, Strand::Mean] {
                                    let s = Scorer::new(&model).with_strand(strand);
                                    let (fast, slow) = both_ways(&s, &seqs);
                                    for (a, b) in fast.iter().zip(&slow) {
                                        assert!(
                                            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                                            "d {d} m {m} avg {avg} hidden {hidden} rc {rc} \
                                             window {window:?} average {average} \
                                             {strand:?}: {fast} vs {slow}"
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Windows are scored on their own; only the matrix kernel's rounding may differ with the
    /// batch's size (as for any model).
    #[test]
    fn scores_do_not_depend_on_the_batch_beyond_rounding() {
        let model = random_model(7, 4, 6, true, 3, true);
        let seqs: Vec<Vec<u8>> = (0..40)
            .map(|i| {
                b"ACGTTGCAAGT"
                    .iter()
                    .cycle()
                    .skip(i)
                    .take(5 + 3 * i)
                    .copied()
                    .collect()
            })
            .collect();
        let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
        let s = Scorer::new(&model);
        let all = s.score(&refs).unwrap();
        for (i, seq) in refs.iter().enumerate() {
            let alone = s.score(&[seq]).unwrap()[[0, 0]];
            let batched = all[[i, 0]];
            assert!(
                (alone - batched).abs() <= 1e-6 * (1.0 + batched.abs()),
                "sequence {i}: {alone} alone, {batched} in the batch"
            );
        }
    }

    #[test]
    fn window_average_needs_a_deepbind_model() {
        let arch = crate::arch::Arch::builtin("deepbind").unwrap();
        let m = Model::new(arch, vec!["t".into()], &mut rng::seeded(1), 1.0).unwrap();
        assert!(Scorer::new(&m).with_window_average(false).is_ok());
        let err = Scorer::new(&m).with_window_average(true).err().unwrap();
        assert!(err.to_string().contains("DeepBind models only"), "{err}");
    }

    #[test]
    fn scoring_is_kept_in_model_files_and_left_out_when_plain() {
        let m = random_model(3, 2, 3, false, 0, true);
        let back = Model::from_bytes(&m.to_bytes().unwrap(), std::path::Path::new("m")).unwrap();
        assert_eq!(back.meta, m.meta);
        let mut plain = m.meta.clone();
        plain.scoring = Scoring::Plain;
        let json = serde_json::to_string(&plain).unwrap();
        assert!(!json.contains("scoring"), "{json}");
        let json = serde_json::to_string(&m.meta).unwrap();
        assert!(
            json.contains(r#""scoring":{"deepbind":{"window":4,"average":false}}"#),
            "{json}"
        );
    }
}
