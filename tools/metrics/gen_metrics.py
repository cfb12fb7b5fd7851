"""Reference values for wrt-train's streaming metrics (train/src/metrics/), read by
train/tests/metrics_parity.rs. Each case draws small seeded inputs, computes the expected values with the
library the projects use (scikit-learn, torchmetrics, pytorch-forecasting) or, where none exists, with the
formula written out in numpy, and writes

  tests/fixtures/metrics/<case>.safetensors   the inputs (input.*)
  tests/fixtures/metrics/expected.json        per case: the metric's settings and its expected values

Every library value is cross-checked here against a second source (sklearn vs torchmetrics, pytorch-forecasting
vs its formula) before it is written.

    python3 -m venv .venv && .venv/bin/pip install -r tools/metrics/requirements.txt
    .venv/bin/python tools/metrics/gen_metrics.py
"""
import json
import os
import zlib

import numpy as np
import sklearn
import sklearn.metrics as skm
import torch
import torchmetrics
from safetensors.torch import save_file
from torchmetrics.classification import MulticlassF1Score
from torchmetrics.functional.regression import critical_success_index

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "metrics")


def rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def close(a, b, rtol=1e-12, what=""):
    a, b = float(a), float(b)
    assert abs(a - b) <= rtol * max(abs(a), abs(b), 1e-300) or (np.isnan(a) and np.isnan(b)), f"{what}: {a} vs {b}"


def softmax64(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def save(name, tensors):
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, f"{name}.safetensors"), metadata={"generator": "tools/metrics/gen_metrics.py"})


# ------------------------------------------------------------------------------------------- classification

def classification():
    """6 classes: class 3 is predicted but never true, class 4 is true but never predicted, class 5 appears
    nowhere (so the 'present' label set is 0..4 and 'all' adds 5)."""
    r = rng("classification")
    n, c = 60, 6
    logits = r.normal(size=(n, c)).astype(np.float32)
    logits[:, 4] -= 10.0
    logits[:, 5] -= 10.0
    y = r.choice([0, 1, 2, 4], size=n)
    pred = logits.argmax(1)
    assert 3 in pred and 4 not in pred and 5 not in pred and 3 not in y and 4 in y
    present = sorted(set(y) | set(pred))
    exp = {"acc": skm.accuracy_score(y, pred)}
    for k in (2, 3):
        exp[f"top{k}_acc"] = skm.top_k_accuracy_score(y, logits.astype(np.float64), k=k, labels=list(range(c)))
    for labels, tag in ((None, "present"), (list(range(c)), "all")):
        block = {}
        for avg in ("macro", "weighted"):
            p, rr, f, _ = skm.precision_recall_fscore_support(y, pred, labels=labels, average=avg, zero_division=0)
            block[f"precision_{avg}"], block[f"recall_{avg}"], block[f"f1_{avg}"] = p, rr, f
        exp[tag] = block
    p, rr, f, s = skm.precision_recall_fscore_support(y, pred, labels=present, average=None, zero_division=0)
    exp["per_class"] = {"labels": [int(x) for x in present], "precision": p.tolist(), "recall": rr.tolist(), "f1": f.tolist(), "support": s.tolist()}
    exp["confusion"] = skm.confusion_matrix(y, pred, labels=list(range(c))).tolist()
    exp["kappa"] = skm.cohen_kappa_score(y, pred)
    names = ["cloud", "rain", "snow", "hail", "fog", "clear"]
    exp["report_present_2"] = skm.classification_report(y, pred, zero_division=0)
    exp["report_present_4_names"] = skm.classification_report(y, pred, digits=4, zero_division=0, target_names=[names[i] for i in present])
    exp["report_all_3_names"] = skm.classification_report(y, pred, labels=list(range(c)), digits=3, zero_division=0, target_names=names)
    # torchmetrics' macro F1 drops classes with TP + FP + FN = 0: the same as sklearn's present label set.
    tm = MulticlassF1Score(num_classes=c)(torch.from_numpy(logits), torch.from_numpy(y))
    close(tm.item(), exp["present"]["f1_macro"], rtol=1e-6, what="torchmetrics macro f1")
    onehot = np.eye(c, dtype=np.float32)[y]
    save("classification", {"input.logits": torch.from_numpy(logits), "input.target": torch.from_numpy(y.astype(np.int64)), "input.target_onehot": torch.from_numpy(onehot)})
    return {"num_classes": c, "class_names": names, "expected": exp}


def roc_auc():
    """Multiclass OvR macro AUC from logits (softmax in f64), and a binary case with tied probabilities."""
    r = rng("roc_auc")
    n, c = 50, 4
    logits = r.normal(size=(n, c)).astype(np.float32)
    y = np.concatenate([np.arange(c), r.integers(0, c, size=n - c)])
    logits[np.arange(n), y] += 0.7  # informative, not perfect
    multi = skm.roc_auc_score(y, softmax64(logits), multi_class="ovr", average="macro")
    nb = 40
    p1 = np.round(r.uniform(size=nb), 1)  # ties on purpose
    probs = np.stack([1.0 - p1, p1], axis=1)
    yb = (r.uniform(size=nb) < 0.3 + 0.4 * p1).astype(np.int64)
    binary = skm.roc_auc_score(yb, p1)
    save("roc_auc", {"input.logits": torch.from_numpy(logits), "input.target": torch.from_numpy(y.astype(np.int64)),
                     "input.probs_binary": torch.from_numpy(probs), "input.target_binary": torch.from_numpy(yb)})
    return {"num_classes": c, "expected": {"auroc": multi, "auroc_binary": binary}}


# ------------------------------------------------------------------------------------------- SaTformer bins

def reference_crps(logits, y, dtype):
    """leharris3/satformer eval_metrics.mean_crps, its expression re-stated: the mask is an int64 tensor, so
    `~mask` is a bitwise NOT (-2 / -1) and cells with P >= H weigh 9x."""
    z = torch.as_tensor(logits, dtype=dtype)
    label = torch.zeros_like(z)
    label[torch.arange(len(y)), torch.as_tensor(y)] = 1
    label_cdf = label.cumsum(dim=1)
    pred_cdf = torch.softmax(z, dim=1).cumsum(dim=1)
    mask = (pred_cdf >= label_cdf) * 1
    assert mask.dtype == torch.int64
    crps = ((((pred_cdf - label_cdf) * mask) + ((label_cdf - pred_cdf) * ~mask)) ** 2).sum(dim=1)
    return crps.mean().item()


def precip():
    r = rng("precip")
    n, nb, ymax = 48, 16, 2.3644
    logits = (2.0 * r.normal(size=(n, nb))).astype(np.float32)
    y = r.integers(0, nb, size=n)
    hit = r.uniform(size=n) < 0.35
    y[hit] = logits[hit].argmax(1)
    pred = logits.argmax(1)
    onehot_pred = torch.zeros(n, nb)
    onehot_pred[torch.arange(n), torch.from_numpy(pred)] = 1
    onehot_y = torch.zeros(n, nb)
    onehot_y[torch.arange(n), torch.from_numpy(y)] = 1
    csi = critical_success_index(onehot_pred, onehot_y, 0.5).item()
    c = int((pred == y).sum())
    close(csi, c / (c + 2 * (n - c)), rtol=1e-6, what="one-hot csi")
    csi = c / (c + 2 * (n - c))
    f1_tm = MulticlassF1Score(num_classes=nb)(torch.from_numpy(logits), torch.from_numpy(y)).item()
    f1 = skm.f1_score(y, pred, average="macro", zero_division=0)
    close(f1_tm, f1, rtol=1e-6, what="macro f1")
    # CRPS, standard: sum_k (P_k - H_k)^2 in f64.
    P = softmax64(logits).cumsum(1)
    H = (np.arange(nb)[None, :] >= y[:, None]).astype(np.float64)
    crps_std = ((P - H) ** 2).sum(1).mean()
    crps_ref = reference_crps(logits.astype(np.float64), y, torch.float64)
    crps_ref_f32 = reference_crps(logits, y, torch.float32)
    values = np.arange(nb) * ymax / nb
    thresholds = [0.1, 0.5, 1.0]
    ev = {"csi": [], "f1": []}  # one entry per threshold, in order
    for t in thresholds:
        fv, ov = torch.from_numpy(values[pred]), torch.from_numpy(values[y])
        tm = critical_success_index(fv, ov, t).item()
        f, o = values[pred] >= t, values[y] >= t
        h, m, fa = int((f & o).sum()), int((~f & o).sum()), int((f & ~o).sum())
        close(tm, h / (h + m + fa), rtol=1e-6, what=f"csi@{t}")
        ev["csi"].append(h / (h + m + fa))
        ev["f1"].append(2 * h / (2 * h + m + fa))
    save("precip", {"input.logits": torch.from_numpy(logits), "input.target": torch.from_numpy(y.astype(np.int64)), "input.target_onehot": onehot_y})
    return {"num_bins": nb, "max": ymax, "thresholds": thresholds,
            "expected": {"csi": csi, "f1": f1, "crps_reference": crps_ref, "crps_standard": crps_std, "events": ev},
            "info": {"crps_reference_torch_f32": crps_ref_f32}}


# ------------------------------------------------------------------------------------------- Pangu grids

def gridded_expected(f, o, lat, clim):
    """WeatherBench: w = cos(lat)/mean(cos(lat)); RMSE after the time mean (WB2); ACC per forecast, averaged."""
    b, c = f.shape[0], int(np.prod(f.shape[1:-2]))
    h, w_ = f.shape[-2:]
    f = f.astype(np.float64).reshape(b, c, h, w_)
    o = o.astype(np.float64).reshape(b, c, h, w_)
    wt = np.ones(h) if lat is None else np.cos(np.deg2rad(lat)) / np.cos(np.deg2rad(lat)).mean()
    W = wt[None, :, None]
    out = {"rmse": float(np.sqrt(((f - o) ** 2).mean())), "mae": float(np.abs(f - o).mean())}
    if lat is not None:
        out["wrmse"] = float(np.sqrt((W[None] * (f - o) ** 2).mean()))
    accs = []
    for ch in range(c):
        d = f[:, ch] - o[:, ch]
        out[f"rmse_{ch}"] = float(np.sqrt((d ** 2).mean()))
        out[f"mae_{ch}"] = float(np.abs(d).mean())
        if lat is not None:
            out[f"wrmse_{ch}"] = float(np.sqrt((W * d ** 2).mean()))
        if clim is not None:
            cl = clim.astype(np.float64).reshape(c, h, w_)[ch]
            fa, oa = f[:, ch] - cl, o[:, ch] - cl
            per = (W * fa * oa).sum((1, 2)) / np.sqrt((W * fa ** 2).sum((1, 2)) * (W * oa ** 2).sum((1, 2)))
            out[f"acc_{ch}"] = float(per.mean())
            accs.append(out[f"acc_{ch}"])
    if clim is not None:
        out["acc"] = float(np.mean(accs))
    return out


def gridded():
    r = rng("gridded")
    shape = (4, 3, 6, 8)
    clim = r.normal(size=shape[1:]).astype(np.float32)
    o = (clim[None] + r.normal(size=shape)).astype(np.float32)
    f = (o + 0.6 * r.normal(size=shape) + 0.2).astype(np.float32)
    lat = np.linspace(-75.0, 75.0, shape[2])
    save("gridded", {"input.preds": torch.from_numpy(f), "input.target": torch.from_numpy(o),
                     "input.lat": torch.from_numpy(lat), "input.clim": torch.from_numpy(clim)})
    r2 = rng("gridded_upper")
    shape2 = (3, 2, 2, 4, 5)  # [B, Cu, Z, H, W] -> 4 channels, no latitudes (polar grid)
    clim2 = r2.normal(size=shape2[1:]).astype(np.float32)
    o2 = (clim2[None] + r2.normal(size=shape2)).astype(np.float32)
    f2 = (o2 + r2.normal(size=shape2)).astype(np.float32)
    save("gridded_upper", {"input.preds": torch.from_numpy(f2), "input.target": torch.from_numpy(o2), "input.clim": torch.from_numpy(clim2)})
    return ({"channels": 3, "expected": gridded_expected(f, o, lat, clim)},
            {"channels": 4, "expected": gridded_expected(f2, o2, None, clim2)})


# ------------------------------------------------------------------------------------------- TFT

def forecast():
    from pytorch_forecasting.metrics import MAE, RMSE, SMAPE, QuantileLoss
    import pytorch_forecasting
    from torch.nn.utils import rnn

    r = rng("forecast")
    qs = [0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98]
    b, t = 5, 6
    y = r.normal(size=(b, t)).astype(np.float32) + 1.0
    offs = np.sort(r.normal(size=(b, t, len(qs))), axis=-1)
    p = (y[..., None] + 0.8 * offs).astype(np.float32)
    lengths = np.array([6, 3, 6, 1, 4])

    def pf(metric, pred, lens):
        m = metric
        yt = torch.from_numpy(y).double()
        target = yt if lens is None else rnn.pack_padded_sequence(yt, torch.as_tensor(lens), batch_first=True, enforce_sorted=False)
        m.update(torch.from_numpy(pred).double(), target)
        return m.compute().item()

    exp = {}
    for tag, lens in (("full", None), ("masked", lengths)):
        valid = np.ones((b, t), bool) if lens is None else np.arange(t)[None, :] < lens[:, None]
        yv, pv = y.astype(np.float64)[valid], p.astype(np.float64)[valid]
        e = yv[:, None] - pv
        q = np.array(qs)
        ql = (2 * np.maximum(q * e, (q - 1) * e)).mean()
        med = p[..., 3]
        mv = med.astype(np.float64)[valid]
        vals = {
            "quantile_loss": ql,
            "mae": skm.mean_absolute_error(yv, mv),
            "mse": skm.mean_squared_error(yv, mv),
            "rmse": np.sqrt(skm.mean_squared_error(yv, mv)),
            "smape": (2 * np.abs(mv - yv) / (np.abs(mv) + np.abs(yv) + 1e-8)).mean(),
            "r2": skm.r2_score(yv, mv),
        }
        # pytorch-forecasting's own metrics (computed in f64 here) must agree with the formulas.
        close(pf(QuantileLoss(quantiles=qs), p, lens), vals["quantile_loss"], what=f"QuantileLoss {tag}")
        close(pf(MAE(), med, lens), vals["mae"], what=f"MAE {tag}")
        close(pf(RMSE(), med, lens), vals["rmse"], what=f"RMSE {tag}")
        close(pf(SMAPE(), med, lens), vals["smape"], what=f"SMAPE {tag}")
        exp[tag] = vals
    # Point forecasts of the seed's model: [B, O] against [B, O].
    pp = r.normal(size=(20, 3)).astype(np.float32)
    yp = (pp + 0.5 * r.normal(size=(20, 3))).astype(np.float32)
    a, bb = yp.astype(np.float64).ravel(), pp.astype(np.float64).ravel()
    exp["point"] = {"mae": skm.mean_absolute_error(a, bb), "mse": skm.mean_squared_error(a, bb),
                    "rmse": np.sqrt(skm.mean_squared_error(a, bb)),
                    "smape": (2 * np.abs(bb - a) / (np.abs(bb) + np.abs(a) + 1e-8)).mean(), "r2": skm.r2_score(a, bb)}
    save("forecast", {"input.preds": torch.from_numpy(p), "input.target": torch.from_numpy(y), "input.lengths": torch.from_numpy(lengths.astype(np.int64)),
                      "input.point_preds": torch.from_numpy(pp), "input.point_target": torch.from_numpy(yp)})
    return {"quantiles": qs, "expected": exp}, pytorch_forecasting.__version__


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    g, gu = gridded()
    fc, pf_version = forecast()
    manifest = {
        "generator": "tools/metrics/gen_metrics.py",
        "versions": {"scikit-learn": sklearn.__version__, "torchmetrics": torchmetrics.__version__, "torch": torch.__version__.split("+")[0],
                     "numpy": np.__version__, "pytorch-forecasting": pf_version},
        "tolerance": {"rtol": 1e-12, "note": "f64 math on both sides; only summation order differs"},
        "cases": {
            "classification": classification(),
            "roc_auc": roc_auc(),
            "precip": precip(),
            "gridded": g,
            "gridded_upper": gu,
            "forecast": fc,
        },
    }
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True, default=float)
        fh.write("\n")


if __name__ == "__main__":
    main()
