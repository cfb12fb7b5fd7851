//! Convolution kernels: conv2d 3x3, padding 1, [32, 64, 32, 32] -> 64 channels, the bulk of a
//! small ResNet stage. Throughput is in FLOPs (2 per multiply-add), so criterion's
//! "elem/s" reads as FLOP/s.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use wrt_kernels::cpu::conv::{conv_backward_input, conv_backward_weight, conv_forward, ConvParams};

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

fn conv2d_3x3(c: &mut Criterion) {
    let p = ConvParams {
        padding: [0, 1, 1],
        ..ConvParams::new(32, 64, 64, [1, 32, 32], [1, 3, 3])
    };
    let (x, w, b, g) = (
        fill(p.in_len(), 1),
        fill(p.weight_len(), 2),
        fill(p.c_out, 3),
        fill(p.out_len(), 4),
    );
    let (mut y, mut dx, mut dw, mut db) = (
        vec![0f32; p.out_len()],
        vec![0f32; p.in_len()],
        vec![0f32; p.weight_len()],
        vec![0f32; p.c_out],
    );
    // Multiply-adds: every output element takes c_in/groups * K of them.
    let macs = (p.out_len() * p.weight_len() / p.c_out) as u64;

    let mut group = c.benchmark_group("conv2d_3x3_n32_c64_32x32");
    group.throughput(Throughput::Elements(2 * macs));
    group.sample_size(10);
    group.bench_function("forward", |bch| {
        bch.iter(|| conv_forward(&mut y, black_box(&x), black_box(&w), Some(&b), &p))
    });
    group.bench_function("backward_input", |bch| {
        bch.iter(|| conv_backward_input(&mut dx, black_box(&g), black_box(&w), &p))
    });
    group.bench_function("backward_weight", |bch| {
        bch.iter(|| conv_backward_weight(&mut dw, Some(&mut db), black_box(&g), black_box(&x), &p))
    });
    group.finish();
}

criterion_group!(benches, conv2d_3x3);
criterion_main!(benches);
