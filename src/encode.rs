//! DNA sequence encoding: the 256-entry one-hot lookup table (A,C,G,T channels; U read as T;
//! IUPAC ambiguity codes as 0.25 or zeros), sequence validation, reverse complement and the
//! Altschul-Erickson dinucleotide shuffle.
//!
//! Layout: a sequence of length `L` encodes channel-major as `[4, L]` (`out[c * L + i]`), the
//! layout of one item of a PyTorch `Conv1d` input `[N, 4, L]`. Channel order is A=0, C=1, G=2,
//! T=3, so the complement of a channel `c` is `3 - c` and the reverse complement of an encoded
//! sequence is the encoding flipped along both axes.

use ndarray::{Array2, Array3};

use crate::rng::{self, Rng};

/// How ambiguous bases (`N` and the other IUPAC codes `R Y S W K M B D H V`) are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NMode {
    /// 0.25 in each of the four channels (the default; what DeepBind and most models expect).
    #[default]
    Quarter,
    /// 0 in every channel.
    Zero,
}

impl NMode {
    /// The value written in each channel for an ambiguous base.
    pub fn value(self) -> f32 {
        match self {
            NMode::Quarter => 0.25,
            NMode::Zero => 0.0,
        }
    }
}

/// A byte that is not a nucleotide or IUPAC code, at a 0-based position in its sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadBase {
    /// 0-based position in the sequence.
    pub pos: usize,
    /// The offending byte.
    pub byte: u8,
}

impl std::fmt::Display for BadBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.byte;
        if b.is_ascii_graphic() {
            write!(
                f,
                "invalid character '{}' at position {}",
                b as char, self.pos
            )
        } else {
            // Spaces, tabs, control and non-ASCII bytes are shown by their code.
            write!(f, "invalid character 0x{b:02x} at position {}", self.pos)
        }
    }
}

impl std::error::Error for BadBase {}

/// What can go wrong when encoding one sequence or a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A byte that is neither a nucleotide nor an IUPAC code.
    #[error("{0}")]
    BadBase(#[from] BadBase),
    /// A bad byte in sequence `index` of a batch.
    #[error("sequence {index} of the batch: {bad}")]
    BadBaseInBatch { index: usize, bad: BadBase },
    /// The output buffer does not hold `4 * len` values.
    #[error("output buffer holds {got} values, a sequence of length {len} needs {}", 4 * len)]
    BufferLength { len: usize, got: usize },
    /// Sequence `index` of a batch is longer than the batch window.
    #[error("sequence {index} of the batch has length {len}, longer than the window of {window}")]
    TooLong {
        index: usize,
        len: usize,
        window: usize,
    },
}

impl From<EncodeError> for crate::Error {
    fn from(e: EncodeError) -> Self {
        crate::Error::shape("encode", e.to_string())
    }
}

/// Code of a byte in [`CODE`]: 0..=3 a channel, [`AMBIG`] an IUPAC ambiguity code, [`INVALID`]
/// anything else.
const AMBIG: u8 = 4;
const INVALID: u8 = 255;

/// The 256-entry lookup table from byte to channel (A=0, C=1, G=2, T/U=3), [`AMBIG`] or
/// [`INVALID`]; either case.
static CODE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let pairs: [(u8, u8); 5] = [(b'A', 0), (b'C', 1), (b'G', 2), (b'T', 3), (b'U', 3)];
    let mut i = 0;
    while i < pairs.len() {
        t[pairs[i].0 as usize] = pairs[i].1;
        t[pairs[i].0.to_ascii_lowercase() as usize] = pairs[i].1;
        i += 1;
    }
    let ambig = b"RYSWKMBDHVN";
    let mut i = 0;
    while i < ambig.len() {
        t[ambig[i] as usize] = AMBIG;
        t[ambig[i].to_ascii_lowercase() as usize] = AMBIG;
        i += 1;
    }
    t
};

/// The 256-entry complement table: A<->T, C<->G, U->A, IUPAC codes to their complements
/// (R<->Y, K<->M, B<->V, D<->H; S, W, N to themselves), case preserved; any other byte maps to
/// itself.
static COMPLEMENT: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    let pairs: [(u8, u8); 15] = [
        (b'A', b'T'),
        (b'T', b'A'),
        (b'U', b'A'),
        (b'C', b'G'),
        (b'G', b'C'),
        (b'R', b'Y'),
        (b'Y', b'R'),
        (b'K', b'M'),
        (b'M', b'K'),
        (b'B', b'V'),
        (b'V', b'B'),
        (b'D', b'H'),
        (b'H', b'D'),
        (b'S', b'S'),
        (b'W', b'W'),
    ];
    let mut i = 0;
    while i < pairs.len() {
        let (from, to) = pairs[i];
        t[from as usize] = to;
        t[from.to_ascii_lowercase() as usize] = to.to_ascii_lowercase();
        i += 1;
    }
    t
};

/// Channel of a base, either case (A=0, C=1, G=2, T/U=3); `None` for N, other IUPAC codes and
/// anything else.
pub fn base_index(b: u8) -> Option<usize> {
    let c = CODE[b as usize];
    (c < AMBIG).then_some(c as usize)
}

/// Checks that every byte of `seq` is a nucleotide (`ACGTU`) or IUPAC code, in either case.
///
/// ```
/// use seqcnn::encode::check_sequence;
/// assert!(check_sequence(b"ACGTNacgtnRYu").is_ok());
/// let bad = check_sequence(b"ACGT-A").unwrap_err();
/// assert_eq!((bad.pos, bad.byte), (4, b'-'));
/// assert_eq!(bad.to_string(), "invalid character '-' at position 4");
/// ```
pub fn check_sequence(seq: &[u8]) -> Result<(), BadBase> {
    match seq.iter().position(|&b| CODE[b as usize] == INVALID) {
        None => Ok(()),
        Some(pos) => Err(BadBase {
            pos,
            byte: seq[pos],
        }),
    }
}

/// One-hot encodes `seq` into `out`, channel-major `[4, L]` with `L = seq.len()`:
/// `out[c * L + i]` is channel `c` (A, C, G, T) at position `i`. Every value of `out` is written.
/// On error `out` may be partly written.
///
/// ```
/// use seqcnn::encode::{encode_into, NMode};
/// let mut out = [9.0f32; 12];
/// encode_into(b"AgN", NMode::Quarter, &mut out).unwrap();
/// assert_eq!(out, [1.0, 0.0, 0.25,   // A
///                  0.0, 0.0, 0.25,   // C
///                  0.0, 1.0, 0.25,   // G
///                  0.0, 0.0, 0.25]); // T
/// ```
pub fn encode_into(seq: &[u8], n: NMode, out: &mut [f32]) -> Result<(), EncodeError> {
    let len = seq.len();
    if out.len() != 4 * len {
        return Err(EncodeError::BufferLength {
            len,
            got: out.len(),
        });
    }
    out.fill(0.0);
    let nval = n.value();
    for (i, &b) in seq.iter().enumerate() {
        match CODE[b as usize] {
            c @ 0..=3 => out[c as usize * len + i] = 1.0,
            AMBIG => {
                for c in 0..4 {
                    out[c * len + i] = nval;
                }
            }
            _ => return Err(BadBase { pos: i, byte: b }.into()),
        }
    }
    Ok(())
}

/// Appends the base codes of `seq` to `out`: 0..=3 for A, C, G, T (U), 4 for N and the other
/// IUPAC codes (what [`NMode::Quarter`] encodes as 0.25 in every channel). One byte per position
/// instead of four floats: DeepBind scoring reads its tables by these codes. On error `out` may
/// have grown.
///
/// ```
/// use seqcnn::encode::push_codes;
/// let mut out = Vec::new();
/// push_codes(b"ACgTuNr", &mut out).unwrap();
/// assert_eq!(out, [0, 1, 2, 3, 3, 4, 4]);
/// assert_eq!(push_codes(b"AC-", &mut out).unwrap_err().pos, 2);
/// ```
pub fn push_codes(seq: &[u8], out: &mut Vec<u8>) -> Result<(), BadBase> {
    out.reserve(seq.len());
    for (pos, &byte) in seq.iter().enumerate() {
        match CODE[byte as usize] {
            INVALID => return Err(BadBase { pos, byte }),
            c => out.push(c),
        }
    }
    Ok(())
}

/// One-hot encodes `seq` as an array of shape `[4, L]` (see [`encode_into`]).
///
/// ```
/// use seqcnn::encode::{one_hot, NMode};
/// let x = one_hot(b"ACGTN", NMode::Zero).unwrap();
/// assert_eq!(x.shape(), &[4, 5]);
/// assert_eq!(x[[2, 2]], 1.0); // G at position 2
/// assert_eq!(x.column(4).sum(), 0.0); // N is all zeros with NMode::Zero
/// assert!(one_hot(b"AC7", NMode::Quarter).is_err());
/// ```
pub fn one_hot(seq: &[u8], n: NMode) -> Result<Array2<f32>, BadBase> {
    let mut out = Array2::<f32>::zeros((4, seq.len()));
    // A fresh standard-layout array is contiguous, so `as_slice_mut` is always `Some`.
    let buf = out.as_slice_mut().unwrap_or_default();
    match encode_into(seq, n, buf) {
        Ok(()) => Ok(out),
        Err(EncodeError::BadBase(b)) => Err(b),
        // The buffer is 4 * len by construction; no other error can occur.
        Err(_) => Ok(out),
    }
}

/// Encodes a batch into `[B, 4, len]`. Sequences shorter than `len` are padded on the right
/// with `N` (0.25 or 0 per `n`); a sequence longer than `len` is an error, as is a bad byte
/// (the error names the sequence's index in the batch).
///
/// ```
/// use seqcnn::encode::{encode_batch, NMode};
/// let x = encode_batch(&[b"ACGT".as_slice(), b"TT"], 4, NMode::Quarter).unwrap();
/// assert_eq!(x.shape(), &[2, 4, 4]);
/// assert_eq!(x[[1, 3, 1]], 1.0);  // second sequence, channel T, position 1
/// assert_eq!(x[[1, 0, 3]], 0.25); // padding
/// assert!(encode_batch(&[b"ACGTA".as_slice()], 4, NMode::Quarter).is_err());
/// ```
pub fn encode_batch(seqs: &[&[u8]], len: usize, n: NMode) -> Result<Array3<f32>, EncodeError> {
    if let Some((index, seq)) = seqs.iter().enumerate().find(|(_, s)| s.len() > len) {
        return Err(EncodeError::TooLong {
            index,
            len: seq.len(),
            window: len,
        });
    }
    let mut out = Array3::<f32>::zeros((seqs.len(), 4, len));
    if len == 0 {
        return Ok(out);
    }
    // Contiguous by construction (fresh standard-layout array).
    let buf = out.as_slice_mut().unwrap_or_default();
    let nval = n.value();
    for (index, (seq, item)) in seqs.iter().zip(buf.chunks_exact_mut(4 * len)).enumerate() {
        for (i, &b) in seq.iter().enumerate() {
            match CODE[b as usize] {
                c @ 0..=3 => item[c as usize * len + i] = 1.0,
                AMBIG => {
                    for c in 0..4 {
                        item[c * len + i] = nval;
                    }
                }
                _ => {
                    let bad = BadBase { pos: i, byte: b };
                    return Err(EncodeError::BadBaseInBatch { index, bad });
                }
            }
        }
        if nval != 0.0 {
            for c in 0..4 {
                item[c * len + seq.len()..(c + 1) * len].fill(nval);
            }
        }
    }
    Ok(out)
}

/// The reverse complement of `seq`, table-driven: case preserved, IUPAC codes complemented
/// (R<->Y, K<->M, B<->V, D<->H, S, W, N unchanged), `U` -> `A`; other bytes are kept as they are.
///
/// ```
/// use seqcnn::encode::reverse_complement;
/// assert_eq!(reverse_complement(b"AACGTn"), b"nACGTT");
/// assert_eq!(reverse_complement(b"GAUc"), b"gATC");
/// assert_eq!(reverse_complement(b"RYKM"), b"KMRY");
/// ```
pub fn reverse_complement(seq: &[u8]) -> Vec<u8> {
    seq.iter().rev().map(|&b| COMPLEMENT[b as usize]).collect()
}

/// A random permutation of `seq` with exactly the same dinucleotide counts (and so the same
/// first and last letter), drawn uniformly among all such sequences by the Altschul-Erickson
/// (1985) algorithm as in `ushuffle`/`fasta-shuffle-letters -kmer 2`: a random last-edge
/// arborescence (Wilson's loop-erased walk) rooted at the last letter, then the remaining edges
/// of each letter in random order, then the Eulerian walk from the first letter.
///
/// Works on the uppercased sequence and returns uppercase; every distinct byte is a letter of
/// the graph (so `N` runs are shuffled too, with their neighbours' counts kept).
///
/// ```
/// use seqcnn::{encode::dinucleotide_shuffle, rng};
/// let mut r = rng::seeded(7);
/// let s = dinucleotide_shuffle(b"acgtacgttgcaAACCGGTT", &mut r);
/// assert_eq!(s.len(), 20);
/// assert_eq!((s[0], s[19]), (b'A', b'T'));
/// ```
pub fn dinucleotide_shuffle(seq: &[u8], rng: &mut Rng) -> Vec<u8> {
    let s: Vec<u8> = seq.to_ascii_uppercase();
    let n = s.len();
    if n <= 2 {
        return s;
    }
    // Out-edges of each letter, as the list of following letters (in sequence order, so the
    // result depends only on the input and the generator).
    let mut edges: Vec<Vec<u8>> = vec![Vec::new(); 256];
    for w in s.windows(2) {
        edges[w[0] as usize].push(w[1]);
    }
    let first = s[0];
    let last = s[n - 1];

    // Random last-edge arborescence rooted at `last` (Wilson's algorithm): walk from each letter
    // choosing a random out-edge until the tree is hit; later choices overwrite loops.
    let mut in_tree = [false; 256];
    in_tree[last as usize] = true;
    let mut next_idx = [usize::MAX; 256];
    for u in 0..256usize {
        if edges[u].is_empty() {
            continue; // not a letter of the graph, or `last` occurring only at the end
        }
        let mut v = u;
        while !in_tree[v] {
            // Every letter other than `last` has an out-edge (each of its occurrences is
            // followed by a letter), so `edges[v]` is non-empty here.
            let j = rng::below(rng, edges[v].len());
            next_idx[v] = j;
            v = edges[v][j] as usize;
        }
        let mut v = u;
        while !in_tree[v] {
            in_tree[v] = true;
            v = edges[v][next_idx[v]] as usize;
        }
    }

    // Each letter's edges: the non-tree ones shuffled, the tree edge last.
    for (v, list) in edges.iter_mut().enumerate() {
        if list.is_empty() {
            continue;
        }
        if v == last as usize {
            rng::shuffle(rng, list);
        } else {
            let tree_edge = list.swap_remove(next_idx[v]);
            rng::shuffle(rng, list);
            list.push(tree_edge);
        }
    }

    // Eulerian walk from the first letter, taking each letter's edges in order.
    let mut pos = [0usize; 256];
    let mut out = Vec::with_capacity(n);
    out.push(first);
    let mut cur = first as usize;
    while out.len() < n {
        let Some(&to) = edges[cur].get(pos[cur]) else {
            // Cannot happen: the last-edge tree guarantees the walk uses every edge before it
            // stops. Return the input rather than a wrong-length sequence.
            debug_assert!(false, "dinucleotide shuffle walk stuck");
            return s;
        };
        pos[cur] += 1;
        out.push(to);
        cur = to as usize;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn dinucs(s: &[u8]) -> BTreeMap<[u8; 2], usize> {
        let mut m = BTreeMap::new();
        for w in s.windows(2) {
            *m.entry([w[0], w[1]]).or_default() += 1;
        }
        m
    }

    fn sorted(s: &[u8]) -> Vec<u8> {
        let mut v = s.to_vec();
        v.sort_unstable();
        v
    }

    #[test]
    fn table_covers_alphabet_case_and_iupac() {
        for (b, c) in [(b'A', 0), (b'C', 1), (b'G', 2), (b'T', 3), (b'U', 3)] {
            assert_eq!(CODE[b as usize], c);
            assert_eq!(CODE[b.to_ascii_lowercase() as usize], c);
        }
        for &b in b"RYSWKMBDHVNryswkmbdhvn" {
            assert_eq!(CODE[b as usize], AMBIG, "{}", b as char);
        }
        let valid = b"ACGTURYSWKMBDHVNacgturyswkmbdhvn";
        let n_invalid = (0..=255u8).filter(|b| !valid.contains(b)).count();
        assert_eq!(n_invalid, 256 - valid.len());
        for b in 0..=255u8 {
            assert_eq!(CODE[b as usize] == INVALID, !valid.contains(&b), "byte {b}");
        }
    }

    #[test]
    fn check_sequence_reports_first_bad_byte() {
        assert_eq!(check_sequence(b""), Ok(()));
        assert_eq!(
            check_sequence(b"ACGTACGTACGT7A*"),
            Err(BadBase {
                pos: 12,
                byte: b'7'
            })
        );
        let e = check_sequence(b"ACGTACGTACGT7").unwrap_err();
        assert_eq!(e.to_string(), "invalid character '7' at position 12");
        for bad in [b'-', b'*', b' ', b'\t', b'\r', b'.', b'X', b'E', b'0', 0xC3] {
            assert!(check_sequence(&[b'A', bad]).is_err(), "byte {bad}");
        }
        let e = check_sequence(b"AC GT").unwrap_err();
        assert_eq!(e.to_string(), "invalid character 0x20 at position 2");
    }

    #[test]
    fn encode_into_layout_is_channel_major() {
        // seq: A c G t U n R
        let seq = b"AcGtUnR";
        let l = seq.len();
        let mut out = vec![-1.0f32; 4 * l];
        encode_into(seq, NMode::Quarter, &mut out).unwrap();
        let expect: [[f32; 4]; 7] = [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, 0.0, 1.0],
            [0.25; 4],
            [0.25; 4],
        ];
        for i in 0..l {
            for c in 0..4 {
                assert_eq!(out[c * l + i], expect[i][c], "pos {i} channel {c}");
            }
        }
        encode_into(seq, NMode::Zero, &mut out).unwrap();
        assert_eq!((0..4).map(|c| out[c * l + 5]).sum::<f32>(), 0.0);
        assert_eq!((0..4).map(|c| out[c * l + 4]).sum::<f32>(), 1.0);
    }

    #[test]
    fn encode_into_errors() {
        let mut out = vec![0.0; 8];
        assert_eq!(
            encode_into(b"ACG", NMode::Quarter, &mut out),
            Err(EncodeError::BufferLength { len: 3, got: 8 })
        );
        assert_eq!(
            encode_into(b"A-", NMode::Quarter, &mut out),
            Err(EncodeError::BadBase(BadBase { pos: 1, byte: b'-' }))
        );
        let e: crate::Error = EncodeError::BufferLength { len: 3, got: 8 }.into();
        assert_eq!(
            e.to_string(),
            "encode: output buffer holds 8 values, a sequence of length 3 needs 12"
        );
        assert!(encode_into(b"", NMode::Quarter, &mut []).is_ok());
    }

    #[test]
    fn one_hot_matches_encode_into() {
        let seq = b"ACGTNacgtnWSKM";
        let x = one_hot(seq, NMode::Quarter).unwrap();
        let mut buf = vec![0.0; 4 * seq.len()];
        encode_into(seq, NMode::Quarter, &mut buf).unwrap();
        assert_eq!(x.as_slice().unwrap(), &buf[..]);
        assert_eq!(
            one_hot(b"AAZ", NMode::Quarter),
            Err(BadBase { pos: 2, byte: b'Z' })
        );
        assert_eq!(one_hot(b"", NMode::Quarter).unwrap().shape(), &[4, 0]);
    }

    #[test]
    fn encode_batch_pads_with_n_and_rejects_long() {
        let seqs: [&[u8]; 3] = [b"ACGT", b"gg", b""];
        let x = encode_batch(&seqs, 4, NMode::Quarter).unwrap();
        assert_eq!(x.shape(), &[3, 4, 4]);
        assert_eq!(
            x.slice(ndarray::s![0, .., ..]),
            one_hot(b"ACGT", NMode::Quarter).unwrap()
        );
        assert_eq!(
            x.slice(ndarray::s![1, .., ..]),
            one_hot(b"GGNN", NMode::Quarter).unwrap()
        );
        assert_eq!(
            x.slice(ndarray::s![2, .., ..]),
            one_hot(b"NNNN", NMode::Quarter).unwrap()
        );
        let z = encode_batch(&seqs, 4, NMode::Zero).unwrap();
        assert_eq!(
            z.slice(ndarray::s![1, .., ..]),
            one_hot(b"GGNN", NMode::Zero).unwrap()
        );
        assert_eq!(z.slice(ndarray::s![2, .., ..]).sum(), 0.0);

        let long: [&[u8]; 2] = [b"AC", b"ACGTA"];
        assert_eq!(
            encode_batch(&long, 4, NMode::Quarter),
            Err(EncodeError::TooLong {
                index: 1,
                len: 5,
                window: 4
            })
        );
        let bad: [&[u8]; 2] = [b"AC", b"A#"];
        let e = encode_batch(&bad, 4, NMode::Quarter).unwrap_err();
        assert_eq!(
            e.to_string(),
            "sequence 1 of the batch: invalid character '#' at position 1"
        );
        assert_eq!(
            encode_batch(&[], 4, NMode::Quarter).unwrap().shape(),
            &[0, 4, 4]
        );
        assert_eq!(
            encode_batch(&[b"".as_slice()], 0, NMode::Quarter)
                .unwrap()
                .shape(),
            &[1, 4, 0]
        );
        assert!(encode_batch(&[b"".as_slice(), b"A"], 0, NMode::Quarter).is_err());
    }

    #[test]
    fn reverse_complement_table() {
        assert_eq!(reverse_complement(b""), b"");
        assert_eq!(reverse_complement(b"ACGTURYSWKMBDHVN"), b"NBDHVKMWSRYAACGT");
        assert_eq!(reverse_complement(b"acgturyswkmbdhvn"), b"nbdhvkmwsryaacgt");
        // Involution on DNA + IUPAC (not on U, which becomes A -> T).
        let s = b"ACGTRYSWKMBDHVNacgtryswkmbdhvn";
        assert_eq!(reverse_complement(&reverse_complement(s)), s);
        // Other bytes kept.
        assert_eq!(reverse_complement(b"A-C*"), b"*G-T");
    }

    #[test]
    fn reverse_complement_of_encoding_is_flip_of_both_axes() {
        let s = b"ACGGTNAT";
        let x = one_hot(s, NMode::Quarter).unwrap();
        let rc = one_hot(&reverse_complement(s), NMode::Quarter).unwrap();
        assert_eq!(x.slice(ndarray::s![..;-1, ..;-1]), rc);
    }

    #[test]
    fn shuffle_keeps_dinucleotides_ends_and_is_deterministic() {
        let mut gen_rng = rng::seeded(1);
        let seq: Vec<u8> = (0..500)
            .map(|_| b"ACGT"[rng::below(&mut gen_rng, 4)])
            .collect();
        let mut r1 = rng::seeded(42);
        let a = dinucleotide_shuffle(&seq, &mut r1);
        assert_eq!(a.len(), seq.len());
        assert_eq!(sorted(&a), sorted(&seq));
        assert_eq!(dinucs(&a), dinucs(&seq));
        assert_eq!(a[0], seq[0]);
        assert_eq!(a[a.len() - 1], seq[seq.len() - 1]);
        assert_ne!(a, seq);
        let mut r2 = rng::seeded(42);
        assert_eq!(dinucleotide_shuffle(&seq, &mut r2), a);
        let mut r3 = rng::seeded(43);
        assert_ne!(dinucleotide_shuffle(&seq, &mut r3), a);
    }

    #[test]
    fn shuffle_uppercases_and_handles_edge_cases() {
        let mut r = rng::seeded(0);
        assert_eq!(dinucleotide_shuffle(b"", &mut r), b"");
        assert_eq!(dinucleotide_shuffle(b"a", &mut r), b"A");
        assert_eq!(dinucleotide_shuffle(b"ac", &mut r), b"AC");
        assert_eq!(dinucleotide_shuffle(b"AAAAA", &mut r), b"AAAAA");
        // Only one sequence has these dinucleotide counts.
        assert_eq!(dinucleotide_shuffle(b"ACGT", &mut r), b"ACGT");
        let s = b"acgtNNacgtTTGCAnacgu";
        let up = s.to_ascii_uppercase();
        for _ in 0..50 {
            let out = dinucleotide_shuffle(s, &mut r);
            assert_eq!(dinucs(&out), dinucs(&up));
        }
    }

    /// All distinct permutations of `s` with its dinucleotide counts, by exhaustive search: every
    /// start letter, then every letter whose dinucleotide with the previous one is still unused.
    fn all_with_same_dinucs(s: &[u8]) -> Vec<Vec<u8>> {
        fn rec(
            cur: &mut Vec<u8>,
            left: &mut BTreeMap<[u8; 2], usize>,
            n: usize,
            out: &mut Vec<Vec<u8>>,
        ) {
            if cur.len() == n {
                out.push(cur.clone());
                return;
            }
            let prev = cur[cur.len() - 1];
            let nexts: Vec<[u8; 2]> = left
                .iter()
                .filter(|(d, c)| d[0] == prev && **c > 0)
                .map(|(d, _)| *d)
                .collect();
            for d in nexts {
                *left.get_mut(&d).unwrap() -= 1;
                cur.push(d[1]);
                rec(cur, left, n, out);
                cur.pop();
                *left.get_mut(&d).unwrap() += 1;
            }
        }
        let mut letters = s.to_vec();
        letters.sort_unstable();
        letters.dedup();
        let mut out = Vec::new();
        for first in letters {
            rec(&mut vec![first], &mut dinucs(s), s.len(), &mut out);
        }
        // Same letters too (this is what fixes the first letter).
        out.retain(|v| sorted(v) == sorted(s));
        out
    }

    #[test]
    fn shuffle_is_uniform_over_sequences_with_same_dinucleotides() {
        // Checked to catch each of: the root's edges left unshuffled, the other letters' edges left
        // unshuffled, and tree edges drawn per distinct letter instead of per edge (chi2 in the
        // thousands or more, against a bound near 180).
        let s = b"AACCGGTTACGTCA";
        let all = all_with_same_dinucs(s);
        assert!(
            all.len() > 20,
            "fixture should have many shuffles, has {}",
            all.len()
        );
        let mut counts: BTreeMap<Vec<u8>, usize> = all.iter().map(|v| (v.clone(), 0)).collect();
        let mut r = rng::seeded(2024);
        let draws = 400 * all.len();
        for _ in 0..draws {
            let out = dinucleotide_shuffle(s, &mut r);
            *counts
                .get_mut(&out)
                .expect("shuffle produced a sequence outside the set") += 1;
        }
        // Pearson chi-square against uniform; df = k-1. Bound: df + 6*sqrt(2 df), far in the tail.
        let k = all.len() as f64;
        let e = draws as f64 / k;
        let chi2: f64 = counts.values().map(|&c| (c as f64 - e).powi(2) / e).sum();
        let df = k - 1.0;
        assert!(
            chi2 < df + 6.0 * (2.0 * df).sqrt(),
            "chi2 {chi2} with {} sequences",
            all.len()
        );
    }
}
