"""Stage: compare the aligned listing logo with the reference, pixel by pixel, into a divergence map.

Both inks are blurred a little (so a pixel of misalignment is not a difference), their absolute difference is the
divergence map, and thin differences along edges are opened away so that what remains is a *region* that differs:
a missing, added or moved piece. Ink area ratio tells thicker or thinner strokes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Detail:
    diff_frac: float  # area that differs after opening / reference ink area
    blob_frac: float  # largest differing region / reference ink area
    ink_ratio: float  # listing ink area / reference ink area (1 = same stroke weight)
    heat: np.ndarray  # (h, w) float32 in [0, 1]: the divergence map in the reference frame


def stroke_px(ink: np.ndarray) -> float:
    """Typical stroke width in pixels (twice the median distance-transform ridge)."""
    m = (ink > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    ridge = dist[(dist > 0) & (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8)) - 1e-3)]
    return 2.0 * float(np.median(ridge)) if len(ridge) else 1.0


def divergence(ref_ink: np.ndarray, warped: np.ndarray, tolerance: float = 0.0) -> Detail:
    """ref_ink, warped: (h, w) float in [0, 1] in the reference frame -> Detail. `tolerance` (pixels) widens the
    blur, e.g. to the size of a photo pixel in the reference frame."""
    sw = stroke_px(ref_ink)
    sigma = max(1.0, 0.25 * sw, tolerance)
    a = cv2.GaussianBlur(ref_ink.astype(np.float32), (0, 0), sigma)
    b = cv2.GaussianBlur(warped.astype(np.float32), (0, 0), sigma)
    heat = np.abs(a - b)
    diff = (heat > 0.5).astype(np.uint8)
    k = max(3, int(round(0.6 * sw)) | 1)
    diff = cv2.morphologyEx(diff, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    area = max(1.0, float((ref_ink > 0.5).sum()))
    n, _, stats, _ = cv2.connectedComponentsWithStats(diff, connectivity=8)
    blob = float(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else 0.0
    return Detail(diff_frac=float(diff.sum()) / area, blob_frac=blob / area,
                  ink_ratio=float((warped > 0.5).sum()) / area, heat=heat)
