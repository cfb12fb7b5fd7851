//! Portable micro-kernel: plain Rust, any [`GemmElem`], any target. It is the fallback where no
//! SIMD kernel applies and the oracle the SIMD kernels are tested against (through `naive`).

use std::marker::PhantomData;

use super::{store_tile, GemmKernel};
use crate::cpu::gemm::GemmElem;

/// 4x8 register tile; small enough for 16 registers, wide enough that the compiler vectorises
/// the `j` loop with baseline SSE2/NEON. Multiply and add round separately (`GemmElem::mul_add`).
pub struct Scalar<T>(PhantomData<T>);

const MR: usize = 4;
const NR: usize = 8;

impl<T: GemmElem> GemmKernel for Scalar<T> {
    type Elem = T;
    type In = T;
    type Packed = T;
    const MR: usize = MR;
    const NR: usize = NR;
    const KC: usize = 256;
    const MC: usize = 256;
    const NC: usize = 256;
    const NAME: &'static str = "scalar";

    fn is_supported() -> bool {
        true
    }

    unsafe fn pack_a(dst: *mut T, a: *const T, rs: usize, cs: usize, mc: usize, kc: usize) {
        crate::cpu::gemm::pack::pack_panels_w::<T, MR>(dst, a, rs, cs, mc, kc)
    }

    unsafe fn pack_b(dst: *mut T, b: *const T, rs: usize, cs: usize, kc: usize, nc: usize) {
        crate::cpu::gemm::pack::pack_panels_w::<T, NR>(dst, b, cs, rs, nc, kc)
    }

    unsafe fn kernel(
        k: usize,
        alpha: T,
        a: *const T,
        b: *const T,
        beta: T,
        c: *mut T,
        rsc: usize,
        csc: usize,
        rows: usize,
        cols: usize,
    ) {
        let mut acc = [T::ZERO; MR * NR];
        for p in 0..k {
            let ap = std::slice::from_raw_parts(a.add(p * MR), MR);
            let bp = std::slice::from_raw_parts(b.add(p * NR), NR);
            for i in 0..MR {
                for j in 0..NR {
                    acc[i * NR + j] = acc[i * NR + j].mul_add(ap[i], bp[j]);
                }
            }
        }
        store_tile(&acc, NR, alpha, beta, c, rsc, csc, rows, cols);
    }
}
