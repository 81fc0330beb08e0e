//! DeepBind's published models: the text parameter files of the deepbind v0.11 tool
//! (`# deepbind 0.1`) read into native [`Model`]s, and the model index (`db.tsv`).
//!
//! A parameter file is a header line, then one `field = value` line per field:
//!
//! ```text
//! # deepbind 0.1
//! reverse_complement = 1          # 1: score both strands, keep the larger
//! num_detectors = 16              # D
//! detector_len = 20               # m
//! has_avg_pooling = 0             # 1: max and mean pooling, interleaved per detector
//! num_hidden = 32                 # H; 0 = no hidden layer
//! detectors = ...                 # m * 4 * D numbers, stored [pos][base][detector]
//! thresholds = ...                # D numbers: the detectors' biases (added before the ReLU)
//! weights1 = ...                  # F * max(H, 1) numbers, stored [feature][unit]; F = D or 2D
//! biases1 = ...                   # max(H, 1) numbers
//! weights2 = ...                  # H numbers (empty when H = 0)
//! biases2 = ...                   # 1 number (empty when H = 0)
//! ```
//!
//! The network is conv (D x m) -> ReLU -> global max (and mean) pooling -> linear (-> ReLU ->
//! linear), one output: the model's score. Weights are moved to PyTorch layouts (conv
//! `[out, in, k]`, linear `[out, in]`); DeepBind's interleaving of max and mean features is what the
//! `global_max_avg_pool` layer produces, so `weights1` needs no reordering. The thresholds enter as
//! the convolution's bias with their sign as stored (`relu(conv + threshold)`): that is what
//! reproduces the score table printed in the tool's README. How sequences are scored (padding
//! with N, windows, strands, no sigmoid) is carried in the model's [`Scoring`] and applied by
//! [`crate::score::Scorer`].

use crate::arch::{Arch, InputSpec, LayerSpec, LossKind, Padding};
use crate::model::{Meta, Model};
use crate::model::{Scoring, Strand};
use crate::tensor::Array;
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The header line every parameter file starts with.
pub const HEADER: &str = "# deepbind 0.1";

/// The name given to the architecture of imported models.
pub const ARCH_NAME: &str = "deepbind_v0.1";

/// The fields of a parameter file, in file order.
const FIELDS: [&str; 11] = [
    "reverse_complement",
    "num_detectors",
    "detector_len",
    "has_avg_pooling",
    "num_hidden",
    "detectors",
    "thresholds",
    "weights1",
    "biases1",
    "weights2",
    "biases2",
];

/// The window the tool scores longer inputs in: `int(1.5 m)` for detectors of length `m`.
///
/// ```
/// assert_eq!(seqcnn::deepbind::default_window(16), 24);
/// assert_eq!(seqcnn::deepbind::default_window(15), 22);
/// ```
pub fn default_window(detector_len: usize) -> usize {
    detector_len * 3 / 2
}

/// The contents of one parameter file, weights still in DeepBind's layouts.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Score both strands and keep the larger.
    pub reverse_complement: bool,
    /// D, the number of motif detectors.
    pub num_detectors: usize,
    /// m, the detectors' length.
    pub detector_len: usize,
    /// Mean pooling besides max pooling (features interleaved max, mean per detector).
    pub has_avg_pooling: bool,
    /// Hidden units; 0 = no hidden layer.
    pub num_hidden: usize,
    /// shape: [m][4][D] (position, base A C G T, detector), flattened.
    pub detectors: Vec<f32>,
    /// shape: [D]
    pub thresholds: Vec<f32>,
    /// shape: [F][max(H, 1)] (feature, unit), flattened; F = D, or 2D with mean pooling.
    pub weights1: Vec<f32>,
    /// shape: [max(H, 1)]
    pub biases1: Vec<f32>,
    /// shape: [H] (empty when H = 0)
    pub weights2: Vec<f32>,
    /// shape: [1] (empty when H = 0)
    pub biases2: Vec<f32>,
}

/// One `field = value` line.
struct Field<'a> {
    line: u64,
    value: &'a str,
}

impl Params {
    /// Reads a parameter file; errors name the file, the line, the field and what was expected.
    pub fn read(path: &Path) -> Result<Params> {
        let bytes = crate::io::input::read_file(path)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| Error::parse(path, 0, format!("not a text file ({e})")))?;
        Params::parse(text, path)
    }

    /// Parses the text of a parameter file; `path` names it in errors.
    ///
    /// ```
    /// use seqcnn::deepbind::Params;
    /// let text = "# deepbind 0.1\nreverse_complement = 0\nnum_detectors = 1\ndetector_len = 1\n\
    ///     has_avg_pooling = 0\nnum_hidden = 0\ndetectors = 1,2,3,4\nthresholds = -1\n\
    ///     weights1 = 2\nbiases1 = 0.5\nweights2 = \nbiases2 = \n";
    /// let p = Params::parse(text, "m.txt".as_ref()).unwrap();
    /// assert_eq!((p.num_detectors, p.detector_len, p.detectors.len()), (1, 1, 4));
    ///
    /// let err = Params::parse(&text.replace("weights1 = 2", "weights1 = 2,3"), "m.txt".as_ref());
    /// assert_eq!(
    ///     err.unwrap_err().to_string(),
    ///     "m.txt:9: field 'weights1': expected 1 number (features 1 x units 1), found 2"
    /// );
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<Params> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i as u64 + 1, l.trim()));
        let header = lines.by_ref().find(|(_, l)| !l.is_empty());
        match header {
            Some((_, l)) if l == HEADER => {}
            Some((n, l)) => {
                return Err(Error::parse(
                    path,
                    n,
                    format!("wrong header: expected '{HEADER}', found '{}'", shorten(l)),
                ));
            }
            None => {
                return Err(Error::parse(
                    path,
                    0,
                    format!("empty file: expected a DeepBind parameter file starting '{HEADER}'"),
                ));
            }
        }
        let mut fields: HashMap<&str, Field> = HashMap::new();
        for (n, l) in lines {
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let Some((key, value)) = l.split_once('=') else {
                return Err(Error::parse(
                    path,
                    n,
                    format!("expected 'field = value', found '{}'", shorten(l)),
                ));
            };
            let key = key.trim();
            let Some(&known) = FIELDS.iter().find(|f| **f == key) else {
                return Err(Error::parse(
                    path,
                    n,
                    format!(
                        "unknown field '{}' (expected one of {})",
                        shorten(key),
                        FIELDS.join(", ")
                    ),
                ));
            };
            if let Some(first) = fields.get(known) {
                return Err(Error::parse(
                    path,
                    n,
                    format!("field '{known}' given twice (first on line {})", first.line),
                ));
            }
            fields.insert(
                known,
                Field {
                    line: n,
                    value: value.trim(),
                },
            );
        }
        let get = |name: &'static str| -> Result<&Field> {
            fields.get(name).ok_or_else(|| {
                Error::parse(
                    path,
                    0,
                    format!("missing field '{name}' (expected a line '{name} = ...')"),
                )
            })
        };
        let int = |name: &'static str, min: usize, max: usize| -> Result<usize> {
            let f = get(name)?;
            match f.value.parse::<usize>() {
                Ok(v) if (min..=max).contains(&v) => Ok(v),
                _ => {
                    let want = if max == 1 {
                        "0 or 1".to_string()
                    } else {
                        format!("a whole number from {min} to {max}")
                    };
                    Err(Error::parse(
                        path,
                        f.line,
                        format!(
                            "field '{name}': expected {want}, found '{}'",
                            shorten(f.value)
                        ),
                    ))
                }
            }
        };
        // Generous bounds that every published model is far inside; they keep the products below
        // from overflowing and a corrupt size from asking for absurd amounts of memory.
        let reverse_complement = int("reverse_complement", 0, 1)? == 1;
        let d = int("num_detectors", 1, 1 << 16)?;
        let m = int("detector_len", 1, 1 << 12)?;
        let has_avg_pooling = int("has_avg_pooling", 0, 1)? == 1;
        let h = int("num_hidden", 0, 1 << 16)?;
        let features = if has_avg_pooling { 2 * d } else { d };
        let units = h.max(1);
        let list = |name: &'static str, count: usize, why: String| -> Result<Vec<f32>> {
            let f = get(name)?;
            let vals = numbers(f.value).map_err(|(i, v)| {
                Error::parse(
                    path,
                    f.line,
                    format!(
                        "field '{name}': value {} '{}' is not a finite number",
                        i + 1,
                        shorten(v)
                    ),
                )
            })?;
            if vals.len() != count {
                let plural = if count == 1 { "" } else { "s" };
                return Err(Error::parse(
                    path,
                    f.line,
                    format!(
                        "field '{name}': expected {count} number{plural} ({why}), found {}",
                        vals.len()
                    ),
                ));
            }
            Ok(vals)
        };
        let hidden_why = |what: &str| {
            if h == 0 {
                format!("empty: num_hidden is 0, so there is no {what}")
            } else {
                format!("num_hidden {h}")
            }
        };
        Ok(Params {
            reverse_complement,
            num_detectors: d,
            detector_len: m,
            has_avg_pooling,
            num_hidden: h,
            detectors: list(
                "detectors",
                m * 4 * d,
                format!("detector_len {m} x 4 bases x num_detectors {d}"),
            )?,
            thresholds: list("thresholds", d, format!("num_detectors {d}"))?,
            weights1: list(
                "weights1",
                features * units,
                format!("features {features} x units {units}"),
            )?,
            biases1: list("biases1", units, format!("units {units}"))?,
            weights2: list("weights2", h, hidden_why("hidden layer"))?,
            biases2: list(
                "biases2",
                if h == 0 { 0 } else { 1 },
                hidden_why("second layer"),
            )?,
        })
    }

    /// The architecture: conv -> ReLU -> global max (and mean) pooling -> linear (-> ReLU ->
    /// linear), one output, any input length. The convolution is unpadded: the scorer pads with N.
    pub fn arch(&self) -> Arch {
        let mut layers = vec![
            LayerSpec::Conv1d {
                name: None,
                out_channels: self.num_detectors,
                kernel_size: self.detector_len,
                stride: 1,
                padding: Padding::Size(0),
                dilation: 1,
                bias: true,
            },
            LayerSpec::Relu {},
            if self.has_avg_pooling {
                LayerSpec::GlobalMaxAvgPool {}
            } else {
                LayerSpec::GlobalMaxPool {}
            },
        ];
        if self.num_hidden > 0 {
            layers.push(LayerSpec::Linear {
                name: None,
                out_features: Some(self.num_hidden),
                bias: true,
            });
            layers.push(LayerSpec::Relu {});
        }
        layers.push(LayerSpec::Linear {
            name: None,
            out_features: None,
            bias: true,
        });
        Arch {
            name: ARCH_NAME.into(),
            description: format!(
                "DeepBind: {} detectors x {}, ReLU, {} pooling, {}one output (imported)",
                self.num_detectors,
                self.detector_len,
                if self.has_avg_pooling {
                    "max + mean"
                } else {
                    "max"
                },
                if self.num_hidden > 0 {
                    format!("dense {} + ReLU, ", self.num_hidden)
                } else {
                    String::new()
                }
            ),
            input: InputSpec {
                channels: 4,
                length: None,
                ..Default::default()
            },
            // DeepBind's score is the raw output; `Scoring::DeepBind` keeps it raw. The loss kind
            // only decides what `eval` reports: AUROC and AUPRC on binary labels.
            loss: LossKind::Bce,
            layers,
        }
    }

    /// The weights in PyTorch layouts, in the order of [`Params::arch`]'s parameters.
    pub fn torch_weights(&self) -> Result<Vec<Array>> {
        let (d, m, h) = (self.num_detectors, self.detector_len, self.num_hidden);
        let units = h.max(1);
        let features = self.weights1.len() / units;
        let shaped = |shape: &[usize], v: Vec<f32>| {
            Array::from_shape_vec(ndarray::IxDyn(shape), v)
                .map_err(|e| Error::shape("deepbind import", e.to_string()))
        };
        // detectors [pos][base][detector] -> conv weight [detector][base][pos]
        let conv = Array::from_shape_fn(ndarray::IxDyn(&[d, 4, m]), |i| {
            self.detectors[(i[2] * 4 + i[1]) * d + i[0]]
        });
        // weights1 [feature][unit] -> linear weight [unit][feature]
        let w1 = Array::from_shape_fn(ndarray::IxDyn(&[units, features]), |i| {
            self.weights1[i[1] * units + i[0]]
        });
        let mut out = vec![
            conv,
            shaped(&[d], self.thresholds.clone())?,
            w1,
            shaped(&[units], self.biases1.clone())?,
        ];
        if h > 0 {
            out.push(shaped(&[1, h], self.weights2.clone())?);
            out.push(shaped(&[1], self.biases2.clone())?);
        }
        Ok(out)
    }

    /// A native model with one task, `id`, scored by DeepBind's rules: windows of
    /// [`default_window`], the maximum over windows, both strands if `reverse_complement`.
    pub fn to_model(&self, id: &str) -> Result<Model> {
        let meta = Meta {
            tasks: vec![id.to_string()],
            alphabet: "ACGT".into(),
            input_length: None,
            strand: if self.reverse_complement {
                Strand::Max
            } else {
                Strand::None
            },
            scoring: Scoring::DeepBind {
                window: Some(default_window(self.detector_len)),
                average: false,
            },
            provenance: Default::default(),
        };
        Model::from_parts(self.arch(), meta, self.torch_weights()?)
    }
}

/// The model ID a parameter file is named for: `D00328.003.txt` -> `D00328.003`.
pub fn model_id(path: &Path) -> Result<String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::parse(path, 0, "the file name is not a model ID"))?;
    let id = name.strip_suffix(".txt").unwrap_or(name);
    if id.is_empty() || id.contains(char::is_whitespace) {
        return Err(Error::parse(
            path,
            0,
            format!("the file name '{name}' is not a model ID (like D00328.003.txt)"),
        ));
    }
    Ok(id.to_string())
}

/// Reads a parameter file into a model named for its file, with its source in the provenance.
pub fn import(path: &Path) -> Result<Model> {
    let id = model_id(path)?;
    let mut model = Params::read(path)?.to_model(&id)?;
    let p = &mut model.meta.provenance;
    p.insert("imported_from".into(), "deepbind 0.1 parameters".into());
    p.insert("source_file".into(), path.display().to_string().into());
    p.insert("deepbind_id".into(), id.into());
    Ok(model)
}

/// The columns of the index copied into an imported model's provenance, with their keys there.
pub const INDEX_FIELDS: [(&str, &str); 10] = [
    ("Protein", "protein"),
    ("Type", "type"),
    ("Species", "species"),
    ("Family", "family"),
    ("Class", "class"),
    ("Experiment", "experiment"),
    ("Experiment Details", "experiment_details"),
    ("Cite", "cite"),
    ("Labels", "labels"),
    ("Comment", "comment"),
];

/// One row of the index: the model ID and the [`INDEX_FIELDS`] by provenance key (empty values
/// left out).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexEntry {
    pub id: String,
    pub fields: Vec<(&'static str, String)>,
}

impl IndexEntry {
    /// A field by provenance key (`protein`, `experiment`, ...).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Marked `deprecated` in the index's `Labels` column.
    pub fn deprecated(&self) -> bool {
        self.get("labels")
            .is_some_and(|l| l.split(',').any(|x| x.trim() == "deprecated"))
    }
}

/// DeepBind's model index (`db.tsv`): `#` comment lines, a header row naming at least `ID`, then
/// one tab-separated row per model.
#[derive(Clone, Debug, Default)]
pub struct Index {
    pub entries: Vec<IndexEntry>,
    by_id: HashMap<String, usize>,
}

impl Index {
    /// Reads an index file (gzip or not).
    pub fn read(path: &Path) -> Result<Index> {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut crate::io::input::open_input(path)?, &mut text)
            .map_err(|e| Error::io(path, e))?;
        Index::parse(&text, path)
    }

    /// Parses an index's text; `path` names it in errors.
    ///
    /// ```
    /// let text = "# comment\nID\tProtein\tType\tLabels\nD00328.003\tCTCF\tTF\t\nD00012.001\tJunb\tTF\tdeprecated\n";
    /// let index = seqcnn::deepbind::Index::parse(text, "db.tsv".as_ref()).unwrap();
    /// let ctcf = index.get("D00328.003").unwrap();
    /// assert_eq!((ctcf.get("protein"), ctcf.deprecated()), (Some("CTCF"), false));
    /// assert!(index.get("D00012.001").unwrap().deprecated());
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<Index> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i as u64 + 1, l.trim_end_matches(['\r', '\n'])))
            .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
        let Some((hline, header)) = lines.next() else {
            return Err(Error::parse(
                path,
                0,
                "empty index: expected a header row naming ID, Protein, ...",
            ));
        };
        let cols: Vec<&str> = header.split('\t').map(str::trim).collect();
        let Some(id_col) = cols.iter().position(|c| *c == "ID") else {
            return Err(Error::parse(
                path,
                hline,
                format!(
                    "the header has no 'ID' column (found: {})",
                    shorten(&cols.join(", "))
                ),
            ));
        };
        let wanted: Vec<(usize, &'static str)> = INDEX_FIELDS
            .iter()
            .filter_map(|(col, key)| cols.iter().position(|c| c == col).map(|i| (i, *key)))
            .collect();
        let mut index = Index::default();
        for (n, line) in lines {
            let vals: Vec<&str> = line.split('\t').map(str::trim).collect();
            let id = vals.get(id_col).copied().unwrap_or("");
            if id.is_empty() {
                return Err(Error::parse(path, n, "row without an ID"));
            }
            if index.by_id.contains_key(id) {
                return Err(Error::parse(
                    path,
                    n,
                    format!("model ID '{id}' is listed twice"),
                ));
            }
            let fields = wanted
                .iter()
                .filter_map(|&(i, key)| {
                    vals.get(i)
                        .filter(|v| !v.is_empty())
                        .map(|v| (key, v.to_string()))
                })
                .collect();
            index.by_id.insert(id.to_string(), index.entries.len());
            index.entries.push(IndexEntry {
                id: id.to_string(),
                fields,
            });
        }
        Ok(index)
    }

    /// The row of a model ID.
    pub fn get(&self, id: &str) -> Option<&IndexEntry> {
        self.by_id.get(id).map(|&i| &self.entries[i])
    }

    /// Copies a row's fields into a model's provenance.
    pub fn annotate(&self, model: &mut Model, id: &str) -> bool {
        let Some(e) = self.get(id) else {
            return false;
        };
        for (k, v) in &e.fields {
            model.meta.provenance.insert((*k).into(), v.clone().into());
        }
        true
    }
}

/// The parameter files named by `paths`: files as given, and every `*.txt` in a directory
/// (sorted by name).
pub fn param_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::io(p, e))?
                .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(p, e)))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "txt"))
                .collect();
            if found.is_empty() {
                return Err(Error::parse(
                    p,
                    0,
                    "no DeepBind parameter files (*.txt) in this directory",
                ));
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// A value cut to a readable length for an error message.
fn shorten(s: &str) -> String {
    crate::error::excerpt(s, 40)
}

/// Comma-separated numbers (an empty value is an empty list); on failure the 0-based index and
/// text of the first bad value.
fn numbers(value: &str) -> std::result::Result<Vec<f32>, (usize, &str)> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .enumerate()
        .map(|(i, v)| {
            let v = v.trim();
            v.parse::<f32>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or((i, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// D = 2 detectors of length m = 3, mean pooling, H = 2 hidden units; every number distinct so
    /// a misplaced one shows.
    fn tiny(avg: bool, hidden: usize) -> String {
        let d = 2;
        let m = 3;
        let f = if avg { 2 * d } else { d };
        let u = hidden.max(1);
        let seq = |n: usize, base: f32| {
            (0..n)
                .map(|i| format!("{}", base + i as f32))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "# deepbind 0.1\r\nreverse_complement = 1\r\nnum_detectors = {d}\r\ndetector_len = {m}\r\n\
             has_avg_pooling = {}\r\nnum_hidden = {hidden}\r\ndetectors = {}\r\nthresholds = {}\r\n\
             weights1 = {}\r\nbiases1 = {}\r\nweights2 = {}\r\nbiases2 = {}\r\n",
            avg as u8,
            seq(m * 4 * d, 0.0),
            seq(d, 100.0),
            seq(f * u, 200.0),
            seq(u, 300.0),
            seq(hidden, 400.0),
            if hidden > 0 { "500" } else { "" },
        )
    }

    #[test]
    fn layouts_become_pytorch_layouts() {
        let p = Params::parse(&tiny(true, 2), Path::new("t.txt")).unwrap();
        let w = p.torch_weights().unwrap();
        let shapes: Vec<&[usize]> = w.iter().map(|a| a.shape()).collect();
        assert_eq!(shapes, [&[2, 4, 3][..], &[2], &[2, 4], &[2], &[1, 2], &[1]]);
        // detectors[(pos * 4 + base) * D + det] -> conv[det][base][pos]
        assert_eq!(w[0][[1, 2, 0]], 5.0); // (0 * 4 + 2) * 2 + 1
        assert_eq!(w[0][[0, 3, 2]], 22.0); // (2 * 4 + 3) * 2 + 0
        assert_eq!(w[1].as_slice().unwrap(), &[100.0, 101.0]);
        // weights1[feature * units + unit] -> linear[unit][feature]; features max0 avg0 max1 avg1
        assert_eq!(w[2][[1, 3]], 207.0); // 200 + 3 * 2 + 1
        assert_eq!(w[4].as_slice().unwrap(), &[400.0, 401.0]);
        let m = p.to_model("X1").unwrap();
        assert_eq!(m.meta.tasks, ["X1"]);
        assert_eq!(m.meta.strand, Strand::Max);
        assert_eq!(
            m.meta.scoring,
            Scoring::DeepBind {
                window: Some(4),
                average: false
            }
        );
        assert!(matches!(m.arch.layers[2], LayerSpec::GlobalMaxAvgPool {}));
    }

    #[test]
    fn no_hidden_layer_means_one_linear_layer() {
        let p = Params::parse(&tiny(false, 0), Path::new("t.txt")).unwrap();
        let m = p.to_model("X").unwrap();
        let names: Vec<_> = m.net.params().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["0.weight", "0.bias", "3.weight", "3.bias"]);
        assert_eq!(m.params[2].shape(), &[1, 2]);
    }

    fn err(text: &str) -> String {
        Params::parse(text, Path::new("bad.txt"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn malformed_files_name_the_field_and_what_was_expected() {
        let good = tiny(false, 2);
        assert_eq!(
            err(&good.replace("# deepbind 0.1", "# deepbind 0.2")),
            "bad.txt:1: wrong header: expected '# deepbind 0.1', found '# deepbind 0.2'"
        );
        assert!(err("").contains("empty file"));
        let no_thr: String = good
            .lines()
            .filter(|l| !l.starts_with("thresholds"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            err(&no_thr),
            "bad.txt: missing field 'thresholds' (expected a line 'thresholds = ...')"
        );
        assert_eq!(
            err(&good.replace("thresholds = 100,101", "thresholds = 100")),
            "bad.txt:8: field 'thresholds': expected 2 numbers (num_detectors 2), found 1"
        );
        assert_eq!(
            err(&good.replace("thresholds = 100,101", "thresholds = 100,x1")),
            "bad.txt:8: field 'thresholds': value 2 'x1' is not a finite number"
        );
        assert!(
            err(&good.replace("thresholds = 100,101", "thresholds = 100,nan")).contains("'nan'")
        );
        assert!(
            err(&good.replace("thresholds = 100,101", "thresholds = 100,")).contains("value 2 ''")
        );
        assert_eq!(
            err(&good.replace("num_hidden = 2", "num_hidden = two")),
            "bad.txt:6: field 'num_hidden': expected a whole number from 0 to 65536, found 'two'"
        );
        assert_eq!(
            err(&good.replace("has_avg_pooling = 0", "has_avg_pooling = 2")),
            "bad.txt:5: field 'has_avg_pooling': expected 0 or 1, found '2'"
        );
        assert!(
            err(&good.replace("biases2 = 500", "biases2 = "))
                .contains("field 'biases2': expected 1 number (num_hidden 2), found 0")
        );
        // A hidden layer's weights in a file that says there is none.
        let e = err(&tiny(false, 0).replace("weights2 = ", "weights2 = 1"));
        assert!(
            e.contains("field 'weights2': expected 0 numbers (empty: num_hidden is 0"),
            "{e}"
        );
        assert!(err(&format!("{good}colour = blue\n")).contains("unknown field 'colour'"));
        assert!(err(&format!("{good}biases2 = 1\n")).contains("given twice (first on line 12)"));
        assert!(err(&format!("{good}just words\n")).contains("expected 'field = value'"));
    }

    #[test]
    fn model_ids_come_from_file_names() {
        assert_eq!(
            model_id(Path::new("x/D00328.003.txt")).unwrap(),
            "D00328.003"
        );
        assert_eq!(model_id(Path::new("D1")).unwrap(), "D1");
        assert!(model_id(Path::new("x/.txt")).is_err());
    }

    #[test]
    fn index_rows_and_errors() {
        let p = Path::new("db.tsv");
        let text = "#c\r\nID\tProtein\tExperiment\tLabels\r\nA.1\tCTCF\tSELEX\t\r\nB.1\tX\t\tdeprecated\r\n";
        let ix = Index::parse(text, p).unwrap();
        assert_eq!(ix.entries.len(), 2);
        let a = ix.get("A.1").unwrap();
        assert_eq!(
            a.fields,
            [
                ("protein", "CTCF".to_string()),
                ("experiment", "SELEX".to_string())
            ]
        );
        assert!(ix.get("B.1").unwrap().deprecated());
        assert!(
            Index::parse("Protein\nx\n", p)
                .unwrap_err()
                .to_string()
                .contains("no 'ID' column")
        );
        assert!(
            Index::parse("ID\nA\nA\n", p)
                .unwrap_err()
                .to_string()
                .contains("db.tsv:3: model ID 'A' is listed twice")
        );
    }
}
