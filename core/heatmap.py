"""Attention heat-maps: per-word overlays of the attention grid on the photo."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

# A compact "inferno"-like colour ramp: dark purple -> red -> yellow.
_RAMP = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float32,
)


def colorize(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] (H, W) to RGB uint8 (H, W, 3)."""
    pos = np.clip(values, 0.0, 1.0) * (len(_RAMP) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(_RAMP) - 1)
    frac = (pos - lo)[..., None]
    return (_RAMP[lo] * (1 - frac) + _RAMP[hi] * frac).astype(np.uint8)


def attention_overlay(image: Image.Image, weights: np.ndarray, opacity: float = 0.6) -> Image.Image:
    """Blend one word's attention grid (h, w) over ``image``, upsampled smoothly to the image size."""
    grid = np.asarray(weights, dtype=np.float32)
    span = float(grid.max() - grid.min())
    norm = (grid - grid.min()) / span if span > 0 else np.zeros_like(grid)
    small = Image.fromarray((norm * 255).astype(np.uint8), mode="L")
    big = np.asarray(small.resize(image.size, Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
    heat = Image.fromarray(colorize(big), mode="RGB")
    return Image.blend(image.convert("RGB"), heat, opacity)


def save_attention_overlays(
    image: Image.Image, words: Sequence[str], attention: np.ndarray, out_dir: str | Path, stem: str
) -> list[Path]:
    """Write ``{stem}_{i:02d}_{word}.png`` for each word of a caption; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (word, grid) in enumerate(zip(words, attention, strict=True)):
        safe = re.sub(r"[^\w-]+", "_", word) or "word"
        path = out / f"{stem}_{i:02d}_{safe}.png"
        attention_overlay(image, grid).save(path)
        paths.append(path)
    return paths
