"""The tests' new libraries: copies of one migrated template, which open without migrating again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from photoscribe.core.library import upgrade
from photoscribe.core.library.upgrade import SCHEMA_HEAD, current_revision
from tests.helpers import library_template, new_library, new_library_file


def test_a_new_library_is_at_the_newest_schema_and_opens_without_a_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library_template()  # made (by every migration) before the door closes

    def no_migration(*_args: object) -> bool:
        raise AssertionError("a copy of the template ran a migration")

    monkeypatch.setattr(upgrade, "_migrate_locked", no_migration)
    with new_library(tmp_path / "sub" / "library.sqlite3") as library:
        assert current_revision(library.engine) == SCHEMA_HEAD
        photo = library.upsert_photo(tmp_path / "a.jpg", 1, 1.0)
        library.set_user_caption(photo.id, "a dog on the grass")
        assert library.best_caption(photo.id).text == "a dog on the grass"


def test_each_copy_is_its_own_empty_file(tmp_path: Path) -> None:
    with new_library(tmp_path / "one.sqlite3") as one:
        one.upsert_photo(tmp_path / "a.jpg", 1, 1.0)
    with new_library(tmp_path / "two.sqlite3") as two:
        assert two.list_photos() == []
    with sqlite3.connect(f"file:{library_template()}?mode=ro", uri=True) as template:
        assert template.execute("SELECT count(*) FROM photos").fetchone() == (0,)


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = new_library_file(tmp_path / "library.sqlite3")
    with pytest.raises(FileExistsError):
        new_library_file(path)
