#!/usr/bin/env python3
"""wrt vs PyTorch (CPU) on a fixed list of ops, in one run; prints a markdown table.

Builds and runs ``benches/src/bin/ops_bench.rs`` (``cargo build --release -p wrt-benches --bin
ops_bench``, or ``--wrt-bin PATH``) with ``--threads N``, then times the same ops on the same
shapes with torch: ``torch.set_num_threads(N)``, ``torch.inference_mode()`` (no autograd), the same
method as ops_bench (warm-up, then the median of repetitions auto-scaled to ~0.3 s per case).
``--rounds R`` repeats both sides R times, alternating, and keeps each case's best median on each
side, so both are treated alike when the machine is noisy.

Columns: case | shape | wrt ms | torch ms | torch/wrt (torch time over wrt time: > 1 means wrt is
faster) | wrt GFLOP/s (matmul, conv) or GB/s (memory-bound ops: each input read once, output written
once).

    PY=$(/work/shared/tools/oracle-venv)
    $PY tools/bench_ops_torch.py --threads 2 --rounds 3 --markdown-out /tmp/ops.md

Environment note: on this machine OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be set (for OpenBLAS
users elsewhere in the project). torch on x86 uses MKL (GEMM) and oneDNN (conv), which ignore them;
the header prints the thread count torch reports (``torch.__config__.parallel_info()``) and the CPU
capability its kernels dispatch to (``torch.backends.cpu.get_cpu_capability()``) so a table states
what torch actually ran.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent


def shape_str(*dims):
    return "[" + ",".join(str(d) for d in dims) + "]"


def rand(shape, scale):
    # Values in [-scale/2, scale/2), like ops_bench's xorshift fill (timings do not depend on values).
    return (torch.rand(shape, dtype=torch.float32) - 0.5) * scale


def torch_cases():
    """(case, shape, fn) in ops_bench's order, with ops_bench's shape strings."""
    cases = []

    def mm(name, a, b, dtype=torch.float32):
        x, y = rand(a, 1.0).to(dtype), rand(b, 1.0).to(dtype)
        cases.append((name, shape_str(*a) + "x" + shape_str(*b), lambda: torch.matmul(x, y)))

    for s in (256, 512, 1024, 2048):
        mm("gemm_square", (s, s), (s, s))
    mm("gemm_mlp_up", (4096, 512), (512, 2048))
    mm("gemm_mlp_down", (4096, 2048), (2048, 512))
    mm("bmm_attention", (64, 64, 64), (64, 64, 64))
    for s in (512, 1024, 2048):
        mm("gemm_bf16_square", (s, s), (s, s), torch.bfloat16)
    mm("gemm_bf16_mlp_up", (4096, 512), (512, 2048), torch.bfloat16)

    n, c, h, w, co = 32, 64, 32, 32, 64
    cx, cw, cb = rand((n, c, h, w), 1.0), rand((co, c, 3, 3), 0.1), rand((co,), 0.1)
    cases.append(("conv2d_3x3", f"[{n},{c},{h},{w}]*[{co},{c},3,3]",
                  lambda: F.conv2d(cx, cw, cb, stride=1, padding=1)))

    r, d = 4096, 512
    sh = shape_str(r, d)
    sx = rand((r, d), 8.0)
    cases.append(("softmax", sh, lambda: torch.softmax(sx, -1)))
    lx, lg, lb = rand((r, d), 4.0), rand((d,), 1.0), rand((d,), 1.0)
    cases.append(("layer_norm", sh, lambda: F.layer_norm(lx, (d,), lg, lb, 1e-5)))
    ax, ay = rand((r, d), 2.0), rand((d,), 2.0)
    cases.append(("add_broadcast", f"[{r},{d}]+[{d}]", lambda: torch.add(ax, ay)))
    gx = rand((r, d), 8.0)
    cases.append(("gelu", sh, lambda: F.gelu(gx)))
    ex = rand((r, d), 8.0)
    cases.append(("exp", sh, lambda: torch.exp(ex)))
    mx = rand((r, d), 2.0)
    cases.append(("sum_dim1", sh, lambda: torch.sum(mx, 1)))
    return cases


def median_time(fn, target_s):
    """ops_bench's method: warm-up (>= 3 calls, ~10% of the budget), then the median of
    reps = target_s / fastest warm-up call (clamped to [5, 100000])."""

    def once():
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    t0 = time.perf_counter()
    first = float("inf")
    i = 0
    while True:
        first = min(first, once())
        if i >= 2 and time.perf_counter() - t0 >= 0.1 * target_s:
            break
        i += 1
    reps = min(max(int(target_s / max(first, 1e-7)), 5), 100_000)
    ts = sorted(once() for _ in range(reps))
    m = len(ts) // 2
    return ts[m] if len(ts) % 2 else 0.5 * (ts[m - 1] + ts[m])


def run_torch(cases, filt, target_s):
    out = {}
    with torch.inference_mode():
        for name, shape, fn in cases:
            if filt in name or filt in shape:
                out[(name, shape)] = median_time(fn, target_s) * 1e3
    return out


def build_wrt():
    cmd = ["cargo", "build", "--release", "-p", "wrt-benches", "--bin", "ops_bench",
           "--message-format=json-render-diagnostics"]
    res = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, check=True, text=True)
    for line in res.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and \
                msg["target"]["name"] == "ops_bench":
            return msg["executable"]
    sys.exit("cargo did not report the ops_bench executable")


def run_wrt(binary, threads, filt, target_s):
    cmd = [binary, "--threads", str(threads), "--target-s", str(target_s)]
    if filt:
        cmd += ["--filter", filt]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, text=True)
    rows = [json.loads(l) for l in res.stdout.splitlines() if l.startswith("{")]
    return rows


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        flags = re.search(r"Flags:\s*(.+)", out)
        avx512 = flags and "avx512f" in flags.group(1).split()
        return f"{m.group(1).strip() if m else platform.processor()}, {os.cpu_count()} CPUs" + \
            (", AVX-512" if avx512 else "")
    except OSError:
        return platform.processor()


def wrt_revision():
    """HEAD's short hash, with "+dirty" when the wrt crates have uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "kernels", "tensor"], cwd=ROOT,
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        return head + ("+dirty" if dirty.strip() else "") if head else "?"
    except OSError:
        return "?"


def torch_threads():
    m = re.search(r"at::get_num_threads\(\)\s*:\s*(\d+)", torch.__config__.parallel_info())
    return m.group(1) if m else "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--wrt-bin", help="prebuilt ops_bench (default: cargo build --release)")
    ap.add_argument("--filter", default="", help="only cases whose name or shape contains this")
    ap.add_argument("--rounds", type=int, default=1, help="repeat both sides, keep the best median")
    ap.add_argument("--target-s", type=float, default=0.3, help="seconds of timed reps per case")
    ap.add_argument("--markdown-out", help="also write the table (with header) to this file")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    binary = a.wrt_bin or build_wrt()
    if a.wrt_bin:
        built = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(binary)))
        revision = f"prebuilt `{binary}` (built {built}; tree now {wrt_revision()})"
    else:
        revision = wrt_revision()
    cases = torch_cases()

    load0 = os.getloadavg()
    wrt_best, torch_best, wrt_rows = {}, {}, {}
    for _ in range(a.rounds):
        for row in run_wrt(binary, a.threads, a.filter, a.target_s):
            key = (row["case"], row["shape"])
            if key not in wrt_best or row["wrt_ms"] < wrt_best[key]:
                wrt_best[key], wrt_rows[key] = row["wrt_ms"], row
        for key, ms in run_torch(cases, a.filter, a.target_s).items():
            torch_best[key] = min(ms, torch_best.get(key, float("inf")))

    load = os.getloadavg()
    lines = [
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- CPU: {cpu_model()}",
        f"- wrt: {revision}",
        f"- threads: wrt {a.threads} (rayon), torch {torch_threads()} "
        f"(`torch.__config__.parallel_info()`)",
        f"- torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}",
        f"- method: median of ~{a.target_s} s of reps per case after warm-up; best of {a.rounds} "
        f"round(s) per side",
        f"- load average (1/5/15 min) at start: {load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f}, "
        f"at end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
        "",
        "| case | shape | wrt ms | torch ms | torch/wrt | wrt GFLOP/s or GB/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, ms in wrt_best.items():
        row = wrt_rows[key]
        t = torch_best.get(key)
        rate = f"{row['gflops']:.1f} GFLOP/s" if "gflops" in row else f"{row['gbps']:.1f} GB/s"
        ratio = f"{t / ms:.2f}" if t is not None else "n/a"
        tms = f"{t:.3f}" if t is not None else "n/a"
        lines.append(f"| {key[0]} | `{key[1]}` | {ms:.3f} | {tms} | {ratio} | {rate} |")
    missing = set(torch_best) - set(wrt_best)
    if missing:
        lines.append(f"\n(torch-only cases, no wrt row: {sorted(missing)})")
    text = "\n".join(lines)
    print(text)
    if a.markdown_out:
        Path(a.markdown_out).write_text(text + "\n")


if __name__ == "__main__":
    main()
