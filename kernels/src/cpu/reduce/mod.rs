//! Reductions over the middle axis of a contiguous `[outer, r, inner]` array (the caller permutes
//! or merges dims into this form): sum, mean, max, min, argmax, argmin, var, logsumexp, cumsum,
//! and an i64 sum. f32 and f64; f16/bf16 are converted to f32 by the caller.
//!
//! Outputs are `[outer, inner]` (cumsum: `[outer, r, inner]`), output `(o, j)` reducing
//! `inp[(o * r + k) * inner + j]` over `k < r`.
//!
//! Accuracy and determinism of the sums (sum, mean, var, logsumexp). The summation order is a
//! function of `r` alone, never of the thread count, the ISA or the tiling:
//! - `inner == 1` (contiguous rows): blocks of [`BLOCK`] = 2048 elements; inside a block element
//!   `k` goes to accumulator lane `k % 32`, then the 32 lanes are added in a fixed pairwise tree;
//!   block sums are combined by a binary-counter cascade (pairwise over runs of blocks).
//! - `inner > 1` (strided): each column sums runs of [`RB`] = 32 rows sequentially (the whole row
//!   of the tile is one vector add), and the run sums go through the same cascade.
//!
//! The worst-case relative error (to sum |x|) is about `(64 + 5 + log2(r / 2048)) eps` for rows
//! and `(32 + log2(r / 32)) eps` for columns, against `r eps` for a naive loop; the typical error
//! is the square root of that. PyTorch's CPU sum is a cascade sum of the same kind, so the two
//! agree to ~1e-6 relative in f32 for any r.
//!
//! Parallelism: rayon over outputs (groups of rows of `outer`, or tiles of `inner` columns when
//! `outer` is small); a contiguous sum with few rows also splits its blocks across threads, which
//! is safe because the cascade's grouping does not depend on who computed each block.
//!
//! Empty reductions (`r == 0`): sum 0, mean NaN, var NaN, logsumexp -inf, cumsum nothing.
//! max/min/argmax/argmin of an empty axis has no value: reporting it is the caller's error to
//! raise (as PyTorch does); these kernels assert `r > 0` whenever there is an output.
//! NaN: max/min propagate NaN; argmax/argmin return the first NaN (NaN beats every number), as in
//! PyTorch. Ties: the first occurrence.

mod kernels;
#[cfg(test)]
mod tests;

use crate::cpu::vmath::{isa, Isa};
use kernels::{block_sum, col_arg, col_ext, col_sum, row_ext, row_find, Cascade, BLOCK, TW};
use rayon::prelude::*;
use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Sub};

/// The float types the reductions run on.
pub trait Elem:
    Copy
    + Send
    + Sync
    + PartialOrd
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + 'static
{
    const ZERO: Self;
    const NEG_ZERO: Self;
    const NAN: Self;
    const NEG_INFINITY: Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn from_usize(n: usize) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn is_nan(self) -> bool;
    fn is_infinite(self) -> bool;
}

macro_rules! impl_elem {
    ($t:ty) => {
        impl Elem for $t {
            const ZERO: $t = 0.0;
            const NEG_ZERO: $t = -0.0;
            const NAN: $t = <$t>::NAN;
            const NEG_INFINITY: $t = <$t>::NEG_INFINITY;
            #[inline(always)]
            fn from_f64(x: f64) -> $t {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_usize(n: usize) -> $t {
                n as $t
            }
            #[inline(always)]
            fn exp(self) -> $t {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> $t {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline(always)]
            fn is_infinite(self) -> bool {
                <$t>::is_infinite(self)
            }
        }
    };
}
impl_elem!(f32);
impl_elem!(f64);

/// The per-element map a sum applies first: `f(x, c)` with `c` a per-output constant (the mean
/// for variance, the max for logsumexp).
pub(crate) trait Map<T>: Sync {
    fn f(&self, x: T, c: T) -> T;
}
struct Id;
impl<T: Elem> Map<T> for Id {
    #[inline(always)]
    fn f(&self, x: T, _: T) -> T {
        x
    }
}
struct SqDev;
impl<T: Elem> Map<T> for SqDev {
    #[inline(always)]
    fn f(&self, x: T, c: T) -> T {
        let d = x - c;
        d * d
    }
}
struct ExpShift;
impl<T: Elem> Map<T> for ExpShift {
    #[inline(always)]
    fn f(&self, x: T, c: T) -> T {
        (x - c).exp()
    }
}

/// Max or min: `beats(x, best)` says whether `x` replaces the running extremum. NaN beats every
/// number and nothing beats NaN (so NaN propagates and argmax finds the first NaN); equal values
/// do not beat (so the first occurrence wins).
pub(crate) trait Extremum: Sync {
    fn beats<T: Elem>(x: T, best: T) -> bool;
}
struct Max;
impl Extremum for Max {
    #[inline(always)]
    #[allow(clippy::eq_op)]
    fn beats<T: Elem>(x: T, best: T) -> bool {
        x > best || (x != x && best == best)
    }
}
struct Min;
impl Extremum for Min {
    #[inline(always)]
    #[allow(clippy::eq_op)]
    fn beats<T: Elem>(x: T, best: T) -> bool {
        x < best || (x != x && best == best)
    }
}

// ---- the parallel driver ----

/// Columns per call of the strided sum kernel (its per-column constants live on the stack).
const PIECE: usize = 8 * TW;

/// Input elements per rayon task: large enough (~50-100 us) that scheduling is noise.
const TASK: usize = 1 << 17;

/// Calls `f(seg, o, j0)` for disjoint pieces of the `[outer, inner]` output covering it once:
/// `seg` is `out[o * inner + j0..][..seg.len()]`. Rows of `outer` are grouped so a task reads
/// about `TASK` inputs; when one row is much more than that, its columns are split into tiles
/// (multiples of `TW`). Only the scheduling depends on this, never a value.
fn drive<U: Send>(
    out: &mut [U],
    outer: usize,
    r: usize,
    inner: usize,
    f: impl Fn(&mut [U], usize, usize) + Sync,
) {
    assert_eq!(
        out.len(),
        outer * inner,
        "reduce: output is not outer * inner"
    );
    if out.is_empty() {
        return;
    }
    let per_row = r.max(1) * inner;
    if outer * per_row <= TASK {
        for (o, seg) in out.chunks_mut(inner).enumerate() {
            f(seg, o, 0);
        }
    } else if per_row >= 2 * TASK && inner >= 2 * TW {
        // At least 4 sub-tiles wide: the strided kernels then read 512-byte runs of each row
        // (measured ~25% faster than 128-byte runs on [4096, 512]).
        let tile = (TASK / r.max(1)).max(4 * TW).next_multiple_of(TW);
        out.par_chunks_mut(inner).enumerate().for_each(|(o, row)| {
            row.par_chunks_mut(tile)
                .enumerate()
                .for_each(|(t, seg)| f(seg, o, t * tile))
        });
    } else {
        let rows = (TASK / per_row).max(1);
        out.par_chunks_mut(rows * inner)
            .enumerate()
            .for_each(|(c, chunk)| {
                for (k, seg) in chunk.chunks_mut(inner).enumerate() {
                    f(seg, c * rows + k, 0);
                }
            });
    }
}

fn check_input<T>(inp: &[T], outer: usize, r: usize, inner: usize) {
    assert_eq!(
        inp.len(),
        outer * r * inner,
        "reduce: input is not outer * r * inner"
    );
}

/// Sum of `m(x, c)` over a contiguous row; few-row reductions split the blocks over threads.
fn row_sum<T: Elem, M: Map<T>>(isa: Isa, x: &[T], m: &M, c: T, split: bool) -> T {
    if x.len() <= BLOCK {
        return if x.is_empty() {
            T::ZERO
        } else {
            block_sum(isa, x, m, c)
        };
    }
    let mut cascade = Cascade::new();
    if split && x.len() >= 4 * TASK {
        let nb = x.len().div_ceil(BLOCK);
        let per_task = TASK / BLOCK;
        let mut sums = vec![T::ZERO; nb];
        sums.par_chunks_mut(per_task)
            .enumerate()
            .for_each(|(t, s)| {
                for (i, d) in s.iter_mut().enumerate() {
                    let b0 = (t * per_task + i) * BLOCK;
                    *d = block_sum(isa, &x[b0..(b0 + BLOCK).min(x.len())], m, c);
                }
            });
        sums.into_iter().for_each(|s| cascade.push(s));
    } else {
        x.chunks(BLOCK)
            .for_each(|b| cascade.push(block_sum(isa, b, m, c)));
    }
    cascade.finish()
}

/// Sums `m(x, c(o, j))` into `seg` (columns `j0..` of output row `o`).
#[allow(clippy::too_many_arguments)]
fn sum_seg<T: Elem, M: Map<T>>(
    isa: Isa,
    seg: &mut [T],
    inp: &[T],
    o: usize,
    j0: usize,
    outer: usize,
    r: usize,
    inner: usize,
    m: &M,
    c: impl Fn(usize) -> T,
) {
    if inner == 1 {
        // Few rows: let a long row use the other threads too (a scheduling choice only).
        let split = outer < 2 * rayon::current_num_threads();
        seg[0] = row_sum(isa, &inp[o * r..][..r], m, c(0), split);
        return;
    }
    let mut cs = [T::ZERO; PIECE];
    for (t, piece) in seg.chunks_mut(PIECE).enumerate() {
        let j = j0 + t * PIECE;
        for (q, cq) in cs[..piece.len()].iter_mut().enumerate() {
            *cq = c(j + q);
        }
        col_sum(
            isa,
            piece,
            inp,
            o * r * inner + j,
            inner,
            r,
            m,
            &cs[..piece.len()],
        );
    }
}

/// Max/min into `seg` (columns `j0..` of output row `o`); `r > 0`.
fn ext_seg<T: Elem, K: Extremum>(
    isa: Isa,
    seg: &mut [T],
    inp: &[T],
    o: usize,
    j0: usize,
    r: usize,
    inner: usize,
) {
    if inner == 1 {
        seg[0] = row_ext::<T, K>(isa, &inp[o * r..][..r]);
        return;
    }
    col_ext::<T, K>(isa, seg, inp, o * r * inner + j0, inner, r);
}

// ---- public kernels ----

/// `out[o, j] = sum_k inp[o, k, j]`; 0 when `r == 0`.
pub fn sum<T: Elem>(out: &mut [T], inp: &[T], outer: usize, r: usize, inner: usize) {
    sum_isa(isa(), out, inp, outer, r, inner)
}

pub(crate) fn sum_isa<T: Elem>(
    isa: Isa,
    out: &mut [T],
    inp: &[T],
    outer: usize,
    r: usize,
    inner: usize,
) {
    check_input(inp, outer, r, inner);
    drive(out, outer, r, inner, |seg, o, j0| {
        sum_seg(isa, seg, inp, o, j0, outer, r, inner, &Id, |_| T::ZERO)
    });
}

/// `out = sum / r` (NaN when `r == 0`, as PyTorch).
pub fn mean<T: Elem>(out: &mut [T], inp: &[T], outer: usize, r: usize, inner: usize) {
    sum(out, inp, outer, r, inner);
    let n = T::from_usize(r);
    out.iter_mut().for_each(|x| *x = *x / n);
}

/// Max over the axis; NaN propagates. Asserts `r > 0` (an empty max is the caller's error).
pub fn max<T: Elem>(out: &mut [T], inp: &[T], outer: usize, r: usize, inner: usize) {
    ext_isa::<T, Max>(isa(), out, inp, outer, r, inner)
}

/// Min over the axis; NaN propagates. Asserts `r > 0`.
pub fn min<T: Elem>(out: &mut [T], inp: &[T], outer: usize, r: usize, inner: usize) {
    ext_isa::<T, Min>(isa(), out, inp, outer, r, inner)
}

pub(crate) fn ext_isa<T: Elem, K: Extremum>(
    isa: Isa,
    out: &mut [T],
    inp: &[T],
    outer: usize,
    r: usize,
    inner: usize,
) {
    check_input(inp, outer, r, inner);
    assert!(r > 0 || out.is_empty(), "max/min over an empty axis");
    drive(out, outer, r, inner, |seg, o, j0| {
        ext_seg::<T, K>(isa, seg, inp, o, j0, r, inner)
    });
}

/// Index of the max along the axis: first occurrence on ties, first NaN if any. Asserts `r > 0`.
pub fn argmax<T: Elem>(out: &mut [i64], inp: &[T], outer: usize, r: usize, inner: usize) {
    arg_isa::<T, Max>(isa(), out, inp, outer, r, inner)
}

/// Index of the min along the axis: first occurrence on ties, first NaN if any. Asserts `r > 0`.
pub fn argmin<T: Elem>(out: &mut [i64], inp: &[T], outer: usize, r: usize, inner: usize) {
    arg_isa::<T, Min>(isa(), out, inp, outer, r, inner)
}

pub(crate) fn arg_isa<T: Elem, K: Extremum>(
    isa: Isa,
    out: &mut [i64],
    inp: &[T],
    outer: usize,
    r: usize,
    inner: usize,
) {
    check_input(inp, outer, r, inner);
    assert!(r > 0 || out.is_empty(), "argmax/argmin over an empty axis");
    drive(out, outer, r, inner, |seg, o, j0| {
        if inner == 1 {
            // Vectorised extremum, then the first position holding it.
            let x = &inp[o * r..][..r];
            let e = row_ext::<T, K>(isa, x);
            seg[0] = row_find(isa, x, e).expect("the extremum is an element of the row") as i64;
        } else {
            col_arg::<T, K>(isa, seg, inp, o * r * inner + j0, inner, r);
        }
    });
}

/// Variance with `correction` (1 = unbiased, 0 = biased, as `torch.var(correction=)`), two-pass:
/// the mean, then the cascade sum of squared deviations, divided by `max(r - correction, 0)`
/// (so `r <= correction` gives NaN or inf, as PyTorch).
pub fn var<T: Elem>(
    out: &mut [T],
    inp: &[T],
    outer: usize,
    r: usize,
    inner: usize,
    correction: usize,
) {
    var_isa(isa(), out, inp, outer, r, inner, correction)
}

pub(crate) fn var_isa<T: Elem>(
    isa: Isa,
    out: &mut [T],
    inp: &[T],
    outer: usize,
    r: usize,
    inner: usize,
    correction: usize,
) {
    check_input(inp, outer, r, inner);
    let n = T::from_usize(r);
    let d = T::from_usize(r.saturating_sub(correction));
    drive(out, outer, r, inner, |seg, o, j0| {
        // Means first (into seg), then the squared deviations, PIECE columns at a time.
        sum_seg(isa, seg, inp, o, j0, outer, r, inner, &Id, |_| T::ZERO);
        for (t, tile) in seg.chunks_mut(PIECE).enumerate() {
            let mut means = [T::ZERO; PIECE];
            for (m, s) in means.iter_mut().zip(tile.iter()) {
                *m = *s / n;
            }
            sum_seg(
                isa,
                tile,
                inp,
                o,
                j0 + t * PIECE,
                outer,
                r,
                inner,
                &SqDev,
                |j| means[j - j0 - t * PIECE],
            );
            tile.iter_mut().for_each(|x| *x = *x / d);
        }
    });
}

/// `log(sum(exp(x)))`, stable: `m + log(sum(exp(x - m)))` with `m` the max. All -inf (or
/// `r == 0`) gives -inf, any +inf gives +inf, any NaN gives NaN, as PyTorch.
pub fn logsumexp<T: Elem>(out: &mut [T], inp: &[T], outer: usize, r: usize, inner: usize) {
    logsumexp_isa(isa(), out, inp, outer, r, inner)
}

pub(crate) fn logsumexp_isa<T: Elem>(
    isa: Isa,
    out: &mut [T],
    inp: &[T],
    outer: usize,
    r: usize,
    inner: usize,
) {
    check_input(inp, outer, r, inner);
    drive(out, outer, r, inner, |seg, o, j0| {
        if r == 0 {
            seg.fill(T::NEG_INFINITY);
            return;
        }
        ext_seg::<T, Max>(isa, seg, inp, o, j0, r, inner);
        for (t, tile) in seg.chunks_mut(PIECE).enumerate() {
            let mut maxes = [T::ZERO; PIECE];
            maxes[..tile.len()].copy_from_slice(tile);
            // A NaN or infinite max is the answer itself (exp(x - inf) would make NaN).
            let shift = |j: usize| {
                let m = maxes[j - j0 - t * PIECE];
                if m.is_infinite() || m.is_nan() {
                    T::ZERO
                } else {
                    m
                }
            };
            sum_seg(
                isa,
                tile,
                inp,
                o,
                j0 + t * PIECE,
                outer,
                r,
                inner,
                &ExpShift,
                shift,
            );
            for (x, &m) in tile.iter_mut().zip(maxes.iter()) {
                *x = if m.is_infinite() || m.is_nan() {
                    m
                } else {
                    m + x.ln()
                };
            }
        }
    });
}

/// Inclusive prefix sum along the axis, same shape as the input. Accumulates in f64 for both
/// types, as PyTorch's CPU cumsum does for f32 (its `acc_type<float>` is double).
pub fn cumsum<T: Elem>(out: &mut [T], inp: &[T], outer: usize, r: usize, inner: usize) {
    check_input(inp, outer, r, inner);
    assert_eq!(
        out.len(),
        inp.len(),
        "cumsum: output and input lengths differ"
    );
    if out.is_empty() {
        return;
    }
    let per_o = r * inner;
    let wide = inner >= 2 * TW && per_o >= 2 * TASK && outer < 2 * rayon::current_num_threads();
    if !wide {
        // Groups of whole [r, inner] slabs; a running f64 row walks down each slab.
        let slabs = (TASK / per_o).max(1);
        out.par_chunks_mut(slabs * per_o)
            .enumerate()
            .for_each(|(c, chunk)| {
                let mut acc = vec![0f64; inner];
                for (s, slab) in chunk.chunks_mut(per_o).enumerate() {
                    acc.fill(0.0);
                    let x = &inp[(c * slabs + s) * per_o..][..per_o];
                    if inner == 1 {
                        let mut a = 0f64;
                        for (y, &v) in slab.iter_mut().zip(x) {
                            a += v.to_f64();
                            *y = T::from_f64(a);
                        }
                        continue;
                    }
                    for (orow, xrow) in slab.chunks_mut(inner).zip(x.chunks(inner)) {
                        for ((y, &v), a) in orow.iter_mut().zip(xrow).zip(acc.iter_mut()) {
                            *a += v.to_f64();
                            *y = T::from_f64(*a);
                        }
                    }
                }
            });
        return;
    }
    // Few slabs, wide rows: split each slab's columns into tiles, one task per tile, by handing
    // every task the tile's segment of each row (disjoint borrows, no unsafe).
    let tile = (TASK / r).max(TW).next_multiple_of(TW).min(inner);
    let ntiles = inner.div_ceil(tile);
    for (o, slab) in out.chunks_mut(per_o).enumerate() {
        let mut segs: Vec<Vec<&mut [T]>> = (0..ntiles).map(|_| Vec::with_capacity(r)).collect();
        for row in slab.chunks_mut(inner) {
            for (t, seg) in row.chunks_mut(tile).enumerate() {
                segs[t].push(seg);
            }
        }
        segs.into_par_iter().enumerate().for_each(|(t, rows)| {
            let mut acc = vec![0f64; tile];
            for (k, seg) in rows.into_iter().enumerate() {
                let x = &inp[(o * r + k) * inner + t * tile..][..seg.len()];
                for ((y, &v), a) in seg.iter_mut().zip(x).zip(acc.iter_mut()) {
                    *a += v.to_f64();
                    *y = T::from_f64(*a);
                }
            }
        });
    }
}

/// `out[o, j] = sum_k inp[o, k, j]` in i64, wrapping on overflow (as PyTorch). Exact, so the
/// order is free.
pub fn sum_i64(out: &mut [i64], inp: &[i64], outer: usize, r: usize, inner: usize) {
    check_input(inp, outer, r, inner);
    drive(out, outer, r, inner, |seg, o, j0| {
        if inner == 1 {
            seg[0] = inp[o * r..][..r]
                .iter()
                .fold(0i64, |a, &v| a.wrapping_add(v));
            return;
        }
        seg.fill(0);
        for k in 0..r {
            let row = &inp[(o * r + k) * inner + j0..][..seg.len()];
            seg.iter_mut()
                .zip(row)
                .for_each(|(a, &v)| *a = a.wrapping_add(v));
        }
    });
}
