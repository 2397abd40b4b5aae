"""A damaged library file (issue 20, item 6): said in one sentence with what to do, and `library repair`.

Reproduced from the outside: 16 KB of random bytes really written into the middle of a real library
file, or over the root page of the full-text index; the CLI runs as a subprocess.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.library import Library
from photoscribe.core.library.integrity import LibraryDamagedError, check_library, damage_message
from photoscribe.core.library.repair import repair_library
from photoscribe.core.library.scanner import add_folder
from tests.helpers import new_library

PHOTOS = 300
CAPTIONED = 40


def photoscribe(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)


def make_library(root: Path) -> Path:
    """A real library: PHOTOS photos in one folder, the first CAPTIONED with a caption about a red bicycle."""
    folder = root / "photos"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(PHOTOS):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"p{i:04d}.png")
    db = root / "library.sqlite3"
    with new_library(db) as library:
        add_folder(library, folder)
        for photo in library.list_photos(limit=CAPTIONED):
            library.add_model_caption(photo.id, "tiny", f"a red bicycle near a wall number {photo.id}", -1.0)
    return db


def overwrite(db: Path, offset: int, size: int, seed: int = 0) -> None:
    """Really damage the file: ``size`` random bytes at ``offset`` (the library is closed, its WAL merged)."""
    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    with db.open("r+b") as f:
        f.seek(offset)
        f.write(data)


def root_page(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0])


def middle_of_the_rows(db: Path, size: int) -> int:
    """The middle of the file, moved on past the schema's own pages: damage there loses every table
    (nothing to save, said as such), which depends on where the schema's pages happen to lie."""
    with sqlite3.connect(db) as conn:
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
        schema = {int(r[0]) for r in conn.execute("SELECT pageno FROM dbstat WHERE name = 'sqlite_schema'")}
    offset = db.stat().st_size // 2 - size // 2
    while any(offset // page + 1 <= p <= (offset + size - 1) // page + 1 for p in schema):
        offset += page
    return offset


def one_sentence(out: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in out.stderr and "sqlalchemy" not in out.stderr.lower(), out.stderr
    assert "[SQL:" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out.stderr
    return errors[0]


def consistent(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.execute("INSERT INTO captions_fts(captions_fts, rank) VALUES ('integrity-check', 0)")
        return (
            conn.execute("SELECT count(*) FROM photos").fetchone()[0],
            conn.execute("SELECT count(*) FROM captions").fetchone()[0],
        )


@pytest.mark.slow
def test_16kb_of_random_bytes_in_the_middle_is_said_by_status_and_scan_and_repair_saves_the_rest(
    tmp_path: Path,
) -> None:
    db = make_library(tmp_path)
    overwrite(db, middle_of_the_rows(db, 16384), 16384)

    status = photoscribe("library", "--db", str(db), "status")  # said "all is well", exit 0, before
    assert status.returncode == 2, status.stdout + status.stderr
    line = one_sentence(status)
    assert "the file is damaged" in line and f"photoscribe library repair --db {db}" in line, line
    assert "photos:" not in status.stdout
    scan = photoscribe("library", "--db", str(db), "scan")  # a SQLAlchemy traceback, before
    assert scan.returncode == 2 and one_sentence(scan) == line

    repaired = photoscribe("library", "--db", str(db), "repair")
    assert repaired.returncode == 0, repaired.stderr
    assert "Traceback" not in repaired.stderr
    [aside] = tmp_path.glob("library.sqlite3.damaged-*[0-9]")
    assert check_library(aside) is not None  # the damaged original, kept as it was
    photos, captions = consistent(db)
    assert 0 < photos <= PHOTOS and 0 < captions <= CAPTIONED
    assert f"saved {photos} of {PHOTOS} photos and {captions} of {CAPTIONED} captions" in repaired.stdout
    assert f"the damaged file is kept as {aside}" in repaired.stdout

    again = photoscribe("library", "--db", str(db), "search", "bicycle", "--limit", "100", "--mode", "fts")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("red [bicycle]") == captions  # every saved caption is searchable again


@pytest.mark.slow
def test_a_damaged_full_text_index_says_to_repair_and_repair_rebuilds_it(tmp_path: Path) -> None:
    db = make_library(tmp_path)
    page = 4096
    overwrite(db, (root_page(db, "captions_fts_data") - 1) * page, page, seed=1)

    search = photoscribe("library", "--db", str(db), "search", "bicycle", "--mode", "fts")
    assert search.returncode == 2  # "vtable constructor failed" and no hint, before
    line = one_sentence(search)
    assert "its full-text index is damaged" in line and "library repair" in line, line

    report = repair_library(db)
    assert report.salvaged  # the index's pages are unreadable: its b-tree cannot even be dropped
    assert (report.photos, report.captions) == (PHOTOS, CAPTIONED)  # the tables themselves were sound
    assert consistent(db) == (PHOTOS, CAPTIONED)
    with Library.open(db, check=True) as library:
        assert library.stats().captioned == CAPTIONED


def test_an_inconsistent_full_text_index_is_rebuilt_in_place(tmp_path: Path) -> None:
    db = make_library(tmp_path)
    graph = tmp_path / "library.sqlite3.all-MiniLM-L6-v2.hnsw"
    graph.write_bytes(b"a saved graph")
    with sqlite3.connect(db) as conn:  # sound pages, nonsense in the index's segments
        conn.execute("UPDATE captions_fts_data SET block = randomblob(length(block)) WHERE id > 10")
    damage = check_library(db)
    assert damage is not None and damage.index_only
    with pytest.raises(LibraryDamagedError, match="library repair"):
        Library.open(db, check=True)

    report = repair_library(db)
    assert not report.salvaged and report.damaged_copy is None
    assert not list(tmp_path.glob("*.damaged-*"))
    assert not graph.exists()  # the search-by-meaning graph is a cache: rebuilt at the next search
    assert consistent(db) == (PHOTOS, CAPTIONED)
    assert "the library is sound" in report.describe()


def test_the_message_names_the_newest_backup_photoscribe_kept(tmp_path: Path) -> None:
    db = tmp_path / "library.sqlite3"
    old, new = (tmp_path / f"library.sqlite3.before-upgrade-from-{r}" for r in ("0001", "0003"))
    for age, path in ((3600, old), (60, new)):
        path.write_bytes(b"SQLite format 3\0")
        os.utime(path, (time.time() - age, time.time() - age))
    (tmp_path / "library.sqlite3.before-upgrade-from-0004.partial").write_bytes(b"")
    message = damage_message(db, "database disk image is malformed")
    assert f"restore the backup photoscribe kept ({new}" in message
    assert str(old) not in message and "partial" not in message
    assert message.count(";") == 1 and "\n" not in message  # one sentence


@pytest.mark.slow
def test_a_file_that_is_not_sqlite_is_not_called_damaged_and_not_repaired(tmp_path: Path) -> None:
    jpeg = tmp_path / "photo.jpg"
    Image.new("RGB", (8, 8)).save(jpeg)
    before = jpeg.read_bytes()
    out = photoscribe("library", "--db", str(jpeg), "repair")
    assert out.returncode == 1 and "not a SQLite file at all" in one_sentence(out)
    status = photoscribe("library", "--db", str(jpeg), "status")
    assert status.returncode == 1 and "is not a photoscribe library" in one_sentence(status)
    assert jpeg.read_bytes() == before
