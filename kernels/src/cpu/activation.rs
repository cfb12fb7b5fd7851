//! Backward kernels of activations, each one pass over the data (the forwards are the `vmath`
//! slice functions). GELU, exact and tanh forms, with x the forward input and dy = dL/dy:
//!
//! ```text
//!   exact:  dx = dy * (Phi(x) + x * phi(x))          Phi(x) = (1 + erf(x / sqrt2)) / 2,
//!                                                   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
//!   tanh:   dx = dy * (0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2))
//!           t = tanh(c (x + a x^3)),  c = sqrt(2 / pi),  a = 0.044715
//! ```
//!
//! f32 runs through the SIMD approximations of `vmath` (erf ~1e-6 absolute, exp/tanh ~1 ulp),
//! f64 through libm. Work is split into fixed chunks of `GRAIN` elements, so results do not
//! depend on the thread count; every element goes through the same code whatever its position.
//! `gelu(±inf)` has a NaN gradient (`inf * 0`), as in PyTorch.

use rayon::prelude::*;

use super::elementwise::GRAIN;
use super::vmath::{available_isas, erf_v, exp_v, isa, tanh_v, Isa, Vf};
#[cfg(target_arch = "x86_64")]
use super::vmath::{Avx2, Avx512};

const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_A: f64 = 0.044_715;

#[inline(always)]
fn gelu_grad_v<V: Vf>(x: V, approximate: bool) -> V {
    let half = V::splat(0.5);
    if approximate {
        let c = V::splat(SQRT_2_OVER_PI as f32);
        let x2 = x.mul(x);
        let u = c.mul(x.mul(V::splat(GELU_A as f32)).mul(x2).add(x));
        let t = tanh_v(u);
        let du = c.mul(V::splat((3.0 * GELU_A) as f32).fma(x2, V::splat(1.0)));
        let sech2 = t.neg().fma(t, V::splat(1.0));
        // 0.5 (1 + t) + 0.5 x sech2 du
        half.fma(t, half).add(half.mul(x).mul(sech2).mul(du))
    } else {
        let cdf = half.fma(
            erf_v(x.mul(V::splat(std::f32::consts::FRAC_1_SQRT_2))),
            half,
        );
        let pdf = exp_v(x.mul(x).mul(V::splat(-0.5))).mul(V::splat(FRAC_1_SQRT_2PI as f32));
        x.fma(pdf, cdf)
    }
}

/// dx[i] = dy[i] * gelu'(x[i]) through V; the tail through a zero-padded register-sized copy.
/// Safety: the three pointers valid for `n` elements; the CPU supports V's instructions.
#[inline(always)]
unsafe fn gelu_bwd_v<V: Vf>(
    dx: *mut f32,
    dy: *const f32,
    x: *const f32,
    n: usize,
    approximate: bool,
) {
    let l = V::LANES;
    let mut i = 0;
    while i + l <= n {
        let g = gelu_grad_v(V::load(x.add(i)), approximate);
        V::load(dy.add(i)).mul(g).store(dx.add(i));
        i += l;
    }
    if i < n {
        let k = n - i;
        let (mut bx, mut bg) = ([0.0f32; 16], [0.0f32; 16]);
        std::ptr::copy_nonoverlapping(x.add(i), bx.as_mut_ptr(), k);
        std::ptr::copy_nonoverlapping(dy.add(i), bg.as_mut_ptr(), k);
        let g = gelu_grad_v(V::load(bx.as_ptr()), approximate);
        V::load(bg.as_ptr()).mul(g).store(bx.as_mut_ptr());
        std::ptr::copy_nonoverlapping(bx.as_ptr(), dx.add(i), k);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn gelu_bwd_avx512(
    dx: *mut f32,
    dy: *const f32,
    x: *const f32,
    n: usize,
    approximate: bool,
) {
    gelu_bwd_v::<Avx512>(dx, dy, x, n, approximate)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_bwd_avx2(dx: *mut f32, dy: *const f32, x: *const f32, n: usize, approximate: bool) {
    gelu_bwd_v::<Avx2>(dx, dy, x, n, approximate)
}

fn gelu_bwd_isa(isa: Isa, dx: &mut [f32], dy: &[f32], x: &[f32], approximate: bool) {
    assert!(
        available_isas().contains(&isa),
        "gelu_backward: ISA {isa:?} not available"
    );
    let (o, g, i, n) = (dx.as_mut_ptr(), dy.as_ptr(), x.as_ptr(), dx.len());
    // SAFETY: the caller checked the three lengths are equal; the ISA was detected.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => gelu_bwd_avx512(o, g, i, n, approximate),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => gelu_bwd_avx2(o, g, i, n, approximate),
            _ => gelu_bwd_v::<f32>(o, g, i, n, approximate),
        }
    }
}

fn check_lens(dx: usize, dy: usize, x: usize) {
    assert!(
        dx == dy && dy == x,
        "gelu_backward: dx ({dx}), dy ({dy}) and x ({x}) differ in length"
    );
}

/// `dx = dy * gelu'(x)` (erf form, or the tanh approximation when `approximate`), f32.
pub fn gelu_backward_f32(dx: &mut [f32], dy: &[f32], x: &[f32], approximate: bool) {
    check_lens(dx.len(), dy.len(), x.len());
    let isa = isa();
    dx.par_chunks_mut(GRAIN)
        .zip(dy.par_chunks(GRAIN).zip(x.par_chunks(GRAIN)))
        .for_each(|(o, (g, i))| gelu_bwd_isa(isa, o, g, i, approximate));
}

/// The derivative gelu'(x) in f64.
#[inline]
pub fn gelu_grad_f64(x: f64, approximate: bool) -> f64 {
    if approximate {
        let x2 = x * x;
        let t = (SQRT_2_OVER_PI * (x + GELU_A * x * x2)).tanh();
        let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_A * x2);
        0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
    } else {
        let cdf = 0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2));
        cdf + x * (-0.5 * x * x).exp() * FRAC_1_SQRT_2PI
    }
}

/// `dx = dy * gelu'(x)`, f64.
pub fn gelu_backward_f64(dx: &mut [f64], dy: &[f64], x: &[f64], approximate: bool) {
    check_lens(dx.len(), dy.len(), x.len());
    dx.par_chunks_mut(GRAIN)
        .zip(dy.par_chunks(GRAIN).zip(x.par_chunks(GRAIN)))
        .for_each(|(o, (g, i))| {
            for ((o, &g), &x) in o.iter_mut().zip(g).zip(i) {
                *o = g * gelu_grad_f64(x, approximate);
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_matches_f64_on_every_isa() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.023).collect();
        let dy: Vec<f32> = (0..1000).map(|i| 1.0 - (i % 7) as f32 * 0.3).collect();
        for approximate in [false, true] {
            for &isa in &available_isas() {
                let mut dx = vec![0f32; x.len()];
                gelu_bwd_isa(isa, &mut dx, &dy, &x, approximate);
                for i in 0..x.len() {
                    let want = dy[i] as f64 * gelu_grad_f64(x[i] as f64, approximate);
                    let err = (dx[i] as f64 - want).abs();
                    assert!(
                        err <= 2e-6 * (1.0 + want.abs()),
                        "{isa:?} approx={approximate} x={} {} vs {want}",
                        x[i],
                        dx[i]
                    );
                }
            }
        }
    }

    #[test]
    fn f64_matches_finite_differences() {
        let gelu = |x: f64, a: bool| {
            if a {
                0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + GELU_A * x * x * x)).tanh())
            } else {
                0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2))
            }
        };
        for a in [false, true] {
            for i in 0..80 {
                let x = -6.0 + i as f64 * 0.15;
                let h = 1e-6;
                let fd = (gelu(x + h, a) - gelu(x - h, a)) / (2.0 * h);
                assert!((fd - gelu_grad_f64(x, a)).abs() < 1e-8, "x={x} approx={a}");
            }
        }
    }
}
