"""Two captioning runs at once, and unreadable files (issue 12, item 10): real processes, real files."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from photoscribe.core.errors import LibraryBusyError
from photoscribe.core.library import Library
from photoscribe.core.library import scanner as scanning
from photoscribe.core.library.runlock import CaptionLock, lock_path
from photoscribe.core.library.scanner import add_folder
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from tests.helpers import make_photos, new_library

HOLD_LOCK = """
import sys
from photoscribe.core.library.runlock import CaptionLock
with CaptionLock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def photoscribe(*args: str) -> list[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    return [exe, *args]


@pytest.fixture
def model_file(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    return save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)


def _captioned(out: str) -> int:
    match = re.search(r"(\d+) captioned", out)
    return int(match.group(1)) if match else 0


@pytest.mark.slow
def test_a_second_caption_pending_run_says_another_run_is_captioning(
    tmp_path: Path, model_file: Path
) -> None:
    db = tmp_path / "library.sqlite3"
    make_photos(tmp_path / "photos", 6)
    with new_library(db) as library:
        add_folder(library, tmp_path / "photos")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        busy = subprocess.run(
            photoscribe("library", "--db", str(db), "caption-pending", "--model", str(model_file)),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert busy.returncode == 3, busy.stderr
        assert f"another photoscribe (pid {holder.pid}) is captioning" in busy.stderr
        assert "Traceback" not in busy.stderr and len(busy.stderr.strip().splitlines()) == 1
        with Library.open(db) as library:
            assert library.stats().captioned == 0
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=60)
    assert lock_path(db).exists()  # a released lock file stays and never blocks: flock, not the file

    # Two real runs started together: every photo captioned exactly once, no work thrown away.
    runs = [
        subprocess.Popen(
            photoscribe("library", "--db", str(db), "caption-pending", "--model", str(model_file)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [run.communicate(timeout=300) for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes in ([0, 0], [0, 3]), outs
    assert sum(_captioned(out) for out, _err in outs) == 6, outs
    assert all("skipped" not in out or "0 skipped" in out for out, _err in outs)
    with Library.open(db) as library:
        assert library.stats().captioned == 6


@pytest.mark.slow
def test_the_lock_is_per_process_and_released_by_the_kernel(tmp_path: Path) -> None:
    db = tmp_path / "library.sqlite3"
    with CaptionLock(db), CaptionLock(db):  # re-entrant inside one process
        other = subprocess.run(
            [sys.executable, "-c", HOLD_LOCK, str(db)],
            input="\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.returncode == 1 and "LibraryBusyError" in other.stderr
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(LibraryBusyError, match=f"pid {holder.pid}"):
        CaptionLock(db).acquire()
    holder.kill()  # kill -9: the kernel drops the lock with the process
    holder.wait(timeout=60)
    with CaptionLock(db):
        pass


SCAN_AS_NOBODY = """
import json, os, pwd, sys
from photoscribe.core.library import Library
from photoscribe.core.library.scanner import add_folder
db, warm, folder = sys.argv[1:]
os.umask(0)
with Library.open(db) as library:  # as root: every module the scan needs is imported now
    add_folder(library, warm)
nobody = pwd.getpwnam("nobody")
for name in os.listdir(os.path.dirname(db)):
    if name.startswith(os.path.basename(db)):
        os.chown(os.path.join(os.path.dirname(db), name), nobody.pw_uid, nobody.pw_gid)
os.setgid(nobody.pw_gid)
os.setuid(nobody.pw_uid)
with Library.open(db) as library:
    _, report = add_folder(library, folder)
    failures = [(f.path, f.error, f.model) for f in library.list_failures()]
print(json.dumps({"added": report.added, "failed": report.failed, "failures": failures}))
"""


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder the user ``nobody`` can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="photoscribe-unreadable-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_an_unreadable_file_is_a_failure_not_a_non_image(shared_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to the user 'nobody' (as non-root, see the injected test below)")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' on this machine")
    folder, warm = shared_dir / "photos", shared_dir / "warm"
    make_photos(warm, 1)
    photos = make_photos(folder, 2)
    for path in (*photos, folder, warm):
        path.chmod(0o777 if path.is_dir() else 0o644)
    photos[1].chmod(0o000)
    db = shared_dir / "library.sqlite3"
    home = shared_dir / "home"  # nobody cannot read the suite's PHOTOSCRIBE_HOME under root's tmp
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    out = subprocess.run(
        [sys.executable, "-c", SCAN_AS_NOBODY, str(db), str(warm), str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PHOTOSCRIBE_HOME": str(home)},
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["added"], result["failed"]) == (1, 1)
    [(path, error, model)] = result["failures"]
    assert path == str(photos[1]) and "Permission denied" in error and model == ""


def test_an_unreadable_file_is_a_failure_injected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = make_photos(tmp_path / "photos", 2)
    real_open = open

    def deny(path: object, *args: object, **kwargs: object) -> object:
        if os.fspath(path) == str(photos[1]):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", deny)
    with Library.open(tmp_path / "library.sqlite3") as library:
        _, report = scanning.add_folder(library, tmp_path / "photos")
        [failure] = library.list_failures()
    assert (report.added, report.failed) == (1, 1)
    assert failure.path == str(photos[1]) and "Permission denied" in failure.error
