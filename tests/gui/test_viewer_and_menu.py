"""The full-size viewer, the photo context menu, and removing photos from the library."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox
from sample_library import PHOTOS, Sample
from test_main_window import grid_ids

from photoscribe.desktop.item_models import PhotoRoles
from photoscribe.desktop.main_window import MainWindow

MakeWindow = Callable[..., MainWindow]


def test_space_opens_the_photo_large_arrows_step_and_esc_closes(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    window.show()
    qtbot.waitExposed(window)
    window.grid.select_row(2)
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_Space)
    viewer = window.viewer
    assert viewer is not None and viewer.isVisible() and viewer.row == 2
    qtbot.waitUntil(
        lambda: viewer.image.pixmap() is not None and not viewer.image.pixmap().isNull(), timeout=5000
    )
    caption = window.photos.index(2, 0).data(PhotoRoles.Caption)
    assert viewer.caption.text() == caption and f"3 of {len(PHOTOS)}" in viewer.position.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.row == 3 and window.grid.currentIndex().row() == 3  # the grid follows
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    assert viewer.row == 1
    qtbot.keyClick(viewer, Qt.Key.Key_End)
    assert viewer.row == len(PHOTOS) - 1
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert not viewer.isVisible()


def test_double_click_opens_the_viewer_and_f2_still_edits(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    window.show()
    qtbot.waitExposed(window)
    rect = window.grid.visualRect(window.photos.index(0, 0))
    qtbot.mouseDClick(window.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.viewer is not None and window.viewer.row == 0
    window.viewer.close()
    edit = window.detail.caption_edit
    qtbot.waitUntil(lambda: edit.text() != "", timeout=5000)
    window.edit_caption_action.trigger()  # F2: the caption, selected for typing over
    assert edit.textCursor().selectedText() == edit.text() != ""


def test_context_menu_offers_the_photo_actions(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    window.show()
    qtbot.waitExposed(window)
    rect = window.grid.visualRect(window.photos.index(1, 0))
    window._grid_menu(rect.center())
    menu = window.grid_menu
    assert menu is not None
    labels = [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]
    assert labels == [
        "View photo",
        "Copy caption",
        "Copy alt text",
        "Show in file manager",
        "Re-caption selection",
        "Mark reviewed",
        "Write descriptions into photo files…",
        "Remove from library…",
    ]
    assert window.grid.currentIndex().row() == 1  # right-click selects the photo under the mouse
    menu.close()
    window.copy_caption_action.trigger()
    assert QGuiApplication.clipboard().text() == window.photos.index(1, 0).data(PhotoRoles.Caption)


def test_delete_asks_then_removes_photos_from_the_library_and_keeps_the_files(
    qtbot: Any, make_window: MakeWindow, sample: Sample, monkeypatch: Any
) -> None:
    window = make_window(sample.library)
    window.show()
    qtbot.waitExposed(window)
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or answers.pop(0))
    photo_id = sample.ids["tomato"]
    path = sample.library.get_photo(photo_id).path
    window.grid.select_row(window.photos.row_of(photo_id))
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_Delete)  # asked; "No"
    assert asked and "files stay on disk" in asked[0]
    assert sample.library.get_photo(photo_id) is not None
    qtbot.keyClick(window.grid, Qt.Key.Key_Delete)  # "Yes"
    qtbot.waitUntil(lambda: photo_id not in grid_ids(window), timeout=5000)
    assert sample.library.get_photo(photo_id) is None
    from pathlib import Path

    assert Path(path).is_file()  # never deletes the file
    assert len(grid_ids(window)) == len(PHOTOS) - 1
