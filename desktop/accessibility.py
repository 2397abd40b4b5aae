"""What assistive technology is told about a window: Qt's accessibility tree, as plain records.

The docs' report (docs/accessibility.md) and the accessibility tests read the tree through
:func:`accessible_tree`, which walks the ``QAccessible`` interfaces the AT-SPI bridge reads on Linux.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from PySide6.QtGui import QAccessible, QAccessibleInterface
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class AccessibleNode:
    """One node of the tree: what a screen reader says for it."""

    depth: int
    role: str  # QAccessible.Role name, e.g. "EditableText", "List", "PushButton"
    name: str
    description: str
    value: str
    focusable: bool
    invisible: bool

    def spoken(self) -> str:
        """Roughly what a screen reader announces: name, role, value, then the description."""
        parts = [self.name, _ROLE_WORDS.get(self.role, self.role.lower())]
        if self.value and self.value != self.name:
            parts.append(self.value)
        if self.description:
            parts.append(self.description)
        return ", ".join(p for p in parts if p)


_ROLE_WORDS = {
    "EditableText": "edit text",
    "PushButton": "push button",
    "ComboBox": "combo box",
    "StaticText": "label",
    "List": "list",
    "ListItem": "list item",
    "Grouping": "grouping",
    "Graphic": "image",
    "CheckBox": "check box",
    "SpinBox": "spin box",
    "Client": "panel",
    "ToolBar": "tool bar",
    "Table": "table",
    "Cell": "cell",
}


def _node(iface: QAccessibleInterface, depth: int) -> AccessibleNode:
    state = iface.state()
    return AccessibleNode(
        depth=depth,
        role=iface.role().name,
        name=iface.text(QAccessible.Text.Name) or "",
        description=iface.text(QAccessible.Text.Description) or "",
        value=iface.text(QAccessible.Text.Value) or "",
        focusable=bool(state.focusable),
        invisible=bool(state.invisible),
    )


def accessible_tree(widget: QWidget, max_children: int = 40) -> Iterator[AccessibleNode]:
    """The visible nodes under ``widget``, depth first; a long list shows its first ``max_children``."""
    root = QAccessible.queryAccessibleInterface(widget)
    if root is None:
        return
    stack: list[tuple[QAccessibleInterface, int]] = [(root, 0)]
    while stack:
        iface, depth = stack.pop()
        node = _node(iface, depth)
        if node.invisible:
            continue
        yield node
        count = min(iface.childCount(), max_children)
        children = [iface.child(i) for i in range(count)]
        stack.extend((child, depth + 1) for child in reversed(children) if child is not None)


def spoken_name(widget: QWidget) -> str:
    """The name a screen reader announces for ``widget`` (its accessible name, a buddy label's
    text, or a button's text, as Qt resolves it)."""
    iface = QAccessible.queryAccessibleInterface(widget)
    return (iface.text(QAccessible.Text.Name) or "") if iface is not None else ""
