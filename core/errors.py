"""Error types raised by photoscribe.core.

Every error says what happened *and* what the user can do about it, so the
CLI and the desktop app can show the message as-is.
"""

from __future__ import annotations


class PhotoscribeError(Exception):
    """Base class for all errors photoscribe raises on purpose."""


class ModelLoadError(PhotoscribeError):
    """A checkpoint or model file could not be loaded (missing, corrupt, hostile, wrong schema)."""


class AssetMissingError(PhotoscribeError):
    """A required local asset (encoder weights, word vectors, data set) is not on this machine."""


class UnsupportedImageError(PhotoscribeError):
    """A file is not an image we can decode (corrupt, truncated, unknown format, too large)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class CaptioningError(PhotoscribeError):
    """A model could not caption a batch (e.g. its weights give no finite score: a broken checkpoint)."""


class LibraryError(PhotoscribeError):
    """The photo library database could not do what was asked."""


class ExportError(LibraryError):
    """An export was refused (it would overwrite a photo or an existing file) or could not be written."""


class DataError(PhotoscribeError):
    """A data set file is malformed; the message names the file and line."""


class CancelledError(PhotoscribeError):
    """Long work stopped because its cancel event was set."""
