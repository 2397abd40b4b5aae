"""The main window, driven through its real widgets: search, sidebar, welcome page, drops, keyboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QKeyEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu, QMessageBox, QWidget
from sample_library import PHOTOS, Sample, draw_photo

from photoscribe.core.errors import ModelLoadError
from photoscribe.core.library import Library
from photoscribe.core.progress import Progress
from photoscribe.desktop import background
from photoscribe.desktop.item_models import PhotoRoles
from photoscribe.desktop.main_window import PAGE_LIBRARY, PAGE_WELCOME, MainWindow
from photoscribe.desktop.queries import FILTER_UNCAPTIONED, SORT_RELEVANCE, SORT_TAKEN

MakeWindow = Callable[..., MainWindow]


def grid_ids(window: MainWindow) -> list[int]:
    model = window.grid.model()
    return [model.index(row, 0).data(PhotoRoles.PhotoId) for row in range(model.rowCount())]


def type_text(widget: QWidget, text: str) -> None:
    """Key presses carrying each character (QTest.keyClicks only knows ASCII)."""
    for char in text:
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            QApplication.sendEvent(widget, QKeyEvent(kind, 0, Qt.KeyboardModifier.NoModifier, char))


def type_search(qtbot: Any, window: MainWindow, text: str) -> None:
    """Type like a user, then wait for the debounce timer to run the query."""
    window.search.clear()
    type_text(window.search, text)
    assert window.search.text() == text
    qtbot.waitUntil(lambda: window.photos.query.text == window.search.text(), timeout=3000)


# ---------------------------------------------------------------------------------------- search


def test_search_ranks_the_right_photo_first(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    assert window.pages.currentIndex() == PAGE_LIBRARY
    assert len(grid_ids(window)) == len(PHOTOS)
    assert window.sort_combo.currentData() == SORT_TAKEN

    type_search(qtbot, window, "red")
    ids = grid_ids(window)
    assert set(ids) == {sample.ids["tomato"], sample.ids["desert"]}
    assert window.sort_combo.currentData() == SORT_RELEVANCE  # search results are ranked

    type_search(qtbot, window, "boat in the harbour")
    assert grid_ids(window)[0] == sample.ids["harbour"]

    # A user caption outranks a model caption that mentions the same word.
    sample.library.set_user_caption(sample.ids["snow"], "a cabin with a boat shed in the snow")
    type_search(qtbot, window, "boat")
    assert grid_ids(window)[0] == sample.ids["snow"]

    window.search.clear()
    qtbot.waitUntil(lambda: window.photos.query.text == "", timeout=3000)
    assert len(grid_ids(window)) == len(PHOTOS)
    assert window.sort_combo.currentData() == SORT_TAKEN


HOSTILE = [
    '"',
    '"unbalanced',
    "AND",
    "OR NOT",
    "NEAR(a b)",
    "name:IMG",
    "*",
    "^red",
    "red -",
    "-red",
    "(((",
    "a'b",
    "' OR 1=1; DROP TABLE photos; --",
    "\\",
    "%_",
    "🙂🙃",
    "新年快乐",
    "x" * 400,
]


def test_photos_sort_by_name_both_ways_and_by_date_oldest_first(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    by_name = [sample.ids[stem] for stem in sorted(stem for stem, *_ in PHOTOS)]
    window.sort_combo.setCurrentIndex(window.sort_combo.findData("name"))
    qtbot.waitUntil(lambda: grid_ids(window) == by_name, timeout=3000)
    window.sort_combo.setCurrentIndex(window.sort_combo.findData("name-desc"))
    qtbot.waitUntil(lambda: grid_ids(window) == by_name[::-1], timeout=3000)
    newest = grid_ids(window)
    window.sort_combo.setCurrentIndex(window.sort_combo.findData("added"))
    qtbot.waitUntil(lambda: window.photos.query.sort == "added", timeout=3000)
    newest = grid_ids(window)
    window.sort_combo.setCurrentIndex(window.sort_combo.findData("added-oldest"))
    qtbot.waitUntil(lambda: grid_ids(window) == newest[::-1], timeout=3000)
    assert window.sort_combo.currentText() == "Date added, oldest first"


def test_the_result_count_follows_the_search_and_esc_clears_it(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    qtbot.waitUntil(lambda: window.count_label.text() == f"{len(PHOTOS)} photos", timeout=3000)
    type_search(qtbot, window, "red")
    qtbot.waitUntil(lambda: window.count_label.text() == "2 photos", timeout=3000)
    type_search(qtbot, window, "zzzz")
    qtbot.waitUntil(lambda: window.count_label.text() == "No photos", timeout=3000)
    window.search.setFocus()
    qtbot.keyClick(window.search, Qt.Key.Key_Escape)
    assert window.search.text() == ""
    qtbot.waitUntil(lambda: window.count_label.text() == f"{len(PHOTOS)} photos", timeout=3000)


def test_hostile_search_strings_never_raise(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    failures: list[str] = []
    window.photos.loadFailed.connect(failures.append)
    for text in HOSTILE:
        type_search(qtbot, window, text)
    window.search.setText("tab\there\x00nul\u202eright-to-left")  # characters a keyboard cannot type
    qtbot.waitUntil(lambda: window.photos.query.text == window.search.text(), timeout=3000)
    assert failures == []
    assert sample.library.stats().photos == len(PHOTOS)  # the SQL-looking input did nothing


def test_search_debounces_typing(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    queries: list[str] = []
    window.photos.queryFinished.connect(lambda: queries.append(window.photos.query.text))
    qtbot.keyClicks(window.search, "tomato")
    qtbot.waitUntil(lambda: queries == ["tomato"], timeout=3000)  # one query, not six
    assert grid_ids(window) == [sample.ids["tomato"]]


def show_active(qtbot: Any, window: QWidget) -> None:
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)


def test_ctrl_f_focuses_search(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    show_active(qtbot, window)
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.search.hasFocus(), timeout=3000)


def test_sidebar_filters_the_grid(
    qtbot: Any, make_window: MakeWindow, sample: Sample, tmp_path: Path
) -> None:
    other = tmp_path / "Scans"
    folder = sample.library.add_folder_record(other)
    sample.library.upsert_photo(
        draw_photo(other / "scan.png", (90, 90, 90), "square"), 10, 1.0, folder_id=folder.id
    )
    window = make_window(sample.library)
    window.folders.refresh()
    assert window.sidebar.select_entry(FILTER_UNCAPTIONED)
    assert len(grid_ids(window)) == 1
    assert window.grid.model().index(0, 0).data() == "scan.png"
    assert window.sidebar.select_entry("folder", sample.folder.id)
    assert sorted(grid_ids(window)) == sorted(sample.ids.values())


# ---------------------------------------------------------------------------------------- welcome, folders


def test_welcome_view_until_a_folder_is_added(
    qtbot: Any, make_window: MakeWindow, library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = make_window(library)
    assert window.pages.currentIndex() == PAGE_WELCOME
    text = window.welcome.model_text.text()
    assert "No captioning model yet" in text and "fully usable" in text
    weights = window.welcome.weights_text.text()
    assert "resnet50-" in weights and "torch" in weights  # where to put the ImageNet weights

    photos = tmp_path / "Pictures"
    for stem, colour, shape, _caption in PHOTOS[:3]:
        draw_photo(photos / f"{stem}.jpg", colour, shape)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(photos))
    qtbot.mouseClick(window.welcome.add_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: window.pages.currentIndex() == PAGE_LIBRARY, timeout=10_000)
    qtbot.waitUntil(lambda: window.photos.rowCount() == 3, timeout=10_000)
    assert [f.path for f in library.list_folders()] == [str(photos)]
    assert window.settings.value("library/lastFolder") == str(photos)
    assert "Added Pictures" in window.statusBar().currentMessage()


def drop_urls(window: QWidget, urls: list[QUrl]) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls(urls)
    action = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(
        QPoint(50, 50), action, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, enter)
    drop = QDropEvent(
        QPointF(50, 50), action, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    if enter.isAccepted():
        QApplication.sendEvent(window, drop)
    return drop


def test_dropping_a_folder_adds_it(
    qtbot: Any, make_window: MakeWindow, library: Library, tmp_path: Path
) -> None:
    window = make_window(library)
    photos = tmp_path / "Dropped"
    draw_photo(photos / "one.png", (200, 30, 30), "circle")
    not_a_folder = draw_photo(tmp_path / "single.png", (0, 0, 200), "square")

    rejected = drop_urls(window, [QUrl.fromLocalFile(str(not_a_folder))])
    assert not rejected.isAccepted()
    assert library.list_folders() == []

    accepted = drop_urls(window, [QUrl.fromLocalFile(str(photos))])
    assert accepted.isAccepted()
    qtbot.waitUntil(lambda: window.photos.rowCount() == 1, timeout=10_000)
    assert [f.path for f in library.list_folders()] == [str(photos)]
    assert window.pages.currentIndex() == PAGE_LIBRARY


def test_remove_folder_keeps_the_files(
    qtbot: Any, make_window: MakeWindow, sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = make_window(sample.library)
    window.folders.refresh()
    assert window.sidebar.select_entry("folder", sample.folder.id)
    asked: list[str] = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        lambda _parent, _title, text: asked.append(text) or QMessageBox.StandardButton.Yes,
    )
    window.remove_folder_action.trigger()
    assert "The photos themselves are not touched" in asked[0]
    assert sample.library.list_folders() == []
    assert window.photos.rowCount() == 0
    assert (sample.root / "lake.jpg").is_file()
    qtbot.waitUntil(lambda: window.pages.currentIndex() == PAGE_WELCOME, timeout=5000)


def test_scan_failure_is_a_status_message_not_a_dialog(
    qtbot: Any, make_window: MakeWindow, library: Library, tmp_path: Path
) -> None:
    def failing_scan(library: Library, path: str, **_kw: Any) -> Any:
        raise PermissionError(f"cannot read {path}")

    window = make_window(library, add_folder_fn=failing_scan)
    window.add_folder(str(tmp_path))
    assert "could not be added" in window.statusBar().currentMessage()
    assert not [w for w in QApplication.topLevelWidgets() if w.isVisible() and w.isModal()]


# ---------------------------------------------------------------------------------------- keyboard


def test_tab_order_reaches_search_grid_and_caption_editor(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    show_active(qtbot, window)
    window.grid.select_row(0)
    qtbot.waitUntil(lambda: window.detail.caption_edit.isVisible(), timeout=5000)
    window.search.setFocus()
    qtbot.waitUntil(lambda: window.search.hasFocus(), timeout=3000)
    reached: list[QWidget] = []
    for _ in range(8):
        focused = QApplication.focusWidget()
        reached.append(focused)
        qtbot.keyClick(focused, Qt.Key.Key_Tab)
    # As laid out: the toolbar, the sidebar, the grid, then the detail pane (words above the caption).
    order = [window.search, window.sidebar, window.grid, window.detail.attention, window.detail.caption_edit]
    positions = [reached.index(widget) for widget in order]  # ValueError if one is never reached
    assert positions == sorted(positions)
    # Arrow keys move through the grid; the detail pane follows.
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_Right)
    assert window.detail.photo_id == window.grid.model().index(1, 0).data(PhotoRoles.PhotoId)


def test_menu_shortcuts(make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    shortcuts = {
        window.add_folder_action: "Ctrl+O",
        window.export_action: "Ctrl+E",
        window.quit_action: "Ctrl+Q",
        window.copy_action: "Ctrl+Shift+C",
        window.edit_caption_action: "F2",
        window.mark_reviewed_action: "Ctrl+R",
        window.find_action: "Ctrl+F",
    }
    for action, keys in shortcuts.items():
        assert action.shortcut().toString() == keys, action.text()
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["&File", "&Edit", "&View", "&Model", "&Help"]


def test_copy_alt_text_and_mark_reviewed_selection(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    window.grid.select_row(0)
    window.copy_action.trigger()
    assert QGuiApplication.clipboard().text() == "two kayaks on a calm turquoise lake"
    window.grid.selectAll()
    window.mark_reviewed_action.trigger()
    assert sample.library.stats().needs_review == 0
    assert all(window.grid.model().index(r, 0).data(PhotoRoles.Reviewed) for r in range(len(PHOTOS)))


def test_settings_persist_across_runs(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    window.show()
    window.resize(720, 560)  # within the offscreen screen (800 x 600)
    window.zoom(1)
    size = window.grid.thumbnail_size
    window.show_sidebar_action.trigger()  # hide it
    window.settings.setValue("model/beamSize", 5)
    window.close()

    again = make_window(sample.library)
    again.show()
    assert again.grid.thumbnail_size == size != 160
    assert not again.sidebar.isVisible()
    assert not again.show_sidebar_action.isChecked()
    assert (again.width(), again.height()) == (720, 560)
    assert again.beam_size == 5


# ---------------------------------------------------------------------------------------- captioning


def test_progress_text(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    window.services.captionProgress.emit(Progress("caption", 120, 4000, rate=3.2, eta_s=1212))
    assert window.status.caption.label.text() == "Captioning: 120 / 4,000 · 3.2 photos/s · about 20 min left"


def test_model_that_cannot_load_is_reported_inline(
    qtbot: Any, make_window: MakeWindow, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: str, **_options: Any) -> Any:
        raise ModelLoadError(f"{path}: the encoder weights resnet50-0676ba61.pth are missing")

    monkeypatch.setattr(background, "load_captioner", broken)
    window = make_window(library)
    window.use_model("/models/old.pt")
    assert window.status.model_label.text() == "Model: not loaded"
    assert "could not be loaded" in window.welcome.model_text.text()
    assert "resnet50-0676ba61.pth" in window.welcome.model_text.text()
    assert "could not be loaded" in window.statusBar().currentMessage()
    assert not [w for w in QApplication.topLevelWidgets() if w.isVisible() and w.isModal()]


def test_failures_open_a_non_modal_list(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    broken = sample.root / "tomato.jpg"
    sample.library.record_failure(broken, "image file is truncated")
    window = make_window(sample.library)
    window.show()
    assert window.status.failures_button.isVisible()
    assert "1 failed" in window.status.failures_button.text()
    qtbot.mouseClick(window.status.failures_button, Qt.MouseButton.LeftButton)
    dialog = window.captioning.failures_dialog
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    item = dialog.tree.topLevelItem(0)
    assert item.text(0) == "tomato.jpg" and item.text(2) == "image file is truncated"
    qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    assert sample.library.list_failures() == []
    assert dialog.tree.topLevelItemCount() == 0


def test_retry_failed_photos_menu_item_resets_every_models_failures(
    make_window: MakeWindow, sample: Sample
) -> None:
    tomato = sample.root / "tomato.jpg"
    sample.library.record_failure(tomato, "model broke", "broken-1")
    sample.library.record_failure(sample.root / "gone.jpg", "cannot read", "")
    window = make_window(sample.library)
    menus = [a.text() for m in window.menuBar().findChildren(QMenu) for a in m.actions()]
    assert "Retry &failed photos" in menus
    window.retry_failed_action.trigger()
    assert sample.library.list_failures() == []
    assert "2 failed photos will be captioned again" in window.statusBar().currentMessage()
    window.retry_failed_action.trigger()
    assert window.statusBar().currentMessage() == "No failed photos."


def test_export_and_retrain_open_as_windows(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    from photoscribe.desktop.export_dialog import ExportDialog
    from photoscribe.desktop.retrain import RetrainDialog

    window = make_window(sample.library)
    window.show()
    window.export_action.trigger()
    window.retrain_action.trigger()
    opened = {type(d) for d in window.dialogs.opened if d.isVisible()}
    assert opened == {ExportDialog, RetrainDialog}
    for dialog in window.dialogs.opened:
        dialog.close()


def test_the_pause_button_stays_put_while_progress_and_counts_change(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    from photoscribe.core.library import LibraryStats

    window = make_window(sample.library)
    window.show()
    qtbot.waitExposed(window)
    status = window.status
    status.set_captioning_available(True)
    positions = set()
    texts = [(1, 10, 0.5, None, 9), (123, 45_678, 12.3, 4000.0, 45_555), (45_000, 45_678, 3.0, 200.0, 678)]
    for done, total, rate, eta, left in texts:
        status.set_caption_progress(Progress("caption", done, total, rate=rate, eta_s=eta))
        status.set_stats(
            LibraryStats(
                photos=45_678,
                captioned=45_678 - left,
                uncaptioned=left,
                needs_review=done,
                failures=done % 3,
                missing=0,
                folders=1,
            )
        )
        status.set_paused(done % 2 == 0)
        QApplication.processEvents()
        positions.add(status.pause_button.mapTo(window, status.pause_button.rect().topRight()).x())
    assert len(positions) == 1, positions
    assert status.pause_button.text() in {"Pause", "Resume"}
