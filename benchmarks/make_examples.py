"""Regenerate the bundled example gallery (reference_gallery/) and listing photos (examples/listings/).

    python benchmarks/make_examples.py [--gallery reference_gallery] [--listings examples/listings]

Logos are real brand marks from the `simplepycons` package (Simple Icons, CC0 icon data, MIT package); product
and listing photos are generated around them with fixed seeds, so the output is reproducible.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vision import synth  # noqa: E402
from vision.embed import load_embedder  # noqa: E402
from vision.gallery import Gallery, add_references  # noqa: E402
from vision.index import save_index, sync_index  # noqa: E402

# slug -> wordmark text (None: the logo is an emblem without text)
BRANDS = {
    "nike": None, "adidas": None, "newbalance": None, "puma": None, "samsung": "SAMSUNG", "sony": "SONY",
    "huawei": None, "apple": None, "reebok": None, "underarmour": None, "fila": "FILA", "jordan": None,
    "thenorthface": "THE NORTH FACE", "lg": "LG", "xiaomi": None, "lenovo": "Lenovo", "dell": "DELL",
    "intel": "intel", "bosch": None, "nikon": "Nikon", "redbull": None, "starbucks": None, "dior": "DIOR",
    "garmin": "GARMIN",
}
PRODUCTS_PER_BRAND = 3
# (file stem, logo slug or None, seed); logos of brands not in BRANDS are "unregistered"
LISTINGS = [("nike_sneaker_box", "nike", 1), ("adidas_bag", "adidas", 2), ("samsung_phone_case", "samsung", 3),
            ("puma_tshirt", "puma", 4), ("starbucks_mug", "starbucks", 5), ("dell_laptop_sleeve", "dell", 6),
            ("plain_product", None, 7), ("unregistered_brand_visa", "visa", 8)]
# counterfeits: (file stem, slug, seed, forge family)
FAKES = [("fake_samsung_wordmark", "samsung", 9, "letter_substituted"), ("fake_adidas_part_moved", "adidas", 10,
                                                                          "part_moved")]


def build(gallery_dir: Path, listings_dir: Path) -> None:
    build_gallery(gallery_dir)
    build_listings(listings_dir)


def build_gallery(gallery_dir: Path) -> None:
    if gallery_dir.exists():
        shutil.rmtree(gallery_dir)
    gallery = Gallery(gallery_dir)
    reference_style = synth.PhotoStyle(logo_frac=(0.3, 0.5), tilt=0.08, rotation=10, jpeg=(85, 95))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n, (slug, wordmark) in enumerate(BRANDS.items()):
            color = synth.print_color(slug)
            logo = synth.render_logo(slug, 256, color=color)
            logo_file = tmp / f"{slug}.png"
            _save_rgba(logo_file, logo)
            add_references(gallery, slug, [logo_file], kind="logo", name=synth.brand_icon(slug).title,
                           wordmark=wordmark, colors=[color])
            rng = np.random.default_rng(1000 + n)
            products = []
            for i in range(PRODUCTS_PER_BRAND):
                f = tmp / f"{slug}_product_{i}.jpg"
                synth.save_rgb(f, synth.photograph(logo, rng, reference_style).image)
                products.append(f)
            add_references(gallery, slug, products, kind="product")
    embedder = load_embedder()
    with gallery.locked():
        save_index(sync_index(gallery, embedder), gallery)


def build_listings(listings_dir: Path) -> None:
    from vision.train.forge import forge

    if listings_dir.exists():
        shutil.rmtree(listings_dir)
    listings_dir.mkdir(parents=True)
    for stem, slug, seed in LISTINGS:
        rng = np.random.default_rng(seed)
        logo = synth.render_logo(slug, 256, color=synth.print_color(slug)) if slug else None
        synth.save_rgb(listings_dir / f"{stem}.jpg", synth.photograph(logo, rng).image)
    clear = synth.PhotoStyle(logo_frac=(0.3, 0.4), tilt=0.08, rotation=10, jpeg=(85, 95))
    for stem, slug, seed, family in FAKES:
        rng = np.random.default_rng(seed)
        fake = forge(synth.render_logo(slug, 256, color=synth.print_color(slug)), family, rng, BRANDS[slug])
        synth.save_rgb(listings_dir / f"{stem}.jpg", synth.photograph(fake, rng, clear).image)


def _save_rgba(path: Path, rgba: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(rgba, "RGBA").save(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gallery", type=Path, default=ROOT / "reference_gallery")
    ap.add_argument("--listings", type=Path, default=ROOT / "examples" / "listings")
    ap.add_argument("--listings-only", action="store_true", help="keep the gallery, regenerate the listings")
    args = ap.parse_args()
    if args.listings_only:
        build_listings(args.listings)
    else:
        build(args.gallery, args.listings)
    print(f"wrote {args.gallery} ({len(BRANDS)} brands) and {args.listings} ({len(LISTINGS) + len(FAKES)} listings)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
