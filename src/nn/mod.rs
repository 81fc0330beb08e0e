//! Networks built from an [`Arch`]: shape inference, parameter names and shapes, PyTorch-default
//! initialisation, and the forward pass on a [`Tape`]. The built layers can be read
//! ([`Network::layers`]: resolved geometry, parameter indices, the shape entering each) and the
//! forward pass started at any layer ([`Network::infer_from`]), for code that computes part of a
//! network another way (fast ISM's convolutional prefix).

mod first_conv;

pub use first_conv::FirstConv;

use crate::arch::{Arch, LayerSpec};
use crate::rng::{self, Rng};
use crate::tensor::ops::conv::Conv1dGeom;
use crate::tensor::ops::conv2d::{Conv2dGeom, ConvT2dGeom};
use crate::tensor::ops::pool::Pool1dGeom;
use crate::tensor::ops::pool2d::Pool2dGeom;
use crate::tensor::{Array, Tape, Var};
use crate::{Error, Result};

/// What flows between layers (per example, without the batch axis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `[channels, length]`; length unknown for networks that take any length.
    Seq {
        channels: usize,
        length: Option<usize>,
    },
    /// `[features]`.
    Flat(usize),
    /// `[channels, height, width]`.
    Image { c: usize, h: usize, w: usize },
}

/// How a parameter starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// PyTorch's default for conv and linear layers: U(-b, b) with `b = 1 / sqrt(fan_in)`.
    Uniform {
        fan_in: usize,
    },
    Ones,
    Zeros,
}

/// A parameter's (or buffer's) name, shape and initialisation.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// Name in seqcnn model files, e.g. `0.weight`, or `conv1.weight` for a named layer.
    pub name: String,
    /// Name in the matching PyTorch `nn.Sequential` state dict, e.g. `3.body.0.weight`.
    pub torch: String,
    /// PyTorch layout: conv `[out, in, k]`, linear `[out, in]`, bias and norm vectors `[C]`.
    pub shape: Vec<usize>,
    pub init: Init,
    /// Index of the owning top-level layer.
    pub layer: usize,
    /// `weight`, `bias`, `running_mean`, `running_var` or `num_batches_tracked`.
    pub suffix: &'static str,
    /// False for buffers (batch-norm running statistics): saved, never trained.
    pub trainable: bool,
}

impl ParamSpec {
    /// The name this parameter has in the matching PyTorch `nn.Sequential` state dict.
    pub fn torch_name(&self) -> String {
        self.torch.clone()
    }
}

/// A built layer, as [`Network::layers`] shows it: its kind, its geometry resolved against the
/// shape it receives (`padding = "same"` turned into left and right padding, pooling strides
/// defaulted), and the indices of its parameters in [`Network::params`] (and in the parameter
/// list [`Network::infer`] takes). Only [`Network::build`] makes the layers a network runs, so a
/// network is read, never changed, through this.
#[derive(Clone, Debug)]
pub enum Layer {
    Conv1d {
        /// Index of the weight, shape `[out, in, k]`.
        w: usize,
        /// Index of the bias, shape `[out]`.
        b: Option<usize>,
        geom: Conv1dGeom,
    },
    Linear {
        /// Index of the weight, shape `[out, in]`.
        w: usize,
        /// Index of the bias, shape `[out]`.
        b: Option<usize>,
    },
    Relu,
    Sigmoid,
    Tanh,
    MaxPool1d(Pool1dGeom),
    AvgPool1d(Pool1dGeom),
    GlobalMaxPool,
    GlobalAvgPool,
    /// Global max and mean pooling, interleaved per channel: `[max_0, avg_0, max_1, ...]`.
    GlobalMaxAvgPool,
    /// Dropout with drop probability `p` (the identity in evaluation mode).
    Dropout(f32),
    Flatten,
    /// Batch norm over channels (1D or 2D); every index points at a `[C]` vector except
    /// `count`, a scalar.
    BatchNorm {
        w: usize,
        b: usize,
        mean: usize,
        var: usize,
        count: usize,
        eps: f32,
        momentum: f32,
    },
    /// `x + body(x)`; the body's parameters belong to the block's top-level layer.
    Residual(Vec<Layer>),
    Conv2d {
        /// Index of the weight, shape `[out, in, kh, kw]`.
        w: usize,
        /// Index of the bias, shape `[out]`.
        b: Option<usize>,
        geom: Conv2dGeom,
    },
    ConvTranspose2d {
        /// Index of the weight, shape `[in, out, kh, kw]`.
        w: usize,
        /// Index of the bias, shape `[out]`.
        b: Option<usize>,
        geom: ConvT2dGeom,
    },
    MaxPool2d(Pool2dGeom),
    AvgPool2d(Pool2dGeom),
    GlobalAvgPool2d,
}

/// A network ready to run.
#[derive(Clone, Debug)]
pub struct Network {
    layers: Vec<Layer>,
    params: Vec<ParamSpec>,
    /// The shape entering each top-level layer, then the output: `layers.len() + 1` shapes.
    shapes: Vec<Shape>,
}

/// New values for buffers (running statistics) computed by a training forward pass.
pub type BufferUpdates = Vec<(usize, Array)>;

struct Builder<'a> {
    params: &'a mut Vec<ParamSpec>,
    n_outputs: usize,
}

impl Builder<'_> {
    /// Builds `specs` from `shape`; `name_prefix`/`torch_prefix` prefix parameter names (empty at
    /// the top level, `3.body.` inside a residual block); `top` is the top-level layer index.
    /// Returns the layers and the shape entering each of them, then the output shape.
    fn build(
        &mut self,
        specs: &[LayerSpec],
        name_prefix: &str,
        torch_prefix: &str,
        top: Option<usize>,
        mut shape: Shape,
    ) -> Result<(Vec<Layer>, Vec<Shape>)> {
        let mut layers = Vec::with_capacity(specs.len());
        let mut shapes = Vec::with_capacity(specs.len() + 1);
        for (i, spec) in specs.iter().enumerate() {
            shapes.push(shape);
            let label = format!("{torch_prefix}{i}");
            let err =
                |msg: String| Error::Arch(format!("layer {label} ({}): {msg}", spec.type_name()));
            let seq = |shape: Shape| match shape {
                Shape::Seq { channels, length } => Ok((channels, length)),
                Shape::Flat(_) => Err(err(
                    "needs a [channels, length] input, got a flat vector".into()
                )),
                Shape::Image { .. } => Err(err(format!(
                    "needs a [channels, length] input, got an image {shape:?}; use the 2D layer"
                ))),
            };
            let image = |shape: Shape| match shape {
                Shape::Image { c, h, w } => Ok((c, h, w)),
                _ => Err(err(format!(
                    "needs an image [channels, height, width] input, got {shape:?}"
                ))),
            };
            let owner = top.unwrap_or(i);
            let pname = format!("{name_prefix}{}", spec.param_name(i).unwrap_or_default());
            let params = &mut *self.params;
            let mut add = |suffix: &'static str, shape: Vec<usize>, init: Init, trainable: bool| {
                params.push(ParamSpec {
                    name: format!("{pname}.{suffix}"),
                    torch: format!("{label}.{suffix}"),
                    shape,
                    init,
                    layer: owner,
                    suffix,
                    trainable,
                });
                params.len() - 1
            };
            let (layer, next) = match spec {
                LayerSpec::Conv1d {
                    out_channels,
                    kernel_size,
                    stride,
                    padding,
                    dilation,
                    bias,
                    ..
                } => {
                    let (c, l) = seq(shape)?;
                    let (pad_left, pad_right) = padding
                        .resolve(*kernel_size, *dilation, *stride)
                        .map_err(|e| err(e.to_string()))?;
                    let geom = Conv1dGeom {
                        stride: *stride,
                        pad_left,
                        pad_right,
                        dilation: *dilation,
                    };
                    let l_out = match l {
                        Some(l) => Some(geom.out_len(l, *kernel_size).ok_or_else(|| {
                            err(format!("input length {l} is shorter than the kernel span"))
                        })?),
                        None => None,
                    };
                    let init = Init::Uniform {
                        fan_in: c.saturating_mul(*kernel_size),
                    };
                    let w = add("weight", vec![*out_channels, c, *kernel_size], init, true);
                    let b = bias.then(|| add("bias", vec![*out_channels], init, true));
                    (
                        Layer::Conv1d { w, b, geom },
                        Shape::Seq {
                            channels: *out_channels,
                            length: l_out,
                        },
                    )
                }
                LayerSpec::Linear {
                    out_features, bias, ..
                } => {
                    let f = match shape {
                        Shape::Flat(f) => f,
                        Shape::Seq { .. } | Shape::Image { .. } => {
                            return Err(err("needs a flat input: add a flatten or global pooling layer before it".into()));
                        }
                    };
                    let out = out_features.unwrap_or(self.n_outputs);
                    if out == 0 {
                        return Err(err("no outputs (zero tasks)".into()));
                    }
                    let init = Init::Uniform { fan_in: f };
                    let w = add("weight", vec![out, f], init, true);
                    let b = bias.then(|| add("bias", vec![out], init, true));
                    (Layer::Linear { w, b }, Shape::Flat(out))
                }
                LayerSpec::Batchnorm1d { eps, momentum, .. }
                | LayerSpec::Batchnorm2d { eps, momentum, .. } => {
                    let c = match shape {
                        Shape::Flat(f) => f,
                        Shape::Seq { channels, .. } => channels,
                        Shape::Image { .. } if matches!(spec, LayerSpec::Batchnorm1d { .. }) => {
                            return Err(err("an image input needs batchnorm2d".into()));
                        }
                        Shape::Image { c, .. } => c,
                    };
                    if matches!(spec, LayerSpec::Batchnorm2d { .. }) {
                        image(shape)?;
                    }
                    let w = add("weight", vec![c], Init::Ones, true);
                    let b = add("bias", vec![c], Init::Zeros, true);
                    let mean = add("running_mean", vec![c], Init::Zeros, false);
                    let var = add("running_var", vec![c], Init::Ones, false);
                    let count = add("num_batches_tracked", vec![], Init::Zeros, false);
                    (
                        Layer::BatchNorm {
                            w,
                            b,
                            mean,
                            var,
                            count,
                            eps: *eps,
                            momentum: *momentum,
                        },
                        shape,
                    )
                }
                LayerSpec::Residual { layers: body, .. } => {
                    let (inner, inner_shapes) = self.build(
                        body,
                        &format!("{pname}.body."),
                        &format!("{label}.body."),
                        Some(owner),
                        shape,
                    )?;
                    let out = inner_shapes[inner_shapes.len() - 1];
                    if out != shape {
                        return Err(err(format!(
                            "the body maps {shape:?} to {out:?}; a residual block must keep the shape"
                        )));
                    }
                    (Layer::Residual(inner), shape)
                }
                LayerSpec::Conv2d {
                    out_channels,
                    kernel_size,
                    stride,
                    padding,
                    dilation,
                    bias,
                    ..
                } => {
                    let (c, h, wd) = image(shape)?;
                    let k = kernel_size.get();
                    let (stride, dilation) = (stride.get(), dilation.get());
                    let geom = Conv2dGeom {
                        stride,
                        padding: padding
                            .resolve(k, dilation, stride)
                            .map_err(|e| err(e.to_string()))?,
                        dilation,
                    };
                    let (Some(oh), Some(ow)) =
                        (geom.out_len(0, h, k[0]), geom.out_len(1, wd, k[1]))
                    else {
                        return Err(err(format!(
                            "input {h}x{wd} is smaller than the kernel span (with padding)"
                        )));
                    };
                    let init = Init::Uniform {
                        fan_in: c.saturating_mul(k[0]).saturating_mul(k[1]),
                    };
                    let w = add("weight", vec![*out_channels, c, k[0], k[1]], init, true);
                    let b = bias.then(|| add("bias", vec![*out_channels], init, true));
                    (
                        Layer::Conv2d { w, b, geom },
                        Shape::Image {
                            c: *out_channels,
                            h: oh,
                            w: ow,
                        },
                    )
                }
                LayerSpec::ConvTranspose2d {
                    out_channels,
                    kernel_size,
                    stride,
                    padding,
                    output_padding,
                    dilation,
                    bias,
                    ..
                } => {
                    let (c, h, wd) = image(shape)?;
                    let k = kernel_size.get();
                    let geom = ConvT2dGeom {
                        stride: stride.get(),
                        padding: padding.get(),
                        output_padding: output_padding.get(),
                        dilation: dilation.get(),
                    };
                    let (Some(oh), Some(ow)) =
                        (geom.out_len(0, h, k[0]), geom.out_len(1, wd, k[1]))
                    else {
                        return Err(err(format!("padding removes the whole {h}x{wd} output")));
                    };
                    // PyTorch takes the fan-in of a transposed convolution from weight.size(1).
                    let init = Init::Uniform {
                        fan_in: out_channels.saturating_mul(k[0]).saturating_mul(k[1]),
                    };
                    let w = add("weight", vec![c, *out_channels, k[0], k[1]], init, true);
                    let b = bias.then(|| add("bias", vec![*out_channels], init, true));
                    (
                        Layer::ConvTranspose2d { w, b, geom },
                        Shape::Image {
                            c: *out_channels,
                            h: oh,
                            w: ow,
                        },
                    )
                }
                LayerSpec::MaxPool2d {
                    kernel_size,
                    stride,
                    padding,
                }
                | LayerSpec::AvgPool2d {
                    kernel_size,
                    stride,
                    padding,
                } => {
                    let (c, h, w) = image(shape)?;
                    let geom = Pool2dGeom {
                        kernel: kernel_size.get(),
                        stride: stride.unwrap_or(*kernel_size).get(),
                        padding: padding.get(),
                    };
                    let [oh, ow] = geom
                        .out_size("pool", h, w)
                        .map_err(|e| err(e.to_string()))?;
                    let layer = if matches!(spec, LayerSpec::MaxPool2d { .. }) {
                        Layer::MaxPool2d(geom)
                    } else {
                        Layer::AvgPool2d(geom)
                    };
                    (layer, Shape::Image { c, h: oh, w: ow })
                }
                LayerSpec::GlobalAvgPool2d {} => {
                    (Layer::GlobalAvgPool2d, Shape::Flat(image(shape)?.0))
                }
                LayerSpec::Relu {} => (Layer::Relu, shape),
                LayerSpec::Sigmoid {} => (Layer::Sigmoid, shape),
                LayerSpec::Tanh {} => (Layer::Tanh, shape),
                LayerSpec::Dropout { p } => (Layer::Dropout(*p), shape),
                LayerSpec::MaxPool1d {
                    kernel_size,
                    stride,
                    padding,
                }
                | LayerSpec::AvgPool1d {
                    kernel_size,
                    stride,
                    padding,
                } => {
                    let (c, l) = seq(shape)?;
                    let geom = Pool1dGeom {
                        kernel: *kernel_size,
                        stride: stride.unwrap_or(*kernel_size),
                        padding: *padding,
                    };
                    let l_out = match l {
                        Some(l) => Some(geom.out_len("pool", l).map_err(|e| err(e.to_string()))?),
                        None => None,
                    };
                    let layer = if matches!(spec, LayerSpec::MaxPool1d { .. }) {
                        Layer::MaxPool1d(geom)
                    } else {
                        Layer::AvgPool1d(geom)
                    };
                    (
                        layer,
                        Shape::Seq {
                            channels: c,
                            length: l_out,
                        },
                    )
                }
                LayerSpec::GlobalMaxPool {} => (Layer::GlobalMaxPool, Shape::Flat(seq(shape)?.0)),
                LayerSpec::GlobalAvgPool {} => (Layer::GlobalAvgPool, Shape::Flat(seq(shape)?.0)),
                LayerSpec::GlobalMaxAvgPool {} => {
                    (Layer::GlobalMaxAvgPool, Shape::Flat(2 * seq(shape)?.0))
                }
                LayerSpec::Flatten {} => {
                    let f = match shape {
                        Shape::Flat(f) => f,
                        Shape::Seq {
                            channels,
                            length: Some(l),
                        } => channels * l,
                        Shape::Seq { length: None, .. } => {
                            return Err(err(
                                "flatten needs a fixed input length: set input.length".into(),
                            ));
                        }
                        Shape::Image { c, h, w } => c * h * w,
                    };
                    (Layer::Flatten, Shape::Flat(f))
                }
            };
            check_values(next).map_err(|m| err(format!("output {m}")))?;
            layers.push(layer);
            shape = next;
        }
        shapes.push(shape);
        Ok((layers, shapes))
    }
}

/// The most values one example may have between two layers: 2^32. With every size of an
/// architecture at most [`crate::arch::MAX_SIZE`], no layer's shape arithmetic can overflow.
const MAX_VALUES: u64 = 1 << 32;

/// The most weights (parameters and buffers) a network may have: 2^32 (16 GiB of float32).
const MAX_WEIGHTS: u64 = 1 << 32;

/// Values per example in `shape` (a sequence of any length counts its channels).
fn shape_values(shape: Shape) -> Option<u64> {
    let dims: &[usize] = match &shape {
        Shape::Seq {
            channels,
            length: None,
        } => &[*channels],
        Shape::Seq {
            channels,
            length: Some(l),
        } => &[*channels, *l],
        Shape::Flat(f) => &[*f],
        Shape::Image { c, h, w } => &[*c, *h, *w],
    };
    dims.iter()
        .try_fold(1u64, |n, &d| n.checked_mul(u64::try_from(d).ok()?))
}

/// An error unless `shape` holds at most [`MAX_VALUES`] values.
fn check_values(shape: Shape) -> std::result::Result<(), String> {
    match shape_values(shape) {
        Some(n) if n <= MAX_VALUES => Ok(()),
        _ => Err(format!(
            "{shape:?} has more than {MAX_VALUES} values per example"
        )),
    }
}

impl Network {
    /// Builds `arch` with `n_outputs` units wherever a linear layer leaves `out_features` unset.
    /// An error when a layer's output has more than 2^32 values per example or the network more
    /// than 2^32 weights.
    pub fn build(arch: &Arch, n_outputs: usize) -> Result<Network> {
        let input = match (arch.input.height, arch.input.width) {
            (Some(h), Some(w)) => Shape::Image {
                c: arch.input.channels,
                h,
                w,
            },
            _ => Shape::Seq {
                channels: arch.input.channels,
                length: arch.input.length,
            },
        };
        check_values(input).map_err(|m| Error::Arch(format!("input: {m}")))?;
        let mut params = Vec::new();
        let (layers, shapes) = Builder {
            params: &mut params,
            n_outputs,
        }
        .build(&arch.layers, "", "", None, input)?;
        let weights = params.iter().try_fold(0u64, |total, p| {
            let n = p
                .shape
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(u64::try_from(d).ok()?))?;
            total.checked_add(n)
        });
        if weights.is_none_or(|w| w > MAX_WEIGHTS) {
            return Err(Error::Arch(format!(
                "the network has more than {MAX_WEIGHTS} weights"
            )));
        }
        Ok(Network {
            layers,
            params,
            shapes,
        })
    }

    /// The top-level layers, in order, with resolved geometry and parameter indices.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The per-example shape entering top-level layer `i` (the output for `i == layers().len()`).
    pub fn shape_in(&self, i: usize) -> Option<Shape> {
        self.shapes.get(i).copied()
    }

    /// The index of the first parameter of layers `layer..` (the parameter count when they
    /// have none): parameters are listed layer by layer.
    pub fn first_param(&self, layer: usize) -> usize {
        self.params
            .iter()
            .position(|p| p.layer >= layer)
            .unwrap_or(self.params.len())
    }

    /// Parameter and buffer names, shapes and initialisations, in order.
    pub fn params(&self) -> &[ParamSpec] {
        &self.params
    }

    /// The per-example input shape.
    pub fn input_shape(&self) -> Shape {
        self.shapes[0]
    }

    /// The per-example output shape.
    pub fn output_shape(&self) -> Shape {
        self.shapes[self.shapes.len() - 1]
    }

    /// Number of output units (the length of a flat output).
    pub fn n_outputs(&self) -> Option<usize> {
        match self.output_shape() {
            Shape::Flat(f) => Some(f),
            Shape::Seq { .. } | Shape::Image { .. } => None,
        }
    }

    /// Fresh parameters with PyTorch's default initialisation (`kaiming_uniform_(a=sqrt(5))` for
    /// weights, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for biases, ones and zeros for batch norm),
    /// every uniform bound multiplied by `scale`.
    pub fn init_params(&self, rng: &mut Rng, scale: f32) -> Vec<Array> {
        self.params
            .iter()
            .map(|p| {
                let shape = ndarray::IxDyn(&p.shape);
                match p.init {
                    Init::Uniform { fan_in } => {
                        let bound = scale / (fan_in.max(1) as f32).sqrt();
                        Array::from_shape_simple_fn(shape, || rng::uniform(rng, -bound, bound))
                    }
                    Init::Ones => Array::ones(shape),
                    Init::Zeros => Array::zeros(shape),
                }
            })
            .collect()
    }

    /// Checks that `params` have this network's shapes.
    pub fn check_params(&self, params: &[Array]) -> Result<()> {
        if params.len() != self.params.len() {
            return Err(Error::Arch(format!(
                "{} parameters given, the network has {}",
                params.len(),
                self.params.len()
            )));
        }
        for (p, spec) in params.iter().zip(&self.params) {
            if p.shape() != spec.shape.as_slice() {
                return Err(Error::Arch(format!(
                    "{} has shape {:?}, expected {:?}",
                    spec.name,
                    p.shape(),
                    spec.shape
                )));
            }
        }
        Ok(())
    }

    /// The network in evaluation mode (no dropout, batch norm on its running statistics) on `x`;
    /// `params` are the parameter nodes in [`Network::params`] order. Every inference path
    /// (prediction, scoring, interpretation, mutagenesis) runs the network through this.
    pub fn infer(&self, tape: &mut Tape, x: Var, params: &[Var]) -> Result<Var> {
        Ok(self.run(tape, 0, x, params, None)?.0)
    }

    /// Runs the network on `x [N, C, L]`; `params` are the parameter nodes in [`Network::params`]
    /// order. Dropout and batch statistics are used only when `train`.
    pub fn forward(
        &self,
        tape: &mut Tape,
        x: Var,
        params: &[Var],
        train: bool,
        rng: &mut Rng,
    ) -> Result<Var> {
        Ok(self.forward_with_updates(tape, x, params, train, rng)?.0)
    }

    /// [`Network::forward`], also returning the new values of the buffers that a training pass
    /// updates (batch-norm running statistics, PyTorch's update rule), to be written back into
    /// the parameter list.
    pub fn forward_with_updates(
        &self,
        tape: &mut Tape,
        x: Var,
        params: &[Var],
        train: bool,
        rng: &mut Rng,
    ) -> Result<(Var, BufferUpdates)> {
        self.run(tape, 0, x, params, train.then_some(rng))
    }

    /// Layers `start..` of the network in evaluation mode on `x`, the activation entering layer
    /// `start` (`[N]` plus [`Network::shape_in`]`(start)`); `params` are the nodes of parameters
    /// [`Network::first_param`]`(start)..` in [`Network::params`] order. What follows a part of
    /// the network computed another way (fast ISM's convolutional prefix) runs through this.
    pub fn infer_from(&self, tape: &mut Tape, start: usize, x: Var, params: &[Var]) -> Result<Var> {
        if start > self.layers.len() {
            return Err(Error::Arch(format!(
                "layer {start} of a network of {} layers",
                self.layers.len()
            )));
        }
        Ok(self.run(tape, start, x, params, None)?.0)
    }

    /// Layers `start..` on `x`, training when `train` holds the dropout generator; `params` are
    /// the nodes of parameters `first_param(start)..`.
    fn run(
        &self,
        tape: &mut Tape,
        start: usize,
        x: Var,
        params: &[Var],
        mut train: Option<&mut Rng>,
    ) -> Result<(Var, BufferUpdates)> {
        let first = self.first_param(start);
        if params.len() != self.params.len() - first {
            return Err(Error::Arch(format!(
                "{} parameter nodes for {} parameters",
                params.len(),
                self.params.len() - first
            )));
        }
        let s = tape.shape(x);
        let (fits, want) = match self.shapes[start] {
            Shape::Seq { channels, length } => (
                s.len() == 3 && s[1] == channels && length.is_none_or(|l| l == s[2]),
                match length {
                    Some(l) => format!("[N, {channels}, {l}]"),
                    None => format!("[N, {channels}, L]"),
                },
            ),
            Shape::Image { c, h, w } => (
                s.len() == 4 && s[1..] == [c, h, w],
                format!("[N, {c}, {h}, {w}]"),
            ),
            Shape::Flat(f) => (s.len() == 2 && s[1] == f, format!("[N, {f}]")),
        };
        if !fits {
            return Err(if start == 0 {
                Error::shape("network input", format!("expected {want}, got {s:?}"))
            } else {
                Error::shape(
                    "layer input",
                    format!("layer {start} expects {want}, got {s:?}"),
                )
            });
        }
        let mut updates = Vec::new();
        let nodes = Nodes {
            vars: params,
            first,
        };
        let y = run_layers(
            &self.layers[start..],
            tape,
            x,
            nodes,
            &mut train,
            &mut updates,
        )?;
        Ok((y, updates))
    }
}

/// Parameter nodes indexed as in [`Network::params`], those before `first` left out (the layers
/// run read none of them).
#[derive(Clone, Copy)]
struct Nodes<'a> {
    vars: &'a [Var],
    first: usize,
}

impl std::ops::Index<usize> for Nodes<'_> {
    type Output = Var;

    fn index(&self, i: usize) -> &Var {
        &self.vars[i - self.first]
    }
}

fn values(tape: &Tape, v: Var) -> Vec<f32> {
    tape.value(v).iter().copied().collect()
}

fn run_layers(
    layers: &[Layer],
    tape: &mut Tape,
    x: Var,
    params: Nodes,
    rng: &mut Option<&mut Rng>,
    updates: &mut BufferUpdates,
) -> Result<Var> {
    let train = rng.is_some();
    let mut h = x;
    let mut fused = 0;
    for (i, layer) in layers.iter().enumerate() {
        if fused > 0 {
            // A ReLU (and max pooling) applied by the convolution before it.
            fused -= 1;
            continue;
        }
        let prev = h;
        h = match layer {
            // A convolution followed by a ReLU (and a max pooling) is one node: the bias and ReLU
            // are applied as the GEMM's output is written (and pooled there), and neither the
            // pre-activation nor the unpooled array is ever made.
            // Not on a DeepLIFT tape, where the ReLU and the pooling need nodes of their own.
            Layer::Conv1d { w, b, geom }
                if tape.fuses() && matches!(layers.get(i + 1), Some(Layer::Relu)) =>
            {
                let (w, b) = (params[*w], b.map(|b| params[b]));
                match layers.get(i + 2) {
                    Some(Layer::MaxPool1d(pool)) => {
                        fused = 2;
                        tape.conv1d_relu_pool(h, w, b, *geom, *pool)?
                    }
                    // Global max pooling (DeepBind) is a max pooling over the whole output.
                    Some(Layer::GlobalMaxPool) => {
                        let (xs, ws) = (tape.shape(h).to_vec(), tape.shape(w).to_vec());
                        let l_out = match (xs.get(2), ws.get(2)) {
                            (Some(&l), Some(&k)) => geom.out_len(l, k),
                            _ => None,
                        };
                        match l_out {
                            Some(l_out) if l_out > 0 => {
                                fused = 2;
                                let pool = Pool1dGeom {
                                    kernel: l_out,
                                    stride: l_out,
                                    padding: 0,
                                };
                                let y = tape.conv1d_relu_pool(h, w, b, *geom, pool)?;
                                let c = tape.shape(y)[1];
                                tape.reshape(y, &[xs[0], c])?
                            }
                            // A shape error: reported by the unfused convolution.
                            _ => {
                                fused = 1;
                                tape.conv1d_relu(h, w, b, *geom)?
                            }
                        }
                    }
                    _ => {
                        fused = 1;
                        tape.conv1d_relu(h, w, b, *geom)?
                    }
                }
            }
            Layer::Conv1d { w, b, geom } => {
                tape.conv1d(h, params[*w], b.map(|b| params[b]), *geom)?
            }
            Layer::Linear { w, b } => tape.linear(h, params[*w], b.map(|b| params[b]))?,
            Layer::Relu => tape.relu(h),
            Layer::Sigmoid => tape.sigmoid(h),
            Layer::Tanh => tape.tanh(h),
            Layer::MaxPool1d(g) => tape.max_pool1d(h, *g)?,
            Layer::AvgPool1d(g) => tape.avg_pool1d(h, *g)?,
            Layer::GlobalMaxPool => tape.global_max_pool(h)?,
            Layer::GlobalAvgPool => tape.global_avg_pool(h)?,
            Layer::GlobalMaxAvgPool => {
                // [N, C] max and mean stacked to [N, C, 2] then flattened: max_c, avg_c, ...
                let n = tape.shape(h)[0];
                let c = tape.shape(h)[1];
                let m = tape.global_max_pool(h)?;
                let a = tape.global_avg_pool(h)?;
                let m = tape.reshape(m, &[n, c, 1])?;
                let a = tape.reshape(a, &[n, c, 1])?;
                let both = tape.concat(&[m, a], 2)?;
                tape.reshape(both, &[n, 2 * c])?
            }
            Layer::Dropout(p) => tape.dropout(h, *p, rng.as_deref_mut())?,
            Layer::Flatten => tape.flatten(h)?,
            Layer::BatchNorm {
                w,
                b,
                mean,
                var,
                count,
                eps,
                momentum,
            } => {
                let (rm, rv) = (values(tape, params[*mean]), values(tape, params[*var]));
                let (y, stats) =
                    tape.batch_norm(h, params[*w], params[*b], (&rm, &rv), *eps, train)?;
                if let Some(st) = stats {
                    let m = *momentum;
                    let blend = |old: &[f32], new: &[f32]| {
                        Array::from_shape_vec(
                            ndarray::IxDyn(&[old.len()]),
                            old.iter()
                                .zip(new)
                                .map(|(o, n)| (1.0 - m) * o + m * n)
                                .collect(),
                        )
                        .expect("per channel")
                    };
                    updates.push((*mean, blend(&rm, &st.mean)));
                    updates.push((*var, blend(&rv, &st.var_unbiased)));
                    updates.push((*count, tape.value(params[*count]).mapv(|c| c + 1.0)));
                }
                y
            }
            Layer::Residual(body) => {
                let inner = run_layers(body, tape, h, params, rng, updates)?;
                let sum = tape.add(h, inner)?;
                tape.release(inner);
                sum
            }
            Layer::Conv2d { w, b, geom } => {
                tape.conv2d(h, params[*w], b.map(|b| params[b]), *geom)?
            }
            Layer::ConvTranspose2d { w, b, geom } => {
                tape.conv_transpose2d(h, params[*w], b.map(|b| params[b]), *geom)?
            }
            Layer::MaxPool2d(g) => tape.max_pool2d(h, *g)?,
            Layer::AvgPool2d(g) => tape.avg_pool2d(h, *g)?,
            Layer::GlobalAvgPool2d => tape.global_avg_pool2d(h)?,
        };
        // Inference: the previous activation is not read again (the call's own input is left to
        // the caller, which may still need it, as a residual block does).
        if h != prev && prev != x {
            tape.release(prev);
        }
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deepbind_shapes_and_names() {
        let arch = Arch::builtin("deepbind").unwrap();
        let net = Network::build(&arch, 3).unwrap();
        let names: Vec<_> = net
            .params()
            .iter()
            .map(|p| (p.name.as_str(), p.shape.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("0.weight", vec![16, 4, 24]),
                ("0.bias", vec![16]),
                ("3.weight", vec![32, 16]),
                ("3.bias", vec![32]),
                ("6.weight", vec![3, 32]),
                ("6.bias", vec![3]),
            ]
        );
        let params = net.init_params(&mut rng::seeded(1), 1.0);
        let bound = 1.0 / (4.0f32 * 24.0).sqrt();
        assert!(params[0].iter().all(|v| v.abs() <= bound));
        let mut tape = Tape::inference();
        let x = tape.constant(Array::zeros(ndarray::IxDyn(&[2, 4, 101])));
        let pv: Vec<Var> = params.into_iter().map(|p| tape.param(p)).collect();
        let y = net.infer(&mut tape, x, &pv).unwrap();
        assert_eq!(tape.shape(y), &[2, 3]);
    }

    #[test]
    fn wrong_input_channels_is_an_error() {
        let net = Network::build(&Arch::builtin("deepbind").unwrap(), 1).unwrap();
        let params = net.init_params(&mut rng::seeded(1), 1.0);
        let mut tape = Tape::inference();
        let x = tape.constant(Array::zeros(ndarray::IxDyn(&[2, 5, 101])));
        let pv: Vec<Var> = params.into_iter().map(|p| tape.param(p)).collect();
        let err = net.infer(&mut tape, x, &pv).unwrap_err();
        assert!(err.to_string().contains("expected [N, 4, L]"), "{err}");
    }

    #[test]
    fn deepsea_and_dilated_shapes() {
        let deepsea = Network::build(&Arch::builtin("deepsea").unwrap(), 3).unwrap();
        let shapes: Vec<_> = deepsea
            .params()
            .iter()
            .map(|p| (p.name.as_str(), p.shape.clone()))
            .collect();
        assert_eq!(shapes[0], ("0.weight", vec![320, 4, 8]));
        assert_eq!(shapes[4], ("8.weight", vec![960, 480, 8]));
        assert_eq!(shapes[6], ("12.weight", vec![925, 960 * 53]));
        assert_eq!(deepsea.n_outputs(), Some(3));
        let dilated = Network::build(&Arch::builtin("dilated").unwrap(), 3).unwrap();
        let names: Vec<_> = dilated.params().iter().map(|p| p.torch.as_str()).collect();
        assert!(
            names.contains(&"8.body.2.weight") && names.contains(&"11.body.0.running_var"),
            "{names:?}"
        );
        assert!(names.contains(&"1.num_batches_tracked"));
        let head = &dilated.params()[dilated.params().len() - 2];
        assert_eq!(
            (head.torch.as_str(), head.shape.clone()),
            ("17.weight", vec![3, 64 * 25])
        );
    }

    #[test]
    fn training_pass_updates_running_statistics() {
        let arch = Arch::from_toml(
            "name='bn'\ninput={channels=2}\n[[layers]]\ntype='batchnorm1d'\nmomentum=0.5\n[[layers]]\ntype='global_avg_pool'\n",
        )
        .unwrap();
        let net = Network::build(&arch, 1).unwrap();
        let params = net.init_params(&mut rng::seeded(1), 1.0);
        let mut tape = Tape::new();
        let x = Array::from_shape_vec(ndarray::IxDyn(&[1, 2, 3]), vec![1., 2., 3., 4., 4., 4.])
            .unwrap();
        let x = tape.constant(x);
        let pv: Vec<Var> = params.into_iter().map(|p| tape.param(p)).collect();
        let (_, updates) = net
            .forward_with_updates(&mut tape, x, &pv, true, &mut rng::seeded(0))
            .unwrap();
        // running_mean = 0.5 * 0 + 0.5 * [2, 4]; running_var = 0.5 * 1 + 0.5 * [1, 0] (unbiased)
        assert_eq!(updates[0].1.as_slice().unwrap(), &[1.0, 2.0]);
        assert_eq!(updates[1].1.as_slice().unwrap(), &[1.0, 0.5]);
        assert_eq!(updates[2].1.iter().copied().collect::<Vec<_>>(), vec![1.0]);
        let (_, none) = net
            .forward_with_updates(&mut tape, x, &pv, false, &mut rng::seeded(0))
            .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn inference_frees_activations_and_gives_the_same_output() {
        let arch = Arch::from_toml(
            "name='r'\ninput={channels=4}\n[[layers]]\ntype='conv1d'\nout_channels=3\nkernel_size=3\n\
             [[layers]]\ntype='residual'\nlayers=[{type='batchnorm1d'}, {type='relu'}, {type='conv1d', out_channels=3, kernel_size=3, padding='same'}]\n\
             [[layers]]\ntype='global_max_pool'\n[[layers]]\ntype='linear'\n",
        )
        .unwrap();
        let net = Network::build(&arch, 2).unwrap();
        let params = net.init_params(&mut rng::seeded(3), 1.0);
        let x = crate::tensor::gradcheck::random(&[2, 4, 12], 4);
        let run = |mut tape: Tape| {
            let xv = tape.constant(x.clone());
            let pv: Vec<Var> = params.iter().map(|p| tape.param(p.clone())).collect();
            let y = net.infer(&mut tape, xv, &pv).unwrap();
            let live = (0..tape.len())
                .filter(|&i| !tape.value(Var(i)).is_empty())
                .count();
            (tape.value(y).clone(), live)
        };
        let (recorded, live_recorded) = run(Tape::new());
        let (inferred, live_inferred) = run(Tape::inference());
        assert_eq!(recorded, inferred);
        assert!(
            live_inferred < live_recorded,
            "{live_inferred} vs {live_recorded} live values"
        );
    }

    #[test]
    fn residual_body_must_keep_the_shape() {
        let arch = Arch::from_toml(
            "name='r'\ninput={channels=4}\n[[layers]]\ntype='residual'\nlayers=[{type='conv1d', out_channels=8, kernel_size=1}]\n",
        )
        .unwrap();
        let err = Network::build(&arch, 1).unwrap_err().to_string();
        assert!(err.contains("residual block must keep the shape"), "{err}");
    }

    #[test]
    fn lenet5_shapes_names_and_forward() {
        let net = Network::build(&Arch::builtin("lenet5").unwrap(), 10).unwrap();
        let shapes: Vec<_> = net
            .params()
            .iter()
            .map(|p| (p.torch.as_str(), p.shape.clone()))
            .collect();
        assert_eq!(
            shapes,
            vec![
                ("0.weight", vec![6, 1, 5, 5]),
                ("0.bias", vec![6]),
                ("3.weight", vec![16, 6, 5, 5]),
                ("3.bias", vec![16]),
                ("7.weight", vec![120, 400]),
                ("7.bias", vec![120]),
                ("9.weight", vec![84, 120]),
                ("9.bias", vec![84]),
                ("11.weight", vec![10, 84]),
                ("11.bias", vec![10]),
            ]
        );
        assert_eq!(net.params()[0].init, Init::Uniform { fan_in: 25 });
        let params = net.init_params(&mut rng::seeded(1), 1.0);
        let mut tape = Tape::inference();
        let x = tape.constant(Array::zeros(ndarray::IxDyn(&[3, 1, 28, 28])));
        let pv: Vec<Var> = params.into_iter().map(|p| tape.param(p)).collect();
        let y = net.infer(&mut tape, x, &pv).unwrap();
        assert_eq!(tape.shape(y), &[3, 10]);
        let x = tape.constant(Array::zeros(ndarray::IxDyn(&[3, 1, 28, 27])));
        let err = net.infer(&mut tape, x, &pv).unwrap_err();
        assert!(err.to_string().contains("expected [N, 1, 28, 28]"), "{err}");
    }

    #[test]
    fn image_builtins_build_and_run() {
        for (name, hw, n_params) in [("resnet_small", 28, 38), ("smallcnn", 8, 8)] {
            let net = Network::build(&Arch::builtin(name).unwrap(), 10).unwrap();
            assert_eq!(net.params().len(), n_params, "{name}");
            let params = net.init_params(&mut rng::seeded(1), 1.0);
            let mut tape = Tape::new();
            let x = tape.constant(crate::tensor::gradcheck::random(&[2, 1, hw, hw], 3));
            let pv: Vec<Var> = params.into_iter().map(|p| tape.param(p)).collect();
            let (y, updates) = net
                .forward_with_updates(&mut tape, x, &pv, true, &mut rng::seeded(0))
                .unwrap();
            assert_eq!(tape.shape(y), &[2, 10], "{name}");
            let bn = net.params().iter().filter(|p| !p.trainable).count();
            assert_eq!(updates.len(), bn, "{name}: every buffer is updated");
        }
        let net = Network::build(&Arch::builtin("resnet_small").unwrap(), 10).unwrap();
        let names: Vec<&str> = net.params().iter().map(|p| p.torch.as_str()).collect();
        assert!(
            names.contains(&"3.body.3.weight") && names.contains(&"9.body.4.running_var"),
            "{names:?}"
        );
    }

    #[test]
    fn image_layers_check_their_inputs() {
        let build = |layers: &str| {
            let arch = Arch::from_toml(&format!(
                "name='x'\ninput={{channels=3, height=8, width=6}}\n{layers}"
            ))?;
            Network::build(&arch, 2)
        };
        let err = build("[[layers]]\ntype='conv1d'\nout_channels=2\nkernel_size=3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("got an image"), "{err}");
        let err = build("[[layers]]\ntype='conv2d'\nout_channels=2\nkernel_size=[9, 3]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("smaller than the kernel"), "{err}");
        let err = build("[[layers]]\ntype='batchnorm1d'\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("batchnorm2d"), "{err}");
        // conv_transpose2d: weight [in, out, kh, kw]; (8 - 1) * 2 - 2 + 2 + 1 + 1 = 16 rows and
        // (6 - 1) * 2 - 2 + 2 + 1 + 1 = 12 columns.
        let net = build(
            "[[layers]]\ntype='conv_transpose2d'\nout_channels=4\nkernel_size=3\nstride=2\npadding=1\noutput_padding=1\n\
             [[layers]]\ntype='batchnorm2d'\n[[layers]]\ntype='global_avg_pool2d'\n[[layers]]\ntype='linear'\n",
        )
        .unwrap();
        assert_eq!(net.params()[0].shape, vec![3, 4, 3, 3]);
        assert_eq!(net.params()[0].init, Init::Uniform { fan_in: 36 });
        assert_eq!(net.n_outputs(), Some(2));
        let net = build(
            "[[layers]]\ntype='conv_transpose2d'\nout_channels=4\nkernel_size=3\nstride=2\npadding=1\noutput_padding=1\n\
             [[layers]]\ntype='flatten'\n",
        )
        .unwrap();
        assert_eq!(net.n_outputs(), Some(4 * 16 * 12));
    }

    /// A sequence network over every top-level kind fast ISM reads: `same` padding, stride and
    /// dilation, a pooling with its stride defaulted, batch norm, a residual block, flatten and
    /// linear.
    fn prefix_arch() -> Arch {
        Arch::from_toml(
            "name='p'\ninput={channels=4, length=40}\n\
             [[layers]]\ntype='conv1d'\nout_channels=3\nkernel_size=4\ndilation=2\npadding='same'\n\
             [[layers]]\ntype='batchnorm1d'\n[[layers]]\ntype='relu'\n\
             [[layers]]\ntype='max_pool1d'\nkernel_size=2\n\
             [[layers]]\ntype='conv1d'\nout_channels=5\nkernel_size=3\nstride=2\nbias=false\n\
             [[layers]]\ntype='residual'\nlayers=[{type='relu'}, {type='conv1d', out_channels=5, kernel_size=3, padding=1}]\n\
             [[layers]]\ntype='flatten'\n[[layers]]\ntype='dropout'\np=0.2\n\
             [[layers]]\ntype='linear'\nout_features=6\n[[layers]]\ntype='sigmoid'\n[[layers]]\ntype='linear'\n",
        )
        .unwrap()
    }

    #[test]
    fn layers_show_resolved_geometry_shapes_and_param_indices() {
        let net = Network::build(&prefix_arch(), 2).unwrap();
        let layers = net.layers();
        assert_eq!(layers.len(), 11);
        // `same` with span 2 * 3 + 1 = 7: 3 on each side.
        let geom = Conv1dGeom {
            stride: 1,
            pad_left: 3,
            pad_right: 3,
            dilation: 2,
        };
        assert!(
            matches!(layers[0], Layer::Conv1d { w: 0, b: Some(1), geom: g } if g == geom),
            "{:?}",
            layers[0]
        );
        assert!(matches!(
            layers[1],
            Layer::BatchNorm {
                w: 2,
                b: 3,
                mean: 4,
                var: 5,
                count: 6,
                ..
            }
        ));
        let pool = Pool1dGeom {
            kernel: 2,
            stride: 2,
            padding: 0,
        };
        assert!(matches!(layers[3], Layer::MaxPool1d(g) if g == pool));
        assert!(matches!(
            layers[4],
            Layer::Conv1d {
                w: 7,
                b: None,
                geom: Conv1dGeom { stride: 2, .. }
            }
        ));
        let Layer::Residual(body) = &layers[5] else {
            panic!("{:?}", layers[5]);
        };
        assert!(matches!(
            body[1],
            Layer::Conv1d {
                w: 8,
                b: Some(9),
                ..
            }
        ));
        assert!(matches!(layers[6], Layer::Flatten));
        assert!(matches!(layers[7], Layer::Dropout(p) if p == 0.2));
        assert!(matches!(layers[8], Layer::Linear { w: 10, b: Some(11) }));
        assert_eq!(net.params()[10].shape, vec![6, 5 * 9]);
        // 40 -> conv 40 -> pool 20 -> conv (20 - 3) / 2 + 1 = 9.
        let seq = |channels, length| Shape::Seq {
            channels,
            length: Some(length),
        };
        let shapes: Vec<Shape> = (0..=11).map(|i| net.shape_in(i).unwrap()).collect();
        assert_eq!(
            shapes,
            vec![
                seq(4, 40),
                seq(3, 40),
                seq(3, 40),
                seq(3, 40),
                seq(3, 20),
                seq(5, 9),
                seq(5, 9),
                Shape::Flat(45),
                Shape::Flat(45),
                Shape::Flat(6),
                Shape::Flat(6),
                Shape::Flat(2),
            ]
        );
        assert_eq!(net.shape_in(12), None);
        assert_eq!(
            (net.input_shape(), net.output_shape()),
            (shapes[0], shapes[11])
        );
        // Parameters of layers 5.. start with the residual body's; none after the last linear.
        let firsts: Vec<usize> = (0..=11).map(|i| net.first_param(i)).collect();
        assert_eq!(firsts, vec![0, 2, 7, 7, 7, 8, 10, 10, 10, 12, 12, 14]);
    }

    #[test]
    fn infer_from_continues_a_run_stopped_at_any_layer() {
        let arch = prefix_arch();
        let net = Network::build(&arch, 2).unwrap();
        let mut params = net.init_params(&mut rng::seeded(2), 1.0);
        params[4].fill(0.2);
        params[5].fill(1.7);
        let x = crate::tensor::gradcheck::random(&[3, 4, 40], 9);
        let whole = {
            let mut tape = Tape::inference();
            let xv = tape.constant(x.clone());
            let pv: Vec<Var> = params.iter().map(|p| tape.param(p.clone())).collect();
            let y = net.infer(&mut tape, xv, &pv).unwrap();
            tape.value(y).clone()
        };
        for start in 0..=net.layers().len() {
            // The first `start` layers as a network of their own, then the rest from there.
            let mut head = arch.clone();
            head.layers.truncate(start);
            let first = net.first_param(start);
            let front = Network::build(&head, 2).unwrap();
            let mut tape = Tape::inference();
            let xv = tape.constant(x.clone());
            let pv: Vec<Var> = params[..first]
                .iter()
                .map(|p| tape.param(p.clone()))
                .collect();
            let h = front.infer(&mut tape, xv, &pv).unwrap();
            let pv: Vec<Var> = params[first..]
                .iter()
                .map(|p| tape.param(p.clone()))
                .collect();
            let y = net.infer_from(&mut tape, start, h, &pv).unwrap();
            assert_eq!(tape.value(y), &whole, "split at layer {start}");
        }
    }

    #[test]
    fn infer_from_checks_its_input_and_parameters() {
        let net = Network::build(&prefix_arch(), 2).unwrap();
        let params = net.init_params(&mut rng::seeded(2), 1.0);
        let mut tape = Tape::inference();
        let pv: Vec<Var> = params[10..].iter().map(|p| tape.param(p.clone())).collect();
        let x = tape.constant(Array::zeros(ndarray::IxDyn(&[2, 44])));
        let err = net
            .infer_from(&mut tape, 7, x, &pv)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("layer 7 expects [N, 45], got [2, 44]"),
            "{err}"
        );
        let x = tape.constant(Array::zeros(ndarray::IxDyn(&[2, 45])));
        let err = net
            .infer_from(&mut tape, 7, x, &pv[1..])
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 parameter nodes for 4 parameters"), "{err}");
        let err = net
            .infer_from(&mut tape, 12, x, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer 12 of a network of 11 layers"), "{err}");
        let y = net.infer_from(&mut tape, 7, x, &pv).unwrap();
        assert_eq!(tape.shape(y), &[2, 2]);
    }

    #[test]
    fn flatten_without_length_is_an_error() {
        let arch =
            Arch::from_toml("name='x'\ninput={channels=4}\n[[layers]]\ntype='flatten'\n").unwrap();
        assert!(
            Network::build(&arch, 1)
                .unwrap_err()
                .to_string()
                .contains("input.length")
        );
    }
}
