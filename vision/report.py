"""A self-contained HTML report of check rows (thumbnails inlined), for reviewers and brand teams.

Returns the page as a string; writing it is the caller's business. Every text from a row is escaped: file names
and OCR readings come from the outside world.
"""

from __future__ import annotations

import base64
import heapq
import html
import io
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from PIL import Image

from .errors import ImageError
from .load import flatten_rgba, load_image
from .record import VERDICT_COLOURS

__all__ = ["by_risk", "thumbnail", "html_report"]

_CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:6px;vertical-align:top;text-align:left}img{max-height:140px;max-width:220px}
.badge{color:#fff;padding:2px 8px;border-radius:10px;font-weight:600;white-space:nowrap}
.small{color:#666;font-size:90%}"""


def _review_order(r: dict) -> tuple:
    return r.get("risk") is None, -(r.get("risk") or 0.0), str(r.get("path"))


def by_risk(rows: Iterable[dict]) -> list[dict]:
    """Rows ordered for review: highest risk first, rows without a risk (errors) last, then by path."""
    return sorted(rows, key=_review_order)


def thumbnail(path: str | Path, side: int = 220) -> np.ndarray | None:
    """A small RGB copy of an image file through the safe loader, or None if it cannot be read."""
    try:
        rgba = load_image(path, keep_alpha=True)
    except ImageError:
        return None
    im = Image.fromarray(flatten_rgba(rgba))
    im.thumbnail((side, side))
    return np.asarray(im)


def html_report(rows: Iterable[dict], title: str = "authcheck report", gallery_root: str | Path | None = None,
                evidence: Callable[[dict], np.ndarray | None] | None = None, listing_root: str | Path | None = None,
                max_rows: int = 500) -> str:
    """-> HTML page: counts per verdict, top brands, and a table of the `max_rows` highest-risk rows with the
    listing thumbnail (the row's path, under `listing_root` when given), the matched reference (from
    `gallery_root`), and — for suspect rows, when `evidence` is given — the picture it returns. Rows are streamed:
    memory holds only the rows shown."""
    verdicts, brands = Counter(), Counter()

    def counted(rows):
        for r in rows:
            verdicts[r.get("verdict")] += 1
            if r.get("brand"):
                brands[r["brand"]] += 1
            yield r

    shown = heapq.nsmallest(max_rows, counted(rows), key=_review_order)  # by_risk's order, max_rows kept
    total = sum(verdicts.values())
    esc = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{_CSS}</style>"
           f"</head><body><h1>{esc(title)}</h1>"]
    badge = lambda v: f"<span class='badge' style='background:{VERDICT_COLOURS.get(v, '#444')}'>"  # noqa: E731
    summary = ", ".join(f"{badge(v)}{esc(str(v))} {n}</span>" for v, n in verdicts.most_common())
    out.append(f"<p>{total} photos: {summary}</p>")
    if brands:
        out.append("<p class='small'>top brands: " + ", ".join(f"{esc(b)} ({n})" for b, n in brands.most_common(10))
                   + "</p>")
    out.append("<table><tr><th>listing</th><th>verdict</th><th>risk</th><th>reasons</th><th>reference</th>"
               "<th>evidence</th></tr>")
    for r in shown:
        verdict = str(r.get("verdict"))
        ref = Path(gallery_root) / r["reference"] if gallery_root and r.get("reference") else None
        pic = evidence(r) if evidence is not None and verdict == "suspect" else None
        risk = f"{r['risk']:.2f}" if isinstance(r.get("risk"), (int, float)) else "–"
        brand = esc(str(r.get("brand_name") or r.get("brand") or ""))
        reasons = "<br>".join(esc(str(x)) for x in (r.get("reasons") or []))
        out.append(
            f"<tr><td>{_img(thumbnail(Path(listing_root or '') / r['path']))}<div class='small'>{esc(str(r['path']))}"
            f"</div></td><td>{badge(verdict)}{esc(verdict)}"
            f"</span><div>{brand}</div></td><td>{risk}</td><td>{reasons}</td>"
            f"<td>{_img(thumbnail(ref)) if ref else ''}</td><td>{_img(pic, 480) if pic is not None else ''}</td></tr>")
    out.append("</table>")
    if total > len(shown):
        out.append(f"<p class='small'>{total - len(shown)} lower-risk rows not shown.</p>")
    out.append("</body></html>")
    return "\n".join(out)


def _img(rgb: np.ndarray | None, side: int = 220) -> str:
    if rgb is None:
        return "<span class='small'>(no image)</span>"
    im = Image.fromarray(rgb)
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=82)
    return f"<img src='data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode()}'>"
