"""The full-size viewer: one photo as large as the window allows, with its caption.

Space or Enter on the grid (or a double-click on a thumbnail) opens it; Left/Right (or
Page Up/Down) step through the photos in the grid's order, Home/End jump to the ends, and
Esc closes it. Ctrl++ / Ctrl+- (or Ctrl with the wheel) zoom, Ctrl+0 fits the photo to the
window again; F11 toggles full screen, which Esc leaves first. Photos are decoded on the job
runner, never on the GUI thread.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QKeySequence, QPalette, QPixmap, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QDialog, QFrame, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from photoscribe.core.files.imaging import load_image
from photoscribe.core.progress import check_cancel
from photoscribe.desktop.item_models import PhotoListModel, PhotoRoles
from photoscribe.desktop.style import muted, secondary
from photoscribe.desktop.thumbnail_loader import pil_to_qimage
from photoscribe.desktop.workers import Job, JobRunner

VIEW_SIDE = 2560  # decode at most this large: sharp on a 4K screen, quick on a 40 MP photo
ZOOM_STEP = 1.25
ZOOM_RANGE = (0.05, 8.0)  # of the decoded photo's pixels


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
        self.zoom: float | None = None  # None: the photo fits the window; else its scale
        self._name = ""
        self.setWindowTitle("Photo")
        self.setModal(False)
        self.setAccessibleDescription(
            "Left and Right show the previous and next photo; Ctrl+Plus and Ctrl+Minus zoom, Ctrl+0 "
            "fits the photo; F11 shows it full screen; Esc closes"
        )
        self.setPalette(_dark_palette(self.palette()))
        self.setAutoFillBackground(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.image.setAccessibleName("Photo")
        self.scroll_area = QScrollArea()  # scrolls a zoomed photo; the keys stay with the viewer
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scroll_area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setWidget(self.image)
        self.scroll_area.setMinimumSize(QSize(200, 150))
        self.scroll_area.viewport().setAutoFillBackground(False)
        self.scroll_area.viewport().installEventFilter(self)  # Ctrl + wheel zooms
        layout.addWidget(self.scroll_area, 1)
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
        secondary(self.position)
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
        self.zoom = None  # each photo opens fitted to the window
        self.scroll_area.setWidgetResizable(True)
        self._name = f"{name} · {row + 1} of {count}"
        self._show_position()
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

    def _show_position(self) -> None:
        scale = self.scale()
        zoom = "fit" if self.zoom is None else f"{round(scale * 100)} %"
        self.position.setText(f"{self._name} · {zoom}" if not self._pixmap.isNull() else self._name)

    # ------------------------------------------------------------------ zoom and full screen

    def fit_scale(self) -> float:
        """The scale at which the whole photo fits the window (at most 1: small photos stay sharp)."""
        if self._pixmap.isNull():
            return 1.0
        area = self.scroll_area.viewport().size()
        return min(1.0, area.width() / self._pixmap.width(), area.height() / self._pixmap.height())

    def scale(self) -> float:
        return self.fit_scale() if self.zoom is None else self.zoom

    def set_zoom(self, zoom: float | None) -> None:
        """Show the photo at ``zoom`` times its pixels (clamped to :data:`ZOOM_RANGE`); None fits it."""
        self.zoom = None if zoom is None else max(ZOOM_RANGE[0], min(zoom, ZOOM_RANGE[1]))
        self.scroll_area.setWidgetResizable(self.zoom is None)
        self._rescale()
        self._show_position()

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.scale() * factor)

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()

    def eventFilter(self, watched: Any, event: Any) -> bool:
        if isinstance(event, QWheelEvent) and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            delta = event.angleDelta().y()
            if delta:
                self.zoom_by(ZOOM_STEP if delta > 0 else 1 / ZOOM_STEP)
            return True
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = Qt.Key(event.key())
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if event.matches(QKeySequence.StandardKey.ZoomIn) or (
            ctrl and key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal)
        ):
            self.zoom_by(ZOOM_STEP)
            return
        if event.matches(QKeySequence.StandardKey.ZoomOut) or (ctrl and key == Qt.Key.Key_Minus):
            self.zoom_by(1 / ZOOM_STEP)
            return
        if ctrl and key == Qt.Key.Key_0:
            self.set_zoom(None)
            return
        if key == Qt.Key.Key_F11 or event.matches(QKeySequence.StandardKey.FullScreen):
            self.toggle_full_screen()
            return
        if key == Qt.Key.Key_Escape and self.isFullScreen():
            self.showNormal()  # Esc leaves full screen first; a second Esc closes
            return
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
        self._show_position()

    def _on_failed(self, job: Job, exc: BaseException) -> None:
        if job is self._job:
            self._job = None
            self.image.setText(f"This photo cannot be shown.\n{exc}")

    def _rescale(self) -> None:
        if self._pixmap.isNull():
            return
        size = self._pixmap.size() * self.scale()
        scaled = self._pixmap.scaled(
            size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.image.setPixmap(scaled)
        if self.zoom is not None:
            self.image.resize(scaled.size())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def closeEvent(self, event: Any) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None
        super().closeEvent(event)


def _dark_palette(palette: QPalette) -> QPalette:
    """Light text on a near-black window, secondary text still at AA contrast."""
    dark = QPalette(palette)
    for role, color in (
        (QPalette.ColorRole.Window, "#111111"),
        (QPalette.ColorRole.Base, "#111111"),
        (QPalette.ColorRole.WindowText, "#eeeeee"),
        (QPalette.ColorRole.Text, "#eeeeee"),
    ):
        dark.setColor(role, QColor(color))
    placeholder = QColor("#eeeeee")
    placeholder.setAlpha(128)
    dark.setColor(QPalette.ColorRole.PlaceholderText, placeholder)
    dark.setColor(QPalette.ColorRole.PlaceholderText, muted(dark))
    return dark
