"""Stage: part-level geometry after the global alignment.

A camera moves every part of a printed logo together; a counterfeit moves, scales or turns one part on its own.
After the global homography, each part of the reference is searched for locally in the listing's ink (warped
into the reference frame): its shift (as a fraction of the logo's size) and how well it then fits are the
residuals a camera cannot explain.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .align import mask_f
from .detail import ink_extent

__all__ = ["PartResidual", "Geometry", "reference_parts", "part_residuals"]


@dataclass(frozen=True)
class PartResidual:
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 in the reference frame
    shift: float  # best local shift / logo size
    dx: float  # pixels, reference frame
    dy: float
    fit: float  # tolerant overlap (align.mask_f) of the part with the listing's ink after the local shift


@dataclass(frozen=True)
class Geometry:
    parts: tuple[PartResidual, ...]
    max_shift: float  # largest part shift / logo size (0 for one-piece logos)
    worst_fit: float  # lowest part fit (1 for one-piece logos)


def reference_parts(ref_ink: np.ndarray, min_frac: float = 0.04, min_area: float = 0.0) -> list[np.ndarray]:
    """Boolean masks of the reference's pieces of ink that carry at least `min_frac` of it and `min_area` pixels."""
    ink = ref_ink > 0.5
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    least = max(min_frac * max(1, ink.sum()), min_area)
    return [labels == i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= least]


def part_residuals(ref_ink: np.ndarray, warped: np.ndarray, search: float = 0.2, tol: float = 1.0,
                   min_area: float = 0.0) -> Geometry:
    """ref_ink and warped (listing ink in the reference frame), both (h, w) float in [0, 1] -> Geometry.
    Each part (of at least `min_area` pixels) is template-matched within +-`search` of the logo size around where
    the global fit put it; its fit forgives `tol` pixels of misregistration."""
    h, w = ref_ink.shape
    size = ink_extent(ref_ink)
    if size == 0:
        return Geometry((), 0.0, 1.0)
    ps = reference_parts(ref_ink, min_area=min_area)
    if len(ps) < 2:
        return Geometry((), 0.0, 1.0)
    r = max(2, int(search * size))
    ink = ref_ink > 0.5
    near = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(np.ceil(tol)) + 3,) * 2)
    out = []
    for p in ps:
        # the listing's ink where the reference has another part is that part's, not a flaw of this one: a ring
        # around an emblem would otherwise count the emblem against its fit (genuine Skoda rings fitted 0.47)
        others = cv2.dilate((ink & ~p).astype(np.uint8), near) > 0
        own = cv2.dilate(p.astype(np.uint8), near) > 0
        big = cv2.copyMakeBorder(np.where(others & ~own, 0.0, warped).astype(np.float32), r, r, r, r,
                                 cv2.BORDER_CONSTANT, value=0)
        py, px = np.nonzero(p)
        x0, y0, x1, y1 = px.min(), py.min(), px.max() + 1, py.max() + 1
        tpl = p[y0:y1, x0:x1].astype(np.float32)
        win = big[y0:y1 + 2 * r, x0:x1 + 2 * r]
        if tpl.sum() < 4 or win.max() <= 0:
            out.append(PartResidual((x0, y0, x1, y1), search, 0.0, 0.0, 0.0))
            continue
        # prefer small shifts: a mild penalty keeps a part from jumping onto its twin
        score = cv2.matchTemplate(win, tpl, cv2.TM_CCORR_NORMED)
        yy, xx = np.mgrid[:score.shape[0], :score.shape[1]]
        score = score - 0.15 * np.hypot(xx - r, yy - r) / r
        by, bx = np.unravel_index(int(np.argmax(score)), score.shape)
        dx, dy = float(bx - r), float(by - r)
        fit = mask_f(tpl, win[by:by + (y1 - y0), bx:bx + (x1 - x0)], tol)
        out.append(PartResidual((int(x0), int(y0), int(x1), int(y1)), float(np.hypot(dx, dy) / size), dx, dy, fit))
    return Geometry(tuple(out), max(p.shift for p in out), min(p.fit for p in out))
