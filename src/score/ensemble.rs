//! Models scored as one (`--model` repeated): the members' mean output.

use ndarray::Array2;

use super::Scorer;
use crate::model::Model;
use crate::{Error, Result};

/// Checks that `models` can form an ensemble: at least one, all with the same tasks and loss, and
/// imported DeepBind models only with each other (their scores are raw, never probabilities).
fn check_ensemble(models: &[&Model]) -> Result<()> {
    let model = models
        .first()
        .ok_or_else(|| Error::Config("an ensemble needs at least one model".into()))?;
    for other in &models[1..] {
        if other.meta.tasks != model.meta.tasks {
            return Err(Error::Config(format!(
                "ensemble members must share their tasks: {} against {}",
                other.meta.tasks.join(","),
                model.meta.tasks.join(",")
            )));
        }
        if other.arch.loss != model.arch.loss {
            return Err(Error::Config(format!(
                "ensemble members must share their loss: {} against {}",
                other.arch.loss, model.arch.loss
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

    /// The one member of an ensemble of one.
    pub(super) fn only(&self) -> Option<&Scorer<'m>> {
        match self.members.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// The first member's model; tasks and loss are the same for all.
    pub fn model(&self) -> &'m Model {
        self.members[0].model
    }

    /// The window length every member reads from a genome: each member's input length, or
    /// `window` (`--window`) for members that take any length ([`super::window_length`]); an
    /// error when members would read windows of different lengths.
    pub fn window(&self, window: Option<usize>) -> Result<usize> {
        let length = |m: &Scorer| super::window_length(m.model, "the model", window);
        let first = length(&self.members[0])?;
        for member in &self.members[1..] {
            let other = length(member)?;
            if other != first {
                return Err(Error::Config(format!(
                    "ensemble members must read windows of one length: {first} bp and {other} bp"
                )));
            }
        }
        Ok(first)
    }

    /// Whether every member scores sequences as given (strand rule `none`), so that the strand
    /// of an interval decides which strand is read.
    pub fn single_strand(&self) -> bool {
        self.members
            .iter()
            .all(|m| m.strand() == crate::model::Strand::None)
    }

    /// The members' mean output `[n, tasks]` on the output scale (see [`Scorer::score`]).
    pub fn score(&self, seqs: &[&[u8]]) -> Result<Array2<f32>> {
        self.mean(|m| m.score(seqs))
    }

    /// The members' mean output `[n, tasks]` on the output scale in `f64` (see
    /// [`Scorer::score_precise`]): saturated probabilities keep their distance from 1.
    pub fn score_precise(&self, seqs: &[&[u8]]) -> Result<Array2<f64>> {
        let mut sum = self.members[0].score_precise(seqs)?.out;
        for member in &self.members[1..] {
            sum += &member.score_precise(seqs)?.out;
        }
        if self.members.len() > 1 {
            sum /= self.members.len() as f64;
        }
        Ok(sum)
    }

    /// How the outputs print (see [`Scorer::output_kind`]); members share the model's shape.
    pub fn output_kind(&self) -> crate::score::OutputKind {
        self.members[0].output_kind()
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
mod tests {
    use super::*;
    use crate::model::Scoring;
    use crate::score::deepbind::tests::random_model;

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
}
