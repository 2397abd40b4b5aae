"""`photoscribe model average`: the mean of one run's checkpoints, refused across runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.model.checkpoint import load_checkpoint, save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.desktop.cli import build_parser
from photoscribe.training.averaging import average_checkpoints
from tests.helpers import WORDS, tiny_config


def _saved(path: Path, seed: int, vocab: Vocabulary, **overrides: object) -> CaptionModel:
    torch.manual_seed(seed)
    model = CaptionModel(tiny_config(len(vocab), **overrides))
    with torch.no_grad():  # give the batch norms' running statistics distinct values too
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.num_batches_tracked.fill_(seed)
    save_checkpoint(path, model, vocab, {"epoch": seed, "metrics": {"CIDEr": 0.1 * seed}})
    return model


def test_average_is_the_mean_of_every_weight(tmp_path: Path) -> None:
    vocab = Vocabulary(WORDS)
    models = [_saved(tmp_path / f"epoch_{i:02d}.pt", i, vocab) for i in (1, 2, 3)]
    out = average_checkpoints([tmp_path / f"epoch_{i:02d}.pt" for i in (1, 2, 3)], tmp_path / "avg.pt")
    avg = load_checkpoint(out)
    assert avg.config == models[0].config and avg.vocab.itos == vocab.itos
    assert avg.training_state is None
    assert avg.metadata["averaged_from"] == ["epoch_01.pt", "epoch_02.pt", "epoch_03.pt"]
    assert "metrics" not in avg.metadata  # one epoch's scores do not describe the average
    for name, value in avg.decoder_state.items():
        expected = torch.stack([m.decoder.state_dict()[name] for m in models]).mean(dim=0)
        torch.testing.assert_close(value, expected, msg=name)
    assert avg.encoder_state is not None
    bn = "body.1.running_mean"
    expected = torch.stack([m.encoder.state_dict()[bn] for m in models]).mean(dim=0)
    torch.testing.assert_close(avg.encoder_state[bn], expected)
    assert int(avg.encoder_state["body.1.num_batches_tracked"]) == 3  # an integer: the last one's


def test_checkpoints_of_different_runs_are_refused(tmp_path: Path) -> None:
    vocab = Vocabulary(WORDS)
    _saved(tmp_path / "a.pt", 1, vocab)
    _saved(tmp_path / "wide.pt", 2, vocab, hidden_dim=48)
    _saved(tmp_path / "words.pt", 3, Vocabulary([*WORDS[:-1], "tomato"]))
    with pytest.raises(PhotoscribeError, match=r"different model config .*hidden_dim 32 vs 48"):
        average_checkpoints([tmp_path / "a.pt", tmp_path / "wide.pt"], tmp_path / "x.pt")
    with pytest.raises(PhotoscribeError, match="different vocabulary"):
        average_checkpoints([tmp_path / "a.pt", tmp_path / "words.pt"], tmp_path / "x.pt")
    with pytest.raises(PhotoscribeError, match="at least two"):
        average_checkpoints([tmp_path / "a.pt"], tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_model_average_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vocab = Vocabulary(WORDS)
    for i in (1, 2):
        _saved(tmp_path / f"epoch_{i:02d}.pt", i, vocab)
    _saved(tmp_path / "other.pt", 3, vocab, attention_dim=8)
    parser = build_parser()
    args = parser.parse_args(
        [
            "model",
            "average",
            str(tmp_path / "epoch_01.pt"),
            str(tmp_path / "epoch_02.pt"),
            "--out",
            str(tmp_path / "avg.pt"),
        ]
    )
    assert args.func(args) == 0
    assert load_checkpoint(tmp_path / "avg.pt").metadata["averaged_from"] == ["epoch_01.pt", "epoch_02.pt"]
    args = parser.parse_args(
        [
            "model",
            "average",
            str(tmp_path / "epoch_01.pt"),
            str(tmp_path / "other.pt"),
            "--out",
            str(tmp_path / "bad.pt"),
        ]
    )
    assert args.func(args) == 1
    assert "attention_dim" in capsys.readouterr().err
