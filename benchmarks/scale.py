"""Marketplace scale: FAISS index types at 1M references, scan throughput, and a long scan's peak memory.

    python benchmarks/scale.py [--vectors 1000000] [--photos 600] [--memory-photos 10000] [--skip ...]

(a) index: 1M synthetic reference vectors at the embedder's dim (clustered, like several views of many brands'
    references), for Flat / IVF / HNSW / IVF-PQ: build time, memory, single-query p50/p99 (one thread) and
    recall@10 against exact search;
(b) scan throughput on 640x480 generated listing photos with verification on, workers 1 vs all cores, and with
    all cores for each faster embedder of --models found in weights/ (int8, the window grid model);
(c) peak memory (the scan's whole process tree, sampled) of a long scan of small photos, at two lengths: flat
    memory means it does not grow with the number of files;
(d) where one check's time goes, on one core, warm: p50/p90/p99 of a check and each stage's share (decode,
    candidates and embedding, index search, verification and its alignment, OCR, reuse, codes), on generated
    640x480 listings and, with --real DIR (e.g. ../shared/real-dev), on that folder's listings/ photos, against the
    bundled gallery and against a gallery of the folder's own brands (registered from its references/, as
    benchmarks/real.py does; calibrating it takes a few minutes).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from real import build_gallery  # noqa: E402  (benchmarks/real.py: a real-photo set's brands)


def clustered(rng: np.random.Generator, n: int, dim: int, centres: int) -> np.ndarray:
    out = np.empty((n, dim), np.float32)
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    for i in range(0, n, 100_000):  # in chunks: the noise array would double the peak
        m = min(100_000, n - i)
        v = c[rng.integers(0, centres, m)] + 0.6 * rng.standard_normal((m, dim)).astype(np.float32)
        out[i:i + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def rss_mb(pid: int | None = None) -> float:
    with open(f"/proc/{pid or os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def index_bench(n: int, dim: int, queries: int = 500) -> None:
    import faiss

    from vision import ann

    rng = np.random.default_rng(0)
    base = clustered(rng, n, dim, centres=max(10, n // 50))
    q = base[rng.choice(n, queries, replace=False)] + 0.05 * rng.standard_normal((queries, dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    ids = np.arange(n, dtype=np.int64)
    print(f"(a) index: {n:,} vectors x {dim} (clustered), {queries} queries, recall@10 vs exact, "
          f"latency = one query at a time on one thread")
    print(f"    {'type':6s} {'build s':>8s} {'memory MB':>10s} {'p50 ms':>7s} {'p99 ms':>7s} {'recall@10':>9s}")
    truth = None
    for kind in ("flat", "ivf", "hnsw", "ivfpq"):
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # build with every core
        before = rss_mb()
        t0 = time.perf_counter()
        index = ann.build(kind, base, ids)
        build_s = time.perf_counter() - t0
        mem = len(faiss.serialize_index(index)) / 2**20 if kind != "flat" else n * dim * 4 / 2**20
        faiss.omp_set_num_threads(1)
        if truth is None:
            _, truth = index.search(q, 10)
        lat, found = [], []
        for i in range(queries):
            t = time.perf_counter()
            _, got = index.search(q[i:i + 1], 10)
            lat.append((time.perf_counter() - t) * 1000)
            found.append(got[0])
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
        print(f"    {kind:6s} {build_s:8.1f} {mem:10.0f} {np.percentile(lat, 50):7.3f} {np.percentile(lat, 99):7.3f} "
              f"{recall:9.3f}   (process RSS +{rss_mb() - before:.0f} MB)", flush=True)
        del index
    print(f"    default for galleries over {ann.FLAT_MAX:,} vectors: {ann.choose(n)}")


def make_photos(folder: Path, n: int, size: tuple[int, int], seed: int) -> None:
    from vision import synth
    from vision.train.brands import BRANDS

    rng = np.random.default_rng(seed)
    slugs = [b for b in ("nike", "adidas", "samsung", "puma", "starbucks", "dell", "sony", "fila") if b in BRANDS]
    style = synth.PhotoStyle(size=size)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        slug = slugs[i % len(slugs)] if i % 4 else None
        logo = synth.render_logo(slug, 256, color=synth.print_color(slug)) if slug else None
        synth.save_rgb(folder / f"{i:05d}.jpg", synth.photograph(logo, rng, style).image)


def run_scan(folder: Path, out: Path, workers: int, gallery: Path, model: str | None = None
             ) -> tuple[float, float, float]:
    """(seconds, peak MB of the scan's process tree, steady photos/s), sampled every 50 ms. Steady: the last half of
    the rows over the time they took, after every worker has loaded its models and read its first wordmarks."""
    cmd = [sys.executable, "-m", "vision.cli", "scan", str(folder), "--out", str(out), "--workers", str(workers),
           "--gallery", str(gallery), "--no-progress"] + (["--model", model] if model else [])
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    total = len(os.listdir(folder))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak, half = [0.0], [None]  # half: (seconds, rows) when half of the rows were written

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            if half[0] is None and out.exists():
                rows = out.read_bytes().count(b"\n")
                if rows >= total // 2:
                    half[0] = (time.perf_counter() - t0, rows)
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate()
    t.join()
    if proc.returncode:
        raise SystemExit(f"scan failed: {err[-2000:]}")
    secs = time.perf_counter() - t0
    steady = (total - half[0][1]) / (secs - half[0][0]) if half[0] and secs > half[0][0] else float("nan")
    return secs, peak[0], steady


def tree_rss_mb(pid: int) -> float:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        try:
            total += rss_mb(p)
        except OSError:
            pass
        stack.extend(children.get(p, []))
    return total


# (stage, file the function is in, function): time in each, cumulative (what it calls included), from cProfile
STAGES = (("decode", "vision/load.py", "load_image"),
          ("candidates + embedding", "vision/check.py", "embed_regions"),
          ("  of it: embedder runs", "vision/embed.py", "embed"),
          ("index search", "vision/match.py", "match_brands"),
          ("verification (every brand tried)", "vision/verify.py", "verify_brand"),
          ("  of it: alignment", "vision/align.py", "align_logo"),
          ("  of it: wordmark OCR", "vision/wordmark.py", "read_wordmark"),
          ("text around a box (OCR)", "vision/wordmark.py", "read_text"),
          ("brand names in the whole photo (OCR)", "vision/wordmark.py", "read_lines"),
          ("local features (no brand found yet)", "vision/check.py", "find_by_keypoints"),
          ("  of it: XFeat runs", "vision/keypoints.py", "features"),
          ("  of it: matching the references", "vision/keypoints.py", "match_logo"),
          ("reuse", "vision/reuse.py", "find_reuse"),
          ("codes", "vision/codes.py", "read_codes"))


def profile_checks(photos: list[Path], gallery: Path, label: str) -> None:
    """Time single checks on one thread and split their time by STAGES. A first pass over the photos is left out:
    it holds each brand's one-off reference work (ink masks, wordmark OCR), as benchmarks/speed.py's cold pass."""
    from vision.check import check_image, open_context

    ctx = open_context(gallery, threads=1)
    for p in photos:
        check_image(ctx, p)
    times, prof = [], cProfile.Profile()
    for p in photos:
        t = time.perf_counter()
        prof.enable()
        check_image(ctx, p)
        prof.disable()
        times.append(time.perf_counter() - t)
    stats = pstats.Stats(prof).stats  # {(file, line, function): (calls, primitive calls, tottime, cumtime, callers)}
    total = sum(times)
    print(f"(d) one check on one core, {label}: {len(photos)} photos, p50 {1000 * np.percentile(times, 50):.0f} ms, "
          f"p90 {1000 * np.percentile(times, 90):.0f} ms, p99 {1000 * np.percentile(times, 99):.0f} ms "
          f"(profiled: the profiler adds a little to Python-heavy stages)")
    for stage, file, fn in STAGES:
        cum = sum(v[3] for (f, _, name), v in stats.items() if name == fn and f.endswith(file))
        print(f"    {stage:34s} {1000 * cum / len(photos):7.0f} ms a photo  {cum / total:6.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=0, help="default: the shipped embedder's dim")
    ap.add_argument("--photos", type=int, default=600, help="640x480 photos for the throughput figure")
    ap.add_argument("--memory-photos", type=int, default=10_000, help="small photos for the peak-memory figure")
    ap.add_argument("--skip", nargs="*", default=[], choices=("index", "throughput", "memory", "profile"))
    ap.add_argument("--real", type=Path, default=None, help="a real-dev folder: profile checks on its listings too")
    ap.add_argument("--profile-photos", type=int, default=60, help="photos per set for the per-stage profile")
    ap.add_argument("--models", nargs="*", default=["logo_lite0_int8", "logo_lite0_fast", "logo_lite0_fast_int8"],
                    help="other embedders to time with all cores (those in weights/)")
    args = ap.parse_args()
    from vision.embed import load_embedder, resolve_manifest

    dim = args.dim or load_embedder().dim
    cores = os.cpu_count() or 1
    if "index" not in args.skip:
        index_bench(args.vectors, dim)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gallery = tmp / "gallery"
        shutil.copytree(ROOT / "reference_gallery", gallery, ignore=shutil.ignore_patterns(".lock", ".trash-*"))
        if "throughput" not in args.skip:
            make_photos(tmp / "photos", args.photos, (640, 480), seed=7)
            print(f"(b) scan throughput, {args.photos} photos 640x480 (3/4 with a logo), verification on, "
                  f"{len(os.listdir(gallery)) - 1} brands:")
            print("    (rate over the whole run incl. start-up; steady = the last half of the rows / the time "
                  "they took)")
            runs = [(w, None) for w in sorted({1, cores})]
            for model in args.models:  # the faster, less accurate options: each with its own index, built first
                if not resolve_manifest(model).is_file():
                    continue
                subprocess.run([sys.executable, "-m", "vision.cli", "index", "build", "--gallery", str(gallery),
                                "--model", model], cwd=ROOT, check=True, capture_output=True)
                runs.append((cores, model))
            base = None
            for w, model in runs:
                secs, peak, steady = run_scan(tmp / "photos", tmp / f"t{w}{model or ''}.jsonl", w, gallery, model)
                rate = args.photos / secs
                base = base or rate
                print(f"    workers {w}{', ' + model if model else ''}: {rate:.2f} photos/s ({secs:.1f} s), steady "
                      f"{steady:.2f} photos/s, peak {peak:.0f} MB, {rate / base:.2f}x workers 1", flush=True)
        if "memory" not in args.skip:
            make_photos(tmp / "many", args.memory_photos, (160, 120), seed=8)
            short = tmp / "short"
            short.mkdir()
            for p in sorted((tmp / "many").iterdir())[: max(1, args.memory_photos // 10)]:
                os.link(p, short / p.name)
            print(f"(c) peak memory of a scan, {cores} workers, 160x120 photos:")
            for folder in (short, tmp / "many"):
                n = len(os.listdir(folder))
                secs, peak, _ = run_scan(folder, tmp / f"m{n}.jsonl", cores, gallery)
                print(f"    {n:6d} photos: peak {peak:.0f} MB (process tree), {n / secs:.1f} photos/s", flush=True)
        if "profile" not in args.skip:
            make_photos(tmp / "profile", args.profile_photos, (640, 480), seed=9)
            profile_checks(sorted((tmp / "profile").iterdir()), gallery, "generated 640x480 listings")
            if args.real is not None:
                real = sorted((args.real / "listings").glob("*.jpg"))
                step = max(1, len(real) // args.profile_photos)  # spread over the folder: its brands come in runs
                real = real[::step][:args.profile_photos]
                profile_checks(real, gallery, f"real photos of {args.real}, bundled gallery")
                # the set's own brands, as benchmarks/real.py registers them: its photos then find their brands and
                # pay for verifying them, as a marketplace's photos of its registered brands do
                own = tmp / "own_gallery"
                build_gallery(own, args.real, json.loads((args.real / "labels.json").read_text())["brands"])
                profile_checks(real, own, f"real photos of {args.real}, its own brands' gallery")


if __name__ == "__main__":
    main()
