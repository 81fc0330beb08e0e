//! How sequences are presented to a model: strand rule (forward only, mean or max over both
//! strands) and batching by length. `predict`, `eval` and training-time validation all score
//! through a [`Scorer`], so these rules live here and nowhere else.

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

/// A model plus the rules for presenting sequences to it.
pub struct Scorer<'m> {
    model: &'m Model,
    strand: Strand,
    batch_size: usize,
}

impl<'m> Scorer<'m> {
    /// A scorer with the model's own strand rule.
    pub fn new(model: &'m Model) -> Self {
        Scorer {
            model,
            strand: model.meta.strand,
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

    /// Outputs `[n, tasks]` on the output scale: probabilities for `bce`, rates for `poisson`,
    /// class probabilities for `cross_entropy`, values for `mse`. Under `max` the strand with the
    /// larger raw score is taken; under `mean` the outputs are averaged.
    pub fn score(&self, seqs: &[&[u8]]) -> Result<Array2<f32>> {
        self.score_scaled(seqs, false)
    }

    /// Raw network outputs `[n, tasks]` (logits for `bce`; DeepBind's score for imported
    /// DeepBind models). Under `mean` the raw values of both strands are averaged.
    pub fn score_raw(&self, seqs: &[&[u8]]) -> Result<Array2<f32>> {
        self.score_scaled(seqs, true)
    }

    fn score_scaled(&self, seqs: &[&[u8]], raw: bool) -> Result<Array2<f32>> {
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
        self.model
            .predict_raw(x.into_dyn())?
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
