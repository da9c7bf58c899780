from dataclasses import replace

import numpy as np
import pytest

from vision.align import Alignment
from vision.detail import Detail
from vision.geometry import Geometry
from vision.index import Entry
from vision.match import BrandHit
from vision.record import COLUMNS, CheckRecord, row_to_csv
from vision.verdict import (
    LOOKS_LIKE_RISK,
    RESOLVED_PX,
    VerdictConfig,
    decide,
    divergence_score,
    divergence_terms,
    score_to_risk,
    unverified_risk,
)
from vision.verify import Evidence
from vision.wordmark import Reading

CFG = VerdictConfig()


def hit(brand, sim):
    box = (1, 2, 30, 40)
    return BrandHit(brand, sim, Entry(brand, "logos/a.png", "logo", "0" * 64, "image"), box, 1, (box,))


def evidence(brand, quality=0.96, inliers=30, method="sift", shift=0.0, fit=1.0, blob=0.0, ink=1.0, mirror=0.0):
    if method == "none":
        return Evidence(brand, f"{brand}/logos/a.png", (1, 2, 30, 40),
                        Alignment(None, "none", 0, quality, 1, "too few matching features"))
    a = Alignment(np.eye(3), method, inliers, quality, 1)
    return Evidence(brand, f"{brand}/logos/a.png", (1, 2, 30, 40), a, Geometry((), shift, fit),
                    Detail(blob, blob, ink, np.zeros((4, 4), np.float32)), mirror, fidelity=quality)


def test_no_hits_or_nothing_verified_is_no_match():
    for hits in ([], [hit("nike", CFG.no_match_threshold - 0.01)]):
        r = decide("p.jpg", hits, {}, {}, CFG)
        assert r.verdict == "no_match" and r.brand is None and r.risk == 0.0 and r.reasons


def test_an_unverified_resemblance_carries_risk_up_to_looks_like():
    """No brand verified: risk rises with the closest brand's similarity, to the "looks like" risk at
    match_threshold, so it has no step there; the reasons say why."""
    lo, hi = CFG.no_match_threshold, CFG.match_threshold
    risks = [unverified_risk(s, CFG) for s in np.linspace(lo - 0.1, hi, 12)]
    assert risks[0] == 0.0 and all(a <= b for a, b in zip(risks, risks[1:])) and risks[-1] == LOOKS_LIKE_RISK
    near = decide("p.jpg", [hit("nike", hi - 0.01)], {"nike": evidence("nike", method="none")}, {"nike": "Nike"}, CFG)
    assert near.verdict == "no_match" and 0.45 < near.risk < LOOKS_LIKE_RISK
    assert near.reasons[1].startswith(f"risk {near.risk:.2f}: it resembles Nike")
    above = decide("p.jpg", [hit("nike", hi)], {"nike": evidence("nike", method="none")}, {}, CFG)
    assert above.verdict == "unverified" and above.risk == LOOKS_LIKE_RISK


def test_confirmed_and_clean_is_consistent():
    r = decide("p.jpg", [hit("nike", 0.8), hit("puma", 0.7)], {"nike": evidence("nike")}, {"nike": "Nike"}, CFG)
    assert r.verdict == "consistent" and r.brand == "nike" and r.brand_name == "Nike" and r.risk < 0.5
    assert r.reference == "nike/logos/a.png" and r.alignment["aligned"] and r.alignment["method"] == "sift"
    assert [c.brand for c in r.candidates] == ["nike", "puma"]


def test_verification_beats_similarity_for_the_brand():
    ev = {"nike": evidence("nike", method="none"), "puma": evidence("puma", quality=0.99, inliers=20)}
    r = decide("p.jpg", [hit("nike", 0.8), hit("puma", 0.7)], ev, {}, CFG)
    assert r.brand == "puma" and r.verdict == "consistent"


def test_each_divergence_gives_suspect_with_its_reason():
    cases = {"displaced": dict(shift=0.08), "shape, size or angle": dict(fit=0.4), "differs from the reference":
             dict(blob=0.1), "thicker": dict(ink=1.5), "thinner": dict(ink=0.6),
             "mirrored": dict(quality=0.9, mirror=0.99),
             "overlaps its aligned reference only": dict(quality=0.82)}
    for words, kw in cases.items():
        r = decide("p.jpg", [hit("nike", 0.8)], {"nike": evidence("nike", **kw)}, {}, CFG)
        assert r.verdict == "suspect" and r.risk > 0.5, (words, r)
        assert any(words in reason for reason in r.reasons), (words, r.reasons)


def test_unaligned_lookalike_is_unverified_and_says_so():
    """A logo that looks like a brand but cannot be compared with its reference (a 3-D or chromed badge, an older
    version, or an alteration past aligning) is no evidence either way: `unverified`, out of the suspect queue,
    with its risk and the reason. So is an outline's partial fit: it cannot tell an altered mark from a genuine one
    that the photo shows unlike its drawing; unless OCR reads its wordmark differently at the fit. A partial fit of
    matching features is judged."""
    r = decide("p.jpg", [hit("nike", 0.8)], {"nike": evidence("nike", method="none", quality=0.3)}, {}, CFG)
    assert r.verdict == "unverified" and "could not be aligned" in r.reasons[0] and r.risk == 0.5
    assert r.alignment["aligned"] is False and r.brand == "nike"
    blob = {"nike": replace(evidence("nike", quality=0.6, inliers=0, method="shape"), trivial_quality=0.7)}
    r = decide("p.jpg", [hit("nike", 0.9)], blob, {}, CFG)  # aligned, but no better than a plain blob would
    assert r.verdict == "unverified" and r.risk == 0.5 and "no more than a plain shape" in r.reasons[0]
    partial = {"nike": evidence("nike", quality=0.65, inliers=3, method="shape")}
    r = decide("p.jpg", [hit("nike", 0.65)], partial, {}, CFG)
    assert r.verdict == "unverified" and "resembles" in r.reasons[0] and "not judged" in r.reasons[0]
    assert r.risk > 0.5 and r.divergence["score"] >= 1  # measured all the same, and ranked by it
    features = {"nike": evidence("nike", quality=0.65, inliers=6, method="sift")}  # some of its own detail matched
    r = decide("p.jpg", [hit("nike", 0.65)], features, {}, CFG)
    assert r.verdict == "suspect" and "resembles" in r.reasons[0] and "not judged" not in r.reasons[0]
    misread = replace(partial["nike"], wordmark=Reading("NIKE", "NIKF", 0.95, 1))
    r = decide("p.jpg", [hit("nike", 0.65)], {"nike": misread}, {}, CFG)
    assert r.verdict == "suspect" and any("wordmark reads NIKF" in x for x in r.reasons), r.reasons


def test_a_loose_outline_fit_that_differs_only_as_a_whole_is_not_judged():
    """An outline fit (no matching features) whose own overlap is under confirm_quality, confirmed only by the
    tolerant comparison, that diverges only in its overall overlap (fidelity) is how a genuine 3-D or chromed logo
    fits its drawing: `unverified`, its risk kept. A tight outline fit, a loose fit of matching features, or a loose
    fit with a specific divergence (a part moved) is judged."""
    loose = replace(evidence("puma", quality=0.73, inliers=0, method="shape"), fidelity=0.9)
    r = decide("p.jpg", [hit("puma", 0.86)], {"puma": loose}, {}, CFG)
    assert r.verdict == "unverified" and r.brand == "puma" and "fits only loosely (overlap 73%" in r.reasons[0]
    assert r.risk > 0.5 and r.divergence["score"] >= 1 and "overlaps its aligned reference only 90%" in r.reasons[1]
    tight = replace(loose, alignment=replace(loose.alignment, quality=CFG.confirm_quality))
    features = replace(loose, alignment=replace(loose.alignment, method="sift", inliers=CFG.confirm_inliers))
    moved = replace(loose, geometry=replace(loose.geometry, max_shift=0.08))
    for ev in (tight, features, moved):
        r = decide("p.jpg", [hit("puma", 0.86)], {"puma": ev}, {}, CFG)
        assert r.verdict == "suspect" and any("overlaps its aligned reference only 90%" in x for x in r.reasons)
    clean = replace(loose, fidelity=0.99)
    assert decide("p.jpg", [hit("puma", 0.86)], {"puma": clean}, {}, CFG).verdict == "consistent"


def test_an_unaligned_look_alike_is_suspect_when_its_mirror_image_aligns_or_its_text_reads():
    """What turns an unaligned look-alike into evidence: the mirrored reference aligning there (check.vet_mirror),
    or OCR reading the brand's text, or a close misspelling of it, where nothing aligned (check.read_closest)."""
    unaligned = evidence("nike", method="none", quality=0.3)
    for ev, words in ((replace(unaligned, mirrored_quality=0.9), "appears mirrored"),
                      (replace(unaligned, read_as="NIKF"), "text reads NIKF")):
        r = decide("p.jpg", [hit("nike", 0.8)], {"nike": ev}, {}, CFG)
        assert r.verdict == "suspect" and r.risk == 0.5 and any(words in x for x in r.reasons), r.reasons
    loose = replace(unaligned, mirrored_quality=CFG.mirror_quality - 0.05)
    assert decide("p.jpg", [hit("nike", 0.8)], {"nike": loose}, {}, CFG).verdict == "unverified"


def test_an_unaligned_print_too_fine_to_resolve_carries_less_risk():
    """Genuine prints whose strokes are about a photo pixel wide fail to align as well: still said, but the
    failure alone ranks below one at a resolved print."""
    fine = replace(evidence("astonmartin", method="none", quality=0.35), resolution=1.0)
    r = decide("p.jpg", [hit("astonmartin", 0.9)], {"astonmartin": fine}, {}, CFG)
    assert r.verdict == "unverified" and "could not be aligned" in r.reasons[0]
    assert r.risk == pytest.approx(LOOKS_LIKE_RISK / RESOLVED_PX) and "too fine to verify" in r.reasons[-1]
    resolved = {"astonmartin": replace(fine, resolution=RESOLVED_PX)}
    r = decide("p.jpg", [hit("astonmartin", 0.9)], resolved, {}, CFG)
    assert r.risk == LOOKS_LIKE_RISK and len(r.reasons) == 1


def test_an_unaligned_resolved_print_of_a_brand_that_always_aligns_carries_more_risk():
    """Risk of "looks like but could not be aligned" follows how often the brand's resolved genuine renders aligned
    in calibration: at most half of them, the failure says little (LOOKS_LIKE_RISK); all of them, 0.75. A print
    too fine to resolve keeps its lower risk whatever the rate."""
    resolved = replace(evidence("nike", method="none", quality=0.35), resolution=4.0)
    risk = lambda ev, rate: decide("p.jpg", [hit("nike", 0.9)], {"nike": ev}, {}, CFG, None, {"nike": rate})
    assert risk(resolved, 0.4).risk == LOOKS_LIKE_RISK
    r = risk(resolved, 0.9)
    assert r.verdict == "unverified" and r.risk == pytest.approx(0.7) and "90% of its genuine prints" in r.reasons[-1]
    assert risk(resolved, 1.0).risk == pytest.approx(0.75)
    assert risk(replace(resolved, resolution=1.0), 1.0).risk == pytest.approx(LOOKS_LIKE_RISK / RESOLVED_PX)


def test_a_partial_fit_to_a_far_less_similar_brand_does_not_outrank_an_unaligned_one():
    """A winged emblem too small to align (similarity 0.88) partly fits a swoosh (0.78): the record names the
    emblem's brand, unaligned, not a lookalike of the swoosh's."""
    ev = {"astonmartin": evidence("astonmartin", method="none", quality=0.35),
          "nike": evidence("nike", quality=0.65, inliers=0, method="shape")}
    r = decide("p.jpg", [hit("astonmartin", 0.88), hit("nike", 0.78)], ev, {}, CFG)
    assert r.brand == "astonmartin" and r.verdict == "unverified" and "could not be aligned" in r.reasons[0]
    r = decide("p.jpg", [hit("astonmartin", 0.88), hit("nike", 0.84)], ev, {}, CFG)  # close in similarity
    assert r.brand == "nike" and "resembles" in r.reasons[0]
    caption = dict(ev, astonmartin=replace(ev["astonmartin"], other_text="SALE"))  # the top one is only text
    assert decide("p.jpg", [hit("astonmartin", 0.88), hit("nike", 0.78)], caption, {}, CFG).brand == "nike"


def test_between_two_aligned_wordmarks_the_reading_decides():
    """Panasonic's print aligns with Toshiba's text block too (and a little better): OCR reads NASONIC there,
    another text altogether than TOSHIBA, so the record names Panasonic."""
    toshiba = replace(evidence("toshiba", quality=0.99), wordmark=Reading("TOSHIBA", "NASONIC", 0.9, 7))
    panasonic = replace(evidence("panasonic"), wordmark=Reading("PANASONIC", "PANASONIC", 0.9, 0))
    hits = [hit("toshiba", 0.91), hit("panasonic", 0.91)]
    r = decide("p.jpg", hits, {"toshiba": toshiba, "panasonic": panasonic}, {}, CFG)
    assert r.brand == "panasonic" and r.verdict == "consistent"
    lookalike = replace(toshiba, wordmark=Reading("TOSHIBA", "TOSHIRA", 0.9, 1))  # a misspelling is no other text
    r = decide("p.jpg", hits, {"toshiba": lookalike, "panasonic": panasonic}, {}, CFG)
    assert r.brand == "toshiba" and r.verdict == "suspect"
    r = decide("p.jpg", hits[:1], {"toshiba": toshiba}, {}, CFG)  # no better hypothesis: still judged, and flagged
    assert r.brand == "toshiba" and r.verdict == "suspect"


def test_a_wordmark_read_at_a_loose_fit_vouches_for_its_brand():
    """A Jeep wordmark with a letter changed fits its reference loosely, hardly better than the text block's hull
    would; Panasonic's wordmark fits the same text block about as loosely. OCR reads KEEP at the Jeep fit and
    nothing at Panasonic's: the record is a Jeep lookalike, not a Panasonic one."""
    jeep = replace(evidence("jeep", quality=0.68, inliers=0, method="shape"), trivial_quality=0.65,
                   wordmark=Reading("JEEP", "KEEP", 0.99, 1))
    panasonic = replace(evidence("panasonic", quality=0.65, inliers=0, method="shape"), trivial_quality=0.5,
                        wordmark=Reading("PANASONIC", "", 0.87, 9))
    hits = [hit("jeep", 0.84), hit("panasonic", 0.77)]
    r = decide("p.jpg", hits, {"jeep": jeep, "panasonic": panasonic}, {}, CFG)
    assert r.brand == "jeep" and r.verdict == "suspect" and "resembles" in r.reasons[0]
    other = replace(jeep, wordmark=Reading("JEEP", "BESTPRICE", 0.99, 9))  # other text vouches for nothing
    assert decide("p.jpg", hits, {"jeep": other, "panasonic": panasonic}, {}, CFG).brand == "panasonic"


def test_text_that_only_looks_like_a_wordmark_is_no_lookalike():
    caption = {"samsung": replace(evidence("samsung", method="none", quality=0.2), other_text="BESTPRICEWWW")}
    r = decide("p.jpg", [hit("samsung", 0.88), hit("nike", 0.5)], caption, {"samsung": "Samsung"}, CFG)
    # the caption's resemblance to Samsung counts for nothing: the risk is Nike's
    assert r.verdict == "no_match" and r.risk == unverified_risk(0.5, CFG) < 0.1
    assert r.reasons[-1].startswith("text reads BESTPRICEWWW")
    assert "wordmark of Samsung" in r.reasons[-1]
    r = decide("p.jpg", [hit("samsung", 0.88), hit("nike", 0.8)], caption, {}, CFG)  # the next hypothesis speaks
    assert r.verdict == "unverified" and r.brand == "nike" and "could not be aligned" in r.reasons[0]


def test_text_that_reads_another_registered_wordmark_looks_like_that_brand():
    """OCR reads ACER where the embedder saw Iveco's wordmark (a letter-swapped Acer print): Acer, below the
    "looks like" similarity and not aligned, is named on the strength of the reading."""
    ev = {"iveco": replace(evidence("iveco", method="none", quality=0.2), other_text="ACER"),
          "acer": replace(evidence("acer", method="none", quality=0.4), read_as="ACER")}
    hits = [hit("iveco", 0.88), hit("acer", CFG.match_threshold - 0.05)]
    r = decide("p.jpg", hits, ev, {"acer": "Acer"}, CFG)
    assert r.verdict == "suspect" and r.brand == "acer" and r.risk == LOOKS_LIKE_RISK
    assert r.reasons[0].startswith(f"looks like Acer (similarity {CFG.match_threshold - 0.05:.2f}, text reads ACER)")
    unread = dict(ev, acer=replace(ev["acer"], read_as=None))  # without the reading it is only a resemblance
    assert decide("p.jpg", hits, unread, {}, CFG).verdict == "no_match"


def test_per_brand_threshold_and_risk_map():
    ev = {"nike": evidence("nike", shift=0.03)}
    score, _ = divergence_score(ev["nike"])
    shift = next(v for n, v, _ in divergence_terms(ev["nike"]) if n == "part_shift")
    assert score == shift > 1.0  # the part shift is the strongest channel
    loose = decide("p.jpg", [hit("nike", 0.8)], ev, {}, CFG, {"nike": {"part_shift": shift * 2}})
    assert loose.verdict == "consistent" and abs(loose.risk - 1 / 3) < 1e-6
    assert decide("p.jpg", [hit("nike", 0.8)], ev, {}, CFG, {"nike": {"part_shift": shift / 2}}).verdict == "suspect"
    assert score_to_risk(1.0) == 0.5 and score_to_risk(0.0) == 0.0 and score_to_risk(9) > 0.85


def test_a_fit_is_judged_by_its_own_references_thresholds():
    """A brand registered from a lock-up has the lock-up's, the emblem's and the wordmark's thresholds; a fit
    against the emblem is judged by the emblem's, not by the loosest of the three."""
    ev = {"nike": evidence("nike", shift=0.03)}
    shift = next(v for n, v, _ in divergence_terms(ev["nike"]) if n == "part_shift")
    brand = {"nike": {"part_shift": shift * 2}}
    assert decide("p.jpg", [hit("nike", 0.8)], ev, {}, CFG, brand).verdict == "consistent"
    own = {"nike/logos/a.png": {"part_shift": shift / 2}, "nike/logos/b.png": {"part_shift": shift * 3}}
    assert decide("p.jpg", [hit("nike", 0.8)], ev, {}, CFG, brand, reference_thresholds=own).verdict == "suspect"
    other = {"nike/logos/b.png": {"part_shift": shift / 2}}  # another reference's: the brand's apply
    assert decide("p.jpg", [hit("nike", 0.8)], ev, {}, CFG, brand, reference_thresholds=other).verdict == "consistent"


def test_row_contract():
    row = decide("p.jpg", [hit("nike", 0.9)], {"nike": evidence("nike")}, {}, CFG).to_row()
    for k in ("path", "verdict", "brand", "risk", "similarity", "reference", "reasons", "error"):
        assert k in row
    assert 0.0 <= row["risk"] <= 1.0 and row["error"] is None
    flat = row_to_csv(row)
    assert list(flat) == list(COLUMNS) and isinstance(flat["reasons"], str)
    err = CheckRecord.error_row("x.jpg", "empty file (0 bytes)").to_row()
    assert err["verdict"] == "error" and err["error"] == "empty file (0 bytes)" and err["risk"] is None


def test_small_prints_are_judged_on_their_own_thresholds():
    """A brand's calibration has thresholds for resolved prints and looser ones for prints whose strokes are a pixel
    or two wide: the same divergence is suspect on a large print and within variation on a tiny one."""
    from vision.verdict import RESOLVED_PX, channel_thresholds

    thr = {"fidelity": 1.5, "coarse:fidelity": 4.0}
    ev = evidence("nike", quality=0.92)  # fidelity 0.92: 2.5 on the channel's scale
    large, small = replace(ev, resolution=RESOLVED_PX + 1), replace(ev, resolution=RESOLVED_PX - 1)
    assert channel_thresholds(thr, large)["fidelity"] == 1.5 and channel_thresholds(thr, small)["fidelity"] == 4.0
    assert channel_thresholds(thr, small)["region"] == 1.0  # a channel without a threshold: 1
    hits = [hit("nike", 0.9)]
    assert decide("p.jpg", hits, {"nike": large}, {}, CFG, {"nike": thr}).verdict == "suspect"
    assert decide("p.jpg", hits, {"nike": small}, {}, CFG, {"nike": thr}).verdict == "consistent"


def test_stroke_weight_is_judged_beyond_what_a_photo_pixel_can_move():
    """25% more ink is thicker strokes on a print whose strokes are 8 photo pixels wide, and within what blur and
    binarisation do to strokes 1.3 pixels wide (each edge placed to within EDGE_PX)."""
    from vision.verdict import EDGE_PX

    for ink, words in ((1.25, "thicker"), (0.78, "thinner")):
        ev = evidence("nike", ink=ink)
        wide, fine = replace(ev, resolution=8.0), replace(ev, resolution=1.3)
        assert abs(np.log(ink)) > 0.1 + 2 * EDGE_PX / 8.0 and abs(np.log(ink)) < 0.1 + 2 * EDGE_PX / 1.3
        r = decide("p.jpg", [hit("nike", 0.9)], {"nike": wide}, {}, CFG)
        assert r.verdict == "suspect" and any(words in reason for reason in r.reasons), r.reasons
        assert decide("p.jpg", [hit("nike", 0.9)], {"nike": fine}, {}, CFG).verdict == "consistent"


def test_a_logo_whose_rest_fits_without_a_piece_is_suspect_and_says_so():
    """A fit of the reference without one piece (align.align_without_a_piece) resembles the brand however little
    of the whole it overlaps, wins over a loose fit of another brand, and its reasons name the missing share."""
    rest = replace(evidence("dropbox", quality=0.45, method="shape", blob=0.3),
                   alignment=Alignment(np.eye(3), "rest", 0, 0.45, 1, missing=0.42))
    loose = replace(evidence("gitlab", quality=0.84, method="shape"), trivial_quality=0.8)  # resembled only
    r = decide("p.jpg", [hit("gitlab", 0.70), hit("dropbox", 0.69)], {"dropbox": rest, "gitlab": loose},
               {"dropbox": "Dropbox"}, CFG)
    assert r.verdict == "suspect" and r.brand == "dropbox" and r.risk > 0.9
    assert r.reasons[0] == "a part of the logo is missing (42% of its ink); the rest fits Dropbox's logo"
    assert r.alignment["method"] == "rest"


def test_a_brand_name_is_made_possessive_once():
    from vision.verdict import possessive

    assert possessive("Acme") == "Acme's" and possessive("McDonald's") == "McDonald's"
