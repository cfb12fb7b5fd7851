//! Optimizers against torch.optim (tools/parity/gen_optim.py): every optimizer config x scheduler runs 200
//! steps of a small problem whose gradients wrt's autograd computes; the lr sequence and the parameters
//! every 20 steps must follow PyTorch's. Also: exact resume from a state_dict, no allocation per step, and
//! clip_grad_norm_ / clip_grad_value_ against torch.

use serde_json::Value;
use std::cell::Cell;
use std::collections::BTreeMap;
use wrt_autograd::{Result, Var};
use wrt_tensor::Tensor;
use wrt_train::optim::{clip_grad_norm_, clip_grad_value_, Adam, AdamConfig, OptimState, Optimizer, ParamGroup, Sgd, SgdConfig};
use wrt_train::sched::{CosineAnnealingLR, LinearWarmupCosine, MultiStepLR, OneCycleLR, Scheduler, StepLR};

// ------------------------------------------------------------------ allocation counting (this thread only)

struct Counting;
thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        let _ = BYTES.try_with(|c| c.set(c.get() + l.size()));
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(p, l) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

// ------------------------------------------------------------------ fixtures

fn dir() -> String {
    format!("{}/../tests/fixtures/optim", env!("CARGO_MANIFEST_DIR"))
}
fn load(name: &str) -> BTreeMap<String, Tensor> {
    wrt_tensor::io::load(format!("{}/{name}.safetensors", dir())).unwrap_or_else(|e| panic!("{e}"))
}
fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{}/manifest.json", dir())).unwrap()).unwrap()
}

struct Problem {
    x: Var,
    y: Var,
    a: Var,
    init: BTreeMap<String, Tensor>,
}

fn problem() -> Problem {
    let f = load("problem");
    Problem { x: Var::constant(f["input.X"].clone()), y: Var::constant(f["input.Y"].clone()), a: Var::constant(f["input.a"].clone()), init: f }
}

const NAMES: [&str; 4] = ["W", "b", "c", "e"];

fn fresh_params(p: &Problem) -> Vec<Var> {
    NAMES.iter().map(|n| Var::new(p.init[&format!("param.{n}")].deep_clone(), true)).collect()
}

/// mean((X @ W + b - Y)^2) + sum((c^2 - 1)^2) / 8 [+ sum(tanh(e) * a) + sum(e^2) / 16 unless step % 3 == 2]
fn loss(ps: &[Var], p: &Problem, step: usize) -> Result<Var> {
    let (w, b, c, e) = (&ps[0], &ps[1], &ps[2], &ps[3]);
    let mut l = p.x.matmul(w)?.add(b)?.sub(&p.y)?.square()?.mean_all()?;
    l = l.add(&c.square()?.add_scalar(-1.0)?.square()?.sum_all()?.mul_scalar(0.125)?)?;
    if step % 3 != 2 {
        l = l.add(&e.tanh()?.mul(&p.a)?.sum_all()?)?.add(&e.square()?.sum_all()?.mul_scalar(0.0625)?)?;
    }
    Ok(l)
}

fn f(v: &Value, k: &str, default: f64) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(default)
}
fn b(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// The optimizer of the manifest's config over groups [W] and [b, c, e].
fn build_opt(cfg: &Value, ps: &[Var]) -> Box<dyn Optimizer> {
    let members = [vec![ps[0].clone()], ps[1..].to_vec()];
    let kind = cfg["kind"].as_str().unwrap();
    let gcfgs = cfg["groups"].as_array().unwrap();
    if kind == "sgd" {
        let groups = members
            .into_iter()
            .zip(gcfgs)
            .map(|(m, g)| {
                let c = SgdConfig { lr: f(g, "lr", 0.0), momentum: f(g, "momentum", 0.0), dampening: f(g, "dampening", 0.0), weight_decay: f(g, "weight_decay", 0.0), nesterov: b(g, "nesterov"), maximize: b(g, "maximize") };
                ParamGroup::new(m, c)
            })
            .collect();
        return Box::new(Sgd::new(groups).unwrap());
    }
    let d = if kind == "adamw" { AdamConfig::adamw() } else { AdamConfig::default() };
    let groups = members
        .into_iter()
        .zip(gcfgs)
        .map(|(m, g)| {
            let betas = g.get("betas").map(|v| (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())).unwrap_or(d.betas);
            let c = AdamConfig { lr: f(g, "lr", d.lr), betas, eps: f(g, "eps", d.eps), weight_decay: f(g, "weight_decay", d.weight_decay), amsgrad: b(g, "amsgrad"), maximize: b(g, "maximize") };
            ParamGroup::new(m, c)
        })
        .collect();
    Box::new(if kind == "adamw" { Adam::adamw(groups) } else { Adam::new(groups) }.unwrap())
}

fn build_sched(cfg: &Value, opt: &mut dyn Optimizer) -> Option<Box<dyn Scheduler>> {
    let u = |k: &str| cfg[k].as_u64().unwrap() as usize;
    Some(match cfg["kind"].as_str().unwrap() {
        "none" => return None,
        "step" => Box::new(StepLR::new(opt, u("step_size"), f(cfg, "gamma", 0.1)).unwrap()),
        "multistep" => {
            let ms: Vec<usize> = cfg["milestones"].as_array().unwrap().iter().map(|m| m.as_u64().unwrap() as usize).collect();
            Box::new(MultiStepLR::new(opt, &ms, f(cfg, "gamma", 0.1)).unwrap())
        }
        "cosine" => Box::new(CosineAnnealingLR::new(opt, u("t_max"), f(cfg, "eta_min", 0.0)).unwrap()),
        "warmup_cosine" => Box::new(LinearWarmupCosine::new(opt, u("warmup_steps"), u("max_steps"), f(cfg, "warmup_start_lr", 0.0), f(cfg, "eta_min", 0.0)).unwrap()),
        "onecycle" => {
            let max_lrs = opt.lrs();
            Box::new(OneCycleLR::new(opt, &max_lrs, OneCycleLR::default_config(u("total_steps"))).unwrap())
        }
        k => panic!("unknown scheduler {k}"),
    })
}

/// The gradient (p - target) * k (e has none every third step): two correctly rounded f32 ops, so torch
/// and wrt feed the optimizer identical gradients and any difference is the optimizer's own.
fn exact_grads(ps: &[Var], p: &Problem, step: usize) {
    for (v, n) in ps.iter().zip(NAMES) {
        if n == "e" && step % 3 == 2 {
            continue;
        }
        let g = v.value().sub(&p.init[&format!("target.{n}")]).unwrap().mul(&p.init[&format!("k.{n}")]).unwrap();
        v.set_grad(Some(g));
    }
}

/// max |got - want| / max |want| (normwise relative error of a whole trajectory).
fn normwise(got: &[f64], want: &[f64]) -> f64 {
    let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs()));
    got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0, f64::max) / scale
}

/// Max over elements of |got - want| / max(|want|, floor).
fn max_rel(got: &[f64], want: &[f64], floor: f64) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(g, w)| if g == w { 0.0 } else { (g - w).abs() / w.abs().max(floor) }).fold(0.0, f64::max)
}

fn flat(ps: &[Var]) -> Vec<f64> {
    ps.iter().flat_map(|p| p.value().to_vec_f64().unwrap()).collect()
}

/// Run `steps` steps from `start` (optimizer step, then scheduler step); returns lrs used and snapshots.
#[allow(clippy::too_many_arguments)]
fn train(ps: &[Var], opt: &mut dyn Optimizer, mut sched: Option<&mut Box<dyn Scheduler>>, p: &Problem, range: std::ops::Range<usize>, every: usize, exact: bool) -> (Vec<f64>, Vec<Vec<f64>>) {
    let (mut lrs, mut snaps) = (Vec::new(), Vec::new());
    for step in range {
        opt.zero_grad();
        if exact {
            exact_grads(ps, p, step);
        } else {
            loss(ps, p, step).unwrap().backward().unwrap();
        }
        lrs.extend(opt.lrs());
        opt.step().unwrap();
        if let Some(s) = sched.as_mut() {
            s.step(opt).unwrap();
        }
        if (step + 1) % every == 0 {
            snaps.push(flat(ps));
        }
    }
    (lrs, snaps)
}

#[test]
fn trajectories_follow_torch() {
    let (m, p, traj) = (manifest(), problem(), load("traj"));
    let (steps, every) = (m["steps"].as_u64().unwrap() as usize, m["every"].as_u64().unwrap() as usize);
    let tol = |k: &str| m["tolerance"][k].as_f64().unwrap();
    let (rtol, exact_sgd, exact_adam, lr_rtol) = (tol("traj_rtol"), tol("exact_sgd_rtol"), tol("exact_adam_rtol"), tol("lr_rtol"));
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (on, oc) in m["optimizers"].as_object().unwrap() {
        for (sn, sc) in m["schedulers"].as_object().unwrap() {
            let ps = fresh_params(&p);
            let mut opt = build_opt(oc, &ps);
            let mut sched = build_sched(sc, opt.as_mut());
            let (lrs, snaps) = train(&ps, opt.as_mut(), sched.as_mut(), &p, 0..steps, every, false);
            let want_lr = traj[&format!("{on}.{sn}.lr")].to_vec::<f64>().unwrap();
            let want = traj[&format!("{on}.{sn}.traj")].to_vec_f64().unwrap();
            let lr_err = max_rel(&lrs, &want_lr, 1e-300);
            // parameters are O(0.1..1): relative to |want| with a floor of 1e-2 for entries crossing zero
            let (err, err_n) = (max_rel(&snaps.concat(), &want, 1e-2), normwise(&snaps.concat(), &want));

            let ps = fresh_params(&p);
            let mut opt = build_opt(oc, &ps);
            let mut sched = build_sched(sc, opt.as_mut());
            let (_, snaps) = train(&ps, opt.as_mut(), sched.as_mut(), &p, 0..steps, every, true);
            let want = traj[&format!("{on}.{sn}.exact")].to_vec_f64().unwrap();
            let (exact_err, exact_n) = (max_rel(&snaps.concat(), &want, 1e-2), normwise(&snaps.concat(), &want));
            let ulps = snaps.concat().iter().zip(&want).map(|(a, b)| ((*a as f32).to_bits() as i64 - (*b as f32).to_bits() as i64).abs()).max().unwrap();
            report.push(format!(
                "{on:>16} + {sn:<14} lr {lr_err:.0e} | autograd grads: normwise {err_n:.1e}, elementwise {err:.1e} | exact grads: normwise {exact_n:.1e}, elementwise {exact_err:.1e}, {ulps} ulp"
            ));
            let exact_tol = if oc["kind"] == "sgd" { exact_sgd } else { exact_adam };
            if lr_err > lr_rtol || err_n > rtol || exact_n > exact_tol {
                failures.push(format!("{on} + {sn}: lr {lr_err:.2e}, params {err_n:.2e}, exact-grad params {exact_n:.2e}"));
            }
        }
    }
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "differ from torch beyond rtol {rtol}:\n{}", failures.join("\n"));
}

/// Save after k steps (tensors through safetensors bytes, scalars through JSON text), rebuild everything,
/// load, continue: the parameters must equal an uninterrupted run's bit for bit.
#[test]
fn resume_from_state_dict_is_bitwise_exact() {
    let (m, p) = (manifest(), problem());
    for (on, sn) in [("adamw_amsgrad", "onecycle"), ("sgd_nesterov_wd", "cosine"), ("adam", "warmup_cosine"), ("sgd_dampening", "step")] {
        let (oc, sc) = (&m["optimizers"][on], &m["schedulers"][sn]);
        let ps = fresh_params(&p);
        let mut opt = build_opt(oc, &ps);
        let mut sched = build_sched(sc, opt.as_mut());
        let (_, straight) = train(&ps, opt.as_mut(), sched.as_mut(), &p, 0..120, 10, false);

        let ps = fresh_params(&p);
        let mut opt = build_opt(oc, &ps);
        let mut sched = build_sched(sc, opt.as_mut());
        let (_, first) = train(&ps, opt.as_mut(), sched.as_mut(), &p, 0..70, 10, false);
        let st = opt.state_dict().unwrap();
        let bytes = wrt_tensor::io::save_bytes(&st.tensors, None).unwrap();
        let meta = serde_json::to_string(&st.meta).unwrap();
        let sched_json = serde_json::to_string(&sched.as_ref().unwrap().state_dict()).unwrap();
        let values: Vec<Tensor> = ps.iter().map(|v| v.value().deep_clone()).collect();
        drop((opt, sched, ps));

        let ps: Vec<Var> = values.into_iter().map(|t| Var::new(t, true)).collect();
        let mut opt = build_opt(oc, &ps);
        let mut sched = build_sched(sc, opt.as_mut());
        let (tensors, _) = wrt_tensor::io::load_bytes(&bytes, std::path::Path::new("mem")).unwrap();
        let st2 = OptimState { tensors: tensors.into_iter().collect(), meta: serde_json::from_str(&meta).unwrap() };
        opt.load_state_dict(&st2).unwrap();
        sched.as_mut().unwrap().load_state_dict(&serde_json::from_str(&sched_json).unwrap()).unwrap();
        let (_, second) = train(&ps, opt.as_mut(), sched.as_mut(), &p, 70..120, 10, false);
        let resumed: Vec<Vec<f64>> = first.into_iter().chain(second).collect();
        assert_eq!(resumed, straight, "{on} + {sn}: resumed run differs from the uninterrupted one");
    }
}

#[test]
fn load_state_dict_rejects_mismatches() {
    let (m, p) = (manifest(), problem());
    let ps = fresh_params(&p);
    let mut adam = build_opt(&m["optimizers"]["adam"], &ps);
    let mut sgd = build_opt(&m["optimizers"]["sgd_nesterov_wd"], &ps);
    let e = adam.load_state_dict(&sgd.state_dict().unwrap()).unwrap_err();
    assert!(e.to_string().contains("'sgd'"), "{e}");
    let other = vec![Var::new(Tensor::zeros(&[3], wrt_tensor::DType::F32).unwrap(), true)];
    let mut small = Sgd::single(other, SgdConfig::lr(0.1)).unwrap();
    let e = small.load_state_dict(&sgd.state_dict().unwrap()).unwrap_err();
    assert!(e.to_string().contains("param groups"), "{e}");
    sgd.zero_grad();
}

/// After the first step (which allocates the state buffers) a step allocates no buffer: the only
/// allocations left are the two small Vecs (shape, strides) of the gradient handle `Var::grad()` clones.
#[test]
fn steady_state_step_allocates_no_buffers() {
    let (m, p) = (manifest(), problem());
    for on in ["sgd_nesterov_wd", "adamw_amsgrad"] {
        let ps = fresh_params(&p);
        let mut opt = build_opt(&m["optimizers"][on], &ps);
        loss(&ps, &p, 0).unwrap().backward().unwrap();
        opt.step().unwrap();
        let (a0, b0) = (ALLOCS.with(|c| c.get()), BYTES.with(|c| c.get()));
        for _ in 0..5 {
            opt.step().unwrap();
        }
        let (n, bytes) = (ALLOCS.with(|c| c.get()) - a0, BYTES.with(|c| c.get()) - b0);
        assert!(n <= 2 * ps.len() * 5, "{on}: {n} allocations in 5 steady-state steps");
        assert!(bytes <= n * 2 * std::mem::size_of::<usize>(), "{on}: {bytes} bytes in {n} allocations: a buffer was allocated");
    }
}

#[test]
fn parameters_without_grad_are_skipped() {
    let w = Var::new(Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap(), true);
    let v = Var::new(Tensor::from_vec(vec![3.0f32], &[1]).unwrap(), true);
    w.set_grad(Some(Tensor::from_vec(vec![1.0f32, 1.0], &[2]).unwrap()));
    let mut opt = Adam::adamw(vec![ParamGroup::new(vec![w.clone(), v.clone()], AdamConfig::adamw())]).unwrap();
    opt.step().unwrap();
    assert_eq!(v.value().to_vec::<f32>().unwrap(), vec![3.0], "no grad: not even weight decay");
    assert!(opt.state_dict().unwrap().tensor("state.1.exp_avg").is_none());
    assert!(opt.state_dict().unwrap().tensor("state.0.exp_avg").is_some());
}

// ------------------------------------------------------------------ clipping

fn clip_params(c: &BTreeMap<String, Tensor>, case: &str, n: usize) -> Vec<Var> {
    (0..n)
        .map(|i| {
            let g = &c[&format!("{case}.grad{i}")];
            let p = Var::new(Tensor::zeros(g.shape(), g.dtype()).unwrap(), true);
            p.set_grad(Some(g.deep_clone()));
            p
        })
        .collect()
}

fn same_or_close(got: &[f64], want: &[f64], rtol: f64) -> bool {
    got.iter().zip(want).all(|(g, w)| (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= rtol * w.abs())
}

#[test]
fn clip_grad_norm_matches_torch() {
    let (m, c) = (manifest(), load("clip"));
    let rtol = m["tolerance"]["clip_rtol"].as_f64().unwrap();
    for (case, cfg) in m["clip"].as_object().unwrap() {
        if case == "value" {
            continue;
        }
        let n = cfg["n"].as_u64().unwrap() as usize;
        let norm_type = if cfg["norm_type"] == "inf" { f64::INFINITY } else { cfg["norm_type"].as_f64().unwrap() };
        let max_norm = cfg["max_norm"].as_f64().unwrap();
        let want_total = match &cfg["total"] {
            Value::String(s) if s == "inf" => f64::INFINITY,
            Value::String(_) => f64::NAN,
            v => v.as_f64().unwrap(),
        };
        let ps = clip_params(&c, case, n);
        let shared = ps[0].grad().unwrap();
        let res = clip_grad_norm_(&ps, max_norm, norm_type, true);
        assert_eq!(res.is_err(), cfg["raises_if_nonfinite"].as_bool().unwrap(), "{case}: error_if_nonfinite");
        if let Err(e) = res {
            assert!(e.to_string().contains("non-finite"), "{case}: {e}");
            let bits = |t: &Tensor| t.to_vec::<f32>().unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&ps[0].grad().unwrap()), bits(&shared), "{case}: untouched on error");
        }
        let ps = clip_params(&c, case, n);
        let shared = ps[0].grad().unwrap();
        let total = clip_grad_norm_(&ps, max_norm, norm_type, false).unwrap();
        assert!(same_or_close(&[total], &[want_total], rtol), "{case}: total {total} vs torch {want_total}");
        for (i, p) in ps.iter().enumerate() {
            let (got, want) = (p.grad().unwrap().to_vec_f64().unwrap(), c[&format!("{case}.clipped{i}")].to_vec_f64().unwrap());
            assert!(same_or_close(&got, &want, rtol), "{case} grad {i}: {got:?} vs torch {want:?}");
        }
        // the old gradient tensor (which another tensor may share) is left alone
        let bits = |t: &Tensor| t.to_vec::<f32>().unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&shared), bits(&c[&format!("{case}.grad0")]), "{case}: the old gradient tensor was modified");
    }
    let n = m["clip"]["value"]["n"].as_u64().unwrap() as usize;
    let ps = clip_params(&c, "value", n);
    clip_grad_value_(&ps, m["clip"]["value"]["clip"].as_f64().unwrap()).unwrap();
    for (i, p) in ps.iter().enumerate() {
        let (got, want) = (p.grad().unwrap().to_vec_f64().unwrap(), c[&format!("value.clipped{i}")].to_vec_f64().unwrap());
        assert!(same_or_close(&got, &want, 0.0), "clip_grad_value_ grad {i}: {got:?} vs torch {want:?}");
    }
}

