"""Notice XMP sidecars edited on their own and read the photo's descriptions again.

Lightroom, darktable and digiKam write a person's description into ``photo.jpg.xmp`` or
``photo.xmp`` without touching the photo, so the photo's size and mtime (what a rescan
compares) stay the same. Each photo therefore keeps a *sidecar stamp*
(``photos.sidecar_stamp``): the size and mtime of each of its sidecars when its metadata
was last read, ``NULL`` when it had none. A stamp that differs from the sidecars on disk
means a sidecar was written, replaced or deleted since: the photo's descriptions and
keywords are read again (:func:`~photoscribe.core.library.metadata.read_descriptions`,
sidecars and photo together) and stored as on import (a caption typed in photoscribe wins).

* A scan (:func:`sync_folder`) compares the stamps with the files its walk listed: no extra
  ``stat``, and only photos with a stamp or a sidecar on disk are looked at.
* The watcher (:func:`refresh`) maps a sidecar event to its photos: ``photo.jpg.xmp`` belongs
  to ``photo.jpg``, ``photo.xmp`` to every photo named ``photo.<extension>`` in that folder.
* A sidecar deleted: the imported caption goes away only when it came from a sidecar and
  nothing else provides one now; when the photo's own EXIF, IPTC or XMP has a description,
  that one becomes the imported caption.

Our own XMP export writing a sidecar changes its stamp, so the photo is read once more;
:mod:`.metadata` skips every text photoscribe wrote (its fingerprint is in the sidecar), so
nothing of ours is imported and nothing changes: the read is not reported as a change and
causes no further writes or captioning. The stamp is taken *before* the read, so a sidecar
written while it is being read is read again next time.
"""

from __future__ import annotations

import logging
import os
import stat as stat_mod
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from photoscribe.core.library import captions, photos
from photoscribe.core.library import keywords as kw
from photoscribe.core.library.database import Library
from photoscribe.core.library.metadata import ImportedText, read_descriptions, sidecar_candidates
from photoscribe.core.library.records import MODEL_KEYWORD_PREFIX, FolderInfo
from photoscribe.core.library.schema import IMPORTED_PREFIX, Caption, Keyword, Photo, PhotoStatus

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".xmp"
# Caption.source of a caption imported from a sidecar ("imported:sidecar:dc:description").
SIDECAR_SOURCE_PREFIX = IMPORTED_PREFIX + "sidecar:"
_CHUNK = 500

Files = Mapping[str, tuple[int, float]]  # path -> (size, mtime), as a scan's walk listed them


def is_sidecar(path: str) -> bool:
    """Whether ``path`` is named like an XMP sidecar (``photo.jpg.xmp`` or ``photo.xmp``)."""
    name = os.path.basename(path)
    return name.endswith(SIDECAR_SUFFIX) and len(name) > len(SIDECAR_SUFFIX)


def _stat(path: str) -> tuple[int, float] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime) if stat_mod.S_ISREG(st.st_mode) else None


def sidecar_stamp(photo_path: str, files: Files | None = None) -> str | None:
    """The stamp of a photo's sidecars (``ext:SIZE:MTIME;stem:SIZE:MTIME``), ``None`` without any.

    ``files`` (a scan's listing) is looked up instead of calling ``stat``.
    """
    parts = []
    for kind, name in zip(("ext", "stem"), sidecar_candidates(photo_path), strict=True):
        if name == photo_path:
            continue
        found = files.get(name) if files is not None else _stat(name)
        if found is not None:
            parts.append(f"{kind}:{found[0]}:{found[1]!r}")
    return ";".join(parts) or None


@dataclass(frozen=True)
class _Due:
    """A photo whose sidecars differ from its stamp, with the stamp taken before reading it."""

    photo_id: int
    path: str
    stamp: str | None


# --------------------------------------------------------------------------- finding photos


def _rows_at(session: Session, paths: list[str]) -> list[tuple[int, str, str | None]]:
    rows: list[tuple[int, str, str | None]] = []
    for start in range(0, len(paths), _CHUNK):
        stmt = select(Photo.id, Photo.path, Photo.sidecar_stamp).where(
            Photo.path.in_(paths[start : start + _CHUNK]), Photo.status != PhotoStatus.MISSING
        )
        rows.extend((row.id, row.path, row.sidecar_stamp) for row in session.execute(stmt))
    return rows


def photos_of_sidecar(session: Session, sidecar: str) -> list[tuple[int, str, str | None]]:
    """The present photos a sidecar belongs to, as ``(id, path, stored stamp)``.

    ``photo.jpg.xmp`` belongs to ``photo.jpg``; ``photo.xmp`` to each ``photo.<ext>`` of its folder.
    """
    if not is_sidecar(sidecar):
        return []
    base = sidecar[: -len(SIDECAR_SUFFIX)]
    prefix = base + "."
    stmt = select(Photo.id, Photo.path, Photo.sidecar_stamp).where(
        Photo.status != PhotoStatus.MISSING,
        or_(Photo.path == base, and_(func.substr(Photo.path, 1, len(prefix)) == prefix)),
    )
    return [
        (row.id, row.path, row.sidecar_stamp)
        for row in session.execute(stmt)
        if row.path == base or (os.path.splitext(row.path)[0] == base and not is_sidecar(row.path))
    ]


# --------------------------------------------------------------------------- reading again


def _imported(session: Session, photo_id: int) -> tuple[str, str] | None:
    row = session.execute(
        select(Caption.source, Caption.text).where(
            Caption.photo_id == photo_id, Caption.source.startswith(IMPORTED_PREFIX, autoescape=True)
        )
    ).first()
    return (row.source, row.text) if row is not None else None


def store_reread(session: Session, photo_id: int, imported: ImportedText) -> bool:
    """Store what a photo and its sidecars say now; whether the library's text of it changed.

    Like an import (a caption typed in photoscribe wins), and a caption imported from a
    sidecar that no longer provides one, with nothing else providing one either, is removed.
    """
    before = _imported(session, photo_id)
    added: list[str] = []
    if imported.caption is not None and imported.source is not None:
        if before is None or before[1] != imported.caption:  # the same words from another copy: as is
            captions.set_imported_caption(session, photo_id, imported.caption, imported.source)
    elif before is not None and before[0].startswith(SIDECAR_SOURCE_PREFIX):
        session.execute(
            delete(Caption)
            .where(Caption.photo_id == photo_id, Caption.source == before[0])
            .execution_options(synchronize_session=False)
        )
        photo = session.get(Photo, photo_id)
        if photo is not None and photo.status != PhotoStatus.MISSING:
            session.expire(photo)
            photos.refresh_status(session, photo)
        session.flush()
    # A model's keyword that our own export wrote into the sidecar stays the model's (it is not a
    # person's word just because it was read back); any other word is imported as usual.
    models = {
        word.lower()
        for word in session.scalars(
            select(Keyword.word).where(
                Keyword.photo_id == photo_id, Keyword.source.startswith(MODEL_KEYWORD_PREFIX, autoescape=True)
            )
        )
    }
    words = [word for word in imported.keywords if word.lower() not in models]
    if words:
        added = kw.add_imported_keywords(session, photo_id, words)
    return bool(added) or _imported(session, photo_id) != before


def _apply(library: Library, due: Iterable[_Due], fresh: Collection[int]) -> list[int]:
    """Record the stamps of ``fresh`` photos (read just now); read the others again.

    Returns the ids of the photos whose caption or keywords changed.
    """
    stamps: list[_Due] = []
    reread: list[tuple[_Due, ImportedText]] = []
    for item in due:
        if item.photo_id in fresh:
            stamps.append(item)
        else:  # outside the transaction: reading a file may take a while
            reread.append((item, read_descriptions(item.path)))
    if not stamps and not reread:
        return []
    changed: list[int] = []
    with library.transaction() as session:
        for item in stamps:
            _set_stamp(session, item)
        for item, imported in reread:
            photo = session.get(Photo, item.photo_id)
            if photo is None or photo.path != item.path or photo.status == PhotoStatus.MISSING:
                continue  # moved or gone meanwhile: its own events and scans see to it
            if store_reread(session, item.photo_id, imported):
                changed.append(item.photo_id)
            _set_stamp(session, item)
    if reread:
        log.info(
            "read the sidecars of %d photos again (edited on their own); %d changed",
            len(reread),
            len(changed),
        )
    return changed


def _set_stamp(session: Session, item: _Due) -> None:
    session.execute(
        update(Photo)
        .where(Photo.id == item.photo_id)
        .values(sidecar_stamp=item.stamp)
        .execution_options(synchronize_session=False)
    )


# --------------------------------------------------------------------------- scans and the watcher


def sync_folder(library: Library, folder: FolderInfo, files: Files, fresh: Collection[int]) -> list[int]:
    """After a scan of ``folder``: read again the photos whose sidecars changed on their own.

    ``files`` is what the scan's walk listed (before it read anything), ``fresh`` the ids of the
    photos it read. Returns the ids of the photos whose caption or keywords changed.
    """
    sidecars = {path for path in files if is_sidecar(path)}
    with_sidecar = [
        path
        for path in files
        if sidecars
        and not is_sidecar(path)
        and any(name in sidecars for name in sidecar_candidates(path) if name != path)
    ]
    with library.session() as session:
        stamped = select(Photo.id, Photo.path, Photo.sidecar_stamp).where(
            Photo.sidecar_stamp.is_not(None), Photo.status != PhotoStatus.MISSING
        )
        rows = {
            row.id: (row.id, row.path, row.sidecar_stamp)
            for row in session.execute(photos.filter_folder(stamped, folder.path))
        }
        rows.update((row[0], row) for row in _rows_at(session, with_sidecar))
    due = []
    for photo_id, path, stored in rows.values():
        if path not in files or not photos.is_under(path, folder.path, recursive=folder.recursive):
            continue  # not seen by this walk (gone, or in a subfolder of a flat folder)
        stamp = sidecar_stamp(path, files)
        if stamp != stored:
            due.append(_Due(photo_id, path, stamp))
    return _apply(library, due, fresh)


def stamps_before(photo_paths: Iterable[str]) -> dict[str, str | None]:
    """The sidecar stamps of photos about to be indexed (taken before they are read)."""
    return {path: sidecar_stamp(path) for path in photo_paths if not is_sidecar(path)}


def refresh(
    library: Library,
    sidecar_paths: Iterable[str],
    *,
    indexed: Mapping[str, str | None] | None = None,
    fresh: Collection[int] = (),
) -> list[int]:
    """For the watcher: sidecars created, changed, moved or deleted; read their photos again.

    ``indexed`` maps the photos the watcher indexed in the same round to their stamps from
    :func:`stamps_before`; those with an id in ``fresh`` (read just now) only get the stamp.
    Returns the ids of the photos whose caption or keywords changed.
    """
    indexed = indexed or {}
    due: dict[int, _Due] = {}
    read_now: set[int] = set()  # read in this round, with the stamp taken before
    with library.session() as session:
        for photo_id, path, stored in _rows_at(session, list(indexed)):
            if photo_id in fresh:
                read_now.add(photo_id)
                if indexed[path] != stored:
                    due[photo_id] = _Due(photo_id, path, indexed[path])
        for sidecar in dict.fromkeys(sidecar_paths):
            for photo_id, path, stored in photos_of_sidecar(session, sidecar):
                if photo_id not in read_now and photo_id not in due:
                    stamp = sidecar_stamp(path)
                    if stamp != stored:
                        due[photo_id] = _Due(photo_id, path, stamp)
    return _apply(library, due.values(), read_now)
