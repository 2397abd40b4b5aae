"""Colours with a contrast guarantee (WCAG 2.2 AA) derived from the palette, light or dark.

Secondary text ("Needs review · by model", hints, empty states) is drawn with the palette's
``PlaceholderText`` role, which :func:`accessible_palette` makes at least 4.5:1 against both the
window and the base colour; status colours (errors in red, success in green) are adjusted the
same way by :func:`tone`. The contrast formula is WCAG's relative luminance.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

AA_TEXT = 4.5  # WCAG 2.2 AA, 1.4.3: body text
AA_LARGE = 3.0  # 18 pt, or 14 pt bold, and non-text contrast (1.4.11: focus rings, icons)
_MARGIN = 0.1  # aim a little above the threshold, so rounding to 8-bit colours never falls under it

ERROR = "#c62828"  # a red that reads as an error on a light window
OK = "#2e7d32"
WARNING = "#a05a00"

Role = QPalette.ColorRole
Group = QPalette.ColorGroup


def _channel(value: float) -> float:
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def luminance(color: QColor) -> float:
    """WCAG relative luminance of an opaque colour (0 black .. 1 white)."""
    return (
        0.2126 * _channel(color.redF()) + 0.7152 * _channel(color.greenF()) + 0.0722 * _channel(color.blueF())
    )


def over(color: QColor, background: QColor) -> QColor:
    """``color`` drawn over an opaque ``background`` (its alpha composited away)."""
    a = color.alphaF()
    return QColor.fromRgbF(
        color.redF() * a + background.redF() * (1 - a),
        color.greenF() * a + background.greenF() * (1 - a),
        color.blueF() * a + background.blueF() * (1 - a),
    )


def contrast(foreground: QColor, background: QColor) -> float:
    """The WCAG contrast ratio (1 .. 21) of ``foreground`` (composited) over ``background``."""
    fg = over(foreground, background)
    high, low = sorted((luminance(fg), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
    )


def readable(color: QColor, toward: QColor, *backgrounds: QColor, ratio: float = AA_TEXT) -> QColor:
    """``color``, blended toward ``toward`` (the text colour) just enough to reach ``ratio`` against
    every one of ``backgrounds``: as muted (or as red, green...) as the contrast allows."""
    opaque = [over(color, bg) for bg in backgrounds[:1]] or [QColor(color)]
    start = opaque[0]
    target = ratio + _MARGIN
    for step in range(0, 101):
        candidate = _mix(start, toward, step / 100)
        if all(contrast(candidate, bg) >= target for bg in backgrounds):
            return candidate
    return QColor(toward)


def muted(palette: QPalette, group: QPalette.ColorGroup = Group.Active) -> QColor:
    """Secondary text: the palette's placeholder colour made readable on the window and the base."""
    return readable(
        palette.color(group, Role.PlaceholderText),
        palette.color(group, Role.WindowText),
        palette.color(group, Role.Window),
        palette.color(group, Role.Base),
    )


def tone(palette: QPalette, color: str) -> QColor:
    """A status colour (:data:`ERROR`, :data:`OK`, :data:`WARNING`) readable on this palette's window."""
    return readable(
        QColor(color), palette.color(Role.WindowText), palette.color(Role.Window), palette.color(Role.Base)
    )


def accessible_palette(palette: QPalette) -> QPalette:
    """``palette`` with placeholder (secondary) text and selected text at AA contrast."""
    result = QPalette(palette)
    # Disabled too: a disabled box's placeholder can carry information ("Next to each photo").
    disabled = readable(
        palette.color(Group.Disabled, Role.PlaceholderText),
        palette.color(Group.Active, Role.WindowText),  # the disabled text colour is too faint to aim at
        palette.color(Group.Disabled, Role.Window),
        palette.color(Group.Disabled, Role.Base),
    )
    result.setColor(Group.Disabled, Role.PlaceholderText, disabled)
    for group in (Group.Active, Group.Inactive):
        result.setColor(group, Role.PlaceholderText, muted(palette, group))
        highlight = palette.color(group, Role.Highlight)
        text = palette.color(group, Role.HighlightedText)
        if contrast(text, highlight) < AA_TEXT:  # Fusion's #308cc6 under white is 3.7:1: deepen it
            result.setColor(group, Role.Highlight, readable(highlight, _far(text), text, ratio=AA_TEXT))
    return result


def _far(color: QColor) -> QColor:
    """Black for a light colour, white for a dark one."""
    return QColor("black") if luminance(color) > 0.18 else QColor("white")


class PaletteKeeper(QObject):
    """Re-derives the accessible palette when the system switches between light and dark."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.app = app
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(self.reapply)

    def reapply(self, *_: object) -> None:
        plain = QPalette(self.app.palette())
        plain.setResolveMask(0)  # no role set by us: Qt falls back to the theme's (new) palette
        self.app.setPalette(plain)
        self.app.setPalette(accessible_palette(self.app.palette()))


def install_accessible_palette(app: QApplication) -> None:
    """Give ``app`` the accessible palette, now and after each light/dark switch."""
    app.setPalette(accessible_palette(app.palette()))
    if app.findChild(PaletteKeeper) is None:
        PaletteKeeper(app)


def secondary(widget: QWidget) -> QWidget:
    """Mark ``widget`` (a label) as secondary text: muted, but readable (not disabled, which a screen
    reader announces as "unavailable" and which the styles draw at 1.6:1)."""
    widget.setForegroundRole(Role.PlaceholderText)
    return widget


def set_tone(widget: QWidget, color: str | None) -> None:
    """Draw ``widget``'s text in a status colour adjusted to contrast; ``None`` for the normal colour."""
    palette = QPalette(widget.palette())
    base = QApplication.palette(widget) if QApplication.instance() is not None else palette
    if color is None:
        palette.setColor(Role.WindowText, base.color(Role.WindowText))
    else:
        palette.setColor(Role.WindowText, tone(base, color))
    widget.setPalette(palette)
    widget.setProperty("tone", color or "")  # what tests and style sheets can ask
