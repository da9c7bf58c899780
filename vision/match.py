"""Stage: turn k-NN neighbours of the candidate regions into ranked brand hypotheses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .candidates import Box
from .index import Entry, RefIndex

__all__ = ["BrandHit", "match_brands"]


@dataclass(frozen=True)
class BrandHit:
    brand: str
    similarity: float  # best cosine similarity between any candidate region and any reference view of the brand
    entry: Entry  # the reference view that gave it
    box: Box  # the region that gave it (among pooled windows: the brand's best proposal, see match_brands)
    candidate: int  # index of that region in the candidate list
    boxes: tuple[Box, ...] = ()  # the brand's best regions, best first (where verification looks)


def match_brands(index: RefIndex, queries: np.ndarray, boxes: list[Box], k: int = 10,
                 boxes_per_brand: int = 3, windows_from: int | None = None,
                 proposal_margin: float = 0.1) -> list[BrandHit]:
    """queries (C, dim) embeddings of the C candidate `boxes` -> one hit per brand, best first ([] if none).
    Only each brand's logo views take part (see RefIndex.brand_views). Boxes from index `windows_from` on are grid
    windows pooled from the photo's feature map (embed.embed_windows): such a window saw the photo around it, so it
    can score highest while cutting the logo. A brand's regions then list its proposals first, including its best
    proposal within `proposal_margin` of its best similarity, then its windows."""
    subset = index.brand_views()
    sims, ids = index.search(queries, min(k, max(1, len(subset))), subset)
    per_brand: dict[str, list[tuple[float, int, Entry]]] = {}
    for c in range(sims.shape[0]):
        seen = set()
        for s, i in zip(sims[c], ids[c]):
            if i < 0:
                continue
            e = index.entries[int(i)]
            if e.brand not in seen:  # a region counts once per brand, with its best view
                seen.add(e.brand)
                per_brand.setdefault(e.brand, []).append((float(s), c, e))
    hits = []
    for brand, found in per_brand.items():
        found.sort(key=lambda t: -t[0])
        chosen = found[:boxes_per_brand]
        if windows_from is not None:
            proposal = next((t for t in found if t[1] < windows_from), None)
            if proposal is not None and proposal not in chosen and proposal[0] >= found[0][0] - proposal_margin:
                chosen.append(proposal)
            chosen.sort(key=lambda t: (t[1] >= windows_from, -t[0]))
        s, e = found[0][0], found[0][2]
        c = chosen[0][1]
        hits.append(BrandHit(brand, s, e, boxes[c], c, tuple(boxes[c2] for _, c2, _ in chosen)))
    return sorted(hits, key=lambda h: -h.similarity)
