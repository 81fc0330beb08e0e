//! The autograd engine: a tape (Wengert list) of nodes, each holding its value and the op that made
//! it. Forward ops push nodes; [`Tape::backward`] walks them in reverse, applying the rules in
//! `backward.rs`. A tape made with [`Tape::inference`] records no gradients; one made with
//! [`Tape::deeplift`] is walked back by [`Tape::backward_rescale`], DeepLIFT's rescale rule in
//! place of the gradient at every nonlinearity.
//!
//! All values are `f32` n-dimensional arrays in PyTorch layouts (`[N, C, L]` for sequences).

mod backward;
pub mod gradcheck;
#[cfg(test)]
mod gradcheck_tests;
#[cfg(test)]
mod gradcheck_tests_2d;
pub mod ops;

use crate::rng::Rng;
use crate::{Error, Result};
use ndarray::{ArrayD, Axis, IxDyn};
use ops::conv::Conv1dGeom;
use ops::conv2d::{Conv2dGeom, ConvT2dGeom};
use ops::pool::Pool1dGeom;
use ops::pool2d::Pool2dGeom;
use std::sync::Arc;

/// An n-dimensional `f32` array, the value type of every node.
pub type Array = ArrayD<f32>;

/// A handle to a node on a [`Tape`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var(pub(crate) usize);

/// How a node was made, with whatever its backward rule needs that is not a node value.
#[derive(Debug)]
pub(crate) enum Op {
    Leaf,
    /// Batch norm in training mode (batch statistics).
    BatchNorm {
        x: Var,
        gamma: Var,
        beta: Var,
        saved: ops::norm::NormSaved,
    },
    /// Batch norm in evaluation mode (running statistics, constants here).
    BatchNormEval {
        x: Var,
        gamma: Var,
        beta: Var,
        mean: Vec<f32>,
        inv_std: Vec<f32>,
    },
    Add(Var, Var),
    Mul(Var, Var),
    Scale(Var, f32),
    MatMul(Var, Var),
    Linear {
        x: Var,
        w: Var,
        b: Option<Var>,
    },
    /// A convolution, with a ReLU fused into it when `relu` (the node's value is then the
    /// ReLU's output).
    Conv1d {
        x: Var,
        w: Var,
        b: Option<Var>,
        geom: Conv1dGeom,
        relu: bool,
        /// A max pooling fused after it: the value is the pooled output, and this is the argmax
        /// of every pooled element in the convolution's output row.
        pool: Option<Vec<u32>>,
    },
    MaxPool1d {
        x: Var,
        argmax: Vec<u32>,
    },
    AvgPool1d {
        x: Var,
        geom: Pool1dGeom,
    },
    GlobalMaxPool {
        x: Var,
        argmax: Vec<u32>,
    },
    GlobalAvgPool(Var),
    Conv2d {
        x: Var,
        w: Var,
        b: Option<Var>,
        geom: Conv2dGeom,
    },
    ConvTranspose2d {
        x: Var,
        w: Var,
        b: Option<Var>,
        geom: ConvT2dGeom,
    },
    MaxPool2d {
        x: Var,
        argmax: Vec<u32>,
    },
    AvgPool2d {
        x: Var,
        geom: Pool2dGeom,
    },
    Relu(Var),
    Sigmoid(Var),
    Tanh(Var),
    Dropout {
        x: Var,
        mask: Array,
    },
    Concat {
        xs: Vec<Var>,
        axis: usize,
    },
    Reshape(Var),
    Sum(Var),
    Mean(Var),
    WeightedSum {
        x: Var,
        w: Array,
    },
    /// A loss: its gradient with respect to `x` was computed with the value.
    Loss {
        x: Var,
        grad: Array,
    },
    /// `c * x` with a deliberately wrong gradient (`x`'s gradient scaled by `c * 1.05`): exists
    /// only so the gradient checker's own test can show it catches a bad rule.
    #[cfg(test)]
    BrokenScale(Var, f32),
}

impl Op {
    /// The op's name, as errors and residuals give it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Leaf => "leaf",
            Op::BatchNorm { .. } => "batch_norm (training)",
            Op::BatchNormEval { .. } => "batch_norm",
            Op::Add(..) => "add",
            Op::Mul(..) => "mul",
            Op::Scale(..) => "scale",
            Op::MatMul(..) => "matmul",
            Op::Linear { .. } => "linear",
            Op::Conv1d {
                relu: false,
                pool: None,
                ..
            } => "conv1d",
            Op::Conv1d { pool: None, .. } => "conv1d+relu",
            Op::Conv1d { .. } => "conv1d+relu+max_pool1d",
            Op::MaxPool1d { .. } => "max_pool1d",
            Op::AvgPool1d { .. } => "avg_pool1d",
            Op::GlobalMaxPool { .. } => "global_max_pool",
            Op::GlobalAvgPool(_) => "global_avg_pool",
            Op::Conv2d { .. } => "conv2d",
            Op::ConvTranspose2d { .. } => "conv_transpose2d",
            Op::MaxPool2d { .. } => "max_pool2d",
            Op::AvgPool2d { .. } => "avg_pool2d",
            Op::Relu(_) => "relu",
            Op::Sigmoid(_) => "sigmoid",
            Op::Tanh(_) => "tanh",
            Op::Dropout { .. } => "dropout",
            Op::Concat { .. } => "concat",
            Op::Reshape(_) => "reshape",
            Op::Sum(_) => "sum",
            Op::Mean(_) => "mean",
            Op::WeightedSum { .. } => "weighted_sum",
            Op::Loss { .. } => "loss",
            #[cfg(test)]
            Op::BrokenScale(..) => "broken_scale",
        }
    }

    /// The nodes the op reads (parameters included).
    fn inputs(&self) -> Vec<Var> {
        match self {
            Op::Leaf => Vec::new(),
            Op::BatchNorm { x, gamma, beta, .. } | Op::BatchNormEval { x, gamma, beta, .. } => {
                vec![*x, *gamma, *beta]
            }
            Op::Add(a, b) | Op::Mul(a, b) | Op::MatMul(a, b) => vec![*a, *b],
            Op::Linear { x, w, b }
            | Op::Conv1d { x, w, b, .. }
            | Op::Conv2d { x, w, b, .. }
            | Op::ConvTranspose2d { x, w, b, .. } => {
                [Some(*x), Some(*w), *b].into_iter().flatten().collect()
            }
            Op::Scale(x, _)
            | Op::MaxPool1d { x, .. }
            | Op::AvgPool1d { x, .. }
            | Op::GlobalMaxPool { x, .. }
            | Op::GlobalAvgPool(x)
            | Op::MaxPool2d { x, .. }
            | Op::AvgPool2d { x, .. }
            | Op::Relu(x)
            | Op::Sigmoid(x)
            | Op::Tanh(x)
            | Op::Dropout { x, .. }
            | Op::Reshape(x)
            | Op::Sum(x)
            | Op::Mean(x)
            | Op::WeightedSum { x, .. }
            | Op::Loss { x, .. } => vec![*x],
            #[cfg(test)]
            Op::BrokenScale(x, _) => vec![*x],
            Op::Concat { xs, .. } => xs.clone(),
        }
    }
}

struct Node {
    value: Arc<Array>,
    op: Op,
    requires_grad: bool,
}

/// A recording of one forward pass.
pub struct Tape {
    nodes: Vec<Node>,
    grad_enabled: bool,
    /// Whether layers may run as one fused node (a convolution with its ReLU and pooling).
    fuse: bool,
}

/// How far one node's rescale rule misses conserving what flows through it (see
/// [`Tape::backward_rescale`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Residual {
    /// The op's name (`relu`, `max_pool1d`, ...).
    pub op: &'static str,
    /// Per pair: what the node passed to its inputs minus what reached it.
    pub per_pair: Vec<f64>,
}

impl Default for Tape {
    fn default() -> Self {
        Self::new()
    }
}

/// Gradients from one backward pass, indexed by [`Var`].
pub struct Grads {
    grads: Vec<Option<Array>>,
}

impl Grads {
    /// The gradient of the loss with respect to `v`, if `v` requires one and the loss depends on it.
    pub fn get(&self, v: Var) -> Option<&Array> {
        self.grads.get(v.0).and_then(|g| g.as_ref())
    }

    /// Moves a gradient out (zeros of the given shape when the loss does not depend on `v`).
    pub fn take_or_zeros(&mut self, v: Var, shape: &[usize]) -> Array {
        self.grads
            .get_mut(v.0)
            .and_then(|g| g.take())
            .unwrap_or_else(|| Array::zeros(IxDyn(shape)))
    }
}

fn shape_err<T>(op: &'static str, msg: String) -> Result<T> {
    Err(Error::shape(op, msg))
}

impl Tape {
    /// A tape that records what backward needs.
    pub fn new() -> Self {
        Tape {
            nodes: Vec::new(),
            grad_enabled: true,
            fuse: true,
        }
    }

    /// A tape for DeepLIFT: records like [`Tape::new`], but no layers are fused, so every
    /// nonlinearity is a node of its own whose input and output the rescale rule reads. Its
    /// batches are inputs and their references, as [`ops::rescale::Pairs`] lays them out.
    pub fn deeplift() -> Self {
        Tape {
            nodes: Vec::new(),
            grad_enabled: true,
            fuse: false,
        }
    }

    /// Whether a network may run fused layers on this tape.
    pub fn fuses(&self) -> bool {
        self.fuse
    }

    /// A tape for inference: nothing requires a gradient.
    pub fn inference() -> Self {
        Tape {
            nodes: Vec::new(),
            grad_enabled: false,
            fuse: true,
        }
    }

    /// Whether this tape records gradients.
    pub fn grad_enabled(&self) -> bool {
        self.grad_enabled
    }

    /// Whether an op on `inputs` is recorded for the backward pass.
    fn records(&self, inputs: &[Var]) -> bool {
        self.grad_enabled && inputs.iter().any(|v| self.nodes[v.0].requires_grad)
    }

    fn push(&mut self, value: Array, op: Op, inputs: &[Var]) -> Var {
        let requires_grad = self.records(inputs);
        let op = if requires_grad { op } else { Op::Leaf };
        self.nodes.push(Node {
            value: Arc::new(value),
            op,
            requires_grad,
        });
        Var(self.nodes.len() - 1)
    }

    fn leaf_arc(&mut self, value: Arc<Array>, requires_grad: bool) -> Var {
        self.nodes.push(Node {
            value,
            op: Op::Leaf,
            requires_grad: requires_grad && self.grad_enabled,
        });
        Var(self.nodes.len() - 1)
    }

    /// An input that needs no gradient.
    pub fn constant(&mut self, value: Array) -> Var {
        self.leaf_arc(Arc::new(value), false)
    }

    /// A constant shared with its owner without a copy (parameters on a DeepLIFT tape).
    pub fn constant_shared(&mut self, value: Arc<Array>) -> Var {
        self.leaf_arc(value, false)
    }

    /// A leaf whose gradient backward computes (a parameter or an input under test).
    pub fn param(&mut self, value: Array) -> Var {
        self.leaf_arc(Arc::new(value), true)
    }

    /// A parameter shared with its owner without a copy.
    pub fn param_shared(&mut self, value: Arc<Array>) -> Var {
        self.leaf_arc(value, true)
    }

    /// Drops a node's value on an inference tape, once nothing will read it again (a forward
    /// pass frees each activation after the next layer has consumed it, so inference memory is a
    /// few activations, not the whole network's). Ignored on a tape that records gradients.
    pub fn release(&mut self, v: Var) {
        if !self.grad_enabled {
            self.nodes[v.0].value = Arc::new(Array::zeros(IxDyn(&[0])));
        }
    }

    /// The value of a node.
    pub fn value(&self, v: Var) -> &Array {
        &self.nodes[v.0].value
    }

    /// The shape of a node's value.
    pub fn shape(&self, v: Var) -> &[usize] {
        self.nodes[v.0].value.shape()
    }

    /// The value of a scalar node.
    pub fn scalar(&self, v: Var) -> Result<f32> {
        let a = self.value(v);
        if a.len() != 1 {
            return shape_err("scalar", format!("value has shape {:?}", a.shape()));
        }
        Ok(a.iter().next().copied().unwrap_or(0.0))
    }

    /// Number of nodes recorded.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tape is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn view3(&self, op: &'static str, v: Var) -> Result<ndarray::ArrayView3<'_, f32>> {
        self.value(v)
            .view()
            .into_dimensionality::<ndarray::Ix3>()
            .or_else(|_| shape_err(op, format!("expected [N, C, L], got {:?}", self.shape(v))))
    }

    // ---- elementwise ------------------------------------------------------------------------

    /// `a + b` (same shapes).
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        if self.shape(a) != self.shape(b) {
            return shape_err(
                "add",
                format!("shapes {:?} and {:?} differ", self.shape(a), self.shape(b)),
            );
        }
        let y = self.value(a) + self.value(b);
        Ok(self.push(y, Op::Add(a, b), &[a, b]))
    }

    /// `a * b` elementwise (same shapes).
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        if self.shape(a) != self.shape(b) {
            return shape_err(
                "mul",
                format!("shapes {:?} and {:?} differ", self.shape(a), self.shape(b)),
            );
        }
        let y = self.value(a) * self.value(b);
        Ok(self.push(y, Op::Mul(a, b), &[a, b]))
    }

    /// `c * x`.
    pub fn scale(&mut self, x: Var, c: f32) -> Var {
        let y = self.value(x) * c;
        self.push(y, Op::Scale(x, c), &[x])
    }

    /// `c * x` whose backward rule is wrong on purpose (tests of the checker only).
    #[cfg(test)]
    pub(crate) fn broken_scale(&mut self, x: Var, c: f32) -> Var {
        let y = self.value(x) * c;
        self.push(y, Op::BrokenScale(x, c), &[x])
    }

    /// `max(x, 0)`.
    pub fn relu(&mut self, x: Var) -> Var {
        let y = self.value(x).mapv(|v| v.max(0.0));
        self.push(y, Op::Relu(x), &[x])
    }

    /// Logistic sigmoid.
    pub fn sigmoid(&mut self, x: Var) -> Var {
        let y = self.value(x).mapv(sigmoid);
        self.push(y, Op::Sigmoid(x), &[x])
    }

    /// Hyperbolic tangent.
    pub fn tanh(&mut self, x: Var) -> Var {
        let y = self.value(x).mapv(f32::tanh);
        self.push(y, Op::Tanh(x), &[x])
    }

    /// Inverted dropout: in training (`rng` given, the masks' generator), zeroes each element with
    /// probability `p` and scales the rest by `1 / (1 - p)`; identity otherwise.
    pub fn dropout(&mut self, x: Var, p: f32, rng: Option<&mut Rng>) -> Result<Var> {
        if !(0.0..1.0).contains(&p) {
            return shape_err("dropout", format!("probability {p} is not in [0, 1)"));
        }
        let Some(rng) = rng.filter(|_| p != 0.0) else {
            return Ok(x);
        };
        let keep = 1.0 / (1.0 - p);
        let mask = self.value(x).mapv(|_| {
            if crate::rng::uniform(rng, 0.0, 1.0) < p {
                0.0
            } else {
                keep
            }
        });
        let y = self.value(x) * &mask;
        Ok(self.push(y, Op::Dropout { x, mask }, &[x]))
    }

    // ---- linear algebra ---------------------------------------------------------------------

    /// Matrix product of 2-D values `[m, k] @ [k, n]`.
    pub fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        let (sa, sb) = (self.shape(a).to_vec(), self.shape(b).to_vec());
        if sa.len() != 2 || sb.len() != 2 || sa[1] != sb[0] {
            return shape_err("matmul", format!("cannot multiply {sa:?} by {sb:?}"));
        }
        let y = matmul2(self.value(a), false, self.value(b), false);
        Ok(self.push(y, Op::MatMul(a, b), &[a, b]))
    }

    /// PyTorch `Linear`: `x [N, in] @ w[out, in]^T + b[out]`.
    pub fn linear(&mut self, x: Var, w: Var, b: Option<Var>) -> Result<Var> {
        let (sx, sw) = (self.shape(x).to_vec(), self.shape(w).to_vec());
        if sx.len() != 2 || sw.len() != 2 || sx[1] != sw[1] {
            return shape_err(
                "linear",
                format!("input {sx:?} does not fit weight [out, in] = {sw:?}"),
            );
        }
        let mut y = matmul2(self.value(x), false, self.value(w), true);
        if let Some(b) = b {
            if self.shape(b) != [sw[0]] {
                return shape_err(
                    "linear",
                    format!("bias {:?} does not match {} outputs", self.shape(b), sw[0]),
                );
            }
            let bv = self
                .value(b)
                .view()
                .into_dimensionality::<ndarray::Ix1>()
                .expect("checked 1-D");
            for mut row in y.axis_iter_mut(Axis(0)) {
                row += &bv;
            }
        }
        let inputs: Vec<Var> = [Some(x), Some(w), b].into_iter().flatten().collect();
        Ok(self.push(y, Op::Linear { x, w, b }, &inputs))
    }

    /// PyTorch `Conv1d`: `x [N, C_in, L]`, `w [C_out, C_in, K]`, `b [C_out]`.
    pub fn conv1d(&mut self, x: Var, w: Var, b: Option<Var>, geom: Conv1dGeom) -> Result<Var> {
        self.conv1d_act(x, w, b, geom, false, None)
    }

    /// `max_pool1d(relu(conv1d(x, w, b)))` as one node: the convolution's output is pooled as it
    /// is made, one group of samples at a time, and never stored whole.
    pub fn conv1d_relu_pool(
        &mut self,
        x: Var,
        w: Var,
        b: Option<Var>,
        geom: Conv1dGeom,
        pool: Pool1dGeom,
    ) -> Result<Var> {
        self.conv1d_act(x, w, b, geom, true, Some(pool))
    }

    /// `relu(conv1d(x, w, b))` as one node: the bias and ReLU are applied in the convolution's
    /// output pass, and no pre-activation array is kept.
    pub fn conv1d_relu(&mut self, x: Var, w: Var, b: Option<Var>, geom: Conv1dGeom) -> Result<Var> {
        self.conv1d_act(x, w, b, geom, true, None)
    }

    fn conv1d_act(
        &mut self,
        x: Var,
        w: Var,
        b: Option<Var>,
        geom: Conv1dGeom,
        relu: bool,
        pool: Option<Pool1dGeom>,
    ) -> Result<Var> {
        let xv = self.view3("conv1d", x)?;
        let wv = self.view3("conv1d", w)?;
        let bv = match b {
            Some(b) => Some(
                self.value(b)
                    .view()
                    .into_dimensionality::<ndarray::Ix1>()
                    .or_else(|_| {
                        shape_err(
                            "conv1d",
                            format!("bias must be 1-D, got {:?}", self.shape(b)),
                        )
                    })?,
            ),
            None => None,
        };
        let (y, argmax) = ops::conv::conv1d_forward_fused(xv, wv, bv, &geom, relu, pool.as_ref())?;
        let y = y.into_dyn();
        let inputs: Vec<Var> = [Some(x), Some(w), b].into_iter().flatten().collect();
        Ok(self.push(
            y,
            Op::Conv1d {
                x,
                w,
                b,
                geom,
                relu,
                pool: pool.map(|_| argmax),
            },
            &inputs,
        ))
    }

    // ---- pooling ----------------------------------------------------------------------------

    /// PyTorch `MaxPool1d(kernel, stride, padding)`.
    pub fn max_pool1d(&mut self, x: Var, geom: Pool1dGeom) -> Result<Var> {
        if !self.records(&[x]) {
            let y = ops::pool::max_pool1d_values(self.view3("max_pool1d", x)?, &geom)?;
            return Ok(self.push(y.into_dyn(), Op::Leaf, &[x]));
        }
        let (y, argmax) = ops::pool::max_pool1d_forward(self.view3("max_pool1d", x)?, &geom)?;
        Ok(self.push(y.into_dyn(), Op::MaxPool1d { x, argmax }, &[x]))
    }

    /// PyTorch `AvgPool1d(kernel, stride, padding)` (`count_include_pad=True`).
    pub fn avg_pool1d(&mut self, x: Var, geom: Pool1dGeom) -> Result<Var> {
        let y = ops::pool::avg_pool1d_forward(self.view3("avg_pool1d", x)?, &geom)?;
        Ok(self.push(y.into_dyn(), Op::AvgPool1d { x, geom }, &[x]))
    }

    /// Max over the length axis: `[N, C, L] -> [N, C]`.
    pub fn global_max_pool(&mut self, x: Var) -> Result<Var> {
        let (y, argmax) = ops::pool::global_max_pool_forward(self.view3("global_max_pool", x)?)?;
        Ok(self.push(y.into_dyn(), Op::GlobalMaxPool { x, argmax }, &[x]))
    }

    /// Batch normalisation over `[N, C, ...]` (PyTorch `BatchNorm1d`/`2d`). In training mode it
    /// uses the batch statistics and returns them (for the running estimate); otherwise it uses
    /// `running = (mean, var)`.
    pub fn batch_norm(
        &mut self,
        x: Var,
        gamma: Var,
        beta: Var,
        running: (&[f32], &[f32]),
        eps: f32,
        train: bool,
    ) -> Result<(Var, Option<ops::norm::BatchStats>)> {
        let g = self.value(gamma).iter().copied().collect::<Vec<f32>>();
        let b = self.value(beta).iter().copied().collect::<Vec<f32>>();
        if train {
            let (y, saved, stats) = ops::norm::batch_norm_train(self.value(x).view(), &g, &b, eps)?;
            let v = self.push(
                y,
                Op::BatchNorm {
                    x,
                    gamma,
                    beta,
                    saved,
                },
                &[x, gamma, beta],
            );
            Ok((v, Some(stats)))
        } else {
            let (y, inv_std) = ops::norm::batch_norm_eval(
                self.value(x).view(),
                &g,
                &b,
                running.0,
                running.1,
                eps,
            )?;
            let op = Op::BatchNormEval {
                x,
                gamma,
                beta,
                mean: running.0.to_vec(),
                inv_std,
            };
            Ok((self.push(y, op, &[x, gamma, beta]), None))
        }
    }

    /// Mean over the length axis: `[N, C, L] -> [N, C]`.
    pub fn global_avg_pool(&mut self, x: Var) -> Result<Var> {
        let y = ops::pool::global_avg_pool_forward(self.view3("global_avg_pool", x)?)?;
        Ok(self.push(y.into_dyn(), Op::GlobalAvgPool(x), &[x]))
    }

    // ---- 2D (images, [N, C, H, W]) -----------------------------------------------------------

    fn view4(&self, op: &'static str, v: Var) -> Result<ndarray::ArrayView4<'_, f32>> {
        self.value(v)
            .view()
            .into_dimensionality::<ndarray::Ix4>()
            .or_else(|_| {
                shape_err(
                    op,
                    format!("expected [N, C, H, W], got {:?}", self.shape(v)),
                )
            })
    }

    fn bias_view(
        &self,
        op: &'static str,
        b: Option<Var>,
    ) -> Result<Option<ndarray::ArrayView1<'_, f32>>> {
        b.map(|b| {
            self.value(b)
                .view()
                .into_dimensionality::<ndarray::Ix1>()
                .or_else(|_| shape_err(op, format!("bias must be 1-D, got {:?}", self.shape(b))))
        })
        .transpose()
    }

    /// PyTorch `Conv2d`: `x [N, C_in, H, W]`, `w [C_out, C_in, KH, KW]`, `b [C_out]`.
    pub fn conv2d(&mut self, x: Var, w: Var, b: Option<Var>, geom: Conv2dGeom) -> Result<Var> {
        let y = ops::conv2d::conv2d_forward(
            self.view4("conv2d", x)?,
            self.view4("conv2d", w)?,
            self.bias_view("conv2d", b)?,
            &geom,
        )?;
        let inputs: Vec<Var> = [Some(x), Some(w), b].into_iter().flatten().collect();
        Ok(self.push(y.into_dyn(), Op::Conv2d { x, w, b, geom }, &inputs))
    }

    /// PyTorch `ConvTranspose2d`: `x [N, C_in, H, W]`, `w [C_in, C_out, KH, KW]`, `b [C_out]`.
    pub fn conv_transpose2d(
        &mut self,
        x: Var,
        w: Var,
        b: Option<Var>,
        geom: ConvT2dGeom,
    ) -> Result<Var> {
        const OP: &str = "conv_transpose2d";
        let y = ops::conv2d::conv_transpose2d_forward(
            self.view4(OP, x)?,
            self.view4(OP, w)?,
            self.bias_view(OP, b)?,
            &geom,
        )?;
        let inputs: Vec<Var> = [Some(x), Some(w), b].into_iter().flatten().collect();
        Ok(self.push(y.into_dyn(), Op::ConvTranspose2d { x, w, b, geom }, &inputs))
    }

    /// PyTorch `MaxPool2d(kernel, stride, padding)`.
    pub fn max_pool2d(&mut self, x: Var, geom: Pool2dGeom) -> Result<Var> {
        let (y, argmax) = ops::pool2d::max_pool2d_forward(self.view4("max_pool2d", x)?, &geom)?;
        Ok(self.push(y.into_dyn(), Op::MaxPool2d { x, argmax }, &[x]))
    }

    /// PyTorch `AvgPool2d(kernel, stride, padding)` (`count_include_pad=True`).
    pub fn avg_pool2d(&mut self, x: Var, geom: Pool2dGeom) -> Result<Var> {
        let y = ops::pool2d::avg_pool2d_forward(self.view4("avg_pool2d", x)?, &geom)?;
        Ok(self.push(y.into_dyn(), Op::AvgPool2d { x, geom }, &[x]))
    }

    /// Mean over the spatial axes: `[N, C, H, W] -> [N, C]` (`AdaptiveAvgPool2d(1)` then
    /// flatten), as a reshape to `[N, C, H * W]` and [`Tape::global_avg_pool`].
    pub fn global_avg_pool2d(&mut self, x: Var) -> Result<Var> {
        let &[n, c, h, w] = self.shape(x) else {
            return shape_err(
                "global_avg_pool2d",
                format!("expected [N, C, H, W], got {:?}", self.shape(x)),
            );
        };
        let flat = self.reshape(x, &[n, c, h * w])?;
        self.global_avg_pool(flat)
    }

    // ---- shape ------------------------------------------------------------------------------

    /// Joins values along `axis`; all other dimensions must agree.
    pub fn concat(&mut self, xs: &[Var], axis: usize) -> Result<Var> {
        let Some(&first) = xs.first() else {
            return shape_err("concat", "no inputs".into());
        };
        let s0 = self.shape(first).to_vec();
        if axis >= s0.len() {
            return shape_err("concat", format!("axis {axis} out of range for {s0:?}"));
        }
        for &v in xs {
            let s = self.shape(v);
            if s.len() != s0.len()
                || s.iter()
                    .zip(&s0)
                    .enumerate()
                    .any(|(i, (a, b))| i != axis && a != b)
            {
                return shape_err(
                    "concat",
                    format!("shapes {s0:?} and {s:?} do not fit along axis {axis}"),
                );
            }
        }
        let views: Vec<_> = xs.iter().map(|&v| self.value(v).view()).collect();
        let y = ndarray::concatenate(Axis(axis), &views)
            .map_err(|e| Error::shape("concat", e.to_string()))?;
        Ok(self.push(
            y,
            Op::Concat {
                xs: xs.to_vec(),
                axis,
            },
            xs,
        ))
    }

    /// Reinterprets the value in a new shape with the same number of elements (row-major order).
    pub fn reshape(&mut self, x: Var, shape: &[usize]) -> Result<Var> {
        let xv = self.value(x);
        if shape.iter().product::<usize>() != xv.len() {
            return shape_err(
                "reshape",
                format!("cannot reshape {:?} into {shape:?}", xv.shape()),
            );
        }
        let y = xv
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(shape))
            .expect("sizes checked");
        Ok(self.push(y, Op::Reshape(x), &[x]))
    }

    /// `[N, ...] -> [N, prod(...)]`, as `torch.flatten(x, 1)`.
    pub fn flatten(&mut self, x: Var) -> Result<Var> {
        let s = self.shape(x).to_vec();
        if s.is_empty() {
            return shape_err("flatten", "cannot flatten a scalar".into());
        }
        let rest: usize = s[1..].iter().product();
        self.reshape(x, &[s[0], rest])
    }

    // ---- reductions and losses --------------------------------------------------------------

    /// Sum of all elements (a scalar of shape `[]`).
    pub fn sum(&mut self, x: Var) -> Var {
        let s = self.value(x).iter().map(|&v| v as f64).sum::<f64>() as f32;
        self.push(ArrayD::from_elem(IxDyn(&[]), s), Op::Sum(x), &[x])
    }

    /// Mean of all elements.
    pub fn mean(&mut self, x: Var) -> Var {
        let n = self.value(x).len().max(1) as f64;
        let s = (self.value(x).iter().map(|&v| v as f64).sum::<f64>() / n) as f32;
        self.push(ArrayD::from_elem(IxDyn(&[]), s), Op::Mean(x), &[x])
    }

    /// `sum(x * w)` for a constant `w` of the same shape.
    pub fn weighted_sum(&mut self, x: Var, w: Array) -> Result<Var> {
        if self.shape(x) != w.shape() {
            return shape_err(
                "weighted_sum",
                format!("shapes {:?} and {:?} differ", self.shape(x), w.shape()),
            );
        }
        let s = self
            .value(x)
            .iter()
            .zip(w.iter())
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum::<f64>() as f32;
        Ok(self.push(
            ArrayD::from_elem(IxDyn(&[]), s),
            Op::WeightedSum { x, w },
            &[x],
        ))
    }

    fn loss(&mut self, x: Var, (value, grad): ops::loss::LossOut) -> Var {
        self.push(
            ArrayD::from_elem(IxDyn(&[]), value),
            Op::Loss { x, grad },
            &[x],
        )
    }

    /// Binary cross-entropy on logits, multi-task; see [`ops::loss::bce_with_logits`].
    pub fn bce_with_logits(
        &mut self,
        logits: Var,
        targets: &Array,
        pos_weight: Option<&[f32]>,
        task_weight: Option<&[f32]>,
    ) -> Result<Var> {
        let out = ops::loss::bce_with_logits(
            self.value(logits).view(),
            targets.view(),
            pos_weight,
            task_weight,
        )?;
        Ok(self.loss(logits, out))
    }

    /// Softmax cross-entropy of `[N, C]` logits against class indices.
    pub fn softmax_cross_entropy(&mut self, logits: Var, labels: &[usize]) -> Result<Var> {
        let out = ops::loss::softmax_cross_entropy(self.value(logits).view(), labels)?;
        Ok(self.loss(logits, out))
    }

    /// Mean squared error.
    pub fn mse(&mut self, pred: Var, targets: &Array) -> Result<Var> {
        let out = ops::loss::mse(self.value(pred).view(), targets.view())?;
        Ok(self.loss(pred, out))
    }

    /// Poisson negative log-likelihood; `log_input` as in PyTorch.
    pub fn poisson_nll(&mut self, pred: Var, targets: &Array, log_input: bool) -> Result<Var> {
        let out = ops::loss::poisson_nll(self.value(pred).view(), targets.view(), log_input)?;
        Ok(self.loss(pred, out))
    }

    // ---- backward ---------------------------------------------------------------------------

    /// Gradients of the scalar `loss` with respect to every node that requires one.
    pub fn backward(&self, loss: Var) -> Result<Grads> {
        if !self.grad_enabled {
            return Err(Error::Config("backward on an inference tape".into()));
        }
        let lv = self.value(loss);
        if lv.len() != 1 {
            return shape_err(
                "backward",
                format!("loss must be a scalar, got shape {:?}", lv.shape()),
            );
        }
        let mut grads: Vec<Option<Array>> = (0..self.nodes.len()).map(|_| None).collect();
        grads[loss.0] = Some(ArrayD::from_elem(lv.raw_dim(), 1.0));
        for i in (0..=loss.0).rev() {
            let node = &self.nodes[i];
            if !node.requires_grad {
                continue;
            }
            let Some(g) = grads[i].take() else { continue };
            backward::apply(self, i, &g, &mut grads, backward::Rule::Gradient)?;
            grads[i] = Some(g);
        }
        Ok(Grads { grads })
    }

    /// DeepLIFT's multipliers of `y`, the output of a pass over a batch laid out as `pairs` says
    /// on a [`Tape::deeplift`] tape, for the explained quantity `sum(seed x (y_input -
    /// y_reference))` (`seed` has `y`'s shape with one row per pair: each pair's weights on its
    /// outputs): the backward pass with the rescale rule ([`ops::rescale`]) at every ReLU,
    /// sigmoid, tanh and max pooling, and the linear op's backward rule, for its activation input
    /// alone, at every linear op (convolutions, linear layers, batch norm in evaluation mode,
    /// average pooling, additions of residual blocks, reshapes). Every gradient returned has one
    /// row per pair; parameters get none.
    ///
    /// Also returns each op's [`Residual`]: what it passed on to its inputs minus what reached
    /// it, per pair, where what a node carries is `sum(multiplier x difference)` over its values
    /// ([`ops::rescale::flow`]). The rules conserve it exactly, so residuals show only rounding;
    /// their sum over the ops is the convergence delta of the pass's inputs. An op with no
    /// rescale rule (a product of two activations, a reduction over the batch, a loss, batch norm
    /// or dropout in training mode, a fused convolution) is an error naming it.
    pub fn backward_rescale(
        &self,
        y: Var,
        seed: Array,
        pairs: &ops::rescale::Pairs,
    ) -> Result<(Grads, Vec<Residual>)> {
        if !self.grad_enabled || self.fuse {
            return Err(Error::Config(
                "DeepLIFT's backward pass needs a tape made by Tape::deeplift".into(),
            ));
        }
        pairs.check()?;
        let ys = self.shape(y);
        if ys.first() != Some(&pairs.rows()) {
            return shape_err(
                "backward_rescale",
                format!("output {ys:?} for a batch of {} rows", pairs.rows()),
            );
        }
        let want = ops::rescale::pair_shape(ys, pairs);
        if seed.shape() != want.as_slice() {
            return shape_err(
                "backward_rescale",
                format!("seed {:?} for multipliers {want:?}", seed.shape()),
            );
        }
        let mut grads: Vec<Option<Array>> = (0..self.nodes.len()).map(|_| None).collect();
        grads[y.0] = Some(seed);
        let mut residuals = Vec::new();
        let flow = |g: Option<&Array>, v: Var| {
            g.map(|g| ops::rescale::flow(g, self.value(v), pairs))
                .unwrap_or_default()
        };
        let rule = backward::Rule::Rescale(pairs);
        for i in (0..=y.0).rev() {
            let node = &self.nodes[i];
            if !node.requires_grad {
                continue;
            }
            let Some(g) = grads[i].take() else { continue };
            let mut inputs = node.op.inputs();
            inputs.sort_by_key(|v| v.0);
            inputs.dedup();
            inputs.retain(|v| self.nodes[v.0].requires_grad);
            // A leaf (the input) passes nothing on.
            let measured = !matches!(node.op, Op::Leaf);
            let before: Vec<Vec<f64>> = if measured {
                inputs
                    .iter()
                    .map(|&v| flow(grads[v.0].as_ref(), v))
                    .collect()
            } else {
                Vec::new()
            };
            backward::apply(self, i, &g, &mut grads, rule)?;
            if measured {
                let mut per_pair: Vec<f64> = ops::rescale::flow(&g, &node.value, pairs)
                    .into_iter()
                    .map(|f| -f)
                    .collect();
                for (&v, b) in inputs.iter().zip(&before) {
                    let after = flow(grads[v.0].as_ref(), v);
                    for (k, r) in per_pair.iter_mut().enumerate() {
                        *r +=
                            after.get(k).copied().unwrap_or(0.0) - b.get(k).copied().unwrap_or(0.0);
                    }
                }
                residuals.push(Residual {
                    op: node.op.name(),
                    per_pair,
                });
            }
            grads[i] = Some(g);
        }
        Ok((Grads { grads }, residuals))
    }
}

/// Logistic sigmoid, stable for large |x|.
pub fn sigmoid(v: f32) -> f32 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

/// 2-D matrix product with optional transposes, through the one GEMM kernel.
pub(crate) fn matmul2(a: &Array, ta: bool, b: &Array, tb: bool) -> Array {
    let a = a.as_standard_layout();
    let b = b.as_standard_layout();
    let (ar, ac) = (a.shape()[0], a.shape()[1]);
    let (br, bc) = (b.shape()[0], b.shape()[1]);
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let n = if tb { br } else { bc };
    let am = if ta {
        ops::gemm::Mat::rows_t(a.as_slice().expect("std"), ac)
    } else {
        ops::gemm::Mat::rows(a.as_slice().expect("std"), ac)
    };
    let bm = if tb {
        ops::gemm::Mat::rows_t(b.as_slice().expect("std"), bc)
    } else {
        ops::gemm::Mat::rows(b.as_slice().expect("std"), bc)
    };
    let mut c = vec![0.0f32; m * n];
    ops::gemm::sgemm_par(m, n, k, am, bm, &mut c, false);
    ArrayD::from_shape_vec(IxDyn(&[m, n]), c).expect("sized above")
}
