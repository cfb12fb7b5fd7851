"""Cross-check of tools/parity/tft_ref.py's canonical TemporalFusionTransformer against the real
pytorch-forecasting model: builds pytorch_forecasting.TemporalFusionTransformer with the hyper-parameters of each
canonical fixture (tests/fixtures/tft/canonical*.safetensors), loads the fixture's state.* tensors with
strict=True (the duplicated keys of the shared modules included), feeds the fixture's inputs as pytorch-forecasting's
x dict (encoder_cat / decoder_cat, encoder_cont / decoder_cont with the columns in x_reals order = static_reals +
known_reals + unknown_reals, the static columns repeated over time and the decoder's unknown columns filled with
noise that must not matter, full lengths, target_scale (center 0, scale 1) with an identity TorchNormalizer), and
compares prediction, encoder/decoder attention, static/encoder/decoder variable weights, the QuantileLoss and every
gradient with the stored values. Also checks that pytorch-forecasting and tft_ref draw the same initial weights
from the same seed (same construction order), that its state_dict keys and order equal the reference's, and the
non-causal and variable-encoder-length outputs.

Writes the result into tests/fixtures/tft/manifest.json under "pytorch_forecasting_check" (with the sha256 of the
fixture files it compared). Needs pytorch-forecasting, which the oracle venv does not pin; use a scratch venv that
sees the oracle's torch, e.g.:

    python3 -m venv /tmp/pfvenv && echo "$(PY=$(../shared/tools/oracle-venv); $PY -c 'import site; print(site.getsitepackages()[0])')" \\
        > /tmp/pfvenv/lib/python3.11/site-packages/zz_oracle.pth && /tmp/pfvenv/bin/pip install pytorch-forecasting
    /tmp/pfvenv/bin/python tools/parity/check_tft_pytorch_forecasting.py
"""
import hashlib
import json
import os
import sys
import zlib

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_forecasting  # noqa: E402
from pytorch_forecasting import TemporalFusionTransformer as PFTFT  # noqa: E402
from pytorch_forecasting.data.encoders import TorchNormalizer  # noqa: E402
from pytorch_forecasting.metrics import QuantileLoss  # noqa: E402

import gen_tft  # noqa: E402
from tft_ref import TemporalFusionTransformer  # noqa: E402

OUT = gen_tft.OUT


def pf_model(cfg, quantiles):
    cats = list(cfg["static_categoricals"].keys())
    enc_reals = list(cfg["known_reals"]) + list(cfg["unknown_reals"])
    return PFTFT(
        hidden_size=cfg["hidden_size"],
        lstm_layers=cfg["lstm_layers"],
        dropout=cfg["dropout"],
        output_size=len(quantiles),
        loss=QuantileLoss(quantiles),
        attention_head_size=cfg["attention_head_size"],
        max_encoder_length=gen_tft.TE,
        static_categoricals=cats,
        static_reals=list(cfg["static_reals"]),
        time_varying_categoricals_encoder=[],
        time_varying_categoricals_decoder=[],
        time_varying_reals_encoder=enc_reals,
        time_varying_reals_decoder=list(cfg["known_reals"]),
        x_reals=list(cfg["static_reals"]) + enc_reals,
        x_categoricals=cats,
        hidden_continuous_size=cfg["hidden_continuous_size"],
        embedding_sizes={k: tuple(v) for k, v in cfg["static_categoricals"].items()},
        causal_attention=cfg["causal_attention"],
        output_transformer=TorchNormalizer(method="identity", center=False),
    )


def pf_inputs(t, cfg, encoder_lengths=None):
    B, Te, Td = gen_tft.B, gen_tft.TE, gen_tft.TD
    n_sc, n_sr, nu = len(cfg["static_categoricals"]), len(cfg["static_reals"]), len(cfg["unknown_reals"])
    static_cat = t["input.static_cat"] if n_sc else torch.zeros(B, 0, dtype=torch.long)
    static_real = t["input.static_real"].clone().requires_grad_(True) if n_sr else torch.zeros(B, 0)
    enc = t["input.encoder_real"].clone().requires_grad_(True)
    dec = t["input.decoder_real"].clone().requires_grad_(True)
    g = torch.Generator().manual_seed(1)
    x = {
        "encoder_cat": static_cat[:, None].expand(B, Te, n_sc),
        "decoder_cat": static_cat[:, None].expand(B, Td, n_sc),
        "encoder_cont": torch.cat([static_real[:, None].expand(B, Te, n_sr), enc], dim=2),
        # the decoder's unknown columns (o_walk, target) are not inputs of the decoder: noise
        "decoder_cont": torch.cat([static_real[:, None].expand(B, Td, n_sr), dec, torch.randn(B, Td, nu, generator=g)], dim=2),
        "encoder_lengths": torch.full((B,), Te, dtype=torch.long) if encoder_lengths is None else encoder_lengths,
        "decoder_lengths": torch.full((B,), Td, dtype=torch.long),
        "target_scale": torch.tensor([[0.0, 1.0]]).expand(B, 2),
    }
    return x, {"static_real": static_real, "encoder_real": enc, "decoder_real": dec}


def max_diff(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.detach().double() - b.detach().double()).abs().max().item() if a.numel() else 0.0


def rel_diff(a, b):
    return max_diff(a, b) / max(b.abs().max().item(), 1e-30) if a.numel() else 0.0


def check_case(case, m):
    cfg = dict(m[case]["config"])
    cfg["static_categoricals"] = {k: (v["n_classes"], v["embedding_dim"]) for k, v in cfg["static_categoricals"].items()}
    quantiles = m[case]["quantiles"]
    path = os.path.join(OUT, m[case]["file"])
    t = load_file(path)
    res = {}

    # same construction order -> same initial weights from the same seed
    torch.manual_seed(zlib.crc32(b"init-order"))
    pf0 = pf_model(cfg, quantiles)
    torch.manual_seed(zlib.crc32(b"init-order"))
    ref0 = TemporalFusionTransformer(**{k: v for k, v in cfg.items()})
    sd_pf, sd_ref = pf0.state_dict(), ref0.state_dict()
    res["state_dict_keys_equal_in_order"] = list(sd_pf.keys()) == list(sd_ref.keys())
    res["named_parameters_equal_in_order"] = [k for k, _ in pf0.named_parameters()] == [k for k, _ in ref0.named_parameters()]
    res["init_from_same_seed_max_abs_diff"] = max(max_diff(sd_pf[k], sd_ref[k]) for k in sd_ref)
    assert res["state_dict_keys_equal_in_order"], sorted(set(sd_pf) ^ set(sd_ref))

    model = pf_model(cfg, quantiles)
    state = {k[len("state."):]: v for k, v in t.items() if k.startswith("state.")}
    model.load_state_dict(state, strict=True)
    model.eval()
    x, leaves = pf_inputs(t, cfg)
    out = model(x)
    pred = out["prediction"]
    Te = gen_tft.TE
    res["forward_max_abs_diff"] = {
        "prediction": max_diff(pred, t["output.prediction"]),
        "encoder_attention": max_diff(out["encoder_attention"], t["output.attention"][..., :Te]),
        "decoder_attention": max_diff(out["decoder_attention"], t["output.attention"][..., Te:]),
        "static_variables": max_diff(out["static_variables"], t["output.static_weights"]),
        "encoder_variables": max_diff(out["encoder_variables"], t["output.encoder_weights"]),
        "decoder_variables": max_diff(out["decoder_variables"], t["output.decoder_weights"]),
    }
    loss = model.loss(pred, t["target"])
    res["loss_abs_diff"] = abs(loss.item() - t["output.loss"].item())
    loss.backward()
    gd, gz = {}, {}
    for k, p in model.named_parameters():
        if k in m[case]["grad_analytic_zero"]:  # rounding noise on both sides: absolute
            gz[k] = max_diff(p.grad, t[f"grad.{k}"])
        else:
            gd[k] = rel_diff(p.grad, t[f"grad.{k}"])
    for k, v in leaves.items():
        if f"grad.input.{k}" in t:
            gd[f"input.{k}"] = rel_diff(v.grad, t[f"grad.input.{k}"])
    worst = max(gd, key=gd.get)
    res["grad_max_rel_diff"] = {"max": gd[worst], "worst": worst, "count": len(gd)}
    res["grad_analytic_zero_max_abs_diff"] = max(gz.values())

    with torch.no_grad():
        if "output.prediction_noncausal" in t:
            model.hparams.causal_attention = False
            x, _ = pf_inputs(t, cfg)
            res["forward_max_abs_diff"]["prediction_noncausal"] = max_diff(model(x)["prediction"], t["output.prediction_noncausal"])
            model.hparams.causal_attention = True
        if "output.prediction_var_lengths" in t:
            x, _ = pf_inputs(t, cfg, encoder_lengths=t["input.encoder_lengths_var"])
            res["forward_max_abs_diff"]["prediction_var_lengths"] = max_diff(model(x)["prediction"], t["output.prediction_var_lengths"])
    with open(path, "rb") as f:
        res["sha256"] = hashlib.sha256(f.read()).hexdigest()
    return res


def main():
    torch.set_num_threads(1)
    mpath = os.path.join(OUT, "manifest.json")
    m = json.load(open(mpath))
    result = {
        "pytorch_forecasting": pytorch_forecasting.__version__,
        "torch": torch.__version__,
        "script": "tools/parity/check_tft_pytorch_forecasting.py",
        "how": "pytorch_forecasting.TemporalFusionTransformer with the fixture's hparams, load_state_dict(strict=True) of state.*, "
               "x dict with target_scale (0, 1) and an identity TorchNormalizer; grads compared as max|a-b| / max|b| per tensor",
    }
    sha = {}
    for case in ("canonical", "canonical_nostatic"):
        r = check_case(case, m)
        sha[case] = r.pop("sha256")
        result[case] = r
        worst_fwd = max(r["forward_max_abs_diff"].values())
        print(f"{case}: forward max abs diff {worst_fwd:.3g}, loss {r['loss_abs_diff']:.3g}, grad max rel {r['grad_max_rel_diff']['max']:.3g} "
              f"({r['grad_max_rel_diff']['worst']}), keys equal {r['state_dict_keys_equal_in_order']}, "
              f"params equal {r['named_parameters_equal_in_order']}, init diff {r['init_from_same_seed_max_abs_diff']:.3g}")
        assert worst_fwd < 1e-5 and r["loss_abs_diff"] < 1e-5 and r["grad_max_rel_diff"]["max"] < 1e-4, r
    result["sha256"] = sha
    m["pytorch_forecasting_check"] = result
    with open(mpath, "w") as f:
        f.write(gen_tft.dumps(m) + "\n")
    print(f"wrote {mpath}")


if __name__ == "__main__":
    main()
