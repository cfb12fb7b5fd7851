"""Reference runs for wrt-train's gradient scaler (torch.amp.GradScaler("cpu") with SGD, f32).

Writes tests/fixtures/optim/grad_scaler.json: for each config in CASES, a scripted 40-step run of one parameter
p (f32 [3], initially [1.0, -2.0, 0.5]) under torch.optim.SGD(lr 0.1, foreach=False). At step t (0-based)
w_t = f32([1, 2, 3]) * ((t + 1) / 10) and loss = (p * w_t).sum(), multiplied by float("inf") at the steps in
OVERFLOW_STEPS (then every scaled gradient is +inf). Each step runs, in this order:

    opt.zero_grad(); scaler.scale(loss).backward(); scaler.unscale_(opt)
    clip_grad_norm_(p, 10.0); scaler.step(opt); scaler.update()

JSON layout: {"torch", "script", "clip_max_norm", "lr", "p_init", "cases": {name: {"config", "overflow_steps",
"steps": [...], "state_dict"}}}. Each step records
  t, w (w_t), loss (unscaled forward value), scale_before (get_scale() before scale()),
  grad_scaled (p.grad after backward), grad (p.grad after unscale_), found_inf (the scaler's found_inf after
  unscale_), total_norm (what clip_grad_norm_ returned), grad_clipped (p.grad after clipping),
  skipped (p before step == p after, elementwise), p_after, scale_after (get_scale() after update()),
  growth_tracker_after (the scaler's _growth_tracker after update()).
state_dict is scaler.state_dict() after the last step. Floats are Python floats (f32 values widened with float()),
written with repr so they round-trip exactly; non-finite values are the strings "inf", "-inf", "nan".
train/tests/grad_scaler.rs replays them.

    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_grad_scaler.py

What torch does (torch/amp/grad_scaler.py, and the CPU kernels of aten/src/ATen/native/cpu/AmpGradScalerKernels.cpp
behind torch._amp_foreach_non_finite_check_and_unscale_ and torch._amp_update_scale_):

State. scale: a 0-dim f32 tensor, created lazily by the first scale() as f32(init_scale) (so init_scale is rounded to
  f32); before that get_scale() returns init_scale itself. growth_tracker: a 0-dim i32 tensor, created with it,
  starting at 0 (or at a loaded state_dict's "_growth_tracker"). growth_factor (must be > 1), backoff_factor
  (must be < 1) and growth_interval are kept as Python float/float/int.
scale(loss) returns loss * scale (f32), so backward leaves grad = f32(scale * dloss/dp).
unscale_(opt). inv_scale = f32(1.0 / f64(scale)) (reciprocal in f64, rounded once to f32). For every grad of the
  optimizer's params (None skipped; f16 grads refused): if any element of the *scaled* grad is inf or NaN,
  found_inf = 1.0 (a fresh f32 0-dim tensor, zeroed per unscale_); every element becomes f32(g * inv_scale), or is
  left as is when inv_scale == 1.0. Non-finite grads are unscaled too (inf stays inf). Calling unscale_ twice
  between updates raises.
step(opt). Calls unscale_ first if it was not called. If found_inf != 0 the optimizer step is skipped entirely (no
  parameter or optimizer-state change; SGD momentum buffers are not touched), else opt.step() runs on the already
  unscaled (and here clipped) grads.
update(). With the found_inf of this iteration's optimizers (summed over optimizers/devices):
    if found_inf != 0:                    # any skipped step this iteration
        scale = f32(f64(scale) * backoff_factor)    # no finiteness or lower bound check
        growth_tracker = 0                # an overflow resets the count of good steps
    else:
        successful = growth_tracker + 1   # this step was good
        if successful == growth_interval:     # exact equality, not >=
            new = f32(f64(scale) * growth_factor)
            if isfinite(new): scale = new     # never grows to inf; otherwise the scale stays
            growth_tracker = 0                # reset whether or not the scale grew
        else:
            growth_tracker = successful
  So the scale grows on the growth_interval-th consecutive good step (counting from the start or from the last
  overflow or growth), i.e. after the update of that step; the good steps are counted per update() call, not per
  optimizer. A tracker at or above growth_interval (only by loading a state_dict or lowering the interval) never
  equals it again until it wraps, so the scale then never grows. update(new_scale) instead just sets scale
  (fill_/copy_) and leaves growth_tracker alone. Every update() clears the per-optimizer state (next unscale_ fresh).
state_dict(): {"scale": get_scale() (float of the f32), "growth_factor", "backoff_factor", "growth_interval",
  "_growth_tracker": int}. load_state_dict sets scale (rounded to f32 when the tensor exists) and the tracker.

clip_grad_norm_(p, 10.0) (f32): total = ||g||_2, coef = min(10 / (total + 1e-6), 1.0), g *= coef. Finite grads
have norm sqrt(14) * (t + 1) / 10, so steps 0..25 are left as they are (coef 1.0, an exact multiply) and steps
26..39 are clipped to norm ~10. On an overflow step total = inf, coef = 10 / inf = 0 and inf * 0 makes the clipped
grad NaN; the step is skipped anyway. Case A's scales are powers of two, so its unscaled grads equal w_t exactly;
case B's (24, 6, 1.5, 4.5, 1.125, 3.375, ...) give rounded inv_scales and unscaled grads off w_t by an ulp at some
steps (7, 8, 17, ...), which tests the f64-reciprocal-then-f32 rule.
"""
import json
import math
import os

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "optim", "grad_scaler.json")
STEPS = 40
LR = 0.1
CLIP = 10.0
P_INIT = [1.0, -2.0, 0.5]
OVERFLOW_STEPS = [3, 4, 10, 25]
CASES = {
    # growth within 40 steps: interval 5, overflows at 3, 4 (back to back), 10 and 25
    "A": {"init_scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 5},
    # scales that are not powers of two (inv_scale is rounded), growth every 3 good steps
    "B": {"init_scale": 8.0, "growth_factor": 3.0, "backoff_factor": 0.25, "growth_interval": 3},
}


def num(x):
    """A float as JSON: itself when finite, else "inf" / "-inf" / "nan"."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def vec(t):
    return [num(v) for v in t.detach().reshape(-1).tolist()]


def dump(out):
    """indent-1 JSON with each step on one line (small, and diffs show the steps that changed)."""
    steps = {}

    def mark(c):
        steps[len(steps)] = c["steps"]
        return {**c, "steps": f"@STEPS{len(steps) - 1}@"}

    text = json.dumps({**out, "cases": {n: mark(c) for n, c in out["cases"].items()}}, indent=1, allow_nan=False)
    for i, rows in steps.items():
        body = ",\n".join("   " + json.dumps(r, allow_nan=False) for r in rows)
        text = text.replace(f'"@STEPS{i}@"', "[\n" + body + "\n  ]")
    return text + "\n"


def run(cfg):
    p = torch.tensor(P_INIT, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.SGD([p], lr=LR, foreach=False)
    scaler = torch.amp.GradScaler("cpu", **cfg)
    steps = []
    for t in range(STEPS):
        w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float32) * ((t + 1) / 10)
        rec = {"t": t, "w": vec(w)}
        opt.zero_grad()
        loss = (p * w).sum()
        if t in OVERFLOW_STEPS:
            loss = loss * float("inf")
        rec["loss"] = num(loss.item())
        rec["scale_before"] = scaler.get_scale()
        scaler.scale(loss).backward()
        rec["grad_scaled"] = vec(p.grad)
        scaler.unscale_(opt)
        found = sum(v.item() for v in scaler._per_optimizer_states[id(opt)]["found_inf_per_device"].values())
        rec["found_inf"] = bool(found)
        rec["grad"] = vec(p.grad)
        assert rec["found_inf"] == (not bool(torch.isfinite(p.grad).all())) == (t in OVERFLOW_STEPS)
        rec["total_norm"] = num(torch.nn.utils.clip_grad_norm_(p, CLIP))
        rec["grad_clipped"] = vec(p.grad)
        before = p.detach().clone()
        scaler.step(opt)
        scaler.update()
        rec["skipped"] = bool(torch.equal(before, p.detach()))
        assert rec["skipped"] == rec["found_inf"]
        rec["p_after"] = vec(p)
        rec["scale_after"] = scaler.get_scale()
        rec["growth_tracker_after"] = scaler._get_growth_tracker()
        steps.append(rec)
    return {"config": cfg, "overflow_steps": OVERFLOW_STEPS, "steps": steps, "state_dict": scaler.state_dict()}


def main():
    torch.set_num_threads(1)
    out = {
        "torch": torch.__version__,
        "script": "tools/parity/gen_grad_scaler.py",
        "lr": LR,
        "clip_max_norm": CLIP,
        "p_init": P_INIT,
        "cases": {name: run(cfg) for name, cfg in CASES.items()},
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(dump(out))
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
