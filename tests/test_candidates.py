import numpy as np
import pytest

from tests.conftest import listing
from vision import synth
from vision.candidates import CandidateConfig, find_candidates


def _cover(box, quad):
    """Fraction of the logo's bounding box inside `box`."""
    x0, y0 = quad.min(0)
    x1, y1 = quad.max(0)
    ix = max(0.0, min(box[2], x1) - max(box[0], x0))
    iy = max(0.0, min(box[3], y1) - max(box[1], y0))
    return ix * iy / ((x1 - x0) * (y1 - y0))


@pytest.mark.parametrize("slug,seed", [("nike", 0), ("adidas", 1), ("samsung", 2), ("puma", 3), ("apple", 4)])
def test_some_candidate_frames_the_logo(slug, seed):
    rng = np.random.default_rng(seed)
    photo = synth.photograph(synth.render_logo(slug), rng)
    boxes = find_candidates(photo.image)
    h, w = photo.image.shape[:2]
    assert boxes[0] == (0, 0, w, h)
    assert all(0 <= b[0] < b[2] <= w and 0 <= b[1] < b[3] <= h for b in boxes)
    logo_area = np.prod(photo.quad.max(0) - photo.quad.min(0))
    # a region that holds most of the logo without being mostly background
    tight = [b for b in boxes[1:] if _cover(b, photo.quad) > 0.8 and (b[2] - b[0]) * (b[3] - b[1]) < 12 * logo_area]
    assert tight, f"no candidate frames the {slug} logo"


def test_limits_and_large_photos():
    img = listing("nike", 5, size=(1600, 1200))
    boxes = find_candidates(img, CandidateConfig(max_candidates=10))
    assert len(boxes) <= 10 and boxes[0] == (0, 0, 1600, 1200)
    assert max(b[2] for b in boxes) <= 1600 and max(b[3] for b in boxes) <= 1200


def test_flat_image_still_has_the_whole_photo():
    boxes = find_candidates(np.full((100, 80, 3), 200, np.uint8))
    assert boxes[0] == (0, 0, 80, 100) and len(boxes) >= 1


def test_without_windows_only_the_photo_and_its_edge_clusters_are_proposed():
    img = listing("nike", 6)
    short = min(img.shape[:2])
    with_grid, without = find_candidates(img), find_candidates(img, windows=False)
    assert without == with_grid[:len(without)] and len(without) < len(with_grid)
    grid_sides = {int(short * f) for f in CandidateConfig().window_fracs}
    assert not any(b[2] - b[0] == b[3] - b[1] in grid_sides for b in without[1:]) or len(without) < 10
    assert find_candidates(np.full((100, 80, 3), 200, np.uint8), windows=False) == [(0, 0, 80, 100)]
