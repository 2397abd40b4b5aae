"""Keywords and confidence (issue 18): stored by the queue, replaced per run, removed for good."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest

from photoscribe.core.captioning.results import CaptionFailure, CaptionResult, Keyword
from photoscribe.core.errors import LibraryError
from photoscribe.core.library.database import Library
from photoscribe.core.library.queue import CaptionQueue
from tests.helpers import new_library

MODEL = "tiny-model"


class FakeCaptioner:
    """Captions every photo with ``text``, ``keywords`` and ``confidence`` (what the model will return)."""

    model_id = MODEL

    def __init__(self, text: str, keywords: Iterable[tuple[str, float]], confidence: float | None) -> None:
        self.text = text
        self.keywords = tuple(Keyword(w, s) for w, s in keywords)
        self.confidence = confidence

    def iter_batches(
        self, paths: Iterable[str | os.PathLike[str]], cancel: threading.Event | None = None
    ) -> Generator[tuple[list[CaptionResult], list[CaptionFailure]], None, None]:
        results = [
            CaptionResult(
                path=Path(p),
                text=self.text,
                logprob=-1.0,
                alternatives=(),
                words=tuple(self.text.split()),
                attention=np.zeros((len(self.text.split()), 2, 2), np.float32),
                feature=np.ones(4, np.float32) / 2,
                seconds=0.01,
                keywords=self.keywords,
                confidence=self.confidence,
            )
            for p in paths
        ]
        yield results, []


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = new_library(tmp_path / "library.sqlite3")
    yield lib
    lib.close()


def caption_with(
    library: Library, text: str, keywords: list[tuple[str, float]], confidence: float | None
) -> None:
    report = CaptionQueue(library, FakeCaptioner(text, keywords, confidence)).run_once()
    assert report.failed == 0


def words(library: Library, photo_id: int) -> list[str]:
    return [k.word for k in library.keywords(photo_id)]


def test_the_queue_stores_confidence_and_keywords_best_first(library: Library, tmp_path: Path) -> None:
    photo = library.upsert_photo(tmp_path / "a.jpg", 1, 1.0)
    caption_with(library, "a man riding a horse", [("vehicle", 0.2), ("bus", 0.7)], 0.34)
    caption = library.best_caption(photo.id)
    assert caption is not None and caption.confidence == pytest.approx(0.34)
    assert caption.low_confidence
    kws = library.keywords(photo.id)
    assert [(k.word, k.source) for k in kws] == [("bus", f"model:{MODEL}"), ("vehicle", f"model:{MODEL}")]
    assert kws[0].score == pytest.approx(0.7) and kws[0].from_model
    assert library.stats().low_confidence == 1
    library.mark_reviewed(photo.id)  # a person approved it: no longer low confidence
    assert not library.best_caption(photo.id).low_confidence
    assert library.stats().low_confidence == 0


def test_captioning_again_replaces_model_keywords_only(library: Library, tmp_path: Path) -> None:
    photo = library.upsert_photo(tmp_path / "a.jpg", 1, 1.0)
    caption_with(library, "a bus on a street", [("bus", 0.8), ("street", 0.5), ("car", 0.3)], 0.9)
    library.add_keyword(photo.id, "Holiday 2024")
    assert library.remove_keyword(photo.id, "BUS")  # case-insensitive; remembered
    assert not library.remove_keyword(photo.id, "bus")  # already removed
    assert words(library, photo.id) == ["Holiday 2024", "street", "car"]

    library.forget_model_captions([photo.id])
    caption_with(library, "a red bus", [("bus", 0.9), ("truck", 0.6), ("street", 0.4)], 0.8)
    # bus stays removed, car is gone (the model no longer says it), street's score is new.
    assert words(library, photo.id) == ["Holiday 2024", "truck", "street"]
    removed = [k for k in library.keywords(photo.id, include_removed=True) if k.removed]
    assert [k.word for k in removed] == ["bus"]
    street = next(k for k in library.keywords(photo.id) if k.word == "street")
    assert street.score == pytest.approx(0.4)
    assert library.best_caption(photo.id).confidence == pytest.approx(0.8)

    # A person adding a removed word back makes it theirs.
    added = library.add_keyword(photo.id, "bus")
    assert added.source == "user" and not added.removed
    assert words(library, photo.id)[:2] == ["Holiday 2024", "bus"]


def test_a_model_keyword_a_person_also_has_stays_theirs(library: Library, tmp_path: Path) -> None:
    photo = library.upsert_photo(tmp_path / "a.jpg", 1, 1.0)
    library.add_keyword(photo.id, "Dog")
    caption_with(library, "a dog", [("dog", 0.9)], None)
    assert [(k.word, k.source) for k in library.keywords(photo.id)] == [("Dog", "user")]
    assert library.best_caption(photo.id).confidence is None
    assert not library.best_caption(photo.id).low_confidence


def test_keywords_are_cleaned_and_bad_ones_refused(library: Library, tmp_path: Path) -> None:
    photo = library.upsert_photo(tmp_path / "a.jpg", 1, 1.0)
    assert library.add_keyword(photo.id, "  sea\tside \x00 ").word == "sea side"
    with pytest.raises(LibraryError):
        library.add_keyword(photo.id, " \n ")
    with pytest.raises(LibraryError):
        library.add_keyword(photo.id, "x" * 101)
    with pytest.raises(LibraryError):
        library.add_keyword(tmp_path / "unknown.jpg", "sea")
    caption_with(library, "a beach", [("", 0.9), ("beach", 1.7), ("sand", float("nan"))], 3.0)
    assert library.best_caption(photo.id).confidence == 1.0  # clamped to 0-1
    assert "beach" in words(library, photo.id)


def test_deleting_a_photo_deletes_its_keywords_and_index_row(library: Library, tmp_path: Path) -> None:
    photo = library.upsert_photo(tmp_path / "a.jpg", 1, 1.0)
    caption_with(library, "a bus", [("bus", 0.9)], 0.9)
    library.delete_photos([photo.id])
    with sqlite3.connect(library.path) as conn:
        assert conn.execute("SELECT count(*) FROM keywords").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM captions_fts").fetchone() == (0,)


# --------------------------------------------------------------------------- search


def _photo_with(library: Library, tmp_path: Path, name: str, text: str, keywords: list[str]) -> int:
    photo = library.upsert_photo(tmp_path / name, 1, 1.0)
    library.add_model_caption(photo.id, MODEL, text, -1.0, keywords=[(w, 0.5) for w in keywords])
    return photo.id


def test_search_finds_a_keyword_the_caption_lacks_and_ranks_both_matches_first(
    library: Library, tmp_path: Path
) -> None:
    from photoscribe.core.library.search import count_matches, search

    both = _photo_with(library, tmp_path, "a.jpg", "a red bus on a street", ["bus", "street"])
    keyword_only = _photo_with(library, tmp_path, "b.jpg", "a man riding a horse", ["bus", "vehicle"])
    _photo_with(library, tmp_path, "c.jpg", "a dog on the grass", ["dog"])
    hits = search(library, "bus")
    assert [h.photo_id for h in hits] == [both, keyword_only]
    assert hits[1].keywords == ("bus", "vehicle")
    assert hits[1].snippet == "a man riding a horse — [bus], vehicle"
    assert "[bus]" in hits[0].snippet and "street" in hits[0].snippet
    assert count_matches(library, "bus") == 2
    # Every path of search: a date order, a broad browse, a filter.
    assert {h.photo_id for h in search(library, "bus", sort="taken")} == {both, keyword_only}
    assert search(library, "", sort="name")[1].keywords == ("bus", "vehicle")
    # A caption word and a keyword together.
    assert [h.photo_id for h in search(library, "horse vehicle")] == [keyword_only]

    library.remove_keyword(keyword_only, "bus")
    assert [h.photo_id for h in search(library, "bus")] == [both]


def test_hostile_queries_stay_safe_with_keywords(library: Library, tmp_path: Path) -> None:
    from photoscribe.core.library.repair import repair_library
    from photoscribe.core.library.search import search

    photo = _photo_with(library, tmp_path, "a.jpg", "a cat", ["tabby", "cat"])
    for query in [
        "keywords:tabby",
        'keywords : "tabby',
        "tabby OR *",
        "NEAR(tabby",
        "^tabby",
        "{keywords}: x",
    ]:
        search(library, query)  # never raises
    assert [h.photo_id for h in search(library, "keywords:tabby")] == []  # plain words, not a column filter
    assert repair_library(library.path).photos == 1  # `library repair` rebuilds the index in place
    assert [h.photo_id for h in search(library, "tabby")] == [photo]


def test_meaning_embeds_the_caption_with_its_keywords(library: Library, tmp_path: Path) -> None:
    from photoscribe.core.library import meaning

    photo = _photo_with(library, tmp_path, "a.jpg", "a man riding a horse", ["bus", "vehicle"])
    with library.session() as session:
        pending = meaning.pending_captions(session, "mini", 10)
    assert [text for _, text in pending] == ["a man riding a horse. Keywords: bus, vehicle"]
    caption_id = pending[0][0]
    with library.transaction() as session:
        assert (
            meaning.store_embeddings(session, "mini", [(caption_id, "a man riding a horse", np.ones(4))])
            == []
        )
        assert meaning.store_embeddings(session, "mini", [(caption_id, pending[0][1], np.ones(4))]) == [
            caption_id
        ]
    with library.session() as session:
        assert meaning.pending_captions(session, "mini", 10) == []
    library.remove_keyword(photo, "bus")  # a keyword change re-embeds the caption
    with library.session() as session:
        assert meaning.pending_captions(session, "mini", 10) == [
            (caption_id, "a man riding a horse. Keywords: vehicle")
        ]


def test_caption_command_prints_keywords_and_confidence(capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import types

    from photoscribe.desktop.cli.caption import _JsonStream, _print_text

    [result] = next(
        FakeCaptioner("a man riding a horse", [("bus", 0.7), ("vehicle", 0.2)], 0.34).iter_batches(["h.jpg"])
    )[0]
    written: list[str] = []
    _print_text([result], 1, types.SimpleNamespace(write=written.append))
    assert written[0].splitlines() == [
        "h.jpg\ta man riding a horse",
        "\t  keywords: bus 0.70, vehicle 0.20",
        "\t  Confidence 0.34 — low: check that every object named is in the photo",
    ]
    stream = _JsonStream(types.SimpleNamespace(model_id=MODEL, device="cpu"))
    stream.write([result])
    stream.close([], 1.0)
    [item] = json.loads(capsys.readouterr().out)["results"]
    assert item["keywords"] == [{"word": "bus", "score": 0.7}, {"word": "vehicle", "score": 0.2}]
    assert item["confidence"] == 0.34
