"""The folder scanner: walking, change detection without opening files, moves, duplicates, missing files."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.errors import LibraryError
from photoscribe.core.library import indexing, scanner
from photoscribe.core.library.database import Library
from photoscribe.core.library.records import PhotoInfo
from photoscribe.core.library.scanner import add_folder, index_paths, rescan_all, scan_folder
from photoscribe.core.library.search import search
from photoscribe.core.library.thumbnails import ThumbnailCache
from photoscribe.core.progress import Progress
from photoscribe.desktop.cli.library import register

MODEL = "sat-test-v1"


def make_jpeg(path: Path, seed: int, size: tuple[int, int] = (32, 24), **save: object) -> Path:
    """A small JPEG whose pixels (and so hash) depend on ``seed``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG", **save)
    return path


def bump_mtime(path: Path, seconds: float = 10.0) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + int(seconds * 1e9)))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "Pictures"
    folder.mkdir()
    return folder


def paths_of(library: Library, status: str | None = None) -> set[str]:
    return {p.path for p in library.list_photos(status=status)}


def test_scan_finds_nested_images_and_skips_hidden_system_and_non_images(
    library: Library, root: Path
) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D"
    exif[0x0132] = "2019:07:14 18:30:05"
    wanted = {
        make_jpeg(root / "top.jpg", 1, (40, 30), exif=exif.tobytes()),
        make_jpeg(root / "2019" / "summer" / "beach.JPG", 2),
        make_jpeg(root / "2019" / "disguised.dat", 3),  # a real JPEG with another extension
    }
    png = root / "2019" / "summer" / "shot.png"
    Image.new("RGB", (16, 9), "red").save(png)
    wanted.add(png)
    for ignored in (".hidden/a.jpg", "@eaDir/b.jpg", "$RECYCLE.BIN/c.jpg", "System Volume Information/d.jpg",
                    "__MACOSX/e.jpg", ".thumbnails/f.jpg", ".dotfile.jpg"):  # fmt: skip
        make_jpeg(root / ignored, 9)
    (root / "notes.jpg").write_text("not a photo at all")
    (root / "2019" / "readme.txt").write_text("hello")

    seen: list[Progress] = []
    folder, report = add_folder(library, root, on_progress=seen.append)

    assert paths_of(library) == {str(p) for p in wanted}
    assert (report.added, report.skipped, report.failed, report.missing) == (4, 2, 0, 0)
    top = library.get_photo(root / "top.jpg")
    assert top is not None and top.folder_id == folder.id
    assert (top.width, top.height, top.camera) == (40, 30, "Canon EOS 5D")
    assert top.taken_at == datetime(2019, 7, 14, 18, 30, 5)
    assert top.content_hash == scanner.file_hash(root / "top.jpg") and len(top.content_hash) == 64
    assert {p.stage for p in seen} == {"scan"}
    assert (seen[-1].done, seen[-1].total) == (6, 6)  # 4 photos + 2 non-images looked at


@pytest.mark.timeout(30)
def test_symlink_loops_do_not_hang(library: Library, root: Path) -> None:
    make_jpeg(root / "a" / "one.jpg", 1)
    make_jpeg(root / "a" / "b" / "two.jpg", 2)
    os.symlink(root, root / "a" / "b" / "back-to-root")
    os.symlink(root / "a", root / "a" / "self")
    _, report = add_folder(library, root)
    assert report.added == 2
    assert paths_of(library) == {str(root / "a" / "one.jpg"), str(root / "a" / "b" / "two.jpg")}


def test_rescan_recognises_unchanged_files_without_opening_them(
    library: Library, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(30):
        make_jpeg(root / f"d{i % 3}" / f"p{i}.jpg", i)
    add_folder(library, root)
    opened: Counter[str] = Counter()

    def counting(name: str, real):  # type: ignore[no-untyped-def]
        def wrapper(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            opened[name] += 1
            return real(path, *args, **kwargs)

        return wrapper

    for name in ("file_hash", "sniff_image", "read_exif_summary"):
        monkeypatch.setattr(indexing, name, counting(name, getattr(indexing, name)))

    report = scan_folder(library, root)
    assert (report.unchanged, report.added, report.updated) == (30, 0, 0)
    assert sum(opened.values()) == 0

    make_jpeg(root / "d1" / "p4.jpg", 1000, (50, 20))  # really changed
    bump_mtime(root / "d1" / "p4.jpg")
    report = scan_folder(library, root)
    assert (report.unchanged, report.updated) == (29, 1)
    assert opened == {"file_hash": 1, "sniff_image": 1, "read_exif_summary": 1}
    assert library.get_photo(root / "d1" / "p4.jpg").width == 50


def test_modified_file_loses_its_model_caption_but_keeps_the_user_caption(
    library: Library, root: Path
) -> None:
    edited = make_jpeg(root / "edited.jpg", 1)
    touched = make_jpeg(root / "touched.jpg", 2)
    add_folder(library, root)
    edited_photo = library.get_photo(edited)
    touched_photo = library.get_photo(touched)
    for photo in (edited_photo, touched_photo):
        assert library.add_model_caption(photo.id, MODEL, "a photo of a lighthouse", -2.0)
    library.set_user_caption(edited_photo.id, "Grandma's lighthouse")

    make_jpeg(edited, 77, (64, 48))  # new pixels
    bump_mtime(edited)
    bump_mtime(touched)  # same bytes, new mtime
    report = scan_folder(library, root)

    assert report.updated == 2
    after = library.get_photo(edited)
    assert after.id == edited_photo.id and after.content_hash != edited_photo.content_hash
    assert (after.width, after.height) == (64, 48)
    assert [c.source for c in library.captions(after.id)] == ["user"]
    assert [c.source for c in library.captions(touched_photo.id)] == [MODEL]
    assert [p.id for p in library.pending_for_model(MODEL)] == [edited_photo.id]


def test_file_renamed_while_the_app_was_closed_keeps_id_and_caption(library: Library, root: Path) -> None:
    old = make_jpeg(root / "IMG_0001.jpg", 1)
    make_jpeg(root / "other.jpg", 2)
    add_folder(library, root)
    photo = library.get_photo(old)
    library.add_model_caption(photo.id, MODEL, "a red tractor in a field", -1.5)

    new = root / "farm" / "tractor.jpg"
    new.parent.mkdir()
    os.rename(old, new)
    report = scan_folder(library, root)

    assert (report.moved, report.added, report.missing, report.duplicates) == (1, 0, 0, 0)
    moved = library.get_photo(new)
    assert moved is not None and moved.id == photo.id and moved.status == "captioned"
    assert library.get_photo(old) is None
    assert [c.text for c in library.captions(photo.id)] == ["a red tractor in a field"]
    assert [hit.path for hit in search(library, "tractor")] == [str(new)]


def test_move_between_two_folders_while_closed_is_found_in_either_scan_order(
    library: Library, tmp_path: Path
) -> None:
    first, second = tmp_path / "a-first", tmp_path / "z-second"  # rescan_all goes in path order
    source = make_jpeg(second / "beach.jpg", 1)
    first.mkdir()
    add_folder(library, first)
    folder_second, _ = add_folder(library, second)
    photo = library.get_photo(source)
    library.set_user_caption(photo.id, "Sunset at the beach")

    os.rename(source, first / "beach.jpg")  # scanned before its old folder notices it is gone
    report = rescan_all(library)

    assert (report.moved, report.added, report.missing) == (1, 0, 0)
    moved = library.get_photo(first / "beach.jpg")
    assert moved.id == photo.id and moved.folder_id != folder_second.id
    assert library.best_caption(photo.id).text == "Sunset at the beach"


def test_duplicates_are_counted_and_kept_as_their_own_photos(library: Library, root: Path) -> None:
    original = make_jpeg(root / "original.jpg", 1)
    add_folder(library, root)
    shutil.copy2(original, root / "copy1.jpg")
    (root / "sub").mkdir()
    shutil.copy(original, root / "sub" / "copy2.jpg")
    report = scan_folder(library, root)
    assert (report.added, report.duplicates, report.moved) == (2, 2, 0)
    content_hash = library.get_photo(original).content_hash
    assert [p.content_hash for p in library.list_photos()].count(content_hash) == 3


def test_deleted_photo_leaves_search_and_comes_back_with_its_caption(library: Library, root: Path) -> None:
    photo_path = make_jpeg(root / "lighthouse.jpg", 1)
    make_jpeg(root / "keep.jpg", 2)
    add_folder(library, root)
    photo = library.get_photo(photo_path)
    library.add_model_caption(photo.id, MODEL, "a lighthouse on a cliff", -1.0)
    assert [hit.photo_id for hit in search(library, "lighthouse")] == [photo.id]
    backup = root.parent / "backup.jpg"
    shutil.move(photo_path, backup)

    report = scan_folder(library, root)
    assert (report.missing, report.unchanged) == (1, 1)
    assert search(library, "lighthouse") == []
    assert library.get_photo(photo.id).status == "missing"
    assert library.stats().photos == 1 and library.stats().missing == 1
    assert library.pending_for_model("another-model") == [library.get_photo(root / "keep.jpg")]
    assert scan_folder(library, root).missing == 0  # counted once

    shutil.move(backup, photo_path)
    report = scan_folder(library, root)
    assert report.updated == 1
    assert [hit.photo_id for hit in search(library, "lighthouse")] == [photo.id]
    assert library.get_photo(photo.id).status == "captioned"


def test_unreachable_folder_marks_nothing_missing(library: Library, root: Path, tmp_path: Path) -> None:
    make_jpeg(root / "a.jpg", 1)
    other = tmp_path / "other"
    make_jpeg(other / "b.jpg", 2)
    add_folder(library, root)
    add_folder(library, other)
    shutil.rmtree(root)  # e.g. an unplugged drive
    with pytest.raises(LibraryError, match="is the drive connected"):
        scan_folder(library, root)
    report = rescan_all(library)
    assert report.unchanged == 1 and report.missing == 0
    assert library.stats().missing == 0
    with pytest.raises(LibraryError):
        scan_folder(library, tmp_path / "never-added")


def test_cancelled_scan_keeps_what_it_wrote_and_marks_nothing_missing(library: Library, root: Path) -> None:
    gone = make_jpeg(root / "gone.jpg", 0)
    add_folder(library, root)
    gone.unlink()
    for i in range(1, 2 * scanner.BATCH_SIZE + 1):
        make_jpeg(root / f"p{i:03d}.jpg", i, (8, 8))
    cancel = threading.Event()

    def cancel_after_first_batch(progress: Progress) -> None:
        if progress.total is not None and progress.done >= scanner.BATCH_SIZE:
            cancel.set()

    report = scan_folder(library, root, on_progress=cancel_after_first_batch, cancel=cancel)
    assert report.cancelled and report.added == scanner.BATCH_SIZE and report.missing == 0
    assert library.get_photo(gone).status != "missing"
    report = scan_folder(library, root)
    assert (report.added, report.unchanged, report.missing) == (scanner.BATCH_SIZE, scanner.BATCH_SIZE, 1)


def test_corrupt_image_is_recorded_as_a_failure_until_it_is_fixed(library: Library, root: Path) -> None:
    broken = root / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 10)
    _, report = add_folder(library, root)
    assert (report.failed, report.added) == (1, 0)
    [failure] = library.list_failures()
    assert failure.path == str(broken) and "cannot index" in failure.error
    make_jpeg(broken, 5)
    bump_mtime(broken)
    report = scan_folder(library, root)
    assert (report.added, report.failed) == (1, 0)
    assert library.list_failures() == [] and library.get_photo(broken).status == "new"


def index_file(library: Library, path: Path) -> PhotoInfo | None:
    """What the watcher's :func:`index_paths` made of one file: its photo, or None."""
    result = index_paths(library, [path])
    if result.unchanged:
        return library.get_photo(result.unchanged[0])
    return result.photos.get(str(path))


def test_index_file_for_the_watcher(library: Library, root: Path) -> None:
    library.add_folder_record(root)
    photo_path = make_jpeg(root / "a.jpg", 1)
    photo = index_file(library, photo_path)
    assert photo is not None and photo.path == str(photo_path) and photo.width == 32
    assert index_file(library, photo_path) == photo  # unchanged: same row
    (root / "text.jpg").write_text("no")
    assert index_file(library, root / "text.jpg") is None
    assert index_file(library, make_jpeg(root / ".hidden.jpg", 2)) is None
    assert index_file(library, root / "nothing-here.jpg") is None
    library.mark_missing(photo.id)
    renamed = root / "b.jpg"
    os.rename(photo_path, renamed)
    moved = index_file(library, renamed)
    assert moved is not None and moved.id == photo.id and moved.status == "new"


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="photoscribe")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_add_and_scan(tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cli.sqlite3"
    make_jpeg(root / "a.jpg", 1)
    make_jpeg(root / "b" / "c.jpg", 2)
    assert _run("library", "--db", str(db), "scan") == 1
    assert "no folders yet" in capsys.readouterr().err
    assert _run("library", "--db", str(db), "add", str(root)) == 0
    assert "added 2," in capsys.readouterr().out
    (root / "a.jpg").unlink()
    assert _run("library", "--db", str(db), "scan") == 0
    assert "missing 1, unchanged 1" in capsys.readouterr().out
    assert _run("library", "--db", str(db), "add", str(tmp_path / "nope")) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_our_own_thumbnail_cache_is_never_indexed(
    library: Library, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOSCRIBE_HOME", str(root / "App Data"))  # e.g. ~/Library on macOS
    photo_path = make_jpeg(root / "a.jpg", 1)
    thumb = ThumbnailCache().get_or_create(photo_path)
    assert thumb.is_relative_to(root)
    _, report = add_folder(library, root)
    assert report.added == 1 and paths_of(library) == {str(photo_path)}


def test_a_file_name_that_is_not_utf8_is_a_failure_and_never_stops_the_folder(
    library: Library, root: Path
) -> None:
    """Latin-1 names from old drives: `l_\\xe9.jpg` is recorded as a failure; `ok.jpg` beside it is indexed."""
    make_jpeg(root / "ok.jpg", 1)
    bad = os.path.join(os.fsencode(root), b"l_\xe9.jpg")
    with open(bad, "wb") as fh:
        fh.write((root / "ok.jpg").read_bytes())
    folder, report = add_folder(library, root)
    assert report.added == 1 and report.failed == 1
    assert {Path(p).name for p in paths_of(library)} == {"ok.jpg"}
    [failure] = library.list_failures()
    assert failure.path.endswith("l_\ufffd.jpg") and "not valid UTF-8" in failure.error
    assert scan_folder(library, folder.path).failed == 1  # a rescan: the same, no crash
    # the watcher's path: both arrive in one batch; the good photo is not dropped
    make_jpeg(root / "ok2.jpg", 2)
    result = scanner.index_paths(library, [os.fsdecode(bad), str(root / "ok2.jpg")])
    assert len(result.added) == 1 and result.failed == 1
    assert library.get_photo(root / "ok2.jpg") is not None


def test_a_folder_symlink_into_another_library_folder_is_not_followed_twice(
    library: Library, tmp_path: Path
) -> None:
    pictures, camera = tmp_path / "Pictures", tmp_path / "Camera"
    outside = tmp_path / "elsewhere"
    make_jpeg(pictures / "p.jpg", 1)
    make_jpeg(camera / "sub" / "c.jpg", 2)
    make_jpeg(outside / "e.jpg", 3)
    os.symlink(camera / "sub", pictures / "camera-sub")  # into another library folder
    os.symlink(pictures, camera / "pictures")  # and back
    os.symlink(outside, pictures / "elsewhere")  # out of the library: followed, once
    os.symlink(outside, pictures / "elsewhere-again")
    library.add_folder_record(pictures)
    library.add_folder_record(camera)
    first = rescan_all(library)
    report = rescan_all(library)
    assert (first.added, first.duplicates) == (3, 0)
    expected = {str(pictures / "p.jpg"), str(camera / "sub" / "c.jpg"), str(pictures / "elsewhere" / "e.jpg")}
    assert paths_of(library) == expected
    assert (report.added, report.missing, report.duplicates, report.unchanged) == (0, 0, 0, 3)
    listed, bad = scanner.list_files(pictures, scanner.covered_folders(library.list_folders()))
    assert set(listed) == {str(pictures / "p.jpg"), str(pictures / "elsewhere" / "e.jpg")} and bad == []


def _heic_header() -> bytes:
    """The start of an iPhone HEIC file: an ``ftyp`` box with the ``heic`` brand, then a ``meta`` box."""
    ftyp = b"ftyp" + b"heic" + b"\x00\x00\x00\x00" + b"mif1heic"
    return len(ftyp + b"\x00\x00\x00\x00").to_bytes(4, "big") + ftyp + b"\x00" * 64


def test_a_heic_photo_without_pillow_heif_is_a_failure_that_says_to_install_it(
    library: Library, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from photoscribe.core.files import imaging

    Image.init()
    if "HEIF" in Image.OPEN:
        pytest.skip("a HEIF plugin is already registered with Pillow in this process")
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # `import pillow_heif` fails, as when absent
    monkeypatch.setattr(imaging, "_heif_state", [])
    (root / "IMG_0001.HEIC").write_bytes(_heic_header())
    make_jpeg(root / "ok.jpg", 1)
    _, report = add_folder(library, root)
    assert (report.added, report.failed, report.skipped) == (
        1,
        1,
        0,
    )  # counted as a failure, not "not images"
    [failure] = library.list_failures()
    assert failure.path.endswith("IMG_0001.HEIC")
    assert "pillow-heif" in failure.error and "pip install pillow-heif" in failure.error


def test_a_heic_photo_is_indexed_when_pillow_heif_is_installed(library: Library, root: Path) -> None:
    pillow_heif = pytest.importorskip(
        "pillow_heif", reason="pillow-heif is an optional plugin, not installed here"
    )
    heif = pillow_heif.from_pillow(Image.new("RGB", (40, 30), "red"))
    heif.save(root / "IMG_0002.HEIC", quality=80)
    _, report = add_folder(library, root)
    assert (report.added, report.failed) == (1, 0)
    photo = library.get_photo(root / "IMG_0002.HEIC")
    assert photo is not None and (photo.width, photo.height) == (40, 30)
