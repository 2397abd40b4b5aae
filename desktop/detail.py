"""The detail pane: the selected photo, its caption (editable), alternatives, EXIF and attention.

Everything the pane reads or writes goes through the job runner: decoding the
photo, reading EXIF, rendering attention overlays and storing captions.
Saving a caption stores it with ``Library.set_user_caption`` (reviewed and
owned by the user, never overwritten by a model).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from PIL import Image
from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QAction, QImage, QKeyEvent, QPixmap, QResizeEvent, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedLayout,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.files.imaging import ExifSummary, load_image, read_exif_summary
from photoscribe.core.library import CaptionInfo, Library, PhotoInfo
from photoscribe.core.library.export import split_alt_text
from photoscribe.core.library.records import KeywordInfo
from photoscribe.core.library.schema import IMPORTED_PREFIX
from photoscribe.core.progress import check_cancel
from photoscribe.desktop.attention_view import (
    FLAT_NOTE,
    PHOTO,
    AttentionStrip,
    flat_words,
    render_overlays,
    stored_attention,
)
from photoscribe.desktop.exif_panel import ExifPanel
from photoscribe.desktop.keywords import KeywordsPanel
from photoscribe.desktop.style import secondary
from photoscribe.desktop.thumbnail_loader import pil_to_qimage
from photoscribe.desktop.workers import Job, JobRunner

log = logging.getLogger(__name__)

DISPLAY_SIDE = 1024  # decode the photo at most this large for the pane


@dataclass(frozen=True)
class DetailData:
    """Everything the pane shows about one photo (built on a worker thread)."""

    photo: PhotoInfo
    captions: tuple[CaptionInfo, ...]
    exif: ExifSummary | None = None
    image: QImage | None = None
    image_error: str = ""
    attention_text: str = ""
    words: tuple[str, ...] = ()
    overlays: tuple[QImage, ...] = field(default_factory=tuple)
    flat: tuple[bool, ...] = ()  # per word: attention spread evenly (core.heatmap.attention_is_flat)
    keywords: tuple[KeywordInfo, ...] = ()

    @property
    def best(self) -> CaptionInfo | None:
        return self.captions[0] if self.captions else None

    @property
    def model_caption(self) -> CaptionInfo | None:
        return next((c for c in self.captions if not c.is_user), None)


def load_detail(
    library: Library,
    photo_id: int,
    *,
    max_side: int = DISPLAY_SIDE,
    on_progress: Any = None,
    cancel: threading.Event | None = None,
) -> DetailData | None:
    """Read a photo, its captions, EXIF and attention overlays; ``None`` if the photo is gone."""
    photo = library.get_photo(photo_id)
    if photo is None:
        return None
    captions = tuple(library.captions(photo_id))
    keywords = tuple(library.keywords(photo_id))
    try:
        exif: ExifSummary | None = read_exif_summary(photo.path)
    except PhotoscribeError:
        exif = None
    check_cancel(cancel)
    try:
        pil = load_image(photo.path, target_size=max_side)
    except PhotoscribeError as exc:
        return DetailData(photo, captions, exif, image_error=str(exc), keywords=keywords)
    pil.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    image = pil_to_qimage(pil)
    try:
        attention = stored_attention(library, captions)
    except PhotoscribeError as exc:
        log.warning("attention of photo %s cannot be shown: %s", photo_id, exc)
        attention = None
    if attention is None:
        return DetailData(photo, captions, exif, image, keywords=keywords)
    text, grids = attention
    words = tuple(text.split())[: len(grids)]
    overlays = tuple(render_overlays(pil, grids, len(words), cancel))
    flat = flat_words(grids, len(words))
    return DetailData(photo, captions, exif, image, "", text, words, overlays, flat, keywords)


def attention_note(data: DetailData) -> str:
    """Which caption the attention words belong to, when it is not the caption shown above them."""
    best = data.best
    if not data.words or best is None or best.text == data.attention_text:
        return ""
    who = "written by you" if best.is_user else f"by another model ({best.source})"
    return f"The caption above is {who}; these are the words of the model's caption “{data.attention_text}”."


def _exif_rows(photo: PhotoInfo, exif: ExifSummary | None) -> list[tuple[str, str]]:
    rows = [("File", photo.name), ("Folder", os.path.dirname(photo.path))]
    taken = (exif.taken_at if exif else None) or photo.taken_at
    if taken is not None:
        rows.append(("Taken", taken.strftime("%Y-%m-%d %H:%M")))
    elif photo.mtime:
        stamp = datetime.fromtimestamp(photo.mtime).strftime("%Y-%m-%d %H:%M")
        rows.append(("Taken", f"{stamp} (file date; no EXIF date)"))
    rows.append(("File size", _file_size(photo.size)))
    if exif is None or not exif.camera:
        if photo.camera:
            rows.append(("Camera", photo.camera))
        elif exif is None or not (exif.exposure or exif.f_number or exif.iso):
            rows.append(("Camera", "not recorded in this file (no EXIF)"))
    if exif is not None:
        rows.append(("Size", f"{exif.width} × {exif.height}"))
        if exif.camera:
            rows.append(("Camera", exif.camera))
        if exif.lens:
            rows.append(("Lens", exif.lens))
        settings = []
        if exif.exposure:
            settings.append(
                f"1/{round(1 / exif.exposure)} s" if exif.exposure < 1 else f"{exif.exposure:g} s"
            )
        if exif.f_number:
            settings.append(f"f/{exif.f_number:g}")
        if exif.iso:
            settings.append(f"ISO {exif.iso}")
        if exif.focal_length:
            settings.append(f"{exif.focal_length:g} mm")
        if settings:
            rows.append(("Exposure", " · ".join(settings)))
    return rows


def _file_size(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1e6:.1f} MB"
    return f"{max(1, round(size / 1000))} kB"


def caption_state(caption: CaptionInfo | None) -> str:
    if caption is None:
        return "No caption yet"
    if caption.is_user and caption.source.startswith(IMPORTED_PREFIX):
        # A description the photo already carried ("imported:iptc:Caption-Abstract"): a person's words.
        return f"From the photo's metadata · {caption.source.removeprefix(IMPORTED_PREFIX)}"
    if caption.is_user:
        return "Written by you"
    if caption.reviewed:
        return f"Reviewed · by {caption.source}"
    return f"Needs review · by {caption.source}"


EDIT_HINT = "Press Enter to save; saving marks the caption reviewed"


def _header(text: str) -> QLabel:
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


class _InfoScroll(QScrollArea):
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


@dataclass(frozen=True)
class CaptionState:
    """What a caption edit changes on one photo: the hand-written caption ("" for none) and
    whether the newest model caption is approved. Undo puts the photo back into such a state."""

    user_text: str
    model_caption_id: int | None
    model_reviewed: bool

    @classmethod
    def of(cls, captions: Sequence[CaptionInfo]) -> CaptionState:
        user = next((c for c in captions if c.is_user), None)
        models = sorted((c for c in captions if not c.is_user), key=lambda c: (c.created_at, c.id))
        model = models[-1] if models else None
        return cls(
            user.text if user is not None else "",
            model.id if model is not None else None,
            bool(model and model.reviewed),
        )


def apply_caption_state(library: Library, photo_id: int, state: CaptionState) -> None:
    """Put ``photo_id``'s captions into ``state`` in one write transaction."""
    library.set_caption_state(photo_id, state.user_text, state.model_caption_id, state.model_reviewed)


class CaptionCommand(QUndoCommand):
    """One caption change of one photo (edit, alternative, mark reviewed), undoable.

    ``redo`` (run once when pushed) writes ``after``; ``undo`` writes ``before``. Writes run as
    background jobs; ``done(photo_id)`` is called on the main thread after each.
    """

    def __init__(
        self,
        text: str,
        library: Library,
        runner: JobRunner,
        photo_id: int,
        before: CaptionState,
        after: CaptionState,
        done: Callable[[int], None],
        failed: Callable[[int, BaseException], None],
    ) -> None:
        super().__init__(text)
        self.library, self.runner, self.photo_id = library, runner, photo_id
        self.before, self.after = before, after
        self.done, self.failed = done, failed

    def _write(self, state: CaptionState) -> None:
        photo_id = self.photo_id
        self.runner.submit(
            Job(apply_caption_state, self.library, photo_id, state, progress=False),
            on_finished=lambda _none: self.done(photo_id),
            on_failed=lambda exc, _tb: self.failed(photo_id, exc),
        )

    def redo(self) -> None:
        self._write(self.after)

    def undo(self) -> None:
        self._write(self.before)


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

        attention_header = _header("Where the model &looked")
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

        caption_header = _header("&Caption")
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

        self.keywords = KeywordsPanel(self.library, self.runner)
        self.keywords.changed.connect(self.keywordsChanged)
        self.keywords.failed.connect(self.failed)
        column.addWidget(self.keywords)

        self.alternatives_label = _header("&Alternatives")
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

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        column.addWidget(line)
        self.exif = ExifPanel()
        self.exif_form = self.exif.form
        column.addWidget(self.exif)
        column.addStretch(1)

        # The photo on top, as tall as it is at this width; the rest scrolls when the window is short
        # (the photo shrinks first, down to its minimum), so the pane never forces a tall window.
        info = _InfoScroll()
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
        self._stack.addWidget(page)
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
        self.exif.set_rows(_exif_rows(data.photo, data.exif), {"File": data.photo.path})

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
        self._data = replace(data, captions=_with_state(data.captions, after, photo_id))

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


def _with_state(
    captions: Sequence[CaptionInfo], state: CaptionState, photo_id: int
) -> tuple[CaptionInfo, ...]:
    """``captions`` as they will be once ``state`` is written (until the library's copy arrives)."""
    out = [c for c in captions if not c.is_user]
    out = [replace(c, reviewed=state.model_reviewed) if c.id == state.model_caption_id else c for c in out]
    if state.user_text:
        user = next((c for c in captions if c.is_user), None)
        now = datetime.now(timezone.utc)
        if user is not None:
            out.append(replace(user, text=state.user_text, created_at=now))
        else:
            out.append(CaptionInfo(-1, photo_id, state.user_text, "user", True, True, None, (), "en", now))
    return tuple(out)
