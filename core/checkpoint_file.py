"""Cheap checks on a checkpoint file, before torch is imported.

``torch.save`` writes a zip archive; anything else (a 0-byte or truncated file, a bare pickle,
a photo renamed ``.pt``) is refused here in microseconds, so ``model info`` of a bad file and
a hostile file never cost the seconds it takes to import torch.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from photoscribe.core.errors import ModelLoadError


def check_checkpoint_file(path: str | os.PathLike[str]) -> Path:
    """``path`` if it exists and is a zip archive (what ``torch.save`` writes).

    Raises:
        ModelLoadError: missing, empty, or not a zip archive.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model file {path} not found")
    if path.stat().st_size == 0:
        raise ModelLoadError(f"{path} is empty (0 bytes): not a photoscribe checkpoint")
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(
            f"{path} is not a safe photoscribe checkpoint: it is not a PyTorch zip archive "
            "(a truncated file, a bare pickle or another kind of file)"
        )
    return path
