"""Accuracy benchmark: build a gallery of real brand logos, scan generated listings through the same code path as
`authcheck scan`, and print brand top-1, counterfeit ROC-AUC of `risk`, TPR at 1%/2% false flags, the flagged rate
of genuine listings, per-family TPR and the unbranded no_match rate, for seen and unseen brands separately.

    python benchmarks/accuracy.py            # full run (about 14 minutes on 2 cores)
    python benchmarks/accuracy.py --quick    # a smaller set, for iterating
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from dataset import generate, logo, registered_brands  # noqa: E402

from vision import synth  # noqa: E402
from vision.check import open_context  # noqa: E402
from vision.gallery import Gallery, add_references  # noqa: E402
from vision.scan import scan  # noqa: E402
from vision.train.brands import WORDMARKS  # noqa: E402


def build_gallery(root: Path, brands: list[str]) -> None:
    g = Gallery(root)
    with tempfile.TemporaryDirectory() as tmp:
        for slug in brands:
            f = Path(tmp) / f"{slug}.png"
            Image.fromarray(logo(slug), "RGBA").save(f)
            add_references(g, slug, [f], kind="logo", name=synth.brand_icon(slug).title,
                           wordmark=WORDMARKS.get(slug), colors=[synth.print_color(slug)])


def auc(pos: list[float], neg: list[float]) -> float:
    """ROC-AUC by ranks (ties count half)."""
    if not pos or not neg:
        return float("nan")
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def tpr_at(pos: list[float], neg: list[float], fpr: float) -> float:
    if not pos or not neg:
        return float("nan")
    thr = np.quantile(np.asarray(neg), 1.0 - fpr, method="higher")
    return float(np.mean(np.asarray(pos) > thr))


def top1(pairs: list[tuple[dict, dict]]) -> float:
    return float(np.mean([r["brand"] == lab["brand"] for r, lab in pairs])) if pairs else float("nan")


def metrics(rows: list[dict], labels: dict[str, dict]) -> dict:
    out = {}
    for part in ("train", "eval"):
        rs = [(r, labels[r["_name"]]) for r in rows if labels[r["_name"]]["split"] == part]
        branded = [(r, lab) for r, lab in rs if lab["kind"] in ("genuine", "counterfeit")]
        gen = [r for r, lab in rs if lab["kind"] == "genuine"]
        fake = [(r, lab) for r, lab in rs if lab["kind"] == "counterfeit"]
        risk = lambda r: r["risk"] if r["risk"] is not None else 1.0
        pos, neg = [risk(r) for r, _ in fake], [risk(r) for r in gen]
        fam = defaultdict(list)
        for r, lab in fake:
            fam[lab["family"]].append(r["verdict"] == "suspect")
        out[part] = {
            "listings": len(rs),
            "brand_top1": top1(branded),
            # a counterfeit that no longer aligns is often no_match: the genuine listings' figure shows what the
            # brand search itself reaches
            "brand_top1_genuine": top1([(r, lab) for r, lab in branded if lab["kind"] == "genuine"]),
            "brand_top1_counterfeit": top1(fake),
            "auc": auc(pos, neg), "tpr_at_1pct": tpr_at(pos, neg, 0.01), "tpr_at_2pct": tpr_at(pos, neg, 0.02),
            "genuine_flagged": float(np.mean([r["verdict"] == "suspect" for r in gen])) if gen else float("nan"),
            "genuine_consistent": float(np.mean([r["verdict"] == "consistent" for r in gen])) if gen else float("nan"),
            "genuine_unaligned": float(np.mean([not (r.get("alignment") or {}).get("aligned") for r in gen]))
            if gen else float("nan"),
            "family_tpr": {k: float(np.mean(v)) for k, v in sorted(fam.items())},
        }
    unb = [r for r in rows if labels[r["_name"]]["kind"] == "unbranded"]
    out["unbranded_no_match"] = float(np.mean([r["verdict"] == "no_match" for r in unb])) if unb else float("nan")
    out["unbranded_by_family"] = {
        f: float(np.mean([r["verdict"] == "no_match" for r in unb if labels[r["_name"]]["family"] == f]))
        for f in ("plain", "unregistered") if any(labels[r["_name"]]["family"] == f for r in unb)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="8+8 brands, 2 genuine each")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = ap.parse_args()
    n_seen, n_unseen, n_gen, n_plain, n_unreg = (8, 8, 2, 10, 10) if args.quick else (20, 20, 4, 30, 30)
    brands = registered_brands(n_seen, n_unseen)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_gallery(tmp / "gallery", brands)
        labels = {}
        photos = tmp / "listings"
        photos.mkdir()
        for item in generate(brands, n_gen, n_plain, n_unreg, seed=args.seed):
            synth.save_rgb(photos / f"{item.name}.png", item.image)
            labels[item.name] = {"kind": item.kind, "brand": item.brand, "family": item.family, "split": item.split}
        t_gen = time.perf_counter() - t0
        ctx = open_context(tmp / "gallery", threads=0)
        t_idx = time.perf_counter() - t0 - t_gen
        rows_file = args.out / "accuracy_rows.jsonl"
        rows_file.unlink(missing_ok=True)
        scan(ctx, photos, rows_file, progress=True)
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    for r in rows:
        r["_name"] = Path(r["path"]).stem
    m = metrics(rows, labels)
    elapsed = time.perf_counter() - t0
    m.update({"brands_registered": len(brands), "listings": len(rows), "seconds_total": round(elapsed, 1),
              "seconds_per_listing": round(sum(r["seconds"] or 0 for r in rows) / max(1, len(rows)), 3),
              "seconds_generate": round(t_gen, 1), "seconds_index": round(t_idx, 1), "quick": args.quick})
    (args.out / "accuracy.json").write_text(json.dumps(m, indent=2))
    print(f"\n{len(brands)} registered brands ({n_seen} seen, {n_unseen} unseen), {len(rows)} listings, "
          f"{elapsed:.0f} s ({m['seconds_per_listing']:.2f} s per listing)")
    print(f"{'':24s}{'seen':>10s}{'unseen':>10s}")
    for key in ("brand_top1", "brand_top1_genuine", "brand_top1_counterfeit", "auc", "tpr_at_1pct", "tpr_at_2pct",
                "genuine_flagged", "genuine_consistent", "genuine_unaligned"):
        print(f"{key:24s}{m['train'][key]:10.3f}{m['eval'][key]:10.3f}")
    print("per-family TPR (verdict suspect):")
    for fam in sorted(set(m["train"]["family_tpr"]) | set(m["eval"]["family_tpr"])):
        a, b = m["train"]["family_tpr"].get(fam, float("nan")), m["eval"]["family_tpr"].get(fam, float("nan"))
        print(f"  {fam:20s}{a:10.3f}{b:10.3f}")
    print(f"unbranded no_match rate: {m['unbranded_no_match']:.3f} {m['unbranded_by_family']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
