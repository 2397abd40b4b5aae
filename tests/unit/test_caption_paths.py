"""`photoscribe caption DIR` walks a folder as a library scan does."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from photoscribe.desktop.cli.caption import expand_paths


def test_a_folder_is_walked_as_a_scan_walks_it(tmp_path: Path, monkeypatch) -> None:
    for name in ("a/1.jpg", "a/@eaDir/thumb.jpg", "a/.thumbnails/t.jpg", "a/.hidden.jpg", "b/2.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    (tmp_path / "a" / "notes.txt").write_text("not a photo")
    os.symlink("..", tmp_path / "b" / "up")  # a loop: the tree is walked once
    monkeypatch.chdir(tmp_path)
    assert [str(p) for p in expand_paths([Path(".")])] == ["a/1.jpg", "b/2.png"]
    # a given file is taken as it is, even where a walk would skip it
    assert list(expand_paths([Path("a/@eaDir/thumb.jpg")])) == [Path("a/@eaDir/thumb.jpg")]


def test_a_damaged_file_named_like_a_photo_is_yielded_to_be_reported(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"garbage")
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / "photo.jpg.xmp").write_text("<x/>")
    assert [p.name for p in expand_paths([tmp_path])] == ["broken.jpg"]
