from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from photoscribe.core.errors import AssetMissingError, DataError
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.training.word_vectors import load_word_vectors
from tests.helpers import tiny_config

VOCAB = Vocabulary(["red", "circle", "blue"])


def test_glove_text(tmp_path: Path) -> None:
    path = tmp_path / "glove.txt"
    path.write_text("red 1 2 3\nsquare 9 9 9\ncircle 4 5 6\n", "utf-8")
    vectors = load_word_vectors(path, VOCAB)
    assert vectors.matrix.shape == (len(VOCAB), 3)
    assert vectors.found == 2 and vectors.coverage == pytest.approx(2 / 3)
    assert vectors.matrix[VOCAB.stoi["red"]].tolist() == [1, 2, 3]
    assert vectors.matrix[VOCAB.stoi["circle"]].tolist() == [4, 5, 6]
    assert vectors.matrix[0].abs().sum() == 0  # <pad>


def test_word2vec_binary(tmp_path: Path) -> None:
    path = tmp_path / "vectors.bin"
    with path.open("wb") as fh:
        fh.write(b"2 4\n")
        for word, vec in (("blue", [0.5, -1, 2, 3]), ("cat", [1, 1, 1, 1])):
            fh.write(word.encode() + b" " + struct.pack("<4f", *vec) + b"\n")
    vectors = load_word_vectors(path, VOCAB)
    np.testing.assert_allclose(vectors.matrix[VOCAB.stoi["blue"]].numpy(), [0.5, -1, 2, 3])
    assert vectors.found == 1


def test_word2vec_text_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "vectors.txt"
    path.write_text("2 2\nred 0.1 0.2\nblue 0.3 0.4\n", "utf-8")
    assert load_word_vectors(path, VOCAB).found == 2
    bad = tmp_path / "bad.txt"
    bad.write_text("red 1 2 3\nblue 1 2\n", "utf-8")
    with pytest.raises(DataError, match=r"bad.txt:2"):
        load_word_vectors(bad, VOCAB)
    with pytest.raises(AssetMissingError):
        load_word_vectors(tmp_path / "nope.txt", VOCAB)


def test_frozen_pretrained_embeddings_in_decoder(tmp_path: Path) -> None:
    path = tmp_path / "glove.txt"
    path.write_text("".join(f"{w} " + " ".join(["0.5"] * 16) + "\n" for w in ("red", "blue")), "utf-8")
    model = CaptionModel(tiny_config(len(VOCAB)))
    model.decoder.load_embeddings(load_word_vectors(path, VOCAB).matrix, freeze=True)
    assert not model.decoder.embedding.weight.requires_grad
    torch.testing.assert_close(model.decoder.embedding.weight[VOCAB.stoi["red"]], torch.full((16,), 0.5))
