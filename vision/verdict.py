"""Stage: decide the verdict, risk and reasons from the brand hypotheses and their verification evidence.

A brand is *confirmed* when its reference logo aligns onto the listing convincingly (enough SIFT inliers, or a
high ink overlap). A confirmed brand's divergence score (geometry + detail) against its threshold gives
consistent / suspect. A brand that is only *resembled* (similar embedding, partial overlap) is suspect: a lookalike.
A brand that looks similar but cannot be aligned is suspect with that said, never silently consistent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .match import BrandHit
from .record import Candidate, CheckRecord
from .verify import Evidence


@dataclass(frozen=True)
class VerdictConfig:
    no_match_threshold: float = 0.45  # embedding similarity below which a brand is not even verified
    match_threshold: float = 0.72  # similarity at which an unaligned brand is still called "looks like"
    verify_top: int = 5  # brand hypotheses that get verified
    confirm_inliers: int = 12  # SIFT inliers that confirm a brand
    confirm_quality: float = 0.80  # ink overlap that confirms a brand ...
    confirm_specificity: float = 0.5  # ... when it is also this far above what a plain blob would reach
    resemble_quality: float = 0.55  # ink overlap at which a brand is resembled (lookalike territory) ...
    resemble_specificity: float = 0.3
    resemble_similarity: float = 0.6  # ... and the embedding agrees this much
    divergence_threshold: float = 1.0  # divergence score at which a confirmed brand becomes suspect
    top_candidates: int = 5


def confirmed(ev: Evidence, cfg: VerdictConfig) -> bool:
    a = ev.alignment
    return a.ok and ((a.method == "sift" and a.inliers >= cfg.confirm_inliers and a.quality >= cfg.resemble_quality)
                     or (a.quality >= cfg.confirm_quality and ev.specificity >= cfg.confirm_specificity))


def divergence_score(ev: Evidence) -> tuple[float, list[str]]:
    """Geometry and detail evidence -> (score, reasons). 0 = indistinguishable from the reference; each term is
    scaled so that 1 is well outside what photography did to genuine logos in the benchmark's measurements."""
    a, g, d = ev.alignment, ev.geometry, ev.detail
    terms: list[tuple[float, str]] = [
        (max(0.0, 0.9 - ev.fidelity) / 0.06, f"logo overlaps its aligned reference only {ev.fidelity:.0%}"),
        (max(0.0, g.max_shift - 0.012) / 0.012, f"logo part displaced by {g.max_shift:.0%} of the logo's size"),
        (max(0.0, 0.85 - g.worst_fit) / 0.12, f"a logo part differs in shape, size or angle (fits {g.worst_fit:.0%})"),
        (max(0.0, d.blob_frac - 0.012) / 0.02, f"a region of {d.blob_frac:.0%} of the logo's area differs from the reference"),
        (max(0.0, abs(math.log(max(d.ink_ratio, 1e-3))) - 0.12) / 0.1,
         f"strokes {abs(d.ink_ratio - 1):.0%} {'thicker' if d.ink_ratio > 1 else 'thinner'} than the reference"),
        (max(0.0, ev.mirrored_quality - a.quality - 0.02) / 0.05, "logo appears mirrored"),
    ]
    score = sum(t for t, _ in terms)
    reasons = [r for t, r in sorted(terms, key=lambda x: -x[0]) if t >= 0.5]
    return score, reasons


def decide(path: str, hits: list[BrandHit], evidence: dict[str, Evidence], brand_names: dict[str, str],
           cfg: VerdictConfig = VerdictConfig(), thresholds: dict[str, float] | None = None) -> CheckRecord:
    """hits best first (match.match_brands), evidence per verified brand (verify.verify_brand) -> the record.
    `thresholds` are per-brand divergence thresholds from calibration (default: cfg.divergence_threshold)."""
    cands = [Candidate(h.brand, h.similarity, f"{h.brand}/{h.entry.file}") for h in hits[:cfg.top_candidates]]
    sim = {h.brand: h for h in hits}
    ok = [ev for ev in evidence.values() if confirmed(ev, cfg)]
    if ok:
        ev = max(ok, key=lambda e: e.alignment.quality + sim[e.brand].similarity)
        return _judged(path, ev, sim[ev.brand], brand_names, cands, (thresholds or {}).get(
            ev.brand, cfg.divergence_threshold))
    # an altered logo still aligns, only worse: that is resemblance, not absence
    # (a plain blob also "aligns" with a blob-like logo: some specificity is always required)
    resembled = [ev for ev in evidence.values() if ev.aligned and ev.alignment.quality >= cfg.resemble_quality
                 and ev.specificity >= 0.2 and (ev.specificity >= cfg.resemble_specificity
                                                or sim[ev.brand].similarity >= cfg.resemble_similarity)]
    if resembled:
        ev = max(resembled, key=lambda e: e.alignment.quality)
        h = sim[ev.brand]
        name = brand_names.get(ev.brand, ev.brand)
        return _record(path, "suspect", h, ev, name, cands, 0.9,
                       [f"resembles {name} but does not match its logo (overlap {ev.alignment.quality:.0%}): "
                        f"a lookalike or a heavily altered mark"])
    top = hits[0] if hits else None
    if top is not None and top.similarity >= cfg.match_threshold:
        name = brand_names.get(top.brand, top.brand)
        note = evidence[top.brand].alignment.note if top.brand in evidence else "not verified"
        return _record(path, "suspect", top, evidence.get(top.brand), name, cands, 0.5,
                       [f"looks like {name} (similarity {top.similarity:.2f}) but the logo could not be aligned "
                        f"with its reference ({note}); geometry and detail were not checked"])
    closest = f" (closest: {top.brand}, similarity {top.similarity:.2f})" if top else ""
    return CheckRecord(path=path, verdict="no_match", risk=0.0, similarity=top.similarity if top else None,
                       candidates=cands, reasons=[f"no registered brand found in the photo{closest}"])


def _judged(path, ev: Evidence, hit: BrandHit, brand_names, cands, threshold: float) -> CheckRecord:
    name = brand_names.get(ev.brand, ev.brand)
    score, reasons = divergence_score(ev)
    risk = score_to_risk(score, threshold)
    a = ev.alignment
    how = f"{a.inliers} matching features" if a.method == "sift" else "shape alignment"
    if score >= threshold:
        rec = _record(path, "suspect", hit, ev, name, cands, risk,
                      reasons or [f"logo diverges from {name}'s reference (score {score:.2f} >= {threshold:.2f})"])
    else:
        rec = _record(path, "consistent", hit, ev, name, cands, risk,
                      [f"matches {name}: logo aligned with {ev.reference} ({how}, overlap {a.quality:.0%}), "
                       f"no divergence beyond photographic variation"])
    g, d = ev.geometry, ev.detail
    rec.divergence = {"score": round(score, 4), "fidelity": round(ev.fidelity, 4), "threshold": round(threshold, 4), "max_part_shift": round(g.max_shift, 4),
                      "worst_part_fit": round(g.worst_fit, 4), "diff_area": round(d.diff_frac, 4),
                      "largest_diff_region": round(d.blob_frac, 4), "ink_ratio": round(d.ink_ratio, 4),
                      "mirrored_overlap": round(ev.mirrored_quality, 4)}
    return rec


def score_to_risk(score: float, threshold: float) -> float:
    """Monotone map of a divergence score to 0..1 with 0.5 exactly at the brand's threshold."""
    return float(score / (score + threshold)) if threshold > 0 else 1.0


def _record(path, verdict, hit: BrandHit, ev: Evidence | None, name, cands, risk, reasons) -> CheckRecord:
    rec = CheckRecord(path=path, verdict=verdict, brand=hit.brand, brand_name=name, risk=risk,
                      similarity=hit.similarity, reference=ev.reference if ev else f"{hit.brand}/{hit.entry.file}",
                      box=list(ev.box if ev else hit.box), candidates=cands, reasons=list(reasons))
    if ev is not None:
        rec.alignment = {"aligned": ev.aligned, "method": ev.alignment.method, "quality": round(ev.alignment.quality, 4),
                         "inliers": ev.alignment.inliers}
        if ev.aligned:
            rec.alignment["homography"] = [[round(float(v), 6) for v in row] for row in ev.alignment.H]
    return rec
