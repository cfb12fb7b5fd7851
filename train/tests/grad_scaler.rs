//! `GradScaler` against `torch.amp.GradScaler("cpu")` (tools/parity/gen_grad_scaler.py writes
//! tests/fixtures/optim/grad_scaler.json): a scripted run of 40 SGD steps with overflowing losses at chosen
//! steps, under two scaler configs; every step's overflow flag, unscaled gradient, skipped step, parameters,
//! scale and growth tracker, and the final state_dict, equal PyTorch's exactly. Also: misuse is an error and
//! the state round-trips.

use serde_json::Value;
use wrt_autograd::Var;
use wrt_tensor::Tensor;
use wrt_train::optim::{clip_grad_norm_, GradScaler, GradScalerConfig, Optimizer, ParamGroup, Sgd, SgdConfig};

fn fixture() -> Value {
    let p = format!("{}/../tests/fixtures/optim/grad_scaler.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))).unwrap()
}

/// A number, or the strings "inf", "-inf", "nan" as the fixture writes non-finite values.
fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {s}")),
        v => v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")),
    }
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(num).collect()
}

/// Bit-equal as float32 (the fixture's decimals name float32 values; NaN equals NaN).
fn same(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        let w = *w as f32;
        assert!(*g == w || (g.is_nan() && w.is_nan()), "{what}: {got:?} vs {want:?}");
    }
}

#[test]
fn scripted_overflows_match_torch() {
    let fx = fixture();
    let (lr, clip) = (fx["lr"].as_f64().unwrap(), fx["clip_max_norm"].as_f64().unwrap());
    let p_init: Vec<f32> = nums(&fx["p_init"]).iter().map(|&x| x as f32).collect();
    for (name, case) in fx["cases"].as_object().unwrap() {
        let c = &case["config"];
        let cfg = GradScalerConfig {
            init_scale: num(&c["init_scale"]),
            growth_factor: num(&c["growth_factor"]),
            backoff_factor: num(&c["backoff_factor"]),
            growth_interval: c["growth_interval"].as_u64().unwrap(),
        };
        let mut scaler = GradScaler::new(cfg).unwrap();
        let p = Var::new(Tensor::from_vec(p_init.clone(), &[3]).unwrap(), true);
        let mut opt = Sgd::new(vec![ParamGroup::new(vec![p.clone()], SgdConfig { lr, ..Default::default() })]).unwrap();
        let overflow: Vec<u64> = case["overflow_steps"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        for st in case["steps"].as_array().unwrap() {
            let t = st["t"].as_u64().unwrap();
            let what = format!("case {name}, step {t}");
            assert_eq!(scaler.get_scale(), num(&st["scale_before"]), "{what}: scale before");
            opt.zero_grad();
            let w: Vec<f32> = nums(&st["w"]).iter().map(|&x| x as f32).collect();
            let mut loss = p.mul(&Var::constant(Tensor::from_vec(w, &[3]).unwrap())).unwrap().sum_all().unwrap();
            if overflow.contains(&t) {
                loss = loss.mul_scalar(f64::INFINITY).unwrap();
            }
            scaler.scale(&loss).unwrap().backward().unwrap();
            let found_inf = scaler.unscale_(&[p.clone()]).unwrap();
            assert_eq!(found_inf, st["found_inf"].as_bool().unwrap(), "{what}: found_inf");
            same(&p.grad().unwrap().to_vec::<f32>().unwrap(), &nums(&st["grad"]), &format!("{what}: unscaled grad"));
            clip_grad_norm_(&[p.clone()], clip, 2.0, false).unwrap();
            let stepped = scaler.step(&mut opt, &[p.clone()]).unwrap();
            assert_eq!(!stepped, st["skipped"].as_bool().unwrap(), "{what}: skipped");
            scaler.update().unwrap();
            same(&p.value().to_vec::<f32>().unwrap(), &nums(&st["p_after"]), &format!("{what}: p after"));
            assert_eq!(scaler.get_scale(), num(&st["scale_after"]), "{what}: scale after");
            assert_eq!(scaler.growth_tracker(), st["growth_tracker_after"].as_u64().unwrap(), "{what}: growth tracker");
        }
        let sd = scaler.state_dict();
        for (k, v) in case["state_dict"].as_object().unwrap() {
            assert_eq!(num(&sd[k]), num(v), "case {name}: state_dict {k}");
        }
        let mut restored = GradScaler::new(GradScalerConfig::default()).unwrap();
        restored.load_state_dict(&sd).unwrap();
        assert_eq!((restored.get_scale(), restored.growth_tracker()), (scaler.get_scale(), scaler.growth_tracker()), "case {name}: restored state");
    }
}

#[test]
fn misuse_is_an_error() {
    let mut s = GradScaler::new(GradScalerConfig::default()).unwrap();
    assert!(s.update().unwrap_err().to_string().contains("needs a step()"));
    let p = Var::new(Tensor::from_vec(vec![1.0f32], &[1]).unwrap(), true);
    s.scale(&p.sum_all().unwrap()).unwrap().backward().unwrap();
    s.unscale_(&[p.clone()]).unwrap();
    assert!(s.unscale_(&[p.clone()]).unwrap_err().to_string().contains("already called"));
    assert!(GradScaler::new(GradScalerConfig { backoff_factor: 1.5, ..Default::default() }).is_err());
    assert!(GradScaler::new(GradScalerConfig { growth_interval: 0, ..Default::default() }).is_err());
}
