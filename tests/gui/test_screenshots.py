"""Screenshots for the docs: the main window (grid + detail with attention) and the welcome page.

They are taken at 1280 x 800 with ``QWidget.grab()``, from a library built like the other GUI
tests (no trained model needed), into a temporary folder; ``scripts/update_screenshots.sh``
writes them to ``docs/screenshots/`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, TiffImagePlugin
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QScrollArea
from sample_library import PHOTOS, add_caption, draw_photo, register_photo

from photoscribe.core.library import Library
from photoscribe.core.progress import Progress
from photoscribe.desktop.background import ModelState
from photoscribe.desktop.main_window import PAGE_LIBRARY, PAGE_WELCOME, MainWindow

BACKGROUNDS = {
    "beach": "yellow",
    "forest": "green",
    "harbour": "blue",
    "tomato": "red",
    "lavender": "purple",
    "snow": "pale grey",
    "orange": "orange",
    "night": "dark blue",
    "meadow": "green",
    "rose": "pink",
    "desert": "sand",
    "lake": "turquoise",
}
SIZE = (1280, 800)
MakeWindow = Callable[..., MainWindow]


def add_exif(path: Path, taken: datetime) -> None:
    """Give a drawn photo the EXIF a camera would write (the detail pane shows it)."""
    with Image.open(path) as img:
        image = img.copy()
    exif = Image.Exif()
    exif[0x010F] = "FUJIFILM"
    exif[0x0110] = "X-T3"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
    sub[0x829A] = TiffImagePlugin.IFDRational(1, 250)
    sub[0x829D] = TiffImagePlugin.IFDRational(56, 10)
    sub[0x8827] = 200
    sub[0x920A] = TiffImagePlugin.IFDRational(35, 1)
    sub[0xA434] = "XF35mmF2 R WR"
    image.save(path, exif=exif, quality=92)


def colourful(image: QImage) -> int:
    """How many distinct colours a coarse sample of the image has (a blank grab has one or two)."""
    return len({image.pixel(x, y) for x in range(0, image.width(), 16) for y in range(0, image.height(), 16)})


def save(widget: Any, path: Path) -> QImage:
    for _ in range(3):  # deliver pending layout requests (no waiting on a clock)
        QApplication.sendPostedEvents()
        QApplication.processEvents()
    image = widget.grab().toImage()
    assert (image.width(), image.height()) == SIZE
    assert image.save(str(path))
    assert QImage(str(path)).size() == image.size()  # written, and reads back
    return image


def test_main_window_screenshot(
    qtbot: Any, make_window: MakeWindow, library: Library, tmp_path: Path, screenshot_dir: Path
) -> None:
    root = tmp_path / "Pictures" / "Summer 2024"
    folder = library.add_folder_record(root)
    ids = {}
    start = datetime(2024, 6, 1, 9, 30)
    for i, (stem, colour, shape, _) in enumerate(PHOTOS):
        bg = BACKGROUNDS[stem]
        caption = (
            f"a white {shape} on {'an' if bg[0] in 'aeiou' else 'a'} {bg} background"  # true to the picture
        )
        taken = start + timedelta(hours=5 * i)
        path = draw_photo(root / f"{stem}.jpg", colour, shape, size=(800, 600))
        add_exif(path, taken)
        ids[stem] = register_photo(library, folder, path, taken_at=taken)
        add_caption(library, ids[stem], caption, [f"a white {shape}", f"a picture of a white {shape}"])
    for stem in ("beach", "forest", "snow"):
        library.mark_reviewed(ids[stem])
    library.set_user_caption(ids["lake"], "a white square on a turquoise background, edited by hand")

    window = make_window(library)
    window.show()
    window.resize(*SIZE)
    qtbot.waitExposed(window)
    assert window.pages.currentIndex() == PAGE_LIBRARY
    window.splitter.setSizes([220, 640, 420])
    window.status.set_model(ModelState(path="shapes.pt", name="shapes-tinyresnet"))
    window.status.set_captioning_available(True)
    window.status.set_caption_progress(Progress("caption", 348, 1210, rate=2.6, eta_s=331))

    window.grid.select_row(window.photos.row_of(ids["meadow"]))
    strip = window.detail.attention
    qtbot.waitUntil(lambda: strip.words[:3] == ["a", "white", "circle"], timeout=5000)
    strip.set_current(2)  # "circle"
    qtbot.waitUntil(lambda: all(window.thumbnails.cached(pid) for pid in ids.values()), timeout=20_000)
    image = save(window, screenshot_dir / "main_window.png")
    scroll = window.detail.findChild(QScrollArea)
    # In a 1280 x 800 window the caption, its buttons and the keywords are in view without scrolling
    # (the photo details below may scroll: the pane never widens past the window for a long path).
    port = scroll.viewport()
    for widget in (window.detail.caption_edit, window.detail.review_button, window.detail.keywords):
        bottom = widget.mapTo(port, widget.rect().bottomLeft()).y()
        assert 0 <= bottom <= port.height(), type(widget).__name__
    assert colourful(image) > 200


@pytest.fixture
def torch_home(monkeypatch: pytest.MonkeyPatch) -> None:
    # Where a user's torch cache would be: the welcome page says where the weights go.
    monkeypatch.setenv("TORCH_HOME", "/home/you/.cache/torch")


def test_welcome_screenshot(
    qtbot: Any, make_window: MakeWindow, library: Library, torch_home: None, screenshot_dir: Path
) -> None:
    window = make_window(library)
    window.show()
    window.resize(*SIZE)
    qtbot.waitExposed(window)
    assert window.pages.currentIndex() == PAGE_WELCOME
    assert "/home/you/.cache/torch/hub/checkpoints/resnet50-" in window.welcome.weights_text.text()
    image = save(window, screenshot_dir / "welcome.png")
    assert colourful(image) > 3


@pytest.mark.bundled_model
def test_demo_library_screenshot(qtbot: Any, make_window: MakeWindow, screenshot_dir: Path) -> None:
    """The README's first picture: the bundled demo photos, captioned by the bundled model."""
    from photoscribe.core.demo import prepare_demo

    result = prepare_demo()
    library = Library.open(result.library_path)
    try:
        window = make_window(library)
        window.show()
        window.resize(*SIZE)
        qtbot.waitExposed(window)
        window.splitter.setSizes([200, 660, 420])
        window.status.set_model(
            ModelState(path=str(result.model_path), name="default (Lite0, general photos)")
        )
        window.status.set_captioning_available(True)
        dog = library.get_photo(result.photos_dir / "000000377575.jpg")  # a dog tied to a fire hydrant
        assert dog is not None
        window.grid.select_row(window.photos.row_of(dog.id))
        qtbot.waitUntil(
            lambda: window.detail.data is not None and window.detail.data.photo.id == dog.id, timeout=10_000
        )
        assert "dog" in window.detail.caption_edit.text()
        strip = window.detail.attention
        qtbot.waitUntil(lambda: bool(strip.words), timeout=10_000)
        if "dog" in strip.words:
            strip.set_current(strip.words.index("dog"))  # where the model looked for "dog"
        qtbot.waitUntil(lambda: window.photos.rowCount() >= 12, timeout=10_000)
        viewport = window.grid.viewport().rect()
        shown = [
            window.photos.photo_row(r).photo_id
            for r in range(window.photos.rowCount())
            if window.grid.visualRect(window.photos.index(r, 0)).intersects(viewport)
        ]
        assert len(shown) >= 6
        qtbot.waitUntil(lambda: all(window.thumbnails.cached(pid) for pid in shown), timeout=60_000)
        image = save(window, screenshot_dir / "demo_library.png")
        assert colourful(image) > 200
    finally:
        library.close()
