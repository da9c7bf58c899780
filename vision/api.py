"""The Python API: a gallery opened once, then photos checked one by one or a folder at a time.

    from vision import Checker
    checker = Checker("reference_gallery")          # or Checker() for the bundled demo gallery
    row = checker.check("listing.jpg")              # CheckRecord: verdict, brand, risk, reasons, ...
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from .check import CheckConfig, Context, check_image, open_context
from .gallery import Gallery
from .record import CheckRecord
from .scan import ScanSummary, scan

__all__ = ["Checker"]


class Checker:
    """A reference gallery opened for checking: its embedder, FAISS index and calibrated thresholds are loaded
    once (an index behind the gallery is brought up to date, brands not yet calibrated are calibrated first).

    `gallery`: a gallery folder; None: $AUTHCHECK_GALLERY, else ./reference_gallery, else the demo gallery that
    ships with the package. `model`: an embedder name in weights/ (None: the default). `threads`: onnxruntime
    threads (0: onnxruntime's choice). `progress(brands done, brands to do, slug)` hears calibration, if any."""

    def __init__(self, gallery: str | os.PathLike | None = None, model: str | None = None, threads: int = 0,
                 config: CheckConfig = CheckConfig(),
                 progress: Callable[[int, int, str], None] | None = None):
        self.context: Context = open_context(gallery, model, threads, config, progress)

    @property
    def gallery(self) -> Gallery:
        return self.context.gallery

    def check(self, image: str | os.PathLike | np.ndarray, path: str | None = None) -> CheckRecord:
        """One listing photo: a file path, or an (H, W, 3) RGB uint8 array (`path` then labels its record). Never
        raises for a bad image: returns a record with verdict "error" and the reason in `error`. The verdict is
        "consistent", "suspect", "unverified", "no_match" or "error"; `brand` and `risk` are None when no brand was
        named (no_match) or the image could not be read (error)."""
        return check_image(self.context, image, path)

    def scan(self, folder: str | os.PathLike, out: str | os.PathLike, workers: int = 1,
             progress: bool = False) -> ScanSummary:
        """Every image under `folder`, one row each appended to `out` (.jsonl, .csv or .parquet; files already in
        it are skipped, so a killed scan resumes). `workers` > 1: that many processes. Returns the counts."""
        return scan(self.context, folder, out, progress=progress, workers=workers)
