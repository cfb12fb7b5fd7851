//! The inner loops of the reductions, each written once as plain generic Rust and compiled three
//! times (AVX-512, AVX2+FMA, baseline) by [`multiversion!`].
//!
//! Why not hand-written intrinsics: every loop here is either lane-parallel (`acc[l] += x[k + l]`
//! over a fixed array of `LANES` accumulators) or column-parallel (`acc[j] += row[j]`), so the
//! vectoriser needs no reassociation and the SIMD builds perform exactly the scalar build's
//! operations in the same order. The scalar build is therefore a bitwise oracle for the SIMD ones
//! (tested), and results do not depend on the machine's ISA either. Rust never fuses `a * b + c`
//! into an FMA on its own, so enabling `fma` does not change any rounding.

use super::{Elem, Extremum, Map};
use crate::cpu::vmath::Isa;
use std::mem::MaybeUninit;

/// Independent accumulators of the contiguous-row sum (element `k` of a block goes to lane
/// `k % LANES`): 2 zmm / 4 ymm of f32, 4 zmm / 8 ymm of f64.
pub(super) const LANES: usize = 32;
/// Elements per block of the contiguous-row sum: 64 additions per lane, then a lane tree.
pub(super) const BLOCK: usize = LANES * 64;
/// Columns per tile of the strided (inner > 1) kernels.
pub(super) const TW: usize = 32;
/// Rows per block of the strided sum: one accumulator per column over `RB` rows, then a cascade.
pub(super) const RB: usize = 32;

/// Defines `$name(isa, args..)` that runs `$body(args..)` compiled for the given ISA.
macro_rules! multiversion {
    ($(#[$m:meta])* fn $name:ident<$($g:ident: $b:path),*>($($a:ident: $t:ty),*) $(-> $r:ty)? => $body:ident) => {
        $(#[$m])*
        pub(super) fn $name<$($g: $b),*>(isa: Isa, $($a: $t),*) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn v512<$($g: $b),*>($($a: $t),*) $(-> $r)? { $body::<$($g),*>($($a),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn v256<$($g: $b),*>($($a: $t),*) $(-> $r)? { $body::<$($g),*>($($a),*) }
                match isa {
                    // SAFETY: an `Isa` other than Scalar comes from vmath's run-time detection
                    // (avx512f implies avx2+fma there), so the CPU has these features.
                    Isa::Avx512 => return unsafe { v512::<$($g),*>($($a),*) },
                    Isa::Avx2 => return unsafe { v256::<$($g),*>($($a),*) },
                    Isa::Scalar => {}
                }
            }
            let _ = isa;
            $body::<$($g),*>($($a),*)
        }
    };
}

/// Pairwise sum of the lanes in a fixed tree: lane `l` += lane `l + w` for w = 16, 8, .., 1.
#[inline(always)]
fn lane_tree<T: Elem>(mut acc: [T; LANES]) -> T {
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            acc[l] = acc[l] + acc[l + w];
        }
        w /= 2;
    }
    acc[0]
}

/// Sum of `m(x[k], c)` over one block (`x.len() <= BLOCK`): lane accumulators, then the tree.
/// Lanes start at -0.0, the exact identity of addition (a row of -0.0 sums to -0.0).
#[inline(always)]
fn block_sum_body<T: Elem, M: Map<T>>(x: &[T], m: &M, c: T) -> T {
    let mut acc = [T::NEG_ZERO; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for ch in &mut chunks {
        let ch: &[T; LANES] = ch.try_into().expect("chunks_exact yields LANES elements");
        for l in 0..LANES {
            acc[l] = acc[l] + m.f(ch[l], c);
        }
    }
    for (l, &v) in chunks.remainder().iter().enumerate() {
        acc[l] = acc[l] + m.f(v, c);
    }
    lane_tree(acc)
}

multiversion!(
    /// Sum of one block of a contiguous row, see [`block_sum_body`].
    fn block_sum<T: Elem, M: Map<T>>(x: &[T], m: &M, c: T) -> T => block_sum_body
);

/// Binary-counter cascade of block sums: after `n` pushes it holds one partial sum per set bit of
/// `n`, each the pairwise sum of a power-of-two run of consecutive blocks. The grouping depends
/// only on the number of blocks, so a row's sum is the same whether its blocks were computed in
/// order or in parallel. Error grows like log2(blocks), not like the number of blocks.
pub(super) struct Cascade<T> {
    levels: [T; 64],
    occupied: u64,
}

impl<T: Elem> Cascade<T> {
    pub(super) fn new() -> Self {
        Cascade {
            levels: [T::NEG_ZERO; 64],
            occupied: 0,
        }
    }

    pub(super) fn push(&mut self, mut v: T) {
        let mut l = 0;
        while self.occupied >> l & 1 == 1 {
            v = self.levels[l] + v; // the older run on the left
            self.occupied &= !(1 << l);
            l += 1;
        }
        self.levels[l] = v;
        self.occupied |= 1 << l;
    }

    /// Combines the runs from the smallest (latest) to the largest (earliest). Empty: +0.
    pub(super) fn finish(&self) -> T {
        let mut acc: Option<T> = None;
        for l in 0..64 {
            if self.occupied >> l & 1 == 1 {
                acc = Some(match acc {
                    None => self.levels[l],
                    Some(a) => self.levels[l] + a,
                });
            }
        }
        acc.unwrap_or(T::ZERO)
    }
}

/// Max (or min, per `K`) of a non-empty contiguous row, NaN-propagating, in `LANES` lanes.
#[inline(always)]
fn row_ext_body<T: Elem, K: Extremum>(x: &[T]) -> T {
    let mut acc = [x[0]; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for ch in &mut chunks {
        let ch: &[T; LANES] = ch.try_into().expect("chunks_exact yields LANES elements");
        for l in 0..LANES {
            acc[l] = if K::beats(ch[l], acc[l]) {
                ch[l]
            } else {
                acc[l]
            };
        }
    }
    for (l, &v) in chunks.remainder().iter().enumerate() {
        acc[l] = if K::beats(v, acc[l]) { v } else { acc[l] };
    }
    acc.into_iter()
        .fold(acc[0], |a, v| if K::beats(v, a) { v } else { a })
}

multiversion!(
    /// See [`row_ext_body`].
    fn row_ext<T: Elem, K: Extremum>(x: &[T]) -> T => row_ext_body
);

/// Index of the first element of `x` equal to `e` (the first NaN when `e` is NaN): a branch-free
/// vector test per `LANES` chunk, then the position inside the chunk that matched.
#[inline(always)]
#[allow(clippy::eq_op)]
fn row_find_body<T: Elem>(x: &[T], e: T) -> Option<usize> {
    let hit = |v: T| if e != e { v != v } else { v == e };
    let mut k0 = 0;
    for ch in x.chunks(LANES) {
        if ch.iter().fold(false, |a, &v| a | hit(v)) {
            return ch.iter().position(|&v| hit(v)).map(|p| k0 + p);
        }
        k0 += ch.len();
    }
    None
}

multiversion!(
    /// See [`row_find_body`].
    fn row_find<T: Elem>(x: &[T], e: T) -> Option<usize> => row_find_body
);

// ---- strided (inner > 1) kernels ----
//
// They compute a segment `out[0..w]` of one output row: column `j` reduces
// `inp[base + k * inner + j]` over `k < r`. The loops run row block by row block (RB rows) and,
// inside, over sub-tiles of TW columns held in registers, so memory is read as RB long rows:
// streaming, not a column at a time. A literal width (`TW`) for full sub-tiles lets the compiler
// unroll the column loop into whole vectors. No column's operation order depends on `w`.

/// Sum over rows `k0..k1` of `m(x, c[j])` for the `ws` columns starting at `base`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn col_block<T: Elem, M: Map<T>>(
    ws: usize,
    inp: &[T],
    base: usize,
    inner: usize,
    k0: usize,
    k1: usize,
    m: &M,
    c: &[T],
) -> [T; TW] {
    let mut acc = [T::NEG_ZERO; TW];
    for k in k0..k1 {
        let row = &inp[base + k * inner..][..ws];
        for j in 0..ws {
            acc[j] = acc[j] + m.f(row[j], c[j]);
        }
    }
    acc
}

/// Partial-sum tiles kept on the stack by [`col_sum_body`] (8 KiB of f32, 16 KiB of f64).
const SLOTS: usize = 64;

/// Strided sum: each column sums runs of `RB` rows sequentially, and the run sums go through the
/// binary-counter cascade of [`Cascade`] (after `n` runs the occupied levels are the bits of `n`,
/// the same for every column, so one counter serves a whole group of sub-tiles).
#[inline(always)]
fn col_sum_body<T: Elem, M: Map<T>>(
    out: &mut [T],
    inp: &[T],
    base: usize,
    inner: usize,
    r: usize,
    m: &M,
    c: &[T],
) {
    let w = out.len();
    assert!(c.len() >= w);
    // A macro, not a closure: a closure is its own function, compiled without the caller's
    // target features unless the optimiser happens to inline it.
    macro_rules! block {
        ($j:expr, $k0:expr, $k1:expr) => {{
            let (j, ws) = ($j, TW.min(w - $j));
            if ws == TW {
                col_block(TW, inp, base + j, inner, $k0, $k1, m, &c[j..j + TW])
            } else {
                col_block(ws, inp, base + j, inner, $k0, $k1, m, &c[j..j + ws])
            }
        }};
    }
    if r <= RB {
        for (s, o) in out.chunks_mut(TW).enumerate() {
            let acc = if r == 0 {
                [T::ZERO; TW]
            } else {
                block!(s * TW, 0, r)
            };
            o.copy_from_slice(&acc[..o.len()]);
        }
        return;
    }
    let nb = r.div_ceil(RB);
    let nlev = (usize::BITS - nb.leading_zeros()) as usize; // levels a count of nb can occupy
    let group = (SLOTS / nlev).max(1) * TW;
    // Uninitialised: a short reduction must not pay for clearing every slot.
    let mut levels: [MaybeUninit<[T; TW]>; SLOTS] = [const { MaybeUninit::uninit() }; SLOTS];
    for (g, gout) in out.chunks_mut(group).enumerate() {
        let nsub = gout.len().div_ceil(TW);
        for b in 0..nb {
            let (k0, k1) = (b * RB, ((b + 1) * RB).min(r));
            for s in 0..nsub {
                let mut v = block!(g * group + s * TW, k0, k1);
                let lv = &mut levels[s * nlev..][..nlev];
                let mut l = 0;
                while b >> l & 1 == 1 {
                    // SAFETY: bit l of b (the runs pushed so far) set means level l holds a
                    // tile written at an earlier run of this group and not yet merged.
                    let older = unsafe { lv[l].assume_init_ref() };
                    for j in 0..TW {
                        v[j] = older[j] + v[j];
                    }
                    l += 1;
                }
                lv[l].write(v);
            }
        }
        for (s, o) in gout.chunks_mut(TW).enumerate() {
            let lv = &levels[s * nlev..][..nlev];
            let mut acc: Option<[T; TW]> = None;
            for (l, tile) in lv.iter().enumerate() {
                if nb >> l & 1 == 0 {
                    continue;
                }
                // SAFETY: after nb runs, the levels named by the bits of nb are written.
                let tile = unsafe { tile.assume_init_ref() };
                acc = Some(match acc {
                    None => *tile,
                    Some(mut a) => {
                        for j in 0..TW {
                            a[j] = tile[j] + a[j];
                        }
                        a
                    }
                });
            }
            o.copy_from_slice(&acc.expect("nb >= 2 has a set bit")[..o.len()]);
        }
    }
}

multiversion!(
    /// See [`col_sum_body`].
    #[allow(clippy::too_many_arguments)]
    fn col_sum<T: Elem, M: Map<T>>(
        out: &mut [T], inp: &[T], base: usize, inner: usize, r: usize, m: &M, c: &[T]
    ) => col_sum_body
);

/// Strided max/min (`r > 0`), NaN-propagating: `out[j] = ext_k inp[base + k * inner + j]`.
#[inline(always)]
fn col_ext_body<T: Elem, K: Extremum>(
    out: &mut [T],
    inp: &[T],
    base: usize,
    inner: usize,
    r: usize,
) {
    #[inline(always)]
    fn tile<T: Elem, K: Extremum>(
        ws: usize,
        o: &mut [T],
        inp: &[T],
        base: usize,
        inner: usize,
        k0: usize,
        k1: usize,
    ) {
        let mut acc = [o[0]; TW];
        acc[..ws].copy_from_slice(&o[..ws]);
        for k in k0..k1 {
            let row = &inp[base + k * inner..][..ws];
            for j in 0..ws {
                acc[j] = if K::beats(row[j], acc[j]) {
                    row[j]
                } else {
                    acc[j]
                };
            }
        }
        o[..ws].copy_from_slice(&acc[..ws]);
    }
    let w = out.len();
    out.copy_from_slice(&inp[base..][..w]);
    for k0 in (1..r).step_by(RB) {
        let k1 = (k0 + RB).min(r);
        for (s, o) in out.chunks_mut(TW).enumerate() {
            if o.len() == TW {
                tile::<T, K>(TW, o, inp, base + s * TW, inner, k0, k1)
            } else {
                tile::<T, K>(o.len(), o, inp, base + s * TW, inner, k0, k1)
            }
        }
    }
}

multiversion!(
    /// See [`col_ext_body`].
    fn col_ext<T: Elem, K: Extremum>(out: &mut [T], inp: &[T], base: usize, inner: usize, r: usize)
        => col_ext_body
);

/// Columns per group of the strided argmax (the running best values live on the stack).
const ARG_GROUP: usize = 8 * TW;

/// Strided argmax/argmin (`r > 0`): the first row index holding each column's extremum (a later
/// value must strictly beat the best to replace it; NaN beats numbers).
#[inline(always)]
fn col_arg_body<T: Elem, K: Extremum>(
    out: &mut [i64],
    inp: &[T],
    base: usize,
    inner: usize,
    r: usize,
) {
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn tile<T: Elem, K: Extremum>(
        ws: usize,
        best: &mut [T],
        idx: &mut [i64],
        inp: &[T],
        base: usize,
        inner: usize,
        k0: usize,
        k1: usize,
    ) {
        let mut b = [best[0]; TW];
        let mut i = [0i64; TW];
        b[..ws].copy_from_slice(&best[..ws]);
        i[..ws].copy_from_slice(&idx[..ws]);
        for k in k0..k1 {
            let row = &inp[base + k * inner..][..ws];
            for j in 0..ws {
                let take = K::beats(row[j], b[j]);
                b[j] = if take { row[j] } else { b[j] };
                i[j] = if take { k as i64 } else { i[j] };
            }
        }
        best[..ws].copy_from_slice(&b[..ws]);
        idx[..ws].copy_from_slice(&i[..ws]);
    }
    for (g, gout) in out.chunks_mut(ARG_GROUP).enumerate() {
        let gbase = base + g * ARG_GROUP;
        let mut best = [inp[gbase]; ARG_GROUP];
        best[..gout.len()].copy_from_slice(&inp[gbase..][..gout.len()]);
        gout.fill(0);
        for k0 in (1..r).step_by(RB) {
            let k1 = (k0 + RB).min(r);
            for (s, (o, bs)) in gout.chunks_mut(TW).zip(best.chunks_mut(TW)).enumerate() {
                if o.len() == TW {
                    tile::<T, K>(TW, bs, o, inp, gbase + s * TW, inner, k0, k1)
                } else {
                    tile::<T, K>(o.len(), bs, o, inp, gbase + s * TW, inner, k0, k1)
                }
            }
        }
    }
}

multiversion!(
    /// See [`col_arg_body`].
    fn col_arg<T: Elem, K: Extremum>(out: &mut [i64], inp: &[T], base: usize, inner: usize, r: usize)
        => col_arg_body
);
