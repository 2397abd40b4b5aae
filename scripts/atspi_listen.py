"""Listen on the AT-SPI bus as a screen reader does and print what it would say (system python3 + pyatspi).

Prints each focus change (role, name, description, text) and then the accessibility tree of the
photoscribe window: the grid's first items, the detail pane and the caption editor.
"""

from __future__ import annotations

import sys

import pyatspi
from gi.repository import GLib

APP = sys.argv[1] if len(sys.argv) > 1 else "photoscribe"
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 20


def describe(acc) -> str:
    role = acc.getRoleName()
    name = acc.name or ""
    parts = [f"{name!r}" if name else "(no name)", role]
    try:
        text = acc.queryText()
        content = text.getText(0, text.characterCount)
        if content and content != name:
            parts.append(f"text {content!r}")
    except NotImplementedError:
        pass
    try:
        value = acc.queryValue().currentValue
        parts.append(f"value {value}")
    except NotImplementedError:
        pass
    for relation in acc.getRelationSet():
        if relation.getRelationType() == pyatspi.RELATION_LABELLED_BY:
            labels = [relation.getTarget(i).name for i in range(relation.getNTargets())]
            parts.append(f"labelled by {labels!r}")
    if acc.description:
        parts.append(f"description {acc.description!r}")
    return ", ".join(parts)


def on_focus(event) -> None:
    if event.detail1:
        print("FOCUS", describe(event.source), flush=True)


def on_descendant(event) -> None:
    child = event.any_data
    if child is not None:
        print("ITEM ", describe(child), flush=True)


def on_name(event) -> None:
    if event.source.getState().contains(pyatspi.STATE_FOCUSED):
        print("NAME ", describe(event.source), flush=True)


def dump(acc, depth: int = 0, limit: int = 400, seen: list[int] | None = None) -> None:
    seen = seen if seen is not None else [0]
    if seen[0] > limit or acc is None:
        return
    states = acc.getState()
    if not states.contains(pyatspi.STATE_SHOWING) and depth > 0:
        return
    seen[0] += 1
    print("TREE", "  " * depth + describe(acc), flush=True)
    count = acc.childCount
    for i in range(min(count, 14)):
        dump(acc.getChildAtIndex(i), depth + 1, limit, seen)
    if count > 14:
        print("TREE", "  " * (depth + 1) + f"... {count - 14} more", flush=True)


def find_app():
    desktop = pyatspi.Registry.getDesktop(0)
    for i in range(desktop.childCount):
        app = desktop.getChildAtIndex(i)
        if app is not None and APP.lower() in (app.name or "").lower():
            return app
    return None


def main() -> int:
    pyatspi.Registry.registerEventListener(on_focus, "object:state-changed:focused")
    pyatspi.Registry.registerEventListener(on_descendant, "object:active-descendant-changed")
    pyatspi.Registry.registerEventListener(on_name, "object:property-change:accessible-name")

    tries = [0]

    def tree() -> bool:
        app = find_app()
        tries[0] += 1
        if app is None:
            if tries[0] < 8:
                return True  # the app is still starting: look again in a second
            desktop = pyatspi.Registry.getDesktop(0)
            print("NO APP on the bus:", [desktop.getChildAtIndex(i).name for i in range(desktop.childCount)])
        else:
            dump(app)
        return False

    def finish() -> bool:
        pyatspi.Registry.stop()
        return False

    GLib.timeout_add_seconds(1, tree)  # before the focus walk starts (the app waits 5 s)
    GLib.timeout_add_seconds(SECONDS, finish)
    pyatspi.Registry.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
