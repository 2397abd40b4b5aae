"""A sidecar edited on its own (the photo untouched) is read again by a rescan and by the watcher.

Sidecars are written by exiftool (an independent writer, as Lightroom or darktable would), the
photo's own bytes and mtime never change; the library is a real SQLite file and the watcher the
real watchdog observer.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine

from photoscribe.core.library.database import Library
from photoscribe.core.library.export import write_xmp_sidecars
from photoscribe.core.library.keywords import replace_model_keywords
from photoscribe.core.library.scanner import add_folder, rescan_all, scan_folder
from photoscribe.core.library.sidecars import photos_of_sidecar
from photoscribe.core.library.upgrade import alembic_config
from photoscribe.core.library.watcher import ChangeSummary, FolderWatcher
from photoscribe.core.library.xmp import SIDECAR_EXT
from tests.helpers import new_library, wait_until

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "library-0001.sqlite"
MODEL = "sat-test-v1"
TIMEOUT = 30.0


def exiftool(*args: str | Path) -> None:
    tool = shutil.which("exiftool")
    if tool is None:
        pytest.fail("exiftool is not installed (Debian/Ubuntu: `apt-get install -y libimage-exiftool-perl`)")
    subprocess.run([tool, "-q", "-q", *map(str, args)], check=True)


def write_sidecar(path: Path, *tags: str) -> None:
    """Write (or rewrite) a sidecar as another program would: a new file each time, a new mtime."""
    if path.exists():
        path.unlink()
    exiftool("-o", path, *tags)
    bump(path)


def bump(path: Path) -> None:
    """Move a file's mtime a second on, so a change is seen even within one clock tick."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def jpeg(path: Path, seed: int, *tags: str) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG")
    if tags:
        exiftool("-overwrite_original", *tags, path)
    return path


def stamp(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    pictures = tmp_path / "Pictures"
    pictures.mkdir()
    jpeg(pictures / "rex.jpg", 1, "-IPTC:Caption-Abstract=From the camera's IPTC")
    jpeg(pictures / "plain.jpg", 2)
    return pictures


@pytest.fixture
def library(tmp_path: Path, folder: Path) -> Iterator[Library]:
    with new_library(tmp_path / "library.sqlite3") as lib:
        add_folder(lib, folder)
        yield lib


def stored_stamp(library: Library, path: Path) -> str | None:
    with sqlite3.connect(library.path) as conn:
        row = conn.execute("SELECT sidecar_stamp FROM photos WHERE path = ?", (str(path),)).fetchone()
    return None if row is None else row[0]


def best(library: Library, path: Path) -> tuple[str, str] | None:
    caption = library.best_caption(path)
    return None if caption is None else (caption.text, caption.source)


def test_a_rescan_reads_a_sidecar_written_edited_and_deleted_on_its_own(
    library: Library, folder: Path
) -> None:
    rex, plain = folder / "rex.jpg", folder / "plain.jpg"
    photos_before = {p: stamp(p) for p in (rex, plain)}
    assert best(library, rex) == ("From the camera's IPTC", "imported:iptc:Caption-Abstract")

    write_sidecar(
        folder / "rex.xmp", "-XMP-dc:Description=Our dog Rex on his first day home", "-XMP-dc:Subject=rex"
    )
    write_sidecar(folder / "plain.jpg.xmp", "-XMP-iptcCore:AltTextAccessibility=A red kite over the dunes")
    report = scan_folder(library, folder)
    assert (report.updated, report.unchanged, report.added) == (2, 0, 0)
    assert best(library, rex) == ("Our dog Rex on his first day home", "imported:sidecar:dc:description")
    assert [k.word for k in library.keywords(rex)] == ["rex"]
    assert best(library, plain) == (
        "A red kite over the dunes",
        "imported:sidecar:Iptc4xmpCore:AltTextAccessibility",
    )
    assert scan_folder(library, folder).updated == 0  # nothing changed since: nothing read again

    write_sidecar(folder / "rex.xmp", "-XMP-dc:Description=Rex, three months old")
    assert scan_folder(library, folder).updated == 1
    assert best(library, rex) == ("Rex, three months old", "imported:sidecar:dc:description")
    assert [c.text for c in library.captions(rex)] == ["Rex, three months old"]  # replaced, not added

    # Deleted: the photo's own IPTC applies again; a photo with nothing else loses the sidecar's words.
    (folder / "rex.xmp").unlink()
    (folder / "plain.jpg.xmp").unlink()
    report = rescan_all(library)
    assert report.updated == 2
    assert best(library, rex) == ("From the camera's IPTC", "imported:iptc:Caption-Abstract")
    assert best(library, plain) is None
    photo = library.get_photo(plain)
    assert photo is not None and photo.status == "new"  # back in the captioning queue
    assert {p: stamp(p) for p in (rex, plain)} == photos_before  # the photos were never written


def test_a_caption_typed_in_photoscribe_wins_over_a_sidecar_edit(library: Library, folder: Path) -> None:
    rex = folder / "rex.jpg"
    library.set_user_caption(rex, "Typed in photoscribe")
    write_sidecar(folder / "rex.jpg.xmp", "-XMP-dc:Description=Written in darktable")
    assert scan_folder(library, folder).updated == 0  # read again, but nothing of the library changed
    assert best(library, rex) == ("Typed in photoscribe", "user")
    (folder / "rex.jpg.xmp").unlink()
    scan_folder(library, folder)
    assert best(library, rex) == ("Typed in photoscribe", "user")


def test_a_description_edited_elsewhere_after_our_export_wins_over_the_text_we_exported(
    tmp_path: Path, library: Library, folder: Path
) -> None:
    # The Rex scenario, then the person rewrites the description in Lightroom: our export
    # copied their first text into the alt text, which must not hide their later edit.
    rex = folder / "rex.jpg"
    sidecar = folder / "rex.jpg.xmp"
    write_sidecar(sidecar, "-XMP-dc:Description=Our dog Rex on his first day home", "-XMP-xmp:Rating=4")
    scan_folder(library, folder)
    assert best(library, rex) == ("Our dog Rex on his first day home", "imported:sidecar:dc:description")
    write_xmp_sidecars(library, xmp_sidecar_name=SIDECAR_EXT)
    bump(sidecar)
    assert scan_folder(library, folder).updated == 0  # our export read back: nothing changes
    write_sidecar_in_place(sidecar, "-XMP-dc:Description=Rex asleep on the sofa")
    scan_folder(library, folder)
    assert best(library, rex) == ("Rex asleep on the sofa", "imported:sidecar:dc:description")
    with new_library(tmp_path / "elsewhere.sqlite3") as other:
        add_folder(other, folder)
        assert best(other, rex) == ("Rex asleep on the sofa", "imported:sidecar:dc:description")


def write_sidecar_in_place(path: Path, *tags: str) -> None:
    """Edit an existing sidecar as another program would, keeping its other properties."""
    exiftool("-overwrite_original", *tags, path)
    bump(path)


def test_a_sidecar_named_by_stem_belongs_to_every_photo_of_that_name(tmp_path: Path) -> None:
    pictures = tmp_path / "Shoot"
    pictures.mkdir()
    jpeg(pictures / "dunes.jpg", 3)
    Image.new("RGB", (16, 12), (10, 200, 10)).save(pictures / "dunes.png")
    jpeg(pictures / "dunes-2.jpg", 4)
    with new_library(tmp_path / "library.sqlite3") as library:
        add_folder(library, pictures)
        write_sidecar(pictures / "dunes.xmp", "-XMP-dc:Description=Dunes at Texel")
        assert scan_folder(library, pictures).updated == 2
        assert best(library, pictures / "dunes.jpg") == ("Dunes at Texel", "imported:sidecar:dc:description")
        assert best(library, pictures / "dunes.png") == ("Dunes at Texel", "imported:sidecar:dc:description")
        assert best(library, pictures / "dunes-2.jpg") is None


def test_our_own_export_is_not_read_back_as_a_persons_words(library: Library, folder: Path) -> None:
    plain = folder / "plain.jpg"
    photo = library.get_photo(plain)
    assert photo is not None
    library.add_model_caption(photo.id, MODEL, "a small bird on a branch", -1.0)
    library.mark_reviewed(photo.id)
    summary = write_xmp_sidecars(library, xmp_sidecar_name=SIDECAR_EXT)
    assert summary.written == 2 and (folder / "plain.jpg.xmp").is_file()
    report = scan_folder(library, folder)
    assert report.updated == 0  # the sidecars were read again, and nothing of ours was imported
    assert best(library, plain) == ("a small bird on a branch", MODEL)
    assert best(library, folder / "rex.jpg") == ("From the camera's IPTC", "imported:iptc:Caption-Abstract")
    assert scan_folder(library, folder).updated == 0


def test_which_photos_a_sidecar_belongs_to(tmp_path: Path) -> None:
    folder = tmp_path / "Shoot"
    with new_library(tmp_path / "library.sqlite3") as library:
        for name in ("a.jpg", "a.png", "a.jpg.png", "ab.jpg", "b.jpg", "sub/a.jpg", "gone.jpg"):
            library.upsert_photo(folder / name, 1, 1.0)
        library.mark_missing(folder / "gone.jpg")

        def photos(sidecar: str) -> list[str]:
            with library.session() as session:
                found = photos_of_sidecar(session, str(folder / sidecar))
            return sorted(os.path.relpath(path, folder) for _, path, _ in found)

        assert photos("a.jpg.xmp") == ["a.jpg", "a.jpg.png"]  # a.jpg.png's stem sidecar is a.jpg.xmp
        assert photos("a.xmp") == ["a.jpg", "a.png"]
        assert photos("b.xmp") == ["b.jpg"] and photos("b.jpg.xmp") == ["b.jpg"]
        assert photos("sub/a.xmp") == ["sub/a.jpg"]
        assert photos("gone.xmp") == [] and photos("c.xmp") == [] and photos("a.jpg") == []


# --------------------------------------------------------------------------- the watcher


class Watching:
    """A library with one watched folder and a running watcher collecting its summaries."""

    def __init__(self, library: Library, folder: Path) -> None:
        self.library = library
        self.summaries: list[ChangeSummary] = []
        self.watcher = FolderWatcher(
            library, debounce_s=0.1, stable_checks=1, on_change=self.summaries.append
        )
        self.watcher.start()
        self.watcher.watch(folder)

    def until(self, predicate: Callable[[], object]) -> None:
        assert wait_until(predicate), "the watcher did not get there in time"
        assert self.watcher.wait_idle(TIMEOUT)

    def updated(self) -> list[int]:
        return [photo_id for s in list(self.summaries) for photo_id in s.updated]


def test_the_watcher_reads_sidecars_created_edited_moved_and_deleted(library: Library, folder: Path) -> None:
    rex, plain = folder / "rex.jpg", folder / "plain.jpg"
    photos_before = {p: stamp(p) for p in (rex, plain)}
    photo = library.get_photo(rex)
    assert photo is not None
    rex_id = photo.id
    watching = Watching(library, folder)
    try:
        write_sidecar(
            folder / "rex.jpg.xmp", "-XMP-dc:Description=Rex asleep on the sofa", "-XMP-dc:Subject=sofa"
        )
        watching.until(
            lambda: best(library, rex) == ("Rex asleep on the sofa", "imported:sidecar:dc:description")
        )
        assert rex_id in watching.updated()
        assert [k.word for k in library.keywords(rex)] == ["sofa"]

        write_sidecar(folder / "rex.jpg.xmp", "-XMP-dc:Description=Rex awake now")
        watching.until(lambda: best(library, rex) == ("Rex awake now", "imported:sidecar:dc:description"))

        # A Lightroom-style sidecar moved into place (saved as a temporary file, then renamed).
        exiftool("-o", folder / ".plain.tmp.xmp", "-XMP-dc:Description=Kite festival")
        os.replace(folder / ".plain.tmp.xmp", folder / "plain.xmp")
        watching.until(lambda: best(library, plain) == ("Kite festival", "imported:sidecar:dc:description"))

        # Moved away (renamed out of its name) and deleted: the photo's own words, or none, apply again.
        os.replace(folder / "plain.xmp", folder / "plain-old.txt")
        watching.until(lambda: best(library, plain) is None)
        (folder / "rex.jpg.xmp").unlink()
        watching.until(
            lambda: best(library, rex) == ("From the camera's IPTC", "imported:iptc:Caption-Abstract")
        )
    finally:
        watching.watcher.stop()
    assert {p: stamp(p) for p in (rex, plain)} == photos_before


def test_the_watcher_does_not_churn_on_our_own_export(library: Library, folder: Path) -> None:
    plain = folder / "plain.jpg"
    photo = library.get_photo(plain)
    assert photo is not None
    library.add_model_caption(photo.id, MODEL, "a small bird on a branch", -1.0)
    with library.transaction() as session:
        replace_model_keywords(session, photo.id, MODEL, [("branch", 0.9)])
    watching = Watching(library, folder)
    try:
        summary = write_xmp_sidecars(library)
        assert summary.written == 2
        sidecar = folder / "plain.jpg.xmp"
        watching.until(lambda: stored_stamp(library, plain) is not None)  # the watcher read it
        first = sidecar.stat().st_mtime_ns
        assert watching.watcher.wait_idle(TIMEOUT)
        assert watching.updated() == []  # read again, nothing imported: no change reported, no re-caption
        assert best(library, plain) == ("a small bird on a branch", MODEL)
        assert [(k.word, k.source) for k in library.keywords(plain)] == [("branch", f"model:{MODEL}")]
        assert sidecar.stat().st_mtime_ns == first  # nothing wrote it again
    finally:
        watching.watcher.stop()


# --------------------------------------------------------------------------- schema 0005


def _columns(db: Path, table: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _match(db: Path, query: str) -> list[int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT rowid FROM captions_fts WHERE captions_fts MATCH ? ORDER BY rowid", (query,)
        )
        return [row[0] for row in rows]


def test_0005_upgrades_the_0001_fixture_and_downgrades_to_0004_and_back(tmp_path: Path) -> None:
    from alembic import command

    db = tmp_path / "library.sqlite3"
    shutil.copyfile(FIXTURE, db)
    snow = _match(db, "snow")
    assert snow
    with Library.open(db) as library:
        photo = library.list_photos()[0]
    assert "sidecar_stamp" in _columns(db, "photos")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE photos SET sidecar_stamp = 'ext:1:2.0' WHERE id = ?", (photo.id,))
        conn.execute("UPDATE photos SET name = 'renamed-glacier.jpg' WHERE id = ?", (photo.id,))
    assert _match(db, "glacier") == [photo.id]  # the search triggers on photos still work

    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0004")
    finally:
        engine.dispose()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0004",)
        triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        conn.execute("UPDATE photos SET name = 'renamed-fjord.jpg' WHERE id = ?", (photo.id,))
    assert "sidecar_stamp" not in _columns(db, "photos")
    assert {"photos_fts_ai", "photos_fts_au", "photos_fts_ad", "captions_fts_ai"} <= triggers
    assert _match(db, "fjord") == [photo.id] and _match(db, "snow") == snow

    with Library.open(db) as library:  # and up again
        assert library.get_photo(photo.id) is not None
    assert "sidecar_stamp" in _columns(db, "photos")
    assert _match(db, "snow") == snow
