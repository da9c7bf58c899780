from vision.index import Entry
from vision.match import BrandHit
from vision.record import COLUMNS, CheckRecord, row_to_csv
from vision.verdict import VerdictConfig, decide

CFG = VerdictConfig(match_threshold=0.8, no_match_threshold=0.6, min_margin=0.05)


def hit(brand, sim):
    return BrandHit(brand, sim, Entry(brand, "logos/a.png", "logo", "0" * 64, "image"), (1, 2, 30, 40), 1)


def test_no_hits_or_weak_hits_are_no_match():
    for hits in ([], [hit("nike", 0.5)]):
        r = decide("p.jpg", hits, {}, CFG)
        assert r.verdict == "no_match" and r.brand is None and r.risk == 0.0 and r.reasons


def test_clear_match_is_consistent_with_low_risk():
    r = decide("p.jpg", [hit("nike", 0.92), hit("puma", 0.7)], {"nike": "Nike"}, CFG)
    assert r.verdict == "consistent" and r.brand == "nike" and r.brand_name == "Nike"
    assert r.reference == "nike/logos/a.png" and r.box == [1, 2, 30, 40] and r.risk < 0.3
    assert [c.brand for c in r.candidates] == ["nike", "puma"]


def test_weak_or_ambiguous_match_is_suspect():
    weak = decide("p.jpg", [hit("nike", 0.7)], {}, CFG)
    assert weak.verdict == "suspect" and weak.brand == "nike" and "differs" in weak.reasons[0]
    amb = decide("p.jpg", [hit("nike", 0.85), hit("puma", 0.84)], {}, CFG)
    assert amb.verdict == "suspect" and "ambiguous" in amb.reasons[0]
    assert weak.risk > decide("p.jpg", [hit("nike", 0.95)], {}, CFG).risk


def test_row_contract():
    row = decide("p.jpg", [hit("nike", 0.9)], {}, CFG).to_row()
    for k in ("path", "verdict", "brand", "risk", "similarity", "reference", "reasons", "error"):
        assert k in row
    assert 0.0 <= row["risk"] <= 1.0 and row["error"] is None
    flat = row_to_csv(row)
    assert list(flat) == list(COLUMNS) and isinstance(flat["reasons"], str)
    err = CheckRecord.error_row("x.jpg", "empty file (0 bytes)").to_row()
    assert err["verdict"] == "error" and err["error"] == "empty file (0 bytes)" and err["risk"] is None
