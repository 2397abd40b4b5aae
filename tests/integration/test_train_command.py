"""`photoscribe train` as a user runs it: every flag reaches the run, ``--resume`` continues it,
and ``python -m photoscribe.training`` (the ``torchrun`` entry point) is the same command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from photoscribe.core.model.checkpoint import load_checkpoint
from photoscribe.desktop.cli import build_parser
from photoscribe.training.cli import train_config
from photoscribe.training.synth import generate_shapes

TINY_FLAGS = [
    "--encoder", "tinyresnet", "--image-size", "64", "--embed-dim", "16", "--hidden-dim", "32",
    "--attention-dim", "16", "--dropout", "0", "--batch-size", "16", "--min-word-freq", "1",
    "--workers", "0", "--device", "cpu", "--beam", "2",
]  # fmt: skip


def test_every_train_flag_reaches_the_config(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--encoder", "resnet18",
            "--no-pretrained", "--image-size", "96", "--resize-mode", "crop", "--embed-dim", "8",
            "--hidden-dim", "12", "--attention-dim", "10", "--dropout", "0.25", "--deep-output",
            "--min-word-freq", "2", "--epochs", "7", "--batch-size", "5", "--lr", "0.01",
            "--encoder-lr", "0.002", "--scheduler", "cosine", "--step-size", "3", "--gamma", "0.1",
            "--alpha-c", "0.5", "--no-all-captions", "--patience", "4", "--beam", "2", "--val-images", "9",
            "--seed", "11", "--device", "cpu", "--workers", "0", "--resume",
        ]
    )  # fmt: skip
    cfg = train_config(args)
    m = cfg.model
    assert (m.encoder, m.image_size, m.resize, m.resize_mode) == ("resnet18", 96, 110, "crop")  # 96 * 8/7
    assert (m.embed_dim, m.hidden_dim, m.attention_dim, m.dropout, m.deep_output) == (8, 12, 10, 0.25, True)
    assert cfg.data_dir == tmp_path / "data" and cfg.out_dir == tmp_path / "run"
    assert not cfg.pretrained and cfg.fine_tune_encoder == 5  # from scratch: the whole encoder trains
    assert (cfg.min_word_freq, cfg.epochs, cfg.batch_size, cfg.lr, cfg.encoder_lr) == (2, 7, 5, 0.01, 0.002)
    assert (cfg.scheduler, cfg.step_size, cfg.gamma, cfg.alpha_c) == ("cosine", 3, 0.1, 0.5)
    assert (cfg.all_captions, cfg.patience, cfg.beam_size, cfg.val_images) == (False, 4, 2, 9)
    assert (cfg.seed, cfg.device, cfg.workers, cfg.resume) == (11, "cpu", 0, True)
    defaults = train_config(build_parser().parse_args(["train", "d", "--out", "r"]))
    assert defaults.model.encoder == "efficientnet-lite0" and defaults.pretrained and not defaults.resume
    assert (defaults.model.image_size, defaults.model.resize, defaults.model.resize_mode) == (
        224,
        256,
        "whole",
    )


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # One torch thread: on a busy 2-core machine two would wait on each other (see tests/conftest.py).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_train_then_resume_from_the_command_line(tmp_path: Path) -> None:
    data = generate_shapes(tmp_path / "shapes", 24, image_size=64, seed=5)
    run = tmp_path / "run"
    photoscribe = Path(sys.executable).with_name("photoscribe")
    first = _run(
        str(photoscribe), "train", str(data), "--out", str(run), "--epochs", "1", *TINY_FLAGS, cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "completed after 1 epochs" in first.stdout and str(run / "best.pt") in first.stdout
    best = load_checkpoint(run / "best.pt")
    assert best.config.encoder == "tinyresnet" and best.config.encoder_weights == "checkpoint"
    assert (best.config.image_size, best.config.resize, best.config.hidden_dim) == (64, 73, 32)
    assert best.metadata["train_config"]["batch_size"] == 16

    # The torchrun entry point, resuming the same run to two epochs: epoch 1 is not trained again.
    second = _run(
        sys.executable, "-m", "photoscribe.training", "train", str(data), "--out", str(run),
        "--epochs", "2", "--resume", *TINY_FLAGS, cwd=tmp_path,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stderr and "completed after 2 epochs" in second.stdout
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]
    last = load_checkpoint(run / "last.pt")
    assert last.training_state is not None and last.training_state["epoch"] == 2
    assert last.vocab == best.vocab  # the resumed run kept its vocabulary

    bad = _run(str(photoscribe), "train", str(data), "--out", str(run), "--scheduler", "linear", cwd=tmp_path)
    assert bad.returncode == 2 and "step" in bad.stderr and "cosine" in bad.stderr  # the valid choices
