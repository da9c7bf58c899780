"""Labelled listing photos for the accuracy benchmark: genuine, counterfeit (one per family) and unbranded.

Genuine: the brand's logo printed on a product and photographed (vision.synth.photograph: perspective tilt,
rotation, scale, lighting gradient, colour cast, blur, noise, JPEG 50-95, clutter). Counterfeit: the same
photography of the logo altered by a family of vision.train.forge, printed at the genuine logo's scale (the forging
margin is cropped off again); no "mirrored" counterfeit of a mirror-symmetric logo. Unbranded: a product with no
logo, or with the logo of a brand that is not registered. Everything is drawn from one seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from vision import synth
from vision.train import forge
from vision.train.brands import EVAL_BRANDS, TRAIN_BRANDS, WORDMARKS, icon_pool, split


@dataclass(frozen=True)
class Item:
    name: str  # file stem
    kind: str  # genuine | counterfeit | unbranded
    brand: str | None  # the registered brand shown (None for unbranded)
    family: str  # genuine | <counterfeit family> | plain | unregistered
    split: str  # train | eval | none
    image: np.ndarray


def registered_brands(n_seen: int, n_unseen: int) -> list[str]:
    """A spread of seen (train) and unseen (eval) brands, deterministic."""
    pick = lambda xs, n: [xs[int(i)] for i in np.linspace(0, len(xs) - 1, n)] if n < len(xs) else list(xs)
    return pick(TRAIN_BRANDS, n_seen) + pick(EVAL_BRANDS, n_unseen)


def unregistered_logos(n: int, seed: int = 0) -> list[str]:
    pool = icon_pool(synth.available_icons())[1]  # never seen by any training
    rng = np.random.default_rng(seed)
    return [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]


def logo(slug: str) -> np.ndarray:
    return synth.render_logo(slug, 256, color=synth.print_color(slug))


def mirror_symmetric(rgba: np.ndarray, min_iou: float = 0.95) -> bool:
    """Whether the logo's ink overlaps its own mirror image (left-right) by `min_iou` or more (Tesla's T, Dropbox's
    box: 7 of the 40 benchmark brands, all at 0.98 or more; the next is 0.85)."""
    ink = rgba[..., 3] > 127
    flipped = ink[:, ::-1]
    return (ink & flipped).sum() >= min_iou * (ink | flipped).sum()


def families_for(slug: str) -> list[str]:
    """Every family that applies: the wordmark families only to brands whose logo is a wordmark."""
    return list(forge.FAMILIES) if slug in WORDMARKS else list(forge.GEOMETRIC_FAMILIES)


def generate(brands: list[str], genuine_per_brand: int, n_plain: int, n_unregistered: int,
             seed: int = 0, style: synth.PhotoStyle = synth.PhotoStyle()) -> Iterator[Item]:
    rng = np.random.default_rng(seed)
    for slug in brands:
        base = logo(slug)
        padded = forge.pad_logo(base)
        for i in range(genuine_per_brand):
            yield Item(f"{slug}__genuine_{i}", "genuine", slug, "genuine", split(slug),
                       synth.photograph(base, rng, style).image)
        for fam in families_for(slug):
            fake = forge.unpad(forge.forge(padded, fam, rng, wordmark=WORDMARKS.get(slug)), base.shape)
            image = synth.photograph(fake, rng, style).image
            if fam == "mirrored" and mirror_symmetric(base):
                continue  # its mirror image is the genuine logo, not a counterfeit (drawn all the same, so that
                # the listings after it stay as they were)
            yield Item(f"{slug}__{fam}", "counterfeit", slug, fam, split(slug), image)
    for i in range(n_plain):
        yield Item(f"none__plain_{i}", "unbranded", None, "plain", "none", synth.photograph(None, rng, style).image)
    for slug in unregistered_logos(n_unregistered, seed):
        yield Item(f"none__unregistered_{slug}", "unbranded", None, "unregistered", "none",
                   synth.photograph(logo(slug), rng, style).image)
