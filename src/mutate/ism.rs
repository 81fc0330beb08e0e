//! Saturation mutagenesis by definition ([`naive_ism`]): every single-base substitution of a
//! sequence ([`mutations`]) built and scored whole in batches, so memory is bounded by the batch
//! size, not by the number of mutants; and the scores both ISM paths return ([`IsmScores`]). The
//! fast path, which recomputes only what a substitution changes, is in `fast.rs`.

use crate::Result;
use crate::score::Scorer;
use ndarray::Array2;

/// The four bases in the order alternatives are listed.
pub(super) const BASES: [u8; 4] = *b"ACGT";

/// One single-base substitution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mutation {
    /// 0-based position in the sequence.
    pub pos: usize,
    /// The base at `pos`, upper-cased (N or another IUPAC code when the sequence has one).
    pub ref_base: u8,
    /// The substituted base: one of A, C, G, T, never equal to `ref_base`.
    pub alt: u8,
}

/// Every single-base substitution of `seq`, by position then alternative in ACGT order: three
/// per A/C/G/T position; four (all of ACGT) at a position holding N or another code.
///
/// ```
/// use seqcnn::mutate::mutations;
/// let m = mutations(b"aN");
/// assert_eq!(m.len(), 3 + 4);
/// assert_eq!((m[0].pos, m[0].ref_base, m[0].alt), (0, b'A', b'C'));
/// assert_eq!((m[3].pos, m[3].ref_base, m[3].alt), (1, b'N', b'A'));
/// ```
pub fn mutations(seq: &[u8]) -> Vec<Mutation> {
    let mut out = Vec::with_capacity(3 * seq.len());
    for (pos, &b) in seq.iter().enumerate() {
        let ref_base = b.to_ascii_uppercase();
        for &alt in BASES.iter().filter(|&&a| a != ref_base) {
            out.push(Mutation { pos, ref_base, alt });
        }
    }
    out
}

/// Scores of one sequence and of all its single-base mutants.
#[derive(Clone, Debug)]
pub struct IsmScores {
    /// The substitutions, in [`mutations`] order.
    pub mutations: Vec<Mutation>,
    /// shape: [tasks]: the unmutated sequence's scores (what `predict` gives).
    pub reference: Vec<f32>,
    /// shape: [mutations, tasks]: each mutant's scores.
    pub mutants: Array2<f32>,
}

impl IsmScores {
    /// Mutant minus reference, per mutation and task.
    pub fn diff(&self) -> Array2<f32> {
        let mut d = self.mutants.clone();
        for mut row in d.rows_mut() {
            for (v, r) in row.iter_mut().zip(&self.reference) {
                *v -= r;
            }
        }
        d
    }
}

/// Saturation mutagenesis by definition: each mutant sequence built and scored whole, `batch`
/// mutants per call to the scorer. `raw` scores with [`Scorer::score_raw`] (logits), otherwise
/// [`Scorer::score`] (the output scale).
pub fn naive_ism(scorer: &Scorer, seq: &[u8], raw: bool, batch: usize) -> Result<IsmScores> {
    let score = |seqs: &[&[u8]]| {
        if raw {
            scorer.score_raw(seqs)
        } else {
            scorer.score(seqs)
        }
    };
    let reference: Vec<f32> = score(&[seq])?.iter().copied().collect();
    let tasks = reference.len();
    let muts = mutations(seq);
    let mut mutants = Array2::<f32>::zeros((muts.len(), tasks));
    let batch = batch.max(1);
    let mut bufs: Vec<Vec<u8>> = Vec::with_capacity(batch);
    for (c, chunk) in muts.chunks(batch).enumerate() {
        bufs.resize_with(chunk.len(), Vec::new);
        for (buf, m) in bufs.iter_mut().zip(chunk) {
            buf.clear();
            buf.extend_from_slice(seq);
            buf[m.pos] = m.alt;
        }
        let refs: Vec<&[u8]> = bufs[..chunk.len()].iter().map(|b| b.as_slice()).collect();
        let y = score(&refs)?;
        mutants
            .slice_mut(ndarray::s![c * batch..c * batch + chunk.len(), ..])
            .assign(&y);
    }
    Ok(IsmScores {
        mutations: muts,
        reference,
        mutants,
    })
}
