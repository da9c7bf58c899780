"""Index contract: FAISS search equals brute force; incremental changes equal a rebuild; the sidecar guards it."""

import json

import numpy as np
import pytest

from vision.embed import load_embedder
from vision.errors import GalleryError, IndexMismatchError
from vision.gallery import Gallery, add_references, remove_brand
from vision.index import (
    INDEX_DIR,
    MODELS_DIR,
    SIDECAR,
    VIEWS,
    Entry,
    RefIndex,
    index_folder,
    load_index,
    reference_views,
    save_index,
    sync_index,
    verify_index,
)


def _unit(rng, n, d):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _entries(n):
    return [Entry(f"b{i % 7}", f"logos/{i}.png", "logo" if i % 3 else "product", f"{i:064x}", "image")
            for i in range(n)]


def test_search_matches_brute_force():
    rng = np.random.default_rng(0)
    base, q = _unit(rng, 500, 64), _unit(rng, 20, 64)
    idx = RefIndex("test@0", 64, {})
    idx.add(base, _entries(500))
    sims, ids = idx.search(q, 10)
    brute = q @ base.T
    order = np.argsort(-brute, axis=1)[:, :10]
    np.testing.assert_array_equal(ids, order)
    np.testing.assert_allclose(sims, np.take_along_axis(brute, order, 1), atol=1e-5)


def test_subset_search_and_removal_match_brute_force():
    rng = np.random.default_rng(1)
    base, q = _unit(rng, 300, 32), _unit(rng, 5, 32)
    idx = RefIndex("test@0", 32, {})
    idx.add(base, _entries(300))
    removed = np.arange(0, 300, 4)
    assert np.isin(removed, idx.brand_views()).any()  # kept for the entries as they were ...
    products, views = idx.product_views()
    assert views == 1 and np.isin(removed, products).any()
    assert idx.remove(removed) == len(removed)
    subset = idx.brand_views()  # ... and derived again after the removal
    assert not np.isin(removed, subset).any() and not np.isin(removed, idx.product_views()[0]).any()
    assert all(idx.entries[i].kind == "logo" for i in subset)  # every brand here has logos
    sims, ids = idx.search(q, 8, subset)
    allowed = np.setdiff1d(subset, removed)
    brute = q @ base[allowed].T
    np.testing.assert_array_equal(ids, allowed[np.argsort(-brute, axis=1)[:, :8]])


def test_no_neighbour_values():
    idx = RefIndex("test@0", 8, {})
    sims, ids = idx.search(_unit(np.random.default_rng(2), 3, 8), 4)
    assert (ids == -1).all() and np.isneginf(sims).all()
    idx.add(_unit(np.random.default_rng(3), 2, 8), _entries(2)[:2])
    sims, ids = idx.search(_unit(np.random.default_rng(4), 1, 8), 4)
    assert (ids[0, 2:] == -1).all() and np.isneginf(sims[0, 2:]).all() and (ids[0, :2] >= 0).all()


def test_sync_incremental_equals_rebuild_and_roundtrip(tmp_path, logo_files, embedder):
    g = Gallery(tmp_path / "g")
    add_references(g, "nike", [logo_files["nike"]])
    add_references(g, "puma", [logo_files["puma"]])
    idx = sync_index(g, embedder)
    save_index(idx, g)
    add_references(g, "adidas", [logo_files["adidas"]])
    remove_brand(g, "nike")
    assert verify_index(g, load_index(g, embedder))  # stale now
    inc = sync_index(g, embedder, load_index(g, embedder))
    full = sync_index(g, embedder)
    assert verify_index(g, inc) == [] and inc.keys() == full.keys() and len(inc) == len(full)
    save_index(inc, g)
    back = load_index(g, embedder)
    assert back.entries == inc.entries
    q = embedder([np.full((50, 50, 3), 128, np.uint8)])
    np.testing.assert_allclose(back.search(q, 3)[0], inc.search(q, 3)[0], atol=1e-6)
    assert len(list((g.root / INDEX_DIR).glob("*.faiss"))) == 1  # old FAISS files are cleaned up


def test_logo_views_and_an_index_of_older_views_is_re_embedded(tmp_path, logo_files, embedder):
    from vision.load import load_image

    names = [n for n, _ in reference_views(load_image(logo_files["nike"], keep_alpha=True), "logo")]
    base = ["image", "dark-on-light", "light-on-dark"]
    assert names == base + [f"{b}-pad" for b in base] + [f"{b}-rot{d}" for b in base for d in (-10, 10)]
    g = Gallery(tmp_path / "g")
    add_references(g, "nike", [logo_files["nike"]])
    old = sync_index(g, embedder)
    old.views = VIEWS - 1  # as an index written before the margin and turned views
    save_index(old, g)
    stale = load_index(g, embedder)
    assert stale.views == VIEWS - 1 and "version" in verify_index(g, stale)[0]
    new = sync_index(g, embedder, stale)
    assert new.views == VIEWS and verify_index(g, new) == [] and len(new) == len(names)
    assert json.loads((save_index(new, g) or g.root / INDEX_DIR / SIDECAR).read_text())["views"] == VIEWS


def test_each_embedder_keeps_its_own_index_and_corruption_is_refused(gallery_copy, embedder):
    g = Gallery(gallery_copy)
    sidecar = g.root / INDEX_DIR / SIDECAR
    first = sidecar.read_bytes()
    other = load_embedder("logo_lite0_int8", threads=1)
    assert load_index(g, other) is None  # its own index is not built yet: the first is neither refused nor used
    with g.locked():
        save_index(sync_index(g, other), g)
    assert index_folder(g, other.manifest.id) == g.root / INDEX_DIR / MODELS_DIR / "logo_lite0_int8"
    own = load_index(g, other)
    assert own.embedder_id == other.manifest.id and verify_index(g, own) == []
    assert sidecar.read_bytes() == first and load_index(g, embedder).embedder_id == embedder.manifest.id
    meta = json.loads(first)
    meta["embedder"] = f"{embedder.manifest.name}@0123456789abcdef"  # the same name, other weights
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(IndexMismatchError, match=f"built by embedder {embedder.manifest.name}@0123"):
        load_index(g, embedder)
    sidecar.write_bytes(first)
    faiss_file = g.root / INDEX_DIR / meta["faiss_file"]
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    with pytest.raises(GalleryError, match="unreadable"):
        load_index(g, embedder)
