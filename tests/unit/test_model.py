"""Shapes through every module, attention behaviour, encoder freezing."""

from __future__ import annotations

import pytest
import torch

from photoscribe.core.attention import Attention
from photoscribe.core.encoder import ENCODER_NAMES, Encoder
from photoscribe.core.model import CaptionModel, ModelConfig
from tests.conftest import tiny_config


@pytest.mark.parametrize("name,channels", [("resnet18", 512), ("resnet50", 2048)])
def test_encoder_grid_shape(name: str, channels: int) -> None:
    enc = Encoder(name).eval()
    with torch.no_grad():
        out = enc(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, 49, channels)
    assert enc.grid_shape(224) == (7, 7)


def test_encoder_adaptive_grid_keeps_regions_fixed_for_large_inputs() -> None:
    enc = Encoder("resnet18", grid_size=7).eval()
    with torch.no_grad():
        assert enc(torch.randn(1, 3, 320, 320)).shape == (1, 49, 512)


def test_all_encoder_names_build() -> None:
    for name in ENCODER_NAMES:
        assert Encoder(name).channels in (128, 512, 1280, 2048)


def test_encoder_frozen_by_default_and_fine_tune_unfreezes_last_blocks() -> None:
    enc = Encoder("resnet18")
    assert not enc.trainable
    enc.fine_tune(1)
    trainable = {n.split(".")[1] for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable == {"7"}  # body index 7 = layer4
    enc.fine_tune(2)
    assert {n.split(".")[1] for n, p in enc.named_parameters() if p.requires_grad} == {"6", "7"}
    enc.fine_tune(0)
    assert not enc.trainable


def test_attention_weights_sum_to_one_and_respond_to_hidden_state() -> None:
    torch.manual_seed(0)
    att = Attention(feature_dim=8, hidden_dim=6, attention_dim=5, activation="tanh")
    feats = torch.randn(3, 10, 8)
    ctx1, a1 = att(feats, torch.randn(3, 6))
    _, a2 = att(feats, torch.randn(3, 6))
    assert a1.shape == (3, 10) and ctx1.shape == (3, 8)
    torch.testing.assert_close(a1.sum(dim=1), torch.ones(3))
    assert (a1 >= 0).all()
    assert not torch.allclose(a1, a2, atol=1e-3)  # a different hidden state attends elsewhere
    torch.testing.assert_close(ctx1, torch.einsum("bn,bnc->bc", a1, feats))


def test_attention_rejects_unknown_activation() -> None:
    with pytest.raises(ValueError, match="relu"):
        Attention(4, 4, 4, activation="gelu")


def test_model_forward_shapes_and_padding_untouched() -> None:
    torch.manual_seed(0)
    model = CaptionModel(tiny_config(20)).train()
    images = torch.randn(3, 3, 64, 64)
    captions = torch.tensor([[1, 5, 6, 7, 2, 0], [1, 8, 2, 0, 0, 0], [1, 5, 9, 10, 11, 2]])
    lengths = torch.tensor([5, 3, 6])
    logits, alphas = model(images, captions, lengths)
    assert logits.shape == (3, 5, 20) and alphas.shape == (3, 5, 16)
    # steps past each caption's end are never computed
    assert logits[1, 2:].abs().sum() == 0 and alphas[0, 4:].abs().sum() == 0
    torch.testing.assert_close(alphas[2].sum(-1), torch.ones(5))
    # gradients flow to the decoder
    logits.sum().backward()
    assert model.decoder.fc.weight.grad is not None


def test_unpadded_forward_matches_batched_forward() -> None:
    torch.manual_seed(0)
    model = CaptionModel(tiny_config(20)).eval()
    images = torch.randn(2, 3, 64, 64)
    captions = torch.tensor([[1, 5, 6, 2, 0], [1, 8, 9, 10, 2]])
    lengths = torch.tensor([4, 5])
    batched, _ = model(images, captions, lengths)
    single, _ = model(images[:1], captions[:1, :4], lengths[:1])
    torch.testing.assert_close(batched[0, :3], single[0], atol=1e-5, rtol=1e-4)


def test_config_round_trip_and_validation() -> None:
    cfg = tiny_config(30, encoder_grid=4)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({**cfg.to_dict(), "evil": 1})
    with pytest.raises(ValueError, match="unknown encoder"):
        ModelConfig(vocab_size=30, encoder="vgg16")
