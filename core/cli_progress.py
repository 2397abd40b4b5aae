"""Progress bars for the command line: :class:`~photoscribe.core.progress.Progress` -> tqdm on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from photoscribe.core.progress import Progress, ProgressCallback


class TqdmProgress:
    """Adapts :class:`Progress` callbacks to a tqdm bar on stderr (rate and ETA included)."""

    def __init__(self, desc: str, unit: str = "it", disable: bool | None = None) -> None:
        from tqdm import tqdm  # imported when a bar is drawn, not when a command is parsed

        self.bar = tqdm(desc=desc, unit=unit, file=sys.stderr, disable=disable, dynamic_ncols=True)

    def __call__(self, progress: Progress) -> None:
        if progress.total is not None and self.bar.total != progress.total:
            self.bar.total = progress.total
        self.bar.n = progress.done
        if progress.extra:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in progress.extra.items()}, refresh=False)
        self.bar.refresh()

    def write(self, text: str) -> None:
        """Print lines on stdout without tearing the bar."""
        self.bar.write(text, file=sys.stdout)

    def close(self) -> None:
        self.bar.close()


def progress_bar(desc: str, unit: str = "it") -> tuple[ProgressCallback, Callable[[], None]]:
    """A progress callback drawing a tqdm bar, and the function that closes the bar."""
    bar = TqdmProgress(desc, unit)
    return bar, bar.close


@contextmanager
def progress_bar_context(desc: str, unit: str = "it") -> Iterator[ProgressCallback]:
    """:func:`progress_bar` as a context manager that always closes the bar."""
    bar = TqdmProgress(desc, unit)
    try:
        yield bar
    finally:
        bar.close()
