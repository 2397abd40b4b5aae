"""Walking a folder as a scan (and the watcher) does: which files are listed, which folders entered.

Hidden entries (``.*``) and system folders (``@eaDir``, ``$RECYCLE.BIN``, ...) are skipped;
directory symlinks are followed, but a directory already visited (same ``st_dev``/``st_ino``) is
not walked again, so symlink loops end, and a symlink that leads into a library folder (this one
or another, or a folder holding one) is not followed at all: that folder's photos are indexed once,
under their real path. Devices, FIFOs and sockets are never listed; pseudo file systems
(``/proc``, ``/sys``, ``/dev``) and folder symlinks that lead to a folder holding the walked one
(a link to ``/``) are never entered (:mod:`photoscribe.core.files.safe_files`). The watcher lists a
folder that appears with the same walker (:func:`list_files`), so both agree.
"""

from __future__ import annotations

import logging
import os
import stat as stat_mod
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from photoscribe.core.errors import LibraryError
from photoscribe.core.files.safe_files import folder_refusal, on_pseudo_fs
from photoscribe.core.library import photos
from photoscribe.core.library.records import FolderInfo
from photoscribe.core.paths import cache_dir
from photoscribe.core.progress import ProgressTracker

log = logging.getLogger(__name__)

WALK_PROGRESS_EVERY = 1000  # files listed between progress reports while walking

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
class FoundFile:
    """A file the walk listed, with the size and mtime of its one ``stat``."""

    path: str
    size: int
    mtime: float


@dataclass
class Walk:
    """What a walk found: the files, and the folders and names it could not use."""

    files: list[FoundFile] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # directories we could not list
    bad_names: list[str] = field(default_factory=list)  # files and folders whose names are not UTF-8
    cancelled: bool = False


def has_undecodable_name(path: str) -> bool:
    """Whether ``path`` holds bytes that are not UTF-8 (Python keeps them as lone surrogates).

    SQLite stores text as UTF-8, so such a path cannot be a library key; the file is reported
    as a failure (under :func:`~photoscribe.core.paths.display_path`) and the rest of the folder is indexed.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def excluded_dirs() -> frozenset[str]:
    """Folders never indexed even inside a library folder: our own cache (thumbnails are JPEGs!)."""
    return frozenset({photos.normalize_path(cache_dir())})


Covered = tuple[tuple[str, bool], ...]  # (real path, recursive) of each library folder


def covered_folders(folders: Iterable[FolderInfo]) -> Covered:
    """What the library's folders cover, by real path: a folder symlink that leads there is not followed."""
    return tuple((os.path.realpath(f.path), f.recursive) for f in folders)


def leads_into(path: str, covered: Covered) -> bool:
    """Whether the real location of ``path`` (a folder symlink) lies in a library folder, or holds
    one (a link to ``/`` or to the home folder would walk them, and the whole disk, again)."""
    if not covered:
        return False
    real = os.path.realpath(path)
    return any(
        real == top or photos.is_under(real, top, recursive=rec) or photos.is_under(top, real)
        for top, rec in covered
    )


def walk_folder(
    root: str,
    *,
    recursive: bool,
    tracker: ProgressTracker | None,
    cancel: threading.Event | None,
    covered: Covered = (),
) -> Walk:
    """Every non-hidden file under ``root``, following directory symlinks except those that lead
    into a folder of ``covered`` (without loops: each real folder once)."""
    result = Walk()
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
                                and not (entry.is_symlink() and leads_into(entry.path, covered))
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
                            result.files.append(FoundFile(entry.path, st.st_size, st.st_mtime))
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
    path = photos.normalize_path(directory)
    if os.path.islink(path) and leads_into(path, covered):
        return [], []
    try:
        walk = walk_folder(path, recursive=True, tracker=None, cancel=None, covered=covered)
    except LibraryError:  # gone again, or not a folder: its events do the rest
        return [], []
    return [f.path for f in walk.files], walk.bad_names


# --------------------------------------------------------------------------- inspecting files
