"""Choosing the torch device."""

from __future__ import annotations

import torch

from photoscribe.core.errors import PhotoscribeError


def pick_device(preference: str | None = None) -> torch.device:
    """CUDA, then Apple MPS, then CPU; ``preference`` ("cpu", "cuda", "cuda:1", "mps", "auto") overrides."""
    if preference and preference != "auto":
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise PhotoscribeError(
                f"device {preference!r} requested but CUDA is not available; use --device cpu"
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise PhotoscribeError(
                f"device {preference!r} requested but MPS is not available; use --device cpu"
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
