"""The detail pane's keywords and the caption's confidence.

Keywords are a list: Delete (or Backspace) or the Remove button takes the selected
keyword away (remembered: captioning again does not bring it back); the box below adds
one with Enter. Every change is a job on the runner, then the list is read again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from photoscribe.core.captioning.confidence import confidence_text, is_low
from photoscribe.core.library import CaptionInfo, Library
from photoscribe.core.library.records import KeywordInfo
from photoscribe.desktop.style import WARNING, set_tone
from photoscribe.desktop.workers import Job, JobRunner

log = logging.getLogger(__name__)

WORD_ROLE = Qt.ItemDataRole.UserRole + 1


def keyword_tooltip(keyword: KeywordInfo) -> str:
    if keyword.from_model:
        score = f", probability {keyword.score:.2f}" if keyword.score is not None else ""
        return f"From the model{score}. Press Delete to remove it"
    return f"{'Yours' if keyword.source == 'user' else 'Imported'}. Press Delete to remove it"


def confidence_label_text(caption: CaptionInfo | None) -> str:
    """What the pane says of a caption's confidence ("" for a person's caption or an unknown one)."""
    if caption is None or caption.is_user or caption.confidence is None:
        return ""
    if caption.reviewed:
        return f"Confidence {caption.confidence:.2f} (reviewed)"
    return confidence_text(caption.confidence)


class KeywordList(QListWidget):
    """The keywords; Delete or Backspace asks to remove the current one."""

    removeRequested = Signal(str)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        item = self.currentItem()
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and item is not None:
            self.removeRequested.emit(item.data(WORD_ROLE))
            return
        super().keyPressEvent(event)


class KeywordsPanel(QWidget):
    """A photo's keywords (removable, addable) and its caption's confidence.

    Signals:
        changed(int): a keyword of this photo id was added or removed (search results may change).
        failed(str): a change could not be stored.
    """

    changed = Signal(int)
    failed = Signal(str)

    def __init__(self, library: Library, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.runner = runner
        self._photo_id: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)

        self.confidence_label = QLabel()
        self.confidence_label.setWordWrap(True)
        self.confidence_label.setAccessibleName("Caption confidence")
        layout.addWidget(self.confidence_label)

        self.header = QLabel("&Keywords")
        font = self.header.font()
        font.setBold(True)
        self.header.setFont(font)
        self.list = KeywordList()
        self.list.setAccessibleName("Keywords")
        self.list.setAccessibleDescription("Press Delete to remove the selected keyword")
        self.list.setFlow(QListWidget.Flow.LeftToRight)
        self.list.setWrapping(True)
        self.list.setSpacing(2)
        self.list.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._row_height = self.list.fontMetrics().height() + 8
        self._set_rows(1)
        self.list.removeRequested.connect(self.remove)
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.header.setBuddy(self.list)

        # One row: the header, a box to add a keyword and the Remove button; the keywords below.
        row = QHBoxLayout()
        row.addWidget(self.header)
        self.add_edit = QLineEdit()
        self.add_edit.setPlaceholderText("Add a keyword")
        self.add_edit.setAccessibleName("New keyword")
        self.add_edit.setAccessibleDescription("Press Enter to add it to the photo")
        self.add_edit.returnPressed.connect(self.add_typed)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setAccessibleName("Remove keyword")
        self.remove_button.setToolTip("Remove the selected keyword (Delete); no model adds it back")
        self.remove_button.clicked.connect(self._remove_current)
        row.addWidget(self.add_edit, 1)
        row.addWidget(self.remove_button)
        layout.addLayout(row)
        layout.addWidget(self.list)
        self._update_buttons()

    # ------------------------------------------------------------------ showing

    def show_keywords(
        self, photo_id: int, keywords: Sequence[KeywordInfo], caption: CaptionInfo | None
    ) -> None:
        self._photo_id = photo_id
        self._fill(keywords)
        self.show_confidence(caption)

    def show_confidence(self, caption: CaptionInfo | None) -> None:
        text = confidence_label_text(caption)
        self.confidence_label.setText(text)
        self.confidence_label.setVisible(bool(text))
        low = caption is not None and not caption.preferred and is_low(caption.confidence)
        set_tone(self.confidence_label, WARNING if low else None)
        font = self.confidence_label.font()
        font.setBold(low)
        self.confidence_label.setFont(font)

    def words(self) -> list[str]:
        return [self.list.item(i).data(WORD_ROLE) for i in range(self.list.count())]

    def _fill(self, keywords: Sequence[KeywordInfo]) -> None:
        current = self.list.currentItem().data(WORD_ROLE) if self.list.currentItem() else None
        self.list.clear()
        for keyword in keywords:
            item = QListWidgetItem(keyword.word)
            item.setData(WORD_ROLE, keyword.word)
            item.setToolTip(keyword_tooltip(keyword))
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{keyword.word}, {keyword_tooltip(keyword)}")
            self.list.addItem(item)
            if keyword.word == current:
                self.list.setCurrentItem(item)
        if not keywords:
            empty = QListWidgetItem("No keywords")
            # Secondary text at AA contrast; a disabled item would be drawn at 1.7:1.
            empty.setFlags(Qt.ItemFlag.ItemIsEnabled)
            empty.setForeground(self.list.palette().color(QPalette.ColorRole.PlaceholderText))
            self.list.addItem(empty)
        self._set_rows(1 if len(keywords) <= 4 else 2)  # a model gives at most 8
        self._update_buttons()

    def _set_rows(self, rows: int) -> None:
        self.list.setFixedHeight(rows * self._row_height + 2 * self.list.frameWidth() + 2)

    def _update_buttons(self) -> None:
        item = self.list.currentItem()
        self.remove_button.setEnabled(item is not None and item.data(WORD_ROLE) is not None)

    # ------------------------------------------------------------------ changing

    def _remove_current(self) -> None:
        item = self.list.currentItem()
        if item is not None and item.data(WORD_ROLE) is not None:
            self.remove(item.data(WORD_ROLE))

    def remove(self, word: str) -> None:
        if self._photo_id is not None and word:
            self._change(self.library.remove_keyword, word)

    def add_typed(self) -> None:
        word = self.add_edit.text().strip()
        if self._photo_id is not None and word:
            self.add_edit.clear()
            self._change(self.library.add_keyword, word)

    def _change(self, change: object, word: str) -> None:
        photo_id = self._photo_id
        assert photo_id is not None

        def apply(library: Library, photo: int, text: str) -> list[KeywordInfo]:
            change(photo, text)  # type: ignore[operator]
            return library.keywords(photo)

        self.runner.submit(
            Job(apply, self.library, photo_id, word, progress=False),
            receiver=self,
            on_finished=lambda keywords: self._on_changed(photo_id, keywords),
            on_failed=lambda exc, _tb: self.failed.emit(f"The keyword could not be changed: {exc}"),
        )

    def _on_changed(self, photo_id: int, keywords: list[KeywordInfo]) -> None:
        if photo_id == self._photo_id:
            self._fill(keywords)
        self.changed.emit(photo_id)
