//! wrt-nn layers against PyTorch (tools/parity/gen_nn.py writes tests/fixtures/nn/): each case loads the
//! PyTorch layer's state_dict with strict=true (so every name and shape matches), runs one forward and the
//! backward of sum(output * grad_output) in train mode, and compares the output, the input and parameter
//! gradients, the buffers after the step (BatchNorm's running statistics) and the eval-mode output. Also:
//! a fresh layer's init has PyTorch's distribution.

use std::collections::{BTreeMap, HashMap};
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

/// One of the comma-separated name lists in the metadata entry `names` (`keys=..;params=..;buffers=..`).
fn names(meta: &HashMap<String, String>, key: &str) -> Vec<String> {
    let list = meta["names"].split(';').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')).unwrap_or_else(|| panic!("no {key} list"));
    list.split(',').filter(|s| !s.is_empty()).map(String::from).collect()
}

/// Load the case's state_dict into `m`, run it and compare everything the fixture holds.
fn check<M: Module + Forward>(name: &str, m: M, tol: (f64, f64)) -> M {
    let (f, meta) = fixture(name);
    // names: parameters, buffers and state_dict keys, each in PyTorch's order
    let params: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    let buffers: Vec<String> = m.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(params, names(&meta, "params"), "{name}: named_parameters");
    assert_eq!(buffers, names(&meta, "buffers"), "{name}: named_buffers");
    let keys: Vec<String> = m.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(keys, names(&meta, "keys"), "{name}: state_dict keys");

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

#[test]
fn embedding_matches_pytorch_and_skips_the_padding_row() {
    let g = &mut g();
    check("embedding", Embedding::new(g, 10, 4, None).unwrap(), F32);
    let e = check("embedding_padding", Embedding::new(g, 10, 4, Some(2)).unwrap(), F32);
    assert_eq!(f64s(&e.weight.grad().unwrap().select(0, 2).unwrap()), [0.0; 4]);
    // fresh: N(0, 1) with the padding row zeroed
    let e = Embedding::new(g, 1000, 16, Some(5)).unwrap();
    assert_eq!(f64s(&e.weight.value().select(0, 5).unwrap()), [0.0; 16]);
    let (_, _, mean, std) = moments(e.weight.value());
    assert!(mean.abs() < 0.03 && (std - 1.0).abs() < 0.03, "Embedding init: mean {mean}, std {std}");
    assert!(Embedding::new(g, 10, 4, Some(10)).is_err());
}

#[test]
fn parameter_free_layers_match_pytorch() {
    check("relu", ReLU, F32);
    check("gelu", GELU::new(), F32);
    check("gelu_tanh", GELU::tanh(), F32);
    check("silu", SiLU, F32);
    check("elu", ELU { alpha: 0.7 }, F32);
    check("tanh", Tanh, F32);
    check("sigmoid", Sigmoid, F32);
    check("leaky_relu", LeakyReLU { negative_slope: 0.1 }, F32);
    check("identity", Identity, F32);
    check("flatten", Flatten::default(), F32);
    check("flatten_mid", Flatten::new(1, 2), F32);
    check("maxpool2d", MaxPool2d::new(2), F32);
    check("maxpool2d_pad", MaxPool2d::with_spec(wrt_tensor::ops::PoolSpec::new(3).stride(2).padding(1)), F32);
    check("avgpool2d", AvgPool2d::new(2), F32);
    let spec = wrt_tensor::ops::PoolSpec { count_include_pad: false, ..wrt_tensor::ops::PoolSpec::new(3).stride(2).padding(1) };
    check("avgpool2d_pad", AvgPool2d::with_spec(spec), F32);
    check("adaptive_avgpool2d", AdaptiveAvgPool2d::new(&[2, 3]), F32);
    // unbatched [C, H, W] as PyTorch's 2d pooling accepts
    let y = MaxPool2d::new(2).forward(&Var::constant(Tensor::zeros(&[3, 4, 4], DType::F32).unwrap())).unwrap();
    assert_eq!(y.shape(), &[3, 2, 2]);
}

#[test]
fn sequentials_match_pytorch_names_and_values() {
    let g = &mut g();
    let cnn = Sequential::new()
        .add(Conv2d::new(g, 2, 4, &[3], ConvConfig::default().padding(1)).unwrap())
        .add(BatchNorm2d::new(4).unwrap())
        .add(ReLU)
        .add(MaxPool2d::new(2))
        .add(Flatten::default())
        .add(Linear::new(g, 36, 3, true).unwrap());
    let cnn = check("sequential_cnn", cnn, CONV);
    assert_eq!(cnn.len(), 6);
    let mlp = Sequential::new()
        .add(Linear::new(g, 5, 8, true).unwrap())
        .add(LayerNorm::new(&[8]).unwrap())
        .add(GELU::new())
        .add(Dropout::new(0.0, g).unwrap())
        .add(Linear::new(g, 8, 2, true).unwrap());
    check("sequential_mlp", mlp, F32);
}

struct Blocks {
    blocks: ModuleList<Linear>,
    norm: LayerNorm,
}

impl Module for Blocks {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("blocks", &self.blocks);
        v.child("norm", &self.norm);
    }
}

#[test]
fn module_list_names_children_by_index() {
    let g = &mut g();
    let m = Blocks { blocks: (0..3).map(|_| Linear::new(g, 4, 4, false).unwrap()).collect::<Vec<_>>().into(), norm: LayerNorm::new(&[4]).unwrap() };
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["blocks.0.weight", "blocks.1.weight", "blocks.2.weight", "norm.weight", "norm.bias"]);
    assert_eq!(m.blocks.len(), 3);
}

fn ones(shape: &[usize]) -> Var {
    Var::new(Tensor::ones(shape, DType::F32).unwrap(), true)
}

#[test]
fn dropout_masks_scale_and_follow_the_mode() {
    let g = &mut g();
    let d = Dropout::new(0.3, g).unwrap();
    let x = ones(&[20_000]);
    let y = d.forward(&x).unwrap();
    let v = f64s(y.value());
    let zeros = v.iter().filter(|&&a| a == 0.0).count() as f64 / v.len() as f64;
    assert!((zeros - 0.3).abs() < 0.02, "dropped fraction {zeros}");
    assert!(v.iter().all(|&a| a == 0.0 || (a - 1.0 / 0.7).abs() < 1e-6));
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(f64s(&x.grad().unwrap()), v, "gradient is the mask");
    // the next call draws a new mask from the layer's own stream; a layer forked from the same seed repeats it
    let again = f64s(d.forward(&x).unwrap().value());
    assert_ne!(again, v);
    assert_eq!(f64s(Dropout::new(0.3, &mut Generator::new(7)).unwrap().forward(&x).unwrap().value()), v);
    // a shared stream: two layers draw one after the other from it
    let s = wrt_nn::dropout::fork(g).unwrap();
    let (a, b) = (Dropout::with_stream(0.5, s.clone()).unwrap(), Dropout::with_stream(0.5, s.clone()).unwrap());
    let before = s.lock().unwrap().state();
    a.forward(&x).unwrap();
    b.forward(&x).unwrap();
    assert!(s.lock().unwrap().state().1 > before.1);
    d.eval();
    assert_eq!(f64s(d.forward(&x).unwrap().value()), vec![1.0; 20_000]);
    assert!(Dropout::new(1.5, g).is_err());
}

#[test]
fn drop_path_drops_whole_samples() {
    let g = &mut g();
    let p = 0.25;
    let d = DropPath::new(p, g).unwrap();
    let y = d.forward(&ones(&[4000, 3, 2])).unwrap();
    let v = f64s(y.value());
    let per_sample: Vec<&[f64]> = v.chunks(6).collect();
    assert!(per_sample.iter().all(|s| s.iter().all(|&a| a == s[0])), "one mask value per sample");
    assert!(per_sample.iter().all(|s| s[0] == 0.0 || (s[0] - 1.0 / (1.0 - p)).abs() < 1e-6));
    let dropped = per_sample.iter().filter(|s| s[0] == 0.0).count() as f64 / 4000.0;
    assert!((dropped - p).abs() < 0.03, "dropped fraction {dropped}");
    d.eval();
    assert_eq!(f64s(d.forward(&ones(&[5, 3])).unwrap().value()), vec![1.0; 15]);
    // set_training reaches it through a container
    let s = Sequential::new().add(DropPath::new(1.0, g).unwrap());
    assert_eq!(f64s(s.forward(&ones(&[2, 2])).unwrap().value()), vec![0.0; 4]);
    s.eval();
    assert_eq!(f64s(s.forward(&ones(&[2, 2])).unwrap().value()), vec![1.0; 4]);
}
