"""A small live line plot of training metrics, painted with QPainter (no matplotlib).

Losses share the left axis; validation scores (CIDEr, BLEU-4) share the right
axis, because they live on a different scale (0..~3 versus 2..6 for a loss).
The x axis is the epoch, 1..N, for N up to a few hundred.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPalette, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from photoscribe.desktop.style import AA_LARGE, readable

LEFT, RIGHT = "left", "right"


@dataclass(frozen=True)
class Series:
    """One line: ``key`` in the values passed to :meth:`MetricPlot.add_point`."""

    key: str
    label: str
    axis: str  # LEFT or RIGHT
    color: str
    dashed: bool = False


SERIES: tuple[Series, ...] = (
    Series("train_loss", "Train loss", LEFT, "#1f77b4"),
    Series("val_loss", "Val loss", LEFT, "#e8710a"),
    Series("CIDEr", "CIDEr", RIGHT, "#2e9d3a", dashed=True),
    Series("BLEU-4", "BLEU-4", RIGHT, "#8e44ad", dashed=True),
)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2, 2.5 or 5 times a power of ten) covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    n = round((last - first) / step)
    return [first + i * step for i in range(n + 1)]


def integer_ticks(lo: int, hi: int, count: int = 8) -> list[int]:
    """Whole-number ticks from ``lo`` to ``hi`` (epochs): ``lo`` then round multiples, about ``count``."""
    span = max(hi - lo, 1)
    step = next((c for c in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500) if span / c <= count), 1000)
    first = step * math.ceil(lo / step)
    return [lo] + [t for t in range(first, hi + 1, step) if t - lo >= step / 2]


def _format_tick(value: float, ticks: Sequence[float]) -> str:
    """``value`` with as many decimals as the tick step needs (0.25 -> 2, 2.5 -> 1, 20 -> 0)."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = 0
    while decimals < 4 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    return f"{value:.{decimals}f}"


@dataclass(frozen=True)
class _Scale:
    """Where an epoch and a value land inside the plot's frame."""

    area: QRectF
    x_lo: int
    x_hi: int
    inset: float
    left: list[float]  # the left axis's ticks (losses)
    right: list[float]  # the right axis's ticks (scores)

    def sx(self, epoch: float) -> float:
        span = self.area.width() - 2 * self.inset
        return self.area.left() + self.inset + (epoch - self.x_lo) / (self.x_hi - self.x_lo) * span

    def sy(self, value: float, ticks: list[float]) -> float:
        lo, hi = ticks[0], ticks[-1]
        return self.area.bottom() - (value - lo) / ((hi - lo) or 1.0) * self.area.height()


class MetricPlot(QWidget):
    """Train / val loss (left axis) and validation CIDEr / BLEU-4 (right axis) per epoch."""

    MARGIN_LEFT = 58
    MARGIN_RIGHT = 58
    MARGIN_BOTTOM = 40

    def __init__(self, parent: QWidget | None = None, series: Sequence[Series] = SERIES) -> None:
        super().__init__(parent)
        self.series = tuple(series)
        self._points: dict[int, dict[str, float]] = {}
        self._epochs = 1
        self.setAccessibleName("Training metrics plot")
        self.setAccessibleDescription("No epochs finished yet.")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    # ----------------------------------------------------------------- data

    def set_epochs(self, total: int) -> None:
        """Fix the x range to 1..``total`` (it still grows if later points go beyond it)."""
        self._epochs = max(1, int(total))
        self.update()

    def add_point(self, epoch: int, values: Mapping[str, float]) -> None:
        """Add (or replace, e.g. after a resume) the values of one epoch; unknown keys are kept but not drawn."""
        self._points[int(epoch)] = {k: float(v) for k, v in values.items() if _finite(v)}
        self._describe()
        self.update()

    def clear(self) -> None:
        self._points.clear()
        self._describe()
        self.update()

    def epochs(self) -> list[int]:
        """The epochs that have a point, in order."""
        return sorted(self._points)

    def values(self, key: str) -> list[tuple[int, float]]:
        """``(epoch, value)`` pairs of one series."""
        return [(e, self._points[e][key]) for e in self.epochs() if key in self._points[e]]

    def point_count(self) -> int:
        return len(self._points)

    def _describe(self) -> None:
        if not self._points:
            self.setAccessibleDescription("No epochs finished yet.")
            return
        last = max(self._points)
        parts = [
            f"{s.label} {self._points[last][s.key]:.3f}" for s in self.series if s.key in self._points[last]
        ]
        self.setAccessibleDescription(f"{len(self._points)} epochs; epoch {last}: " + ", ".join(parts))

    # ----------------------------------------------------------------- geometry

    def _line_color(self, s: Series) -> QColor:
        """The series' colour, deepened or lightened to 3:1 on the chart (WCAG 1.4.11, dark themes too)."""
        pal = self.palette()
        return readable(
            QColor(s.color),
            pal.color(QPalette.ColorRole.WindowText),
            pal.color(QPalette.ColorRole.Base),
            ratio=AA_LARGE,
        )

    def _margins(self, fm: QFontMetrics) -> tuple[float, float]:
        """Room beside the frame (tick labels and a vertical axis title) and below it (ticks, "Epoch"),
        grown with the font so nothing overlaps at 200 % text size."""
        side = max(float(self.MARGIN_LEFT), fm.horizontalAdvance("0.000") + 1.6 * fm.height() + 16.0)
        bottom = max(float(self.MARGIN_BOTTOM), 2.0 * fm.height() + 12.0)
        return side, bottom

    def sizeHint(self) -> QSize:
        return QSize(560, 260)

    def minimumSizeHint(self) -> QSize:
        """320 x 180, or more at large text sizes: room for the margins and the placeholder."""
        fm = QFontMetrics(self.font())
        side, bottom = self._margins(fm)
        width = 2 * side + fm.horizontalAdvance("Metrics appear") + 24
        height = bottom + 3 * (fm.height() + 4) + 3 * fm.height() + 20  # legend, frame
        return QSize(max(320, round(width)), max(180, round(height)))

    def _x_range(self) -> tuple[int, int]:
        hi = max([self._epochs, *self._points.keys()])
        return 1, max(hi, 2)

    def _y_range(self, axis: str) -> list[float]:
        keys = {s.key for s in self.series if s.axis == axis}
        data = [v for point in self._points.values() for k, v in point.items() if k in keys]
        if not data:
            return nice_ticks(0.0, 1.0)
        lo, hi = min(data), max(data)
        if axis == RIGHT:  # scores: anchor at zero so that progress reads as height
            lo = min(0.0, lo)
            hi = max(hi, 1e-3)
        else:
            pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 0.05)
            lo, hi = lo - pad, hi + pad
            lo = max(lo, 0.0) if min(data) >= 0 else lo
        return nice_ticks(lo, hi)

    # ----------------------------------------------------------------- painting

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, p: QPainter) -> None:
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        fm = QFontMetrics(QFont(self.font()))
        rows = self._legend_rows(fm)
        top = len(rows) * (fm.height() + 4) + 10
        side, bottom = self._margins(fm)
        area = QRectF(
            side,
            top,
            max(10.0, self.width() - 2 * side),
            max(10.0, self.height() - top - bottom),
        )
        x_lo, x_hi = self._x_range()
        inset = min(12.0, area.width() / 10)  # keep the first and last points off the frame
        scale = _Scale(area, x_lo, x_hi, inset, self._y_range(LEFT), self._y_range(RIGHT))
        self._paint_axes(p, fm, scale, text, side)
        epochs = self.epochs()
        self._paint_lines(p, scale, epochs)
        if not epochs:
            p.setPen(text)
            p.drawText(  # wrapped inside the frame: never over the axis titles at large text sizes
                area.adjusted(6, 6, -6, -6),
                int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                "Metrics appear after the first epoch",
            )
        self._legend(p, fm, rows)

    def _paint_axes(self, p: QPainter, fm: QFontMetrics, scale: _Scale, text: QColor, side: float) -> None:
        """The grid, the ticks of both value axes and the epoch axis, the frame and the axis titles."""
        area, left, right = scale.area, scale.left, scale.right
        grid = QColor(text)
        grid.setAlpha(40)
        frame = QColor(text)
        frame.setAlpha(120)
        p.setPen(QPen(grid, 1))
        for t in left:
            y = scale.sy(t, left)
            p.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
        p.setPen(text)
        for t in left:
            label = _format_tick(t, left)
            y = scale.sy(t, left)
            p.drawText(
                QRectF(0, y - fm.height() / 2, area.left() - 6, fm.height()),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                label,
            )
        for t in right:
            label = _format_tick(t, right)
            y = scale.sy(t, right)
            p.drawLine(QPointF(area.right(), y), QPointF(area.right() + 4, y))
            p.drawText(
                QRectF(area.right() + 7, y - fm.height() / 2, side - 9, fm.height()),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                label,
            )
        for t in integer_ticks(scale.x_lo, scale.x_hi):
            x = scale.sx(t)
            p.drawLine(QPointF(x, area.bottom()), QPointF(x, area.bottom() + 4))
            p.drawText(
                QRectF(x - 20, area.bottom() + 5, 40, fm.height()),
                int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
                str(t),
            )
        p.setPen(QPen(frame, 1))
        p.drawRect(area)
        p.setPen(text)
        p.drawText(
            QRectF(area.left(), self.height() - fm.height() - 3, area.width(), fm.height()),
            int(Qt.AlignmentFlag.AlignHCenter),
            "Epoch",
        )
        self._vertical_text(p, "Loss", QPointF(fm.height() * 0.9, area.center().y()), -90)
        self._vertical_text(p, "Score", QPointF(self.width() - fm.height() * 0.4, area.center().y()), -90)

    def _paint_lines(self, p: QPainter, scale: _Scale, epochs: list[int]) -> None:
        """Each series as one polyline (so dashes run on across points), with dots while there are few."""
        for s in self.series:
            ticks = scale.left if s.axis == LEFT else scale.right
            pts = [
                QPointF(scale.sx(e), scale.sy(self._points[e][s.key], ticks))
                for e in epochs
                if s.key in self._points[e]
            ]
            if not pts:
                continue
            pen = QPen(self._line_color(s), 2)
            if s.dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.drawPolyline(QPolygonF(pts))
            if len(pts) <= 40:
                p.setBrush(self._line_color(s))
                p.setPen(QPen(self._line_color(s), 1))
                for pt in pts:
                    p.drawEllipse(pt, 3.0, 3.0)
                p.setBrush(Qt.BrushStyle.NoBrush)

    def _legend_rows(self, fm: QFontMetrics) -> list[list[tuple[Series, str, float]]]:
        """Legend entries ``(series, label, width)`` flowed into rows that fit the widget's width."""
        rows: list[list[tuple[Series, str, float]]] = [[]]
        used, room = 0.0, max(100.0, self.width() - 16.0)
        for s in self.series:
            label = s.label + (" (right)" if s.axis == RIGHT else "")
            width = 24.0 + fm.horizontalAdvance(label) + 14.0
            if rows[-1] and used + width > room:
                rows.append([])
                used = 0.0
            rows[-1].append((s, label, width))
            used += width
        return rows

    def _legend(self, p: QPainter, fm: QFontMetrics, rows: list[list[tuple[Series, str, float]]]) -> None:
        text = self.palette().color(QPalette.ColorRole.WindowText)
        for index, row in enumerate(rows):
            x = max(8.0, (self.width() - sum(w for _, _, w in row)) / 2)
            y = 6 + index * (fm.height() + 4) + fm.height() / 2
            for s, label, width in row:
                pen = QPen(self._line_color(s), 2)
                if s.dashed:
                    pen.setStyle(Qt.PenStyle.DashLine)
                p.setPen(pen)
                p.drawLine(QPointF(x, y), QPointF(x + 18, y))
                p.setPen(text)
                p.drawText(
                    QRectF(x + 24, y - fm.height() / 2, width - 24, fm.height()),
                    int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                    label,
                )
                x += width

    @staticmethod
    def _vertical_text(p: QPainter, label: str, centre: QPointF, angle: float) -> None:
        p.save()
        p.translate(centre)
        p.rotate(angle)
        fm = p.fontMetrics()
        p.drawText(QPointF(-fm.horizontalAdvance(label) / 2, fm.ascent() / 2 - 1), label)
        p.restore()


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(float(value))
