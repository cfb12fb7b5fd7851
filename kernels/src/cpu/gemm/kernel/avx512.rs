//! AVX-512F f32 micro-kernel: 32 zmm registers hold an `MR x (16 * NV)` tile of accumulators.
//!
//! Each step of the K loop loads `NV` vectors of the B panel, broadcasts `MR` scalars of the A
//! panel (folded into the FMA as an embedded `{1to16}` broadcast) and issues `MR * NV` FMAs.

use std::arch::x86_64::*;

use super::{store_tile, GemmKernel};
use crate::cpu::gemm::Strides;

/// f32, 14x32 tile: 28 accumulators + 2 B vectors fit the 32 zmm registers.
pub struct Avx512F32;

const MR: usize = 14;
const NV: usize = 2;

impl GemmKernel for Avx512F32 {
    type Elem = f32;
    type In = f32;
    type Packed = f32;
    const MR: usize = MR;
    const NR: usize = 16 * NV;
    // Blocking measured on Zen 4 (32 KiB L1d, 1 MiB L2 per core): the 14 x 512 A micro-panel
    // (28 KiB) stays in L1, the 512 x 512 B block (1 MiB) in L2; KC 256..640 and NC 384..768
    // are within noise of each other (~100 GFLOP/s per core of a measured 116 FMA peak).
    // MC is large because the A block only streams (once per B block) from L3 and a smaller
    // one repacks B more often.
    const KC: usize = 512;
    const MC: usize = 14 * 192;
    const NC: usize = 512;
    const NAME: &'static str = "avx512f";

    fn is_supported() -> bool {
        is_x86_feature_detected!("avx512f")
    }

    unsafe fn pack_a(dst: *mut f32, a: *const f32, rs: usize, cs: usize, mc: usize, kc: usize) {
        crate::cpu::gemm::pack::pack_panels_w::<f32, MR>(dst, a, rs, cs, mc, kc)
    }

    unsafe fn pack_b(dst: *mut f32, b: *const f32, rs: usize, cs: usize, kc: usize, nc: usize) {
        crate::cpu::gemm::pack::pack_panels_w::<f32, { 16 * NV }>(dst, b, cs, rs, nc, kc)
    }

    unsafe fn kernel(
        k: usize,
        alpha: f32,
        a: *const f32,
        b: *const f32,
        beta: f32,
        c: *mut f32,
        rsc: usize,
        csc: usize,
        rows: usize,
        cols: usize,
    ) {
        // A tile at most 16 columns wide (a 16-wide head of attention, the edge of a matrix) runs on
        // one vector per row: the second would only multiply the zero padding of the packed B panel.
        // Per element the FMAs are the same, in the same order, so the bits are too.
        if cols <= 16 {
            kernel_f32::<MR, 1, NV>(k, alpha, a, b, beta, c, rsc, csc, rows, cols)
        } else {
            kernel_f32::<MR, NV, NV>(k, alpha, a, b, beta, c, rsc, csc, rows, cols)
        }
    }

    const DIRECT: bool = true;

    unsafe fn kernel_direct(
        k: usize,
        alpha: f32,
        a: *const f32,
        sa: Strides,
        b: *const f32,
        rsb: usize,
        beta: f32,
        c: *mut f32,
        sc: Strides,
        rows: usize,
        cols: usize,
    ) {
        if cols <= 16 {
            direct_f32::<MR, 1>(k, alpha, a, sa.rs, sa.cs, b, rsb, beta, c, sc.rs, sc.cs, rows, cols)
        } else {
            direct_f32::<MR, NV>(k, alpha, a, sa.rs, sa.cs, b, rsb, beta, c, sc.rs, sc.cs, rows, cols)
        }
    }
}

/// The register tile. `MR` and `NV` are constants so every loop over them unrolls and the
/// accumulator array lives in registers (it is only ever indexed by constants). `BV` is the
/// packed B panel's width in vectors (`NV` or more: a narrow tile reads the first `NV`).
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn kernel_f32<const MR: usize, const NV: usize, const BV: usize>(
    k: usize,
    alpha: f32,
    a: *const f32,
    b: *const f32,
    beta: f32,
    c: *mut f32,
    rsc: usize,
    csc: usize,
    rows: usize,
    cols: usize,
) {
    prefetch_c::<MR>(c, rsc, csc, rows, cols);
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    let (mut a, mut b) = (a, b);
    for _ in 0..k {
        let mut bv = [_mm512_setzero_ps(); NV];
        for v in 0..NV {
            bv[v] = _mm512_loadu_ps(b.add(16 * v));
        }
        for i in 0..MR {
            let ai = _mm512_set1_ps(*a.add(i));
            for v in 0..NV {
                acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
            }
        }
        a = a.add(MR);
        b = b.add(16 * BV);
    }
    store_f32(&acc, alpha, beta, c, rsc, csc, rows, cols);
}

/// The same tile straight from the operands, without packing: `A[i, p]` at `a + i*rsa + p*csa`
/// and `B[p, j]` at `b + p*rsb + j` (unit column stride). Edge rows broadcast zero and edge
/// columns load masked, so nothing outside the operands is read. The FMAs run in the same
/// order as in the packed kernel, so both give the same bits.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn direct_f32<const MR: usize, const NV: usize>(
    k: usize,
    alpha: f32,
    a: *const f32,
    rsa: usize,
    csa: usize,
    b: *const f32,
    rsb: usize,
    beta: f32,
    c: *mut f32,
    rsc: usize,
    csc: usize,
    rows: usize,
    cols: usize,
) {
    let masks: [__mmask16; NV] = std::array::from_fn(|v| lane_mask(cols, v));
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    for p in 0..k {
        let bp = b.add(p * rsb);
        let mut bv = [_mm512_setzero_ps(); NV];
        for v in 0..NV {
            bv[v] = _mm512_maskz_loadu_ps(masks[v], bp.wrapping_add(16 * v));
        }
        let ap = a.add(p * csa);
        for i in 0..MR {
            if i < rows {
                let ai = _mm512_set1_ps(*ap.add(i * rsa));
                for v in 0..NV {
                    acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
                }
            }
        }
    }
    store_f32(&acc, alpha, beta, c, rsc, csc, rows, cols);
}

/// Lanes of vector `v` that hold one of the tile's `cols` columns.
#[inline]
fn lane_mask(cols: usize, v: usize) -> __mmask16 {
    let lanes = cols.saturating_sub(16 * v).min(16);
    ((1u32 << lanes) - 1) as __mmask16
}

/// Pull the C tile towards L1 while the K loop runs; it is read (beta != 0) and written last.
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn prefetch_c<const MR: usize>(
    c: *mut f32,
    rsc: usize,
    csc: usize,
    rows: usize,
    cols: usize,
) {
    for i in 0..MR {
        if i < rows {
            let ci = c.wrapping_add(i * rsc);
            _mm_prefetch::<_MM_HINT_T0>(ci as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(ci.wrapping_add((cols - 1) * csc) as *const i8);
        }
    }
}

/// `C = alpha * acc + beta * C` for the `rows x cols` corner of the register tile.
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
pub(super) unsafe fn store_f32<const MR: usize, const NV: usize>(
    acc: &[[__m512; NV]; MR],
    alpha: f32,
    beta: f32,
    c: *mut f32,
    rsc: usize,
    csc: usize,
    rows: usize,
    cols: usize,
) {
    let va = _mm512_set1_ps(alpha);
    let vb = _mm512_set1_ps(beta);
    if csc == 1 {
        // Contiguous C rows: masked vector stores cover edge columns, `i < rows` edge rows.
        for i in 0..MR {
            if i < rows {
                let ci = c.wrapping_add(i * rsc);
                for v in 0..NV {
                    let m = lane_mask(cols, v);
                    let p = ci.wrapping_add(16 * v);
                    let mut x = _mm512_mul_ps(va, acc[i][v]);
                    if beta != 0.0 {
                        x = _mm512_add_ps(x, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m, p)));
                    }
                    _mm512_mask_storeu_ps(p, m, x);
                }
            }
        }
    } else {
        let mut tile = [[0f32; 16]; 64];
        for i in 0..MR {
            for v in 0..NV {
                _mm512_storeu_ps(tile[i * NV + v].as_mut_ptr(), acc[i][v]);
            }
        }
        let flat = std::slice::from_raw_parts(tile.as_ptr() as *const f32, MR * NV * 16);
        store_tile(flat, 16 * NV, alpha, beta, c, rsc, csc, rows, cols);
    }
}
