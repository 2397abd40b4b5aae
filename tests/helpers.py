"""What several test modules share that is not a fixture: tiny model settings, polling, photos, libraries."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from photoscribe.core.library.database import Library
from photoscribe.core.model.decoder import PackedDecoding
from photoscribe.core.model.network import ModelConfig

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

WORDS = [
    "a",
    "red",
    "green",
    "blue",
    "circle",
    "square",
    "triangle",
    "on",
    "the",
    "left",
    "right",
    "of",
    "and",
    "to",
    "big",
    "small",
]


def tiny_config(vocab_size: int, **overrides: object) -> ModelConfig:
    params: dict[str, object] = dict(
        vocab_size=vocab_size,
        encoder="tinyresnet",
        encoder_weights="checkpoint",
        image_size=64,
        resize=72,
        embed_dim=16,
        hidden_dim=32,
        attention_dim=24,
        dropout=0.0,
    )
    params.update(overrides)
    return ModelConfig(**params)  # type: ignore[arg-type]


def unpack(out: PackedDecoding, values: torch.Tensor) -> torch.Tensor:
    """Packed rows (P, ...) of ``out`` -> (B, T-1, ...) in the batch's own order, zero past each end."""
    sorted_indices = unsorted_indices = None
    if out.sorted_indices is not None:
        sorted_indices = out.sorted_indices.to(values.device)
        unsorted_indices = torch.argsort(sorted_indices)
    packed = PackedSequence(values, out.batch_sizes, sorted_indices, unsorted_indices)
    return pad_packed_sequence(packed, batch_first=True)[0]


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` every ``interval`` s until it is truthy; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def make_photos(folder: Path, n: int) -> list[Path]:
    """``n`` small noise JPEGs of different heights, the same on every call."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"photo{i:02d}.jpg"
        Image.fromarray(rng.integers(0, 255, (60 + i, 80, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def set_feature(library: Library, photo_id: int, feature: np.ndarray, feature_model: str) -> bool:
    """Store a photo's "more like this" feature as the caption queue's store step does."""
    from photoscribe.core.library.queue import store_feature

    with library.transaction() as session:
        return store_feature(session, photo_id, feature, feature_model)


def get_feature(library: Library, photo_id: int) -> np.ndarray | None:
    """The stored (normalised, float32) feature of a photo, if any."""
    from photoscribe.core.library.blobs import decode_feature
    from photoscribe.core.library.photos import find_photo

    with library.session() as session:
        found = find_photo(session, photo_id)
        return None if found is None or found.feature is None else decode_feature(found.feature)


# Set once per test session (per xdist worker) by tests/conftest.py to a folder of pytest's own temp tree.
LIBRARY_TEMPLATE_FOLDER: Path | None = None
_library_template: Path | None = None


def library_template() -> Path:
    """An empty library file at the newest schema, made by running every migration once per session.

    Made on first use (a session that makes no library pays nothing) and left read-only: tests get
    copies of it through :func:`new_library_file`.
    """
    global _library_template
    if _library_template is None:
        if LIBRARY_TEMPLATE_FOLDER is None:
            raise RuntimeError(
                "tests/conftest.py sets LIBRARY_TEMPLATE_FOLDER at the start of a test session"
            )
        path = LIBRARY_TEMPLATE_FOLDER / "library.sqlite3"
        Library.open(path).close()  # the last connection closed checkpoints the WAL: one self-contained file
        assert not path.with_name(path.name + "-wal").exists(), "the template's WAL was not checkpointed"
        path.chmod(0o444)
        _library_template = path
    return _library_template


def new_library_file(path: Path) -> Path:
    """Put a new empty library at ``path`` (a copy of :func:`library_template`, 2 ms against 0.1 s of
    migrations) and return ``path``; opening it runs no migration. Tests of the migrations themselves
    (a fresh file, an older schema) call ``Library.open`` on their own file instead."""
    if path.exists():
        raise FileExistsError(f"{path} exists: new_library_file makes a new library")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(library_template(), path)
    return path


def new_library(path: Path) -> Library:
    """A new empty library at ``path``, open (close it, or use it in a ``with``): see :func:`new_library_file`."""
    return Library.open(new_library_file(path))
