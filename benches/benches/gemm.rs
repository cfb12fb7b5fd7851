//! GEMM throughput: square sizes, the transformer's Linear shapes and batched attention shapes,
//! wrt's packed GEMM next to matrixmultiply's sgemm (with its `threading` feature) as a
//! reference point. Throughput is `2*m*n*k` elements, so criterion's "elem/s" reads as FLOP/s.
//!
//! `cargo bench -p wrt-benches --bench gemm -- --quick`; `WRT_GEMM_KERNEL=avx2|scalar` forces a
//! micro-kernel, `RAYON_NUM_THREADS` (and `MATMUL_NUM_THREADS` for matrixmultiply) the threads.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wrt_kernels::cpu::gemm::{gemm, gemm_batched, kernel_name, Strides};

fn fill(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

/// `C[m,n] = A[m,k] @ B[k,n]`, all row-major, through wrt and matrixmultiply.
fn bench_single(c: &mut Criterion, group: &str, shapes: &[(usize, usize, usize)]) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for &(m, k, n) in shapes {
        let (a, b) = (fill(m * k, 1), fill(k * n, 2));
        let mut out = vec![0f32; m * n];
        let id = format!("[{m},{k}]x[{k},{n}]");
        g.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        g.bench_function(BenchmarkId::new("wrt", &id), |bch| {
            bch.iter(|| {
                let (sa, sb) = (Strides::row_major(k), Strides::row_major(n));
                gemm(
                    m,
                    n,
                    k,
                    1.0,
                    black_box(&a),
                    0,
                    sa,
                    black_box(&b),
                    0,
                    sb,
                    0.0,
                    &mut out,
                    0,
                    Strides::row_major(n),
                )
            })
        });
        g.bench_function(BenchmarkId::new("matrixmultiply", &id), |bch| {
            bch.iter(|| unsafe {
                let (ap, bp, cp) = (
                    black_box(&a).as_ptr(),
                    black_box(&b).as_ptr(),
                    out.as_mut_ptr(),
                );
                matrixmultiply::sgemm(
                    m, k, n, 1.0, ap, k as isize, 1, bp, n as isize, 1, 0.0, cp, n as isize, 1,
                )
            })
        });
    }
    g.finish();
}

fn square(c: &mut Criterion) {
    eprintln!(
        "wrt gemm kernel: {} (f32), {} (f64)",
        kernel_name::<f32>(),
        kernel_name::<f64>()
    );
    bench_single(
        c,
        "gemm_f32_square",
        &[
            (256, 256, 256),
            (512, 512, 512),
            (1024, 1024, 1024),
            (2048, 2048, 2048),
        ],
    );
}

/// The Linear layers of a transformer block with 4096 tokens, d_model 512 (MLP 4x, fused QKV).
fn transformer(c: &mut Criterion) {
    bench_single(
        c,
        "gemm_f32_transformer",
        &[(4096, 512, 2048), (4096, 2048, 512), (4096, 512, 1536)],
    );
}

/// Attention-like batches: `batch` independent `[m,k] @ [k,n]` problems in one call.
fn batched(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_f32_batched");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (batch, m, k, n) in [(64, 64, 64, 64), (16, 256, 64, 256), (16, 256, 256, 64)] {
        let (a, b) = (fill(batch * m * k, 3), fill(batch * k * n, 4));
        let mut out = vec![0f32; batch * m * n];
        let offs = |s: usize| (0..batch).map(|i| i * s).collect::<Vec<_>>();
        let (ao, bo, co) = (offs(m * k), offs(k * n), offs(m * n));
        let id = format!("{batch}x[{m},{k}]x[{k},{n}]");
        g.throughput(Throughput::Elements(2 * (batch * m * n * k) as u64));
        g.bench_function(BenchmarkId::new("wrt", &id), |bch| {
            bch.iter(|| {
                let (sa, sb, sc) = (
                    Strides::row_major(k),
                    Strides::row_major(n),
                    Strides::row_major(n),
                );
                gemm_batched(
                    m,
                    n,
                    k,
                    1.0,
                    black_box(&a),
                    &ao,
                    sa,
                    black_box(&b),
                    &bo,
                    sb,
                    0.0,
                    &mut out,
                    &co,
                    sc,
                )
            })
        });
        g.bench_function(BenchmarkId::new("matrixmultiply_loop", &id), |bch| {
            bch.iter(|| {
                for i in 0..batch {
                    unsafe {
                        let (ap, bp) = (a.as_ptr().add(ao[i]), b.as_ptr().add(bo[i]));
                        let cp = out.as_mut_ptr().add(co[i]);
                        matrixmultiply::sgemm(
                            m, k, n, 1.0, ap, k as isize, 1, bp, n as isize, 1, 0.0, cp,
                            n as isize, 1,
                        )
                    }
                }
            })
        });
    }
    g.finish();
}

/// Small problems (the low-overhead end) and the f64 path used by gradient checks.
fn small_and_f64(c: &mut Criterion) {
    bench_single(
        c,
        "gemm_f32_small",
        &[(16, 16, 16), (64, 64, 64), (1, 512, 512)],
    );
    let mut g = c.benchmark_group("gemm_f64");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let s = 512;
    let a: Vec<f64> = fill(s * s, 5).into_iter().map(f64::from).collect();
    let mut out = vec![0f64; s * s];
    g.throughput(Throughput::Elements(2 * (s * s * s) as u64));
    g.bench_function(
        BenchmarkId::new("wrt", format!("[{s},{s}]x[{s},{s}]")),
        |bch| {
            bch.iter(|| {
                let rm = Strides::row_major(s);
                gemm(
                    s,
                    s,
                    s,
                    1.0,
                    black_box(&a),
                    0,
                    rm,
                    black_box(&a),
                    0,
                    rm.t(),
                    0.0,
                    &mut out,
                    0,
                    rm,
                )
            })
        },
    );
    g.finish();
}

criterion_group!(benches, square, transformer, batched, small_and_f64);
criterion_main!(benches);
