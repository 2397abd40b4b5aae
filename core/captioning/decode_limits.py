"""How large a beam, a batch and a caption may be: bounds derived from a memory budget.

Beam search decodes every photo of a batch with every beam at once, as ``batch x beam`` rows
(:func:`~photoscribe.core.model.decoding.beam_search`). Each row holds its own copy of the encoder's
grid and of its attention projection, a few vocabulary-wide rows of scores (the logits, their
log-softmax, the candidates, the continuations, the repeat mask) and the words and attention
maps so far. ``caption --beam 100000`` asked for 20 GB and was killed by the kernel.

The budget is ``PHOTOSCRIBE_DECODE_BUDGET_MB`` (default 1536 MB), the memory decoding may take
at once on the CPU: images share it while they are decoded, the model's batch may take it while
captions are. On a GPU the batch lives in the GPU's memory, and the captioner's budget is half
of what is free there.

Two checks: the command line bounds each argument before anything is loaded, with the costs of
the largest model photoscribe trains (:meth:`DecodeCost.worst_case`: a ResNet-152's 7x7x2048
grid, a 512-wide attention, a 30,000-word vocabulary); the captioner checks the batch and the
beam together with its own model's costs (:meth:`DecodeCost.of_model`) and its device's budget.
Measured with the bundled default model (EfficientNet-Lite0, 2,917 words) on a CPU: one photo
with a beam of 1435 peaked 863 MB above a beam of 3 (1.77 GB against 0.91 GB), two photos with
a beam of 961 1,195 MB above it (2.11 GB against 0.91 GB): 0.60 to 0.62 MB per row, which
:meth:`DecodeCost.of_model` puts at 0.64 MB. Torch-free, so the command line checks its arguments
before it loads anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from photoscribe.core import environment
from photoscribe.core.errors import UsageError

_SCORE_COPIES = 5  # logits, log-softmax, candidates, continuations, repeat mask
# What tensors beam search allocates beside the ones counted (the repeated features and their
# projection, concatenated histories, the allocator's slack): measured 1.5 times, 1.6 for margin.
_OVERHEAD = 1.6
# Words per caption: the model config's own limit (core/model/config.py).
MAX_LENGTH = 200
DEFAULT_LENGTH = 20
# More photos per model call than any device needs to be busy (docs/benchmarks.md: past a few
# hundred photos an H100 is no faster); the budget usually allows far fewer.
MAX_BATCH_SIZE = 1024


@dataclass(frozen=True)
class DecodeCost:
    """Bytes captioning takes: ``photo`` to encode one photo, ``row`` per (photo, beam) row."""

    photo: int
    row: int

    @classmethod
    def of_model(
        cls,
        *,
        cells: int,
        channels: int,
        attention_dim: int,
        vocab_size: int,
        image_size: int,
        max_length: int = DEFAULT_LENGTH,
    ) -> DecodeCost:
        """The costs of a model: its grid of ``cells`` x ``channels``, its attention, vocabulary and input."""
        grid = cells * (channels + attention_dim) * 4
        scores = vocab_size * 4 * _SCORE_COPIES
        history = (max_length + 1) * (cells * 4 * 2 + 8 * 2)  # attention maps and words, copied per step
        # The float pixels and the encoder's live activations: about 16 times the input in
        # inference mode (EfficientNet's and ResNet's widest early stages).
        photo = 16 * 3 * image_size * image_size * 4
        return cls(photo=photo, row=int((grid + scores + history) * _OVERHEAD))

    @classmethod
    def worst_case(cls, max_length: int = DEFAULT_LENGTH) -> DecodeCost:
        """The largest model photoscribe trains: ResNet-152 (7x7x2048), attention 512, 30,000 words."""
        return cls.of_model(
            cells=49,
            channels=2048,
            attention_dim=512,
            vocab_size=30_000,
            image_size=224,
            max_length=max_length,
        )

    def batch(self, batch_size: int, beam: int) -> int:
        """What captioning ``batch_size`` photos with ``beam`` beams takes."""
        return batch_size * (self.photo + beam * self.row)

    def max_beam(self, budget: int, batch_size: int = 1) -> int:
        """The largest beam ``batch_size`` photos may use within ``budget`` bytes (at least 1)."""
        return max(1, (budget // max(1, batch_size) - self.photo) // self.row)

    def max_batch_size(self, budget: int, beam: int) -> int:
        """The largest batch that fits ``budget`` bytes with ``beam`` beams (at least 1)."""
        return max(1, min(MAX_BATCH_SIZE, budget // (self.photo + beam * self.row)))


def budget_bytes() -> int:
    """The decode budget (``PHOTOSCRIBE_DECODE_BUDGET_MB``) in bytes."""
    return environment.decode_budget_mb() * 2**20


def _budget_hint(cost: DecodeCost, budget: int, where: str) -> str:
    return (
        f"{where}{budget / 2**20:.0f} MB; each photo takes about {cost.photo / 2**20:.0f} MB "
        f"plus {cost.row / 2**20:.1f} MB per beam"
    )


def host_budget_name() -> str:
    """How a message names the host budget: the variable and its value."""
    return f"{environment.DECODE_BUDGET_MB}="


def check_decoding(
    beam: int, batch_size: int, cost: DecodeCost, budget: int | None = None, where: str | None = None
) -> None:
    """Refuse a beam and batch that together need more than ``budget`` (default the host's).

    Args:
        where: how the message names the budget, before its size (default
            ``PHOTOSCRIBE_DECODE_BUDGET_MB=``; a GPU's: ``half the GPU's free memory, ``).

    Raises:
        UsageError: with what the budget allows and how to raise it.
    """
    budget = budget_bytes() if budget is None else budget
    if cost.batch(batch_size, beam) <= budget:
        return
    need = cost.batch(batch_size, beam) / 2**20
    raise UsageError(
        f"a beam of {beam} for {batch_size} photos at a time needs about {need:,.0f} MB, more than the "
        f"decode budget ({_budget_hint(cost, budget, where or host_budget_name())}); use --beam "
        f"{cost.max_beam(budget, batch_size)} or less, --batch-size {cost.max_batch_size(budget, beam)} "
        f"or less, or raise {environment.DECODE_BUDGET_MB}"
    )


def beam_limit() -> tuple[int, str]:
    """``--beam`` / ``--n-best``: (the most one photo may use within the decode budget, why)."""
    cost, budget = DecodeCost.worst_case(), budget_bytes()
    return cost.max_beam(budget), (
        f"what one photo may use within the decode budget: {_budget_hint(cost, budget, host_budget_name())}"
    )


def batch_size_limit() -> tuple[int, str]:
    """``--batch-size`` of a captioning command: (the most photos per model call, why)."""
    return MAX_BATCH_SIZE, "more than any device needs; the decode budget may allow fewer"


def length_limit() -> tuple[int, str]:
    """``--max-length``: (words per caption at most, why): the model config's own limit."""
    return MAX_LENGTH, "the longest caption a model may have"


__all__ = [
    "MAX_BATCH_SIZE",
    "MAX_LENGTH",
    "DecodeCost",
    "batch_size_limit",
    "beam_limit",
    "budget_bytes",
    "check_decoding",
    "length_limit",
]
