"""What the grid and the sidebar show, read from the library on worker threads (no Qt here).

Each function takes the library and returns frozen display records; the item
models in :mod:`photoscribe.desktop.item_models` run them on the job runner.
"""

from __future__ import annotations

import html
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from photoscribe.core.captioning.confidence import LOW_CONFIDENCE_ADVICE, is_low
from photoscribe.core.library import Library, SearchHit
from photoscribe.core.library.export import split_alt_text
from photoscribe.core.library.export_scope import ExportScope
from photoscribe.core.library.filters import (
    BROWSE_SORTS,
    SORT_ADDED,
    SORT_ADDED_OLDEST,
    SORT_RELEVANCE,
    SORT_TAKEN,
    SearchFilters,
    SortOrder,
)
from photoscribe.core.library.filters import SORT_NAME as SORT_NAME  # the app's modules read the
from photoscribe.core.library.filters import SORT_NAME_DESC as SORT_NAME_DESC  # orders from here
from photoscribe.core.library.filters import SORT_TAKEN_OLDEST as SORT_TAKEN_OLDEST
from photoscribe.core.library.hybrid import MeaningSearch, count_hybrid, hybrid_search
from photoscribe.core.library.schema import utcnow
from photoscribe.core.library.search import search
from photoscribe.core.progress import check_cancel

PAGE_SIZE = 500
# A text query's result count stops here (see count_rows).
COUNT_LIMIT = 1_000
RECENT_DAYS = 30
# The grid's tooltip and accessible text of a low-confidence caption.
LOW_CONFIDENCE_NOTE = "Low confidence {:.2f}: " + LOW_CONFIDENCE_ADVICE
MEANING_MARK = "≈ "  # before the snippet of a photo found by meaning only (no word of the query in it)
# Highlight markers asked of the search: control characters, so that no caption text can fake them.
_MARK_START, _MARK_END = "\x02", "\x03"

# Filters (sidebar smart collections); the sort orders are core's (core/library/filters.py).
FILTER_ALL = "all"
FILTER_UNCAPTIONED = "uncaptioned"
FILTER_NEEDS_REVIEW = "needs_review"
FILTER_RECENT = "recent"


@dataclass(frozen=True)
class PhotoQuery:
    """What the grid shows: search text, a smart-collection filter, a folder id and an order."""

    text: str = ""
    filter: str = FILTER_ALL
    folder: int | None = None
    sort: str = SORT_TAKEN  # one of core's BROWSE_SORTS or SORT_RELEVANCE

    @property
    def has_text(self) -> bool:
        return bool(self.text.strip())


@dataclass(frozen=True)
class PhotoRow:
    """The display data of one grid cell (immutable, built on a worker thread)."""

    photo_id: int
    path: str
    name: str
    caption: str
    source: str
    reviewed: bool
    when: datetime | None
    snippet: str  # plain text
    highlights: tuple[tuple[int, int], ...]  # (start, length) in ``snippet``
    by_meaning: bool = False  # found by meaning: no word of the query is in its captions
    confidence: float | None = None  # of the best caption (a model's), None when unknown
    keywords: tuple[str, ...] = ()

    @property
    def low_confidence(self) -> bool:
        """An unreviewed model caption the model is not confident about: the grid marks it."""
        return bool(self.caption) and not self.reviewed and is_low(self.confidence)

    @property
    def alt_text(self) -> str:
        """The caption cut to alt-text length (as exported), or "" when uncaptioned."""
        return split_alt_text(self.caption)[0] if self.caption else ""

    @property
    def snippet_html(self) -> str:
        out, pos = [], 0
        for start, length in self.highlights:
            out.append(html.escape(self.snippet[pos:start]))
            out.append("<b>" + html.escape(self.snippet[start : start + length]) + "</b>")
            pos = start + length
        out.append(html.escape(self.snippet[pos:]))
        return "".join(out)

    @property
    def tooltip(self) -> str:
        lines = [self.caption or "No caption yet", self.path]
        if self.when is not None:
            lines.append(self.when.strftime("%Y-%m-%d %H:%M"))
        if self.caption:
            lines.append("Reviewed" if self.reviewed else "Needs review")
        if self.low_confidence:
            lines.append(LOW_CONFIDENCE_NOTE.format(self.confidence))
        if self.keywords:
            lines.append("Keywords: " + ", ".join(self.keywords))
        if self.by_meaning:
            lines.append("≈ Found by meaning: the caption does not contain the words searched")
        return "\n".join(lines)


@dataclass(frozen=True)
class Page:
    rows: list[PhotoRow]
    next_offset: int
    exhausted: bool


def parse_highlights(marked: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Strip the search's highlight markers; return the plain text and the highlighted ranges."""
    plain: list[str] = []
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    length = 0
    for ch in marked.replace("\n", " "):
        if ch == _MARK_START:
            start = length
        elif ch == _MARK_END:
            if start is not None and length > start:
                ranges.append((start, length - start))
            start = None
        else:
            plain.append(ch)
            length += 1
    return "".join(plain), tuple(ranges)


def row_from_hit(hit: SearchHit, *, highlighted: bool) -> PhotoRow:
    caption = hit.caption
    text = caption.text if caption is not None else ""
    if highlighted and hit.snippet:
        snippet, ranges = parse_highlights(hit.snippet)
    else:
        snippet, ranges = (text or hit.photo.name), ()
    if hit.by_meaning:
        snippet = MEANING_MARK + (hit.snippet or snippet)
    return PhotoRow(
        photo_id=hit.photo.id,
        path=hit.photo.path,
        name=hit.photo.name,
        caption=text,
        source=caption.source if caption is not None else "",
        reviewed=bool(caption is not None and caption.preferred),
        when=hit.photo.taken_at or hit.photo.added_at,
        snippet=snippet,
        highlights=ranges,
        by_meaning=hit.by_meaning,
        confidence=caption.confidence if caption is not None else None,
        keywords=hit.keywords,
    )


def _recent_since() -> datetime:
    return utcnow() - timedelta(days=RECENT_DAYS)


def fetch_page(
    library: Library,
    query: PhotoQuery,
    offset: int,
    limit: int = PAGE_SIZE,
    *,
    on_progress: Any = None,
    cancel: threading.Event | None = None,
    meaning_search: MeaningSearch | None = None,
) -> Page:
    """One page of the grid for ``query`` starting at ``offset`` (runs on a worker thread).

    Text is searched by relevance; without text photos are browsed in the chosen order
    (date taken, date added or name, either way round; "Recently added" by date added).
    With ``meaning_search`` (meaning search ready), text is searched by words and by meaning
    (:func:`~photoscribe.core.library.hybrid.hybrid_search`).
    """
    check_cancel(cancel)
    sort: SortOrder
    if query.has_text:
        sort = SORT_RELEVANCE
    elif query.filter == FILTER_RECENT and query.sort not in (SORT_ADDED, SORT_ADDED_OLDEST):
        sort = SORT_ADDED  # "Recently added" is about when photos came in
    else:
        sort = cast(SortOrder, query.sort) if query.sort in BROWSE_SORTS else SORT_TAKEN
    if meaning_search is not None and query.has_text:
        hits = hybrid_search(
            library,
            query.text,
            meaning_search,
            filters=search_filters(query),
            limit=limit,
            offset=offset,
            highlight=(_MARK_START, _MARK_END),
        )
    else:
        hits = search(
            library,
            query.text,
            search_filters(query),
            sort=sort,
            least_confident_first=query.filter == FILTER_NEEDS_REVIEW,
            limit=limit,
            offset=offset,
            highlight=(_MARK_START, _MARK_END),
        )
    rows = [row_from_hit(h, highlighted=query.has_text) for h in hits]
    return Page(rows, offset + len(hits), len(hits) < limit)


def count_rows(
    library: Library, query: PhotoQuery, meaning_search: MeaningSearch | None = None, **_progress: Any
) -> int:
    """How many photos the grid shows for ``query`` in all (runs on a worker thread).

    A text query's word matches are counted up to ``COUNT_LIMIT + 1`` only (it runs on every
    keystroke, and counting every match of a common word at a million photos takes a scan of the
    whole index); :func:`count_label` says "More than ..." for that. Matches by meaning only are
    added when meaning search is on (:func:`~photoscribe.core.library.hybrid.count_hybrid`).
    """
    limit = COUNT_LIMIT + 1 if query.has_text else None
    return count_hybrid(library, query.text, meaning_search, search_filters(query), limit=limit)


def search_filters(query: PhotoQuery) -> SearchFilters:
    """The library search filters behind a grid query (the same for its pages, its count and its export)."""
    return SearchFilters(
        folder=query.folder,
        uncaptioned=query.filter == FILTER_UNCAPTIONED,
        needs_review=query.filter == FILTER_NEEDS_REVIEW,
        added_since=_recent_since() if query.filter == FILTER_RECENT else None,
    )


def export_scope(query: PhotoQuery, selection: Sequence[int] = ()) -> ExportScope:
    """What "Export" covers: the selected photos, else what the grid shows for ``query``
    (its words, folder and collection; matches by meaning only are not included)."""
    if selection:
        return ExportScope(photo_ids=tuple(selection))
    filters = search_filters(query)
    return ExportScope(
        query=query.text,
        folder=filters.folder,
        needs_review=filters.needs_review,
        uncaptioned=filters.uncaptioned,
        added_since=filters.added_since,
    )


def count_label(count: int, *, text_query: bool = False) -> str:
    """ "1 photo", "1,204 photos", "No photos"; "More than 1,000 photos" for a text query's capped count."""
    if count == 0:
        return "No photos"
    if text_query and count > COUNT_LIMIT:
        return f"More than {COUNT_LIMIT:,} photos"
    return f"{count:,} photo{'' if count == 1 else 's'}"


def load_rows(library: Library, photo_ids: Sequence[int]) -> dict[int, PhotoRow]:
    """Fresh display data for some photos (after a caption changed); unknown ids are left out."""
    infos = library.get_photos(photo_ids)
    captions = library.best_captions([p.id for p in infos])
    keywords = library.keywords_by_photo([p.id for p in infos])
    rows = {}
    for info in infos:
        caption = captions.get(info.id)
        words = tuple(k.word for k in keywords.get(info.id, []))
        hit = SearchHit(info, caption, caption.text if caption else "", 0.0, keywords=words)
        rows[info.id] = row_from_hit(hit, highlighted=False)
    return rows


KIND_FOLDER = "folder"
SMART_COLLECTIONS = (
    (FILTER_ALL, "All photos"),
    (FILTER_UNCAPTIONED, "Uncaptioned"),
    (FILTER_NEEDS_REVIEW, "Needs review"),
    (FILTER_RECENT, "Recently added"),
)


@dataclass(frozen=True)
class SidebarEntry:
    kind: str
    label: str
    count: int | None = None
    folder_id: int | None = None
    path: str | None = None

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.kind, self.folder_id)


def _folder_label(path: str) -> str:
    return os.path.basename(path.rstrip("/\\")) or path


def load_sidebar(library: Library, **_progress: Any) -> list[SidebarEntry]:
    """The sidebar's entries with their counts (runs on a worker thread)."""
    stats = library.stats()
    folders = library.list_folders()
    recent = library.count_added_since(_recent_since())
    per_folder = library.folder_counts()
    counts = {
        FILTER_ALL: stats.photos,
        FILTER_UNCAPTIONED: stats.uncaptioned,
        FILTER_NEEDS_REVIEW: stats.needs_review,
        FILTER_RECENT: recent,
    }
    entries = [SidebarEntry(kind, label, counts[kind]) for kind, label in SMART_COLLECTIONS]
    for folder in sorted(folders, key=lambda f: (f.path.lower(), f.id)):
        entries.append(
            SidebarEntry(
                KIND_FOLDER, _folder_label(folder.path), per_folder.get(folder.id, 0), folder.id, folder.path
            )
        )
    return entries
