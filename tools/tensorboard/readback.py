"""Read a run directory written by wrt with the real `tensorboard` package and check what it finds.

    PY=$(/work/shared/tools/oracle-venv)
    $PY tools/tensorboard/readback.py RUN_DIR [--write-expected FILE.json]

Checks (each failure is an AssertionError naming the thing):
  * every events.out.tfevents.* file parses with tensorboard's own record reader (CRCs checked) and starts
    with an Event whose file_version is "brain.Event:2";
  * EventAccumulator (the loader behind TensorBoard's scalars/images/text) sees scalars, PNG images whose
    decoded size equals the size in the summary, text, and the hparams plugin's experiment / session start /
    session end data (parsed with tensorboard.plugins.hparams.metadata), with the experiment's hparam list
    equal to the session's values and status STATUS_SUCCESS;
  * the plugin event accumulator (what the TensorBoard server itself uses) sees the same scalar tags and the
    hparams plugin;
  * when the directory also has metrics.csv (CsvLogger), every scalar TensorBoard reports equals the CSV cell
    at the same step and tag (to float32 precision) -- after a resume, this shows that the purge removed the
    steps logged after the checkpoint.

--server additionally starts a real TensorBoard server on the directory (in process, a free port) and checks
that its HTTP API lists the same runs' scalar tags, serves each scalar series with the same points, lists the
images, and returns the hparams experiment.

--write-expected writes what was read as JSON (the fixture tests/fixtures/log/expected.json that
train/tests/log_tensorboard.rs compares wrt's own reader against).
"""

import argparse
import csv
import glob
import io
import json
import math
import os
import sys
import urllib.parse
import urllib.request
from collections import defaultdict

import numpy as np
import tensorboard
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing import plugin_event_accumulator as pea
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hp_meta
from tensorboard.util import tensor_util

ALL = 0  # size_guidance 0 = keep every event


def check_files(run_dir):
    files = sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*")))
    assert files, f"no events.out.tfevents.* file in {run_dir}"
    for path in files:
        records = list(RawEventFileLoader(path).Load())  # raises on a CRC mismatch or truncation
        assert records, f"{path}: no records"
        first = Event.FromString(records[0])
        assert first.file_version == "brain.Event:2", f"{path}: first event file_version is {first.file_version!r}"
        print(f"file {os.path.basename(path)}: {len(records)} records, first event file_version={first.file_version}")
    return files


def hparam_value(v):
    kind = v.WhichOneof("kind")
    return {"number_value": v.number_value, "string_value": v.string_value, "bool_value": v.bool_value}[kind]


def read_hparams(acc):
    content = acc.PluginTagToContent(hp_meta.PLUGIN_NAME)
    out = {}
    exp = hp_meta.parse_experiment_plugin_data(content[hp_meta.EXPERIMENT_TAG])
    out["experiment"] = {
        "hparams": [[h.name, api_pb2.DataType.Name(h.type)] for h in exp.hparam_infos],
        "metrics": [m.name.tag for m in exp.metric_infos],
    }
    ssi = hp_meta.parse_session_start_info_plugin_data(content[hp_meta.SESSION_START_INFO_TAG])
    out["session_start"] = {k: hparam_value(v) for k, v in sorted(ssi.hparams.items())}
    sei = hp_meta.parse_session_end_info_plugin_data(content[hp_meta.SESSION_END_INFO_TAG])
    out["session_end_status"] = api_pb2.Status.Name(sei.status)
    names = sorted(n for n, _ in out["experiment"]["hparams"])
    assert names == sorted(out["session_start"]), f"experiment hparams {names} != session values {sorted(out['session_start'])}"
    assert out["session_end_status"] == "STATUS_SUCCESS", out["session_end_status"]
    return out


def check_csv(run_dir, scalars):
    path = os.path.join(run_dir, "metrics.csv")
    if not os.path.exists(path):
        return
    cells = defaultdict(list)  # (tag, step) -> values
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        step = int(row["step"])
        for k, v in row.items():
            if k != "step" and v != "":
                cells[(k, step)].append(float(v))
    checked = 0
    for tag, points in scalars.items():
        for step, value in points:
            if (tag, step) not in cells:
                assert tag == "hp_metric", f"TensorBoard has {tag} at step {step}, metrics.csv does not"
                continue
            for want in cells[(tag, step)]:
                ok = (math.isnan(want) and math.isnan(value)) or math.isclose(value, float(np.float32(want)), rel_tol=1e-6, abs_tol=1e-12)
                assert ok, f"{tag} at step {step}: TensorBoard {value}, metrics.csv {want}"
                checked += 1
    tb_keys = {(t, s) for t, pts in scalars.items() for s, _ in pts}
    missing = [k for k in cells if k not in tb_keys]
    assert not missing, f"metrics.csv cells missing from TensorBoard: {missing[:5]}"
    print(f"metrics.csv: {len(rows)} rows; {checked} TensorBoard points equal their CSV cells, none missing")


def check_server(run_dir, scalars, images, hparams):
    from tensorboard import program

    tb = program.TensorBoard()
    tb.configure(argv=[None, "--logdir", run_dir, "--port", "0", "--host", "127.0.0.1", "--load_fast", "false"])
    url = tb.launch().rstrip("/")

    def get(path, body=None):
        headers = {"Content-Type": "application/json", "X-XSRF-Protected": "1"} if body is not None else {}
        req = urllib.request.Request(url + path, data=body and json.dumps(body).encode(), headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    runs = get("/data/runs")
    assert runs == ["."], f"server runs {runs}"
    tags = get("/data/plugin/scalars/tags")["."]
    assert sorted(tags) == sorted(scalars), f"server scalar tags {sorted(tags)} != {sorted(scalars)}"
    for t, pts in scalars.items():
        served = get("/data/plugin/scalars/scalars?" + urllib.parse.urlencode({"run": ".", "tag": t}))
        got = [(s, v) for _, s, v in served]
        same = len(got) == len(pts) and all(
            s1 == s2 and (v1 == v2 or (math.isnan(v1) and math.isnan(v2))) for (s1, v1), (s2, v2) in zip(got, pts)
        )
        assert same, f"server scalar {t}: {got[:3]}... != {pts[:3]}..."
    img_tags = get("/data/plugin/images/tags").get(".", {})
    assert sorted(img_tags) == sorted(images), f"server image tags {sorted(img_tags)}"
    exp = get("/data/plugin/hparams/experiment", {"experimentName": ""})
    names = sorted(h["name"] for h in exp["hparamInfos"])
    assert names == sorted(n for n, _ in hparams["experiment"]["hparams"]), f"server hparams {names}"
    print(f"server {url}: runs {runs}, {len(tags)} scalar tags with the same points, images {sorted(img_tags)}, "
          f"hparams {len(names)} + metrics {[m['name']['tag'] for m in exp['metricInfos']]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--write-expected")
    ap.add_argument("--server", action="store_true", help="also query a real TensorBoard server")
    args = ap.parse_args()
    print(f"tensorboard {tensorboard.__version__}, run {args.run_dir}")

    check_files(args.run_dir)
    acc = ea.EventAccumulator(args.run_dir, size_guidance={ea.SCALARS: ALL, ea.IMAGES: ALL, ea.TENSORS: ALL})
    acc.Reload()
    tags = acc.Tags()

    scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in sorted(tags[ea.SCALARS])}
    assert scalars, "no scalars"
    for t, pts in scalars.items():
        steps = [s for s, _ in pts]
        print(f"scalar {t}: {len(pts)} points, steps {steps[0]}..{steps[-1]}, first {pts[0][1]:.6g}, last {pts[-1][1]:.6g}")

    images = {}
    for t in sorted(tags[ea.IMAGES]):
        images[t] = []
        for e in acc.Images(t):
            img = Image.open(io.BytesIO(e.encoded_image_string))
            assert img.format == "PNG", f"image {t} step {e.step}: {img.format}"
            assert img.size == (e.width, e.height), f"image {t} step {e.step}: PNG is {img.size}, summary says {(e.width, e.height)}"
            img.load()  # decodes every row: a corrupt stream raises here
            images[t].append([e.step, e.width, e.height, len(img.getbands())])
        print(f"image {t}: {len(images[t])} PNGs, steps {[s for s, *_ in images[t]]}, size {images[t][0][1]}x{images[t][0][2]}")

    texts = {}
    for t in sorted(tags[ea.TENSORS]):
        evs = acc.Tensors(t)
        if t.endswith("/text_summary"):
            texts[t] = [[e.step, tensor_util.make_ndarray(e.tensor_proto).reshape(-1)[0].decode()] for e in evs]
            print(f"text {t}: {texts[t]}")

    hparams = read_hparams(acc)
    print(f"hparams experiment: {hparams['experiment']}")
    print(f"hparams session_start: {hparams['session_start']}")
    print(f"hparams session_end: {hparams['session_end_status']}")

    # The loader the TensorBoard server uses: scalars arrive as tensors after data_compat migration.
    pacc = pea.EventAccumulator(args.run_dir, size_guidance={pea.TENSORS: ALL})
    pacc.Reload()
    ptags = pacc.Tags()[pea.TENSORS]
    assert set(scalars) <= set(ptags), f"plugin accumulator lacks scalar tags {set(scalars) - set(ptags)}"
    for t, pts in scalars.items():
        got = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in pacc.Tensors(t)]
        assert len(got) == len(pts), f"plugin accumulator has {len(got)} points for {t}, EventAccumulator {len(pts)}"
        for (s1, v1), (s2, v2) in zip(got, pts):
            assert s1 == s2 and (v1 == v2 or (math.isnan(v1) and math.isnan(v2))), f"{t}: plugin accumulator {(s1, v1)}, EventAccumulator {(s2, v2)}"
    assert hp_meta.PLUGIN_NAME in pacc.ActivePlugins(), f"hparams plugin not active: {pacc.ActivePlugins()}"
    print(f"plugin accumulator: plugins {sorted(pacc.ActivePlugins())}, {len(ptags)} tensor tags")

    check_csv(args.run_dir, scalars)
    if args.server:
        check_server(args.run_dir, scalars, images, hparams)

    if args.write_expected:
        out = {
            "generator": "tools/tensorboard/readback.py --write-expected",
            "tensorboard": tensorboard.__version__,
            "file_version": "brain.Event:2",
            "scalars": {t: [[s, v] for s, v in pts] for t, pts in scalars.items()},
            "images": images,
            "texts": texts,
            "hparams": hparams,
        }
        with open(args.write_expected, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
        print(f"wrote {args.write_expected}")
    print("OK")


if __name__ == "__main__":
    sys.exit(main())
