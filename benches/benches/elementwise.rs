//! Elementwise ops on [4096, 512] f32 through the tensor API (`Tensor::exp`, `Tensor::gelu`,
//! `Tensor::add` with a broadcast [512] row), so the output allocation and dispatch are included.
//! Throughput counts the bytes an op must move (each input element read once, each output element
//! written once), so GB/s compares directly with the machine's memory bandwidth.
//!
//! `cargo bench -p wrt-benches --bench elementwise -- --quick`; `RAYON_NUM_THREADS` sets the threads.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use wrt_tensor::Tensor;

fn fill(n: usize, seed: u32, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * scale
        })
        .collect()
}

fn elementwise(c: &mut Criterion) {
    let (rows, cols) = (4096, 512);
    let n = rows * cols;
    let x = Tensor::from_vec(fill(n, 1, 8.0), &[rows, cols]).unwrap();
    let row = Tensor::from_vec(fill(cols, 2, 2.0), &[cols]).unwrap();

    let mut g = c.benchmark_group("elementwise_4096x512_f32");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Bytes((2 * n * 4) as u64));
    g.bench_function("exp", |b| b.iter(|| black_box(&x).exp().unwrap()));
    g.bench_function("gelu", |b| b.iter(|| black_box(&x).gelu().unwrap()));
    // Reads x once and the [512] row (cache-resident), writes the output once.
    g.throughput(Throughput::Bytes(((2 * n + cols) * 4) as u64));
    g.bench_function("add_broadcast_row", |b| {
        b.iter(|| black_box(&x).add(black_box(&row)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, elementwise);
criterion_main!(benches);
