"""One captioning run per library at a time, across processes.

Two ``caption-pending`` runs on one library would both take the same pending
photos, caption them twice and throw one result away (the ``(photo, source)``
unique key keeps only the first). :class:`CaptionLock` is an advisory
``fcntl.flock`` on ``<library>.caption.lock`` beside the library file: the
kernel releases it when the holder exits, even on ``kill -9``, so a stale lock
never blocks anybody. The file holds the holder's pid, for the message.

The lock is between processes: inside one process it is re-entrant (counted),
so the CLI can take it before loading a model and the queue again for its run.
Where ``fcntl`` does not exist (Windows) the lock is a no-op; the unique key
still keeps one caption per (photo, model).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from types import TracebackType

from photoscribe.core.errors import LibraryBusyError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# Lock file -> [descriptor, holders] of the locks this process holds.
_held: dict[Path, list[int]] = {}
_held_guard = threading.Lock()


def lock_path(library_path: str | os.PathLike[str]) -> Path:
    """``<library>.caption.lock``: the lock file of a library file."""
    path = Path(library_path)
    return path.with_name(path.name + ".caption.lock")


class CaptionLock:
    """Hold the captioning lock of a library (a context manager).

    Raises:
        LibraryBusyError: another process (or another queue of this one) is captioning the library.
    """

    def __init__(self, library_path: str | os.PathLike[str] | None) -> None:
        self.path = None if library_path is None else lock_path(library_path).absolute()
        self._holding = False

    def acquire(self) -> None:
        if self.path is None or fcntl is None or self._holding:
            return
        with _held_guard:
            entry = _held.get(self.path)
            if entry is not None:
                entry[1] += 1
                self._holding = True
                return
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise LibraryBusyError(
                    f"another photoscribe (pid {holder}) is captioning the library "
                    f"{self.path.name.removesuffix('.caption.lock')}; wait for it to finish or stop it, "
                    "then run again"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            try:  # the pid is only for the other run's message: a full disk must not stop this one
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
            except OSError as exc:
                log.debug("could not write the pid into %s: %s", self.path, exc)
            _held[self.path] = [fd, 1]
            self._holding = True

    def release(self) -> None:
        if not self._holding or self.path is None:
            return
        self._holding = False
        with _held_guard:
            entry = _held[self.path]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[self.path]
                os.close(entry[0])  # closing the only descriptor releases the flock

    def __enter__(self) -> CaptionLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
