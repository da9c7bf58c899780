"""Stage: embed image crops with an ONNX model described by its manifest.

The manifest (`weights/<model>.json`) carries the preprocessing (input size, mean/std, resize rule) with the
weights, so the transform can never drift from the model. Only onnxruntime is used here, never torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .errors import ModelError
from .fsio import data_dir, sha256_file
from .log import logger

__all__ = ["Manifest", "resolve_manifest", "onnx_session", "Embedder", "letterbox", "embed", "embed_windows",
           "load_embedder"]


WEIGHTS_DIR = data_dir("weights")
DEFAULT_MODEL = "logo_lite0"  # trained by vision.train; the ImageNet baseline stays for comparison


@dataclass(frozen=True)
class Manifest:
    name: str
    file: str  # ONNX file, relative to the manifest's folder
    sha256: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    dim: int
    pooling: str
    resize: str = "letterbox"  # longest side to input_size, pad with the crop's border colour
    license: str = ""
    source: str = ""
    extra: dict | None = None  # training config, commit, export details: informational
    # the model also pools a photo's window grid in one pass (export.export_grid_onnx): cell_px, cells, stride;
    # None = a crop model, its output (N, dim), which the check feeds every window as a crop
    grid: dict | None = None

    @property
    def id(self) -> str:
        """What an index records to tell embedders apart: name and weights hash."""
        return f"{self.name}@{self.sha256[:16]}"

    @classmethod
    def read(cls, path: str | os.PathLike) -> "Manifest":
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"model manifest not found: {path}") from None
        except (OSError, ValueError) as e:
            raise ModelError(f"model manifest {path} is unreadable: {e}") from None
        known = {f.name for f in fields(cls)}
        if not isinstance(raw, dict):
            raise ModelError(f"model manifest {path} is not a JSON object")
        missing = [f.name for f in fields(cls) if f.default is MISSING and f.name not in raw]
        if missing:
            raise ModelError(f"model manifest {path} lacks fields: {missing}")
        kw = {k: v for k, v in raw.items() if k in known}
        kw["mean"], kw["std"] = tuple(kw["mean"]), tuple(kw["std"])
        return cls(**kw)

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def resolve_manifest(model: str | os.PathLike | None = None) -> Path:
    """A model name (looked up in weights/), a manifest path, or None for the default model."""
    model = model or os.environ.get("AUTHCHECK_MODEL") or DEFAULT_MODEL
    p = Path(model)
    if p.suffix == ".json" or p.exists():
        return p
    return WEIGHTS_DIR / f"{model}.json"


def onnx_session(onnx_path: str | os.PathLike, threads: int = 0):
    """An onnxruntime CPU session of `onnx_path` with `threads` intra-op threads (0: onnxruntime's default);
    ModelError if it cannot be loaded."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # idle intra-op threads spin after each run, taking the cores from the OpenCV and OCR work done in between: a
    # scan in one process (threads 0) used 5-13% less CPU without it, for the same rows (benchmarks/HISTORY.md)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise ModelError(f"onnxruntime cannot load {onnx_path}: {e}") from None


class Embedder:
    """An onnxruntime session plus its manifest. Inputs: RGB uint8 crops of any size; output (N, dim) float32."""

    def __init__(self, manifest_path: str | os.PathLike, threads: int = 0, verify_sha: bool = True):
        self.manifest_path = Path(manifest_path)
        self.manifest = Manifest.read(self.manifest_path)
        onnx_path = self.manifest_path.parent / self.manifest.file
        if not onnx_path.is_file():
            raise ModelError(f"model file missing: {onnx_path}")
        if verify_sha and sha256_file(onnx_path) != self.manifest.sha256:
            raise ModelError(f"model file {onnx_path} does not match the sha256 in its manifest; refusing to load it")
        self.session = onnx_session(onnx_path, threads)
        self._input = self.session.get_inputs()[0].name
        m = self.manifest
        self._mean = np.asarray(m.mean, np.float32).reshape(1, 1, 3) * 255.0
        self._inv_std = 1.0 / (np.asarray(m.std, np.float32).reshape(1, 1, 3) * 255.0)
        logger.debug("loaded embedder %s (dim %d, %d threads)", m.id, m.dim, threads)

    @property
    def dim(self) -> int:
        return self.manifest.dim

    def preprocess(self, crop: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (3, S, S) float32, normalised as the manifest says."""
        return self.normalise(self.resize(crop)[None])[0]

    def resize(self, crop: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (S, S, 3) uint8, by the manifest's resize rule."""
        s = self.manifest.input_size
        return letterbox(crop, s) if self.manifest.resize == "letterbox" else cv2.resize(
            crop, (s, s), interpolation=cv2.INTER_AREA)

    def normalise(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB -> (N, 3, H, W) float32 model input, with the manifest's mean and std."""
        return np.ascontiguousarray(((images.astype(np.float32) - self._mean) * self._inv_std).transpose(0, 3, 1, 2))

    def __call__(self, crops: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
        return embed(self, crops, batch_size)


def letterbox(crop: np.ndarray, size: int) -> np.ndarray:
    """Scale the longest side to `size`, keep the aspect ratio, pad with the median colour of the crop's border."""
    h, w = crop.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (nw, nh), interpolation=interp)
    if nw == nh == size:  # a square crop (every grid window) needs no padding, nor its median
        return resized
    border = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]], axis=0)
    out = np.empty((size, size, 3), np.uint8)
    out[:] = np.median(border, axis=0).astype(np.uint8)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = resized
    return out


def embed(embedder: Embedder, crops: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
    """Embed RGB uint8 crops. Returns (N, dim) float32, each row L2-normalised; (0, dim) for no crops."""
    if len(crops) == 0:
        return np.zeros((0, embedder.dim), np.float32)
    out = []
    for i in range(0, len(crops), batch_size):
        # normalised as one array: per crop, the conversions cost as much as the resizing
        batch = embedder.normalise(np.stack([embedder.resize(c) for c in crops[i:i + batch_size]]))
        out.append(embedder.session.run(None, {embedder._input: batch})[0])
    return _unit_rows(np.concatenate(out).reshape(len(crops), -1))  # a grid model gives (N, dim, 1, 1)


def _unit_rows(v: np.ndarray) -> np.ndarray:
    """(N, dim) -> float32 rows of unit length. The models normalise already; renormalising keeps the contract for
    an embedder exported without it."""
    v = v.astype(np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def embed_windows(embedder: Embedder, image: np.ndarray, sides: Sequence[float]
                  ) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
    """The square grid windows of each side in `sides` (photo px) of an (H, W, 3) uint8 RGB photo, each embedded
    from one pass of a grid model (Manifest.grid) over the photo scaled so that a window is its input size.
    Returns (boxes (x0, y0, x1, y1) clipped to the photo, (N, dim) float32 unit rows); ([], (0, dim)) when the
    model has no grid. Windows step by half a window, as candidates' grid does."""
    grid = embedder.manifest.grid
    if grid is None:
        return [], np.zeros((0, embedder.dim), np.float32)
    h, w = image.shape[:2]
    size, step = grid["cells"] * grid["cell_px"], grid["stride"] * grid["cell_px"]
    boxes, out = [], []
    for side in sides:
        k = size / side  # model px per photo px
        scaled = cv2.resize(image, (max(1, round(w * k)), max(1, round(h * k))),
                            interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
        v = embedder.session.run(None, {embedder._input: embedder.normalise(scaled[None])})[0][0]
        rows, cols = v.shape[1:]
        for i in range(rows):
            for j in range(cols):
                boxes.append((round(j * step / k), round(i * step / k), min(w, round((j * step + size) / k)),
                              min(h, round((i * step + size) / k))))
        out.append(v.reshape(v.shape[0], -1).T)
    return boxes, _unit_rows(np.concatenate(out) if out else np.zeros((0, embedder.dim), np.float32))


def load_embedder(model: str | os.PathLike | None = None, threads: int = 0) -> Embedder:
    """Load by model name, manifest path or the default (env AUTHCHECK_MODEL overrides the default)."""
    return Embedder(resolve_manifest(model), threads=threads)
