"""Signals beyond the logo: trace codes (QR / DataMatrix / EAN) read and judged against a brand's registered
formats, and listing photos that copy one of the brand's own product photos."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import segno
from PIL import Image, ImageDraw

from tests.conftest import listing, run_cli
from vision import synth
from vision.check import check_image, open_context
from vision.codes import judge_codes, read_codes
from vision.gallery import Gallery, add_references
from vision.record import CheckRecord


def _qr(text: str, scale: int = 4) -> np.ndarray:
    buf = io.BytesIO()
    segno.make_qr(text).save(buf, kind="png", scale=scale, border=2)
    return np.asarray(Image.open(buf).convert("RGB"))


def _matrix(text: str, fmt: str) -> np.ndarray:
    import zxingcpp

    code = zxingcpp.create_barcode(text, getattr(zxingcpp.BarcodeFormat, fmt))
    img = np.asarray(zxingcpp.write_barcode_to_image(code, scale=4, add_quiet_zones=True))
    return np.dstack([img] * 3) if img.ndim == 2 else img[..., :3]


def _paste(photo: np.ndarray, code: np.ndarray, x: int, y: int, tilt: float = 0.0) -> np.ndarray:
    """Print a code on the photo with a little perspective (a camera is never square to the label)."""
    import cv2

    h, w = code.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + np.float32([[x, y], [x, y + tilt * h], [x, y], [x, y - tilt * h]])
    M = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(code, M, photo.shape[1::-1], borderValue=(0, 0, 0))
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), M, photo.shape[1::-1]) > 0
    out = photo.copy()
    out[mask] = warped[mask]
    return out


def test_codes_read_from_a_photo():
    photo = listing("nike", 3, logo_frac=(0.2, 0.25))
    photo = _paste(photo, _qr("https://www.nike.com/t/NK-12345678"), 20, 20, tilt=0.05)
    photo = _paste(photo, _matrix("NK-87654321", "DataMatrix"), 560, 20)
    photo = _paste(photo, _matrix("4006381333931", "EAN13"), 200, 330)
    codes = read_codes(synth.jpeg_roundtrip(photo, 85))
    assert {(c.format, c.text) for c in codes} == {("QR Code", "https://www.nike.com/t/NK-12345678"),
                                                   ("Data Matrix", "NK-87654321"), ("EAN-13", "4006381333931")}
    qr = next(c for c in codes if c.format == "QR Code")
    assert qr.box[0] < 40 and qr.box[1] < 40  # located where it was printed
    assert read_codes(listing("nike", 4)) == []


def test_codes_judged_against_registered_formats():
    patterns = (r"https://(www\.)?nike\.com/.+", r"NK-\d{8}")
    codes = read_codes(_paste(listing(None, 5), _qr("https://www.nike.com/t/NK-1"), 30, 30))
    rec = CheckRecord(path="x", verdict="consistent", brand="nike", risk=0.1)
    judge_codes(rec, codes, patterns, "Nike")
    assert rec.verdict == "consistent" and rec.codes[0]["registered"] is True and "Nike registered" in rec.reasons[-1]
    codes = read_codes(_paste(listing(None, 6), _qr("http://nike-outlet-cheap.biz/x"), 30, 30))
    rec = CheckRecord(path="x", verdict="consistent", brand="nike", risk=0.1)
    judge_codes(rec, codes, patterns, "Nike")
    assert rec.verdict == "suspect" and rec.risk >= 0.75 and rec.codes[0]["registered"] is False
    assert "not a code format Nike registered" in rec.reasons[-1]
    rec = CheckRecord(path="x", verdict="no_match", risk=0.0)  # no brand: shown as evidence, nothing judged
    judge_codes(rec, codes, patterns, "")
    assert rec.verdict == "no_match" and rec.codes[0]["registered"] is None


def test_codes_end_to_end_through_the_cli(gallery_copy, tmp_path):
    logo = tmp_path / "nike.png"
    Image.fromarray(synth.render_logo("nike", 256), "RGBA").save(logo)
    r = run_cli("gallery", "add", "nike", str(logo), "--code-format", r"https://(www\.)?nike\.com/.+",
                "--gallery", str(gallery_copy))
    assert r.returncode == 0, r.stderr
    r = run_cli("gallery", "add", "nike", str(logo), "--code-format", "([unclosed", "--gallery", str(gallery_copy))
    assert r.returncode == 2 and "not a valid regular expression" in r.stderr
    base = listing("nike", 7, logo_frac=(0.25, 0.35))
    for name, text in (("good", "https://nike.com/verify/123"), ("bad", "http://nike-deals.example/123")):
        synth.save_rgb(tmp_path / f"{name}.jpg", _paste(base, _qr(text), 460, 320))
    r = run_cli("check", str(tmp_path / "good.jpg"), str(tmp_path / "bad.jpg"), "--json", "--gallery",
                str(gallery_copy))
    good, bad = (json.loads(x) for x in r.stdout.splitlines())
    assert good["brand"] == bad["brand"] == "nike"
    assert good["verdict"] == "consistent" and good["codes"][0]["registered"] is True
    assert bad["verdict"] == "suspect" and bad["codes"][0]["registered"] is False


@pytest.fixture(scope="module")
def product_gallery(built_gallery, tmp_path_factory):
    """The test gallery plus three product photos of nike."""
    import shutil

    root = tmp_path_factory.mktemp("products") / "g"
    shutil.copytree(built_gallery, root)
    rng = np.random.default_rng(40)
    style = synth.PhotoStyle(logo_frac=(0.3, 0.5), tilt=0.08, rotation=10, jpeg=(85, 95))
    files = []
    for i in range(3):
        files.append(root.parent / f"nike_product_{i}.jpg")
        synth.save_rgb(files[-1], synth.photograph(synth.render_logo("nike", 256), rng, style).image)
    add_references(Gallery(root), "nike", files, kind="product")
    return root, files


def test_copies_of_a_registered_product_photo_are_reported(product_gallery, tmp_path):
    root, files = product_gallery
    ctx = open_context(root, threads=1)
    src = Image.open(files[1]).convert("RGB")
    w, h = src.size
    marked = src.copy()
    ImageDraw.Draw(marked).text((20, h - 30), "BEST PRICE - shop 24/7", fill=(255, 255, 255))
    edits = {"crop": src.crop((int(0.2 * w), int(0.1 * h), int(0.85 * w), int(0.8 * h))),
             "resize": src.resize((w // 3, h // 3)), "mirror": src.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
             "watermark": marked}
    for name, img in edits.items():
        img.save(tmp_path / f"{name}.jpg", quality=55)
        rec = check_image(ctx, tmp_path / f"{name}.jpg")
        assert rec.reused_reference is not None and rec.reused_reference.startswith("nike/products/"), name
        assert rec.verdict == "suspect" and "own product photo" in rec.reasons[-1], name
        assert ("mirrored" in rec.reasons[-1]) == (name == "mirror")
    for seed in (41, 42, 43):  # new photographs of the same logo, in the same style: not copies
        synth.save_rgb(tmp_path / f"new{seed}.jpg", listing("nike", seed, logo_frac=(0.3, 0.5), tilt=0.08,
                                                            rotation=10))
        rec = check_image(ctx, tmp_path / f"new{seed}.jpg")
        assert rec.reused_reference is None and rec.brand == "nike", seed


def test_match_copy_finds_near_full_crops_at_any_aspect():
    """Copies at several crops and scales (one at almost the full width, where shrinking the listing could round
    its template a pixel taller than the product photo) are found at their crop size, mirrored ones as mirrored,
    in the product photo's colours; another photo is not one."""
    import cv2

    from vision.reuse import match_copy, structure

    rng = np.random.default_rng(3)
    product = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 5.0)
    other = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 5.0)
    view = structure(product, 200)
    for x0, x1, y0, y1, size in [(20, 620, 2, 478, (498, 395)), (0, 640, 0, 480, (320, 240)),
                                 (100, 420, 60, 300, (416, 312))]:
        listing_rgb = cv2.resize(product[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
        score, found, mirrored, gap = match_copy(listing_rgb, view)
        assert score > 0.85 and abs(found - (x1 - x0) / 640) < 0.03 and not mirrored, (x0, x1, score, found)
        assert gap < 2.0, gap
        assert match_copy(listing_rgb[:, ::-1].copy(), view)[2]  # and its mirror image, as a mirrored copy
        assert match_copy(listing_rgb, structure(other, 200))[0] < 0.5


def test_a_product_photo_in_other_colours_is_not_a_copy():
    """Structure alone would call a product photo repainted in other colours (another product with the same outline)
    a copy; the colour gap tells them apart, and the palette test skips the search altogether."""
    from dataclasses import replace

    import cv2

    from vision.reuse import ReuseConfig, match_copy, structure

    rng = np.random.default_rng(5)
    product = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 5.0)
    lab = cv2.cvtColor(product.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    lab[..., 1:] = -lab[..., 1:] + 25  # the same lightness, other hues: the grey structure nearly kept
    repainted = (cv2.cvtColor(lab, cv2.COLOR_Lab2RGB).clip(0, 1) * 255).round().astype(np.uint8)
    crop = product[100:400, 80:500]
    cfg = ReuseConfig()
    same = match_copy(crop, structure(product, 200), cfg)
    assert same[0] >= cfg.min_correlation and same[3] <= cfg.max_colour_gap, same
    # searched anyway (no palette test), the repainted photo correlates like a copy; its colours do not agree
    painted = match_copy(crop, structure(repainted, 200), replace(cfg, min_palette=0.0))
    assert painted[0] >= cfg.min_correlation and painted[3] > 4 * cfg.max_colour_gap, painted
    # and its palette lacks the listing's colours, so by default it is not searched at all
    assert match_copy(crop, structure(repainted, 200), cfg) == (-1.0, 0.0, False, np.inf)
