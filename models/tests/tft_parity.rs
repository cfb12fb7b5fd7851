//! Both TFTs against the PyTorch reference (tools/parity/tft_ref.py, fixtures by tools/parity/gen_tft.py in
//! tests/fixtures/tft/; the canonical reference itself equals pytorch-forecasting 1.8.0 bit for bit, see the
//! manifest's `pytorch_forecasting_check`). Weights moved off their init, loaded strictly (the canonical
//! state_dicts with pytorch-forecasting's duplicated keys of shared modules), eval mode:
//! - seed: `TemporalFusionTransformerLightning` (2 bidirectional LSTM layers), its output and MSE loss;
//! - canonical: static categorical + reals, causal and non-causal attention, the attention and variable
//!   selection weights, pytorch-forecasting's QuantileLoss;
//! - canonical without static variables (2 LSTM layers);
//! forward rtol 1e-4 / atol 1e-4, gradients of the inputs and every parameter rtol 1e-3 with a floor of 1e-3
//! x the tensor's largest |g|. Also: the default configurations' state_dicts and parameter counts, and bad
//! inputs name what is wrong.

use serde_json::Value;
use std::collections::BTreeMap;
use wrt_autograd::Var;
use wrt_models::tft::{Categorical, SeedTft, SeedTftConfig, Tft, TftConfig, TftInput};
use wrt_nn::loss::{mse_loss, quantile_loss, Reduction};
use wrt_nn::ModuleExt;
use wrt_tensor::{DType, Generator, Tensor};
use wrt_testkit::{closeness, grad_closeness, grad_closeness_in, key_shapes, max_abs, model_manifest, model_tensors, prefixed, strings, Closeness};

fn tol(m: &Value, k: &str, f: &str) -> f64 {
    m["tolerances"][k][f].as_f64().unwrap_or_else(|| panic!("tolerance {k}.{f}"))
}

/// The manifest's canonical config (pytorch-forecasting's keyword form) as a `TftConfig`.
fn canonical_config(c: &Value, quantiles: &Value) -> TftConfig {
    let cats = c["static_categoricals"].as_object().expect("static_categoricals");
    TftConfig {
        hidden_size: c["hidden_size"].as_u64().unwrap() as usize,
        attention_head_size: c["attention_head_size"].as_u64().unwrap() as usize,
        hidden_continuous_size: c["hidden_continuous_size"].as_u64().unwrap() as usize,
        lstm_layers: c["lstm_layers"].as_u64().unwrap() as usize,
        dropout: c["dropout"].as_f64().unwrap(),
        quantiles: quantiles.as_array().unwrap().iter().map(|q| q.as_f64().unwrap()).collect(),
        causal_attention: c["causal_attention"].as_bool().unwrap(),
        static_categoricals: cats
            .iter()
            .map(|(n, v)| Categorical { name: n.clone(), cardinality: v["n_classes"].as_u64().unwrap() as usize, embedding_dim: v["embedding_dim"].as_u64().unwrap() as usize })
            .collect(),
        static_reals: strings(&c["static_reals"]),
        known_reals: strings(&c["known_reals"]),
        unknown_reals: strings(&c["unknown_reals"]),
    }
}

/// Gradients of every named parameter (and the given inputs) against `grad.*`; returns the worst.
fn check_grads(m: &Value, fx: &BTreeMap<String, Tensor>, params: Vec<(String, Var)>, inputs: &[(&str, &Var)]) -> (String, Closeness) {
    let get = |k: &str| fx.get(k).unwrap_or_else(|| panic!("fixture: no tensor {k}")).clone();
    let (grtol, floor) = (tol(m, "grad", "rtol"), tol(m, "grad", "floor"));
    let model_scale = max_abs(fx.iter().filter(|(k, _)| k.starts_with("grad.")).map(|(_, t)| t));
    let mut worst = (String::new(), Closeness { abs: 0.0, of_tol: 0.0, rel: 0.0 });
    for (name, x) in inputs {
        let g = x.grad().unwrap_or_else(|| panic!("{name}: no gradient"));
        let c = grad_closeness(&format!("grad.input.{name}"), &g, &get(&format!("grad.input.{name}")), grtol, floor);
        if c.of_tol > worst.1.of_tol {
            worst = (format!("input.{name}"), c);
        }
    }
    for (name, p) in params {
        let want = get(&format!("grad.{name}"));
        let g = p.grad().unwrap_or_else(|| Tensor::zeros(want.shape(), DType::F32).unwrap());
        // the key biases' gradients are 0 in exact arithmetic (a constant shift of a softmax row)
        let c = grad_closeness_in(&format!("grad.{name}"), &g, &want, grtol, floor, model_scale);
        if c.of_tol > worst.1.of_tol {
            worst = (name, c);
        }
    }
    worst
}

#[test]
fn seed_model_matches_pytorch() {
    let m = model_manifest("tft");
    let case = &m["seed"];
    let fx = model_tensors("tft", "seed.safetensors");
    let get = |k: &str| fx.get(k).unwrap_or_else(|| panic!("fixture: no tensor {k}")).clone();
    let cfg: SeedTftConfig = serde_json::from_value(case["config"].clone()).unwrap();
    let model = SeedTft::new(cfg, &mut Generator::new(1)).unwrap();
    let got: Vec<(String, Vec<usize>)> = model.state_dict().into_iter().map(|(k, t)| (k, t.shape().to_vec())).collect();
    assert_eq!(got, key_shapes(&case["state_dict"]), "state_dict keys, order and shapes");
    let params: Vec<String> = model.named_parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(params, strings(&case["params"]), "named_parameters order");
    model.load_pytorch_state_dict(&prefixed(&fx, "state.")).unwrap();
    model.eval();
    let (rtol, atol) = (tol(&m, "forward", "rtol"), tol(&m, "forward", "atol"));
    let x = Var::new(get("input.x"), true);
    let y = model.forward(&x).unwrap();
    let c_y = closeness("y", y.value(), &get("output.y"), rtol, atol);
    let loss = mse_loss(&y, &Var::constant(get("target")), Reduction::Mean).unwrap();
    let c_loss = closeness("loss", &loss.value().reshape(&[1]).unwrap(), &get("output.loss"), rtol, atol);
    loss.backward().unwrap();
    let worst = check_grads(&m, &fx, model.named_parameters(), &[("x", &x)]);
    println!("seed: y max|d| {:.1e} ({:.3} of tol), loss {:.1e}; gradients {:.3} of tol (worst {})", c_y.abs, c_y.of_tol, c_loss.abs, worst.1.of_tol, worst.0);
}

struct Canonical {
    m: Value,
    fx: BTreeMap<String, Tensor>,
    case: Value,
}

impl Canonical {
    fn load(name: &str) -> Canonical {
        let m = model_manifest("tft");
        let case = m[name].clone();
        let fx = model_tensors("tft", case["file"].as_str().unwrap());
        Canonical { m, fx, case }
    }
    fn get(&self, k: &str) -> Tensor {
        self.fx.get(k).unwrap_or_else(|| panic!("fixture: no tensor {k}")).clone()
    }
    fn has(&self, k: &str) -> bool {
        self.fx.contains_key(k)
    }
    fn model(&self, causal: bool) -> Tft {
        let mut cfg = canonical_config(&self.case["config"], &self.case["quantiles"]);
        cfg.causal_attention = causal;
        let model = Tft::new(cfg, &mut Generator::new(2)).unwrap();
        model.load_pytorch_state_dict(&prefixed(&self.fx, "state.")).unwrap();
        model.eval();
        model
    }
}

fn canonical_case(name: &str) {
    let c = Canonical::load(name);
    let m = &c.m;
    let model = c.model(true);
    // our keys are pytorch-forecasting's without the duplicates of shared modules, in its order; the
    // export adds the duplicates back
    let aliases: Vec<String> = c.case["aliases"].as_array().unwrap().iter().map(|a| a[0].as_str().unwrap().to_string()).collect();
    let want: Vec<(String, Vec<usize>)> = key_shapes(&c.case["state_dict"]).into_iter().filter(|(k, _)| !aliases.contains(k)).collect();
    let got: Vec<(String, Vec<usize>)> = model.state_dict().into_iter().map(|(k, t)| (k, t.shape().to_vec())).collect();
    assert_eq!(got, want, "state_dict keys, order and shapes (without the aliases)");
    let mut exported: Vec<String> = model.pytorch_state_dict().into_iter().map(|(k, _)| k).collect();
    let mut all: Vec<String> = key_shapes(&c.case["state_dict"]).into_iter().map(|(k, _)| k).collect();
    exported.sort();
    all.sort();
    assert_eq!(exported, all, "the export lists every key pytorch-forecasting writes");
    let params: Vec<String> = model.named_parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(params, strings(&c.case["params"]), "named_parameters order");

    let (rtol, atol) = (tol(m, "forward", "rtol"), tol(m, "forward", "atol"));
    let static_real = if c.has("input.static_real") { Some(Var::new(c.get("input.static_real"), true)) } else { None };
    let static_cat = if c.has("input.static_cat") { Some(c.get("input.static_cat")) } else { None };
    let encoder_real = Var::new(c.get("input.encoder_real"), true);
    let decoder_real = Var::new(c.get("input.decoder_real"), true);
    let input = TftInput { static_cat: static_cat.as_ref(), static_real: static_real.as_ref(), encoder_real: &encoder_real, decoder_real: &decoder_real };
    let out = model.forward(&input).unwrap();
    let mut worst: Vec<(&str, Closeness)> = vec![
        ("prediction", closeness("prediction", out.prediction.value(), &c.get("output.prediction"), rtol, atol)),
        ("attention", closeness("attention", &out.attention, &c.get("output.attention"), rtol, atol)),
        ("encoder_weights", closeness("encoder_weights", &out.encoder_weights, &c.get("output.encoder_weights"), rtol, atol)),
        ("decoder_weights", closeness("decoder_weights", &out.decoder_weights, &c.get("output.decoder_weights"), rtol, atol)),
    ];
    let sw = c.get("output.static_weights");
    assert_eq!(out.static_weights.shape(), sw.shape(), "static weights' shape");
    if sw.numel() > 0 {
        worst.push(("static_weights", closeness("static_weights", &out.static_weights, &sw, rtol, atol)));
    }
    if c.has("output.prediction_noncausal") {
        let open = c.model(false).forward(&input).unwrap();
        worst.push(("noncausal", closeness("prediction_noncausal", open.prediction.value(), &c.get("output.prediction_noncausal"), rtol, atol)));
        let d = open.prediction.value().sub(out.prediction.value()).unwrap().abs().unwrap().max(&[], false).unwrap().item::<f32>().unwrap();
        assert!(d > 1e-4, "the causal mask should change the forecast ({d})");
    }
    let quantiles = model.config().quantiles.clone();
    let loss = quantile_loss(&out.prediction, &Var::constant(c.get("target")), &quantiles, Reduction::None).unwrap().mean_all().unwrap().mul_scalar(2.0).unwrap();
    worst.push(("loss", closeness("loss", &loss.value().reshape(&[1]).unwrap(), &c.get("output.loss"), rtol, atol)));
    loss.backward().unwrap();
    let mut inputs: Vec<(&str, &Var)> = vec![("encoder_real", &encoder_real), ("decoder_real", &decoder_real)];
    if let Some(s) = &static_real {
        inputs.push(("static_real", s));
    }
    let g = check_grads(m, &c.fx, model.named_parameters(), &inputs);
    for (n, c) in &worst {
        println!("{name} {n:>16}: max|d| {:.1e} ({:.3} of tol)", c.abs, c.of_tol);
    }
    println!("{name} gradients {:.3} of tol (worst {})", g.1.of_tol, g.0);
}

#[test]
fn canonical_model_matches_pytorch_forecasting() {
    canonical_case("canonical");
}

#[test]
fn canonical_model_without_statics_matches_pytorch_forecasting() {
    canonical_case("canonical_nostatic");
}

#[test]
fn default_configs_match_pytorch() {
    let m = model_manifest("tft");
    let d = &m["defaults"];
    let seed = SeedTft::new(SeedTftConfig::default(), &mut Generator::new(0)).unwrap();
    let got: Vec<(String, Vec<usize>)> = seed.state_dict().into_iter().map(|(k, t)| (k, t.shape().to_vec())).collect();
    assert_eq!(got, key_shapes(&d["seed"]["state_dict"]));
    assert_eq!(seed.num_parameters() as u64, d["seed"]["num_parameters"].as_u64().unwrap(), "seed parameters (62,016)");
    let cfg = canonical_config(&d["canonical"]["config"], &d["canonical"]["quantiles"]);
    let tft = Tft::new(cfg, &mut Generator::new(0)).unwrap();
    let mut got: Vec<(String, Vec<usize>)> = tft.pytorch_state_dict().into_iter().map(|(k, t)| (k, t.shape().to_vec())).collect();
    let mut want = key_shapes(&d["canonical"]["state_dict"]);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(tft.num_parameters() as u64, d["canonical"]["num_parameters"].as_u64().unwrap(), "canonical parameters (62,875)");
}

#[test]
fn bad_inputs_name_what_is_wrong() {
    let cfg = TftConfig { hidden_size: 8, attention_head_size: 2, hidden_continuous_size: 4, static_reals: vec!["s".into()], known_reals: vec!["k".into()], ..Default::default() };
    let model = Tft::new(cfg.clone(), &mut Generator::new(0)).unwrap();
    let z = |s: &[usize]| Var::constant(Tensor::zeros(s, DType::F32).unwrap());
    let (s, e, dcd) = (z(&[2, 1]), z(&[2, 5, 2]), z(&[2, 3, 1]));
    let err = |i: TftInput<'_>| model.forward(&i).err().expect("an error").to_string();
    let bad_enc = z(&[2, 5, 3]);
    assert!(err(TftInput { static_cat: None, static_real: Some(&s), encoder_real: &bad_enc, decoder_real: &dcd }).contains("1 known + 1 unknown"));
    assert!(err(TftInput { static_cat: None, static_real: None, encoder_real: &e, decoder_real: &dcd }).contains("1 static reals, none were given"));
    let bad_dec = z(&[2, 3, 2]);
    assert!(err(TftInput { static_cat: None, static_real: Some(&s), encoder_real: &e, decoder_real: &bad_dec }).contains("decoder_real"));
    assert!(model.forward(&TftInput { static_cat: None, static_real: Some(&s), encoder_real: &e, decoder_real: &dcd }).is_ok());
    let e = Tft::new(TftConfig { known_reals: vec![], ..cfg.clone() }, &mut Generator::new(0)).err().unwrap().to_string();
    assert!(e.contains("at least one known real"), "{e}");
    let e = Tft::new(TftConfig { quantiles: vec![0.5, 0.1], ..cfg.clone() }, &mut Generator::new(0)).err().unwrap().to_string();
    assert!(e.contains("increasing"), "{e}");
    let e = Tft::new(TftConfig { unknown_reals: vec!["k".into()], ..cfg }, &mut Generator::new(0)).err().unwrap().to_string();
    assert!(e.contains("listed twice"), "{e}");
    let seed = SeedTft::new(SeedTftConfig { input_size: 3, hidden_size: 4, num_heads: 2, ..Default::default() }, &mut Generator::new(0)).unwrap();
    assert!(seed.forward(&z(&[2, 5, 4])).err().unwrap().to_string().contains("[batch, window > 0, 3]"));
    let e = SeedTft::new(SeedTftConfig { hidden_size: 3, num_heads: 4, ..Default::default() }, &mut Generator::new(0)).err().unwrap().to_string();
    assert!(e.contains("not divisible"), "{e}");
}
