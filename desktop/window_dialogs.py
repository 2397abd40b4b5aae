"""The windows the menus open beside the main one: export, write metadata, retrain, About, the log.

:class:`WindowDialogs` opens each (non-modal ones are kept in :attr:`WindowDialogs.opened`, and
closed with the main window) and opens the data folder and the log in the desktop's file viewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QWidget

from photoscribe.core import paths
from photoscribe.desktop import actions
from photoscribe.desktop.queries import export_scope

if TYPE_CHECKING:
    from photoscribe.desktop.main_window import MainWindow


class WindowDialogs(QObject):
    """Opens the main window's dialogs and keeps the open ones."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.opened: list[QWidget] = []

    def _keep(self, dialog: QWidget) -> QWidget:
        self.opened = [d for d in self.opened if d.isVisible()]
        self.opened.append(dialog)
        return dialog

    def close_all(self) -> None:
        for dialog in self.opened:
            dialog.close()

    def open_retrain(self) -> None:
        from photoscribe.desktop.retrain import RetrainDialog

        window = self.window
        current = window.services.model.path or window.active_model()
        dialog = RetrainDialog(
            window, window.runner, window.settings, library=window.library, current_model=current
        )
        dialog.modelReady.connect(window.captioning.switch_model)
        self._keep(dialog).show()

    def open_export(self) -> None:
        from photoscribe.desktop.export_dialog import ExportDialog

        window = self.window
        scope = export_scope(window.photos.query, window.grid.selected_photo_ids())
        self._keep(ExportDialog(window, window.library, window.runner, scope=scope)).show()

    def open_write_metadata(self) -> None:
        """Ask, then write the selection's (else the view's) captions into the photo files."""
        from photoscribe.desktop.write_metadata import WriteMetadataDialog

        window = self.window
        scope = export_scope(window.photos.query, window.grid.selected_photo_ids())
        self._keep(WriteMetadataDialog(window, window.library, window.runner, scope=scope)).show()

    def show_about(self) -> None:
        QMessageBox.about(
            self.window,
            "About Photoscribe",
            f"<h3>Photoscribe {actions.photoscribe_version()}</h3><p>Captions your photo library on your own computer (Show, Attend and "
            "Tell), makes it searchable and exports alt text.</p>"
            f"<p>Library: <code>{self.window.library.path}</code><br>Data: <code>{paths.data_dir()}</code></p>",
        )

    def show_log(self) -> None:
        from photoscribe.desktop.error_reporting import log_file

        self._open_path(log_file())

    def open_data_folder(self) -> None:
        self._open_path(paths.data_dir())

    def _open_path(self, path: Path) -> None:
        if not path.exists():
            self.window.show_message(f"{path} does not exist yet.")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
