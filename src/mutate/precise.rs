//! Mutagenesis scores for the table: raw scores and scores on the output scale in `f64`
//! ([`crate::score::precise`]), so the mutants of a saturated site print their probabilities
//! and differences with their digits instead of `1` and `0`. One pass of raw scoring under the
//! `none` and `max` strand rules (the output map is monotone); under `mean`, each strand is
//! mutated alone and the strands' outputs averaged after, as the scorer averages them.

use ndarray::Array2;

use super::{FastIsm, IsmScores, naive_ism};
use crate::Result;
use crate::encode::reverse_complement;
use crate::model::Strand;
use crate::score::Scorer;
use crate::score::precise::{self, OutputKind};

/// Raw mutagenesis scores and the same on the output scale.
#[derive(Clone, Debug)]
pub struct PreciseIsm {
    /// Raw scores (logits for `bce` models), as `naive_ism(.., raw = true, ..)` gives them.
    pub raw: IsmScores,
    /// shape: [tasks]: the unmutated sequence on the output scale.
    pub reference: Vec<f64>,
    /// shape: [mutations, tasks]: each mutant on the output scale.
    pub mutants: Array2<f64>,
    /// How the outputs print.
    pub kind: OutputKind,
}

impl PreciseIsm {
    /// The output-scale scores as `f32` [`IsmScores`] (for drawing).
    pub fn output(&self) -> IsmScores {
        IsmScores {
            mutations: self.raw.mutations.clone(),
            reference: self.reference.iter().map(|&v| v as f32).collect(),
            mutants: self.mutants.mapv(|v| v as f32),
        }
    }
}

/// Saturation mutagenesis of `seq` with raw and output-scale scores, through `fast` where it
/// handles the sequence, else [`naive_ism`].
pub fn precise_ism(
    fast: Option<&FastIsm>,
    scorer: &Scorer,
    seq: &[u8],
    batch: usize,
) -> Result<PreciseIsm> {
    let ism = |scorer: &Scorer, seq: &[u8]| -> Result<IsmScores> {
        if let Some(f) = fast
            && let Some(ism) = f.run(scorer, seq, true, batch)?
        {
            return Ok(ism);
        }
        naive_ism(scorer, seq, true, batch)
    };
    let kind = scorer.output_kind();
    let loss = scorer.model().arch.loss;
    let row = |v: &[f32]| Array2::from_shape_vec((1, v.len()), v.to_vec()).unwrap_or_default();
    if scorer.raw_is_output() {
        let raw = ism(scorer, seq)?;
        return Ok(PreciseIsm {
            reference: raw.reference.iter().map(|&v| v.into()).collect(),
            mutants: raw.mutants.mapv(f64::from),
            raw,
            kind,
        });
    }
    if scorer.strand() != Strand::Mean {
        let raw = ism(scorer, seq)?;
        let reference = precise::output64(loss, &row(&raw.reference))
            .into_raw_vec_and_offset()
            .0;
        let mutants = precise::output64(loss, &raw.mutants);
        return Ok(PreciseIsm {
            raw,
            reference,
            mutants,
            kind,
        });
    }
    // Mean of both strands: each strand alone, its mutants matched by position and base.
    let one = scorer.one_strand();
    let fwd = ism(&one, seq)?;
    let rc = reverse_complement(seq);
    let rev = ism(&one, &rc)?;
    let len = seq.len();
    let index: std::collections::HashMap<(usize, u8), usize> = rev
        .mutations
        .iter()
        .enumerate()
        .map(|(i, m)| ((m.pos, m.alt), i))
        .collect();
    let mut rev_mutants = Array2::<f32>::zeros(fwd.mutants.raw_dim());
    for (i, m) in fwd.mutations.iter().enumerate() {
        let alt = reverse_complement(&[m.alt])[0];
        if let Some(&j) = index.get(&(len - 1 - m.pos, alt)) {
            rev_mutants.row_mut(i).assign(&rev.mutants.row(j));
        }
    }
    let r = precise::combine(
        loss,
        Strand::Mean,
        row(&fwd.reference),
        Some(row(&rev.reference)),
    );
    let m = precise::combine(loss, Strand::Mean, fwd.mutants, Some(rev_mutants));
    Ok(PreciseIsm {
        raw: IsmScores {
            mutations: fwd.mutations,
            reference: r.raw.into_raw_vec_and_offset().0,
            mutants: m.raw,
        },
        reference: r.out.into_raw_vec_and_offset().0,
        mutants: m.out,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::model::Model;
    use crate::rng;

    /// DeepBind's shape with two sigmoid tasks, the output biases raised by `shift` so the
    /// logits sit near `shift` (saturated for 25).
    fn model(shift: f32) -> Model {
        let arch = Arch::builtin("deepbind").unwrap();
        let mut m =
            Model::new(arch, vec!["a".into(), "b".into()], &mut rng::seeded(3), 1.0).unwrap();
        let last = m.params.len() - 1;
        m.params[last].mapv_inplace(|b| b + shift);
        m
    }

    const SEQ: &[u8] = b"ACGTTGCAGGCTTACCGATAGCCGTAAGCTTGACNCGTAGGCATGC";

    #[test]
    fn saturated_mutants_keep_their_probabilities_under_every_strand_rule() {
        let m = model(25.0);
        let fast = FastIsm::new(&m).unwrap();
        for strand in [Strand::None, Strand::Max, Strand::Mean] {
            let scorer = Scorer::new(&m).with_strand(strand);
            assert_eq!(scorer.score(&[SEQ]).unwrap()[[0, 0]], 1.0, "f32 saturates");
            for f in [fast.as_ref(), None] {
                let p = precise_ism(f, &scorer, SEQ, 17).unwrap();
                assert_eq!(p.kind, OutputKind::Probability);
                // Raw scores are what the raw pass of that strand rule gives.
                let raw = naive_ism(&scorer, SEQ, true, 64).unwrap();
                assert_eq!(p.raw.mutations, raw.mutations);
                for (a, b) in p.raw.reference.iter().zip(&raw.reference) {
                    assert!((a - b).abs() <= 1e-5 * b.abs(), "{strand:?}: {a} vs {b}");
                }
                for (a, b) in p.raw.mutants.iter().zip(raw.mutants.iter()) {
                    assert!((a - b).abs() <= 1e-5 * b.abs(), "{strand:?}: {a} vs {b}");
                }
                // Probabilities below 1 that print below 1, differences that follow the logits.
                for &r in &p.reference {
                    assert!(r < 1.0 && r > 0.999_999_99, "{strand:?}: {r}");
                    let shown = p.kind.show(r).to_string();
                    assert!(
                        shown.starts_with("0.99999999") && shown.len() > 12,
                        "{shown}"
                    );
                }
                let mut moved = 0;
                for (i, row) in p.mutants.rows().into_iter().enumerate() {
                    for t in 0..2 {
                        let d = row[t] - p.reference[t];
                        let l = p.raw.mutants[[i, t]] - p.raw.reference[t];
                        if l.abs() > 0.01 {
                            assert_eq!(d.signum(), f64::from(l).signum(), "{strand:?} {i}");
                            moved += 1;
                        }
                    }
                }
                assert!(moved > 20, "{strand:?}: {moved} mutants move the score");
            }
        }
    }

    #[test]
    fn unsaturated_scores_equal_the_scorers_output_scale() {
        let m = model(0.0);
        for strand in [Strand::None, Strand::Max, Strand::Mean] {
            let scorer = Scorer::new(&m).with_strand(strand);
            let p = precise_ism(FastIsm::new(&m).unwrap().as_ref(), &scorer, SEQ, 64).unwrap();
            let ism = naive_ism(&scorer, SEQ, false, 64).unwrap();
            for (a, b) in p.mutants.iter().zip(ism.mutants.iter()) {
                assert!((a - f64::from(*b)).abs() < 1e-6, "{strand:?}: {a} vs {b}");
            }
            let seqs: [&[u8]; 2] = [SEQ, &SEQ[3..40]];
            let precise = scorer.score_precise(&seqs).unwrap();
            assert_eq!(precise.raw, scorer.score_raw(&seqs).unwrap(), "{strand:?}");
            let out = scorer.score(&seqs).unwrap();
            for (a, b) in precise.out.iter().zip(out.iter()) {
                assert!((a - f64::from(*b)).abs() < 1e-6, "{strand:?}: {a} vs {b}");
            }
        }
    }
}
