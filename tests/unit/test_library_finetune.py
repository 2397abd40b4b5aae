"""Fine-tuning the current model on a person's reviewed captions: refused below a minimum, held-out
captions, replay of the original data, the model's own vocabulary and weights as the start."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import torch

from photoscribe.core.library import Library
from photoscribe.core.model.checkpoint import load_checkpoint, save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.training.datasets import load_corpus
from photoscribe.training.library_finetune import (
    MIN_HELD_OUT,
    MIN_REVIEWED,
    Comparison,
    ModelScores,
    NotEnoughCaptionsError,
    fine_tune_on_library,
    model_name,
    prepare_fine_tune,
    too_few_sentence,
)
from photoscribe.training.synth import generate_shapes
from tests.helpers import new_library, tiny_config

TINY_RUN = dict(epochs=1, batch_size=8, workers=0, device="cpu", beam_size=1)


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model's "original training data": 24 shape images in Flickr30k layout."""
    return generate_shapes(tmp_path_factory.mktemp("orig") / "shapes", 24, image_size=64, seed=1)


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory, original: Path) -> Path:
    """A tiny model whose vocabulary is the original data's, saved as training saves it."""
    corpus = load_corpus(original)
    vocab = Vocabulary.build((c for r in corpus.records for c in r.captions), min_freq=1)
    torch.manual_seed(0)
    model = CaptionModel(tiny_config(len(vocab)))
    path = tmp_path_factory.mktemp("model") / "base.pt"
    meta = {"train_config": {"data_dir": str(original), "seed": 0, "karpathy_json": None}}
    return save_checkpoint(path, model, vocab, meta)


def _library_with_reviews(tmp_path: Path, n: int, *, seed: int = 7) -> Library:
    """``n`` photos, each with a caption a person wrote ("crimson" is a word the model lacks)."""
    shapes = generate_shapes(tmp_path / "mine", n, image_size=64, seed=seed)
    truth = json.loads((shapes / "shapes.json").read_text())["images"]
    library = new_library(tmp_path / "library.sqlite3")
    for i, image in enumerate(truth):
        path = shapes / image["file"]
        photo = library.upsert_photo(path, path.stat().st_size, path.stat().st_mtime)
        text = image["captions"][0]
        library.set_user_caption(photo.id, text.replace("red", "crimson") if i % 3 == 0 else text)
    return library


def test_too_few_reviewed_captions_are_refused_with_one_sentence(tmp_path: Path, base_model: Path) -> None:
    library = _library_with_reviews(tmp_path, 5)
    try:
        with pytest.raises(NotEnoughCaptionsError) as err:
            prepare_fine_tune(library, load_checkpoint(base_model), tmp_path / "out")
    finally:
        library.close()
    assert str(err.value) == too_few_sentence(5)
    assert str(err.value).startswith("Only 5 photos have a caption you wrote or reviewed;")
    assert f"at least {MIN_REVIEWED}" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_the_data_set_holds_out_a_fifth_mixes_in_the_original_data_and_keeps_splits(
    tmp_path: Path, base_model: Path, original: Path
) -> None:
    library = _library_with_reviews(tmp_path, 40)
    try:
        ckpt = load_checkpoint(base_model)
        plan, dev = prepare_fine_tune(library, ckpt, tmp_path / "a", minimum=30)
        again, _ = prepare_fine_tune(library, ckpt, tmp_path / "b", minimum=30)
    finally:
        library.close()
    assert (plan.held_out, plan.val, plan.train) == (MIN_HELD_OUT, 5, 15)
    assert plan.original == original and plan.replay == 15  # one original caption per caption of the person's
    assert dev and all(r.split == "val" for r in dev)
    assert plan.unknown_words == ("crimson",)
    assert "crimson" in plan.summary() and "cannot learn to write them" in plan.summary()
    corpus = load_corpus(plan.data_dir)
    mine = [r for r in corpus.records if not r.image_id.startswith("original-")]
    replayed = [r for r in corpus.records if r.image_id.startswith("original-")]
    assert {r.split for r in replayed} == {
        "train"
    }  # the original data is never what the models are judged on
    assert all(original in r.path.parents for r in replayed)
    assert len([r for r in mine if r.split == "test"]) == MIN_HELD_OUT
    # The same photos are held out when the data set is written again.
    second = load_corpus(again.data_dir)
    assert {r.image_id for r in second.split("test")} == {r.image_id for r in corpus.split("test")}


@pytest.mark.slow
def test_fine_tuning_starts_from_the_model_keeps_its_words_and_compares_both(
    tmp_path: Path, base_model: Path
) -> None:
    library = _library_with_reviews(tmp_path, 30)
    try:
        # lr 0: the result must be the start model itself, so nothing was trained from scratch.
        result = fine_tune_on_library(
            library, base_model, tmp_path / "run", minimum=30, meteor=False, dev_images=4, lr=0.0, **TINY_RUN
        )
    finally:
        library.close()
    base, new = load_checkpoint(base_model), load_checkpoint(result.train_result.best_checkpoint)
    assert new.vocab.itos == base.vocab.itos
    for key, value in base.decoder_state.items():
        assert torch.equal(new.decoder_state[key], value), key
    comparison = result.comparison
    assert comparison is not None and comparison.dev is not None
    assert comparison.held_out.images == MIN_HELD_OUT
    assert comparison.dev.images == len(load_corpus(comparison.dev_name).split("val")) <= 4
    assert comparison.better == (comparison.held_out.new["CIDEr"] > comparison.held_out.current["CIDEr"])
    assert set(comparison.held_out.new) == {"BLEU-4", "CIDEr"}  # METEOR off in this test
    assert new.metadata["name"] == result.name == model_name(10)
    assert new.metadata["base_model"] == base.model_id
    assert new.metadata["comparison"]["held_out"]["images"] == MIN_HELD_OUT


def test_a_model_is_better_only_when_its_held_out_cider_is_higher() -> None:
    same = ModelScores(20, {"CIDEr": 0.4, "BLEU-4": 0.2}, {"CIDEr": 0.4, "BLEU-4": 0.3})
    assert not Comparison(same).better  # equal is not better: switching then needs a confirmation
    assert Comparison(ModelScores(20, {"CIDEr": 0.4}, {"CIDEr": 0.41})).better


def test_a_fine_tuned_model_is_named_for_a_person() -> None:
    assert model_name(340, datetime(2026, 12, 12)) == "Fine-tuned on my library, 12 Dec, 340 captions"


def test_the_command_refuses_too_few_captions_with_the_same_sentence(
    tmp_path: Path, base_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from photoscribe.desktop.cli import main

    _library_with_reviews(tmp_path, 5).close()
    db = str(tmp_path / "library.sqlite3")
    code = main(
        ["model", "fine-tune", "--out", str(tmp_path / "run"), "--model", str(base_model), "--db", db]
    )
    err = capsys.readouterr().err
    assert code != 0
    assert err == f"error: {too_few_sentence(5)}\n"
    assert "ValueError" not in err and not (tmp_path / "run" / "best.pt").exists()


def test_a_multi_line_error_is_printed_with_real_line_breaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The missing ResNet weights message has three lines; they used to print as one with "\\n"."""
    from photoscribe.desktop.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("PHOTOSCRIBE_ENCODER_WEIGHTS", raising=False)
    data = generate_shapes(tmp_path / "shapes", 4, image_size=32, seed=0)
    code = main(
        ["train", str(data), "--out", str(tmp_path / "run"), "--encoder", "resnet18", "--epochs", "1"]
    )
    err = capsys.readouterr().err
    assert code != 0
    assert "\\n" not in err
    assert len(err.strip().splitlines()) >= 3, err
