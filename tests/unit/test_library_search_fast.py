"""The fast search path: ranking on the index, broad queries newest first, raw rows, capped counts."""

from __future__ import annotations

import importlib
from datetime import date, datetime
from pathlib import Path

import pytest

from photoscribe.core.library.database import Library
from photoscribe.core.library.search import count_matches, parse_query, search

# The module (the package exports its search() function under the same name).
search_module = importlib.import_module("photoscribe.core.library.search")

MODEL = "sat-v1"


def _photo(library: Library, path: Path, caption: str | None = None, **kw) -> int:
    photo = library.upsert_photo(path, 100, kw.pop("mtime", 1.0), **kw)
    if caption is not None:
        alternatives = [{"text": caption, "score": -1.5}, {"text": caption + " again", "score": -2.5}]
        assert library.add_model_caption(photo.id, MODEL, caption, -2.0, alternatives)
    return photo.id


@pytest.fixture
def dogs(library: Library, tmp_path: Path) -> dict[str, int]:
    """Eight dog photos in two folders over four years, plus some without dogs."""
    home, trips = tmp_path / "home", tmp_path / "trips"
    library.add_folder_record(home)
    library.add_folder_record(trips)
    ids: dict[str, int] = {}
    for i in range(8):
        folder = home if i % 2 == 0 else trips
        ids[f"dog{i}"] = _photo(
            library,
            folder / f"dog{i}.jpg",
            f"a brown dog number {i} playing" if i != 5 else "a dog and another dog and a third dog",
            taken_at=datetime(2018 + i // 2, 1 + i, 1),
        )
    ids["cat"] = _photo(library, home / "cat.jpg", "a cat asleep on a sofa", taken_at=datetime(2020, 5, 5))
    ids["bare"] = _photo(library, trips / "bare.jpg", None, taken_at=datetime(2021, 1, 1))
    return ids


@pytest.fixture(params=["bm25", "broad"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with every query ranked by bm25, and again with every query treated as broad."""
    if request.param == "broad":
        monkeypatch.setattr(search_module, "BM25_MAX_MATCHES", 0)
    return str(request.param)


def _ids(hits) -> list[int]:
    return [h.photo_id for h in hits]


def test_broad_queries_list_the_newest_photos_first(
    library: Library, dogs: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    dog_ids = [dogs[f"dog{i}"] for i in range(8)]
    ranked = search(library, "dog")
    assert ranked[0].photo_id == dogs["dog5"]  # "dog" three times: bm25's best
    assert [h.rank for h in ranked] == sorted(h.rank for h in ranked) and ranked[0].rank < 0
    monkeypatch.setattr(search_module, "BM25_MAX_MATCHES", 7)  # 8 matches: broad
    broad = search(library, "dog")
    assert _ids(broad) == sorted(dog_ids, reverse=True)
    assert all(h.rank == 0.0 for h in broad)
    assert all("[dog]" in h.snippet for h in broad)
    monkeypatch.setattr(search_module, "BM25_MAX_MATCHES", 8)  # exactly the limit: still bm25
    assert _ids(search(library, "dog")) == _ids(ranked)
    monkeypatch.setattr(search_module, "BM25_SMALL_LIBRARY", 5)  # ids up to 10: a "large" library now
    monkeypatch.setattr(search_module, "BM25_MAX_MATCHES_LARGE", 7)
    assert _ids(search(library, "dog")) == sorted(dog_ids, reverse=True)
    monkeypatch.setattr(search_module, "BM25_MAX_MATCHES_LARGE", 8)
    assert _ids(search(library, "dog")) == _ids(ranked)


def test_broad_queries_are_newest_first_whoever_wrote_the_caption(
    library: Library, dogs: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    library.set_user_caption(dogs["dog2"], "our dog Rex")
    library.set_user_caption(dogs["cat"], "the cat that thinks it is a dog")
    assert _ids(search(library, "dog", limit=2)) == [dogs["dog2"], dogs["cat"]]  # bm25: a person's words
    monkeypatch.setattr(search_module, "BM25_MAX_MATCHES", 2)
    everything = sorted([*(dogs[f"dog{i}"] for i in range(8)), dogs["cat"]], reverse=True)
    assert _ids(search(library, "dog", limit=100)) == everything
    assert dogs["cat"] not in _ids(search(library, "dog -cat", limit=100))
    trips = tmp_folder_id(library, dogs)
    assert _ids(search(library, "dog", folder=trips, limit=100)) == [
        i for i in everything if library.get_photo(i).folder_id == trips
    ]


def tmp_folder_id(library: Library, dogs: dict[str, int]) -> int | None:
    return library.get_photo(dogs["dog1"]).folder_id


def test_pages_join_up_without_gaps_or_repeats(library: Library, dogs: dict[str, int], mode: str) -> None:
    everything = _ids(search(library, "dog", limit=100))
    assert sorted(everything) == sorted(dogs[f"dog{i}"] for i in range(8))
    pages = [_ids(search(library, "dog", limit=3, offset=start)) for start in (0, 3, 6, 9)]
    assert [len(p) for p in pages] == [3, 3, 2, 0]
    assert [i for page in pages for i in page] == everything


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"folder": "home"},
        {"folder": "trips-id"},
        {"date_from": date(2019, 1, 1)},
        {"date_to": date(2019, 12, 31)},
        {"date_from": date(2019, 1, 1), "date_to": datetime(2020, 5, 1)},
        {"needs_review": True},
        {"uncaptioned": True},
        {"added_since": "after-dog3"},
        {"include_missing": True},
    ],
    ids=lambda f: ",".join(f) or "none",
)
def test_text_queries_apply_every_filter_as_browsing_does(
    library: Library, dogs: dict[str, int], tmp_path: Path, mode: str, filters: dict
) -> None:
    library.mark_reviewed(dogs["dog2"])
    library.mark_missing(dogs["dog4"])
    kwargs = dict(filters)
    if kwargs.get("folder") == "home":
        kwargs["folder"] = tmp_path / "home"
    elif kwargs.get("folder") == "trips-id":
        kwargs["folder"] = library.get_photo(dogs["dog1"]).folder_id
    if kwargs.get("added_since") == "after-dog3":
        kwargs["added_since"] = library.get_photo(dogs["dog3"]).added_at
    browsed = set(_ids(search(library, "", **kwargs, limit=1000)))
    matching = set(_ids(search(library, "dog", include_missing=True, limit=1000)))
    expected = browsed & matching
    hits = search(library, "dog", **kwargs, limit=1000)
    assert set(_ids(hits)) == expected
    assert len(hits) == len(expected)
    count_kwargs = {k: v for k, v in kwargs.items() if k not in ("date_from", "date_to")}
    if len(count_kwargs) == len(kwargs):
        assert count_matches(library, "dog", **count_kwargs) == len(expected)
    if filters == {}:
        assert dogs["dog4"] not in expected and dogs["dog4"] in matching  # missing photos stay out
        assert dogs["cat"] not in matching


def test_hits_carry_the_same_records_as_the_library(
    library: Library, dogs: dict[str, int], mode: str
) -> None:
    library.mark_reviewed(dogs["dog3"])
    for hit in search(library, "dog", limit=100):
        assert hit.photo == library.get_photo(hit.photo_id)
        assert hit.caption == library.best_caption(hit.photo_id)
    hit = next(h for h in search(library, "dog") if h.photo_id == dogs["dog3"])
    assert hit.caption is not None and hit.caption.reviewed
    assert [a.text for a in hit.caption.alternatives] == [
        "a brown dog number 3 playing",
        "a brown dog number 3 playing again",
    ]
    assert hit.photo.taken_at == datetime(2019, 4, 1)


def test_user_caption_wins_as_best_caption_and_snippet(
    library: Library, dogs: dict[str, int], mode: str
) -> None:
    library.set_user_caption(dogs["dog0"], "Rex the dog at grandma's house")
    hit = next(h for h in search(library, "grandma") if h.photo_id == dogs["dog0"])
    assert hit.caption is not None and hit.caption.is_user
    assert hit.caption.text == "Rex the dog at grandma's house"
    assert "[grandma]" in hit.snippet
    assert search(library, "grandma", highlight=("<", ">"))[0].snippet.count("<") == 1


def test_count_stops_at_the_limit(library: Library, dogs: dict[str, int]) -> None:
    assert count_matches(library, "dog") == 8
    assert count_matches(library, "dog", limit=3) == 3
    assert count_matches(library, "dog", limit=100) == 8
    assert count_matches(library, "dog", limit=0) == 0
    assert count_matches(library, "", limit=4) == 4
    assert count_matches(library, "-dog", limit=100) == 2  # "everything except": the cat and the bare photo
    assert count_matches(library, "dog cat", limit=5) == 0


def test_a_typed_star_makes_a_prefix_of_any_word(library: Library, tmp_path: Path) -> None:
    assert parse_query("d*").include == ('"d"*',)  # one letter, but the person asked for a prefix
    assert parse_query("bic* red").include == ('"bic"*', '"red"*')
    assert parse_query("a* dog ").include == ('"a"*', '"dog"')  # a starred stopword is kept
    assert parse_query("dog -ca*").exclude == ('"ca"*',)
    bus = _photo(library, tmp_path / "bus.jpg", "a red bus")
    plan_b = _photo(library, tmp_path / "b.jpg", "plan b")
    assert set(_ids(search(library, "b*"))) == {bus, plan_b}
    assert _ids(search(library, "bus*")) == [bus]  # a whole word typed with a star stays a prefix
    assert _ids(search(library, "r* -bu*")) == []
    assert count_matches(library, "b*") == 2


def test_one_letter_being_typed_is_a_whole_word(library: Library, tmp_path: Path) -> None:
    assert parse_query("b").include == ('"b"',)
    assert parse_query("red b").include == ('"red"', '"b"')
    assert parse_query("bi").include == ('"bi"*',)
    assert parse_query("日").include == ('"日"*',)  # scripts without spaces still find a word by its start
    bus = _photo(library, tmp_path / "bus.jpg", "a red bus")
    plan_b = _photo(library, tmp_path / "b.jpg", "plan b")
    assert _ids(search(library, "b")) == [plan_b]
    assert _ids(search(library, "bu")) == [bus]
    assert _ids(search(library, "red b")) == []
    assert _ids(search(library, "red bu")) == [bus]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        'dog"',
        "dog*",
        "NEAR(dog cat)",
        "dog OR",
        "user_text:dog",
        "^dog",
        "{model_text}: dog",
        "-",
        "d",
        "\x00",
    ],
)
def test_hostile_input_never_raises_in_either_mode(
    library: Library, dogs: dict[str, int], mode: str, query: str
) -> None:
    hits = search(library, query)
    assert isinstance(hits, list)
    assert count_matches(library, query, limit=50) == min(50, count_matches(library, query))
