"""Checkpoint averaging: the mean of the weights of a run's last few epochs.

Averaging the parameters of checkpoints along one training trajectory (Vaswani et al. 2017,
fairseq's ``average_checkpoints.py``) often scores a little better than any single epoch, at
no training cost. Only checkpoints of one architecture and one vocabulary can be averaged:
the same model config (what rebuilds the model) and the same words in the same order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import torch

from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.model.checkpoint import Checkpoint, load_checkpoint, write_checkpoint

__all__ = ["average_checkpoints", "average_states"]


def average_states(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of state dicts with the same keys and shapes.

    Floating-point tensors are averaged in float32 and stored in their own dtype; integer ones
    (batch norm's ``num_batches_tracked``) are taken from the last state.
    """
    out: dict[str, torch.Tensor] = {}
    for key, last in states[-1].items():
        if last.is_floating_point():
            mean = torch.stack([s[key].float() for s in states]).mean(dim=0)
            out[key] = mean.to(last.dtype)
        else:
            out[key] = last.clone()
    return out


def _check_same_model(first: Checkpoint, first_path: Path, other: Checkpoint, path: Path) -> None:
    what = "only checkpoints of one training run (one config, one vocabulary) can be averaged"
    if other.config != first.config:
        a, b = first.config.to_dict(), other.config.to_dict()
        diff = ", ".join(f"{k} {a[k]!r} vs {b[k]!r}" for k in a if a[k] != b[k])
        raise PhotoscribeError(f"{path} has a different model config from {first_path} ({diff}): {what}")
    if other.vocab.to_dict() != first.vocab.to_dict():
        raise PhotoscribeError(f"{path} has a different vocabulary from {first_path}: {what}")
    for name, a_state, b_state in (
        ("decoder", first.decoder_state, other.decoder_state),
        ("encoder", first.encoder_state or {}, other.encoder_state or {}),
    ):
        if a_state.keys() != b_state.keys() or any(a_state[k].shape != b_state[k].shape for k in a_state):
            raise PhotoscribeError(f"{path}: its {name} weights differ in names or shapes from {first_path}")


def average_checkpoints(paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> Path:
    """Write the average of checkpoints ``paths`` (e.g. ``RUN/epoch_08.pt`` .. ``epoch_10.pt``)
    to ``out``: averaged weights, the first's config and vocabulary, no training state and no
    concept head (one is fitted to one model's features: train it again on the average).

    Raises:
        PhotoscribeError: fewer than two checkpoints, or they differ in config, vocabulary or
            weight names/shapes (a :class:`~photoscribe.core.errors.ModelLoadError` for a bad file).
    """
    files = [Path(p) for p in paths]
    if len(files) < 2:
        raise PhotoscribeError("give at least two checkpoints to average")
    ckpts = [load_checkpoint(p) for p in files]
    first = ckpts[0]
    for ckpt, path in zip(ckpts[1:], files[1:], strict=True):
        _check_same_model(first, files[0], ckpt, path)
    encoder = None
    if first.encoder_state is not None:
        encoder = average_states([c.encoder_state for c in ckpts if c.encoder_state is not None])
    out_path = Path(out)
    metadata = {
        **{k: v for k, v in first.metadata.items() if k not in ("metrics", "epoch")},
        "model_id": f"{out_path.stem}-{uuid.uuid4().hex[:8]}",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "averaged_from": [p.name for p in files],
    }
    averaged = dataclasses.replace(
        first,
        decoder_state=average_states([c.decoder_state for c in ckpts]),
        encoder_state=encoder,
        metadata=metadata,
        training_state=None,
        concepts=None,  # fitted to one set of weights: run `model add-concepts` on the average
    )
    return write_checkpoint(out_path, averaged)
