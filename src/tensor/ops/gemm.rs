//! The one matrix-product kernel: single-precision GEMM over strided slices, on the `gemm` crate.
//!
//! Every matrix product in seqcnn (linear layers, im2col convolutions and their backward passes)
//! goes through [`sgemm`] or [`sgemm_par`]. Convolutions call [`sgemm`], single-threaded
//! (`Parallelism::None`), from rayon tasks over groups of samples: their GEMMs are many and
//! middle-sized, and splitting the batch keeps both threads busy through the unfolding and the
//! epilogues too. Dense layers call [`sgemm_par`], which splits one large product over the rayon
//! pool's threads (the same pool, no second one): DeepSEA's dense layer is one 6 GFLOP product
//! per pass that nothing else can run beside. The output is split among threads and never the
//! inner dimension, so each output element is summed in the same order whatever the thread
//! count (tested below).

/// A strided matrix view over a slice: element `(i, j)` is at `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `[rows, cols]` matrix.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major `[rows, cols]` matrix, seen as `[cols, rows]`.
    pub fn rows_t(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: 1,
            cs: cols,
        }
    }

    fn span(&self, r: usize, c: usize) -> usize {
        if r == 0 || c == 0 {
            0
        } else {
            (r - 1) * self.rs + (c - 1) * self.cs + 1
        }
    }
}

/// `c[m, n] = a[m, k] @ b[k, n]` (or `+=` when `accumulate`); `c` is row-major with `n` columns.
///
/// Shapes are checked by the callers (they come from validated layer shapes); a mismatch here is
/// a bug in seqcnn, so it panics rather than read out of bounds.
pub fn sgemm(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: &mut [f32], accumulate: bool) {
    gemm_with(m, n, k, a, b, c, accumulate, gemm::Parallelism::None);
}

/// Products of at least this many multiply-adds are split over threads by [`sgemm_par`]; below it
/// the split costs more than it saves.
const PAR_MIN_MACS: usize = 1 << 22;

/// Products with at most this many rows (a batch of samples times a weight matrix: a dense
/// layer's forward pass) can be split as [`sgemm_par`] describes.
const SHORT_ROWS: usize = 128;

/// Column pieces of a split short product: fixed, so that the pieces, and so every output's
/// arithmetic, do not depend on the thread count; four keep one, two or four threads equally busy.
const PIECES: usize = 4;

/// [`sgemm`] split over the current rayon pool's threads when the product is large.
///
/// Short, deep products (at most [`SHORT_ROWS`] rows and an inner dimension longer than the
/// output is wide: DeepSEA's dense layer is `[64, 50880] @ [50880, 925]`) are computed as their
/// transpose, `c^T = b^T a^T` (only strides change), in [`PIECES`]
/// column pieces, one single-threaded GEMM each: the long side then runs along the kernel's 16
/// rows. Measured on that layer, 2 threads: 40-44 ms against 48-50 ms for the `gemm` crate's own
/// split of the product as given; its input gradient (`[64, 925] @ [925, 50880]`) was slower so
/// split, and keeps the crate's split, as do other large products.
pub fn sgemm_par(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: &mut [f32], accumulate: bool) {
    let large = m.saturating_mul(n).saturating_mul(k) >= PAR_MIN_MACS;
    if large && m <= SHORT_ROWS && k > n && n >= PIECES * 16 {
        assert!(a.span(m, k) <= a.data.len(), "sgemm: lhs out of bounds");
        assert!(b.span(k, n) <= b.data.len(), "sgemm: rhs out of bounds");
        assert!(m * n <= c.len(), "sgemm: dst out of bounds");
        use rayon::prelude::*;
        let pieces: Vec<Vec<f32>> = (0..PIECES)
            .into_par_iter()
            .map(|p| {
                let (lo, hi) = (n * p / PIECES, n * (p + 1) / PIECES);
                // The piece's c^T, row-major [hi - lo, m] (a strided destination is slower).
                let mut d = vec![0.0f32; (hi - lo) * m];
                if accumulate {
                    for (j, row) in d.chunks_exact_mut(m).enumerate() {
                        for (i, v) in row.iter_mut().enumerate() {
                            *v = c[i * n + lo + j];
                        }
                    }
                }
                // SAFETY: the asserts above bound every index read: rows lo..hi of b^T are
                // columns lo..hi of b; `d` has (hi - lo) * m elements.
                unsafe {
                    gemm::gemm(
                        hi - lo,
                        m,
                        k,
                        d.as_mut_ptr(),
                        1,
                        m as isize,
                        accumulate,
                        b.data.as_ptr().add(lo * b.cs),
                        b.rs as isize,
                        b.cs as isize,
                        a.data.as_ptr(),
                        a.rs as isize,
                        a.cs as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                d
            })
            .collect();
        for (p, d) in pieces.iter().enumerate() {
            let lo = n * p / PIECES;
            for (j, row) in d.chunks_exact(m).enumerate() {
                for (i, &v) in row.iter().enumerate() {
                    c[i * n + lo + j] = v;
                }
            }
        }
        return;
    }
    let threads = rayon::current_num_threads();
    let par = if threads > 1 && large {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    gemm_with(m, n, k, a, b, c, accumulate, par);
}

#[allow(clippy::too_many_arguments)]
fn gemm_with(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    b: Mat,
    c: &mut [f32],
    accumulate: bool,
    par: gemm::Parallelism,
) {
    assert!(a.span(m, k) <= a.data.len(), "sgemm: lhs out of bounds");
    assert!(b.span(k, n) <= b.data.len(), "sgemm: rhs out of bounds");
    assert!(m * n <= c.len(), "sgemm: dst out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    // SAFETY: the three asserts above bound every index the kernel reads or writes.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: Mat, b: Mat) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += (a.data[i * a.rs + p * a.cs] * b.data[p * b.rs + j * b.cs]) as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    /// Runs `f` on a rayon pool of `threads` workers.
    fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    #[test]
    fn split_products_are_bit_identical_whatever_the_thread_count() {
        // Large enough to be split (and with edges that are not multiples of the tile sizes).
        let (m, n, k) = (67, 301, 517);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        let run = |threads: usize, split: bool| {
            in_pool(threads, || {
                let mut c = vec![0.5f32; m * n];
                let (am, bm) = (Mat::rows(&a, k), Mat::rows_t(&b, k));
                if split {
                    sgemm_par(m, n, k, am, bm, &mut c, true);
                } else {
                    sgemm(m, n, k, am, bm, &mut c, true);
                }
                c.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
            })
        };
        assert!(m * n * k >= PAR_MIN_MACS, "too small to be split");
        assert!(m <= SHORT_ROWS, "a short product (split as its transpose)");
        let one = run(1, false);
        assert_eq!(one, run(1, true));
        assert_eq!(one, run(2, true));
        assert_eq!(one, run(3, true));
    }

    #[test]
    fn tall_split_products_are_bit_identical_whatever_the_thread_count() {
        // More rows than SHORT_ROWS: the gemm crate's own split.
        let (m, n, k) = (301, 67, 517);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        let run = |threads: usize| {
            in_pool(threads, || {
                let mut c = vec![0.5f32; m * n];
                sgemm_par(m, n, k, Mat::rows(&a, k), Mat::rows(&b, n), &mut c, true);
                c.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
            })
        };
        let mut c = vec![0.5f32; m * n];
        sgemm(m, n, k, Mat::rows(&a, k), Mat::rows(&b, n), &mut c, true);
        let want: Vec<u32> = c.iter().map(|v| v.to_bits()).collect();
        assert_eq!(want, run(1));
        assert_eq!(want, run(2));
    }

    #[test]
    fn short_split_product_matches_naive() {
        let (m, n, k) = (9, 700, 800);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        let (am, bm) = (Mat::rows(&a, k), Mat::rows(&b, n));
        let want = naive(m, n, k, am, bm);
        let mut c = vec![0.0f32; m * n];
        sgemm_par(m, n, k, am, bm, &mut c, false);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() < 1e-3, "{x} vs {y}");
        }
    }

    #[test]
    fn sgemm_matches_naive_with_transposes_and_accumulate() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        for (am, bm) in [
            (Mat::rows(&a, k), Mat::rows(&b, n)),
            (Mat::rows_t(&a, m), Mat::rows_t(&b, k)),
        ] {
            let want = naive(m, n, k, am, bm);
            let mut c = vec![1.0; m * n];
            sgemm(m, n, k, am, bm, &mut c, false);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-5);
            }
            sgemm(m, n, k, am, bm, &mut c, true);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - 2.0 * y).abs() < 1e-5);
            }
        }
    }
}
