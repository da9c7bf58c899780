"""Logo extraction from brand files (vision.extract): the mark found on flat, gradient, photo and transparent
backgrounds, cropped with a margin, brought to the working size; lock-ups kept whole, sheets of logos said."""

import numpy as np
import pytest

from vision import synth
from vision.errors import ImageError
from vision.extract import ExtractConfig, extract_logo, extraction_picture


def _logo(slug: str = "puma", side: int = 300) -> np.ndarray:
    return synth.render_logo(slug, side)


def _place(bg: np.ndarray, rgba: np.ndarray, x: int, y: int) -> np.ndarray:
    out = bg.astype(np.float32).copy()
    h, w = rgba.shape[:2]
    a = rgba[..., 3:4] / 255.0
    out[y:y + h, x:x + w] = a * rgba[..., :3] + (1 - a) * out[y:y + h, x:x + w]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _mask_iou(ex, logo: np.ndarray, at: tuple[int, int], file_shape: tuple[int, int]) -> float:
    import cv2

    truth = np.zeros(file_shape, np.uint8)
    h, w = logo.shape[:2]
    truth[at[1]:at[1] + h, at[0]:at[0] + w] = logo[..., 3] > 127
    x0, y0, x1, y1 = ex.box
    truth = cv2.resize(truth[y0:y1, x0:x1], ex.rgba.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0
    got = ex.rgba[..., 3] > 127
    return float((truth & got).sum() / max(1, (truth | got).sum()))


@pytest.mark.parametrize("background", ["flat", "gradient", "photo"])
def test_the_mark_is_found_on_its_background(background):
    rng = np.random.default_rng(3)
    logo = _logo()
    h, w = 700, 1000
    if background == "flat":
        bg = np.full((h, w, 3), (200, 30, 40), np.uint8)
    elif background == "gradient":
        t = np.linspace(0, 1, h)[:, None, None]
        bg = np.broadcast_to(np.array([30, 60, 200]) * (1 - t) + np.array([240, 240, 255]) * t,
                             (h, w, 3)).astype(np.uint8)
    else:  # a logo over a photo (a banner): the generator's cluttered scene, blurred and noisy like a camera's
        import cv2

        scene = cv2.GaussianBlur(synth._background(rng, w, h, 6), (0, 0), 6)  # out of focus
        bg = np.clip(scene + rng.normal(0, 4, scene.shape), 0, 255).astype(np.uint8)
    img = _place(bg, logo, 420, 260)
    ex = extract_logo(img)
    assert ex.background == background, ex.notes
    ys, xs = np.nonzero(logo[..., 3] > 127)  # the mark's ink in the file
    ink = (420 + xs.min(), 260 + ys.min(), 421 + xs.max(), 261 + ys.max())
    x0, y0, x1, y1 = ex.box  # the mark with its margin, nothing of the rest
    assert ink[0] - 30 <= x0 <= ink[0] and ink[1] - 30 <= y0 <= ink[1], (ex.box, ink)
    assert ink[2] <= x1 <= ink[2] + 30 and ink[3] <= y1 <= ink[3] + 30, (ex.box, ink)
    assert _mask_iou(ex, logo, (420, 260), (h, w)) >= (0.85 if background == "photo" else 0.93)
    assert ex.rgba[0, 0, 3] == 0 and ex.rgba.shape[2] == 4  # the margin is transparent


@pytest.mark.parametrize("shape", ["bar", "disc"])
def test_a_blurred_backdrop_shape_the_mark_overlaps_is_not_kept(shape):
    """A soft backdrop's shape that the mark overlaps is one component with it; split by colour, it is judged by its
    own blurred edge and left out."""
    import cv2

    logo = _logo("lg", 300)
    h, w = 600, 900
    yy = np.linspace(0, 1, h)[:, None, None]
    bg = (np.array([90, 200, 120]) * (1 - yy) + np.array([140, 110, 220]) * yy) * np.ones((1, w, 1))
    m = np.zeros((h, w), np.float32)
    if shape == "bar":
        m[235:285, 200:750] = 1  # across the mark's lower half and out beyond it
    else:
        cv2.circle(m, (480, 140), 70, 1.0, -1)  # over the mark's top edge
    m = cv2.GaussianBlur(m, (0, 0), 6)[..., None]  # out of focus, like the rest of the backdrop
    bg = bg * (1 - m) + np.array([120, 140, 20]) * m
    img = _place(np.clip(bg + np.random.default_rng(1).normal(0, 3, bg.shape), 0, 255), logo, 300, 150)
    ex = extract_logo(img)
    assert _mask_iou(ex, logo, (300, 150), (h, w)) >= 0.8, ex.notes  # judged as one component: 0.34, 0.44


def test_a_transparent_file_keeps_its_alpha_and_a_large_one_is_brought_to_the_working_size():
    logo = _logo(side=1600)
    canvas = np.zeros((2400, 3000, 4), np.uint8)
    canvas[300:300 + logo.shape[0], 500:500 + logo.shape[1]] = logo
    ex = extract_logo(canvas)
    assert ex.background == "transparent" and max(ex.rgba.shape[:2]) == ExtractConfig().max_side
    assert any("scaled to" in n for n in ex.notes)
    small = extract_logo(np.dstack([_place(np.full((300, 400, 3), 255, np.uint8), _logo(side=60), 150, 100),
                                    np.full((300, 400), 255, np.uint8)]))  # opaque RGBA: a JPEG's pixels
    assert small.background == "flat" and any("a larger file" in n for n in small.notes)


def test_a_lockup_is_kept_whole_and_as_its_parts_and_a_sheet_of_logos_is_said():
    logo = _logo(side=200)
    bg = np.full((500, 1400, 3), 255, np.uint8)
    lockup = _place(bg, logo, 100, 150)
    bar = np.zeros((80, 500, 4), np.uint8)
    bar[..., 3] = 255  # a wordmark-like block beside the emblem
    lockup = _place(lockup, bar, 500, 210)
    ex = extract_logo(lockup)
    assert ex.groups == 2 and any("kept as one reference, and each part as its own (2)" in n for n in ex.notes)
    assert len(ex.parts) == 2 and all(p.shape[2] == 4 and (p[..., 3] > 127).any() for p in ex.parts)
    assert ex.parts[0].shape[1] < ex.rgba.shape[1] * 0.6  # the emblem alone, without the wordmark
    assert ex.box[0] <= 100 and ex.box[2] >= 1000  # emblem and wordmark both kept
    name = np.zeros((6, 100, 4), np.uint8)
    name[..., 3] = 255  # a name set small beside the emblem: under a tenth of the ink, no reference of its own
    small = extract_logo(_place(_place(bg, logo, 100, 150), name, 500, 235))
    assert small.groups == 2 and len(small.parts) == 1 and any("its larger part as its own" in n for n in small.notes)
    assert small.parts[0].shape[1] < small.rgba.shape[1] * 0.6  # the emblem, without the name
    sheet = bg
    for x in (60, 520, 980):
        sheet = _place(sheet, logo, x, 150)
    ex = extract_logo(sheet)
    assert ex.groups == 3 and any("sheet of 3 logos" in n for n in ex.notes) and ex.parts == ()


def test_a_blank_file_is_refused_and_extraction_is_deterministic():
    with pytest.raises(ImageError, match="no logo found"):
        extract_logo(np.full((300, 300, 3), 240, np.uint8))
    rng = np.random.default_rng(5)
    img = _place(synth._background(rng, 800, 600, 6).astype(np.uint8), _logo(), 250, 150)
    a, b = extract_logo(img), extract_logo(img)
    assert np.array_equal(a.rgba, b.rgba) and a.box == b.box


def test_the_extraction_picture_shows_the_file_and_what_was_kept():
    img = _place(np.full((600, 900, 3), 255, np.uint8), _logo(), 300, 150)
    ex = extract_logo(img)
    pic = extraction_picture(img, ex, height=200)
    assert pic.shape[0] == 200 and pic.shape[2] == 3 and pic.dtype == np.uint8
    assert pic.shape[1] > 300  # file and kept logo side by side


def _striped_emblem(side: int = 240) -> np.ndarray:
    """A disc cut across by two bands, as an emblem with stripes (its bands are empty rows too)."""
    import cv2

    ink = np.zeros((side, side), np.uint8)
    cv2.circle(ink, (side // 2, side // 2), side // 2 - 2, 255, -1)
    for y in (side // 3, 2 * side // 3):
        ink[y - 6:y + 6] = 0
    return ink


def _text_ink(text: str, width: int) -> np.ndarray:
    import cv2

    ink = np.zeros((90, width), np.uint8)
    cv2.putText(ink, text, (10, 70), cv2.FONT_HERSHEY_DUPLEX, 2.4, 255, 6, cv2.LINE_AA)
    rows = np.nonzero(ink.any(1))[0]
    return ink[rows[0]:rows[-1] + 1]


def _stack(*inks: np.ndarray, gap: int = 8) -> np.ndarray:
    """Inks centred one under another, `gap` rows apart, dark on a white file."""
    w = max(i.shape[1] for i in inks)
    rows = []
    for i in inks:
        pad = (w - i.shape[1]) // 2
        rows += [np.pad(i, ((0, 0), (pad, w - i.shape[1] - pad))), np.zeros((gap, w), np.uint8)]
    ink = np.pad(np.vstack(rows[:-1]), 60)
    return np.repeat((255 - ink)[..., None], 3, axis=2)


def test_an_emblem_stacked_with_its_name_is_kept_whole_and_its_emblem_as_a_part():
    emblem, name = _striped_emblem(), _text_ink("ACME", 330)
    ex = extract_logo(_stack(emblem, name))
    assert ex.groups == 1 and any("stacked with its name" in n for n in ex.notes)
    assert len(ex.parts) == 1  # the emblem; the name is found by reading it
    top = ex.parts[0][..., 3] > 127
    rows = np.nonzero(top.any(1))[0]
    disc = np.nonzero(emblem.any(1))[0]
    assert abs((rows[-1] - rows[0]) - (disc[-1] - disc[0])) <= 4  # the whole disc (the file is kept at its size),
    # cut under it and not at one of its own bands
    # the disc alone (its bands are empty rows, no name), a name of two lines, and a name over a bar (a flourish
    # smaller than the name), stay one reference
    assert extract_logo(_stack(emblem)).parts == ()
    assert extract_logo(_stack(_text_ink("ACME", 330), _text_ink("SHOP", 330))).parts == ()
    assert extract_logo(_stack(_text_ink("ACME", 330), np.full((14, 300), 255, np.uint8))).parts == ()
