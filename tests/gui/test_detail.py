"""The detail pane: editing captions, alternatives, the attention view, accessibility."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QEnterEvent, QImage
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)
from sample_library import Sample

from photoscribe.core.library import Library
from photoscribe.desktop.attention_view import FLAT_NOTE, PHOTO
from photoscribe.desktop.item_models import PhotoRoles
from photoscribe.desktop.main_window import MainWindow

MakeWindow = Callable[..., MainWindow]


def open_photo(window: MainWindow, photo_id: int) -> None:
    row = window.photos.row_of(photo_id)
    assert row is not None
    window.grid.select_row(row)
    assert window.detail.photo_id == photo_id
    assert window.detail.data is not None and window.detail.data.photo.id == photo_id


def test_editing_a_caption_persists_it_as_the_users(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    photo_id = sample.ids["orange"]
    open_photo(window, photo_id)
    detail = window.detail
    assert detail.caption_edit.text() == "an orange cat asleep on a windowsill"
    assert detail.state_label.text() == "Needs review · by test-model-1"
    assert not detail.save_button.isEnabled()

    window.edit_caption_action.trigger()  # F2
    qtbot.keyClicks(detail.caption_edit, "a ginger cat dozing in the sun")  # replaces the selection
    assert detail.save_button.isEnabled()
    qtbot.keyClick(detail.caption_edit, Qt.Key.Key_Return)

    assert detail.state_label.text() == "Written by you"
    assert not detail.save_button.isEnabled()
    row = window.photos.row_of(photo_id)
    assert window.photos.index(row, 0).data() == "a ginger cat dozing in the sun"
    assert window.photos.index(row, 0).data(PhotoRoles.Reviewed) is True
    assert detail.image.accessibleDescription() == "a ginger cat dozing in the sun"

    path = sample.library.path
    sample.library.close()
    with Library.open(path) as reopened:
        best = reopened.best_caption(photo_id)
        assert best is not None
        assert (best.text, best.source, best.is_user, best.reviewed) == (
            "a ginger cat dozing in the sun",
            "user",
            True,
            True,
        )
        # The model's caption is still there, under the user's.
        assert [c.source for c in reopened.captions(photo_id)] == ["user", "test-model-1"]


def test_save_button_saves(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    open_photo(window, sample.ids["snow"])
    window.detail.caption_edit.setPlainText("a red cabin in deep snow")
    qtbot.mouseClick(window.detail.save_button, Qt.MouseButton.LeftButton)
    assert sample.library.best_caption(sample.ids["snow"]).text == "a red cabin in deep snow"


def test_picking_an_alternative_saves_it(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    window.show()
    qtbot.waitExposed(window)
    photo_id = sample.ids["harbour"]
    open_photo(window, photo_id)
    alternatives = window.detail.alternatives
    qtbot.waitUntil(lambda: alternatives.visualItemRect(alternatives.item(0)).height() > 0, timeout=3000)
    texts = [alternatives.item(i).text() for i in range(alternatives.count())]
    assert texts == ["the blue boat moored in the harbour", "a photo of harbour"]  # not the current one
    rect = alternatives.visualItemRect(alternatives.item(0))
    qtbot.mouseClick(alternatives.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # as a user does
    qtbot.mouseDClick(alternatives.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    best = sample.library.best_caption(photo_id)
    assert best is not None and best.is_user and best.text == "the blue boat moored in the harbour"
    assert window.detail.caption_edit.text() == "the blue boat moored in the harbour"
    # Keyboard: Enter on the second alternative.
    alternatives.setFocus()
    alternatives.setCurrentRow(1)
    qtbot.keyClick(alternatives, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: sample.library.best_caption(photo_id).text == "a photo of harbour", timeout=3000)


def heat_at(overlay: QImage, photo: QImage, cell: tuple[int, int], grid: int = 7) -> float:
    """The heat map's brightness (R + G + B) at the centre of grid ``cell`` (x, y): the overlay is
    0.4 x photo + 0.6 x heat colour (core.heatmap.attention_overlay), so take the photo's part out."""
    x = int((cell[0] + 0.5) / grid * overlay.width())
    y = int((cell[1] + 0.5) / grid * overlay.height())
    o, p = overlay.pixelColor(x, y), photo.pixelColor(x, y)
    return (o.red() + o.green() + o.blue() - 0.4 * (p.red() + p.green() + p.blue())) / 0.6


def test_attention_view_changes_the_picture_per_word(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    window.show()
    open_photo(window, sample.ids["tomato"])
    detail = window.detail
    strip = detail.attention
    assert strip.isVisible()
    assert strip.words == ["a", "red", "tomato", "on", "a", "wooden", "table"]
    plain = detail.image.source().toImage()

    strip.setFocus()
    seen = []
    for _ in range(3):
        qtbot.keyClick(strip, Qt.Key.Key_Right)
        seen.append(detail.image.source().toImage())
    assert strip.current == 2
    assert all(image != plain for image in seen)
    assert seen[0] != seen[1] != seen[2]  # each word has its own map
    # Each overlay is a heat map over the photo, brightest where the model looked for that word
    # (sample_library.fake_attention moves the peak word by word) and dark far from it.
    for word, overlay in enumerate(seen):
        assert overlay.size() == plain.size()
        heat = {cell: heat_at(overlay, plain, cell) for cell in np.ndindex(7, 7)}
        peak = (2 * word % 7, (3 * word + 1) % 7)  # (x, y) of the word's peak cell
        # colours are absolute, so cells next to a sharp peak may share the top of the ramp
        assert heat[peak] >= max(heat.values()) - 10, (word, peak)
        assert heat[peak] > 300 and min(heat.values()) < 60  # near white-yellow vs near black

    qtbot.keyClick(strip, Qt.Key.Key_Home)
    assert strip.current == PHOTO
    assert detail.image.source().toImage() == plain

    # Hovering a word previews it; leaving goes back to the selected one.
    chip = strip._buttons[4]  # "on"
    QApplication.sendEvent(
        chip, QEnterEvent(chip.rect().center(), chip.rect().center(), chip.rect().center())
    )
    hovered = detail.image.source().toImage()
    assert hovered != plain
    QApplication.sendEvent(chip, QEvent(QEvent.Type.Leave))
    assert detail.image.source().toImage() == plain
    # Clicking a chip selects it.
    qtbot.mouseClick(strip._buttons[3], Qt.MouseButton.LeftButton)
    assert strip.current == 2


def test_flat_attention_is_drawn_dark_and_said_in_words(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    """A caption whose attention is spread evenly (every cell within 10% of 1/49): its overlay must
    not look focused (min..max stretching drew the noise as bright spots), and the pane says that
    the model did not look at one place. The tomato caption's peaked words say nothing."""
    photo_id = sample.ids["tomato"]
    window = make_window(sample.library)
    window.show()
    open_photo(window, photo_id)
    detail, strip = window.detail, window.detail.attention
    strip.set_current(1)  # "red", peaked
    assert detail.attention_flat.isHidden()

    text = "a table"
    rng = np.random.default_rng(0)
    flat = (1.0 + 0.1 * rng.uniform(-1, 1, size=(2, 7, 7))).astype(np.float32)
    flat /= flat.sum(axis=(1, 2), keepdims=True)
    sample.library.add_model_caption(
        photo_id, "flat-model", text, -1.0, [{"text": text, "score": -1.0}], flat
    )
    detail.reload()
    qtbot.waitUntil(lambda: strip.words == ["a", "table"], timeout=3000)
    assert detail.attention_flat.isHidden()  # the photo itself is shown
    plain = detail.image.source().toImage()
    strip.set_current(1)
    overlay = detail.image.source().toImage()
    heat = [heat_at(overlay, plain, cell) for cell in np.ndindex(7, 7)]
    assert max(heat) < 200  # dark purple everywhere: no cell stands out
    assert max(heat) - min(heat) < 80
    assert not detail.attention_flat.isHidden()
    assert detail.attention_flat.text() == FLAT_NOTE
    strip.set_current(PHOTO)
    assert detail.attention_flat.isHidden()


def test_attention_hidden_without_maps_and_missing_file_is_explained(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    photo = sample.root / "gone.jpg"
    photo_id = sample.library.upsert_photo(photo, 1, 1.0, folder_id=sample.folder.id).id
    sample.library.set_user_caption(photo_id, "a photo that was deleted")
    window = make_window(sample.library)
    window.show()
    open_photo(window, photo_id)
    assert not window.detail.attention.isVisible()
    assert "cannot be shown" in window.detail.image.text()
    assert window.detail.caption_edit.text() == "a photo that was deleted"
    assert not window.detail.review_button.isEnabled()  # a user caption needs no review


def test_mark_reviewed(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    photo_id = sample.ids["rose"]
    open_photo(window, photo_id)
    qtbot.mouseClick(window.detail.review_button, Qt.MouseButton.LeftButton)
    best = sample.library.best_caption(photo_id)
    assert best is not None and best.reviewed and not best.is_user
    assert window.detail.state_label.text() == "Reviewed · by test-model-1"
    assert not window.detail.review_button.isEnabled()


def test_every_control_has_an_accessible_name(
    qtbot: Any, make_window: MakeWindow, sample: Sample, tmp_path: Path
) -> None:
    window = make_window(sample.library)
    window.show()
    open_photo(window, sample.ids["lake"])
    controls = (QAbstractButton, QLineEdit, QPlainTextEdit, QAbstractItemView, QComboBox)
    unnamed = [
        w
        for w in window.findChildren(QWidget)
        if isinstance(w, controls)
        and w.isVisible()
        and w.focusPolicy() != Qt.FocusPolicy.NoFocus
        and not (w.accessibleName() or getattr(w, "text", lambda: "")())
    ]
    assert unnamed == []
    assert window.detail.image.accessibleName() == "Photo"
    assert window.detail.image.accessibleDescription() == "two kayaks on a calm turquoise lake"


# ---------------------------------------------------------------------------------- no edit is lost


def test_an_edit_is_saved_when_another_photo_is_selected(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    open_photo(window, sample.ids["orange"])
    window.edit_caption_action.trigger()  # F2
    qtbot.keyClicks(window.detail.caption_edit, "a ginger cat on the sill")
    open_photo(window, sample.ids["snow"])  # no Enter: clicking another photo must not lose it
    assert sample.library.best_caption(sample.ids["orange"]).text == "a ginger cat on the sill"
    assert window.detail.caption_edit.text() != "a ginger cat on the sill"  # the new photo's caption


def test_ctrl_s_saves_the_caption(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    open_photo(window, sample.ids["snow"])
    window.detail.caption_edit.setPlainText("a red cabin in deep snow")
    assert window.save_caption_action.shortcut().matches(Qt.Key.Key_S | Qt.KeyboardModifier.ControlModifier)
    window.save_caption_action.trigger()
    assert sample.library.best_caption(sample.ids["snow"]).text == "a red cabin in deep snow"
    assert not window.detail.save_button.isEnabled()


def test_quitting_with_an_unsaved_edit_asks_and_cancel_keeps_the_window(
    qtbot: Any, make_window: MakeWindow, sample: Sample, monkeypatch: Any
) -> None:
    from PySide6.QtWidgets import QMessageBox

    window = make_window(sample.library)
    window.show()
    open_photo(window, sample.ids["snow"])
    window.detail.caption_edit.setPlainText("snow on a red roof")
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save]
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or answers.pop(0))
    window.quit_action.trigger()  # Ctrl+Q
    assert asked and "not been saved" in asked[0]
    assert window.isVisible() and window.detail.caption_edit.text() == "snow on a red roof"
    assert sample.library.best_caption(sample.ids["snow"]).text != "snow on a red roof"
    window.quit_action.trigger()  # this time: Save
    assert not window.isVisible()
    assert sample.library.best_caption(sample.ids["snow"]).text == "snow on a red roof"


def test_an_alternative_that_replaced_a_written_caption_is_undone_and_redone(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    photo_id = sample.ids["harbour"]
    open_photo(window, photo_id)
    window.detail.caption_edit.setPlainText("my own words about the harbour")
    window.detail.save_caption()
    assert sample.library.best_caption(photo_id).text == "my own words about the harbour"
    alternatives = window.detail.alternatives
    window.detail.use_alternative(alternatives.item(0))  # what a double-click does
    assert sample.library.best_caption(photo_id).text == "the blue boat moored in the harbour"

    assert window.undo_action.isEnabled() and "alternative" in window.undo_action.text().lower()
    window.undo_action.trigger()  # Ctrl+Z
    assert sample.library.best_caption(photo_id).text == "my own words about the harbour"
    assert window.detail.caption_edit.text() == "my own words about the harbour"
    window.undo_action.trigger()  # and the hand-written caption itself: back to the model's
    best = sample.library.best_caption(photo_id)
    assert best is not None and not best.is_user
    window.redo_action.trigger()
    window.redo_action.trigger()  # Ctrl+Shift+Z twice: the alternative again
    assert sample.library.best_caption(photo_id).text == "the blue boat moored in the harbour"
    assert window.redo_action.shortcuts()[0].toString() == "Ctrl+Shift+Z"


def test_mark_reviewed_is_undoable(qtbot: Any, make_window: MakeWindow, sample: Sample) -> None:
    window = make_window(sample.library)
    photo_id = sample.ids["orange"]
    open_photo(window, photo_id)
    window.mark_reviewed_action.trigger()
    assert sample.library.best_caption(photo_id).reviewed
    window.undo_action.trigger()
    assert not sample.library.best_caption(photo_id).reviewed
    assert window.detail.state_label.text() == "Needs review · by test-model-1"


def test_details_show_the_folder_and_a_date_for_every_photo_and_whose_words_the_attention_shows(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    photo_id = sample.ids["harbour"]
    open_photo(window, photo_id)
    detail = window.detail
    form = {
        detail.exif_form.itemAt(i, detail.exif_form.ItemRole.LabelRole)
        .widget()
        .text(): detail.exif_form.itemAt(i, detail.exif_form.ItemRole.FieldRole).widget().text()
        for i in range(detail.exif_form.rowCount())
    }
    photo = sample.library.get_photo(photo_id)
    assert form["Folder:"].replace("\u200b", "") == str(Path(photo.path).parent)  # wraps at "/"
    assert form["Taken:"] and form["File size:"] and "Camera:" in form
    assert not detail.attention.isHidden()  # the sample's model captions have attention maps
    assert detail.attention_note.text() == ""  # the model caption is shown: these are its words
    detail.caption_edit.setPlainText("my harbour")
    detail.save_caption()
    qtbot.waitUntil(lambda: "written by you" in detail.attention_note.text(), timeout=3000)
    assert not detail.attention_note.isHidden()


def test_a_multi_selection_shows_its_size_and_actions_for_all(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    window.show()
    qtbot.waitExposed(window)
    open_photo(window, sample.ids["orange"])
    window.detail.caption_edit.setPlainText("my own words")  # an edit in progress
    window.grid.selectAll()
    total = window.photos.rowCount()
    detail = window.detail
    assert detail.selection_count == total
    assert detail.selection_label.text() == f"{total} photos selected"
    assert detail.selection_label.isVisible() and not detail.caption_edit.isVisible()
    # The edit was saved, not dropped, when the selection grew.
    qtbot.waitUntil(
        lambda: sample.library.best_caption(sample.ids["orange"]).text == "my own words", timeout=3000
    )
    buttons = {b.defaultAction(): b for b in detail.selection_buttons}
    assert set(buttons) >= {window.mark_reviewed_action, window.copy_action, window.remove_photos_action}
    assert all(b.isVisible() for b in buttons.values())
    for action in (window.mark_reviewed_action, window.copy_action, window.remove_photos_action):
        assert buttons[action].isEnabled()
    # A button follows its action: no model loaded, so re-captioning is offered but disabled.
    assert (
        buttons[window.recaption_selection_action].isEnabled()
        == window.recaption_selection_action.isEnabled()
    )
    qtbot.mouseClick(buttons[window.mark_reviewed_action], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: sample.library.stats().needs_review == 0, timeout=3000)
    # Back to one photo: its details again.
    window.grid.select_row(1)
    window.grid.selectionModel().select(
        window.grid.currentIndex(), window.grid.selectionModel().SelectionFlag.ClearAndSelect
    )
    qtbot.waitUntil(lambda: detail.data is not None, timeout=3000)
    assert detail.selection_count == 0 and detail.caption_edit.isVisible()
    assert detail.photo_id == window.grid.model().index(1, 0).data(PhotoRoles.PhotoId)


def test_alternatives_are_tall_enough_and_never_scroll_sideways(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    window.resize(820, 600)
    window.show()
    qtbot.waitExposed(window)
    open_photo(window, sample.ids["harbour"])
    alternatives = window.detail.alternatives
    qtbot.waitUntil(lambda: alternatives.isVisible(), timeout=3000)
    assert alternatives.count() == 2
    assert not alternatives.horizontalScrollBar().isVisible()
    assert not alternatives.verticalScrollBar().isVisible()
    for row in range(alternatives.count()):  # every row fully inside the box
        rect = alternatives.visualItemRect(alternatives.item(row))
        assert alternatives.viewport().rect().contains(rect), (row, rect)
        assert alternatives.item(row).text() in alternatives.item(row).toolTip()


def test_the_caption_box_shows_when_it_has_the_focus(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    window = make_window(sample.library)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    open_photo(window, sample.ids["orange"])
    edit = window.detail.caption_edit
    window.grid.setFocus()
    qtbot.waitUntil(lambda: window.grid.hasFocus(), timeout=3000)
    unfocused = edit.grab().toImage()
    edit.setFocus()
    qtbot.waitUntil(lambda: edit.hasFocus(), timeout=3000)
    focused = edit.grab().toImage()
    highlight = edit.palette().color(edit.palette().ColorRole.Highlight)

    def border_matches(image: Any) -> int:
        y = image.height() // 2
        return sum(
            abs(image.pixelColor(x, y).red() - highlight.red())
            + abs(image.pixelColor(x, y).green() - highlight.green())
            + abs(image.pixelColor(x, y).blue() - highlight.blue())
            < 40
            for x in (0, 1, image.width() - 2, image.width() - 1)
        )

    assert border_matches(focused) >= 2 and border_matches(unfocused) == 0


def test_keywords_are_shown_removable_by_keyboard_and_mouse_and_addable(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    library = sample.library
    photo_id = sample.ids["orange"]
    library.forget_model_captions([photo_id])
    library.add_model_caption(
        photo_id, "test-model-1", "a dog on a sofa", -1.0, confidence=0.34,
        keywords=[("tabby", 0.6), ("cat", 0.3), ("window", 0.1)],
    )  # fmt: skip
    window = make_window(library)
    open_photo(window, photo_id)
    panel = window.detail.keywords
    assert panel.words() == ["tabby", "cat", "window"]
    assert panel.list.accessibleName() == "Keywords"
    assert panel.list.item(0).toolTip().startswith("From the model, probability 0.60")
    assert panel.confidence_label.text() == (
        "Confidence 0.34 — low: check that every object named is in the photo"
    )
    assert panel.confidence_label.accessibleName() == "Caption confidence"

    # Keyboard: Delete on the current keyword.
    panel.list.setFocus()
    panel.list.setCurrentRow(0)
    qtbot.keyClick(panel.list, Qt.Key.Key_Delete)
    assert panel.words() == ["cat", "window"]
    # Mouse: select, then the Remove button.
    panel.list.setCurrentRow(1)
    assert panel.remove_button.accessibleName() == "Remove keyword"
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert panel.words() == ["cat"]
    # Adding one.
    qtbot.keyClicks(panel.add_edit, "Garfield")
    qtbot.keyClick(panel.add_edit, Qt.Key.Key_Return)
    assert panel.words() == ["Garfield", "cat"]
    assert [k.word for k in library.keywords(photo_id)] == ["Garfield", "cat"]
    assert {k.word for k in library.keywords(photo_id, include_removed=True) if k.removed} == {
        "tabby",
        "window",
    }
    # The grid row follows (its tooltip lists the keywords).
    row = window.photos.row_of(photo_id)
    assert "Keywords: Garfield, cat" in window.photos.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)

    window.detail.mark_reviewed()  # reviewed: no longer flagged low
    assert panel.confidence_label.text() == "Confidence 0.34 (reviewed)"


def test_a_caption_from_the_photos_metadata_says_where_it_came_from(
    qtbot: Any, make_window: MakeWindow, sample: Sample
) -> None:
    from photoscribe.core.library.captions import set_imported_caption

    photo_id = sample.ids["orange"]
    with sample.library.transaction() as session:
        set_imported_caption(session, photo_id, "Grandma's cat on the sill", "iptc:Caption-Abstract")
    window = make_window(sample.library)
    open_photo(window, photo_id)
    assert window.detail.caption_edit.text() == "Grandma's cat on the sill"
    assert window.detail.state_label.text() == "From the photo's metadata · iptc:Caption-Abstract"
