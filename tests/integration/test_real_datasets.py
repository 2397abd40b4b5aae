"""Real data set excerpts load through the same auto-detection as the full data sets.

``shared/data/flickr8k-subset``: Kaggle Flickr8k ``captions.txt`` (CRLF, CSV quoting) + ``Images/``.
``shared/data/coco-mini``: ``annotations/captions_{train,val}2017.json`` + ``train2017/``, ``val2017/``
(and a ``manifest.csv`` that is not a caption file).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from photoscribe.training.datasets import build_vocabulary, load_corpus

pytestmark = pytest.mark.slow  # reads the real data sets in ../shared/data

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _require(name: str) -> Path:
    path = DATA / name
    if not path.is_dir():
        pytest.skip(f"real data set excerpt {path} is not on this machine")
    return path


def test_flickr8k_subset() -> None:
    root = _require("flickr8k-subset")

    corpus = load_corpus(root)
    assert corpus.format == "flickr8k"

    assert corpus.name == "flickr8k"
    assert len(corpus.records) == 800
    assert corpus.n_captions == 4000
    assert all(len(r.captions) == 5 for r in corpus.records)
    assert corpus.missing_images == [] and corpus.bad_rows == [] and corpus.dropped_captions == 0
    assert all(r.path.parent == root / "Images" and r.path.is_file() for r in corpus.records)
    assert Counter(r.split for r in corpus.records) == {"train": 640, "val": 80, "test": 80}
    # CSV quoting is undone and CRLF line ends are not left on captions.
    captions = {c for r in corpus.records for c in r.captions}
    assert "A dog shakes its head near the shore , a red ball next to it ." in captions
    assert 'Young boy with a black " ADHD " t-shirt nodding off' in captions
    assert not any(c.endswith("\r") or c.startswith('"') for c in captions)

    vocab = build_vocabulary(corpus, min_freq=5)
    assert vocab.stats is not None
    assert 300 < vocab.stats.size < 2000
    assert 0.85 < vocab.stats.coverage < 1.0
    assert {"dog", "man", "water"} <= set(vocab.itos)


def test_coco_mini() -> None:
    root = _require("coco-mini")

    corpus = load_corpus(root)
    assert corpus.format == "coco"

    assert corpus.name == "coco"
    assert len(corpus.records) == 159
    assert corpus.n_captions == 795
    assert corpus.missing_images == [] and corpus.bad_rows == [] and corpus.dropped_captions == 0
    folders = Counter(r.path.parent.name for r in corpus.records)
    assert folders == {"train2017": 80, "val2017": 79}
    by_id = {r.image_id: r for r in corpus.records}
    assert by_id["493652"].path == root / "train2017" / "000000493652.jpg"
    assert "Living room decorated for Christmas with gifts galore" in by_id["493652"].captions
    assert Counter(r.split for r in corpus.records) == {"train": 127, "val": 16, "test": 16}
    assert "159 images with 795 captions" in corpus.summary()
