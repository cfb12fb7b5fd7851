//! AtmoDist against the PyTorch reference (tools/parity/atmodist_ref.py, fixtures written by
//! tools/parity/gen_atmodist.py into tests/fixtures/atmodist/): build the manifest's small model (two stages,
//! two blocks each, 16x16 states), load its state_dict strictly (BatchNorms moved off their defaults), check
//! key and parameter order, then in training mode compare both embeddings, the logits and the loss (rtol 1e-4
//! / atol 1e-4), every BatchNorm buffer after the forward (both siamese branches update the shared encoder's
//! statistics: 1e-6 absolute, `num_batches_tracked` exactly), and after `loss.backward()` the gradients of both
//! inputs and every parameter (rtol 1e-3 with a floor of 1e-3 x the tensor's largest |gradient|); `conv3` is
//! never called, so it gets no gradient on either side. Then eval-mode logits and `embed` of the SGD-stepped
//! model (train/tests/atmodist_task.rs checks that step itself). Also: the seed, repository and multi-model
//! configurations' state_dict keys, shapes and parameter counts equal PyTorch's, and a state_dict's shapes
//! give back the configuration.
//!
//! `cargo test -p wrt-models --test atmodist_parity -- --nocapture` prints the margins.

use serde_json::Value;
use std::collections::BTreeMap;
use wrt_autograd::Var;
use wrt_models::atmodist::{config_from_state_dict, Atmodist, AtmodistConfig};
use wrt_nn::loss::{cross_entropy, Reduction};
use wrt_nn::ModuleExt;
use wrt_tensor::{Generator, Tensor};
use wrt_testkit::{closeness, grad_closeness_in, key_shapes, max_abs, model_manifest, model_tensors, prefixed, strings, Closeness};

fn manifest() -> Value {
    model_manifest("atmodist")
}

fn fixture() -> BTreeMap<String, Tensor> {
    model_tensors("atmodist", "small.safetensors")
}


#[test]
fn small_model_matches_pytorch() {
    let m = manifest();
    let fx = fixture();
    let get = |k: &str| fx.get(k).unwrap_or_else(|| panic!("fixture: no tensor {k}")).clone();
    let tol = |k: &str, f: &str| m["tolerances"][k][f].as_f64().unwrap_or_else(|| panic!("tolerance {k}.{f}"));
    let (rtol, atol) = (tol("forward", "rtol"), tol("forward", "atol"));

    let cfg: AtmodistConfig = serde_json::from_value(m["config"].clone()).expect("the manifest's config deserialises");
    let model = Atmodist::new(cfg, &mut Generator::new(7)).unwrap();
    model.load_state_dict(&prefixed(&fx, "state."), true).unwrap();
    let keys: Vec<String> = model.state_dict().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, strings(&m["keys"]), "state_dict keys and order");
    let params: Vec<String> = model.named_parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(params, strings(&m["params"]), "named_parameters order");

    // training mode: batch statistics, running statistics updated by both branches
    let (x1, x2) = (Var::new(get("input.x1"), true), Var::new(get("input.x2"), true));
    let out = model.forward(&x1, &x2).unwrap();
    let mut worst: Vec<(String, Closeness)> = Vec::new();
    for (name, v) in [("emb1", &out.emb1), ("emb2", &out.emb2), ("logits", &out.logits)] {
        worst.push((name.into(), closeness(name, v.value(), &get(&format!("output.{name}")), rtol, atol)));
    }
    let loss = cross_entropy(&out.logits, &get("target"), None, -100, 0.0, Reduction::Mean).unwrap();
    worst.push(("loss".into(), closeness("loss", &loss.value().reshape(&[1]).unwrap(), &get("output.loss"), rtol, atol)));

    let after = prefixed(&fx, "after.");
    assert!(!after.is_empty());
    let sd: BTreeMap<String, Tensor> = model.state_dict().into_iter().collect();
    let mut stats_abs = 0f64;
    for (k, want) in &after {
        let got = sd.get(k).unwrap_or_else(|| panic!("wrt has no buffer {k}"));
        if k.ends_with("num_batches_tracked") {
            assert_eq!(got.item::<i64>().unwrap(), want.item::<i64>().unwrap(), "{k}");
        } else {
            stats_abs = stats_abs.max(closeness(k, got, want, 0.0, tol("running_stats", "atol")).abs);
        }
    }

    loss.backward().unwrap();
    let (grtol, floor) = (tol("grad", "rtol"), tol("grad", "floor"));
    let mut g_worst = (String::new(), Closeness::default());
    // a convolution bias right before a train-mode BatchNorm has an exact gradient of zero (the batch mean
    // absorbs it): see grad_closeness_in
    let grads = prefixed(&fx, "grad.");
    let model_scale = max_abs(grads.values());
    let mut check = |name: &str, got: Option<Tensor>| {
        let got = got.unwrap_or_else(|| panic!("{name}: no gradient"));
        let c = grad_closeness_in(&format!("grad.{name}"), &got, &get(&format!("grad.{name}")), grtol, floor, model_scale);
        if c.of_tol >= g_worst.1.of_tol {
            g_worst = (name.to_string(), c);
        }
    };
    check("input.x1", x1.grad());
    check("input.x2", x2.grad());
    let no_grad = strings(&m["no_grad"]);
    for (name, p) in model.named_parameters() {
        if no_grad.contains(&name) {
            assert!(p.grad().is_none(), "{name}: PyTorch gives no gradient (conv3 is never called), wrt has one");
        } else {
            check(&name, p.grad());
        }
    }

    // eval mode after the reference's SGD step: running statistics, not the batch's
    model.load_state_dict(&prefixed(&fx, "sgd."), false).unwrap();
    model.eval();
    let (e1, e2) = (Var::constant(get("input.x1")), Var::constant(get("input.x2")));
    let out = model.forward(&e1, &e2).unwrap();
    worst.push(("eval.logits".into(), closeness("eval.logits", out.logits.value(), &get("eval.logits"), rtol, atol)));
    let emb = model.embed(&e1).unwrap();
    worst.push(("eval.emb1".into(), closeness("eval.emb1", emb.value(), &get("eval.emb1"), rtol, atol)));
    assert_eq!(model.embed_dim(16, 16), Some(emb.shape()[1]));

    for (name, c) in &worst {
        println!("{name:>12}: max|d| {:.1e} ({:.3} of tol)", c.abs, c.of_tol);
    }
    println!("running stats max|d| {stats_abs:.1e}; gradients {:.3} of tol (worst {})", g_worst.1.of_tol, g_worst.0);
}

/// The guide's `[16, 32, 64, 128]`, the repository's `[16, 32, 64]` and the multi-model example's
/// `[32, 64, 128, 256]`: state_dict keys, order and shapes, parameter counts (PyTorch's, which for the seed
/// equal the spec's 2,497,264), embedding size and logits shape for 32x32 states.
#[test]
fn seed_configs_match_pytorch() {
    let m = manifest();
    for (name, want) in m["configs"].as_object().expect("configs") {
        let cfg: AtmodistConfig = serde_json::from_value(want["config"].clone()).unwrap();
        let model = Atmodist::new(cfg.clone(), &mut Generator::new(0)).unwrap();
        let got: Vec<(String, Vec<usize>)> = model.state_dict().into_iter().map(|(k, t)| (k, t.shape().to_vec())).collect();
        let want_sd = key_shapes(&want["state_dict"]);
        assert_eq!(got, want_sd, "{name}: state_dict keys, order and shapes");
        assert_eq!(model.num_parameters() as u64, want["num_parameters"].as_u64().unwrap(), "{name}: parameter count");
        assert_eq!(model.embed_dim(32, 32).map(|d| d as u64), want["embed_dim"].as_u64(), "{name}: embedding size");
        let sd: BTreeMap<String, Tensor> = model.state_dict().into_iter().collect();
        let back = config_from_state_dict(&sd).unwrap();
        assert_eq!(AtmodistConfig { downstream_stack_channels: cfg.downstream_stack_channels.or(Some(cfg.stack_channels())), ..cfg }, back, "{name}: config from shapes");
        println!("{name:>5}: {} parameters, embedding {:?}", model.num_parameters(), model.embed_dim(32, 32));
    }
    // the seed config runs end to end on 32x32 states and gives [B, 8]
    let model = Atmodist::new(AtmodistConfig::default(), &mut Generator::new(0)).unwrap();
    model.eval();
    let x = Var::constant(Tensor::zeros(&[2, 5, 32, 32], wrt_tensor::DType::F32).unwrap());
    let out = model.forward(&x, &x).unwrap();
    assert_eq!(out.logits.shape(), &[2, 8]);
    assert_eq!(out.emb1.shape(), &[2, 128, 1, 1]);
}

#[test]
fn bad_inputs_name_what_is_wrong() {
    let model = Atmodist::new(AtmodistConfig::default(), &mut Generator::new(0)).unwrap();
    let x = |s: &[usize]| Var::constant(Tensor::zeros(s, wrt_tensor::DType::F32).unwrap());
    let err = |a: &Var, b: &Var| model.forward(a, b).err().expect("an error").to_string();
    assert!(err(&x(&[2, 4, 32, 32]), &x(&[2, 4, 32, 32])).contains("expected 5 variables"));
    assert!(err(&x(&[2, 5, 96, 96]), &x(&[2, 5, 96, 96])).contains("2x2 grid after the comparison head"));
    assert!(err(&x(&[2, 5, 32, 32]), &x(&[3, 5, 32, 32])).contains("same shape"));
    assert!(err(&x(&[5, 32, 32]), &x(&[5, 32, 32])).contains("[batch, variables, height, width]"));
    let bad = AtmodistConfig { downstream_stack_channels: Some(128), ..AtmodistConfig::default() };
    let e = Atmodist::new(bad, &mut Generator::new(0)).err().expect("an error").to_string();
    assert!(e.contains("downstream_stack_channels 128 must be 2 x"), "{e}");
}
