"""What a training run needs, as one dataclass (no torch: the CLI reads its defaults for ``--help``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from photoscribe.core.choices import LITE0, TINY

SCHEDULERS = ("step", "cosine", "plateau")


@dataclass
class TrainConfig:
    """Everything a training run needs. Defaults follow Show, Attend and Tell / the sgrvinod tutorial."""

    data_dir: Path
    out_dir: Path
    # model
    encoder: str = LITE0  # ImageNet weights installed with photoscribe; resnet50 needs torchvision's file
    pretrained: bool = True  # ImageNet weights (found locally); False trains the encoder from scratch
    encoder_weights: Path | None = None
    fine_tune_encoder: int = 0  # last N residual stages trained online; 0 = frozen, cached features
    encoder_grid: int | None = None
    image_size: int = 224
    resize: int = 256
    resize_mode: str = "whole"  # "whole" photo squashed to the square, or short side + centre "crop"
    embed_dim: int = 300
    hidden_dim: int = 512
    attention_dim: int = 512
    dropout: float = 0.5
    deep_output: bool = False  # the paper's deep output layer (logits from embedding, h and context)
    embeddings: Path | None = None  # GloVe / word2vec file
    freeze_embeddings: bool = True
    min_word_freq: int = 5
    max_len: int = 20
    # optimisation
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    encoder_lr: float = 1e-4
    weight_decay: float = 1e-5
    scheduler: str = "step"  # "step", "cosine" (to zero over the run) or "plateau"
    step_size: int = 10
    gamma: float = 0.5
    grad_clip: float = 5.0
    alpha_c: float = 1.0  # doubly stochastic attention regularisation (lambda of the paper's eq. 14)
    all_captions: bool = True  # every caption of every image each epoch; False: one random caption
    augment: bool = True  # random crop + flip when fine-tuning (flip swaps "left"/"right")
    patience: int = 5
    amp: bool = True  # mixed precision: CUDA, and bf16 for cached-feature training on AMX/AVX512-BF16 CPUs
    # validation
    beam_size: int = 3
    val_images: int | None = None  # decode at most this many validation images per epoch
    # run
    seed: int = 0
    device: str = "auto"
    workers: int | None = None  # image decoding workers; None: every core but one (at most 16)
    resume: bool = False
    karpathy_json: Path | None = None
    feature_cache: Path | None = None

    def __post_init__(self) -> None:
        self.data_dir, self.out_dir = Path(self.data_dir), Path(self.out_dir)
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, not {self.scheduler!r}")
        if self.encoder == TINY and self.pretrained:
            self.pretrained = False  # there are no ImageNet weights for the tiny encoder
        if not self.pretrained and self.fine_tune_encoder == 0:
            self.fine_tune_encoder = 5  # an encoder from scratch must be trained, all of it

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}
