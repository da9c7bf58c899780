"""Stage: compare the aligned listing logo with the reference, pixel by pixel, into a divergence map.

Both inks are blurred a little (so a pixel of misalignment is not a difference), their absolute difference is the
divergence map, and thin differences along edges are opened away so that what remains is a *region* that differs:
a missing, added or moved piece. A region that a small local shift of the listing's ink makes vanish is left out:
that is misregistration (a homography's error grows toward one end of a tilted print), not a piece that differs.
Ink area ratio tells thicker or thinner strokes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Detail", "stroke_px", "ink_pieces", "ink_extent", "divergence"]


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


def ink_pieces(ink: np.ndarray, min_frac: float = 0.0) -> list[np.ndarray]:
    """Boolean masks of a boolean ink mask's pieces (8-connected), largest first, each at least `min_frac` of the
    ink, grown by a pixel to take their anti-aliased fringe."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    total = max(1, ink.sum())
    order = sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    grow = np.ones((3, 3), np.uint8)
    return [cv2.dilate((labels == i).astype(np.uint8), grow).astype(bool)
            for i in order if stats[i, cv2.CC_STAT_AREA] >= min_frac * total]


def ink_extent(ink: np.ndarray) -> float:
    """The longest side of the ink's bounding box in pixels (ink > 0.5; 0 when there is none)."""
    ys, xs = np.nonzero(ink > 0.5)
    return float(max(np.ptp(xs), np.ptp(ys)) + 1) if len(xs) else 0.0


def divergence(ref_ink: np.ndarray, warped: np.ndarray, tolerance: float = 0.0, slack: float = 0.02,
               min_region: float = 0.012) -> Detail:
    """ref_ink, warped: (h, w) float in [0, 1] in the reference frame -> Detail. `tolerance` (pixels) widens the
    blur, e.g. to the size of a photo pixel in the reference frame. A region over `min_region` of the ink is
    measured again with the listing's ink shifted locally by up to `slack` of the logo's size, and keeps its
    smallest area. Raises ValueError for a negative or NaN `tolerance`."""
    if not tolerance >= 0:  # NaN too
        raise ValueError(f"tolerance must be a number of pixels >= 0, not {tolerance}")
    sw = stroke_px(ref_ink)
    # a blur wider than the frame changes nothing more, and its kernel's size follows sigma (a collapsed fit once
    # asked for an 8.6 GB kernel)
    sigma = min(max(1.0, 0.25 * sw, tolerance), float(max(ref_ink.shape)))
    a = cv2.GaussianBlur(ref_ink.astype(np.float32), (0, 0), sigma)
    b = cv2.GaussianBlur(warped.astype(np.float32), (0, 0), sigma)
    heat = np.abs(a - b)
    diff = (heat > 0.5).astype(np.uint8)
    k = max(3, int(round(0.6 * sw)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    diff = cv2.morphologyEx(diff, cv2.MORPH_OPEN, kernel)
    area = max(1.0, float((ref_ink > 0.5).sum()))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(diff, connectivity=8)
    blob = 0.0
    r = round(slack * ink_extent(ref_ink))  # pixels (0: no shift test)
    for i in sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA]):
        raw = float(stats[i, cv2.CC_STAT_AREA])
        if raw <= blob:
            break  # the rest are smaller than what is already found
        blob = raw if raw <= min_region * area or r == 0 else max(
            blob, _unexplained(a, b, labels == i, stats[i], r, kernel))
    return Detail(diff_frac=float(diff.sum()) / area, blob_frac=blob / area,
                  ink_ratio=float((warped > 0.5).sum()) / area, heat=heat)


def _unexplained(a: np.ndarray, b: np.ndarray, region: np.ndarray, stat: np.ndarray, r: int,
                 kernel: np.ndarray) -> float:
    """Area of `region` (a differing region of blurred inks a, b, opened with `kernel`) that is left when the
    listing's ink `b` is shifted by the best (dx, dy) within +-r pixels around it (0 when a shift explains it all)."""
    x, y, w, h = (int(v) for v in stat[:4])
    k = kernel.shape[0]
    H, W = a.shape
    x0, y0, x1, y1 = max(0, x - r - k), max(0, y - r - k), min(W, x + w + r + k), min(H, y + h + r + k)
    pad = cv2.copyMakeBorder(b, r, r, r, r, cv2.BORDER_CONSTANT, value=0)
    aw, mask = a[y0:y1, x0:x1], region[y0:y1, x0:x1]
    best = float(mask.sum())
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            bw = pad[y0 + r + dy:y1 + r + dy, x0 + r + dx:x1 + r + dx]
            d = cv2.morphologyEx((np.abs(aw - bw) > 0.5).astype(np.uint8), cv2.MORPH_OPEN, kernel)
            best = min(best, float((d.astype(bool) & mask).sum()))
            if best == 0:
                return 0.0
    return best
