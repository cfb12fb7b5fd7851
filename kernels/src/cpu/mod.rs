//! CPU kernels: rayon for parallelism, `std::arch` SIMD chosen once at run time, scalar fallback.

pub mod activation;
pub mod attention;
/// `fn $name(isa: Isa, args..)` running `$generic::<V>(args..)` with V the vector type of `isa`, through
/// `#[target_feature]` wrappers; the scalar path instantiates it with `f32`. `$generic` is an `unsafe fn`
/// over raw rows; callers pass an `isa` that came from run-time detection (`vmath::isa`), which makes the
/// wrappers sound. One definition instead of a hand-written wrapper per ISA per kernel.
macro_rules! simd_dispatch {
    ($(#[$m:meta])* fn $name:ident($($a:ident: $t:ty),* $(,)?) => $generic:ident) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        fn $name(isa: Isa, $($a: $t),*) {
            debug_assert!(available_isas().contains(&isa));
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v512($($a: $t),*) { unsafe { $generic::<Avx512>($($a),*) } }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v256($($a: $t),*) { unsafe { $generic::<Avx2>($($a),*) } }
                match isa {
                    // SAFETY: `isa` was detected on this CPU (see above).
                    Isa::Avx512 => return unsafe { v512($($a),*) },
                    Isa::Avx2 => return unsafe { v256($($a),*) },
                    Isa::Scalar => {}
                }
            }
            // SAFETY: the scalar instantiation needs no CPU feature; row bounds are the caller's.
            unsafe { $generic::<f32>($($a),*) }
        }
    };
}

pub mod conv;
pub mod convert;
pub mod elementwise;
pub mod gemm;
pub mod lstm;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod softmax;
pub mod vmath;
