"""Issue 12 item 10: a query that starts with '-', file names with newlines and captions with
terminal escape sequences, through the real `photoscribe` command in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from tests.helpers import new_library

pytestmark = pytest.mark.slow  # runs the photoscribe command in subprocesses

NASTY_NAME = "two\nlines \x1b]0;pwned\x07\u202egpj.jpg"
NASTY_CAPTION = "a red \x1b[2J\x1b[31m fox\r\nrm -rf ~ \u202eevil\x9b1m"
RAW = ("\x1b", "\x07", "\u202e", "\x9b", "\r")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=120)


def make_jpeg(path: Path, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "library.sqlite3"
    photos = tmp_path / "photos"
    photos.mkdir()
    with new_library(path) as library:
        library.add_folder_record(photos)
        for i, (name, caption) in enumerate(
            [("dog.jpg", "a dog on the grass"), ("bike.jpg", "a red bicycle"), (NASTY_NAME, NASTY_CAPTION)]
        ):
            file = make_jpeg(photos / name, i)
            photo = library.upsert_photo(file, file.stat().st_size, file.stat().st_mtime)
            library.add_model_caption(photo.id, "sat-v1", caption, -1.0)
    return path


def test_a_query_that_starts_with_a_dash_excludes_that_word(db: Path) -> None:
    result = run("library", "--db", str(db), "search", "-red", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert [Path(h["path"]).name for h in hits] == ["dog.jpg"]
    both = run("library", "search", "-bicycle", "--db", str(db), "--json")  # options after it still work
    assert both.returncode == 0, both.stderr
    assert {Path(h["path"]).name for h in json.loads(both.stdout)} == {"dog.jpg", NASTY_NAME}
    assert run("library", "search", "-h").stdout.startswith("usage:")  # -h is still help


def test_newlines_and_escape_sequences_never_reach_the_terminal_raw(db: Path) -> None:
    text = run("library", "--db", str(db), "search", "fox")
    assert text.returncode == 0, text.stderr
    assert not any(c in text.stdout for c in RAW), repr(text.stdout)
    lines = text.stdout.splitlines()
    assert len(lines) == 2, lines  # the hit and its snippet: the name's newline did not split it
    assert lines[0].endswith("two\\nlines \\x1b]0;pwned\\x07\\u202egpj.jpg")
    assert "\\x1b[31m" in lines[1] and "\\r\\n" in lines[1]

    exact = run("library", "--db", str(db), "search", "fox", "--json")  # JSON stays exact JSON
    [hit] = json.loads(exact.stdout)
    assert Path(hit["path"]).name == NASTY_NAME and hit["caption"] == NASTY_CAPTION

    status = run(
        "library", "--db", str(db), "set-caption", str(db.parent / "photos" / NASTY_NAME), NASTY_CAPTION
    )
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("\n") == 1 and not any(c in status.stdout for c in RAW), repr(status.stdout)


def test_caption_text_output_keeps_one_line_per_photo_for_a_newline_in_a_name(
    tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary
) -> None:
    model = save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)
    folder = tmp_path / "in"
    folder.mkdir()
    make_jpeg(folder / NASTY_NAME, 1)
    make_jpeg(folder / "plain.jpg", 2)
    result = run("caption", str(folder), "--model", str(model), "--n-best", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2, lines
    assert any("two\\nlines" in line for line in lines)
    assert not any(c in result.stdout for c in RAW)
