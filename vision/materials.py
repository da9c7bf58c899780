"""How a logo looks on a real product: the finishes of real marks (embossed or debossed, chromed, stitched, lit,
worn, printed round a bottle), rendered from the logo's coverage for training views.

A flat print takes the logo's ink; a real mark often has no ink of its own (an emboss shows only as shading) or
takes the colours of its surroundings (chrome reflects them). An embedder trained on flat prints alone ranks the
true brand first for about two in three real-photo logo crops; these finishes teach it the shape under the surface.

    finish(logo_rgba, surface, rng) -> (rgb (h, w, 3) float32 0-255, alpha (h, w) float32 0-1), in the logo's frame
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["FinishConfig", "finish"]

KINDS = ("flat", "emboss", "metal", "stitch", "neon", "worn")


@dataclass(frozen=True)
class FinishConfig:
    weights: tuple[float, ...] = (0.15, 0.25, 0.25, 0.12, 0.08, 0.15)  # of KINDS
    curved: float = 0.3  # share printed round a cylinder (bottle, can, mug)
    bevel: tuple[float, float] = (0.01, 0.04)  # emboss and metal relief, as a fraction of the logo's side


def finish(logo_rgba: np.ndarray, surface: np.ndarray, rng: np.random.Generator,
           cfg: FinishConfig = FinishConfig()) -> tuple[np.ndarray, np.ndarray]:
    """The logo (h, w, 4) uint8, its alpha the shape, finished as a random kind of real mark on a `surface` colour
    (3,). Returns the layer's colour (h, w, 3) float32 and coverage (h, w) float32, to composite as a print is."""
    a = logo_rgba[..., 3].astype(np.float32) / 255.0
    ink = logo_rgba[..., :3].astype(np.float32)
    if rng.random() < cfg.curved:
        bent = _curve(np.dstack([ink, a]), rng.uniform(0.5, 1.3))
        ink, a = bent[..., :3], bent[..., 3]
    kind = KINDS[int(rng.choice(len(KINDS), p=np.asarray(cfg.weights) / sum(cfg.weights)))]
    side = max(a.shape)
    surface = np.asarray(surface, np.float32)
    if kind == "flat":
        return ink, a
    if kind == "emboss":
        # the mark is the surface itself, raised or pressed: only its shading shows it (leather, car bodies)
        shade = _relief(a, side, rng, cfg) * rng.choice([-1.0, 1.0])
        rgb = surface[None, None] * (1.0 + 0.6 * shade[..., None])
        if rng.random() < 0.3:  # a faint tint of ink in the pressed part (foil, paint fill)
            rgb = rgb * (1 - 0.35 * a[..., None]) + ink * 0.35 * a[..., None]
        cover = np.clip(cv2.GaussianBlur(a, (0, 0), 0.03 * side) * 4.0, 0.0, 1.0)
        return rgb, cover
    if kind == "metal":
        # chrome: a reflection of the surroundings, bright and dark bands that ignore the logo's own colours, with
        # a bevelled rim catching the light
        env = _smooth_noise(a.shape, rng, cells=int(rng.integers(2, 6)))
        bands = 0.5 + 0.5 * np.sin(env * rng.uniform(4, 12))
        grey = 40 + 215 * bands
        tint = np.array([1.0, 0.85, 0.45], np.float32) if rng.random() < 0.2 else np.ones(3, np.float32)  # gold
        rgb = grey[..., None] * tint[None, None] * (1.0 + 0.5 * _relief(a, side, rng, cfg)[..., None])
        return rgb, a
    if kind == "stitch":
        # embroidery: thread texture across the fill, ragged edges
        theta = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:a.shape[0], 0:a.shape[1]].astype(np.float32)
        period = rng.uniform(2.0, 5.0) * side / 192
        thread = 1.0 + 0.3 * np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)
        ragged = np.clip(a + 0.5 * (_smooth_noise(a.shape, rng, cells=24) - 0.5), 0, 1)
        return ink * thread[..., None], (ragged > 0.5).astype(np.float32) * a.max()
    if kind == "neon":
        # a lit sign: bright strokes in a glow, usually at night
        glow = cv2.GaussianBlur(a, (0, 0), rng.uniform(0.02, 0.06) * side)
        bright = np.clip(ink * 0.4 + 160, 0, 255)
        return np.clip(bright * (1 + 0.6 * a[..., None]), 0, 255), np.clip(a + 1.5 * glow, 0, 1)
    # worn: an older print, ink lost in patches and scratches
    holes = _smooth_noise(a.shape, rng, cells=int(rng.integers(6, 16))) > rng.uniform(0.6, 0.8)
    return ink, a * (1 - holes.astype(np.float32)) * rng.uniform(0.6, 1.0)


def _relief(a: np.ndarray, side: int, rng: np.random.Generator, cfg: FinishConfig) -> np.ndarray:
    """Shading in [-1, 1] of the coverage `a` raised as a height map, lit from a random direction."""
    h = cv2.GaussianBlur(a, (0, 0), max(0.5, rng.uniform(*cfg.bevel) * side))
    gx, gy = cv2.Sobel(h, cv2.CV_32F, 1, 0), cv2.Sobel(h, cv2.CV_32F, 0, 1)
    ang = rng.uniform(0, 2 * np.pi)
    s = gx * np.cos(ang) + gy * np.sin(ang)
    return s / max(float(np.abs(s).max()), 1e-6)


def _smooth_noise(shape: tuple[int, ...], rng: np.random.Generator, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1] of `shape`[:2], varying over about `cells` cells a side."""
    g = rng.random((cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(g, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _curve(img: np.ndarray, phi: float) -> np.ndarray:
    """`img` printed round a cylinder, `phi` radians of it either side of the line of sight: squeezed towards its
    left and right edges as a label on a bottle is."""
    h, w = img.shape[:2]
    u = np.linspace(-1, 1, w, dtype=np.float32)
    src = (np.arcsin(np.clip(u * np.sin(phi), -1, 1)) / phi + 1) * 0.5 * (w - 1)
    mx = np.ascontiguousarray(np.broadcast_to(src[None, :], (h, w)), np.float32)
    my = np.ascontiguousarray(np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w)), np.float32)
    return cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
