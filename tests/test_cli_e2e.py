"""End to end through the real CLI: register brands from rendered logos, check and scan generated photos."""

import json

import pytest

from tests.conftest import listing, run_cli
from vision import synth


@pytest.fixture(scope="module")
def cli_gallery(tmp_path_factory, logo_files):
    root = tmp_path_factory.mktemp("cli") / "gallery"
    for brand in ("nike", "adidas", "samsung", "starbucks"):
        extra = ["--wordmark", "SAMSUNG"] if brand == "samsung" else []
        r = run_cli("gallery", "add", brand, str(logo_files[brand]), "--gallery", str(root), "--kind", "logo",
                    "--color", synth.brand_icon(brand).color, *extra)
        assert r.returncode == 0, r.stderr
        assert f"{brand}: 1 references" in r.stdout
        assert f"{logo_files[brand].name}: kept " in r.stdout and "transparent" in r.stdout
    return root


@pytest.mark.slow  # over 10 s: CI runs it (-m slow)
def test_gallery_calibrate_calibrates_what_is_new_once(cli_gallery):
    r = run_cli("gallery", "calibrate", "--no-progress", "--gallery", str(cli_gallery))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "calibrated 4 brands in" in r.stdout or "every brand" in r.stdout  # the first check may have done it
    r = run_cli("gallery", "calibrate", "--no-progress", "--gallery", str(cli_gallery))
    assert r.returncode == 0 and f"every brand of {cli_gallery} is calibrated (4 brands)" in r.stdout, r.stdout


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    style = dict(logo_frac=(0.25, 0.35))
    for name, slug, seed in (("starbucks.jpg", "starbucks", 11), ("adidas.jpg", "adidas", 12),
                             ("nike.jpg", "nike", 13), ("plain.jpg", None, 14)):
        synth.save_rgb(d / name, listing(slug, seed, **style))
    (d / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (d / "sub").mkdir()
    (d / "sub" / "readme.txt").write_text("not an image")
    return d


def test_gallery_list_and_verify(cli_gallery):
    r = run_cli("gallery", "list", "--json", "--gallery", str(cli_gallery))
    assert r.returncode == 0, r.stderr
    brands = {b["slug"]: b for b in json.loads(r.stdout)}
    assert set(brands) == {"nike", "adidas", "samsung", "starbucks"} and brands["samsung"]["wordmark"] == "SAMSUNG"
    r = run_cli("gallery", "verify", "--gallery", str(cli_gallery))
    assert r.returncode == 0 and "OK" in r.stderr, r.stdout + r.stderr


@pytest.mark.parametrize("name,brand", [("starbucks.jpg", "starbucks"), ("adidas.jpg", "adidas"),
                                        ("nike.jpg", "nike")])
def test_check_finds_the_right_brand(cli_gallery, photos, name, brand):
    r = run_cli("check", str(photos / name), "--json", "--gallery", str(cli_gallery))
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)
    assert row["brand"] == brand and row["verdict"] in ("consistent", "suspect"), row
    assert row["reference"].startswith(f"{brand}/logos/") and 0 <= row["risk"] <= 1


def test_unrelated_photo_is_no_match_and_corrupt_is_error(cli_gallery, photos):
    r = run_cli("check", str(photos / "plain.jpg"), str(photos / "corrupt.jpg"), "--json",
                "--gallery", str(cli_gallery))
    assert r.returncode == 1  # one file could not be checked
    plain, corrupt = (json.loads(line) for line in r.stdout.splitlines())
    assert plain["verdict"] == "no_match" and plain["brand"] is None
    assert corrupt["verdict"] == "error" and "corrupt" in corrupt["error"]


def test_human_output_and_env_gallery(cli_gallery, photos):
    r = run_cli("check", str(photos / "starbucks.jpg"), env={"AUTHCHECK_GALLERY": str(cli_gallery)})
    assert r.returncode == 0 and "starbucks" in r.stdout and "  - " in r.stdout, r.stderr


def test_scan_writes_rows_and_resumes(cli_gallery, photos, tmp_path):
    out = tmp_path / "rows.jsonl"
    r = run_cli("scan", str(photos), "--out", str(out), "--gallery", str(cli_gallery))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and "scan" in r.stderr  # progress bar and summary on stderr
    by_name = {row["path"].rsplit("/", 1)[-1]: row for row in rows}
    assert by_name["corrupt.jpg"]["verdict"] == "error" and by_name["readme.txt"]["verdict"] == "error"
    assert by_name["starbucks.jpg"]["brand"] == "starbucks"
    for row in rows:
        assert set(row) >= {"path", "verdict", "brand", "risk", "similarity", "reference", "reasons", "error"}
    # resume: a new file and a half-written last row
    synth.save_rgb(photos / "adidas2.jpg", listing("adidas", 21, logo_frac=(0.25, 0.35)))
    out.write_text(out.read_text() + '{"path": "half')
    r = run_cli("scan", str(photos), "--out", str(out), "--gallery", str(cli_gallery))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    paths = [row["path"] for row in rows]
    assert len(paths) == len(set(paths)) == 7 and paths[-1].endswith("adidas2.jpg")
    assert "6 already in" in r.stderr
    (photos / "adidas2.jpg").unlink()


def test_scan_with_the_window_grid_embedder(cli_gallery, photos, tmp_path):
    """The fast grid model (windows pooled from one pass) through the CLI: the gallery gains an index of its own on
    first use, beside the default model's, which keeps working; the same verdicts."""
    import shutil

    gallery = tmp_path / "gallery"
    shutil.copytree(cli_gallery, gallery)
    first = (gallery / ".index" / "index.json").read_bytes()
    out = tmp_path / "rows.jsonl"
    r = run_cli("scan", str(photos), "--out", str(out), "--gallery", str(gallery), "--model", "logo_lite0_fast_int8")
    assert r.returncode == 0, r.stderr
    assert "updating it" in r.stderr
    assert (gallery / ".index" / "models" / "logo_lite0_fast_int8" / "index.json").is_file()
    assert (gallery / ".index" / "index.json").read_bytes() == first  # the default model's index is untouched
    by_name = {row["path"].rsplit("/", 1)[-1]: row for row in map(json.loads, out.read_text().splitlines())}
    for name in ("starbucks", "adidas", "nike"):
        assert by_name[f"{name}.jpg"]["brand"] == name, by_name[f"{name}.jpg"]
        assert by_name[f"{name}.jpg"]["verdict"] in ("consistent", "suspect")
    assert by_name["plain.jpg"]["verdict"] == "no_match" and by_name["corrupt.jpg"]["verdict"] == "error"
    r = run_cli("check", str(photos / "nike.jpg"), "--gallery", str(gallery))  # the default model, its own index
    assert r.returncode == 0 and "updating it" not in r.stderr, r.stderr
    r = run_cli("index", "build", "--gallery", str(gallery), "--model", "logo_lite0_fast_int8")
    assert r.returncode == 0 and (gallery / ".index" / "index.json").read_bytes() == first, r.stderr


def test_scan_csv(cli_gallery, photos, tmp_path):
    out = tmp_path / "rows.csv"
    r = run_cli("scan", str(photos), "--out", str(out), "--gallery", str(cli_gallery), "--no-progress")
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("path,verdict,brand,risk") and len(lines) == 7


def test_bad_input_gives_clear_errors(cli_gallery, tmp_path, logo_files):
    r = run_cli("gallery", "add", "../escape", str(logo_files["nike"]), "--gallery", str(cli_gallery))
    assert r.returncode == 2 and "invalid brand name" in r.stderr
    r = run_cli("gallery", "add", "x", str(tmp_path / "missing.png"), "--gallery", str(cli_gallery))
    assert r.returncode == 2 and "file not found" in r.stderr
    r = run_cli("check", "whatever.jpg", "--gallery", str(tmp_path / "nope"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = run_cli("scan", str(tmp_path / "nope"), "--out", str(tmp_path / "o.jsonl"), "--gallery", str(cli_gallery))
    assert r.returncode == 2 and "not a folder" in r.stderr


def test_false_flag_rate_option(cli_gallery, photos):
    r = run_cli("check", str(photos / "nike.jpg"), "--json", "--gallery", str(cli_gallery), "--false-flag-rate", "0.7")
    assert r.returncode == 2 and "between 0 and 0.5" in r.stderr
    calibration = cli_gallery / ".index" / "calibration.json"
    before = calibration.read_bytes()
    r = run_cli("check", str(photos / "nike.jpg"), "--json", "--gallery", str(cli_gallery),
                "--false-flag-rate", "0.005")
    assert r.returncode == 0 and json.loads(r.stdout)["brand"] == "nike", r.stderr
    assert "calibrating" not in r.stderr and calibration.read_bytes() == before  # thresholds from the stored tails


def test_remove_and_tamper_detected(gallery_copy, logo_files):
    r = run_cli("gallery", "remove", "puma", "--gallery", str(gallery_copy))
    assert r.returncode == 0, r.stderr
    r = run_cli("gallery", "verify", "--gallery", str(gallery_copy))
    assert r.returncode == 0, r.stdout + r.stderr
    logo = next((gallery_copy / "nike" / "logos").iterdir())
    logo.write_bytes(b"tampered")
    r = run_cli("gallery", "verify", "--gallery", str(gallery_copy))
    assert r.returncode == 1 and "altered" in r.stdout


def test_stale_index_is_updated_on_check(gallery_copy, logo_files, photos):
    from vision.gallery import Gallery, add_references

    add_references(Gallery(gallery_copy), "newbrand", [logo_files["nike"]])  # no index update
    r = run_cli("gallery", "verify", "--gallery", str(gallery_copy))
    assert r.returncode == 0 and "note: index not yet updated" in r.stdout  # lag is healed on the next check
    r = run_cli("check", str(photos / "nike.jpg"), "--json", "--gallery", str(gallery_copy))
    assert r.returncode == 0 and "out of date" in r.stderr
    r = run_cli("gallery", "verify", "--gallery", str(gallery_copy))
    assert r.returncode == 0 and "note:" not in r.stdout


def test_explain_picture(cli_gallery, photos, tmp_path):
    from PIL import Image

    out = tmp_path / "why.png"
    r = run_cli("check", str(photos / "starbucks.jpg"), "--explain", str(out), "--gallery", str(cli_gallery))
    assert r.returncode == 0, r.stderr
    im = Image.open(out)
    assert im.height == 400 and im.width > 2 * 360  # banner + listing, reference and heat map panels
    r = run_cli("check", str(photos / "plain.jpg"), str(photos / "nike.jpg"), "--explain", str(tmp_path / "many"),
                "--gallery", str(cli_gallery))
    assert r.returncode == 0 and sorted(p.name for p in (tmp_path / "many").iterdir()) == [
        "nike.explain.png", "plain.explain.png"]
