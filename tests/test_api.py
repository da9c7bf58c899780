"""The Python API (vision.Checker, vision.Gallery): one test per public call, on real galleries and photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, listing
from vision import synth
from vision.load import load_image


@pytest.fixture(scope="module")
def checker(built_gallery):
    from vision import Checker

    return Checker(built_gallery, threads=1)


def test_check_a_path_an_array_and_a_bad_file(checker, tmp_path):
    synth.save_rgb(tmp_path / "nike.jpg", listing("nike", 11))
    row = checker.check(tmp_path / "nike.jpg")
    assert row.brand == "nike" and row.verdict in ("consistent", "unverified"), row
    assert row.path == str(tmp_path / "nike.jpg") and 0.0 <= row.risk <= 1.0
    same = checker.check(load_image(tmp_path / "nike.jpg"), path="listing 7")
    assert same.path == "listing 7" and same.brand == "nike"
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    bad = checker.check(tmp_path / "broken.jpg")
    assert bad.verdict == "error" and bad.brand is None and bad.risk is None and "broken.jpg" in bad.path
    assert bad.error


def test_scan_writes_a_row_per_file_and_resumes(checker, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, slug in enumerate(("adidas", None, "puma")):
        synth.save_rgb(photos / f"p{i}.jpg", listing(slug, 20 + i))
    out = tmp_path / "rows.jsonl"
    first = checker.scan(photos, out)
    assert first.checked == 3 and first.skipped == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in rows) == ["p0.jpg", "p1.jpg", "p2.jpg"]
    again = checker.scan(photos, out)
    assert again.checked == 0 and again.skipped == 3 and len(out.read_text().splitlines()) == 3


def test_gallery_add_a_product_photo_that_checks_then_see(gallery_copy, tmp_path):
    from vision import Checker, Gallery
    from vision.errors import ImageError

    photo = tmp_path / "bag.jpg"
    synth.save_rgb(photo, listing("adidas", 31))
    g = Gallery(gallery_copy)
    before = sorted(p.name for p in (gallery_copy / "adidas").rglob("*"))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ImageError, match="bad.png"):
        g.add("adidas", [tmp_path / "bad.png"], kind="product")
    assert sorted(p.name for p in (gallery_copy / "adidas").rglob("*")) == before
    brand = g.add("adidas", [photo], kind="product")
    assert [r.kind for r in brand.references].count("product") == 1
    row = Checker(gallery_copy, threads=1).check(photo)
    assert row.reused_reference and row.reused_reference.startswith("adidas/"), row


def test_checker_without_a_gallery_opens_the_demo_gallery(tmp_path):
    """From a folder without ./reference_gallery and no $AUTHCHECK_GALLERY: the gallery the package ships."""
    probe = ("import sys; from vision import Checker; c = Checker(threads=1); "
             "r = c.check(sys.argv[1]); print(c.gallery.root.name, len(c.gallery.slugs()), r.brand)")
    env = {k: v for k, v in os.environ.items() if k != "AUTHCHECK_GALLERY"}
    r = subprocess.run([sys.executable, "-c", probe, str(ROOT / "examples" / "listings" / "adidas_bag.jpg")],
                       capture_output=True, text=True, cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                       timeout=300)
    assert r.returncode == 0, r.stderr
    name, n, brand = r.stdout.split()
    assert name == "reference_gallery" and int(n) >= 20 and brand == "adidas"
    assert not (tmp_path / "reference_gallery").exists()  # nothing written where it ran


def test_import_vision_is_light():
    r = subprocess.run([sys.executable, "-c", "import sys, vision; vision.__all__; "
                        "print(sorted(m for m in ('torch', 'gradio', 'ray', 'onnxruntime', 'faiss') "
                        "if m in sys.modules))"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


def test_the_readme_shows_this_api_first_and_it_runs(tmp_path):
    """The README's first code block after Install is the three-line API, and it runs as written (in a folder
    holding the demo gallery's copy as ./reference_gallery and a listing.jpg)."""
    import re
    import shutil

    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    after_install = readme[readme.index("## Install"):]
    blocks = re.findall(r"```python\n(.*?)```", after_install, re.S)
    assert blocks and blocks[0].startswith("from vision import Checker"), blocks[:1]
    shutil.copytree(ROOT / "reference_gallery", tmp_path / "reference_gallery", ignore=shutil.ignore_patterns(".lock"))
    shutil.copy(ROOT / "examples" / "listings" / "adidas_bag.jpg", tmp_path / "listing.jpg")
    r = subprocess.run([sys.executable, "-c", blocks[0] + "\nprint(row.verdict, row.brand)"], capture_output=True,
                       text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["consistent", "adidas"]
