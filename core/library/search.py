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
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from sqlalchemy import (
    String,
    column,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    type_coerce,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.elements import ColumnClause

from photoscribe.core.errors import LibraryError
from photoscribe.core.library.captions import best_captions
from photoscribe.core.library.keywords import keyword_snippet, keywords_by_photo, keywords_of
from photoscribe.core.library.photos import FolderRef, _dir_prefix, filter_folder, normalize_path
from photoscribe.core.library.records import CAPTION_COLUMNS, PHOTO_COLUMNS, CaptionInfo, PhotoInfo, SearchHit
from photoscribe.core.library.schema import ACTIVE_MODEL_KEY, Caption, Photo, PhotoStatus

if TYPE_CHECKING:
    from photoscribe.core.library.database import Library

log = logging.getLogger(__name__)

FTS_TABLE = "captions_fts"
FTS_ROWS_VIEW = "captions_fts_rows"  # each photo's row of the index, as the triggers write it (0006)
USER_WEIGHT = 10.0
MODEL_WEIGHT = 1.0
NAME_WEIGHT = 1.0
KEYWORD_WEIGHT = 2.0
SortOrder = Literal["relevance", "taken", "taken-oldest", "added", "added-oldest", "name", "name-desc"]
SORTS = (None, "relevance", "taken", "taken-oldest", "added", "added-oldest", "name", "name-desc")
MAX_QUERY_CHARS = 1_000
MAX_TERMS = 16
MAX_TERM_CHARS = 64
# Relevance is bm25 for queries matching at most BM25_MAX_MATCHES photos, and newest first beyond
# (see search()). FTS5's bm25 costs ~5-10 us a match plus a pass over each word's whole list of
# rows; in a library of more than BM25_SMALL_LIBRARY photos those lists are long, and the limit is
# BM25_MAX_MATCHES_LARGE. Figures in docs/benchmarks.md.
BM25_MAX_MATCHES = 1_000
BM25_SMALL_LIBRARY = 100_000
BM25_MAX_MATCHES_LARGE = 100
# Dropped from queries (unless nothing else is left): "man on bike" must find "a man riding a bike".
STOPWORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it",
        "of", "on", "or", "that", "the", "their", "there", "these", "this", "to", "was", "were", "with",
    }
)  # fmt: skip
_JOINERS = frozenset("-'’.")  # kept inside a word: t-shirt, dog's, 3.5 (FTS5 matches them as phrases)

_PRESENT = f"photos.status != '{PhotoStatus.MISSING.value}'"  # raw SQL: the photo's file is there
_fts = table(FTS_TABLE, column("rowid"))
_fts_ref: ColumnClause[Any] = literal_column(FTS_TABLE)


@dataclass(frozen=True)
class ParsedQuery:
    """User input reduced to FTS5 phrases (already quoted): all of ``include``, none of ``exclude``."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]


class _Term(NamedTuple):
    text: str
    negated: bool
    bare: bool  # a single word, not a "quoted phrase"
    starred: bool = False  # typed with a * right after it: a prefix, whatever its length


def _is_token_char(ch: str) -> bool:
    # Letters, marks (needed by Indic scripts, combining accents), numbers, private use: as unicode61.
    category = unicodedata.category(ch)
    return category[0] in "LMN" or category == "Co"


def _quote(phrase: str) -> str:
    return '"' + phrase.replace('"', '""') + '"'


def _read_word(text: str, i: int) -> tuple[str, int]:
    """The word starting at ``text[i]`` (a token char) and the index after it."""
    start = i
    n = len(text)
    while i < n:
        inner_joiner = i > start and text[i] in _JOINERS and i + 1 < n and _is_token_char(text[i + 1])
        if not (_is_token_char(text[i]) or inner_joiner):
            break
        i += 1
    return text[start:i][:MAX_TERM_CHARS], i


def _words(text: str) -> list[str]:
    words: list[str] = []
    i = 0
    while i < len(text):
        if _is_token_char(text[i]):
            word, i = _read_word(text, i)
            words.append(word)
        else:
            i += 1
    return words


def parse_query(user_text: object) -> ParsedQuery:
    """Split search-box text into words, ``"quoted phrases"`` and ``-excluded`` terms. Never raises.

    Everything that is not a letter, digit or mark separates words, so FTS5
    operators, column filters, ``*``, ``^``, brackets and unbalanced quotes
    typed by the user are plain text. The last word gets a prefix ``*``
    (search as you type) unless the input ends with a space. A word typed with a ``*`` right
    after it (``d*``, ``bic* red``) is a prefix wherever it is and however short: the person
    asked for one.
    """
    if not isinstance(user_text, str):
        return ParsedQuery((), ())
    raw = unicodedata.normalize("NFC", user_text[:MAX_QUERY_CHARS])
    items: list[_Term] = []
    i, n = 0, len(raw)
    negate = False
    while i < n and len(items) < MAX_TERMS:
        ch = raw[i]
        if _is_token_char(ch):
            word, i = _read_word(raw, i)
            starred = raw[i : i + 1] == "*"
            items.append(_Term(word, negate, True, starred))
            negate = False
        elif ch == '"' and (end := raw.find('"', i + 1)) != -1:
            phrase = " ".join(_words(raw[i + 1 : end])[:MAX_TERMS])
            if phrase:
                items.append(_Term(phrase, negate, False))
            negate = False
            i = end + 1
        else:
            at_word_start = i == 0 or raw[i - 1].isspace()
            negate = (
                ch == "-"
                and at_word_start
                and i + 1 < n
                and (raw[i + 1] == '"' or _is_token_char(raw[i + 1]))
            )
            i += 1
    if not items:
        return ParsedQuery((), ())
    last = len(items) - 1
    prefix_last = items[last].bare and not items[last].negated and not raw[-1:].isspace()
    if prefix_last and len(items[last].text) == 1 and items[last].text.isascii():
        # One letter typed: "b"* would merge the lists of every word starting with b (a third of a
        # large library). It is matched as a whole word until the next letter arrives.
        prefix_last = False

    def droppable(index: int, term: _Term) -> bool:
        is_stopword = term.bare and not term.negated and not term.starred and term.text.lower() in STOPWORDS
        return is_stopword and not (prefix_last and index == last)  # the word being typed stays

    kept = [term for index, term in enumerate(items) if not droppable(index, term)]
    if any(not term.negated for term in kept):
        items = kept
    include: list[str] = []
    exclude: list[str] = []
    for index, term in enumerate(items):
        if term.negated:
            exclude.append(_quote(term.text) + ("*" if term.starred else ""))
        else:
            star = "*" if term.starred or (prefix_last and index == len(items) - 1) else ""
            include.append(_quote(term.text) + star)
    return ParsedQuery(tuple(include), tuple(dict.fromkeys(exclude)))


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


def build_match_query(user_text: object) -> str | None:
    """A safe FTS5 MATCH expression for any user input, or ``None`` when nothing is searchable.

    >>> build_match_query('red "sports car" -truck bic')
    '("red" AND "sports car" AND "bic"*) NOT ("truck")'

    Input with only excluded terms gives ``None`` here; :func:`search` handles
    it as "everything except". Never raises.
    """
    parsed = parse_query(user_text)
    if not parsed.include:
        return None
    query = "(" + " AND ".join(parsed.include) + ")"
    if parsed.exclude:
        query += " NOT (" + " OR ".join(parsed.exclude) + ")"
    return query


def _day_start(value: date | datetime) -> str:
    moment = value if isinstance(value, datetime) else datetime.combine(value, time.min)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _date_taken() -> Any:
    """When a photo was taken: EXIF date, else the file time, as text comparable with our datetimes."""
    return func.coalesce(Photo.taken_at, func.datetime(Photo.mtime, "unixepoch", "localtime"))


def _filters(
    *,
    date_from: date | datetime | None,
    date_to: date | datetime | None,
    added_since: datetime | None,
    uncaptioned: bool,
    needs_review: bool,
    include_missing: bool,
) -> list[Any]:
    clauses: list[Any] = []
    if not include_missing:
        clauses.append(Photo.status != PhotoStatus.MISSING)
    # "YYYY-MM-DD HH:MM:SS[.ffffff]" text on both sides, so compare strings.
    when = type_coerce(_date_taken(), String)
    if date_from is not None:
        clauses.append(when >= _day_start(date_from))
    if date_to is not None:
        if isinstance(date_to, datetime):
            clauses.append(when <= date_to.strftime("%Y-%m-%d %H:%M:%S.%f"))
        elif date_to >= date.max:
            pass  # up to the end of time: no bound (the day after 9999-12-31 does not exist)
        else:
            clauses.append(when < _day_start(date_to + timedelta(days=1)))
    if added_since is not None:
        clauses.append(Photo.added_at >= added_since)
    has_caption = exists().where(Caption.photo_id == Photo.id)
    if uncaptioned:
        clauses.append(~has_caption)
    if needs_review:
        preferred = exists().where(Caption.photo_id == Photo.id, or_(Caption.is_user, Caption.reviewed))
        clauses.append(has_caption)
        clauses.append(~preferred)
    return clauses


def search(
    library: Library,
    query: str,
    *,
    folder: FolderRef | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    uncaptioned: bool = False,
    needs_review: bool = False,
    added_since: datetime | None = None,
    include_missing: bool = False,
    sort: SortOrder | None = None,
    limit: int = 100,
    offset: int = 0,
    highlight: tuple[str, str] = ("[", "]"),
    ellipsis: str = "…",
    snippet_tokens: int = 12,
    least_confident_first: bool = False,
) -> list[SearchHit]:
    """Photos whose captions, keywords or file name match ``query``, best first; browse when it is empty.

    Args:
        query: anything a user types (see :func:`parse_query`).
        folder: a folder id, or a directory path (photos at any depth below it).
        date_from, date_to: inclusive bounds on the date taken (file time when unknown);
            a ``date`` covers the whole day.
        uncaptioned: only photos without any caption.
        needs_review: only photos with model captions that nobody wrote or reviewed.
        added_since: only photos added to the library at or after this (naive UTC) time.
        include_missing: also photos whose file is gone.
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
    if sort not in SORTS:
        raise LibraryError(f"unknown sort {sort!r}; choose one of: {', '.join(str(x) for x in SORTS[1:])}")
    limit = max(0, min(int(limit), 10_000))
    if _nothing_searchable(query):
        return []  # "*", "🙂" or "?!": no words, so no matches (not the whole library)
    query = _as_typed(library, query)
    parsed = parse_query(query)
    if parsed.include and (sort or "relevance") == "relevance":
        # The hot path (every keystroke): raw prepared SQL, nothing built per call but the text.
        where, args = _filter_sql(
            folder=folder,
            date_from=date_from,
            date_to=date_to,
            added_since=added_since,
            uncaptioned=uncaptioned,
            needs_review=needs_review,
            include_missing=include_missing,
        )
        marks = (highlight[0], highlight[1], ellipsis, max(1, min(int(snippet_tokens), 64)))
        try:
            return _ranked(library, parsed, where, args, limit, max(0, int(offset)), marks)
        except sqlite3.Error as exc:
            raise LibraryError(f"search for {query!r} failed: {exc}") from exc
    stmt, match = _statement(
        query,
        folder=folder,
        clauses=_filters(
            date_from=date_from,
            date_to=date_to,
            added_since=added_since,
            uncaptioned=uncaptioned,
            needs_review=needs_review,
            include_missing=include_missing,
        ),
        sort=sort,
        highlight=highlight,
        ellipsis=ellipsis,
        snippet_tokens=snippet_tokens,
        least_confident_first=least_confident_first,
    )
    stmt = stmt.limit(limit).offset(max(0, int(offset)))
    try:
        with library.session() as session:
            rows = session.execute(stmt).all()
            photos = [PhotoInfo.from_orm(row[0]) for row in rows]
            captions = best_captions(session, [p.id for p in photos])
            keywords = keywords_by_photo(session, [p.id for p in photos])
    except OperationalError as exc:
        raise LibraryError(f"search for {query!r} failed: {exc.orig}") from exc
    hits: list[SearchHit] = []
    shown_marks = (highlight[0], highlight[1], ellipsis)
    for row, photo in zip(rows, photos, strict=True):
        caption = captions.get(photo.id)
        words = [k.word for k in keywords.get(photo.id, [])]
        if match is not None:
            hits.append(
                _hit(photo, caption, row.match_snippet or "", float(row.bm25_rank), words, shown_marks)
            )
        else:
            hits.append(
                SearchHit(photo, caption, caption.text if caption else "", 0.0, keywords=tuple(words))
            )
    return hits


def _statement(
    query: str,
    *,
    folder: FolderRef | None,
    clauses: list[Any],
    sort: SortOrder | None,
    highlight: tuple[str, str] = ("[", "]"),
    ellipsis: str = "…",
    snippet_tokens: int = 12,
    least_confident_first: bool = False,
) -> tuple[Any, str | None]:
    """The SELECT behind :func:`search` (ordered, not paged) and its FTS MATCH expression."""
    parsed = parse_query(query)
    match = build_match_query(query)
    by_date: dict[str, tuple[Any, ...]] = {
        "taken": (_date_taken().desc(), Photo.id.desc()),
        "taken-oldest": (_date_taken().asc(), Photo.id.asc()),
        "added": (Photo.added_at.desc(), Photo.id.desc()),
        "added-oldest": (Photo.added_at.asc(), Photo.id.asc()),
        "name": (Photo.name.collate("NOCASE").asc(), Photo.path.asc()),
        "name-desc": (Photo.name.collate("NOCASE").desc(), Photo.path.desc()),
    }
    if match is not None:
        rank = func.bm25(_fts_ref, USER_WEIGHT, MODEL_WEIGHT, NAME_WEIGHT, KEYWORD_WEIGHT).label("bm25_rank")
        snippet = func.snippet(
            _fts_ref, -1, highlight[0], highlight[1], ellipsis, max(1, min(int(snippet_tokens), 64))
        ).label("match_snippet")
        stmt = (
            select(Photo, rank, snippet)
            .join(_fts, _fts.c.rowid == Photo.id)
            .where(_fts_ref.op("MATCH")(match), *clauses)
            .order_by(*by_date.get(sort or "relevance", (rank, Photo.id)))
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
        stmt = stmt.order_by(*first, *by_date[sort if sort in by_date else "taken"])
    return filter_folder(stmt, folder), match


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


def _filter_sql(
    *,
    folder: FolderRef | None,
    date_from: date | datetime | None,
    date_to: date | datetime | None,
    added_since: datetime | None,
    uncaptioned: bool,
    needs_review: bool,
    include_missing: bool,
) -> tuple[str, list[Any]]:
    """The filters of :func:`_filters` as SQL (`` AND ...``, possibly empty) and its arguments.

    The text refers to ``photos`` and ``captions_fts`` as joined in ``_MATCHING``.
    """
    sql: list[str] = []
    args: list[Any] = []
    if not include_missing:
        sql.append(_PRESENT)
    when = "coalesce(photos.taken_at, datetime(photos.mtime, 'unixepoch', 'localtime'))"
    if date_from is not None:
        sql.append(f"{when} >= ?")
        args.append(_day_start(date_from))
    if date_to is not None:
        if isinstance(date_to, datetime):
            sql.append(f"{when} <= ?")
            args.append(date_to.strftime("%Y-%m-%d %H:%M:%S.%f"))
        elif date_to < date.max:
            sql.append(f"{when} < ?")
            args.append(_day_start(date_to + timedelta(days=1)))
    if added_since is not None:
        sql.append("photos.added_at >= ?")  # stored by SQLAlchemy as this text
        args.append(added_since.strftime("%Y-%m-%d %H:%M:%S.%f"))
    has_caption = "EXISTS (SELECT 1 FROM captions WHERE captions.photo_id = photos.id)"
    if uncaptioned:
        sql.append(f"NOT {has_caption}")
    if needs_review:
        sql.append(has_caption)
        sql.append(
            "NOT EXISTS (SELECT 1 FROM captions WHERE captions.photo_id = photos.id "
            "AND (captions.is_user OR captions.reviewed))"
        )
    if isinstance(folder, int):
        # The id range bounds the walk of the index: a folder's photos are mostly added together.
        sql.append(
            f"photos.folder_id = ? AND {FTS_TABLE}.rowid BETWEEN (SELECT min(id) FROM photos WHERE folder_id = ?) "
            "AND (SELECT max(id) FROM photos WHERE folder_id = ?)"
        )
        args += [folder, folder, folder]
    elif folder is not None:
        prefix = _dir_prefix(normalize_path(folder))
        sql.append("substr(photos.path, 1, ?) = ?")
        args += [len(prefix), prefix]
    return "".join(" AND " + clause for clause in sql), args


_BM25 = f"bm25({FTS_TABLE}, {USER_WEIGHT}, {MODEL_WEIGHT}, {NAME_WEIGHT}, {KEYWORD_WEIGHT})"
_SNIPPET = f"snippet({FTS_TABLE}, -1, ?, ?, ?, ?)"
_MATCHING = f"FROM {FTS_TABLE} JOIN photos ON photos.id = {FTS_TABLE}.rowid WHERE {FTS_TABLE} MATCH ?"


def _matches_at_most(cursor: sqlite3.Cursor, match: str, cap: int) -> int:
    """How many rows of the index match, counting no further than ``cap`` (no filters: an upper bound)."""
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ? LIMIT ?)"
    return int(cursor.execute(sql, (match, cap)).fetchone()[0])


_Row = tuple[int, float, str]  # photo id, rank, snippet


def _ranked(
    library: Library,
    parsed: ParsedQuery,
    where: str,
    args: list[Any],
    limit: int,
    offset: int,
    marks: tuple[str, str, str, int],
) -> list[SearchHit]:
    """One page of a text query in relevance order: rank on the index, then load only the page's rows."""
    match = "(" + " AND ".join(parsed.include) + ")"
    if parsed.exclude:
        match += f" NOT ({' OR '.join(parsed.exclude)})"
    with _read_cursor(library) as cursor:
        largest_id = cursor.execute(f"SELECT max(rowid) FROM {FTS_TABLE}").fetchone()[0] or 0
        bm25_limit = BM25_MAX_MATCHES if largest_id <= BM25_SMALL_LIBRARY else BM25_MAX_MATCHES_LARGE
        if _matches_at_most(cursor, match, bm25_limit + 1) <= bm25_limit:
            page = _by_bm25(cursor, match, where, args, limit, offset, marks)
        else:
            # Broad: bm25 would score every match first; the newest photos are found without that.
            page = _newest(cursor, match, where, args, limit, offset, marks)
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


def _by_bm25(
    cursor: sqlite3.Cursor,
    match: str,
    where: str,
    args: list[Any],
    limit: int,
    offset: int,
    marks: tuple[str, str, str, int],
) -> list[_Row]:
    """bm25 of every match (photo id and score only), then snippets for the page's rows."""
    sql = (
        f"SELECT {FTS_TABLE}.rowid, {_BM25} AS score {_MATCHING}{where} "
        f"ORDER BY score, {FTS_TABLE}.rowid LIMIT ? OFFSET ?"
    )
    ranked = cursor.execute(sql, [match, *args, limit, offset]).fetchall()
    snippets = _snippets(cursor, match, [row[0] for row in ranked], marks)
    return [(rowid, score, snippets.get(rowid, "")) for rowid, score in ranked]


def _newest(
    cursor: sqlite3.Cursor,
    match: str,
    where: str,
    args: list[Any],
    limit: int,
    offset: int,
    marks: tuple[str, str, str, int],
) -> list[_Row]:
    """Matches newest first: the index walks its rows by descending id and stops after the page."""
    sql = (
        f"SELECT {FTS_TABLE}.rowid, 0.0, {_SNIPPET} {_MATCHING}{where} "
        f"ORDER BY {FTS_TABLE}.rowid DESC LIMIT ? OFFSET ?"
    )
    rows = cursor.execute(sql, [*marks, match, *args, limit, offset])
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
    *,
    folder: FolderRef | None = None,
    uncaptioned: bool = False,
    needs_review: bool = False,
    added_since: datetime | None = None,
    include_missing: bool = False,
    limit: int | None = None,
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
    cap = -1 if limit is None else max(0, int(limit))  # LIMIT -1: no limit
    query = _as_typed(library, query)
    match = build_match_query(query)
    if match is not None:
        where, args = _filter_sql(
            folder=folder,
            date_from=None,
            date_to=None,
            added_since=added_since,
            uncaptioned=uncaptioned,
            needs_review=needs_review,
            include_missing=include_missing,
        )
        missing_only = where == " AND " + _PRESENT
        try:
            with _read_cursor(library) as cursor:
                if (include_missing and not where) or (missing_only and not _any_missing(cursor)):
                    # No filter to apply: count on the index alone, without a lookup per match.
                    sql = (
                        f"SELECT count(*) FROM (SELECT 1 FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ? LIMIT ?)"
                    )
                    return int(cursor.execute(sql, (match, cap)).fetchone()[0])
                sql = f"SELECT count(*) FROM (SELECT 1 {_MATCHING}{where} LIMIT ?)"
                return int(cursor.execute(sql, [match, *args, cap]).fetchone()[0])
        except sqlite3.Error as exc:
            raise LibraryError(f"counting matches of {query!r} failed: {exc}") from exc
    inner = matching_ids(
        library,
        query,
        folder=folder,
        uncaptioned=uncaptioned,
        needs_review=needs_review,
        added_since=added_since,
        include_missing=include_missing,
    )
    if limit is not None:
        inner = inner.limit(cap)
    counted = select(func.count()).select_from(inner.subquery())
    try:
        with library.session() as session:
            return int(session.scalar(counted) or 0)
    except OperationalError as exc:
        raise LibraryError(f"counting matches of {query!r} failed: {exc.orig}") from exc


def matching_ids(
    library: Library,
    query: str,
    *,
    folder: FolderRef | None = None,
    uncaptioned: bool = False,
    needs_review: bool = False,
    added_since: datetime | None = None,
    include_missing: bool = False,
) -> Any:
    """A ``SELECT photos.id`` of every photo :func:`search` finds for these arguments (no limit),
    to use as ``Photo.id.in_(...)``: an export of "this search" exports what the grid shows.

    The last word is a prefix, as in :func:`search`; symbols alone match nothing.
    """
    if _nothing_searchable(query):
        return select(Photo.id).where(false())
    query = _as_typed(library, query)
    clauses = _filters(
        date_from=None,
        date_to=None,
        added_since=added_since,
        uncaptioned=uncaptioned,
        needs_review=needs_review,
        include_missing=include_missing,
    )
    stmt, _ = _statement(query, folder=folder, clauses=clauses, sort=None)
    return stmt.order_by(None).with_only_columns(Photo.id)


def rebuild_index(library: Library) -> int:
    """Re-derive every row of ``captions_fts`` from the tables (repair); returns the row count."""
    with library.transaction() as session:
        session.execute(text(f"DELETE FROM {FTS_TABLE}"))
        columns = "user_text, model_text, name, keywords"
        # The view of migration 0006 derives each photo's row: the captions it shows, its keywords.
        session.execute(
            text(
                f"INSERT INTO {FTS_TABLE} (rowid, {columns}) SELECT photo_id, {columns} FROM {FTS_ROWS_VIEW}"
            )
        )
        session.execute(text(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('optimize')"))
        return int(session.scalar(text(f"SELECT count(*) FROM {FTS_TABLE}")) or 0)
