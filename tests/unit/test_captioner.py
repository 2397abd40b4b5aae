"""The Captioner service: batches, per-file failures, progress and cancel."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.captioner import Captioner
from photoscribe.core.checkpoint import save_checkpoint
from photoscribe.core.device import pick_device
from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.model import CaptionModel
from photoscribe.core.progress import Progress
from photoscribe.core.vocab import Vocabulary


def make_photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"photo{i:02d}.jpg"
        Image.fromarray(rng.integers(0, 255, (60 + i, 80, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def checkpoint(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    return save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab, {"training_data": "unit"})


def test_batch_finishes_despite_bad_files(tmp_path: Path, checkpoint: Path) -> None:
    good = make_photos(tmp_path / "photos", 7)
    corrupt = tmp_path / "photos" / "corrupt.jpg"
    corrupt.write_bytes(good[0].read_bytes()[:200])
    text = tmp_path / "photos" / "notes.jpg"
    text.write_text("not an image")
    missing = tmp_path / "photos" / "gone.jpg"
    seen: list[Progress] = []
    captioner = Captioner.load(checkpoint, device="cpu", batch_size=3, n_best=2)
    report = captioner.caption_paths(
        [good[0], corrupt, *good[1:4], text, missing, *good[4:]], on_progress=seen.append
    )
    assert [r.path for r in report.results] == good
    assert {f.path for f in report.failures} == {corrupt, text, missing}
    assert all(f.error for f in report.failures)
    assert seen[-1].done == seen[-1].total == 10
    for r in report.results:
        assert r.text == r.alternatives[0].text and len(r.alternatives) == 2
        assert r.alternatives[0].logprob >= r.alternatives[1].logprob
        assert r.attention.shape == (len(r.words), 4, 4)
        assert abs(float(np.linalg.norm(r.feature)) - 1) < 1e-4
        assert " ".join(r.words) == r.text


def test_cancel_stops_between_batches(tmp_path: Path, checkpoint: Path) -> None:
    paths = make_photos(tmp_path / "photos", 9)
    cancel = threading.Event()
    captioner = Captioner.load(checkpoint, device="cpu", batch_size=2)

    def stop_after_first(progress: Progress) -> None:
        cancel.set()

    report = captioner.caption_paths(paths, on_progress=stop_after_first, cancel=cancel)
    assert report.cancelled and len(report.results) == 2


def test_batching_does_not_change_captions(tmp_path: Path, checkpoint: Path) -> None:
    paths = make_photos(tmp_path / "photos", 5)
    one = Captioner.load(checkpoint, device="cpu", batch_size=1).caption_paths(paths)
    many = Captioner.load(checkpoint, device="cpu", batch_size=5).caption_paths(paths)
    assert [r.text for r in one.results] == [r.text for r in many.results]


def test_device_choice() -> None:
    assert pick_device("cpu").type == "cpu"
    assert pick_device(None).type in ("cpu", "cuda", "mps")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(PhotoscribeError, match="CUDA is not available"):
            pick_device("cuda")
