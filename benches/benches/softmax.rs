//! Softmax kernels on [4096, 512] f32 (an attention-score-sized block). Throughput counts the
//! bytes a kernel must move (each input read once, each output written once), so GB/s compares
//! directly with the machine's memory bandwidth. Also the single-threaded vmath exp and gelu.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use wrt_kernels::cpu::softmax::{log_softmax_forward, softmax_backward, softmax_forward};
use wrt_kernels::cpu::vmath::{exp_f32, gelu_f32};

fn fill(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 8.0
        })
        .collect()
}

fn softmax(c: &mut Criterion) {
    let (rows, cols) = (4096, 512);
    let n = rows * cols;
    let (x, g) = (fill(n, 1), fill(n, 2));
    let (mut y, mut dx) = (vec![0f32; n], vec![0f32; n]);
    let mut group = c.benchmark_group("softmax_4096x512_f32");
    group.throughput(Throughput::Bytes((2 * n * 4) as u64));
    group.bench_function("forward", |b| {
        b.iter(|| softmax_forward(black_box(&mut y), black_box(&x), rows, cols))
    });
    group.bench_function("log_softmax_forward", |b| {
        b.iter(|| log_softmax_forward(black_box(&mut y), black_box(&x), rows, cols))
    });
    softmax_forward(&mut y, &x, rows, cols);
    group.throughput(Throughput::Bytes((3 * n * 4) as u64));
    group.bench_function("backward", |b| {
        b.iter(|| softmax_backward(black_box(&mut dx), black_box(&g), black_box(&y), rows, cols))
    });
    group.finish();

    let mut group = c.benchmark_group("vmath_1M_f32_single_thread");
    let m = 1 << 20;
    let (x, mut y) = (fill(m, 3), vec![0f32; m]);
    group.throughput(Throughput::Bytes((2 * m * 4) as u64));
    group.bench_function("exp", |b| {
        b.iter(|| exp_f32(black_box(&mut y), black_box(&x)))
    });
    group.bench_function("gelu", |b| {
        b.iter(|| gelu_f32(black_box(&mut y), black_box(&x)))
    });
    group.finish();
}

criterion_group!(benches, softmax);
criterion_main!(benches);
