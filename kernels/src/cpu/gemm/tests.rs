//! GEMM tests against an f64 triple loop: every small size, odd and tile-edge sizes, every
//! operand layout, alpha/beta cases, batches, f64, each ISA's kernel forced, and bitwise
//! equality across thread counts.

use super::kernel::scalar::Scalar;
use super::kernel::GemmKernel;
use super::loops::gemm_packed;
use super::*;

/// Small deterministic generator (xorshift64*), values in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// A `rows x cols` operand stored in a larger slice: `trans` stores it column-major, `pad`
/// widens the leading stride, `off` shifts it into the slice. Padding holds sentinels.
#[derive(Clone)]
struct Mat<T> {
    data: Vec<T>,
    off: usize,
    s: Strides,
    rows: usize,
    cols: usize,
}

trait TestElem: GemmElem {
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    const EPS: f64;
}
impl TestElem for f32 {
    fn from_f64(x: f64) -> f32 {
        x as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    const EPS: f64 = 1e-5;
}
impl TestElem for f64 {
    fn from_f64(x: f64) -> f64 {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    const EPS: f64 = 1e-12;
}

impl<T: TestElem> Mat<T> {
    fn new(rows: usize, cols: usize, trans: bool, pad: usize, off: usize, rng: &mut Rng) -> Mat<T> {
        let s = if trans {
            Strides::new(1, rows + pad)
        } else {
            Strides::new(cols + pad, 1)
        };
        let len =
            off + if trans {
                (rows + pad) * cols
            } else {
                (cols + pad) * rows
            } + 3;
        // Sentinel 7.0 outside the matrix: never read into a product, never overwritten.
        let mut data = vec![T::from_f64(7.0); len];
        for i in 0..rows {
            for j in 0..cols {
                data[off + i * s.rs + j * s.cs] = T::from_f64(rng.next());
            }
        }
        Mat {
            data,
            off,
            s,
            rows,
            cols,
        }
    }
    fn at(&self, i: usize, j: usize) -> T {
        self.data[self.off + i * self.s.rs + j * self.s.cs]
    }
}

/// Checks `c` (a copy of `c0` after the GEMM) against an f64 triple loop; elements of C's slice
/// outside the matrix must be untouched. Tolerance: relative `EPS * sqrt(k)`.
fn check<T: TestElem>(alpha: T, a: &Mat<T>, b: &Mat<T>, beta: T, c0: &Mat<T>, c: &[T], what: &str) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let mut inside = vec![false; c.len()];
    for i in 0..m {
        for j in 0..n {
            let idx = c0.off + i * c0.s.rs + j * c0.s.cs;
            inside[idx] = true;
            let mut acc = 0.0f64;
            for p in 0..k {
                acc += a.at(i, p).to_f64() * b.at(p, j).to_f64();
            }
            let mut want = alpha.to_f64() * acc;
            if beta != T::ZERO {
                want += beta.to_f64() * c0.at(i, j).to_f64();
            }
            let got = c[idx].to_f64();
            let tol = T::EPS * (k.max(1) as f64).sqrt() * want.abs().max(1.0);
            assert!(
                (got - want).abs() <= tol,
                "{what}: m={m} n={n} k={k} C[{i},{j}] = {got}, want {want}"
            );
        }
    }
    for (idx, &x) in c.iter().enumerate() {
        assert!(
            inside[idx] || x == c0.data[idx],
            "{what}: m={m} n={n} k={k} wrote outside C at {idx}"
        );
    }
}

/// Runs one GEMM through `run` and checks it.
#[allow(clippy::too_many_arguments)]
fn run_case<T: TestElem>(
    run: PackedGemm<T>,
    alpha: T,
    a: &Mat<T>,
    b: &Mat<T>,
    beta: T,
    c0: &Mat<T>,
    what: &str,
) {
    let mut c = c0.data.clone();
    let (m, n, k) = (a.rows, b.cols, a.cols);
    batched_with(
        run,
        m,
        n,
        k,
        alpha,
        &a.data,
        &[a.off],
        a.s,
        &b.data,
        &[b.off],
        b.s,
        beta,
        &mut c,
        &[c0.off],
        c0.s,
    );
    check(alpha, a, b, beta, c0, &c, what);
}

/// Every f32 kernel this CPU can run, forced, plus the dispatched default.
fn f32_kernels() -> Vec<(&'static str, PackedGemm<f32>)> {
    let mut v: Vec<(&'static str, PackedGemm<f32>)> = vec![
        ("dispatch", dispatch::f32_gemm().run),
        ("scalar", gemm_packed::<Scalar<f32>>),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        use super::kernel::{avx2::Avx2F32, avx512::Avx512F32};
        if Avx2F32::is_supported() {
            v.push(("avx2", gemm_packed::<Avx2F32>));
        } else {
            eprintln!("gemm tests: CPU lacks AVX2+FMA, its kernel is not tested");
        }
        if Avx512F32::is_supported() {
            v.push(("avx512", gemm_packed::<Avx512F32>));
        } else {
            eprintln!("gemm tests: CPU lacks AVX-512F, its kernel is not tested");
        }
    }
    v
}

fn f64_kernels() -> Vec<(&'static str, PackedGemm<f64>)> {
    let mut v: Vec<(&'static str, PackedGemm<f64>)> = vec![
        ("dispatch", dispatch::f64_gemm().run),
        ("scalar", gemm_packed::<Scalar<f64>>),
    ];
    #[cfg(target_arch = "x86_64")]
    if super::kernel::avx2::Avx2F64::is_supported() {
        v.push(("avx2", gemm_packed::<super::kernel::avx2::Avx2F64>));
    }
    v
}

#[test]
fn every_size_up_to_19() {
    let mut rng = Rng(1);
    for (name, run) in f32_kernels() {
        for m in 0..=19 {
            for n in 0..=19 {
                for k in 0..=19 {
                    // Cycle the layouts so the sweep also covers transposes and strided C.
                    let v = m + 2 * n + 3 * k;
                    let a = Mat::<f32>::new(m, k, v % 2 == 1, v % 3, v % 5, &mut rng);
                    let b = Mat::<f32>::new(k, n, v % 4 >= 2, v % 2, v % 3, &mut rng);
                    let c0 = Mat::<f32>::new(m, n, v % 3 == 2, v % 2, v % 4, &mut rng);
                    let beta = [0.0, 1.0, 0.5][v % 3];
                    run_case(run, 1.0, &a, &b, beta, &c0, name);
                }
            }
        }
    }
}

#[test]
fn odd_sizes_and_tile_edges() {
    let mut rng = Rng(2);
    for (name, run) in f32_kernels() {
        let mut sizes = vec![
            (17, 257, 33),
            (1, 1000, 1),
            (1000, 1, 3),
            (5, 7, 600),
            (33, 65, 513),
        ];
        // One off each kernel's tile in every direction, and K past one KC block.
        let mut tiles = vec![(Scalar::<f32>::MR, Scalar::<f32>::NR, Scalar::<f32>::KC)];
        #[cfg(target_arch = "x86_64")]
        {
            use super::kernel::{avx2::Avx2F32 as A2, avx512::Avx512F32 as A5};
            tiles.extend([(A2::MR, A2::NR, A2::KC), (A5::MR, A5::NR, A5::KC)]);
        }
        for (mr, nr, kc) in tiles {
            for (dm, dn) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                sizes.push((mr + dm, nr - dn, 3));
                sizes.push((2 * mr - dm, 2 * nr + dn, kc + 1));
            }
        }
        for (m, n, k) in sizes {
            let a = Mat::<f32>::new(m, k, false, 0, 0, &mut rng);
            let b = Mat::<f32>::new(k, n, false, 0, 0, &mut rng);
            let c0 = Mat::<f32>::new(m, n, false, 0, 0, &mut rng);
            run_case(run, 1.0, &a, &b, 0.0, &c0, name);
        }
    }
}

#[test]
fn layouts_alpha_beta() {
    let mut rng = Rng(3);
    let (m, n, k) = (37, 70, 300);
    for (name, run) in f32_kernels() {
        for layout in 0..16 {
            let (ta, tb) = (layout & 1 == 1, layout & 2 == 2);
            let tc = layout & 4 == 4;
            let pad = if layout & 8 == 8 { 5 } else { 0 };
            let a = Mat::<f32>::new(m, k, ta, pad, 3 * pad, &mut rng);
            let b = Mat::<f32>::new(k, n, tb, pad + 1, 7, &mut rng);
            let c0 = Mat::<f32>::new(m, n, tc, pad, pad, &mut rng);
            for (alpha, beta) in [(1.0, 0.0), (1.0, 1.0), (-0.75, 0.5), (2.0, 1.0)] {
                run_case(run, alpha, &a, &b, beta, &c0, name);
            }
        }
        // C with both strides non-unit (a strided view of a bigger matrix).
        let a = Mat::<f32>::new(m, k, false, 0, 0, &mut rng);
        let b = Mat::<f32>::new(k, n, true, 2, 0, &mut rng);
        let mut c0 = Mat::<f32>::new(m, 2 * n, false, 1, 1, &mut rng);
        c0.s.cs = 2;
        c0.cols = n;
        run_case(run, 1.5, &a, &b, 0.5, &c0, name);
    }
}

#[test]
fn beta_zero_ignores_nan_and_k_zero_scales() {
    for (name, run) in f32_kernels() {
        let mut rng = Rng(4);
        let a = Mat::<f32>::new(20, 9, false, 0, 0, &mut rng);
        let b = Mat::<f32>::new(9, 40, false, 0, 0, &mut rng);
        let mut c = vec![f32::NAN; 20 * 40];
        batched_with(
            run,
            20,
            40,
            9,
            1.0,
            &a.data,
            &[0],
            a.s,
            &b.data,
            &[0],
            b.s,
            0.0,
            &mut c,
            &[0],
            Strides::row_major(40),
        );
        assert!(c.iter().all(|x| x.is_finite()), "{name}: beta = 0 read C");
        // k == 0 and alpha == 0: C = beta * C without touching A and B.
        let mut c = vec![2.0f32; 6];
        batched_with(
            run,
            2,
            3,
            0,
            1.0,
            &[],
            &[0],
            Strides::row_major(0),
            &[],
            &[0],
            Strides::row_major(3),
            0.5,
            &mut c,
            &[0],
            Strides::row_major(3),
        );
        assert_eq!(c, vec![1.0; 6], "{name}");
        let nan = [f32::NAN; 6];
        batched_with(
            run,
            2,
            3,
            2,
            0.0,
            &nan,
            &[0],
            Strides::row_major(2),
            &nan,
            &[0],
            Strides::row_major(3),
            0.0,
            &mut c,
            &[0],
            Strides::row_major(3),
        );
        assert_eq!(c, vec![0.0; 6], "{name}");
        // Empty outputs: nothing happens, even with empty slices.
        batched_with(
            run,
            0,
            5,
            5,
            1.0,
            &[],
            &[0],
            Strides::row_major(5),
            &[0.0; 25],
            &[0],
            Strides::row_major(5),
            0.0,
            &mut [],
            &[0],
            Strides::row_major(5),
        );
    }
}

#[test]
fn batched_broadcast_a_matches_single() {
    // 6 problems: A broadcast (two offsets, repeated), B and C per problem; then big problems.
    for (m, n, k, batch) in [(9, 13, 21, 6), (40, 50, 60, 6), (130, 140, 150, 3)] {
        let mut rng = Rng(5);
        let a = Mat::<f32>::new(2 * m, k, false, 0, 0, &mut rng);
        let b = Mat::<f32>::new(batch * k, n, false, 0, 0, &mut rng);
        let c0 = Mat::<f32>::new(batch * m, n, false, 0, 0, &mut rng);
        let a_offs: Vec<usize> = (0..batch).map(|i| (i % 2) * m * k).collect();
        let b_offs: Vec<usize> = (0..batch).map(|i| i * k * n).collect();
        let c_offs: Vec<usize> = (0..batch).map(|i| i * m * n).collect();
        let mut c = c0.data.clone();
        gemm_batched(
            m, n, k, 0.5, &a.data, &a_offs, a.s, &b.data, &b_offs, b.s, 1.0, &mut c, &c_offs, c0.s,
        );
        for i in 0..batch {
            let mut want = c0.data.clone();
            gemm(
                m, n, k, 0.5, &a.data, a_offs[i], a.s, &b.data, b_offs[i], b.s, 1.0, &mut want,
                c_offs[i], c0.s,
            );
            let r = c_offs[i]..c_offs[i] + m * n;
            assert_eq!(
                &c[r.clone()],
                &want[r],
                "batch member {i} of {batch} ({m}x{n}x{k})"
            );
        }
        // And against the f64 reference for the first member.
        let sub = |mat: &Mat<f32>, off: usize, rows: usize| Mat {
            off,
            rows,
            ..mat.clone()
        };
        let (a0, b0, c00) = (
            sub(&a, a_offs[1], m),
            sub(&b, b_offs[1], k),
            sub(&c0, c_offs[1], m),
        );
        let mut c1 = c0.data.clone();
        gemm(
            m, n, k, 0.5, &a.data, a_offs[1], a.s, &b.data, b_offs[1], b.s, 1.0, &mut c1,
            c_offs[1], c0.s,
        );
        check(0.5, &a0, &b0, 1.0, &c00, &c1, "batched");
    }
}

#[test]
fn f64_matches_reference() {
    let mut rng = Rng(6);
    for (name, run) in f64_kernels() {
        for (m, n, k) in [
            (0, 3, 3),
            (1, 1, 1),
            (7, 9, 11),
            (13, 17, 300),
            (64, 65, 66),
        ] {
            for layout in 0..4 {
                let a = Mat::<f64>::new(m, k, layout & 1 == 1, 1, 2, &mut rng);
                let b = Mat::<f64>::new(k, n, layout & 2 == 2, 0, 1, &mut rng);
                let c0 = Mat::<f64>::new(m, n, layout == 3, 2, 0, &mut rng);
                run_case(run, 1.0, &a, &b, 0.0, &c0, name);
                run_case(run, -0.5, &a, &b, 0.25, &c0, name);
            }
        }
    }
    // The public entry against `naive` directly, bit for bit on exact data (small integers).
    let a: Vec<f64> = (0..6 * 5).map(|x| (x % 7) as f64).collect();
    let b: Vec<f64> = (0..5 * 4).map(|x| (x % 5) as f64 - 2.0).collect();
    let (mut c1, mut c2) = (vec![1.0; 24], vec![1.0; 24]);
    gemm(
        6,
        4,
        5,
        2.0,
        &a,
        0,
        Strides::row_major(5),
        &b,
        0,
        Strides::row_major(4),
        3.0,
        &mut c1,
        0,
        Strides::row_major(4),
    );
    naive(
        6,
        4,
        5,
        2.0,
        &a,
        0,
        Strides::row_major(5),
        &b,
        0,
        Strides::row_major(4),
        3.0,
        &mut c2,
        0,
        Strides::row_major(4),
    );
    assert_eq!(c1, c2);
}

/// Runs `f` inside a rayon pool of `threads` threads.
fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("test thread pool")
        .install(f)
}

#[test]
fn bitwise_identical_across_thread_counts() {
    let mut rng = Rng(7);
    // Big enough to split across threads and K blocks; odd so pieces have edge tiles.
    let (m, n, k) = (301, 263, 555);
    let a = Mat::<f32>::new(m, k, false, 3, 1, &mut rng);
    let b = Mat::<f32>::new(k, n, true, 0, 0, &mut rng);
    let c0 = Mat::<f32>::new(m, n, false, 1, 0, &mut rng);
    for (name, run) in f32_kernels() {
        let once = |threads: usize| {
            with_threads(threads, || {
                let mut c = c0.data.clone();
                batched_with(
                    run,
                    m,
                    n,
                    k,
                    0.5,
                    &a.data,
                    &[a.off],
                    a.s,
                    &b.data,
                    &[b.off],
                    b.s,
                    0.5,
                    &mut c,
                    &[c0.off],
                    c0.s,
                );
                c
            })
        };
        let one = once(1);
        check(0.5, &a, &b, 0.5, &c0, &one, name);
        for threads in [2, 3] {
            let many = once(threads);
            let same = one
                .iter()
                .zip(&many)
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{name}: {threads} threads differ from 1");
        }
    }
    // Batched: the per-batch split must agree with the per-problem split.
    let (m, n, k, batch) = (70, 90, 80, 4);
    let a = Mat::<f32>::new(batch * m, k, false, 0, 0, &mut rng);
    let b = Mat::<f32>::new(k, n, false, 0, 0, &mut rng);
    let offs = |s: usize| (0..batch).map(|i| i * s).collect::<Vec<_>>();
    let once = |threads: usize| {
        with_threads(threads, || {
            let mut c = vec![0.0f32; batch * m * n];
            gemm_batched(
                m,
                n,
                k,
                1.0,
                &a.data,
                &offs(m * k),
                a.s,
                &b.data,
                &[0; 4],
                b.s,
                0.0,
                &mut c,
                &offs(m * n),
                Strides::row_major(n),
            );
            c
        })
    };
    let (one, two) = (once(1), once(2));
    assert!(
        one.iter()
            .zip(&two)
            .all(|(x, y)| x.to_bits() == y.to_bits()),
        "batched: 2 threads differ from 1"
    );
}

#[test]
fn overlapping_c_runs_serially() {
    // C rows overlapping (rs = 0): every row writes the same memory; must not race, and the
    // result equals the last row's product, as a serial loop would leave it.
    let (m, n, k) = (200, 160, 100);
    let mut rng = Rng(8);
    let a = Mat::<f32>::new(m, k, false, 0, 0, &mut rng);
    let b = Mat::<f32>::new(k, n, false, 0, 0, &mut rng);
    let mut c = vec![0.0f32; n];
    gemm(
        m,
        n,
        k,
        1.0,
        &a.data,
        0,
        a.s,
        &b.data,
        0,
        b.s,
        0.0,
        &mut c,
        0,
        Strides::new(0, 1),
    );
    let mut last = vec![0.0f32; n];
    gemm(
        1,
        n,
        k,
        1.0,
        &a.data,
        (m - 1) * k,
        a.s,
        &b.data,
        0,
        b.s,
        0.0,
        &mut last,
        0,
        Strides::row_major(n),
    );
    assert_eq!(c, last);
}

#[test]
#[should_panic(expected = "overruns")]
fn rejects_operand_past_its_slice() {
    let mut c = vec![0.0f32; 4];
    gemm(
        2,
        2,
        2,
        1.0,
        &[0.0; 3],
        0,
        Strides::row_major(2),
        &[0.0; 4],
        0,
        Strides::row_major(2),
        0.0,
        &mut c,
        0,
        Strides::row_major(2),
    );
}

#[test]
fn kernel_names() {
    let f32_name = kernel_name::<f32>();
    assert!(
        ["avx512f", "avx2+fma", "scalar"].contains(&f32_name),
        "{f32_name}"
    );
    assert_ne!(kernel_name::<f64>(), "naive");
}

#[test]
fn direct_and_packed_paths_agree_bitwise() {
    // Small problems skip packing when the kernel can read B in place; the two paths must give
    // the same bits, so the size threshold never shows in results.
    #[cfg(target_arch = "x86_64")]
    if super::kernel::avx512::Avx512F32::is_supported() {
        use super::kernel::avx512::Avx512F32 as K;
        let mut rng = Rng(9);
        for (m, n, k, ta) in [(15, 33, 7, false), (29, 70, 600, true), (1, 5, 1, false)] {
            let a = Mat::<f32>::new(m, k, ta, 2, 1, &mut rng);
            let b = Mat::<f32>::new(k, n, false, 3, 2, &mut rng);
            let c0 = Mat::<f32>::new(m, n, false, 1, 0, &mut rng);
            let (mut c1, mut c2) = (c0.data.clone(), c0.data.clone());
            let job = |c: &mut [f32]| unsafe {
                Job {
                    m,
                    n,
                    k,
                    alpha: 0.5,
                    beta: 0.5,
                    a: a.data.as_ptr().add(a.off),
                    sa: a.s,
                    b: b.data.as_ptr().add(b.off),
                    sb: b.s,
                    c: c.as_mut_ptr().add(c0.off),
                    sc: c0.s,
                }
            };
            unsafe {
                super::loops::gemm_direct::<K>(&job(&mut c1), 0..m, 0..n);
                super::loops::gemm_piece::<K>(&job(&mut c2), 0..m, 0..n);
            }
            assert!(
                c1.iter().zip(&c2).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{m}x{n}x{k}"
            );
            check(0.5, &a, &b, 0.5, &c0, &c1, "direct");
        }
    }
}

/// `m` with every value rounded to bf16, and its storage in bf16 (sentinels included).
fn to_bf16(m: &Mat<f32>) -> (Mat<f32>, Vec<half::bf16>) {
    let data: Vec<half::bf16> = m.data.iter().map(|&x| half::bf16::from_f32(x)).collect();
    let rounded = Mat { data: data.iter().map(|x| x.to_f32()).collect(), ..m.clone() };
    (rounded, data)
}

/// The bf16 GEMMs this CPU has: the dispatched one (dot-product kernel or widening fallback) and,
/// where the CPU has AVX512_BF16, the kernel forced through the packed loops.
fn bf16_kernels() -> Vec<(&'static str, Option<PackedGemm<half::bf16, f32>>)> {
    let mut v: Vec<(&'static str, Option<PackedGemm<half::bf16, f32>>)> = vec![("dispatch", None)];
    #[cfg(target_arch = "x86_64")]
    {
        use super::kernel::avx512_bf16::Avx512Bf16;
        if Avx512Bf16::<half::bf16>::is_supported() {
            v.push(("avx512bf16", Some(gemm_packed::<Avx512Bf16<half::bf16>>)));
        } else {
            eprintln!("gemm tests: CPU lacks AVX512_BF16, only the widening bf16 path is tested");
        }
    }
    v
}

#[allow(clippy::too_many_arguments)]
fn run_bf16(run: Option<PackedGemm<half::bf16, f32>>, m: usize, n: usize, k: usize, alpha: f32, a: &Mat<f32>, b: &Mat<f32>, beta: f32, c0: &Mat<f32>) -> (Mat<f32>, Mat<f32>, Vec<f32>) {
    let ((ar, a16), (br, b16)) = (to_bf16(a), to_bf16(b));
    let mut c = c0.data.clone();
    match run {
        Some(run) => batched_with(run, m, n, k, alpha, &a16, &[a.off], a.s, &b16, &[b.off], b.s, beta, &mut c, &[c0.off], c0.s),
        None => gemm_bf16_batched(m, n, k, alpha, &a16, &[a.off], a.s, &b16, &[b.off], b.s, beta, &mut c, &[c0.off], c0.s),
    }
    (ar, br, c)
}

#[test]
fn bf16_every_small_size_layout_and_depth_parity() {
    // Odd depths exercise the zero-padded last pair; transposed operands the scalar packers.
    let mut rng = Rng(21);
    for (name, run) in bf16_kernels() {
        for m in [1, 2, 13, 14, 15, 29] {
            for n in [1, 5, 16, 17, 32, 33, 70] {
                for k in [1, 2, 3, 7, 8, 31, 64, 77] {
                    let v = m + n + k;
                    let a = Mat::<f32>::new(m, k, v % 2 == 1, v % 3, v % 2, &mut rng);
                    let b = Mat::<f32>::new(k, n, v % 4 == 3, (v / 2) % 3, 1, &mut rng);
                    let c0 = Mat::<f32>::new(m, n, v % 5 == 4, 1, 2, &mut rng);
                    let (alpha, beta) = if v % 3 == 0 { (1.0, 0.0) } else { (0.5, -1.5) };
                    let (ar, br, c) = run_bf16(run, m, n, k, alpha, &a, &b, beta, &c0);
                    check(alpha, &ar, &br, beta, &c0, &c, &format!("bf16 {name}"));
                }
            }
        }
    }
}

#[test]
fn bf16_large_across_k_blocks_and_threads() {
    // k = 2049 splits into three K blocks of the dot-product kernel (KC = 1024), the last odd.
    let mut rng = Rng(22);
    let (m, n, k) = (61, 97, 2049);
    let a = Mat::<f32>::new(m, k, false, 0, 0, &mut rng);
    let b = Mat::<f32>::new(k, n, false, 0, 0, &mut rng);
    let bt = Mat::<f32>::new(k, n, true, 0, 0, &mut rng);
    let c0 = Mat::<f32>::new(m, n, false, 0, 0, &mut rng);
    for (name, run) in bf16_kernels() {
        for b in [&b, &bt] {
            let once = |t: usize| with_threads(t, || run_bf16(run, m, n, k, 1.0, &a, b, 0.0, &c0));
            let (ar, br, c1) = once(1);
            check(1.0, &ar, &br, 0.0, &c0, &c1, &format!("bf16 {name} large"));
            let (_, _, c3) = once(3);
            assert!(c1.iter().zip(&c3).all(|(x, y)| x.to_bits() == y.to_bits()), "bf16 {name}: 3 threads differ from 1");
        }
    }
}

#[test]
fn rounded_gemm_is_the_product_of_rounded_operands_rounded() {
    // What autocast's matmul means: round(round(A) @ round(B)) with f32 accumulation. The bf16
    // reference rounds the f64 product of the rounded operands; f16 also keeps overflow as inf.
    let mut rng = Rng(23);
    for r in [Rounding::Bf16, Rounding::F16] {
        for (m, n, k, tb) in [(5, 7, 3, false), (33, 70, 129, true), (29, 64, 1100, false)] {
            let a = Mat::<f32>::new(m, k, false, 1, 1, &mut rng);
            let b = Mat::<f32>::new(k, n, tb, 0, 2, &mut rng);
            let mut c = vec![f32::NAN; m * n];
            gemm_rounded_batched(r, m, n, k, &a.data, &[a.off], a.s, &b.data, &[b.off], b.s, &mut c, &[0], Strides::row_major(n));
            let rd = |x: f32| convert::round_one(r, x) as f64;
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k).map(|p| rd(a.at(i, p)) * rd(b.at(p, j))).sum();
                    let got = c[i * n + j];
                    assert_eq!(got, convert::round_one(r, got), "{r:?}: result not rounded");
                    // One rounding of the result (2^-8 or 2^-11 relative) plus f32 accumulation.
                    let ulp = if r == Rounding::Bf16 { 1.0 / 256.0 } else { 1.0 / 2048.0 };
                    assert!((got as f64 - want).abs() <= ulp * want.abs() + 1e-5 * (k as f64).sqrt(), "{r:?} {m}x{n}x{k} [{i},{j}] {got} vs {want}");
                }
            }
        }
    }
    let big = [300.0f32; 4];
    let mut c = [0f32; 1];
    gemm_rounded_batched(Rounding::F16, 1, 1, 4, &big, &[0], Strides::row_major(4), &big, &[0], Strides::new(1, 1), &mut c, &[0], Strides::row_major(1));
    assert_eq!(c[0], f32::INFINITY, "f16 overflow must stay inf (4 * 300^2 > 65504)");
}
