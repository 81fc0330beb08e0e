//! DeepBind's first stage scanned over every window of a sequence at once: an unpadded
//! convolution over the four bases, ReLU, then global max (or max and mean) pooling, for every
//! `w`-bp window, each window read with `k - 1` N's (0.25 in every channel) on both sides; and
//! the layers after pooling ([`Head`]) on each window's pooled features. The input is base codes
//! ([`crate::encode::push_codes`]: A, C, G, T = 0..=3, anything else reads as N).
//!
//! Per detector, a placement's value is `base + sum of (tap on base - tap on N)` over the taps
//! that fall inside its window, where `base` is the bias plus every tap reading N. A window of
//! `w >= k` bp has `w + k - 1` placements: `w - k + 1` whole ones (the plain convolution, shared
//! by the windows that contain them) and `k - 1` cut on each side. The placement starting at
//! sequence position `a` cut to its taps from `s` on (its first `s` taps fall before the window)
//! belongs to exactly one window, the one starting at `a + s`; the one cut to its taps before
//! `t`, to the window ending at `a + t - 1`. Running sums along each placement give all of them:
//! taps added from the last one down give the left-cut sums, from the first one up the
//! right-cut sums and then the whole convolution. Going along the sequence position by position,
//! the `k` placements a position falls in each take one tap of it (one row of a per-base table),
//! and the window starting (or ending) there takes the `k - 1` new sums into its maximum and,
//! for mean pooling, its sum of ReLUs: one add and one max per value.
//!
//! The sums are exact: each detector's table is in fixed point (an `i32` multiple of a power of
//! two chosen so that no sum of its taps plus the base can overflow), so every value is its
//! taps' exact sum up to rounding the table once (about 1e-8 for the published models' weights),
//! whatever the order or the cancellation between taps and base; maxima are taken on the
//! integers, and each window's values become f32 once. Detectors sit in the lanes of four AVX2
//! registers at most; models scoring both strands scan the reverse complement of each filter as
//! a detector of its own (a window's reverse strand through filter `f` is the window through
//! filter `rc(f)`, the placements in reverse order).
//!
//! Windows shorter than the filter (sequences shorter than `k`) are summed placement by
//! placement.

/// Detectors padded to a multiple of this (one AVX2 register of 32-bit lanes).
const LANES: usize = 8;

/// Detectors scanned together: the lanes of four AVX2 registers.
const BLOCK: usize = 32;

/// Code of a base that reads as N (0.25 in every channel); codes `0..=3` are A, C, G, T, and
/// every code above 3 reads as N.
pub const N_CODE: u8 = 4;

/// Table rows per tap: the four bases, then N (zeros).
const BASES: usize = 5;

/// The largest magnitude of a detector's sums in fixed point: 2^30, half of `i32`'s range.
const RANGE: f64 = (1u64 << 30) as f64;

/// The scan of one convolution's detectors (and, for both strands, their reverse complements).
#[derive(Clone, Debug)]
pub struct Scan {
    k: usize,
    avg: bool,
    /// Filters per strand, and strands (1, or 2 with the reverse complements).
    out: usize,
    strands: usize,
    /// Blocks of detectors: (first detector, lanes, offset of the block's table).
    blocks: Vec<(usize, usize, usize)>,
    /// Per block, where its lanes go in a window's features.
    runs: Vec<Runs>,
    /// shape: per block, [5][k][lanes] (base A, C, G, T, N; tap; detector): the tap on the base
    /// minus the tap on N, in units of the detector's `unit` (0 for N and for padding lanes).
    table: Vec<i32>,
    /// shape: [detectors padded to LANES]: the bias plus every tap reading N, in units.
    base: Vec<i32>,
    /// shape: [detectors padded to LANES]: the detector's fixed-point unit, a power of two.
    unit: Vec<f32>,
}

/// Buffers of [`Scan::features`], kept by the caller across calls.
#[derive(Default)]
pub struct ScanWork {
    acc: Vec<i32>,
    best: Vec<i32>,
    sum: Vec<f32>,
    feats: Vec<f32>,
}

impl Scan {
    /// The scan of a convolution with `weight` `[out, 4, k]` (row-major, PyTorch's layout) and
    /// `bias` `[out]`, then global max pooling, or with `avg` max and mean pooling; with
    /// `both_strands` the reverse complement of each filter is scanned too.
    pub fn new(
        weight: &[f32],
        bias: Option<&[f32]>,
        out: usize,
        k: usize,
        avg: bool,
        both_strands: bool,
    ) -> Self {
        let strands = if both_strands { 2 } else { 1 };
        let detectors = strands * out;
        // Detector `o` of strand 1 reads filter `o` reversed and complemented (base c at tap j
        // is base 3 - c at tap k - 1 - j).
        let tap = |o: usize, c: usize, j: usize| -> f64 {
            let (f, c, j) = if o < out {
                (o, c, j)
            } else {
                (o - out, 3 - c, k - 1 - j)
            };
            weight[(f * 4 + c) * k + j] as f64
        };
        let n_tap = |o: usize, j: usize| 0.25 * (0..4).map(|c| tap(o, c, j)).sum::<f64>();
        let padded = detectors.div_ceil(LANES) * LANES;
        let mut base_f = vec![0f64; padded];
        let mut unit = vec![1f32; padded];
        for o in 0..detectors {
            let bias = bias.map_or(0.0, |b| b[o % out] as f64);
            base_f[o] = bias + (0..k).map(|j| n_tap(o, j)).sum::<f64>();
            // Every sum of taps (plus the base) is at most this in magnitude.
            let bound: f64 = base_f[o].abs()
                + (0..k)
                    .map(|j| {
                        (0..4)
                            .map(|c| (tap(o, c, j) - n_tap(o, j)).abs())
                            .fold(0.0, f64::max)
                    })
                    .sum::<f64>();
            // The largest power of two that keeps it within RANGE (the unit's exponent stays
            // within f32's normal range).
            let e = if bound > 0.0 {
                (RANGE / bound).log2().floor().clamp(-100.0, 100.0) as i32
            } else {
                0
            };
            unit[o] = (2f64).powi(-e) as f32;
        }
        let fixed = |o: usize, v: f64| -> i32 { (v / unit[o] as f64).round() as i32 };
        let base = (0..padded).map(|o| fixed(o, base_f[o])).collect();
        let mut blocks = Vec::new();
        let mut table = Vec::new();
        let mut first = 0;
        while first < padded {
            let lanes = BLOCK.min(padded - first);
            let at = table.len();
            table.resize(at + BASES * k * lanes, 0);
            for c in 0..4 {
                for j in 0..k {
                    let row = &mut table[at + (c * k + j) * lanes..][..lanes];
                    for (l, v) in row.iter_mut().enumerate() {
                        let o = first + l;
                        if o < detectors {
                            *v = fixed(o, tap(o, c, j) - n_tap(o, j));
                        }
                    }
                }
            }
            blocks.push((first, lanes, at));
            first += lanes;
        }
        let f = if avg { 2 * out } else { out };
        let runs = blocks
            .iter()
            .map(|&(first, lanes, _)| runs(first, lanes, detectors, out, f))
            .collect();
        Scan {
            k,
            avg,
            out,
            strands,
            blocks,
            runs,
            table,
            base,
            unit,
        }
    }

    /// Pooled features per window and strand: `out`, or `2 * out` with mean pooling.
    pub fn n_features(&self) -> usize {
        if self.avg { 2 * self.out } else { self.out }
    }

    /// Strands scanned: 1, or 2 with the reverse complements.
    pub fn strands(&self) -> usize {
        self.strands
    }

    /// Pooled features `[windows][strands][features]` of every `w`-bp window of the base codes
    /// `codes`, in order (in `work`): each strand's detectors' maxima, then
    /// with mean pooling their means (not interleaved as `global_max_avg_pool`'s). Strand 1 is
    /// each window's reverse complement. Needs `1 <= w <= codes.len()`, or `w == 0` for an
    /// empty `codes` (one window, nothing but padding).
    pub fn features<'w>(&self, codes: &[u8], w: usize, work: &'w mut ScanWork) -> &'w [f32] {
        let len = codes.len();
        let windows = len + 1 - w;
        let f = self.n_features();
        let per_window = self.strands * f;
        let placements = (w + self.k - 1) as f32;
        let grow = |v: &mut Vec<i32>, n: usize| {
            if v.len() < n {
                v.resize(n, 0);
            }
        };
        grow(&mut work.best, windows * BLOCK);
        grow(&mut work.acc, len.max(windows + self.k) * BLOCK);
        if self.avg && work.sum.len() < windows * BLOCK {
            work.sum.resize(windows * BLOCK, 0.0);
        }
        if work.feats.len() < windows * per_window {
            work.feats.resize(windows * per_window, 0.0);
        }
        let feats = &mut work.feats[..windows * per_window];
        for (b, &(first, lanes, at)) in self.blocks.iter().enumerate() {
            let table = &self.table[at..at + BASES * self.k * lanes];
            let base = &self.base[first..first + lanes];
            let unit = &self.unit[first..first + lanes];
            let best = &mut work.best[..windows * lanes];
            let sum = if self.avg {
                &mut work.sum[..windows * lanes]
            } else {
                &mut work.sum[..0]
            };
            let stage = Stage {
                table,
                base,
                codes,
                k: self.k,
                w,
            };
            if w >= self.k && self.k >= 2 {
                let acc = &mut work.acc[..];
                match (lanes / LANES, self.avg) {
                    (4, false) => stage.scan::<4, false>(best, sum, acc),
                    (4, true) => stage.scan::<4, true>(best, sum, acc),
                    (3, false) => stage.scan::<3, false>(best, sum, acc),
                    (3, true) => stage.scan::<3, true>(best, sum, acc),
                    (2, false) => stage.scan::<2, false>(best, sum, acc),
                    (2, true) => stage.scan::<2, true>(best, sum, acc),
                    (_, false) => stage.scan::<1, false>(best, sum, acc),
                    (_, true) => stage.scan::<1, true>(best, sum, acc),
                }
            } else {
                stage.direct(lanes, self.avg, best, sum);
            }
            let fin = Finish {
                best,
                sum,
                unit,
                placements,
                runs: &self.runs[b],
                per_window,
                means: self.out,
            };
            match (lanes / LANES, self.avg) {
                (4, false) => fin.run::<4, false>(feats),
                (4, true) => fin.run::<4, true>(feats),
                (3, false) => fin.run::<3, false>(feats),
                (3, true) => fin.run::<3, true>(feats),
                (2, false) => fin.run::<2, false>(feats),
                (2, true) => fin.run::<2, true>(feats),
                (_, false) => fin.run::<1, false>(feats),
                (_, true) => fin.run::<1, true>(feats),
            }
        }
        &work.feats[..windows * per_window]
    }
}

/// Where a block's lanes go in a window's features: `(first lane, lanes, position)` runs of one
/// strand's consecutive detectors (their maxima; means `out` further on).
type Runs = Vec<(usize, usize, usize)>;

/// The runs of the block of `lanes` detectors from `first` on, of `detectors` in all, `out` per
/// strand, `f` features per strand.
fn runs(first: usize, lanes: usize, detectors: usize, out: usize, f: usize) -> Runs {
    let mut runs = Vec::new();
    let mut o = first;
    while o < (first + lanes).min(detectors) {
        let (strand, d) = (o / out, o % out);
        let n = (out - d).min(first + lanes - o);
        runs.push((o - first, n, strand * f + d));
        o += n;
    }
    runs
}

/// A block's maxima and sums of ReLUs to pooled features: what [`Finish::run`] reads.
struct Finish<'a> {
    best: &'a [i32],
    sum: &'a [f32],
    unit: &'a [f32],
    placements: f32,
    runs: &'a Runs,
    per_window: usize,
    means: usize,
}

impl Finish<'_> {
    /// Writes each window's features of the block into `feats [windows][per_window]`: the ReLU
    /// of the maximum and (`A`) the mean of the ReLUs, in f32.
    fn run<const V: usize, const A: bool>(&self, feats: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { self.run_avx2::<V, A>(feats) };
        }
        self.run_with::<Plain, V, A>(feats)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn run_avx2<const V: usize, const A: bool>(&self, feats: &mut [f32]) {
        self.run_with::<Avx2, V, A>(feats)
    }

    #[inline(always)]
    fn run_with<S: Simd, const V: usize, const A: bool>(&self, feats: &mut [f32]) {
        let unit = get_f::<S, V>(self.unit, 0);
        let n = S::splat(self.placements);
        let mut v = [0f32; BLOCK];
        let mut mean = [0f32; BLOCK];
        for (i, out) in feats.chunks_exact_mut(self.per_window).enumerate() {
            let x = get::<S, V>(self.best, i);
            let x: [S::F; V] = std::array::from_fn(|j| S::mul_f(S::relu_f32(x[j]), unit[j]));
            put_f::<S, V>(&mut v, 0, &x);
            if A {
                let s = get_f::<S, V>(self.sum, i);
                let s: [S::F; V] = std::array::from_fn(|j| S::div_f(S::mul_f(s[j], unit[j]), n));
                put_f::<S, V>(&mut mean, 0, &s);
            }
            for &(l, len, at) in self.runs {
                if l.is_multiple_of(8) && len.is_multiple_of(8) {
                    // Whole vectors: fixed-size copies.
                    for c in (0..len).step_by(8) {
                        out[at + c..at + c + 8].copy_from_slice(&v[l + c..l + c + 8]);
                        if A {
                            let at = at + self.means;
                            out[at + c..at + c + 8].copy_from_slice(&mean[l + c..l + c + 8]);
                        }
                    }
                } else {
                    out[at..at + len].copy_from_slice(&v[l..l + len]);
                    if A {
                        let at = at + self.means;
                        out[at..at + len].copy_from_slice(&mean[l..l + len]);
                    }
                }
            }
        }
    }
}

/// One block of detectors over one stretch: what [`Stage::scan`] reads.
struct Stage<'a> {
    /// shape: [5][k][L]
    table: &'a [i32],
    /// shape: [L]
    base: &'a [i32],
    codes: &'a [u8],
    k: usize,
    w: usize,
}

/// Eight 32-bit lanes, the unit the scan computes in: AVX2 registers ([`Avx2`]), or arrays for
/// other CPUs ([`Plain`]), the same arithmetic either way (integer adds and maxima, f32 sums).
trait Simd: Copy {
    /// Eight `i32`.
    type I: Copy;
    /// Eight `f32`.
    type F: Copy;
    fn load(x: &[i32; 8]) -> Self::I;
    fn store(x: Self::I, to: &mut [i32; 8]);
    fn add(a: Self::I, b: Self::I) -> Self::I;
    fn max(a: Self::I, b: Self::I) -> Self::I;
    fn zero() -> Self::F;
    fn load_f(x: &[f32; 8]) -> Self::F;
    fn store_f(x: Self::F, to: &mut [f32; 8]);
    /// `s + max(x, 0)`, `x` converted to f32.
    fn add_relu(s: Self::F, x: Self::I) -> Self::F;
    /// `max(x, 0)` converted to f32.
    fn relu_f32(x: Self::I) -> Self::F;
    fn splat(x: f32) -> Self::F;
    fn add_f(a: Self::F, b: Self::F) -> Self::F;
    fn mul_f(a: Self::F, b: Self::F) -> Self::F;
    fn div_f(a: Self::F, b: Self::F) -> Self::F;
    /// `a * b + c` rounded once.
    fn fma_f(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
}

/// [`Simd`] on plain arrays.
#[derive(Clone, Copy)]
struct Plain;

impl Simd for Plain {
    type I = [i32; 8];
    type F = [f32; 8];
    #[inline(always)]
    fn load(x: &[i32; 8]) -> [i32; 8] {
        *x
    }
    #[inline(always)]
    fn store(x: [i32; 8], to: &mut [i32; 8]) {
        *to = x;
    }
    #[inline(always)]
    fn add(a: [i32; 8], b: [i32; 8]) -> [i32; 8] {
        std::array::from_fn(|l| a[l] + b[l])
    }
    #[inline(always)]
    fn max(a: [i32; 8], b: [i32; 8]) -> [i32; 8] {
        std::array::from_fn(|l| a[l].max(b[l]))
    }
    #[inline(always)]
    fn zero() -> [f32; 8] {
        [0.0; 8]
    }
    #[inline(always)]
    fn load_f(x: &[f32; 8]) -> [f32; 8] {
        *x
    }
    #[inline(always)]
    fn store_f(x: [f32; 8], to: &mut [f32; 8]) {
        *to = x;
    }
    #[inline(always)]
    fn add_relu(s: [f32; 8], x: [i32; 8]) -> [f32; 8] {
        std::array::from_fn(|l| s[l] + x[l].max(0) as f32)
    }
    #[inline(always)]
    fn relu_f32(x: [i32; 8]) -> [f32; 8] {
        std::array::from_fn(|l| x[l].max(0) as f32)
    }
    #[inline(always)]
    fn splat(x: f32) -> [f32; 8] {
        [x; 8]
    }
    #[inline(always)]
    fn add_f(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|l| a[l] + b[l])
    }
    #[inline(always)]
    fn mul_f(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|l| a[l] * b[l])
    }
    #[inline(always)]
    fn div_f(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|l| a[l] / b[l])
    }
    #[inline(always)]
    fn fma_f(a: [f32; 8], b: [f32; 8], c: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|l| a[l].mul_add(b[l], c[l]))
    }
}

/// Whether the CPU has AVX2 and FMA, what [`Avx2`] needs.
#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    #[cfg(test)]
    if tests::PLAIN.get() {
        return false;
    }
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// [`Simd`] in AVX2 registers. Its methods run only inside the `*_avx2` functions, which are
/// called after [`avx2`] says the CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Simd for Avx2 {
    type I = std::arch::x86_64::__m256i;
    type F = std::arch::x86_64::__m256;
    #[inline(always)]
    fn load(x: &[i32; 8]) -> Self::I {
        // SAFETY: AVX2 and FMA are present (see the type's docs); `x` is 8 readable i32, and the load is
        // unaligned.
        unsafe { std::arch::x86_64::_mm256_loadu_si256(x.as_ptr().cast()) }
    }
    #[inline(always)]
    fn store(x: Self::I, to: &mut [i32; 8]) {
        // SAFETY: as `load`; `to` is 8 writable i32.
        unsafe { std::arch::x86_64::_mm256_storeu_si256(to.as_mut_ptr().cast(), x) }
    }
    #[inline(always)]
    fn add(a: Self::I, b: Self::I) -> Self::I {
        // SAFETY: AVX2 and FMA are present (see the type's docs).
        unsafe { std::arch::x86_64::_mm256_add_epi32(a, b) }
    }
    #[inline(always)]
    fn max(a: Self::I, b: Self::I) -> Self::I {
        // SAFETY: AVX2 and FMA are present.
        unsafe { std::arch::x86_64::_mm256_max_epi32(a, b) }
    }
    #[inline(always)]
    fn zero() -> Self::F {
        // SAFETY: AVX2 and FMA are present.
        unsafe { std::arch::x86_64::_mm256_setzero_ps() }
    }
    #[inline(always)]
    fn load_f(x: &[f32; 8]) -> Self::F {
        // SAFETY: AVX2 and FMA are present; `x` is 8 readable f32.
        unsafe { std::arch::x86_64::_mm256_loadu_ps(x.as_ptr()) }
    }
    #[inline(always)]
    fn store_f(x: Self::F, to: &mut [f32; 8]) {
        // SAFETY: AVX2 and FMA are present; `to` is 8 writable f32.
        unsafe { std::arch::x86_64::_mm256_storeu_ps(to.as_mut_ptr(), x) }
    }
    #[inline(always)]
    fn add_relu(s: Self::F, x: Self::I) -> Self::F {
        Self::add_f(s, Self::relu_f32(x))
    }
    #[inline(always)]
    fn relu_f32(x: Self::I) -> Self::F {
        use std::arch::x86_64::*;
        // SAFETY: AVX2 and FMA are present.
        unsafe { _mm256_cvtepi32_ps(_mm256_max_epi32(x, _mm256_setzero_si256())) }
    }
    #[inline(always)]
    fn splat(x: f32) -> Self::F {
        // SAFETY: AVX2 and FMA are present.
        unsafe { std::arch::x86_64::_mm256_set1_ps(x) }
    }
    #[inline(always)]
    fn add_f(a: Self::F, b: Self::F) -> Self::F {
        // SAFETY: AVX2 and FMA are present.
        unsafe { std::arch::x86_64::_mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn mul_f(a: Self::F, b: Self::F) -> Self::F {
        // SAFETY: AVX2 and FMA are present.
        unsafe { std::arch::x86_64::_mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div_f(a: Self::F, b: Self::F) -> Self::F {
        // SAFETY: AVX2 and FMA are present.
        unsafe { std::arch::x86_64::_mm256_div_ps(a, b) }
    }
    #[inline(always)]
    fn fma_f(a: Self::F, b: Self::F, c: Self::F) -> Self::F {
        // SAFETY: AVX2 and FMA are present.
        unsafe { std::arch::x86_64::_mm256_fmadd_ps(a, b, c) }
    }
}

/// The buffers of one scan: `acc` (running sums), `best` and `sum` (per window), and the base
/// values.
struct Bufs<'a, S: Simd, const V: usize> {
    acc: &'a mut [i32],
    best: &'a mut [i32],
    sum: &'a mut [f32],
    base: [S::I; V],
}

/// Row `r` of a buffer of rows of `V` vectors.
#[inline(always)]
fn get<S: Simd, const V: usize>(buf: &[i32], r: usize) -> [S::I; V] {
    let row = &buf[r * V * 8..(r + 1) * V * 8];
    std::array::from_fn(|v| S::load(row[v * 8..v * 8 + 8].try_into().expect("8 lanes")))
}

#[inline(always)]
fn put<S: Simd, const V: usize>(buf: &mut [i32], r: usize, x: &[S::I; V]) {
    let row = &mut buf[r * V * 8..(r + 1) * V * 8];
    for (v, c) in row.chunks_exact_mut(8).enumerate() {
        S::store(x[v], c.try_into().expect("8 lanes"));
    }
}

#[inline(always)]
fn get_f<S: Simd, const V: usize>(buf: &[f32], r: usize) -> [S::F; V] {
    let row = &buf[r * V * 8..(r + 1) * V * 8];
    std::array::from_fn(|v| S::load_f(row[v * 8..v * 8 + 8].try_into().expect("8 lanes")))
}

#[inline(always)]
fn put_f<S: Simd, const V: usize>(buf: &mut [f32], r: usize, x: &[S::F; V]) {
    let row = &mut buf[r * V * 8..(r + 1) * V * 8];
    for (v, c) in row.chunks_exact_mut(8).enumerate() {
        S::store_f(x[v], c.try_into().expect("8 lanes"));
    }
}

#[inline(always)]
fn add<S: Simd, const V: usize>(a: [S::I; V], b: [S::I; V]) -> [S::I; V] {
    std::array::from_fn(|v| S::add(a[v], b[v]))
}

/// A placement's values `r` into a window's maximum `m` and, with mean pooling (`A`), its sum of
/// ReLUs `s`.
#[inline(always)]
fn take<S: Simd, const V: usize, const A: bool>(
    m: &mut [S::I; V],
    s: &mut [S::F; V],
    r: &[S::I; V],
) {
    for v in 0..V {
        m[v] = S::max(m[v], r[v]);
        if A {
            s[v] = S::add_relu(s[v], r[v]);
        }
    }
}

impl Stage<'_> {
    /// The running-sum scan (module docs) of `8 V` detectors, `w >= k >= 2`: `best [windows][8 V]`
    /// gets each window's largest placement value (base included), `sum [windows][8 V]` (mean
    /// pooling, `A`) its sum of ReLUs (as f32, in units). `acc` is scratch for
    /// `max(len, windows + k)` rows of `8 V`.
    fn scan<const V: usize, const A: bool>(
        &self,
        best: &mut [i32],
        sum: &mut [f32],
        acc: &mut [i32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { self.scan_avx2::<V, A>(best, sum, acc) };
        }
        self.scan_with::<Plain, V, A>(best, sum, acc)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn scan_avx2<const V: usize, const A: bool>(
        &self,
        best: &mut [i32],
        sum: &mut [f32],
        acc: &mut [i32],
    ) {
        self.scan_with::<Avx2, V, A>(best, sum, acc)
    }

    #[inline(always)]
    fn scan_with<S: Simd, const V: usize, const A: bool>(
        &self,
        best: &mut [i32],
        sum: &mut [f32],
        acc: &mut [i32],
    ) {
        let (k, w) = (self.k, self.w);
        let p = k - 1;
        let len = self.codes.len();
        let windows = len + 1 - w;
        let mut b = Bufs {
            acc,
            best,
            sum,
            base: get::<S, V>(self.base, 0),
        };

        // Right-cut placements and the whole convolution: row `a` of `acc` is the placement
        // starting at position a (from the base on), its taps added from the first up; at
        // position q, row q - j takes tap j. The window ending at q takes rows q - j for
        // j < k - 1 (taps 0..=j inside it); row q - (k - 1) is then whole. Two positions at a
        // time where both have all k rows, so each row is loaded and stored once for two taps.
        let mut q = 0;
        while q < len {
            if (!A || V <= 2) && q >= p && p >= 2 && q + 1 < len && (q + 1 < w - 1 || q + 1 >= w) {
                self.right_two::<S, V, A>(&mut b, q);
                q += 2;
            } else {
                self.right_one::<S, V, A>(&mut b, q);
                q += 1;
            }
        }
        // Whole placements: window i holds those starting at i..=i + w - k.
        for i in 0..windows {
            let mut m = get::<S, V>(b.best, i);
            let mut s = if A {
                get_f::<S, V>(b.sum, i)
            } else {
                [S::zero(); V]
            };
            for a in i..=i + w - k {
                take::<S, V, A>(&mut m, &mut s, &get::<S, V>(b.acc, a));
            }
            put::<S, V>(b.best, i, &m);
            if A {
                put_f::<S, V>(b.sum, i, &s);
            }
        }
        // Left-cut placements: row a + p of `acc` is the placement starting at a (from -p on),
        // its taps added from the last down; at position q, row q - s takes tap s (s >= 1), and
        // the window starting at q takes them all. Only placements starting before the last
        // window (a <= windows - 2) belong to a window. Two positions at a time among the
        // windows.
        // Positions below `q` are still to do.
        let mut q = windows + p - 1;
        while q > 0 {
            if (!A || V <= 2) && q <= windows && q >= 2 && p >= 2 {
                self.left_two::<S, V, A>(&mut b, q - 2);
                q -= 2;
            } else {
                self.left_one::<S, V, A>(&mut b, q - 1, windows);
                q -= 1;
            }
        }
    }

    /// The table's rows for the base at position q: [k][8 V].
    #[inline(always)]
    fn taps<const V: usize>(&self, q: usize) -> &[i32] {
        let c = usize::from(self.codes[q].min(N_CODE));
        &self.table[c * self.k * V * 8..(c + 1) * self.k * V * 8]
    }

    /// Position `q` of the right-cut pass.
    #[inline(always)]
    fn right_one<S: Simd, const V: usize, const A: bool>(&self, b: &mut Bufs<S, V>, q: usize) {
        let p = self.k - 1;
        let t = self.taps::<V>(q);
        let r = add::<S, V>(get::<S, V>(t, 0), b.base);
        put::<S, V>(b.acc, q, &r);
        match (q + 1).checked_sub(self.w) {
            Some(i) => {
                let (mut m, mut s) = (r, [S::zero(); V]);
                if A {
                    take::<S, V, A>(&mut m, &mut s, &r);
                }
                for j in 1..p {
                    let r = add::<S, V>(get::<S, V>(b.acc, q - j), get::<S, V>(t, j));
                    put::<S, V>(b.acc, q - j, &r);
                    take::<S, V, A>(&mut m, &mut s, &r);
                }
                let r = add::<S, V>(get::<S, V>(b.acc, q - p), get::<S, V>(t, p));
                put::<S, V>(b.acc, q - p, &r);
                put::<S, V>(b.best, i, &m);
                if A {
                    put_f::<S, V>(b.sum, i, &s);
                }
            }
            None => {
                for j in 1..=q.min(p) {
                    let r = add::<S, V>(get::<S, V>(b.acc, q - j), get::<S, V>(t, j));
                    put::<S, V>(b.acc, q - j, &r);
                }
            }
        }
    }

    /// Positions `q` and `q + 1` of the right-cut pass: `q >= k - 1 >= 2`, and both end a window
    /// or neither does.
    #[inline(always)]
    fn right_two<S: Simd, const V: usize, const A: bool>(&self, b: &mut Bufs<S, V>, q: usize) {
        let p = self.k - 1;
        let (t0, t1) = (self.taps::<V>(q), self.taps::<V>(q + 1));
        let zero = [S::zero(); V];
        // Window i ends at q (maxima m0, sums s0), window i + 1 at q + 1 (m1, s1).
        let window = (q + 1).checked_sub(self.w);
        // Row q + 1: tap 0 of q + 1.
        let r1 = add::<S, V>(get::<S, V>(t1, 0), b.base);
        put::<S, V>(b.acc, q + 1, &r1);
        // Row q: tap 0 of q, tap 1 of q + 1.
        let r0 = add::<S, V>(get::<S, V>(t0, 0), b.base);
        let r = add::<S, V>(r0, get::<S, V>(t1, 1));
        put::<S, V>(b.acc, q, &r);
        let (mut m0, mut s0, mut m1, mut s1) = (r0, zero, r1, zero);
        if window.is_some() {
            if A {
                take::<S, V, A>(&mut m0, &mut s0, &r0);
                take::<S, V, A>(&mut m1, &mut s1, &r1);
            }
            take::<S, V, A>(&mut m1, &mut s1, &r);
            // Rows q - j, 1 <= j <= k - 3: tap j of q, tap j + 1 of q + 1.
            for j in 1..p - 1 {
                let x = add::<S, V>(get::<S, V>(b.acc, q - j), get::<S, V>(t0, j));
                take::<S, V, A>(&mut m0, &mut s0, &x);
                let y = add::<S, V>(x, get::<S, V>(t1, j + 1));
                take::<S, V, A>(&mut m1, &mut s1, &y);
                put::<S, V>(b.acc, q - j, &y);
            }
            // Row q - (k - 2): its last tap comes from q + 1 (whole).
            let x = add::<S, V>(get::<S, V>(b.acc, q + 1 - p), get::<S, V>(t0, p - 1));
            take::<S, V, A>(&mut m0, &mut s0, &x);
            put::<S, V>(b.acc, q + 1 - p, &add::<S, V>(x, get::<S, V>(t1, p)));
        } else {
            for j in 1..p {
                let x = add::<S, V>(get::<S, V>(b.acc, q - j), get::<S, V>(t0, j));
                put::<S, V>(b.acc, q - j, &add::<S, V>(x, get::<S, V>(t1, j + 1)));
            }
        }
        // Row q - (k - 1): its last tap (whole).
        let x = add::<S, V>(get::<S, V>(b.acc, q - p), get::<S, V>(t0, p));
        put::<S, V>(b.acc, q - p, &x);
        if let Some(i) = window {
            put::<S, V>(b.best, i, &m0);
            put::<S, V>(b.best, i + 1, &m1);
            if A {
                put_f::<S, V>(b.sum, i, &s0);
                put_f::<S, V>(b.sum, i + 1, &s1);
            }
        }
    }

    /// Position `q` of the left-cut pass (from the top down; `windows` windows).
    #[inline(always)]
    fn left_one<S: Simd, const V: usize, const A: bool>(
        &self,
        b: &mut Bufs<S, V>,
        q: usize,
        windows: usize,
    ) {
        let p = self.k - 1;
        // Row q - s is stored at q + p - s; rows from s_lo on start before the last window.
        let s_lo = (q + 2).saturating_sub(windows).max(1);
        if s_lo > p {
            return;
        }
        let t = self.taps::<V>(q);
        let r = add::<S, V>(get::<S, V>(t, p), b.base);
        put::<S, V>(b.acc, q, &r);
        if q < windows {
            let mut m = get::<S, V>(b.best, q);
            let mut s = if A {
                get_f::<S, V>(b.sum, q)
            } else {
                [S::zero(); V]
            };
            take::<S, V, A>(&mut m, &mut s, &r);
            for sh in (1..p).rev() {
                let r = add::<S, V>(get::<S, V>(b.acc, q + p - sh), get::<S, V>(t, sh));
                put::<S, V>(b.acc, q + p - sh, &r);
                take::<S, V, A>(&mut m, &mut s, &r);
            }
            put::<S, V>(b.best, q, &m);
            if A {
                put_f::<S, V>(b.sum, q, &s);
            }
        } else {
            for sh in (s_lo..p).rev() {
                let r = add::<S, V>(get::<S, V>(b.acc, q + p - sh), get::<S, V>(t, sh));
                put::<S, V>(b.acc, q + p - sh, &r);
            }
        }
    }

    /// Positions `q + 1` then `q` of the left-cut pass, both starting windows; `k - 1 >= 2`.
    #[inline(always)]
    fn left_two<S: Simd, const V: usize, const A: bool>(&self, b: &mut Bufs<S, V>, q: usize) {
        let p = self.k - 1;
        // Position q + 1 (window q + 1: m1, s1) first, then q (window q: m0, s0).
        let (t1, t0) = (self.taps::<V>(q + 1), self.taps::<V>(q));
        let mut m1 = get::<S, V>(b.best, q + 1);
        let mut m0 = get::<S, V>(b.best, q);
        let (mut s1, mut s0) = if A {
            (get_f::<S, V>(b.sum, q + 1), get_f::<S, V>(b.sum, q))
        } else {
            ([S::zero(); V], [S::zero(); V])
        };
        // Row q - (k - 1), stored at q: tap k - 1 of q only.
        let r = add::<S, V>(get::<S, V>(t0, p), b.base);
        put::<S, V>(b.acc, q, &r);
        take::<S, V, A>(&mut m0, &mut s0, &r);
        // Row q + 1 - (k - 1), stored at q + 1: tap k - 1 of q + 1, tap k - 2 of q.
        let x = add::<S, V>(get::<S, V>(t1, p), b.base);
        take::<S, V, A>(&mut m1, &mut s1, &x);
        let y = add::<S, V>(x, get::<S, V>(t0, p - 1));
        take::<S, V, A>(&mut m0, &mut s0, &y);
        put::<S, V>(b.acc, q + 1, &y);
        // Rows q + 1 - s, 2 <= s <= k - 2 (stored at q + 1 + p - s): tap s of q + 1, tap s - 1
        // of q.
        for sh in (2..p).rev() {
            let at = q + 1 + p - sh;
            let x = add::<S, V>(get::<S, V>(b.acc, at), get::<S, V>(t1, sh));
            take::<S, V, A>(&mut m1, &mut s1, &x);
            let y = add::<S, V>(x, get::<S, V>(t0, sh - 1));
            take::<S, V, A>(&mut m0, &mut s0, &y);
            put::<S, V>(b.acc, at, &y);
        }
        // Row q, stored at q + p: tap 1 of q + 1, its last left-cut value.
        let x = add::<S, V>(get::<S, V>(b.acc, q + p), get::<S, V>(t1, 1));
        take::<S, V, A>(&mut m1, &mut s1, &x);
        put::<S, V>(b.best, q + 1, &m1);
        put::<S, V>(b.best, q, &m0);
        if A {
            put_f::<S, V>(b.sum, q + 1, &s1);
            put_f::<S, V>(b.sum, q, &s0);
        }
    }

    /// Windows shorter than the filter (or filters of one tap): every placement summed on its
    /// own, taps outside the window reading N; the values [`Stage::scan`] gives, by definition.
    fn direct(&self, lanes: usize, avg: bool, best: &mut [i32], sum: &mut [f32]) {
        let (k, w, codes) = (self.k, self.w, self.codes);
        let windows = codes.len() + 1 - w;
        let mut v = vec![0i32; lanes];
        for i in 0..windows {
            let best = &mut best[i * lanes..(i + 1) * lanes];
            let sum = if avg {
                &mut sum[i * lanes..(i + 1) * lanes]
            } else {
                &mut sum[..0]
            };
            best.fill(i32::MIN);
            sum.fill(0.0);
            // Placement `a` reads sequence position i + a + j - (k - 1) at tap j.
            for a in 0..w + k - 1 {
                v.copy_from_slice(self.base);
                for j in 0..k {
                    let q = (i + a + j)
                        .checked_sub(k - 1)
                        .filter(|&q| q >= i && q < i + w);
                    if let Some(q) = q {
                        let c = usize::from(codes[q].min(N_CODE));
                        let row = &self.table[(c * k + j) * lanes..][..lanes];
                        for (x, &t) in v.iter_mut().zip(row) {
                            *x += t;
                        }
                    }
                }
                for (l, &x) in v.iter().enumerate() {
                    best[l] = best[l].max(x);
                }
                for (s, &x) in sum.iter_mut().zip(&v) {
                    *s += x.max(0) as f32;
                }
            }
        }
    }
}

/// One layer of a [`Head`].
#[derive(Clone, Debug)]
enum Step {
    /// `y = x w^T + b`; shape: weight_t [inputs][outputs] (PyTorch's weight transposed),
    /// bias [outputs].
    Linear {
        weight_t: Vec<f32>,
        bias: Vec<f32>,
        inputs: usize,
        outputs: usize,
    },
    Relu,
    Sigmoid,
    Tanh,
}

/// The layers after DeepBind's pooling (linear layers and activations), run on each window's
/// pooled features: rows too few and too narrow for the GEMM (one window of one strand is a row
/// of 16 or 32 features), so plain f32 loops, several rows at a time. Each output of a linear
/// layer is summed in input order from its bias with fused multiply-adds, whatever the rows
/// around it: with the features in the scan's order (maxima, then means) this reproduces the
/// deepbind tool's README table as closely as the GEMM's order did (7.0e-7; the exact value of
/// one entry is 2.0e-6 from the table's).
#[derive(Clone, Debug)]
pub struct Head {
    steps: Vec<Step>,
    inputs: usize,
    outputs: usize,
    /// The widest layer.
    widest: usize,
}

impl Head {
    /// No layers yet: rows of `inputs` features pass through.
    pub fn new(inputs: usize) -> Self {
        Head {
            steps: Vec::new(),
            inputs,
            outputs: inputs,
            widest: inputs,
        }
    }

    /// Appends a linear layer with `weight` `[outputs, current width]` (row-major) and `bias`
    /// `[outputs]`.
    pub fn linear(&mut self, weight: &[f32], bias: Option<&[f32]>, outputs: usize) {
        let inputs = self.outputs;
        let mut weight_t = vec![0f32; inputs * outputs];
        for o in 0..outputs {
            for i in 0..inputs {
                weight_t[i * outputs + o] = weight[o * inputs + i];
            }
        }
        let bias = bias.map_or_else(|| vec![0.0; outputs], |b| b.to_vec());
        self.steps.push(Step::Linear {
            weight_t,
            bias,
            inputs,
            outputs,
        });
        self.outputs = outputs;
        self.widest = self.widest.max(outputs);
    }

    /// Appends ReLU.
    pub fn relu(&mut self) {
        self.steps.push(Step::Relu);
    }

    /// Appends the logistic sigmoid.
    pub fn sigmoid(&mut self) {
        self.steps.push(Step::Sigmoid);
    }

    /// Appends tanh.
    pub fn tanh(&mut self) {
        self.steps.push(Step::Tanh);
    }

    /// Features per row taken.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Outputs `y [n][outputs]` of rows `x [n][inputs]`.
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        let n = x.len() / self.inputs.max(1);
        let mut bufs = [
            super::scratch::take(ROWS * self.widest),
            super::scratch::take(ROWS * self.widest),
        ];
        for r0 in (0..n).step_by(ROWS) {
            let rows = ROWS.min(n - r0);
            let mut width = self.inputs;
            // The rows' values: `x` itself until a layer writes a buffer.
            let mut at: Option<usize> = None;
            for step in &self.steps {
                match step {
                    Step::Linear {
                        weight_t,
                        bias,
                        inputs,
                        outputs,
                    } => {
                        let to = at.map_or(0, |b| 1 - b);
                        let [b0, b1] = &mut bufs;
                        let (from, dst): (&[f32], &mut [f32]) = match (at, to) {
                            (None, _) => (&x[r0 * inputs..(r0 + rows) * inputs], &mut b0[..]),
                            (Some(_), 0) => (&b1[..rows * inputs], &mut b0[..]),
                            (Some(_), _) => (&b0[..rows * inputs], &mut b1[..]),
                        };
                        linear(from, weight_t, bias, *inputs, &mut dst[..rows * outputs]);
                        at = Some(to);
                        width = *outputs;
                    }
                    act => {
                        let b = match at {
                            Some(b) => b,
                            None => {
                                bufs[0][..rows * width]
                                    .copy_from_slice(&x[r0 * width..(r0 + rows) * width]);
                                at = Some(0);
                                0
                            }
                        };
                        let v = &mut bufs[b][..rows * width];
                        match act {
                            Step::Relu => v.iter_mut().for_each(|v| *v = v.max(0.0)),
                            Step::Sigmoid => {
                                v.iter_mut().for_each(|v| *v = crate::tensor::sigmoid(*v))
                            }
                            _ => v.iter_mut().for_each(|v| *v = v.tanh()),
                        }
                    }
                }
            }
            let out = &mut y[r0 * width..(r0 + rows) * width];
            match at {
                Some(b) => out.copy_from_slice(&bufs[b][..rows * width]),
                None => out.copy_from_slice(&x[r0 * width..(r0 + rows) * width]),
            }
        }
    }
}

/// One row of a linear layer, `y = bias + x w` with `w = weight_t [inputs][outputs]`, each
/// output summed in input order from its bias with fused multiply-adds.
#[inline(always)]
fn linear_row(x: &[f32], weight_t: &[f32], bias: &[f32], y: &mut [f32]) {
    let outputs = bias.len();
    y.copy_from_slice(bias);
    for (&xv, wr) in x.iter().zip(weight_t.chunks_exact(outputs)) {
        for (yv, &wv) in y.iter_mut().zip(wr) {
            *yv = xv.mul_add(wv, *yv);
        }
    }
}

/// Rows a [`Head`] runs through its layers at a time.
const ROWS: usize = 64;

/// `y [n][outputs] = x [n][inputs] w + bias`, with `w = weight_t [inputs][outputs]`.
fn linear(x: &[f32], weight_t: &[f32], bias: &[f32], inputs: usize, y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { linear_avx2(x, weight_t, bias, inputs, y) };
    }
    linear_with::<Plain>(x, weight_t, bias, inputs, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn linear_avx2(x: &[f32], weight_t: &[f32], bias: &[f32], inputs: usize, y: &mut [f32]) {
    linear_with::<Avx2>(x, weight_t, bias, inputs, y)
}

#[inline(always)]
fn linear_with<S: Simd>(x: &[f32], weight_t: &[f32], bias: &[f32], inputs: usize, y: &mut [f32]) {
    let outputs = bias.len();
    if outputs == 1 {
        // One output per row: eight rows' sums side by side, each in input order.
        let w = &weight_t[..inputs];
        let mut rows = x.chunks_exact(8 * inputs);
        let mut out = y.chunks_exact_mut(8);
        for (xs, ys) in rows.by_ref().zip(out.by_ref()) {
            let mut z = [bias[0]; 8];
            for (i, &wi) in w.iter().enumerate() {
                for (r, z) in z.iter_mut().enumerate() {
                    *z = xs[r * inputs + i].mul_add(wi, *z);
                }
            }
            ys.copy_from_slice(&z);
        }
        for (xr, yr) in rows
            .remainder()
            .chunks_exact(inputs)
            .zip(out.into_remainder().chunks_exact_mut(1))
        {
            linear_row(xr, weight_t, bias, yr);
        }
        return;
    }
    if !outputs.is_multiple_of(8) {
        for (xr, yr) in x.chunks_exact(inputs).zip(y.chunks_exact_mut(outputs)) {
            linear_row(xr, weight_t, bias, yr);
        }
        return;
    }
    // Outputs in blocks of up to 32 (four registers), two rows at a time.
    let mut o = 0;
    while o < outputs {
        match (outputs - o) / 8 {
            1 => linear_block::<S, 1>(x, weight_t, bias, inputs, y, o),
            2 => linear_block::<S, 2>(x, weight_t, bias, inputs, y, o),
            3 => linear_block::<S, 3>(x, weight_t, bias, inputs, y, o),
            _ => linear_block::<S, 4>(x, weight_t, bias, inputs, y, o),
        }
        o += 8 * 4.min((outputs - o) / 8);
    }
}

/// Outputs `o..o + 8 B` of [`linear`], two rows at a time.
#[inline(always)]
fn linear_block<S: Simd, const B: usize>(
    x: &[f32],
    weight_t: &[f32],
    bias: &[f32],
    inputs: usize,
    y: &mut [f32],
    o: usize,
) {
    let outputs = bias.len();
    let n = x.len() / inputs;
    let b: [S::F; B] = get_f::<S, B>(&bias[o..o + 8 * B], 0);
    let w = |i: usize| get_f::<S, B>(&weight_t[i * outputs + o..i * outputs + o + 8 * B], 0);
    let mut r = 0;
    while r + 2 <= n {
        let (x0, x1) = (
            &x[r * inputs..(r + 1) * inputs],
            &x[(r + 1) * inputs..(r + 2) * inputs],
        );
        let (mut a0, mut a1) = (b, b);
        for i in 0..inputs {
            let wi = w(i);
            let (v0, v1) = (S::splat(x0[i]), S::splat(x1[i]));
            for j in 0..B {
                a0[j] = S::fma_f(v0, wi[j], a0[j]);
                a1[j] = S::fma_f(v1, wi[j], a1[j]);
            }
        }
        put_f::<S, B>(&mut y[r * outputs + o..r * outputs + o + 8 * B], 0, &a0);
        put_f::<S, B>(
            &mut y[(r + 1) * outputs + o..(r + 1) * outputs + o + 8 * B],
            0,
            &a1,
        );
        r += 2;
    }
    if r < n {
        let x0 = &x[r * inputs..(r + 1) * inputs];
        let mut a0 = b;
        for (i, &xi) in x0.iter().enumerate() {
            let wi = w(i);
            let v0 = S::splat(xi);
            for j in 0..B {
                a0[j] = S::fma_f(v0, wi[j], a0[j]);
            }
        }
        put_f::<S, B>(&mut y[r * outputs + o..r * outputs + o + 8 * B], 0, &a0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;

    thread_local! {
        /// Set by a test to run the [`Plain`] path on a CPU with AVX2.
        pub(super) static PLAIN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Random filters `[out, 4, k]` and biases.
    fn filters(seed: u64, out: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
        let mut r = rng::seeded(seed);
        let w = (0..out * 4 * k)
            .map(|_| rng::uniform(&mut r, -2.0, 2.0))
            .collect();
        let b = (0..out).map(|_| rng::uniform(&mut r, -3.0, 1.0)).collect();
        (w, b)
    }

    /// Random base codes, some of them N (codes 4 and above).
    fn codes(seed: u64, len: usize) -> Vec<u8> {
        let mut r = rng::seeded(seed);
        (0..len)
            .map(|_| match rng::below(&mut r, 12) {
                10 => N_CODE,
                11 => 9,
                c => (c % 4) as u8,
            })
            .collect()
    }

    /// The definition in f64: window `i` of `w` bp padded with `k - 1` N's on both sides, every
    /// placement of every filter (and, for strand 1, of its reverse complement over the
    /// reverse-complemented window), ReLU, max (and mean) pooling; `[windows][strands][f]` in
    /// the scan's layout (maxima, then means).
    fn definition(
        w: &[f32],
        b: &[f32],
        k: usize,
        avg: bool,
        strands: usize,
        codes: &[u8],
        win: usize,
    ) -> Vec<f64> {
        let out = b.len();
        let f = if avg { 2 * out } else { out };
        let windows = codes.len() + 1 - win;
        let mut feats = vec![0f64; windows * strands * f];
        for i in 0..windows {
            // One-hot (None: N) of the padded window, per strand.
            let mut padded: Vec<Option<usize>> = vec![None; k - 1];
            padded.extend(
                codes[i..i + win]
                    .iter()
                    .map(|&c| (c < 4).then_some(c as usize)),
            );
            padded.extend(vec![None; k - 1]);
            for strand in 0..strands {
                let x: Vec<Option<usize>> = if strand == 0 {
                    padded.clone()
                } else {
                    padded.iter().rev().map(|c| c.map(|c| 3 - c)).collect()
                };
                for o in 0..out {
                    let (mut best, mut sum) = (f64::NEG_INFINITY, 0.0);
                    let placements = x.len() + 1 - k;
                    for a in 0..placements {
                        let mut v = b[o] as f64;
                        for j in 0..k {
                            let tap = |c: usize| w[(o * 4 + c) * k + j] as f64;
                            v += match x[a + j] {
                                Some(c) => tap(c),
                                None => 0.25 * (0..4).map(tap).sum::<f64>(),
                            };
                        }
                        let v = v.max(0.0);
                        best = best.max(v);
                        sum += v;
                    }
                    let at = (i * strands + strand) * f;
                    feats[at + o] = best;
                    if avg {
                        feats[at + out + o] = sum / placements as f64;
                    }
                }
            }
        }
        feats
    }

    /// Filters of many shapes (detectors in one, two and three registers, more than one
    /// block; 2 to 9 taps), both strands or one, max or max-and-mean pooling, windows shorter
    /// than the filter, as long, and longer, over sequences with N's: the scan gives the
    /// definition's features up to the fixed point's rounding, on the AVX2 path and the plain
    /// one alike (bit for bit).
    #[test]
    fn scan_matches_the_definition_on_both_paths() {
        let mut case = 0;
        for (out, k) in [(1, 2), (3, 4), (5, 3), (16, 9), (20, 5)] {
            for avg in [false, true] {
                for strands in [1, 2] {
                    case += 1;
                    let (w, b) = filters(case, out, k);
                    let scan = Scan::new(&w, Some(&b), out, k, avg, strands == 2);
                    for (len, win) in [(0, 0), (1, 1), (3, 3), (7, 7), (30, 7), (31, 12), (40, 40)]
                    {
                        let c = codes(case * 100 + len as u64, len);
                        let want = definition(&w, &b, k, avg, strands, &c, win);
                        let mut work = ScanWork::default();
                        let got = scan.features(&c, win, &mut work).to_vec();
                        assert_eq!(got.len(), want.len());
                        for (n, (g, e)) in got.iter().zip(&want).enumerate() {
                            assert!(
                                (*g as f64 - e).abs() <= 1e-5 * (1.0 + e.abs()),
                                "out {out} k {k} avg {avg} strands {strands} len {len} w {win}: \
                                 feature {n}: {g} against {e}"
                            );
                        }
                        PLAIN.set(true);
                        let plain = scan.features(&c, win, &mut ScanWork::default()).to_vec();
                        PLAIN.set(false);
                        assert_eq!(plain, got, "plain path, out {out} k {k} len {len} w {win}");
                    }
                }
            }
        }
    }

    /// The head's layers give, for every row, each output summed in input order from its bias
    /// with fused multiply-adds, bit for bit, on either path.
    #[test]
    fn head_rows_are_sums_in_input_order() {
        let mut r = rng::seeded(5);
        let mut v =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng::uniform(&mut r, -1.0, 1.0)).collect() };
        for (inputs, hidden) in [(16, 32), (32, 32), (12, 0), (9, 5), (32, 40)] {
            let mut head = Head::new(inputs);
            let (w1, b1) = (v(hidden.max(1) * inputs), v(hidden.max(1)));
            head.linear(&w1, Some(&b1), hidden.max(1));
            let (w2, b2) = (v(hidden), v(1));
            if hidden > 0 {
                head.relu();
                head.linear(&w2, Some(&b2), 1);
            }
            for n in [1, 2, 7, 8, 9, 65, 130] {
                let x = v(n * inputs);
                let mut y = vec![0f32; n];
                head.forward(&x, &mut y);
                let mut y_plain = vec![0f32; n];
                PLAIN.set(true);
                head.forward(&x, &mut y_plain);
                PLAIN.set(false);
                assert_eq!(y, y_plain, "inputs {inputs} hidden {hidden} rows {n}");
                for (row, &got) in x.chunks(inputs).zip(&y) {
                    let units = hidden.max(1);
                    let h: Vec<f32> = (0..units)
                        .map(|u| {
                            (0..inputs).fold(b1[u], |z, i| row[i].mul_add(w1[u * inputs + i], z))
                        })
                        .collect();
                    let want = if hidden == 0 {
                        h[0]
                    } else {
                        (0..hidden).fold(b2[0], |z, u| h[u].max(0.0).mul_add(w2[u], z))
                    };
                    assert_eq!(got, want, "inputs {inputs} hidden {hidden} rows {n}");
                }
            }
        }
    }
}
