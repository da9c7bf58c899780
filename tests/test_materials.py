"""vision.materials: every finish of a real mark keeps the logo's shape where the logo is, and is seeded."""

import cv2
import numpy as np
import pytest

from vision import materials, synth
from vision.materials import KINDS, FinishConfig, finish


def _logo() -> np.ndarray:
    rgba = np.zeros((96, 128, 4), np.uint8)
    rgba[..., :3] = (200, 30, 30)
    rgba[20:76, 20:60, 3] = 255  # a bar and a ring: shapes with edges to shade
    yy, xx = np.mgrid[0:96, 0:128]
    ring = (np.hypot(xx - 92, yy - 48) < 26) & (np.hypot(xx - 92, yy - 48) > 14)
    rgba[ring, 3] = 255
    return rgba


def _only(kind: str, curved: float = 0.0) -> FinishConfig:
    return FinishConfig(weights=tuple(float(k == kind) for k in KINDS), curved=curved)


@pytest.mark.parametrize("kind", KINDS)
def test_each_finish_is_a_layer_over_the_logo(kind):
    logo = _logo()
    rgb, cover = finish(logo, np.array([90, 120, 160], np.float32), np.random.default_rng(0), _only(kind))
    assert rgb.shape == logo.shape[:2] + (3,) and cover.shape == logo.shape[:2]
    assert np.isfinite(rgb).all() and rgb.min() >= 0 and cover.min() >= 0 and cover.max() <= 1
    ink = logo[..., 3] > 127
    # the layer lies on the logo: most of its coverage is on the ink, and far from the ink there is none
    assert cover[ink].mean() > 0.3
    far = cv2.distanceTransform((~ink).astype(np.uint8), cv2.DIST_L2, 5) > 0.15 * max(ink.shape)
    assert cover[far].max() < 0.05


def test_emboss_shows_the_shape_only_as_shading_of_the_surface():
    surface = np.array([90, 120, 160], np.float32)
    rgb, cover = finish(_logo(), surface, np.random.default_rng(1), _only("emboss"))
    # no ink colour of its own: the mean colour under the logo stays the surface's hue ...
    chroma = rgb[cover > 0.5].mean(axis=0) / surface
    assert np.ptp(chroma) < 0.15
    # ... and the edges are lit and shadowed
    assert rgb[cover > 0.5].std() > 5


def test_curved_print_is_squeezed_to_its_sides_and_stays_registered():
    logo = _logo()
    rgb, cover = finish(logo, np.zeros(3, np.float32), np.random.default_rng(2), _only("flat", curved=1.0))
    cols, flat = np.flatnonzero(cover.max(axis=0) > 0.5), np.flatnonzero(logo[..., 3].max(axis=0) > 127)
    # seen face-on, a print round a cylinder is stretched at its middle, so its off-centre edges move outwards
    assert cols.min() < flat.min() and cols.max() > flat.max()
    # colour and coverage bent alike: the red ink sits where the coverage is
    assert rgb[cover > 0.9][:, 0].mean() > 150


def test_finishes_are_seeded():
    a = finish(_logo(), np.ones(3, np.float32) * 128, np.random.default_rng(5))
    b = finish(_logo(), np.ones(3, np.float32) * 128, np.random.default_rng(5))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_a_plain_photo_style_draws_no_finish():
    """The accuracy benchmark's photos stay as they were: finishes are off by default and draw no random numbers."""
    logo = _logo()
    p1 = synth.photograph(logo, np.random.default_rng(9), synth.PhotoStyle())
    p2 = synth.photograph(logo, np.random.default_rng(9), synth.PhotoStyle(finishes=0.0, occlusion=0.0))
    p3 = synth.photograph(logo, np.random.default_rng(9), synth.PhotoStyle(finishes=1.0, occlusion=1.0))
    assert np.array_equal(p1.image, p2.image) and not np.array_equal(p1.image, p3.image)
    assert materials.KINDS[0] == "flat"
