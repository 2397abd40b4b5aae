"""The detail pane: the selected photo, its caption (editable), alternatives, EXIF and attention.

Everything the pane reads or writes goes through the job runner: decoding the
photo, reading EXIF, rendering attention overlays and storing captions.
Saving a caption stores it with ``Library.set_user_caption`` (reviewed and
owned by the user, never overwritten by a model).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QPixmap, QUndoStack
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QStackedLayout,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from photoscribe.core.library import CaptionInfo, Library
from photoscribe.core.library.export import split_alt_text
from photoscribe.desktop.attention_view import FLAT_NOTE, PHOTO, AttentionStrip
from photoscribe.desktop.caption_undo import CaptionCommand, CaptionState, with_state
from photoscribe.desktop.detail_data import DetailData, attention_note, caption_state, exif_rows, load_detail
from photoscribe.desktop.detail_widgets import EDIT_HINT, CaptionEdit, InfoScroll, PhotoView, header
from photoscribe.desktop.exif_panel import ExifPanel
from photoscribe.desktop.keywords import KeywordsPanel
from photoscribe.desktop.style import secondary
from photoscribe.desktop.workers import Job, JobRunner


class DetailPane(QWidget):
    """Shows and edits one photo.

    Signals:
        captionSaved(int): a caption of this photo id was stored (text or review state).
        keywordsChanged(int): a keyword of this photo id was added or removed.
        failed(str): a save failed (the message says why).
        photoShown(int): the pane shows this photo id, its caption in the editor.
        editReverted(int): the edit of this photo id was thrown away (Esc, or the photo removed).
        leaveRequested(): Esc with nothing to revert: give the focus back (to the grid).
    """

    captionSaved = Signal(int)
    keywordsChanged = Signal(int)
    failed = Signal(str)
    photoShown = Signal(int)
    editReverted = Signal(int)
    leaveRequested = Signal()

    def __init__(
        self,
        library: Library,
        runner: JobRunner,
        parent: QWidget | None = None,
        undo_stack: QUndoStack | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.runner = runner
        self.undo_stack = undo_stack if undo_stack is not None else QUndoStack(self)
        self._data: DetailData | None = None
        self._photo_id: int | None = None
        self._job: Job | None = None
        self._base = QPixmap()
        self._overlays: list[QPixmap] = []
        self._saved_text = ""
        self._shown_id: int | None = None  # the photo whose caption the editor holds
        self._selection_count = 0
        self.setMinimumWidth(300)
        self._build()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        self._stack = QStackedLayout(self)
        self.empty_label = QLabel(
            "Select a photo to see its caption,\nedit it, and see where the model looked."
        )
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        secondary(self.empty_label)
        self._stack.addWidget(self.empty_label)

        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(12, 6, 12, 12)
        column.setSpacing(6)
        self.image = PhotoView()
        self._build_attention(column)
        self._build_caption(column)
        self.keywords = KeywordsPanel(self.library, self.runner)
        self.keywords.changed.connect(self.keywordsChanged)
        self.keywords.failed.connect(self.failed)
        column.addWidget(self.keywords)
        self._build_alternatives(column)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        column.addWidget(line)
        self.exif = ExifPanel()
        self.exif_form = self.exif.form
        column.addWidget(self.exif)
        column.addStretch(1)

        self._stack.addWidget(self._build_photo_page(content))
        self._stack.addWidget(self._build_selection_page())
        # Tab follows the layout, top to bottom: words, caption, buttons, keywords, alternatives, details.
        self.setTabOrder(self.attention, self.caption_edit)
        self.setTabOrder(self.caption_edit, self.review_button)
        self.setTabOrder(self.review_button, self.save_button)
        self.setTabOrder(self.save_button, self.keywords.add_edit)
        self.setTabOrder(self.keywords.add_edit, self.keywords.remove_button)
        self.setTabOrder(self.keywords.remove_button, self.keywords.list)
        self.setTabOrder(self.keywords.list, self.alternatives)
        self.setTabOrder(self.alternatives, self.exif)

    def _build_attention(self, column: QVBoxLayout) -> None:
        """The words of the model's caption: hovering one shows where the model looked for it."""
        attention_header = header("Where the model &looked")
        attention_header.setToolTip("Hover a word, or press ← → on the words, to see the model's attention")
        self.attention = AttentionStrip()
        self.attention.shownChanged.connect(self._show_word)
        attention_header.setBuddy(self.attention)
        self.attention_note = QLabel()
        self.attention_note.setWordWrap(True)
        secondary(self.attention_note)
        self.attention_note.setAccessibleName("Which caption the attention belongs to")
        self._attention_widgets = (attention_header, self.attention, self.attention_note)
        for widget in self._attention_widgets:
            column.addWidget(widget)
        self.attention_flat = QLabel(FLAT_NOTE)  # shown with a word whose attention is flat
        self.attention_flat.setWordWrap(True)
        self.attention_flat.setAccessibleName("Attention spread evenly")
        self.attention_flat.setVisible(False)
        column.addWidget(self.attention_flat)

    def _build_caption(self, column: QVBoxLayout) -> None:
        """The caption's state, its editor, and Mark reviewed / Save."""
        caption_header = header("&Caption")
        self.state_label = QLabel()
        secondary(self.state_label)
        self.state_label.setWordWrap(True)
        self.state_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        header_row = QHBoxLayout()
        header_row.addWidget(caption_header)
        header_row.addWidget(self.state_label, 1)
        column.addSpacing(4)
        column.addLayout(header_row)
        self.caption_edit = CaptionEdit()
        self.caption_edit.setPlaceholderText("Describe the photo for someone who cannot see it")
        # A clear focus ring (the platform styles draw none on a plain-text box).
        self.caption_edit.setStyleSheet(
            "QPlainTextEdit { border: 1px solid palette(mid); border-radius: 3px; padding: 2px; }"
            "QPlainTextEdit:focus { border: 2px solid palette(highlight); padding: 1px; }"
        )
        self.caption_edit.setAccessibleName("Caption")
        self.caption_edit.setAccessibleDescription(EDIT_HINT)
        self.caption_edit.submitted.connect(self.save_caption)
        self.caption_edit.escaped.connect(self.escape_edit)
        self.caption_edit.textChanged.connect(self._on_caption_edited)
        caption_header.setBuddy(self.caption_edit)
        column.addWidget(self.caption_edit)

        state_row = QHBoxLayout()
        self.review_button = QPushButton("Mark &reviewed")
        self.review_button.setAccessibleName("Mark caption reviewed")
        self.review_button.setToolTip("Approve the model's caption as it is (Ctrl+R)")
        self.review_button.clicked.connect(self.mark_reviewed)
        self.save_button = QPushButton("&Save")
        self.save_button.setAccessibleName("Save caption")
        self.save_button.setToolTip("Save your caption (Enter); it is marked reviewed and yours")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_caption)
        state_row.addStretch(1)
        state_row.addWidget(self.review_button)
        state_row.addWidget(self.save_button)
        column.addLayout(state_row)

    def _build_alternatives(self, column: QVBoxLayout) -> None:
        """The model's other captions for the photo; activating one makes it the caption."""
        self.alternatives_label = header("&Alternatives")
        self.alternatives_label.setToolTip("Double-click an alternative, or press Enter on it, to use it")
        self.alternatives = QListWidget()
        self.alternatives.setAccessibleName("Alternative captions")
        self.alternatives.setAccessibleDescription(
            "Press Enter to use the selected alternative as the caption"
        )
        self.alternatives.setToolTip("Double-click or press Enter to use this caption")
        # Long alternatives are elided (the full text is the item's tooltip), never scrolled sideways.
        self.alternatives.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.alternatives.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.alternatives.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.alternatives.itemActivated.connect(self.use_alternative)
        self.alternatives_label.setBuddy(self.alternatives)
        column.addSpacing(4)
        column.addWidget(self.alternatives_label)
        column.addWidget(self.alternatives)

    def _build_photo_page(self, content: QWidget) -> QWidget:
        """The photo on top, as tall as it is at this width; the rest (``content``) scrolls when the window
        is short (the photo shrinks first, down to its minimum), so the pane never forces a tall window."""
        info = InfoScroll()
        info.setWidget(content)
        page = QWidget()
        page_layout = QVBoxLayout(page)
        page_layout.setContentsMargins(0, 12, 0, 0)
        page_layout.setSpacing(0)
        image_row = QHBoxLayout()
        image_row.setContentsMargins(12, 0, 12, 0)
        image_row.addWidget(self.image)
        page_layout.addLayout(image_row)
        page_layout.addWidget(info, 1)
        return page

    def _build_selection_page(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(18, 24, 18, 18)
        column.setSpacing(8)
        self.selection_label = QLabel()
        font = self.selection_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.selection_label.setFont(font)
        self.selection_label.setAccessibleName("Number of selected photos")
        hint = QLabel("These actions apply to every selected photo:")
        hint.setWordWrap(True)
        secondary(hint)
        column.addWidget(self.selection_label)
        column.addWidget(hint)
        self._selection_buttons = QVBoxLayout()
        self._selection_buttons.setSpacing(4)
        column.addLayout(self._selection_buttons)
        column.addStretch(1)
        return page

    def set_selection_actions(self, actions: Sequence[QAction]) -> None:
        """The actions offered for a multi-selection, as buttons that follow each action's state."""
        while self._selection_buttons.count():
            item = self._selection_buttons.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self._selection_buttons.addWidget(button)

    @property
    def selection_buttons(self) -> list[QToolButton]:
        items = (self._selection_buttons.itemAt(i) for i in range(self._selection_buttons.count()))
        return [w for item in items if item is not None and isinstance(w := item.widget(), QToolButton)]

    @property
    def selection_count(self) -> int:
        """How many photos the multi-selection page describes (0 when one photo or none is shown)."""
        return self._selection_count

    def show_selection(self, count: int) -> None:
        """Show how many photos are selected and what can be done to all of them (``count`` > 1)."""
        if self.has_unsaved_edit:
            self.save_caption()
        if self._job is not None:
            self._job.cancel()
            self._job = None
        self._photo_id = None
        self._data = None
        self._shown_id = None
        self._selection_count = count
        self.selection_label.setText(f"{count:,} photos selected")
        self._stack.setCurrentIndex(2)

    # ------------------------------------------------------------------ showing a photo

    @property
    def photo_id(self) -> int | None:
        return self._photo_id

    @property
    def data(self) -> DetailData | None:
        return self._data

    def show_photo(self, photo_id: int | None) -> None:
        """Load and show a photo (``None``: the empty page).

        A caption being edited is saved first when another photo is shown: an edit is never lost.
        """
        if photo_id != self._photo_id and self.has_unsaved_edit:
            self.save_caption()
        self._selection_count = 0
        if self._job is not None:
            self._job.cancel()
            self._job = None
        self._photo_id = photo_id
        if photo_id is None:
            self._data = None
            self._stack.setCurrentIndex(0)
            return
        job = Job(load_detail, self.library, photo_id)
        self._job = job
        self.runner.submit(
            job,
            receiver=self,
            on_finished=lambda data: self._on_loaded(job, data),
            on_failed=lambda exc, _tb: self._on_load_failed(job, exc),
        )

    def reload(self) -> None:
        self.show_photo(self._photo_id)

    def _on_load_failed(self, job: Job, exc: BaseException) -> None:
        if job is self._job:
            self._job = None
            self.failed.emit(f"The photo could not be shown: {exc}")

    def _on_loaded(self, job: Job, data: DetailData | None) -> None:
        if job is not self._job:
            return
        self._job = None
        if data is None:
            self.show_photo(None)
            return
        self._data = data
        self._base = QPixmap.fromImage(data.image) if data.image is not None else QPixmap()
        self._overlays = [QPixmap.fromImage(image) for image in data.overlays]
        if data.image is None:
            self.image.show_message(f"This photo cannot be shown.\n{data.image_error}")
        else:
            self.image.set_source(self._base)
        kept_edit = (
            self.caption_edit.text() if self.has_unsaved_edit and data.photo.id == self._shown_id else None
        )
        self._shown_id = data.photo.id
        self.attention.set_words(data.words)
        has_attention = bool(data.words)
        for widget in self._attention_widgets:
            widget.setVisible(has_attention)
        self.attention_flat.setVisible(False)

        self._show_caption(data.best)
        if kept_edit is not None:  # reloaded under an edit in progress (a new model caption came in)
            self.caption_edit.setPlainText(kept_edit)
        self._fill_alternatives(data)
        self._fill_exif(data)
        self.keywords.show_keywords(data.photo.id, data.keywords, data.best)
        self._stack.setCurrentIndex(1)
        self.photoShown.emit(data.photo.id)

    def _show_caption(self, caption: CaptionInfo | None) -> None:
        if self._data is not None:
            note = attention_note(self._data)
            self.attention_note.setText(note)
            self.attention_note.setVisible(bool(self._data.words) and bool(note))
        text = caption.text if caption is not None else ""
        self._saved_text = text
        self.caption_edit.setPlainText(text)
        self.save_button.setEnabled(False)
        self.state_label.setText(caption_state(caption))
        # Focusing the editor says the caption's state too ("Needs review · by model").
        self.caption_edit.setAccessibleDescription(f"{caption_state(caption)}. {EDIT_HINT}")
        self.review_button.setEnabled(caption is not None and not caption.preferred)
        alt = split_alt_text(text)[0] if text else "No caption yet"
        self.image.setAccessibleDescription(alt)
        self.image.setToolTip(alt)

    def _fill_alternatives(self, data: DetailData) -> None:
        self.alternatives.clear()
        model = data.model_caption
        best = data.best
        seen: set[str] = {best.text} if best is not None else set()
        for alt in model.alternatives if model is not None else ():
            if alt.text in seen:
                continue
            seen.add(alt.text)
            item = QListWidgetItem(alt.text)
            item.setToolTip(alt.text + (f"\n(score {alt.score:.2f})" if alt.score is not None else ""))
            self.alternatives.addItem(item)
        visible = self.alternatives.count() > 0
        rows = min(self.alternatives.count(), 4)  # up to four rows without scrolling; more scroll
        frame = 2 * self.alternatives.frameWidth()
        row_height = max(self.alternatives.sizeHintForRow(0), self.alternatives.fontMetrics().height() + 4)
        self.alternatives.setFixedHeight(max(1, rows) * row_height + frame + 2)
        self.alternatives.setVisible(visible)
        self.alternatives_label.setVisible(visible)

    def _fill_exif(self, data: DetailData) -> None:
        self.exif.set_rows(exif_rows(data.photo, data.exif), {"File": data.photo.path})

    def _show_word(self, index: int) -> None:
        if index == PHOTO or not 0 <= index < len(self._overlays):
            self.image.set_source(self._base)
            self.attention_flat.setVisible(False)
        else:
            self.image.set_source(self._overlays[index])
            flat = self._data is not None and index < len(self._data.flat) and self._data.flat[index]
            self.attention_flat.setVisible(flat)

    # ------------------------------------------------------------------ editing

    def focus_caption(self) -> None:
        if self._photo_id is not None:
            self.caption_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.caption_edit.selectAll()

    @property
    def has_unsaved_edit(self) -> bool:
        """The caption editor holds text the library does not have yet."""
        return self._shown_id is not None and self.caption_edit.text() != self._saved_text

    def _on_caption_edited(self) -> None:
        self.save_button.setEnabled(self.has_unsaved_edit)

    def save_caption(self) -> None:
        """Save the editor's text as the user's caption (Enter, Ctrl+S, or leaving the photo); undoable."""
        if not self.has_unsaved_edit:
            return
        text = self.caption_edit.text()
        self._saved_text = text  # the editor now matches what is being written (before it is written)
        self._push("Edit caption", lambda state: replace(state, user_text=text.strip()))

    def save_now(self) -> None:
        """Write the caption being edited synchronously (the app is quitting: no job may be dropped)."""
        if self._shown_id is not None and self.has_unsaved_edit:
            self.library.set_user_caption(self._shown_id, self.caption_edit.text())
            self._saved_text = self.caption_edit.text()

    def discard_edit(self) -> None:
        """Put the last saved caption back into the editor."""
        self.caption_edit.setPlainText(self._saved_text)
        self.state_label.setText(caption_state(self._data.best if self._data is not None else None))
        if self._shown_id is not None:
            self.editReverted.emit(self._shown_id)

    def escape_edit(self) -> None:
        """Esc in the editor: revert an unsaved edit; with nothing to revert, ask to leave the editor."""
        if self.has_unsaved_edit:
            self.discard_edit()
        else:
            self.leaveRequested.emit()

    def show_draft(self, text: str, note: str) -> None:
        """Put an unsaved draft into the editor (not saved), ``note`` saying so above it."""
        self.caption_edit.setPlainText(text)
        self.state_label.setText(note)

    def use_alternative(self, item: QListWidgetItem) -> None:
        """Make an alternative the caption (it replaces a hand-written one: Edit > Undo brings that back)."""
        text = item.text()
        self.caption_edit.setPlainText(text)
        self._saved_text = text
        self._push("Use alternative caption", lambda state: replace(state, user_text=text))

    def mark_reviewed(self) -> None:
        self._push("Mark reviewed", lambda state: replace(state, model_reviewed=True))

    def _push(self, text: str, change: Callable[[CaptionState], CaptionState]) -> None:
        photo_id, data = self._shown_id, self._data
        if photo_id is None or data is None or data.photo.id != photo_id:
            return
        before = CaptionState.of(data.captions)
        after = change(before)
        if after == before:
            return
        self.save_button.setEnabled(False)
        self.undo_stack.push(
            CaptionCommand(
                text,
                self.library,
                self.runner,
                photo_id,
                before,
                after,
                self._after_write,
                self._write_failed,
            )
        )
        # Later edits of this photo start from the state just written.
        self._data = replace(data, captions=with_state(data.captions, after, photo_id))

    def _after_write(self, photo_id: int) -> None:
        self.captionSaved.emit(photo_id)
        if photo_id == self._photo_id:
            self.runner.submit(
                Job(self.library.captions, photo_id, progress=False),
                receiver=self,
                on_finished=lambda captions: self._on_captions(photo_id, captions),
            )

    def _on_captions(self, photo_id: int, captions: list[CaptionInfo]) -> None:
        if photo_id != self._photo_id or self._data is None:
            return
        editing = self.caption_edit.text() if self.has_unsaved_edit else None
        self._data = replace(self._data, captions=tuple(captions))
        self._show_caption(self._data.best)
        self.keywords.show_confidence(self._data.best)
        if editing is not None:
            self.caption_edit.setPlainText(editing)

    def _write_failed(self, photo_id: int, exc: BaseException) -> None:
        self.save_button.setEnabled(self.has_unsaved_edit)
        self.failed.emit(f"The caption could not be saved: {exc}")
