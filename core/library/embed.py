"""Write alt text, description and keywords into the photo files themselves, on request only.

Sidecars (:mod:`~photoscribe.core.library.xmp`) are the default; some tools ignore them
(Lightroom for JPEGs, web uploads, content management systems), so a person may ask for the
text to go into the file. :func:`embed_in_file` writes, with exiv2:

* the file's XMP packet, merged exactly as a sidecar is (:func:`~photoscribe.core.library.xmp.merge_sidecar`):
  ``Iptc4xmpCore:AltTextAccessibility``, ``Iptc4xmpCore:ExtDescrAccessibility`` (long texts),
  ``dc:description`` and ``dc:subject``, with the same ``photoscribe:*Written`` provenance
  fingerprints, so a person's text is never replaced and no keyword is removed;
* IPTC ``Caption-Abstract`` and EXIF ``ImageDescription`` when the text is simple (ASCII, and
  short enough for IPTC), and IPTC ``Keywords`` (merged), where the format has them. These follow
  the same rule: written only when empty, equal to our text, or equal to what photoscribe wrote
  last (the recorded ``DescriptionWritten`` fingerprint).

Formats: JPEG, PNG, TIFF and WebP (WebP has no IPTC). HEIC/AVIF are refused: this exiv2 reads
BMFF files but cannot write them.

The write is atomic: exiv2 edits a copy in the same folder, which is fsynced and then moved over
the original with ``os.replace``. Any failure (including a full disk) leaves the original
untouched. Image data and every other metadata field are left as exiv2 found them.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import exiv2

from photoscribe.core.errors import LibraryError, UnsupportedImageError
from photoscribe.core.files.safe_files import check_photo_file
from photoscribe.core.files.tempfiles import StaleTempSweeper, temp_path_beside
from photoscribe.core.library.export import export_items
from photoscribe.core.library.export_scope import WHOLE_LIBRARY, ExportScope
from photoscribe.core.library.xmp import (
    ALT_TEXT,
    DESCRIPTION,
    EXT_DESCR,
    FIELD_NAMES,
    NS_PHOTOSCRIBE,
    AccessibilityText,
    XmpError,
    fingerprint,
    merge_keywords,
    merge_sidecar,
)
from photoscribe.core.progress import ProgressCallback, ProgressTracker

if TYPE_CHECKING:
    from photoscribe.core.library.database import Library

log = logging.getLogger(__name__)

EMBED_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".webp"})
_IPTC_CAPTION = "Iptc.Application2.Caption"
_IPTC_KEYWORDS = "Iptc.Application2.Keywords"
_EXIF_DESCRIPTION = "Exif.Image.ImageDescription"
_XMP_DESCRIPTION_WRITTEN = "Xmp.photoscribe.DescriptionWritten"
_IPTC_CAPTION_MAX = 2000  # bytes (IPTC IIM 2:120)
_IPTC_KEYWORD_MAX = 64  # bytes (IPTC IIM 2:25)
_INIT_LOCK = threading.Lock()
_initialised = False


class EmbedError(LibraryError):
    """A photo file could not be written; the original was left as it was."""


@dataclass(frozen=True)
class EmbedResult:
    """What :func:`embed_in_file` did: the fields it wrote, and those holding a person's text it kept."""

    written_fields: tuple[str, ...]
    kept_fields: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.written_fields)


@dataclass(frozen=True)
class EmbedSummary:
    """A batch: files written, files where a person's text was kept (with the fields), failures.

    ``cancelled``: the batch was stopped before its end; the counts say what was done until then
    (each file is either fully written or untouched).
    """

    written: int
    unchanged: int
    skipped: int
    kept: tuple[tuple[str, tuple[str, ...]], ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    cancelled: bool = False


@dataclass(frozen=True)
class EmbedPlan:
    """What :func:`embed_photos` would do for a scope, said before anything is written.

    Attributes:
        to_write: photos with a caption to write, in a format that can take it.
        unsupported: paths of photos with a caption whose format cannot be written (HEIC, ...).
        without_caption: photos in scope with no caption to write (none, or not reviewed).
        low_confidence: of ``without_caption``, unreviewed captions left out as low confidence.
    """

    to_write: int
    unsupported: tuple[str, ...]
    without_caption: int
    low_confidence: int = 0

    @property
    def in_scope(self) -> int:
        return self.to_write + len(self.unsupported) + self.without_caption


def can_embed(path: str | os.PathLike[str]) -> bool:
    """Whether :func:`embed_in_file` can write into a file of this format (by its suffix)."""
    return Path(path).suffix.lower() in EMBED_SUFFIXES


def _init() -> None:
    global _initialised
    with _INIT_LOCK:
        if not _initialised:
            exiv2.XmpParser.initialize()
            exiv2.XmpProperties.registerNs(NS_PHOTOSCRIBE, "photoscribe")
            _initialised = True


def _simple(text: str) -> bool:
    """Whether ``text`` can go into IPTC Caption-Abstract and EXIF ImageDescription as is."""
    return text.isascii() and text.isprintable() and len(text.encode()) <= _IPTC_CAPTION_MAX


def _set_description(
    data: Any, key: Any, label: str, description: str, recorded: str, written: list[str], kept: list[str]
) -> None:
    """Write ``description`` under ``key`` of EXIF or IPTC ``data`` if that field is ours to set
    (empty, or what photoscribe wrote), else note that a person's description was kept."""
    datum = _find(data, key)
    current = str(datum.toString()) if datum is not None else ""
    if _ours(current, description, recorded):
        data[key.key()] = description
        written.append(f"{label} description" if label == "EXIF" else f"{label} caption")
    elif "description" not in kept:
        kept.append("description")


def _find(data: Any, key: Any) -> Any | None:
    found = data.findKey(key)
    return None if found == data.end() else found


def _ours(current: str, new: str, recorded: str) -> bool:
    """The never-overwrite rule: a value is ours to set if empty, ours already, or what we wrote."""
    return not current.strip() or fingerprint(current) in (fingerprint(new), recorded)


def embed_in_file(path: str | os.PathLike[str], text: AccessibilityText) -> EmbedResult:
    """Merge ``text`` into the photo file at ``path`` (see the module docstring).

    Raises:
        EmbedError: the format cannot be written, exiv2 failed, or the file could not be replaced;
            the original is unchanged.
        XmpError: the file's XMP packet is not XMP we can merge into; the file is unchanged.
    """
    _init()
    photo = Path(path)
    if not can_embed(photo):
        raise EmbedError(
            f"cannot write metadata into {photo.suffix or 'this'} files; "
            f"supported: {', '.join(sorted(EMBED_SUFFIXES))} (use XMP sidecars for the others)"
        )
    if photo.exists() and not os.access(photo, os.W_OK):
        raise EmbedError(f"{photo.name} is read-only; make it writable to write into it")
    try:  # never copy a FIFO or a device (a link to /dev/zero would fill the disk)
        check_photo_file(photo)
    except UnsupportedImageError as exc:
        raise EmbedError(f"cannot write metadata into {photo.name}: {exc.reason}") from exc
    tmp = temp_path_beside(photo)  # a short name: the photo's own may be near the 255-byte limit
    try:
        try:
            shutil.copy2(photo, tmp)
        except PermissionError as exc:
            if os.fspath(exc.filename or "") != os.fspath(tmp):
                raise EmbedError(
                    f"cannot read {photo.name} ({exc.strerror or exc}); check its permissions"
                ) from exc
            raise EmbedError(
                f"cannot write in the folder {photo.parent} ({exc.strerror or exc}); "
                "make it writable to write into its photos"
            ) from exc
        result = _edit(tmp, text)
        if result.changed:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, photo)
            _fsync_dir(photo.parent)
            log.info("wrote %s into %s", ", ".join(result.written_fields), photo)
        return result
    except exiv2.Exiv2Error as exc:
        raise EmbedError(f"exiv2 could not write {photo.name}: {exc}; the file was not changed") from exc
    except OSError as exc:
        raise EmbedError(f"could not write {photo.name}: {exc}; the file was not changed") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; os.replace is durable enough there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _edit(path: Path, text: AccessibilityText) -> EmbedResult:
    """Edit the file at ``path`` in place (it is the temporary copy)."""
    image = exiv2.ImageFactory.open(str(path))
    image.readMetadata()
    xmp_data = image.xmpData()
    datum = _find(xmp_data, exiv2.XmpKey(_XMP_DESCRIPTION_WRITTEN))
    recorded = str(datum.toString()).strip() if datum is not None else ""
    packet = image.xmpPacket()
    merged = merge_sidecar(packet.encode("utf-8") if packet.strip() else None, text)
    kept = list(merged.kept)
    written = [
        FIELD_NAMES[tag]
        for tag, value in (
            (DESCRIPTION, text.description),
            (ALT_TEXT, text.alt_text),
            (EXT_DESCR, text.extended),
        )
        if value is not None and FIELD_NAMES[tag] not in merged.kept
    ]
    if text.keywords:
        written.append("keywords")
    image.setXmpPacket(merged.data.decode("utf-8"))
    image.writeXmpFromPacket(True)

    description = " ".join(text.description.split())
    if image.checkMode(exiv2.MetadataId.mdExif) & exiv2.AccessMode.amWrite and _simple(description):
        _set_description(
            image.exifData(), exiv2.ExifKey(_EXIF_DESCRIPTION), "EXIF", description, recorded, written, kept
        )
    if image.checkMode(exiv2.MetadataId.mdIptc) & exiv2.AccessMode.amWrite:
        iptc = image.iptcData()
        if _simple(description):
            _set_description(iptc, exiv2.IptcKey(_IPTC_CAPTION), "IPTC", description, recorded, written, kept)
        existing = [str(d.toString()) for d in iptc if d.key() == _IPTC_KEYWORDS]
        fits = [w for w in text.keywords if len(w.encode()) <= _IPTC_KEYWORD_MAX]
        # merge_keywords lists the existing ones (duplicates dropped) first, then ours to add.
        added = merge_keywords(existing, fits)[len({w.strip().casefold() for w in existing}) :]
        for word in added:
            iptc.add(exiv2.IptcKey(_IPTC_KEYWORDS), exiv2.StringValue(word))
        if added:
            written.append("IPTC keywords")
    image.writeMetadata()
    del image
    return EmbedResult(tuple(written), tuple(kept))


def plan_embed(
    library: Library, scope: ExportScope = WHOLE_LIBRARY, *, reviewed_only: bool = True
) -> EmbedPlan:
    """What :func:`embed_photos` would write for ``scope``: how many files, which it cannot write."""
    items, skipped, low, _unreviewed = export_items(library, scope=scope, reviewed_only=reviewed_only)
    unsupported = tuple(item.path for item in items if not can_embed(item.path))
    return EmbedPlan(len(items) - len(unsupported), unsupported, skipped + low, low)


def embed_photos(
    library: Library,
    photo_ids: Iterable[int] | None = None,
    *,
    scope: ExportScope | None = None,
    reviewed_only: bool = True,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> EmbedSummary:
    """Embed each photo's best caption and keywords into its file.

    ``photo_ids`` names the photos; else ``scope`` (the app's selection or view); neither means
    every photo. Only photos with a caption; with ``reviewed_only`` (the default) only captions a
    person wrote or approved, and never an unreviewed low-confidence one. A failure is recorded
    per file and the batch goes on. When ``cancel`` is set the batch stops between two files and
    returns what it did so far with ``cancelled`` set: every file is either fully written or
    untouched.
    """
    if photo_ids is not None:
        photo_ids = tuple(photo_ids)
        scope = ExportScope(photo_ids=photo_ids)
    items, skipped, low, _unreviewed = export_items(
        library, scope=scope or WHOLE_LIBRARY, reviewed_only=reviewed_only
    )
    if photo_ids is not None:
        skipped = len(set(photo_ids)) - len(items)
    else:
        skipped += low
    tracker = ProgressTracker("write-metadata", len(items), on_progress)
    written = unchanged = 0
    kept: list[tuple[str, tuple[str, ...]]] = []
    failed: list[tuple[str, str]] = []
    sweep = StaleTempSweeper()  # copies left by a run that was killed
    for index, item in enumerate(items):
        if cancel is not None and cancel.is_set():
            log.info("write-metadata cancelled after %d of %d photos", index, len(items))
            return EmbedSummary(written, unchanged, skipped, tuple(kept), tuple(failed), cancelled=True)
        text = AccessibilityText(
            item.alt_text, item.extended, item.text, item.language, item.keywords, item.machine_generated
        )
        try:
            if not os.path.exists(item.path):
                raise EmbedError("the photo is no longer there")
            sweep(item.path)
            result = embed_in_file(item.path, text)
        except (EmbedError, XmpError) as exc:
            log.warning("could not write into %s: %s", item.path, exc)
            failed.append((item.path, str(exc)))
        else:
            written += result.changed
            unchanged += not result.changed
            if result.kept_fields:
                kept.append((item.path, result.kept_fields))
        tracker.update(index + 1, os.path.basename(item.path))
    return EmbedSummary(written, unchanged, skipped, tuple(kept), tuple(failed))
