"""The app's long-lived background services: the captioning model and search by meaning, over
core's :class:`~photoscribe.core.library.pipeline.LibraryPipeline`.

The pipeline (folder watcher -> caption queue -> embedding queue) runs on its own threads and calls
plain callbacks there. :class:`BackgroundServices` turns those callbacks into Qt signals, so
everything connected to it runs on the main thread. Loading a model (seconds of torch work) and
registering watches on big trees run on the job runner, never on the GUI thread.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from photoscribe.core.captioning.loading import DEFAULT_DEVICE, load_captioner
from photoscribe.core.choices import DEFAULT_BEAM
from photoscribe.core.library import Library
from photoscribe.core.library.embed_queue import EmbedQueue
from photoscribe.core.library.hybrid import MeaningSearch
from photoscribe.core.library.meaning import meaning_search_available
from photoscribe.core.library.pipeline import LibraryPipeline, retire_queue
from photoscribe.core.library.queue import CaptionQueue
from photoscribe.core.library.scanner import ScanReport
from photoscribe.core.library.watcher import FolderWatcher
from photoscribe.core.progress import ProgressCallback
from photoscribe.desktop.workers import Job, JobRunner

if TYPE_CHECKING:
    from photoscribe.core.captioning.captioner import Captioner

log = logging.getLogger(__name__)

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


def load_meaning_search(library: Library) -> MeaningSearch:
    """Load the sentence-embedding model and the library's embeddings (seconds: on the job runner)."""
    meaning_search = MeaningSearch(library)
    meaning_search.index  # noqa: B018 (loads the model, then reads every stored embedding)
    return meaning_search


class BackgroundServices(QObject):
    """The app's :class:`LibraryPipeline` as Qt signals, plus the captioning model it is given.

    ``queue_factory`` / ``watcher_factory`` build the pipeline's parts (``None``: none, e.g. in tests).

    Signals (all delivered on the main thread):
        captionProgress(Progress): from the queue (stage "caption": done/total, rate, eta).
        captioned(list[int]): photo ids that just got a caption.
        foldersChanged(object): the watcher's change summary.
        watchStatusChanged(WatchStatus): a watch was lost, re-armed (after a rescan) or polled.
        modelChanged(ModelState): a model started loading, loaded, failed, or was refused as broken
            by the caption queue (it gave no usable caption for several photos in a row).
        queueStateChanged(): paused or resumed.
        meaningReady(MeaningSearch): search by meaning can run (the embedding model is loaded).
        libraryChanged(): a commit to the library, maybe by another process (``library add``): the
            queues have been woken.
    """

    captionProgress = Signal(object)
    captioned = Signal(list)
    foldersChanged = Signal(object)
    watchStatusChanged = Signal(object)
    modelChanged = Signal(object)
    queueStateChanged = Signal()
    meaningReady = Signal(object)
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
        meaning_factory: Callable[[Library], MeaningSearch] | None = load_meaning_search,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.runner = runner
        # Loading models, stopping queues and registering watches take seconds: on threads of their
        # own, never in the way of the grid's and the sidebar's queries (which ran 18 s late behind
        # a model loading on a full pool).
        self.slow_runner = runner.separate(self)
        self.pipeline = LibraryPipeline(
            library,
            on_change=self.foldersChanged.emit,
            on_status=self.watchStatusChanged.emit,
            on_progress=self.captionProgress.emit,
            on_captioned=self.captioned.emit,
            on_broken=self._modelBroken.emit,
            on_library_changed=self.libraryChanged.emit,
            watcher_factory=watcher_factory,
            queue_factory=queue_factory,
        )
        self._meaning_factory = meaning_factory
        self.meaning_search: MeaningSearch | None = None
        self.captioner: Captioner | None = None
        self.model = ModelState()
        self._load_job: Job | None = None
        self._modelBroken.connect(self._on_model_broken)

    @property
    def queue(self) -> CaptionQueue | None:
        return self.pipeline.queue

    @property
    def embed_queue(self) -> EmbedQueue | None:
        return self.pipeline.embed_queue

    @property
    def watcher(self) -> FolderWatcher | None:
        return self.pipeline.watcher

    # ------------------------------------------------------------------ model and queue

    def load_model(
        self, path: str | os.PathLike[str], *, device: str = DEFAULT_DEVICE, beam_size: int = DEFAULT_BEAM
    ) -> None:
        """Load a checkpoint in the background, then caption with it (replacing the current model).

        torch is imported by the loading, on the worker thread, so the window appears before the
        model stack loads.
        """
        path = str(path)
        self._set_model(ModelState(path=path, name=self.model.name, loading=True))
        job = Job(load_captioner, path, device=device, beam_size=beam_size, n_best=N_BEST, progress=False)
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
        if self.pipeline.start_captioning(captioner) is not None:
            self.queueStateChanged.emit()

    def _stop_queue(self) -> None:
        queue = self.pipeline.detach_captioning()
        if queue is not None:  # stopping waits for the current batch: not on the GUI thread
            self.slow_runner.submit(Job(retire_queue, queue, progress=False))

    # ------------------------------------------------------------------ search by meaning

    def start_embedding(self) -> None:
        """Load the embedding model in the background, then embed captions as they arrive.

        Does nothing without the ``semantic`` extra (search stays by words).
        """
        if self._meaning_factory is None or self.meaning_search is not None or not meaning_search_available():
            return
        self.slow_runner.submit(
            Job(self._meaning_factory, self.library, progress=False),
            on_finished=self._on_meaning_loaded,
            on_failed=lambda exc, _tb: log.warning("search by meaning is off: %s", exc),
        )

    def _on_meaning_loaded(self, meaning_search: MeaningSearch) -> None:
        self.meaning_search = meaning_search
        self.pipeline.start_embedding(meaning_search.embedder)
        self.meaningReady.emit(meaning_search)

    @property
    def paused(self) -> bool:
        return self.pipeline.paused

    @property
    def captioning(self) -> bool:
        return self.pipeline.captioning

    def set_paused(self, paused: bool) -> None:
        self.pipeline.set_paused(paused)
        self.queueStateChanged.emit()

    def wake(self) -> None:
        """Tell the queues that there may be new work (failures were reset, photos re-captioned)."""
        self.pipeline.wake()

    def catch_up(
        self, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> ScanReport:
        """Rescan the folders for what changed while the app was closed, then wake the queues
        (seconds on a big library: on the job runner)."""
        return self.pipeline.catch_up(on_progress=on_progress, cancel=cancel)

    # ------------------------------------------------------------------ watcher

    def start_watching(self, paths: list[str]) -> None:
        if self.pipeline.start_watcher() is None:
            return
        for path in paths:
            self.watch(path)

    def watch(self, path: str) -> None:
        if self.pipeline.start_watcher() is not None:  # registering a big tree walks it: off the GUI thread
            self.slow_runner.submit(Job(self.pipeline.watch, path, absent_ok=True, progress=False))

    def unwatch(self, path: str) -> None:
        if self.pipeline.watcher is not None:
            self.slow_runner.submit(Job(self.pipeline.unwatch, path, progress=False))

    # ------------------------------------------------------------------ shutdown

    def shutdown(self) -> None:
        """Stop the queues and the watcher and wait for them (at exit only)."""
        self._load_job = None
        if self.slow_runner is not self.runner:  # a model loading cannot stop half-way: wait a while
            self.slow_runner.cancel_all()
            self.slow_runner.wait(5000)
        self.pipeline.stop()
