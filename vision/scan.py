"""Bulk checking of a folder: reader -> check (in this process or a pool of worker processes) -> writer.

Resumable: the writer (vision.rows) keeps every row written before a kill, and a rerun skips the paths the
output already holds. A file that makes a worker process die (a decoder crash) becomes an `error` row, found by
re-checking the files that were in flight one at a time.
"""

from __future__ import annotations

import heapq
import os
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from .check import CheckConfig, Context, check_image
from .errors import AuthcheckError
from .log import logger
from .record import CheckRecord
from .rows import RowWriter

__all__ = ["iter_files", "ScanSummary", "ContextSpec", "context_spec", "pending", "check_item", "failure_row", "scan",
           "write_rows", "one_thread_env", "in_pool", "progress_bar"]

if TYPE_CHECKING:
    from .workers import CheckerPool

Item = tuple[str, "Path | None", "str | None"]  # (label, path, problem), as iter_files yields


def iter_files(root: str | os.PathLike) -> Iterator[tuple[str, Path | None, str | None]]:
    """Every regular file under `root`, recursively, in sorted order, as (label, path, problem).

    Hidden files and folders (".name") are skipped. Symbolic links are followed only when they stay inside `root`
    (a link that leaves it, or a loop, gives a `problem` instead of a path)."""
    root = Path(root)
    real_root = root.resolve()
    stack = [root]
    seen_dirs = {real_root}
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as e:
            yield str(folder), None, f"cannot list folder: {e.strerror or e}"
            continue
        files, dirs = [], []
        for e in entries:
            if e.name.startswith("."):
                continue
            p = Path(e.path)
            if e.is_symlink():
                try:
                    target = p.resolve(strict=True)
                except (OSError, RuntimeError):
                    files.append((str(p), None, "broken or looping symbolic link"))
                    continue
                if not target.is_relative_to(real_root):
                    files.append((str(p), None, "symbolic link points outside the scanned folder; not followed"))
                    continue
                if target.is_dir():
                    if target not in seen_dirs:
                        seen_dirs.add(target)
                        dirs.append(p)
                    continue
            if e.is_dir(follow_symlinks=True):
                real = p.resolve()
                if real not in seen_dirs:
                    seen_dirs.add(real)
                    dirs.append(p)
            elif e.is_file(follow_symlinks=True):
                files.append((str(p), p, None))
            else:
                files.append((str(p), None, "not a regular file"))
        yield from reversed(files)
        stack.extend(dirs)  # reverse-sorted, so popping gives sorted order


@dataclass
class ScanSummary:
    checked: int = 0
    skipped: int = 0  # already in the output (resumed)
    seconds: float = 0.0  # wall time of this run
    verdicts: Counter = field(default_factory=Counter)
    brands: Counter = field(default_factory=Counter)
    slowest: list = field(default_factory=list)  # heap of (seconds, path), the 5 slowest checks

    def add(self, row: dict) -> None:
        self.checked += 1
        self.verdicts[row["verdict"]] += 1
        if row.get("brand"):
            self.brands[row["brand"]] += 1
        if row.get("seconds") is not None:
            heapq.heappush(self.slowest, (row["seconds"], row["path"]))
            if len(self.slowest) > 5:
                heapq.heappop(self.slowest)

    def text(self) -> str:
        """A few lines for the end of a scan: counts per verdict, top brands, slowest files, throughput."""
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.verdicts.items())) or "nothing new"
        rate = f", {self.checked / self.seconds:.1f} photos/s" if self.seconds > 0 and self.checked else ""
        lines = [f"scanned {self.checked} files in {self.seconds:.1f} s{rate} ({counts}); {self.skipped} already "
                 f"in the output"]
        if self.brands:
            lines.append("top brands: " + ", ".join(f"{b} {n}" for b, n in self.brands.most_common(5)))
        if self.slowest:
            lines.append("slowest: " + ", ".join(f"{p} ({s:.2f} s)" for s, p in sorted(self.slowest, reverse=True)))
        return "\n".join(lines)


@dataclass(frozen=True)
class ContextSpec:
    """What a worker process needs to open its own Context (sessions cannot cross processes)."""

    gallery: str
    model: str
    config: CheckConfig


def context_spec(ctx: Context) -> ContextSpec:
    return ContextSpec(str(ctx.gallery.root), str(ctx.embedder.manifest_path), ctx.config)


def pending(root: str | os.PathLike, writer: RowWriter) -> tuple[list[Item], int]:
    """The files under `root` that the output does not hold yet (the output itself excluded), and how many
    it already holds."""
    root = Path(root)
    if not root.is_dir():
        raise AuthcheckError(f"not a folder: {root}")
    out_real = writer.out.resolve()
    files = [f for f in iter_files(root) if f[1] is None or f[1].resolve() != out_real]
    todo = [f for f in files if f[0] not in writer.done]
    return todo, len(files) - len(todo)


def check_item(ctx: Context, item: Item) -> dict:
    """The row for one file; never raises."""
    label, path, problem = item
    if problem is not None:
        return CheckRecord.error_row(label, problem).to_row()
    try:
        return check_image(ctx, path, label).to_row()
    except Exception as e:  # noqa: BLE001 - one file must never take the scan down
        return failure_row(label, e)


def failure_row(label: str, e: Exception) -> dict:
    """The error row of a check that raised `e`: running out of memory (worker processes check under a memory
    budget, workers.WorkerLimits) is said as such; anything else is logged as an internal error."""
    if isinstance(e, MemoryError) or "Insufficient memory" in str(e) or "bad_alloc" in str(e):
        return CheckRecord.error_row(label, "the check needed more memory than its budget and was stopped").to_row()
    logger.exception("internal error on %s", label)
    return CheckRecord.error_row(label, f"internal error: {type(e).__name__}: {e}").to_row()


def scan(ctx: Context, root: str | os.PathLike, out: str | os.PathLike, progress: bool = True,
         workers: int = 1, pool: "CheckerPool | None" = None) -> ScanSummary:
    """Check every file under `root` and append a row per file to `out` (.jsonl, .csv or .parquet), skipping
    files the output already holds. `workers` > 1 checks in that many processes (one thread each, each under
    workers.WorkerLimits' memory budget; rows are written as they finish, so their order can differ from run to
    run); a running `pool` (workers.CheckerPool) checks in its processes instead. A bad file gives an `error` row."""
    t0 = time.perf_counter()
    writer = RowWriter(out)
    todo, skipped = pending(root, writer)
    summary = ScanSummary(skipped=skipped)
    if skipped:
        logger.info("resuming: %d files already in %s", skipped, out)
    if pool is not None:
        rows = pool.rows(todo)
    elif workers <= 1:
        rows = (check_item(ctx, item) for item in todo)
    else:
        rows = in_pool(todo, workers, _check_in_worker, _init_worker, (context_spec(ctx),))
    write_rows(rows, writer, summary, len(todo), progress)
    summary.seconds = time.perf_counter() - t0
    return summary


def write_rows(rows: Iterator[dict], writer: RowWriter, summary: ScanSummary, total: int, progress: bool) -> None:
    """Drain `rows` into the writer and the summary under a progress bar. The output is finalised (Parquet
    written) only when every row came; an interruption leaves it resumable."""
    bar = progress_bar(total, progress)
    finished = False
    try:
        for row in rows:
            writer.write(row)
            summary.add(row)
            bar.update(1)
        finished = True
    finally:
        bar.close()
        writer.close(final=finished)


# ---- worker pool ----------------------------------------------------------------------------------------------

_worker_ctx: Context | None = None


def _init_worker(spec: ContextSpec) -> None:
    global _worker_ctx
    from .workers import WorkerLimits, open_worker_context

    _worker_ctx = open_worker_context(spec, WorkerLimits())


def _check_in_worker(item: Item) -> dict:
    return check_item(_worker_ctx, item)


@contextmanager
def one_thread_env():
    """Worker processes inherit the environment at spawn: one BLAS/OpenMP thread each, or N workers x N threads
    oversubscribe the cores."""
    keys = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def in_pool(todo: list[Item], workers: int, fn: Callable[[Item], dict], init: Callable, initargs: tuple,
            per_worker: int = 4) -> Iterator[dict]:
    """Rows `fn(item)` of `todo`, computed in `workers` spawned processes (set up by `init(*initargs)`), as they
    finish. When a worker dies, the files that were in flight are re-checked one at a time in a fresh pool, so
    only the file that kills a worker gets an error row."""
    queue: deque[tuple[Item, bool]] = deque((item, False) for item in todo)  # (item, isolate)
    # held while the pools run, not only while one is made: a pool spawns its processes as jobs are submitted (with
    # the environment restored, each worker's BLAS ran a thread per core: 2 workers checked 1.4x slower)
    with one_thread_env():
        yield from _pool_rounds(queue, workers, fn, init, initargs, per_worker)


def _pool_rounds(queue: deque, workers: int, fn: Callable[[Item], dict], init: Callable, initargs: tuple,
                 per_worker: int) -> Iterator[dict]:
    """in_pool's rounds: a pool checks `queue` ((item, isolate) pairs) until one breaks, then the next round."""
    import multiprocessing

    while queue:
        pool = ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), init, initargs)
        inflight: dict = {}
        try:
            while queue or inflight:
                isolating = any(iso for _, iso in inflight.values())
                while queue and not isolating and len(inflight) < workers * per_worker:
                    item, iso = queue.popleft()
                    if iso and inflight:
                        queue.appendleft((item, iso))
                        break
                    try:
                        inflight[pool.submit(fn, item)] = (item, iso)
                    except BrokenProcessPool:
                        queue.appendleft((item, iso))
                        raise
                    isolating = iso
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in done:
                    item, iso = inflight.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        if iso:
                            yield CheckRecord.error_row(item[0], "the checker process crashed on this file").to_row()
                        else:
                            queue.appendleft((item, True))
        except BrokenProcessPool:
            pass
        finally:
            for item, _ in inflight.values():  # a broken pool loses these: check them alone next round
                queue.appendleft((item, True))
            pool.shutdown(wait=False, cancel_futures=True)


def progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="photo", desc="scan", disable=not enabled, dynamic_ncols=True)
