"""Contract tests of every shipped embedder (weights/*.json), and ONNX-vs-torch parity of the export."""

import json
import tempfile

import numpy as np
import onnxruntime as ort
import pytest

from tests.conftest import listing
from vision.embed import WEIGHTS_DIR, Embedder, Manifest, letterbox
from vision.errors import ModelError
from vision.fsio import sha256_file
from vision.keypoints import XFEAT_MANIFEST

# every shipped embedder (the keypoint model, weights/xfeat.json, has its own contract test in test_keypoints.py)
MANIFESTS = sorted(p for p in WEIGHTS_DIR.glob("*.json") if p != XFEAT_MANIFEST)


def test_there_is_a_shipped_model():
    assert MANIFESTS, "weights/ holds no model manifest"


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.stem)
def test_shipped_embedder_contract(manifest):
    m = Manifest.read(manifest)
    assert sha256_file(manifest.parent / m.file) == m.sha256
    e = Embedder(manifest, threads=1)
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (int(rng.integers(20, 300)), int(rng.integers(20, 300)), 3), dtype=np.uint8)
             for _ in range(5)]
    v = e(crops)
    assert v.shape == (5, m.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([e([c]) for c in crops])
    np.testing.assert_allclose(v, one_by_one, atol=1e-5)  # batching does not change results
    assert e([]).shape == (0, m.dim)


def test_sessions_do_not_spin_their_idle_threads():
    # a spinning intra-op pool takes the cores from the OpenCV and OCR work between runs (benchmarks/HISTORY.md)
    from vision.embed import onnx_session

    opts = onnx_session(MANIFESTS[0].parent / Manifest.read(MANIFESTS[0]).file, threads=0).get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_sha_mismatch_refused(tmp_path):
    src = MANIFESTS[0]
    raw = json.loads(src.read_text())
    raw["sha256"] = "0" * 64
    (tmp_path / src.name).write_text(json.dumps(raw))
    (tmp_path / raw["file"]).symlink_to(src.parent / raw["file"])
    with pytest.raises(ModelError, match="does not match the sha256"):
        Embedder(tmp_path / src.name)
    with pytest.raises(ModelError, match="not found"):
        Manifest.read(tmp_path / "missing.json")


def test_letterbox_keeps_aspect():
    crop = np.zeros((50, 200, 3), np.uint8)
    crop[:, :] = (10, 200, 30)
    out = letterbox(crop, 224)
    assert out.shape == (224, 224, 3)
    assert (out[112, :, 1] == 200).all()  # content spans the full width


def test_onnx_matches_torch_on_real_crops():
    torch = pytest.importorskip("torch")
    from vision.train.export import build_embedding_model

    m = Manifest.read(WEIGHTS_DIR / "efficientnet_lite0_imagenet.json")
    e = Embedder(WEIGHTS_DIR / "efficientnet_lite0_imagenet.json", threads=1)
    photos = [listing(b, seed) for seed, b in enumerate(("nike", "samsung", None))]
    x = np.stack([e.preprocess(p) for p in photos])
    model = build_embedding_model(m.pooling)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = e.session.run(None, {"image": x})[0]
    assert np.abs(ref - got).max() <= 1e-4


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.stem)
def test_shipped_embedder_retrieves_the_brand(manifest):
    """A handful of generated listing photos (logo crops) find their brand among six from one reference each."""
    from vision import synth
    from vision.index import reference_views

    e = Embedder(manifest, threads=1)
    brands = ("nike", "adidas", "puma", "samsung", "apple", "starbucks")
    refs, owner = [], []
    for b in brands:
        for _, rgb in reference_views(synth.render_logo(b, 256), "logo"):
            refs.append(rgb)
            owner.append(b)
    gallery = e(refs)
    rng = np.random.default_rng(4)
    hits = []
    for b in brands:
        p = synth.photograph(synth.render_logo(b, 256), rng, synth.PhotoStyle(logo_frac=(0.3, 0.4)))
        x0, y0 = np.floor(p.quad.min(0)).astype(int) - 8
        x1, y1 = np.ceil(p.quad.max(0)).astype(int) + 8
        v = e([p.image[max(0, y0):y1, max(0, x0):x1]])
        hits.append(owner[int(np.argmax(gallery @ v[0]))] == b)
    # the trained embedders must get them all; the ImageNet baseline is the weaker reference point
    assert np.mean(hits) >= (1.0 if Manifest.read(manifest).extra.get("train") else 0.5), hits


def test_trained_architecture_export_matches_torch():
    """The export path of trained models (projection head, small input) checks itself against onnxruntime."""
    torch = pytest.importorskip("torch")
    from vision.train.export import build_embedding_model, export_onnx

    torch.manual_seed(0)
    model = build_embedding_model("gem", dim=64)
    x = np.stack([letterbox(listing(b, s), 128) for s, b in enumerate(("nike", "samsung"))]).astype(np.float32)
    x = ((x / 255.0 - 0.5) / 0.5).transpose(0, 3, 1, 2).copy()
    with tempfile.TemporaryDirectory() as tmp:
        assert export_onnx(model, f"{tmp}/m.onnx", 128, sample=x) <= 1e-4
        sess = ort.InferenceSession(f"{tmp}/m.onnx", providers=["CPUExecutionProvider"])
        assert sess.run(None, {"image": np.concatenate([x, x, x])})[0].shape == (6, 64)  # dynamic batch


def test_an_exported_embedder_rebuilt_in_torch_computes_what_it_computes():
    """Fine-tuning starts from the shipped model itself (train --init), its batch-norms folded as exported."""
    torch = pytest.importorskip("torch")
    from vision.train.export import model_from_onnx

    e = Embedder(WEIGHTS_DIR / "logo_lite0.json", threads=1)
    x = np.stack([e.preprocess(listing(b, s)) for s, b in enumerate(("nike", "samsung", None))])
    with torch.no_grad():
        ref = model_from_onnx(WEIGHTS_DIR / e.manifest.file)(torch.from_numpy(x)).numpy()
    assert np.abs(ref - e.session.run(None, {"image": x})[0]).max() <= 1e-4


def test_window_grid_export_matches_torch_at_any_photo_size_and_a_lone_window_is_its_crop():
    torch = pytest.importorskip("torch")
    from vision.train.export import build_embedding_model, export_grid_onnx, export_onnx

    torch.manual_seed(0)
    model = build_embedding_model("gem", dim=32)
    photo = ((listing("nike", 1, size=(320, 240)).astype(np.float32) / 255 - 0.5) / 0.5).transpose(2, 0, 1)[None]
    with tempfile.TemporaryDirectory() as tmp:
        grid = export_grid_onnx(model, f"{tmp}/g.onnx", np.ascontiguousarray(photo))
        assert grid["max_abs_diff_vs_torch"] <= 1e-4 and (grid["cells"], grid["stride"], grid["cell_px"]) == (4, 2, 32)
        sess = ort.InferenceSession(f"{tmp}/g.onnx", providers=["CPUExecutionProvider"])
        # 240 x 320 px: 7 x 10 cells (the last, partial one dropped by the static padding), windows every 2 cells
        assert sess.run(None, {"image": photo})[0].shape == (1, 32, 2, 4)
        one = np.ascontiguousarray(photo[:, :, 40:168, 100:228])  # exactly one window: the crop model's input
        export_onnx(model, f"{tmp}/m.onnx", 128, sample=one)
        crop = ort.InferenceSession(f"{tmp}/m.onnx", providers=["CPUExecutionProvider"]).run(None, {"image": one})[0]
        np.testing.assert_allclose(sess.run(None, {"image": one})[0][:, :, 0, 0], crop, atol=1e-5)


@pytest.mark.parametrize("manifest", [p for p in MANIFESTS if Manifest.read(p).grid], ids=lambda p: p.stem)
def test_shipped_window_grid_contract(manifest):
    from vision.embed import embed_windows

    e = Embedder(manifest, threads=1)
    photo = listing("adidas", 2)  # 640 x 480
    boxes, v = embed_windows(e, photo, [240, 144])
    assert len(boxes) == len(v) >= 40 and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert all(0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480 for x0, y0, x1, y1 in boxes)
    assert {(x1 - x0) for x0, y0, x1, y1 in boxes if x1 < 640} == {240, 144}  # windows of the sides asked for
    assert embed_windows(e, photo, [])[1].shape == (0, e.dim)
