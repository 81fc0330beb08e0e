//! Scoring: how sequences are presented to a model and its outputs become scores. `predict`,
//! `eval`, training-time validation, saliency, motifs, mutagenesis and variant scoring all score
//! through a [`Scorer`] (several models through an [`Ensemble`] of scorers) and take their inputs
//! from its [`Presentation`], so these rules live here and nowhere else:
//! - [`presentation`]: the strand rule, DeepBind's windows and N padding, their derivative, and
//!   the window rule of genome commands ([`presentation::window_length`]);
//! - [`Scorer`] (this file): batching by length, the output scale ([`to_output`]);
//! - `deepbind`: imported DeepBind models ([`Scoring::DeepBind`]), scored window by window or
//!   with the first stage scanned once per stretch (`tensor::ops::deepbind_scan`);
//! - [`ensemble`]: models scored as one; [`panel`]: models scored side by side.

pub mod ensemble;
pub mod panel;
pub mod precise;
pub mod presentation;

mod deepbind;

pub use ensemble::Ensemble;
pub use panel::Panel;
pub use precise::{OutputKind, Precise};
pub use presentation::{Presentation, resolve_window, window_length};

use crate::arch::LossKind;
use crate::encode::{self, NMode};
use crate::model::{Model, Scoring, Strand};
use crate::{Error, Result};
use ndarray::Array2;

// Inference batch sizes, in one place. None changes a score beyond the matrix kernel's rounding;
// they bound memory and set how much work one forward pass gets.

/// Sequences (or windows) per forward pass: the scorer (`--batch-size` overrides it), filter
/// scans, occluded images.
pub const INFER_BATCH: usize = 256;

/// Images per forward pass when classifying an image set (prediction, evaluation, validation).
pub const IMAGE_BATCH: usize = 512;

/// Sequences read from a data set per scorer call when validating or evaluating (the scorer
/// batches them by [`INFER_BATCH`]).
pub const VALID_CHUNK: usize = 1024;

/// A model plus the rules for presenting sequences to it.
pub struct Scorer<'m> {
    model: &'m Model,
    /// The model's parameters, shared by every batch (made at the first one).
    params: std::sync::OnceLock<Vec<std::sync::Arc<crate::tensor::Array>>>,
    /// DeepBind models: the fast form of the model under this scorer's rules (made at the first
    /// batch; `None` when the network does not have DeepBind's shape).
    fast: std::sync::OnceLock<Option<deepbind::Fast>>,
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
            fast: std::sync::OnceLock::new(),
            strand: model.meta.strand,
            scoring: model.meta.scoring,
            batch_size: INFER_BATCH,
        }
    }

    /// Overrides the strand rule.
    pub fn with_strand(mut self, strand: Strand) -> Self {
        self.strand = strand;
        self.fast = std::sync::OnceLock::new();
        self
    }

    /// The strand rule in force.
    pub fn strand(&self) -> Strand {
        self.strand
    }

    /// The model scored.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// How this scorer presents sequences to the network (strand rule, DeepBind windows).
    pub fn presentation(&self) -> Result<Presentation> {
        Presentation::with(self.model, self.strand, self.scoring)
    }

    /// For DeepBind models, the mean over windows instead of the maximum (`true`) or the
    /// maximum (`false`). Asking a model without windows for the mean is an error.
    pub fn with_window_average(mut self, average: bool) -> Result<Self> {
        match &mut self.scoring {
            Scoring::DeepBind { average: a, .. } => {
                *a = average;
                self.fast = std::sync::OnceLock::new();
            }
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

    /// Whether raw scores and scores on the output scale are the same numbers: DeepBind models
    /// score raw, and regression (`mse`) outputs are the raw outputs.
    pub fn raw_is_output(&self) -> bool {
        !self.scoring.is_plain() || self.model.arch.loss == crate::arch::LossKind::Mse
    }

    /// How this scorer's outputs print: probabilities (plain `bce` and `cross_entropy` models)
    /// or values (DeepBind scores, `mse`, `poisson`).
    pub fn output_kind(&self) -> OutputKind {
        if self.scoring.is_plain() {
            OutputKind::of(self.model.arch.loss)
        } else {
            OutputKind::Value
        }
    }

    /// Raw outputs and outputs on the output scale in `f64` ([`precise`]): probabilities of
    /// strong sites keep their distance from 1, where [`Scorer::score`]'s `f32` rounds them up
    /// to one. The same network passes as [`Scorer::score_raw`] (under `mean`, each strand
    /// scored alone and combined after).
    pub fn score_precise(&self, seqs: &[&[u8]]) -> Result<Precise> {
        let loss = self.model.arch.loss;
        if !self.scoring.is_plain() {
            let raw = self.score_raw(seqs)?;
            let out = raw.mapv(f64::from);
            return Ok(Precise {
                raw,
                out,
                kind: self.output_kind(),
            });
        }
        match self.strand {
            Strand::Mean => {
                self.params.get_or_init(|| self.model.shared_params());
                let one = self.one_strand();
                let fwd = one.score_raw(seqs)?;
                let rc: Vec<Vec<u8>> = seqs.iter().map(|s| encode::reverse_complement(s)).collect();
                let rc_refs: Vec<&[u8]> = rc.iter().map(|s| s.as_slice()).collect();
                let rev = one.score_raw(&rc_refs)?;
                Ok(precise::combine(loss, Strand::Mean, fwd, Some(rev)))
            }
            Strand::None | Strand::Max => Ok(precise::combine(
                loss,
                Strand::None,
                self.score_raw(seqs)?,
                None,
            )),
        }
    }

    /// This scorer with strand rule `none`, sharing the parameters.
    pub(crate) fn one_strand(&self) -> Scorer<'m> {
        Scorer {
            model: self.model,
            params: self.params.clone(),
            fast: std::sync::OnceLock::new(),
            strand: Strand::None,
            scoring: self.scoring,
            batch_size: self.batch_size,
        }
    }

    fn score_scaled(&self, seqs: &[&[u8]], raw: bool) -> Result<Array2<f32>> {
        let pres = self.presentation()?;
        if !self.scoring.is_plain() {
            return self.score_deepbind(seqs, &pres);
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
                let y = self.score_same_length(&batch, &pres, raw)?;
                for (row, &i) in chunk.iter().enumerate() {
                    out.row_mut(i).assign(&y.row(row));
                }
            }
        }
        Ok(out)
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

    /// Sequences of one length, each an input of the network as it is, under the strand rule.
    fn score_same_length(
        &self,
        seqs: &[&[u8]],
        pres: &Presentation,
        raw: bool,
    ) -> Result<Array2<f32>> {
        let loss = self.model.arch.loss;
        let fwd = self.forward(seqs)?;
        let rev = if pres.both_strands() {
            let rc: Vec<Vec<u8>> = seqs.iter().map(|s| encode::reverse_complement(s)).collect();
            let rc_refs: Vec<&[u8]> = rc.iter().map(|s| s.as_slice()).collect();
            Some(self.forward(&rc_refs)?)
        } else {
            None
        };
        Ok(pres.combine(fwd, rev, |y| if raw { y } else { to_output(loss, y) }))
    }
}

/// Raw outputs to the output scale of a loss.
pub fn to_output(loss: LossKind, raw: Array2<f32>) -> Array2<f32> {
    match loss {
        LossKind::Bce => raw.mapv(crate::tensor::sigmoid),
        LossKind::Poisson => raw.mapv(f32::exp),
        LossKind::Mse => raw,
        LossKind::CrossEntropy => crate::tensor::ops::loss::softmax_rows(raw),
    }
}
