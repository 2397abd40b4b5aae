"""Decoding photos for the model in worker processes, a few batches ahead of it.

A 12-megapixel JPEG costs far more to decode than the model spends on it, so
decoding runs beside the model: :class:`PhotoLoader` hands batches of paths to
a pool of worker processes (JPEG draft decoding, resize and centre crop in
each), keeps at most ``prefetch`` batches in flight, and yields each batch as
one uint8 NHWC tensor (in pinned memory when the model is on a GPU) plus the
files that could not be used. Memory stays bounded whatever the folder size,
and whatever the number of workers: they share one
:class:`~photoscribe.core.files.decode_budget.DecodeBudget` (thread workers share their
process's), so the images decoded at once never take more than it together.

Worker processes are started with ``forkserver`` on Linux (safe in a process
that runs Qt or CUDA threads) and ``spawn`` elsewhere, once per loader, and
reused across calls. A file whose decoder kills its worker (a crash in a
native image library) costs a pool restart and becomes a per-file failure.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from photoscribe.core.errors import UnsupportedImageError
from photoscribe.core.files.decode_budget import DecodeBudget, use_decode_budget
from photoscribe.core.model.preprocess import ImagePreprocessor

log = logging.getLogger(__name__)

CRASHED = "the image decoder crashed on this file (a corrupt or hostile image); it was skipped"

Decoded = tuple[Path, "np.ndarray | str"]
DecodeFn = Callable[[ImagePreprocessor, Sequence[Path]], list[Decoded]]


def decode_files(pre: ImagePreprocessor, paths: Sequence[Path]) -> list[Decoded]:
    """Runs in a worker: each path -> its (S, S, 3) uint8 crop, or the reason it cannot be used."""
    out: list[Decoded] = []
    for path in paths:
        try:
            out.append((path, pre.load_uint8(path)))
        except UnsupportedImageError as exc:
            out.append((path, exc.reason))
        except Exception as exc:  # one odd file must not stop a library's captioning
            log.exception("%s: unexpected error while decoding", path)
            out.append((path, f"unexpected error while decoding ({type(exc).__name__}: {exc})"))
    return out


def _init_worker(budget: DecodeBudget | None = None) -> None:
    # Ctrl+C is the parent's business: it cancels and shuts the pool down cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    if budget is not None:  # every worker of a loader draws on one decode budget
        use_decode_budget(budget)


def default_workers() -> int:
    """Decode workers for this machine: every core but one for the model, at least 1, at most 16."""
    return max(1, min(16, (os.cpu_count() or 2) - 1))


@dataclass
class LoadedBatch:
    """One batch: ``images`` (B, 3, S, S) uint8 in NHWC memory layout, for ``paths``; ``failures`` beside."""

    paths: list[Path]
    images: torch.Tensor | None
    failures: list[tuple[Path, str]] = field(default_factory=list)


class PhotoLoader:
    """Streams batches of decoded photos from a pool of workers.

    Args:
        preprocess: the model's input transform.
        workers: decode workers; ``None`` picks :func:`default_workers`.
        processes: worker processes (``True``) or threads in this process (``False``);
            threads suit small jobs and machines with one or two cores.
        prefetch: batches decoded ahead of the one the model is working on.
        pin_memory: put batches in page-locked memory (for fast, asynchronous copies to a GPU).
        decode: the worker function (a module-level function, so processes can import it).
    """

    def __init__(
        self,
        preprocess: ImagePreprocessor,
        *,
        workers: int | None = None,
        processes: bool = True,
        prefetch: int = 2,
        pin_memory: bool = False,
        decode: DecodeFn = decode_files,
    ) -> None:
        self.preprocess = preprocess
        self.workers = max(1, workers or default_workers())
        self.processes = processes
        self.prefetch = max(1, prefetch)
        self.pin_memory = pin_memory and torch.cuda.is_available()
        self.decode = decode
        self._pool: Executor | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ pool

    def _executor(self) -> Executor:
        with self._lock:
            if self._pool is None:
                if self.processes:
                    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
                    ctx = multiprocessing.get_context(method)
                    if method == "forkserver":
                        # Imported once in the server, inherited by every worker it forks.
                        ctx.set_forkserver_preload(["photoscribe.core.captioning.loader"])
                    self._pool = ProcessPoolExecutor(
                        self.workers,
                        mp_context=ctx,
                        initializer=_init_worker,
                        initargs=(DecodeBudget(context=ctx),),
                    )
                else:
                    self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="photoscribe-decode")
            return self._pool

    def close(self) -> None:
        """Stop the workers (pending work is dropped); the loader starts new ones if used again."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PhotoLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ batches

    def _submit(self, paths: list[Path]) -> list[Future[list[Decoded]]]:
        """Split a batch over the workers, so every worker helps with every batch."""
        size = max(1, -(-len(paths) // self.workers))
        pool = self._executor()
        return [
            pool.submit(self.decode, self.preprocess, paths[i : i + size]) for i in range(0, len(paths), size)
        ]

    def _gather(self, futures: list[Future[list[Decoded]]]) -> list[Decoded]:
        return [item for f in futures for item in f.result()]

    def _decode_alone(self, path: Path) -> list[Decoded]:
        try:
            return self._executor().submit(self.decode, self.preprocess, [path]).result()
        except BrokenProcessPool:
            log.error("%s: %s", path, CRASHED)
            self.close()
            return [(path, CRASHED)]

    def _assemble(self, decoded: list[Decoded]) -> LoadedBatch:
        ok = [(p, a) for p, a in decoded if isinstance(a, np.ndarray)]
        failures = [(p, a) for p, a in decoded if isinstance(a, str)]
        images = None
        if ok:
            s = self.preprocess.image_size
            nhwc = torch.empty((len(ok), s, s, 3), dtype=torch.uint8, pin_memory=self.pin_memory)
            target = nhwc.numpy()
            for i, (_, array) in enumerate(ok):
                target[i] = array
            images = nhwc.permute(0, 3, 1, 2)  # (B, 3, S, S) view, channels-last in memory
        return LoadedBatch([p for p, _ in ok], images, failures)

    def batches(
        self, paths: Iterable[str | os.PathLike[str]], batch_size: int, cancel: threading.Event | None = None
    ) -> Iterator[LoadedBatch]:
        """Yield the photos ``batch_size`` at a time, in order, decoding up to ``prefetch`` batches ahead.

        ``paths`` may be a generator: it is read only as fast as batches are needed. Stops
        (dropping decoded work) when ``cancel`` is set; closing the iterator early is safe.
        """
        source = (Path(p) for p in paths)
        pending: deque[tuple[list[Path], list[Future[list[Decoded]]]]] = deque()

        def refill() -> None:
            while len(pending) <= self.prefetch:
                chunk = [p for _, p in zip(range(batch_size), source, strict=False)]
                if not chunk:
                    return
                pending.append((chunk, self._submit(chunk)))

        try:
            refill()
            while pending:
                if cancel is not None and cancel.is_set():
                    return
                chunk, futures = pending.popleft()
                try:
                    decoded = self._gather(futures)
                except BrokenProcessPool:
                    # A worker died (every future of the old pool fails with it): find the
                    # file that did it one at a time, then hand the batches in flight to a new pool.
                    log.warning("a decode worker died; retrying its batch file by file")
                    self.close()
                    decoded = [item for p in chunk for item in self._decode_alone(p)]
                    chunks = [c for c, _ in pending]
                    pending.clear()
                    pending.extend((c, self._submit(c)) for c in chunks)
                if cancel is not None and cancel.is_set():
                    return
                refill()
                yield self._assemble(decoded)
        finally:
            for _, futures in pending:
                for f in futures:
                    f.cancel()


__all__ = ["CRASHED", "LoadedBatch", "PhotoLoader", "decode_files", "default_workers"]
