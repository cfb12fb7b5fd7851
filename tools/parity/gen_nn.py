"""Reference values for wrt-nn's layers: each case builds one torch.nn layer (or a small nn.Sequential) with a
fixed seed and writes tests/fixtures/nn/<case>.safetensors:

  state.<key>     the layer's state_dict before the forward (norm layers get non-trivial weights and stats)
  input, output   one forward in train mode; grad_output g, and grad.input / grad.<param> of sum(output * g)
  after.<key>     buffers after that forward (BatchNorm's running stats and num_batches_tracked)
  output_eval     the output of a second forward in eval mode (layers whose modes differ)

and the file's metadata entry `names` holds `keys=..;params=..;buffers=..`: the state_dict, named_parameters and
named_buffers names, comma-separated, in PyTorch's order (also in manifest.json). nn/tests/layers_parity.rs builds the same
layer in wrt, loads `state.*` with strict=true and compares.

Layers with several inputs or outputs (MultiheadAttention, TransformerEncoder(Layer), LSTM; SEQ_CASES, read by
nn/tests/seq_parity.rs) write instead

  state.<key>                       as above
  in.<name>                         each input; float inputs get grad.in.<name>, masks (mask.<name>) get none
  out.<name>, gout.<name>           each float output and its grad_output; the backward is of sum_k sum(out_k * gout_k)
  grad.in.<name>, grad.<param>      the gradients

All fixtures use dropout 0 (random streams differ between wrt and PyTorch).

    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_nn.py            # every case
    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_nn.py lstm_nobias  # only the named cases
"""
import json
import os
import sys
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

# --- layers with several inputs / outputs -------------------------------------------------------------------------
# Masks never cover key 0, so no query row is fully masked (PyTorch gives NaN rows there; wrt's fused attention zeros).


def causal_bool(n, s=None):
    """True above the diagonal: PyTorch's "not allowed" convention of nn.MultiheadAttention / nn.Transformer*."""
    return torch.ones(n, s or n, dtype=torch.bool).triu(1)


def causal_float(n):
    return torch.zeros(n, n).masked_fill(causal_bool(n), float("-inf"))


def pad_bool(batch, s, lengths):
    """key_padding_mask: True at positions >= the sample's length."""
    return torch.arange(s)[None, :] >= torch.tensor(lengths)[:, None]


def mha_self_bool_masks():
    m = nn.MultiheadAttention(8, 2)
    x = torch.randn(5, 3, 8)
    ins = {"x": x, "mask.key_padding": pad_bool(3, 5, [5, 3, 4]), "mask.attn": causal_bool(5)}

    def call(m, t):
        out, w = m(t["x"], t["x"], t["x"], key_padding_mask=t["mask.key_padding"], attn_mask=t["mask.attn"], need_weights=True)
        return {"output": out, "weights": w}

    return m, ins, call


def mha_cross_float_masks_batch_first():
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    kpm = -torch.rand(2, 6)
    kpm[1, 4:] = float("-inf")
    ins = {
        "query": torch.randn(2, 4, 8),
        "key": torch.randn(2, 6, 8),
        "value": torch.randn(2, 6, 8),
        "mask.key_padding": kpm,
        "mask.attn": 0.5 * torch.randn(4, 4, 6),  # [batch * heads, L, S]
    }

    def call(m, t):
        out, w = m(t["query"], t["key"], t["value"], key_padding_mask=t["mask.key_padding"], attn_mask=t["mask.attn"],
                   need_weights=True, average_attn_weights=False)
        return {"output": out, "weights": w}

    return m, ins, call


def mha_kvdim_noweights():
    m = nn.MultiheadAttention(8, 4, kdim=5, vdim=3, batch_first=True)
    am = torch.rand(8, 4, 6) < 0.3
    am[:, :, 0] = False
    ins = {
        "query": torch.randn(2, 4, 8),
        "key": torch.randn(2, 6, 5),
        "value": torch.randn(2, 6, 3),
        "mask.key_padding": pad_bool(2, 6, [6, 2]),
        "mask.attn": am,
    }

    def call(m, t):
        out, w = m(t["query"], t["key"], t["value"], key_padding_mask=t["mask.key_padding"], attn_mask=t["mask.attn"], need_weights=False)
        assert w is None
        return {"output": out}

    return m, ins, call


def mha_nobias_unbatched():
    m = nn.MultiheadAttention(6, 3, bias=False)
    ins = {"x": torch.randn(4, 6)}

    def call(m, t):
        out, w = m(t["x"], t["x"], t["x"])
        return {"output": out, "weights": w}

    return m, ins, call


def encoder_layer_post_gelu():
    m = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True)
    ins = {"x": torch.randn(2, 5, 8), "mask.key_padding": pad_bool(2, 5, [5, 3])}
    return m, ins, lambda m, t: {"output": m(t["x"], src_key_padding_mask=t["mask.key_padding"])}


def encoder_layer_pre_gelu():
    m = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", layer_norm_eps=1e-6, norm_first=True)
    ins = {"x": torch.randn(5, 2, 8), "mask.attn": causal_float(5)}
    return m, ins, lambda m, t: {"output": m(t["x"], src_mask=t["mask.attn"])}


def encoder_2layers_relu_norm():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    m = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8), enable_nested_tensor=False)
    with torch.no_grad():  # the layers start as copies of one another: make them differ
        for p in m.layers[1].parameters():
            p.add_(0.1 * torch.randn_like(p))
    ins = {"x": torch.randn(2, 5, 8), "mask.attn": causal_bool(5), "mask.key_padding": pad_bool(2, 5, [5, 4])}
    return m, ins, lambda m, t: {"output": m(t["x"], mask=t["mask.attn"], src_key_padding_mask=t["mask.key_padding"])}


def lstm_case(build, x_shape, state_shape=None):
    def make():
        m = build()
        ins = {"x": torch.randn(x_shape)}
        if state_shape:
            ins["h0"] = torch.randn(state_shape)
            ins["c0"] = torch.randn(state_shape)

        def call(m, t):
            out, (h, c) = m(t["x"], (t["h0"], t["c0"])) if "h0" in t else m(t["x"])
            return {"output": out, "h_n": h, "c_n": c}

        return m, ins, call

    return make


SEQ_CASES = {
    "mha_self_bool_masks": mha_self_bool_masks,
    "mha_cross_float_masks_batch_first": mha_cross_float_masks_batch_first,
    "mha_kvdim_noweights": mha_kvdim_noweights,
    "mha_nobias_unbatched": mha_nobias_unbatched,
    "encoder_layer_post_gelu": encoder_layer_post_gelu,
    "encoder_layer_pre_gelu": encoder_layer_pre_gelu,
    "encoder_2layers_relu_norm": encoder_2layers_relu_norm,
    "lstm_2layer_batch_first": lstm_case(lambda: nn.LSTM(4, 6, num_layers=2, batch_first=True), [3, 5, 4]),
    "lstm_2layer_batch_first_state": lstm_case(lambda: nn.LSTM(4, 6, num_layers=2, batch_first=True), [3, 5, 4], [2, 3, 6]),
    "lstm_bidirectional_state": lstm_case(lambda: nn.LSTM(4, 5, num_layers=2, bidirectional=True), [6, 2, 4], [4, 2, 5]),
    "lstm_nobias": lstm_case(lambda: nn.LSTM(3, 4, bias=False), [5, 2, 3]),
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
    return save(name, m, t)


def save(name, m, t):
    meta = {
        "keys": ",".join(m.state_dict().keys()),
        "params": ",".join(k for k, _ in m.named_parameters()),
        "buffers": ",".join(k for k, _ in m.named_buffers()),
    }
    # one metadata entry: safetensors writes several in hash order, and the bytes should not change per run
    names = ";".join(f"{k}={v}" for k, v in meta.items())
    save_file({k: v.detach().clone().contiguous() for k, v in t.items()}, os.path.join(OUT, f"{name}.safetensors"), metadata={"names": names})
    return meta


def run_seq(name, make):
    """One SEQ_CASES case: inputs and outputs by name (see the module doc)."""
    torch.manual_seed(zlib.crc32(name.encode()))
    m, ins, call = make()
    perturb_norms(m)
    m.train()
    t = {f"state.{k}": v.detach().clone().contiguous() for k, v in m.state_dict().items()}
    for k, v in ins.items():
        if v.is_floating_point() and not k.startswith("mask."):
            v.requires_grad_(True)
        t[f"in.{k}"] = v.detach()
    outs = call(m, ins)
    loss = 0
    for k, y in outs.items():
        g = torch.randn_like(y)
        loss = loss + (y * g).sum()
        t[f"out.{k}"] = y.detach()
        t[f"gout.{k}"] = g
    loss.backward()
    for k, v in ins.items():
        if v.requires_grad:
            t[f"grad.in.{k}"] = v.grad
    for k, p in m.named_parameters():
        t[f"grad.{k}"] = p.grad
    return save(name, m, t)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    only = set(sys.argv[1:])
    unknown = only - set(CASES) - set(SEQ_CASES)
    if unknown:
        sys.exit(f"unknown cases: {sorted(unknown)}")
    path = os.path.join(OUT, "manifest.json")
    manifest = {}
    if only:
        # regenerate just these, keeping the other fixtures' bytes (float results vary in the last bit across CPUs)
        with open(path) as f:
            manifest = json.load(f)["cases"]
    else:
        for f in os.listdir(OUT):
            if f.endswith(".safetensors") and f[: -len(".safetensors")] not in CASES and f[: -len(".safetensors")] not in SEQ_CASES:
                os.remove(os.path.join(OUT, f))
    jobs = [(n, lambda n=n, b=b, s=s: run(n, b, s)) for n, (b, s) in CASES.items()]
    jobs += [(n, lambda n=n, mk=mk: run_seq(n, mk)) for n, mk in SEQ_CASES.items()]
    for name, job in jobs:
        if only and name not in only:
            continue
        meta = job()
        manifest[name] = {k: (v.split(",") if v else []) for k, v in meta.items()}
    order = list(CASES) + list(SEQ_CASES)
    manifest = {"torch": torch.__version__, "cases": {n: manifest[n] for n in order if n in manifest}}
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(only) or len(jobs)} cases to {OUT} ({total / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
