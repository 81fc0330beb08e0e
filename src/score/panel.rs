//! Models scored side by side over one input, as DeepBind's own tool does (`deepbind
//! example.ids < example.seq`: one column per model): each member is a model (or an ensemble)
//! with its own strand and window rules, and its outputs become columns, named `ID` for a
//! single-task model and `ID:TASK` otherwise. A panel of one member is that member as it is,
//! its columns named after its tasks.

use ndarray::{Array2, Axis};

use super::{Ensemble, OutputKind, Scorer, deepbind};
use crate::model::Model;
use crate::{Error, Result};

/// Members scored over the same sequences, their outputs side by side.
pub struct Panel<'m> {
    members: Vec<Ensemble<'m>>,
    columns: Vec<String>,
}

impl<'m> Panel<'m> {
    /// One member (a model, or an ensemble scored as one): the columns are its tasks.
    pub fn single(member: Ensemble<'m>) -> Self {
        Panel {
            columns: member.model().meta.tasks.clone(),
            members: vec![member],
        }
    }

    /// `(id, scorer)` members side by side, in the order given. Two members with one ID are an
    /// error (their columns would share a name).
    pub fn side_by_side(members: Vec<(String, Scorer<'m>)>) -> Result<Self> {
        let mut columns = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        let mut scorers = Vec::with_capacity(members.len());
        for (id, scorer) in members {
            if ids.contains(&id) {
                return Err(Error::Config(format!(
                    "model {id} is given twice: each model scores once, in its own column"
                )));
            }
            columns.extend(column_names(&id, scorer.model()));
            ids.push(id);
            scorers.push(Ensemble::new(vec![scorer])?);
        }
        if scorers.is_empty() {
            return Err(Error::Config("no models to score".into()));
        }
        Ok(Panel {
            members: scorers,
            columns,
        })
    }

    /// The output columns, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Outputs `[n, columns]`: raw network outputs with `raw`, else on each member's output
    /// scale made in `f64` from the raw outputs (see [`Scorer::score_precise`]), so saturated
    /// probabilities keep their distance from 1. Imported DeepBind members (alone in their
    /// column, not in an ensemble) score together ([`deepbind::score_fast`]): the sequences are
    /// read once for all of them and one parallel loop runs over members and sequences.
    pub fn score(&self, seqs: &[&[u8]], raw: bool) -> Result<Array2<f64>> {
        let fast: Vec<(usize, &Scorer)> = self
            .members
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.only().filter(|s| s.fast().is_some()).map(|s| (i, s)))
            .collect();
        let mut together = if fast.is_empty() {
            Vec::new()
        } else {
            let scorers: Vec<&Scorer> = fast.iter().map(|&(_, s)| s).collect();
            deepbind::score_fast(&scorers, seqs)?
        }
        .into_iter();
        let mut fast = fast.iter().map(|&(i, _)| i).peekable();
        let parts: Vec<Array2<f64>> =
            self.members
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    if fast.next_if_eq(&i).is_some() {
                        // DeepBind scores are raw on either scale.
                        return together.next().map(|s| s.mapv(f64::from)).ok_or_else(|| {
                            Error::Config("a DeepBind member without scores".into())
                        });
                    }
                    if raw {
                        Ok(m.score_raw(seqs)?.mapv(f64::from))
                    } else {
                        m.score_precise(seqs)
                    }
                })
                .collect::<Result<_>>()?;
        if parts.len() == 1 {
            return Ok(parts.into_iter().next().unwrap_or_default());
        }
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(Axis(1), &views)
            .map_err(|e| Error::shape("side-by-side scores", e.to_string()))
    }

    /// How each column prints: raw scores as values, else each member's
    /// [`Scorer::output_kind`].
    pub fn kinds(&self, raw: bool) -> Vec<OutputKind> {
        self.members
            .iter()
            .flat_map(|m| {
                let kind = if raw {
                    OutputKind::Value
                } else {
                    m.output_kind()
                };
                std::iter::repeat_n(kind, m.model().meta.tasks.len())
            })
            .collect()
    }

    /// The window every member reads from a genome ([`Ensemble::window`]); members that would
    /// read windows of different lengths are an error.
    pub fn window(&self, window: Option<usize>) -> Result<usize> {
        let first = self.members[0].window(window)?;
        for m in &self.members[1..] {
            let other = m.window(window)?;
            if other != first {
                return Err(Error::Config(format!(
                    "models scored side by side on a genome must read windows of one length: {first} bp and {other} bp (give --window for models of any length)"
                )));
            }
        }
        Ok(first)
    }

    /// Whether every member scores sequences as given (strand rule `none`).
    pub fn single_strand(&self) -> bool {
        self.members.iter().all(|m| m.single_strand())
    }
}

/// The columns of model `id`: `ID` for one task, `ID:TASK` for each of several.
fn column_names(id: &str, model: &Model) -> Vec<String> {
    match model.meta.tasks.as_slice() {
        [_] => vec![id.to_string()],
        tasks => tasks.iter().map(|t| format!("{id}:{t}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::deepbind::tests::random_model;

    /// DeepBind members scored together (one encoding, one parallel loop) give each member's
    /// scores alone, bit for bit, beside a plain model and an ensemble, whatever the batch.
    #[test]
    fn deepbind_members_together_score_as_alone() {
        let models: Vec<Model> = (0..5)
            .map(|i| {
                random_model(
                    40 + i,
                    3 + i as usize,
                    4 + i as usize,
                    i % 2 == 0,
                    3 * (i as usize % 2),
                    i < 3,
                )
            })
            .collect();
        let arch = crate::arch::Arch::builtin("deepbind").unwrap();
        let plain = Model::new(arch, vec!["p".into()], &mut crate::rng::seeded(3), 1.0).unwrap();
        let seqs: Vec<Vec<u8>> = (0..30)
            .map(|i| {
                b"ACGTTGCAAGTNCA"
                    .iter()
                    .cycle()
                    .skip(i)
                    .take(24 + 3 * i)
                    .copied()
                    .collect()
            })
            .collect();
        let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
        let mut members: Vec<(String, Scorer)> = models
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("m{i}"), Scorer::new(m)))
            .collect();
        members.insert(2, ("plain".into(), Scorer::new(&plain)));
        let panel = Panel::side_by_side(members).unwrap();
        let all = panel.score(&refs, false).unwrap();
        let mut col = 0;
        for (i, m) in models.iter().enumerate() {
            if i == 2 {
                let alone = Scorer::new(&plain).score_precise(&refs).unwrap().out;
                assert_eq!(all.column(col), alone.column(0), "the plain model");
                col += 1;
            }
            let alone = Scorer::new(m).score(&refs).unwrap();
            assert_eq!(
                all.column(col),
                alone.column(0).mapv(f64::from),
                "model {i}"
            );
            // In batches of 7 sequences, the same numbers.
            for (b, chunk) in refs.chunks(7).enumerate() {
                let part = Scorer::new(m).score(chunk).unwrap();
                for (r, v) in part.column(0).iter().enumerate() {
                    assert_eq!(*v, alone[[b * 7 + r, 0]], "model {i}, batch {b}");
                }
            }
            col += 1;
        }
    }
}
