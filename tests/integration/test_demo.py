"""`photoscribe demo --headless`: the offline main job, end to end, at a small size."""

from __future__ import annotations

import sqlite3

from photoscribe.core.paths import active_model_path
from photoscribe.desktop.cli import main as cli_main
from photoscribe.training.demo import DemoSettings, demo_searches, prepare_demo


def test_demo_trains_captions_and_searches(capsys) -> None:
    result = prepare_demo(DemoSettings(train_images=80, photos=10, epochs=2))
    assert result.trained and result.model_path.is_file()
    assert active_model_path() == result.model_path.resolve()
    db = sqlite3.connect(result.library_path)
    photos = db.execute("SELECT count(*) FROM photos").fetchone()[0]
    per_photo = db.execute(
        "SELECT photo_id, count(*) FROM captions WHERE source != 'user' GROUP BY photo_id"
    ).fetchall()
    assert photos == 10 and len(per_photo) == 10 and {n for _, n in per_photo} == {1}
    caption = db.execute("SELECT text FROM captions LIMIT 1").fetchone()[0]
    word = caption.split()[-1]
    hits = dict(demo_searches(result.library_path, (word,)))[word]
    assert hits and word in hits[0]

    # the command reuses the model and library it built, and prints searches
    assert cli_main(["demo", "--headless"]) == 0
    out = capsys.readouterr().out
    assert "search 'red circle'" in out and str(result.library_path) in out and "(existing)" in out
