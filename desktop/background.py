"""The app's long-lived background services: the captioning model, its queue, the folder watcher
and search by meaning (the sentence-embedding model and its embedding queue).

``core``'s :class:`CaptionQueue` and :class:`FolderWatcher` run on their own
threads and call plain callbacks there. :class:`BackgroundServices` turns those
callbacks into Qt signals, so everything connected to it runs on the main
thread. Loading a model (seconds of torch work) and registering watches on
big trees run on the job runner, never on the GUI thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from photoscribe.core.choices import DEFAULT_BEAM
from photoscribe.core.library import Library
from photoscribe.core.library.changes import ChangeMonitor

if TYPE_CHECKING:
    from photoscribe.core.captioning.captioner import Captioner
from photoscribe.core.library.embed_queue import EmbedQueue
from photoscribe.core.library.hybrid import MeaningSearch
from photoscribe.core.library.meaning import semantic_available
from photoscribe.core.library.queue import CaptionQueue
from photoscribe.core.library.watcher import FolderWatcher
from photoscribe.desktop.workers import Job, JobRunner

log = logging.getLogger(__name__)

EMBED_POLL_S = 10.0  # the embedding queue also looks for edited captions this often
DEFAULT_DEVICE = "auto"
N_BEST = 3


@dataclass(frozen=True)
class ModelState:
    """What the app knows about its captioning model."""

    path: str | None = None
    name: str | None = None
    error: str | None = None
    loading: bool = False

    @property
    def ready(self) -> bool:
        return self.name is not None and self.error is None and not self.loading

    def describe(self) -> str:
        if self.loading:
            return "Loading the captioning model…"
        if self.error:
            return f"The captioning model could not be loaded: {self.error}"
        if self.name:
            return f"Captioning model “{self.name}” is ready."
        return "No captioning model yet."


def _retire(queue: CaptionQueue) -> None:
    """Stop a caption queue, then its captioner's image-decoding worker processes."""
    queue.stop()
    close = getattr(getattr(queue, "captioner", None), "close", None)
    if close is not None:
        close()


def load_captioner(path: str, device: str, beam_size: int) -> Captioner:
    """``Captioner.load`` with the app's settings (runs on the job runner: it takes seconds).

    torch is imported here, on the worker thread, so the window appears before the model stack loads.
    """
    from photoscribe.core.captioning.captioner import Captioner

    return Captioner.load(path, device=device, beam_size=beam_size, n_best=max(N_BEST, 1))


def load_semantic(library: Library) -> MeaningSearch:
    """Load the sentence-embedding model and the library's embeddings (seconds: on the job runner)."""
    semantic = MeaningSearch(library)
    semantic.index  # noqa: B018 (loads the model, then reads every stored embedding)
    return semantic


class BackgroundServices(QObject):
    """Owns the captioner, the :class:`CaptionQueue` and the :class:`FolderWatcher`.

    ``queue_factory`` / ``watcher_factory`` build them (``None``: none, e.g. in tests).

    Signals (all delivered on the main thread):
        captionProgress(Progress): from the queue (stage "caption": done/total, rate, eta).
        captioned(list[int]): photo ids that just got a caption.
        foldersChanged(object): the watcher's change summary.
        watchStatusChanged(WatchStatus): a watch was lost, re-armed (after a rescan) or polled.
        modelChanged(ModelState): a model started loading, loaded, failed, or was refused as broken
            by the caption queue (it gave no usable caption for several photos in a row).
        queueStateChanged(): paused or resumed.
        semanticReady(MeaningSearch): search by meaning can run (the embedding model is loaded).
        libraryChanged(): a commit to the library, maybe by another process (``library add``): the
            queues have been woken.
    """

    captionProgress = Signal(object)
    captioned = Signal(list)
    foldersChanged = Signal(object)
    watchStatusChanged = Signal(object)
    modelChanged = Signal(object)
    queueStateChanged = Signal()
    semanticReady = Signal(object)
    libraryChanged = Signal()
    _modelBroken = Signal(str)  # from the caption queue's thread

    def __init__(
        self,
        library: Library,
        runner: JobRunner,
        parent: QObject | None = None,
        *,
        queue_factory: Callable[..., CaptionQueue] | None = CaptionQueue,
        watcher_factory: Callable[..., FolderWatcher] | None = FolderWatcher,
        semantic_factory: Callable[[Library], MeaningSearch] | None = load_semantic,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.runner = runner
        # Loading models, stopping queues and registering watches take seconds: on threads of their
        # own, never in the way of the grid's and the sidebar's queries (which ran 18 s late behind
        # a model loading on a full pool).
        self.slow_runner = runner.separate(self)
        self._queue_factory = queue_factory
        self._watcher_factory = watcher_factory
        self._semantic_factory = semantic_factory
        self.semantic: MeaningSearch | None = None
        self.embed_queue: EmbedQueue | None = None
        self.captioner: Captioner | None = None
        self.queue: CaptionQueue | None = None
        self.watcher: FolderWatcher | None = None
        self.model = ModelState()
        self._load_job: Job | None = None
        self._paused = False
        self._changes: ChangeMonitor | None = None
        self._modelBroken.connect(self._on_model_broken)

    # ------------------------------------------------------------------ model and queue

    def load_model(
        self, path: str | os.PathLike[str], *, device: str = DEFAULT_DEVICE, beam_size: int = DEFAULT_BEAM
    ) -> None:
        """Load a checkpoint in the background, then caption with it (replacing the current model)."""
        path = str(path)
        self._set_model(ModelState(path=path, name=self.model.name, loading=True))
        job = Job(load_captioner, path, device, beam_size, progress=False)
        self._load_job = job
        self.slow_runner.submit(
            job,
            receiver=self,
            on_finished=lambda captioner: self._on_model_loaded(job, path, captioner),
            on_failed=lambda exc, _tb: self._on_model_failed(job, path, exc),
        )

    def _on_model_loaded(self, job: Job, path: str, captioner: Captioner) -> None:
        if job is not self._load_job:
            return
        self._load_job = None
        self.captioner = captioner
        name = str(getattr(captioner, "model_id", None) or Path(path).stem)
        self._set_model(ModelState(path=path, name=name))
        self._show_captions_of(name)
        self._start_queue(captioner)

    def _show_captions_of(self, model_id: str) -> None:
        """Make the library show ``model_id``'s captions at once (its own, kept from an earlier use,
        come back; search follows), before the queue captions what it has not captioned yet."""
        if self.library.read_only is not None:
            return
        self.runner.submit(
            Job(self.library.set_active_model, model_id, progress=False),
            receiver=self,
            on_finished=lambda changed: self.libraryChanged.emit() if changed else None,
            on_failed=lambda exc, _tb: log.warning("could not show the captions of %s: %s", model_id, exc),
        )

    def _on_model_failed(self, job: Job, path: str, exc: BaseException) -> None:
        if job is not self._load_job:
            return
        self._load_job = None
        log.warning("model %s could not be loaded: %s", path, exc)
        self._set_model(ModelState(path=path, error=str(exc)))

    def _on_model_broken(self, message: str) -> None:
        log.error("%s", message)
        self._set_model(ModelState(path=self.model.path, error=message))

    def _set_model(self, state: ModelState) -> None:
        self.model = state
        self.modelChanged.emit(state)

    def _start_queue(self, captioner: Captioner) -> None:
        self._stop_queue()
        if self._queue_factory is None:
            return
        self.queue = self._queue_factory(
            self.library,
            captioner,
            on_progress=self.captionProgress.emit,
            on_captioned=self._on_captioned,
            on_broken=self._modelBroken.emit,
        )
        self.queue.start()
        if self._paused:
            self.queue.pause()
        if self._changes is None:  # photos added by another process (the CLI) wake the queue too
            self._changes = ChangeMonitor(self.library, self._on_library_changed)
            self._changes.start()
        self.queueStateChanged.emit()

    def _on_library_changed(self) -> None:  # on the change monitor's thread
        self.wake()
        self.libraryChanged.emit()

    def _on_captioned(self, ids: list[int]) -> None:  # on the caption queue's thread
        self.captioned.emit(list(ids))
        if self.embed_queue is not None:
            self.embed_queue.wake()

    # ------------------------------------------------------------------ search by meaning

    def start_embedding(self) -> None:
        """Load the embedding model in the background, then embed captions as they arrive.

        Does nothing without the ``semantic`` extra (search stays by words).
        """
        if self._semantic_factory is None or self.semantic is not None or not semantic_available():
            return
        self.slow_runner.submit(
            Job(self._semantic_factory, self.library, progress=False),
            on_finished=self._on_semantic_loaded,
            on_failed=lambda exc, _tb: log.warning("search by meaning is off: %s", exc),
        )

    def _on_semantic_loaded(self, semantic: MeaningSearch) -> None:
        self.semantic = semantic
        self.embed_queue = EmbedQueue(self.library, semantic.embedder, poll_s=EMBED_POLL_S)
        self.embed_queue.start()
        if self._paused:
            self.embed_queue.pause()
        self.semanticReady.emit(semantic)

    def _stop_queue(self) -> None:
        queue, self.queue = self.queue, None
        if queue is not None:  # stopping waits for the current batch: not on the GUI thread
            self.slow_runner.submit(Job(_retire, queue, progress=False))

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def captioning(self) -> bool:
        return self.queue is not None

    def set_paused(self, paused: bool) -> None:
        self._paused = paused
        for queue in (self.queue, self.embed_queue):
            if queue is not None:
                if paused:
                    queue.pause()
                else:
                    queue.resume()
        self.queueStateChanged.emit()

    def wake(self) -> None:
        """Tell the queue that there may be new work (a folder was added, failures were reset)."""
        if self.queue is not None:
            self.queue.wake()
        if self.embed_queue is not None:
            self.embed_queue.wake()

    # ------------------------------------------------------------------ watcher

    def start_watching(self, paths: list[str]) -> None:
        if self._watcher_factory is None:
            return
        if self.watcher is None:
            self.watcher = self._watcher_factory(
                self.library, on_change=self.foldersChanged.emit, on_status=self.watchStatusChanged.emit
            )
            self.watcher.start()
        for path in paths:
            self.watch(path)

    def watch(self, path: str) -> None:
        if self.watcher is None:
            self.start_watching([])
        if self.watcher is not None:  # registering a big tree walks it: off the GUI thread
            self.slow_runner.submit(Job(self.watcher.watch, path, absent_ok=True, progress=False))

    def unwatch(self, path: str) -> None:
        if self.watcher is not None:
            self.slow_runner.submit(Job(self.watcher.unwatch, path, progress=False))

    # ------------------------------------------------------------------ shutdown

    def shutdown(self) -> None:
        """Stop the queue and the watcher and wait for them (at exit only)."""
        self._load_job = None
        if self.slow_runner is not self.runner:  # a model loading cannot stop half-way: wait a while
            self.slow_runner.cancel_all()
            self.slow_runner.wait(5000)
        changes, self._changes = self._changes, None
        if changes is not None:
            changes.stop()
        queue, self.queue = self.queue, None
        if queue is not None:
            _retire(queue)
        embed_queue, self.embed_queue = self.embed_queue, None
        if embed_queue is not None:
            embed_queue.stop()
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            watcher.stop()
