"""`photoscribe library review` and `library set-caption --json`, and `caption` saying what it
does before the first photo (a model loading) when stderr is a terminal."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from PIL import Image

from photoscribe.core.library import Library
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.desktop.cli.library import register
from tests.helpers import new_library

MODEL = "test-model-1"


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="photoscribe")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


@pytest.fixture
def library_file(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """Three photos with model captions, one without any caption."""
    db = tmp_path / "library.sqlite3"
    folder_path = tmp_path / "photos"
    folder_path.mkdir()
    ids = {}
    with new_library(db) as library:
        folder = library.add_folder_record(folder_path)
        for name, colour in (("red", (200, 30, 30)), ("green", (30, 200, 30)), ("blue", (30, 30, 200))):
            path = folder_path / f"{name}.png"
            Image.new("RGB", (32, 24), colour).save(path)
            photo = library.upsert_photo(path, path.stat().st_size, path.stat().st_mtime, folder_id=folder.id)
            ids[name] = photo.id
            library.add_model_caption(photo.id, MODEL, f"a {name} square", -1.0, [])
        bare = folder_path / "bare.png"
        Image.new("RGB", (32, 24), (0, 0, 0)).save(bare)
        ids["bare"] = library.upsert_photo(
            bare, bare.stat().st_size, bare.stat().st_mtime, folder_id=folder.id
        ).id
    return db, ids


def test_review_marks_by_id_and_path_undoes_and_reports_json(
    library_file: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, ids = library_file
    with Library.open(db) as library:
        assert library.stats().needs_review == 3
        green_path = library.get_photo(ids["green"]).path  # type: ignore[union-attr]

    assert run_cli("library", "review", str(ids["red"]), green_path, "--db", str(db)) == 0
    out, err = capsys.readouterr()
    assert f"reviewed: {green_path}\ta green square" in out
    assert "2 of 2 photos marked reviewed" in err
    with Library.open(db) as library:
        assert library.stats().needs_review == 1
        assert library.best_caption(ids["red"]).reviewed  # type: ignore[union-attr]

    assert run_cli("library", "review", str(ids["red"]), "--undo", "--json", "--db", str(db)) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["undo"] is True and result["failed"] == 0
    [row] = result["photos"]
    assert (row["id"], row["caption"], row["by"], row["reviewed"], row["ok"]) == (
        ids["red"],
        "a red square",
        MODEL,
        False,
        True,
    )
    with Library.open(db) as library:
        assert library.stats().needs_review == 2


def test_review_reports_unknown_and_uncaptioned_photos_and_does_the_others(
    library_file: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, ids = library_file
    code = run_cli("library", "review", "9999", str(ids["bare"]), str(ids["blue"]), "--json", "--db", str(db))
    assert code == 1
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] == 2
    unknown, bare, blue = result["photos"]
    assert not unknown["ok"] and "9999" in unknown["error"]
    assert not bare["ok"] and "no model caption" in bare["error"]
    assert blue["ok"] and blue["reviewed"]
    with Library.open(db) as library:
        assert library.best_caption(ids["blue"]).reviewed  # type: ignore[union-attr]


def test_set_caption_json(
    library_file: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, ids = library_file
    assert run_cli("library", "set-caption", str(ids["green"]), "a lime tile", "--json", "--db", str(db)) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["id"] == ids["green"] and result["caption"] == "a lime tile" and not result["removed"]
    assert result["shown"] == {"caption": "a lime tile", "by": "you"}
    assert run_cli("library", "set-caption", str(ids["green"]), "", "--json", "--db", str(db)) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["removed"] and result["caption"] is None
    assert result["shown"] == {"caption": "a green square", "by": MODEL}  # the model's again


def _run_on_a_terminal(argv: list[str], timeout: float = 120) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (as in a shell), stdout on a pipe; returns code, out, err."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            process.kill()
            raise AssertionError("no output from the command on its terminal")
        try:
            data = os.read(master, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out = process.stdout.read().decode() if process.stdout is not None else ""
    return process.wait(timeout), out, b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_caption_says_it_is_loading_the_model_then_counts_photos_on_a_terminal(
    tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary
) -> None:
    model = save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab, {"training_data": "unit"})
    photos = []
    for i in range(2):
        photos.append(tmp_path / f"p{i}.png")
        Image.new("RGB", (64, 48), (40 * i, 90, 160)).save(photos[-1])
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    argv = [exe, "caption", *map(str, photos), "--model", str(model), "--device", "cpu"]
    code, out, err = _run_on_a_terminal(argv)
    assert code == 0, err
    assert len(out.splitlines()) == 2  # the captions on stdout, as before
    assert "loading the captioning model (" in err and "tiny.pt" in err
    assert "loaded in" in err
    assert "captioning" in err and "0/2" in err and "2/2" in err

    piped = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and "loading" not in piped.stderr  # a pipe or a log stays clean
