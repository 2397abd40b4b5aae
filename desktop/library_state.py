"""How the window treats a library it cannot write (read-only) or that turns out damaged while open.

A read-only library (a read-only mount, file or folder, a full disk) is opened for browsing, searching
and exporting elsewhere: :func:`install` says so in the title and the status bar and hides every
action that would change it. A damaged library, or one that stops accepting writes, met by any
background job is said once, in a dialog, with core's one sentence (restore the backup or run
``photoscribe library repair``) instead of SQLite's text in the status bar.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QMessageBox

from photoscribe.core.library.engine import read_only_message
from photoscribe.core.library.integrity import LibraryDamagedError, explain

if TYPE_CHECKING:
    from photoscribe.desktop.main_window import MainWindow

log = logging.getLogger(__name__)

DAMAGED_TITLE = "The library cannot be used"
READ_ONLY_TITLE = "The library cannot be changed"


def install(window: MainWindow) -> None:
    """Translate library failures of the window's jobs, show them in a dialog, and apply read-only mode."""
    library = window.library
    window.runner.explain = lambda exc: explain(exc, library.path)
    shown: set[type] = set()

    def on_library_failed(exc: BaseException) -> None:
        kind = type(exc)
        if kind in shown:  # one dialog per kind of trouble; later jobs fail with the same sentence
            return
        shown.add(kind)
        title = DAMAGED_TITLE if isinstance(exc, LibraryDamagedError) else READ_ONLY_TITLE
        window.show_message(str(exc), 0)
        QMessageBox.critical(window, title, str(exc))

    window.runner.libraryFailed.connect(on_library_failed)
    if library.read_only is not None:
        apply_read_only(window, library.read_only)


def apply_read_only(window: MainWindow, reason: str) -> None:
    """Say that the library is read-only and why; hide what would change it."""
    window.setWindowTitle("Photoscribe (read-only)")
    label = QLabel(f"Read-only: {reason}. Browsing, searching and exporting to another folder only.")
    label.setObjectName("readOnlyLabel")
    label.setToolTip(read_only_message(window.library.path, reason))
    window.statusBar().insertPermanentWidget(0, label)
    for action in (
        window.add_folder_action,
        window.remove_folder_action,
        window.save_caption_action,
        window.edit_caption_action,
        window.mark_reviewed_action,
        window.remove_photos_action,
        window.recaption_selection_action,
        window.recaption_all_action,
        window.retry_failed_action,
        window.pause_action,
    ):
        action.setEnabled(False)
        action.setVisible(False)  # stays hidden whatever later enables it
    detail = window.detail
    detail.caption_edit.setReadOnly(True)
    for widget in (
        detail.save_button,
        detail.review_button,
        detail.keywords.add_edit,
        detail.keywords.remove_button,
    ):
        widget.setVisible(False)
    window.welcome.setEnabled(False)
    log.info("library %s is read-only: %s", window.library.path, reason)
