"""Reference values for wrt-models' `Pangu` (models/tests/pangu_parity.rs), from the plain-torch reference
tools/parity/pangu_ref.py (SuperDARN Pangu, st7ma784/WeatherLearn PTL f61f806 semantics). It writes
tests/fixtures/pangu/small.safetensors (float32 unless stated; the small model of CONFIG: embed 8, heads
(1, 2, 2, 1), window (2, 4, 8), grid 40, depths (2, 2, 2, 2), a two-step rollout; eval mode, so drop path and the
rollout noise are inactive; B = 2):

  state.<key>           every state_dict entry EXCEPT the deterministic buffers `*.attn.earth_position_index` and
                        `*.attn.attn_mask`, which are stored only for layer1.1, layer2.1 and layer3.1 (the manifest's
                        `omitted_state_keys` lists the others; the Rust side recomputes them and loads non-strictly
                        for those). Every LayerNorm is moved off 1 / 0 (weight ~ U(0.5, 1.5), bias ~ N(0, 0.1)),
                        every Linear bias off its init (~ N(0, 0.1)), and every earth_position_bias is its
                        trunc-normal(std 0.02) init times 10, so the bias visibly matters; Linear / Conv weights and
                        the conv biases keep PyTorch's default init
  input.x               [B, 5, 40, 40] ~ N(0, 1)
  target                [B, 5, 40, 40] ~ N(0, 1)
  output.embed          the patch embedding tokens [B, L1 = 100, 8] (Conv2d output flatten(2, 3).transpose(1, 2))
  output.layer1         s_1 = layer1(output.embed), the first rollout step's layer-1 output [B, 100, 8]
  output.down           downsample(output.layer1), first step [B, 36, 16]
  output.y              forward(input.x) [B, 5, 40, 40]
  output.loss           MSELoss(reduction='sum')(output.y, target), shape [1]
  grad.input.x          d loss / d input.x
  grad.<param>          d loss / d param for every named_parameters() entry (the shifted blocks' norm1.*,
                        attn.qkv.weight and attn.earth_position_bias get none in exact arithmetic: the legacy crop
                        keeps the zero pad plane, which in shifted blocks attends only to itself; they hold rounding
                        noise < 1e-7: manifest `grad_analytic_zero`)
  index.w248            int64 [64, 64]: earth_position_index((2, 4, 8))
  mask.layer1           [2, 3, 64, 64]: shift_window_mask((2, 12, 16), (2, 4, 8), (1, 3, 6)) (layers 1 and 4)
  mask.layer2           [1, 2, 64, 64]: shift_window_mask((2, 8, 8), (2, 4, 8), (1, 3, 6)) (layers 2 and 3)

and tests/fixtures/pangu/manifest.json: the torch version, the config, B, the tolerances, the small model's
state_dict keys with shapes (ordered, the omitted buffers included), the omitted keys, named_parameters,
`grad_analytic_zero`, the
per-layer padding / padded resolution / window counts / drop-path rates, the parameter count, the tensor list, the
checks run here, under `seed` the seed's default config (embed 128, heads (8, 16, 16, 8), window (2, 8, 16), grid
300, depths (2, 6, 6, 2), time_step 1; built on the meta device): parameter count, state_dict entry count, the
first 40 state_dict keys with shapes and the spec's listed shapes, and under `bench` the CPU benchmark config of
tools/bench_vs_torch.py --model pangu with its parameter count.

    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_pangu.py
"""
import json
import os
import sys
import zlib

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pangu_ref import MASK_VALUE, SHIFT, Pangu, earth_position_index, shift_window_mask  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "pangu")

# R1 = (1, 10, 10) padded (2, 12, 16): nW 3, nLon 2; R2 = (1, 6, 6) padded (2, 8, 8): nW 2, nLon 1; N = 64.
CONFIG = dict(embed_dim=8, num_heads=[1, 2, 2, 1], window_size=[2, 4, 8], grid_size=40, time_step=2, mlp_ratio=4,
              noise_factor=0.1, depths=[2, 2, 2, 2])
B = 2
SEED = dict(embed_dim=128, num_heads=[8, 16, 16, 8], window_size=[2, 8, 16], grid_size=300, time_step=1, mlp_ratio=4,
            noise_factor=0.1, depths=[2, 6, 6, 2])
# tools/bench_vs_torch.py --model pangu (one training step on the CPU)
BENCH = dict(embed_dim=32, num_heads=[2, 4, 4, 2], window_size=[2, 4, 8], grid_size=64, time_step=1, mlp_ratio=4,
             noise_factor=0.1, depths=[2, 6, 6, 2])
# The spec's small example (C 16, heads (2, 4, 4, 2), the seed's depths): 665,461 parameters, 243 entries.
SPEC_SMALL = dict(embed_dim=16, num_heads=[2, 4, 4, 2], window_size=[2, 4, 8], grid_size=40, time_step=1)
KEEP_BUFFERS = ("layer1.1.", "layer2.1.", "layer3.1.")
BIAS_SCALE = 10.0

# forward values (output.*): |wrt - torch| <= atol + rtol |torch|; gradients: 1e-3 relative with an absolute floor
# of 1e-3 times the largest |gradient|.
# grad_analytic_zero tensors (the shifted blocks' norm1, qkv.weight and earth_position_bias, see pangu_ref's
# shift_roll note) hold rounding noise (< 1e-7); compare them against 0 with atol.
TOLERANCES = {"forward": {"rtol": 1e-4, "atol": 1e-4}, "grad": {"rtol": 1e-3, "floor": 1e-3}, "grad_analytic_zero": {"atol": 1e-6}}


def snap(t):
    return t.detach().clone().contiguous()


def shapes(sd):
    return [[k, list(v.shape)] for k, v in sd.items()]


def build(cfg, **kw):
    return Pangu(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}, **kw)


def perturb(m):
    with torch.no_grad():
        for sub in m.modules():
            if isinstance(sub, torch.nn.LayerNorm):
                sub.weight.copy_(torch.empty_like(sub.weight).uniform_(0.5, 1.5))
                sub.bias.copy_(0.1 * torch.randn_like(sub.bias))
            elif isinstance(sub, torch.nn.Linear) and sub.bias is not None:
                sub.bias.copy_(0.1 * torch.randn_like(sub.bias))
        for k, p in m.named_parameters():
            if k.endswith("attn.earth_position_bias"):
                p.mul_(BIAS_SCALE)


def is_buffer_key(k):
    return k.endswith("attn.earth_position_index") or k.endswith("attn.attn_mask")


def small():
    torch.manual_seed(zlib.crc32(b"pangu"))
    m = build(CONFIG)
    perturb(m)
    m.eval()
    info = m.block_info()
    assert info["layer1"]["padded_resolution"] == [2, 12, 16] and info["layer1"]["nW"] == 3 and info["layer1"]["nLon"] == 2
    assert info["layer2"]["padded_resolution"] == [2, 8, 8] and info["layer2"]["nW"] == 2 and info["layer2"]["nLon"] == 1
    assert info["layer1"]["N"] == 64
    sd = m.state_dict()
    keys = list(sd.keys())
    params = [k for k, _ in m.named_parameters()]
    assert [k for k in keys if not is_buffer_key(k)] == params
    omitted = [k for k in keys if is_buffer_key(k) and not k.startswith(KEEP_BUFFERS)]
    t = {f"state.{k}": snap(v) for k, v in sd.items() if k not in omitted}

    # the helpers equal the buffers (so the Rust side can recompute the omitted ones)
    idx = earth_position_index(tuple(CONFIG["window_size"]))
    mask1 = shift_window_mask((2, 12, 16), tuple(CONFIG["window_size"]), SHIFT)
    mask2 = shift_window_mask((2, 8, 8), tuple(CONFIG["window_size"]), SHIFT)
    for k in keys:
        if k.endswith("earth_position_index"):
            assert torch.equal(sd[k], idx), k
        elif k.endswith("attn_mask"):
            assert torch.equal(sd[k], mask1 if k.startswith(("layer1.", "layer4.")) else mask2), k
    assert idx.dtype == torch.int64 and list(idx.shape) == [64, 64]
    assert list(mask1.shape) == [2, 3, 64, 64] and list(mask2.shape) == [1, 2, 64, 64]
    assert set(mask1.unique().tolist()) == {0.0, MASK_VALUE}
    t.update({"index.w248": idx.clone(), "mask.layer1": mask1.clone(), "mask.layer2": mask2.clone()})

    G = CONFIG["grid_size"]
    x = torch.randn(B, 5, G, G)
    target = torch.randn(B, 5, G, G)
    t.update({"input.x": snap(x), "target": snap(target)})

    checks = {}
    with torch.no_grad():
        e = m.embed(x)
        s1 = m.layer1(e)
        d = m.downsample(s1)
        t.update({"output.embed": snap(e), "output.layer1": snap(s1), "output.down": snap(d)})
        assert list(e.shape) == [B, 100, CONFIG["embed_dim"]] and list(d.shape) == [B, 36, 2 * CONFIG["embed_dim"]]
        # the manual rollout equals forward
        z, skips = e, []
        for _ in range(CONFIG["time_step"]):
            z, s = m.stack(z)
            skips.append(s)
        lat = torch.cat([z] + skips, -1).transpose(1, 2).unflatten(2, m.reduced_grid)
        manual = m.patchrecovery2d(lat)
        assert torch.equal(skips[0], s1)
        # what the decisions change (documentation)
        mc = build(CONFIG, crop_mode="centered")
        mc.load_state_dict(sd)
        mc.eval()
        checks["centered_crop_output_max_abs_diff"] = (mc(x) - manual).abs().max().item()
        m_nobias = build(CONFIG)
        m_nobias.load_state_dict(sd)
        m_nobias.eval()
        for k, p in m_nobias.named_parameters():
            if k.endswith("earth_position_bias"):
                p.zero_()
        checks["zero_earth_bias_output_max_abs_diff"] = (m_nobias(x) - manual).abs().max().item()
        mr = build(CONFIG, shift_roll=False)
        mr.load_state_dict(sd)
        mr.eval()
        checks["no_roll_output_max_abs_diff"] = (mr(x) - manual).abs().max().item()
        assert checks["no_roll_output_max_abs_diff"] < 1e-5, checks

    x.requires_grad_(True)
    y = m(x)
    assert list(y.shape) == [B, 5, G, G]
    assert torch.equal(y.detach(), manual), (y.detach() - manual).abs().max()
    with torch.no_grad():
        assert torch.equal(m(x.detach()), y.detach()), "eval forward is not deterministic"
    loss = torch.nn.MSELoss(reduction="sum")(y, target)
    loss.backward()
    t.update({"output.y": snap(y), "output.loss": snap(loss).reshape(1), "grad.input.x": snap(x.grad)})
    for k, p in m.named_parameters():
        assert p.grad is not None, k
        t[f"grad.{k}"] = snap(p.grad)
    checks["eval_deterministic"] = True
    checks["manual_rollout_equal"] = True
    grads = {k: v for k, v in t.items() if k.startswith("grad.")}
    g_all = torch.cat([v.flatten() for v in grads.values()])
    checks["grad_max_abs"] = g_all.abs().max().item()
    zero_grad = [k for k, v in grads.items() if v.abs().max().item() == 0.0]
    checks["grad_exact_zero"] = zero_grad
    # shifted (odd) blocks: the kept (pad) plane only attends to itself, so the attention branch is a constant
    analytic_zero = [k for k in params if k.split(".")[0] in ("layer1", "layer2", "layer3", "layer4") and int(k.split(".")[1]) % 2 == 1
                     and k.split(".", 2)[2] in ("norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.earth_position_bias")]
    az_max = max(t[f"grad.{k}"].abs().max().item() for k in analytic_zero)
    assert az_max < TOLERANCES["grad_analytic_zero"]["atol"] / 10, az_max
    checks["grad_analytic_zero_max_abs"] = az_max

    path = os.path.join(OUT, "small.safetensors")
    save_file(t, path)
    stats = {
        "output.y": {"min": y.min().item(), "max": y.max().item()},
        "output.loss": loss.item(),
        "grads": {"min": g_all.min().item(), "max": g_all.max().item()},
        "grad.input.x": {"min": x.grad.min().item(), "max": x.grad.max().item()},
    }
    return {
        "file": "small.safetensors",
        "state_dict": shapes(sd),
        "params": params,
        "grad_analytic_zero": analytic_zero,
        "omitted": omitted,
        "layers": info,
        "num_parameters": sum(p.numel() for p in m.parameters()),
        "num_state_dict_keys": len(keys),
        "checks": checks,
        "stats": stats,
        "tensors": {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)} for k, v in sorted(t.items())},
    }


def meta_summary(cfg, n_keys_listed=40):
    with torch.device("meta"):
        m = build(cfg)
    sd = m.state_dict()
    return m, {
        "config": cfg,
        "num_parameters": sum(p.numel() for p in m.parameters()),
        "num_state_dict_keys": len(sd),
        "state_dict_first": shapes(dict(list(sd.items())[:n_keys_listed])),
        "layers": m.block_info(),
    }


def seed_config():
    m, s = meta_summary(SEED)
    sd = m.state_dict()
    spec = {  # spec section 3
        "layer1.1.attn.earth_position_bias": [1, 8, 10, 256, 256],
        "layer1.1.attn.attn_mask": [5, 10, 256, 256],
        "layer4.0.attn.earth_position_bias": [1, 8, 10, 256, 256],
        "layer2.1.attn.earth_position_bias": [1, 16, 7, 256, 256],
        "layer2.1.attn.attn_mask": [4, 7, 256, 256],
        "layer3.5.attn.attn_mask": [4, 7, 256, 256],
        "patchrecovery2d.conv.weight": [256, 5, 4, 4],
    }
    for k, v in spec.items():
        assert list(sd[k].shape) == v, (k, list(sd[k].shape), v)
    s["spec_shapes_checked"] = spec
    s["earth_position_bias_parameters"] = sum(p.numel() for k, p in m.named_parameters() if k.endswith("earth_position_bias"))
    assert s["layers"]["layer1"]["padding_lrtbfb"] == [2, 3, 2, 3, 0, 1]
    assert s["layers"]["layer2"]["padding_lrtbfb"] == [7, 7, 3, 3, 0, 1]
    return s


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    os.makedirs(OUT, exist_ok=True)
    s = small()
    seed = seed_config()
    _, bench = meta_summary(BENCH, n_keys_listed=0)
    bench.pop("state_dict_first")
    _, spec_small = meta_summary(SPEC_SMALL, n_keys_listed=0)
    assert spec_small["num_parameters"] == 665_461 and spec_small["num_state_dict_keys"] == 243, spec_small
    manifest = {
        "torch": torch.__version__,
        "script": "tools/parity/gen_pangu.py",
        "reference": "tools/parity/pangu_ref.py",
        "original": "st7ma784/WeatherLearn PTL/model.py + PTL/utils.py (f61f806 semantics, spec ../shared/specs/pangu.md)",
        "rng": "torch.manual_seed(zlib.crc32(b'pangu')), one thread, float32",
        "config": CONFIG,
        "crop_mode": "legacy",
        "B": B,
        "mode": "eval (drop path and rollout noise inactive)",
        "init_perturbation": {
            "layernorm.weight": "U(0.5,1.5)",
            "layernorm.bias": "N(0,0.1)",
            "linear.bias": "N(0,0.1)",
            "attn.earth_position_bias": f"trunc_normal(std 0.02, [-2,2]) table gathered, then x{BIAS_SCALE:g}",
            "linear / conv weights, conv biases": "PyTorch default init",
        },
        "loss": "torch.nn.MSELoss(reduction='sum')(output.y, target)",
        "tolerances": TOLERANCES,
        "state_dict": s.pop("state_dict"),
        "omitted_state_keys": s.pop("omitted"),
        "omitted_note": "earth_position_index / attn_mask buffers not stored as state.<key> (deterministic; recompute "
                        "and load non-strictly); layer1.1, layer2.1 and layer3.1 keep theirs",
        "params": s.pop("params"),
        "grad_analytic_zero": s.pop("grad_analytic_zero"),
        "layers": s.pop("layers"),
        "small": s,
        "spec_small": spec_small,
        "seed": seed,
        "bench": bench,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")
    print(f"small: params {s['num_parameters']}, state_dict {s['num_state_dict_keys']} entries, {len(manifest['omitted_state_keys'])} omitted")
    print(f"stats: {json.dumps(s['stats'])}")
    print(f"checks: {json.dumps(s['checks'])}")
    print(f"seed: params {seed['num_parameters']} ({seed['earth_position_bias_parameters']} in earth_position_bias), {seed['num_state_dict_keys']} entries")
    print(f"bench: params {bench['num_parameters']}; spec small: {spec_small['num_parameters']}")


if __name__ == "__main__":
    main()
