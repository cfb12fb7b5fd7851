//! Max, average and adaptive-average pooling with PyTorch semantics.
//!
//! Every pool is 3D with spatial dims `(D, H, W)` (pool1d is `D = H = 1`, pool2d is `D = 1`)
//! on `N C D H W` contiguous tensors. Planes `(n, c)` are independent, so they run in parallel
//! and each plane's backward scatter runs in a fixed order: results never depend on the
//! thread count. Window bounds are computed once per axis and shared by all planes.

#[cfg(test)]
mod tests;

use crate::cpu::gemm::GemmElem;
use rayon::prelude::*;

/// Element types pooling supports: comparisons for max, division for averages.
pub trait PoolElem: GemmElem + PartialOrd {
    const NEG_INF: Self;
    fn from_usize(n: usize) -> Self;
    fn div(self, b: Self) -> Self;
    fn is_nan(self) -> bool;
}

macro_rules! pool_elem {
    ($t:ty) => {
        impl PoolElem for $t {
            const NEG_INF: $t = <$t>::NEG_INFINITY;
            #[inline(always)]
            fn from_usize(n: usize) -> $t {
                n as $t
            }
            #[inline(always)]
            fn div(self, b: $t) -> $t {
                self / b
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}
pool_elem!(f32);
pool_elem!(f64);

/// A max or average pool's shape. `stride` defaults to the kernel in [`PoolParams::new`].
/// Average pooling ignores nothing silently: it asserts `dilation == 1` (PyTorch has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolParams {
    pub n: usize,
    pub c: usize,
    pub in_dims: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub dilation: [usize; 3],
    pub ceil_mode: bool,
    /// Average pooling: divide by the window size including padding (PyTorch default true).
    pub count_include_pad: bool,
    /// Average pooling: divide by this instead of the window size.
    pub divisor_override: Option<usize>,
}

impl PoolParams {
    /// PyTorch defaults: stride = kernel, no padding, dilation 1, floor mode, count_include_pad.
    pub fn new(n: usize, c: usize, in_dims: [usize; 3], kernel: [usize; 3]) -> Self {
        PoolParams {
            n,
            c,
            in_dims,
            kernel,
            stride: kernel,
            padding: [0; 3],
            dilation: [1; 3],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }

    /// PyTorch's `pooling_output_shape`: in ceil mode the last window must still start inside
    /// the input or its left padding, else it is dropped.
    pub fn out_dims(&self) -> [usize; 3] {
        std::array::from_fn(|a| {
            let (inp, k, s, p, d) = (
                self.in_dims[a],
                self.kernel[a],
                self.stride[a],
                self.padding[a],
                self.dilation[a],
            );
            assert!(
                k > 0 && s > 0 && d > 0,
                "pool: kernel, stride and dilation must be positive"
            );
            let span = (d * (k - 1) + 1) as isize;
            let num =
                (inp + 2 * p) as isize - span + if self.ceil_mode { s as isize - 1 } else { 0 };
            let mut out = num.div_euclid(s as isize) + 1;
            if self.ceil_mode && (out - 1) * s as isize >= (inp + p) as isize {
                out -= 1;
            }
            assert!(
                out > 0,
                "pool: output size {out} on axis {a} is not positive"
            );
            out as usize
        })
    }

    pub fn in_len(&self) -> usize {
        self.n * self.c * self.in_dims.iter().product::<usize>()
    }
    pub fn out_len(&self) -> usize {
        self.n * self.c * self.out_dims().iter().product::<usize>()
    }
}

/// Window of one output coordinate along one axis: input coordinates `lo..hi` step `step`;
/// `first` is where PyTorch's max pool starts its argmax (possibly outside the input when the
/// window is empty); `padded` is the window length clipped to the padded input (avg divisor).
#[derive(Clone, Copy, Debug)]
struct Win {
    lo: usize,
    hi: usize,
    first: isize,
    padded: usize,
}

impl Win {
    fn len(&self, step: usize) -> usize {
        if self.hi > self.lo {
            (self.hi - self.lo).div_ceil(step)
        } else {
            0
        }
    }
}

/// Max-pool windows along one axis, as PyTorch's CPU kernel computes them: start at
/// `o*s - p`, end at `min(start + (k-1)*d + 1, in)`, then step the start past the padding.
fn max_windows(inp: usize, out: usize, k: usize, s: usize, p: usize, d: usize) -> Vec<Win> {
    (0..out)
        .map(|o| {
            let mut lo = (o * s) as isize - p as isize;
            let hi = (lo + ((k - 1) * d + 1) as isize).min(inp as isize);
            while lo < 0 {
                lo += d as isize;
            }
            Win {
                lo: lo as usize,
                hi: hi.max(0) as usize,
                first: lo,
                padded: 0,
            }
        })
        .collect()
}

/// Average-pool windows along one axis: `o*s - p .. min(o*s - p + k, in + p)` counts toward
/// the divisor with padding, its intersection with the input is summed.
fn avg_windows(inp: usize, out: usize, k: usize, s: usize, p: usize) -> Vec<Win> {
    (0..out)
        .map(|o| {
            let lo = (o * s) as isize - p as isize;
            let hi = (lo + k as isize).min((inp + p) as isize);
            let (clo, chi) = (lo.max(0) as usize, (hi.min(inp as isize)).max(0) as usize);
            Win {
                lo: clo,
                hi: chi.max(clo),
                first: lo,
                padded: (hi - lo).max(0) as usize,
            }
        })
        .collect()
}

/// Adaptive windows: `floor(o*in/out) .. ceil((o+1)*in/out)`.
fn adaptive_windows(inp: usize, out: usize) -> Vec<Win> {
    (0..out)
        .map(|o| {
            let (lo, hi) = (o * inp / out, ((o + 1) * inp).div_ceil(out));
            Win {
                lo,
                hi,
                first: lo as isize,
                padded: hi - lo,
            }
        })
        .collect()
}

/// Per-axis windows for a pool, plus plane sizes.
struct Windows {
    axes: [Vec<Win>; 3],
    step: [usize; 3],
    in_dims: [usize; 3],
    plane_in: usize,
    plane_out: usize,
}

impl Windows {
    fn max(p: &PoolParams) -> Self {
        let od = p.out_dims();
        let axes = std::array::from_fn(|a| {
            max_windows(
                p.in_dims[a],
                od[a],
                p.kernel[a],
                p.stride[a],
                p.padding[a],
                p.dilation[a],
            )
        });
        Self::with(axes, p.dilation, p.in_dims, od)
    }

    fn avg(p: &PoolParams) -> Self {
        assert_eq!(p.dilation, [1; 3], "avg_pool: dilation is not supported");
        let od = p.out_dims();
        let axes = std::array::from_fn(|a| {
            avg_windows(p.in_dims[a], od[a], p.kernel[a], p.stride[a], p.padding[a])
        });
        Self::with(axes, [1; 3], p.in_dims, od)
    }

    fn adaptive(p: &AdaptivePoolParams) -> Self {
        assert!(
            p.out_dims.iter().all(|&o| o > 0),
            "adaptive_avg_pool: output sizes must be positive"
        );
        let axes = std::array::from_fn(|a| adaptive_windows(p.in_dims[a], p.out_dims[a]));
        Self::with(axes, [1; 3], p.in_dims, p.out_dims)
    }

    fn with(
        axes: [Vec<Win>; 3],
        step: [usize; 3],
        in_dims: [usize; 3],
        out_dims: [usize; 3],
    ) -> Self {
        Windows {
            axes,
            step,
            in_dims,
            plane_in: in_dims.iter().product(),
            plane_out: out_dims.iter().product(),
        }
    }

    /// Calls `f(out index, wz, wy, wx)` for every output position of a plane, in order.
    #[inline]
    fn each_out(&self, mut f: impl FnMut(usize, &Win, &Win, &Win)) {
        let mut o = 0;
        for wz in &self.axes[0] {
            for wy in &self.axes[1] {
                for wx in &self.axes[2] {
                    f(o, wz, wy, wx);
                    o += 1;
                }
            }
        }
    }

    /// Calls `f(input index)` for every tap of a window, in (z, y, x) order.
    #[inline]
    fn each_tap(&self, wz: &Win, wy: &Win, wx: &Win, mut f: impl FnMut(usize)) {
        let [_, h, w] = self.in_dims;
        for z in (wz.lo..wz.hi).step_by(self.step[0]) {
            for y in (wy.lo..wy.hi).step_by(self.step[1]) {
                let row = (z * h + y) * w;
                for x in (wx.lo..wx.hi).step_by(self.step[2]) {
                    f(row + x);
                }
            }
        }
    }
}

/// Max pool. `indices` receives, per output, the flat index of the chosen input element
/// within its `(n, c)` plane (PyTorch's `return_indices`). NaN wins over any number, as in
/// PyTorch; among equal maxima the first in (z, y, x) order wins.
pub fn max_pool_forward<T: PoolElem>(
    out: &mut [T],
    indices: &mut [i64],
    inp: &[T],
    p: &PoolParams,
) {
    let win = Windows::max(p);
    assert!(
        out.len() == p.out_len() && indices.len() == out.len(),
        "max_pool_forward: output length mismatch"
    );
    assert_eq!(
        inp.len(),
        p.in_len(),
        "max_pool_forward: input length mismatch"
    );
    if out.is_empty() {
        return;
    }
    let [_, h, w] = p.in_dims;
    out.par_chunks_mut(win.plane_out)
        .zip(indices.par_chunks_mut(win.plane_out))
        .zip(inp.par_chunks(win.plane_in.max(1)))
        .for_each(|((out, idx), plane)| {
            win.each_out(|o, wz, wy, wx| {
                let mut best = T::NEG_INF;
                let mut at = (wz.first * h as isize + wy.first) * w as isize + wx.first;
                win.each_tap(wz, wy, wx, |i| {
                    let v = plane[i];
                    if v > best || v.is_nan() {
                        best = v;
                        at = i as isize;
                    }
                });
                out[o] = best;
                idx[o] = at as i64;
            });
        });
}

/// Gradient of [`max_pool_forward`]: `dinp[plane][indices[o]] += dout[o]`. `dinp` is overwritten.
pub fn max_pool_backward<T: PoolElem>(dinp: &mut [T], dout: &[T], indices: &[i64], p: &PoolParams) {
    let plane_out: usize = p.out_dims().iter().product();
    let plane_in: usize = p.in_dims.iter().product();
    assert!(
        dout.len() == p.out_len() && indices.len() == dout.len(),
        "max_pool_backward: gradient length mismatch"
    );
    assert_eq!(
        dinp.len(),
        p.in_len(),
        "max_pool_backward: input gradient length mismatch"
    );
    if dinp.is_empty() {
        return;
    }
    dinp.par_chunks_mut(plane_in)
        .zip(dout.par_chunks(plane_out.max(1)))
        .zip(indices.par_chunks(plane_out.max(1)))
        .for_each(|((dinp, dout), idx)| {
            dinp.fill(T::ZERO);
            for (&g, &i) in dout.iter().zip(idx) {
                let d = &mut dinp
                    [usize::try_from(i).expect("max_pool_backward: index inside the plane")];
                *d = d.add(g);
            }
        });
}

/// The divisor PyTorch uses for one average-pool window.
#[inline]
fn avg_divisor(p: &PoolParams, wz: &Win, wy: &Win, wx: &Win) -> usize {
    match p.divisor_override {
        Some(d) => d,
        None if p.count_include_pad => wz.padded * wy.padded * wx.padded,
        None => wz.len(1) * wy.len(1) * wx.len(1),
    }
}

/// Average pool. A window lying entirely in the padding yields 0.
pub fn avg_pool_forward<T: PoolElem>(out: &mut [T], inp: &[T], p: &PoolParams) {
    let win = Windows::avg(p);
    mean_forward("avg_pool_forward", out, inp, &win, p.in_len(), p.out_len(), |wz, wy, wx| avg_divisor(p, wz, wy, wx));
}

/// Gradient of [`avg_pool_forward`]. `dinp` is overwritten.
pub fn avg_pool_backward<T: PoolElem>(dinp: &mut [T], dout: &[T], p: &PoolParams) {
    let win = Windows::avg(p);
    mean_backward("avg_pool_backward", dinp, dout, &win, p.in_len(), p.out_len(), |wz, wy, wx| avg_divisor(p, wz, wy, wx));
}

/// Window means, each divided by `divisor(window)`: the forward of average and adaptive average pooling.
/// An empty window (all padding) gives 0.
#[allow(clippy::too_many_arguments)]
fn mean_forward<T: PoolElem>(
    op: &str,
    out: &mut [T],
    inp: &[T],
    win: &Windows,
    in_len: usize,
    out_len: usize,
    divisor: impl Fn(&Win, &Win, &Win) -> usize + Sync,
) {
    assert_eq!(out.len(), out_len, "{op}: output length mismatch");
    assert_eq!(inp.len(), in_len, "{op}: input length mismatch");
    if out.is_empty() {
        return;
    }
    out.par_chunks_mut(win.plane_out)
        .zip(inp.par_chunks(win.plane_in.max(1)))
        .for_each(|(out, plane)| {
            win.each_out(|o, wz, wy, wx| {
                if wz.len(1) * wy.len(1) * wx.len(1) == 0 {
                    out[o] = T::ZERO;
                    return;
                }
                let mut sum = T::ZERO;
                win.each_tap(wz, wy, wx, |i| sum = sum.add(plane[i]));
                out[o] = sum.div(T::from_usize(divisor(wz, wy, wx)));
            });
        });
}

/// Gradient of [`mean_forward`]: each output's gradient spread evenly over its window. `dinp` is overwritten.
#[allow(clippy::too_many_arguments)]
fn mean_backward<T: PoolElem>(
    op: &str,
    dinp: &mut [T],
    dout: &[T],
    win: &Windows,
    in_len: usize,
    out_len: usize,
    divisor: impl Fn(&Win, &Win, &Win) -> usize + Sync,
) {
    assert_eq!(dout.len(), out_len, "{op}: gradient length mismatch");
    assert_eq!(dinp.len(), in_len, "{op}: input gradient length mismatch");
    if dinp.is_empty() {
        return;
    }
    dinp.par_chunks_mut(win.plane_in)
        .zip(dout.par_chunks(win.plane_out))
        .for_each(|(dinp, dout)| {
            dinp.fill(T::ZERO);
            win.each_out(|o, wz, wy, wx| {
                let g = dout[o].div(T::from_usize(divisor(wz, wy, wx)));
                win.each_tap(wz, wy, wx, |i| dinp[i] = dinp[i].add(g));
            });
        });
}

/// Adaptive average pool's shape: output size given, windows
/// `floor(o*in/out) .. ceil((o+1)*in/out)` per axis (they may overlap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptivePoolParams {
    pub n: usize,
    pub c: usize,
    pub in_dims: [usize; 3],
    pub out_dims: [usize; 3],
}

impl AdaptivePoolParams {
    pub fn in_len(&self) -> usize {
        self.n * self.c * self.in_dims.iter().product::<usize>()
    }
    pub fn out_len(&self) -> usize {
        self.n * self.c * self.out_dims.iter().product::<usize>()
    }
}

/// Adaptive average pool (`AdaptiveAvgPool{1,2,3}d`).
pub fn adaptive_avg_pool_forward<T: PoolElem>(out: &mut [T], inp: &[T], p: &AdaptivePoolParams) {
    let win = Windows::adaptive(p);
    mean_forward("adaptive_avg_pool_forward", out, inp, &win, p.in_len(), p.out_len(), adaptive_divisor);
}

/// Gradient of [`adaptive_avg_pool_forward`]. `dinp` is overwritten.
pub fn adaptive_avg_pool_backward<T: PoolElem>(dinp: &mut [T], dout: &[T], p: &AdaptivePoolParams) {
    let win = Windows::adaptive(p);
    mean_backward("adaptive_avg_pool_backward", dinp, dout, &win, p.in_len(), p.out_len(), adaptive_divisor);
}

/// An adaptive window's size (never padded).
fn adaptive_divisor(wz: &Win, wy: &Win, wx: &Win) -> usize {
    (wz.padded * wy.padded * wx.padded).max(1)
}
