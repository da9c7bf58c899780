"""Robustness figures: hostile files through a scan, `gallery add` killed at random moments, and a soak test of the
web app.

    python benchmarks/robustness.py [--kills 50]                      # files and kills
    python benchmarks/robustness.py --soak [--requests 1000 --clients 8]  # the web app under load

Prints: hostile files tried / rows produced / crashes (a scan that did not finish), the scan's peak memory (whole
process tree), and kill-test runs / galleries that `authcheck gallery verify` accepts afterwards. The soak test
starts `python app.py` (bundled gallery, copied) and sends `--requests` checks from `--clients` concurrent
gradio_client clients: generated listings of many sizes and aspect ratios with rotated and tilted logos, degenerate
images and the hostile files mixed in. It prints requests answered, errors by reason, p50/p99 latency, the
server's memory (the app's process and its checker processes together) at start, after the first 100 requests, at
its peak and at the end, and whether the server is still up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from scale import run_scan, tree_rss_mb  # noqa: E402

from tests.hostile import make_corpus  # noqa: E402

ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vision.cli", *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, **kw)


def soak_inputs(folder: Path, seed: int = 0) -> list[Path]:
    """Generated listings of many sizes, aspect ratios, turns and tilts (bundled brands and unbranded), degenerate
    images, and the hostile corpus's regular files under the app's 25 MB upload limit."""
    from PIL import Image

    from vision import synth

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    brands = sorted(p.name for p in (ROOT / "reference_gallery").iterdir() if (p / "brand.json").exists())
    files = []
    for i in range(80):
        w = int(rng.choice([160, 320, 500, 640, 1024, 1600, 2400, 3200]))
        h = max(64, int(w / rng.choice([0.33, 0.5, 0.75, 1.0, 1.33, 2.0, 3.0])))
        style = synth.PhotoStyle(size=(w, h), tilt=float(rng.uniform(0.1, 0.45)), rotation=float(rng.uniform(10, 90)),
                                 logo_frac=(0.05, 0.6))
        brand = None if i % 5 == 0 else str(rng.choice(brands))
        logo = synth.render_logo(brand, 256) if brand else None
        img = synth.photograph(logo, rng, style).image
        files.append(folder / f"listing_{i:02d}_{brand or 'plain'}_{w}x{h}.jpg")
        Image.fromarray(img).save(files[-1], quality=int(rng.integers(40, 95)))
    for name, img in {"flat.png": np.full((300, 300, 3), 128, np.uint8),
                      "line.png": rng.integers(0, 255, (16, 4000, 3), dtype=np.uint8),
                      "noise.png": rng.integers(0, 255, (700, 900, 3), dtype=np.uint8),
                      "stripes.png": np.tile((np.arange(1200) % 8 < 4).astype(np.uint8)[None, :, None] * 255,
                                             (900, 1, 3))}.items():
        Image.fromarray(img).save(folder / name)
        files.append(folder / name)
    made = make_corpus(folder / "hostile", seed)
    files += [folder / "hostile" / n for n in made if (folder / "hostile" / n).is_file()
              and not (folder / "hostile" / n).is_symlink() and (folder / "hostile" / n).stat().st_size < 25 << 20]
    return files


def soak(requests: int, clients: int, workers: int) -> None:
    """The web app under `clients` concurrent clients sending `requests` checks; prints the figures."""
    import socket
    import threading
    from collections import Counter

    from gradio_client import Client, handle_file

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gallery = tmp / "gallery"
        shutil.copytree(ROOT / "reference_gallery", gallery, ignore=shutil.ignore_patterns(".lock", ".trash-*"))
        inputs = soak_inputs(tmp / "inputs")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, "app.py", "--gallery", str(gallery), "--port", str(port),
                                   "--workers", str(workers)], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                                  stderr=open(tmp / "server.log", "w"))
        url = f"http://127.0.0.1:{port}/"
        t0 = time.time()
        while True:
            try:
                Client(url, verbose=False)
                break
            except Exception:  # noqa: BLE001 - not up yet
                if server.poll() is not None or time.time() - t0 > 300:
                    raise SystemExit(f"the app did not start:\n{(tmp / 'server.log').read_text()[-3000:]}")
                time.sleep(1)
        # the first answer: the checker processes are up (they start beside the server, not before it)
        Client(url, verbose=False).predict(handle_file(str(inputs[0])), api_name="/check")
        start_rss = tree_rss_mb(server.pid)
        lock = threading.Lock()
        state = {"next": 0, "done": 0, "peak": start_rss, "after100": None}
        outcomes, latencies, unanswered = Counter(), [], []

        def client_loop() -> None:
            client = Client(url, verbose=False)
            while True:
                with lock:
                    i = state["next"]
                    state["next"] += 1
                if i >= requests:
                    return
                path = inputs[i % len(inputs)]
                t = time.perf_counter()
                try:
                    row = json.loads(client.predict(handle_file(str(path)), api_name="/check"))
                    outcome = row["verdict"] if row["verdict"] != "error" else f"error: {row['error']}"
                except Exception as e:  # noqa: BLE001 - counted: an error response is an answer, a lost one is not
                    text = str(e) or type(e).__name__
                    outcome = f"server refused: {text[:80]}"
                    if server.poll() is not None or "Connect" in type(e).__name__:
                        unanswered.append(f"{path.name}: {text[:120]}")
                with lock:
                    latencies.append(time.perf_counter() - t)
                    outcomes[outcome] += 1
                    state["done"] += 1
                    if state["done"] == 100:
                        state["after100"] = tree_rss_mb(server.pid)

        def sample() -> None:
            while state["done"] < requests and server.poll() is None:
                rss = tree_rss_mb(server.pid)
                with lock:
                    state["peak"] = max(state["peak"], rss)
                time.sleep(0.25)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client_loop) for _ in range(clients)]
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        time.sleep(1.0)
        up = server.poll() is None
        end_rss = tree_rss_mb(server.pid)
        server.terminate()
        server.wait(30)
    gb = 1024.0  # MB in a GB (tree_rss_mb counts MB)
    lat = np.array(latencies)
    answered = sum(outcomes.values()) - len(unanswered)
    after100 = state["after100"] or end_rss
    print(f"soak: {requests} requests from {clients} clients to `python app.py --workers {workers}` over "
          f"{len(inputs)} inputs, {wall:.0f} s ({requests / wall:.1f} requests/s)")
    print(f"  answered {answered} / {requests}; unanswered {len(unanswered)}; server up at the end: {up}")
    print(f"  latency p50 {np.percentile(lat, 50):.2f} s, p99 {np.percentile(lat, 99):.2f} s, "
          f"max {lat.max():.2f} s")
    print(f"  server memory (app + checker processes): start (first answer) {start_rss / gb:.2f} GB, after 100 "
          f"requests {after100 / gb:.2f} GB, peak {state['peak'] / gb:.2f} GB, end {end_rss / gb:.2f} GB "
          f"({(end_rss - after100) / after100:+.1%} since request 100)")
    print("  outcomes:")
    for outcome, n in outcomes.most_common():
        print(f"    {n:5d}  {outcome}")
    for line in unanswered[:10]:
        print(f"  unanswered: {line}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--soak", action="store_true", help="soak-test the web app instead")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="the app's checker processes")
    args = ap.parse_args()
    if args.soak:
        soak(args.requests, args.clients, args.workers)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gallery = tmp / "gallery"
        shutil.copytree(ROOT / "reference_gallery", gallery, ignore=shutil.ignore_patterns(".lock", ".trash-*"))
        made = make_corpus(tmp / "corpus")
        out = tmp / "rows.jsonl"
        crashes = 0
        try:
            secs, peak = run_scan(tmp / "corpus", out, os.cpu_count() or 1, gallery)
        except SystemExit as e:
            crashes, secs, peak = 1, 0.0, 0.0
            print(e)
        rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
        errors = sum(r["verdict"] == "error" for r in rows)
        print(f"hostile files: {len(made)} tried, {len(rows)} rows ({errors} error rows with a reason, "
              f"{len(rows) - errors} checked), {crashes} crashes; scan peak memory {peak:.0f} MB, {secs:.1f} s")

        logos = sorted((gallery / "nike" / "logos").iterdir())[:1] + sorted((gallery / "puma" / "logos").iterdir())[:1]
        products = sorted((gallery / "adidas" / "products").iterdir())
        images = [str(p) for p in logos + products]
        cmd = [sys.executable, "-m", "vision.cli", "gallery", "add", "killtest", *images, "--gallery", str(gallery)]
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=ENV, check=True, capture_output=True)
        full = time.perf_counter() - t0
        cli("gallery", "remove", "killtest", "--gallery", str(gallery), check=True)
        rng = np.random.default_rng(0)
        ok, before, after = 0, 0, 0
        for _ in range(args.kills):
            proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(float(rng.uniform(0.1, 1.0)) * full)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            ok += cli("gallery", "verify", "--gallery", str(gallery)).returncode == 0
            if (gallery / "killtest" / "brand.json").exists():
                after += 1
                cli("gallery", "remove", "killtest", "--gallery", str(gallery), check=True)
            else:
                before += 1
        print(f"kill test: {args.kills} runs of `gallery add` (4 images + index, {full:.1f} s uninterrupted) killed "
              f"with SIGKILL at random moments: {ok} galleries verify ({before} before the change, {after} after)")


if __name__ == "__main__":
    main()
