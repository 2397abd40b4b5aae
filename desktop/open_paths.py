"""Photos and folders the app is started with: the menu entry's ``%F``, ``photoscribe gui PATH...``.

A folder is added to the library (scanned, watched and captioned, as Add Folder does). A photo is
shown: selected in the grid and opened in the viewer when the grid has it loaded, else in the
detail pane; a photo the library does not have yet has its folder added first, and is shown once
the scan has put it in the library.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

if TYPE_CHECKING:
    from photoscribe.desktop.main_window import MainWindow


class StartupPaths(QObject):
    """Opens ``paths`` in ``window``; lives as the window's child until the photo is shown."""

    def __init__(self, window: MainWindow, paths: Sequence[str | Path]) -> None:
        super().__init__(window)
        self.window = window
        self.photo: Path | None = None  # the photo to show, once the library has it
        folders: list[Path] = []
        photos: list[Path] = []
        for raw in paths:
            path = Path(raw).expanduser().absolute()
            if path.is_dir():
                folders.append(path)
            elif path.is_file():
                photos.append(path)
            else:
                window.show_message(f"{path} was not found, so it was not opened.")
        for photo in photos:
            if window.library.get_photo(str(photo)) is None and photo.parent not in folders:
                folders.append(photo.parent)  # not in the library yet: add the folder it is in
        if photos:
            self.photo = photos[0]  # the viewer shows one photo and steps to the others in the grid
            window.photos.queryFinished.connect(self._on_query_finished)
        for folder in folders:
            window.add_folder(str(folder))
        if self.photo is not None and not folders and not self.show_photo(fallback=False):
            window.photos.refresh()  # the grid's first query may be done already: one more says when

    def _on_query_finished(self) -> None:
        self.show_photo(fallback=True)

    def show_photo(self, *, fallback: bool) -> bool:
        """Show the photo if the library has it now; True once shown. In the grid and the viewer when
        the grid has loaded it; otherwise, with ``fallback``, in the detail pane."""
        if self.photo is None:
            return True
        info = self.window.library.get_photo(str(self.photo))
        if info is None:
            return False  # its folder is still being scanned: the query after the scan shows it
        row = self.window.photos.row_of(info.id)
        if row is not None:
            self.window.grid.select_row(row)
            self.window.open_viewer(row)
        elif fallback:  # beyond the rows loaded so far, or filtered out of the grid
            self.window.detail.show_photo(info.id)
        else:
            return False
        self.photo = None
        self.window.photos.queryFinished.disconnect(self._on_query_finished)
        return True
