"""Schema 0003 (``caption_embeddings``): upgrade from an old library, the re-embed trigger, downgrade."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine

from photoscribe.core.library import Library
from photoscribe.core.library.upgrade import alembic_config

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "library-0001.sqlite"


def _objects(db: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return set(conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))


def _rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, photo_id, text, source FROM captions ORDER BY id").fetchall()


def test_0003_upgrades_an_old_library_and_downgrades_to_0002_and_back(tmp_path: Path) -> None:
    from alembic import command

    db = tmp_path / "library.sqlite3"
    shutil.copyfile(FIXTURE, db)
    captions = _rows(db)
    Library.open(db).close()
    assert ("table", "caption_embeddings") in _objects(db)
    assert ("trigger", "caption_embeddings_stale") in _objects(db)

    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        first, second = captions[0][0], captions[1][0]
        for cid in (first, second):
            conn.execute(
                "INSERT INTO caption_embeddings (caption_id, model, dim, vector) VALUES (?, 'm', 2, x'00000000')",
                (cid,),
            )
        # Editing the text drops the embedding; touching other columns keeps it.
        conn.execute("UPDATE captions SET reviewed = 1 WHERE id = ?", (second,))
        conn.execute("UPDATE captions SET text = 'a new text' WHERE id = ?", (first,))
        assert conn.execute("SELECT caption_id FROM caption_embeddings").fetchall() == [(second,)]
        conn.execute("DELETE FROM captions WHERE id = ?", (second,))
        assert conn.execute("SELECT count(*) FROM caption_embeddings").fetchone() == (0,)
        # Ids are never reused (AUTOINCREMENT): an in-memory index reads rows above the last id it saw.
        conn.execute(
            "INSERT INTO caption_embeddings (caption_id, model, dim, vector) VALUES (?, 'm', 2, x'00000000')",
            (first,),
        )
        assert conn.execute("SELECT id FROM caption_embeddings").fetchone() == (3,)
    after_edits = _rows(db)

    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0002")
    finally:
        engine.dispose()
    objects = _objects(db)
    assert ("table", "caption_embeddings") not in objects
    assert ("trigger", "caption_embeddings_stale") not in objects
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0002",)
    assert _rows(db) == after_edits

    Library.open(db).close()  # and up again
    assert ("table", "caption_embeddings") in _objects(db)
    assert _rows(db) == after_edits
