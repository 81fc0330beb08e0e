//! Imported DeepBind models ([`Scoring::DeepBind`]): every window of a sequence, padded with N,
//! scored on its own, the strand rule applied per window, then the maximum or mean over the
//! windows. Two ways with the same numbers up to float rounding: each padded window through the
//! whole network ([`Scorer::deepbind_windows`], the definition), or the first stage
//! (convolution, ReLU, global pooling) scanned once over a stretch of windows
//! ([`tensor::ops::deepbind_scan`](crate::tensor::ops::deepbind_scan)) and the layers after it
//! run on each window's pooled features as plain f32 products ([`Fast`]), used whenever the
//! network has that shape.
//!
//! [`score_fast`] scores any number of such models over one batch of sequences: the base codes
//! are read once, and one parallel loop runs over models x stretches of windows, so a panel of
//! the 927 published models (`predict --model-dir`) keeps every thread busy whatever the batch.

use ndarray::Array2;
use rayon::prelude::*;
use std::ops::Range;

use super::Scorer;
use super::presentation::Presentation;
use crate::encode;
use crate::model::{Model, Strand};
use crate::tensor::ops::deepbind_scan::{Head, Scan, ScanWork};
use crate::{Error, Result};

/// DeepBind models: windows scored per forward pass, times the batch size.
const WINDOWS_PER_BATCH: usize = 8;

/// Windows of one sequence scanned together (a longer sequence is scanned in stretches of this
/// many windows, so memory stays bounded).
const STRETCH: usize = 256;

/// Windows per parallel task: stretches are grouped up to this many (about 60 sequences of
/// 101 bp), in input order.
const TASK_WINDOWS: usize = 4096;

impl Scorer<'_> {
    /// [`Scoring::DeepBind`]: every window, padded with N, scored on its own (so a score never
    /// depends on the rest of the batch), the strand rule applied per window, then the maximum or
    /// mean over a sequence's windows. Windows are made as they are scored, so memory stays
    /// bounded for long sequences.
    pub(super) fn score_deepbind(
        &self,
        seqs: &[&[u8]],
        pres: &Presentation,
    ) -> Result<Array2<f32>> {
        if self.fast().is_some() {
            let mut out = score_fast(&[self], seqs)?;
            return Ok(out.pop().unwrap_or_default());
        }
        let mut pool = WindowPool::new(seqs.len(), self.model.meta.tasks.len());
        self.deepbind_windows(seqs, pres, &mut pool)?;
        Ok(pool.finish(pres.average))
    }

    /// The fast form of this scorer's model if it is scored by DeepBind's rules and its
    /// network has the shape ([`Fast::new`]); made at the first call.
    pub(super) fn fast(&self) -> Option<&Fast> {
        self.fast
            .get_or_init(|| {
                if self.scoring.is_plain() {
                    return None;
                }
                let pres = self.presentation().ok()?;
                // A model whose parameters do not fit its network is left to the definition,
                // which reports it.
                Fast::new(self.model, pres).ok().flatten()
            })
            .as_ref()
    }

    /// DeepBind scoring by definition: each padded window through the whole network.
    fn deepbind_windows(
        &self,
        seqs: &[&[u8]],
        pres: &Presentation,
        pool: &mut WindowPool,
    ) -> Result<()> {
        let limit = self.batch_size.max(1) * WINDOWS_PER_BATCH;
        let mut pending: Vec<(usize, Vec<u8>)> = Vec::with_capacity(limit);
        let mut flush = |pending: &mut Vec<(usize, Vec<u8>)>| -> Result<()> {
            // Padded windows of one length are scored together.
            pending.sort_by_key(|(i, w)| (w.len(), *i));
            for group in pending.chunk_by(|a, b| a.1.len() == b.1.len()) {
                let batch: Vec<&[u8]> = group.iter().map(|(_, w)| w.as_slice()).collect();
                let y = self.score_same_length(&batch, pres, true)?;
                for ((i, _), row) in group.iter().zip(y.rows()) {
                    pool.add(*i, row.iter().copied());
                }
            }
            pending.clear();
            Ok(())
        };
        for (i, s) in seqs.iter().enumerate() {
            let w = pres.window_len(s.len());
            for start in 0..=s.len() - w {
                pending.push((i, pres.padded(s, start, w)));
                if pending.len() >= limit {
                    flush(&mut pending)?;
                }
            }
        }
        flush(&mut pending)
    }
}

/// Raw scores `[n, tasks]` of each scorer (every one with a [`Scorer::fast`] form) over `seqs`:
/// the same numbers as [`Scorer::deepbind_windows`] up to float rounding. The base codes are
/// read once for all scorers, and one parallel loop runs over scorers x groups of stretches;
/// scores do not depend on the batch, the other scorers or the thread count.
pub(super) fn score_fast(scorers: &[&Scorer], seqs: &[&[u8]]) -> Result<Vec<Array2<f32>>> {
    let fast: Vec<&Fast> = scorers
        .iter()
        .map(|s| {
            s.fast()
                .ok_or_else(|| Error::Config("not a DeepBind-shaped model".into()))
        })
        .collect::<Result<_>>()?;
    let mut codes = Vec::new();
    let mut starts = Vec::with_capacity(seqs.len() + 1);
    for s in seqs {
        starts.push(codes.len());
        encode::push_codes(s, &mut codes).map_err(encode::EncodeError::from)?;
    }
    starts.push(codes.len());
    let seq_codes = |i: usize| &codes[starts[i]..starts[i + 1]];
    // Per window rule: the stretches in input order, and the groups of them a task scores
    // (models of one detector length share them).
    let mut plans: Vec<Plan> = Vec::new();
    let mut plan_of = Vec::with_capacity(fast.len());
    for f in &fast {
        let p = match plans.iter().position(|p| p.window == f.pres.window) {
            Some(p) => p,
            None => {
                let pieces = pieces(&f.pres, seqs);
                let groups = groups(&pieces);
                plans.push(Plan {
                    window: f.pres.window,
                    pieces,
                    groups,
                });
                plans.len() - 1
            }
        };
        plan_of.push(p);
    }
    let tasks: Vec<(usize, Range<usize>)> = plan_of
        .iter()
        .enumerate()
        .flat_map(|(m, &p)| plans[p].groups.iter().map(move |g| (m, g.clone())))
        .collect();
    // Per task, each stretch's (maximum, sum) of window scores per model task.
    let results: Vec<Vec<(f32, f64)>> = tasks
        .par_iter()
        .map_init(Work::default, |work, (m, group)| {
            let (f, pieces) = (fast[*m], &plans[plan_of[*m]].pieces[group.clone()]);
            let mut pooled = vec![(f32::NEG_INFINITY, 0.0); pieces.len() * f.tasks];
            for (piece, out) in pieces.iter().zip(pooled.chunks_exact_mut(f.tasks)) {
                f.score_piece(seq_codes(piece.seq), piece, work, out);
            }
            pooled
        })
        .collect();
    // Stretches back to their sequences, in input order.
    let mut out: Vec<WindowPool> = fast
        .iter()
        .map(|f| WindowPool::new(seqs.len(), f.tasks))
        .collect();
    for ((m, group), pooled) in tasks.iter().zip(results) {
        let pieces = &plans[plan_of[*m]].pieces[group.clone()];
        for (piece, p) in pieces.iter().zip(pooled.chunks_exact(fast[*m].tasks)) {
            out[*m].merge(piece.seq, p, piece.windows);
        }
    }
    Ok(out
        .into_iter()
        .zip(&fast)
        .map(|(pool, f)| pool.finish(f.pres.average))
        .collect())
}

/// The stretches of every sequence's windows under `pres`'s window rule, in input order.
fn pieces(pres: &Presentation, seqs: &[&[u8]]) -> Vec<Piece> {
    let mut out = Vec::with_capacity(seqs.len());
    for (seq, s) in seqs.iter().enumerate() {
        let w = pres.window_len(s.len());
        let windows = s.len() - w + 1;
        for first in (0..windows).step_by(STRETCH) {
            out.push(Piece {
                seq,
                first,
                windows: STRETCH.min(windows - first),
                w,
            });
        }
    }
    out
}

/// Consecutive stretches grouped into tasks of about [`TASK_WINDOWS`] windows.
fn groups(pieces: &[Piece]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut windows) = (0, 0);
    for (i, p) in pieces.iter().enumerate() {
        windows += p.windows;
        if windows >= TASK_WINDOWS {
            out.push(start..i + 1);
            (start, windows) = (i + 1, 0);
        }
    }
    if start < pieces.len() {
        out.push(start..pieces.len());
    }
    out
}

/// The stretches of a batch under one window rule, and the groups of them a task scores.
struct Plan {
    window: Option<usize>,
    pieces: Vec<Piece>,
    groups: Vec<Range<usize>>,
}

/// A stretch of one sequence's windows: `windows` windows of `w` bp from window `first` on.
#[derive(Clone, Copy, Debug)]
struct Piece {
    seq: usize,
    first: usize,
    windows: usize,
    w: usize,
}

/// Buffers of one task, kept across its stretches.
#[derive(Default)]
struct Work {
    scan: ScanWork,
    scores: Vec<f32>,
}

/// A DeepBind-shaped model (an unpadded convolution over 4 channels with at least 2 taps, ReLU,
/// global max or max-and-mean pooling, then linear layers and activations) in the form
/// [`score_fast`] runs: the scan of its first stage ([`Scan`], with the filters' reverse
/// complements when both strands are scored) and the layers after it ([`Head`]).
pub(super) struct Fast {
    scan: Scan,
    head: Head,
    pres: Presentation,
    tasks: usize,
}

impl Fast {
    /// The fast form of `model` presented by `pres`, or `None` if its layers do not have that
    /// shape.
    fn new(model: &Model, pres: Presentation) -> Result<Option<Fast>> {
        use crate::arch::{Arch, InputSpec, LayerSpec as L};
        let layers = &model.arch.layers;
        let (Some(L::Relu {}), Some(pool)) = (layers.get(1), layers.get(2)) else {
            return Ok(None);
        };
        let avg = match pool {
            L::GlobalMaxPool {} => false,
            L::GlobalMaxAvgPool {} => true,
            _ => return Ok(None),
        };
        let Ok(conv) = model.first_conv() else {
            return Ok(None);
        };
        let (out, k) = (conv.filters(), conv.k());
        if model.meta.input_length.is_some()
            || k < 2
            || conv.geom.stride != 1
            || conv.geom.dilation != 1
            || (conv.geom.pad_left, conv.geom.pad_right) != (0, 0)
        {
            return Ok(None);
        }
        let weight: Vec<f32> = conv.weight.iter().copied().collect();
        let bias = conv.bias.as_deref();
        if !weight
            .iter()
            .chain(bias.unwrap_or_default())
            .all(|v| v.is_finite())
        {
            // The scan's fixed point needs finite weights; the definition takes any.
            return Ok(None);
        }
        let first_param = if conv.bias.is_some() { 2 } else { 1 };
        let features = if avg { 2 * out } else { out };
        // The layers after pooling, checked against the model's parameters as a network of
        // their own (input [N, features, 1]).
        let rest_arch = Arch {
            name: format!("{} after pooling", model.arch.name),
            description: String::new(),
            input: InputSpec {
                channels: features,
                length: Some(1),
                ..Default::default()
            },
            loss: model.arch.loss,
            layers: std::iter::once(L::Flatten {})
                .chain(layers[3..].iter().cloned())
                .collect(),
        };
        let tasks = model.meta.tasks.len();
        let rest = crate::nn::Network::build(&rest_arch, tasks)?;
        let params = &model.params[first_param..];
        rest.check_params(params)?;
        let mut head = Head::new(features);
        let mut next = params.iter();
        let mut take = || -> Result<&[f32]> {
            next.next()
                .and_then(|p| p.as_slice())
                .ok_or_else(|| Error::Config("deepbind scoring: a missing parameter".into()))
        };
        // Activations before the first linear layer act on each feature alone.
        let mut first_linear = true;
        for layer in &layers[3..] {
            match layer {
                L::Linear { bias, .. } => {
                    let w = take()?;
                    let b = if *bias { Some(take()?) } else { None };
                    let outputs = w.len() / head.outputs().max(1);
                    if avg && std::mem::take(&mut first_linear) {
                        // The scan gives all maxima, then all means; the weights read them
                        // interleaved (max, mean per detector).
                        let w: Vec<f32> = (0..outputs * features)
                            .map(|i| {
                                let (row, col) = (i / features, i % features);
                                let (mean, d) = (col / out, col % out);
                                w[row * features + 2 * d + mean]
                            })
                            .collect();
                        head.linear(&w, b, outputs);
                    } else {
                        first_linear = false;
                        head.linear(w, b, outputs);
                    }
                }
                L::Relu {} => head.relu(),
                L::Sigmoid {} => head.sigmoid(),
                L::Tanh {} => head.tanh(),
                L::Dropout { .. } | L::Flatten {} => {}
                _ => return Ok(None),
            }
        }
        if head.outputs() != tasks {
            return Ok(None);
        }
        let scan = Scan::new(&weight, bias, out, k, avg, pres.both_strands());
        Ok(Some(Fast {
            scan,
            head,
            pres,
            tasks,
        }))
    }

    /// The maximum and sum of the window scores of one stretch of the sequence with base codes
    /// `codes`, per task, into `out` (filled with `(-inf, 0)`).
    fn score_piece(&self, codes: &[u8], piece: &Piece, work: &mut Work, out: &mut [(f32, f64)]) {
        let stretch = &codes[piece.first..piece.first + piece.windows + piece.w - 1];
        let feats = self.scan.features(stretch, piece.w, &mut work.scan);
        let rows = piece.windows * self.scan.strands();
        if work.scores.len() < rows * self.tasks {
            work.scores.resize(rows * self.tasks, 0.0);
        }
        let scores = &mut work.scores[..rows * self.tasks];
        self.head.forward(feats, scores);
        let t = self.tasks;
        let strands = self.scan.strands();
        let combine = |y: &[f32], task: usize| match self.pres.strand {
            Strand::None => y[task],
            _ => self.pres.combine_one(y[task], y[t + task]),
        };
        for y in scores.chunks_exact(strands * t) {
            for (task, (best, sum)) in out.iter_mut().enumerate() {
                let v = combine(y, task);
                *best = best.max(v);
                *sum += v as f64;
            }
        }
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

    /// A stretch of `windows` windows of sequence `i`: its maximum and sum per task.
    fn merge(&mut self, i: usize, pooled: &[(f32, f64)], windows: usize) {
        for (t, &(b, s)) in pooled.iter().enumerate() {
            self.best[[i, t]] = self.best[[i, t]].max(b);
            self.sum[[i, t]] += s;
        }
        self.count[i] += windows;
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::deepbind::Params;
    use crate::model::{Scoring, Strand};
    use crate::rng;

    /// A DeepBind model with `d` detectors of length `m`, random weights.
    pub(crate) fn random_model(
        seed: u64,
        d: usize,
        m: usize,
        avg: bool,
        hidden: usize,
        rc: bool,
    ) -> Model {
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

    /// Both implementations of DeepBind scoring: (fast, definition).
    fn both_ways(s: &Scorer, seqs: &[&[u8]]) -> (Array2<f32>, Array2<f32>) {
        assert!(!s.scoring.is_plain(), "not a DeepBind model");
        let pres = s.presentation().unwrap();
        assert!(s.fast().is_some(), "DeepBind-shaped");
        let a = score_fast(&[s], seqs).unwrap().pop().unwrap();
        let mut b = WindowPool::new(seqs.len(), s.model.meta.tasks.len());
        s.deepbind_windows(seqs, &pres, &mut b).unwrap();
        (a, b.finish(pres.average))
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

    /// The fast form (the scan, then the head per window) against the definition (each padded
    /// window through the whole network) over a grid of shapes, window and strand rules.
    #[test]
    fn fast_scoring_matches_scoring_each_window() {
        // A sequence with more windows than a stretch, and one as long as a window.
        let long: Vec<u8> = b"ACGTTGCANNAGCTTAGCGCAT"
            .iter()
            .cycle()
            .take(270)
            .copied()
            .collect();
        let seqs: Vec<&[u8]> = vec![
            b"A",
            b"ACGTACGTAC",
            b"acgtnNNacgtRYacggggtttacgatcgatcgatcgACGTTAGCTAGC",
            b"TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTGCA",
            b"",
            b"GATTACA",
            &long,
            b"CCGGTTAACCGG",
        ];
        let mut case = 0;
        // Detectors in one, two and three registers, and (both strands) in two blocks; 2 to
        // 7 taps.
        for (d, m) in [(3, 4), (2, 7), (1, 2), (12, 5), (20, 3)] {
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
