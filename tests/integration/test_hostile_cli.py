"""Bad arguments and odd environments get one clear line and a documented exit code, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from photoscribe.core.library.database import Library
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from tests.helpers import make_photos, new_library

pytestmark = pytest.mark.slow  # runs the photoscribe command in subprocesses


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120
    )


@pytest.fixture
def model_file(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    return save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)


def test_bad_caption_arguments(tmp_path: Path, model_file: Path) -> None:
    photo = make_photos(tmp_path, 1)[0]
    beam = run("caption", str(photo), "--model", str(model_file), "--beam", "0")
    assert beam.returncode == 2 and "--beam: must be at least 1" in beam.stderr
    device = run("caption", str(photo), "--model", str(model_file), "--device", "foo")
    assert device.returncode == 2 and "unknown device 'foo'" in device.stderr
    a_file = tmp_path / "taken.png"
    a_file.write_text("x")
    att = run("caption", str(photo), "--model", str(model_file), "--attention-out", str(a_file))
    assert att.returncode == 2 and "is a file" in att.stderr
    for out in (beam, device, att):
        assert "Traceback" not in out.stderr


def test_bad_library_and_data_arguments(tmp_path: Path) -> None:
    db = tmp_path / "lib.sqlite3"
    new_library(db).close()
    far = run("library", "--db", str(db), "search", "dog", "--to", "9999-12-31")
    assert far.returncode == 0 and "Traceback" not in far.stderr
    folder = run("library", "--db", str(db), "export", "--format", "csv", "--out", str(tmp_path))
    assert folder.returncode == 1 and "is a folder" in folder.stderr
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    synth = run("data", "synth", "--out", str(a_file), "--images", "2")
    assert synth.returncode == 1 and "is a file" in synth.stderr and "Traceback" not in synth.stderr


def test_an_ascii_terminal_prints_unicode_captions_without_crashing(tmp_path: Path) -> None:
    db = tmp_path / "lib.sqlite3"
    photo = make_photos(tmp_path / "photos", 1)[0]
    with new_library(db) as library:
        library.add_folder_record(photo.parent)
        library.upsert_photo(photo, photo.stat().st_size, photo.stat().st_mtime)
    out = run(
        "library", "--db", str(db), "set-caption", str(photo), "café 📷", env={"PYTHONIOENCODING": "ascii"}
    )
    assert out.returncode == 0, out.stderr
    assert "caf\\xe9 \\U0001f4f7" in out.stdout
    with Library.open(db) as library:
        assert library.best_caption(photo).text == "café 📷"  # saved as typed
