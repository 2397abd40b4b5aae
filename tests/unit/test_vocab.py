from __future__ import annotations

import pytest

from photoscribe.core.model.vocab import Vocabulary, tokenize


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


def test_hyphenated_words_stay_whole_as_in_the_ptb_tokenizer() -> None:
    assert tokenize("A man in a red T-shirt - jumps -- over a 3-year-old's toy-") == [
        "a",
        "man",
        "in",
        "a",
        "red",
        "t-shirt",
        "jumps",
        "over",
        "a",
        "3-year-old's",
        "toy",
    ]


def test_a_caption_round_trips_through_the_vocabulary_and_scores_as_its_own_reference() -> None:
    """Training encodes, decoding decodes, scoring tokenizes: a caption equal to its reference
    must come back unchanged and score BLEU-4 1.0 (hyphen splitting made it 0.747)."""
    from photoscribe.training.metrics import score_captions

    reference = "A little girl in a pink t-shirt climbs a rope-net ."
    vocab = Vocabulary.build([reference] * 5, min_freq=1)
    decoded = vocab.decode(vocab.encode(reference))
    assert decoded == "a little girl in a pink t-shirt climbs a rope-net"
    report = score_captions({"1": [reference, "A girl climbs ."]}, {"1": decoded})
    assert report.scores["BLEU-4"] == pytest.approx(1.0, abs=1e-6)
