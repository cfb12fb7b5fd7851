//! SaTformer against the PyTorch reference (tools/parity/satformer_ref.py, fixtures written by
//! tools/parity/gen_satformer.py into tests/fixtures/satformer/). For each attention variant: build the wrt
//! model from the manifest's small config, load the PyTorch state_dict strictly, check the key and parameter
//! order, then compare the logits and the cross-entropy loss (rtol 1e-4 / atol 1e-4, the bound), and
//! after `loss.backward()` the gradient of the input and of every parameter (rtol 1e-3 with an absolute floor
//! of 1e-3 x the tensor's largest |gradient|). Parameters PyTorch gives no gradient ("ST" never calls its
//! feed-forward) must get none in wrt either. Also: the default configuration's state_dict keys, shapes and
//! parameter count equal PyTorch's for every variant.
//!
//! `cargo test -p wrt-models --test satformer_parity -- --nocapture` prints the worst errors per variant.

use serde_json::Value;
use wrt_autograd::Var;
use wrt_models::satformer::{AttnKind, Satformer, SatformerConfig};
use wrt_nn::loss::{cross_entropy, Reduction};
use wrt_nn::ModuleExt;
use wrt_tensor::Generator;
use wrt_testkit::{closeness, grad_closeness, key_shapes, model_fixture_dir, model_manifest, model_tensors, prefixed, strings};

fn manifest() -> Value {
    model_manifest("satformer")
}


fn small_config(m: &Value, attn: AttnKind) -> SatformerConfig {
    let mut c = m["config"].clone();
    c["attn"] = Value::String(attn.as_str().to_string());
    serde_json::from_value(c).expect("the manifest's config deserialises into SatformerConfig")
}

fn run_variant(attn: AttnKind) {
    let m = manifest();
    let case = &m["variants"][attn.slug()];
    assert_eq!(case["attn"].as_str(), Some(attn.as_str()));
    let tol = &m["tolerances"];
    let t = |k: &str, f: &str| tol[k][f].as_f64().unwrap_or_else(|| panic!("tolerance {k}.{f}"));
    let file = case["file"].as_str().expect("file");
    let fx = model_tensors("satformer", file);
    let path = model_fixture_dir("satformer").join(file);
    let get = |k: &str| fx.get(k).unwrap_or_else(|| panic!("{}: no tensor {k}", path.display())).clone();

    let model = Satformer::new(small_config(&m, attn), &mut Generator::new(7)).unwrap();
    model.eval();
    model.load_state_dict(&prefixed(&fx, "state."), true).unwrap();
    let keys: Vec<String> = model.state_dict().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, strings(&case["keys"]), "state_dict keys and order");
    let params: Vec<String> = model.named_parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(params, strings(&case["params"]), "named_parameters order");
    assert_eq!(model.num_parameters() as u64, case["num_parameters"].as_u64().unwrap());

    let input = Var::new(get("input"), true);
    let logits = model.forward(&input).unwrap();
    let w_logits = closeness("logits", logits.value(), &get("output.logits"), t("logits", "rtol"), t("logits", "atol"));
    let loss = cross_entropy(&logits, &get("target"), None, -100, 0.0, Reduction::Mean).unwrap();
    let w_loss = closeness("loss", &loss.value().reshape(&[1]).unwrap(), &get("output.loss"), t("loss", "rtol"), t("loss", "atol"));
    loss.backward().unwrap();

    let (rtol, floor) = (t("grad", "rtol"), t("grad", "floor"));
    let mut w_grad = grad_closeness("grad.input", &input.grad().expect("input gradient"), &get("grad.input"), rtol, floor);
    let mut worst_name = "input".to_string();
    let mut worst_rel = w_grad.rel;
    let no_grad = strings(&case["no_grad"]);
    for (name, p) in model.named_parameters() {
        if no_grad.contains(&name) {
            assert!(p.grad().is_none(), "{name}: PyTorch gives no gradient (unused parameter), wrt has one");
            continue;
        }
        let g = p.grad().unwrap_or_else(|| panic!("{name}: no gradient"));
        let w = grad_closeness(&format!("grad.{name}"), &g, &get(&format!("grad.{name}")), rtol, floor);
        worst_rel = worst_rel.max(w.rel);
        if w.of_tol > w_grad.of_tol {
            (w_grad, worst_name) = (w, name);
        }
    }
    println!(
        "{:>4}: logits max|d| {:.1e} ({:.3} of tol), loss |d| {:.1e} ({:.3}), gradients {:.3} of tol (worst {worst_name}), \
         max |d|/max|g| over tensors {:.1e}; {} parameters without gradient",
        attn.as_str(),
        w_logits.abs,
        w_logits.of_tol,
        w_loss.abs,
        w_loss.of_tol,
        w_grad.of_tol,
        worst_rel,
        no_grad.len()
    );
}

#[test]
fn parity_time_space() {
    run_variant(AttnKind::TimeSpace);
}

#[test]
fn parity_space_time() {
    run_variant(AttnKind::SpaceTime);
}

#[test]
fn parity_joint() {
    run_variant(AttnKind::Joint);
}

#[test]
fn parity_joint_twice() {
    run_variant(AttnKind::JointTwice);
}

/// The seed's configuration (dim 512, depth 12, heads 8, dim_head 64, 4 x 11 x 32 x 32 input, patch 4): every
/// variant's state_dict keys in order, their shapes, and the parameter count equal PyTorch's.
#[test]
fn default_config_state_dict_matches_pytorch() {
    let m = manifest();
    let want_cfg = &m["default_config"];
    let base = SatformerConfig::default();
    for (k, v) in want_cfg.as_object().expect("default_config") {
        let ours = serde_json::to_value(&base).unwrap()[k].clone();
        assert_eq!(&ours, v, "default {k} differs from the manifest's");
    }
    for attn in AttnKind::ALL {
        let want = &m["default"][attn.slug()];
        let model = Satformer::new(SatformerConfig { attn, ..SatformerConfig::default() }, &mut Generator::new(0)).unwrap();
        let got: Vec<(String, Vec<usize>)> = model.state_dict().into_iter().map(|(k, t)| (k, t.shape().to_vec())).collect();
        let want_sd = key_shapes(&want["state_dict"]);
        assert_eq!(got, want_sd, "{attn}: state_dict keys, order and shapes");
        assert_eq!(model.num_parameters() as u64, want["num_parameters"].as_u64().unwrap(), "{attn}: parameter count");
        println!("{:>4}: {} parameters, {} state_dict entries", attn.as_str(), model.num_parameters(), got.len());
    }
}
