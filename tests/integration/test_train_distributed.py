"""Training on two processes: ``torchrun --nproc-per-node 2`` (gloo, CPU) on a tiny synthetic set.

Each rank writes what it did to ``$PHOTOSCRIBE_RANK_TRACE`` (see ``Ranks.trace``): the pairs it
trained on, its learning rate after each epoch, whether it stopped, what it saved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from photoscribe.core.model.checkpoint import load_checkpoint
from photoscribe.training.distributed import TRACE_ENV
from photoscribe.training.synth import generate_shapes

pytestmark = pytest.mark.slow

TINY_FLAGS = [
    "--encoder", "tinyresnet", "--image-size", "32", "--embed-dim", "8", "--hidden-dim", "16",
    "--attention-dim", "8", "--dropout", "0", "--batch-size", "16", "--min-word-freq", "1",
    "--workers", "0", "--device", "cpu", "--beam", "1", "--val-images", "4",
]  # fmt: skip


def _torchrun(data: Path, run: Path, trace: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    trace.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", TRACE_ENV: str(trace), "PHOTOSCRIBE_HOME": str(run.parent)}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "photoscribe.training", "train", str(data), "--out", str(run), *TINY_FLAGS, *flags,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def _events(trace: Path, rank: int, event: str) -> list[dict]:
    lines = (trace / f"rank{rank}.jsonl").read_text("utf-8").splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == event]


def _check_ranks(trace: Path, epochs: list[int]) -> list[dict]:
    """Both ranks trained ``epochs`` on disjoint, equal shares, and agreed on the learning rate
    and on stopping after each; rank 0 alone saved. Returns rank 0's epoch events."""
    shares = [_events(trace, rank, "share") for rank in (0, 1)]
    ends = [_events(trace, rank, "epoch") for rank in (0, 1)]
    for rank in (0, 1):
        assert [e["epoch"] for e in shares[rank]] == epochs and [e["epoch"] for e in ends[rank]] == epochs
        assert all(e["world"] == 2 for e in shares[rank])
    for zero, one in zip(*shares, strict=True):
        pairs0, pairs1 = {tuple(p) for p in zero["pairs"]}, {tuple(p) for p in one["pairs"]}
        assert pairs0 and len(pairs0) == len(pairs1) == len(zero["pairs"]) == len(one["pairs"])
        assert not pairs0 & pairs1  # disjoint shares of the epoch
    for zero, one in zip(*ends, strict=True):
        assert (zero["lr"], zero["next_lr"], zero["stop"]) == (one["lr"], one["next_lr"], one["stop"])
    assert [e["epoch"] for e in _events(trace, 0, "saved")] == epochs
    assert not _events(trace, 1, "saved")
    return ends[0]


@pytest.mark.timeout(600)
def test_plateau_schedule_early_stop_and_resume_agree_on_two_processes(tmp_path: Path) -> None:
    data = generate_shapes(tmp_path / "shapes", 16, image_size=32, seed=3)
    run = tmp_path / "run"
    # A rate too small to change a caption: CIDEr stalls after epoch 1, so the plateau schedule
    # cuts the rate after 3 bad epochs (patience 2), and early stopping (patience 3) ends epoch 4.
    flags = ["--scheduler", "plateau", "--gamma", "0.5", "--lr", "1e-6", "--patience", "3", "--epochs", "6"]
    done = _torchrun(data, run, tmp_path / "trace1", *flags)
    ends = _check_ranks(tmp_path / "trace1", [1, 2, 3, 4])
    assert [e["next_lr"] for e in ends] == [1e-6, 1e-6, 1e-6, 5e-7]  # rank 1 cut its rate too
    assert [e["stop"] for e in ends] == [False, False, False, True]
    assert "early-stopped" in done.stdout or "stopping early" in done.stderr
    assert sorted(p.name for p in run.glob("*.pt")) == [
        "best.pt", "epoch_01.pt", "epoch_02.pt", "epoch_03.pt", "epoch_04.pt", "last.pt",
    ]  # fmt: skip

    # Resumed on two processes: both ranks start after epoch 4 with the cut rate.
    _torchrun(data, run, tmp_path / "trace2", *flags, "--resume")
    ends = _check_ranks(tmp_path / "trace2", [5])
    assert ends[0]["lr"] == 5e-7
    history = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert history == [1, 2, 3, 4, 5]
    last = load_checkpoint(run / "last.pt")
    assert last.training_state is not None and last.training_state["epoch"] == 5


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("scheduler", "rates"), [("step", [0.01, 0.005, 0.0025]), ("cosine", [0.01, 0.0085355339, 0.005])]
)
def test_every_rank_follows_the_step_and_cosine_schedules(
    tmp_path: Path, scheduler: str, rates: list[float]
) -> None:
    data = generate_shapes(tmp_path / "shapes", 16, image_size=32, seed=3)
    flags = ["--scheduler", scheduler, "--step-size", "1", "--gamma", "0.5", "--lr", "0.01", "--epochs", "4"]
    _torchrun(data, tmp_path / "run", tmp_path / "trace", *flags, "--patience", "9")
    ends = _check_ranks(tmp_path / "trace", [1, 2, 3, 4])
    assert [e["lr"] for e in ends[:3]] == pytest.approx(rates)


@pytest.mark.timeout(600)
def test_with_a_frozen_encoder_rank_0_extracts_the_features_and_rank_1_waits_for_them(tmp_path: Path) -> None:
    from torchvision.models import resnet18

    data = generate_shapes(tmp_path / "shapes", 16, image_size=32, seed=3)
    weights = tmp_path / "resnet18-local.pth"
    torch.manual_seed(0)
    torch.save(resnet18(weights=None).state_dict(), weights)
    flags = ["--encoder", "resnet18", "--encoder-weights", str(weights), "--epochs", "2", "--lr", "0.01"]
    done = _torchrun(data, tmp_path / "run", tmp_path / "trace", *flags)
    _check_ranks(tmp_path / "trace", [1, 2])
    caches = list((tmp_path / "cache" / "features").glob("resnet18-*/meta.json"))
    assert len(caches) == 2  # train and val, extracted once (by rank 0)
    assert done.stderr.count("with cached features") == 4  # each rank opened both splits
