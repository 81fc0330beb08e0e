//! Memory allocator settings for the command-line tool and the benchmarks.
//!
//! A training step or a prediction batch allocates the same activation arrays (megabytes each)
//! every time and frees them at its end. With glibc's defaults, arrays above the mmap threshold
//! (128 KiB, raised dynamically up to 32 MiB) are mapped fresh and unmapped when freed, and the
//! top of the heap is returned to the system: every step then takes a page fault per 4 KiB of
//! activation and the kernel zeroes each page. On the dilated network that was a fifth of a
//! training step (measured with `perf`). [`tune`] keeps freed memory in the process instead:
//! every block comes from the heap (no block is mapped on its own, whatever its size) and the
//! heap is not trimmed. Peak memory is about the same (it is the peak of what is live); what was
//! freed stays mapped for reuse.
//!
//! No mapping at any size matters for prediction: a batch of 256 windows of 1000 bp through 64
//! channels is a 65 MB array, over the largest threshold glibc allows (32 MiB), and with it
//! mapped afresh every batch page faults and zeroing took a tenth of `predict --tile` with the
//! `dilated` network, which runs about 1.45x faster without them (one thread, 2,000 bins; peak
//! RSS +7%).
//!
//! One heap for every thread: the worker threads' own arenas are heaps of at most 64 MiB,
//! unmapped when they empty, and an ensemble of two networks (arrays of other sizes in turn)
//! unmapped and faulted them back in every batch: 3.0 s of system time in 16 s of `eval`, 0.14 s
//! with one heap, and peak RSS 257 MB against 194 MB.

/// Applies the allocator settings (glibc only; elsewhere nothing). Call once, at start-up,
/// before the threads exist.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; it is called before any other
    // thread runs.
    unsafe {
        // No block is mapped on its own, every thread allocates from the one main heap, and
        // the heap is trimmed only above 1 GiB free at its top.
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
