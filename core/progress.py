"""Progress reporting shared by every long job (captioning, scanning, training, export).

Long-running functions in ``core`` and ``training`` take
``on_progress: ProgressCallback | None`` and ``cancel: threading.Event | None``.
The CLI turns :class:`Progress` into a tqdm bar; the desktop app forwards it
through a Qt signal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from photoscribe.core.errors import CancelledError


@dataclass(frozen=True)
class Progress:
    """A snapshot of a long job.

    Attributes:
        stage: short machine-readable name of the phase ("caption", "extract", "train", ...).
        done: units finished so far.
        total: units in all, or ``None`` when unknown.
        message: one human-readable line (a sample caption, the current file, ...).
        rate: units per second since the job started.
        eta_s: estimated seconds left, or ``None``.
        extra: free-form numbers for the UI (loss, metrics, ...).
    """

    stage: str
    done: int
    total: int | None = None
    message: str = ""
    rate: float = 0.0
    eta_s: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


class ProgressTracker:
    """Computes rate and ETA and forwards :class:`Progress` to a callback."""

    def __init__(self, stage: str, total: int | None, on_progress: ProgressCallback | None) -> None:
        self.stage = stage
        self.total = total
        self.on_progress = on_progress
        self.start = time.perf_counter()
        self.done = 0

    def update(self, done: int, message: str = "", extra: dict[str, float] | None = None) -> Progress:
        self.done = done
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = done / elapsed
        eta = None
        if self.total is not None and rate > 0:
            eta = max(0.0, (self.total - done) / rate)
        progress = Progress(self.stage, done, self.total, message, rate, eta, dict(extra or {}))
        if self.on_progress is not None:
            self.on_progress(progress)
        return progress

    def advance(self, n: int = 1, message: str = "", extra: dict[str, float] | None = None) -> Progress:
        return self.update(self.done + n, message, extra)


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise :class:`CancelledError` if ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise CancelledError("cancelled by the user")
