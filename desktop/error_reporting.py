"""Logging to a rotating file, and a ``sys.excepthook`` that logs and shows a copyable error dialog.

As in vorta: an unexpected exception never vanishes. It is written to the
log with its traceback, and the user sees what happened with a details box
they can copy into a bug report. Exceptions raised on other threads are
handed to the main thread by a queued signal before any widget is touched.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from photoscribe.core.paths import log_dir

log = logging.getLogger(__name__)

LOG_FILENAME = "photoscribe.log"
_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
MAX_OPEN_DIALOGS = 3


def log_file() -> Path:
    return log_dir() / LOG_FILENAME


def setup_logging(level: int = logging.INFO) -> Path:
    """Log to ``log_dir()/photoscribe.log`` (1 MiB, 3 backups); returns the file. Idempotent."""
    path = log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and Path(handler.baseFilename) == path:
            return path
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=1 << 20, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    logging.captureWarnings(True)
    return path


class ErrorDialog(QDialog):
    """The message, and a read-only details box (the traceback) with a Copy button."""

    def __init__(self, parent: QWidget | None, title: str, message: str, details: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumSize(560, 360)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(40, 40))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        top.addWidget(icon)
        self.message_label = QLabel(message)
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.message_label, 1)
        layout.addLayout(top)
        hint = QLabel(f"Details (also written to {log_file()}):")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setAccessibleName("Error details")
        font = self.details.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.details.setFont(font)
        hint.setBuddy(self.details)
        layout.addWidget(self.details, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("&Copy")
        self.copy_button.setAccessibleName("Copy error details")
        self.copy_button.clicked.connect(self.copy)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(f"{self.message_label.text()}\n\n{self.details.toPlainText()}")


class _Relay(QObject):
    raised = Signal(str, str)  # message, formatted traceback


class ExceptHook:
    """The installed hook; :meth:`uninstall` puts the previous hooks back (tests)."""

    def __init__(self, parent_getter: Callable[[], QWidget | None]) -> None:
        self.parent_getter = parent_getter
        self.dialogs: list[ErrorDialog] = []
        self._relay = _Relay()
        self._relay.raised.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self._previous = sys.excepthook
        self._previous_thread = threading.excepthook
        sys.excepthook = self
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        sys.excepthook = self._previous
        threading.excepthook = self._previous_thread

    def __call__(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.critical("uncaught exception\n%s", details)
        message = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
        app = QApplication.instance()
        if app is None:
            self._previous(exc_type, exc, tb)
        elif QThread.currentThread() is app.thread():
            self._show(message, details)
        else:
            self._relay.raised.emit(message, details)

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            self(args.exc_type, args.exc_value, args.exc_traceback)

    def _show(self, message: str, details: str) -> None:
        self.dialogs = [d for d in self.dialogs if _alive(d)]
        if any(d.details.toPlainText() == details for d in self.dialogs):
            return  # the same error again (e.g. in a paint event): one dialog is enough
        if len(self.dialogs) >= MAX_OPEN_DIALOGS:
            return
        dialog = ErrorDialog(
            self.parent_getter(),
            "Photoscribe: unexpected error",
            "Something went wrong that photoscribe did not expect. Your library is safe; "
            "you can keep working, but please report this with the details below.\n\n" + message,
            details,
        )
        self.dialogs.append(dialog)
        dialog.show()
        dialog.raise_()


def _alive(dialog: ErrorDialog) -> bool:
    try:
        return dialog.isVisible()
    except RuntimeError:  # deleted on close
        return False


def install_excepthook(parent_getter: Callable[[], QWidget | None]) -> ExceptHook:
    """Log every uncaught exception and show it in an :class:`ErrorDialog` over ``parent_getter()``."""
    return ExceptHook(parent_getter)
