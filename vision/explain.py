"""A picture that explains a verdict: the listing with the matched logo's outline, the reference, and the
divergence heat map over the reference. Returns an image; writing it is the caller's business."""

from __future__ import annotations

import cv2
import numpy as np

from .check import Context, check_with_evidence
from .record import VERDICT_COLOURS, CheckRecord
from .verify import Evidence

__all__ = ["explain", "check_and_explain"]

_COLORS = {v: tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for v, c in VERDICT_COLOURS.items()}  # RGB


def explain(photo: np.ndarray | None, record: CheckRecord, ref_ink: np.ndarray | None,
            evidence: Evidence | None, height: int = 360) -> np.ndarray:
    """-> (height, W, 3) uint8 RGB: [listing + outline | reference ink | heat map], with the verdict as a banner."""
    color = _COLORS.get(record.verdict, (0, 0, 0))
    if photo is None:
        photo = np.full((height, height, 3), 255, np.uint8)
    shown = photo.copy()
    if evidence is not None and evidence.aligned and ref_ink is not None:
        h, w = ref_ink.shape
        outline = cv2.perspectiveTransform(np.float32([[[0, 0], [w, 0], [w, h], [0, h]]]), evidence.alignment.H)
        # drawing cost follows the outline's size: kept within a few photo sizes (off-photo parts are not drawn)
        reach = 4.0 * max(photo.shape[:2])
        outline = np.clip(np.nan_to_num(outline, nan=0.0), -reach, reach)
        cv2.polylines(shown, [outline.astype(np.int32)], True, color, max(2, photo.shape[0] // 160), cv2.LINE_AA)
    elif record.box:
        x0, y0, x1, y1 = record.box
        cv2.rectangle(shown, (x0, y0), (x1, y1), color, max(2, photo.shape[0] // 160))
    panels = [_fit(shown, height)]
    if ref_ink is not None:
        ref = (255 - 255 * np.clip(ref_ink, 0, 1)).astype(np.uint8)
        panels.append(_fit(np.dstack([ref] * 3), height))
        if evidence is not None and evidence.detail is not None:
            heat = cv2.applyColorMap((np.clip(evidence.detail.heat, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
            blend = (0.55 * heat[..., ::-1] + 0.45 * np.dstack([ref] * 3)).astype(np.uint8)
            panels.append(_fit(blend, height))
    sep = np.full((height, 6, 3), 255, np.uint8)
    body = np.concatenate([p for panel in panels for p in (panel, sep)][:-1], axis=1)
    banner = np.zeros((40, body.shape[1], 3), np.uint8)
    banner[:] = color
    risk = f"{record.risk:.2f}" if record.risk is not None else "-"
    text = f"{record.verdict.upper()}  {record.brand or ''}  risk {risk}"
    cv2.putText(banner, text, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return np.concatenate([banner, body], axis=0)


def check_and_explain(ctx: Context, image, path: str | None = None) -> tuple[CheckRecord, np.ndarray]:
    """check_image plus its explaining picture (see `explain`)."""
    rec, rgb, ev = check_with_evidence(ctx, image, path)
    ink = ctx.reference_ink(rec.brand, rec.reference.split("/", 1)[1]) if rec.reference else None
    return rec, explain(rgb, rec, ink, ev)


def _fit(img: np.ndarray, height: int) -> np.ndarray:
    """Scale into a (height, 4/3 height) box, padded white: wide wordmarks would otherwise dwarf the photo."""
    h, w = img.shape[:2]
    box_w = round(height * 4 / 3)
    scale = min(height / h, box_w / w)
    small = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    out = np.full((height, box_w, 3), 255, np.uint8)
    y, x = (height - small.shape[0]) // 2, (box_w - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out
