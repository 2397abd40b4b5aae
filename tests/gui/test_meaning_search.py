"""Search by meaning in the app: embedding in the background, "≈" on meaning matches, the hint without it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from sample_library import Sample

from photoscribe.core.library import Library
from photoscribe.core.library.hybrid import MeaningSearch
from photoscribe.core.library.meaning import DEFAULT_MODEL, count_pending
from photoscribe.desktop import background, main_window
from photoscribe.desktop.background import BackgroundServices
from photoscribe.desktop.item_models import PhotoRoles
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.workers import JobRunner

MakeWindow = Callable[..., MainWindow]


class WordEmbedder:
    """Bag of words, "puppy" the same word as "dog" (the real model is tested in tests/integration)."""

    model_id = DEFAULT_MODEL
    dim = 32

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            vec = np.zeros(self.dim, dtype=np.float32)
            for word in text.lower().split():
                word = {"puppy": "dog"}.get(word, word)
                seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                vec += np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(vec / (np.linalg.norm(vec) or 1.0))
        return np.asarray(rows)


def _pending(library: Library) -> int:
    with library.session() as session:
        return count_pending(session, DEFAULT_MODEL)


def test_the_app_embeds_captions_in_the_background_and_marks_meaning_matches(
    qtbot: Any, make_window: MakeWindow, sample: Sample, runner: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(background, "meaning_search_available", lambda: True)
    services = BackgroundServices(
        sample.library,
        runner,
        queue_factory=None,
        watcher_factory=None,
        meaning_factory=lambda library: MeaningSearch(library, WordEmbedder()),
    )
    window = make_window(sample.library, services=services)
    ready: list[object] = []
    services.meaningReady.connect(ready.append)
    window.start()
    qtbot.waitUntil(lambda: bool(ready) and _pending(sample.library) == 0, timeout=120_000)
    assert window.photos.meaning_search is ready[0]

    window.search.setText("puppy")
    qtbot.waitUntil(
        lambda: window.photos.query.text == "puppy" and window.photos.rowCount() > 0, timeout=10_000
    )
    first = window.photos.index(0, 0)
    assert first.data(PhotoRoles.PhotoId) == sample.ids["meadow"]
    snippet, ranges = first.data(PhotoRoles.Highlights)
    assert snippet.startswith("≈ ") and "dog" in snippet and ranges == ()
    assert "Found by meaning" in first.data(Qt.ItemDataRole.ToolTipRole)
    qtbot.waitUntil(lambda: window.count_label.text() != "", timeout=10_000)

    # A caption written by the user is embedded without any further call (the pipeline sees the
    # commit and wakes the embedding queue).
    sample.library.set_user_caption(sample.ids["lake"], "my puppy swims in the lake")
    qtbot.waitUntil(lambda: _pending(sample.library) == 0, timeout=120_000)
    window.photos.refresh()
    qtbot.waitUntil(
        lambda: (
            window.photos.rowCount() > 1
            and window.photos.index(0, 0).data(PhotoRoles.PhotoId) == sample.ids["lake"]
        ),
        timeout=10_000,
    )
    assert "≈" not in window.photos.index(0, 0).data(PhotoRoles.Highlights)[0]  # the exact word: no mark
    services.shutdown()


def test_without_the_extra_the_search_box_says_how_to_enable_meaning_search(
    make_window: MakeWindow, sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(main_window, "meaning_search_available", lambda: False)
    monkeypatch.setattr(background, "meaning_search_available", lambda: False)
    window = make_window(sample.library)
    assert "words only" in window.search.placeholderText()
    assert "pip install 'photoscribe[semantic]'" in window.search.toolTip()
    window.start()
    assert window.services.meaning_search is None and window.photos.meaning_search is None
