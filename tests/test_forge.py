"""The counterfeit generator: every family alters the mark, reproducibly, and keeps it on the canvas."""

import numpy as np
import pytest

from vision import synth
from vision.train import forge


@pytest.fixture(scope="module")
def samsung():
    return forge.pad_logo(synth.render_logo("samsung", 200))


@pytest.mark.parametrize("family", forge.FAMILIES)
def test_each_family_alters_the_logo(samsung, family):
    fake = forge.forge(samsung, family, np.random.default_rng(0), wordmark="SAMSUNG")
    again = forge.forge(samsung, family, np.random.default_rng(0), wordmark="SAMSUNG")
    assert fake.shape == samsung.shape and fake.dtype == np.uint8
    np.testing.assert_array_equal(fake, again)
    if family == "color_changed":
        assert np.abs(fake[..., :3].astype(int) - samsung[..., :3]).max() > 60
    else:
        changed = np.abs(fake[..., 3].astype(int) - samsung[..., 3]) > 127
        assert changed.sum() > 0.02 * (samsung[..., 3] > 127).sum(), family
    assert (fake[..., 3] > 127).sum() > 0.3 * (samsung[..., 3] > 127).sum()  # still a logo


def test_one_piece_logos_are_cut_into_parts():
    nike = forge.pad_logo(synth.render_logo("nike", 200))
    assert len(forge.parts(nike[..., 3])) == 1
    moved = forge.forge(nike, "part_moved", np.random.default_rng(1))
    assert (np.abs(moved[..., 3].astype(int) - nike[..., 3]) > 127).sum() > 50


def test_unknown_family_refused(samsung):
    with pytest.raises(ValueError, match="unknown counterfeit family"):
        forge.forge(samsung, "nope", np.random.default_rng(0))


def test_unpad_prints_a_counterfeit_at_the_genuine_scale():
    logo = synth.render_logo("samsung", 200)
    padded = forge.pad_logo(logo)
    # an alteration that stays inside the logo's frame: the genuine canvas comes back, pixel for pixel
    same = forge.unpad(forge.forge(padded, "color_changed", np.random.default_rng(0)), logo.shape)
    assert same.shape == logo.shape
    np.testing.assert_array_equal(same[..., 3], logo[..., 3])
    # ink moved out of the frame keeps its place: the frame grows to hold it
    moved = padded.copy()
    moved[2:6, 2:6, 3] = 255
    out = forge.unpad(moved, logo.shape)
    assert out.shape[0] > logo.shape[0] and out.shape[1] > logo.shape[1] and out[..., 3].sum() == moved[..., 3].sum()


def test_an_altered_logo_keeps_its_frame_but_changes_its_ink():
    """forge.alter: what the embedder is trained on as a knock-off of a brand, still to be named as that brand."""
    logo = synth.render_logo("nike", 192, color="#111111")
    ink = (logo[..., 3] > 127).sum()
    rng = np.random.default_rng(0)
    for _ in range(12):
        fake = forge.alter(logo, rng)
        assert fake.dtype == np.uint8 and fake.shape[2] == 4
        # printed at the genuine logo's scale: the frame grows only where altered ink leaves it
        assert logo.shape[0] <= fake.shape[0] < 1.3 * logo.shape[0]
        assert logo.shape[1] <= fake.shape[1] < 1.3 * logo.shape[1]
        assert not (fake.shape == logo.shape and np.array_equal(fake, logo))
        assert 0.3 * ink < (fake[..., 3] > 127).sum() < 2 * ink
