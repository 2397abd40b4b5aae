"""Search by meaning: embedding storage, the embedding queue, the in-memory index, fusion and fallback.

These tests use :class:`WordEmbedder`, a tiny deterministic bag-of-words
embedder with a synonym table, so they need neither the ``semantic`` extra
nor a model; ``tests/integration/test_meaning_model.py`` runs the real
all-MiniLM-L6-v2 on real captions.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from photoscribe.core.library import meaning
from photoscribe.core.library.database import Library
from photoscribe.core.library.embed_queue import EmbedQueue
from photoscribe.core.library.hybrid import MeaningSearch, default_mode, hybrid_search, meaning_text
from photoscribe.core.library.meaning import MeaningIndex, MeaningSearchUnavailableError
from photoscribe.core.library.search import search

MODEL = "sat-v1"
SYNONYMS = {
    "puppy": "dog",
    "dogs": "dog",
    "kid": "child",
    "kids": "child",
    "children": "child",
    "seaside": "beach",
}


class WordEmbedder:
    """Sum of one random unit vector per word (synonyms share a vector), normalised."""

    model_id = meaning.DEFAULT_MODEL
    dim = 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def _word(self, word: str) -> np.ndarray:
        word = SYNONYMS.get(word, word)
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
        return np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = []
        for sentence in texts:
            words = [
                w for w in sentence.lower().replace(",", " ").split() if w not in {"a", "the", "on", "in"}
            ]
            vec = sum((self._word(w) for w in words), np.zeros(self.dim, dtype=np.float32))
            rows.append(vec / (np.linalg.norm(vec) or 1.0))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)


def _photo(library: Library, path: Path, caption: str, **kw: object) -> int:
    photo = library.upsert_photo(path, 100, 1.0, **kw)  # type: ignore[arg-type]
    assert library.add_model_caption(photo.id, MODEL, caption, -2.0)
    return photo.id


@pytest.fixture
def corpus(library: Library, tmp_path: Path) -> dict[str, int]:
    home, trips = tmp_path / "home", tmp_path / "trips"
    library.add_folder_record(home)
    library.add_folder_record(trips)
    return {
        "dog": _photo(library, home / "dog.jpg", "a dog runs on the green grass"),
        "dog2": _photo(library, trips / "dog2.jpg", "a brown dog catches a ball"),
        "beach": _photo(library, trips / "beach.jpg", "two children playing on a sandy beach"),
        "bike": _photo(library, trips / "bike.jpg", "a man riding a bicycle down a city street"),
    }


def _embedded(library: Library) -> dict[int, bytes]:
    with sqlite3.connect(library.path) as conn:
        return dict(conn.execute("SELECT caption_id, vector FROM caption_embeddings").fetchall())


def test_the_queue_embeds_every_caption_once_and_again_when_its_text_changes(
    library: Library, corpus: dict[str, int]
) -> None:
    embedder = WordEmbedder()
    queue = EmbedQueue(library, embedder, batch_size=3)
    report = queue.run_once()
    assert (report.embedded, report.skipped) == (4, 0)
    stored = _embedded(library)
    assert len(stored) == 4 and all(len(blob) == 2 * WordEmbedder.dim for blob in stored.values())
    assert queue.pending() == 0 and queue.run_once().embedded == 0  # nothing twice

    # A user caption is embedded too; editing it drops its embedding (trigger) and re-embeds it.
    user = library.set_user_caption(corpus["bike"], "my kid on his new bike")
    assert user is not None and queue.pending() == 1
    assert queue.run_once().embedded == 1
    first = _embedded(library)[user.id]
    library.set_user_caption(corpus["bike"], "grandpa at the seaside")
    assert user.id not in _embedded(library) and queue.pending() == 1
    queue.run_once()
    second = _embedded(library)[user.id]
    assert second != first
    expected = embedder.encode(["grandpa at the seaside"])[0].astype("<f2").tobytes()
    assert second == expected

    # Deleting a photo deletes its captions' embeddings (foreign key cascade).
    library.delete_photos([corpus["beach"]])
    assert len(_embedded(library)) == 4


def test_an_embedding_of_text_that_changed_meanwhile_is_not_stored(
    library: Library, corpus: dict[str, int]
) -> None:
    caption = library.best_caption(corpus["dog"])
    assert caption is not None
    vector = WordEmbedder().encode(["stale"])[0]
    library.set_user_caption(corpus["dog"], "edited")  # a new caption; the model caption is unchanged
    with library.transaction() as session:
        assert meaning.store_embeddings(session, "m", [(caption.id, "not the caption's text", vector)]) == []
        assert meaning.store_embeddings(session, "m", [(caption.id, caption.text, vector)]) == [caption.id]
    with pytest.raises(Exception, match="non-zero"):
        meaning.encode_vector(np.zeros(8))


def test_the_index_loads_once_then_reads_only_new_rows_and_replaces_re_embedded_captions(
    library: Library, corpus: dict[str, int]
) -> None:
    embedder = WordEmbedder()
    EmbedQueue(library, embedder).run_once()
    index = MeaningIndex(embedder.model_id, embedder.dim)
    assert index.refresh(library) == 4 and len(index) == 4
    assert index.refresh(library) == 0  # nothing new: nothing read
    top = index.nearest(embedder.encode(["puppy"])[0], 2)
    assert {photo for _, photo, _ in top} == {corpus["dog"], corpus["dog2"]}
    assert top[0][2] >= top[1][2]

    caption = library.best_caption(corpus["bike"])
    assert caption is not None
    with library.transaction() as session:  # the model caption edited in place: same caption id
        session.execute(
            text("UPDATE captions SET text = 'a puppy asleep' WHERE id = :id"), {"id": caption.id}
        )
    EmbedQueue(library, embedder).run_once()
    assert index.refresh(library) == 1 and len(index) == 4  # replaced, not added
    photos = [photo for _, photo, _ in index.nearest(embedder.encode(["dog"])[0], 3)]
    assert corpus["bike"] in photos
    assert index.reload(library) == 4


def test_hybrid_puts_word_matches_first_then_meaning_matches_flagged(
    library: Library, corpus: dict[str, int], tmp_path: Path
) -> None:
    embedder = WordEmbedder()
    EmbedQueue(library, embedder).run_once()
    meaning_search = MeaningSearch(library, embedder)

    hits = hybrid_search(library, "puppy", meaning_search, min_similarity=0.3)
    assert {h.photo_id for h in hits[:2]} == {corpus["dog"], corpus["dog2"]}
    assert all(h.by_meaning for h in hits) and "dog" in hits[0].snippet
    assert hybrid_search(library, "puppy", meaning_search, mode="fts") == []

    library.set_user_caption(corpus["bike"], "a puppy in a basket")
    EmbedQueue(library, embedder).run_once()
    hits = hybrid_search(library, "puppy", meaning_search, min_similarity=0.3)
    assert hits[0].photo_id == corpus["bike"] and not hits[0].by_meaning  # the exact word first
    assert {h.photo_id for h in hits[1:3]} == {corpus["dog"], corpus["dog2"]}
    assert all(h.by_meaning for h in hits[1:])

    # Filters and -excluded words apply to meaning matches too.
    only_home = hybrid_search(
        library, "puppy", meaning_search, folder=str(tmp_path / "home"), min_similarity=0.3
    )
    assert [h.photo_id for h in only_home] == [corpus["dog"]]
    without = hybrid_search(library, "puppy -ball", meaning_search, min_similarity=0.3)
    assert corpus["dog2"] not in {h.photo_id for h in without}
    assert meaning_text('puppy -ball -"red car" "on grass"') == "puppy on grass"

    # Paging walks the same fused list.
    everything = hybrid_search(library, "puppy", meaning_search, min_similarity=-1.0, limit=10)
    paged = hybrid_search(library, "puppy", meaning_search, min_similarity=-1.0, limit=2, offset=1)
    assert [h.photo_id for h in paged] == [h.photo_id for h in everything[1:3]]
    assert len({h.photo_id for h in everything}) == len(everything) == 4


def test_word_matches_all_come_before_meaning_only_matches_reranked_or_not(
    library: Library, tmp_path: Path
) -> None:
    ids = [
        _photo(library, tmp_path / f"{i}.jpg", text)
        for i, text in enumerate(
            ["a dog and a cat and a bird and a horse", "dog", "a puppy on the sofa", "a cat on the sofa"]
        )
    ]
    embedder = WordEmbedder()
    EmbedQueue(library, embedder).run_once()
    meaning_search = MeaningSearch(library, embedder)
    assert [h.photo_id for h in hybrid_search(library, "dog", meaning_search, min_similarity=0.5)] == [
        ids[1],
        ids[0],
        ids[2],
    ]  # bm25 already puts the short caption first
    hits = hybrid_search(library, "dog", meaning_search, min_similarity=0.5, rerank=True)
    assert [h.photo_id for h in hits] == [ids[1], ids[0], ids[2]]
    assert [h.by_meaning for h in hits] == [False, False, True]
    assert hits[0].similarity is not None and hits[0].similarity > 0.99


def test_without_the_extra_search_falls_back_to_words_and_says_how_to_enable_meaning(
    library: Library, corpus: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails as if not installed
    assert not meaning.meaning_search_available()
    mode, hint = default_mode(library)
    assert mode == "fts" and hint is not None and "pip install 'photoscribe[semantic]'" in hint
    with pytest.raises(MeaningSearchUnavailableError, match=r"photoscribe\[semantic\]"):
        meaning.SentenceEmbedder()
    meaning_search = MeaningSearch(library)
    with pytest.raises(MeaningSearchUnavailableError):
        hybrid_search(library, "dog", meaning_search)
    assert {h.photo_id for h in hybrid_search(library, "dog", None)} == {corpus["dog"], corpus["dog2"]}


def test_with_the_extra_but_nothing_embedded_the_default_is_words_with_a_hint(
    library: Library, corpus: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(meaning, "meaning_search_available", lambda: True)
    assert default_mode(library) == (
        "fts",
        "no caption has been embedded yet: run `photoscribe library embed` for meaning search",
    )
    EmbedQueue(library, WordEmbedder()).run_once()
    assert default_mode(library) == ("hybrid", None)


def test_the_cli_search_says_how_to_enable_meaning_search_without_the_extra(
    library: Library,
    corpus: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from photoscribe.desktop.cli import main

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    library.close()
    assert main(["library", "search", "dog", "--db", str(library.path)]) == 0
    out = capsys.readouterr()
    assert "dog.jpg" in out.out and "photoscribe[semantic]" in out.err
    assert main(["library", "search", "dog", "--mode", "meaning", "--db", str(library.path)]) == 1
    assert "photoscribe[semantic]" in capsys.readouterr().err


def test_an_index_kept_up_to_date_row_by_row_matches_one_rebuilt_from_sqlite(
    library: Library, corpus: dict[str, int], tmp_path: Path
) -> None:
    embedder = WordEmbedder()
    queue = EmbedQueue(library, embedder)
    queue.run_once()
    live = MeaningIndex(embedder.model_id, embedder.dim)
    live.refresh(library)
    # Edits, a new photo, a deleted photo, all followed by the queue and incremental refreshes.
    library.set_user_caption(corpus["bike"], "a kid on a bike")
    queue.run_once()
    live.refresh(library)
    library.set_user_caption(corpus["bike"], "grandpa at the seaside")
    _photo(library, tmp_path / "new.jpg", "a puppy on the sofa")
    library.delete_photos([corpus["beach"]])
    queue.run_once()
    live.refresh(library)

    rebuilt = MeaningIndex(embedder.model_id, embedder.dim)
    assert rebuilt.reload(library) == len(_embedded(library))
    with sqlite3.connect(library.path) as conn:
        present = {row[0] for row in conn.execute("SELECT caption_id FROM caption_embeddings")}
    for query in ("puppy", "seaside", "bike", "grass"):
        vector = embedder.encode([query])[0]
        got = [(c, p, round(s, 5)) for c, p, s in live.nearest(vector, 100) if c in present]
        assert got == [(c, p, round(s, 5)) for c, p, s in rebuilt.nearest(vector, 100)]


def test_a_big_index_answers_through_hnsw_with_exact_scores() -> None:
    pytest.importorskip("usearch", reason="usearch comes with the semantic extra")
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((400, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, 401)
    exact = MeaningIndex("m", 32, ann_min_rows=10_000)
    exact.add(ids, ids * 10, vectors)
    ann = MeaningIndex("m", 32, ann_min_rows=100)
    ann.add(ids[:50], ids[:50] * 10, vectors[:50])
    assert not ann.approximate
    ann.add(ids[50:], ids[50:] * 10, vectors[50:])  # crosses the threshold: the graph is built
    assert ann.wait_for_graph(60)  # on a thread of its own
    assert ann.approximate and not exact.approximate
    overlap = []
    for q in vectors[:40] + 0.1 * rng.standard_normal((40, 32)).astype(np.float32):
        q /= np.linalg.norm(q)
        want = exact.nearest(q, 10)
        got = ann.nearest(q, 10)
        overlap.append(len({c for c, _, _ in got} & {c for c, _, _ in want}) / 10)
        scores = {c: s for c, _, s in want}
        assert all(abs(s - scores[c]) < 1e-5 for c, _, s in got if c in scores)  # rescored exactly
        assert [s for _, _, s in got] == sorted((s for _, _, s in got), reverse=True)
    assert np.mean(overlap) >= 0.9
    # A re-embedded caption (a new key) moves in the graph too; its old vector is gone.
    moved = -vectors[7]
    ann.add(np.array([8]), np.array([80]), moved[None, :], keys=np.array([1008]))
    assert ann.nearest(moved, 1)[0][:2] == (8, 80)
    assert 8 not in {c for c, _, _ in ann.nearest(vectors[7], 5)}


def test_searches_carry_on_exactly_while_the_graph_is_built_and_see_rows_added_meanwhile() -> None:
    pytest.importorskip("usearch", reason="usearch comes with the semantic extra")
    import threading

    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((260, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, 261)
    index = MeaningIndex("m", 16, ann_min_rows=100)
    release = threading.Event()
    original = index._new_graph

    def slow_graph() -> object:  # the build waits until the test lets it go
        release.wait(30)
        return original()

    index._new_graph = slow_graph  # type: ignore[method-assign]
    index.add(ids[:200], ids[:200], vectors[:200])  # crosses the threshold: a build starts
    assert not index.wait_for_graph(0.05) and not index.approximate
    assert index.nearest(vectors[3], 1)[0][0] == 4  # answered exactly, not blocked by the build
    index.add(ids[200:], ids[200:], vectors[200:])  # rows added while the graph is built
    index.add(np.array([5]), np.array([5]), -vectors[4][None, :], keys=np.array([1005]))  # re-embedded
    release.set()
    assert index.wait_for_graph(60) and index.approximate
    assert index.nearest(vectors[250], 1)[0][0] == 251  # a row added during the build is in the graph
    assert index.nearest(-vectors[4], 1)[0][0] == 5  # the re-embedded vector replaced the old one
    assert 5 not in {c for c, _, _ in index.nearest(vectors[4], 3)}


def test_the_hnsw_graph_is_saved_then_loaded_and_repaired_from_the_rows_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("usearch", reason="usearch comes with the semantic extra")
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, 301)
    graph = tmp_path / "library.sqlite3.m.hnsw"
    first = MeaningIndex("m", 16, ann_min_rows=100, graph_path=graph)
    first.add(ids, ids, vectors)
    assert first.wait_for_graph(60) and first.approximate and graph.exists()

    # Next start: 5 captions re-embedded (new keys) and 20 new ones since the graph was saved.
    changed = vectors.copy()
    changed[:5] = -vectors[:5]
    keys = ids.copy()
    keys[:5] += 1000
    more = rng.standard_normal((20, 16)).astype(np.float32)
    more /= np.linalg.norm(more, axis=1, keepdims=True)
    second = MeaningIndex("m", 16, ann_min_rows=100, graph_path=graph)
    with caplog.at_level("INFO", logger="photoscribe.core.library.meaning"):
        second.add(
            np.concatenate([ids, np.arange(301, 321)]),
            np.concatenate([ids, np.arange(301, 321)]),
            np.concatenate([changed, more]),
            keys=np.concatenate([keys, np.arange(301, 321)]),
        )
        assert second.wait_for_graph(60)
    assert "loaded the HNSW graph" in caplog.text and "(25 added, 5 removed)" in caplog.text
    exact = MeaningIndex("m", 16, ann_min_rows=10_000)
    exact.add(
        np.concatenate([ids, np.arange(301, 321)]),
        np.concatenate([ids, np.arange(301, 321)]),
        np.concatenate([changed, more]),
    )
    for q in np.concatenate([changed[:5], more[:5]]):
        assert second.nearest(q, 1)[0][0] == exact.nearest(q, 1)[0][0]

    # A damaged file is only a cache: the graph is built again.
    graph.write_bytes(b"not a graph")
    third = MeaningIndex("m", 16, ann_min_rows=100, graph_path=graph)
    third.add(ids, ids, vectors)
    assert third.wait_for_graph(60)
    assert third.approximate and third.nearest(vectors[42], 1)[0][0] == 43


def test_pages_walk_every_word_match_in_bm25_order_then_the_meaning_matches(
    library: Library, tmp_path: Path
) -> None:
    dogs = [_photo(library, tmp_path / f"d{i}.jpg", "a dog " + "and a ball " * i) for i in range(5)]
    puppies = [_photo(library, tmp_path / f"p{i}.jpg", f"a puppy number {i}") for i in range(3)]
    _photo(library, tmp_path / "cat.jpg", "a cat on a sofa")
    embedder = WordEmbedder()
    EmbedQueue(library, embedder).run_once()
    meaning_search = MeaningSearch(library, embedder)
    whole = hybrid_search(library, "dog", meaning_search, limit=50, min_similarity=0.3)
    words = search(library, "dog", limit=50)
    assert [h.photo_id for h in whole[:5]] == [h.photo_id for h in words]
    assert {h.photo_id for h in words} == set(dogs)
    assert not any(h.by_meaning for h in whole[:5])
    assert {h.photo_id for h in whole[5:]} == set(puppies) and all(h.by_meaning for h in whole[5:])
    for size in (1, 2, 3, 4):
        pages = []
        while len(
            page := hybrid_search(
                library, "dog", meaning_search, limit=size, offset=len(pages), min_similarity=0.3
            )
        ):
            pages.extend(page)
            assert len(pages) <= len(whole)
        assert [h.photo_id for h in pages] == [h.photo_id for h in whole], size


def test_the_cli_embeds_with_progress_then_searches_by_meaning(
    library: Library,
    corpus: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from photoscribe.desktop.cli import main

    monkeypatch.setattr(meaning, "SentenceEmbedder", lambda **_kw: WordEmbedder())
    monkeypatch.setattr(meaning, "meaning_search_available", lambda: True)
    library.close()
    db = str(library.path)
    assert main(["library", "embed", "--db", db]) == 0
    assert "4 captions embedded" in capsys.readouterr().out
    assert main(["library", "search", "puppy", "--db", db, "--json"]) == 0  # hybrid by default now
    rows = json.loads(capsys.readouterr().out)
    assert {Path(r["path"]).name for r in rows[:2]} == {"dog.jpg", "dog2.jpg"}
    assert all(r["by_meaning"] and r["similarity"] > 0.3 for r in rows[:2])
    assert main(["library", "search", "puppy", "--db", db, "--mode", "fts"]) == 0
    assert "no matches" in capsys.readouterr().err


def test_search_by_meaning_finds_a_photo_by_the_caption_it_shows_only(
    library: Library, tmp_path: Path
) -> None:
    """After switching models, a discarded model's caption no longer finds the photo by meaning either."""
    path = tmp_path / "babies.jpg"
    path.write_bytes(b"jpeg")
    photo = library.upsert_photo(path, 4, 1.0).id
    library.set_active_model("default")
    library.add_model_caption(photo, "default", "two children sitting in a car", -3.0)
    library.add_model_caption(photo, "tuned", "a dog on the grass", -9.0)
    embedder = WordEmbedder()
    EmbedQueue(library, embedder).run_once()
    meaning_search = MeaningSearch(library, embedder)
    assert hybrid_search(library, "puppy", meaning_search, min_similarity=0.3) == []
    library.set_active_model("tuned")
    hits = hybrid_search(library, "puppy", meaning_search, min_similarity=0.3)
    assert [h.photo_id for h in hits] == [photo]
