"""One straight path from a file on disk to a searchable caption: the watcher and the two queues, wired.

:class:`LibraryPipeline` owns the :class:`~photoscribe.core.library.watcher.FolderWatcher`, the
:class:`~photoscribe.core.library.queue.CaptionQueue` and (with the meaning-search extra) the
:class:`~photoscribe.core.library.embed_queue.EmbedQueue`, and wires them in one place:

1. the watcher applies a change (a photo added, edited or moved; a lost folder rescanned) and
   wakes captioning;
2. the caption queue captions the new photos, storing each caption with its pooled image feature
   ("more like this") and its keywords, then wakes embedding;
3. the embedding queue gives each new caption its sentence embedding (search by meaning).

A commit by another process (``photoscribe library add`` while the app runs) wakes both queues too
(:class:`~photoscribe.core.library.changes.ChangeMonitor`), and :meth:`LibraryPipeline.catch_up`
rescans what changed while nobody watched, then wakes them. Nothing waits for a UI timer.

The desktop app (:class:`~photoscribe.desktop.background.BackgroundServices`, a Qt signal adapter)
and ``photoscribe library watch`` use it the same way. Every callback is a plain callable, called on
the thread that did the work (the watcher's, a queue's, the change monitor's).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from photoscribe.core.library.changes import ChangeMonitor
from photoscribe.core.library.database import Library
from photoscribe.core.library.embed_queue import EmbedQueue
from photoscribe.core.library.meaning import Embedder
from photoscribe.core.library.queue import BatchCaptioner, CaptionQueue
from photoscribe.core.library.scanner import ScanReport, rescan_all
from photoscribe.core.library.watcher import ChangeSummary, FolderWatcher, WatchStatus
from photoscribe.core.progress import ProgressCallback

log = logging.getLogger(__name__)

EMBED_POLL_S = 10.0  # the embedding queue also looks for edited captions this often


def retire_queue(queue: CaptionQueue, timeout: float | None = 60.0) -> bool:
    """Stop a caption queue, then (if it stopped within ``timeout``) its captioner's decode processes.

    Returns whether the queue's thread ended in time.
    """
    stopped = queue.stop(timeout=timeout)
    close = getattr(queue.captioner, "close", None)
    if stopped and close is not None:
        close()
    return stopped


def _remaining(deadline: float | None, default: float | None) -> float | None:
    """Seconds left before ``deadline`` (at least 0.05), or ``default`` without one."""
    if deadline is None:
        return default
    return round(max(0.05, deadline - time.monotonic()), 2)


class LibraryPipeline:
    """Watcher -> caption queue -> embedding queue, for one library (see the module docstring).

    Args:
        library: the library; every worker opens its own sessions.
        batch_size: photos per captioning batch.
        on_change: the watcher's change summary after each round that changed the library.
        on_status: a watch lost, re-armed, polled, or the library file gone (:class:`WatchStatus`).
        on_progress: the caption queue's progress (stage ``"caption"``).
        on_captioned: photo ids that just got a caption.
        on_broken: the caption queue refused its model as broken (the message; the queue stopped).
        on_library_changed: another connection committed to the library (the queues were woken).
        watcher_factory: builds the watcher (``None``: no watching, e.g. in tests).
        queue_factory: builds the caption queue (``None``: no captioning).
        embed_poll_s: the embedding queue also looks for edited captions this often.
    """

    def __init__(
        self,
        library: Library,
        *,
        batch_size: int = 16,
        on_change: Callable[[ChangeSummary], None] | None = None,
        on_status: Callable[[WatchStatus], None] | None = None,
        on_progress: ProgressCallback | None = None,
        on_captioned: Callable[[list[int]], None] | None = None,
        on_broken: Callable[[str], None] | None = None,
        on_library_changed: Callable[[], None] | None = None,
        watcher_factory: Callable[..., FolderWatcher] | None = FolderWatcher,
        queue_factory: Callable[..., CaptionQueue] | None = CaptionQueue,
        embed_poll_s: float | None = EMBED_POLL_S,
    ) -> None:
        self.library = library
        self.batch_size = batch_size
        self.on_change = on_change
        self.on_status = on_status
        self.on_progress = on_progress
        self.on_captioned = on_captioned
        self.on_broken = on_broken
        self.on_library_changed = on_library_changed
        self.watcher_factory = watcher_factory
        self.queue_factory = queue_factory
        self.embed_poll_s = embed_poll_s
        self.watcher: FolderWatcher | None = None
        self.queue: CaptionQueue | None = None
        self.embed_queue: EmbedQueue | None = None
        self._changes: ChangeMonitor | None = None
        self._paused = False
        self._lock = threading.Lock()  # start and stop of the parts

    # ------------------------------------------------------------------ watching

    def start_watcher(self) -> FolderWatcher | None:
        """Start the watcher (once; ``None`` without a ``watcher_factory``)."""
        with self._lock:
            if self.watcher is None and self.watcher_factory is not None:
                watcher = self.watcher_factory(
                    self.library, on_change=self._watcher_changed, on_status=self._watch_status
                )
                watcher.start()
                self.watcher = watcher
            return self.watcher

    def watch(self, path: str, *, absent_ok: bool = False) -> None:
        """Watch a folder (starting the watcher if needed); seconds on a big tree.

        Raises:
            LibraryError: the folder is not there (and ``absent_ok`` is false).
        """
        watcher = self.start_watcher()
        if watcher is not None:
            watcher.watch(path, absent_ok=absent_ok)

    def unwatch(self, path: str) -> None:
        if self.watcher is not None:
            self.watcher.unwatch(path)

    def catch_up(
        self, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> ScanReport:
        """Rescan every library folder for what changed while nobody watched, then wake the queues."""
        report = rescan_all(self.library, on_progress=on_progress, cancel=cancel)
        self.wake()
        return report

    def _watcher_changed(self, summary: ChangeSummary) -> None:  # on the watcher's thread
        if self.on_change is not None:
            self.on_change(summary)
        if summary.added or summary.updated or summary.moved:
            self._wake_captioning()
        self._wake_embedding()  # an updated sidecar may have brought a person's caption

    def _watch_status(self, status: WatchStatus) -> None:  # on the watcher's (or the caller's) thread
        if self.on_status is not None:
            self.on_status(status)
        report = status.report
        if report is not None and report.added + report.updated + report.moved:
            self.wake()  # a lost folder came back and was rescanned

    # ------------------------------------------------------------------ captioning

    def start_captioning(self, captioner: BatchCaptioner) -> CaptionQueue | None:
        """Caption pending photos with ``captioner`` on a thread of its own, now and whenever woken.

        A queue already running is stopped first (waiting for its batch): call
        :meth:`detach_captioning` before, to stop it elsewhere. ``None`` without a ``queue_factory``.
        """
        previous = self.detach_captioning()
        if previous is not None:
            retire_queue(previous)
        if self.queue_factory is None:
            return None
        self._watch_other_connections()
        queue = self.queue_factory(
            self.library,
            captioner,
            batch_size=self.batch_size,
            on_progress=self.on_progress,
            on_captioned=self._captioned,
            on_broken=self.on_broken,
        )
        with self._lock:
            self.queue = queue
        queue.start()
        if self._paused:
            queue.pause()
        return queue

    def detach_captioning(self) -> CaptionQueue | None:
        """Take the caption queue out of the pipeline, still running: stop it with :func:`retire_queue`."""
        with self._lock:
            queue, self.queue = self.queue, None
        return queue

    @property
    def captioning(self) -> bool:
        return self.queue is not None

    def _captioned(self, ids: list[int]) -> None:  # on the caption queue's thread
        if self.on_captioned is not None:
            self.on_captioned(list(ids))
        self._wake_embedding()

    # ------------------------------------------------------------------ embedding

    def start_embedding(self, embedder: Embedder) -> EmbedQueue:
        """Embed new and edited captions with ``embedder`` (search by meaning), on a thread of its own."""
        self._watch_other_connections()
        queue = EmbedQueue(self.library, embedder, poll_s=self.embed_poll_s)
        with self._lock:
            previous, self.embed_queue = self.embed_queue, queue
        if previous is not None:
            previous.stop()
        queue.start()
        if self._paused:
            queue.pause()
        return queue

    # ------------------------------------------------------------------ control

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """Pause both queues after the batch in hand (the watcher keeps the library up to date)."""
        self._paused = paused
        for queue in (self.queue, self.embed_queue):
            if queue is not None:
                if paused:
                    queue.pause()
                else:
                    queue.resume()

    def pause(self) -> None:
        self.set_paused(True)

    def resume(self) -> None:
        self.set_paused(False)

    def wake(self) -> None:
        """There may be new work for both queues (photos added, failures reset, captions edited)."""
        self._wake_captioning()
        self._wake_embedding()

    def _wake_captioning(self) -> None:
        queue = self.queue
        if queue is not None:
            queue.wake()

    def _wake_embedding(self) -> None:
        queue = self.embed_queue
        if queue is not None:
            queue.wake()

    def _watch_other_connections(self) -> None:
        """Wake the queues after any other commit (another process's ``library add``)."""
        with self._lock:
            if self._changes is not None:
                return
            self._changes = ChangeMonitor(self.library, self._library_changed)
        self._changes.start()

    def _library_changed(self) -> None:  # on the change monitor's thread
        self.wake()
        if self.on_library_changed is not None:
            self.on_library_changed()

    def stop(self, within_s: float | None = None) -> bool:
        """Stop the watcher and the queues and wait for their threads, ``within_s`` seconds in all
        (``None``: each as long as it takes); returns whether every thread ended in time.

        A thread still busy then (a batch, a write waiting for another program's lock) is a daemon:
        it ends with the process, and what it was writing is rolled back by SQLite.
        """
        deadline = None if within_s is None else time.monotonic() + within_s
        with self._lock:
            changes, self._changes = self._changes, None
            watcher, self.watcher = self.watcher, None
            queue, self.queue = self.queue, None
            embed_queue, self.embed_queue = self.embed_queue, None
        done = True
        if changes is not None:  # it only sleeps between two looks: a moment is enough
            changes.stop(timeout=5.0 if within_s is None else min(0.1, within_s / 10))
        if watcher is not None:
            half = None if within_s is None else within_s / 2  # the rest for the queues
            done = watcher.stop(timeout=10.0 if half is None else half) and done
        if queue is not None:
            done = retire_queue(queue, timeout=_remaining(deadline, 60.0)) and done
        if embed_queue is not None:
            done = embed_queue.stop(timeout=_remaining(deadline, 60.0)) and done
        return done
