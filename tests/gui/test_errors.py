"""The excepthook (log + copyable dialog) and the rotating log file."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from photoscribe.desktop.error_reporting import ExceptHook, install_excepthook, log_file, setup_logging


@pytest.fixture
def log_path() -> Iterator[Path]:
    path = setup_logging()
    yield path
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.handlers.RotatingFileHandler) and Path(handler.baseFilename) == path:
            root.removeHandler(handler)
            handler.close()


@pytest.fixture
def hook(qtbot: Any) -> Iterator[ExceptHook]:
    installed = install_excepthook(lambda: None)
    yield installed
    installed.uninstall()
    for dialog in installed.dialogs:
        if dialog.isVisible():
            dialog.close()


def raise_and_report(hook: ExceptHook, message: str) -> None:
    try:
        raise ValueError(message)
    except ValueError:
        hook(*sys.exc_info())


def test_setup_logging_writes_a_rotating_file_once(log_path: Path) -> None:
    assert log_path == log_file() and log_path.parent.is_dir()
    assert setup_logging() == log_path  # idempotent: no second handler
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.handlers.RotatingFileHandler) and Path(h.baseFilename) == log_path
    ]
    assert len(handlers) == 1
    logging.getLogger("photoscribe.test").warning("hello log file")
    handlers[0].flush()
    assert "hello log file" in log_path.read_text("utf-8")


def test_uncaught_exception_is_logged_and_shown_with_copyable_details(
    qtbot: Any, hook: ExceptHook, log_path: Path
) -> None:
    assert sys.excepthook is hook
    raise_and_report(hook, "the flux capacitor is empty")
    assert len(hook.dialogs) == 1
    dialog = hook.dialogs[0]
    assert dialog.isVisible()
    assert "ValueError: the flux capacitor is empty" in dialog.message_label.text()
    details = dialog.details.toPlainText()
    assert details.startswith("Traceback (most recent call last):")
    assert "test_errors.py" in details and "raise ValueError(message)" in details
    assert dialog.details.isReadOnly()
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert "raise ValueError(message)" in QGuiApplication.clipboard().text()
    for handler in logging.getLogger().handlers:
        handler.flush()
    logged = log_path.read_text("utf-8")
    assert "uncaught exception" in logged and "the flux capacitor is empty" in logged

    raise_and_report(hook, "the flux capacitor is empty")  # the same error again: no second dialog
    assert len([d for d in hook.dialogs if d.isVisible()]) == 1


def test_exception_in_a_thread_is_shown_on_the_main_thread(qtbot: Any, hook: ExceptHook) -> None:
    def fail() -> None:
        raise RuntimeError("worker exploded")

    thread = threading.Thread(target=fail)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(hook.dialogs) == 1, timeout=3000)
    assert "RuntimeError: worker exploded" in hook.dialogs[0].message_label.text()


def test_uninstall_restores_the_previous_hooks(qtbot: Any) -> None:
    previous, previous_thread = sys.excepthook, threading.excepthook
    installed = install_excepthook(lambda: None)
    installed.uninstall()
    assert sys.excepthook is previous and threading.excepthook is previous_thread
