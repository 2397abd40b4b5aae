"""Fitting at 200 % text size (WCAG 1.4.4): a scroll area that scrolls only when it must, and
paths that wrap.

:class:`FitScroll` asks for its content's full size, so at ordinary sizes nothing changes; when
a column of controls does not fit, it scrolls down instead of being squeezed and cut.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

ZWSP = "\u200b"


def breakable(text: str, marks: str = "/\\") -> str:
    """``text`` with a zero-width space after each path separator (or each of ``marks``), so a long
    path wraps (a label wraps only between words) instead of widening its window past the screen."""
    for mark in marks:
        text = text.replace(mark, mark + ZWSP)
    return text


class FitScroll(QScrollArea):
    """Wraps ``widget``; vertical scrolling only; not a tab stop (tabbing scrolls the focus into view)."""

    def __init__(self, widget: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.viewport().setAutoFillBackground(False)
        widget.setAutoFillBackground(False)

    def _bar(self) -> int:
        return self.verticalScrollBar().sizeHint().width()

    def sizeHint(self) -> QSize:
        widget = self.widget()
        if widget is None:
            return super().sizeHint()
        return widget.sizeHint() + QSize(self._bar(), 0)

    def minimumSizeHint(self) -> QSize:
        widget = self.widget()
        if widget is None:
            return super().minimumSizeHint()
        return QSize(
            widget.minimumSizeHint().width() + self._bar(), min(widget.minimumSizeHint().height(), 160)
        )
