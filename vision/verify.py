"""Verification: for a brand hypothesis, align its reference logo onto the listing and measure divergence.

Plain calls of the stages: align -> (warp the listing's ink into the reference frame) -> geometry -> detail.
Reads and compares, writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .align import AlignConfig, Alignment, align_logo, mask_iou
from .candidates import Box
from .detail import Detail, divergence
from .geometry import Geometry, part_residuals


@dataclass(frozen=True)
class Evidence:
    brand: str
    reference: str  # "<brand>/logos/<file>"
    box: Box
    alignment: Alignment
    geometry: Geometry | None = None  # None when not aligned
    detail: Detail | None = None
    mirrored_quality: float = 0.0  # ink overlap when the mirrored reference is aligned instead
    trivial_quality: float = 0.0  # overlap the reference's own convex hull would reach: what any blob can score
    fidelity: float = 0.0  # ink overlap of reference and listing ink in the reference frame (1 = identical)
    footprint: float = 1.0  # reference pixels covered by one photo pixel

    @property
    def specificity(self) -> float:
        """How much of the overlap a plain blob could not have produced: 0 = no better than a blob, 1 = perfect."""
        t = min(self.trivial_quality, 0.95)
        return max(0.0, (self.alignment.quality - t) / (1.0 - t))

    @property
    def aligned(self) -> bool:
        return self.alignment.ok


def warp_to_reference(photo: np.ndarray, H: np.ndarray, shape: tuple[int, int], polarity: int) -> np.ndarray:
    """The listing's ink in the reference frame: warp the grey photo with H^-1, then Otsu with the known polarity."""
    h, w = shape
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    warped = cv2.warpPerspective(grey, H, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REPLICATE)
    warped = cv2.GaussianBlur(warped, (3, 3), 0)
    _, m = cv2.threshold(warped, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return (1 - m if polarity > 0 else m).astype(np.float32)


def verify_brand(photo: np.ndarray, boxes: list[Box], brand: str, reference: str, ref_ink: np.ndarray,
                 cfg: AlignConfig = AlignConfig()) -> Evidence:
    """Try `boxes` (best first) until the reference aligns; then measure geometry and detail divergence."""
    trivial = hull_overlap(ref_ink)
    first = None
    for box in boxes:
        a = align_logo(photo, box, ref_ink, cfg)
        first = first or Evidence(brand, reference, box, a, trivial_quality=trivial)
        if a.ok:
            break
    else:
        return first
    warped = warp_to_reference(photo, a.H, ref_ink.shape, a.polarity)
    fp = footprint(a.H, ref_ink.shape)
    geometry = part_residuals(ref_ink, warped)
    # differences narrower than a photo pixel (seen from the reference frame) are not evidence
    detail = divergence(ref_ink, warped, tolerance=0.6 * fp)
    fidelity = mask_iou(ref_ink, warped)
    mirrored = 0.0
    if a.quality < 0.85 or detail.blob_frac > 0.05:  # only pay for the mirror test when something is off
        m = align_logo(photo, box, np.ascontiguousarray(ref_ink[:, ::-1]), cfg)
        mirrored = m.quality if m.ok else 0.0
    return Evidence(brand, reference, box, a, geometry, detail, mirrored, trivial, fidelity, fp)


def footprint(H: np.ndarray, shape: tuple[int, int]) -> float:
    """Reference pixels per photo pixel at the logo's centre (from the local Jacobian of H)."""
    h, w = shape
    c = np.float32([[[w / 2, h / 2], [w / 2 + 1, h / 2], [w / 2, h / 2 + 1]]])
    p = cv2.perspectiveTransform(c, H)[0]
    area = abs(np.cross(np.append(p[1] - p[0], 0), np.append(p[2] - p[0], 0))[2])
    return float(1.0 / np.sqrt(max(area, 1e-9)))


def hull_overlap(ref_ink: np.ndarray) -> float:
    """IoU of the reference ink with its filled convex hull."""
    ink = (ref_ink > 0.5).astype(np.uint8)
    pts = cv2.findNonZero(ink)
    if pts is None:
        return 0.0
    hull = np.zeros_like(ink)
    cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
    return float(ink.sum() / max(1, hull.sum()))
