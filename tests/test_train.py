"""Training: seeded batches of real rendered logos, a real (tiny) torch run with safetensors checkpoints, resume,
and export of the checkpoint through the self-checking ONNX exporter."""

import json

import numpy as np
import pytest

from vision.train.brands import EVAL_BRANDS
from vision.train.fit import LogoBank, TrainConfig, make_batch, training_logos

TINY = TrainConfig(steps=2, batch=3, input_size=64, dim=16, checkpoint_every=1, threads=1, warmup=1)


def test_training_logos_never_include_eval_brands_or_held_out_icons():
    from vision import synth
    from vision.train.brands import icon_pool

    logos = set(training_logos())
    assert not logos & set(EVAL_BRANDS)
    assert not logos & set(icon_pool(synth.available_icons())[1])
    assert len(logos) > 1000


def test_batches_are_seeded_and_paired():
    bank = LogoBank(["nike", "adidas", "samsung", "puma"])
    refs, photos = make_batch(bank, TINY, 5)[:2]
    assert refs.shape == photos.shape == (3, 3, 64, 64) and refs.dtype == np.float32
    again = make_batch(LogoBank(["nike", "adidas", "samsung", "puma"]), TINY, 5)
    np.testing.assert_array_equal(refs, again[0])
    np.testing.assert_array_equal(photos, again[1])
    assert not np.array_equal(photos, make_batch(bank, TINY, 6)[1])  # another step, other data


def test_tiny_run_checkpoints_resumes_and_exports(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from safetensors.torch import load_file

    import vision.train.fit as train_mod

    monkeypatch.setattr(train_mod, "training_logos", lambda: ["nike", "adidas", "samsung", "puma", "apple"])
    ckpt = train_mod.train(TINY, tmp_path / "run")
    assert ckpt.name == "step-000002.safetensors" and sorted(p.name for p in (tmp_path / "run").glob("step-*")) == [
        ckpt.name]  # older checkpoints are dropped once a newer one is committed
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["step"] == 2
    weights = load_file(str(ckpt))
    assert weights["head.weight"].shape == (16, 1280)
    assert train_mod.train(TINY, tmp_path / "run") == ckpt  # resumed at the end: nothing left to do
    with pytest.raises(SystemExit, match="another config"):
        train_mod.train(TrainConfig(steps=3, batch=3, input_size=64, dim=16), tmp_path / "run")
    m = train_mod.export_trained(ckpt, "tiny", tmp_path, int8=True)
    assert m.dim == 16 and m.input_size == 64 and m.extra["train"]["steps"] == 2
    from vision.embed import Embedder

    for name in ("tiny", "tiny_int8"):
        e = Embedder(tmp_path / f"{name}.json", threads=1)
        v = e([np.zeros((40, 90, 3), np.uint8), np.full((70, 30, 3), 200, np.uint8)])
        assert v.shape == (2, 16)
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
        assert e.manifest.grid is None  # a crop model


def test_window_views_are_seeded_and_sit_on_the_trunk_cell_grid():
    from dataclasses import replace

    from vision.train.export import CELL_PX, WINDOW_CELLS
    from vision.train.fit import CONTEXT_CELLS

    cfg = replace(TINY, batch=6, input_size=128, window_views=0.5)
    bank = LogoBank(["nike", "adidas", "samsung", "puma"])
    b = make_batch(bank, cfg, 3)
    side = CONTEXT_CELLS * CELL_PX
    assert len(b.window_rows) and len(b.window_rows) + len(b.photos) == len(b.refs) == 6
    assert b.windows.shape == (len(b.window_rows), 3, side, side) and b.photos.shape[1:] == (3, 128, 128)
    assert ((b.offsets >= 0) & (b.offsets <= CONTEXT_CELLS - WINDOW_CELLS)).all()
    again = make_batch(LogoBank(["nike", "adidas", "samsung", "puma"]), cfg, 3)
    np.testing.assert_array_equal(b.windows, again.windows)
    np.testing.assert_array_equal(b.window_rows, again.window_rows)
    assert make_batch(bank, TINY, 3).window_rows.size == 0  # without window views: crops only, as before


def test_fine_tuning_from_an_exported_model_with_window_views(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from dataclasses import replace

    import vision.train.fit as train_mod

    monkeypatch.setattr(train_mod, "training_logos", lambda: ["nike", "adidas", "samsung", "puma", "apple"])
    base = train_mod.export_trained(train_mod.train(TINY, tmp_path / "base"), "base", tmp_path, int8=False)
    with pytest.raises(SystemExit, match="input_size 128"):
        train_mod.train(replace(TINY, window_views=0.5), tmp_path / "bad")
    cfg = replace(TINY, steps=1, input_size=128, window_views=0.5, init=str(tmp_path / base.file))
    ckpt = train_mod.train(cfg, tmp_path / "tuned")
    m = train_mod.export_trained(ckpt, "tuned", tmp_path, int8=True, grid=True)
    assert m.extra["train"]["init"] == cfg.init and m.extra["train"]["window_views"] == 0.5
    assert m.extra["init"]["sha256"] == base.sha256 and m.grid["cells"] == 4
    from vision.embed import Embedder, embed_windows

    for name in ("tuned", "tuned_int8"):  # one file embeds crops and pools windows, quantised too
        e = Embedder(tmp_path / f"{name}.json", threads=1)
        assert e([np.zeros((40, 90, 3), np.uint8)]).shape == (1, 16)
        boxes, v = embed_windows(e, np.zeros((240, 320, 3), np.uint8), [120])
        assert len(boxes) == len(v) == 12 and v.shape[1] == 16
