"""Onboarding benchmark: brands registered from the logo files they have, not from neat drawings.

Each brand's logo (the icon set's drawing, in its print colour) is made into the kind of file a marketing folder
holds: on a white, coloured, gradient or photo background, some with the brand's name set beside the mark (a
lock-up), 300 to 6000 px, as JPEG, CMYK JPEG, palette PNG or SVG. They are registered (`gallery add`: extraction),
indexed and calibrated from scratch, timed, with peak memory; then calibration is run again from nothing and
SIGKILLed at random moments (`--kills` times) to check that every rerun resumes and ends with the calibration of
the uninterrupted run; then listings made from the clean drawings (benchmarks/dataset.py) are scanned against this
gallery and against one registered from the clean drawings, and brand top-1 and counterfeit AUC compared:

    python benchmarks/onboarding.py [--brands 50] [--kills 10] [--seed 0] [--out benchmarks/out]
    python benchmarks/onboarding.py --quick      # 12 brands, 3 kills
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from accuracy import auc, build_gallery, top1  # noqa: E402
from dataset import generate, registered_brands  # noqa: E402

from vision import synth  # noqa: E402
from vision.calibrate import CALIBRATION, CalibrationConfig, calibrate_gallery  # noqa: E402
from vision.check import CheckConfig, open_context  # noqa: E402
from vision.embed import load_embedder  # noqa: E402
from vision.gallery import Gallery, add_references  # noqa: E402
from vision.index import refresh_index  # noqa: E402
from vision.scan import scan  # noqa: E402
from vision.train.brands import WORDMARKS  # noqa: E402
from vision.train.forge import render_text  # noqa: E402

BACKGROUNDS = ("white", "colour", "gradient", "photo")
FORMATS = ("jpeg", "cmyk", "palette", "jpeg", "svg")


def _luma(rgb) -> float:
    return float(np.dot(rgb, [0.299, 0.587, 0.114]))


def _contrasting(rng: np.random.Generator, ink: np.ndarray) -> np.ndarray:
    """A background colour at least 90 grey levels from the ink."""
    while True:
        c = rng.integers(0, 256, 3).astype(np.float32)
        if abs(_luma(c) - _luma(ink)) >= 90:
            return c


def messy_file(slug: str, i: int, rng: np.random.Generator, folder: Path) -> tuple[Path, dict]:
    """Brand `slug`'s logo file as a marketing folder has it -> (path, what it is)."""
    icon = synth.brand_icon(slug)
    colour = synth.print_color(slug)
    fmt = FORMATS[i % len(FORMATS)]
    if fmt == "svg":  # the vector master: the icon's path in the brand's print colour, no background
        path = folder / f"{slug}.svg"
        path.write_text(icon.svg.replace("<svg ", f'<svg fill="{colour}" ', 1), encoding="utf-8")
        return path, {"format": "svg", "background": "transparent", "lockup": False, "side": None}
    side = int(np.exp(rng.uniform(np.log(300), np.log(6000))))
    lockup = i % 3 == 0
    mark = synth.render_logo(slug, 512, color=colour, margin=0.0)
    ink = np.asarray(synth.hex_to_rgb(colour), np.float32)
    if lockup:  # the name set beside the mark, a third of its width away
        text = render_text(icon.title, int(mark.shape[0] * 0.45), tuple(int(v) for v in ink))
        gap = mark.shape[1] // 3
        art = np.zeros((max(mark.shape[0], text.shape[0]), mark.shape[1] + gap + text.shape[1], 4), np.uint8)
        art[:mark.shape[0], :mark.shape[1]] = mark
        y = (art.shape[0] - text.shape[0]) // 2
        art[y:y + text.shape[0], mark.shape[1] + gap:] = text
    else:
        art = mark
    fill = rng.uniform(0.35, 0.7)  # the art's share of the canvas's longest side
    scale = fill * side / max(art.shape[:2])
    art = cv2.resize(art, (max(1, round(art.shape[1] * scale)), max(1, round(art.shape[0] * scale))),
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    h = max(art.shape[0] + 8, int(side * (0.6 if lockup else 0.8)))
    w = max(art.shape[1] + 8, side)
    background = BACKGROUNDS[i % len(BACKGROUNDS)]
    if background == "white":
        canvas = np.full((h, w, 3), 255, np.float32)
    elif background == "colour":
        canvas = np.broadcast_to(_contrasting(rng, ink), (h, w, 3)).astype(np.float32)
    elif background == "gradient":
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        canvas = np.broadcast_to(_contrasting(rng, ink) * (1 - t) + _contrasting(rng, ink) * t, (h, w, 3)).copy()
    else:  # a photo behind the logo: a cluttered scene seen out of focus, with sensor noise
        small = synth._background(rng, 320, max(8, round(320 * h / w)), 6)
        canvas = cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), (0, 0), 0.004 * w + 1)
        canvas = canvas + rng.normal(0, 3, canvas.shape).astype(np.float32)
    y, x = (h - art.shape[0]) // 2, (w - art.shape[1]) // 2
    a = art[..., 3:4].astype(np.float32) / 255.0
    canvas[y:y + art.shape[0], x:x + art.shape[1]] = a * art[..., :3] + (1 - a) * canvas[y:y + art.shape[0],
                                                                                            x:x + art.shape[1]]
    img = Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8))
    if fmt == "palette":
        path = folder / f"{slug}.png"
        img.convert("P", palette=Image.Palette.ADAPTIVE, colors=128).save(path)
    else:
        path = folder / f"{slug}.jpg"
        (img.convert("CMYK") if fmt == "cmyk" else img).save(path, quality=int(rng.integers(85, 96)))
    return path, {"format": fmt, "background": background, "lockup": lockup, "side": max(w, h)}


def save_pictures(pictures: dict, path: Path) -> None:
    """One extraction picture per kind of file, stacked, each under its caption (the README's picture)."""
    rows = []
    for key in ("white", "colour", "gradient", "photo", "lock-up", "transparent"):
        if key not in pictures:
            continue
        pic, caption = pictures[key]
        band = np.full((28, pic.shape[1], 3), 255, np.uint8)
        cv2.putText(band, caption[:int(pic.shape[1] / 7.5)], (4, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        rows.append(np.concatenate([band, pic], axis=0))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 10), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def peak_mb() -> tuple[float, float]:
    """(this process, its largest child) peak resident memory in MB."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


_CALIBRATE = ("import sys\nfrom vision.calibrate import CalibrationConfig, calibrate_gallery\n"
              "from vision.gallery import Gallery\n"
              "if __name__ == '__main__':\n    g = Gallery(sys.argv[1])\n    with g.locked():\n"
              "        cfg = CalibrationConfig(window=float(sys.argv[2]), min_samples=int(sys.argv[3]))\n"
              "        calibrate_gallery(g, cfg)\n")


def killed_runs(gallery: Path, want: dict, kills: int, took: float, rng: np.random.Generator, tmp: Path,
                cfg: CalibrationConfig) -> dict:
    """Calibrate `gallery` from nothing, SIGKILLing the run (and its workers) at random moments `kills` times, then
    let it finish: {"kills", "brands kept after each kill", "same": the final calibration equals `want`}."""
    (gallery / ".index" / CALIBRATION).unlink(missing_ok=True)
    script = tmp / "calibrate_once.py"
    script.write_text(_CALIBRATE)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
    kept, n = [], 0
    while True:
        p = subprocess.Popen([sys.executable, str(script), str(gallery), str(cfg.window), str(cfg.min_samples)],
                             start_new_session=True, env=env)
        try:
            p.wait(timeout=float(rng.uniform(0.02, 0.12) * took) if n < kills else None)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            n += 1
            path = gallery / ".index" / CALIBRATION
            kept.append(len(json.loads(path.read_text())) if path.exists() else 0)
            continue
        if p.returncode != 0:
            raise SystemExit(f"calibration failed after {n} kills (exit {p.returncode})")
        break
    got = json.loads((gallery / ".index" / CALIBRATION).read_text())
    return {"kills": n, "brands_kept_after_each_kill": kept, "same_as_uninterrupted": got == want}


def quality(gallery: Path, photos: Path, labels: dict, out: Path, cal_cfg: CalibrationConfig) -> dict:
    # the calibration settings the messy gallery was calibrated with, not a new calibration
    ctx = open_context(gallery, config=CheckConfig(calibration=cal_cfg))
    scan(ctx, photos, out, progress=sys.stderr.isatty())
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    pairs = [(r, labels[Path(r["path"]).stem]) for r in rows]
    branded = [(r, lab) for r, lab in pairs if lab["kind"] != "unbranded"]
    risk = lambda r: r["risk"] if r["risk"] is not None else 1.0  # noqa: E731
    res = {"top1": top1(branded),
           "auc": auc([risk(r) for r, lab in pairs if lab["kind"] == "counterfeit"],
                      [risk(r) for r, lab in pairs if lab["kind"] == "genuine"]),
           "unbranded_no_match": float(np.mean([r["verdict"] == "no_match" for r, lab in pairs
                                                if lab["kind"] == "unbranded"]))}
    for kind in ("genuine", "counterfeit"):
        res[f"top1_{kind}"] = top1([(r, lab) for r, lab in pairs if lab["kind"] == kind])
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brands", type=int, default=50)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="12 brands, 3 kills, fewer listings")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--window", type=float, default=CalibrationConfig.window, help="CalibrationConfig.window")
    ap.add_argument("--min-samples", type=int, default=CalibrationConfig.min_samples,
                    help="CalibrationConfig.min_samples")
    args = ap.parse_args()
    cal_cfg = CalibrationConfig(window=args.window, min_samples=args.min_samples)
    n_brands, kills = (12, 3) if args.quick else (args.brands, args.kills)
    brands = registered_brands(n_brands // 2, n_brands - n_brands // 2)
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files_dir = tmp / "files"
        files_dir.mkdir()
        files = [messy_file(slug, i, rng, files_dir) for i, slug in enumerate(brands)]
        mb = sum(p.stat().st_size for p, _ in files) / 1e6
        print(f"{len(files)} brand files, {mb:.1f} MB: " + ", ".join(
            f"{k} {sum(1 for _, d in files if d[k2] == k)}"
            for k2, ks in (("format", ("jpeg", "cmyk", "palette", "svg")), ("background", BACKGROUNDS)) for k in ks)
            + f", lock-ups {sum(d['lockup'] for _, d in files)}", flush=True)

        messy = Gallery(tmp / "messy")
        t0 = time.perf_counter()
        notes, pictures = {}, {}

        def kept(k, slug: str, what: dict) -> None:
            notes[slug] = k.summary
            key = "lock-up" if what["lockup"] else what["background"]
            pictures.setdefault(key, (k.picture, f"{k.source} ({what['format']}, {key}): {k.summary}"))

        for slug, (path, what) in zip(brands, files):
            add_references(messy, slug, [path], kind="logo", name=synth.brand_icon(slug).title,
                           wordmark=WORDMARKS.get(slug), colors=[synth.print_color(slug)],
                           on_kept=lambda k, s=slug, w=what: kept(k, s, w))
        t_add = time.perf_counter() - t0
        refresh_index(messy, load_embedder())
        t_index = time.perf_counter() - t0 - t_add
        with messy.locked():
            calibrate_gallery(messy, cal_cfg)
        t_cal = time.perf_counter() - t0 - t_add - t_index
        ready = time.perf_counter() - t0
        own, child = peak_mb()
        n_refs = sum(len(b.references) for b in messy.brands())
        print(f"gallery ready in {ready:.0f} s ({ready / len(brands):.2f} s a brand): extraction {t_add:.0f} s, "
              f"index {t_index:.0f} s, calibration {t_cal:.0f} s ({n_refs} logo references, lock-ups' parts included: "
              f"{t_cal * (os.cpu_count() or 1) / n_refs:.2f} s of a core each); peak memory {own:.0f} MB (this "
              f"process), {child:.0f} MB (largest worker)", flush=True)
        save_pictures(pictures, args.out / "onboarding_extraction.png")
        k = None
        if kills:  # --kills 0: quality only
            want = json.loads((messy.root / ".index" / CALIBRATION).read_text())
            copy = tmp / "killed"
            shutil.copytree(messy.root, copy)
            k = killed_runs(copy, want, kills, t_cal, rng, tmp, cal_cfg)
            print(f"calibration killed {k['kills']} times at random moments (brands kept after each: "
                  f"{k['brands_kept_after_each_kill']}); the run that finished equals the uninterrupted one: "
                  f"{k['same_as_uninterrupted']}", flush=True)

        clean_root = tmp / "clean"
        build_gallery(clean_root, brands)
        labels, photos = {}, tmp / "listings"
        photos.mkdir()
        n_gen, n_unb = (2, 10) if args.quick else (2, 20)
        for item in generate(brands, n_gen, n_unb, n_unb, seed=args.seed):
            synth.save_rgb(photos / f"{item.name}.png", item.image)
            labels[item.name] = {"kind": item.kind, "brand": item.brand}
        q_messy = quality(messy.root, photos, labels, args.out / "onboarding_messy_rows.jsonl", cal_cfg)
        q_clean = quality(clean_root, photos, labels, args.out / "onboarding_clean_rows.jsonl", cal_cfg)
    print(f"{len(labels)} listings from the clean drawings      messy-file gallery   clean-drawing gallery   diff")
    for key in ("top1", "top1_genuine", "top1_counterfeit", "auc", "unbranded_no_match"):
        print(f"  {key:36s}{q_messy[key]:10.3f}{q_clean[key]:22.3f}{q_messy[key] - q_clean[key]:+11.3f}")
    report = {"brands": len(brands), "files": [d for _, d in files], "extraction_notes": notes,
              "seconds": {"ready": ready, "extraction": t_add, "index": t_index, "calibration": t_cal},
              "logo_references": n_refs,
              "peak_mb": {"process": own, "largest_worker": child}, "killed": k, "messy": q_messy, "clean": q_clean}
    (args.out / "onboarding.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
