"""core.drafts: caption drafts per library and photo, written atomically, never a reason to fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from photoscribe.core import drafts
from photoscribe.core.drafts import DraftStore


def test_drafts_are_kept_per_library_and_photo_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "data" / "drafts.json"
    one = DraftStore(tmp_path / "one.sqlite3", path)
    two = DraftStore(tmp_path / "two.sqlite3", path)
    one.put(3, "a boat", "a blue boat")
    one.put(5, "a dog")
    two.put(3, "a cat")
    assert [(d.photo_id, d.text, d.saved_text) for d in one.all()] == [
        (3, "a boat", "a blue boat"),
        (5, "a dog", ""),
    ]
    assert two.get(3).text == "a cat"  # type: ignore[union-attr]
    assert one.remove(3) and not one.remove(3)
    assert one.get(3) is None and two.get(3) is not None
    assert DraftStore(tmp_path / "one.sqlite3", path).get(5).text == "a dog"  # type: ignore[union-attr]
    assert [p.name for p in path.parent.iterdir()] == ["drafts.json"]  # no temporary file left
    one.remove(5)
    assert str((tmp_path / "one.sqlite3").resolve()) not in json.loads(path.read_text())


def test_a_damaged_drafts_file_reads_as_no_drafts_and_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "drafts.json"
    path.write_bytes(b'{"half a file')
    store = DraftStore(tmp_path / "lib.sqlite3", path)
    assert store.all() == []
    store.put(1, "a tree")
    assert store.get(1).text == "a tree"  # type: ignore[union-attr]


def test_the_drafts_file_is_in_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOSCRIBE_HOME", str(tmp_path))
    assert drafts.drafts_path() == tmp_path / "data" / drafts.DRAFTS_FILE
