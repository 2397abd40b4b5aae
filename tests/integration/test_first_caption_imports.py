"""A first caption with the default model loads neither torchvision nor ``torch._dynamo``.

Both cost seconds of start-up on a small CPU (issue 22): torchvision is for the ResNet encoders and
training only, ``torch._dynamo`` for ``--compile`` only. Checked in a fresh interpreter that runs
``photoscribe caption one.jpg`` and then prints which of them it loaded. The command also makes
torch's OpenMP threads wait passively (``OMP_WAIT_POLICY``), which decides a first caption's time on
a machine busy with other programs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from photoscribe.core.paths import bundled_model_path

pytestmark = pytest.mark.slow  # captions in a fresh Python process

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"

PROBE = """
import json, os, sys
from photoscribe.desktop.cli import main
code = main(sys.argv[1:])
names = ("torchvision", "torch._dynamo", "sqlalchemy", "PySide6")
loaded = [n for n in names if n in sys.modules]
print(json.dumps({"code": code, "loaded": loaded, "omp_wait": os.environ.get("OMP_WAIT_POLICY")}))
"""


def _caption_in_fresh_process(tmp_path: Path, *args: str) -> dict[str, object]:
    env = {**os.environ, "PHOTOSCRIBE_HOME": str(tmp_path / "home")}
    env.pop("OMP_WAIT_POLICY", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "caption", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(bundled_model_path() is None, reason="the bundled model is not installed")
def test_default_model_caption_imports_neither_torchvision_nor_dynamo(tmp_path: Path) -> None:
    photo = sorted(DEMO.glob("*.jpg"))[0]
    result = _caption_in_fresh_process(tmp_path, str(photo))
    assert result["code"] == 0
    assert result["loaded"] == []  # no torchvision, no torch._dynamo, no library (SQLAlchemy), no Qt
    # torch's threads sleep between operations rather than spin (2-5x faster on a busy machine)
    assert result["omp_wait"] == "PASSIVE"
