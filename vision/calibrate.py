"""Stage: per-brand divergence thresholds from the natural variation of the brand's own genuine references.

Each logo reference is photographed under random nuisances (vision.synth.photograph: tilt, rotation, scale,
lighting, colour cast, blur, noise, JPEG) and verified against itself, exactly as a listing would be. Each
divergence channel (verdict.TERMS) gets its own threshold: the (1 - false_flag_rate / channels) quantile of a tail
fitted to its genuine values, never below a floor. A listing is suspect when any channel passes its threshold, so
by the union bound at most `false_flag_rate` of genuine listings are flagged. The fitted tails are stored in
<gallery>/.index/calibration.json, keyed by brand, reference hashes and settings, so they are recomputed only
when a brand's references change; thresholds for any false-flag rate follow from them without rendering again.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable, Iterable, Iterator

import numpy as np

from .align import AlignConfig, ink_from_rgba
from .errors import GalleryError
from .fsio import atomic_write_json
from .gallery import Gallery
from .load import load_image
from .log import logger
from .synth import PhotoStyle, photograph
from .verdict import CHANNELS, RESOLVED_PX, TERMS, VerdictConfig, confirmed, divergence_terms
from .verify import verify_brand
from .wordmark import TextLine, reference_lines, use_threads

__all__ = ["CalibrationConfig", "calibrate_brand", "channel_threshold", "channel_fit", "fit_thresholds",
           "tail_threshold", "tail_quantile", "tail_fit", "load_thresholds", "code_version", "code_hash",
           "calibration_key", "stored_thresholds", "thresholds_at", "reference_thresholds", "align_rate",
           "stored_align_rates", "stored_text", "refuse_in_worker_start", "calibrate_gallery"]

CALIBRATION = "calibration.json"
# the code that makes a genuine render's divergence values: a change to what it does (not to its comments,
# docstrings or layout) makes stored calibrations stale (code_version)
VERIFICATION_CODE = ("align", "calibrate", "colour", "detail", "geometry", "materials", "synth", "verdict",
                     "verify", "wordmark")


@dataclass(frozen=True)
class CalibrationConfig:
    samples: int = 96  # at most this many genuine photos per logo reference (48 left fine-lined emblems, which
    # align 6 times in 48, with a handful of renders and their thresholds at the floor) ...
    min_samples: int = 96  # ... and at least this many; more only while fewer than `enough` of them aligned (48
    # makes calibration about twice as fast; not measured apart from other changes, see benchmarks/HISTORY.md)
    enough: int = 40  # aligned genuine renders that make a tail fit
    decided_at: int = 48  # from this many renders on (every DECIDE_EVERY), a reference whose fitted tails all sit under
    decided: float = 0.7  # ... this share of the floor stops early: more renders would not lift a threshold off it
    window: float = 0.75  # > 0: each photo is made only around its logo (synth.photograph's window; 0.75 cuts a
    # render from 45 to 15 ms; measured alone in benchmarks/HISTORY.md)
    false_flag_rate: float = 0.02  # target share of genuine listings called suspect
    floor: float = 1.0  # a channel's threshold never goes below this (channels are scaled so 1 is already far)
    seed: int = 0
    workers: int = 0  # processes for calibrating several brands (0: one per CPU)
    trim: float = 0.1  # share of each channel's largest genuine values left out of the fit (misalignments; not the
    # wordmark's, see channel_fit)
    min_resolved: int = 8  # resolved renders needed for thresholds of their own (else all renders' apply)


DECIDE_EVERY = 16  # renders between two looks at whether a reference's thresholds are decided (_decided)


def calibrate_brand(ink: np.ndarray, rgba: np.ndarray, cfg: CalibrationConfig = CalibrationConfig(),
                    align_cfg=None, text_lines=(), colors: tuple[str, ...] = ()) -> dict:
    """Genuine divergence channels of one logo reference (`rgba`, its ink mask `ink`) -> {"fits": {"sharp" | "coarse":
    {channel: channel_fit}} (fit_thresholds turns them into thresholds at any rate), "values": {channel: sorted
    genuine values}, "unaligned": count, ...}. Boxes are the logo's true box grown by a random margin, as the
    candidate stage gives them."""
    align_cfg = align_cfg or AlignConfig()
    rgba = rgba.copy()
    rgba.flags.writeable = False  # read-only: photograph makes its layers once, not once per render
    rng = np.random.default_rng(cfg.seed)
    values: dict[str, list[float]] = {t: [] for t in TERMS}
    resolution: list[float] = []
    unaligned = unaligned_resolved = 0
    for n in range(cfg.samples):
        if n >= cfg.min_samples and len(resolution) >= cfg.enough:  # every render so far aligned or not
            break
        if (n >= cfg.decided_at and n % DECIDE_EVERY == 0 and len(resolution) >= cfg.enough
                and _decided(_fits(values, resolution, cfg), cfg)):
            break
        p = photograph(rgba, rng, PhotoStyle(), window=cfg.window)
        q = p.quad
        pad = rng.uniform(0.05, 0.3) * (q.max(0) - q.min(0))
        box = (int(max(0, q[:, 0].min() - pad[0])), int(max(0, q[:, 1].min() - pad[1])),
               int(q[:, 0].max() + pad[0]) + 1, int(q[:, 1].max() + pad[1]) + 1)
        ev = verify_brand(p.image, [box], "calibration", "calibration", ink, align_cfg, text_lines, colors)
        # the alignments a check would confirm for a genuine print, which the embedding vouches for: leaving out those
        # that only the embedding confirms (plain, compact marks) calibrated such brands on their few best renders
        if not confirmed(ev, VerdictConfig(), similarity=1.0):
            unaligned += 1
            unaligned_resolved += ev.resolution >= RESOLVED_PX  # an upper bound, as a check's "looks like" has
            continue
        resolution.append(ev.resolution)
        for name, v, _ in divergence_terms(ev):
            values[name].append(v)
    return {"fits": _fits(values, resolution, cfg), "values": {t: [round(x, 4) for x in sorted(v)]
                                                               for t, v in values.items()},
            "resolved": sum(r >= RESOLVED_PX for r in resolution), "unaligned": unaligned,
            "unaligned_resolved": unaligned_resolved, "samples": len(resolution) + unaligned}


def _fits(values: dict[str, list[float]], resolution: list[float], cfg: CalibrationConfig) -> dict:
    """{"sharp" | "coarse": {channel: channel_fit}} of the aligned renders' `values` and stroke `resolution`."""
    # prints whose strokes are a pixel or two wide vary far more than resolved ones: one threshold for all sizes
    # would be loose enough for the smallest and miss clear counterfeits on large prints (and vice versa)
    resolved = [i for i, r in enumerate(resolution) if r >= RESOLVED_PX]
    sharp = {t: [v[i] for i in resolved] for t, v in values.items()} if len(resolved) >= cfg.min_resolved else values
    return {"sharp": {t: channel_fit(t, v, cfg) for t, v in sharp.items()},
            "coarse": {t: channel_fit(t, v, cfg) for t, v in values.items()}}


def _decided(fits: dict, cfg: CalibrationConfig) -> bool:
    """Every channel's threshold (sharp and coarse) is the floor, with its fitted tail under `cfg.decided` of it, at
    the false-flag rate calibrated for or at 1% if that is stricter (a scan's --false-flag-rate 0.01 applies the same
    calibration)."""
    rate = min(cfg.false_flag_rate, 0.01) / len(TERMS)
    return all(f is None or tail_quantile(f, rate) <= cfg.decided * cfg.floor
               for channels in fits.values() for f in channels.values())


def channel_threshold(channel: str, values: list[float], cfg: CalibrationConfig = CalibrationConfig()) -> float:
    """A channel's threshold from a brand's genuine values: the fitted tail (channel_fit) at the channel's share
    of the false-flag rate, never below cfg.floor."""
    return fit_thresholds({channel: channel_fit(channel, values, cfg)}, cfg.false_flag_rate, cfg.floor)[channel]


def channel_fit(channel: str, values: list[float], cfg: CalibrationConfig = CalibrationConfig()
                ) -> tuple[float, float] | None:
    """The tail (tail_fit) of a channel's genuine values; None for fewer than 2 values (the floor applies)."""
    if len(values) < 2:
        return None
    # OCR's misreads of genuine renders are the wordmark's own variation, not misalignment: trimming them away left
    # brands whose genuine prints read a letter off in 1 render of 10 flagged on every such misread
    return tail_fit(values, 0.0 if channel == "wordmark" else cfg.trim)


def fit_thresholds(fits: dict[str, tuple[float, float] | None], false_flag_rate: float, floor: float
                   ) -> dict[str, float]:
    """{channel: threshold} from {channel: channel_fit}: each channel's tail at its share of `false_flag_rate` (the
    union bound over TERMS), never below `floor`."""
    rate = false_flag_rate / len(TERMS)
    return {t: floor if f is None else max(floor, tail_quantile(f, rate)) for t, f in fits.items()}


def tail_threshold(scores: list[float], false_flag_rate: float, trim: float = 0.0) -> float:
    """The (1 - false_flag_rate) quantile of the tail fitted to `scores` (tail_fit)."""
    return tail_quantile(tail_fit(scores, trim), false_flag_rate)


def tail_quantile(fit: tuple[float, float], false_flag_rate: float) -> float:
    """The (1 - false_flag_rate) quantile of score under a tail_fit (mean, sd)."""
    mean, sd = fit
    return float(np.expm1(mean + NormalDist().inv_cdf(1.0 - false_flag_rate) * sd))


def tail_fit(scores: list[float], trim: float = 0.0) -> tuple[float, float]:
    """(mean, sd) of a log-normal fitted to 1 + score: a few dozen samples cannot show a 2% tail directly, and their
    maximum swings with one odd render; a fitted tail is steadier. `trim`: share of the largest scores left out of
    the fit (gross misalignments, which say nothing of a print's genuine variation)."""
    norm = NormalDist()
    logs = np.sort(np.log1p(np.asarray(scores, np.float64)))
    cut = int(trim * len(logs))
    logs = logs[:len(logs) - cut]
    if len(logs) < 2:
        return float(logs[0]), 0.0
    mean, sd = logs.mean(), logs.std(ddof=1)
    if cut:  # the kept values are a normal cut off at its upper `kept` quantile: undo the cut's shrinking of the
        # mean and spread, or the fitted tail sits far inside the real one (a 0.2% quantile becomes a 1.3% one)
        kept = len(logs) / (len(logs) + cut)
        c = norm.inv_cdf(kept)
        lam = norm.pdf(c) / kept
        sd = sd / np.sqrt(max(1.0 - c * lam - lam * lam, 1e-6))
        mean = mean + lam * sd
    return float(mean), float(sd)


def load_thresholds(gallery: Gallery) -> dict:
    path = gallery.root / ".index" / CALIBRATION
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the divergence channel table (verdict.CHANNELS) and of VERIFICATION_CODE's modules (code_hash):
    what a stored calibration's values depend on besides the brand and the settings."""
    sources = (importlib.util.find_spec(f"{__package__}.{m}").loader.get_source(f"{__package__}.{m}")
               for m in VERIFICATION_CODE)
    return hashlib.sha256((repr(CHANNELS) + "".join(map(code_hash, sources))).encode()).hexdigest()[:16]


def code_hash(source: str) -> str:
    """Hash of Python source as its syntax tree without docstrings: comments, docstrings and layout change no
    value a calibration stores."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def calibration_key(brand, cfg: CalibrationConfig) -> str:
    """What a stored calibration was computed from: the brand's logo hashes, its wordmark and colours, the code
    (code_version) and the settings."""
    logos = sorted(r.sha256[:16] for r in brand.references if r.kind == "logo")
    registered = f"{brand.wordmark or ''}|{','.join(brand.colors)}"  # both enter the divergence score
    settings = (f"{cfg.samples}-{cfg.min_samples}-{cfg.enough}/{cfg.seed}/{cfg.min_resolved}/{cfg.trim}/"
                f"{cfg.window}/{cfg.decided_at}-{cfg.decided}")  # not the rate: thresholds_at applies it
    return "+".join(logos) + f"|{registered}@{code_version()}/{settings}"


def _fresh(entry: dict | None, brand, cfg: CalibrationConfig) -> bool:
    return entry is not None and entry.get("key") == calibration_key(brand, cfg)


def stored_thresholds(gallery: Gallery, stored: dict, cfg: CalibrationConfig) -> dict[str, dict[str, float]] | None:
    """{brand: {channel: threshold}} at cfg.false_flag_rate if `stored` (load_thresholds) is up to date for every
    brand of `gallery` with a logo, else None."""
    out = {}
    for brand in gallery.brands():
        if any(r.kind == "logo" for r in brand.references):
            entry = stored.get(brand.slug)
            if not _fresh(entry, brand, cfg):
                return None
            out[brand.slug] = thresholds_at(entry, cfg)
    return out


def thresholds_at(entry: dict, cfg: CalibrationConfig) -> dict[str, float]:
    """A brand's stored calibration `entry` -> {channel: threshold, "coarse:<channel>": threshold} at
    cfg.false_flag_rate: each the loosest of the brand's logo references' (for a fit whose reference is not known)."""
    per = [_at(r["fits"], cfg) for r in entry["per_reference"]]
    return {k: max(p[k] for p in per) for k in per[0]}


def reference_thresholds(stored: dict, brands: Iterable[str], cfg: CalibrationConfig) -> dict[str, dict[str, float]]:
    """{"brand/file": thresholds as thresholds_at gives them} for each logo reference of `brands` (slugs) in
    `stored` (load_thresholds), from that reference's own renders: a fit against one reference is judged by its
    variation alone. A lock-up's small-set wordmark varies far more than its emblem, and the brand's loosest
    thresholds let an emblem with a part moved pass as genuine."""
    out = {}
    for slug in brands:
        entry = stored.get(slug) or {}
        # per_reference is in the order of the brand's logo references, as "text" is keyed (calibrate_gallery)
        for file, result in zip(entry.get("text") or {}, entry.get("per_reference") or []):
            out[f"{slug}/{file}"] = _at(result["fits"], cfg)
    return out


def _at(fits: dict, cfg: CalibrationConfig) -> dict[str, float]:
    sharp, coarse = (fit_thresholds(fits[k], cfg.false_flag_rate, cfg.floor) for k in ("sharp", "coarse"))
    return sharp | {f"coarse:{t}": v for t, v in coarse.items()}


def align_rate(results: list[dict]) -> float | None:
    """Share of a brand's resolved genuine renders (strokes >= RESOLVED_PX photo pixels) that align convincingly,
    over its logo references' calibration `results`; None when it had none."""
    aligned = sum(r["resolved"] for r in results)
    total = aligned + sum(r["unaligned_resolved"] for r in results)
    return aligned / total if total else None


def stored_align_rates(stored: dict) -> dict[str, float]:
    """{brand: align_rate} from `stored` (load_thresholds; brands without one left out)."""
    return {slug: e["align_rate"] for slug, e in stored.items() if e.get("align_rate") is not None}


def stored_text(stored: dict) -> dict[str, list[TextLine]]:
    """{"brand/file": wordmark lines} read on each logo reference at calibration, from `stored` (load_thresholds;
    the OCR of a reference costs about a second: worth reading once, not in every process)."""
    out = {}
    for slug, entry in stored.items():
        for file, lines in (entry.get("text") or {}).items():
            out[f"{slug}/{file}"] = [TextLine((int(a), int(b), int(c), int(d)), str(t)) for a, b, c, d, t in lines]
    return out


def refuse_in_worker_start() -> None:
    """Calibration's worker processes start by importing the caller's main module. A script that opens a context at
    its top level (no `if __name__ == "__main__":`) would calibrate again in each of them and wait forever for the
    gallery lock that its parent holds: raise instead, so the pool breaks and the parent calibrates alone (_map)."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):  # what multiprocessing's own check reads
        raise GalleryError("a calibration worker process is importing the main module, which calibrates again: "
                           "guard the script's top-level code with `if __name__ == '__main__':`")


def calibrate_gallery(gallery: Gallery, cfg: CalibrationConfig = CalibrationConfig(),
                      align_cfg: AlignConfig | None = None, progress: Callable[[int, int, str], None] | None = None
                      ) -> dict[str, dict[str, float]]:
    """Bring <gallery>/.index/calibration.json up to date and return {brand: {channel: threshold}}. Stale brands
    (new, or whose logos, wordmark, colours or the scoring changed) are calibrated in
    parallel, one process per CPU (cfg.workers), and each is committed to calibration.json (atomically) as soon as
    its last reference is done: a run that is killed loses only the brands in flight, and the next run does only
    those left, ending with the calibration an uninterrupted run writes (every reference's renders are seeded).
    `progress(brands done, brands to do, slug just done)` hears each commit. Caller holds the lock."""
    stored = load_thresholds(gallery)
    brands = gallery.brands()
    gone = set(stored) - {b.slug for b in brands}
    for slug in gone:
        del stored[slug]
    stale = [b for b in brands
             if any(r.kind == "logo" for r in b.references) and not _fresh(stored.get(b.slug), b, cfg)]
    path = gallery.root / ".index" / CALIBRATION
    if gone and not stale:
        atomic_write_json(path, stored)
    logos = [(b, r) for b in stale for r in b.references if r.kind == "logo"]
    jobs = [(str(gallery.ref_path(b.slug, r)), cfg, align_cfg or AlignConfig(), b.wordmark, tuple(b.colors))
            for b, r in logos]
    left = Counter(b.slug for b, _ in logos)
    results: dict[str, dict[str, dict]] = {b.slug: {} for b in stale}
    by_slug = {b.slug: b for b in stale}
    done = 0
    if progress is not None and stale:
        progress(0, len(stale), "")
    for (brand, ref), result in zip(logos, _map(_calibrate_job, jobs, cfg.workers)):
        results[brand.slug][ref.file] = result
        left[brand.slug] -= 1
        if left[brand.slug]:
            continue
        b = by_slug[brand.slug]
        per = [results[b.slug][r.file] for r in b.references if r.kind == "logo"]
        stored[b.slug] = {"key": calibration_key(b, cfg), "unaligned": sum(r["unaligned"] for r in per),
                          "align_rate": align_rate(per), "per_reference": [_without_text(r) for r in per],
                          # every reference's lines, none included: a check then never reads a reference again
                          "text": {r.file: results[b.slug][r.file]["text"] for r in b.references if r.kind == "logo"}}
        atomic_write_json(path, stored)  # this brand is done, whatever happens to the others
        done += 1
        logger.info("calibrated %s (%d of %d): %s", b.slug, done, len(stale),
                    {t: round(v, 2) for t, v in thresholds_at(stored[b.slug], cfg).items()})
        if progress is not None:
            progress(done, len(stale), b.slug)
    return {b.slug: thresholds_at(stored[b.slug], cfg) for b in brands if b.slug in stored}


def _without_text(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "text"}


def _calibrate_job(args: tuple) -> dict:
    """One logo reference: calibrate_brand, and its wordmark lines read by OCR (about a second; only for brands
    with a wordmark), as [[x0, y0, x1, y1, text], ...]."""
    path, cfg, align_cfg, wordmark, colors = args
    rgba = load_image(path, keep_alpha=True)
    ink = ink_from_rgba(rgba, align_cfg.work_side)  # as Context.reference_ink makes it
    lines = reference_lines(ink, wordmark)
    result = calibrate_brand(ink, rgba, cfg, align_cfg, lines, colors)
    result["text"] = [[*line.box, line.text] for line in lines]
    return result


def _one_thread() -> None:
    """A calibration worker's setup: one OpenCV and one OCR thread. Each would otherwise use every core, and two
    workers on two cores ran 1.4 times slower (benchmarks/HISTORY.md); the values are the same."""
    import cv2

    cv2.setNumThreads(1)
    use_threads(1)


def _map(fn, items: list, workers: int) -> Iterator:
    """fn over items, in `workers` processes (0: one per CPU) when there is more than one item; order kept, each
    result yielded as soon as it is ready. Results are the same as in one process: every item carries its own
    seeded generator."""
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(items) <= 1:
        yield from (fn(x) for x in items)
        return
    # spawn, not fork: the parent holds onnxruntime and FAISS thread pools that a fork would copy mid-flight
    n = 0
    try:
        with ProcessPoolExecutor(min(workers, len(items)), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_one_thread) as pool:
            for result in pool.map(fn, items):  # in order, each as soon as it and those before it are done
                yield result
                n += 1
    except BrokenProcessPool:  # a __main__ that child processes cannot import (code piped to python -), or one
        # that calibrates at import (refuse_in_worker_start)
        logger.warning("worker processes unavailable (a script's top-level code without `if __name__ == "
                       "'__main__':`?); calibrating in this process")
        yield from (fn(x) for x in items[n:])
