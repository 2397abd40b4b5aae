"""Finding ImageNet encoder weights on a machine that may be offline.

torchvision would download ``resnet50-0676ba61.pth`` into the torch hub cache.
We never download at run time: we look for the file where torchvision would
have put it, or where the user points us, and otherwise say exactly which file
is needed and where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.hub import get_dir
from torchvision.models import WeightsEnum

from photoscribe.core.encoder import BACKBONES
from photoscribe.core.errors import AssetMissingError, ModelLoadError

ENV_VAR = "PHOTOSCRIBE_ENCODER_WEIGHTS"


def imagenet_weights(name: str) -> WeightsEnum:
    """torchvision's ImageNet weights enum member for a backbone (IMAGENET1K_V1, as in the paper's era)."""
    try:
        enum = BACKBONES[name].weights_enum
    except KeyError:
        raise ValueError(f"{name!r} has no ImageNet weights; choose one of {', '.join(BACKBONES)}") from None
    assert enum is not None
    return enum.IMAGENET1K_V1


def hub_cache_path(name: str) -> Path:
    """Where torchvision caches the ImageNet weights file for ``name``."""
    url = imagenet_weights(name).url
    return Path(get_dir()) / "checkpoints" / os.path.basename(url)


def find_encoder_weights(name: str, explicit: str | os.PathLike[str] | None = None) -> Path:
    """Path of a local ImageNet weights file for encoder ``name``.

    Looks at ``explicit``, then ``$PHOTOSCRIBE_ENCODER_WEIGHTS``, then the torch hub cache.

    Raises:
        AssetMissingError: with the file name, its download URL and where to put it.
    """
    for candidate in (explicit, os.environ.get(ENV_VAR)):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise AssetMissingError(f"encoder weights file {path} does not exist")
            return path
    cached = hub_cache_path(name)
    if cached.is_file():
        return cached
    url = imagenet_weights(name).url
    raise AssetMissingError(
        f"The {name} encoder needs torchvision's ImageNet weights file {cached.name}, which is not on "
        f"this machine and cannot be downloaded now.\n"
        f"  Download it on a machine with internet access: {url}\n"
        f"  then copy it to {cached}\n"
        f"  or point to it with --encoder-weights PATH or the {ENV_VAR} environment variable."
    )


def load_encoder_state(name: str, explicit: str | os.PathLike[str] | None = None) -> dict[str, torch.Tensor]:
    """ImageNet state dict for a torchvision ResNet, loaded safely (``weights_only=True``)."""
    path = find_encoder_weights(name, explicit)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt / hostile files
        raise ModelLoadError(f"cannot load encoder weights {path}: {exc}") from exc
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path} is not a state dict of a torchvision {name}")
    return state
