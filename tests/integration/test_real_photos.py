"""Every real photo in the shared data sets goes through the inference preprocessing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from photoscribe.core.model.preprocess import IMAGENET_MEAN, IMAGENET_STD, ImagePreprocessor

pytestmark = pytest.mark.slow  # reads the real photos in ../shared/data

DATA_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data"
PHOTO_FOLDERS = ["flickr8k-subset/Images", "coco-mini/train2017", "coco-mini/val2017"]

# The range a normalised 0..1 pixel can take: (0 - mean) / std .. (1 - mean) / std per channel.
LOWEST = min(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True))  # about -2.12
HIGHEST = max((1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True))  # about 2.64


def photos_in(folder: str) -> list[Path]:
    directory = DATA_ROOT / folder
    if not directory.is_dir():
        pytest.skip(f"shared photo folder {directory} is not on this machine")
    photos = sorted(p for p in directory.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if not photos:
        pytest.skip(f"shared photo folder {directory} holds no JPEGs")
    return photos


def problems_with(tensor: torch.Tensor) -> str | None:
    if tensor.shape != (3, 224, 224) or tensor.dtype != torch.float32:
        return f"shape {tuple(tensor.shape)} dtype {tensor.dtype}"
    if not torch.isfinite(tensor).all():
        return "non-finite values"
    lo, hi = tensor.min().item(), tensor.max().item()
    if lo < LOWEST - 1e-4 or hi > HIGHEST + 1e-4:
        return f"values outside the normalised range: {lo:.3f}..{hi:.3f}"
    if tensor.std().item() < 0.05 or (tensor.amax(dim=(1, 2)) - tensor.amin(dim=(1, 2))).min() < 0.1:
        return f"nearly constant (std {tensor.std().item():.4f})"
    return None


@pytest.mark.parametrize("folder", PHOTO_FOLDERS)
def test_every_real_photo_preprocesses_to_a_plausible_tensor(folder: str) -> None:
    pre = ImagePreprocessor()
    failures: list[str] = []
    channel_means = []
    for path in photos_in(folder):
        tensor = pre.load(path)
        problem = problems_with(tensor)
        if problem is not None:
            failures.append(f"{path.name}: {problem}")
        channel_means.append(tensor.mean(dim=(1, 2)))
    assert not failures, f"{len(failures)} photos in {folder} look wrong:\n" + "\n".join(failures[:20])
    # Natural photos average out near the ImageNet statistics, i.e. near 0 after normalising;
    # a channel swap or a missing normalisation would shift this far away.
    overall = torch.stack(channel_means).mean(dim=0)
    assert overall.abs().max().item() < 0.5, f"mean per channel {overall.tolist()}"
