"""Several processes (say the desktop app, a CLI and a watcher) opening one new library file at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from photoscribe.core.library.database import Library
from photoscribe.core.library.search import search
from photoscribe.core.library.upgrade import head_revision

pytestmark = pytest.mark.slow  # starts several Python processes

WORKERS = 4
PHOTOS_EACH = 40


def _worker(db: str, worker: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait(timeout=60)
    with Library.open(db) as library:  # every process migrates the same fresh file
        for i in range(PHOTOS_EACH):
            photo = library.upsert_photo(f"/photos/w{worker}/{i}.jpg", i, float(i))
            library.add_model_caption(photo.id, "sat-v1", f"a lighthouse number {i} by process {worker}")
            library.record_failure("/photos/shared-bad.jpg", f"process {worker}")
            search(library, "lighthouse", limit=5)


def test_processes_share_a_new_library_without_lock_errors(tmp_path: Path) -> None:
    db = tmp_path / "library.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    processes = [ctx.Process(target=_worker, args=(str(db), w, start)) for w in range(WORKERS)]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(timeout=240)
    assert [p.exitcode for p in processes] == [0] * WORKERS

    with Library.open(db) as library:
        assert library.stats().captioned == WORKERS * PHOTOS_EACH
        assert len(search(library, "lighthouse", limit=1000)) == WORKERS * PHOTOS_EACH
        [failure] = library.list_failures()
        assert failure.attempts == WORKERS * PHOTOS_EACH
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.execute("INSERT INTO captions_fts(captions_fts) VALUES ('integrity-check')")
