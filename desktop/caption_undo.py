"""Undoable caption changes of one photo: the state a change puts its captions in, and the undo command."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from PySide6.QtGui import QUndoCommand

from photoscribe.core.library import CaptionInfo, Library
from photoscribe.desktop.workers import Job, JobRunner


@dataclass(frozen=True)
class CaptionState:
    """What a caption edit changes on one photo: the hand-written caption ("" for none) and
    whether the newest model caption is approved. Undo puts the photo back into such a state."""

    user_text: str
    model_caption_id: int | None
    model_reviewed: bool

    @classmethod
    def of(cls, captions: Sequence[CaptionInfo]) -> CaptionState:
        user = next((c for c in captions if c.is_user), None)
        models = sorted((c for c in captions if not c.is_user), key=lambda c: (c.created_at, c.id))
        model = models[-1] if models else None
        return cls(
            user.text if user is not None else "",
            model.id if model is not None else None,
            bool(model and model.reviewed),
        )


def apply_caption_state(library: Library, photo_id: int, state: CaptionState) -> None:
    """Put ``photo_id``'s captions into ``state`` in one write transaction."""
    library.set_caption_state(photo_id, state.user_text, state.model_caption_id, state.model_reviewed)


class CaptionCommand(QUndoCommand):
    """One caption change of one photo (edit, alternative, mark reviewed), undoable.

    ``redo`` (run once when pushed) writes ``after``; ``undo`` writes ``before``. Writes run as
    background jobs; ``done(photo_id)`` is called on the main thread after each.
    """

    def __init__(
        self,
        text: str,
        library: Library,
        runner: JobRunner,
        photo_id: int,
        before: CaptionState,
        after: CaptionState,
        done: Callable[[int], None],
        failed: Callable[[int, BaseException], None],
    ) -> None:
        super().__init__(text)
        self.library, self.runner, self.photo_id = library, runner, photo_id
        self.before, self.after = before, after
        self.done, self.failed = done, failed

    def _write(self, state: CaptionState) -> None:
        photo_id = self.photo_id
        self.runner.submit(
            Job(apply_caption_state, self.library, photo_id, state, progress=False),
            on_finished=lambda _none: self.done(photo_id),
            on_failed=lambda exc, _tb: self.failed(photo_id, exc),
        )

    def redo(self) -> None:
        self._write(self.after)

    def undo(self) -> None:
        self._write(self.before)


def with_state(
    captions: Sequence[CaptionInfo], state: CaptionState, photo_id: int
) -> tuple[CaptionInfo, ...]:
    """``captions`` as they will be once ``state`` is written (until the library's copy arrives)."""
    out = [c for c in captions if not c.is_user]
    out = [replace(c, reviewed=state.model_reviewed) if c.id == state.model_caption_id else c for c in out]
    if state.user_text:
        user = next((c for c in captions if c.is_user), None)
        now = datetime.now(timezone.utc)
        if user is not None:
            out.append(replace(user, text=state.user_text, created_at=now))
        else:
            out.append(CaptionInfo(-1, photo_id, state.user_text, "user", True, True, None, (), "en", now))
    return tuple(out)
