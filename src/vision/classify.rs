//! What a trained image classifier makes of an image set: raw outputs and class probabilities
//! for every image (`predict`), and loss, accuracy, per-class accuracy and confusion matrix
//! against the labels (`eval`, and validation while training).

use super::dataset::{ImageSet, Preprocess};
use crate::arch::LossKind;
use crate::metrics;
use crate::model::Model;
use crate::score::to_output;
use crate::{Error, Result};

/// Images scored or evaluated at a time.
const CHUNK: usize = crate::score::IMAGE_BATCH;

/// Class probabilities `[N, classes]` (softmax of the outputs) of every image in `set`.
pub fn predict_probs(model: &Model, set: &ImageSet) -> Result<ndarray::Array2<f32>> {
    let raw = predict_logits(model, set)?;
    Ok(to_output(LossKind::CrossEntropy, raw))
}

/// Raw network outputs `[N, outputs]` of every image in `set`, a chunk at a time.
pub fn predict_logits(model: &Model, set: &ImageSet) -> Result<ndarray::Array2<f32>> {
    set.check_fits(&model.arch)?;
    let pre = Preprocess::from_input(&model.arch.input);
    let k = model.meta.tasks.len();
    let mut out = ndarray::Array2::<f32>::zeros((set.len(), k));
    let all: Vec<usize> = (0..set.len()).collect();
    let params = model.shared_params();
    for (ci, chunk) in all.chunks(CHUNK).enumerate() {
        let y = model.predict_shared(&params, set.inputs(chunk, &pre))?;
        let y = y
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(|_| Error::Config("the model's output is not [N, classes]".into()))?;
        out.slice_mut(ndarray::s![ci * CHUNK..ci * CHUNK + chunk.len(), ..])
            .assign(&y);
    }
    Ok(out)
}

/// A classifier's figures on a labelled image set.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassEval {
    /// Mean softmax cross-entropy.
    pub loss: f64,
    pub accuracy: f64,
    /// Accuracy within each true class (`None` for a class with no images).
    pub per_class: Vec<Option<f64>>,
    /// `confusion[truth][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    pub n: usize,
}

/// Loss, accuracy, per-class accuracy and confusion matrix of `model` on `set`.
pub fn evaluate(model: &Model, set: &ImageSet) -> Result<ClassEval> {
    let logits = predict_logits(model, set)?;
    let k = logits.ncols();
    let truth = set.labels();
    if truth.len() != set.len() {
        return Err(Error::Config(format!(
            "{}: evaluation needs labels",
            set.origin.display()
        )));
    }
    if let Some(&bad) = truth.iter().find(|&&t| t >= k) {
        return Err(Error::parse(
            crate::io::input::input_name(&set.origin),
            0,
            format!(
                "label {bad} is not a class of the model ({k} classes: 0 to {})",
                k - 1
            ),
        ));
    }
    let (loss, _) =
        crate::tensor::ops::loss::softmax_cross_entropy(logits.view().into_dyn(), truth)?;
    let pred: Vec<usize> = logits
        .rows()
        .into_iter()
        .map(|r| metrics::argmax(r.as_slice().unwrap_or(&r.to_vec())).unwrap_or(0))
        .collect();
    let confusion = metrics::confusion(&pred, truth, k);
    let per_class = confusion
        .iter()
        .enumerate()
        .map(|(c, row)| {
            let total: u64 = row.iter().sum();
            (total > 0).then(|| row[c] as f64 / total as f64)
        })
        .collect();
    Ok(ClassEval {
        loss: loss as f64,
        accuracy: metrics::accuracy(&pred, truth).unwrap_or(0.0),
        per_class,
        confusion,
        n: set.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one() {
        let p = to_output(
            LossKind::CrossEntropy,
            ndarray::array![[1000.0f32, 1000.0], [0.0, 1.0]],
        );
        assert_eq!(p[[0, 0]], 0.5);
        assert!((p.row(1).sum() - 1.0).abs() < 1e-6);
    }
}
