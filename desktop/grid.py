"""The thumbnail grid: a ``QListView`` in icon mode with a delegate that paints each photo.

Each cell is a thumbnail above at most two lines of caption; words that
matched the search are painted bold on a highlight. Cells have one size
(``setUniformItemSizes``) and are laid out in batches, so a grid of 100,000
photos scrolls as smoothly as one of 100.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
    QTextCharFormat,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from photoscribe.desktop.item_models import PhotoRoles

THUMB_SIZES = (96, 128, 160, 200, 256)
DEFAULT_THUMB = 160
_PAD = 8
_CAPTION_LINES = 2
_TILE_ASPECT = 3 / 4
_GAP = 6  # thumbnails are shown as 4:3 tiles
HIGHLIGHT_COLOR = QColor(255, 214, 102)


def layout_caption(
    text: str,
    ranges: tuple[tuple[int, int], ...],
    font: QFont,
    width: int,
    max_lines: int,
    bold_color: QColor,
) -> QTextLayout:
    """Lay ``text`` out in at most ``max_lines`` lines of ``width`` px, eliding the last one.

    ``ranges`` (start, length) are drawn bold on :data:`HIGHLIGHT_COLOR`.
    """
    metrics = QFontMetrics(font)

    def build(value: str) -> tuple[QTextLayout, int]:
        layout = QTextLayout(value, font)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        layout.setTextOption(option)
        formats = []
        for start, length in ranges:
            if start >= len(value):
                continue
            fmt = QTextCharFormat()
            fmt.setFontWeight(QFont.Weight.Bold)
            fmt.setBackground(HIGHLIGHT_COLOR)
            fmt.setForeground(bold_color)
            span = QTextLayout.FormatRange()
            span.start, span.length, span.format = start, min(length, len(value) - start), fmt
            formats.append(span)
        layout.setFormats(formats)
        layout.beginLayout()
        y, count, last_start, end = 0.0, 0, 0, 0
        while count < max_lines:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            line.setPosition(QPointF(0.0, y))
            y += metrics.lineSpacing()
            last_start, end = line.textStart(), line.textStart() + line.textLength()
            count += 1
        # No probe line: an extra, unpositioned line would be drawn at (0, 0), over the first one.
        layout.endLayout()
        return layout, last_start if end < len(value) else -1

    layout, cut = build(text)
    room = width
    while cut >= 0 and room > 0:  # more text than lines: elide the last line
        # Measured in the regular font; bold highlights are wider, so shrink until it fits.
        tail = metrics.elidedText(text[cut:], Qt.TextElideMode.ElideRight, room)
        layout, overflow = build(text[:cut] + tail)
        if overflow < 0:
            break
        room -= max(8, width // 10)
    return layout


class PhotoDelegate(QStyledItemDelegate):
    """Paints a thumbnail, a reviewed badge and a two-line caption with the search match highlighted."""

    def __init__(self, parent: QWidget | None = None, thumb_size: int = DEFAULT_THUMB) -> None:
        super().__init__(parent)
        self.thumb_size = thumb_size

    @property
    def thumb_height(self) -> int:
        return round(self.thumb_size * _TILE_ASPECT)

    def cell_size(self, font: QFont) -> QSize:
        text_h = QFontMetrics(font).lineSpacing() * _CAPTION_LINES
        return QSize(self.thumb_size + 2 * _PAD, self.thumb_height + text_h + 3 * _PAD)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell_size(option.font)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        palette: QPalette = option.palette
        state = option.state
        cell = QRectF(option.rect).adjusted(2, 2, -2, -2)
        selected = bool(state & QStyle.StateFlag.State_Selected)
        if selected:
            fill = QColor(palette.color(QPalette.ColorRole.Highlight))
            fill.setAlpha(60)
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2))
            painter.setBrush(fill)
            painter.drawRoundedRect(cell, 8, 8)
        elif state & QStyle.StateFlag.State_MouseOver:
            hover = QColor(palette.color(QPalette.ColorRole.Text))
            hover.setAlpha(18)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(hover)
            painter.drawRoundedRect(cell, 8, 8)
        if state & QStyle.StateFlag.State_HasFocus:
            # The keyboard focus ring: a second, dashed outline inside the cell, visible whether or
            # not the focused photo is selected.
            ring = QPen(palette.color(QPalette.ColorRole.Highlight), 2, Qt.PenStyle.DashLine)
            painter.setPen(ring)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(cell.adjusted(3, 3, -3, -3), 6, 6)

        size = self.thumb_size
        box = QRect(
            option.rect.x() + (option.rect.width() - size) // 2,
            option.rect.y() + _PAD,
            size,
            self.thumb_height,
        )
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        badge_box = box
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            # The whole photo, fitted inside the tile and centred: a portrait is never cropped
            # (heads cut off), it stands with space on either side.
            fitted = QRect(QPoint(0, 0), pixmap.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio))
            fitted.moveCenter(box.center())
            clip = QPainterPath()
            clip.addRoundedRect(QRectF(fitted), 5, 5)
            painter.setClipPath(clip)
            painter.drawPixmap(fitted, pixmap, pixmap.rect())
            painter.setClipping(False)
            badge_box = fitted  # the reviewed badge sits on the photo's corner
        if index.data(PhotoRoles.Reviewed):
            self._paint_badge(painter, badge_box)
        elif index.data(PhotoRoles.LowConfidence):
            self._paint_low_confidence(painter, badge_box)

        text_rect = QRect(option.rect.x() + _PAD, box.bottom() + _PAD, option.rect.width() - 2 * _PAD, 0)
        font = QFont(option.font)
        caption = index.data(PhotoRoles.Caption)
        snippet, ranges = index.data(PhotoRoles.Highlights) or ("", ())
        text_color = palette.color(QPalette.ColorRole.Text)  # the selection fill is light: keep Text
        if not caption and not ranges:
            font.setItalic(True)
            text_color = palette.color(QPalette.ColorRole.PlaceholderText)
            snippet = index.data(Qt.ItemDataRole.DisplayRole) or ""
        layout = layout_caption(snippet, ranges, font, text_rect.width(), _CAPTION_LINES, QColor(20, 20, 20))
        painter.setPen(text_color)
        painter.setFont(font)
        # Centre short captions; long ones read better left-aligned.
        width = max((layout.lineAt(i).naturalTextWidth() for i in range(layout.lineCount())), default=0)
        offset = (text_rect.width() - width) / 2 if layout.lineCount() == 1 else 0
        layout.draw(painter, QPointF(text_rect.x() + offset, text_rect.y()))
        painter.restore()

    @staticmethod
    def _paint_low_confidence(painter: QPainter, box: QRect) -> None:
        """An amber "?" in the corner: the model is not sure its caption names only what is there
        (the tooltip and the accessible text say so in words)."""
        radius = 9
        centre = QPointF(box.right() - radius - 3, box.top() + radius + 3)
        painter.setPen(QPen(QColor("white"), 1.5))
        painter.setBrush(QColor(160, 90, 0))  # white "?" on it: 5.3:1 (WCAG AA for text)
        painter.drawEllipse(centre, radius, radius)
        font = QFont(painter.font())
        font.setBold(True)
        font.setPixelSize(13)
        painter.setFont(font)
        painter.setPen(QColor("white"))
        square = QRectF(centre.x() - radius, centre.y() - radius, 2 * radius, 2 * radius)
        painter.drawText(square, Qt.AlignmentFlag.AlignCenter, "?")

    @staticmethod
    def _paint_badge(painter: QPainter, box: QRect) -> None:
        """A green check in the thumbnail's corner: a person wrote or approved the caption."""
        radius = 9
        centre = QPointF(box.right() - radius - 3, box.top() + radius + 3)
        painter.setPen(QPen(QColor("white"), 1.5))
        painter.setBrush(QColor(46, 160, 67))
        painter.drawEllipse(centre, radius, radius)
        pen = QPen(QColor("white"), 2)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        path = QPainterPath()
        path.moveTo(centre.x() - 4, centre.y())
        path.lineTo(centre.x() - 1, centre.y() + 3)
        path.lineTo(centre.x() + 4, centre.y() - 3)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)


class PhotoGrid(QListView):
    """The photo grid. Emits :attr:`currentPhotoChanged` with the focused photo's id (or ``None``)."""

    currentPhotoChanged = Signal(object)
    viewRequested = Signal(int)  # Space, Enter or a double-click on a photo: its row
    removeRequested = Signal()  # Delete on the selection

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kept_photo: int | None = None  # the current photo across a model reset
        # A wrapping left-to-right *list* rather than IconMode: with uniform item sizes its layout
        # costs half as much (every page of rows the model appends lays out all rows again: about
        # 16 ms at 20,000 rows, 65 ms at 100,000 on a slow CPU). Layout in one pass, not Batched:
        # a batched relayout shrinks the scroll range to its first batch and so throws the user
        # back to the top each time a page arrives.
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setMouseTracking(True)
        self.setSpacing(0)  # the grid size holds the gaps
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setAccessibleName("Photos")
        self.setAccessibleDescription("Grid of photos; arrow keys move, F2 edits the caption")
        self.delegate = PhotoDelegate(self)
        self.setItemDelegate(self.delegate)
        self.empty_text = "No photos"
        self._apply_size()

    # ------------------------------------------------------------------ size

    @property
    def thumbnail_size(self) -> int:
        return self.delegate.thumb_size

    def set_thumbnail_size(self, size: int) -> None:
        self.delegate.thumb_size = max(THUMB_SIZES[0], min(int(size), THUMB_SIZES[-1]))
        self._apply_size()

    def zoom(self, steps: int) -> None:
        sizes = list(THUMB_SIZES)
        current = min(range(len(sizes)), key=lambda i: abs(sizes[i] - self.thumbnail_size))
        self.set_thumbnail_size(sizes[max(0, min(len(sizes) - 1, current + steps))])

    def _apply_size(self) -> None:
        """Spread the columns over the whole width, so that no band is left empty on the right."""
        cell = self.delegate.cell_size(self.font()) + QSize(_GAP, _GAP)
        # Leave room for the scroll bar, so that showing it does not drop a column.
        scroll = self.style().pixelMetric(self.style().PixelMetric.PM_ScrollBarExtent)
        width = max(cell.width(), self.width() - scroll - 2 * self.frameWidth() - 4)
        columns = max(1, width // cell.width())
        grid = QSize(width // columns, cell.height())
        if grid != self.gridSize():
            self.setGridSize(grid)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._apply_size()

    # ------------------------------------------------------------------ selection

    def setModel(self, model) -> None:
        super().setModel(model)
        if model is not None:
            self.selectionModel().currentChanged.connect(self._on_current)
            model.modelAboutToBeReset.connect(self._remember_current)
            model.modelReset.connect(self._restore_current)

    def _remember_current(self) -> None:
        same = getattr(self.model(), "same_query", False)  # a refresh, not a new search
        self._kept_photo = self.current_photo_id() if same else None

    def _restore_current(self) -> None:
        """After a refresh of the same query (the library changed), the photo that was current stays
        current when it is still shown (an edit in the caption editor stays there, unsaved, instead
        of being saved by the photo leaving)."""
        kept, self._kept_photo = self._kept_photo, None
        row_of = getattr(self.model(), "row_of", None)
        row = row_of(kept) if kept is not None and row_of is not None else None
        if row is not None:
            self.select_row(row)
        else:
            self.currentPhotoChanged.emit(self.current_photo_id())

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.currentPhotoChanged.emit(current.data(PhotoRoles.PhotoId) if current.isValid() else None)

    def current_photo_id(self) -> int | None:
        index = self.currentIndex()
        return index.data(PhotoRoles.PhotoId) if index.isValid() else None

    def selected_photo_ids(self) -> list[int]:
        if self.selectionModel() is None:
            return []
        rows = sorted(index.row() for index in self.selectionModel().selectedIndexes())
        ids = [self.model().index(row, 0).data(PhotoRoles.PhotoId) for row in rows]
        if not ids and self.current_photo_id() is not None:
            ids = [self.current_photo_id()]
        return ids

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        plain = event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
        if (
            key in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and plain
            and self.currentIndex().isValid()
        ):
            self.viewRequested.emit(self.currentIndex().row())
            return
        if key == Qt.Key.Key_Delete and self.selected_photo_ids():
            self.removeRequested.emit()
            return
        super().keyPressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        index = self.indexAt(event.position().toPoint())
        if index.isValid() and event.button() == Qt.MouseButton.LeftButton:
            self.viewRequested.emit(index.row())
            return
        super().mouseDoubleClickEvent(event)

    def select_row(self, row: int) -> None:
        index = self.model().index(row, 0)
        if index.isValid():
            self.setCurrentIndex(index)
            self.scrollTo(index)

    # ------------------------------------------------------------------ empty state

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.model() is not None and self.model().rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.15)
            painter.setFont(font)
            painter.drawText(
                self.viewport().rect().adjusted(24, 24, -24, -24),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self.empty_text,
            )
            painter.end()
