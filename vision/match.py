"""Stage: turn k-NN neighbours of the candidate regions into ranked brand hypotheses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .candidates import Box
from .index import Entry, RefIndex


@dataclass(frozen=True)
class BrandHit:
    brand: str
    similarity: float  # best cosine similarity between any candidate region and any reference view of the brand
    entry: Entry  # the reference view that gave it
    box: Box  # the candidate region that gave it
    candidate: int  # index of that region in the candidate list


def match_brands(index: RefIndex, queries: np.ndarray, boxes: list[Box], k: int = 10) -> list[BrandHit]:
    """queries (C, dim) embeddings of the C candidate `boxes` -> one hit per brand, best first ([] if none).
    Only each brand's logo views take part (see RefIndex.brand_views)."""
    subset = index.brand_views()
    sims, ids = index.search(queries, min(k, max(1, len(subset))), subset)
    best: dict[str, BrandHit] = {}
    for c in range(sims.shape[0]):
        for s, i in zip(sims[c], ids[c]):
            if i < 0:
                continue
            e = index.entries[int(i)]
            if e.brand not in best or s > best[e.brand].similarity:
                best[e.brand] = BrandHit(e.brand, float(s), e, boxes[c], c)
    return sorted(best.values(), key=lambda h: -h.similarity)
