"""Environment variables that name a file or a number are checked, never silently ignored
(issue 20, item 8).

The real ``photoscribe`` command in subprocesses, with the variables set as a user would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from photoscribe.core import environment
from photoscribe.core.files.decode_budget import DecodeBudget
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.paths import active_model_path, default_library_path


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,value,problem",
    [
        ("PHOTOSCRIBE_MODEL", "{tmp}/missing.pt", "names no file: {tmp}/missing.pt does not exist"),
        ("PHOTOSCRIBE_MODEL", "{tmp}", "is a folder, not a checkpoint file"),
        ("PHOTOSCRIBE_MODEL", "/dev/zero", "is a device, not a checkpoint file"),
        ("PHOTOSCRIBE_MODEL", "{fifo}", "is a pipe (FIFO), not a checkpoint file"),
        ("PHOTOSCRIBE_MODEL", "/etc/passwd", "is not a photoscribe checkpoint (not a PyTorch zip archive)"),
        ("PHOTOSCRIBE_DECODE_BUDGET_MB", "abc", "is not a whole number of megabytes (the default is 1536)"),
        ("PHOTOSCRIBE_DECODE_BUDGET_MB", "0", "is out of range: give from 64 to 1048576 megabytes"),
        ("PHOTOSCRIBE_DECODE_BUDGET_MB", "-5", "is out of range: give from 64 to 1048576 megabytes"),
        ("PHOTOSCRIBE_ENCODER_WEIGHTS", "/etc/passwd", "is not a PyTorch weights file"),
        ("PHOTOSCRIBE_ENCODER_WEIGHTS", "{tmp}/nope.pth", "names no file"),
        ("PHOTOSCRIBE_HOME", "/etc/passwd", "is a file, not a folder"),
        ("PHOTOSCRIBE_LIBRARY", "{tmp}", "is a folder, not a library file"),
    ],
)
def test_a_bad_environment_variable_is_an_error_that_names_it(
    tmp_path: Path, fifo: Path, name: str, value: str, problem: str
) -> None:
    """Before: a bad PHOTOSCRIBE_MODEL fell back to the default model (exit 0), a bad budget was
    ignored or failed every photo ("1 MB more than 1 MB"), /etc/passwd as encoder weights said
    "list index out of range"."""
    value = value.format(tmp=tmp_path, fifo=fifo)
    problem = problem.format(tmp=tmp_path)
    photo = next((Path(__file__).resolve().parents[2] / "resources" / "demo").glob("*.jpg"))
    for args in (("caption", str(photo)), ("library", "--db", str(tmp_path / "l.db"), "status")):
        out = run(*args, env={name: value})
        assert out.returncode == 2, out.stdout + out.stderr
        assert out.stdout == ""
        [line] = out.stderr.strip().splitlines()
        assert line.startswith(f"photoscribe: error: {name}={value!r} {problem}"), line
        assert line.endswith(f"fix it or unset it (`unset {name}`)")


def test_the_readers_raise_the_same_error_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOSCRIBE_MODEL", "/dev/zero")
    with pytest.raises(
        environment.EnvironmentVariableError, match="PHOTOSCRIBE_MODEL='/dev/zero' is a device"
    ):
        active_model_path()
    monkeypatch.setenv("PHOTOSCRIBE_DECODE_BUDGET_MB", "-5")
    with pytest.raises(environment.EnvironmentVariableError, match="PHOTOSCRIBE_DECODE_BUDGET_MB='-5'"):
        DecodeBudget()
    monkeypatch.setenv("PHOTOSCRIBE_DECODE_BUDGET_MB", " 256 ")
    assert DecodeBudget().limit == 256 * 2**20
    monkeypatch.setenv("PHOTOSCRIBE_LIBRARY", str(tmp_path / "new" / "lib.sqlite3"))
    assert default_library_path() == tmp_path / "new" / "lib.sqlite3"  # made when first opened
    for name in ("PHOTOSCRIBE_MODEL", "PHOTOSCRIBE_DECODE_BUDGET_MB", "PHOTOSCRIBE_LIBRARY"):
        monkeypatch.setenv(name, "")  # empty is unset
    environment.check_environment()
    assert environment.decode_budget_mb() == environment.DEFAULT_DECODE_BUDGET_MB


@pytest.mark.slow
def test_a_good_model_variable_is_used(
    tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary
) -> None:
    from photoscribe.core.model.checkpoint import save_checkpoint

    model = save_checkpoint(tmp_path / "mine.pt", tiny_model, tiny_vocab)
    photo = next((Path(__file__).resolve().parents[2] / "resources" / "demo").glob("*.jpg"))
    out = run("caption", str(photo), "--json", "--workers", "0", env={"PHOTOSCRIBE_MODEL": str(model)})
    assert out.returncode == 0, out.stderr
    assert '"model": "mine-' in out.stdout
