"""Stage: a brand's logo file -> the logo reference the gallery stores (RGBA, cropped, at a working size).

Brands have what their marketing folder holds: JPEG logos on white, coloured, gradient or photo backgrounds,
200 to 8,000 px wide, beside a wordmark. extract_logo finds the mark: a transparent file's alpha is its shape; an
opaque file's background is modelled from its border (a flat colour, a smooth gradient, else a photo, separated
by the colours its border lacks) and every pixel's distance from that model becomes alpha, as align.ink_mask
reads an opaque logo. The
mark (every component, so a lock-up of emblem and wordmark stays one reference) is cropped with a margin and brought
to at most `max_side` pixels: more pixels add cost to calibration and alignment, not accuracy. What was done is
said in `notes`, and a file that looks like a sheet of several logos says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .errors import ImageError
from .wordmark import TextLine, normalise, page, read_lines


@dataclass(frozen=True)
class ExtractConfig:
    max_side: int = 1024  # longest side of a stored logo reference ...
    min_work: int = 256  # ... and a smaller mark is brought up to this (the alignment's working size), so that a
    # lock-up's parts are large enough to be references of their own
    min_part: int = 24  # a part narrower than this (either side, after scaling) is not registered on its own
    part_ink: float = 0.1  # ... nor a part holding less than this share of the ink (a dot, a trademark sign)
    as_given_margin: float = 0.15  # a transparent file whose margins are at most this share of its longest side,
    # of a working size, is kept as given
    small_side: int = 96  # a mark smaller than this is kept, with a note that a larger file would do better
    margin: float = 0.06  # transparent margin around the mark, as a share of its longest side
    analysis_side: int = 512  # the background is modelled and the mark found on the file at this size
    border: float = 0.03  # the border strip the background is sampled from, share of the shorter side (>= 2 px)
    flat_tol: float = 14.0  # RGB distance (90th percentile of the border) within which a model fits the background
    ink_lo: float = 20.0  # distance from the background where ink starts (align.ink_mask's 20 and 60) ...
    ink_span: float = 40.0  # ... and this much further, full ink
    speck: float = 0.0004  # components under this share of the file's area are specks (JPEG noise, dust): dropped
    group_gap: float = 0.08  # components closer than this share of the mark's longest side are one group
    photo_colours: int = 12  # k-means colours that stand for a photo background's border
    crisp: float = 0.45  # regions whose edges are less crisp than this (_sharpness: drawn edges score 0.54-0.94 at
    # the analysis size, shapes blurred by a lens or a soft backdrop 0.07-0.37) are not the mark's
    ink_colours: int = 5  # k-means colours the ink is split into before each region's edge is judged: a backdrop's
    # blurred shape that the mark overlaps is one component with it, but not of its colour
    stack_gap: float = 0.01  # an empty band of rows at least this share of the mark's longest side may part an
    # emblem from the name set under or over it, too close to make two groups (a trefoil over its name) ...
    text_score: float = 0.8  # ... where OCR reads the name (lines this confident) on one side of it only ...
    text_cover: float = 0.9  # ... and that side's ink lies this much within the lines read (not an emblem's stripe)


@dataclass(frozen=True)
class Extraction:
    rgba: np.ndarray  # (H, W, 4) uint8: the logo reference, longest side <= ExtractConfig.max_side
    box: tuple[int, int, int, int]  # the mark with its margin in the file's pixels (x0, y0, x1, y1)
    background: str  # "transparent" | "flat" | "gradient" | "photo"
    background_rgb: tuple[int, int, int] | None  # the background's median colour (None when transparent)
    groups: int  # separate groups of ink found (a lock-up of emblem and wordmark is 2)
    notes: tuple[str, ...]  # what was done, in plain words, for the person registering the logo
    parts: tuple[np.ndarray, ...] = ()  # a lock-up's two parts (emblem, wordmark), each as its own RGBA logo: products
    # often show one without the other, which against the lock-up alone would read as a missing part
    as_given: bool = False  # the file is already what extraction makes (cropped, transparent, of a working size)

    def summary(self, source_size: tuple[int, int]) -> str:
        """One line: what was kept of a file of (width, height) `source_size`."""
        h, w = self.rgba.shape[:2]
        return f"kept {w}x{h} of {source_size[0]}x{source_size[1]}; " + "; ".join(self.notes)


def extract_logo(image: np.ndarray, cfg: ExtractConfig = ExtractConfig()) -> Extraction:
    """A logo file's pixels (H, W, 3) RGB or (H, W, 4) RGBA, uint8 -> its Extraction. Raises ImageError when no
    mark stands out from the background (a blank file)."""
    rgb = np.ascontiguousarray(image[..., :3])
    alpha_in = image[..., 3] if image.ndim == 3 and image.shape[2] == 4 else None
    h, w = rgb.shape[:2]
    s = min(1.0, cfg.analysis_side / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) \
        if s < 1 else rgb
    colour = None
    if alpha_in is not None and (alpha_in < 128).mean() >= 0.01:
        kind, model = "transparent", None
        a_small = cv2.resize(alpha_in, small.shape[1::-1], interpolation=cv2.INTER_AREA) if s < 1 else alpha_in
        ink_small = a_small.astype(np.float32) / 255.0
    else:
        kind, model, colour = _background(small, cfg)
        if kind == "photo":
            ink_small, model = _photo_ink(small, cfg)
        else:
            ink_small = _alpha(small, model, cfg, (small.shape[0], small.shape[1]), (0, 0), 1.0)
    keep = _components(ink_small > 0.5, cfg, None if kind == "transparent" else small)
    if keep is None:
        what = "transparent file" if kind == "transparent" else f"{kind} background"
        raise ImageError(f"no logo found: nothing stands out from the {what}")
    mask_small, (x0, y0, x1, y1), groups = keep
    sh, sw = small.shape[:2]
    if (kind == "transparent" and cfg.min_work <= max(h, w) <= cfg.max_side
            and max(x0, y0, sw - x1, sh - y1) <= cfg.as_given_margin * max(sh, sw)):
        # a cropped transparent logo of a working size already is what extraction would make: kept as given
        parts, said = _lockup(image, groups, cfg)
        notes = ["a transparent logo, cropped and of a working size already: kept as given", *said]
        return Extraction(image.copy(), (0, 0, w, h), kind, None, len(groups), tuple(notes), parts, as_given=True)
    pad = cfg.margin * max(x1 - x0, y1 - y0)
    bx = (max(0.0, (x0 - pad) / s), max(0.0, (y0 - pad) / s),
          min(float(w), (x1 + pad) / s), min(float(h), (y1 + pad) / s))
    box = (int(bx[0]), int(bx[1]), int(np.ceil(bx[2])), int(np.ceil(bx[3])))
    crop_rgb = rgb[box[1]:box[3], box[0]:box[2]]
    ch, cw = crop_rgb.shape[:2]
    t = min(cfg.max_side / max(ch, cw), max(1.0, cfg.min_work / max(ch, cw)))
    size = (max(1, round(cw * t)), max(1, round(ch * t)))
    # the kept components' mask, grown a little, clears specks and the photo outside the mark
    keep_mask = cv2.dilate(mask_small.astype(np.uint8), np.ones((3, 3), np.uint8))
    keep_mask = keep_mask[int(box[1] * s):int(np.ceil(box[3] * s)), int(box[0] * s):int(np.ceil(box[2] * s))]
    keep_mask = cv2.resize(keep_mask, size, interpolation=cv2.INTER_NEAREST) if keep_mask.size else None
    if kind == "transparent":
        out = _resize_rgba(np.dstack([crop_rgb, alpha_in[box[1]:box[3], box[0]:box[2]]]), size)
    else:
        out_rgb = cv2.resize(crop_rgb, size, interpolation=cv2.INTER_AREA if t < 1 else cv2.INTER_CUBIC) \
            if t != 1 else crop_rgb.copy()
        if kind == "photo":
            # at the crop's own resolution: the border's colours, and the kept mask says which ink is the mark's
            far = _colour_distance(out_rgb, model) > cfg.ink_lo
            alpha = cv2.GaussianBlur(far.astype(np.float32), (0, 0), 0.7)
        else:
            # the background model in the file's analysis coordinates, evaluated on the crop's pixel grid
            alpha = _alpha(out_rgb, model, cfg, (round(h * s), round(w * s)), (box[0] * s, box[1] * s), s / t)
        out = np.dstack([out_rgb, np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)])
    if keep_mask is not None and keep_mask.shape == out.shape[:2]:
        out[..., 3] = np.where(keep_mask > 0, out[..., 3], 0)
    if min(out.shape[:2]) < 16:  # load.LoadLimits.min_side: the gallery could not read it back
        raise ImageError(f"the mark found is {out.shape[1]}x{out.shape[0]} px: too thin to be a logo reference")
    notes = [_describe(kind, colour), f"the mark cropped with a {cfg.margin:.0%} margin"]
    if t != 1:
        notes.append(f"scaled to {size[0]}x{size[1]} (longest side {cfg.max_side if t < 1 else cfg.min_work})")
    if max(x1 - x0, y1 - y0) / s < cfg.small_side:
        notes.append(f"the mark is only {round(max(x1 - x0, y1 - y0) / s)} px across: a larger file gives a "
                     f"better reference")
    parts, said = _lockup(out, groups, cfg)
    return Extraction(out, box, kind, colour, len(groups), tuple(notes + said), parts)


def _lockup(rgba: np.ndarray, groups: list[tuple[int, int]], cfg: ExtractConfig) -> tuple[tuple, list[str]]:
    """A kept logo of several groups of ink -> (its two parts when it is an emblem-and-wordmark lock-up, else (),
    the note saying so or that it looks like a sheet of logos); one group -> (its emblem,) when it is an emblem
    stacked with its name (_stacked), else ((), [])."""
    if len(groups) < 2:
        parts = _stacked(rgba, cfg)
        return (parts, ["an emblem stacked with its name (a lock-up): kept as one reference, and the emblem as its "
                        "own"]) if parts else ((), [])
    sheet = _sheet(groups)
    if sheet:
        return (), [f"looks like a sheet of {sheet} logos side by side: kept as one reference, but register each "
                    f"logo from its own file"]
    parts = _parts(rgba, cfg) if len(groups) == 2 else ()
    return parts, [f"{len(groups)} separate parts (a lock-up of an emblem and a wordmark): kept as one reference"
                   + {0: "", 1: ", and its larger part as its own (the other is too small to stand alone)",
                      2: ", and each part as its own (2)"}[len(parts)]]


def extraction_picture(image: np.ndarray, extraction: Extraction, height: int = 240) -> np.ndarray:
    """What registration kept, for a person to check -> (height, W, 3) uint8 RGB: [the file (RGB or RGBA), the kept
    box drawn | the kept logo on a checkerboard, where its transparency shows]."""
    s = height / image.shape[0]
    left = _shown(image, s)
    x0, y0, x1, y1 = (round(v * s) for v in extraction.box)
    cv2.rectangle(left, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), (230, 30, 30), 2)
    right = _shown(extraction.rgba, height / extraction.rgba.shape[0])
    return np.concatenate([left, np.full((height, 8, 3), 255, np.uint8), right], axis=1)


def _shown(image: np.ndarray, scale: float) -> np.ndarray:
    """RGB or RGBA scaled by `scale` (first: a large file never gets a full-size copy), RGBA on a checkerboard."""
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    small = np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    return _on_checkerboard(small) if small.ndim == 3 and small.shape[2] == 4 else small[..., :3].copy()


def _on_checkerboard(rgba: np.ndarray, cell: int = 12) -> np.ndarray:
    h, w = rgba.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    board = np.where(((yy // cell + xx // cell) % 2 == 0)[..., None], 255, 205).astype(np.float32)
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    return (rgba[..., :3] * a + board * (1 - a) + 0.5).astype(np.uint8)


def _background(rgb: np.ndarray, cfg: ExtractConfig):
    """Model the background from the border strip: ("flat" | "gradient" | "photo", coefficients, median colour).
    The model is quadratic in (x, y) for gradients; its coefficients map [1, x, y, x², y², xy] to RGB."""
    h, w = rgb.shape[:2]
    b = max(2, round(cfg.border * min(h, w)))
    ys, xs = np.mgrid[0:h, 0:w]
    strip = np.zeros((h, w), bool)
    strip[:b], strip[-b:], strip[:, :b], strip[:, -b:] = True, True, True, True
    px = rgb[strip].astype(np.float32)
    colour = tuple(int(v) for v in np.median(px, axis=0))
    flat = np.percentile(np.linalg.norm(px - np.float32(colour), axis=1), 90)
    if flat <= cfg.flat_tol:
        coef = np.zeros((6, 3), np.float32)
        coef[0] = colour
        return "flat", coef, colour
    basis = _basis(xs[strip] / max(w - 1, 1), ys[strip] / max(h - 1, 1))
    coef = np.linalg.lstsq(basis, px, rcond=None)[0]
    for _ in range(2):  # refit without the border pixels the logo or a shadow reaches
        res = np.linalg.norm(basis @ coef - px, axis=1)
        inl = res <= max(np.percentile(res, 80), 1.0)
        coef = np.linalg.lstsq(basis[inl], px[inl], rcond=None)[0]
    res = np.linalg.norm(basis @ coef - px, axis=1)
    if np.percentile(res, 90) <= cfg.flat_tol:
        return "gradient", coef.astype(np.float32), colour
    return "photo", None, colour


def _basis(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x, y = x.astype(np.float32), y.astype(np.float32)
    return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=-1)


def _alpha(rgb: np.ndarray, coef: np.ndarray, cfg: ExtractConfig, frame: tuple[int, int], origin: tuple[float, float],
           step: float) -> np.ndarray:
    """Ink coverage (float32, 0..1) of `rgb`: its distance from the background model. The model's (x, y) run over a
    `frame` (H, W) of analysis pixels; `rgb`'s pixel (i, j) sits at analysis (origin + (j, i) * step)."""
    h, w = rgb.shape[:2]
    fy, fx = max(frame[0] - 1, 1), max(frame[1] - 1, 1)
    x = (origin[0] + np.arange(w, dtype=np.float32) * step) / fx
    y = (origin[1] + np.arange(h, dtype=np.float32) * step) / fy
    out = np.empty((h, w), np.float32)
    for i in range(0, h, 256):  # in bands: a large crop never needs more than a band's float copy
        yy, xx = np.meshgrid(y[i:i + 256], x, indexing="ij")
        bg = _basis(xx, yy) @ coef
        d = np.linalg.norm(rgb[i:i + 256].astype(np.float32) - bg, axis=2)
        out[i:i + 256] = np.clip((d - cfg.ink_lo) / cfg.ink_span, 0.0, 1.0)
    return out


def _photo_ink(rgb: np.ndarray, cfg: ExtractConfig) -> tuple[np.ndarray, np.ndarray]:
    """Ink of a logo printed over a photo: colours the border's photo does not hold (farther than ink_lo from each
    of its k-means colours), in components that do not run into the border, of which the largest group is kept
    (the mark; other salient things of the photo are rarely of colours absent from its whole border).
    Returns (ink, the border's colours (K, 3))."""
    h, w = rgb.shape[:2]
    b = max(2, round(cfg.border * min(h, w)))
    strip = np.zeros((h, w), bool)
    strip[:b], strip[-b:], strip[:, :b], strip[:, -b:] = True, True, True, True
    px = rgb[strip].astype(np.float32)
    k = min(cfg.photo_colours, len(px))
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(0)  # k-means' initial centres come from OpenCV's generator: same file, same reference
    _, _, centres = cv2.kmeans(px, k, None, crit, 2, cv2.KMEANS_PP_CENTERS)
    ink = np.clip((_colour_distance(rgb, centres) - cfg.ink_lo) / cfg.ink_span, 0.0, 1.0)
    n, labels, stats, _ = cv2.connectedComponentsWithStats((ink > 0.5).astype(np.uint8), connectivity=8)
    touching = set(np.unique(labels[strip]).tolist())
    inside = (labels > 0) & ~np.isin(labels, list(touching))
    # a mark laid over a photo has crisp edges; the photo's own things, seen through a lens, rarely do
    inside = _crisp_ink(rgb, inside, cfg)
    gap = max(3, round(cfg.group_gap * max(h, w) / 2))
    joined = cv2.dilate(inside.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_RECT, (gap, gap)))
    m, glabels, gstats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    if m <= 1:
        return np.zeros((h, w), np.float32), centres
    best = 1 + int(np.argmax([np.count_nonzero(inside & (glabels == i)) for i in range(1, m)]))
    return np.where(inside & (glabels == best), ink, 0.0).astype(np.float32), centres


def _crisp_ink(rgb: np.ndarray, ink: np.ndarray, cfg: ExtractConfig) -> np.ndarray:
    """The ink (bool (H, W)) of `rgb` without the regions whose edges are blurred: a backdrop's shapes seen out of
    focus. The ink is split by colour (k-means, `ink_colours`) and into connected regions of one colour, so that a
    blurred shape the mark overlaps is judged apart from it; each region is judged by the median sharpness of its
    pixels that border the background (not those bordering other ink). A region with too little such border takes
    the side of the judged regions of its colour, or where they disagree, of the decided regions it borders.
    No crisp region at all: a soft mark, kept whole."""
    ys, xs = np.nonzero(ink)
    if len(ys) < 2 * cfg.ink_colours:
        return ink
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(0)  # same file, same reference
    _, colour, _ = cv2.kmeans(rgb[ys, xs].astype(np.float32), cfg.ink_colours, None, crit, 2,
                              cv2.KMEANS_PP_CENTERS)
    by_colour = np.full(ink.shape, -1, np.int32)
    by_colour[ys, xs] = colour[:, 0]
    regions = np.zeros(ink.shape, np.int32)  # one id per connected region of one colour
    n, region_colour = 0, [-1]
    for k in range(cfg.ink_colours):
        m, lab = cv2.connectedComponents((by_colour == k).astype(np.uint8), connectivity=8)
        regions = np.where(lab > 0, lab + n, regions)
        n += m - 1
        region_colour += [k] * (m - 1)
    region_colour = np.array(region_colour)
    sharp = _sharpness(rgb)
    kernel = np.ones((3, 3), np.uint8)
    on_border = ink & cv2.dilate((~ink).astype(np.uint8), kernel).astype(bool)
    ids = regions[on_border]
    count = np.bincount(ids, minlength=n + 1)
    median = np.zeros(n + 1)
    for i in np.nonzero(count >= 8)[0]:
        median[i] = np.median(sharp[on_border][ids == i])
    judged = count >= 8
    keep = judged & (median >= cfg.crisp)
    if not keep[1:].any():
        return ink
    area = np.bincount(regions.ravel(), minlength=n + 1)
    decided = judged.copy()
    for i in np.nonzero(~judged[1:])[0] + 1:
        # interiors and slivers: the side of their colour's judged regions of a like size (a blurred shape's pieces
        # between the mark's letters; not the slivers of mixed colour along the mark's edges) ...
        alike = keep[judged & (region_colour == region_colour[i]) & (area >= area[i] / 4)]
        if len(alike) and (alike.all() or not alike.any()):
            keep[i], decided[i] = alike[0], True
    # ... else the side of the decided regions they border, from the judged ones inwards: a blurred shape's core is
    # walled in by its rim, whose colours are other regions
    touch = _adjacency(regions, n)
    for _ in range(n):
        todo = np.nonzero(~decided[1:])[0] + 1
        if not len(todo):
            break
        w = touch[np.ix_(todo, np.nonzero(decided)[0])]
        kept_share = w @ keep[decided] / np.maximum(w.sum(1), 1)
        known = w.sum(1) / np.maximum(touch[todo].sum(1), 1)  # share of a region's boundary already decided
        if not known.any():  # touching nothing decided: kept, as a speck within the mark would be
            keep[todo], decided[todo] = True, True
            break
        ready = known >= min(0.5, known.max())  # the best known first: a core waits for its rim
        keep[todo[ready]] = kept_share[ready] >= 0.75  # a blurred shape's inside borders its blurred rim
        decided[todo[ready]] = True
    enclosed = np.nonzero(~judged[1:] & keep[1:])[0] + 1
    for i in enclosed:  # the shape's pieces the mark encloses go with the more of its colour, where it was judged
        alike = (region_colour == region_colour[i]) & ~judged
        if area[alike & ~keep].sum() > area[alike & keep].sum():
            keep[i] = False
    keep[0] = False
    return keep[regions]


def _adjacency(regions: np.ndarray, n: int) -> np.ndarray:
    """(n + 1, n + 1) float: how many 8-neighbour pixel pairs join each two ids of `regions` (0: the background)."""
    pairs = []
    h, w = regions.shape
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = regions[:h - dy, max(0, -dx):w - max(0, dx)]
        b = regions[dy:, max(0, dx):w + min(0, dx)]
        diff = a != b
        pairs.append(np.stack([a[diff], b[diff]], 1))
    pairs = np.concatenate(pairs)
    out = np.zeros((n + 1, n + 1))
    np.add.at(out, (pairs[:, 0], pairs[:, 1]), 1.0)
    return out + out.T


def _sharpness(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32: each pixel's colour gradient over the colour range of its 7x7 neighbourhood: about 0.5-1 on
    an edge drawn within a pixel, under 0.4 on one a lens or a soft backdrop blurred over a few."""
    f = rgb.astype(np.float32)
    grad = np.sqrt(sum(cv2.Sobel(f[..., c], cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(f[..., c], cv2.CV_32F, 0, 1) ** 2
                       for c in range(3))) / 4.0  # Sobel answers a one-pixel step of S with 4 S
    k = np.ones((7, 7), np.uint8)
    span = np.sqrt(sum((cv2.dilate(f[..., c], k) - cv2.erode(f[..., c], k)) ** 2 for c in range(3)))
    return grad / np.maximum(span, 8.0)  # flat areas (a span of noise) are no edge at all


def _colour_distance(rgb: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(H, W) float32: each pixel's RGB distance to the nearest of `centres` (K, 3)."""
    flat = rgb.reshape(-1, 3).astype(np.float32)
    d = np.full(len(flat), np.inf, np.float32)
    for c in centres:
        d = np.minimum(d, np.linalg.norm(flat - c, axis=1))
    return d.reshape(rgb.shape[:2])


def _components(ink: np.ndarray, cfg: ExtractConfig, rgb: np.ndarray | None = None):
    """The mark's components -> (mask, (x0, y0, x1, y1), [(width, height) of each group]), or None if none.
    Specks (JPEG noise, dust) are dropped unless they lie within the mark or the gap between its groups (an i's
    dot, a ®, a small letter at the end of a wordmark); with the file's `rgb`,
    so are components whose edges are far less crisp than the mark's (a photo's or a blurred backdrop's shapes)."""
    if rgb is not None:
        ink = _crisp_ink(rgb, ink.astype(bool), cfg)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    big = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= max(4, cfg.speck * ink.size)]
    if not big:
        return None
    x0 = min(stats[i, cv2.CC_STAT_LEFT] for i in big)
    y0 = min(stats[i, cv2.CC_STAT_TOP] for i in big)
    x1 = max(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] for i in big)
    y1 = max(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] for i in big)
    gap = max(1, round(cfg.group_gap * max(x1 - x0, y1 - y0)))
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right, bottom = left + stats[:, cv2.CC_STAT_WIDTH], top + stats[:, cv2.CC_STAT_HEIGHT]
    inside = [i for i in range(1, n) if i not in big and x0 - gap <= left[i] and right[i] <= x1 + gap
              and y0 - gap <= top[i] and bottom[i] <= y1 + gap]
    mask = np.isin(labels, big + inside)
    if inside:
        ys, xs = np.nonzero(mask)
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    joined = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_RECT, (gap, gap)))
    m, _, gstats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    top = max(gstats[1:, cv2.CC_STAT_AREA])
    groups = [tuple(gstats[i, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]]) for i in range(1, m)
              if gstats[i, cv2.CC_STAT_AREA] >= 0.1 * top]
    return mask, (int(x0), int(y0), int(x1), int(y1)), groups


def _resize_rgba(rgba: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize with premultiplied alpha: the colour under transparent pixels (often black) does not fringe the mark."""
    if (rgba.shape[1], rgba.shape[0]) == size:
        return rgba.copy()
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    how = cv2.INTER_AREA if size[0] < rgba.shape[1] else cv2.INTER_CUBIC
    pre = cv2.resize(rgba[..., :3].astype(np.float32) * a, size, interpolation=how)
    a2 = np.clip(cv2.resize(a[..., 0], size, interpolation=how), 0.0, 1.0)
    rgb = pre / np.maximum(a2[..., None], 1e-3)
    return np.dstack([np.clip(rgb + 0.5, 0, 255), np.clip(a2 * 255.0 + 0.5, 0, 255)]).astype(np.uint8)


def _describe(kind: str, colour) -> str:
    if kind == "transparent":
        return "transparent background kept"
    hexcol = "#%02x%02x%02x" % tuple(colour)
    return {"flat": f"flat background {hexcol} removed", "gradient": f"gradient background (around {hexcol}) removed",
            "photo": "photo background separated by colour: check the picture"}[kind]


def _sheet(groups: list[tuple[int, int]]) -> int:
    """How many groups of ink are of about one size (a sheet of logos side by side: colour variants, sizes), 0 if
    fewer than two; an emblem beside its wordmark differs in shape."""
    w0, h0 = max(groups, key=lambda g: g[0] * g[1])
    alike = sum(1 for w, h in groups if 0.7 <= w / max(w0, 1) <= 1.4 and 0.7 <= h / max(h0, 1) <= 1.4)
    return alike if alike >= 2 else 0


def _stacked(rgba: np.ndarray, cfg: ExtractConfig) -> tuple[np.ndarray, ...]:
    """(emblem,) of a logo of one group whose name is set under or over its emblem, too close to make a group of its
    own: cut at an empty band of rows with every line OCR reads on one side, that side's ink within those lines
    (an emblem's own stripes are bands too), the other side read as nothing and holding more ink; () otherwise.
    OCR runs only for a logo with such a band. The name is not kept as a part: an image of a word looks like any
    word to the embedder (real-dev: Citroën's name under its chevrons named a Nike shoe and an unbranded photo
    Citroën), and a name is found by reading it."""
    ink = rgba[..., 3] > 127
    rows = np.nonzero(ink.any(1))[0]
    if len(rows) < 3:
        return ()
    empty = ~ink[rows[0]:rows[-1] + 1].any(1)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], empty.astype(np.int8), [0]])))
    least = max(2, cfg.stack_gap * max(ink.shape))
    bands = [(rows[0] + a, rows[0] + b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= least]
    if not bands:
        return ()
    lines = [ln for ln in read_lines(page(ink.astype(np.float32)), cfg.text_score) if len(normalise(ln.text)) >= 2]
    if not lines:
        return ()
    for a, b in sorted(bands, key=lambda t: t[0] - t[1]):  # widest first
        cut = (a + b) // 2
        # a line's box is the detector's, looser than its letters: a third of it may reach across the band
        over = [ln for ln in lines if ln.box[3] - cut <= (ln.box[3] - ln.box[1]) / 3]
        under = [ln for ln in lines if cut - ln.box[1] <= (ln.box[3] - ln.box[1]) / 3]
        if len(over) + len(under) < len(lines) or (over and under):
            continue  # a line across the band, or a name of several lines on both sides
        named, top = (over, slice(0, cut)) if over else (under, slice(cut, None))
        side = np.zeros_like(ink)
        side[top] = ink[top]
        rest = ink & ~side
        if _within(side, named) < cfg.text_cover or rest.sum() < side.sum():
            continue  # an emblem's own stripe, or a flourish under a name (the name is the mark there)
        # the emblem's ink and its antialiased rim (the band keeps the name's rim out of it)
        rim = cv2.dilate(rest.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        if (emblem := _crop_part(rgba, rim, int(ink.sum()), cfg)) is not None:
            return (emblem,)
    return ()


def _within(ink: np.ndarray, lines: list[TextLine]) -> float:
    """Share of `ink` inside the boxes of `lines`, each grown by half its height (a ® beside a name is the name's)."""
    inside = np.zeros_like(ink)
    for line in lines:
        x0, y0, x1, y1 = line.box
        g = (y1 - y0) // 2
        inside[max(0, y0 - g):y1 + g, max(0, x0 - g):x1 + g] = True
    return float((ink & inside).sum() / max(1, ink.sum()))


def _crop_part(rgba: np.ndarray, region: np.ndarray, total: int, cfg: ExtractConfig) -> np.ndarray | None:
    """The part of `rgba` within the boolean mask `region`, cropped with the margin; None when it cannot stand alone
    (either side under cfg.min_part, or under cfg.part_ink of the logo's `total` ink pixels)."""
    own = np.where(region, rgba[..., 3], 0)
    yy, xx = np.nonzero(own > 127)
    if not len(xx):
        return None
    pad = round(cfg.margin * max(xx.max() - xx.min(), yy.max() - yy.min()))
    y0, x0 = max(0, yy.min() - pad), max(0, xx.min() - pad)
    y1, x1 = min(rgba.shape[0], yy.max() + 1 + pad), min(rgba.shape[1], xx.max() + 1 + pad)
    part = rgba[y0:y1, x0:x1].copy()
    part[..., 3] = own[y0:y1, x0:x1]
    stands = min(part.shape[:2]) >= cfg.min_part and (part[..., 3] > 127).sum() >= cfg.part_ink * total
    return part if stands else None


def _parts(rgba: np.ndarray, cfg: ExtractConfig) -> tuple[np.ndarray, ...]:
    """The two groups of ink of the kept logo `rgba` (as _components joins and counts them) that can stand alone,
    each cropped with the margin: both, or the larger when the other is too small (a name set small beside a mark:
    products that show the mark alone would otherwise be judged against the lock-up, its name missing), or none."""
    ink = rgba[..., 3] > 127
    ys, xs = np.nonzero(ink)
    gap = max(1, round(cfg.group_gap * max(xs.max() - xs.min(), ys.max() - ys.min())))
    joined = cv2.dilate(ink.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_RECT, (gap, gap)))
    m, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    top = max(stats[1:, cv2.CC_STAT_AREA])
    total = int(ink.sum())
    out, groups = [], 0
    for i in range(1, m):
        if stats[i, cv2.CC_STAT_AREA] < 0.1 * top:  # as _components counts groups
            continue
        groups += 1
        if (part := _crop_part(rgba, labels == i, total, cfg)) is not None:
            out.append(part)  # else too small to stand alone
    return tuple(out) if groups == 2 else ()


__all__ = ["ExtractConfig", "Extraction", "extract_logo", "extraction_picture"]
