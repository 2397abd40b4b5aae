"""The model's view of a photo: resize (and centre crop) to a square, normalise, as a tensor.

Resizing and cropping are done with PIL directly, exactly as torchvision's ``resize`` and
``center_crop`` do on a PIL image (antialiased bilinear ``Image.resize``, the same output size and
crop box; ``tests/unit/test_preprocess_torchvision.py`` checks it), so that captioning with the
default EfficientNet-Lite0 model never imports torchvision (about 3 s of start-up on a small CPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from photoscribe.core.files.imaging import RESIZE_MODES, load_image, to_rgb

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "RESIZE_MODES", "ImagePreprocessor"]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImagePreprocessor:
    """Turns a photo into the encoder's input: resize (and centre crop), normalise.

    Attributes:
        image_size: side of the square fed to the encoder.
        resize: in ``"crop"`` mode the shorter side is resized to this before cropping.
        mode: ``"crop"`` (ImageNet evaluation style: short side to ``resize``, centre square,
            which cuts off the sides of a wide photo) or ``"whole"`` (the whole photo resized
            to the square, aspect not kept: what the shared Flickr8k copy and the default
            model's training data are).
        mean: per-channel mean subtracted after scaling to 0..1.
        std: per-channel standard deviation divided by.
    """

    image_size: int = 224
    resize: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    mode: str = "crop"

    def __post_init__(self) -> None:
        if self.image_size <= 0 or self.resize < self.image_size:
            raise ValueError(
                f"need 0 < image_size <= resize, got image_size={self.image_size}, resize={self.resize}"
            )
        if self.mode not in RESIZE_MODES:
            raise ValueError(f"resize mode must be one of {', '.join(RESIZE_MODES)}, not {self.mode!r}")

    def __call__(self, img: Image.Image) -> torch.Tensor:
        """Return a float32 tensor of shape (3, image_size, image_size)."""
        x = torch.from_numpy(np.array(self.crop(img))).permute(2, 0, 1)  # (3, S, S) uint8
        return self.normalize(x.unsqueeze(0))[0].contiguous()

    def crop(self, img: Image.Image) -> Image.Image:
        """The ``image_size`` square the encoder sees (antialiased bilinear resampling).

        ``"crop"``: resize the shorter side to ``resize``, then take the centre square;
        ``"whole"``: resize the whole photo to the square.
        """
        img = to_rgb(img)
        side = self.image_size
        if self.mode == "whole":
            return _resized(img, side, side)
        # Shorter side -> resize, the longer one scaled and truncated, as torchvision computes it.
        short, long = sorted(img.size)
        new_long = int(self.resize * long / short)
        img = _resized(
            img, *((self.resize, new_long) if img.width <= img.height else (new_long, self.resize))
        )
        left = round((img.width - side) / 2.0)  # the longer side >= resize >= image_size: no padding
        top = round((img.height - side) / 2.0)
        return img.crop((left, top, left + side, top + side))

    def load(self, path: str | Path) -> torch.Tensor:
        """:func:`load_image` (JPEG decoded at reduced scale) followed by :meth:`__call__`."""
        return self(load_image(path, target_size=self.resize))

    def load_uint8(self, path: str | Path) -> np.ndarray:
        """The model's view of a photo before normalisation: (S, S, 3) uint8, the compact form
        that worker processes hand over (a quarter of the bytes of float32).

        ``normalize(torch.from_numpy(a)[None].permute(0, 3, 1, 2))`` equals :meth:`load`.
        """
        return np.array(self.crop(load_image(path, target_size=self.resize)))  # writable copy

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, S, S), in any memory layout and on any device -> normalised float32.

        The layout is kept, so an NHWC batch (``permute`` of (B, S, S, 3)) comes out
        channels-last, the layout convolutions run fastest in.
        """
        mean = torch.tensor(self.mean, device=batch.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=batch.device).view(1, 3, 1, 1)
        return (batch.to(torch.float32) * (1.0 / 255.0) - mean) / std  # same rounding as torchvision

    def denormalize(self, tensor: torch.Tensor) -> Image.Image:
        """Undo the normalisation of a (3, H, W) or (1, 3, H, W) tensor, for visualisation."""
        if tensor.dim() == 4 and tensor.shape[0] == 1:
            tensor = tensor[0]
        if tensor.dim() != 3 or tensor.shape[0] != 3:
            raise ValueError(f"expected a (3, H, W) tensor, got shape {tuple(tensor.shape)}")
        x = tensor.detach().to("cpu", torch.float32)
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        x = (x * std + mean).clamp(0.0, 1.0)
        return Image.fromarray((x * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy())


def _resized(img: Image.Image, width: int, height: int) -> Image.Image:
    """``img`` at ``width`` x ``height`` with PIL's (antialiased) bilinear filter; itself if already that size."""
    if img.size == (width, height):
        return img
    return img.resize((width, height), resample=Image.Resampling.BILINEAR)
