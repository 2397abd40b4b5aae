"""The captioning queue: caption every photo the current model has not captioned yet.

The queue *is* the database: :func:`~photoscribe.core.library.pending.pending_for_model`
lists the photos on disk without a caption by this model and without
``max_attempts`` failures, oldest first. :class:`CaptionQueue` takes them
``batch_size`` at a time, as one stream through
:meth:`~photoscribe.core.captioning.captioner.Captioner.iter_batches` (so the next
photos decode while the model works), and writes each batch in one transaction: per photo the caption with its n-best list and
attention maps and confidence, its pooled feature (for "more like this") and its keywords
(replacing the model's earlier ones, never a person's or a removed one), together in a
savepoint, so a photo never has one without the others.

Nothing is kept in memory that the database does not also know, so a killed
process resumes where it stopped, and no photo is captioned twice: the
``(photo_id, source)`` unique constraint makes
:func:`~photoscribe.core.library.captions.add_model_caption` refuse a second
caption by the same model, even from another process.

Failures are recorded per (file, model) (``record_failure`` with this
queue's failure id: the model id and the checkpoint file's content hash) and
retried on later runs until ``max_attempts``; another model's failures never
stop this one, so a broken checkpoint, even a damaged copy that declares the
same model id, does not block a good one. A file that vanished is marked
missing instead. A model the captioner refuses as broken
(:class:`~photoscribe.core.errors.BrokenModelError`) ends the run: in the
foreground the error reaches the caller, on the worker thread it goes to
``on_broken`` and the worker stops.

One run at a time captions a library: a run holds ``<library>.caption.lock``
(:mod:`~photoscribe.core.library.runlock`), and a second process's run stops
at once with :class:`~photoscribe.core.errors.LibraryBusyError` instead of
captioning the same photos again.

Use :meth:`CaptionQueue.run_once` in the foreground (the CLI), or
:meth:`CaptionQueue.start` for a worker thread that sleeps until
:meth:`CaptionQueue.wake` (new photos) and can be paused between batches.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sqlalchemy import update
from sqlalchemy.orm import Session

from photoscribe.core.captioning.results import CaptionFailure, CaptionResult
from photoscribe.core.errors import BrokenModelError, LibraryBusyError, LibraryError
from photoscribe.core.library import captions, photos
from photoscribe.core.library.blobs import encode_attention, encode_feature
from photoscribe.core.library.database import Library
from photoscribe.core.library.keywords import replace_model_keywords
from photoscribe.core.library.records import PhotoInfo
from photoscribe.core.library.runlock import CaptionLock
from photoscribe.core.library.schema import Photo
from photoscribe.core.library.worker import BackgroundWorker
from photoscribe.core.progress import ProgressCallback, ProgressTracker

log = logging.getLogger(__name__)

RECOUNT_EVERY_S = 2.0  # how often the progress total is refreshed with new arrivals
MAX_EXCLUDED = 20_000  # ids left out of one run (failed this run) before the run ends early


def store_feature(session: Session, photo_id: int, feature: np.ndarray, feature_model: str) -> bool:
    """Store a photo's pooled feature for "more like this" (any float array, 1-D); False if the
    photo is gone. :mod:`~photoscribe.core.library.similar` compares them.

    Raises:
        LibraryError: the feature is not a finite non-zero 1-D vector, or ``feature_model`` is empty.
    """
    if not feature_model:
        raise LibraryError("a feature needs the id of the model that computed it")
    blob = encode_feature(feature)
    result = session.execute(
        update(Photo).where(Photo.id == photo_id).values(feature=blob, feature_model=feature_model)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


class BatchCaptioner(Protocol):
    """What the queue needs of :class:`~photoscribe.core.captioning.captioner.Captioner` (``failure_id``,
    who is charged for a failed photo, is optional: ``model_id`` when absent)."""

    model_id: str

    def iter_batches(
        self, paths: Iterable[str | os.PathLike[str]], cancel: threading.Event | None = None
    ) -> Generator[tuple[list[CaptionResult], list[CaptionFailure]], None, None]: ...


@dataclass(frozen=True)
class QueueReport:
    """What one :meth:`CaptionQueue.run_once` did.

    Attributes:
        captioned: photos that got a caption by this model.
        failed: photos whose captioning failed (recorded; retried on a later run up to ``max_attempts``).
        skipped: photos left alone: captioned meanwhile by another process, deleted, or whose file vanished.
        seconds: wall time.
        cancelled: stopped early by the cancel event or :meth:`CaptionQueue.stop`.
    """

    captioned: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    def describe(self) -> str:
        rate = self.captioned / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.captioned} captioned, {self.failed} failed, {self.skipped} skipped "
            f"in {self.seconds:.1f} s ({rate:.1f} photos/s)" + (" (cancelled)" if self.cancelled else "")
        )


@dataclass(frozen=True)
class _Stored:
    """The outcome of one batch, by photo id."""

    captioned: list[int]
    failed: list[int]
    skipped: list[int]
    retry_later: list[int]  # failed, with attempts left
    last_text: str


class CaptionQueue(BackgroundWorker):
    """Captions the library's pending photos with one captioner, in the foreground or on a thread.

    Args:
        library: the library; every batch opens its own session.
        captioner: a loaded :class:`~photoscribe.core.captioning.captioner.Captioner` (its ``model_id``
            names the caption source and the feature model).
        batch_size: photos taken from the database and captioned per batch.
        max_attempts: failures after which a photo is no longer tried.
        on_progress: default progress callback (stage ``"caption"``), used by the worker thread.
        on_captioned: called with the ids captioned by each batch, on the thread that captioned them.
        on_broken: called with the message when the captioner refuses its model as broken on the
            worker thread (the worker then stops).
    """

    def __init__(
        self,
        library: Library,
        captioner: BatchCaptioner,
        *,
        batch_size: int = 16,
        max_attempts: int = captions.DEFAULT_MAX_ATTEMPTS,
        on_progress: ProgressCallback | None = None,
        on_captioned: Callable[[list[int]], None] | None = None,
        on_broken: Callable[[str], None] | None = None,
    ) -> None:
        if batch_size < 1 or max_attempts < 1:
            raise LibraryError("batch_size and max_attempts must be at least 1")
        super().__init__("photoscribe-caption-queue")
        self.library = library
        self.captioner = captioner
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.on_progress = on_progress
        self.on_captioned = on_captioned
        self.on_broken = on_broken
        self._busy = False

    @property
    def model_id(self) -> str:
        return self.captioner.model_id

    @property
    def failure_id(self) -> str:
        """Who is charged for a failed photo: the checkpoint's content-hashed id, else ``model_id``."""
        return str(getattr(self.captioner, "failure_id", None) or self.captioner.model_id)

    # ------------------------------------------------------------------ state

    @property
    def busy(self) -> bool:
        """A run is captioning or waiting between batches."""
        return self._busy

    def background_run(self) -> None:
        try:
            report = self.run_once(cancel=self._stop)
        except LibraryBusyError as exc:  # another process captions these photos meanwhile
            log.info("caption queue waits: %s", exc)
            return
        except BrokenModelError as exc:  # nothing to retry: this model cannot caption
            log.error("caption queue stopped: %s", exc)
            self._stop.set()
            if self.on_broken is not None:
                self.on_broken(str(exc))
            return
        if report.captioned or report.failed:
            log.info("caption queue: %s", report.describe())

    # ------------------------------------------------------------------ one run

    def run_once(
        self, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> QueueReport:
        """Caption pending photos until none is left (or cancelled); returns what was done.

        A photo that fails is not retried in the same run. Progress: stage
        ``"caption"``, ``total`` = photos pending at the start plus new
        arrivals, with rate (photos/s) and ETA.

        Raises:
            LibraryBusyError: another run (another process) is captioning this library now
                (:class:`~photoscribe.core.library.runlock.CaptionLock`).
        """
        on_progress = on_progress or self.on_progress
        with self._run_lock, CaptionLock(self.library.path):
            self._busy = True
            try:
                return self._run(on_progress, cancel)
            finally:
                self._busy = False

    def _run(self, on_progress: ProgressCallback | None, cancel: threading.Event | None) -> QueueReport:
        start = time.perf_counter()
        # The library shows the captions of the model it is captioned with (the others are kept).
        self.library.set_active_model(self.model_id)
        tracker = ProgressTracker("caption", self._count_pending(), on_progress)
        tracker.update(0)
        tried: set[int] = set()  # failed or skipped in this run: not taken again by it
        retry_later: set[int] = set()  # failed in this run, still pending for a later one
        captioned = failed = skipped = 0
        last_count = time.monotonic()
        cancelled = False
        while True:
            if not self._wait_unpaused(cancel):
                cancelled = True
                break
            # One stream over every pending photo: the captioner decodes the next batches while
            # the model works on this one. Photos it has read ahead but not captioned when the
            # stream stops (pause, cancel) are still pending in the database: nothing is lost.
            in_flight: dict[str, PhotoInfo] = {}
            stream = self.captioner.iter_batches(self._take_pending(in_flight, tried), cancel)
            interrupted = False
            try:
                for results, failures in stream:
                    handled = [os.fspath(r.path) for r in results] + [os.fspath(f.path) for f in failures]
                    stored = self._store([in_flight.pop(p) for p in handled], results, failures)
                    captioned += len(stored.captioned)
                    failed += len(stored.failed)
                    skipped += len(stored.skipped)
                    tried.update(stored.failed, stored.skipped)
                    retry_later.update(stored.retry_later)
                    if stored.captioned and self.on_captioned is not None:
                        self.on_captioned(list(stored.captioned))
                    done = captioned + failed + skipped
                    if time.monotonic() - last_count >= RECOUNT_EVERY_S:  # take in new arrivals
                        last_count = time.monotonic()
                        pending = self._count_pending() - len(retry_later) - len(in_flight)
                        tracker.total = done + len(in_flight) + max(0, pending)
                    tracker.total = max(tracker.total or 0, done)
                    tracker.update(done, stored.last_text)
                    if self._paused or self._should_stop(cancel) or len(tried) > MAX_EXCLUDED:
                        interrupted = True
                        break
            finally:
                stream.close()
            if self._should_stop(cancel):
                cancelled = True
                break
            if len(tried) > MAX_EXCLUDED:
                log.warning(
                    "over %d photos failed in this run; the rest waits for the next run", MAX_EXCLUDED
                )
                break
            if not interrupted:
                break  # the stream ran dry: nothing is pending any more
        return QueueReport(captioned, failed, skipped, time.perf_counter() - start, cancelled)

    def _take_pending(self, in_flight: dict[str, PhotoInfo], tried: set[int]) -> Iterator[str]:
        """The pending photos' paths, read from the database a batch at a time as the captioner asks."""
        while True:
            exclude = tried | {photo.id for photo in in_flight.values()}
            batch = self.library.pending_for_model(
                self.model_id,
                self.batch_size,
                max_attempts=self.max_attempts,
                exclude_ids=exclude,
                failure_model=self.failure_id,
            )
            if not batch:
                return
            for photo in batch:
                in_flight[photo.path] = photo
                yield photo.path

    @staticmethod
    def _should_stop(cancel: threading.Event | None) -> bool:
        return cancel is not None and cancel.is_set()

    def _wait_unpaused(self, cancel: threading.Event | None) -> bool:
        """Block while paused; False if stopped or cancelled meanwhile."""
        with self._cond:
            while self._paused and not self._should_stop(cancel):
                self._cond.wait(0.2)  # the cancel event cannot notify us: look now and then
        return not self._should_stop(cancel)

    def _count_pending(self) -> int:
        return self.library.count_pending(
            self.model_id, max_attempts=self.max_attempts, failure_model=self.failure_id
        )

    def _store(
        self, batch: list[PhotoInfo], results: list[CaptionResult], failures: list[CaptionFailure]
    ) -> _Stored:
        by_path = {p.path: p for p in batch}
        # Compress outside the transaction: the write lock is held only for the inserts.
        blobs = [encode_attention(r.attention) for r in results]
        captioned: list[int] = []
        failed: list[int] = []
        skipped: list[int] = []
        retry_later: list[int] = []
        with self.library.transaction() as session:
            for result, blob in zip(results, blobs, strict=True):
                photo = by_path[os.fspath(result.path)]
                try:
                    with session.begin_nested():
                        added = captions.add_model_caption(
                            session,
                            photo.id,
                            self.model_id,
                            result.text,
                            result.logprob,
                            [(alt.text, alt.logprob) for alt in result.alternatives],
                            blob,
                            confidence=result.confidence,
                            failure_model=self.failure_id,
                        )
                        if added:
                            store_feature(session, photo.id, result.feature, self.model_id)
                            replace_model_keywords(session, photo.id, self.model_id, result.keywords)
                except LibraryError as exc:
                    if (
                        captions.record_failure(
                            session, photo.path, f"captioning failed: {exc}", self.failure_id
                        )
                        < self.max_attempts
                    ):
                        retry_later.append(photo.id)
                    failed.append(photo.id)
                    continue
                (captioned if added else skipped).append(photo.id)
            for failure in failures:
                photo = by_path[os.fspath(failure.path)]
                if not os.path.lexists(photo.path):
                    # Gone (a move is caught up by the watcher or the next scan, keeping the caption).
                    photos.mark_missing(session, photo.path)
                    skipped.append(photo.id)
                else:
                    if (
                        captions.record_failure(session, photo.path, failure.error, self.failure_id)
                        < self.max_attempts
                    ):
                        retry_later.append(photo.id)
                    failed.append(photo.id)
        return _Stored(captioned, failed, skipped, retry_later, results[-1].text if results else "")
