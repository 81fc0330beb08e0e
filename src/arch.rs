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

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

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

/// The shape of one input example: `[channels, length]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub channels: usize,
    /// Fixed input length, or none for networks that take any length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
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
}

/// Built-in architectures, by name: each is a TOML file under `src/arch/`.
const BUILTIN: &[(&str, &str)] = &[
    ("deepbind", include_str!("arch/deepbind.toml")),
    ("deepsea", include_str!("arch/deepsea.toml")),
    ("dilated", include_str!("arch/dilated.toml")),
];

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
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let msg = e.message().trim().replace('\n', " ");
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
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
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

    fn validate(&self) -> Result<()> {
        if self.input.channels == 0 {
            return Err(Error::Arch("input.channels must be positive".into()));
        }
        if self.layers.is_empty() {
            return Err(Error::Arch("no layers".into()));
        }
        validate_layers(&self.layers, "")
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
                && (*eps <= 0.0 || !(0.0..=1.0).contains(momentum))
            {
                return Err(Error::Arch(format!(
                    "layer {i}: batchnorm1d needs eps > 0 and momentum in [0, 1]"
                )));
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
        }
    }

    /// The prefix of this layer's parameter names (its `name`, else its index), or `None` for a
    /// layer without parameters.
    pub fn param_name(&self, index: usize) -> Option<String> {
        match self {
            LayerSpec::Conv1d { name, .. }
            | LayerSpec::Linear { name, .. }
            | LayerSpec::Batchnorm1d { name, .. }
            | LayerSpec::Residual { name, .. } => {
                Some(name.clone().unwrap_or_else(|| index.to_string()))
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
}
