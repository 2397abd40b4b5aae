"""Where a split's training inputs come from: the frozen encoder's feature cache, or the image files.

:func:`prepare_inputs` gives the train and val splits; ``SplitInputs.batches`` yields an epoch's
batches of (features or images, captions, lengths) on the device, the same for the same
(seed, epoch), whichever the source.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from photoscribe.core.captioning.loader import default_workers
from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.paths import cache_dir
from photoscribe.core.progress import ProgressCallback
from photoscribe.training.config import TrainConfig
from photoscribe.training.data import (
    EncodedImage,
    FeatureBatches,
    ImagePairs,
    KeySampler,
    augment_seed,
    collate,
    encode_records,
    epoch_pairs,
    feature_tensor,
)
from photoscribe.training.datasets import CaptionCorpus, ImageRecord
from photoscribe.training.distributed import Ranks
from photoscribe.training.features import extract_features, wait_for_features

log = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # inputs on the device, captions, lengths (CPU)


class SplitInputs:
    """One split's images and captions, read from the feature cache once ``features`` is set,
    else decoded (and augmented, for training) from the files."""

    def __init__(
        self, cfg: TrainConfig, model: CaptionModel, vocab: Vocabulary, records: Sequence[ImageRecord]
    ):
        self.cfg, self.model, self.vocab = cfg, model, vocab
        self.records = list(records)
        self.features: FeatureBatches | None = None
        self.paths = [str(r.path) for r in self.records]
        self.images: list[EncodedImage] = encode_records(self.records, vocab, range(len(self.records)))
        self._loader: tuple[DataLoader, KeySampler] | None = None

    def limit(self, n: int) -> None:
        """Keep the first ``n`` images only."""
        self.records, self.paths = self.records[:n], self.paths[:n]
        self.images = [img for img in self.images if img.source < n]
        self._loader = None

    def drop_failed(self, failed: dict[str, str]) -> None:
        bad = {i for i, p in enumerate(self.paths) if p in failed}
        self.images = [img for img in self.images if img.source not in bad]
        self._loader = None

    def batches(
        self,
        epoch: int,
        shuffle_seed: int,
        train: bool,
        ranks: Ranks,
        device: torch.device,
        dtype: torch.dtype,
    ) -> tuple[int, Iterator[Batch]]:
        """(number of batches, batches of (images or features on the device, captions on the
        device, lengths on the CPU)) for one epoch; features come as ``dtype``."""
        pairs = epoch_pairs(self.images, epoch, shuffle_seed, self.cfg.all_captions)
        if train:
            pairs = ranks.share(pairs)
            ranks.trace("share", epoch=epoch, pairs=[list(pair) for pair in pairs])
        if self.features is not None:
            plan = self.features.plan(pairs, self.cfg.batch_size, shuffle_seed, epoch)
            return len(plan), (self.features.batch(rows, dtype) for rows in plan)
        loader, sampler = self._file_loader(device)
        sampler.keys = [
            (i, j, augment_seed(self.cfg.seed, epoch, k) if train and self.cfg.augment else -1)
            for k, (i, j) in enumerate(pairs)
        ]
        return len(loader), self._moved(loader, device)

    def image_batches(self, device: torch.device) -> Iterator[tuple[list[EncodedImage], torch.Tensor]]:
        """(images, float32 (B, N, C) encoder features on the device) for the whole split in
        batches of ``batch_size``: from the cache, else decoded by the loader's workers and
        encoded a batch at a time."""
        size = self.cfg.batch_size
        chunks = [self.images[lo : lo + size] for lo in range(0, len(self.images), size)]
        if self.features is not None:
            features = self.features
            yield from ((c, features.image_features([img.source for img in c])) for c in chunks)
            return
        loader, sampler = self._file_loader(device)
        sampler.keys = [(i, -1, -1) for i in range(len(self.images))]
        for chunk, (x, _, _) in zip(chunks, self._moved(loader, device), strict=True):
            yield chunk, self.model.encode(x).float()

    def _file_loader(self, device: torch.device) -> tuple[DataLoader, KeySampler]:
        """The split's one ``DataLoader`` over the image files, made on first use; its workers
        persist across epochs (a :class:`KeySampler` gives each pass its keys)."""
        if self._loader is None:
            dataset = ImagePairs(self.paths, self.images, self.model.preprocessor(), self.vocab)
            workers = self.cfg.workers if self.cfg.workers is not None else default_workers()
            sampler = KeySampler()
            loader = DataLoader(
                dataset,
                batch_size=self.cfg.batch_size,
                sampler=sampler,
                collate_fn=collate,
                num_workers=workers,
                pin_memory=device.type == "cuda",
                persistent_workers=workers > 0,
            )
            self._loader = (loader, sampler)
        return self._loader

    @staticmethod
    def _moved(loader: DataLoader, device: torch.device) -> Iterator[Batch]:
        pin = device.type == "cuda"
        for x, caps, lengths in loader:
            yield x.to(device, non_blocking=pin), caps.to(device, non_blocking=pin), lengths


def prepare_inputs(
    cfg: TrainConfig,
    model: CaptionModel,
    vocab: Vocabulary,
    corpus: CaptionCorpus,
    weights_tag: str,
    device: torch.device,
    ranks: Ranks,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> dict[str, SplitInputs]:
    """The "train" and "val" splits; with a frozen encoder, their features extracted (or found in
    the cache, keyed by ``weights_tag``) first."""
    splits = {
        "train": SplitInputs(cfg, model, vocab, corpus.split("train")),
        "val": SplitInputs(cfg, model, vocab, corpus.split("val")),
    }
    if cfg.val_images is not None:
        splits["val"].limit(cfg.val_images)
    if not splits["train"].images or not splits["val"].images:
        raise PhotoscribeError(f"{cfg.data_dir}: need images in both the train and val splits to train")
    if cfg.fine_tune_encoder > 0:
        return splits
    root = cfg.feature_cache or cache_dir() / "features"
    workers = max(1, cfg.workers if cfg.workers is not None else default_workers())
    for name, inputs in splits.items():
        paths = [Path(p) for p in inputs.paths]
        if ranks.main:  # rank 0 extracts; the others wait for the finished cache, then open it
            store = extract_features(
                model,
                paths,
                root,
                weights_tag,
                device=device,
                batch_size=cfg.batch_size,
                workers=workers,
                on_progress=on_progress,
                cancel=cancel,
            )
            if not ranks.one_machine:
                ranks.barrier()
        elif ranks.one_machine:  # no barrier: NCCL's would time out during a long extraction
            store = wait_for_features(model, paths, root, weights_tag, device=device, cancel=cancel)
        else:  # another machine's cache: wait for rank 0, then extract what this cache lacks
            ranks.barrier()
            store = extract_features(model, paths, root, weights_tag, device=device)
        inputs.drop_failed(store.failed)
        inputs.features = FeatureBatches(feature_tensor(store.array, device), inputs.images, device)
        log.info("%s: %d images with cached features", name, len(inputs.images))
    return splits
