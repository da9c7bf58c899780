import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from vision.errors import ImageError
from vision.load import LoadLimits, load_image


def _img(h=40, w=60):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("mode,suffix", [("RGB", ".jpg"), ("RGB", ".png"), ("RGBA", ".png"), ("L", ".png"),
                                         ("P", ".gif"), ("CMYK", ".jpg"), ("I;16", ".png"), ("RGB", ".webp"),
                                         ("RGB", ".bmp"), ("RGB", ".tif"), ("LA", ".png")])
def test_modes_become_rgb(tmp_path, mode, suffix):
    im = Image.fromarray(_img()).convert(mode) if mode != "I;16" else Image.fromarray(
        (np.arange(40 * 60, dtype=np.uint16).reshape(40, 60) * 20))
    path = tmp_path / f"x{suffix}"
    im.save(path)
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == (40, 60, 3)


def test_alpha_composited_on_white_and_kept_on_request(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[5:15, 5:15] = (255, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    rgb = load_image(tmp_path / "a.png")
    assert tuple(rgb[0, 0]) == (255, 255, 255) and tuple(rgb[10, 10]) == (255, 0, 0)
    assert load_image(tmp_path / "a.png", keep_alpha=True)[0, 0, 3] == 0


def test_exif_orientation_applied(tmp_path):
    im = Image.fromarray(_img(40, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").shape == (60, 40, 3)


def test_animated_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (30, 30), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    out = load_image(tmp_path / "a.gif")
    assert out[0, 0, 0] > 200 and out[0, 0, 1] < 50


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(w, h):
    """A tiny PNG whose header claims w x h pixels: a decompression bomb's calling card."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _chunk(b"IEND", b""))


@pytest.mark.parametrize("content,message", [
    (b"", "empty file"),
    (b"hello, this is text\n", "not a recognised image"),
    (b"<html><body>hi</body></html>", "not a recognised image"),
    (_png_header(100_000, 100_000), "too many pixels|too large"),
])
def test_bad_files_refused_with_reason(tmp_path, content, message):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        load_image(p)


def test_truncated_jpeg(tmp_path):
    Image.fromarray(_img(200, 200)).save(tmp_path / "t.jpg", quality=95)
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated|corrupt"):
        load_image(tmp_path / "t.jpg")


def test_missing_and_oversized_files(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    Image.fromarray(_img(100, 100)).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match="file too large"):
        load_image(tmp_path / "big.png", LoadLimits(max_bytes=100))
    with pytest.raises(ImageError, match="image too large"):
        load_image(tmp_path / "big.png", LoadLimits(max_pixels=99 * 99))
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(tmp_path)
