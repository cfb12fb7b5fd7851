use super::*;
use crate::cpu::vmath::available_isas;
use crate::rng::{fill_normal_f64, fill_uniform_f32, fill_uniform_f64, RngState};

/// Shapes `(outer, r, inner)` covering every path: tiny rows, rows around one block (2048),
/// several blocks, the parallel row split (r >= 4 * TASK with one row), strided tiles narrower and
/// wider than TW, runs around RB, the column-tile split (one huge output row), empty axes.
const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (3, 0, 4),
    (2, 0, 1),
    (1, 7, 1),
    (2, 33, 1),
    (5, 2047, 1),
    (3, 2049, 1),
    (2, 5000, 1),
    (300, 600, 1),
    (1, 600_000, 1),
    (4, 31, 3),
    (2, 33, 40),
    (3, 100, 65),
    (1, 1000, 64),
    (2, 70, 130),
    (1, 2000, 300),
    (7, 1, 5),
];

fn data_f32(n: usize, seed: u64) -> Vec<f32> {
    let mut v = vec![0f32; n];
    fill_uniform_f32(&mut v, RngState::new(seed), -1.0, 3.0);
    v
}

fn data_f64(n: usize, seed: u64) -> Vec<f64> {
    let mut v = vec![0f64; n];
    fill_normal_f64(&mut v, RngState::new(seed), 0.5, 2.0);
    v
}

/// Column `(o, j)` of the input as f64.
fn column<T: Elem>(x: &[T], o: usize, r: usize, inner: usize, j: usize) -> Vec<f64> {
    (0..r)
        .map(|k| x[(o * r + k) * inner + j].to_f64())
        .collect()
}

/// Every output `(o, j)` against an f64 oracle on its column, with tolerance `tol(column)`.
fn check_all<T: Elem>(
    x: &[T],
    got: &[T],
    (outer, r, inner): (usize, usize, usize),
    oracle: impl Fn(&[f64]) -> f64,
    tol: impl Fn(&[f64]) -> f64,
    what: &str,
) {
    for o in 0..outer {
        for j in 0..inner {
            let c = column(x, o, r, inner, j);
            let (want, g) = (oracle(&c), got[o * inner + j].to_f64());
            let ok = if want.is_nan() {
                g.is_nan()
            } else {
                g == want || (g - want).abs() <= tol(&c)
            };
            assert!(
                ok,
                "{what} {:?} at ({o},{j}): got {g}, want {want}",
                (outer, r, inner)
            );
        }
    }
}

fn abs_sum(c: &[f64]) -> f64 {
    c.iter().map(|v| v.abs()).sum()
}

/// Neumaier-compensated sum: an oracle accurate enough to judge the f64 kernels too.
fn ksum(c: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut comp) = (0f64, 0f64);
    for v in c {
        let t = s + v;
        comp += if s.abs() >= v.abs() {
            (s - t) + v
        } else {
            (v - t) + s
        };
        s = t;
    }
    s + comp
}

fn naive_var(c: &[f64], correction: usize) -> f64 {
    let m = ksum(c.iter().copied()) / c.len() as f64;
    ksum(c.iter().map(|v| (v - m) * (v - m))) / c.len().saturating_sub(correction) as f64
}

fn naive_lse(c: &[f64]) -> f64 {
    let m = c.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if c.is_empty() || m.is_infinite() {
        return m;
    }
    m + ksum(c.iter().map(|v| (v - m).exp())).ln()
}

/// Runs every float reduction on `x` and checks it against f64; `eps` scales the tolerances.
fn check_shape<T: Elem>(x: &[T], shape: (usize, usize, usize), eps: f64) {
    let (outer, r, inner) = shape;
    let mut out = vec![T::ZERO; outer * inner];
    sum(&mut out, x, outer, r, inner);
    check_all(
        x,
        &out,
        shape,
        |c| ksum(c.iter().copied()),
        |c| eps * abs_sum(c),
        "sum",
    );
    mean(&mut out, x, outer, r, inner);
    check_all(
        x,
        &out,
        shape,
        |c| ksum(c.iter().copied()) / c.len() as f64,
        |c| eps * abs_sum(c) / c.len() as f64,
        "mean",
    );
    for corr in [0, 1] {
        var(&mut out, x, outer, r, inner, corr);
        check_all(
            x,
            &out,
            shape,
            |c| naive_var(c, corr),
            |c| 4.0 * eps * naive_var(c, corr).abs(),
            "var",
        );
    }
    logsumexp(&mut out, x, outer, r, inner);
    check_all(
        x,
        &out,
        shape,
        naive_lse,
        |c| eps * (1.0 + naive_lse(c).abs()),
        "logsumexp",
    );
    let mut co = vec![T::ZERO; x.len()];
    cumsum(&mut co, x, outer, r, inner);
    for o in 0..outer {
        for j in 0..inner {
            let mut acc = 0f64;
            for k in 0..r {
                acc += x[(o * r + k) * inner + j].to_f64();
                assert_eq!(
                    co[(o * r + k) * inner + j].to_f64(),
                    T::from_f64(acc).to_f64(),
                    "cumsum {shape:?}"
                );
            }
        }
    }
    if r == 0 {
        return;
    }
    let first = |c: &[f64], better: fn(f64, f64) -> bool| {
        (0..c.len()).fold(0, |b, k| if better(c[k], c[b]) { k } else { b }) as f64
    };
    let mut idx = vec![0i64; outer * inner];
    max(&mut out, x, outer, r, inner);
    check_all(
        x,
        &out,
        shape,
        |c| c.iter().cloned().fold(f64::MIN, f64::max),
        |_| 0.0,
        "max",
    );
    min(&mut out, x, outer, r, inner);
    check_all(
        x,
        &out,
        shape,
        |c| c.iter().cloned().fold(f64::MAX, f64::min),
        |_| 0.0,
        "min",
    );
    argmax(&mut idx, x, outer, r, inner);
    let idx_f: Vec<T> = idx.iter().map(|&i| T::from_usize(i as usize)).collect();
    check_all(
        x,
        &idx_f,
        shape,
        |c| first(c, |a, b| a > b),
        |_| 0.0,
        "argmax",
    );
    argmin(&mut idx, x, outer, r, inner);
    let idx_f: Vec<T> = idx.iter().map(|&i| T::from_usize(i as usize)).collect();
    check_all(
        x,
        &idx_f,
        shape,
        |c| first(c, |a, b| a < b),
        |_| 0.0,
        "argmin",
    );
}

#[test]
fn f32_against_f64_oracle() {
    for (s, &shape) in SHAPES.iter().enumerate() {
        let x = data_f32(shape.0 * shape.1 * shape.2, s as u64);
        check_shape(&x, shape, 4e-6);
    }
}

#[test]
fn f64_against_f64_oracle() {
    for (s, &shape) in SHAPES.iter().enumerate() {
        let x = data_f64(shape.0 * shape.1 * shape.2, 100 + s as u64);
        check_shape(&x, shape, 1e-14);
    }
}

#[test]
fn empty_axis_values() {
    let x: [f32; 0] = [];
    let mut out = [7f32; 6];
    sum(&mut out, &x, 2, 0, 3);
    assert!(out.iter().all(|&v| v == 0.0 && v.is_sign_positive()));
    mean(&mut out, &x, 2, 0, 3);
    assert!(out.iter().all(|v| v.is_nan()));
    var(&mut out, &x, 2, 0, 3, 1);
    assert!(out.iter().all(|v| v.is_nan()));
    logsumexp(&mut out, &x, 2, 0, 3);
    assert!(out.iter().all(|&v| v == f32::NEG_INFINITY));
    max(&mut [0f32; 0], &x, 0, 0, 3); // no outputs: nothing to report
}

#[test]
#[should_panic(expected = "empty axis")]
fn max_of_empty_axis_asserts() {
    max(&mut [0f32; 2], &[], 2, 0, 1);
}

#[test]
fn nan_ties_and_signed_zero() {
    let nan = f32::NAN;
    for inner in [1, 3] {
        // Column j of [r=6, inner] is the same sequence, so both paths see it.
        let seq = [1.0, 5.0, nan, 5.0, nan, -2.0];
        let x: Vec<f32> = seq
            .iter()
            .flat_map(|&v| std::iter::repeat_n(v, inner))
            .collect();
        let (mut v, mut i) = (vec![0f32; inner], vec![0i64; inner]);
        max(&mut v, &x, 1, 6, inner);
        assert!(v.iter().all(|v| v.is_nan()));
        min(&mut v, &x, 1, 6, inner);
        assert!(v.iter().all(|v| v.is_nan()));
        argmax(&mut i, &x, 1, 6, inner);
        assert!(i.iter().all(|&i| i == 2), "{i:?}");
        argmin(&mut i, &x, 1, 6, inner);
        assert!(i.iter().all(|&i| i == 2), "{i:?}");
        sum(&mut v, &x, 1, 6, inner);
        assert!(v.iter().all(|v| v.is_nan()));
        logsumexp(&mut v, &x, 1, 6, inner);
        assert!(v.iter().all(|v| v.is_nan()));
        // Ties without NaN: first occurrence.
        let seq = [1.0, 5.0, -3.0, 5.0, -3.0, 0.0];
        let x: Vec<f32> = seq
            .iter()
            .flat_map(|&v| std::iter::repeat_n(v, inner))
            .collect();
        argmax(&mut i, &x, 1, 6, inner);
        assert!(i.iter().all(|&i| i == 1), "{i:?}");
        argmin(&mut i, &x, 1, 6, inner);
        assert!(i.iter().all(|&i| i == 2), "{i:?}");
        // -0.0 is the identity the lanes start from: a row of -0.0 sums to -0.0.
        let x = vec![-0.0f32; 6 * inner];
        sum(&mut v, &x, 1, 6, inner);
        assert!(v.iter().all(|v| *v == 0.0 && v.is_sign_negative()));
    }
}

#[test]
fn logsumexp_infinities() {
    let ninf = f64::NEG_INFINITY;
    let cases: [(&[f64], f64); 4] = [
        (&[ninf, ninf, ninf], ninf),
        (&[1.0, f64::INFINITY, ninf], f64::INFINITY),
        (&[ninf, 0.0, ninf], 0.0),
        (&[1000.0, 1000.0], 1000.0 + std::f64::consts::LN_2),
    ];
    for (x, want) in cases {
        let mut out = [0f64];
        logsumexp(&mut out, x, 1, x.len(), 1);
        assert_eq!(out[0], want, "{x:?}");
    }
}

#[test]
fn var_correction_edges() {
    let mut out = [0f32];
    var(&mut out, &[3.0], 1, 1, 1, 1);
    assert!(out[0].is_nan()); // 0 / 0, as torch.var of one element
    var(&mut out, &[3.0], 1, 1, 1, 0);
    assert_eq!(out[0], 0.0);
    var(&mut out, &[1.0, 3.0], 1, 2, 1, 5);
    assert_eq!(out[0], f32::INFINITY); // divisor clamped to 0
                                       // A large offset does not cost precision (two-pass).
    let x: Vec<f32> = (0..1000).map(|k| 1e4 + (k % 2) as f32).collect();
    var(&mut out, &x, 1, 1000, 1, 0);
    assert_eq!(out[0], 0.25);
}

#[test]
fn sum_i64_wraps_like_pytorch() {
    let x: Vec<i64> = (0..6 * 50 * 7)
        .map(|k| (k as i64 * 7919) % 1001 - 500)
        .collect();
    for (outer, r, inner) in [(6, 50, 7), (42, 50, 1), (1, 2100, 1)] {
        let mut out = vec![0i64; outer * inner];
        sum_i64(&mut out, &x, outer, r, inner);
        for o in 0..outer {
            for j in 0..inner {
                let want: i64 = (0..r).map(|k| x[(o * r + k) * inner + j]).sum();
                assert_eq!(out[o * inner + j], want);
            }
        }
    }
    let mut out = [0i64];
    sum_i64(&mut out, &[i64::MAX, 1], 1, 2, 1);
    assert_eq!(out[0], i64::MIN);
}

/// Runs each reduction once and returns all outputs as bits, for bitwise comparisons.
fn all_bits(isa: Isa, x: &[f32], (outer, r, inner): (usize, usize, usize)) -> Vec<u64> {
    let mut bits = Vec::new();
    let mut out = vec![0f32; outer * inner];
    let mut idx = vec![0i64; outer * inner];
    let mut push = |v: &[f32]| bits.extend(v.iter().map(|x| x.to_bits() as u64));
    sum_isa(isa, &mut out, x, outer, r, inner);
    push(&out);
    var_isa(isa, &mut out, x, outer, r, inner, 1);
    push(&out);
    logsumexp_isa(isa, &mut out, x, outer, r, inner);
    push(&out);
    ext_isa::<f32, Max>(isa, &mut out, x, outer, r, inner);
    push(&out);
    ext_isa::<f32, Min>(isa, &mut out, x, outer, r, inner);
    push(&out);
    let mut co = vec![0f32; x.len()];
    cumsum(&mut co, x, outer, r, inner);
    push(&co);
    arg_isa::<f32, Max>(isa, &mut idx, x, outer, r, inner);
    bits.extend(idx.iter().map(|&i| i as u64));
    bits
}

#[test]
fn bitwise_independent_of_threads_and_isa() {
    let pool = |t| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
    };
    for (s, &shape) in SHAPES.iter().enumerate().filter(|(_, s)| s.1 > 0) {
        let x = data_f32(shape.0 * shape.1 * shape.2, 50 + s as u64);
        let reference = pool(1).install(|| all_bits(Isa::Scalar, &x, shape));
        for isa in available_isas() {
            for threads in [1, 2, 3] {
                let got = pool(threads).install(|| all_bits(isa, &x, shape));
                assert!(got == reference, "{shape:?} {isa:?} {threads} threads");
            }
        }
    }
}

/// Relative error of the f32 sum of `n` uniforms in [0, 1) against the f64 sum.
fn long_sum_error(n: usize) -> (f64, f64) {
    let mut x = vec![0f32; n];
    fill_uniform_f32(&mut x, RngState::new(n as u64), 0.0, 1.0);
    let exact: f64 = x.iter().map(|&v| v as f64).sum();
    let (mut row, mut col) = ([0f32], [0f32; 2]);
    sum(&mut row, &x, 1, n, 1);
    sum(&mut col, &x, 1, n / 2, 2); // the strided path on the same data, two columns
    let col_exact: f64 = x.iter().step_by(2).map(|&v| v as f64).sum();
    (
        (row[0] as f64 - exact).abs() / exact,
        (col[0] as f64 - col_exact).abs() / col_exact,
    )
}

#[test]
fn long_f32_sums_stay_accurate() {
    for n in [1_000_000, 10_000_000] {
        let (row, col) = long_sum_error(n);
        // A naive f32 loop is off by ~1e-3 at n = 1e7 (the sum outgrows the 24-bit mantissa).
        assert!(row < 1e-6 && col < 1e-6, "n {n}: row {row:e} col {col:e}");
    }
    let mut x = vec![0f64; 1 << 20];
    fill_uniform_f64(&mut x, RngState::new(5), -1.0, 1.0);
    let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let exact: f64 = xf.iter().map(|&v| v as f64).sum();
    let mut out = [0f32];
    sum(&mut out, &xf, 1, xf.len(), 1);
    let abs: f64 = xf.iter().map(|&v| v.abs() as f64).sum();
    assert!(
        (out[0] as f64 - exact).abs() < 1e-7 * abs,
        "{} vs {exact}",
        out[0]
    );
}
