//! How a sequence becomes network inputs and their outputs one score: the strand rule (the
//! sequence as given, or both strands combined by mean or max), and for imported DeepBind models
//! the windows (every window of the model's length at stride 1, each padded with `k - 1` N's on
//! both sides, combined by max or mean). [`Presentation`] is that rule; the scorer, saliency
//! (its derivative, [`Presentation::weights`]), filter motifs, fast ISM and variant scoring all
//! take their inputs from it. [`window_length`] is the one rule for "the model's length or
//! `--window`" of commands that cut windows from a genome.

use ndarray::Array2;

use crate::encode;
use crate::model::{Model, Scoring, Strand};
use crate::{Error, Result};

/// How the scorer presents a sequence to a model's network (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presentation {
    /// The strand rule.
    pub strand: Strand,
    /// N's added on each side of a window (DeepBind models: the first layer's span minus one).
    pub pad: usize,
    /// DeepBind models: sequences longer than this are scored in windows of this length.
    pub window: Option<usize>,
    /// DeepBind models: the mean over windows instead of the maximum.
    pub average: bool,
}

/// One network input made from a sequence (see [`Presentation::inputs`]).
#[derive(Clone, Debug)]
pub struct Input {
    /// Index of the sequence it was made from.
    pub seq: usize,
    /// Index of its window within the sequence.
    pub window: usize,
    /// Whether it is the reverse complement of the window.
    pub reverse: bool,
    /// Input position `q` (forward orientation) is sequence position `q + shift`.
    pub shift: isize,
    /// Input positions (forward orientation) holding sequence; the rest is N padding.
    pub real: std::ops::Range<usize>,
    /// The bases the network reads.
    pub input: Vec<u8>,
}

impl Presentation {
    /// The presentation of `model` under `strand` (its own rule when `None`).
    pub fn of(model: &Model, strand: Option<Strand>) -> Result<Presentation> {
        Presentation::with(
            model,
            strand.unwrap_or(model.meta.strand),
            model.meta.scoring,
        )
    }

    /// The presentation of `model` under an explicit strand rule and scoring.
    pub fn with(model: &Model, strand: Strand, scoring: Scoring) -> Result<Presentation> {
        Ok(match scoring {
            Scoring::Plain => Presentation {
                strand,
                pad: 0,
                window: None,
                average: false,
            },
            Scoring::DeepBind { window, average } => {
                if window == Some(0) {
                    return Err(Error::Config(
                        "the model's DeepBind window is 0; it must be positive".into(),
                    ));
                }
                Presentation {
                    strand,
                    pad: crate::nn::FirstConv::span_of(&model.arch)? - 1,
                    window,
                    average,
                }
            }
        })
    }

    /// Whether the reverse strand is scored too.
    pub fn both_strands(&self) -> bool {
        self.strand != Strand::None
    }

    /// The window length for a sequence of `len` bp: the whole sequence unless it is longer
    /// than the window.
    pub fn window_len(&self, len: usize) -> usize {
        match self.window {
            Some(w) if len > w && w > 0 => w,
            _ => len,
        }
    }

    /// `seq[start..start + w]` with the padding N's on both sides.
    pub fn padded(&self, seq: &[u8], start: usize, w: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(w + 2 * self.pad);
        v.resize(self.pad, b'N');
        v.extend_from_slice(&seq[start..start + w]);
        v.resize(w + 2 * self.pad, b'N');
        v
    }

    /// The network inputs for sequence `i`, window by window (reverse strand first when both
    /// are scored), appended to `out`.
    pub fn inputs(&self, i: usize, seq: &[u8], out: &mut Vec<Input>) {
        let w = self.window_len(seq.len());
        for (window, start) in (0..=seq.len() - w).enumerate() {
            let fwd = self.padded(seq, start, w);
            let shift = start as isize - self.pad as isize;
            let real = self.pad..self.pad + w;
            if self.both_strands() {
                out.push(Input {
                    seq: i,
                    window,
                    reverse: true,
                    shift,
                    real: real.clone(),
                    input: encode::reverse_complement(&fwd),
                });
            }
            out.push(Input {
                seq: i,
                window,
                reverse: false,
                shift,
                real,
                input: fwd,
            });
        }
    }

    /// The strand rule on one window's outputs `[n, tasks]`: the forward outputs alone, or
    /// combined with the reverse strand's. `scale` maps raw outputs to the scale asked for; the
    /// larger raw output wins under `max` (every output map is monotone, so the max commutes
    /// with it), and under `mean` the scaled outputs are averaged.
    pub fn combine(
        &self,
        fwd: Array2<f32>,
        rev: Option<Array2<f32>>,
        scale: impl Fn(Array2<f32>) -> Array2<f32>,
    ) -> Array2<f32> {
        match (self.strand, rev) {
            (Strand::Max, Some(r)) => scale(
                ndarray::Zip::from(&fwd)
                    .and(&r)
                    .map_collect(|&a, &b| a.max(b)),
            ),
            (Strand::Mean, Some(r)) => (scale(fwd) + scale(r)) * 0.5,
            _ => scale(fwd),
        }
    }

    /// The strand rule on one output of each strand (raw scores).
    pub fn combine_one(&self, fwd: f32, rev: f32) -> f32 {
        match self.strand {
            Strand::Max => fwd.max(rev),
            _ => (fwd + rev) * 0.5,
        }
    }

    /// How much each input's raw output `y` counts towards its sequence's score for one task:
    /// the derivative of the strand and window rules at `y`. `inputs` are those of
    /// [`Presentation::inputs`], sequence by sequence.
    pub fn weights(&self, inputs: &[Input], y: &[f32]) -> Vec<f32> {
        let mut w = vec![0f32; inputs.len()];
        let mut k = 0;
        while k < inputs.len() {
            // Inputs of one sequence are contiguous, and within it those of one window.
            let seq = inputs[k].seq;
            let end = inputs[k..]
                .iter()
                .position(|it| it.seq != seq)
                .map_or(inputs.len(), |e| k + e);
            // Per window: (combined score, [(input, weight)]).
            let mut windows: Vec<(f32, Vec<(usize, f32)>)> = Vec::new();
            let mut a = k;
            while a < end {
                let win = inputs[a].window;
                let b = inputs[a..end]
                    .iter()
                    .position(|it| it.window != win)
                    .map_or(end, |e| a + e);
                let fwd = (a..b).find(|&i| !inputs[i].reverse).unwrap_or(a);
                let rev = (a..b).find(|&i| inputs[i].reverse);
                let entry = match (self.strand, rev) {
                    (Strand::None, _) | (_, None) => (y[fwd], vec![(fwd, 1.0)]),
                    (Strand::Max, Some(r)) => {
                        if y[fwd] >= y[r] {
                            (y[fwd], vec![(fwd, 1.0)])
                        } else {
                            (y[r], vec![(r, 1.0)])
                        }
                    }
                    (Strand::Mean, Some(r)) => ((y[fwd] + y[r]) * 0.5, vec![(fwd, 0.5), (r, 0.5)]),
                };
                windows.push(entry);
                a = b;
            }
            if self.average {
                let n = windows.len() as f32;
                for (_, parts) in &windows {
                    for &(i, v) in parts {
                        w[i] += v / n;
                    }
                }
            } else {
                // The first best window, as a running maximum would keep it.
                let mut best = 0;
                for (j, win) in windows.iter().enumerate() {
                    if win.0 > windows[best].0 {
                        best = j;
                    }
                }
                for &(i, v) in &windows[best].1 {
                    w[i] += v;
                }
            }
            k = end;
        }
        w
    }
}

/// The window a genome command cuts for `model` (the one rule for "the model's length or
/// `--window`"): its input length, or `window` for a model that takes any length (`None` when
/// none is given). `what` names the model in errors (its file). A window other than a
/// fixed-length model's own is an error, as is a window of 0.
pub fn resolve_window(model: &Model, what: &str, window: Option<usize>) -> Result<Option<usize>> {
    let n = match (model.meta.input_length, window) {
        (Some(len), None) => len,
        (Some(len), Some(w)) if w == len => len,
        (Some(len), Some(w)) => {
            return Err(Error::Config(format!(
                "{what} takes exactly {len} bp: --window {w} does not apply (leave it out)"
            )));
        }
        (None, Some(w)) => w,
        (None, None) => return Ok(None),
    };
    if n == 0 {
        return Err(Error::Config("--window must be at least 1".into()));
    }
    Ok(Some(n))
}

/// [`resolve_window`] for commands that need a window: a model of any length must be given one.
pub fn window_length(model: &Model, what: &str, window: Option<usize>) -> Result<usize> {
    resolve_window(model, what, window)?.ok_or_else(|| {
        Error::Config(format!(
            "{what} takes sequences of any length: give the window with --window N (e.g. --window 101)"
        ))
    })
}
