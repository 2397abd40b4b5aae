"""Item models of the main window: the photo grid and the sidebar.

:class:`PhotoListModel` is virtualised over a library query: it holds only the
photo ids and a small frozen :class:`~photoscribe.desktop.queries.PhotoRow`
per fetched row, and fetches pages of ``page_size`` rows through
``canFetchMore``/``fetchMore``. Every query runs on the
:class:`~photoscribe.desktop.workers.JobRunner` (a search over 100,000 photos
takes ~200 ms, too long for the GUI thread); results come back by signal and
stale ones (from an older query) are dropped.

:class:`FolderListModel` lists the sidebar: the smart collections, then each
watched folder with its photo count, also loaded in the background.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from enum import IntEnum
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QPainter, QPixmap

from photoscribe.core.library import Library
from photoscribe.desktop.queries import (
    FILTER_ALL,
    KIND_FOLDER,
    LOW_CONFIDENCE_NOTE,
    PAGE_SIZE,
    SMART_COLLECTIONS,
    SORT_TAKEN,
    Page,
    PhotoQuery,
    PhotoRow,
    SidebarEntry,
    fetch_page,
    load_rows,
    load_sidebar,
)
from photoscribe.desktop.thumbnail_loader import ThumbnailLoader
from photoscribe.desktop.workers import Job, JobRunner

if TYPE_CHECKING:
    from photoscribe.core.library.hybrid import MeaningSearch

log = logging.getLogger(__name__)

ModelIndex = QModelIndex | QPersistentModelIndex
R = TypeVar("R")


class PhotoRoles(IntEnum):
    """Custom data roles of :class:`PhotoListModel`."""

    PhotoId = Qt.ItemDataRole.UserRole + 1
    Path = Qt.ItemDataRole.UserRole + 2
    Snippet = Qt.ItemDataRole.UserRole + 3  # HTML: matched words in <b>, the rest escaped
    Reviewed = Qt.ItemDataRole.UserRole + 4  # a person wrote or approved the caption
    Source = Qt.ItemDataRole.UserRole + 5  # "user", a model id, or "" when uncaptioned
    Caption = Qt.ItemDataRole.UserRole + 6  # the best caption, "" when none
    Highlights = Qt.ItemDataRole.UserRole + 7  # (plain snippet, ((start, length), ...)) for painting
    LowConfidence = Qt.ItemDataRole.UserRole + 8  # an unreviewed model caption below LOW_CONFIDENCE


def _placeholder(size: int, color: QColor) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(0, 0, size, size, size / 16, size / 16)
    painter.end()
    return pixmap


class _RowListModel(QAbstractListModel, Generic[R]):
    """The skeleton both list models share: rows loaded in the background, read-only items.

    A subclass keeps its rows in ``_rows``, names its custom roles in ``roles`` and answers
    :meth:`row_data`; ``_generation`` tells a stale background answer from the latest one.
    """

    roles: type[IntEnum]

    def __init__(self, library: Library, runner: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.runner = runner
        self._rows: list[R] = []
        self._generation = 0

    def row_data(self, row: R, role: int) -> Any:
        """What ``role`` shows of ``row`` (None when nothing)."""
        raise NotImplementedError

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's default)
        return 0 if parent.isValid() else len(self._rows)

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return self.row_data(self._rows[index.row()], role)

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        for role in self.roles:
            names[int(role)] = QByteArray(role.name[0].lower().encode() + role.name[1:].encode())
        return names


class PhotoListModel(_RowListModel[PhotoRow]):
    """The photos matching a :class:`PhotoQuery`, fetched page by page in the background.

    Signals:
        queryFinished: the first page of the latest query replaced the rows.
        loadFailed(str): a query failed (the message says why).
    """

    roles = PhotoRoles
    queryFinished = Signal()
    loadFailed = Signal(str)

    def __init__(
        self,
        library: Library,
        runner: JobRunner,
        thumbnails: ThumbnailLoader | None = None,
        *,
        page_size: int = PAGE_SIZE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(library, runner, parent)
        self.page_size = page_size
        self.thumbnails = thumbnails
        self._query = PhotoQuery()
        self.meaning_search: MeaningSearch | None = (
            None  # once meaning search is ready: text searches are hybrid
        )
        self._row_of: dict[int, int] = {}
        self._next_offset = 0
        self._exhausted = True
        self._loading = False
        self._resetting = False  # a first page of the current query is on its way
        self._shown_query: PhotoQuery | None = None  # the query whose rows are shown
        # Whether the rows being replaced are the same query's, refreshed (the library changed):
        # the grid then keeps its current photo; a new query starts without one.
        self.same_query = False
        self._placeholders: dict[str, QPixmap] = {}
        if thumbnails is not None:
            thumbnails.thumbnailReady.connect(self._on_thumbnail)

    # ------------------------------------------------------------------ querying

    @property
    def query(self) -> PhotoQuery:
        return self._query

    @property
    def loading(self) -> bool:
        return self._loading

    def set_query(
        self,
        text: str = "",
        filter: str = FILTER_ALL,
        folder: int | None = None,
        sort: str = SORT_TAKEN,
    ) -> None:
        """Re-run the search; the current rows stay until the first new page arrives (no flicker).

        The same query asked again while its first page is on its way (the sidebar selecting "All
        photos" once it has loaded, at start-up) waits for that page instead of starting over.
        """
        query = PhotoQuery(text if isinstance(text, str) else "", filter, folder, sort)
        if query == self._query and self._resetting:
            return
        self._query = query
        self._start_fetch(reset=True)

    def refresh(self) -> None:
        """Re-run the current query (after folders were added or removed)."""
        self._start_fetch(reset=True)

    def _start_fetch(self, *, reset: bool) -> None:
        if reset:
            self._generation += 1
            self._resetting = True
        self._loading = True
        generation = self._generation
        offset = 0 if reset else self._next_offset
        job = Job(
            fetch_page, self.library, self._query, offset, self.page_size, meaning_search=self.meaning_search
        )
        self.runner.submit(
            job,
            receiver=self,
            on_finished=partial(self._on_page, generation, reset),
            on_failed=partial(self._on_failed, generation),
            on_cancelled=partial(self._on_failed, generation, None, ""),
        )

    def _on_page(self, generation: int, reset: bool, page: Page) -> None:
        if generation != self._generation:
            return  # an older query's answer
        self._loading = False
        if reset:
            self._resetting = False
        self._next_offset = page.next_offset
        self._exhausted = page.exhausted
        if reset:
            self.same_query = self._shown_query == self._query
            self._shown_query = self._query
            self.beginResetModel()
            self._rows = []
            self._row_of = {}
            self._append(page.rows)
            self.endResetModel()
            self.queryFinished.emit()
            return
        fresh = [row for row in page.rows if row.photo_id not in self._row_of]
        if fresh:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            self._append(fresh)
            self.endInsertRows()

    def _append(self, rows: Sequence[PhotoRow]) -> None:
        for row in rows:
            if row.photo_id in self._row_of:
                continue  # the library changed between pages
            self._row_of[row.photo_id] = len(self._rows)
            self._rows.append(row)

    def _on_failed(self, generation: int, exc: BaseException | None, _tb: str) -> None:
        if generation != self._generation:
            return
        self._loading = False
        self._resetting = False
        self._exhausted = True
        if exc is not None:
            self.loadFailed.emit(str(exc))

    def update_photos(self, photo_ids: Sequence[int]) -> None:
        """Reload the display data of these photos where they are shown (captions changed)."""
        shown = [pid for pid in photo_ids if pid in self._row_of]
        if shown:
            self.runner.submit(
                Job(load_rows, self.library, shown, progress=False), receiver=self, on_finished=self._on_rows
            )

    def remove_photos(self, photo_ids: Sequence[int]) -> int:
        """Take photos that no longer match the query out of the rows (a photo reviewed in "Needs
        review"); the next page starts that many rows earlier. Returns how many rows went."""
        rows = sorted((r for pid in photo_ids if (r := self._row_of.get(pid)) is not None), reverse=True)
        for row in rows:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()
        if rows:
            self._row_of = {row.photo_id: i for i, row in enumerate(self._rows)}
            self._next_offset = max(0, self._next_offset - len(rows))
        return len(rows)

    def _on_rows(self, rows: dict[int, PhotoRow]) -> None:
        for photo_id, row in rows.items():
            index = self._row_of.get(photo_id)
            if index is None:
                continue
            old = self._rows[index]
            if old.highlights and row.caption == old.caption:
                row = replace(row, snippet=old.snippet, highlights=old.highlights)
            self._rows[index] = row
            model_index = self.index(index, 0)
            self.dataChanged.emit(model_index, model_index)

    # ------------------------------------------------------------------ lookups

    def row_of(self, photo_id: int) -> int | None:
        return self._row_of.get(photo_id)

    def photo_row(self, row: int) -> PhotoRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def _on_thumbnail(self, photo_id: int) -> None:
        row = self._row_of.get(photo_id)
        if row is not None:
            index = self.index(row, 0)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def _placeholder(self, kind: str) -> QPixmap:
        pixmap = self._placeholders.get(kind)
        if pixmap is None:
            color = QColor(128, 128, 128, 40) if kind == "loading" else QColor(200, 60, 60, 60)
            pixmap = self._placeholders[kind] = _placeholder(64, color)
        return pixmap

    # ------------------------------------------------------------------ QAbstractItemModel

    def canFetchMore(self, parent: ModelIndex) -> bool:
        return not parent.isValid() and not self._loading and not self._exhausted

    def fetchMore(self, parent: ModelIndex) -> None:
        if self.canFetchMore(parent):
            self._start_fetch(reset=False)

    def row_data(self, row: PhotoRow, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return row.caption or row.name
        if role == Qt.ItemDataRole.DecorationRole:
            if self.thumbnails is None:
                return None
            pixmap = self.thumbnails.pixmap(row.photo_id, row.path)
            if pixmap is not None:
                return pixmap
            return self._placeholder("broken" if self.thumbnails.error(row.photo_id) else "loading")
        if role == Qt.ItemDataRole.ToolTipRole:
            error = self.thumbnails.error(row.photo_id) if self.thumbnails is not None else None
            return row.tooltip + (f"\nCannot show this photo: {error}" if error else "")
        if role == Qt.ItemDataRole.AccessibleTextRole:
            text = row.alt_text or f"{row.name}, no caption yet"
            return f"{text}. {LOW_CONFIDENCE_NOTE.format(row.confidence)}" if row.low_confidence else text
        if role == Qt.ItemDataRole.AccessibleDescriptionRole:  # said after the caption
            state = (
                "written by you" if row.source == "user" else "reviewed" if row.reviewed else "needs review"
            )
            return f"{row.name}, {state}" if row.caption else row.name
        if role == PhotoRoles.LowConfidence:
            return row.low_confidence
        if role == PhotoRoles.PhotoId:
            return row.photo_id
        if role == PhotoRoles.Path:
            return row.path
        if role == PhotoRoles.Snippet:
            return row.snippet_html
        if role == PhotoRoles.Reviewed:
            return row.reviewed
        if role == PhotoRoles.Source:
            return row.source
        if role == PhotoRoles.Caption:
            return row.caption
        if role == PhotoRoles.Highlights:
            return (row.snippet, row.highlights)
        return None


# ====================================================================== sidebar


class FolderRoles(IntEnum):
    Kind = Qt.ItemDataRole.UserRole + 1  # "all", "uncaptioned", "needs_review", "recent" or "folder"
    FolderId = Qt.ItemDataRole.UserRole + 2
    FolderPath = Qt.ItemDataRole.UserRole + 3
    Count = Qt.ItemDataRole.UserRole + 4  # int, or None while unknown


class FolderListModel(_RowListModel[SidebarEntry]):
    """The sidebar: smart collections, then each folder of the library with its photo count."""

    roles = FolderRoles
    refreshed = Signal()

    def __init__(self, library: Library, runner: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(library, runner, parent)
        self._rows = [SidebarEntry(kind, label) for kind, label in SMART_COLLECTIONS]

    def refresh(self) -> None:
        """Reload folders and counts in the background."""
        self._generation += 1
        generation = self._generation
        self.runner.submit(
            Job(load_sidebar, self.library, progress=False),
            receiver=self,
            on_finished=lambda entries: self._apply(generation, entries),
            on_failed=lambda exc, _tb: log.warning("the sidebar could not be loaded: %s", exc),
        )

    @property
    def entries(self) -> tuple[SidebarEntry, ...]:
        return tuple(self._rows)

    def folder_count(self) -> int:
        return sum(1 for e in self._rows if e.kind == KIND_FOLDER)

    def row_of(self, kind: str, folder_id: int | None = None) -> int | None:
        for row, entry in enumerate(self._rows):
            if entry.key == (kind, folder_id):
                return row
        return None

    def entry(self, row: int) -> SidebarEntry | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def _apply(self, generation: int, entries: list[SidebarEntry]) -> None:
        """Move to ``entries`` with row removals/insertions (keeping the view's selection)."""
        if generation != self._generation:
            return
        wanted = {e.key for e in entries}
        for row in reversed(range(len(self._rows))):
            if self._rows[row].key not in wanted:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()
        for row, entry in enumerate(entries):
            if row >= len(self._rows) or self._rows[row].key != entry.key:
                self.beginInsertRows(QModelIndex(), row, row)
                self._rows.insert(row, entry)
                self.endInsertRows()
        if [e.key for e in self._rows] != [e.key for e in entries]:  # order changed: start over
            self.beginResetModel()
            self._rows = list(entries)
            self.endResetModel()
            self.refreshed.emit()
            return
        changed = [row for row, entry in enumerate(entries) if self._rows[row] != entry]
        self._rows = list(entries)
        if changed:
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), 0))
        self.refreshed.emit()

    # ------------------------------------------------------------------ QAbstractItemModel

    def row_data(self, entry: SidebarEntry, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.label
        if role == Qt.ItemDataRole.ToolTipRole:
            where = entry.path or entry.label
            return where if entry.count is None else f"{where}: {entry.count:,} photos"
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return entry.label if entry.count is None else f"{entry.label}, {entry.count:,} photos"
        if role == FolderRoles.Kind:
            return entry.kind
        if role == FolderRoles.FolderId:
            return entry.folder_id
        if role == FolderRoles.FolderPath:
            return entry.path
        if role == FolderRoles.Count:
            return entry.count
        return None
