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
class Keyword:
    """A word a person would search for, from the encoder's ImageNet classifier.

    Attributes:
        word: a plain lower-case word or phrase ("beagle", "dog", "animal", "bus").
        score: the classifier's probability that the photo shows it (0-1); a broader term's
            probability is the sum over the ImageNet classes under it.
    """

    word: str
    score: float


@dataclass(frozen=True)
class CaptionResult:
    """A captioned photo.

    Attributes:
        alternatives: the n-best captions, best first (the first is ``text``).
        attention: (n_words, h, w) attention map per word of ``text``.
        feature: L2-normalised mean-pooled encoder feature (C,), for "more like this".
        keywords: search words from the encoder's ImageNet classifier, most probable first.
        confidence: 0-1, how likely the caption names only objects that are in the photo
            (None for a model that cannot tell).
    """

    path: Path
    text: str
    logprob: float
    alternatives: tuple[Alternative, ...]
    words: tuple[str, ...]
    attention: np.ndarray
    feature: np.ndarray
    seconds: float
    keywords: tuple[Keyword, ...] = ()
    confidence: float | None = None


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


# A model caption whose confidence is below this is "low confidence": the app marks it, "Needs review"
# lists it first, and alt-text exports leave it out of unreviewed exports unless asked. Calibrated on the
# general photo set (docs/model-card.md).
LOW_CONFIDENCE = 0.5
