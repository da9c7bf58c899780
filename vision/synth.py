"""Generated data: real brand logos (simplepycons, MIT/CC0 SVGs) rendered and photographed onto products.

Used to build the bundled example gallery, the tests and the benchmarks. Needs the optional packages
`simplepycons` and `resvg-py` (extra `dev`); nothing in the check path imports this module.

All randomness comes from a `numpy.random.Generator` passed in, so every picture is reproducible from a seed.
"""

from __future__ import annotations

import functools
import inspect
import io
import weakref
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from . import materials
from .colour import hex_to_rgb
from .errors import AuthcheckError

__all__ = ["BrandIcon", "available_icons", "brand_icon", "print_color", "render_svg_alpha", "render_logo",
           "alpha_to_rgba", "Photo", "PhotoStyle", "photograph", "jpeg_roundtrip", "save_rgb"]


@dataclass(frozen=True)
class BrandIcon:
    slug: str
    title: str
    color: str  # "#rrggbb"
    svg: str


@functools.lru_cache(maxsize=1)
def _icon_classes() -> dict[str, type]:
    import simplepycons

    out = {}
    for name in simplepycons.ALL_ICONS:
        cls = getattr(simplepycons, name, None)
        if isinstance(cls, type) and name.endswith("Icon") and not inspect.isabstract(cls):
            try:
                out[cls().name] = cls
            except TypeError:  # factories and abstract helpers
                continue
    return out


def available_icons() -> list[str]:
    """Slugs of every brand icon that simplepycons ships, sorted."""
    return sorted(_icon_classes())


def brand_icon(slug: str) -> BrandIcon:
    cls = _icon_classes().get(slug)
    if cls is None:
        raise AuthcheckError(f"simplepycons has no icon named {slug!r}")
    icon = cls()
    color = icon.primary_color if icon.primary_color.startswith("#") else f"#{icon.primary_color}"
    return BrandIcon(slug=slug, title=icon.title, color=color.lower(), svg=icon.raw_svg)


def print_color(slug: str) -> str:
    """The brand's colour, or near-black for marks whose colour is near-white (they would vanish on paper)."""
    color = brand_icon(slug).color
    r, g, b = hex_to_rgb(color)
    return "#111111" if 0.299 * r + 0.587 * g + 0.114 * b > 225 else color


def render_svg_alpha(svg: str, size: int) -> np.ndarray:
    """Rasterise an SVG to a (size, size) float32 coverage mask in [0, 1]."""
    import resvg_py

    png = bytes(resvg_py.svg_to_bytes(svg_string=svg, width=size, height=size))
    rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    return rgba[..., 3].astype(np.float32) / 255.0


def render_logo(slug: str, size: int = 256, color: str | None = None, margin: float = 0.08) -> np.ndarray:
    """The brand's logo as an (H, W, 4) uint8 RGBA array, cropped to its ink plus `margin`, longest side `size`."""
    icon = brand_icon(slug)
    alpha = render_svg_alpha(icon.svg, size * 2)
    return alpha_to_rgba(alpha, color or icon.color, size=size, margin=margin)


def alpha_to_rgba(alpha: np.ndarray, color: str, size: int = 256, margin: float = 0.08) -> np.ndarray:
    """Crop a coverage mask to its ink (+margin), scale so the longest side is `size`, paint it `color`."""
    ys, xs = np.nonzero(alpha > 0.02)
    if len(xs) == 0:
        raise AuthcheckError("logo has no visible ink")
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    pad = int(round(margin * max(x1 - x0, y1 - y0)))
    crop = np.pad(alpha[y0:y1, x0:x1], pad)
    h, w = crop.shape
    scale = size / max(h, w)
    crop = cv2.resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    rgb = np.empty(crop.shape + (3,), np.uint8)
    rgb[:] = hex_to_rgb(color)
    return np.dstack([rgb, np.clip(crop * 255.0 + 0.5, 0, 255).astype(np.uint8)])


# ---------------------------------------------------------------------------------------------- photography


@dataclass(frozen=True)
class Photo:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    quad: np.ndarray | None  # (4, 2) float32 corners of the logo in the photo (tl, tr, br, bl), None if no logo


@dataclass(frozen=True)
class PhotoStyle:
    """Ranges of the photographic nuisances. Defaults: a typical marketplace listing photo."""

    size: tuple[int, int] = (640, 480)  # (W, H)
    logo_frac: tuple[float, float] = (0.12, 0.35)  # logo's longest side / photo's shorter side
    tilt: float = 0.18  # perspective: corner jitter as a fraction of the logo's size
    rotation: float = 25.0  # degrees, +-
    blur: tuple[float, float] = (0.0, 1.2)  # gaussian sigma in pixels
    noise: tuple[float, float] = (0.0, 6.0)  # gaussian noise std in grey levels
    jpeg: tuple[int, int] = (50, 95)
    light: float = 0.35  # amplitude of the lighting gradient
    clutter: int = 6  # maximum number of distractor shapes in the background
    finishes: float = 0.0  # share of logos given a real mark's finish (vision.materials: emboss, chrome, ...)
    occlusion: float = 0.0  # share of logos partly hidden by an object or a specular highlight


def _random_color(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> np.ndarray:
    return rng.integers(lo, hi, size=3).astype(np.float32)


def _background(rng: np.random.Generator, w: int, h: int, clutter: int) -> np.ndarray:
    c0, c1 = _random_color(rng, 60, 256), _random_color(rng, 60, 256)
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(c0 * (1 - t) + c1 * t, (h, w, 3)).copy()
    for _ in range(int(rng.integers(0, clutter + 1))):
        color = tuple(float(v) for v in _random_color(rng))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(8, max(9, min(w, h) // 5)))
        if rng.random() < 0.5:
            cv2.circle(img, (cx, cy), r, color, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(img, (cx - r, cy - r // 2), (cx + r, cy + r // 2), color, -1, cv2.LINE_AA)
    return img


def _product_mask(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A product silhouette (box, bag, shoe side, garment) as a float mask and its bounding box."""
    pw, ph = int(w * rng.uniform(0.55, 0.85)), int(h * rng.uniform(0.55, 0.85))
    x0, y0 = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
    mask = np.zeros((h, w), np.float32)
    shape = rng.integers(0, 3)
    if shape == 0:
        cv2.ellipse(mask, (x0 + pw // 2, y0 + ph // 2), (pw // 2, ph // 2), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        x0, y0, pw, ph = x0 + pw // 7, y0 + ph // 7, pw * 5 // 7, ph * 5 // 7  # the flat-ish middle
    else:
        r = int(min(pw, ph) * (0.05 if shape == 1 else 0.25))
        cv2.rectangle(mask, (x0 + r, y0), (x0 + pw - r, y0 + ph), 1.0, -1)
        cv2.rectangle(mask, (x0, y0 + r), (x0 + pw, y0 + ph - r), 1.0, -1)
        for cx, cy in ((x0 + r, y0 + r), (x0 + pw - r, y0 + r), (x0 + r, y0 + ph - r), (x0 + pw - r, y0 + ph - r)):
            cv2.circle(mask, (cx, cy), r, 1.0, -1, cv2.LINE_AA)
    return mask, (x0, y0, pw, ph)


def _contrasting_ink(rng: np.random.Generator, surface: np.ndarray, brand_rgb: np.ndarray) -> np.ndarray:
    """Print the logo in the brand colour when it stands out from the surface, else in black or white."""
    def lum(c: np.ndarray) -> float:
        return float(c @ np.array([0.299, 0.587, 0.114], np.float32))

    if abs(lum(brand_rgb) - lum(surface)) > 70 and rng.random() < 0.7:
        return brand_rgb
    return np.full(3, 20.0 if lum(surface) > 128 else 240.0, np.float32)


def photograph(logo_rgba: np.ndarray | None, rng: np.random.Generator, style: PhotoStyle = PhotoStyle(),
               ink: tuple[int, int, int] | None = None, window: float = 0.0) -> Photo:
    """A listing-style photo: a product on a cluttered background with `logo_rgba` printed on it.

    The logo's alpha channel is its shape; its colour is kept when it contrasts with the product, otherwise it is
    printed black or white (or in `ink` if given). `logo_rgba=None` gives an unbranded product photo. With
    `window` > 0 (and a logo) only the photo's part around the logo is made, its extent grown by `window` per side
    (on the 8-pixel grid JPEG works on): the same nuisances on a fraction of the pixels, for a caller that looks at
    the logo's neighbourhood only (calibration); `quad` is then in the window's pixels.
    """
    w, h = style.size
    img = _background(rng, w, h, style.clutter)
    mask, (px, py, pw, ph) = _product_mask(rng, w, h)
    surface = _random_color(rng, 30, 256)
    shade = 1.0 + 0.25 * (np.linspace(-1, 1, w, dtype=np.float32)[None, :] * rng.uniform(-1, 1))
    windowed = window > 0 and logo_rgba is not None
    if not windowed:  # else on the window alone, once it is known
        img = img * (1 - mask[..., None]) + (surface * shade[..., None]) * mask[..., None]

    quad = None
    if logo_rgba is not None:
        lh, lw = logo_rgba.shape[:2]
        side = min(w, h) * rng.uniform(*style.logo_frac)
        side = min(side, 0.9 * min(pw, ph) * max(lw, lh) / max(1, min(lw, lh)))
        scale = side / max(lw, lh)
        sw, sh = lw * scale, lh * scale
        sw, sh = min(sw, pw * 0.95), min(sh, ph * 0.95)
        cx = px + pw / 2 + rng.uniform(-0.5, 0.5) * max(0.0, pw - sw)
        cy = py + ph / 2 + rng.uniform(-0.5, 0.5) * max(0.0, ph - sh)
        ang = np.deg2rad(rng.uniform(-style.rotation, style.rotation))
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]], np.float32)
        corners = np.array([[-sw / 2, -sh / 2], [sw / 2, -sh / 2], [sw / 2, sh / 2], [-sw / 2, sh / 2]], np.float32)
        # perspective: each corner moves by up to `tilt` of the logo's extent along that axis (a camera tilt
        # foreshortens a wide wordmark horizontally by a fraction of its width, not of its height)
        corners = corners + rng.uniform(-style.tilt, style.tilt, size=(4, 2)).astype(np.float32) * np.float32([sw, sh])
        quad = (corners @ rot.T + np.array([cx, cy], np.float32)).astype(np.float32)
        if windowed:
            lo, hi = quad.min(0), quad.max(0)
            pad = window * (hi - lo)
            wx0, wy0 = (int(max(0.0, v) // 8 * 8) for v in lo - pad)
            wx1, wy1 = min(w, int(np.ceil(hi[0] + pad[0]))), min(h, int(np.ceil(hi[1] + pad[1])))
            shade, m = shade[:, wx0:wx1], mask[wy0:wy1, wx0:wx1, None]
            img = img[wy0:wy1, wx0:wx1] * (1 - m) + (surface * shade[..., None]) * m
            quad = quad - np.float32([wx0, wy0])
            frame_w, frame_h = w, h
            w, h = wx1 - wx0, wy1 - wy0
        src = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]], np.float32)
        H = cv2.getPerspectiveTransform(src, quad)
        layers = _logo_layers(logo_rgba)
        alpha = cv2.warpPerspective(layers.alpha, H, (w, h), flags=cv2.INTER_LINEAR)
        if style.finishes and rng.random() < style.finishes:
            layer, cover = materials.finish(logo_rgba, surface, rng)
            color = cv2.warpPerspective(layer, H, (w, h), flags=cv2.INTER_LINEAR)
            alpha = cv2.warpPerspective(cover, H, (w, h), flags=cv2.INTER_LINEAR)
        elif ink is None and layers.colours is not None:
            # a multi-colour logo is printed in its own colours (a one-colour logo takes a contrasting ink)
            color = cv2.warpPerspective(layers.colours, H, (w, h), flags=cv2.INTER_NEAREST)
        else:
            color = np.asarray(ink, np.float32) if ink is not None else _contrasting_ink(rng, surface, layers.first)
        alpha *= rng.uniform(0.85, 1.0)  # print opacity
        img = img * (1 - alpha[..., None]) + (color * shade[..., None]) * alpha[..., None]
        if style.occlusion and rng.random() < style.occlusion:
            img = _occlude(img, quad, rng)

    gx, gy = rng.uniform(-1, 1, size=2)
    lx, ly = np.linspace(-1, 1, w, dtype=np.float32), np.linspace(-1, 1, h, dtype=np.float32)
    if windowed:  # the whole photo's lighting, over the window
        lx = np.linspace(-1, 1, frame_w, dtype=np.float32)[wx0:wx1]
        ly = np.linspace(-1, 1, frame_h, dtype=np.float32)[wy0:wy1]
    light = 1.0 + style.light * rng.uniform(0, 1) * (lx[None, :] * gx + ly[:, None] * gy)
    cast = rng.uniform(0.88, 1.12, size=3).astype(np.float32)
    img = img * light[..., None] * cast
    sigma = rng.uniform(*style.blur)
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = img + rng.normal(0, rng.uniform(*style.noise), size=img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    img = jpeg_roundtrip(img, int(rng.integers(style.jpeg[0], style.jpeg[1] + 1)))
    return Photo(image=img, quad=quad)


@dataclass(frozen=True)
class _Layers:
    alpha: np.ndarray  # (h, w) float32 0..1
    colours: np.ndarray | None  # (h, w, 3) float32 RGB of a multi-colour logo (inks 40+ levels apart), else None
    first: np.ndarray  # (3,) float32: the colour of the logo's most opaque pixel


_layers: dict = {}  # id of a logo array -> (weakref to it, its _Layers)


def _logo_layers(logo_rgba: np.ndarray) -> _Layers:
    """What photograph needs of a logo; made once per read-only logo array (which cannot change in place) rather
    than once per photo: calibration photographs one reference about a hundred times, and at 1,000 px this was 20
    of a photo's 28 ms."""
    hit = _layers.get(id(logo_rgba))
    if hit is not None and hit[0]() is logo_rgba and not logo_rgba.flags.writeable:
        return hit[1]
    a = logo_rgba[..., 3]
    inked = logo_rgba[..., :3][a > 127].astype(np.float32)
    multi = len(inked) and np.ptp(inked, axis=0).max() > 40
    layers = _Layers(a.astype(np.float32) / 255.0, logo_rgba[..., :3].astype(np.float32) if multi else None,
                     logo_rgba[..., :3].reshape(-1, 3)[np.argmax(a)].astype(np.float32))
    if not logo_rgba.flags.writeable:
        if len(_layers) > 64:
            _layers.clear()
        _layers[id(logo_rgba)] = (weakref.ref(logo_rgba), layers)
    return layers


def _occlude(img: np.ndarray, quad: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hide part of the logo at `quad`: an object in front of it (a strap, a finger, a price tag) or a specular
    highlight washing it out."""
    (x0, y0), (x1, y1) = quad.min(axis=0), quad.max(axis=0)
    cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
    r = rng.uniform(0.1, 0.3) * max(x1 - x0, y1 - y0)
    if rng.random() < 0.5:
        color = tuple(float(v) for v in _random_color(rng))
        cv2.ellipse(img, (int(cx), int(cy)), (int(r), int(r * rng.uniform(0.3, 1.0))), float(rng.uniform(0, 180)),
                    0, 360, color, -1, cv2.LINE_AA)
        return img
    spot = np.zeros(img.shape[:2], np.float32)
    cv2.circle(spot, (int(cx), int(cy)), max(1, int(r)), 1.0, -1)
    spot = cv2.GaussianBlur(spot, (0, 0), max(1.0, r / 2))
    return img * (1 - spot[..., None]) + 250.0 * spot[..., None]


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def save_rgb(path, rgb: np.ndarray, quality: int = 92) -> None:
    """Write an RGB array as JPEG or PNG (by suffix)."""
    Image.fromarray(rgb).save(path, quality=quality) if str(path).lower().endswith((".jpg", ".jpeg")) else \
        Image.fromarray(rgb).save(path)
