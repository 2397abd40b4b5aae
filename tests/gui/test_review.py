"""Reviewing from the keyboard: accept-and-next, Enter and Esc in the editor, Redo keys, drafts
kept across a crash, and a grid that fills while the model is still loading."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QMessageBox
from sample_library import PHOTOS, Sample

from photoscribe.core.drafts import DraftStore
from photoscribe.desktop import background
from photoscribe.desktop.background import BackgroundServices
from photoscribe.desktop.drafts import DRAFT_NOTE
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.queries import FILTER_NEEDS_REVIEW
from photoscribe.desktop.workers import JobRunner

MakeWindow = Callable[..., MainWindow]


def needs_review(window: MainWindow) -> None:
    assert window.sidebar.select_entry(FILTER_NEEDS_REVIEW)
    assert window.photos.query.filter == FILTER_NEEDS_REVIEW


def shown_ids(window: MainWindow) -> list[int]:
    return [window.photos.photo_row(r).photo_id for r in range(window.photos.rowCount())]  # type: ignore[union-attr]


def sidebar_count(window: MainWindow) -> int | None:
    row = window.folders.row_of(FILTER_NEEDS_REVIEW)
    assert row is not None
    return window.folders.entry(row).count  # type: ignore[union-attr]


def test_accept_and_next_takes_the_photo_out_of_needs_review_and_the_counts_agree(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    needs_review(window)
    before = shown_ids(window)
    assert len(before) == len(PHOTOS) and sidebar_count(window) == len(PHOTOS)
    window.grid.select_row(2)
    first, second = before[2], before[3]
    assert window.detail.photo_id == first

    window.mark_reviewed_action.trigger()  # Ctrl+R

    assert sample.library.best_caption(first).reviewed  # type: ignore[union-attr]
    assert first not in shown_ids(window) and len(shown_ids(window)) == len(PHOTOS) - 1
    assert window.grid.current_photo_id() == second and window.detail.photo_id == second
    expected = len(PHOTOS) - 1
    assert sample.library.stats().needs_review == expected
    assert window.count_label.text() == f"{expected} photos"  # the header: it said 12 before
    assert sidebar_count(window) == expected  # the sidebar says the same

    # Undo brings the photo back into the list and both counts back up.
    window.undo_action.trigger()
    assert not sample.library.best_caption(first).reviewed  # type: ignore[union-attr]
    assert first in shown_ids(window)
    assert window.count_label.text() == f"{len(PHOTOS)} photos" and sidebar_count(window) == len(PHOTOS)


def test_accepting_the_last_photo_selects_the_one_before_and_a_selection_leaves_together(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    needs_review(window)
    ids = shown_ids(window)
    window.grid.select_row(len(ids) - 1)
    window.mark_reviewed_action.trigger()
    assert window.detail.photo_id == ids[-2]

    window.grid.select_row(0)
    window.grid.selectionModel().select(
        window.photos.index(1, 0), window.grid.selectionModel().SelectionFlag.Select
    )
    window.mark_reviewed_action.trigger()
    left = shown_ids(window)
    assert left == ids[2:-1]
    assert window.grid.current_photo_id() == ids[2]
    assert window.count_label.text() == f"{len(left)} photos" and sidebar_count(window) == len(left)


def test_enter_in_needs_review_saves_or_accepts_and_moves_on_and_esc_reverts_then_leaves(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    window.show()
    needs_review(window)
    ids = shown_ids(window)
    window.grid.select_row(0)
    editor = window.detail.caption_edit
    window.edit_caption_action.trigger()  # F2: the caption is selected
    qtbot.keyClicks(editor, "two red kayaks on a lake")
    qtbot.keyClick(editor, Qt.Key.Key_Return)

    saved = sample.library.best_caption(ids[0])
    assert saved is not None and (saved.text, saved.is_user) == ("two red kayaks on a lake", True)
    assert ids[0] not in shown_ids(window)
    assert window.detail.photo_id == ids[1]
    assert window.focusWidget() is editor and editor.text() == window.detail.data.best.text  # type: ignore[union-attr]

    qtbot.keyClick(editor, Qt.Key.Key_Return)  # unchanged: the model's caption is approved
    approved = sample.library.best_caption(ids[1])
    assert approved is not None and approved.reviewed and not approved.is_user
    assert window.detail.photo_id == ids[2]

    model_text = editor.text()
    editor.moveCursor(editor.textCursor().MoveOperation.End)
    qtbot.keyClicks(editor, " at noon")
    assert window.detail.has_unsaved_edit
    qtbot.keyClick(editor, Qt.Key.Key_Escape)  # reverts
    assert editor.text() == model_text and not window.detail.has_unsaved_edit
    assert window.focusWidget() is editor
    qtbot.keyClick(editor, Qt.Key.Key_Escape)  # nothing to revert: back to the grid
    assert window.focusWidget() is window.grid
    assert window.grid.current_photo_id() == ids[2]
    assert not sample.library.best_caption(ids[2]).reviewed  # type: ignore[union-attr]


def test_enter_elsewhere_saves_and_stays(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    window.grid.select_row(0)
    photo_id = window.detail.photo_id
    window.edit_caption_action.trigger()
    qtbot.keyClicks(window.detail.caption_edit, "a lake")
    qtbot.keyClick(window.detail.caption_edit, Qt.Key.Key_Return)
    assert sample.library.best_caption(photo_id).text == "a lake"  # type: ignore[arg-type, union-attr]
    assert window.detail.photo_id == photo_id and window.photos.rowCount() == len(PHOTOS)


def bound_twice(window: MainWindow) -> dict[str, list[str]]:
    """Keys that more than one action or shortcut of the window answers (Qt: "Ambiguous shortcut
    overload", and neither runs). Actions bound to their own widget only are left out."""
    keys: Counter[str] = Counter()
    owners: dict[str, list[str]] = {}
    for action in window.findChildren(QAction):
        if action.shortcutContext() == Qt.ShortcutContext.WidgetShortcut:
            continue  # only where its widget has the focus (the grid's Delete, Space, Enter)
        for sequence in action.shortcuts():
            key = sequence.toString(QKeySequence.SequenceFormat.PortableText)
            keys[key] += 1
            owners.setdefault(key, []).append(action.text())
    for shortcut in window.findChildren(QShortcut):
        for sequence in shortcut.keys():  # noqa: SIM118 (a QShortcut, not a dict)
            key = sequence.toString(QKeySequence.SequenceFormat.PortableText)
            keys[key] += 1
            owners.setdefault(key, []).append(shortcut.objectName() or "QShortcut")
    return {key: owners[key] for key, n in keys.items() if n > 1}


def test_no_shortcut_is_bound_twice_and_redo_has_ctrl_shift_z_and_ctrl_y(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    assert bound_twice(window) == {}
    redo = [s.toString(QKeySequence.SequenceFormat.PortableText) for s in window.redo_action.shortcuts()]
    assert redo == ["Ctrl+Shift+Z", "Ctrl+Y"]


LINUX_DESKTOP_SCRIPT = """
import json, sys
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
sys.path.insert(0, sys.argv[2])
from test_review import bound_twice
from photoscribe.core.library import Library
from photoscribe.desktop.background import BackgroundServices
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.workers import ImmediatePool, JobRunner
app = QApplication([])
library = Library.open(sys.argv[1] + "/library.sqlite3")
runner = JobRunner(ImmediatePool())
services = BackgroundServices(library, runner, queue_factory=None, watcher_factory=None, meaning_factory=None)
settings = QSettings(sys.argv[1] + "/settings.ini", QSettings.Format.IniFormat)
window = MainWindow(library, runner=runner, settings=settings, services=services)
redo = [k.toString() for k in window.redo_action.shortcuts()]
print(json.dumps({"twice": bound_twice(window), "redo": redo}))
window.thumbnails.shutdown()
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="needs Xvfb (xvfb-run) for a real X server")
def test_on_a_linux_desktop_redo_is_bound_once_to_each_key(tmp_path: Path) -> None:
    """Under X11 with GNOME's key theme the standard Redo key is Ctrl+Shift+Z (offscreen's is
    Ctrl+Y): binding both "Ctrl+Shift+Z" and the standard key bound Ctrl+Shift+Z twice there."""
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "XDG_CURRENT_DESKTOP": "GNOME"}
    done = subprocess.run(
        [
            "xvfb-run",
            "-a",
            sys.executable,
            "-c",
            LINUX_DESKTOP_SCRIPT,
            str(tmp_path),
            str(Path(__file__).parent),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"twice": {}, "redo": ["Ctrl+Shift+Z", "Ctrl+Y"]}


def test_ctrl_y_and_ctrl_shift_z_redo_by_keyboard_with_no_ambiguity(
    qtbot: Any, qtlog: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    window.grid.select_row(0)
    photo_id = window.detail.photo_id
    window.mark_reviewed_action.trigger()
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not sample.library.best_caption(photo_id).reviewed  # type: ignore[arg-type, union-attr]
    qtbot.keyClick(window.grid, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert sample.library.best_caption(photo_id).reviewed  # type: ignore[arg-type, union-attr]
    window.undo_action.trigger()
    qtbot.keyClick(
        window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert sample.library.best_caption(photo_id).reviewed  # type: ignore[arg-type, union-attr]
    assert not [r.message for r in qtlog.records if "Ambiguous" in r.message]


def test_a_caption_being_typed_survives_a_crash_as_a_draft(
    qtbot: Any,
    make_window: MakeWindow,
    sample: Sample,
    runner: JobRunner,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(  # the quit dialog at the end of the test: Discard
        "photoscribe.desktop.main_window.QMessageBox.question",
        lambda *_a, **_k: QMessageBox.StandardButton.Discard,
    )
    services = BackgroundServices(
        sample.library, runner, queue_factory=None, watcher_factory=None, meaning_factory=None
    )
    window = MainWindow(sample.library, runner=runner, settings=settings, services=services)
    photo_id = sample.ids["harbour"]
    window.grid.select_row(window.photos.row_of(photo_id))  # type: ignore[arg-type]
    editor = window.detail.caption_edit
    window.edit_caption_action.trigger()
    qtbot.keyClicks(editor, "a blue fishing boat at the old pier")
    store = DraftStore(sample.library.path)
    qtbot.waitUntil(lambda: store.get(photo_id) is not None, timeout=3000)  # debounced: ~1 s
    assert store.get(photo_id).text == "a blue fishing boat at the old pier"  # type: ignore[union-attr]
    assert not sample.library.best_caption(photo_id).is_user  # type: ignore[union-attr]  # not saved

    window.thumbnails.shutdown()
    shiboken6.delete(window)  # killed: no closeEvent, no quit dialog, nothing cleaned up

    again = make_window(sample.library)
    assert "unsaved caption draft" in again.statusBar().currentMessage()
    assert again.detail.photo_id == photo_id  # the draft's photo is selected
    assert again.detail.caption_edit.text() == "a blue fishing boat at the old pier"
    assert again.detail.state_label.text() == DRAFT_NOTE
    assert again.detail.has_unsaved_edit
    assert not sample.library.best_caption(photo_id).is_user  # type: ignore[union-attr]  # offered only

    qtbot.keyClick(again.detail.caption_edit, Qt.Key.Key_Escape)  # discard it
    assert again.detail.caption_edit.text() == "a blue boat moored in the harbour"
    assert store.get(photo_id) is None


def test_a_saved_draft_is_forgotten_and_a_normal_close_leaves_none(
    qtbot: Any, make_window: MakeWindow, sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = make_window(sample.library)
    photo_id = sample.ids["lake"]
    window.grid.select_row(window.photos.row_of(photo_id))  # type: ignore[arg-type]
    editor = window.detail.caption_edit
    window.edit_caption_action.trigger()
    qtbot.keyClicks(editor, "two kayaks")
    window.drafts.flush()
    store = DraftStore(sample.library.path)
    assert store.get(photo_id) is not None
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert store.get(photo_id) is None and sample.library.best_caption(photo_id).text == "two kayaks"  # type: ignore[union-attr]

    qtbot.keyClicks(editor, " on a lake")
    window.drafts.flush()
    assert store.get(photo_id) is not None
    monkeypatch.setattr(
        "photoscribe.desktop.main_window.QMessageBox.question",
        lambda *_a, **_k: QMessageBox.StandardButton.Discard,
    )
    window.close()  # the quit dialog: Discard
    assert store.get(photo_id) is None
    assert DraftStore(sample.library.path.parent / "other.sqlite3").all() == []


def test_the_grid_fills_while_the_model_is_still_loading(
    qtbot: Any, make_window: MakeWindow, sample: Sample, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow_loader(path: str, **_options: Any) -> Any:
        started.set()
        release.wait(30)
        raise RuntimeError("released")

    monkeypatch.setattr(background, "load_captioner", slow_loader)
    pool = QThreadPool()
    pool.setMaxThreadCount(1)  # the worst case: every thread of the window's pool taken
    runner = JobRunner(pool)
    services = BackgroundServices(
        sample.library, runner, queue_factory=None, watcher_factory=None, meaning_factory=None
    )
    model = tmp_path / "model.pt"
    model.write_bytes(b"not read: the loader is a stand-in")
    try:
        window = make_window(sample.library, runner=runner, services=services)
        window.start(model)
        assert started.wait(5)
        qtbot.waitUntil(lambda: window.photos.rowCount() == len(PHOTOS), timeout=5000)
        assert services.model.loading  # the model is still loading: the grid did not wait for it
        qtbot.waitUntil(lambda: window.count_label.text() == f"{len(PHOTOS)} photos", timeout=5000)
        assert services.model.loading
    finally:
        release.set()
    qtbot.waitUntil(lambda: not services.model.loading, timeout=10_000)
    window.services.shutdown()
    pool.waitForDone(5000)
    services.slow_runner.wait(5000)


def test_a_refresh_of_the_grid_keeps_the_photo_and_its_edit_unsaved(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    """The watcher's refresh (the library changed) used to clear the selection, which saved an edit
    in progress (a restored draft too) as the caption."""
    window = make_window(sample.library)
    window.grid.select_row(4)
    photo_id = window.detail.photo_id
    window.edit_caption_action.trigger()
    qtbot.keyClicks(window.detail.caption_edit, "half typed")
    window.photos.refresh()
    assert window.grid.current_photo_id() == photo_id and window.detail.photo_id == photo_id
    assert window.detail.caption_edit.text() == "half typed" and window.detail.has_unsaved_edit
    assert not sample.library.best_caption(photo_id).is_user  # type: ignore[arg-type, union-attr]
    window.detail.discard_edit()


def test_accepting_faster_than_the_pane_loads_with_a_real_thread_pool(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    pool = QThreadPool()
    runner = JobRunner(pool)
    services = BackgroundServices(
        sample.library, runner, queue_factory=None, watcher_factory=None, meaning_factory=None
    )
    window = make_window(sample.library, runner=runner, services=services)
    needs_review(window)
    qtbot.waitUntil(lambda: window.photos.rowCount() == len(PHOTOS) and not window.photos.loading)
    ids = shown_ids(window)
    window.grid.select_row(0)
    qtbot.waitUntil(lambda: window.detail.data is not None)
    for _ in range(3):  # three presses in a row, without waiting for anything
        window.mark_reviewed_action.trigger()
    expected = len(PHOTOS) - 3
    qtbot.waitUntil(lambda: sample.library.stats().needs_review == expected, timeout=5000)
    assert all(sample.library.best_caption(pid).reviewed for pid in ids[:3])  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: window.count_label.text() == f"{expected} photos", timeout=5000)
    qtbot.waitUntil(lambda: sidebar_count(window) == expected, timeout=5000)
    assert shown_ids(window) == ids[3:] and window.grid.current_photo_id() == ids[3]
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    pool.waitForDone(5000)
