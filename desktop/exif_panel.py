"""The detail pane's photo facts (date, size, camera, exposure): one labelled, focusable block.

A keyboard user tabs to it (the pane scrolls it into view, a ring shows the focus) and a
screen reader reads it as "Photo details" followed by every row.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QContextMenuEvent,
    QFocusEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QFormLayout, QFrame, QLabel, QMenu, QWidget

from photoscribe.desktop.fit_scroll import ZWSP, breakable

NAME = "Photo details"
PATHS = frozenset({"File", "Folder"})  # values that may be one long "word"


class PathLabel(QLabel):
    """A path that wraps at its separators; what it copies and says is the path itself."""

    def __init__(self, path: str, parent: QWidget | None = None) -> None:
        super().__init__(breakable(path, "/\\_-"), parent)  # folder names can be long too
        self.path = path
        self.setAccessibleName(path)  # the path itself, without the wrapping marks

    def copy_selection(self) -> None:
        text = self.selectedText() if self.hasSelectedText() else self.path
        QGuiApplication.clipboard().setText(text.replace(ZWSP, ""))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_selection()
            return
        super().keyPressEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        menu = QMenu(self)
        menu.addAction("&Copy", self.copy_selection)
        menu.exec(event.globalPos())


class ExifPanel(QFrame):
    """A form of (name, value) rows with a focus ring and the rows as its accessible description."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(NAME)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(3, 2, 3, 2)  # room for the focus ring
        self.form.setHorizontalSpacing(12)
        self.form.setVerticalSpacing(3)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        # Long values (a file path, a lens name) wrap rather than widen the pane at large text sizes.
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)

    def set_rows(self, rows: Sequence[tuple[str, str]], tooltips: dict[str, str] | None = None) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        for name, value in rows:
            label = PathLabel(value) if name in PATHS else QLabel(value)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if tooltips and name in tooltips:  # (a tooltip equal to the text would be said twice)
                label.setToolTip(tooltips[name])
            # A screen reader says the row's name (the form's label, related to it) and the value.
            self.form.addRow(f"{name}:", label)
        self.setAccessibleDescription("; ".join(f"{name}: {value}" for name, value in rows))

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self.update()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.hasFocus():  # a visible focus (WCAG 2.4.7)
            painter = QPainter(self)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Highlight), 2))
            painter.drawRoundedRect(self.rect().adjusted(1, 1, -1, -1), 4, 4)
            painter.end()
