"""The detail stage: differing regions, and misregistration that is not one."""

import cv2
import numpy as np

from vision.detail import divergence


def _lines() -> np.ndarray:
    """A fine-lined mark, 240 pixels wide: six bars 4 pixels thick."""
    ink = np.zeros((200, 260), np.float32)
    for i in range(6):
        cv2.rectangle(ink, (10 + 40 * i, 20), (13 + 40 * i, 180), 1.0, -1)
    return ink


def test_misregistration_at_one_end_is_no_differing_region():
    """A fit that drifts by 5 pixels toward one end (2% of the mark) leaves strips there that survive the opening;
    a local shift explains them, so no region is reported. A missing bar is still one."""
    ref = _lines()
    drift = ref.copy()
    drift[:, 130:] = np.roll(ref, (4, 5), axis=(0, 1))[:, 130:]
    assert divergence(ref, drift, slack=0.0).blob_frac > 0.05  # as measured before the shift test
    assert divergence(ref, drift).blob_frac < 0.012
    missing = ref.copy()
    missing[:, 125:140] = 0  # the fourth bar
    assert divergence(ref, missing).blob_frac > 0.1
