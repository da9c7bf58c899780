"""Stage: read a logo's wordmark with bundled OCR and compare it with what the genuine reference reads.

OCR is rapidocr (PP-OCR detection + recognition ONNX models shipped inside the PyPI package, run by onnxruntime).
The genuine reference is read once (detection + recognition) to find its text lines and what OCR makes of them;
a listing logo, already aligned into the reference frame, is then read line by line (recognition only, ~30 ms a
line). Comparing with the reference's own reading, not the registered text, cancels OCR's quirks on a font
("intel." for intel); a line is only used when its reading agrees with the registered wordmark in the first place.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from .log import logger

__all__ = ["TextLine", "Reading", "normalise", "use_threads", "page", "reference_lines", "expected_text",
           "read_wordmark", "read_text", "read_lines", "names_in", "name_edits", "other_text", "unlike", "reads_as",
           "edit_distance"]


@dataclass(frozen=True)
class TextLine:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the reference frame
    text: str  # what OCR reads on the genuine reference


@dataclass(frozen=True)
class Reading:
    expected: str  # the genuine reference's reading of the checked lines, normalised
    read: str  # the listing's reading, normalised ("" when nothing legible)
    score: float  # OCR confidence of the listing's reading (lowest line), 0..1
    edits: int  # edit distance between expected and read


def normalise(text: str) -> str:
    """Upper-case letters and digits only: case, accents and punctuation are typography, not identity (OCR reads
    CITROËN, ŠKODA or CITROEN off the same badge; dropping the accented letter made them CITRON and KODA)."""
    return re.sub(r"[^0-9A-Z]", "", _fold(text).upper())


def _fold(text: str) -> str:
    """`text` with its accents dropped and compatibility forms (full-width letters) made plain."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


_threads = 0  # onnxruntime threads of the OCR models; 0 = all cores


def use_threads(n: int) -> None:
    """OCR's thread count for this process (0 = all cores): one in each scan worker, or the workers' OCR pools
    oversubscribe the cores."""
    global _threads
    if n != _threads:
        _threads = n
        _engine.cache_clear()


@functools.lru_cache(maxsize=2)
def _engine(upscale: bool = False):
    """The OCR engine. `upscale`: its text detector brings an image's shorter side up to 736 px (PP-OCR's default,
    kept for reading references); without, it only shrinks an image whose longer side is over 736 px. Photo regions
    read for text (read_text) are not upscaled: a 78 x 360 strip was detected at 736 x 3,392 px (0.9 s), and the
    accuracy benchmark's regions read alike at a quarter of the time (see README, "Scale")."""
    from rapidocr import RapidOCR

    n = _threads or -1
    params = {"Global.log_level": "error", "EngineConfig.onnxruntime.intra_op_num_threads": n,
              "EngineConfig.onnxruntime.inter_op_num_threads": n}
    if not upscale:
        params.update({"Det.limit_type": "max", "Det.limit_side_len": 736})
    return RapidOCR(params=params)


def page(ink: np.ndarray) -> np.ndarray:
    """Ink coverage (h, w) in [0, 1] -> dark-on-white RGB uint8, what OCR reads best."""
    g = (255.0 - 235.0 * np.clip(ink, 0, 1)).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def reference_lines(ref_ink: np.ndarray, wordmark: str | None, min_score: float = 0.8) -> list[TextLine]:
    """The reference logo's text lines that OCR reads as (part of) `wordmark`; [] when it has none, or when OCR
    cannot read them (a stylised script): then the wordmark is not checked for this reference."""
    want = normalise(wordmark or "")
    if not want:
        return []
    # every flag explicit: rapidocr keeps the flags of the previous call for those left out
    res = _engine(upscale=True)(page(ref_ink), use_det=True, use_cls=False, use_rec=True)
    lines = []
    boxes = getattr(res, "boxes", None)  # absent when nothing was detected
    for quad, text, score in zip(boxes if boxes is not None else [], res.txts or (), res.scores or ()):
        got = normalise(text)
        if score < min_score or len(got) < 2:
            continue
        if got not in want and difflib.SequenceMatcher(None, got, want).ratio() < 0.75:
            continue
        xs, ys = np.asarray(quad)[:, 0], np.asarray(quad)[:, 1]
        lines.append(TextLine((int(xs.min()), int(ys.min()), int(np.ceil(xs.max())), int(np.ceil(ys.max()))), text))
    logger.debug("reference wordmark lines: %s", [line.text for line in lines])
    return lines


def expected_text(lines: list[TextLine]) -> str:
    """The registered wordmark of a reference's `lines`, normalised, as a reading of it should come out."""
    return "".join(normalise(line.text) for line in lines)


def read_wordmark(grey: np.ndarray, lines: list[TextLine]) -> Reading | None:
    """`grey`: the listing logo warped into the reference frame, (h, w) uint8 with dark ink on a light surface.
    Reads each of the reference's `lines` at its place. None when there are no lines to read."""
    if not lines:
        return None
    h, w = grey.shape
    read, score = [], 1.0
    for line in lines:
        x0, y0, x1, y1 = line.box
        pad = max(2, (y1 - y0) // 4)
        crop = grey[max(0, y0 - pad):min(h, y1 + pad), max(0, x0 - pad):min(w, x1 + pad)]
        lo, hi = np.percentile(crop, (2, 98)) if crop.size else (0, 255)
        crop = np.clip((crop.astype(np.float32) - lo) * (255.0 / max(1.0, hi - lo)), 0, 255).astype(np.uint8)
        res = _engine()(np.repeat(crop[..., None], 3, axis=2), use_det=False, use_cls=False, use_rec=True)
        text = normalise(res.txts[0]) if res.txts else ""
        score = min(score, float(res.scores[0]) if res.scores else 0.0)
        read.append(text)
    e, r = expected_text(lines), "".join(read)
    return Reading(e, r, score, edit_distance(e, r))


def read_text(rgb: np.ndarray, min_score: float = 0.8) -> str:
    """All text OCR reads confidently in an RGB uint8 region (detection + recognition), normalised; "" if none."""
    pad = max(8, min(rgb.shape[:2]) // 4)  # the detector misses text that touches the border
    rgb = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    res = _engine()(rgb, use_det=True, use_cls=False, use_rec=True)
    return "".join(normalise(t) for t, sc in zip(res.txts or (), res.scores or ()) if sc >= min_score)


def read_lines(rgb: np.ndarray, min_score: float = 0.7) -> list[TextLine]:
    """The text lines OCR reads confidently in a whole RGB uint8 photo (detection + recognition; the detector works
    at most 736 px on its longer side), each with its box in photo pixels and its text as read; [] if none."""
    res = _engine()(rgb, use_det=True, use_cls=False, use_rec=True)
    boxes = getattr(res, "boxes", None)  # absent when nothing was detected
    out = []
    for quad, text, score in zip(boxes if boxes is not None else [], res.txts or (), res.scores or ()):
        if score >= min_score and normalise(text):
            xs, ys = np.asarray(quad)[:, 0], np.asarray(quad)[:, 1]
            out.append(TextLine((int(xs.min()), int(ys.min()), int(np.ceil(xs.max())), int(np.ceil(ys.max()))),
                                str(text)))
    return out


def names_in(lines: list[TextLine], names: dict[str, tuple[str, ...]], max_words: int = 3
             ) -> list[tuple[str, TextLine]]:
    """(brand, line) for each brand whose name (any of `names[brand]`, as registered) is written in one of `lines`:
    as one to `max_words` consecutive words of the line ("Coca Cola", "McDonald's"), within name_edits of it.
    Longest name first; [] if none."""
    found: dict[str, tuple[int, TextLine]] = {}
    wanted = {brand: [(name, name_edits(name)) for name in map(normalise, texts)] for brand, texts in names.items()}
    for line in lines:
        words = [w for w in map(normalise, re.split(r"[^0-9A-Za-z]+", _fold(line.text))) if w]
        runs = {"".join(words[i:j]) for i in range(len(words))
                for j in range(i + 1, min(len(words), i + max_words) + 1)}
        for brand, names_k in wanted.items():
            for name, k in names_k:
                if len(name) < 2 or not any(r == name or (k and abs(len(r) - len(name)) <= k
                                                          and edit_distance(r, name) <= k) for r in runs):
                    continue
                if len(name) > found.get(brand, (0, None))[0]:
                    found[brand] = (len(name), line)
    return [(b, line) for b, (_, line) in sorted(found.items(), key=lambda t: -t[1][0])]


def name_edits(name: str) -> int:
    """OCR misreadings (edits) a normalised name may show and still be read as itself: none up to 4 characters
    (HP, NBC, MINI: short names are inside many words), one for 5, two from 6 on (a worn or curved print loses
    letters: "adpids", "Coca-Ca"). The steps of common fuzzy matching (Elasticsearch's AUTO fuzziness: two edits
    from 6 characters), kept exact where it allows one edit for 3-4."""
    return 0 if len(name) <= 4 else 1 if len(name) == 5 else 2


def other_text(read: str, lines: list[TextLine]) -> bool:
    """True when `read` (read_text) is legible text that is not the wordmark of `lines`, nor a lookalike of it:
    a photo's caption or watermark resembles a wordmark to the embedder, not to a reader."""
    return unlike(read, expected_text(lines))


def unlike(read: str, want: str, min_len: int = 4, max_ratio: float = 0.5) -> bool:
    """True when the normalised reading `read` is legible text other than `want` altogether. A lookalike
    ("SAMSUNC" for SAMSUNG) stays far above `max_ratio`."""
    if not want or len(read) < min_len or want in read:
        return False
    return difflib.SequenceMatcher(None, read, want).ratio() < max_ratio


def reads_as(read: str, want: str, min_len: int = 3, min_ratio: float = 0.6) -> bool:
    """True when the normalised reading `read` is legible and is `want` or a close misspelling of it."""
    return bool(want) and len(read) >= min_len and difflib.SequenceMatcher(None, read, want).ratio() >= min_ratio


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
