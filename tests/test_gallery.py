import json

import pytest

from vision.errors import BrandNameError, GalleryError, ImageError
from vision.gallery import Gallery, add_references, check_slug, gallery_root, remove_brand, verify_files


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", "", "Nike", "new balance", "x" * 65, "-x",
                                  "x-", "a\\b", "/abs", "nike\x00", "ni\nke"])
def test_bad_brand_names_refused(name):
    with pytest.raises(BrandNameError, match="invalid brand name"):
        check_slug(name)


@pytest.mark.parametrize("name", ["nike", "new-balance", "the_north_face", "3m", "a"])
def test_good_brand_names(name):
    assert check_slug(name) == name


def test_add_list_remove_verify(tmp_path, logo_files):
    g = Gallery(tmp_path / "g")
    b = add_references(g, "nike", [logo_files["nike"]], kind="logo", name="Nike", colors=["111111"])
    assert b.name == "Nike" and b.colors == ("#111111",) and len(b.references) == 1
    assert (g.root / "nike" / b.references[0].file).is_file()
    # adding the same image again is a no-op; a new one is appended; details update
    b = add_references(g, "nike", [logo_files["nike"], logo_files["puma"]], wordmark="NIKE")
    assert len(b.references) == 2 and b.wordmark == "NIKE" and b.name == "Nike"
    add_references(g, "puma", [logo_files["puma"]], kind="product")
    assert g.slugs() == ["nike", "puma"]
    assert g.brand("puma").references[0].file.startswith("products/")
    assert verify_files(g) == []
    remove_brand(g, "nike")
    assert g.slugs() == ["puma"] and not (g.root / "nike").exists()
    with pytest.raises(GalleryError, match="no brand 'nike'"):
        remove_brand(g, "nike")


def test_add_refuses_non_images_and_writes_nothing(tmp_path, logo_files):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    g = Gallery(tmp_path / "g")
    with pytest.raises(ImageError, match="not a recognised image"):
        add_references(g, "nike", [logo_files["nike"], bad])
    assert g.slugs() == []
    with pytest.raises(GalleryError, match="invalid kind"):
        add_references(g, "nike", [logo_files["nike"]], kind="banner")
    with pytest.raises(GalleryError, match="invalid colour"):
        add_references(g, "nike", [logo_files["nike"]], colors=["red"])


def test_verify_finds_problems(tmp_path, logo_files):
    g = Gallery(tmp_path / "g")
    ref = add_references(g, "nike", [logo_files["nike"]]).references[0]
    add_references(g, "puma", [logo_files["puma"]])
    (g.root / "nike" / ref.file).write_bytes(b"tampered")
    (g.root / "nike" / "logos" / "stray.png").write_bytes(b"x")
    (g.root / "puma" / "brand.json").write_text("{not json")
    (g.root / "Bad Name").mkdir()
    problems = "\n".join(verify_files(g))
    assert "altered" in problems and "stray.png is not listed" in problems
    assert "puma/brand.json is unreadable" in problems and "Bad Name: not a valid brand folder" in problems


def test_manifest_cannot_point_outside(tmp_path, logo_files):
    g = Gallery(tmp_path / "g")
    add_references(g, "nike", [logo_files["nike"]])
    m = g.root / "nike" / "brand.json"
    raw = json.loads(m.read_text())
    raw["references"][0]["file"] = "../../../etc/passwd"
    m.write_text(json.dumps(raw))
    with pytest.raises(GalleryError, match="malformed"):
        g.brand("nike")


def test_gallery_root_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("AUTHCHECK_GALLERY", raising=False)
    assert str(gallery_root()) == "reference_gallery"
    monkeypatch.setenv("AUTHCHECK_GALLERY", str(tmp_path))
    assert gallery_root() == tmp_path and gallery_root("x").name == "x"
