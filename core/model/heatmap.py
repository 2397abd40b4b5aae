"""Attention heat-maps: per-word overlays of the attention grid on the photo.

The colours are on an absolute scale, the same for every word and photo: a cell's weight
relative to uniform attention (1/N over N cells), from 0 (black) to :data:`CEILING` times
uniform (pale yellow) and above. Stretching each map from its own minimum to maximum would
make attention spread evenly over the photo look as focused as attention on one object;
on this scale an even map is dark all over, and :func:`attention_is_flat` says so in words.
"""

from __future__ import annotations

import os
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


# The colour ramp's top: a cell with 8x the uniform weight (1/N) or more is drawn brightest. On a
# 7x7 grid, attention mostly on one cell (a weight of 0.16 or more) reaches it, attention shared by
# four or five cells shows mid-ramp, and uniform attention sits at 1/8 of the ramp (dark purple).
CEILING = 8.0
# Attention whose largest weight is under twice the uniform one looked nowhere in particular.
FLAT_PEAK = 2.0


def relative_to_uniform(weights: np.ndarray) -> np.ndarray:
    """One word's attention grid (h, w) as multiples of uniform attention: ``w_i * N / sum(w)``
    (weights are normalised first, so stored half-precision maps read the same)."""
    grid = np.asarray(weights, dtype=np.float32)
    total = float(grid.sum())
    return grid * (grid.size / total) if total > 0 else np.zeros_like(grid)


def attention_is_flat(weights: np.ndarray) -> bool:
    """Whether attention is spread (nearly) evenly: its peak is under :data:`FLAT_PEAK` (2) times
    the uniform weight 1/N. An all-zero grid is flat too."""
    return float(relative_to_uniform(weights).max(initial=0.0)) < FLAT_PEAK


def attention_overlay(image: Image.Image, weights: np.ndarray, opacity: float = 0.6) -> Image.Image:
    """Blend one word's attention grid (h, w) over ``image``, upsampled smoothly to the image size.

    Colours are absolute (see the module's notes): weight / uniform from 0 to :data:`CEILING`.
    """
    norm = np.clip(relative_to_uniform(weights) / CEILING, 0.0, 1.0)
    small = Image.fromarray((norm * 255).astype(np.uint8), mode="L")
    big = np.asarray(small.resize(image.size, Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
    heat = Image.fromarray(colorize(big), mode="RGB")
    return Image.blend(image.convert("RGB"), heat, opacity)


NAME_MAX = 255  # bytes in one file name (ext4, APFS, NTFS in UTF-16 units: at least as many)
MAX_WORD_CHARS = 40


def fit_name(stem: str, max_bytes: int) -> str:
    """``stem`` cut to at most ``max_bytes`` bytes in the file system's encoding, never mid-character."""
    raw = os.fsencode(stem)
    if len(raw) <= max_bytes:
        return stem
    cut = raw[:max_bytes]
    while cut:
        try:
            cut.decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            if exc.start < len(cut) - 3:  # bytes that are not UTF-8 anyway: keep them as they are
                break
            cut = cut[: exc.start]
    return os.fsdecode(cut)


def save_attention_overlays(
    image: Image.Image, words: Sequence[str], attention: np.ndarray, out_dir: str | Path, stem: str
) -> list[Path]:
    """Write ``{stem}_{i:02d}_{word}.png`` for each word of a caption; returns the paths written.

    A long ``stem`` (a photo named near the 255-byte limit) is shortened so that every name fits.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (word, grid) in enumerate(zip(words, attention, strict=True)):
        safe = (re.sub(r"[^\w-]+", "_", word) or "word")[:MAX_WORD_CHARS]
        tail = f"_{i:02d}_{safe}.png"
        path = out / (fit_name(stem, NAME_MAX - len(os.fsencode(tail))) + tail)
        attention_overlay(image, grid).save(path)
        paths.append(path)
    return paths
