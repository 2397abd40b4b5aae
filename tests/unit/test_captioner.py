"""The Captioner service: batches, per-file failures, progress and cancel."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from photoscribe.core.captioning.captioner import Captioner
from photoscribe.core.captioning.device import encoder_dtype, pick_device
from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.progress import Progress
from tests.helpers import make_photos


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
    assert not one.failures and not many.failures
    assert [r.path for r in one.results] == [r.path for r in many.results] == list(paths)  # all, in order
    assert [r.text for r in one.results] == [r.text for r in many.results]
    assert [r.logprob for r in one.results] == pytest.approx([r.logprob for r in many.results], abs=1e-2)


def test_device_choice() -> None:
    assert pick_device("cpu").type == "cpu"
    assert pick_device(None).type in ("cpu", "cuda", "mps")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(PhotoscribeError, match="CUDA is not available"):
            pick_device("cuda")


def test_worker_processes_give_the_same_captions_as_threads(tmp_path: Path, checkpoint: Path) -> None:
    paths = make_photos(tmp_path / "photos", 6)
    with Captioner.load(checkpoint, device="cpu", batch_size=4, workers=2, processes=True) as procs:
        in_processes = procs.caption_paths(paths)
    threads = Captioner.load(checkpoint, device="cpu", batch_size=4, workers=1).caption_paths(paths)
    assert [r.path for r in in_processes.results] == paths
    assert [r.text for r in in_processes.results] == [r.text for r in threads.results]
    for a, b in zip(in_processes.results, threads.results, strict=True):
        assert np.array_equal(a.feature, b.feature) and np.array_equal(a.attention, b.attention)


def test_encoder_precision_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from photoscribe.core.captioning import device as module

    cpu = torch.device("cpu")
    assert encoder_dtype(cpu, "fp32") is None and encoder_dtype(cpu, "bf16") is torch.bfloat16
    monkeypatch.setattr(module, "fast_bf16_cpu", lambda: True)
    assert encoder_dtype(cpu) is torch.bfloat16  # AMX / AVX512-BF16: bf16 is ~3x faster
    monkeypatch.setattr(module, "fast_bf16_cpu", lambda: False)
    assert encoder_dtype(cpu) is None  # elsewhere bf16 is emulated and slower: stay in float32
    with pytest.raises(PhotoscribeError, match="precision must be one of"):
        encoder_dtype(cpu, "int8")


def test_a_model_without_usable_captions_is_refused_after_three_photos_in_a_row(
    tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary
) -> None:
    """Each photo it fails is its failure; the third in a row ends the stream (after the batch is
    handed out, so those failures are recorded), naming the model."""
    import torch

    from photoscribe.core.captioning.captioner import BROKEN_AFTER
    from photoscribe.core.errors import BrokenModelError

    with torch.no_grad():
        tiny_model.decoder.fc.bias.fill_(float("nan"))
    photos = make_photos(tmp_path / "photos", 5)
    captioner = Captioner(
        tiny_model, tiny_vocab, model_id="nan-model", device="cpu", batch_size=2, workers=1, processes=False
    )
    assert BROKEN_AFTER == 3
    [(results, failures)] = list(captioner.iter_batches(photos[:2]))  # two: failures, not broken
    assert results == [] and [f.path for f in failures] == photos[:2]
    assert all("model nan-model produced no caption: its scores are not finite" in f.error for f in failures)
    unreadable = tmp_path / "photos" / "notes.jpg"
    unreadable.write_text("not an image")  # a file the model never saw does not count
    seen: list[list[Path]] = []
    with pytest.raises(
        BrokenModelError, match=r"the model nan-model is broken: .* for 3 photos in a row"
    ) as err:
        for results, failures in captioner.iter_batches([photos[0], unreadable, *photos[1:]]):
            assert results == []
            seen.append([f.path for f in failures])
    assert seen == [[unreadable, photos[0]], [photos[1], photos[2]]]
    assert err.value.exit_code == 2


def test_empty_captions_count_as_unusable_too(tmp_path: Path) -> None:
    """A vocabulary of blank words (a crafted or damaged one) gives captions with no text."""
    from photoscribe.core.errors import BrokenModelError
    from tests.helpers import tiny_config

    blank = Vocabulary([" " * n for n in range(1, 17)], max_len=6)
    model = CaptionModel(tiny_config(len(blank))).eval()
    captioner = Captioner(
        model, blank, model_id="blank", device="cpu", batch_size=4, workers=1, processes=False
    )
    failures = []
    with pytest.raises(BrokenModelError, match="for 3 photos in a row"):
        for results, batch_failures in captioner.iter_batches(make_photos(tmp_path / "photos", 3)):
            assert results == []
            failures += batch_failures
    assert [f.error for f in failures] == ["model blank produced an empty caption"] * 3
