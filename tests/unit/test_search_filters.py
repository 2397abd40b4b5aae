"""SearchFilters: each filter finds the right photos of a small real library, as SQL text on the
DBAPI cursor and as a SQLAlchemy clause; word search, counting and hybrid search agree on them."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, text

from photoscribe.core.library import meaning
from photoscribe.core.library.database import Library
from photoscribe.core.library.embed_queue import EmbedQueue
from photoscribe.core.library.filters import SearchFilters
from photoscribe.core.library.hybrid import MeaningSearch, count_hybrid, hybrid_search
from photoscribe.core.library.schema import Photo
from photoscribe.core.library.search import count_matches, search

MODEL = "sat-v1"


class HashEmbedder:
    """One pseudo-random vector per word, summed and normalised (deterministic, no model)."""

    model_id = meaning.DEFAULT_MODEL
    dim = 32

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for sentence in texts:
            vec = np.zeros(self.dim, dtype=np.float32)
            for word in sentence.lower().split():
                seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                vec += np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(vec / (np.linalg.norm(vec) or 1.0))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)


@pytest.fixture
def photos(library: Library, tmp_path: Path) -> dict[str, int]:
    """Seven photos in two folders: taken on known days, added on known days, in every review state."""
    home, trips = tmp_path / "home", tmp_path / "trips"
    library.add_folder_record(home)
    library.add_folder_record(trips)

    def photo(path: Path, caption: str | None, taken: datetime | None, mtime: float = 1.0) -> int:
        photo_id = library.upsert_photo(path, 100, mtime, taken_at=taken).id
        if caption is not None:
            assert library.add_model_caption(photo_id, MODEL, caption, -2.0)
        return photo_id

    ids = {
        "reviewed": photo(home / "a.jpg", "a dog on the grass", datetime(2019, 6, 1)),
        "dog": photo(home / "b.jpg", "a brown dog with a ball", datetime(2020, 3, 10, 9)),
        "cat": photo(home / "c.jpg", "a cat on a sofa", datetime(2021, 1, 1)),
        "bus": photo(trips / "d.jpg", "a red bus and a dog", datetime(2020, 3, 10, 23, 30)),
        "bare": photo(trips / "e.jpg", None, datetime(2020, 5, 5)),
        # No date taken: the file time counts (here, local noon on 1 January 2010).
        "scan": photo(trips / "f.jpg", None, None, mtime=datetime(2010, 1, 1, 12).timestamp()),
        "gone": photo(trips / "g.jpg", "a dog at the beach", datetime(2022, 8, 1)),
    }
    library.mark_reviewed(ids["reviewed"])
    library.set_user_caption(ids["cat"], "our cat asleep")
    library.mark_missing(ids["gone"])
    with library.transaction() as session:
        session.execute(text("UPDATE photos SET added_at = '2024-01-01 00:00:00.000000'"))
        session.execute(
            text("UPDATE photos SET added_at = '2024-06-01 00:00:00.000000' WHERE id IN (:a, :b)"),
            {"a": ids["cat"], "b": ids["bus"]},
        )
    return ids


PRESENT = {"reviewed", "dog", "cat", "bus", "bare", "scan"}
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("none", {}, PRESENT),
    ("include_missing", {"include_missing": True}, PRESENT | {"gone"}),
    ("folder path", {"folder": "home"}, {"reviewed", "dog", "cat"}),
    ("folder id", {"folder": "trips-id"}, {"bus", "bare", "scan"}),
    ("one whole day", {"date_from": date(2020, 3, 10), "date_to": date(2020, 3, 10)}, {"dog", "bus"}),
    ("up to a moment", {"date_to": datetime(2020, 3, 10, 12)}, {"reviewed", "dog", "scan"}),
    ("from a moment", {"date_from": datetime(2020, 3, 10, 12)}, {"cat", "bus", "bare"}),
    ("to the end of time", {"date_to": date.max}, PRESENT),
    ("file time when no date taken", {"date_to": date(2015, 1, 1)}, {"scan"}),
    ("added since", {"added_since": datetime(2024, 3, 1)}, {"cat", "bus"}),
    ("uncaptioned", {"uncaptioned": True}, {"bare", "scan"}),
    ("needs review", {"needs_review": True}, {"dog", "bus"}),
    ("folder and review", {"folder": "home", "needs_review": True}, {"dog"}),
]


def _filters(library: Library, tmp_path: Path, args: dict[str, Any]) -> SearchFilters:
    args = dict(args)
    if args.get("folder") == "home":
        args["folder"] = tmp_path / "home"
    elif args.get("folder") == "trips-id":
        args["folder"] = next(f.id for f in library.list_folders() if f.path.endswith("trips"))
    return SearchFilters(**args)


def _names(photos: dict[str, int], ids: Sequence[int] | set[int]) -> set[str]:
    by_id = {photo_id: name for name, photo_id in photos.items()}
    return {by_id[photo_id] for photo_id in ids}


@pytest.mark.parametrize(("args", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_filter_finds_its_photos_as_sql_text_and_as_a_clause(
    library: Library, photos: dict[str, int], tmp_path: Path, args: dict[str, Any], expected: set[str]
) -> None:
    filters = _filters(library, tmp_path, args)
    where, values = filters.where(rowid="photos.id")  # the folder id also bounds the id range
    with sqlite3.connect(library.path) as conn:
        rows = conn.execute(f"SELECT id FROM photos WHERE {where or '1'}", values).fetchall()
    assert _names(photos, {row[0] for row in rows}) == expected

    clause = filters.clause()
    stmt = select(Photo.id) if clause is None else select(Photo.id).where(clause)
    with library.session() as session:
        assert _names(photos, set(session.scalars(stmt))) == expected

    assert _names(photos, [h.photo_id for h in search(library, "", filters, limit=100)]) == expected
    assert filters.narrows == (args not in ({}, {"include_missing": True}))


def test_filters_given_as_keywords_are_the_same_filters(library: Library, photos: dict[str, int]) -> None:
    assert SearchFilters.of(needs_review=True) == SearchFilters(needs_review=True)
    assert SearchFilters.of(SearchFilters(uncaptioned=True), folder=3) == SearchFilters(
        uncaptioned=True, folder=3
    )
    by_keyword = search(library, "dog", needs_review=True)
    assert [h.photo_id for h in by_keyword] == [
        h.photo_id for h in search(library, "dog", SearchFilters(needs_review=True))
    ]
    assert _names(photos, [h.photo_id for h in by_keyword]) == {"dog", "bus"}


@pytest.mark.parametrize(("args", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_word_search_counting_and_hybrid_search_agree_on_the_filters(
    library: Library, photos: dict[str, int], tmp_path: Path, args: dict[str, Any], expected: set[str]
) -> None:
    filters = _filters(library, tmp_path, args)
    EmbedQueue(library, HashEmbedder()).run_once()
    by_meaning = MeaningSearch(library, HashEmbedder())
    dogs = {"reviewed", "dog", "bus", "gone"}  # the captions with the word "dog"

    words = [h.photo_id for h in search(library, "dog", filters, limit=100)]
    assert _names(photos, words) == expected & dogs
    assert count_matches(library, "dog", filters) == len(words)
    assert [
        h.photo_id for h in hybrid_search(library, "dog", by_meaning, mode="fts", filters=filters)
    ] == words

    # By meaning with no threshold: every captioned photo the filters let through, word matches first.
    hybrid = hybrid_search(library, "dog", by_meaning, filters=filters, min_similarity=-1.0, limit=100)
    ids = [h.photo_id for h in hybrid]
    captioned = expected - {"bare", "scan"} if not filters.uncaptioned else set()
    assert ids[: len(words)] == words and not any(h.by_meaning for h in hybrid[: len(words)])
    assert _names(photos, ids) == (captioned if not filters.uncaptioned else expected & dogs)
    assert count_hybrid(library, "dog", by_meaning, filters, min_similarity=-1.0) == len(ids)
    assert count_hybrid(library, "dog", None, filters) == len(words)

    # Only -excluded words: "everything except", by words alone (nothing to search by meaning).
    everything_but = hybrid_search(
        library, "-cat", by_meaning, filters=filters, min_similarity=-1.0, limit=100
    )
    assert not any(h.by_meaning for h in everything_but)
    assert _names(photos, [h.photo_id for h in everything_but]) == expected - {"cat"}
    assert count_hybrid(library, "-cat", by_meaning, filters, min_similarity=-1.0) == len(everything_but)
