"""Screenshots of the web app's three tabs for the README, taken in Debian's headless Chromium.

    python benchmarks/screenshots.py [--out benchmarks/screenshots]

Starts `python app.py` on a copy of the bundled gallery (the real one is not touched), checks an example listing,
opens the brand list, bulk-scans the example listings, and saves one PNG per tab.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "screenshots"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        gallery = Path(tmp) / "gallery"
        shutil.copytree(ROOT / "reference_gallery", gallery, ignore=shutil.ignore_patterns(".lock", ".trash-*"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "GRADIO_TEMP_DIR": str(Path(tmp) / "gradio")}
        app = subprocess.Popen([sys.executable, "app.py", "--gallery", str(gallery), "--port", str(port)], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/"
            for _ in range(360):
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError:
                    time.sleep(0.5)
            shoot(url, out)
        finally:
            app.terminate()
            app.wait(timeout=30)


def shoot(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    examples = sorted((ROOT / "examples" / "listings").glob("*.jpg"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")
        page.locator("#check-photo input[type=file]").set_input_files(
            str(ROOT / "examples" / "listings" / "fake_samsung_wordmark.jpg"))
        page.locator("#check-photo img").wait_for(timeout=30_000)
        page.click("#check-button")
        page.locator("#evidence img").wait_for(timeout=120_000)
        page.screenshot(path=str(out / "check.png"), full_page=True)

        page.get_by_role("tab", name="Brands").click()
        page.get_by_text("Registered brands").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)  # thumbnails load
        page.screenshot(path=str(out / "brands.png"), full_page=True)

        page.get_by_role("tab", name="Bulk").click()
        page.locator("#bulk-files input[type=file]").set_input_files([str(p) for p in examples])
        page.wait_for_timeout(2000)
        page.click("#bulk-button")
        page.get_by_text(f"{len(examples)} photos").first.wait_for(timeout=300_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / "bulk.png"), full_page=True)
        browser.close()
    print(f"wrote {', '.join(str(out / n) for n in ('check.png', 'brands.png', 'bulk.png'))}")


if __name__ == "__main__":
    main()
