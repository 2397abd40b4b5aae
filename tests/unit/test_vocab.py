from __future__ import annotations

import pytest

from photoscribe.core.vocab import Vocabulary, tokenize


def test_tokenize_lowercases_and_strips_punctuation() -> None:
    assert tokenize("A Dog's ball, on the GRASS!") == ["a", "dog's", "ball", "on", "the", "grass"]
    assert tokenize("'quoted' -- words...") == ["quoted", "words"]
    assert tokenize("Собака бежит") == ["собака", "бежит"]


def test_build_respects_min_freq_and_reports_coverage() -> None:
    caps = ["a dog runs", "a dog sits", "a cat sleeps", "a dog"]
    vocab = Vocabulary.build(caps, min_freq=2)
    assert vocab.itos[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    assert vocab.itos[4:] == ["a", "dog"]  # by descending frequency
    assert vocab.stats is not None
    assert vocab.stats.coverage == pytest.approx(7 / 11)
    assert vocab.stats.dropped_words == 4


def test_encode_decode_round_trip_and_unknowns() -> None:
    vocab = Vocabulary(["a", "red", "circle", "left", "of", "blue", "square"], max_len=5)
    ids = vocab.encode("A red circle, left of a blue square")
    assert ids[0] == vocab.start_id and ids[-1] == vocab.end_id
    assert len(ids) == 5 + 2  # truncated to max_len words
    assert vocab.decode(ids) == "a red circle left of"
    assert vocab.decode(vocab.encode("a green circle")) == "a <unk> circle"
    assert vocab.decode([vocab.start_id, 4, vocab.end_id, 5]) == "a"


def test_dict_round_trip_and_validation() -> None:
    vocab = Vocabulary(["x", "y"], max_len=7)
    assert Vocabulary.from_dict(vocab.to_dict()) == vocab
    with pytest.raises(ValueError):
        Vocabulary.from_dict({"itos": ["x", "y"], "max_len": 7})
    with pytest.raises(ValueError):
        Vocabulary(["x", "x"])
