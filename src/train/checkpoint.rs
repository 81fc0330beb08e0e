//! Training checkpoints: everything a run needs to continue after a crash or a kill as if it had
//! never stopped — weights, optimiser and scheduler state, the random generator's position, the
//! best weights so far and the early-stopping counter — in one safetensors file written atomically
//! after every epoch. The best epoch's validation figures go into the header as JSON; their type
//! is the training task's ([`super::fit::FitTask::Eval`]), [`Evaluation`] for sequences.

use super::fit::Evaluation;
use super::optim::OptimState;
use super::schedule::SchedulerState;
use crate::rng::Rng;
use crate::tensor::Array;
use crate::{Error, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Where the generator is: seed, stream and word position of the ChaCha8 stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RngState {
    seed: String,
    stream: u64,
    word_pos: String,
}

impl RngState {
    /// The state of `rng`.
    pub fn of(rng: &Rng) -> RngState {
        RngState {
            seed: rng.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// A generator at this state.
    pub fn restore(&self) -> Result<Rng> {
        use rand::SeedableRng;
        let bad = || Error::Config("checkpoint: corrupt generator state".into());
        // 64 hex digits: ASCII, so the two-byte slices below fall on character boundaries.
        if self.seed.len() != 64 || !self.seed.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = u8::from_str_radix(&self.seed[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        let mut rng = Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos.parse::<u128>().map_err(|_| bad())?);
        Ok(rng)
    }
}

/// The state of a training run at the end of an epoch; `V` is what validation measures.
#[derive(Clone, Debug)]
pub struct Checkpoint<V = Evaluation> {
    /// Epochs completed.
    pub epoch: usize,
    pub params: Vec<Array>,
    pub optimizer: OptimState,
    pub scheduler: SchedulerState,
    pub rng: RngState,
    /// Best epoch so far: its evaluation, weights and number.
    pub best: Option<(V, Vec<Array>, usize)>,
    /// Epochs since the best one.
    pub since_best: usize,
    /// What fixes the run: a checkpoint resumes only the run that made it.
    pub run: RunId,
}

/// What fixes a training run, so that `--resume` continues only the run that wrote the
/// checkpoint: a fingerprint of the training and validation examples (sequences and labels)
/// and the settings that shape every step (all of [`FitConfig`](super::fit::FitConfig) but the
/// number of epochs, which a resumed run may raise), with the architecture.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunId {
    /// FNV-1a (64 bit) over every example's sequence and labels, training then validation.
    pub data: u64,
    /// The settings, one `name: value` per line.
    pub settings: String,
}

impl RunId {
    /// Why `other` (the current run) may not resume from a checkpoint of `self`: `None` when
    /// they are the same run.
    pub fn differs(&self, other: &RunId) -> Option<String> {
        if self.data != other.data {
            return Some(
                "it was made on other training or validation data (sequences or labels differ)"
                    .into(),
            );
        }
        let (was, now): (Vec<&str>, Vec<&str>) = (
            self.settings.lines().collect(),
            other.settings.lines().collect(),
        );
        let first = was.iter().zip(&now).find(|(a, b)| a != b);
        match first {
            Some((a, b)) => Some(format!("it was made with {a}, this run has {b}")),
            None if was.len() != now.len() => Some("it was made with other settings".into()),
            None => None,
        }
    }
}

/// FNV-1a, 64 bit: a fingerprint stable across builds and platforms.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Adds `bytes`.
    pub fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The fingerprint so far.
    pub fn value(&self) -> u64 {
        self.0
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header<V> {
    format: String,
    epoch: usize,
    n_params: usize,
    optimizer_step: u64,
    optimizer_lr: f64,
    optimizer_tensors: Vec<String>,
    scheduler: SchedulerState,
    rng: RngState,
    best: Option<(V, usize)>,
    since_best: usize,
    run: RunId,
}

/// Format 2 added the checksum and the run fingerprint.
const FORMAT: &str = "seqcnn-checkpoint-2";

/// The metadata key of the checksum: CRC-32 of the whole file with these 8 hex digits zero.
const CHECKSUM_KEY: &str = "seqcnn_crc32";

/// Where the checksum's 8 hex digits sit in a checkpoint's bytes (in its JSON header).
fn checksum_at(bytes: &[u8]) -> Option<usize> {
    let key = format!("\"{CHECKSUM_KEY}\":\"");
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)?;
    let header = bytes.get(8..8usize.checked_add(header_len)?)?;
    let at = header
        .windows(key.len())
        .position(|w| w == key.as_bytes())?;
    let digits = 8 + at + key.len();
    bytes.get(digits..digits + 8).map(|_| digits)
}

/// CRC-32 of `bytes` with the checksum's digits (at `at`) read as zeros.
fn checksum(bytes: &[u8], at: usize) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..at]);
    h.update(b"00000000");
    h.update(&bytes[at + 8..]);
    h.finalize()
}

impl<V: Clone + Serialize + DeserializeOwned> Checkpoint<V> {
    /// Writes the checkpoint atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors: Vec<(String, &Array)> = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            tensors.push((format!("param.{i}"), p));
        }
        if let Some((_, best, _)) = &self.best {
            for (i, p) in best.iter().enumerate() {
                tensors.push((format!("best.{i}"), p));
            }
        }
        for (name, t) in &self.optimizer.tensors {
            tensors.push((format!("opt.{name}"), t));
        }
        let header = Header {
            format: FORMAT.into(),
            epoch: self.epoch,
            n_params: self.params.len(),
            optimizer_step: self.optimizer.step,
            optimizer_lr: self.optimizer.lr,
            optimizer_tensors: self
                .optimizer
                .tensors
                .iter()
                .map(|(n, _)| n.clone())
                .collect(),
            scheduler: self.scheduler.clone(),
            rng: self.rng.clone(),
            best: self.best.as_ref().map(|(e, _, n)| (e.clone(), *n)),
            since_best: self.since_best,
            run: self.run.clone(),
        };
        let json = serde_json::to_string(&header).map_err(|e| Error::Config(e.to_string()))?;
        let owned: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
            .into_iter()
            .map(|(n, a)| {
                (
                    n,
                    a.iter().flat_map(|v| v.to_le_bytes()).collect(),
                    a.shape().to_vec(),
                )
            })
            .collect();
        let views: Vec<(String, TensorView)> = owned
            .iter()
            .map(|(n, d, s)| TensorView::new(Dtype::F32, s.clone(), d).map(|v| (n.clone(), v)))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut bytes = safetensors::serialize(
            views,
            Some(HashMap::from([
                ("seqcnn_checkpoint".to_string(), json),
                (CHECKSUM_KEY.to_string(), "00000000".to_string()),
            ])),
        )
        .map_err(|e| Error::Config(e.to_string()))?;
        let at = checksum_at(&bytes)
            .ok_or_else(|| Error::Config("checkpoint: no room for the checksum".into()))?;
        let crc = format!("{:08x}", checksum(&bytes, at));
        bytes[at..at + 8].copy_from_slice(crc.as_bytes());
        let mut out = crate::io::output::AtomicOutput::create(path)?;
        std::io::Write::write_all(&mut out, &bytes).map_err(|e| out.error(e))?;
        out.commit()
    }

    /// Reads a checkpoint written by [`Checkpoint::save`].
    pub fn load(path: &Path) -> Result<Checkpoint<V>> {
        let bad = |m: String| Error::model(path, m);
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let (_, md) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a checkpoint: {e}")))?;
        if let Some(at) = checksum_at(&bytes) {
            let stored = std::str::from_utf8(&bytes[at..at + 8])
                .ok()
                .and_then(|d| u32::from_str_radix(d, 16).ok());
            if stored != Some(checksum(&bytes, at)) {
                return Err(bad(
                    "the checksum does not match: the checkpoint is damaged; resume from \
                     another copy or start afresh"
                        .into(),
                ));
            }
        }
        let json = md
            .metadata()
            .as_ref()
            .and_then(|m| m.get("seqcnn_checkpoint"))
            .ok_or_else(|| bad("not a seqcnn checkpoint".into()))?;
        let h: Header<V> = serde_json::from_str(json)
            .map_err(|e| bad(format!("corrupt checkpoint header: {e}")))?;
        if h.format != FORMAT {
            return Err(bad(format!(
                "checkpoint format {} where this seqcnn reads {FORMAT}: start the run afresh",
                h.format
            )));
        }
        if checksum_at(&bytes).is_none() {
            return Err(bad("no checksum: the checkpoint is damaged".into()));
        }
        h.rng.restore().map_err(|_| {
            bad("corrupt generator state (seed, stream or position): the run cannot resume from this checkpoint; train again without --resume".into())
        })?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(format!("corrupt checkpoint: {e}")))?;
        let get = |name: &str| -> Result<Array> {
            let t = st
                .tensor(name)
                .map_err(|_| bad(format!("checkpoint has no tensor '{name}'")))?;
            let vals: Vec<f32> = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Array::from_shape_vec(ndarray::IxDyn(t.shape()), vals).map_err(|e| bad(e.to_string()))
        };
        let params = (0..h.n_params)
            .map(|i| get(&format!("param.{i}")))
            .collect::<Result<Vec<_>>>()?;
        let best = match h.best {
            Some((eval, epoch)) => {
                let w = (0..h.n_params)
                    .map(|i| get(&format!("best.{i}")))
                    .collect::<Result<Vec<_>>>()?;
                Some((eval, w, epoch))
            }
            None => None,
        };
        let tensors = h
            .optimizer_tensors
            .iter()
            .map(|n| Ok((n.clone(), get(&format!("opt.{n}"))?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Checkpoint {
            epoch: h.epoch,
            params,
            optimizer: OptimState {
                step: h.optimizer_step,
                lr: h.optimizer_lr,
                tensors,
            },
            scheduler: h.scheduler,
            rng: h.rng,
            best,
            since_best: h.since_best,
            run: h.run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    #[test]
    fn checkpoint_seed_not_hex_digits_is_an_error_naming_the_file() {
        // A checkpoint with no tensors, a valid checksum and a generator seed of 64 bytes that
        // are not 64 hex digits ("a" and 21 three-byte '€'): restoring it sliced the seed inside
        // a character (fuzz target `checkpoint`).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.ckpt");
        let bad_seed = RngState {
            seed: format!("a{}", "\u{20ac}".repeat(21)),
            stream: 0,
            word_pos: "0".into(),
        };
        Checkpoint::<Evaluation> {
            epoch: 1,
            params: Vec::new(),
            optimizer: OptimState::default(),
            scheduler: SchedulerState {
                epoch: 1,
                lr: 0.1,
                best: None,
                num_bad_epochs: 0,
                cooldown_counter: 0,
            },
            rng: bad_seed,
            best: None,
            since_best: 0,
            run: RunId::default(),
        }
        .save(&path)
        .unwrap();
        let e = Checkpoint::<Evaluation>::load(&path)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("{}: corrupt generator state", path.display())),
            "{e}"
        );
        let rng = RngState {
            seed: format!("a{}", "\u{20ac}".repeat(21)),
            stream: 0,
            word_pos: "0".into(),
        };
        assert_eq!(rng.seed.len(), 64);
        assert!(rng.restore().is_err());
    }

    #[test]
    fn generator_state_round_trips_mid_stream() {
        let mut rng = crate::rng::seeded(9);
        for _ in 0..37 {
            rng.random::<u32>();
        }
        let mut back = RngState::of(&rng).restore().unwrap();
        for _ in 0..100 {
            assert_eq!(rng.random::<u64>(), back.random::<u64>());
        }
    }
}
