"""How the pipeline wires its parts: a change wakes captioning, a caption wakes embedding."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from photoscribe.core.library.database import Library
from photoscribe.core.library.pipeline import LibraryPipeline
from photoscribe.core.library.scanner import ScanReport
from photoscribe.core.library.watcher import ChangeSummary, WatchState, WatchStatus
from tests.helpers import new_library


class FakeWorker:
    """Stands for a queue or the watcher: records what the pipeline asks of it."""

    def __init__(self, *_args: Any, **callbacks: Any) -> None:
        self.callbacks = callbacks
        self.calls: list[str] = []
        self.captioner = None
        self.roots: frozenset[str] = frozenset()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *_a, **_k: self.calls.append(name) or True


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = new_library(tmp_path / "library.sqlite3")
    yield lib
    lib.close()


def _pipeline(
    library: Library, **callbacks: Any
) -> tuple[LibraryPipeline, FakeWorker, FakeWorker, FakeWorker]:
    pipeline = LibraryPipeline(library, watcher_factory=FakeWorker, queue_factory=FakeWorker, **callbacks)
    watcher = pipeline.start_watcher()
    queue = pipeline.start_captioning(object())  # type: ignore[arg-type]
    embed_queue = FakeWorker()
    pipeline.embed_queue = embed_queue  # type: ignore[assignment]
    assert isinstance(watcher, FakeWorker) and isinstance(queue, FakeWorker)
    for worker in (watcher, queue):
        worker.calls.clear()
    return pipeline, watcher, queue, embed_queue


def test_a_change_the_watcher_applies_wakes_captioning_and_a_caption_wakes_embedding(
    library: Library,
) -> None:
    seen: list[object] = []
    pipeline, watcher, queue, embed_queue = _pipeline(
        library, on_change=seen.append, on_captioned=seen.append
    )

    watcher.callbacks["on_change"](ChangeSummary(added=(1,)))
    assert queue.calls == ["wake"] and embed_queue.calls == ["wake"] and seen == [ChangeSummary(added=(1,))]

    queue.calls.clear()
    embed_queue.calls.clear()
    watcher.callbacks["on_change"](ChangeSummary(removed=(1,)))  # nothing new to caption
    assert queue.calls == []

    queue.callbacks["on_captioned"]([7, 8])
    assert embed_queue.calls == ["wake", "wake"] and seen[-1] == [7, 8]

    rescanned = WatchStatus("/photos", WatchState.REARMED, "back", ScanReport(added=2))
    queue.calls.clear()
    watcher.callbacks["on_status"](rescanned)  # a lost folder came back with new photos
    assert queue.calls == ["wake"]
    pipeline.stop(within_s=1)
    assert "stop" in watcher.calls and "stop" in queue.calls and "stop" in embed_queue.calls


def test_start_captioning_again_replaces_the_queue(library: Library) -> None:
    pipeline, _watcher, first, _embed = _pipeline(library)
    second = pipeline.start_captioning(object())  # type: ignore[arg-type]
    assert second is not first and pipeline.queue is second
    assert first.calls == ["stop"]  # retired before the new one starts
    assert pipeline.detach_captioning() is second and pipeline.queue is None and not pipeline.captioning
    pipeline.stop(within_s=1)
