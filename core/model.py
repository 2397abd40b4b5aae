"""The captioning model: config dataclass plus encoder + decoder."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from photoscribe.core.decoder import Decoder
from photoscribe.core.encoder import ENCODER_NAMES, Encoder
from photoscribe.core.preprocess import RESIZE_MODES, ImagePreprocessor
from photoscribe.core.vocab import DEFAULT_MAX_LEN

# (field, smallest, largest) accepted in a checkpoint's config.
_LIMITS = (
    ("vocab_size", 5, 1_000_000),
    ("image_size", 16, 2048),
    ("resize", 16, 4096),
    ("embed_dim", 1, 8192),
    ("hidden_dim", 1, 8192),
    ("attention_dim", 1, 8192),
    ("max_len", 1, 200),
)


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
    resize_mode: str = "crop"  # "crop" or "whole": see ImagePreprocessor
    embed_dim: int = 300
    hidden_dim: int = 512
    attention_dim: int = 512
    attention_activation: str = "relu"
    dropout: float = 0.5
    deep_output: bool = False  # logits from embedding + hidden + context (paper eq. 7), not from h alone
    max_len: int = DEFAULT_MAX_LEN
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.encoder not in ENCODER_NAMES:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {', '.join(ENCODER_NAMES)}")
        if self.encoder_weights not in ("imagenet", "checkpoint"):
            raise ValueError("encoder_weights must be 'imagenet' or 'checkpoint'")
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {', '.join(RESIZE_MODES)}")
        if self.vocab_size < 5:
            raise ValueError("vocab_size must be at least 5 (4 special tokens + 1 word)")
        # Sane limits, checked before anything is allocated: a crafted config must not make the
        # loader build a 17 GB model (the largest real captioners are far inside these).
        for name, low, high in _LIMITS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
        if self.resize < self.image_size:
            raise ValueError(f"resize ({self.resize}) must be at least image_size ({self.image_size})")
        if self.encoder_grid is not None and not (
            isinstance(self.encoder_grid, int)
            and not isinstance(self.encoder_grid, bool)
            and 1 <= self.encoder_grid <= 64
        ):
            raise ValueError(
                f"encoder_grid must be empty or an integer from 1 to 64, got {self.encoder_grid!r}"
            )
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.deep_output, bool):
            raise ValueError("deep_output must be true or false")
        if self.attention_activation not in ("relu", "tanh"):
            raise ValueError("attention_activation must be 'relu' or 'tanh'")

    def preprocessor(self) -> ImagePreprocessor:
        """How a photo becomes this model's input."""
        return ImagePreprocessor(image_size=self.image_size, resize=self.resize, mode=self.resize_mode)

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
            deep_output=config.deep_output,
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
