"""Reference values for wrt-models' `SitsFormer` (models/tests/sitsformer_parity.rs), from the plain-torch
reference tools/parity/sitsformer_ref.py. It writes tests/fixtures/sitsformer/small.safetensors (float32 unless
stated):

  state.<key>           the full state_dict of the small model (CONFIG below), `pos_encoding.pe` included; every
                        LayerNorm is moved off weight 1 / bias 0 (weight ~ U(0.5, 1.5), bias ~ N(0, 0.1)), every
                        Linear bias off 0 (~ N(0, 0.02)) and every Linear weight scaled from std 0.02 to
                        1 / sqrt(fan_in), so a skipped norm or bias, or a wrong attention scale, shows in the values
  input.x               [B, T, C, H, W] ~ N(0, 1); the padded frames hold random values too (they must not matter)
  mask                  [B, T] float32, 1 = valid, 0 = padding: rows [1,1,1,1,1], [1,1,1,0,0], [1,0,0,0,0]
  target                int64 class indices [B]
  -- in eval mode (dropout 0.1 is configured but inactive):
  output.logits         forward(input.x, mask), [B, num_classes]
  output.loss           F.cross_entropy(output.logits, target) (mean over the batch), shape [1]
  grad.input.x          d loss / d input.x (exactly 0 on the padded frames: masked keys get probability 0 and
                        padded queries never reach the CLS output)
  grad.<param>          d loss / d param for every parameter (all of them are used; the k_linear biases'
                        gradients are 0 in exact arithmetic, so they hold rounding noise: `grad_analytic_zero`)
  output.logits_nomask  forward(input.x, None), [B, num_classes] (row 0, whose mask is all ones, equals
                        output.logits[0] bit for bit)

Checked here and not stored: each padded row's logits equal those of the model run on only its valid frames with
an all-ones mask (row 1: x[1:2, :3], row 2: x[2:3, :1]) within 1e-5, and re-drawing the padded frames leaves
output.logits unchanged.

and tests/fixtures/sitsformer/manifest.json: the torch version, the small config, B/T, the tolerances, the small
model's state_dict keys and parameter names, the tensor shapes, the mask-invariance diffs, `pe_max_abs_diff`
(stored float32 `pe` vs the same formula in float64, cast), and under `seed` the tutorial config: state_dict keys
with shapes and the trainable parameter count (built on the meta device; 7,173,642 as in the spec) and its
`pe_max_abs_diff`.

    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_sitsformer.py
"""
import json
import math
import os
import sys
import zlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sitsformer_ref import MASK_FILL, SITSFormer, sinusoidal_table  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "sitsformer")

# N = (16 / 8)^2 = 4 patches per frame, max_len = 6 * 4 = 24, so T <= 5 (S = 1 + 5 * 4 = 21); 4 heads of 8,
# MLP hidden 128, 13 channels (Sentinel-2) and 10 classes as in the seed.
CONFIG = dict(
    img_size=16,
    patch_size=8,
    in_channels=13,
    num_classes=10,
    embed_dim=32,
    num_layers=2,
    num_heads=4,
    mlp_ratio=4,
    dropout=0.1,
    max_seq_len=6,
)
B, T = 3, 5
MASK = [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]]
TARGET = [3, 7, 1]

# The tutorial's model (seed/sitsformer-training-tutorial.md, "Method 1").
SEED = dict(
    img_size=224,
    patch_size=16,
    in_channels=13,
    num_classes=10,
    embed_dim=256,
    num_layers=8,
    num_heads=8,
    mlp_ratio=4,
    dropout=0.1,
    max_seq_len=20,
)
SEED_PARAMS = 7_173_642  # the spec's count

# forward values (output.*): |wrt - torch| <= atol + rtol |torch|; gradients: 1e-3 relative with an absolute
# floor of 1e-3 times the tensor's largest |gradient|.
# The k_linear biases get no gradient in exact arithmetic (q . b_k is the same for every key of a query, and the
# softmax ignores it), so their stored gradients are float32 rounding noise (~1e-8): compare them against 0 with
# an absolute tolerance, not with the relative rule (whose floor would be 1e-3 of noise).
TOLERANCES = {"forward": {"rtol": 1e-4, "atol": 1e-4}, "grad": {"rtol": 1e-3, "floor": 1e-3}, "grad_analytic_zero": {"atol": 1e-6}}
INVARIANCE_ATOL = 1e-5
# Linear weights: the reference's trunc_normal_(std 0.02) draw, rescaled to std 1 / sqrt(fan_in) (see perturb).
SCALE_LINEAR_WEIGHTS = True


def perturb(m):
    """Move LayerNorms off weight 1 / bias 0 and Linear biases off 0 (the reference init zeroes them). With
    SCALE_LINEAR_WEIGHTS, also scale every Linear weight (the reference's trunc_normal std-0.02 draw) to std
    1 / sqrt(fan_in): at std 0.02 the logits hardly depend on the input (zeroing input.x moves them by ~1e-3, a
    sqrt(D) instead of sqrt(head_dim) softmax scale by ~7e-6, under the forward tolerance)."""
    with torch.no_grad():
        for sub in m.modules():
            if isinstance(sub, torch.nn.LayerNorm):
                sub.weight.copy_(torch.empty_like(sub.weight).uniform_(0.5, 1.5))
                sub.bias.copy_(0.1 * torch.randn_like(sub.bias))
            elif isinstance(sub, torch.nn.Linear):
                if SCALE_LINEAR_WEIGHTS:
                    sub.weight.mul_(1.0 / (0.02 * math.sqrt(sub.in_features)))
                if sub.bias is not None:
                    sub.bias.copy_(0.02 * torch.randn_like(sub.bias))


def snap(t):
    return t.detach().clone().contiguous()


def pe_max_abs_diff(pe32, embed_dim, max_len):
    """Stored float32 table vs the same formula evaluated in float64 and then cast to float32."""
    pe64 = sinusoidal_table(embed_dim, max_len, dtype=torch.float64).to(torch.float32)
    return (pe32.to(torch.float64) - pe64.to(torch.float64)).abs().max().item()


def small():
    torch.manual_seed(zlib.crc32(b"sitsformer"))
    m = SITSFormer(**CONFIG)
    perturb(m)
    m.eval()
    n = m.num_patches
    max_len = CONFIG["max_seq_len"] * n
    assert n == 4 and max_len == 24 and 1 + T * n <= max_len
    keys = list(m.state_dict().keys())
    params = [k for k, _ in m.named_parameters()]
    assert keys[0] == "temporal_token" and "pos_encoding.pe" in keys and "pos_encoding.pe" not in params
    assert [k for k in keys if k != "pos_encoding.pe"] == params
    t = {f"state.{k}": snap(v) for k, v in m.state_dict().items()}
    assert list(t["state.pos_encoding.pe"].shape) == [max_len, 1, CONFIG["embed_dim"]]

    c = CONFIG
    x = torch.randn(B, T, c["in_channels"], c["img_size"], c["img_size"])  # padded frames random as well
    mask = torch.tensor(MASK, dtype=torch.float32)
    target = torch.tensor(TARGET, dtype=torch.int64)
    t.update({"input.x": snap(x), "mask": mask.clone(), "target": target.clone()})

    x.requires_grad_(True)
    logits = m(x, mask)
    assert list(logits.shape) == [B, c["num_classes"]], logits.shape
    loss = F.cross_entropy(logits, target)
    loss.backward()
    t.update({"output.logits": snap(logits), "output.loss": snap(loss).reshape(1), "grad.input.x": snap(x.grad)})
    for k, p in m.named_parameters():
        assert p.grad is not None, k
        t[f"grad.{k}"] = snap(p.grad)
    zero_grad = [k for k in params if k.endswith("temporal_attn.k_linear.bias")]
    assert len(zero_grad) == c["num_layers"]
    zero_grad_max = max(t[f"grad.{k}"].abs().max().item() for k in zero_grad)
    assert zero_grad_max < TOLERANCES["grad_analytic_zero"]["atol"] / 10, zero_grad_max
    pad = mask == 0
    grad_pad_max = x.grad[pad].abs().max().item()
    assert grad_pad_max == 0.0, grad_pad_max

    checks = {}
    with torch.no_grad():
        nomask = m(t["input.x"], None)
        t["output.logits_nomask"] = snap(nomask)
        assert torch.equal(nomask[0], logits[0].detach()), (nomask[0], logits[0])
        checks["nomask_row0_equal"] = True
        checks["nomask_vs_masked_row_max_abs_diff"] = [(nomask[i] - logits[i]).abs().max().item() for i in range(B)]

        # mask invariance: a padded row equals the model on its valid frames alone
        inv = {}
        for row in (1, 2):
            tv = int(mask[row].sum().item())
            assert mask[row, :tv].eq(1).all() and mask[row, tv:].eq(0).all()
            alone = m(t["input.x"][row : row + 1, :tv], torch.ones(1, tv))
            d = (alone[0] - logits[row].detach()).abs().max().item()
            assert d <= INVARIANCE_ATOL, (row, d)
            inv[f"row{row}"] = {"frames": tv, "max_abs_diff": d}
        checks["mask_invariance"] = inv
        checks["mask_invariance_atol"] = INVARIANCE_ATOL

        # padded frames do not matter
        x2 = t["input.x"].clone()
        x2[pad] = 10.0 * torch.randn_like(x2[pad])
        re = m(x2, mask)
        d = (re - logits.detach()).abs().max().item()
        assert d <= INVARIANCE_ATOL, d
        checks["redraw_padded_frames_max_abs_diff"] = d
    checks["grad_input_padded_frames_max_abs"] = grad_pad_max
    checks["grad_analytic_zero_max_abs"] = zero_grad_max

    # the S > max_len error (T = max_seq_len = 6 gives S = 25 > 24)
    try:
        with torch.no_grad():
            m(torch.zeros(1, CONFIG["max_seq_len"], c["in_channels"], c["img_size"], c["img_size"]))
        raise AssertionError("T = max_seq_len must fail")
    except ValueError:
        pass

    pe_diff = pe_max_abs_diff(t["state.pos_encoding.pe"], c["embed_dim"], max_len)
    save_file(t, os.path.join(OUT, "small.safetensors"))
    return {
        "file": "small.safetensors",
        "keys": keys,
        "params": params,
        "grad_analytic_zero": zero_grad,
        "num_patches": n,
        "max_len": max_len,
        "S": 1 + T * n,
        "num_parameters": sum(p.numel() for p in m.parameters()),
        "pe_max_abs_diff": pe_diff,
        "checks": checks,
        "tensors": {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)} for k, v in sorted(t.items())},
    }


def seed_config():
    with torch.device("meta"):
        m = SITSFormer(**SEED)
    n = m.num_patches
    max_len = SEED["max_seq_len"] * n
    n_params = sum(p.numel() for p in m.parameters())
    per_block = sum(p.numel() for p in m.blocks[0].parameters())
    # the real table (not on meta), to document the float32 precision at the seed's length
    pe = sinusoidal_table(SEED["embed_dim"], max_len)
    return {
        "config": SEED,
        "num_patches": n,
        "max_len": max_len,
        "max_T": (max_len - 1) // n,
        "num_parameters": n_params,
        "num_parameters_per_block": per_block,
        "pe_numel": pe.numel(),
        "pe_max_abs_diff": pe_max_abs_diff(pe, SEED["embed_dim"], max_len),
        "state_dict": [[k, list(v.shape)] for k, v in m.state_dict().items()],
        "params": [k for k, _ in m.named_parameters()],
    }


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    os.makedirs(OUT, exist_ok=True)
    s = small()
    seed = seed_config()
    assert seed["num_parameters"] == SEED_PARAMS, seed["num_parameters"]
    assert seed["num_parameters_per_block"] == 789_760, seed["num_parameters_per_block"]
    assert seed["max_len"] == 3920 and seed["max_T"] == 19 and seed["pe_numel"] == 1_003_520
    manifest = {
        "torch": torch.__version__,
        "script": "tools/parity/gen_sitsformer.py",
        "reference": "tools/parity/sitsformer_ref.py",
        "rng": "torch.manual_seed(zlib.crc32(b'sitsformer')), one thread, float32",
        "config": CONFIG,
        "B": B,
        "T": T,
        "mask": MASK,
        "target": TARGET,
        "mask_fill": MASK_FILL,
        "mode": "eval (dropout inactive)",
        "init_perturbation": {
            "layernorm.weight": "U(0.5,1.5)",
            "layernorm.bias": "N(0,0.1)",
            "linear.weight": "trunc_normal_(std 0.02) draw * 1/(0.02 sqrt(fan_in)) (std 1/sqrt(fan_in))" if SCALE_LINEAR_WEIGHTS else "trunc_normal_(std 0.02) (reference init)",
            "linear.bias": "N(0,0.02)",
        },
        "loss": "F.cross_entropy(logits, target), mean over the batch",
        "tolerances": TOLERANCES,
        "keys": s.pop("keys"),
        "params": s.pop("params"),
        "grad_analytic_zero": s.pop("grad_analytic_zero"),
        "pe_max_abs_diff": s.pop("pe_max_abs_diff"),
        "small": s,
        "seed": seed,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")
    print(f"small: params {s['num_parameters']}, pe_max_abs_diff {manifest['pe_max_abs_diff']:.3g}")
    print(f"checks: {json.dumps(s['checks'])}")
    print(f"seed: params {seed['num_parameters']} (spec {SEED_PARAMS}), per block {seed['num_parameters_per_block']}, pe_max_abs_diff {seed['pe_max_abs_diff']:.3g}")


if __name__ == "__main__":
    main()
