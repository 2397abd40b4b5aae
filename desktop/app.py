"""Starting the desktop app: ``photoscribe gui`` and ``photoscribe`` with no command."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QSettings, QThreadPool, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from photoscribe.core.desktop_entry import APP_ID
from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.library import Library
from photoscribe.desktop.error_reporting import install_excepthook, setup_logging
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.open_paths import StartupPaths
from photoscribe.desktop.settings import APP_NAME, ORGANISATION, open_store
from photoscribe.desktop.style import install_accessible_palette
from photoscribe.desktop.workers import JobRunner

log = logging.getLogger(__name__)

ICON_FILE = "photoscribe.svg"  # in photoscribe.resources, beside the Linux menu entry photoscribe.desktop
# bench/window.py sets this to a file: the app appends when its window is up and when the model is
# ready (wall-clock seconds), then quits. Nothing else reads it.
STARTUP_PROBE_ENV = "PHOTOSCRIBE_STARTUP_PROBE"


def app_icon() -> QIcon:
    """The application icon shipped in ``photoscribe.resources``."""
    return QIcon(str(resources.files("photoscribe.resources") / ICON_FILE))


def ensure_application(argv: Sequence[str] | None = None) -> QApplication:
    """The ``QApplication``, created with photoscribe's names when there is none yet."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORGANISATION)
    app.setApplicationDisplayName("Photoscribe")
    # The menu entry's name (photoscribe install-desktop): Wayland's app id, so the window and the
    # launcher are one application in docks and task switchers.
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    install_accessible_palette(app)  # secondary and selected text at WCAG AA contrast
    return app


def create_window(
    library: Library,
    model: Path | None = None,
    *,
    runner: JobRunner | None = None,
    settings: QSettings | None = None,
) -> MainWindow:
    """The main window on ``library``, its background services started."""
    window = MainWindow(
        library,
        runner=runner if runner is not None else JobRunner(QThreadPool.globalInstance()),
        settings=settings if settings is not None else open_store(),
    )
    window.start(model)
    return window


def run_app(
    library_path: Path | None = None,
    model: Path | None = None,
    argv: Sequence[str] | None = None,
    open_paths: Sequence[str | Path] = (),
) -> int:
    """Run the desktop app until its window closes; returns the exit code.

    ``open_paths``: folders to add and photos to show (the menu entry's ``%F``)."""
    app = ensure_application(argv)
    log_path = setup_logging()
    holder: list[MainWindow] = []
    hook = install_excepthook(lambda: holder[0] if holder else None)
    log.info("photoscribe starting; log at %s", log_path)
    try:
        library = Library.open(library_path, check=True)  # a damaged library is said before the window
    except PhotoscribeError as exc:
        QMessageBox.critical(None, "Photoscribe cannot open the library", str(exc))
        hook.uninstall()
        return 1
    try:
        window = create_window(library, model)
        holder.append(window)
        # torch and friends leave ~400,000 long-lived objects; a full garbage collection (which
        # stops every thread, the GUI's too) would walk them all: ~300 ms pauses while scrolling.
        gc.freeze()
        window.show()
        if open_paths:
            StartupPaths(window, open_paths)
        probe = os.environ.get(STARTUP_PROBE_ENV)
        if probe:
            _probe_startup(app, window, Path(probe))
        return int(app.exec())
    finally:
        library.close()
        hook.uninstall()


def _probe_startup(app: QApplication, window: MainWindow, probe: Path) -> None:
    """Record when the window has been painted, when the grid shows its first photos and when the
    model is ready (or failed), then quit."""

    def note(event: str, **extra: object) -> None:
        with probe.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, "time": time.time(), **extra}) + "\n")

    def on_model(state: object) -> None:
        if not getattr(state, "loading", True):
            note("model", ready=bool(getattr(state, "ready", False)))
            QTimer.singleShot(0, app.quit)

    def on_rows() -> None:  # the grid's first photos (once)
        if window.photos.rowCount() and not getattr(on_rows, "done", False):
            on_rows.done = True  # type: ignore[attr-defined]
            note("grid", rows=window.photos.rowCount())

    # A zero timer fires once the event loop has run: after the window's first paint.
    QTimer.singleShot(0, lambda: note("window"))
    window.photos.queryFinished.connect(on_rows)
    on_rows()
    window.services.modelChanged.connect(on_model)
    if not window.services.model.loading:
        QTimer.singleShot(0, lambda: on_model(window.services.model))
