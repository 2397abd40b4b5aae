"""The attention view: a caption's words as chips; each shows where the model looked for that word.

The maps come from the caption's stored attention blob (one ``h x w`` grid per
word, see ``core.library.blobs``). Overlays are rendered on a worker thread
with ``core.heatmap.attention_overlay``; the strip only switches pixmaps, so
hovering or stepping through words (Left/Right) is instant.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QFocusEvent, QImage, QKeyEvent, QPainter, QPaintEvent, QPalette, QPen, QResizeEvent
from PySide6.QtWidgets import QButtonGroup, QLayout, QLayoutItem, QSizePolicy, QToolButton, QWidget

from photoscribe.core.errors import LibraryError
from photoscribe.core.library import CaptionInfo, Library
from photoscribe.core.model.heatmap import attention_is_flat, attention_overlay
from photoscribe.core.progress import check_cancel
from photoscribe.desktop.thumbnail_loader import pil_to_qimage

PHOTO = -1  # index of the "no overlay" chip
# Said under the photo when the shown word's attention is flat (core.heatmap.attention_is_flat).
FLAT_NOTE = "Attention is spread evenly: the model did not look at one place for this word."

ATTENTION_NAME = "Attention words"
CHIP_STYLE = """
QToolButton {
    border: 1px solid palette(mid); border-radius: 11px; padding: 2px 9px;
    background: palette(base);
}
QToolButton:hover { border-color: palette(highlight); }
QToolButton:checked { background: palette(highlight); color: palette(highlighted-text);
    border-color: palette(highlight); }
"""


def stored_attention(library: Library, captions: Sequence[CaptionInfo]) -> tuple[str, np.ndarray] | None:
    """The newest of these model captions that has attention maps: (its text, maps ``(T, h, w)``).

    Raises:
        LibraryError: the stored blob is corrupt or not a stack of square grids.
    """
    newest_first = sorted(
        (c for c in captions if not c.is_user), key=lambda c: (c.created_at, c.id), reverse=True
    )
    for caption in newest_first:
        maps = library.caption_attention(caption.id)
        if maps is not None:
            return caption.text, as_grids(maps)
    return None


def as_grids(maps: np.ndarray) -> np.ndarray:
    """``(T, h, w)`` float32 from stored maps shaped ``(T, h, w)`` or ``(T, h*w)`` (square grid)."""
    arr = np.asarray(maps, dtype=np.float32)
    if arr.ndim == 3:
        return arr
    if arr.ndim == 2:
        side = math.isqrt(arr.shape[1])
        if side * side == arr.shape[1]:
            return arr.reshape(arr.shape[0], side, side)
    raise LibraryError(f"stored attention has shape {arr.shape}; expected (words, h, w)")


def render_overlays(
    image: Image.Image, grids: np.ndarray, count: int, cancel: threading.Event | None = None
) -> list[QImage]:
    """One overlay per word (the first ``count`` grids) over ``image`` (worker thread)."""
    overlays = []
    for grid in grids[:count]:
        check_cancel(cancel)
        overlays.append(pil_to_qimage(attention_overlay(image, grid)))
    return overlays


def flat_words(grids: np.ndarray, count: int) -> tuple[bool, ...]:
    """For each of the first ``count`` words, whether its attention is flat (no place stands out)."""
    return tuple(attention_is_flat(grid) for grid in grids[:count])


class FlowLayout(QLayout):
    """Lays widgets out left to right, wrapping to new lines (the Qt "flow layout" example)."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def _arrange(self, outer: QRect, *, move: bool) -> int:
        margins = self.contentsMargins()
        rect = outer.marginsRemoved(margins)
        x, y, line_height = rect.x(), rect.y(), 0
        for item in self._items:
            hint = item.sizeHint()
            if x + hint.width() > rect.right() + 1 and line_height > 0:
                x, y = rect.x(), y + line_height + self.spacing()
                line_height = 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self.spacing()
            line_height = max(line_height, hint.height())
        return y + line_height - rect.y() + margins.top() + margins.bottom()


class AttentionStrip(QWidget):
    """Chips for "Photo" and each caption word; one tab stop, Left/Right step through the words.

    Signals:
        shownChanged(int): the word whose map should be shown now (hovered, else selected);
            :data:`PHOTO` for the plain photo.
    """

    shownChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(ATTENTION_NAME)
        self.setAccessibleDescription(
            "Left and Right arrow keys show where the model looked for each word of its caption"
        )
        self.setStyleSheet(CHIP_STYLE)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self._layout = FlowLayout(self, spacing=4)
        self._layout.setContentsMargins(2, 2, 2, 2)  # room for the focus ring
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self._group.idClicked.connect(self.set_current)
        self._buttons: list[QToolButton] = []
        self._current = PHOTO
        self._hovered: int | None = None

    @property
    def words(self) -> list[str]:
        return [b.text() for b in self._buttons[1:]]

    @property
    def current(self) -> int:
        return self._current

    def set_words(self, words: Sequence[str]) -> None:
        for button in self._buttons:
            self._group.removeButton(button)
            button.removeEventFilter(self)
            button.deleteLater()
        self._buttons = []
        for index, word in enumerate(["Photo", *words]):
            button = QToolButton(self)
            button.setText(word)
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the strip is one tab stop
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            if index == 0:
                button.setAccessibleName("Show the photo without attention")
                button.setToolTip("The photo itself")
            else:
                button.setAccessibleName(f"Show attention for the word {word}")
                button.setToolTip(f"Where the model looked when it wrote “{word}”")
            button.installEventFilter(self)
            self._group.addButton(button, index - 1)
            self._layout.addWidget(button)
            self._buttons.append(button)
        self._current = PHOTO
        self._hovered = None
        if self._buttons:
            self._buttons[0].setChecked(True)
        self.setAccessibleName(ATTENTION_NAME)
        self._fit_height()

    def set_current(self, index: int) -> None:
        """Select word ``index`` (``PHOTO`` for none), clamped to the words there are."""
        index = max(PHOTO, min(index, len(self._buttons) - 2))
        button = self._group.button(index)
        if button is not None:
            button.setChecked(True)
        if index != self._current:
            self._current = index
            self._announce()
            if self._hovered is None:
                self.shownChanged.emit(index)

    def _announce(self) -> None:
        """The strip's name says the word shown, so a screen reader speaks each step of ← →."""
        shown = "the photo" if self._current == PHOTO else f"“{self.words[self._current]}”"
        self.setAccessibleName(f"Attention words, showing {shown}")

    def step(self, delta: int) -> None:
        self.set_current(self._current + delta)

    # A visible focus (WCAG 2.4.7): the chips take no focus themselves, so the strip draws a ring.
    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self.update()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.hasFocus():
            painter = QPainter(self)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Highlight), 2))
            painter.drawRoundedRect(self.rect().adjusted(1, 1, -1, -1), 6, 6)
            painter.end()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            self.step(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            self.step(-1)
        elif key == Qt.Key.Key_Home:
            self.set_current(PHOTO)
        elif key == Qt.Key.Key_End:
            self.set_current(len(self._buttons) - 2)
        else:
            super().keyPressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(watched, QToolButton) and watched in self._buttons:
            if event.type() == QEvent.Type.Enter:
                self._hovered = self._group.id(watched)
                self.shownChanged.emit(self._hovered)
            elif event.type() == QEvent.Type.Leave:
                self._hovered = None
                self.shownChanged.emit(self._current)
        return super().eventFilter(watched, event)

    # The chips wrap: the strip takes the height of its lines at its width (set on resize rather
    # than by height-for-width, which would make its minimum one chip per line).
    def hasHeightForWidth(self) -> bool:
        return False

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        height = self._layout.heightForWidth(max(self.width(), 1)) if self._buttons else 0
        if height != self.minimumHeight():
            self.setFixedHeight(height)
