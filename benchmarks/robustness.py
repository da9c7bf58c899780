"""Robustness figures: hostile files through a scan, and `gallery add` killed at random moments.

    python benchmarks/robustness.py [--kills 50]

Prints: hostile files tried / rows produced / crashes (a scan that did not finish), the scan's peak memory (whole
process tree), and kill-test runs / galleries that `authcheck gallery verify` accepts afterwards.
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

from scale import run_scan  # noqa: E402
from tests.hostile import make_corpus  # noqa: E402

ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vision.cli", *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=50)
    args = ap.parse_args()
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
