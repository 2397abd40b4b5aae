"""Shared fixtures: tiny models and vocabularies that run in milliseconds on a CPU."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from photoscribe.core.model.network import CaptionModel, ModelConfig
from photoscribe.core.model.vocab import Vocabulary
from tests import helpers
from tests.helpers import WORDS, tiny_config


@pytest.fixture(autouse=True)
def _isolated_home(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Keep every test out of the real per-user data, cache and settings.

    In-process, the bundled default model is hidden too (a test's library is captioned only by
    the model it chooses), except in tests marked ``bundled_model``; subprocesses see it.
    """
    if request.node.get_closest_marker("bundled_model") is None:
        monkeypatch.setattr("photoscribe.core.paths.bundled_model_path", lambda: None)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PHOTOSCRIBE_HOME", str(home))
    monkeypatch.delenv("PHOTOSCRIBE_MODEL", raising=False)
    monkeypatch.delenv("PHOTOSCRIBE_ENCODER_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    return home


@pytest.fixture(scope="session", autouse=True)
def _library_template_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where ``tests.helpers.new_library`` keeps the migrated empty library it copies (made on first use).

    Session-scoped in pytest's temp tree: each xdist worker, a session of its own, gets its own.
    """
    helpers.LIBRARY_TEMPLATE_FOLDER = tmp_path_factory.mktemp("library-template")


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny, weak) model trained once per test session on 120 synthetic shape images:
    for the tests that need a model that has learnt something (the end-to-end app test), not
    for the acceptance of training itself (tests/integration/test_training.py trains its own).

    About 20 s on an idle 2-core machine, a minute or two on a busy one, counted against the
    first test that uses it (well inside pytest-timeout's 600 s).
    """
    from photoscribe.training.synth import generate_shapes
    from photoscribe.training.train import TrainConfig, train

    root = tmp_path_factory.mktemp("trained")
    data = generate_shapes(root / "shapes", 120, image_size=64, seed=0)
    model = ModelConfig(
        encoder="tinyresnet",
        image_size=64,
        resize=72,
        resize_mode="whole",
        embed_dim=32,
        hidden_dim=64,
        attention_dim=32,
        dropout=0.1,
    )
    config = TrainConfig(
        data_dir=data,
        out_dir=root / "run",
        model=model,
        min_word_freq=1,
        epochs=6,
        batch_size=32,
        lr=2e-3,
        workers=0,
        device="cpu",
    )
    result = train(config)
    assert result.stop_reason == "completed" and result.best_checkpoint.is_file()
    return result.best_checkpoint


@pytest.fixture
def tiny_vocab() -> Vocabulary:
    return Vocabulary(WORDS, max_len=12)


@pytest.fixture
def tiny_model(tiny_vocab: Vocabulary) -> CaptionModel:
    torch.manual_seed(0)
    return CaptionModel(tiny_config(len(tiny_vocab))).eval()


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # One intra-op thread for the whole suite, for two reasons measured on a 2-core machine:
    # - speed: with other processes busy on the cores, torch's OpenMP threads wait for each other
    #   at every parallel region: one epoch of the acceptance set-up on 100 images took 20 s on
    #   2 threads and 2 s on 1 (with 2 threads its fixture ran past pytest-timeout's 600 s);
    # - reproducibility: the thread count changes how sums are split, hence the rounding, hence a
    #   seeded training's result (its first-epoch loss differs in the 4th decimal between 1 and 2
    #   threads); with one thread a seeded run is the same on any machine with the same CPU kind.
    # The CLI tests' subprocesses get one thread too, through the environment.
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _ctrl_c_as_in_a_terminal() -> None:
    """Ctrl-C is not ignored while a test runs, so the subprocesses it starts can be sent SIGINT.

    A shell starts a background job (`scripts/test.sh &`, nohup) with SIGINT ignored, some code
    restores that "previous" handler after changing it, and every subprocess inherits an ignored
    signal: `library watch` would never see the tests' Ctrl-C and they would wait forever.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
