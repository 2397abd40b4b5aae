"""Re-captioning: forgetting model captions so that the caption queue makes them again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from photoscribe.core.errors import LibraryError
from photoscribe.core.library import Library
from photoscribe.core.library.records import PhotoInfo
from photoscribe.core.library.search import search

MODEL = "sat-resnet50-v1"
OTHER = "sat-resnet50-v2"


def _add(library: Library, path: Path) -> PhotoInfo:
    return library.upsert_photo(path, 1000, 1.0)


def _fts_row(library: Library, photo_id: int) -> tuple[str, str]:
    with library.session() as s:
        row = s.execute(
            text("SELECT user_text, model_text FROM captions_fts WHERE rowid = :id"), {"id": photo_id}
        ).one()
    return row.user_text, row.model_text


def _sources(library: Library, photo_id: int) -> set[str]:
    return {c.source for c in library.captions(photo_id)}


@pytest.fixture
def photos(library: Library, tmp_path: Path) -> dict[str, PhotoInfo]:
    """plain: two model captions; reviewed: a reviewed model caption; user: a user + a model caption."""
    made = {name: _add(library, tmp_path / f"{name}.jpg") for name in ("plain", "reviewed", "user", "other")}
    library.add_model_caption(made["plain"].id, MODEL, "a zebra grazing on grass")
    library.add_model_caption(made["plain"].id, OTHER, "a striped horse in a field")
    library.add_model_caption(made["reviewed"].id, MODEL, "a lighthouse on a cliff")
    library.mark_reviewed(made["reviewed"].id)
    library.add_model_caption(made["user"].id, MODEL, "a cake with candles")
    library.set_user_caption(made["user"].id, "Grandma's 90th birthday cake")
    library.add_model_caption(made["other"].id, MODEL, "a kettle on a stove")
    return made


def test_forget_one_models_captions_of_some_photos(library: Library, photos: dict[str, PhotoInfo]) -> None:
    plain, reviewed, user, other = (photos[n].id for n in ("plain", "reviewed", "user", "other"))
    assert library.pending_for_model(MODEL) == []

    assert library.forget_model_captions([plain, reviewed, user], MODEL) == 2

    # People's work survives: the reviewed model caption and the user caption.
    assert _sources(library, reviewed) == {MODEL}
    assert library.best_caption(reviewed).text == "a lighthouse on a cliff"
    assert _sources(library, user) == {"user"}
    assert library.best_caption(user).text == "Grandma's 90th birthday cake"
    # Only MODEL's caption went; the other model's stays; photos not asked for are untouched.
    assert _sources(library, plain) == {OTHER}
    assert _sources(library, other) == {MODEL}

    # The full-text index followed the deletes.
    assert _fts_row(library, plain) == ("", "a striped horse in a field")
    assert _fts_row(library, user) == ("Grandma's 90th birthday cake", "")
    assert [h.photo.id for h in search(library, "zebra")] == []
    assert [h.photo.id for h in search(library, "cake")] == [user]

    # The queue gives MODEL those photos again; not the reviewed one, whose MODEL caption was kept.
    assert [p.id for p in library.pending_for_model(MODEL)] == [plain, user]
    assert library.count_pending(MODEL) == 2
    assert library.add_model_caption(plain, MODEL, "a zebra standing in tall grass")
    assert [h.photo.id for h in search(library, "tall grass")] == [plain]


def test_forget_all_models_everywhere(library: Library, photos: dict[str, PhotoInfo]) -> None:
    plain, reviewed, user, other = (photos[n].id for n in ("plain", "reviewed", "user", "other"))
    library.record_failure(photos["other"].path, "CUDA out of memory")

    assert library.forget_model_captions(None) == 4

    assert _sources(library, plain) == set()
    assert _sources(library, reviewed) == {MODEL}
    assert _sources(library, user) == {"user"}
    assert _sources(library, other) == set()
    assert _fts_row(library, plain) == ("", "")
    # Status follows the captions: uncaptioned photos are pending again (failed if they failed before).
    assert library.get_photo(plain).status == "new"
    assert library.get_photo(other).status == "failed"
    assert library.get_photo(user).status == "captioned"
    assert library.stats().uncaptioned == 2
    assert [p.id for p in library.pending_for_model(MODEL)] == [plain, user, other]
    assert [p.id for p in library.pending_for_model(OTHER)] == [plain, reviewed, user, other]
    assert library.forget_model_captions(None) == 0


def test_forget_nothing_and_bad_model_ids(library: Library, photos: dict[str, PhotoInfo]) -> None:
    assert library.forget_model_captions([], MODEL) == 0
    assert library.forget_model_captions([photos["plain"].id], "no-such-model") == 0
    assert library.forget_model_captions([10_000], MODEL) == 0
    for bad in ("", "user"):
        with pytest.raises(LibraryError, match="invalid model id"):
            library.forget_model_captions(None, bad)
    assert library.pending_for_model(MODEL) == []
