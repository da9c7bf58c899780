import json
import os

import pytest

from vision.errors import AuthcheckError
from vision.scan import RowWriter, iter_files


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
    with pytest.raises(AuthcheckError, match="not a scan row"):
        RowWriter(tmp_path / "x.jsonl")
    with pytest.raises(AuthcheckError, match="unknown output format"):
        RowWriter(tmp_path / "x.txt")
