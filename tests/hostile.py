"""A corpus of hostile and awkward files, generated (nothing downloaded): what a marketplace dump holds.

Used by tests/test_hostile.py and benchmarks/robustness.py. `make_corpus(folder)` writes the files and returns
{relative path: what it is}; every one must come out of a scan as a row (a checked photo or an `error` row).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _bomb_png(w: int, h: int) -> bytes:
    """A valid PNG header claiming w x h pixels, with a tiny (truncated) body: decoding it would need gigabytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + \
        chunk(b"IEND", b"")


def make_corpus(folder: str | os.PathLike, seed: int = 0) -> dict[str, str]:
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photo = Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    made: dict[str, str] = {}

    def put(name: str, data: bytes, what: str) -> None:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        made[name] = what

    def save(name: str, img: Image.Image, what: str, **kw) -> None:
        buf = io.BytesIO()
        img.save(buf, **kw)
        put(name, buf.getvalue(), what)

    jpeg = io.BytesIO()
    photo.save(jpeg, format="JPEG", quality=90)
    jpeg = jpeg.getvalue()
    put("empty.jpg", b"", "empty file")
    put("text.jpg", b"just some text, not an image\n" * 20, "text named .jpg")
    put("page.png", b"<!doctype html><html><body><script>alert(1)</script></body></html>", "HTML named .png")
    put("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script><rect/></svg>",
        "SVG with a script")
    put("archive.zip", b"PK\x03\x04" + bytes(rng.integers(0, 255, 200, dtype=np.uint8)), "zip archive")
    put("truncated.jpg", jpeg[: len(jpeg) // 2], "JPEG cut in half")
    put("header_only.jpg", jpeg[:20], "JPEG header only")
    put("truncated.png", _png_bytes(photo)[:300], "PNG cut short")
    put("bomb.png", _bomb_png(100_000, 100_000), "PNG header claiming 100,000 x 100,000 pixels")
    put("wide_bomb.png", _bomb_png(2_000_000, 64), "PNG header claiming 2,000,000 x 64 pixels")
    put("garbage.bin", bytes(rng.integers(0, 255, 4096, dtype=np.uint8)), "random bytes")
    put("pdf.jpg", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "PDF named .jpg")
    put("elf.png", b"\x7fELF" + bytes(100), "executable header named .png")
    save("cmyk.jpg", photo.convert("CMYK"), "CMYK JPEG", format="JPEG")
    save("grey.png", photo.convert("L"), "greyscale PNG", format="PNG")
    save("grey_alpha.png", photo.convert("LA"), "greyscale + alpha PNG", format="PNG")
    save("palette.png", photo.convert("P", palette=Image.Palette.ADAPTIVE), "palette PNG", format="PNG")
    pal = photo.convert("P", palette=Image.Palette.ADAPTIVE)
    save("palette_transparent.png", pal, "palette PNG with a transparent colour", format="PNG", transparency=0)
    save("rgba.png", photo.convert("RGBA"), "RGBA PNG", format="PNG")
    wide = np.asarray(photo.convert("L"), np.uint16) * 257
    save("sixteen_bit.png", Image.fromarray(wide), "16-bit greyscale PNG", format="PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    save("exif_rotated.jpg", photo, "JPEG with EXIF orientation 6", format="JPEG", exif=exif)
    frames = [photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    put("animated.gif", buf.getvalue(), "animated GIF")
    save("photo.webp", photo, "WebP", format="WEBP")
    save("photo.bmp", photo, "BMP", format="BMP")
    save("photo.tif", photo, "TIFF", format="TIFF")
    save("tiny.png", photo.resize((1, 1)), "1 x 1 pixel PNG", format="PNG")
    put("jpeg_named.png", jpeg, "JPEG named .png")
    put("no_extension", jpeg, "JPEG without an extension")
    put("name with spaces é 漢字.jpg", jpeg, "non-ASCII name with spaces")
    put("deep/er/still/deeper.jpg", jpeg, "nested folders")
    put(".hidden.jpg", jpeg, "hidden file (skipped by design)")
    (root / "folder.jpg").mkdir(exist_ok=True)  # a directory with an image name: not a file to check
    outside = root.parent / f"{root.name}-outside.jpg"
    outside.write_bytes(jpeg)
    os.symlink(outside, root / "link_outside.jpg")
    made["link_outside.jpg"] = "symbolic link out of the folder"
    os.symlink(root / "photo.bmp", root / "link_inside.bmp")
    made["link_inside.bmp"] = "symbolic link inside the folder"
    os.symlink(root / "gone.jpg", root / "broken_link.jpg")
    made["broken_link.jpg"] = "broken symbolic link"
    os.symlink(root / "loop_b.jpg", root / "loop_a.jpg")
    os.symlink(root / "loop_a.jpg", root / "loop_b.jpg")
    made["loop_a.jpg"] = made["loop_b.jpg"] = "symbolic link loop"
    os.symlink(root, root / "deep" / "back_to_root")  # a folder loop: not followed twice
    os.mkfifo(root / "pipe.jpg")
    made["pipe.jpg"] = "named pipe (would block a reader)"
    made.pop(".hidden.jpg")
    return made
