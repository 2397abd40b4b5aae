"""Full-text caption search over the FTS5 index ``captions_fts``.

The index (created by migration 0001) has one row per photo, ``rowid`` =
``photos.id``, and three columns, tokenised ``porter unicode61`` with prefix
indexes for 2 and 3 characters:

* ``user_text``: the caption a person wrote or reviewed that the photo shows (bm25 weight 10),
* ``model_text``: the model caption the photo shows, when it shows no person's caption: the active
  model's, else the newest (migration 0006: other captions are kept but not searched) (weight 1),
* ``name``: the file name, so ``IMG_1234`` finds the file (weight 1),
* ``keywords``: the photo's keywords that nobody removed (migration 0004; weight 2).

A keyword match counts like a caption match: "bus" finds a photo whose keywords say bus
although its caption does not. The keywords column weighs twice a model caption because
the classifier's words are what the photo shows (issue 18: captions invent objects) and
the column is short, and a fifth of a person's caption, whose words always rank first.
A photo found by a keyword alone shows its caption, then the matched keywords, as its
snippet (:func:`keyword_snippet`).

Triggers on ``photos``, ``captions`` and ``keywords`` rebuild a photo's row whenever a
caption, a keyword or the file name changes. User input never reaches FTS5 syntax:
:func:`build_match_query` turns any text into quoted strings joined by AND.
Limitation: ``unicode61`` does not segment Chinese or Japanese, so a run of
CJK characters is one token and is found by its start (prefix), not by a
word in its middle.

Speed (a search runs on every keystroke, at up to millions of photos): a text
query in relevance order is ranked on the index alone (bm25 only when few
photos match, else newest first, see :func:`search`), and only the page's rows
are then read, with raw SQL on the pooled connection's DBAPI cursor; result
counts can stop at a limit (:func:`count_matches`). Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    column,
    false,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.elements import ColumnClause

from photoscribe.core.errors import LibraryError
from photoscribe.core.library.captions import best_captions
from photoscribe.core.library.filters import (
    SORT_RELEVANCE,
    SORTS,
    FilterArgs,
    SearchFilters,
    SortOrder,
    browse_order,
)
from photoscribe.core.library.keywords import keyword_snippet, keywords_by_photo, keywords_of
from photoscribe.core.library.query_parser import ParsedQuery, build_match_query, parse_query
from photoscribe.core.library.records import CAPTION_COLUMNS, PHOTO_COLUMNS, CaptionInfo, PhotoInfo, SearchHit
from photoscribe.core.library.schema import ACTIVE_MODEL_KEY, Caption, Photo, PhotoStatus

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's from Python 3.11; only type checkers read it

    from photoscribe.core.library.database import Library

log = logging.getLogger(__name__)

FTS_TABLE = "captions_fts"
FTS_ROWS_VIEW = "captions_fts_rows"  # each photo's row of the index, as the triggers write it (0006)
USER_WEIGHT = 10.0
MODEL_WEIGHT = 1.0
NAME_WEIGHT = 1.0
KEYWORD_WEIGHT = 2.0
# Relevance is bm25 for queries matching at most BM25_MAX_MATCHES photos, and newest first beyond
# (see search()). FTS5's bm25 costs ~5-10 us a match plus a pass over each word's whole list of
# rows; in a library of more than BM25_SMALL_LIBRARY photos those lists are long, and the limit is
# BM25_MAX_MATCHES_LARGE. Figures in docs/benchmarks.md.
BM25_MAX_MATCHES = 1_000
BM25_SMALL_LIBRARY = 100_000
BM25_MAX_MATCHES_LARGE = 100

_fts = table(FTS_TABLE, column("rowid"))
_fts_ref: ColumnClause[Any] = literal_column(FTS_TABLE)


def _as_typed(library: Library, query: str) -> str:
    """``query``, with a trailing space when its last word is already a whole indexed word.

    The last word of a query is searched as a prefix while it is being typed ("bic" finds
    bicycle). A word that is already whole is matched as typed: the porter stemmer would make
    "bus"* the prefix "bu"* (buffalo, building, bunch: every word starting with bu). A ``*``
    the person typed (``bus*``) stays a prefix. Search, count and export all read a query
    through this, so they agree.
    """
    parsed = parse_query(query)
    last = parsed.include[-1] if parsed.include else ""
    if last.endswith("*") and _is_whole_word(library, last[:-1]):
        return f"{query} "
    return query


def _is_whole_word(library: Library, quoted: str) -> bool:
    """Whether the quoted term (``"bus"``) matches as a whole word anywhere in the index."""
    try:
        with library.session() as session:
            row = session.execute(
                text("SELECT 1 FROM captions_fts WHERE captions_fts MATCH :q LIMIT 1"), {"q": quoted}
            ).first()
    except (OperationalError, sqlite3.Error):
        return False
    return row is not None


def search(
    library: Library,
    query: str,
    filters: SearchFilters | None = None,
    *,
    sort: SortOrder | None = None,
    limit: int = 100,
    offset: int = 0,
    highlight: tuple[str, str] = ("[", "]"),
    ellipsis: str = "…",
    snippet_tokens: int = 12,
    least_confident_first: bool = False,
    **narrow: Unpack[FilterArgs],
) -> list[SearchHit]:
    """Photos whose captions, keywords or file name match ``query``, best first; browse when it is empty.

    Args:
        query: anything a user types (see :func:`parse_query`).
        filters: which photos may be found (:class:`~photoscribe.core.library.filters.SearchFilters`);
            its fields may also be given as keyword arguments (``folder=...``, ``needs_review=True``).
        sort: ``"relevance"`` (the default with a query), ``"taken"`` (newest taken
            first, the default without one), ``"added"`` (newest added first), those two
            oldest first (``"taken-oldest"``, ``"added-oldest"``), or by file name
            (``"name"`` A to Z, ``"name-desc"``), case-insensitively.
        least_confident_first: without a query, photos whose unreviewed model captions have the
            lowest confidence come first (unknown confidence last), then ``sort``'s order
            ("Needs review" lists what most needs checking first).
        highlight: markers put around matched words in ``SearchHit.snippet``. The
            snippet is plain text: escape it before putting it in HTML, e.g. by
            choosing control characters as markers and replacing them after escaping.

    Relevance: bm25 with a person's captions weighted 10 when the words match at
    most :data:`BM25_MAX_MATCHES` photos (:data:`BM25_MAX_MATCHES_LARGE` in a
    library of more than :data:`BM25_SMALL_LIBRARY`). A broader query (a word in
    a large share of the library) lists the photos added last first, as photo
    apps list a broad query: FTS5 computes bm25 for every match before it can
    keep the best 50, which at a million photos takes up to half a second (see
    docs/benchmarks.md). ``rank`` is bm25 in the first case and 0.0 in the second.

    Without a query ``snippet`` is the best caption and ``rank`` is 0.0.

    Raises:
        LibraryError: ``sort`` is unknown, or the database could not run the search.
    """
    if sort is not None and sort not in SORTS:
        raise LibraryError(f"unknown sort {sort!r}; choose one of: {', '.join(SORTS)}")
    filters = SearchFilters.of(filters, **narrow)
    limit = max(0, min(int(limit), 10_000))
    if _nothing_searchable(query):
        return []  # "*", "🙂" or "?!": no words, so no matches (not the whole library)
    query = _as_typed(library, query)
    parsed = parse_query(query)
    if parsed.include and (sort or "relevance") == "relevance":
        # The hot path (every keystroke): raw prepared SQL, nothing built per call but the text.
        marks = (highlight[0], highlight[1], ellipsis, max(1, min(int(snippet_tokens), 64)))
        try:
            return _ranked(library, parsed, filters, limit, max(0, int(offset)), marks)
        except sqlite3.Error as exc:
            raise LibraryError(f"search for {query!r} failed: {exc}") from exc
    stmt, match = _statement(
        query,
        filters,
        sort=sort,
        highlight=highlight,
        ellipsis=ellipsis,
        snippet_tokens=snippet_tokens,
        least_confident_first=least_confident_first,
    )
    stmt = stmt.limit(limit).offset(max(0, int(offset)))
    return _hits_of(library, query, stmt, match, (highlight[0], highlight[1], ellipsis))


def _hits_of(
    library: Library, query: str, stmt: Any, match: str | None, marks: tuple[str, str, str]
) -> list[SearchHit]:
    """Run a :func:`_statement` (paged): its photos with their best captions, keywords and snippets."""
    try:
        with library.session() as session:
            rows = session.execute(stmt).all()
            photos = [PhotoInfo.from_orm(row[0]) for row in rows]
            captions = best_captions(session, [p.id for p in photos])
            keywords = keywords_by_photo(session, [p.id for p in photos])
    except OperationalError as exc:
        raise LibraryError(f"search for {query!r} failed: {exc.orig}") from exc
    hits: list[SearchHit] = []
    for row, photo in zip(rows, photos, strict=True):
        caption = captions.get(photo.id)
        words = [k.word for k in keywords.get(photo.id, [])]
        if match is not None:
            hits.append(_hit(photo, caption, row.match_snippet or "", float(row.bm25_rank), words, marks))
        else:
            hits.append(
                SearchHit(photo, caption, caption.text if caption else "", 0.0, keywords=tuple(words))
            )
    return hits


def _statement(
    query: str,
    filters: SearchFilters,
    *,
    sort: SortOrder | None,
    highlight: tuple[str, str] = ("[", "]"),
    ellipsis: str = "…",
    snippet_tokens: int = 12,
    least_confident_first: bool = False,
) -> tuple[Any, str | None]:
    """The SELECT behind :func:`search` (ordered, not paged) and its FTS MATCH expression."""
    parsed = parse_query(query)
    match = build_match_query(query)
    clause = filters.clause()
    clauses = [] if clause is None else [clause]
    if match is not None:
        rank = func.bm25(_fts_ref, USER_WEIGHT, MODEL_WEIGHT, NAME_WEIGHT, KEYWORD_WEIGHT).label("bm25_rank")
        snippet = func.snippet(
            _fts_ref, -1, highlight[0], highlight[1], ellipsis, max(1, min(int(snippet_tokens), 64))
        ).label("match_snippet")
        stmt = (
            select(Photo, rank, snippet)
            .join(_fts, _fts.c.rowid == Photo.id)
            .where(_fts_ref.op("MATCH")(match), *clauses)
            .order_by(*((rank, Photo.id) if sort in (None, SORT_RELEVANCE) else browse_order(sort)))
        )
    else:
        stmt = select(Photo).where(*clauses)
        if parsed.exclude:
            excluded = select(_fts.c.rowid).where(_fts_ref.op("MATCH")(" OR ".join(parsed.exclude)))
            stmt = stmt.where(Photo.id.not_in(excluded))
        first: tuple[Any, ...] = ()
        if least_confident_first:
            lowest = (
                select(func.min(Caption.confidence))
                .where(Caption.photo_id == Photo.id, ~or_(Caption.is_user, Caption.reviewed))
                .correlate(Photo)
                .scalar_subquery()
            )
            first = (lowest.is_(None), lowest.asc())
        stmt = stmt.order_by(*first, *browse_order(sort))
    return stmt, match


def _nothing_searchable(query: object) -> bool:
    """Text was typed but it holds no word to search for (only symbols, emoji, operators)."""
    if not isinstance(query, str) or not query.strip():
        return False
    parsed = parse_query(query)
    return not parsed.include and not parsed.exclude


@contextmanager
def _read_cursor(library: Library) -> Iterator[sqlite3.Cursor]:
    """A DBAPI cursor in one read transaction on a pooled connection (statements stay prepared there)."""
    with library.engine.connect() as conn, conn.begin():
        driver = conn.connection.driver_connection
        assert driver is not None  # a pooled connection in use always has its DBAPI connection
        cursor = driver.cursor()
        try:
            yield cursor
        finally:
            cursor.close()


_BM25 = f"bm25({FTS_TABLE}, {USER_WEIGHT}, {MODEL_WEIGHT}, {NAME_WEIGHT}, {KEYWORD_WEIGHT})"
_SNIPPET = f"snippet({FTS_TABLE}, -1, ?, ?, ?, ?)"
_MATCHING = f"FROM {FTS_TABLE} JOIN photos ON photos.id = {FTS_TABLE}.rowid WHERE {FTS_TABLE} MATCH ?"


def _matches_at_most(cursor: sqlite3.Cursor, match: str, cap: int) -> int:
    """How many rows of the index match, counting no further than ``cap`` (no filters: an upper bound)."""
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ? LIMIT ?)"
    return int(cursor.execute(sql, (match, cap)).fetchone()[0])


_Row = tuple[int, float, str]  # photo id, rank, snippet


def _matching_where(filters: SearchFilters) -> tuple[str, list[Any]]:
    """``_MATCHING``'s conditions after the MATCH (`` AND ...``, possibly empty) and their arguments."""
    where, args = filters.where(rowid=f"{FTS_TABLE}.rowid")
    return (f" AND {where}" if where else ""), args


def _ranked(
    library: Library,
    parsed: ParsedQuery,
    filters: SearchFilters,
    limit: int,
    offset: int,
    marks: tuple[str, str, str, int],
) -> list[SearchHit]:
    """One page of a text query in relevance order: rank on the index, then load only the page's rows."""
    match = "(" + " AND ".join(parsed.include) + ")"
    if parsed.exclude:
        match += f" NOT ({' OR '.join(parsed.exclude)})"
    where, args = _matching_where(filters)
    with _read_cursor(library) as cursor:
        largest_id = cursor.execute(f"SELECT max(rowid) FROM {FTS_TABLE}").fetchone()[0] or 0
        bm25_limit = BM25_MAX_MATCHES if largest_id <= BM25_SMALL_LIBRARY else BM25_MAX_MATCHES_LARGE
        # Broad (more matches): bm25 would score every match first; the newest photos are found without that.
        by_bm25 = _matches_at_most(cursor, match, bm25_limit + 1) <= bm25_limit
        page = _page(cursor, match, (where, args), (limit, offset), marks, by_bm25=by_bm25)
        ids = [row[0] for row in page]
        photos = _photos(cursor, ids)
        captions = _best_captions(cursor, ids)
        keywords = keywords_of(cursor, ids)
    return [
        _hit(
            photos[rowid],
            captions.get(rowid),
            snippet or "",
            float(score),
            keywords.get(rowid, ()),
            marks[:3],
        )
        for rowid, score, snippet in page
        if rowid in photos
    ]


def _hit(
    photo: PhotoInfo,
    caption: CaptionInfo | None,
    snippet: str,
    rank: float,
    keywords: Sequence[str],
    marks: Sequence[str] = ("[", "]", "…"),
) -> SearchHit:
    shown = keyword_snippet(snippet, caption, keywords, marks)
    return SearchHit(photo, caption, shown, rank, keywords=tuple(keywords))


def _page(
    cursor: sqlite3.Cursor,
    match: str,
    where: tuple[str, list[Any]],
    page: tuple[int, int],
    marks: tuple[str, str, str, int],
    *,
    by_bm25: bool,
) -> list[_Row]:
    """One page (``(limit, offset)``) of the matches: by bm25 (photo id and score of every match,
    then snippets for the page's rows), or newest first (the index walks its rows by descending id
    and stops after the page)."""
    condition, args = where
    if by_bm25:
        sql = (
            f"SELECT {FTS_TABLE}.rowid, {_BM25} AS score {_MATCHING}{condition} "
            f"ORDER BY score, {FTS_TABLE}.rowid LIMIT ? OFFSET ?"
        )
        ranked = cursor.execute(sql, [match, *args, *page]).fetchall()
        snippets = _snippets(cursor, match, [row[0] for row in ranked], marks)
        return [(rowid, score, snippets.get(rowid, "")) for rowid, score in ranked]
    sql = (
        f"SELECT {FTS_TABLE}.rowid, 0.0, {_SNIPPET} {_MATCHING}{condition} "
        f"ORDER BY {FTS_TABLE}.rowid DESC LIMIT ? OFFSET ?"
    )
    rows = cursor.execute(sql, [*marks, match, *args, *page])
    return [(int(rowid), float(rank), str(snippet or "")) for rowid, rank, snippet in rows]


def _snippets(
    cursor: sqlite3.Cursor, match: str, ids: Sequence[int], marks: tuple[str, str, str, int]
) -> dict[int, str]:
    if not ids:
        return {}
    sql = (
        f"SELECT rowid, {_SNIPPET} FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ? "
        f"AND rowid BETWEEN ? AND ? AND rowid IN (SELECT value FROM json_each(?))"
    )
    rows = cursor.execute(sql, [*marks, match, min(ids), max(ids), json.dumps(list(ids))])
    return {int(rowid): str(text or "") for rowid, text in rows}


def _photos(cursor: sqlite3.Cursor, ids: Sequence[int]) -> dict[int, PhotoInfo]:
    if not ids:
        return {}
    sql = f"SELECT {PHOTO_COLUMNS} FROM photos WHERE id IN (SELECT value FROM json_each(?))"
    return {int(row[0]): PhotoInfo.from_row(row) for row in cursor.execute(sql, (json.dumps(list(ids)),))}


def _best_captions(cursor: sqlite3.Cursor, ids: Sequence[int]) -> dict[int, CaptionInfo]:
    """photo id -> best caption, in the order of ``captions.BEST_CAPTION_ORDER``."""
    if not ids:
        return {}
    sql = (
        f"SELECT {CAPTION_COLUMNS} FROM captions WHERE photo_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY photo_id, (is_user OR reviewed) DESC, "
        f"coalesce(source = (SELECT value FROM library_state WHERE key = '{ACTIVE_MODEL_KEY}'), 0) DESC, "
        "created_at DESC, id DESC"
    )
    best: dict[int, CaptionInfo] = {}
    for row in cursor.execute(sql, (json.dumps(list(ids)),)):
        if row[1] not in best:
            best[int(row[1])] = CaptionInfo.from_row(row)
    return best


def _any_missing(cursor: sqlite3.Cursor) -> bool:
    sql = f"SELECT EXISTS (SELECT 1 FROM photos WHERE status = '{PhotoStatus.MISSING.value}')"  # ix_photos_status
    return bool(cursor.execute(sql).fetchone()[0])


def count_matches(
    library: Library,
    query: str,
    filters: SearchFilters | None = None,
    *,
    limit: int | None = None,
    **narrow: Unpack[FilterArgs],
) -> int:
    """How many photos :func:`search` would return for these arguments without a limit.

    ``limit`` stops counting there (the answer is then ``min(count, limit)``): a text
    query is counted on the full-text index, row by row, so a count capped at a
    few thousand stays fast while the user types whatever the library's size.

    Raises:
        LibraryError: the database could not run the count.
    """
    if _nothing_searchable(query):
        return 0
    filters = SearchFilters.of(filters, **narrow)
    cap = -1 if limit is None else max(0, int(limit))  # LIMIT -1: no limit
    query = _as_typed(library, query)
    match = build_match_query(query)
    if match is not None:
        where, args = _matching_where(filters)
        try:
            with _read_cursor(library) as cursor:
                if not filters.narrows and (filters.include_missing or not _any_missing(cursor)):
                    # No filter to apply: count on the index alone, without a lookup per match.
                    return _matches_at_most(cursor, match, cap)
                sql = f"SELECT count(*) FROM (SELECT 1 {_MATCHING}{where} LIMIT ?)"
                return int(cursor.execute(sql, [match, *args, cap]).fetchone()[0])
        except sqlite3.Error as exc:
            raise LibraryError(f"counting matches of {query!r} failed: {exc}") from exc
    inner = matching_ids(library, query, filters)
    if limit is not None:
        inner = inner.limit(cap)
    counted = select(func.count()).select_from(inner.subquery())
    try:
        with library.session() as session:
            return int(session.scalar(counted) or 0)
    except OperationalError as exc:
        raise LibraryError(f"counting matches of {query!r} failed: {exc.orig}") from exc


def matching_ids(
    library: Library, query: str, filters: SearchFilters | None = None, **narrow: Unpack[FilterArgs]
) -> Any:
    """A ``SELECT photos.id`` of every photo :func:`search` finds for these arguments (no limit),
    to use as ``Photo.id.in_(...)``: an export of "this search" exports what the grid shows.

    The last word is a prefix, as in :func:`search`; symbols alone match nothing.
    """
    if _nothing_searchable(query):
        return select(Photo.id).where(false())
    query = _as_typed(library, query)
    stmt, _ = _statement(query, SearchFilters.of(filters, **narrow), sort=None)
    return stmt.order_by(None).with_only_columns(Photo.id)
