//! Labelled sequence sets for training and evaluation: loading from FASTA or DeepBind tables,
//! dinucleotide-shuffled negatives, seeded splits, and one-hot batches.

use crate::encode::{self, NMode};
use crate::io::sequence_records;
use crate::rng::{self, Rng};
use crate::tensor::Array;
use crate::{Error, Result};
use std::path::Path;

/// Sequences with one label per task (NaN = missing).
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub names: Vec<String>,
    pub seqs: Vec<Vec<u8>>,
    /// `labels[i][t]` for sequence `i`, task `t`.
    pub labels: Vec<Vec<f32>>,
    pub tasks: Vec<String>,
}

impl Dataset {
    /// Reads every record of a FASTA file or sequence table. Tables give labels from their
    /// `label_columns` (default `Bound`); FASTA records get no labels.
    pub fn load(path: &Path, label_columns: Option<&[String]>) -> Result<Dataset> {
        let records = sequence_records(path, label_columns)?;
        let tasks = records.label_names().to_vec();
        let mut ds = Dataset {
            tasks,
            ..Default::default()
        };
        for r in records {
            let r = r?;
            ds.names.push(r.name);
            ds.seqs.push(r.seq);
            ds.labels.push(r.labels);
        }
        Ok(ds)
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Whether there are no sequences.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// True when every label present is 1 (a file of positives, such as DeepBind's `AC` sets).
    pub fn positives_only(&self) -> bool {
        !self.tasks.is_empty()
            && self
                .labels
                .iter()
                .flatten()
                .all(|&v| v.is_nan() || v == 1.0)
    }

    /// Appends `per_positive` dinucleotide-shuffled copies of every sequence as negatives (label
    /// 0 for every task), named `NAME_shuf` (`NAME_shufK` for K > 1), as DeepBind did.
    pub fn add_shuffled_negatives(&mut self, per_positive: usize, rng: &mut Rng) {
        let n = self.len();
        let t = self.tasks.len();
        for k in 0..per_positive {
            for i in 0..n {
                let shuffled = encode::dinucleotide_shuffle(&self.seqs[i], rng);
                let suffix = if per_positive > 1 {
                    format!("_shuf{}", k + 1)
                } else {
                    "_shuf".into()
                };
                self.names.push(format!("{}{suffix}", self.names[i]));
                self.seqs.push(shuffled);
                self.labels.push(vec![0.0; t]);
            }
        }
    }

    /// The sequences at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            names: idx.iter().map(|&i| self.names[i].clone()).collect(),
            seqs: idx.iter().map(|&i| self.seqs[i].clone()).collect(),
            labels: idx.iter().map(|&i| self.labels[i].clone()).collect(),
            tasks: self.tasks.clone(),
        }
    }

    /// A seeded random split: `(rest, held_out)` with `fraction` of the sequences held out.
    pub fn split(&self, fraction: f64, rng: &mut Rng) -> (Dataset, Dataset) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        rng::shuffle(rng, &mut idx);
        let k = ((self.len() as f64) * fraction).round() as usize;
        let (held, rest) = idx.split_at(k.min(self.len()));
        let (mut held, mut rest) = (held.to_vec(), rest.to_vec());
        held.sort_unstable();
        rest.sort_unstable();
        (self.subset(&rest), self.subset(&held))
    }

    /// `k` seeded folds: for each, `(train, test)`.
    pub fn folds(&self, k: usize, rng: &mut Rng) -> Vec<(Dataset, Dataset)> {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        rng::shuffle(rng, &mut idx);
        (0..k)
            .map(|f| {
                let mut test: Vec<usize> = idx
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| j % k == f)
                    .map(|(_, &i)| i)
                    .collect();
                let mut train: Vec<usize> = idx
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| j % k != f)
                    .map(|(_, &i)| i)
                    .collect();
                test.sort_unstable();
                train.sort_unstable();
                (self.subset(&train), self.subset(&test))
            })
            .collect()
    }

    /// Labels of one task, in sequence order.
    pub fn task_labels(&self, t: usize) -> Vec<f32> {
        self.labels.iter().map(|l| l[t]).collect()
    }

    /// CRC-32 of names, sequences and labels: identifies the training data in model provenance.
    pub fn fingerprint(&self) -> String {
        let mut h = crc32fast::Hasher::new();
        for ((n, s), l) in self.names.iter().zip(&self.seqs).zip(&self.labels) {
            h.update(n.as_bytes());
            h.update(b"\t");
            h.update(s);
            for v in l {
                h.update(&v.to_le_bytes());
            }
            h.update(b"\n");
        }
        format!("crc32:{:08x}", h.finalize())
    }

    /// One-hot batch `[B, 4, L]` of the sequences at `idx` (padded with N to the longest), each
    /// reverse-complemented where `flip` says so, and its labels `[B, tasks]`.
    pub fn batch(&self, idx: &[usize], flip: &[bool]) -> Result<(Array, Array)> {
        let len = idx.iter().map(|&i| self.seqs[i].len()).max().unwrap_or(0);
        let rc: Vec<Vec<u8>> = idx
            .iter()
            .zip(flip)
            .map(|(&i, &f)| {
                if f {
                    encode::reverse_complement(&self.seqs[i])
                } else {
                    self.seqs[i].clone()
                }
            })
            .collect();
        let refs: Vec<&[u8]> = rc.iter().map(|s| s.as_slice()).collect();
        let x = encode::encode_batch(&refs, len, NMode::Quarter)
            .map_err(|e| Error::Config(e.to_string()))?;
        let t = self.tasks.len();
        let y = Array::from_shape_fn(ndarray::IxDyn(&[idx.len(), t]), |d| {
            self.labels[idx[d[0]]][d[1]]
        });
        Ok((x.into_dyn(), y))
    }
}
