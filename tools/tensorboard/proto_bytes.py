"""Serialize, with the real protobuf classes, the messages wrt's TensorBoard writer hand-encodes, and
write them as hex to tests/fixtures/log/proto_bytes.json. The unit tests in
train/src/log/tensorboard/mod.rs build the same messages with wrt's encoder and compare the bytes.

The hparams summaries come from torch.utils.tensorboard.summary.hparams, which Lightning's
TensorBoardLogger.log_hyperparams calls. Serialization is deterministic (map entries sorted by key): torch
serializes the plugin content without `deterministic`, so its session_start_info map comes out in the hash
order of the map (meaningless, TensorBoard reads a map in any order); the content is parsed and
re-serialized deterministically here, which is the order wrt writes.

Run: PY=$(/work/shared/tools/oracle-venv); $PY tools/tensorboard/proto_bytes.py
"""

import base64
import json
import os

import tensorboard
import torch
from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
from torch.utils.tensorboard import summary as tsum

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "log", "proto_bytes.json")

WALL = 1700000000.5
# A 1x1 opaque red RGBA PNG as Pillow writes it (the same bytes as train/src/log/png.rs's test).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63f8cfc0f01f000500 01ff89993d1d0000000049454e44ae426082".replace(" ", "")
)
HPARAMS = [["lr", 0.001], ["batch_size", 32], ["name", "tft"], ["amp", True]]
METRICS = [["hp_metric", -1]]


def ser(msg):
    return msg.SerializeToString(deterministic=True).hex()


def deterministic_content(summary):
    """Re-serialize each value's hparams plugin content with map entries sorted by key."""
    for v in summary.value:
        pd = v.metadata.plugin_data
        pd.content = HParamsPluginData.FromString(pd.content).SerializeToString(deterministic=True)
    return summary


def main():
    cases = {}
    cases["file_version"] = ser(Event(wall_time=WALL, file_version="brain.Event:2"))
    cases["scalars_step7"] = ser(
        Event(
            wall_time=WALL,
            step=7,
            summary=Summary(value=[Summary.Value(tag="train_loss", simple_value=0.5), Summary.Value(tag="lr-AdamW", simple_value=0.001)]),
        )
    )
    img = Summary.Image(height=1, width=1, colorspace=4, encoded_image_string=PNG)
    cases["image_step2"] = ser(Event(wall_time=WALL, step=2, summary=Summary(value=[Summary.Value(tag="confusion_matrix", image=img)])))
    cases["text_step3"] = ser(Event(wall_time=WALL, step=3, summary=tsum.text("report", "precision recall\n0.5 0.25")))
    cases["purge_step5"] = ser(Event(wall_time=WALL, step=5, session_log=SessionLog(status=SessionLog.START)))
    exp, ssi, sei = (deterministic_content(x) for x in tsum.hparams(dict(HPARAMS), dict(METRICS)))
    cases["hparams_experiment"] = ser(exp)
    cases["hparams_session_start"] = ser(ssi)
    cases["hparams_session_end"] = ser(sei)
    meta = {
        "generator": "tools/tensorboard/proto_bytes.py",
        "tensorboard": tensorboard.__version__,
        "torch": torch.__version__,
        "wall_time": WALL,
        "png_hex": PNG.hex(),
        "hparams": HPARAMS,
        "metrics": METRICS,
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
