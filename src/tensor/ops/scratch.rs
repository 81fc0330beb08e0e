//! Per-thread scratch buffers for the kernels (unfolded columns, gathered gradients): taken for
//! one call and handed back when dropped, so a training loop does not allocate, page-fault, zero
//! and free megabytes of scratch per layer per step.
//!
//! Contents are unspecified: a kernel writes every element it later reads.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Buffers kept per thread, and the most floats kept in them; beyond that a buffer is freed
/// (peak memory stays bounded by what one layer's call needs).
const KEEP: usize = 4;
const KEEP_FLOATS: usize = 16 << 20;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A scratch buffer of a given length; goes back to its thread's pool when dropped.
pub struct Scratch {
    buf: Vec<f32>,
    len: usize,
}

impl Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[..self.len]
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[..self.len]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        // `try_with`: during thread teardown the pool may already be gone; the buffer is freed.
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            let kept: usize = p.iter().map(Vec::len).sum();
            if p.len() < KEEP && kept + buf.len() <= KEEP_FLOATS {
                p.push(buf);
            }
        });
    }
}

/// A buffer of `len` floats (unspecified contents), from this thread's pool when it has one.
/// Kept buffers stay at their full length, so taking one never clears memory; only growing a
/// buffer writes (zeros into the new part).
pub fn take(len: usize) -> Scratch {
    let mut buf = POOL
        .try_with(|p| {
            let mut p = p.borrow_mut();
            // The smallest kept buffer that is large enough, else the largest (grown below).
            let best = (0..p.len())
                .filter(|&i| p[i].len() >= len)
                .min_by_key(|&i| p[i].len())
                .or_else(|| (0..p.len()).max_by_key(|&i| p[i].len()));
            best.map(|i| p.swap_remove(i))
        })
        .ok()
        .flatten()
        .unwrap_or_default();
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    Scratch { buf, len }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_sized() {
        let a = take(1000);
        assert_eq!(a.len(), 1000);
        let ptr = a.as_ptr();
        drop(a);
        let b = take(500);
        assert_eq!(b.len(), 500);
        assert_eq!(b.as_ptr(), ptr, "the kept buffer is reused");
        let c = take(2000);
        assert_eq!(c.len(), 2000);
        assert_ne!(c.as_ptr(), ptr, "a buffer in use is not handed out twice");
    }
}
