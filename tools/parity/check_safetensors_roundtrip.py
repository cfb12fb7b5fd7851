"""Safetensors round trip between PyTorch and wrt with a small composite model (Conv1d + BatchNorm1d +
MultiheadAttention + LSTM + Linear, plus a float16 and a bfloat16 buffer). Its twin in wrt is
nn/tests/support/composite.rs; both sides use the same state_dict names, shapes and dtypes.

  write-torch  PyTorch -> wrt: writes tests/fixtures/roundtrip/torch_composite.safetensors (the model's
               state_dict, saved by safetensors.torch.save_file) and torch_composite_io.safetensors (an input
               and the eval-mode output). nn/tests/safetensors_roundtrip.rs loads the first into the wrt model
               with strict=true and checks the output.
  check        wrt -> PyTorch (the default): loads a state_dict written by wrt
               (`cargo run -p wrt-nn --example write_roundtrip` writes tests/fixtures/roundtrip/wrt_composite.safetensors
               and wrt_composite_io.safetensors) into the PyTorch model with load_state_dict(strict=True), checks
               that every dtype and shape is PyTorch's own, and that PyTorch's output on the stored input equals
               wrt's. Exits 1 on any mismatch.

    PY=$(../shared/tools/oracle-venv)
    $PY tools/parity/check_safetensors_roundtrip.py write-torch
    $PY tools/parity/check_safetensors_roundtrip.py check [STATE.safetensors IO.safetensors]
"""
import os
import sys

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "roundtrip")
TOL = 1e-5  # max |torch - wrt| of the outputs (float32, values of order 1)


class Composite(nn.Module):
    """x [B, 3, T] -> [B, 2]."""

    def __init__(self):
        super().__init__()
        self.register_buffer("in_scale", torch.linspace(0.5, 1.5, 3).half())
        self.register_buffer("out_scale", torch.tensor([2.0, -0.5]).bfloat16())
        self.conv = nn.Conv1d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm1d(8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.lstm = nn.LSTM(8, 6, batch_first=True)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        x = x * self.in_scale.float()[:, None]
        h = torch.relu(self.bn(self.conv(x))).transpose(1, 2)  # [B, T, 8]
        a, _ = self.attn(h, h, h, need_weights=False)
        y, _ = self.lstm(h + a)
        return self.head(y[:, -1]) * self.out_scale.float()


def write_torch():
    torch.manual_seed(20240611)
    torch.set_num_threads(1)
    m = Composite()
    with torch.no_grad():  # batch norm statistics and the scales away from their defaults
        m.bn.running_mean.copy_(0.3 * torch.randn(8))
        m.bn.running_var.copy_(torch.rand(8) + 0.5)
        m.bn.num_batches_tracked.fill_(7)
        m.bn.weight.copy_(1 + 0.2 * torch.randn(8))
        m.bn.bias.copy_(0.2 * torch.randn(8))
        m.attn.in_proj_bias.copy_(0.1 * torch.randn(24))
        m.in_scale.copy_(torch.tensor([0.75, 1.25, -1.0]).half())
        m.out_scale.copy_(torch.tensor([1.5, -0.75]).bfloat16())
    m.eval()
    x = torch.randn(2, 3, 7)
    with torch.no_grad():
        y = m(x)
    os.makedirs(OUT, exist_ok=True)
    keys = ",".join(m.state_dict().keys())
    save_file(m.state_dict(), os.path.join(OUT, "torch_composite.safetensors"), metadata={"keys": keys})
    save_file({"input": x, "output": y}, os.path.join(OUT, "torch_composite_io.safetensors"))
    print(f"wrote torch_composite.safetensors ({len(m.state_dict())} tensors) and torch_composite_io.safetensors to {OUT}")


def check(state_path, io_path):
    m = Composite()
    own = m.state_dict()
    sd = load_file(state_path)
    ok = True
    for k, v in sd.items():
        if k in own and (v.dtype != own[k].dtype or v.shape != own[k].shape):
            print(f"MISMATCH {k}: wrt wrote {v.dtype} {tuple(v.shape)}, PyTorch has {own[k].dtype} {tuple(own[k].shape)}")
            ok = False
    result = m.load_state_dict(sd, strict=True)
    print(f"load_state_dict(strict=True): {result}; {len(sd)} tensors, dtypes {sorted({str(v.dtype) for v in sd.values()})}")
    io = load_file(io_path)
    m.eval()
    with torch.no_grad():
        y = m(io["input"])
    diff = (y - io["output"]).abs().max().item()
    print(f"output {tuple(y.shape)}: max |torch - wrt| = {diff:.3e} (tolerance {TOL:g})")
    print("torch:", y.flatten().tolist())
    print("wrt:  ", io["output"].flatten().tolist())
    if diff > TOL or not ok:
        print("FAILED")
        sys.exit(1)
    print("OK")


def main():
    args = sys.argv[1:]
    mode = args.pop(0) if args else "check"
    if mode == "write-torch":
        write_torch()
    elif mode == "check":
        state, io = args if args else (os.path.join(OUT, "wrt_composite.safetensors"), os.path.join(OUT, "wrt_composite_io.safetensors"))
        check(state, io)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
