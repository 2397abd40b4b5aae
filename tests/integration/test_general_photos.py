"""The default model on a general photo library (issue 18): everyday photos it was never trained on.

The photos are the held-out quarter of ``../shared/data/coco-general`` (the rule of
``scripts/make_general_mix.py``: one photo in four by a hash of its name), each with one human
caption. A cat is not called a dog, the ImageNet keywords name what is there, and a library
search for a word finds the photos that show it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from photoscribe.core.captioning.captioner import Captioner
from photoscribe.core.library.queue import CaptionQueue
from photoscribe.core.library.scanner import add_folder
from photoscribe.core.library.search import search
from photoscribe.core.paths import bundled_model_path
from tests.helpers import SHARED_DATA, new_library

pytestmark = [
    pytest.mark.slow,  # reads the real photos in ../shared/data
    pytest.mark.bundled_model,
]

GENERAL = SHARED_DATA / "coco-general"


def _held_out() -> dict[str, str]:
    """file name -> its human caption, for the held-out general photos."""
    if not (GENERAL / "captions.txt").is_file():
        pytest.skip(f"general photos not present at {GENERAL} (a user's machine has no ../shared)")
    out = {}
    for line in (GENERAL / "captions.txt").read_text("utf-8").splitlines()[1:]:
        name, _, caption = line.partition(",")
        if hashlib.sha1(name.encode()).digest()[0] % 4 == 0:
            out[name] = caption.lower()
    return out


def _showing(pattern: str) -> list[Path]:
    rx = re.compile(pattern)
    return [GENERAL / "Images" / n for n, c in sorted(_held_out().items()) if rx.search(c)]


@pytest.fixture(scope="module")
def captioner() -> Iterator[Captioner]:
    path = bundled_model_path()
    assert path is not None
    with Captioner.load(path, n_best=1, workers=1) as c:
        yield c


def test_cats_are_not_called_dogs(captioner: Captioner) -> None:
    cats = _showing(r"\b(cat|cats|kitten)\b")
    assert len(cats) >= 6
    results = captioner.caption_paths(cats).results
    dogs = [r.text for r in results if re.search(r"\b(dog|dogs|puppy)\b", r.text)]
    # A cat named as a dog is what a blind reader must not hear; at most one in five may slip through.
    assert len(dogs) <= len(results) // 5, dogs


def test_keywords_name_what_is_there(captioner: Captioner) -> None:
    zebras = captioner.caption_paths(_showing(r"\bzebras?\b")).results
    assert len(zebras) >= 3
    assert all("zebra" in {k.word for k in r.keywords} for r in zebras), [r.keywords for r in zebras]
    # Precision: a photo given the keyword shows the thing (its human caption says so).
    for word, pattern in (("airplane", r"\b(airplane|jet|plane|aircraft)s?\b"), ("zebra", r"\bzebras?\b")):
        others = [p for p in _showing(r".")[:60] if not re.search(pattern, _held_out()[p.name])]
        wrong = [
            r.path.name
            for r in captioner.caption_paths(others).results
            if word in {k.word for k in r.keywords}
        ]
        assert wrong == [], (word, wrong)
    for r in zebras:
        assert r.confidence is not None and 0.0 <= r.confidence <= 1.0


def test_library_search_finds_the_photos_that_show_the_word(tmp_path: Path, captioner: Captioner) -> None:
    held = _held_out()
    names = sorted(held)[:120]  # a library of 120 everyday photos
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in names:
        (folder / name).symlink_to(GENERAL / "Images" / name)
    with new_library(tmp_path / "library.sqlite3") as library:
        add_folder(library, folder)
        CaptionQueue(library, captioner).run_once()
        for word, pattern, at_least in (("bus", r"\bbus(es)?\b", 1), ("zebra", r"\bzebras?\b", 3)):
            relevant = {n for n in names if re.search(pattern, held[n])}
            top = [Path(h.path).name for h in search(library, word, limit=5)]
            assert len(top) >= at_least, (word, top)
            assert set(top) <= relevant, (word, top, [held[n] for n in top])
