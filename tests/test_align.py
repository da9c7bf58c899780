"""Alignment stage on generated photos with known logo placement."""

import cv2
import numpy as np
import pytest

from vision import synth
from vision.align import AlignConfig, _plausible, align_logo, ink_from_rgba

CFG = AlignConfig()


def _case(slug, seed, **style):
    logo = synth.render_logo(slug, 256)
    photo = synth.photograph(logo, np.random.default_rng(seed), synth.PhotoStyle(**style))
    q = photo.quad
    box = (int(q[:, 0].min()), int(q[:, 1].min()), int(q[:, 0].max()) + 1, int(q[:, 1].max()) + 1)
    ink = ink_from_rgba(logo, CFG.work_side)
    lh, lw = logo.shape[:2]
    s = lw / ink.shape[1]
    truth = cv2.getPerspectiveTransform(np.float32([[0, 0], [lw, 0], [lw, lh], [0, lh]]), q) @ np.diag([s, s, 1])
    return photo.image, box, ink, truth


def _corner_error(H, truth, shape, box):
    h, w = shape
    c = np.float32([[[0, 0], [w, 0], [w, h], [0, h]]])
    err = np.abs(cv2.perspectiveTransform(c, H) - cv2.perspectiveTransform(c, truth)).max()
    return err / max(box[2] - box[0], box[3] - box[1])


@pytest.mark.parametrize("slug,seed,method", [("starbucks", 1, "sift"), ("nike", 3, "shape"),
                                              ("newbalance", 2, None), ("adidas", 4, None)])
def test_aligns_textured_and_plain_logos(slug, seed, method):
    image, box, ink, truth = _case(slug, seed, logo_frac=(0.3, 0.4))
    a = align_logo(image, box, ink, CFG)
    assert a.ok, a.note
    assert a.quality >= 0.7
    assert _corner_error(a.H, truth, ink.shape, box) < 0.05
    if method:
        assert a.method == method


def test_alignment_rate_floor():
    """A regression floor on a fixed mixed set (the benchmark measures the real rate)."""
    brands = ["nike", "adidas", "puma", "samsung", "apple", "starbucks", "newbalance", "dell", "intel", "reebok"]
    ok = 0
    for i, slug in enumerate(brands * 2):
        image, box, ink, _ = _case(slug, 100 + i)
        ok += align_logo(image, box, ink, CFG).ok
    assert ok / 20 >= 0.7


def test_no_logo_is_reported_not_aligned():
    image = synth.photograph(None, np.random.default_rng(0)).image
    ink = ink_from_rgba(synth.render_logo("samsung", 256), CFG.work_side)
    a = align_logo(image, (200, 150, 320, 230), ink, CFG)
    assert not a.ok and a.note and a.H is None


def test_mirror_and_collapse_are_implausible():
    assert _plausible(np.eye(3), (100, 100))
    assert not _plausible(np.diag([-1.0, 1.0, 1.0]) @ np.array([[1, 0, -100], [0, 1, 0], [0, 0, 1.0]]), (100, 100))
    assert not _plausible(np.diag([0.01, 0.01, 1.0]), (100, 100))


def test_round_marks_are_aligned_however_turned():
    """A disc with arcs (Spotify) has no principal axis, and tilted it has the axes of the tilt: the moments cannot
    say how it is turned. The round starts find the turn from the ink's distribution over angle (4 of these 6 turned
    and tilted prints aligned to within 5% of their size; 1 of 6 without them)."""
    errors = []
    for seed in range(6):
        image, box, ink, truth = _case("spotify", 200 + seed, logo_frac=(0.3, 0.4), rotation=180.0, tilt=0.15)
        a = align_logo(image, box, ink, CFG)
        errors.append(_corner_error(a.H, truth, ink.shape, box) if a.ok else np.inf)
    assert sum(e < 0.05 for e in errors) >= 4, errors


def test_a_last_pass_on_sharper_masks_tightens_the_fit():
    """ECC converges on blurred masks, which also blunts it near the optimum; the last pass on sharper masks
    (AlignConfig.polish_sigma) never loosens a fit and tightens small tilted wordmark prints."""
    from dataclasses import replace

    for slug, seed, gain in (("samsung", 50, 0.005), ("panasonic", 50, 0.005), ("nike", 51, 0.0)):
        image, box, ink, _ = _case(slug, seed, logo_frac=(0.12, 0.16))
        blunt = align_logo(image, box, ink, replace(CFG, polish_sigma=0.0))
        sharp = align_logo(image, box, ink, CFG)
        assert sharp.ok and sharp.quality >= blunt.quality + gain, (slug, blunt.quality, sharp.quality)


def test_polishing_later_is_polishing_at_once():
    """verify compares unpolished fits across boxes and polishes only the one it keeps: the same fit."""
    from vision.align import polish_alignment

    image, box, ink, _ = _case("samsung", 50, logo_frac=(0.12, 0.16))
    later = polish_alignment(image, box, ink, align_logo(image, box, ink, CFG, polish=False), CFG)
    at_once = align_logo(image, box, ink, CFG)
    assert later.quality == pytest.approx(at_once.quality, abs=1e-6) and np.allclose(later.H, at_once.H, atol=1e-6)
