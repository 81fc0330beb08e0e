//! Imported DeepBind models ([`Scoring::DeepBind`]): every window of a sequence, padded with N,
//! scored on its own, the strand rule applied per window, then the maximum or mean over the
//! windows. Two ways with the same numbers up to float rounding: each padded window through the
//! whole network ([`Scorer::deepbind_windows`], the definition), or the first stage
//! (convolution, ReLU, global pooling) scanned once over a stretch of windows
//! ([`tensor::ops::deepbind_scan`](crate::tensor::ops::deepbind_scan)) and the rest of the
//! network run on the pooled features ([`Scorer::deepbind_fast`]), used whenever the network
//! has that shape.

use ndarray::Array2;

use super::Scorer;
use super::presentation::Presentation;
use crate::encode::{self, NMode};
use crate::model::Model;
use crate::tensor::ops::deepbind_scan::ScanConv;
use crate::{Error, Result};

/// DeepBind models: windows scored per forward pass, times the batch size.
const WINDOWS_PER_BATCH: usize = 8;

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
        let mut pool = WindowPool::new(seqs.len(), self.model.meta.tasks.len());
        match FirstStage::new(self.model)? {
            Some(fast) => self.deepbind_fast(&fast, seqs, pres, &mut pool)?,
            None => self.deepbind_windows(seqs, pres, &mut pool)?,
        }
        Ok(pool.finish(pres.average))
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

    /// DeepBind scoring with the first stage (convolution, ReLU, pooling) computed for all of a
    /// stretch's windows at once: the same numbers as [`Scorer::deepbind_windows`] up to float
    /// rounding, far fewer operations. The rest of the network runs as usual on the pooled
    /// features.
    fn deepbind_fast(
        &self,
        fast: &FirstStage,
        seqs: &[&[u8]],
        pres: &Presentation,
        pool: &mut WindowPool,
    ) -> Result<()> {
        use rayon::prelude::*;
        // Stretches of at most BLOCK windows: (sequence, first window, window length, windows).
        const BLOCK: usize = 256;
        let limit = self.batch_size.max(1) * WINDOWS_PER_BATCH;
        let mut items: Vec<(usize, usize, usize, usize)> = Vec::new();
        let mut queued = 0;
        let both = pres.both_strands();
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
                        let pick = |(&a, &b): (&f32, &f32)| pres.combine_one(a, b);
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
            let w = pres.window_len(s.len());
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

/// The first stage of a DeepBind-shaped network (an unpadded convolution over 4 channels, ReLU,
/// then global max or max-and-mean pooling) as a scan over windows, and the layers after it.
struct FirstStage {
    scan: ScanConv,
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
        let first_param = if conv.bias.is_some() { 2 } else { 1 };
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
        let weight: Vec<f32> = conv.weight.iter().copied().collect();
        let scan = ScanConv::new(&weight, conv.bias.as_deref(), out, k, avg);
        Ok(Some(FirstStage {
            scan,
            rest,
            first_param,
        }))
    }

    /// Pooled features per window.
    fn n_features(&self) -> usize {
        self.scan.n_features()
    }

    /// Pooled features `[windows, features]` of every `w`-bp window of `seq`, in order.
    fn features(&self, seq: &[u8], w: usize) -> Result<Vec<f32>> {
        let len = seq.len();
        let mut x = vec![0f32; 4 * len];
        encode::encode_into(seq, NMode::Quarter, &mut x)?;
        Ok(self.scan.features(&x, len, w))
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
        let y = self.rest.infer(&mut tape, xv, &pv)?;
        tape.value(y)
            .clone()
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(|_| Error::Config("the model's output is not [N, tasks]".into()))
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

    /// Both implementations of DeepBind scoring.
    fn both_ways(s: &Scorer, seqs: &[&[u8]]) -> (Array2<f32>, Array2<f32>) {
        assert!(!s.scoring.is_plain(), "not a DeepBind model");
        let pres = s.presentation().unwrap();
        let fast = FirstStage::new(s.model).unwrap().expect("DeepBind-shaped");
        let mut a = WindowPool::new(seqs.len(), 1);
        s.deepbind_fast(&fast, seqs, &pres, &mut a).unwrap();
        let mut b = WindowPool::new(seqs.len(), 1);
        s.deepbind_windows(seqs, &pres, &mut b).unwrap();
        (a.finish(pres.average), b.finish(pres.average))
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
