//! Evaluation metrics: AUROC (Mann-Whitney with mid-ranks), AUPRC as sklearn's average
//! precision, accuracy and confusion matrices.
//!
//! Binary labels are `f32`: a label of at least 0.5 is a positive, below 0.5 a negative, and a
//! NaN label (missing, as the table reader writes it) drops that example. A NaN *score* on a
//! kept example makes the result NaN, so a model that diverged is not hidden.

use std::cmp::Ordering;

/// The (score, is-positive) pairs with a known label, or `Err(())` if a kept score is NaN.
fn labelled(scores: &[f32], labels: &[f32]) -> Option<Result<Vec<(f32, bool)>, ()>> {
    if scores.len() != labels.len() {
        return None;
    }
    let mut out = Vec::with_capacity(scores.len());
    for (&s, &y) in scores.iter().zip(labels) {
        if y.is_nan() {
            continue;
        }
        if s.is_nan() {
            return Some(Err(()));
        }
        out.push((s, y >= 0.5));
    }
    Some(Ok(out))
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative, ties counting one half (Mann-Whitney U with mid-ranks; equal to sklearn's
/// `roc_auc_score`). `None` if the lengths differ or either class is absent.
///
/// ```
/// use seqcnn::metrics::auroc;
/// assert_eq!(auroc(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0]), Some(0.75));
/// assert_eq!(auroc(&[0.1, 0.4], &[1.0, 1.0]), None);
/// ```
pub fn auroc(scores: &[f32], labels: &[f32]) -> Option<f64> {
    let mut pairs = match labelled(scores, labels)? {
        Ok(p) => p,
        Err(()) => return Some(f64::NAN),
    };
    let n_pos = pairs.iter().filter(|p| p.1).count();
    let n_neg = pairs.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the (1-based, mid-) ranks of the positives.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j share the mid-rank.
        let mid = (i + 1 + j) as f64 / 2.0;
        let pos_in_group = pairs[i..j].iter().filter(|p| p.1).count();
        rank_sum += mid * pos_in_group as f64;
        i = j;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    let u = rank_sum - p * (p + 1.0) / 2.0;
    Some(u / (p * n))
}

/// Average precision, exactly as sklearn's `average_precision_score`: the precision-recall step
/// function summed over thresholds, `sum_k (R_k - R_{k-1}) P_k`, with tied scores making one
/// threshold. `None` if the lengths differ or there is no positive; all positives gives 1.
///
/// ```
/// use seqcnn::metrics::auprc;
/// let ap = auprc(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0]).unwrap();
/// assert!((ap - 5.0 / 6.0).abs() < 1e-12);
/// ```
pub fn auprc(scores: &[f32], labels: &[f32]) -> Option<f64> {
    let mut pairs = match labelled(scores, labels)? {
        Ok(p) => p,
        Err(()) => return Some(f64::NAN),
    };
    let n_pos = pairs.iter().filter(|p| p.1).count();
    if n_pos == 0 {
        return None;
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut prev_recall = 0.0f64;
    let mut ap = 0.0f64;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            if pairs[j].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            j += 1;
        }
        let recall = tp as f64 / n_pos as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
        i = j;
    }
    Some(ap)
}

/// Fraction of `pred` equal to `truth`. `None` if empty or the lengths differ.
///
/// ```
/// assert_eq!(seqcnn::metrics::accuracy(&[0, 2, 1, 1], &[0, 2, 2, 1]), Some(0.75));
/// ```
pub fn accuracy(pred: &[usize], truth: &[usize]) -> Option<f64> {
    if pred.is_empty() || pred.len() != truth.len() {
        return None;
    }
    let right = pred.iter().zip(truth).filter(|(p, t)| p == t).count();
    Some(right as f64 / pred.len() as f64)
}

/// Accuracy of binary calls `score > threshold` against labels (NaN labels skipped; see the
/// module doc for label and NaN-score rules). `None` if the lengths differ or no label is known.
///
/// ```
/// use seqcnn::metrics::binary_accuracy;
/// assert_eq!(binary_accuracy(&[0.9, 0.2, 0.6, 0.5], &[1.0, 0.0, 0.0, f32::NAN], 0.5), Some(2.0 / 3.0));
/// ```
pub fn binary_accuracy(scores: &[f32], labels: &[f32], threshold: f32) -> Option<f64> {
    let pairs = match labelled(scores, labels)? {
        Ok(p) => p,
        Err(()) => return Some(f64::NAN),
    };
    if pairs.is_empty() {
        return None;
    }
    let right = pairs.iter().filter(|(s, y)| (*s > threshold) == *y).count();
    Some(right as f64 / pairs.len() as f64)
}

/// Confusion matrix `m[truth][pred]` (rows true class, columns predicted, as sklearn) over `k`
/// classes. Pairs with a class `>= k` are not counted (so the total tells if any were dropped);
/// extra entries of the longer slice are ignored.
///
/// ```
/// let m = seqcnn::metrics::confusion(&[0, 1, 1, 2], &[0, 1, 2, 2], 3);
/// assert_eq!(m, vec![vec![1, 0, 0], vec![0, 1, 0], vec![0, 1, 1]]);
/// ```
pub fn confusion(pred: &[usize], truth: &[usize], k: usize) -> Vec<Vec<u64>> {
    let mut m = vec![vec![0u64; k]; k];
    for (&p, &t) in pred.iter().zip(truth) {
        if p < k && t < k {
            m[t][p] += 1;
        }
    }
    m
}

/// Index of the largest value (first on ties; NaN never wins). `None` for an empty slice or all
/// NaN: the predicted class of a row of scores.
///
/// ```
/// assert_eq!(seqcnn::metrics::argmax(&[0.1, 0.7, 0.2, 0.7]), Some(1));
/// ```
pub fn argmax(xs: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &x) in xs.iter().enumerate() {
        if x.is_nan() {
            continue;
        }
        match best {
            Some((_, b)) if x.partial_cmp(&b) != Some(Ordering::Greater) => {}
            _ => best = Some((i, x)),
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn auroc_and_ap_sklearn_doc_example() {
        // sklearn docs: scores [0.1, 0.4, 0.35, 0.8], labels [0, 0, 1, 1].
        // AUROC by hand: positive 0.35 beats 0.1 but not 0.4; 0.8 beats both: 3 of 4 pairs.
        // AP by hand, scores descending: 0.8 (+) R=1/2 P=1 -> 1/2; 0.4 (-) R unchanged -> 0;
        // 0.35 (+) R=1 P=2/3 -> 1/2 * 2/3 = 1/3; 0.1 (-) -> 0. AP = 5/6.
        let s = [0.1, 0.4, 0.35, 0.8];
        let y = [0.0, 0.0, 1.0, 1.0];
        assert!(close(auroc(&s, &y), 0.75));
        assert!(close(auprc(&s, &y), 5.0 / 6.0));
    }

    #[test]
    fn ties_use_mid_ranks_and_one_threshold() {
        // scores [0.5, 0.5, 0.5, 0.9, 0.1], labels [1, 0, 0, 1, 0]: P=2, N=3.
        // AUROC: ascending 0.1 (rank 1), three 0.5 (ranks 2,3,4 -> mid 3), 0.9 (rank 5).
        // Positive ranks 3 + 5 = 8; U = 8 - 2*3/2 = 5; AUROC = 5 / (2*3) = 5/6.
        // (Pairs: 0.9 beats all 3; 0.5 ties two negatives (1/2 each) and beats 0.1: 3 + 2 = 5.)
        // AP: 0.9 (+) R=1/2 P=1 -> 1/2; the 0.5 group together: tp=2 fp=2, R=1 P=1/2 -> 1/4;
        // 0.1 -> 0. AP = 3/4. (Splitting the tie with the positive first would give 5/6.)
        let s = [0.5, 0.5, 0.5, 0.9, 0.1];
        let y = [1.0, 0.0, 0.0, 1.0, 0.0];
        assert!(close(auroc(&s, &y), 5.0 / 6.0));
        assert!(close(auprc(&s, &y), 0.75));
        // All scores tied: AUROC 1/2, AP = prevalence.
        assert!(close(auroc(&[0.3; 3], &[1.0, 0.0, 0.0]), 0.5));
        assert!(close(auprc(&[0.3; 3], &[1.0, 0.0, 0.0]), 1.0 / 3.0));
        // -0.0 and 0.0 are one threshold.
        assert!(close(auroc(&[-0.0, 0.0], &[1.0, 0.0]), 0.5));
    }

    #[test]
    fn matches_sklearn_on_many_ties() {
        // Generated with scikit-learn 1.9.1:
        //   import numpy as np
        //   from sklearn.metrics import roc_auc_score, average_precision_score
        //   rng = np.random.default_rng(0)
        //   y = rng.integers(0, 2, 20)
        //   s = np.round(rng.random(20) * 4) / 4   # quarter steps: many ties
        //   print(list(y), list(s), repr(roc_auc_score(y, s)), repr(average_precision_score(y, s)))
        let y = [
            1., 1., 1., 0., 0., 0., 0., 0., 0., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.,
        ];
        let s = [
            0.75, 0.0, 0.75, 0.0, 0.75, 0.25, 0.75, 0.5, 0.25, 0.5, 0.0, 0.0, 0.75, 0.75, 0.5, 0.5,
            1.0, 1.0, 0.75, 0.75,
        ];
        assert!(close(auroc(&s, &y), 0.6428571428571428));
        assert!(close(auprc(&s, &y), 0.8040816326530613));
    }

    #[test]
    fn perfect_inverse_and_degenerate() {
        assert!(close(auroc(&[0.9, 0.8, 0.1], &[1.0, 1.0, 0.0]), 1.0));
        assert!(close(auroc(&[0.1, 0.2, 0.9], &[1.0, 1.0, 0.0]), 0.0));
        assert!(close(auprc(&[0.9, 0.8, 0.1], &[1.0, 1.0, 0.0]), 1.0));
        // One class absent.
        assert_eq!(auroc(&[0.1, 0.2], &[0.0, 0.0]), None);
        assert_eq!(auroc(&[0.1, 0.2], &[1.0, 1.0]), None);
        assert_eq!(auprc(&[0.1, 0.2], &[0.0, 0.0]), None);
        // No negatives: sklearn gives 1.0.
        assert!(close(auprc(&[0.2, 0.7], &[1.0, 1.0]), 1.0));
        assert_eq!(auroc(&[], &[]), None);
        assert_eq!(auprc(&[], &[]), None);
        assert_eq!(auroc(&[0.1], &[1.0, 0.0]), None);
    }

    #[test]
    fn nan_labels_skipped_nan_scores_poison() {
        let s = [0.1, 0.4, 0.35, 0.8, 0.99];
        let y = [0.0, 0.0, 1.0, 1.0, f32::NAN];
        assert!(close(auroc(&s, &y), 0.75));
        assert!(close(auprc(&s, &y), 5.0 / 6.0));
        // A NaN score under a NaN label is dropped with it.
        let s2 = [0.1, 0.4, 0.35, 0.8, f32::NAN];
        assert!(close(auroc(&s2, &y), 0.75));
        // A NaN score on a labelled example gives NaN.
        let s3 = [f32::NAN, 0.4, 0.35, 0.8];
        assert!(auroc(&s3, &y[..4]).unwrap().is_nan());
        assert!(auprc(&s3, &y[..4]).unwrap().is_nan());
        assert!(binary_accuracy(&s3, &y[..4], 0.5).unwrap().is_nan());
    }

    #[test]
    fn accuracy_and_confusion() {
        // pred [0,1,1,2,2,0], truth [0,1,2,2,1,0]: right at 0,1,3,5 -> 4/6.
        let pred = [0, 1, 1, 2, 2, 0];
        let truth = [0, 1, 2, 2, 1, 0];
        assert!(close(accuracy(&pred, &truth), 4.0 / 6.0));
        assert_eq!(accuracy(&[], &[]), None);
        assert_eq!(accuracy(&[1], &[1, 2]), None);
        // Rows truth, columns pred: truth 0 -> pred 0 twice; truth 1 -> pred 1, pred 2;
        // truth 2 -> pred 1, pred 2.
        let m = confusion(&pred, &truth, 3);
        assert_eq!(m, vec![vec![2, 0, 0], vec![0, 1, 1], vec![0, 1, 1]]);
        let diag: u64 = (0..3).map(|i| m[i][i]).sum();
        assert_eq!(diag, 4);
        // Out-of-range classes are not counted.
        let m = confusion(&[0, 5], &[0, 1], 2);
        assert_eq!(m, vec![vec![1, 0], vec![0, 0]]);
    }

    #[test]
    fn binary_accuracy_threshold_is_strict() {
        // 0.5 is not above 0.5: called negative.
        assert!(close(binary_accuracy(&[0.5, 0.51], &[0.0, 1.0], 0.5), 1.0));
        assert_eq!(binary_accuracy(&[0.5], &[f32::NAN], 0.5), None);
    }

    #[test]
    fn argmax_rules() {
        assert_eq!(argmax(&[]), None);
        assert_eq!(argmax(&[f32::NAN]), None);
        assert_eq!(argmax(&[f32::NAN, -1.0, 3.0, 3.0]), Some(2));
        assert_eq!(argmax(&[2.0, f32::NAN, 1.0]), Some(0));
    }
}
