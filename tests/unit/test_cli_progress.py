"""The one progress renderer of the command line."""

from __future__ import annotations

import pytest

from photoscribe.core.cli_progress import ProgressBars
from photoscribe.core.progress import Progress


def test_each_stage_gets_its_own_bar_and_milestones_print_as_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bars = ProgressBars(
        unit="batch",
        labels={"extract": "features"},
        lines={"epoch": lambda p: f"epoch {p.done}/{p.total} done"},
        disable=False,  # capsys is not a terminal
    )
    with bars as on_progress:
        on_progress(Progress("extract", 5, 10, "extracting"))
        on_progress(Progress("extract", 10, 10, "extracting"))
        on_progress(Progress("train", 3, 4, "epoch 1", extra={"loss": 2.5}))
        on_progress(Progress("epoch", 1, 2, "saved"))
    out, err = capsys.readouterr()
    assert out.strip() == "epoch 1/2 done"
    assert "features" in err and "10/10" in err  # the extract bar, by its label
    assert "epoch 1" in err and "3/4" in err and "loss=2.5" in err  # the next stage's own bar
    assert bars._bar is None  # closed on leaving the block


def test_a_fixed_label_keeps_one_bar_whatever_the_stage(capsys: pytest.CaptureFixture[str]) -> None:
    with ProgressBars("scanning", unit="file", disable=False) as on_progress:
        on_progress(Progress("scan", 1, None, "a"))
        first = on_progress._bar
        on_progress(Progress("hash", 2, 3, "b"))
        assert on_progress._bar is first
    assert "scanning" in capsys.readouterr().err


def test_no_bars_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with ProgressBars(lines={"epoch": lambda p: "epoch done"}) as on_progress:
        on_progress(Progress("train", 1, 2, "epoch 1"))
        on_progress(Progress("epoch", 1, 2))
    out, err = capsys.readouterr()
    assert out.strip() == "epoch done" and err == ""
