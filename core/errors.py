"""Error types raised by photoscribe.core.

Every error says what happened *and* what the user can do about it, so the
CLI and the desktop app can show the message as-is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

ErrorT = TypeVar("ErrorT", bound=BaseException)


class PhotoscribeError(Exception):
    """Base class for all errors photoscribe raises on purpose.

    ``exit_code`` is what every command exits with on this error, the one exit-code policy of the
    command line (the table in ``photoscribe --help``): 1 the command ran but something failed,
    2 it could not run (a bad argument, a model or asset it needs), 3 the library is busy,
    4 the disk is full; 130 is an interruption.
    """

    exit_code = 1


class UsageError(PhotoscribeError):
    """An argument's value cannot be used (an unknown device, a file where a folder is needed)."""

    exit_code = 2


class ModelLoadError(PhotoscribeError):
    """A checkpoint or model file could not be loaded (missing, corrupt, hostile, wrong schema)."""

    exit_code = 2


class AssetMissingError(PhotoscribeError):
    """A required local asset (encoder weights, word vectors, data set) is not on this machine."""

    exit_code = 2


class UnsupportedImageError(PhotoscribeError):
    """A file is not an image we can decode (corrupt, truncated, unknown format, too large)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class CaptioningError(PhotoscribeError):
    """A model could not caption a batch (e.g. its weights give no finite score: a broken checkpoint)."""


class BrokenModelError(CaptioningError):
    """A model produced no usable caption (scores that are not finite, empty captions) for several
    photos in a row: it is refused as broken and the run stops."""

    exit_code = 2


class LibraryError(PhotoscribeError):
    """The photo library database could not do what was asked."""


class LibraryReadOnlyError(LibraryError):
    """The library cannot be written (a read-only mount, file or folder, a full disk): it is open for reading."""

    exit_code = 2


class LibraryBusyError(LibraryError):
    """Another run is already captioning the library (one captioning run per library at a time)."""

    exit_code = 3


class DiskFullError(PhotoscribeError):
    """The disk (or the user's quota) is full; what was written before is kept, the rest is not."""

    exit_code = 4


def find_cause(
    exc: BaseException, kind: type[ErrorT], matches: Callable[[ErrorT], bool] = lambda _: True
) -> ErrorT | None:
    """The first error of ``kind`` behind ``exc`` (``exc`` included) that ``matches``, or ``None``.

    Looks through SQLAlchemy's ``orig`` and the ``__cause__``/``__context__`` chain, each error
    once, without importing SQLAlchemy.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind) and matches(current):
            return current
        orig = getattr(current, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None, current.__cause__, current.__context__]
    return None


def disk_full_cause(exc: BaseException) -> BaseException | None:
    """The "disk is full" error behind ``exc`` (SQLite's or the OS's), or ``None``.

    ``sqlite3`` says "database or disk is full" (SQLITE_FULL), the OS says ENOSPC or EDQUOT
    (:func:`find_cause` says where it looks).
    """
    return find_cause(exc, BaseException, _is_disk_full)


def _is_disk_full(error: BaseException) -> bool:
    import errno

    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return type(error).__name__ == "OperationalError" and "disk is full" in str(error)


class ExportError(LibraryError):
    """An export was refused (it would overwrite a photo or an existing file) or could not be written."""


class DataError(PhotoscribeError):
    """A data set file is malformed; the message names the file and line."""


class CancelledError(PhotoscribeError):
    """Long work stopped because its cancel event was set."""
