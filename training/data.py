"""Training batches: (image or cached features, one caption) pairs, padded and seeded per epoch."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch.utils.data import Dataset

from photoscribe.core.imaging import ImagePreprocessor, load_image
from photoscribe.core.vocab import Vocabulary
from photoscribe.training.datasets import ImageRecord


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


def pad_captions(captions: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(c) for c in captions])
    out = torch.zeros(len(captions), int(lengths.max()), dtype=torch.long)
    for i, c in enumerate(captions):
        out[i, : len(c)] = torch.tensor(c)
    return out, lengths


class FeaturePairs(Dataset):
    """Pairs over a memory-mapped feature store: no image decoding in the loop."""

    def __init__(
        self, features: np.ndarray, images: Sequence[EncodedImage], pairs: list[tuple[int, int]]
    ) -> None:
        self.features, self.images, self.pairs = features, images, pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, tuple[int, ...]]:
        i, j = self.pairs[index]
        img = self.images[i]
        return torch.from_numpy(np.asarray(self.features[img.source], dtype=np.float32)), img.captions[j]


class ImagePairs(Dataset):
    """Pairs that decode images on the fly, for fine-tuning the encoder, with seeded augmentation.

    Augmentation: a random crop of the resized image and a horizontal flip; a flip swaps the
    words "left" and "right" in the caption so spatial captions stay true.
    """

    def __init__(
        self,
        paths: Sequence[str],
        images: Sequence[EncodedImage],
        pairs: list[tuple[int, int]],
        preprocess: ImagePreprocessor,
        vocab: Vocabulary,
        *,
        augment: bool,
        seed: int,
        epoch: int,
    ) -> None:
        self.paths, self.images, self.pairs = paths, images, pairs
        self.pre, self.augment, self.seed, self.epoch = preprocess, augment, seed, epoch
        self.swap = {
            vocab.stoi.get("left"): vocab.stoi.get("right"),
            vocab.stoi.get("right"): vocab.stoi.get("left"),
        }
        self.swap.pop(None, None)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, tuple[int, ...]]:
        i, j = self.pairs[index]
        img = self.images[i]
        caption = img.captions[j]
        path = self.paths[img.source]
        if not self.augment:
            return self.pre.load(path), caption
        rng = random.Random((self.seed * 1_000_003 + self.epoch) * 10_000_019 + index)
        tensor = TF.to_image(load_image(path, target_size=self.pre.resize))
        tensor = TF.resize(tensor, [self.pre.resize], antialias=True)
        h, w = tensor.shape[-2:]
        size = self.pre.image_size
        top, left = rng.randint(0, max(0, h - size)), rng.randint(0, max(0, w - size))
        tensor = TF.crop(tensor, top, left, size, size)
        if rng.random() < 0.5:
            tensor = TF.horizontal_flip(tensor)
            caption = tuple(self.swap.get(t, t) for t in caption)
        tensor = TF.to_dtype(tensor, torch.float32, scale=True)
        tensor = TF.normalize(tensor, list(self.pre.mean), list(self.pre.std))
        return tensor, caption


def collate(
    batch: list[tuple[torch.Tensor, tuple[int, ...]]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    inputs = torch.stack([x for x, _ in batch])
    captions, lengths = pad_captions([c for _, c in batch])
    return inputs, captions, lengths
