"""The Retrain dialog without the ``eval`` extra (pycocoevalcap): it names the extra, in the dialog."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt, QThreadPool

from photoscribe.desktop.retrain import RetrainDialog, State
from photoscribe.desktop.workers import JobRunner
from photoscribe.training.synth import generate_shapes
from tests.gui.test_retrain_dialog import TINY, set_up_tiny_run, wait_for


def test_training_without_the_eval_extra_says_what_to_install(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "pycocoevalcap" or m.startswith("pycocoevalcap.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pycocoevalcap", None)  # as an install without the extra
    shapes = generate_shapes(tmp_path / "shapes", 40, image_size=64, seed=0)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    pool = QThreadPool()
    dlg = RetrainDialog(runner=JobRunner(pool), settings=settings, advanced_overrides=TINY)
    qtbot.addWidget(dlg)
    set_up_tiny_run(qtbot, dlg, shapes, epochs=1)
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, dlg, State.FAILED, State.FINISHED, timeout=30_000)
    assert dlg.state is State.FAILED
    assert "install photoscribe[eval]" in dlg.error_label.text()
    assert pool.waitForDone(10_000)
