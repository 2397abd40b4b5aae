"""Training batches: (image or cached features, one caption) pairs, padded and seeded per epoch.

With cached features there is no ``DataLoader``: the whole feature store is one tensor (on the
device when it fits) and every caption of a split is a row of one padded id tensor, so a batch
is a few index operations (:class:`FeatureBatches`). Batches are bucketed by caption length
(:func:`bucket_batches`) so the decoder spends almost nothing on padding.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch.utils.data import Dataset, Sampler

from photoscribe.core.files.imaging import load_image
from photoscribe.core.model.preprocess import ImagePreprocessor
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.training.datasets import ImageRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodedImage:
    source: int  # row in the feature store, or index into the image list
    captions: tuple[tuple[int, ...], ...]  # encoded with <start>/<end>


def encode_records(
    records: Sequence[ImageRecord], vocab: Vocabulary, rows: Sequence[int]
) -> list[EncodedImage]:
    return [
        EncodedImage(row, tuple(tuple(vocab.encode(c)) for c in rec.captions))
        for rec, row in zip(records, rows, strict=True)
        if rec.captions
    ]


def epoch_pairs(
    images: Sequence[EncodedImage], epoch: int, seed: int, all_captions: bool
) -> list[tuple[int, int]]:
    """(image index, caption index) pairs for one epoch, shuffled; the same for the same (seed, epoch).

    With ``all_captions`` False each image appears once per epoch with one of its captions
    chosen at random, as in Show, Attend and Tell; otherwise every caption is used.
    """
    rng = random.Random(seed * 100_003 + epoch)
    if all_captions:
        pairs = [(i, j) for i, img in enumerate(images) for j in range(len(img.captions))]
    else:
        pairs = [(i, rng.randrange(len(img.captions))) for i, img in enumerate(images)]
    rng.shuffle(pairs)
    return pairs


def bucket_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, chunk_batches: int = 64
) -> list[list[int]]:
    """Cut positions ``0..len(lengths)-1`` into batches of near-uniform caption length.

    ``lengths`` are in the epoch's shuffled order (:func:`epoch_pairs`). Each run of
    ``chunk_batches`` batches' worth of positions is sorted by length (longest first, stable)
    and cut into batches, then the order of all batches is shuffled, seeded by (seed, epoch).
    Every position is in exactly one batch, and each batch lists its longest caption first.
    """
    chunk = batch_size * chunk_batches
    batches: list[list[int]] = []
    for lo in range(0, len(lengths), chunk):
        part = sorted(range(lo, min(lo + chunk, len(lengths))), key=lambda k: -lengths[k])
        batches += [part[k : k + batch_size] for k in range(0, len(part), batch_size)]
    random.Random(f"batches-{seed}-{epoch}").shuffle(batches)
    return batches


def pad_captions(captions: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, max length) int64 ids padded with 0, and the (N,) lengths."""
    lengths = np.fromiter(map(len, captions), dtype=np.int64, count=len(captions))
    out = np.zeros((len(captions), int(lengths.max())), dtype=np.int64)
    for i, c in enumerate(captions):
        out[i, : len(c)] = c
    return torch.from_numpy(out), torch.from_numpy(lengths)


def feature_tensor(array: np.ndarray, device: torch.device, headroom: int = 4 << 30) -> torch.Tensor:
    """The feature store as one tensor: on the CUDA device when it fits, else in host memory.

    On CUDA the store must leave ``headroom`` bytes of the device's free memory for training.
    In host memory the tensor shares the (memory-mapped) array, so the operating system's page
    cache holds what fits; batches are gathered from it into pinned buffers (:class:`FeatureBatches`).
    """
    tensor = torch.from_numpy(array)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if tensor.nbytes + headroom <= free:
            return tensor.to(device)
        log.info(
            "feature store (%.1f GiB) does not fit next to training in %.1f GiB free GPU memory: "
            "batches are copied from host memory",
            tensor.nbytes / 2**30,
            free / 2**30,
        )
    return tensor


class FeatureBatches:
    """Batches of (cached features, caption) pairs made with index operations on the device.

    Args:
        features: (images, N, C) store from :func:`feature_tensor`, on ``device`` or on the CPU.
        images: the split's images; ``img.source`` is the image's row in ``features``.
        device: where batches go.
    """

    def __init__(self, features: torch.Tensor, images: Sequence[EncodedImage], device: torch.device) -> None:
        self.features, self.device = features, device
        self.first: list[int] = []  # caption row of each image's first caption
        captions: list[tuple[int, ...]] = []
        sources: list[int] = []
        for img in images:
            self.first.append(len(captions))
            captions += img.captions
            sources += [img.source] * len(img.captions)
        tokens, self.lengths = pad_captions(captions)
        self.tokens = tokens.to(device)
        self.sources = torch.tensor(sources).to(features.device)
        self._resident = features.device.type == device.type  # else gathered on the host, copied per batch
        self._pin = device.type == "cuda"

    def plan(
        self, pairs: Sequence[tuple[int, int]], batch_size: int, seed: int, epoch: int
    ) -> list[torch.Tensor]:
        """An epoch's batches for (image index, caption index) pairs: caption rows on the CPU,
        bucketed by length (:func:`bucket_batches`), each longest first."""
        rows = [self.first[i] + j for i, j in pairs]
        batches = bucket_batches(self.lengths[rows].tolist(), batch_size, seed, epoch)
        flat = torch.tensor([rows[k] for batch in batches for k in batch], dtype=torch.long)
        if self._pin:
            flat = flat.pin_memory()  # slices copy to the device without waiting for it
        return list(flat.split([len(batch) for batch in batches]))

    def batch(
        self, rows: torch.Tensor, dtype: torch.dtype = torch.float32
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(features (B, N, C) as ``dtype``, captions (B, L), lengths (B,) on the CPU) for caption
        ``rows``; captions are trimmed to the batch's longest, L = max(lengths)."""
        lengths = self.lengths[rows]
        index = rows.to(self.device, non_blocking=True)
        captions = self.tokens.index_select(0, index)[:, : int(lengths.max())]
        sources = self.sources.index_select(0, index if self._resident else rows)
        return self._gather(sources, dtype), captions, lengths

    def image_features(self, sources: Sequence[int]) -> torch.Tensor:
        """float32 (B, N, C) on the device for feature rows ``sources``."""
        return self._gather(torch.tensor(list(sources), device=self.features.device), torch.float32)

    def _gather(self, sources: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if self._resident:
            return self.features.index_select(0, sources).to(dtype)
        staged = torch.empty(
            (len(sources), *self.features.shape[1:]), dtype=self.features.dtype, pin_memory=self._pin
        )
        torch.index_select(self.features, 0, sources, out=staged)
        return staged.to(self.device, non_blocking=self._pin).to(dtype)


class ImagePairs(Dataset):
    """(image, caption) pairs decoded from the files, for training the encoder online.

    Items are keys that a :class:`KeySampler` hands out in the main process (so one persistent
    set of workers serves every epoch): (image index, caption index or -1 for the image alone,
    augmentation seed or -1 for none).

    The photo is fitted to the square exactly as at inference (:meth:`ImagePreprocessor.crop`,
    the model's own resize mode: a captioner describes the whole photo, so training must not
    crop parts of it away). Augmentation only mirrors it (swapping the words "left" and "right"
    in the caption, so spatial captions stay true) and jitters brightness and contrast by up to
    10% (no hue or saturation change: colour words must stay true).
    """

    def __init__(
        self,
        paths: Sequence[str],
        images: Sequence[EncodedImage],
        preprocess: ImagePreprocessor,
        vocab: Vocabulary,
    ) -> None:
        self.paths, self.images, self.pre = paths, images, preprocess
        left, right = vocab.stoi.get("left"), vocab.stoi.get("right")
        # A flip swaps the two words (only when the vocabulary has both).
        self.swap: dict[int, int] = (
            {left: right, right: left} if left is not None and right is not None else {}
        )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[torch.Tensor, tuple[int, ...]]:
        i, j, seed = key
        img = self.images[i]
        caption = img.captions[j] if j >= 0 else ()
        path = self.paths[img.source]
        x = TF.pil_to_tensor(self.pre.crop(load_image(path, target_size=self.pre.resize)))  # (3, S, S) uint8
        if seed >= 0:
            rng = random.Random(seed)
            if rng.random() < 0.5:
                x = TF.horizontal_flip(x)
                caption = tuple(self.swap.get(t, t) for t in caption)
            x = TF.adjust_brightness(x, rng.uniform(0.9, 1.1))
            x = TF.adjust_contrast(x, rng.uniform(0.9, 1.1))
        return self.pre.normalize(x.unsqueeze(0))[0], caption


class KeySampler(Sampler[tuple[int, int, int]]):
    """The keys of an :class:`ImagePairs` epoch, set in the main process before each pass.

    A ``DataLoader`` iterates its sampler in the main process and sends only the keys to its
    workers, so with ``persistent_workers`` the same worker processes serve every epoch (and
    validation) while each pass gets its own pairs and augmentation seeds.
    """

    def __init__(self) -> None:
        self.keys: list[tuple[int, int, int]] = []

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


def augment_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of the ``index``-th pair of an epoch (the same on every run)."""
    return (seed * 1_000_003 + epoch) * 10_000_019 + index


def collate(
    batch: list[tuple[torch.Tensor, tuple[int, ...]]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    inputs = torch.stack([x for x, _ in batch])
    captions, lengths = pad_captions([c for _, c in batch])
    return inputs, captions, lengths
