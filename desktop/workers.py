"""Running plain core/training functions off the GUI thread.

A :class:`Job` wraps any synchronous function that takes ``on_progress`` and
``cancel`` keyword arguments (the house convention in ``core`` and
``training``). It runs on a ``QThreadPool``; its result, its exception and its
progress come back to the main thread as Qt signals, so widgets are only ever
touched there. Tests swap the pool for :class:`ImmediatePool` to run jobs
synchronously and deterministically (as picard does).

A job ends exactly one way, told by exactly one of ``cancelled``, ``failed`` or ``finished``:
how the function ended decides. It raised :class:`CancelledError` → ``cancelled``; it raised
anything else → ``failed``; it returned → ``finished`` with its result. A function that honours ``cancel`` by returning what it did so
far (training, writing metadata) therefore finishes with a result that says so, and a cancel
that comes after the function returned changes nothing: the work was done.
"""

from __future__ import annotations

import enum
import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from photoscribe.core.errors import CancelledError, LibraryReadOnlyError
from photoscribe.core.library.integrity import LibraryDamagedError
from photoscribe.core.progress import Progress

log = logging.getLogger(__name__)


class JobSignals(QObject):
    """Signals of a :class:`Job`; emitted from the worker thread, delivered on the receiver's thread."""

    progress = Signal(object)  # Progress
    finished = Signal(object)  # the function's return value
    failed = Signal(object, str)  # (exception, formatted traceback)
    cancelled = Signal()


class JobState(enum.Enum):
    """Where a :class:`Job` is; the last three are final and each is reported by its one signal."""

    PENDING = "pending"
    RUNNING = "running"
    CANCELLED = "cancelled"
    FAILED = "failed"
    FINISHED = "finished"

    @property
    def ended(self) -> bool:
        return self in (JobState.CANCELLED, JobState.FAILED, JobState.FINISHED)


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
        self.state = JobState.PENDING
        self._state_lock = threading.Lock()
        self.wants_progress = progress
        self.relay: QObject | None = None
        # Set by the runner: turns a failure that is the library file's (damaged, read-only) into
        # core's one-sentence error, reported instead of SQLite's text.
        self.explain: Callable[[BaseException], BaseException | None] | None = None
        self.setAutoDelete(False)  # the owner keeps a reference until the job reports back

    def cancel(self) -> bool:
        """Ask the job to stop; False when it has already ended (the request then changes nothing)."""
        with self._state_lock:
            if self.state.ended:
                return False
            self.cancel_event.set()
            return True

    def _end(self, state: JobState) -> None:
        with self._state_lock:
            self.state = state

    def run(self) -> None:
        with self._state_lock:
            if self.state is not JobState.PENDING:
                return  # a job runs once
            self.state = JobState.RUNNING
        kwargs = dict(self.kwargs)
        if self.wants_progress:
            kwargs.update(on_progress=self.signals.progress.emit, cancel=self.cancel_event)
        try:
            result = self.fn(*self.args, **kwargs)
        except CancelledError:
            self._end(JobState.CANCELLED)
            self.signals.cancelled.emit()
        except Exception as exc:  # reported to the main thread, which shows it; never swallowed
            log.exception("background job %s failed", getattr(self.fn, "__name__", self.fn))
            plain = self.explain(exc) if self.explain is not None else None
            self._end(JobState.FAILED)
            self.signals.failed.emit(plain if plain is not None else exc, traceback.format_exc())
        else:
            self._end(JobState.FINISHED)
            self.signals.finished.emit(result)


class _Relay(QObject):
    """Hands one job's signals to plain callables for as long as ``receiver`` lives.

    The relay is a child of the receiver (the widget or model the callables update): when the
    receiver is deleted, Qt deletes the relay and disconnects its slots itself, so a job that
    reports back after its window or dialog was closed reaches nothing. The relay deletes itself
    once the job has reported back.
    """

    def __init__(
        self,
        receiver: QObject,
        on_finished: Callable[[Any], None] | None,
        on_failed: Callable[[BaseException, str], None] | None,
        on_progress: Callable[[Progress], None] | None,
        on_cancelled: Callable[[], None] | None,
    ) -> None:
        super().__init__(receiver)
        self._on_finished, self._on_failed = on_finished, on_failed
        self._on_progress, self._on_cancelled = on_progress, on_cancelled

    def attach(self, signals: JobSignals) -> None:
        signals.progress.connect(self.progress)
        signals.finished.connect(self.finished)
        signals.failed.connect(self.failed)
        signals.cancelled.connect(self.cancelled)

    @Slot(object)
    def progress(self, p: Progress) -> None:
        if self._on_progress is not None:
            self._on_progress(p)

    @Slot(object)
    def finished(self, result: Any) -> None:
        self.deleteLater()
        if self._on_finished is not None:
            self._on_finished(result)

    @Slot(object, str)
    def failed(self, exc: BaseException, trace: str) -> None:
        self.deleteLater()
        if self._on_failed is not None:
            self._on_failed(exc, trace)

    @Slot()
    def cancelled(self) -> None:
        self.deleteLater()
        if self._on_cancelled is not None:
            self._on_cancelled()


class ImmediatePool:
    """A stand-in for ``QThreadPool`` that runs jobs at once on the calling thread (tests)."""

    def start(self, job: QRunnable) -> None:
        job.run()

    def waitForDone(self, msecs: int = -1) -> bool:
        return True

    def activeThreadCount(self) -> int:
        return 0


class JobRunner(QObject):
    """Starts jobs on a pool and keeps them alive until they report back.

    ``explain`` (set by the window) turns a job's failure into a plainer error, or returns None;
    ``libraryFailed(exc)`` is emitted, on the main thread, for every job that failed because the
    library is damaged or cannot be written.
    """

    libraryFailed = Signal(object)

    def __init__(
        self, pool: QThreadPool | ImmediatePool | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.pool = pool if pool is not None else QThreadPool.globalInstance()
        self._jobs: set[Job] = set()
        self.explain: Callable[[BaseException], BaseException | None] | None = None

    def submit(
        self,
        job: Job,
        *,
        receiver: QObject | None = None,
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[BaseException, str], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
    ) -> Job:
        """Run ``job`` on the pool; its callbacks run on the main thread while ``receiver`` lives.

        Args:
            receiver: the object the callbacks update (default: this runner, which lives as long
                as the window that owns it). Give the dialog or model when it may be closed or
                replaced before the job ends: its callbacks are then dropped, not called.
        """
        self._jobs.add(job)
        job.explain = self.explain
        job.signals.failed.connect(self._on_failed)
        if any(cb is not None for cb in (on_finished, on_failed, on_progress, on_cancelled)):
            relay = _Relay(
                receiver if receiver is not None else self, on_finished, on_failed, on_progress, on_cancelled
            )
            relay.attach(job.signals)
            # The relay's Python side (the callables) must live while the job can report: the job
            # holds it; Qt deletes the C++ side with the receiver, which disconnects it.
            job.relay = relay
        for signal in (job.signals.finished, job.signals.failed, job.signals.cancelled):
            signal.connect(lambda *_: self._jobs.discard(job))
        self.pool.start(job)
        return job

    def separate(self, parent: QObject | None = None) -> JobRunner:
        """A runner for long jobs (loading a model, rescanning folders) on threads of its own, so that
        they never hold up the quick ones (the grid's queries) waiting for a thread of this pool.
        Over an :class:`ImmediatePool` (tests) it is this runner: jobs stay synchronous."""
        if isinstance(self.pool, ImmediatePool):
            return self
        runner = JobRunner(QThreadPool(), parent)
        runner.explain = lambda exc: self.explain(exc) if self.explain is not None else None
        runner.libraryFailed.connect(self.libraryFailed)
        return runner

    @Slot(object, str)
    def _on_failed(self, exc: BaseException, _trace: str) -> None:
        if isinstance(exc, (LibraryDamagedError, LibraryReadOnlyError)):
            self.libraryFailed.emit(exc)

    def cancel_all(self) -> None:
        for job in list(self._jobs):
            job.cancel()

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)
