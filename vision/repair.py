"""Gallery health: what an interrupted change leaves behind, and `gallery verify --repair`.

Every change commits by renaming one manifest (brand.json) or the index sidecar, so a process killed at any
moment leaves the gallery either before or after the change, plus harmless leftovers: content-named image files no
manifest lists yet, a brand folder whose brand.json was never written, temp files, trash folders; and an index
that lags the manifests (updated on the next check). Leftovers and lag are reported as notes, not problems.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from .embed import Embedder
from .errors import AuthcheckError, GalleryError
from .fsio import atomic_write_json, is_temp_name, sha256_file
from .gallery import (
    CONTENT_NAME,
    FOLDERS,
    KINDS,
    MANIFEST,
    SLUG,
    SUFFIXES,
    Brand,
    Gallery,
    Reference,
    uncommitted_brand,
)
from .index import INDEX_DIR, load_index, refresh_index, verify_index
from .log import logger

__all__ = ["leftovers", "index_notes", "repair_gallery"]


def leftovers(gallery: Gallery) -> list[Path]:
    """Files and folders an interrupted change left behind (safe to delete; --repair does)."""
    out: list[Path] = []
    if not gallery.root.is_dir():
        return out
    for p in sorted(gallery.root.iterdir()):
        if p.name.startswith(".trash-") or is_temp_name(p.name):
            out.append(p)
        elif SLUG.match(p.name) and p.is_dir() and not p.is_symlink():
            if not (p / MANIFEST).exists():
                if uncommitted_brand(p):
                    out.append(p)  # a new brand whose manifest was never committed
                continue
            listed = _listed(gallery, p.name)
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).as_posix()
                if f.is_file() and (is_temp_name(f.name)
                                    or (listed is not None and rel not in listed and CONTENT_NAME.match(f.name)
                                        and f.parent.name in FOLDERS)):
                    out.append(f)
    index_dir = gallery.root / INDEX_DIR
    if index_dir.is_dir():
        out += [f for f in sorted(index_dir.rglob("*")) if f.is_file() and is_temp_name(f.name)]  # models/ too
    return out


def _listed(gallery: Gallery, slug: str) -> set[str] | None:
    try:
        return {f for r in gallery.brand(slug).references for f in (r.file, r.original) if f}
    except GalleryError:
        return None


def index_notes(gallery: Gallery, embedder: Embedder) -> list[str]:
    """How the stored index lags the manifests (it is brought up to date on the next check). Raises GalleryError
    when the index is unreadable or another embedder's."""
    lag = verify_index(gallery, load_index(gallery, embedder))
    return [f"index not yet updated: {x}" for x in lag]


def repair_gallery(gallery: Gallery, embedder: Embedder) -> list[str]:
    """Rebuild what can be rebuilt from the images: delete leftovers; rewrite an unreadable manifest from the
    images in its folder (name, wordmark and colours are lost: the brand's slug becomes its name); drop references
    whose image is missing or altered; then bring the index up to date (rebuilt if unreadable). Returns what it did,
    in plain words."""
    done = []
    with gallery.locked():
        for p in leftovers(gallery):
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
            done.append(f"removed leftover {p.relative_to(gallery.root)}")
        for slug in gallery.slugs():
            try:
                brand = gallery.brand(slug)
            except GalleryError as e:
                brand = _manifest_from_images(gallery, slug)
                done.append(f"{slug}: rebuilt {MANIFEST} from its {len(brand.references)} images ({e})")
                atomic_write_json(gallery.brand_dir(slug) / MANIFEST, brand.to_json())
                continue
            keep = []
            for ref in brand.references:
                path = gallery.ref_path(slug, ref)
                if not path.is_file() or sha256_file(path) != ref.sha256:
                    done.append(f"{slug}: dropped reference {ref.file} (missing or altered)")
                    continue
                original = gallery.brand_dir(slug) / ref.original if ref.original else None
                if original is not None and (not original.is_file() or sha256_file(original) != ref.original_sha256):
                    done.append(f"{slug}: {ref.file} keeps its extracted logo; the file it came from, {ref.original}, "
                                f"is missing or altered and is no longer listed")
                    ref = replace(ref, original="", original_sha256="")
                keep.append(ref)
            if keep != list(brand.references):
                atomic_write_json(gallery.brand_dir(slug) / MANIFEST,
                                  replace(brand, references=tuple(keep)).to_json())
    try:
        index = load_index(gallery, embedder)
        rebuild = False
    except AuthcheckError as e:
        index, rebuild = None, True
        done.append(f"index unreadable ({e}): rebuilt from the images")
    if rebuild or index is None or verify_index(gallery, index):
        refresh_index(gallery, embedder, rebuild=rebuild)
        if not rebuild:
            done.append("index brought up to date")
    for line in done:
        logger.info("repair: %s", line)
    return done


def _manifest_from_images(gallery: Gallery, slug: str) -> Brand:
    refs = []
    folder = gallery.brand_dir(slug)
    for kind in KINDS:
        for f in sorted((folder / f"{kind}s").glob("*")):
            if f.is_file() and f.suffix in set(SUFFIXES.values()) and not f.name.startswith("."):
                refs.append(Reference(file=f"{kind}s/{f.name}", kind=kind, sha256=sha256_file(f), source=f.name))
    return Brand(slug=slug, name=slug, references=tuple(refs))
