"""Folder scanning: find the photos under a folder and bring the library up to date.

A scan has two phases:

1. **Walk** (``os.scandir``, iterative): list every file with one ``stat``
   each. Hidden entries (``.*``) and system folders (``@eaDir``,
   ``$RECYCLE.BIN``, ...) are skipped; directory symlinks are followed, but a
   directory already visited (same ``st_dev``/``st_ino``) is not walked again,
   so symlink loops end, and a symlink that leads into a library folder (this
   one or another, or a folder holding one) is not followed at all: that
   folder's photos are indexed once, under their real path. Devices, FIFOs and sockets are never listed;
   pseudo file systems (``/proc``, ``/sys``, ``/dev``) and folder symlinks that
   lead to a folder holding the walked one (a link to ``/``) are never entered
   (:mod:`photoscribe.core.files.safe_files`, which also opens every file read). The
   watcher lists a folder that appears with the same walker (:func:`list_files`),
   so both agree.
2. **Index**: a file whose size and mtime match what the library knows is
   *unchanged* and is never opened, which is what makes a rescan of 100k
   files take seconds. Any other file is sniffed (magic bytes, the extension
   does not matter), hashed (streamed SHA-256), its EXIF summary read, and the
   descriptions and keywords it carries read (:mod:`.metadata`: EXIF, IPTC, XMP
   and its XMP sidecars), on a few threads; the results are written in batches
   of :data:`BATCH_SIZE` files per ``BEGIN IMMEDIATE`` transaction. A
   description becomes the photo's preferred caption (source ``imported:...``),
   its keywords ``imported`` keywords.

Moves: a new file whose hash equals that of a photo whose file is gone (it
vanished in this scan, or was already marked missing) is that photo, moved:
its row is re-pathed, keeping the id, captions and feature. A new file with
the hash of a photo that is still on disk is a *duplicate*: it gets its own
row (``photos_by_hash`` lists the copies) and is counted.

Gone files are **marked missing, not deleted**: a missing photo keeps its
captions (people's work) in case the file comes back, e.g. when a
disconnected drive is plugged in again or the file turns up under another
name, but it leaves search results, the captioning queue and the photo count.
``library remove`` forgets a folder for good. A scan that is cancelled, or a
folder whose root is not reachable, marks nothing missing.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import stat as stat_mod
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from photoscribe.core.errors import LibraryError, UnsupportedImageError
from photoscribe.core.files.imaging import read_exif_summary, sniff_image
from photoscribe.core.files.safe_files import (
    ANY_SIZE,
    NotRegularFileError,
    folder_refusal,
    on_pseudo_fs,
    open_photo,
    read_chunks,
)
from photoscribe.core.library import captions as caps
from photoscribe.core.library import keywords as kw
from photoscribe.core.library import photos as ops
from photoscribe.core.library import sidecars
from photoscribe.core.library.database import Library
from photoscribe.core.library.metadata import NOTHING, ImportedText, read_descriptions
from photoscribe.core.library.records import FileStamp, FolderInfo, PhotoInfo
from photoscribe.core.library.schema import Failure, Photo, PhotoStatus, utcnow
from photoscribe.core.paths import cache_dir, display_path
from photoscribe.core.progress import Progress, ProgressCallback, ProgressTracker

log = logging.getLogger(__name__)

BATCH_SIZE = 200  # files written per transaction
HASH_CHUNK = 1 << 20
WALK_PROGRESS_EVERY = 1000  # files listed between progress reports while walking
MOVE_CANDIDATES = 16  # photos with the same hash checked on disk when looking for a move source

# Folders that hold no photos of the user's (NAS thumbnails, recycle bins, OS metadata).
SYSTEM_DIRS = frozenset(
    name.casefold()
    for name in (
        "@eaDir",
        "#recycle",
        "#snapshot",
        "@Recycle",
        "$RECYCLE.BIN",
        "RECYCLER",
        "RECYCLED",
        "System Volume Information",
        "lost+found",
        "__MACOSX",
        "Thumbs",
        ".thumbnails",
    )
)


def is_ignored_name(name: str) -> bool:
    """Whether a file or folder name is skipped by scans and the watcher (hidden or system)."""
    return not name or name.startswith(".") or name.casefold() in SYSTEM_DIRS


@dataclass(frozen=True)
class ScanReport:
    """What a scan did, in files.

    Attributes:
        added: new photos.
        updated: known photos whose file changed (or came back after being missing).
        unchanged: known photos with the same size and mtime (not opened).
        moved: new paths recognised, by content hash, as a known photo that moved.
        missing: known photos whose file is gone, now marked missing.
        duplicates: new photos with the same content as another photo on disk.
        skipped: files that are not images.
        failed: image-looking files that could not be read (see ``library status``).
        seconds: wall time.
        cancelled: stopped early by the cancel event (nothing was marked missing).
    """

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    moved: int = 0
    missing: int = 0
    duplicates: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    @property
    def files(self) -> int:
        """Files looked at (photos, non-images and failures)."""
        return self.added + self.updated + self.unchanged + self.moved + self.skipped + self.failed

    def __add__(self, other: ScanReport) -> ScanReport:
        values = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        values["cancelled"] = self.cancelled or other.cancelled
        return ScanReport(**values)

    def describe(self) -> str:
        """One line for people: ``12 added, 3 updated, ...``."""
        parts = [
            f"{self.added} added",
            f"{self.updated} updated",
            f"{self.moved} moved",
            f"{self.missing} missing",
            f"{self.unchanged} unchanged",
            f"{self.duplicates} duplicates",
            f"{self.skipped} not images",
            f"{self.failed} failed",
        ]
        return ", ".join(parts) + f" in {self.seconds:.1f} s" + (" (cancelled)" if self.cancelled else "")


@dataclass(frozen=True)
class IndexResult:
    """What :func:`index_paths` did, by photo id (for the watcher's change summary)."""

    added: tuple[int, ...] = ()
    updated: tuple[int, ...] = ()
    moved: tuple[int, ...] = ()
    unchanged: tuple[int, ...] = ()
    duplicates: int = 0
    skipped: int = 0
    failed: int = 0
    photos: dict[str, PhotoInfo] = field(default_factory=dict)  # path -> photo, for indexed files


# --------------------------------------------------------------------------- walking


@dataclass(frozen=True)
class _Found:
    path: str
    size: int
    mtime: float


@dataclass
class _Walk:
    files: list[_Found] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # directories we could not list
    bad_names: list[str] = field(default_factory=list)  # files and folders whose names are not UTF-8
    cancelled: bool = False


def has_undecodable_name(path: str) -> bool:
    """Whether ``path`` holds bytes that are not UTF-8 (Python keeps them as lone surrogates).

    SQLite stores text as UTF-8, so such a path cannot be a library key; the file is reported
    as a failure (under :func:`display_path`) and the rest of the folder is indexed.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


BAD_NAME_MESSAGE = (
    "the file name is not valid UTF-8 (an old drive or network share?); rename the file to index it"
)


def record_bad_names(library: Library, paths: Sequence[str]) -> int:
    """Record one failure per file whose name is not UTF-8; returns how many."""
    if paths:
        with library.transaction() as session:
            for path in paths:
                caps.record_failure(session, display_path(path), BAD_NAME_MESSAGE)
        log.warning("%d files have names that are not UTF-8 and were skipped", len(paths))
    return len(paths)


def excluded_dirs() -> frozenset[str]:
    """Folders never indexed even inside a library folder: our own cache (thumbnails are JPEGs!)."""
    return frozenset({ops.normalize_path(cache_dir())})


Covered = tuple[tuple[str, bool], ...]  # (real path, recursive) of each library folder


def covered_folders(folders: Iterable[FolderInfo]) -> Covered:
    """What the library's folders cover, by real path: a folder symlink that leads there is not followed."""
    return tuple((os.path.realpath(f.path), f.recursive) for f in folders)


def _leads_into(path: str, covered: Covered) -> bool:
    """Whether the real location of ``path`` (a folder symlink) lies in a library folder, or holds
    one (a link to ``/`` or to the home folder would walk them, and the whole disk, again)."""
    if not covered:
        return False
    real = os.path.realpath(path)
    return any(
        real == top or ops.is_under(real, top, recursive=rec) or ops.is_under(top, real)
        for top, rec in covered
    )


def _walk(
    root: str,
    *,
    recursive: bool,
    tracker: ProgressTracker | None,
    cancel: threading.Event | None,
    covered: Covered = (),
) -> _Walk:
    """Every non-hidden file under ``root``, following directory symlinks except those that lead
    into a folder of ``covered`` (without loops: each real folder once)."""
    result = _Walk()
    excluded = excluded_dirs()
    try:
        root_stat = os.stat(root)
    except OSError as exc:
        raise LibraryError(
            f"cannot read the folder {root} ({exc.strerror}); is the drive connected?"
        ) from exc
    if not stat_mod.S_ISDIR(root_stat.st_mode):
        raise LibraryError(f"{root} is not a folder")
    refusal = folder_refusal(root, root_stat)
    if refusal is not None:
        raise LibraryError(f"{root} is not scanned: {refusal}")
    real_root = os.path.realpath(root)
    visited = {(root_stat.st_dev, root_stat.st_ino)}
    stack = [root]
    while stack:
        if cancel is not None and cancel.is_set():
            result.cancelled = True
            return result
        directory = stack.pop()
        subdirs: list[str] = []
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if is_ignored_name(entry.name):
                        continue
                    if has_undecodable_name(entry.path):
                        result.bad_names.append(entry.path)
                        continue
                    try:
                        if entry.is_dir():  # follows symlinks
                            if (
                                recursive
                                and entry.path not in excluded
                                and not (entry.is_symlink() and _leads_into(entry.path, covered))
                            ):
                                st = entry.stat()
                                key = (st.st_dev, st.st_ino)
                                refusal = folder_refusal(
                                    entry.path, st, via_link=entry.is_symlink(), walk_root=real_root
                                )
                                if refusal is not None:
                                    log.info("not walking %s: %s", entry.path, refusal)
                                elif key not in visited:
                                    visited.add(key)
                                    subdirs.append(entry.path)
                        elif entry.is_file():  # devices, FIFOs and sockets are never photos
                            st = entry.stat()
                            if on_pseudo_fs(st):  # a link to /proc/...: not a photo either
                                continue
                            result.files.append(_Found(entry.path, st.st_size, st.st_mtime))
                            if tracker is not None and len(result.files) % WALK_PROGRESS_EVERY == 0:
                                tracker.update(len(result.files), f"listing {directory}")
                    except OSError as exc:  # vanished meanwhile, dangling symlink, permission
                        log.debug("skipping %s: %s", entry.path, exc)
        except OSError as exc:
            log.warning("cannot list %s (%s); its photos are left as they are", directory, exc)
            result.unreadable.append(directory)
            continue
        stack.extend(sorted(subdirs, reverse=True))  # depth-first, in name order
    return result


def list_files(directory: str | os.PathLike[str], covered: Covered) -> tuple[list[str], list[str]]:
    """The files under a folder that appeared inside a library folder, walked as a scan walks.

    For the watcher: hidden and system folders are skipped, folder symlinks that lead into a library
    folder of ``covered`` (including ``directory`` itself when it is such a symlink) are not followed,
    and each real folder is listed once. Returns ``(files, bad_names)`` (names that are not UTF-8).
    """
    path = ops.normalize_path(directory)
    if os.path.islink(path) and _leads_into(path, covered):
        return [], []
    try:
        walk = _walk(path, recursive=True, tracker=None, cancel=None, covered=covered)
    except LibraryError:  # gone again, or not a folder: its events do the rest
        return [], []
    return [f.path for f in walk.files], walk.bad_names


# --------------------------------------------------------------------------- inspecting files


@dataclass(frozen=True)
class _Inspected:
    """A file opened and read: its hash and EXIF summary, or why it is not a usable image."""

    path: str
    size: int
    mtime: float
    content_hash: str | None = None
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None
    camera: str | None = None
    imported: ImportedText = NOTHING  # descriptions and keywords the file carries
    not_image: bool = False
    error: str | None = None


def file_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a regular file's bytes (hex), read in 1 MiB chunks (at most ``MAX_PHOTO_BYTES``).

    Raises:
        NotRegularFileError, FileTooLargeError, OSError: see :func:`~photoscribe.core.files.safe_files.open_photo`.
    """
    digest = hashlib.sha256()
    with open_photo(path) as fh:
        for chunk in read_chunks(fh, HASH_CHUNK, name=path):
            digest.update(chunk)
    return digest.hexdigest()


def _inspect(found: _Found) -> _Inspected:
    path = found.path
    try:  # sniff_image says False for a file it cannot open: that is a failure, not "not an image"
        with open_photo(path, max_bytes=ANY_SIZE):  # a 3 GB video is sniffed, and skipped
            pass
    except NotRegularFileError:  # a FIFO or device swapped in since the walk: never a photo
        return _Inspected(path, found.size, found.mtime, not_image=True)
    except OSError as exc:
        return _Inspected(
            path,
            found.size,
            found.mtime,
            error=f"cannot read the file ({exc.strerror}); check its permissions",
        )
    if not sniff_image(path):
        return _Inspected(path, found.size, found.mtime, not_image=True)
    try:
        content_hash = file_hash(path)
        exif = read_exif_summary(path)
        imported = read_descriptions(path)  # never raises: a file exiv2 cannot read has none
    except UnsupportedImageError as exc:
        return _Inspected(path, found.size, found.mtime, error=exc.reason)
    except OSError as exc:
        return _Inspected(path, found.size, found.mtime, error=f"cannot read the file ({exc.strerror})")
    return _Inspected(
        path,
        found.size,
        found.mtime,
        content_hash=content_hash,
        width=exif.width,
        height=exif.height,
        taken_at=exif.taken_at,
        camera=exif.camera,
        imported=imported,
    )


def _inspect_all(found: Sequence[_Found], pool: ThreadPoolExecutor | None) -> list[_Inspected]:
    # Hashing and file reads release the GIL, so a few threads overlap the I/O of a batch.
    if pool is None or len(found) < 4:
        return [_inspect(f) for f in found]
    return list(pool.map(_inspect, found))


def _new_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(min(4, os.cpu_count() or 1), thread_name_prefix="photoscribe-scan")


# --------------------------------------------------------------------------- move detection


class _HashIndex:
    """Content hash -> where a file with that content may have come from (for move detection).

    ``gone`` holds paths whose file is known to be gone (vanished in this scan
    or marked missing); ``maybe`` holds a few photos not seen on disk by this
    scan, checked only when a new file with their hash appears; ``present``
    counts copies on disk, to tell duplicates.
    """

    def __init__(self, on_disk: set[str] | None = None) -> None:
        self._on_disk = on_disk if on_disk is not None else set()
        self._gone: dict[str, list[str]] = {}
        self._maybe: dict[str, list[str]] = {}
        self._present: dict[str, int] = {}

    def add(self, content_hash: str, path: str, *, gone: bool) -> None:
        if gone:
            self._gone.setdefault(content_hash, []).append(path)
            return
        self._present[content_hash] = self._present.get(content_hash, 0) + 1
        if path not in self._on_disk:
            maybe = self._maybe.setdefault(content_hash, [])
            if len(maybe) < MOVE_CANDIDATES:
                maybe.append(path)

    def claim_move(self, content_hash: str, new_path: str) -> str | None:
        """The old path of the photo that a new file with this hash is a move of, if any."""
        gone = self._gone.get(content_hash)
        while gone:
            old = gone.pop(0)
            if old != new_path and not os.path.lexists(old):
                return old
        maybe = self._maybe.get(content_hash, [])
        for old in list(maybe):
            if old != new_path and not os.path.lexists(old):
                maybe.remove(old)
                self._present[content_hash] -= 1
                return old
        return None

    def is_duplicate(self, content_hash: str) -> bool:
        return self._present.get(content_hash, 0) > 0

    def note_present(self, content_hash: str, path: str) -> None:
        """A file with this content was just stored at ``path`` (which is on disk)."""
        self._on_disk.add(path)
        self._present[content_hash] = self._present.get(content_hash, 0) + 1


def _hash_rows(session: Session, hashes: Iterable[str] | None) -> Iterator[tuple[str, str, str]]:
    stmt = select(Photo.content_hash, Photo.path, Photo.status).where(Photo.content_hash.is_not(None))
    if hashes is None:
        chunks = [stmt]
    else:
        wanted = sorted(set(hashes))
        chunks = [stmt.where(Photo.content_hash.in_(wanted[i : i + 500])) for i in range(0, len(wanted), 500)]
    for chunk in chunks:
        for row in session.execute(chunk):
            yield row.content_hash, row.path, row.status


def _load_hash_index(
    session: Session, hashes: Iterable[str] | None, vanished: set[str], on_disk: set[str] | None = None
) -> _HashIndex:
    index = _HashIndex(on_disk)
    for content_hash, path, status in _hash_rows(session, hashes):
        index.add(content_hash, path, gone=status == PhotoStatus.MISSING or path in vanished)
    return index


# --------------------------------------------------------------------------- writing


@dataclass
class _Tally:
    """What the writes of one scan (or one watcher round) did, and new rows waiting to be inserted."""

    added: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    moved: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)  # old paths of moved photos
    duplicates: int = 0
    skipped: int = 0
    failed: int = 0
    photos: dict[str, PhotoInfo] = field(default_factory=dict)  # filled when asked for
    new_rows: list[dict[str, Any]] = field(default_factory=list)
    imports: dict[str, ImportedText] = field(default_factory=dict)  # path of a new row -> its text


@dataclass
class _Writer:
    """Writes inspected files inside the caller's transaction (one per batch).

    Brand-new files, the bulk of a first scan, are inserted together with one
    ``executemany`` at the end of the batch instead of one ORM round trip each;
    everything else (changes, moves, failures) goes through :mod:`.photos`.
    """

    index: _HashIndex
    folders: list[FolderInfo]
    failed_paths: set[str]  # files with a failure record, cleared when they are indexed after all
    want_photos: bool = False
    tally: _Tally = field(default_factory=_Tally)

    def store(self, session: Session, item: _Inspected, stamp: FileStamp | None) -> None:
        tally = self.tally
        folder_id = _folder_id(self.folders, item.path)
        if item.not_image:
            tally.skipped += 1
            if stamp is not None and stamp.status != PhotoStatus.MISSING:  # replaced by something else
                ops.mark_missing(session, item.path)
            return
        if item.error is not None or item.content_hash is None:
            tally.failed += 1
            if stamp is not None:  # it changed and is now unreadable: forget what the old pixels said
                ops.upsert_photo(session, item.path, item.size, item.mtime, folder_id=folder_id)
            caps.record_failure(session, item.path, f"cannot index the file: {item.error}")
            self.failed_paths.add(item.path)
            return
        content_hash = item.content_hash
        moved_from = None
        if stamp is None or stamp.content_hash != content_hash:
            moved_from = self.index.claim_move(content_hash, item.path)
        if stamp is None or moved_from is not None or stamp.content_hash != content_hash:
            if stamp is None and moved_from is None and self.index.is_duplicate(content_hash):
                tally.duplicates += 1
            self.index.note_present(content_hash, item.path)
        if stamp is None and moved_from is None:
            if item.path in self.failed_paths:  # failures from when it could not be read
                caps.clear_failure(session, item.path)
                self.failed_paths.discard(item.path)
            tally.new_rows.append(_new_row(item, folder_id))
            if not item.imported.empty:
                tally.imports[item.path] = item.imported
            return
        if moved_from is not None:
            ops.move_photo(session, moved_from, item.path)
            tally.claimed.add(moved_from)
        photo = self._upsert(session, item, folder_id)
        (tally.moved if moved_from is not None else tally.updated).append(photo.id)

    def _upsert(self, session: Session, item: _Inspected, folder_id: int | None) -> PhotoInfo:
        photo = ops.upsert_photo(
            session,
            item.path,
            item.size,
            item.mtime,
            content_hash=item.content_hash,
            width=item.width,
            height=item.height,
            taken_at=item.taken_at,
            camera=item.camera,
            folder_id=folder_id,
        )
        if not item.imported.empty:
            _store_imported(session, photo.id, item.imported)
            row = session.get(Photo, photo.id)
            if row is not None:  # its status changed: it now has a person's caption
                photo = PhotoInfo.from_orm(row)
        if self.want_photos:
            self.tally.photos[item.path] = photo
        return photo

    def flush(self, session: Session) -> None:
        """Insert the batch's new files (call before the transaction commits)."""
        rows, self.tally.new_rows = self.tally.new_rows, []
        imports, self.tally.imports = self.tally.imports, {}
        if not rows:
            return
        # Someone else (the watcher, another process) may have added some meanwhile: those are upserts.
        taken = set(_existing_paths(session, [row["path"] for row in rows]))
        fresh = [row for row in rows if row["path"] not in taken]
        if fresh:
            session.execute(insert(Photo), fresh)
        ids = dict(_existing_paths(session, [row["path"] for row in fresh]))
        self.tally.added.extend(ids[row["path"]] for row in fresh)
        for path, imported in imports.items():
            if path in ids:
                _store_imported(session, ids[path], imported)
        for row in rows:
            if row["path"] in taken:
                photo = ops.upsert_photo(
                    session,
                    row["path"],
                    row["size"],
                    row["mtime"],
                    content_hash=row["content_hash"],
                    width=row["width"],
                    height=row["height"],
                    taken_at=row["taken_at"],
                    camera=row["camera"],
                    folder_id=row["folder_id"],
                )
                if row["path"] in imports:
                    _store_imported(session, photo.id, imports[row["path"]])
                self.tally.updated.append(photo.id)
        if self.want_photos and fresh:
            for row_photo in session.scalars(select(Photo).where(Photo.id.in_(list(ids.values())))):
                self.tally.photos[row_photo.path] = PhotoInfo.from_orm(row_photo)


def _store_imported(session: Session, photo_id: int, imported: ImportedText) -> None:
    """Make what the file says the person's caption and keywords (see :mod:`.metadata`)."""
    if imported.caption is not None and imported.source is not None:
        caps.set_imported_caption(session, photo_id, imported.caption, imported.source)
    if imported.keywords:
        kw.add_imported_keywords(session, photo_id, imported.keywords)


def _new_row(item: _Inspected, folder_id: int | None) -> dict[str, Any]:
    return {
        "path": item.path,
        "name": os.path.basename(item.path),
        "folder_id": folder_id,
        "size": item.size,
        "mtime": item.mtime,
        "content_hash": item.content_hash,
        "width": item.width,
        "height": item.height,
        "taken_at": item.taken_at,
        "camera": item.camera,
        "added_at": utcnow(),
        "status": PhotoStatus.NEW,
    }


def _existing_paths(session: Session, paths: Sequence[str]) -> Iterator[tuple[str, int]]:
    for start in range(0, len(paths), 500):
        stmt = select(Photo.path, Photo.id).where(Photo.path.in_(paths[start : start + 500]))
        for row in session.execute(stmt):
            yield row.path, row.id


def _failure_paths(session: Session, paths: Sequence[str] | None = None) -> set[str]:
    if paths is None:
        return set(session.scalars(select(Failure.path)))
    found: set[str] = set()
    for start in range(0, len(paths), 500):
        found.update(
            session.scalars(select(Failure.path).where(Failure.path.in_(paths[start : start + 500])))
        )
    return found


def _folder_id(folders: list[FolderInfo], path: str) -> int | None:
    best: FolderInfo | None = None
    for folder in folders:
        if ops.is_under(path, folder.path, recursive=folder.recursive) and (
            best is None or len(folder.path) > len(best.path)
        ):
            best = folder
    return best.id if best is not None else None


def _mark_missing(session: Session, photo_ids: Sequence[int]) -> None:
    for start in range(0, len(photo_ids), 500):
        session.execute(
            update(Photo)
            .where(Photo.id.in_(photo_ids[start : start + 500]))
            .values(status=PhotoStatus.MISSING)
            .execution_options(synchronize_session=False)
        )


# --------------------------------------------------------------------------- scanning


def scan_folder(
    library: Library,
    folder_path: str | os.PathLike[str],
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ScanReport:
    """Bring the library up to date with one registered folder (see the module docstring).

    Progress: stage ``"scan"``; while walking ``total`` is ``None`` and ``done``
    counts files listed, then ``done``/``total`` count files indexed. When
    ``cancel`` is set the batches written so far stay and the report says
    ``cancelled``.

    Raises:
        LibraryError: the folder is not in the library, or cannot be read (nothing is marked missing).
    """
    start = time.perf_counter()
    with library.session() as session:
        folder = ops.get_folder(session, folder_path)
        folders = ops.list_folders(session)
    if folder is None:
        raise LibraryError(f"{folder_path} is not a library folder; add it first (`library add FOLDER`)")
    tracker = ProgressTracker("scan", None, on_progress)
    walk = _walk(
        folder.path,
        recursive=folder.recursive,
        tracker=tracker,
        cancel=cancel,
        covered=covered_folders(folders),
    )
    if walk.cancelled:
        return ScanReport(seconds=time.perf_counter() - start, cancelled=True)

    known = {
        path: stamp
        for path, stamp in library.known_files(folder.path).items()
        if ops.is_under(path, folder.path, recursive=folder.recursive)
    }
    seen = {f.path for f in walk.files}
    unreadable = [ops.normalize_path(d) for d in walk.unreadable]
    vanished = {
        path
        for path, stamp in known.items()
        if path not in seen
        and stamp.status != PhotoStatus.MISSING
        and not any(ops.is_under(path, d) for d in unreadable)
    }
    unchanged = 0
    todo: list[_Found] = []
    for found in walk.files:
        stamp = known.get(found.path)
        if (
            stamp is not None
            and stamp.size == found.size
            and stamp.mtime == found.mtime
            and stamp.status != PhotoStatus.MISSING
        ):
            unchanged += 1
        else:
            todo.append(found)
    tracker.total = len(walk.files)
    tracker.update(unchanged, f"{unchanged} files unchanged")

    writer = _Writer(_HashIndex(), folders, set())
    cancelled = False
    if todo:
        with library.session() as session:
            writer.index = _load_hash_index(session, None, vanished, seen)
            writer.failed_paths = _failure_paths(session)
        with _new_pool() as pool:
            for begin in range(0, len(todo), BATCH_SIZE):
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                batch = todo[begin : begin + BATCH_SIZE]
                inspected = _inspect_all(batch, pool)
                with library.transaction() as session:
                    for item in inspected:
                        writer.store(session, item, known.get(item.path))
                    writer.flush(session)
                tracker.update(unchanged + begin + len(batch), batch[-1].path)
    tally = writer.tally
    tally.failed += record_bad_names(library, walk.bad_names)
    # Sidecars edited on their own (the photo unchanged): read those photos again (core/library/sidecars.py).
    resynced: list[int] = []
    if not cancelled:
        listed = {f.path: (f.size, f.mtime) for f in walk.files}
        resynced = sidecars.sync_folder(library, folder, listed, {*tally.added, *tally.updated, *tally.moved})

    missing_ids: list[int] = []
    if not cancelled:
        missing_ids = [known[p].photo_id for p in sorted(vanished - tally.claimed)]
        if missing_ids:
            with library.transaction() as session:
                _mark_missing(session, missing_ids)
            log.info("%d photos under %s are gone from disk; marked missing", len(missing_ids), folder.path)
    report = ScanReport(
        added=len(tally.added),
        updated=len(tally.updated) + len(resynced),
        unchanged=max(0, unchanged - len(resynced)),
        moved=len(tally.moved),
        missing=len(missing_ids),
        duplicates=tally.duplicates,
        skipped=tally.skipped,
        failed=tally.failed,
        seconds=time.perf_counter() - start,
        cancelled=cancelled,
    )
    log.info("scanned %s: %s", folder.path, report.describe())
    return report


def add_folder(
    library: Library,
    path: str | os.PathLike[str],
    *,
    recursive: bool = True,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> tuple[FolderInfo, ScanReport]:
    """Register a folder (idempotent) and scan it.

    Raises:
        LibraryError: ``path`` is not a readable folder, or is a system folder (``/proc``).
    """
    norm = ops.normalize_path(path)
    if not os.path.isdir(norm):
        raise LibraryError(f"{norm} is not a folder; check the path")
    refusal = folder_refusal(norm, os.stat(norm))
    if refusal is not None:  # /proc, /sys, /dev: refused before it is registered
        raise LibraryError(f"{norm} cannot be a library folder: {refusal}")
    folder = library.add_folder_record(norm, recursive=recursive)
    return folder, scan_folder(library, folder.path, on_progress=on_progress, cancel=cancel)


def rescan_all(
    library: Library,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ScanReport:
    """Scan every registered folder; a folder that cannot be read is logged and left as it is.

    A folder inside another recursive one is covered by that one's scan.
    Progress counts files over all folders scanned so far.
    """
    report = ScanReport()
    folders = library.list_folders()
    outermost = [
        f
        for f in folders
        if not any(other.recursive and ops.is_under(f.path, other.path) for other in folders)
    ]
    for folder in outermost:
        if cancel is not None and cancel.is_set():
            return report + ScanReport(cancelled=True)
        forward = (
            None if on_progress is None else functools.partial(_offset_progress, on_progress, report.files)
        )
        try:
            part = scan_folder(library, folder.path, on_progress=forward, cancel=cancel)
        except LibraryError as exc:
            log.warning("skipping folder %s: %s", folder.path, exc)
            continue
        report = report + part
        if part.cancelled:
            break
    return report


def _offset_progress(on_progress: ProgressCallback, offset: int, progress: Progress) -> None:
    total = None if progress.total is None else offset + progress.total
    on_progress(dataclasses.replace(progress, done=offset + progress.done, total=total, eta_s=None))


# --------------------------------------------------------------------------- single files (the watcher)


def index_paths(library: Library, paths: Iterable[str | os.PathLike[str]]) -> IndexResult:
    """Index (or re-index) files one by one as the watcher reports them, in batched transactions.

    Unchanged files are not opened; hidden files, directories and files that
    are gone are ignored; a new file with the hash of a photo whose file is
    gone is recorded as that photo's move.
    """
    wanted: dict[str, _Found] = {}
    bad_names: list[str] = []
    for raw in paths:
        norm = ops.normalize_path(raw)
        if is_ignored_name(os.path.basename(norm)):
            continue
        if has_undecodable_name(norm):
            if os.path.isfile(norm):
                bad_names.append(norm)
            continue
        try:
            st = os.stat(norm)
        except OSError:
            continue
        if stat_mod.S_ISREG(st.st_mode) and not on_pseudo_fs(st):  # never a FIFO, device or /proc file
            wanted[norm] = _Found(norm, st.st_size, st.st_mtime)
    tally = _Tally()
    tally.failed += record_bad_names(library, bad_names)
    if not wanted:
        return IndexResult(failed=tally.failed)
    with library.session() as session:
        folders = ops.list_folders(session)
    items = list(wanted.values())
    pool = _new_pool() if len(items) >= 8 else None
    try:
        for begin in range(0, len(items), BATCH_SIZE):
            batch = items[begin : begin + BATCH_SIZE]
            with library.session() as session:
                stamps = _stamps(session, [f.path for f in batch])
            todo = []
            for found in batch:
                stamp = stamps.get(found.path)
                if (
                    stamp is not None
                    and (stamp.size, stamp.mtime) == (found.size, found.mtime)
                    and stamp.status != PhotoStatus.MISSING
                ):
                    tally.unchanged.append(stamp.photo_id)
                else:
                    todo.append(found)
            inspected = _inspect_all(todo, pool)
            hashes = [i.content_hash for i in inspected if i.content_hash is not None]
            with library.transaction() as session:
                index = _load_hash_index(session, hashes, set()) if hashes else _HashIndex()
                writer = _Writer(
                    index, folders, _failure_paths(session, [i.path for i in inspected]), True, tally
                )
                for item in inspected:
                    writer.store(session, item, stamps.get(item.path))
                writer.flush(session)
    finally:
        if pool is not None:
            pool.shutdown()
    return IndexResult(
        added=tuple(tally.added),
        updated=tuple(tally.updated),
        moved=tuple(tally.moved),
        unchanged=tuple(tally.unchanged),
        duplicates=tally.duplicates,
        skipped=tally.skipped,
        failed=tally.failed,
        photos=tally.photos,
    )


def _stamps(session: Session, paths: Sequence[str]) -> dict[str, FileStamp]:
    stmt = select(Photo.path, Photo.id, Photo.size, Photo.mtime, Photo.content_hash, Photo.status).where(
        Photo.path.in_(list(paths))
    )
    return {
        row.path: FileStamp(row.id, row.size, row.mtime, row.content_hash, row.status)
        for row in session.execute(stmt)
    }


def index_file(library: Library, path: str | os.PathLike[str]) -> PhotoInfo | None:
    """Index one file (see :func:`index_paths`); ``None`` if it is not a usable image or is gone."""
    norm = ops.normalize_path(path)
    result = index_paths(library, [norm])
    if result.unchanged:
        return library.get_photo(result.unchanged[0])
    return result.photos.get(norm)
