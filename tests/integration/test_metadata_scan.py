"""The real scanner imports what photos already say about themselves (issue 19, part 1).

Photos are tagged by exiftool (an independent writer), scanned into a real library file, then
searched through the ``library`` command; the photos and sidecars must not change by a byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.library.database import Library
from photoscribe.core.library.scanner import add_folder, index_paths, scan_folder
from photoscribe.desktop.cli.library import register
from tests.helpers import new_library

MODEL = "sat-test-v1"


def exiftool(*args: str | Path) -> None:
    tool = shutil.which("exiftool")
    if tool is None:
        pytest.fail("exiftool is not installed (Debian/Ubuntu: `apt-get install -y libimage-exiftool-perl`)")
    subprocess.run([tool, "-q", "-q", *map(str, args)], check=True)


def tagged(path: Path, *tags: str, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG")
    if tags:
        exiftool("-overwrite_original", *tags, path)
    return path


def digests(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
    }


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="photoscribe")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "Pictures"
    tagged(
        folder / "birthday.jpg", "-IPTC:Caption-Abstract=Grandma's 80th birthday", "-Keywords=cake", seed=1
    )
    tagged(
        folder / "beach.jpg",
        "-XMP-iptcCore:AltTextAccessibility=Rex running into the waves",
        "-XMP-dc:Description=Our dog at the beach",
        "-EXIF:ImageDescription=EXIF text",
        "-XMP-dc:Subject=dog",
        "-XMP-dc:Subject=sea",
        seed=2,
    )
    tagged(folder / "olympus.jpg", "-EXIF:ImageDescription=OLYMPUS DIGITAL CAMERA", seed=3)
    tagged(folder / "sidecar.jpg", "-XMP-dc:Description=embedded words", seed=4)
    exiftool("-o", folder / "sidecar.xmp", "-XMP-dc:Description=Lighthouse at dusk", "-XMP-dc:Subject=coast")
    tagged(folder / "plain.jpg", seed=5)
    good = (folder / "plain.jpg").read_bytes()
    (folder / "damaged.jpg").write_bytes(good[: len(good) // 3])  # truncated mid-scan data
    return folder


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    with new_library(tmp_path / "library.sqlite3") as lib:
        yield lib


def test_scan_imports_captions_and_keywords(library: Library, photos: Path) -> None:
    before = digests(photos)
    _, report = add_folder(library, photos)
    assert digests(photos) == before  # never writes to a photo or a sidecar
    assert report.added + report.failed == 6 and report.added >= 5  # the damaged file did not stop it

    def best(name: str) -> tuple[str, str] | None:
        caption = library.best_caption(photos / name)
        return None if caption is None else (caption.text, caption.source)

    assert best("birthday.jpg") == ("Grandma's 80th birthday", "imported:iptc:Caption-Abstract")
    assert best("beach.jpg") == (
        "Rex running into the waves",
        "imported:xmp:Iptc4xmpCore:AltTextAccessibility",
    )
    assert best("sidecar.jpg") == ("Lighthouse at dusk", "imported:sidecar:dc:description")
    assert best("olympus.jpg") is None and best("plain.jpg") is None
    caption = library.best_caption(photos / "beach.jpg")
    assert caption is not None and caption.is_user and caption.preferred
    words = {(k.word, k.source) for k in library.keywords(photos / "beach.jpg")}
    assert words == {("dog", "imported"), ("sea", "imported")}
    assert [k.word for k in library.keywords(photos / "sidecar.jpg")] == ["coast"]
    statuses = {p.name: p.status for p in library.list_photos()}
    assert statuses["birthday.jpg"] == "captioned" and statuses["olympus.jpg"] == "new"


def test_library_search_finds_the_imported_caption(
    library: Library, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_folder(library, photos)
    db = str(library.path)
    assert run_cli("library", "--db", db, "search", "grandma", "--json") == 0
    [hit] = json.loads(capsys.readouterr().out)
    assert hit["path"].endswith("birthday.jpg") and hit["caption"] == "Grandma's 80th birthday"
    assert run_cli("library", "--db", db, "search", "coast", "--json") == 0  # an imported keyword
    assert [h["path"].endswith("sidecar.jpg") for h in json.loads(capsys.readouterr().out)] == [True]


def test_captioning_afterwards_keeps_the_imported_caption_preferred(library: Library, photos: Path) -> None:
    add_folder(library, photos)
    birthday = library.get_photo(photos / "birthday.jpg")
    assert birthday is not None
    # Like a caption a person typed: skipped when asked to skip those, else captioned beside it.
    skipping = library.pending_for_model(MODEL, 100, skip_user_captioned=True)
    assert birthday.id not in {p.id for p in skipping}
    assert birthday.id in {p.id for p in library.pending_for_model(MODEL, 100)}
    assert library.add_model_caption(birthday.id, MODEL, "a cake on a table", -1.0)
    best = library.best_caption(birthday.id)
    assert best is not None and best.text == "Grandma's 80th birthday"
    assert {c.source for c in library.captions(birthday.id)} == {MODEL, "imported:iptc:Caption-Abstract"}
    library.forget_model_captions(None)  # re-captioning never forgets it either
    assert [c.text for c in library.captions(birthday.id)] == ["Grandma's 80th birthday"]


def test_changed_file_replaces_the_import_but_not_a_persons_edits(library: Library, photos: Path) -> None:
    add_folder(library, photos)
    beach = photos / "beach.jpg"
    library.remove_keyword(beach, "sea")
    exiftool(
        "-overwrite_original",
        "-XMP-iptcCore:AltTextAccessibility=Rex and Bella in the waves",
        "-XMP-dc:Subject+=sand",
        beach,
    )
    os.utime(beach, ns=(beach.stat().st_atime_ns, beach.stat().st_mtime_ns + 10**9))
    report = scan_folder(library, photos)
    assert report.updated == 1
    captions = library.captions(beach)
    assert [(c.text, c.source) for c in captions] == [
        ("Rex and Bella in the waves", "imported:xmp:Iptc4xmpCore:AltTextAccessibility")
    ]
    assert {k.word for k in library.keywords(beach)} == {"dog", "sand"}  # "sea" stays removed

    library.set_user_caption(beach, "Typed in photoscribe")
    exiftool("-overwrite_original", "-XMP-iptcCore:AltTextAccessibility=edited again", beach)
    result = index_paths(library, [beach])  # the watcher's path
    assert result.updated and not result.failed
    best = library.best_caption(beach)
    assert best is not None and best.text == "Typed in photoscribe"


def test_our_own_export_of_a_model_caption_is_not_imported_as_a_persons(
    library: Library, photos: Path
) -> None:
    add_folder(library, photos)
    plain = photos / "plain.jpg"
    photo = library.get_photo(plain)
    assert photo is not None and library.add_model_caption(photo.id, MODEL, "a red bus", -1.0)
    exiftool("-o", photos / "plain.jpg.xmp", "-XMP-dc:Description=a red bus", "-XMP-dc:Subject=bus")
    os.utime(plain, ns=(plain.stat().st_atime_ns, plain.stat().st_mtime_ns + 10**9))
    assert scan_folder(library, photos).updated == 1
    best = library.best_caption(plain)
    assert best is not None and (best.source, best.preferred) == (MODEL, False)
    assert [k.word for k in library.keywords(plain)] == ["bus"]
