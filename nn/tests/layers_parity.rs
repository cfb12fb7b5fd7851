//! wrt-nn layers against PyTorch (tools/parity/gen_nn.py writes tests/fixtures/nn/): each case loads the
//! PyTorch layer's state_dict with strict=true (so every name and shape matches), runs one forward and the
//! backward of sum(output * grad_output) in train mode, and compares the output, the input and parameter
//! gradients, the buffers after the step (BatchNorm's running statistics) and the eval-mode output. Also:
//! a fresh layer's init has PyTorch's distribution.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use wrt_autograd::Var;
use wrt_nn::*;
use wrt_tensor::{DType, Generator, Tensor};

const F32: (f64, f64) = (1e-5, 1e-6);
const CONV: (f64, f64) = (1e-4, 1e-4);

fn fixture(name: &str) -> (BTreeMap<String, Tensor>, HashMap<String, String>) {
    let p = format!("{}/../tests/fixtures/nn/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
    wrt_tensor::io::load_with_metadata(&p).unwrap_or_else(|e| panic!("{p}: {e} (regenerate with tools/parity/gen_nn.py)"))
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

fn assert_close(what: &str, got: &Tensor, want: &Tensor, (rtol, atol): (f64, f64)) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (a, b)) in f64s(got).iter().zip(f64s(want)).enumerate() {
        assert!((a - b).abs() <= atol + rtol * b.abs(), "{what}[{i}]: wrt {a} vs PyTorch {b}");
    }
}

fn names(meta: &HashMap<String, String>, key: &str) -> Vec<String> {
    meta[key].split(',').filter(|s| !s.is_empty()).map(String::from).collect()
}

/// Load the case's state_dict into `m`, run it and compare everything the fixture holds.
fn check<M: Module + Forward>(name: &str, m: M, tol: (f64, f64)) -> M {
    let (f, meta) = fixture(name);
    // names: parameters and buffers in PyTorch's order; state_dict keys as a set (nested modules: wrt lists
    // all parameters before all buffers, PyTorch interleaves them per module)
    let params: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    let buffers: Vec<String> = m.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(params, names(&meta, "params"), "{name}: named_parameters");
    assert_eq!(buffers, names(&meta, "buffers"), "{name}: named_buffers");
    let keys: BTreeSet<String> = m.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(keys, names(&meta, "keys").into_iter().collect(), "{name}: state_dict keys");

    let sd: BTreeMap<String, Tensor> = f.iter().filter_map(|(k, v)| k.strip_prefix("state.").map(|k| (k.to_string(), v.deep_clone()))).collect();
    m.load_state_dict(&sd, true).unwrap_or_else(|e| panic!("{name}: {e}"));

    let input = &f["input"];
    let x = if input.dtype() == DType::I64 { Var::constant(input.clone()) } else { Var::new(input.deep_clone(), true) };
    m.train();
    let y = m.forward(&x).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_close(&format!("{name} output"), y.value(), &f["output"], tol);
    y.mul(&Var::constant(f["grad_output"].clone())).unwrap().sum_all().unwrap().backward().unwrap();
    if let Some(gi) = f.get("grad.input") {
        assert_close(&format!("{name} grad.input"), &x.grad().expect("input gradient"), gi, tol);
    }
    for (n, p) in m.named_parameters() {
        let g = p.grad().unwrap_or_else(|| panic!("{name}: no gradient for {n}"));
        assert_close(&format!("{name} grad.{n}"), &g, &f[&format!("grad.{n}")], tol);
    }
    for (n, b) in m.named_buffers() {
        assert_close(&format!("{name} {n} after one step"), &b, &f[&format!("after.{n}")], F32);
    }
    if let Some(want) = f.get("output_eval") {
        m.eval();
        let y = m.forward(&Var::constant(input.clone())).unwrap();
        assert_close(&format!("{name} eval output"), y.value(), want, tol);
    }
    m
}

fn g() -> Generator {
    Generator::new(7)
}

#[test]
fn convolutions_match_pytorch() {
    let g = &mut g();
    let c = ConvConfig::default;
    check("conv1d", Conv1d::new(g, 3, 4, &[3], c().stride(2).padding(1)).unwrap(), CONV);
    check("conv2d", Conv2d::new(g, 4, 6, &[3], c().padding(1)).unwrap(), CONV);
    check("conv2d_groups_dilated_nobias", Conv2d::new(g, 4, 6, &[3, 2], c().stride(2).dilation(2).groups(2).bias(false)).unwrap(), CONV);
    check("conv3d", Conv3d::new(g, 2, 3, &[2], c().padding(1)).unwrap(), CONV);
    check("conv_transpose2d", ConvTranspose2d::new(g, 4, 3, &[3], c().stride(2).padding(1).output_padding(1)).unwrap(), CONV);
    check("conv_transpose2d_groups_nobias", ConvTranspose2d::new(g, 4, 6, &[2], c().stride(2).groups(2).bias(false)).unwrap(), CONV);
    check("conv_transpose3d", ConvTranspose3d::new(g, 2, 3, &[2], c().stride(2)).unwrap(), CONV);
}

#[test]
fn batch_norms_match_pytorch_in_train_and_eval() {
    let cfg = BatchNormConfig::default;
    check("batchnorm1d", BatchNorm1d::new(5).unwrap(), F32);
    check("batchnorm1d_seq", BatchNorm1d::new(5).unwrap(), F32);
    check("batchnorm2d", BatchNorm2d::new(3).unwrap(), F32);
    check("batchnorm2d_cumulative", BatchNorm2d::with_config(3, BatchNormConfig { momentum: None, ..cfg() }).unwrap(), F32);
    check("batchnorm2d_noaffine", BatchNorm2d::with_config(3, BatchNormConfig { affine: false, eps: 1e-3, momentum: Some(0.3), ..cfg() }).unwrap(), F32);
    check("batchnorm2d_notrack", BatchNorm2d::with_config(3, BatchNormConfig { track_running_stats: false, ..cfg() }).unwrap(), F32);
    let bn = check("batchnorm3d", BatchNorm3d::new(2).unwrap(), F32);
    // one train forward after loading num_batches_tracked = 3
    assert_eq!(bn.num_batches_tracked.as_ref().unwrap().item::<i64>().unwrap(), 4);
    assert!(BatchNorm2d::new(3).unwrap().forward(&Var::constant(Tensor::zeros(&[2, 3, 4], DType::F32).unwrap())).is_err());
}

#[test]
fn layer_and_group_norms_match_pytorch() {
    check("layernorm", LayerNorm::new(&[8]).unwrap(), F32);
    check("layernorm_2d", LayerNorm::with_options(&[4, 8], 1e-6, true, true).unwrap(), F32);
    check("layernorm_nobias", LayerNorm::with_options(&[8], 1e-5, true, false).unwrap(), F32);
    check("layernorm_noaffine", LayerNorm::with_options(&[8], 1e-5, false, true).unwrap(), F32);
    check("groupnorm", GroupNorm::new(2, 6).unwrap(), F32);
    check("groupnorm_noaffine", GroupNorm::with_options(3, 6, 1e-4, false).unwrap(), F32);
    assert!(GroupNorm::new(4, 6).is_err());
}

/// (min, max, mean, std) of a tensor.
fn moments(t: &Tensor) -> (f64, f64, f64, f64) {
    let v = f64s(t);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    (v.iter().cloned().fold(f64::INFINITY, f64::min), v.iter().cloned().fold(f64::NEG_INFINITY, f64::max), mean, std)
}

/// U(-b, b): inside the bounds, mean 0 and std b/sqrt(3) within 4 standard errors; large draws reach the bounds.
fn assert_uniform(what: &str, t: &Tensor, b: f64) {
    let (lo, hi, mean, std) = moments(t);
    let n = t.numel() as f64;
    assert!(lo >= -b && hi <= b, "{what}: range [{lo}, {hi}] outside ±{b}");
    assert!(n < 500.0 || (lo < -0.95 * b && hi > 0.95 * b), "{what}: range [{lo}, {hi}] does not reach ±{b}");
    let sd = b / 3f64.sqrt();
    assert!(mean.abs() < 4.0 * sd / n.sqrt() && (std / sd - 1.0).abs() < 1.8 / n.sqrt(), "{what}: mean {mean}, std {std} vs U(±{b})");
}

#[test]
fn fresh_layers_have_pytorchs_init_distribution() {
    let g = &mut g();
    // Conv2d(16, 32, 3): fan_in = 16 * 9, weight and bias U(±1/sqrt(fan_in)) (kaiming_uniform with a = sqrt 5)
    let conv = Conv2d::new(g, 16, 32, &[3], ConvConfig::default()).unwrap();
    assert_eq!(conv.weight.shape(), &[32, 16, 3, 3]);
    assert_uniform("Conv2d weight", conv.weight.value(), 1.0 / 144f64.sqrt());
    assert_uniform("Conv2d bias", conv.bias.as_ref().unwrap().value(), 1.0 / 144f64.sqrt());
    // grouped Conv3d: weight [out, in/groups, k...], fan_in = in/groups * k^3
    let conv = Conv3d::new(g, 8, 16, &[3], ConvConfig::default().groups(4)).unwrap();
    assert_eq!(conv.weight.shape(), &[16, 2, 3, 3, 3]);
    assert_uniform("Conv3d weight", conv.weight.value(), 1.0 / 54f64.sqrt());
    // ConvTranspose2d(16, 8, 4, groups=2): weight [in, out/groups, k, k], fan_in from dim 1 = 4 * 16
    let ct = ConvTranspose2d::new(g, 16, 8, &[4], ConvConfig::default().groups(2)).unwrap();
    assert_eq!(ct.weight.shape(), &[16, 4, 4, 4]);
    assert_uniform("ConvTranspose2d weight", ct.weight.value(), 1.0 / 8.0);
    assert_eq!(ct.bias.as_ref().unwrap().shape(), &[8]);

    let bn = BatchNorm2d::new(4).unwrap();
    assert_eq!(f64s(bn.weight.as_ref().unwrap().value()), [1.0; 4]);
    assert_eq!(f64s(bn.bias.as_ref().unwrap().value()), [0.0; 4]);
    assert_eq!(f64s(bn.running_var.as_ref().unwrap()), [1.0; 4]);
    let nbt = bn.num_batches_tracked.as_ref().unwrap();
    assert_eq!((nbt.dtype(), nbt.shape().len(), nbt.item::<i64>().unwrap()), (DType::I64, 0, 0));
}
