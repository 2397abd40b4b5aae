"""The caption a photo shows follows the active model; switching models loses no caption; search
indexes only the caption a photo shows (schema 0006)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from photoscribe.core.errors import LibraryError
from photoscribe.core.library import Library
from photoscribe.core.library.repair import repair_library
from photoscribe.core.library.search import search
from photoscribe.core.library.upgrade import alembic_config

OLD, NEW = "default-1a2b3c4d", "best-798d8cc7"


def _babies(library: Library, tmp_path: Path) -> int:
    """The issue's photo: the default model's caption, then a worse fine-tuned model's."""
    path = tmp_path / "babies.jpg"
    path.write_bytes(b"jpeg")
    photo = library.upsert_photo(path, 4, 1.0).id
    library.set_active_model(OLD)
    library.add_model_caption(photo, OLD, "two young children are sitting in a car", -3.0)
    return photo


def _found(library: Library, query: str) -> list[int]:
    return [hit.photo_id for hit in search(library, query)]


def test_switching_models_shows_the_active_models_caption_and_brings_the_old_one_back(
    library: Library, tmp_path: Path
) -> None:
    photo = _babies(library, tmp_path)
    assert library.set_active_model(NEW)
    library.add_model_caption(photo, NEW, "a man in a man with a red shirt and a hat", -9.0)
    assert library.best_caption(photo).source == NEW
    assert library.best_captions([photo])[photo].source == NEW

    assert library.set_active_model(OLD)  # switching back: the old caption is shown again, not re-made
    assert library.active_model() == OLD
    assert library.best_caption(photo).text == "two young children are sitting in a car"
    assert {c.source for c in library.captions(photo)} == {OLD, NEW}  # nothing was deleted
    assert not library.set_active_model(OLD)  # no change
    assert library.mark_reviewed(photo).source == OLD  # Mark reviewed approves the caption shown


def test_search_finds_a_photo_by_the_caption_it_shows_only(library: Library, tmp_path: Path) -> None:
    photo = _babies(library, tmp_path)
    library.set_active_model(NEW)
    library.add_model_caption(photo, NEW, "a man in a man with a red shirt and a hat", -9.0)
    assert _found(library, "man with a red shirt and a hat") == [photo]
    assert _found(library, "children sitting in a car") == []

    library.set_active_model(OLD)  # the index follows the switch, without re-captioning
    assert _found(library, "man with a red shirt and a hat") == []
    hits = search(library, "children sitting in a car")
    assert [h.photo_id for h in hits] == [photo]
    assert hits[0].caption is not None and hits[0].caption.source == OLD

    assert repair_library(library.path).photos == 1  # `library repair` derives the same rows
    assert _found(library, "man with a red shirt and a hat") == []
    assert _found(library, "children sitting in a car") == [photo]


def test_a_persons_caption_hides_every_model_caption_from_search(library: Library, tmp_path: Path) -> None:
    photo = _babies(library, tmp_path)
    library.set_user_caption(photo, "Mia and Leo on the back seat")
    assert _found(library, "Leo back seat") == [photo]
    assert _found(library, "children sitting in a car") == []
    library.set_user_caption(photo, "")  # the person's caption removed: the model's is shown and found
    assert _found(library, "children sitting in a car") == [photo]


def test_a_model_id_that_names_no_model_is_refused(library: Library) -> None:
    for bad in ("", "user", "imported:xmp:dc:description"):
        with pytest.raises(LibraryError):
            library.set_active_model(bad)


def test_0006_reindexes_an_existing_library_and_downgrades_to_every_caption(tmp_path: Path) -> None:
    from alembic import command

    db = tmp_path / "library.sqlite3"
    with Library.open(db) as library:
        photo = _babies(library, tmp_path)
        library.add_model_caption(photo, NEW, "a man with a red shirt and a hat", -9.0)
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0005")
        with sqlite3.connect(db) as conn:  # 0005 indexed every model's caption
            assert conn.execute(
                "SELECT count(*) FROM captions_fts WHERE captions_fts MATCH 'shirt'"
            ).fetchone()[0]
            assert conn.execute(
                "SELECT count(*) FROM captions_fts WHERE captions_fts MATCH 'children'"
            ).fetchone()[0]
    finally:
        engine.dispose()
    with Library.open(db) as library:  # upgraded again: no active model, so the newest caption is shown
        assert library.active_model() is None
        assert library.best_caption(photo).source == NEW
        assert _found(library, "red shirt") == [photo]
        assert _found(library, "children sitting in a car") == []
