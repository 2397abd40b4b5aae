"""The other ranks wait for rank 0's feature extraction by watching the cache, not at a barrier."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from photoscribe.core.errors import CancelledError
from photoscribe.core.model.network import CaptionModel
from photoscribe.training import features
from photoscribe.training.distributed import Ranks
from photoscribe.training.features import extract_features, wait_for_features
from photoscribe.training.synth import generate_shapes


def test_a_waiting_rank_opens_the_cache_only_once_rank_0_has_finished_it(
    tiny_model: CaptionModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = generate_shapes(tmp_path / "shapes", 8, image_size=64, seed=5)
    paths = sorted((data / "flickr30k_images").glob("*.jpg"))
    cpu, root = torch.device("cpu"), tmp_path / "cache"
    # A cache of the same images in another order is not the one waited for.
    extract_features(tiny_model, paths[::-1], root, "t", device=cpu, batch_size=4, workers=1)
    monkeypatch.setattr(features, "FLUSH_EVERY_S", 0.0)  # rank 0's half-done progress is visible
    seen: list[int] = []
    half_done = threading.Event()
    go_on = threading.Event()

    def rank0_progress(p) -> None:
        seen.append(p.done)
        if p.done == 4:
            half_done.set()
            assert go_on.wait(30)

    rank0 = threading.Thread(
        target=extract_features,
        args=(tiny_model, paths, root, "t"),
        kwargs={"device": cpu, "batch_size": 4, "workers": 1, "on_progress": rank0_progress},
    )
    rank0.start()
    assert half_done.wait(30)
    waited: list[object] = []
    waiter = threading.Thread(
        target=lambda: waited.append(wait_for_features(tiny_model, paths, root, "t", device=cpu, poll_s=0.01))
    )
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive() and not waited  # half of the cache is written: still waiting
    go_on.set()
    rank0.join(30)
    waiter.join(30)
    assert not waiter.is_alive() and seen[-1] == 8
    store = waited[0]
    alone = extract_features(tiny_model, paths, tmp_path / "alone", "t", device=cpu, batch_size=4, workers=1)
    np.testing.assert_allclose(store.array, alone.array, atol=1e-2)  # type: ignore[attr-defined]


def test_waiting_for_features_stops_on_cancel(tiny_model: CaptionModel, tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        wait_for_features(
            tiny_model, [tmp_path / "a.jpg"], tmp_path, "t", device=torch.device("cpu"), cancel=cancel
        )


def test_only_ranks_on_one_machine_wait_on_the_cache() -> None:
    assert Ranks(1, 4, 1, 4).one_machine and Ranks().one_machine
    assert not Ranks(1, 4, 1, 2).one_machine  # two machines: the other's cache is not this one
