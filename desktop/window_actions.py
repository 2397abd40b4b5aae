"""Every command of the main window, declared once: its text, keys, tip and the window method it runs.

The window creates its actions from :data:`REGISTRY` (:func:`create_actions`) and
:mod:`~photoscribe.desktop.menus` lays them out by name, so a command is described in one place
and the window only coordinates. (The plain functions those commands run in the background are in
:mod:`~photoscribe.desktop.actions`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Literal

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QUndoStack

Key = str | QKeySequence.StandardKey | Qt.Key
Needs = Literal["", "folders", "model", "photos"]

# Redo: Ctrl+Shift+Z (Linux, macOS) and Ctrl+Y (Windows habits), each bound once.
REDO_KEYS = ("Ctrl+Shift+Z", "Ctrl+Y")
StandardKey = QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    """One command of the window.

    Attributes:
        name: its id; the window holds the action as ``<name>_action``.
        text: the menu text, ``&`` before the access key.
        slot: what it runs, a dotted path from the window (``"captioning.recaption_all"``); a
            checkable action passes its new state, the others ``*args``. Empty for undo and redo.
        keys: its shortcuts, the first one shown in the menu.
        widget_keys: the keys belong to the widget that handles them itself (the grid's Delete,
            Space and Enter, not while a caption is being typed): the menu shows them as hints.
        needs: enabled only while the library has folders, a model is ready, or the grid shows photos.
        outside_menu_bar: why the action is in no menu of the menu bar (empty: it is in one).
        undo_stack: ``"undo"`` or ``"redo"``: made by the window's undo stack, so that its text and
            state follow the stack.
    """

    name: str
    text: str
    slot: str = ""
    args: tuple[Any, ...] = ()
    keys: tuple[Key, ...] = ()
    widget_keys: bool = False
    checkable: bool = False
    tip: str = ""
    needs: Needs = ""
    role: QAction.MenuRole | None = None
    outside_menu_bar: str = ""
    undo_stack: Literal["", "undo", "redo"] = ""


REGISTRY: tuple[ActionSpec, ...] = (
    # File
    ActionSpec("add_folder", "&Add folder…", "folder_commands.choose_folder", keys=("Ctrl+O",)),
    ActionSpec("remove_folder", "&Remove folder", "folder_commands.remove_current_folder", needs="folders"),
    ActionSpec("export", "&Export alt text…", "dialogs.open_export", keys=("Ctrl+E",)),
    ActionSpec(
        "write_metadata",
        "&Write descriptions into photo files…",
        "dialogs.open_write_metadata",
        tip="Write alt text, descriptions and keywords into the selected or shown photo files (asks first)",
        needs="photos",
    ),
    ActionSpec("quit", "&Quit", "close", keys=("Ctrl+Q",), role=QAction.MenuRole.QuitRole),
    # Edit
    ActionSpec("undo", "&Undo", keys=(StandardKey.Undo,), undo_stack="undo"),
    # Each key once: a key bound twice is "Ambiguous shortcut overload" in Qt, and neither runs.
    ActionSpec("redo", "&Redo", keys=REDO_KEYS, undo_stack="redo"),
    ActionSpec("save_caption", "&Save caption", "detail.save_caption", keys=(StandardKey.Save,)),
    ActionSpec(
        "copy", "&Copy alt text", "selection_commands.copy_alt_text", keys=("Ctrl+Shift+C",), needs="folders"
    ),
    ActionSpec("edit_caption", "&Edit caption", "detail.focus_caption", keys=("F2",), needs="folders"),
    ActionSpec(
        "mark_reviewed",
        "&Mark reviewed",
        "selection_commands.mark_reviewed",
        keys=("Ctrl+R",),
        needs="folders",
    ),
    ActionSpec("find", "&Find…", "focus_search", keys=(StandardKey.Find,), needs="folders"),
    ActionSpec("copy_caption", "Copy capt&ion", "selection_commands.copy_caption"),
    ActionSpec(
        "remove_photos",
        "Remove from &library…",
        "selection_commands.remove_selected_photos",
        keys=(Qt.Key.Key_Delete,),
        widget_keys=True,
    ),
    ActionSpec("show_in_folder", "Show in file &manager", "selection_commands.show_in_file_manager"),
    ActionSpec(
        "view_photo",
        "&View photo",
        "view_current_photo",
        keys=(Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter),
        widget_keys=True,
        outside_menu_bar="offered where the photos are: the grid's context menu, Space, Enter, a double-click",
    ),
    # View
    ActionSpec("show_sidebar", "Show &sidebar", "sidebar.setVisible", keys=("Ctrl+Shift+S",), checkable=True),
    ActionSpec("show_detail", "Show &details", "detail.setVisible", keys=("Ctrl+Shift+D",), checkable=True),
    ActionSpec("zoom_in", "&Larger thumbnails", "zoom", args=(1,), keys=(StandardKey.ZoomIn,)),
    ActionSpec("zoom_out", "S&maller thumbnails", "zoom", args=(-1,), keys=(StandardKey.ZoomOut,)),
    # Model
    ActionSpec("model", "&Active model…", "captioning.choose_model"),
    ActionSpec("import_model", "&Import model…", "captioning.import_model"),
    ActionSpec(
        "recaption_selection", "Re-caption &selection", "captioning.recaption_selection", needs="model"
    ),
    ActionSpec("recaption_all", "Re-caption &all", "captioning.recaption_all", needs="model"),
    ActionSpec(
        "retry_failed",
        "Retry &failed photos",
        "captioning.retry_failed",
        tip="Caption again the photos that failed",
    ),
    ActionSpec("pause", "&Pause captioning", "captioning.set_paused", checkable=True, needs="model"),
    ActionSpec("retrain", "&Retrain…", "dialogs.open_retrain"),
    # Help
    ActionSpec("about", "&About Photoscribe", "dialogs.show_about"),
    ActionSpec("data_folder", "Open &data folder", "dialogs.open_data_folder"),
    ActionSpec("log", "Show &log", "dialogs.show_log"),
)


class ActionAttributes:
    """The window's actions as typed attributes (``window.copy_action``), one per :data:`REGISTRY` entry."""

    add_folder_action: QAction
    remove_folder_action: QAction
    export_action: QAction
    write_metadata_action: QAction
    quit_action: QAction
    undo_action: QAction
    redo_action: QAction
    save_caption_action: QAction
    copy_action: QAction
    edit_caption_action: QAction
    mark_reviewed_action: QAction
    find_action: QAction
    copy_caption_action: QAction
    remove_photos_action: QAction
    show_in_folder_action: QAction
    view_photo_action: QAction
    show_sidebar_action: QAction
    show_detail_action: QAction
    zoom_in_action: QAction
    zoom_out_action: QAction
    model_action: QAction
    import_model_action: QAction
    recaption_selection_action: QAction
    recaption_all_action: QAction
    retry_failed_action: QAction
    pause_action: QAction
    retrain_action: QAction
    about_action: QAction
    data_folder_action: QAction
    log_action: QAction


def attribute_name(spec: ActionSpec) -> str:
    return f"{spec.name}_action"


def _runs(slot: Callable[..., Any], args: tuple[Any, ...]) -> Callable[[], Any]:
    return lambda: slot(*args)  # no argument from ``triggered(bool)``: the slot gets ``args`` only


def _toggles(slot: Callable[[bool], Any]) -> Callable[[bool], Any]:
    return lambda checked: slot(checked)  # one parameter: PySide passes ``triggered``'s state


def create_action(spec: ActionSpec, window: QObject, undo_stack: QUndoStack) -> QAction:
    """Make the action ``spec`` describes, parented to ``window``, its slot found on ``window``."""
    if spec.undo_stack == "undo":
        action = undo_stack.createUndoAction(window, spec.text)
    elif spec.undo_stack == "redo":
        action = undo_stack.createRedoAction(window, spec.text)
    else:
        action = QAction(spec.text, window)
        slot = attrgetter(spec.slot)(window)
        action.triggered.connect(_toggles(slot) if spec.checkable else _runs(slot, spec.args))
    if spec.keys:
        action.setShortcuts([QKeySequence(key) for key in spec.keys])
    action.setShortcutContext(
        Qt.ShortcutContext.WidgetShortcut if spec.widget_keys else Qt.ShortcutContext.WindowShortcut
    )
    action.setCheckable(spec.checkable)
    if spec.needs == "photos":
        action.setEnabled(False)  # until the grid shows photos
    if spec.tip:
        action.setStatusTip(spec.tip)
    if spec.role is not None:
        action.setMenuRole(spec.role)
    return action


def create_actions(window: QObject, undo_stack: QUndoStack) -> dict[str, QAction]:
    """Every action of :data:`REGISTRY`, by name, each also set on ``window`` as ``<name>_action``."""
    created: dict[str, QAction] = {}
    for spec in REGISTRY:
        action = create_action(spec, window, undo_stack)
        setattr(window, attribute_name(spec), action)
        created[spec.name] = action
    return created


def set_enabled(actions: Mapping[str, QAction], needs: Needs, enabled: bool) -> None:
    """Enable or disable every action that needs what ``needs`` names (folders, a model, photos)."""
    for name in names_needing(needs):
        actions[name].setEnabled(enabled)


def names_needing(needs: Needs) -> Iterable[str]:
    return [spec.name for spec in REGISTRY if spec.needs == needs]
