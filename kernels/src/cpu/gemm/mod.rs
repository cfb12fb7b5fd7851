//! General matrix multiply: `C = alpha * A @ B + beta * C` on strided operands.
//!
//! Operands are described by an element offset and a row/column stride into a slice, so a
//! transposed or sliced operand needs no copy (`A^T` is the same slice with `rs`/`cs` swapped).
//! `beta == 0` overwrites C without reading it (NaN in C does not propagate), as in BLAS, and
//! likewise `alpha == 0` (or `k == 0`) only scales C, without reading A or B.
//!
//! Layout (after bluss/matrixmultiply): this file checks shapes and splits batches among threads,
//! `dispatch.rs` picks the micro-kernel once, `loops.rs` runs the five blocked loops, `pack.rs`
//! packs panels and `kernel/` holds one micro-kernel per ISA. Results are bit-identical for any
//! number of rayon threads: no thread ever shares the K reduction of an element of C.

mod dispatch;
mod kernel;
mod loops;
mod pack;
#[cfg(test)]
mod tests;

pub use dispatch::{kernel_name, Choice, PackedGemm};
#[doc(hidden)]
pub use loops::Job;

use rayon::prelude::*;

use crate::cpu::convert;

/// Below this many multiply-adds (`m*n*k`, about 128^3, some 50 µs on one core) a problem runs on
/// one thread: splitting it would cost more in rayon overhead than it saves.
const PAR_MIN_MACS: usize = 1 << 21;

/// Element types the GEMM supports.
pub trait GemmElem: Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static {
    const ZERO: Self;
    const ONE: Self;
    fn mul_add(self, a: Self, b: Self) -> Self; // self + a * b
    fn mul(self, b: Self) -> Self;
    fn add(self, b: Self) -> Self;
    /// The packed GEMM bound to this CPU's best micro-kernel for the type (chosen once), or
    /// `None` for element types without one, which fall back to [`naive`].
    #[doc(hidden)]
    fn packed_gemm() -> Option<Choice<Self>> {
        None
    }
}

impl GemmElem for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32) -> f32 {
        self + a * b
    }
    #[inline(always)]
    fn mul(self, b: f32) -> f32 {
        self * b
    }
    #[inline(always)]
    fn add(self, b: f32) -> f32 {
        self + b
    }
    fn packed_gemm() -> Option<Choice<f32>> {
        Some(dispatch::f32_gemm())
    }
}

impl GemmElem for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    #[inline(always)]
    fn mul_add(self, a: f64, b: f64) -> f64 {
        self + a * b
    }
    #[inline(always)]
    fn mul(self, b: f64) -> f64 {
        self * b
    }
    #[inline(always)]
    fn add(self, b: f64) -> f64 {
        self + b
    }
    fn packed_gemm() -> Option<Choice<f64>> {
        Some(dispatch::f64_gemm())
    }
}

/// Row and column strides (in elements) of a matrix operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strides {
    pub rs: usize,
    pub cs: usize,
}

impl Strides {
    pub const fn new(rs: usize, cs: usize) -> Self {
        Strides { rs, cs }
    }
    /// Row-major contiguous matrix with `cols` columns.
    pub const fn row_major(cols: usize) -> Self {
        Strides { rs: cols, cs: 1 }
    }
    /// The same matrix read transposed.
    pub const fn t(self) -> Self {
        Strides {
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// `C[m,n] = alpha * A[m,k] @ B[k,n] + beta * C[m,n]` for one matrix.
/// `a[a_off + i*rs + p*cs]` is `A[i,p]`, and so on. Panics if an operand does not fit its slice.
#[allow(clippy::too_many_arguments)]
#[rustfmt::skip] // one line per operand: matrix, offset(s), strides
pub fn gemm<T: GemmElem>(
    m: usize, n: usize, k: usize, alpha: T,
    a: &[T], a_off: usize, sa: Strides,
    b: &[T], b_off: usize, sb: Strides,
    beta: T,
    c: &mut [T], c_off: usize, sc: Strides,
) {
    gemm_batched(m, n, k, alpha, a, &[a_off], sa, b, &[b_off], sb, beta, c, &[c_off], sc)
}

/// Batched GEMM: problem `i` reads A at `a_offs[i]`, B at `b_offs[i]` and writes C at `c_offs[i]`.
/// A and B offsets may repeat (broadcast batch dimensions); C blocks must not overlap.
#[allow(clippy::too_many_arguments)]
#[rustfmt::skip] // one line per operand: matrix, offset(s), strides
pub fn gemm_batched<T: GemmElem>(
    m: usize, n: usize, k: usize, alpha: T,
    a: &[T], a_offs: &[usize], sa: Strides,
    b: &[T], b_offs: &[usize], sb: Strides,
    beta: T,
    c: &mut [T], c_offs: &[usize], sc: Strides,
) {
    match T::packed_gemm() {
        Some(choice) => batched_with(choice.run, m, n, k, alpha, a, a_offs, sa, b, b_offs, sb, beta, c, c_offs, sc),
        None => {
            check_batch(m, n, k, a, a_offs, sa, b, b_offs, sb, c, c_offs, sc);
            for i in 0..c_offs.len() {
                naive(m, n, k, alpha, a, a_offs[i], sa, b, b_offs[i], sb, beta, c, c_offs[i], sc);
            }
        }
    }
}

/// [`gemm_batched`] with bf16 operands accumulated in f32: `C` (f32) `= alpha * A @ B + beta * C`.
/// Runs the AVX512_BF16 dot-product kernel where the CPU has one; elsewhere A and B are widened
/// to f32 (exactly: every bf16 is an f32) and the f32 GEMM runs, so results differ from the
/// dot-product kernel's only in the order of the f32 roundings.
#[allow(clippy::too_many_arguments)]
#[rustfmt::skip] // one line per operand: matrix, offset(s), strides
pub fn gemm_bf16_batched(
    m: usize, n: usize, k: usize, alpha: f32,
    a: &[half::bf16], a_offs: &[usize], sa: Strides,
    b: &[half::bf16], b_offs: &[usize], sb: Strides,
    beta: f32,
    c: &mut [f32], c_offs: &[usize], sc: Strides,
) {
    #[cfg(target_arch = "x86_64")]
    if let Some(choice) = dispatch::bf16_gemm::<half::bf16>() {
        return batched_with(choice.run, m, n, k, alpha, a, a_offs, sa, b, b_offs, sb, beta, c, c_offs, sc);
    }
    let (a32, b32) = (convert::bf16_to_f32_vec(a), convert::bf16_to_f32_vec(b));
    gemm_batched(m, n, k, alpha, &a32, a_offs, sa, &b32, b_offs, sb, beta, c, c_offs, sc)
}

/// Autocast's matmul on f32 storage: `C = round(round(A) @ round(B))`, the operands rounded to
/// `r` as a cast to that dtype would, the products accumulated in f32, the result rounded once
/// more (PyTorch returns the low-precision dtype). With AVX512_BF16, bf16 rounding happens in
/// the packers and the dot-product kernel multiplies, so no rounded copy of A or B is made;
/// otherwise (and for f16, which has no CPU dot product) rounded copies go through the f32 GEMM.
/// Overflow to ±inf in f16 is kept: it is what loss scaling watches for.
#[allow(clippy::too_many_arguments)]
#[rustfmt::skip] // one line per operand: matrix, offset(s), strides
pub fn gemm_rounded_batched(
    r: Rounding,
    m: usize, n: usize, k: usize,
    a: &[f32], a_offs: &[usize], sa: Strides,
    b: &[f32], b_offs: &[usize], sb: Strides,
    c: &mut [f32], c_offs: &[usize], sc: Strides,
) {
    #[cfg(target_arch = "x86_64")]
    if r == Rounding::Bf16 {
        if let Some(choice) = dispatch::bf16_gemm::<f32>() {
            batched_with(choice.run, m, n, k, 1.0, a, a_offs, sa, b, b_offs, sb, 0.0, c, c_offs, sc);
            return round_blocks(r, c, c_offs, m, n, sc);
        }
    }
    let rounded = |x: &[f32]| {
        let mut v = x.to_vec();
        convert::round_in_place(r, &mut v);
        v
    };
    gemm_batched(m, n, k, 1.0, &rounded(a), a_offs, sa, &rounded(b), b_offs, sb, 0.0, c, c_offs, sc);
    round_blocks(r, c, c_offs, m, n, sc);
}

pub use convert::Rounding;

/// Rounds the `m x n` blocks of C in place (row by row, split among threads when large).
fn round_blocks(r: Rounding, c: &mut [f32], c_offs: &[usize], m: usize, n: usize, sc: Strides) {
    if m == 0 || n == 0 {
        return;
    }
    let contiguous = sc.cs == 1 && sc.rs == n && blocks_disjoint(c_offs, m * n);
    if contiguous {
        let mut offs = c_offs.to_vec();
        offs.sort_unstable();
        let contiguous_all = offs.windows(2).all(|w| w[1] == w[0] + m * n);
        if contiguous_all {
            let span = &mut c[offs[0]..offs[0] + offs.len() * m * n];
            span.par_chunks_mut(1 << 16).for_each(|ch| convert::round_in_place(r, ch));
            return;
        }
    }
    for &o in c_offs {
        for i in 0..m {
            for j in 0..n {
                let x = &mut c[o + i * sc.rs + j * sc.cs];
                *x = convert::round_one(r, *x);
            }
        }
    }
}

/// Name of the bf16 GEMM's kernel on this CPU (`"widen+<f32 kernel>"` without AVX512_BF16).
pub fn bf16_kernel_name() -> String {
    if dispatch::has_bf16_kernel() {
        "avx512bf16".to_string()
    } else {
        format!("widen+{}", kernel_name::<f32>())
    }
}

/// [`gemm_batched`] on a given packed GEMM (the tests force each ISA's kernel through this).
#[allow(clippy::too_many_arguments)]
#[rustfmt::skip] // one line per operand: matrix, offset(s), strides
fn batched_with<I: Copy + Sync, T: GemmElem>(
    run: PackedGemm<I, T>,
    m: usize, n: usize, k: usize, alpha: T,
    a: &[I], a_offs: &[usize], sa: Strides,
    b: &[I], b_offs: &[usize], sb: Strides,
    beta: T,
    c: &mut [T], c_offs: &[usize], sc: Strides,
) {
    check_batch(m, n, k, a, a_offs, sa, b, b_offs, sb, c, c_offs, sc);
    let batch = c_offs.len();
    if m == 0 || n == 0 || batch == 0 {
        return;
    }
    let base = Job { m, n, k, alpha, beta, a: a.as_ptr(), sa, b: b.as_ptr(), sb, c: c.as_mut_ptr(), sc };
    // SAFETY (for the offsets here and every `run` below): check_batch proved that every element
    // each problem addresses lies inside its slice.
    let job = |i: usize| unsafe { base.at(a_offs[i], b_offs[i], c_offs[i]) };
    let threads = rayon::current_num_threads();
    let macs = m.saturating_mul(n).saturating_mul(k);
    let c_ok = loops::c_is_injective(m, n, sc);
    // Many problems: one thread per problem (each runs single-threaded, so its result is the
    // same as alone). Few large ones: one after another, each split across the threads.
    let by_batch = threads > 1
        && batch > 1
        && c_ok
        && macs.saturating_mul(batch) >= PAR_MIN_MACS
        && (macs < PAR_MIN_MACS || batch.is_multiple_of(threads) || batch >= 4 * threads)
        && blocks_disjoint(c_offs, (m - 1) * sc.rs + (n - 1) * sc.cs + 1);
    if by_batch {
        // Group tiny problems so a rayon task stays above ~100k multiply-adds.
        let min_len = ((1usize << 17) / macs.max(1)).max(1);
        // SAFETY: C blocks are disjoint (checked above), so threads write disjoint memory.
        (0..batch).into_par_iter().with_min_len(min_len).for_each(|i| unsafe { run(&job(i), 1) });
    } else {
        let t = if macs >= PAR_MIN_MACS { threads } else { 1 };
        for i in 0..batch {
            // SAFETY: see `job`; `gemm_packed` only splits C across threads when it is injective.
            unsafe { run(&job(i), t) };
        }
    }
}

/// Whether the C blocks `[off, off + extent)` of a batch are pairwise disjoint (conservative:
/// blocks interleaved through their strides count as overlapping and run one after another).
fn blocks_disjoint(offs: &[usize], extent: usize) -> bool {
    let apart = |o: &[usize]| o.windows(2).all(|w| w[1] >= w[0].saturating_add(extent));
    apart(offs) || {
        let mut sorted = offs.to_vec();
        sorted.sort_unstable();
        apart(&sorted)
    }
}

#[allow(clippy::too_many_arguments)]
#[rustfmt::skip] // one line per operand: matrix, offset(s), strides
fn check_batch<I, T>(
    m: usize, n: usize, k: usize,
    a: &[I], a_offs: &[usize], sa: Strides,
    b: &[I], b_offs: &[usize], sb: Strides,
    c: &[T], c_offs: &[usize], sc: Strides,
) {
    assert!(a_offs.len() == b_offs.len() && b_offs.len() == c_offs.len(), "gemm_batched: offset lists differ in length");
    for i in 0..c_offs.len() {
        check_fits("A", a.len(), a_offs[i], m, k, sa);
        check_fits("B", b.len(), b_offs[i], k, n, sb);
        check_fits("C", c.len(), c_offs[i], m, n, sc);
    }
}

fn check_fits(name: &str, len: usize, off: usize, rows: usize, cols: usize, s: Strides) {
    if rows == 0 || cols == 0 {
        return;
    }
    // Checked arithmetic: a wrapped sum would pass the bound and let the kernels read outside.
    let last = (rows - 1)
        .checked_mul(s.rs)
        .and_then(|r| (cols - 1).checked_mul(s.cs).and_then(|c| r.checked_add(c)))
        .and_then(|x| x.checked_add(off));
    assert!(
        last.is_some_and(|l| l < len),
        "gemm: operand {name} ({rows}x{cols}, offset {off}, strides {s:?}) overruns its slice of {len}"
    );
}

/// Reference triple loop: the oracle for the optimised kernels' tests.
#[allow(clippy::too_many_arguments)]
#[rustfmt::skip] // one line per operand: matrix, offset(s), strides
pub fn naive<T: GemmElem>(
    m: usize, n: usize, k: usize, alpha: T,
    a: &[T], a_off: usize, sa: Strides,
    b: &[T], b_off: usize, sb: Strides,
    beta: T,
    c: &mut [T], c_off: usize, sc: Strides,
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = T::ZERO;
            for p in 0..k {
                acc = acc.mul_add(a[a_off + i * sa.rs + p * sa.cs], b[b_off + p * sb.rs + j * sb.cs]);
            }
            let ci = c_off + i * sc.rs + j * sc.cs;
            c[ci] = if beta == T::ZERO { alpha.mul(acc) } else { alpha.mul(acc).add(beta.mul(c[ci])) };
        }
    }
}
