//! Pick the micro-kernel once per element type (sarah-quinones/gemm's `init_gemm_fn` idea with a
//! `OnceLock`): the best ISA this CPU has, AVX-512F, then AVX2+FMA, then the portable kernel.
//!
//! `WRT_GEMM_KERNEL=scalar|avx2|avx512|avx512bf16` forces a kernel (when the CPU has it), for benchmarks
//! and for comparing results across ISAs; it is read once, at the first GEMM of each type.

use std::sync::OnceLock;

use super::kernel::scalar::Scalar;
use super::kernel::GemmKernel;
use super::loops::{gemm_packed, Job};

/// A whole packed GEMM bound to one micro-kernel: `run(job, threads)`.
///
/// # Safety
/// As [`gemm_packed`]: the job's strides address only elements inside its operands.
pub type PackedGemm<I, T = I> = unsafe fn(&Job<I, T>, usize);

/// The kernel chosen for one operand type `I` accumulating into `T`.
#[derive(Clone, Copy, Debug)]
pub struct Choice<I: 'static, T: 'static = I> {
    pub name: &'static str,
    pub run: PackedGemm<I, T>,
}

fn choice<K: GemmKernel>() -> Choice<K::In, K::Elem> {
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

/// Whether the CPU has the AVX512_BF16 dot-product kernel (and `WRT_GEMM_KERNEL` does not force
/// another): bf16 GEMMs then run on it, otherwise their operands are widened to f32.
pub fn has_bf16_kernel() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use super::kernel::avx512_bf16::Avx512Bf16;
            forced().as_deref().is_none_or(|w| w == "avx512bf16") && Avx512Bf16::<half::bf16>::is_supported()
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

/// The dot-product GEMM over operands of type `I` (bf16, or f32 rounded while packing).
#[cfg(target_arch = "x86_64")]
pub fn bf16_gemm<I: super::kernel::avx512_bf16::ToBf16>() -> Option<Choice<I, f32>> {
    has_bf16_kernel().then(choice::<super::kernel::avx512_bf16::Avx512Bf16<I>>)
}

/// Name of the micro-kernel `gemm::<T>` runs on this CPU (`"naive"` for types without one).
pub fn kernel_name<T: super::GemmElem>() -> &'static str {
    T::packed_gemm().map_or("naive", |c| c.name)
}
