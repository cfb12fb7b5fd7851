//! vol2col / col2vol: the data movement that turns a convolution into a GEMM.
//!
//! The column matrix of one batch item, for output positions `p0..p1`, has one row per
//! (input channel, kz, ky, kx) and one column per output position: row `r` reads the input
//! tap that output position `p` sees through kernel offset `r`, or 0 in the padding.
//! Rows follow the weight layout `[c_out, c_in/groups, kd, kh, kw]`, so the weight of group
//! `g` is a plain row-major `[c_out/groups, c_in/groups*K]` matrix against rows of group `g`.

use crate::cpu::gemm::GemmElem;
use rayon::prelude::*;
use std::any::Any;
use std::cell::RefCell;

/// A convolution as the kernels see it: always 3D, with explicit output dims so that the
/// transposed convolution (whose output size carries `output_padding`) maps onto it exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Geom {
    pub n: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub groups: usize,
    pub in_dims: [usize; 3],
    pub out_dims: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub dilation: [usize; 3],
}

impl Geom {
    pub fn in_size(&self) -> usize {
        self.in_dims.iter().product()
    }
    pub fn out_size(&self) -> usize {
        self.out_dims.iter().product()
    }
    pub fn ksize(&self) -> usize {
        self.kernel.iter().product()
    }
    pub fn cig(&self) -> usize {
        self.c_in / self.groups
    }
    pub fn cog(&self) -> usize {
        self.c_out / self.groups
    }

    /// 1x1x1, stride 1, no padding: the column matrix *is* the input, so im2col is skipped.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1; 3]
            && self.stride == [1; 3]
            && self.padding == [0; 3]
            && self.in_dims == self.out_dims
    }

    pub fn check(&self) {
        assert!(self.groups > 0, "conv: groups must be positive");
        assert!(
            self.c_in.is_multiple_of(self.groups) && self.c_out.is_multiple_of(self.groups),
            "conv: channels ({} in, {} out) not divisible by groups {}",
            self.c_in,
            self.c_out,
            self.groups
        );
        assert!(
            self.stride.iter().chain(&self.dilation).all(|&s| s > 0),
            "conv: stride and dilation must be positive"
        );
    }

    /// Whether batch items should run one after another. When one item's GEMMs are large the
    /// GEMM splits them across all threads and vol2col splits over channels; running items
    /// side by side on top of that nests two levels of rayon splitting and measured ~2x slower
    /// (conv 3x3 64->64 on 32x32, 2 cores). Small items run side by side instead.
    pub fn serial_items(&self) -> bool {
        const SERIAL_MACS: usize = if cfg!(test) { 1 << 10 } else { 1 << 21 };
        self.n <= 1 || self.c_out * self.cig() * self.ksize() * self.chunk_len() >= SERIAL_MACS
    }

    /// Batch items whose columns share one column matrix (`[c_in*K, items * out_size]`), or
    /// None for the per-item path. Small output planes (a ResNet's late stages, 8x8 down to 1x1)
    /// make one item's GEMM only `out_size` columns wide, too thin for the micro-kernel, and its
    /// weight gradient a chain of tiny accumulating GEMMs; side by side, items give one wide
    /// GEMM per block instead (AtmoDist's training step ~Nx faster, see docs/performance.md).
    pub fn items_per_block(&self) -> Option<usize> {
        const SMALL_PLANE: usize = if cfg!(test) { 16 } else { 256 };
        const BLOCK_BUDGET: usize = if cfg!(test) { 1 << 11 } else { 1 << 21 };
        if self.n < 2 || self.out_size() > SMALL_PLANE || self.out_size() == 0 {
            return None;
        }
        let per_item = (self.c_in * self.ksize() + self.c_out) * self.out_size();
        let b = (BLOCK_BUDGET / per_item.max(1)).min(self.n);
        (b >= 2).then_some(b)
    }

    /// Output positions per column chunk: the per-thread column buffer stays under
    /// `COL_BUDGET` elements, except that a chunk never drops below `MIN_CHUNK` positions
    /// (a GEMM with a handful of columns wastes the micro-kernel).
    pub fn chunk_len(&self) -> usize {
        // Tests shrink the budget so that chunks start and end mid-row.
        const COL_BUDGET: usize = if cfg!(test) { 1 << 9 } else { 1 << 21 };
        const MIN_CHUNK: usize = if cfg!(test) { 7 } else { 64 };
        let rows = (self.c_in * self.ksize()).max(1);
        (COL_BUDGET / rows)
            .max(MIN_CHUNK)
            .min(self.out_size())
            .max(1)
    }
}

/// A run of consecutive output positions on one output row `(od, oh)`, columns `ow0..ow1`,
/// starting at column `col` of the chunk.
#[derive(Clone, Copy)]
struct Segment {
    col: usize,
    od: usize,
    oh: usize,
    ow0: usize,
    ow1: usize,
}

/// Splits output positions `p0..p1` into row segments. Computed once per chunk so the per-row
/// loops below do no division.
fn segments(out_dims: [usize; 3], p0: usize, p1: usize) -> Vec<Segment> {
    let [_, oh_n, ow_n] = out_dims;
    let mut segs = Vec::with_capacity((p1 - p0) / ow_n.max(1) + 2);
    let mut p = p0;
    while p < p1 {
        let ow = p % ow_n;
        let row = p / ow_n;
        let len = (ow_n - ow).min(p1 - p);
        segs.push(Segment {
            col: p - p0,
            od: row / oh_n,
            oh: row % oh_n,
            ow0: ow,
            ow1: ow + len,
        });
        p += len;
    }
    segs
}

/// Signed input offset contributed by kernel tap `k` along one axis.
#[inline]
fn tap_offset(k: usize, dil: usize, pad: usize) -> isize {
    (k * dil) as isize - pad as isize
}

/// Range of output coordinates `o` whose input coordinate `o*stride + off` lies in `0..len`.
#[inline]
fn valid_range(off: isize, stride: usize, len: usize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
    let hi = if len as isize - off <= 0 {
        0
    } else {
        (len as isize - off + s - 1) / s
    };
    (lo as usize, hi.max(lo) as usize)
}

#[inline]
fn in_bounds(o: usize, stride: usize, off: isize, len: usize) -> Option<usize> {
    let i = (o * stride) as isize + off;
    (i >= 0 && (i as usize) < len).then_some(i as usize)
}

/// One row segment as vol2col/col2vol see it: `dst` is its first column index in the channel's
/// block of the column buffer, `ow0..ow1` its output columns, `lo..hi` the subrange whose input
/// x coordinate `ow*stride + offx` is inside the input, `base` the index (within the channel's
/// input plane) of x == 0 on its input row, None when the row lies in the padding along D or H.
struct Run {
    dst: usize,
    ow0: usize,
    ow1: usize,
    lo: usize,
    hi: usize,
    base: Option<usize>,
    offx: isize,
}

/// Every kernel tap in column-buffer row order (kz, ky, kx), as its signed input offsets along D, H, W.
fn for_each_tap(g: &Geom, mut f: impl FnMut([isize; 3])) {
    let [kd, kh, kw] = g.kernel;
    for kz in 0..kd {
        let offz = tap_offset(kz, g.dilation[0], g.padding[0]);
        for ky in 0..kh {
            let offy = tap_offset(ky, g.dilation[1], g.padding[1]);
            for kx in 0..kw {
                f([offz, offy, tap_offset(kx, g.dilation[2], g.padding[2])]);
            }
        }
    }
}

/// Walks every (kernel tap, segment) pair of one channel: the channel's `K` rows of the column
/// buffer. Shared by vol2col and col2vol so both see exactly the same geometry.
fn for_each_run(g: &Geom, segs: &[Segment], ld: usize, off: usize, mut f: impl FnMut(&Run)) {
    let [d_in, h_in, w_in] = g.in_dims;
    let mut row = 0;
    for_each_tap(g, |[offz, offy, offx]| {
        let (lo, hi) = valid_range(offx, g.stride[2], w_in);
        for s in segs {
            let base = in_bounds(s.od, g.stride[0], offz, d_in)
                .zip(in_bounds(s.oh, g.stride[1], offy, h_in))
                .map(|(iz, iy)| (iz * h_in + iy) * w_in);
            let lo = lo.clamp(s.ow0, s.ow1);
            let hi = hi.clamp(lo, s.ow1);
            f(&Run { dst: row * ld + off + s.col, ow0: s.ow0, ow1: s.ow1, lo, hi, base, offx });
        }
        row += 1;
    });
}

/// Channels per rayon task in vol2col/col2vol: at least ~32k column elements, so that a small
/// problem does not pay more in task overhead than it copies.
fn channels_per_task(g: &Geom, len: usize) -> usize {
    ((1 << 15) / (g.ksize() * len).max(1)).max(1)
}

/// Column chunks of at most this many (tap, position) pairs copy through a precomputed gather table
/// instead of row runs: small output planes (8x8 down to 1x1) have runs of a few elements, where the
/// per-run bookkeeping cost several times the copy itself.
const TABLE_MAX: usize = if cfg!(test) { 64 } else { 1 << 16 };

/// For every kernel tap (row of one channel's column block) and output position `p0..p1`, the
/// input offset within one channel plane that it reads, or `u32::MAX` in the padding; `[K, p1-p0]`.
fn tap_table(g: &Geom, p0: usize, p1: usize) -> Vec<u32> {
    let [d_in, h_in, w_in] = g.in_dims;
    let [_, oh_n, ow_n] = g.out_dims;
    let mut t = Vec::with_capacity(g.ksize() * (p1 - p0));
    for_each_tap(g, |[offz, offy, offx]| {
        t.extend((p0..p1).map(|p| {
            let (ow, oh, od) = (p % ow_n, p / ow_n % oh_n, p / (ow_n * oh_n));
            match (in_bounds(od, g.stride[0], offz, d_in), in_bounds(oh, g.stride[1], offy, h_in), in_bounds(ow, g.stride[2], offx, w_in)) {
                (Some(z), Some(y), Some(x)) => ((z * h_in + y) * w_in + x) as u32,
                _ => u32::MAX,
            }
        }));
    });
    t
}

/// Whether `vol2col`/`col2vol` of this chunk use the gather table.
fn use_table(g: &Geom, len: usize) -> bool {
    g.ksize() * len <= TABLE_MAX && g.in_size() < u32::MAX as usize
}

/// Fills `col` (`[c_in*K, ld]` row-major) from the inputs of consecutive batch items (each
/// `[c_in, D, H, W]`): item i's columns for output positions `p0..p1` start at column
/// `i * (p1 - p0)` (several items side by side when output planes are small, see
/// `Geom::items_per_block`; one item with `ld = p1 - p0` otherwise). Channels fill disjoint
/// row blocks, so they run in parallel.
pub(super) fn vol2col<T: GemmElem>(col: &mut [T], items: &[&[T]], g: &Geom, p0: usize, p1: usize, ld: usize) {
    let (len, plane, ks) = (p1 - p0, g.in_size(), g.ksize());
    assert!(
        items.len() * len <= ld && col.len() >= g.c_in * ks * ld,
        "vol2col: column buffer too small"
    );
    assert!(items.iter().all(|x| x.len() >= g.c_in * plane), "vol2col: input too small");
    if len == 0 || ks == 0 || g.c_in == 0 {
        return;
    }
    if use_table(g, len) {
        let table = tap_table(g, p0, p1);
        col[..g.c_in * ks * ld].par_chunks_mut(ks * ld).enumerate().with_min_len(channels_per_task(g, len * items.len())).for_each(|(c, col)| {
            for (i, item) in items.iter().enumerate() {
                let inp = &item[c * plane..][..plane];
                for (r, taps) in table.chunks_exact(len).enumerate() {
                    let dst = &mut col[r * ld + i * len..][..len];
                    // padding reads u32::MAX, past the plane: zero
                    for (d, &o) in dst.iter_mut().zip(taps) {
                        *d = inp.get(o as usize).copied().unwrap_or(T::ZERO);
                    }
                }
            }
        });
        return;
    }
    let segs = segments(g.out_dims, p0, p1);
    let sx = g.stride[2];
    let blocks = col[..g.c_in * ks * ld].par_chunks_mut(ks * ld);
    blocks
        .enumerate()
        .with_min_len(channels_per_task(g, len * items.len()))
        .for_each(|(c, col)| {
            for (i, item) in items.iter().enumerate() {
                let inp = &item[c * plane..][..plane];
                for_each_run(g, &segs, ld, i * len, |r| {
                    let dst = &mut col[r.dst..r.dst + (r.ow1 - r.ow0)];
                    let Some(base) = r.base else {
                        dst.fill(T::ZERO);
                        return;
                    };
                    let (a, b) = (r.lo - r.ow0, r.hi - r.ow0);
                    dst[..a].fill(T::ZERO);
                    dst[b..].fill(T::ZERO);
                    if b > a {
                        let x0 = (base as isize + (r.lo * sx) as isize + r.offx) as usize;
                        if sx == 1 {
                            dst[a..b].copy_from_slice(&inp[x0..x0 + (b - a)]);
                        } else {
                            for (j, d) in dst[a..b].iter_mut().enumerate() {
                                *d = inp[x0 + j * sx];
                            }
                        }
                    }
                });
            }
        });
}

/// Adds `col` (`[c_in*K, ld]`, laid out as [`vol2col`] writes it) back onto the input gradients
/// of consecutive batch items, `dinp` (`[items, c_in, D, H, W]`): the adjoint of [`vol2col`].
/// Taps in the padding are dropped. Each (item, channel) plane is written by its own rows only,
/// in a fixed order, so planes run in parallel and the sum is deterministic.
pub(super) fn col2vol<T: GemmElem>(dinp: &mut [T], col: &[T], g: &Geom, p0: usize, p1: usize, ld: usize) {
    let (len, plane, ks) = (p1 - p0, g.in_size(), g.ksize());
    if len == 0 || ks == 0 || plane == 0 || g.c_in == 0 {
        return;
    }
    let items = dinp.len() / (g.c_in * plane);
    assert!(
        items * len <= ld && col.len() >= g.c_in * ks * ld,
        "col2vol: column buffer too small"
    );
    if use_table(g, len) {
        let table = tap_table(g, p0, p1);
        dinp[..items * g.c_in * plane].par_chunks_mut(plane).enumerate().with_min_len(channels_per_task(g, len)).for_each(|(j, dinp)| {
            let (i, c) = (j / g.c_in, j % g.c_in);
            let col = &col[c * ks * ld..][..ks * ld];
            for (r, taps) in table.chunks_exact(len).enumerate() {
                for (&s, &o) in col[r * ld + i * len..][..len].iter().zip(taps) {
                    if let Some(d) = dinp.get_mut(o as usize) {
                        *d = d.add(s);
                    }
                }
            }
        });
        return;
    }
    let segs = segments(g.out_dims, p0, p1);
    let sx = g.stride[2];
    dinp[..items * g.c_in * plane]
        .par_chunks_mut(plane)
        .enumerate()
        .with_min_len(channels_per_task(g, len))
        .for_each(|(j, dinp)| {
            let (i, c) = (j / g.c_in, j % g.c_in);
            let col = &col[c * ks * ld..][..ks * ld];
            for_each_run(g, &segs, ld, i * len, |r| {
                let Some(base) = r.base else { return };
                if r.hi <= r.lo {
                    return;
                }
                let n = r.hi - r.lo;
                let src = &col[r.dst + (r.lo - r.ow0)..][..n];
                let x0 = (base as isize + (r.lo * sx) as isize + r.offx) as usize;
                if sx == 1 {
                    for (d, &s) in dinp[x0..x0 + n].iter_mut().zip(src) {
                        *d = d.add(s);
                    }
                } else {
                    for (j, &s) in src.iter().enumerate() {
                        let d = &mut dinp[x0 + j * sx];
                        *d = d.add(s);
                    }
                }
            });
        });
}

/// Runs `f` on a thread-local scratch slice of `len` elements (contents unspecified), reusing
/// the allocation across calls. The buffer is taken out of the thread-local while in use: a
/// rayon worker blocked inside a nested GEMM may steal another conv task and re-enter here,
/// and then simply gets a fresh buffer instead of a `RefCell` borrow panic.
pub(super) fn with_scratch<T: GemmElem, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    thread_local! {
        static POOL: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
    }
    let mut buf: Vec<T> = POOL
        .with(|p| {
            let mut p = p.borrow_mut();
            let i = p.iter().position(|b| b.is::<Vec<T>>())?;
            p.swap_remove(i).downcast::<Vec<T>>().ok().map(|b| *b)
        })
        .unwrap_or_default();
    if buf.len() < len {
        buf.resize(len, T::ZERO);
    }
    let r = f(&mut buf[..len]);
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        // Keep one buffer per element type: the larger one if a nested call left one behind.
        match p.iter().position(|b| b.is::<Vec<T>>()) {
            Some(i)
                if p[i]
                    .downcast_ref::<Vec<T>>()
                    .is_some_and(|v| v.len() >= buf.len()) => {}
            Some(i) => p[i] = Box::new(buf),
            None => p.push(Box::new(buf)),
        }
    });
    r
}
