//! SITS-Former against the PyTorch reference (tools/parity/sitsformer_ref.py, fixtures written by
//! tools/parity/gen_sitsformer.py into tests/fixtures/sitsformer/): the manifest's small model (16x16
//! frames of 13 bands, 8x8 patches, two blocks) with LayerNorms and biases moved off their init, loaded
//! strictly, in eval mode: logits with the padding mask and without, the loss (rtol 1e-4 / atol 1e-4), and
//! the gradients of the input and every parameter (rtol 1e-3, floor 1e-3 x the tensor's largest |g|).
//! Also: padding a series with junk frames leaves its logits unchanged, the tutorial configuration's
//! state_dict and parameter count equal PyTorch's, the positional table equals the stored buffer, and bad
//! inputs name what is wrong.

use serde_json::Value;
use std::collections::BTreeMap;
use wrt_autograd::Var;
use wrt_models::sitsformer::{sinusoidal_table, Sitsformer, SitsformerConfig};
use wrt_nn::loss::{cross_entropy, Reduction};
use wrt_nn::ModuleExt;
use wrt_tensor::{DType, Generator, Tensor};
use wrt_testkit::{closeness, grad_closeness, grad_closeness_in, key_shapes, max_abs, model_manifest, model_tensors, prefixed, strings, Closeness};

fn manifest() -> Value {
    model_manifest("sitsformer")
}


fn small() -> (Value, BTreeMap<String, Tensor>, Sitsformer) {
    let m = manifest();
    let fx = model_tensors("sitsformer", "small.safetensors");
    let cfg: SitsformerConfig = serde_json::from_value(m["config"].clone()).expect("the manifest's config deserialises");
    let model = Sitsformer::new(cfg, &mut Generator::new(7)).unwrap();
    model.load_state_dict(&prefixed(&fx, "state."), true).unwrap();
    model.eval();
    (m, fx, model)
}

#[test]
fn small_model_matches_pytorch() {
    let (m, fx, model) = small();
    let get = |k: &str| fx.get(k).unwrap_or_else(|| panic!("fixture: no tensor {k}")).clone();
    let tol = |k: &str, f: &str| m["tolerances"][k][f].as_f64().unwrap_or_else(|| panic!("tolerance {k}.{f}"));
    let (rtol, atol) = (tol("forward", "rtol"), tol("forward", "atol"));
    let keys: Vec<String> = model.state_dict().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, strings(&m["keys"]), "state_dict keys and order");
    let params: Vec<String> = model.named_parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(params, strings(&m["params"]), "named_parameters order");
    // the table the model computes is the buffer PyTorch stored
    let pe = sinusoidal_table(model.config().max_len(), model.config().embed_dim).unwrap();
    let c_pe = closeness("pe", &pe, &get("state.pos_encoding.pe"), 0.0, 1e-6);

    let x = Var::new(get("input.x"), true);
    let mask = get("mask");
    let logits = model.forward(&x, Some(&mask)).unwrap();
    let mut worst: Vec<(&str, Closeness)> = vec![("pe", c_pe)];
    worst.push(("logits", closeness("logits", logits.value(), &get("output.logits"), rtol, atol)));
    let nomask = model.forward(&Var::constant(get("input.x")), None).unwrap();
    worst.push(("logits_nomask", closeness("logits_nomask", nomask.value(), &get("output.logits_nomask"), rtol, atol)));
    let loss = cross_entropy(&logits, &get("target"), None, -100, 0.0, Reduction::Mean).unwrap();
    worst.push(("loss", closeness("loss", &loss.value().reshape(&[1]).unwrap(), &get("output.loss"), rtol, atol)));
    loss.backward().unwrap();
    let (grtol, floor) = (tol("grad", "rtol"), tol("grad", "floor"));
    let mut g_worst = (String::from("input.x"), grad_closeness("grad.input.x", &x.grad().expect("input gradient"), &get("grad.input.x"), grtol, floor));
    // the key biases' exact gradient is zero (a constant shift of every score of a row): see grad_closeness_in
    let model_scale = max_abs(fx.iter().filter(|(k, _)| k.starts_with("grad.")).map(|(_, t)| t));
    for (name, p) in model.named_parameters() {
        let g = p.grad().unwrap_or_else(|| panic!("{name}: no gradient"));
        let c = grad_closeness_in(&format!("grad.{name}"), &g, &get(&format!("grad.{name}")), grtol, floor, model_scale);
        if c.of_tol > g_worst.1.of_tol {
            g_worst = (name, c);
        }
    }
    for (name, c) in &worst {
        println!("{name:>14}: max|d| {:.1e} ({:.3} of tol)", c.abs, c.of_tol);
    }
    println!("gradients {:.3} of tol (worst {})", g_worst.1.of_tol, g_worst.0);
}

/// A series padded at its end with frames of any content, masked out, gives the logits of the series
/// alone; without the mask the padding changes them (so the test can fail).
#[test]
fn padding_does_not_change_the_logits() {
    let cfg = SitsformerConfig { img_size: 16, patch_size: 8, in_channels: 4, num_classes: 5, embed_dim: 32, num_layers: 2, num_heads: 4, max_seq_len: 7, ..Default::default() };
    let model = Sitsformer::new(cfg, &mut Generator::new(3)).unwrap();
    model.eval();
    let mut g = Generator::new(4);
    let x = g.randn(&[2, 3, 4, 16, 16], DType::F32).unwrap();
    let alone = model.forward(&Var::constant(x.clone()), Some(&Tensor::ones(&[2, 3], DType::F32).unwrap())).unwrap();
    for pad in [1usize, 3] {
        let junk = g.randn(&[2, pad, 4, 16, 16], DType::F32).unwrap().mul_scalar(5.0).unwrap();
        let padded = Tensor::cat(&[x.clone(), junk], 1).unwrap();
        let mut m = vec![1f32; 2 * (3 + pad)];
        for b in 0..2 {
            m[b * (3 + pad) + 3..(b + 1) * (3 + pad)].fill(0.0);
        }
        let mask = Tensor::from_vec(m, &[2, 3 + pad]).unwrap();
        let out = model.forward(&Var::constant(padded.clone()), Some(&mask)).unwrap();
        let c = closeness(&format!("padded by {pad}"), out.value(), alone.value(), 0.0, 1e-5);
        println!("padded by {pad}: max|d| {:.1e}", c.abs);
        let unmasked = model.forward(&Var::constant(padded), None).unwrap();
        let diff = unmasked.value().sub(alone.value()).unwrap().abs().unwrap().max(&[], false).unwrap().item::<f32>().unwrap() as f64;
        assert!(diff > 1e-5 && diff > 1e3 * c.abs, "without the mask the padding should matter ({diff})");
    }
}

#[test]
fn tutorial_config_matches_pytorch() {
    let m = manifest();
    let want = &m["seed"];
    let cfg = SitsformerConfig::default();
    let model = Sitsformer::new(cfg, &mut Generator::new(0)).unwrap();
    let got: Vec<(String, Vec<usize>)> = model.state_dict().into_iter().map(|(k, t)| (k, t.shape().to_vec())).collect();
    let want_sd = key_shapes(&want["state_dict"]);
    assert_eq!(got, want_sd, "state_dict keys, order and shapes");
    assert_eq!(model.num_parameters() as u64, want["num_parameters"].as_u64().unwrap(), "parameter count (spec: 7,173,642)");
}

#[test]
fn bad_inputs_name_what_is_wrong() {
    let cfg = SitsformerConfig { img_size: 16, patch_size: 8, embed_dim: 16, num_layers: 1, num_heads: 2, max_seq_len: 3, ..Default::default() };
    let model = Sitsformer::new(cfg, &mut Generator::new(0)).unwrap();
    let x = |s: &[usize]| Var::constant(Tensor::zeros(s, DType::F32).unwrap());
    let err = |x: &Var, m: Option<&Tensor>| model.forward(x, m).err().expect("an error").to_string();
    assert!(err(&x(&[1, 3, 13, 16, 16]), None).contains("at most 2 frames"));
    assert!(err(&x(&[1, 2, 12, 16, 16]), None).contains("13 channels of 16x16"));
    assert!(err(&x(&[2, 2, 13, 16, 16]), Some(&Tensor::ones(&[2, 3], DType::F32).unwrap())).contains("mask [2, 3] must be [batch, time] = [2, 2]"));
    let e = Sitsformer::new(SitsformerConfig { embed_dim: 30, num_heads: 8, ..Default::default() }, &mut Generator::new(0)).err().unwrap().to_string();
    assert!(e.contains("not divisible by num_heads"), "{e}");
}
