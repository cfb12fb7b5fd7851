"""Reference values for wrt-models' `Satformer` (models/tests/satformer_parity.rs), from the plain-torch reference
tools/parity/satformer_ref.py. For each attention variant it writes tests/fixtures/satformer/<slug>.safetensors:

  state.<key>        the state_dict of a small model (CONFIG below; LayerNorms moved off weight 1 / bias 0)
  input              the video [B, T, C, H, W]
  target             int64 class indices [B]
  output.logits      the logits [B, num_classes], in eval mode (dropout is configured at 0.1 but inactive)
  output.loss        F.cross_entropy(logits, target) (mean over the batch), shape [1]
  grad.input         d loss / d input
  grad.<param>       d loss / d param for every parameter the forward uses ("ST" never calls its FF, so those
                     parameters have no gradient in PyTorch: they are listed under `no_grad` in the manifest)

and tests/fixtures/satformer/manifest.json: the torch version, the small config, the tolerances, per variant its
state_dict keys, parameter names and the parameters without gradient, and for the *default* config (dim 512,
depth 12, heads 8, ...) each variant's state_dict keys with shapes and its parameter count (built on the meta
device, so nothing is allocated).

    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_satformer.py
"""
import json
import os
import sys
import zlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from satformer_ref import ATTN_VARIANTS, SaTformer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "satformer")

SLUGS = {"T->S": "t_s", "S->T": "s_t", "ST": "st", "ST^2": "st2"}

# Small enough for a fast test, but every axis is non-trivial: 4 frames of 11 channels, patch 4 (the default
# patch_dim 176, so the (p1 p2 c) feature order is exercised), 4x4 patches per frame, inner width
# heads * dim_head = 48 != dim = 32 (so to_qkv/to_out shapes catch a swapped dimension).
CONFIG = dict(
    dim=32,
    depth=2,
    heads=2,
    dim_head=24,
    num_classes=64,
    image_size=16,
    patch_size=4,
    num_frames=4,
    channels=11,
    attn_dropout=0.1,
    ff_dropout=0.1,
)
BATCH = 2

DEFAULT = dict(dim=512, depth=12, heads=8, dim_head=64, num_classes=64, image_size=32, patch_size=4, num_frames=4, channels=11)

# logits and loss: |wrt - torch| <= atol + rtol |torch| (the 1e-4); gradients: 1e-3 relative, with an
# absolute floor of 1e-3 times the tensor's largest |gradient| for entries that are near zero.
TOLERANCES = {"logits": {"rtol": 1e-4, "atol": 1e-4}, "loss": {"rtol": 1e-4, "atol": 1e-4}, "grad": {"rtol": 1e-3, "floor": 1e-3}}


def perturb_norms(m):
    """LayerNorms start at weight 1, bias 0; move them so a swapped or skipped norm shows in the values."""
    for sub in m.modules():
        if isinstance(sub, torch.nn.LayerNorm):
            with torch.no_grad():
                sub.weight.copy_(1 + 0.2 * torch.randn_like(sub.weight))
                sub.bias.copy_(0.2 * torch.randn_like(sub.bias))


def run(attn):
    slug = SLUGS[attn]
    torch.manual_seed(zlib.crc32(f"satformer_{slug}".encode()))
    m = SaTformer(attn=attn, **CONFIG)
    perturb_norms(m)
    m.eval()
    c = CONFIG
    x = torch.randn(BATCH, c["num_frames"], c["channels"], c["image_size"], c["image_size"], requires_grad=True)
    target = torch.randint(0, c["num_classes"], (BATCH,))
    logits = m(x)
    loss = F.cross_entropy(logits, target)
    loss.backward()
    t = {f"state.{k}": v for k, v in m.state_dict().items()}
    t.update({"input": x.detach(), "target": target, "output.logits": logits.detach(), "output.loss": loss.detach().reshape(1), "grad.input": x.grad})
    no_grad = []
    for k, p in m.named_parameters():
        if p.grad is None:
            no_grad.append(k)
        else:
            t[f"grad.{k}"] = p.grad
    save_file({k: v.detach().clone().contiguous() for k, v in t.items()}, os.path.join(OUT, f"{slug}.safetensors"))
    return {
        "attn": attn,
        "file": f"{slug}.safetensors",
        "keys": list(m.state_dict().keys()),
        "params": [k for k, _ in m.named_parameters()],
        "no_grad": no_grad,
        "num_parameters": sum(p.numel() for p in m.parameters()),
    }


def default_shapes(attn):
    with torch.device("meta"):
        m = SaTformer(attn=attn, **DEFAULT)
    return {
        "num_parameters": sum(p.numel() for p in m.parameters()),
        "state_dict": [[k, list(v.shape)] for k, v in m.state_dict().items()],
    }


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    manifest = {
        "torch": torch.__version__,
        "script": "tools/parity/gen_satformer.py",
        "reference": "tools/parity/satformer_ref.py",
        "config": CONFIG,
        "batch": BATCH,
        "tolerances": TOLERANCES,
        "variants": {SLUGS[a]: run(a) for a in ATTN_VARIANTS},
        "default_config": DEFAULT,
        "default": {SLUGS[a]: default_shapes(a) for a in ATTN_VARIANTS},
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(ATTN_VARIANTS)} variants to {OUT} ({total / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
