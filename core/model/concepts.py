"""Visual concepts: which objects a photo shows, from the encoder's pooled features.

Fang et al. (2015, "From captions to visual concepts and back") learn detectors for the words of
captions and let them steer the language model. photoscribe does the same for the object words
that matter most when a caption is wrong: the 80 COCO object groups and people
(``OBJECT_GROUPS`` of :mod:`photoscribe.training.chair`). A :class:`ConceptHead` is trained on
the words of the training captions (``photoscribe model add-concepts``) and stored in the
checkpoint beside the decoder. It
gives, for every photo, the probability that each object group is in it, which is used twice:

- **a decoding guard** (:meth:`Concepts.word_bias`): during beam search every word that names an
  object group gets ``weight * log(min(1, p / threshold))`` added to its log-probability, so a
  caption does not say "dog" when the image evidence says there is no dog (no change when the
  group is likely, a growing penalty as it becomes unlikely);
- **a confidence** (:meth:`Concepts.confidence`): the probability that every object the caption
  names is in the photo (the product over the groups it names; 1 when it names none).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from photoscribe.core.captioning.results import Keyword
from photoscribe.core.model.labels import broader_terms
from photoscribe.core.model.vocab import Vocabulary

# Keywords and the concept head: an ImageNet keyword whose object group (itself or a broader term:
# "hound" -> "dog") the concept head finds less likely than VETO is dropped (ImageNet has no horse,
# so horses come out as hounds and bison); a group the head finds at least ADD likely becomes a
# keyword itself (ImageNet has no person, giraffe or bus-as-such). Checked by eye: docs/keywords.md.
KEYWORD_VETO = 0.1
KEYWORD_ADD = 0.8


class ConceptHead(nn.Module):
    """Multi-label classifier: pooled encoder feature (B, C) -> concept logits (B, K).

    ``hidden`` 0 is a logistic regression per concept; otherwise one ReLU layer is shared.
    """

    def __init__(self, feature_dim: int, n_concepts: int, hidden: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.feature_dim, self.n_concepts, self.hidden = feature_dim, n_concepts, hidden
        if hidden:
            self.net: nn.Module = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_concepts)
            )
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, n_concepts))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


@dataclass
class GuardSettings:
    """How strongly the concept probabilities steer decoding (0 weight: not at all)."""

    weight: float = 8.0  # the shipped model's, chosen on held-out general photos (docs/model-card.md)
    threshold: float = 0.5
    # Words of groups more likely than ``threshold`` get ``boost * log(p / threshold)`` added (0: no
    # boost), so the caption names what the photo shows instead of only avoiding what it does not.
    boost: float = 0.0
    # Keywords of the photo that are vocabulary words get ``keyword_boost * log(score / threshold)``.
    keyword_boost: float = 0.0


class Concepts(nn.Module):
    """A trained :class:`ConceptHead` with its concept names and the caption words of each.

    Args:
        names: the K concept (object group) names.
        words: for each concept, the single words that name it in a caption ("dog", "dogs", "puppy").
        guard: the decoding guard's strength.
    """

    def __init__(
        self,
        names: Sequence[str],
        words: Sequence[Sequence[str]],
        feature_dim: int,
        hidden: int = 0,
        guard: GuardSettings | None = None,
        fluency_center: float | None = None,
    ) -> None:
        super().__init__()
        # The decoder's typical mean log-probability per word on held-out photos: a caption less
        # fluent than that to the decoder itself loses confidence (see :meth:`confidence`).
        self.fluency_center = fluency_center
        if len(names) != len(words) or not names:
            raise ValueError("concepts need one list of words per name, and at least one name")
        self.names = tuple(names)
        self.words = tuple(tuple(w) for w in words)
        self.head = ConceptHead(feature_dim, len(names), hidden)
        self.guard = guard or GuardSettings()
        self._name_index = {name: i for i, name in enumerate(self.names)}
        self._word_concept: dict[str, int] = {}
        for index, group in enumerate(self.words):
            for word in group:
                self._word_concept.setdefault(word, index)

    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        """(B, N, C) encoder grid -> (B, K) probability that each concept is in the photo."""
        return torch.sigmoid(self.head(features.float().mean(dim=1)))

    def fuse(self, probs: torch.Tensor, term_probs: torch.Tensor, terms: Sequence[str]) -> torch.Tensor:
        """Concept probabilities (B, K) raised to the ImageNet classifier's where it names the group.

        The concept head learnt from a few thousand captioned photos, mostly Flickr8k's people and
        dogs; the ImageNet classifier has seen a thousand photos of every bus, zebra and pizza.
        Where a group is also a keyword term ("bus", "zebra", "cat", "airplane"), the larger of the
        two probabilities is used, so a photo ImageNet is sure shows a bus is allowed the word.
        """
        key = tuple(terms)
        if getattr(self, "_fuse_key", None) != key:
            column = {t: i for i, t in enumerate(terms)}
            self._fuse_key = key
            self._fuse_index = torch.tensor([column.get(n, -1) for n in self.names], dtype=torch.long)
        index = self._fuse_index.to(probs.device)
        has = index >= 0
        fused = probs.clone()
        fused[:, has] = torch.maximum(probs[:, has], term_probs[:, index[has]].to(probs.dtype))
        return fused

    def concept_of(self, word: str) -> int | None:
        return self._word_concept.get(word)

    def vocab_index(self, vocab: Vocabulary) -> torch.Tensor:
        """(V,) long: the concept each vocabulary word names, -1 for words that name none."""
        index = torch.full((len(vocab),), -1, dtype=torch.long)
        for word, concept in self._word_concept.items():
            if word in vocab.stoi:
                index[vocab.stoi[word]] = concept
        return index

    def word_bias(self, probs: torch.Tensor, vocab_index: torch.Tensor) -> torch.Tensor | None:
        """(B, K) concept probabilities -> (B, V) additive log-score bias for beam search, or None.

        An object word gets ``weight * log(min(1, p / threshold))``: nothing while its group is at
        least ``threshold`` likely, -weight * 2.3 at a tenth of it.
        """
        weight, threshold, boost = self.guard.weight, self.guard.threshold, self.guard.boost
        if weight <= 0 and boost <= 0:
            return None
        ratio = torch.log((probs / threshold).clamp(min=1e-6))  # (B, K)
        scaled = ratio.clamp(max=0.0) * weight + ratio.clamp(min=0.0) * boost
        padded = torch.cat([scaled, scaled.new_zeros(scaled.shape[0], 1)], dim=1)  # column K: no concept
        column = torch.where(vocab_index >= 0, vocab_index, torch.full_like(vocab_index, len(self.names)))
        return padded[:, column.to(probs.device)]  # (B, V)

    def evidence(self, words: Sequence[str], probs: torch.Tensor) -> float:
        """The guard's log-score of a whole caption: sum of ``log(min(1, p / threshold))`` over the
        object groups it names (0 when all are likely, very negative when one is not)."""
        threshold = self.guard.threshold
        return sum(math.log(min(1.0, max(float(probs[c]), 1e-6) / threshold)) for c in self.named(words))

    def named(self, words: Sequence[str]) -> set[int]:
        """The concepts a caption's words name."""
        return {c for w in words if (c := self._word_concept.get(w)) is not None}

    def confidence(self, words: Sequence[str], probs: torch.Tensor, fluency: float | None = None) -> float:
        """How far to trust a caption, 0-1: the probability that every object it names is in the
        photo (probs (K,); 1 when it names none), times ``exp(fluency - fluency_center)`` capped at
        1 when the decoder's own mean log-probability per word (``fluency``) is known: a caption
        the guard bent into odd wording ("a brown and white is sitting") is not trusted either."""
        value = 1.0
        for concept in self.named(words):
            value *= float(probs[concept])
        if fluency is not None and self.fluency_center is not None:
            value *= math.exp(min(0.0, fluency - self.fluency_center))
        return min(1.0, value)

    def check_keywords(
        self,
        keywords: Sequence[Keyword],
        probs: torch.Tensor,
        veto: float = KEYWORD_VETO,
        add: float = KEYWORD_ADD,
        max_keywords: int = 8,
    ) -> tuple[Keyword, ...]:
        """Reconcile one photo's ImageNet keywords with its concept probabilities (K,).

        Keywords whose object group the concept head finds unlikely are dropped; groups it finds
        likely are added (with their probability as the score). Most probable first.
        """
        kept: dict[str, Keyword] = {}
        for keyword in keywords:
            groups = {self._group_of(t) for t in (keyword.word, *broader_terms(keyword.word))} - {None}
            if any(float(probs[g]) < veto for g in groups if g is not None):
                continue
            kept[keyword.word] = keyword
        for index, name in enumerate(self.names):
            p = float(probs[index])
            if p >= add and name not in kept:
                kept[name] = Keyword(name, round(p, 4))
        return tuple(sorted(kept.values(), key=lambda k: -k.score)[:max_keywords])

    def _group_of(self, term: str) -> int | None:
        if term in self._name_index:
            return self._name_index[term]
        return self._word_concept.get(term)

    def keyword_bias(
        self, keywords: Sequence[Sequence[Keyword]], vocab: Vocabulary, device: torch.device | None = None
    ) -> torch.Tensor | None:
        """(B, V) bias that lets a caption name what the photo's keywords say is there.

        Each keyword that is one vocabulary word ("bear", "zebra", "pizza") gets
        ``keyword_boost * log(score / threshold)`` (positive: keywords are kept above the threshold),
        so the decoder is drawn to the right noun instead of the one its training data preferred.
        """
        boost = self.guard.keyword_boost
        if boost <= 0:
            return None
        bias = torch.zeros(len(keywords), len(vocab), device=device)
        for row, words in enumerate(keywords):
            for keyword in words:
                index = vocab.stoi.get(keyword.word)
                if index is not None and keyword.score > self.guard.threshold:
                    bias[row, index] = boost * math.log(keyword.score / self.guard.threshold)
        return bias

    # -- checkpoint form: plain data and tensors only (loaded with weights_only=True) --

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "words": [list(w) for w in self.words],
            "feature_dim": self.head.feature_dim,
            "hidden": self.head.hidden,
            "guard": {
                "weight": float(self.guard.weight),
                "threshold": float(self.guard.threshold),
                "boost": float(self.guard.boost),
                "keyword_boost": float(self.guard.keyword_boost),
            },
            "fluency_center": self.fluency_center,
            "state": {k: v.detach().cpu().clone() for k, v in self.head.state_dict().items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Concepts:
        """Rebuild from :meth:`to_dict`; raises ValueError (with what is wrong) for a bad entry."""
        try:
            names = [str(n) for n in data["names"]]
            words = [[str(w) for w in group] for group in data["words"]]
            feature_dim, hidden = int(data["feature_dim"]), int(data["hidden"])
            guard = GuardSettings(
                float(data["guard"]["weight"]),
                float(data["guard"]["threshold"]),
                float(data["guard"].get("boost", 0.0)),
                float(data["guard"].get("keyword_boost", 0.0)),
            )
            state = dict(data["state"])
            center = data.get("fluency_center")
            fluency_center = None if center is None else float(center)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the concept head entry is incomplete: {exc!r}") from exc
        if not (0 < feature_dim <= 8192 and 0 <= hidden <= 8192 and 0 < len(names) <= 10_000):
            raise ValueError("the concept head's sizes are out of range")
        if (
            not 0.0 < guard.threshold <= 1.0
            or not 0.0 <= guard.weight <= 100.0
            or not 0.0 <= guard.boost <= 100.0
        ):
            raise ValueError("the concept guard's settings are out of range")
        if fluency_center is not None and not -50.0 <= fluency_center <= 0.0:
            raise ValueError("the concept head's fluency centre is out of range")
        concepts = cls(names, words, feature_dim, hidden, guard, fluency_center)
        expected = concepts.head.state_dict()
        if set(state) != set(expected) or any(
            not isinstance(state[k], torch.Tensor) or state[k].shape != expected[k].shape for k in expected
        ):
            raise ValueError("the concept head's weights do not fit its sizes")
        concepts.head.load_state_dict(state)
        return concepts.eval()
