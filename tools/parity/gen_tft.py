"""Reference values for wrt-models' Temporal Fusion Transformers, from the plain-torch reference
tools/parity/tft_ref.py. It writes (float32 unless stated, eval mode: dropout 0.1 is configured but inactive):

tests/fixtures/tft/seed.safetensors — the seed's V1 `TemporalFusionTransformerLightning` (SEED_CONFIG, B x W):
  state.<key>           the full state_dict; every LayerNorm moved off 1 / 0 (weight ~ U(0.5, 1.5), bias ~ N(0, 0.1))
                        and every Linear bias off 0 (~ N(0, 0.1)); Linear weights and the LSTM keep PyTorch's
                        default init (U(+-1/sqrt(fan_in)), U(+-1/sqrt(H)))
  input.x               [B, W, I] ~ N(0, 1)
  target                [B, O] ~ N(0, 1)
  output.y              forward(input.x), [B, O]
  output.loss           F.mse_loss(output.y, target) (mean over B * O), shape [1]
  grad.input.x          d loss / d input.x
  grad.<param>          d loss / d param for every named_parameters() entry (the self_attention.W_k bias gets none
                        in exact arithmetic, so it holds rounding noise: `grad_analytic_zero`)

tests/fixtures/tft/canonical.safetensors — the canonical (pytorch-forecasting) `TemporalFusionTransformer`
(CANONICAL_CONFIG: one static categorical, 2 static reals, 3 known reals, 2 unknown reals; B x Te x Td, full
lengths):
  state.<key>           the full state_dict, the shared modules under both names (`prescalers.*` again as
                        `{static,encoder,decoder}_variable_selection.prescalers.*`, `post_lstm_gate_decoder.*` =
                        `post_lstm_gate_encoder.*`, `post_lstm_add_norm_decoder.*` = `post_lstm_add_norm_encoder.*`;
                        manifest `aliases`); every bias (Linear and LSTM) ~ N(0, 0.1), every ResampleNorm `mask`
                        ~ N(0, 0.5), LayerNorm weight ~ U(0.5, 1.5) / bias ~ N(0, 0.1), embeddings ~ N(0, 1); other
                        weights keep pytorch-forecasting's init (xavier / kaiming-normal / PyTorch default)
  input.static_cat      int64 [B, 1] (region index in [0, 5))
  input.static_real     [B, 2] ~ N(0, 1) (s_level, s_amp)
  input.encoder_real    [B, Te, 5] ~ N(0, 1): k_sin, k_cos, k_trend, o_walk, target (known columns first)
  input.decoder_real    [B, Td, 3] ~ N(0, 1): k_sin, k_cos, k_trend
  target                [B, Td] ~ N(0, 1)
  output.prediction     [B, Td, Q]    raw output_layer values (no target normaliser / inverse transform)
  output.attention      [B, Td, heads, Te + Td]   (encoder_attention = [..., :Te], decoder_attention = [..., Te:])
  output.static_weights [B, 1, 3]     static variable selection weights (region, s_level, s_amp)
  output.encoder_weights [B, Te, 1, 5]
  output.decoder_weights [B, Td, 1, 3]
  output.loss           pytorch-forecasting QuantileLoss: mean over all [B, Td, Q] of 2 max(q e, (q - 1) e),
                        e = target - prediction[..., q], shape [1]
  grad.input.static_real, grad.input.encoder_real, grad.input.decoder_real
  grad.<param>          for every named_parameters() entry (shared tensors once, under the first name; the
                        multihead_attn.k_layers.*.bias gradients are rounding noise: `grad_analytic_zero`)
  output.prediction_noncausal   forward with causal_attention=False, same weights and inputs
  input.encoder_lengths_var     int64 [B] = VAR_ENCODER_LENGTHS (max = Te) and
  output.prediction_var_lengths forward with those encoder lengths (packed encoder LSTM, padded steps masked out
                        of the attention; optional for the Rust side)

tests/fixtures/tft/canonical_nostatic.safetensors — the canonical model with lstm_layers 2 and no static variables
(static embedding = zeros [B, H], output.static_weights [B, 0]); state.*, input.encoder_real,
input.decoder_real, target, output.{prediction, attention, static_weights, encoder_weights, decoder_weights, loss},
grad.input.{encoder_real, decoder_real}, grad.<param>. The static-context GRNs' fc1 weights get exactly zero
gradients there (their input is 0): `grad_exact_zero`.

and tests/fixtures/tft/manifest.json: the torch version, configs, variable names in order, B/W/Te/Td, tolerances,
per case the state_dict keys with shapes (ordered; state.<key> and grad.<param> have those shapes), the
named_parameters names, the alias pairs, dtype and shape of the other (input / output) tensors;
under `defaults` the seed default config (I 32, H 32, heads 4, lstm 1, O 32) and the canonical default config
(H 32, heads 4, Hc 8, 7 quantiles, the same variables): state_dict shapes and trainable parameter counts, with the
spec-listing check; and `pytorch_forecasting_check`, written by check_tft_pytorch_forecasting.py (kept from the
previous manifest when regenerating; it records the sha256 of the files it compared).

    PY=$(../shared/tools/oracle-venv) && $PY tools/parity/gen_tft.py
"""
import hashlib
import json
import os
import sys
import zlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tft_ref import (  # noqa: E402
    MASK_BIAS,
    AddNorm,
    ResampleNorm,
    TemporalFusionTransformer,
    TemporalFusionTransformerLightning,
    quantile_loss,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "tft")

SEED_CONFIG = dict(input_size=6, hidden_size=8, num_heads=2, num_lstm_layers=2, dropout=0.1, output_size=5)
SEED_B, SEED_W = 3, 7
SEED_DEFAULT = dict(input_size=32, hidden_size=32, num_heads=4, num_lstm_layers=1, dropout=0.1, output_size=32)

STATIC_CATEGORICALS = {"region": (5, 3)}
STATIC_REALS = ["s_level", "s_amp"]
KNOWN_REALS = ["k_sin", "k_cos", "k_trend"]
UNKNOWN_REALS = ["o_walk", "target"]
QUANTILES = [0.1, 0.5, 0.9]
DEFAULT_QUANTILES = [0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98]
VARIABLES = dict(static_categoricals=STATIC_CATEGORICALS, static_reals=STATIC_REALS, known_reals=KNOWN_REALS, unknown_reals=UNKNOWN_REALS)
CANONICAL_CONFIG = dict(hidden_size=16, attention_head_size=4, hidden_continuous_size=4, lstm_layers=1, dropout=0.1,
                        output_size=len(QUANTILES), causal_attention=True, **VARIABLES)
NOSTATIC_CONFIG = dict(CANONICAL_CONFIG, lstm_layers=2, static_categoricals={}, static_reals=[])
CANONICAL_DEFAULT = dict(hidden_size=32, attention_head_size=4, hidden_continuous_size=8, lstm_layers=1, dropout=0.1,
                         output_size=len(DEFAULT_QUANTILES), causal_attention=True, **VARIABLES)
B, TE, TD = 3, 6, 3
VAR_ENCODER_LENGTHS = [6, 4, 5]

# forward values (output.*): |wrt - torch| <= atol + rtol |torch|; gradients: 1e-3 relative with an absolute floor
# of 1e-3 times the tensor's largest |gradient|; grad_analytic_zero tensors are compared against 0 with atol.
TOLERANCES = {"forward": {"rtol": 1e-4, "atol": 1e-4}, "grad": {"rtol": 1e-3, "floor": 1e-3}, "grad_analytic_zero": {"atol": 1e-6}}


def snap(t):
    return t.detach().clone().contiguous()


def shapes(sd):
    return [[k, list(v.shape)] for k, v in sd.items()]


def n_trainable(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def perturb_seed(m):
    with torch.no_grad():
        for sub in m.modules():
            if isinstance(sub, torch.nn.LayerNorm):
                sub.weight.copy_(torch.empty_like(sub.weight).uniform_(0.5, 1.5))
                sub.bias.copy_(0.1 * torch.randn_like(sub.bias))
            elif isinstance(sub, torch.nn.Linear) and sub.bias is not None:
                sub.bias.copy_(0.1 * torch.randn_like(sub.bias))


def perturb_canonical(m):
    """modules() visits each shared module once, so the aliases keep equal values."""
    with torch.no_grad():
        for sub in m.modules():
            if isinstance(sub, torch.nn.LayerNorm):
                sub.weight.copy_(torch.empty_like(sub.weight).uniform_(0.5, 1.5))
                sub.bias.copy_(0.1 * torch.randn_like(sub.bias))
            elif isinstance(sub, torch.nn.Embedding):
                sub.weight.copy_(torch.randn_like(sub.weight))
            elif isinstance(sub, (ResampleNorm, AddNorm)) and getattr(sub, "trainable_add", False):
                sub.mask.copy_(0.5 * torch.randn_like(sub.mask))
            elif isinstance(sub, torch.nn.Linear) and sub.bias is not None:
                sub.bias.copy_(0.1 * torch.randn_like(sub.bias))
            elif isinstance(sub, torch.nn.LSTM):
                for name, p in sub.named_parameters():
                    if name.startswith("bias"):
                        p.copy_(0.1 * torch.randn_like(p))


def tensor_list(t):
    return {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)} for k, v in sorted(t.items())}


def seed_case():
    torch.manual_seed(zlib.crc32(b"tft-seed"))
    m = TemporalFusionTransformerLightning(**SEED_CONFIG)
    perturb_seed(m)
    m.eval()
    c = SEED_CONFIG
    t = {f"state.{k}": snap(v) for k, v in m.state_dict().items()}
    x = torch.randn(SEED_B, SEED_W, c["input_size"])
    target = torch.randn(SEED_B, c["output_size"])
    t.update({"input.x": snap(x), "target": snap(target)})
    x.requires_grad_(True)
    y = m(x)
    assert list(y.shape) == [SEED_B, c["output_size"]]
    loss = F.mse_loss(y, target)
    loss.backward()
    t.update({"output.y": snap(y), "output.loss": snap(loss).reshape(1), "grad.input.x": snap(x.grad)})
    params = [k for k, _ in m.named_parameters()]
    for k, p in m.named_parameters():
        assert p.grad is not None, k
        t[f"grad.{k}"] = snap(p.grad)
    zero = ["self_attention.W_k.bias"]
    zmax = max(t[f"grad.{k}"].abs().max().item() for k in zero)
    assert zmax < TOLERANCES["grad_analytic_zero"]["atol"] / 10, zmax
    assert list(m.state_dict().keys()) == params  # no buffers
    save_file(t, os.path.join(OUT, "seed.safetensors"))
    return {
        "file": "seed.safetensors",
        "config": c,
        "B": SEED_B,
        "W": SEED_W,
        "loss": "F.mse_loss(output.y, target), mean over B * O",
        "state_dict": shapes(m.state_dict()),
        "params": params,
        "grad_analytic_zero": zero,
        "grad_analytic_zero_max_abs": zmax,
        "num_parameters": n_trainable(m),
        "tensors": {k: v for k, v in tensor_list(t).items() if not k.startswith("state.") and (not k.startswith("grad.") or k.startswith("grad.input."))},
        "num_tensors": len(t),
    }


def canonical_inputs(cfg):
    n_sc, n_sr = len(cfg["static_categoricals"]), len(cfg["static_reals"])
    nk, nu = len(cfg["known_reals"]), len(cfg["unknown_reals"])
    static_cat = torch.stack([torch.randint(0, n, (B,)) for n, _ in cfg["static_categoricals"].values()], dim=1) if n_sc else torch.zeros(B, 0, dtype=torch.long)
    static_real = torch.randn(B, n_sr)
    encoder_real = torch.randn(B, TE, nk + nu)
    decoder_real = torch.randn(B, TD, nk)
    target = torch.randn(B, TD)
    return static_cat, static_real, encoder_real, decoder_real, target


def canonical_case(name, cfg, file, extras):
    torch.manual_seed(zlib.crc32(name.encode()))
    m = TemporalFusionTransformer(**cfg)
    perturb_canonical(m)
    m.eval()
    has_static = bool(m.static_variables)
    sd = m.state_dict()
    aliases = m.shared_aliases()
    for dup, primary in aliases:
        assert torch.equal(sd[dup], sd[primary]), dup
    params = [k for k, _ in m.named_parameters()]
    assert set(params) | {d for d, _ in aliases} == set(sd.keys()) and not set(params) & {d for d, _ in aliases}
    t = {f"state.{k}": snap(v) for k, v in sd.items()}

    static_cat, static_real, encoder_real, decoder_real, target = canonical_inputs(cfg)
    if has_static:
        t.update({"input.static_cat": static_cat.clone(), "input.static_real": snap(static_real)})
    t.update({"input.encoder_real": snap(encoder_real), "input.decoder_real": snap(decoder_real), "target": snap(target)})
    grads_in = {"encoder_real": encoder_real, "decoder_real": decoder_real}
    if has_static:
        grads_in = {"static_real": static_real, **grads_in}
    for v in grads_in.values():
        v.requires_grad_(True)
    out = m(static_cat, static_real, encoder_real, decoder_real)
    n_static, n_enc, n_dec = len(m.static_variables), len(m.encoder_variables), len(m.decoder_variables)
    heads = cfg["attention_head_size"]
    assert list(out["prediction"].shape) == [B, TD, cfg["output_size"]]
    assert list(out["attention"].shape) == [B, TD, heads, TE + TD]
    assert list(out["static_weights"].shape) == ([B, 1, n_static] if has_static else [B, 0])
    assert list(out["encoder_weights"].shape) == [B, TE, 1, n_enc]
    assert list(out["decoder_weights"].shape) == [B, TD, 1, n_dec]
    loss = quantile_loss(out["prediction"], target, QUANTILES)
    loss.backward()
    for k, v in out.items():
        t[f"output.{k}"] = snap(v)
    t["output.loss"] = snap(loss).reshape(1)
    for k, v in grads_in.items():
        t[f"grad.input.{k}"] = snap(v.grad)
    for k, p in m.named_parameters():
        assert p.grad is not None, k
        t[f"grad.{k}"] = snap(p.grad)
    zero = [k for k in params if k.startswith("multihead_attn.k_layers.") and k.endswith(".bias")]
    zmax = max(t[f"grad.{k}"].abs().max().item() for k in zero)
    assert zmax < TOLERANCES["grad_analytic_zero"]["atol"] / 10, zmax
    exact_zero = [k for k in params if t[f"grad.{k}"].abs().max().item() == 0.0]

    checks = {}
    # causal mask: decoder step 0 sees only the encoder; probabilities of blocked keys are exactly 0
    att = out["attention"].detach()
    for i in range(TD):
        assert att[:, i, :, TE + i :].abs().max().item() == 0.0
    checks["attention_rows_sum_max_abs_err"] = (att.sum(-1) - 1).abs().max().item()
    with torch.no_grad():
        if "noncausal" in extras:
            m.causal_attention = False
            nc = m(static_cat, static_real, encoder_real, decoder_real)
            m.causal_attention = True
            t["output.prediction_noncausal"] = snap(nc["prediction"])
            checks["noncausal_vs_causal_max_abs_diff"] = (nc["prediction"] - out["prediction"]).abs().max().item()
            assert checks["noncausal_vs_causal_max_abs_diff"] > 1e-3
        if "var_lengths" in extras:
            lengths = torch.tensor(VAR_ENCODER_LENGTHS, dtype=torch.long)
            vl = m(static_cat, static_real, encoder_real, decoder_real, encoder_lengths=lengths)
            t["input.encoder_lengths_var"] = lengths.clone()
            t["output.prediction_var_lengths"] = snap(vl["prediction"])
            # a shortened series equals the same series with its padded encoder steps cut off
            inv = {}
            for row in range(B):
                n = VAR_ENCODER_LENGTHS[row]
                enc_cut = encoder_real[row : row + 1, :n].detach()
                alone = m(static_cat[row : row + 1], static_real[row : row + 1].detach(), enc_cut, decoder_real[row : row + 1].detach())
                d = (alone["prediction"][0] - vl["prediction"][row]).abs().max().item()
                assert d < 1e-5, (row, d)
                inv[f"row{row}"] = {"encoder_length": n, "max_abs_diff_vs_cut_series": d}
            # padded steps do not matter
            enc2 = encoder_real.detach().clone()
            for row in range(B):
                enc2[row, VAR_ENCODER_LENGTHS[row] :] = 10.0 * torch.randn_like(enc2[row, VAR_ENCODER_LENGTHS[row] :])
            vl2 = m(static_cat, static_real, enc2, decoder_real, encoder_lengths=lengths)
            checks["var_lengths"] = {
                "encoder_lengths": VAR_ENCODER_LENGTHS,
                "rows": inv,
                "redraw_padded_steps_max_abs_diff": (vl2["prediction"] - vl["prediction"]).abs().max().item(),
            }
            assert checks["var_lengths"]["redraw_padded_steps_max_abs_diff"] < 1e-5

    save_file(t, os.path.join(OUT, file))
    cfg_json = dict(cfg, static_categoricals={k: {"n_classes": n, "embedding_dim": d} for k, (n, d) in cfg["static_categoricals"].items()})
    return {
        "file": file,
        "config": cfg_json,
        "quantiles": QUANTILES,
        "variables": {
            "static": m.static_variables,
            "encoder": m.encoder_variables,
            "decoder": m.decoder_variables,
            "reals_prescaler_order": m.reals,
            "embedding_dims": m.input_embeddings.output_size,
        },
        "B": B,
        "Te": TE,
        "Td": TD,
        "state_dict": shapes(sd),
        "params": params,
        "aliases": [list(p) for p in aliases],
        "grad_analytic_zero": zero,
        "grad_analytic_zero_max_abs": zmax,
        "grad_exact_zero": exact_zero,
        "num_parameters": n_trainable(m),
        "num_state_dict_elements": sum(v.numel() for v in sd.values()),
        "checks": checks,
        "tensors": {k: v for k, v in tensor_list(t).items() if not k.startswith("state.") and (not k.startswith("grad.") or k.startswith("grad.input."))},
        "num_tensors": len(t),
    }


# the spec's state_dict listing (../shared/specs/tft.md section 3) for the seed default: I = O = 32, H = 32, D = 64
def spec_seed_listing(I=32, H=32, O=32):
    D = 2 * H
    out = [["input_projection.weight", [H, I]], ["input_projection.bias", [H]]]
    for sfx in ("", "_reverse"):
        out += [[f"lstm.weight_ih_l0{sfx}", [4 * H, H]], [f"lstm.weight_hh_l0{sfx}", [4 * H, H]],
                [f"lstm.bias_ih_l0{sfx}", [4 * H]], [f"lstm.bias_hh_l0{sfx}", [4 * H]]]
    for w in ("W_q", "W_k", "W_v", "W_o"):
        out += [[f"self_attention.{w}.weight", [D, D]], [f"self_attention.{w}.bias", [D]]]
    for g in ("enrichment_grn", "output_grn"):
        for lin in ("fc1", "fc2", "gate_fc"):
            out += [[f"{g}.{lin}.weight", [D, D]], [f"{g}.{lin}.bias", [D]]]
        out += [[f"{g}.layer_norm.weight", [D]], [f"{g}.layer_norm.bias", [D]]]
    out += [["output_layer.weight", [O, D]], ["output_layer.bias", [O]], ["layer_norm.weight", [D]], ["layer_norm.bias", [D]]]
    return out


# the shapes the spec lists explicitly in section 4.2 (H 32, Hc 8, 4 heads, Q 7)
def spec_canonical_listing(reals, H=32, Hc=8, heads=4, Q=7):
    dk = H // heads
    grn = lambda p: [[f"{p}.fc1.weight", [H, H]], [f"{p}.fc1.bias", [H]], [f"{p}.fc2.weight", [H, H]], [f"{p}.fc2.bias", [H]],
                     [f"{p}.gate_norm.glu.fc.weight", [2 * H, H]], [f"{p}.gate_norm.glu.fc.bias", [2 * H]],
                     [f"{p}.gate_norm.add_norm.norm.weight", [H]], [f"{p}.gate_norm.add_norm.norm.bias", [H]]]
    out = []
    for r in reals:
        out += [[f"prescalers.{r}.weight", [Hc, 1]], [f"prescalers.{r}.bias", [Hc]]]
    for g in ("static_context_variable_selection", "static_context_initial_hidden_lstm", "static_context_initial_cell_lstm", "static_context_enrichment"):
        out += grn(g)
    for l in ("lstm_encoder", "lstm_decoder"):
        out += [[f"{l}.weight_ih_l0", [4 * H, H]], [f"{l}.weight_hh_l0", [4 * H, H]], [f"{l}.bias_ih_l0", [4 * H]], [f"{l}.bias_hh_l0", [4 * H]]]
    out += [["post_lstm_gate_encoder.fc.weight", [2 * H, H]], ["post_lstm_gate_encoder.fc.bias", [2 * H]],
            ["post_lstm_add_norm_encoder.norm.weight", [H]], ["post_lstm_add_norm_encoder.norm.bias", [H]]]
    out += grn("static_enrichment") + [["static_enrichment.context.weight", [H, H]]]
    out += [["multihead_attn.v_layer.weight", [dk, H]], ["multihead_attn.v_layer.bias", [dk]]]
    for kind in ("q_layers", "k_layers"):
        for i in range(heads):
            out += [[f"multihead_attn.{kind}.{i}.weight", [dk, H]], [f"multihead_attn.{kind}.{i}.bias", [dk]]]
    out += [["multihead_attn.w_h.weight", [H, dk]]]
    for g in ("post_attn_gate_norm", "pre_output_gate_norm"):
        out += [[f"{g}.glu.fc.weight", [2 * H, H]], [f"{g}.glu.fc.bias", [2 * H]], [f"{g}.add_norm.norm.weight", [H]], [f"{g}.add_norm.norm.bias", [H]]]
    out += grn("pos_wise_ff") + [["output_layer.weight", [Q, H]], ["output_layer.bias", [Q]]]
    return out


def defaults():
    torch.manual_seed(0)
    s = TemporalFusionTransformerLightning(**SEED_DEFAULT)
    s_sd = shapes(s.state_dict())
    spec = spec_seed_listing()
    assert s_sd == spec, "seed default state_dict differs from the spec's listing"
    c = TemporalFusionTransformer(**CANONICAL_DEFAULT)
    c_sd = shapes(c.state_dict())
    have = dict((k, v) for k, v in c_sd)
    spec_c = spec_canonical_listing(c.reals)
    mismatch = [[k, v, have.get(k)] for k, v in spec_c if have.get(k) != v]
    assert not mismatch, mismatch
    cfg_json = dict(CANONICAL_DEFAULT, static_categoricals={k: {"n_classes": n, "embedding_dim": d} for k, (n, d) in STATIC_CATEGORICALS.items()})
    return {
        "seed": {
            "config": SEED_DEFAULT,
            "state_dict": s_sd,
            "num_parameters": n_trainable(s),
            "spec_listing_check": "equal (names, order and shapes of ../shared/specs/tft.md section 3)",
        },
        "canonical": {
            "config": cfg_json,
            "quantiles": DEFAULT_QUANTILES,
            "state_dict": c_sd,
            "params": [k for k, _ in c.named_parameters()],
            "aliases": [list(p) for p in c.shared_aliases()],
            "num_parameters": n_trainable(c),
            "num_state_dict_elements": sum(v.numel() for v in c.state_dict().values()),
            "spec_listing_check": f"the {len(spec_c)} shapes listed in ../shared/specs/tft.md section 4.2 match",
        },
    }


def dumps(obj, level=0):
    """JSON with one-space indentation, but lists of scalars and [key, shape] pairs on one line."""
    pad, inner = " " * level, " " * (level + 1)
    flat = lambda v: not isinstance(v, (dict, list)) or (isinstance(v, list) and all(not isinstance(e, (dict, list)) for e in v))
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        return "{\n" + ",\n".join(f"{inner}{json.dumps(k)}: {dumps(v, level + 1)}" for k, v in obj.items()) + "\n" + pad + "}"
    if isinstance(obj, list):
        if all(flat(e) for e in obj) and (all(not isinstance(e, list) for e in obj) and len(obj) <= 16 or not obj):
            return json.dumps(obj)
        return "[\n" + ",\n".join(inner + (json.dumps(e) if flat(e) else dumps(e, level + 1)) for e in obj) + "\n" + pad + "]"
    return json.dumps(obj)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    os.makedirs(OUT, exist_ok=True)
    mpath = os.path.join(OUT, "manifest.json")
    previous = json.load(open(mpath)) if os.path.exists(mpath) else {}
    seed = seed_case()
    canonical = canonical_case("tft-canonical", CANONICAL_CONFIG, "canonical.safetensors", ("noncausal", "var_lengths"))
    nostatic = canonical_case("tft-canonical-nostatic", NOSTATIC_CONFIG, "canonical_nostatic.safetensors", ())
    manifest = {
        "torch": torch.__version__,
        "script": "tools/parity/gen_tft.py",
        "reference": "tools/parity/tft_ref.py",
        "check_script": "tools/parity/check_tft_pytorch_forecasting.py",
        "rng": "torch.manual_seed(zlib.crc32(b'<case>')) per case (tft-seed, tft-canonical, tft-canonical-nostatic), one thread, float32",
        "mode": "eval (dropout inactive)",
        "mask_bias": MASK_BIAS,
        "init_perturbation": {
            "seed": {"layernorm.weight": "U(0.5,1.5)", "layernorm.bias": "N(0,0.1)", "linear.bias": "N(0,0.1)",
                     "linear.weight / lstm": "PyTorch default init"},
            "canonical": {"layernorm.weight": "U(0.5,1.5)", "layernorm.bias": "N(0,0.1)", "linear.bias and lstm bias_*": "N(0,0.1)",
                          "resample_norm / single_variable_grns ResampleNorm mask": "N(0,0.5)", "embedding.weight": "N(0,1)",
                          "linear.weight / lstm weights": "pytorch-forecasting init (xavier / kaiming-normal / PyTorch default)"},
        },
        "loss": {
            "seed": "F.mse_loss mean over B*O",
            "canonical": "pytorch-forecasting QuantileLoss: mean over [B,Td,Q] of 2*max(q*e,(q-1)*e), e = target - prediction[...,q]",
        },
        "tolerances": TOLERANCES,
        "seed": seed,
        "canonical": canonical,
        "canonical_nostatic": nostatic,
        "defaults": defaults(),
    }
    for case in ("seed", "canonical", "canonical_nostatic"):
        manifest[case]["sha256"] = sha256(os.path.join(OUT, manifest[case]["file"]))
    if "pytorch_forecasting_check" in previous:
        pf = previous["pytorch_forecasting_check"]
        stale = any(pf.get("sha256", {}).get(c) != manifest[c]["sha256"] for c in ("canonical", "canonical_nostatic"))
        if stale:
            pf = dict(pf, stale="the fixtures changed since this check ran: rerun check_tft_pytorch_forecasting.py")
        manifest["pytorch_forecasting_check"] = pf
    with open(mpath, "w") as f:
        f.write(dumps(manifest) + "\n")
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")
    d = manifest["defaults"]
    print(f"seed: {seed['num_parameters']} params; default {d['seed']['num_parameters']} params")
    print(f"canonical: {canonical['num_parameters']} params, {len(canonical['aliases'])} aliases, checks {json.dumps(canonical['checks'])}")
    print(f"canonical_nostatic: {nostatic['num_parameters']} params, grad_exact_zero {nostatic['grad_exact_zero']}")
    print(f"canonical default: {d['canonical']['num_parameters']} params ({d['canonical']['num_state_dict_elements']} state_dict elements)")


if __name__ == "__main__":
    main()
