"""What the grid's delegate paints: whole photos, fitted inside their tile."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QStyleOptionViewItem

from photoscribe.desktop.grid import PhotoDelegate
from photoscribe.desktop.item_models import PhotoRoles

RED, BLUE, GREEN = QColor(220, 0, 0), QColor(0, 0, 220), QColor(0, 200, 0)


def _portrait() -> QPixmap:
    """A 300x600 portrait: a red head (top sixth), a green body, blue feet (bottom sixth)."""
    image = QImage(300, 600, QImage.Format.Format_RGB32)
    image.fill(GREEN)
    painter = QPainter(image)
    painter.fillRect(0, 0, 300, 100, RED)
    painter.fillRect(0, 500, 300, 100, BLUE)
    painter.end()
    return QPixmap.fromImage(image)


def _near(a: QColor, b: QColor) -> bool:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue()) < 60


def test_a_portrait_thumbnail_is_shown_whole_not_cropped_to_landscape(qtbot: Any) -> None:
    delegate = PhotoDelegate(thumb_size=200)  # tile 200x150: landscape
    model = QStandardItemModel()
    item = QStandardItem("a person standing")
    item.setData(_portrait(), Qt.ItemDataRole.DecorationRole)
    item.setData("a person standing", PhotoRoles.Caption)
    model.appendRow(item)
    option = QStyleOptionViewItem()
    size = delegate.cell_size(option.font)
    option.rect = QRect(0, 0, size.width(), size.height())
    canvas = QImage(size, QImage.Format.Format_RGB32)
    canvas.fill(QColor("white"))
    painter = QPainter(canvas)
    delegate.paint(painter, option, model.index(0, 0))
    painter.end()
    centre_x = size.width() // 2
    column = [canvas.pixelColor(centre_x, y) for y in range(8, 8 + delegate.thumb_height)]
    # the head and the feet are both in the tile: nothing was cut off top or bottom
    assert any(_near(c, RED) for c in column[:20]) and any(_near(c, BLUE) for c in column[-20:])
    # fitted (75 px wide in a 200 px tile): the sides of the tile are background, not photo
    assert not _near(canvas.pixelColor(8 + 10, 8 + delegate.thumb_height // 2), GREEN)
    assert _near(canvas.pixelColor(centre_x, 8 + delegate.thumb_height // 2), GREEN)


def test_a_long_highlighted_snippet_is_elided_into_its_lines_without_overlap(qtbot: Any) -> None:
    """Searching "yellow" drew "…tri" over the first highlighted word: the overflow check left an
    unpositioned line at (0, 0), and bold highlights are wider than the regular font elision measured."""
    from PySide6.QtGui import QFont

    from photoscribe.desktop.grid import layout_caption

    text = (
        "a yellow circle to the left of a yellow triangle above a yellow square next to a yellow "
        "cross beside another yellow triangle"
    )
    ranges = tuple((i, 6) for i in range(len(text)) if text.startswith("yellow", i))
    font = QFont()
    for width in (120, 160, 200, 260):
        layout = layout_caption(text, ranges, font, width, 2, QColor(20, 20, 20))
        lines = [layout.lineAt(i) for i in range(layout.lineCount())]
        assert 1 <= len(lines) <= 2, width
        ys = [line.position().y() for line in lines]
        assert ys == sorted(set(ys)), ys  # every line on its own row, none drawn over another
        shown = layout.text()
        assert sum(line.textLength() for line in lines) == len(shown)  # all laid-out text is in a line
        assert shown.endswith("…") and all(line.naturalTextWidth() <= width + 1 for line in lines)


def test_the_focused_photo_has_a_visible_focus_ring(qtbot: Any) -> None:
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QStyle

    delegate = PhotoDelegate(thumb_size=200)
    model = QStandardItemModel()
    item = QStandardItem("a lake")
    item.setData("a lake", PhotoRoles.Caption)
    model.appendRow(item)

    def render(state: QStyle.StateFlag) -> QImage:
        option = QStyleOptionViewItem()
        size = delegate.cell_size(option.font)
        option.rect = QRect(0, 0, size.width(), size.height())
        option.state = state
        option.palette.setColor(QPalette.ColorRole.Highlight, QColor(255, 0, 255))
        canvas = QImage(size, QImage.Format.Format_RGB32)
        canvas.fill(QColor("white"))
        painter = QPainter(canvas)
        delegate.paint(painter, option, model.index(0, 0))
        painter.end()
        return canvas

    def ring_pixels(image: QImage) -> int:
        magenta = QColor(255, 0, 255)
        return sum(
            _near(image.pixelColor(x, y), magenta)
            for y in range(0, image.height(), 2)
            for x in range(0, image.width(), 2)
        )

    plain = render(QStyle.StateFlag.State_Enabled)
    focused = render(QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_HasFocus)
    assert ring_pixels(plain) == 0
    assert ring_pixels(focused) > 100  # an outline around the tile, not a dot
    # Focused and selected: still distinguishable from merely selected.
    selected = render(QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Selected)
    both = render(
        QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Selected | QStyle.StateFlag.State_HasFocus
    )
    assert both != selected


def test_a_low_confidence_caption_gets_an_amber_badge(qtbot: Any) -> None:
    delegate = PhotoDelegate(thumb_size=200)
    model = QStandardItemModel()
    for low in (False, True):
        item = QStandardItem("a dog on a sofa")
        image = QImage(400, 300, QImage.Format.Format_RGB32)
        image.fill(BLUE)
        item.setData(QPixmap.fromImage(image), Qt.ItemDataRole.DecorationRole)
        item.setData("a dog on a sofa", PhotoRoles.Caption)
        item.setData(low, PhotoRoles.LowConfidence)
        model.appendRow(item)
    option = QStyleOptionViewItem()
    size = delegate.cell_size(option.font)
    option.rect = QRect(0, 0, size.width(), size.height())
    corners = []
    for row in range(2):
        canvas = QImage(size, QImage.Format.Format_RGB32)
        canvas.fill(QColor("white"))
        painter = QPainter(canvas)
        delegate.paint(painter, option, model.index(row, 0))
        painter.end()
        # the badge's ring, left of its centre (the "?" is drawn in the middle)
        corners.append(canvas.pixelColor((size.width() + 200) // 2 - 9 - 3 - 6, 8 + 9 + 3))
    assert _near(corners[0], BLUE)
    assert _near(corners[1], QColor(160, 90, 0))
