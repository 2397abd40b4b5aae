"""embed_photos as the app runs it: a scope, a plan said first, cancellation, a read-only folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from photoscribe.core.library.database import Library
from photoscribe.core.library.embed import embed_photos, plan_embed
from photoscribe.core.library.export_scope import ExportScope
from photoscribe.core.progress import Progress

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")


def _add(library: Library, path: Path, caption: str | None, *, reviewed: bool = True) -> int:
    if path.suffix == ".heic":
        path.write_bytes(b"not decoded here")
    else:
        Image.new("RGB", (32, 24), (30, 90, 160)).save(path)
    photo = library.upsert_photo(path, path.stat().st_size, path.stat().st_mtime)
    if caption is not None:
        if reviewed:
            library.set_user_caption(photo.id, caption)
        else:
            assert library.add_model_caption(photo.id, "sat-test", caption, -1.0)
    return photo.id


def _alt_text(path: Path) -> str:
    out = subprocess.run(
        ["exiftool", "-s3", "-XMP-iptcCore:AltTextAccessibility", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder no one may create a file in: chmod, and ``chattr +i`` where we run as root."""
    folder = tmp_path / "locked"
    folder.mkdir()
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)
    folder.chmod(0o755)


def _lock(folder: Path) -> None:
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root ignores modes; an immutable folder stops it too
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip("cannot make a folder read-only here (root without chattr)")


def test_plan_says_what_would_be_written_and_writes_nothing(tmp_path: Path, library: Library) -> None:
    paths = [tmp_path / name for name in ("a.jpg", "b.heic", "c.jpg", "d.jpg")]
    ids = [
        _add(library, paths[0], "a blue sky"),
        _add(library, paths[1], "a blue lake"),
        _add(library, paths[2], "a blue car", reviewed=False),
        _add(library, paths[3], None),
    ]
    before = [p.read_bytes() for p in paths]
    plan = plan_embed(library, ExportScope(photo_ids=tuple(ids)))
    assert (plan.to_write, plan.unsupported, plan.without_caption) == (1, (str(tmp_path / "b.heic"),), 2)
    assert plan.in_scope == 4
    assert plan_embed(library, ExportScope(photo_ids=tuple(ids)), reviewed_only=False).to_write == 2
    assert [p.read_bytes() for p in paths] == before


def test_a_scope_limits_the_photos_written(tmp_path: Path, library: Library) -> None:
    chosen = _add(library, tmp_path / "chosen.jpg", "a red kite")
    other = tmp_path / "other.jpg"
    _add(library, other, "a green field")
    untouched = other.read_bytes()
    summary = embed_photos(library, scope=ExportScope(photo_ids=(chosen,)))
    assert (summary.written, summary.failed, summary.cancelled) == (1, (), False)
    assert _alt_text(tmp_path / "chosen.jpg") == "a red kite"
    assert other.read_bytes() == untouched


def test_cancel_stops_between_files_and_says_what_was_done(tmp_path: Path, library: Library) -> None:
    paths = [tmp_path / f"{i}.jpg" for i in range(3)]
    for path in paths:
        _add(library, path, f"photo number {path.stem}")
    before = [p.read_bytes() for p in paths]
    cancel = threading.Event()

    def on_progress(p: Progress) -> None:
        if p.done == 1:
            cancel.set()

    summary = embed_photos(library, on_progress=on_progress, cancel=cancel)
    assert (summary.written, summary.cancelled) == (1, True)
    assert _alt_text(paths[0]) == "photo number 0"  # fully new
    assert [p.read_bytes() for p in paths[1:]] == before[1:]  # fully old
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_a_read_only_folder_is_a_failure_with_its_reason_and_the_batch_goes_on(
    tmp_path: Path, library: Library, read_only_folder: Path
) -> None:
    locked = read_only_folder / "locked.jpg"
    _add(library, locked, "a locked door")
    _add(library, tmp_path / "open.jpg", "an open door")
    _lock(read_only_folder)
    before = locked.read_bytes()
    summary = embed_photos(library)
    assert summary.written == 1
    assert [path for path, _ in summary.failed] == [str(locked)]
    reason = summary.failed[0][1]
    assert "make it writable" in reason and "Traceback" not in reason
    assert locked.read_bytes() == before
    assert _alt_text(tmp_path / "open.jpg") == "an open door"
