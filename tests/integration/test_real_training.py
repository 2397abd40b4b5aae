"""A short end-to-end training run on the real Flickr8k photos in ../shared (skipped where absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from photoscribe.core.captioning.captioner import Captioner
from photoscribe.training.train import TrainConfig, train
from tests.helpers import SHARED_DATA

pytestmark = pytest.mark.slow  # trains on the real data in ../shared/data

FLICKR8K = SHARED_DATA / "flickr8k-subset"


@pytest.mark.skipif(
    not (FLICKR8K / "captions.txt").is_file(),
    reason=f"{FLICKR8K} not present (../shared is only on build machines)",
)
def test_flickr8k_subset_trains_end_to_end_with_falling_loss(tmp_path: Path) -> None:
    # The subset holds 105 photos of the standard test split, which is never trained on: the run
    # sees a copy of captions.txt without them (the photos themselves stay where they are).
    test_split = set((SHARED_DATA / "flickr8k" / "Flickr_8k.testImages.txt").read_text().split())
    data = tmp_path / "flickr8k-subset-no-test"
    data.mkdir()
    lines = (FLICKR8K / "captions.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [lines[0]] + [line for line in lines[1:] if line.split(",", 1)[0] not in test_split]
    assert 0 < len(kept) < len(lines)
    (data / "captions.txt").write_text("".join(kept), encoding="utf-8")
    (data / "Images").symlink_to(FLICKR8K / "Images")
    cfg = TrainConfig.from_flat(
        data_dir=data,
        out_dir=tmp_path / "run",
        encoder="tinyresnet",
        image_size=64,
        resize=72,
        embed_dim=32,
        hidden_dim=64,
        attention_dim=32,
        dropout=0.2,
        epochs=2,
        batch_size=32,
        lr=3e-3,
        min_word_freq=5,
        val_images=16,
        all_captions=False,  # one caption per photo per epoch: this only checks that training runs
        beam_size=2,
        workers=0,
        seed=0,
    )
    result = train(cfg)
    assert result.stop_reason == "completed" and len(result.history) == 2
    train_losses = [h.train_loss for h in result.history]
    val_losses = [h.val_loss for h in result.history]
    assert train_losses[1] < train_losses[0] and val_losses[1] < val_losses[0], (train_losses, val_losses)
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {"BLEU-4", "CIDEr"} <= set(lines[-1]["metrics"])
    # the checkpoint captions a real photo with real words from the Flickr8k vocabulary
    photo = next((FLICKR8K / "Images").glob("*.jpg"))
    caption = Captioner.load(result.last_checkpoint, device="cpu").caption_paths([photo]).results[0]
    assert caption.words and all(w.isalpha() or "'" in w for w in caption.words)
