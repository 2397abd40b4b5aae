"""Turning encoder features into captions: batched beam search (a beam of one is greedy decoding).

Output masking: ``<pad>`` and ``<start>`` are never produced, ``<unk>`` is blocked (there is
always another word to choose), a word or trigram cannot be repeated (see :func:`_mask`), and
after ``max_len`` words only ``<end>`` is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from photoscribe.core.model.decoder import Decoder, DecoderState
from photoscribe.core.model.vocab import Vocabulary

NEG_INF = float("-inf")


@dataclass(frozen=True)
class Hypothesis:
    """One decoded caption.

    Attributes:
        tokens: word ids, without ``<start>``/``<end>``.
        logprob: sum of the model's log-probabilities of the words and the final ``<end>``.
        score: ``logprob`` after the length penalty, used for ranking.
        attention: (len(tokens), N) attention weights that produced each word.
    """

    tokens: tuple[int, ...]
    logprob: float
    score: float
    attention: torch.Tensor

    def text(self, vocab: Vocabulary) -> str:
        return vocab.decode(self.tokens)


def _mask(logprobs: torch.Tensor, history: torch.Tensor, step: int, max_len: int, block_repeat: bool) -> None:
    """In-place output masking of one decoding step.

    Forbids the special tokens and an empty caption, then (repetition guard) the previous word again and any word
    that would repeat a trigram already in the caption ("a dog and a dog and ..."), and after
    ``max_len`` words anything but ``<end>``.

    Args:
        logprobs: (R, V) log-probabilities for the next word of R hypotheses.
        history: (R, t) words produced so far, without ``<start>``.
    """
    logprobs[:, Vocabulary.pad_id] = NEG_INF
    logprobs[:, Vocabulary.start_id] = NEG_INF
    logprobs[:, Vocabulary.unk_id] = NEG_INF
    t = history.shape[1]
    if t == 0 and max_len > 0:
        logprobs[:, Vocabulary.end_id] = NEG_INF  # never an empty caption
    if block_repeat and t >= 1:
        logprobs.scatter_(1, history[:, -1:], NEG_INF)
    if block_repeat and t >= 3:
        # Earlier bigrams equal to the last bigram ban the word that followed them.
        same = (history[:, : t - 2] == history[:, -2:-1]) & (
            history[:, 1 : t - 1] == history[:, -1:]
        )  # (R, t-2)
        banned = torch.zeros_like(logprobs).scatter_add_(1, history[:, 2:], same.to(logprobs.dtype))
        logprobs.masked_fill_(banned > 0, NEG_INF)
    if step >= max_len:
        end = logprobs[:, Vocabulary.end_id].clone()
        logprobs.fill_(NEG_INF)
        logprobs[:, Vocabulary.end_id] = end.clamp(min=-1e4)  # always allowed, even if it was blocked


def _score(logprob: float, n_words: int, length_penalty: float) -> float:
    return logprob / ((n_words + 1) ** length_penalty) if length_penalty else logprob


def _collect_ended(
    cand: torch.Tensor,
    seqs: torch.Tensor,
    attn: torch.Tensor,
    image_of_row: torch.Tensor,
    n_finished: torch.Tensor,
    finished: list[list[Hypothesis]],
    length_penalty: float,
) -> None:
    """Keep the hypotheses that end at this step, if they rank among the k best candidates overall.

    ``cand`` is (L, k, V): the scores of every continuation of every live beam. The ended ones are
    copied to the host together (one transfer per step, not one per hypothesis).
    """
    live, k = cand.shape[0], cand.shape[1]
    kth = cand.view(live, -1).topk(k, dim=1).values[:, -1:]  # (L, 1)
    end_scores = cand[:, :, Vocabulary.end_id]  # (L, k)
    ends = (torch.isfinite(end_scores) & (end_scores >= kth)).nonzero()  # (E, 2): row, beam
    if not ends.numel():
        return
    src = ends[:, 0] * k + ends[:, 1]
    end_images = image_of_row[ends[:, 0]]
    n_finished.index_add_(0, end_images, torch.ones_like(end_images))
    n_words = seqs.shape[1]
    for image, tokens, logprob, weights in zip(
        end_images.tolist(),
        seqs[src].tolist(),
        end_scores[ends[:, 0], ends[:, 1]].tolist(),
        attn[src].cpu(),
        strict=True,
    ):
        finished[image].append(
            Hypothesis(tuple(tokens), logprob, _score(logprob, n_words, length_penalty), weights)
        )


@torch.no_grad()
def beam_search(
    decoder: Decoder,
    features: torch.Tensor,
    beam_size: int = 3,
    n_best: int = 1,
    max_len: int = 20,
    length_penalty: float = 0.0,
    block_repeat: bool = True,
    word_bias: torch.Tensor | None = None,
) -> list[list[Hypothesis]]:
    """Beam search over a whole batch at once: B images x k beams decode as one (B*k) batch.

    Images whose k best hypotheses have all ended drop out of the batch, so the
    work shrinks as decoding proceeds.

    Args:
        features: (B, N, C) encoder grid.
        n_best: how many hypotheses to return per image (at most ``beam_size``).
        length_penalty: alpha in ``score = logprob / (length + 1) ** alpha``; 0 ranks by raw log-probability.
        word_bias: (B, V) added to every step's log-probabilities of each image's words (the
            concept guard: object words the image evidence contradicts are pushed down); a
            hypothesis' ``logprob`` then includes it.

    Returns:
        For each image, its ``n_best`` hypotheses sorted by score, best first.
    """
    k = beam_size
    n_best = max(1, min(n_best, k))
    batch, n_cells = features.shape[0], features.shape[1]
    device = features.device
    feats = features.repeat_interleave(k, dim=0)  # (B*k, N, C)
    state: DecoderState = decoder.init_state(feats)
    words = torch.full((batch * k,), Vocabulary.start_id, dtype=torch.long, device=device)
    scores = torch.full((batch, k), NEG_INF, device=device)
    scores[:, 0] = 0.0  # at the start all beams are the same: keep one alive
    seqs = torch.zeros(batch * k, 0, dtype=torch.long, device=device)
    attn = features.new_zeros(batch * k, 0, n_cells)
    image_of_row = torch.arange(batch, device=device)  # original image index of each live image
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    n_finished = torch.zeros(batch, dtype=torch.long, device=device)
    bias = word_bias.float().to(device).repeat_interleave(k, dim=0) if word_bias is not None else None

    for t in range(max_len + 1):
        live = image_of_row.numel()
        logits, state, alpha = decoder.step(words, state, feats)
        lp = F.log_softmax(logits.float(), dim=-1)
        if bias is not None:
            lp = lp + bias
        _mask(lp, seqs, t, max_len, block_repeat)
        vocab_size = lp.shape[1]
        cand = (scores.view(-1, 1) + lp).view(live, k, vocab_size)  # (L, k, V)

        _collect_ended(cand, seqs, attn, image_of_row, n_finished, finished, length_penalty)

        # The k best continuations that do not end.
        cont = cand.clone()
        cont[:, :, Vocabulary.end_id] = NEG_INF
        top_scores, top_idx = cont.view(live, -1).topk(k, dim=1)  # (L, k)
        src_rows = (torch.arange(live, device=device).unsqueeze(1) * k + top_idx // vocab_size).view(-1)
        words = (top_idx % vocab_size).view(-1)
        scores = top_scores
        seqs = torch.cat([seqs[src_rows], words.unsqueeze(1)], dim=1)
        attn = torch.cat([attn[src_rows], alpha[src_rows].unsqueeze(1)], dim=1)
        # Beams only ever continue beams of the same image, whose features (and their attention
        # projection) are identical: reorder the small recurrent state, not the big grids.
        state = DecoderState(state.h[src_rows], state.c[src_rows], state.projected)

        # Drop images that have k finished hypotheses (or no live beam left).
        keep = (n_finished[image_of_row] < k) & torch.isfinite(scores).any(dim=1)
        if not bool(keep.any()):
            break
        if not bool(keep.all()):
            rows = (keep.nonzero().squeeze(1).unsqueeze(1) * k + torch.arange(k, device=device)).view(-1)
            image_of_row, scores = image_of_row[keep], scores[keep]
            words, seqs, attn, feats = words[rows], seqs[rows], attn[rows], feats[rows]
            if bias is not None:
                bias = bias[rows]
            state = state.select(rows)

    return [sorted(hyps, key=lambda h: h.score, reverse=True)[:n_best] for hyps in finished]


@torch.no_grad()
def caption_logprobs(
    decoder: Decoder, features: torch.Tensor, captions: list[tuple[int, ...]]
) -> torch.Tensor:
    """The model's own mean log-probability per word of given captions (teacher forced, no guard).

    Args:
        features: (B, N, C) encoder grid.
        captions: B token sequences without ``<start>``/``<end>``; ``<end>`` is scored too.

    Returns:
        (B,) mean log-probability per token (words and the final ``<end>``): how fluent the
        caption is to the decoder itself, whatever the guard made beam search choose.
    """
    batch = features.shape[0]
    steps = max((len(c) for c in captions), default=0) + 1
    targets = torch.zeros(batch, steps, dtype=torch.long, device=features.device)
    for i, tokens in enumerate(captions):
        targets[i, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        targets[i, len(tokens)] = Vocabulary.end_id
    lengths = torch.tensor([len(c) + 1 for c in captions], device=features.device)
    state = decoder.init_state(features)
    words = torch.full((batch,), Vocabulary.start_id, dtype=torch.long, device=features.device)
    total = features.new_zeros(batch)
    for t in range(steps):
        logits, state, _ = decoder.step(words, state, features)
        lp = F.log_softmax(logits.float(), dim=-1).gather(1, targets[:, t : t + 1]).squeeze(1)
        total += torch.where(t < lengths, lp, torch.zeros_like(lp))
        words = targets[:, t]
    return total / lengths.float()
