"""What a training run needs, as one dataclass (no torch: the CLI reads its defaults for ``--help``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photoscribe.core.choices import LITE0, TINY, default_image_size
from photoscribe.core.model.config import ModelConfig

SCHEDULERS = ("step", "cosine", "plateau")
# ModelConfig fields that a run decides itself: the vocabulary's size, and whether the encoder's
# weights are stored in the checkpoint (from ``pretrained`` and ``fine_tune_encoder``).
_SET_BY_TRAINING = ("vocab_size", "encoder_weights")


def default_model() -> ModelConfig:
    """The model a run trains unless told otherwise: Lite0's ImageNet grid, photos fitted whole."""
    return ModelConfig(encoder=LITE0, resize_mode="whole")


@dataclass
class TrainConfig:
    """Everything a training run needs. Defaults follow Show, Attend and Tell / the sgrvinod tutorial.

    ``model`` is the architecture (the :class:`ModelConfig` stored in every checkpoint); its
    ``vocab_size`` and ``encoder_weights`` are set by the run (see :func:`photoscribe.training.train.build_model`).
    """

    data_dir: Path
    out_dir: Path
    model: ModelConfig = field(default_factory=default_model)
    # encoder weights
    pretrained: bool = True  # ImageNet weights (found locally); False trains the encoder from scratch
    encoder_weights: Path | None = None  # a local ImageNet weights file (default: found by name)
    fine_tune_encoder: int = 0  # last N residual stages trained online; 0 = frozen, cached features
    # words
    embeddings: Path | None = None  # GloVe / word2vec file
    freeze_embeddings: bool = True
    min_word_freq: int = 5
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
    alpha_c: float = (
        1.0  # attention penalty weight, mean over cells (train.attention_penalty: the paper x T/N)
    )
    label_smoothing: float = 0.0  # cross-entropy target smoothing epsilon (0: none)
    all_captions: bool = True  # every caption of every image each epoch; False: one random caption
    augment: bool = True  # flip (swaps "left"/"right") + mild brightness/contrast when fine-tuning; no crops
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
    # Fine-tune this checkpoint instead of training from scratch: its architecture (``model`` must be
    # its config), vocabulary, weights and concept head are the start (training/library_finetune.py).
    init_checkpoint: Path | None = None

    def __post_init__(self) -> None:
        self.data_dir, self.out_dir = Path(self.data_dir), Path(self.out_dir)
        if self.init_checkpoint is not None:
            self.init_checkpoint = Path(self.init_checkpoint)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, not {self.scheduler!r}")
        if self.model.encoder == TINY and self.pretrained:
            self.pretrained = False  # there are no ImageNet weights for the tiny encoder
        if not self.pretrained and self.fine_tune_encoder == 0:
            self.fine_tune_encoder = 5  # an encoder from scratch must be trained, all of it

    @property
    def stores_encoder(self) -> bool:
        """Whether the run's checkpoints carry the encoder's weights (not the stock ImageNet ones)."""
        return not self.pretrained or self.fine_tune_encoder > 0

    @classmethod
    def from_flat(cls, **params: Any) -> TrainConfig:
        """A config from one flat set of keyword arguments, as a form or a test has them: the
        model's fields (``encoder``, ``image_size``, ``embed_dim``, ...) go to ``model``, on top
        of :func:`default_model`; ``encoder_weights`` is the run's weights file. An encoder
        without an ``image_size`` gets its own (:func:`default_image_size`: Lite2 260 px)."""
        names = {f.name for f in dataclasses.fields(ModelConfig)} - set(_SET_BY_TRAINING)
        model = {k: params.pop(k) for k in list(params) if k in names}
        if "encoder" in model and "image_size" not in model:
            model["image_size"] = default_image_size(model["encoder"])
            model.setdefault("resize", round(model["image_size"] * 8 / 7))
        return cls(model=dataclasses.replace(default_model(), **model), **params)

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}
