"""XMP sidecars read back by an independent reader: ExifTool.

Needs ``exiftool`` (Debian/Ubuntu: ``apt-get install libimage-exiftool-perl``;
macOS: ``brew install exiftool``). The test fails, rather than skips, when it
is missing, so that CI cannot silently stop checking what we write.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from photoscribe.core.library.export import ALT_TEXT_LIMIT, split_alt_text, write_xmp_sidecars
from tests.helpers import new_library

SPECIAL = "Café & crème <brûlée> \"quoted\" 'single' — 日本の夜景 🐶🎉"
LONG = " ".join(
    f"Sentence {i}: a café in 日本 with <neon> signs & \"umbrellas\" 🌂, seen from the 'old' bridge."
    for i in range(6)
)


def _exiftool() -> str:
    found = shutil.which("exiftool") or ("/usr/bin/exiftool" if Path("/usr/bin/exiftool").is_file() else None)
    if found is None:
        pytest.fail(
            "exiftool is not installed; install it to run this test "
            "(Debian/Ubuntu: `apt-get install -y libimage-exiftool-perl`, macOS: `brew install exiftool`)"
        )
    return found


def _read(exiftool: str, *paths: Path) -> dict[str, dict[str, object]]:
    result = subprocess.run(
        [
            exiftool,
            "-j",
            "-struct",
            "-charset",
            "UTF8",
            "-XMP-iptcCore:AltTextAccessibility",
            "-XMP-iptcCore:ExtDescrAccessibility",
            "-XMP-dc:Description",
            "-XMP-dc:Creator",
            "-XMP-xmp:Rating",
            *map(str, paths),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return {Path(item["SourceFile"]).name: item for item in json.loads(result.stdout.decode("utf-8"))}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "Ferien 2023"
    folder.mkdir()
    for name, colour in (
        ("short.jpg", (200, 30, 30)),
        ("long.jpg", (30, 200, 30)),
        ("merged.jpg", (30, 30, 200)),
    ):
        Image.new("RGB", (64, 48), colour).save(folder / name, quality=90)
    return folder


def test_exiftool_reads_back_what_we_wrote(tmp_path: Path, photos: Path) -> None:
    exiftool = _exiftool()
    originals = {p.name: (_sha256(p), p.stat().st_mtime_ns) for p in photos.glob("*.jpg")}

    # A sidecar made by exiftool itself, with properties we must keep.
    subprocess.run(
        [
            exiftool,
            "-q",
            "-o",
            str(photos / "merged.jpg.xmp"),
            "-XMP-dc:Creator=Zoë",
            "-XMP-xmp:Rating=4",
            "-XMP-dc:Description=old description",
            "-XMP-iptcCore:ExtDescrAccessibility=stale extended description",
            str(photos / "merged.jpg"),
        ],
        check=True,
        timeout=60,
    )

    with new_library(tmp_path / "library.sqlite3") as library:
        library.add_folder_record(photos)
        ids = {}
        for name in ("short.jpg", "long.jpg", "merged.jpg"):
            path = photos / name
            ids[name] = library.upsert_photo(path, path.stat().st_size, path.stat().st_mtime).id
        library.add_model_caption(ids["short.jpg"], "sat-v1", "a red square", -1.0)
        library.set_user_caption(ids["short.jpg"], SPECIAL)
        library.add_model_caption(ids["long.jpg"], "sat-v1", LONG, -9.5)
        library.set_user_caption(ids["merged.jpg"], SPECIAL)
        summary = write_xmp_sidecars(library)
    assert (summary.written, summary.failed) == (3, ())

    tags = _read(exiftool, *(photos / f"{name}.xmp" for name in ids))

    short = tags["short.jpg.xmp"]
    assert short["AltTextAccessibility"] == SPECIAL
    assert short["Description"] == SPECIAL
    assert "ExtDescrAccessibility" not in short

    long = tags["long.jpg.xmp"]
    alt, extended = split_alt_text(LONG)
    assert extended == LONG and len(alt) < ALT_TEXT_LIMIT
    assert long["AltTextAccessibility"] == alt
    assert long["ExtDescrAccessibility"] == LONG
    assert long["Description"] == LONG

    merged = tags["merged.jpg.xmp"]
    assert merged["AltTextAccessibility"] == SPECIAL  # it was empty
    # Written by a person (with exiftool), not by photoscribe: kept.
    assert merged["Description"] == "old description"
    assert merged["ExtDescrAccessibility"] == "stale extended description"
    assert summary.kept == ((str(photos / "merged.jpg.xmp"), ("description",)),)
    assert merged["Creator"] == ["Zoë"] and merged["Rating"] == 4  # dc:creator is an ordered list

    # Binary read of one tag: exact bytes, no JSON involved.
    raw = subprocess.run(
        [exiftool, "-b", "-XMP-iptcCore:AltTextAccessibility", str(photos / "short.jpg.xmp")],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    assert raw.decode("utf-8") == SPECIAL

    # The photos themselves were never written.
    assert {p.name: (_sha256(p), p.stat().st_mtime_ns) for p in photos.glob("*.jpg")} == originals


def test_exiftool_applies_our_sidecar_to_a_copy_of_the_photo(tmp_path: Path, photos: Path) -> None:
    """The sidecar is valid enough for exiftool to copy its tags into a JPEG (a copy, not the original)."""
    exiftool = _exiftool()
    with new_library(tmp_path / "library.sqlite3") as library:
        path = photos / "short.jpg"
        photo = library.upsert_photo(path, path.stat().st_size, path.stat().st_mtime)
        library.set_user_caption(photo.id, SPECIAL)
        assert write_xmp_sidecars(library, tmp_path / "out").written == 1
    sidecar = tmp_path / "out" / "short.jpg.xmp"
    copy = tmp_path / "copy.jpg"
    shutil.copyfile(path, copy)
    subprocess.run(
        [exiftool, "-q", "-overwrite_original", "-tagsfromfile", str(sidecar), "-xmp:all", str(copy)],
        check=True,
        timeout=60,
    )
    assert _read(exiftool, copy)["copy.jpg"]["AltTextAccessibility"] == SPECIAL


def _subjects(exiftool: str, sidecar: Path) -> list[str]:
    result = subprocess.run(
        [exiftool, "-j", "-charset", "UTF8", "-XMP-dc:Subject", str(sidecar)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    value = json.loads(result.stdout.decode("utf-8"))[0].get("Subject", [])
    return value if isinstance(value, list) else [value]


def test_keywords_merge_into_dc_subject_keeping_a_persons(tmp_path: Path, photos: Path) -> None:
    exiftool = _exiftool()
    path = photos / "merged.jpg"
    sidecar = photos / "merged.jpg.xmp"
    subprocess.run(  # a sidecar with a person's keywords, made by another program
        [exiftool, "-q", "-o", str(sidecar), "-XMP-dc:Subject=Mia", "-XMP-dc:Subject=Holiday",
         "-XMP-dc:Subject=Bus", "-XMP-xmp:Rating=5", str(path)],
        check=True,
        timeout=60,
    )  # fmt: skip
    assert _subjects(exiftool, sidecar) == ["Mia", "Holiday", "Bus"]
    with new_library(tmp_path / "library.sqlite3") as library:
        photo = library.upsert_photo(path, path.stat().st_size, path.stat().st_mtime)
        library.add_model_caption(
            photo.id, "sat-v1", "a man riding a horse", -1.0, confidence=0.9,
            keywords=[("bus", 0.8), ("vehicle", 0.5), ("street sign", 0.2)],
        )  # fmt: skip
        library.add_keyword(photo.id, "holiday")
        assert write_xmp_sidecars(library).written == 1
        assert write_xmp_sidecars(library).written == 1  # again: nothing doubles
    # Every keyword of the person stays, in order and spelling; ours follow, without duplicates.
    assert _subjects(exiftool, sidecar) == ["Mia", "Holiday", "Bus", "vehicle", "street sign"]
    tags = _read(exiftool, sidecar)["merged.jpg.xmp"]
    assert tags["Rating"] == 5 and tags["AltTextAccessibility"] == "a man riding a horse"


def test_a_new_sidecar_lists_the_keywords(tmp_path: Path, photos: Path) -> None:
    exiftool = _exiftool()
    path = photos / "short.jpg"
    with new_library(tmp_path / "library.sqlite3") as library:
        photo = library.upsert_photo(path, path.stat().st_size, path.stat().st_mtime)
        library.add_model_caption(
            photo.id, "sat-v1", "a red bus", -1.0, keywords=[("bus", 0.9), ("café", 0.4)]
        )
        library.remove_keyword(photo.id, "bus")
        write_xmp_sidecars(library)
    assert _subjects(exiftool, photos / "short.jpg.xmp") == ["café"]


def _set(exiftool: str, sidecar: Path, *assignments: str) -> None:
    """Edit a sidecar the way a person's program does (exiftool rewrites the whole file)."""
    subprocess.run(
        [exiftool, "-q", "-overwrite_original", *assignments, str(sidecar)], check=True, timeout=60
    )


def test_a_persons_description_survives_every_export(tmp_path: Path, photos: Path) -> None:
    exiftool = _exiftool()
    rex = "Our dog Rex on his first day home"
    lightroom = photos / "long.xmp"  # Lightroom-style name for long.jpg
    subprocess.run(
        [exiftool, "-q", "-o", str(lightroom), "-XMP-dc:Description=Die Brücke", "-XMP-dc:Subject=Rhein",
         "-XMP-xmp:Rating=3", str(photos / "long.jpg")],
        check=True,
        timeout=60,
    )  # fmt: skip
    with new_library(tmp_path / "library.sqlite3") as library:
        ids = {}
        for name in ("short.jpg", "long.jpg"):
            photo = photos / name
            ids[name] = library.upsert_photo(photo, photo.stat().st_size, photo.stat().st_mtime).id
        library.add_model_caption(ids["short.jpg"], "sat-v1", "a dog on a sofa", -1.0)
        library.add_model_caption(ids["long.jpg"], "sat-v1", "a bridge", -1.0, keywords=[("bridge", 0.9)])
        assert write_xmp_sidecars(library).kept == ((str(lightroom), ("description",)),)

        # Ours is updated when the caption changes (exiftool rewrote the file in between).
        sidecar = photos / "short.jpg.xmp"
        _set(exiftool, sidecar, "-XMP-xmp:Rating=2")
        library.set_user_caption(ids["short.jpg"], "a brown dog asleep on a sofa")
        write_xmp_sidecars(library)
        tags = _read(exiftool, sidecar)["short.jpg.xmp"]
        assert tags["Description"] == tags["AltTextAccessibility"] == "a brown dog asleep on a sofa"
        assert tags["Rating"] == 2

        # A person's description, written with exiftool, survives any number of exports.
        _set(exiftool, sidecar, f"-XMP-dc:Description={rex}")
        for caption in ("a dog", "a black dog", "a black dog"):
            library.set_user_caption(ids["short.jpg"], caption)
            summary = write_xmp_sidecars(library)
            assert summary.written == 2
            assert sorted(Path(p).name for p, _ in summary.kept) == ["long.xmp", "short.jpg.xmp"]
            assert summary.kept_note() == "kept your description in 2 sidecars"
            tags = _read(exiftool, sidecar)["short.jpg.xmp"]
            assert tags["Description"] == rex
            assert tags["AltTextAccessibility"] == caption  # the alt text is still ours

    # long.xmp was merged into, never duplicated as long.jpg.xmp; its keywords were merged.
    assert not (photos / "long.jpg.xmp").exists()
    tags = _read(exiftool, lightroom)["long.xmp"]
    assert tags["Description"] == "Die Brücke" and tags["Rating"] == 3
    assert tags["AltTextAccessibility"] == "a bridge"
    assert _subjects(exiftool, lightroom) == ["Rhein", "bridge"]
