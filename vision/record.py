"""The verdict record: the row contract of `check --json` and `scan` (other tools rely on these names)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

__all__ = ["Candidate", "CheckRecord", "row_to_csv"]

VERDICTS = ("consistent", "suspect", "unverified", "no_match", "error")
# one colour per verdict for every picture and page (app badge, HTML reports, evidence banner, charts)
VERDICT_COLOURS = {"consistent": "#2e9e45", "suspect": "#d93025", "unverified": "#c77700", "no_match": "#6b6b6b",
                   "error": "#222222"}
# Columns every row has, in CSV order; keep these names stable.
COLUMNS = ("path", "verdict", "brand", "risk", "similarity", "reference", "reasons", "error", "brand_name", "box",
           "alignment", "divergence", "candidates", "reused_reference", "codes", "seconds")


@dataclass
class Candidate:
    brand: str
    similarity: float
    reference: str  # gallery-relative path of the reference image


@dataclass
class CheckRecord:
    path: str
    verdict: str  # consistent | suspect | unverified | no_match | error
    brand: str | None = None  # slug of the matched brand
    risk: float | None = None  # 0..1, higher = more likely counterfeit; None for error rows
    similarity: float | None = None  # best embedding similarity to the brand's references
    reference: str | None = None  # gallery-relative path of the matched reference image
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    brand_name: str | None = None
    box: list[int] | None = None  # [x0, y0, x1, y1] of the logo region in the photo
    # {"aligned", "method" (sift|shape|none), "quality" (ink overlap 0..1), "inliers", "homography" (reference
    # pixels -> photo pixels)}; None when no brand was verified
    alignment: dict | None = None
    # divergence measurements of a verified logo against its reference (score, threshold, part shift and fit,
    # differing area, ink ratio, mirrored overlap); None when no brand was verified
    divergence: dict | None = None
    candidates: list[Candidate] = field(default_factory=list)  # top brand hypotheses
    # gallery-relative path of the brand's own product photo that this listing photo copies (crop, resize,
    # re-compression, watermark or mirror of it); None when it is not a copy
    reused_reference: str | None = None
    # trace codes read in the photo: [{"format", "text", "box", "registered" (True/False/None)}]
    codes: list[dict] = field(default_factory=list)
    seconds: float | None = None

    def __post_init__(self) -> None:
        assert self.verdict in VERDICTS, self.verdict

    def to_row(self) -> dict:
        row = asdict(self)
        for k in ("risk", "similarity", "seconds"):
            if row[k] is not None:
                row[k] = round(float(row[k]), 4)
        for c in row["candidates"]:
            c["similarity"] = round(float(c["similarity"]), 4)
        return row

    @staticmethod
    def error_row(path: str, message: str) -> "CheckRecord":
        return CheckRecord(path=path, verdict="error", error=message, reasons=[f"could not check: {message}"])


def row_to_csv(row: dict) -> dict:
    """Flatten a row for CSV: lists of strings joined with ' | ', structures as JSON."""
    out = {}
    for k in COLUMNS:
        v = row.get(k)
        if k == "reasons":
            v = " | ".join(v or [])
        elif isinstance(v, (list, dict)):
            v = json.dumps(v, ensure_ascii=False)
        out[k] = "" if v is None else v
    return out
