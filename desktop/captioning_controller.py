"""The Model menu's commands: choose, import and switch models, re-caption, retry failures, pause.

:class:`CaptioningController` runs each command's work on the window's :class:`JobRunner` or in
the caption queue, and tells the window what to refresh; the window only routes the menus to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMessageBox

from photoscribe.desktop import actions
from photoscribe.desktop.dialogs import FailuresDialog, ModelDialog
from photoscribe.desktop.model_switch import SwitchModelCommand
from photoscribe.desktop.settings import BEAM_SIZE, DEVICE
from photoscribe.desktop.workers import Job

if TYPE_CHECKING:
    from photoscribe.desktop.main_window import MainWindow


class CaptioningController(QObject):
    """What the window does for captioning when asked (menus, the welcome page, the status bar)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.failures_dialog: FailuresDialog | None = None

    # ================================================================== the queue

    def set_paused(self, paused: bool) -> None:
        self.window.services.set_paused(paused)
        self.window.show_message("Captioning paused." if paused else "Captioning resumed.")

    def recaption_selection(self) -> None:
        """Caption the selected photos again with the active model (people's captions stay)."""
        window = self.window
        rows = window.selection_commands.selected_rows()
        if not rows:
            window.show_message("Select the photos to re-caption first.")
            return
        ids = [row.photo_id for row in rows]
        window.runner.submit(
            Job(
                actions.recaption,
                window.library,
                ids,
                [row.path for row in rows],
                window.services.model.name,
                progress=False,
            ),
            receiver=window,
            on_finished=lambda _n: window._after_recaption(ids),
            on_failed=lambda exc, _tb: window.show_message(f"Re-captioning failed: {exc}"),
        )
        window.show_message(
            f"{len(ids)} photo{'s' if len(ids) != 1 else ''} queued for captioning with the active model."
        )

    def recaption_all(self) -> None:
        """Caption every photo again with the active model, after asking (it can take hours)."""
        window = self.window
        answer = QMessageBox.question(
            window,
            "Re-caption all photos",
            "Caption every photo again with the active model?\n"
            "Captions you wrote or reviewed are kept; the model's other captions are replaced.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        window.runner.submit(
            Job(actions.recaption, window.library, None, (), window.services.model.name, progress=False),
            receiver=window,
            on_finished=lambda _n: window._after_recaption(None),
            on_failed=lambda exc, _tb: window.show_message(f"Re-captioning failed: {exc}"),
        )
        window.show_message("Every photo is queued for captioning with the active model.")

    def retry_failed(self) -> None:
        """Forget every caption failure (in the background) so that the queue tries those photos again."""
        self.window.runner.submit(
            Job(self.window.library.retry_failed, progress=False),
            on_finished=self._after_retry_failed,
            on_failed=lambda exc, _tb: self.window.show_message(f"Could not reset the failures: {exc}"),
        )

    def _after_retry_failed(self, count: int) -> None:
        self.window.show_message(
            f"{count:,} failed photos will be captioned again." if count else "No failed photos."
        )
        if count:
            self.window._after_recaption(None)

    def show_failures(self) -> None:
        """The photos that could not be captioned, in a window of their own (non-modal)."""
        if self.failures_dialog is None:
            self.failures_dialog = FailuresDialog(self.window.library, self.window.runner, self.window)
            self.failures_dialog.retryRequested.connect(self.window._after_retry)
        self.failures_dialog.reload()
        self.failures_dialog.show()
        self.failures_dialog.raise_()

    # ================================================================== models

    def switch_model(self, path: str) -> None:
        """Use another model, undoably: Undo goes back to the previous one, whose captions are shown
        again (switching deletes no caption; only "Re-caption all" makes new ones)."""
        window = self.window
        previous = window.services.model.path or window.active_model()
        if not previous or Path(previous).resolve() == Path(path).resolve():
            window.use_model(path)
            return
        window.undo_stack.push(SwitchModelCommand(window, previous, path))

    def choose_model(self) -> None:
        window = self.window
        dialog = ModelDialog(
            window.services.model.path or window.active_model(), window.device, window.beam_size, window
        )
        if dialog.exec() != ModelDialog.DialogCode.Accepted:
            return
        DEVICE.write(window.settings, dialog.device)
        BEAM_SIZE.write(window.settings, dialog.beam_size)
        if dialog.model_path:
            self.switch_model(dialog.model_path)

    def import_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window,
            "Import a captioning model",
            str(Path.home()),
            "Photoscribe models (*.pt *.pth *.ckpt)",
        )
        if path:
            self.import_model_from(path)

    def import_model_from(self, path: str) -> None:
        """Copy the checkpoint at ``path`` into the models folder (checked first), then switch to it."""
        window = self.window
        name = Path(path).name
        window.show_message(f"Importing {name}…", 0)  # until the import ends, however long it takes
        window.runner.submit(
            Job(actions.import_model_file, path),
            receiver=window,
            on_finished=lambda target: self._after_import(name, target),
            on_failed=lambda exc, _tb: window.show_message(f"{name} is not a usable model: {exc}"),
        )

    def _after_import(self, name: str, target: Path) -> None:
        self.window.show_message(f"Imported {name} as {target.name}; loading it…")
        self.switch_model(str(target))
