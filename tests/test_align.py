"""Alignment stage on generated photos with known logo placement."""

import cv2
import numpy as np
import pytest

from vision import synth
from vision.align import AlignConfig, _plausible, align_logo, align_without_a_piece, ink_from_rgba
from vision.train.forge import parts

CFG = AlignConfig()


def _case(slug, seed, printed=None, color=None, pad=0.0, **style):
    """(photo, box, reference ink, true reference -> photo homography) of `slug`'s logo (in `color`), or of
    `printed` (an altered copy of it) in the photo; the box is the logo's, grown by `pad` of its size per side."""
    logo = synth.render_logo(slug, 256, color=color)
    photo = synth.photograph(logo if printed is None else printed, np.random.default_rng(seed),
                             synth.PhotoStyle(**style))
    q = photo.quad
    lo, hi = q.min(0) - pad * np.ptp(q, 0), q.max(0) + pad * np.ptp(q, 0)
    box = (int(lo[0]), int(lo[1]), int(hi[0]) + 1, int(hi[1]) + 1)
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
    say how it is turned. The round starts try it turned every 30 degrees, each also pulled in at quarter
    resolution: 19 of these 20 turned and tilted prints align to within 5% of their size (15 with the two turns
    that the ink's distribution over angle suggested)."""
    errors = []
    for seed in range(20):
        image, box, ink, truth = _case("spotify", 200 + seed, logo_frac=(0.3, 0.4), rotation=180.0, tilt=0.15)
        a = align_logo(image, box, ink, CFG)
        errors.append(_corner_error(a.H, truth, ink.shape, box) if a.ok else np.inf)
    assert sum(e < 0.05 for e in errors) >= 18, errors


@pytest.mark.parametrize("seed", [106, 119, 132])
def test_ink_beside_the_logo_does_not_skew_the_shape_fit(seed):
    """Spotify prints beside a product's edge or corner, which binarises as ink too and skews the moments that every
    shape start comes from: each fitted 0.77-0.83 overlap, turned or shifted off by 60-90% of its box. A loose fit
    still says where the logo is, and started again from the ink near it alone it finds the true pose."""
    image, box, ink, truth = _case("spotify", seed, color=synth.print_color("spotify"), pad=0.25)
    a = align_logo(image, box, ink, CFG)
    assert a.ok and a.quality >= 0.9, a
    assert _corner_error(a.H, truth, ink.shape, box) < 0.05


def test_a_print_of_equal_luminance_aligns_in_its_colour_axis():
    """Yellow ink on a green product: both grey 190, so luminance sees no logo (Otsu splits noise). The region's
    main colour axis separates them; alignment and verification work in it (align.grey_tone)."""
    from vision.align import grey_tone
    from vision.verify import verify_brand

    logo = synth.render_logo("mcdonalds", 256)
    ink = ink_from_rgba(logo, CFG.work_side)
    lh, lw = logo.shape[:2]
    quad = np.float32([[250, 170], [390, 180], [385, 300], [255, 290]])
    H = cv2.getPerspectiveTransform(np.float32([[0, 0], [lw, 0], [lw, lh], [0, lh]]), quad)
    alpha = cv2.warpPerspective(logo[..., 3].astype(np.float32) / 255.0, H, (640, 480))[..., None]
    surface, yellow = np.float32([150, 230, 70]), np.float32([255, 200, 0])
    img = surface * (1 - alpha) + yellow * alpha
    img = cv2.GaussianBlur(img, (0, 0), 0.8) + np.random.default_rng(0).normal(0, 4, img.shape)
    image = np.clip(img, 0, 255).astype(np.uint8)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    inside = alpha[..., 0] > 0.9
    assert abs(grey[inside].mean() - grey[alpha[..., 0] == 0].mean()) < 8  # luminance alone cannot tell them apart
    box = (240, 160, 400, 310)
    assert grey_tone(image[box[1]:box[3], box[0]:box[2]]) is not None
    a = align_logo(image, box, ink, CFG)
    assert a.ok and a.quality > 0.9, (a.quality, a.note)
    s = lw / ink.shape[1]
    assert _corner_error(a.H, H @ np.diag([s, s, 1]), ink.shape, box) < 0.03
    ev = verify_brand(image, [box], "mcdonalds", "mcdonalds/logo.png", ink, CFG)
    assert ev.aligned and 0.9 < ev.detail.ink_ratio < 1.1 and ev.fidelity > 0.9, (ev.detail.ink_ratio, ev.fidelity)


def test_luminance_is_kept_where_it_separates_ink_from_surface():
    from vision.align import grey_tone

    region = np.full((60, 80, 3), (40, 90, 200), np.uint8)
    region[20:40, 20:60] = (250, 240, 230)  # a white print on blue: luminance already contrasts strongly
    assert grey_tone(region) is None


def test_a_fan_of_like_parts_is_not_fitted_one_part_round():
    """Huawei's eight petals: the moment-based starts leave ECC at a fit with every petal one place off (overlap
    0.79 on 9 of 40 seeds of this test). A loose fit is started again turned, which finds the true pose."""
    image, box, ink, truth = _case("huawei", 2, logo_frac=(0.25, 0.35))
    a = align_logo(image, box, ink, CFG)
    assert a.ok and a.quality >= 0.95, a
    assert _corner_error(a.H, truth, ink.shape, box) < 0.05


def test_a_logo_with_a_piece_missing_aligns_by_the_rest():
    """Dropbox without its upper left pair of diamonds (42% of its ink): the whole reference fits it only
    loosely, the rest fits it exactly and says what is missing. A complete print is not fitted that way (the piece
    it has would be left unexplained), nor is a one-piece logo."""
    logo = synth.render_logo("dropbox", 256)
    cut = logo.copy()
    cut[parts(logo[..., 3])[0]] = 0
    for seed in (1, 2):
        image, box, ink, truth = _case("dropbox", seed, cut, logo_frac=(0.3, 0.4))
        assert align_logo(image, box, ink, CFG).quality < CFG.good_quality
        a = align_without_a_piece(image, box, ink, CFG)
        assert a.ok and a.method == "rest" and abs(a.missing - 0.42) < 0.05, a
        assert _corner_error(a.H, truth, ink.shape, box) < 0.02
        image, box, ink, _ = _case("dropbox", seed, logo_frac=(0.3, 0.4))
        assert align_logo(image, box, ink, CFG).quality > 0.95 and not align_without_a_piece(image, box, ink, CFG).ok
    image, box, ink, _ = _case("nike", 3, logo_frac=(0.3, 0.4))
    assert not align_without_a_piece(image, box, ink, CFG).ok


def test_a_hopeless_shape_fit_is_not_retried_nor_refined(monkeypatch):
    """A fit that the caller needs at 0.85 (a rest fit) and whose starts stay far under it is returned as it is: on
    clutter (20 random lines) the needy search runs fewer ECC refinements than the full one, and returns its best
    start, which the full search would not have lifted to what was needed either."""
    import vision.align as align

    calls = []
    real = align._ecc_refine
    monkeypatch.setattr(align, "_ecc_refine", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(0)
    clutter = np.zeros((240, 300), np.float32)
    for _ in range(20):
        cv2.line(clutter, tuple(map(int, rng.integers(0, 300, 2))), tuple(map(int, rng.integers(0, 240, 2))), 1.0, 2)
    ink = ink_from_rgba(synth.render_logo("nike", 256), CFG.work_side)
    full = align._shape_homography(ink, clutter, CFG)
    n_full = len(calls)
    calls.clear()
    needy = align._shape_homography(ink, clutter, CFG, need=CFG.rest_quality)
    assert len(calls) < n_full
    target = align._main_ink(clutter)
    assert align._overlap(ink, target, needy) < CFG.rest_quality - align.HOPELESS
    assert align._overlap(ink, target, needy) < align._overlap(ink, target, full) < CFG.rest_quality
