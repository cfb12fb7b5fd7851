//! Accuracy of every function on every ISA this CPU has, against f64 references.
#![allow(clippy::approx_constant, clippy::excessive_precision)]

use super::*;

extern "C" {
    // The C library's double erf/erfc (Rust's std has none); used only as the test oracle.
    fn erf(x: f64) -> f64;
    fn erfc(x: f64) -> f64;
}

/// Strided sweep of all f32 bit patterns (both signs, subnormals, inf, NaN), a dense sweep of
/// [-20, 20], a fine sweep near 0 and hand-picked edges.
fn points() -> Vec<f32> {
    let mut v: Vec<f32> = (0..=u32::MAX).step_by(4093).map(f32::from_bits).collect();
    v.extend((-20_000..=20_000).map(|i| i as f32 * 1e-3));
    v.extend((-2000..=2000).map(|i| i as f32 * 1e-6));
    v.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        1e-40,
        f32::MAX,
        f32::MIN,
        88.72,
        88.7228,
        88.723,
        88.8,
        89.0,
        -87.3,
        -103.0,
        -103.97,
        -103.98,
        -104.0,
        -150.0,
        0.5,
        0.625,
        -0.625,
        1.0,
        -1.0,
        2.0,
        -2.0,
        0.70710677,
        11.0,
        -11.0,
        15.55,
        -15.55,
        1.0000001,
        0.99999994,
        0.70710677,
        0.7071068,
        1.4142135,
        1.4142137,
    ]);
    v
}

fn ulp(r: f64) -> f64 {
    let a = r.abs();
    if a < f32::MIN_POSITIVE as f64 {
        return 2f64.powi(-149);
    }
    2f64.powi(a.log2().floor() as i32 - 23)
}

enum Tol {
    /// Error in ulps of the f64 result.
    Ulp(f64),
    /// Relative error where |ref| > 1e-30, else absolute 1e-36.
    Rel(f64),
    /// Absolute error.
    Abs(f64),
}

fn check(
    name: &str,
    isa: Isa,
    f: fn(Isa, &mut [f32], &[f32]),
    reference: fn(f64) -> f64,
    tol: Tol,
    pos_only: bool,
) {
    let mut xs = points();
    if pos_only {
        xs.retain(|x| !x.is_nan() && *x > 0.0);
    }
    let mut ys = vec![0.0f32; xs.len()];
    f(isa, &mut ys, &xs);
    let mut worst = (0.0f64, 0.0f32);
    for (&x, &y) in xs.iter().zip(&ys) {
        let r = reference(x as f64);
        let rf = r as f32;
        if r.is_nan() || rf.is_infinite() || y.is_nan() || y.is_infinite() {
            let ok = (r.is_nan() && y.is_nan())
                || (rf == y)
                || (y.is_infinite() && rf.abs() == f32::MAX);
            assert!(ok, "{name} {isa:?}: x={x:e} got {y:e}, want {r:e}");
            continue;
        }
        let d = (y as f64 - r).abs();
        let err = match tol {
            Tol::Ulp(_) => d / ulp(r),
            Tol::Rel(_) => {
                if r.abs() > 1e-30 {
                    d / r.abs()
                } else {
                    d / 1e-30 * 1e-6 * 1e-6 // abs 1e-36 maps to 1e-6
                }
            }
            Tol::Abs(_) => d,
        };
        if err > worst.0 {
            worst = (err, x);
        }
    }
    let lim = match tol {
        Tol::Ulp(t) | Tol::Rel(t) | Tol::Abs(t) => t,
    };
    eprintln!(
        "{name:10} {isa:?}: worst error {:.3e} at x={:e}",
        worst.0, worst.1
    );
    assert!(
        worst.0 <= lim,
        "{name} {isa:?}: error {:.3e} at x={:e} over {lim:e}",
        worst.0,
        worst.1
    );
}

fn phi64(x: f64) -> f64 {
    0.5 * unsafe { erfc(-x / std::f64::consts::SQRT_2) }
}
fn sig64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        x.exp() / (1.0 + x.exp())
    }
}
fn gelu_tanh64(x: f64) -> f64 {
    let t = 2.0 * (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
    if x == f64::NEG_INFINITY {
        return f64::NAN;
    }
    x * sig64(t)
}

#[test]
fn accuracy_all_isas() {
    for isa in available_isas() {
        check("exp", isa, unary_isa::<Exp>, f64::exp, Tol::Ulp(2.0), false);
        check("log", isa, unary_isa::<Log>, f64::ln, Tol::Ulp(2.0), false);
        check("log+", isa, unary_isa::<Log>, f64::ln, Tol::Ulp(2.0), true);
        check(
            "tanh",
            isa,
            unary_isa::<Tanh>,
            f64::tanh,
            Tol::Rel(1e-6),
            false,
        );
        check(
            "sigmoid",
            isa,
            unary_isa::<Sigmoid>,
            sig64,
            Tol::Rel(1e-6),
            false,
        );
        check(
            "silu",
            isa,
            unary_isa::<Silu>,
            |x| {
                if x == f64::NEG_INFINITY {
                    f64::NAN
                } else {
                    x * sig64(x)
                }
            },
            Tol::Rel(1e-6),
            false,
        );
        check(
            "erf",
            isa,
            unary_isa::<Erf>,
            |x| unsafe { erf(x) },
            Tol::Abs(1e-6),
            false,
        );
        check(
            "erf-rel",
            isa,
            unary_isa::<Erf>,
            |x| unsafe { erf(x) },
            Tol::Rel(1e-6),
            false,
        );
        check(
            "gelu",
            isa,
            unary_isa::<Gelu>,
            |x| {
                if x == f64::NEG_INFINITY {
                    f64::NAN
                } else {
                    x * phi64(x)
                }
            },
            Tol::Rel(1e-6),
            false,
        );
        check(
            "gelu_tanh",
            isa,
            unary_isa::<GeluTanh>,
            gelu_tanh64,
            Tol::Rel(1e-6),
            false,
        );
    }
}

#[test]
fn special_values() {
    let xs = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        100.0,
        -200.0,
    ];
    let mut y = [0.0f32; 7];
    exp_f32(&mut y, &xs);
    assert!(
        y[0].is_nan()
            && y[1] == f32::INFINITY
            && y[2] == 0.0
            && y[3] == 1.0
            && y[5] == f32::INFINITY
            && y[6] == 0.0
    );
    log_f32(&mut y, &xs);
    assert!(
        y[0].is_nan()
            && y[1] == f32::INFINITY
            && y[2].is_nan()
            && y[3] == f32::NEG_INFINITY
            && y[4] == f32::NEG_INFINITY
    );
    tanh_f32(&mut y, &xs);
    assert!(
        y[0].is_nan()
            && y[1] == 1.0
            && y[2] == -1.0
            && y[3] == 0.0
            && y[4].to_bits() == (-0.0f32).to_bits()
    );
    erf_f32(&mut y, &xs);
    assert!(y[0].is_nan() && y[1] == 1.0 && y[2] == -1.0 && y[3] == 0.0);
    gelu_f32(&mut y, &xs);
    assert!(
        y[0].is_nan()
            && y[1] == f32::INFINITY
            && y[2].is_nan()
            && y[3] == 0.0
            && y[5] == 100.0
            && y[6] == 0.0
    );
    sigmoid_f32(&mut y, &xs);
    assert!(y[0].is_nan() && y[1] == 1.0 && y[2] == 0.0 && y[3] == 0.5);
}

#[test]
fn inplace_scalar_and_tails_agree() {
    // Every length 0..40 (tails of all sizes) on every ISA: in-place equals out-of-place, and the
    // scalar path equals the scalar functions.
    let base: Vec<f32> = (0..40).map(|i| (i as f32 - 17.3) * 0.37).collect();
    for n in 0..40 {
        let x = &base[..n];
        let mut a = vec![0.0; n];
        exp_f32(&mut a, x);
        let mut b = x.to_vec();
        exp_f32_inplace(&mut b);
        assert_eq!(a, b);
        let mut s = vec![0.0; n];
        unary_isa::<Gelu>(Isa::Scalar, &mut s, x);
        for i in 0..n {
            assert_eq!(s[i].to_bits(), gelu_scalar(x[i]).to_bits());
        }
        for isa in available_isas() {
            let mut v = vec![0.0; n];
            unary_isa::<Tanh>(isa, &mut v, x);
            for i in 0..n {
                let full = {
                    let mut w = vec![0.0; 40];
                    unary_isa::<Tanh>(isa, &mut w, &base);
                    w[i]
                };
                assert_eq!(
                    v[i].to_bits(),
                    full.to_bits(),
                    "tail differs at n={n} i={i} {isa:?}"
                );
            }
        }
    }
}
