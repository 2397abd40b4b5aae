"""Folder scanning: find the photos under a folder and bring the library up to date.

A scan has two phases:

1. **Walk** (:mod:`.walking`, ``os.scandir``, iterative): list every file with one ``stat``
   each, skipping hidden and system folders and never walking a folder twice.
2. **Index** (:mod:`.indexing`): a file whose size and mtime match what the library knows is
   *unchanged* and is never opened, which is what makes a rescan of 100k
   files take seconds. Any other file is read (hash, EXIF summary, the descriptions and
   keywords it carries) on a few threads; the results are written in batches
   of :data:`BATCH_SIZE` files per ``BEGIN IMMEDIATE`` transaction. A new file with the hash
   of a photo whose file is gone is that photo, moved; one with the hash of a photo still on
   disk is a counted duplicate.

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
import logging
import os
import stat as stat_mod
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields

from sqlalchemy import select
from sqlalchemy.orm import Session

from photoscribe.core.errors import LibraryError
from photoscribe.core.files.safe_files import folder_refusal, on_pseudo_fs
from photoscribe.core.library import captions, photos, sidecars
from photoscribe.core.library.database import Library
from photoscribe.core.library.indexing import (
    HashIndex,
    Tally,
    Writer,
    failure_paths,
    file_hash,
    inspect_all,
    load_hash_index,
    mark_missing_ids,
    new_pool,
)
from photoscribe.core.library.records import FileStamp, FolderInfo, PhotoInfo
from photoscribe.core.library.schema import Photo, PhotoStatus
from photoscribe.core.library.walking import (
    FoundFile,
    covered_folders,
    excluded_dirs,
    has_undecodable_name,
    is_ignored_name,
    list_files,
    walk_folder,
)
from photoscribe.core.paths import display_path
from photoscribe.core.progress import Progress, ProgressCallback, ProgressTracker

# The walker's and the indexer's names that callers know from here (the watcher, the CLI, tests).
__all__ = [
    "BATCH_SIZE",
    "IndexResult",
    "ScanReport",
    "add_folder",
    "covered_folders",
    "excluded_dirs",
    "file_hash",
    "index_paths",
    "is_ignored_name",
    "list_files",
    "record_bad_names",
    "rescan_all",
    "scan_folder",
]

log = logging.getLogger(__name__)

BATCH_SIZE = 200  # files written per transaction


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

    def describe(self, *, changes_only: bool = False) -> str:
        """One line for people: ``12 added, 3 updated, ... in 1.2 s``.

        With ``changes_only``, only the changes that are not zero, as the app says them after a
        scan: ``"1,200 added, 1 failed"``, or ``"no new photos"``.
        """
        counts = (
            ("added", self.added),
            ("updated", self.updated),
            ("moved", self.moved),
            ("missing", self.missing),
            ("unchanged", self.unchanged),
            ("duplicates", self.duplicates),
            ("not images", self.skipped),
            ("failed", self.failed),
        )
        if changes_only:
            changes = [(label, n) for label, n in counts if n and label not in ("unchanged", "not images")]
            return ", ".join(f"{n:,} {label}" for label, n in changes) or "no new photos"
        parts = ", ".join(f"{n} {label}" for label, n in counts)
        return parts + f" in {self.seconds:.1f} s" + (" (cancelled)" if self.cancelled else "")


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


BAD_NAME_MESSAGE = (
    "the file name is not valid UTF-8 (an old drive or network share?); rename the file to index it"
)


def record_bad_names(library: Library, paths: Sequence[str]) -> int:
    """Record one failure per file whose name is not UTF-8; returns how many."""
    if paths:
        with library.transaction() as session:
            for path in paths:
                captions.record_failure(session, display_path(path), BAD_NAME_MESSAGE)
        log.warning("%d files have names that are not UTF-8 and were skipped", len(paths))
    return len(paths)


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
        folder = photos.get_folder(session, folder_path)
        folders = photos.list_folders(session)
    if folder is None:
        raise LibraryError(f"{folder_path} is not a library folder; add it first (`library add FOLDER`)")
    tracker = ProgressTracker("scan", None, on_progress)
    walk = walk_folder(
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
        if photos.is_under(path, folder.path, recursive=folder.recursive)
    }
    seen = {f.path for f in walk.files}
    vanished = _vanished(known, seen, walk.unreadable)
    todo = [found for found in walk.files if not _unchanged(known.get(found.path), found)]
    unchanged = len(walk.files) - len(todo)
    tracker.total = len(walk.files)
    tracker.update(unchanged, f"{unchanged} files unchanged")

    writer = Writer(HashIndex(), folders, set())
    cancelled = False
    if todo:
        with library.session() as session:
            writer.index = load_hash_index(session, None, vanished, seen)
            writer.failed_paths = failure_paths(session)
        cancelled = _index_batches(library, writer, todo, known, tracker, cancel)
    tally = writer.tally
    tally.failed += record_bad_names(library, walk.bad_names)
    # Sidecars edited on their own (the photo unchanged): read those photos again (core/library/sidecars.py).
    resynced: list[int] = []
    if not cancelled:
        listed = {f.path: (f.size, f.mtime) for f in walk.files}
        resynced = sidecars.sync_folder(library, folder, listed, {*tally.added, *tally.updated, *tally.moved})

    missing_ids = [] if cancelled else [known[p].photo_id for p in sorted(vanished - tally.claimed)]
    if missing_ids:
        with library.transaction() as session:
            mark_missing_ids(session, missing_ids)
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


def _unchanged(stamp: FileStamp | None, found: FoundFile) -> bool:
    """Whether the library knows this file as it is on disk (same size and mtime, not missing)."""
    return (
        stamp is not None
        and (stamp.size, stamp.mtime) == (found.size, found.mtime)
        and stamp.status != PhotoStatus.MISSING
    )


def _vanished(known: dict[str, FileStamp], seen: set[str], unreadable: list[str]) -> set[str]:
    """Known files the walk did not see, outside the folders it could not list (those stay as they are)."""
    folders = [photos.normalize_path(d) for d in unreadable]
    return {
        path
        for path, stamp in known.items()
        if path not in seen
        and stamp.status != PhotoStatus.MISSING
        and not any(photos.is_under(path, d) for d in folders)
    }


def _index_batches(
    library: Library,
    writer: Writer,
    todo: list[FoundFile],
    known: dict[str, FileStamp],
    tracker: ProgressTracker,
    cancel: threading.Event | None,
) -> bool:
    """Read and store ``todo`` a batch (one transaction) at a time; True when cancelled.

    Progress goes on from the unchanged files already counted (``tracker.done``).
    """
    done = tracker.done
    with new_pool() as pool:
        for begin in range(0, len(todo), BATCH_SIZE):
            if cancel is not None and cancel.is_set():
                return True
            batch = todo[begin : begin + BATCH_SIZE]
            inspected = inspect_all(batch, pool)
            with library.transaction() as session:
                for item in inspected:
                    writer.store(session, item, known.get(item.path))
                writer.flush(session)
            tracker.update(done + begin + len(batch), batch[-1].path)
    return False


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
    norm = photos.normalize_path(path)
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
        if not any(other.recursive and photos.is_under(f.path, other.path) for other in folders)
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
    wanted: dict[str, FoundFile] = {}
    bad_names: list[str] = []
    for raw in paths:
        norm = photos.normalize_path(raw)
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
            wanted[norm] = FoundFile(norm, st.st_size, st.st_mtime)
    tally = Tally()
    tally.failed += record_bad_names(library, bad_names)
    if not wanted:
        return IndexResult(failed=tally.failed)
    with library.session() as session:
        folders = photos.list_folders(session)
    items = list(wanted.values())
    pool = new_pool() if len(items) >= 8 else None
    try:
        for begin in range(0, len(items), BATCH_SIZE):
            batch = items[begin : begin + BATCH_SIZE]
            with library.session() as session:
                stamps = _stamps(session, [f.path for f in batch])
            todo = []
            for found in batch:
                stamp = stamps.get(found.path)
                if stamp is not None and _unchanged(stamp, found):
                    tally.unchanged.append(stamp.photo_id)
                else:
                    todo.append(found)
            inspected = inspect_all(todo, pool)
            hashes = [i.content_hash for i in inspected if i.content_hash is not None]
            with library.transaction() as session:
                index = load_hash_index(session, hashes, set()) if hashes else HashIndex()
                writer = Writer(
                    index, folders, failure_paths(session, [i.path for i in inspected]), True, tally
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
