"""Loading a captioner from a checkpoint: the one place the app and the CLI do it.

torch is imported when :func:`load_captioner` runs, not when this module is imported, so the app
shows its window and the CLI parses its arguments before the model stack loads.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from photoscribe.core.captioning.captioner import Captioner

DEFAULT_DEVICE = "auto"


def load_captioner(
    path: str | os.PathLike[str],
    *,
    device: str = DEFAULT_DEVICE,
    encoder_weights: str | os.PathLike[str] | None = None,
    **options: object,
) -> Captioner:
    """Load the checkpoint at ``path`` (safely) and build a :class:`Captioner` for it (seconds).

    ``options`` go to :class:`~photoscribe.core.captioning.captioner.Captioner` (``beam_size``,
    ``n_best``, ``batch_size``, ...).

    Raises:
        ModelLoadError: the file is not a usable checkpoint.
    """
    from photoscribe.core.captioning.captioner import Captioner

    return Captioner.load(path, device=device, encoder_weights=encoder_weights, **options)
