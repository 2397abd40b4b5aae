"""Temporary files beside their target: short names, and only stale ones of ours are removed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from photoscribe.core.files.tempfiles import (
    StaleTempSweeper,
    create_exclusive,
    remove_stale_temps,
    temp_path_beside,
)


def test_the_temporary_name_is_short_whatever_the_target(tmp_path: Path) -> None:
    target = tmp_path / ("é" * 125 + ".xmp")  # 254 bytes
    tmp = temp_path_beside(target)
    assert tmp.parent == tmp_path and len(os.fsencode(tmp.name)) <= 40
    os.close(create_exclusive(tmp))
    assert tmp.is_file() and (tmp.stat().st_mode & 0o777) == 0o600


def test_only_stale_temporary_files_of_ours_are_removed(tmp_path: Path) -> None:
    now = time.time()

    def touch(name: str, age: float) -> Path:
        path = tmp_path / name
        path.write_bytes(b"x")
        os.utime(path, (now - age, now - age))
        return path

    (tmp_path / "IMG.jpg").write_bytes(b"photo")
    gone = [
        touch(".photoscribe-999999999-0123abcd.tmp", 120),  # its writer is not running
        touch(f".photoscribe-{os.getpid()}-0123abcd.tmp", 2 * 3600),  # hours old, whoever wrote it
        touch(".IMG.jpg.xmp.k2_9zq1p.tmp", 120),  # an earlier version's sidecar
        touch(".IMG.jpg.a1b2c3d4.tmp", 120),  # an earlier version's copy of IMG.jpg
    ]
    kept = [
        touch(f".photoscribe-{os.getpid()}-89abcdef.tmp", 120),  # a running writer's
        touch(".photoscribe-999999999-00000000.tmp", 5),  # seconds old: maybe another machine's
        touch(".other.jpg.a1b2c3d4.tmp", 120),  # not ours: no other.jpg beside it
        touch(".photoscribe-notes.tmp", 3 * 3600),  # not our pattern
        touch("holiday.tmp", 3 * 3600),
    ]
    assert remove_stale_temps(tmp_path) == len(gone)
    assert not any(p.exists() for p in gone)
    assert all(p.exists() for p in kept)
    assert remove_stale_temps(tmp_path / "no such folder") == 0


def test_a_batch_sweeps_each_folder_once(tmp_path: Path) -> None:
    sweep = StaleTempSweeper()
    stale = tmp_path / ".photoscribe-999999999-0123abcd.tmp"
    stale.write_bytes(b"x")
    os.utime(stale, (0, 0))
    sweep(tmp_path / "a.xmp")
    assert not stale.exists()
    stale.write_bytes(b"x")
    os.utime(stale, (0, 0))
    sweep(tmp_path / "b.xmp")  # the same folder: not listed again
    assert stale.exists()
