"""A window on a small sample library for the screen-reader check (scripts/atspi_check.sh).

Shows the main window with a photo selected, then moves the keyboard focus through every tab
stop (one a second, as Tab would) so that an AT-SPI listener hears what a screen reader says.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QThreadPool, QTimer
from PySide6.QtTest import QTest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "gui"))
from sample_library import PHOTOS, add_caption, draw_photo, register_photo

from photoscribe.core.library import Library
from photoscribe.desktop.app import ensure_application
from photoscribe.desktop.background import BackgroundServices
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.thumbnail_loader import ThumbnailLoader
from photoscribe.desktop.workers import ImmediatePool, JobRunner

STEPS = 16


def main() -> int:
    app = ensure_application(["photoscribe"])
    tmp = Path(tempfile.mkdtemp(prefix="photoscribe-a11y-"))
    library = Library.open(tmp / "library.sqlite3")
    root = tmp / "Photos"
    folder = library.add_folder_record(root)
    ids = {}
    for i, (stem, colour, shape, caption) in enumerate(PHOTOS):
        path = draw_photo(root / f"{stem}.jpg", colour, shape)
        ids[stem] = register_photo(library, folder, path, taken_at=datetime(2024, 6, 1) + timedelta(hours=i))
        add_caption(library, ids[stem], caption, [caption.replace("a ", "the ", 1)])
    library.mark_reviewed(ids["beach"])
    runner = JobRunner(ImmediatePool())
    window = MainWindow(
        library,
        runner=runner,
        settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat),
        services=BackgroundServices(
            library, runner, queue_factory=None, watcher_factory=None, meaning_factory=None
        ),
        thumbnails=ThumbnailLoader(size=256, pool=QThreadPool()),
    )
    window.resize(1280, 800)
    window.show()
    window.raise_()
    window.activateWindow()
    window.grid.select_row(window.photos.row_of(ids["meadow"]))
    window.search.setFocus()

    steps = [0]

    def step() -> None:
        steps[0] += 1
        if steps[0] <= STEPS:
            window.focusNextChild()  # what Tab does
        elif steps[0] == STEPS + 1:
            window.grid.setFocus()
        elif steps[0] <= STEPS + 3:
            QTest.keyClick(window.grid, Qt.Key.Key_Right)  # move in the grid
        elif steps[0] == STEPS + 4:
            window.detail.attention.setFocus()
        elif steps[0] <= STEPS + 6:
            QTest.keyClick(window.detail.attention, Qt.Key.Key_Right)  # step through the words
        else:
            app.quit()

    timer = QTimer()
    timer.timeout.connect(step)
    QTimer.singleShot(5000, lambda: timer.start(600))  # the listener connects first
    code = int(app.exec())
    library.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
