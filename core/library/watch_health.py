"""Which folders the watcher watches, and whether each watch still works.

:class:`WatchedFolders` arms one recursive watchdog watch per outermost
folder and checks them every ``health_s`` (a ``stat`` per folder): a folder
that vanished (a drive unplugged), that is another folder now (same path, new
inode: deleted and recreated, or mounted again) or whose watchdog emitter died
is reported lost, and re-armed when it is back, followed by a rescan of its
library folders, since events were lost. A folder whose watch cannot be armed
(e.g. inotify limits) is rescanned every ``rescan_every_s`` instead (polling),
and armed as soon as that works. The library file is checked too: when it is
deleted or replaced, :attr:`WatchedFolders.library_gone` turns true and
:attr:`WatchState.LIBRARY_GONE` is reported, so that nothing more is written.

Every change is reported as a :class:`WatchStatus` through ``tell``. The
events themselves are handled by :class:`~photoscribe.core.library.watcher.FolderWatcher`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from photoscribe.core.errors import LibraryError
from photoscribe.core.library import photos
from photoscribe.core.library.database import Library
from photoscribe.core.library.scanner import ScanReport, scan_folder

log = logging.getLogger(__name__)


class WatchState(str, Enum):
    """Where a watched folder stands (see :class:`WatchStatus`)."""

    WATCHING = "watching"
    LOST = "lost"  # the folder is gone or its watch died; waiting for it to come back
    REARMED = "re-armed"  # back and watched again, after a rescan
    POLLING = "polling"  # the watch cannot be armed: rescanned every ``rescan_every_s`` instead
    LIBRARY_GONE = "library gone"  # the library file was deleted or replaced: nothing is written


@dataclass(frozen=True)
class WatchStatus:
    """A change in how a folder is watched, for a log line or the status bar."""

    folder: str
    state: WatchState
    message: str
    report: ScanReport | None = None  # the rescan that followed, if any

    def describe(self) -> str:
        return f"{self.folder}: {self.message}"


def _identity(path: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of a folder, or ``None`` when it is not there (or not a folder)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if os.path.isdir(path) else None


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class WatchedFolders:
    """The watched folders, their watchdog watches and their health (see the module docstring).

    Args:
        library: the library whose folders are rescanned after a lost watch, and whose file is checked.
        handler: the watchdog handler every watch feeds.
        tell: called with each :class:`WatchStatus` (outside the lock).
        rescan_every_s: how often a folder whose watch cannot be armed is rescanned.
    """

    def __init__(
        self,
        library: Library,
        handler: FileSystemEventHandler,
        tell: Callable[[WatchStatus], None],
        *,
        rescan_every_s: float = 60.0,
    ) -> None:
        self.library = library
        self.rescan_every_s = max(0.05, float(rescan_every_s))
        self._handler = handler
        self._tell = tell
        self._states: dict[str, WatchState] = {}  # root -> state; guarded by _lock
        self._identities: dict[str, tuple[int, int]] = {}  # root -> (dev, ino) when it was armed
        self._next_poll: dict[str, float] = {}  # POLLING root -> when to rescan it next
        self._roots: set[str] = set()
        self._root_snapshot: frozenset[str] = frozenset()  # read without the lock
        self._lock = threading.Lock()  # guards _roots, _states, _watches and the observer
        self._watches: dict[str, ObservedWatch] = {}
        self.observer: BaseObserver | None = None
        self._library_identity = _file_identity(str(library.path))
        self._library_gone = False

    @property
    def roots(self) -> frozenset[str]:
        """The folders being watched."""
        return self._root_snapshot

    @property
    def library_gone(self) -> bool:
        """Whether the library file was deleted or replaced while watching (nothing is written since)."""
        return self._library_gone

    # ------------------------------------------------------------------ the observer

    def start(self) -> None:
        """Start the watchdog observer and arm the watches of the folders added before."""
        with self._lock:
            if self.observer is not None:
                return
            self.observer = Observer()
            self.observer.daemon = True
            self.observer.start()
            failed = self._reschedule()
        for status in failed:
            self._tell(status)

    def stop(self, timeout: float | None) -> None:
        """Stop the observer (the folders stay listed: :meth:`start` arms them again)."""
        with self._lock:
            observer, self.observer = self.observer, None
            self._watches.clear()
        if observer is not None:
            observer.stop()
            observer.join(timeout)

    # ------------------------------------------------------------------ watched folders

    def watch(self, path: str | os.PathLike[str], *, absent_ok: bool = False) -> None:
        """See :meth:`~photoscribe.core.library.watcher.FolderWatcher.watch`."""
        root = photos.normalize_path(path)
        identity = _identity(root)
        if identity is None and not absent_ok:
            raise LibraryError(f"cannot watch {root}: it is not a folder")
        with self._lock:
            self._roots.add(root)
            self._root_snapshot = frozenset(self._roots)
            if identity is None:
                self._states[root] = WatchState.LOST
            else:
                self._identities[root] = identity
                self._states[root] = WatchState.WATCHING
            failed = self._reschedule()
        if identity is None:
            message = "the folder is not there (a drive not plugged in?); it is watched when it appears"
            failed.insert(0, WatchStatus(root, WatchState.LOST, message))
        for status in failed:
            self._tell(status)
        log.info("watching %s", root)

    def unwatch(self, path: str | os.PathLike[str]) -> None:
        """Stop watching a folder (its photos stay in the library)."""
        root = photos.normalize_path(path)
        with self._lock:
            self._roots.discard(root)
            self._root_snapshot = frozenset(self._roots)
            for table in (self._states, self._identities, self._next_poll):
                table.pop(root, None)
            failed = self._reschedule()
        for status in failed:
            self._tell(status)

    def states(self) -> dict[str, WatchState]:
        """Each watched folder's state."""
        with self._lock:
            return dict(self._states)

    def _reschedule(self) -> list[WatchStatus]:
        """Schedule one recursive watch per outermost root that is there (caller holds ``_lock``).

        A root whose watch the OS refuses falls back to polling; returns the statuses to report.
        """
        if self.observer is None:
            return []
        armable = {r for r in self._roots if self._states.get(r) is not WatchState.LOST}
        top = {r for r in armable if not any(photos.is_under(r, other) for other in armable)}
        for root in set(self._watches) - top:
            self._disarm(root)
        failed: list[WatchStatus] = []
        for root in sorted(top - set(self._watches)):
            try:
                self._watches[root] = self.observer.schedule(self._handler, root, recursive=True)
            except OSError as exc:
                if self._states.get(root) is not WatchState.POLLING:
                    self._states[root] = WatchState.POLLING
                    failed.append(
                        WatchStatus(
                            root,
                            WatchState.POLLING,
                            f"cannot watch this folder ({exc}); rescanning it every "
                            f"{self.rescan_every_s:g} s instead (on Linux, raise "
                            "fs.inotify.max_user_watches)",
                        )
                    )
                self._next_poll.setdefault(root, time.monotonic() + self.rescan_every_s)
        return failed

    def _disarm(self, root: str) -> None:
        """Drop a root's watchdog watch, dead or alive (caller holds ``_lock``)."""
        watch = self._watches.pop(root, None)
        if watch is not None and self.observer is not None:
            try:
                self.observer.unschedule(watch)
            except (KeyError, OSError) as exc:  # its emitter is already gone
                log.debug("unscheduling the watch of %s: %s", root, exc)

    # ------------------------------------------------------------------ health

    def check(self) -> None:
        """Look at the library file and every watch once (see the module docstring); rescan what
        came back or is polled, and report it."""
        if not self._library_gone and _file_identity(str(self.library.path)) != self._library_identity:
            self._library_gone = True
            self._tell(
                WatchStatus(
                    str(self.library.path),
                    WatchState.LIBRARY_GONE,
                    "the library file was deleted or replaced while watching; nothing more is "
                    "written to it. Restore it from a backup (or start again with `library add`) "
                    "and restart watching",
                )
            )
        if self._library_gone:
            return
        statuses: list[WatchStatus] = []
        rescans: list[tuple[str, WatchState, str]] = []
        now = time.monotonic()
        with self._lock:
            observer = self.observer
            if observer is None:
                return
            live = {emitter.watch for emitter in observer.emitters if emitter.is_alive()}
            for root in sorted(self._roots):
                self._check_root(root, live, now, statuses, rescans)
        for status in statuses:
            self._tell(status)
        for root, state, message in rescans:
            report = self._rescan(root)
            detail = f": {report.describe()}" if report is not None else ""
            self._tell(WatchStatus(root, state, message + detail, report))

    def _check_root(
        self,
        root: str,
        live: set[ObservedWatch],
        now: float,
        statuses: list[WatchStatus],
        rescans: list[tuple[str, WatchState, str]],
    ) -> None:
        """One root's health (caller holds ``_lock``): what to report goes to ``statuses``, what to
        rescan (and then report) to ``rescans``."""
        state = self._states.get(root, WatchState.WATCHING)
        identity = _identity(root)
        if identity is None:
            if state is not WatchState.LOST:
                self._states[root] = WatchState.LOST
                self._next_poll.pop(root, None)
                self._disarm(root)
                statuses.append(
                    WatchStatus(
                        root,
                        WatchState.LOST,
                        "the folder is gone (a drive unplugged?); it is watched again as soon as it is back",
                    )
                )
            return
        watch = self._watches.get(root)
        dead = (
            state is WatchState.LOST
            or identity != self._identities.get(root)
            or (watch is not None and watch not in live)
        )
        poll_due = state is WatchState.POLLING and now >= self._next_poll.get(root, 0.0)
        if not dead and not poll_due:
            return
        if dead:
            self._disarm(root)
        self._identities[root] = identity
        if state is WatchState.LOST:
            self._states[root] = WatchState.WATCHING  # armable again
        self._next_poll.pop(root, None)
        statuses.extend(self._reschedule())
        if any(root == top or photos.is_under(root, top) for top in self._watches):
            self._states[root] = WatchState.WATCHING
            rescans.append((root, WatchState.REARMED, "back, and watched again; rescanned"))
        else:
            self._states[root] = WatchState.POLLING
            self._next_poll[root] = now + self.rescan_every_s
            rescans.append((root, WatchState.POLLING, "rescanned (its watch cannot be armed)"))

    def _rescan(self, root: str) -> ScanReport | None:
        """Scan the library folders at or under ``root`` (events were lost while it was not watched)."""
        report: ScanReport | None = None
        folders = self.library.list_folders()
        for folder in folders:
            if folder.path != root and not photos.is_under(folder.path, root):
                continue
            if any(
                other.recursive and other.path != folder.path and photos.is_under(folder.path, other.path)
                for other in folders
                if other.path == root or photos.is_under(other.path, root)
            ):
                continue  # covered by its parent's scan
            try:
                part = scan_folder(self.library, folder.path)
            except LibraryError as exc:
                log.warning("cannot rescan %s: %s", folder.path, exc)
                continue
            report = part if report is None else report + part
        return report
