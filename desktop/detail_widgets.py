"""The detail pane's own widgets: the caption editor, the photo that scales to fit, the scrolling info part."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import QFrame, QLabel, QPlainTextEdit, QScrollArea, QSizePolicy, QWidget

EDIT_HINT = "Press Enter to save; saving marks the caption reviewed"


def header(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)  # a narrow pane at 200 % text wraps it rather than cutting it
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


class CaptionEdit(QPlainTextEdit):
    """A three-line caption editor: Enter saves (emits :attr:`submitted`), Esc emits :attr:`escaped`
    (revert, then leave), Tab moves to the next control."""

    submitted = Signal()
    escaped = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        lines = 3
        height = self.fontMetrics().lineSpacing() * lines + 2 * (self.frameWidth() + 4)
        self.setFixedHeight(height)

    def text(self) -> str:
        return self.toPlainText()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.submitted.emit()  # a caption is one paragraph: Enter saves it
            return
        if event.key() == Qt.Key.Key_Escape and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.escaped.emit()
            return
        super().keyPressEvent(event)

    def insertFromMimeData(self, source: QMimeData) -> None:
        """Pasted text becomes one line: a caption has no line breaks."""
        if source.hasText():
            self.insertPlainText(" ".join(source.text().split()))
        else:
            super().insertFromMimeData(source)


class InfoScroll(QScrollArea):
    """Scrolls the pane's text and controls; asks for their full height (QScrollArea caps its hint)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Not a tab stop of its own (it showed no focus and had no name): tabbing to the controls
        # and the photo details inside scrolls them into view.
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def sizeHint(self) -> QSize:
        widget = self.widget()
        return widget.sizeHint() if widget is not None else super().sizeHint()

    def minimumSizeHint(self) -> QSize:
        return QSize(200, 120)


class PhotoView(QLabel):
    """A label that shows a pixmap scaled to fit, keeping its aspect ratio."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = QPixmap()
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.setMinimumSize(200, 150)
        # At most its natural height (sizeHint), shrinking to the minimum when space is short.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
        self.setAccessibleName("Photo")
        self.setWordWrap(True)

    def source(self) -> QPixmap:
        return self._source

    def set_source(self, pixmap: QPixmap) -> None:
        resized = pixmap.isNull() != self._source.isNull() or (
            not pixmap.isNull() and pixmap.size() != self._source.size()
        )
        self._source = pixmap
        if resized:
            self.updateGeometry()
        self._rescale()

    def sizeHint(self) -> QSize:
        width = self.width() if self.width() > 1 else 360
        return QSize(width, self.natural_height(width))

    def minimumSizeHint(self) -> QSize:
        return QSize(200, 150)  # not the pixmap's size: the photo scales down to fit

    def natural_height(self, width: int) -> int:
        """As tall as the photo at this width, at most 0.6 of it (portraits and 4:3 photos are shown
        a little narrower, so the caption, keywords and details fit under it in a 1280 x 800 window)."""
        aspect = self._source.height() / self._source.width() if not self._source.isNull() else 0.75
        return max(150, round(width * min(aspect, 0.6)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()  # the natural height follows the width
        self._rescale()

    def show_message(self, text: str) -> None:
        """Text instead of a photo (e.g. why the photo cannot be shown)."""
        self._source = QPixmap()
        self.updateGeometry()
        self.setText(text)

    def _rescale(self) -> None:
        if self._source.isNull():
            return  # showing a message, or nothing
        ratio = self.devicePixelRatioF()
        scaled = self._source.scaled(
            self.size() * ratio,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        scaled.setDevicePixelRatio(ratio)
        self.setPixmap(scaled)
