"""Shared fixtures: real logos rendered from simplepycons, real galleries, the real shipped embedder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vision import synth
from vision.check import open_context
from vision.embed import load_embedder
from vision.gallery import Gallery, add_references
from vision.index import save_index, sync_index

ROOT = Path(__file__).resolve().parent.parent
BRANDS = ("nike", "adidas", "puma", "samsung", "apple", "starbucks")


def save_rgba(path: Path, rgba: np.ndarray) -> Path:
    Image.fromarray(rgba, "RGBA").save(path)
    return path


@pytest.fixture(scope="session")
def embedder():
    return load_embedder(threads=1)


@pytest.fixture(scope="session")
def logo_files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("logos")
    return {b: save_rgba(d / f"{b}.png", synth.render_logo(b, 256)) for b in BRANDS}


@pytest.fixture(scope="session")
def built_gallery(tmp_path_factory, logo_files, embedder) -> Path:
    """A gallery of BRANDS (one logo each, with wordmark for samsung), indexed. Copy it before changing it."""
    root = tmp_path_factory.mktemp("gallery") / "g"
    g = Gallery(root)
    for b, f in logo_files.items():
        add_references(g, b, [f], kind="logo", wordmark="SAMSUNG" if b == "samsung" else None,
                       colors=[synth.brand_icon(b).color])
    with g.locked():
        save_index(sync_index(g, embedder), g)
    open_context(root)  # calibrates once, so copies start calibrated
    return root


@pytest.fixture
def gallery_copy(built_gallery, tmp_path) -> Path:
    dst = tmp_path / "gallery"
    shutil.copytree(built_gallery, dst)
    return dst


def listing(slug: str | None, seed: int, **style) -> np.ndarray:
    """A generated listing photo of `slug`'s logo (None: unbranded)."""
    rng = np.random.default_rng(seed)
    logo = synth.render_logo(slug, 256) if slug else None
    return synth.photograph(logo, rng, synth.PhotoStyle(**style)).image


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real `authcheck` entry point in a subprocess."""
    full_env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **(env or {})}
    return subprocess.run([sys.executable, "-m", "vision.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=300)
