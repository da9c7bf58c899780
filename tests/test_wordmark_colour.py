"""Wordmark OCR (real rapidocr models) and colour comparison, each on generated images."""

import cv2
import numpy as np
import pytest

from vision.colour import compare_colours
from vision.train.forge import font_path, render_text
from vision.wordmark import edit_distance, normalise, other_text, read_text, read_wordmark, reference_lines


def text_ink(text: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    rgba = render_text(text, 60, (0, 0, 0))
    ink = np.pad(rgba[..., 3].astype(np.float32) / 255.0, 12)
    return cv2.resize(ink, shape[::-1]) if shape else ink


def grey(ink: np.ndarray) -> np.ndarray:
    return (255 - 235 * ink).astype(np.uint8)


def test_edit_distance_and_normalise():
    assert edit_distance("SAMSUNG", "SAMSUNC") == 1 and edit_distance("SAMSUNG", "SMASUNG") == 2
    assert edit_distance("", "ABC") == 3 and edit_distance("ABC", "ABC") == 0
    assert normalise("intel.") == "INTEL" and normalise("The North-Face") == "THENORTHFACE"


@pytest.mark.skipif(font_path() is None, reason="needs the DejaVu font")
def test_reads_the_wordmark_and_spots_a_changed_letter():
    ref = text_ink("SAMSUNG")
    lines = reference_lines(ref, "SAMSUNG")
    assert [normalise(line.text) for line in lines] == ["SAMSUNG"]
    same = read_wordmark(grey(ref), lines)
    assert same.read == "SAMSUNG" and same.edits == 0 and same.score > 0.8
    fake = read_wordmark(grey(text_ink("SAMSUNC", ref.shape)), lines)
    assert fake.read == "SAMSUNC" and fake.edits == 1


@pytest.mark.skipif(font_path() is None, reason="needs the DejaVu font")
def test_other_text_is_told_from_the_wordmark_and_its_lookalikes():
    lines = reference_lines(text_ink("SAMSUNG"), "SAMSUNG")
    page = lambda t: np.repeat(grey(text_ink(t))[..., None], 3, axis=2)
    caption = read_text(page("BEST PRICE 24/7"))
    assert caption == "BESTPRICE247" and other_text(caption, lines)
    for lookalike in ("SAMSUNC", "SAMSONG", "SAMSUNG"):  # a lookalike is the verdict's business, not other text
        assert not other_text(read_text(page(lookalike)), lines), lookalike
    assert not other_text("", lines) and not other_text("AB", lines) and not other_text("BESTPRICE", [])


@pytest.mark.skipif(font_path() is None, reason="needs the DejaVu font")
def test_photo_text_reads_small_without_upscaling():
    """read_text's detector does not upscale a region (a thin strip upscaled to a 736 px short side cost 0.9 s):
    a caption 20 px high in a 20 x 150 region still reads."""
    ink = text_ink("BEST PRICE 24/7")
    ink = cv2.resize(ink, None, fx=20 / ink.shape[0], fy=20 / ink.shape[0], interpolation=cv2.INTER_AREA)
    assert ink.shape == (20, 150)
    assert read_text(np.repeat(grey(ink)[..., None], 3, axis=2)) == "BESTPRICE247"


def test_no_wordmark_no_lines():
    ink = np.zeros((100, 100), np.float32)
    cv2.circle(ink, (50, 50), 30, 1.0, -1)
    assert reference_lines(ink, "NIKE") == [] and reference_lines(text_ink("ABC"), None) == []
    assert read_wordmark(grey(ink), []) is None


def two_discs() -> np.ndarray:
    ink = np.zeros((120, 240), np.float32)
    cv2.circle(ink, (60, 60), 40, 1.0, -1)
    cv2.circle(ink, (180, 60), 40, 1.0, -1)
    return ink


def paint(ink: np.ndarray, left, right, surface=(235, 235, 225)) -> np.ndarray:
    img = np.empty(ink.shape + (3,), np.uint8)
    img[:] = surface
    img[(ink > 0.5) & (np.arange(ink.shape[1]) < 120)[None, :]] = left
    img[(ink > 0.5) & (np.arange(ink.shape[1]) >= 120)[None, :]] = right
    return img


def test_colour_part_spread_and_palette():
    ink, eye = two_discs(), np.eye(3)
    same = compare_colours(paint(ink, (200, 20, 30), (200, 20, 30)), eye, ink, ink, ("#c8141e",))
    assert same.part_spread < 3 and same.off_palette < 3 and same.nearest == "#c8141e"
    recoloured = compare_colours(paint(ink, (200, 20, 30), (20, 60, 200)), eye, ink, ink, ("#c8141e",))
    assert recoloured.part_spread > 40
    green = compare_colours(paint(ink, (20, 160, 40), (20, 160, 40)), eye, ink, ink, ("#c8141e",))
    assert green.off_palette > 40
    black = compare_colours(paint(ink, (15, 15, 15), (15, 15, 15)), eye, ink, ink, ("#c8141e",))
    assert black.off_palette == 0.0  # black or white print is always allowed
    assert compare_colours(paint(ink, 0, 0), eye, np.zeros_like(ink), ink) is None  # nothing to judge


def test_a_print_blended_with_its_surface_is_on_palette_and_a_recoloured_one_is_not():
    # blur and print opacity mix a stroke's core with the product's colour: navy on olive reads grey-green, white on
    # purple reads lilac; neither is another ink, while green printed for navy or orange still is
    ink = np.zeros((120, 240), np.float32)
    for x in range(20, 220, 24):
        cv2.rectangle(ink, (x, 20), (x + 9, 100), 1.0, -1)

    def print_on(colour, surface, opacity):
        img = np.empty(ink.shape + (3,), np.float32)
        img[:] = surface
        img[ink > 0.5] = opacity * np.float32(colour) + (1 - opacity) * np.float32(surface)
        return img.astype(np.uint8)

    eye = np.eye(3)
    for registered, genuine, surface in (("#003057", (0, 48, 87), (210, 200, 60)),
                                         ("#fc6d26", (252, 109, 38), (110, 30, 140)),
                                         ("#fc6d26", (240, 240, 240), (110, 30, 140))):
        for opacity in (1.0, 0.7):
            blended = compare_colours(print_on(genuine, surface, opacity), eye, ink, ink, (registered,))
            assert blended.off_palette < 5, (registered, genuine, opacity, blended)
            green = compare_colours(print_on((20, 160, 40), surface, opacity), eye, ink, ink, (registered,))
            assert green.off_palette > 32 and green.nearest == registered  # past verdict's colour_palette channel
