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

from photoscribe.core import decode_limits
from photoscribe.core.captioner import Captioner
from photoscribe.core.errors import UsageError
from photoscribe.core.model import CaptionModel
from photoscribe.core.vocab import Vocabulary


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ("--beam", "100000"),
            "argument --beam: must be at most 1435 (what one photo may use within the decode budget",
        ),
        (("--n-best", "5000"), "argument --n-best: must be at most 1435"),
        (("--batch-size", "5000"), "argument --batch-size: must be at most 90 (what fits the decode budget"),
        (("--max-length", "1000"), "argument --max-length: must be at most 200"),
        (("--beam", "0"), "argument --beam: must be at least 1"),
    ],
)
def test_arguments_that_control_memory_are_bounded_by_the_budget(args: tuple[str, ...], message: str) -> None:
    """``caption --beam 100000`` reached 20 GB before the kernel killed it."""
    out = run("caption", "photo.jpg", *args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_the_bounds_follow_the_budget_and_combine(tmp_path: Path) -> None:
    small = run("caption", "photo.jpg", "--beam", "100", env={"PHOTOSCRIBE_DECODE_BUDGET_MB": "64"})
    assert small.returncode == 2 and "--beam: must be at most 45" in small.stderr
    assert "PHOTOSCRIBE_DECODE_BUDGET_MB=64 MB" in small.stderr
    big = run("caption", "photo.jpg", "--beam", "2000", env={"PHOTOSCRIBE_DECODE_BUDGET_MB": "4096"})
    assert "--beam" not in big.stderr  # allowed by a bigger budget (the photo does not exist)
    both = run("caption", str(tmp_path), "--beam", "1000", "--batch-size", "16")
    assert both.returncode == 2
    assert both.stderr.strip().splitlines() == [
        "photoscribe: error: a beam of 1000 for 16 photos at a time needs about 17,198 MB, more than the "
        "decode budget (PHOTOSCRIBE_DECODE_BUDGET_MB=1536 MB; each photo takes about 16 MB plus 1.1 MB "
        "per beam); use --beam 75 or less, a smaller --batch-size, or raise PHOTOSCRIBE_DECODE_BUDGET_MB"
    ]
    for command in (("library", "caption-pending"), ("library", "watch")):
        out = run(*command, "--batch-size", "100000")
        assert out.returncode == 2 and "argument --batch-size: must be at most 90" in out.stderr


def test_the_captioner_fits_its_default_batch_and_refuses_an_explicit_one(
    tiny_model: CaptionModel, tiny_vocab: Vocabulary
) -> None:
    captioner = Captioner(tiny_model, tiny_vocab, device="cpu", beam_size=1000, workers=1, processes=False)
    assert captioner.batch_size == decode_limits.max_batch_size(1000) == 1
    assert decode_limits.batch_bytes(captioner.batch_size, 1000) <= decode_limits.budget_bytes()
    assert Captioner(tiny_model, tiny_vocab, device="cpu", workers=1, processes=False).batch_size == 16
    with pytest.raises(UsageError, match="a beam of 1000 for 16 photos"):
        Captioner(tiny_model, tiny_vocab, device="cpu", beam_size=1000, batch_size=16, workers=1)
