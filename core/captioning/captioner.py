"""The captioning service: load a model once, caption many photos in batches.

The pipeline: worker processes decode the next batches (:class:`~photoscribe.core.captioning.loader.PhotoLoader`)
while this thread runs the encoder and a batched beam search on the device; the batch
travels as uint8 (pinned on a GPU) and is normalised on the device. The encoder runs
channels-last, under bf16 autocast where the hardware has fast bf16 (CUDA, and CPUs
with AMX or AVX512-BF16); the decoder stays in float32.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Generator, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from photoscribe.core.captioning.decode_limits import DecodeCost, budget_bytes, check_decoding
from photoscribe.core.captioning.device import autocast, encoder_dtype, pick_device
from photoscribe.core.captioning.loader import PhotoLoader, default_workers
from photoscribe.core.captioning.results import (
    Alternative,
    BatchReport,
    CaptionFailure,
    CaptionResult,
    Keyword,
)
from photoscribe.core.choices import DEFAULT_BEAM, DEFAULT_LENGTH_PENALTY
from photoscribe.core.errors import BrokenModelError
from photoscribe.core.model.checkpoint import Checkpoint, load_model
from photoscribe.core.model.decoding import beam_search, caption_logprobs
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.progress import ProgressCallback, ProgressTracker

log = logging.getLogger(__name__)

__all__ = ["BROKEN_AFTER", "Alternative", "BatchReport", "CaptionFailure", "CaptionResult", "Captioner"]

# Photos in a row for which a model gives no usable caption before it is refused as broken.
BROKEN_AFTER = 3


def _decode_budget(device: torch.device) -> tuple[int, str | None]:
    """Bytes captioning a batch may take on ``device``, and how a message names them: half the
    free memory of a GPU, else ``PHOTOSCRIBE_DECODE_BUDGET_MB`` (see :mod:`decode_limits`)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free // 2, "half the GPU's free memory, "
    return budget_bytes(), None


class Captioner:
    """Captions photos with a :class:`CaptionModel` on the best available device.

    Images are decoded by worker processes a few batches ahead of the model; a file
    that cannot be read becomes a :class:`CaptionFailure` and the batch carries on.
    Call :meth:`close` (or use it as a context manager) to stop the workers early;
    they also stop with the process.

    Args:
        workers: decode workers (default: every core but one).
        processes: decode in worker processes (default) or in threads of this process
            (default when there is only one worker: on a two-core machine the model
            needs the other core).
        batch_size: photos per model call (default 16 on a CPU, 128 on a GPU).
        precision: the encoder's arithmetic; see :func:`encoder_dtype`.
        compile: run the encoder through ``torch.compile`` (about 1.5x faster on a CPU, after
            half a minute of compiling; worth it for thousands of photos, not for a few).
        guard: let the model's concept head push down object words the photo does not support
            (models without one decode as before).
        keyword_threshold: keep a keyword when its ImageNet probability is at least this
            (default: the calibrated :data:`~photoscribe.core.model.labels.DEFAULT_THRESHOLD`).
        failure_id: who is charged for a photo the model fails (default ``model_id``;
            :meth:`load` gives the checkpoint's, which includes the file's content hash).
        max_len: words per caption at most (default: the vocabulary's).
    """

    def __init__(
        self,
        model: CaptionModel,
        vocab: Vocabulary,
        *,
        model_id: str = "model",
        device: str | torch.device | None = None,
        beam_size: int = DEFAULT_BEAM,
        n_best: int = 3,
        batch_size: int | None = None,
        length_penalty: float = DEFAULT_LENGTH_PENALTY,
        workers: int | None = None,
        processes: bool | None = None,
        precision: str = "auto",
        compile: bool = False,
        resize_mode: str | None = None,
        guard: bool = True,
        keyword_threshold: float | None = None,
        failure_id: str | None = None,
        max_len: int | None = None,
    ) -> None:
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.model = model.to(self.device).eval()
        self.model.encoder.to(memory_format=torch.channels_last)
        self.vocab = vocab
        self.model_id = model_id
        self.failure_id = failure_id or model_id
        self.source: str = model_id  # what a message names: the checkpoint file when loaded from one
        self.max_len = max_len or vocab.max_len
        self._unusable_in_a_row = 0  # photos in a row the model gave no usable caption
        self.beam_size = beam_size
        self.n_best = n_best
        # What a photo and a beam cost with this model, and what the device may spend on them.
        self.decode_cost = DecodeCost.of_model(
            cells=model.grid_shape[0] * model.grid_shape[1],
            channels=model.encoder.channels,
            attention_dim=model.config.attention_dim,
            vocab_size=len(vocab),
            image_size=model.config.image_size,
            max_length=self.max_len,
        )
        budget, where = _decode_budget(self.device)
        if batch_size is None:  # the default, made smaller when a large beam would not fit the budget
            default = 128 if self.device.type == "cuda" else 16
            self.batch_size = min(default, self.decode_cost.max_batch_size(budget, beam_size))
        else:
            self.batch_size = batch_size
        check_decoding(beam_size, self.batch_size, self.decode_cost, budget, where)
        self.length_penalty = length_penalty
        self.precision = precision
        self.dtype = encoder_dtype(self.device, precision)
        self.preprocess = model.preprocessor()
        if resize_mode is not None:  # evaluation compares how photos are fitted to the square
            self.preprocess = dataclasses.replace(self.preprocess, mode=resize_mode)
        self.grid = model.grid_shape
        self.guard = guard and model.concepts is not None
        self._vocab_concepts = model.concepts.vocab_index(vocab) if model.concepts is not None else None
        self.keyword_threshold = keyword_threshold
        # Compiled for one batch shape: a short last batch is padded up to it (no recompiling).
        self._encode = torch.compile(self.model.encode, dynamic=False) if compile else self.model.encode
        self.compiled = compile
        n_workers = workers or default_workers()
        self.loader = PhotoLoader(
            self.preprocess,
            workers=n_workers,
            processes=n_workers > 1 if processes is None else processes,
            pin_memory=self.device.type == "cuda",
        )

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
        captioner = cls(
            model,
            ckpt.vocab,
            model_id=ckpt.model_id,
            failure_id=ckpt.failure_id,
            device=device,
            **options,  # type: ignore[arg-type]
        )
        captioner.checkpoint = ckpt
        captioner.source = f"{ckpt.model_id} ({os.fspath(path)})"
        return captioner

    def close(self) -> None:
        """Stop the decode workers (a later call starts new ones)."""
        self.loader.close()

    def __enter__(self) -> Captioner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    checkpoint: Checkpoint | None = None

    @torch.inference_mode()
    def _caption(
        self, images: torch.Tensor, paths: Sequence[Path], start: float
    ) -> list[CaptionResult | str]:
        """Each image's result, or why the model gave none (a str: non-finite scores, an empty caption)."""
        images = images.to(self.device, non_blocking=True)
        if images.dtype == torch.uint8:
            images = self.preprocess.normalize(images)
        n = images.shape[0]
        if self.compiled and n < self.batch_size:
            images = torch.cat([images, images.new_zeros((self.batch_size - n, *images.shape[1:]))])
        images = images.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.dtype):
            features = self._encode(images)  # (B, N, C)
        features = features[:n].float()
        concepts = self.model.concepts
        imagenet, concept_probs, head_probs, bias = self._evidence(features)
        hyps = beam_search(
            self.model.decoder,
            features,
            beam_size=self.beam_size,
            n_best=self.n_best,
            max_len=self.max_len,
            length_penalty=self.length_penalty,
            word_bias=bias,
        )
        fluency = None
        usable = [bool(nbest) and math.isfinite(nbest[0].logprob) and bool(nbest[0].tokens) for nbest in hyps]
        if concepts is not None and concepts.fluency_center is not None and all(usable):
            fluency = caption_logprobs(
                self.model.decoder, features, [nbest[0].tokens for nbest in hyps]
            ).tolist()
        keywords = self._keywords(imagenet, n)
        if concepts is not None and head_probs is not None:
            keywords = [concepts.check_keywords(kw, head_probs[i].cpu()) for i, kw in enumerate(keywords)]
        pooled = torch.nn.functional.normalize(features.mean(dim=1), dim=1).cpu().numpy()
        per_image = (time.perf_counter() - start) / max(1, len(paths))
        h, w = self.grid
        results: list[CaptionResult | str] = []
        for i, (path, nbest, feat) in enumerate(zip(paths, hyps, pooled, strict=True)):
            if not usable[i]:
                results.append(self._unusable(nbest))
                continue
            best = nbest[0]
            words = tuple(self.vocab.itos[t] for t in best.tokens)
            if not best.text(self.vocab).strip():
                results.append(f"model {self.model_id} produced an empty caption")
                continue
            attention = best.attention.numpy().reshape(len(words), h, w).astype(np.float32)
            alts = tuple(Alternative(hyp.text(self.vocab), hyp.logprob) for hyp in nbest)
            confidence = None
            if concepts is not None and concept_probs is not None:
                flu = None if fluency is None else fluency[i]
                confidence = round(concepts.confidence(words, concept_probs[i].cpu(), flu), 4)
            results.append(
                CaptionResult(
                    path,
                    alts[0].text,
                    best.logprob,
                    alts,
                    words,
                    attention,
                    feat,
                    per_image,
                    keywords[i],
                    confidence,
                )
            )
        return results

    def _evidence(
        self, features: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """What the encoder's classifier and the concept head say the photos show.

        Returns the ImageNet probabilities (B, 1000), the concept probabilities fused with them
        (B, K), the head's own probabilities (which veto ImageNet keywords, docs/keywords.md) and
        the concept guard's word bias for decoding; each None where the model lacks the part.
        """
        concepts = self.model.concepts
        imagenet = self.model.imagenet_probabilities(features)  # None without a classifier
        concept_probs = concepts.probabilities(features) if concepts is not None else None
        head_probs = concept_probs
        if concepts is not None and concept_probs is not None and imagenet is not None:
            from photoscribe.core.model.labels import keyword_vocabulary

            terms = keyword_vocabulary()
            concept_probs = concepts.fuse(concept_probs, terms.term_probabilities(imagenet), terms.terms)
        bias = None
        if (
            self.guard
            and concepts is not None
            and concept_probs is not None
            and self._vocab_concepts is not None
        ):
            bias = concepts.word_bias(concept_probs, self._vocab_concepts)
        return imagenet, concept_probs, head_probs, bias

    def _unusable(self, nbest: Sequence[object]) -> str:
        if nbest:
            return f"model {self.model_id} produced an empty caption or a score that is not finite"
        return (
            f"model {self.model_id} produced no caption: its scores are not finite "
            "(broken or NaN weights?); caption with another checkpoint"
        )

    def _keywords(self, probs: torch.Tensor | None, n: int) -> list[tuple[Keyword, ...]]:
        """Keywords of each photo from the encoder's ImageNet class probabilities (none without them)."""
        if probs is None:
            return [()] * n
        from photoscribe.core.model.labels import DEFAULT_THRESHOLD, keyword_vocabulary

        threshold = DEFAULT_THRESHOLD if self.keyword_threshold is None else self.keyword_threshold
        return keyword_vocabulary().keywords(probs.cpu(), threshold=threshold)

    def iter_batches(
        self, paths: Iterable[str | os.PathLike[str]], cancel: threading.Event | None = None
    ) -> Generator[tuple[list[CaptionResult], list[CaptionFailure]], None, None]:
        """Yield (results, failures) per batch, in input order; stops early (between batches)
        when ``cancel`` is set.

        ``paths`` may be a generator over any number of files: it is consumed as the
        pipeline needs it, and memory stays bounded (a few batches of pixels).

        A photo the model gives no usable caption (scores that are not finite, an empty
        caption) is a failure of that photo, by this model; after :data:`BROKEN_AFTER` such
        photos in a row the batch is yielded (so its failures are recorded) and then the model
        is refused as broken.

        Raises:
            BrokenModelError: the model gave no usable caption for ``BROKEN_AFTER`` photos in a row.
        """
        self._unusable_in_a_row = 0
        for batch in self.loader.batches(paths, self.batch_size, cancel):
            start = time.perf_counter()
            failures = [CaptionFailure(p, reason) for p, reason in batch.failures]
            results: list[CaptionResult] = []
            if batch.images is not None:
                for path, item in zip(
                    batch.paths, self._caption(batch.images, batch.paths, start), strict=True
                ):
                    if isinstance(item, str):
                        failures.append(CaptionFailure(path, item))
                        self._unusable_in_a_row += 1
                    else:
                        results.append(item)
                        self._unusable_in_a_row = 0
            yield results, failures
            if self._unusable_in_a_row >= BROKEN_AFTER:
                raise BrokenModelError(
                    f"the model {self.source} is broken: it gave no usable caption (scores that are "
                    f"not finite, or empty captions) for {self._unusable_in_a_row} photos in a row, so "
                    "captioning stopped; copy the model file again or choose another model"
                )

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
