//! Seqlet similarity and clustering.
//!
//! Two seqlets are compared as TF-MoDISco compares them: each is its hypothetical and its actual
//! contributions, each track scaled to a sum of |values| of 1 and the two side by side (8
//! channels a position); one is slid along the other, zero-padded so that at least 70% of it
//! overlaps, on both strands, and each placement scored by the continuous Jaccard similarity
//! `sum(min(|x|, |y|) sign(x) sign(y)) / sum(max(|x|, |y|))`. The best placement is the pair's
//! similarity (and says how to align them).
//!
//! Clustering keeps each seqlet's nearest neighbours by that similarity, symmetrises the graph
//! and finds its communities by Louvain modularity optimisation (nodes visited in order, ties to
//! the lower community), where TF-MoDISco runs Leiden over a density-adapted graph: both find
//! groups denser than chance without a cluster count or a similarity cut-off.

use rayon::prelude::*;

/// Channels of a seqlet's comparison data: 4 hypothetical, 4 actual.
pub const CH: usize = 8;

/// A seqlet (or a motif's aggregate) ready to compare: `len` positions of [`CH`] channels, both
/// strands.
#[derive(Clone, Debug)]
pub struct Snippet {
    /// Positions.
    pub len: usize,
    /// Forward strand, position-major.
    pub fwd: Vec<f32>,
    /// Reverse complement, position-major.
    pub rev: Vec<f32>,
}

impl Snippet {
    /// Comparison data of hypothetical and actual contributions (`len` x 4 each,
    /// position-major, A C G T), each track scaled to a sum of |values| of 1.
    pub fn new(hyp: &[f32], actual: &[f32]) -> Snippet {
        let len = hyp.len() / 4;
        let scale = |t: &[f32]| {
            let s: f64 = t.iter().map(|v| v.abs() as f64).sum();
            if s > 0.0 { (1.0 / s) as f32 } else { 1.0 }
        };
        let (sh, sa) = (scale(hyp), scale(actual));
        let mut fwd = vec![0.0f32; len * CH];
        for p in 0..len {
            for b in 0..4 {
                fwd[p * CH + b] = hyp[p * 4 + b] * sh;
                fwd[p * CH + 4 + b] = actual[p * 4 + b] * sa;
            }
        }
        let mut rev = vec![0.0f32; len * CH];
        for p in 0..len {
            for b in 0..4 {
                rev[p * CH + b] = fwd[(len - 1 - p) * CH + 3 - b];
                rev[p * CH + 4 + b] = fwd[(len - 1 - p) * CH + 4 + 3 - b];
            }
        }
        Snippet { len, fwd, rev }
    }
}

/// The best placement of one snippet against another.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Continuous Jaccard similarity.
    pub similarity: f32,
    /// Position of `x`'s first column on `y` (negative: before `y` starts).
    pub offset: isize,
    /// `x` is taken reverse-complemented.
    pub reverse: bool,
}

/// The two sums of the continuous Jaccard similarity of equal-length `a` and `b`:
/// `sum(min(|a|, |b|) sign(a) sign(b))` and `sum(max(|a|, |b|))`.
pub fn min_max_sums(a: &[f32], b: &[f32]) -> (f32, f32) {
    // Eight lanes, one per channel, so the loop runs as SIMD.
    let (mut mins, mut maxs) = ([0.0f32; CH], [0.0f32; CH]);
    for (p, q) in a.chunks_exact(CH).zip(b.chunks_exact(CH)) {
        for k in 0..CH {
            let (ap, aq) = (p[k].abs(), q[k].abs());
            mins[k] += ap.min(aq).copysign(p[k] * q[k]);
            maxs[k] += ap.max(aq);
        }
    }
    (mins.iter().sum(), maxs.iter().sum())
}

/// Continuous Jaccard similarity of `x` (its whole length) placed at `offset` on `y`; `y` is
/// zero outside itself.
fn jaccard_at(x: &[f32], y: &[f32], offset: isize) -> f32 {
    let (xl, yl) = ((x.len() / CH) as isize, (y.len() / CH) as isize);
    let lo = offset.max(0);
    let hi = (offset + xl).min(yl);
    let (mut min_sum, mut max_sum) = (0.0f32, 0.0f32);
    // x's columns off y: compared with zeros.
    let x_abs = |r: std::ops::Range<isize>| -> f32 {
        if r.start >= r.end {
            return 0.0;
        }
        x[(r.start * CH as isize) as usize..(r.end * CH as isize) as usize]
            .iter()
            .map(|v| v.abs())
            .sum()
    };
    max_sum += x_abs(0..(lo - offset).min(xl));
    max_sum += x_abs((hi - offset).max(0)..xl);
    if lo < hi {
        let xs = &x[((lo - offset) as usize) * CH..((hi - offset) as usize) * CH];
        let ys = &y[lo as usize * CH..hi as usize * CH];
        let (mins, maxs) = min_max_sums(xs, ys);
        min_sum += mins;
        max_sum += maxs;
    }
    if max_sum > 0.0 {
        min_sum / max_sum
    } else {
        0.0
    }
}

/// The best placement of `x` on `y` over both strands of `x` and every offset that keeps at
/// least `min_overlap` of `x` on `y` (TF-MoDISco: 0.7, and its padding rounds down).
pub fn best_placement(x: &Snippet, y: &Snippet, min_overlap: f64) -> Placement {
    let pad = (x.len as f64 * (1.0 - min_overlap)) as isize;
    let (xl, yl) = (x.len as isize, y.len as isize);
    let mut best = Placement {
        similarity: f32::NEG_INFINITY,
        offset: 0,
        reverse: false,
    };
    for reverse in [false, true] {
        let data = if reverse { &x.rev } else { &x.fwd };
        for offset in -pad..=(yl - xl + pad) {
            let s = jaccard_at(data, &y.fwd, offset);
            if s > best.similarity {
                best = Placement {
                    similarity: s,
                    offset,
                    reverse,
                };
            }
        }
    }
    best
}

/// Candidates per seqlet for the fine similarity when there are more seqlets than this
/// (TF-MoDISco's `nearest_neighbors_to_compute`).
pub const CANDIDATES: usize = 500;

/// Length of the k-mers of the coarse similarity.
const KMER: usize = 4;

/// A snippet's coarse embedding, which needs no alignment: for every k-mer of its sequence
/// (the base of largest |actual contribution| at each position), counted with its reverse
/// complement as one, the summed actual contribution over the k-mer's positions; unit length.
fn embedding(s: &Snippet) -> Vec<f32> {
    let mut v = vec![0.0f32; 1 << (2 * KMER)];
    let base = |p: usize| -> (usize, f32) {
        let c = &s.fwd[p * CH + 4..p * CH + 8];
        let b = (0..4).fold(0, |m, b| if c[b].abs() > c[m].abs() { b } else { m });
        (b, c.iter().sum())
    };
    let cols: Vec<(usize, f32)> = (0..s.len).map(base).collect();
    for w in cols.windows(KMER) {
        let (mut fwd, mut rev, mut weight) = (0usize, 0usize, 0.0f32);
        for (i, &(b, c)) in w.iter().enumerate() {
            fwd = fwd * 4 + b;
            rev += (3 - b) << (2 * i);
            weight += c;
        }
        v[fwd.min(rev)] += weight;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Each snippet's `k` most similar others (similarity above 0), most similar first: the
/// similarity of `i` and `j` is the best placement of the later on the earlier. With more than
/// [`CANDIDATES`] others, only each one's [`CANDIDATES`] nearest by the cosine of their coarse
/// embeddings are compared (as TF-MoDISco compares only the nearest by gapped k-mers).
pub fn neighbours(snips: &[Snippet], k: usize, min_overlap: f64) -> Vec<Vec<(usize, f32)>> {
    let n = snips.len();
    let keep = |mut row: Vec<(usize, f32)>| {
        row.retain(|&(_, s)| s > 0.0);
        row.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        row.truncate(k);
        row
    };
    // Rows in parallel; the result does not depend on the thread count.
    if n <= CANDIDATES + 1 {
        // Every pair, each once (the later slid on the earlier).
        let upper: Vec<Vec<f32>> = (0..n)
            .into_par_iter()
            .map(|i| {
                (i + 1..n)
                    .map(|j| best_placement(&snips[j], &snips[i], min_overlap).similarity)
                    .collect()
            })
            .collect();
        let sim = |i: usize, j: usize| {
            let (a, b) = if i < j { (i, j) } else { (j, i) };
            upper[a][b - a - 1]
        };
        return (0..n)
            .map(|i| keep((0..n).filter(|&j| j != i).map(|j| (j, sim(i, j))).collect()))
            .collect();
    }
    coarse_candidates(snips, CANDIDATES)
        .into_par_iter()
        .enumerate()
        .map(|(i, cands)| {
            keep(
                cands
                    .into_iter()
                    .map(|j| {
                        (
                            j,
                            best_placement(&snips[j], &snips[i], min_overlap).similarity,
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

/// Each snippet's `m` nearest others by the cosine of their coarse embeddings, nearest first.
fn coarse_candidates(snips: &[Snippet], m: usize) -> Vec<Vec<usize>> {
    let n = snips.len();
    let emb: Vec<Vec<f32>> = snips.par_iter().map(embedding).collect();
    (0..n)
        .into_par_iter()
        .map(|i| {
            let mut by: Vec<(usize, f32)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (j, emb[i].iter().zip(&emb[j]).map(|(a, b)| a * b).sum()))
                .collect();
            by.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            by.truncate(m);
            by.into_iter().map(|(j, _)| j).collect()
        })
        .collect()
}

/// Communities of the undirected weighted graph `adj` (each edge listed from both ends) by
/// Louvain modularity optimisation, numbered from 0 by their first node.
pub fn louvain(adj: &[Vec<(usize, f64)>]) -> Vec<usize> {
    let n = adj.len();
    let mut membership: Vec<usize> = (0..n).collect();
    let mut graph: Vec<Vec<(usize, f64)>> = adj.to_vec();
    loop {
        let (part, moved) = one_level(&graph);
        if !moved {
            break;
        }
        let groups = renumber(&part);
        for m in membership.iter_mut() {
            *m = groups[part[*m]];
        }
        let count = groups.iter().filter(|&&g| g != usize::MAX).count();
        let mut next: Vec<std::collections::BTreeMap<usize, f64>> = vec![Default::default(); count];
        for (u, edges) in graph.iter().enumerate() {
            for &(v, w) in edges {
                *next[groups[part[u]]].entry(groups[part[v]]).or_insert(0.0) += w;
            }
        }
        graph = next.into_iter().map(|m| m.into_iter().collect()).collect();
        if count == graph.len() && count == n {
            break;
        }
    }
    let groups = renumber(&membership);
    membership.iter().map(|&m| groups[m]).collect()
}

/// Labels renumbered 0.. in order of first appearance, indexed by the old label.
fn renumber(labels: &[usize]) -> Vec<usize> {
    let max = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut map = vec![usize::MAX; max];
    let mut next = 0;
    for &l in labels {
        if map[l] == usize::MAX {
            map[l] = next;
            next += 1;
        }
    }
    map
}

/// One level of Louvain: local moves until none improves modularity. Returns each node's
/// community and whether any node moved.
fn one_level(graph: &[Vec<(usize, f64)>]) -> (Vec<usize>, bool) {
    let n = graph.len();
    let degree: Vec<f64> = graph.iter().map(|e| e.iter().map(|x| x.1).sum()).collect();
    let m2: f64 = degree.iter().sum();
    let mut comm: Vec<usize> = (0..n).collect();
    let mut total: Vec<f64> = degree.clone();
    if m2 <= 0.0 {
        return (comm, false);
    }
    let mut any = false;
    let mut links = vec![0.0f64; n];
    let mut touched: Vec<usize> = Vec::new();
    for _pass in 0..100 {
        let mut moved = false;
        for u in 0..n {
            let cu = comm[u];
            for &c in &touched {
                links[c] = 0.0;
            }
            touched.clear();
            for &(v, w) in &graph[u] {
                if v == u {
                    continue;
                }
                let c = comm[v];
                if links[c] == 0.0 {
                    touched.push(c);
                }
                links[c] += w;
            }
            total[cu] -= degree[u];
            let gain = |c: usize, l: f64| l - total[c] * degree[u] / m2;
            let mut best = (cu, gain(cu, links[cu]));
            touched.sort_unstable();
            for &c in &touched {
                let g = gain(c, links[c]);
                if g > best.1 + 1e-12 {
                    best = (c, g);
                }
            }
            total[best.0] += degree[u];
            if best.0 != cu {
                comm[u] = best.0;
                moved = true;
                any = true;
            }
        }
        if !moved {
            break;
        }
    }
    (comm, any)
}

/// Clusters of snippets: each one's `k` nearest neighbours, symmetrised (the mean of the two
/// directions' similarities), cut into Louvain communities. Returns each snippet's cluster,
/// numbered from 0 by first member.
pub fn cluster(snips: &[Snippet], k: usize, min_overlap: f64) -> Vec<usize> {
    let nn = neighbours(snips, k, min_overlap);
    let n = snips.len();
    let mut adj: Vec<std::collections::BTreeMap<usize, f64>> = vec![Default::default(); n];
    for (i, row) in nn.iter().enumerate() {
        for &(j, s) in row {
            *adj[i].entry(j).or_insert(0.0) += s as f64 / 2.0;
            *adj[j].entry(i).or_insert(0.0) += s as f64 / 2.0;
        }
    }
    let adj: Vec<Vec<(usize, f64)>> = adj.into_iter().map(|m| m.into_iter().collect()).collect();
    louvain(&adj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snip(seq: &str, weight: f32) -> Snippet {
        let mut hyp = vec![0.0f32; seq.len() * 4];
        let mut act = vec![0.0f32; seq.len() * 4];
        for (p, c) in seq.bytes().enumerate() {
            let b = match c {
                b'A' => 0,
                b'C' => 1,
                b'G' => 2,
                _ => 3,
            };
            hyp[p * 4 + b] = weight;
            act[p * 4 + b] = weight;
        }
        Snippet::new(&hyp, &act)
    }

    #[test]
    fn a_shifted_reverse_complement_is_found() {
        let y = snip("CCCCAGGGCCCTTTCCCCCC", 1.0);
        // "AAAGGGCCCT" reverse-complemented is "AGGGCCCTTT", at offset 4 of y.
        let x = snip("AAAGGGCCCT", 1.0);
        let p = best_placement(&x, &y, 0.7);
        assert!(p.reverse, "{p:?}");
        assert_eq!(p.offset, 4, "{p:?}");
        assert!((p.similarity - 1.0 / 2.0).abs() < 1e-6, "{p:?}");
        // A snippet is its own best match at offset 0 with similarity 1.
        let q = best_placement(&y, &y, 0.7);
        assert_eq!((q.offset, q.reverse), (0, false));
        assert!((q.similarity - 1.0).abs() < 1e-6);
    }

    #[test]
    fn louvain_splits_two_cliques_joined_by_a_weak_edge() {
        let mut adj: Vec<Vec<(usize, f64)>> = vec![Vec::new(); 8];
        let mut add = |a: usize, b: usize, w: f64| {
            adj[a].push((b, w));
            adj[b].push((a, w));
        };
        for a in 0..4 {
            for b in a + 1..4 {
                add(a, b, 1.0);
                add(a + 4, b + 4, 1.0);
            }
        }
        add(3, 4, 0.1);
        let c = louvain(&adj);
        assert_eq!(c, [0, 0, 0, 0, 1, 1, 1, 1]);
    }

    /// Past [`CANDIDATES`] + 1 seqlets only coarse candidates are compared: two planted
    /// motifs (either strand, anywhere) among 600 seqlets still find their own kind first.
    #[test]
    fn coarse_candidates_keep_each_motif_with_its_kind() {
        let mut r = crate::rng::seeded(4);
        let motifs = ["GATTACAGAT", "CCGCGGTCCG"];
        let comp = |c: u8| match c {
            b'A' => b'T',
            b'C' => b'G',
            b'G' => b'C',
            _ => b'A',
        };
        let mut group = Vec::new();
        let snips: Vec<Snippet> = (0..600)
            .map(|i| {
                let g = i % 2;
                group.push(g);
                let mut seq: Vec<u8> = (0..30)
                    .map(|_| b"ACGT"[crate::rng::below(&mut r, 4)])
                    .collect();
                let at = crate::rng::below(&mut r, 15);
                let m: Vec<u8> = if crate::rng::below(&mut r, 2) == 0 {
                    motifs[g].bytes().collect()
                } else {
                    motifs[g].bytes().rev().map(comp).collect()
                };
                seq[at..at + 10].copy_from_slice(&m);
                let mut hyp = vec![0.0f32; 30 * 4];
                for (p, &c) in seq.iter().enumerate() {
                    let b = b"ACGT".iter().position(|&x| x == c).unwrap();
                    hyp[p * 4 + b] = if (at..at + 10).contains(&p) {
                        1.0
                    } else {
                        0.05
                    };
                }
                Snippet::new(&hyp, &hyp)
            })
            .collect();
        // The coarse similarity alone ranks a seqlet's own kind first: its 299 others are nearly
        // all among its 300 nearest (by chance, half would be).
        let cands = coarse_candidates(&snips, 300);
        let close: usize = cands
            .iter()
            .enumerate()
            .map(|(i, c)| c.iter().filter(|&&j| group[j] == group[i]).count())
            .sum();
        assert!(close as f64 >= 0.95 * (600 * 299) as f64, "{close}");
        let nn = neighbours(&snips, 20, 0.7);
        let own: usize = nn
            .iter()
            .enumerate()
            .map(|(i, row)| row.iter().filter(|(j, _)| group[*j] == group[i]).count())
            .sum();
        let all: usize = nn.iter().map(|row| row.len()).sum();
        assert_eq!(all, 600 * 20);
        assert!(own as f64 >= 0.99 * all as f64, "{own} of {all}");
    }
}
