//! Pick the micro-kernel once per element type (sarah-quinones/gemm's `init_gemm_fn` idea with a
//! `OnceLock`): the best ISA this CPU has, AVX-512F, then AVX2+FMA, then the portable kernel.
//!
//! `WRT_GEMM_KERNEL=scalar|avx2|avx512` forces a kernel (when the CPU has it), for benchmarks
//! and for comparing results across ISAs; it is read once, at the first GEMM of each type.

use std::sync::OnceLock;

use super::kernel::scalar::Scalar;
use super::kernel::GemmKernel;
use super::loops::{gemm_packed, Job};

/// A whole packed GEMM bound to one micro-kernel: `run(job, threads)`.
///
/// # Safety
/// As [`gemm_packed`]: the job's strides address only elements inside its operands.
pub type PackedGemm<T> = unsafe fn(&Job<T>, usize);

/// The kernel chosen for one element type.
#[derive(Clone, Copy, Debug)]
pub struct Choice<T: 'static> {
    pub name: &'static str,
    pub run: PackedGemm<T>,
}

fn choice<K: GemmKernel>() -> Choice<K::Elem> {
    Choice {
        name: K::NAME,
        run: gemm_packed::<K>,
    }
}

fn forced() -> Option<String> {
    std::env::var("WRT_GEMM_KERNEL").ok()
}

/// The f32 GEMM for this CPU.
pub fn f32_gemm() -> Choice<f32> {
    static CHOICE: OnceLock<Choice<f32>> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        let want = forced();
        let allow = |name: &str| want.as_deref().is_none_or(|w| w == name);
        #[cfg(target_arch = "x86_64")]
        {
            use super::kernel::{avx2::Avx2F32, avx512::Avx512F32};
            if allow("avx512") && Avx512F32::is_supported() {
                return choice::<Avx512F32>();
            }
            if allow("avx2") && Avx2F32::is_supported() {
                return choice::<Avx2F32>();
            }
        }
        let _ = allow;
        choice::<Scalar<f32>>()
    })
}

/// The f64 GEMM for this CPU (AVX2+FMA at best: f64 serves gradient checks, not throughput).
pub fn f64_gemm() -> Choice<f64> {
    static CHOICE: OnceLock<Choice<f64>> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use super::kernel::avx2::Avx2F64;
            if forced().as_deref() != Some("scalar") && Avx2F64::is_supported() {
                return choice::<Avx2F64>();
            }
        }
        choice::<Scalar<f64>>()
    })
}

/// Name of the micro-kernel `gemm::<T>` runs on this CPU (`"naive"` for types without one).
pub fn kernel_name<T: super::GemmElem>() -> &'static str {
    T::packed_gemm().map_or("naive", |c| c.name)
}
