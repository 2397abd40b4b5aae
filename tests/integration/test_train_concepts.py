"""A model trained with a frozen ImageNet encoder gets its object-concept head, as the default model has.

Real photos (the 18 CC BY demo photos shipped in the package) with their COCO captions: most
name a person, so the head learns at least that group, and the trained model captions with a
confidence and a decoding guard.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from photoscribe.core.captioning.captioner import Captioner
from photoscribe.core.model.checkpoint import load_checkpoint
from photoscribe.training.train import TrainConfig, train

pytestmark = pytest.mark.slow  # trains a model

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


def _demo_data(folder: Path) -> Path:
    rows = re.findall(r"^\| (\d+\.jpg) \|.*\| ([^|]+) \|$", (DEMO / "CREDITS.md").read_text("utf-8"), re.M)
    assert len(rows) >= 15
    images = folder / "Images"
    images.mkdir(parents=True)
    lines = ["image,caption"]
    for name, caption in rows:
        (images / name).symlink_to(DEMO / name)
        # Three captions a photo, so the random 80/10/10 split leaves some in each part.
        lines += [f"{name},{caption.strip()}"] * 3
    (folder / "captions.txt").write_text("\n".join(lines) + "\n", "utf-8")
    return folder


def test_training_with_a_frozen_imagenet_encoder_adds_the_concept_head(tmp_path: Path) -> None:
    cfg = TrainConfig.from_flat(
        data_dir=_demo_data(tmp_path / "demo"),
        out_dir=tmp_path / "run",
        encoder="efficientnet-lite0",
        embed_dim=32,
        hidden_dim=64,
        attention_dim=32,
        epochs=1,
        batch_size=16,
        min_word_freq=1,
        workers=0,
        beam_size=1,
        seed=0,
        feature_cache=tmp_path / "cache",
    )
    result = train(cfg)
    concepts = load_checkpoint(result.best_checkpoint).concepts
    assert concepts is not None
    assert "person" in concepts.names  # most demo captions name a person
    with Captioner.load(result.best_checkpoint, workers=1, processes=False) as captioner:
        (r,) = captioner.caption_paths([DEMO / "000000129648.jpg"]).results
    assert r.confidence is not None and 0.0 <= r.confidence <= 1.0
    assert captioner.guard
