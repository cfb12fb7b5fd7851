//! Whole training runs against PyTorch (tools/parity/gen_train.py): 50 full-batch SGD steps in f32 must follow
//! PyTorch's loss curve and end at its weights within 1e-4.

use std::collections::BTreeMap;
use wrt_autograd::fused::{self, Reduction};
use wrt_autograd::{Result, Var};
use wrt_tensor::ops::{ConvSpec, PoolSpec};
use wrt_tensor::{DType, Tensor};

fn fixture(name: &str) -> BTreeMap<String, Tensor> {
    let p = format!("{}/../tests/fixtures/train/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
    wrt_tensor::io::load(&p).unwrap_or_else(|e| panic!("{e}"))
}

/// Mean cross-entropy composed from primitives: -mean(sum(onehot * (z - logsumexp(z)))).
fn cross_entropy(logits: &Var, y: &Tensor) -> Result<Var> {
    let c = logits.shape()[1];
    let onehot = Tensor::arange(0.0, c as f64, 1.0, DType::I64)?.unsqueeze(0)?.eq(&y.unsqueeze(1)?)?.to_dtype(logits.dtype())?;
    let logp = logits.sub(&logits.logsumexp(&[1], true)?)?;
    logp.mul(&Var::constant(onehot))?.sum(&[1], false)?.mean_all()?.neg()
}

/// `x @ w^T + b` (nn.Linear).
fn linear(x: &Var, w: &Var, b: &Var) -> Result<Var> {
    x.matmul(&w.t()?)?.add(b)
}

fn train(name: &str, params: &[&str], lr: f64, forward: impl Fn(&Var, &[Var]) -> Result<Var>, loss_fn: impl Fn(&Var, &Tensor) -> Result<Var>) {
    let f = fixture(name);
    let (x, y) = (Var::constant(f["input.x"].clone()), f["input.y"].clone());
    let ps: Vec<Var> = params.iter().map(|n| Var::new(f[&format!("param.{n}")].deep_clone(), true)).collect();
    let want = f["output.losses"].to_vec::<f64>().unwrap();
    for (step, &w) in want.iter().enumerate() {
        let loss = loss_fn(&forward(&x, &ps).unwrap(), &y).unwrap();
        let l = loss.value().item::<f32>().unwrap() as f64;
        assert!((l - w).abs() <= 1e-4, "{name} step {step}: loss {l} vs PyTorch {w}");
        for p in &ps {
            p.zero_grad();
        }
        loss.backward().unwrap();
        for p in &ps {
            let g = p.grad().expect("every parameter gets a gradient");
            p.value().copy_(&p.value().sub(&g.mul_scalar(lr).unwrap()).unwrap()).unwrap();
        }
    }
    for (n, p) in params.iter().zip(&ps) {
        let (got, exp) = (p.value().to_vec::<f32>().unwrap(), f[&format!("output.final.{n}")].to_vec::<f32>().unwrap());
        let worst = got.iter().zip(&exp).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-4, "{name}: final {n} differs from PyTorch by {worst}");
    }
}

#[test]
fn mlp_follows_pytorch_for_50_sgd_steps() {
    // composed cross-entropy here, the fused one in the CNN run: both paths meet PyTorch
    train("mlp_sgd", &["w1", "b1", "w2", "b2"], 0.5, |x, p| linear(&linear(x, &p[0], &p[1])?.relu()?, &p[2], &p[3]), cross_entropy);
}

#[test]
fn cnn_follows_pytorch_for_50_sgd_steps() {
    let conv = ConvSpec::new(1, 1);
    let pool = PoolSpec::new(2);
    train(
        "cnn_sgd",
        &["conv_w", "conv_b", "fc_w", "fc_b"],
        0.1,
        |x, p| linear(&x.conv(&p[0], Some(&p[1]), &conv)?.relu()?.max_pool(&pool)?.flatten(1, -1)?, &p[2], &p[3]),
        |z, y| fused::cross_entropy(z, y, None, -100, 0.0, Reduction::Mean),
    );
}
