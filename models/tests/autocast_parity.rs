//! Autocast against `torch.autocast("cpu")` (fixtures from tools/parity/gen_autocast.py in
//! tests/fixtures/autocast/): a Linear + GELU + Linear + softmax + cross-entropy block in bf16 and f16,
//! and one SaTformer (T->S, the small parity config) forward and backward in bf16.
//!
//! Each output and gradient must be within `frac * max|torch|` of PyTorch's autocast result, `frac` from
//! the manifest (2^-9 .. 2^-5: one to four low-precision ulps of the largest value, measured in the
//! generator against a model of wrt's rounding points). Those bounds are about as wide as the gap between
//! autocast and f32 itself, so each case also checks that wrt's own autocast-vs-f32 gap on a few tensors
//! falls within 1/4x .. 4x the gap PyTorch shows (`rounding_check`): autocast switched off, or rounding
//! in the wrong places, fails that.
//!
//! `cargo test -p wrt-models --test autocast_parity -- --nocapture` prints the measured figures.

use std::collections::BTreeMap;

use serde_json::Value;
use wrt_autograd::{autocast, Rounding, Var};
use wrt_models::satformer::{AttnKind, Satformer, SatformerConfig};
use wrt_nn::loss::{cross_entropy, Reduction};
use wrt_nn::{Forward, Linear, ModuleExt};
use wrt_tensor::{Generator, Tensor};
use wrt_testkit::{max_abs, model_manifest, model_tensors, prefixed};

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_vec::<f32>().unwrap(), b.contiguous().unwrap().to_vec::<f32>().unwrap());
    assert_eq!(a.len(), b.len());
    a.iter().zip(&b).map(|(x, y)| (*x as f64 - *y as f64).abs()).fold(0.0, f64::max)
}

/// Checks every produced tensor against torch's autocast value (`key` in the fixture), and the rounding
/// check of wrt's autocast-vs-f32 gap; prints the worst fraction of tolerance.
fn check(case: &str, fx: &BTreeMap<String, Tensor>, got: &BTreeMap<String, Tensor>, got_f32: &BTreeMap<String, Tensor>) {
    let m = model_manifest("autocast");
    let tol = &m["tolerances"][case];
    let mut worst = (0.0, String::new());
    for (key, t) in got {
        let want = fx.get(key).unwrap_or_else(|| panic!("{case}: fixture has no {key}"));
        let frac = tol[key.as_str()]["frac"].as_f64().unwrap_or_else(|| tol["uniform"][if key.starts_with("grad.") { "grad" } else { "out" }].as_f64().unwrap());
        let (d, scale) = (max_diff(t, want), max_abs([want]));
        let of_tol = d / (frac * scale);
        assert!(of_tol <= 1.0, "{case} {key}: max |wrt - torch autocast| = {d:.3e} > {frac} * {scale:.3e}");
        if of_tol > worst.0 {
            worst = (of_tol, key.clone());
        }
    }
    let Value::Object(rc) = &tol["rounding_check"] else { panic!("{case}: no rounding_check") };
    let mut gaps = Vec::new();
    for (key, range) in rc {
        let gap = max_diff(&got[key.as_str()], &got_f32[key.as_str()]);
        let (lo, hi) = (range["min"].as_f64().unwrap(), range["max"].as_f64().unwrap());
        assert!((lo..=hi).contains(&gap), "{case} {key}: wrt's autocast moves it by {gap:.3e} from f32; PyTorch's range is {lo:.3e}..{hi:.3e}");
        gaps.push(format!("{key} {gap:.2e} (torch {:.2e})", (lo * hi).sqrt()));
    }
    println!("{case}: worst {:.3} of tolerance ({}); autocast-vs-f32 gaps: {}", worst.0, worst.1, gaps.join(", "));
}

fn block_case(case: &str, r: Rounding) {
    let fx = model_tensors("autocast", &format!("{case}.safetensors"));
    let get = |k: &str| fx.get(k).unwrap_or_else(|| panic!("{case}: no {k}")).clone();
    let lin = |p: &str| Linear { weight: Var::new(get(&format!("{p}.weight")), true), bias: Some(Var::new(get(&format!("{p}.bias")), true)) };
    let run = |amp: Option<Rounding>| {
        let (l1, l2, x) = (lin("lin1"), lin("lin2"), Var::new(get("x"), true));
        let (logits, probs, loss) = autocast(amp, || {
            let logits = l2.forward(&l1.forward(&x).unwrap().gelu().unwrap()).unwrap();
            let probs = logits.softmax(-1).unwrap();
            let loss = cross_entropy(&logits, &get("target"), None, -100, 0.0, Reduction::Mean).unwrap();
            (logits, probs, loss)
        });
        loss.backward().unwrap();
        let mut out = BTreeMap::from([
            ("out.logits".to_string(), logits.value().clone()),
            ("out.probs".to_string(), probs.value().clone()),
            ("out.loss".to_string(), loss.value().reshape(&[1]).unwrap()),
            ("grad.x".to_string(), x.grad().unwrap()),
        ]);
        for (p, l) in [("lin1", &l1), ("lin2", &l2)] {
            out.insert(format!("grad.{p}.weight"), l.weight.grad().unwrap());
            out.insert(format!("grad.{p}.bias"), l.bias.as_ref().unwrap().grad().unwrap());
        }
        out
    };
    check(case, &fx, &run(Some(r)), &run(None));
}

#[test]
fn block_bf16_matches_torch_autocast() {
    block_case("block_bf16", Rounding::Bf16);
}

#[test]
fn block_f16_matches_torch_autocast() {
    block_case("block_f16", Rounding::F16);
}

#[test]
fn satformer_bf16_step_matches_torch_autocast() {
    let fx = model_tensors("autocast", "satformer_bf16.safetensors");
    let base = model_tensors("satformer", "t_s.safetensors");
    let mut cfg = model_manifest("satformer")["config"].clone();
    cfg["attn"] = Value::String(AttnKind::TimeSpace.as_str().to_string());
    let cfg: SatformerConfig = serde_json::from_value(cfg).unwrap();
    let run = |amp: Option<Rounding>| {
        let model = Satformer::new(cfg.clone(), &mut Generator::new(7)).unwrap();
        model.eval();
        model.load_state_dict(&prefixed(&base, "state."), true).unwrap();
        let input = Var::new(base["input"].clone(), true);
        let (logits, loss) = autocast(amp, || {
            let logits = model.forward(&input).unwrap();
            let loss = cross_entropy(&logits, &base["target"], None, -100, 0.0, Reduction::Mean).unwrap();
            (logits, loss)
        });
        loss.backward().unwrap();
        let mut out = BTreeMap::from([
            ("out.logits".to_string(), logits.value().clone()),
            ("out.loss".to_string(), loss.value().reshape(&[1]).unwrap()),
            ("grad.input".to_string(), input.grad().unwrap()),
        ]);
        for (name, p) in model.named_parameters() {
            if let Some(g) = p.grad() {
                out.insert(format!("grad.{name}"), g);
            }
        }
        out
    };
    let got = run(Some(Rounding::Bf16));
    let n_grads = fx.keys().filter(|k| k.starts_with("grad.")).count();
    assert_eq!(got.keys().filter(|k| k.starts_with("grad.")).count(), n_grads, "the same parameters receive gradients");
    check("satformer_bf16", &fx, &got, &run(None));
}
