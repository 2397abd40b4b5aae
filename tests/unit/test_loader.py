"""The decode pipeline: worker processes, order, failures, bounded prefetch, crashed workers."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import torch

from photoscribe.core.captioning.loader import CRASHED, Decoded, PhotoLoader, decode_files
from photoscribe.core.model.preprocess import ImagePreprocessor
from tests.helpers import make_photos

PRE = ImagePreprocessor(image_size=32, resize=40)


def crash_on_marked(pre: ImagePreprocessor, paths: Sequence[Path]) -> list[Decoded]:
    """Stands in for a native decoder that segfaults: the worker dies on files named crash*."""
    if any(p.name.startswith("crash") for p in paths):
        os._exit(3)
    return decode_files(pre, paths)


@pytest.mark.parametrize("processes", [True, False])
def test_batches_match_the_preprocessor_exactly_in_order(tmp_path: Path, processes: bool) -> None:
    paths = make_photos(tmp_path, 7)
    with PhotoLoader(PRE, workers=2, processes=processes) as loader:
        batches = list(loader.batches(paths, batch_size=3))
    assert [len(b.paths) for b in batches] == [3, 3, 1]
    assert [p for b in batches for p in b.paths] == paths
    for batch in batches:
        assert batch.images is not None and batch.images.dtype == torch.uint8
        assert batch.images.shape[1:] == (3, 32, 32)
        assert batch.images.is_contiguous(memory_format=torch.channels_last)
        expected = torch.stack([PRE.load(p) for p in batch.paths])
        assert torch.equal(PRE.normalize(batch.images), expected)


def test_unreadable_files_become_failures_and_the_rest_go_on(tmp_path: Path) -> None:
    good = make_photos(tmp_path, 4)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good[0].read_bytes()[:150])
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    missing = tmp_path / "gone.jpg"
    with PhotoLoader(PRE, workers=2) as loader:
        batches = list(loader.batches([good[0], truncated, good[1], text, missing, *good[2:]], batch_size=3))
    assert [p for b in batches for p in b.paths] == good
    failures = dict(f for b in batches for f in b.failures)
    assert set(failures) == {truncated, text, missing}
    assert "truncated" in failures[truncated] and "does not exist" in failures[missing]
    assert "not an image" in failures[text]


def test_prefetch_reads_a_generator_only_a_few_batches_ahead(tmp_path: Path) -> None:
    paths = make_photos(tmp_path, 4)
    pulled = 0

    def endless() -> Iterator[Path]:
        nonlocal pulled
        while True:
            pulled += 1
            yield paths[pulled % len(paths)]

    with PhotoLoader(PRE, workers=1, processes=False, prefetch=2) as loader:
        stream = loader.batches(endless(), batch_size=5)
        for _ in range(10):
            batch = next(stream)
            assert len(batch.paths) == 5
            # The batch in hand plus at most `prefetch` + 1 queued: memory does not grow with the folder.
            assert pulled <= 5 * (10 + 3)
        stream.close()
    assert pulled <= 5 * 13


def test_a_file_that_kills_its_worker_fails_alone(tmp_path: Path) -> None:
    paths = make_photos(tmp_path, 6)
    crash = tmp_path / "crash.jpg"
    crash.write_bytes(paths[0].read_bytes())
    order = [*paths[:2], crash, *paths[2:]]
    with PhotoLoader(PRE, workers=2, decode=crash_on_marked) as loader:
        batches = list(loader.batches(order, batch_size=2))
        assert [p for b in batches for p in b.paths] == paths
        assert [f for b in batches for f in b.failures] == [(crash, CRASHED)]
        # The pool was replaced and keeps working.
        again = list(loader.batches(paths[:3], batch_size=3))
    assert again[0].paths == paths[:3]


def test_cancel_stops_between_batches(tmp_path: Path) -> None:
    import threading

    paths = make_photos(tmp_path, 6)
    cancel = threading.Event()
    seen = []
    with PhotoLoader(PRE, workers=2) as loader:
        for batch in loader.batches(paths, batch_size=2, cancel=cancel):
            seen.append(batch)
            cancel.set()
    assert len(seen) == 1
