"""Speed benchmark: embedder throughput for torch eager, ONNX Runtime fp32 and ONNX Runtime int8 (each measured in
its own process, one after another in this run, so thread pools never share a process), printed as images/s at
batch 1 and batch 16 and as ratios to torch eager; then end-to-end `check` latency p50/p95 per listing photo.

    python benchmarks/speed.py [--model logo_lite0] [--threads 2] [--seconds 8] [--photos 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _throughput(run, batch: int, size: int, seconds: float) -> float:
    x = np.random.default_rng(0).normal(size=(batch, 3, size, size)).astype(np.float32)
    run(x)  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        run(x)
        n += batch
    return n / (time.perf_counter() - t0)


def worker(kind: str, model: str, threads: int, seconds: float) -> dict:
    """One backend in this process: {batch: images/s}."""
    from vision.embed import Manifest, resolve_manifest

    manifest_path = resolve_manifest(model + ("_int8" if kind == "ort-int8" else ""))
    m = Manifest.read(manifest_path)
    if kind == "torch":
        import torch

        from vision.train.export import build_embedding_model

        torch.set_num_threads(threads)
        train = (m.extra or {}).get("train")
        if train:  # rebuild the trained architecture; weights do not change the speed
            net = build_embedding_model(train["pooling"], dim=train["dim"])
        else:
            net = build_embedding_model(m.pooling)

        def run(x):
            with torch.inference_mode():
                net(torch.from_numpy(x))
    else:
        from vision.embed import Embedder

        e = Embedder(manifest_path, threads=threads)
        run = lambda x: e.session.run(None, {e._input: x})  # noqa: E731
    return {str(b): _throughput(run, b, m.input_size, seconds) for b in (1, 16)}


def check_latency(model: str, photos: int, threads: int) -> dict:
    """p50/p95 seconds of check_image over generated listings, on a copy of the bundled gallery."""
    import shutil

    from vision import synth
    from vision.check import check_image, open_context

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "reference_gallery", Path(tmp) / "g")
        ctx = open_context(Path(tmp) / "g", model, threads)
        rng = np.random.default_rng(3)
        slugs = sorted(ctx.brands)
        images = [synth.photograph(synth.render_logo(slugs[i % len(slugs)], 256), rng).image for i in range(photos)]
        cold = []
        for img in images:  # first pass: includes each brand's one-off reference work (wordmark OCR, ink masks)
            t0 = time.perf_counter()
            check_image(ctx, img)
            cold.append(time.perf_counter() - t0)
        times = []
        for img in images:
            t0 = time.perf_counter()
            check_image(ctx, img)
            times.append(time.perf_counter() - t0)
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)), "photos": photos,
            "cold_p50": float(np.percentile(cold, 50)), "cold_p95": float(np.percentile(cold, 95))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="logo_lite0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--photos", type=int, default=20)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--latency", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.threads, args.seconds)))
        return 0
    if args.latency:
        print(json.dumps(check_latency(args.model, args.photos, args.threads)))
        return 0
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    base = [sys.executable, __file__, "--model", args.model, "--threads", str(args.threads)]
    res = {}
    for kind in ("torch", "ort-fp32", "ort-int8"):
        out = subprocess.run(base + ["--seconds", str(args.seconds), "--worker", kind], capture_output=True,
                             text=True, env=env)
        if out.returncode:
            print(f"{kind}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        res[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"embedder {args.model}, {args.threads} threads")
    print(f"{'backend':10s}{'b=1 img/s':>12s}{'b=16 img/s':>12s}{'b=1 ×torch':>12s}{'b=16 ×torch':>13s}")
    t = res.get("torch")
    for kind, r in res.items():
        r1 = r["1"] / t["1"] if t else float("nan")
        r16 = r["16"] / t["16"] if t else float("nan")
        print(f"{kind:10s}{r['1']:12.1f}{r['16']:12.1f}{r1:12.2f}{r16:13.2f}")
    out = subprocess.run(base + ["--photos", str(args.photos), "--latency"], capture_output=True, text=True, env=env)
    lat = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
    if lat:
        print(f"check latency per listing photo ({lat['photos']} photos, warm): p50 {lat['p50']:.3f} s, "
              f"p95 {lat['p95']:.3f} s; first pass (cold per-brand caches): p50 {lat['cold_p50']:.3f} s, "
              f"p95 {lat['cold_p95']:.3f} s")
    else:
        print(f"check latency: failed\n{out.stderr[-2000:]}", file=sys.stderr)
    (ROOT / "benchmarks" / "out").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "out" / "speed.json").write_text(json.dumps({"throughput": res, "check": lat}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
