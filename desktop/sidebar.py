"""The sidebar: smart collections and folders, each with its photo count on the right."""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from photoscribe.desktop.item_models import FolderRoles
from photoscribe.desktop.queries import (
    FILTER_ALL,
    FILTER_NEEDS_REVIEW,
    FILTER_RECENT,
    FILTER_UNCAPTIONED,
    KIND_FOLDER,
)

_ROW_PAD = 6
_ICON = 16
MIN_WIDTH = 170


def text_color_for(palette: QPalette, selected: bool) -> QColor:
    return palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Highlight)


def paint_icon(painter: QPainter, kind: str, rect: QRectF, color: QColor) -> None:
    """Small line icons for the smart collections (drawn, so they match any theme)."""
    painter.save()
    pen = QPen(color, 1.6)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    r = rect.adjusted(1.5, 1.5, -1.5, -1.5)
    if kind == FILTER_ALL:  # four tiles
        half = r.width() / 2
        for dx in (0.0, half + 0.8):
            for dy in (0.0, half + 0.8):
                painter.drawRoundedRect(QRectF(r.x() + dx, r.y() + dy, half - 0.8, half - 0.8), 1.5, 1.5)
    elif kind == FILTER_UNCAPTIONED:  # an empty speech bubble
        painter.drawRoundedRect(QRectF(r.x(), r.y(), r.width(), r.height() * 0.72), 3, 3)
        path = QPainterPath(QPointF(r.x() + r.width() * 0.3, r.y() + r.height() * 0.72))
        path.lineTo(QPointF(r.x() + r.width() * 0.25, r.bottom()))
        path.lineTo(QPointF(r.x() + r.width() * 0.55, r.y() + r.height() * 0.72))
        painter.drawPath(path)
    elif kind == FILTER_NEEDS_REVIEW:  # an eye
        path = QPainterPath(QPointF(r.left(), r.center().y()))
        path.quadTo(QPointF(r.center().x(), r.top() - 2), QPointF(r.right(), r.center().y()))
        path.quadTo(QPointF(r.center().x(), r.bottom() + 2), QPointF(r.left(), r.center().y()))
        painter.drawPath(path)
        painter.setBrush(color)
        painter.drawEllipse(r.center(), 2.2, 2.2)
    elif kind == FILTER_RECENT:  # a clock
        painter.drawEllipse(r)
        painter.drawLine(r.center(), QPointF(r.center().x(), r.top() + 3))
        painter.drawLine(r.center(), QPointF(r.right() - 3.5, r.center().y()))
    painter.restore()


def _is_first_folder(index: QModelIndex | QPersistentModelIndex) -> bool:
    if index.data(FolderRoles.Kind) != KIND_FOLDER:
        return False
    previous = index.sibling(index.row() - 1, 0)
    return not previous.isValid() or previous.data(FolderRoles.Kind) != KIND_FOLDER


class SidebarDelegate(QStyledItemDelegate):
    """Icon, name and a right-aligned count; a "Folders" heading above the first folder."""

    def _header_height(self, font: QFont) -> int:
        return QFontMetrics(font).height() + 14

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        height = max(QFontMetrics(option.font).height(), _ICON) + 2 * _ROW_PAD
        if _is_first_folder(index):
            height += self._header_height(option.font)
        return QSize(160, height)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = option.palette
        rect = QRect(option.rect)
        if _is_first_folder(index):
            header = QRect(rect.x() + 12, rect.y(), rect.width() - 24, self._header_height(option.font))
            small = QFont(option.font)
            small.setPointSizeF(small.pointSizeF() * 0.85)
            small.setBold(True)
            painter.setFont(small)
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(header, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, "FOLDERS")
            rect.setTop(header.bottom() + 2)
        body = rect.adjusted(6, 1, -6, -1)
        # Selected with the keyboard focus: white on the full highlight (AA, see desktop.style);
        # selected without it: normal text on a light tint of the highlight.
        focused = bool(option.state & QStyle.StateFlag.State_HasFocus)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        strong = selected and focused
        if selected:
            fill = QColor(palette.color(QPalette.ColorRole.Highlight))
            fill.setAlpha(255 if strong else 60)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(body, 6, 6)
        elif option.state & QStyle.StateFlag.State_MouseOver:
            hover = QColor(palette.color(QPalette.ColorRole.Text))
            hover.setAlpha(16)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(hover)
            painter.drawRoundedRect(body, 6, 6)

        icon_rect = QRect(body.x() + 8, body.center().y() - _ICON // 2, _ICON, _ICON)
        kind = index.data(FolderRoles.Kind)
        if kind == KIND_FOLDER and option.widget is not None:
            option.widget.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon).paint(painter, icon_rect)
        else:
            paint_icon(painter, kind, QRectF(icon_rect), QColor(text_color_for(palette, strong)))
        text_color = palette.color(
            QPalette.ColorRole.HighlightedText if strong else QPalette.ColorRole.WindowText
        )
        count = index.data(FolderRoles.Count)
        count_text = f"{count:,}" if isinstance(count, int) else ""
        metrics = QFontMetrics(option.font)
        count_width = metrics.horizontalAdvance(count_text) + 10 if count_text else 0
        text_rect = body.adjusted(8 + _ICON + 8, 0, -8 - count_width, 0)
        label = metrics.elidedText(index.data() or "", Qt.TextElideMode.ElideMiddle, text_rect.width())
        painter.setFont(option.font)
        painter.setPen(text_color)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label)
        if count_text:
            painter.setPen(text_color if strong else palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                body.adjusted(0, 0, -10, 0),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                count_text,
            )
        painter.restore()


class Sidebar(QListView):
    """Emits :attr:`entryActivated` with (kind, folder id or None) when the current entry changes."""

    entryActivated = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setItemDelegate(SidebarDelegate(self))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setMouseTracking(True)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setUniformItemSizes(False)
        self.setAccessibleName("Collections and folders")
        self.setMinimumWidth(MIN_WIDTH)
        self.viewport().setAutoFillBackground(False)

    def setModel(self, model) -> None:
        super().setModel(model)
        if model is not None:
            self.selectionModel().currentChanged.connect(self._on_current)
            for signal in (model.modelReset, model.rowsInserted, model.dataChanged):
                signal.connect(self.fit_labels)
        self.fit_labels()

    def needed_width(self) -> int:
        """The width at which no collection's name is cut ("Nee…iew") at this font size; folder
        names, which can be any length, are shortened in the middle (whole in the tooltip)."""
        model = self.model()
        if model is None:
            return MIN_WIDTH
        metrics = self.fontMetrics()
        widest = 0
        for row in range(model.rowCount()):
            index = model.index(row, 0)
            if index.data(FolderRoles.Kind) == KIND_FOLDER:
                continue
            count = index.data(FolderRoles.Count)
            count_width = metrics.horizontalAdvance(f"{count:,}") + 10 if isinstance(count, int) else 0
            widest = max(widest, metrics.horizontalAdvance(index.data() or "") + count_width)
        chrome = 2 * 6 + 8 + _ICON + 8 + 8 + 2 * self.frameWidth() + 4  # as SidebarDelegate.paint lays out
        return max(MIN_WIDTH, widest + chrome + self.verticalScrollBar().sizeHint().width())

    def fit_labels(self, *_: object) -> None:
        self.setMinimumWidth(self.needed_width())

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self.fit_labels()

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.entryActivated.emit(current.data(FolderRoles.Kind), current.data(FolderRoles.FolderId))

    def current_entry(self) -> tuple[str, int | None]:
        index = self.currentIndex()
        if not index.isValid():
            return (FILTER_ALL, None)
        return (index.data(FolderRoles.Kind), index.data(FolderRoles.FolderId))

    def select_entry(self, kind: str, folder_id: int | None = None) -> bool:
        model = self.model()
        for row in range(model.rowCount()):
            index = model.index(row, 0)
            if index.data(FolderRoles.Kind) == kind and index.data(FolderRoles.FolderId) == folder_id:
                self.setCurrentIndex(index)
                return True
        return False
