"""Reference values for wrt-nn's losses (nn/src/loss.rs): each case calls one torch.nn.functional loss (or, for
the quantile loss, a hand-written torch reference) on small seeded f32 inputs and writes
tests/fixtures/loss/<case>.safetensors:

  input, target     the loss's inputs (target is I64 class indices for cross_entropy / nll_loss)
  weight, pos_weight  when the case has them
  output            the loss (a 0-d tensor for mean/sum, one per element for none)
  grad_output g     and grad.input / grad.target: gradients of sum(output * g) (grad.target for float targets)

The arguments of each case (reduction, beta, ...) are in CASES below and repeated in nn/tests/loss_parity.rs.

    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_loss.py
"""
import json
import os
import zlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "loss")


def quantile_loss(preds, target, quantiles, reduction):
    """TFT / pytorch-forecasting QuantileLoss (without its factor 2): pinball loss per quantile, summed over
    quantiles per element, then averaged over the elements of target ('mean')."""
    losses = []
    for i, q in enumerate(quantiles):
        e = target - preds[..., i]
        losses.append(torch.max((q - 1) * e, q * e).unsqueeze(-1))
    loss = torch.cat(losses, dim=-1)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum(-1).mean()


# name -> (loss, input shape, kwargs); special keys: "classes" (int targets with C classes), "ignore_at" (put
# ignore_index at flat position 1), "weight"/"pos_weight" (shapes), "log_probs" (input = log_softmax over dim 1),
# "scale" (input multiplied by it)
CASES = {
    "ce_mean": ("cross_entropy", [4, 5], dict(classes=5, reduction="mean")),
    "ce_weight_ignore_smooth_sum": ("cross_entropy", [6, 5], dict(classes=5, weight=[5], ignore_at=-100, label_smoothing=0.1, reduction="sum")),
    "ce_spatial_none": ("cross_entropy", [2, 4, 3], dict(classes=4, reduction="none")),
    "nll_mean": ("nll_loss", [5, 4], dict(classes=4, log_probs=True, reduction="mean")),
    "nll_weight_ignore_mean": ("nll_loss", [6, 4], dict(classes=4, log_probs=True, weight=[4], ignore_at=1, ignore_index=1, reduction="mean")),
    "nll_spatial_weight_none": ("nll_loss", [2, 3, 4], dict(classes=3, log_probs=True, weight=[3], reduction="none")),
    "nll_spatial_sum": ("nll_loss", [2, 3, 4], dict(classes=3, log_probs=True, ignore_at=-100, reduction="sum")),
    "nll_unbatched": ("nll_loss", [5], dict(classes=5, log_probs=True, reduction="mean")),
    "bce_mean": ("binary_cross_entropy_with_logits", [4, 3], dict(reduction="mean")),
    "bce_weight_posweight_sum": ("binary_cross_entropy_with_logits", [4, 3], dict(weight=[3], pos_weight=[3], reduction="sum")),
    "bce_posweight_mean": ("binary_cross_entropy_with_logits", [2, 3, 4], dict(pos_weight=[4], reduction="mean")),
    "bce_large_none": ("binary_cross_entropy_with_logits", [3, 4], dict(scale=30.0, reduction="none")),
    "mse_mean": ("mse_loss", [3, 4], dict(reduction="mean")),
    "mse_sum": ("mse_loss", [3, 4], dict(reduction="sum")),
    "mse_none": ("mse_loss", [2, 3, 2], dict(reduction="none")),
    "l1_mean": ("l1_loss", [3, 4], dict(reduction="mean")),
    "l1_none": ("l1_loss", [2, 5], dict(reduction="none")),
    "smooth_l1_mean": ("smooth_l1_loss", [4, 5], dict(beta=0.5, reduction="mean")),
    "smooth_l1_none": ("smooth_l1_loss", [4, 5], dict(beta=1.0, reduction="none")),
    "smooth_l1_beta0_sum": ("smooth_l1_loss", [3, 4], dict(beta=0.0, reduction="sum")),
    "huber_mean": ("huber_loss", [4, 5], dict(delta=1.0, reduction="mean")),
    "huber_none": ("huber_loss", [4, 5], dict(delta=0.3, reduction="none")),
    "quantile_mean": ("quantile", [3, 4, 3], dict(quantiles=[0.1, 0.5, 0.9], reduction="mean")),
    "quantile_sum": ("quantile", [2, 5, 2], dict(quantiles=[0.25, 0.75], reduction="sum")),
    "quantile_none": ("quantile", [3, 4, 3], dict(quantiles=[0.02, 0.5, 0.98], reduction="none")),
}


def run(name, fn, shape, kw):
    torch.manual_seed(zlib.crc32(name.encode()))
    kw = dict(kw)
    t = {}
    x = torch.randn(shape)
    if kw.pop("log_probs", False):
        x = torch.log_softmax(x, dim=0 if len(shape) == 1 else 1)
    x = x * kw.pop("scale", 1.0)
    x.requires_grad_(True)
    n_classes = kw.pop("classes", None)
    ignore_at = kw.pop("ignore_at", None)
    if n_classes is not None:
        tshape = [] if len(shape) == 1 else [shape[0]] + shape[2:]
        y = torch.randint(0, n_classes, tshape)
        if ignore_at is not None:
            y.view(-1)[1] = ignore_at
    elif fn == "binary_cross_entropy_with_logits":
        y = torch.rand(shape, requires_grad=True)
    elif fn == "quantile":
        y = torch.randn(shape[:-1], requires_grad=True)
    else:
        y = torch.randn(shape, requires_grad=True)
    for k in ("weight", "pos_weight"):
        if k in kw:
            kw[k] = t[k] = torch.rand(kw[k]) + 0.5
    if fn == "quantile":
        out = quantile_loss(x, y, kw["quantiles"], kw["reduction"])
    else:
        out = getattr(F, fn)(x, y, **kw)
    g = torch.randn_like(out)
    (out * g).sum().backward()
    t.update(input=x.detach(), target=y.detach(), output=out.detach(), grad_output=g, **{"grad.input": x.grad})
    if y.is_floating_point():
        t["grad.target"] = y.grad
    save_file({k: v.detach().clone().contiguous() for k, v in t.items()}, os.path.join(OUT, f"{name}.safetensors"))


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".safetensors") and f[: -len(".safetensors")] not in CASES:
            os.remove(os.path.join(OUT, f))
    for name, (fn, shape, kw) in CASES.items():
        run(name, fn, shape, kw)
    manifest = {"torch": torch.__version__, "cases": {n: {"fn": fn, "shape": s, **kw} for n, (fn, s, kw) in CASES.items()}}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(CASES)} cases to {OUT} ({total / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
