"""Acceptance test: the real app on a real trained model, from adding a folder to retraining.

The window is built the way ``photoscribe`` builds it (:func:`photoscribe.desktop.app.create_window`:
real :class:`BackgroundServices` with core's CaptionQueue and FolderWatcher threads, a real
thread pool, the active model from ``core.paths``). The model is the session's
``trained_checkpoint`` (tests/conftest.py), trained on synthetic shapes by
:func:`photoscribe.training.train.train`: it is weak, but it is a real model.
"""

from __future__ import annotations

import csv
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt, QThreadPool
from PySide6.QtWidgets import QApplication

from photoscribe.core import paths
from photoscribe.core.library import Library
from photoscribe.core.library.query_parser import STOPWORDS
from photoscribe.core.library.search import search
from photoscribe.desktop.app import create_window
from photoscribe.desktop.export_dialog import ExportDialog
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.retrain import RetrainDialog, State
from photoscribe.desktop.workers import JobRunner
from photoscribe.training.synth import IMAGE_DIR, generate_shapes
from tests.helpers import new_library

pytestmark = pytest.mark.slow  # uses the model trained once per session (trained_checkpoint)

N_PHOTOS = 12
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
IPTC = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# The retrain dialog's "advanced" settings for a model that trains an epoch in a second or two.
TINY_RETRAIN = dict(embed_dim=16, hidden_dim=32, attention_dim=16, workers=0, min_word_freq=1, device="cpu")


@pytest.fixture
def app(qtbot: Any, tmp_path: Path, trained_checkpoint: Path) -> Iterator[tuple[MainWindow, Library]]:
    """The window as ``photoscribe`` starts it, on an empty library, the trained model active."""
    paths.set_active_model(trained_checkpoint)  # as `photoscribe model use` or an earlier session would
    library = new_library(tmp_path / "library.sqlite3")
    pool = QThreadPool()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = create_window(library, runner=JobRunner(pool), settings=settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    try:
        yield window, library
    finally:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, RetrainDialog) and widget.state in (State.RUNNING, State.CANCELLING):
                widget.confirm_stop = lambda: True  # type: ignore[method-assign]
        window.close()  # stops the caption queue, the watcher and the thumbnail loader
        assert pool.waitForDone(60_000)
        library.close()


def top_level(kind: type) -> Any:
    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]
    assert len(found) == 1, found
    return found[0]


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in STOPWORDS]


def grid_ids(window: MainWindow) -> list[int]:
    model = window.photos
    return [model.photo_row(row).photo_id for row in range(model.rowCount())]  # type: ignore[union-attr]


def word_matches(window: MainWindow) -> list[int]:
    """The grid's photos found by the words of the search, checking that any others (found by
    meaning only, with the semantic extra) come after them, marked as such."""
    model = window.photos
    rows = [model.photo_row(row) for row in range(model.rowCount())]
    found = [row.photo_id for row in rows if row is not None and not row.by_meaning]
    assert all(row is not None and row.by_meaning for row in rows[len(found) :])
    return found


def type_search(qtbot: Any, window: MainWindow, text: str) -> None:
    """Type like a person (one key at a time), then wait for the debounced query's first page."""
    window.search.clear()
    qtbot.keyClicks(window.search, text)
    qtbot.waitUntil(
        lambda: (
            window.photos.query.text == text and not window.photos.loading and window.photos.rowCount() > 0
        ),
        timeout=10_000,
    )


def alt_text(sidecar: Path) -> str | None:
    """AltTextAccessibility (x-default), read back with a plain XML parser."""
    for prop in ET.parse(sidecar).getroot().iter(f"{{{IPTC}}}AltTextAccessibility"):
        for li in prop.iter(f"{{{RDF}}}li"):
            if li.get(XML_LANG) == "x-default":
                return li.text
    return None


def run_export(qtbot: Any, dialog: ExportDialog, key: str, dest: Path) -> None:
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(key))
    dialog.dest_edit.setText(str(dest))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    assert dialog.summary is not None and dialog.summary.written == N_PHOTOS, dialog.status_label.text()


def test_add_caption_search_edit_export_retrain(
    qtbot: Any, app: tuple[MainWindow, Library], tmp_path: Path
) -> None:
    window, library = app
    services = window.services
    qtbot.waitUntil(lambda: services.model.ready, timeout=30_000)
    first_model = services.model.name
    assert services.captioning and services.watcher is not None
    assert window.status.model_label.text() == f"Model: {first_model}"

    # ---- add a folder of new photos the way File > Add folder and dropping a folder do
    generated = generate_shapes(tmp_path / "generated", N_PHOTOS, image_size=64, seed=1)
    photos_dir = tmp_path / "Pictures" / "Shapes"
    shutil.move(str(generated / IMAGE_DIR), photos_dir)
    window.add_folder(str(photos_dir))
    qtbot.waitUntil(lambda: library.stats().captioned == N_PHOTOS, timeout=60_000)
    qtbot.waitUntil(lambda: len(grid_ids(window)) == N_PHOTOS, timeout=10_000)
    assert window.pages.currentWidget() is window.splitter  # the library page, not the welcome page
    captions = {pid: c.text for pid, c in library.best_captions(grid_ids(window)).items()}
    assert len(captions) == N_PHOTOS and all(
        c.source == first_model for c in library.best_captions(captions).values()
    )

    # ---- search for a word of one photo's caption: that photo comes first
    holders: dict[str, set[int]] = {}
    for pid, text in captions.items():
        for word in words(text):
            holders.setdefault(word, set()).add(pid)
    word = min(sorted(holders), key=lambda w: len(holders[w]))  # the rarest word (unique if any is)
    expected = {pid for pid, text in captions.items() if any(w.startswith(word) for w in words(text))}
    type_search(qtbot, window, word)
    shown = word_matches(window)
    assert set(shown) == expected, (word, captions)
    assert shown == [hit.photo.id for hit in search(library, word)]
    if len(holders[word]) == 1:
        assert shown[0] == next(iter(holders[word]))
    target = shown[0]
    assert word in words(captions[target])

    # ---- edit that photo's caption in the detail pane (Enter saves)
    common = Counter(w for pid, text in captions.items() if pid != target for w in set(words(text)))
    popular = max(sorted(common), key=lambda w: common[w])  # in many other photos' model captions
    assert common[popular] >= 2
    edited = f"Grandpa's {popular} kite at the Zanzibar festival"
    window.grid.select_row(0)
    qtbot.waitUntil(
        lambda: window.detail.photo_id == target and window.detail.data is not None, timeout=10_000
    )
    window.detail.focus_caption()
    qtbot.keyClicks(window.detail.caption_edit, edited)  # replaces the selected model caption
    assert window.detail.save_button.isEnabled()
    qtbot.keyClick(window.detail.caption_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: library.best_caption(target).is_user, timeout=10_000)
    with Library.open(library.path) as reopened:  # it is in the file, not only in this connection
        saved = reopened.best_caption(target)
        assert saved is not None and (saved.text, saved.is_user, saved.reviewed) == (edited, True, True)
        assert first_model in {c.source for c in reopened.captions(target)}  # the model's stays too

    # ---- the person's caption outranks the model captions that share a word with it
    type_search(qtbot, window, popular)
    shown = word_matches(window)
    assert shown[0] == target and len(shown) >= 3, (popular, shown)
    assert window.photos.photo_row(0).caption == edited  # type: ignore[union-attr]
    type_search(qtbot, window, "zanzibar")
    assert word_matches(window) == [target]

    # ---- export alt text through the export dialog: XMP sidecars and CSV
    window.grid.clearSelection()  # no selection and no search: the export covers the library
    window.search.clear()
    window._apply_query()
    window.export_action.trigger()
    dialog = top_level(ExportDialog)
    assert dialog.scope_label.text() == f"Export all {N_PHOTOS} photos of the library"
    dialog.reviewed_check.setChecked(False)  # the model's unreviewed captions too, deliberately
    sidecars = tmp_path / "sidecars"
    run_export(qtbot, dialog, "xmp-folder", sidecars)
    target_path = Path(library.get_photo(target).path)  # type: ignore[union-attr]
    [sidecar] = sidecars.rglob(target_path.name + ".xmp")
    assert alt_text(sidecar) == edited
    others = [p for p in sidecars.rglob("*.xmp") if p != sidecar]
    assert len(others) == N_PHOTOS - 1
    assert {alt_text(p) for p in others} <= {text for pid, text in captions.items() if pid != target}
    csv_path = tmp_path / "export" / "alt-text.csv"
    csv_path.parent.mkdir()
    run_export(qtbot, dialog, "csv", csv_path)
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        rows = {row["path"]: row for row in csv.DictReader(fh)}
    assert len(rows) == N_PHOTOS
    row = rows[str(target_path)]
    assert (row["alt_text"], row["source"], row["reviewed"]) == (edited, "user", "true")
    dialog.close()

    # ---- retrain from the Model menu on a tiny data set, then use the new model
    retrain_data = generate_shapes(tmp_path / "retrain-data", 40, image_size=64, seed=3)
    window.retrain_action.trigger()
    retrain = top_level(RetrainDialog)
    retrain.advanced_overrides.update(TINY_RETRAIN)
    retrain.data_edit.setText(str(retrain_data))
    qtbot.keyClick(retrain.data_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(retrain.start_button.isEnabled, timeout=30_000)
    retrain.encoder_combo.setCurrentIndex(retrain.encoder_combo.findData("tinyresnet"))
    retrain.epochs_spin.setValue(1)
    retrain.batch_spin.setValue(8)
    retrain.image_size_spin.setValue(64)
    retrain.beam_spin.setValue(2)
    qtbot.mouseClick(retrain.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: retrain.state in (State.FINISHED, State.FAILED), timeout=120_000)
    assert retrain.state is State.FINISHED, retrain.error_label.text()
    best = retrain.train_result.best_checkpoint  # type: ignore[union-attr]
    qtbot.mouseClick(retrain.use_button, Qt.MouseButton.LeftButton)

    assert paths.active_model_path() == best.resolve()  # shared with the CLI
    assert not window.settings.contains("model/active")  # stored once, in core
    qtbot.waitUntil(lambda: services.model.ready and services.model.path == str(best), timeout=30_000)
    assert services.model.name != first_model
    assert window.status.model_label.text() == f"Model: {services.model.name}"
    # The new model captions the library too; the person's caption stays the best one.
    qtbot.waitUntil(lambda: library.count_pending(services.model.name) == 0, timeout=60_000)
    assert library.best_caption(target).text == edited  # type: ignore[union-attr]
