//! Normalisation layers, forward and backward: layer norm (rows), batch norm and group norm
//! (layout `[n, c, spatial]`), with PyTorch's semantics (biased variance for normalising,
//! unbiased for BatchNorm's running variance; saved statistics are mean and 1/sqrt(var + eps)).
//!
//! Determinism: every reduction has a fixed order that depends only on the sizes. Parameter
//! gradients are summed as per-chunk partials (chunks fixed by the sizes, not the thread count)
//! added in chunk order. Statistics use two passes over data (mean, then squared deviations),
//! which avoids the cancellation of `E[x^2] - E[x]^2`. Layer norm on f32 is SIMD (the row is in
//! L1 between passes); batch and group norm accumulate in f64 lanes, since a channel can span
//! millions of elements. Backward kernels overwrite their outputs.

use rayon::prelude::*;

use super::vmath::{available_isas, isa, Isa, Real, Vf};
#[cfg(target_arch = "x86_64")]
use super::vmath::{Avx2, Avx512};

mod batch;
mod group;
pub use batch::{batchnorm_backward, batchnorm_forward_eval, batchnorm_forward_train};
pub use group::{groupnorm_backward, groupnorm_forward};

/// Elements per rayon task.
const CHUNK_ELEMS: usize = 16 * 1024;
/// At most about this many partial parameter-gradient rows in layer norm backward.
const MAX_PARTIALS: usize = 64;

/// Element types with normalisation kernels: f32 (SIMD layer norm) and f64.
pub trait NormFloat: Real {
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    fn ln_fwd_rows(
        out: &mut [Self],
        mean: &mut [Self],
        rstd: &mut [Self],
        inp: &[Self],
        w: Option<&[Self]>,
        b: Option<&[Self]>,
        cols: usize,
        eps: Self,
    );
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    fn ln_bwd_rows(
        dinp: &mut [Self],
        dw: &mut [Self],
        db: &mut [Self],
        dout: &[Self],
        inp: &[Self],
        w: Option<&[Self]>,
        mean: &[Self],
        rstd: &[Self],
        cols: usize,
    );
}

impl NormFloat for f64 {
    fn ln_fwd_rows(
        out: &mut [f64],
        mean: &mut [f64],
        rstd: &mut [f64],
        inp: &[f64],
        w: Option<&[f64]>,
        b: Option<&[f64]>,
        cols: usize,
        eps: f64,
    ) {
        ln_fwd_generic(out, mean, rstd, inp, w, b, cols, eps)
    }
    fn ln_bwd_rows(
        dinp: &mut [f64],
        dw: &mut [f64],
        db: &mut [f64],
        dout: &[f64],
        inp: &[f64],
        w: Option<&[f64]>,
        mean: &[f64],
        rstd: &[f64],
        cols: usize,
    ) {
        ln_bwd_generic(dinp, dw, db, dout, inp, w, mean, rstd, cols)
    }
}

impl NormFloat for f32 {
    fn ln_fwd_rows(
        out: &mut [f32],
        mean: &mut [f32],
        rstd: &mut [f32],
        inp: &[f32],
        w: Option<&[f32]>,
        b: Option<&[f32]>,
        cols: usize,
        eps: f32,
    ) {
        ln_fwd_f32(isa(), out, mean, rstd, inp, w, b, cols, eps)
    }
    fn ln_bwd_rows(
        dinp: &mut [f32],
        dw: &mut [f32],
        db: &mut [f32],
        dout: &[f32],
        inp: &[f32],
        w: Option<&[f32]>,
        mean: &[f32],
        rstd: &[f32],
        cols: usize,
    ) {
        ln_bwd_f32(isa(), dinp, dw, db, dout, inp, w, mean, rstd, cols)
    }
}

/// Layer norm over the last dimension of `[rows, cols]`:
/// `out = (x - mean) * rstd * weight + bias`, `rstd = 1 / sqrt(var + eps)` (biased variance);
/// `mean` and `rstd` (`[rows]`) are saved for the backward.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_forward<T: NormFloat>(
    out: &mut [T],
    mean: &mut [T],
    rstd: &mut [T],
    inp: &[T],
    weight: Option<&[T]>,
    bias: Option<&[T]>,
    rows: usize,
    cols: usize,
    eps: T,
) {
    let n = rows * cols;
    assert!(
        out.len() == n && inp.len() == n,
        "layernorm_forward: out/inp must hold rows*cols"
    );
    assert!(
        mean.len() == rows && rstd.len() == rows,
        "layernorm_forward: mean/rstd must hold rows"
    );
    assert!(
        weight.is_none_or(|w| w.len() == cols) && bias.is_none_or(|b| b.len() == cols),
        "layernorm: weight/bias"
    );
    if n == 0 {
        // Zero-width rows still get statistics (PyTorch: mean NaN); keep them defined.
        mean.iter_mut().for_each(|m| *m = T::NAN);
        rstd.iter_mut().for_each(|r| *r = T::NAN);
        return;
    }
    let cr = CHUNK_ELEMS.div_ceil(cols).max(1);
    out.par_chunks_mut(cr * cols)
        .zip(mean.par_chunks_mut(cr))
        .zip(rstd.par_chunks_mut(cr))
        .enumerate()
        .for_each(|(i, ((o, m), r))| {
            let x = &inp[i * cr * cols..][..o.len()];
            T::ln_fwd_rows(o, m, r, x, weight, bias, cols, eps);
        });
}

/// Layer norm backward. `dinp` is overwritten with
/// `rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`, `dxhat = dout * weight`;
/// `dweight = sum_rows dout * xhat` and `dbias = sum_rows dout` are overwritten when given.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward<T: NormFloat>(
    dinp: &mut [T],
    dweight: Option<&mut [T]>,
    dbias: Option<&mut [T]>,
    dout: &[T],
    inp: &[T],
    weight: Option<&[T]>,
    mean: &[T],
    rstd: &[T],
    rows: usize,
    cols: usize,
) {
    let n = rows * cols;
    assert!(
        dinp.len() == n && dout.len() == n && inp.len() == n,
        "layernorm_backward: rows*cols"
    );
    assert!(
        mean.len() == rows && rstd.len() == rows,
        "layernorm_backward: mean/rstd must hold rows"
    );
    assert!(
        weight.is_none_or(|w| w.len() == cols),
        "layernorm_backward: weight must hold cols"
    );
    // Fixed chunks of rows; each chunk writes its own partial dweight/dbias row.
    let cr = CHUNK_ELEMS
        .div_ceil(cols.max(1))
        .max(rows.div_ceil(MAX_PARTIALS))
        .max(1);
    let nchunks = rows.div_ceil(cr);
    let mut part = vec![T::ZERO; 2 * nchunks * cols];
    let (pw, pb) = part.split_at_mut(nchunks * cols);
    if n > 0 {
        dinp.par_chunks_mut(cr * cols)
            .zip(pw.par_chunks_mut(cols))
            .zip(pb.par_chunks_mut(cols))
            .enumerate()
            .for_each(|(i, ((d, pw), pb))| {
                let r0 = i * cr;
                let r1 = r0 + d.len() / cols;
                let s = r0 * cols..r1 * cols;
                T::ln_bwd_rows(
                    d,
                    pw,
                    pb,
                    &dout[s.clone()],
                    &inp[s],
                    weight,
                    &mean[r0..r1],
                    &rstd[r0..r1],
                    cols,
                );
            });
    }
    for (dst, part) in [(dweight, &*pw), (dbias, &*pb)] {
        if let Some(dst) = dst {
            assert_eq!(
                dst.len(),
                cols,
                "layernorm_backward: dweight/dbias must hold cols"
            );
            dst.iter_mut().for_each(|v| *v = T::ZERO);
            for p in part.chunks_exact(cols.max(1)) {
                dst.iter_mut().zip(p).for_each(|(d, &p)| *d += p);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers: f64 lane accumulators (fixed order, vectorisable).

/// `sum f(x)` in f64, eight lanes combined pairwise (a fixed order the compiler can vectorise).
#[inline]
pub(crate) fn sum_f64<T: Real>(x: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut it = x.chunks_exact(8);
    for c in &mut it {
        for j in 0..8 {
            acc[j] += f(c[j].to_f64());
        }
    }
    for (j, &v) in it.remainder().iter().enumerate() {
        acc[j] += f(v.to_f64());
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// `(sum g, sum g * (x - c))` in f64 lanes.
#[inline]
pub(crate) fn sum_g_gx<T: Real>(g: &[T], x: &[T], c: f64) -> (f64, f64) {
    let (mut a, mut b) = ([0.0f64; 8], [0.0f64; 8]);
    let n8 = g.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        for j in 0..8 {
            let gv = g[i + j].to_f64();
            a[j] += gv;
            b[j] += gv * (x[i + j].to_f64() - c);
        }
    }
    for i in n8..g.len() {
        let gv = g[i].to_f64();
        a[i - n8] += gv;
        b[i - n8] += gv * (x[i].to_f64() - c);
    }
    let r = |v: [f64; 8]| ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
    (r(a), r(b))
}

/// Mean and biased variance of a block in f64 (two passes).
#[inline]
pub(crate) fn mean_var<T: Real>(x: &[T]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = sum_f64(x, |v| v) / n;
    (m, sum_f64(x, |v| (v - m) * (v - m)) / n)
}

/// A raw pointer that may cross threads: used where parallel tasks write disjoint strided
/// parts of one slice (batch norm channels).
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub *mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}
impl<T> SendPtr<T> {
    #[inline(always)]
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

// ---------------------------------------------------------------------------------------------
// Layer norm rows: generic (f64) and SIMD (f32).

#[allow(clippy::too_many_arguments)]
fn ln_fwd_generic<T: Real>(
    out: &mut [T],
    mean: &mut [T],
    rstd: &mut [T],
    inp: &[T],
    w: Option<&[T]>,
    b: Option<&[T]>,
    cols: usize,
    eps: T,
) {
    for (r, (o, x)) in out
        .chunks_exact_mut(cols)
        .zip(inp.chunks_exact(cols))
        .enumerate()
    {
        let (m, v) = mean_var(x);
        let rs = T::ONE / (T::from_f64(v) + eps).sqrt();
        let m = T::from_f64(m);
        (mean[r], rstd[r]) = (m, rs);
        for (c, (o, &xv)) in o.iter_mut().zip(x).enumerate() {
            let xh = (xv - m) * rs;
            *o = xh * w.map_or(T::ONE, |w| w[c]) + b.map_or(T::ZERO, |b| b[c]);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn ln_bwd_generic<T: Real>(
    dinp: &mut [T],
    dw: &mut [T],
    db: &mut [T],
    dout: &[T],
    inp: &[T],
    w: Option<&[T]>,
    mean: &[T],
    rstd: &[T],
    cols: usize,
) {
    let inv_n = T::ONE / T::from_f64(cols as f64);
    for (r, d) in dinp.chunks_exact_mut(cols).enumerate() {
        let (g, x) = (
            &dout[r * cols..(r + 1) * cols],
            &inp[r * cols..(r + 1) * cols],
        );
        let (m, rs) = (mean[r], rstd[r]);
        let (mut s1, mut s2) = (T::ZERO, T::ZERO);
        for c in 0..cols {
            let dxh = g[c] * w.map_or(T::ONE, |w| w[c]);
            s1 += dxh;
            s2 += dxh * (x[c] - m) * rs;
        }
        let (a, bb) = (s1 * inv_n, s2 * inv_n);
        for c in 0..cols {
            let xh = (x[c] - m) * rs;
            let dxh = g[c] * w.map_or(T::ONE, |w| w[c]);
            d[c] = rs * (dxh - a - xh * bb);
            dw[c] += g[c] * xh;
            db[c] += g[c];
        }
    }
}

#[inline(always)]
unsafe fn ld<V: Vf>(p: *const f32, k: usize, fill: f32) -> V {
    if k == V::LANES {
        V::load(p)
    } else {
        let mut buf = [fill; 16];
        std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), k);
        V::load(buf.as_ptr())
    }
}

#[inline(always)]
unsafe fn st<V: Vf>(v: V, p: *mut f32, k: usize) {
    if k == V::LANES {
        v.store(p)
    } else {
        let mut buf = [0.0f32; 16];
        v.store(buf.as_mut_ptr());
        std::ptr::copy_nonoverlapping(buf.as_ptr(), p, k);
    }
}

/// `(x[i..i+k] - m) * rstd`.
#[inline(always)]
unsafe fn xhat<V: Vf>(x: *const f32, i: usize, k: usize, mv: V, rv: V) -> V {
    ld::<V>(x.add(i), k, 0.0).sub(mv).mul(rv)
}

/// Call `f(offset, count)` for each register-sized step of a row of `n`.
#[inline(always)]
fn steps<V: Vf>(n: usize, mut f: impl FnMut(usize, usize)) {
    let mut i = 0;
    while i < n {
        let k = (n - i).min(V::LANES);
        f(i, k);
        i += k;
    }
}

/// `sum f(x[i..i+LANES])` over a row of `n` in a fixed order: four accumulators over full
/// registers (the adds are independent, so the loop is not bound by add latency), the tail
/// (padded with `fill`) into the first, then `(a0 + a1) + (a2 + a3)`.
#[inline(always)]
unsafe fn row_sum<V: Vf>(x: *const f32, n: usize, fill: f32, f: impl Fn(V, V) -> V) -> f32 {
    let l = V::LANES;
    let z = V::splat(0.0);
    let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
    let mut i = 0;
    while i + 4 * l <= n {
        a0 = f(V::load(x.add(i)), a0);
        a1 = f(V::load(x.add(i + l)), a1);
        a2 = f(V::load(x.add(i + 2 * l)), a2);
        a3 = f(V::load(x.add(i + 3 * l)), a3);
        i += 4 * l;
    }
    while i + l <= n {
        a0 = f(V::load(x.add(i)), a0);
        i += l;
    }
    if i < n {
        a0 = f(ld::<V>(x.add(i), n - i, fill), a0);
    }
    a0.add(a1).add(a2.add(a3)).reduce_sum()
}

/// Normalise one row: `o = g((x - m) * rs, i)` over full registers, then the padded tail.
#[inline(always)]
unsafe fn row_map<V: Vf>(
    o: *mut f32,
    x: *const f32,
    n: usize,
    mv: V,
    rv: V,
    g: impl Fn(V, usize, usize) -> V,
) {
    let l = V::LANES;
    let mut i = 0;
    while i + l <= n {
        g(V::load(x.add(i)).sub(mv).mul(rv), i, l).store(o.add(i));
        i += l;
    }
    if i < n {
        let k = n - i;
        st(g(xhat::<V>(x, i, k, mv, rv), i, k), o.add(i), k);
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn ln_fwd_v<V: Vf>(
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    inp: &[f32],
    w: Option<&[f32]>,
    b: Option<&[f32]>,
    cols: usize,
    eps: f32,
) {
    let inv_n = 1.0 / cols as f32;
    // Raw pointers taken once, so that the stores of the normalise pass cannot make the compiler
    // reload them.
    let (wp, bp) = (w.map(|w| w.as_ptr()), b.map(|b| b.as_ptr()));
    let (ip, op) = (inp.as_ptr(), out.as_mut_ptr());
    for r in 0..out.len() / cols {
        let x = ip.add(r * cols);
        let o = op.add(r * cols);
        // Two passes over the row (it stays in L1): the mean, then squared deviations from it.
        // The sum is of deviations from the row's first element: an offset much larger than the
        // spread would otherwise cost the f32 sum its low bits.
        let x0 = *x;
        let x0v = V::splat(x0);
        let m = x0 + row_sum::<V>(x, cols, x0, |v, a| a.add(v.sub(x0v))) * inv_n;
        let mv = V::splat(m);
        let ss = row_sum::<V>(x, cols, m, |v, a| {
            let d = v.sub(mv);
            d.fma(d, a)
        });
        let rs = 1.0 / (ss * inv_n + eps).sqrt();
        (mean[r], rstd[r]) = (m, rs);
        let rv = V::splat(rs);
        match (wp, bp) {
            (Some(wp), Some(bp)) => row_map::<V>(o, x, cols, mv, rv, |xh, i, k| {
                xh.fma(ld(wp.add(i), k, 0.0), ld(bp.add(i), k, 0.0))
            }),
            (Some(wp), None) => {
                row_map::<V>(o, x, cols, mv, rv, |xh, i, k| xh.mul(ld(wp.add(i), k, 0.0)))
            }
            (None, Some(bp)) => {
                row_map::<V>(o, x, cols, mv, rv, |xh, i, k| xh.add(ld(bp.add(i), k, 0.0)))
            }
            (None, None) => row_map::<V>(o, x, cols, mv, rv, |xh, _, _| xh),
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn ln_bwd_v<V: Vf>(
    dinp: &mut [f32],
    dw: &mut [f32],
    db: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    w: Option<&[f32]>,
    mean: &[f32],
    rstd: &[f32],
    cols: usize,
) {
    let inv_n = 1.0 / cols as f32;
    let (dwp, dbp) = (dw.as_mut_ptr(), db.as_mut_ptr());
    // Without a weight, read ones (a register-sized row is enough: the pointer does not advance).
    let ones = [1.0f32; 16];
    let (wp, wstep) = match w {
        Some(w) => (w.as_ptr(), 1),
        None => (ones.as_ptr(), 0),
    };
    for r in 0..dinp.len() / cols {
        let (x, g, d) = (
            inp.as_ptr().add(r * cols),
            dout.as_ptr().add(r * cols),
            dinp.as_mut_ptr().add(r * cols),
        );
        let (mv, rv) = (V::splat(mean[r]), V::splat(rstd[r]));
        let (mut s1, mut s2) = (V::splat(0.0), V::splat(0.0));
        steps::<V>(
            cols,
            #[inline(always)]
            |i, k| {
                let dxh = ld::<V>(g.add(i), k, 0.0).mul(ld(wp.add(i * wstep), k, 0.0));
                let xh = ld::<V>(x.add(i), k, 0.0).sub(mv).mul(rv);
                s1 = s1.add(dxh);
                s2 = dxh.fma(xh, s2);
            },
        );
        let a = V::splat(s1.reduce_sum() * inv_n);
        let bb = V::splat(s2.reduce_sum() * inv_n);
        steps::<V>(
            cols,
            #[inline(always)]
            |i, k| {
                let gv = ld::<V>(g.add(i), k, 0.0);
                let dxh = gv.mul(ld(wp.add(i * wstep), k, 0.0));
                let xh = ld::<V>(x.add(i), k, 0.0).sub(mv).mul(rv);
                st(rv.mul(dxh.sub(a).sub(xh.mul(bb))), d.add(i), k);
                st(gv.fma(xh, ld(dwp.add(i), k, 0.0)), dwp.add(i), k);
                st(gv.add(ld(dbp.add(i), k, 0.0)), dbp.add(i), k);
            },
        );
    }
}

simd_dispatch!(
    /// Layer norm forward over whole rows on the given ISA.
    fn ln_fwd_f32(out: &mut [f32], mean: &mut [f32], rstd: &mut [f32], inp: &[f32], w: Option<&[f32]>, b: Option<&[f32]>, cols: usize, eps: f32) => ln_fwd_v
);

simd_dispatch!(
    /// Layer norm backward over whole rows on the given ISA.
    fn ln_bwd_f32(dinp: &mut [f32], dw: &mut [f32], db: &mut [f32], dout: &[f32], inp: &[f32], w: Option<&[f32]>, mean: &[f32], rstd: &[f32], cols: usize) => ln_bwd_v
);

#[cfg(test)]
mod tests;
