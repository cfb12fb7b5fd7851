//! The small vector trait the math is written against, with scalar, AVX2 and AVX-512 impls.
//!
//! The methods are `#[inline(always)]` so that, once inlined into a
//! `#[target_feature(enable = ...)]` function, the intrinsics compile to plain instructions.
//! A vector value must only exist inside such a function (or after detection): the trait is
//! crate-private for that reason.

/// f32 SIMD register of `LANES` lanes. `min`/`max` follow x86 semantics: `a.min(b)` is
/// `if a < b { a } else { b }`, so a NaN in `b` (or in either) yields `b`; callers put the
/// constant first to propagate NaN.
pub(crate) trait Vf: Copy {
    type M: Copy;
    const LANES: usize;
    /// # Safety
    /// `p` valid for `LANES` reads.
    unsafe fn load(p: *const f32) -> Self;
    /// # Safety
    /// `p` valid for `LANES` writes.
    unsafe fn store(self, p: *mut f32);
    fn splat(x: f32) -> Self;
    fn add(self, b: Self) -> Self;
    fn sub(self, b: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    fn div(self, b: Self) -> Self;
    /// self * b + c (fused on SIMD paths, two roundings on scalar).
    fn fma(self, b: Self, c: Self) -> Self;
    fn min(self, b: Self) -> Self;
    fn max(self, b: Self) -> Self;
    fn abs(self) -> Self;
    fn neg(self) -> Self;
    /// Round to nearest integer, ties to even.
    fn round(self) -> Self;
    fn lt(self, b: Self) -> Self::M;
    fn eq(self, b: Self) -> Self::M;
    fn is_nan(self) -> Self::M;
    /// m ? a : b per lane.
    fn select(m: Self::M, a: Self, b: Self) -> Self;
    /// |self| with the sign of `s`.
    fn copysign(self, s: Self) -> Self;
    /// self * 2^n for integral n in [-150, 128], in two steps so that neither factor leaves
    /// the normal range (results may be subnormal or overflow to inf).
    fn scale2(self, n: Self) -> Self;
    /// self = m * 2^e with m in [0.5, 1), for positive normal self (e returned as float).
    fn frexp(self) -> (Self, Self);
    /// Exact product as hi + lo.
    fn two_prod(self, b: Self) -> (Self, Self);
    fn reduce_sum(self) -> f32;
    fn reduce_max(self) -> f32;
}

impl Vf for f32 {
    type M = bool;
    const LANES: usize = 1;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        *p
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        *p = self
    }
    #[inline(always)]
    fn splat(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        self + b
    }
    #[inline(always)]
    fn sub(self, b: Self) -> Self {
        self - b
    }
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        self * b
    }
    #[inline(always)]
    fn div(self, b: Self) -> Self {
        self / b
    }
    #[inline(always)]
    fn fma(self, b: Self, c: Self) -> Self {
        self * b + c
    }
    #[inline(always)]
    fn min(self, b: Self) -> Self {
        if self < b {
            self
        } else {
            b
        }
    }
    #[inline(always)]
    fn max(self, b: Self) -> Self {
        if self > b {
            self
        } else {
            b
        }
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    #[inline(always)]
    fn neg(self) -> Self {
        -self
    }
    #[inline(always)]
    fn round(self) -> Self {
        self.round_ties_even()
    }
    #[inline(always)]
    fn lt(self, b: Self) -> bool {
        self < b
    }
    #[inline(always)]
    fn eq(self, b: Self) -> bool {
        self == b
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    #[inline(always)]
    fn select(m: bool, a: Self, b: Self) -> Self {
        if m {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    fn copysign(self, s: Self) -> Self {
        f32::copysign(self, s)
    }
    #[inline(always)]
    fn scale2(self, n: Self) -> Self {
        let n = n as i32; // NaN -> 0: the NaN is carried by self
        let n1 = n >> 1;
        let n2 = n - n1;
        let p1 = f32::from_bits(((n1 + 127) as u32) << 23);
        let p2 = f32::from_bits(((n2 + 127) as u32) << 23);
        self * p1 * p2
    }
    #[inline(always)]
    fn frexp(self) -> (Self, Self) {
        let b = self.to_bits();
        let e = ((b >> 23) & 0xff) as i32 - 126;
        (f32::from_bits((b & 0x807f_ffff) | 0x3f00_0000), e as f32)
    }
    #[inline(always)]
    fn two_prod(self, b: Self) -> (Self, Self) {
        // A product of two f32 is exact in f64.
        let p = self as f64 * b as f64;
        let hi = p as f32;
        (hi, (p - hi as f64) as f32)
    }
    #[inline(always)]
    fn reduce_sum(self) -> f32 {
        self
    }
    #[inline(always)]
    fn reduce_max(self) -> f32 {
        self
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Vf;
    use std::arch::x86_64::*;

    const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

    /// 8 lanes, AVX2 + FMA.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2(pub __m256);

    // SAFETY (all unsafe blocks below): an Avx2 value exists only inside code compiled for and
    // running on a CPU with AVX2 + FMA (see the module doc).
    impl Vf for Avx2 {
        type M = __m256;
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            Avx2(_mm256_loadu_ps(p))
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            _mm256_storeu_ps(p, self.0)
        }
        #[inline(always)]
        fn splat(x: f32) -> Self {
            unsafe { Avx2(_mm256_set1_ps(x)) }
        }
        #[inline(always)]
        fn add(self, b: Self) -> Self {
            unsafe { Avx2(_mm256_add_ps(self.0, b.0)) }
        }
        #[inline(always)]
        fn sub(self, b: Self) -> Self {
            unsafe { Avx2(_mm256_sub_ps(self.0, b.0)) }
        }
        #[inline(always)]
        fn mul(self, b: Self) -> Self {
            unsafe { Avx2(_mm256_mul_ps(self.0, b.0)) }
        }
        #[inline(always)]
        fn div(self, b: Self) -> Self {
            unsafe { Avx2(_mm256_div_ps(self.0, b.0)) }
        }
        #[inline(always)]
        fn fma(self, b: Self, c: Self) -> Self {
            unsafe { Avx2(_mm256_fmadd_ps(self.0, b.0, c.0)) }
        }
        #[inline(always)]
        fn min(self, b: Self) -> Self {
            unsafe { Avx2(_mm256_min_ps(self.0, b.0)) }
        }
        #[inline(always)]
        fn max(self, b: Self) -> Self {
            unsafe { Avx2(_mm256_max_ps(self.0, b.0)) }
        }
        #[inline(always)]
        fn abs(self) -> Self {
            unsafe {
                Avx2(_mm256_and_ps(
                    self.0,
                    _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff)),
                ))
            }
        }
        #[inline(always)]
        fn neg(self) -> Self {
            unsafe { Avx2(_mm256_xor_ps(self.0, _mm256_set1_ps(-0.0))) }
        }
        #[inline(always)]
        fn round(self) -> Self {
            unsafe { Avx2(_mm256_round_ps::<NEAREST>(self.0)) }
        }
        #[inline(always)]
        fn lt(self, b: Self) -> __m256 {
            unsafe { _mm256_cmp_ps::<_CMP_LT_OQ>(self.0, b.0) }
        }
        #[inline(always)]
        fn eq(self, b: Self) -> __m256 {
            unsafe { _mm256_cmp_ps::<_CMP_EQ_OQ>(self.0, b.0) }
        }
        #[inline(always)]
        fn is_nan(self) -> __m256 {
            unsafe { _mm256_cmp_ps::<_CMP_UNORD_Q>(self.0, self.0) }
        }
        #[inline(always)]
        fn select(m: __m256, a: Self, b: Self) -> Self {
            unsafe { Avx2(_mm256_blendv_ps(b.0, a.0, m)) }
        }
        #[inline(always)]
        fn copysign(self, s: Self) -> Self {
            unsafe {
                let sign = _mm256_set1_ps(-0.0);
                Avx2(_mm256_or_ps(
                    _mm256_andnot_ps(sign, self.0),
                    _mm256_and_ps(sign, s.0),
                ))
            }
        }
        #[inline(always)]
        fn scale2(self, n: Self) -> Self {
            unsafe {
                let n = _mm256_cvtps_epi32(n.0);
                let n1 = _mm256_srai_epi32::<1>(n);
                let n2 = _mm256_sub_epi32(n, n1);
                let bias = _mm256_set1_epi32(127);
                let p1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n1, bias)));
                let p2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n2, bias)));
                Avx2(_mm256_mul_ps(_mm256_mul_ps(self.0, p1), p2))
            }
        }
        #[inline(always)]
        fn frexp(self) -> (Self, Self) {
            unsafe {
                let b = _mm256_castps_si256(self.0);
                let e = _mm256_sub_epi32(
                    _mm256_and_si256(_mm256_srli_epi32::<23>(b), _mm256_set1_epi32(0xff)),
                    _mm256_set1_epi32(126),
                );
                let m = _mm256_or_si256(
                    _mm256_and_si256(b, _mm256_set1_epi32(0x807f_ffffu32 as i32)),
                    _mm256_set1_epi32(0x3f00_0000),
                );
                (Avx2(_mm256_castsi256_ps(m)), Avx2(_mm256_cvtepi32_ps(e)))
            }
        }
        #[inline(always)]
        fn two_prod(self, b: Self) -> (Self, Self) {
            let hi = self.mul(b);
            (hi, self.fma(b, hi.neg()))
        }
        #[inline(always)]
        fn reduce_sum(self) -> f32 {
            unsafe {
                let s = _mm_add_ps(
                    _mm256_castps256_ps128(self.0),
                    _mm256_extractf128_ps::<1>(self.0),
                );
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
                _mm_cvtss_f32(s)
            }
        }
        #[inline(always)]
        fn reduce_max(self) -> f32 {
            unsafe {
                let s = _mm_max_ps(
                    _mm256_castps256_ps128(self.0),
                    _mm256_extractf128_ps::<1>(self.0),
                );
                let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_max_ss(s, _mm_shuffle_ps::<1>(s, s));
                _mm_cvtss_f32(s)
            }
        }
    }

    /// 16 lanes, AVX-512F.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512(pub __m512);

    // SAFETY: as for Avx2, with AVX-512F.
    impl Vf for Avx512 {
        type M = __mmask16;
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            Avx512(_mm512_loadu_ps(p))
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            _mm512_storeu_ps(p, self.0)
        }
        #[inline(always)]
        fn splat(x: f32) -> Self {
            unsafe { Avx512(_mm512_set1_ps(x)) }
        }
        #[inline(always)]
        fn add(self, b: Self) -> Self {
            unsafe { Avx512(_mm512_add_ps(self.0, b.0)) }
        }
        #[inline(always)]
        fn sub(self, b: Self) -> Self {
            unsafe { Avx512(_mm512_sub_ps(self.0, b.0)) }
        }
        #[inline(always)]
        fn mul(self, b: Self) -> Self {
            unsafe { Avx512(_mm512_mul_ps(self.0, b.0)) }
        }
        #[inline(always)]
        fn div(self, b: Self) -> Self {
            unsafe { Avx512(_mm512_div_ps(self.0, b.0)) }
        }
        #[inline(always)]
        fn fma(self, b: Self, c: Self) -> Self {
            unsafe { Avx512(_mm512_fmadd_ps(self.0, b.0, c.0)) }
        }
        #[inline(always)]
        fn min(self, b: Self) -> Self {
            unsafe { Avx512(_mm512_min_ps(self.0, b.0)) }
        }
        #[inline(always)]
        fn max(self, b: Self) -> Self {
            unsafe { Avx512(_mm512_max_ps(self.0, b.0)) }
        }
        #[inline(always)]
        fn abs(self) -> Self {
            unsafe { Avx512(_mm512_abs_ps(self.0)) }
        }
        #[inline(always)]
        fn neg(self) -> Self {
            unsafe {
                let x = _mm512_xor_si512(_mm512_castps_si512(self.0), _mm512_set1_epi32(i32::MIN));
                Avx512(_mm512_castsi512_ps(x))
            }
        }
        #[inline(always)]
        fn round(self) -> Self {
            unsafe { Avx512(_mm512_roundscale_ps::<NEAREST>(self.0)) }
        }
        #[inline(always)]
        fn lt(self, b: Self) -> __mmask16 {
            unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(self.0, b.0) }
        }
        #[inline(always)]
        fn eq(self, b: Self) -> __mmask16 {
            unsafe { _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(self.0, b.0) }
        }
        #[inline(always)]
        fn is_nan(self) -> __mmask16 {
            unsafe { _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(self.0, self.0) }
        }
        #[inline(always)]
        fn select(m: __mmask16, a: Self, b: Self) -> Self {
            unsafe { Avx512(_mm512_mask_blend_ps(m, b.0, a.0)) }
        }
        #[inline(always)]
        fn copysign(self, s: Self) -> Self {
            unsafe {
                let sign = _mm512_set1_epi32(i32::MIN);
                let m = _mm512_andnot_si512(sign, _mm512_castps_si512(self.0));
                let sg = _mm512_and_si512(sign, _mm512_castps_si512(s.0));
                Avx512(_mm512_castsi512_ps(_mm512_or_si512(m, sg)))
            }
        }
        #[inline(always)]
        fn scale2(self, n: Self) -> Self {
            unsafe {
                let n = _mm512_cvtps_epi32(n.0);
                let n1 = _mm512_srai_epi32::<1>(n);
                let n2 = _mm512_sub_epi32(n, n1);
                let bias = _mm512_set1_epi32(127);
                let p1 = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(n1, bias)));
                let p2 = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(n2, bias)));
                Avx512(_mm512_mul_ps(_mm512_mul_ps(self.0, p1), p2))
            }
        }
        #[inline(always)]
        fn frexp(self) -> (Self, Self) {
            unsafe {
                let b = _mm512_castps_si512(self.0);
                let e = _mm512_sub_epi32(
                    _mm512_and_si512(_mm512_srli_epi32::<23>(b), _mm512_set1_epi32(0xff)),
                    _mm512_set1_epi32(126),
                );
                let m = _mm512_or_si512(
                    _mm512_and_si512(b, _mm512_set1_epi32(0x807f_ffffu32 as i32)),
                    _mm512_set1_epi32(0x3f00_0000),
                );
                (
                    Avx512(_mm512_castsi512_ps(m)),
                    Avx512(_mm512_cvtepi32_ps(e)),
                )
            }
        }
        #[inline(always)]
        fn two_prod(self, b: Self) -> (Self, Self) {
            let hi = self.mul(b);
            (hi, self.fma(b, hi.neg()))
        }
        #[inline(always)]
        fn reduce_sum(self) -> f32 {
            // Fixed pairwise tree (halves), so the result is reproducible.
            unsafe {
                let lo = _mm512_castps512_ps256(self.0);
                let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(self.0)));
                Avx2(_mm256_add_ps(lo, hi)).reduce_sum()
            }
        }
        #[inline(always)]
        fn reduce_max(self) -> f32 {
            unsafe {
                let lo = _mm512_castps512_ps256(self.0);
                let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(self.0)));
                Avx2(_mm256_max_ps(lo, hi)).reduce_max()
            }
        }
    }
}
