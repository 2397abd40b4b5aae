"""On-disk cache of frozen-encoder features (fp16, memory-mapped).

Extracting ResNet features is the expensive part of training with a frozen
encoder, and it gives the same answer every time: do it once per
(encoder, weights, image size, image list), reuse it across runs, and resume
an interrupted extraction where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from photoscribe.core.errors import UnsupportedImageError
from photoscribe.core.imaging import ImagePreprocessor
from photoscribe.core.model import CaptionModel
from photoscribe.core.progress import ProgressCallback, ProgressTracker, check_cancel

log = logging.getLogger(__name__)


@dataclass
class FeatureStore:
    """Features of a list of images: ``array[i]`` is (N, C) fp16 for ``paths[i]``."""

    directory: Path
    paths: list[str]
    array: np.memmap
    failed: dict[str, str]  # path -> reason; their rows are zero

    def __len__(self) -> int:
        return len(self.paths)


def cache_key(model: CaptionModel, weights_tag: str, paths: Sequence[Path]) -> str:
    cfg = model.config
    h = hashlib.sha256()
    h.update(f"{cfg.encoder}|{weights_tag}|{cfg.image_size}|{cfg.resize}|{cfg.encoder_grid}".encode())
    for p in paths:
        h.update(str(Path(p).resolve()).encode() + b"\0")
    return f"{cfg.encoder}-{cfg.image_size}px-{h.hexdigest()[:16]}"


def _write_meta(path: Path, meta: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta), "utf-8")
    os.replace(tmp, path)


@torch.no_grad()
def extract_features(
    model: CaptionModel,
    paths: Sequence[Path],
    cache_root: Path,
    weights_tag: str,
    *,
    device: torch.device,
    batch_size: int = 64,
    workers: int = 4,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> FeatureStore:
    """Return cached features for ``paths``, computing (or finishing) them first if needed."""
    directory = cache_root / cache_key(model, weights_tag, paths)
    directory.mkdir(parents=True, exist_ok=True)
    meta_path, data_path = directory / "meta.json", directory / "features.f16"
    h, w = model.grid_shape
    shape = (len(paths), h * w, model.encoder.channels)
    meta: dict = {"shape": list(shape), "done": 0, "failed": {}, "paths": [str(p) for p in paths]}
    if meta_path.is_file() and data_path.is_file():
        old = json.loads(meta_path.read_text("utf-8"))
        if old.get("shape") == list(shape) and old.get("paths") == meta["paths"]:
            meta = old
    mode: Literal["r+", "w+"] = "r+" if data_path.is_file() and meta["done"] > 0 else "w+"
    array = np.memmap(data_path, dtype=np.dtype("float16"), mode=mode, shape=shape)
    tracker = ProgressTracker("extract", len(paths), on_progress)
    start = int(meta["done"])
    if start >= len(paths):
        log.info("reusing cached features in %s", directory)
        return FeatureStore(directory, meta["paths"], array, dict(meta["failed"]))
    if start:
        log.info("resuming feature extraction at %d of %d", start, len(paths))
    pre = ImagePreprocessor(image_size=model.config.image_size, resize=model.config.resize)
    encoder = model.encoder.to(device).eval()

    def load(path: Path) -> torch.Tensor | str:
        try:
            return pre.load(path)
        except UnsupportedImageError as exc:
            return exc.reason

    with ThreadPoolExecutor(workers) as pool:
        for lo in range(start, len(paths), batch_size):
            check_cancel(cancel)
            chunk = list(pool.map(load, paths[lo : lo + batch_size]))
            ok = [i for i, t in enumerate(chunk) if isinstance(t, torch.Tensor)]
            for i, t in enumerate(chunk):
                if isinstance(t, str):
                    meta["failed"][str(paths[lo + i])] = t
                    array[lo + i] = 0
            if ok:
                batch = torch.stack([chunk[i] for i in ok]).to(device)  # type: ignore[misc]
                with torch.autocast(device.type, enabled=device.type == "cuda"):
                    feats = encoder(batch)
                array[[lo + i for i in ok]] = feats.float().cpu().numpy().astype(np.float16)
            meta["done"] = min(lo + batch_size, len(paths))
            array.flush()
            _write_meta(meta_path, meta)
            tracker.update(meta["done"])
    if meta["failed"]:
        log.warning("%d images could not be read and are left out of training", len(meta["failed"]))
    return FeatureStore(directory, meta["paths"], array, dict(meta["failed"]))
