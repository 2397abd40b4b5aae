"""`photoscribe demo --headless`: the bundled real photos captioned by the bundled model, end to end."""

from __future__ import annotations

import sqlite3

import pytest

from photoscribe.core.demo import bundled_demo_photos, demo_searches, prepare_demo
from photoscribe.core.paths import bundled_model_path
from photoscribe.desktop.cli import main as cli_main

# The demo photo that shows a dog (resources/demo/CREDITS.md).
DOGS = {"000000377575.jpg"}


@pytest.mark.bundled_model
def test_demo_captions_the_bundled_real_photos_with_the_bundled_model(capsys) -> None:
    photos = bundled_demo_photos()
    assert 12 <= len(photos) <= 20 and sum(p.stat().st_size for p in photos) <= 3_000_000
    result = prepare_demo()
    assert result.model_path == bundled_model_path()
    db = sqlite3.connect(result.library_path)
    captions = dict(
        db.execute(
            "SELECT p.path, c.text FROM captions c JOIN photos p ON p.id = c.photo_id WHERE c.source != 'user'"
        ).fetchall()
    )
    assert len(captions) == len(photos)
    # Real captions, not one sentence for everything.
    assert len(set(captions.values())) >= len(photos) // 2
    hits = dict(demo_searches(result.library_path, ("dog",)))["dog"]
    assert hits and hits[0].split(":")[0] in DOGS

    # the command reuses the library it built and prints searches that find real photos
    assert cli_main(["demo", "--headless"]) == 0
    out = capsys.readouterr().out
    assert "search 'dog'" in out and str(result.library_path) in out
    dog_section = out.split("search 'dog':")[1].split("search")[0]
    assert any(name in dog_section for name in DOGS)


def test_every_demo_photo_is_credited_under_a_licence_that_allows_any_use() -> None:
    credits = (bundled_demo_photos()[0].parent / "CREDITS.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(): line for line in credits.splitlines() if line.startswith("| 0")}
    assert sorted(rows) == [p.name for p in bundled_demo_photos()]
    for name, row in rows.items():
        # CC BY only: an MIT package cannot pass on NonCommercial, NoDerivs or ShareAlike photos.
        assert "creativecommons.org/licenses/by/" in row, f"{name}: {row}"
        assert "flickr.com/photo.gne?id=" in row and "staticflickr.com" in row
