"""Where the window's actions are offered: the menu bar, the grid's context menu, the detail pane's buttons.

Each layout is a list of action names from :data:`~photoscribe.desktop.window_actions.REGISTRY`
(``SEPARATOR`` between groups); the actions themselves are made once, by the window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

SEPARATOR = "-"

MENU_BAR: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("&File", ("add_folder", "remove_folder", SEPARATOR, "export", "write_metadata", SEPARATOR, "quit")),
    (
        "&Edit",
        (
            "undo",
            "redo",
            SEPARATOR,
            "save_caption",
            "copy",
            "edit_caption",
            "mark_reviewed",
            SEPARATOR,
            "find",
            SEPARATOR,
            "copy_caption",
            "remove_photos",
            "show_in_folder",
        ),
    ),
    ("&View", ("show_sidebar", "show_detail", SEPARATOR, "zoom_in", "zoom_out")),
    (
        "&Model",
        (
            "model",
            "import_model",
            SEPARATOR,
            "recaption_selection",
            "recaption_all",
            "retry_failed",
            "pause",
            SEPARATOR,
            "retrain",
        ),
    ),
    ("&Help", ("about", "data_folder", "log")),
)

# Right-click on a photo: what applies to the photos under the pointer.
GRID_MENU = (
    "view_photo",
    SEPARATOR,
    "copy_caption",
    "copy",
    "show_in_folder",
    SEPARATOR,
    "recaption_selection",
    "mark_reviewed",
    SEPARATOR,
    "write_metadata",
    SEPARATOR,
    "remove_photos",
)

# Several photos selected: the detail pane offers these as buttons.
SELECTION_BUTTONS = ("mark_reviewed", "recaption_selection", "copy", "copy_caption", "remove_photos")

# Also added to the window itself, not only to the Edit menu.
ON_WINDOW = ("undo", "redo")


def fill_menu(menu: QMenu, names: Sequence[str], actions: Mapping[str, QAction]) -> None:
    for name in names:
        if name == SEPARATOR:
            menu.addSeparator()
        else:
            menu.addAction(actions[name])


def build_menu_bar(bar: QMenuBar, actions: Mapping[str, QAction]) -> list[QMenu]:
    """Fill ``bar`` with the menus of :data:`MENU_BAR`; returns them, left to right."""
    menus = []
    for title, names in MENU_BAR:
        menu = bar.addMenu(title)
        fill_menu(menu, names, actions)
        menus.append(menu)
    return menus


def grid_menu(parent: QWidget, actions: Mapping[str, QAction]) -> QMenu:
    """The grid's context menu (not shown yet)."""
    menu = QMenu(parent)
    fill_menu(menu, GRID_MENU, actions)
    return menu


def selection_actions(actions: Mapping[str, QAction]) -> list[QAction]:
    return [actions[name] for name in SELECTION_BUTTONS]


def menu_bar_names() -> set[str]:
    """Every action name the menu bar shows."""
    return {name for _title, names in MENU_BAR for name in names if name != SEPARATOR}
