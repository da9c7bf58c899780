"""Checks in a bounded pool of worker processes, so that one photo can never take down the caller.

A real photo can drive a check into a crash, a runaway allocation or a stall that no file test finds. The web app
and `authcheck check` therefore never check in their own process: each worker process opens its own Context, is
given a memory budget (an address-space limit, `resource.setrlimit`) once it is loaded, and answers one check at a
time. A check that fails inside the budget, crashes its process, or runs past its time limit gives an `error`
record with the reason, and a crashed or stopped worker is replaced; the caller only ever gets a record.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from .errors import AuthcheckError
from .log import logger
from .record import CheckRecord
from .scan import ContextSpec, Item, failure_row, one_thread_env

if TYPE_CHECKING:
    from .check import Context

__all__ = ["WorkerLimits", "CheckerPool", "limit_memory", "memory_budget"]


@dataclass(frozen=True)
class WorkerLimits:
    memory_bytes: int = 1280 * 1024 ** 2  # address space a check may add to its loaded worker (a 64 MP photo, the
    # loader's largest, peaks at 1.2 GB resident in all)
    seconds: float = 120.0  # wall time of one check before its worker is stopped
    startup_seconds: float = 600.0  # a worker's start (opening the gallery; calibration runs before, in the caller)


def vm_size() -> int:
    """This process's virtual memory size in bytes (Linux /proc; 0 where unknown)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def limit_memory(extra_bytes: int) -> int:
    """Limit this process's address space to what it maps now plus `extra_bytes` (RLIMIT_AS, soft limit only, so
    it can be raised again): an allocation past it fails with MemoryError or cv2's "Insufficient memory" instead of
    growing until the kernel kills a process. Returns the previous soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    new = vm_size() + extra_bytes
    if hard != resource.RLIM_INFINITY:
        new = min(new, hard)
    resource.setrlimit(resource.RLIMIT_AS, (new, hard))
    return soft


class memory_budget:
    """Context manager: `limit_memory(extra_bytes)` inside, the previous limit restored on leaving."""

    def __init__(self, extra_bytes: int):
        self.extra = extra_bytes

    def __enter__(self) -> "memory_budget":
        self.previous = limit_memory(self.extra)
        return self

    def __exit__(self, *exc) -> None:
        resource.setrlimit(resource.RLIMIT_AS, (self.previous, resource.getrlimit(resource.RLIMIT_AS)[1]))


def open_worker_context(spec: ContextSpec, limits: WorkerLimits) -> "Context":
    """A checker process's own Context (one OpenCV and onnxruntime thread), then its memory budget: a runaway check
    fails as an error row, the machine keeps its memory."""
    import cv2

    from .check import open_context

    cv2.setNumThreads(1)
    ctx = open_context(spec.gallery, spec.model, threads=1, config=spec.config)
    limit_memory(limits.memory_bytes)
    return ctx


def _serve(spec: ContextSpec, limits: WorkerLimits, conn) -> None:
    """A worker process: open the context under its memory budget, then answer (path, label, explain) jobs with
    (row, picture or None) until the pipe closes or a None job comes."""
    from .check import check_image
    from .explain import check_and_explain

    try:
        ctx = open_worker_context(spec, limits)
    except Exception as e:  # noqa: BLE001 - said to the parent, which raises it
        conn.send(("failed", str(e) if isinstance(e, AuthcheckError) else f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        path, label, explain = job
        picture = None
        try:
            if explain:
                rec, picture = check_and_explain(ctx, path, label)
            else:
                rec = check_image(ctx, path, label)
            row = rec.to_row()
        except Exception as e:  # noqa: BLE001 - one photo must never take the worker down
            row = failure_row(label, e)
        conn.send((row, picture))


_SIGNALS = {9: "killed (SIGKILL; the system may have run out of memory)", 11: "crashed (segmentation fault)",
            6: "aborted (SIGABRT)", 7: "crashed (bus error)"}


class _Worker:
    def __init__(self, spec: ContextSpec, limits: WorkerLimits, generation: int):
        mp = multiprocessing.get_context("spawn")
        self.conn, child = mp.Pipe()
        self.generation = generation
        self.ready = False
        with one_thread_env():
            self.proc = mp.Process(target=_serve, args=(spec, limits, child), daemon=True, name="authcheck-worker")
            self.proc.start()
        child.close()

    def wait_ready(self, timeout: float) -> None:
        if self.ready:
            return
        if not self.conn.poll(timeout):
            raise AuthcheckError(f"the checker process did not start within {timeout:.0f} s")
        try:
            kind, what = self.conn.recv()
        except (EOFError, OSError):
            raise AuthcheckError(f"the checker process stopped while starting ({self.ended()})") from None
        if kind != "ready":
            raise AuthcheckError(f"the checker could not start: {what}")
        self.ready = True

    def ended(self) -> str:
        """How the process ended, in words."""
        self.proc.join(1.0)
        code = self.proc.exitcode
        if code is None:
            return "still running"
        return _SIGNALS.get(-code, f"ended by signal {-code}") if code < 0 else f"exited with status {code}"

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(0.5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5.0)
        self.conn.close()


class CheckerPool:
    """`workers` checker processes opened from `spec` (scan.context_spec of an open Context), each answering one
    check at a time under `limits`. `check` blocks while every worker is busy, so at most `workers` photos are
    checked at once however many callers there are (threads of a web server). Thread-safe. Close it (or use it
    as a context manager) to stop the processes."""

    def __init__(self, spec: ContextSpec, workers: int = 1, limits: WorkerLimits = WorkerLimits()):
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self.spec, self.workers, self.limits = spec, workers, limits
        self._generation = 0
        self._lock = threading.Lock()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        for _ in range(workers):
            self._idle.put(self._start())

    def _start(self) -> _Worker:
        w = _Worker(self.spec, self.limits, self._generation)
        with self._lock:
            self._all.add(w)
        return w

    def _retire(self, w: _Worker) -> None:
        with self._lock:
            self._all.discard(w)
        w.stop()

    def _release(self, w: _Worker, healthy: bool = True) -> None:
        """Give `w` back, or a fresh worker in its place when it broke or the pool was restarted meanwhile."""
        if not healthy or w.generation != self._generation or not w.proc.is_alive():
            self._retire(w)
            w = self._start()
        self._idle.put(w)

    def check(self, image: str | os.PathLike, label: str | None = None, explain: bool = False
              ) -> tuple[dict, np.ndarray | None]:
        """The row (record.COLUMNS) of one image file, and with `explain` its explaining picture ((H, W, 3) uint8,
        explain.explain; None without, or when the check failed). Never raises for anything the photo does."""
        label = str(image) if label is None else label
        w = self._idle.get()
        if not w.proc.is_alive():  # ended while idle (killed from outside): not this photo's doing
            self._retire(w)
            w = self._start()
        healthy = True
        try:
            try:
                w.wait_ready(self.limits.startup_seconds)
            except AuthcheckError as e:
                healthy = False
                return CheckRecord.error_row(label, str(e)).to_row(), None
            t0 = time.perf_counter()
            try:
                w.conn.send((str(image), label, explain))
                if not w.conn.poll(self.limits.seconds):
                    healthy = False
                    logger.warning("check of %s ran past %.0f s; its worker is replaced", label, self.limits.seconds)
                    return self._failed(label, f"the check took longer than {self.limits.seconds:.0f} s and was "
                                               f"stopped", t0), None
                return w.conn.recv()
            except (EOFError, OSError):
                healthy = False
                how = w.ended()
                logger.warning("checker process %s on %s; it is replaced", how, label)
                return self._failed(label, f"the checker process {how} on this image", t0), None
        finally:
            self._release(w, healthy)

    @staticmethod
    def _failed(label: str, why: str, t0: float) -> dict:
        rec = CheckRecord.error_row(label, why)
        rec.seconds = time.perf_counter() - t0
        return rec.to_row()

    def rows(self, items: Iterable[Item]) -> Iterator[dict]:
        """Rows of scan items (label, path, problem) as they finish, using every worker."""
        def one(item: Item) -> dict:
            label, path, problem = item
            if problem is not None:
                return CheckRecord.error_row(label, problem).to_row()
            return self.check(path, label)[0]

        with ThreadPoolExecutor(self.workers) as threads:
            futures = [threads.submit(one, item) for item in items]
            for f in as_completed(futures):
                yield f.result()

    def restart(self, spec: ContextSpec | None = None) -> None:
        """Open the workers again (from `spec`, or the same one): after the gallery changed. Idle workers are
        replaced now, busy ones when their check ends."""
        with self._lock:
            self.spec = spec or self.spec
            self._generation += 1
        idle = []
        while True:
            try:
                idle.append(self._idle.get_nowait())
            except queue.Empty:
                break
        for w in idle:
            self._release(w)

    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        with self._lock:
            return [w.proc.pid for w in self._all if w.proc.pid is not None and w.proc.is_alive()]

    def close(self) -> None:
        with self._lock:
            workers, self._all = list(self._all), set()
        for w in workers:
            w.stop()

    def __enter__(self) -> "CheckerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
