"""The captioning model: encoder + decoder, built from a :class:`ModelConfig`."""

from __future__ import annotations

import torch
from torch import nn

from photoscribe.core.decoder import Decoder
from photoscribe.core.encoder import Encoder
from photoscribe.core.model_config import ModelConfig
from photoscribe.core.preprocess import ImagePreprocessor

__all__ = ["CaptionModel", "ModelConfig"]


class CaptionModel(nn.Module):
    """Encoder (ResNet grid) + attention LSTM decoder."""

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

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, N, C)."""
        return self.encoder(images)

    def preprocessor(self) -> ImagePreprocessor:
        """How a photo becomes this model's input."""
        cfg = self.config
        return ImagePreprocessor(image_size=cfg.image_size, resize=cfg.resize, mode=cfg.resize_mode)

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.encoder.grid_shape(self.config.image_size)
