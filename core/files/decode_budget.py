"""How much memory image decodes may take at once, in one process and across a loader's workers.

:func:`decode_cost` says what :func:`~photoscribe.core.files.imaging.load_image` will allocate for an
image before it decodes a pixel; a :class:`DecodeBudget` makes decodes wait while the others hold
too much, and refuses an image that costs more than all of it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from photoscribe.core import environment
from photoscribe.core.errors import UnsupportedImageError

# Memory all image decodes of a process (and of a loader's workers together) may take at once.
DEFAULT_DECODE_BUDGET_MB = environment.DEFAULT_DECODE_BUDGET_MB
DECODE_BUDGET_ENV = environment.DECODE_BUDGET_MB

SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
# Modes whose pixel values Image.reduce may average (not palette indices, not 1-bit).
REDUCIBLE_MODES = frozenset({"L", "LA", "La", "RGB", "RGBA", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "I", "F"})


def pixel_bytes(mode: str) -> int:
    """Bytes per pixel Pillow allocates for an image of ``mode`` (RGB is stored in 4)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode in SIXTEEN_BIT_MODES:
        return 2
    return 4  # RGB, RGBA, LA, PA, CMYK, YCbCr, I, F, ...: 32 bits a pixel


def decode_cost(mode: str, size: tuple[int, int], target_size: int | None = None) -> int:
    """The most memory (bytes) :func:`~photoscribe.core.files.imaging.load_image` takes for an image of this mode and decoded size.

    The decoded pixels; everything after the reduction to ``target_size`` is small
    (16-bit images are reduced a strip at a time). Plus a full-size RGB copy (4 bytes a
    pixel) where the image is not reduced or its mode cannot be averaged (``P``, ``1``),
    and 12 bytes a pixel more for high-bit-depth greyscale rescaled at full size.
    """
    width, height = size
    reduced = target_size is not None and target_size > 0 and min(size) // target_size >= 2
    per_pixel = pixel_bytes(mode)
    if not reduced or not (mode in REDUCIBLE_MODES or mode in SIXTEEN_BIT_MODES):
        per_pixel += 4  # an RGB (or 32-bit) copy at full size
    if not reduced and (mode in SIXTEEN_BIT_MODES or mode in ("I", "F")):
        per_pixel += 12  # rescaled through a float64 (or uint32) copy
    return width * height * per_pixel


def _budget_bytes() -> int:
    """``PHOTOSCRIBE_DECODE_BUDGET_MB`` in bytes (a bad value is an error naming the variable)."""
    return environment.decode_budget_mb() * 1024 * 1024


class DecodeBudget:
    """Memory that image decodes may take at once, shared by threads and by worker processes.

    Each decode reserves :func:`decode_cost` bytes before it allocates anything and
    waits while the others hold too much; an image that costs more than the whole
    budget is refused with a per-file error. Worker processes share one budget by
    receiving it when they start (multiprocessing primitives cannot be sent later).

    Args:
        limit: bytes; default ``PHOTOSCRIBE_DECODE_BUDGET_MB`` (1536 MB when unset).
        context: the multiprocessing context of the processes that share it.
    """

    def __init__(self, limit: int | None = None, context: Any = None) -> None:
        ctx = context or multiprocessing.get_context()
        self.limit = _budget_bytes() if limit is None else int(limit)
        self._used = ctx.Value("q", 0, lock=False)
        self._cond = ctx.Condition()

    @property
    def used(self) -> int:
        with self._cond:
            return int(self._used.value)

    @contextlib.contextmanager
    def reserve(self, path: str | Path, nbytes: int) -> Iterator[None]:
        """Hold ``nbytes`` of the budget for the ``with`` block (waits for room).

        Raises:
            UnsupportedImageError: ``nbytes`` is more than the whole budget.
        """
        if nbytes > self.limit:
            raise UnsupportedImageError(
                path,
                f"decoding it would take {nbytes / 2**20:,.0f} MB of memory, more than the "
                f"{self.limit / 2**20:,.0f} MB decode budget; downscale it (or raise "
                f"{DECODE_BUDGET_ENV}) to caption it",
            )
        with self._cond:
            self._cond.wait_for(lambda: self._used.value + nbytes <= self.limit)
            self._used.value += nbytes
        try:
            yield
        finally:
            with self._cond:
                self._used.value -= nbytes
                self._cond.notify_all()


_process_budget: DecodeBudget | None = None
_process_budget_lock = threading.Lock()


def decode_budget() -> DecodeBudget:
    """The decode budget of this process: created on first use, or the one a loader's worker got."""
    global _process_budget
    with _process_budget_lock:
        if _process_budget is None:
            _process_budget = DecodeBudget()
        return _process_budget


def use_decode_budget(budget: DecodeBudget) -> None:
    """Make ``budget`` this process's (a decode worker shares its loader's budget this way)."""
    global _process_budget
    with _process_budget_lock:
        _process_budget = budget
