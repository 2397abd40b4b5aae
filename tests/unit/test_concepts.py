"""The object-concept head: decoding guard, confidence, checkpoint form, and its training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from photoscribe.core.errors import ModelLoadError
from photoscribe.core.model.checkpoint import load_checkpoint, save_checkpoint
from photoscribe.core.model.concepts import Concepts, GuardSettings
from photoscribe.core.model.decoder import DecoderState
from photoscribe.core.model.decoding import beam_search, caption_logprobs
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.training.concepts import concept_labels, fit_concept_head, roc_auc
from photoscribe.training.datasets import ImageRecord

WORDS = ["a", "dog", "dogs", "cat", "on", "grass", "sofa"]


def _concepts(weight: float = 1.0, threshold: float = 0.5, feature_dim: int = 4) -> Concepts:
    return Concepts(
        ["dog", "cat", "couch"],
        [("dog", "dogs", "puppy"), ("cat", "cats"), ("couch", "sofa")],
        feature_dim,
        guard=GuardSettings(weight, threshold),
    )


def test_word_bias_pushes_down_only_unlikely_object_words() -> None:
    vocab = Vocabulary(WORDS)
    concepts = _concepts(weight=2.0, threshold=0.5)
    probs = torch.tensor([[0.05, 0.9, 0.5]])  # dog unlikely, cat likely, couch at the threshold
    bias = concepts.word_bias(probs, concepts.vocab_index(vocab))
    assert bias is not None and bias.shape == (1, len(vocab))
    expected_dog = 2.0 * math.log(0.05 / 0.5)
    assert bias[0, vocab.stoi["dog"]].item() == pytest.approx(expected_dog, rel=1e-5)
    assert bias[0, vocab.stoi["dogs"]].item() == pytest.approx(expected_dog, rel=1e-5)
    for word in ("cat", "sofa", "a", "on", "grass"):
        assert bias[0, vocab.stoi[word]].item() == 0.0, word
    assert bias[0, Vocabulary.end_id].item() == 0.0
    assert _concepts(weight=0.0).word_bias(probs, concepts.vocab_index(vocab)) is None


class _ScriptedDecoder:
    """A decoder whose next-word scores are fixed: "a" first, then "dog" slightly above "cat", then <end>."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab

    def init_state(self, features: torch.Tensor) -> DecoderState:
        n = features.shape[0]
        return DecoderState(torch.zeros(n, 1), torch.zeros(n, 1), torch.zeros(n, features.shape[1], 1))

    def step(self, words: torch.Tensor, state: DecoderState, features: torch.Tensor):
        v = self.vocab
        logits = torch.full((words.shape[0], len(v)), -10.0)
        for row, word in enumerate(words.tolist()):
            if word == Vocabulary.start_id:
                logits[row, v.stoi["a"]] = 5.0
            elif word == v.stoi["a"]:
                logits[row, v.stoi["dog"]] = 3.0
                logits[row, v.stoi["cat"]] = 2.5
            else:
                logits[row, Vocabulary.end_id] = 5.0
        alpha = torch.full((words.shape[0], features.shape[1]), 1.0 / features.shape[1])
        return logits, state, alpha


def test_decoding_guard_replaces_a_contradicted_object_word() -> None:
    vocab = Vocabulary(WORDS)
    decoder = _ScriptedDecoder(vocab)
    features = torch.zeros(2, 4, 4)
    plain = beam_search(decoder, features, beam_size=3)  # type: ignore[arg-type]
    assert [h[0].text(vocab) for h in plain] == ["a dog", "a dog"]
    concepts = _concepts(weight=1.0, threshold=0.5)
    # Photo 0: the evidence says cat, not dog; photo 1: a dog is likely, nothing changes.
    probs = torch.tensor([[0.02, 0.95, 0.1], [0.9, 0.1, 0.1]])
    bias = concepts.word_bias(probs, concepts.vocab_index(vocab))
    guarded = beam_search(decoder, features, beam_size=3, word_bias=bias)  # type: ignore[arg-type]
    assert [h[0].text(vocab) for h in guarded] == ["a cat", "a dog"]


def test_confidence_is_the_probability_that_every_named_object_is_there() -> None:
    concepts = _concepts()
    probs = torch.tensor([0.8, 0.5, 0.1])
    assert concepts.confidence(["a", "dog", "on", "grass"], probs) == pytest.approx(0.8)
    assert concepts.confidence(["a", "dog", "and", "a", "cat"], probs) == pytest.approx(0.4)
    assert concepts.confidence(["two", "dogs", "and", "a", "puppy"], probs) == pytest.approx(
        0.8
    )  # one group once
    assert concepts.confidence(["a", "sofa"], probs) == pytest.approx(0.1)
    assert concepts.confidence(["people", "walking"], probs) == 1.0  # names no known object


def test_concepts_round_trip_through_a_checkpoint(
    tmp_path: Path, tiny_model: CaptionModel, tiny_vocab
) -> None:
    concepts = _concepts(weight=1.5, threshold=0.3, feature_dim=tiny_model.encoder.channels)
    torch.nn.init.normal_(concepts.head.net[-1].weight)
    tiny_model.concepts = concepts
    path = save_checkpoint(tmp_path / "m.pt", tiny_model, tiny_vocab)
    loaded = load_checkpoint(path).concepts
    assert loaded is not None
    assert loaded.names == concepts.names and loaded.words == concepts.words
    assert (loaded.guard.weight, loaded.guard.threshold) == (1.5, 0.3)
    x = torch.randn(3, 5, tiny_model.encoder.channels)
    assert torch.allclose(loaded.probabilities(x), concepts.probabilities(x))


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["state"].update({"net.1.weight": torch.zeros(3, 999)}),  # wrong shape
        lambda d: d.update({"names": ["dog"]}),  # names and words disagree
        lambda d: d["guard"].update({"threshold": 0.0}),  # out of range
        lambda d: d.pop("state"),
    ],
)
def test_a_damaged_concept_entry_is_refused(
    tmp_path: Path, tiny_model: CaptionModel, tiny_vocab, damage
) -> None:
    tiny_model.concepts = _concepts(feature_dim=tiny_model.encoder.channels)
    path = save_checkpoint(tmp_path / "m.pt", tiny_model, tiny_vocab)
    raw = torch.load(path, weights_only=True)
    damage(raw["concepts"])
    torch.save(raw, path)
    with pytest.raises(ModelLoadError, match="concept"):
        load_checkpoint(path)


def test_roc_auc_matches_hand_computed_values() -> None:
    assert roc_auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0])) == 1.0
    assert roc_auc(np.array([0.1, 0.2, 0.9, 0.8]), np.array([1, 1, 0, 0])) == 0.0
    # one positive (0.5) against negatives 0.4, 0.5 (tie), 0.6: (1 + 0.5 + 0) / 3
    assert roc_auc(np.array([0.5, 0.4, 0.5, 0.6]), np.array([1, 0, 0, 0])) == pytest.approx(0.5)
    assert math.isnan(roc_auc(np.array([0.1, 0.2]), np.array([0, 0])))


def test_concept_labels_come_from_any_caption() -> None:
    records = [
        ImageRecord("1", Path("1.jpg"), ("a dog on the grass", "a puppy runs"), "train"),
        ImageRecord("2", Path("2.jpg"), ("a man eats a hot dog", "a cat on a couch"), "train"),
    ]
    labels = concept_labels(records, ["dog", "cat", "person", "couch", "hot dog"])
    assert labels.tolist() == [[1, 0, 0, 0, 0], [0, 1, 1, 1, 1]]


def test_fit_concept_head_learns_a_separable_concept() -> None:
    torch.manual_seed(0)
    x = torch.randn(400, 8)
    labels = torch.stack([(x[:, 0] > 0).float(), (x[:, 1] + x[:, 2] > 0).float()], dim=1)
    concepts = Concepts(["a", "b"], [("a",), ("b",)], 8)
    fit_concept_head(concepts, x[:300], labels[:300], epochs=60, lr=1e-2)
    with torch.no_grad():
        scores = torch.sigmoid(concepts.head(x[300:])).numpy()
    for k in range(2):
        assert roc_auc(scores[:, k], labels[300:, k].numpy()) > 0.95


def test_confidence_is_discounted_for_captions_the_decoder_itself_finds_odd() -> None:
    concepts = _concepts()
    concepts.fluency_center = -1.2
    probs = torch.tensor([0.8, 0.5, 0.1])
    words = ["a", "dog", "on", "grass"]
    assert concepts.confidence(words, probs, fluency=-0.9) == pytest.approx(0.8)  # more fluent: no bonus
    assert concepts.confidence(words, probs, fluency=-2.2) == pytest.approx(0.8 * math.exp(-1.0))
    assert concepts.confidence(["a", "brown", "and", "white"], probs, fluency=-3.2) == pytest.approx(
        math.exp(-2.0)
    )
    concepts.fluency_center = None
    assert concepts.confidence(words, probs, fluency=-9.0) == pytest.approx(0.8)


def test_caption_logprobs_is_the_mean_of_what_greedy_decoding_scored(tiny_model: CaptionModel) -> None:
    torch.manual_seed(3)
    features = torch.randn(3, 16, tiny_model.encoder.channels)
    hyps = beam_search(tiny_model.decoder, features, beam_size=1, max_len=8)
    tokens = [h[0].tokens for h in hyps]
    means = caption_logprobs(tiny_model.decoder, features, tokens)
    for mean, h in zip(means.tolist(), hyps, strict=True):
        assert mean == pytest.approx(h[0].logprob / (len(h[0].tokens) + 1), abs=1e-4)


def test_keyword_bias_draws_decoding_to_words_the_keywords_name() -> None:
    from photoscribe.core.captioning.results import Keyword

    vocab = Vocabulary(WORDS)
    concepts = _concepts()
    assert concepts.keyword_bias([[Keyword("cat", 0.9)]], vocab) is None  # off by default
    concepts.guard = GuardSettings(1.0, 0.5, keyword_boost=2.0)
    bias = concepts.keyword_bias(
        [[Keyword("cat", 0.9), Keyword("animal", 0.95)], [Keyword("sofa", 0.4)]], vocab
    )
    assert bias is not None and bias.shape == (2, len(vocab))
    assert bias[0, vocab.stoi["cat"]].item() == pytest.approx(2.0 * math.log(0.9 / 0.5))
    assert bias[0].abs().sum().item() == pytest.approx(bias[0, vocab.stoi["cat"]].item())  # "animal": no word
    assert bias[1].abs().sum().item() == 0.0  # below the threshold: no pull
