"""A library that cannot be written (issue 20, item 7): opened read-only, and a full disk said in one line.

Reproduced from the outside: a real read-only bind mount (root), a real read-only folder with the
CLI run as the user ``nobody`` (root ignores permission bits), a real 4 MB tmpfs filled up. Each
skips with the reason where the machine refuses it.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.library import Library
from photoscribe.core.library.scanner import add_folder
from tests.helpers import new_library

READ_ONLY_EXIT = 2
DISK_FULL_EXIT = 4


def photoscribe(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)


def make_photos(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"p{i:03d}.png")


def make_library(db: Path, photos: Path, n: int = 6) -> None:
    make_photos(photos, n)
    with new_library(db) as library:
        add_folder(library, photos)
        for photo in library.list_photos():
            library.set_user_caption(photo.id, f"a red kite over the dunes {photo.id}")


def one_sentence(out: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in out.stderr and "sqlalchemy" not in out.stderr.lower(), out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out.stderr
    return errors[0]


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"this machine refuses `mount {' '.join(args)}` ({done.stderr.strip()})")


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(source, view): ``view`` is a read-only bind mount of ``source``."""
    if os.geteuid() != 0:
        pytest.skip("a bind mount needs root; the read-only folder test covers other users")
    source, view = tmp_path / "source", tmp_path / "view"
    source.mkdir()
    view.mkdir()
    mount("--bind", "-o", "ro", str(source), str(view))
    try:
        yield source, view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


@pytest.mark.slow
def test_a_library_on_a_read_only_mount_is_browsed_searched_and_exported(
    read_only_mount: tuple[Path, Path], tmp_path: Path
) -> None:
    source, view = read_only_mount
    make_library(source / "library.sqlite3", tmp_path / "photos")
    before = sorted(p.name for p in source.iterdir())
    db = str(view / "library.sqlite3")

    status = photoscribe("library", "--db", db, "status")  # "not a usable SQLite database", before
    assert status.returncode == 0, status.stderr
    assert (
        "photos:       6" in status.stdout
        and "read-only:    it is on a read-only file system" in status.stdout
    )
    search = photoscribe("library", "--db", db, "search", "kite", "--mode", "fts")
    assert search.returncode == 0, search.stderr
    assert search.stdout.count("red [kite]") == 6
    out = tmp_path / "alt.csv"
    export = photoscribe("library", "--db", db, "export", "--format", "csv", "--out", str(out))
    assert export.returncode == 0, export.stderr
    assert out.read_text().count("a red kite over the dunes") == 6

    edit = photoscribe("library", "--db", db, "set-caption", "1", "a blue kite")
    assert edit.returncode == READ_ONLY_EXIT
    line = one_sentence(edit)
    assert (
        "is open read-only because it is on a read-only file system" in line and "cannot be changed" in line
    )
    assert "move this one aside" not in status.stderr + search.stderr + export.stderr + edit.stderr
    watch = photoscribe("library", "--db", db, "watch", "--no-scan")  # refused at once, not from a thread
    assert watch.returncode == READ_ONLY_EXIT and "is open read-only" in one_sentence(watch)
    assert sorted(p.name for p in source.iterdir()) == before  # no -wal, -shm or journal was made


READ_ONLY_AS_NOBODY = """
import os, pwd, sys
from photoscribe.desktop.cli import main
from photoscribe.core.library import hybrid, export, integrity, database, scanner  # imported as root
nobody = pwd.getpwnam("nobody")
os.setgid(nobody.pw_gid)
os.setuid(nobody.pw_uid)
sys.exit(main(sys.argv[1:]))
"""


def as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
    # PHOTOSCRIBE_HOME (the suite's, under root's private tmp) must be one nobody can read: a home it
    # cannot read is refused as a bad PHOTOSCRIBE_HOME before any command runs.
    home = Path(tempfile.mkdtemp(prefix="photoscribe-nobody-home-"))
    home.chmod(0o777)
    try:
        return subprocess.run(
            [sys.executable, "-c", READ_ONLY_AS_NOBODY, *args],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PHOTOSCRIBE_HOME": str(home)},
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder the user ``nobody`` can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="photoscribe-read-only-"))
    path.chmod(0o755)
    yield path
    for sub in path.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_a_library_in_a_read_only_folder_opens_read_only_for_another_user(shared_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to the user 'nobody' (as a user, chmod the folder yourself)")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' on this machine")
    folder = shared_dir / "lib"
    folder.mkdir()
    make_library(folder / "library.sqlite3", shared_dir / "photos")
    for path in (folder, *folder.iterdir()):
        path.chmod(0o555 if path.is_dir() else 0o444)  # a folder and file nobody may write
    (shared_dir / "photos").chmod(0o755)
    db = str(folder / "library.sqlite3")

    status = as_nobody("library", "--db", db, "status")
    assert status.returncode == 0, status.stderr
    assert "read-only:    " in status.stdout and "photos:       6" in status.stdout
    search = as_nobody("library", "--db", db, "search", "kite", "--mode", "fts", "--json")
    assert search.returncode == 0, search.stderr
    assert len(json.loads(search.stdout)) == 6
    edit = as_nobody("library", "--db", db, "set-caption", "1", "a blue kite")
    assert edit.returncode == READ_ONLY_EXIT
    assert "is open read-only because" in one_sentence(edit)
    new = as_nobody("library", "--db", str(folder / "new.sqlite3"), "status")
    assert new.returncode == READ_ONLY_EXIT
    assert "cannot create the library" in one_sentence(new) and "folder you can write to" in new.stderr


class SmallDisk:
    """A 4 MB tmpfs; :meth:`fill` takes every byte left."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler.bin"

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    root = tmp_path / "disk"
    root.mkdir()
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root))
    try:
        yield SmallDisk(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


@pytest.mark.slow
def test_creating_a_library_on_a_full_disk_is_one_line(small_disk: SmallDisk) -> None:
    small_disk.fill()
    out = photoscribe("library", "--db", str(small_disk.root / "new.sqlite3"), "status")
    assert out.returncode == DISK_FULL_EXIT, out.stderr  # SQLAlchemy's text, before
    line = one_sentence(out)
    assert "the disk is full" in line and "free some space" in line and "[SQL" not in line


@pytest.mark.slow
def test_xmp_export_stops_at_the_first_full_disk_with_one_line(small_disk: SmallDisk, tmp_path: Path) -> None:
    photos = small_disk.root / "photos"
    make_library(tmp_path / "library.sqlite3", photos, n=40)
    small_disk.fill()
    out = photoscribe("library", "--db", str(tmp_path / "library.sqlite3"), "export", "--format", "xmp")
    assert out.returncode == DISK_FULL_EXIT, out.stderr  # two lines per photo and exit 1, before
    line = one_sentence(out)
    assert "the disk is full" in line and "free some space and run the export again" in line
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    small_disk.filler.unlink()
    assert not [p for p in photos.iterdir() if p.name.endswith(".tmp")]  # no temporary file left
    again = photoscribe("library", "--db", str(tmp_path / "library.sqlite3"), "export", "--format", "xmp")
    assert again.returncode == 0, again.stderr
    assert len(list(photos.glob("*.xmp"))) == 40


@pytest.mark.slow
def test_a_library_on_a_full_disk_opens_read_only(small_disk: SmallDisk, tmp_path: Path) -> None:
    db = small_disk.root / "library.sqlite3"
    make_library(db, tmp_path / "photos")
    small_disk.fill()  # not even room for SQLite's 32 KiB WAL index: "disk I/O error", before
    status = photoscribe("library", "--db", str(db), "status")
    assert status.returncode == 0, status.stderr
    assert "read-only:    the disk is full" in status.stdout and "photos:       6" in status.stdout
    search = photoscribe("library", "--db", str(db), "search", "kite", "--mode", "fts", "--json")
    assert search.returncode == 0 and len(json.loads(search.stdout)) == 6, search.stderr
    edit = photoscribe("library", "--db", str(db), "set-caption", "1", "a blue kite")
    assert edit.returncode == READ_ONLY_EXIT
    assert "because the disk is full" in one_sentence(edit) and "free some space" in edit.stderr
    small_disk.filler.unlink()
    edit = photoscribe("library", "--db", str(db), "set-caption", "1", "a blue kite")
    assert edit.returncode == 0, edit.stderr


def test_xmp_export_stops_at_the_first_disk_full_injected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same as the tmpfs test, on any machine: the OS's ENOSPC injected where a sidecar is written."""
    from photoscribe.core.errors import DiskFullError
    from photoscribe.core.library import export as exporting

    make_library(tmp_path / "library.sqlite3", tmp_path / "photos", n=5)
    calls: list[Path] = []

    def full(path: Path, *_args: object, **_kwargs: object) -> None:
        calls.append(path)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(exporting, "write_sidecar", full)
    with (
        Library.open(tmp_path / "library.sqlite3") as library,
        pytest.raises(DiskFullError, match="disk is full"),
    ):
        exporting.write_xmp_sidecars(library, None)
    assert len(calls) == 1  # stopped at the first, not one failure per photo


def test_a_library_in_a_read_only_folder_opens_read_only_as_a_user(tmp_path: Path) -> None:
    """Permission bits, for a user they bind (root writes through them: see the `nobody` test above)."""
    if os.geteuid() == 0:
        pytest.skip("root writes through permission bits; the `nobody` and bind-mount tests cover root")
    from photoscribe.core.errors import LibraryReadOnlyError

    folder = tmp_path / "lib"
    make_library(folder / "library.sqlite3", tmp_path / "photos")
    folder.chmod(0o555)
    try:
        with Library.open(folder / "library.sqlite3", check=True) as library:
            assert library.read_only == "its folder is read-only"
            assert len(library.list_photos()) == 6
            with pytest.raises(
                LibraryReadOnlyError, match="is open read-only because its folder is read-only"
            ):
                library.set_user_caption(1, "a blue kite")
        assert sorted(p.name for p in folder.iterdir()) == ["library.sqlite3"]
    finally:
        folder.chmod(0o755)
