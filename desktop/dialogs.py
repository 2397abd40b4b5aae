"""Small dialogs of the main window: the failures list and the model settings."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photoscribe.core import paths
from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.library import FailureInfo, Library
from photoscribe.core.paths import models_dir
from photoscribe.desktop import settings
from photoscribe.desktop.style import secondary
from photoscribe.desktop.workers import Job, JobRunner

DEVICES = ("auto", "cpu", "cuda", "mps")
MODEL_SUFFIXES = (".pt", ".pth", ".ckpt")


class FailuresDialog(QDialog):
    """A non-modal list of files that could not be read or captioned, with "Retry all"."""

    retryRequested = Signal()

    def __init__(self, library: Library, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.runner = runner
        self.setWindowTitle("Photos that could not be captioned")
        self.setModal(False)
        self.resize(760, 380)
        layout = QVBoxLayout(self)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["File", "Attempts", "Error"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setAccessibleName("Failed photos")
        self.tree.setColumnWidth(0, 280)
        self.tree.setColumnWidth(1, 70)
        layout.addWidget(self.tree, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.retry_button = QPushButton("&Retry all")
        self.retry_button.setToolTip("Forget these failures so that every file is tried again")
        self.retry_button.clicked.connect(self._retry)
        self.copy_button = QPushButton("&Copy list")
        self.copy_button.clicked.connect(self._copy)
        buttons.addButton(self.retry_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self._failures: list[FailureInfo] = []

    def reload(self) -> None:
        self.runner.submit(
            Job(self.library.list_failures, progress=False), receiver=self, on_finished=self._fill
        )

    def _fill(self, failures: list[FailureInfo]) -> None:
        self._failures = failures
        self.tree.clear()
        for failure in failures:
            item = QTreeWidgetItem([Path(failure.path).name, str(failure.attempts), failure.error])
            item.setToolTip(0, failure.path)
            item.setToolTip(2, failure.error)
            self.tree.addTopLevelItem(item)
        self.summary.setText(
            f"{len(failures):,} files could not be read or captioned. Each is retried a few times, "
            "then skipped; the rest of the library is not affected."
            if failures
            else "No failures: every photo could be read."
        )
        self.retry_button.setEnabled(bool(failures))

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(
            "\n".join(f"{f.path}\t{f.attempts}\t{f.error}" for f in self._failures)
        )

    def _retry(self) -> None:
        self.runner.submit(
            Job(self.library.reset_failures, progress=False),
            receiver=self,
            on_finished=self._after_retry,
        )

    def _after_retry(self, _reset: int) -> None:
        self.retryRequested.emit()
        self.reload()


def find_models(extra: str | None = None) -> list[Path]:
    """The bundled default model, ``extra`` when it exists, then checkpoints in the models folder and
    the best model of each training run in it (newest first); each file once, however it is spelled."""
    folder = models_dir()
    candidates = [p for p in folder.iterdir() if p.suffix in MODEL_SUFFIXES] if folder.is_dir() else []
    candidates += list(folder.glob("*/best.pt"))  # the best model of each run trained from the app
    found = sorted((p for p in candidates if p.is_file()), key=lambda p: p.stat().st_mtime, reverse=True)
    if extra and Path(extra).is_file():
        found.insert(0, Path(extra))
    bundled = paths.bundled_model_path()
    if bundled is not None:
        found.insert(0, bundled)
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def describe_model(path: Path) -> str:
    """A name people can tell apart: the file (or "Default model"), what it was trained on, and when.

    Reads only the checkpoint's metadata; a file that is not a readable checkpoint says so.
    """
    from photoscribe.core.model.checkpoint import load_checkpoint  # torch: only when the dialog opens

    bundled = paths.bundled_model_path()
    name = "Default model" if bundled is not None and path.resolve() == bundled.resolve() else path.name
    if name == "best.pt" or name == "last.pt":  # a run folder's file: the folder names the run
        name = f"{path.parent.name}/{path.name}"
    try:
        ckpt = load_checkpoint(path)
    except PhotoscribeError:
        return f"{name} (not a readable model)"
    created = str(ckpt.metadata.get("created") or "")[:10]
    given = str(ckpt.metadata.get("name") or "").strip()  # "Fine-tuned on my library, 12 Dec, 340 captions"
    if given:
        return f"{given} · {ckpt.config.encoder} · {path.name}"
    data = str(ckpt.metadata.get("training_data") or "unknown data").split(" (")[0]
    details = ", ".join(x for x in (ckpt.config.encoder, data, created) if x)
    return f"{name} · {details}"


class ModelDialog(QDialog):
    """Choose the active model, the device and the beam size."""

    def __init__(
        self, current: str | None, device: str, beam_size: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Captioning model")
        self.setMinimumWidth(520)
        form = QFormLayout(self)
        row = QHBoxLayout()
        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName("Model file")
        for path in find_models(current):
            self.model_combo.addItem(describe_model(path), str(path))
            self.model_combo.setItemData(self.model_combo.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole)
        if current:
            index = next(
                (
                    i
                    for i in range(self.model_combo.count())
                    if Path(self.model_combo.itemData(i)).resolve() == Path(current).resolve()
                ),
                -1,
            )
            if index >= 0:
                self.model_combo.setCurrentIndex(index)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.model_combo, 1)
        row.addWidget(browse)
        model_label = QLabel("&Model:")
        model_label.setBuddy(self.model_combo)  # a label without a buddy shows its "&"
        form.addRow(model_label, row)
        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICES)
        self.device_combo.setCurrentText(device if device in DEVICES else "auto")
        self.device_combo.setAccessibleName("Device")
        self.device_combo.setToolTip("auto: CUDA if there is a GPU, then Apple MPS, else the CPU")
        form.addRow("&Device:", self.device_combo)
        self.beam_spin = QSpinBox()
        self.beam_spin.setRange(settings.BEAM_SIZE.minimum, settings.BEAM_SIZE.maximum)
        self.beam_spin.setValue(beam_size)
        self.beam_spin.setAccessibleName("Beam size")
        self.beam_spin.setToolTip("Larger beams give slightly better captions, more slowly")
        form.addRow("&Beam size:", self.beam_spin)
        note = QLabel(f"Models live in {models_dir()}; “Import model…” copies one there.")
        note.setWordWrap(True)
        secondary(note)
        form.addRow(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a model", str(models_dir()), "Photoscribe models (*.pt *.pth *.ckpt)"
        )
        if path:
            self.model_combo.insertItem(0, describe_model(Path(path)), path)
            self.model_combo.setCurrentIndex(0)

    @property
    def model_path(self) -> str | None:
        return self.model_combo.currentData()

    @property
    def device(self) -> str:
        return self.device_combo.currentText()

    @property
    def beam_size(self) -> int:
        return self.beam_spin.value()
