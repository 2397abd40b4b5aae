"""Batched beam search, checked against a plain greedy loop and against itself image by image."""

from __future__ import annotations

import torch

from photoscribe.core.model.decoding import _mask, beam_search
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary


def _features(model: CaptionModel, n: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return model.encode(torch.randn(n, 3, 64, 64, generator=gen))


def greedy(model: CaptionModel, features: torch.Tensor, max_len: int) -> tuple[tuple[int, ...], float]:
    """The reference: one image, the most likely allowed word at each step, until ``<end>``."""
    decoder = model.decoder
    state = decoder.init_state(features)
    word, tokens, logprob = torch.tensor([Vocabulary.start_id]), [], 0.0
    with torch.no_grad():
        for t in range(max_len + 1):
            logits, state, _ = decoder.step(word, state, features)
            lp = torch.log_softmax(logits, dim=-1)
            _mask(lp, torch.tensor([tokens], dtype=torch.long), t, max_len, block_repeat=True)
            word = lp.argmax(dim=-1)
            logprob += float(lp[0, word])
            if int(word) == Vocabulary.end_id:
                break
            tokens.append(int(word))
    return tuple(tokens), logprob


def test_beam_of_one_equals_greedy(tiny_model: CaptionModel) -> None:
    feats = _features(tiny_model, 6)
    beam = beam_search(tiny_model.decoder, feats, beam_size=1, max_len=12)
    for i, b in enumerate(beam):
        tokens, logprob = greedy(tiny_model, feats[i : i + 1], max_len=12)
        assert b[0].tokens == tokens
        assert abs(b[0].logprob - logprob) < 1e-4


def test_batched_beam_equals_image_by_image(tiny_model: CaptionModel) -> None:
    feats = _features(tiny_model, 5)
    batched = beam_search(tiny_model.decoder, feats, beam_size=4, n_best=4, max_len=12)
    for i in range(5):
        single = beam_search(tiny_model.decoder, feats[i : i + 1], beam_size=4, n_best=4, max_len=12)[0]
        assert [h.tokens for h in batched[i]] == [h.tokens for h in single]
        for a, b in zip(batched[i], single, strict=True):
            assert abs(a.logprob - b.logprob) < 1e-4


def test_nbest_sorted_distinct_and_beam_not_worse_than_greedy(tiny_model: CaptionModel) -> None:
    feats = _features(tiny_model, 4)
    greedy = beam_search(tiny_model.decoder, feats, beam_size=1, max_len=12)
    results = beam_search(tiny_model.decoder, feats, beam_size=5, n_best=3, max_len=12)
    for (g,), hyps in zip(greedy, results, strict=True):
        assert len(hyps) == 3
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({h.tokens for h in hyps}) == 3
        assert hyps[0].logprob >= g.logprob - 1e-3


def test_outputs_respect_length_and_never_contain_specials(tiny_model: CaptionModel) -> None:
    feats = _features(tiny_model, 4)
    for hyps in beam_search(tiny_model.decoder, feats, beam_size=3, n_best=3, max_len=6):
        for h in hyps:
            assert len(h.tokens) <= 6
            assert not set(h.tokens) & {0, 1, 2, 3}
            assert h.attention.shape == (len(h.tokens), 16)
            torch.testing.assert_close(h.attention.sum(1), torch.ones(len(h.tokens)))


def test_repetition_guard_blocks_repeats() -> None:
    lp = torch.zeros(1, 10)
    history = torch.tensor([[4, 5, 6, 4, 5]])  # "4 5" seen before followed by 6
    _mask(lp, history, step=5, max_len=20, block_repeat=True)
    assert lp[0, 5] == float("-inf")  # immediate repeat of 5
    assert lp[0, 6] == float("-inf")  # would repeat the trigram "4 5 6"
    assert lp[0, Vocabulary.unk_id] == float("-inf") and lp[0, 7] == 0
