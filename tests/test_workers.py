"""Checks in worker processes: a photo that crashes its worker, exhausts its memory budget or runs past its time
limit gives an error record with the reason, and the pool goes on serving; `authcheck check` answers every image
with a row within a bounded peak memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ROOT, listing
from vision.check import open_context
from vision.scan import context_spec
from vision.workers import CheckerPool, WorkerLimits


@pytest.fixture(scope="module")
def spec(built_gallery):
    return context_spec(open_context(built_gallery))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("photos")
    out = {}
    for name, img in {"nike": listing("nike", 1), "plain": listing(None, 2)}.items():
        Image.fromarray(img).save(d / f"{name}.jpg", quality=92)
        out[name] = d / f"{name}.jpg"
    for name, size in {"big": (4000, 3000), "huge": (7000, 5250)}.items():
        Image.fromarray(listing("puma", 4)).resize(size, Image.BICUBIC).save(d / f"{name}.jpg", quality=90)
        out[name] = d / f"{name}.jpg"
    (d / "notes.jpg").write_text("not an image")
    out["text"] = d / "notes.jpg"
    return out


def test_pool_checks_and_survives_a_killed_worker(spec, photos):
    with CheckerPool(spec, workers=1) as pool:
        row, picture = pool.check(photos["nike"], "nike.jpg", explain=True)
        assert row["verdict"] == "consistent" and row["brand"] == "nike" and picture.ndim == 3
        assert pool.check(photos["text"])[0]["error"] == "not a recognised image format"
        (pid,) = pool.pids()
        # the worker dies mid-check (as the kernel's OOM killer or a decoder crash would end it); a 37 MP photo
        # takes seconds to check
        threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
        row, picture = pool.check(photos["huge"], "huge.jpg")
        assert row["verdict"] == "error" and "killed" in row["error"] and picture is None, row
        assert pool.pids() != [pid]
        assert pool.check(photos["nike"])[0]["brand"] == "nike"  # a fresh worker took over


def test_a_check_past_its_memory_budget_is_an_error_row(spec, photos):
    with CheckerPool(spec, workers=1, limits=WorkerLimits(memory_bytes=48 * 1024 ** 2)) as pool:
        row = pool.check(photos["big"], "big.jpg")[0]  # 4000 x 3000: 36 MB of pixels, and copies of them
        assert row["verdict"] == "error" and "more memory than its budget" in row["error"], row
        assert pool.check(photos["text"])[0]["error"] == "not a recognised image format"


def test_a_check_past_its_time_limit_is_stopped(spec, photos):
    with CheckerPool(spec, workers=1, limits=WorkerLimits(seconds=0.2)) as pool:
        pool.check(photos["text"])  # the worker is up
        (pid,) = pool.pids()
        row = pool.check(photos["big"], "big.jpg")[0]
        assert row["verdict"] == "error" and "took longer than 0 s" in row["error"], row
        assert pool.pids() != [pid]
        assert pool.check(photos["text"])[0]["error"] == "not a recognised image format"


def test_pool_restart_serves_with_the_new_gallery_state(spec, photos):
    with CheckerPool(spec, workers=2) as pool:
        before = set(pool.pids())
        pool.restart()
        rows = list(pool.rows([("a", photos["nike"], None), ("b", None, "not a regular file"),
                               ("c", photos["plain"], None)]))
        assert {r["path"] for r in rows} == {"a", "b", "c"}
        assert not before & set(pool.pids())


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(x for x in status.splitlines() if x.startswith("VmRSS:")).split()[1]) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total


def test_cli_check_answers_every_image_within_bounded_memory(built_gallery, photos, tmp_path):
    images = [photos["nike"], photos["text"], photos["big"], tmp_path / "missing.jpg", photos["plain"]]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen([sys.executable, "-m", "vision.cli", "check", *map(str, images), "--json", "--gallery",
                             str(built_gallery)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=env)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.05)
    out, err = proc.communicate()
    rows = [json.loads(x) for x in out.splitlines()]
    assert proc.returncode == 1, err[-2000:]  # error rows: exit 1
    assert [r["path"] for r in rows] == list(map(str, images))
    assert [r["verdict"] == "error" for r in rows] == [False, True, False, True, False]
    assert peak < 2 * 1024 ** 3, peak
