"""Reviewing captions from the keyboard, like culling in Lightroom or digiKam.

:func:`install` routes the window's "Mark reviewed" action (Ctrl+R), the detail pane's
"Mark reviewed" button and Enter/Esc in the caption editor through a :class:`ReviewFlow`:

- **Accept and next** (Ctrl+R): approve the photo's caption (an edit in progress is saved as the
  person's caption instead); in "Needs review" the photo leaves the list and the next one is
  selected. Elsewhere the photo is marked and stays selected (a plain "Mark reviewed").
- **Enter** in the caption editor saves the edit. In "Needs review" it is accept-and-next: an edit
  is saved (or an unchanged caption approved), the photo leaves the list and the next photo's
  caption is in the editor, which keeps the focus, so a person reviews without the mouse. In the
  other views the photo stays (browsing, a person checks what was saved); Esc then returns to the
  grid, where the arrow keys move on.
- **Esc** in the editor reverts an unsaved edit; Esc again (nothing to revert) returns to the grid.

The header's count and the sidebar's are counted again from the library after each write has
committed (never from a guess), so they agree; undoing an accept brings the photo back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt

from photoscribe.desktop import actions
from photoscribe.desktop.queries import FILTER_NEEDS_REVIEW
from photoscribe.desktop.workers import Job

if TYPE_CHECKING:
    from photoscribe.desktop.main_window import MainWindow

log = logging.getLogger(__name__)

ACCEPT_TIP = "Approve the caption; in Needs review the next photo is shown (Ctrl+R)"


class ReviewFlow(QObject):
    """Accept-and-next, Enter-saves-and-next and Esc for one main window (see the module docstring)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._accepted: set[int] = set()  # taken out of the list here; their write is on its way

    @property
    def reviewing(self) -> bool:
        """Whether the grid shows "Needs review" (a reviewed photo leaves it)."""
        return self.window.photos.query.filter == FILTER_NEEDS_REVIEW

    # ------------------------------------------------------------------ commands

    def accept(self) -> None:
        """Approve the selected photos' captions; in "Needs review" move on to the next photo."""
        window = self.window
        ids = window.grid.selected_photo_ids()
        detail = window.detail
        photo_id = detail.photo_id
        if len(ids) > 1:
            self._accept_many(ids)
            return
        if photo_id is None:
            return
        if detail.data is None or detail.data.photo.id != photo_id:
            self._accept_many([photo_id])  # pressed again before the pane has loaded the photo
            return
        best = detail.data.best
        if not detail.has_unsaved_edit and (best is None or best.preferred):
            if self.reviewing:
                self._leave([photo_id])
            return  # nothing to approve (no caption, or one a person wrote or approved)
        if self.reviewing:
            self._accepted.add(photo_id)
        if detail.has_unsaved_edit:
            detail.save_caption()  # a person's caption is reviewed
        else:
            detail.mark_reviewed()
        if self.reviewing:
            self._leave([photo_id])

    def _accept_many(self, ids: list[int]) -> None:
        """Approve ``ids`` in one background job; in "Needs review" they leave the list at once, so
        that the next press of Ctrl+R, however quick, is for the next photo."""
        window = self.window
        window.runner.submit(
            Job(actions.mark_all_reviewed, window.library, ids, progress=False),
            receiver=self,
            on_finished=self._after_bulk,
            on_failed=self._bulk_failed,
        )
        if self.reviewing:
            self._leave(ids)

    def _bulk_failed(self, exc: BaseException, _trace: str) -> None:
        self.window.show_message(f"Marking reviewed failed: {exc}")
        if self.reviewing:
            self.window.photos.refresh()  # the photos that were not marked come back

    def submit(self) -> None:
        """Enter in the caption editor: save; in "Needs review" accept and move on."""
        detail = self.window.detail
        if detail.photo_id is None:
            return
        if self.reviewing:
            self.accept()  # the photo leaves the list; the next one comes into the editor
            detail.caption_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            detail.save_caption()

    def leave_editor(self) -> None:
        """Esc with nothing to revert: back to the grid, on the photo being edited."""
        self.window.grid.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # ------------------------------------------------------------------ the list and the counts

    def _leave(self, photo_ids: list[int]) -> None:
        """Take photos out of "Needs review" and select the one that took the first one's place."""
        window = self.window
        rows = [r for pid in photo_ids if (r := window.photos.row_of(pid)) is not None]
        if not rows:
            return
        first = min(rows)
        window.photos.remove_photos(photo_ids)
        count = window.photos.rowCount()
        if count == 0:
            window.detail.show_photo(None)
            window.grid.setFocus(Qt.FocusReason.OtherFocusReason)
            window.show_message("Every caption here is reviewed.")
            return
        window.grid.clearSelection()
        window.grid.select_row(min(first, count - 1))
        if window.photos.canFetchMore(window.grid.rootIndex()) and first >= count - 1:
            window.photos.fetchMore(window.grid.rootIndex())

    def _after_bulk(self, ids: list[int]) -> None:
        self.window._after_review(ids)
        self.recount()

    def on_caption_saved(self, photo_id: int) -> None:
        """A caption write of ``photo_id`` committed (an accept, an edit, an undo or a redo)."""
        if photo_id in self._accepted:
            self._accepted.discard(photo_id)
        elif self.reviewing:
            self.window.photos.refresh()  # an undo may bring a photo back into "Needs review"
        self.recount()

    def recount(self) -> None:
        """Count the header's photos and the sidebar's collections again, from the library."""
        self.window._refresh_count()
        self.window._refresh_counts()


def install(window: MainWindow) -> ReviewFlow:
    """Give ``window`` the review flow: Ctrl+R accepts (and moves on), Enter saves and moves on,
    Esc reverts then leaves the editor."""
    flow = ReviewFlow(window)
    detail = window.detail
    window.mark_reviewed_action.triggered.disconnect()
    window.mark_reviewed_action.triggered.connect(flow.accept)
    window.mark_reviewed_action.setStatusTip(ACCEPT_TIP)
    detail.review_button.clicked.disconnect()
    detail.review_button.clicked.connect(flow.accept)
    detail.caption_edit.submitted.disconnect()
    detail.caption_edit.submitted.connect(flow.submit)
    detail.leaveRequested.connect(flow.leave_editor)
    detail.captionSaved.connect(flow.on_caption_saved)
    # New captions from the queue change "Needs review" too: the header is counted with the sidebar.
    window._stats_timer.timeout.connect(window._refresh_count)
    return flow
