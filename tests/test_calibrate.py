import json

from vision.calibrate import CALIBRATION, CalibrationConfig, calibrate_brand, calibrate_gallery, load_thresholds
from vision.check import open_context
from vision.gallery import Gallery, add_references
from vision.load import load_image


def test_threshold_is_a_genuine_quantile_with_floor(logo_files):
    from vision.align import ink_from_rgba

    rgba = load_image(logo_files["starbucks"], keep_alpha=True)
    cfg = CalibrationConfig(samples=10, false_flag_rate=0.1)
    r = calibrate_brand(ink_from_rgba(rgba, 256), rgba, cfg)
    assert len(r["scores"]) + r["unaligned"] == 10 and r["scores"] == sorted(r["scores"])
    assert r["threshold"] >= max(cfg.floor, r["scores"][-2] if len(r["scores"]) > 1 else 0)
    assert calibrate_brand(ink_from_rgba(rgba, 256), rgba, cfg) == r  # seeded: reproducible


def test_gallery_calibration_is_stored_and_reused(gallery_copy, logo_files):
    ctx = open_context(gallery_copy)
    stored = load_thresholds(ctx.gallery)
    assert set(stored) == set(ctx.brand_names) and ctx.thresholds.keys() == stored.keys()
    mtime = (gallery_copy / ".index" / CALIBRATION).stat().st_mtime_ns
    cfg = CalibrationConfig(samples=4)
    with ctx.gallery.locked():
        calibrate_gallery(ctx.gallery, ctx.reference_ink, ctx.reference_text, ctx.config.calibration)
    assert (gallery_copy / ".index" / CALIBRATION).stat().st_mtime_ns == mtime  # nothing changed, nothing written
    add_references(Gallery(gallery_copy), "nike", [logo_files["puma"]])  # nike's references change
    with ctx.gallery.locked():
        calibrate_gallery(ctx.gallery, ctx.reference_ink, ctx.reference_text, cfg)
    after = json.loads((gallery_copy / ".index" / CALIBRATION).read_text())
    assert after["nike"]["key"] != stored["nike"]["key"] and len(after["nike"]["per_reference"]) == 2
