"""Running plain core/training functions off the GUI thread.

A :class:`Job` wraps any synchronous function that takes ``on_progress`` and
``cancel`` keyword arguments (the house convention in ``core`` and
``training``). It runs on a ``QThreadPool``; its result, its exception and its
progress come back to the main thread as Qt signals, so widgets are only ever
touched there. Tests swap the pool for :class:`ImmediatePool` to run jobs
synchronously and deterministically (as picard does).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from photoscribe.core.errors import CancelledError
from photoscribe.core.progress import Progress

log = logging.getLogger(__name__)


class JobSignals(QObject):
    """Signals of a :class:`Job`; emitted from the worker thread, delivered on the receiver's thread."""

    progress = Signal(object)  # Progress
    finished = Signal(object)  # the function's return value
    failed = Signal(object, str)  # (exception, formatted traceback)
    cancelled = Signal()


class Job(QRunnable):
    """``fn(*args, on_progress=..., cancel=..., **kwargs)`` on a worker thread.

    Args:
        fn: the function to run.
        progress: pass ``on_progress`` / ``cancel`` to ``fn`` (set False for functions without them).
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, progress: bool = True, **kwargs: Any) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = JobSignals()
        self.cancel_event = threading.Event()
        self.wants_progress = progress
        self.setAutoDelete(False)  # the owner keeps a reference until the job reports back

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        kwargs = dict(self.kwargs)
        if self.wants_progress:
            kwargs.update(on_progress=self.signals.progress.emit, cancel=self.cancel_event)
        try:
            result = self.fn(*self.args, **kwargs)
        except CancelledError:
            self.signals.cancelled.emit()
        except Exception as exc:  # reported to the main thread, which shows it; never swallowed
            log.exception("background job %s failed", getattr(self.fn, "__name__", self.fn))
            self.signals.failed.emit(exc, traceback.format_exc())
        else:
            if self.cancel_event.is_set():
                self.signals.cancelled.emit()
            self.signals.finished.emit(result)


def _unless_closed(callback: Callable[..., None]) -> Callable[..., None]:
    """``callback``, quiet when the window or model it updates was deleted while the job ran.

    The callbacks are lambdas over a widget or model, so Qt cannot drop the connection when
    that object dies; shiboken then raises RuntimeError ("... already deleted", "Signal source
    has been deleted") on the first use of it. Any other error propagates.
    """

    def call(*args: Any) -> None:
        try:
            callback(*args)
        except RuntimeError as exc:
            if "already deleted" not in str(exc) and "has been deleted" not in str(exc):
                raise
            log.debug("a background job reported back after its receiver was closed: %s", exc)

    return call


class ImmediatePool:
    """A stand-in for ``QThreadPool`` that runs jobs at once on the calling thread (tests)."""

    def start(self, job: QRunnable) -> None:
        job.run()

    def waitForDone(self, msecs: int = -1) -> bool:
        return True

    def activeThreadCount(self) -> int:
        return 0


class JobRunner(QObject):
    """Starts jobs on a pool and keeps them alive until they report back."""

    def __init__(
        self, pool: QThreadPool | ImmediatePool | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.pool = pool if pool is not None else QThreadPool.globalInstance()
        self._jobs: set[Job] = set()

    def submit(
        self,
        job: Job,
        *,
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[BaseException, str], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
    ) -> Job:
        self._jobs.add(job)
        if on_progress:
            job.signals.progress.connect(_unless_closed(on_progress))
        if on_finished:
            job.signals.finished.connect(_unless_closed(on_finished))
        if on_failed:
            job.signals.failed.connect(_unless_closed(on_failed))
        if on_cancelled:
            job.signals.cancelled.connect(_unless_closed(on_cancelled))
        for signal in (job.signals.finished, job.signals.failed, job.signals.cancelled):
            signal.connect(lambda *_: self._jobs.discard(job))
        self.pool.start(job)
        return job

    def cancel_all(self) -> None:
        for job in list(self._jobs):
            job.cancel()

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)
