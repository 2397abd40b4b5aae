"""The app started with photos and folders (the menu entry's ``gui %F``): folders are added, a photo
is shown in the viewer, a photo the library lacks has its folder added first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sample_library import Sample, draw_photo

from photoscribe.core.library import Library
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.open_paths import StartupPaths


def test_a_photo_in_the_library_opens_in_the_viewer(
    qtbot: Any, sample: Sample, make_window: Callable[..., MainWindow]
) -> None:
    window = make_window(sample.library)
    StartupPaths(window, [sample.root / "harbour.jpg"])
    assert window.viewer is not None and window.viewer.isVisible()
    assert window.grid.selected_photo_ids() == [sample.ids["harbour"]]
    assert window.library.list_folders() == [sample.folder]  # nothing added


def test_a_folder_is_added_and_a_new_photo_is_shown_once_scanned(
    qtbot: Any, library: Library, tmp_path: Path, make_window: Callable[..., MainWindow]
) -> None:
    album = draw_photo(tmp_path / "Album" / "lake.jpg", (30, 100, 200), "circle").parent
    loose = draw_photo(tmp_path / "Downloads" / "red.png", (220, 30, 30), "square")
    window = make_window(library)
    StartupPaths(window, [str(loose), str(album)])
    folders = sorted(Path(f.path) for f in library.list_folders())
    assert folders == sorted([album.resolve(), loose.parent.resolve()])
    red = library.get_photo(str(loose))
    assert red is not None and library.get_photo(str(album / "lake.jpg")) is not None
    qtbot.waitUntil(lambda: window.viewer is not None, timeout=5000)
    assert window.grid.selected_photo_ids() == [red.id]


def test_a_missing_path_is_said_not_opened(
    qtbot: Any, library: Library, tmp_path: Path, make_window: Callable[..., MainWindow]
) -> None:
    window = make_window(library)
    StartupPaths(window, [tmp_path / "gone.jpg"])
    assert "gone.jpg was not found" in window.statusBar().currentMessage()
    assert library.list_folders() == [] and window.viewer is None
