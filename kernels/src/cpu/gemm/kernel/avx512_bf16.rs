//! AVX512_BF16 micro-kernel: bf16 operands, f32 accumulators, `vdpbf16ps`.
//!
//! `vdpbf16ps acc, a, b` adds `a[2l] * b[2l] + a[2l+1] * b[2l+1]` to each f32 lane `l`, so the
//! kernel consumes two depths per instruction (`KU = 2`): the packed B panel interleaves rows
//! `2q` and `2q+1` column by column, and each A row contributes the pair `(A[i, 2q], A[i, 2q+1])`
//! as one 32-bit broadcast. That is 32 multiply-adds per instruction against the f32 kernel's
//! 16, on the same 14 x 32 register tile (28 accumulators + 2 B vectors). An odd depth pads its
//! last pair with zero, which adds exactly nothing.
//!
//! The operands may be bf16 already or f32 that the packers round to bf16 (to nearest even, as
//! a cast would) while they copy: that is autocast's matmul without a separate cast pass.

use std::arch::x86_64::*;

use std::marker::PhantomData;

use half::bf16;

use super::avx512::{prefetch_c, store_f32};
use super::GemmKernel;

/// The kernel over operands of type `I` (bf16, or f32 rounded while packing).
pub struct Avx512Bf16<I>(PhantomData<I>);

/// An operand element the packers can turn into bf16.
pub trait ToBf16: Copy + Sync + 'static {
    fn to_bf16(self) -> bf16;
    /// 32 consecutive elements at `p` as 32 bf16 in one vector.
    ///
    /// # Safety
    /// AVX-512F/BW/BF16 are available; 32 elements at `p` are readable.
    unsafe fn load32(p: *const Self) -> __m512i;
    /// The elements of `mask` among 16 consecutive ones at `p` as bf16, zero elsewhere.
    ///
    /// # Safety
    /// AVX-512F/BW/VL/BF16 are available; the masked elements are readable.
    unsafe fn load16(p: *const Self, mask: __mmask16) -> __m256i;
}

impl ToBf16 for bf16 {
    #[inline(always)]
    fn to_bf16(self) -> bf16 {
        self
    }
    #[inline(always)]
    unsafe fn load32(p: *const bf16) -> __m512i {
        _mm512_loadu_si512(p as *const _)
    }
    #[inline(always)]
    unsafe fn load16(p: *const bf16, mask: __mmask16) -> __m256i {
        load16_bf16(p, mask)
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn load16_bf16(p: *const bf16, mask: __mmask16) -> __m256i {
    _mm256_maskz_loadu_epi16(mask, p as *const _)
}

#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
unsafe fn load16_f32(p: *const f32, mask: __mmask16) -> __m256i {
    std::mem::transmute(_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, p)))
}

impl ToBf16 for f32 {
    #[inline(always)]
    fn to_bf16(self) -> bf16 {
        crate::cpu::convert::round_bf16(self)
    }
    #[inline(always)]
    unsafe fn load32(p: *const f32) -> __m512i {
        // Round to nearest even, as the scalar path. Only denormal f32 differ (the instruction
        // flushes them), and `vdpbf16ps` treats denormal inputs as zero either way.
        to_bf16x32(p)
    }
    #[inline(always)]
    unsafe fn load16(p: *const f32, mask: __mmask16) -> __m256i {
        load16_f32(p, mask)
    }
}

#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
unsafe fn to_bf16x32(p: *const f32) -> __m512i {
    std::mem::transmute(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(p.add(16)), _mm512_loadu_ps(p)))
}

const MR: usize = 14;
const NV: usize = 2;
const NR: usize = 16 * NV;

impl<I: ToBf16> GemmKernel for Avx512Bf16<I> {
    type Elem = f32;
    type In = I;
    type Packed = bf16;
    const KU: usize = 2;
    const MR: usize = MR;
    const NR: usize = NR;
    // The f32 kernel's blocking in bytes: a bf16 depth is half an f32 one, so the 14 x 1024 A
    // micro-panel is the same 28 KiB of L1 and the 1024 x 512 B block the same 1 MiB of L2.
    const KC: usize = 1024;
    const MC: usize = 14 * 192;
    const NC: usize = 512;
    const NAME: &'static str = "avx512bf16";

    fn is_supported() -> bool {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512bf16")
    }

    unsafe fn pack_a(dst: *mut bf16, a: *const I, rs: usize, cs: usize, mc: usize, kc: usize) {
        if cs == 1 {
            pack_pairs_depth_unit::<I, MR>(dst, a, rs, mc, kc)
        } else if rs == 1 {
            pack_pairs_lane_unit::<I, MR>(dst, a, cs, mc, kc)
        } else {
            pack_pairs::<I, MR>(dst, a, rs, cs, mc, kc)
        }
    }

    unsafe fn pack_b(dst: *mut bf16, b: *const I, rs: usize, cs: usize, kc: usize, nc: usize) {
        if cs == 1 {
            pack_b_rows(dst, b, rs, kc, nc)
        } else if rs == 1 {
            pack_pairs_depth_unit::<I, NR>(dst, b, cs, nc, kc)
        } else {
            pack_pairs::<I, NR>(dst, b, cs, rs, nc, kc)
        }
    }

    unsafe fn kernel(
        k: usize,
        alpha: f32,
        a: *const bf16,
        b: *const bf16,
        beta: f32,
        c: *mut f32,
        rsc: usize,
        csc: usize,
        rows: usize,
        cols: usize,
    ) {
        // As in the f32 kernel: a tile at most 16 wide skips the second (all-padding) vector.
        if cols <= 16 {
            kernel_bf16::<MR, 1, NV>(k, alpha, a, b, beta, c, rsc, csc, rows, cols)
        } else {
            kernel_bf16::<MR, NV, NV>(k, alpha, a, b, beta, c, rsc, csc, rows, cols)
        }
    }
}

/// Packs `lanes x depth` (lane `i`, depth `p` at `src + i*s_lane + p*s_depth`) into `W`-lane
/// panels of depth pairs: `dst[(q * W + i) * 2 + t] = src lane i at depth 2q + t`, zero past the
/// last lane or depth. Each panel holds `W * round_up(depth, 2)` elements.
///
/// # Safety
/// Every `src + i*s_lane + p*s_depth` with `i < lanes`, `p < depth` is readable and `dst` has
/// room for `round_up(lanes, W) * round_up(depth, 2)` elements.
unsafe fn pack_pairs<I: ToBf16, const W: usize>(dst: *mut bf16, src: *const I, s_lane: usize, s_depth: usize, lanes: usize, depth: usize) {
    for (p, l0) in (0..lanes).step_by(W).enumerate() {
        let d = dst.add(p * W * depth.next_multiple_of(2));
        pack_panel_from::<I, W>(d, src.add(l0 * s_lane), s_lane, s_depth, W.min(lanes - l0), depth, 0);
    }
}

/// Pairs `q0..` of one panel of `live` lanes (the rest of [`pack_pairs`]'s panel at `d`).
#[inline(always)]
unsafe fn pack_panel_from<I: ToBf16, const W: usize>(d: *mut bf16, s: *const I, s_lane: usize, s_depth: usize, live: usize, depth: usize, q0: usize) {
    let pairs = depth.div_ceil(2);
    // Full panels, whole pairs: no per-element edge tests, one 32-bit store per pair.
    let whole = if live == W { depth / 2 } else { q0 };
    let out = d as *mut u32;
    for q in q0..whole {
        let e = s.add(2 * q * s_depth);
        for i in 0..W {
            let x = e.add(i * s_lane);
            let pair = (*x).to_bf16().to_bits() as u32 | ((*x.add(s_depth)).to_bf16().to_bits() as u32) << 16;
            out.add(q * W + i).write_unaligned(pair);
        }
    }
    for q in whole.max(q0)..pairs {
        let p = 2 * q;
        let second = p + 1 < depth;
        for i in 0..W {
            let (x0, x1) = if i < live {
                let e = s.add(i * s_lane + p * s_depth);
                ((*e).to_bf16(), if second { (*e.add(s_depth)).to_bf16() } else { bf16::ZERO })
            } else {
                (bf16::ZERO, bf16::ZERO)
            };
            *d.add((q * W + i) * 2) = x0;
            *d.add((q * W + i) * 2 + 1) = x1;
        }
    }
}

/// [`pack_pairs`] when each lane's depths are contiguous (`s_depth == 1`: row-major A, transposed B,
/// so a Linear's input and weight): 16 pairs of a lane are one vector load, scattered to their
/// 16 places in the panel (a transpose the register file cannot do more cheaply for 14 lanes).
///
/// # Safety
/// As [`pack_pairs`] with `s_depth == 1`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
unsafe fn pack_pairs_depth_unit<I: ToBf16, const W: usize>(dst: *mut bf16, src: *const I, s_lane: usize, lanes: usize, depth: usize) {
    let chunks = depth / 32;
    let idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(W as i32));
    for (p, l0) in (0..lanes).step_by(W).enumerate() {
        let d = dst.add(p * W * depth.next_multiple_of(2));
        let (s, live) = (src.add(l0 * s_lane), W.min(lanes - l0));
        let done = if live == W { 16 * chunks } else { 0 };
        if live == W {
            let out = d as *mut i32;
            for c in 0..chunks {
                for i in 0..W {
                    let v = I::load32(s.add(i * s_lane + 32 * c));
                    _mm512_i32scatter_epi32::<4>(out.add(16 * c * W + i) as *mut _, idx, v);
                }
            }
        }
        pack_panel_from::<I, W>(d, s, s_lane, 1, live, depth, done);
    }
}

/// [`pack_pairs`] when the lanes are contiguous (`s_lane == 1`, at most 16 of them: a transposed A,
/// the input of a weight gradient): per pair, the two depths' lanes load as two vectors and
/// interleave with one permute; lanes past the edge load as zero.
///
/// # Safety
/// As [`pack_pairs`] with `s_lane == 1` and `W <= 16`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
unsafe fn pack_pairs_lane_unit<I: ToBf16, const W: usize>(dst: *mut bf16, src: *const I, s_depth: usize, lanes: usize, depth: usize) {
    const { assert!(W <= 16) };
    // Lane 2i takes element i of the first depth, lane 2i+1 element i of the second (at 16 + i).
    let idx = _mm512_set_epi16(
        31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0,
    );
    let store = ((1u64 << (2 * W)) - 1) as __mmask32;
    for (p, l0) in (0..lanes).step_by(W).enumerate() {
        let d = dst.add(p * W * depth.next_multiple_of(2));
        let (s, live) = (src.add(l0), W.min(lanes - l0));
        let load = ((1u32 << live) - 1) as __mmask16;
        for q in 0..depth / 2 {
            let r0 = I::load16(s.add(2 * q * s_depth), load);
            let r1 = I::load16(s.add((2 * q + 1) * s_depth), load);
            let both = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(r0), r1);
            _mm512_mask_storeu_epi16(d.add(q * 2 * W) as *mut _, store, _mm512_permutexvar_epi16(idx, both));
        }
        pack_panel_from::<I, W>(d, s, 1, s_depth, live, depth, depth / 2);
    }
}

/// [`pack_pairs`] for B with contiguous rows (row-major B, the common case): full panels
/// interleave two rows of 32 columns with two permutes instead of 128 scalar moves.
///
/// # Safety
/// As [`pack_pairs`] with lanes = columns (unit stride) and depth = rows (stride `rs`).
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pack_b_rows<I: ToBf16>(dst: *mut bf16, b: *const I, rs: usize, kc: usize, nc: usize) {
    if kc < 2 {
        return pack_pairs::<I, NR>(dst, b, 1, rs, nc, kc);
    }
    // Lane 2j of the first output takes column j of row 2q, lane 2j+1 column j of row 2q+1
    // (indices >= 32 select the second source); the second output does columns 16..32.
    let lo = _mm512_set_epi16(
        47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0,
    );
    let hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
    let pairs = kc.div_ceil(2);
    let full_pairs = kc / 2;
    let mut d = dst;
    for j0 in (0..nc).step_by(NR) {
        if nc - j0 < NR {
            pack_pairs::<I, NR>(d, b.add(j0), 1, rs, nc - j0, kc);
            break;
        }
        let s = b.add(j0);
        for q in 0..full_pairs {
            let r0 = I::load32(s.add(2 * q * rs));
            let r1 = I::load32(s.add((2 * q + 1) * rs));
            let out = d.add(q * 2 * NR) as *mut __m512i;
            _mm512_storeu_si512(out as *mut _, _mm512_permutex2var_epi16(r0, lo, r1));
            _mm512_storeu_si512(out.add(1) as *mut _, _mm512_permutex2var_epi16(r0, hi, r1));
        }
        if pairs > full_pairs {
            // Odd depth: the last row pairs with zeros.
            let r0 = I::load32(s.add(2 * full_pairs * rs));
            let z = _mm512_setzero_si512();
            let out = d.add(full_pairs * 2 * NR) as *mut __m512i;
            _mm512_storeu_si512(out as *mut _, _mm512_permutex2var_epi16(r0, lo, z));
            _mm512_storeu_si512(out.add(1) as *mut _, _mm512_permutex2var_epi16(r0, hi, z));
        }
        d = d.add(NR * 2 * pairs);
    }
}

/// The register tile: `MR x NV` f32 accumulators, one `vdpbf16ps` per accumulator and depth
/// pair. `BV` is the packed B panel's width in vectors (a narrow tile reads the first `NV`).
#[target_feature(enable = "avx512f,avx512bf16")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn kernel_bf16<const MR: usize, const NV: usize, const BV: usize>(
    k: usize,
    alpha: f32,
    a: *const bf16,
    b: *const bf16,
    beta: f32,
    c: *mut f32,
    rsc: usize,
    csc: usize,
    rows: usize,
    cols: usize,
) {
    prefetch_c::<MR>(c, rsc, csc, rows, cols);
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    // One A pair is 32 bits; one B vector is 16 column pairs.
    let (mut a, mut b) = (a as *const i32, b as *const __m512i);
    for _ in 0..k.div_ceil(2) {
        let mut bv = [_mm512_setzero_si512(); NV];
        for v in 0..NV {
            bv[v] = _mm512_loadu_si512(b.add(v) as *const _);
        }
        for i in 0..MR {
            let ai: __m512bh = std::mem::transmute(_mm512_set1_epi32(a.add(i).read_unaligned()));
            for v in 0..NV {
                acc[i][v] = _mm512_dpbf16_ps(acc[i][v], ai, std::mem::transmute::<__m512i, __m512bh>(bv[v]));
            }
        }
        a = a.add(MR);
        b = b.add(BV);
    }
    store_f32(&acc, alpha, beta, c, rsc, csc, rows, cols);
}
