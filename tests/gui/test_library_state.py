"""The app with a damaged, a read-only, or a library changed by another process (issue 20, items 6, 7, 14)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QLabel, QMessageBox
from sample_library import PHOTOS, Sample, draw_photo

from photoscribe.core.library import Library
from photoscribe.core.library.integrity import LibraryDamagedError
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.desktop import app as desktop_app
from photoscribe.desktop.background import BackgroundServices
from photoscribe.desktop.library_state import DAMAGED_TITLE
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.workers import Job, JobRunner
from tests.helpers import new_library

MakeWindow = Callable[..., MainWindow]


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        QMessageBox, "critical", lambda _parent, title, text, *a, **k: shown.append((title, text))
    )
    return shown


def test_the_app_says_a_damaged_library_in_a_dialog_before_opening_it(
    qtbot: Any, tmp_path: Path, dialogs: list[tuple[str, str]]
) -> None:
    db = tmp_path / "library.sqlite3"
    new_library(db).close()
    with sqlite3.connect(db) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'captions_fts_data'").fetchone()[
            0
        ]
    with db.open("r+b") as f:  # the root page of the full-text index, really overwritten
        f.seek((root - 1) * 4096)
        f.write(os.urandom(4096))
    assert desktop_app.run_app(db, None, argv=["photoscribe"]) == 1
    [(title, text)] = dialogs
    assert title == "Photoscribe cannot open the library"
    assert "cannot be used" in text and "photoscribe library repair" in text
    assert "SELECT" not in text and "sqlalchemy" not in text.lower()


def test_a_job_that_meets_damage_shows_the_sentence_once_not_sql(
    make_window: MakeWindow, sample: Sample, runner: JobRunner, dialogs: list[tuple[str, str]]
) -> None:
    window = make_window(sample.library)
    failures: list[BaseException] = []

    def damaged() -> None:  # what SQLite raises on reading a damaged page, as SQLAlchemy wraps it
        import sqlalchemy.exc

        raise sqlalchemy.exc.DatabaseError(
            "SELECT 1 FROM captions_fts", {}, sqlite3.DatabaseError("database disk image is malformed")
        )

    for _ in range(3):
        runner.submit(
            Job(damaged, progress=False), receiver=window, on_failed=lambda e, _t: failures.append(e)
        )
    assert len(failures) == 3 and all(isinstance(e, LibraryDamagedError) for e in failures)
    [(title, text)] = dialogs  # once, however many jobs fail
    assert title == DAMAGED_TITLE and "library repair" in text and "SELECT" not in text
    assert "library repair" in window.statusBar().currentMessage()


@pytest.fixture
def read_only_library(tmp_path: Path) -> Iterator[Library]:
    """A library seen through a real read-only bind mount (root only; skipped where refused)."""
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    source, view = tmp_path / "source", tmp_path / "view"
    source.mkdir()
    view.mkdir()
    with new_library(source / "library.sqlite3") as library:
        folder = library.add_folder_record(tmp_path / "photos")
        for i, (stem, colour, shape, caption) in enumerate(PHOTOS[:4]):
            path = draw_photo(tmp_path / "photos" / f"{stem}.jpg", colour, shape)
            photo = library.upsert_photo(path, path.stat().st_size, path.stat().st_mtime, folder_id=folder.id)
            library.add_model_caption(photo.id, "tiny", caption, -1.0 - i)
    done = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(source), str(view)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"this machine refuses a read-only bind mount ({done.stderr.strip()})")
    try:
        library = Library.open(view / "library.sqlite3")
        yield library
        library.close()
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_a_read_only_library_opens_for_browsing_with_editing_hidden(
    qtbot: Any, make_window: MakeWindow, read_only_library: Library
) -> None:
    assert read_only_library.read_only == "it is on a read-only file system"
    window = make_window(read_only_library)
    window.start()
    assert window.windowTitle() == "Photoscribe (read-only)"
    label = window.findChild(QLabel, "readOnlyLabel")
    assert label is not None and "it is on a read-only file system" in label.text()
    qtbot.waitUntil(lambda: window.photos.rowCount() == 4, timeout=5000)  # browsing works
    for action in (window.add_folder_action, window.mark_reviewed_action, window.recaption_all_action):
        assert not action.isVisible() and not action.isEnabled()
    assert window.export_action.isVisible() and window.find_action.isEnabled()
    assert window.detail.caption_edit.isReadOnly()
    assert window.services.queue is None and window.services.watcher is None


@pytest.mark.slow
def test_photos_added_by_the_cli_while_the_app_runs_are_captioned(
    qtbot: Any,
    make_window: MakeWindow,
    sample: Sample,
    runner: JobRunner,
    tiny_model: CaptionModel,
    tiny_vocab: Vocabulary,
    tmp_path: Path,
) -> None:
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)
    services = BackgroundServices(sample.library, runner, watcher_factory=None, meaning_factory=None)
    window = make_window(sample.library, services=services)
    captioned: list[int] = []
    services.captioned.connect(captioned.extend)
    window.use_model(str(checkpoint))
    qtbot.waitUntil(lambda: len(captioned) == len(PHOTOS), timeout=30_000)
    queue = services.queue
    assert queue is not None
    qtbot.waitUntil(lambda: not queue.busy, timeout=10_000)  # idle: it waits to be woken

    later = tmp_path / "Later"  # a folder the app does not watch, added by another process
    for i, (stem, colour, shape, _caption) in enumerate(PHOTOS[:5]):
        draw_photo(later / f"later-{i}-{stem}.jpg", colour, shape)
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    added = subprocess.run(
        [exe, "library", "--db", str(sample.library.path), "add", str(later)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    # Not captioned within 85 s, before: nothing woke the queue.
    qtbot.waitUntil(lambda: len(captioned) == len(PHOTOS) + 5, timeout=10_000)
    assert sample.library.count_pending(queue.model_id) == 0
