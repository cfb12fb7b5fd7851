"""Time one training step (forward, cross-entropy, backward, optimizer step) of the same model and config in
PyTorch (CPU, eager, same thread count) and in wrt, in one run, and print the ratios of time and of peak RSS.
SaTformer steps AdamW; AtmoDist steps SGD (momentum 0.9, weight decay 1e-5) on a pair of [B, 5, 32, 32] states;
the TFT (the seed's V1 TemporalFusionTransformerLightning) takes an MSE loss, clips the gradient norm to 1.0 and
steps AdamW (lr 5e-4, weight decay 1e-4), as the seed's trainer does. Pangu (SuperDARN) takes the summed MSE of
[B, 5, G, G] maps in train mode (drop path, rollout noise 0.1), clips the gradient norm to 0.25 and steps Adam
(lr 1e-4, weight decay 0.05 as coupled L2), as the seed's Lightning module and trainer do.

Each side runs in its own fresh process, so the peak RSS (VmHWM) is that side's alone:
- PyTorch: this script re-invoked with --torch-side (tools/parity/satformer_ref.py / atmodist_ref.py /
  sitsformer_ref.py / tft_ref.py / pangu_ref.py, the parity references)
- wrt: target/release/step_bench (benches/src/bin/step_bench.rs), built here if missing

    PY=$(../shared/tools/oracle-venv) && $PY tools/bench_vs_torch.py --model satformer [--threads 2]
        [--dim 128 --depth 4 --heads 8 --dim_head 16 --batch 16 --attn ST^2 --steps 10 --warmup 2]
    $PY tools/bench_vs_torch.py --model atmodist [--channels 16,32,64,128 --batch 64]
    $PY tools/bench_vs_torch.py --model sitsformer [--img_size 32 --patch_size 8 --frames 8 --embed_dim 256
        --num_layers 8 --num_heads 8 --batch 8]   (AdamW; the last quarter of each series padded and masked)
    $PY tools/bench_vs_torch.py --model tft [--input_size 32 --hidden_size 32 --num_heads 4 --lstm_layers 1
        --window 100 --output_size 32 --batch 256]   (x [B, window, input_size], y [B, output_size]; train mode,
        dropout 0.1; MSE, grad-norm clip 1.0, AdamW lr 5e-4 wd 1e-4)
    $PY tools/bench_vs_torch.py --model pangu [--grid_size 64 --embed_dim 32 --pangu_heads 2,4,4,2 --window_size 2,4,8
        --depths 2,6,6,2 --time_step 1 --batch 4]   (x, y [B, 5, G, G]; train mode: drop path, noise 0.1; MSE sum,
        grad-norm clip 0.25, Adam lr 1e-4 weight decay 0.05)

ratio = wrt / PyTorch: below 1 means wrt is faster (time) or smaller (memory).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def status_mib(field):
    """A /proc/self/status field in MiB: VmHWM (peak resident set) or VmRSS (now)."""
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def torch_side(a):
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(ROOT / "tools" / "parity"))
    from satformer_ref import SaTformer

    torch.set_num_threads(a.threads)
    start_rss = status_mib("VmRSS:")  # the torch library itself, before any model or data
    torch.manual_seed(0)
    clip = None  # max gradient norm, clipped between backward and the optimizer step
    if a.model == "atmodist":
        from atmodist_ref import Atmodist
        model = Atmodist(num_classes=8, res_in_channels=5, res_out_channels_list=[int(c) for c in a.channels.split(",")])
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-5)
        x1, x2 = torch.randn(a.batch, 5, 32, 32), torch.randn(a.batch, 5, 32, 32)
        y = torch.randint(0, 8, (a.batch,))
        step = lambda: F.cross_entropy(model(x1, x2)[2], y)
    elif a.model == "sitsformer":
        from sitsformer_ref import SITSFormer
        model = SITSFormer(img_size=a.img_size, patch_size=a.patch_size, in_channels=13, num_classes=10, embed_dim=a.embed_dim,
                           num_layers=a.num_layers, num_heads=a.num_heads, mlp_ratio=4, dropout=0.1, max_seq_len=a.frames + 1)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
        x = torch.randn(a.batch, a.frames, 13, a.img_size, a.img_size)
        valid = a.frames - a.frames // 4
        mask = (torch.arange(a.frames) < valid).float().expand(a.batch, a.frames)
        y = torch.randint(0, 10, (a.batch,))
        step = lambda: F.cross_entropy(model(x, mask), y)
    elif a.model == "tft":
        from tft_ref import TemporalFusionTransformerLightning
        model = TemporalFusionTransformerLightning(input_size=a.input_size, hidden_size=a.hidden_size, num_heads=a.num_heads,
                                                   num_lstm_layers=a.lstm_layers, dropout=0.1, output_size=a.output_size)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=1e-4)
        clip = 1.0
        x = torch.randn(a.batch, a.window, a.input_size)
        y = torch.randn(a.batch, a.output_size)
        step = lambda: F.mse_loss(model(x), y)
    elif a.model == "pangu":
        from pangu_ref import Pangu
        ints = lambda v: tuple(int(c) for c in v.split(","))
        model = Pangu(embed_dim=a.embed_dim, num_heads=ints(a.pangu_heads), window_size=ints(a.window_size), grid_size=a.grid_size,
                      time_step=a.time_step, mlp_ratio=4, noise_factor=a.noise_factor, depths=ints(a.depths))
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
        clip = 0.25
        x = torch.randn(a.batch, 5, a.grid_size, a.grid_size)
        y = torch.randn(a.batch, 5, a.grid_size, a.grid_size)
        step = lambda: F.mse_loss(model(x), y, reduction="sum")
    else:
        model = SaTformer(dim=a.dim, depth=a.depth, heads=a.heads, dim_head=a.dim_head, num_frames=4, num_classes=64,
                          image_size=32, patch_size=4, channels=11, attn=a.attn, attn_dropout=0.1, ff_dropout=0.1)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
        x = torch.randn(a.batch, 4, 11, 32, 32)
        y = torch.randint(0, 64, (a.batch,))
        step = lambda: F.cross_entropy(model(x), y)
    times = []
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        loss = step()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= a.warmup:
            times.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({"median_ms": statistics.median(times), "min_ms": min(times), "peak_rss_mib": status_mib("VmHWM:"), "start_rss_mib": start_rss,
                      "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="satformer", choices=["satformer", "atmodist", "sitsformer", "tft", "pangu"])
    p.add_argument("--img_size", type=int, default=32)
    p.add_argument("--patch_size", type=int, default=8)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--embed_dim", type=int, default=None, help="default: pangu 32, sitsformer 256")
    p.add_argument("--num_layers", type=int, default=8)
    p.add_argument("--num_heads", type=int, default=None, help="default: tft 4, sitsformer 8")
    p.add_argument("--input_size", type=int, default=32, help="tft: features per step")
    p.add_argument("--hidden_size", type=int, default=32, help="tft")
    p.add_argument("--lstm_layers", type=int, default=1, help="tft: bidirectional LSTM layers")
    p.add_argument("--window", type=int, default=100, help="tft: steps per sample")
    p.add_argument("--output_size", type=int, default=None, help="tft: default input_size")
    p.add_argument("--channels", default="16,32,64,128", help="atmodist: res_out_channels_list")
    p.add_argument("--grid_size", type=int, default=64, help="pangu: maps [B, 5, G, G]")
    p.add_argument("--pangu_heads", default="2,4,4,2", help="pangu: heads of layers 1-4")
    p.add_argument("--window_size", default="2,4,8", help="pangu: (levels, lat, lon) window")
    p.add_argument("--depths", default="2,6,6,2", help="pangu: blocks of layers 1-4")
    p.add_argument("--time_step", type=int, default=1, help="pangu: rollout steps")
    p.add_argument("--noise_factor", type=float, default=0.1, help="pangu: training rollout noise")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--dim_head", type=int, default=16)
    p.add_argument("--batch", type=int, default=None, help="default: satformer 16, atmodist 64, sitsformer 8, tft 256, pangu 4")
    p.add_argument("--attn", default="ST^2")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--torch-side", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.batch is None:
        a.batch = {"atmodist": 64, "sitsformer": 8, "tft": 256, "pangu": 4}.get(a.model, 16)
    if a.embed_dim is None:
        a.embed_dim = {"pangu": 32}.get(a.model, 256)
    if a.num_heads is None:
        a.num_heads = {"tft": 4}.get(a.model, 8)
    if a.output_size is None:
        a.output_size = a.input_size
    if a.torch_side:
        return torch_side(a)

    exe = ROOT / "target" / "release" / "step_bench"
    if not exe.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "wrt-benches", "--bin", "step_bench"], cwd=ROOT, check=True)
    common = ["--threads", str(a.threads), "--dim", str(a.dim), "--depth", str(a.depth), "--heads", str(a.heads),
              "--dim_head", str(a.dim_head), "--batch", str(a.batch), "--attn", a.attn, "--steps", str(a.steps),
              "--warmup", str(a.warmup), "--channels", a.channels, "--img_size", str(a.img_size),
              "--patch_size", str(a.patch_size), "--frames", str(a.frames), "--embed_dim", str(a.embed_dim),
              "--num_layers", str(a.num_layers), "--num_heads", str(a.num_heads), "--input_size", str(a.input_size),
              "--hidden_size", str(a.hidden_size), "--lstm_layers", str(a.lstm_layers), "--window", str(a.window),
              "--output_size", str(a.output_size), "--grid_size", str(a.grid_size), "--pangu_heads", a.pangu_heads,
              "--window_size", a.window_size, "--depths", a.depths, "--time_step", str(a.time_step),
              "--noise_factor", str(a.noise_factor)]
    env_note = f"threads {a.threads}, load {os.getloadavg()[0]:.2f}"
    t = run_json([sys.executable, __file__, "--torch-side", "--model", a.model] + common)
    w = run_json([str(exe), "--model", a.model] + common)
    assert t["params"] == w["params"], f"parameter counts differ: torch {t['params']} wrt {w['params']}"
    what = {"atmodist": f"channels [{a.channels}]",
            "sitsformer": f"img {a.img_size} patch {a.patch_size} T {a.frames} embed {a.embed_dim} layers {a.num_layers} heads {a.num_heads}",
            "tft": f"seed V1, input {a.input_size} hidden {a.hidden_size} heads {a.num_heads} lstm {a.lstm_layers} window {a.window} output {a.output_size}",
            "pangu": f"grid {a.grid_size} embed {a.embed_dim} heads ({a.pangu_heads}) window ({a.window_size}) depths ({a.depths}) T {a.time_step}"}.get(
        a.model, f"dim {a.dim} depth {a.depth} heads {a.heads}x{a.dim_head} attn {a.attn}")
    print(f"{a.model} {what} batch {a.batch}: {w['params']} parameters; {env_note}; torch {t['torch']}")
    print(f"| | PyTorch | wrt | wrt / PyTorch |")
    print(f"|---|---|---|---|")
    print(f"| step median (ms) | {t['median_ms']:.1f} | {w['median_ms']:.1f} | {w['median_ms'] / t['median_ms']:.2f} |")
    print(f"| step min (ms) | {t['min_ms']:.1f} | {w['min_ms']:.1f} | {w['min_ms'] / t['min_ms']:.2f} |")
    print(f"| peak RSS (MiB) | {t['peak_rss_mib']:.0f} | {w['peak_rss_mib']:.0f} | {w['peak_rss_mib'] / t['peak_rss_mib']:.2f} |")
    tw, ww = t["peak_rss_mib"] - t["start_rss_mib"], w["peak_rss_mib"] - w["start_rss_mib"]
    print(f"| peak RSS above start (MiB) | {tw:.0f} | {ww:.0f} | {ww / tw:.2f} |")


if __name__ == "__main__":
    main()
