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

from photoscribe.core.library import Library
from photoscribe.core.library.scanner import add_folder
from photoscribe.core.model.checkpoint import load_checkpoint, save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from tests.helpers import make_photos, new_library

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "library-0001.sqlite"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run([exe, *args], capture_output=True, text=True, env=dict(os.environ), timeout=300)


@pytest.fixture
def good_model(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    return save_checkpoint(tmp_path / "good.pt", tiny_model, tiny_vocab)


@pytest.fixture
def broken_model(tmp_path: Path, good_model: Path) -> Path:
    """A copy of the good model whose scores are all NaN, declaring the same model id: it loads
    (its checksums are right: it was written whole) but can caption nothing."""
    payload = torch.load(good_model, weights_only=True)
    payload["decoder"]["fc.bias"].fill_(float("nan"))
    path = tmp_path / "broken.pt"
    torch.save(payload, path)
    return path


@pytest.mark.slow
def test_a_broken_copy_with_the_same_model_id_is_refused_and_never_blocks_the_good_one(
    tmp_path: Path, good_model: Path, broken_model: Path
) -> None:
    """Issue 20, item 3: failures were charged to the id the file declares, so three runs of a
    broken copy of a model made the good one print "0 captioned, 0 failed, 0 skipped"."""
    db = tmp_path / "library.sqlite3"
    photos = make_photos(tmp_path / "photos", 3)
    with new_library(db) as library:
        add_folder(library, tmp_path / "photos")
    broken, good = load_checkpoint(broken_model), load_checkpoint(good_model)
    assert broken.model_id == good.model_id and broken.failure_id != good.failure_id

    # One attempt per photo (--max-attempts 1) shows the same as three with the default, faster.
    once = ("--max-attempts", "1")
    out = run("library", "--db", str(db), "caption-pending", "--model", str(broken_model), *once)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert f"the model {good.model_id} ({broken_model}) is broken" in out.stderr
    assert "no usable caption" in out.stderr and "3 photos in a row" in out.stderr
    with Library.open(db) as library:  # the photos' failures are charged to the broken file
        failures = library.list_failures()
        assert {(f.model, f.attempts) for f in failures} == {(broken.failure_id, 1)} and len(failures) == 3
        assert all("scores are not finite" in f.error for f in failures)
    given_up = run("library", "--db", str(db), "caption-pending", "--model", str(broken_model), *once)
    assert given_up.returncode == 0 and "0 captioned" in given_up.stdout
    with Library.open(db) as library:
        assert library.count_pending(broken.model_id, max_attempts=1, failure_model=broken.failure_id) == 0
        assert library.count_pending(good.model_id, max_attempts=1, failure_model=good.failure_id) == 3

    ok = run("library", "--db", str(db), "caption-pending", "--model", str(good_model), *once)
    assert ok.returncode == 0, ok.stderr
    assert "3 captioned" in ok.stdout
    with Library.open(db) as library:
        assert all(library.captions(p)[0].source == good.model_id for p in map(str, photos))
        # The broken file's own failures stay: it does not retry what it gave up on.
        assert len(library.list_failures(model=broken.failure_id)) == 3
        assert library.list_failures(model=good.failure_id) == []

    reset = run("library", "--db", str(db), "retry-failed", "--model", str(broken_model))
    assert reset.returncode == 0 and "reset the failures of 3 files" in reset.stdout
    with Library.open(db) as library:
        assert library.list_failures() == []
        assert {p.status for p in library.list_photos()} == {"captioned"}


@pytest.mark.slow
def test_failures_charged_to_the_declared_id_by_an_older_release_do_not_stop_the_good_file(
    tmp_path: Path, good_model: Path
) -> None:
    """A library where a broken copy already gave up on every photo under the declared id (what
    this release's predecessor recorded) is captioned by the good file."""
    db = tmp_path / "library.sqlite3"
    make_photos(tmp_path / "photos", 2)
    good = load_checkpoint(good_model)
    with new_library(db) as library:
        add_folder(library, tmp_path / "photos")
        for photo in library.list_photos():
            for _ in range(3):
                library.record_failure(photo.path, "produced no caption", good.model_id)
    out = run("library", "--db", str(db), "caption-pending", "--model", str(good_model))
    assert out.returncode == 0, out.stderr
    assert "2 captioned, 0 failed" in out.stdout


@pytest.mark.slow
def test_a_damaged_copy_is_refused_at_load_and_charged_nothing(tmp_path: Path, good_model: Path) -> None:
    """80 KB of one tensor overwritten in place (same size): the zip's CRC-32 no longer matches."""
    db = tmp_path / "library.sqlite3"
    make_photos(tmp_path / "photos", 2)
    with new_library(db) as library:
        add_folder(library, tmp_path / "photos")
    damaged = damage_copy(good_model, tmp_path / "damaged.pt")
    out = run("library", "--db", str(db), "caption-pending", "--model", str(damaged))
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    [line] = out.stderr.strip().splitlines()
    assert f"{damaged} is damaged: its contents do not match the checksums stored in it" in line
    assert "copy or download the model again" in line
    with Library.open(db) as library:
        assert library.list_failures() == []


def damage_copy(source: Path, target: Path, nbytes: int = 80_000) -> Path:
    """A byte-for-byte copy of ``source`` with ``nbytes`` of its largest tensor overwritten
    (in the middle of its data, the file size unchanged)."""
    import zipfile

    shutil.copyfile(source, target)
    with zipfile.ZipFile(target) as archive:
        biggest = max((m for m in archive.infolist() if "/data/" in m.filename), key=lambda m: m.file_size)
    assert biggest.file_size > nbytes
    with target.open("r+b") as fh:
        fh.seek(biggest.header_offset + 26)
        name_len, extra_len = int.from_bytes(fh.read(2), "little"), int.from_bytes(fh.read(2), "little")
        start = biggest.header_offset + 30 + name_len + extra_len
        fh.seek(start + (biggest.file_size - nbytes) // 2)
        fh.write(os.urandom(nbytes))
    assert target.stat().st_size == source.stat().st_size
    return target


def test_failures_count_per_model_and_model_independent_ones_count_for_every_model(
    tmp_path: Path,
) -> None:
    make_photos(tmp_path / "photos", 2)
    with new_library(tmp_path / "library.sqlite3") as library:
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
