"""The preprocessor resizes and crops with PIL exactly as torchvision's functional transforms do.

The captioning path no longer imports torchvision (start-up time); the photos the model sees must
be the same pixels as before, in both resize modes and for wide, tall, odd-sized and already
square photos.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from photoscribe.core.model.preprocess import ImagePreprocessor


def _photo(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(width * 1000 + height)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _torchvision_crop(pre: ImagePreprocessor, img: Image.Image) -> Image.Image:
    """The preprocessor's crop as it was written with torchvision."""
    if pre.mode == "whole":
        return TF.resize(img, [pre.image_size, pre.image_size], antialias=True)
    img = TF.resize(img, [pre.resize], antialias=True)
    return TF.center_crop(img, [pre.image_size, pre.image_size])


@pytest.mark.parametrize("size", [(640, 480), (480, 640), (333, 517), (256, 256), (1001, 257), (300, 300)])
@pytest.mark.parametrize("mode", ["crop", "whole"])
def test_crop_matches_torchvision(size: tuple[int, int], mode: str) -> None:
    pre = ImagePreprocessor(image_size=224, resize=256, mode=mode)
    img = _photo(*size)
    ours = np.asarray(pre.crop(img))
    theirs = np.asarray(_torchvision_crop(pre, img))
    assert ours.shape == (224, 224, 3)
    np.testing.assert_array_equal(ours, theirs)


def test_tensor_and_back_match_torchvision() -> None:
    pre = ImagePreprocessor(image_size=240, resize=274)
    img = _photo(500, 375)
    x = pre(img)
    expected = pre.normalize(TF.pil_to_tensor(_torchvision_crop(pre, img)).unsqueeze(0))[0]
    assert x.dtype == torch.float32 and x.shape == (3, 240, 240)
    torch.testing.assert_close(x, expected, rtol=0, atol=0)
    back = pre.denormalize(x)
    np.testing.assert_array_equal(
        np.asarray(back), np.asarray(TF.to_pil_image(TF.pil_to_tensor(pre.crop(img))))
    )
