"""The divergence channels as data (verdict.CHANNELS): the same terms, scores, verdicts and risks as the code gave
before the table, on stored evidence (tests/data/divergence_terms.json: 200 seeded random evidence records, every
channel exercised), and a calibration key that follows the table."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from tests.conftest import ROOT
from tests.test_verdict import hit
from vision.align import Alignment
from vision.colour import Colour
from vision.detail import Detail
from vision.geometry import Geometry
from vision.verdict import VerdictConfig, decide, divergence_score, divergence_terms
from vision.verify import Evidence
from vision.wordmark import Reading

STORED = ROOT / "tests" / "data" / "divergence_terms.json"


def random_evidence(rng: np.random.Generator) -> tuple[dict, Evidence]:
    def u(genuine: tuple[float, float], off: tuple[float, float]) -> float:  # most channels genuine, some off
        return float(rng.uniform(*(off if rng.random() < 0.12 else genuine)))

    p = {"quality": u((0.85, 1.0), (0.5, 0.85)), "inliers": int(rng.integers(0, 60)),
         "method": str(rng.choice(["sift", "shape", "rest"])), "shift": u((0, 0.012), (0.012, 0.06)),
         "fit": u((0.85, 1.0), (0.5, 0.85)), "blob": u((0, 0.012), (0.012, 0.08)),
         "ink": float(np.exp(rng.normal(0, 0.1))), "mirror": u((0.3, 0.8), (0.8, 1.0)),
         "fidelity": u((0.95, 1.0), (0.7, 0.95)), "resolution": float(rng.uniform(0.5, 8.0)),
         "trivial": float(rng.uniform(0.2, 0.9)),
         "wordmark": bool(rng.random() < 0.5), "edits": int(rng.random() < 0.15) * int(rng.integers(1, 4)),
         "ocr": float(rng.uniform(0.3, 1.0)),
         "colour": bool(rng.random() < 0.6), "spread": u((0, 18), (18, 50)), "off": u((0, 22), (22, 60))}
    a = Alignment(np.eye(3), p["method"], p["inliers"], p["quality"], 1)
    ev = Evidence("nike", "nike/logos/a.png", (1, 2, 30, 40), a, Geometry((), p["shift"], p["fit"]),
                  Detail(p["blob"], p["blob"], p["ink"], np.zeros((4, 4), np.float32)), p["mirror"],
                  trivial_quality=p["trivial"], fidelity=p["fidelity"], resolution=p["resolution"],
                  wordmark=Reading("NIKE", "NIKE"[:4 - p["edits"]], p["ocr"], p["edits"]) if p["wordmark"] else None,
                  colour=Colour("#102030", p["spread"], p["off"], "#112233") if p["colour"] else None)
    return p, ev


def outcome(ev: Evidence) -> dict:
    score, reasons = divergence_score(ev, {"fidelity": 1.5, "wordmark": 2.0})
    rec = decide("p.jpg", [hit("nike", 0.8)], {"nike": ev}, {"nike": "Nike"}, VerdictConfig(),
                 {"nike": {"fidelity": 1.5, "wordmark": 2.0}}, {"nike": 0.9})
    return {"terms": [[n, v, why] for n, v, why in divergence_terms(ev)], "score": score, "reasons": reasons,
            "verdict": rec.verdict, "risk": rec.risk, "record_reasons": rec.reasons}


def test_the_table_gives_the_stored_terms_scores_verdicts_and_risks():
    stored = json.loads(STORED.read_text())
    rng = np.random.default_rng(0)
    for want in stored:
        p, ev = random_evidence(rng)
        assert p == want["params"]
        got = outcome(ev)
        assert [t[0] for t in got["terms"]] == [t[0] for t in want["terms"]]
        assert [t[2] for t in got["terms"]] == [t[2] for t in want["terms"]]
        np.testing.assert_allclose([t[1] for t in got["terms"]], [t[1] for t in want["terms"]], rtol=1e-12, atol=1e-12)
        assert abs(got["score"] - want["score"]) <= 1e-9 and got["reasons"] == want["reasons"]
        assert got["verdict"] == want["verdict"] and got["record_reasons"] == want["record_reasons"]
        assert abs(got["risk"] - want["risk"]) <= 1e-9
    assert {w["verdict"] for w in stored} >= {"consistent", "suspect"}


def test_the_calibration_key_follows_the_table_and_the_code_not_its_prose(monkeypatch):
    from vision import calibrate

    src = 'def f(x):\n    """Scale."""\n    return x / 0.02  # a comment\n'
    assert calibrate.code_hash(src) == calibrate.code_hash(
        'def f(x):\n    """Scaled so that 1 is far."""\n\n    return x / 0.02\n')
    assert calibrate.code_hash(src) != calibrate.code_hash(src.replace("0.02", "0.03"))
    before = calibrate.code_version()
    table = tuple(replace(c, scale=c.scale * 2) if c.name == "region" else c for c in calibrate.CHANNELS)
    monkeypatch.setattr(calibrate, "CHANNELS", table)
    calibrate.code_version.cache_clear()
    try:
        assert calibrate.code_version() != before
    finally:
        monkeypatch.undo()
        calibrate.code_version.cache_clear()
    assert calibrate.code_version() == before


def test_the_demo_gallery_is_calibrated_for_this_code():
    """The shipped gallery's calibration.json must match the code (it is read-only where the package is installed):
    after a change to the verification code, run `authcheck gallery calibrate --gallery reference_gallery`."""
    from vision.calibrate import CalibrationConfig, load_thresholds, stored_thresholds
    from vision.gallery import Gallery, demo_gallery

    g = Gallery(demo_gallery())
    assert stored_thresholds(g, load_thresholds(g), CalibrationConfig()) is not None
