"""Fixtures for the desktop tests: small libraries, deterministic job runners, windows on them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, QThreadPool
from sample_library import PHOTOS, Sample, add_caption, draw_photo, register_photo

from photoscribe.core.library import Library
from photoscribe.desktop.background import BackgroundServices
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.thumbnail_loader import ThumbnailLoader
from photoscribe.desktop.workers import ImmediatePool, JobRunner
from tests.helpers import new_library


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = new_library(tmp_path / "library.sqlite3")
    yield lib
    lib.close()


@pytest.fixture
def sample(library: Library, tmp_path: Path) -> Sample:
    """Twelve colourful photos in one folder, each with a model caption, alternatives and attention."""
    root = tmp_path / "Photos" / "Holidays"
    folder = library.add_folder_record(root)
    ids = {}
    start = datetime(2024, 6, 1, 9, 0)
    for i, (stem, colour, shape, caption) in enumerate(PHOTOS):
        path = draw_photo(root / f"{stem}.jpg", colour, shape)
        ids[stem] = register_photo(library, folder, path, taken_at=start + timedelta(hours=i))
        add_caption(library, ids[stem], caption, [caption.replace("a ", "the ", 1), f"a photo of {stem}"])
    return Sample(library, folder, ids, root)


DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
UPDATE_SCREENSHOTS = "PHOTOSCRIBE_UPDATE_SCREENSHOTS"


@pytest.fixture
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshot tests write: a temporary folder, so a test run leaves the tree clean;
    ``docs/screenshots/`` itself with ``PHOTOSCRIBE_UPDATE_SCREENSHOTS=1``
    (``scripts/update_screenshots.sh``)."""
    if os.environ.get(UPDATE_SCREENSHOTS) == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def runner() -> JobRunner:
    """Jobs run at once on the calling thread: deterministic tests (as picard's fake pool)."""
    return JobRunner(ImmediatePool())


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(os.fspath(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot: Any, runner: JobRunner, settings: QSettings) -> Iterator[Callable[..., MainWindow]]:
    windows: list[MainWindow] = []
    pools: list[QThreadPool] = []

    def make(library: Library, **kwargs: Any) -> MainWindow:
        pool = QThreadPool()
        pools.append(pool)
        kwargs.setdefault("runner", runner)
        kwargs.setdefault("settings", settings)
        kwargs.setdefault(
            "services",
            BackgroundServices(
                library, kwargs["runner"], queue_factory=None, watcher_factory=None, meaning_factory=None
            ),
        )
        kwargs.setdefault("thumbnails", ThumbnailLoader(size=256, pool=pool))  # core's disk cache
        window = MainWindow(library, **kwargs)
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.thumbnails.shutdown()
    for pool in pools:
        pool.waitForDone(5000)
