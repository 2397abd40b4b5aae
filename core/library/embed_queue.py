"""The embedding queue: give every caption a sentence embedding, in the background, resumably.

As with captioning (:mod:`~photoscribe.core.library.queue`), the queue *is*
the database: the captions without a ``caption_embeddings`` row for the
model (:func:`~photoscribe.core.library.meaning.pending_captions`). New
captions, user captions and edited captions (a trigger deletes the old
embedding) all land there. Each batch is embedded outside any transaction
and written in one short transaction, so a process killed at any moment
(even ``kill -9``) loses at most the batch in hand, which is still pending
when the next run starts; a row is only written when the caption still has
the text that was embedded.

:meth:`EmbedQueue.run_once` works in the foreground (``photoscribe library
embed``); :meth:`EmbedQueue.start` runs a worker thread that sleeps until
:meth:`EmbedQueue.wake` (:class:`~photoscribe.core.library.pipeline.LibraryPipeline` wakes it
when captions arrive).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from photoscribe.core.errors import LibraryError
from photoscribe.core.library import meaning
from photoscribe.core.library.worker import BackgroundWorker
from photoscribe.core.progress import ProgressCallback, ProgressTracker

if TYPE_CHECKING:
    from photoscribe.core.library.database import Library

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbedReport:
    """What one :meth:`EmbedQueue.run_once` did: captions embedded, skipped (edited meanwhile), seconds."""

    embedded: int = 0
    skipped: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    def describe(self) -> str:
        rate = self.embedded / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.embedded} captions embedded, {self.skipped} skipped in {self.seconds:.1f} s "
            f"({rate:.1f} captions/s)" + (" (cancelled)" if self.cancelled else "")
        )


class EmbedQueue(BackgroundWorker):
    """Embeds the library's pending captions with one embedder.

    Args:
        library: the library; every batch opens its own sessions.
        embedder: a loaded :class:`~photoscribe.core.library.meaning.Embedder`.
        batch_size: captions embedded and written per transaction.
        poll_s: the worker thread also looks for pending captions this often without being woken
            (captions edited elsewhere, another process); ``None``: only when woken.
    """

    def __init__(
        self,
        library: Library,
        embedder: meaning.Embedder,
        *,
        batch_size: int = 64,
        poll_s: float | None = None,
    ) -> None:
        if batch_size < 1:
            raise LibraryError("batch_size must be at least 1")
        super().__init__("photoscribe-embed-queue", poll_s)
        self.library = library
        self.embedder = embedder
        self.batch_size = batch_size

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    def pending(self) -> int:
        """Captions waiting for an embedding by this model."""
        with self.library.session() as session:
            return meaning.count_pending(session, self.model_id)

    def background_run(self) -> None:
        report = self.run_once(cancel=self._stop)
        if report.embedded:
            log.info("embed queue: %s", report.describe())

    # ------------------------------------------------------------------ one run

    def run_once(
        self, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> EmbedReport:
        """Embed pending captions until none is left (or cancelled, or paused); returns what was done.

        Progress: stage ``"embed"``, ``total`` = captions pending at the start.
        """
        with self._run_lock:
            return self._run(on_progress, cancel)

    def _run(self, on_progress: ProgressCallback | None, cancel: threading.Event | None) -> EmbedReport:
        start = time.perf_counter()
        tracker = ProgressTracker("embed", self.pending(), on_progress)
        tracker.update(0)
        embedded = skipped = 0
        after = 0  # captions are taken in id order; one edited meanwhile is picked up by the next run
        while True:
            if (cancel is not None and cancel.is_set()) or self._paused:
                return EmbedReport(embedded, skipped, time.perf_counter() - start, True)
            with self.library.session() as session:
                batch = meaning.pending_captions(session, self.model_id, self.batch_size, after_id=after)
            if not batch:
                break
            after = batch[-1][0]
            vectors = self.embedder.encode([caption_text for _, caption_text in batch])  # no lock held
            with self.library.transaction() as session:
                stored = meaning.store_embeddings(
                    session,
                    self.model_id,
                    [
                        (cid, caption_text, vec)
                        for (cid, caption_text), vec in zip(batch, vectors, strict=True)
                    ],
                )
            embedded += len(stored)
            skipped += len(batch) - len(stored)
            tracker.total = max(tracker.total or 0, embedded + skipped)
            tracker.update(embedded + skipped, batch[-1][1])
        return EmbedReport(embedded, skipped, time.perf_counter() - start, False)
