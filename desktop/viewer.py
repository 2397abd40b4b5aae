"""The full-size viewer: one photo as large as the window allows, with its caption.

Space or Enter on the grid (or a double-click on a thumbnail) opens it; Left/Right (or
Page Up/Down) step through the photos in the grid's order, Home/End jump to the ends, and
Esc closes it. Photos are decoded on the job runner, never on the GUI thread.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import QDialog, QLabel, QSizePolicy, QVBoxLayout, QWidget

from photoscribe.core.imaging import load_image
from photoscribe.core.progress import check_cancel
from photoscribe.desktop.models import PhotoListModel, PhotoRoles
from photoscribe.desktop.thumbnails import pil_to_qimage
from photoscribe.desktop.workers import Job, JobRunner

VIEW_SIDE = 2560  # decode at most this large: sharp on a 4K screen, quick on a 40 MP photo


def load_view_image(path: str, *, on_progress: Any = None, cancel: Any = None) -> Any:
    """The photo as a QImage, upright, at most :data:`VIEW_SIDE` px (runs on a worker thread)."""
    image = load_image(path, target_size=VIEW_SIDE)
    check_cancel(cancel)
    if max(image.size) > VIEW_SIDE:
        image.thumbnail((VIEW_SIDE, VIEW_SIDE))
    return pil_to_qimage(image)


class PhotoViewer(QDialog):
    """Shows the grid's photos one at a time, large.

    Signals:
        rowChanged(int): the viewer moved to another row of the grid (the grid follows it).
    """

    rowChanged = Signal(int)

    def __init__(self, model: PhotoListModel, row: int, runner: JobRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.model, self.runner = model, runner
        self.row = -1
        self._job: Job | None = None
        self._pixmap = QPixmap()
        self.setWindowTitle("Photo")
        self.setModal(False)
        self.setStyleSheet("PhotoViewer { background: #111; } QLabel { color: #eee; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.image.setMinimumSize(QSize(200, 150))
        layout.addWidget(self.image, 1)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption.setAccessibleName("Caption")
        font = self.caption.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.caption.setFont(font)
        layout.addWidget(self.caption)
        self.position = QLabel()
        self.position.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.position.setEnabled(False)
        layout.addWidget(self.position)
        self.resize(1100, 800)
        self.show_row(row)

    # ------------------------------------------------------------------ navigation

    def show_row(self, row: int) -> None:
        count = self.model.rowCount()
        if count == 0:
            self.close()
            return
        row = max(0, min(row, count - 1))
        if row == self.row:
            return
        self.row = row
        index = self.model.index(row, 0)
        name = os.path.basename(index.data(PhotoRoles.Path) or "")
        caption = index.data(PhotoRoles.Caption) or ""
        self.caption.setText(caption or "No caption yet")
        self.image.setAccessibleDescription(caption or name)
        self.position.setText(f"{name} · {row + 1} of {count}")
        self.setWindowTitle(name or "Photo")
        self.image.setText("Loading…")
        self._pixmap = QPixmap()
        if self._job is not None:
            self._job.cancel()
        job = Job(load_view_image, index.data(PhotoRoles.Path))
        self._job = job
        self.runner.submit(
            job,
            receiver=self,
            on_finished=lambda image: self._on_loaded(job, image),
            on_failed=lambda exc, _tb: self._on_failed(job, exc),
        )
        self.rowChanged.emit(row)

    def step(self, delta: int) -> None:
        if self.row + delta >= self.model.rowCount() and self.model.canFetchMore(self.model.index(-1, 0)):
            self.model.fetchMore(self.model.index(-1, 0))  # the next page of the grid
        self.show_row(self.row + delta)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = Qt.Key(event.key())
        moves = {
            Qt.Key.Key_Right: 1,
            Qt.Key.Key_Down: 1,
            Qt.Key.Key_PageDown: 1,
            Qt.Key.Key_Space: 1,
            Qt.Key.Key_Left: -1,
            Qt.Key.Key_Up: -1,
            Qt.Key.Key_PageUp: -1,
            Qt.Key.Key_Backspace: -1,
        }
        if key in moves:
            self.step(moves[key])
        elif key == Qt.Key.Key_Home:
            self.show_row(0)
        elif key == Qt.Key.Key_End:
            self.show_row(self.model.rowCount() - 1)
        else:
            super().keyPressEvent(event)  # Esc closes

    # ------------------------------------------------------------------ picture

    def _on_loaded(self, job: Job, image: Any) -> None:
        if job is not self._job:
            return
        self._job = None
        self._pixmap = QPixmap.fromImage(image)
        self._rescale()

    def _on_failed(self, job: Job, exc: BaseException) -> None:
        if job is self._job:
            self._job = None
            self.image.setText(f"This photo cannot be shown.\n{exc}")

    def _rescale(self) -> None:
        if self._pixmap.isNull():
            return
        target = self.image.size()
        self.image.setPixmap(
            self._pixmap.scaled(
                target, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def closeEvent(self, event: Any) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None
        super().closeEvent(event)
