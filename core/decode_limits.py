"""How large a beam, a batch and a caption may be: bounds derived from a memory budget.

Beam search decodes every photo of a batch with every beam at once, as ``batch x beam`` rows
(:func:`~photoscribe.core.decoding.beam_search`). Each row holds its own copy of the encoder's
grid and of its attention projection, a few vocabulary-wide rows of scores (the logits, their
log-softmax, the candidates, the continuations, the repeat mask) and the words and attention
maps so far. ``caption --beam 100000`` asked for 20 GB and was killed by the kernel.

The budget is ``PHOTOSCRIBE_DECODE_BUDGET_MB`` (default 1536 MB), the memory decoding may take
at once: images share it while they are decoded, the model's batch may take it while captions
are. Costs are estimated for the largest model photoscribe trains (a ResNet-152's 7x7x2048 grid,
a 512-wide attention and a 30,000-word vocabulary), so they hold for every model. Measured with
the bundled default model (EfficientNet-Lite0, 2,917 words) captioning one photo on a CPU: the
largest beam the default budget allows, 1435, peaked 863 MB above a beam of 3 (1.77 GB against
0.91 GB), inside the 1.5 GB budget. A GPU's default batch (128 photos) is made smaller for
large beams the same way (79 photos at a beam of 3); raise the budget to keep it.
Torch-free, so the command line checks its arguments before it loads anything.
"""

from __future__ import annotations

from photoscribe.core import environment
from photoscribe.core.errors import UsageError

_CELLS = 49  # a 7x7 encoder grid
_CHANNELS = 2048  # ResNet-152's features
_ATTENTION = 512
_VOCAB = 30_000
_SCORE_COPIES = 5  # logits, log-softmax, candidates, continuations, repeat mask
# Encoding one photo, an estimate with margin: its float pixels (0.6 MB at 224 px) and the
# encoder's largest live activations in inference mode (a few MB at 224 px, float32).
PHOTO_BYTES = 16 * 2**20
# Words per caption: the model config's own limit (core/model_config.py).
MAX_LENGTH = 200
DEFAULT_LENGTH = 20


def row_bytes(max_length: int = DEFAULT_LENGTH) -> int:
    """Bytes one (photo, beam) row of beam search takes, for captions of up to ``max_length`` words."""
    grid = _CELLS * (_CHANNELS + _ATTENTION) * 4
    scores = _VOCAB * 4 * _SCORE_COPIES
    history = (max_length + 1) * (_CELLS * 4 * 2 + 8 * 2)  # attention maps and words, copied per step
    return grid + scores + history


def budget_bytes() -> int:
    """The decode budget (``PHOTOSCRIBE_DECODE_BUDGET_MB``) in bytes."""
    return environment.decode_budget_mb() * 2**20


def batch_bytes(batch_size: int, beam: int, max_length: int = DEFAULT_LENGTH) -> int:
    """What captioning a batch of ``batch_size`` photos with ``beam`` beams takes at most."""
    return batch_size * (PHOTO_BYTES + beam * row_bytes(max_length))


def max_beam(batch_size: int = 1, max_length: int = DEFAULT_LENGTH) -> int:
    """The largest beam a batch of ``batch_size`` photos may use within the budget (at least 1)."""
    room = budget_bytes() // max(1, batch_size) - PHOTO_BYTES
    return max(1, room // row_bytes(max_length))


def max_batch_size(beam: int = 1, max_length: int = DEFAULT_LENGTH) -> int:
    """The largest batch that fits the budget with ``beam`` beams (at least 1)."""
    return max(1, budget_bytes() // (PHOTO_BYTES + beam * row_bytes(max_length)))


def fit_batch_size(default: int, beam: int, max_length: int = DEFAULT_LENGTH) -> int:
    """``default`` made smaller, if need be, so that a batch fits the budget with ``beam`` beams."""
    return max(1, min(default, max_batch_size(beam, max_length)))


def _budget_hint() -> str:
    return (
        f"{environment.DECODE_BUDGET_MB}={environment.decode_budget_mb()} MB; each photo takes about "
        f"{PHOTO_BYTES / 2**20:.0f} MB plus {row_bytes() / 2**20:.1f} MB per beam"
    )


def check_decoding(beam: int, batch_size: int | None, max_length: int | None = None) -> None:
    """Refuse a beam, batch and caption length that together need more than the budget.

    ``batch_size`` ``None`` is a default the captioner makes fit (:func:`fit_batch_size`).

    Raises:
        UsageError: with what the budget allows and how to raise it.
    """
    length = max_length or DEFAULT_LENGTH
    batch = batch_size or 1
    if batch_bytes(batch, beam, length) <= budget_bytes():
        return
    need = batch_bytes(batch, beam, length) / 2**20
    raise UsageError(
        f"a beam of {beam} for {batch} photos at a time needs about {need:,.0f} MB, more than the decode "
        f"budget ({_budget_hint()}); use --beam {max_beam(batch, length)} or less, a smaller "
        f"--batch-size, or raise {environment.DECODE_BUDGET_MB}"
    )


def beam_limit() -> tuple[int, str]:
    """``--beam`` / ``--n-best``: (the most one photo may use within the decode budget, why)."""
    return max_beam(), f"what one photo may use within the decode budget: {_budget_hint()}"


def batch_size_limit() -> tuple[int, str]:
    """``--batch-size`` of a captioning command: (the most that fits the budget with a beam of 1, why)."""
    return max_batch_size(), f"what fits the decode budget with a beam of 1: {_budget_hint()}"


def length_limit() -> tuple[int, str]:
    """``--max-length``: (words per caption at most, why): the model config's own limit."""
    return MAX_LENGTH, "the longest caption a model may have"


__all__ = [
    "MAX_LENGTH",
    "PHOTO_BYTES",
    "batch_bytes",
    "batch_size_limit",
    "beam_limit",
    "budget_bytes",
    "check_decoding",
    "fit_batch_size",
    "length_limit",
    "max_batch_size",
    "max_beam",
    "row_bytes",
]
