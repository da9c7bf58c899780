"""One brand's view of scan results — what a brand-protection team sends to a marketplace: counts per verdict,
the most common divergence reasons, the flagged listings as a contact sheet, and a chart of risk scores.

Compute functions return values (a summary, images, an HTML string); writing files is the caller's business.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from PIL import Image

from .record import VERDICT_COLOURS, VERDICTS
from .report import by_risk, thumbnail

__all__ = ["BrandSummary", "reason_pattern", "summarise", "risk_chart", "contact_sheet", "brand_report_html"]

_NUMBER = re.compile(r"\d+(\.\d+)?")
_QUOTED = re.compile(r"'[^']*'|\b[A-Z0-9]{3,}\b")


@dataclass
class BrandSummary:
    brand: str
    name: str
    counts: Counter = field(default_factory=Counter)  # verdict -> listings
    reasons: Counter = field(default_factory=Counter)  # reason pattern (numbers as N) -> flagged listings
    flagged: list[dict] = field(default_factory=list)  # suspect rows, highest risk first (at most `keep`)
    risks: dict[str, list[float]] = field(default_factory=dict)  # verdict -> risk scores


def reason_pattern(reason: str) -> str:
    """A reason with its particulars masked, so that the same kind of divergence counts together:
    "logo part displaced by 6% of ..." -> "logo part displaced by N% of ..."."""
    return _NUMBER.sub("N", _QUOTED.sub("…", reason))


def summarise(rows: Iterable[dict], brand: str, keep: int = 60) -> BrandSummary:
    """Stream result rows (vision.rows.read_rows) into one brand's summary."""
    s = BrandSummary(brand, brand)
    for r in rows:
        if r.get("brand") != brand:
            continue
        s.name = r.get("brand_name") or s.name
        v = r["verdict"]
        s.counts[v] += 1
        if r.get("risk") is not None:
            s.risks.setdefault(v, []).append(float(r["risk"]))
        if v == "suspect":
            s.reasons.update({reason_pattern(x) for x in r.get("reasons") or []})
            s.flagged.append(r)
            if len(s.flagged) > 2 * keep:
                s.flagged = by_risk(s.flagged)[:keep]
    s.flagged = by_risk(s.flagged)[:keep]
    return s


def risk_chart(s: BrandSummary) -> np.ndarray:
    """A histogram of risk scores per verdict (RGB image)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    bins = np.linspace(0, 1, 21)
    for v in VERDICTS:
        if s.risks.get(v):
            ax.hist(s.risks[v], bins=bins, alpha=0.75, label=f"{v} ({len(s.risks[v])})",
                    color=VERDICT_COLOURS.get(v))
    ax.set_xlabel("risk")
    ax.set_ylabel("listings")
    ax.set_title(f"{s.name}: risk scores")
    if s.risks:
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return np.asarray(Image.open(buf).convert("RGB"))


def contact_sheet(rows: list[dict], listing_root: str | Path | None = None, cols: int = 6, cell: int = 200
                  ) -> np.ndarray | None:
    """The rows' listing photos in a grid, each captioned with its risk and file name (RGB); None if no rows."""
    if not rows:
        return None
    box_w, box_h = cell - 8, (cell - 8) * 3 // 4  # listing photos are mostly 4:3
    row_h = box_h + 30
    sheet = np.full((((len(rows) + cols - 1) // cols) * row_h, cols * cell, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        y, x = (i // cols) * row_h, (i % cols) * cell
        thumb = thumbnail(Path(listing_root or "") / r["path"], cell)
        if thumb is not None:
            s = min(box_w / thumb.shape[1], box_h / thumb.shape[0])
            thumb = cv2.resize(thumb, (max(1, round(thumb.shape[1] * s)), max(1, round(thumb.shape[0] * s))),
                               interpolation=cv2.INTER_AREA)
            h, w = thumb.shape[:2]
            sheet[y + 4:y + 4 + h, x + 4:x + 4 + w] = thumb
        label = f"{r.get('risk') or 0:.2f} {Path(r['path']).name}"[:28]
        cv2.putText(sheet, label, (x + 4, y + box_h + 22), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (40, 40, 40), 1,
                    cv2.LINE_AA)
    return sheet


def brand_report_html(s: BrandSummary, chart: np.ndarray, sheet: np.ndarray | None, top_reasons: int = 10) -> str:
    esc = html.escape
    total = sum(s.counts.values())
    counts = "".join(f"<tr><td>{esc(v)}</td><td>{s.counts.get(v, 0)}</td></tr>" for v in VERDICTS if v != "error")
    reasons = "".join(f"<tr><td>{esc(p)}</td><td>{n}</td></tr>" for p, n in s.reasons.most_common(top_reasons))
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(s.name)} — authcheck brand report"
           "</title><style>body{font-family:system-ui,sans-serif;margin:24px}td,th{padding:4px 10px;"
           "border-bottom:1px solid #ddd;text-align:left}</style></head><body>",
           f"<h1>{esc(s.name)}: {total} listings</h1><table><tr><th>verdict</th><th>listings</th></tr>{counts}"
           "</table>", f"<p>{_png(chart)}</p>",
           "<h2>Most common reasons for flagging</h2>",
           f"<table><tr><th>reason</th><th>flagged listings</th></tr>{reasons}</table>" if reasons else "<p>none</p>",
           f"<h2>Flagged listings ({s.counts.get('suspect', 0)})</h2>",
           _png(sheet) if sheet is not None else "<p>none</p>", "</body></html>"]
    return "\n".join(out)


def _png(rgb: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=True)
    return f"<img style='max-width:100%' src='data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}'>"
