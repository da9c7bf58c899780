"""Stage: load an image file safely into an RGB uint8 array.

One loader for every entry point (CLI, app, benchmarks). Limits are checked from the header before any pixel is
decoded, so a decompression bomb costs a few bytes of reading, not gigabytes of memory.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

__all__ = ["LoadLimits", "load_image", "image_format", "image_to_rgb", "flatten_rgba"]

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO"})


@dataclass(frozen=True)
class LoadLimits:
    max_bytes: int = 50 * 1024 * 1024  # 50 MB file
    max_pixels: int = 64_000_000  # 64 MP (e.g. 8000 x 8000)
    min_side: int = 16  # smaller than this holds no logo worth checking
    max_side: int = 20_000  # a 100,000 x 16 strip is within max_pixels, and no photo or logo file


def load_image(path: str | os.PathLike, limits: LoadLimits = LoadLimits(), keep_alpha: bool = False) -> np.ndarray:
    """Read `path` as an (H, W, 3) uint8 RGB array, EXIF orientation applied, alpha composited on white
    (with `keep_alpha`: (H, W, 4) RGBA, opaque where the file has no alpha).

    Raises ImageError with a specific message for missing, empty, oversized, non-image, unsupported or
    truncated files.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageError(f"file not found: {path}") from None
    except OSError as e:
        raise ImageError(f"cannot read file: {e.strerror or e}") from None
    if not path.is_file():
        raise ImageError("not a regular file")
    if size == 0:
        raise ImageError("empty file (0 bytes)")
    if size > limits.max_bytes:
        raise ImageError(f"file too large: {size} bytes (limit {limits.max_bytes})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return _decode(im, limits, keep_alpha)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"image claims too many pixels (limit {limits.max_pixels})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"corrupt or truncated image data: {e}") from None


def image_format(path: str | os.PathLike) -> str:
    """The PIL format name of an image file ("JPEG", "PNG", ...), read from its header only."""
    with Image.open(path) as im:
        return im.format or ""


def _decode(im: Image.Image, limits: LoadLimits, keep_alpha: bool) -> np.ndarray:
    if im.format not in ACCEPTED_FORMATS:
        raise ImageError(f"unsupported image format {im.format}; accepted: {', '.join(sorted(ACCEPTED_FORMATS))}")
    w, h = im.size
    if w * h > limits.max_pixels:
        raise ImageError(f"image too large: {w}x{h} pixels (limit {limits.max_pixels})")
    if max(w, h) > limits.max_side:
        raise ImageError(f"image too large: {w}x{h} pixels (longest side limit {limits.max_side})")
    if min(w, h) < limits.min_side:
        raise ImageError(f"image too small: {w}x{h} pixels (minimum side {limits.min_side})")
    im.seek(0)  # animated images: first frame
    im.load()
    im = ImageOps.exif_transpose(im)
    if keep_alpha:
        alpha = _alpha(im)
        return np.dstack([image_to_rgb(im), alpha if alpha is not None else np.full(im.size[::-1], 255, np.uint8)])
    return image_to_rgb(im)


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)


def _alpha(im: Image.Image) -> np.ndarray | None:
    return np.asarray(im.convert("RGBA"))[..., 3].copy() if _has_alpha(im) else None


def image_to_rgb(im: Image.Image) -> np.ndarray:
    """Any PIL mode (palette, greyscale, 16-bit, CMYK, with or without alpha) -> (H, W, 3) uint8 RGB."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        scale = 65535.0 if arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr / scale * 255.0, 0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8), "L")
    if _has_alpha(im):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def flatten_rgba(rgba: np.ndarray, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """(H, W, 4) uint8 RGBA composited on a solid background -> (H, W, 3) uint8 RGB."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    out = rgba[..., :3].astype(np.float32) * a + np.asarray(background, np.float32) * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
