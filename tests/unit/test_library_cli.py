"""``photoscribe library ...`` commands, run through argparse against a real library file."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from photoscribe.core.library.database import Library
from photoscribe.desktop.cli.library import register
from tests.helpers import new_library, set_feature


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="photoscribe")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "library.sqlite3"
    photos = tmp_path / "photos"
    photos.mkdir()
    with new_library(path) as library:
        library.add_folder_record(photos)
        for i, caption in enumerate(["a dog on the grass", "a red bicycle", "=cmd|' /C calc'!A0"]):
            file = photos / f"p{i}.jpg"
            file.write_bytes(b"jpeg")
            photo = library.upsert_photo(file, 4, 1.0)
            library.add_model_caption(photo.id, "sat-v1", caption, -1.0)
            set_feature(library, photo.id, np.eye(8)[0] + i * np.eye(8)[1], "enc")
    return path


def test_status(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("library", "--db", str(db), "status") == 0
    out = capsys.readouterr().out
    assert "photos:       3" in out and "needs review: 3" in out and str(db.parent / "photos") in out


def test_search_text_and_json(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("library", "search", "dogs", "--db", str(db)) == 0  # --db after the subcommand works too
    assert "a [dog] on the grass" in capsys.readouterr().out
    assert _run("library", "--db", str(db), "search", "bic", "--json", "--limit", "5") == 0
    [hit] = json.loads(capsys.readouterr().out)
    assert hit["caption"] == "a red bicycle" and hit["path"].endswith("p1.jpg") and hit["reviewed"] is False
    assert _run("library", "--db", str(db), "search", 'NEAR( "" AND *', "--json") == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)


def test_set_caption_then_similar(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = str(db.parent / "photos" / "p0.jpg")
    assert _run("library", "--db", str(db), "set-caption", photo, "Rex in the garden") == 0
    assert capsys.readouterr().out == "caption set: Rex in the garden\n"
    assert _run("library", "--db", str(db), "search", "rex", "--json") == 0
    [hit] = json.loads(capsys.readouterr().out)
    assert (hit["caption"], hit["source"], hit["reviewed"]) == ("Rex in the garden", "user", True)
    assert _run("library", "--db", str(db), "similar", "1", "-k", "1", "--json") == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["id"] == 2
    assert _run("library", "--db", str(db), "set-caption", "/no/such/photo.jpg", "x") == 1
    assert "no photo" in capsys.readouterr().err


def test_export_and_remove(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "alt.csv"
    # The fixture's captions are all unreviewed model captions: --all exports them deliberately.
    assert _run("library", "--db", str(db), "export", "--format", "csv", "--out", str(out), "--all") == 0
    with open(out, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and rows[2]["alt_text"].startswith("'=")
    assert (
        _run(
            "library",
            "--db",
            str(db),
            "export",
            "--format",
            "json",
            "--out",
            str(tmp_path / "r.json"),
            "--reviewed-only",
        )
        == 0
    )
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8")) == []
    assert _run("library", "--db", str(db), "export", "--format", "xmp", "--all") == 0
    assert (db.parent / "photos" / "p0.jpg.xmp").is_file()
    # A person's description in a Lightroom-style p1.xmp is kept, and the report says where.
    mine = (db.parent / "photos" / "p0.jpg.xmp").read_text(encoding="utf-8")
    person = mine.replace(">a dog on the grass<", ">Rex in the garden<", 1)
    (db.parent / "photos" / "p0.jpg.xmp").write_text(person, encoding="utf-8")
    (db.parent / "photos" / "p0.jpg.xmp").rename(db.parent / "photos" / "p0.xmp")
    capsys.readouterr()
    assert (
        _run("library", "--db", str(db), "export", "--format", "xmp", "--sidecar-name", "stem", "--all") == 0
    )
    out = capsys.readouterr().out
    assert "kept your description in 1 sidecar" in out
    assert f"kept: {db.parent / 'photos' / 'p0.xmp'} (description)" in out
    assert "Rex in the garden" in (db.parent / "photos" / "p0.xmp").read_text(encoding="utf-8")
    assert not (db.parent / "photos" / "p0.jpg.xmp").exists()
    # p2 already has p2.jpg.xmp: merged into, no p2.xmp beside it.
    assert (db.parent / "photos" / "p2.jpg.xmp").is_file() and not (db.parent / "photos" / "p2.xmp").exists()

    assert _run("library", "--db", str(db), "remove", str(db.parent / "photos")) == 0
    assert "3 photos forgotten" in capsys.readouterr().out
    assert (db.parent / "photos" / "p0.jpg").is_file()
    assert _run("library", "--db", str(db), "remove", str(db.parent / "photos")) == 1


def test_export_never_writes_over_a_photo_and_needs_force_for_a_file(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = db.parent / "photos"
    photo = photos / "p1.jpg"
    before = photo.read_bytes()
    for out in (photo, tmp_path / "new-name.JPG", tmp_path / "x.heic"):
        code = _run("library", "--db", str(db), "export", "--format", "html", "--out", str(out), "--force")
        assert code == 1 and "photo" in capsys.readouterr().err
    assert photo.read_bytes() == before and not (tmp_path / "new-name.JPG").exists()
    # a library photo with a name no photo type has (the scanner sniffs content, not names)
    odd = photos / "scan-0001.dat"
    odd.write_bytes(b"jpeg")
    with Library.open(db) as library:
        library.upsert_photo(odd, 4, 1.0)
    assert _run("library", "--db", str(db), "export", "--format", "csv", "--out", str(odd), "--force") == 1
    assert "photo in the library" in capsys.readouterr().err and odd.read_bytes() == b"jpeg"
    # an existing file only with --force, written whole (a temporary file renamed into place)
    notes = tmp_path / "notes.csv"
    notes.write_text("my notes")
    assert _run("library", "--db", str(db), "export", "--format", "csv", "--out", str(notes)) == 1
    assert "--force" in capsys.readouterr().err and notes.read_text() == "my notes"
    assert _run("library", "--db", str(db), "export", "--format", "csv", "--out", str(notes), "--force") == 0
    assert notes.read_text(encoding="utf-8-sig").startswith("path,alt_text")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_export_leaves_low_confidence_out_unless_asked(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Library.open(db) as library:
        file = db.parent / "photos" / "horse.jpg"
        file.write_bytes(b"jpeg")
        photo = library.upsert_photo(file, 4, 1.0)
        library.add_model_caption(photo.id, "sat-v1", "a bus on a horse", -1.0, confidence=0.12)
    out = tmp_path / "alt.json"
    assert _run("library", "--db", str(db), "export", "--format", "json", "--out", str(out), "--all") == 0
    printed = capsys.readouterr().out
    assert "wrote 3" in printed
    assert "1 low-confidence caption left out; --include-low-confidence exports them" in printed
    args = ("library", "--db", str(db), "export", "--format", "json", "--out", str(out), "--force", "--all")
    assert _run(*args, "--include-low-confidence") == 0
    assert "low-confidence" not in capsys.readouterr().out
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 4


def test_keywords_command_search_and_status(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Library.open(db) as library:
        file = db.parent / "photos" / "horse.jpg"
        file.write_bytes(b"jpeg")
        photo = library.upsert_photo(file, 4, 1.0)
        library.add_model_caption(
            photo.id,
            "sat-v1",
            "a man riding a horse",
            -1.0,
            confidence=0.34,
            keywords=[("bus", 0.7), ("car", 0.2)],
        )
    base = ("library", "--db", str(db))
    assert _run(*base, "keywords", str(file), "--add", "Holiday", "--remove", "car", "--remove", "boat") == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "not a keyword of this photo: boat",
        "Holiday\t\tuser",
        "bus\t0.70\tmodel:sat-v1",
        "Confidence 0.34 — low: check that every object named is in the photo",
    ]
    assert _run(*base, "keywords", str(photo.id), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [k["word"] for k in data["keywords"]] == ["Holiday", "bus"] and data["confidence"] == 0.34

    assert _run(*base, "search", "bus") == 0
    out = capsys.readouterr().out
    assert (
        "horse.jpg" in out
        and "a man riding a horse — Holiday, [bus]" in out
        and "keywords: Holiday, bus" in out
    )
    assert _run(*base, "search", "car", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []  # removed: not found any more
    assert _run(*base, "search", "holiday", "--json") == 0
    [hit] = json.loads(capsys.readouterr().out)
    assert hit["keywords"] == ["Holiday", "bus"]

    assert _run(*base, "status") == 0
    assert "of which low confidence: 1" in capsys.readouterr().out
    assert _run(*base, "keywords", "/no/such.jpg") == 1


def test_export_scope_reviewed_only_default_and_json_summary(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = db.parent / "photos"
    with Library.open(db) as library:
        library.mark_reviewed(library.get_photo(photos / "p0.jpg").id)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        library.add_folder_record(elsewhere)
        file = elsewhere / "dog.jpg"
        file.write_bytes(b"jpeg")
        photo = library.upsert_photo(file, 4, 1.0)
        library.set_user_caption(photo.id, "my dog Rex on the sofa")
    base = ("library", "--db", str(db), "export", "--format", "json")
    out = tmp_path / "out.json"

    def exported(*extra: str) -> list[str]:
        capsys.readouterr()
        assert _run(*base, "--out", str(out), "--force", *extra) == 0
        return sorted(Path(d["path"]).name for d in json.loads(out.read_text(encoding="utf-8")))

    # Reviewed-only by default: the person's caption and the approved one; the rest on --all.
    assert exported() == ["dog.jpg", "p0.jpg"]
    assert "2 unreviewed captions left out; --all exports them" in capsys.readouterr().out
    assert exported("--all") == ["dog.jpg", "p0.jpg", "p1.jpg", "p2.jpg"]
    # --query has the search box's semantics (stemming: "dogs" finds "dog"); --folder any depth.
    assert exported("--query", "dogs") == ["dog.jpg", "p0.jpg"]
    assert exported("--query", "dog -rex") == ["p0.jpg"]
    assert exported("--folder", str(photos), "--all") == ["p0.jpg", "p1.jpg", "p2.jpg"]
    assert exported("--folder", str(photos), "--query", "bicycle") == []
    # --json: what was written, and what was skipped and why.
    capsys.readouterr()
    assert _run(*base, "--out", str(out), "--force", "--folder", str(photos), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["written"] == 1 and report["files"] == [str(out)]
    assert report["skipped"] == {"total": 2, "no_caption": 0, "not_reviewed": 2, "low_confidence": 0}
    with pytest.raises(SystemExit):
        _run(*base, "--all", "--reviewed-only")
