"""A broken model never blocks a good one (issue 12, item 4): failures count per (photo, model).

Real checkpoints, a real library file and the real ``photoscribe`` command in subprocesses.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from photoscribe.core.checkpoint import load_checkpoint, save_checkpoint
from photoscribe.core.library import Library
from photoscribe.core.library.scanner import add_folder
from photoscribe.core.model import CaptionModel
from photoscribe.core.vocab import Vocabulary
from tests.unit.test_captioner import make_photos

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "library-0001.sqlite"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run([exe, *args], capture_output=True, text=True, env=dict(os.environ), timeout=300)


@pytest.fixture
def good_model(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    return save_checkpoint(tmp_path / "good.pt", tiny_model, tiny_vocab)


@pytest.fixture
def broken_model(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    """A checkpoint that loads but whose scores are all NaN: it can caption nothing."""
    with torch.no_grad():
        tiny_model.decoder.fc.bias.fill_(float("nan"))
    return save_checkpoint(tmp_path / "broken.pt", tiny_model, tiny_vocab)


def test_three_failing_runs_of_a_broken_model_do_not_stop_a_good_one(
    tmp_path: Path, good_model: Path, broken_model: Path
) -> None:
    db = tmp_path / "library.sqlite3"
    photos = make_photos(tmp_path / "photos", 3)
    with Library.open(db) as library:
        add_folder(library, tmp_path / "photos")
    broken_id = load_checkpoint(broken_model).model_id
    good_id = load_checkpoint(good_model).model_id

    for attempt in (1, 2, 3):
        out = run("library", "--db", str(db), "caption-pending", "--model", str(broken_model))
        assert out.returncode == 1, out.stderr
        assert "Traceback" not in out.stderr
        assert f"failed ({attempt}x)" in out.stderr and "scores are not finite" in out.stderr
    given_up = run("library", "--db", str(db), "caption-pending", "--model", str(broken_model))
    assert given_up.returncode == 0 and "0 captioned" in given_up.stdout
    with Library.open(db) as library:
        failures = library.list_failures()
        assert {(f.model, f.attempts) for f in failures} == {(broken_id, 3)}
        assert len(failures) == 3
        assert library.count_pending(broken_id) == 0
        assert library.count_pending(good_id) == 3

    good = run("library", "--db", str(db), "caption-pending", "--model", str(good_model))
    assert good.returncode == 0, good.stderr
    assert "3 captioned" in good.stdout
    with Library.open(db) as library:
        assert all(library.captions(p)[0].source == good_id for p in map(str, photos))
        # The broken model's own failures stay: it does not retry what it gave up on.
        assert len(library.list_failures(model=broken_id)) == 3

    reset = run("library", "--db", str(db), "retry-failed", "--model", str(broken_model))
    assert reset.returncode == 0 and "reset the failures of 3 files" in reset.stdout
    with Library.open(db) as library:
        assert library.list_failures() == []
        assert library.count_pending(broken_id) == 3
        assert {p.status for p in library.list_photos()} == {"captioned"}


def test_failures_count_per_model_and_model_independent_ones_count_for_every_model(
    tmp_path: Path,
) -> None:
    make_photos(tmp_path / "photos", 2)
    with Library.open(tmp_path / "library.sqlite3") as library:
        add_folder(library, tmp_path / "photos")
        a, b = sorted(library.list_photos(), key=lambda p: p.path)
        for _ in range(3):
            library.record_failure(a.path, "broke", "model-x")
        assert [p.id for p in library.pending_for_model("model-x")] == [b.id]
        assert {p.id for p in library.pending_for_model("model-y")} == {a.id, b.id}
        library.record_failure(b.path, "permission denied")  # does not depend on the model
        library.record_failure(b.path, "broke", "model-y")
        assert library.stats().failures == 2  # files, not (file, model) rows
        assert library.count_pending("model-y", max_attempts=2) == 1  # b: 1 + 1 attempts
        assert library.count_pending("model-z", max_attempts=2) == 2
        assert [f.model for f in library.list_failures(model="model-y")] == ["model-y", ""]
        assert library.retry_failed("model-y") == 1  # b; model-x's failures of a stay
        assert {f.model for f in library.list_failures()} == {"model-x"}
        assert library.retry_failed() == 1
        assert library.list_failures() == [] and library.get_photo(a.id).status == "new"


def test_failures_from_before_the_upgrade_are_retried_once_by_the_next_model(tmp_path: Path) -> None:
    db = tmp_path / "library.sqlite3"
    shutil.copyfile(FIXTURE, db)
    with sqlite3.connect(db) as conn:  # the 0001 release gave up on broken.jpg after 3 attempts
        conn.execute("UPDATE failures SET attempts = 3")
    with Library.open(db) as library:
        [old] = library.list_failures()
        assert (old.model, old.attempts) == ("", 2)
        broken = library.get_photo(old.path)
        assert broken is not None
        assert broken.id in {p.id for p in library.pending_for_model("next-model")}
        library.record_failure(old.path, "cannot identify image file", "next-model")
        assert broken.id not in {p.id for p in library.pending_for_model("next-model")}
        assert broken.id in {p.id for p in library.pending_for_model("another-model")}
