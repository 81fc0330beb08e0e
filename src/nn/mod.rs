//! Networks built from an [`Arch`]: shape inference, parameter names and shapes, PyTorch-default
//! initialisation, and the forward pass on a [`Tape`].

use crate::arch::{Arch, LayerSpec};
use crate::rng::{self, Rng};
use crate::tensor::ops::conv::Conv1dGeom;
use crate::tensor::ops::pool::Pool1dGeom;
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
}

/// A parameter's name, shape and initialisation bound.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// PyTorch-style name, e.g. `0.weight`.
    pub name: String,
    /// PyTorch layout: conv `[out, in, k]`, linear `[out, in]`, bias `[out]`.
    pub shape: Vec<usize>,
    /// PyTorch default init draws U(-b, b) with `b = 1 / sqrt(fan_in)`.
    pub fan_in: usize,
    /// Index of the owning layer in the architecture (its `nn.Sequential` index).
    pub layer: usize,
    /// `weight` or `bias`.
    pub suffix: &'static str,
}

impl ParamSpec {
    /// The name this parameter has in the matching PyTorch `nn.Sequential` state dict.
    pub fn torch_name(&self) -> String {
        format!("{}.{}", self.layer, self.suffix)
    }
}

/// A built layer: its kind, geometry and the indices of its parameters.
#[derive(Clone, Debug)]
enum Layer {
    Conv1d {
        w: usize,
        b: Option<usize>,
        geom: Conv1dGeom,
    },
    Linear {
        w: usize,
        b: Option<usize>,
    },
    Relu,
    Sigmoid,
    Tanh,
    MaxPool1d(Pool1dGeom),
    AvgPool1d(Pool1dGeom),
    GlobalMaxPool,
    GlobalAvgPool,
    GlobalMaxAvgPool,
    Dropout(f32),
    Flatten,
}

/// A network ready to run.
#[derive(Clone, Debug)]
pub struct Network {
    layers: Vec<Layer>,
    params: Vec<ParamSpec>,
    input: Shape,
    output: Shape,
}

impl Network {
    /// Builds `arch` with `n_outputs` units wherever a linear layer leaves `out_features` unset.
    pub fn build(arch: &Arch, n_outputs: usize) -> Result<Network> {
        let input = Shape::Seq {
            channels: arch.input.channels,
            length: arch.input.length,
        };
        let mut shape = input;
        let mut layers = Vec::with_capacity(arch.layers.len());
        let mut params = Vec::new();
        for (i, spec) in arch.layers.iter().enumerate() {
            let err = |msg: String| Error::Arch(format!("layer {i} ({}): {msg}", spec.type_name()));
            let seq = |shape: Shape| match shape {
                Shape::Seq { channels, length } => Ok((channels, length)),
                Shape::Flat(_) => Err(err(
                    "needs a [channels, length] input, got a flat vector".into()
                )),
            };
            let pname = spec.param_name(i).unwrap_or_default();
            let mut add_param = |suffix: &'static str, shape: Vec<usize>, fan_in: usize| {
                params.push(ParamSpec {
                    name: format!("{pname}.{suffix}"),
                    shape,
                    fan_in,
                    layer: i,
                    suffix,
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
                    let fan_in = c * kernel_size;
                    let w = add_param("weight", vec![*out_channels, c, *kernel_size], fan_in);
                    let b = bias.then(|| add_param("bias", vec![*out_channels], fan_in));
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
                        Shape::Seq { .. } => {
                            return Err(err("needs a flat input: add a flatten or global pooling layer before it".into()));
                        }
                    };
                    let out = out_features.unwrap_or(n_outputs);
                    if out == 0 {
                        return Err(err("no outputs (zero tasks)".into()));
                    }
                    let w = add_param("weight", vec![out, f], f);
                    let b = bias.then(|| add_param("bias", vec![out], f));
                    (Layer::Linear { w, b }, Shape::Flat(out))
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
                    };
                    (Layer::Flatten, Shape::Flat(f))
                }
            };
            layers.push(layer);
            shape = next;
        }
        Ok(Network {
            layers,
            params,
            input,
            output: shape,
        })
    }

    /// Parameter names, shapes and fan-ins, in order.
    pub fn params(&self) -> &[ParamSpec] {
        &self.params
    }

    /// The per-example input shape.
    pub fn input_shape(&self) -> Shape {
        self.input
    }

    /// The per-example output shape.
    pub fn output_shape(&self) -> Shape {
        self.output
    }

    /// Number of output units (the length of a flat output).
    pub fn n_outputs(&self) -> Option<usize> {
        match self.output {
            Shape::Flat(f) => Some(f),
            Shape::Seq { .. } => None,
        }
    }

    /// Fresh parameters with PyTorch's default initialisation (`kaiming_uniform_(a=sqrt(5))` for
    /// weights, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for biases), every bound multiplied by `scale`.
    pub fn init_params(&self, rng: &mut Rng, scale: f32) -> Vec<Array> {
        self.params
            .iter()
            .map(|p| {
                let bound = scale / (p.fan_in.max(1) as f32).sqrt();
                Array::from_shape_simple_fn(ndarray::IxDyn(&p.shape), || {
                    rng::uniform(rng, -bound, bound)
                })
            })
            .collect()
    }

    /// Checks that `params` have this network's shapes; `what` names the source in errors.
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

    /// Runs the network on `x [N, C, L]`; `params` are the parameter nodes in [`Network::params`]
    /// order. Dropout is active only when `train`.
    pub fn forward(
        &self,
        tape: &mut Tape,
        x: Var,
        params: &[Var],
        train: bool,
        rng: &mut Rng,
    ) -> Result<Var> {
        if params.len() != self.params.len() {
            return Err(Error::Arch(format!(
                "{} parameter nodes for {} parameters",
                params.len(),
                self.params.len()
            )));
        }
        let Shape::Seq { channels, length } = self.input else {
            unreachable!("inputs are sequences")
        };
        let s = tape.shape(x);
        if s.len() != 3 || s[1] != channels || length.is_some_and(|l| l != s[2]) {
            let want = match length {
                Some(l) => format!("[N, {channels}, {l}]"),
                None => format!("[N, {channels}, L]"),
            };
            return Err(Error::shape(
                "network input",
                format!("expected {want}, got {s:?}"),
            ));
        }
        let mut h = x;
        for layer in &self.layers {
            h = match layer {
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
                Layer::Dropout(p) => tape.dropout(h, *p, train, rng)?,
                Layer::Flatten => tape.flatten(h)?,
            };
        }
        Ok(h)
    }
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
        let y = net
            .forward(&mut tape, x, &pv, false, &mut rng::seeded(0))
            .unwrap();
        assert_eq!(tape.shape(y), &[2, 3]);
    }

    #[test]
    fn wrong_input_channels_is_an_error() {
        let net = Network::build(&Arch::builtin("deepbind").unwrap(), 1).unwrap();
        let params = net.init_params(&mut rng::seeded(1), 1.0);
        let mut tape = Tape::inference();
        let x = tape.constant(Array::zeros(ndarray::IxDyn(&[2, 5, 101])));
        let pv: Vec<Var> = params.into_iter().map(|p| tape.param(p)).collect();
        let err = net
            .forward(&mut tape, x, &pv, false, &mut rng::seeded(0))
            .unwrap_err();
        assert!(err.to_string().contains("expected [N, 4, L]"), "{err}");
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
