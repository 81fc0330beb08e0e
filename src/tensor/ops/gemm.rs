//! The one matrix-product kernel: single-precision GEMM over strided slices, on the `gemm` crate.
//!
//! Every matrix product in seqcnn (linear layers, im2col convolutions and their backward passes)
//! goes through [`sgemm`] or [`sgemm_par`]. Convolutions call [`sgemm`], single-threaded
//! (`Parallelism::None`), from rayon tasks over groups of samples: their GEMMs are many and
//! middle-sized, and splitting the batch keeps both threads busy through the unfolding and the
//! epilogues too. Dense layers call [`sgemm_par`], which splits one large product over the rayon
//! pool's threads (`Parallelism::Rayon`, the same pool, no second one): DeepSEA's dense layer is
//! one 6 GFLOP product per pass that nothing else can run beside. The `gemm` crate splits the
//! output among threads and never the inner dimension, so each output element is summed in the
//! same order whatever the thread count (tested below).

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

/// [`sgemm`] split over the current rayon pool's threads when the product is large.
pub fn sgemm_par(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: &mut [f32], accumulate: bool) {
    let threads = rayon::current_num_threads();
    let par = if threads > 1 && m.saturating_mul(n).saturating_mul(k) >= PAR_MIN_MACS {
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

    #[test]
    fn split_products_are_bit_identical_whatever_the_thread_count() {
        // Large enough to be split (and with edges that are not multiples of the tile sizes).
        let (m, n, k) = (67, 301, 517);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        let run = |threads: usize, split: bool| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
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
        let one = run(1, false);
        assert_eq!(one, run(2, true));
        assert_eq!(one, run(3, true));
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
