"""Checkpoints: a plain dict of state dicts, config, vocabulary and metadata.

Nothing in a checkpoint needs pickle: it loads with ``torch.load(weights_only=True)``,
so a file crafted to run code on load is refused, and the schema is checked
before any weights are used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pickle
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from photoscribe.core.choices import PRETRAINED_ENCODERS
from photoscribe.core.errors import AssetMissingError, ModelLoadError
from photoscribe.core.files.tempfiles import create_exclusive, temp_path_beside
from photoscribe.core.model.checkpoint_file import MAX_CHECKPOINT_BYTES, verify_checkpoint_file
from photoscribe.core.model.concepts import Concepts
from photoscribe.core.model.efficientnet import EfficientNetLite
from photoscribe.core.model.encoder import encoder_channels
from photoscribe.core.model.network import CaptionModel, ModelConfig
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.model.weights import load_encoder_state

FORMAT = "photoscribe-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    config: ModelConfig
    vocab: Vocabulary
    decoder_state: dict[str, torch.Tensor]
    encoder_state: dict[str, torch.Tensor] | None
    metadata: dict[str, Any] = field(default_factory=dict)
    training_state: dict[str, Any] | None = None
    concepts: Concepts | None = None  # the object-concept head (guard and confidence), if trained
    content_hash: str | None = None  # SHA-256 of the file's contents, when loaded from a file

    @property
    def model_id(self) -> str:
        """The id the checkpoint declares (it names the source of its captions in a library)."""
        return str(self.metadata.get("model_id", "unknown"))

    @property
    def failure_id(self) -> str:
        """Who is charged for a photo this model fails: the declared id and the file's content hash.

        A damaged or edited copy declares the same ``model_id`` as the good file but has other
        contents, so its failures never stop the good one from trying those photos.
        """
        if self.content_hash is None:
            return self.model_id
        return f"{self.model_id}@sha256:{self.content_hash[:16]}"


def save_checkpoint(
    path: str | os.PathLike[str],
    model: CaptionModel,
    vocab: Vocabulary,
    metadata: dict[str, Any] | None = None,
    training_state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file + fsync + rename): a crash never leaves half a file.

    The encoder's weights are stored only when they are not the stock ImageNet ones
    (``config.encoder_weights == "checkpoint"``), so a frozen-ResNet model stays small.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "model_id": f"{path.stem}-{uuid.uuid4().hex[:8]}",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **(metadata or {}),
    }
    store_encoder = model.config.encoder_weights == "checkpoint"
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "vocab": vocab.to_dict(),
        "decoder": _cpu_state(model.decoder.state_dict()),
        "encoder": _cpu_state(model.encoder.state_dict()) if store_encoder else None,
        "metadata": meta,
        "training": training_state,
        "concepts": model.concepts.to_dict() if model.concepts is not None else None,
    }
    return _write_atomically(path, payload)


def write_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> Path:
    """Write a :class:`Checkpoint` built from states rather than a model (averaged weights),
    atomically, in the format :func:`load_checkpoint` reads."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": checkpoint.config.to_dict(),
        "vocab": checkpoint.vocab.to_dict(),
        "decoder": _cpu_state(checkpoint.decoder_state),
        "encoder": _cpu_state(checkpoint.encoder_state) if checkpoint.encoder_state is not None else None,
        "metadata": dict(checkpoint.metadata),
        "training": checkpoint.training_state,
        "concepts": checkpoint.concepts.to_dict() if checkpoint.concepts is not None else None,
    }
    return _write_atomically(Path(path), payload)


def _write_atomically(path: Path, payload: dict[str, Any]) -> Path:
    """``torch.save`` to a temp file in the same folder, fsync, rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(path)  # a short name: the checkpoint's own may be near the 255-byte limit
    try:
        with os.fdopen(create_exclusive(tmp), "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _cpu_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in state.items()}


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load and validate a checkpoint file on the CPU.

    The file is checked in three steps, each before the next costs anything: its zip directory's
    declared sizes, then every member's CRC-32 (and its content hash, the checkpoint's identity),
    then its pickle alone with every tensor on the ``meta`` device (shapes and sizes, no data),
    which must fit the config; only then are the weights read.

    Raises:
        ModelLoadError: missing file, not a checkpoint, a damaged or oversized file, a pickle
            payload, or a schema mismatch.
    """
    file, content_hash = verify_checkpoint_file(path)
    shapes = _torch_load(file, "meta")  # the pickle only: every storage is a size, none is read
    _validate_structure(shapes, file)
    declared = sum(t.untyped_storage().nbytes() for t in _tensors(shapes))
    if declared > MAX_CHECKPOINT_BYTES:
        raise ModelLoadError(
            f"{file} is refused: its tensors declare {declared / 2**30:.1f} GiB, more than the "
            f"{MAX_CHECKPOINT_BYTES / 2**30:.0f} GiB any photoscribe checkpoint needs"
        )
    checkpoint = _validate(_torch_load(file, "cpu"), file)
    checkpoint.content_hash = content_hash
    return checkpoint


def _torch_load(file: Path, location: str) -> Any:
    try:
        return torch.load(file, map_location=location, weights_only=True)
    except pickle.UnpicklingError as exc:  # a payload that is more than tensors and plain data
        raise ModelLoadError(
            f"{file} is not a safe photoscribe checkpoint: it holds Python objects other than tensors "
            "and plain data, which photoscribe never loads (they could run code). Use a checkpoint "
            "written by photoscribe."
        ) from exc
    except Exception as exc:  # RuntimeError and others for corrupt or truncated zips
        raise ModelLoadError(
            f"{file} is not a safe photoscribe checkpoint: the file is damaged or not a checkpoint "
            f"({type(exc).__name__})"
        ) from exc


def _tensors(value: Any) -> list[torch.Tensor]:
    """Every tensor in a loaded payload (nested dicts, lists and tuples); a storage two tensors
    share is counted for each (an overestimate only for tied weights, which are small)."""
    found: list[torch.Tensor] = []
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, torch.Tensor):
            found.append(item)
        elif isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, (list, tuple)):
            todo.extend(item)
    return found


def _validate_structure(raw: Any, path: Path) -> tuple[ModelConfig, Vocabulary]:
    """The marker, version, fields, config, vocabulary and weight shapes: all but the weights' values."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ModelLoadError(f"{path} is not a photoscribe checkpoint (no '{FORMAT}' marker)")
    if raw.get("version") != VERSION:
        raise ModelLoadError(
            f"{path} has checkpoint version {raw.get('version')!r}; this build reads {VERSION}"
        )
    for key, kind in (("config", dict), ("vocab", dict), ("decoder", dict), ("metadata", dict)):
        if not isinstance(raw.get(key), kind):
            raise ModelLoadError(f"{path}: checkpoint field {key!r} is missing or not a {kind.__name__}")
    try:
        config = ModelConfig.from_dict(raw["config"])
        vocab = Vocabulary.from_dict(raw["vocab"])
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{path}: invalid model config or vocabulary: {exc}") from exc
    if len(vocab) != config.vocab_size:
        raise ModelLoadError(
            f"{path}: vocabulary has {len(vocab)} words but the model expects {config.vocab_size}"
        )
    for key in ("decoder", "encoder"):
        state = raw.get(key)
        if state is not None and not (
            isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())
        ):
            raise ModelLoadError(f"{path}: {key} weights must be tensors")
    if config.encoder_weights == "checkpoint" and raw.get("encoder") is None:
        raise ModelLoadError(f"{path}: the model's encoder weights should be in the checkpoint but are not")
    _check_shapes(config, raw["decoder"], raw.get("encoder"), path)
    return config, vocab


def _validate(raw: Any, path: Path) -> Checkpoint:
    config, vocab = _validate_structure(raw, path)
    concepts = None
    if raw.get("concepts") is not None:
        if not isinstance(raw["concepts"], dict):
            raise ModelLoadError(f"{path}: checkpoint field 'concepts' is not a dict")
        try:
            concepts = Concepts.from_dict(raw["concepts"])
        except ValueError as exc:
            raise ModelLoadError(f"{path}: {exc}") from exc
        if concepts.head.feature_dim != encoder_channels(config.encoder):
            raise ModelLoadError(f"{path}: the concept head does not fit the {config.encoder} encoder")
    return Checkpoint(
        config, vocab, raw["decoder"], raw.get("encoder"), raw["metadata"], raw.get("training"), concepts
    )


@contextlib.contextmanager
def _shapes_only() -> Iterator[None]:
    """Build modules on the ``meta`` device, skipping ``nn.init.normal_`` on meta tensors.

    A meta tensor's ``normal_`` (``nn.Embedding``'s initialiser) runs a Python reference kernel
    that imports ``torch._dynamo``: 2-3 s of a first caption's start-up on a small CPU, for
    random values a meta tensor does not even hold. Real tensors (another thread building a model
    meanwhile) are initialised as always.
    """
    normal = nn.init.normal_

    def normal_unless_meta(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return tensor if tensor.is_meta else normal(tensor, *args, **kwargs)

    nn.init.normal_ = normal_unless_meta
    try:
        with torch.device("meta"):
            yield
    finally:
        nn.init.normal_ = normal


def _check_shapes(
    config: ModelConfig,
    decoder: dict[str, torch.Tensor],
    encoder: dict[str, torch.Tensor] | None,
    path: Path,
) -> None:
    """The stored weights have exactly the names and shapes the config's model has.

    The model is built on the ``meta`` device (shapes only, no memory), so a crafted config or
    state dict is refused before a single real parameter is allocated.
    """
    with _shapes_only():
        model = CaptionModel(config)
    parts = [("decoder", model.decoder.state_dict(), decoder)]
    if encoder is not None:
        parts.append(("encoder", model.encoder.state_dict(), encoder))
    for part, expected, stored in parts:
        missing = sorted(set(expected) - set(stored))
        unexpected = sorted(set(stored) - set(expected))
        if missing or unexpected:
            first = (missing or unexpected)[0]
            raise ModelLoadError(
                f"{path}: the {part} weights do not fit the model's config "
                f"({len(missing)} missing, {len(unexpected)} unexpected, e.g. {first!r})"
            )
        for name, tensor in stored.items():
            if tuple(tensor.shape) != tuple(expected[name].shape):
                raise ModelLoadError(
                    f"{path}: {part} weight {name!r} has shape {tuple(tensor.shape)}, but the config "
                    f"needs {tuple(expected[name].shape)}"
                )


def build_model(
    checkpoint: Checkpoint, encoder_weights: str | os.PathLike[str] | None = None
) -> CaptionModel:
    """Rebuild the model and load its weights (ImageNet encoder weights found locally when needed)."""
    model = CaptionModel(checkpoint.config)
    try:
        model.decoder.load_state_dict(checkpoint.decoder_state)
        if checkpoint.encoder_state is not None:
            model.encoder.load_state_dict(checkpoint.encoder_state)
        else:
            load_imagenet_encoder(model, encoder_weights)
    except RuntimeError as exc:
        raise ModelLoadError(f"checkpoint weights do not fit the model: {str(exc).splitlines()[0]}") from exc
    model.concepts = checkpoint.concepts
    attach_imagenet_classifier(model, encoder_weights)
    model.eval()
    return model


def attach_imagenet_classifier(model: CaptionModel, weights: str | os.PathLike[str] | None = None) -> bool:
    """Give the model its encoder's ImageNet classifier (a lite variant's ``_fc``, a ResNet's ``fc``).

    The classifier is read from the same ImageNet weights file as the encoder, so it costs no
    download; it is not stored in checkpoints. Models without ImageNet weights (the tiny encoder,
    a missing ResNet file) simply have none: their photos get no keywords. Returns whether one
    was attached.
    """
    if model.config.encoder not in PRETRAINED_ENCODERS:
        return False
    try:
        state = load_encoder_state(model.config.encoder, weights)
    except (AssetMissingError, ModelLoadError):
        return False
    for prefix in ("_fc.", "fc."):
        weight, bias = state.get(prefix + "weight"), state.get(prefix + "bias")
        if isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor):
            break
    else:
        return False
    if weight.ndim != 2 or weight.shape[1] != model.encoder.channels or bias.shape != weight.shape[:1]:
        return False
    classifier = torch.nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        classifier.weight.copy_(weight.float())
        classifier.bias.copy_(bias.float())
    model.classifier = classifier.eval().requires_grad_(False)
    return True


def load_imagenet_encoder(model: CaptionModel, weights: str | os.PathLike[str] | None = None) -> None:
    """Load the ImageNet weights (found locally, see :mod:`weights`) into the encoder body.

    Raises:
        ModelLoadError: the weights file does not fit the encoder.
    """
    state = load_encoder_state(model.config.encoder, weights)
    body = model.encoder.body
    if isinstance(body, EfficientNetLite):
        try:
            body.load_reference_state(state)
        except RuntimeError as exc:
            raise ModelLoadError(
                f"the {model.config.encoder} weights file does not fit the encoder: {str(exc).splitlines()[0]}"
            ) from exc
        return
    names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    mapped = {}
    for key, value in state.items():
        prefix, _, rest = key.partition(".")
        if prefix in names:
            mapped[f"{names.index(prefix)}.{rest}"] = value
    body.load_state_dict(mapped)


def load_model(
    path: str | os.PathLike[str], encoder_weights: str | os.PathLike[str] | None = None
) -> tuple[CaptionModel, Checkpoint]:
    """Load a checkpoint and rebuild its model in eval mode on the CPU."""
    checkpoint = load_checkpoint(path)
    return build_model(checkpoint, encoder_weights), checkpoint


def export_checkpoint(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    half: bool = True,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint for shipping: no optimizer or training state, weights in fp16 by default.

    fp16 halves the file; the model is rebuilt in fp32 on load (``load_state_dict`` casts), and
    captions agree with the fp32 weights on all but the closest beam-search ties.
    ``metadata`` is merged into the stored metadata (a model card link, the evaluation).
    """
    ckpt = load_checkpoint(source)

    def cast(state: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
        if state is None:
            return None
        return {k: v.half() if half and v.is_floating_point() else v for k, v in state.items()}

    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": ckpt.config.to_dict(),
        "vocab": ckpt.vocab.to_dict(),
        "decoder": cast(ckpt.decoder_state),
        "encoder": cast(ckpt.encoder_state),
        "metadata": {**ckpt.metadata, **(metadata or {}), "weights_dtype": "float16" if half else "float32"},
        "training": None,
        "concepts": ckpt.concepts.to_dict() if ckpt.concepts is not None else None,
    }
    return _write_atomically(Path(target), payload)
