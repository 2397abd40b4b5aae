"""Loading pretrained word vectors (GloVe text or word2vec binary/text) for a vocabulary."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from photoscribe.core.errors import AssetMissingError, DataError
from photoscribe.core.model.vocab import Vocabulary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WordVectors:
    matrix: torch.Tensor  # (V, D), rows in vocabulary order
    found: int  # vocabulary words that had a vector
    coverage: float  # found / (V - 4 specials)


def _is_word2vec_header(line: bytes) -> bool:
    parts = line.split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def load_word_vectors(path: str | Path, vocab: Vocabulary, seed: int = 0) -> WordVectors:
    """Read vectors for the words of ``vocab`` from a GloVe ``.txt`` or word2vec ``.bin``/``.txt`` file.

    Words without a vector get small random vectors (seeded); ``<pad>`` is zero.

    Raises:
        AssetMissingError: the file does not exist.
        DataError: the file is malformed (the message names the line).
    """
    path = Path(path)
    if not path.is_file():
        raise AssetMissingError(f"word vector file {path} not found")
    wanted = vocab.stoi
    vectors: dict[int, np.ndarray] = {}
    dim: int | None = None
    with path.open("rb") as fh:
        first = fh.readline()
        if _is_word2vec_header(first):
            count, dim = (int(p) for p in first.split())
            binary = _looks_binary(fh, dim)
            for lineno in range(2, count + 2):
                word, vec = _read_w2v_record(fh, dim, binary, path, lineno)
                if word in wanted:
                    vectors[wanted[word]] = vec
        else:
            fh.seek(0)
            for lineno, raw in enumerate(fh, start=1):
                parts = raw.rstrip(b"\r\n").split(b" ")
                if len(parts) < 2:
                    continue
                if dim is None:
                    dim = len(parts) - 1
                if len(parts) - 1 != dim:
                    raise DataError(f"{path}:{lineno}: expected {dim} numbers, found {len(parts) - 1}")
                word = parts[0].decode("utf-8", errors="replace")
                if word in wanted:
                    try:
                        vectors[wanted[word]] = np.asarray(parts[1:], dtype=np.float32)
                    except ValueError as exc:
                        raise DataError(f"{path}:{lineno}: {exc}") from exc
    if dim is None:
        raise DataError(f"{path}: no word vectors found")
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, 0.1, size=(len(vocab), dim)).astype(np.float32)
    matrix[Vocabulary.pad_id] = 0.0
    for idx, vec in vectors.items():
        matrix[idx] = vec
    words = max(1, len(vocab) - 4)
    log.info("word vectors: %d of %d vocabulary words found in %s", len(vectors), words, path)
    return WordVectors(torch.from_numpy(matrix), len(vectors), len(vectors) / words)


def _looks_binary(fh, dim: int) -> bool:
    pos = fh.tell()
    sample = fh.read(4096)
    fh.seek(pos)
    return b"\n" not in sample[: min(len(sample), 64 + 4 * dim)] or any(b > 127 for b in sample[:256])


def _read_w2v_record(fh, dim: int, binary: bool, path: Path, lineno: int) -> tuple[str, np.ndarray]:
    if not binary:
        parts = fh.readline().rstrip(b"\r\n").split(b" ")
        if len(parts) - 1 != dim:
            raise DataError(f"{path}:{lineno}: expected {dim} numbers, found {len(parts) - 1}")
        return parts[0].decode("utf-8", errors="replace"), np.asarray(parts[1:], dtype=np.float32)
    word = bytearray()
    while True:
        ch = fh.read(1)
        if not ch:
            raise DataError(f"{path}: record {lineno - 1}: file ends inside a word")
        if ch == b" ":
            break
        if ch != b"\n":
            word += ch
    raw = fh.read(4 * dim)
    if len(raw) != 4 * dim:
        raise DataError(f"{path}: record {lineno - 1}: truncated vector")
    return word.decode("utf-8", errors="replace"), np.frombuffer(raw, dtype="<f4").copy()
