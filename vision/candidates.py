"""Stage: propose regions of a listing photo that may hold a logo.

A logo is a compact cluster of strong edges on a product surface. Proposals are (1) the whole photo, (2) the
bounding boxes of edge clusters at two closing scales (the logo's strokes merge into one blob), and (3) a coarse
multi-scale window grid as a safety net for logos whose edges are weak. Boxes are deduplicated and capped.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["CandidateConfig", "find_candidates"]


@dataclass(frozen=True)
class CandidateConfig:
    max_side: int = 640  # photos are analysed at most this large (longest side)
    min_frac: float = 0.06  # smallest proposal side / photo's shorter side
    max_frac: float = 0.9
    pad: float = 0.12  # context added around an edge cluster, fraction of its size
    window_fracs: tuple[float, ...] = (0.5, 0.3)  # grid window side / photo's shorter side
    window_stride: float = 0.5  # grid stride / window side
    max_candidates: int = 48
    dedup_iou: float = 0.7


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the original photo, x1/y1 exclusive


def find_candidates(image: np.ndarray, cfg: CandidateConfig = CandidateConfig(), windows: bool = True) -> list[Box]:
    """(H, W, 3) uint8 RGB -> candidate boxes, whole photo first, then edge clusters by score, then (with
    `windows`) the window grid. Without it, the grid is left to an embedder that pools it (embed.embed_windows)."""
    h, w = image.shape[:2]
    scale = min(1.0, cfg.max_side / max(h, w))
    small = (cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1
             else image)
    sh, sw = small.shape[:2]
    boxes: list[tuple[float, Box]] = [(np.inf, (0, 0, sw, sh))]
    boxes += _edge_clusters(small, cfg)
    ordered = [b for _, b in sorted(boxes, key=lambda t: -t[0])]
    kept = _dedup(ordered, cfg.dedup_iou, cfg.max_candidates)
    if windows:
        kept += _dedup(_windows(sw, sh, cfg), cfg.dedup_iou, max(0, cfg.max_candidates - len(kept)), kept)
    inv = 1.0 / scale
    return [(int(x0 * inv), int(y0 * inv), min(w, int(round(x1 * inv))), min(h, int(round(y1 * inv))))
            for x0, y0, x1, y1 in kept]


def _edge_clusters(img: np.ndarray, cfg: CandidateConfig) -> list[tuple[float, Box]]:
    h, w = img.shape[:2]
    short = min(h, w)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    grey = cv2.GaussianBlur(grey, (3, 3), 0)
    v = float(np.median(grey))
    edges = cv2.Canny(grey, max(10.0, 0.4 * v), max(30.0, 1.0 * v))
    out = []
    for k in (0.02, 0.05):  # closing kernel: merges letters (small) or whole emblems (large)
        ks = max(3, int(short * k) | 1)
        blob = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ks, ks)))
        n, _, stats, _ = cv2.connectedComponentsWithStats(blob, connectivity=8)
        for x, y, bw, bh, area in stats[1:]:
            side = max(bw, bh)
            if side < cfg.min_frac * short or side > cfg.max_frac * short:
                continue
            fill = area / float(bw * bh)
            if fill < 0.08:  # a thin outline (a product's silhouette), not a printed mark
                continue
            p = cfg.pad * side
            box = (max(0, int(x - p)), max(0, int(y - p)), min(w, int(x + bw + p)), min(h, int(y + bh + p)))
            out.append((fill * np.sqrt(area), box))
    return out


def _windows(w: int, h: int, cfg: CandidateConfig) -> list[Box]:
    short = min(w, h)
    out = []
    for frac in cfg.window_fracs:
        s = int(short * frac)
        step = max(1, int(s * cfg.window_stride))
        for y in range(0, max(1, h - s + 1), step):
            for x in range(0, max(1, w - s + 1), step):
                out.append((x, y, x + s, y + s))
    return out


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _dedup(boxes: list[Box], thr: float, limit: int, already: list[Box] = ()) -> list[Box]:
    kept: list[Box] = []
    for b in boxes:
        if len(kept) >= limit:
            break
        if all(_iou(b, k) < thr for k in (*already, *kept)):
            kept.append(b)
    return kept
