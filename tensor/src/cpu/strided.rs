//! Walking strided (possibly broadcast) operands in output order.
//!
//! Dims are first coalesced (adjacent dims merged when every operand is contiguous across them), then the
//! last dim becomes a tight inner loop with per-operand strides, and the outer rows are split across rayon
//! tasks. Every output element is written by exactly one task, so results never depend on thread count.

use crate::Layout;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Elements per rayon task: below this, threading costs more than it saves.
pub const PAR_GRAIN: usize = 1 << 15;

/// A loop nest over `shape` for N operands given by their strides (output is implicitly contiguous).
#[derive(Clone, Debug)]
pub struct Plan<const N: usize> {
    /// Outer dims (all but the innermost), after coalescing.
    pub outer: Vec<usize>,
    /// Per operand, the strides of the outer dims.
    pub outer_strides: [Vec<usize>; N],
    pub inner: usize,
    pub inner_strides: [usize; N],
    pub offsets: [usize; N],
}

impl<const N: usize> Plan<N> {
    pub fn new(shape: &[usize], layouts: [&Layout; N]) -> Plan<N> {
        // Coalesce: merge dim i into i+1 when for every operand stride[i] == stride[i+1] * shape[i+1].
        let mut dims: Vec<usize> = Vec::new();
        let mut strides: [Vec<usize>; N] = std::array::from_fn(|_| Vec::new());
        for (d, &n) in shape.iter().enumerate() {
            if n == 1 {
                continue; // size-1 dims contribute nothing
            }
            let mergeable = !dims.is_empty()
                && (0..N).all(|k| *strides[k].last().unwrap() == layouts[k].strides()[d] * n);
            if mergeable {
                *dims.last_mut().unwrap() *= n;
                for k in 0..N {
                    *strides[k].last_mut().unwrap() = layouts[k].strides()[d];
                }
            } else {
                dims.push(n);
                for k in 0..N {
                    strides[k].push(layouts[k].strides()[d]);
                }
            }
        }
        let offsets = std::array::from_fn(|k| layouts[k].offset());
        if shape.iter().any(|&n| n == 0) {
            return Plan { outer: vec![0], outer_strides: std::array::from_fn(|_| vec![0]), inner: 0, inner_strides: [0; N], offsets };
        }
        let inner = dims.pop().unwrap_or(1);
        let inner_strides = std::array::from_fn(|k| strides[k].pop().unwrap_or(1));
        Plan { outer: dims, outer_strides: strides, inner, inner_strides, offsets }
    }

    pub fn rows(&self) -> usize {
        self.outer.iter().product()
    }

    /// Offsets of every operand at the start of outer row `row`.
    #[inline]
    pub fn row_offsets(&self, mut row: usize) -> [usize; N] {
        let mut offs = self.offsets;
        for d in (0..self.outer.len()).rev() {
            let i = row % self.outer[d];
            row /= self.outer[d];
            for (k, o) in offs.iter_mut().enumerate() {
                *o += i * self.outer_strides[k][d];
            }
        }
        offs
    }

    /// Call `f(row, offsets)` for rows `lo..hi` in order, updating offsets incrementally.
    #[inline]
    pub fn for_rows(&self, lo: usize, hi: usize, mut f: impl FnMut(usize, [usize; N])) {
        if lo >= hi {
            return;
        }
        let nd = self.outer.len();
        let mut idx = vec![0usize; nd];
        let mut r = lo;
        for d in (0..nd).rev() {
            idx[d] = r % self.outer[d];
            r /= self.outer[d];
        }
        let mut offs = self.row_offsets(lo);
        for row in lo..hi {
            f(row, offs);
            // increment the multi-index
            for d in (0..nd).rev() {
                idx[d] += 1;
                for (k, o) in offs.iter_mut().enumerate() {
                    *o += self.outer_strides[k][d];
                }
                if idx[d] < self.outer[d] {
                    break;
                }
                for (k, o) in offs.iter_mut().enumerate() {
                    *o -= self.outer_strides[k][d] * self.outer[d];
                }
                idx[d] = 0;
            }
        }
    }
}

/// Run `body(out_rows, first_row, last_row)` over the output split in row blocks, in parallel when large.
fn par_rows<O: Send>(out: &mut [MaybeUninit<O>], inner: usize, rows: usize, body: impl Fn(&mut [MaybeUninit<O>], usize, usize) + Sync) {
    if inner == 0 || rows == 0 {
        return;
    }
    let rows_per_task = (PAR_GRAIN / inner).max(1);
    if rows <= rows_per_task {
        body(out, 0, rows);
        return;
    }
    out.par_chunks_mut(rows_per_task * inner).enumerate().for_each(|(t, chunk)| {
        let lo = t * rows_per_task;
        body(chunk, lo, lo + chunk.len() / inner);
    });
}

/// An output buffer that is written exactly once by the map functions: no zero-fill pass (a full extra write
/// of the output, and fresh pages faulted in, for the memory-bound ops).
fn uninit<O>(n: usize) -> Vec<MaybeUninit<O>> {
    let mut v = Vec::with_capacity(n);
    // SAFETY: MaybeUninit needs no initialisation.
    unsafe { v.set_len(n) };
    v
}

/// Every element of `v` has been written.
fn assume_init<O>(v: Vec<MaybeUninit<O>>) -> Vec<O> {
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: callers write every element before calling; MaybeUninit<O> has O's layout.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr() as *mut O, v.len(), v.capacity()) }
}

/// Gather a strided view into a new contiguous Vec.
pub fn copy<T: Copy + Send + Sync + Default>(src: &[T], l: &Layout) -> Vec<T> {
    map1(src, l, |x| x)
}

/// out[i] = f(src[view index i]).
pub fn map1<T: Copy + Sync, O: Copy + Send + Default>(src: &[T], l: &Layout, f: impl Fn(T) -> O + Sync) -> Vec<O> {
    let n = l.numel();
    let mut out = uninit::<O>(n);
    if let Some(r) = l.contiguous_range() {
        let src = &src[r];
        if n <= PAR_GRAIN {
            out.iter_mut().zip(src).for_each(|(o, &x)| { o.write(f(x)); });
        } else {
            out.par_chunks_mut(PAR_GRAIN).zip(src.par_chunks(PAR_GRAIN)).for_each(|(o, s)| {
                o.iter_mut().zip(s).for_each(|(o, &x)| { o.write(f(x)); });
            });
        }
        return assume_init(out);
    }
    let plan = Plan::new(l.shape(), [l]);
    let [s] = plan.inner_strides;
    par_rows(&mut out, plan.inner, plan.rows(), |chunk, lo, hi| {
        plan.for_rows(lo, hi, |row, [o]| {
            let dst = &mut chunk[(row - lo) * plan.inner..(row - lo + 1) * plan.inner];
            for (j, d) in dst.iter_mut().enumerate() {
                { d.write(f(src[o + j * s])); }
            }
        });
    });
    assume_init(out)
}

/// out[i] = f(a[i], b[i]) over `shape`; `la`/`lb` are already broadcast to `shape`.
pub fn map2<A: Copy + Sync, B: Copy + Sync, O: Copy + Send + Default>(
    shape: &[usize],
    a: &[A],
    la: &Layout,
    b: &[B],
    lb: &Layout,
    f: impl Fn(A, B) -> O + Sync,
) -> Vec<O> {
    let n: usize = shape.iter().product();
    let mut out = uninit::<O>(n);
    if let (Some(ra), Some(rb)) = (la.contiguous_range(), lb.contiguous_range()) {
        let (a, b) = (&a[ra], &b[rb]);
        let g = PAR_GRAIN;
        if n <= g {
            out.iter_mut().zip(a).zip(b).for_each(|((o, &x), &y)| { o.write(f(x, y)); });
        } else {
            out.par_chunks_mut(g).enumerate().for_each(|(t, o)| {
                let (a, b) = (&a[t * g..t * g + o.len()], &b[t * g..t * g + o.len()]);
                o.iter_mut().zip(a).zip(b).for_each(|((o, &x), &y)| { o.write(f(x, y)); });
            });
        }
        return assume_init(out);
    }
    let plan = Plan::new(shape, [la, lb]);
    let [sa, sb] = plan.inner_strides;
    let inner = plan.inner;
    par_rows(&mut out, inner, plan.rows(), |chunk, lo, hi| {
        plan.for_rows(lo, hi, |row, [oa, ob]| {
            let dst = &mut chunk[(row - lo) * inner..(row - lo + 1) * inner];
            // Unit and zero inner strides get slice loops the compiler vectorises (the broadcast bias add).
            match (sa, sb) {
                (1, 1) => dst.iter_mut().zip(&a[oa..oa + inner]).zip(&b[ob..ob + inner]).for_each(|((d, &x), &y)| { d.write(f(x, y)); }),
                (1, 0) => {
                    let y = b[ob];
                    dst.iter_mut().zip(&a[oa..oa + inner]).for_each(|(d, &x)| { d.write(f(x, y)); });
                }
                (0, 1) => {
                    let x = a[oa];
                    dst.iter_mut().zip(&b[ob..ob + inner]).for_each(|(d, &y)| { d.write(f(x, y)); });
                }
                _ => {
                    for (j, d) in dst.iter_mut().enumerate() {
                        { d.write(f(a[oa + j * sa], b[ob + j * sb])); }
                    }
                }
            }
        });
    });
    assume_init(out)
}

/// out[i] = f(a[i], b[i], c[i]) over `shape` (layouts already broadcast).
#[allow(clippy::too_many_arguments)]
pub fn map3<A: Copy + Sync, B: Copy + Sync, C: Copy + Sync, O: Copy + Send + Default>(
    shape: &[usize],
    a: &[A],
    la: &Layout,
    b: &[B],
    lb: &Layout,
    c: &[C],
    lc: &Layout,
    f: impl Fn(A, B, C) -> O + Sync,
) -> Vec<O> {
    let n: usize = shape.iter().product();
    let mut out = uninit::<O>(n);
    let plan = Plan::new(shape, [la, lb, lc]);
    let [sa, sb, sc] = plan.inner_strides;
    let inner = plan.inner;
    par_rows(&mut out, inner, plan.rows(), |chunk, lo, hi| {
        plan.for_rows(lo, hi, |row, [oa, ob, oc]| {
            let dst = &mut chunk[(row - lo) * inner..(row - lo + 1) * inner];
            for (j, d) in dst.iter_mut().enumerate() {
                { d.write(f(a[oa + j * sa], b[ob + j * sb], c[oc + j * sc])); }
            }
        });
    });
    assume_init(out)
}

/// Write `src` (contiguous, in view order) into the strided view `l` of `dst`. Views that overlap themselves
/// (stride 0) are rejected by the caller.
pub fn scatter_into<T: Copy + Send + Sync>(dst: &mut [T], l: &Layout, src: &[T]) {
    if let Some(r) = l.contiguous_range() {
        dst[r].copy_from_slice(src);
        return;
    }
    let plan = Plan::new(l.shape(), [l]);
    let [s] = plan.inner_strides;
    let inner = plan.inner;
    plan.for_rows(0, plan.rows(), |row, [o]| {
        for j in 0..inner {
            dst[o + j * s] = src[row * inner + j];
        }
    });
}
