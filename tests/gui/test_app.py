"""Starting the app: the `gui` command, `photoscribe` with no command, and run_app itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from photoscribe.core.desktop_entry import APP_ID
from photoscribe.core.library import Library
from photoscribe.desktop import app as desktop_app
from photoscribe.desktop.cli import main
from photoscribe.desktop.main_window import PAGE_WELCOME, MainWindow
from photoscribe.desktop.settings import settings_file
from photoscribe.desktop.workers import JobRunner
from tests.helpers import new_library


def test_help_still_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "gui" in out and "open the desktop app" in out


def test_no_command_and_gui_command_open_the_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        desktop_app,
        "run_app",
        lambda db, model, argv=None, open_paths=(): calls.append((db, model, list(open_paths))) or 7,
    )
    assert main([]) == 7
    assert calls == [(None, None, [])]
    assert main(["gui", "--db", str(tmp_path / "lib.db"), "--model", str(tmp_path / "m.pt")]) == 7
    assert calls[-1] == (tmp_path / "lib.db", tmp_path / "m.pt", [])
    # the menu entry's `gui %F`: the photos and folders opened with the app
    assert main(["gui", str(tmp_path / "a.jpg"), str(tmp_path)]) == 7
    assert calls[-1] == (None, None, [tmp_path / "a.jpg", tmp_path])


@pytest.mark.slow
def test_the_cli_stays_headless() -> None:
    code = "import sys, photoscribe.desktop.cli; print(any(m.startswith('PySide6') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_a_broken_model_is_reported_not_fatal(
    qtbot: Any, library: Library, runner: JobRunner, settings: QSettings, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a checkpoint")
    window = desktop_app.create_window(library, bad, runner=runner, settings=settings)
    qtbot.addWidget(window)
    assert window.pages.currentIndex() == PAGE_WELCOME
    assert window.services.model.error
    assert "could not be loaded" in window.welcome.model_text.text()
    assert window.status.model_label.text() == "Model: not loaded"


def test_run_app_shows_the_window_and_exits_cleanly(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "config"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "config"))
    shown: list[MainWindow] = []

    def close_when_shown() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows:
            QTimer.singleShot(50, close_when_shown)
            return
        shown.extend(windows)
        for window in windows:
            window.close()

    QTimer.singleShot(0, close_when_shown)
    previous_hook = sys.excepthook
    assert desktop_app.run_app(tmp_path / "library.sqlite3", argv=["photoscribe"]) == 0
    assert len(shown) == 1 and shown[0].windowTitle() == "Photoscribe"
    assert QApplication.instance().organizationName() == "photoscribe"
    assert sys.excepthook is previous_hook  # uninstalled again
    assert (tmp_path / "library.sqlite3").is_file()
    # The settings go to the config folder under PHOTOSCRIBE_HOME, not to QSettings' native place.
    assert settings_file().is_file() and not (tmp_path / "config").exists()


@pytest.mark.slow
@pytest.mark.bundled_model
def test_a_real_launch_shows_the_window_before_the_model_is_ready(tmp_path: Path) -> None:
    """``photoscribe gui`` as a user starts it (a fresh process, the bundled model): the window is
    painted first and the model finishes loading after it, in the background."""
    import json
    import os
    import time

    probe = tmp_path / "probe.jsonl"
    env = {
        **os.environ,
        "PHOTOSCRIBE_HOME": str(tmp_path / "home"),
        "QT_QPA_PLATFORM": "offscreen",
        desktop_app.STARTUP_PROBE_ENV: str(probe),
    }
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "photoscribe.desktop.cli", "gui"], env=env, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    events = [json.loads(line) for line in probe.read_text().splitlines()]
    assert [e["event"] for e in events] == ["window", "model"]
    window, model = events
    assert model["ready"] is True
    assert start < window["time"] <= model["time"]


@pytest.mark.slow
@pytest.mark.bundled_model
def test_a_real_restart_fills_the_grid_before_the_model_is_ready(tmp_path: Path) -> None:
    """A restart on a library of photos (issue 21: "No photos" until the model had loaded, 18.5 s):
    the grid shows the photos while the model is still loading."""
    import json
    import os

    from PIL import Image

    db = tmp_path / "library.sqlite3"
    env = {
        **os.environ,
        "PHOTOSCRIBE_HOME": str(tmp_path / "home"),
        "PHOTOSCRIBE_LIBRARY": str(db),
        "QT_QPA_PLATFORM": "offscreen",
    }
    folder = tmp_path / "photos"
    folder.mkdir()
    with new_library(db) as library:
        record = library.add_folder_record(folder)
        for i in range(5):
            path = folder / f"p{i}.jpg"
            Image.new("RGB", (64, 48), (40 * i, 80, 120)).save(path)
            photo = library.upsert_photo(path, path.stat().st_size, path.stat().st_mtime, folder_id=record.id)
            library.set_user_caption(photo.id, f"photo {i}")
    probe = tmp_path / "probe.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "photoscribe.desktop.cli", "gui"],
        env={**env, desktop_app.STARTUP_PROBE_ENV: str(probe)},
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    events = {e["event"]: e for e in map(json.loads, probe.read_text().splitlines())}
    assert events["grid"]["rows"] == 5
    assert events["model"]["ready"] is True
    assert events["grid"]["time"] < events["model"]["time"]


def test_the_shipped_icon_renders_and_the_menu_entry_starts_the_app(qtbot: Any) -> None:
    from importlib import resources

    icon = desktop_app.app_icon()
    image = icon.pixmap(64, 64).toImage()
    assert not icon.isNull() and image.width() == 64
    # the rounded blue tile, the pale photo inside it, a transparent corner
    assert image.pixelColor(4, 32).name() == "#1f5f8b"
    assert image.pixelColor(32, 16).name() == "#e8f1f8"
    assert image.pixelColor(0, 0).alpha() == 0
    assert not desktop_app.ensure_application().windowIcon().isNull()

    entry = (resources.files("photoscribe.resources") / "photoscribe.desktop").read_text()
    fields = dict(line.split("=", 1) for line in entry.splitlines() if "=" in line)
    assert fields["Type"] == "Application"
    assert fields["Exec"] == "photoscribe gui %F"  # install-desktop makes the program absolute
    assert fields["Icon"] == APP_ID
    # Wayland's app id is the desktop file name: the window matches its menu entry
    assert desktop_app.ensure_application().desktopFileName() == APP_ID
