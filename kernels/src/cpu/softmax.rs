//! Softmax and log-softmax over the last dimension (forward and backward), and fused
//! softmax-cross-entropy with integer targets, on contiguous `[rows, cols]` data.
//!
//! Rows are independent, so rayon splits them into fixed chunks and results never depend on the
//! thread count. Each row subtracts its max before exponentiating; a row that is entirely -inf
//! (or holds +inf or NaN) gives NaN, as in PyTorch. f32 runs through the SIMD row code of
//! `vmath` (AVX-512 / AVX2 / scalar), f64 through plain scalar code. Backward kernels overwrite
//! their output.

use rayon::prelude::*;

use super::vmath::{available_isas, exp_v, isa, Isa, Real, Vf};
#[cfg(target_arch = "x86_64")]
use super::vmath::{Avx2, Avx512};

/// Elements per rayon task: enough work (~10 µs) to amortise the task overhead.
const CHUNK_ELEMS: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowOp {
    /// out = softmax(a)
    Softmax,
    /// out = log_softmax(a)
    LogSoftmax,
    /// out = b * (a - sum(a*b)) with a = dout, b = softmax output
    SoftmaxBwd,
    /// out = a - exp(b) * sum(a) with a = dout, b = log_softmax output
    LogSoftmaxBwd,
}

/// Element types with softmax kernels: f32 (SIMD) and f64.
pub trait SoftmaxFloat: Real {
    #[doc(hidden)]
    fn rows_chunk(op_id: u8, out: &mut [Self], a: &[Self], b: &[Self], cols: usize);
}

impl SoftmaxFloat for f64 {
    fn rows_chunk(op_id: u8, out: &mut [f64], a: &[f64], b: &[f64], cols: usize) {
        rows_generic(op_from(op_id), out, a, b, cols)
    }
}

impl SoftmaxFloat for f32 {
    fn rows_chunk(op_id: u8, out: &mut [f32], a: &[f32], b: &[f32], cols: usize) {
        rows_f32(isa(), op_from(op_id), out, a, b, cols)
    }
}

fn op_from(id: u8) -> RowOp {
    [
        RowOp::Softmax,
        RowOp::LogSoftmax,
        RowOp::SoftmaxBwd,
        RowOp::LogSoftmaxBwd,
    ][id as usize]
}

fn run_rows<T: SoftmaxFloat>(op: RowOp, out: &mut [T], a: &[T], b: &[T], rows: usize, cols: usize) {
    let n = rows * cols;
    assert!(
        out.len() == n && a.len() == n,
        "softmax: slices must hold rows*cols elements"
    );
    assert!(
        b.is_empty() || b.len() == n,
        "softmax: slices must hold rows*cols elements"
    );
    if n == 0 {
        return;
    }
    let chunk = CHUNK_ELEMS.div_ceil(cols).max(1) * cols;
    let id = op as u8;
    out.par_chunks_mut(chunk).enumerate().for_each(|(i, o)| {
        let s = i * chunk;
        let bb = if b.is_empty() { b } else { &b[s..s + o.len()] };
        T::rows_chunk(id, o, &a[s..s + o.len()], bb, cols);
    });
}

/// `out[r, :] = softmax(inp[r, :])` for `[rows, cols]`.
pub fn softmax_forward<T: SoftmaxFloat>(out: &mut [T], inp: &[T], rows: usize, cols: usize) {
    run_rows(RowOp::Softmax, out, inp, &[], rows, cols)
}

/// `out[r, :] = log_softmax(inp[r, :]) = x - max - ln(sum(exp(x - max)))`.
pub fn log_softmax_forward<T: SoftmaxFloat>(out: &mut [T], inp: &[T], rows: usize, cols: usize) {
    run_rows(RowOp::LogSoftmax, out, inp, &[], rows, cols)
}

/// `dinp = out * (dout - sum(dout * out))` per row, `out` being the softmax output.
pub fn softmax_backward<T: SoftmaxFloat>(
    dinp: &mut [T],
    dout: &[T],
    out: &[T],
    rows: usize,
    cols: usize,
) {
    assert_eq!(
        out.len(),
        rows * cols,
        "softmax_backward: out must hold rows*cols elements"
    );
    run_rows(RowOp::SoftmaxBwd, dinp, dout, out, rows, cols)
}

/// `dinp = dout - exp(out) * sum(dout)` per row, `out` being the log-softmax output.
pub fn log_softmax_backward<T: SoftmaxFloat>(
    dinp: &mut [T],
    dout: &[T],
    out: &[T],
    rows: usize,
    cols: usize,
) {
    assert_eq!(
        out.len(),
        rows * cols,
        "log_softmax_backward: out must hold rows*cols elements"
    );
    run_rows(RowOp::LogSoftmaxBwd, dinp, dout, out, rows, cols)
}

// ---------------------------------------------------------------------------------------------
// f64 (and oracle-style) row code.

fn rows_generic<T: Real>(op: RowOp, out: &mut [T], a: &[T], b: &[T], cols: usize) {
    for (r, o) in out.chunks_exact_mut(cols).enumerate() {
        let x = &a[r * cols..(r + 1) * cols];
        match op {
            RowOp::Softmax | RowOp::LogSoftmax => {
                let m = x.iter().fold(T::NEG_INFINITY, |m, &v| m.max_nan(v));
                if op == RowOp::Softmax {
                    let mut s = T::ZERO;
                    for (o, &v) in o.iter_mut().zip(x) {
                        *o = (v - m).exp();
                        s += *o;
                    }
                    let inv = T::ONE / s;
                    o.iter_mut().for_each(|o| *o = *o * inv);
                } else {
                    let mut s = T::ZERO;
                    x.iter().for_each(|&v| s += (v - m).exp());
                    let l = s.ln();
                    for (o, &v) in o.iter_mut().zip(x) {
                        *o = (v - m) - l;
                    }
                }
            }
            RowOp::SoftmaxBwd => {
                let y = &b[r * cols..(r + 1) * cols];
                let mut d = T::ZERO;
                x.iter().zip(y).for_each(|(&g, &y)| d += g * y);
                for ((o, &g), &y) in o.iter_mut().zip(x).zip(y) {
                    *o = y * (g - d);
                }
            }
            RowOp::LogSoftmaxBwd => {
                let y = &b[r * cols..(r + 1) * cols];
                let mut s = T::ZERO;
                x.iter().for_each(|&g| s += g);
                for ((o, &g), &y) in o.iter_mut().zip(x).zip(y) {
                    *o = g - y.exp() * s;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// f32 SIMD row code, generic over the vector type.

/// Load `k < LANES` elements, the rest of the register set to `fill`.
#[inline(always)]
unsafe fn load_part<V: Vf>(p: *const f32, k: usize, fill: f32) -> V {
    let mut buf = [fill; 16];
    std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), k);
    V::load(buf.as_ptr())
}

#[inline(always)]
unsafe fn store_part<V: Vf>(v: V, p: *mut f32, k: usize) {
    let mut buf = [0.0f32; 16];
    v.store(buf.as_mut_ptr());
    std::ptr::copy_nonoverlapping(buf.as_ptr(), p, k);
}

/// Fold `f(acc, x[i], y[i])` over a row into two accumulators (a fixed order), `fill` padding
/// the tail of `x` and zeros that of `y`. The caller combines the pair.
#[inline(always)]
unsafe fn reduce<V: Vf>(
    x: *const f32,
    y: *const f32,
    n: usize,
    fill: f32,
    init: f32,
    f: impl Fn(V, V, V) -> V,
) -> (V, V) {
    let l = V::LANES;
    let (mut a0, mut a1) = (V::splat(init), V::splat(init));
    let mut i = 0;
    while i + 2 * l <= n {
        a0 = f(a0, V::load(x.add(i)), V::load(y.add(i)));
        a1 = f(a1, V::load(x.add(i + l)), V::load(y.add(i + l)));
        i += 2 * l;
    }
    if i + l <= n {
        a0 = f(a0, V::load(x.add(i)), V::load(y.add(i)));
        i += l;
    }
    if i < n {
        a1 = f(
            a1,
            load_part(x.add(i), n - i, fill),
            load_part(y.add(i), n - i, 0.0),
        );
    }
    (a0, a1)
}

#[inline(always)]
unsafe fn row_max<V: Vf>(x: *const f32, n: usize) -> f32 {
    let (a0, a1) = reduce::<V>(
        x,
        x,
        n,
        f32::NEG_INFINITY,
        f32::NEG_INFINITY,
        #[inline(always)]
        |acc, v, _| acc.max(v),
    );
    a0.max(a1).reduce_max()
}

#[inline(always)]
unsafe fn row_sum<V: Vf>(x: *const f32, n: usize) -> f32 {
    let (a0, a1) = reduce::<V>(
        x,
        x,
        n,
        0.0,
        0.0,
        #[inline(always)]
        |acc, v, _| acc.add(v),
    );
    a0.add(a1).reduce_sum()
}

/// Elementwise `o[i] = f(x[i], y[i])` over a row.
#[inline(always)]
unsafe fn map2<V: Vf>(o: *mut f32, x: *const f32, y: *const f32, n: usize, f: impl Fn(V, V) -> V) {
    let l = V::LANES;
    let mut i = 0;
    while i + l <= n {
        f(V::load(x.add(i)), V::load(y.add(i))).store(o.add(i));
        i += l;
    }
    if i < n {
        let k = n - i;
        store_part(
            f(load_part(x.add(i), k, 0.0), load_part(y.add(i), k, 0.0)),
            o.add(i),
            k,
        );
    }
}

/// `o = exp(x - m)` over a row, returning the sum (two accumulators, fixed order).
#[inline(always)]
unsafe fn exp_store_sum<V: Vf>(o: *mut f32, x: *const f32, n: usize, mv: V) -> f32 {
    let l = V::LANES;
    let (mut s0, mut s1) = (V::splat(0.0), V::splat(0.0));
    let mut i = 0;
    while i + 2 * l <= n {
        let e0 = exp_v(V::load(x.add(i)).sub(mv));
        let e1 = exp_v(V::load(x.add(i + l)).sub(mv));
        e0.store(o.add(i));
        e1.store(o.add(i + l));
        s0 = s0.add(e0);
        s1 = s1.add(e1);
        i += 2 * l;
    }
    while i < n {
        let k = (n - i).min(l);
        // Padding with -inf makes the extra lanes exp(-inf) = 0.
        let e = exp_v(load_part::<V>(x.add(i), k, f32::NEG_INFINITY).sub(mv));
        store_part(e, o.add(i), k);
        s0 = s0.add(e);
        i += k;
    }
    s0.add(s1).reduce_sum()
}

#[inline(always)]
unsafe fn rows_v<V: Vf>(op: RowOp, out: &mut [f32], a: &[f32], b: &[f32], cols: usize) {
    let rows = out.len() / cols;
    for r in 0..rows {
        let o = out.as_mut_ptr().add(r * cols);
        let x = a.as_ptr().add(r * cols);
        match op {
            RowOp::Softmax | RowOp::LogSoftmax => {
                let m = row_max::<V>(x, cols);
                let mv = V::splat(m);
                if op == RowOp::Softmax {
                    // One pass: o = exp(x - m) and its sum; then scale (the row is in L1).
                    let s = exp_store_sum::<V>(o, x, cols, mv);
                    let inv = V::splat(1.0 / s);
                    map2::<V>(
                        o,
                        o,
                        o,
                        cols,
                        #[inline(always)]
                        |v, _| v.mul(inv),
                    );
                } else {
                    let (s0, s1) = reduce::<V>(
                        x,
                        x,
                        cols,
                        f32::NEG_INFINITY,
                        0.0,
                        #[inline(always)]
                        |acc, v, _| acc.add(exp_v(v.sub(mv))),
                    );
                    let l = V::splat(s0.add(s1).reduce_sum().ln());
                    map2::<V>(
                        o,
                        x,
                        x,
                        cols,
                        #[inline(always)]
                        |v, _| v.sub(mv).sub(l),
                    );
                }
            }
            RowOp::SoftmaxBwd => {
                let y = b.as_ptr().add(r * cols);
                let (d0, d1) = reduce::<V>(
                    x,
                    y,
                    cols,
                    0.0,
                    0.0,
                    #[inline(always)]
                    |acc, g, y| g.fma(y, acc),
                );
                let d = V::splat(d0.add(d1).reduce_sum());
                map2::<V>(
                    o,
                    x,
                    y,
                    cols,
                    #[inline(always)]
                    |g, y| y.mul(g.sub(d)),
                );
            }
            RowOp::LogSoftmaxBwd => {
                let y = b.as_ptr().add(r * cols);
                let s = V::splat(row_sum::<V>(x, cols));
                map2::<V>(
                    o,
                    x,
                    y,
                    cols,
                    #[inline(always)]
                    |g, y| exp_v(y).neg().fma(s, g),
                );
            }
        }
    }
}

simd_dispatch!(
    /// One row op over whole rows on the given ISA.
    fn rows_f32(op: RowOp, out: &mut [f32], a: &[f32], b: &[f32], cols: usize) => rows_v
);

mod cross_entropy;
pub use cross_entropy::{cross_entropy_backward, cross_entropy_forward};

#[cfg(test)]
mod tests;
