"""The model picker: each model once, named so that people can tell them apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel

from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.paths import models_dir
from photoscribe.desktop.dialogs import ModelDialog


def test_each_model_is_listed_once_with_its_run_data_and_date(
    qtbot: Any, tiny_model: CaptionModel, tiny_vocab: Vocabulary, tmp_path: Path
) -> None:
    meta = {"training_data": "shapes (flickr30k) at /data/shapes"}
    first = save_checkpoint(models_dir() / "run-a" / "best.pt", tiny_model, tiny_vocab, meta)
    second = save_checkpoint(models_dir() / "best.pt", tiny_model, tiny_vocab, meta)
    (models_dir() / "broken.pt").write_bytes(b"not a model")
    # the current model spelled another way (a symlinked folder, "..") must not appear twice
    current = str(models_dir() / "run-a" / ".." / "best.pt")
    dialog = ModelDialog(current, "auto", 3)
    qtbot.addWidget(dialog)
    items = [
        (dialog.model_combo.itemText(i), Path(dialog.model_combo.itemData(i)).resolve())
        for i in range(dialog.model_combo.count())
    ]
    paths = [p for _, p in items]
    assert len(paths) == len(set(paths)) == 3  # run-a/best.pt, best.pt, broken.pt: each once
    assert Path(dialog.model_path).resolve() == second.resolve()
    labels = dict((p, t) for t, p in items)
    assert labels[first.resolve()].startswith("run-a/best.pt · tinyresnet, shapes, 20")
    assert "not a readable model" in labels[(models_dir() / "broken.pt").resolve()]
    assert len({t for t, _ in items}) == 3  # no two entries read the same
    label = next(w for w in dialog.findChildren(QLabel) if w.buddy() is dialog.model_combo)
    assert label.text() == "&Model:"  # a mnemonic (Alt+M), shown underlined, not a literal "&"
