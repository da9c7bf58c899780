"""Signals beyond the logo, measured: reused official photos and trace codes.

    python benchmarks/signals.py [--copies 2] [--codes 120] [--seed 0]

(1) Reused product photos: every product photo of the bundled gallery edited `--copies` times (random crop,
    resize, JPEG re-compression, watermark text, mirror, in combination) must be reported with the right
    `reused_reference`; new photographs of the same brands in the same style must not be. Prints precision and
    recall (targets 0.95 each), through the real check path.
(2) Trace codes: QR codes (segno), DataMatrix and EAN-13 (zxing-cpp) printed on generated listing photos with
    perspective, blur and JPEG at several sizes: read rate per format, and how often a code is judged right
    against a registered format (half the codes match it, half do not).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vision import synth  # noqa: E402
from vision.check import check_image, open_context  # noqa: E402
from vision.codes import judge_codes, read_codes  # noqa: E402
from vision.gallery import open_gallery  # noqa: E402
from vision.record import CheckRecord  # noqa: E402


def edit(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    w, h = img.size
    done = []
    if rng.random() < 0.7:
        f = rng.uniform(0.45, 0.95)
        cw, ch = int(w * f), int(h * rng.uniform(max(0.45, f - 0.15), min(1.0, f + 0.15)))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        img, _ = img.crop((x, y, x + cw, y + ch)), done.append(f"crop {f:.2f}")
    if rng.random() < 0.6:
        s = rng.uniform(0.35, 1.5)
        img = img.resize((max(32, int(img.width * s)), max(32, int(img.height * s))), Image.Resampling.LANCZOS)
        done.append(f"resize {s:.2f}")
    if rng.random() < 0.4:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        done.append("mirror")
    if rng.random() < 0.5:
        img = img.copy()
        d = ImageDraw.Draw(img)
        d.text((int(img.width * rng.uniform(0.05, 0.5)), int(img.height * rng.uniform(0.05, 0.9))),
               "BEST PRICE www.shop-deals.example", fill=(255, 255, 255))
        done.append("watermark")
    return img, ", ".join(done) or "re-compression only"


def reuse_bench(copies: int, tmp: Path, seed: int = 0) -> None:
    g = open_gallery(ROOT / "reference_gallery")
    ctx = open_context(g.root)
    rng = np.random.default_rng(seed)
    style = synth.PhotoStyle(logo_frac=(0.3, 0.5), tilt=0.08, rotation=10, jpeg=(85, 95))
    positives, negatives = [], []
    for b in g.brands():
        for ref in b.references:
            if ref.kind != "product":
                continue
            src = Image.open(g.ref_path(b.slug, ref)).convert("RGB")
            for k in range(copies):
                img, how = edit(src, rng)
                p = tmp / f"copy_{b.slug}_{ref.sha256[:8]}_{k}.jpg"
                img.save(p, quality=int(rng.integers(40, 91)))
                positives.append((p, f"{b.slug}/{ref.file}", how))
        for k in range(copies * 3):  # new photographs of the brand, in the product photos' own style
            p = tmp / f"new_{b.slug}_{k}.jpg"
            synth.save_rgb(p, synth.photograph(synth.render_logo(b.slug, 256, color=synth.print_color(b.slug)),
                                               rng, style).image)
            negatives.append(p)
    t0 = time.perf_counter()
    found = [check_image(ctx, p).reused_reference == want for p, want, _ in positives]
    tp = sum(found)
    missed = [how for ok, (_, _, how) in zip(found, positives) if not ok]
    fp = sum(check_image(ctx, p).reused_reference is not None for p in negatives)
    secs = (time.perf_counter() - t0) / (len(positives) + len(negatives))
    precision = tp / max(1, tp + fp)
    print(f"(1) reused product photos: {len(positives)} edited copies of {len(positives) // copies} registered "
          f"product photos, {len(negatives)} new photos of the same brands")
    print(f"    precision {precision:.3f}, recall {tp / len(positives):.3f} ({tp} found with the right source, "
          f"{fp} false reports), {secs:.2f} s per photo")
    if missed:
        print(f"    missed edits (first 5): {missed[:5]}")


def qr(text: str, scale: int) -> np.ndarray:
    import segno

    buf = io.BytesIO()
    segno.make_qr(text).save(buf, kind="png", scale=scale, border=2)
    return np.asarray(Image.open(buf).convert("RGB"))


def matrix(text: str, fmt: str, scale: int) -> np.ndarray:
    import zxingcpp

    img = np.asarray(zxingcpp.write_barcode_to_image(
        zxingcpp.create_barcode(text, getattr(zxingcpp.BarcodeFormat, fmt)), scale=scale, add_quiet_zones=True))
    return np.dstack([img] * 3) if img.ndim == 2 else img[..., :3]


def print_code(photo: np.ndarray, code: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = code.shape[:2]
    H, W = photo.shape[:2]
    x, y = int(rng.integers(0, max(1, W - w))), int(rng.integers(0, max(1, H - h)))
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + np.float32([x, y]) + rng.uniform(-0.08, 0.08, (4, 2)).astype(np.float32) * np.float32([w, h])
    M = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(code, M, (W, H))
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), M, (W, H)) > 0
    out = photo.copy()
    out[mask] = warped[mask]
    out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.1, 1.0)))
    return synth.jpeg_roundtrip(out, int(rng.integers(60, 95)))


def codes_bench(n: int) -> None:
    rng = np.random.default_rng(1)
    pattern = (r"https://(www\.)?nike\.com/v/[A-Z0-9]{8}", r"NK-\d{8}", r"\d{13}")
    read, right, per = 0, 0, {}
    for i in range(n):
        fmt = ("QRCode", "DataMatrix", "EAN13")[i % 3]
        valid = i % 2 == 0
        if fmt == "QRCode":
            text = "https://www.nike.com/v/" + "".join(rng.choice(list("ABCDEFGH0123456789"), 8)) if valid else \
                "http://nike-outlet.example/v/" + str(i)
            code = qr(text, int(rng.integers(2, 5)))
        elif fmt == "DataMatrix":
            text = f"NK-{int(rng.integers(10**7, 10**8))}" if valid else f"NKX{int(rng.integers(10**7, 10**8))}"
            code = matrix(text, fmt, int(rng.integers(3, 6)))
        else:
            digits = "".join(str(d) for d in rng.integers(0, 10, 12))
            check = (10 - sum(int(c) * (3 if k % 2 else 1) for k, c in enumerate(digits)) % 10) % 10
            text = digits + str(check)
            valid = True  # any EAN-13 matches the registered \d{13}
            code = matrix(text, fmt, int(rng.integers(2, 4)))
        photo = print_code(synth.photograph(synth.render_logo("nike", 256), rng).image, code, rng)
        codes = read_codes(photo)
        ok = any(c.text == text for c in codes)
        read += ok
        per.setdefault(fmt, []).append(ok)
        rec = CheckRecord(path="x", verdict="consistent", brand="nike", risk=0.1)
        judge_codes(rec, [c for c in codes if c.text == text], pattern, "Nike")
        right += ok and (rec.verdict == "consistent") == valid
    rates = ", ".join(f"{f} {np.mean(v):.2f}" for f, v in per.items())
    print(f"(2) trace codes: {n} codes printed on listing photos (tilt, blur, JPEG 60-95): read {read / n:.3f} "
          f"({rates}); judged right against the registered formats {right / n:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--codes", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0, help="seed of the edits and the new photos")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reuse_bench(args.copies, Path(tmp), args.seed)
    if args.codes:  # 0: the reuse figure only
        codes_bench(args.codes)


if __name__ == "__main__":
    main()
