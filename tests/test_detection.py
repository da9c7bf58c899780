"""The checker end to end on generated listings: every counterfeit family is flagged on a clear photo, genuine
photos of the same logos are not. Real embedder, real index, real alignment, OCR and calibration."""

import numpy as np
import pytest

from vision import synth
from vision.align import Alignment
from vision.check import check_image, open_context
from vision.match import BrandHit
from vision.train import forge
from vision.verify import Evidence

# a clear listing photo: the logo large and sharp, a modest tilt (the benchmark measures the hard cases)
CLEAR = synth.PhotoStyle(logo_frac=(0.45, 0.55), tilt=0.06, rotation=10.0, blur=(0.0, 0.4), noise=(0.0, 2.0),
                         jpeg=(90, 95), clutter=2)
# which registered logo each family is forged from: wordmark families need a wordmark; part families need a logo
# whose alignment survives the change (low-texture marks with a missing part are the known gap, see README)
BRAND_OF = {"part_moved": "samsung", "part_scaled": "puma", "part_rotated": "puma", "part_missing": "samsung",
            "letters_swapped": "samsung", "letter_substituted": "samsung", "retypeset": "samsung",
            "mirrored": "puma", "stroke_thicker": "samsung", "stroke_thinner": "puma", "local_warp": "samsung",
            "color_changed": "puma", "lookalike": "samsung"}


@pytest.fixture(scope="module")
def ctx(built_gallery):
    return open_context(built_gallery, threads=1)


def photo(rgba: np.ndarray, seed: int) -> np.ndarray:
    return synth.photograph(rgba, np.random.default_rng(seed), CLEAR).image


def paste(img: np.ndarray, rgba: np.ndarray, y: int, x: int) -> None:
    """Blend `rgba` onto the RGB `img` (in place), its top-left corner at (y, x)."""
    h, w = rgba.shape[:2]
    alpha = rgba[..., 3:4] / 255.0
    img[y:y + h, x:x + w] = alpha * rgba[..., :3] + (1 - alpha) * img[y:y + h, x:x + w]


def unaligned(c, brand: str, similarity: float, box) -> tuple[BrandHit, Evidence]:
    """`brand` matched at `similarity` in `box`, and its reference not aligned there: (hit, evidence)."""
    entry = next(e for e in c.index.entries.values() if e.brand == brand and e.kind == "logo")
    a = Alignment(None, "none", 0, 0.3, 1, "best alignment (shape) overlaps the reference only 30%")
    return BrandHit(brand, similarity, entry, box, 0, (box,)), Evidence(brand, f"{brand}/{entry.file}", box, a)


def test_every_family_is_covered():
    assert set(BRAND_OF) == set(forge.FAMILIES)


def clear_fake(logo: np.ndarray, family: str, wordmark: str | None) -> np.ndarray:
    """The first seed's counterfeit whose change is a clear share of the mark (>= 4% of its ink changed, or for
    colour, >= 4% of it recoloured): a random part can be one tiny letter, which no photo would show."""
    ink = logo[..., 3] > 127
    for seed in range(20):
        fake = forge.forge(logo, family, np.random.default_rng(seed), wordmark=wordmark)
        changed = (np.abs(fake[..., :3].astype(int) - logo[..., :3]).max(-1) > 60) & ink if family == "color_changed" \
            else (fake[..., 3] > 127) != ink
        if changed.sum() >= 0.04 * ink.sum():
            return fake
    raise AssertionError(f"no clear {family} counterfeit in 20 seeds")


@pytest.mark.parametrize("family", forge.FAMILIES)
def test_counterfeit_family_is_flagged(ctx, family):
    slug = BRAND_OF[family]
    fake = clear_fake(forge.pad_logo(synth.render_logo(slug, 256)), family, "SAMSUNG" if slug == "samsung" else None)
    rec = check_image(ctx, photo(fake, 11))
    assert rec.verdict == "suspect", (family, rec.to_row())
    assert rec.brand == slug and rec.risk >= 0.5 and rec.reasons


def test_genuine_photos_are_rarely_flagged(ctx):
    """Genuine photos are identified and pass; calibration targets 2% false flags, and a plain mark whose feature
    alignment fails can still be misaligned by the shape fallback, so one flag in 15 is tolerated, not more."""
    flagged = []
    for slug in ("samsung", "adidas", "puma", "starbucks", "nike"):
        logo = synth.render_logo(slug, 256)
        for seed in (21, 22, 23):
            rec = check_image(ctx, photo(logo, seed))
            assert rec.brand == slug and rec.verdict in ("consistent", "suspect"), rec.to_row()
            if rec.verdict == "suspect":
                flagged.append((slug, seed, rec.reasons))
    assert len(flagged) <= 1, flagged


def test_a_caption_is_no_lookalike_of_a_wordmark(ctx):
    """To the embedder a line of text resembles Samsung's wordmark ("looks like Samsung but could not be aligned");
    OCR reads the caption, and the photo is no_match with the reading in its reasons. Photos where the premise
    holds must exist among the seeds, or the test would prove nothing."""
    from vision.candidates import find_candidates
    from vision.check import verify_hypotheses
    from vision.embed import embed
    from vision.match import match_brands
    from vision.train.forge import render_text
    from vision.verdict import decide

    looked_like = 0
    for seed in range(6):
        img = synth.photograph(None, np.random.default_rng(seed), synth.PhotoStyle()).image.copy()
        paste(img, render_text("BEST PRICE shop-deals", 22, (250, 250, 250)), 300, 100)
        boxes = find_candidates(img, ctx.config.candidates)
        hits = match_brands(ctx.index, embed(ctx.embedder, [img[b[1]:b[3], b[0]:b[2]] for b in boxes]), boxes,
                            ctx.config.neighbours)
        unvetted = decide("x", hits, verify_hypotheses(ctx, img, hits), ctx.brand_names, ctx.config.verdict,
                          ctx.thresholds)
        looked_like += unvetted.verdict == "unverified" and unvetted.brand == "samsung"
        rec = check_image(ctx, img)
        assert not (rec.verdict in ("suspect", "unverified") and rec.brand == "samsung"), (seed, rec.reasons)
        if unvetted.brand == "samsung":
            reading = rec.reasons[-1].removeprefix("text reads ").split(":")[0]
            assert rec.verdict == "no_match" and reading and reading in "BESTPRICESHOPDEALS", (seed, rec.reasons)
    assert looked_like >= 1


def test_a_caption_cut_by_its_box_is_read_whole(ctx):
    """The box a "looks like" brand was last tried in is often a grid window that cuts the text there (an
    unregistered "bunq" read as BUN, too short to tell from a wordmark). vet_text reads around the box, so the whole
    caption is read and the photo is no_match."""
    from vision.check import _decide, vet_text
    from vision.train.forge import render_text

    img = np.full((480, 640, 3), (70, 90, 160), np.uint8)
    text = render_text("CHEAP DEALS", 30, (250, 250, 250))
    h, w = text.shape[:2]
    paste(img, text, 300, 150)
    box = (120, 190, 120 + w + 60, 300 + h // 4)  # the text's top quarter only: read alone, nothing legible
    hit, ev = unaligned(ctx, "samsung", 0.95, box)
    hits, evidence = [hit], {"samsung": ev}
    looks_like = _decide(ctx, "x", hits, evidence)
    assert looks_like.verdict == "unverified" and looks_like.divergence is None  # the premise
    rec = vet_text(ctx, img, hits, dict(evidence), looks_like)
    assert rec.verdict == "no_match", rec.reasons
    assert any(r.startswith("text reads CHEAPDEALS") for r in rec.reasons), rec.reasons


def test_a_misspelt_wordmark_that_does_not_align_looks_like_its_brand(ctx):
    """A no_match whose closest verified brand is a wordmark: OCR reads around its box, and a close misspelling of
    the wordmark (SAMSNUG) makes the photo "looks like Samsung" whatever the similarity; a caption does not."""
    from vision.check import _decide, vet_text
    from vision.train.forge import render_text

    for caption, named in (("SAMSNUG", True), ("CHEAP DEALS", False)):
        img = np.full((480, 640, 3), (70, 90, 160), np.uint8)
        text = render_text(caption, 40, (250, 250, 250))
        h, w = text.shape[:2]
        paste(img, text, 200, 150)
        box = (140, 190, 160 + w, 210 + h)
        hit, ev = unaligned(ctx, "samsung", ctx.config.verdict.match_threshold - 0.1, box)
        hits, evidence = [hit], {"samsung": ev}
        unread = _decide(ctx, "x", hits, evidence)
        assert unread.verdict == "no_match"  # the premise: too little similarity to "look like" Samsung
        rec = vet_text(ctx, img, hits, evidence, unread)
        assert (rec.verdict, rec.brand) == (("suspect", "samsung") if named else ("no_match", None)), rec.reasons
        if named:
            assert "text reads SAMSNUG" in rec.reasons[0]


def test_a_weakly_matched_brand_is_verified_in_its_best_box_only(ctx, monkeypatch):
    """A brand the embedding matches below resemble_similarity ends other than no_match only when its reference
    aligns near-perfectly, which its best region shows: its weaker regions are not aligned too (they cost photos
    without a logo a third of their time). Brands above that level are verified in all their boxes, brands below
    verify_similarity in none."""
    import dataclasses

    import vision.check as check
    from vision.candidates import find_candidates
    from vision.embed import embed
    from vision.match import match_brands

    calls = []
    real = check._verify
    monkeypatch.setattr(check, "_verify", lambda c, rgb, h, boxes: calls.append((h, boxes)) or real(c, rgb, h, boxes))
    cfg = ctx.config.verdict
    # the same hypotheses verified again with the floor at no_match_threshold, so that weak ones are verified too
    low = dataclasses.replace(ctx, config=dataclasses.replace(
        ctx.config, verdict=dataclasses.replace(cfg, verify_similarity=cfg.no_match_threshold)))
    cases = []
    for seed in range(4):
        img = synth.photograph(None, np.random.default_rng(seed), synth.PhotoStyle()).image
        boxes = find_candidates(img, ctx.config.candidates)
        cases.append((img, match_brands(ctx.index, embed(ctx.embedder, [img[b[1]:b[3], b[0]:b[2]] for b in boxes]),
                                        boxes, ctx.config.neighbours)))
    for img, hits in cases:
        check.verify_hypotheses(ctx, img, hits)
    below = [h for _, hits in cases for h in hits[:cfg.verify_top]
             if cfg.no_match_threshold <= h.similarity < cfg.verify_similarity]
    assert below and all(h.similarity >= cfg.verify_similarity for h, _ in calls)  # the floor holds
    for img, hits in cases:
        check.verify_hypotheses(low, img, hits)
    img = photo(synth.render_logo("samsung", 256), 21)
    check_image(ctx, img)
    weak = [(h, b) for h, b in calls if h.similarity < cfg.resemble_similarity]
    strong = [(h, b) for h, b in calls if h.similarity >= cfg.resemble_similarity]
    assert weak and strong  # the premise: both kinds were verified
    assert all(b == [h.box] for h, b in weak)
    assert all(b == list(h.boxes) for h, b in strong)


@pytest.mark.slow  # over 10 s: CI runs it (-m slow)
@pytest.mark.skipif(forge.font_path() is None, reason="needs the DejaVu font")
def test_a_wordmark_read_at_another_brands_fit_is_verified_too(gallery_copy, tmp_path):
    """OCR at Samsung's fit reads ZARA, a registered wordmark: Zara is verified too, in that box, whatever rank the
    embedding gave it; a misspelt SAMSUNG brings in no other brand."""
    from dataclasses import replace

    from tests.conftest import save_rgba
    from vision.candidates import find_candidates
    from vision.check import verify_read_brands
    from vision.embed import embed
    from vision.gallery import Gallery, add_references
    from vision.match import match_brands
    from vision.wordmark import Reading

    text = forge.render_text("ZARA", 80, (20, 20, 20))
    add_references(Gallery(gallery_copy), "zara", [save_rgba(tmp_path / "zara.png", text)], wordmark="ZARA")
    c = open_context(gallery_copy, threads=1)
    rgb = photo(text, 3)
    boxes = find_candidates(rgb, c.config.candidates)
    hits = match_brands(c.index, embed(c.embedder, [rgb[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes]), boxes)
    seen = Evidence("samsung", "samsung/logos/x.png", hits[0].box, Alignment(np.eye(3), "shape", 0, 0.6, 1),
                    wordmark=Reading("SAMSUNG", "ZARA", 0.99, 6))
    evidence = {"samsung": seen}
    verify_read_brands(c, rgb, hits, evidence)
    assert set(evidence) == {"samsung", "zara"} and evidence["zara"].aligned
    assert evidence["zara"].wordmark.read == "ZARA"
    evidence = {"samsung": replace(seen, wordmark=Reading("SAMSUNG", "SAMSUNC", 0.99, 1))}
    verify_read_brands(c, rgb, hits, evidence)
    assert set(evidence) == {"samsung"}


@pytest.mark.slow  # over 10 s: CI runs it (-m slow)
@pytest.mark.skipif(forge.font_path() is None, reason="needs the DejaVu font")
def test_a_box_that_reads_another_registered_wordmark_names_that_brand(gallery_copy, tmp_path):
    """"Looks like Samsung" where OCR reads ZARA, a registered wordmark that the embedder ranked lower: Zara is
    verified in that box and named (it aligns, or else it "looks like" Zara on the strength of the reading)."""
    from tests.conftest import save_rgba
    from vision.check import _decide, vet_text
    from vision.gallery import Gallery, add_references

    text = forge.render_text("ZARA", 80, (20, 20, 20))
    add_references(Gallery(gallery_copy), "zara", [save_rgba(tmp_path / "zara.png", text)], wordmark="ZARA")
    c = open_context(gallery_copy, threads=1)
    rgb = photo(text, 3)
    box = (0, 0, rgb.shape[1], rgb.shape[0])
    samsung, seen = unaligned(c, "samsung", 0.95, box)
    zara, _ = unaligned(c, "zara", c.config.verdict.match_threshold - 0.1, box)
    hits, evidence = [samsung, zara], {"samsung": seen}
    looks_like = _decide(c, "x", hits, evidence)
    assert looks_like.verdict == "unverified" and looks_like.brand == "samsung"  # the premise
    rec = vet_text(c, rgb, hits, evidence, looks_like)
    assert rec.brand == "zara" and rec.verdict != "no_match", rec.reasons
    assert evidence["zara"].read_as == "ZARA" and evidence["samsung"].other_text == "ZARA"
