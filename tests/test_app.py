"""The web app, for real: `python app.py` in a subprocess, called through gradio_client (check, register,
remove, bulk) and driven in Debian's headless Chromium by Playwright (upload a photo, see the verdict and the
evidence picture). Screenshots are kept in artifacts/ as test artifacts."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, listing
from vision import synth

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update"]
ARTIFACTS = ROOT / "artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(built_gallery, tmp_path_factory):
    gallery = tmp_path_factory.mktemp("appgallery") / "g"
    shutil.copytree(built_gallery, gallery)
    port = _free_port()
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("gradio"))}
    log = open(tmp_path_factory.mktemp("applog") / "app.log", "w+")
    proc = subprocess.Popen([sys.executable, "app.py", "--gallery", str(gallery)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                log.seek(0)
                proc.kill()
                pytest.fail(f"app did not start:\n{log.read()[-3000:]}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("appphotos")
    out = {}
    for name, slug, seed in (("nike", "nike", 1), ("samsung", "samsung", 2), ("plain", None, 3)):
        out[name] = d / f"{name}.jpg"
        synth.save_rgb(out[name], listing(slug, seed, logo_frac=(0.25, 0.35)))
    return out


def test_check_endpoint_returns_the_verdict_record(client, photos):
    from gradio_client import handle_file

    row = json.loads(client.predict(handle_file(str(photos["nike"])), api_name="/check"))
    assert row["verdict"] == "consistent" and row["brand"] == "nike" and row["path"] == "nike.jpg"
    assert 0 <= row["risk"] < 0.5 and row["reasons"] and row["candidates"]
    row = json.loads(client.predict(handle_file(str(photos["plain"])), api_name="/check"))
    assert row["verdict"] == "no_match"


def test_a_bad_upload_is_an_error_row_and_the_server_keeps_serving(client, photos, tmp_path):
    """Checks run in the app's worker processes: a file the loader refuses, or a check that fails, is answered with
    an error record; the next request is served as usual."""
    from gradio_client import handle_file

    bad = tmp_path / "listing.jpg"
    bad.write_bytes(b"%PDF-1.4 not a photo")
    row = json.loads(client.predict(handle_file(str(bad)), api_name="/check"))
    assert row["verdict"] == "error" and row["error"] == "not a recognised image format"
    assert json.loads(client.predict(handle_file(str(photos["nike"])), api_name="/check"))["brand"] == "nike"


@pytest.mark.slow  # over 10 s: CI runs it (-m slow)
def test_register_then_remove_a_brand(client, tmp_path):
    from gradio_client import handle_file

    logo = tmp_path / "fila.png"
    Image.fromarray(synth.render_logo("fila", 256), "RGBA").save(logo)
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    status, table, thumbs, choice, extracted = client.predict(
        "Fila Test", "FILA", "#002d62", r"FL-\d{6}", [handle_file(str(logo))], [handle_file(str(fake))],
        api_name="/register")
    assert "Registered Fila Test" in status and "`fila-test`" in status and "notes.png" in status
    assert "fila.png: kept" in status and "transparent" in status  # what registration kept ...
    assert len(extracted) == 1 and extracted[0]["caption"].startswith("fila.png: kept")  # ... and its picture
    row = next(r for r in table["data"] if r[0] == "fila-test")
    assert row[1:] == ["Fila Test", "FILA", "#002d62", 1, 0]
    assert any(c["caption"].startswith("Fila Test") for c in thumbs)
    # the new brand is live for checking at once
    shot = tmp_path / "fila_listing.jpg"
    synth.save_rgb(shot, listing("fila", 5, logo_frac=(0.25, 0.35)))
    assert json.loads(client.predict(handle_file(str(shot)), api_name="/check"))["brand"] == "fila-test"

    status, table, _, _ = client.predict("fila-test", api_name="/remove")
    assert "Removed" in status and all(r[0] != "fila-test" for r in table["data"])
    with pytest.raises(Exception, match="A new brand needs at least one logo"):
        client.predict("Nothing", "", "", "", [], [], api_name="/register")
    with pytest.raises(Exception, match="invalid colour"):
        client.predict("Bad Colour", "", "blue", "", [handle_file(str(logo))], [], api_name="/register")


def test_bulk_scan_of_photos_and_zip_with_reports(client, photos, tmp_path):
    from gradio_client import handle_file

    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(photos["samsung"], "shop/samsung.jpg")
        zf.writestr("../escape.jpg", photos["plain"].read_bytes())
        zf.writestr("readme.txt", "hello")
    summary, table, thumbs, downloads, brands = client.predict(
        [handle_file(str(photos["nike"])), handle_file(str(photos["plain"])), handle_file(str(archive))],
        api_name="/bulk")
    rows = {r[0]: r for r in table["data"]}
    assert set(rows) == {"nike.jpg", "plain.jpg", "shop/samsung.jpg", "batch.zip:../escape.jpg",
                         "batch.zip:readme.txt"}
    assert rows["nike.jpg"][1:3] == ["consistent", "nike"] and rows["shop/samsung.jpg"][2] == "samsung"
    assert rows["plain.jpg"][1] == "no_match" and "escapes" in rows["batch.zip:../escape.jpg"][4]
    risks = [r[3] for r in table["data"] if r[3] != ""]
    assert risks == sorted(risks, reverse=True)
    assert "5 photos" in summary and len(thumbs) == 3
    by_ext = {Path(p).suffix: Path(p) for p in downloads}
    assert set(by_ext) == {".csv", ".jsonl", ".html"}
    lines = by_ext[".jsonl"].read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and all("/tmp" not in json.loads(x)["path"] for x in lines)
    assert by_ext[".csv"].read_text(encoding="utf-8").count("\n") == 6
    assert by_ext[".html"].read_text(encoding="utf-8").count("data:image/jpeg;base64,") >= 5
    assert set(brands["choices"][i][0] for i in range(len(brands["choices"]))) == {"nike", "samsung"}
    text, chart, sheet, page = client.predict("nike", api_name="/brand_report")  # the session's last scan
    assert "1 listings" in text and Path(chart).is_file() and Path(page).read_text().startswith("<!doctype html>")


def test_browser_upload_shows_verdict_and_evidence(app_url, photos):
    """Headless Debian Chromium through Playwright. Not skippable in CI: .ci/run installs Chromium."""
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip("Debian chromium not installed (CI installs it)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(app_url, wait_until="domcontentloaded")
            page.locator("#check-photo input[type=file]").set_input_files(str(photos["samsung"]))
            page.locator("#check-photo img").wait_for(timeout=30_000)  # upload finished, preview shown
            page.click("#check-button")
            badge = page.locator("#verdict-badge")
            badge.wait_for(timeout=120_000)
            assert badge.get_attribute("data-verdict") == "consistent"
            assert "samsung" in badge.inner_text().lower()
            assert "matches samsung" in page.inner_text("#reasons").lower()
            evidence = page.locator("#evidence img")
            evidence.wait_for(timeout=30_000)
            size = evidence.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            assert size[0] > 600 and size[1] > 300
            page.screenshot(path=str(ARTIFACTS / "app-check.png"), full_page=True)
        finally:
            browser.close()
    shot = np.asarray(Image.open(ARTIFACTS / "app-check.png"))
    assert shot.shape[0] > 500 and shot.std() > 10  # a real rendering, not a blank page


def test_a_copied_product_photo_is_shown_first(built_gallery, tmp_path):
    """The Check tab's gallery opens with the brand's own product photo that the listing copies (the app's function,
    without the server)."""
    import app
    from vision.gallery import Gallery, add_references

    root = tmp_path / "g"
    shutil.copytree(built_gallery, root)
    product = tmp_path / "nike_product.jpg"
    style = synth.PhotoStyle(logo_frac=(0.3, 0.5), tilt=0.08, rotation=10, jpeg=(85, 95))
    synth.save_rgb(product, synth.photograph(synth.render_logo("nike", 256), np.random.default_rng(7), style).image)
    add_references(Gallery(root), "nike", [product], kind="product")
    src = Image.open(product)
    copy = tmp_path / "copy.jpg"
    src.crop((40, 30, src.width - 60, src.height - 20)).save(copy, quality=70)
    svc = app.Service(str(root), None, tmp_path / "work")
    _, reasons, _, cands, row = app.check_photo(svc, str(copy))
    assert row["reused_reference"] and row["reused_reference"].startswith("nike/products/")
    assert cands[0][1] == f"copied from {row['reused_reference']}" and "own product photo" in reasons
    new = tmp_path / "new.jpg"  # a new photo of the same logo: candidates only
    synth.save_rgb(new, listing("nike", 8, logo_frac=(0.3, 0.5), tilt=0.08, rotation=10))
    _, _, _, cands, row = app.check_photo(svc, str(new))
    assert row["reused_reference"] is None and not any(c[1].startswith("copied from") for c in cands)
