"""The captioning model: config dataclass plus encoder + decoder."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from photoscribe.core.decoder import Decoder
from photoscribe.core.encoder import ENCODER_NAMES, Encoder
from photoscribe.core.vocab import DEFAULT_MAX_LEN


@dataclass
class ModelConfig:
    """Everything needed to rebuild a :class:`CaptionModel` (stored in checkpoints)."""

    vocab_size: int
    encoder: str = "resnet50"
    # "imagenet": torchvision's ImageNet weights (resolved locally at load time, not stored);
    # "checkpoint": trained or fine-tuned weights stored in the checkpoint itself.
    encoder_weights: str = "imagenet"
    encoder_grid: int | None = None
    image_size: int = 224
    resize: int = 256
    embed_dim: int = 300
    hidden_dim: int = 512
    attention_dim: int = 512
    attention_activation: str = "relu"
    dropout: float = 0.5
    max_len: int = DEFAULT_MAX_LEN
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.encoder not in ENCODER_NAMES:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {', '.join(ENCODER_NAMES)}")
        if self.encoder_weights not in ("imagenet", "checkpoint"):
            raise ValueError("encoder_weights must be 'imagenet' or 'checkpoint'")
        if self.vocab_size < 5:
            raise ValueError("vocab_size must be at least 5 (4 special tokens + 1 word)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(sorted(unknown))}")
        return cls(**data)


class CaptionModel(nn.Module):
    """Encoder (ResNet grid) + attention LSTM decoder."""

    def __init__(self, config: ModelConfig) -> None:
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
        )

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, N, C)."""
        return self.encoder(images)

    def forward(
        self, images: torch.Tensor, captions: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder(self.encode(images), captions, lengths)

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.encoder.grid_shape(self.config.image_size)
