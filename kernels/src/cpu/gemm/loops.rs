//! The five loops of a packed GEMM (Goto/BLIS, laid out as matrixmultiply's `gemm.rs`), generic
//! over the micro-kernel, and the split of C among rayon threads.
//!
//! Threads never share a reduction: C is cut into disjoint pieces of whole rows x columns and
//! each thread runs all five loops on its piece with its own packing buffers. The K loop is cut
//! into blocks whose size depends only on `k`, so each element of C sees the same sequence of
//! FMAs and roundings with 1 thread or 16, and runs are bit-reproducible.

use std::cell::Cell;
use std::ops::Range;
use std::thread::LocalKey;

use rayon::prelude::*;

use super::kernel::GemmKernel;
use super::{GemmElem, Strides};

/// One GEMM problem as raw pointers, `C = alpha * A @ B + beta * C`, with `a`, `b`, `c` pointing
/// at element `[0, 0]` of each operand. The public entry builds it after checking that every
/// element the strides address lies inside its slice. A and B hold `I`, C holds `T` (they
/// differ for bf16 operands accumulated into f32).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Job<I, T = I> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub alpha: T,
    pub beta: T,
    pub a: *const I,
    pub sa: Strides,
    pub b: *const I,
    pub sb: Strides,
    pub c: *mut T,
    pub sc: Strides,
}

// SAFETY: a Job is only built over slices the caller lent for the call; pieces of C handed to
// different threads are disjoint (`gemm_packed` checks C's strides do not alias before splitting).
unsafe impl<I: Sync, T: Send> Send for Job<I, T> {}
unsafe impl<I: Sync, T: Sync> Sync for Job<I, T> {}

impl<I, T> Job<I, T> {
    /// The same problem with its operands moved by element offsets (one member of a batch).
    ///
    /// # Safety
    /// The offsets stay inside the operands' slices.
    pub unsafe fn at(&self, a_off: usize, b_off: usize, c_off: usize) -> Job<I, T>
    where
        I: Copy,
        T: Copy,
    {
        Job {
            a: self.a.add(a_off),
            b: self.b.add(b_off),
            c: self.c.add(c_off),
            ..*self
        }
    }
}

/// Runs `job` with the micro-kernel `K` on up to `threads` rayon threads.
///
/// # Safety
/// `K::is_supported()`, and every element `job` addresses through its strides is in bounds
/// (A and B readable, C writable).
pub unsafe fn gemm_packed<K: GemmKernel>(job: &Job<K::In, K::Elem>, threads: usize) {
    debug_assert!(
        K::is_supported(),
        "gemm: kernel {} called on a CPU without it",
        K::NAME
    );
    let (m, n) = (job.m, job.n);
    if m == 0 || n == 0 {
        return;
    }
    if job.k == 0 || job.alpha == K::Elem::ZERO {
        // Nothing to accumulate (BLAS semantics: alpha == 0 does not read A or B).
        scale_c(job);
        return;
    }
    let (gm, gn) = if threads > 1 && c_is_injective(m, n, job.sc) {
        grid(m, n, threads, K::MR, K::NR)
    } else {
        (1, 1)
    };
    if gm * gn == 1 {
        run_piece::<K>(job, 0..m, 0..n);
        return;
    }
    (0..gm * gn).into_par_iter().for_each(|t| {
        let rows = split(m, K::MR, gm, t / gn);
        let cols = split(n, K::NR, gn, t % gn);
        // SAFETY: pieces are disjoint blocks of an injective C; the caller's contract covers the rest.
        unsafe { run_piece::<K>(job, rows, cols) }
    });
}

/// A piece of C up to this many multiply-adds skips packing when the kernel can read B in
/// place and B's `kc x cols` block fits in L2 (it is re-read once per MR rows): packing then
/// costs more than it saves. Measured on Zen 4: 64^3 goes from 79 to 110 GFLOP/s, 192^3 from
/// 103 to 114, 256^3 is even.
const DIRECT_MAX_MACS: usize = 1 << 23;
const DIRECT_MAX_B: usize = 128 * 1024;

/// One piece of C on this thread, with or without packing. Both paths run the same K blocks
/// and their kernels the same FMA order, so the choice never changes a bit of the result.
unsafe fn run_piece<K: GemmKernel>(job: &Job<K::In, K::Elem>, rows: Range<usize>, cols: Range<usize>) {
    let macs = rows.len() * cols.len() * job.k;
    let b_block = block(job.k, K::KC, K::KU) * cols.len();
    if K::DIRECT && job.sb.cs == 1 && macs <= DIRECT_MAX_MACS && b_block <= DIRECT_MAX_B {
        gemm_direct::<K>(job, rows, cols)
    } else {
        gemm_piece::<K>(job, rows, cols)
    }
}

/// Register tiles straight from the operands: no packing buffers, no copies.
pub(crate) unsafe fn gemm_direct<K: GemmKernel>(
    job: &Job<K::In, K::Elem>,
    rows: Range<usize>,
    cols: Range<usize>,
) {
    let (mr, nr, k) = (K::MR, K::NR, job.k);
    let (sa, sb, sc) = (job.sa, job.sb, job.sc);
    let kc = block(k, K::KC, K::KU);
    // LOOP 4: split k into kc parts, as gemm_piece does (beta on the first).
    for pc in (0..k).step_by(kc) {
        let kcb = kc.min(k - pc);
        let beta = if pc == 0 { job.beta } else { K::Elem::ONE };
        // LOOP 2: MR-row strips of A, each read from cache for the whole row of tiles.
        for ir in rows.clone().step_by(mr) {
            let a = job.a.add(ir * sa.rs + pc * sa.cs);
            let tr = mr.min(rows.end - ir);
            // LOOP 1: NR-column strips of B.
            for jr in cols.clone().step_by(nr) {
                let b = job.b.add(pc * sb.rs + jr);
                let c = job.c.add(ir * sc.rs + jr * sc.cs);
                K::kernel_direct(
                    kcb,
                    job.alpha,
                    a,
                    sa,
                    b,
                    sb.rs,
                    beta,
                    c,
                    sc,
                    tr,
                    nr.min(cols.end - jr),
                );
            }
        }
    }
}

/// The five loops over one piece of C (`rows x cols`), on the calling thread.
///
/// The micro-kernel broadcasts from A and loads vectors from B, so (as in BLIS's zen4 setup,
/// where the roles of A and B are mirrored) the small broadcast panel of A (`kc x MR`) is the
/// one that stays in L1 while loop 1 streams B's panels from the L2-sized packed block of B.
pub(crate) unsafe fn gemm_piece<K: GemmKernel>(
    job: &Job<K::In, K::Elem>,
    rows: Range<usize>,
    cols: Range<usize>,
) {
    let (mr, nr, k) = (K::MR, K::NR, job.k);
    let kc = block(k, K::KC, K::KU);
    let mc = block(rows.len(), K::MC, mr);
    let nc = block(cols.len(), K::NC, nr);
    let mut abuf = PackBuf::take(&PACK_A, mc.div_ceil(mr) * mr * kc * size_of::<K::Packed>());
    let mut bbuf = PackBuf::take(&PACK_B, nc.div_ceil(nr) * nr * kc * size_of::<K::Packed>());
    let (ap, bp) = (abuf.ptr::<K::Packed>(), bbuf.ptr::<K::Packed>());
    let (sa, sb, sc) = (job.sa, job.sb, job.sc);

    // LOOP 5: split m into mc parts (the packed MC x KC block of A stays in L3).
    for ic in rows.clone().step_by(mc) {
        let mcb = mc.min(rows.end - ic);
        // LOOP 4: split k into kc parts; beta applies on the first, later parts accumulate.
        for pc in (0..k).step_by(kc) {
            let kcb = kc.min(k - pc);
            // Depth of the packed panels: the last block may end on a partial KU group.
            let kcp = kcb.next_multiple_of(K::KU);
            K::pack_a(
                ap,
                job.a.add(ic * sa.rs + pc * sa.cs),
                sa.rs,
                sa.cs,
                mcb,
                kcb,
            );
            let beta = if pc == 0 { job.beta } else { K::Elem::ONE };
            // LOOP 3: split n into nc parts (the packed KC x NC block of B stays in L2).
            for jc in cols.clone().step_by(nc) {
                let ncb = nc.min(cols.end - jc);
                K::pack_b(
                    bp,
                    job.b.add(pc * sb.rs + jc * sb.cs),
                    sb.rs,
                    sb.cs,
                    kcb,
                    ncb,
                );
                // LOOP 2: split mc into MR-row micro-panels of A (each stays in L1 for loop 1).
                for ir in (0..mcb).step_by(mr) {
                    let a_panel = ap.add(ir * kcp);
                    let c_row = job.c.add((ic + ir) * sc.rs);
                    let tr = mr.min(mcb - ir);
                    // LOOP 1: split nc into NR-column micro-panels of B: one register tile each.
                    for jr in (0..ncb).step_by(nr) {
                        let ct = c_row.add((jc + jr) * sc.cs);
                        let tc = nr.min(ncb - jr);
                        K::kernel(
                            kcb,
                            job.alpha,
                            a_panel,
                            bp.add(jr * kcp),
                            beta,
                            ct,
                            sc.rs,
                            sc.cs,
                            tr,
                            tc,
                        );
                    }
                }
            }
        }
    }
    abuf.give_back(&PACK_A);
    bbuf.give_back(&PACK_B);
}

/// `C = beta * C` (`beta == 0` writes zeros without reading C).
unsafe fn scale_c<I, T: GemmElem>(job: &Job<I, T>) {
    if job.beta == T::ONE {
        return;
    }
    for i in 0..job.m {
        for j in 0..job.n {
            let p = job.c.add(i * job.sc.rs + j * job.sc.cs);
            *p = if job.beta == T::ZERO {
                T::ZERO
            } else {
                job.beta.mul(*p)
            };
        }
    }
}

/// Block size for a dimension of `len`: at most `max`, a multiple of `unit`, and as even as
/// possible (k = 300 with KC = 256 gives 152 + 148, not 256 + 44). Depends on `len` only.
fn block(len: usize, max: usize, unit: usize) -> usize {
    let parts = len.div_ceil(max).max(1);
    len.div_ceil(parts).div_ceil(unit).max(1) * unit
}

/// Part `i` of `parts` of `0..len`, cut at multiples of `unit` as evenly as possible.
fn split(len: usize, unit: usize, parts: usize, i: usize) -> Range<usize> {
    let units = len.div_ceil(unit);
    let lo = (units * i / parts * unit).min(len);
    let hi = (units * (i + 1) / parts * unit).min(len);
    lo..hi
}

/// Cut C into a `gm x gn` grid with `gm * gn == threads` (or fewer when C is small), choosing
/// the shape that packs the least redundant data: each row of pieces packs its A rows once per
/// piece, each column packs its B columns once per piece, so cost ~ `m * gn + n * gm`.
fn grid(m: usize, n: usize, threads: usize, mr: usize, nr: usize) -> (usize, usize) {
    let (mu, nu) = (m.div_ceil(mr), n.div_ceil(nr));
    let mut best = (1, 1);
    let mut best_cost = (usize::MAX, usize::MAX);
    for gm in 1..=threads {
        if !threads.is_multiple_of(gm) {
            continue;
        }
        let gn = threads / gm;
        let (gm, gn) = (gm.min(mu), gn.min(nu));
        // Prefer more pieces, then less packing.
        let cost = (usize::MAX - gm * gn, m * gn + n * gm);
        if cost < best_cost {
            best_cost = cost;
            best = (gm, gn);
        }
    }
    best
}

/// True when no two elements of an `m x n` C with strides `s` share memory, so disjoint blocks
/// of C may be written from different threads. Conservative: the smaller stride's whole span
/// must fit inside one step of the larger.
pub(crate) fn c_is_injective(m: usize, n: usize, s: Strides) -> bool {
    if m <= 1 || n <= 1 {
        return (m <= 1 || s.rs > 0) && (n <= 1 || s.cs > 0);
    }
    let (lo, lo_len, hi) = if s.rs <= s.cs {
        (s.rs, m, s.cs)
    } else {
        (s.cs, n, s.rs)
    };
    lo > 0 && lo.checked_mul(lo_len - 1).is_some_and(|span| span < hi)
}

/// A cache line, so packing buffers start 64-byte aligned (B panels then never split a line).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

type BufKey = LocalKey<Cell<Vec<Line>>>;

thread_local! {
    // Per-thread packing buffers, reused by every GEMM this thread runs: no allocation per call
    // once they have grown to the largest block. Taken out while in use, so a nested call (it
    // cannot happen in the loops above, which never yield to rayon) would allocate, not alias.
    static PACK_A: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
    static PACK_B: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
}

struct PackBuf(Vec<Line>);

impl PackBuf {
    fn take(key: &'static BufKey, bytes: usize) -> PackBuf {
        let mut v = key.try_with(|c| c.take()).unwrap_or_default();
        let lines = bytes.div_ceil(64);
        if v.len() < lines {
            v = vec![Line([0; 64]); lines];
        }
        PackBuf(v)
    }

    fn ptr<T>(&mut self) -> *mut T {
        self.0.as_mut_ptr() as *mut T
    }

    fn give_back(self, key: &'static BufKey) {
        let _ = key.try_with(|c| c.set(self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_even_and_aligned() {
        assert_eq!(block(300, 256, 1), 150);
        assert_eq!(block(512, 256, 1), 256);
        assert_eq!(block(100, 168, 14), 112);
        assert_eq!(block(0, 256, 1), 1);
        let parts: Vec<_> = (0..3).map(|i| split(100, 14, 3, i)).collect();
        assert_eq!(parts, vec![0..28, 28..70, 70..100]);
        assert_eq!(grid(4096, 2048, 2, 14, 32), (2, 1));
        assert_eq!(grid(14, 4096, 2, 14, 32), (1, 2));
        assert_eq!(grid(1, 1, 4, 14, 32), (1, 1));
    }

    #[test]
    fn injectivity() {
        assert!(c_is_injective(4, 5, Strides::row_major(5)));
        assert!(c_is_injective(4, 5, Strides::row_major(5).t().t()));
        assert!(c_is_injective(4, 5, Strides::new(1, 4)));
        assert!(!c_is_injective(4, 5, Strides::new(0, 1)));
        assert!(!c_is_injective(4, 5, Strides::new(3, 1)));
        assert!(c_is_injective(1, 5, Strides::new(0, 1)));
    }
}
