"""Stage: the FAISS index of a gallery's reference images, with a JSON sidecar.

    <gallery>/.index/index.json           sidecar: embedder id, dim, preprocessing, entries (id -> reference)
    <gallery>/.index/vectors-<hash>.faiss the FAISS index the sidecar names
    <gallery>/.index/models/<name>/       the same pair for each other embedder (index_folder)

The sidecar is the commit point: a new FAISS file is written under a new name first, then the sidecar is replaced
atomically, then old FAISS files are deleted. A reader therefore always finds a complete, matching pair.

Each reference contributes one or more *views* (for logos: as printed, dark ink on light, light ink on dark, each
also with a margin and turned 10 degrees either way), so that a logo printed in any colour on any surface finds its
reference. The sidecar records the version of the views: an index made with other views is re-embedded.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import cv2
import faiss
import numpy as np

from . import ann
from .align import ink_mask
from .embed import Embedder, embed
from .errors import GalleryError, IndexMismatchError
from .fsio import atomic_write_bytes, atomic_write_json, sha256_bytes
from .gallery import Gallery
from .load import flatten_rgba, load_image
from .log import logger

INDEX_DIR = ".index"
SIDECAR = "index.json"
MODELS_DIR = "models"
FORMAT = 1
VIEWS = 2  # version of reference_views; 1: without the margin and turned views


@dataclass(frozen=True)
class Entry:
    brand: str
    file: str  # relative to the brand folder
    kind: str  # "logo" | "product"
    sha256: str  # of the reference image
    view: str  # "image" | "dark-on-light" | "light-on-dark" (+ "-pad", "-rot±10") | "crop60-tl" ... (products)


class RefIndex:
    """FAISS index over L2-normalised vectors (inner product = cosine similarity) with ids that survive removals,
    and the entry each id stands for. Its type (vision.ann) is chosen by size unless the caller fixed one."""

    def __init__(self, embedder_id: str, dim: int, preprocessing: dict, kind: str | None = None,
                 params: ann.AnnParams = ann.AnnParams()):
        self.embedder_id = embedder_id
        self.dim = dim
        self.preprocessing = preprocessing
        self.auto = kind is None  # an automatic choice follows the gallery's size
        self.kind = kind or "flat"
        self.params = params
        self.faiss = ann.build(self.kind if self.kind in ("flat", "hnsw") else "flat", np.zeros((0, dim), np.float32),
                               np.zeros(0, np.int64), params)
        self.entries: dict[int, Entry] = {}
        self.next_id = 0
        self.views = VIEWS  # version of reference_views the entries were made with
        self._derived: dict[str, tuple] = {}  # name -> (entries' state, value): per-query id subsets, kept once

    def __len__(self) -> int:
        return self.faiss.ntotal

    def add(self, vectors: np.ndarray, entries: list[Entry]) -> None:
        """Add vectors (N, dim) for `entries`. Trains an IVF index on its first vectors (so add them all at once),
        and moves an automatic index to the type its new size calls for."""
        assert vectors.shape == (len(entries), self.dim), (vectors.shape, len(entries), self.dim)
        if not entries:
            return
        ids = np.arange(self.next_id, self.next_id + len(entries), dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, np.float32)
        kind = ann.choose(len(self) + len(ids)) if self.auto else self.kind
        if kind != self.kind or (len(self) == 0 and kind.startswith("ivf")):
            old_vectors, old_ids = ann.vectors_of(self.faiss)
            self.faiss = ann.build(kind, np.concatenate([old_vectors, vectors]), np.concatenate([old_ids, ids]),
                                   self.params)
            if kind != self.kind:
                logger.info("index: %d vectors, now a %s index", len(self), kind)
            self.kind = kind
        else:
            self.faiss.add_with_ids(vectors, ids)
        self.entries.update(zip(ids.tolist(), entries))
        self.next_id += len(entries)

    def remove(self, ids: Iterable[int]) -> int:
        ids = np.fromiter(ids, dtype=np.int64)
        if len(ids) == 0:
            return 0
        if ann.supports_remove(self.kind):
            n = self.faiss.remove_ids(ids)
        else:  # an HNSW graph cannot drop nodes: rebuild it from the vectors that stay
            vectors, have = ann.vectors_of(self.faiss)
            keep = ~np.isin(have, ids)
            n = int((~keep).sum())
            self.faiss = ann.build(self.kind, vectors[keep], have[keep], self.params)
        for i in ids.tolist():
            self.entries.pop(i, None)
        return int(n)

    def search(self, queries: np.ndarray, k: int, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """queries (N, dim) float32 L2-normalised -> (sims (N, k) float32, ids (N, k) int64), best first.
        `subset` (int64 ids) restricts the search to those entries. Missing neighbours (k larger than what there
        is to find) have id -1 and similarity -inf."""
        if len(queries) == 0 or len(self) == 0 or (subset is not None and len(subset) == 0):
            return (np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64))
        sel = None if subset is None else faiss.IDSelectorBatch(subset)
        sims, ids = self.faiss.search(np.ascontiguousarray(queries, np.float32), k,
                                      params=ann.search_params(self.faiss, sel))
        sims[ids < 0] = -np.inf
        return sims, ids

    def _derive(self, name: str, compute: Callable[[], object]):
        """compute() once per state of the entries (every photo asks; a big gallery has millions of entries). Ids
        are never reused, so (next_id, count) changes with every add and every removal."""
        state = (self.next_id, len(self.entries))
        if self._derived.get(name, (None,))[0] != state:
            self._derived[name] = (state, compute())
        return self._derived[name][1]

    def brand_views(self) -> np.ndarray:
        """Ids of the entries that stand for a brand in retrieval: its logo views, or its product photos when it
        has no logo. Whole product photos match on background, not on the logo, so logos come first."""
        def compute():
            with_logo = {e.brand for e in self.entries.values() if e.kind == "logo"}
            return np.array(sorted(i for i, e in self.entries.items() if e.kind == "logo" or e.brand not in with_logo),
                            dtype=np.int64)
        return self._derive("brand_views", compute)

    def product_views(self) -> tuple[np.ndarray, int]:
        """(ids of the product-photo entries, views per product photo: at least 1)."""
        def compute():
            ids = np.array(sorted(i for i, e in self.entries.items() if e.kind == "product"), np.int64)
            photos = {(self.entries[int(i)].brand, self.entries[int(i)].file) for i in ids}
            return ids, max(1, len(ids) // max(1, len(photos)))
        return self._derive("product_views", compute)

    def keys(self) -> set[tuple[str, str]]:
        """(brand, reference sha256) pairs present."""
        return {(e.brand, e.sha256) for e in self.entries.values()}


def reference_views(image_rgba: np.ndarray, kind: str) -> list[tuple[str, np.ndarray]]:
    """The crops a reference contributes: (view name, RGB uint8). Logos also contribute their ink in both
    polarities, because a printed logo takes the product's colours, not the brand's. Product photos also
    contribute crops of 60% and 45% of their size (corners, centre), so that a listing showing a crop of one finds
    it (vision.reuse)."""
    rgb = flatten_rgba(image_rgba)
    views = [("image", rgb)]
    if kind == "product":
        h, w = rgb.shape[:2]
        for f in (0.6, 0.45):
            ch, cw = round(f * h), round(f * w)
            for name, (y, x) in {"tl": (0, 0), "tr": (0, w - cw), "bl": (h - ch, 0), "br": (h - ch, w - cw),
                                 "c": ((h - ch) // 2, (w - cw) // 2)}.items():
                views.append((f"crop{round(100 * f)}-{name}", rgb[y:y + ch, x:x + cw]))
    if kind == "logo":
        ink = _ink_mask(image_rgba)
        if ink is not None:
            dark = (255 - 235 * ink[..., None]).astype(np.uint8).repeat(3, axis=2)
            views += [("dark-on-light", dark), ("light-on-dark", (255 - dark).astype(np.uint8))]
        # a listing's logo box has a margin and the print is turned a little: views with both raised unseen-brand
        # recall@1 from 0.958 to 0.986 (benchmarks/embedder.py)
        views += [(f"{name}-pad", _pad(v, 0.15)) for name, v in views[:3]] + [
            (f"{name}-rot{deg}", _rotate(v, deg)) for name, v in views[:3] for deg in (-10, 10)]
    return views


def _pad(rgb: np.ndarray, frac: float) -> np.ndarray:
    p = int(frac * max(rgb.shape[:2]))
    return cv2.copyMakeBorder(rgb, p, p, p, p, cv2.BORDER_REPLICATE)


def _rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _ink_mask(rgba: np.ndarray) -> np.ndarray | None:
    """The logo's ink coverage, or None when it is no usable mask (blank, or nearly all ink)."""
    ink = ink_mask(rgba)
    return ink if 0.005 < ink.mean() < 0.9 else None


def _preprocessing(embedder: Embedder) -> dict:
    m = embedder.manifest
    return {"input_size": m.input_size, "mean": list(m.mean), "std": list(m.std), "resize": m.resize,
            "pooling": m.pooling}


def sync_index(gallery: Gallery, embedder: Embedder, index: RefIndex | None = None,
               progress: Callable[[int, int], None] | None = None, kind: str | None = None) -> RefIndex:
    """Bring `index` (or a new one) in line with the gallery: embed references it lacks, drop entries whose
    reference is gone. Returns the index (changed in place when given). `progress(done, total)` is called per
    reference embedded. A new index is of type `kind` (vision.ann), or chosen by size when None. An index made
    with another version of reference_views is replaced by a new one of its type."""
    if index is not None and index.embedder_id != embedder.manifest.id:
        raise IndexMismatchError(f"index was built by {index.embedder_id}, not {embedder.manifest.id}")
    if index is not None and index.views != VIEWS:
        logger.warning("index: made with version %s of the reference views, not %s; re-embedding every reference",
                       index.views, VIEWS)
        index = RefIndex(embedder.manifest.id, embedder.dim, _preprocessing(embedder),
                         None if index.auto else index.kind, index.params)
    if index is None:
        index = RefIndex(embedder.manifest.id, embedder.dim, _preprocessing(embedder), kind)
    wanted = {}
    for brand in gallery.brands():
        for ref in brand.references:
            wanted[(brand.slug, ref.sha256)] = (brand.slug, ref)
    stale = [i for i, e in index.entries.items() if (e.brand, e.sha256) not in wanted]
    if stale:
        logger.info("index: removing %d vectors of deleted references", index.remove(stale))
    have = index.keys()
    todo = [v for k, v in wanted.items() if k not in have]
    vectors, entries = [], []
    for n, (slug, ref) in enumerate(todo):
        image = load_image(gallery.ref_path(slug, ref), keep_alpha=True)
        views = reference_views(image, ref.kind)
        vectors.append(embed(embedder, [v for _, v in views]))
        entries += [Entry(slug, ref.file, ref.kind, ref.sha256, name) for name, _ in views]
        if progress:
            progress(n + 1, len(todo))
    if todo:  # one add: an IVF index trains on everything it is first given
        index.add(np.concatenate(vectors), entries)
        logger.info("index: embedded %d new references", len(todo))
    return index


def refresh_index(gallery: Gallery, embedder: Embedder, rebuild: bool = False,
                  progress: Callable[[int, int], None] | None = None, kind: str | None = None) -> RefIndex:
    """Under the gallery's lock: load the stored index (or start afresh with `rebuild`, of type `kind` or chosen
    by size), sync it with the gallery and save it. Returns the saved index. `progress(done, total)` as in
    sync_index."""
    with gallery.locked():
        index = None if rebuild else load_index(gallery, embedder)
        index = sync_index(gallery, embedder, index, progress, kind)
        save_index(index, gallery)
    logger.info("index: %d vectors, type %s%s", len(index), index.kind, " (automatic)" if index.auto else "")
    return index


def index_folder(gallery: Gallery, embedder_id: str) -> Path:
    """Where the index of embedder `embedder_id` ("name@hash") lives: .index/ for the name that built the gallery's
    first index (so new weights of that name replace it), .index/models/<name>/ for any other. A gallery keeps one
    index per embedder: checking with a faster model neither refuses nor replaces the default model's index."""
    root = gallery.root / INDEX_DIR
    name = embedder_id.split("@")[0]
    try:
        first = json.loads((root / SIDECAR).read_text(encoding="utf-8"))["embedder"].split("@")[0]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        first = None  # none yet, or unreadable: load_index reports that one
    return root if first in (None, name) else root / MODELS_DIR / re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def save_index(index: RefIndex, gallery: Gallery) -> None:
    """Write the index beside the gallery (FAISS file first, then the sidecar, atomically) in its index_folder.
    Caller holds the lock."""
    folder = index_folder(gallery, index.embedder_id)
    data = faiss.serialize_index(index.faiss).tobytes()
    digest = sha256_bytes(data)
    name = f"vectors-{digest[:16]}.faiss"
    atomic_write_bytes(folder / name, data)
    atomic_write_json(folder / SIDECAR, {
        "format": FORMAT, "views": index.views, "type": index.kind, "auto": index.auto,
        "params": index.params.to_json(),
        "embedder": index.embedder_id, "dim": index.dim,
        "preprocessing": index.preprocessing, "faiss_file": name, "faiss_sha256": digest,
        "next_id": index.next_id, "entries": {str(i): asdict(e) for i, e in sorted(index.entries.items())}})
    for old in folder.glob("vectors-*.faiss"):
        if old.name != name:
            old.unlink(missing_ok=True)


def load_index(gallery: Gallery, embedder: Embedder | None = None) -> RefIndex | None:
    """The stored index (of `embedder`, in its index_folder; without, the first one), or None if there is none yet.
    An index of the embedder's name but other weights is refused (IndexMismatchError); a corrupt one raises
    GalleryError."""
    folder = index_folder(gallery, embedder.manifest.id) if embedder is not None else gallery.root / INDEX_DIR
    sidecar = folder / SIDECAR
    if not sidecar.is_file():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        data = (folder / Path(meta["faiss_file"]).name).read_bytes()
        if sha256_bytes(data) != meta["faiss_sha256"]:
            raise ValueError("FAISS file does not match the sidecar's sha256")
        kind = {"flat-ip": "flat"}.get(meta.get("type"), meta.get("type", "flat"))  # "flat-ip": before ann.TYPES
        if kind not in ann.TYPES:
            raise ValueError(f"unknown index type {kind!r}")
        index = RefIndex(str(meta["embedder"]), int(meta["dim"]), dict(meta["preprocessing"]),
                         None if meta.get("auto", True) else kind, ann.AnnParams(**meta.get("params", {})))
        index.kind = kind
        index.faiss = faiss.deserialize_index(np.frombuffer(data, np.uint8))
        index.entries = {int(i): Entry(**e) for i, e in meta["entries"].items()}
        index.next_id = int(meta["next_id"])
        index.views = int(meta.get("views", 1))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise GalleryError(f"index in {folder} is unreadable ({e}); rebuild it with `authcheck index build`") from None
    if index.faiss.ntotal != len(index.entries) or index.faiss.d != index.dim:
        raise GalleryError(f"index in {folder} disagrees with its sidecar; rebuild it with `authcheck index build`")
    if embedder is not None and index.embedder_id != embedder.manifest.id:
        raise IndexMismatchError(
            f"the index in {folder} was built by embedder {index.embedder_id}, but the loaded embedder is "
            f"{embedder.manifest.id}; rebuild it with `authcheck index build` (or choose the matching --model)")
    return index


def verify_index(gallery: Gallery, index: RefIndex | None) -> list[str]:
    """Problems between the gallery's manifests and the index: missing index, unindexed or orphaned references."""
    if index is None:
        return ["gallery has no index; build it with `authcheck index build`"]
    if index.views != VIEWS:
        return [f"index was made with version {index.views} of the reference views, not {VIEWS}; "
                f"update it with `authcheck index build`"]
    wanted = {(b.slug, r.sha256): f"{b.slug}/{r.file}" for b in gallery.brands() for r in b.references}
    have = index.keys()
    problems = [f"{path}: not in the index" for key, path in sorted(wanted.items()) if key not in have]
    problems += [f"index holds {e.brand}/{e.file}, which the gallery no longer lists"
                 for e in {e for e in index.entries.values() if (e.brand, e.sha256) not in wanted}]
    return problems


__all__ = ["Entry", "RefIndex", "index_folder", "load_index", "save_index", "sync_index", "verify_index",
           "GalleryError"]
