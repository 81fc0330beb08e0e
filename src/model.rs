//! Model files: one `.safetensors` file holding the weights under PyTorch-style names and layouts,
//! and in its metadata the architecture, alphabet, input length, task names and provenance. This is
//! the only place that knows the file format, including PyTorch state-dict import and export.
//!
//! All metadata lives under one key, `seqcnn`, as one JSON document with fields in a fixed order,
//! so the same model always serialises to the same bytes. A CRC-32 over the architecture, the
//! metadata and every tensor guards against corruption that still parses.

use crate::arch::Arch;
use crate::nn::Network;
use crate::rng::Rng;
use crate::tensor::{Array, Tape, Var};
use crate::{Error, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Format tag written into every model file.
pub const FORMAT: &str = "seqcnn-model";
/// Version of the model format.
pub const FORMAT_VERSION: u32 = 1;

/// Everything about a model that is not a weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// One name per output unit.
    pub tasks: Vec<String>,
    /// Input channel letters, in channel order.
    pub alphabet: String,
    /// Fixed input length, if the model has one.
    #[serde(default)]
    pub input_length: Option<usize>,
    /// How the two strands are combined when scoring.
    #[serde(default)]
    pub strand: Strand,
    /// How sequences are scored: plain, or DeepBind's windows and N padding (imported DeepBind
    /// models). Left out of the file when plain, so older model files keep their checksums.
    #[serde(default, skip_serializing_if = "Scoring::is_plain")]
    pub scoring: Scoring,
    /// Where the model came from: training data hash, seed, epochs, final metrics, source file...
    #[serde(default)]
    pub provenance: serde_json::Map<String, serde_json::Value>,
}

/// The JSON document stored under the `seqcnn` metadata key.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
    arch: Arch,
    meta: Meta,
    /// CRC-32 of the canonical JSON of `arch` and `meta`, then each tensor's name and data.
    crc32: String,
}

/// An architecture, its weights and its metadata.
#[derive(Clone, Debug)]
pub struct Model {
    pub arch: Arch,
    pub net: Network,
    /// Weights in [`Network::params`] order.
    pub params: Vec<Array>,
    pub meta: Meta,
}

impl Model {
    /// Why a network's output does not give one value per task.
    fn outputs_mismatch(n: Option<usize>, tasks: usize) -> String {
        match n {
            Some(n) => format!("the network ends in {n} outputs for {tasks} tasks"),
            None => format!(
                "the network ends in a [channels, length] output, not one value per task ({tasks} \
                 tasks): end it with a global pooling or flatten layer and a linear layer"
            ),
        }
    }

    /// A freshly initialised model (PyTorch default init, bounds times `init_scale`).
    pub fn new(arch: Arch, tasks: Vec<String>, rng: &mut Rng, init_scale: f32) -> Result<Model> {
        let net = Network::build(&arch, tasks.len())?;
        if net.n_outputs() != Some(tasks.len()) {
            return Err(Error::Arch(Self::outputs_mismatch(
                net.n_outputs(),
                tasks.len(),
            )));
        }
        let params = net.init_params(rng, init_scale);
        let meta = Meta {
            tasks,
            alphabet: "ACGT".into(),
            input_length: arch.input.length,
            strand: Default::default(),
            scoring: Default::default(),
            provenance: Default::default(),
        };
        Ok(Model {
            arch,
            net,
            params,
            meta,
        })
    }

    /// A model from given weights, checked against the architecture.
    pub fn from_parts(arch: Arch, meta: Meta, params: Vec<Array>) -> Result<Model> {
        let net = Network::build(&arch, meta.tasks.len())?;
        if net.n_outputs() != Some(meta.tasks.len()) {
            return Err(Error::Arch(Self::outputs_mismatch(
                net.n_outputs(),
                meta.tasks.len(),
            )));
        }
        net.check_params(&params)?;
        Ok(Model {
            arch,
            net,
            params,
            meta,
        })
    }

    /// The first layer, a convolution over the four bases (an error for other networks).
    pub fn first_conv(&self) -> Result<crate::nn::FirstConv> {
        crate::nn::FirstConv::of(&self.arch, &self.params)
    }

    /// Puts the weights on a tape as parameters.
    pub fn param_vars(&self, tape: &mut Tape) -> Vec<Var> {
        self.params.iter().map(|p| tape.param(p.clone())).collect()
    }

    /// Raw outputs (logits for `bce`) for a batch `x [N, C, L]`, no gradients. Copies the
    /// parameters once per call: for many batches, [`Model::predict_shared`].
    pub fn predict_raw(&self, x: Array) -> Result<Array> {
        self.predict_shared(&self.shared_params(), x)
    }

    /// One copy of the parameters that many [`Model::predict_shared`] calls can share (DeepSEA's
    /// are 200 MB: copying them per batch took a tenth of its inference time).
    pub fn shared_params(&self) -> Vec<Arc<Array>> {
        self.params.iter().map(|p| Arc::new(p.clone())).collect()
    }

    /// [`Model::predict_raw`] with parameters from [`Model::shared_params`] (of this model).
    pub fn predict_shared(&self, params: &[Arc<Array>], x: Array) -> Result<Array> {
        let mut tape = Tape::inference();
        let xv = tape.constant(x);
        let pv: Vec<Var> = params
            .iter()
            .map(|p| tape.param_shared(p.clone()))
            .collect();
        let y = self.net.infer(&mut tape, xv, &pv)?;
        Ok(tape.value(y).clone())
    }

    /// The model file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let names: Vec<String> = self.net.params().iter().map(|p| p.name.clone()).collect();
        let header = Header {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            arch: self.arch.clone(),
            meta: self.meta.clone(),
            crc32: checksum(
                &self.arch,
                &self.meta,
                names.iter().map(String::as_str).zip(&self.params),
            ),
        };
        let json = serde_json::to_string(&header).map_err(|e| Error::Config(e.to_string()))?;
        write_tensors(
            names.into_iter().zip(&self.params),
            Some(HashMap::from([("seqcnn".to_string(), json)])),
        )
    }

    /// Parses a model file's bytes; `path` names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Model> {
        let bad = |msg: String| Error::model(path, msg);
        let (_, md) = SafeTensors::read_metadata(bytes).map_err(|e| bad(describe(e)))?;
        let json = md
            .metadata()
            .as_ref()
            .and_then(|m| m.get("seqcnn"))
            .ok_or_else(|| bad("not a seqcnn model (no 'seqcnn' metadata); for a PyTorch state dict use `seqcnn import torch`".into()))?;
        let header: Header =
            serde_json::from_str(json).map_err(|e| bad(format!("corrupt model header: {e}")))?;
        if header.format != FORMAT || header.version != FORMAT_VERSION {
            return Err(bad(format!(
                "unsupported model format {} version {} (this seqcnn reads {FORMAT} version {FORMAT_VERSION})",
                header.format, header.version
            )));
        }
        // The header's architecture is read as data: check it as a TOML one is.
        header.arch.validate().map_err(|e| bad(e.to_string()))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(describe(e)))?;
        let net = Network::build(&header.arch, header.meta.tasks.len())
            .map_err(|e| bad(e.to_string()))?;
        let mut params = Vec::with_capacity(net.params().len());
        for spec in net.params() {
            let view = st.tensor(&spec.name).map_err(|_| {
                bad(format!(
                    "weight '{}' {:?} is missing: the weights disagree with the architecture",
                    spec.name, spec.shape
                ))
            })?;
            params.push(weight(&view, &spec.name, &spec.shape).map_err(bad)?);
        }
        if st.len() != params.len() {
            let known: Vec<&str> = net.params().iter().map(|p| p.name.as_str()).collect();
            let extra: Vec<String> = st
                .names()
                .into_iter()
                .filter(|n| !known.contains(n))
                .map(String::from)
                .collect();
            return Err(bad(format!(
                "weights not in the architecture: {}",
                extra.join(", ")
            )));
        }
        let names: Vec<&str> = net.params().iter().map(|p| p.name.as_str()).collect();
        let crc = checksum(&header.arch, &header.meta, names.into_iter().zip(&params));
        if crc != header.crc32 {
            return Err(bad(format!(
                "model file is corrupt (CRC-32 {crc}, the header says {})",
                header.crc32
            )));
        }
        Model::from_parts(header.arch, header.meta, params).map_err(|e| bad(e.to_string()))
    }

    /// Writes the model atomically (a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        let mut out = crate::io::output::AtomicOutput::create(path)?;
        std::io::Write::write_all(&mut out, &bytes).map_err(|e| out.error(e))?;
        out.commit()
    }

    /// Reads a model file.
    pub fn load(path: &Path) -> Result<Model> {
        let bytes = crate::io::input::read_file(path)?;
        Model::from_bytes(&bytes, path)
    }

    /// Builds a model from a PyTorch state dict saved with safetensors
    /// (`safetensors.torch.save_file(model.state_dict(), path)`), whose keys are the
    /// `nn.Sequential` indices of the architecture (`0.weight`, ...) or the layers' names.
    pub fn from_torch(arch: Arch, tasks: Vec<String>, path: &Path) -> Result<Model> {
        let bad = |msg: String| Error::model(path, msg);
        let bytes = crate::io::input::read_file(path)?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(describe(e)))?;
        let net = Network::build(&arch, tasks.len()).map_err(|e| bad(e.to_string()))?;
        let mut used = Vec::new();
        let mut params = Vec::new();
        for spec in net.params() {
            let torch = spec.torch_name();
            let (key, view) = st
                .tensor(&spec.name)
                .map(|v| (spec.name.clone(), v))
                .or_else(|_| st.tensor(&torch).map(|v| (torch.clone(), v)))
                .map_err(|_| {
                    bad(format!(
                        "state dict has no '{torch}' ({:?}) for layer {}",
                        spec.shape, spec.layer
                    ))
                })?;
            params.push(weight(&view, &key, &spec.shape).map_err(bad)?);
            used.push(key);
        }
        let extra: Vec<String> = st
            .names()
            .into_iter()
            .filter(|n| !used.iter().any(|u| u == n))
            .map(String::from)
            .collect();
        if !extra.is_empty() {
            return Err(bad(format!(
                "state dict entries not in the architecture: {}",
                extra.join(", ")
            )));
        }
        let meta = Meta {
            tasks,
            alphabet: "ACGT".into(),
            input_length: arch.input.length,
            strand: Default::default(),
            scoring: Default::default(),
            provenance: Default::default(),
        };
        Model::from_parts(arch, meta, params).map_err(|e| bad(e.to_string()))
    }

    /// The weights as a PyTorch `nn.Sequential` state dict in safetensors form.
    pub fn torch_state_dict_bytes(&self) -> Result<Vec<u8>> {
        let names: Vec<String> = self.net.params().iter().map(|p| p.torch_name()).collect();
        write_tensors(names.into_iter().zip(&self.params), None)
    }
}

/// PyTorch stores batch-norm `num_batches_tracked` as int64; everything else is float32.
fn torch_dtype(name: &str) -> Dtype {
    if name.ends_with(".num_batches_tracked") {
        Dtype::I64
    } else {
        Dtype::F32
    }
}

/// CRC-32 over the canonical JSON of the architecture and metadata, then tensor names and
/// little-endian data in the given order, as 8 hex digits.
fn checksum<'a>(
    arch: &Arch,
    meta: &Meta,
    tensors: impl Iterator<Item = (&'a str, &'a Array)>,
) -> String {
    let mut h = crc32fast::Hasher::new();
    h.update(arch.to_json().as_bytes());
    h.update(serde_json::to_string(meta).unwrap_or_default().as_bytes());
    for (name, a) in tensors {
        h.update(name.as_bytes());
        for v in a.iter() {
            h.update(&v.to_le_bytes());
        }
    }
    format!("{:08x}", h.finalize())
}

fn write_tensors<'a>(
    tensors: impl Iterator<Item = (String, &'a Array)>,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    // Native model files are all float32; PyTorch state dicts (no metadata) keep torch's dtypes.
    let native = metadata.is_some();
    let owned: Vec<(String, Vec<u8>, Vec<usize>, Dtype)> = tensors
        .map(|(name, a)| {
            let dtype = if native {
                Dtype::F32
            } else {
                torch_dtype(&name)
            };
            let data = match dtype {
                Dtype::I64 => a.iter().flat_map(|&v| (v as i64).to_le_bytes()).collect(),
                _ => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            };
            (name, data, a.shape().to_vec(), dtype)
        })
        .collect();
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(name, data, shape, dtype)| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Config(e.to_string()))
        })
        .collect::<Result<_>>()?;
    safetensors::serialize(views, metadata).map_err(|e| Error::Config(e.to_string()))
}

/// The weight `key` read from a file, as an array of the `shape` the architecture needs.
fn weight(view: &TensorView, key: &str, shape: &[usize]) -> std::result::Result<Array, String> {
    if view.shape() != shape {
        return Err(format!(
            "weight '{key}' has shape {:?} but the architecture needs {shape:?}",
            view.shape()
        ));
    }
    to_array(view).map_err(|m| format!("weight '{key}': {m}"))
}

fn to_array(view: &TensorView) -> std::result::Result<Array, String> {
    let data = view.data();
    let vals: Vec<f32> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        Dtype::I64 => data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        other => {
            return Err(format!(
                "dtype {other:?} is not supported (save as float32)"
            ));
        }
    };
    Array::from_shape_vec(ndarray::IxDyn(view.shape()), vals).map_err(|e| e.to_string())
}

/// A safetensors error in words a user can act on.
fn describe(e: safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::HeaderTooSmall | E::MetadataIncompleteBuffer => {
            "file is truncated (incomplete safetensors data)".into()
        }
        E::InvalidHeaderDeserialization(m) => format!("corrupt safetensors header ({m})"),
        E::InvalidHeader(m) => format!("corrupt safetensors header ({m})"),
        E::InvalidHeaderLength => {
            "corrupt safetensors header (declared length exceeds the file: truncated?)".into()
        }
        E::InvalidOffset(m) => format!("corrupt or truncated tensor data ({m})"),
        E::HeaderTooLarge => "corrupt safetensors header (declared header size too large)".into(),
        other => format!("invalid safetensors file: {other}"),
    }
}

/// How the two strands of a sequence are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Strand {
    /// The sequence as given.
    #[default]
    None,
    /// The mean of both strands' outputs (DeepSEA).
    Mean,
    /// The larger of both strands' outputs (DeepBind).
    Max,
}

/// The name the command line and model files use (`none`, `mean`, `max`).
impl std::fmt::Display for Strand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Strand::None => "none",
            Strand::Mean => "mean",
            Strand::Max => "max",
        })
    }
}

/// How sequences become network inputs and outputs become scores (stored in the model).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Scoring {
    /// The sequence is the network's input; outputs are on the loss's scale ([`to_output`]).
    #[default]
    Plain,
    /// The rules of the original deepbind v0.11 tool, for imported DeepBind models. Each window
    /// is padded with `k - 1` N's (0.25 in every channel) on both sides, `k` being the span of the
    /// first layer, an unpadded convolution: DeepBind's "full" convolution over all `n + k - 1`
    /// placements, off-sequence positions read as N. A sequence longer than `window` is scored in
    /// every window of that length at stride 1 and the maximum kept (the mean with `average`);
    /// the strand rule applies within each window. The score is the raw network output, never
    /// mapped through a sigmoid.
    #[serde(rename = "deepbind")]
    DeepBind {
        /// Window length; `None` scores every sequence whole.
        window: Option<usize>,
        /// The mean over windows instead of the maximum (the tool's `--average`).
        #[serde(default)]
        average: bool,
    },
}

impl Scoring {
    /// True for [`Scoring::Plain`] (left out of model files, so older files keep their bytes).
    pub fn is_plain(&self) -> bool {
        *self == Scoring::Plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;

    fn tiny() -> Model {
        let arch = Arch::builtin("deepbind").unwrap();
        Model::new(arch, vec!["a".into(), "b".into()], &mut rng::seeded(5), 1.0).unwrap()
    }

    #[test]
    fn round_trip_is_exact_and_deterministic() {
        let mut m = tiny();
        m.meta.provenance.insert("seed".into(), 5.into());
        m.meta.provenance.insert("epochs".into(), 3.into());
        // Floats must survive the JSON round trip bit for bit (serde_json's float_roundtrip).
        m.meta
            .provenance
            .insert("valid_loss".into(), 0.123_456_789_012_345_67_f64.into());
        m.meta
            .provenance
            .insert("tiny".into(), 2.2250738585072014e-308_f64.into());
        m.meta
            .provenance
            .insert("awkward".into(), 0.30000000000000004_f64.into());
        let bytes = m.to_bytes().unwrap();
        assert_eq!(bytes, m.to_bytes().unwrap());
        let back = Model::from_bytes(&bytes, Path::new("m.safetensors")).unwrap();
        assert_eq!(back.params, m.params);
        assert_eq!(back.meta, m.meta);
        assert_eq!(back.arch, m.arch);
        assert_eq!(back.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn header_architecture_is_checked_before_it_is_built() {
        // Fuzz target `model`: a model file whose header architecture flattens 2^32 channels of
        // length 2^32 overflowed building the network; the header is now checked as TOML is.
        let crash = b"\xff\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":{\"seqcnn\":\"{\\\"format\\\":\
            \\\"seqcnn-model\\\",\\\"version\\\":1,\\\"arch\\\":{\\\"name\\\":\\\"x\\\",\\\"input\\\":\
            {\\\"channels\\\":4294967296,\\\"length\\\":4294967296},\\\"layers\\\":\
            [{\\\"type\\\":\\\"flatten\\\"}]},\\\"meta\\\":{\\\"tasks\\\":[],\
            \\\"alphabet\\\":\\\"ACGT\\\"},\\\"crc32\\\":\\\"0\\\"}\"}}";
        let e = Model::from_bytes(crash, Path::new("m.safetensors"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "m.safetensors: architecture: input.channels = 4294967296 is larger than 16777216, \
             the largest size an architecture may hold"
        );
    }

    #[test]
    fn flipped_weight_byte_fails_the_crc() {
        let mut bytes = tiny().to_bytes().unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0x10;
        let err = Model::from_bytes(&bytes, Path::new("m.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("corrupt") && err.starts_with("m.safetensors"),
            "{err}"
        );
    }

    #[test]
    fn every_flipped_header_byte_is_an_error() {
        let bytes = tiny().to_bytes().unwrap();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        for i in 0..8 + header_len {
            for bit in [0x01, 0x20] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                assert!(
                    Model::from_bytes(&b, Path::new("m")).is_err(),
                    "byte {i} ^ {bit:#x} went unnoticed: {}",
                    String::from_utf8_lossy(&b[i.saturating_sub(30)..i + 10])
                );
            }
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = tiny().to_bytes().unwrap();
        for cut in (0..bytes.len()).step_by(97).chain([bytes.len() - 1]) {
            assert!(
                Model::from_bytes(&bytes[..cut], Path::new("m")).is_err(),
                "cut at {cut}"
            );
        }
    }
}
