//! Schedulers against torch.optim.lr_scheduler (tools/parity/gen_optim.py; warm restarts included): lr (and cycled momentum)
//! sequences in regimes the optimizer runs do not reach, ReduceLROnPlateau on scripted metrics, and resume
//! from a scheduler state_dict.

use serde_json::Value;
use std::collections::BTreeMap;
use wrt_autograd::Var;
use wrt_tensor::{DType, Tensor};
use wrt_train::optim::{Optimizer, ParamGroup, Sgd, SgdConfig};
use wrt_train::sched::{Anneal, CosineAnnealingLR, CosineAnnealingWarmRestarts, LinearWarmupCosine, Mode, MultiStepLR, OneCycleLR, PlateauConfig, ReduceLROnPlateau, Scheduler, StepLR, ThresholdMode};

fn dir() -> String {
    format!("{}/../tests/fixtures/optim", env!("CARGO_MANIFEST_DIR"))
}
fn load(name: &str) -> BTreeMap<String, Tensor> {
    wrt_tensor::io::load(format!("{}/{name}.safetensors", dir())).unwrap_or_else(|e| panic!("{e}"))
}
fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{}/manifest.json", dir())).unwrap()).unwrap()
}

/// SGD over two one-element groups with the given lrs (the schedulers only read and write lrs / momenta).
fn sgd(lrs: &[f64], momentum: f64) -> Sgd {
    let groups = lrs
        .iter()
        .map(|&lr| ParamGroup::new(vec![Var::new(Tensor::zeros(&[1], DType::F32).unwrap(), true)], SgdConfig { lr, momentum, ..Default::default() }))
        .collect();
    Sgd::new(groups).unwrap()
}

fn f(v: &Value, k: &str, default: f64) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(default)
}

fn build_sched(cfg: &Value, opt: &mut dyn Optimizer) -> Box<dyn Scheduler> {
    let u = |k: &str| cfg[k].as_u64().unwrap() as usize;
    match cfg["kind"].as_str().unwrap() {
        "step" => Box::new(StepLR::new(opt, u("step_size"), f(cfg, "gamma", 0.1)).unwrap()),
        "multistep" => {
            let ms: Vec<usize> = cfg["milestones"].as_array().unwrap().iter().map(|m| m.as_u64().unwrap() as usize).collect();
            Box::new(MultiStepLR::new(opt, &ms, f(cfg, "gamma", 0.1)).unwrap())
        }
        "cosine" => Box::new(CosineAnnealingLR::new(opt, u("t_max"), f(cfg, "eta_min", 0.0)).unwrap()),
        "cosine_restarts" => Box::new(CosineAnnealingWarmRestarts::new(opt, u("t_0"), u("t_mult"), f(cfg, "eta_min", 0.0)).unwrap()),
        "warmup_cosine" => Box::new(LinearWarmupCosine::new(opt, u("warmup_steps"), u("max_steps"), f(cfg, "warmup_start_lr", 0.0), f(cfg, "eta_min", 0.0)).unwrap()),
        "onecycle" => {
            let mut c = OneCycleLR::default_config(u("total_steps"));
            c.pct_start = f(cfg, "pct_start", c.pct_start);
            c.div_factor = f(cfg, "div_factor", c.div_factor);
            c.final_div_factor = f(cfg, "final_div_factor", c.final_div_factor);
            c.three_phase = cfg.get("three_phase").and_then(Value::as_bool).unwrap_or(false);
            if cfg.get("anneal_strategy").and_then(Value::as_str) == Some("linear") {
                c.anneal = Anneal::Linear;
            }
            let max_lrs: Vec<f64> = match cfg.get("max_lr") {
                Some(v) => v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect(),
                None => opt.lrs(),
            };
            Box::new(OneCycleLR::new(opt, &max_lrs, c).unwrap())
        }
        k => panic!("unknown scheduler {k}"),
    }
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs()
    }
}

#[test]
fn schedules_match_torch() {
    let (m, t) = (manifest(), load("sched"));
    let tol = m["tolerance"]["lr_rtol"].as_f64().unwrap();
    for (name, case) in m["sched_only"].as_object().unwrap() {
        let lrs: Vec<f64> = case["optimizer"]["lr"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let mut opt = sgd(&lrs, case["optimizer"]["momentum"].as_f64().unwrap());
        let mut s = build_sched(&case["config"], &mut opt);
        let (want_lr, want_m) = (t[&format!("{name}.lr")].to_vec::<f64>().unwrap(), t[&format!("{name}.momentum")].to_vec::<f64>().unwrap());
        let (mut worst, mut got_lr, mut got_m) = (0.0f64, Vec::new(), Vec::new());
        for _ in 0..case["steps"].as_u64().unwrap() {
            got_lr.extend(s.get_lr());
            got_m.extend((0..opt.num_groups()).map(|g| opt.momentum(g)));
            assert_eq!(s.get_lr(), opt.lrs(), "{name}: get_lr is the optimizer's lr");
            opt.step().unwrap();
            s.step(&mut opt).unwrap();
        }
        for (g, w) in got_lr.iter().zip(&want_lr).chain(got_m.iter().zip(&want_m)) {
            worst = worst.max(rel(*g, *w));
        }
        println!("{name:>24}: max rel err {worst:.1e}");
        assert!(worst <= tol, "{name}: lr/momentum differ from torch by {worst:e}\n got {got_lr:?}\nwant {want_lr:?}");
    }
}

#[test]
fn plateau_matches_torch() {
    let (m, t) = (manifest(), load("plateau"));
    for (name, c) in m["plateau"].as_object().unwrap() {
        let lrs: Vec<f64> = c["lr"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let mut opt = sgd(&lrs, 0.0);
        let min_lr = match c.get("min_lr") {
            Some(Value::Array(a)) => a.iter().map(|x| x.as_f64().unwrap()).collect(),
            Some(v) => vec![v.as_f64().unwrap()],
            None => vec![0.0],
        };
        let d = PlateauConfig::default();
        let cfg = PlateauConfig {
            mode: if c["mode"] == "max" { Mode::Max } else { Mode::Min },
            factor: f(c, "factor", d.factor),
            patience: c.get("patience").and_then(Value::as_u64).unwrap_or(d.patience),
            threshold: f(c, "threshold", d.threshold),
            threshold_mode: if c["threshold_mode"] == "abs" { ThresholdMode::Abs } else { ThresholdMode::Rel },
            cooldown: c.get("cooldown").and_then(Value::as_u64).unwrap_or(0),
            min_lr,
            eps: f(c, "eps", d.eps),
        };
        let mut s = ReduceLROnPlateau::new(&mut opt, cfg).unwrap();
        let metrics = t[&format!("{name}.metrics")].to_vec::<f64>().unwrap();
        let want = t[&format!("{name}.lr")].to_vec::<f64>().unwrap();
        let mut got = Vec::new();
        for &x in &metrics {
            s.step_metric(&mut opt, x).unwrap();
            got.extend(s.get_lr());
        }
        assert_eq!(got, want, "{name}: lrs differ from torch for metrics {metrics:?}");
        assert!(s.step(&mut opt).is_err(), "plateau needs a metric");
    }
}

/// Step k times, save, rebuild (which takes its own initial step), load, continue: same lrs as straight.
#[test]
fn scheduler_resume_is_exact() {
    let m = manifest();
    for (name, case) in m["sched_only"].as_object().unwrap() {
        let n = case["steps"].as_u64().unwrap() as usize;
        let run = |split: Option<usize>| -> Vec<f64> {
            let mut opt = sgd(&[0.1, 0.04], 0.9);
            let mut s = build_sched(&case["config"], &mut opt);
            let mut out = Vec::new();
            for i in 0..n {
                if Some(i) == split {
                    let (st, ost) = (serde_json::to_string(&s.state_dict()).unwrap(), opt.state_dict().unwrap());
                    let mut opt2 = sgd(&[0.1, 0.04], 0.9);
                    let mut s2 = build_sched(&case["config"], &mut opt2);
                    opt2.load_state_dict(&ost).unwrap();
                    s2.load_state_dict(&serde_json::from_str(&st).unwrap()).unwrap();
                    (opt, s) = (opt2, s2);
                }
                out.extend(opt.lrs());
                opt.step().unwrap();
                s.step(&mut opt).unwrap();
            }
            out
        };
        assert_eq!(run(Some(n / 2)), run(None), "{name}: resumed schedule differs");
    }
}

#[test]
fn misuse_is_an_error() {
    let mut opt = sgd(&[0.1], 0.0);
    let mut s = OneCycleLR::new(&mut opt, &[1.0], OneCycleLR::default_config(3)).unwrap();
    for _ in 0..3 {
        s.step(&mut opt).unwrap();
    }
    let e = s.step(&mut opt).unwrap_err();
    assert!(e.to_string().contains("total steps"), "{e}");
    assert!(ReduceLROnPlateau::new(&mut opt, PlateauConfig { factor: 1.0, ..Default::default() }).is_err());
    let mut st = StepLR::new(&mut opt, 2, 0.5).unwrap().state_dict();
    st["scheduler"] = "CosineAnnealingLR".into();
    let mut cos = CosineAnnealingLR::new(&mut opt, 10, 0.0).unwrap();
    let e = cos.load_state_dict(&st).unwrap_err();
    assert!(e.to_string().contains("CosineAnnealingLR"), "{e}");
}
