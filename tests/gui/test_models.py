"""The item models, tested without a window (as vorta does) and with qtmodeltester."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt, QThreadPool
from PySide6.QtGui import QPixmap
from sample_library import Sample, add_caption, draw_photo, register_photo
from sqlalchemy import update

from photoscribe.core.library import Library
from photoscribe.core.library import photos as ops
from photoscribe.core.library.schema import Photo, utcnow
from photoscribe.desktop.grid import PhotoGrid
from photoscribe.desktop.item_models import FolderListModel, FolderRoles, PhotoListModel, PhotoRoles
from photoscribe.desktop.queries import (
    FILTER_NEEDS_REVIEW,
    FILTER_RECENT,
    FILTER_UNCAPTIONED,
    KIND_FOLDER,
    RECENT_DAYS,
    SORT_ADDED,
    PhotoQuery,
    count_label,
    count_rows,
    fetch_page,
    parse_highlights,
)
from photoscribe.desktop.thumbnail_loader import ThumbnailLoader
from photoscribe.desktop.workers import JobRunner


def check_model(qtmodeltester: Any, qtlog: Any, model: Any) -> None:
    """Qt's own QAbstractItemModelTester (warnings are failures) and pytest-qt's Python one."""
    qtmodeltester.check(model)
    qtmodeltester.check(model, force_py=True)
    problems = [
        r.message for r in qtlog.records if "FAIL" in r.message or "QAbstractItemModelTester" in r.message
    ]
    assert not problems


def bulk_library(library: Library, root: Path, count: int) -> list[int]:
    """``count`` photo rows (files need not exist), one transaction; every third one captioned."""
    folder = library.add_folder_record(root)
    start = datetime(2020, 1, 1)
    with library.transaction() as session:
        ids = [
            ops.upsert_photo(
                session, root / f"img_{i:05d}.jpg", 1000 + i, 1.6e9 + i, taken_at=start + timedelta(minutes=i),
                folder_id=folder.id,
            ).id
            for i in range(count)
        ]  # fmt: skip
    for photo_id in ids[::3]:
        library.add_model_caption(photo_id, "m", f"photo number {photo_id} of a quiet street")
    return ids


def test_photo_model_empty(qtmodeltester: Any, qtlog: Any, library: Library, runner: JobRunner) -> None:
    model = PhotoListModel(library, runner)
    model.set_query()
    assert model.rowCount() == 0
    assert not model.canFetchMore(QModelIndex())
    check_model(qtmodeltester, qtlog, model)


def test_photo_model_small(qtmodeltester: Any, qtlog: Any, sample: Sample, runner: JobRunner) -> None:
    model = PhotoListModel(sample.library, runner)
    model.set_query()
    assert model.rowCount() == len(sample.ids)
    check_model(qtmodeltester, qtlog, model)
    # Browsing: newest taken first; display = caption; alt text; custom roles.
    first = model.index(0, 0)
    assert first.data(PhotoRoles.PhotoId) == sample.ids["lake"]
    assert first.data(Qt.ItemDataRole.DisplayRole) == "two kayaks on a calm turquoise lake"
    assert first.data(Qt.ItemDataRole.AccessibleTextRole) == "two kayaks on a calm turquoise lake"
    assert first.data(PhotoRoles.Path).endswith("lake.jpg")
    assert first.data(PhotoRoles.Source) == "test-model-1"
    assert first.data(PhotoRoles.Reviewed) is False
    assert "lake.jpg" in first.data(Qt.ItemDataRole.ToolTipRole)
    names = model.roleNames()
    assert bytes(names[int(PhotoRoles.PhotoId)]) == b"photoId"


def test_photo_model_search_highlights_and_ranks(sample: Sample, runner: JobRunner) -> None:
    model = PhotoListModel(sample.library, runner)
    model.set_query("boat harbour")
    assert model.rowCount() == 1
    index = model.index(0, 0)
    assert index.data(PhotoRoles.PhotoId) == sample.ids["harbour"]
    assert "<b>boat</b>" in index.data(PhotoRoles.Snippet)
    plain, ranges = index.data(PhotoRoles.Highlights)
    assert [plain[s : s + n] for s, n in ranges] == ["boat", "harbour"]
    # HTML in captions is escaped, never interpreted.
    sample.library.set_user_caption(sample.ids["rose"], "a <i>rose</i> & a boat")
    model.set_query("rose")
    assert model.index(0, 0).data(PhotoRoles.Snippet) == "a &lt;i&gt;<b>rose</b>&lt;/i&gt; &amp; a boat"
    assert model.index(0, 0).data(PhotoRoles.Reviewed) is True
    assert model.index(0, 0).data(PhotoRoles.Source) == "user"


def test_parse_highlights_handles_unbalanced_markers() -> None:
    assert parse_highlights("a \x02red\x03 car\nand \x02bus") == ("a red car and bus", ((2, 3),))


def test_photo_model_thousand_rows_fetch_more(
    qtbot: Any, qtmodeltester: Any, qtlog: Any, library: Library, tmp_path: Path
) -> None:
    """Pages arrive from a real thread pool, as in the app (rows are never inserted inside fetchMore)."""
    ids = bulk_library(library, tmp_path / "many", 1000)
    pool = QThreadPool()
    model = PhotoListModel(library, JobRunner(pool), page_size=128)

    def settle() -> None:
        qtbot.waitUntil(lambda: not model.loading, timeout=10_000)

    def fetch_all() -> None:
        settle()
        while model.canFetchMore(QModelIndex()):
            model.fetchMore(QModelIndex())
            settle()

    model.set_query()
    settle()
    assert model.rowCount() == 128
    assert model.canFetchMore(QModelIndex())
    check_model(qtmodeltester, qtlog, model)  # the Python tester calls fetchMore too
    fetch_all()
    assert model.rowCount() == 1000
    shown = [model.index(row, 0).data(PhotoRoles.PhotoId) for row in range(1000)]
    assert shown == list(reversed(ids))  # newest taken first, no duplicates across pages
    # Uncaptioned photos show their file name.
    uncaptioned = model.index(model.row_of(ids[1]), 0)
    assert uncaptioned.data(Qt.ItemDataRole.DisplayRole) == "img_00001.jpg"
    assert uncaptioned.data(Qt.ItemDataRole.AccessibleTextRole) == "img_00001.jpg, no caption yet"
    # Filters.
    model.set_query(filter=FILTER_UNCAPTIONED)
    fetch_all()
    assert model.rowCount() == 1000 - len(ids[::3])
    model.set_query(filter=FILTER_NEEDS_REVIEW)
    fetch_all()
    assert model.rowCount() == len(ids[::3])
    model.set_query(sort=SORT_ADDED, filter=FILTER_RECENT)
    fetch_all()
    assert model.rowCount() == 1000
    pool.waitForDone(5000)


def test_grid_keeps_its_scroll_position_when_a_page_arrives(
    qtbot: Any, library: Library, tmp_path: Path
) -> None:
    """Scrolling to the end loads the next page; the view must stay where the user is, not jump back."""
    bulk_library(library, tmp_path / "many", 1000)
    pool = QThreadPool()
    model = PhotoListModel(library, JobRunner(pool), page_size=200)
    grid = PhotoGrid()
    grid.setModel(model)
    grid.resize(700, 500)
    qtbot.addWidget(grid)
    grid.show()
    model.set_query()
    qtbot.waitUntil(lambda: model.rowCount() == 200, timeout=10_000)
    bar = grid.verticalScrollBar()
    for pages in (2, 3, 4):
        qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5000)
        bar.setValue(bar.maximum())  # the view asks the model for the next page
        at_end = bar.value()
        qtbot.waitUntil(lambda pages=pages: model.rowCount() == 200 * pages, timeout=10_000)
        qtbot.wait(50)  # let the view lay the new rows out
        assert bar.maximum() > at_end
        assert bar.value() >= at_end, f"the view jumped back from {at_end} to {bar.value()}"
    pool.waitForDone(5000)


def test_photo_model_drops_answers_of_older_queries(sample: Sample) -> None:
    """With a real pool, typing fast starts many queries; only the last one's rows are shown."""
    pool = QThreadPool()
    model = PhotoListModel(sample.library, JobRunner(pool))
    for text in ("t", "to", "tom", "toma", "tomato"):
        model.set_query(text)
    pool.waitForDone(10_000)
    from PySide6.QtCore import QCoreApplication

    QCoreApplication.processEvents()
    assert model.rowCount() == 1
    assert model.index(0, 0).data(PhotoRoles.PhotoId) == sample.ids["tomato"]
    assert not model.loading


def test_thumbnails_load_off_the_main_thread(qtbot: Any, sample: Sample, runner: JobRunner) -> None:
    pool = QThreadPool()
    loader = ThumbnailLoader(size=64, capacity=4, pool=pool)
    model = PhotoListModel(sample.library, runner, loader)
    model.set_query()
    index = model.index(0, 0)
    placeholder = index.data(Qt.ItemDataRole.DecorationRole)  # queues the request
    assert isinstance(placeholder, QPixmap)
    with qtbot.waitSignal(model.dataChanged, timeout=10_000) as blocker:
        pass
    assert blocker.args[0].row() == 0
    pixmap = index.data(Qt.ItemDataRole.DecorationRole)
    assert isinstance(pixmap, QPixmap) and max(pixmap.width(), pixmap.height()) == 64
    corner = pixmap.toImage().pixelColor(2, 2)
    assert corner.blue() > 2 * corner.red()  # the lake photo is turquoise
    # LRU: more photos than capacity keep at most `capacity` pixmaps.
    for row in range(model.rowCount()):
        model.index(row, 0).data(Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(lambda: len(loader._pixmaps) == 4 and not loader._in_flight, timeout=10_000)  # LRU bound
    loader.shutdown()


def test_broken_photo_gets_a_placeholder_and_a_reason(qtbot: Any, sample: Sample, runner: JobRunner) -> None:
    broken = sample.root / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    photo_id = sample.library.upsert_photo(
        broken, 10, broken.stat().st_mtime, taken_at=datetime(2030, 1, 1), folder_id=sample.folder.id
    ).id
    pool = QThreadPool()
    loader = ThumbnailLoader(size=64, pool=pool)
    model = PhotoListModel(sample.library, runner, loader)
    model.set_query()
    index = model.index(model.row_of(photo_id), 0)
    index.data(Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(lambda: loader.error(photo_id) is not None, timeout=10_000)
    assert "Cannot show this photo" in index.data(Qt.ItemDataRole.ToolTipRole)
    assert isinstance(index.data(Qt.ItemDataRole.DecorationRole), QPixmap)
    loader.shutdown()


def test_update_photos_refreshes_changed_rows(qtbot: Any, sample: Sample, runner: JobRunner) -> None:
    model = PhotoListModel(sample.library, runner)
    model.set_query()
    photo_id = sample.ids["snow"]
    sample.library.set_user_caption(photo_id, "a log cabin under heavy snow")
    with qtbot.waitSignal(model.dataChanged, timeout=5000):
        model.update_photos([photo_id])
    index = model.index(model.row_of(photo_id), 0)
    assert index.data() == "a log cabin under heavy snow"
    assert index.data(PhotoRoles.Reviewed) is True


def test_folder_model(
    qtmodeltester: Any, qtlog: Any, sample: Sample, runner: JobRunner, tmp_path: Path
) -> None:
    model = FolderListModel(sample.library, runner)
    assert model.rowCount() == 4  # the smart collections, before counts are loaded
    check_model(qtmodeltester, qtlog, model)
    model.refresh()
    labels = [model.index(r, 0).data() for r in range(model.rowCount())]
    assert labels == ["All photos", "Uncaptioned", "Needs review", "Recently added", "Holidays"]
    counts = [model.index(r, 0).data(FolderRoles.Count) for r in range(model.rowCount())]
    assert counts == [12, 0, 12, 12, 12]
    folder_index = model.index(4, 0)
    assert folder_index.data(FolderRoles.Kind) == KIND_FOLDER
    assert folder_index.data(FolderRoles.FolderId) == sample.folder.id
    assert folder_index.data(Qt.ItemDataRole.AccessibleTextRole) == "Holidays, 12 photos"
    # A new folder is inserted (not a reset), then removed again.
    other = tmp_path / "Archive"
    folder = sample.library.add_folder_record(other)
    add_caption(
        sample.library,
        register_photo(sample.library, folder, draw_photo(other / "a.png", (1, 2, 3), "circle")),
        "x",
    )
    inserted: list[int] = []
    model.rowsInserted.connect(lambda _p, first, _last: inserted.append(first))
    model.refresh()
    assert inserted == [4]  # "Archive" sorts before "Holidays"
    assert model.index(4, 0).data() == "Archive"
    assert model.index(0, 0).data(FolderRoles.Count) == 13
    sample.library.remove_folder(folder.id)
    model.refresh()
    assert model.rowCount() == 5
    check_model(qtmodeltester, qtlog, model)


def test_recently_added_filters_search_results_and_counts(sample: Sample, runner: JobRunner) -> None:
    """ "Recently added" narrows a search too (core's ``added_since``), and its count matches."""
    tomato, desert = sample.ids["tomato"], sample.ids["desert"]
    with sample.library.transaction() as s:  # tomato was added long ago
        s.execute(
            update(Photo)
            .where(Photo.id == tomato)
            .values(added_at=utcnow() - timedelta(days=RECENT_DAYS + 5))
        )
    red = fetch_page(sample.library, PhotoQuery(text="red"), 0)
    assert {row.photo_id for row in red.rows} == {tomato, desert}
    recent_red = fetch_page(sample.library, PhotoQuery(text="red", filter=FILTER_RECENT), 0)
    assert [row.photo_id for row in recent_red.rows] == [desert] and recent_red.exhausted
    assert recent_red.rows[0].highlights  # still a search: matched words are highlighted
    newest_added = fetch_page(sample.library, PhotoQuery(sort=SORT_ADDED), 0)
    assert newest_added.rows[-1].photo_id == tomato and len(newest_added.rows) == 12
    assert tomato not in [
        r.photo_id for r in fetch_page(sample.library, PhotoQuery(filter=FILTER_RECENT), 0).rows
    ]

    model = FolderListModel(sample.library, runner)
    model.refresh()
    counts = {entry.label: entry.count for entry in model.entries}
    assert counts == {
        "All photos": 12,
        "Uncaptioned": 0,
        "Needs review": 12,
        "Recently added": 11,
        "Holidays": 12,
    }
    sample.library.mark_missing(desert)  # missing photos are not counted
    model.refresh()
    assert {entry.label: entry.count for entry in model.entries}["Holidays"] == 11


@pytest.mark.parametrize("text", ['"', "AND OR NOT", "*", "-", 'col:"x', "(", "\x00", "🙂" * 300, "a" * 5000])
def test_photo_model_never_raises_on_hostile_queries(sample: Sample, runner: JobRunner, text: str) -> None:
    model = PhotoListModel(sample.library, runner)
    failures: list[str] = []
    model.loadFailed.connect(failures.append)
    model.set_query(text)
    assert failures == []


def test_a_text_query_is_counted_up_to_a_limit(sample: Sample, monkeypatch: pytest.MonkeyPatch) -> None:
    """The count asked for on every keystroke stops early and says "More than"; browsing counts all."""
    import photoscribe.desktop.queries as queries

    monkeypatch.setattr(queries, "COUNT_LIMIT", 3)
    assert count_rows(sample.library, PhotoQuery()) == 12  # browsing: exact
    red = count_rows(sample.library, PhotoQuery(text="red"))
    assert red == 2 and count_label(red, text_query=True) == "2 photos"
    many = count_rows(sample.library, PhotoQuery(text="a"))
    assert many == 4  # stopped at COUNT_LIMIT + 1
    assert count_label(many, text_query=True) == "More than 3 photos"
    assert count_label(12) == "12 photos"


def test_needs_review_lists_the_least_confident_first_and_marks_low_confidence(
    qtmodeltester: Any, qtlog: Any, sample: Sample, runner: JobRunner
) -> None:
    library = sample.library
    confidences = {"orange": 0.9, "harbour": 0.2, "rose": 0.45}
    for stem, confidence in confidences.items():
        photo_id = sample.ids[stem]
        text = library.best_caption(photo_id).text
        library.forget_model_captions([photo_id])
        library.add_model_caption(photo_id, "test-model-1", text, -1.0, confidence=confidence)
    model = PhotoListModel(library, runner)
    model.set_query(filter=FILTER_NEEDS_REVIEW)
    check_model(qtmodeltester, qtlog, model)
    shown = [model.index(row, 0).data(PhotoRoles.PhotoId) for row in range(model.rowCount())]
    assert shown[:3] == [sample.ids["harbour"], sample.ids["rose"], sample.ids["orange"]]
    # then the others, in the usual order (newest taken first)
    rest = [i for i in shown[3:]]
    model.set_query()
    browsed = [model.index(row, 0).data(PhotoRoles.PhotoId) for row in range(model.rowCount())]
    assert rest == [i for i in browsed if i in rest]

    model.set_query(filter=FILTER_NEEDS_REVIEW)
    low, middling, confident = (model.index(row, 0) for row in range(3))
    assert low.data(PhotoRoles.LowConfidence) is True and middling.data(PhotoRoles.LowConfidence) is True
    assert confident.data(PhotoRoles.LowConfidence) is False
    assert model.index(3, 0).data(PhotoRoles.LowConfidence) is False  # unknown confidence is not low
    note = "Low confidence 0.20: check that every object named is in the photo"
    assert low.data(Qt.ItemDataRole.AccessibleTextRole).endswith(note)
    assert note in low.data(Qt.ItemDataRole.ToolTipRole)
    assert "Low confidence" not in confident.data(Qt.ItemDataRole.ToolTipRole)
    library.mark_reviewed(sample.ids["harbour"])  # reviewed: the mark goes
    model.set_query()
    row = model.row_of(sample.ids["harbour"])
    assert model.index(row, 0).data(PhotoRoles.LowConfidence) is False
