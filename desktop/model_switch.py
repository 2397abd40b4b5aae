"""Switching the captioning model as an undoable step: Undo goes back to the previous model."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from PySide6.QtGui import QUndoCommand


class _UsesModels(Protocol):
    def use_model(self, path: str, *, remember: bool = True) -> None: ...


class SwitchModelCommand(QUndoCommand):
    """Use model ``after`` (``redo``, run when pushed) or ``before`` again (``undo``).

    Captions are stored per model and a switch deletes none: the library shows the active model's
    caption where no person's caption exists, so undoing brings the previous model's captions back.
    """

    def __init__(self, window: _UsesModels, before: str, after: str) -> None:
        super().__init__(f"Use model {Path(after).name}")
        self.window, self.before, self.after = window, before, after

    def redo(self) -> None:
        self.window.use_model(self.after)

    def undo(self) -> None:
        self.window.use_model(self.before)
