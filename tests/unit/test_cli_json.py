"""``--json`` and ``-q`` of the library commands: the JSON each prints parses and says what happened."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.paths import bundled_model_path
from photoscribe.desktop.cli.library import register
from tests.helpers import new_library

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="photoscribe")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def _json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> Any:
    assert _run(*argv, "--json") == code
    captured = capsys.readouterr()
    return json.loads(captured.out)


def _quiet(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> str:
    assert _run(*argv, "-q") == code
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, colour in enumerate(("red", "green")):
        Image.new("RGB", (32, 24), colour).save(folder / f"p{i}.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def test_add_scan_status_remove_print_json_and_nothing_with_q(
    tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "library.sqlite3")
    added = _json(capsys, "library", "--db", db, "add", str(photos), code=1)  # broken.jpg: exit code 1
    assert added["folder"] == str(photos) and added["added"] == 2 and added["failed"] == 1
    assert [f["path"] for f in added["failures"]] == [str(photos / "broken.jpg")]
    assert added["failures"][0]["error"]

    (photos / "p1.jpg").unlink()
    scanned = _json(capsys, "library", "--db", db, "scan", code=1)
    assert scanned["missing"] == 1 and scanned["unchanged"] == 1 and "folder" not in scanned

    status = _json(capsys, "library", "--db", db, "status")
    assert status["library"] == db and status["read_only"] is None
    assert (status["photos"], status["missing"], status["uncaptioned"]) == (1, 1, 1)
    assert status["folders"] == [{"path": str(photos), "recursive": True}]

    # -q: nothing on stdout, the failures still on stderr, the same exit codes
    assert "broken.jpg" in _quiet(capsys, "library", "--db", db, "scan", code=1)
    assert _quiet(capsys, "library", "--db", db, "status") == ""

    removed = _json(capsys, "library", "--db", db, "remove", str(photos))
    assert removed == {"folder": str(photos), "photos_forgotten": 2}
    assert _json(capsys, "library", "--db", db, "status")["folders"] == []


def test_json_and_quiet_cannot_be_asked_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _run("library", "--db", str(tmp_path / "l.sqlite3"), "status", "--json", "-q")
    assert exc.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_retry_failed_export_keywords_and_write_metadata(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "library.sqlite3"
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (32, 24), "blue").save(photo)
    with new_library(db) as library:
        library.add_folder_record(tmp_path)
        ref = library.upsert_photo(photo, photo.stat().st_size, photo.stat().st_mtime)
        library.set_user_caption(ref.id, "a blue square")
        library.record_failure(str(tmp_path / "other.jpg"), "cannot read it", model="m1")
    d = str(db)

    assert _json(capsys, "library", "--db", d, "retry-failed") == {"reset": 1, "model": None}
    assert _quiet(capsys, "library", "--db", d, "retry-failed") == ""

    out = tmp_path / "alt.json"
    assert _quiet(capsys, "library", "--db", d, "export", "--format", "json", "--out", str(out)) == ""
    assert json.loads(out.read_text("utf-8"))  # -q still exports
    summary = _json(
        capsys, "library", "--db", d, "export", "--format", "csv", "--out", str(tmp_path / "a.csv")
    )
    assert summary["written"] == 1

    keywords = _json(capsys, "library", "--db", d, "keywords", str(photo), "--add", "square")
    assert [k["word"] for k in keywords["keywords"]] == ["square"]
    assert _quiet(capsys, "library", "--db", d, "keywords", str(photo), "--add", "blue") == ""

    refusal = _quiet(capsys, "library", "--db", d, "write-metadata", "--all", code=2)
    assert "--yes" in refusal  # the refusal goes to stderr when stdout is silent
    written = _json(capsys, "library", "--db", d, "write-metadata", "--all", "--yes")
    assert (written["written"], written["failed"], written["cancelled"]) == (1, [], False)
    again = _json(capsys, "library", "--db", d, "write-metadata", str(photo), "--yes")
    assert again["written"] + again["unchanged"] == 1 and again["skipped"] == 0


class _Embedder:
    """A stand-in for the sentence-transformers model: one fixed unit vector per caption."""

    model_id = "test-embedder"
    dim = 8

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        self.device = device

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.tile(np.eye(self.dim, dtype=np.float32)[0], (len(texts), 1))


def test_embed_prints_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr("photoscribe.core.library.meaning.SentenceEmbedder", _Embedder)
    db = tmp_path / "library.sqlite3"
    with new_library(db) as library:
        library.add_folder_record(tmp_path)
        photo = library.upsert_photo(tmp_path / "p.jpg", 4, 1.0)
        library.add_model_caption(photo.id, "sat-v1", "a dog", -1.0)
    report = _json(capsys, "library", "--db", str(db), "embed")
    assert (report["model"], report["embedded"], report["cancelled"]) == ("test-embedder", 1, False)
    assert _quiet(capsys, "library", "--db", str(db), "embed") == ""


@pytest.mark.bundled_model
def test_caption_pending_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = bundled_model_path()
    assert model is not None
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copyfile(DEMO / "000000377575.jpg", folder / "dog.jpg")
    db = str(tmp_path / "library.sqlite3")
    assert _run("library", "--db", db, "add", str(folder), "-q") == 0
    report = _json(capsys, "library", "--db", db, "caption-pending", "--model", str(model))
    assert (report["captioned"], report["failed"], report["failures"]) == (1, 0, [])
    assert report["model"] and report["seconds"] > 0
    assert _quiet(capsys, "library", "--db", db, "caption-pending", "--model", str(model)) == ""


def test_repair_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "library.sqlite3"
    with new_library(db) as library:
        library.add_folder_record(tmp_path)
        library.upsert_photo(tmp_path / "p.jpg", 4, 1.0)
    report = _json(capsys, "library", "--db", str(db), "repair")
    assert (report["path"], report["damage"], report["salvaged"], report["photos"]) == (
        str(db),
        None,
        False,
        1,
    )
    assert _quiet(capsys, "library", "--db", str(db), "repair") == ""
