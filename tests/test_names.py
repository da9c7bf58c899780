"""Reading a registered brand's name in a photo where no logo was found (wordmark.read_lines, wordmark.names_in,
check.read_names), with the real OCR models, on generated photos."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from tests.conftest import listing
from vision.check import CheckConfig, NamesConfig, check_image, open_context, read_enlarged, read_names
from vision.record import CheckRecord
from vision.train.forge import font_path, render_text
from vision.wordmark import TextLine, name_edits, names_in, normalise, read_lines

NAMES = {"cocacola": ("cocacola",), "mcdonalds": ("McDonald's",), "adidas": ("adidas",), "hp": ("hp",),
         "mini": ("mini",), "ford": ("Ford", "Ford Motor")}


def _lines(*texts: str) -> list[TextLine]:
    return [TextLine((0, 10 * i, 50, 10 * i + 8), t) for i, t in enumerate(texts)]


def test_a_name_is_read_as_consecutive_words_exactly_when_short_within_edits_growing_with_its_length():
    found = dict(names_in(_lines("Coca Cola classic", "McDonald's", "adids originals"), NAMES))
    assert set(found) == {"cocacola", "mcdonalds", "adidas"}
    assert found["adidas"].text == "adids originals"
    # short names only as whole words, exactly: inside other words, or a letter off, they are not read
    assert names_in(_lines("HPX shop", "MIN", "CHPS", "minimal"), NAMES) == []
    assert [b for b, _ in names_in(_lines("hp"), NAMES)] == ["hp"]
    # a worn print's letters lost or misread: two edits from 6 characters, one for 5
    assert [b for b, _ in names_in(_lines("adpids"), NAMES)] == ["adidas"]
    assert [b for b, _ in names_in(_lines("Coca-Ca"), NAMES)] == ["cocacola"]
    assert [b for b, _ in names_in(_lines("Fordx"), {"ford": ("Fords",)})] == ["ford"]
    assert names_in(_lines("Fxrdx"), {"ford": ("Fords",)}) == []
    assert [name_edits(n) for n in ("MINI", "FORDS", "ADIDAS")] == [0, 1, 2]
    # far from any name, or three letters off a long one: nothing
    assert names_in(_lines("BEST PRICE 24/7", "axxdxs"), NAMES) == []


def test_accents_are_typography_a_name_read_with_or_without_them_names_its_brand():
    names = {"citroen": ("Citroën",), "skoda": ("Škoda",)}
    assert normalise("Citroën") == normalise("CITROEN") == "CITROEN"
    assert normalise("ŠKODA") == "SKODA"
    found = dict(names_in(_lines("ACITROÈN world rally", "SKODA Auto"), names))
    assert set(found) == {"citroen", "skoda"}  # a letter glued on, an accent dropped: still the names
    assert names_in(_lines("CITRON press"), {"citroen": ("Citroën",)}) == [("citroen", _lines("CITRON press")[0])]
    assert names_in(_lines("KODAK film"), names) == []


def test_longest_name_first():
    found = names_in(_lines("MINI", "Ford Motor Company"), NAMES)
    assert [b for b, _ in found] == ["ford", "mini"]


def _photo_with_text(text: str, seed: int = 3, height: int = 44, grey: int = 15,
                     size: tuple[int, int] | None = None) -> np.ndarray:
    photo = listing(None, seed).copy() if size is None else cv2.resize(listing(None, seed), size)
    ink = render_text(text, height, (0, 0, 0))[..., 3].astype(np.float32) / 255.0
    h, w = ink.shape
    y0, x0 = 30, 30
    region = photo[y0:y0 + h, x0:x0 + w].astype(np.float32)
    photo[y0:y0 + h, x0:x0 + w] = (region * (1 - ink[..., None]) + grey * ink[..., None]).astype(np.uint8)
    return photo


@pytest.mark.skipif(font_path() is None, reason="needs the DejaVu font")
def test_read_lines_gives_each_line_its_box_in_photo_pixels():
    lines = read_lines(_photo_with_text("STARBUCKS"))
    line = next(line for line in lines if "STARBUCKS" in line.text.upper())
    x0, y0, x1, y1 = line.box
    assert 10 <= x0 <= 50 and 10 <= y0 <= 50 and x1 > x0 + 100 and y1 > y0 + 20


@pytest.mark.skipif(font_path() is None, reason="needs the DejaVu font")
def test_small_print_is_read_in_the_photo_enlarged_with_boxes_in_photo_pixels():
    """7 px grey print in a 400 x 300 photo: missed at its own size, read once enlarged to 736 px; a photo already
    that large, or one that would be enlarged less than `gain`, is read as it is."""
    small = _photo_with_text("STARBUCKS", height=7, grey=90, size=(400, 300))
    native = read_lines(small, 0.7)
    assert not any("STARBUCKS" in line.text.upper() for line in native)
    line = next(line for line in read_enlarged(small, 0.7, 736) if "STARBUCKS" in line.text.upper())
    x0, y0, x1, y1 = line.box
    assert 24 <= x0 <= 36 and 24 <= y0 <= 36 and 60 <= x1 <= 90 and 34 <= y1 <= 46, line.box
    assert read_enlarged(small, 0.7, 400) == native
    assert read_enlarged(small, 0.7, 736, gain=2.0) == native


@pytest.mark.skipif(font_path() is None, reason="needs the DejaVu font")
def test_a_photo_reading_a_registered_name_names_the_brand_unverified(gallery_copy):
    ctx = open_context(gallery_copy)
    photo = _photo_with_text("STARBUCKS")
    rec = check_image(ctx, photo)
    assert rec.verdict == "unverified" and rec.brand == "starbucks", rec.reasons
    assert "reads" in rec.reasons[0] and "STARBUCKS" in rec.reasons[0] and "not checked" in rec.reasons[0]
    assert rec.box is not None and 0 <= rec.risk < 0.5
    # other text names nothing, and the stage can be switched off
    assert check_image(ctx, _photo_with_text("BEST PRICE")).verdict == "no_match"
    ctx.config = replace(ctx.config, names=NamesConfig(enabled=False))
    assert check_image(ctx, photo).verdict == "no_match"
    assert CheckConfig().names.enabled


@pytest.mark.skipif(font_path() is None, reason="needs the DejaVu font")
def test_a_name_read_outranks_a_look_alike_of_another_brand(gallery_copy):
    """An `unverified` look-alike of one brand (not compared) yields to another brand whose name the photo reads;
    a reading of its own name leaves it as it was."""
    ctx = open_context(gallery_copy)
    looks = CheckRecord(path="p.jpg", verdict="unverified", brand="nike", brand_name="nike", risk=0.5,
                        similarity=0.88, reasons=["looks like nike (similarity 0.88) but ..."])
    rec = read_names(ctx, _photo_with_text("STARBUCKS"), [], {}, looks)
    assert rec.verdict == "unverified" and rec.brand == "starbucks" and rec.risk == 0.5
    assert any("looks like nike (similarity 0.88); the name read decides" in r for r in rec.reasons), rec.reasons
    assert read_names(ctx, _photo_with_text("NIKE"), [], {}, looks) is looks
    judged = replace(looks, verdict="suspect")  # a compared logo is not overruled by text
    assert read_names(ctx, _photo_with_text("STARBUCKS"), [], {}, judged) is judged
