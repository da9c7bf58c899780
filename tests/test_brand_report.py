"""Brand report: one brand's rows summarised, reasons grouped by kind, chart and contact sheet rendered; the CLI
writes the page and names the brands present when asked for one that is not."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from tests.conftest import run_cli
from vision.brand_report import brand_report_html, contact_sheet, reason_pattern, risk_chart, summarise


def _rows(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        p = tmp_path / f"l{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(p)
        suspect = i % 3 == 0
        rows.append({"path": str(p), "brand": "samsung" if i < 9 else "nike", "brand_name": "Samsung",
                     "verdict": "suspect" if suspect else "consistent", "risk": 0.9 - i / 100 if suspect else 0.1,
                     "reasons": [f"logo part displaced by {i + 3}% of the logo's size",
                                 f"wordmark reads SAMSUN{i}, the genuine logo reads SAMSUNG"] if suspect else ["ok"]})
    return rows


def test_summary_chart_sheet_and_page(tmp_path):
    rows = _rows(tmp_path)
    pattern = reason_pattern("logo part displaced by 12% of the logo's size")
    assert pattern == "logo part displaced by N% of the logo's size"
    s = summarise(rows, "samsung")
    assert s.counts == {"suspect": 3, "consistent": 6} and s.name == "Samsung"
    assert s.reasons.most_common(1)[0][1] == 3  # the three displacements count as one kind
    assert [r["risk"] for r in s.flagged] == sorted((r["risk"] for r in s.flagged), reverse=True)
    chart = risk_chart(s)
    assert chart.ndim == 3 and chart.shape[1] > 400 and chart.std() > 5
    sheet = contact_sheet(s.flagged, cols=2)
    assert sheet.shape[:2] == (2 * (192 * 3 // 4 + 30), 400)
    page = brand_report_html(s, chart, sheet)
    assert page.count("data:image/png;base64,") == 2 and "wordmark reads …, the genuine logo reads …" in page


def test_report_cli(tmp_path):
    rows = _rows(tmp_path)
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "samsung.html"
    r = run_cli("report", str(results), "--brand", "samsung", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "9 listings" in r.stderr and out.read_text().startswith("<!doctype html>")
    r = run_cli("report", str(results), "--brand", "sony")
    assert r.returncode == 2 and "brands there: nike, samsung" in r.stderr
