"""The pipeline in core, with no UI: a file dropped in a watched folder becomes a searchable caption."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.captioning.loading import load_captioner
from photoscribe.core.library.database import Library
from photoscribe.core.library.meaning import count_embedded, count_pending
from photoscribe.core.library.pipeline import LibraryPipeline
from photoscribe.core.library.watcher import ChangeSummary
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from tests.helpers import get_feature, new_library, wait_until

EMBEDDER = "word-bag-test"
TIMEOUT = 60.0


class WordEmbedder:
    """A bag of words (the real sentence model is tested in tests/integration/test_meaning_model.py)."""

    model_id = EMBEDDER
    dim = 16

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            vec = np.zeros(self.dim, dtype=np.float32)
            for word in text.lower().split():
                seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                vec += np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(vec / (np.linalg.norm(vec) or 1.0))
        return np.asarray(rows)


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = new_library(tmp_path / "library.sqlite3")
    yield lib
    lib.close()


def test_a_photo_dropped_in_a_watched_folder_is_captioned_and_embedded_with_no_ui_and_no_wake(
    library: Library, tiny_model: CaptionModel, tiny_vocab: Vocabulary, tmp_path: Path
) -> None:
    """Issue 23 item 1: nothing but the pipeline's own wiring (no refresh timer, no ``wake()``)."""
    folder = tmp_path / "Pictures"
    folder.mkdir()
    library.add_folder_record(folder)
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)
    captioner = load_captioner(checkpoint, device="cpu", batch_size=4, workers=1)
    changes: list[ChangeSummary] = []
    captioned: list[int] = []
    threads: set[str] = set()

    def on_captioned(ids: list[int]) -> None:
        threads.add(threading.current_thread().name)
        captioned.extend(ids)

    # embed_poll_s=None: the embedding queue does not look on its own; only the pipeline wakes it
    pipeline = LibraryPipeline(
        library, on_change=changes.append, on_captioned=on_captioned, embed_poll_s=None
    )
    try:
        pipeline.watch(str(folder))
        pipeline.start_captioning(captioner)
        pipeline.start_embedding(WordEmbedder())
        assert wait_until(lambda: pipeline.queue is not None and not pipeline.queue.busy, TIMEOUT)

        photo = folder / "new_arrival.jpg"
        pixels = np.random.default_rng(3).integers(0, 255, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(photo)

        assert wait_until(lambda: library.get_photo(photo) is not None, TIMEOUT), changes
        photo_id = library.get_photo(photo).id
        assert wait_until(lambda: photo_id in captioned, TIMEOUT), changes
        caption = library.best_caption(photo_id)
        assert caption is not None and caption.source == captioner.model_id and caption.text
        assert get_feature(library, photo_id) is not None  # stored by the captioning step
        assert library.get_photo(photo_id).feature_model == captioner.model_id

        def embedded() -> bool:
            with library.session() as session:
                return count_pending(session, EMBEDDER) == 0 and count_embedded(session, EMBEDDER) == 1

        assert wait_until(embedded, TIMEOUT)
        assert threads == {"photoscribe-caption-queue"}  # called on the queue's own thread
        assert any(photo_id in summary.added for summary in changes)
    finally:
        assert pipeline.stop(within_s=30)
    assert pipeline.queue is None and pipeline.watcher is None and pipeline.embed_queue is None


def test_pause_holds_both_queues_and_a_new_queue_starts_paused(
    library: Library, tiny_model: CaptionModel, tiny_vocab: Vocabulary, tmp_path: Path
) -> None:
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)
    captioner = load_captioner(checkpoint, device="cpu", batch_size=4, workers=1)
    pipeline = LibraryPipeline(library, watcher_factory=None)
    try:
        pipeline.pause()
        queue = pipeline.start_captioning(captioner)
        embed_queue = pipeline.start_embedding(WordEmbedder())
        assert queue is not None and queue.paused and embed_queue.paused and pipeline.paused
        pipeline.resume()
        assert not queue.paused and not embed_queue.paused
        assert pipeline.start_watcher() is None  # no watcher_factory: no watching
    finally:
        assert pipeline.stop(within_s=30)
