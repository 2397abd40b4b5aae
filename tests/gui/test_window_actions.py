"""The window's action registry and menu layouts: every action offered somewhere, no key bound twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from sample_library import Sample

from photoscribe.core.library import Library
from photoscribe.desktop import menus
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.window_actions import REGISTRY, ActionAttributes, attribute_name
from tests.helpers import new_library

MakeWindow = Callable[..., MainWindow]
NAMES = [spec.name for spec in REGISTRY]


def portable(action: QAction) -> list[str]:
    return [key.toString(QKeySequence.SequenceFormat.PortableText) for key in action.shortcuts()]


def test_every_action_is_in_a_menu_or_says_why_not() -> None:
    assert len(set(NAMES)) == len(NAMES), "an action declared twice"
    in_bar = [name for _title, names in menus.MENU_BAR for name in names if name != menus.SEPARATOR]
    assert len(set(in_bar)) == len(in_bar), "an action shown twice in the menu bar"
    for spec in REGISTRY:
        if spec.outside_menu_bar:
            assert spec.name not in in_bar, f"{spec.name} is in the menu bar, yet says why it is not"
        else:
            assert spec.name in in_bar, f"{spec.name} is in no menu and says no reason"
    offered_elsewhere = {*menus.GRID_MENU, *menus.SELECTION_BUTTONS, *menus.ON_WINDOW} - {menus.SEPARATOR}
    assert {spec.name for spec in REGISTRY if spec.outside_menu_bar} <= offered_elsewhere
    assert (set(in_bar) | offered_elsewhere) <= set(NAMES), "a layout names an action that is not declared"


def test_every_action_is_a_typed_attribute_of_the_window(make_window: MakeWindow, library: Library) -> None:
    window = make_window(library)
    assert {attribute_name(spec) for spec in REGISTRY} == set(ActionAttributes.__annotations__)
    for spec in REGISTRY:
        action = getattr(window, attribute_name(spec))
        assert action is window.menu_actions[spec.name] and action.parent() is window


def test_no_two_actions_share_a_shortcut(make_window: MakeWindow, library: Library) -> None:
    window = make_window(library)
    keys = Counter(key for action in window.menu_actions.values() for key in portable(action))
    assert keys and {key: n for key, n in keys.items() if n > 1} == {}
    assert len(keys) == sum(len(spec.keys) for spec in REGISTRY)  # each declared key made a shortcut


def test_the_menu_bar_shows_the_registry_in_its_order(make_window: MakeWindow, library: Library) -> None:
    window = make_window(library)
    shown = []
    for title_action, (title, names) in zip(window.menuBar().actions(), menus.MENU_BAR, strict=True):
        assert title_action.text() == title
        menu = title_action.menu()
        assert menu is not None
        expected = [name if name == menus.SEPARATOR else window.menu_actions[name] for name in names]
        actual: list[Any] = [menus.SEPARATOR if a.isSeparator() else a for a in menu.actions()]
        assert actual == expected
        shown += [a.text() for a in menu.actions() if not a.isSeparator()]
    assert "&Add folder…" in shown and "Show &log" in shown


def test_actions_follow_folders_model_and_photos(
    make_window: MakeWindow, sample: Sample, tmp_path: Path
) -> None:
    empty_library = new_library(tmp_path / "empty.sqlite3")
    try:
        empty = make_window(empty_library)
        assert not empty.remove_folder_action.isEnabled() and not empty.find_action.isEnabled()
        assert not empty.write_metadata_action.isEnabled()  # the grid shows no photo
        assert not empty.recaption_all_action.isEnabled() and not empty.pause_action.isEnabled()  # no model
        window = make_window(sample.library)
        assert window.remove_folder_action.isEnabled() and window.copy_action.isEnabled()
        assert window.write_metadata_action.isEnabled()
        assert not window.recaption_selection_action.isEnabled()
        assert window.retry_failed_action.isEnabled() and window.add_folder_action.isEnabled()
    finally:
        empty_library.close()
