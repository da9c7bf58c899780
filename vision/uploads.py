"""Stage: accept files a user uploaded (the web app) into a private folder, safely.

Only images in the loader's accepted formats get through, sniffed from their bytes (the name's suffix proves
nothing); zip archives are unpacked entry by entry with each entry's size capped while it is read (a header can
lie), and no entry can land outside the folder (absolute names, `..`, links are refused). Every refused file is
reported with its reason; nothing is silently dropped.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Sequence

from PIL import Image, UnidentifiedImageError

from .load import ACCEPTED_FORMATS
from .svg import looks_like_svg

__all__ = ["UploadLimits", "Accepted", "accept_uploads"]

_UNSAFE = re.compile(r"[^\w.\- ]+")


@dataclass(frozen=True)
class UploadLimits:
    max_files: int = 1000  # images accepted per upload (zip entries included)
    max_file_bytes: int = 25 * 1024 * 1024
    max_total_bytes: int = 1024 * 1024 * 1024  # all accepted bytes, archives unpacked


@dataclass
class Accepted:
    files: list[Path] = field(default_factory=list)  # copies inside the destination folder
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (name as uploaded, reason)
    _bytes: int = 0


def accept_uploads(paths: Sequence[str | os.PathLike], dest: str | os.PathLike,
                   limits: UploadLimits = UploadLimits(),
                   roots: Sequence[str | os.PathLike] | None = None, svg: bool = False) -> Accepted:
    """Copy the images among `paths` (image files or .zip archives of them) into `dest`, which must be empty or
    new. With `roots`, a path that does not lie inside one of those folders is refused (the app passes its
    upload folder, so a request cannot name an arbitrary server file). With `svg`, SVG documents pass too (logo
    files: gallery.add_references vets them). Returns what was accepted and refused."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    allowed = [Path(r).resolve() for r in roots] if roots is not None else None
    out = Accepted()
    for p in map(Path, paths):
        name = p.name
        real = p.resolve()
        if allowed is not None and not any(real.is_relative_to(r) for r in allowed):
            out.rejected.append((name, "not an uploaded file"))
        elif not real.is_file():
            out.rejected.append((name, "not a file"))
        elif zipfile.is_zipfile(real):
            _unzip(real, name, dest, limits, out, svg)
        else:
            with open(real, "rb") as f:
                _take(f, name, real.stat().st_size, dest / _safe_name(name), limits, out, svg)
    return out


def _unzip(path: Path, label: str, dest: Path, limits: UploadLimits, out: Accepted, svg: bool) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        out.rejected.append((label, f"unreadable zip archive: {e}"))
        return
    with zf:
        for info in zf.infolist():
            where = f"{label}:{info.filename}"
            if info.is_dir():
                continue
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if (not parts or info.filename.startswith(("/", "\\")) or ".." in parts
                    or re.match(r"^[A-Za-z]:", info.filename)):
                out.rejected.append((where, "entry path escapes the archive's folder; refused"))
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                out.rejected.append((where, "entry is a symbolic link; refused"))
                continue
            if any(p.startswith(".") for p in parts) or parts[0] == "__MACOSX":
                continue  # resource forks and hidden files, not listing photos
            target = dest.joinpath(*(_safe_name(p) for p in parts))
            try:
                with zf.open(info) as f:
                    _take(f, where, info.file_size, target, limits, out, svg)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as e:
                out.rejected.append((where, f"unreadable zip entry: {e}"))


def _take(src, label: str, declared: int, target: Path, limits: UploadLimits, out: Accepted, svg: bool = False
          ) -> None:
    """Copy one candidate file (a binary stream) to `target` if it is an accepted image within the limits."""
    if declared > limits.max_file_bytes:
        out.rejected.append((label, f"file too large: {declared} bytes (limit {limits.max_file_bytes})"))
        return
    data = src.read(limits.max_file_bytes + 1)  # a lying size header cannot make us read more
    if len(data) > limits.max_file_bytes:
        out.rejected.append((label, f"file too large (limit {limits.max_file_bytes} bytes)"))
        return
    if len(out.files) >= limits.max_files:
        out.rejected.append((label, f"too many files in one upload (limit {limits.max_files})"))
        return
    if out._bytes + len(data) > limits.max_total_bytes:
        out.rejected.append((label, f"upload too large in all (limit {limits.max_total_bytes} bytes)"))
        return
    if not data:
        out.rejected.append((label, "empty file (0 bytes)"))
        return
    kind = "SVG" if svg and looks_like_svg(data) else _sniff(data)
    if kind not in ACCEPTED_FORMATS | ({"SVG"} if svg else set()):
        allowed = ", ".join(sorted(ACCEPTED_FORMATS - {"MPO"} | ({"SVG"} if svg else set())))
        out.rejected.append((label, f"not an accepted image type ({kind or 'unrecognised'}); accepted: {allowed}"))
        return
    target = _unique(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    out.files.append(target)
    out._bytes += len(data)


def _sniff(data: bytes) -> str:
    """The image format named by the bytes' header ("" if none); decodes nothing."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.format or ""
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return ""


def _safe_name(name: str) -> str:
    """A file name that is one harmless path component; letters of any script are kept."""
    stem = _UNSAFE.sub("_", Path(name).name).strip(" .") or "upload"
    return stem[:120]


def _unique(target: Path) -> Path:
    n, candidate = 1, target
    while candidate.exists():
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
        n += 1
    return candidate

