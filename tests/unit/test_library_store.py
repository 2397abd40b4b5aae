"""The library store: schema via migrations, photos, captions, failures, folders, concurrency."""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from photoscribe.core.errors import LibraryError
from photoscribe.core.library import captions as caps
from photoscribe.core.library import photos as ops
from photoscribe.core.library.database import Library
from photoscribe.core.library.migrations import include_object
from photoscribe.core.library.schema import Base
from photoscribe.core.library.search import search
from photoscribe.core.library.upgrade import current_revision, head_revision, migrate
from photoscribe.core.paths import default_library_path

MODEL = "sat-resnet50-v1"


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "Pictures"
    folder.mkdir()
    return folder


def _add(library: Library, path: Path, size: int = 1000, mtime: float = 1.0, **kw):
    return library.upsert_photo(path, size, mtime, **kw)


def _fts_row(library: Library, photo_id: int) -> tuple[str, str, str] | None:
    with library.session() as s:
        row = s.execute(
            text("SELECT user_text, model_text, name FROM captions_fts WHERE rowid = :id"), {"id": photo_id}
        ).one_or_none()
    return tuple(row) if row is not None else None


# --------------------------------------------------------------------------- schema and migrations


def test_schema_is_created_by_migrations_with_pragmas(library: Library) -> None:
    with library.engine.connect() as conn:
        tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")}
        triggers = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'")}
        assert {"folders", "photos", "captions", "failures", "captions_fts", "alembic_version"} <= tables
        assert {"captions_fts_ai", "captions_fts_au", "captions_fts_ad", "photos_fts_ai"} <= triggers
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1  # NORMAL
        sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name='captions_fts'").scalar_one()
        assert "porter unicode61" in sql and "prefix" in sql
    assert current_revision(library.engine) == head_revision() is not None


def test_migrations_match_the_orm_models(library: Library) -> None:
    with library.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_migrate_is_safe_on_an_up_to_date_database(tmp_path: Path) -> None:
    db = tmp_path / "lib.sqlite3"
    with Library.open(db) as lib:
        photo = lib.upsert_photo(tmp_path / "a.jpg", 1, 1.0)
        lib.add_model_caption(photo.id, MODEL, "a dog on the grass")
        migrate(lib.engine)  # again, explicitly
    with Library.open(db) as lib:
        assert lib.best_caption(photo.id).text == "a dog on the grass"
        assert current_revision(lib.engine) == head_revision()
        with lib.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar_one() == 1


def test_opening_something_else_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database, just some bytes" * 100)
    with pytest.raises(LibraryError, match="is not a photoscribe library"):
        Library.open(garbage)

    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE photos (x INTEGER)")
    with pytest.raises(LibraryError, match="not a photoscribe library"):
        Library.open(foreign)


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "lib.sqlite3"
    Library.open(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(LibraryError, match="newer photoscribe"):
        Library.open(db)


# --------------------------------------------------------------------------- photos


def test_upsert_keeps_id_and_refreshes_stats(library: Library, photo_dir: Path) -> None:
    first = _add(library, photo_dir / "a.jpg", size=10, mtime=1.0, width=640, height=480)
    again = _add(library, photo_dir / "sub" / ".." / "a.jpg", size=10, mtime=1.0, camera="X100")
    assert again.id == first.id
    assert again.path == str(photo_dir / "a.jpg")
    assert (again.width, again.height, again.camera) == (640, 480, "X100")
    assert again.status == "new"
    assert library.known_files()[str(photo_dir / "a.jpg")].size == 10


def test_changed_file_drops_unreviewed_model_captions_but_keeps_user_ones(
    library: Library, photo_dir: Path
) -> None:
    a = _add(library, photo_dir / "a.jpg", size=10, mtime=1.0, content_hash="aa" * 32)
    b = _add(library, photo_dir / "b.jpg", size=10, mtime=1.0, content_hash="bb" * 32)
    for photo in (a, b):
        assert library.add_model_caption(photo.id, MODEL, "a cat on a chair", -2.0)
    library.set_user_caption(b.id, "my cat Tom")

    # Touched only (same hash): nothing is lost.
    same = _add(library, photo_dir / "a.jpg", size=10, mtime=2.0, content_hash="aa" * 32)
    assert [c.source for c in library.captions(same.id)] == [MODEL]

    # Edited: the model caption is stale, the user's caption is not.
    edited_a = _add(library, photo_dir / "a.jpg", size=20, mtime=3.0)
    edited_b = _add(library, photo_dir / "b.jpg", size=20, mtime=3.0)
    assert library.captions(edited_a.id) == []
    assert edited_a.status == "new" and edited_a.content_hash is None
    assert [c.source for c in library.captions(edited_b.id)] == ["user"]
    assert edited_b.status == "captioned"
    assert [p.id for p in library.pending_for_model(MODEL)] == [a.id, b.id]


def test_move_keeps_id_captions_and_failures(library: Library, photo_dir: Path) -> None:
    photo = _add(library, photo_dir / "IMG_0001.jpg")
    library.add_model_caption(photo.id, MODEL, "a red bicycle against a wall", -1.5)
    library.set_user_caption(photo.id, "grandpa's red bicycle")
    library.record_failure(photo_dir / "IMG_0001.jpg", "out of memory")

    moved = library.move_photo(photo_dir / "IMG_0001.jpg", photo_dir / "trips" / "bike.jpg")
    assert moved is not None and moved.id == photo.id
    assert moved.path == str(photo_dir / "trips" / "bike.jpg")
    assert [c.source for c in library.captions(photo.id)] == ["user", MODEL]
    assert library.get_photo(photo_dir / "IMG_0001.jpg") is None
    assert [f.path for f in library.list_failures()] == [moved.path]
    assert _fts_row(library, photo.id)[2] == "bike.jpg"
    assert [h.photo_id for h in search(library, "bike")] == [photo.id]
    assert search(library, "IMG_0001") == []
    assert library.move_photo(photo_dir / "nope.jpg", photo_dir / "x.jpg") is None


def test_move_onto_a_row_the_scanner_already_created_merges(library: Library, photo_dir: Path) -> None:
    old = _add(library, photo_dir / "old.jpg")
    library.set_user_caption(old.id, "the lighthouse at dusk")
    new = _add(library, photo_dir / "new.jpg")
    library.add_model_caption(new.id, MODEL, "a lighthouse on a hill")

    moved = library.move_photo(photo_dir / "old.jpg", photo_dir / "new.jpg")
    assert moved.id == old.id
    assert library.get_photo(new.id) is None
    assert {c.source for c in library.captions(old.id)} == {"user", MODEL}
    assert library.best_caption(old.id).text == "the lighthouse at dusk"


def test_move_directory_repaths_photos_and_folder_records(library: Library, tmp_path: Path) -> None:
    root = tmp_path / "Photos"
    library.add_folder_record(root / "2019")
    a = _add(library, root / "2019" / "a.jpg")
    b = _add(library, root / "2019" / "deep" / "b.jpg")
    other = _add(library, root / "20190" / "c.jpg")  # same prefix, different directory
    assert library.move_directory(root / "2019", root / "Holiday 2019") == 2
    assert library.get_photo(a.id).path == str(root / "Holiday 2019" / "a.jpg")
    assert library.get_photo(b.id).path == str(root / "Holiday 2019" / "deep" / "b.jpg")
    assert library.get_photo(other.id).path == str(root / "20190" / "c.jpg")
    assert [f.path for f in library.list_folders()] == [str(root / "Holiday 2019")]
    assert library.get_photo(a.id).folder_id == library.list_folders()[0].id


def test_missing_and_delete(library: Library, photo_dir: Path) -> None:
    photo = _add(library, photo_dir / "a.jpg")
    library.add_model_caption(photo.id, MODEL, "a tree")
    assert library.mark_missing(photo.path)
    assert library.get_photo(photo.id).status == "missing"
    assert library.pending_for_model("other-model") == []
    assert library.stats().missing == 1 and library.stats().photos == 0
    assert search(library, "tree") == []
    assert [h.photo_id for h in search(library, "tree", include_missing=True)] == [photo.id]
    # It comes back: status is derived again, captions were kept.
    assert _add(library, photo_dir / "a.jpg").status == "captioned"

    assert library.delete_photos([photo.id]) == 1
    assert library.delete_photos([photo.id]) == 0
    assert _fts_row(library, photo.id) is None
    with library.session() as s:
        assert s.execute(text("SELECT count(*) FROM captions")).scalar_one() == 0


# --------------------------------------------------------------------------- captions


def test_user_caption_wins_and_is_never_overwritten(library: Library, photo_dir: Path) -> None:
    photo = _add(library, photo_dir / "a.jpg")
    assert library.add_model_caption(photo.id, MODEL, "a dog on a beach", -3.0, [("a dog on sand", -4.0)])
    assert library.best_caption(photo.id).source == MODEL

    user = library.set_user_caption(photo.id, "Rex at Brighton beach")
    assert user.is_user and user.reviewed and user.source == "user"

    # The same model again: refused silently; a newer model: stored, but the user's caption still wins.
    assert library.add_model_caption(photo.id, MODEL, "a cat", -1.0) is False
    assert library.add_model_caption(photo.id, "sat-v2", "a brown dog on a sandy beach", -0.5) is True
    best = library.best_caption(photo.id)
    assert best.text == "Rex at Brighton beach"
    texts = {c.source: c.text for c in library.captions(photo.id)}
    assert texts == {
        "user": "Rex at Brighton beach",
        MODEL: "a dog on a beach",
        "sat-v2": "a brown dog on a sandy beach",
    }
    first = next(c for c in library.captions(photo.id) if c.source == MODEL)
    assert first.score == -3.0 and first.alternatives[0].text == "a dog on sand"

    # Editing the user caption updates it in place; clearing it falls back to the newest model caption.
    library.set_user_caption(photo.path, "Rex, Brighton, 2019")
    assert library.best_caption(photo.id).text == "Rex, Brighton, 2019"
    assert library.set_user_caption(photo.id, "   ") is None
    assert library.best_caption(photo.id).source == "sat-v2"
    with pytest.raises(LibraryError):
        library.add_model_caption(photo.id, "user", "sneaky")
    with pytest.raises(LibraryError, match="no photo"):
        library.set_user_caption(photo_dir / "unknown.jpg", "x")


def test_reviewed_model_caption_beats_newer_model_captions(library: Library, photo_dir: Path) -> None:
    photo = _add(library, photo_dir / "a.jpg")
    library.add_model_caption(photo.id, "m1", "a bird on a branch")
    reviewed = library.mark_reviewed(photo.id)
    assert reviewed.reviewed and reviewed.source == "m1"
    library.add_model_caption(photo.id, "m2", "a sparrow sitting on a twig")
    assert library.best_caption(photo.id).source == "m1"
    assert library.stats().needs_review == 0
    library.mark_reviewed(photo.id, caption_id=reviewed.id, reviewed=False)
    assert library.best_caption(photo.id).source == "m2"
    assert library.stats().needs_review == 1
    assert _fts_row(library, photo.id)[:2] == ("", "a sparrow sitting on a twig")
    # The index follows: it holds only the caption shown, in the user column once reviewed.
    library.mark_reviewed(photo.id, caption_id=reviewed.id)
    user_text, model_text, _ = _fts_row(library, photo.id)
    assert user_text == "a bird on a branch" and model_text == ""


def test_a_caption_state_is_written_and_undone_in_one_step(library: Library, photo_dir: Path) -> None:
    photo = _add(library, photo_dir / "a.jpg")
    model = library.add_model_caption(photo.id, "m1", "a bird on a branch")
    model_id = library.captions(photo.id)[0].id
    assert model
    library.set_caption_state(photo.id, "a robin on an apple branch", model_id, True)  # an edit
    best = library.best_caption(photo.id)
    assert best.is_user and best.text == "a robin on an apple branch"
    assert next(c for c in library.captions(photo.id) if c.id == model_id).reviewed
    library.set_caption_state(photo.id, "", model_id, False)  # its undo
    best = library.best_caption(photo.id)
    assert not best.is_user and best.id == model_id and not best.reviewed
    # The model caption was replaced by a re-caption meanwhile: the person's text is still written.
    library.forget_model_captions([photo.id], "m1")
    library.set_caption_state(photo.id, "a robin", model_id, True)
    assert library.best_caption(photo.id).text == "a robin"


def test_photos_are_deleted_together_and_their_files_stay(library: Library, photo_dir: Path) -> None:
    for name in "abc":
        (photo_dir / f"{name}.jpg").write_bytes(b"jpeg")
    photos = [_add(library, photo_dir / f"{name}.jpg") for name in "abc"]
    assert library.delete_photos([photos[0].id, photos[2].id, 999_999]) == 2
    assert [p.id for p in library.list_photos()] == [photos[1].id]
    assert all((photo_dir / f"{name}.jpg").exists() for name in "abc")


def test_add_model_caption_for_a_deleted_photo_returns_false(library: Library, photo_dir: Path) -> None:
    photo = _add(library, photo_dir / "a.jpg")
    library.delete_photos([photo.id])
    assert library.add_model_caption(photo.id, MODEL, "a tree") is False


def test_pending_for_model(library: Library, photo_dir: Path) -> None:
    done = _add(library, photo_dir / "done.jpg")
    missing = _add(library, photo_dir / "missing.jpg")
    broken = _add(library, photo_dir / "broken.jpg")
    flaky = _add(library, photo_dir / "flaky.jpg")
    user = _add(library, photo_dir / "user.jpg")
    fresh = _add(library, photo_dir / "fresh.jpg")
    library.add_model_caption(done.id, MODEL, "a lake")
    library.mark_missing(missing.id)
    for _ in range(3):
        library.record_failure(broken.path, "truncated JPEG")
    library.record_failure(flaky.path, "CUDA out of memory")
    library.set_user_caption(user.id, "my garden")

    pending = [p.id for p in library.pending_for_model(MODEL, limit=10)]
    assert pending == [flaky.id, user.id, fresh.id]
    assert library.count_pending(MODEL) == 3
    assert [p.id for p in library.pending_for_model(MODEL, limit=1)] == [flaky.id]
    assert [p.id for p in library.pending_for_model(MODEL, exclude_ids={flaky.id})] == [user.id, fresh.id]
    assert [p.id for p in library.pending_for_model(MODEL, skip_user_captioned=True)] == [flaky.id, fresh.id]
    assert [p.id for p in library.pending_for_model(MODEL, max_attempts=1)] == [user.id, fresh.id]
    # Another model has not captioned "done" yet.
    assert done.id in [p.id for p in library.pending_for_model("sat-v2")]
    assert library.pending_for_model(MODEL, limit=0) == []


def test_failures_count_attempts_and_clear_on_success(library: Library, photo_dir: Path) -> None:
    photo = _add(library, photo_dir / "a.jpg")
    assert [library.record_failure(photo.path, f"error {i}") for i in range(3)] == [1, 2, 3]
    [failure] = library.list_failures()
    assert (failure.attempts, failure.error, failure.photo_id) == (3, "error 2", photo.id)
    assert library.get_photo(photo.id).status == "failed"
    assert library.stats().failures == 1

    # A file the library does not know (e.g. unreadable during a scan) can fail too.
    assert library.record_failure(photo_dir / "unknown.png", "permission denied") == 1
    assert library.get_photo(photo_dir / "unknown.png") is None

    assert library.add_model_caption(photo.id, MODEL, "a mountain")
    assert [f.path for f in library.list_failures()] == [str(photo_dir / "unknown.png")]
    assert library.get_photo(photo.id).status == "captioned"
    assert library.reset_failures() == 1 and library.list_failures() == []


def test_stats(library: Library, photo_dir: Path) -> None:
    a, b, c, d = (_add(library, photo_dir / f"{n}.jpg") for n in "abcd")
    library.add_model_caption(a.id, MODEL, "x")
    library.add_model_caption(b.id, MODEL, "y")
    library.mark_reviewed(b.id)
    library.set_user_caption(c.id, "z")
    library.mark_missing(d.id)
    library.record_failure(photo_dir / "e.jpg", "boom")
    stats = library.stats()
    assert (stats.photos, stats.captioned, stats.uncaptioned, stats.needs_review) == (3, 3, 0, 1)
    assert (stats.failures, stats.missing, stats.folders) == (1, 1, 0)


# --------------------------------------------------------------------------- folders


def test_folder_removal_cascades_to_photos_captions_failures_and_index(
    library: Library, tmp_path: Path
) -> None:
    keep, drop = tmp_path / "keep", tmp_path / "drop"
    for folder in (keep, drop):
        folder.mkdir()
        (folder / "a.jpg").write_bytes(b"jpeg bytes")
    kept_folder = library.add_folder_record(keep)
    library.add_folder_record(drop)
    kept = _add(library, keep / "a.jpg")
    dropped = _add(library, drop / "a.jpg")
    assert kept.folder_id == kept_folder.id
    for photo in (kept, dropped):
        library.add_model_caption(photo.id, MODEL, "a yellow taxi in the rain")
    library.record_failure(drop / "a.jpg", "boom")

    assert library.remove_folder(drop) == 1
    assert library.get_photo(dropped.id) is None
    assert [h.photo_id for h in search(library, "taxi")] == [kept.id]
    with library.session() as s:
        assert s.execute(text("SELECT count(*) FROM captions")).scalar_one() == 1
        assert s.execute(text("SELECT count(*) FROM failures")).scalar_one() == 0
        assert s.execute(text("SELECT count(*) FROM captions_fts")).scalar_one() == 1
    assert (drop / "a.jpg").read_bytes() == b"jpeg bytes"  # files are never touched
    with pytest.raises(LibraryError, match="not in the library"):
        library.remove_folder(drop)


def test_removing_a_nested_folder_hands_photos_to_the_outer_one(library: Library, tmp_path: Path) -> None:
    outer = library.add_folder_record(tmp_path / "Photos")
    inner = library.add_folder_record(tmp_path / "Photos" / "2020")
    photo = _add(library, tmp_path / "Photos" / "2020" / "a.jpg")
    assert photo.folder_id == inner.id
    library.set_user_caption(photo.id, "new year's eve")
    assert library.remove_folder(inner.id) == 0
    assert library.get_photo(photo.id).folder_id == outer.id
    assert library.best_caption(photo.id).text == "new year's eve"


def test_non_recursive_folder_owns_only_direct_children(library: Library, tmp_path: Path) -> None:
    folder = library.add_folder_record(tmp_path / "flat", recursive=False)
    assert _add(library, tmp_path / "flat" / "a.jpg").folder_id == folder.id
    assert _add(library, tmp_path / "flat" / "sub" / "b.jpg").folder_id is None


# --------------------------------------------------------------------------- batching and threads


def test_session_level_functions_batch_in_one_transaction(library: Library, photo_dir: Path) -> None:
    with library.transaction() as s:
        infos = [ops.upsert_photo(s, photo_dir / f"{i:04d}.jpg", i, float(i)) for i in range(200)]
        caps.add_model_caption(s, infos[0].id, MODEL, "first")
    assert library.stats().photos == 200
    with pytest.raises(RuntimeError), library.transaction() as s:
        ops.upsert_photo(s, photo_dir / "rolled-back.jpg", 1, 1.0)
        raise RuntimeError("boom")
    assert library.get_photo(photo_dir / "rolled-back.jpg") is None


def test_concurrent_writers_and_readers_never_see_database_locked(library: Library, photo_dir: Path) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(worker: int) -> None:
        try:
            start.wait()
            for i in range(25):
                photo = library.upsert_photo(photo_dir / f"w{worker}_{i}.jpg", i, float(i))
                library.add_model_caption(photo.id, MODEL, f"worker {worker} photo {i} of a harbour")
                library.record_failure(photo_dir / f"bad{i}.jpg", f"worker {worker}")
        except BaseException as exc:  # collected and re-raised by the main thread
            errors.append(exc)

    def reader() -> None:
        try:
            start.wait()
            for _ in range(40):
                search(library, "harbour")
                library.stats()
                library.pending_for_model(MODEL)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert library.stats().captioned == 150
    assert len(search(library, "harbour", limit=1000)) == 150
    assert sorted(f.attempts for f in library.list_failures()) == [6] * 25


def test_dates_round_trip(library: Library, photo_dir: Path) -> None:
    taken = datetime(2019, 7, 14, 18, 30, 5)
    photo = _add(library, photo_dir / "a.jpg", taken_at=taken)
    assert library.get_photo(photo.id).taken_at == taken


def test_default_library_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PHOTOSCRIBE_LIBRARY", raising=False)
    assert default_library_path() == Path(os.environ["PHOTOSCRIBE_HOME"]) / "data" / "library.sqlite3"
    monkeypatch.delenv("PHOTOSCRIBE_HOME")
    default = default_library_path()
    assert default.name == "library.sqlite3" and "photoscribe" in str(default.parent)
    monkeypatch.setenv("PHOTOSCRIBE_LIBRARY", str(tmp_path / "elsewhere" / "lib.db"))
    assert default_library_path() == tmp_path / "elsewhere" / "lib.db"
    with Library.open() as lib:  # creates the folder
        assert lib.path == tmp_path / "elsewhere" / "lib.db" and lib.path.is_file()


def test_caption_attention_and_get_photos(library: Library, photo_dir: Path) -> None:
    a, b = _add(library, photo_dir / "a.jpg"), _add(library, photo_dir / "b.jpg")
    maps = np.random.default_rng(0).random((3, 7, 7)).astype(np.float32)
    library.add_model_caption(a.id, MODEL, "a red kite", attention=maps)
    library.add_model_caption(b.id, MODEL, "a blue kite")
    with_maps, without = library.best_caption(a.id), library.best_caption(b.id)
    stored = library.caption_attention(with_maps.id)
    assert stored.shape == (3, 7, 7) and np.allclose(stored, maps, atol=1e-3)
    assert library.caption_attention(without.id) is None
    assert library.caption_attention(10_000) is None
    with library.transaction() as s:
        s.execute(text("UPDATE captions SET attention = x'00ff' WHERE id = :id"), {"id": with_maps.id})
    with pytest.raises(LibraryError, match="corrupt"):
        library.caption_attention(with_maps.id)
    assert [p.id for p in library.get_photos([b.id, 10_000, a.id, b.id])] == [a.id, b.id]
    assert library.best_captions([a.id, b.id])[b.id].text == "a blue kite"


@pytest.mark.slow
def test_the_schema_head_constant_is_alembics_head_and_an_up_to_date_library_opens_without_alembic(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from photoscribe.core.library.upgrade import SCHEMA_HEAD

    assert head_revision() == SCHEMA_HEAD
    db = tmp_path / "lib.sqlite3"
    Library.open(db).close()  # created and migrated: Alembic runs here
    code = (
        "import sys\n"
        "from photoscribe.core.library.database import Library\n"
        "Library.open(sys.argv[1]).close()\n"
        "assert 'alembic' not in sys.modules, 'alembic was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code, str(db)], check=True)
