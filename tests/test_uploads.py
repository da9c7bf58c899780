"""Uploads: only real images get through, zip entries stay inside their folder, limits hold, nothing is dropped
silently."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from vision.uploads import UploadLimits, accept_uploads


def _png(rng: np.random.Generator, side: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _zip(path: Path, entries: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def test_images_accepted_everything_else_refused_with_reason(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    src.mkdir()
    (src / "photo one.png").write_bytes(_png(rng))
    (src / "фото.jpg").write_bytes(_png(rng))  # a PNG named .jpg: sniffed, accepted
    (src / "page.png").write_text("<html><script>alert(1)</script></html>")
    (src / "empty.jpg").write_bytes(b"")
    (src / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'><script>x()</script></svg>")
    got = accept_uploads(sorted(src.iterdir()), tmp_path / "dest")
    assert sorted(p.name for p in got.files) == ["photo one.png", "фото.jpg"]
    assert all(p.parent == tmp_path / "dest" for p in got.files)
    reasons = dict(got.rejected)
    assert set(reasons) == {"page.png", "empty.jpg", "logo.svg"}
    assert "not an accepted image type" in reasons["page.png"] and "empty" in reasons["empty.jpg"]


def test_zip_entries_cannot_escape_and_links_are_refused(tmp_path):
    rng = np.random.default_rng(1)
    z = _zip(tmp_path / "batch.zip", {
        "good/a.png": _png(rng), "b.png": _png(rng), "../evil.png": _png(rng), "/abs.png": _png(rng),
        "x/../../up.png": _png(rng), "C:/win.png": _png(rng), "__MACOSX/._a.png": b"junk", "notes.txt": b"hello"},
        links={"link.png": "/etc/passwd"})
    dest = tmp_path / "dest"
    got = accept_uploads([z], dest)
    assert sorted(p.relative_to(dest).as_posix() for p in got.files) == ["b.png", "good/a.png"]
    reasons = {n.split(":", 1)[1]: why for n, why in got.rejected}
    for bad in ("../evil.png", "/abs.png", "x/../../up.png", "C:/win.png"):
        assert "escapes" in reasons[bad], bad
    assert "symbolic link" in reasons["link.png"]
    assert "not an accepted image type" in reasons["notes.txt"]
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "up.png").exists()
    assert all(p.resolve().is_relative_to(dest.resolve()) for p in dest.rglob("*"))


def test_limits_size_count_and_lying_zip_header(tmp_path):
    rng = np.random.default_rng(2)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"{i}.png").write_bytes(_png(rng))
    big = _png(rng, 300)
    (src / "big.png").write_bytes(big)
    limits = UploadLimits(max_files=3, max_file_bytes=len(big) - 1)
    got = accept_uploads(sorted(src.iterdir()), tmp_path / "dest", limits)
    assert len(got.files) == 3
    reasons = dict(got.rejected)
    assert "too many files" in reasons["3.png"] and "too large" in reasons["big.png"]

    # an entry whose header understates its size is cut off while it is read
    z = _zip(tmp_path / "lie.zip", {"big.png": big})
    raw = bytearray(z.read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # patch the declared size in local and central headers
        at = raw.find(sig)
        off = at + (22 if sig == b"PK\x03\x04" else 24)
        raw[off:off + 4] = (10).to_bytes(4, "little")
    z.write_bytes(bytes(raw))
    got = accept_uploads([z], tmp_path / "dest2", UploadLimits(max_file_bytes=1000))
    assert not got.files and len(got.rejected) == 1


def test_paths_outside_the_upload_roots_are_refused(tmp_path):
    rng = np.random.default_rng(3)
    inside, outside = tmp_path / "uploads", tmp_path / "server"
    inside.mkdir()
    outside.mkdir()
    (inside / "a.png").write_bytes(_png(rng))
    (outside / "secret.png").write_bytes(_png(rng))
    (inside / "sneaky.png").symlink_to(outside / "secret.png")
    got = accept_uploads([inside / "a.png", outside / "secret.png", inside / "sneaky.png"], tmp_path / "dest",
                         roots=[inside])
    assert [p.name for p in got.files] == ["a.png"]
    assert dict(got.rejected) == {"secret.png": "not an uploaded file", "sneaky.png": "not an uploaded file"}
