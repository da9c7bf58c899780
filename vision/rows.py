"""Result files of bulk checks: append-only writers for .jsonl / .csv / .parquet, and a reader for all three.

Every writer appends one row per file and flushes it, so a scan killed at any moment keeps every row it wrote; a
reopened writer knows which paths the file already holds (resume) and drops a half-written last line.

Parquet cannot be appended to row by row, so a .parquet output is journalled: rows go to `<out>.journal.jsonl`
as they come, and `close(final=True)` rewrites the Parquet file from the journal (in row groups, memory flat) and
removes the journal, atomically. A kill before that leaves the journal, which the next run resumes from.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Iterator

from .errors import AuthcheckError
from .log import logger
from .record import COLUMNS, row_to_csv

__all__ = ["RowWriter", "read_rows"]

FORMATS = ("jsonl", "csv", "parquet")
_GROUP = 2048  # rows per Parquet row group


def _format(out: Path, fmt: str | None) -> str:
    fmt = fmt or out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise AuthcheckError(f"unknown output format {fmt!r} for {out}: use .jsonl, .csv or .parquet")
    return fmt


class RowWriter:
    """Appends rows to a .jsonl, .csv or .parquet file; `done` holds the paths the output already has."""

    def __init__(self, out: str | os.PathLike, fmt: str | None = None):
        self.out = Path(out)
        self.fmt = _format(self.out, fmt)
        self.done: set[str] = set()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.out
        if self.fmt == "parquet":
            self._file = self.out.with_name(self.out.name + ".journal.jsonl")
            if self.out.exists() and not self._file.exists():  # a finished file: continue from its rows
                _write_journal(self.out, self._file)
        if self._file.exists():
            self._recover()
        new = not self._file.exists() or self._file.stat().st_size == 0
        self._f = open(self._file, "a", encoding="utf-8", newline="")
        self._csv = csv.DictWriter(self._f, fieldnames=COLUMNS) if self.fmt == "csv" else None
        if self._csv is not None and new:
            self._csv.writeheader()
        self._since_sync = 0

    def _recover(self) -> None:
        data = self._file.read_bytes()
        cut = data.rfind(b"\n") + 1
        if cut < len(data):  # a row cut short by a kill: drop it, the file will be re-checked
            logger.warning("%s: dropping a half-written last row", self._file)
            with open(self._file, "r+b") as f:
                f.truncate(cut)
        try:
            self.done.update(row["path"] for row in read_rows(self._file, "csv" if self.fmt == "csv" else "jsonl"))
        except (ValueError, KeyError, TypeError):
            raise AuthcheckError(f"{self.out} is not a scan output; choose another --out") from None

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

    def close(self, final: bool = True) -> None:
        """Flush and close. For Parquet with `final`, turn the journal into the .parquet file."""
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        if self.fmt == "parquet" and final:
            _journal_to_parquet(self._file, self.out)
            self._file.unlink()


def read_rows(path: str | os.PathLike, fmt: str | None = None) -> Iterator[dict]:
    """Rows of a result file, streamed, as the writer was given them (CSV cells parsed back)."""
    path = Path(path)
    fmt = _format(path, fmt)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=_GROUP):
            for row in batch.to_pylist():
                yield _from_parquet(row)
        return
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        if fmt == "csv":
            reader = csv.DictReader(f)
            if reader.fieldnames and "path" not in reader.fieldnames:
                raise ValueError(f"{path}: no 'path' column")
            for row in reader:
                yield _from_csv(row)
        else:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    row["path"]  # noqa: B018 - every row names its file
                    yield row


# Nested fields are stored as JSON text in Parquet: their shapes vary by verdict, a fixed schema keeps every
# file readable by any Parquet tool.
_JSON_FIELDS = ("alignment", "divergence", "candidates", "codes")


def _from_csv(row: dict) -> dict:
    """Undo record.row_to_csv: numbers, the reasons list, JSON structures, None for empty cells."""
    out = {}
    for k, v in row.items():
        if v == "" or v is None:
            out[k] = [] if k == "reasons" else None
        elif k in ("risk", "similarity", "seconds"):
            out[k] = float(v)
        elif k == "reasons":
            out[k] = v.split(" | ")
        elif k in _JSON_FIELDS or k == "box":
            out[k] = json.loads(v)
        else:
            out[k] = v
    return out


def _schema():
    import pyarrow as pa

    types = {"risk": pa.float64(), "similarity": pa.float64(), "seconds": pa.float64(),
             "reasons": pa.list_(pa.string()), "box": pa.list_(pa.int64())}
    return pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])


def _to_parquet(row: dict) -> dict:
    out = {c: row.get(c) for c in COLUMNS}
    for c in _JSON_FIELDS:
        if out[c] is not None:
            out[c] = json.dumps(out[c], ensure_ascii=False)
    return out


def _from_parquet(row: dict) -> dict:
    for c in _JSON_FIELDS:
        if row.get(c) is not None:
            row[c] = json.loads(row[c])
    return row


def _journal_to_parquet(journal: Path, out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema()
    tmp = out.with_name(out.name + ".tmp")
    with pq.ParquetWriter(tmp, schema) as w:
        batch = []
        for row in read_rows(journal, "jsonl"):
            batch.append(_to_parquet(row))
            if len(batch) >= _GROUP:
                w.write_table(pa.Table.from_pylist(batch, schema))
                batch = []
        if batch:
            w.write_table(pa.Table.from_pylist(batch, schema))
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, out)


def _write_journal(parquet: Path, journal: Path) -> None:
    tmp = journal.with_name(journal.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in read_rows(parquet, "parquet"):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, journal)
