"""Counterfeit logos for the benchmark and the tests: the genuine mark altered the way fakes alter it.

Every family takes the genuine logo as (H, W, 4) uint8 RGBA and returns a new RGBA of the same size (the logo
sits inside a margin, so moved parts stay on the canvas). "Parts" are the logo's connected pieces of ink; a logo
of one piece is cut in two along a line through its centre. Randomness comes from the Generator passed in.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..detail import ink_extent, ink_pieces, stroke_px

__all__ = ["pad_logo", "unpad", "parts", "forge", "alter", "font_path", "render_text"]

FAMILIES = ("part_moved", "part_scaled", "part_rotated", "part_missing", "letters_swapped", "letter_substituted",
            "retypeset", "mirrored", "stroke_thicker", "stroke_thinner", "local_warp", "color_changed", "lookalike")
WORDMARK_FAMILIES = ("letters_swapped", "letter_substituted", "retypeset")
GEOMETRIC_FAMILIES = tuple(f for f in FAMILIES if f not in WORDMARK_FAMILIES)  # any logo, no text needed


def pad_logo(rgba: np.ndarray, frac: float = 0.15) -> np.ndarray:
    """Add a transparent margin so that altered parts can move without leaving the canvas."""
    p = int(round(frac * max(rgba.shape[:2])))
    return np.pad(rgba, ((p, p), (p, p), (0, 0)))


def unpad(rgba: np.ndarray, shape: tuple[int, ...], frac: float = 0.15) -> np.ndarray:
    """A forged canvas (pad_logo's margin `frac` around a logo of `shape`) cropped back to the logo's own frame,
    grown only where altered ink leaves it: a counterfeit is then printed at the genuine logo's scale, not shrunk by
    the margin."""
    h, w = shape[:2]
    p = int(round(frac * max(h, w)))
    x0, y0, x1, y1 = p, p, p + w, p + h
    ys, xs = np.nonzero(rgba[..., 3] > 0)
    if len(xs):
        x0, y0, x1, y1 = min(x0, xs.min()), min(y0, ys.min()), max(x1, xs.max() + 1), max(y1, ys.max() + 1)
    return rgba[y0:y1, x0:x1]


def parts(alpha: np.ndarray, min_frac: float = 0.02) -> list[np.ndarray]:
    """Boolean masks of the logo's pieces of ink (largest first); pieces under `min_frac` of the ink are dropped."""
    return [p & (alpha > 0) for p in ink_pieces(alpha > 127, min_frac)]


def _split(alpha: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Parts, or for a one-piece logo two halves cut along a random line through its centre."""
    ps = parts(alpha)
    if len(ps) >= 2:
        return ps
    ys, xs = np.nonzero(alpha > 127)
    cx, cy = xs.mean(), ys.mean()
    ang = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[:alpha.shape[0], :alpha.shape[1]]
    side = (xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang) > 0
    ink = alpha > 0
    return [ink & side, ink & ~side]


def _pick(ps: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    # prefer a sizeable part: a moved speck is not what a counterfeiter gets wrong
    sizes = np.array([p.sum() for p in ps], np.float64)
    big = [p for p, s in zip(ps, sizes) if s >= 0.08 * sizes.sum()] or ps
    return big[int(rng.integers(len(big)))]


def _move_part(rgba: np.ndarray, part: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Apply the 2x3 affine M to the pixels of `part` only."""
    h, w = part.shape
    out = rgba.copy()
    piece = rgba * part[..., None]
    out[part] = 0
    moved = cv2.warpAffine(piece, M, (w, h), flags=cv2.INTER_LINEAR)
    a = moved[..., 3:4].astype(np.float32) / 255.0
    out = (moved.astype(np.float32) + out.astype(np.float32) * (1 - a)).clip(0, 255).astype(np.uint8)
    return out


def _part_centre(part: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(part)
    return float(xs.mean()), float(ys.mean())


def forge(rgba: np.ndarray, family: str, rng: np.random.Generator, wordmark: str | None = None,
          colors: tuple[str, ...] = ()) -> np.ndarray:
    """Return a counterfeit of `rgba` (already padded with pad_logo) in `family` (see FAMILIES)."""
    alpha = rgba[..., 3]
    size = ink_extent(alpha > 127)
    if family == "part_moved":
        part = _pick(_split(alpha, rng), rng)
        d = rng.uniform(0.07, 0.14) * size
        ang = rng.uniform(0, 2 * np.pi)
        return _move_part(rgba, part, np.float32([[1, 0, d * np.cos(ang)], [0, 1, d * np.sin(ang)]]))
    if family == "part_scaled":
        part = _pick(_split(alpha, rng), rng)
        s = rng.choice([rng.uniform(0.65, 0.8), rng.uniform(1.25, 1.45)])
        return _move_part(rgba, part, cv2.getRotationMatrix2D(_part_centre(part), 0, float(s)))
    if family == "part_rotated":
        part = _pick(_split(alpha, rng), rng)
        a = rng.choice([-1, 1]) * rng.uniform(15, 30)
        return _move_part(rgba, part, cv2.getRotationMatrix2D(_part_centre(part), float(a), 1.0))
    if family == "part_missing":
        out = rgba.copy()
        out[_pick(_split(alpha, rng), rng)] = 0
        return out
    if family == "mirrored":
        return rgba[:, ::-1].copy()
    if family in ("stroke_thicker", "stroke_thinner"):
        k = max(3, int(round(rng.uniform(0.3, 0.45) * stroke_px(alpha / 255.0))) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        op = cv2.dilate if family == "stroke_thicker" else cv2.erode
        out = rgba.copy()
        out[..., 3] = op(alpha, kernel)
        out[..., :3] = _fill_color(rgba)
        return out
    if family == "local_warp":
        return _local_warp(rgba, rng, size)
    if family == "color_changed":
        out = rgba.copy()
        part = _pick(_split(alpha, rng), rng)
        old = np.asarray(_fill_color(rgba), np.float32)
        # move each channel away from its end of the range, so even a black or white mark really changes colour
        new = (old + np.where(old < 128, 1, -1) * rng.uniform(90, 160, size=3)).clip(0, 255)
        out[part, :3] = new.astype(np.uint8)
        return out
    if family in ("letters_swapped", "letter_substituted", "retypeset"):
        return _wordmark_fake(rgba, family, rng, wordmark or "LOGO")
    if family == "lookalike":
        # several small changes at once: squashed, thinner, a part shifted: the "close enough" knock-off
        h, w = alpha.shape
        sx = rng.uniform(0.78, 0.88)
        M = np.float32([[sx, 0, (1 - sx) * w / 2], [0, 1 / sx ** 0.3, (1 - 1 / sx ** 0.3) * h / 2]])
        out = cv2.warpAffine(rgba, M, (w, h), flags=cv2.INTER_LINEAR)
        return forge(out, "part_moved", rng)
    raise ValueError(f"unknown counterfeit family {family!r}; known: {', '.join(FAMILIES)}")


def alter(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`rgba` (unpadded) altered by a random one of GEOMETRIC_FAMILIES, printed at the genuine logo's scale (unpad):
    the knock-offs the embedder is trained to still name the brand of, and the benchmark's "altered" queries."""
    fam = GEOMETRIC_FAMILIES[int(rng.integers(len(GEOMETRIC_FAMILIES)))]
    return unpad(forge(pad_logo(rgba), fam, rng), rgba.shape)


def _fill_color(rgba: np.ndarray) -> np.ndarray:
    return rgba[..., :3].reshape(-1, 3)[int(np.argmax(rgba[..., 3]))]


def _local_warp(rgba: np.ndarray, rng: np.random.Generator, size: float) -> np.ndarray:
    h, w = rgba.shape[:2]
    ys, xs = np.nonzero(rgba[..., 3] > 127)
    i = int(rng.integers(len(xs)))
    cx, cy = xs[i], ys[i]
    sigma = rng.uniform(0.12, 0.2) * size
    amp = rng.uniform(0.06, 0.1) * size
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2))
    mapx = (xx - amp * np.cos(ang) * bump).astype(np.float32)
    mapy = (yy - amp * np.sin(ang) * bump).astype(np.float32)
    return cv2.remap(rgba, mapx, mapy, cv2.INTER_LINEAR, borderValue=0)


def font_path() -> str | None:
    fonts = "/usr/share/fonts/truetype/dejavu"
    for p in (f"{fonts}/DejaVuSans-Bold.ttf", f"{fonts}/DejaVuSans.ttf"):
        if Path(p).is_file():
            return p
    return None


def render_text(text: str, height: int, color: tuple[int, int, int], font: str | None = None) -> np.ndarray:
    """`text` as RGBA, about `height` pixels tall (DejaVu when installed, Pillow's bundled font otherwise)."""
    path = font or font_path()
    f = ImageFont.truetype(path, height) if path else ImageFont.load_default(size=height)
    x0, y0, x1, y1 = f.getbbox(text)
    im = Image.new("RGBA", (x1 - x0 + 4, y1 - y0 + 4), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((2 - x0, 2 - y0), text, font=f, fill=(*color, 255))
    return np.asarray(im)


def _wordmark_fake(rgba: np.ndarray, family: str, rng: np.random.Generator, wordmark: str) -> np.ndarray:
    alpha = rgba[..., 3]
    color = tuple(int(c) for c in _fill_color(rgba))
    letters = sorted(parts(alpha, min_frac=0.01), key=lambda p: _part_centre(p)[0])
    if family == "retypeset" or len(letters) < 3:
        ys, xs = np.nonzero(alpha > 127)
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        text = render_text(wordmark, max(8, int((y1 - y0) * 1.2)), color)
        text = cv2.resize(text, (int(x1 - x0), int(y1 - y0)), interpolation=cv2.INTER_AREA)
        out = np.zeros_like(rgba)
        out[y0:y1, x0:x1] = text
        return out
    if family == "letters_swapped":
        i = int(rng.integers(len(letters) - 1))
        a, b = letters[i], letters[i + 1]
        (ax, _), (bx, _) = _part_centre(a), _part_centre(b)
        out = rgba.copy()
        out[a | b] = 0
        for part, dx in ((a, bx - ax), (b, ax - bx)):
            piece = rgba * part[..., None]
            moved = cv2.warpAffine(piece, np.float32([[1, 0, dx], [0, 1, 0]]), alpha.shape[::-1])
            m = moved[..., 3:4].astype(np.float32) / 255.0
            out = (moved + out * (1 - m)).clip(0, 255).astype(np.uint8)
        return out
    # letter_substituted: one letter replaced by another glyph in the same box (SAMSUNG -> SAMSUNC)
    part = letters[int(rng.integers(len(letters)))]
    ys, xs = np.nonzero(part)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    glyph = rng.choice(list("CGOQDBRPKXZ"))
    text = cv2.resize(render_text(str(glyph), max(8, int(y1 - y0)), color), (int(x1 - x0), int(y1 - y0)))
    out = rgba.copy()
    out[part] = 0
    region = out[y0:y1, x0:x1].astype(np.float32)
    a = text[..., 3:4].astype(np.float32) / 255.0
    out[y0:y1, x0:x1] = (text * a + region * (1 - a)).clip(0, 255).astype(np.uint8)
    return out
