"""Which FAISS index holds a gallery's vectors, chosen by size. All use inner product on L2-normalised vectors
(= cosine similarity) and keep caller-given int64 ids.

    flat   exact (IndexFlatIP); add and remove; the choice up to FLAT_MAX vectors
    ivf    inverted lists with exact vectors (IndexIVFFlat), `nprobe` lists searched; add and remove;
           the choice beyond FLAT_MAX (measured by benchmarks/scale.py: see the README)
    hnsw   graph (IndexHNSWFlat); add only, so a removal rebuilds the graph from the stored vectors
    ivfpq  inverted lists of PQ codes (IndexIVFPQ, `pq_m` bytes a vector); add and remove; for galleries that
           must fit in little memory, at a cost in recall
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import faiss
import numpy as np

__all__ = ["AnnParams", "choose", "supports_remove", "build", "vectors_of", "search_params"]

TYPES = ("flat", "ivf", "hnsw", "ivfpq")
FLAT_MAX = 100_000


@dataclass(frozen=True)
class AnnParams:
    nlist: int = 0  # inverted lists; 0 = 4·sqrt(n) of the vectors first added (at least 1)
    nprobe: int = 48  # lists searched per query (measured at 1M: recall@10 0.98, p50 0.6 ms; benchmarks/scale.py)
    hnsw_m: int = 32
    ef_construction: int = 64
    ef_search: int = 128
    pq_m: int = 32  # PQ sub-quantisers (bytes per vector); must divide the dim

    def to_json(self) -> dict:
        return asdict(self)


def choose(n: int) -> str:
    """The index type for `n` vectors when the user did not choose one."""
    return "flat" if n <= FLAT_MAX else "ivf"


def supports_remove(kind: str) -> bool:
    return kind != "hnsw"


def build(kind: str, vectors: np.ndarray, ids: np.ndarray, params: AnnParams = AnnParams()) -> faiss.Index:
    """A `kind` index holding `vectors` (N, dim) float32 under `ids` (N,) int64; IVF types are trained on (a sample
    of) these vectors, so give them all at once."""
    if kind not in TYPES:
        raise ValueError(f"unknown index type {kind!r}: use one of {', '.join(TYPES)}")
    n, dim = vectors.shape
    vectors = np.ascontiguousarray(vectors, np.float32)
    if kind == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    elif kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dim, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = params.ef_construction
        graph.hnsw.efSearch = params.ef_search
        index = faiss.IndexIDMap2(graph)
    else:
        nlist = max(1, min(params.nlist or round(4 * math.sqrt(n)), n))
        quantizer = faiss.IndexFlatIP(dim)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, params.pq_m, 8, faiss.METRIC_INNER_PRODUCT)
        index.own_fields = True
        quantizer.this.disown()  # the IVF index owns its quantizer now
        # k-means on ~40 points a list is as good as on all of them, and far cheaper
        sample = vectors if n <= 40 * nlist else vectors[np.random.default_rng(0).choice(n, 40 * nlist, False)]
        index.train(sample)
        index.nprobe = min(params.nprobe, nlist)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct by id, for conversions
    if n:
        index.add_with_ids(vectors, np.ascontiguousarray(ids, np.int64))
    return index


def vectors_of(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """All (vectors (N, dim) float32, ids (N,) int64) an index holds (PQ vectors come back decoded, lossy)."""
    if isinstance(index, faiss.IndexIDMap2):
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        return index.index.reconstruct_n(0, index.ntotal), ids
    ivf = faiss.extract_index_ivf(index)
    ids = []
    for lst in range(ivf.nlist):
        size = ivf.invlists.list_size(lst)
        if size:
            ids.append(faiss.rev_swig_ptr(ivf.invlists.get_ids(lst), size).copy())
    ids = np.concatenate(ids).astype(np.int64) if ids else np.zeros(0, np.int64)
    vecs = ivf.reconstruct_batch(ids) if len(ids) else np.zeros((0, ivf.d), np.float32)
    return vecs, ids


def search_params(index: faiss.Index, sel: faiss.IDSelector | None) -> faiss.SearchParameters | None:
    """Search parameters that keep the index's own nprobe / efSearch when a selector restricts the search."""
    if sel is None:
        return None
    inner = index.index if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(inner, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=sel, efSearch=inner.hnsw.efSearch)
    if isinstance(inner, faiss.IndexIVF):
        return faiss.SearchParametersIVF(sel=sel, nprobe=inner.nprobe)
    return faiss.SearchParameters(sel=sel)
