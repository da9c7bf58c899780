"""Stage: trace codes in a listing photo (QR, DataMatrix, Aztec, PDF417, EAN/UPC and other barcodes), read offline
with zxing-cpp, and judged against the code formats the matched brand registered.

A brand registers its formats as regular expressions the whole decoded text must match (brand.json "codes", e.g.
"https://(www\\.)?nike\\.com/.+"). A readable code that matches none of them is a reason to flag: counterfeits
carry codes that lead elsewhere, or copy a format badly.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .record import CheckRecord

__all__ = ["Code", "read_codes", "check_patterns", "judge_codes"]

CODE_RISK = 0.75  # risk of a listing whose code does not match its brand's registered formats
_MAX_TEXT = 512  # longer decoded texts are cut before matching: a registered pattern never needs more


@dataclass(frozen=True)
class Code:
    format: str  # "QR Code", "Data Matrix", "EAN-13", ...
    text: str
    box: list[int]  # [x0, y0, x1, y1] in photo pixels
    registered: bool | None = None  # matches a registered format of the brand; None when nothing to compare

    def to_json(self) -> dict:
        return asdict(self)


def read_codes(rgb: np.ndarray) -> list[Code]:
    """Every code zxing-cpp can read in the photo (RGB uint8), in reading order (top to bottom, left to right)."""
    import zxingcpp

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    found = []
    for r in zxingcpp.read_barcodes(grey):
        if not r.valid or not r.text:
            continue
        p = r.position
        xs = [p.top_left.x, p.top_right.x, p.bottom_right.x, p.bottom_left.x]
        ys = [p.top_left.y, p.top_right.y, p.bottom_right.y, p.bottom_left.y]
        found.append(Code(str(r.format), r.text, [min(xs), min(ys), max(xs), max(ys)]))
    return sorted(found, key=lambda c: (c.box[1], c.box[0]))


def check_patterns(patterns: tuple[str, ...]) -> tuple[str, ...]:
    """Validate registered code formats (each must compile as a regular expression); returns them."""
    for p in patterns:
        try:
            re.compile(p)
        except re.error as e:
            raise ValueError(f"code format {p!r} is not a valid regular expression: {e}") from None
    return tuple(patterns)


def judge_codes(record: CheckRecord, codes: list[Code], patterns: tuple[str, ...], brand_name: str) -> None:
    """Put the codes into `record` (field `codes`, reasons) and flag it when a code of a matched brand that
    registered formats matches none of them."""
    if not codes:
        return
    judged = []
    for c in codes:
        registered = None
        if record.brand and patterns:
            registered = any(re.fullmatch(p, c.text[:_MAX_TEXT]) for p in patterns)
        judged.append(Code(c.format, c.text, c.box, registered))
    record.codes = [c.to_json() for c in judged]
    for c in judged:
        shown = c.text if len(c.text) <= 80 else c.text[:77] + "..."
        if c.registered is False:
            record.reasons.append(f"{c.format} reads {shown!r}, which is not a code format {brand_name} registered")
        elif c.registered:
            record.reasons.append(f"{c.format} reads {shown!r}, a code format {brand_name} registered")
        else:
            record.reasons.append(f"{c.format} reads {shown!r}")
    if any(c.registered is False for c in judged) and record.verdict in ("consistent", "suspect", "unverified"):
        record.verdict = "suspect"
        record.risk = max(record.risk or 0.0, CODE_RISK)
