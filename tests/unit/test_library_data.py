"""The library as a training set: reviewed captions only, stable splits, photos kept apart by id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from photoscribe.core.errors import DataError
from photoscribe.core.library import Library
from photoscribe.training.datasets import load_corpus
from photoscribe.training.library_data import LIBRARY_DATASET_FILE, export_library_dataset
from tests.helpers import new_library


def _photo(library: Library, path: Path, colour: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), colour).save(path)
    return library.upsert_photo(path, path.stat().st_size, path.stat().st_mtime).id


def test_only_captions_a_person_gave_are_exported_and_load_as_a_data_set(
    library: Library, tmp_path: Path
) -> None:
    a = _photo(library, tmp_path / "2023" / "IMG_0001.JPG", "red")
    b = _photo(library, tmp_path / "2024" / "IMG_0001.JPG", "blue")  # same name, another folder
    c = _photo(library, tmp_path / "2024" / "unreviewed.jpg", "green")
    d = _photo(library, tmp_path / "2024" / "gone.jpg", "white")
    library.set_user_caption(a, "my red wall")
    library.add_model_caption(b, "m1", "a blue sky", -1.0)
    library.mark_reviewed(b)
    library.add_model_caption(c, "m1", "a green field", -1.0)  # never reviewed: left out
    library.set_user_caption(d, "a white page")
    (tmp_path / "2024" / "gone.jpg").unlink()  # its file is missing: left out, counted

    report = export_library_dataset(library, tmp_path / "out")
    assert (report.photos, report.skipped_missing) == (2, 1)
    assert report.train + report.val == 2 and report.val >= 1 and report.train >= 1
    corpus = load_corpus(tmp_path / "out")
    assert corpus.name == "library"
    by_caption = {r.captions: r.path for r in corpus.records}
    assert by_caption == {
        ("my red wall",): tmp_path / "2023" / "IMG_0001.JPG",
        ("a blue sky",): tmp_path / "2024" / "IMG_0001.JPG",
    }
    assert "review more captions first" in report.summary()


def test_a_photo_keeps_its_split_when_the_export_runs_again(library: Library, tmp_path: Path) -> None:
    ids = [_photo(library, tmp_path / f"p{i:02d}.png", (i * 9, 0, 0)) for i in range(40)]
    for i in ids[:30]:
        library.set_user_caption(i, f"photo number {i}")
    first = export_library_dataset(library, tmp_path / "out")
    splits = {e["cocoid"]: e["split"] for e in json.loads(first.path.read_text())["images"]}
    assert 1 <= first.val < first.train
    for i in ids[30:]:
        library.set_user_caption(i, f"photo number {i}")
    second = export_library_dataset(library, tmp_path / "out")
    again = {e["cocoid"]: e["split"] for e in json.loads(second.path.read_text())["images"]}
    assert second.photos == 40
    assert {k: again[k] for k in splits} == splits  # no validation photo moved into training


def test_a_photo_held_out_by_the_tiny_library_rule_stays_held_out(library: Library, tmp_path: Path) -> None:
    # With no photo in the validation fraction, one is held out anyway; exporting again after
    # more reviews must keep that one out of training, whatever the new photos' hashes say.
    ids = [_photo(library, tmp_path / f"q{i:02d}.png", (0, i * 9, 0)) for i in range(6)]
    for i in ids[:3]:
        library.set_user_caption(i, f"photo number {i}")
    first = export_library_dataset(library, tmp_path / "out", val_fraction=0.0)
    splits = {e["cocoid"]: e["split"] for e in json.loads(first.path.read_text())["images"]}
    assert list(splits.values()).count("val") == 1
    for i in ids[3:]:
        library.set_user_caption(i, f"photo number {i}")
    second = export_library_dataset(library, tmp_path / "out", val_fraction=0.0)
    again = {e["cocoid"]: e["split"] for e in json.loads(second.path.read_text())["images"]}
    assert {k: again[k] for k in splits} == splits
    assert list(again.values()).count("val") == 1


def test_too_few_reviewed_captions_say_what_to_do(library: Library, tmp_path: Path) -> None:
    one = _photo(library, tmp_path / "only.jpg", "red")
    library.set_user_caption(one, "the only one")
    with pytest.raises(DataError, match="review or write captions"):
        export_library_dataset(library, tmp_path / "out")
    assert not (tmp_path / "out" / LIBRARY_DATASET_FILE).exists()


@pytest.mark.slow
def test_cli_writes_the_data_set(tmp_path: Path) -> None:
    db = tmp_path / "lib.sqlite3"
    library = new_library(db)
    try:
        for i in range(3):
            library.set_user_caption(_photo(library, tmp_path / f"{i}.jpg", "red"), f"caption {i}")
    finally:
        library.close()
    out = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-m", "photoscribe.desktop.cli", "data", "from-library", str(out), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Wrote 3 photos with a caption you wrote or reviewed")
    assert len(load_corpus(out).records) == 3
