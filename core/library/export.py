"""Alt-text export of each photo's best caption: CSV, JSON, HTML and XMP sidecars.

Every exporter takes a ``scope`` (:class:`~photoscribe.core.library.export_scope.ExportScope`:
chosen photos, or a search, folder or filter; the whole library by default), ``reviewed_only``
(export only captions a person wrote or approved: the default, except for XMP sidecars),
``include_low_confidence``, ``on_progress`` and ``cancel`` and returns an
:class:`ExportSummary`. CSV, JSON and HTML say which captions a model wrote
(``machine_generated``: the text is not a person's, even when a person approved it). Each photo's keywords and its caption's confidence go along (CSV,
JSON, HTML columns; ``dc:subject`` in XMP, merged with the sidecar's).

An unreviewed model caption whose confidence is below
:data:`~photoscribe.core.captioning.results.LOW_CONFIDENCE` may name objects that are not in the
photo: it is left out of alt-text exports unless ``include_low_confidence`` is set, and
:attr:`ExportSummary.low_confidence` says how many were left out.
Alt text is kept under :data:`ALT_TEXT_LIMIT` characters, cut at a word
boundary with an ellipsis; the full text then goes to the extended
description. Photos that are missing on disk, or have no (reviewed) caption,
are skipped. Single-file exports are written atomically, and a cancelled
export leaves no file behind.
"""

from __future__ import annotations

import csv
import glob
import html
import io
import json
import logging
import os
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from photoscribe.core.captioning.results import LOW_CONFIDENCE
from photoscribe.core.errors import DiskFullError, ExportError, disk_full_cause
from photoscribe.core.files.tempfiles import StaleTempSweeper, remove_stale_temps
from photoscribe.core.library.captions import best_caption_subquery
from photoscribe.core.library.export_scope import WHOLE_LIBRARY, ExportScope
from photoscribe.core.library.keywords import keywords_by_photo
from photoscribe.core.library.schema import Caption, Photo, PhotoStatus
from photoscribe.core.library.xmp import (
    FIELD_NAMES,
    SIDECAR_EXT,
    SIDECAR_NAMES,
    AccessibilityText,
    XmpError,
    atomic_write,
    choose_sidecar,
    write_sidecar,
)
from photoscribe.core.progress import ProgressCallback, ProgressTracker, check_cancel

if TYPE_CHECKING:
    from typing import Unpack

    from photoscribe.core.library.database import Library

log = logging.getLogger(__name__)

ALT_TEXT_LIMIT = 250  # IPTC: "should not exceed 250 characters"; ours are strictly shorter
CSV_COLUMNS = (
    "path",
    "alt_text",
    "extended_description",
    "language",
    "source",
    "score",
    "reviewed",
    "keywords",
    "confidence",
    "machine_generated",
)
KEYWORD_SEPARATOR = "; "  # between keywords in a CSV cell
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PROGRESS_EVERY = 50


@dataclass(frozen=True)
class ExportItem:
    """One photo's exportable text."""

    photo_id: int
    path: str
    alt_text: str
    extended: str | None
    text: str
    language: str
    source: str
    score: float | None
    reviewed: bool
    keywords: tuple[str, ...] = ()
    confidence: float | None = None
    machine_generated: bool = False  # a model's text (approved or not), not a person's or imported


@dataclass(frozen=True)
class ExportSummary:
    """What an export did. ``failed`` pairs a path with the reason it was not written.

    ``skipped``: photos without a (reviewed) caption; ``low_confidence``: photos left out
    because their unreviewed caption is low confidence (``include_low_confidence`` exports them);
    ``unreviewed``: of ``skipped``, photos whose caption nobody reviewed (``reviewed_only``);
    ``files``: the files written;
    ``kept``: XMP sidecars where a person's text was left in place, each with the properties kept
    (``"description"``, ``"alt text"``, ``"extended description"``).
    """

    written: int
    skipped: int
    failed: tuple[tuple[str, str], ...] = ()
    out_path: Path | None = None
    low_confidence: int = 0
    kept: tuple[tuple[str, tuple[str, ...]], ...] = ()
    unreviewed: int = 0
    files: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready report: counts, what was skipped and why, the files written, failures."""
        return {
            "written": self.written,
            "skipped": {
                "total": self.skipped + self.low_confidence,
                "no_caption": self.skipped - self.unreviewed,
                "not_reviewed": self.unreviewed,
                "low_confidence": self.low_confidence,
            },
            "files": list(self.files),
            "out_path": None if self.out_path is None else str(self.out_path),
            "failed": [{"path": path, "reason": reason} for path, reason in self.failed],
            "kept": [{"path": path, "fields": list(fields)} for path, fields in self.kept],
        }

    def kept_note(self) -> str:
        """ "kept your description in 3 sidecars" (or ""); the sidecars are in :attr:`kept`."""
        if not self.kept:
            return ""
        found = {name for _, names in self.kept for name in names}
        fields = [name for name in FIELD_NAMES.values() if name in found]
        what = ", ".join(fields[:-1]) + " and " + fields[-1] if len(fields) > 1 else fields[0]
        noun = "sidecar" if len(self.kept) == 1 else "sidecars"
        return f"kept your {what} in {len(self.kept)} {noun}"

    def low_confidence_note(self, option: str = "--include-low-confidence") -> str:
        """ "12 low-confidence captions left out; --include-low-confidence exports them" (or "")."""
        if not self.low_confidence:
            return ""
        noun = "caption" if self.low_confidence == 1 else "captions"
        return f"{self.low_confidence} low-confidence {noun} left out; {option} exports them"


def split_alt_text(text: str, limit: int = ALT_TEXT_LIMIT) -> tuple[str, str | None]:
    """``(alt_text, extended)``: the text itself and ``None`` if shorter than ``limit``, else a
    word-boundary cut ending in "…" (shorter than ``limit``) and the full text."""
    flat = " ".join(text.split())
    if len(flat) < limit:
        return flat, None
    budget = limit - 2  # room for the ellipsis, strictly under the limit
    cut = flat[: budget + 1]
    space = cut.rfind(" ")
    cut = cut[:space] if space > budget // 2 else flat[:budget]
    cut = cut.rstrip(" ,;:.!?-–—")
    return cut + "…", text.strip()


def neutralize_formula(value: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would run as a formula (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def export_items(
    library: Library,
    *,
    scope: ExportScope = WHOLE_LIBRARY,
    reviewed_only: bool = True,
    include_low_confidence: bool = False,
) -> tuple[list[ExportItem], int, int, int]:
    """The items in ``scope`` to export, ordered by path; how many present photos in scope were
    skipped (no caption to export); how many were left out as low confidence; and how many of
    the skipped had a caption nobody reviewed (``reviewed_only``).

    ``include_low_confidence`` only matters for unreviewed captions, so with ``reviewed_only``
    it changes nothing (a reviewed caption is exported whatever its confidence)."""
    ranked = best_caption_subquery()
    best = aliased(Caption, ranked)
    stmt = (
        select(
            Photo.id,
            Photo.path,
            best.text,
            best.source,
            best.score,
            best.language,
            best.is_user,
            best.reviewed,
            best.confidence,
        )
        .join(ranked, and_(ranked.c.photo_id == Photo.id, ranked.c.rn == 1))
        .where(Photo.status != PhotoStatus.MISSING)
        .order_by(Photo.path)
    )
    present_stmt = select(func.count()).select_from(Photo).where(Photo.status != PhotoStatus.MISSING)
    in_scope = scope.clause(library)
    if in_scope is not None:
        stmt = stmt.where(in_scope)
        present_stmt = present_stmt.where(in_scope)
    with library.session() as session:
        rows = session.execute(stmt).all()
        present = session.scalar(present_stmt)
        keywords = keywords_by_photo(session, [row.id for row in rows])
    items = []
    low = unreviewed = 0
    for row in rows:
        reviewed = bool(row.is_user or row.reviewed)
        if reviewed_only and not reviewed:
            unreviewed += 1
            continue
        low_confidence = row.confidence is not None and row.confidence < LOW_CONFIDENCE
        if low_confidence and not (reviewed or include_low_confidence):
            low += 1
            continue
        alt, extended = split_alt_text(row.text)
        items.append(
            ExportItem(
                photo_id=row.id,
                path=row.path,
                alt_text=alt,
                extended=extended,
                text=row.text,
                language=row.language,
                source=row.source,
                score=row.score,
                reviewed=reviewed,
                keywords=tuple(k.word for k in keywords.get(row.id, [])),
                confidence=row.confidence,
                machine_generated=not row.is_user,
            )
        )
    return items, int(present or 0) - len(items) - low, low, unreviewed


def _run(
    items: list[ExportItem],
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
    message: str,
) -> Iterator[ExportItem]:
    """Yield items, reporting progress and honouring ``cancel`` (raises CancelledError)."""
    tracker = ProgressTracker("export", len(items), on_progress)
    for index, item in enumerate(items):
        check_cancel(cancel)
        yield item
        if (index + 1) % _PROGRESS_EVERY == 0 or index + 1 == len(items):
            tracker.update(index + 1, message)


# Photo, raw and video file types: an export never writes a file with one of these names.
PHOTO_SUFFIXES = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".gif",
        ".bmp",
        ".tif",
        ".tiff",
        ".webp",
        ".heic",
        ".heif",
        ".avif",
        ".jxl",
        ".jp2",
        ".ico",
        ".psd",
        ".dng",
        ".cr2",
        ".cr3",
        ".nef",
        ".nrw",
        ".arw",
        ".srf",
        ".sr2",
        ".orf",
        ".rw2",
        ".raf",
        ".pef",
        ".srw",
        ".x3f",
        ".3fr",
        ".iiq",
        ".erf",
        ".kdc",
        ".mos",
        ".mp4",
        ".mov",
        ".m4v",
        ".avi",
        ".mkv",
        ".mts",
        ".3gp",
    ]
)


def check_export_target(library: Library, out_path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """The file an export may write, or :class:`ExportError` saying why not.

    Never a photo: not a file of the library, not a name with a photo or video extension (a
    mistyped ``--out photo.jpg`` must not turn a photo into HTML). An existing file only with
    ``overwrite`` (the CLI's ``--force``, or the user confirming in the app).
    """
    out = Path(out_path).expanduser()
    if out.suffix.lower() in PHOTO_SUFFIXES:
        raise ExportError(
            f"refusing to write the export to {out}: that is a photo's file name ({out.suffix}); "
            "choose a name ending in .csv, .json or .html"
        )
    if out.is_dir():
        raise ExportError(f"{out} is a folder; give a file name for the export")
    if library.get_photo(out.absolute()) is not None or (out.exists() and library.get_photo(out.resolve())):
        raise ExportError(f"refusing to write the export over {out}: it is a photo in the library")
    if out.exists() and not overwrite:
        raise ExportError(f"{out} already exists; choose another name, or overwrite it with --force")
    remove_stale_temps(out.absolute().parent)  # left by an export that was killed
    return out


class FileExportOptions(TypedDict, total=False):
    """What a file export takes besides the library and the file (defaults in :func:`_export_file`)."""

    scope: ExportScope
    reviewed_only: bool
    include_low_confidence: bool
    on_progress: ProgressCallback | None
    cancel: threading.Event | None
    overwrite: bool


# Turns the photos to export (all of them, and the same yielded with progress) into the file's bytes.
Render = Callable[[list[ExportItem], Iterator[ExportItem], Path], bytes]


def _export_file(
    library: Library,
    out_path: str | os.PathLike[str],
    kind: str,
    render: Render,
    *,
    scope: ExportScope = WHOLE_LIBRARY,
    reviewed_only: bool = True,
    include_low_confidence: bool = False,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    overwrite: bool = False,
) -> ExportSummary:
    """Write one export file (``kind``: CSV, JSON, HTML) of the photos in ``scope``, atomically."""
    out = check_export_target(library, out_path, overwrite=overwrite)
    items, skipped, low, unreviewed = export_items(
        library, scope=scope, reviewed_only=reviewed_only, include_low_confidence=include_low_confidence
    )
    atomic_write(out, render(items, _run(items, on_progress, cancel, kind), out))
    return ExportSummary(len(items), skipped, (), out, low, unreviewed=unreviewed, files=(str(out),))


def export_csv(
    library: Library, out_path: str | os.PathLike[str], **options: Unpack[FileExportOptions]
) -> ExportSummary:
    """A UTF-8 (with BOM, for spreadsheets) CSV with :data:`CSV_COLUMNS`; text cells are formula-safe."""
    return _export_file(library, out_path, "CSV", _csv_bytes, **options)


def _csv_bytes(items: list[ExportItem], run: Iterator[ExportItem], out: Path) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in run:
        writer.writerow(
            [
                neutralize_formula(item.path),
                neutralize_formula(item.alt_text),
                neutralize_formula(item.extended or ""),
                neutralize_formula(item.language),
                neutralize_formula(item.source),
                "" if item.score is None else repr(float(item.score)),
                "true" if item.reviewed else "false",
                neutralize_formula(KEYWORD_SEPARATOR.join(item.keywords)),
                "" if item.confidence is None else repr(float(item.confidence)),
                "true" if item.machine_generated else "false",
            ]
        )
    return buffer.getvalue().encode("utf-8-sig")


def export_json(
    library: Library, out_path: str | os.PathLike[str], **options: Unpack[FileExportOptions]
) -> ExportSummary:
    """A JSON array of objects named after the IPTC properties (``AltTextAccessibility``, ...)."""
    return _export_file(library, out_path, "JSON", _json_bytes, **options)


def _json_bytes(items: list[ExportItem], run: Iterator[ExportItem], out: Path) -> bytes:
    records = [
        {
            "path": item.path,
            "AltTextAccessibility": item.alt_text,
            "ExtDescrAccessibility": item.extended,
            "language": item.language,
            "source": item.source,
            "score": item.score,
            "reviewed": item.reviewed,
            "keywords": list(item.keywords),
            "confidence": item.confidence,
            "machine_generated": item.machine_generated,
        }
        for item in run
    ]
    return (json.dumps(records, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def image_src(photo_path: str, page_dir: Path) -> str:
    """A percent-encoded URL for ``photo_path`` relative to the page (absolute file URI if none exists)."""
    try:
        relative = Path(os.path.relpath(photo_path, page_dir))
    except ValueError:  # another drive on Windows
        return Path(photo_path).as_uri()
    return urllib.parse.quote(relative.as_posix(), safe="/")


_HTML_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src * data: file:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Photo alt text</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1rem; }
figure { display: inline-block; vertical-align: top; width: 320px; margin: 0.5rem; }
img { max-width: 100%; height: auto; }
figcaption { font-size: 0.9rem; }
</style>
</head>
<body>
<main>
<h1>Photo alt text</h1>
"""


def export_html(
    library: Library, out_path: str | os.PathLike[str], **options: Unpack[FileExportOptions]
) -> ExportSummary:
    """A static page of ``<figure><img alt><figcaption>``; every value is escaped, scripts are blocked.

    Accessible: ``<html lang>``, a ``<title>``, one ``<h1>`` inside one ``<main>``, and each
    figure's own ``lang``. A screen reader reads each description once: the ``alt`` holds the
    alt text, and a visible caption that repeats it word for word is ``aria-hidden``. A caption
    longer than the alt text (the alt text was shortened) is the extended description and is
    read after the alt text. Keywords and confidence are read too.
    """
    return _export_file(library, out_path, "HTML", _html_bytes, **options)


def _html_bytes(items: list[ExportItem], run: Iterator[ExportItem], out: Path) -> bytes:
    page_dir = out.expanduser().absolute().parent
    parts = [_HTML_HEAD]
    noun = "photo" if len(items) == 1 else "photos"
    parts.append(f"<p>{len(items)} {noun}; each image's alt text is shown below it.</p>\n")
    for item in run:
        src = html.escape(image_src(item.path, page_dir), quote=True)
        alt = html.escape(item.alt_text, quote=True)
        lang = html.escape(item.language, quote=True)
        caption = html.escape(item.text, quote=True)
        details = []
        if item.keywords:
            details.append("Keywords: " + html.escape(", ".join(item.keywords), quote=True))
        if item.confidence is not None:
            details.append(f"confidence {item.confidence:.2f}")
        if item.machine_generated:
            details.append('<span class="machine">machine-generated</span>')
        extra = f'<br><small class="keywords">{"; ".join(details)}</small>' if details else ""
        # The same words as the alt: shown, but not read a second time.
        hidden = ' aria-hidden="true"' if item.extended is None else ""
        parts.append(
            f'<figure lang="{lang}"><img src="{src}" alt="{alt}" loading="lazy">'
            f"<figcaption><span{hidden}>{caption}</span>{extra}</figcaption></figure>\n"
        )
    parts.append("</main>\n</body>\n</html>\n")
    return "".join(parts).encode("utf-8")


def _stem_shared(photo_path: str) -> bool:
    """Whether another photo in the folder has the same stem (``IMG.CR2`` beside ``IMG.jpg``)."""
    photo = Path(photo_path)
    pattern = glob.escape(photo.stem) + ".*"
    return any(
        other.name != photo.name and other.stem == photo.stem and other.suffix.lower() in PHOTO_SUFFIXES
        for other in photo.parent.glob(pattern)
    )


def write_xmp_sidecars(
    library: Library,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    scope: ExportScope = WHOLE_LIBRARY,
    reviewed_only: bool = False,
    include_low_confidence: bool = False,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    xmp_sidecar_name: str = SIDECAR_EXT,
) -> ExportSummary:
    """Write or merge a sidecar beside each photo, or under ``out_dir`` mirroring the tree.

    The sidecar is the one that exists, ``IMG.jpg.xmp`` or ``IMG.xmp`` (rule:
    :func:`~photoscribe.core.library.xmp.choose_sidecar`); where none does, a new one is named
    as ``xmp_sidecar_name`` says: ``"photo.jpg.xmp"`` (digiKam, darktable) or ``"photo.xmp"``
    (Lightroom). A person's description and alt text are never replaced; the summary's ``kept``
    lists the sidecars where they were left in place.

    A sidecar that exists but cannot be parsed, or a folder that is not
    writable, is reported in ``failed`` and the export goes on. A cancelled
    export keeps the sidecars already written and raises CancelledError.
    """
    if xmp_sidecar_name not in SIDECAR_NAMES:
        raise ExportError(
            f"unknown sidecar name {xmp_sidecar_name!r}; choose one of {', '.join(SIDECAR_NAMES)}"
        )
    items, skipped, low, unreviewed = export_items(
        library, scope=scope, reviewed_only=reviewed_only, include_low_confidence=include_low_confidence
    )
    target_dir = Path(out_dir).expanduser().absolute() if out_dir is not None else None
    root: Path | None = None
    if target_dir is not None and items:
        root = Path(os.path.commonpath([os.path.dirname(item.path) for item in items]))
    written = 0
    failed: list[tuple[str, str]] = []
    kept: list[tuple[str, tuple[str, ...]]] = []
    files: list[str] = []
    sweep = StaleTempSweeper()  # temporary sidecars left by a run that was killed
    for item in _run(items, on_progress, cancel, "XMP"):
        if target_dir is None and not os.path.exists(item.path):
            failed.append((item.path, "the photo is no longer there"))
            continue
        path = choose_sidecar(
            item.path, target_dir, root, create_as=xmp_sidecar_name, stem_shared=_stem_shared(item.path)
        )
        text = AccessibilityText(
            item.alt_text, item.extended, item.text, item.language, item.keywords, item.machine_generated
        )
        try:
            sweep(path)
            kept_fields = write_sidecar(path, text)
        except (XmpError, OSError) as exc:
            if disk_full_cause(exc) is not None:  # every next sidecar would fail the same way: stop
                raise DiskFullError(
                    f"the disk is full (writing {path}); free some space and run the export "
                    f"again ({written} sidecars were written before it)"
                ) from exc
            log.warning("could not write %s: %s", path, exc)
            failed.append((item.path, str(exc)))
            continue
        written += 1
        files.append(str(path))
        if kept_fields:
            kept.append((str(path), kept_fields))
    return ExportSummary(
        written, skipped, tuple(failed), target_dir, low, tuple(kept), unreviewed, tuple(files)
    )


EXPORTERS = {
    "csv": export_csv,
    "json": export_json,
    "html": export_html,
}
