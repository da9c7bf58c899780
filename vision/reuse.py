"""Stage: is the listing photo a copy of one of the brand's own registered product photos?

Sellers of fakes often show the genuine product's official photo. A copy may be cropped, resized, re-compressed,
watermarked or mirrored. Three steps, cheapest first:

1. the whole photo's embedding (and its mirror's) against the gallery's product photos (k-NN): a few candidates,
   of which only those whose palette holds nearly all of the listing's colours are searched (a copy's colours are
   its source's);
2. the proof: the listing, scaled over a range of crop sizes (and mirrored), is searched inside the candidate by
   normalised cross-correlation of *structure* (a band-pass of the grey image), at two resolutions. A copy agrees
   with its source at every pixel; a new photograph of the same product or logo does not, and band-passing removes
   the smooth light gradients that would make any two photos correlate. The score is the better of the two
   resolutions: heavy JPEG or downscaling washes out the finer band of a copy, not the coarser one. At each
   resolution the horizontal band where the two differ most (a tenth of the height) may be left out: a caption or
   watermark line laid over a copy covers such a band, and would otherwise decide a small crop's score.
3. the colours: where the structure agrees, a copy also shows the product photo's own colours (a median CIELAB
   difference of about 1). Structure alone is ambiguous for a crop that holds little more than a product's rounded
   corner, which another product photo may show too, in other colours; a new photograph of the product has the
   colours of its own scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .index import RefIndex
from .record import CheckRecord
from .verdict import possessive

__all__ = ["ReuseConfig", "Reuse", "ProductView", "product_candidates", "structure", "match_copy", "find_reuse",
           "report_reuse"]

REUSE_RISK = 0.7  # risk of a listing that shows the brand's own product photo

@dataclass(frozen=True)
class ReuseConfig:
    candidates: int = 12  # distinct product photos verified per listing, by embedding similarity (+ the brand's)
    min_similarity: float = 0.45  # whole-photo embedding similarity below which a product photo is not a candidate
    brands: int = 2  # the product photos of the best brand hypotheses by logo are verified too
    side: int = 200  # product photos are compared at this longest side (and at half of it, for the search)
    min_palette: float = 0.8  # share of the listing's pixels whose colour (to a CIELAB bin of 6 and its neighbours)
    # the product photo has, below which it is not searched: copies have >= 0.97 (benchmarks/signals.py, seeds 0-2),
    # 95% of other candidates < 0.8; checking costs 0.15 ms, a search 3.5 ms
    min_crop: float = 0.35  # smallest crop searched: the listing's width as a share of the product photo's
    scales: int = 20  # crop sizes searched (at half resolution) between min_crop and 1
    min_coarse: float = 0.35  # the half-resolution search must reach this correlation to be refined
    band: float = 0.1  # height of the worst-differing band left out (share of the template's height; 0: none)
    min_correlation: float = 0.6  # structure a copy must reach ...
    max_colour_gap: float = 5.0  # ... with colours this close (median CIELAB delta E); measured on benchmarks/
    # signals.py's edited copies and new photos (seeds 0-2): copies <= 1.6 in 95% of cases (watermarked small crops
    # up to 11); other photos placed at a correlation >= 0.5 all >= 6, 95% >= 20


@dataclass(frozen=True)
class Reuse:
    reference: str  # gallery-relative path of the product photo
    mirrored: bool
    crop: float  # the listing's width as a share of the product photo's
    correlation: float
    colour_gap: float  # median CIELAB delta E between the listing and the product photo where it was placed


@dataclass(frozen=True)
class ProductView:
    """A product photo as match_copy compares it (see `structure`)."""
    coarse: np.ndarray  # (h, w) float32 band-passed grey at longest side `side / 2`
    fine: np.ndarray  # the same at longest side `side`
    lab: np.ndarray  # (h, w, 3) float32 CIELAB at the fine size
    palette: np.ndarray  # (L, a, b) uint8 bins of PALETTE_BIN CIELAB units: 1 where the photo has that colour or a
    # neighbouring one


PALETTE_BIN = 6.0  # CIELAB units per palette bin


def product_candidates(index: RefIndex, whole: np.ndarray, cfg: ReuseConfig = ReuseConfig()) -> list[str]:
    """whole: (Q, dim) embeddings of the whole listing photo (and its mirror) -> gallery-relative paths of the
    product photos worth verifying, most similar first ([] when the gallery has none close enough)."""
    subset, views = index.product_views()
    if len(subset) == 0 or len(whole) == 0:
        return []
    # each photo has several views (whole, crops) in the index: ask for enough neighbours to see `candidates` photos
    sims, ids = index.search(whole, min(cfg.candidates * views, len(subset)), subset)
    best: dict[str, float] = {}
    for s, i in zip(sims.ravel(), ids.ravel()):
        if i >= 0 and s >= cfg.min_similarity:
            e = index.entries[int(i)]
            key = f"{e.brand}/{e.file}"
            best[key] = max(best.get(key, -1.0), float(s))
    return sorted(best, key=lambda k: -best[k])[: cfg.candidates]


def structure(rgb: np.ndarray, side: int) -> ProductView:
    """(H, W, 3) uint8 RGB product photo -> its ProductView for longest side `side`."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    h, w = grey.shape
    coarse, fine = ((max(1, round(w * n / max(h, w))), max(1, round(h * n / max(h, w)))) for n in (side // 2, side))
    lab = _lab(rgb, fine)
    return ProductView(_band(grey, coarse), _band(grey, fine), lab, _palette(lab))


def _bins(lab: np.ndarray) -> tuple[np.ndarray, ...]:
    """Palette bin indices (L, a, b) of CIELAB pixels, offset by one so that every bin has neighbours."""
    q = ((lab + np.float32([0, 128, 128])) / PALETTE_BIN).astype(np.int32) + 1
    return q[..., 0], q[..., 1], q[..., 2]


def _palette(lab: np.ndarray) -> np.ndarray:
    grid = np.zeros((int(100 / PALETTE_BIN) + 3, int(256 / PALETTE_BIN) + 3, int(256 / PALETTE_BIN) + 3), np.uint8)
    grid[_bins(lab)] = 1
    # JPEG and resampling move a colour a little: its neighbouring bins count too
    grid = np.stack([cv2.dilate(g, np.ones((3, 3), np.uint8)) for g in grid])
    return np.maximum(grid, np.maximum(np.roll(grid, 1, 0), np.roll(grid, -1, 0)))


def _lab(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if size[0] < rgb.shape[1] else cv2.INTER_LINEAR)
    return cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _band(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Band-pass (edges and texture, no light gradients) at `size` (w, h); filter sizes follow the longest side."""
    area = size[0] < grey.shape[1]
    grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA if area else cv2.INTER_LINEAR)
    k = max(size) / 200
    return cv2.GaussianBlur(grey, (0, 0), 0.8 * k) - cv2.GaussianBlur(grey, (0, 0), 3.0 * k)


def _search(listing: "_Listing", product: np.ndarray, crops, mirrors) -> tuple:
    """Best (correlation, crop, mirrored, (x, y), template) of the listing scaled to each crop size inside
    `product` (template None when no crop size fits)."""
    ph, pw = product.shape
    best = (-1.0, 0.0, False, (0, 0), None)
    for crop in crops:
        w = round(pw * crop)
        h = round(w * listing.aspect)
        if h > ph or w > pw or min(w, h) < 12:
            continue
        tpl = listing.template(w, h)
        for mirrored in mirrors:
            t = np.ascontiguousarray(tpl[:, ::-1] if mirrored else tpl)
            _, corr, _, loc = cv2.minMaxLoc(cv2.matchTemplate(product, t, cv2.TM_CCOEFF_NORMED))
            if corr > best[0]:
                best = (float(corr), float(crop), mirrored, loc, t)
    return best


def _banded(product: np.ndarray, found: tuple, frac: float) -> float:
    """The correlation of `_search`'s best placement `found` with the horizontal band (`frac` of the template's
    height) where template and product differ most left out; -1 when nothing was placed."""
    _, _, _, (x, y), t = found
    if t is None or frac <= 0:
        return -1.0
    p = product[y:y + t.shape[0], x:x + t.shape[1]]
    z = lambda a: (a - a.mean()) / (a.std() + 1e-9)
    rows = ((z(p) - z(t)) ** 2).mean(1)
    k = max(1, round(len(rows) * frac))
    i = int(np.argmax(np.convolve(rows, np.ones(k), "valid")))
    keep = np.ones(len(rows), bool)
    keep[i:i + k] = False
    a, b = p[keep] - p[keep].mean(), t[keep] - t[keep].mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-12))


class _Listing:
    """The listing's colours and grey image (shrunk once to the products' size) and its band-passed templates by
    size: product photos of one size ask for the same templates, so each is made once per listing, not once per
    candidate."""

    def __init__(self, rgb: np.ndarray, cfg: ReuseConfig):
        self.aspect = rgb.shape[0] / rgb.shape[1]
        s = cfg.side / max(rgb.shape[:2])
        # no template is larger than the product photo's `side`: shrink once, not once per crop size
        self.rgb = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else rgb
        self.grey = cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        self._templates: dict[tuple[int, int], np.ndarray] = {}
        self._bins: tuple[np.ndarray, ...] | None = None

    def coverage(self, palette: np.ndarray) -> float:
        """Share of the listing's pixels (at a quarter of the products' size) whose colour `palette` holds."""
        if self._bins is None:
            small = (max(1, self.rgb.shape[1] // 2), max(1, self.rgb.shape[0] // 2))
            self._bins = _bins(_lab(self.rgb, small))
        return float(palette[self._bins].mean())

    def template(self, w: int, h: int) -> np.ndarray:
        if (w, h) not in self._templates:
            self._templates[w, h] = _band(self.grey, (w, h))
        return self._templates[w, h]


def match_copy(listing_rgb: np.ndarray | _Listing, product: ProductView,
               cfg: ReuseConfig = ReuseConfig()) -> tuple[float, float, bool, float]:
    """(score, crop, mirrored, colour gap) of the listing as a copy of `product`: crop sizes and both orientations
    searched at half resolution, the best refined in 1% steps at full resolution; the score is the best correlation
    of the two, each also with its worst band left out (`_banded`); the colour gap is the median CIELAB delta E at
    the full-resolution placement (inf when the search did not get that far). A product photo whose palette lacks
    the listing's colours (`ReuseConfig.min_palette`) is not searched: (-1, 0, False, inf)."""
    listing = listing_rgb if isinstance(listing_rgb, _Listing) else _Listing(listing_rgb, cfg)
    if listing.coverage(product.palette) < cfg.min_palette:
        return -1.0, 0.0, False, np.inf
    coarse = _search(listing, product.coarse, np.geomspace(1.0, cfg.min_crop, cfg.scales), (False, True))
    if coarse[0] < cfg.min_coarse:
        return (*coarse[:3], np.inf)
    step = (1 / cfg.min_crop) ** (1 / (cfg.scales - 1))  # ratio between neighbouring coarse crops
    crops = np.linspace(coarse[1] / step, min(1.0, coarse[1] * step), 13)
    fine = _search(listing, product.fine, crops, (coarse[2],))
    score, crop, mirrored = max((max(r[0], _banded(img, r, cfg.band)), r[1], r[2])
                                for r, img in ((coarse, product.coarse), (fine, product.fine)))
    return score, crop, mirrored, _colour_gap(listing, product.lab, fine)


def _colour_gap(listing: _Listing, lab: np.ndarray, found: tuple) -> float:
    """Median CIELAB delta E between the listing and the product photo's colours (`lab`) at `_search`'s placement
    `found` (the median, so that a watermark's pixels do not count); inf when nothing was placed."""
    _, _, mirrored, (x, y), t = found
    if t is None:
        return np.inf
    h, w = t.shape
    mine = _lab(listing.rgb[:, ::-1] if mirrored else listing.rgb, (w, h))
    return float(np.median(np.linalg.norm(mine - lab[y:y + h, x:x + w], axis=2)))


def find_reuse(index: RefIndex, whole: np.ndarray, rgb: np.ndarray, product_view: Callable[[str], ProductView],
               also: list[str] = (), cfg: ReuseConfig = ReuseConfig()) -> Reuse | None:
    """The registered product photo `rgb` copies, or None. `whole`: (2, dim) embeddings of the photo and its
    mirror image; `also`: product photos to verify anyway (the matched brand's: a small crop of a product photo
    keeps its logo but not its look); `product_view(path)` -> its `structure` (cached by the caller)."""
    candidates = product_candidates(index, whole, cfg)
    best, listing = None, _Listing(rgb, cfg)
    for ref in candidates + [p for p in also if p not in candidates]:
        corr, crop, mirrored, gap = match_copy(listing, product_view(ref), cfg)
        if corr >= cfg.min_correlation and gap <= cfg.max_colour_gap and (best is None or corr > best.correlation):
            best = Reuse(ref, mirrored, crop, corr, gap)  # the best, not the first: a brand's photos may share a scene
    return best


def report_reuse(record: CheckRecord, reuse: Reuse | None, brand_names: dict[str, str]) -> None:
    """Put a found copy into `record`: field `reused_reference`, a reason, and a flag (a genuine-looking logo in
    someone else's photo proves nothing about the product on sale)."""
    if reuse is None or record.verdict == "error":
        return
    brand = reuse.reference.split("/", 1)[0]
    record.reused_reference = reuse.reference
    how = "a mirrored copy" if reuse.mirrored else "a copy"
    part = "all" if reuse.crop > 0.97 else f"a crop ({reuse.crop:.0%} of its width)"
    record.reasons.append(f"the photo is {how} of {part} of {possessive(brand_names.get(brand, brand))} own product "
                          f"photo {reuse.reference} (correlation {reuse.correlation:.2f}, colours within delta E "
                          f"{reuse.colour_gap:.1f}): sellers of fakes often show the genuine product's photo")
    if record.brand is None:
        record.brand, record.brand_name = brand, brand_names.get(brand, brand)
    record.verdict = "suspect"
    record.risk = max(record.risk or 0.0, REUSE_RISK)
