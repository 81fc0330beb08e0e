//! Fast saturation mutagenesis (fastISM, Nair et al. 2021): the network's convolutional prefix,
//! read from the built network ([`crate::nn::Network::layers`]), run once on the sequence; each
//! mutant's change then recomputed only inside its receptive field, layer by layer, with the
//! delta kernels of `tensor/ops/delta.rs`; the rest of the network run on the patched features.
//! Which layers the prefix takes is one exhaustive match over [`Layer`]: a new layer kind must be
//! given a rule here before the crate compiles.

use super::ism::{BASES, IsmScores, mutations};
use crate::encode::{self, NMode};
use crate::model::Model;
use crate::nn::{Layer, Network, Shape};
use crate::score::{Scorer, to_output};
use crate::tensor::ops::delta::{self, ColumnMap, Columns, ConvDelta, LinearDelta, Patch};
use crate::tensor::{Array, Tape};
use crate::{Error, Result};
use ndarray::{Array2, IxDyn};
use std::sync::Arc;

/// Why fast ISM leaves a model to [`super::naive_ism`]: the layer (or the shape of the network)
/// it does not handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not supported by fast ISM: {}", self.0)
    }
}

/// One layer of the convolutional prefix.
enum Step {
    Conv(ConvDelta),
    Map(ColumnMap),
}

impl Step {
    /// The whole output for the input `x`.
    fn full(&self, x: &Columns) -> Result<Columns> {
        match self {
            Step::Conv(conv) => conv.full(x),
            Step::Map(map) => map.full(x),
        }
    }

    /// The changed output columns of every mutant, for the input `x` with output `y`.
    fn patches(&self, x: &Columns, y: &Columns, patches: &[Patch]) -> Vec<Patch> {
        match self {
            Step::Conv(conv) => conv.patches(x, y, patches),
            Step::Map(map) => map.patches(x, y, patches),
        }
    }
}

/// What follows the convolutional prefix.
enum Head {
    /// Flatten, (dropout,) then a linear layer updated by the change of each mutant's features
    /// only; then layers `after..` of the network on its output, with `params` (the network's
    /// from `first_param(after)` on).
    Linear {
        linear: LinearDelta,
        after: usize,
        params: Vec<Arc<Array>>,
    },
    /// Layers `start..` of the network (global pooling, say) run whole on the patched features,
    /// with `params` (the network's from `first_param(start)` on).
    Whole {
        start: usize,
        params: Vec<Arc<Array>>,
    },
}

/// The prefix's steps and the index of the layer that ends it (a flatten or global pooling).
type Prefix = (Vec<Step>, usize);

/// The convolutional prefix of `net` with weights `params`, one rule per layer kind: a layer is
/// a step of the prefix, is skipped (dropout: the identity in evaluation mode), ends the prefix
/// (flatten, global pooling), or leaves the model to naive ISM.
fn prefix_of(net: &Network, params: &[Array]) -> Result<std::result::Result<Prefix, Unsupported>> {
    let no = |what: String| Ok(Err(Unsupported(what)));
    match net.input_shape() {
        Shape::Seq { channels: 4, .. } => {}
        other => return no(format!("an input of shape {other:?}, not the four bases")),
    }
    let vector = |i: usize| -> Vec<f32> { params[i].iter().copied().collect() };
    let mut steps = Vec::new();
    for (i, layer) in net.layers().iter().enumerate() {
        let step = match layer {
            Layer::Conv1d { w, b, geom } => {
                let weight = params[*w]
                    .view()
                    .into_dimensionality::<ndarray::Ix3>()
                    .map_err(|_| {
                        Error::shape(
                            "fast ISM",
                            format!("layer {i}: conv1d weight of shape {:?}", params[*w].shape()),
                        )
                    })?;
                let bias = b.map(vector);
                Step::Conv(ConvDelta::new(weight, bias.as_deref(), *geom))
            }
            Layer::Relu => Step::Map(ColumnMap::Relu),
            Layer::Sigmoid => Step::Map(ColumnMap::Sigmoid),
            Layer::Tanh => Step::Map(ColumnMap::Tanh),
            Layer::Dropout(_) => continue,
            Layer::MaxPool1d(g) if g.padding == 0 => Step::Map(ColumnMap::MaxPool {
                k: g.kernel,
                s: g.stride,
            }),
            Layer::AvgPool1d(g) if g.padding == 0 => Step::Map(ColumnMap::AvgPool {
                k: g.kernel,
                s: g.stride,
            }),
            Layer::MaxPool1d(_) | Layer::AvgPool1d(_) => {
                return no(format!("padded pooling (layer {i})"));
            }
            Layer::BatchNorm {
                w,
                b,
                mean,
                var,
                eps,
                ..
            } => Step::Map(ColumnMap::batch_norm(
                &vector(*w),
                &vector(*b),
                &vector(*mean),
                &vector(*var),
                *eps,
            )),
            Layer::Flatten
            | Layer::GlobalMaxPool
            | Layer::GlobalAvgPool
            | Layer::GlobalMaxAvgPool => {
                if !steps.iter().any(|s| matches!(s, Step::Conv(_))) {
                    return no(format!("no convolution before layer {i}"));
                }
                return Ok(Ok((steps, i)));
            }
            // A linear layer takes a flat input, so one after a sequence input (which the
            // builder rejects) has no convolutional prefix before it.
            Layer::Linear { .. } => return no(format!("a linear layer (layer {i}) first")),
            Layer::Residual(_) => return no(format!("a residual block (layer {i})")),
            Layer::Conv2d { .. }
            | Layer::ConvTranspose2d { .. }
            | Layer::MaxPool2d(_)
            | Layer::AvgPool2d(_)
            | Layer::GlobalAvgPool2d => return no(format!("a 2-D layer (layer {i})")),
        };
        steps.push(step);
    }
    no("no flatten or global pooling ends the convolutional prefix".into())
}

/// A model prepared for fast ISM ([`fast_ism`]): its convolutional prefix as steps run on the
/// changed columns of many mutants at once, and its head. Prepare once per model and call
/// [`FastIsm::run`] per sequence. It holds a copy of the convolution weights and, when a flatten
/// and a linear layer follow the prefix, of that layer's weights in position-major order (for
/// DeepSEA 188 MB, as large as the model's own copy). Results do not depend on the thread count:
/// products are split into fixed blocks.
pub struct FastIsm<'m> {
    model: &'m Model,
    steps: Vec<Step>,
    head: Head,
}

impl<'m> FastIsm<'m> {
    /// `None` when the network is not a plain sequential stack of supported layers: fast ISM
    /// handles convolutions, activations, unpadded pooling, eval-mode batch norm and dropout up
    /// to the first flatten or global pooling; anything after that is run as it is.
    /// [`FastIsm::prepare`] says why.
    pub fn new(model: &'m Model) -> Result<Option<FastIsm<'m>>> {
        Ok(FastIsm::prepare(model)?.ok())
    }

    /// [`FastIsm::new`], with the reason when the model is left to naive ISM.
    pub fn prepare(model: &'m Model) -> Result<std::result::Result<FastIsm<'m>, Unsupported>> {
        let net = &model.net;
        let (steps, split) = match prefix_of(net, &model.params)? {
            Ok(prefix) => prefix,
            Err(why) => return Ok(Err(why)),
        };
        let layers = net.layers();
        let shared = |from: usize| -> Vec<Arc<Array>> {
            model.params[net.first_param(from)..]
                .iter()
                .map(|p| Arc::new(p.clone()))
                .collect()
        };
        // Flatten, (dropout,) linear: the linear is updated incrementally.
        let linear = layers
            .iter()
            .enumerate()
            .skip(split + 1)
            .find(|(_, l)| !matches!(l, Layer::Dropout(_)));
        let head = match (&layers[split], linear, net.shape_in(split)) {
            (
                Layer::Flatten,
                Some((li, Layer::Linear { w, b })),
                Some(Shape::Seq {
                    channels,
                    length: Some(len),
                }),
            ) => {
                let weight = model.params[*w]
                    .as_slice()
                    .ok_or_else(|| Error::Config("linear weights are not contiguous".into()))?;
                let bias: Option<Vec<f32>> = b.map(|b| model.params[b].iter().copied().collect());
                Head::Linear {
                    linear: LinearDelta::new(weight, bias.as_deref(), channels, len),
                    after: li + 1,
                    params: shared(li + 1),
                }
            }
            _ => Head::Whole {
                start: split,
                params: shared(split),
            },
        };
        Ok(Ok(FastIsm { model, steps, head }))
    }

    /// Every layer's activation for the sequence `seq` (as the network sees it).
    fn activations(&self, seq: &[u8]) -> Result<Vec<Columns>> {
        let len = seq.len();
        let x = encode::encode_batch(&[seq], len, NMode::Quarter)
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut v = vec![0.0f32; 4 * len];
        for ((_, c, i), &a) in x.indexed_iter() {
            v[i * 4 + c] = a;
        }
        let mut acts = vec![Columns { c: 4, len, v }];
        for step in &self.steps {
            let next = step.full(&acts[acts.len() - 1])?;
            acts.push(next);
        }
        Ok(acts)
    }

    /// The changed columns of the last prefix activation for each of the mutants `(position,
    /// base)` of the sequence whose activations are `acts`.
    fn prefix(&self, acts: &[Columns], muts: &[(usize, u8)]) -> Vec<Patch> {
        let mut patches: Vec<Patch> = muts
            .iter()
            .map(|&(pos, base)| {
                let mut v = vec![0.0f32; 4];
                match BASES.iter().position(|&b| b == base) {
                    Some(i) => v[i] = 1.0,
                    None => v.fill(0.25),
                }
                Patch {
                    start: pos,
                    len: 1,
                    v,
                }
            })
            .collect();
        for (i, step) in self.steps.iter().enumerate() {
            patches = step.patches(&acts[i], &acts[i + 1], &patches);
        }
        patches
    }

    /// Raw outputs `[mutants, tasks]` of the head for the last prefix activation `last` and
    /// each mutant's changed columns of it.
    fn head(&self, last: &Columns, h_ref: &[f32], patches: &[Patch]) -> Result<Array2<f32>> {
        let n = patches.len();
        let (x, start, params) = match &self.head {
            Head::Linear {
                linear,
                after,
                params,
            } => {
                let h = linear.outputs(last, h_ref, patches);
                let x = Array::from_shape_vec(IxDyn(&[n, linear.out_features()]), h);
                (x, *after, params)
            }
            Head::Whole { start, params } => {
                let x = delta::channel_major(last, patches);
                let x = Array::from_shape_vec(IxDyn(&[n, last.c, last.len]), x);
                (x, *start, params)
            }
        };
        let x = x.map_err(|e| Error::Config(format!("fast ISM batch: {e}")))?;
        let mut tape = Tape::inference();
        let xv = tape.constant(x);
        let pv: Vec<_> = params
            .iter()
            .map(|p| tape.param_shared(p.clone()))
            .collect();
        let y = self.model.net.infer_from(&mut tape, start, xv, &pv)?;
        tape.value(y)
            .clone()
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(|_| Error::Config("the model's output is not [N, tasks]".into()))
    }

    /// The head's input for the reference (the first linear's output for a [`Head::Linear`]).
    fn head_reference(&self, last: &Columns) -> Result<Vec<f32>> {
        match &self.head {
            Head::Linear { linear, .. } => linear.reference(last),
            Head::Whole { .. } => Ok(Vec::new()),
        }
    }

    /// Saturation mutagenesis of `seq` (see [`fast_ism`]); `None` when the sequence is outside
    /// what this path handles (a DeepBind model scoring more than one window).
    pub fn run(
        &self,
        scorer: &Scorer,
        seq: &[u8],
        raw: bool,
        batch: usize,
    ) -> Result<Option<IsmScores>> {
        let model = self.model;
        let pres = scorer.presentation()?;
        // One input per strand: the whole sequence (padded for DeepBind models, which are
        // scored raw); a DeepBind model scoring several windows is outside this path.
        if pres.window_len(seq.len()) != seq.len() {
            return Ok(None);
        }
        let (input, offset) = (pres.padded(seq, 0, seq.len()), pres.pad);
        let scaled = model.meta.scoring.is_plain() && !raw;
        let reference: Vec<f32> = if raw {
            scorer.score_raw(&[seq])?
        } else {
            scorer.score(&[seq])?
        }
        .iter()
        .copied()
        .collect();
        let tasks = reference.len();
        let mut strands = vec![input.clone()];
        if pres.both_strands() {
            strands.push(encode::reverse_complement(&input));
        }
        let len = input.len();
        let acts: Vec<Vec<Columns>> = strands
            .iter()
            .map(|s| self.activations(s))
            .collect::<Result<_>>()?;
        let h_refs: Vec<Vec<f32>> = acts
            .iter()
            .map(|a| self.head_reference(&a[a.len() - 1]))
            .collect::<Result<_>>()?;
        let scale = |y: Array2<f32>| {
            if scaled {
                to_output(model.arch.loss, y)
            } else {
                y
            }
        };
        let muts = mutations(seq);
        let mut mutants = Array2::<f32>::zeros((muts.len(), tasks));
        let batch = batch.max(1);
        for (ci, chunk) in muts.chunks(batch).enumerate() {
            let mut outs = Vec::with_capacity(strands.len());
            for (si, (a, h_ref)) in acts.iter().zip(&h_refs).enumerate() {
                let at: Vec<(usize, u8)> = chunk
                    .iter()
                    .map(|m| {
                        if si == 0 {
                            (offset + m.pos, m.alt)
                        } else {
                            (
                                len - 1 - (offset + m.pos),
                                encode::reverse_complement(&[m.alt])[0],
                            )
                        }
                    })
                    .collect();
                let patches = self.prefix(a, &at);
                outs.push(self.head(&a[a.len() - 1], h_ref, &patches)?);
            }
            let mut it = outs.into_iter();
            let f = it.next().unwrap_or_default();
            let y = pres.combine(f, it.next(), scale);
            mutants
                .slice_mut(ndarray::s![ci * batch..ci * batch + chunk.len(), ..])
                .assign(&y);
        }
        Ok(Some(IsmScores {
            mutations: muts,
            reference,
            mutants,
        }))
    }
}

/// Saturation mutagenesis the fastISM way (Nair et al. 2021): the convolutional prefix of the
/// network (convolutions, activations, pooling, eval-mode batch norm and dropout, up to the first
/// flatten or global pooling) is run once on the sequence; for each mutant only the columns of
/// each layer inside the changed base's receptive field are recomputed, as the reference
/// activation plus the convolution of the change, with the changed columns of a whole batch of
/// mutants in one matrix product per layer and tap. A flatten followed by a linear layer is
/// updated the same way (only the weights of the changed features are read); the rest of the
/// network runs on the patched features. Equal to [`super::naive_ism`] up to float rounding.
///
/// `Ok(None)` when the model or sequence is outside what this path handles (a network with
/// residual blocks or padded pooling, a DeepBind model scoring more than one window): use
/// [`super::naive_ism`] then. The reference scores come from the scorer, as in `predict`. For
/// many sequences, prepare the model once with [`FastIsm::new`].
pub fn fast_ism(
    model: &Model,
    scorer: &Scorer,
    seq: &[u8],
    raw: bool,
    batch: usize,
) -> Result<Option<IsmScores>> {
    match FastIsm::new(model)? {
        Some(f) => f.run(scorer, seq, raw, batch),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::model::{Scoring, Strand};
    use crate::mutate::naive_ism;
    use crate::rng;

    fn random_seq(len: usize, seed: u64) -> Vec<u8> {
        let mut r = rng::seeded(seed);
        (0..len)
            .map(|_| b"ACGT"[(rng::uniform(&mut r, 0.0, 4.0) as usize).min(3)])
            .collect()
    }

    /// A model of `layers` (TOML `[[layers]]` tables) on `input`, with seeded weights and
    /// non-trivial batch-norm statistics.
    fn model(input: &str, layers: &str, tasks: usize, seed: u64) -> Model {
        let arch = Arch::from_toml(&format!("name = 't'\ninput = {input}\n{layers}")).unwrap();
        let tasks = (0..tasks).map(|t| format!("t{t}")).collect();
        let mut m = Model::new(arch, tasks, &mut rng::seeded(seed), 1.0).unwrap();
        let specs = m.net.params().to_vec();
        for (i, (spec, p)) in specs.iter().zip(m.params.iter_mut()).enumerate() {
            let v = 0.1 * (i % 5) as f32;
            match spec.suffix {
                "running_mean" => p.mapv_inplace(|_| v - 0.2),
                "running_var" => p.mapv_inplace(|_| 0.5 + v),
                "weight" if spec.shape.len() == 1 => p.mapv_inplace(|_| 1.5 - v),
                "bias" if spec.shape.len() == 1 && spec.init == crate::nn::Init::Zeros => {
                    p.mapv_inplace(|_| v)
                }
                _ => {}
            }
        }
        m
    }

    /// Fast and naive ISM agree within 1e-5 (relative to the score's size), scaled and raw,
    /// under every strand rule, in batches that split the mutants unevenly.
    fn agree(model: &Model, seq: &[u8]) {
        let fast = FastIsm::new(model)
            .unwrap()
            .expect("fast ISM handles this model");
        for strand in [Strand::None, Strand::Mean, Strand::Max] {
            let scorer = Scorer::new(model).with_strand(strand);
            for raw in [false, true] {
                let naive = naive_ism(&scorer, seq, raw, 64).unwrap();
                let got = fast
                    .run(&scorer, seq, raw, 25)
                    .unwrap()
                    .expect("one window");
                assert_eq!(naive.mutations, got.mutations);
                assert_eq!(naive.reference, got.reference);
                for (a, b) in naive.mutants.iter().zip(got.mutants.iter()) {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                        "{strand:?} raw={raw}: naive {a} vs fast {b}"
                    );
                }
            }
        }
    }

    fn reason(model: &Model) -> String {
        match FastIsm::prepare(model).unwrap() {
            Ok(_) => panic!("fast ISM took the model"),
            Err(why) => why.to_string(),
        }
    }

    const CONVS: &str = r#"
[[layers]]
type = "conv1d"
out_channels = 6
kernel_size = 5
stride = 2
padding = [1, 2]
[[layers]]
type = "relu"
[[layers]]
type = "max_pool1d"
kernel_size = 3
stride = 2
[[layers]]
type = "dropout"
p = 0.3
[[layers]]
type = "conv1d"
out_channels = 7
kernel_size = 3
dilation = 2
padding = 1
[[layers]]
type = "batchnorm1d"
[[layers]]
type = "sigmoid"
[[layers]]
type = "avg_pool1d"
kernel_size = 2
[[layers]]
type = "conv1d"
out_channels = 5
kernel_size = 3
padding = "same"
bias = false
[[layers]]
type = "tanh"
"#;

    #[test]
    fn flatten_and_linear_head_with_layers_after_it() {
        let head = r#"
[[layers]]
type = "flatten"
[[layers]]
type = "dropout"
p = 0.5
[[layers]]
type = "linear"
out_features = 9
[[layers]]
type = "relu"
[[layers]]
type = "linear"
"#;
        let m = model(
            "{ channels = 4, length = 70 }",
            &format!("{CONVS}{head}"),
            3,
            4,
        );
        let f = FastIsm::new(&m).unwrap().unwrap();
        assert!(matches!(f.head, Head::Linear { after: 13, .. }));
        assert_eq!(f.steps.len(), 9, "dropout is no step");
        let mut seq = random_seq(70, 6);
        seq[10] = b'N';
        agree(&m, &seq);
    }

    #[test]
    fn flatten_and_a_last_linear() {
        let head = "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"linear\"\n";
        let m = model(
            "{ channels = 4, length = 41 }",
            &format!("{CONVS}{head}"),
            2,
            5,
        );
        let f = FastIsm::new(&m).unwrap().unwrap();
        assert!(matches!(f.head, Head::Linear { after: 12, .. }));
        agree(&m, &random_seq(41, 7));
    }

    #[test]
    fn global_pooling_heads() {
        for (i, pool) in ["global_max_pool", "global_avg_pool", "global_max_avg_pool"]
            .iter()
            .enumerate()
        {
            let head = format!(
                "[[layers]]\ntype = \"{pool}\"\n[[layers]]\ntype = \"linear\"\nout_features = 4\n\
                 [[layers]]\ntype = \"sigmoid\"\n[[layers]]\ntype = \"linear\"\n"
            );
            let m = model(
                "{ channels = 4 }",
                &format!("{CONVS}{head}"),
                2,
                8 + i as u64,
            );
            let f = FastIsm::new(&m).unwrap().unwrap();
            assert!(matches!(f.head, Head::Whole { start: 10, .. }));
            agree(&m, &random_seq(53, 9));
        }
    }

    #[test]
    fn a_flatten_not_followed_by_a_linear_runs_the_rest_whole() {
        let layers = "[[layers]]\ntype = \"conv1d\"\nout_channels = 2\nkernel_size = 4\n\
                      [[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"relu\"\n\
                      [[layers]]\ntype = \"linear\"\n";
        let m = model("{ channels = 4, length = 12 }", layers, 1, 3);
        let f = FastIsm::new(&m).unwrap().unwrap();
        assert!(matches!(f.head, Head::Whole { start: 1, .. }));
        agree(&m, &random_seq(12, 3));
    }

    #[test]
    fn deepbind_padding_and_windows() {
        let mut m = Model::new(
            Arch::builtin("deepbind").unwrap(),
            vec!["a".into()],
            &mut rng::seeded(2),
            1.0,
        )
        .unwrap();
        // Trained DeepBind: plain scoring.
        agree(&m, &random_seq(60, 3));
        // Imported DeepBind: windows padded with k - 1 N's, scored raw; one window is handled,
        // more are left to naive ISM.
        m.meta.scoring = Scoring::DeepBind {
            window: Some(30),
            average: false,
        };
        agree(&m, &random_seq(30, 4));
        agree(&m, &random_seq(21, 5));
        let scorer = Scorer::new(&m);
        let f = FastIsm::new(&m).unwrap().unwrap();
        assert!(
            f.run(&scorer, &random_seq(31, 6), false, 64)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn unsupported_layers_leave_the_model_to_naive_ism() {
        let conv = "[[layers]]\ntype = \"conv1d\"\nout_channels = 3\nkernel_size = 3\n";
        let tail = "[[layers]]\ntype = \"global_max_pool\"\n[[layers]]\ntype = \"linear\"\n";
        let cases = [
            (
                "[[layers]]\ntype = \"residual\"\nlayers = [{type = \"relu\"}]\n",
                "a residual block (layer 1)",
            ),
            (
                "[[layers]]\ntype = \"max_pool1d\"\nkernel_size = 2\npadding = 1\n",
                "padded pooling (layer 1)",
            ),
            (
                "[[layers]]\ntype = \"avg_pool1d\"\nkernel_size = 3\npadding = 1\n",
                "padded pooling (layer 1)",
            ),
        ];
        for (middle, why) in cases {
            let m = model("{ channels = 4 }", &format!("{conv}{middle}{tail}"), 1, 1);
            assert_eq!(reason(&m), format!("not supported by fast ISM: {why}"));
            assert!(FastIsm::new(&m).unwrap().is_none());
            let scorer = Scorer::new(&m);
            assert!(
                fast_ism(&m, &scorer, b"ACGTACGT", false, 8)
                    .unwrap()
                    .is_none()
            );
        }
        let m = model(
            "{ channels = 4 }",
            &format!("[[layers]]\ntype = \"relu\"\n{tail}"),
            1,
            1,
        );
        assert_eq!(
            reason(&m),
            "not supported by fast ISM: no convolution before layer 1"
        );
        let m = model("{ channels = 3 }", &format!("{conv}{tail}"), 1, 1);
        assert!(reason(&m).contains("not the four bases"), "{}", reason(&m));
        let lenet = Model::new(
            Arch::builtin("lenet5").unwrap(),
            (0..10).map(|t| t.to_string()).collect(),
            &mut rng::seeded(1),
            1.0,
        )
        .unwrap();
        assert!(
            reason(&lenet).contains("not the four bases"),
            "{}",
            reason(&lenet)
        );
    }
}
