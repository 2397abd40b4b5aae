"""Word vocabulary: tokenising, encoding and decoding captions."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
DEFAULT_MAX_LEN = 20

# Anything that is not a letter, digit, apostrophe, hyphen or whitespace becomes a space.
_PUNCT = re.compile(r"[^\w\s'-]|_", flags=re.UNICODE)
# Hyphens and apostrophes are kept only inside a word ("t-shirt", "dog's").
_EDGE = "'-"


def tokenize(text: str) -> list[str]:
    """Lowercase, strip punctuation and split a caption into words.

    Hyphenated words stay one word ("t-shirt"), as coco-caption's PTB tokenizer keeps them,
    so training, decoding and scoring see the same words; a lone or trailing hyphen or quote
    is dropped. Apostrophes inside words are kept ("dog's"; the PTB tokenizer splits that
    into "dog 's" on both sides of the comparison, so scores agree).
    Works for non-Latin scripts (``\\w`` is Unicode-aware).
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _PUNCT.sub(" ", text)
    return [tok.strip(_EDGE) for tok in text.split() if tok.strip(_EDGE)]


@dataclass(frozen=True)
class VocabStats:
    size: int
    coverage: float  # fraction of training tokens that are in the vocabulary
    dropped_words: int  # distinct words below the frequency threshold


class Vocabulary:
    """Maps words to ids. ``<pad>`` is always 0, then ``<start>``, ``<end>``, ``<unk>``."""

    def __init__(self, words: Sequence[str], max_len: int = DEFAULT_MAX_LEN) -> None:
        itos = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        if len(set(itos)) != len(itos):
            raise ValueError("vocabulary words must be unique")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(itos)}
        self.max_len = max_len

    pad_id = 0
    start_id = 1
    end_id = 2
    unk_id = 3

    @classmethod
    def build(cls, captions: Iterable[str], min_freq: int = 5, max_len: int = DEFAULT_MAX_LEN) -> Vocabulary:
        """Build from training captions, keeping words seen at least ``min_freq`` times.

        Words are ordered by descending frequency, ties alphabetically, so the
        result is deterministic.
        """
        counts = Counter(tok for cap in captions for tok in tokenize(cap))
        kept = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        vocab = cls(kept, max_len=max_len)
        total = sum(counts.values())
        covered = sum(counts[w] for w in kept)
        vocab.stats = VocabStats(len(vocab), covered / total if total else 0.0, len(counts) - len(kept))
        return vocab

    stats: VocabStats | None = None

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: object) -> bool:
        return word in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos and self.max_len == other.max_len

    def __hash__(self) -> int:
        return hash((tuple(self.itos), self.max_len))

    def encode(self, caption: str, add_specials: bool = True) -> list[int]:
        """Caption -> ids, truncated to ``max_len`` words, with ``<start>``/``<end>``."""
        ids = [self.stoi.get(tok, self.unk_id) for tok in tokenize(caption)][: self.max_len]
        return [self.start_id, *ids, self.end_id] if add_specials else ids

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> caption text; stops at ``<end>``, skips ``<start>``/``<pad>``."""
        words: list[str] = []
        for i in ids:
            i = int(i)
            if i == self.end_id:
                break
            if i in (self.start_id, self.pad_id):
                continue
            words.append(self.itos[i] if 0 <= i < len(self.itos) else UNK)
        return " ".join(words)

    def to_dict(self) -> dict[str, object]:
        """Plain-data form stored in checkpoints (loadable with ``weights_only=True``)."""
        return {"itos": list(self.itos), "max_len": int(self.max_len)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Vocabulary:
        itos = data["itos"]
        max_len = data.get("max_len", DEFAULT_MAX_LEN)
        if not isinstance(itos, list) or list(itos[:4]) != list(SPECIALS):
            raise ValueError("vocabulary must start with <pad>, <start>, <end>, <unk>")
        if not all(isinstance(w, str) for w in itos) or not isinstance(max_len, int):
            raise ValueError("vocabulary words must be strings and max_len an int")
        return cls(itos[4:], max_len=max_len)
