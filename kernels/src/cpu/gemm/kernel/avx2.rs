//! AVX2+FMA micro-kernels, f32 and f64: 16 ymm registers hold a 6 x (2 vectors) tile of
//! accumulators (12 registers), plus 2 for the B vectors and 1 for the A broadcast.

use std::arch::x86_64::*;

use super::{store_tile, GemmKernel};

const MR: usize = 6;

fn detected() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// f32, 6x16 tile.
pub struct Avx2F32;

impl GemmKernel for Avx2F32 {
    type Elem = f32;
    type In = f32;
    type Packed = f32;
    const MR: usize = MR;
    const NR: usize = 16;
    // Measured on Zen 4 (1 MiB L2), as for the AVX-512 kernel; 2048^3 reaches ~97 GFLOP/s/core.
    const KC: usize = 512;
    const MC: usize = 6 * 448;
    const NC: usize = 512;
    const NAME: &'static str = "avx2+fma";

    fn is_supported() -> bool {
        detected()
    }

    unsafe fn pack_a(dst: *mut f32, a: *const f32, rs: usize, cs: usize, mc: usize, kc: usize) {
        crate::cpu::gemm::pack::pack_panels_w::<f32, MR>(dst, a, rs, cs, mc, kc)
    }

    unsafe fn pack_b(dst: *mut f32, b: *const f32, rs: usize, cs: usize, kc: usize, nc: usize) {
        crate::cpu::gemm::pack::pack_panels_w::<f32, 16>(dst, b, cs, rs, nc, kc)
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
        kernel_f32(k, alpha, a, b, beta, c, rsc, csc, rows, cols)
    }
}

#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn kernel_f32(
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
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    let (mut a, mut b) = (a, b);
    for _ in 0..k {
        let b0 = _mm256_loadu_ps(b);
        let b1 = _mm256_loadu_ps(b.add(8));
        for i in 0..MR {
            let ai = _mm256_broadcast_ss(&*a.add(i));
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        a = a.add(MR);
        b = b.add(16);
    }
    let va = _mm256_set1_ps(alpha);
    let vb = _mm256_set1_ps(beta);
    if csc == 1 && rows == MR && cols == 16 {
        for i in 0..MR {
            let ci = c.add(i * rsc);
            for v in 0..2 {
                let mut x = _mm256_mul_ps(va, acc[i][v]);
                if beta != 0.0 {
                    x = _mm256_add_ps(x, _mm256_mul_ps(vb, _mm256_loadu_ps(ci.add(8 * v))));
                }
                _mm256_storeu_ps(ci.add(8 * v), x);
            }
        }
    } else {
        // Edge tile or strided C: spill the tile and let the scalar store (same rounding) do it.
        let mut tile = [0f32; MR * 16];
        for i in 0..MR {
            _mm256_storeu_ps(tile.as_mut_ptr().add(i * 16), acc[i][0]);
            _mm256_storeu_ps(tile.as_mut_ptr().add(i * 16 + 8), acc[i][1]);
        }
        store_tile(&tile, 16, alpha, beta, c, rsc, csc, rows, cols);
    }
}

/// f64, 6x8 tile. f64 GEMM serves gradient checks, so this is the plain AVX2 shape, untuned.
pub struct Avx2F64;

impl GemmKernel for Avx2F64 {
    type Elem = f64;
    type In = f64;
    type Packed = f64;
    const MR: usize = MR;
    const NR: usize = 8;
    const KC: usize = 256;
    const MC: usize = 6 * 256;
    const NC: usize = 512;
    const NAME: &'static str = "avx2+fma";

    fn is_supported() -> bool {
        detected()
    }

    unsafe fn pack_a(dst: *mut f64, a: *const f64, rs: usize, cs: usize, mc: usize, kc: usize) {
        crate::cpu::gemm::pack::pack_panels_w::<f64, MR>(dst, a, rs, cs, mc, kc)
    }

    unsafe fn pack_b(dst: *mut f64, b: *const f64, rs: usize, cs: usize, kc: usize, nc: usize) {
        crate::cpu::gemm::pack::pack_panels_w::<f64, 8>(dst, b, cs, rs, nc, kc)
    }

    unsafe fn kernel(
        k: usize,
        alpha: f64,
        a: *const f64,
        b: *const f64,
        beta: f64,
        c: *mut f64,
        rsc: usize,
        csc: usize,
        rows: usize,
        cols: usize,
    ) {
        kernel_f64(k, alpha, a, b, beta, c, rsc, csc, rows, cols)
    }
}

#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn kernel_f64(
    k: usize,
    alpha: f64,
    a: *const f64,
    b: *const f64,
    beta: f64,
    c: *mut f64,
    rsc: usize,
    csc: usize,
    rows: usize,
    cols: usize,
) {
    let mut acc = [[_mm256_setzero_pd(); 2]; MR];
    let (mut a, mut b) = (a, b);
    for _ in 0..k {
        let b0 = _mm256_loadu_pd(b);
        let b1 = _mm256_loadu_pd(b.add(4));
        for i in 0..MR {
            let ai = _mm256_broadcast_sd(&*a.add(i));
            acc[i][0] = _mm256_fmadd_pd(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_pd(ai, b1, acc[i][1]);
        }
        a = a.add(MR);
        b = b.add(8);
    }
    let mut tile = [0f64; MR * 8];
    for i in 0..MR {
        _mm256_storeu_pd(tile.as_mut_ptr().add(i * 8), acc[i][0]);
        _mm256_storeu_pd(tile.as_mut_ptr().add(i * 8 + 4), acc[i][1]);
    }
    store_tile(&tile, 8, alpha, beta, c, rsc, csc, rows, cols);
}
