"""Schema 0004 (keywords, captions.confidence, keywords in the FTS index): up from 0001, down to 0003, up again."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine

from photoscribe.core.library import Library
from photoscribe.core.library.upgrade import alembic_config

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "library-0001.sqlite"


def _match(db: Path, query: str) -> list[int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT rowid FROM captions_fts WHERE captions_fts MATCH ? ORDER BY rowid", (query,)
        )
        return [row[0] for row in rows]


def _columns(db: Path, table: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def test_0004_upgrades_the_0001_fixture_and_downgrades_to_0003_and_back(tmp_path: Path) -> None:
    from alembic import command

    db = tmp_path / "library.sqlite3"
    shutil.copyfile(FIXTURE, db)
    snow = _match(db, "snow")
    assert snow
    with Library.open(db) as library:
        photo = next(p for p in library.list_photos() if p.id not in snow)
        library.add_keyword(photo.id, "glacier")
    assert "confidence" in _columns(db, "captions")
    assert _columns(db, "captions_fts") == ["user_text", "model_text", "name", "keywords"]
    assert _match(db, "snow") == snow  # existing rows were re-indexed
    assert _match(db, "glacier") == [photo.id]
    assert _match(db, "keywords:glacier") == [photo.id]

    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        # A removed keyword leaves the index; a caption edit keeps the keywords indexed.
        conn.execute("UPDATE keywords SET removed = 1 WHERE word = 'glacier'")
    assert _match(db, "glacier") == []
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE keywords SET removed = 0 WHERE word = 'glacier'")
        conn.execute("UPDATE captions SET text = 'new words' WHERE photo_id = ?", (photo.id,))
    assert _match(db, "glacier") == [photo.id]

    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0003")
    finally:
        engine.dispose()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0003",)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert "keywords" not in tables
    assert "confidence" not in _columns(db, "captions")
    assert _columns(db, "captions_fts") == ["user_text", "model_text", "name"]
    assert {"captions_fts_ai", "captions_fts_au", "photos_fts_ad", "caption_embeddings_stale"} <= triggers
    assert not any(name.startswith("keywords_") for name in triggers)
    assert _match(db, "snow") == snow

    with Library.open(db) as library:  # and up again
        assert library.keywords(photo.id) == []
        library.add_keyword(photo.id, "glacier")
    assert _match(db, "glacier") == [photo.id]
    assert _match(db, "snow") == snow
