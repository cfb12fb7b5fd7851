//! Normalisation kernels on [4096, 512] f32 (layer norm) and [32, 64, 32*32] f32 (batch norm).
//! Throughput counts bytes moved (inputs read once, outputs written once).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use wrt_kernels::cpu::norm::{
    batchnorm_backward, batchnorm_forward_train, layernorm_backward, layernorm_forward,
};

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

fn layernorm(c: &mut Criterion) {
    let (rows, cols) = (4096, 512);
    let n = rows * cols;
    let (x, g, w, bias) = (fill(n, 1), fill(n, 2), fill(cols, 3), fill(cols, 4));
    let (mut y, mut mean, mut rstd) = (vec![0f32; n], vec![0f32; rows], vec![0f32; rows]);
    let (mut dx, mut dw, mut db) = (vec![0f32; n], vec![0f32; cols], vec![0f32; cols]);
    let mut group = c.benchmark_group("layernorm_4096x512_f32");
    group.throughput(Throughput::Bytes((2 * n * 4) as u64));
    group.bench_function("forward", |b| {
        b.iter(|| {
            layernorm_forward(
                black_box(&mut y),
                &mut mean,
                &mut rstd,
                black_box(&x),
                Some(&w),
                Some(&bias),
                rows,
                cols,
                1e-5,
            )
        })
    });
    group.throughput(Throughput::Bytes((3 * n * 4) as u64));
    group.bench_function("backward", |b| {
        b.iter(|| {
            layernorm_backward(
                black_box(&mut dx),
                Some(&mut dw),
                Some(&mut db),
                black_box(&g),
                black_box(&x),
                Some(&w),
                &mean,
                &rstd,
                rows,
                cols,
            )
        })
    });
    group.finish();
}

fn batchnorm(c: &mut Criterion) {
    let (n, ch, sp) = (32, 64, 1024);
    let len = n * ch * sp;
    let (x, g, w, bias) = (fill(len, 5), fill(len, 6), fill(ch, 7), fill(ch, 8));
    let (mut y, mut sm, mut si) = (vec![0f32; len], vec![0f32; ch], vec![0f32; ch]);
    let (mut rm, mut rv) = (vec![0f32; ch], vec![1f32; ch]);
    let (mut dx, mut dw, mut db) = (vec![0f32; len], vec![0f32; ch], vec![0f32; ch]);
    let mut group = c.benchmark_group("batchnorm_32x64x1024_f32");
    group.throughput(Throughput::Bytes((2 * len * 4) as u64));
    group.bench_function("forward_train", |b| {
        b.iter(|| {
            batchnorm_forward_train(
                black_box(&mut y),
                &mut sm,
                &mut si,
                Some(&mut rm),
                Some(&mut rv),
                black_box(&x),
                Some(&w),
                Some(&bias),
                n,
                ch,
                sp,
                0.1,
                1e-5,
            )
        })
    });
    group.throughput(Throughput::Bytes((3 * len * 4) as u64));
    group.bench_function("backward", |b| {
        b.iter(|| {
            batchnorm_backward(
                black_box(&mut dx),
                Some(&mut dw),
                Some(&mut db),
                black_box(&g),
                black_box(&x),
                Some(&w),
                &sm,
                &si,
                n,
                ch,
                sp,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, layernorm, batchnorm);
criterion_main!(benches);
