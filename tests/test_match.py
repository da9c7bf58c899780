"""match_brands: k-NN neighbours of candidate regions -> brand hypotheses, on a real FAISS index."""

import numpy as np

from vision.index import Entry, RefIndex
from vision.match import match_brands


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _setup():
    rng = np.random.default_rng(0)
    refs = _unit(rng.normal(size=(2, 32)))  # brand a, brand b: one logo view each
    index = RefIndex("test@0", 32, {})
    index.add(refs, [Entry(b, "logos/x.png", "logo", "0" * 64, "image") for b in "ab"])
    g = rng.normal(size=32)
    other = _unit(g - refs[0] * (g @ refs[0]))  # orthogonal to brand a

    def near(sim):  # a region whose cosine to brand a is `sim`
        return _unit(sim * refs[0] + np.sqrt(1 - sim ** 2) * other)

    return index, near


def test_regions_rank_by_similarity_and_a_brand_keeps_its_best_three():
    index, near = _setup()
    sims = [0.80, 0.70, 0.95, 0.90, 0.85]
    boxes = [(i, 0, i + 10, 10) for i in range(5)]
    hit = next(h for h in match_brands(index, np.stack([near(s) for s in sims]), boxes) if h.brand == "a")
    assert abs(hit.similarity - 0.95) < 1e-4 and hit.box == boxes[2] and hit.candidate == 2
    assert hit.boxes == (boxes[2], boxes[3], boxes[4])


def test_pooled_windows_come_after_the_brands_best_proposal_within_the_margin():
    index, near = _setup()
    # regions 0-1 are proposals, 2-4 grid windows (which saw the photo around them and may cut the logo)
    sims = [0.80, 0.70, 0.95, 0.90, 0.85]
    boxes = [(i, 0, i + 10, 10) for i in range(5)]
    q = np.stack([near(s) for s in sims])
    hit = next(h for h in match_brands(index, q, boxes, windows_from=2, proposal_margin=0.2) if h.brand == "a")
    assert abs(hit.similarity - 0.95) < 1e-4  # the brand's similarity is still its best region's
    assert hit.boxes == (boxes[0], boxes[2], boxes[3], boxes[4]) and hit.box == boxes[0] and hit.candidate == 0
    far = next(h for h in match_brands(index, q, boxes, windows_from=2, proposal_margin=0.1) if h.brand == "a")
    assert far.boxes == (boxes[2], boxes[3], boxes[4])  # a proposal 0.15 below the best window is not worth it
    mixed = np.stack([near(s) for s in [0.80, 0.97, 0.95, 0.90, 0.85]])
    hit = next(h for h in match_brands(index, mixed, boxes, windows_from=2) if h.brand == "a")
    assert hit.boxes == (boxes[1], boxes[2], boxes[3])  # a proposal among the best three leads them
