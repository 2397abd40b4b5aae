"""What a library search narrows to (:class:`SearchFilters`) and the orders it lists photos in.

Every search takes the same filters: word search and its count
(:mod:`~photoscribe.core.library.search`), search by meaning
(:mod:`~photoscribe.core.library.hybrid`), exports of "this search" and the app's grid. A
:class:`SearchFilters` is one value that knows how to become SQL, as beets' query objects do:
:meth:`SearchFilters.where` gives the SQL text and its arguments (the search's hot path runs it on
the DBAPI cursor) and :meth:`SearchFilters.clause` wraps the same text for SQLAlchemy statements.
The SQL refers to the table ``photos``; the date a photo was taken is spelled once,
:data:`DATE_TAKEN_SQL`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict

from sqlalchemy import String, bindparam, literal_column, text
from sqlalchemy.sql.elements import ColumnClause, TextClause

from photoscribe.core.library.photos import _dir_prefix, normalize_path
from photoscribe.core.library.records import FolderRef
from photoscribe.core.library.schema import Photo, PhotoStatus

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's from Python 3.11; only type checkers read it

# --------------------------------------------------------------------------- sort orders

SortOrder = Literal["relevance", "taken", "taken-oldest", "added", "added-oldest", "name", "name-desc"]
SORT_RELEVANCE: Final = "relevance"  # best match first (a text query's order)
SORT_TAKEN: Final = "taken"  # newest taken first (browsing's default)
SORT_TAKEN_OLDEST: Final = "taken-oldest"
SORT_ADDED: Final = "added"  # newest added to the library first
SORT_ADDED_OLDEST: Final = "added-oldest"
SORT_NAME: Final = "name"  # file name A to Z, case-insensitively
SORT_NAME_DESC: Final = "name-desc"
BROWSE_SORTS: tuple[SortOrder, ...] = (
    SORT_TAKEN,
    SORT_TAKEN_OLDEST,
    SORT_ADDED,
    SORT_ADDED_OLDEST,
    SORT_NAME,
    SORT_NAME_DESC,
)
SORTS: tuple[SortOrder, ...] = (SORT_RELEVANCE, *BROWSE_SORTS)

# When a photo was taken: its EXIF date, else its file time, as text comparable with stored datetimes
# ("YYYY-MM-DD HH:MM:SS[.ffffff]").
DATE_TAKEN_SQL = "coalesce(photos.taken_at, datetime(photos.mtime, 'unixepoch', 'localtime'))"
_STORED_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite


def date_taken() -> ColumnClause[str]:
    """:data:`DATE_TAKEN_SQL` as a SQLAlchemy column (to order by)."""
    return literal_column(DATE_TAKEN_SQL, String)


def browse_order(sort: SortOrder | None) -> tuple[Any, ...]:
    """The ORDER BY terms of a browse order (``"taken"`` for ``None`` and ``"relevance"``)."""
    orders: dict[str, tuple[Any, ...]] = {
        SORT_TAKEN: (date_taken().desc(), Photo.id.desc()),
        SORT_TAKEN_OLDEST: (date_taken().asc(), Photo.id.asc()),
        SORT_ADDED: (Photo.added_at.desc(), Photo.id.desc()),
        SORT_ADDED_OLDEST: (Photo.added_at.asc(), Photo.id.asc()),
        SORT_NAME: (Photo.name.collate("NOCASE").asc(), Photo.path.asc()),
        SORT_NAME_DESC: (Photo.name.collate("NOCASE").desc(), Photo.path.desc()),
    }
    return orders[sort if sort in orders else SORT_TAKEN]


# --------------------------------------------------------------------------- filters


class FilterArgs(TypedDict, total=False):
    """:class:`SearchFilters`' fields as keyword arguments (``search(library, "dog", folder=...)``)."""

    folder: FolderRef | None
    date_from: date | datetime | None
    date_to: date | datetime | None
    added_since: datetime | None
    uncaptioned: bool
    needs_review: bool
    include_missing: bool


def _day_start(value: date | datetime) -> str:
    moment = value if isinstance(value, datetime) else datetime.combine(value, time.min)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


_HAS_CAPTION = "EXISTS (SELECT 1 FROM captions WHERE captions.photo_id = photos.id)"
_HAS_PREFERRED = "EXISTS (SELECT 1 FROM captions WHERE captions.photo_id = photos.id AND (captions.is_user OR captions.reviewed))"


@dataclass(frozen=True)
class SearchFilters:
    """Which photos a search may return; the default is every photo whose file is there.

    Attributes:
        folder: a folder id, or a directory path (photos at any depth below it).
        date_from, date_to: inclusive bounds on the date taken (file time when unknown);
            a ``date`` covers the whole day.
        added_since: only photos added to the library at or after this (naive UTC) time.
        uncaptioned: only photos without any caption.
        needs_review: only photos with model captions that nobody wrote or reviewed.
        include_missing: also photos whose file is gone.
    """

    folder: FolderRef | None = None
    date_from: date | datetime | None = None
    date_to: date | datetime | None = None
    added_since: datetime | None = None
    uncaptioned: bool = False
    needs_review: bool = False
    include_missing: bool = False

    @classmethod
    def of(cls, filters: SearchFilters | None = None, **narrow: Unpack[FilterArgs]) -> SearchFilters:
        """``filters`` (default: none) with the fields given as keyword arguments replaced."""
        return replace(filters or cls(), **narrow)

    @property
    def narrows(self) -> bool:
        """Whether any filter applies besides whether the file is there (``include_missing``)."""
        values = [getattr(self, f.name) for f in fields(self) if f.name != "include_missing"]
        return any(value is not None and value is not False for value in values)

    def where(self, *, rowid: str | None = None) -> tuple[str, list[Any]]:
        """The filters as SQL conditions joined by AND (``""`` when none) and their ``?`` arguments.

        Args:
            rowid: a column equal to ``photos.id`` whose index the query walks (the full-text
                index's ``rowid``): a folder id also bounds it by the folder's id range, as a
                folder's photos are mostly added together.
        """
        sql: list[str] = []
        args: list[Any] = []
        if not self.include_missing:
            sql.append(f"photos.status != '{PhotoStatus.MISSING.value}'")
        if self.date_from is not None:
            sql.append(f"{DATE_TAKEN_SQL} >= ?")
            args.append(_day_start(self.date_from))
        if isinstance(self.date_to, datetime):
            sql.append(f"{DATE_TAKEN_SQL} <= ?")
            args.append(self.date_to.strftime(_STORED_DATETIME))
        elif self.date_to is not None and self.date_to < date.max:  # date.max: no bound (no day after)
            sql.append(f"{DATE_TAKEN_SQL} < ?")
            args.append(_day_start(self.date_to + timedelta(days=1)))
        if self.added_since is not None:
            sql.append("photos.added_at >= ?")
            args.append(self.added_since.strftime(_STORED_DATETIME))
        if self.uncaptioned:
            sql.append(f"NOT {_HAS_CAPTION}")
        if self.needs_review:
            sql += [_HAS_CAPTION, f"NOT {_HAS_PREFERRED}"]
        if isinstance(self.folder, int):
            sql.append("photos.folder_id = ?")
            args.append(self.folder)
            if rowid is not None:
                sql.append(
                    f"{rowid} BETWEEN (SELECT min(id) FROM photos WHERE folder_id = ?) "
                    "AND (SELECT max(id) FROM photos WHERE folder_id = ?)"
                )
                args += [self.folder, self.folder]
        elif self.folder is not None:
            prefix = _dir_prefix(normalize_path(self.folder))
            sql.append("substr(photos.path, 1, ?) = ?")
            args += [len(prefix), prefix]
        return " AND ".join(sql), args

    def clause(self) -> TextClause | None:
        """:meth:`where` for a SQLAlchemy statement over ``photos``, or ``None`` when nothing applies."""
        sql, args = self.where()
        if not sql:
            return None
        pieces = sql.split("?")  # no literal "?" in the text above: each one is an argument
        named = pieces[0] + "".join(f":filter_{i}{piece}" for i, piece in enumerate(pieces[1:]))
        # unique: two filters in one statement (a subquery) keep their own arguments
        return text(named).bindparams(
            *(bindparam(f"filter_{i}", arg, unique=True) for i, arg in enumerate(args))
        )


NO_FILTERS = SearchFilters()
