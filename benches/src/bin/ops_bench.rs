//! One-run timing of wrt ops at the tensor level (what users call), for the side-by-side with PyTorch
//! in `tools/bench_ops_torch.py`. Each case: warm-up, then the median of N repetitions with N chosen
//! so a case takes about 0.3 s. Prints one JSON object per line:
//! `{"case", "shape", "wrt_ms", "gflops"}` (compute-bound ops) or `{..., "gbps"}` (memory-bound ops,
//! counting each input read once and the output written once).
//!
//! `cargo run --release -p wrt-benches --bin ops_bench -- [--threads N] [--filter SUBSTR] [--target-s S]`

use std::hint::black_box;
use std::time::Instant;

use wrt_tensor::ops::ConvSpec;
use wrt_tensor::{Result, Tensor};

/// Deterministic values in [-scale/2, scale/2) (xorshift32); no dependency on wrt's RNG.
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

fn tensor(shape: &[usize], seed: u32, scale: f32) -> Tensor {
    Tensor::from_vec(fill(shape.iter().product(), seed, scale), shape).expect("tensor")
}

/// What a case's figure of merit counts.
enum Work {
    Flops(f64),
    Bytes(f64),
}

struct Case {
    name: &'static str,
    shape: String,
    work: Work,
    run: Box<dyn Fn() -> Result<Tensor>>,
}

fn case(
    name: &'static str,
    shape: String,
    work: Work,
    run: impl Fn() -> Result<Tensor> + 'static,
) -> Case {
    Case {
        name,
        shape,
        work,
        run: Box::new(run),
    }
}

fn matmul_case(name: &'static str, a: &[usize], b: &[usize]) -> Case {
    matmul_case_in(name, a, b, wrt_tensor::DType::F32)
}

/// `matmul` of operands stored in `dtype` (bf16: the dot-product kernel, f32 accumulation).
fn matmul_case_in(name: &'static str, a: &[usize], b: &[usize], dtype: wrt_tensor::DType) -> Case {
    let (ra, rb) = (a.len(), b.len());
    let (m, k, n) = (a[ra - 2], a[ra - 1], b[rb - 1]);
    let batch: usize = a[..ra - 2].iter().product();
    let shape = format!("{a:?}x{b:?}").replace(' ', "");
    let cast = |t: Tensor| t.to_dtype(dtype).expect("cast");
    let (x, y) = (cast(tensor(a, 1, 1.0)), cast(tensor(b, 2, 1.0)));
    case(
        name,
        shape,
        Work::Flops(2.0 * (batch * m * n * k) as f64),
        move || x.matmul(&y),
    )
}

/// Bytes for a unary/row op on `n` f32 elements: read once, write once.
fn rw_bytes(n: usize) -> Work {
    Work::Bytes((2 * n * 4) as f64)
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for s in [256, 512, 1024, 2048] {
        v.push(matmul_case("gemm_square", &[s, s], &[s, s]));
    }
    v.push(matmul_case("gemm_mlp_up", &[4096, 512], &[512, 2048]));
    v.push(matmul_case("gemm_mlp_down", &[4096, 2048], &[2048, 512]));
    v.push(matmul_case("bmm_attention", &[64, 64, 64], &[64, 64, 64]));
    for s in [512, 1024, 2048] {
        v.push(matmul_case_in("gemm_bf16_square", &[s, s], &[s, s], wrt_tensor::DType::BF16));
    }
    v.push(matmul_case_in("gemm_bf16_mlp_up", &[4096, 512], &[512, 2048], wrt_tensor::DType::BF16));

    // conv2d 3x3, pad 1: [32,64,32,32] -> [32,64,32,32], with bias.
    let (n, c, h, w, co) = (32, 64, 32, 32, 64);
    let x = tensor(&[n, c, h, w], 3, 1.0);
    let wt = tensor(&[co, c, 3, 3], 4, 0.1);
    let b = tensor(&[co], 5, 0.1);
    let spec = ConvSpec::new(1, 1);
    let flops = 2.0 * (n * co * h * w * c * 9) as f64;
    v.push(case(
        "conv2d_3x3",
        format!("[{n},{c},{h},{w}]*[{co},{c},3,3]"),
        Work::Flops(flops),
        move || x.conv(&wt, Some(&b), &spec),
    ));

    let (r, d) = (4096, 512);
    let nel = r * d;
    let shape = format!("[{r},{d}]");
    let x = tensor(&[r, d], 6, 8.0);
    v.push(case("softmax", shape.clone(), rw_bytes(nel), move || {
        x.softmax(-1)
    }));

    let x = tensor(&[r, d], 7, 4.0);
    let (g, bb) = (tensor(&[d], 8, 1.0), tensor(&[d], 9, 1.0));
    v.push(case(
        "layer_norm",
        shape.clone(),
        rw_bytes(nel),
        move || x.layer_norm(&[d], Some(&g), Some(&bb), 1e-5),
    ));

    let (x, y) = (tensor(&[r, d], 10, 2.0), tensor(&[d], 11, 2.0));
    v.push(case(
        "add_broadcast",
        format!("[{r},{d}]+[{d}]"),
        rw_bytes(nel),
        move || x.add(&y),
    ));

    let x = tensor(&[r, d], 12, 8.0);
    v.push(case("gelu", shape.clone(), rw_bytes(nel), move || x.gelu()));

    let x = tensor(&[r, d], 13, 8.0);
    v.push(case("exp", shape.clone(), rw_bytes(nel), move || x.exp()));

    // Reads n elements, writes r: count the read (the write is negligible but counted too).
    let x = tensor(&[r, d], 14, 2.0);
    v.push(case(
        "sum_dim1",
        shape,
        Work::Bytes(((nel + r) * 4) as f64),
        move || x.sum(&[1], false),
    ));
    v
}

/// Median wall time in seconds of `f` after warm-up, with repetitions scaled to ~`target_s`.
fn time(f: &dyn Fn() -> Result<Tensor>, target_s: f64) -> f64 {
    let once = || {
        let t = Instant::now();
        black_box(f().expect("op failed"));
        t.elapsed().as_secs_f64()
    };
    // Warm-up: at least 3 calls and ~10% of the budget (page faults, pool start, caches).
    let t0 = Instant::now();
    let mut first = f64::INFINITY;
    for i in 0.. {
        first = first.min(once());
        if i >= 2 && t0.elapsed().as_secs_f64() >= 0.1 * target_s {
            break;
        }
    }
    let reps = ((target_s / first.max(1e-7)) as usize).clamp(5, 100_000);
    let mut ts: Vec<f64> = (0..reps).map(|_| once()).collect();
    ts.sort_by(f64::total_cmp);
    let mid = ts.len() / 2;
    if ts.len() % 2 == 1 {
        ts[mid]
    } else {
        0.5 * (ts[mid - 1] + ts[mid])
    }
}

fn usage() -> ! {
    eprintln!("usage: ops_bench [--threads N] [--filter SUBSTR] [--target-s SECONDS]");
    std::process::exit(2)
}

fn main() {
    let mut threads: Option<usize> = None;
    let mut filter = String::new();
    let mut target_s = 0.3;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--threads" => threads = Some(val().parse().unwrap_or_else(|_| usage())),
            "--filter" => filter = val(),
            "--target-s" => target_s = val().parse().unwrap_or_else(|_| usage()),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .expect("rayon global pool");
    }
    eprintln!(
        "ops_bench: {} rayon threads, gemm kernel {}",
        rayon::current_num_threads(),
        wrt_tensor::kernels::cpu::gemm::kernel_name::<f32>()
    );
    for c in cases()
        .into_iter()
        .filter(|c| c.name.contains(&filter) || c.shape.contains(&filter))
    {
        let s = time(&*c.run, target_s);
        let (key, rate) = match c.work {
            Work::Flops(f) => ("gflops", f / s / 1e9),
            Work::Bytes(b) => ("gbps", b / s / 1e9),
        };
        println!(
            "{{\"case\": \"{}\", \"shape\": \"{}\", \"wrt_ms\": {:.4}, \"{key}\": {:.2}}}",
            c.name,
            c.shape,
            s * 1e3,
            rate
        );
    }
}
