"""What the window's commands do to the library and the models: plain functions, no Qt.

The main window runs each of them as a background job (:class:`~photoscribe.desktop.workers.Job`)
and only shows the result, so they are tested without a window.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from photoscribe.core import paths
from photoscribe.core.library import Library
from photoscribe.core.library.scanner import ScanReport


def import_model_file(source: str, *, on_progress: Any = None, cancel: Any = None) -> Path:
    """Check that ``source`` is a photoscribe checkpoint, then copy it into the models folder under a
    name of its own: ``best-<8 hex of its content>.pt``, so that every run's ``best.pt`` is kept (the
    same file imported twice is one copy). A file already in the models folder stays where it is."""
    from photoscribe.core.model.checkpoint import load_checkpoint  # torch: only when a model is imported

    load_checkpoint(source)  # raises ModelLoadError with the reason
    src = Path(source)
    folder = paths.models_dir()
    if src.resolve().parent == folder.resolve():
        return src
    digest = hashlib.sha256()
    with src.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    target = folder / f"{src.stem}-{digest.hexdigest()[:8]}{src.suffix}"
    folder.mkdir(parents=True, exist_ok=True)
    if not target.is_file():
        partial = target.with_name(f".{target.name}.partial")
        shutil.copy2(src, partial)
        os.replace(partial, target)  # never half a model under the final name
    return target


def photoscribe_version() -> str:
    """photoscribe's version ("0.1.0"), from core/version.py: right in a checkout too."""
    from photoscribe.core.version import __version__

    return __version__


def forget_photos(library: Library, photo_ids: Sequence[int]) -> int:
    """Remove photos and their captions from the library in one transaction (files untouched)."""
    return library.delete_photos(photo_ids)


def mark_all_reviewed(library: Library, photo_ids: Sequence[int]) -> list[int]:
    """Approve the model caption of each photo; returns the ids that changed."""
    return [pid for pid in photo_ids if library.mark_reviewed(pid) is not None]


def describe_scan(report: ScanReport) -> str:
    """``"12 added, 1 failed"``: the counts that are not zero (:meth:`ScanReport.describe`)."""
    return report.describe(changes_only=True)


def forget_failures(library: Library, photo_paths: Sequence[str]) -> int:
    """Clear the failures of these files so that the caption queue tries them again."""
    return sum(library.clear_failure(path) for path in photo_paths)


def recaption(
    library: Library, photo_ids: Sequence[int] | None, photo_paths: Sequence[str], model_id: str | None
) -> int:
    """Forget ``model_id``'s unreviewed captions and the failures of these photos (all when ``None``).

    The caption queue then captions them again; user and reviewed captions stay.
    Returns how many captions were forgotten.
    """
    forgotten = library.forget_model_captions(photo_ids, model_id)
    if photo_ids is None:
        library.reset_failures()
    else:
        forget_failures(library, photo_paths)
    return forgotten
