"""Embedder benchmark: retrieval of the right brand from one reference logo per brand, under the accuracy
benchmark's photography, for each shipped embedder (ImageNet baseline, trained fp32, trained int8).

The gallery holds every brand of vision.train.brands.BRANDS (seen and unseen), one logo each, in the index's
three views.
Queries are generated listing photos of the unseen (eval) brands, and for reference of the seen ones:
  * crop: the logo's true box with a margin (the embedder alone);
  * photo: the whole photo through the check path's candidates + k-NN (check.embed_regions, match_brands): crops,
    or grid windows pooled from one pass of the trunk where the model has a window grid.
A third set, "altered", photographs unseen brands' logos altered by a random geometric counterfeit family
(vision.train.forge: a part moved, scaled, turned or missing, mirrored, strokes, local warp, a part recoloured,
lookalike): retrieval must still name the imitated brand, or verification never compares the knock-off with it.
Prints recall@1 and recall@5 of the brand for each model.

    python benchmarks/embedder.py [--photos 6] [--models efficientnet_lite0_imagenet logo_lite0 logo_lite0_int8]
    (a model is a name in weights/ or a manifest's path)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vision import synth  # noqa: E402
from vision.candidates import CandidateConfig  # noqa: E402
from vision.check import embed_regions  # noqa: E402
from vision.embed import WEIGHTS_DIR, embed, load_embedder  # noqa: E402
from vision.index import Entry, RefIndex, reference_views  # noqa: E402
from vision.match import match_brands  # noqa: E402
from vision.train import forge  # noqa: E402
from vision.train.brands import BRANDS, EVAL_BRANDS, TRAIN_BRANDS  # noqa: E402


def queries(brands: list[str], per_brand: int, seed: int,
            altered: bool = False) -> list[tuple[str, np.ndarray, tuple[int, int, int, int]]]:
    rng = np.random.default_rng(seed)
    out = []
    for slug in brands:
        genuine = synth.render_logo(slug, 256, color=synth.print_color(slug))
        for _ in range(per_brand):
            p = synth.photograph(forge.alter(genuine, rng) if altered else genuine, rng)
            q = p.quad
            pad = 0.1 * (q.max(0) - q.min(0))
            h, w = p.image.shape[:2]
            box = (int(max(0, q[:, 0].min() - pad[0])), int(max(0, q[:, 1].min() - pad[1])),
                   int(min(w, q[:, 0].max() + pad[0] + 1)), int(min(h, q[:, 1].max() + pad[1] + 1)))
            out.append((slug, p.image, box))
    return out


def build_index(embedder) -> RefIndex:
    index = RefIndex(embedder.manifest.id, embedder.dim, {})
    crops, entries = [], []
    for slug in BRANDS:
        rgba = synth.render_logo(slug, 256, color=synth.print_color(slug))
        for view, rgb in reference_views(rgba, "logo"):
            crops.append(rgb)
            entries.append(Entry(slug, "logo.png", "logo", "-", view))
    index.add(embed(embedder, crops), entries)
    return index


def ranked_brands(index: RefIndex, vectors: np.ndarray, boxes) -> list[str]:
    return [h.brand for h in match_brands(index, vectors, boxes, 10)]


def evaluate(model: str, qs, threads: int) -> dict:
    embedder = load_embedder(model, threads=threads)
    t0 = time.perf_counter()
    index = build_index(embedder)
    res = {"crop": [], "photo": []}
    for slug, image, box in qs:
        boxes, vectors, _, _ = embed_regions(embedder, image, CandidateConfig())
        crop = embed(embedder, [image[box[1]:box[3], box[0]:box[2]]])
        for how, ranking in (("crop", ranked_brands(index, crop, [box])),
                             ("photo", ranked_brands(index, vectors, boxes))):
            res[how].append(ranking.index(slug) if slug in ranking else 99)
    out = {"seconds": round(time.perf_counter() - t0, 1), "dim": embedder.dim,
           "input_size": embedder.manifest.input_size}
    for how, ranks in res.items():
        r = np.asarray(ranks)
        out[how] = {"recall@1": float(np.mean(r < 1)), "recall@5": float(np.mean(r < 5))}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=6, help="photos per brand")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--models", nargs="+", default=[m for m in ("efficientnet_lite0_imagenet", "logo_lite0",
                                                               "logo_lite0_int8")
                                                   if (WEIGHTS_DIR / f"{m}.json").is_file()])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "embedder.json")
    args = ap.parse_args()
    sets = {"unseen": queries(EVAL_BRANDS, args.photos, args.seed),
            "seen": queries(TRAIN_BRANDS[::3], args.photos, args.seed + 1),
            "altered": queries(EVAL_BRANDS, args.photos, args.seed + 2, altered=True)}
    report = {}
    for model in args.models:
        report[model] = {name: evaluate(model, qs, args.threads) for name, qs in sets.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"{len(BRANDS)} brands in the gallery; {args.photos} photos per brand; "
          f"unseen = {len(EVAL_BRANDS)} eval brands, seen = {len(TRAIN_BRANDS[::3])} train brands, "
          f"altered = the eval brands' logos altered by a counterfeit family")
    print(f"{'model':30s}{'set':>8s}{'crop R@1':>10s}{'crop R@5':>10s}{'photo R@1':>11s}{'photo R@5':>11s}")
    for model, sets_ in report.items():
        for name, r in sets_.items():
            print(f"{model:30s}{name:>8s}{r['crop']['recall@1']:10.3f}{r['crop']['recall@5']:10.3f}"
                  f"{r['photo']['recall@1']:11.3f}{r['photo']['recall@5']:11.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
