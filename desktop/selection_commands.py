"""The commands on the photos selected in the grid: copy their text, show their folder, mark them
reviewed, remove them from the library.

The Edit menu, the grid's context menu and the detail pane's buttons run them; the library work
runs on the window's :class:`JobRunner`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMessageBox

from photoscribe.desktop import actions
from photoscribe.desktop.queries import PhotoRow
from photoscribe.desktop.workers import Job

if TYPE_CHECKING:
    from photoscribe.desktop.main_window import MainWindow


class SelectionCommands(QObject):
    """What the window does to the selected photos when asked."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def selected_rows(self) -> list[PhotoRow]:
        photos = self.window.photos
        rows = (photos.row_of(photo_id) for photo_id in self.window.grid.selected_photo_ids())
        return [data for row in rows if row is not None and (data := photos.photo_row(row)) is not None]

    def copy_alt_text(self) -> None:
        texts = [row.alt_text for row in self.selected_rows() if row.alt_text]
        if not texts:
            self.window.show_message("The selected photos have no caption to copy.")
            return
        QGuiApplication.clipboard().setText("\n".join(texts))
        self.window.show_message(f"Copied the alt text of {len(texts)} photo{'s' if len(texts) > 1 else ''}.")

    def copy_caption(self) -> None:
        texts = [row.caption for row in self.selected_rows() if row.caption]
        if not texts:
            self.window.show_message("The selected photos have no caption to copy.")
            return
        QGuiApplication.clipboard().setText("\n".join(texts))
        self.window.show_message(f"Copied {len(texts)} caption{'s' if len(texts) > 1 else ''}.")

    def show_in_file_manager(self) -> None:
        rows = self.selected_rows()
        if not rows:
            return
        folder = Path(rows[0].path).parent
        if not folder.is_dir():
            self.window.show_message(f"The folder {folder} is not there (is the drive connected?).")
        elif not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.window.show_message(f"No file manager could be opened; the photo is in {folder}")

    def remove_selected_photos(self, *, confirm: bool = True) -> None:
        """Forget the selected photos and their captions, after asking; the files stay on disk."""
        window = self.window
        rows = self.selected_rows()
        if not rows:
            return
        what = f"“{rows[0].name}”" if len(rows) == 1 else f"these {len(rows)} photos"
        if confirm:
            answer = QMessageBox.question(
                window,
                "Remove from library",
                f"Remove {what} and {'its captions' if len(rows) == 1 else 'their captions'} from the "
                "library?\n\nThe files stay on disk. A photo that is still in a watched folder comes "
                "back, uncaptioned, at the next scan of that folder.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        if window.detail.photo_id in {row.photo_id for row in rows}:
            window.detail.discard_edit()  # the caption being edited goes with its photo
        ids = [row.photo_id for row in rows]
        window.runner.submit(
            Job(actions.forget_photos, window.library, ids, progress=False),
            receiver=window,
            on_finished=lambda n: self._after_removed(n),
            on_failed=lambda exc, _tb: window.show_message(f"Removing failed: {exc}"),
        )

    def _after_removed(self, count: int) -> None:
        self.window.undo_stack.clear()  # the captions those steps would restore are gone
        self.window._refresh_library_views()
        self.window.show_message(
            f"Removed {count} photo{'s' if count != 1 else ''} from the library; the files stay."
        )

    def mark_reviewed(self) -> None:
        """One photo: an undoable step of the detail pane; several: all at once, in the background."""
        window = self.window
        ids = window.grid.selected_photo_ids()
        if len(ids) <= 1 and window.detail.photo_id is not None:
            window.detail.mark_reviewed()
            return
        window.runner.submit(
            Job(actions.mark_all_reviewed, window.library, ids, progress=False),
            receiver=window,
            on_finished=window._after_review,
            on_failed=lambda exc, _tb: window.show_message(f"Marking reviewed failed: {exc}"),
        )
