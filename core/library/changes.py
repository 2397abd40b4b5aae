"""Noticing that another process changed the library (``photoscribe library add`` while the app runs).

SQLite's ``PRAGMA data_version`` changes on a connection whenever another connection (of this
process or another one) has committed since the last look; asking costs a few microseconds and reads
nothing from disk in WAL mode (the WAL index is shared memory). :class:`ChangeMonitor` asks once a
second on a thread and connection of its own and calls ``on_change`` when the answer moves, so the
:class:`~photoscribe.core.library.pipeline.LibraryPipeline` wakes its queues for photos someone else added.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from photoscribe.core.library.database import Library
from photoscribe.core.library.integrity import connect_read_only

log = logging.getLogger(__name__)

POLL_S = 1.0


class ChangeMonitor:
    """Calls ``on_change()`` (on its own thread) after any other connection committed to ``library``.

    Our own commits count too (the pragma cannot tell them apart): ``on_change`` must be cheap and
    harmless when nothing new is there, as waking a queue is.
    """

    def __init__(self, library: Library, on_change: Callable[[], None], *, poll_s: float = POLL_S) -> None:
        self.library = library
        self.on_change = on_change
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="photoscribe-library-changes", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _watch(self) -> None:
        try:
            conn = connect_read_only(self.library.path)
        except sqlite3.Error as exc:
            log.warning("not watching the library for changes by other programs: %s", exc)
            return
        try:
            last = _data_version(conn)
            while not self._stop.wait(self.poll_s):
                try:
                    now = _data_version(conn)
                except sqlite3.Error as exc:  # the file went away or was damaged: the app says so elsewhere
                    log.warning("stopped watching the library for changes: %s", exc)
                    return
                if now != last:
                    last = now
                    self.on_change()
        finally:
            conn.close()


def _data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])
