"""Keep the library in step with the watched folders while the app runs.

The watchdog observer's handler only *enqueues* events. One consumer thread
owns everything else:

* **Coalescing**: events are folded per path. A created/modified file waits
  until no event touched it for ``debounce_s``, then until its size and
  mtime are the same over ``stable_checks`` polls (and a JPEG or PNG ends
  with its end marker), so a file still being copied is retried, never
  indexed half-written. Only regular files are looked at, with bounded reads
  (:mod:`photoscribe.core.files.safe_files`): a FIFO, a device (a link to
  ``/dev/zero``) or a file of ``/proc`` arriving is ignored. Due files are indexed together by
  :func:`~photoscribe.core.library.scanner.index_paths`, in batched
  transactions, at most once per poll interval, so a burst of thousands of
  copied files becomes a few large writes.
* **Moves** keep the photo's id and captions (``move_photo`` /
  ``move_directory``). A move out of every watched folder (or into a hidden
  one) marks the photo missing; a move in is indexed like a new file. A move
  between two separately watched folders arrives as a delete and a create;
  the create is recognised as a move by content hash.
* **Deletes** mark photos missing (kept with their captions; see
  :mod:`~photoscribe.core.library.scanner` for why).

After each round that changed the library, ``on_change`` receives a
:class:`ChangeSummary` on the consumer thread. Events that happen while the
watcher is stopped are caught up by a rescan
(:func:`~photoscribe.core.library.scanner.rescan_all`).

**Health**: every ``health_s`` the consumer has
:class:`~photoscribe.core.library.watch_health.WatchedFolders` check that each
watch is still alive (re-arming a lost one after a rescan, polling a folder
whose watch cannot be armed) and that the library file is still there; when
it is not, the watcher stops writing and reports :attr:`WatchState.LIBRARY_GONE`.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session
from watchdog.events import FileSystemEvent, FileSystemEventHandler

from photoscribe.core.errors import UnsupportedImageError
from photoscribe.core.files.safe_files import on_pseudo_fs, read_head_and_tail
from photoscribe.core.library import photos, sidecars
from photoscribe.core.library.database import Library
from photoscribe.core.library.scanner import (
    covered_folders,
    excluded_dirs,
    index_paths,
    is_ignored_name,
    list_files,
)
from photoscribe.core.library.schema import Photo, PhotoStatus
from photoscribe.core.library.watch_health import WatchedFolders, WatchState, WatchStatus

__all__ = ["ChangeSummary", "FolderWatcher", "WatchState", "WatchStatus"]

log = logging.getLogger(__name__)

# Event types worth a look; "opened" and "closed_no_write" are only noise.
_FILE_TOUCHED = frozenset({"created", "modified", "closed", "attrib"})
_INTERESTING = _FILE_TOUCHED | {"moved", "deleted"}
_TAIL_BYTES = 64
SETTLE_TIMEOUT_S = 10.0  # a file that stays unchanged but looks truncated is indexed anyway after this


@dataclass(frozen=True)
class ChangeSummary:
    """What one round of the watcher changed, by photo id."""

    added: tuple[int, ...] = ()
    updated: tuple[int, ...] = ()
    moved: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()  # marked missing

    def __bool__(self) -> bool:
        return bool(self.added or self.updated or self.moved or self.removed)

    def describe(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.moved)} moved, {len(self.removed)} removed"
        )


@dataclass(frozen=True)
class _Event:
    kind: str
    src: str
    dest: str
    is_directory: bool


@dataclass
class _Pending:
    """A file waiting to be indexed: when to look at it next and what it looked like last time."""

    due: float
    last: tuple[int, int] | None = None  # (size, mtime_ns)
    stable: int = 0
    stable_since: float = 0.0


@dataclass
class _Round:
    added: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    moved: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)

    def summary(self) -> ChangeSummary:
        def unique(ids: list[int]) -> tuple[int, ...]:
            return tuple(dict.fromkeys(ids))

        return ChangeSummary(
            unique(self.added), unique(self.updated), unique(self.moved), unique(self.removed)
        )


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's thread: enqueue and return."""

    def __init__(self, push: Callable[[_Event], None]) -> None:
        super().__init__()
        self._push = push

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _INTERESTING:
            return
        if event.is_directory and event.event_type in ("modified", "attrib", "closed"):
            return  # a folder's mtime changes whenever a file in it does
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        self._push(_Event(event.event_type, src, dest, event.is_directory))


class FolderWatcher:
    """Watches folders with watchdog and keeps the library up to date (see the module docstring).

    Args:
        library: the library to update; the consumer thread opens its own sessions.
        debounce_s: quiet time after the last event on a file before it is looked at.
        stable_checks: how many polls in a row must see the same size and mtime.
        on_change: called on the consumer thread with a summary after each round that changed something.
        on_status: called with a :class:`WatchStatus` when a watch is lost, re-armed (after its rescan),
            falls back to periodic rescans, or when the library file is gone; on the consumer thread
            (or the thread calling :meth:`watch`).
        health_s: how often the watches and the library file are checked (a ``stat`` each).
        rescan_every_s: how often a folder whose watch cannot be armed is rescanned.
    """

    def __init__(
        self,
        library: Library,
        *,
        debounce_s: float = 0.5,
        stable_checks: int = 2,
        on_change: Callable[[ChangeSummary], None] | None = None,
        on_status: Callable[[WatchStatus], None] | None = None,
        health_s: float = 2.0,
        rescan_every_s: float = 60.0,
    ) -> None:
        self.library = library
        self.debounce_s = max(0.0, float(debounce_s))
        self.stable_checks = max(1, int(stable_checks))
        self.poll_s = max(0.05, self.debounce_s / 2)
        self.on_change = on_change
        self.on_status = on_status
        self.health_s = max(0.05, float(health_s))
        self._next_health = 0.0
        self._cond = threading.Condition()
        self._events: deque[_Event] = deque()
        self._busy = False
        self._stopping = False
        self._pending: dict[str, _Pending] = {}  # consumer thread only
        self._life_lock = threading.Lock()  # start and stop
        self._consumer: threading.Thread | None = None
        self._handler = _Handler(self._push)
        self.folders = WatchedFolders(library, self._handler, self._tell, rescan_every_s=rescan_every_s)
        self._library_prefix = photos.normalize_path(library.path)
        self._excluded = excluded_dirs()

    @property
    def rescan_every_s(self) -> float:
        return self.folders.rescan_every_s

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the observer and the consumer thread (watches added before are scheduled now)."""
        with self._life_lock:
            if self._consumer is not None:
                return
            self._stopping = False
            self._consumer = threading.Thread(target=self._run, name="photoscribe-watcher", daemon=True)
            self._consumer.start()
        self.folders.start()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Stop watching and join both threads; events not yet handled are dropped (a rescan catches up).

        Returns whether the consumer thread ended within ``timeout`` (it keeps running, a daemon,
        until its round ends otherwise).
        """
        with self._life_lock:
            consumer, self._consumer = self._consumer, None
        self.folders.stop(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if consumer is not None:
            consumer.join(timeout)
            if consumer.is_alive():
                log.warning("the folder watcher did not stop within %s s", timeout)
        with self._cond:
            self._events.clear()
            self._busy = False
            self._cond.notify_all()
        self._pending.clear()
        return consumer is None or not consumer.is_alive()

    @property
    def running(self) -> bool:
        consumer = self._consumer
        return consumer is not None and consumer.is_alive()

    def __enter__(self) -> FolderWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ watched folders

    @property
    def roots(self) -> frozenset[str]:
        """The folders being watched."""
        return self.folders.roots

    def watch(self, path: str | os.PathLike[str], *, absent_ok: bool = False) -> None:
        """Watch a folder recursively (idempotent; a folder inside a watched one costs nothing).

        A folder whose watch the OS refuses (e.g. inotify limits) is rescanned every
        ``rescan_every_s`` instead (``on_status`` says so) and armed as soon as that works. With
        ``absent_ok``, a folder that is not there (a drive not plugged in) is reported lost and
        watched, then rescanned, as soon as it appears.

        Raises:
            LibraryError: the folder does not exist (and ``absent_ok`` is false).
        """
        self.folders.watch(path, absent_ok=absent_ok)

    def unwatch(self, path: str | os.PathLike[str]) -> None:
        """Stop watching a folder (its photos stay in the library)."""
        self.folders.unwatch(path)

    def states(self) -> dict[str, WatchState]:
        """Each watched folder's state."""
        return self.folders.states()

    @property
    def library_gone(self) -> bool:
        """Whether the library file was deleted or replaced while watching (nothing is written since)."""
        return self.folders.library_gone

    def _tell(self, status: WatchStatus) -> None:
        quiet = self.on_status is not None or status.state in (WatchState.WATCHING, WatchState.REARMED)
        log.log(logging.INFO if quiet else logging.WARNING, "%s", status.describe())  # else the owner says it
        if self.on_status is not None:
            try:
                self.on_status(status)
            except Exception:
                log.exception("the watch status callback failed")

    def _is_watched(self, path: str) -> bool:
        """Under a watched root, with no hidden or system folder (or name) in between.

        Our own files never count: the library database (and its -wal, -shm) and the cache.
        """
        if path.startswith(self._library_prefix) or any(
            path == d or photos.is_under(path, d) for d in self._excluded
        ):
            return False
        for root in self.folders.roots:
            if photos.is_under(path, root):
                parts = path[len(root) :].strip(os.sep).split(os.sep)
                if not any(is_ignored_name(part) for part in parts):
                    return True
        return False

    # ------------------------------------------------------------------ events in

    def _push(self, event: _Event) -> None:
        with self._cond:
            if not self._stopping:
                self._events.append(event)
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no event is queued, no file is waiting and the consumer is idle (for tests).

        Events the OS has not delivered yet are not seen: wait for their effect first.
        """

        def idle() -> bool:
            return not self._events and not self._pending and not self._busy

        with self._cond:
            return self._cond.wait_for(idle, timeout)

    # ------------------------------------------------------------------ the consumer thread

    def _run(self) -> None:
        next_round = 0.0
        self._next_health = time.monotonic() + self.health_s
        while True:
            with self._cond:
                while not self._stopping and not self._events:
                    due = self._next_due(next_round)
                    wait = self._next_health - time.monotonic()
                    if due is not None:
                        wait = min(wait, due)
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._stopping:
                    return
                events = list(self._events)
                self._events.clear()
                self._busy = True
            try:
                if time.monotonic() >= self._next_health:
                    self.folders.check()
                    self._next_health = time.monotonic() + self.health_s
                if self.folders.library_gone:  # nothing more is written to a file nobody can open again
                    self._pending.clear()
                    continue
                changes = _Round()
                self._apply_events(events, changes)
                now = time.monotonic()
                if now >= next_round:
                    ready = self._poll_due(now)
                    if ready:
                        self._index(ready, changes)
                        next_round = time.monotonic() + self.poll_s
                self._report(changes)
            except Exception:  # keep watching: the failure is logged with its traceback
                log.exception("the folder watcher failed to process %d events", len(events))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _next_due(self, not_before: float) -> float | None:
        """Seconds until the next pending file is due (None: nothing pending)."""
        if not self._pending:
            return None
        due = max(min(p.due for p in self._pending.values()), not_before)
        return due - time.monotonic()

    def _touch(self, path: str) -> None:
        entry = self._pending.get(path)
        due = time.monotonic() + self.debounce_s
        if entry is None:
            self._pending[path] = _Pending(due)
        else:
            entry.due, entry.stable = due, 0

    def _drop_pending(self, path: str, is_directory: bool) -> list[str]:
        dropped = [p for p in self._pending if p == path or (is_directory and photos.is_under(p, path))]
        for p in dropped:
            del self._pending[p]
        return dropped

    def _apply_events(self, events: Iterable[_Event], changes: _Round) -> None:
        """Fold events into pending files; apply moves and deletes now, in order, in one transaction."""
        in_order: list[_Event] = []
        for event in events:
            src = photos.normalize_path(event.src)
            if event.kind in _FILE_TOUCHED:
                if not self._is_watched(src):
                    continue
                if event.is_directory or (event.kind == "created" and os.path.isdir(src)):
                    # Files created before its watch existed send no events; a symlink to a folder
                    # arrives as a file event.
                    if event.kind == "created":
                        self._touch_tree(src)
                else:
                    self._touch(src)
            elif event.kind == "deleted":
                self._drop_pending(src, event.is_directory)
                self._touch_sidecar(src, event.is_directory)
                in_order.append(_Event("deleted", src, "", event.is_directory))
            elif event.kind == "moved" and event.dest:
                dest = photos.normalize_path(event.dest)
                was_pending = self._drop_pending(src, event.is_directory)
                self._touch_sidecar(src, event.is_directory)
                src_watched, dest_watched = self._is_watched(src), self._is_watched(dest)
                if dest_watched:
                    for path in was_pending:
                        self._touch(dest + path[len(src) :])
                if src_watched and dest_watched:
                    in_order.append(_Event("moved", src, dest, event.is_directory))
                elif src_watched:
                    in_order.append(_Event("deleted", src, "", event.is_directory))
                elif dest_watched:
                    if event.is_directory or os.path.isdir(dest):
                        self._touch_tree(dest)
                    else:
                        self._touch(dest)
        if in_order:
            with self.library.transaction() as session:
                for op in in_order:
                    self._apply_op(session, op, changes)

    def _apply_op(self, session: Session, op: _Event, changes: _Round) -> None:
        if op.kind == "deleted":
            ids = _present_ids(session, op.src, op.is_directory)
            for photo_id in ids:
                photos.mark_missing(session, photo_id)
            changes.removed.extend(ids)
            return
        if op.is_directory:
            ids = _present_ids(session, op.src, True)
            photos.move_directory(session, op.src, op.dest)
            changes.moved.extend(ids)
            return
        photo = photos.move_photo(session, op.src, op.dest)
        if photo is not None:
            changes.moved.append(photo.id)
        # The destination may hold other bytes than the row says (an editor's "save to temp, rename"):
        # look at it like a touched file; an unchanged one costs a stat.
        self._touch(op.dest)

    def _touch_tree(self, directory: str) -> None:
        """Touch every file of a folder that appeared, listed by the scanner's walker (same links
        followed, same folders skipped, each real folder once)."""
        files, bad_names = list_files(directory, covered_folders(self.library.list_folders()))
        for path in files + bad_names:
            self._touch(path)

    def _poll_due(self, now: float) -> list[str]:
        """Stat the due files; those stable for ``stable_checks`` polls (and complete) are ready."""
        ready: list[str] = []
        for path, entry in list(self._pending.items()):
            if entry.due > now:
                continue
            try:
                st = os.stat(path)
            except OSError:  # gone again: its delete event does the rest
                del self._pending[path]
                if sidecars.is_sidecar(path):  # a sidecar deleted: its photos are read again
                    ready.append(path)
                continue
            if not stat.S_ISREG(st.st_mode) or on_pseudo_fs(st):  # a FIFO, /dev/zero, /proc: no photo
                log.info("ignoring %s: not a regular file", path)
                del self._pending[path]
                continue
            stamp = (st.st_size, st.st_mtime_ns)
            if stamp == entry.last:
                entry.stable += 1
            else:
                entry.last, entry.stable, entry.stable_since = stamp, 1, now
            settled = now - entry.stable_since >= SETTLE_TIMEOUT_S
            if entry.stable >= self.stable_checks and (settled or _looks_complete(path)):
                ready.append(path)
                del self._pending[path]
            else:
                entry.due = now + self.poll_s
        return ready

    def _touch_sidecar(self, path: str, is_directory: bool) -> None:
        """A sidecar deleted or moved away: its photos are read again once it settles (see _index)."""
        if not is_directory and sidecars.is_sidecar(path) and self._is_watched(path):
            self._touch(path)

    def _index(self, paths: list[str], changes: _Round) -> None:
        photo_paths = [p for p in paths if not sidecars.is_sidecar(p)]
        before = sidecars.stamps_before(photo_paths)
        result = index_paths(self.library, photo_paths)
        changes.added.extend(result.added)
        changes.updated.extend(result.updated)
        changes.moved.extend(result.moved)
        # Sidecars written, replaced or deleted on their own: read their photos again
        # (core/library/sidecars.py); only a change of caption or keywords counts as an update.
        fresh = {*result.added, *result.updated, *result.moved}
        sidecar_paths = [p for p in paths if sidecars.is_sidecar(p)]
        changes.updated.extend(sidecars.refresh(self.library, sidecar_paths, indexed=before, fresh=fresh))
        if result.failed:
            log.info("%d new files could not be read; see the library's failures", result.failed)

    def _report(self, changes: _Round) -> None:
        summary = changes.summary()
        if not summary:
            return
        log.debug("watcher: %s", summary.describe())
        if self.on_change is not None:
            self.on_change(summary)


def _present_ids(session: Session, path: str, is_directory: bool) -> list[int]:
    """Ids of the photos at ``path`` (or under it, for a directory) that are not already missing."""
    stmt = select(Photo.id).where(Photo.status != PhotoStatus.MISSING)
    stmt = photos.filter_folder(stmt, path) if is_directory else stmt.where(Photo.path == path)
    return list(session.scalars(stmt))


def _looks_complete(path: str) -> bool:
    """Whether a JPEG or PNG ends with its end marker (other formats: assume yes).

    Reads 8 bytes and the last 64, of regular files only (never a FIFO or a device).
    """
    try:
        head, tail = read_head_and_tail(path, 8, _TAIL_BYTES)
    except (OSError, UnsupportedImageError):  # gone, unreadable, or not a regular file (a FIFO)
        return False
    if head.startswith(b"\xff\xd8\xff"):
        return tail.rstrip(b"\x00").endswith(b"\xff\xd9")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return b"IEND" in tail[-12:]
    return True
