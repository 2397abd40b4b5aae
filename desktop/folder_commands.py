"""The library's folders from the window: File > Add folder, a folder dropped on the window, Remove folder.

:class:`FolderCommands` asks which folder, then leaves the scan to ``MainWindow.add_folder``; it
watches the window's drag-and-drop events (installed as its event filter).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QMessageBox

from photoscribe.desktop.queries import FILTER_ALL, KIND_FOLDER
from photoscribe.desktop.settings import LAST_FOLDER
from photoscribe.desktop.workers import Job

if TYPE_CHECKING:
    from photoscribe.desktop.main_window import MainWindow


def local_dirs(urls: Sequence[QUrl]) -> list[str]:
    return [url.toLocalFile() for url in urls if url.isLocalFile() and Path(url.toLocalFile()).is_dir()]


class FolderCommands(QObject):
    """Adds the folders the user picks or drops, removes the one selected in the sidebar."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        window.installEventFilter(self)  # the window accepts drops; this decides what

    def choose_folder(self) -> None:
        window = self.window
        start = LAST_FOLDER.read(window.settings) or str(Path.home())
        path = QFileDialog.getExistingDirectory(window, "Add a folder of photos", start)
        if path:
            window.add_folder(path)

    def remove_current_folder(self) -> None:
        window = self.window
        kind, folder_id = window.sidebar.current_entry()
        entry = window.folders.entry(window.sidebar.currentIndex().row())
        if kind != KIND_FOLDER or folder_id is None or entry is None:
            window.show_message("Select a folder in the sidebar to remove it.")
            return
        answer = QMessageBox.question(
            window,
            "Remove folder",
            f"Remove {entry.path} and its captions from the library?\nThe photos themselves are not touched.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        window.services.unwatch(entry.path or "")
        window.runner.submit(
            Job(window.library.remove_folder, folder_id, progress=False),
            receiver=window,
            on_finished=lambda _n: self._after_folder_removed(entry.path or ""),
            on_failed=lambda exc, _tb: window.show_message(f"The folder could not be removed: {exc}"),
        )

    def _after_folder_removed(self, path: str) -> None:
        self.window.sidebar.select_entry(FILTER_ALL)
        self.window._refresh_library_views()
        self.window.show_message(f"Removed {path} from the library.")

    # ================================================================== drag and drop

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The window's drag events: folders are welcome, anything else is refused."""
        if watched is self.window:
            kind = event.type()
            if kind == QEvent.Type.DragEnter and isinstance(event, QDragEnterEvent):
                self._drag_enter(event)
                return True
            if kind == QEvent.Type.DragMove and isinstance(event, QDragMoveEvent):
                self._drag_move(event)
                return True
            if kind == QEvent.Type.Drop and isinstance(event, QDropEvent):
                self._drop(event)
                return True
        return super().eventFilter(watched, event)

    def _drag_enter(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and local_dirs(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def _drag_move(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasUrls() and local_dirs(event.mimeData().urls()):
            event.acceptProposedAction()

    def _drop(self, event: QDropEvent) -> None:
        folders = local_dirs(event.mimeData().urls()) if event.mimeData().hasUrls() else []
        if not folders:
            event.ignore()
            return
        event.acceptProposedAction()
        for path in folders:
            self.window.add_folder(path)
