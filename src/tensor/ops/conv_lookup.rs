//! Convolution of one-hot input by table lookup, for layers with few input channels (the first
//! layer of every DNA network: 4 channels, one of them 1 per position).
//!
//! With a one-hot column at position `j`, tap `t` of every output channel adds the weight
//! `w[:, base(j), t]`, so an output position is the sum of `K` rows of a table
//! `[K][C_in][C_out]` (the weights transposed), no multiplication at all: a quarter of the
//! arithmetic of the dense product and none of the unfolding. The im2col + GEMM path ran these
//! layers far below the machine's peak because their product is only `4 * K` deep (DeepSEA's first
//! layer at 19% of peak; DeepBind's whole network is this layer). Columns that are all zero
//! (padding) add nothing; any other column (N = 0.25, or any real-valued input) adds
//! `sum_c x[c, j] * w[:, c, t]`, so every input gives the convolution's exact definition.
//!
//! The weight gradient is the same walk in reverse: `dw[:, base(j), t] += dy[:, p]`.
//!
//! Positions are accumulated with the output channels contiguous, in registers, one block of
//! channels at a time; the caller transposes the result into the `[C_out, L_out]` layout.

use super::conv::Conv1dGeom;
use super::pool::Pool1dGeom;
use std::ops::Range;

/// The most input channels for which the lookup kernel is used. Measured on the DeepSEA, DeepBind
/// and dilated first layers (4 channels): 5-20x faster than im2col + GEMM. Wider inputs are
/// hidden layers, dense, and the GEMM's territory.
pub(super) const MAX_CHANNELS: usize = 4;

/// Output channels are padded to a multiple of this in the table and the position-major buffers.
pub(super) const LANES: usize = 8;

/// `c_out` rounded up to [`LANES`].
pub(super) fn padded(c_out: usize) -> usize {
    c_out.div_ceil(LANES) * LANES
}

/// Rows per tap in the table: one per input channel, then a row of zeros (what zero columns,
/// and the other columns before their correction, look up).
fn rows(c_in: usize) -> usize {
    c_in + 1
}

/// The weights `w [C_out, C_in, K]` as `[K][C_in + 1][C_pad]` (zeros in the padding channels and
/// in each tap's last row).
pub(super) fn table(w: &[f32], c_out: usize, c_in: usize, k: usize) -> Vec<f32> {
    let cp = padded(c_out);
    let mut t = vec![0.0f32; k * rows(c_in) * cp];
    for o in 0..c_out {
        for c in 0..c_in {
            for kk in 0..k {
                t[(kk * rows(c_in) + c) * cp + o] = w[(o * c_in + c) * k + kk];
            }
        }
    }
    t
}

/// A table-layout gradient ([`table_len`] floats), zeroed.
pub(super) fn table_len(c_out: usize, c_in: usize, k: usize) -> usize {
    k * rows(c_in) * padded(c_out)
}

/// The inverse of [`table`]'s layout, added: `dw [C_out, C_in, K] += t`.
pub(super) fn add_untable(t: &[f32], c_out: usize, c_in: usize, k: usize, dw: &mut [f32]) {
    let cp = padded(c_out);
    for o in 0..c_out {
        for c in 0..c_in {
            for kk in 0..k {
                dw[(o * c_in + c) * k + kk] += t[(kk * rows(c_in) + c) * cp + o];
            }
        }
    }
}

/// Shapes of one sample's convolution.
#[derive(Clone, Copy)]
pub(super) struct Shape {
    pub c_in: usize,
    pub l: usize,
    pub k: usize,
    pub l_out: usize,
    pub c_out: usize,
}

/// One sample's columns: each column's row in a tap of the table (its one-hot channel's, else the
/// zero row) and the columns that are neither one-hot nor zero, which get a correction pass.
#[derive(Default)]
pub(super) struct Columns {
    row: Vec<u32>,
    other: Vec<usize>,
    /// Per column: the index of the channel holding 1.0, the number of ones, of non-zeros.
    hot: Vec<u32>,
    ones: Vec<u32>,
    nonzero: Vec<u32>,
}

impl Columns {
    /// Reads the columns of one sample `x [C_in, L]`.
    pub(super) fn read(&mut self, x: &[f32], s: &Shape) {
        let (c_in, l) = (s.c_in, s.l);
        let cp = padded(s.c_out) as u32;
        self.row.resize(l, 0);
        self.other.clear();
        // Branch-free per column, over whole channel rows at a time (which vectorises): the
        // index of the channel holding 1.0, the number of ones and of non-zeros.
        for v in [&mut self.hot, &mut self.ones, &mut self.nonzero] {
            v.clear();
            v.resize(l, 0);
        }
        let (hot, ones, nonzero) = (&mut self.hot, &mut self.ones, &mut self.nonzero);
        for c in 0..c_in {
            let xc = &x[c * l..(c + 1) * l];
            for (((h, o), z), &v) in hot
                .iter_mut()
                .zip(ones.iter_mut())
                .zip(nonzero.iter_mut())
                .zip(xc)
            {
                let one = u32::from(v == 1.0);
                *h += c as u32 * one;
                *o += one;
                *z += u32::from(v != 0.0);
            }
        }
        let mut any_other = false;
        for (((r, &h), &o), &z) in self
            .row
            .iter_mut()
            .zip(hot.iter())
            .zip(ones.iter())
            .zip(nonzero.iter())
        {
            let one_hot = o == 1 && z == 1;
            *r = if one_hot { h * cp } else { c_in as u32 * cp };
            any_other |= z != 0 && !one_hot;
        }
        if any_other {
            for (j, (&o, &z)) in ones.iter().zip(nonzero.iter()).enumerate() {
                if z != 0 && !(o == 1 && z == 1) {
                    self.other.push(j);
                }
            }
        }
    }
}

/// The taps `t0..t1` of output position `p` that read inside the input (the others read padding).
#[inline(always)]
fn taps(p: usize, s: &Shape, g: &Conv1dGeom) -> (usize, usize) {
    let base = (p * g.stride) as isize - g.pad_left as isize;
    let d = g.dilation as isize;
    let t0 = if base >= 0 {
        0
    } else {
        ((-base + d - 1) / d) as usize
    };
    let last = s.l as isize - 1 - base;
    let t1 = if last < 0 {
        0
    } else {
        ((last / d) as usize + 1).min(s.k)
    };
    (t0, t1.max(t0))
}

/// The output positions `lo..hi` whose taps all read inside the input.
fn interior(s: &Shape, g: &Conv1dGeom) -> (usize, usize) {
    let lo = g.pad_left.div_ceil(g.stride).min(s.l_out);
    // Position p is inside when p * stride - pad_left + (K - 1) * dilation <= L - 1.
    let reach = g.pad_left + s.l;
    let span = (s.k - 1) * g.dilation + 1;
    let hi = if reach >= span {
        ((reach - span) / g.stride + 1).min(s.l_out)
    } else {
        0
    };
    (lo, hi.max(lo))
}

/// The `(tap, output position)` pairs that read input column `j`.
fn readers(j: usize, s: &Shape, g: &Conv1dGeom) -> impl Iterator<Item = (usize, usize)> {
    (0..s.k).filter_map(move |t| {
        let q = (j + g.pad_left).checked_sub(t * g.dilation)?;
        (q % g.stride == 0 && q / g.stride < s.l_out).then_some((t, q / g.stride))
    })
}

/// One sample's convolution without bias at the output positions `ps`, position-major:
/// `out [ps.len()][C_pad]`.
pub(super) fn forward(
    x: &[f32],
    cols: &Columns,
    table: &[f32],
    s: &Shape,
    g: &Conv1dGeom,
    ps: Range<usize>,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { forward_avx2(x, cols, table, s, g, ps, out) };
    }
    forward_impl(x, cols, table, s, g, ps, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn forward_avx2(
    x: &[f32],
    cols: &Columns,
    table: &[f32],
    s: &Shape,
    g: &Conv1dGeom,
    ps: Range<usize>,
    out: &mut [f32],
) {
    forward_impl(x, cols, table, s, g, ps, out)
}

#[inline(always)]
/// The blocks of output channels (of `cp`, a multiple of [`LANES`]) the kernels take in turn:
/// `(first channel, width)`, 32 wide while 32 remain, then 16, then [`LANES`].
fn channel_blocks(cp: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut cb = 0;
    std::iter::from_fn(move || {
        let width = match cp.checked_sub(cb)? {
            0 => return None,
            32.. => 32,
            16.. => 16,
            _ => LANES,
        };
        cb += width;
        Some((cb - width, width))
    })
}

fn forward_impl(
    x: &[f32],
    cols: &Columns,
    table: &[f32],
    s: &Shape,
    g: &Conv1dGeom,
    ps: Range<usize>,
    out: &mut [f32],
) {
    // Each tap's add depends on the previous one into the same register, so a single position
    // would wait on the add's latency at every tap: positions go in tiles of P with B channels,
    // P * B / 8 independent registers (8 with these sizes).
    let cp = padded(s.c_out);
    for (cb, width) in channel_blocks(cp) {
        match width {
            32 => forward_block::<2, 32>(&cols.row, table, s, g, ps.clone(), out, cb),
            16 => forward_block::<4, 16>(&cols.row, table, s, g, ps.clone(), out, cb),
            _ => forward_block::<8, LANES>(&cols.row, table, s, g, ps.clone(), out, cb),
        }
    }
    // The other columns looked up zeros; add what they contribute.
    let tap_len = rows(s.c_in) * cp;
    for &j in &cols.other {
        for (t, p) in readers(j, s, g).filter(|(_, p)| ps.contains(p)) {
            let p = p - ps.start;
            let o = &mut out[p * cp..(p + 1) * cp];
            for c in 0..s.c_in {
                let v = x[c * s.l + j];
                let r = &table[t * tap_len + c * cp..][..cp];
                for (a, &w) in o.iter_mut().zip(r) {
                    *a += v * w;
                }
            }
        }
    }
}

/// Channels `cb..cb + B` of the output positions `ps`: interior positions in tiles of `P`, the
/// others (which read padding) one at a time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward_block<const P: usize, const B: usize>(
    row: &[u32],
    table: &[f32],
    s: &Shape,
    g: &Conv1dGeom,
    ps: Range<usize>,
    out: &mut [f32],
    cb: usize,
) {
    let cp = padded(s.c_out);
    let (lo, hi) = interior(s, g);
    let hi = hi.min(ps.end);
    let mut p = ps.start;
    while p < ps.end {
        let (n, range) = if p >= lo && p + P <= hi {
            (P, (0, s.k))
        } else {
            (1, taps(p, s, g))
        };
        let acc = accumulate::<P, B>(row, table, s, g, p, n, cb, range);
        for (q, a) in acc.iter().take(n).enumerate() {
            out[(p + q - ps.start) * cp + cb..][..B].copy_from_slice(a);
        }
        p += n;
    }
}

/// Channels `cb..cb + B` of positions `p..p + n` (`n` is `P` or 1), over the taps `t0..t1`
/// (in range for all of them).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn accumulate<const P: usize, const B: usize>(
    row: &[u32],
    table: &[f32],
    s: &Shape,
    g: &Conv1dGeom,
    p: usize,
    n: usize,
    cb: usize,
    (t0, t1): (usize, usize),
) -> [[f32; B]; P] {
    let cp = padded(s.c_out);
    let tap_len = rows(s.c_in) * cp;
    let mut acc = [[0.0f32; B]; P];
    for t in t0..t1 {
        let j0 = p * g.stride + t * g.dilation - g.pad_left;
        let tap = &table[t * tap_len + cb..(t + 1) * tap_len];
        if n == P {
            for (q, a) in acc.iter_mut().enumerate() {
                let r: &[f32; B] = tap[row[j0 + q * g.stride] as usize..][..B]
                    .try_into()
                    .expect("B");
                for i in 0..B {
                    a[i] += r[i];
                }
            }
        } else {
            let r: &[f32; B] = tap[row[j0] as usize..][..B].try_into().expect("B");
            for i in 0..B {
                acc[0][i] += r[i];
            }
        }
    }
    acc
}

/// Adds one sample's weight gradient, in table layout, to `dt` ([`table_len`] floats), from the
/// gradient of the output, position-major `dy [L_out][C_pad]`.
pub(super) fn weight_grad(
    x: &[f32],
    cols: &Columns,
    dy: &[f32],
    s: &Shape,
    g: &Conv1dGeom,
    dt: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { weight_grad_avx2(x, cols, dy, s, g, dt) };
    }
    weight_grad_impl(x, cols, dy, s, g, dt)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn weight_grad_avx2(
    x: &[f32],
    cols: &Columns,
    dy: &[f32],
    s: &Shape,
    g: &Conv1dGeom,
    dt: &mut [f32],
) {
    weight_grad_impl(x, cols, dy, s, g, dt)
}

#[inline(always)]
fn weight_grad_impl(
    x: &[f32],
    cols: &Columns,
    dy: &[f32],
    s: &Shape,
    g: &Conv1dGeom,
    dt: &mut [f32],
) {
    let cp = padded(s.c_out);
    for (cb, width) in channel_blocks(cp) {
        match width {
            32 => weight_grad_block::<32>(&cols.row, dy, s, g, dt, cb),
            16 => weight_grad_block::<16>(&cols.row, dy, s, g, dt, cb),
            _ => weight_grad_block::<LANES>(&cols.row, dy, s, g, dt, cb),
        }
    }
    // The other columns added into the zero rows (never read back); their terms go here.
    let tap_len = rows(s.c_in) * cp;
    for &j in &cols.other {
        for (t, p) in readers(j, s, g) {
            let d = &dy[p * cp..(p + 1) * cp];
            for c in 0..s.c_in {
                let v = x[c * s.l + j];
                let r = &mut dt[t * tap_len + c * cp..][..cp];
                for (a, &gv) in r.iter_mut().zip(d) {
                    *a += v * gv;
                }
            }
        }
    }
}

/// Channels `cb..cb + B`: `dt[t][row(j)] += dy[p]` for every tap `t` of every position `p`.
/// Consecutive taps update different rows, so the read-modify-writes do not wait on each other.
#[inline(always)]
fn weight_grad_block<const B: usize>(
    row: &[u32],
    dy: &[f32],
    s: &Shape,
    g: &Conv1dGeom,
    dt: &mut [f32],
    cb: usize,
) {
    let cp = padded(s.c_out);
    let tap_len = rows(s.c_in) * cp;
    for p in 0..s.l_out {
        let (t0, t1) = taps(p, s, g);
        let d: [f32; B] = dy[p * cp + cb..][..B].try_into().expect("B");
        for t in t0..t1 {
            let j = p * g.stride + t * g.dilation - g.pad_left;
            let r: &mut [f32; B] = (&mut dt[t * tap_len + cb + row[j] as usize..][..B])
                .try_into()
                .expect("B");
            for i in 0..B {
                r[i] += d[i];
            }
        }
    }
}

/// The convolution output positions the pooling windows `ts` read.
pub(super) fn window_span(ts: Range<usize>, pool: &Pool1dGeom, l_out: usize) -> Range<usize> {
    if ts.is_empty() {
        return 0..0;
    }
    pool.window(ts.start, l_out).start..pool.window(ts.end - 1, l_out).end
}

/// Bias, optional ReLU and max pooling for the windows `ts` of one sample, from its
/// position-major output `pm [positions][C_pad]` (row 0 is position `p0`; the rows cover
/// [`window_span`]) into `y [C_out, L_y]` with the argmax positions `arg [C_out, L_y]` (indices
/// into the convolution's output row): what the channel-major epilogue and `max_pool_row` give
/// (the first maximum; a NaN wins), without transposing the unpooled output. `bias` has `C_pad`
/// entries.
#[allow(clippy::too_many_arguments)]
pub(super) fn bias_relu_pool(
    pm: &[f32],
    p0: usize,
    bias: &[f32],
    relu: bool,
    pool: &Pool1dGeom,
    s: &Shape,
    ts: Range<usize>,
    y: &mut [f32],
    arg: &mut [u32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { bias_relu_pool_avx2(pm, p0, bias, relu, pool, s, ts, y, arg) };
    }
    bias_relu_pool_impl(pm, p0, bias, relu, pool, s, ts, y, arg)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn bias_relu_pool_avx2(
    pm: &[f32],
    p0: usize,
    bias: &[f32],
    relu: bool,
    pool: &Pool1dGeom,
    s: &Shape,
    ts: Range<usize>,
    y: &mut [f32],
    arg: &mut [u32],
) {
    bias_relu_pool_impl(pm, p0, bias, relu, pool, s, ts, y, arg)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn bias_relu_pool_impl(
    pm: &[f32],
    p0: usize,
    bias: &[f32],
    relu: bool,
    pool: &Pool1dGeom,
    s: &Shape,
    ts: Range<usize>,
    y: &mut [f32],
    arg: &mut [u32],
) {
    let cp = padded(s.c_out);
    let l_y = y.len() / s.c_out.max(1);
    // A block of LANES channels at a time: the block's running maximum and its position stay in
    // registers, and each channel's outputs are written in runs.
    for cb in (0..cp).step_by(LANES) {
        let bias: [f32; LANES] = bias[cb..cb + LANES].try_into().expect("LANES");
        let lanes = LANES.min(s.c_out.saturating_sub(cb));
        for t in ts.clone() {
            let w = pool.window(t, s.l_out);
            let mut best = [f32::NEG_INFINITY; LANES];
            let mut at = [w.start as u32; LANES];
            for p in w {
                let row: &[f32; LANES] =
                    pm[(p - p0) * cp + cb..][..LANES].try_into().expect("LANES");
                for i in 0..LANES {
                    let v = if relu {
                        (row[i] + bias[i]).max(0.0)
                    } else {
                        row[i] + bias[i]
                    };
                    let take = v > best[i] || (v.is_nan() && !best[i].is_nan());
                    best[i] = if take { v } else { best[i] };
                    at[i] = if take { p as u32 } else { at[i] };
                }
            }
            for i in 0..lanes {
                y[(cb + i) * l_y + t] = best[i];
                arg[(cb + i) * l_y + t] = at[i];
            }
        }
    }
}

/// Positions per tile of the transpositions below: a tile's rows of the position-major side stay
/// in L1 while each channel's run of positions is read or written contiguously.
const TILE: usize = 16;

/// Writes position-major `pm [L_out][C_pad]` channel-major into `out [C_out][ld]` at column `at`.
pub(super) fn to_channel_major(
    pm: &[f32],
    c_out: usize,
    l_out: usize,
    out: &mut [f32],
    ld: usize,
    at: usize,
) {
    let cp = padded(c_out);
    for p0 in (0..l_out).step_by(TILE) {
        let p1 = (p0 + TILE).min(l_out);
        for o in 0..c_out {
            let dst = &mut out[o * ld + at + p0..o * ld + at + p1];
            for (p, d) in (p0..p1).zip(dst) {
                *d = pm[p * cp + o];
            }
        }
    }
}

/// Reads channel-major `src [C_out][ld]` from column `at` into position-major
/// `pm [L_out][C_pad]` (zeros in the padding channels).
pub(super) fn to_position_major(
    src: &[f32],
    c_out: usize,
    l_out: usize,
    ld: usize,
    at: usize,
    pm: &mut [f32],
) {
    let cp = padded(c_out);
    for p0 in (0..l_out).step_by(TILE) {
        let p1 = (p0 + TILE).min(l_out);
        for o in 0..c_out {
            let run = &src[o * ld + at + p0..o * ld + at + p1];
            for (p, &v) in (p0..p1).zip(run) {
                pm[p * cp + o] = v;
            }
        }
        for p in p0..p1 {
            pm[p * cp + c_out..(p + 1) * cp].fill(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_mark_one_hot_zero_and_other_columns() {
        // Columns: A, C, zero, N (0.25 each), G, 2.0 in T, 1.0 in two channels.
        let x: Vec<f32> = [
            [1.0, 0.0, 0.0, 0.25, 0.0, 0.0, 1.0],
            [0.0, 1.0, 0.0, 0.25, 0.0, 0.0, 1.0],
            [0.0, 0.0, 0.0, 0.25, 1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.25, 0.0, 2.0, 0.0],
        ]
        .concat();
        let s = Shape {
            c_in: 4,
            l: 7,
            k: 1,
            l_out: 7,
            c_out: 3,
        };
        let mut c = Columns::default();
        c.read(&x, &s);
        // Rows are multiples of the padded width (8); 4 is the zero row.
        assert_eq!(c.row, [0, 8, 32, 32, 16, 32, 32]);
        assert_eq!(c.other, [3, 5, 6]);
    }

    #[test]
    fn taps_skip_padding_on_both_sides() {
        let s = Shape {
            c_in: 4,
            l: 10,
            k: 5,
            l_out: 0,
            c_out: 1,
        };
        let g = Conv1dGeom {
            stride: 1,
            pad_left: 2,
            pad_right: 2,
            dilation: 1,
        };
        assert_eq!(taps(0, &s, &g), (2, 5));
        assert_eq!(taps(4, &s, &g), (0, 5));
        assert_eq!(taps(9, &s, &g), (0, 3));
        let g = Conv1dGeom {
            stride: 2,
            pad_left: 3,
            pad_right: 0,
            dilation: 2,
        };
        // p = 0 reads -3, -1, 1, 3, 5.
        assert_eq!(taps(0, &s, &g), (2, 5));
        // p = 6 reads 9, 11, ...
        assert_eq!(taps(6, &s, &g), (0, 1));
    }
}
