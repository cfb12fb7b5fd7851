//! Scaled dot-product attention, fused (`wrt_autograd::fused`) against its composed twin
//! (`wrt_autograd::compose`: matmul, scale, softmax from exp/sum/div, matmul), f32
//! [B=4, H=8, L=S=257, D=64], no mask. Forward alone and forward + backward (the graph is built
//! on leaves that require grad; gradients are reset every iteration). Throughput counts the
//! nominal GEMM FLOPs of the math (forward 4 B H L S D, backward 8 B H L S D) as "elements", so
//! elem/s reads as FLOP/s; the fused backward does one more GEMM (it recomputes the scores).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use wrt_autograd::{compose, fused, Result, Var};
use wrt_tensor::{DType, Generator};

fn attention(c: &mut Criterion) {
    let (b, h, l, d) = (4, 8, 257, 64);
    let mut g = Generator::new(0);
    let mut leaf = || Var::new(g.uniform(&[b, h, l, d], -1.0, 1.0, DType::F32).unwrap(), true);
    let (q, k, v) = (leaf(), leaf(), leaf());
    let dout = Generator::new(1).uniform(&[b, h, l, d], -1.0, 1.0, DType::F32).unwrap();
    let nominal = (b * h * l * l * d) as u64;
    type Sdpa = fn(&Var, &Var, &Var) -> Result<Var>;
    let impls: [(&str, Sdpa); 2] = [
        ("fused", |q, k, v| fused::scaled_dot_product_attention(q, k, v, None, 0.0, false, None, None)),
        ("composed", |q, k, v| compose::scaled_dot_product_attention(q, k, v, None, None, false, None)),
    ];
    let mut group = c.benchmark_group("sdpa_b4_h8_l257_d64_f32");
    group.sample_size(10);
    for (name, f) in impls {
        group.throughput(Throughput::Elements(4 * nominal));
        group.bench_function(format!("{name}/forward"), |bn| bn.iter(|| black_box(f(&q, &k, &v).unwrap())));
        group.throughput(Throughput::Elements(12 * nominal));
        group.bench_function(format!("{name}/forward+backward"), |bn| {
            bn.iter(|| {
                let y = f(&q, &k, &v).unwrap();
                y.backward_with(&dout, false).unwrap();
                for x in [&q, &k, &v] {
                    x.zero_grad();
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, attention);
criterion_main!(benches);
