"""Switching models loses no caption: the previous model's captions come back on Undo, search follows
the caption shown, and every imported run's best.pt is kept under a name of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from photoscribe.core import paths
from photoscribe.core.library import Library
from photoscribe.core.library.search import search
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.desktop.background import BackgroundServices
from photoscribe.desktop.dialogs import describe_model
from photoscribe.desktop.workers import JobRunner

BABIES = "two young children are sitting in a car"
WORSE = "a man in a man with a red shirt and a hat"


def _found(library: Library, query: str) -> list[int]:
    return [hit.photo_id for hit in search(library, query)]


def test_switching_back_by_undo_brings_the_old_captions_back_and_search_follows(
    qtbot: Any,
    make_window: Any,
    library: Library,
    runner: JobRunner,
    tiny_model: CaptionModel,
    tiny_vocab: Vocabulary,
    tmp_path: Path,
) -> None:
    default = save_checkpoint(tmp_path / "default.pt", tiny_model, tiny_vocab)
    tuned = save_checkpoint(tmp_path / "run" / "best.pt", tiny_model, tiny_vocab, {"name": "Fine-tuned"})
    photo = tmp_path / "babies.jpg"
    photo.write_bytes(b"jpeg")
    pid = library.upsert_photo(photo, 4, 1.0).id
    services = BackgroundServices(library, runner, queue_factory=None, watcher_factory=None)
    window = make_window(library, services=services)
    window.use_model(str(default))
    default_id = services.model.name
    library.add_model_caption(pid, default_id, BABIES, -3.0)

    window.captioning.switch_model(str(tuned))  # as "Use this model" does
    tuned_id = services.model.name
    assert library.active_model() == tuned_id
    library.add_model_caption(pid, tuned_id, WORSE, -9.0)  # what its captioning queue would write
    assert library.best_caption(pid).text == WORSE
    assert _found(library, "man with a red shirt and a hat") == [pid]
    assert window.undo_action.isEnabled() and "best.pt" in window.undo_action.text()

    window.undo_action.trigger()  # back to the default model: its captions are shown again, none re-made
    assert services.model.path == str(default) and library.active_model() == default_id
    assert library.best_caption(pid).text == BABIES
    assert _found(library, "man with a red shirt and a hat") == []
    assert _found(library, "children sitting in a car") == [pid]
    assert {c.source for c in library.captions(pid)} == {default_id, tuned_id}

    window.redo_action.trigger()
    assert library.best_caption(pid).text == WORSE


def test_every_imported_best_pt_is_kept_under_a_name_of_its_own(
    qtbot: Any,
    make_window: Any,
    library: Library,
    runner: JobRunner,
    tiny_model: CaptionModel,
    tiny_vocab: Vocabulary,
    tmp_path: Path,
) -> None:
    first = save_checkpoint(tmp_path / "run-1" / "best.pt", tiny_model, tiny_vocab)
    name = "Fine-tuned on my library, 12 Dec, 340 captions"
    second = save_checkpoint(tmp_path / "run-2" / "best.pt", tiny_model, tiny_vocab, {"name": name})
    services = BackgroundServices(library, runner, queue_factory=None, watcher_factory=None)
    window = make_window(library, services=services)
    window.captioning.import_model_from(str(first))
    window.captioning.import_model_from(str(second))
    window.captioning.import_model_from(str(second))  # the same file again: no second copy
    copies = sorted(paths.models_dir().glob("best-*.pt"))
    assert len(copies) == 2
    assert {c.read_bytes() for c in copies} == {first.read_bytes(), second.read_bytes()}
    assert services.model.path is not None and Path(services.model.path).read_bytes() == second.read_bytes()
    # The model menu names it as a person would.
    assert describe_model(Path(services.model.path)).startswith(f"{name} · tinyresnet · best-")
    window.undo_action.trigger()  # importing switched models: Undo goes back to the first import
    assert Path(services.model.path).read_bytes() == first.read_bytes()


def test_retrain_fine_tunes_the_model_the_window_captions_with(
    qtbot: Any,
    make_window: Any,
    library: Library,
    runner: JobRunner,
    tiny_model: CaptionModel,
    tiny_vocab: Vocabulary,
    tmp_path: Path,
) -> None:
    current = save_checkpoint(tmp_path / "current.pt", tiny_model, tiny_vocab)
    services = BackgroundServices(library, runner, queue_factory=None, watcher_factory=None)
    window = make_window(library, services=services)
    window.use_model(str(current))
    window.dialogs.open_retrain()
    dialog = window.dialogs.opened[-1]
    assert dialog.current_model == str(current) and dialog.library is library
    dialog.close()
