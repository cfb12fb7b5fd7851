//! Keep freed tensor memory in the process (glibc).
//!
//! A training step allocates and frees the same large buffers every step (activations, gradients). glibc
//! serves blocks above its mmap threshold (at most 32 MiB, adapted at run time) with fresh mappings and
//! trims the heap top above its trim threshold, so each step gets pages from the kernel again and
//! zero-fills them: page faults were 20% of a TFT step (docs/performance.md). Fixing both thresholds high
//! makes freed blocks reused; the resident set stays at the step's peak, which a training process reaches
//! anyway. `WRT_MALLOC_TUNING=0` keeps glibc's defaults; other C libraries are left alone.

use std::sync::Once;

static TUNE: Once = Once::new();

/// Apply the setting once per process (called where tensor storage is allocated; a no-op after the first).
#[inline]
pub fn keep_freed_memory() {
    TUNE.call_once(|| {
        if std::env::var("WRT_MALLOC_TUNING").is_ok_and(|v| v == "0") {
            return;
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes glibc's allocation policy; it is safe to call at any time.
        unsafe {
            const GIB: libc::c_int = 1 << 30;
            libc::mallopt(libc::M_MMAP_THRESHOLD, GIB);
            libc::mallopt(libc::M_TRIM_THRESHOLD, GIB);
        }
    });
}
