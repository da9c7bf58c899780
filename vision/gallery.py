"""The reference gallery on disk.

    <gallery>/<brand>/brand.json      manifest: display name, wordmark, colours, and every reference image
    <gallery>/<brand>/logos/*.png     reference images, named by content hash (a logo: as extract.extract_logo kept it)
    <gallery>/<brand>/originals/*     the files logos were extracted from, kept for display
    <gallery>/<brand>/products/*.jpg
    <gallery>/.index/                 the FAISS index and its sidecar (vision.index)
    <gallery>/.lock                   advisory lock held by every writer

brand.json is the commit point of a brand: an image file that it does not list is not part of the gallery.
Brand names are slugs, so no brand folder can point outside the gallery.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import cv2
import numpy as np

from .codes import check_patterns
from .errors import BrandNameError, GalleryError, ImageError
from .extract import ExtractConfig, Extraction, extract_logo, extraction_picture
from .fsio import atomic_write_bytes, atomic_write_json, data_dir, file_lock, is_temp_name, sha256_bytes, sha256_file
from .load import LoadLimits, image_format, load_image
from .log import logger
from .svg import is_svg, render_svg

KINDS = ("logo", "product")
MANIFEST = "brand.json"
FORMAT = 1
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
_COLOR = re.compile(r"^#[0-9a-f]{6}$")
SUFFIXES = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif", "GIF": ".gif"}
FOLDERS = ("logos", "products", "originals")


# the files add_references writes: <kind>s/<first 20 hex digits of the sha256>.<suffix>
CONTENT_NAME = re.compile(r"^[0-9a-f]{20}\.[a-z]+$")


def gallery_root(path: str | os.PathLike | None = None) -> Path:
    """--gallery, else $AUTHCHECK_GALLERY, else ./reference_gallery."""
    return Path(path or os.environ.get("AUTHCHECK_GALLERY") or "reference_gallery")


def demo_gallery() -> Path:
    """The demo gallery that ships with the package (24 brands; read-only where the package is installed)."""
    return data_dir("reference_gallery")


def slugify(name: str) -> str:
    """A brand slug made from a display name ("New Balance" -> "new-balance"); "" when nothing is left."""
    return re.sub(r"[^a-z0-9_-]+", "-", str(name).lower()).strip("-_")[:64].strip("-_")


def check_slug(name: str) -> str:
    """Return `name` if it is a safe brand slug, else raise BrandNameError saying what would be accepted."""
    if not isinstance(name, str) or not SLUG.match(name):
        hint = slugify(name)
        raise BrandNameError(
            f"invalid brand name {name!r}: use a slug of lowercase letters, digits, '-' and '_' "
            f"(1-64 characters, starting and ending with a letter or digit)" + (f", e.g. {hint!r}" if hint else ""))
    return name


def check_color(color: str) -> str:
    c = color.strip().lower()
    c = c if c.startswith("#") else "#" + c
    if not _COLOR.match(c):
        raise GalleryError(f"invalid colour {color!r}: use #rrggbb")
    return c


@dataclass(frozen=True)
class Reference:
    file: str  # relative to the brand folder, e.g. "logos/3f2a....png"
    kind: str  # "logo" | "product"
    sha256: str
    source: str = ""  # original file name, for people
    original: str = ""  # logos: the file it was extracted from, e.g. "originals/9c1e....jpg" ("" if stored as given)
    original_sha256: str = ""
    part_of: str = ""  # logos: the lock-up reference this part (emblem or wordmark) was cut from ("" for a whole logo)


OPTIONAL_FIELDS = ("original", "original_sha256", "part_of")  # a reference's fields left out of brand.json when empty


@dataclass(frozen=True)
class Brand:
    slug: str
    name: str
    wordmark: str | None = None
    colors: tuple[str, ...] = ()
    references: tuple[Reference, ...] = field(default_factory=tuple)
    codes: tuple[str, ...] = ()  # registered trace-code formats: regular expressions (vision.codes)

    def to_json(self) -> dict:
        return {"format": FORMAT, "slug": self.slug, "name": self.name, "wordmark": self.wordmark,
                "colors": list(self.colors), "codes": list(self.codes),
                "references": [{k: v for k, v in vars(r).items() if v or k not in OPTIONAL_FIELDS}
                               for r in self.references]}

    @classmethod
    def from_json(cls, raw: object, where: str) -> "Brand":
        try:
            if not isinstance(raw, dict):
                raise TypeError("not a JSON object")
            refs = []
            for r in raw.get("references", []):
                ref = Reference(file=str(r["file"]), kind=str(r["kind"]), sha256=str(r["sha256"]),
                                source=str(r.get("source", "")), original=str(r.get("original", "")),
                                original_sha256=str(r.get("original_sha256", "")), part_of=str(r.get("part_of", "")))
                _check_ref_path(ref.file)
                if ref.part_of:
                    _check_ref_path(ref.part_of, ("logos",))
                if ref.original:
                    _check_ref_path(ref.original, ("originals",))
                if ref.kind not in KINDS:
                    raise ValueError(f"unknown reference kind {ref.kind!r}")
                refs.append(ref)
            wordmark = raw.get("wordmark")
            return cls(slug=check_slug(raw["slug"]), name=str(raw.get("name") or raw["slug"]),
                       wordmark=None if wordmark in (None, "") else str(wordmark),
                       colors=tuple(check_color(str(c)) for c in raw.get("colors", [])), references=tuple(refs),
                       codes=check_patterns(tuple(str(c) for c in raw.get("codes", []))))
        except (KeyError, TypeError, ValueError, BrandNameError, GalleryError) as e:
            raise GalleryError(f"{where} is malformed: {e}") from None


def _check_ref_path(rel: str, folders: tuple[str, ...] = ("logos", "products")) -> None:
    parts = Path(rel).parts
    if len(parts) != 2 or parts[0] not in folders or parts[1].startswith(".") or "\\" in rel:
        raise ValueError(f"reference path {rel!r} is not " + " or ".join(f"{f}/<file>" for f in folders))


class Gallery:
    """A gallery folder. Reading needs no lock; every change happens under `locked()`."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def add(self, brand: str, files: Sequence[str | os.PathLike], kind: str = "logo", **details) -> Brand:
        """Register `files` (logo files: raster or SVG, extracted from their background; or product photos with
        kind="product") as references of `brand` (a slug), creating the folder and the brand as needed;
        `details`: add_references' name, wordmark, colors, codes, extract, on_kept. Returns the brand. A bad
        file raises ImageError and leaves the gallery as it was. Checks see the change when a Checker is opened
        next (it indexes and calibrates what is new)."""
        return add_references(self, brand, files, kind, **details)

    def brand_dir(self, slug: str) -> Path:
        return self.root / check_slug(slug)

    def ref_path(self, slug: str, ref: Reference) -> Path:
        return self.brand_dir(slug) / ref.file

    def original_path(self, slug: str, ref: Reference) -> Path:
        """The file a logo reference was extracted from, or the reference itself when it was stored as given."""
        return self.brand_dir(slug) / (ref.original or ref.file)

    def slugs(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if SLUG.match(p.name) and (p / MANIFEST).is_file() and not p.is_symlink())

    def brand(self, slug: str) -> Brand:
        path = self.brand_dir(slug) / MANIFEST
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise GalleryError(f"no brand {slug!r} in gallery {self.root}") from None
        except (OSError, ValueError) as e:
            raise GalleryError(f"{path} is unreadable: {e}") from None
        brand = Brand.from_json(raw, str(path))
        if brand.slug != slug:
            raise GalleryError(f"{path} names brand {brand.slug!r} but lives in folder {slug!r}")
        return brand

    def brands(self) -> list[Brand]:
        return [self.brand(s) for s in self.slugs()]

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / ".lock"):
            yield


def open_gallery(root: str | os.PathLike | None = None, must_exist: bool = True, or_demo: bool = False) -> Gallery:
    """The gallery at `root` (gallery_root). `or_demo` (checks, which only read it): the demo gallery when none is
    named and ./reference_gallery does not exist; never for a gallery written to."""
    g = Gallery(gallery_root(root))
    if or_demo and not g.root.is_dir() and root is None and not os.environ.get("AUTHCHECK_GALLERY"):
        g = Gallery(demo_gallery())
    if must_exist and not g.root.is_dir():
        raise GalleryError(f"gallery folder {g.root} does not exist (create one with `authcheck gallery add`)")
    return g


def add_references(gallery: Gallery, slug: str, images: Sequence[str | os.PathLike], kind: str = "logo",
                   name: str | None = None, wordmark: str | None = None, colors: Sequence[str] | None = None,
                   limits: LoadLimits = LoadLimits(), codes: Sequence[str] | None = None,
                   extract: ExtractConfig | None = ExtractConfig(),
                   on_kept: Callable[[Kept], None] | None = None) -> Brand:
    """Register `images` (validated as images first) as references of brand `slug`, creating the brand if new.

    A logo file (raster, or SVG rendered by svg.render_svg) is extracted (extract.extract_logo: background removed,
    the mark cropped, at most ExtractConfig.max_side) and stored as a PNG, the file itself kept under originals/
    for display (a lock-up's emblem and wordmark are stored as references of their own too); `extract=None` stores
    logos as given. `on_kept(Kept)` hears what was kept of each new logo, with its picture. `name`, `wordmark`,
    `colors` and `codes` (trace-code formats) update the brand's details when given. Returns the new Brand.
    Re-adding an identical file is a no-op. A file that is refused (ImageError, naming it) leaves the gallery
    unchanged. Caller holds no lock; this takes it. Does not touch the index.
    """
    check_slug(slug)
    if kind not in KINDS:
        raise GalleryError(f"invalid kind {kind!r}: use one of {', '.join(KINDS)}")
    colors = tuple(check_color(c) for c in colors) if colors is not None else None
    try:
        codes = check_patterns(tuple(codes)) if codes is not None else None
    except ValueError as e:
        raise GalleryError(str(e)) from None
    # every file vetted before any is written
    staged = [_stage(Path(img), kind, limits, extract, on_kept is not None) for img in images]
    kept = []
    with gallery.locked():
        bdir = gallery.brand_dir(slug)
        try:
            brand = gallery.brand(slug)
        except GalleryError:
            if (bdir / MANIFEST).exists():
                raise
            brand = Brand(slug=slug, name=name or slug)
        refs = list(brand.references)
        known = {r.sha256 for r in refs} | {r.original_sha256 for r in refs if r.original_sha256}
        for st in staged:
            if st.digest in known or (st.original and st.original[1] in known):
                logger.info("%s: %s is already a reference", slug, st.source)
                continue
            ref = Reference(file=f"{kind}s/{st.digest[:20]}{st.suffix}", kind=kind, sha256=st.digest, source=st.source)
            if st.original:
                data, digest, suffix = st.original
                ref = replace(ref, original=f"originals/{digest[:20]}{suffix}", original_sha256=digest)
                atomic_write_bytes(bdir / ref.original, data)
                known.add(digest)
            atomic_write_bytes(bdir / ref.file, st.data)
            refs.append(ref)
            known.add(st.digest)
            for i, (data, digest) in enumerate(st.parts, 1):  # a lock-up's emblem and wordmark, each on its own
                if digest not in known:
                    atomic_write_bytes(bdir / f"{kind}s/{digest[:20]}.png", data)
                    refs.append(replace(ref, file=f"{kind}s/{digest[:20]}.png", sha256=digest, part_of=ref.file,
                                        source=f"{st.source} (part {i} of {len(st.parts)})"))
                    known.add(digest)
            if st.kept is not None:
                kept.append(st.kept)
        brand = replace(brand, references=tuple(refs),
                        name=name or brand.name,
                        wordmark=brand.wordmark if wordmark is None else (wordmark.strip() or None),
                        colors=brand.colors if colors is None else colors,
                        codes=brand.codes if codes is None else codes)
        atomic_write_json(bdir / MANIFEST, brand.to_json())
    for k in kept:
        logger.info("%s: %s: %s", slug, k.source, k.extraction.summary(k.size))
        if on_kept is not None:
            on_kept(k)
    return brand


@dataclass(frozen=True)
class Kept:
    """What registration kept of one logo file."""

    source: str  # the file's name
    extraction: Extraction
    size: tuple[int, int]  # the file's (width, height); an SVG's as rendered
    picture: np.ndarray | None = None  # extract.extraction_picture, when asked for

    @property
    def summary(self) -> str:
        return self.extraction.summary(self.size)


@dataclass(frozen=True)
class _Staged:
    data: bytes  # what the gallery stores as the reference
    digest: str
    suffix: str
    source: str
    original: tuple[bytes, str, str] | None = None  # (bytes, sha256, suffix) of the file a logo was extracted from
    kept: Kept | None = None
    parts: tuple[tuple[bytes, str], ...] = ()  # (PNG, sha256) of each part of a lock-up


def _stage(path: Path, kind: str, limits: LoadLimits, extract: ExtractConfig | None, picture: bool) -> _Staged:
    """Vet one file and prepare what add_references writes for it; ImageError names the file."""
    try:
        svg = is_svg(path)
        if svg and (kind != "logo" or extract is None):
            raise ImageError("SVG is accepted for logos only (product photos are raster images)")
        pixels = render_svg(path, limits) if svg else load_image(path, limits, keep_alpha=kind == "logo")
        data = path.read_bytes()
        suffix = ".svg" if svg else SUFFIXES.get(image_format(path), ".img")
        if kind != "logo" or extract is None:
            return _Staged(data, sha256_bytes(data), suffix, path.name)
        if not svg:
            pixels = _straight(pixels)
        extraction = extract_logo(pixels, extract)
    except ImageError as e:
        raise ImageError(f"{path.name}: {e}; nothing was added") from None
    except OSError as e:
        raise ImageError(f"{path.name}: cannot read file: {e.strerror or e}; nothing was added") from None
    kept = Kept(path.name, extraction, (pixels.shape[1], pixels.shape[0]),
                extraction_picture(pixels, extraction) if picture else None)
    parts = tuple((p, sha256_bytes(p)) for p in (_png(rgba, path.name) for rgba in extraction.parts))
    if extraction.as_given and not svg:  # the file itself is the reference, byte for byte
        return _Staged(data, sha256_bytes(data), suffix, path.name, None, kept, parts)
    png = _png(extraction.rgba, path.name)
    return _Staged(png, sha256_bytes(png), ".png", path.name, (data, sha256_bytes(data), suffix), kept, parts)


def _straight(rgba: np.ndarray) -> np.ndarray:
    """load_image's RGBA (colour composited on white) -> straight colour, as the file holds it: a reference is
    composited again each time it is loaded, and twice would pale its anti-aliased edges."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    if a.min() >= 1.0:
        return rgba
    rgb = (rgba[..., :3].astype(np.float32) - 255.0 * (1.0 - a)) / np.maximum(a, 1.0 / 255.0)
    return np.dstack([np.clip(rgb + 0.5, 0, 255).astype(np.uint8), rgba[..., 3]])


def _png(rgba: np.ndarray, name: str) -> bytes:
    ok, png = cv2.imencode(".png", rgba[..., [2, 1, 0, 3]])
    if not ok:
        raise ImageError(f"{name}: the extracted logo could not be encoded; nothing was added")
    return png.tobytes()


def remove_brand(gallery: Gallery, slug: str) -> None:
    """Delete brand `slug` and its images. The manifest goes first (atomic rename), so a crash leaves no half brand."""
    with gallery.locked():
        bdir = gallery.brand_dir(slug)
        if not (bdir / MANIFEST).is_file():
            raise GalleryError(f"no brand {slug!r} in gallery {gallery.root}")
        trash = gallery.root / f".trash-{slug}-{uuid.uuid4().hex[:8]}"
        os.replace(bdir, trash)
        shutil.rmtree(trash, ignore_errors=True)


def verify_files(gallery: Gallery) -> list[str]:
    """Problems between manifests and files: malformed manifests, missing or altered images, stray files.
    Returns plain-language strings; an empty list means the files agree with the manifests. What an interrupted
    change leaves (vision.repair.leftovers) is not a problem."""
    problems = []
    if not gallery.root.is_dir():
        return [f"gallery folder {gallery.root} does not exist"]
    for p in sorted(gallery.root.iterdir()):
        if p.name.startswith("."):
            continue
        if not SLUG.match(p.name):
            problems.append(f"{p.name}: not a valid brand folder name")
        elif p.is_symlink():
            problems.append(f"{p.name}: brand folder is a symbolic link")
        elif p.is_dir() and not (p / MANIFEST).is_file() and not uncommitted_brand(p):
            problems.append(f"{p.name}: folder has no {MANIFEST}")
    for slug in gallery.slugs():
        try:
            brand = gallery.brand(slug)
        except GalleryError as e:
            problems.append(str(e))
            continue
        listed = set()
        for ref in brand.references:
            for rel, digest in ((ref.file, ref.sha256), (ref.original, ref.original_sha256)):
                if not rel:
                    continue
                path = gallery.brand_dir(slug) / rel
                listed.add(rel)
                if not path.is_file():
                    problems.append(f"{slug}: reference {rel} is missing")
                elif sha256_file(path) != digest:
                    problems.append(f"{slug}: reference {rel} was altered (sha256 differs)")
        for sub in FOLDERS:
            for f in sorted((gallery.brand_dir(slug) / sub).glob("*")):
                rel = f"{sub}/{f.name}"
                if rel not in listed and not f.name.startswith(".") and not CONTENT_NAME.match(f.name):
                    problems.append(f"{slug}: {rel} is not listed in {MANIFEST}")
        if not brand.references:
            problems.append(f"{slug}: brand has no reference images")
    return problems


def uncommitted_brand(folder: Path) -> bool:
    """A brand folder holding only content-named images (and temp files): a new brand whose manifest was never
    written, because the process adding it was stopped."""
    for f in folder.rglob("*"):
        if f.is_dir():
            if f.parent != folder or f.name not in FOLDERS:
                return False
        elif not (CONTENT_NAME.match(f.name) or is_temp_name(f.name)):
            return False
    return True


__all__ = ["Brand", "Gallery", "Kept", "Reference", "add_references", "check_slug", "gallery_root", "open_gallery",
           "remove_brand", "verify_files"]
