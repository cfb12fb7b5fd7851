"""Reference values for wrt-models' `Atmodist` (models/tests/atmodist_parity.rs), from the plain-torch reference
tools/parity/atmodist_ref.py. It writes tests/fixtures/atmodist/small.safetensors (float32 unless stated):

  state.<key>        the full state_dict of the small model (CONFIG below) before anything runs; every BatchNorm
                     is moved off its defaults (weight ~ U(0.5, 1.5), bias ~ N(0, 0.1), running_mean ~ N(0, 0.1),
                     running_var ~ U(0.5, 1.5), num_batches_tracked = 3, int64 of shape [])
  input.x1, input.x2 the two states [B, C, H, W] ~ N(0, 1)
  target             int64 class indices [B]
  -- one forward in train mode (batch statistics; both siamese branches update the shared encoder BNs):
  output.emb1, output.emb2   the encoder outputs atm1, atm2 [B, C_last, h, w]
  output.logits      [B, num_classes]
  output.loss        F.cross_entropy(logits, one_hot(target).float()) (the reference's one-hot target; equal to
                     the index-target loss, asserted), shape [1]
  grad.<param>       d loss / d param for every parameter the forward uses (conv3.* never runs: no gradient,
                     listed under `no_grad` in the manifest)
  grad.input.x1, grad.input.x2
  after.<buffer>     every BatchNorm buffer after that forward (running_mean, running_var, num_batches_tracked;
                     encoder BNs 3 -> 5, head BNs 3 -> 4, conv3.1 unchanged at 3)
  -- one torch.optim.SGD(lr 0.01, momentum 0.9, weight_decay 1e-5) step with those gradients:
  sgd.<param>        every parameter after the step (conv3.* has no gradient, so SGD leaves it unchanged)
  -- then model.eval() and, under no_grad, on the same inputs (updated parameters and running stats):
  eval.logits        [B, num_classes]
  eval.emb1          embed(x1) = encoder(x1).flatten(1), [B, C_last * h * w]

and tests/fixtures/atmodist/manifest.json: the torch version, the small config, B/H/W, the tolerances, the small
model's state_dict keys, parameter names and `no_grad`, and under `configs` the seed ([16,32,64,128]), repo
([16,32,64]) and large ([32,64,128,256]) configs at 32x32: state_dict keys with shapes, parameter counts (with and
without the unused conv3, and of the encoder alone) and the emb/logits shapes (built on the meta device).

    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_atmodist.py
"""
import json
import os
import sys
import zlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from atmodist_ref import Atmodist  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "atmodist")

# Every axis small but distinct: 5 input channels, stem 8 channels, two stages (8 -> 8 with the strided identity
# shortcut at block 0, 8 -> 16 with the 1x1 conv shortcut at block 2), head width 16 != stack 32 != classes 8.
# Spatial: 16 -stem-> 8 -stage0-> 4 -stage1-> 2 -conv1-> 1, so the embedding is [B, 16, 2, 2] and the concatenated
# head input [B, 32, 2, 2] (conv1's stride 2 and padding really act).
CONFIG = dict(
    num_classes=8,
    res_in_channels=5,
    res_out_channels_list=[8, 16],
    out_conv_channels=8,
    conv_kernel_size=8,
    stride=2,
    num_blocks=2,
    downstream_stack_channels=None,
    downstream_channels=16,
    downstream_kernel_size=3,
    downstream_fin_shape=1,
)
B, H, W = 6, 16, 16

SGD = dict(lr=0.01, momentum=0.9, weight_decay=1e-5)
BN_INIT_TRACKED = 3

# forward values (output.*, eval.*): |wrt - torch| <= atol + rtol |torch|; gradients: 1e-3 relative with an
# absolute floor of 1e-3 times the tensor's largest |gradient|; running stats (after.*): absolute, and
# num_batches_tracked exact. sgd.* = param - 0.01 * (grad + 1e-5 param) on the first step (momentum buffer =
# gradient), so the gradient tolerance times lr fits inside the forward tolerance.
TOLERANCES = {"forward": {"rtol": 1e-4, "atol": 1e-4}, "grad": {"rtol": 1e-3, "floor": 1e-3}, "running_stats": {"atol": 1e-6}}

SIZE_CONFIGS = {
    "seed": [16, 32, 64, 128],  # the seed's docs/training_guide.md
    "repo": [16, 32, 64],  # configs/lightning_example.yaml
    "large": [32, 64, 128, 256],  # the guide's multi-model model_large
}
SIZE_HW = 32


def perturb_bns(m):
    """Move every BatchNorm off weight 1 / bias 0 / mean 0 / var 1 / 0 batches, so a skipped or misordered norm,
    or a wrong momentum or unbiased-variance update, shows in the values."""
    with torch.no_grad():
        for sub in m.modules():
            if isinstance(sub, torch.nn.BatchNorm2d):
                sub.weight.copy_(torch.empty_like(sub.weight).uniform_(0.5, 1.5))
                sub.bias.copy_(0.1 * torch.randn_like(sub.bias))
                sub.running_mean.copy_(0.1 * torch.randn_like(sub.running_mean))
                sub.running_var.copy_(torch.empty_like(sub.running_var).uniform_(0.5, 1.5))
                sub.num_batches_tracked.fill_(BN_INIT_TRACKED)


def bn_buffer_keys(m):
    return [k for k, _ in m.named_buffers()]


def snap(t):
    return t.detach().clone().contiguous()


def expected_shapes(cfg, h, w):
    """Encoder output and logits shapes by the spec's size formula (conv out = floor((n + 2p - k) / s) + 1)."""
    k = cfg["conv_kernel_size"]
    p = (k - 1) // 2
    h = (h + 2 * p - k) // cfg["stride"] + 1
    w = (w + 2 * p - k) // cfg["stride"] + 1
    for _ in cfg["res_out_channels_list"]:
        h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    return [cfg["res_out_channels_list"][-1], h, w]


def small():
    torch.manual_seed(zlib.crc32(b"atmodist"))
    m = Atmodist(**CONFIG)
    perturb_bns(m)
    keys = list(m.state_dict().keys())
    params = [k for k, _ in m.named_parameters()]
    t = {f"state.{k}": snap(v) for k, v in m.state_dict().items()}

    x1 = torch.randn(B, CONFIG["res_in_channels"], H, W, requires_grad=True)
    x2 = torch.randn(B, CONFIG["res_in_channels"], H, W, requires_grad=True)
    target = torch.randint(0, CONFIG["num_classes"], (B,))
    assert len(set(target.tolist())) >= 4, target
    t.update({"input.x1": snap(x1), "input.x2": snap(x2), "target": target.clone()})

    # train-mode forward and backward
    m.train()
    emb1, emb2, logits = m(x1, x2)
    c, h, w = expected_shapes(CONFIG, H, W)
    assert list(emb1.shape) == [B, c, h, w] == list(emb2.shape), (emb1.shape, (c, h, w))
    assert list(logits.shape) == [B, CONFIG["num_classes"]], logits.shape
    loss = F.cross_entropy(logits, F.one_hot(target, CONFIG["num_classes"]).float())
    loss_idx = F.cross_entropy(logits, target)
    assert torch.allclose(loss, loss_idx, rtol=1e-6, atol=1e-7), (loss.item(), loss_idx.item())
    loss.backward()
    t.update({"output.emb1": snap(emb1), "output.emb2": snap(emb2), "output.logits": snap(logits), "output.loss": snap(loss).reshape(1)})
    t.update({"grad.input.x1": snap(x1.grad), "grad.input.x2": snap(x2.grad)})
    no_grad = []
    for k, p in m.named_parameters():
        if p.grad is None:
            no_grad.append(k)
        else:
            t[f"grad.{k}"] = snap(p.grad)
    assert no_grad == [k for k in params if k.startswith("conv3.")], no_grad

    buffers = dict(m.named_buffers())
    for k, v in buffers.items():
        t[f"after.{k}"] = snap(v)
        if k.endswith("num_batches_tracked"):
            want = BN_INIT_TRACKED + (2 if k.startswith("encoder.") else 0 if k.startswith("conv3.") else 1)
            assert v.item() == want, (k, v.item(), want)

    # one SGD step with those gradients
    opt = torch.optim.SGD(m.parameters(), **SGD)
    opt.step()
    for k, p in m.named_parameters():
        t[f"sgd.{k}"] = snap(p)
        if k in no_grad:
            assert torch.equal(p, t[f"state.{k}"]), k

    # eval-mode forward with the updated parameters and running stats
    m.eval()
    with torch.no_grad():
        _, _, ev_logits = m(t["input.x1"], t["input.x2"])
        ev_emb1 = m.embed(t["input.x1"])
    assert list(ev_emb1.shape) == [B, c * h * w], ev_emb1.shape
    t.update({"eval.logits": snap(ev_logits), "eval.emb1": snap(ev_emb1)})

    # strided-identity shortcut == the reference's max_pool2d(kernel 1, stride)
    z = torch.randn(2, 3, 5, 4)
    assert torch.equal(z[:, :, ::2, ::2], F.max_pool2d(z, kernel_size=1, stride=2))

    save_file(t, os.path.join(OUT, "small.safetensors"))
    nbt = t[f"state.{next(k for k in keys if k.endswith('num_batches_tracked'))}"]
    return {
        "file": "small.safetensors",
        "keys": keys,
        "params": params,
        "buffers": bn_buffer_keys(m),
        "no_grad": no_grad,
        "num_parameters": sum(p.numel() for p in m.parameters()),
        "num_batches_tracked_shape": list(nbt.shape),
        "emb_shape": [B, c, h, w],
        "eval_emb_shape": [B, c * h * w],
        "tensors": {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)} for k, v in sorted(t.items())},
    }


def size_config(channels):
    cfg = dict(num_classes=8, res_in_channels=5, res_out_channels_list=channels)
    with torch.device("meta"):
        m = Atmodist(**cfg)
        m.eval()
        x = torch.empty(2, 5, SIZE_HW, SIZE_HW)
        emb, _, logits = m(x, x)
    n_all = sum(p.numel() for p in m.parameters())
    n_conv3 = sum(p.numel() for k, p in m.named_parameters() if k.startswith("conv3."))
    n_enc = sum(p.numel() for p in m.encoder.parameters())
    full = dict(cfg, out_conv_channels=16, conv_kernel_size=8, stride=2, num_blocks=6, downstream_stack_channels=2 * channels[-1], downstream_channels=64, downstream_kernel_size=3, downstream_fin_shape=1)
    assert list(emb.shape[1:]) == expected_shapes(full, SIZE_HW, SIZE_HW), emb.shape
    return {
        "config": full,
        "input_hw": [SIZE_HW, SIZE_HW],
        "num_parameters": n_all,
        "num_parameters_without_conv3": n_all - n_conv3,
        "num_parameters_encoder": n_enc,
        "emb_shape": ["B"] + list(emb.shape[1:]),
        "embed_dim": emb.shape[1:].numel(),
        "logits_shape": ["B"] + list(logits.shape[1:]),
        "state_dict": [[k, list(v.shape)] for k, v in m.state_dict().items()],
    }


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    os.makedirs(OUT, exist_ok=True)
    s = small()
    configs = {name: size_config(ch) for name, ch in SIZE_CONFIGS.items()}
    # the spec's counts for the seed config
    seed = configs["seed"]
    assert seed["num_parameters_encoder"] == 2_274_992, seed["num_parameters_encoder"]
    assert seed["num_parameters"] == 2_497_264, seed["num_parameters"]
    assert seed["num_parameters_without_conv3"] == 2_460_208, seed["num_parameters_without_conv3"]
    manifest = {
        "torch": torch.__version__,
        "script": "tools/parity/gen_atmodist.py",
        "reference": "tools/parity/atmodist_ref.py",
        "rng": "torch.manual_seed(zlib.crc32(b'atmodist')), one thread, float32",
        "config": CONFIG,
        "B": B,
        "H": H,
        "W": W,
        "bn_init": {"weight": "U(0.5,1.5)", "bias": "N(0,0.1)", "running_mean": "N(0,0.1)", "running_var": "U(0.5,1.5)", "num_batches_tracked": BN_INIT_TRACKED},
        "loss": "F.cross_entropy(logits, one_hot(target).float()), mean over the batch",
        "sgd": SGD,
        "tolerances": TOLERANCES,
        "keys": s.pop("keys"),
        "params": s.pop("params"),
        "no_grad": s.pop("no_grad"),
        "num_batches_tracked_shape": s.pop("num_batches_tracked_shape"),
        "small": s,
        "configs": configs,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")
    for name, c in configs.items():
        print(f"{name}: params {c['num_parameters']} (without conv3 {c['num_parameters_without_conv3']}, encoder {c['num_parameters_encoder']}), emb {c['emb_shape']}, logits {c['logits_shape']}")


if __name__ == "__main__":
    main()
