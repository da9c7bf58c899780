"""Index types against brute force on seeded clustered vectors: exact types are exact, approximate ones keep
recall; add/remove work for each; an automatic index changes type with size; the type survives save/load."""

from __future__ import annotations

import numpy as np
import pytest

from vision import ann
from vision.gallery import Gallery
from vision.index import Entry, RefIndex, load_index, save_index


def _clustered(rng, n, dim=64, centres=40):
    """Vectors around a few centres, like embeddings of a few brands' references: what ANN indexes are for."""
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    v = c[rng.integers(0, centres, n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _entries(n):
    return [Entry(f"b{i % 9}", f"logos/{i}.png", "logo", f"{i:064x}", "image") for i in range(n)]


def _recall(ids, truth):
    return np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids, truth)])


@pytest.mark.parametrize("kind,min_recall", [("flat", 1.0), ("ivf", 0.95), ("hnsw", 0.95), ("ivfpq", 0.5)])
def test_search_and_removal_against_brute_force(kind, min_recall):
    rng = np.random.default_rng(0)
    base, q = _clustered(rng, 3000), _clustered(rng, 50)
    idx = RefIndex("t@0", 64, {}, kind, ann.AnnParams(pq_m=16))
    idx.add(base[:2000], _entries(2000))
    idx.add(base[2000:], _entries(1000))  # a later add goes into the trained index
    assert idx.kind == kind and len(idx) == 3000
    removed = np.arange(0, 3000, 5)
    assert idx.remove(removed) == len(removed) and len(idx) == 2400
    kept = np.setdiff1d(np.arange(3000), removed)
    truth = kept[np.argsort(-(q @ base[kept].T), axis=1)[:, :10]]
    sims, ids = idx.search(q, 10)
    assert not np.isin(ids, removed).any()
    assert _recall(ids, truth) >= min_recall
    if kind == "flat":
        np.testing.assert_array_equal(ids, truth)
    subset = kept[kept % 2 == 0]
    _, ids = idx.search(q, 10, subset)
    assert np.isin(ids[ids >= 0], subset).all()


def test_automatic_index_becomes_ivf_when_large_and_round_trips(tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "FLAT_MAX", 1000)
    rng = np.random.default_rng(1)
    base, q = _clustered(rng, 2500), _clustered(rng, 20)
    idx = RefIndex("t@0", 64, {})
    idx.add(base[:800], _entries(800))
    assert idx.kind == "flat" and idx.auto
    idx.add(base[800:], _entries(1700))
    assert idx.kind == "ivf" and len(idx) == 2500
    g = Gallery(tmp_path / "g")
    (tmp_path / "g").mkdir()
    save_index(idx, g)
    back = load_index(g)
    assert back.kind == "ivf" and back.auto and len(back) == 2500 and back.next_id == 2500
    np.testing.assert_array_equal(back.search(q, 5)[1], idx.search(q, 5)[1])
    fixed = RefIndex("t@0", 64, {}, "hnsw")
    fixed.add(base[:50], _entries(50))
    save_index(fixed, g)
    back = load_index(g)
    assert back.kind == "hnsw" and not back.auto
