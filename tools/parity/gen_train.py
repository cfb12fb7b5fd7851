"""Reference training runs for wrt's autograd: a 2-layer MLP and a small CNN, each trained 50 full-batch steps of
plain SGD in float32 with PyTorch. Writes the data, the initial weights and the per-step losses to
tests/fixtures/train/<case>.safetensors; autograd/tests/parity_train.rs replays the run in wrt and compares the loss
curve (and final weights) within 1e-4.

    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_train.py
"""
import json
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "train")
STEPS = 50


def mlp_case():
    g = torch.Generator().manual_seed(0)
    n, d, h, c = 64, 10, 32, 4
    x = torch.randn(n, d, generator=g)
    # learnable labels: argmax of a random linear map
    y = (x @ torch.randn(d, c, generator=g)).argmax(1)
    w1 = (torch.rand(h, d, generator=g) * 2 - 1) / d**0.5
    b1 = (torch.rand(h, generator=g) * 2 - 1) / d**0.5
    w2 = (torch.rand(c, h, generator=g) * 2 - 1) / h**0.5
    b2 = (torch.rand(c, generator=g) * 2 - 1) / h**0.5
    init = {"param.w1": w1, "param.b1": b1, "param.w2": w2, "param.b2": b2}
    params = [t.clone().requires_grad_(True) for t in (w1, b1, w2, b2)]
    lr = 0.5
    losses = []
    for _ in range(STEPS):
        p1, q1, p2, q2 = params
        logits = F.relu(x @ p1.T + q1) @ p2.T + q2
        loss = F.cross_entropy(logits, y)
        for p in params:
            p.grad = None
        loss.backward()
        losses.append(loss.item())
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
    tensors = {"input.x": x, "input.y": y, "output.losses": torch.tensor(losses, dtype=torch.float64)}
    tensors.update(init)
    tensors.update({f"output.final.{k.split('.')[1]}": p.detach() for k, p in zip(init, params)})
    return tensors, {"lr": lr, "steps": STEPS}


def cnn_case():
    g = torch.Generator().manual_seed(1)
    n, c_in, hw, c1, k = 16, 1, 12, 4, 3
    x = torch.randn(n, c_in, hw, hw, generator=g)
    # label: which quadrant holds the largest mean
    q = torch.stack([x[:, 0, :6, :6].mean((1, 2)), x[:, 0, :6, 6:].mean((1, 2)), x[:, 0, 6:, :].mean((1, 2))], 1)
    y = q.argmax(1)
    conv_w = (torch.rand(c1, c_in, k, k, generator=g) * 2 - 1) / (c_in * k * k) ** 0.5
    conv_b = (torch.rand(c1, generator=g) * 2 - 1) / (c_in * k * k) ** 0.5
    fan = c1 * 6 * 6
    fc_w = (torch.rand(3, fan, generator=g) * 2 - 1) / fan**0.5
    fc_b = (torch.rand(3, generator=g) * 2 - 1) / fan**0.5
    init = {"param.conv_w": conv_w, "param.conv_b": conv_b, "param.fc_w": fc_w, "param.fc_b": fc_b}
    params = [t.clone().requires_grad_(True) for t in (conv_w, conv_b, fc_w, fc_b)]
    lr = 0.1
    losses = []
    for _ in range(STEPS):
        cw, cb, fw, fb = params
        h = F.max_pool2d(F.relu(F.conv2d(x, cw, cb, padding=1)), 2)
        logits = h.flatten(1) @ fw.T + fb
        loss = F.cross_entropy(logits, y)
        for p in params:
            p.grad = None
        loss.backward()
        losses.append(loss.item())
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
    tensors = {"input.x": x, "input.y": y, "output.losses": torch.tensor(losses, dtype=torch.float64)}
    tensors.update(init)
    tensors.update({f"output.final.{k.split('.')[1]}": p.detach() for k, p in zip(init, params)})
    return tensors, {"lr": lr, "steps": STEPS}


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    manifest = {"torch_version": torch.__version__, "script": "tools/parity/gen_train.py", "cases": []}
    for name, fn in [("mlp_sgd", mlp_case), ("cnn_sgd", cnn_case)]:
        tensors, cfg = fn()
        save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, f"{name}.safetensors"))
        manifest["cases"].append({"name": name, "config": cfg, "loss_atol": 1e-4, "weight_atol": 1e-4})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
