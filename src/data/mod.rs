//! Labelled sequence sets for training and evaluation: loading from FASTA or DeepBind tables,
//! dinucleotide-shuffled negatives, seeded splits, and one-hot batches; windows of a genome tiled
//! into labelled bins ([`tiling`]).

pub mod tiling;

use crate::encode::{self, NMode};
use crate::interval::Interval;
use crate::io::genome::Genome;
use crate::io::sequence::sequence_records;
use crate::rng::{self, Rng};
use crate::tensor::Array;
use crate::{Error, Result};
use std::path::Path;
use tiling::{Task, TileConfig, Tiler};

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
        let (rest, held) = rng::split_indices(self.len(), fraction, rng);
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
        batch(self, idx, flip)
    }
}

impl Examples for Dataset {
    fn len(&self) -> usize {
        self.seqs.len()
    }

    fn tasks(&self) -> &[String] {
        &self.tasks
    }

    fn sequences(&self, idx: &[usize]) -> Result<Vec<Vec<u8>>> {
        Ok(idx.iter().map(|&i| self.seqs[i].clone()).collect())
    }

    fn label_row(&self, i: usize) -> &[f32] {
        &self.labels[i]
    }
}

/// Labelled examples that training and evaluation read in batches: sequences held in memory
/// ([`Dataset`]) or windows read from a genome when needed ([`GenomeWindows`]).
pub trait Examples: Sync {
    /// Number of examples.
    fn len(&self) -> usize;
    /// Task (label column) names.
    fn tasks(&self) -> &[String];
    /// The sequences of the examples at `idx`, in that order.
    fn sequences(&self, idx: &[usize]) -> Result<Vec<Vec<u8>>>;
    /// The sequences of the examples at `idx`, each read `shifts[i]` bp further along its
    /// source (shift augmentation). Only examples read from a genome can move; for the others
    /// any non-zero shift is an error.
    fn sequences_shifted(&self, idx: &[usize], shifts: &[i64]) -> Result<Vec<Vec<u8>>> {
        if shifts.iter().any(|&s| s != 0) {
            return Err(Error::Config(
                "shift augmentation (--jitter) needs windows of a genome (--genome)".into(),
            ));
        }
        self.sequences(idx)
    }
    /// The labels of example `i`, one per task (NaN = missing).
    fn label_row(&self, i: usize) -> &[f32];
    /// Whether there are no examples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One-hot batch `[B, 4, L]` of the examples at `idx` (padded with N to the longest), each
/// reverse-complemented where `flip` says so, and its labels `[B, tasks]`.
pub fn batch(
    ex: &(impl Examples + ?Sized),
    idx: &[usize],
    flip: &[bool],
) -> Result<(Array, Array)> {
    batch_shifted(ex, idx, flip, &vec![0; idx.len()])
}

/// [`batch`] with each example's window moved `shifts[i]` bp along its source first (see
/// [`Examples::sequences_shifted`]).
pub fn batch_shifted(
    ex: &(impl Examples + ?Sized),
    idx: &[usize],
    flip: &[bool],
    shifts: &[i64],
) -> Result<(Array, Array)> {
    let seqs = ex.sequences_shifted(idx, shifts)?;
    let len = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
    let rc: Vec<Vec<u8>> = seqs
        .into_iter()
        .zip(flip)
        .map(|(s, &f)| if f { encode::reverse_complement(&s) } else { s })
        .collect();
    let refs: Vec<&[u8]> = rc.iter().map(|s| s.as_slice()).collect();
    let x = encode::encode_batch(&refs, len, NMode::Quarter)
        .map_err(|e| Error::Config(e.to_string()))?;
    let t = ex.tasks().len();
    let y = Array::from_shape_fn(ndarray::IxDyn(&[idx.len(), t]), |d| {
        ex.label_row(idx[d[0]])[d[1]]
    });
    Ok((x.into_dyn(), y))
}

/// DeepSEA-style examples: genome windows centred on bins, with per-task labels from interval
/// overlap. Only the window positions and labels are kept; sequences are read from the genome
/// per batch, so memory does not grow with the sequence read.
pub struct GenomeWindows<'g> {
    genome: &'g Genome,
    contigs: Vec<String>,
    /// Per window: contig index, window start (may be negative), bin start.
    windows: Vec<(u32, i64, u64)>,
    labels: Vec<f32>,
    tasks: Vec<String>,
    window: u64,
}

impl<'g> GenomeWindows<'g> {
    /// Tiles `regions` of `genome` for `tasks` with `config`; all-negative windows are kept with
    /// probability `keep_negatives` (1 = all), drawn from `rng`.
    pub fn new(
        genome: &'g Genome,
        regions: Vec<Interval>,
        tasks: &[Task],
        config: TileConfig,
        keep_negatives: f64,
        rng: &mut Rng,
    ) -> Result<Self> {
        let window = config.window;
        let tiler = Tiler::new(genome, regions, tasks, config)?;
        let mut out = GenomeWindows {
            genome,
            contigs: Vec::new(),
            windows: Vec::new(),
            labels: Vec::new(),
            tasks: tasks.iter().map(|t| t.name.clone()).collect(),
            window,
        };
        for tile in tiler {
            let tile = tile?;
            let positive = tile.labels.iter().any(|&v| v > 0.0);
            if !positive
                && keep_negatives < 1.0
                && (rng::uniform(rng, 0.0, 1.0) as f64) >= keep_negatives
            {
                continue;
            }
            let c = match out.contigs.iter().position(|c| *c == tile.contig) {
                Some(c) => c,
                None => {
                    out.contigs.push(tile.contig.clone());
                    out.contigs.len() - 1
                }
            };
            out.windows.push((c as u32, tile.window_start, tile.start));
            out.labels.extend_from_slice(&tile.labels);
        }
        Ok(out)
    }

    /// Contig and bin start of window `i`.
    pub fn bin(&self, i: usize) -> (&str, u64) {
        let (c, _, b) = self.windows[i];
        (&self.contigs[c as usize], b)
    }

    /// Number of positive windows per task.
    pub fn positives(&self) -> Vec<usize> {
        let t = self.tasks.len();
        (0..t)
            .map(|k| {
                self.labels
                    .iter()
                    .skip(k)
                    .step_by(t)
                    .filter(|&&v| v > 0.0)
                    .count()
            })
            .collect()
    }
}

impl Examples for GenomeWindows<'_> {
    fn len(&self) -> usize {
        self.windows.len()
    }

    fn tasks(&self) -> &[String] {
        &self.tasks
    }

    fn sequences(&self, idx: &[usize]) -> Result<Vec<Vec<u8>>> {
        self.sequences_shifted(idx, &vec![0; idx.len()])
    }

    fn sequences_shifted(&self, idx: &[usize], shifts: &[i64]) -> Result<Vec<Vec<u8>>> {
        idx.iter()
            .zip(shifts)
            .map(|(&i, &shift)| {
                let (c, start, _) = self.windows[i];
                let start = start + shift;
                self.genome.fetch_padded(
                    &self.contigs[c as usize],
                    start,
                    start + self.window as i64,
                )
            })
            .collect()
    }

    fn label_row(&self, i: usize) -> &[f32] {
        let t = self.tasks.len();
        &self.labels[i * t..(i + 1) * t]
    }
}
