"""HTML report: ordered by risk, thumbnails inlined, outside text escaped, evidence shown for suspect rows."""

from __future__ import annotations

import numpy as np
from PIL import Image

from vision.report import by_risk, html_report


def test_report_orders_escapes_and_inlines(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    (tmp_path / "g" / "nike" / "logos").mkdir(parents=True)
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "g" / "nike" / "logos" / "r.png")
    rows = [
        {"path": "a.jpg", "verdict": "consistent", "brand": "nike", "risk": 0.1, "reference": "nike/logos/r.png",
         "reasons": ["fine"]},
        {"path": "<b>x.jpg", "verdict": "error", "risk": None, "reasons": ["could not check: <script>"]},
        {"path": "a.jpg", "verdict": "suspect", "brand": "nike", "risk": 0.9, "reference": "nike/logos/r.png",
         "reasons": ["wordmark reads <NIKF>"]},
    ]
    assert [r["verdict"] for r in by_risk(rows)] == ["suspect", "consistent", "error"]
    asked = []

    def evidence(row):
        asked.append(row["verdict"])
        return np.full((50, 100, 3), 200, np.uint8)

    page = html_report(rows, "t", gallery_root=tmp_path / "g", evidence=evidence, listing_root=tmp_path)
    assert asked == ["suspect"]
    assert page.index("wordmark reads") < page.index("fine")  # highest risk first
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;x.jpg" in page
    # listing + reference for two rows, evidence once; the missing file shows a placeholder
    assert page.count("data:image/jpeg;base64,") == 5 and "(no image)" in page
    assert "suspect 1" in page and "nike (2)" in page
