"""Where torchvision's ImageNet ResNet weights come from and where they are cached (no torch import).

The app's first page names these files before torch is loaded, so the table and the hub-cache
rule are kept here; tests check them against torchvision and ``torch.hub.get_dir``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "PHOTOSCRIBE_ENCODER_WEIGHTS"  # an ImageNet weights file the user points at

# torchvision's ``ResNet*_Weights.IMAGENET1K_V1`` (the paper era's weights); the hash prefix in
# each name is what torchvision checks a download against.
RESNET_WEIGHTS_URLS = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "resnet101": "https://download.pytorch.org/models/resnet101-63fe2227.pth",
    "resnet152": "https://download.pytorch.org/models/resnet152-394f9c45.pth",
}


def weights_url(name: str) -> str:
    try:
        return RESNET_WEIGHTS_URLS[name]
    except KeyError:
        raise ValueError(
            f"{name!r} has no torchvision weights; choose one of {', '.join(RESNET_WEIGHTS_URLS)}"
        ) from None


def torch_hub_dir() -> Path:
    """``torch.hub.get_dir()``: ``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``."""
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        torch_home = os.path.join(cache, "torch")
    return Path(os.path.expanduser(torch_home)) / "hub"


def hub_cache_path(name: str) -> Path:
    """Where torchvision caches the ImageNet weights file for ResNet ``name``."""
    return torch_hub_dir() / "checkpoints" / os.path.basename(weights_url(name))
