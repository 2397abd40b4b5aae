"""Parts the dialogs share: a button that runs a slot, a tab chain, a message label, a dialog over a scope."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QWidget

from photoscribe.core.library.export_scope import WHOLE_LIBRARY, ExportScope
from photoscribe.desktop.style import ERROR, OK, set_tone
from photoscribe.desktop.workers import JobRunner

if TYPE_CHECKING:
    from photoscribe.core.library.database import Library


def push_button(text: str, accessible: str, slot: Callable[[], Any] | None = None) -> QPushButton:
    """A button that is never the default one (Enter in a line edit must not press it); a click calls ``slot``."""
    button = QPushButton(text)
    button.setAccessibleName(accessible)
    button.setAutoDefault(False)
    if slot is not None:
        on_click(button, slot)
    return button


def on_click(button: QPushButton, slot: Callable[[], Any]) -> None:
    """Call ``slot`` with no argument when ``button`` is clicked."""
    button.clicked.connect(lambda _checked=False: slot())


def set_tab_chain(widgets: Iterable[QWidget]) -> None:
    """Tab moves through ``widgets`` in this order."""
    for first, second in itertools.pairwise(widgets):
        QWidget.setTabOrder(first, second)


def wrapping_label(text: str) -> QLabel:
    """A label whose text wraps and can be selected with the mouse (to copy a path or an error)."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def show_message(label: QLabel, text: str, *, error: bool = False, ok: bool = False) -> None:
    """Show ``text`` in ``label`` in the error or the success colour (hide the label when empty)."""
    label.setText(text)
    set_tone(label, ERROR if error else OK if ok else None)
    label.setVisible(bool(text))


class ScopedJobDialog(QDialog):
    """A dialog that runs one job over the photos of a scope: the whole library, the main window's
    selection or its current view (search, folder, filter). Subclasses build themselves in ``_set_up``."""

    title = ""  # the window title, also the dialog's accessible name

    def __init__(
        self,
        parent: QWidget | None,
        library: Library,
        runner: JobRunner | None = None,
        *,
        scope: ExportScope = WHOLE_LIBRARY,
    ) -> None:
        """``scope``: the main window's selection, or its current view (search, folder, filter)."""
        super().__init__(parent)
        self.library = library
        self.scope = scope
        self.runner = runner if runner is not None else JobRunner(parent=self)
        self.setWindowTitle(self.title)
        self.setAccessibleName(self.title)
        self._set_up()

    def _set_up(self) -> None:
        """The subclass's own state and widgets."""
        raise NotImplementedError
