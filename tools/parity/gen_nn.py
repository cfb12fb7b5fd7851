"""Reference values for wrt-nn's layers: each case builds one torch.nn layer (or a small nn.Sequential) with a
fixed seed and writes tests/fixtures/nn/<case>.safetensors:

  state.<key>     the layer's state_dict before the forward (norm layers get non-trivial weights and stats)
  input, output   one forward in train mode; grad_output g, and grad.input / grad.<param> of sum(output * g)
  after.<key>     buffers after that forward (BatchNorm's running stats and num_batches_tracked)
  output_eval     the output of a second forward in eval mode (layers whose modes differ)

and the file's metadata entry `names` holds `keys=..;params=..;buffers=..`: the state_dict, named_parameters and
named_buffers names, comma-separated, in PyTorch's order (also in manifest.json). nn/tests/layers_parity.rs builds the same
layer in wrt, loads `state.*` with strict=true and compares.

    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_nn.py
"""
import json
import os
import zlib

import torch
import torch.nn as nn
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "nn")

NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)


def perturb_norms(m):
    """Norm layers start at weight 1, bias 0, mean 0, var 1: move them off that so the test sees each."""
    for sub in m.modules():
        if not isinstance(sub, NORMS):
            continue
        with torch.no_grad():
            if getattr(sub, "weight", None) is not None:
                sub.weight.copy_(1 + 0.2 * torch.randn_like(sub.weight))
            if getattr(sub, "bias", None) is not None:
                sub.bias.copy_(0.2 * torch.randn_like(sub.bias))
            if getattr(sub, "running_mean", None) is not None:
                sub.running_mean.copy_(0.3 * torch.randn_like(sub.running_mean))
                sub.running_var.copy_(torch.rand_like(sub.running_var) + 0.5)
                sub.num_batches_tracked.fill_(3)


# name -> (builder, input shape); ids cases give an int range instead of floats
CASES = {
    # convolutions
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), [2, 3, 10]),
    "conv2d": (lambda: nn.Conv2d(4, 6, 3, padding=1), [2, 4, 7, 7]),
    "conv2d_groups_dilated_nobias": (lambda: nn.Conv2d(4, 6, (3, 2), stride=2, dilation=2, groups=2, bias=False), [2, 4, 9, 8]),
    "conv3d": (lambda: nn.Conv3d(2, 3, 2, padding=1), [1, 2, 4, 4, 4]),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), [2, 4, 5, 5]),
    "conv_transpose2d_groups_nobias": (lambda: nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2, bias=False), [2, 4, 3, 3]),
    "conv_transpose3d": (lambda: nn.ConvTranspose3d(2, 3, 2, stride=2), [1, 2, 3, 3, 3]),
    # normalisations
    "batchnorm1d": (lambda: nn.BatchNorm1d(5), [8, 5]),
    "batchnorm1d_seq": (lambda: nn.BatchNorm1d(5), [4, 5, 6]),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3), [4, 3, 5, 5]),
    "batchnorm2d_cumulative": (lambda: nn.BatchNorm2d(3, momentum=None), [4, 3, 5, 5]),
    "batchnorm2d_noaffine": (lambda: nn.BatchNorm2d(3, affine=False, eps=1e-3, momentum=0.3), [4, 3, 5, 5]),
    "batchnorm2d_notrack": (lambda: nn.BatchNorm2d(3, track_running_stats=False), [4, 3, 5, 5]),
    "batchnorm3d": (lambda: nn.BatchNorm3d(2), [2, 2, 3, 3, 3]),
    "layernorm": (lambda: nn.LayerNorm(8), [3, 4, 8]),
    "layernorm_2d": (lambda: nn.LayerNorm([4, 8], eps=1e-6), [3, 4, 8]),
    "layernorm_nobias": (lambda: nn.LayerNorm(8, bias=False), [3, 4, 8]),
    "layernorm_noaffine": (lambda: nn.LayerNorm(8, elementwise_affine=False), [3, 4, 8]),
    "groupnorm": (lambda: nn.GroupNorm(2, 6), [2, 6, 4, 4]),
    "groupnorm_noaffine": (lambda: nn.GroupNorm(3, 6, eps=1e-4, affine=False), [2, 6, 5]),
    # embedding (ids in [0, 10))
    "embedding": (lambda: nn.Embedding(10, 4), ("ids", [3, 5], 10)),
    "embedding_padding": (lambda: nn.Embedding(10, 4, padding_idx=2), ("ids", [3, 5], 10)),
    # parameter-free layers
    "relu": (lambda: nn.ReLU(), [4, 6]),
    "gelu": (lambda: nn.GELU(), [4, 6]),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), [4, 6]),
    "silu": (lambda: nn.SiLU(), [4, 6]),
    "elu": (lambda: nn.ELU(alpha=0.7), [4, 6]),
    "tanh": (lambda: nn.Tanh(), [4, 6]),
    "sigmoid": (lambda: nn.Sigmoid(), [4, 6]),
    "leaky_relu": (lambda: nn.LeakyReLU(0.1), [4, 6]),
    "identity": (lambda: nn.Identity(), [4, 6]),
    "flatten": (lambda: nn.Flatten(), [2, 3, 4, 5]),
    "flatten_mid": (lambda: nn.Flatten(1, 2), [2, 3, 4, 5]),
    "maxpool2d": (lambda: nn.MaxPool2d(2), [2, 3, 6, 6]),
    "maxpool2d_pad": (lambda: nn.MaxPool2d(3, stride=2, padding=1), [2, 3, 7, 7]),
    "avgpool2d": (lambda: nn.AvgPool2d(2), [2, 3, 6, 6]),
    "avgpool2d_pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), [2, 3, 7, 7]),
    "adaptive_avgpool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), [2, 3, 7, 8]),
    # containers: names 0, 1, 2 ... and a nested list
    "sequential_cnn": (
        lambda: nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 3)
        ),
        [2, 2, 6, 6],
    ),
    "sequential_mlp": (
        lambda: nn.Sequential(nn.Linear(5, 8), nn.LayerNorm(8), nn.GELU(), nn.Dropout(0.0), nn.Linear(8, 2)),
        [3, 5],
    ),
}

TRAIN_EVAL = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def run(name, build, shape):
    torch.manual_seed(zlib.crc32(name.encode()))
    m = build()
    perturb_norms(m)
    m.train()
    sd = {f"state.{k}": v.detach().clone().contiguous() for k, v in m.state_dict().items()}
    if shape[0] == "ids":
        x = torch.randint(0, shape[2], shape[1])
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            x[0, :2] = m.padding_idx  # the padding row must get no gradient
        xin = x
    else:
        x = torch.randn(shape, requires_grad=True)
        xin = x
    y = m(xin)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    t = dict(sd)
    t["input"] = x.detach()
    t["output"] = y.detach()
    t["grad_output"] = g
    if x.is_floating_point():
        t["grad.input"] = x.grad
    for k, p in m.named_parameters():
        t[f"grad.{k}"] = p.grad
    for k, b in m.named_buffers():
        t[f"after.{k}"] = b.detach().clone()
    if any(isinstance(s, TRAIN_EVAL) for s in m.modules()):
        m.eval()
        with torch.no_grad():
            t["output_eval"] = m(xin)
    meta = {
        "keys": ",".join(m.state_dict().keys()),
        "params": ",".join(k for k, _ in m.named_parameters()),
        "buffers": ",".join(k for k, _ in m.named_buffers()),
    }
    # one metadata entry: safetensors writes several in hash order, and the bytes should not change per run
    names = ";".join(f"{k}={v}" for k, v in meta.items())
    save_file({k: v.detach().clone().contiguous() for k, v in t.items()}, os.path.join(OUT, f"{name}.safetensors"), metadata={"names": names})
    return meta


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".safetensors") and f[: -len(".safetensors")] not in CASES:
            os.remove(os.path.join(OUT, f))
    manifest = {}
    for name, (build, shape) in CASES.items():
        meta = run(name, build, shape)
        manifest[name] = {k: (v.split(",") if v else []) for k, v in meta.items()}
    manifest = {"torch": torch.__version__, "cases": manifest}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(CASES)} cases to {OUT} ({total / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
