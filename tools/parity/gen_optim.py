"""Reference runs for wrt-train's optimizers, schedulers and gradient clipping (torch.optim on CPU, f32).

Writes tests/fixtures/optim/:
  problem.safetensors   inputs and initial parameters of a small problem: least squares X @ W + b ~ Y, a
                        double well on c, and a term on e that is left out every third step (e has no grad)
  traj.safetensors      for each optimizer x scheduler: `<opt>.<sched>.lr` [200, 2] f64, the lr of each group
                        at each step, and `<opt>.<sched>.traj` [10, 58] f32, all parameters (W, b, c, e
                        flattened) after every 20th step; `<opt>.<sched>.exact` the same with the gradient
                        (p - target) * k, which wrt computes bit for bit like torch (tests the optimizer alone)
  sched.safetensors     lr sequences of schedulers alone (past T_max, milestones given twice, three-phase,
                        warm restarts stepped once per epoch ...): `<name>.lr` and `<name>.momentum` [steps, 2] f64
  plateau.safetensors   ReduceLROnPlateau: scripted metrics and the lrs after each step
  clip.safetensors      clip_grad_norm_ / clip_grad_value_ on fixed gradients (2-norm, inf, non-finite)
  manifest.json         every config, so the Rust tests build exactly what ran here

train/tests/optim_parity.rs and sched_parity.rs replay them.

    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_optim.py [problem traj sched plateau clip]

Naming files rewrites only those (and manifest.json); no names rewrites all. The f32 bits of traj.safetensors
depend on the machine (MKL's sgemm dispatch, ATen's kernels): regenerate it only when its runs change.
"""
import json
import math
import os
import sys

import torch
from safetensors.torch import save_file
from torch.optim.lr_scheduler import (CosineAnnealingLR, CosineAnnealingWarmRestarts, LRScheduler, MultiStepLR,
                                      OneCycleLR, ReduceLROnPlateau, StepLR)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "optim")
STEPS = 200
EVERY = 20
PARAMS = ["W", "b", "c", "e"]


class LinearWarmupCosineAnnealingLR(LRScheduler):
    """pl_bolts.optimizers.lr_scheduler.LinearWarmupCosineAnnealingLR, copied (pl_bolts is not installed)."""

    def __init__(self, optimizer, warmup_epochs, max_epochs, warmup_start_lr=0.0, eta_min=0.0, last_epoch=-1):
        self.warmup_epochs = warmup_epochs
        self.max_epochs = max_epochs
        self.warmup_start_lr = warmup_start_lr
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [self.warmup_start_lr] * len(self.base_lrs)
        if self.last_epoch < self.warmup_epochs:
            return [
                g["lr"] + (base_lr - self.warmup_start_lr) / (self.warmup_epochs - 1)
                for base_lr, g in zip(self.base_lrs, self.optimizer.param_groups)
            ]
        if self.last_epoch == self.warmup_epochs:
            return self.base_lrs
        if (self.last_epoch - 1 - self.max_epochs) % (2 * (self.max_epochs - self.warmup_epochs)) == 0:
            return [
                g["lr"] + (base_lr - self.eta_min) * (1 - math.cos(math.pi / (self.max_epochs - self.warmup_epochs))) / 2
                for base_lr, g in zip(self.base_lrs, self.optimizer.param_groups)
            ]
        return [
            (1 + math.cos(math.pi * (self.last_epoch - self.warmup_epochs) / (self.max_epochs - self.warmup_epochs)))
            / (1 + math.cos(math.pi * (self.last_epoch - self.warmup_epochs - 1) / (self.max_epochs - self.warmup_epochs)))
            * (g["lr"] - self.eta_min)
            + self.eta_min
            for g in self.optimizer.param_groups
        ]


# Each optimizer: kind + per-group settings (group 0 = W, group 1 = b, c, e). Keys follow torch's names.
OPTIMIZERS = {
    "sgd_plain": {"kind": "sgd", "groups": [{"lr": 0.05}, {"lr": 0.02}]},
    "sgd_nesterov_wd": {"kind": "sgd", "groups": [
        {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2},
        {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.0}]},
    "sgd_dampening": {"kind": "sgd", "groups": [
        {"lr": 0.03, "momentum": 0.8, "dampening": 0.3, "weight_decay": 1e-3},
        {"lr": 0.01, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.0, "maximize": False}]},
    "adam": {"kind": "adam", "groups": [{"lr": 1e-2}, {"lr": 5e-3}]},
    "adam_amsgrad_wd": {"kind": "adam", "groups": [
        {"lr": 1e-2, "weight_decay": 1e-2, "amsgrad": True},
        {"lr": 5e-3, "weight_decay": 0.0, "amsgrad": True}]},
    "adamw": {"kind": "adamw", "groups": [{"lr": 1e-2, "weight_decay": 1e-1}, {"lr": 5e-3, "weight_decay": 1e-2}]},
    "adamw_amsgrad": {"kind": "adamw", "groups": [
        {"lr": 2e-2, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 5e-2, "amsgrad": True},
        {"lr": 1e-2, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.0, "amsgrad": True}]},
}

# Schedulers run with each optimizer (stepped after every optimizer step).
SCHEDULERS = {
    "none": {"kind": "none"},
    "step": {"kind": "step", "step_size": 50, "gamma": 0.5},
    "cosine": {"kind": "cosine", "t_max": 200, "eta_min": 1e-4},
    "warmup_cosine": {"kind": "warmup_cosine", "warmup_steps": 20, "max_steps": 200, "warmup_start_lr": 1e-4, "eta_min": 1e-5},
    "onecycle": {"kind": "onecycle", "total_steps": 200},
}

# Schedulers alone (lr sequences only), including regimes the runs above do not reach. Each case: (config, steps)
# over two groups with lrs SCHED_LR, or (config, steps, lrs).
SCHED_LR = [0.1, 0.04]
SCHED_ONLY = {
    "step_3": ({"kind": "step", "step_size": 3, "gamma": 0.7}, 40),
    "multistep": ({"kind": "multistep", "milestones": [5, 12, 12, 30], "gamma": 0.3}, 40),
    "cosine_past_tmax": ({"kind": "cosine", "t_max": 7, "eta_min": 1e-3}, 40),
    "cosine_eta0": ({"kind": "cosine", "t_max": 25, "eta_min": 0.0}, 40),
    "warmup_cosine_past_max": ({"kind": "warmup_cosine", "warmup_steps": 5, "max_steps": 15, "warmup_start_lr": 0.0, "eta_min": 1e-3}, 40),
    "onecycle_three_phase": ({"kind": "onecycle", "total_steps": 40, "three_phase": True, "pct_start": 0.25}, 40),
    "onecycle_linear": ({"kind": "onecycle", "total_steps": 40, "anneal_strategy": "linear", "div_factor": 10.0,
                         "final_div_factor": 100.0, "max_lr": [0.5, 0.2]}, 40),
    # CosineAnnealingWarmRestarts stepped once per epoch (Lightning's interval "epoch": step() without an epoch)
    "cosine_restarts_t10_mult2": ({"kind": "cosine_restarts", "t_0": 10, "t_mult": 2, "eta_min": 0.0}, 80, [0.1, 0.05]),
    "cosine_restarts_t7_mult1_min": ({"kind": "cosine_restarts", "t_0": 7, "t_mult": 1, "eta_min": 1e-3}, 80, [0.1, 0.05]),
    "cosine_restarts_t5_mult3": ({"kind": "cosine_restarts", "t_0": 5, "t_mult": 3, "eta_min": 0.0}, 80, [0.1, 0.05]),
}


def sched_case(v):
    """(config, steps, group lrs) of a SCHED_ONLY entry."""
    return v[0], v[1], (v[2] if len(v) > 2 else SCHED_LR)


def make_problem():
    g = torch.Generator().manual_seed(0)
    t = {
        "input.X": torch.randn(32, 8, generator=g),
        "input.Y": torch.randn(32, 4, generator=g),
        "input.a": torch.randn(6, generator=g),
        "param.W": torch.randn(8, 4, generator=g) * 0.5,
        "param.b": torch.randn(4, generator=g) * 0.1,
        "param.c": torch.randn(16, generator=g),
        "param.e": torch.randn(6, generator=g),
    }
    for n in PARAMS:  # the exact-gradient problem: grad = (p - target) * k, two correctly rounded f32 ops
        shape = t[f"param.{n}"].shape
        t[f"target.{n}"] = torch.randn(shape, generator=g)
        t[f"k.{n}"] = torch.rand(shape, generator=g) * 1.8 + 0.2
    return t


def loss_fn(p, inp, step):
    pred = inp["input.X"] @ p["W"] + p["b"]
    loss = torch.square(pred - inp["input.Y"]).mean()
    loss = loss + torch.square(torch.square(p["c"]) - 1.0).sum() * 0.125
    if step % 3 != 2:  # e gets no gradient on every third step
        loss = loss + (torch.tanh(p["e"]) * inp["input.a"]).sum() + torch.square(p["e"]).sum() * 0.0625
    return loss


def build_opt(cfg, params):
    groups = [{"params": [params["W"]], **cfg["groups"][0]}, {"params": [params["b"], params["c"], params["e"]], **cfg["groups"][1]}]
    for gr in groups:
        if "betas" in gr:
            gr["betas"] = tuple(gr["betas"])
    kind = cfg["kind"]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=0.0, foreach=False)
    if kind == "adam":
        return torch.optim.Adam(groups, foreach=False)
    return torch.optim.AdamW(groups, foreach=False)


def build_sched(cfg, opt):
    k = cfg["kind"]
    if k == "none":
        return None
    if k == "step":
        return StepLR(opt, cfg["step_size"], cfg["gamma"])
    if k == "multistep":
        return MultiStepLR(opt, cfg["milestones"], cfg["gamma"])
    if k == "cosine":
        return CosineAnnealingLR(opt, cfg["t_max"], cfg["eta_min"])
    if k == "cosine_restarts":
        return CosineAnnealingWarmRestarts(opt, cfg["t_0"], cfg["t_mult"], cfg["eta_min"])
    if k == "warmup_cosine":
        return LinearWarmupCosineAnnealingLR(opt, cfg["warmup_steps"], cfg["max_steps"], cfg["warmup_start_lr"], cfg["eta_min"])
    if k == "onecycle":
        max_lr = cfg.get("max_lr", [g["lr"] for g in opt.param_groups])
        kw = {key: cfg[key] for key in ["pct_start", "anneal_strategy", "div_factor", "final_div_factor", "three_phase"] if key in cfg}
        return OneCycleLR(opt, max_lr, total_steps=cfg["total_steps"], **kw)
    raise ValueError(k)


def exact_grads(p, problem, step):
    """Gradients both sides compute bit for bit, to test the optimizers' arithmetic alone."""
    for n in PARAMS:
        if n == "e" and step % 3 == 2:
            continue
        p[n].grad = (p[n].detach() - problem[f"target.{n}"]) * problem[f"k.{n}"]


def run(opt_cfg, sched_cfg, problem, exact):
    params = {n: problem[f"param.{n}"].clone().requires_grad_(True) for n in PARAMS}
    opt = build_opt(opt_cfg, params)
    sched = build_sched(sched_cfg, opt)
    lrs, snaps = [], []
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        if exact:
            exact_grads(params, problem, step)
        else:
            loss_fn(params, problem, step).backward()
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        if sched is not None:
            sched.step()
        if (step + 1) % EVERY == 0:
            snaps.append(torch.cat([params[n].detach().flatten() for n in PARAMS]))
    return torch.tensor(lrs, dtype=torch.float64), torch.stack(snaps)


def sched_only(cfg, steps, lr):
    p = [torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)]
    opt = torch.optim.SGD([{"params": [p[0]], "lr": lr[0]}, {"params": [p[1]], "lr": lr[1]}], momentum=0.9)
    sched = build_sched(cfg, opt)
    lrs, moms = [], []
    for _ in range(steps):
        lrs.append(sched.get_last_lr())
        moms.append([g["momentum"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return torch.tensor(lrs, dtype=torch.float64), torch.tensor(moms, dtype=torch.float64)


PLATEAU = {
    # improvements smaller than the relative threshold count as bad epochs
    "min_rel": ({"mode": "min", "factor": 0.5, "patience": 2, "threshold": 0.1, "threshold_mode": "rel"},
                [1.0, 0.95, 0.92, 0.91, 0.8, 0.79, 0.78, 0.77, 0.5, 0.49, 0.6, 0.7, 0.48, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]),
    "min_abs_cooldown": ({"mode": "min", "factor": 0.3, "patience": 1, "threshold": 0.05, "threshold_mode": "abs",
                          "cooldown": 3, "min_lr": [1e-3, 1e-4]},
                         [2.0, 1.97, 1.96, 1.9, 1.5, 1.49, 1.48, 1.47, 1.46, 1.45, 1.44, 1.43, 1.0, 1.0, 1.0, 1.0, 1.0,
                          1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    "max_rel": ({"mode": "max", "factor": 0.2, "patience": 3, "threshold": 0.01, "threshold_mode": "rel", "cooldown": 1},
                [0.1, 0.2, 0.3, 0.301, 0.302, 0.303, 0.304, 0.5, 0.4, 0.3, 0.2, 0.1, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]),
    "max_abs_floor_eps": ({"mode": "max", "factor": 0.1, "patience": 0, "threshold": 0.5, "threshold_mode": "abs",
                           "min_lr": 1e-3, "eps": 1e-3},
                          [1.0, 1.2, 1.4, 2.0, 2.1, 2.2, 2.3, 3.0, 3.0, 3.0]),
}


def plateau_run(cfg, metrics):
    p = [torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)]
    opt = torch.optim.SGD([{"params": [p[0]], "lr": 0.1}, {"params": [p[1]], "lr": 0.05}])
    sched = ReduceLROnPlateau(opt, **cfg)
    out = []
    for m in metrics:
        sched.step(m)
        out.append(sched.get_last_lr())
    return torch.tensor(out, dtype=torch.float64)


def clip_cases():
    g = torch.Generator().manual_seed(3)
    base = [torch.randn(5, 3, generator=g), torch.randn(7, generator=g) * 3, torch.randn(2, 2, generator=g) * 0.01]
    inf_g = [t.clone() for t in base]
    inf_g[1][2] = float("inf")
    nan_g = [t.clone() for t in base]
    nan_g[0][1, 1] = float("nan")
    cases = {
        "l2_clip": (base, 1.0, 2.0),
        "l2_noclip": (base, 100.0, 2.0),
        "inf_clip": (base, 0.5, float("inf")),
        "l2_inf_grad": (inf_g, 1.0, 2.0),
        "inf_inf_grad": (inf_g, 1.0, float("inf")),
        "l2_nan_grad": (nan_g, 1.0, 2.0),
    }
    tensors, manifest = {}, {}
    for name, (grads, max_norm, norm_type) in cases.items():
        ps = [torch.zeros_like(t, requires_grad=True) for t in grads]
        for p, t in zip(ps, grads):
            p.grad = t.clone()
        raises = False
        try:
            torch.nn.utils.clip_grad_norm_([q for q in [torch.zeros(1, requires_grad=True)]] + ps, max_norm, norm_type, error_if_nonfinite=True)
        except RuntimeError:
            raises = True
        for p, t in zip(ps, grads):
            p.grad = t.clone()
        total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type, error_if_nonfinite=False)
        for i, (p, t) in enumerate(zip(ps, grads)):
            tensors[f"{name}.grad{i}"] = t
            tensors[f"{name}.clipped{i}"] = p.grad
        manifest[name] = {"max_norm": max_norm, "norm_type": "inf" if math.isinf(norm_type) else norm_type,
                          "total": float(total) if math.isfinite(float(total)) else str(float(total)), "raises_if_nonfinite": raises, "n": len(grads)}
    ps = [torch.zeros_like(t, requires_grad=True) for t in nan_g]
    for p, t in zip(ps, nan_g):
        p.grad = t.clone()
    torch.nn.utils.clip_grad_value_(ps, 0.4)
    for i, p in enumerate(ps):
        tensors[f"value.grad{i}"] = nan_g[i]
        tensors[f"value.clipped{i}"] = p.grad
    manifest["value"] = {"clip": 0.4, "n": len(ps)}
    return tensors, manifest


FILES = ["problem", "traj", "sched", "plateau", "clip"]


def main(only):
    unknown = sorted(set(only) - set(FILES))
    if unknown:
        sys.exit(f"unknown fixture file(s) {unknown}; choose from {FILES}")
    only = set(only or FILES)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    problem = make_problem()
    if "problem" in only:
        save_file(problem, os.path.join(OUT, "problem.safetensors"))

    if "traj" in only:
        traj = {}
        for on, oc in OPTIMIZERS.items():
            for sn, sc in SCHEDULERS.items():
                lrs, snaps = run(oc, sc, problem, exact=False)
                traj[f"{on}.{sn}.lr"] = lrs
                traj[f"{on}.{sn}.traj"] = snaps
                traj[f"{on}.{sn}.exact"] = run(oc, sc, problem, exact=True)[1]
        save_file(traj, os.path.join(OUT, "traj.safetensors"))

    if "sched" in only:
        sched = {}
        for name, case in SCHED_ONLY.items():
            lrs, moms = sched_only(*sched_case(case))
            sched[f"{name}.lr"] = lrs
            sched[f"{name}.momentum"] = moms
        save_file(sched, os.path.join(OUT, "sched.safetensors"))

    if "plateau" in only:
        plateau = {f"{n}.lr": plateau_run(c, m) for n, (c, m) in PLATEAU.items()}
        plateau.update({f"{n}.metrics": torch.tensor(m, dtype=torch.float64) for n, (c, m) in PLATEAU.items()})
        save_file(plateau, os.path.join(OUT, "plateau.safetensors"))

    clip_t, clip_m = clip_cases()  # the manifest records its totals
    if "clip" in only:
        save_file({k: v.clone().contiguous() for k, v in clip_t.items()}, os.path.join(OUT, "clip.safetensors"))

    manifest = {
        "torch_version": torch.__version__,
        "script": "tools/parity/gen_optim.py",
        "steps": STEPS,
        "every": EVERY,
        "params": PARAMS,
        "optimizers": OPTIMIZERS,
        "schedulers": SCHEDULERS,
        "sched_only": {n: {"config": c, "steps": s, "optimizer": {"lr": lr, "momentum": 0.9}}
                       for n, (c, s, lr) in ((n, sched_case(v)) for n, v in SCHED_ONLY.items())},
        "plateau": {n: {**c, "lr": [0.1, 0.05]} for n, (c, _) in PLATEAU.items()},
        "clip": clip_m,
        "tolerance": {"traj_rtol": 1e-6, "exact_sgd_rtol": 0.0, "exact_adam_rtol": 1e-6, "lr_rtol": 1e-12, "clip_rtol": 1e-6},
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote", OUT, sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT)), "bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
