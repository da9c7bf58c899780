"""The check pipeline: plain calls of the stages.

    load_image -> find_candidates -> embed -> match_brands -> verify_brand (top hypotheses) -> decide
      -> (no brand found) read_names: a registered brand's name written in the photo names it
    -> (still none) find_by_keypoints: a registered logo's local features, matched in one camera view, name it
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .align import AlignConfig, align_logo, grow_box, ink_from_rgba, mask_iou, mirrored
from .calibrate import (
    CalibrationConfig,
    calibrate_gallery,
    load_thresholds,
    reference_thresholds,
    refuse_in_worker_start,
    stored_align_rates,
    stored_text,
    stored_thresholds,
)
from .candidates import Box, CandidateConfig, find_candidates
from .codes import judge_codes, read_codes
from .embed import Embedder, embed, embed_windows, load_embedder
from .errors import AuthcheckError, GalleryError
from .gallery import Brand, Gallery, open_gallery
from .index import RefIndex, load_index, save_index, sync_index, verify_index
from .keypoints import (
    KeypointConfig,
    KeypointModel,
    RefFeatures,
    cached_reference_features,
    features,
    grey_of,
    match_hypothesis,
    match_logo,
)
from .load import LoadLimits, load_image
from .log import logger
from .match import BrandHit, match_brands
from .record import CheckRecord
from .reuse import ProductView, ReuseConfig, find_reuse, report_reuse, structure
from .verdict import VerdictConfig, confirmed, decide, named_by_features, named_by_text, overlap, reads_other_text
from .verify import Evidence, verify_brand
from .wordmark import (
    TextLine,
    expected_text,
    names_in,
    normalise,
    other_text,
    read_lines,
    read_text,
    reads_as,
    reference_lines,
    use_threads,
)

__all__ = ["NamesConfig", "CheckConfig", "Context", "open_context", "with_model_similarity", "check_image",
           "check_with_evidence", "embed_regions", "read_around", "vet_text", "vet_mirror", "read_closest",
           "read_names", "read_enlarged", "find_by_keypoints", "verify_hypotheses", "verify_read_brands",
           "verify_reading"]


@dataclass(frozen=True)
class NamesConfig:
    """Reading a registered brand's name in a photo where no logo was found (read_names)."""

    enabled: bool = True
    min_score: float = 0.7  # OCR confidence of a line that may name a brand
    around: tuple[float, ...] = (0.3, 1.5)  # the logo is looked for in the name's box grown by these fractions
    # per side: the name itself (a wordmark), then the name with a badge or emblem beside it
    read_side: int = 736  # a smaller photo is read enlarged to this longer side (the text detector's own limit):
    # small print in a 500 px photo is found there (real-dev tune split: 39 of 102 genuine photos named by their
    # text instead of 34, none wrongly) at twice the reading time, paid only by photos where no logo was found
    read_gain: float = 1.25  # ... when that enlarges it this much or more: 640 px listings read at 736 px lost the
    # names of 3 of 2 x 688 (benchmarks/onboarding.py, both galleries) and found none more


@dataclass(frozen=True)
class CheckConfig:
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    verdict: VerdictConfig = field(default_factory=VerdictConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    limits: LoadLimits = field(default_factory=LoadLimits)
    reuse: ReuseConfig = field(default_factory=ReuseConfig)
    names: NamesConfig = field(default_factory=NamesConfig)
    keypoints: KeypointConfig = field(default_factory=KeypointConfig)
    neighbours: int = 10


@dataclass
class Context:
    """What checking needs, loaded once: the gallery, its embedder and its index."""

    gallery: Gallery
    embedder: Embedder
    index: RefIndex
    brands: dict[str, Brand]
    config: CheckConfig = field(default_factory=CheckConfig)
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)  # brand -> channel -> threshold
    reference_thresholds: dict[str, dict[str, float]] = field(default_factory=dict)  # "brand/file" -> its own
    align_rates: dict[str, float] = field(default_factory=dict)  # brand -> share of resolved genuine renders aligned
    threads: int = 0  # onnxruntime threads of the models loaded on first use (0: onnxruntime's default)
    _keypoint_model: KeypointModel | None = field(default=None, repr=False)
    _features: dict[str, list[RefFeatures]] = field(default_factory=dict, repr=False)
    _inks: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _lines: dict[str, list[TextLine]] = field(default_factory=dict, repr=False)
    _products: dict[str, tuple] = field(default_factory=dict, repr=False)

    @property
    def brand_names(self) -> dict[str, str]:
        return {slug: b.name for slug, b in self.brands.items()}

    def reference_ink(self, brand: str, file: str) -> np.ndarray:
        """The reference logo's ink mask at the alignment's working size (cached)."""
        key = f"{brand}/{file}"
        if key not in self._inks:
            rgba = load_image(self.gallery.brand_dir(brand) / file, keep_alpha=True)
            self._inks[key] = ink_from_rgba(rgba, self.config.align.work_side)
        return self._inks[key]

    def reference_text(self, brand: str, file: str) -> list[TextLine]:
        """The reference logo's legible wordmark lines (cached; [] for brands without a wordmark)."""
        key = f"{brand}/{file}"
        if key not in self._lines:
            self._lines[key] = reference_lines(self.reference_ink(brand, file), self.brands[brand].wordmark)
        return self._lines[key]

    @property
    def keypoint_model(self) -> KeypointModel:
        """The local feature model, loaded on first use (only photos where no brand was found need it)."""
        if self._keypoint_model is None:
            self._keypoint_model = KeypointModel(threads=self.threads)
        return self._keypoint_model

    def reference_features(self, brand: str, file: str) -> list[RefFeatures]:
        """The logo reference's local features, drawn dark on light and light on dark (cached)."""
        key = f"{brand}/{file}"
        if key not in self._features:
            ref = next(r for r in self.brands[brand].references if r.file == file)
            self._features[key] = cached_reference_features(
                self.keypoint_model, self.gallery.root / ".index" / "keypoints", ref.sha256,
                lambda: load_image(self.gallery.brand_dir(brand) / file, keep_alpha=True), brand, file,
                self.config.keypoints)
        return self._features[key]

    def evidence_text(self, ev: Evidence) -> list[TextLine]:
        """reference_text of the reference that `ev` was verified against."""
        return self.reference_text(ev.brand, ev.reference.split("/", 1)[1])

    def parts_of(self, brand: str, file: str) -> list[str]:
        """The files of the parts (emblem, wordmark) registered from the lock-up reference `file` ([] for others)."""
        return [r.file for r in self.brands[brand].references if r.part_of == file and r.kind == "logo"]

    @property
    def brand_texts(self) -> dict[str, tuple[str, ...]]:
        """What each brand's name is written as: its registered wordmark and display name."""
        return {slug: tuple(dict.fromkeys(t for t in (b.wordmark, b.name) if t)) for slug, b in self.brands.items()}

    def brands_reading(self, text: str) -> list[str]:
        """Brands whose registered wordmark the normalised reading `text` is, or nearly is."""
        return [slug for slug, b in self.brands.items() if b.wordmark and reads_as(text, normalise(b.wordmark), 4, 0.8)]

    def product_view(self, path: str) -> ProductView:
        """A gallery product photo (gallery-relative path) as the reuse check compares it (cached)."""
        if path not in self._products:
            brand, file = path.split("/", 1)
            self._products[path] = structure(load_image(self.gallery.brand_dir(brand) / file), self.config.reuse.side)
        return self._products[path]


def open_context(gallery: str | os.PathLike | None = None, model: str | None = None, threads: int = 0,
                 config: CheckConfig = CheckConfig(),
                 progress: Callable[[int, int, str], None] | None = None) -> Context:
    """Load gallery, embedder and index. An index that lags behind the gallery (a reference added or removed
    since it was written) is brought up to date and saved; one built by another embedder is refused. Brands not
    yet calibrated are calibrated first (a check never uses a brand without its thresholds); `progress(brands
    done, brands to do, slug)` hears each (calibrate.calibrate_gallery)."""
    g = open_gallery(gallery, or_demo=True)
    embedder = load_embedder(model, threads=threads)
    use_threads(threads)  # the OCR models' onnxruntime pool, like the embedder's
    config = with_model_similarity(config, embedder)
    index = load_index(g, embedder)
    if index is None or verify_index(g, index):
        with g.locked():
            index = load_index(g, embedder)
            if index is None or verify_index(g, index):
                logger.warning("index of %s is missing or out of date; updating it", g.root)
                index = sync_index(g, embedder, index)
                save_index(index, g)
    if len(index) == 0:
        raise GalleryError(f"gallery {g.root} has no reference images; add some with `authcheck gallery add`")
    ctx = Context(g, embedder, index, {b.slug: b for b in g.brands()}, config, threads=threads)
    stored = load_thresholds(g)  # calibration.json, read once for thresholds, align rates and wordmark text
    thresholds = stored_thresholds(g, stored, config.calibration)
    if thresholds is None:  # a brand was added or its logos changed since calibration
        refuse_in_worker_start()
        with g.locked():
            logger.warning("calibrating divergence thresholds for new or changed brands (once per brand; each is "
                           "kept as it finishes)")
            thresholds = calibrate_gallery(g, config.calibration, config.align, progress)
        stored = load_thresholds(g)
    ctx.thresholds = thresholds
    ctx.reference_thresholds = reference_thresholds(stored, thresholds, config.calibration)
    ctx.align_rates = stored_align_rates(stored)
    ctx._lines.update(stored_text(stored))
    return ctx


def with_model_similarity(config: CheckConfig, embedder: Embedder) -> CheckConfig:
    """Similarity levels are a property of the embedder (each model has its own cosine scale): a manifest's
    `extra.similarity` sets them, unless the caller already moved them off the defaults."""
    levels = (embedder.manifest.extra or {}).get("similarity") or {}
    v, default = config.verdict, VerdictConfig()
    changes = {k: float(x) for k, x in levels.items() if getattr(v, k) == getattr(default, k)}
    return replace(config, verdict=replace(v, **changes)) if changes else config


def check_image(ctx: Context, image: str | os.PathLike | np.ndarray, path: str | None = None) -> CheckRecord:
    """Check one listing photo (a file path or an RGB uint8 array). Never raises for a bad image: returns an
    `error` record whose `error` says what is wrong."""
    return check_with_evidence(ctx, image, path)[0]


def check_with_evidence(ctx: Context, image: str | os.PathLike | np.ndarray, path: str | None = None
                        ) -> tuple[CheckRecord, np.ndarray | None, Evidence | None]:
    """check_image, also returning the decoded photo and the evidence of the brand the record names (or None),
    for pictures that explain the verdict."""
    t0 = time.perf_counter()
    label = path if path is not None else (str(image) if not isinstance(image, np.ndarray) else "<array>")
    rgb, chosen = None, None
    try:
        rgb = image if isinstance(image, np.ndarray) else load_image(Path(image), ctx.config.limits)
        boxes, vectors, whole, windows_from = embed_regions(ctx.embedder, rgb, ctx.config.candidates)
        hits = match_brands(ctx.index, vectors, boxes, ctx.config.neighbours, windows_from=windows_from)
        evidence = verify_hypotheses(ctx, rgb, hits)
        record = vet_mirror(ctx, rgb, hits, evidence, vet_text(ctx, rgb, hits, evidence,
                                                               _decide(ctx, label, hits, evidence)))
        record = read_names(ctx, rgb, hits, evidence, record)
        record = find_by_keypoints(ctx, rgb, hits, evidence, record)
        chosen = evidence.get(record.brand) if record.brand else None
        brand = ctx.brands.get(record.brand) if record.brand else None
        judge_codes(record, read_codes(rgb), brand.codes if brand else (), brand.name if brand else "")
        likely = dict.fromkeys([record.brand] + [h.brand for h in hits[:ctx.config.reuse.brands]])
        own = [f"{b}/{r.file}" for b in likely if b for r in ctx.brands[b].references if r.kind == "product"]
        report_reuse(record, find_reuse(ctx.index, whole, rgb, ctx.product_view, own, ctx.config.reuse),
                     ctx.brand_names)
    except AuthcheckError as e:
        record = CheckRecord.error_row(label, str(e))
    record.seconds = time.perf_counter() - t0
    return record, rgb, chosen


def embed_regions(embedder: Embedder, rgb: np.ndarray, cfg: CandidateConfig
                  ) -> tuple[list[Box], np.ndarray, np.ndarray, int | None]:
    """A photo's candidate boxes and their (N, dim) embeddings (grid windows pooled from one pass of the trunk when
    the embedder can), (2, dim): the whole photo's and its mirror's, for the reuse check, and the index of the
    first pooled window (None when there are none: every box was embedded as a crop)."""
    grid = embedder.manifest.grid is not None
    boxes = find_candidates(rgb, cfg, windows=not grid)
    vectors = embed(embedder, [rgb[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes] + [rgb[:, ::-1]])
    whole = vectors[[0, -1]]  # the first box is the whole photo
    vectors = vectors[:-1]
    if not grid:
        return boxes, vectors, whole, None
    short = min(rgb.shape[:2])
    windows, wv = embed_windows(embedder, rgb, [f * short for f in cfg.window_fracs])
    return boxes + windows, np.concatenate([vectors, wv]), whole, len(boxes)


TEXT_CONTEXT = 0.25  # fraction of a box's size per side that is read around it (read_around)


def read_around(rgb: np.ndarray, box: Box) -> str:
    """read_text of `box` grown by TEXT_CONTEXT: the box is often a grid window that cuts the text (an unregistered
    "bunq" read as BUN, too short to tell from a wordmark, and stayed "looks like Panasonic")."""
    x0, y0, x1, y1 = grow_box(box, TEXT_CONTEXT, rgb.shape)
    return read_text(rgb[y0:y1, x0:x1])


def vet_text(ctx: Context, rgb: np.ndarray, hits: list, evidence: dict[str, Evidence], record: CheckRecord
             ) -> CheckRecord:
    """A record that says "looks like <wordmark brand> but could not be aligned" is checked by reading the box: text
    unlike the wordmark (a caption, a seller's watermark) marks that evidence as other text and the verdict is
    decided again (changes `evidence`). Text that is another registered brand's wordmark makes that brand a
    hypothesis "read as" (verified in this box if it was not); a no_match is read too (read_closest). OCR runs only
    here: photos that align never pay, nor those whose closest verified brand has no wordmark."""
    # "looks like" records are the suspect or unverified ones that were not judged on divergence (unaligned, or no
    # better than a plain shape)
    while record.verdict in ("suspect", "unverified") and record.divergence is None and record.brand in evidence:
        ev = evidence[record.brand]
        if ev.read_as:
            break  # OCR named this brand
        lines = ctx.evidence_text(ev)
        read = read_around(rgb, ev.box) if lines else ""
        if not other_text(read, lines):
            break
        evidence[record.brand] = replace(ev, other_text=read)
        # a re-typeset LENOVO or a letter-swapped ACER read as what it imitates, where the embedder saw Toshiba
        # and Iveco: a counterfeit of the brand read is likelier than an unrelated caption
        for slug in verify_reading(ctx, rgb, hits, evidence, read, ev.box):
            if not evidence[slug].other_text:
                evidence[slug] = replace(evidence[slug], read_as=read)
        record = _decide(ctx, record.path, hits, evidence)
    return read_closest(ctx, rgb, hits, evidence, record) if record.verdict == "no_match" else record


SYMMETRIC = 0.8  # ink overlap of a reference with its mirror image from which it counts as mirror-symmetric


def vet_mirror(ctx: Context, rgb: np.ndarray, hits: list, evidence: dict[str, Evidence], record: CheckRecord
               ) -> CheckRecord:
    """An `unverified` record (it looks like a brand whose logo could not be aligned) is aligned once more with the
    brand's reference mirrored, in its box: a mirror image that fits well is evidence of a counterfeit, and the
    verdict is decided again (changes `evidence`). Only such records pay for it."""
    if record.verdict != "unverified" or record.brand not in evidence or evidence[record.brand].aligned:
        return record
    ev = evidence[record.brand]
    ink = ctx.reference_ink(ev.brand, ev.reference.split("/", 1)[1])
    if mask_iou(ink, mirrored(ink)) >= SYMMETRIC:  # its mirror image is itself: a fit of it proves nothing
        return record
    m = align_logo(rgb, ev.box, mirrored(ink), ctx.config.align, need=ctx.config.verdict.mirror_quality)
    if not m.ok:
        return record
    evidence[record.brand] = replace(ev, mirrored_quality=m.quality)
    return _decide(ctx, record.path, hits, evidence)


def read_closest(ctx: Context, rgb: np.ndarray, hits: list, evidence: dict[str, Evidence], record: CheckRecord
                 ) -> CheckRecord:
    """A no_match whose closest verified brand has a wordmark: OCR reads around its box, and the wordmark or a
    close misspelling of it (FLIA for FILA: a counterfeit that no longer aligns) makes it "looks like" that brand
    (`read_as`; changes `evidence`)."""
    h = next((h for h in hits if h.brand in evidence and not evidence[h.brand].other_text), None)
    if h is None:
        return record
    ev = evidence[h.brand]
    lines = ctx.evidence_text(ev)
    if not lines:
        return record
    read = read_around(rgb, ev.box)
    if not reads_as(read, expected_text(lines)):
        return record
    evidence[h.brand] = replace(ev, read_as=read)
    return _decide(ctx, record.path, hits, evidence)


def read_names(ctx: Context, rgb: np.ndarray, hits: list, evidence: dict[str, Evidence], record: CheckRecord
               ) -> CheckRecord:
    """A photo where no registered brand was found, or whose brand was not compared (`unverified`), is read whole:
    a registered brand's name written in it (its wordmark or display name, as ctx.brand_texts) names that brand,
    over a look-alike of another one. Its logo is then aligned around the name and in the brand's own candidate
    regions: a fit that confirms it is judged as any other (changes `hits`, `evidence`); otherwise the record is
    `unverified`: the brand is named, its logo was not compared. Real photos show a brand's name far more reliably
    than a logo that aligns with its drawing (a chromed, stitched or older mark); only those photos pay for the
    reading (about 0.35 s for a 500 px photo, read enlarged: read_enlarged)."""
    cfg = ctx.config.names
    if record.verdict not in ("no_match", "unverified") or not cfg.enabled or not ctx.brands:
        return record
    found = names_in(read_enlarged(rgb, cfg.min_score, cfg.read_side, cfg.read_gain), ctx.brand_texts)
    if not found or found[0][0] == record.brand:
        return record
    slug, line = found[0]
    near = [grow_box(line.box, f, rgb.shape) for f in cfg.around]
    hit = next((h for h in hits if h.brand == slug), None) or _hit_at(ctx, rgb, slug, near)
    if hit is None:  # no logo view of the brand to align: the name still counts
        return named_by_text(record, slug, ctx.brand_names.get(slug, slug), line, None, None)
    boxes = list(dict.fromkeys([*near, *hit.boxes]))
    ev = _verify(ctx, rgb, hit, boxes)
    judged = _judged_if_confirmed(ctx, record, hits, evidence, hit, ev,
                                  f"found by reading its name in the photo ({line.text!r})")
    return judged or named_by_text(record, slug, ctx.brand_names.get(slug, slug), line, hit, ev)


def find_by_keypoints(ctx: Context, rgb: np.ndarray, hits: list, evidence: dict[str, Evidence],
                      record: CheckRecord) -> CheckRecord:
    """A photo where no registered brand was found, by look or by name, is matched by local features
    (keypoints.match_logo) against the logo references of the embedder's closest brands (cfg.brands of them,
    every brand in a small gallery): a reference whose features agree with the photo's on one camera view, far
    ahead of every other brand's, names its brand. The best regions of the closest hypotheses are matched first
    (keypoints.match_hypothesis), then the whole photo. Its logo is then verified in the matched outline and the
    brand's own candidate regions: a fit that confirms it is judged as any other (changes `hits`, `evidence`);
    otherwise the record is `unverified`. A chromed badge or a logo small in a large scene rarely looks like its
    drawing to the embedder, while its corners sit where the drawing has them (about 0.2 s a 500 px photo)."""
    cfg = ctx.config.keypoints
    if record.verdict != "no_match" or not cfg.enabled or not ctx.brands:
        return record
    order = list(dict.fromkeys([h.brand for h in hits] + sorted(ctx.brands)))[:cfg.brands]
    own = {slug: [f for r in ctx.brands[slug].references if r.kind == "logo"
                  for f in ctx.reference_features(slug, r.file)] for slug in order}
    refs = [f for slug in order for f in own[slug]]
    found = None
    for h in hits[:cfg.regions]:
        # a logo small in a large photo gets few of the photo's points; in its candidate region, enlarged, it gets
        # them all (real-dev tune: 2 more logos named, none wrongly)
        x0, y0, x1, y1 = grow_box(h.box, cfg.region_grow, rgb.shape)
        grey, s = _grey_at(rgb[y0:y1, x0:x1], cfg.region_side)
        f = features(ctx.keypoint_model, grey, cfg.photo_points, cfg.detection_threshold)
        if (found := match_hypothesis(f, own.get(h.brand, []), refs, grey.shape, cfg)) is not None:
            break
    if found is None:
        x0 = y0 = 0
        grey, s = _grey_at(rgb, cfg.side)
        found = match_logo(features(ctx.keypoint_model, grey, cfg.photo_points, cfg.detection_threshold), refs,
                           grey.shape, cfg)
    if found is None:
        return record
    slug = found.brand
    bx0, by0, bx1, by1 = (int(round(v / s)) for v in found.box)
    box = (x0 + bx0, y0 + by0, x0 + max(bx1, bx0 + 1), y0 + max(by1, by0 + 1))
    lines = ctx.reference_text(slug, found.file)
    if lines and other_text(read_around(rgb, box), lines):
        return record  # legible text other than the wordmark: letters of one typeface match another word's
    hit = next((h for h in hits if h.brand == slug), None) or _hit_at(ctx, rgb, slug, [box])
    if hit is None:
        return record
    ev = _verify(ctx, rgb, hit, list(dict.fromkeys([box, *hit.boxes])))
    judged = _judged_if_confirmed(ctx, record, hits, evidence, hit, ev, f"found by matching its logo's local "
                                  f"features ({found.inliers} points agree on one view of it)")
    return judged or named_by_features(record, slug, ctx.brand_names.get(slug, slug), found.inliers,
                                       found.runner_up, box, hit, ev)


def _grey_at(rgb: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """XFeat's grey of an RGB image resized to `side` on its longer side -> (grey, scale)."""
    s = side / max(rgb.shape[:2])
    grey = grey_of(rgb)
    if abs(s - 1.0) > 0.01:
        grey = cv2.resize(grey, (max(1, round(rgb.shape[1] * s)), max(1, round(rgb.shape[0] * s))),
                          interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    return grey, s


def _judged_if_confirmed(ctx: Context, record: CheckRecord, hits: list, evidence: dict[str, Evidence], hit,
                         ev: Evidence, said: str) -> CheckRecord | None:
    """A brand found by other evidence (read_names, find_by_keypoints) whose fit `ev` confirms it: decided again
    with it among the hypotheses (changes `evidence`), the record returned with `said` among its reasons when it
    names that brand; None otherwise."""
    if not confirmed(ev, ctx.config.verdict, hit.similarity):
        return None
    evidence[hit.brand] = ev
    hits = [h for h in hits if h.brand != hit.brand] + [hit]
    judged = _decide(ctx, record.path, sorted(hits, key=lambda h: -h.similarity), evidence)
    if judged.brand != hit.brand:
        return None
    judged.reasons.append(said)
    return judged


def read_enlarged(rgb: np.ndarray, min_score: float, side: int, gain: float = 1.0) -> list[TextLine]:
    """read_lines of an RGB uint8 photo enlarged (bicubic) to `side` px on its longer side when that enlarges it by
    more than 1 and at least `gain`, else as it is; boxes in the photo's own pixels; [] if nothing is read."""
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale <= 1.0 or scale < gain:
        return read_lines(rgb, min_score)
    big = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    return [TextLine((int(x0 / scale), int(y0 / scale), min(w, int(np.ceil(x1 / scale))),
                      min(h, int(np.ceil(y1 / scale)))), line.text)
            for line in read_lines(big, min_score) for x0, y0, x1, y1 in [line.box]]


def _hit_at(ctx: Context, rgb: np.ndarray, slug: str, boxes: list[Box]) -> BrandHit | None:
    """The brand's hypothesis in `boxes`: its best logo view's similarity to their crops (None: no logo view)."""
    ids = np.array([i for i, e in ctx.index.entries.items() if e.brand == slug and e.kind == "logo"], np.int64)
    if not len(ids):
        return None
    vectors = embed(ctx.embedder, [rgb[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes])
    sims, found = ctx.index.search(vectors, 1, ids)
    best = int(np.argmax(sims[:, 0]))
    if found[best, 0] < 0:
        return None
    return BrandHit(slug, float(sims[best, 0]), ctx.index.entries[int(found[best, 0])], boxes[best], -1,
                    tuple(boxes))


def _decide(ctx: Context, path: str, hits: list, evidence: dict[str, Evidence]) -> CheckRecord:
    """verdict.decide with the context's brand names, verdict settings and calibration."""
    return decide(path, hits, evidence, ctx.brand_names, ctx.config.verdict, ctx.thresholds, ctx.align_rates,
                  ctx.reference_thresholds)


def verify_hypotheses(ctx: Context, rgb: np.ndarray, hits: list) -> dict[str, Evidence]:
    """Verify the top brand hypotheses that clear `verify_similarity` and stay within `verify_margin` of the best
    (in their best box only below `resemble_similarity`); stop early once one is confirmed with a clear lead, since
    the rest cannot win."""
    cfg = ctx.config.verdict
    out: dict[str, Evidence] = {}
    for h in hits[:cfg.verify_top]:
        if hits[0].similarity - h.similarity > cfg.verify_margin:
            break  # hits are best first: the rest are further still from the best brand
        if h.similarity < cfg.verify_similarity or h.entry.kind != "logo":
            continue
        # a weakly matched brand counts only if it aligns near-perfectly, which its best box shows: its weaker
        # boxes cost photos without a logo a third of their time, for 1 counterfeit in 429 of the accuracy benchmark
        boxes = list(h.boxes) if h.similarity >= cfg.resemble_similarity else [h.box]
        out[h.brand] = ev = _verify(ctx, rgb, h, boxes)
        if _settled(ev, cfg, h.similarity):
            break
    verify_read_brands(ctx, rgb, hits, out)
    return out


def verify_read_brands(ctx: Context, rgb: np.ndarray, hits: list, evidence: dict[str, Evidence]) -> None:
    """A wordmark hypothesis can read another registered wordmark at its fit (ZARA where FILA was aligned): that
    brand is verified too (added to `evidence`), in the box where it was read, however far down the embedding
    ranked it among `hits`."""
    for ev in list(evidence.values()):
        if reads_other_text(ev):
            verify_reading(ctx, rgb, hits, evidence, ev.wordmark.read, ev.box)


def verify_reading(ctx: Context, rgb: np.ndarray, hits: list, evidence: dict[str, Evidence], read: str,
                   box: Box) -> list[str]:
    """The brands among `hits` whose registered wordmark the reading `read` is, each verified (in `box` first, then
    its own boxes) unless `evidence` already holds it (changes `evidence`)."""
    hit = {h.brand: h for h in hits}
    slugs = [slug for slug in ctx.brands_reading(read) if slug in hit]
    for slug in slugs:
        if slug not in evidence:
            evidence[slug] = _verify(ctx, rgb, hit[slug], [box, *hit[slug].boxes])
    return slugs


def _verify(ctx: Context, rgb: np.ndarray, h, boxes: list) -> Evidence:
    """verify_brand of the hit's reference in `boxes`. A lock-up (emblem and wordmark) that does not fit settled is
    tried as its parts too, and the best fit kept: a product that prints the emblem alone fits only half of the
    lock-up, and was judged on that half ("a logo part displaced by 20%", counterfeit or not)."""
    ev = _verify_reference(ctx, rgb, h.brand, h.entry.file, boxes)
    if not _settled(ev, ctx.config.verdict, h.similarity):
        for file in ctx.parts_of(h.brand, h.entry.file):
            part = _verify_reference(ctx, rgb, h.brand, file, boxes)
            if _fit_rank(part, ctx.config.verdict, h.similarity) > _fit_rank(ev, ctx.config.verdict, h.similarity):
                ev = part
    return ev


def _verify_reference(ctx: Context, rgb: np.ndarray, brand: str, file: str, boxes: list) -> Evidence:
    return verify_brand(rgb, boxes, brand, f"{brand}/{file}", ctx.reference_ink(brand, file), ctx.config.align,
                        ctx.reference_text(brand, file), ctx.brands[brand].colors)


SETTLED = 0.9  # overlap of a confirmed fit from which no other box or reference is tried


def _settled(ev: Evidence, cfg: VerdictConfig, similarity: float) -> bool:
    return confirmed(ev, cfg, similarity) and ev.alignment.quality >= SETTLED


def _fit_rank(ev: Evidence, cfg: VerdictConfig, similarity: float) -> tuple[bool, float]:
    return confirmed(ev, cfg, similarity), overlap(ev) if ev.aligned else 0.0
