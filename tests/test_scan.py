import json
import os

import pytest

from vision.errors import AuthcheckError
from vision.rows import RowWriter, read_rows
from vision.scan import iter_files


def test_iter_files_order_hidden_and_symlinks(tmp_path):
    root = tmp_path / "root"
    (root / "b").mkdir(parents=True)
    (root / "a.jpg").write_bytes(b"x")
    (root / "b" / "c d é.jpg").write_bytes(b"x")
    (root / ".hidden.jpg").write_bytes(b"x")
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"x")
    os.symlink(outside, root / "link_out.jpg")
    os.symlink(root / "a.jpg", root / "link_in.jpg")
    os.symlink(root, root / "b" / "loop")
    os.symlink(tmp_path / "gone.jpg", root / "broken.jpg")
    got = {label: (path is not None, problem) for label, path, problem in iter_files(root)}
    labels = [label for label, _, _ in iter_files(root)]
    assert labels[:4] == [str(root / n) for n in ("a.jpg", "broken.jpg", "link_in.jpg", "link_out.jpg")]
    assert got[str(root / "b" / "c d é.jpg")] == (True, None)
    assert got[str(root / "link_in.jpg")] == (True, None)
    assert "outside" in got[str(root / "link_out.jpg")][1]
    assert "broken" in got[str(root / "broken.jpg")][1]
    assert not any(".hidden" in k for k in got) and not any("loop" in k for k in got)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_writer_resumes_and_drops_half_row(tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    w = RowWriter(out)
    w.write({"path": "a.jpg", "verdict": "no_match", "reasons": ["x"]})
    w.write({"path": "b.jpg", "verdict": "error", "reasons": []})
    w.close()
    with open(out, "ab") as f:
        f.write(b'{"path": "c.jp' if fmt == "jsonl" else b"c.jpg,suspe")  # killed mid-write
    w = RowWriter(out)
    assert w.done == {"a.jpg", "b.jpg"}
    w.write({"path": "c.jpg", "verdict": "suspect", "reasons": []})
    w.close()
    text = out.read_text()
    if fmt == "jsonl":
        assert [json.loads(line)["path"] for line in text.splitlines()] == ["a.jpg", "b.jpg", "c.jpg"]
    else:
        assert text.count("path,verdict") == 1 and text.splitlines()[-1].startswith("c.jpg,suspect")


def test_writer_refuses_foreign_files(tmp_path):
    (tmp_path / "x.jsonl").write_text("hello\n")
    with pytest.raises(AuthcheckError, match="not a scan output"):
        RowWriter(tmp_path / "x.jsonl")
    with pytest.raises(AuthcheckError, match="unknown output format"):
        RowWriter(tmp_path / "x.txt")


def _rows():
    return [{"path": "a b é.jpg", "verdict": "suspect", "brand": "nike", "risk": 0.91, "similarity": 0.8,
             "reference": "nike/logos/x.png", "reasons": ["part moved", "wordmark reads NIKF"], "error": None,
             "brand_name": "Nike", "box": [1, 2, 30, 40], "alignment": {"aligned": True, "quality": 0.9},
             "divergence": {"score": 2.5}, "candidates": [{"brand": "nike", "similarity": 0.8, "reference": "r"}],
             "reused_reference": "nike/products/p.jpg",
             "codes": [{"format": "QR Code", "text": "https://x", "box": [1, 2, 3, 4], "registered": False}],
             "seconds": 0.3},
            {"path": "b.jpg", "verdict": "error", "brand": None, "risk": None, "similarity": None,
             "reference": None, "reasons": ["could not check: empty file"], "error": "empty file",
             "brand_name": None, "box": None, "alignment": None, "divergence": None, "candidates": [],
             "reused_reference": None, "codes": [], "seconds": None}]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_rows_read_back_as_written(tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    w = RowWriter(out)
    for row in _rows():
        w.write(row)
    w.close()
    assert list(read_rows(out)) == _rows()


def test_parquet_is_journalled_until_closed_and_resumes(tmp_path):
    out = tmp_path / "out.parquet"
    first, second = _rows()
    w = RowWriter(out)
    w.write(first)
    w._f.close()  # killed: no close(), only the journal exists
    assert not out.exists() and (tmp_path / "out.parquet.journal.jsonl").exists()
    w = RowWriter(out)
    assert w.done == {first["path"]}
    w.write(second)
    w.close()
    assert not (tmp_path / "out.parquet.journal.jsonl").exists()
    assert [r["path"] for r in read_rows(out)] == [first["path"], second["path"]]
    w = RowWriter(out)  # reopening a finished file continues from its rows
    assert w.done == {first["path"], second["path"]}
    w.write({**first, "path": "c.jpg"})
    w.close()
    assert [r["path"] for r in read_rows(out)] == [first["path"], second["path"], "c.jpg"]


def _crash_on_boom(item):
    if item[0] == "boom":
        os._exit(3)  # what a decoder segfault looks like from the outside
    return {"path": item[0], "verdict": "no_match"}


def _no_setup():
    pass


def test_pool_survives_a_worker_crash_and_blames_only_that_file():
    from vision.scan import in_pool

    todo = [(f"f{i}", None, None) for i in range(12)]
    todo.insert(5, ("boom", None, None))
    rows = list(in_pool(todo, 2, _crash_on_boom, _no_setup, ()))
    by_path = {r["path"]: r for r in rows}
    assert len(rows) == len(by_path) == 13
    assert by_path["boom"]["verdict"] == "error" and "crashed" in by_path["boom"]["error"]
    assert all(by_path[f"f{i}"]["verdict"] == "no_match" for i in range(12))


def _thread_env(item):
    return {"path": item[0], "env": [os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")]}


def test_pool_workers_run_one_blas_thread_and_the_caller_keeps_its_environment(monkeypatch):
    from vision.scan import in_pool

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    # the pool spawns its processes as jobs are submitted, after it is made: each must still start with one thread
    rows = list(in_pool([(f"f{i}", None, None) for i in range(4)], 2, _thread_env, _no_setup, ()))
    assert [r["env"] for r in rows] == [["1", "1"]] * 4
    assert "OMP_NUM_THREADS" not in os.environ and "OPENBLAS_NUM_THREADS" not in os.environ
