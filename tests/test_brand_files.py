"""Brand files as brands have them, at `gallery add`: SVG masters rendered (and hostile SVG refused), logos on
backgrounds extracted with the file kept beside them, hostile reference files refused with nothing written."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_cli
from tests.hostile import _bomb_png
from vision import synth
from vision.errors import ImageError
from vision.gallery import Gallery, add_references, verify_files
from vision.svg import SVG_SIDE, render_svg

LOGO_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 100">'
            '<rect x="10" y="20" width="60" height="60" fill="#d22"/><circle cx="140" cy="50" r="35" fill="#222"/>'
            '</svg>')


def _write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_an_svg_renders_at_the_working_size_with_its_aspect(tmp_path):
    rgba = render_svg(_write(tmp_path / "logo.svg", LOGO_SVG))
    assert rgba.shape == (SVG_SIDE // 2, SVG_SIDE, 4) and rgba.dtype == np.uint8
    assert rgba[0, 0, 3] == 0 and rgba[SVG_SIDE // 4, SVG_SIDE * 140 // 200, 3] == 255  # empty canvas, drawn circle
    huge = LOGO_SVG.replace('viewBox="0 0 200 100"', 'width="100000" height="50000" viewBox="0 0 200 100"')
    assert render_svg(_write(tmp_path / "huge.svg", huge)).shape[:2] == (SVG_SIDE // 2, SVG_SIDE)  # never sized by it


HOSTILE_SVG = {
    "script.svg": (LOGO_SVG.replace("</svg>", "<script>alert(1)</script></svg>"), "<script>"),
    "onload.svg": (LOGO_SVG.replace("<svg ", '<svg onload="alert(1)" '), "event handler"),
    "external.svg": (LOGO_SVG.replace("</svg>", '<image href="http://example.com/a.png" width="9" height="9"/></svg>'),
                     "outside the file"),
    "xlink.svg": (LOGO_SVG.replace('<svg ', '<svg xmlns:xlink="http://www.w3.org/1999/xlink" ').replace(
        "</svg>", '<use xlink:href="other.svg#a"/></svg>'), "outside the file"),
    "css_url.svg": (LOGO_SVG.replace('fill="#d22"', 'style="fill:url(http://example.com/p.svg#g)"'),
                    "outside the file"),
    "import.svg": (LOGO_SVG.replace("</svg>", "<style>@import url(x.css);</style></svg>"), "@import"),
    "entities.svg": ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                     + LOGO_SVG.replace("</svg>", "<text>&b;</text></svg>"), "entities"),
    "foreign.svg": (LOGO_SVG.replace("</svg>", "<foreignObject><p>x</p></foreignObject></svg>"), "foreignObject"),
    "broken.svg": (LOGO_SVG[:-10], "well-formed"),
    "nosize.svg": ('<svg xmlns="http://www.w3.org/2000/svg"><rect width="5" height="5"/></svg>', "shape is unknown"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_SVG))
def test_a_hostile_svg_is_refused_with_its_reason(tmp_path, name):
    text, words = HOSTILE_SVG[name]
    with pytest.raises(ImageError, match=words):
        render_svg(_write(tmp_path / name, text))


def test_an_svg_embedding_a_bomb_is_refused(tmp_path):
    for w, h, words in ((9000, 9000, "embeds an image of 9000x9000"), (50_000, 50_000, "too many pixels")):
        data = base64.b64encode(_bomb_png(w, h)).decode()
        svg = LOGO_SVG.replace("</svg>", f'<image href="data:image/png;base64,{data}" width="9" height="9"/></svg>')
        with pytest.raises(ImageError, match=words):
            render_svg(_write(tmp_path / "bomb.svg", svg))


def test_gallery_add_extracts_logos_keeps_the_files_and_verifies(tmp_path):
    logo = synth.render_logo("puma", 400)
    page = np.full((1500, 2200, 3), 255, np.uint8)
    a = logo[..., 3:4] / 255.0
    page[500:500 + logo.shape[0], 800:800 + logo.shape[1]] = (a * logo[..., :3] + (1 - a) * 255).astype(np.uint8)
    jpg = tmp_path / "Puma logo.jpg"
    Image.fromarray(page).save(jpg, quality=90)
    Image.fromarray(page).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=90)  # print-shop files
    Image.fromarray(page).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "palette.png")
    g = Gallery(tmp_path / "g")
    kept = []
    brand = add_references(g, "puma", [jpg, tmp_path / "cmyk.jpg", tmp_path / "palette.png",
                                       _write(tmp_path / "m.svg", LOGO_SVG)], on_kept=kept.append)
    assert len(brand.references) == 4 and len(kept) == 4
    for ref, k in zip(brand.references, kept):
        assert ref.file.endswith(".png") and ref.original.startswith("originals/")
        assert (g.brand_dir("puma") / ref.original).is_file() and k.picture is not None
        stored = Image.open(g.ref_path("puma", ref))
        assert stored.mode == "RGBA" and max(stored.size) <= 1024
    assert kept[0].size == (2200, 1500) and "flat background #ffffff removed" in kept[0].summary
    assert brand.references[3].original.endswith(".svg") and kept[3].extraction.background == "transparent"
    assert verify_files(g) == []
    again = add_references(g, "puma", [jpg])  # the same file again: nothing new
    assert again.references == brand.references
    (g.brand_dir("puma") / brand.references[0].original).write_bytes(b"changed")
    assert any("was altered" in p for p in verify_files(g))


def test_hostile_reference_files_are_refused_at_gallery_add_and_nothing_is_written(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(synth.render_logo("puma", 200), "RGBA").save(good)
    wide = tmp_path / "wide.png"
    Image.new("L", (100_000, 16), 255).save(wide)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_bomb_png(40_000, 40_000))
    truncated = tmp_path / "truncated.jpg"
    Image.fromarray(np.full((400, 600, 3), 90, np.uint8)).save(truncated, quality=90)
    truncated.write_bytes(truncated.read_bytes()[:2000])
    script = _write(tmp_path / "script.svg", HOSTILE_SVG["script.svg"][0])
    external = _write(tmp_path / "external.svg", HOSTILE_SVG["external.svg"][0])
    blank = tmp_path / "blank.jpg"
    Image.new("RGB", (300, 300), (250, 250, 250)).save(blank)
    gallery = tmp_path / "g"
    for bad, words in ((wide, "longest side limit"), (bomb, "pixels"), (truncated, "truncated"),
                       (script, "<script>"), (external, "outside the file"), (blank, "no logo found")):
        r = run_cli("gallery", "add", "acme", str(good), str(bad), "--gallery", str(gallery))
        assert r.returncode == 2 and bad.name in r.stderr and words in r.stderr, (bad.name, r.stderr[-600:])
        assert "nothing was added" in r.stderr
        assert not (gallery / "acme").exists()  # the good file was not written either
    r = run_cli("gallery", "add", "acme", str(good), "--gallery", str(gallery), "--as-is")
    assert r.returncode == 0, r.stderr[-2000:]
    ref = json.loads((gallery / "acme" / "brand.json").read_text())["references"][0]
    assert "original" not in ref and (gallery / "acme" / ref["file"]).read_bytes() == good.read_bytes()


def test_a_missing_original_is_a_problem_that_repair_settles_keeping_the_logo(tmp_path, embedder):
    from vision.repair import repair_gallery

    page = np.full((600, 900, 3), 255, np.uint8)
    logo = synth.render_logo("nike", 300)
    a = logo[..., 3:4] / 255.0
    page[100:100 + logo.shape[0], 200:200 + logo.shape[1]] = (a * logo[..., :3] + (1 - a) * 255).astype(np.uint8)
    Image.fromarray(page).save(tmp_path / "nike.jpg", quality=92)
    g = Gallery(tmp_path / "g")
    ref = add_references(g, "nike", [tmp_path / "nike.jpg"]).references[0]
    (g.brand_dir("nike") / ref.original).unlink()
    assert verify_files(g) == [f"nike: reference {ref.original} is missing"]
    done = repair_gallery(g, embedder)
    assert any("keeps its extracted logo" in d for d in done) and verify_files(g) == []
    kept = g.brand("nike").references[0]
    assert kept.file == ref.file and kept.original == "" and g.original_path("nike", kept) == g.ref_path("nike", kept)


def test_a_print_of_a_lockups_emblem_alone_is_judged_against_the_emblem(tmp_path, embedder):
    """A lock-up is registered whole and as its parts, each part naming the lock-up it was cut from (kept in
    brand.json); a product that prints the emblem alone, matched to the lock-up, is judged against the emblem part,
    not as half of the lock-up."""
    from vision.calibrate import CalibrationConfig
    from vision.check import CheckConfig, _verify, _verify_reference, open_context
    from vision.index import save_index, sync_index
    from vision.match import BrandHit

    emblem, name = synth.render_logo("puma", 200), synth.render_logo("nike", 200)
    canvas = np.full((420, 900, 3), 255.0, np.float32)
    for art, x, y in ((emblem, 80, 100), (name, 500, 140)):
        h, w = art.shape[:2]
        a = art[..., 3:4] / 255.0
        canvas[y:y + h, x:x + w] = a * art[..., :3] + (1 - a) * canvas[y:y + h, x:x + w]
    Image.fromarray(canvas.astype(np.uint8)).save(tmp_path / "lockup.jpg", quality=95)
    g = Gallery(tmp_path / "g")
    add_references(g, "puma", [tmp_path / "lockup.jpg"], kind="logo")
    refs = g.brand("puma").references
    whole, parts = [r for r in refs if not r.part_of], [r for r in refs if r.part_of]
    assert len(whole) == 1 and len(parts) == 2 and all(p.part_of == whole[0].file for p in parts)
    assert Gallery(tmp_path / "g").brand("puma") == g.brand("puma")  # read back from brand.json
    with g.locked():
        save_index(sync_index(g, embedder), g)
    ctx = open_context(g.root, config=CheckConfig(calibration=CalibrationConfig(samples=6, min_samples=6, enough=3)))
    assert sorted(ctx.parts_of("puma", whole[0].file)) == sorted(p.file for p in parts)
    style = synth.PhotoStyle(blur=(0.0, 0.0), noise=(0.0, 0.0), tilt=0.05, rotation=5.0, logo_frac=(0.4, 0.5))
    p = synth.photograph(emblem, np.random.default_rng(1), style)
    (x0, y0), (x1, y1) = p.quad.min(0).astype(int) - 10, p.quad.max(0).astype(int) + 10
    box = (max(0, x0), max(0, y0), x1, y1)
    entry = next(e for e in ctx.index.entries.values() if e.file == whole[0].file)
    half = _verify_reference(ctx, p.image, "puma", whole[0].file, [box])
    ev = _verify(ctx, p.image, BrandHit("puma", 0.9, entry, box, -1, (box,)), [box])
    assert ev.reference in {f"puma/{r.file}" for r in parts}
    assert ev.alignment.quality >= 0.9 > half.alignment.quality
