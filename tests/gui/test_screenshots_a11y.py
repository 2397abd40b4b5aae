"""Screenshots for docs/accessibility.md: the main window at 100 % and 200 % text size, the
detail pane at 200 % (and the whole of its scrolling part) and the retrain dialog at 200 % (``scripts/update_screenshots.sh`` writes
them to ``docs/screenshots/``; an ordinary run writes to a temporary folder).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QThreadPool
from PySide6.QtGui import QFont, QImage
from PySide6.QtWidgets import QApplication, QWidget
from sample_library import Sample

from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.retrain import RetrainDialog
from photoscribe.desktop.settings import open_store
from photoscribe.desktop.style import accessible_palette
from photoscribe.desktop.workers import JobRunner

SIZE = (1280, 800)


@pytest.fixture(params=[1, 2], ids=["100", "200"])
def text_scale(request: pytest.FixtureRequest, qapp: QApplication) -> Iterator[int]:
    old_font, old_palette = qapp.font(), qapp.palette()
    font = QFont(old_font)
    font.setPointSizeF(old_font.pointSizeF() * request.param)
    qapp.setFont(font)
    qapp.setPalette(accessible_palette(qapp.style().standardPalette()))  # as ensure_application does
    yield request.param
    qapp.setFont(old_font)
    qapp.setPalette(old_palette)


def grab(widget: QWidget, path: Path) -> QImage:
    for _ in range(3):
        QApplication.sendPostedEvents()
        QApplication.processEvents()
    image = widget.grab().toImage()
    assert image.save(str(path)) and QImage(str(path)).size() == image.size()
    return image


def test_main_window_and_detail_at_100_and_200_percent(
    qtbot: Any,
    text_scale: int,
    make_window: Callable[..., MainWindow],
    sample: Sample,
    screenshot_dir: Path,
) -> None:
    sample.library.mark_reviewed(sample.ids["forest"])
    window = make_window(sample.library)
    window.show()
    window.resize(*SIZE)
    qtbot.waitExposed(window)
    window.grid.select_row(window.photos.row_of(sample.ids["meadow"]))
    qtbot.waitUntil(lambda: bool(window.detail.attention.words), timeout=5000)
    qtbot.waitUntil(lambda: all(window.thumbnails.cached(pid) for pid in sample.ids.values()), timeout=20_000)
    percent = 100 * text_scale
    image = grab(window, screenshot_dir / f"main-{percent}.png")
    assert (image.width(), image.height()) == SIZE
    if text_scale == 2:
        detail = grab(window.detail, screenshot_dir / f"detail-{percent}.png")
        assert detail.height() == window.detail.height()
        # The part of the pane below, which scrolls: keywords, alternatives and the photo details.
        content = window.detail.exif.parentWidget()
        whole = grab(content, screenshot_dir / f"detail-{percent}-scrolled.png")
        assert whole.height() > window.detail.height() // 2


def test_retrain_dialog_at_200_percent(
    qtbot: Any, text_scale: int, sample: Sample, screenshot_dir: Path
) -> None:
    if text_scale != 2:
        pytest.skip("the 100 % retrain screenshot is retrain.png")
    dialog = RetrainDialog(
        None, runner=JobRunner(QThreadPool()), settings=open_store(), library=sample.library
    )
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.resize(
        dialog.sizeHint().boundedTo(dialog.screen().availableSize().expandedTo(dialog.minimumSize()))
    )
    dialog.resize(min(dialog.width(), SIZE[0]), min(dialog.height(), SIZE[1]))
    qtbot.waitExposed(dialog)
    image = grab(dialog, screenshot_dir / "retrain-200.png")
    assert image.width() <= SIZE[0] and image.height() <= SIZE[1]
