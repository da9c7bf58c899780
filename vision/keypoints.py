"""Local features and their geometric match to registered logos: a second way to find a logo in a photo.

The embedder judges a crop by how it looks as a whole, and a chromed badge or a logo small in a large scene rarely
looks like its flat drawing. The logo's corners and stroke ends still sit where the drawing has them: XFeat
(Potje et al., CVPR 2024; learned local features, ONNX) finds them in the photo and in each reference, mutual
nearest neighbours pair them, and a homography fitted by RANSAC counts the pairs that agree on one view of the
logo. Many agreeing pairs, well ahead of every other brand's, name the brand.

    features(model, grey) -> Features;  reference_features(model, rgba, ...) -> [RefFeatures]
    match_logo(photo Features, [RefFeatures], shape, cfg) -> LocalMatch | None
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .align import ink_mask, view_problem
from .embed import WEIGHTS_DIR, onnx_session
from .errors import ModelError
from .fsio import atomic_write_bytes, sha256_file
from .log import logger

__all__ = ["KeypointConfig", "Features", "RefFeatures", "LocalMatch", "KeypointModel", "load_keypoint_model",
           "features", "grey_of", "reference_features", "cached_reference_features", "match_logo", "match_hypothesis",
           "XFEAT_MANIFEST"]

XFEAT_MANIFEST = WEIGHTS_DIR / "xfeat.json"


@dataclass(frozen=True)
class KeypointConfig:
    """Settings chosen on real-dev's `tune` split (benchmarks/HISTORY.md): of the genuine photos where no brand was
    found, 7 named right by the whole photo and 2 more by the closest hypotheses' regions, none wrong, no unbranded
    photo named; the whole photo's matching about 0.13 s a photo on 2 threads."""

    enabled: bool = True
    side: int = 768  # a photo is analysed at this longer side, enlarged or shrunk (a 500 px photo at 1.5x)
    photo_points: int = 1024  # 2,048 found one more logo on `tune` at twice the matching time
    reference_sides: tuple[int, ...] = (160, 320, 640)  # each reference's ink drawn at these longer sides (XFeat
    # matches across scale changes of about 2x only; one side of 320 found 5 on `tune`) ...
    reference_pad: int = 32  # ... with this margin, dark on light and light on dark
    reference_points: int = 384
    detection_threshold: float = 0.05  # XFeat's own default
    min_cosine: float = 0.82  # mutual nearest neighbours at least this similar (XFeat's matcher's default)
    ransac_px: float = 5.0  # MAGSAC reprojection threshold, photo pixels at `side`
    min_inliers: int = 20  # pairs that agree on one homography to name a brand ...
    margin: float = 2.0  # ... at least this multiple of the next brand's (chance agreement: 7-16 pairs) ...
    noise: int = 8  # ... counted as no fewer than this
    brands: int = 20  # the embedder's closest brands matched (bounds the cost in a large gallery)
    regions: int = 3  # first, the best region of each of the embedder's closest hypotheses ...
    region_side: int = 320  # ... enlarged or shrunk to this longer side (a small logo gets all its points there)
    region_grow: float = 0.25  # ... grown by this fraction per side


@dataclass(frozen=True)
class Features:
    points: np.ndarray  # (N, 2) float32: x, y in the analysed image's pixels
    descriptors: np.ndarray  # (N, 64) float32, L2-normalised


@dataclass(frozen=True)
class RefFeatures:
    brand: str
    file: str  # the reference's file, relative to its brand folder
    shape: tuple[int, int]  # (h, w) of the drawn reference, margin included
    pad: int
    scale: float  # drawn pixels per pixel of the reference image
    features: Features


@dataclass(frozen=True)
class LocalMatch:
    brand: str
    file: str
    inliers: int  # pairs that agree on H
    runner_up: int  # at most this many for any other brand (its inliers, or the pairs of references left unfitted)
    H: np.ndarray  # (3, 3) float64: reference image pixel -> pixel of the photo as matched (the features' points)
    box: tuple[int, int, int, int]  # the reference's outline mapped into that photo, clipped to it


class KeypointModel:
    """The XFeat network (ONNX Runtime) and its manifest: grey (1, 1, H, W) float32 0-255, H and W multiples of
    32 -> descriptors (1, 64, H/8, W/8), keypoint heatmap (1, 1, H, W), reliability (1, 1, H/8, W/8)."""

    def __init__(self, manifest_path: str | os.PathLike = XFEAT_MANIFEST, threads: int = 0):
        path = Path(manifest_path)
        try:
            self.manifest = json.loads(path.read_text(encoding="utf-8"))
            onnx_path = path.parent / self.manifest["file"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelError(f"keypoint model manifest {path} is unreadable: {e}") from None
        if not onnx_path.is_file():
            raise ModelError(f"keypoint model file missing: {onnx_path}")
        if sha256_file(onnx_path) != self.manifest.get("sha256"):
            raise ModelError(f"keypoint model {onnx_path} does not match the sha256 in its manifest; refusing it")
        self.session = onnx_session(onnx_path, threads)
        logger.debug("loaded keypoint model %s", onnx_path.name)

    def __call__(self, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(self.session.run(None, {"image": grey[None, None].astype(np.float32)}))


def load_keypoint_model(threads: int = 0) -> KeypointModel:
    return KeypointModel(XFEAT_MANIFEST, threads)


def features(model: KeypointModel, grey: np.ndarray, points: int, threshold: float = 0.05) -> Features:
    """XFeat's sparse features of a grey float32 image (H, W), 0-255 (RGB averaged, as XFeat makes its input):
    the `points` most reliable keypoints (5 x 5 maxima of the heatmap over `threshold`, scored by heatmap x
    reliability) and their descriptors, sampled bicubically. The image is resized to sides that are multiples of
    32; points come back in its own pixels. Fewer points (possibly none) where the image has fewer corners."""
    h, w = grey.shape
    H, W = max(32, h // 32 * 32), max(32, w // 32 * 32)
    x = grey if (H, W) == (h, w) else cv2.resize(grey, (W, H), interpolation=cv2.INTER_LINEAR)
    desc, heat, rel = model(np.ascontiguousarray(x, np.float32))
    heat = heat[0, 0]
    peak = (heat == cv2.dilate(heat, np.ones((5, 5), np.uint8))) & (heat > threshold)
    ys, xs = np.nonzero(peak)
    if not len(xs):
        return Features(np.zeros((0, 2), np.float32), np.zeros((0, 64), np.float32))
    pts = np.stack([xs, ys], 1).astype(np.float32)
    score = heat[ys, xs] * _bilinear(rel[0], pts, H, W)[:, 0]
    keep = np.argsort(-score, kind="stable")[:points]
    keep = keep[score[keep] > 0]
    pts = pts[keep]
    d = _bicubic(desc[0], pts, H, W)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    return Features(pts * np.float32([w / W, h / H]), d.astype(np.float32))


def _grid(pts: np.ndarray, H: int, W: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Image pixel positions -> positions in an (h, w) map as XFeat samples them (its coordinates normalised by
    W - 1 and H - 1, then grid_sample without corner alignment)."""
    gx = 2.0 * pts[:, 0] / (W - 1) - 1.0
    gy = 2.0 * pts[:, 1] / (H - 1) - 1.0
    return ((gx + 1.0) * w - 1.0) / 2.0, ((gy + 1.0) * h - 1.0) / 2.0


def _bilinear(m: np.ndarray, pts: np.ndarray, H: int, W: int) -> np.ndarray:
    """(C, h, w) map sampled bilinearly at image positions `pts` -> (N, C); zero outside, as torch's grid_sample."""
    c, h, w = m.shape
    fx, fy = _grid(pts, H, W, h, w)
    x0, y0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    out = np.zeros((len(pts), c), np.float64)
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wt = (1 - np.abs(fx - xi)) * (1 - np.abs(fy - yi))
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            out[ok] += wt[ok, None] * m[:, yi[ok], xi[ok]].T
    return out


def _cubic(t: np.ndarray) -> np.ndarray:
    """Weights of the 4 taps at offsets -1, 0, 1, 2 for fractions t (torch's cubic convolution, A = -0.75)."""
    a = -0.75
    d = np.stack([t + 1, t, 1 - t, 2 - t], -1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, far)


def _bicubic(m: np.ndarray, pts: np.ndarray, H: int, W: int) -> np.ndarray:
    """(C, h, w) map sampled bicubically at image positions `pts` -> (N, C); taps outside count zero."""
    c, h, w = m.shape
    fx, fy = _grid(pts, H, W, h, w)
    x0, y0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    wx, wy = _cubic(fx - x0), _cubic(fy - y0)
    out = np.zeros((len(pts), c), np.float64)
    for j in range(4):
        yi = y0 - 1 + j
        for i in range(4):
            xi = x0 - 1 + i
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            out[ok] += (wx[ok, i] * wy[ok, j])[:, None] * m[:, yi[ok], xi[ok]].T
    return out


def grey_of(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> the channels' mean as float32, XFeat's own grey."""
    return rgb.astype(np.float32).mean(axis=2)


def reference_features(model: KeypointModel, rgba: np.ndarray, brand: str, file: str,
                       cfg: KeypointConfig = KeypointConfig()) -> list[RefFeatures]:
    """A logo reference (H, W, 4) drawn from its ink alone at each of cfg.reference_sides, dark on light and light
    on dark (a photo may print it either way, in any colour) -> one RefFeatures for each drawing."""
    ink = ink_mask(rgba)
    out = []
    for side in cfg.reference_sides:
        s = side / max(ink.shape)
        small = cv2.resize(ink, (max(1, round(ink.shape[1] * s)), max(1, round(ink.shape[0] * s))),
                           interpolation=cv2.INTER_AREA)
        small = cv2.copyMakeBorder(small, *(cfg.reference_pad,) * 4, cv2.BORDER_CONSTANT, value=0.0)
        for drawn in (255.0 * (1.0 - small), 255.0 * small):
            f = features(model, drawn.astype(np.float32), cfg.reference_points, cfg.detection_threshold)
            out.append(RefFeatures(brand, file, small.shape[:2], cfg.reference_pad, s, f))
    return out


def cached_reference_features(model: KeypointModel, folder: Path, sha256: str, load: Callable[[], np.ndarray],
                              brand: str, file: str, cfg: KeypointConfig = KeypointConfig()) -> list[RefFeatures]:
    """reference_features of the reference whose image hash is `sha256` (`load()` gives its RGBA), kept in
    `folder` (a gallery's .index/keypoints) under a name that also holds the model's hash and the settings: a
    gallery's references are drawn once, not once per process. An unreadable cache file is recomputed; a cache
    that cannot be written (a read-only gallery) only costs the time."""
    key = hashlib.sha256(repr((model.manifest.get("sha256"), cfg.reference_sides, cfg.reference_pad,
                               cfg.reference_points, cfg.detection_threshold)).encode()).hexdigest()[:16]
    path = folder / f"{sha256[:32]}-{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return [RefFeatures(brand, file, tuple(int(v) for v in z[f"shape{i}"]), cfg.reference_pad,
                                float(z[f"scale{i}"]), Features(z[f"points{i}"], z[f"descriptors{i}"]))
                    for i in range(int(z["n"]))]
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError) as e:
        logger.warning("keypoint cache %s is unreadable (%s); recomputing it", path, e)
    out = reference_features(model, load(), brand, file, cfg)
    arrays = {"n": np.int64(len(out))}
    for i, r in enumerate(out):
        arrays.update({f"shape{i}": np.int64(r.shape), f"scale{i}": np.float64(r.scale),
                       f"points{i}": r.features.points, f"descriptors{i}": r.features.descriptors})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
    except OSError as e:
        logger.debug("keypoint cache %s not written: %s", path, e)
    return out


def match_logo(photo: Features, refs: list[RefFeatures], shape: tuple[int, int], cfg: KeypointConfig = KeypointConfig()
               ) -> LocalMatch | None:
    """The brand whose reference's features agree with the photo's on one camera view of the logo: mutual nearest
    neighbours (cosine >= cfg.min_cosine), a homography by MAGSAC, its inliers counted; each brand counts its
    best reference. The best brand is returned when it has cfg.min_inliers and cfg.margin times the next brand's
    (floor cfg.noise), else None. `shape`: the photo's (h, w), in the pixels of `photo.points`."""
    if len(photo.points) < 4:
        return None
    paired = sorted(((_pairs(ref.features, photo, cfg), k) for k, ref in enumerate(refs)), key=lambda t: -len(t[0][0]))
    best: dict[str, tuple[int, RefFeatures, np.ndarray]] = {}
    unfitted = 0  # the most pairs of a reference left unfitted: a bound on its inliers
    for (a, b), k in paired:
        top = max((v[0] for v in best.values()), default=0)
        # inliers are a subset of the pairs: a reference with fewer than min_inliers cannot be named, and one with
        # at most top / margin cannot keep the best from being named, nor can any after it (fewer pairs still)
        if len(a) < max(5, cfg.noise) or (len(a) < cfg.min_inliers and (top < cfg.min_inliers
                                                                         or len(a) * cfg.margin <= top)):
            unfitted = len(a)
            break
        n, H = _fit(refs[k], a, b, cfg, shape)
        if n and n > best.get(refs[k].brand, (0,))[0]:
            best[refs[k].brand] = (n, refs[k], H)
    if not best:
        return None
    ranked = sorted(best.values(), key=lambda t: -t[0])
    n, ref, H = ranked[0]
    runner_up = max(ranked[1][0] if len(ranked) > 1 else 0, unfitted)
    if n < cfg.min_inliers or n < cfg.margin * max(runner_up, cfg.noise):
        return None
    # drawn reference pixels -> the reference image's own pixels
    to_drawn = np.array([[ref.scale, 0, ref.pad], [0, ref.scale, ref.pad], [0, 0, 1]], np.float64)
    Hr = H @ to_drawn
    ih, iw = (ref.shape[0] - 2 * ref.pad) / ref.scale, (ref.shape[1] - 2 * ref.pad) / ref.scale
    corners = cv2.perspectiveTransform(np.float64([[[0, 0], [iw, 0], [iw, ih], [0, ih]]]), Hr)[0]
    x0, y0 = np.clip(corners.min(0), 0, [shape[1], shape[0]]).astype(int)
    x1, y1 = np.clip(np.ceil(corners.max(0)), 0, [shape[1], shape[0]]).astype(int)
    return LocalMatch(ref.brand, ref.file, n, runner_up, Hr, (int(x0), int(y0), int(x1), int(y1)))


def match_hypothesis(photo: Features, own: list[RefFeatures], refs: list[RefFeatures], shape: tuple[int, int],
                     cfg: KeypointConfig = KeypointConfig()) -> LocalMatch | None:
    """match_logo of one hypothesised brand: its references (`own`) alone first; only where they would name it
    are all of `refs` matched (every brand's, `own` included), and the match returned if it names the same brand.
    A region where the hypothesis finds nothing costs only its own references' pairs."""
    if not own or match_logo(photo, own, shape, cfg) is None:
        return None
    found = match_logo(photo, refs, shape, cfg)
    return found if found is not None and found.brand == own[0].brand else None


def _pairs(f: Features, photo: Features, cfg: KeypointConfig) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours of a reference's and the photo's features, at least cfg.min_cosine alike ->
    (reference points (M, 2), photo points (M, 2))."""
    if not len(f.points):
        return f.points, f.points
    sim = f.descriptors @ photo.descriptors.T
    i = sim.argmax(1)
    # mutual: the photo point's own best reference point is this one (only the columns chosen are searched)
    mutual = sim[:, i].argmax(0) == np.arange(len(i))
    m = np.nonzero(mutual & (sim[np.arange(len(i)), i] >= cfg.min_cosine))[0]
    return f.points[m], photo.points[i[m]]


def _fit(ref: RefFeatures, a: np.ndarray, b: np.ndarray, cfg: KeypointConfig, shape: tuple[int, int]
         ) -> tuple[int, np.ndarray | None]:
    """The pairs (a -> b) that agree on a homography that is a camera's view -> (count, H of drawn reference
    pixels -> photo pixels); (0, None) when there is none."""
    H, mask = cv2.findHomography(a, b, cv2.USAC_MAGSAC, cfg.ransac_px)
    if H is None or mask is None or view_problem(H, ref.shape, (0, 0, shape[1], shape[0])) is not None:
        return 0, None
    return int(mask.sum()), H
