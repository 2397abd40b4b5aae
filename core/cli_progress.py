"""Progress on the command line: :class:`~photoscribe.core.progress.Progress` -> tqdm bars on stderr.

One renderer for every command. A long job reports stages ("extract", "train", "validate", ...):
each stage gets its own bar (the previous one is closed when the stage changes), with the rate,
the ETA and the numbers in ``Progress.extra`` (a loss, say). Stages that are milestones rather
than work (a finished epoch) are printed as one line each above the bars.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from photoscribe.core.progress import Progress

LineFormat = Callable[[Progress], str]


class ProgressBars:
    """A progress callback drawing tqdm bars; use it as a context manager so the last bar closes.

    Args:
        desc: the bar's label; ``None`` labels each stage's bar by ``labels`` or the message.
        unit: what is counted ("file", "photo", "batch").
        labels: a label per stage name (with ``desc=None``).
        lines: stages printed as a line each, formatted by the given function, instead of a bar.
        leave: keep a finished bar on the screen (a single-stage command) or clear it (stages).
        unit_scale: show counts with SI prefixes (bytes of a download: "12.3MB").
        disable: ``None`` draws bars only when stderr is a terminal (a pipe or a log gets the
            lines and the result, not carriage-return noise); ``False`` always draws them.
    """

    def __init__(
        self,
        desc: str | None = None,
        unit: str = "it",
        *,
        labels: Mapping[str, str] | None = None,
        lines: Mapping[str, LineFormat] | None = None,
        leave: bool = True,
        unit_scale: bool = False,
        disable: bool | None = None,
    ) -> None:
        self.desc, self.unit, self.leave, self.unit_scale = desc, unit, leave, unit_scale
        self.disable = disable
        self.labels = dict(labels or {})
        self.lines = dict(lines or {})
        self._bar: Any = None
        self._key: tuple[str, str] | None = None

    def __call__(self, progress: Progress) -> None:
        if progress.stage in self.lines:
            self.write(self.lines[progress.stage](progress))
            return
        key = ("", "") if self.desc is not None else (progress.stage, progress.message)
        if self._bar is None or key != self._key:
            self.close()
            from tqdm import tqdm  # imported when a bar is drawn, not when a command is parsed

            label = self.desc or self.labels.get(progress.stage) or progress.message or progress.stage
            self._bar = tqdm(
                desc=label,
                unit=self.unit,
                unit_scale=self.unit_scale,
                file=sys.stderr,
                dynamic_ncols=True,
                leave=self.leave,
                disable=self.disable,
            )
            self._key = key
        bar = self._bar
        if progress.total is not None and bar.total != progress.total:
            bar.total = progress.total
        bar.n = progress.done
        if progress.extra:
            bar.set_postfix({k: f"{v:.4g}" for k, v in progress.extra.items()}, refresh=False)
        bar.refresh()

    def write(self, text: str) -> None:
        """Print a line on stdout without tearing the bar."""
        from tqdm import tqdm

        tqdm.write(text, file=sys.stdout)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
