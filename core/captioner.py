"""The captioning service: load a model once, caption many photos in batches."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from photoscribe.core.checkpoint import Checkpoint, load_model
from photoscribe.core.decoding import beam_search
from photoscribe.core.device import pick_device
from photoscribe.core.errors import UnsupportedImageError
from photoscribe.core.imaging import ImagePreprocessor
from photoscribe.core.model import CaptionModel
from photoscribe.core.progress import ProgressCallback, ProgressTracker
from photoscribe.core.vocab import Vocabulary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alternative:
    text: str
    logprob: float


@dataclass(frozen=True)
class CaptionResult:
    """A captioned photo.

    Attributes:
        alternatives: the n-best captions, best first (the first is ``text``).
        attention: (n_words, h, w) attention map per word of ``text``.
        feature: L2-normalised mean-pooled encoder feature (C,), for "more like this".
    """

    path: Path
    text: str
    logprob: float
    alternatives: tuple[Alternative, ...]
    words: tuple[str, ...]
    attention: np.ndarray
    feature: np.ndarray
    seconds: float


@dataclass(frozen=True)
class CaptionFailure:
    path: Path
    error: str


@dataclass
class BatchReport:
    results: list[CaptionResult] = field(default_factory=list)
    failures: list[CaptionFailure] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0


class Captioner:
    """Captions photos with a :class:`CaptionModel` on the best available device.

    Images are decoded on a small thread pool while the model works on the
    previous batch; a file that cannot be read becomes a :class:`CaptionFailure`
    and the batch carries on.
    """

    def __init__(
        self,
        model: CaptionModel,
        vocab: Vocabulary,
        *,
        model_id: str = "model",
        device: str | torch.device | None = None,
        beam_size: int = 3,
        n_best: int = 3,
        batch_size: int = 16,
        length_penalty: float = 0.0,
        workers: int | None = None,
    ) -> None:
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.model = model.to(self.device).eval()
        self.vocab = vocab
        self.model_id = model_id
        self.beam_size = beam_size
        self.n_best = n_best
        self.batch_size = batch_size
        self.length_penalty = length_penalty
        self.workers = workers or min(4, os.cpu_count() or 1)
        cfg = model.config
        self.preprocess = ImagePreprocessor(image_size=cfg.image_size, resize=cfg.resize)
        self.grid = model.grid_shape

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        device: str | torch.device | None = None,
        encoder_weights: str | os.PathLike[str] | None = None,
        **options: object,
    ) -> Captioner:
        """Load a checkpoint (safely) and build a captioner for it."""
        model, ckpt = load_model(path, encoder_weights)
        captioner = cls(model, ckpt.vocab, model_id=ckpt.model_id, device=device, **options)  # type: ignore[arg-type]
        captioner.checkpoint = ckpt
        return captioner

    checkpoint: Checkpoint | None = None

    @torch.no_grad()
    def caption_tensor(self, images: torch.Tensor) -> list[CaptionResult]:
        """Caption a preprocessed batch (B, 3, H, W); paths in the results are empty."""
        return self._caption(images, [Path()] * images.shape[0], time.perf_counter())

    def _caption(self, images: torch.Tensor, paths: Sequence[Path], start: float) -> list[CaptionResult]:
        images = images.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            features = self.model.encode(images)  # (B, N, C)
        features = features.float()
        hyps = beam_search(
            self.model.decoder,
            features,
            beam_size=self.beam_size,
            n_best=self.n_best,
            max_len=self.vocab.max_len,
            length_penalty=self.length_penalty,
        )
        pooled = torch.nn.functional.normalize(features.mean(dim=1), dim=1).cpu().numpy()
        per_image = (time.perf_counter() - start) / max(1, len(paths))
        h, w = self.grid
        results = []
        for path, nbest, feat in zip(paths, hyps, pooled, strict=True):
            best = nbest[0]
            words = tuple(self.vocab.itos[t] for t in best.tokens)
            attention = best.attention.numpy().reshape(len(words), h, w).astype(np.float32)
            alts = tuple(Alternative(hyp.text(self.vocab), hyp.logprob) for hyp in nbest)
            results.append(
                CaptionResult(path, alts[0].text, best.logprob, alts, words, attention, feat, per_image)
            )
        return results

    def iter_batches(
        self, paths: Iterable[str | os.PathLike[str]], cancel: threading.Event | None = None
    ) -> Iterator[tuple[list[CaptionResult], list[CaptionFailure]]]:
        """Yield (results, failures) per batch; stops early (between batches) when ``cancel`` is set.

        The next batch's images are decoded on worker threads while the model runs on this one.
        """
        path_list = [Path(p) for p in paths]
        batches = [path_list[i : i + self.batch_size] for i in range(0, len(path_list), self.batch_size)]
        if not batches:
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="photoscribe-load") as pool:
            pending = [pool.submit(self._load_one, p) for p in batches[0]]
            for index in range(len(batches)):
                futures = pending
                if index + 1 < len(batches):
                    pending = [pool.submit(self._load_one, p) for p in batches[index + 1]]
                loaded = [f.result() for f in futures]
                if cancel is not None and cancel.is_set():
                    for f in pending:
                        f.cancel()
                    return
                start = time.perf_counter()
                tensors = [(p, t) for p, t in loaded if isinstance(t, torch.Tensor)]
                failures = [CaptionFailure(p, t) for p, t in loaded if isinstance(t, str)]
                results: list[CaptionResult] = []
                if tensors:
                    batch = torch.stack([t for _, t in tensors])
                    results = self._caption(batch, [p for p, _ in tensors], start)
                yield results, failures

    def _load_one(self, path: Path) -> tuple[Path, torch.Tensor | str]:
        """Preprocessed tensor, or the reason the file cannot be used."""
        try:
            return path, self.preprocess.load(path)
        except UnsupportedImageError as exc:
            return path, exc.reason

    def caption_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> BatchReport:
        """Caption every path; failures are collected per file, never abort the run."""
        path_list = list(paths)
        tracker = ProgressTracker("caption", len(path_list), on_progress)
        report = BatchReport()
        start = time.perf_counter()
        for results, failures in self.iter_batches(path_list, cancel):
            report.results.extend(results)
            report.failures.extend(failures)
            last = results[-1].text if results else ""
            tracker.advance(len(results) + len(failures), last)
        report.cancelled = bool(cancel is not None and cancel.is_set()) and (
            len(report.results) + len(report.failures) < len(path_list)
        )
        report.seconds = time.perf_counter() - start
        return report
