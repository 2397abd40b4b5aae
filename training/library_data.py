"""The photo library as a training set: the captions people wrote or approved.

"Retrain from the menu" means, once a default model exists, teaching the model
the user's own words for the user's own photos. :func:`export_library_dataset`
writes every photo with a preferred caption (written by the user, or a model
caption the user marked reviewed) into a Karpathy-format split file,
``dataset_library.json``, which :func:`~photoscribe.training.datasets.load_corpus`
reads like any other data set. Photos are referenced by absolute path (nothing is
copied) and keyed by their library id, so two photos named ``IMG_0001.JPG`` in
different folders stay apart.

The split is a stable hash of each photo's content (or path): a photo keeps its
split when the export runs again after more reviews, so validation photos never
leak into training between runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from photoscribe.core.errors import DataError
from photoscribe.core.library import Library, PhotoInfo
from photoscribe.core.library.schema import PhotoStatus

LIBRARY_DATASET_FILE = "dataset_library.json"
VAL_FRACTION = 0.1
MIN_PHOTOS = 2  # one to train on and one to validate with; far more are needed for a good model
ADVISED_PHOTOS = 1000  # below this, training alone on the library overfits (said in the report)
_PAGE = 500


@dataclass(frozen=True)
class LibraryDatasetReport:
    """What an export wrote: the split file and how many photos and captions went where."""

    path: Path
    photos: int
    train: int
    val: int
    skipped_missing: int

    def summary(self) -> str:
        text = (
            f"{self.photos:,} photos with a caption you wrote or reviewed ({self.train:,} to train on, "
            f"{self.val:,} to validate with) in {self.path}"
        )
        if self.skipped_missing:
            text += f"; {self.skipped_missing:,} whose files are missing were left out"
        if self.photos < ADVISED_PHOTOS:
            text += (
                f". With fewer than {ADVISED_PHOTOS:,} photos a model trained on them alone learns little:"
                " review more captions first"
            )
        return text + "."


def split_of(photo: PhotoInfo, val_fraction: float = VAL_FRACTION) -> str:
    """``"val"`` for a stable ``val_fraction`` of photos (by content hash, else path), else ``"train"``."""
    key = photo.content_hash or photo.path
    bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()[:8], "big")
    return "val" if bucket % 10_000 < val_fraction * 10_000 else "train"


def _earlier_splits(target: Path) -> dict[int, str]:
    """Photo id -> split of the export already at ``target`` (empty if none or unreadable)."""
    try:
        images = json.loads(target.read_text("utf-8"))["images"]
        return {int(e["cocoid"]): str(e["split"]) for e in images if e.get("split") in ("train", "val")}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def reviewed_photos(library: Library) -> tuple[list[tuple[PhotoInfo, str]], int]:
    """Every photo whose best caption a person wrote or approved, with that caption's text, and the
    number of such photos left out because their file is missing."""
    found: list[tuple[PhotoInfo, str]] = []
    missing = 0
    offset = 0
    while True:
        page = library.list_photos(limit=_PAGE, offset=offset)
        if not page:
            break
        offset += len(page)
        best = library.best_captions([p.id for p in page])
        for photo in page:
            caption = best.get(photo.id)
            if caption is None or not caption.preferred or not caption.text.strip():
                continue
            if photo.status == PhotoStatus.MISSING or not os.path.isfile(photo.path):
                missing += 1
                continue
            found.append((photo, caption.text.strip()))
    return found, missing


def export_library_dataset(
    library: Library, out_dir: str | os.PathLike[str], *, val_fraction: float = VAL_FRACTION
) -> LibraryDatasetReport:
    """Write the library's preferred captions as ``out_dir/dataset_library.json`` (atomically).

    Raises:
        DataError: fewer than two photos have a caption a person wrote or approved.
    """
    out = Path(out_dir)
    target = out / LIBRARY_DATASET_FILE
    earlier = _earlier_splits(target)
    photos, missing = reviewed_photos(library)
    entries: list[dict[str, object]] = []
    for photo, text in photos:
        folder, name = os.path.split(photo.path)
        entries.append(
            {
                "cocoid": photo.id,
                "filepath": folder,
                "filename": name,
                # The split an earlier export gave it, else its stable hash: a photo held out once
                # (even by the tiny-library rule below) never moves into training.
                "split": earlier.get(photo.id) or split_of(photo, val_fraction),
                "sentences": [{"raw": text}],
            }
        )
    if len(entries) < MIN_PHOTOS:
        raise DataError(
            f"only {len(entries)} photo(s) have a caption you wrote or reviewed; review or write captions "
            "(Mark reviewed, or edit a caption) for more photos before training on the library"
        )
    splits = [e["split"] for e in entries]
    if "val" not in splits:  # tiny libraries: hold one photo out so that validation means something
        entries[-1]["split"] = "val"
    elif "train" not in splits:
        entries[0]["split"] = "train"
    out.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps({"dataset": "library", "images": entries}, ensure_ascii=False), "utf-8")
    os.replace(partial, target)
    n_val = sum(e["split"] == "val" for e in entries)
    return LibraryDatasetReport(target, len(entries), len(entries) - n_val, n_val, missing)
