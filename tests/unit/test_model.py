"""Shapes through every module, attention behaviour, encoder freezing."""

from __future__ import annotations

import pytest
import torch

from photoscribe.core.model.attention import Attention
from photoscribe.core.model.encoder import ENCODER_NAMES, Encoder
from photoscribe.core.model.network import CaptionModel, ModelConfig
from tests.helpers import tiny_config, unpack


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


def test_teacher_forcing_shapes_attention_and_gradients() -> None:
    torch.manual_seed(0)
    model = CaptionModel(tiny_config(20)).train()
    model.encoder.fine_tune(5)  # trained from scratch, stem included
    images = torch.randn(3, 3, 64, 64)
    captions = torch.tensor([[1, 5, 6, 7, 2, 0], [1, 8, 2, 0, 0, 0], [1, 5, 9, 10, 11, 2]])
    lengths = torch.tensor([5, 3, 6])
    out = model.decoder.forward_packed(model.encode(images), captions, lengths)
    # one row per real target word (4 + 2 + 5), none for padding
    assert out.logits.shape == (11, 20) and out.alphas.shape == (11, 16)
    assert sorted(out.targets.tolist()) == sorted([5, 6, 7, 2, 8, 2, 5, 9, 10, 11, 2])
    torch.testing.assert_close(out.alphas.sum(-1), torch.ones(11))
    logits = unpack(out, out.logits)  # (3, 5, 20) in the batch's order
    assert logits[1, 2:].abs().sum() == 0 and logits[1, :2].abs().sum() > 0
    # gradients flow to the decoder and, through the features, to the encoder
    out.logits.sum().backward()
    assert model.decoder.fc.weight.grad is not None
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_a_caption_decodes_the_same_alone_and_in_a_batch() -> None:
    torch.manual_seed(0)
    model = CaptionModel(tiny_config(20)).eval()
    features = model.encode(torch.randn(2, 3, 64, 64))
    captions = torch.tensor([[1, 5, 6, 2, 0], [1, 8, 9, 10, 2]])
    lengths = torch.tensor([4, 5])
    batched = model.decoder.forward_packed(features, captions, lengths)
    single = model.decoder.forward_packed(features[:1], captions[:1, :4], lengths[:1])
    torch.testing.assert_close(unpack(batched, batched.logits)[0, :3], single.logits, atol=1e-5, rtol=1e-4)


def test_config_round_trip_and_validation() -> None:
    cfg = tiny_config(30, encoder_grid=4)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({**cfg.to_dict(), "evil": 1})
    with pytest.raises(ValueError, match="unknown encoder"):
        ModelConfig(vocab_size=30, encoder="vgg16")
