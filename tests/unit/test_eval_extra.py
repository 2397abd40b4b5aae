"""pycocoevalcap is the optional ``eval`` extra: without it, what needs it names the extra, the rest works."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from photoscribe.core.errors import AssetMissingError
from photoscribe.desktop.cli import main as cli_main
from photoscribe.training.metrics import EVAL_EXTRA_MISSING, coco_metrics_available, score_captions
from photoscribe.training.train import TrainConfig, train
from tests.unit.test_chair import _dog_checkpoint, _one_caption_folder


@pytest.fixture
def no_pycocoevalcap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import pycocoevalcap`` fail, as in an install without the eval extra."""
    for name in [m for m in sys.modules if m == "pycocoevalcap" or m.startswith("pycocoevalcap.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pycocoevalcap", None)


def test_the_extra_is_installed_for_the_test_suite() -> None:
    assert coco_metrics_available()  # the dev extra installs it: the metric tests below run for real
    assert score_captions({"1": ["a dog runs"]}, {"1": "a dog runs"}).scores["BLEU-1"] > 0.99


@pytest.mark.usefixtures("no_pycocoevalcap")
def test_scoring_without_the_extra_names_it() -> None:
    assert not coco_metrics_available()
    with pytest.raises(AssetMissingError, match=r"install photoscribe\[eval\]") as exc:
        score_captions({"1": ["a dog"]}, {"1": "a dog"})
    assert exc.value.exit_code == 2 and "\n" not in str(exc.value)


@pytest.mark.slow
@pytest.mark.usefixtures("no_pycocoevalcap")
def test_training_without_the_extra_stops_before_reading_anything(tmp_path: Path) -> None:
    """Training picks its best epoch by CIDEr: it says so at once, not after the first epoch."""
    config = TrainConfig(data_dir=tmp_path / "no-such-data", out_dir=tmp_path / "run", device="cpu")
    with pytest.raises(AssetMissingError, match=r"photoscribe\[eval\]"):
        train(config)
    assert not (tmp_path / "run").exists()


@pytest.mark.usefixtures("no_pycocoevalcap")
def test_evaluate_without_the_extra_names_it_and_still_reports_chair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = _dog_checkpoint(tmp_path / "dog.pt")
    data = _one_caption_folder(tmp_path / "data")
    args = ["evaluate", str(ckpt), str(data), "--split", "all", "--precision", "fp32", "--device", "cpu"]
    assert cli_main([*args, "--captions-out", str(tmp_path / "c.json")]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"note: {EVAL_EXTRA_MISSING}\n")
    header = [name.strip() for name in captured.out.splitlines()[0].split("|")]
    assert header == ["CHAIRs", "CHAIRi"]  # the metrics that need no extra
    assert f"note: {EVAL_EXTRA_MISSING}" in captured.out
