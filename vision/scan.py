"""Bulk checking of a folder: reader -> check -> writer, resumable.

The writer appends one row per file and flushes it, so a scan killed at any moment keeps every row it wrote; a
rerun reads the output back, skips the paths already there, and drops a half-written last line if the kill came
mid-write.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .check import Context, check_image
from .errors import AuthcheckError
from .log import logger
from .record import COLUMNS, CheckRecord, row_to_csv

FORMATS = ("jsonl", "csv")


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


class RowWriter:
    """Appends rows to a .jsonl or .csv file; knows which paths the file already holds."""

    def __init__(self, out: str | os.PathLike, fmt: str | None = None):
        self.out = Path(out)
        self.fmt = fmt or self.out.suffix.lstrip(".").lower()
        if self.fmt not in FORMATS:
            raise AuthcheckError(f"unknown output format {self.fmt!r} for {self.out}: use .jsonl or .csv")
        self.done: set[str] = set()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if self.out.exists():
            self._recover()
        new = not self.out.exists() or self.out.stat().st_size == 0
        self._f = open(self.out, "a", encoding="utf-8", newline="")
        self._csv = csv.DictWriter(self._f, fieldnames=COLUMNS) if self.fmt == "csv" else None
        if self._csv is not None and new:
            self._csv.writeheader()
        self._since_sync = 0

    def _recover(self) -> None:
        data = self.out.read_bytes()
        cut = data.rfind(b"\n") + 1
        if cut < len(data):  # a row cut short by a kill: drop it, the file will be re-checked
            logger.warning("%s: dropping a half-written last row", self.out)
            with open(self.out, "r+b") as f:
                f.truncate(cut)
            data = data[:cut]
        text = data.decode("utf-8", errors="replace")
        if self.fmt == "jsonl":
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        self.done.add(json.loads(line)["path"])
                    except (ValueError, KeyError, TypeError):
                        raise AuthcheckError(f"{self.out} line {n} is not a scan row; choose another --out") from None
        else:
            reader = csv.DictReader(io.StringIO(text))
            if reader.fieldnames and "path" not in reader.fieldnames:
                raise AuthcheckError(f"{self.out} is not a scan output (no 'path' column); choose another --out")
            self.done.update(row["path"] for row in reader)

    def write(self, row: dict) -> None:
        if self._csv is not None:
            self._csv.writerow(row_to_csv(row))
        else:
            self._f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._f.flush()
        self.done.add(row["path"])
        self._since_sync += 1
        if self._since_sync >= 64:
            os.fsync(self._f.fileno())
            self._since_sync = 0

    def close(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()


@dataclass
class ScanSummary:
    checked: int = 0
    skipped: int = 0  # already in the output (resumed)
    verdicts: Counter = field(default_factory=Counter)
    brands: Counter = field(default_factory=Counter)


def scan(ctx: Context, root: str | os.PathLike, out: str | os.PathLike, progress: bool = True) -> ScanSummary:
    """Check every file under `root` and append a row per file to `out` (.jsonl or .csv), skipping files the
    output already holds. A bad file gives an `error` row; nothing stops the scan but the scan's own failure."""
    root = Path(root)
    if not root.is_dir():
        raise AuthcheckError(f"not a folder: {root}")
    writer = RowWriter(out)
    summary = ScanSummary()
    out_real = Path(out).resolve()
    files = [f for f in iter_files(root) if f[1] is None or f[1].resolve() != out_real]
    todo = [f for f in files if f[0] not in writer.done]
    summary.skipped = len(files) - len(todo)
    if summary.skipped:
        logger.info("resuming: %d of %d files already in %s", summary.skipped, len(files), out)
    bar = _progress(len(todo), progress)
    try:
        for label, path, problem in todo:
            if problem is not None:
                record = CheckRecord.error_row(label, problem)
            else:
                try:
                    record = check_image(ctx, path, label)
                except Exception as e:  # noqa: BLE001 - one file must never take the scan down
                    logger.exception("internal error on %s", label)
                    record = CheckRecord.error_row(label, f"internal error: {type(e).__name__}: {e}")
            writer.write(record.to_row())
            summary.checked += 1
            summary.verdicts[record.verdict] += 1
            if record.brand:
                summary.brands[record.brand] += 1
            bar.update(1)
    finally:
        bar.close()
        writer.close()
    return summary


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="photo", desc="scan", disable=not enabled, dynamic_ncols=True)
