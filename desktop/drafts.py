"""Keeps the caption being typed as a draft, so that a crash or a kill does not lose it.

:class:`DraftKeeper` writes the editor's text to ``core``'s :class:`~photoscribe.core.drafts.DraftStore`
one second after the last keystroke, and forgets it when the caption is saved, the edit reverted
(Esc) or the window closed normally (the quit dialog decided: Save or Discard). Drafts found when
the window opens (the app was killed) are offered in the editor when their photo is shown, marked
as an unsaved draft: Enter saves, Esc discards. They are never saved on their own.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from photoscribe.core.drafts import Draft, DraftStore

if TYPE_CHECKING:
    from photoscribe.desktop.main_window import MainWindow

log = logging.getLogger(__name__)

DRAFT_DEBOUNCE_MS = 1000
DRAFT_NOTE = "Unsaved draft, kept when Photoscribe stopped: Enter saves it, Esc discards it"


class DraftKeeper(QObject):
    """Drafts of the window's caption editor (see the module docstring)."""

    def __init__(self, window: MainWindow, store: DraftStore | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.store = store if store is not None else DraftStore(window.library.path)
        # The drafts a previous run left: offered once each, when their photo is shown.
        self.restorable: dict[int, Draft] = {d.photo_id: d for d in self.store.all()}
        self._offered: dict[int, str] = {}  # drafts put into the editor, until saved or reverted
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DRAFT_DEBOUNCE_MS)
        self._timer.timeout.connect(self.flush)
        detail = window.detail
        detail.caption_edit.textChanged.connect(self._on_text_changed)
        detail.photoShown.connect(self._on_photo_shown)
        detail.editReverted.connect(self.forget)
        detail.captionSaved.connect(self._on_caption_saved)
        if self.restorable:
            window.photos.queryFinished.connect(self._select_first_draft)
            count = len(self.restorable)
            window.show_message(
                f"Photoscribe kept {'an unsaved caption draft' if count == 1 else f'{count} unsaved caption drafts'}"
                " from when it stopped: it is shown in the editor with its photo (Enter saves, Esc discards).",
                0,
            )

    def _editing(self) -> int | None:
        """The photo whose caption the editor holds, when it holds text the library does not have."""
        detail = self.window.detail
        data = detail.data
        if data is None or not detail.has_unsaved_edit:
            return None
        return data.photo.id

    def _on_text_changed(self) -> None:
        if self.window.detail.data is not None:
            self._timer.start()

    def flush(self) -> None:
        """Write the edit in progress now (or forget the draft of a caption typed back to what it was)."""
        self._timer.stop()
        detail = self.window.detail
        data = detail.data
        if data is None:
            return
        photo_id = self._editing()
        try:
            if photo_id is not None:
                best = data.best
                self.store.put(photo_id, detail.caption_edit.text(), best.text if best is not None else "")
            elif data.photo.id not in self.restorable:
                self.store.remove(data.photo.id)
        except OSError as exc:  # a draft is a courtesy: say it in the log, keep editing
            log.warning("the caption draft could not be kept in %s: %s", self.store.path, exc)

    def forget(self, photo_id: int) -> None:
        """The draft of ``photo_id`` is settled (saved or reverted): remove it."""
        data = self.window.detail.data
        if data is not None and data.photo.id == photo_id:
            self._timer.stop()
        self.restorable.pop(photo_id, None)
        self._offered.pop(photo_id, None)
        try:
            self.store.remove(photo_id)
        except OSError as exc:
            log.warning("the caption draft could not be removed from %s: %s", self.store.path, exc)

    def _on_caption_saved(self, photo_id: int) -> None:
        if self._editing() != photo_id:  # not while a newer edit of it is in the editor
            self.forget(photo_id)

    def _on_photo_shown(self, photo_id: int) -> None:
        draft = self.restorable.pop(photo_id, None)
        detail = self.window.detail
        if draft is not None and draft.text != detail.caption_edit.text():
            detail.show_draft(draft.text, DRAFT_NOTE)
            self._offered[photo_id] = draft.text
            log.info("offered the unsaved caption draft of photo %s", photo_id)
        elif self._offered.get(photo_id) == detail.caption_edit.text() and detail.has_unsaved_edit:
            detail.state_label.setText(DRAFT_NOTE)  # reloaded under the draft: still say what it is

    def _select_first_draft(self) -> None:
        """While nothing is selected (the grid filling at start-up): select the oldest draft's photo."""
        if not self.restorable or self.window.detail.photo_id is not None:
            return
        photos = self.window.photos
        for photo_id in self.restorable:
            row = photos.row_of(photo_id)
            if row is not None:
                self.window.grid.select_row(row)
                return

    def window_closing(self) -> None:
        """The window closes normally: the quit dialog settled the edit in progress."""
        data = self.window.detail.data
        if data is not None:
            self.forget(data.photo.id)


def install(window: MainWindow) -> DraftKeeper:
    """Keep ``window``'s caption drafts across a crash."""
    return DraftKeeper(window)
