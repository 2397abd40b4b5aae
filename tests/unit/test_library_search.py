"""Full-text search (FTS5 via real SQLite files), the query builder, and "more like this"."""

from __future__ import annotations

import re
import sqlite3
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from photoscribe.core.errors import LibraryError
from photoscribe.core.library.database import Library
from photoscribe.core.library.search import FTS_ROWS_VIEW, build_match_query, parse_query, search
from photoscribe.core.library.similar import similar
from tests.helpers import get_feature, new_library, set_feature

MODEL = "sat-v1"


def _photo(library: Library, path: Path, caption: str | None = None, *, user: str | None = None, **kw) -> int:
    photo = library.upsert_photo(path, 100, kw.pop("mtime", 1.0), **kw)
    if caption is not None:
        assert library.add_model_caption(photo.id, MODEL, caption, -2.0)
    if user is not None:
        library.set_user_caption(photo.id, user)
    return photo.id


def _make_corpus(library: Library, root: Path) -> dict[str, int]:
    home, trips = root / "home", root / "trips"
    library.add_folder_record(home)
    library.add_folder_record(trips)
    return {
        "dog": _photo(
            library, home / "p1.jpg", "a dog runs on the green grass", taken_at=datetime(2019, 5, 1, 10)
        ),
        "bike": _photo(
            library,
            trips / "p2.jpg",
            "a man riding a bicycle down a city street",
            taken_at=datetime(2020, 8, 2),
        ),
        "beach": _photo(
            library, trips / "p3.jpg", "two children playing on a sandy beach", taken_at=datetime(2021, 1, 3)
        ),
        "ru": _photo(library, trips / "p4.jpg", "собака бежит по траве", taken_at=datetime(2022, 2, 4)),
        "ar": _photo(library, home / "p5.jpg", "قطة نائمة على الأريكة", taken_at=datetime(2018, 3, 5)),
        "ja": _photo(library, home / "p6.jpg", "日本 東京の夜景", taken_at=datetime(2017, 4, 6)),
        "empty": _photo(library, home / "IMG_0042.jpg", None, taken_at=datetime(2016, 6, 7)),
    }


@pytest.fixture
def corpus(library: Library, tmp_path: Path) -> dict[str, int]:
    return _make_corpus(library, tmp_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory):
    """One library for the many read-only hostile-input cases."""
    root = tmp_path_factory.mktemp("hostile")
    lib = new_library(root / "library.sqlite3")
    yield lib, _make_corpus(lib, root)
    lib.close()


def _ids(hits) -> list[int]:
    return [h.photo_id for h in hits]


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("dogs", "dog"),  # stemming
        ("running", "dog"),  # "running" and "runs" share the stem "run"
        ("bic", "bike"),  # prefix of the word being typed
        ("bicycles", "bike"),
        ("BICYCLE", "bike"),  # case
        ('"riding a bicycle"', "bike"),  # phrase
        ("man street", "bike"),  # AND of words
        ("man on a street", "bike"),  # stop words do not have to be in the caption
        ("children beach", "beach"),
        ("собака", "ru"),  # Cyrillic
        ("соба", "ru"),  # Cyrillic prefix
        ("قطة", "ar"),  # Arabic
        ("日本", "ja"),  # CJK token separated by a space
        ("東京", "ja"),  # ... and a CJK run found by its start
        ("IMG_0042", "empty"),  # file name
        ("0042", "empty"),
    ],
)
def test_query_finds(library: Library, corpus: dict[str, int], query: str, expected: str) -> None:
    assert _ids(search(library, query)) == [corpus[expected]]


def test_and_semantics_and_exclusion(library: Library, corpus: dict[str, int]) -> None:
    assert search(library, "dog bicycle") == []
    assert _ids(search(library, "a -dog", limit=100)) != []
    assert corpus["dog"] not in _ids(search(library, "-dog"))
    assert set(_ids(search(library, "-dog"))) == set(corpus.values()) - {corpus["dog"]}
    assert search(library, "grass -dog") == []
    assert _ids(search(library, 'street -"sandy beach"')) == [corpus["bike"]]


def test_trailing_space_means_a_complete_word(library: Library, tmp_path: Path) -> None:
    cat = _photo(library, tmp_path / "a.jpg", "a cat on a table")
    _photo(library, tmp_path / "b.jpg", "a catamaran at sea")
    assert set(_ids(search(library, "cata"))) == {cat + 1}  # a word being typed is a prefix
    assert _ids(search(library, "cat ")) == [cat]


def test_a_last_word_that_is_already_a_whole_word_is_not_a_prefix(library: Library, tmp_path: Path) -> None:
    # The porter stemmer makes "bus" the stem "bu": as a prefix it would find buffalo and buildings.
    bus = _photo(library, tmp_path / "a.jpg", "a red bus parked")
    _photo(library, tmp_path / "b.jpg", "a buffalo in a field")
    building = _photo(library, tmp_path / "c.jpg", "a tall building")
    assert _ids(search(library, "bus")) == [bus]
    assert _ids(search(library, "red bus")) == [bus]
    assert _ids(search(library, "buil")) == [building]  # a word being typed is still a prefix


def test_best_match_ranks_first(library: Library, tmp_path: Path) -> None:
    weak = _photo(library, tmp_path / "a.jpg", "a man walking in a park with a dog on a leash next to a lake")
    strong = _photo(library, tmp_path / "b.jpg", "a dog chasing another dog")
    middle = _photo(library, tmp_path / "c.jpg", "a dog sitting on a sofa")
    _photo(library, tmp_path / "d.jpg", "a bowl of fruit")
    assert _ids(search(library, "dog")) == [strong, middle, weak]
    ranks = [h.rank for h in search(library, "dog")]
    assert ranks == sorted(ranks)


def test_user_caption_outranks_model_caption_with_the_same_word(library: Library, tmp_path: Path) -> None:
    model_first = _photo(library, tmp_path / "a.jpg", "a cat sleeping on a sofa")
    user_second = _photo(library, tmp_path / "b.jpg", user="a cat sleeping on a sofa")
    reviewed = _photo(library, tmp_path / "c.jpg", "a cat sleeping on a sofa")
    library.mark_reviewed(reviewed)
    hits = search(library, "cat")
    assert _ids(hits)[2] == model_first
    assert set(_ids(hits)[:2]) == {user_second, reviewed}
    assert hits[0].caption.preferred and not hits[2].caption.preferred


def test_snippet_highlights_matches(library: Library, corpus: dict[str, int], tmp_path: Path) -> None:
    [hit] = search(library, "dogs")
    assert hit.snippet == "a [dog] runs on the green grass"
    assert hit.caption.text == "a dog runs on the green grass"
    [hit] = search(library, "grass run", highlight=("<b>", "</b>"))
    assert "<b>runs</b>" in hit.snippet and "<b>grass</b>" in hit.snippet
    long_caption = " ".join(["word"] * 40 + ["zebra"] + ["word"] * 40)
    _photo(library, tmp_path / "long.jpg", long_caption)
    [hit] = search(library, "zebra", snippet_tokens=6, ellipsis="...")
    assert "[zebra]" in hit.snippet and hit.snippet.startswith("...") and len(hit.snippet.split()) <= 7


def test_index_follows_caption_changes(library: Library, tmp_path: Path) -> None:
    photo = _photo(library, tmp_path / "a.jpg", "a red tractor in a field")
    library.set_user_caption(photo, "grandfather's old Fordson")
    assert _ids(search(library, "fordson")) == [photo]
    assert search(library, "tractor") == []  # only the caption the photo shows is searched (schema 0006)
    library.set_user_caption(photo, "the blue boat")
    assert search(library, "fordson") == []
    assert _ids(search(library, "boat")) == [photo]
    with library.session() as s:
        s.execute(text("INSERT INTO captions_fts(captions_fts) VALUES ('integrity-check')"))
        indexed = s.execute(
            text("SELECT rowid, user_text, model_text, name FROM captions_fts ORDER BY rowid")
        ).all()
        derived = s.execute(  # what the tables say the photo's row should be (migration 0006's view)
            text(f"SELECT photo_id, user_text, model_text, name FROM {FTS_ROWS_VIEW} ORDER BY photo_id")
        ).all()
    assert indexed == derived and len(indexed) == 1


# --------------------------------------------------------------------------- filters and browsing


def test_browse_without_query_is_newest_first(library: Library, corpus: dict[str, int]) -> None:
    hits = search(library, "")
    assert _ids(hits) == [corpus[k] for k in ("ru", "beach", "bike", "dog", "ar", "ja", "empty")]
    assert hits[0].snippet == "собака бежит по траве" and hits[0].rank == 0.0
    assert _ids(search(library, "", limit=2, offset=1)) == [corpus["beach"], corpus["bike"]]
    assert search(library, "((( ***") == []  # symbols only: nothing to search for, not everything


def test_filters(library: Library, corpus: dict[str, int], tmp_path: Path) -> None:
    assert set(_ids(search(library, "", folder=tmp_path / "trips"))) == {
        corpus["bike"],
        corpus["beach"],
        corpus["ru"],
    }
    trips_id = library.get_photo(corpus["bike"]).folder_id
    assert set(_ids(search(library, "", folder=trips_id))) == {corpus["bike"], corpus["beach"], corpus["ru"]}
    assert _ids(search(library, "a", folder=str(tmp_path / "home"))) == [corpus["dog"]]
    assert _ids(search(library, "", date_from=date(2020, 1, 1), date_to=date(2021, 1, 3))) == [
        corpus["beach"],
        corpus["bike"],
    ]
    assert _ids(search(library, "", date_to=datetime(2019, 5, 1, 10))) == [
        corpus["dog"],
        corpus["ar"],
        corpus["ja"],
        corpus["empty"],
    ]
    assert _ids(search(library, "", uncaptioned=True)) == [corpus["empty"]]
    library.set_user_caption(corpus["bike"], "me on my bike")
    library.mark_reviewed(corpus["beach"])
    review = set(_ids(search(library, "", needs_review=True)))
    assert review == {corpus["dog"], corpus["ru"], corpus["ar"], corpus["ja"]}
    assert _ids(search(library, "dog", needs_review=True, date_from=date(2019, 5, 1))) == [corpus["dog"]]
    assert search(library, "dog", date_from=date(2019, 5, 2)) == []


def test_sort_orders_and_added_since(library: Library, corpus: dict[str, int]) -> None:
    everything = search(library, "", limit=100)
    added = search(library, "", sort="added")
    assert _ids(added) == sorted(_ids(everything), reverse=True)  # added in id order
    cutoff = library.get_photo(corpus["ar"]).added_at
    assert _ids(search(library, "", sort="added", added_since=cutoff)) == [
        corpus["empty"],
        corpus["ja"],
        corpus["ar"],
    ]
    # A text query can be ordered by date instead of relevance.
    assert _ids(search(library, "a", sort="taken")) == [corpus["beach"], corpus["bike"], corpus["dog"]]
    assert _ids(search(library, "a", sort="added")) == [corpus["beach"], corpus["bike"], corpus["dog"]]
    assert _ids(search(library, "a", sort="relevance")) == _ids(search(library, "a"))
    # Both directions, and by file name (case-insensitive: IMG_0042 sorts among p1..p6).
    assert _ids(search(library, "", sort="added-oldest")) == sorted(_ids(everything))
    assert _ids(search(library, "", sort="taken-oldest")) == list(reversed(_ids(everything)))
    names = [h.photo.name for h in search(library, "", sort="name")]
    assert names == ["IMG_0042.jpg", "p1.jpg", "p2.jpg", "p3.jpg", "p4.jpg", "p5.jpg", "p6.jpg"]
    assert [h.photo.name for h in search(library, "", sort="name-desc")] == names[::-1]
    with pytest.raises(LibraryError, match="unknown sort"):
        search(library, "", sort="random")  # type: ignore[arg-type]


def test_file_time_is_the_date_when_taken_at_is_unknown(library: Library, tmp_path: Path) -> None:
    mtime = datetime(2015, 3, 3, 12, 0).timestamp()  # local time, as shown to the user
    photo = _photo(library, tmp_path / "scan.jpg", "an old photo", mtime=mtime)
    assert _ids(search(library, "", date_from=date(2015, 3, 3), date_to=date(2015, 3, 3))) == [photo]
    assert search(library, "", date_from=date(2015, 3, 4)) == []


# --------------------------------------------------------------------------- hostile input

HOSTILE = [
    '"',
    '""',
    '"""',
    'dog"',
    '"dog',
    'a "b c',
    "(",
    ")",
    "(dog",
    "dog)",
    "((dog) OR (cat)",
    "AND",
    "OR",
    "NOT",
    "dog AND",
    "OR dog",
    "dog NOT",
    "NOT dog",
    "NEAR(",
    "NEAR(dog cat, 2)",
    "dog NEAR/3 cat",
    "*",
    "dog*",
    "*dog",
    "-",
    "--",
    "- dog",
    "dog -",
    "-dog -cat",
    "^",
    "^dog",
    ":",
    "col:term",
    "user_text:dog",
    "model_text : grass",
    "{user_text model_text}: dog",
    "'; DROP TABLE photos; --",
    '"; DELETE FROM captions; --',
    "dog' OR '1'='1",
    "🐶",
    "🐶 dog 🐕‍🦺",
    "狗在草地上跑",
    "كلب يركض",
    "собака -трава",
    "a\x00b",
    "\x00",
    "dog\x00grass",
    "x" * 100_000,
    "dog " * 5_000,
    "!!!???...,,,;;;",
    "\\",
    "%_%",
    "\t\n\r",
    "e\u0301cole",  # decomposed accent
    "\ud800",  # lone surrogate
    "+dog",
    "dog + cat",
    "[dog]",
    "{dog}",
    "$dog",
    "@dog",
    "dog OR cat AND NOT bird",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_input_never_raises(shared: tuple[Library, dict[str, int]], query: str) -> None:
    library, corpus = shared
    match = build_match_query(query)
    assert match is None or isinstance(match, str)
    hits = search(library, query)
    assert isinstance(hits, list)
    # The library is intact.
    assert library.stats().photos == len(corpus)


def test_build_match_query_output_is_only_quoted_strings(library: Library) -> None:
    for query in HOSTILE:
        match = build_match_query(query)
        if match is None:
            continue
        # Remove quoted strings; what is left may only be our own operators.
        residue = re.sub(r'"(?:[^"]|"")*"', "S", match)
        assert re.fullmatch(r"\((S\*? AND )*S\*?\)( NOT \((S OR )*S\))?", residue), (query, match)
    assert build_match_query(None) is None  # type: ignore[arg-type]
    assert build_match_query("") is None
    assert build_match_query("-dog") is None
    assert build_match_query('say "hi" "there') == '("say" AND "hi" AND "there"*)'
    assert build_match_query("dog AND cat") == '("dog" AND "cat"*)'
    assert build_match_query("NEAR(dog cat)") == '("NEAR" AND "dog" AND "cat"*)'
    assert build_match_query('"said ""hi"""') == '("said" AND "hi")'
    assert parse_query("a -b").exclude == ('"b"',)


def test_hostile_queries_are_valid_fts5(tmp_path: Path) -> None:
    """Every built query parses in a bare FTS5 table too (no help from our search())."""
    conn = sqlite3.connect(tmp_path / "bare.sqlite3")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(a, b, tokenize='porter unicode61', prefix='2 3')")
    conn.execute("INSERT INTO t VALUES ('dog grass', 'cat')")
    for query in HOSTILE:
        match = build_match_query(query)
        if match is not None:
            conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (match,)).fetchall()
    conn.close()


# --------------------------------------------------------------------------- more like this


def test_similar_ranks_by_cosine_within_one_feature_model(library: Library, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=256).astype(np.float32)
    ids = [_photo(library, tmp_path / f"{i}.jpg") for i in range(6)]
    noise = [0.0, 0.1, 0.5, 2.0, 10.0]
    for photo_id, scale in zip(ids[:5], noise, strict=True):
        assert set_feature(library, photo_id, base * 3 + scale * rng.normal(size=256), "resnet50")
    set_feature(library, ids[5], base, "other-encoder")  # same vector, different model: not comparable

    results = similar(library, ids[0], k=3)
    assert [p.id for p, _ in results] == ids[1:4]
    scores = [s for _, s in results]
    assert scores == sorted(scores, reverse=True) and 0.9 < scores[0] <= 1.001
    assert len(similar(library, ids[0], k=100)) == 4
    assert similar(library, ids[0], k=0) == []

    stored = get_feature(library, ids[0])
    assert stored is not None and abs(float(np.linalg.norm(stored)) - 1.0) < 1e-2
    assert similar(library, _photo(library, tmp_path / "new.jpg"), k=3) == []  # no feature yet
    with pytest.raises(LibraryError):
        similar(library, 99999)
    with pytest.raises(LibraryError):
        set_feature(library, ids[0], np.zeros(256), "resnet50")
    # A moved photo keeps its feature; a changed file loses it.
    library.move_photo(tmp_path / "1.jpg", tmp_path / "moved.jpg")
    assert similar(library, ids[0], k=1)[0][0].path == str(tmp_path / "moved.jpg")
    library.upsert_photo(tmp_path / "moved.jpg", 999, 2.0)
    assert ids[1] not in [p.id for p, _ in similar(library, ids[0], k=10)]


def test_count_matches_counts_what_search_returns_without_a_limit(
    library: Library, corpus: dict[str, int]
) -> None:
    from photoscribe.core.library.search import count_matches

    for query in ("", "a", "dog", "a -beach", '"sandy beach"', "zzz-nothing", "-dog", "p1"):
        hits = search(library, query, limit=10_000)
        assert count_matches(library, query) == len(hits), query
    assert count_matches(library, "", uncaptioned=True) == len(search(library, "", uncaptioned=True))


def test_a_query_with_no_words_finds_nothing_not_everything(library: Library, corpus: dict[str, int]) -> None:
    from photoscribe.core.library.search import count_matches

    for query in ("*", "🙂", "?!", "()", '""'):
        assert search(library, query) == [] and count_matches(library, query) == 0, query
    assert len(search(library, "")) == len(corpus)  # an empty box still browses everything


def test_count_and_export_scope_read_a_whole_last_word_as_search_does(
    library: Library, tmp_path: Path
) -> None:
    from photoscribe.core.library.search import count_matches, matching_ids

    bus = _photo(library, tmp_path / "a.jpg", "a red bus parked")
    _photo(library, tmp_path / "b.jpg", "a buffalo in a field")
    assert count_matches(library, "bus") == 1
    with library.session() as session:
        assert list(session.scalars(matching_ids(library, "bus"))) == [bus]
