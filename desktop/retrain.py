"""The "Retrain the model" dialog: pick a captioned data set, train, watch it learn, use the result.

Everything slow (reading the data set, training) runs through a
:class:`~photoscribe.desktop.workers.JobRunner`; this module only turns the
:class:`~photoscribe.core.progress.Progress` reports of
:func:`photoscribe.training.train.train` into widgets, on the main thread.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from photoscribe.core.choices import default_image_size
from photoscribe.core.errors import AssetMissingError, PhotoscribeError
from photoscribe.core.library import Library
from photoscribe.core.model.encoder import BACKBONES, LITE0, TINY
from photoscribe.core.model.encoder_files import hub_cache_path, weights_url
from photoscribe.core.model.weights import download_encoder_weights, find_encoder_weights
from photoscribe.core.paths import data_dir, models_dir, set_active_model
from photoscribe.core.progress import Progress
from photoscribe.desktop.dialog_parts import on_click, show_message
from photoscribe.desktop.fit_scroll import breakable
from photoscribe.desktop.retrain_form import RetrainForm, missing_weights_text
from photoscribe.desktop.settings import (
    RETRAIN_BATCH_SIZE,
    RETRAIN_DATA_DIR,
    RETRAIN_ENCODER,
    RETRAIN_EPOCHS,
    open_store,
)
from photoscribe.desktop.workers import Job, JobRunner
from photoscribe.training import library_finetune
from photoscribe.training.datasets import CaptionCorpus, load_corpus
from photoscribe.training.library_data import reviewed_photos
from photoscribe.training.library_finetune import (
    MIN_REVIEWED,
    FineTuneResult,
    fine_tune_on_library,
    too_few_sentence,
    verdict,
)
from photoscribe.training.train import TrainConfig, TrainResult, train

log = logging.getLogger(__name__)


class State(Enum):
    IDLE = "idle"
    RUNNING = "running"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FINISHED = "finished"
    FAILED = "failed"


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


class RetrainDialog(RetrainForm):
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
        self.settings = settings if settings is not None else open_store()
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
        self._close_when_stopped = False

        self._build(str(self._default_out), show_library=self.library is not None)
        self._connect()
        self._restore_settings()
        self._on_encoder_changed()
        self._update_controls()
        self.resize(900, 700)

    def _connect(self) -> None:
        """What the form's controls do."""
        self.data_edit.editingFinished.connect(self.load_data)
        self.encoder_combo.currentIndexChanged.connect(self._on_encoder_changed)
        self.out_edit.textChanged.connect(self._update_controls)
        for button, slot in (
            (self.data_browse, self._browse_data),
            (self.library_button, self.use_library_captions),
            (self.weights_recheck, self._on_encoder_changed),
            (self.weights_download, self.download_weights),
            (self.out_browse, self._browse_out),
            (self.start_button, self.start),
            (self.cancel_button, self.cancel),
            (self.resume_button, self.resume),
            (self.use_button, self.use_model),
            (self.close_button, self.reject),
        ):
            on_click(button, slot)

    # ================================================================== settings

    def _restore_settings(self) -> None:
        s = self.settings
        index = self.encoder_combo.findData(RETRAIN_ENCODER.read(s))
        self.encoder_combo.setCurrentIndex(max(index, 0))
        self.epochs_spin.setValue(RETRAIN_EPOCHS.read(s))
        self.batch_spin.setValue(RETRAIN_BATCH_SIZE.read(s))
        data_dir = RETRAIN_DATA_DIR.read(s)
        if data_dir:
            self.data_edit.setText(data_dir)
            if Path(data_dir).is_dir():
                self.load_data()

    def _save_settings(self) -> None:
        s = self.settings
        if not self.fine_tune:  # the library has no folder: the last data set stays the original data
            RETRAIN_DATA_DIR.write(s, self.data_edit.text().strip())
        RETRAIN_ENCODER.write(s, self.encoder)
        RETRAIN_EPOCHS.write(s, self.epochs_spin.value())
        RETRAIN_BATCH_SIZE.write(s, self.batch_spin.value())
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
            show_message(self.summary_label, "Choose a folder to see what it contains.")
        elif not path.is_dir():
            show_message(self.summary_label, f"{path} is not a folder.", error=True)
        else:
            show_message(self.summary_label, f"Reading {path}…")
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
        show_message(self.summary_label, "Counting the captions you wrote or reviewed…")
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
            self.epochs_spin.setValue(library_finetune.EPOCHS)
            self.lr_spin.setValue(library_finetune.LR)
        show_message(self.summary_label, self._library_note, error=not self.fine_tune)
        self._update_controls()

    def _library_failed(self, job: Job, exc: BaseException) -> None:
        if job is not self._library_job:
            return
        self._library_job = None
        show_message(self.summary_label, _describe(exc), error=True)
        self._update_controls()

    def _corpus_loaded(self, job: Job, corpus: CaptionCorpus) -> None:
        if job is not self._corpus_job:
            return  # a newer folder was chosen meanwhile
        self._corpus_job = None
        summary = corpus.summary()
        if not corpus.split("train") or not corpus.split("val"):
            show_message(
                self.summary_label,
                summary + "\nTraining needs images in both the train and the val split.",
                error=True,
            )
        else:
            self.corpus = corpus
            show_message(self.summary_label, summary)
        self._update_controls()

    def _corpus_failed(self, job: Job, exc: BaseException) -> None:
        if job is not self._corpus_job:
            return
        self._corpus_job = None
        show_message(self.summary_label, _describe(exc), error=True)
        self._update_controls()

    def _on_encoder_changed(self) -> None:
        name = self.encoder
        # Follow the encoder's natural input size unless the user chose another size.
        if self.image_size_spin.value() == self._size_default:
            self.image_size_spin.setValue(default_image_size(name))
        self._size_default = default_image_size(name)
        if name == TINY:
            self._weights_ok = True
            show_message(self.weights_label, "Trains a small encoder from scratch: no download needed.")
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
                show_message(self.weights_label, missing_weights_text(name, exc), error=True)
                self.weights_label.setToolTip(str(exc))
                self.weights_download.setVisible(name in BACKBONES and self._download_job is None)
            else:
                self._weights_ok = True
                show_message(self.weights_label, f"ImageNet weights found: {breakable(str(path))}", ok=True)
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
        show_message(self.weights_label, f"Downloading {target.name}…")
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
        show_message(self.weights_label, f"Downloading {p.message}: {mb:.1f}{total}")

    def _download_done(self, job: Job, exc: BaseException | None) -> None:
        if job is not self._download_job:
            return
        self._download_job = None
        self._on_encoder_changed()
        if exc is not None:
            show_message(self.weights_label, _describe(exc), error=True)
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
            show_message(self.error_label, _describe(exc), error=True)
            return
        self._save_settings()
        self.training_box.clear(config.epochs)
        self._run(config)

    def resume(self) -> None:
        """Continue the cancelled (or failed) run from its ``last.pt``, same settings, same folder."""
        if self.config is None or self.state is State.RUNNING:
            return
        self._run(dataclasses.replace(self.config, resume=True))

    def _run(self, config: TrainConfig) -> None:
        self.config = config
        self.train_result = None
        self.training_box.begin(config.epochs, resume=config.resume)
        if self.fine_tune and self.library is not None and self.current_model is not None:
            run = {k: getattr(config, k) for k in _RUN_FIELDS if k != "resume"}
            job = Job(
                fine_tune_on_library,
                self.library,
                self.current_model,
                config.out_dir,
                original_data=original_data_dir(RETRAIN_DATA_DIR.read(self.settings)),
                minimum=self.minimum_reviewed,
                resume=config.resume,
                **run,
            )
        else:
            job = Job(train, config)
        self.fine_tune_result = None
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
            self.training_box.cancelling()
            self._set_state(State.CANCELLING)

    def _on_progress(self, p: Progress) -> None:
        if self.config is None or self.state not in (State.RUNNING, State.CANCELLING):
            return
        self.training_box.show_progress(p)

    def _on_finished(self, job: Job, outcome: TrainResult | FineTuneResult) -> None:
        if job is not self._train_job:
            return
        result = outcome.train_result if isinstance(outcome, FineTuneResult) else outcome
        self.fine_tune_result = outcome if isinstance(outcome, FineTuneResult) else None
        self.train_result = result
        if result.stop_reason == "cancelled":
            self._enter_cancelled()
            return
        self.training_box.show_finished(result, self.fine_tune_result)
        self._set_state(State.FINISHED)
        self._close_if_asked()

    def _on_cancelled(self, job: Job) -> None:
        if job is not self._train_job:
            return
        # Cancelled before the epoch loop; once it runs, training returns a result that says so.
        self._enter_cancelled()

    def _enter_cancelled(self) -> None:
        self.training_box.show_stopped("Cancelled — resume later", self._planned_epochs())
        self._set_state(State.CANCELLED)
        self._close_if_asked()

    def _planned_epochs(self) -> int:
        return self.config.epochs if self.config is not None else 0

    def _on_failed(self, job: Job, exc: BaseException, tb: str) -> None:
        if job is not self._train_job:
            return
        self.training_box.show_stopped("Training failed.", self._planned_epochs())
        show_message(self.error_label, _describe(exc), error=True)
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
