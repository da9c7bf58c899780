"""Stage: align a reference logo onto a candidate region of a listing photo.

Two methods, because one alone fails on half of real logos:
  * "sift": SIFT keypoints matched (ratio test) and a RANSAC homography (USAC_MAGSAC). Precise when the logo has
    texture (letters, emblems).
  * "shape": for plain, low-texture marks (a swoosh, three bars) SIFT finds too few keypoints. The region is
    binarised, the ink's moments give a first similarity transform (centroid, scale, orientation), and ECC refines
    it to a homography on blurred masks.
Either result is scored by how well the warped ink overlaps the reference's ink (IoU): the alignment quality,
reported so that "could not align" is never mistaken for a verdict.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass, field

import cv2
import numpy as np

from .candidates import Box
from .detail import ink_pieces

__all__ = ["ViewLimits", "AlignConfig", "Alignment", "ink_mask", "ink_from_rgba", "grow_box", "grey_tone", "to_grey",
           "photo_ink", "align_logo", "view_problem", "align_without_a_piece", "hull_overlap", "mirrored", "mask_f",
           "mask_iou"]


@dataclass(frozen=True)
class ViewLimits:
    """Bounds on a fitted homography (reference -> photo) beyond which it is not a camera's view of a flat print
    but a numerical accident: a fit that collapses the logo to a pixel or stretches it past the horizon. Every
    size later computed from a fit (warps, blurs, footprints) is bounded once these hold (view_problem)."""

    min_side_px: float = 4.0  # the logo's outline must span this many photo pixels each way
    max_foreshortening: float = 4.0  # ratio of the projective depths (H's last row) across the reference's corners
    max_squash: float = 10.0  # ratio of the local scales along two directions at the logo's centre
    max_reach: float = 1.0  # the outline stays within the aligned box grown by this multiple of its size per side


@dataclass(frozen=True)
class AlignConfig:
    work_side: int = 256  # the reference is analysed at this longest side (pixels)
    context: float = 0.1  # the photo region is the candidate box grown by this fraction per side
    sift_features: int = 800
    ratio: float = 0.8
    min_inliers: int = 10
    ransac_px: float = 4.0  # RANSAC reprojection threshold in reference pixels
    ecc_iters: int = 60
    ecc_iters_starts: int = 25  # ... when telling the shape starts apart at half resolution (the best is refined again)
    ecc_eps: float = 1e-4  # ECC stops once an iteration raises its correlation by less (1e-5 took 40% longer to
    # refine a fit whose overlap then moved by 0.008 at most, on 612 calibration fits: benchmarks/HISTORY.md)
    min_quality: float = 0.5  # IoU of ink below which the alignment is reported as failed
    rest_quality: float = 0.85  # IoU of the reference's other pieces at which a fit without one piece counts
    good_quality: float = 0.8  # IoU of ink at which a fit is good enough to stop trying other boxes (verify.py)
    view: ViewLimits = field(default_factory=ViewLimits)  # what a fit must be to be a camera's view


@dataclass(frozen=True)
class Alignment:
    H: np.ndarray | None  # (3, 3) float64: reference pixel (x, y, 1) -> photo pixel; None if not aligned
    method: str  # "sift" | "shape" | "none"
    inliers: int  # SIFT inliers (0 for the shape method)
    quality: float  # IoU of reference ink and the photo's ink warped into the reference frame, 0..1
    polarity: int  # +1: ink darker than the surface in the photo, -1: lighter
    note: str = ""  # why alignment failed, when it did
    tone: tuple[float, float, float, float] | None = None  # grey = r, g, b weights . RGB + offset (to_grey);
    # None = luminance
    missing: float = 0.0  # method "rest": the share of the reference's ink in the piece absent from the photo

    @property
    def ok(self) -> bool:
        return self.H is not None


def ink_mask(rgba: np.ndarray) -> np.ndarray:
    """A logo image (H, W, 4) -> float32 ink coverage in [0, 1]: its alpha channel, or for an opaque image the
    pixels that differ from the border colour."""
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    if alpha.min() > 0.5:
        rgb = rgba[..., :3].astype(np.float32)
        border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
        alpha = np.clip((np.linalg.norm(rgb - np.median(border, axis=0), axis=2) - 20.0) / 60.0, 0.0, 1.0)
    return alpha


def ink_from_rgba(rgba: np.ndarray, side: int) -> np.ndarray:
    """ink_mask scaled so its longest side is `side`."""
    alpha = ink_mask(rgba)
    h, w = alpha.shape
    s = side / max(h, w)
    return cv2.resize(alpha, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def grow_box(box: Box, frac: float, shape: tuple) -> Box:
    """`box` grown by `frac` of its size per side, clipped to a photo of `shape` (H, W, ...): the region aligned."""
    h, w = shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    return (max(0, int(box[0] - frac * bw)), max(0, int(box[1] - frac * bh)),
            min(w, int(box[2] + frac * bw)), min(h, int(box[3] + frac * bh)))


LUMA = np.array([0.299, 0.587, 0.114], np.float32)
WEAK_CONTRAST = 32.0  # grey levels between ink and surface below which luminance is too weak to binarise reliably


def grey_tone(rgb: np.ndarray) -> tuple[float, float, float, float] | None:
    """The grey a region is analysed in: luminance (None), unless its luminance contrast is weak and its colours
    separate at least twice as well along their main axis (yellow ink on a green product). Returns (r, g, b,
    offset) for to_grey, scaled like luminance so that contrast keeps its units."""
    x = rgb[::2, ::2].reshape(-1, 3).astype(np.float32)
    if len(x) < 16:
        return None
    centred = x - x.mean(0)
    axis = np.linalg.eigh(centred.T @ centred)[1][:, -1] * float(np.linalg.norm(LUMA))
    axis = axis if axis @ LUMA >= 0 else -axis  # ink that is darker stays darker
    along, luma = centred @ axis, centred @ LUMA
    weak = _separation(luma)
    # only where luminance fails: per-channel clipping (an over-exposed print) moves a colour axis's edges, and the
    # seen reference models clipping in grey only (verify.saturated)
    if weak >= WEAK_CONTRAST or _separation(along) < 2.0 * max(weak, 1.0):
        return None
    lo, hi = np.percentile(x @ axis, [1, 99])
    return (*map(float, axis), 128.0 - 0.5 * float(lo + hi))


def _separation(v: np.ndarray) -> float:
    """Distance between the means of the two Otsu classes of the values `v`."""
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-3:
        return 0.0
    u = ((v - lo) * (255.0 / (hi - lo))).astype(np.uint8).reshape(-1, 1)
    t, _ = cv2.threshold(u, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    m = u[:, 0] > t
    return float(abs(v[m].mean() - v[~m].mean())) if 0 < m.sum() < len(m) else 0.0


def to_grey(rgb: np.ndarray, tone: tuple[float, float, float, float] | None) -> np.ndarray:
    """RGB uint8 (..., 3) -> uint8 grey: luminance, or the colour axis of a grey_tone."""
    if tone is None:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    g = rgb.astype(np.float32) @ np.float32(tone[:3]) + np.float32(tone[3])
    return np.clip(g, 0, 255).astype(np.uint8)


def photo_ink(grey: np.ndarray) -> tuple[np.ndarray, int]:
    """Binarise a grey region into ink (1) vs surface (0): Otsu, with the polarity in which the ink is the minority
    of the region's border. Returns (float32 mask, polarity +1 dark ink / -1 light ink)."""
    blur = cv2.GaussianBlur(grey, (3, 3), 0)
    _, m = cv2.threshold(blur, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]])
    if border.mean() > 0.5:  # surface is the bright class: ink is dark
        return (1 - m).astype(np.float32), 1
    return m.astype(np.float32), -1


def align_logo(photo: np.ndarray, box: Box, ref_ink: np.ndarray, cfg: AlignConfig = AlignConfig(),
               need: float = 0.0) -> Alignment:
    """Align reference ink (float mask, longest side cfg.work_side) to the logo in `photo` (RGB uint8) near `box`.
    Returns an Alignment whose H maps reference pixels to photo pixels, or H=None with a `note` saying why.
    `need`: the overlap under which a fit is of no use to the caller (a mirror test that only counts a fit as good
    as the print's own): a shape fit hopelessly under it is not retried nor refined (_shape_homography)."""
    region = _region(photo, box, cfg)
    if region is None:
        return Alignment(None, "none", 0, 0.0, 1, "region too small to align")
    to_photo, ink, polarity, features, tone = region

    def camera_view(H: np.ndarray | None) -> bool:
        return H is not None and view_problem(to_photo @ H, ref_ink.shape, box, cfg.view) is None

    best = None
    H, inliers = _sift_homography(ref_ink, features, polarity, cfg)
    if H is None:  # the border vote on polarity can be wrong (a region mostly of a dark product edge): try the other
        H2, n2 = _sift_homography(ref_ink, features, -polarity, cfg)
        if H2 is not None:
            H, inliers, polarity, ink = H2, n2, -polarity, 1.0 - ink
        else:
            inliers = max(inliers, n2)
    if H is not None:
        # coarse to fine: a SIFT fit of a blurred wordmark can be sheared further off than full-resolution ECC pulls
        # in (a genuine Panasonic print stalled at 0.74 overlap; from the half-resolution fit it reaches 0.89)
        coarse = _ecc_scaled(_HALF, _scaled(_HALF, ref_ink, ink), H, cfg)
        refined = _ecc_refine(ref_ink, ink, H if coarse is None else coarse, cfg)
        # ECC can run a fit off into a view no camera has (collapsed, past the horizon): then the matches' own fit
        fit = next((f for f in (refined, H) if camera_view(f)), None)
        best = None if fit is None else ("sift", fit, inliers)
    if best is None:
        H = _shape_homography(ref_ink, ink, cfg, need)
        if H is not None:
            best = ("shape", H, 0)
    if best is None:
        return Alignment(None, "none", inliers, 0.0, polarity, "no alignment found (too few matching features and "
                                                               "no shape fit)", tone)
    method, H, inl = best
    quality = _overlap(ref_ink, ink, H)
    if quality < cfg.good_quality and method == "sift":  # features agreed on a wrong or loose plane: try shape too
        Hs = _shape_homography(ref_ink, ink, cfg, max(need, quality))  # of use only if it beats the SIFT fit
        if camera_view(Hs) and (q := _overlap(ref_ink, ink, Hs)) > quality:
            method, H, inl, quality = "shape", Hs, 0, q
    if quality < cfg.min_quality:
        return Alignment(None, "none", inl, quality, polarity,
                         f"best alignment ({method}) overlaps the reference only {quality:.0%}", tone)
    H = to_photo @ H
    if (why := view_problem(H, ref_ink.shape, box, cfg.view)) is not None:
        return Alignment(None, "none", inl, quality, polarity, why, tone)
    return Alignment(H, method, inl, quality, polarity, tone=tone)


def view_problem(H: np.ndarray | None, shape: tuple[int, int], box: Box, limits: ViewLimits = ViewLimits()
                 ) -> str | None:
    """Why the homography H (reference pixels -> photo pixels; `shape` the reference's (h, w)) fitted in the photo
    region `box` is no camera's view of the logo, or None when it is one. Checked before any size is derived from a
    fit: finite entries, the reference's corners in front of the camera (positive projective depth) with bounded
    foreshortening, no mirror image, a bounded squash at the centre, an outline of a few pixels at least and within
    `limits.max_reach` of the box."""
    if H is None or H.shape != (3, 3) or not np.all(np.isfinite(H)):
        return "the fit is not a finite homography"
    h, w = shape
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64)
    depth = corners @ H[2]
    centre = np.array([w / 2, h / 2, 1.0]) @ H[2]
    if not abs(centre) > 1e-12:
        return "the fit puts the logo's centre at infinity"
    depth = depth / centre  # the camera's side of the horizon is where the centre lies
    if depth.min() <= 0:
        return "the fit folds the logo across the horizon"
    if depth.max() > limits.max_foreshortening * depth.min():
        return f"the fit foreshortens the logo {depth.max() / depth.min():.0f}-fold, beyond any camera view"
    Hn = H / centre
    c = np.array([[w / 2, h / 2, 1.0], [w / 2 + 1, h / 2, 1.0], [w / 2, h / 2 + 1, 1.0]]) @ Hn.T
    c = c[:, :2] / c[:, 2:]
    J = np.stack([c[1] - c[0], c[2] - c[0]], axis=1)  # the images of a reference pixel's steps in x and y
    if np.linalg.det(J) <= 0:
        return "the fit mirrors the logo"
    sv = np.linalg.svd(J, compute_uv=False)
    if sv[0] > limits.max_squash * sv[1]:
        return f"the fit squashes the logo {sv[0] / sv[1]:.0f}-fold, beyond any camera view"
    out = corners @ Hn.T
    out = out[:, :2] / out[:, 2:]
    span = out.max(0) - out.min(0)
    if span.min() < limits.min_side_px:
        return f"the fit shrinks the logo to {span.min():.1f} photo pixels"
    bw, bh = box[2] - box[0], box[3] - box[1]
    r = limits.max_reach
    if (out[:, 0].min() < box[0] - r * bw or out[:, 0].max() > box[2] + r * bw
            or out[:, 1].min() < box[1] - r * bh or out[:, 1].max() > box[3] + r * bh):
        return "the fit places the logo far outside the region it was aligned in"
    return None


def align_without_a_piece(photo: np.ndarray, box: Box, ref_ink: np.ndarray, cfg: AlignConfig = AlignConfig()
                          ) -> Alignment:
    """For a logo that aligned loosely or not at all (align_logo): the reference without each of its largest
    pieces in turn, by shape. A missing or recoloured part biases the ink's moments, so the whole reference never
    fits, while the rest of it does. A fit counts when the rest overlaps tightly (cfg.rest_quality), more than its
    convex hull would (specificity 0.5), and explains the photo's ink (95% of it within a pixel of the rest: a
    complete print fits a symmetric logo's rest too, with its extra piece left over). Method "rest", `missing` the
    dropped piece's share of the ink, quality the whole reference's overlap; H=None when no such fit is found."""
    region = _region(photo, box, cfg)
    if region is None:
        return Alignment(None, "none", 0, 0.0, 1, "region too small to align")
    to_photo, ink, polarity, _, tone = region
    target = _main_ink(ink)
    best, best_q = None, 0.0
    for piece in _big_pieces(ref_ink):
        rest = np.where(piece, 0.0, ref_ink).astype(np.float32)
        H = _shape_homography(rest, ink, cfg, need=max(cfg.rest_quality, best_q))
        if H is None or (q := _overlap(rest, target, H)) < max(cfg.rest_quality, best_q) or view_problem(
                to_photo @ H, ref_ink.shape, box, cfg.view) is not None:
            continue
        hull = hull_overlap(rest)
        near = cv2.dilate((cv2.warpPerspective(rest, H, target.shape[::-1]) > 0.5).astype(np.uint8),
                          np.ones((3, 3), np.uint8)) > 0
        explained = near[target > 0.5].mean() if (target > 0.5).any() else 0.0
        if (q - hull) / max(1e-6, 1.0 - hull) >= 0.5 and explained >= 0.95:
            best, best_q = (H, piece), q
    if best is None:
        return Alignment(None, "none", 0, 0.0, polarity, "no alignment found, whole or without a piece", tone)
    H, piece = best
    return Alignment(to_photo @ H, "rest", 0, _overlap(ref_ink, ink, H), polarity, tone=tone,
                     missing=float(piece.sum() / max(1, (ref_ink > 0.5).sum())))


def _big_pieces(ref_ink: np.ndarray, min_frac: float = 0.08, most: int = 3) -> list[np.ndarray]:
    """The reference's `most` largest pieces of ink (detail.ink_pieces) of at least `min_frac` of it, when it has two
    pieces or more."""
    return ink_pieces(ref_ink > 0.5, min_frac)[:most] if _pieces(ref_ink) >= 2 else []


def hull_overlap(ref_ink: np.ndarray) -> float:
    """IoU of the reference ink with its filled convex hull: the overlap a plain blob can reach."""
    return float((ref_ink > 0.5).sum() / max(1, _hull(ref_ink).sum()))


def _hull(ink: np.ndarray) -> np.ndarray:
    """The filled convex hull of an ink mask (uint8 0/1; all 0 when there is no ink)."""
    m = (ink > 0.5).astype(np.uint8)
    hull = np.zeros_like(m)
    if (pts := cv2.findNonZero(m)) is not None:
        cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
    return hull


def _per_array(cache: dict, limit: int, array: np.ndarray, key: tuple, compute):
    """compute() cached under (id(array), *key) for as long as `array` lives (a weak reference tells a live array
    from a new one that reuses its id); the cache is emptied when it holds more than `limit` results."""
    key = (id(array), *key)
    hit = cache.get(key)
    if hit is not None and hit[0]() is array:
        return hit[1]
    value = compute()
    if len(cache) > limit:
        cache.clear()
    cache[key] = (weakref.ref(array), value)
    return value


_regions: dict = {}  # (id of the photo, box, config) -> (weakref to the photo, _region's result)
_mirrors: dict = {}  # (id of a reference ink) -> (weakref to it, its mirror image)
_ref_pieces: dict = {}  # (id of a reference ink) -> (weakref to it, its number of connected pieces)


def mirrored(ref_ink: np.ndarray) -> np.ndarray:
    """The reference ink mirrored left to right, one array per reference (so its SIFT features are cached too)."""
    return _per_array(_mirrors, 256, ref_ink, (), lambda: np.ascontiguousarray(ref_ink[:, ::-1]))


def _region(photo: np.ndarray, box: Box, cfg: AlignConfig):
    """The photo region around `box` at the reference's working scale: (region -> photo transform, ink mask,
    polarity, SIFT (keypoints, descriptors), grey_tone), or None if too small. Cached per photo array and box: the brand
    hypotheses of one photo (and the mirrored reference) are aligned in the same few regions."""
    def compute():
        x0, y0, x1, y1 = grow_box(box, cfg.context, photo.shape)
        rgb = photo[y0:y1, x0:x1]
        tone = grey_tone(rgb)
        region = to_grey(rgb, tone)
        if min(region.shape) < 8:
            return None
        # bring the region to the reference's working scale so SIFT sees features at comparable sizes
        s = cfg.work_side * 1.6 / max(region.shape)
        region_s = cv2.resize(region, (max(8, round(region.shape[1] * s)), max(8, round(region.shape[0] * s))),
                              interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        to_photo = np.array([[1 / s, 0, x0], [0, 1 / s, y0], [0, 0, 1]], np.float64)
        ink, polarity = photo_ink(region_s)
        ink.setflags(write=False)  # shared by every alignment in this region
        return to_photo, ink, polarity, _sift(cfg.sift_features).detectAndCompute(region_s, None), tone
    return _per_array(_regions, 64, photo, (tuple(box), cfg), compute)


@functools.lru_cache(maxsize=4)
def _sift(n: int):
    return cv2.SIFT_create(nfeatures=n)


def _sift_homography(ref_ink: np.ndarray, features: tuple, polarity: int,
                     cfg: AlignConfig) -> tuple[np.ndarray | None, int]:
    """Reference -> region homography from SIFT matches (USAC_MAGSAC); `features` = the region's (keypoints,
    descriptors). Returns (H or None, inliers)."""
    k1, d1 = _reference_features(ref_ink, polarity, cfg.sift_features)
    k2, d2 = features
    if d1 is None or d2 is None or len(k1) < 4 or len(k2) < 4:
        return None, 0
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(d1, d2, k=2)
    good = [m for m, *rest in pairs if rest and m.distance < cfg.ratio * rest[0].distance]
    if len(good) < cfg.min_inliers:
        return None, len(good)
    src = np.float32([k1[m.queryIdx].pt for m in good]) - 16.0
    dst = np.float32([k2[m.trainIdx].pt for m in good])
    H, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, cfg.ransac_px, maxIters=2000, confidence=0.999)
    n = int(mask.sum()) if mask is not None else 0
    if H is None or n < cfg.min_inliers or not _plausible(H, ref_ink.shape):
        return None, n
    return H, n


_ref_features: dict = {}  # (id of the reference ink, polarity, n) -> (weakref to that array, (keypoints, descriptors))


def _reference_features(ref_ink: np.ndarray, polarity: int, n: int):
    """SIFT of the reference rendered in the photo's polarity (so gradient directions agree), cached per reference
    array: the same reference is matched against many photos. Keypoints are in bordered coordinates (+16 px)."""
    def compute():
        ref_img = (255 - 255 * ref_ink if polarity > 0 else 255 * ref_ink).astype(np.uint8)
        ref_img = cv2.copyMakeBorder(ref_img, 16, 16, 16, 16, cv2.BORDER_REPLICATE)
        return _sift(n).detectAndCompute(ref_img, None)
    return _per_array(_ref_features, 512, ref_ink, (polarity, n), compute)


def _plausible(H: np.ndarray, shape: tuple[int, int]) -> bool:
    """A camera can tilt a flat print but not turn it inside out: the warped outline must stay convex and keep
    its orientation (a mirror image is a counterfeit, not a viewpoint), and its size must stay of the order of
    the region's (a near-singular fit can blow it up to gigapixels)."""
    h, w = shape
    c = cv2.perspectiveTransform(np.float32([[[0, 0], [w, 0], [w, h], [0, h]]]), H)[0]
    e = np.roll(c, -1, axis=0) - c  # edge vectors
    cross = e[:, 0] * np.roll(e, -1, axis=0)[:, 1] - e[:, 1] * np.roll(e, -1, axis=0)[:, 0]
    area = cv2.contourArea(c)  # the region is at the reference's working scale: a sane fit is of its order
    return all(x > 0 for x in cross) and 16.0 < area < 64.0 * w * h


def _moments(mask: np.ndarray):
    m = cv2.moments(mask)
    if m["m00"] < 1e-3:
        return None
    cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
    theta = 0.5 * np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"])
    return cx, cy, np.sqrt(m["m00"]), theta


def _axes(mask: np.ndarray):
    """Centroid, principal directions (columns) and standard deviations along them."""
    m = cv2.moments(mask)
    if m["m00"] < 1e-3:
        return None
    c = np.array([m["m10"], m["m01"]]) / m["m00"]
    cov = np.array([[m["mu20"], m["mu11"]], [m["mu11"], m["mu02"]]]) / m["m00"]
    vals, vecs = np.linalg.eigh(cov)
    return c, vecs, np.sqrt(np.maximum(vals, 1e-9))


def _shape_starts(ref_ink: np.ndarray, target: np.ndarray, cfg: AlignConfig) -> list[np.ndarray]:
    """Start transforms reference -> region: a similarity from centroid, size and principal axis, and an affine
    that also matches the spread along each principal axis (a tilted camera foreshortens one axis), each in both
    180-degree orientations; for a near-round reference also the turns that _round_starts finds."""
    a, b = _moments(ref_ink), _moments(target)
    pa, pb = _axes(ref_ink), _axes(target)
    if a is None or b is None or pa is None or pb is None:
        return []
    starts = []
    for flip in (0.0, np.pi):
        ang = b[3] - a[3] + flip
        sc = b[2] / a[2]
        c, s = np.cos(ang) * sc, np.sin(ang) * sc
        A = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float64)
        A[0, 2] = b[0] - (c * a[0] - s * a[1])
        A[1, 2] = b[1] - (s * a[0] + c * a[1])
        starts.append(A)
    (ca, va, sa), (cb, vb, sb) = pa, pb
    for signs in ((1, 1), (-1, -1), (1, -1), (-1, 1)):
        M = (vb * np.array(signs)) @ np.diag(sb / sa) @ va.T
        if np.linalg.det(M) <= 0:  # a mirror is never a camera
            continue
        A = np.eye(3)
        A[:2, :2], A[:2, 2] = M, cb - M @ ca
        starts.append(A)
    if pa[2].max() < 1.25 * pa[2].min():  # a near-round reference: its axes do not tell how the print is turned
        starts += _round_starts(ref_ink, target, pa, pb, cfg)
    return starts


ROUND_STEP = 30  # degrees between the turns a near-round mark is tried at (_round_starts)


def _round_starts(ref_ink: np.ndarray, target: np.ndarray, pa, pb, cfg: AlignConfig, turns: int = 3
                  ) -> list[np.ndarray]:
    """Affine starts for a near-round mark, whose principal axes say nothing of how it is turned: both masks are
    whitened (a tilted disc becomes a disc again) and turned in ROUND_STEP steps; each turn is kept as it is and
    pulled in by ECC at quarter resolution, whose blur reaches a turn up to about 20 degrees off (at half resolution
    5: a Spotify disc's arcs are its only cue to its turn) but can also wash out a small print's cues; the `turns`
    best by overlap."""
    (cr, vr, sr), (ct, vt, st) = pa, pb
    Wr, Wt = np.diag(1.0 / sr) @ vr.T, np.diag(1.0 / st) @ vt.T  # position -> units of standard deviation
    if np.linalg.det(Wr) * np.linalg.det(Wt) < 0:  # principal axes of opposite handedness: a mirror is never a camera
        Wr = np.diag([1.0, -1.0]) @ Wr
    small = _scaled(_QUARTER, ref_ink, target)
    fits = []
    for deg in range(0, 360, ROUND_STEP):
        t = np.deg2rad(deg)
        M = np.linalg.inv(Wt) @ np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ Wr
        A = np.eye(3)
        A[:2, :2], A[:2, 2] = M, ct - M @ cr
        for H in (A, _ecc_scaled(_QUARTER, small, A, cfg)):
            if H is not None and _plausible(H, ref_ink.shape):
                fits.append((_overlap(ref_ink, target, H), deg, H))
    return [H for _, _, H in sorted(fits, key=lambda f: (-f[0], f[1]))[:turns]]


FOCUS_QUALITY = 0.9  # overlap under which a shape fit is tried again on the ink near it alone (_shape_homography)
HOPELESS = 0.35  # a shape fit this far under the overlap it needs after its starts is not retried nor refined: of
# 1,364 fits (real photos, calibration renders) none under 0.7 after its starts reached 0.85 (benchmarks/HISTORY.md)


def _shape_homography(ref_ink: np.ndarray, ink: np.ndarray, cfg: AlignConfig, need: float = 0.0
                      ) -> np.ndarray | None:
    """Moment-based starts (_shape_starts), each refined by ECC at half resolution (ECC's cost is per pixel and
    the starts only have to be told apart); a loose best fit is started again turned (_turned) and from the ink near
    it (_near); the best is refined again at full resolution. `need`: the overlap a fit must reach to be of use to
    the caller; a best start that is HOPELESS below it is returned as it is."""
    target = _main_ink(ink)
    best, best_q = None, -1.0

    def keep(starts, ecc_target):
        nonlocal best, best_q
        small = _scaled(_HALF, ref_ink, ecc_target)
        for A in starts:
            H = _ecc_scaled(_HALF, small, A, cfg)
            H = A if H is None else H
            if _plausible(H, ref_ink.shape) and (q := _overlap(ref_ink, target, H)) > best_q:
                best, best_q = H, q

    keep(_shape_starts(ref_ink, target, cfg), target)
    if best_q < need - HOPELESS:
        return best
    if best is not None and cfg.min_quality <= best_q < cfg.good_quality and _pieces(ref_ink) >= 3:
        # a fan of petals or a ring of like parts fits as well one part round: a loose fit is retried turned
        # (a genuine Huawei print stalled at 0.78 with every petal one place off; turned 30 degrees it fits 0.97)
        keep(_turned(best, target), target)
    if best is not None and best_q < FOCUS_QUALITY and (near := _near(target, ref_ink, best)) is not None:
        # ink that is not the logo (a product's edge, a curve of the background) skews the moments the starts come
        # from; a loose fit still says where the logo is (a genuine Spotify disc beside a product's edge fitted 0.79
        # turned, 0.98 from the ink near that fit)
        keep(_shape_starts(ref_ink, near, cfg), near)
    if best is not None:
        fine = _ecc_refine(ref_ink, target, best, cfg)
        if fine is not None and _plausible(fine, ref_ink.shape) and _overlap(ref_ink, target, fine) >= best_q:
            best = fine
    return best


def _near(target: np.ndarray, ref_ink: np.ndarray, H: np.ndarray, grow: float = 0.15) -> np.ndarray | None:
    """The target's ink within the reference's convex hull as H places it, grown by `grow` of its size; None when
    that leaves nearly all of it (3% or less would go)."""
    outline = cv2.warpPerspective(_hull(ref_ink), H, target.shape[::-1], flags=cv2.INTER_NEAREST)
    ys, xs = np.nonzero(outline)
    if not len(xs):
        return None
    k = max(3, int(grow * max(np.ptp(xs), np.ptp(ys))) | 1)
    near = np.where(cv2.dilate(outline, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0, target, 0)
    return near.astype(np.float32) if near.sum() < 0.97 * target.sum() else None


TURNS = (-45.0, -30.0, 30.0, 45.0)  # degrees a loose shape fit is turned by to start again


def _pieces(ref_ink: np.ndarray) -> int:
    """Connected pieces of the reference's ink (cached per reference array)."""
    return _per_array(_ref_pieces, 512, ref_ink, (), lambda: cv2.connectedComponents(
        (ref_ink > 0.5).astype(np.uint8), connectivity=8)[0] - 1)


def _turned(H: np.ndarray, target: np.ndarray) -> list[np.ndarray]:
    """H followed by each turn of TURNS about the centroid of the target ink."""
    ys, xs = np.nonzero(target > 0.5)
    cx, cy = (xs.mean(), ys.mean()) if len(xs) else (target.shape[1] / 2, target.shape[0] / 2)
    out = []
    for t in np.deg2rad(TURNS):
        c, s = np.cos(t), np.sin(t)
        out.append(np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0.0, 0.0, 1.0]]) @ H)
    return out


_HALF = np.diag([0.5, 0.5, 1.0])
_QUARTER = np.diag([0.25, 0.25, 1.0])


def _scaled(S: np.ndarray, *masks: np.ndarray) -> tuple[np.ndarray, ...]:
    """Masks resized by the scale of S (diag(s, s, 1))."""
    return tuple(cv2.resize(m, None, fx=S[0, 0], fy=S[1, 1], interpolation=cv2.INTER_AREA) for m in masks)


def _ecc_scaled(S: np.ndarray, small: tuple[np.ndarray, np.ndarray], H0: np.ndarray, cfg: AlignConfig
                ) -> np.ndarray | None:
    """_ecc_refine of H0 on `small` (reference and region ink resized by S: _scaled), returned at full scale: the cost
    falls with the square of the scale, and the blur spans further, so it pulls in a start that is further off. None
    if ECC fails."""
    Hs = _ecc_refine(small[0], small[1], S @ H0 @ np.linalg.inv(S), cfg, cfg.ecc_iters_starts)
    return None if Hs is None else np.linalg.inv(S) @ Hs @ S


def _main_ink(ink: np.ndarray) -> np.ndarray:
    """Drop ink components far from the region's centre mass: clutter at the edge of the region."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((ink > 0.5).astype(np.uint8), connectivity=8)
    if n <= 2:
        return ink
    h, w = ink.shape
    keep = np.zeros(n, bool)
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        touches = x == 0 or y == 0 or x + bw >= w or y + bh >= h
        keep[i] = area >= 4 and not (touches and area > 0.2 * ink.sum())
    return keep[labels].astype(np.float32)


def _ecc_refine(ref_ink: np.ndarray, ink: np.ndarray, H0: np.ndarray, cfg: AlignConfig,
                iters: int = 0) -> np.ndarray | None:
    """Refine H0 (reference -> region) with ECC on blurred masks; None if ECC fails to converge."""
    h, w = ref_ink.shape
    tpl = cv2.GaussianBlur(ref_ink, (0, 0), 2.0)
    img = cv2.GaussianBlur(ink, (0, 0), 2.0)
    # ECC's warp maps template (reference) coordinates to input (region) coordinates: the same direction as H0
    warp = (H0 / H0[2, 2]).astype(np.float32)
    stop = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iters or cfg.ecc_iters, cfg.ecc_eps)
    try:
        _, warp = cv2.findTransformECC(tpl, img, warp, cv2.MOTION_HOMOGRAPHY, stop, None, 3)
    except cv2.error:
        return None
    H = warp.astype(np.float64)
    return H / H[2, 2]


def _overlap(ref_ink: np.ndarray, ink: np.ndarray, H: np.ndarray) -> float:
    """IoU of reference ink and the region's ink warped into the reference frame."""
    h, w = ref_ink.shape
    return mask_iou(ref_ink, cv2.warpPerspective(ink, np.linalg.inv(H), (w, h), flags=cv2.INTER_LINEAR))


def mask_f(a: np.ndarray, b: np.ndarray, tol: float) -> float:
    """Tolerant overlap of two float masks (thresholded at 0.5): the F-score of "this ink pixel has ink of the
    other mask within `tol` pixels", both ways. Unlike IoU it forgives sub-`tol` misregistration, which on thin
    strokes would otherwise look like divergence. 1 when both are empty."""
    a, b = a > 0.5, b > 0.5
    if not a.any() or not b.any():
        return float(a.any() == b.any())
    near_a = cv2.distanceTransform((~a).astype(np.uint8), cv2.DIST_L2, 3) <= tol
    near_b = cv2.distanceTransform((~b).astype(np.uint8), cv2.DIST_L2, 3) <= tol
    recall, precision = float(near_b[a].mean()), float(near_a[b].mean())
    return 2 * recall * precision / (recall + precision) if recall + precision else 0.0


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two float masks thresholded at 0.5 (0 when both are empty)."""
    a, b = a > 0.5, b > 0.5
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0
