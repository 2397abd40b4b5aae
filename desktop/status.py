"""Status-bar widgets: captioning progress with Pause/Resume, the model, failures and library counts."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QToolButton, QWidget

from photoscribe.core.library import LibraryStats
from photoscribe.core.progress import Progress
from photoscribe.desktop.background import ModelState


def format_duration(seconds: float | None) -> str:
    """``42 s``, ``12 min`` or ``1 h 02 min``; empty when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def describe_progress(progress: Progress, noun: str = "photos") -> str:
    """``"120 / 4,000 · 3.2 photos/s · about 20 min left"``."""
    parts = [f"{progress.done:,} / {progress.total:,}" if progress.total else f"{progress.done:,}"]
    if progress.rate > 0:
        parts.append(f"{progress.rate:.1f} {noun}/s")
    if progress.eta_s is not None and progress.total and progress.done < progress.total:
        parts.append(f"about {format_duration(progress.eta_s)} left")
    return " · ".join(parts)


class TaskStatus(QWidget):
    """A label and a small progress bar for one kind of work (scanning, captioning)."""

    def __init__(self, title: str, noun: str = "photos", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.noun = noun
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(140)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        self.bar.setAccessibleName(f"{title} progress")
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self.setVisible(False)

    def set_progress(self, progress: Progress | None) -> None:
        if progress is None:
            self.setVisible(False)
            return
        self.setVisible(True)
        text = f"{self.title}: {describe_progress(progress, self.noun)}"
        self.label.setText(text)
        self.setAccessibleDescription(text)
        if progress.total:
            self.bar.setRange(0, progress.total)
            self.bar.setValue(min(progress.done, progress.total))
        else:
            self.bar.setRange(0, 0)  # busy indicator


class CaptionStatus(QWidget):
    """Captioning progress, Pause/Resume, the active model, failures and library counts.

    Signals:
        pauseToggled(bool): the user asked to pause (True) or resume (False).
        failuresRequested(): the failures button was clicked.
    """

    pauseToggled = Signal(bool)
    failuresRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.setSpacing(10)
        self.scan = TaskStatus("Scanning", "files")
        self.caption = TaskStatus("Captioning")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setAccessibleName("Pause captioning")
        self.pause_button.setToolTip("Pause or resume captioning in the background")
        self.pause_button.toggled.connect(self._on_pause)
        self.pause_button.setVisible(False)
        # As wide as its widest label, and last in the bar (status-bar widgets are anchored on the
        # right): it never jumps sideways while the counts and the progress text change.
        metrics = self.pause_button.fontMetrics()
        padding = self.pause_button.sizeHint().width() - metrics.horizontalAdvance(self.pause_button.text())
        widest = max(metrics.horizontalAdvance(text) for text in ("Pause", "Resume"))
        self.pause_button.setFixedWidth(widest + padding)
        self.model_label = QLabel()
        self.model_label.setAccessibleName("Captioning model")
        self.failures_button = QToolButton()
        self.failures_button.setAccessibleName("Show photos that could not be captioned")
        self.failures_button.setAutoRaise(True)
        self.failures_button.clicked.connect(self.failuresRequested)
        self.failures_button.setVisible(False)
        self.counts_label = QLabel()
        self.counts_label.setAccessibleName("Library counts")
        for widget in (
            self.counts_label,
            self.failures_button,
            self.model_label,
            self.scan,
            self.caption,
            self.pause_button,
        ):
            layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignVCenter)

    def set_caption_progress(self, progress: Progress | None) -> None:
        if progress is not None and progress.total is not None and progress.done >= progress.total:
            progress = None  # done: the counts say the rest
        self.caption.set_progress(progress)

    def set_captioning_available(self, available: bool) -> None:
        self.pause_button.setVisible(available)

    def set_paused(self, paused: bool) -> None:
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.blockSignals(False)
        self._label_pause(paused)

    def _on_pause(self, paused: bool) -> None:
        self._label_pause(paused)
        self.pauseToggled.emit(paused)

    def _label_pause(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setAccessibleName("Resume captioning" if paused else "Pause captioning")

    def set_model(self, state: ModelState) -> None:
        if state.loading:
            text = "Model: loading…"
        elif state.error:
            text = "Model: not loaded"
        elif state.name:
            text = f"Model: {state.name}"
        else:
            text = "No captioning model"
        self.model_label.setText(text)
        self.model_label.setToolTip(state.describe() + (f"\n{state.path}" if state.path else ""))

    def set_stats(self, stats: LibraryStats) -> None:
        parts = [f"{stats.photos:,} photos"]
        if stats.uncaptioned:
            parts.append(f"{stats.uncaptioned:,} uncaptioned")
        if stats.needs_review:
            parts.append(f"{stats.needs_review:,} to review")
        self.counts_label.setText(" · ".join(parts))
        self.failures_button.setText(f"⚠ {stats.failures:,} failed")
        self.failures_button.setToolTip("Photos that could not be read or captioned; click for the list")
        self.failures_button.setVisible(stats.failures > 0)
