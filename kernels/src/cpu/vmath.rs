//! Vectorised f32 math on slices: exp, log, tanh, sigmoid, erf, gelu (erf and tanh forms), silu.
//!
//! Each function is written once, generic over a small SIMD trait [`Vf`], and instantiated for
//! AVX-512, AVX2+FMA and plain scalar f32; the ISA is chosen once at run time ([`isa`]). The
//! approximations are Cephes-style: a range reduction to a small interval, then a polynomial whose
//! coefficients were fitted for this file (Lawson minimax on relative error, rounded to f32).
//! Accuracy (tested against f64 over the whole f32 range): exp/log ~1 ulp, tanh/sigmoid/silu/gelu
//! under 1e-6 relative wherever |y| > 1e-30, erf under 1e-6 absolute. NaN propagates; overflow
//! and underflow saturate to inf / 0 as in libm. Like PyTorch, `gelu(-inf)` and `silu(-inf)` are
//! NaN (they are `-inf * 0`).
//!
//! Slice functions are single-threaded: the caller (elementwise ops) splits work across threads.
//! A slice's tail is computed through the same vector code on a padded copy, so every element of
//! a slice goes through the same arithmetic whatever its position.

// Fitted coefficients are written as the f32 they round to, digits and all.
#![allow(clippy::excessive_precision, clippy::approx_constant)]

use std::sync::OnceLock;

mod simd;
pub(crate) use simd::Vf;
#[cfg(target_arch = "x86_64")]
pub(crate) use simd::{Avx2, Avx512};

/// Instruction set used by the vector kernels of this crate's row/elementwise math.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Scalar,
    Avx2,
    Avx512,
}

/// The best ISA of this CPU, detected once.
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| available_isas().last().copied().unwrap_or(Isa::Scalar))
}

/// Every ISA this CPU can run, scalar first (tests force each one).
pub fn available_isas() -> Vec<Isa> {
    #[allow(unused_mut)]
    let mut v = vec![Isa::Scalar];
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            v.push(Isa::Avx2);
            if is_x86_feature_detected!("avx512f") {
                v.push(Isa::Avx512);
            }
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// The approximations, generic over the vector type.

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln2 split so that n * LN2_HI is exact for |n| < 2^15 (Cody-Waite).
const LN2_HI: f32 = 0.693_359_375;
const LN2_LO: f32 = -2.121_944_4e-4;

/// Evaluate a polynomial (coefficients highest degree first) by Horner's rule.
#[inline(always)]
fn poly<V: Vf>(x: V, c: &[f32]) -> V {
    let mut p = V::splat(c[0]);
    for &k in &c[1..] {
        p = p.fma(x, V::splat(k));
    }
    p
}

/// exp(r) = 1 + r + r^2 P(r) on |r| <= ln2/2.
const EXP_P: [f32; 6] = [
    1.985_779_5e-4,
    1.393_359_7e-3,
    8.333_361e-3,
    4.166_646_7e-2,
    0.166_666_67,
    0.5,
];

#[inline(always)]
pub(crate) fn exp_v<V: Vf>(x: V) -> V {
    // Clamp so that 2^n stays in the two-step scaling range; the clamp keeps NaN (Vf::min/max
    // return their second operand when either is NaN). exp(88.8) overflows, exp(-104) is 0.
    let xc = V::splat(-104.0).max(V::splat(88.8).min(x));
    let n = xc.mul(V::splat(LOG2E)).round();
    let r = n.fma(V::splat(-LN2_HI), xc);
    let r = n.fma(V::splat(-LN2_LO), r);
    let p = poly(r, &EXP_P);
    let y = r.mul(r).fma(p, r).add(V::splat(1.0));
    y.scale2(n)
}

/// log(1+f) = f - f^2/2 + f^3 P(f) on sqrt(1/2)-1 <= f < sqrt(2)-1.
const LOG_P: [f32; 9] = [
    7.037_586e-2,
    -0.115_145_6,
    0.116_770_12,
    -0.124_201_49,
    0.142_493_22,
    -0.166_680_57,
    0.200_007_14,
    -0.249_999_94,
    0.333_333_3,
];

#[inline(always)]
pub(crate) fn log_v<V: Vf>(x: V) -> V {
    // Subnormals: scale into the normal range first (exact) and correct the exponent.
    let tiny = x.lt(V::splat(f32::MIN_POSITIVE));
    let xs = V::select(tiny, x.mul(V::splat(33_554_432.0)), x); // 2^25
    let (m, e) = xs.frexp(); // xs = m * 2^e, m in [0.5, 1)
    let e = V::select(tiny, e.sub(V::splat(25.0)), e);
    let lowm = m.lt(V::splat(std::f32::consts::FRAC_1_SQRT_2));
    let f = V::select(lowm, m.add(m).sub(V::splat(1.0)), m.sub(V::splat(1.0)));
    let e = V::select(lowm, e.sub(V::splat(1.0)), e);
    let z = f.mul(f);
    let mut y = f.mul(z).mul(poly(f, &LOG_P));
    y = e.fma(V::splat(LN2_LO), y);
    y = z.fma(V::splat(-0.5), y);
    let r = e.fma(V::splat(LN2_HI), f.add(y));
    // Special cases: log(0) = -inf, log(inf) = inf, log(<0) = NaN, NaN stays NaN.
    let r = V::select(x.eq(V::splat(0.0)), V::splat(f32::NEG_INFINITY), r);
    let r = V::select(x.eq(V::splat(f32::INFINITY)), x, r);
    let r = V::select(x.lt(V::splat(0.0)), V::splat(f32::NAN), r);
    V::select(x.is_nan(), x, r)
}

/// tanh(x) = x + x^3 P(x^2) on |x| < 0.625.
const TANH_P: [f32; 6] = [
    2.292_896_2e-3,
    -8.344_1e-3,
    2.176_897_6e-2,
    -5.395_927e-2,
    0.133_333_04,
    -0.333_333_34,
];

#[inline(always)]
pub(crate) fn tanh_v<V: Vf>(x: V) -> V {
    let ax = x.abs();
    let z = x.mul(x);
    let small = x.mul(z).fma(poly(z, &TANH_P), x);
    // 1 - 2/(e^{2|x|}+1): no cancellation above 0.625; e = inf gives exactly 1.
    let e = exp_v(ax.add(ax));
    let large = V::splat(1.0).sub(V::splat(2.0).div(e.add(V::splat(1.0))));
    // copysign also gives tanh(-0) = -0 on the small branch.
    V::select(ax.lt(V::splat(0.625)), small, large).copysign(x)
}

/// 1/(1+e^-x), written with e = e^{-|x|} so that the negative tail keeps full relative precision.
#[inline(always)]
pub(crate) fn sigmoid_v<V: Vf>(x: V) -> V {
    let e = exp_v(x.abs().neg());
    let r = V::splat(1.0).div(V::splat(1.0).add(e));
    V::select(x.lt(V::splat(0.0)), e.mul(r), r)
}

#[inline(always)]
pub(crate) fn silu_v<V: Vf>(x: V) -> V {
    x.mul(sigmoid_v(x))
}

/// erf(x) = x P(x^2) on |x| <= 1.
const ERF_P: [f32; 7] = [
    7.854_027e-5,
    -8.010_248e-4,
    5.188_335e-3,
    -2.685_381_7e-2,
    0.112_835_85,
    -0.376_126_26,
    1.128_379_1,
];
/// erfc(a) e^{a^2} = P(a - 1.25) on 0.5 <= a < 2.
const ERFC_A: [f32; 10] = [
    -1.849_606_6e-4,
    5.568_228e-4,
    -1.318_116_6e-3,
    3.511_497e-3,
    -9.081_949e-3,
    2.201_973_6e-2,
    -5.021_845_2e-2,
    0.106_795,
    -0.208_821_86,
    0.367_822_9,
];
/// erfc(a) e^{a^2} a = P(1/a) on 2 <= a <= 11.
const ERFC_B: [f32; 8] = [
    -0.164_202_7,
    0.665_628_97,
    -1.050_135,
    0.750_808_1,
    -6.060_928_5e-2,
    -0.275_435_1,
    -3.994_158_5e-4,
    0.564_199_57,
];

/// erfc(a) for a in [0.5, 11], given a^2 = hi + lo exactly. The exponent is taken from the
/// unrounded square because e^{-a^2} amplifies an absolute error in a^2 (ulp(64) ~ 8e-6) into
/// the same relative error of the result; e^{-lo} ~ 1 - lo then costs one multiply.
#[inline(always)]
fn erfc_core<V: Vf>(a: V, hi: V, lo: V) -> V {
    let ex = exp_v(hi.neg()).mul(V::splat(1.0).sub(lo));
    let pa = poly(a.sub(V::splat(1.25)), &ERFC_A);
    let q = V::splat(1.0).div(a);
    let pb = q.mul(poly(q, &ERFC_B));
    ex.mul(V::select(a.lt(V::splat(2.0)), pa, pb))
}

#[inline(always)]
pub(crate) fn erf_v<V: Vf>(x: V) -> V {
    let ax = x.abs();
    let small = x.mul(poly(x.mul(x), &ERF_P));
    let a = V::splat(0.5).max(V::splat(11.0).min(ax));
    let (hi, lo) = a.two_prod(a);
    let big = V::splat(1.0).sub(erfc_core(a, hi, lo)).copysign(x);
    V::select(ax.lt(V::splat(1.0)), small, big)
}

/// Phi(-u) e^{u^2/2} = t Q(t) with t = 1/(1 + GELU_K u), for 0 <= u <= 11 sqrt2 (Phi the normal
/// CDF; GELU_K = 0.3/sqrt2). Relative error of the f32 coefficients 4.3e-8 (Lawson minimax);
/// Q(0) = GELU_K/sqrt(2 pi), Q(1) = 1/2.
const GELU_K: f32 = 0.212_132_04;
const GELU_Q: [f32; 9] = [
    -6.477_792e-2,
    0.242_868,
    -0.256_333_44,
    0.274_104_54,
    -4.751_313_9e-2,
    0.107_553_03,
    7.414_333_5e-2,
    8.536_187e-2,
    8.459_371e-2,
];

/// gelu(x) = x Phi(x) with Phi(|x|) = 1 - Phi(-|x|). One form for every x (no per-range branches
/// computed and then discarded): Phi(-|x|) = e^{-x^2/2} t Q(t), with the exponent formed exactly
/// from x (e^{-x^2/2} turns an absolute error of x^2/2 into relative error of the result).
#[inline(always)]
pub(crate) fn gelu_v<V: Vf>(x: V) -> V {
    // Clamp keeps NaN (constant first); beyond 11 sqrt2, Phi(-|x|) is 0 in f32 anyway.
    let ax = V::splat(15.556).min(x.abs());
    let t = V::splat(1.0).div(ax.fma(V::splat(GELU_K), V::splat(1.0)));
    let (hi, lo) = ax.two_prod(ax); // x^2 = hi + lo exactly; halving is exact
    let e = exp_v(hi.mul(V::splat(-0.5)));
    let ex = e.fma(lo.mul(V::splat(-0.5)), e); // e^{-lo/2} ~ 1 - lo/2
    let h = ex.mul(t.mul(poly(t, &GELU_Q))); // Phi(-|x|)
    x.mul(V::select(x.lt(V::splat(0.0)), h, V::splat(1.0).sub(h)))
}

// t = 2 sqrt(2/pi) (x + 0.044715 x^3) = x (A + B x^2), constants as f32 hi + lo pairs.
const GT_A: f64 = 1.595_769_121_605_730_7;
const GT_B: f64 = 0.071_354_816_272_600_25;
const GT_A_HI: f32 = GT_A as f32;
const GT_A_LO: f32 = (GT_A - GT_A_HI as f64) as f32;
const GT_B_HI: f32 = GT_B as f32;
const GT_B_LO: f32 = (GT_B - GT_B_HI as f64) as f32;

/// gelu_tanh(x) = x/2 (1 + tanh(u)) = x sigmoid(2u). The argument |2u| is carried as hi + lo
/// (compensated products and sum): e^{-|2u|} turns its rounding error (|2u| reaches ~70 where
/// y ~ 1e-30) into relative error of the result.
#[inline(always)]
pub(crate) fn gelu_tanh_v<V: Vf>(x: V) -> V {
    let ax = V::splat(20.0).min(x.abs()); // t(20) ~ 600: e^-t is 0 already; keeps inf out
    let (s_hi, s_lo) = ax.two_prod(ax);
    let (b_hi, b_lo0) = V::splat(GT_B_HI).two_prod(s_hi);
    let b_lo = b_lo0.add(V::splat(GT_B_HI).fma(s_lo, V::splat(GT_B_LO).mul(s_hi)));
    let w_hi = V::splat(GT_A_HI).add(b_hi);
    let bb = w_hi.sub(V::splat(GT_A_HI));
    let w_err = V::splat(GT_A_HI).sub(w_hi.sub(bb)).add(b_hi.sub(bb));
    let w_lo = w_err.add(b_lo).add(V::splat(GT_A_LO));
    let (t_hi, t_lo0) = ax.two_prod(w_hi);
    let t_lo = ax.fma(w_lo, t_lo0);
    let e = exp_v(t_hi.neg()).mul(V::splat(1.0).sub(t_lo));
    let r = V::splat(1.0).div(V::splat(1.0).add(e));
    x.mul(V::select(x.lt(V::splat(0.0)), e.mul(r), r))
}

// ---------------------------------------------------------------------------------------------
// Slice drivers and dispatch.

/// One elementwise function, instantiated per ISA by [`map`].
pub(crate) trait UnaryFn {
    fn apply<V: Vf>(x: V) -> V;
}

/// out[i] = f(inp[i]) through V; the tail goes through a zero-padded register-sized copy.
/// Safety: `out` and `inp` valid for `n` elements (they may be the same pointer), and the CPU
/// supports V's instructions.
#[inline(always)]
unsafe fn map<V: Vf, F: UnaryFn>(out: *mut f32, inp: *const f32, n: usize) {
    let l = V::LANES;
    let mut i = 0;
    while i + 2 * l <= n {
        let a = V::load(inp.add(i));
        let b = V::load(inp.add(i + l));
        F::apply(a).store(out.add(i));
        F::apply(b).store(out.add(i + l));
        i += 2 * l;
    }
    while i < n {
        let k = (n - i).min(l);
        let mut buf = [0.0f32; 16];
        std::ptr::copy_nonoverlapping(inp.add(i), buf.as_mut_ptr(), k);
        F::apply(V::load(buf.as_ptr())).store(buf.as_mut_ptr());
        std::ptr::copy_nonoverlapping(buf.as_ptr(), out.add(i), k);
        i += k;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn map_avx512<F: UnaryFn>(out: *mut f32, inp: *const f32, n: usize) {
    map::<Avx512, F>(out, inp, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn map_avx2<F: UnaryFn>(out: *mut f32, inp: *const f32, n: usize) {
    map::<Avx2, F>(out, inp, n)
}

fn run<F: UnaryFn>(isa: Isa, out: *mut f32, inp: *const f32, n: usize) {
    // SAFETY: callers pass pointers valid for n elements; an ISA path is only taken when `isa`
    // comes from detection (or a test that checked `available_isas`).
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => map_avx512::<F>(out, inp, n),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => map_avx2::<F>(out, inp, n),
            _ => map::<f32, F>(out, inp, n),
        }
    }
}

/// Run `F` over a slice on a given ISA (tests use this to force each path).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn unary_isa<F: UnaryFn>(isa: Isa, out: &mut [f32], inp: &[f32]) {
    assert_eq!(out.len(), inp.len(), "vmath: out and inp lengths differ");
    assert!(
        available_isas().contains(&isa),
        "vmath: ISA {isa:?} not available on this CPU"
    );
    run::<F>(isa, out.as_mut_ptr(), inp.as_ptr(), out.len());
}

macro_rules! unary_fns {
    ($($name:ident, $inplace:ident, $scalar:ident, $ty:ident, $f:ident, $doc:literal;)*) => {$(
        #[doc = concat!("Marker for ", $doc, " (used with `unary_isa`).")]
        pub(crate) struct $ty;
        impl UnaryFn for $ty {
            #[inline(always)]
            fn apply<V: Vf>(x: V) -> V { $f(x) }
        }
        #[doc = concat!("`out[i] = ", $doc, "(inp[i])`, SIMD on the best ISA.")]
        pub fn $name(out: &mut [f32], inp: &[f32]) {
            assert_eq!(out.len(), inp.len(), "vmath: out and inp lengths differ");
            run::<$ty>(isa(), out.as_mut_ptr(), inp.as_ptr(), out.len());
        }
        #[doc = concat!("`x[i] = ", $doc, "(x[i])` in place.")]
        pub fn $inplace(x: &mut [f32]) {
            let p = x.as_mut_ptr();
            run::<$ty>(isa(), p, p, x.len());
        }
        #[doc = concat!("Scalar ", $doc, ", the same approximation as the slice function (without FMA).")]
        #[inline]
        pub fn $scalar(x: f32) -> f32 { $f(x) }
    )*};
}

unary_fns! {
    exp_f32, exp_f32_inplace, exp_scalar, Exp, exp_v, "exp";
    log_f32, log_f32_inplace, log_scalar, Log, log_v, "ln";
    tanh_f32, tanh_f32_inplace, tanh_scalar, Tanh, tanh_v, "tanh";
    sigmoid_f32, sigmoid_f32_inplace, sigmoid_scalar, Sigmoid, sigmoid_v, "sigmoid";
    silu_f32, silu_f32_inplace, silu_scalar, Silu, silu_v, "silu";
    erf_f32, erf_f32_inplace, erf_scalar, Erf, erf_v, "erf";
    gelu_f32, gelu_f32_inplace, gelu_scalar, Gelu, gelu_v, "gelu (exact, erf form)";
    gelu_tanh_f32, gelu_tanh_f32_inplace, gelu_tanh_scalar, GeluTanh, gelu_tanh_v, "gelu (tanh approximation)";
}

// ---------------------------------------------------------------------------------------------
// Scalar element trait for the generic (f32 and f64) row kernels.

/// f32 or f64 as the row kernels (softmax, norms) need them. `exp` of f32 is this file's
/// approximation, so a scalar f32 tail agrees with the SIMD body; f64 uses std.
pub trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;
    const NAN: Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    /// Larger of the two; NaN in either gives NaN (so a NaN row poisons its max).
    fn max_nan(self, b: Self) -> Self;
}

macro_rules! impl_real {
    ($t:ty, $exp:expr) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const NAN: Self = <$t>::NAN;
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn max_nan(self, b: Self) -> Self {
                if self > b || self.is_nan() {
                    self
                } else {
                    b
                }
            }
        }
    };
}
impl_real!(f32, exp_scalar);
impl_real!(f64, f64::exp);

#[cfg(test)]
mod tests;
