"""Stage: decide the verdict, risk and reasons from the brand hypotheses.

Similarity-only for now: the verification stages (alignment, geometry, detail, wordmark, colour) plug in here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .match import BrandHit
from .record import Candidate, CheckRecord


@dataclass(frozen=True)
class VerdictConfig:
    match_threshold: float = 0.72  # similarity at or above which the brand counts as matched
    no_match_threshold: float = 0.66  # below this nothing registered is in the photo
    min_margin: float = 0.03  # best brand must beat the runner-up by this much to be unambiguous
    top_candidates: int = 5


def decide(path: str, hits: list[BrandHit], brand_names: dict[str, str],
           cfg: VerdictConfig = VerdictConfig()) -> CheckRecord:
    """hits best first (from match.match_brands) -> the verdict record (seconds left unset)."""
    cands = [Candidate(h.brand, h.similarity, f"{h.brand}/{h.entry.file}") for h in hits[:cfg.top_candidates]]
    if not hits or hits[0].similarity < cfg.no_match_threshold:
        best = f" (closest: {hits[0].brand}, similarity {hits[0].similarity:.2f})" if hits else ""
        return CheckRecord(path=path, verdict="no_match", risk=0.0,
                           similarity=hits[0].similarity if hits else None, candidates=cands,
                           reasons=[f"no registered brand found in the photo{best}"])
    top = hits[0]
    margin = top.similarity - (hits[1].similarity if len(hits) > 1 else cfg.no_match_threshold)
    name = brand_names.get(top.brand, top.brand)
    span = cfg.match_threshold - cfg.no_match_threshold
    risk = min(1.0, max(0.0, (cfg.match_threshold + 0.1 - top.similarity) / (span + 0.1)))
    rec = CheckRecord(path=path, verdict="consistent", brand=top.brand, brand_name=name, risk=risk,
                      similarity=top.similarity, reference=f"{top.brand}/{top.entry.file}", box=list(top.box),
                      candidates=cands)
    if top.similarity < cfg.match_threshold:
        rec.verdict = "suspect"
        rec.reasons.append(f"looks like {name} but differs from its references "
                           f"(similarity {top.similarity:.2f} < {cfg.match_threshold:.2f})")
    elif margin < cfg.min_margin:
        rec.verdict = "suspect"
        rec.reasons.append(f"ambiguous: {name} and {hits[1].brand} match almost equally "
                           f"({top.similarity:.2f} vs {hits[1].similarity:.2f})")
    else:
        rec.reasons.append(f"matches {name} (similarity {top.similarity:.2f} to {rec.reference})")
    rec.reasons.append("logo geometry and detail were not verified (similarity only)")
    return rec
