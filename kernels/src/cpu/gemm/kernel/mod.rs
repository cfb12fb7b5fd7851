//! Micro-kernels: one unit struct per ISA and element type behind the [`GemmKernel`] trait.
//!
//! A micro-kernel multiplies a packed `MR x kc` panel of A by a packed `kc x NR` panel of B into
//! an `MR x NR` register tile, then folds the tile into C as `C = alpha * AB + beta * C`. The
//! loops in `loops.rs` are generic over the trait, so each ISA only writes the register tile.

use super::{GemmElem, Strides};

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "x86_64")]
pub mod avx512_bf16;

/// One micro-kernel and the cache blocking that suits it (matrixmultiply's `GemmKernel`).
///
/// Packed layouts (see `pack.rs`): the A panel stores `A[i, p]` at `a[p * MR + i]`, the B panel
/// stores `B[p, j]` at `b[p * NR + j]`, both zero-padded to full `MR`/`NR` width. A kernel whose
/// instructions consume `KU` consecutive depths at once (bf16 dot products take pairs) packs
/// `KU`-deep groups instead, see [`GemmKernel::KU`].
pub trait GemmKernel {
    /// Element of C, alpha, beta and the accumulators.
    type Elem: GemmElem;
    /// Element of A and B as the caller stores them.
    type In: Copy + Sync;
    /// Element of the packed panels (the packers convert `In` to it).
    type Packed: Copy;
    /// Depths one kernel instruction consumes: panels hold `round_up(kc, KU)` depths, the
    /// padding zero.
    const KU: usize = 1;
    /// Rows of the register tile (broadcast from A).
    const MR: usize;
    /// Columns of the register tile (vector loads from B; C rows are contiguous along it).
    const NR: usize;
    /// Depth of one packed block; the K loop is split into blocks of at most this size. The split
    /// depends only on `k`, never on threads, so every C element sums its products in one order.
    const KC: usize;
    /// Rows of A packed at once (the packed `MC x KC` block of A stays in L3; B is repacked
    /// once per block, so larger is cheaper as long as L3 holds it).
    const MC: usize;
    /// Columns of B packed at once (the packed `KC x NC` block of B stays in L2 while the A
    /// micro-panels of one A block sweep over it).
    const NC: usize;
    const NAME: &'static str;

    /// Whether this CPU can run the kernel; the kernel is only called after this returned true.
    fn is_supported() -> bool;

    /// Packs `mc x kc` of A (`a` points at its first element, strides `rs`, `cs`) into MR-row
    /// panels at `dst` (`round_up(mc, MR) * kc` elements).
    ///
    /// # Safety
    /// Every `a + i*rs + p*cs` for `i < mc`, `p < kc` is readable; `dst` has room.
    unsafe fn pack_a(
        dst: *mut Self::Packed,
        a: *const Self::In,
        rs: usize,
        cs: usize,
        mc: usize,
        kc: usize,
    );

    /// Packs `kc x nc` of B into NR-column panels at `dst` (`kc * round_up(nc, NR)` elements).
    ///
    /// # Safety
    /// Every `b + p*rs + j*cs` for `p < kc`, `j < nc` is readable; `dst` has room.
    unsafe fn pack_b(
        dst: *mut Self::Packed,
        b: *const Self::In,
        rs: usize,
        cs: usize,
        kc: usize,
        nc: usize,
    );

    /// `C[0..rows, 0..cols] = alpha * (A_panel @ B_panel) + beta * C` for one register tile;
    /// `C[i, j]` is at `c + i*rsc + j*csc`. `beta == 0` writes C without reading it.
    ///
    /// # Safety
    /// `is_supported()`; `a` holds `round_up(k, KU) * MR` and `b` `round_up(k, KU) * NR` elements; `rows <= MR`,
    /// `cols <= NR`, and the `rows x cols` tile of C is writable.
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel(
        k: usize,
        alpha: Self::Elem,
        a: *const Self::Packed,
        b: *const Self::Packed,
        beta: Self::Elem,
        c: *mut Self::Elem,
        rsc: usize,
        csc: usize,
        rows: usize,
        cols: usize,
    );

    /// Whether [`GemmKernel::kernel_direct`] exists (small problems then skip packing).
    const DIRECT: bool = false;

    /// The same tile computed straight from the operands, no packing: `A[i, p]` at
    /// `a + i*sa.rs + p*sa.cs`, `B[p, j]` at `b + p*rsb + j` (B's column stride must be 1). It
    /// must perform the same FMAs in the same order as [`GemmKernel::kernel`], so a problem's
    /// bits do not depend on which path ran it.
    ///
    /// # Safety
    /// `DIRECT` and `is_supported()`; the `rows x k` block of A, the `k x cols` block of B and the
    /// `rows x cols` tile of C lie inside their operands.
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel_direct(
        _k: usize,
        _alpha: Self::Elem,
        _a: *const Self::In,
        _sa: Strides,
        _b: *const Self::In,
        _rsb: usize,
        _beta: Self::Elem,
        _c: *mut Self::Elem,
        _sc: Strides,
        _rows: usize,
        _cols: usize,
    ) {
        unreachable!("gemm: kernel without a direct variant called directly")
    }
}

/// Folds a finished register tile (`acc[i * nr + j]`) into C through plain scalar arithmetic.
///
/// Used for edge tiles and strided C. It performs the same two roundings as the vector stores
/// (`alpha * acc`, then `+ beta * c`), so an element's value never depends on whether it landed
/// in a full tile or an edge tile, and so not on how the work was split among threads.
///
/// # Safety
/// The `rows x cols` tile at `c` with strides `rsc`, `csc` is writable; `acc` is `rows x nr`.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn store_tile<T: GemmElem>(
    acc: &[T],
    nr: usize,
    alpha: T,
    beta: T,
    c: *mut T,
    rsc: usize,
    csc: usize,
    rows: usize,
    cols: usize,
) {
    for i in 0..rows {
        for j in 0..cols {
            let cij = c.add(i * rsc + j * csc);
            let v = alpha.mul(acc[i * nr + j]);
            *cij = if beta == T::ZERO {
                v
            } else {
                v.add(beta.mul(*cij))
            };
        }
    }
}
