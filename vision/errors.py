"""Exceptions. Every error the library raises on purpose is an AuthcheckError with a message a user can act on."""

__all__ = ["AuthcheckError", "ImageError", "BrandNameError", "GalleryError", "IndexMismatchError", "ModelError"]


class AuthcheckError(Exception):
    """Base class: a clear, user-facing failure."""


class ImageError(AuthcheckError):
    """An input file is not a usable image (unreadable, truncated, too large, wrong type)."""


class BrandNameError(AuthcheckError):
    """A brand name is not a safe slug."""


class GalleryError(AuthcheckError):
    """The reference gallery is missing, malformed or inconsistent."""


class IndexMismatchError(GalleryError):
    """The stored index was built by another embedder or is out of date with the gallery."""


class ModelError(AuthcheckError):
    """A model file is missing, corrupt, or disagrees with its manifest."""
