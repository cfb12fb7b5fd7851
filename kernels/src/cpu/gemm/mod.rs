//! General matrix multiply: `C = alpha * A @ B + beta * C` on strided operands.
//!
//! Operands are described by an element offset and a row/column stride into a slice, so a
//! transposed or sliced operand needs no copy (`A^T` is the same slice with `rs`/`cs` swapped).
//! `beta == 0` overwrites C without reading it (NaN in C does not propagate), as in BLAS.

/// Element types the GEMM supports.
pub trait GemmElem: Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static {
    const ZERO: Self;
    const ONE: Self;
    fn mul_add(self, a: Self, b: Self) -> Self; // self + a * b
    fn mul(self, b: Self) -> Self;
    fn add(self, b: Self) -> Self;
}

impl GemmElem for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32) -> f32 { self + a * b }
    #[inline(always)]
    fn mul(self, b: f32) -> f32 { self * b }
    #[inline(always)]
    fn add(self, b: f32) -> f32 { self + b }
}

impl GemmElem for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    #[inline(always)]
    fn mul_add(self, a: f64, b: f64) -> f64 { self + a * b }
    #[inline(always)]
    fn mul(self, b: f64) -> f64 { self * b }
    #[inline(always)]
    fn add(self, b: f64) -> f64 { self + b }
}

/// Row and column strides (in elements) of a matrix operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strides {
    pub rs: usize,
    pub cs: usize,
}

impl Strides {
    pub const fn new(rs: usize, cs: usize) -> Self { Strides { rs, cs } }
    /// Row-major contiguous matrix with `cols` columns.
    pub const fn row_major(cols: usize) -> Self { Strides { rs: cols, cs: 1 } }
    /// The same matrix read transposed.
    pub const fn t(self) -> Self { Strides { rs: self.cs, cs: self.rs } }
}

/// `C[m,n] = alpha * A[m,k] @ B[k,n] + beta * C[m,n]` for one matrix.
/// `a[a_off + i*rs + p*cs]` is `A[i,p]`, and so on. Panics if an operand does not fit its slice.
#[allow(clippy::too_many_arguments)]
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
pub fn gemm_batched<T: GemmElem>(
    m: usize, n: usize, k: usize, alpha: T,
    a: &[T], a_offs: &[usize], sa: Strides,
    b: &[T], b_offs: &[usize], sb: Strides,
    beta: T,
    c: &mut [T], c_offs: &[usize], sc: Strides,
) {
    assert!(a_offs.len() == b_offs.len() && b_offs.len() == c_offs.len(), "gemm_batched: offset lists differ in length");
    for i in 0..c_offs.len() {
        check_fits("A", a.len(), a_offs[i], m, k, sa);
        check_fits("B", b.len(), b_offs[i], k, n, sb);
        check_fits("C", c.len(), c_offs[i], m, n, sc);
        naive(m, n, k, alpha, a, a_offs[i], sa, b, b_offs[i], sb, beta, c, c_offs[i], sc);
    }
}

fn check_fits(name: &str, len: usize, off: usize, rows: usize, cols: usize, s: Strides) {
    if rows == 0 || cols == 0 {
        return;
    }
    let last = off + (rows - 1) * s.rs + (cols - 1) * s.cs;
    assert!(last < len, "gemm: operand {name} ({rows}x{cols}, offset {off}, strides {s:?}) overruns its slice of {len}");
}

/// Reference triple loop: the oracle for the optimised kernels' tests.
#[allow(clippy::too_many_arguments)]
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
