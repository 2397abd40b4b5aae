"""The model's configuration: what rebuilds a :class:`~photoscribe.core.model.network.CaptionModel`.

Free of torch, so the command line can show the defaults in ``--help`` without loading it.
Checkpoints store it (:mod:`photoscribe.core.model.checkpoint`); a training run's
:class:`~photoscribe.training.config.TrainConfig` holds one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from photoscribe.core.choices import ENCODER_NAMES, RESIZE_MODES
from photoscribe.core.model.vocab import DEFAULT_MAX_LEN

# (field, smallest, largest) accepted in a checkpoint's config.
_LIMITS = (
    ("vocab_size", 0, 1_000_000),
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

    # The vocabulary's size. 0 until it is known: a training config's model gets it from the
    # vocabulary the run builds (a model cannot be built without it).
    vocab_size: int = 0
    encoder: str = "resnet50"
    # "imagenet": torchvision's ImageNet weights (resolved locally at load time, not stored);
    # "checkpoint": trained or fine-tuned weights stored in the checkpoint itself.
    encoder_weights: str = "imagenet"
    encoder_grid: int | None = None
    image_size: int = 224
    resize: int = 256
    resize_mode: str = "crop"  # "crop" or "whole": see photoscribe.core.model.preprocess.ImagePreprocessor
    embed_dim: int = 300
    hidden_dim: int = 512
    attention_dim: int = 512
    attention_activation: str = "relu"
    dropout: float = 0.5
    deep_output: bool = False  # logits from embedding + hidden + context (paper eq. 7), not from h alone
    max_len: int = DEFAULT_MAX_LEN

    def __post_init__(self) -> None:
        if self.encoder not in ENCODER_NAMES:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {', '.join(ENCODER_NAMES)}")
        if self.encoder_weights not in ("imagenet", "checkpoint"):
            raise ValueError("encoder_weights must be 'imagenet' or 'checkpoint'")
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {', '.join(RESIZE_MODES)}")
        if 0 < self.vocab_size < 5:
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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        # Older checkpoints (the bundled default.pt among them) carry an "extra" dict that nothing
        # ever filled or read: drop it.
        data = {k: v for k, v in data.items() if k != "extra"}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(sorted(unknown))}")
        return cls(**data)
