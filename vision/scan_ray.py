"""The same scan as a Ray Data pipeline: read (the file list) -> check (actors, one Context each) -> write.

The driver lists the files and writes the rows with the same resumable writer as the local engine, so outputs
and resumption are identical; only the checking runs on the cluster. On a multi-node cluster every node must see
the photos and the gallery at the same paths (a shared or synced filesystem). Needs `pip install .[scale]`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterator

from .check import Context
from .errors import AuthcheckError
from .log import logger
from .rows import RowWriter
from .scan import ContextSpec, ScanSummary, check_item, context_spec, pending, write_rows

__all__ = ["scan_ray"]


class _Checker:
    """A Ray actor: opens its own Context once, then checks batches of files."""

    def __init__(self, spec: ContextSpec):
        import cv2

        from .check import open_context

        cv2.setNumThreads(1)
        self.ctx = open_context(spec.gallery, spec.model, threads=1, config=spec.config)

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        rows = []
        for label, path, problem in zip(batch["label"], batch["path"], batch["problem"]):
            item = (str(label), Path(path) if path else None, str(problem) if problem else None)
            rows.append(json.dumps(check_item(self.ctx, item), ensure_ascii=False))
        return {"row": np.array(rows, dtype=object)}


def scan_ray(ctx: Context, root: str | os.PathLike, out: str | os.PathLike, address: str | None = None,
             workers: int | None = None, progress: bool = True, batch_size: int = 4) -> ScanSummary:
    """Like vision.scan.scan, with the checking done by `workers` Ray actors (default: the cluster's CPUs) on the
    cluster at `address` (default: start a local Ray instance for this run)."""
    try:
        import ray
    except ImportError:
        raise AuthcheckError("--engine ray needs Ray: pip install -e '.[scale]'") from None

    t0 = time.perf_counter()
    writer = RowWriter(out)
    todo, skipped = pending(root, writer)
    summary = ScanSummary(skipped=skipped)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}})
    try:
        write_rows(_rows(ray, ctx, todo, workers, batch_size), writer, summary, len(todo), progress)
    finally:
        if started_here:
            ray.shutdown()
    summary.seconds = time.perf_counter() - t0
    return summary


def _rows(ray, ctx: Context, todo: list, workers: int | None, batch_size: int) -> Iterator[dict]:
    if not todo:
        return
    workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    ray.data.DataContext.get_current().enable_progress_bars = False
    items = [{"label": label, "path": str(path) if path else "", "problem": problem or ""}
             for label, path, problem in todo]
    ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items) // batch_size, 1000)))
    ds = ds.map_batches(_Checker, fn_constructor_args=(context_spec(ctx),), batch_size=batch_size,
                        concurrency=workers, num_cpus=1)
    logger.info("ray: %d files, %d actors", len(items), workers)
    for rec in ds.iter_rows():
        yield json.loads(rec["row"])
