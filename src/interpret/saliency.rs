//! Saliency: the gradient of a model's raw score with respect to its one-hot input, times the
//! input (gradient x input), per position and task, from one backward pass through the tape
//! per task.
//!
//! The score is the one [`Scorer::score_raw`](crate::score::Scorer::score_raw) gives, and its
//! gradient follows the same rules: under the `max` strand rule the gradient flows through the
//! strand that won, under `mean` through both with weight 1/2; for DeepBind models with windows,
//! through the best window (or every window with weight `1 / windows` under `average`). A
//! reverse-strand gradient is mapped back to the forward strand (positions reversed, channels
//! complemented), and N padding gets no saliency.

use std::io::Write;

use ndarray::{Array2, Array3, Axis, IxDyn};

use super::add_back;
use crate::encode::{self, NMode};
use crate::model::Model;
use crate::model::Strand;
use crate::score::presentation::{Input, Presentation};
use crate::tensor::{Array, Tape};
use crate::{Error, Result};

/// Saliency of one sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Saliency {
    /// The raw score of each task asked for (what the gradient is of).
    pub output: Vec<f32>,
    /// Gradient with respect to the one-hot input. shape: [tasks, 4, len]
    pub grad: Array3<f32>,
    /// Gradient x input summed over the four channels. shape: [tasks, len]
    pub values: Array2<f32>,
}

/// Gradient x input for each sequence and each task in `tasks` (indices into the model's
/// tasks), batching up to about `batch` network inputs per pass.
pub fn saliency(
    model: &Model,
    pres: &Presentation,
    seqs: &[&[u8]],
    tasks: &[usize],
    batch: usize,
) -> Result<Vec<Saliency>> {
    let n_tasks = model.meta.tasks.len();
    if let Some(&t) = tasks.iter().find(|&&t| t >= n_tasks) {
        return Err(Error::Config(format!(
            "task index {t} is out of range: the model has {n_tasks} tasks"
        )));
    }
    if let Some(i) = seqs.iter().position(|s| s.is_empty()) {
        return Err(Error::Config(format!("sequence {} is empty", i + 1)));
    }
    let mut out: Vec<Option<Saliency>> = vec![None; seqs.len()];
    // Sequences of one length make items of one length.
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| (seqs[i].len(), i));
    for group in order.chunk_by(|&a, &b| seqs[a].len() == seqs[b].len()) {
        let mut start = 0;
        while start < group.len() {
            // Whole sequences per pass, at least one.
            let mut items = Vec::new();
            let mut end = start;
            while end < group.len() && (end == start || items.len() < batch.max(1)) {
                pres.inputs(group[end], seqs[group[end]], &mut items);
                end += 1;
            }
            for (i, s) in run_items(model, pres, seqs, &items, tasks)? {
                out[i] = Some(s);
            }
            start = end;
        }
    }
    out.into_iter()
        .map(|s| s.ok_or_else(|| Error::Config("internal: a sequence got no saliency".into())))
        .collect()
}

/// One forward pass over `items`, one backward pass per task.
fn run_items(
    model: &Model,
    pres: &Presentation,
    seqs: &[&[u8]],
    items: &[Input],
    tasks: &[usize],
) -> Result<Vec<(usize, Saliency)>> {
    let len = items.first().map_or(0, |it| it.input.len());
    if let Some(want) = model.meta.input_length
        && want != len
    {
        return Err(Error::Config(format!(
            "the model takes sequences of exactly {want} bp, got {len} bp"
        )));
    }
    // Under the max rules only the winning strand and window get a gradient: a forward pass
    // without gradients finds them, and only they go through the pass with gradients.
    let select = pres.strand == Strand::Max || (pres.window.is_some() && !pres.average);
    let all: Vec<&Input> = items.iter().collect();
    let first = forward(model, &all, len, !select)?;
    let yv = first.out.clone();
    // The sequences of this pass, in item order.
    let mut members: Vec<usize> = items.iter().map(|it| it.seq).collect();
    members.dedup();
    let mut result: Vec<(usize, Saliency)> = members
        .iter()
        .map(|&i| {
            let l = seqs[i].len();
            (
                i,
                Saliency {
                    output: vec![0.0; tasks.len()],
                    grad: Array3::zeros((tasks.len(), 4, l)),
                    values: Array2::zeros((tasks.len(), l)),
                },
            )
        })
        .collect();
    let slot = |seq: usize| members.iter().position(|&m| m == seq).unwrap_or(0);
    // Per task, each item's weight in its sequence's score.
    let weights: Vec<Vec<f32>> = tasks
        .iter()
        .map(|&t| pres.weights(items, &yv.column(t).to_vec()))
        .collect();
    for (ti, &t) in tasks.iter().enumerate() {
        for (i, &v) in weights[ti].iter().enumerate() {
            result[slot(items[i].seq)].1.output[ti] += v * yv[[i, t]];
        }
    }
    // The items that get a gradient, and the pass to take it on.
    let chosen: Vec<usize> = if select {
        (0..items.len())
            .filter(|&i| weights.iter().any(|w| w[i] != 0.0))
            .collect()
    } else {
        (0..items.len()).collect()
    };
    let Pass {
        mut tape, y, x: xv, ..
    } = if select {
        let sub: Vec<&Input> = chosen.iter().map(|&i| &items[i]).collect();
        forward(model, &sub, len, true)?
    } else {
        first
    };
    let n_out = yv.ncols();
    for (ti, &t) in tasks.iter().enumerate() {
        // Row r of the pass is item chosen[r].
        let mut wfull = Array::zeros(IxDyn(&[chosen.len(), n_out]));
        for (r, &i) in chosen.iter().enumerate() {
            wfull[[r, t]] = weights[ti][i];
        }
        let loss = tape.weighted_sum(y, wfull)?;
        let grads = tape.backward(loss)?;
        let g = crate::interpret::input_gradient(&grads, xv, "saliency")?;
        for (r, &i) in chosen.iter().enumerate() {
            if weights[ti][i] == 0.0 {
                continue;
            }
            let it = &items[i];
            let s = slot(it.seq);
            let mut dst = result[s].1.grad.index_axis_mut(Axis(0), ti);
            add_back(
                &mut dst,
                g.index_axis(Axis(0), r),
                it.shift,
                it.real.clone(),
                it.reverse,
            );
        }
    }
    for (i, sal) in result.iter_mut() {
        let x = encode::one_hot(seqs[*i], NMode::Quarter)
            .map_err(|b| Error::Config(format!("sequence {}: {b}", *i + 1)))?;
        for ti in 0..tasks.len() {
            let g = sal.grad.index_axis(Axis(0), ti);
            let v = (&g * &x).sum_axis(Axis(0));
            sal.values.row_mut(ti).assign(&v);
        }
    }
    Ok(result)
}

/// One pass of the network over some items.
struct Pass {
    tape: Tape,
    /// Outputs. shape: [items, outputs]
    out: Array2<f32>,
    /// The output node.
    y: crate::tensor::Var,
    /// The input node (a leaf with a gradient on a tape that records them).
    x: crate::tensor::Var,
}

/// The network on `items`, all `len` long, on a tape that records gradients when `grad`.
fn forward(model: &Model, items: &[&Input], len: usize, grad: bool) -> Result<Pass> {
    let inputs: Vec<&[u8]> = items.iter().map(|it| it.input.as_slice()).collect();
    let x = encode::encode_batch(&inputs, len, NMode::Quarter)
        .map_err(|e| Error::Config(e.to_string()))?;
    let mut tape = if grad { Tape::new() } else { Tape::inference() };
    let xv = tape.param(x.into_dyn());
    let pv: Vec<_> = model
        .params
        .iter()
        .map(|p| tape.constant(p.clone()))
        .collect();
    let y = model.net.infer(&mut tape, xv, &pv)?;
    let out = tape
        .value(y)
        .clone()
        .into_dimensionality::<ndarray::Ix2>()
        .map_err(|_| Error::Config("the model's output is not [N, tasks]".into()))?;
    Ok(Pass {
        tape,
        out,
        y,
        x: xv,
    })
}

/// Writes saliency rows for one sequence. Long form (`wide = false`): `name pos base task
/// saliency`, one row per position and task. Wide form: `name pos base` then one column per
/// task. `pos` is 1-based. `header` writes the header line first.
pub fn write_tsv(
    out: &mut impl Write,
    name: &str,
    seq: &[u8],
    sal: &Saliency,
    task_names: &[&str],
    wide: bool,
    header: bool,
) -> std::io::Result<()> {
    let mut s = String::new();
    if header {
        if wide {
            s.push_str("name\tpos\tbase");
            for t in task_names {
                s.push('\t');
                s.push_str(t);
            }
            s.push('\n');
        } else {
            s.push_str("name\tpos\tbase\ttask\tsaliency\n");
        }
    }
    for (p, &b) in seq.iter().enumerate() {
        let base = b.to_ascii_uppercase() as char;
        if wide {
            s.push_str(&format!("{name}\t{}\t{base}", p + 1));
            for ti in 0..task_names.len() {
                s.push_str(&format!("\t{:.6}", sal.values[[ti, p]]));
            }
            s.push('\n');
        } else {
            for (ti, t) in task_names.iter().enumerate() {
                s.push_str(&format!(
                    "{name}\t{}\t{base}\t{t}\t{:.6}\n",
                    p + 1,
                    sal.values[[ti, p]]
                ));
            }
        }
    }
    out.write_all(s.as_bytes())
}

/// The start of the `w`-bp window with the largest summed saliency (first on ties), or `None`
/// if the sequence is shorter than `w`.
///
/// ```
/// use seqcnn::interpret::saliency::top_window;
/// assert_eq!(top_window(&[0.0, 1.0, 3.0, -1.0, 2.0], 2), Some(1));
/// assert_eq!(top_window(&[1.0], 2), None);
/// ```
pub fn top_window(values: &[f32], w: usize) -> Option<usize> {
    if w == 0 || values.len() < w {
        return None;
    }
    let mut sum: f64 = values[..w].iter().map(|&v| v as f64).sum();
    let (mut best, mut at) = (sum, 0);
    for s in 1..=values.len() - w {
        sum += values[s + w - 1] as f64 - values[s - 1] as f64;
        if sum > best + 1e-12 {
            best = sum;
            at = s;
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::model::Scoring;
    use crate::score::Scorer;

    fn random_seq(rng: &mut crate::rng::Rng, n: usize) -> Vec<u8> {
        (0..n).map(|_| b"ACGT"[crate::rng::below(rng, 4)]).collect()
    }

    /// A deepbind-shaped model with random weights (nonlinear), `tasks` outputs.
    fn random_model(tasks: usize, seed: u64) -> Model {
        let arch = Arch::from_toml(
            "name='t'\ninput={channels=4}\n[[layers]]\ntype='conv1d'\nout_channels=6\nkernel_size=5\n\
             [[layers]]\ntype='relu'\n[[layers]]\ntype='global_max_pool'\n\
             [[layers]]\ntype='linear'\nout_features=8\n[[layers]]\ntype='tanh'\n\
             [[layers]]\ntype='dropout'\np=0.5\n[[layers]]\ntype='linear'\n",
        )
        .unwrap();
        let names = (0..tasks).map(|t| format!("t{t}")).collect();
        Model::new(arch, names, &mut crate::rng::seeded(seed), 3.0).unwrap()
    }

    /// A model linear in its input: conv, global average pool, linear.
    fn linear_model() -> Model {
        let arch = Arch::from_toml(
            "name='lin'\ninput={channels=4}\n[[layers]]\ntype='conv1d'\nout_channels=3\nkernel_size=4\n\
             [[layers]]\ntype='global_avg_pool'\n[[layers]]\ntype='linear'\n",
        )
        .unwrap();
        Model::new(
            arch,
            vec!["a".into(), "b".into()],
            &mut crate::rng::seeded(4),
            3.0,
        )
        .unwrap()
    }

    fn presentations() -> Vec<(Strand, Scoring)> {
        let mut v = Vec::new();
        for strand in [Strand::None, Strand::Mean, Strand::Max] {
            v.push((strand, Scoring::Plain));
            for average in [false, true] {
                v.push((
                    strand,
                    Scoring::DeepBind {
                        window: Some(9),
                        average,
                    },
                ));
                v.push((
                    strand,
                    Scoring::DeepBind {
                        window: None,
                        average,
                    },
                ));
            }
        }
        v
    }

    #[test]
    fn the_output_is_the_scorers_raw_score() {
        let mut rng = crate::rng::seeded(5);
        let seqs: Vec<Vec<u8>> = [12, 7, 12, 20, 9]
            .iter()
            .map(|&n| random_seq(&mut rng, n))
            .collect();
        let mut with_n = seqs[3].clone();
        with_n[4] = b'N';
        let mut all = seqs.clone();
        all.push(with_n);
        let refs: Vec<&[u8]> = all.iter().map(|s| s.as_slice()).collect();
        for (strand, scoring) in presentations() {
            let mut model = random_model(2, 7);
            model.meta.strand = strand;
            model.meta.scoring = scoring;
            let pres = Presentation::of(&model, None).unwrap();
            let want = Scorer::new(&model).score_raw(&refs).unwrap();
            for batch in [1, 1000] {
                let got = saliency(&model, &pres, &refs, &[0, 1], batch).unwrap();
                for (i, s) in got.iter().enumerate() {
                    for t in 0..2 {
                        assert!(
                            (s.output[t] - want[[i, t]]).abs() < 1e-4,
                            "{strand:?} {scoring:?} seq {i} task {t}: {} vs {}",
                            s.output[t],
                            want[[i, t]]
                        );
                    }
                    assert_eq!(s.values.shape(), &[2, all[i].len()]);
                }
            }
        }
    }

    #[test]
    fn linear_models_predict_every_substitution_exactly() {
        // For a model linear in its input, score(x') - score(x) = grad . (x' - x) for any
        // substitution: a check of position and channel mapping on both strands, in windows.
        let mut rng = crate::rng::seeded(8);
        let seq = random_seq(&mut rng, 14);
        for (strand, scoring) in [
            (Strand::None, Scoring::Plain),
            (Strand::Mean, Scoring::Plain),
            (
                Strand::None,
                Scoring::DeepBind {
                    window: None,
                    average: false,
                },
            ),
            (
                Strand::None,
                Scoring::DeepBind {
                    window: Some(6),
                    average: true,
                },
            ),
            (
                Strand::Mean,
                Scoring::DeepBind {
                    window: None,
                    average: true,
                },
            ),
            (
                Strand::Mean,
                Scoring::DeepBind {
                    window: Some(6),
                    average: true,
                },
            ),
        ] {
            let mut model = linear_model();
            model.meta.strand = strand;
            model.meta.scoring = scoring;
            let pres = Presentation::of(&model, None).unwrap();
            let s = &saliency(&model, &pres, &[&seq], &[0, 1], 64).unwrap()[0];
            let scorer = Scorer::new(&model);
            let base = scorer.score_raw(&[&seq]).unwrap();
            for p in 0..seq.len() {
                for (c, &b) in b"ACGT".iter().enumerate() {
                    let mut m = seq.clone();
                    m[p] = b;
                    let got = scorer.score_raw(&[&m]).unwrap();
                    let cur = b"ACGT".iter().position(|&x| x == seq[p]).unwrap();
                    for t in 0..2 {
                        let pred = s.grad[[t, c, p]] - s.grad[[t, cur, p]];
                        let diff = got[[0, t]] - base[[0, t]];
                        assert!(
                            (pred - diff).abs() < 1e-4,
                            "{strand:?} {scoring:?} pos {p} base {} task {t}: {pred} vs {diff}",
                            b as char
                        );
                    }
                }
            }
            // Gradient x input is the gradient at the base present.
            for (p, b) in seq.iter().enumerate() {
                let cur = b"ACGT".iter().position(|x| x == b).unwrap();
                assert_eq!(s.values[[0, p]], s.grad[[0, cur, p]]);
            }
        }
    }

    #[test]
    fn a_planted_site_gets_the_saliency() {
        let mut model = crate::interpret::testutil::planted_model(b"GATTACA", Strand::Max);
        model.params[2] = ndarray::arr2(&[[1.0f32, 0.0]]).into_dyn();
        let pres = Presentation::of(&model, None).unwrap();
        let mut seq = b"CCCCCCCCCCCCCCCCCCCCCCCCC".to_vec();
        // On the reverse strand at 9..16.
        seq[9..16].copy_from_slice(&encode::reverse_complement(b"GATTACA"));
        let s = &saliency(&model, &pres, &[&seq], &[0], 16).unwrap()[0];
        let v: Vec<f32> = s.values.row(0).to_vec();
        assert_eq!(top_window(&v, 7), Some(9));
        assert!(v[..9].iter().chain(&v[16..]).all(|&x| x == 0.0));
    }

    #[test]
    fn tsv_long_and_wide() {
        let sal = Saliency {
            output: vec![0.0, 0.0],
            grad: Array3::zeros((2, 4, 2)),
            values: ndarray::arr2(&[[0.5, -1.0], [0.25, 0.0]]),
        };
        let mut long = Vec::new();
        write_tsv(&mut long, "s1", b"aN", &sal, &["x", "y"], false, true).unwrap();
        assert_eq!(
            String::from_utf8(long).unwrap(),
            "name\tpos\tbase\ttask\tsaliency\ns1\t1\tA\tx\t0.500000\ns1\t1\tA\ty\t0.250000\n\
             s1\t2\tN\tx\t-1.000000\ns1\t2\tN\ty\t0.000000\n"
        );
        let mut wide = Vec::new();
        write_tsv(&mut wide, "s1", b"aN", &sal, &["x", "y"], true, true).unwrap();
        assert_eq!(
            String::from_utf8(wide).unwrap(),
            "name\tpos\tbase\tx\ty\ns1\t1\tA\t0.500000\t0.250000\ns1\t2\tN\t-1.000000\t0.000000\n"
        );
    }

    #[test]
    fn bad_tasks_and_lengths_are_errors() {
        let model = random_model(1, 1);
        let pres = Presentation::of(&model, None).unwrap();
        let e = saliency(&model, &pres, &[b"ACGTACGT"], &[1], 8).unwrap_err();
        assert!(e.to_string().contains("task index 1"), "{e}");
        assert!(saliency(&model, &pres, &[b"ACG"], &[0], 8).is_err());
        assert!(saliency(&model, &pres, &[b""], &[0], 8).is_err());
    }
}
