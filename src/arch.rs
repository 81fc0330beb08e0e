//! Architecture files: a network described as data, a list of layers applied in order (in the
//! spirit of Keras `Sequential`, Caffe prototxt and PyTorch `nn.Sequential`). Built-in
//! architectures are the same TOML files under `src/arch/`, carried in the binary.
//!
//! ```toml
//! name = "example"
//! input = { channels = 4, length = 101 }   # length may be omitted: any length
//! loss = "bce"                              # bce | mse | poisson | cross_entropy
//!
//! [[layers]]
//! type = "conv1d"          # PyTorch Conv1d: weight [out, in, k]
//! out_channels = 16
//! kernel_size = 24
//! padding = "same"         # an integer, [left, right], "same" or "valid"
//!
//! [[layers]]
//! type = "relu"
//!
//! [[layers]]
//! type = "global_max_pool"
//!
//! [[layers]]
//! type = "linear"          # PyTorch Linear: weight [out, in]; out_features omitted = one per task
//! ```
//!
//! Layer types: `conv1d`, `linear`, `relu`, `sigmoid`, `tanh`, `max_pool1d`, `avg_pool1d`,
//! `global_max_pool`, `global_avg_pool`, `global_max_avg_pool` (max and mean per channel,
//! interleaved), `dropout`, `flatten`. Each layer's parameters are named `NAME.weight` and
//! `NAME.bias`, where `NAME` is the layer's `name` or else its index in the list, so a built-in
//! architecture's parameters line up with the `nn.Sequential` shown in the README.
//!
//! Image networks give `input = { channels = 1, height = 28, width = 28 }` and use the 2D layers
//! `conv2d` (weight `[out, in, kh, kw]`), `conv_transpose2d` (weight `[in, out, kh, kw]`),
//! `max_pool2d`, `avg_pool2d`, `global_avg_pool2d` and `batchnorm2d`, PyTorch semantics; sizes
//! are an integer or `[height, width]`. Pixels are divided by `input.pixel_scale` (default 255)
//! and, when `input.mean` and `input.std` are given, standardised per channel.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The largest integer an architecture may hold (a size, stride, padding, dilation...): 2^24.
/// Far above any real network's, and small enough that the shape arithmetic of
/// [`crate::nn::Network::build`] cannot overflow.
pub const MAX_SIZE: u64 = 1 << 24;

/// A whole architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arch {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub input: InputSpec,
    #[serde(default)]
    pub loss: LossKind,
    pub layers: Vec<LayerSpec>,
}

/// The shape of one input example: `[channels, length]`, or `[channels, height, width]` for
/// images.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub channels: usize,
    /// Fixed input length, or none for networks that take any length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    /// Image height: with `width`, the input is an image `[channels, height, width]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<usize>,
    /// Image width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    /// Images: raw pixel values are divided by this (default 255).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_scale: Option<f32>,
    /// Images: per-channel mean subtracted after scaling (with `std`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    /// Images: per-channel standard deviation divided by after subtracting `mean`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
}

/// The training loss, which also fixes how outputs are read (sigmoid for `bce`, softmax for
/// `cross_entropy`, exp for `poisson`, identity for `mse`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    #[default]
    Bce,
    Mse,
    Poisson,
    CrossEntropy,
}

/// The name architecture files use (`bce`, `mse`, `poisson`, `cross_entropy`).
impl std::fmt::Display for LossKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LossKind::Bce => "bce",
            LossKind::Mse => "mse",
            LossKind::Poisson => "poisson",
            LossKind::CrossEntropy => "cross_entropy",
        })
    }
}

/// Zero padding of a convolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Padding {
    /// The same on both sides.
    Size(usize),
    /// `[left, right]`.
    Pair([usize; 2]),
    /// `"same"` (output length = input length at stride 1; for an even span PyTorch puts the
    /// extra zero on the right) or `"valid"` (no padding).
    Named(PadName),
}

/// Named padding modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadName {
    Same,
    Valid,
}

impl Default for Padding {
    fn default() -> Self {
        Padding::Size(0)
    }
}

impl Padding {
    /// `(left, right)` for a kernel of `k` taps at `dilation`.
    pub fn resolve(&self, k: usize, dilation: usize, stride: usize) -> Result<(usize, usize)> {
        Ok(match self {
            Padding::Size(p) => (*p, *p),
            Padding::Pair([l, r]) => (*l, *r),
            Padding::Named(PadName::Valid) => (0, 0),
            Padding::Named(PadName::Same) => {
                if stride != 1 {
                    return Err(Error::Arch(
                        "padding \"same\" needs stride 1 (as in PyTorch)".into(),
                    ));
                }
                let total = dilation * (k.max(1) - 1);
                (total / 2, total - total / 2)
            }
        })
    }
}

fn one() -> usize {
    1
}
fn bn_eps() -> f32 {
    1e-5
}
fn bn_momentum() -> f32 {
    0.1
}
fn yes() -> bool {
    true
}
fn is_one(v: &usize) -> bool {
    *v == 1
}
fn is_true(v: &bool) -> bool {
    *v
}
fn is_zero(v: &usize) -> bool {
    *v == 0
}

/// One layer of an architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    Conv1d {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        out_channels: usize,
        kernel_size: usize,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        stride: usize,
        #[serde(default)]
        padding: Padding,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        dilation: usize,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        bias: bool,
    },
    Linear {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Output units; omitted = one per task.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        out_features: Option<usize>,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        bias: bool,
    },
    Relu {},
    Sigmoid {},
    Tanh {},
    MaxPool1d {
        kernel_size: usize,
        /// Defaults to `kernel_size`, as in PyTorch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
        #[serde(default, skip_serializing_if = "is_zero")]
        padding: usize,
    },
    AvgPool1d {
        kernel_size: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
        #[serde(default, skip_serializing_if = "is_zero")]
        padding: usize,
    },
    GlobalMaxPool {},
    GlobalAvgPool {},
    GlobalMaxAvgPool {},
    Dropout {
        p: f32,
    },
    /// PyTorch `BatchNorm1d` over `[N, C, L]` or `[N, C]`: weight, bias, running_mean,
    /// running_var, num_batches_tracked.
    Batchnorm1d {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default = "bn_eps")]
        eps: f32,
        #[serde(default = "bn_momentum")]
        momentum: f32,
    },
    /// `x + body(x)`: the body is a list of layers whose output has the input's shape. PyTorch:
    /// a module with `self.body = nn.Sequential(...)` and `forward = x + self.body(x)`, so its
    /// parameters are named `INDEX.body.J.weight`.
    Residual {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        layers: Vec<LayerSpec>,
    },
    Flatten {},
    /// PyTorch `Conv2d`: weight `[out, in, kh, kw]`.
    Conv2d {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        out_channels: usize,
        kernel_size: Size2,
        #[serde(default = "size2_one", skip_serializing_if = "Size2::is_one")]
        stride: Size2,
        #[serde(default)]
        padding: Padding2d,
        #[serde(default = "size2_one", skip_serializing_if = "Size2::is_one")]
        dilation: Size2,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        bias: bool,
    },
    /// PyTorch `ConvTranspose2d`: weight `[in, out, kh, kw]`.
    ConvTranspose2d {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        out_channels: usize,
        kernel_size: Size2,
        #[serde(default = "size2_one", skip_serializing_if = "Size2::is_one")]
        stride: Size2,
        #[serde(default, skip_serializing_if = "Size2::is_zero")]
        padding: Size2,
        #[serde(default, skip_serializing_if = "Size2::is_zero")]
        output_padding: Size2,
        #[serde(default = "size2_one", skip_serializing_if = "Size2::is_one")]
        dilation: Size2,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        bias: bool,
    },
    MaxPool2d {
        kernel_size: Size2,
        /// Defaults to `kernel_size`, as in PyTorch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<Size2>,
        #[serde(default, skip_serializing_if = "Size2::is_zero")]
        padding: Size2,
    },
    /// `count_include_pad=True`, as PyTorch's default.
    AvgPool2d {
        kernel_size: Size2,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<Size2>,
        #[serde(default, skip_serializing_if = "Size2::is_zero")]
        padding: Size2,
    },
    /// Mean over height and width: `[C, H, W] -> [C]` (`AdaptiveAvgPool2d(1)` + flatten).
    GlobalAvgPool2d {},
    /// PyTorch `BatchNorm2d` over `[N, C, H, W]`: weight, bias, running_mean, running_var,
    /// num_batches_tracked.
    Batchnorm2d {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default = "bn_eps")]
        eps: f32,
        #[serde(default = "bn_momentum")]
        momentum: f32,
    },
}

/// Built-in architectures, by name: each is a TOML file under `src/arch/`.
const BUILTIN: &[(&str, &str)] = &[
    ("deepbind", include_str!("arch/deepbind.toml")),
    ("deepsea", include_str!("arch/deepsea.toml")),
    ("dilated", include_str!("arch/dilated.toml")),
    ("lenet5", include_str!("arch/lenet5.toml")),
    ("resnet_small", include_str!("arch/resnet_small.toml")),
    ("smallcnn", include_str!("arch/smallcnn.toml")),
];

/// The 1-based line of byte offset `at` in `text`: one more than the newlines before it.
fn line_of(text: &str, at: usize) -> usize {
    let before = &text.as_bytes()[..at.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// The key named by toml's "unknown field `KEY`, expected ..." message.
fn unknown_key(msg: &str) -> Option<&str> {
    msg.strip_prefix("unknown field `")?.split('`').next()
}

/// The 1-based line, at or after byte offset `from`, that sets `key` (`key = ...`).
fn key_line(text: &str, from: usize, key: &str) -> Option<usize> {
    let start = line_of(text, from);
    text.lines()
        .enumerate()
        .skip(start - 1)
        .find(|(_, l)| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|(i, _)| i + 1)
}

impl Arch {
    /// Names of the built-in architectures.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in architecture by name.
    pub fn builtin(name: &str) -> Option<Arch> {
        BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, text)| {
            Arch::from_toml(text)
                .unwrap_or_else(|e| panic!("built-in architecture {name} is invalid: {e}"))
        })
    }

    /// Parses an architecture from TOML text.
    pub fn from_toml(text: &str) -> Result<Arch> {
        let arch: Arch = toml::from_str(text).map_err(|e| {
            // One line: "line N: message" (the toml crate's own text spans several lines).
            let msg = e.message().trim().replace('\n', " ");
            // An unknown key's span is its whole table: point at the key's own line.
            let line = e.span().map(|s| match unknown_key(&msg) {
                Some(key) => key_line(text, s.start, key).unwrap_or_else(|| line_of(text, s.start)),
                None => line_of(text, s.start),
            });
            Error::Arch(match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            })
        })?;
        arch.validate()?;
        Ok(arch)
    }

    /// Parses an architecture from JSON (the form stored in model files).
    pub fn from_json(text: &str) -> Result<Arch> {
        let arch: Arch = serde_json::from_str(text).map_err(|e| Error::Arch(e.to_string()))?;
        arch.validate()?;
        Ok(arch)
    }

    /// A built-in name, or a path to a TOML (or JSON) architecture file.
    pub fn load(name_or_path: &str) -> Result<Arch> {
        if let Some(a) = Arch::builtin(name_or_path) {
            return Ok(a);
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            return Err(Error::Arch(format!(
                "'{name_or_path}' is neither a built-in architecture ({}) nor an existing file",
                Arch::builtin_names().join(", ")
            )));
        }
        let bytes = crate::io::input::read_file(path)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::model(
                path,
                format!(
                    "architecture: not UTF-8 text (byte {}): an architecture is a TOML file",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        let parsed = if name_or_path.ends_with(".json") {
            Arch::from_json(&text)
        } else {
            Arch::from_toml(&text)
        };
        parsed.map_err(|e| Error::model(path, e.to_string()))
    }

    /// The architecture as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("architectures always serialise")
    }

    /// The architecture as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("architectures always serialise")
    }

    /// Applies a `PATH=VALUE` override, e.g. `layers.0.out_channels=32` or `input.length=200`;
    /// the value is read as JSON (a number, `true`, `"same"`...) or else as a string.
    pub fn set(&mut self, assignment: &str) -> Result<()> {
        let (path, value) = assignment
            .split_once('=')
            .ok_or_else(|| Error::Arch(format!("override '{assignment}' is not PATH=VALUE")))?;
        let value: serde_json::Value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        let mut doc = serde_json::to_value(&*self).map_err(|e| Error::Arch(e.to_string()))?;
        let mut node = &mut doc;
        let parts: Vec<&str> = path.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            node = match node {
                serde_json::Value::Array(items) => {
                    let k: usize = part.parse().map_err(|_| {
                        Error::Arch(format!("override '{path}': '{part}' is not an index"))
                    })?;
                    let n = items.len();
                    items.get_mut(k).ok_or_else(|| {
                        Error::Arch(format!(
                            "override '{path}': index {k} out of range ({n} items)"
                        ))
                    })?
                }
                serde_json::Value::Object(map) => {
                    if last {
                        map.insert(part.to_string(), value.clone());
                        break;
                    }
                    map.get_mut(*part).ok_or_else(|| {
                        Error::Arch(format!("override '{path}': no field '{part}'"))
                    })?
                }
                _ => {
                    return Err(Error::Arch(format!(
                        "override '{path}': '{part}' is inside a plain value"
                    )));
                }
            };
        }
        let arch: Arch = serde_json::from_value(doc)
            .map_err(|e| Error::Arch(format!("override '{assignment}': {e}")))?;
        arch.validate()?;
        *self = arch;
        Ok(())
    }

    /// Sets the probability of every dropout layer.
    pub fn set_dropout(&mut self, p: f32) -> Result<()> {
        for l in &mut self.layers {
            if let LayerSpec::Dropout { p: q } = l {
                *q = p;
            }
        }
        self.validate()
    }

    /// Checks what the types cannot: positive sizes, probabilities in range, unique names, every
    /// integer at most [`MAX_SIZE`]. Every way of making an architecture (TOML, JSON, a model
    /// file's header, `--set`) goes through it.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.input.channels == 0 {
            return Err(Error::Arch("input.channels must be positive".into()));
        }
        if self.layers.is_empty() {
            return Err(Error::Arch("no layers".into()));
        }
        let doc = serde_json::to_value(self).map_err(|e| Error::Arch(e.to_string()))?;
        if let Some((path, v)) = too_large(&doc, "") {
            return Err(Error::Arch(format!(
                "{path} = {v} is larger than {MAX_SIZE}, the largest size an architecture may hold"
            )));
        }
        self.input.validate_image()?;
        validate_layers(&self.layers, "")
    }
}

/// The first integer above [`MAX_SIZE`] in an architecture's JSON form, with its path
/// (`layers.3.kernel_size`).
fn too_large(v: &serde_json::Value, path: &str) -> Option<(String, u64)> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match v {
        serde_json::Value::Number(n) => n
            .as_u64()
            .filter(|&n| n > MAX_SIZE)
            .map(|n| (path.to_string(), n)),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| too_large(item, &join(&i.to_string()))),
        serde_json::Value::Object(map) => {
            map.iter().find_map(|(k, item)| too_large(item, &join(k)))
        }
        _ => None,
    }
}

/// Checks a layer list (and nested residual bodies); `path` prefixes layer numbers in messages.
fn validate_layers(layers: &[LayerSpec], path: &str) -> Result<()> {
    {
        if layers.is_empty() {
            return Err(Error::Arch(format!("{path}no layers")));
        }
        let mut names = std::collections::HashSet::new();
        for (idx, l) in layers.iter().enumerate() {
            let i = format!("{path}{idx}");
            if let LayerSpec::Residual { layers, .. } = l {
                validate_layers(layers, &format!("{i}.body."))?;
            }
            if let LayerSpec::Batchnorm1d { eps, momentum, .. } = l
                && !(eps.is_finite() && *eps > 0.0 && (0.0..=1.0).contains(momentum))
            {
                return Err(Error::Arch(format!(
                    "layer {i}: batchnorm1d needs a finite eps > 0 and momentum in [0, 1]"
                )));
            }
            if let Some(msg) = l.image_layer_problem() {
                return Err(Error::Arch(format!("layer {i} ({}): {msg}", l.type_name())));
            }
            let name = l.param_name(idx);
            if let Some(name) = name {
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err(Error::Arch(format!("layer {i}: invalid name '{name}'")));
                }
                if !names.insert(name.clone()) {
                    return Err(Error::Arch(format!(
                        "layer {i}: name '{name}' is used twice"
                    )));
                }
            }
            match l {
                LayerSpec::Dropout { p } if !(0.0..1.0).contains(p) => {
                    return Err(Error::Arch(format!(
                        "layer {i}: dropout p = {p} is not in [0, 1)"
                    )));
                }
                LayerSpec::Conv1d {
                    out_channels: 0, ..
                }
                | LayerSpec::Conv1d { kernel_size: 0, .. }
                | LayerSpec::Conv1d { stride: 0, .. }
                | LayerSpec::Conv1d { dilation: 0, .. }
                | LayerSpec::Linear {
                    out_features: Some(0),
                    ..
                }
                | LayerSpec::MaxPool1d { kernel_size: 0, .. }
                | LayerSpec::AvgPool1d { kernel_size: 0, .. }
                | LayerSpec::MaxPool1d {
                    stride: Some(0), ..
                }
                | LayerSpec::AvgPool1d {
                    stride: Some(0), ..
                } => {
                    return Err(Error::Arch(format!(
                        "layer {i} ({}): sizes must be positive",
                        l.type_name()
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl LayerSpec {
    /// The layer's `type` as written in architecture files.
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerSpec::Conv1d { .. } => "conv1d",
            LayerSpec::Linear { .. } => "linear",
            LayerSpec::Relu {} => "relu",
            LayerSpec::Sigmoid {} => "sigmoid",
            LayerSpec::Tanh {} => "tanh",
            LayerSpec::MaxPool1d { .. } => "max_pool1d",
            LayerSpec::AvgPool1d { .. } => "avg_pool1d",
            LayerSpec::GlobalMaxPool {} => "global_max_pool",
            LayerSpec::GlobalAvgPool {} => "global_avg_pool",
            LayerSpec::GlobalMaxAvgPool {} => "global_max_avg_pool",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Flatten {} => "flatten",
            LayerSpec::Batchnorm1d { .. } => "batchnorm1d",
            LayerSpec::Residual { .. } => "residual",
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::ConvTranspose2d { .. } => "conv_transpose2d",
            LayerSpec::MaxPool2d { .. } => "max_pool2d",
            LayerSpec::AvgPool2d { .. } => "avg_pool2d",
            LayerSpec::GlobalAvgPool2d {} => "global_avg_pool2d",
            LayerSpec::Batchnorm2d { .. } => "batchnorm2d",
        }
    }

    /// The prefix of this layer's parameter names (its `name`, else its index), or `None` for a
    /// layer without parameters.
    pub fn param_name(&self, index: usize) -> Option<String> {
        match self {
            LayerSpec::Conv1d { name, .. }
            | LayerSpec::Linear { name, .. }
            | LayerSpec::Batchnorm1d { name, .. }
            | LayerSpec::Residual { name, .. }
            | LayerSpec::Conv2d { name, .. }
            | LayerSpec::ConvTranspose2d { name, .. }
            | LayerSpec::Batchnorm2d { name, .. } => {
                Some(name.clone().unwrap_or_else(|| index.to_string()))
            }
            _ => None,
        }
    }
}

/// A size per spatial axis: one integer for both, or `[height, width]` (PyTorch's `int` or
/// `tuple`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Size2 {
    Both(usize),
    Each([usize; 2]),
}

impl Default for Size2 {
    fn default() -> Self {
        Size2::Both(0)
    }
}

fn size2_one() -> Size2 {
    Size2::Both(1)
}

impl Size2 {
    /// `[height, width]`.
    pub fn get(&self) -> [usize; 2] {
        match *self {
            Size2::Both(v) => [v, v],
            Size2::Each(hw) => hw,
        }
    }
    fn is_one(&self) -> bool {
        self.get() == [1, 1]
    }
    fn is_zero(&self) -> bool {
        self.get() == [0, 0]
    }
}

/// Zero padding of a 2D convolution: one integer for all sides, `[height, width]` (symmetric on
/// each axis, as PyTorch), `"same"` or `"valid"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Padding2d {
    Size(Size2),
    Named(PadName),
}

impl Default for Padding2d {
    fn default() -> Self {
        Padding2d::Size(Size2::Both(0))
    }
}

impl Padding2d {
    /// `[(top, bottom), (left, right)]` for a kernel `k` at `dilation` and `stride`; `"same"`
    /// puts an odd extra zero at the bottom / right, as PyTorch.
    pub fn resolve(
        &self,
        k: [usize; 2],
        dilation: [usize; 2],
        stride: [usize; 2],
    ) -> Result<[(usize, usize); 2]> {
        let mut out = [(0, 0); 2];
        for a in 0..2 {
            out[a] = match self {
                Padding2d::Size(s) => (s.get()[a], s.get()[a]),
                Padding2d::Named(name) => {
                    Padding::Named(*name).resolve(k[a], dilation[a], stride[a])?
                }
            };
        }
        Ok(out)
    }
}

impl InputSpec {
    /// True when the input is an image (`height` and `width` given).
    pub fn is_image(&self) -> bool {
        self.height.is_some() && self.width.is_some()
    }

    fn validate_image(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Arch(format!("input: {msg}")));
        if self.height.is_some() != self.width.is_some() {
            return bad("give both height and width (an image) or neither".into());
        }
        if self.height == Some(0) || self.width == Some(0) {
            return bad("height and width must be positive".into());
        }
        if self.is_image() && self.length.is_some() {
            return bad("an image input has height and width, not length".into());
        }
        let image_only = self.pixel_scale.is_some() || self.mean.is_some() || self.std.is_some();
        if image_only && !self.is_image() {
            return bad("pixel_scale, mean and std apply to image inputs only".into());
        }
        if let Some(s) = self.pixel_scale
            && !(s.is_finite() && s > 0.0)
        {
            return bad(format!("pixel_scale {s} must be positive"));
        }
        match (&self.mean, &self.std) {
            (None, None) => Ok(()),
            (Some(m), Some(s)) if m.len() == self.channels && s.len() == self.channels => {
                if s.iter().all(|v| v.is_finite() && *v > 0.0) && m.iter().all(|v| v.is_finite()) {
                    Ok(())
                } else {
                    bad("std must be positive and mean finite".into())
                }
            }
            _ => bad(format!(
                "mean and std need one value per channel ({} each)",
                self.channels
            )),
        }
    }
}

impl LayerSpec {
    /// Why a 2D layer's sizes cannot work, if they cannot.
    fn image_layer_problem(&self) -> Option<String> {
        let zero = |s: &Size2| s.get().contains(&0);
        match self {
            LayerSpec::Conv2d {
                out_channels,
                kernel_size,
                stride,
                dilation,
                ..
            } if *out_channels == 0 || zero(kernel_size) || zero(stride) || zero(dilation) => {
                Some("sizes must be positive".into())
            }
            LayerSpec::ConvTranspose2d {
                out_channels,
                kernel_size,
                stride,
                dilation,
                output_padding,
                ..
            } => {
                if *out_channels == 0 || zero(kernel_size) || zero(stride) || zero(dilation) {
                    Some("sizes must be positive".into())
                } else if (0..2)
                    .any(|a| output_padding.get()[a] >= stride.get()[a].max(dilation.get()[a]))
                {
                    Some("output_padding must be smaller than the stride or the dilation".into())
                } else {
                    None
                }
            }
            LayerSpec::MaxPool2d {
                kernel_size,
                stride,
                ..
            }
            | LayerSpec::AvgPool2d {
                kernel_size,
                stride,
                ..
            } if zero(kernel_size) || stride.as_ref().is_some_and(zero) => {
                Some("sizes must be positive".into())
            }
            LayerSpec::Batchnorm2d { eps, momentum, .. }
                if !(eps.is_finite() && *eps > 0.0 && (0.0..=1.0).contains(momentum)) =>
            {
                Some("needs a finite eps > 0 and momentum in [0, 1]".into())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_round_trip() {
        for name in Arch::builtin_names() {
            let a = Arch::builtin(name).unwrap();
            assert_eq!(Arch::from_toml(&a.to_toml()).unwrap(), a);
            assert_eq!(Arch::from_json(&a.to_json()).unwrap(), a);
        }
    }

    #[test]
    fn toml_errors_name_the_line_of_the_fault() {
        // The fault starts its line: counting the lines of the text before it gave the line
        // above.
        let toml = "name = \"x\"\ninput = { channels = 4 }\n[[layers]]\ntype = \"relu\"\n\
                    bogus = 1\n";
        let e = Arch::from_toml(toml).unwrap_err().to_string();
        assert!(e.contains("line 5:"), "{e}");
        assert!(e.contains("bogus"), "{e}");
        // Mid-line faults and the first line.
        let e = Arch::from_toml("name = \"x\"\ninput = { channels = \"four\" }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2:"), "{e}");
        // An unknown key is reported by toml at its table's header: the key's own line.
        let toml = "name = \"x\"\ninput = { channels = 4 }\n[[layers]]\ntype = \"conv1d\"\n\
                    out_channels = 2\nkernel_size = 3\nin_channels = 4\n";
        let e = Arch::from_toml(toml).unwrap_err().to_string();
        assert!(e.contains("line 7: unknown field `in_channels`"), "{e}");
        let e = Arch::from_toml("name = 3\n").unwrap_err().to_string();
        assert!(e.contains("line 1:"), "{e}");
        assert_eq!(line_of("a\nb", 2), 2);
        assert_eq!(line_of("a\nb", 99), 2);
    }

    #[test]
    fn batchnorm_eps_that_is_not_finite_is_an_error() {
        // Fuzz target `arch`: eps = inf passed the check (`eps <= 0.0` is false for inf and
        // NaN), and the model file then held `"eps":null`, which no longer read back.
        let toml = "name = \"x\"\ninput = { channels = 4 }\n[[layers]]\ntype = \"batchnorm1d\"\n\
                    eps = inf\n[[layers]]\ntype = \"global_max_pool\"\n[[layers]]\ntype = \"linear\"\n";
        let e = Arch::from_toml(toml).unwrap_err().to_string();
        assert_eq!(
            e,
            "architecture: layer 0: batchnorm1d needs a finite eps > 0 and momentum in [0, 1]"
        );
        assert!(Arch::from_toml(&toml.replace("inf", "nan")).is_err());
        let image = "name = \"x\"\ninput = { channels = 1, height = 4, width = 4 }\n\
                     [[layers]]\ntype = \"batchnorm2d\"\neps = -inf\n";
        let e = Arch::from_toml(image).unwrap_err().to_string();
        assert!(e.contains("needs a finite eps > 0"), "{e}");
        // A finite eps still reads back from the model header's JSON form.
        let ok = Arch::from_toml(&toml.replace("inf", "1e-3")).unwrap();
        assert_eq!(Arch::from_json(&ok.to_json()).unwrap(), ok);
    }

    #[test]
    fn sizes_past_max_size_and_shapes_past_max_values_are_errors_not_overflows() {
        // Fuzz target `arch`: flatten multiplied 2^32 channels by a length of 2^32.
        let toml = "name = \"x\"\ninput = { channels = 4294967296, length = 4294967296 }\n\
                    [[layers]]\ntype = \"flatten\"\n";
        let e = Arch::from_toml(toml).unwrap_err().to_string();
        assert_eq!(
            e,
            "architecture: input.channels = 4294967296 is larger than 16777216, the largest \
             size an architecture may hold"
        );
        let nested = "name = \"x\"\ninput = { channels = 4 }\n[[layers]]\ntype = \"residual\"\n\
                      layers = [{ type = \"conv1d\", out_channels = 4, kernel_size = 99999999999 }]\n";
        let e = Arch::from_toml(nested).unwrap_err().to_string();
        assert!(
            e.contains("layers.0.layers.0.kernel_size = 99999999999"),
            "{e}"
        );
        // Sizes within bounds whose products are too large: the network says which layer.
        let wide = Arch::from_toml(
            "name = \"x\"\ninput = { channels = 16777216, length = 16777216 }\n\
             [[layers]]\ntype = \"flatten\"\n",
        )
        .unwrap();
        let e = crate::nn::Network::build(&wide, 1).unwrap_err().to_string();
        assert!(e.starts_with("architecture: input: Seq"), "{e}");
        assert!(
            e.ends_with("has more than 4294967296 values per example"),
            "{e}"
        );
        let deep = Arch::from_toml(
            "name = \"x\"\ninput = { channels = 1, height = 4, width = 4 }\n\
             [[layers]]\ntype = \"conv_transpose2d\"\nout_channels = 16777216\nkernel_size = 1\n\
             stride = 16777216\n",
        )
        .unwrap();
        let e = crate::nn::Network::build(&deep, 1).unwrap_err().to_string();
        assert!(
            e.starts_with("architecture: layer 0 (conv_transpose2d): output Image"),
            "{e}"
        );
        let heavy = Arch::from_toml(
            "name = \"x\"\ninput = { channels = 16777216 }\n[[layers]]\ntype = \"global_max_pool\"\n\
             [[layers]]\ntype = \"linear\"\nout_features = 16777216\n",
        )
        .unwrap();
        let e = crate::nn::Network::build(&heavy, 1)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "architecture: the network has more than 4294967296 weights"
        );
    }

    #[test]
    fn unknown_layer_type_and_field_are_errors() {
        let bad = "name='x'\ninput={channels=4}\n[[layers]]\ntype='conv9d'\n";
        assert!(
            Arch::from_toml(bad)
                .unwrap_err()
                .to_string()
                .contains("conv9d")
        );
        let bad = "name='x'\ninput={channels=4}\n[[layers]]\ntype='relu'\nfoo=1\n";
        assert!(Arch::from_toml(bad).is_err());
    }

    #[test]
    fn overrides_change_fields_and_are_checked() {
        let mut a = Arch::builtin("deepbind").unwrap();
        a.set("layers.0.out_channels=32").unwrap();
        a.set("layers.0.padding=\"same\"").unwrap();
        a.set("input.length=101").unwrap();
        match &a.layers[0] {
            LayerSpec::Conv1d {
                out_channels,
                padding,
                ..
            } => {
                assert_eq!(*out_channels, 32);
                assert_eq!(*padding, Padding::Named(PadName::Same));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(a.input.length, Some(101));
        assert!(a.set("layers.9.p=0.1").is_err());
        assert!(a.set("layers.0.out_channels=-3").is_err());
        assert!(a.set("layers.5.p=1.5").is_err());
        assert!(a.set("nonsense").is_err());
    }

    #[test]
    fn same_padding_follows_pytorch() {
        // PyTorch: total = dilation * (k - 1); left = total // 2, right = total - left.
        assert_eq!(
            Padding::Named(PadName::Same).resolve(4, 1, 1).unwrap(),
            (1, 2)
        );
        assert_eq!(
            Padding::Named(PadName::Same).resolve(3, 2, 1).unwrap(),
            (2, 2)
        );
        assert!(Padding::Named(PadName::Same).resolve(3, 1, 2).is_err());
    }

    #[test]
    fn image_inputs_and_2d_sizes() {
        let arch = |input: &str, layer: &str| {
            Arch::from_toml(&format!(
                "name='x'\ninput={{{input}}}\n[[layers]]\ntype='{layer}'\n"
            ))
        };
        let ok = arch(
            "channels=3, height=4, width=5, mean=[0, 0, 1], std=[1, 2, 3]",
            "relu",
        );
        assert!(ok.unwrap().input.is_image());
        for (input, needle) in [
            ("channels=1, height=4", "both height and width"),
            ("channels=1, height=4, width=4, length=3", "not length"),
            (
                "channels=2, height=4, width=4, mean=[0], std=[1]",
                "one value per channel",
            ),
            (
                "channels=1, height=4, width=4, mean=[0], std=[0]",
                "std must be positive",
            ),
            ("channels=1, length=9, pixel_scale=255", "image inputs only"),
        ] {
            let err = arch(input, "relu").unwrap_err().to_string();
            assert!(err.contains(needle), "{input}: {err}");
        }
        let conv = "name='x'\ninput={channels=1, height=9, width=9}\n[[layers]]\ntype='conv2d'\nout_channels=2\n";
        let a = Arch::from_toml(&format!("{conv}kernel_size=[3, 5]\npadding='same'\n")).unwrap();
        match &a.layers[0] {
            LayerSpec::Conv2d {
                kernel_size,
                padding,
                stride,
                ..
            } => {
                assert_eq!(kernel_size.get(), [3, 5]);
                assert_eq!(stride.get(), [1, 1]);
                assert_eq!(
                    padding.resolve([3, 4], [1, 1], [1, 1]).unwrap(),
                    [(1, 1), (1, 2)]
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(Arch::from_json(&a.to_json()).unwrap(), a);
        assert!(Arch::from_toml(&format!("{conv}kernel_size=[3, 0]\n")).is_err());
        let t = "name='x'\ninput={channels=1, height=9, width=9}\n[[layers]]\ntype='conv_transpose2d'\nout_channels=2\nkernel_size=3\nstride=2\noutput_padding=2\n";
        let err = Arch::from_toml(t).unwrap_err().to_string();
        assert!(err.contains("output_padding"), "{err}");
    }
}
