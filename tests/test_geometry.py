"""Geometry stage: part residuals on synthetic reference/listing masks in the reference frame."""

import cv2
import numpy as np

from vision.geometry import part_residuals


def _emblem(ring_radius: int = 100, inner_shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A thin ring around a solid inner mark (Skoda, Honda, Opel are built this way), 256 x 256 float."""
    m = np.zeros((256, 256), np.uint8)
    cv2.circle(m, (128, 128), ring_radius, 1, 6)
    dx, dy = inner_shift
    cv2.rectangle(m, (98 + dx, 78 + dy), (158 + dx, 178 + dy), 1, -1)
    return m.astype(np.float32)


def test_a_ring_is_not_judged_by_the_emblem_inside_it():
    """The ring's bounding box holds the inner mark: its ink is the inner part's, not a flaw of the ring. Counted
    against the ring, genuine rings fitted ~0.5 and set their brands' genuine tail."""
    ref = _emblem()
    listing = (cv2.GaussianBlur(ref, (0, 0), 0.8) > 0.5).astype(np.float32)
    g = part_residuals(ref, listing, tol=1.0)
    assert len(g.parts) == 2
    assert g.worst_fit > 0.95 and g.max_shift < 0.01, g


def test_a_moved_inner_part_and_a_resized_ring_are_found():
    ref = _emblem()
    moved = part_residuals(ref, _emblem(inner_shift=(22, 0)), tol=1.0)
    assert moved.max_shift > 0.08  # 22 px of a 206 px logo
    resized = part_residuals(ref, _emblem(ring_radius=85), tol=1.0)
    assert resized.worst_fit < 0.6


def test_a_part_too_small_to_resolve_is_not_judged_on_its_own():
    """A piece of a few photo pixels can vanish from a genuine print in blur and JPEG; missing, it would read as a
    part that fits nowhere. Below `min_area` pixels it is left to the detail map."""
    ref = _emblem()
    cv2.rectangle(ref, (118, 2), (139, 23), 1.0, -1)  # a 22 x 22 piece above the ring: 4.5% of the ink
    listing = _emblem()  # without it
    assert part_residuals(ref, listing, tol=1.0).worst_fit < 0.5
    kept = part_residuals(ref, listing, tol=1.0, min_area=600)
    assert len(kept.parts) == 2 and kept.worst_fit > 0.95 and kept.max_shift < 0.01
