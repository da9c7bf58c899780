"""Real-photo benchmark: register the brands of a real-photo set (e.g. ../shared/real-dev, FlickrLogos-27 photos)
from their clean references, scan its listings through the same code path as `authcheck scan`, and print the set's
own score.py figures (overall, per brand, per kind of unbranded photo) for its `report` split (the half not tuned
on), its `tune` split and all photos, then a per-stage diagnosis of the genuine photos:

    python benchmarks/real.py [--data ../shared/real-dev] [--workers 2] [--out benchmarks/out]

Diagnosis, per split: did a candidate region cover the labelled logo box (IoU >= 0.5, or the box holds the logo
with at most 4x its area), was the brand among the record's top-5 candidates / first, did its logo align, was it
named by reading its name (check.read_names) or by its local features (check.find_by_keypoints), what the records
say when flagged or missed.
The photos never leave the data folder (they carry no redistribution licence).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vision.candidates import find_candidates  # noqa: E402
from vision.check import open_context  # noqa: E402
from vision.gallery import Gallery, add_references  # noqa: E402
from vision.load import load_image  # noqa: E402
from vision.scan import scan  # noqa: E402


def build_gallery(root: Path, data: Path, brands: list[str]) -> None:
    """One brand per registered brand of the set, its references/<brand>/logo*.png as logos."""
    g = Gallery(root)
    for b in brands:
        files = sorted((data / "references" / b).glob("logo*.png"))
        add_references(g, b, files, kind="logo")


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _covers(cand, box) -> bool:
    """`cand` holds the logo `box`, with at most 4x its area, or overlaps it closely."""
    inside = cand[0] <= box[0] and cand[1] <= box[1] and cand[2] >= box[2] and cand[3] >= box[3]
    area = lambda b: max(1, (b[2] - b[0]) * (b[3] - b[1]))  # noqa: E731
    return _iou(cand, box) >= 0.5 or (inside and area(cand) <= 4 * area(box))


def _reason_kind(reason: str) -> str:
    """What a flagged record's first reason says, without its numbers and brand names."""
    for words, kind in (("could not be aligned", "looks like the brand, could not be aligned"),
                        ("only partly matches", "resembles the brand, fits only partly"),
                        ("overlaps its aligned reference only", "aligned, overlap under its threshold"),
                        ("area differs", "aligned, a region differs"), ("thicker", "aligned, strokes thicker"),
                        ("thinner", "aligned, strokes thinner"), ("part", "aligned, a part differs or moved"),
                        ("mirrored", "mirrored"), ("wordmark", "wordmark reads otherwise"), ("colour", "colour")):
        if words in reason:
            return kind
    return reason[:60]


def diagnose(labels: list[dict], rows: dict[str, dict], data: Path) -> dict:
    """Per-stage figures of genuine photos (see the module docstring)."""
    gen = [lab for lab in labels if lab["label"] == "genuine"]
    boxed = [lab for lab in gen if lab.get("boxes")]
    covered = 0
    for lab in boxed:
        cands = find_candidates(load_image(data / "listings" / lab["file"]))
        covered += any(_covers(c, b) for b in lab["boxes"] for c in cands)
    top1 = top5 = aligned = unverified = by_name = by_features = 0
    flagged, missed = Counter(), Counter()
    for lab in gen:
        row = rows.get(lab["file"], {})
        names = [c["brand"] for c in row.get("candidates") or []]
        top1 += bool(names) and names[0] == lab["brand"]
        top5 += lab["brand"] in names
        aligned += row.get("brand") == lab["brand"] and bool((row.get("alignment") or {}).get("aligned"))
        unverified += row.get("verdict") == "unverified"
        by_name += row.get("brand") == lab["brand"] and any("reading its name" in r or r.startswith("the photo reads")
                                                              for r in row.get("reasons") or [])
        by_features += row.get("brand") == lab["brand"] and any("local features" in r for r in row.get("reasons") or [])
        if row.get("verdict") == "suspect":
            flagged[_reason_kind(row["reasons"][0])] += 1
        elif row.get("verdict") == "no_match":
            missed["brand in top-5" if lab["brand"] in names else "brand not in top-5"] += 1
    n = max(1, len(gen))
    return {"genuine": len(gen), "with_boxes": len(boxed),
            "candidate_on_logo": round(covered / max(1, len(boxed)), 3),
            "brand_first": round(top1 / n, 3), "brand_top5": round(top5 / n, 3),
            "right_brand_aligned": round(aligned / n, 3), "unverified": round(unverified / n, 3),
            "named_by_reading": round(by_name / n, 3), "named_by_local_features": round(by_features / n, 3),
            "flagged_reasons": dict(flagged.most_common()),
            "missed": dict(missed)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "real-dev")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = ap.parse_args()
    data = args.data.resolve()
    if not (data / "labels.json").is_file():
        raise SystemExit(f"no labels.json in {data}: give the real-photo set with --data")
    spec = json.loads((data / "labels.json").read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    rows_file = args.out / "real_rows.jsonl"
    rows_file.unlink(missing_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        build_gallery(Path(tmp) / "gallery", data, spec["brands"])
        ctx = open_context(Path(tmp) / "gallery")  # indexes and calibrates the brands, from their references only
        t_gallery = time.perf_counter() - t0
        marks: list[tuple[float, int]] = []  # (time, rows written): the steady rate is the second half's
        done = threading.Event()

        def count() -> None:
            while not done.wait(0.25):
                n = rows_file.read_bytes().count(b"\n") if rows_file.exists() else 0
                marks.append((time.perf_counter(), n))

        sampler = threading.Thread(target=count, daemon=True)
        sampler.start()
        summary = scan(ctx, data / "listings", rows_file, progress=True, workers=args.workers)
        done.set()
        sampler.join()
    rows = {Path(r["path"]).name: r for r in map(json.loads, rows_file.read_text().splitlines())}
    half = next((m for m in marks if m[1] >= summary.checked // 2), marks[0] if marks else (0.0, 0))
    last = marks[-1] if marks else half
    steady = (last[1] - half[1]) / (last[0] - half[0]) if last[0] > half[0] else float("nan")
    print(f"\n{len(spec['brands'])} brands registered and calibrated in {t_gallery:.0f} s; {summary.checked} photos "
          f"scanned in {summary.seconds:.0f} s with {args.workers} workers: {summary.checked / summary.seconds:.2f} "
          f"photos/s start-up included, {steady:.2f} photos/s steady (the second half)")
    figures = {"seconds_gallery": round(t_gallery, 1), "seconds_scan": round(summary.seconds, 1),
               "photos_per_s": round(summary.checked / summary.seconds, 2), "photos_per_s_steady": round(steady, 2),
               "workers": args.workers}
    for split in ("report", "tune", None):
        cmd = [sys.executable, str(data / "score.py"), str(rows_file), str(data / "labels.json")]
        out = subprocess.run(cmd + (["--split", split] if split else []), capture_output=True, text=True, check=True)
        print(f"\n==== split: {split or 'all'} ====")
        print("\n".join(out.stdout.splitlines()[:-1]))
        figures[split or "all"] = json.loads(out.stdout.splitlines()[-1])
        labels = [lab for lab in spec["labels"] if split is None or lab.get("split") == split]
        d = diagnose(labels, rows, data)
        figures[split or "all"]["diagnosis"] = d
        print(f"  diagnosis of {d['genuine']} genuine photos: a candidate region on the logo "
              f"{d['candidate_on_logo']:.3f} (of {d['with_boxes']} with boxes), brand first among candidates "
              f"{d['brand_first']:.3f}, in the top 5 {d['brand_top5']:.3f}, right brand aligned "
              f"{d['right_brand_aligned']:.3f}, named by reading its name {d['named_by_reading']:.3f}, by its local "
              f"features {d['named_by_local_features']:.3f}, unverified "
              f"{d['unverified']:.3f} (score.py counts the `unverified` verdict among its error rows)")
        print(f"  genuine called suspect, by first reason: {d['flagged_reasons']}")
        print(f"  genuine called no_match: {d['missed']}")
    (args.out / "real.json").write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
