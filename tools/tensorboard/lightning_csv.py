"""Write what Lightning's CSVLogger produces for a fixed sequence of calls, as the fixture
tests/fixtures/log/lightning_csv/ (calls.json, metrics.csv, hparams.yaml). train/tests/log_csv.rs replays
calls.json through wrt's CsvLogger and compares the files.

The sequence exercises: the sorted header, sparse rows with empty cells, a new key arriving after a save
(rewrite under the wider header), flushes every 3 steps, int `epoch`/`step` cells, floats as Python prints
them (1e-05, 2.0, values that came from float32 tensors), and nested hparams.

Run: PY=$(/work/shared/tools/oracle-venv); $PY tools/tensorboard/lightning_csv.py
"""

import json
import os
import shutil
import sys
import tempfile

import lightning
import numpy as np
import yaml
from lightning.pytorch.loggers import CSVLogger

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "log", "lightning_csv")
FLUSH_EVERY = 3


def f32(x):
    # what tensor.item() returns for a float32 metric
    return float(np.float32(x))


HPARAMS = {
    "lr": 0.001,
    "weight_decay": 1e-05,
    "batch_size": 32,
    "model": {"dim": 64, "depth": 2, "attn": "ST^2"},
    "name": "tft",
    "amp": True,
    "layers": [1, 2],
    "note": None,
}

CALLS = []
loss = 2.302585
for epoch in range(2):
    for i in range(4):
        step = epoch * 4 + i
        loss *= 0.9
        m = {"train_loss_step": f32(loss), "lr-AdamW": f32(1e-3 * (1 - step / 10)), "epoch": epoch}
        CALLS.append({"step": step, "metrics": m})
    step = epoch * 4 + 3
    CALLS.append({"step": step, "metrics": {"val_loss": f32(loss * 1.1), "val_acc": f32(0.25 + 0.5 * epoch), "epoch": epoch}})
    CALLS.append({"step": step, "metrics": {"train_loss_epoch": f32(loss * 1.05), "epoch": epoch}})
# values Python prints in scientific notation, a whole float, a NaN
CALLS.append({"step": 8, "metrics": {"grad_norm": 2.0, "tiny": 1.5e-07, "epoch": 2}})
CALLS.append({"step": 9, "metrics": {"val_loss": float("nan"), "epoch": 2}})


def main():
    tmp = tempfile.mkdtemp()
    try:
        logger = CSVLogger(tmp, name="run", version=0, flush_logs_every_n_steps=FLUSH_EVERY)
        logger.log_hyperparams(HPARAMS)
        for c in CALLS:
            logger.log_metrics(c["metrics"], c["step"])
        logger.finalize("success")
        os.makedirs(OUT, exist_ok=True)
        for name in ["metrics.csv", "hparams.yaml"]:
            shutil.copy(os.path.join(logger.log_dir, name), os.path.join(OUT, name))
    finally:
        shutil.rmtree(tmp)
    # Values as repr() strings: Rust's str::parse::<f64> is correctly rounded, serde_json's default float
    # parsing is not always (1 ulp off), and NaN is not JSON.
    calls = [{"step": c["step"], "metrics": {k: repr(v) for k, v in c["metrics"].items()}} for c in CALLS]
    meta = {
        "generator": "tools/tensorboard/lightning_csv.py",
        "lightning": lightning.__version__,
        "pyyaml": yaml.__version__,
        "python": sys.version.split()[0],
        "flush_logs_every_n_steps": FLUSH_EVERY,
        "hparams": HPARAMS,
        "calls": calls,
    }
    with open(os.path.join(OUT, "calls.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
