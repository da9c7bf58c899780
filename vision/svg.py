"""SVG logo files, vetted and rasterised: a brand's vector master is the best reference it has.

Only references may be SVG (listings stay raster). The file is read as plain XML first and refused, with the reason,
when it declares entities (entity expansion bombs), holds scripts, event handlers or foreignObject, refers to
anything outside itself (an href or CSS url() that is not a fragment or a data: URI, CSS @import), or embeds a raster
image that the image loader's limits refuse. What passes is rendered by resvg, which runs no scripts and loads
nothing, at a fixed longest side: an SVG's declared size never sizes a buffer.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import ImageError
from .load import LoadLimits

SVG_SIDE = 1024  # longest side an SVG is rendered at: extract.ExtractConfig's largest working size
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)
_IMPORT = re.compile(r"@import", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(px)?\s*$")
_DATA_IMAGE = re.compile(r"^data:image/[a-z+.-]+;base64,", re.IGNORECASE)


def is_svg(path: str | os.PathLike) -> bool:
    """Whether `path` is an SVG file by its content (an <svg root within the first 4 KB), whatever its name."""
    try:
        with open(path, "rb") as f:
            return looks_like_svg(f.read(4096))
    except OSError:
        return False


def looks_like_svg(data: bytes) -> bool:
    """Whether a file's first bytes are an SVG document's (XML declaration, comment or doctype, then <svg)."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith((b"<?xml", b"<svg", b"<!--", b"<!DOCTYPE svg")) and b"<svg" in head


def render_svg(path: str | os.PathLike, limits: LoadLimits = LoadLimits(), side: int = SVG_SIDE) -> np.ndarray:
    """Vet and render the SVG file `path` -> (H, W, 4) uint8 RGBA, its longest side `side`, transparent where the
    drawing leaves the canvas empty. Raises ImageError saying what was refused and why."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageError(f"cannot read file: {e.strerror or e}") from None
    if not data:
        raise ImageError("empty file (0 bytes)")
    if len(data) > limits.max_bytes:
        raise ImageError(f"file too large: {len(data)} bytes (limit {limits.max_bytes})")
    if _ENTITY.search(data):
        raise ImageError("SVG declares XML entities (an entity-expansion bomb, or text from outside the file): "
                         "refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise ImageError(f"not a well-formed SVG file: {e}") from None
    if _local(root.tag) != "svg":
        raise ImageError(f"not an SVG file: its root element is <{_local(root.tag)}>")
    _vet(root, limits)
    w, h = _aspect(root)
    scale = side / max(w, h)
    width, height = max(1, round(w * scale)), max(1, round(h * scale))
    import resvg_py  # the renderer is only needed here; listings never are SVG

    try:
        png = bytes(resvg_py.svg_to_bytes(svg_string=data.decode("utf-8", errors="replace"), width=width,
                                          height=height))
    except (ValueError, RuntimeError) as e:
        raise ImageError(f"SVG could not be rendered: {e}") from None
    with Image.open(io.BytesIO(png)) as im:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8).copy()
    if rgba[..., 3].max() == 0:
        raise ImageError("SVG renders as an empty picture (nothing drawn on its canvas)")
    return rgba


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _vet(root: ET.Element, limits: LoadLimits) -> None:
    for el in root.iter():
        name = _local(el.tag)
        if name in ("script", "foreignObject", "iframe", "embed", "object"):
            raise ImageError(f"SVG contains <{name}>: scripts and embedded documents are refused")
        if name == "style" and el.text:
            _vet_css(el.text)
        for key, value in el.attrib.items():
            attr = _local(key).lower()
            if attr.startswith("on"):
                raise ImageError(f"SVG has an event handler ({attr}=...): scripts are refused")
            if attr == "href":
                _vet_href(value, name, limits)
            elif attr == "style" or "url(" in value.lower():
                _vet_css(value)


def _vet_href(value: str, element: str, limits: LoadLimits) -> None:
    v = value.strip()
    if v.startswith("#"):
        return
    if _DATA_IMAGE.match(v):
        try:
            raw = base64.b64decode(v.split(",", 1)[1], validate=False)
        except (binascii.Error, ValueError):
            raise ImageError("SVG embeds an image that is not valid base64 data") from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(raw)) as im:
                    w, h = im.size
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"SVG embeds an image claiming too many pixels (limit {limits.max_pixels})") from None
        except Exception:  # noqa: BLE001 - any failure to read the header refuses the file
            raise ImageError("SVG embeds an image that cannot be read") from None
        if w * h > limits.max_pixels:
            raise ImageError(f"SVG embeds an image of {w}x{h} pixels (limit {limits.max_pixels})")
        return
    raise ImageError(f"SVG refers to a resource outside the file (<{element} href=\"{v[:60]}\">): only "
                     f"self-contained SVG files are accepted")


def _vet_css(text: str) -> None:
    if _IMPORT.search(text):
        raise ImageError("SVG style imports another stylesheet (@import): only self-contained SVG files are accepted")
    for target in _CSS_URL.findall(text):
        if target and not target.startswith("#") and not target.lower().startswith("data:"):
            raise ImageError(f"SVG style refers to a resource outside the file (url({target[:60]})): only "
                             f"self-contained SVG files are accepted")


def _aspect(root: ET.Element) -> tuple[float, float]:
    """The drawing's (width, height) in user units, for its aspect ratio only: the viewBox, else width/height."""
    box = root.get("viewBox")
    if box:
        try:
            _, _, w, h = (float(v) for v in re.split(r"[\s,]+", box.strip()))
        except ValueError:
            raise ImageError(f"SVG has a malformed viewBox {box[:40]!r}") from None
        if w > 0 and h > 0:
            return w, h
    sizes = [_NUMBER.match(root.get(k) or "") for k in ("width", "height")]
    if all(sizes):
        w, h = (float(m.group(1)) for m in sizes)
        if w > 0 and h > 0:
            return w, h
    raise ImageError("SVG has neither a viewBox nor a width and height in pixels: its shape is unknown")


__all__ = ["SVG_SIDE", "is_svg", "looks_like_svg", "render_svg"]
