"""Acceptance: the model really learns the synthetic captioned-shapes set, on the CPU, in bounded time."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from photoscribe.core.captioning.captioner import Captioner
from photoscribe.core.model.checkpoint import load_checkpoint
from photoscribe.core.model.network import ModelConfig
from photoscribe.core.progress import Progress
from photoscribe.desktop.cli import main as cli_main
from photoscribe.training.metrics import score_captions
from photoscribe.training.synth import IMAGE_DIR, generate_shapes
from photoscribe.training.train import TrainConfig, train

EPOCHS = 24
# The module's training fixture runs inside the first test that uses it: about 4 minutes on a
# 2-core machine that other processes keep busy (load 6), so the per-test limit is scaled for it.
pytestmark = [
    pytest.mark.slow,  # trains models
    pytest.mark.timeout(1800),
]
TINY_MODEL = ModelConfig(
    encoder="tinyresnet",
    image_size=64,
    resize=72,
    resize_mode="whole",
    embed_dim=64,
    hidden_dim=128,
    attention_dim=64,
    dropout=0.1,
)


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Train once on 500 synthetic images; evaluate on 150 held-out images from another seed."""
    root = tmp_path_factory.mktemp("learn")
    data = generate_shapes(root / "shapes", 500, image_size=64, seed=0)
    held_out = generate_shapes(root / "heldout", 150, image_size=64, seed=12345)
    cfg = TrainConfig(
        data_dir=data,
        out_dir=root / "run",
        model=TINY_MODEL,
        min_word_freq=1,
        epochs=EPOCHS,
        batch_size=32,
        lr=2e-3,
        # The attention penalty is a mean over the grid cells (training/train.py): alpha_c 1 is the
        # strength that keeps each word's attention on its object here (the paper's sum over the
        # 4 x 4 cells, at lambda 1, drove attention to uniform: mean peak 0.084, uniform 0.0625).
        alpha_c=1.0,
        all_captions=True,
        workers=0,
        patience=100,
        # Cosine decay to zero by the last epoch: the model settles instead of still climbing when
        # the run ends (with one halving after 12 epochs the held-out colour+shape count was 44/47
        # and rising; the threshold sat on a slope, so a different rounding could fail it).
        scheduler="cosine",
        seed=0,
        feature_cache=root / "cache",
    )
    epochs: list[Progress] = []
    result = train(cfg, on_progress=lambda p: epochs.append(p) if p.stage == "epoch" else None)
    truth = json.loads((held_out / "shapes.json").read_text())["images"]
    captioner = Captioner.load(result.best_checkpoint, device="cpu", beam_size=3, batch_size=50)
    report = captioner.caption_paths([held_out / img["file"] for img in truth])
    return {
        "result": result,
        "truth": truth,
        "captions": report,
        "epochs": epochs,
        "data": data,
        "root": root,
    }


def test_training_reaches_bleu4_on_held_out_images(learned: dict) -> None:
    truth, report = learned["truth"], learned["captions"]
    assert not report.failures
    refs = {img["image_id"]: img["captions"] for img in truth}
    hyps = {img["image_id"]: r.text for img, r in zip(truth, report.results, strict=True)}
    scores = score_captions(refs, hyps).scores
    print("held-out", {k: round(v, 3) for k, v in scores.items()})
    # measured on this set: BLEU-4 0.73, CIDEr 4.28, colour+shape 45/47, the same in every run on
    # one thread (2026-12-03, 2-core Xeon with AMX, busy); a broken decoder or attention lands far below
    assert scores["BLEU-4"] >= 0.6
    assert scores["CIDEr"] >= 2.5


def test_single_object_captions_name_the_right_colour_and_shape(learned: dict) -> None:
    singles = [
        (img, r)
        for img, r in zip(learned["truth"], learned["captions"].results, strict=True)
        if len(img["objects"]) == 1
    ]
    assert len(singles) >= 30
    right = [f"{img['objects'][0]['colour']} {img['objects'][0]['shape']}" in r.text for img, r in singles]
    print(f"single-object colour+shape correct: {sum(right)}/{len(right)}")
    assert sum(right) / len(right) >= 0.9


def test_training_history_logs_and_checkpoints(learned: dict) -> None:
    result = learned["result"]
    assert result.stop_reason == "completed" and len(result.history) == EPOCHS
    losses = [h.train_loss for h in result.history]
    assert losses[-1] < 0.6 * losses[0]
    lines = (result.run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, EPOCHS + 1))
    assert list((result.run_dir / "tensorboard").glob("events.out.tfevents.*"))
    best = load_checkpoint(result.best_checkpoint)
    assert best.metadata["metrics"]["CIDEr"] == pytest.approx(max(h.metrics["CIDEr"] for h in result.history))
    assert load_checkpoint(result.last_checkpoint).training_state["epoch"] == EPOCHS
    # epoch progress carries what the app plots
    assert [p.done for p in learned["epochs"]] == list(range(1, EPOCHS + 1))
    assert {"train_loss", "val_loss", "BLEU-4", "CIDEr", "lr"} <= set(learned["epochs"][-1].extra)
    # cosine schedule from 2e-3: half way at the middle epoch, near zero at the end
    assert result.history[0].lr == pytest.approx(2e-3)
    assert result.history[EPOCHS // 2].lr == pytest.approx(1e-3)
    assert result.history[-1].lr < 2e-3 / 50


def test_attention_is_focused_not_uniform(learned: dict) -> None:
    """Each word's attention map concentrates on part of the grid (a broken attention is uniform, max = 1/N)."""
    peaks = []
    for r in learned["captions"].results:
        maps = r.attention.reshape(len(r.words), -1)  # (words, N)
        assert np.allclose(maps.sum(axis=1), 1.0, atol=1e-4)
        peaks.append(maps.max(axis=1).mean())
    n_cells = learned["captions"].results[0].attention[0].size
    print(f"mean peak attention {np.mean(peaks):.3f} vs uniform {1 / n_cells:.3f}")
    assert np.mean(peaks) >= 1.5 / n_cells


def test_evaluate_command_prints_paper_table(learned: dict, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = learned["result"].best_checkpoint
    out = learned["root"] / "test_captions.json"
    code = cli_main(
        ["evaluate", str(ckpt), str(learned["data"]), "--split", "test", "--captions-out", str(out)]
    )
    text = capsys.readouterr().out
    assert code == 0
    for name in ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr"):
        assert name in text
    payload = json.loads(out.read_text())
    assert len(payload["captions"]) == 50 and payload["metrics"]["BLEU-4"] > 0.4


def small_config(root: Path, **overrides: object) -> TrainConfig:
    params: dict = dict(
        data_dir=root / "shapes",
        out_dir=root / "run",
        model=TINY_MODEL,
        min_word_freq=1,
        epochs=3,
        batch_size=16,
        workers=0,
        patience=100,
        seed=3,
        feature_cache=root / "cache",
    )
    params.update(overrides)
    return TrainConfig(**params)


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path: Path) -> None:
    generate_shapes(tmp_path / "shapes", 60, image_size=64, seed=1)
    full = train(small_config(tmp_path, out_dir=tmp_path / "full"))
    cancel = threading.Event()

    def interrupt(p: Progress) -> None:  # kill the run mid-way through epoch 3
        if p.stage == "train" and p.extra.get("epoch") == 3 and p.done == 2:
            cancel.set()

    part = train(small_config(tmp_path, out_dir=tmp_path / "part"), on_progress=interrupt, cancel=cancel)
    assert part.stop_reason == "cancelled" and len(part.history) == 2
    resumed = train(small_config(tmp_path, out_dir=tmp_path / "part", resume=True))
    assert resumed.stop_reason == "completed" and len(resumed.history) == 3
    assert [h.train_loss for h in resumed.history] == [h.train_loss for h in full.history]
    assert resumed.history[-1].metrics == full.history[-1].metrics
    a, b = load_checkpoint(full.last_checkpoint), load_checkpoint(resumed.last_checkpoint)
    for key, value in a.decoder_state.items():
        torch.testing.assert_close(value, b.decoder_state[key], rtol=0, atol=0)


def test_frozen_imagenet_encoder_uses_feature_cache(tmp_path: Path) -> None:
    """The frozen-encoder path: local ImageNet-format weights, features cached once and reused."""
    from torchvision.models import resnet18

    generate_shapes(tmp_path / "shapes", 40, image_size=64, seed=2)
    weights = tmp_path / "resnet18-local.pth"
    torch.manual_seed(0)
    torch.save(resnet18(weights=None).state_dict(), weights)
    stages: list[str] = []
    cfg = small_config(
        tmp_path,
        model=dataclasses.replace(TINY_MODEL, encoder="resnet18", encoder_grid=2),
        pretrained=True,
        encoder_weights=weights,
        epochs=1,
    )
    first = train(cfg, on_progress=lambda p: stages.append(p.stage))
    assert "extract" in stages
    cache = list((tmp_path / "cache").glob("resnet18-64px-*/features.f16"))
    assert len(cache) == 2  # train and val splits
    ckpt = load_checkpoint(first.best_checkpoint)
    assert ckpt.encoder_state is None and ckpt.config.encoder_weights == "imagenet"
    stages.clear()
    train(dataclasses.replace(cfg, out_dir=tmp_path / "run2"), on_progress=lambda p: stages.append(p.stage))
    assert "extract" not in stages  # reused, not recomputed
    # The checkpoint has no encoder weights: the captioner takes them from the local file again.
    with Captioner.load(first.best_checkpoint, encoder_weights=weights, device="cpu", workers=1) as captioner:
        stem = captioner.model.encoder.body[0].weight  # resnet18's conv1
        torch.testing.assert_close(
            stem, torch.load(weights, weights_only=True)["conv1.weight"], rtol=0, atol=0
        )
        photos = sorted((tmp_path / "shapes" / IMAGE_DIR).glob("*.jpg"))[:3]
        report = captioner.caption_paths(photos)
    assert not report.failures and len(report.results) == 3
    assert all(r.words and set(r.words) <= set(ckpt.vocab.itos) for r in report.results)
