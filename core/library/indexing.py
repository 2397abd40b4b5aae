"""Indexing files a walk found: reading each one (hash, EXIF, descriptions) and writing what it found.

A file is sniffed (magic bytes, the extension does not matter), hashed (streamed SHA-256), its
EXIF summary read, and the descriptions and keywords it carries read (:mod:`.metadata`: EXIF,
IPTC, XMP and its XMP sidecars), on a few threads (:func:`inspect_all`). A :class:`Writer` then
stores a batch of them inside the caller's transaction. A description becomes the photo's
preferred caption (source ``imported:...``), its keywords ``imported`` keywords.

Moves (:class:`HashIndex`): a new file whose hash equals that of a photo whose file is gone is
that photo, moved: its row is re-pathed, keeping the id, captions and feature. A new file with
the hash of a photo that is still on disk is a *duplicate*: it gets its own row and is counted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from photoscribe.core.errors import UnsupportedImageError
from photoscribe.core.files.imaging import read_exif_summary, sniff_image
from photoscribe.core.files.safe_files import ANY_SIZE, NotRegularFileError, open_photo, read_chunks
from photoscribe.core.library import captions, keywords, photos
from photoscribe.core.library.metadata import NOTHING, ImportedText, read_descriptions
from photoscribe.core.library.photos import PhotoMetadata
from photoscribe.core.library.records import FileStamp, FolderInfo, PhotoInfo
from photoscribe.core.library.schema import Failure, Photo, PhotoStatus, utcnow
from photoscribe.core.library.walking import FoundFile

HASH_CHUNK = 1 << 20
MOVE_CANDIDATES = 16  # photos with the same hash checked on disk when looking for a move source

# --------------------------------------------------------------------------- inspecting files


@dataclass(frozen=True)
class Inspected:
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

    def metadata(self) -> PhotoMetadata:
        """What was read of the photo besides its size and time (keyword arguments of ``upsert_photo``)."""
        return PhotoMetadata(
            content_hash=self.content_hash,
            width=self.width,
            height=self.height,
            taken_at=self.taken_at,
            camera=self.camera,
        )


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


def _inspect(found: FoundFile) -> Inspected:
    path = found.path
    try:  # sniff_image says False for a file it cannot open: that is a failure, not "not an image"
        with open_photo(path, max_bytes=ANY_SIZE):  # a 3 GB video is sniffed, and skipped
            pass
    except NotRegularFileError:  # a FIFO or device swapped in since the walk: never a photo
        return Inspected(path, found.size, found.mtime, not_image=True)
    except OSError as exc:
        return Inspected(
            path,
            found.size,
            found.mtime,
            error=f"cannot read the file ({exc.strerror}); check its permissions",
        )
    if not sniff_image(path):
        return Inspected(path, found.size, found.mtime, not_image=True)
    try:
        content_hash = file_hash(path)
        exif = read_exif_summary(path)
        imported = read_descriptions(path)  # never raises: a file exiv2 cannot read has none
    except UnsupportedImageError as exc:
        return Inspected(path, found.size, found.mtime, error=exc.reason)
    except OSError as exc:
        return Inspected(path, found.size, found.mtime, error=f"cannot read the file ({exc.strerror})")
    return Inspected(
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


def inspect_all(found: Sequence[FoundFile], pool: ThreadPoolExecutor | None) -> list[Inspected]:
    """Read each file (on ``pool``'s threads for a batch of four or more)."""
    # Hashing and file reads release the GIL, so a few threads overlap the I/O of a batch.
    if pool is None or len(found) < 4:
        return [_inspect(f) for f in found]
    return list(pool.map(_inspect, found))


def new_pool() -> ThreadPoolExecutor:
    """The few threads that read a batch of files at once."""
    return ThreadPoolExecutor(min(4, os.cpu_count() or 1), thread_name_prefix="photoscribe-scan")


# --------------------------------------------------------------------------- move detection


class HashIndex:
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


def load_hash_index(
    session: Session, hashes: Iterable[str] | None, vanished: set[str], on_disk: set[str] | None = None
) -> HashIndex:
    """A :class:`HashIndex` of the library's photos (with these hashes, or all); ``vanished`` are gone."""
    index = HashIndex(on_disk)
    for content_hash, path, status in _hash_rows(session, hashes):
        index.add(content_hash, path, gone=status == PhotoStatus.MISSING or path in vanished)
    return index


# --------------------------------------------------------------------------- writing


@dataclass
class Tally:
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
    new_rows: list[tuple[Inspected, int | None]] = field(default_factory=list)  # new files, folder id
    imports: dict[str, ImportedText] = field(default_factory=dict)  # path of a new row -> its text


@dataclass
class Writer:
    """Writes inspected files inside the caller's transaction (one per batch).

    Brand-new files, the bulk of a first scan, are inserted together with one
    ``executemany`` at the end of the batch instead of one ORM round trip each;
    everything else (changes, moves, failures) goes through :mod:`.photos`.
    """

    index: HashIndex
    folders: list[FolderInfo]
    failed_paths: set[str]  # files with a failure record, cleared when they are indexed after all
    want_photos: bool = False
    tally: Tally = field(default_factory=Tally)

    def store(self, session: Session, item: Inspected, stamp: FileStamp | None) -> None:
        tally = self.tally
        folder_id = _folder_id(self.folders, item.path)
        if item.not_image:
            tally.skipped += 1
            if stamp is not None and stamp.status != PhotoStatus.MISSING:  # replaced by something else
                photos.mark_missing(session, item.path)
            return
        if item.error is not None or item.content_hash is None:
            tally.failed += 1
            if stamp is not None:  # it changed and is now unreadable: forget what the old pixels said
                photos.upsert_photo(session, item.path, item.size, item.mtime, folder_id=folder_id)
            captions.record_failure(session, item.path, f"cannot index the file: {item.error}")
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
                captions.clear_failure(session, item.path)
                self.failed_paths.discard(item.path)
            tally.new_rows.append((item, folder_id))
            if not item.imported.empty:
                tally.imports[item.path] = item.imported
            return
        if moved_from is not None:
            photos.move_photo(session, moved_from, item.path)
            tally.claimed.add(moved_from)
        photo = self._upsert(session, item, folder_id)
        (tally.moved if moved_from is not None else tally.updated).append(photo.id)

    def _upsert(self, session: Session, item: Inspected, folder_id: int | None) -> PhotoInfo:
        photo = photos.upsert_photo(
            session, item.path, item.size, item.mtime, folder_id=folder_id, **item.metadata()
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
        items, self.tally.new_rows = self.tally.new_rows, []
        imports, self.tally.imports = self.tally.imports, {}
        if not items:
            return
        # Someone else (the watcher, another process) may have added some meanwhile: those are upserts.
        taken = set(_existing_paths(session, [item.path for item, _ in items]))
        fresh = [_new_row(item, folder_id) for item, folder_id in items if item.path not in taken]
        if fresh:
            session.execute(insert(Photo), fresh)
        ids = dict(_existing_paths(session, [row["path"] for row in fresh]))
        self.tally.added.extend(ids[row["path"]] for row in fresh)
        for path, imported in imports.items():
            if path in ids:
                _store_imported(session, ids[path], imported)
        for item, folder_id in items:
            if item.path in taken:
                photo = photos.upsert_photo(
                    session, item.path, item.size, item.mtime, folder_id=folder_id, **item.metadata()
                )
                if item.path in imports:
                    _store_imported(session, photo.id, imports[item.path])
                self.tally.updated.append(photo.id)
        if self.want_photos and fresh:
            for row_photo in session.scalars(select(Photo).where(Photo.id.in_(list(ids.values())))):
                self.tally.photos[row_photo.path] = PhotoInfo.from_orm(row_photo)


def _store_imported(session: Session, photo_id: int, imported: ImportedText) -> None:
    """Make what the file says the person's caption and keywords (see :mod:`.metadata`)."""
    if imported.caption is not None and imported.source is not None:
        captions.set_imported_caption(session, photo_id, imported.caption, imported.source)
    if imported.keywords:
        keywords.add_imported_keywords(session, photo_id, imported.keywords)


def _new_row(item: Inspected, folder_id: int | None) -> dict[str, Any]:
    return {
        "path": item.path,
        "name": os.path.basename(item.path),
        "folder_id": folder_id,
        "size": item.size,
        "mtime": item.mtime,
        **item.metadata(),
        "added_at": utcnow(),
        "status": PhotoStatus.NEW,
    }


def _existing_paths(session: Session, paths: Sequence[str]) -> Iterator[tuple[str, int]]:
    for start in range(0, len(paths), 500):
        stmt = select(Photo.path, Photo.id).where(Photo.path.in_(paths[start : start + 500]))
        for row in session.execute(stmt):
            yield row.path, row.id


def failure_paths(session: Session, paths: Sequence[str] | None = None) -> set[str]:
    """The files (of ``paths``, or all) that have a failure record."""
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
        if photos.is_under(path, folder.path, recursive=folder.recursive) and (
            best is None or len(folder.path) > len(best.path)
        ):
            best = folder
    return best.id if best is not None else None


def mark_missing_ids(session: Session, photo_ids: Sequence[int]) -> None:
    """Mark these photos missing (their files are gone), in chunks of 500 ids."""
    for start in range(0, len(photo_ids), 500):
        session.execute(
            update(Photo)
            .where(Photo.id.in_(photo_ids[start : start + 500]))
            .values(status=PhotoStatus.MISSING)
            .execution_options(synchronize_session=False)
        )
