"""Bulk scans for real: worker processes and the Ray engine give the same rows as a serial scan; a scan killed
with SIGKILL resumes without duplicates or losses; the CLI prints a summary and writes an HTML report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, listing, run_cli
from vision import synth
from vision.check import open_context
from vision.rows import read_rows
from vision.scan import scan


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("scanfolder")
    (d / "shop one" / "ünïcode").mkdir(parents=True)
    for name, slug, seed in (("nike.jpg", "nike", 31), ("shop one/adidas.jpg", "adidas", 32),
                             ("shop one/ünïcode/puma ä.jpg", "puma", 33), ("plain.jpg", None, 34),
                             ("samsung.jpg", "samsung", 35)):
        synth.save_rgb(d / name, listing(slug, seed, logo_frac=(0.25, 0.35)))
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (d / "notes.txt").write_text("not an image")
    return d


def _by_path(rows) -> dict[str, dict]:
    return {r["path"]: {k: v for k, v in r.items() if k != "seconds"} for r in rows}


def test_worker_processes_and_ray_give_the_serial_rows(built_gallery, folder, tmp_path):
    ctx = open_context(built_gallery, threads=1)  # one thread, as in workers: identical floating point
    serial = scan(ctx, folder, tmp_path / "serial.jsonl", progress=False, workers=1)
    assert serial.checked == 7 and serial.verdicts["error"] == 2
    expected = _by_path(read_rows(tmp_path / "serial.jsonl"))
    assert expected[str(folder / "nike.jpg")]["brand"] == "nike"

    parallel = scan(ctx, folder, tmp_path / "parallel.csv", progress=False, workers=2)
    assert parallel.checked == 7
    assert _by_path(read_rows(tmp_path / "parallel.csv")) == expected

    r = run_cli("scan", str(folder), "--out", str(tmp_path / "ray.parquet"), "--engine", "ray", "--workers", "2",
                "--gallery", str(built_gallery), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "scanned 7 files" in r.stderr
    assert _by_path(read_rows(tmp_path / "ray.parquet")) == expected


def test_summary_and_html_report(built_gallery, folder, tmp_path):
    out, report = tmp_path / "rows.jsonl", tmp_path / "report.html"
    r = run_cli("scan", str(folder), "--out", str(out), "--workers", "2", "--report", str(report),
                "--gallery", str(built_gallery), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "scanned 7 files" in r.stderr and "top brands:" in r.stderr and "slowest:" in r.stderr
    page = report.read_text(encoding="utf-8")
    assert page.count("<tr>") == 8 and "ünïcode/puma ä.jpg" in page and "data:image/jpeg;base64," in page


@pytest.mark.slow  # over 10 s: CI runs it (-m slow)
def test_killed_scan_resumes_without_duplicates_or_losses(built_gallery, tmp_path):
    photos = tmp_path / "many"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(1000):
        Image.fromarray(np.full((24, 32, 3), rng.integers(0, 255, 3), np.uint8)).save(photos / f"{i:04d}.png")
    out = tmp_path / "rows.jsonl"
    cmd = [sys.executable, "-m", "vision.cli", "scan", str(photos), "--out", str(out), "--workers", "2",
           "--gallery", str(built_gallery), "--no-progress"]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 150:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "scan ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its workers, mid-write or not
    proc.wait()
    before = out.read_bytes().count(b"\n")
    assert 150 <= before < 1000
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{before} already in the output" in r.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    paths = [row["path"] for row in rows]
    assert len(paths) == len(set(paths)) == 1000
    assert set(paths) == {str(p) for p in photos.iterdir()}
    assert all(row["verdict"] == "no_match" for row in rows)
