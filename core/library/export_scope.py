"""Which photos an export covers: chosen photos, or what a search / folder / filter shows.

An :class:`ExportScope` is one value every caller builds the same way (the CLI from
``--folder``/``--query``, the app from its selection or its current view) and that knows how
to become SQL (:meth:`ExportScope.clause`). The text query has the search box's semantics
(:func:`~photoscribe.core.library.search.matching_ids`): the same words find the same photos.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from photoscribe.core.library.records import FolderRef
from photoscribe.core.library.schema import Photo, PhotoStatus
from photoscribe.core.library.search import matching_ids

if TYPE_CHECKING:
    from photoscribe.core.library.database import Library


@dataclass(frozen=True)
class ExportScope:
    """The photos to export. ``photo_ids`` wins over everything else when given (a selection);
    otherwise ``query``, ``folder`` and the filters narrow the library, and an empty scope is
    the whole library.

    Attributes:
        photo_ids: exactly these photos (the app's selection).
        query: search-box text: words, ``"phrases"``, ``-excluded`` (see ``parse_query``).
        folder: a folder id, or a directory (photos at any depth below it).
        needs_review, uncaptioned: the "Needs review" / "Uncaptioned" collections.
        added_since: the "Recently added" collection (naive UTC).
    """

    photo_ids: tuple[int, ...] | None = None
    query: str = ""
    folder: FolderRef | None = None
    needs_review: bool = False
    uncaptioned: bool = False
    added_since: datetime | None = None

    @property
    def is_library(self) -> bool:
        """Whether this scope is the whole library (nothing narrows it)."""
        return (
            self.photo_ids is None
            and not (self.query.strip() or self.folder is not None or self.needs_review or self.uncaptioned)
            and self.added_since is None
        )

    def clause(self, library: Library) -> Any | None:
        """A ``Photo.id IN (...)`` condition, or ``None`` for the whole library."""
        if self.photo_ids is not None:
            return Photo.id.in_(self.photo_ids)
        if self.is_library:
            return None
        ids = matching_ids(
            library,
            self.query,
            folder=self.folder,
            uncaptioned=self.uncaptioned,
            needs_review=self.needs_review,
            added_since=self.added_since,
        )
        return Photo.id.in_(ids)

    def count(self, library: Library) -> int:
        """How many present photos are in scope (what "Export the 41 photos" says)."""
        stmt = select(func.count()).select_from(Photo).where(Photo.status != PhotoStatus.MISSING)
        clause = self.clause(library)
        if clause is not None:
            stmt = stmt.where(clause)
        with library.session() as session:
            return int(session.scalar(stmt) or 0)


WHOLE_LIBRARY = ExportScope()
