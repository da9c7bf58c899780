"""Stage: compare the colours of the aligned listing logo with each other and with the brand's registered colours.

Colours are compared by chromaticity (a*, b* of CIELAB), not lightness, because lighting gradients and exposure
change lightness across a photo far more than hue. Neutral inks (black, white, grey: chroma below `neutral`) are
always allowed: a brand's mark printed in black or white is not a fake, and so are very dark or very light inks,
whose measured hue is mostly colour cast. Two signals:
  * part spread: one connected part of the logo in another colour than the rest (a recoloured part);
  * off-palette: a chromatic ink that is none of the registered colours, nor black or white, each blended with
    up to half of the surface colour around the logo (blur and print opacity mix the two at a stroke's core; a
    white print on a purple product reads lilac).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Colour", "hex_to_rgb", "compare_colours"]

NEUTRAL_CHROMA = 14.0  # a*b* chroma below which an ink counts as black / white / grey
NEUTRAL_L = (30.0, 85.0)  # inks darker or lighter than this (L*) are judged neutral too: a colour cast gives a
# near-black or near-white print a measurable hue that was never printed (measured on genuine benchmark listings)


@dataclass(frozen=True)
class Colour:
    ink: str  # "#rrggbb": the logo's dominant ink colour in the photo
    part_spread: float  # largest a*b* distance of one part's colour from the dominant colour
    off_palette: float  # a*b* distance from the dominant ink to the nearest registered colour (0: neutral/none)
    nearest: str  # the registered colour it was compared with ("" when none)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """"#rrggbb" -> (r, g, b)."""
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _hex(rgb: np.ndarray) -> str:
    return "#%02x%02x%02x" % tuple(int(v) for v in np.clip(rgb, 0, 255))


def compare_colours(photo: np.ndarray, H: np.ndarray, ref_ink: np.ndarray, listing_ink: np.ndarray,
                    registered: tuple[str, ...] = (), min_part: float = 0.06) -> Colour | None:
    """photo (H, W, 3) uint8 RGB; H reference -> photo; ref_ink, listing_ink (h, w) in the reference frame.
    None when too little ink is visible to judge."""
    h, w = ref_ink.shape
    rgb = cv2.warpPerspective(photo, H, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
    both = ((ref_ink > 0.5) & (listing_ink > 0.5)).astype(np.uint8)
    core = cv2.erode(both, np.ones((3, 3), np.uint8))  # edge pixels blend ink and surface
    if core.sum() < 30:
        return None
    lab = _lab(rgb[core > 0])
    dominant = np.median(lab, axis=0)
    n, labels = cv2.connectedComponents((ref_ink > 0.5).astype(np.uint8), connectivity=8)
    total = float(core.sum())
    spread = 0.0
    for i in range(1, n):
        sel = (labels == i) & (core > 0)
        if sel.sum() >= max(20, min_part * total):
            part = np.median(_lab(rgb[sel]), axis=0)
            spread = max(spread, float(np.hypot(*(part[1:] - dominant[1:]))))
    off, nearest = 0.0, ""
    neutral = np.hypot(*dominant[1:]) < NEUTRAL_CHROMA or not NEUTRAL_L[0] <= dominant[0] <= NEUTRAL_L[1]
    if registered and not neutral:
        off, nearest = _off_palette(dominant, registered, _surface(rgb, ref_ink))
    ink_rgb = np.median(rgb[core > 0].reshape(-1, 3), axis=0)
    return Colour(_hex(ink_rgb), spread, off, nearest)


BLEND = np.linspace(0.5, 1.0, 11, dtype=np.float32)  # share of ink at a stroke's core, with the surface's colour


def _surface(rgb: np.ndarray, ref_ink: np.ndarray) -> np.ndarray | None:
    """Median RGB of a ring of surface around the logo, clear of its blurred edge; None when the ring is empty."""
    ink = (ref_ink > 0.5).astype(np.uint8)
    r = max(3, round(0.03 * max(ink.shape)))
    disc = lambda k: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    ring = (cv2.dilate(ink, disc(2 * r)) > 0) & (cv2.dilate(ink, disc(r)) == 0)
    return np.median(rgb[ring].reshape(-1, 3), axis=0).astype(np.float32) if ring.any() else None


def _off_palette(dominant: np.ndarray, registered: tuple[str, ...], surface: np.ndarray | None) -> tuple[float, str]:
    """(a*b* distance, registered colour) of the dominant ink from the nearest registered colour, black or white,
    each blended with the surface (BLEND); a neutral ink that explains it best reports the nearest registered
    colour still, so the reason names what the brand registered."""
    regs = np.array([hex_to_rgb(c) for c in registered], np.float32)
    inks = np.concatenate([regs, np.float32([[0, 0, 0], [255, 255, 255]])])
    share = (BLEND if surface is not None else np.ones(1, np.float32))[None, :, None]  # no surface seen: pure inks
    mixes = inks[:, None, :] * share + (surface if surface is not None else 0.0) * (1.0 - share)
    lab = _lab(np.clip(mixes, 0, 255).astype(np.uint8).reshape(-1, 3)).reshape(len(inks), -1, 3)
    d = np.hypot(lab[..., 1] - dominant[1], lab[..., 2] - dominant[2]).min(axis=1)
    return float(d.min()), registered[int(d[:len(regs)].argmin())]
