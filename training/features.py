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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from photoscribe.core.captioning.device import autocast, encoder_dtype
from photoscribe.core.captioning.loader import PhotoLoader
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.preprocess import ImagePreprocessor
from photoscribe.core.progress import ProgressCallback, ProgressTracker, check_cancel

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 5.0  # how often extraction progress is made durable


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
    h.update(
        f"{cfg.encoder}|{weights_tag}|{cfg.image_size}|{cfg.resize}|{cfg.resize_mode}|{cfg.encoder_grid}".encode()
    )
    for p in paths:
        h.update(os.fsencode(Path(p).resolve()) + b"\0")  # a name's bytes, UTF-8 or not
    return f"{cfg.encoder}-{cfg.image_size}px-{h.hexdigest()[:16]}"


def _write_meta(path: Path, meta: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta), "utf-8")
    os.replace(tmp, path)


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
    """Return cached features for ``paths``, computing (or finishing) them first if needed.

    Images are decoded by ``workers`` worker processes (threads when ``workers`` is 1) a few
    batches ahead of the encoder (:class:`~photoscribe.core.captioning.loader.PhotoLoader`) and travel as
    uint8, pinned on a GPU; the encoder runs channels-last in the captioner's precision
    (:func:`~photoscribe.core.captioning.device.encoder_dtype`: bf16 on CUDA and on CPUs with fast bf16).
    Progress is made durable (array flushed, then ``meta.json``) every few seconds and whenever
    the extraction stops, so an interrupted extraction resumes after the last flushed batch.
    """
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
    pre = model.preprocessor()
    loader = PhotoLoader(pre, workers=workers, processes=workers > 1, pin_memory=device.type == "cuda")
    encoder = model.encoder.to(device).eval()
    dtype = encoder_dtype(device)

    def flush(done: int) -> None:
        array.flush()
        meta["done"] = done
        _write_meta(meta_path, meta)

    done, flushed_at = start, time.monotonic()
    try:
        encoder.to(memory_format=torch.channels_last)
        for batch in loader.batches(paths[start:], batch_size, cancel):
            failed = dict(batch.failures)
            chunk = paths[done : done + len(batch.paths) + len(batch.failures)]
            rows = []
            for row, path in enumerate(chunk, done):
                if Path(path) in failed:
                    meta["failed"][str(path)] = failed[Path(path)]
                    array[row] = 0
                else:
                    rows.append(row)
            if batch.images is not None:
                array[rows] = _encode(encoder, pre, batch.images, device, dtype)
            done += len(chunk)
            if time.monotonic() - flushed_at >= FLUSH_EVERY_S:
                flush(done)
                flushed_at = time.monotonic()
            tracker.update(done)
        check_cancel(cancel)
    finally:
        loader.close()
        encoder.to(memory_format=torch.contiguous_format)
        flush(done)
    if meta["failed"]:
        log.warning("%d images could not be read and are left out of training", len(meta["failed"]))
    return FeatureStore(directory, meta["paths"], array, dict(meta["failed"]))


def wait_for_features(
    model: CaptionModel,
    paths: Sequence[Path],
    cache_root: Path,
    weights_tag: str,
    *,
    device: torch.device,
    poll_s: float = 2.0,
    cancel: threading.Event | None = None,
) -> FeatureStore:
    """The features another process (rank 0) is extracting for ``paths``, once it has finished.

    Polls the cache's ``meta.json`` instead of waiting in a collective operation: a barrier
    would time out (NCCL's default is 10 minutes) long before a large data set is extracted.
    """
    h, w = model.grid_shape
    shape = [len(paths), h * w, model.encoder.channels]
    names = [str(p) for p in paths]
    meta_path = cache_root / cache_key(model, weights_tag, paths) / "meta.json"
    while True:
        check_cancel(cancel)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
        except (OSError, ValueError):  # not written yet
            meta = {}
        if meta.get("shape") == shape and meta.get("paths") == names and meta.get("done", 0) >= len(paths):
            return extract_features(model, paths, cache_root, weights_tag, device=device)
        time.sleep(poll_s)


@torch.inference_mode()
def _encode(
    encoder: torch.nn.Module,
    pre: ImagePreprocessor,
    images: torch.Tensor,
    device: torch.device,
    dtype: torch.dtype | None,
) -> np.ndarray:
    """(B, N, C) fp16 features of a uint8 (B, 3, S, S) channels-last batch (pinned for a GPU)."""
    batch = pre.normalize(images.to(device, non_blocking=True))  # stays channels-last
    with autocast(device, dtype):
        feats = encoder(batch)
    return feats.to(torch.float16).cpu().numpy()
