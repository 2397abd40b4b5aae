"""What captioning returns: plain frozen dataclasses with no torch in them.

The library's caption queue, the CLI and the app read these without importing the model code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Alternative:
    text: str
    logprob: float


@dataclass(frozen=True)
class CaptionResult:
    """A captioned photo.

    Attributes:
        alternatives: the n-best captions, best first (the first is ``text``).
        attention: (n_words, h, w) attention map per word of ``text``.
        feature: L2-normalised mean-pooled encoder feature (C,), for "more like this".
    """

    path: Path
    text: str
    logprob: float
    alternatives: tuple[Alternative, ...]
    words: tuple[str, ...]
    attention: np.ndarray
    feature: np.ndarray
    seconds: float


@dataclass(frozen=True)
class CaptionFailure:
    path: Path
    error: str


@dataclass
class BatchReport:
    results: list[CaptionResult] = field(default_factory=list)
    failures: list[CaptionFailure] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0
