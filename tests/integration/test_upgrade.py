"""A library made by an earlier release opens, migrates and keeps everything (issue 12, item 9).

``tests/fixtures/library-0001.sqlite`` was written by release 0.x at schema
0001 (``scripts/make_upgrade_fixture.py``). Each later schema must open it.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from photoscribe.core.library import Library
from photoscribe.core.library.upgrade import SCHEMA_HEAD, alembic_config, backup_path

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "library-0001.sqlite"


def _content(db: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(db) as conn:
        return {
            "photos": conn.execute(
                "SELECT path, name, size, mtime, content_hash, width, height, taken_at, camera, status "
                "FROM photos ORDER BY id"
            ).fetchall(),
            "captions": conn.execute(
                "SELECT p.path, c.text, c.source, c.is_user, c.reviewed, c.score, c.alternatives "
                "FROM captions c JOIN photos p ON p.id = c.photo_id ORDER BY c.id"
            ).fetchall(),
            "failures": conn.execute("SELECT path, error, attempts FROM failures ORDER BY id").fetchall(),
            "folders": conn.execute("SELECT path FROM folders").fetchall(),
            "search": conn.execute(
                "SELECT rowid FROM captions_fts WHERE captions_fts MATCH 'snow' ORDER BY rowid"
            ).fetchall(),
        }


@pytest.fixture
def old_library(tmp_path: Path) -> Path:
    db = tmp_path / "library.sqlite3"
    shutil.copyfile(FIXTURE, db)
    return db


def test_fixture_is_at_the_first_revision() -> None:
    with sqlite3.connect(FIXTURE) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)


def test_old_library_upgrades_and_keeps_every_row(old_library: Path) -> None:
    before = _content(old_library)
    assert len(before["photos"]) == 4 and len(before["captions"]) == 4 and before["search"]

    library = Library.open(old_library)
    try:
        stats = library.stats()
        user = [c for p in library.list_photos() for c in library.captions(p.id) if c.is_user]
        reviewed = [
            c for p in library.list_photos() for c in library.captions(p.id) if c.reviewed and not c.is_user
        ]
    finally:
        library.close()
    assert stats.photos == 4 and stats.failures == 1
    assert [c.text for c in user] == ["Mia and Leo's first snow"]
    assert [c.text for c in reviewed] == ["a dog runs on the beach"]
    with sqlite3.connect(old_library) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (SCHEMA_HEAD,)
        assert conn.execute("SELECT model FROM failures").fetchall() == [("",)]
    assert _content(old_library) == before


def test_a_backup_is_made_before_migrating_and_kept(old_library: Path) -> None:
    original = old_library.read_bytes()
    Library.open(old_library).close()
    backup = backup_path(old_library, "0001")
    assert backup.exists()
    assert _content(backup) == _content(FIXTURE.parent / FIXTURE.name)
    with sqlite3.connect(backup) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    assert old_library.read_bytes() != original  # the library itself was migrated
    # Opening again neither migrates nor overwrites the backup.
    stamp = backup.stat().st_mtime_ns
    Library.open(old_library).close()
    assert backup.stat().st_mtime_ns == stamp


def test_a_new_library_has_no_backup(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite3"
    Library.open(db).close()
    assert not list(tmp_path.glob("*.before-upgrade-from-*"))


def test_downgrade_and_upgrade_round_trip(old_library: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine

    before = _content(old_library)
    Library.open(old_library).close()
    engine = create_engine(f"sqlite:///{old_library}")
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0001")
        with sqlite3.connect(old_library) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
            columns = [row[1] for row in conn.execute("PRAGMA table_info(failures)")]
        assert "model" not in columns
        assert _content(old_library) == before
    finally:
        engine.dispose()
    Library.open(old_library).close()
    assert _content(old_library) == before
