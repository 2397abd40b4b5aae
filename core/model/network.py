"""The captioning model: encoder + decoder, built from a :class:`ModelConfig`."""

from __future__ import annotations

import torch
from torch import nn

from photoscribe.core.model.concepts import Concepts
from photoscribe.core.model.config import ModelConfig
from photoscribe.core.model.decoder import Decoder
from photoscribe.core.model.encoder import Encoder
from photoscribe.core.model.preprocess import ImagePreprocessor

__all__ = ["CaptionModel", "ModelConfig"]


class CaptionModel(nn.Module):
    """Encoder (an ImageNet CNN's feature grid: EfficientNet-Lite0 by default, or a ResNet) + attention LSTM decoder.

    Two optional parts read the same encoder pass: ``classifier``, the encoder's own ImageNet
    classifier (1,000 classes; loaded with the ImageNet weights, see
    :func:`~photoscribe.core.model.checkpoint.attach_imagenet_classifier`), which gives keywords, and
    ``concepts``, the object-concept head stored in the checkpoint, which guards decoding and
    gives each caption a confidence.
    """

    classifier: nn.Linear | None
    concepts: Concepts | None

    def __init__(self, config: ModelConfig) -> None:
        if not config.vocab_size:
            raise ValueError("the model config has no vocabulary size yet: set vocab_size to len(vocab)")
        super().__init__()
        self.config = config
        self.encoder = Encoder(config.encoder, config.encoder_grid)
        self.decoder = Decoder(
            vocab_size=config.vocab_size,
            feature_dim=self.encoder.channels,
            embed_dim=config.embed_dim,
            hidden_dim=config.hidden_dim,
            attention_dim=config.attention_dim,
            dropout=config.dropout,
            attention_activation=config.attention_activation,
            deep_output=config.deep_output,
        )
        self.classifier = None
        self.concepts = None

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, N, C)."""
        return self.encoder(images)

    def imagenet_probabilities(self, features: torch.Tensor) -> torch.Tensor | None:
        """(B, N, C) encoder grid -> (B, 1000) ImageNet class probabilities, or None without a classifier.

        The classifier sits on the global average of the grid, exactly where the ImageNet network
        put it (pooling, then the linear ``_fc``/``fc`` layer), so no second encoder pass is needed.
        """
        if self.classifier is None:
            return None
        return torch.softmax(self.classifier(features.float().mean(dim=1)), dim=1)

    def preprocessor(self) -> ImagePreprocessor:
        """How a photo becomes this model's input."""
        cfg = self.config
        return ImagePreprocessor(image_size=cfg.image_size, resize=cfg.resize, mode=cfg.resize_mode)

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.encoder.grid_shape(self.config.image_size)
