"""The retrain dialog's "Training" box: status line, progress bars, metric plot, sample captions, results.

:class:`TrainingBox` turns the :class:`~photoscribe.core.progress.Progress`
reports of a training run into its widgets; it knows nothing of the dialog's state.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QLabel,
    QListWidget,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from photoscribe.core.progress import Progress
from photoscribe.desktop.dialog_parts import show_message, wrapping_label
from photoscribe.desktop.plot import MetricPlot
from photoscribe.desktop.status import format_duration
from photoscribe.desktop.style import ERROR, set_tone
from photoscribe.training.library_finetune import FineTuneResult, comparison_rows, verdict
from photoscribe.training.train import TrainResult

METRIC_ORDER = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE")


def format_metrics(metrics: dict[str, float]) -> str:
    ordered = [k for k in METRIC_ORDER if k in metrics] + sorted(set(metrics) - set(METRIC_ORDER))
    return " · ".join(f"{k} {metrics[k]:.3f}" for k in ordered)


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class TrainingBox(QGroupBox):
    """The run's progress and outcome; ``begin`` a run, then hand it every progress report."""

    def __init__(self) -> None:
        super().__init__("Training")
        self.epochs = 0
        self._run_started = 0.0
        self._run_start_epochs = 0
        run = QVBoxLayout(self)
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
        self._build_results(run)

    def _build_results(self, run: QVBoxLayout) -> None:
        self.results_label = wrapping_label("")
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
        self.verdict_label = wrapping_label("")
        self.verdict_label.setAccessibleName("Is the new model better")
        self.verdict_label.hide()
        run.addWidget(self.verdict_label)
        self.error_label = wrapping_label("")
        self.error_label.setAccessibleName("Error")
        set_tone(self.error_label, ERROR)
        self.error_label.hide()
        run.addWidget(self.error_label)

    # ------------------------------------------------------------------ a run

    def clear(self, epochs: int) -> None:
        """Forget the last run's curves and samples: a new run of ``epochs`` starts."""
        self.plot.clear()
        self.plot.set_epochs(epochs)
        self.samples_list.clear()

    def begin(self, epochs: int, *, resume: bool) -> None:
        """A run starts (or resumes after the epochs already on the plot)."""
        self.epochs = epochs
        show_message(self.error_label, "")
        show_message(self.results_label, "")
        self.overall_bar.setRange(0, epochs * 100)
        self._set_overall(self.plot.point_count() * 100)
        self.batch_bar.setRange(0, 0)  # busy until the first report
        self.batch_bar.setFormat("")
        self.stage_label.setText("Resuming…" if resume else "Starting…")
        self._run_started = time.monotonic()
        self._run_start_epochs = self.plot.point_count()
        self.comparison_table.hide()
        self.verdict_label.hide()

    def cancelling(self) -> None:
        self.stage_label.setText("Cancelling…")

    def _set_overall(self, value: int, eta: str = "") -> None:
        epochs = self.epochs
        self.overall_bar.setValue(min(value, self.overall_bar.maximum()))
        epoch = min(epochs, value // 100 + 1) if value < epochs * 100 else epochs
        text = f"Epoch {epoch} of {epochs}"
        self.overall_bar.setFormat(text + (f" · about {eta} left" if eta else ""))

    def show_progress(self, p: Progress) -> None:
        """One report of the running training (or fine-tuning) job."""
        if p.stage == "extract":
            self._set_bar(p, "%v / %m images")
            self.stage_label.setText(f"Extracting features {p.done}/{p.total}")
        elif p.stage == "train":
            epoch = int(p.extra.get("epoch", 1))
            self._set_bar(p, "%v / %m batches")
            loss = p.extra.get("loss")
            parts = [f"Epoch {epoch}/{self.epochs}", f"batch {p.done}/{p.total}"]
            if loss is not None:
                parts.append(f"loss {loss:.2f}")
            # The time left is said once, for the whole run, on the overall bar.
            self.stage_label.setText(" · ".join(parts))
            fraction = p.fraction or 0.0
            self._set_overall(int((epoch - 1 + fraction) * 100), self._overall_eta(epoch - 1 + fraction))
        elif p.stage == "validate":
            self._set_bar(p, "%v / %m images")
            self.stage_label.setText(f"Validating {p.done}/{p.total}")
        elif p.stage == "caption":  # fine-tuning's last step: both models caption the held-out photos
            self._set_bar(p, "%v / %m photos")
            self.stage_label.setText(
                f"Comparing the new model with the current one: {p.done}/{p.total} photos"
            )
        elif p.stage == "epoch":
            self._on_epoch(p)

    def _set_bar(self, p: Progress, text: str) -> None:
        self.batch_bar.setRange(0, max(p.total or 0, 1))
        self.batch_bar.setValue(min(p.done, self.batch_bar.maximum()))
        self.batch_bar.setFormat(text)

    def _overall_eta(self, epochs_done: float) -> str:
        """Time left for the whole run, from this run's pace so far (a resumed run starts its clock anew)."""
        done_here = epochs_done - self._run_start_epochs
        if done_here <= 0.05:
            return ""
        elapsed = time.monotonic() - self._run_started
        return format_duration(elapsed / done_here * (self.epochs - epochs_done))

    def _on_epoch(self, p: Progress) -> None:
        x = p.extra
        self.plot.add_point(
            p.done,
            {k: x[k] for k in ("train_loss", "val_loss", "CIDEr", "BLEU-4") if k in x},
        )
        best = "   (best so far)" if x.get("improved") else ""
        self.samples_list.addItem(f"Epoch {p.done}: “{p.message}”{best}")
        self.samples_list.scrollToBottom()
        self._set_overall(p.done * 100, self._overall_eta(p.done))

    # ------------------------------------------------------------------ how it ended

    def show_finished(self, result: TrainResult, fine_tune_result: FineTuneResult | None) -> None:
        """The run finished (all its epochs, or stopped early): the best model's scores and file."""
        done = len(result.history)
        if result.stop_reason == "early-stopped":
            self.stage_label.setText(f"Stopped early after epoch {done}: CIDEr stopped improving.")
        else:
            self.stage_label.setText(f"Finished: {plural(done, 'epoch')}.")
        self.batch_bar.setRange(0, 1)
        self.batch_bar.setValue(1)
        self.batch_bar.setFormat("Done")
        self.overall_bar.setValue(self.overall_bar.maximum())
        self.overall_bar.setFormat(f"{plural(done, 'epoch')} done")
        if result.history and result.best_checkpoint.is_file():
            best = max(result.history, key=lambda h: h.metrics.get("CIDEr", 0.0))
            show_message(
                self.results_label,
                f"Best model (epoch {best.epoch}): {format_metrics(result.best_metrics)}\n"
                f"Saved as {result.best_checkpoint}",
            )
        else:
            show_message(self.results_label, "No checkpoint was saved.", error=True)
        if fine_tune_result is not None:
            self._show_comparison(fine_tune_result)

    def _show_comparison(self, outcome: FineTuneResult) -> None:
        """Both models' scores side by side, and whether the new one is better on the held-out captions."""
        if outcome.name:
            show_message(self.results_label, f"{self.results_label.text()}\nNamed “{outcome.name}”.")
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
        show_message(self.verdict_label, text, ok=comparison.better, error=not comparison.better)

    def show_stopped(self, stage: str, epochs: int) -> None:
        """A run that stopped (cancelled or failed): ``stage`` says how; the epochs that finished, no ETA."""
        self.stage_label.setText(stage)
        finished = self.plot.point_count()
        self.overall_bar.setValue(min(finished * 100, self.overall_bar.maximum()))
        self.overall_bar.setFormat(f"{finished} of {plural(epochs, 'epoch')} finished")
        self.batch_bar.setRange(0, 1)
        self.batch_bar.setValue(0)
        self.batch_bar.setFormat("")
