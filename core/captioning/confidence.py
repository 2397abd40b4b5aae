"""How keywords and a caption's confidence read, the same in the CLI, the app and exports."""

from __future__ import annotations

from collections.abc import Iterable

from photoscribe.core.captioning.results import LOW_CONFIDENCE

LOW_CONFIDENCE_ADVICE = "check that every object named is in the photo"


def is_low(confidence: float | None) -> bool:
    """Below :data:`~photoscribe.core.captioning.results.LOW_CONFIDENCE` (``None``, unknown, is not low)."""
    return confidence is not None and confidence < LOW_CONFIDENCE


def confidence_text(confidence: float | None) -> str:
    """ "Confidence 0.34 — low: check that every object named is in the photo", "Confidence 0.81", or ""."""
    if confidence is None:
        return ""
    text = f"Confidence {confidence:.2f}"
    return f"{text} — low: {LOW_CONFIDENCE_ADVICE}" if is_low(confidence) else text


def keywords_text(keywords: Iterable[tuple[str, float | None]]) -> str:
    """ "bus 0.70, vehicle 0.20" (a keyword without a score is its word alone)."""
    return ", ".join(word if score is None else f"{word} {score:.2f}" for word, score in keywords)
