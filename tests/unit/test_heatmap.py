"""Attention heat-maps on an absolute scale: flat attention looks flat and is called flat."""

from __future__ import annotations

import numpy as np
from PIL import Image

from photoscribe.core.model.heatmap import CEILING, FLAT_PEAK, attention_is_flat, attention_overlay


def _heat(weights: np.ndarray) -> np.ndarray:
    """Brightness (R + G + B) of the overlay on a black photo, at each grid cell's centre."""
    overlay = np.asarray(attention_overlay(Image.new("RGB", (70, 70)), weights), dtype=np.float32)
    return overlay[5::10, 5::10].sum(axis=-1) / 0.6


def test_flat_attention_is_flat_and_peaked_attention_is_not() -> None:
    assert attention_is_flat(np.full((7, 7), 1 / 49))
    rng = np.random.default_rng(0)
    noisy = 1.0 + 0.3 * rng.uniform(-1, 1, size=(7, 7))
    assert attention_is_flat(noisy / noisy.sum())
    assert attention_is_flat(np.zeros((7, 7)))
    peaked = np.full((7, 7), 1.0)
    peaked[3, 4] = 48 * (FLAT_PEAK + 0.1) / (49 - FLAT_PEAK - 0.1)  # peak just over 2x uniform
    assert not attention_is_flat(peaked / peaked.sum())
    assert attention_is_flat(np.full((7, 7), 3.0, np.float16))  # unnormalised half precision


def test_overlay_colours_are_absolute_not_stretched_per_map() -> None:
    rng = np.random.default_rng(1)
    noisy = 1.0 + 0.1 * rng.uniform(-1, 1, size=(7, 7))
    heat = _heat(noisy / noisy.sum())
    assert heat.max() < 200 and heat.max() - heat.min() < 80  # stretching made a white-yellow spot
    one = np.zeros((7, 7))
    one[2, 5] = 1.0
    heat = _heat(one)
    assert heat[2, 5] > 600  # pale yellow: CEILING x uniform or more
    assert heat[0, 0] < 10
    # the same relative weight gives the same colour on any grid size
    half = np.full((7, 7), 1.0)
    half[2, 5] = CEILING / 2 * 48 / (49 - CEILING / 2)
    small = np.full((3, 3), 1.0)
    small[1, 1] = CEILING / 2 * 8 / (9 - CEILING / 2)
    big = np.asarray(attention_overlay(Image.new("RGB", (70, 70)), half / half.sum()))[25, 55]
    little = np.asarray(attention_overlay(Image.new("RGB", (30, 30)), small / small.sum()))[15, 15]
    assert np.abs(big.astype(int) - little.astype(int)).max() <= 25
