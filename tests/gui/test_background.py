"""The window with core's real CaptionQueue (a tiny real model) and real FolderWatcher threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QItemSelectionModel, QObject, QThreadPool
from PySide6.QtWidgets import QMessageBox
from sample_library import PHOTOS, Sample, draw_photo

from photoscribe.core import paths
from photoscribe.core.library import Library
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.desktop.background import BackgroundServices
from photoscribe.desktop.item_models import PhotoRoles
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.workers import Job, JobRunner

MakeWindow = Callable[..., MainWindow]


def test_real_caption_queue_updates_the_window_from_its_thread(
    qtbot: Any,
    make_window: MakeWindow,
    sample: Sample,
    runner: JobRunner,
    tiny_model: CaptionModel,
    tiny_vocab: Vocabulary,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)
    broken = sample.root / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 truncated jpeg")
    sample.library.upsert_photo(broken, 20, broken.stat().st_mtime, folder_id=sample.folder.id)

    services = BackgroundServices(sample.library, runner, watcher_factory=None)  # the real CaptionQueue
    window = make_window(sample.library, services=services)
    main_thread = threading.get_ident()
    progress_threads: set[int] = set()
    captioned: list[int] = []
    original = window.status.set_caption_progress
    monkeypatch.setattr(
        window.status,
        "set_caption_progress",
        lambda p: (progress_threads.add(threading.get_ident()), original(p)),
    )
    services.captioned.connect(captioned.extend)

    window.use_model(str(checkpoint))  # Captioner.load on the runner, then the queue's own thread
    assert services.model.ready, services.model
    model_id = services.model.name
    assert window.status.model_label.text() == f"Model: {model_id}"
    qtbot.waitUntil(lambda: len(captioned) == len(PHOTOS), timeout=30_000)
    assert progress_threads == {main_thread}
    assert services.queue is not None and services.queue.running

    # Rows were refreshed with the new (newest) model caption, and it has attention maps.
    lake = sample.ids["lake"]
    best = sample.library.best_caption(lake)
    assert best is not None and best.source == model_id
    row = window.photos.row_of(lake)
    qtbot.waitUntil(lambda: window.photos.index(row, 0).data(PhotoRoles.Source) == model_id, timeout=5000)
    window.grid.select_row(row)
    assert window.detail.attention.words == best.text.split()[: len(window.detail.attention.words)]
    assert window.detail.attention.words

    # The unreadable file became a failure: counted in the status bar, no dialog.
    qtbot.waitUntil(lambda: window.status.failures_button.isVisibleTo(window), timeout=10_000)
    assert sample.library.list_failures()[0].path == str(broken)

    window.status.pause_button.click()
    assert services.queue.paused
    window.status.pause_button.click()
    assert not services.queue.paused


def test_recaption_selection_makes_fresh_captions(
    qtbot: Any,
    make_window: MakeWindow,
    sample: Sample,
    runner: JobRunner,
    tiny_model: CaptionModel,
    tiny_vocab: Vocabulary,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)
    services = BackgroundServices(sample.library, runner, watcher_factory=None)  # the real CaptionQueue
    window = make_window(sample.library, services=services)
    captioned: list[int] = []
    services.captioned.connect(captioned.extend)
    window.use_model(str(checkpoint))
    qtbot.waitUntil(lambda: len(captioned) == len(PHOTOS), timeout=30_000)
    model_id = services.model.name
    lake, rose, beach = (sample.ids[n] for n in ("lake", "rose", "beach"))

    def model_caption(photo_id: int) -> Any:
        return next(c for c in sample.library.captions(photo_id) if c.source == model_id)

    before = {pid: model_caption(pid) for pid in (lake, rose, beach)}
    sample.library.set_user_caption(rose, "Mum's rose after the storm")

    selection = window.grid.selectionModel()
    for photo_id in (lake, rose):
        index = window.photos.index(window.photos.row_of(photo_id), 0)
        selection.select(index, QItemSelectionModel.SelectionFlag.Select)
    assert sorted(window.grid.selected_photo_ids()) == sorted([lake, rose])
    captioned.clear()
    window.recaption_selection_action.trigger()

    qtbot.waitUntil(lambda: {lake, rose} <= set(captioned), timeout=30_000)
    assert beach not in captioned
    for photo_id in (lake, rose):
        fresh = model_caption(photo_id)
        assert fresh.id != before[photo_id].id and fresh.created_at >= before[photo_id].created_at
    assert model_caption(beach) == before[beach]  # not selected: untouched
    assert sample.library.best_caption(lake).id == model_caption(lake).id
    assert sample.library.best_caption(rose).text == "Mum's rose after the storm"  # people's work stays
    row = window.photos.row_of(lake)
    qtbot.waitUntil(
        lambda: window.photos.index(row, 0).data(PhotoRoles.Caption) == model_caption(lake).text, timeout=5000
    )

    # "Re-caption all" asks first, then makes every caption of the active model again.
    asked: list[str] = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        lambda _parent, title, _text: asked.append(title) or QMessageBox.StandardButton.Yes,
    )
    before = {pid: model_caption(pid) for pid in sample.ids.values()}
    captioned.clear()
    window.recaption_all_action.trigger()
    assert asked == ["Re-caption all photos"]
    qtbot.waitUntil(lambda: set(captioned) == set(sample.ids.values()), timeout=30_000)
    assert all(model_caption(pid).id != caption.id for pid, caption in before.items())
    assert sample.library.best_caption(rose).text == "Mum's rose after the storm"
    assert sample.library.count_pending(model_id) == 0


def test_real_watcher_brings_new_photos_into_the_grid(
    qtbot: Any, make_window: MakeWindow, sample: Sample, runner: JobRunner
) -> None:
    services = BackgroundServices(sample.library, runner, queue_factory=None)  # the real FolderWatcher
    window = make_window(sample.library, services=services)
    window.start()
    assert services.watcher is not None
    qtbot.waitUntil(lambda: str(sample.root) in services.watcher.roots, timeout=5000)
    draw_photo(sample.root / "new_arrival.png", (10, 200, 120), "circle")
    qtbot.waitUntil(lambda: window.photos.rowCount() == len(PHOTOS) + 1, timeout=20_000)
    names = [window.photos.photo_row(r).name for r in range(window.photos.rowCount())]
    assert "new_arrival.png" in names
    qtbot.waitUntil(lambda: window.folders.entries[0].count == len(PHOTOS) + 1, timeout=5000)


def test_import_model_copies_it_and_makes_it_active(
    qtbot: Any,
    make_window: MakeWindow,
    library: Library,
    runner: JobRunner,
    tiny_model: CaptionModel,
    tiny_vocab: Vocabulary,
    tmp_path: Path,
) -> None:
    source = save_checkpoint(tmp_path / "downloads" / "holiday-model.pt", tiny_model, tiny_vocab)
    services = BackgroundServices(library, runner, watcher_factory=None)
    window = make_window(library, services=services)
    assert window.status.model_label.text() == "No captioning model"

    window.captioning.import_model_from(str(source))
    [target] = paths.models_dir().glob("holiday-model-*.pt")  # a name of its own: holiday-model-<hash>.pt
    assert target.read_bytes() == source.read_bytes()
    assert paths.active_model_path() == target.resolve()  # shared with the CLI
    assert not window.settings.contains("model/active")  # stored once, in core
    assert services.model.ready and window.status.model_label.text().startswith("Model: holiday-model-")
    assert "is ready" in window.welcome.model_text.text()
    # The import's message ends with the import (it used to say "Importing…" for seconds after).
    assert not window.statusBar().currentMessage().startswith("Importing")
    assert window.statusBar().currentMessage().startswith(f"Imported holiday-model.pt as {target.name}")

    not_a_model = tmp_path / "notes.pt"
    not_a_model.write_text("hello")
    window.captioning.import_model_from(str(not_a_model))
    assert "is not a usable model" in window.statusBar().currentMessage()
    assert not (paths.models_dir() / "notes.pt").exists()
    assert services.model.ready  # the working model stays


def test_a_job_reporting_to_a_deleted_receiver_is_dropped_and_a_real_error_is_not(qtbot: Any) -> None:
    runner = JobRunner(QThreadPool())
    release = threading.Event()
    receiver = QObject()
    got: list[str] = []
    runner.submit(
        Job(release.wait, progress=False),
        receiver=receiver,
        on_finished=lambda _r: got.append(receiver.objectName()),
    )
    shiboken6.delete(receiver)  # the window closed while the job was running
    release.set()
    qtbot.waitUntil(lambda: not runner.busy)
    assert got == []

    def broken(_result: object) -> None:
        raise RuntimeError("a real bug")

    alive = QObject()
    with qtbot.capture_exceptions() as raised:
        runner.submit(Job(lambda: None, progress=False), receiver=alive, on_finished=broken)
        qtbot.waitUntil(lambda: not runner.busy)
        qtbot.waitUntil(lambda: bool(raised))
    assert "a real bug" in str(raised[0][1])


def test_start_catches_up_with_photos_added_and_deleted_while_the_app_was_closed(
    qtbot: Any, make_window: MakeWindow, sample: Sample, runner: JobRunner
) -> None:
    draw_photo(sample.root / "while_closed.png", (10, 200, 120), "circle")  # the app was not running
    gone = sample.library.get_photo(sample.ids["rose"]).path
    Path(gone).unlink()
    window = make_window(sample.library)
    window.start()
    qtbot.waitUntil(
        lambda: sample.library.get_photo(sample.root / "while_closed.png") is not None, timeout=10_000
    )
    qtbot.waitUntil(lambda: "1 added, 1 missing" in window.statusBar().currentMessage(), timeout=10_000)
    qtbot.waitUntil(lambda: window.photos.rowCount() == len(PHOTOS), timeout=5000)  # +1 new, -1 gone
    assert sample.ids["rose"] not in [
        window.photos.photo_row(r).photo_id for r in range(window.photos.rowCount())
    ]


def test_a_watched_folder_that_vanishes_and_comes_back_is_shown_and_watched_again(
    qtbot: Any, make_window: MakeWindow, sample: Sample, runner: JobRunner
) -> None:
    """Issue 12 item 6 in the app: the status bar says the folder is gone, then that it is back and
    rescanned; a photo dropped in afterwards reaches the grid."""
    services = BackgroundServices(sample.library, runner, queue_factory=None)  # the real FolderWatcher
    window = make_window(sample.library, services=services)
    window.start()
    assert services.watcher is not None
    qtbot.waitUntil(lambda: str(sample.root) in services.watcher.roots, timeout=5000)
    qtbot.waitUntil(lambda: not runner.busy, timeout=20_000)  # the start-up rescan
    away = sample.root.with_name("unplugged")
    sample.root.rename(away)
    qtbot.waitUntil(lambda: "is gone" in window.statusBar().currentMessage(), timeout=30_000)
    assert sample.root.name in window.statusBar().currentMessage()
    away.rename(sample.root)
    qtbot.waitUntil(
        lambda: "is back and watched again" in window.statusBar().currentMessage(), timeout=30_000
    )
    draw_photo(sample.root / "after_replug.png", (200, 20, 120), "circle")
    qtbot.waitUntil(lambda: window.photos.rowCount() == len(PHOTOS) + 1, timeout=30_000)
    names = [window.photos.photo_row(r).name for r in range(window.photos.rowCount())]
    assert "after_replug.png" in names


def test_a_model_refused_as_broken_is_said_in_the_window_and_the_queue_stops(
    qtbot: Any,
    make_window: MakeWindow,
    sample: Sample,
    runner: JobRunner,
    tiny_model: CaptionModel,
    tiny_vocab: Vocabulary,
    tmp_path: Path,
) -> None:
    """Issue 20, item 3: a model whose scores are NaN failed every photo, forever, in silence."""
    import torch

    with torch.no_grad():
        tiny_model.decoder.fc.bias.fill_(float("nan"))
    checkpoint = save_checkpoint(tmp_path / "nan.pt", tiny_model, tiny_vocab)
    services = BackgroundServices(sample.library, runner, watcher_factory=None)  # the real CaptionQueue
    window = make_window(sample.library, services=services)
    window.use_model(str(checkpoint))
    qtbot.waitUntil(lambda: services.model.error is not None, timeout=30_000)
    assert "is broken: it gave no usable caption" in services.model.error
    assert str(checkpoint) in services.model.error
    assert "is broken" in window.welcome.model_text.text()
    assert services.queue is not None
    qtbot.waitUntil(lambda: not services.queue.running, timeout=10_000)
    failures = sample.library.list_failures()
    assert failures and all(f.model.startswith("nan-") and "@sha256:" in f.model for f in failures)
