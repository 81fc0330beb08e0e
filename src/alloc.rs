//! Memory allocator settings for the command-line tool and the benchmarks.
//!
//! A training step or a prediction batch allocates the same activation arrays (megabytes each)
//! every time and frees them at its end. With glibc's defaults, arrays above the mmap threshold
//! (128 KiB, raised dynamically up to 32 MiB) are mapped fresh and unmapped when freed, and the
//! top of the heap is returned to the system: every step then takes a page fault per 4 KiB of
//! activation and the kernel zeroes each page. On the dilated network that was a fifth of a
//! training step (measured with `perf`). [`tune`] keeps freed memory in the process instead:
//! blocks up to 32 MiB come from the heap and the heap is not trimmed. Peak memory is unchanged
//! (it is the peak of what is live); only what was freed stays mapped for reuse.

/// Applies the allocator settings (glibc only; elsewhere nothing). Call once, at start-up,
/// before the threads exist.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; it is called before any other
    // thread runs.
    unsafe {
        // 32 MiB is glibc's largest mmap threshold on 64-bit.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
