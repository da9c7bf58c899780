"""Verification: for a brand hypothesis, align its reference logo onto the listing and measure divergence.

Plain calls of the stages: align -> (warp the listing's ink into the reference frame) -> geometry -> detail.
Reads and compares, writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from .align import (
    AlignConfig,
    Alignment,
    align_logo,
    align_without_a_piece,
    grow_box,
    hull_overlap,
    mask_f,
    mirrored,
    to_grey,
    view_problem,
)
from .candidates import Box
from .colour import Colour, compare_colours
from .detail import Detail, divergence, ink_extent, stroke_px
from .geometry import Geometry, part_residuals
from .wordmark import Reading, TextLine, read_wordmark

__all__ = ["Evidence", "warp_grey", "binarise", "drop_clutter", "ink_levels", "midpoint", "spread", "verify_brand",
           "evidence_at", "box_resolution", "outline_box", "seen_reference", "saturated", "footprint"]


@dataclass(frozen=True)
class Evidence:
    brand: str
    reference: str  # "<brand>/logos/<file>"
    box: Box
    alignment: Alignment
    geometry: Geometry | None = None  # None when not aligned
    detail: Detail | None = None
    mirrored_quality: float = 0.0  # ink overlap when the mirrored reference is aligned instead
    trivial_quality: float = 0.0  # overlap the reference's own convex hull would reach: what any blob can score
    fidelity: float = 0.0  # tolerant overlap (align.mask_f) of reference and listing ink in the reference frame
    footprint: float = 1.0  # reference pixels covered by one photo pixel
    resolution: float = float("inf")  # the reference's typical stroke width in photo pixels (not aligned: an
    # upper bound, as if the logo filled the box; inf when unknown)
    wordmark: Reading | None = None  # None when the reference has no legible wordmark
    colour: Colour | None = None
    other_text: str | None = None  # unaligned only: legible text in the box that is not the brand's wordmark
    # (set by check.vet_text, which reads only where the verdict would otherwise be "looks like")
    read_as: str | None = None  # not confirmed only: this brand's wordmark, read where another brand was
    # hypothesised, or around the box of a no_match's closest brand (set by check.vet_text and check.read_closest)

    @property
    def specificity(self) -> float:
        """How much of the overlap a plain blob could not have produced: 0 = no better than a blob, 1 = perfect."""
        t = min(self.trivial_quality, 0.95)
        return max(0.0, (self.alignment.quality - t) / (1.0 - t))

    @property
    def aligned(self) -> bool:
        return self.alignment.ok


def warp_grey(photo: np.ndarray, H: np.ndarray, shape: tuple[int, int], polarity: int,
              tone: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """The listing logo in the reference frame as (h, w) uint8 grey (luminance, or the alignment's colour axis:
    align.grey_tone), dark ink on a light surface."""
    h, w = shape
    warped = to_grey(cv2.warpPerspective(photo, H, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                         borderMode=cv2.BORDER_REPLICATE), tone)
    return warped if polarity > 0 else 255 - warped


def binarise(g: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
    """The listing's ink (float 0/1) from its warped grey (warp_grey), blurred 3x3. With `ref` (the expected ink,
    e.g. seen_reference) the threshold is the midpoint of the ink and surface grey levels measured inside and just
    around it (ink_levels): blur spreads a stroke symmetrically about that level, so stroke widths survive. Otsu
    (width-biased toward the larger class) is the fallback."""
    level = midpoint(ink_levels(g, ref)) if ref is not None else None
    if level is not None:
        return (g < level).astype(np.float32)
    _, m = cv2.threshold(g, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return (1 - m).astype(np.float32)


def drop_clutter(listing: np.ndarray, ref_ink: np.ndarray, reach: float = 0.04) -> np.ndarray:
    """The listing's ink (reference frame) without what enters the frame from outside, far from the logo: ink
    further than `reach` of the logo's size from any reference ink that connects to the frame's border there (a
    product's edge crossing a small print's frame read as 34% of a genuine Razer emblem differing). A part moved
    within the logo stays; so does the near end of anything touching the logo."""
    reach_px = max(3.0, reach * ink_extent(ref_ink))
    far = cv2.distanceTransform((ref_ink <= 0.5).astype(np.uint8), cv2.DIST_L2, 3) > reach_px
    _, labels = cv2.connectedComponents(((listing > 0.5) & far).astype(np.uint8), connectivity=8)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge > 0]
    return np.where(np.isin(labels, edge), 0.0, listing).astype(np.float32) if len(edge) else listing


def ink_levels(g: np.ndarray, ref: np.ndarray) -> tuple[float, float, float] | None:
    """(ink, surface, surface spread) grey levels of `g` inside and just around the expected ink `ref`: the darkest
    5% inside (thin strokes never reach their true ink level at their median: their darkest pixels do), the median
    around and the spread there, whatever its cause (noise, JPEG, a lighting gradient: all of them deepen the
    darkest 5% too); None when either area is too small."""
    ink = (ref > 0.5).astype(np.uint8)
    k = max(5, int(0.08 * max(g.shape)) | 1)
    inside = cv2.erode(ink, np.ones((3, 3), np.uint8)) > 0
    around = (cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0) & (
        cv2.dilate(ink, np.ones((5, 5), np.uint8)) == 0)
    if inside.sum() < 20 or around.sum() < 20:
        return None
    return float(np.percentile(g[inside], 5)), float(np.median(g[around])), spread(g[around])


def midpoint(levels: tuple[float, float, float] | None) -> float | None:
    """The grey level half-way between ink and surface (ink_levels), or None when they are too close to tell."""
    return 0.5 * (levels[0] + levels[1]) if levels is not None and levels[1] - levels[0] > 10 else None


def spread(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation: a standard deviation that a few outliers do not inflate."""
    v = values.astype(np.float32)
    return 1.4826 * float(np.median(np.abs(v - np.median(v))))


MIN_PART_PX = 30.0  # photo pixels a logo part needs to be judged on its own (geometry.part_residuals)


def verify_brand(photo: np.ndarray, boxes: list[Box], brand: str, reference: str, ref_ink: np.ndarray,
                 cfg: AlignConfig = AlignConfig(), text_lines: list[TextLine] = (),
                 colors: tuple[str, ...] = ()) -> Evidence:
    """Align the reference in `boxes` (best first) until one fits well (see `_good`), keeping the best fit; then
    measure geometry and detail divergence, read the wordmark at the reference's `text_lines`
    (wordmark.reference_lines) and compare colours with `colors`."""
    trivial = hull_overlap(ref_ink)

    def fit(box: Box) -> tuple[Box, Alignment]:
        return box, align_logo(photo, box, ref_ink, cfg)

    def better(new: tuple[Box, Alignment], old: tuple[Box, Alignment] | None) -> tuple[Box, Alignment]:
        return new if old is None or (new[1].ok, new[1].quality) > (old[1].ok, old[1].quality) else old

    best = None
    for box in boxes:
        attempt = fit(box)
        best = better(attempt, best)
        if _good(attempt[1], trivial, cfg):
            break
    if not _good(best[1], trivial, cfg):  # a missing or recoloured part: the rest of the logo may still fit
        if (rest := align_without_a_piece(photo, best[0], ref_ink, cfg)).ok:
            best = (best[0], rest)
    box, a = best
    # a loose fit still says where the logo is, and so does a fit that runs out of its box (a grid window that
    # cuts the logo: a genuine GitLab print fitted 0.82 to the part inside, 0.99 in the box its fit outlines); a
    # fit without a piece is loose by design
    if a.ok and a.method != "rest" and (not _good(a, trivial, cfg)
                                        or _runs_out(a.H, ref_ink.shape, box, photo.shape, cfg.context)):
        best = better(fit(outline_box(a.H, ref_ink.shape, photo.shape)), best)
    return evidence_at(photo, *best, brand, reference, ref_ink, cfg, text_lines, colors)


def evidence_at(photo: np.ndarray, box: Box, a: Alignment, brand: str, reference: str, ref_ink: np.ndarray,
                cfg: AlignConfig = AlignConfig(), text_lines: list[TextLine] = (), colors: tuple[str, ...] = ()
                ) -> Evidence:
    """The Evidence of alignment `a` (found in the photo region `box`): geometry and detail divergence, the
    wordmark read at the reference's `text_lines` and colours compared with `colors`. A fit that is no camera's
    view (align.view_problem) is a failed alignment whose note says why, never an exception: every size computed
    here is bounded by the reference's working size and the photo's."""
    trivial = hull_overlap(ref_ink)
    if a.ok and (why := view_problem(a.H, ref_ink.shape, box, cfg.view)) is not None:
        a = replace(a, H=None, method="none", note=why)
    if not a.ok:
        return Evidence(brand, reference, box, a, trivial_quality=trivial, resolution=box_resolution(ref_ink, box))
    fp = footprint(a.H, ref_ink.shape)
    # compare like with like: the reference as the camera would have seen it at the listing's resolution
    grey = warp_grey(photo, a.H, ref_ink.shape, a.polarity, a.tone)
    g3 = cv2.GaussianBlur(grey, (3, 3), 0)
    seen = seen_reference(ref_ink, a.H, fp, g3)
    warped = drop_clutter(binarise(g3, seen), ref_ink)
    tol = max(1.0, 0.6 * fp)  # sub-photo-pixel misregistration is not divergence
    # a part of a few photo pixels can vanish in blur and JPEG (a 20-pixel piece of a small, blurred Porsche crest
    # read as missing, risk 0.94): such parts are not judged on their own
    geometry = part_residuals(seen, warped, tol=tol, min_area=MIN_PART_PX * fp * fp)
    detail = divergence(seen, warped, tolerance=0.5 * fp)
    fidelity = mask_f(seen, warped, tol)
    mirror = 0.0
    # only pay for the mirror test when something is off; a fit without a piece already explains what is off (its
    # whole overlap is low by the missing share, which a mirror image's loose fit would beat)
    if a.method != "rest" and (a.quality < 0.85 or detail.blob_frac > 0.05):
        m = align_logo(photo, box, mirrored(ref_ink), cfg, need=a.quality)  # only a better fit is a mirror's sign
        mirror = m.quality if m.ok else 0.0
    reading = read_wordmark(grey, list(text_lines))
    # colour is only judged where strokes are a few photo pixels wide: thinner ones take the surface's colour
    # from blur and JPEG's halved chroma resolution
    stroke = stroke_px(ref_ink) / fp
    colour = compare_colours(photo, a.H, seen, warped, tuple(colors)) if stroke >= 6 else None
    return Evidence(brand, reference, box, a, geometry, detail, mirror, trivial, fidelity, fp, stroke, reading,
                    colour)


def _good(a: Alignment, trivial: float, cfg: AlignConfig) -> bool:
    """An alignment that ends the search over boxes. The box that embeds most like the brand is often a grid window
    that holds the logo beside a product's edge or cuts it: the ink found there fits only loosely, and a tighter
    box further down aligns at 0.96-0.99 (measured on genuine listings of the accuracy benchmark)."""
    return a.ok and (a.inliers >= cfg.min_inliers or a.quality >= max(cfg.good_quality, min(trivial, 0.9)))


def box_resolution(ref_ink: np.ndarray, box: Box) -> float:
    """The reference's stroke width in photo pixels if its ink filled `box` edge to edge: an upper bound where the
    logo could not be aligned (a box holds its logo with a margin)."""
    extent = ink_extent(ref_ink)
    side = max(box[2] - box[0], box[3] - box[1])
    return stroke_px(ref_ink) * side / extent if extent else float("inf")


def _runs_out(H: np.ndarray, shape: tuple[int, int], box: Box, photo_shape: tuple, context: float) -> bool:
    """The reference's outline as H places it leaves the region that `box` was aligned in (by over 2 pixels)."""
    o, r = outline_box(H, shape, photo_shape, grow=0.0), grow_box(box, context, photo_shape)
    return o[0] < r[0] - 2 or o[1] < r[1] - 2 or o[2] > r[2] + 2 or o[3] > r[3] + 2


def outline_box(H: np.ndarray, shape: tuple[int, int], photo_shape: tuple, grow: float = 0.15) -> Box:
    """The photo box around the reference's outline as H (reference -> photo) places it, grown by `grow` per side."""
    h, w = shape
    c = cv2.perspectiveTransform(np.float32([[[0, 0], [w, 0], [w, h], [0, h]]]), H)[0]
    (x0, y0), (x1, y1) = c.min(0), c.max(0)
    gx, gy = grow * (x1 - x0), grow * (y1 - y0)
    return (max(0, int(x0 - gx)), max(0, int(y0 - gy)), min(photo_shape[1], int(np.ceil(x1 + gx))),
            min(photo_shape[0], int(np.ceil(y1 + gy))))


def seen_reference(ref_ink: np.ndarray, H: np.ndarray, fp: float, grey: np.ndarray | None = None) -> np.ndarray:
    """The reference ink after a round trip through the photo's pixel grid (blur to the photo's resolution, warp
    into the photo, warp back), thresholded as the listing's ink is (binarise: half-way between the darkest 5% of
    the ink and the surface), so a stroke finer than the blur keeps the same width on both sides: what a genuine
    print of this size can look like at best. `grey`: the listing's warped grey, blurred 3x3 (as binarise takes
    it), whose surface noise (relative to its contrast, ink_levels) deepens its darkest 5%; the same noise sets this
    threshold, except where the listing's grey saturates (saturated)."""
    h, w = ref_ink.shape
    corners = cv2.perspectiveTransform(np.float32([[[0, 0], [w, 0], [w, h], [0, h]]]), H)[0]
    x0, y0 = np.floor(corners.min(0)) - 2
    x1, y1 = np.ceil(corners.max(0)) + 2
    # a photo grid finer than twice the reference's loses nothing of it: past that the box is sampled at most so
    # finely (a loose fit can spread a reference over 30 megapixels)
    k = min(1.0, float(np.sqrt(4.0 * h * w / ((x1 - x0) * (y1 - y0)))))
    T = np.array([[k, 0, -k * x0], [0, k, -k * y0], [0, 0, 1]], np.float64) @ H  # reference -> photo box
    blurred = cv2.GaussianBlur(ref_ink.astype(np.float32), (0, 0), min(max(0.5, 0.7 * fp), float(max(h, w))))
    size = (max(1, int(np.ceil(k * (x1 - x0)))), max(1, int(np.ceil(k * (y1 - y0)))))
    small = 255.0 * (1.0 - cv2.warpPerspective(blurred, T, size, flags=cv2.INTER_LINEAR))
    back = lambda img: cv2.warpPerspective(img, T, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                           borderMode=cv2.BORDER_REPLICATE)
    page = cv2.GaussianBlur(back(small), (3, 3), 0)
    listing = ink_levels(grey, ref_ink) if grey is not None else None
    noise = np.zeros_like(page)
    if midpoint(listing) is not None and listing[2] > 0:
        # unit noise through the same warp and blur, scaled to the listing's spread at this page's contrast: it
        # only sets the levels (the listing's darkest 5% are noise-deepened too), the page itself stays clean
        unit_noise = cv2.GaussianBlur(
            back(np.random.default_rng(0).standard_normal(small.shape).astype(np.float32)), (3, 3), 0)
        unit = float(np.std(unit_noise[ref_ink < 0.5])) or 1.0
        noise = (255.0 * listing[2] / (listing[1] - listing[0]) / unit) * unit_noise
    level = midpoint(ink_levels(saturated(page + noise, page, grey, ref_ink), ref_ink))
    return (page < (127.5 if level is None else level)).astype(np.float32)


def saturated(noisy: np.ndarray, page: np.ndarray, grey: np.ndarray | None, ref_ink: np.ndarray) -> np.ndarray:
    """The noisy page clipped where the listing's grey saturates (0 and 255, mapped onto the page by a least-squares
    gain and offset near the ink): noise cannot deepen a white print on a dark product past white."""
    if grey is None:
        return noisy
    near = cv2.dilate((ref_ink > 0.5).astype(np.uint8), np.ones((13, 13), np.uint8)) > 0
    x, y = page[near], grey[near].astype(np.float32)
    if x.size < 3 or np.ptp(x) == 0:
        return noisy
    gain, offset = np.polyfit(x, y, 1)
    return np.clip(noisy, -offset / gain, (255.0 - offset) / gain) if gain > 0 else noisy


def footprint(H: np.ndarray, shape: tuple[int, int]) -> float:
    """Reference pixels per photo pixel at the logo's centre (from the local Jacobian of H)."""
    h, w = shape
    c = np.float32([[[w / 2, h / 2], [w / 2 + 1, h / 2], [w / 2, h / 2 + 1]]])
    p = cv2.perspectiveTransform(c, H)[0]
    area = abs(np.cross(np.append(p[1] - p[0], 0), np.append(p[2] - p[0], 0))[2])
    return float(1.0 / np.sqrt(max(area, 1e-9)))
