"""Reference values for wrt's autocast (autograd/src/autocast.rs): the same computations run under
torch.autocast("cpu", dtype=...) and in plain f32, on the same weights and inputs, so a Rust test can compare
wrt's autocast results with torch's and state its tolerance relative to how far autocast moves results from f32.
Writes tests/fixtures/autocast/:

  block_bf16.safetensors, block_f16.safetensors   x [16, 48] -> Linear(48, 96) -> GELU (exact) -> Linear(96, 10)
        -> logits; probs = softmax(logits, -1); loss = F.cross_entropy(logits, target). The forward runs inside
        autocast (bf16 / f16), loss.backward() outside it. Both files hold the same weights and data (one seed).
        x, target (int64 [16]), lin1.weight, lin1.bias, lin2.weight, lin2.bias       the inputs
        out.logits, out.probs, out.loss ([1])                                        autocast results, as f32
        grad.x, grad.lin1.weight, grad.lin1.bias, grad.lin2.weight, grad.lin2.bias   autocast gradients
        f32.out.logits, f32.out.probs, f32.out.loss, f32.grad.<same>                 the same without autocast
  satformer_bf16.safetensors   one SaTformer forward + backward (tools/parity/satformer_ref.py, variant "T->S",
        gen_satformer.py's small CONFIG and BATCH; eval mode, dropout inactive) under bf16 autocast. The state,
        input and target are not stored here: they are read from tests/fixtures/satformer/t_s.safetensors
        (state.<key>, input, target; the script requires that file), so this fixture matches the committed one
        on any CPU. Stored: out.logits, out.loss ([1]), grad.input, grad.<param> (every parameter: T->S uses
        them all), and without autocast only what the rounding check needs (F32_KEYS): f32.out.logits,
        f32.out.loss, f32.grad.input, f32.grad.to_patch_embedding.weight; the gaps of every other gradient are
        in the manifest.
        Attention: wrt's SaTformer calls a fused kernel with PyTorch's F.scaled_dot_product_attention numerics and
        scale = dim_head^-0.5 passed to it, while satformer_ref.py computes softmax((q * scale) @ k^T) @ v with
        matmuls (under autocast: q rounded after the scaling, the scores and the probabilities rounded to bf16).
        So these runs replace Attention.forward (here, not in satformer_ref.py) with the same regrouping around
        F.scaled_dot_product_attention(q, k, v, scale=dim_head^-0.5) on [B, H, L, d] tensors, forced onto the CPU
        flash kernel; ref_attn.out.logits / ref_attn.out.loss are the autocast results of satformer_ref.py's own
        attention, and the manifest gives both variants' gaps.
  manifest.json   torch version; per file its keys, the dtypes torch produced inside autocast per op, and per
        compared quantity max |autocast - f32|, max |f32| and their ratio; "wrt_emulation": the same gaps for a
        Python emulation of wrt's documented rounding points (GEMM operands and results rounded, everything
        else f32; bias added after the rounded product; the gradient reaching a rounded value rounded), i.e. an
        estimate of the wrt-vs-torch-autocast gap; the proposed "tolerances" (see TOLERANCE_COMMENT); for the
        SaTformer, "state_input_target_from" (the t_s.safetensors path) and "f32_keys" (the f32.* it stores).

About 0.65 MB in all, 0.45 MB of it the SaTformer file (mostly the autocast gradients, stored as f32).

    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_autocast.py
"""
import json
import math
import os
import sys
import zlib

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.overrides import TorchFunctionMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import satformer_ref  # noqa: E402
from gen_satformer import BATCH, CONFIG, perturb_norms  # noqa: E402
from satformer_ref import SaTformer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "autocast")
SATFORMER_FIXTURE_REL = "tests/fixtures/satformer/t_s.safetensors"
SATFORMER_FIXTURE = os.path.join(ROOT, *SATFORMER_FIXTURE_REL.split("/"))
SATFORMER_CHECK = ["out.logits", "grad.input", "grad.to_patch_embedding.weight"]  # rounding_check keys
F32_KEYS = ["out.logits", "out.loss", "grad.input", "grad.to_patch_embedding.weight"]  # f32.* stored
DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16}
ULP = {"bf16": 2.0**-8, "f16": 2.0**-11}  # unit roundoff: half the spacing above 1.0 (bf16 2^-7, f16 2^-10)

TOLERANCE_COMMENT = (
    "For a Rust test of wrt's autocast results against torch's (out.* / grad.* of the same file): pass when "
    "max |wrt - torch| <= frac * max |torch| over the tensor (one scale per tensor, so near-zero entries need no "
    "relative bound). Per key, frac is the power of two at or above max(2 x the wrt_emulation gap, 2 x the unit "
    "roundoff of the low dtype (bf16 2^-8, f16 2^-11; ulp_rel)); 'uniform' is the largest frac of the file's out.* and of its grad.* keys. "
    "wrt_emulation (GEMM operands/results rounded, everything else f32, as autograd/src/autocast.rs documents) "
    "lands as far from torch's autocast as torch's autocast is from f32 (two independent roundings), so "
    "below_f32_gap is false: such a tolerance cannot tell autocast from plain f32. 'rounding_check' says how to "
    "test that wrt rounds at all: its own max |autocast - f32| on the listed keys should lie within "
    "[1/4, 4] x gaps[key].max_abs_diff (the emulation's ratio to torch's gap is 0.1-3.3 over all keys, 0.8-1.2 "
    "on the logits)."
)


def seed(name):
    torch.manual_seed(zlib.crc32(name.encode()))


# ---------------------------------------------------------------------------------------------------------------
# Emulation of wrt's autocast (autograd/src/autocast.rs) in f32: only GEMM-like ops round.


class Round(torch.autograd.Function):
    """Round to a low dtype and keep f32; the gradient is rounded the same way."""

    @staticmethod
    def forward(ctx, x, dt):
        ctx.dt = dt
        return x.to(dt).float()

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.dt).float(), None


class WrtAutocast(TorchFunctionMode):
    def __init__(self, dt):
        super().__init__()
        self.r = lambda t: Round.apply(t, dt)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        r = self.r
        if func is F.linear:
            x, w = args[0], args[1]
            b = args[2] if len(args) > 2 else kwargs.get("bias")
            y = r(r(x) @ r(w).t())
            return y if b is None else y + b
        if func in (torch.matmul, torch.Tensor.__matmul__):
            return r(r(args[0]) @ r(args[1]))
        if func is F.scaled_dot_product_attention:
            q, k, v = (r(t) for t in args[:3])
            return r(F.scaled_dot_product_attention(q, k, v, *args[3:], **kwargs))
        return func(*args, **kwargs)


# ---------------------------------------------------------------------------------------------------------------


def gap(a, f):
    """max |a - f|, max |f|, their ratio."""
    d = (a.double() - f.double()).abs().max().item()
    m = f.double().abs().max().item()
    return {"max_abs_diff": d, "max_abs_f32": m, "rel": d / m if m > 0 else 0.0}


def propose(key, torch_gap, emul_gap, ulp):
    frac = max(2 * emul_gap["rel"], 2 * ulp)
    frac = 2.0 ** math.ceil(math.log2(frac))
    return {"frac": frac, "log2_frac": int(math.log2(frac)), "below_f32_gap": frac * torch_gap["max_abs_f32"] < torch_gap["max_abs_diff"]}


def run_block(lin1, lin2, x, target, ctx):
    """Forward in ctx (autocast or not), backward outside; returns outputs, gradients and observed dtypes."""
    for p in (*lin1.parameters(), *lin2.parameters()):
        p.grad = None
    x = x.detach().clone().requires_grad_(True)
    with ctx():
        a = lin1(x)
        h = F.gelu(a, approximate="none")
        logits = lin2(h)
        probs = torch.softmax(logits, -1)
        loss = F.cross_entropy(logits, target)
    dtypes = {"lin1": str(a.dtype), "gelu": str(h.dtype), "logits": str(logits.dtype), "probs": str(probs.dtype), "loss": str(loss.dtype)}
    loss.backward()
    t = {"out.logits": logits, "out.probs": probs, "out.loss": loss.reshape(1), "grad.x": x.grad}
    for name, m in (("lin1", lin1), ("lin2", lin2)):
        t[f"grad.{name}.weight"] = m.weight.grad
        t[f"grad.{name}.bias"] = m.bias.grad
    t = {k: v.detach().float().clone().contiguous() for k, v in t.items()}
    return t, {k: v.replace("torch.", "") for k, v in dtypes.items()}


def compare(ac, f32, emul, ulp, keys, check):
    stats, emul_stats, tol = {}, {}, {}
    for k in keys:
        stats[k] = gap(ac[k], f32[k])
        emul_stats[k] = gap(emul[k], ac[k])  # vs torch's autocast: the wrt-vs-torch estimate
        emul_stats[k]["max_abs_torch"] = emul_stats[k].pop("max_abs_f32")  # here: max |torch autocast|
        emul_stats[k]["vs_f32_max_abs_diff"] = gap(emul[k], f32[k])["max_abs_diff"]  # the emulation's own autocast gap
        tol[k] = propose(k, stats[k], emul_stats[k], ulp)
    tol["uniform"] = {g: max(tol[k]["frac"] for k in keys if k.startswith(g + ".")) for g in ("out", "grad")}
    tol["rounding_check"] = {k: {"min": stats[k]["max_abs_diff"] / 4, "max": stats[k]["max_abs_diff"] * 4} for k in check}
    return stats, emul_stats, tol


def block(tag):
    dt = DTYPES[tag]
    seed("autocast_block")  # the same weights and data for bf16 and f16
    lin1 = torch.nn.Linear(48, 96)
    lin2 = torch.nn.Linear(96, 10)
    x = torch.randn(16, 48)
    target = torch.randint(0, 10, (16,))
    try:
        ac, dtypes = run_block(lin1, lin2, x, target, lambda: torch.autocast("cpu", dtype=dt))
    except RuntimeError as e:  # CPU autocast refusing this dtype
        return None, {"skipped": f"torch.autocast('cpu', dtype={dt}) raised: {e}"}
    f32, _ = run_block(lin1, lin2, x, target, _null)
    emul, _ = run_block(lin1, lin2, x, target, lambda: WrtAutocast(dt))
    t = {"x": x, "target": target, "lin1.weight": lin1.weight, "lin1.bias": lin1.bias, "lin2.weight": lin2.weight, "lin2.bias": lin2.bias}
    t.update(ac)
    t.update({f"f32.{k}": v for k, v in f32.items()})
    fname = f"block_{tag}.safetensors"
    save_file({k: v.detach().clone().contiguous() for k, v in t.items()}, os.path.join(OUT, fname))
    stats, emul_stats, tol = compare(ac, f32, emul, ULP[tag], list(ac), ["out.logits", "grad.x", "grad.lin1.weight"])
    return tol, {
        "file": fname,
        "autocast_dtype": str(dt).replace("torch.", ""),
        "keys": list(t),
        "autocast_dtypes": dtypes,
        "gaps": stats,
        "wrt_emulation": emul_stats,
    }


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


# ---------------------------------------------------------------------------------------------------------------
# SaTformer


def sdpa_forward(self, x, group, f, n):
    """satformer_ref.Attention.forward with the attention as wrt computes it: F.scaled_dot_product_attention on
    [B, H, L, d] (scale passed in, q not pre-scaled); the CLS query over all tokens, the patch queries over the
    CLS token plus their group (time: the same patch in every frame, space: every patch of the frame)."""
    b, L, _ = x.shape
    h = self.heads
    q, k, v = self.to_qkv(x).chunk(3, dim=-1)
    q, k, v = (t.reshape(b, L, h, -1).permute(0, 2, 1, 3) for t in (q, k, v))  # [B, H, L, d]
    d = q.shape[-1]
    sdpa = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=self.scale)  # noqa: E731
    cls_out = sdpa(q[:, :, :1], k, v)
    groups = n if group == "time" else f

    def grouped(t):  # [B, H, f*n, d] -> [B, H*groups, per group, d]
        t = t[:, :, 1:].reshape(b, h, f, n, d)
        t = t.permute(0, 1, 3, 2, 4) if group == "time" else t
        return t.reshape(b, h * groups, -1, d)

    def with_cls(t):
        cls = t[:, :, :1].unsqueeze(2).expand(b, h, groups, 1, d).reshape(b, h * groups, 1, d)
        return torch.cat((cls, grouped(t)), dim=2)

    assert group in ("time", "space"), group
    out = sdpa(grouped(q), with_cls(k), with_cls(v)).reshape(b, h, groups, -1, d)
    out = out.permute(0, 1, 3, 2, 4) if group == "time" else out
    out = torch.cat((cls_out, out.reshape(b, h, f * n, d)), dim=2)
    return self.to_out(out.permute(0, 2, 1, 3).reshape(b, L, h * d))


def run_satformer(m, x, target, ctx, attn="sdpa"):
    m.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(True)
    dtypes = {}

    def note(name, value=lambda i, o: o):  # a forward hook recording the dtype (returns None: output unchanged)
        return lambda mod, i, o: dtypes.setdefault(name, str(value(i, o).dtype)) and None

    hooks = [
        m.layers[0][0].norm.register_forward_hook(note("layernorm")),
        m.layers[0][0].fn.to_qkv.register_forward_hook(note("to_qkv (linear)")),
        m.layers[0][0].register_forward_hook(note("attention block output")),
        m.layers[0][2].fn.net[1].register_forward_hook(note("geglu (x * gelu(gate))")),
        m.to_patch_embedding.register_forward_hook(note("to_patch_embedding")),
        m.pos_emb.register_forward_hook(note("pos_emb (embedding)")),
        m.layers[0][1].register_forward_hook(note("residual stream (attention + x)", lambda i, o: o + i[0])),
    ]
    saved = satformer_ref.Attention.forward
    if attn == "sdpa":
        satformer_ref.Attention.forward = sdpa_forward
    try:
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]), ctx():
            logits = m(x)
            loss = F.cross_entropy(logits, target)
    finally:
        satformer_ref.Attention.forward = saved
        for hk in hooks:
            hk.remove()
    dtypes.update({"logits": str(logits.dtype), "loss": str(loss.dtype)})
    loss.backward()
    t = {"out.logits": logits, "out.loss": loss.reshape(1), "grad.input": x.grad}
    for k, p in m.named_parameters():
        assert p.grad is not None, k  # T->S uses every parameter
        t[f"grad.{k}"] = p.grad
    t = {k: v.detach().float().clone().contiguous() for k, v in t.items()}
    return t, {k: v.replace("torch.", "") for k, v in dtypes.items()}


def satformer():
    tag, dt = "bf16", torch.bfloat16
    assert os.path.exists(SATFORMER_FIXTURE), f"{SATFORMER_FIXTURE} missing: run gen_satformer.py first"
    ref = load_file(SATFORMER_FIXTURE)
    seed("satformer_t_s")  # as gen_satformer.py's run("T->S"): only to tell whether this CPU regenerates t_s
    m = SaTformer(attn="T->S", **CONFIG)
    perturb_norms(m)
    c = CONFIG
    x = torch.randn(BATCH, c["num_frames"], c["channels"], c["image_size"], c["image_size"])
    target = torch.randint(0, c["num_classes"], (BATCH,))
    regen = {f"state.{k}": v for k, v in m.state_dict().items()} | {"input": x, "target": target}
    fixture_keys = [k for k in ref if k.startswith("state.") or k in ("input", "target")]
    regenerated_bit_equal = sorted(regen) == sorted(fixture_keys) and all(torch.equal(ref[k], regen[k]) for k in fixture_keys)
    # what the runs use: the committed fixture's state, input and target
    m.load_state_dict({k[len("state."):]: ref[k] for k in fixture_keys if k.startswith("state.")}, strict=True)
    m.eval()
    x, target = ref["input"].clone(), ref["target"].clone()
    used = {f"state.{k}": v for k, v in m.state_dict().items()} | {"input": x, "target": target}
    assert sorted(used) == sorted(fixture_keys) and all(torch.equal(ref[k], used[k]) for k in fixture_keys)
    autocast = lambda: torch.autocast("cpu", dtype=dt)  # noqa: E731
    ac, dtypes = run_satformer(m, x, target, autocast)
    f32, _ = run_satformer(m, x, target, _null)
    emul, _ = run_satformer(m, x, target, lambda: WrtAutocast(dt))
    ref_ac, ref_dtypes = run_satformer(m, x, target, autocast, attn="ref")
    ref_f32, _ = run_satformer(m, x, target, _null, attn="ref")
    assert set(SATFORMER_CHECK) <= set(F32_KEYS)
    t = dict(ac)
    t.update({f"f32.{k}": f32[k] for k in F32_KEYS})
    t.update({"ref_attn.out.logits": ref_ac["out.logits"], "ref_attn.out.loss": ref_ac["out.loss"]})
    fname = f"satformer_{tag}.safetensors"
    save_file({k: v.detach().clone().contiguous() for k, v in t.items()}, os.path.join(OUT, fname))
    # same model and data as the satformer fixture, and its f32 values up to the attention's rounding
    same = {
        "state_input_target_bit_equal": True,  # asserted above: loaded from the fixture, strict
        "regenerated_bit_equal": regenerated_bit_equal,  # this CPU's seeded rebuild (as gen_satformer.py) vs the fixture
        "ref_attn_f32_vs_fixture_logits_max_abs_diff": (ref_f32["out.logits"] - ref["output.logits"]).abs().max().item(),
    }
    keys = list(ac)
    stats, emul_stats, tol = compare(ac, f32, emul, ULP[tag], keys, SATFORMER_CHECK)
    summary = lambda s: {k: s[k] for k in ("out.logits", "out.loss", "grad.input")} | {"grad.* (worst rel)": max((s[k] for k in keys if k.startswith("grad.")), key=lambda g: g["rel"])}  # noqa: E731
    return tol, {
        "file": fname,
        "autocast_dtype": "bfloat16",
        "attn": "T->S",
        "config": CONFIG,
        "batch": BATCH,
        "keys": list(t),
        "state_input_target_from": {
            "file": SATFORMER_FIXTURE_REL,
            "keys": ["state.<key> (loaded into SaTformer(attn='T->S', **config), strict)", "input", "target"],
            "comment": "not stored in this file: read them from the satformer fixture",
        },
        "f32_keys": [f"f32.{k}" for k in F32_KEYS],
        "autocast_dtypes": dtypes,
        "gaps": stats,
        "gaps_summary": summary(stats),
        "wrt_emulation": emul_stats,
        "wrt_emulation_summary": summary(emul_stats),
        "ref_attn": {
            "comment": "satformer_ref.py's matmul + softmax attention instead of SDPA: autocast dtypes, and its "
            "results against the SDPA ones (autocast vs autocast, f32 vs f32)",
            "autocast_dtypes": ref_dtypes,
            "autocast": {k: gap(ref_ac[k], ac[k]) for k in ("out.logits", "out.loss", "grad.input")},
            "f32": {k: gap(ref_f32[k], f32[k]) for k in ("out.logits", "out.loss", "grad.input")},
            "autocast_vs_f32": {k: gap(ref_ac[k], ref_f32[k]) for k in ("out.logits", "out.loss", "grad.input")},
        },
        "satformer_fixture": same,
    }


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    files, tolerances = {}, {"comment": TOLERANCE_COMMENT}
    for tag in DTYPES:
        tol, entry = block(tag)
        files[f"block_{tag}"] = entry
        if tol is not None:
            tolerances[f"block_{tag}"] = tol
    tol, entry = satformer()
    files["satformer_bf16"] = entry
    tolerances["satformer_bf16"] = tol
    manifest = {
        "torch": torch.__version__,
        "script": "tools/parity/gen_autocast.py",
        "ulp_rel": ULP,
        "files": files,
        "tolerances": tolerances,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {sorted(os.listdir(OUT))} to {OUT} ({total / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
