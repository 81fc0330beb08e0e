//! Per-thread scratch buffers for the kernels (unfolded columns, gathered gradients): taken for
//! one call and given back, so a training loop does not allocate, page-fault and free megabytes of
//! scratch per layer per step.
//!
//! Contents are not cleared: a kernel writes every element it later reads.

use std::cell::RefCell;

/// Buffers kept per thread, and the most floats kept in them; beyond that a buffer is freed
/// (peak memory stays bounded by what one layer's call needs).
const KEEP: usize = 4;
const KEEP_FLOATS: usize = 16 << 20;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of exactly `len` floats (unspecified contents), from this thread's pool when it has
/// one.
pub fn take(len: usize) -> Vec<f32> {
    let mut v = POOL
        .with(|p| {
            let mut p = p.borrow_mut();
            // The smallest kept buffer that is large enough, else the largest (grown below).
            let best = (0..p.len())
                .filter(|&i| p[i].capacity() >= len)
                .min_by_key(|&i| p[i].capacity())
                .or_else(|| (0..p.len()).max_by_key(|&i| p[i].capacity()));
            best.map(|i| p.swap_remove(i))
        })
        .unwrap_or_default();
    // Shrinking truncates; growing writes zeros into the new part only.
    v.resize(len, 0.0);
    v
}

/// Returns a buffer from [`take`] to this thread's pool.
pub fn give(v: Vec<f32>) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let kept: usize = p.iter().map(Vec::capacity).sum();
        if p.len() < KEEP && kept + v.capacity() <= KEEP_FLOATS {
            p.push(v);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_sized() {
        let a = take(1000);
        assert_eq!(a.len(), 1000);
        let ptr = a.as_ptr();
        give(a);
        let b = take(500);
        assert_eq!(b.len(), 500);
        assert_eq!(b.as_ptr(), ptr, "the kept buffer is reused");
        give(b);
        let c = take(2000);
        assert_eq!(c.len(), 2000);
        give(c);
    }
}
