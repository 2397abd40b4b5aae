"""A full disk (issue 12, item 7): one clear line, exit code 4, and a consistent library after space is freed.

The real thing runs on a small tmpfs mounted for the test (root only; skipped with the reason
where the machine refuses the mount). The same handling is also tested by injecting SQLite's
"database or disk is full" and the OS's ENOSPC, so it is covered on every machine.
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy.exc
from PIL import Image

from photoscribe.core.errors import disk_full_cause
from photoscribe.core.library import Library
from photoscribe.core.library.scanner import add_folder
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.desktop.cli.library import register
from tests.helpers import new_library

DISK_FULL = 4
FREE_LEFT = 96 * 1024  # what the filler leaves: room for the WAL's first pages, not for the work


def photoscribe(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=600)


def make_photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(n):
        path = folder / f"p{i:04d}.png"
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


class SmallDisk:
    """A tmpfs of a few MB; :meth:`fill` takes all but ``FREE_LEFT`` bytes of it, :meth:`free` gives them back."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler.bin"

    def fill(self) -> None:
        chunk = b"\0" * 65536
        with open(self.filler, "ab") as out:
            try:
                while True:
                    out.write(chunk)
                    out.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                os.truncate(self.filler, max(0, out.tell() - FREE_LEFT))
        free = shutil.disk_usage(self.root).free
        assert free <= 2 * FREE_LEFT, free

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    root = tmp_path / "disk"
    root.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the injected tests below cover the handling")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"this machine refuses to mount a tmpfs ({mounted.stderr.strip()}); see the injected tests"
        )
    try:
        yield SmallDisk(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def _consistent(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("INSERT INTO captions_fts(captions_fts) VALUES('integrity-check')").rowcount != 0
        photos = conn.execute("SELECT count(*) FROM photos").fetchone()[0]
        captions = conn.execute("SELECT count(*) FROM captions").fetchone()[0]
    return photos, captions


def _one_clear_line(out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == DISK_FULL, (out.returncode, out.stderr)
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "the disk is full" in lines[0] and "free some space" in lines[0], out.stderr
    assert "Traceback" not in out.stderr


@pytest.fixture
def model_file(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    return save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)


@pytest.mark.slow
def test_library_add_on_a_full_disk(small_disk: SmallDisk, tmp_path: Path) -> None:
    db = small_disk.root / "library.sqlite3"
    Library.open(db).close()
    photos = make_photos(tmp_path / "photos", 1500)
    small_disk.fill()
    _one_clear_line(photoscribe("library", "--db", str(db), "add", str(tmp_path / "photos")))
    small_disk.free()
    again = photoscribe("library", "--db", str(db), "add", str(tmp_path / "photos"))
    assert again.returncode == 0, again.stderr
    assert _consistent(db) == (len(photos), 0)


@pytest.mark.slow
def test_caption_pending_on_a_full_disk(small_disk: SmallDisk, tmp_path: Path, model_file: Path) -> None:
    db = small_disk.root / "library.sqlite3"
    photos = make_photos(tmp_path / "photos", 200)
    with Library.open(db) as library:
        add_folder(library, tmp_path / "photos")
    small_disk.fill()
    _one_clear_line(
        photoscribe(
            "library", "--db", str(db), "caption-pending", "--model", str(model_file), "--batch-size", "50"
        )
    )
    small_disk.free()
    again = photoscribe("library", "--db", str(db), "caption-pending", "--model", str(model_file))
    assert again.returncode == 0, again.stderr
    assert _consistent(db) == (len(photos), len(photos))  # one caption per photo, none twice


@pytest.mark.slow
def test_export_on_a_full_disk_keeps_the_old_file(small_disk: SmallDisk, tmp_path: Path) -> None:
    db = tmp_path / "library.sqlite3"
    make_photos(tmp_path / "photos", 300)
    with new_library(db) as library:
        add_folder(library, tmp_path / "photos")
        for photo in library.list_photos():
            library.set_user_caption(photo.id, f"a long description of photo {photo.id} " * 40)
    out = small_disk.root / "alt-text.csv"
    out.write_text("the previous export\n")
    small_disk.fill()
    _one_clear_line(
        photoscribe("library", "--db", str(db), "export", "--format", "csv", "--out", str(out), "--force")
    )
    assert out.read_text() == "the previous export\n"
    assert sorted(p.name for p in small_disk.root.iterdir()) == ["alt-text.csv", "filler.bin"]  # no temp file
    small_disk.free()
    again = photoscribe("library", "--db", str(db), "export", "--format", "csv", "--out", str(out), "--force")
    assert again.returncode == 0, again.stderr
    assert "a long description of photo 300" in out.read_text(encoding="utf-8-sig")


# --------------------------------------------------------------------------- injected


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="photoscribe")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["library", *argv])
    return int(args.func(args))


def _sqlite_full() -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError(
        "INSERT INTO photos ...", {}, sqlite3.OperationalError("database or disk is full")
    )


def test_disk_full_is_found_behind_sqlalchemy_and_os_errors() -> None:
    assert disk_full_cause(_sqlite_full()) is not None
    assert disk_full_cause(OSError(errno.ENOSPC, "No space left on device")) is not None
    try:
        try:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        except OSError as exc:
            raise RuntimeError("writing failed") from exc
    except RuntimeError as wrapped:
        assert disk_full_cause(wrapped) is not None
    assert (
        disk_full_cause(sqlalchemy.exc.OperationalError("x", {}, sqlite3.OperationalError("locked"))) is None
    )
    assert disk_full_cause(OSError(errno.EACCES, "Permission denied")) is None


@pytest.mark.parametrize(
    ("command", "target", "error"),
    [
        (("add", "{photos}"), "photoscribe.core.library.scanner.add_folder", _sqlite_full()),
        (
            ("export", "--format", "csv", "--out", "{out}"),
            "photoscribe.core.library.export.atomic_write",
            OSError(errno.ENOSPC, "No space left on device", "alt.csv"),
        ),
        (
            ("caption-pending", "--model", "{model}"),
            "photoscribe.core.library.queue.CaptionQueue.run_once",
            _sqlite_full(),
        ),
    ],
)
def test_injected_disk_full_is_one_line_and_exit_4(
    command: tuple[str, ...],
    target: str,
    error: BaseException,
    tmp_path: Path,
    model_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "library.sqlite3"
    photos = tmp_path / "photos"
    make_photos(photos, 2)
    with new_library(db) as library:
        add_folder(library, photos)
        library.set_user_caption(library.list_photos()[0].id, "a red square")

    def fail(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(target, fail)
    argv = [a.format(photos=photos, out=tmp_path / "alt.csv", model=model_file) for a in command]
    assert _cli("--db", str(db), *argv) == DISK_FULL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: the disk is full") and "free some space" in err


@pytest.mark.slow
def test_the_exit_codes_are_documented_in_help() -> None:
    out = photoscribe("--help")
    text = " ".join(out.stdout.split())
    assert out.returncode == 0
    assert "3 another run is already captioning the library" in text
    assert "4 the disk is full" in text
