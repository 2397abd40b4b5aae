"""Arguments that control memory (``--beam``, ``--n-best``, ``--batch-size``, ``--max-length``) are
bounded by the decode budget (issue 20, item 4): ``caption --beam 100000`` reached 20 GB.

The real ``photoscribe`` command in subprocesses; the captioner in process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from photoscribe.core.captioning import decode_limits
from photoscribe.core.captioning.captioner import Captioner
from photoscribe.core.errors import UsageError
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


DEMO_PHOTO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "000000000790.jpg"


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,message",
    [
        (
            ("--beam", "100000"),
            "argument --beam: must be at most 901 (what one photo may use within the decode budget: "
            "PHOTOSCRIBE_DECODE_BUDGET_MB=1536 MB; each photo takes about 9 MB plus 1.7 MB per beam), "
            "got 100000",
        ),
        (("--n-best", "5000"), "argument --n-best: must be at most 901"),
        (("--batch-size", "5000"), "argument --batch-size: must be at most 1024"),
        (("--max-length", "1000"), "argument --max-length: must be at most 200"),
        (("--beam", "0"), "argument --beam: must be at least 1"),
    ],
)
def test_arguments_that_control_memory_are_bounded_by_the_budget(args: tuple[str, ...], message: str) -> None:
    """``caption --beam 100000`` reached 20 GB before the kernel killed it."""
    out = run("caption", "photo.jpg", *args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_the_bounds_follow_the_budget_and_combine() -> None:
    small = run("caption", "photo.jpg", "--beam", "100", env={"PHOTOSCRIBE_DECODE_BUDGET_MB": "64"})
    assert small.returncode == 2 and "--beam: must be at most 32" in small.stderr
    assert "PHOTOSCRIBE_DECODE_BUDGET_MB=64 MB" in small.stderr
    big = run("caption", "photo.jpg", "--beam", "2000", env={"PHOTOSCRIBE_DECODE_BUDGET_MB": "4096"})
    assert "--beam" not in big.stderr  # allowed by a bigger budget (the photo does not exist)
    # Beam and batch together, with the loaded model's own costs (the default model's are smaller).
    both = run("caption", str(DEMO_PHOTO), "--beam", "900", "--batch-size", "16", "--device", "cpu")
    assert both.returncode == 2
    assert both.stdout == ""
    assert both.stderr.strip().splitlines() == [
        "photoscribe: error: a beam of 900 for 16 photos at a time needs about 9,335 MB, more than the "
        "decode budget (PHOTOSCRIBE_DECODE_BUDGET_MB=1536 MB; each photo takes about 9 MB plus 0.6 MB "
        "per beam); use --beam 136 or less, --batch-size 2 or less, or raise PHOTOSCRIBE_DECODE_BUDGET_MB"
    ]
    for command in (("library", "caption-pending"), ("library", "watch"), ("evaluate", "m.pt", "data")):
        out = run(*command, "--batch-size", "100000")
        assert out.returncode == 2 and "argument --batch-size: must be at most 1024" in out.stderr


def test_the_captioner_fits_its_default_batch_and_refuses_an_explicit_one(
    tiny_model: CaptionModel, tiny_vocab: Vocabulary, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOSCRIBE_DECODE_BUDGET_MB", "64")
    budget = 64 * 2**20
    cost = Captioner(tiny_model, tiny_vocab, device="cpu", workers=1, processes=False).decode_cost
    assert cost.row > 0 and cost.photo == 16 * 3 * 64 * 64 * 4
    beam = cost.max_beam(budget, 16) + 1  # 16 photos (the CPU default) no longer fit
    captioner = Captioner(tiny_model, tiny_vocab, device="cpu", beam_size=beam, workers=1, processes=False)
    assert 1 <= captioner.batch_size < 16
    assert cost.batch(captioner.batch_size, beam) <= budget < cost.batch(captioner.batch_size + 1, beam)
    with pytest.raises(UsageError, match=f"a beam of {beam} for 16 photos at a time needs about"):
        Captioner(tiny_model, tiny_vocab, device="cpu", beam_size=beam, batch_size=16, workers=1)
    assert decode_limits.budget_bytes() == budget


def test_on_a_gpu_the_budget_is_half_its_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPU here: the budget function is given a CUDA device and a fake free-memory reading."""
    import torch

    from photoscribe.core.captioning.captioner import _decode_budget

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (80 * 2**30, 94 * 2**30))
    budget, where = _decode_budget(torch.device("cuda", 0))
    assert budget == 40 * 2**30 and where == "half the GPU's free memory, "
    cost = decode_limits.DecodeCost.worst_case()
    decode_limits.check_decoding(3, 256, cost, budget, where)  # docs/benchmarks.md's GPU batch
    with pytest.raises(UsageError, match=r"\(half the GPU's free memory, 40960 MB; each photo"):
        decode_limits.check_decoding(900, 256, cost, budget, where)
    assert _decode_budget(torch.device("cpu")) == (decode_limits.budget_bytes(), None)
