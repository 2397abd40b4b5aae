"""Write the library file that the upgrade test opens with a later release.

Run once per release whose schema changes, with that release checked out::

    .venv/bin/python scripts/make_upgrade_fixture.py tests/fixtures/library-<revision>.sqlite

The photos need not exist: the test checks that every row survives the
migration, not the files. Paths, captions and marks are chosen to be awkward
(non-ASCII, quotes, a reviewed model caption, a user caption, a failure).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from photoscribe.core.library import Library


def main(out: str) -> None:
    target = Path(out)
    if target.exists():
        target.unlink()
    library = Library.open(target)
    try:
        folder = library.add_folder_record("/photos/Été 2024")
        rows = [
            ("/photos/Été 2024/dog on the beach.jpg", "a dog runs on the beach", None, True),
            (
                "/photos/Été 2024/IMG_0001.JPG",
                "two children play in the snow",
                "Mia and Leo's first snow",
                False,
            ),
            ('/photos/Été 2024/café "quotes".png', "a man sits at a table", None, False),
        ]
        for i, (path, model_text, user_text, reviewed) in enumerate(rows):
            photo = library.upsert_photo(
                path,
                1000 + i,
                1_700_000_000.0 + i,
                content_hash=f"{i:064x}",
                width=640,
                height=480,
                taken_at=datetime(2024, 7, 1 + i, 12, 30),
                camera="Canon EOS 80D",
                folder_id=folder.id,
            )
            library.add_model_caption(
                photo.id,
                "default-v1",
                model_text,
                -3.5 - i,
                [{"text": model_text, "score": -3.5 - i}, {"text": "a photo", "score": -6.0}],
            )
            if user_text:
                library.set_user_caption(photo.id, user_text)
            if reviewed:
                library.mark_reviewed(photo.id)
        library.upsert_photo("/photos/Été 2024/broken.jpg", 12, 1_700_000_100.0, folder_id=folder.id)
        library.record_failure("/photos/Été 2024/broken.jpg", "cannot identify image file")
    finally:
        library.close()


if __name__ == "__main__":
    main(sys.argv[1])
