"""Hybrid search: full-text matches first, then photos whose captions mean what was typed.

:func:`hybrid_search` runs :func:`~photoscribe.core.library.search.search`
(FTS5, bm25) and a nearest-neighbour search over caption embeddings
(:mod:`~photoscribe.core.library.meaning`), and returns one ranked list:

1. every photo the words match (exact word matches first when they exist),
   in bm25 order;
2. then photos found by meaning only, whose closest caption has a cosine of
   at least ``min_similarity`` to the query, most similar first, flagged
   ``by_meaning``.

``bench/search_quality.py`` measures this order against FTS alone,
embeddings alone, and two reciprocal rank fusions (``rerank=True``: the word
matches reordered by ``1 / (K + rank_fts) + 1 / (K + rank_meaning)``, and
plain RRF of both lists). On the Flickr8k query set the tiers with bm25
order win: RRF moved some exact-word queries' relevant photos out of the
first ten (``docs/search.md``), so it is off by default.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import select, text

from photoscribe.core.library import meaning
from photoscribe.core.library.captions import best_captions
from photoscribe.core.library.filters import NO_FILTERS, FilterArgs, SearchFilters
from photoscribe.core.library.keywords import keywords_by_photo
from photoscribe.core.library.query_parser import SearchMode, build_match_query, parse_query
from photoscribe.core.library.records import PhotoInfo, SearchHit
from photoscribe.core.library.schema import Caption, Photo
from photoscribe.core.library.search import count_matches, search

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's from Python 3.11; only type checkers read it

    from photoscribe.core.library.database import Library


log = logging.getLogger(__name__)

RRF_K = 60  # the usual reciprocal rank fusion constant (Cormack et al., 2009)
MIN_SIMILARITY = 0.20  # meaning-only results below this cosine are left out (see docs/search.md)
MAX_DEPTH = 1_000  # results fused per query (pages beyond are not offered)
_NEGATED = re.compile(r'(?:^|\s)-(?:"[^"]*"|\S+)')


class MeaningSearch:
    """The embedder and in-memory index of one library, created on first use and shared by threads.

    Args:
        library: the library whose ``caption_embeddings`` are searched.
        embedder: a loaded embedder; by default :class:`~photoscribe.core.library.meaning.SentenceEmbedder`
            is loaded on first use (a few seconds).
    """

    def __init__(self, library: Library, embedder: meaning.Embedder | None = None) -> None:
        self.library = library
        self._embedder = embedder
        self._index: meaning.MeaningIndex | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> meaning.Embedder:
        """The embedding model (loaded now if needed).

        Raises:
            MeaningSearchUnavailableError: the ``semantic`` extra is not installed.
        """
        with self._lock:
            if self._embedder is None:
                self._embedder = meaning.SentenceEmbedder()
            return self._embedder

    @property
    def index(self) -> meaning.MeaningIndex:
        """The in-memory index, loaded on first use and brought up to date on every call."""
        embedder = self.embedder
        with self._lock:
            if self._index is None:
                graph = self.library.path.with_name(f"{self.library.path.name}.{embedder.model_id}.hnsw")
                self._index = meaning.MeaningIndex(embedder.model_id, embedder.dim, graph_path=graph)
            index = self._index
        index.refresh(self.library)
        return index


def meaning_text(query: str) -> str:
    """The part of a search-box query to embed: without ``-excluded`` terms and quote marks."""
    return " ".join(_NEGATED.sub(" ", query).replace('"', " ").split())


def default_mode(library: Library) -> tuple[SearchMode, str | None]:
    """``("hybrid", None)`` when meaning search can run, else ``("fts", a one-line hint)``."""
    if not meaning.meaning_search_available():
        return "fts", meaning.EXTRA_HINT
    with library.session() as session:
        if meaning.count_embedded(session, meaning.DEFAULT_MODEL) == 0:
            return (
                "fts",
                "no caption has been embedded yet: run `photoscribe library embed` for meaning search",
            )
    return "hybrid", None


def _by_words_only(
    query: str, meaning_search: MeaningSearch | None, mode: SearchMode, filters: SearchFilters
) -> bool:
    """Whether a search is by words alone: asked for, meaning search not ready, a query without
    words (browsing, only ``-excluded``), or only photos without captions (none has a meaning)."""
    no_words = not parse_query(meaning_text(query)).include
    return mode == "fts" or meaning_search is None or filters.uncaptioned or no_words


def hybrid_search(
    library: Library,
    query: str,
    meaning_search: MeaningSearch | None,
    *,
    mode: SearchMode = "hybrid",
    filters: SearchFilters | None = None,
    limit: int = 100,
    offset: int = 0,
    min_similarity: float = MIN_SIMILARITY,
    rerank: bool = False,
    highlight: tuple[str, str] = ("[", "]"),
    ellipsis: str = "…",
    snippet_tokens: int = 12,
    **narrow: Unpack[FilterArgs],
) -> list[SearchHit]:
    """Search ``query`` by words, by meaning or both (see the module docstring); best first.

    Falls back to full-text search when ``meaning_search`` is ``None``, the query
    has no words (browsing), or only photos without captions are asked for.
    ``filters`` (or its fields as keyword arguments) narrow both; ``highlight``,
    ``ellipsis`` and ``snippet_tokens`` go to :func:`~photoscribe.core.library.search.search`.
    ``rerank=True`` reorders the word matches by reciprocal rank fusion with their meaning
    rank (measured, not better).

    Raises:
        LibraryError: the database could not run the search.
        MeaningSearchUnavailableError: meaning search was asked for and the extra is not installed.
    """
    filters = SearchFilters.of(filters, **narrow)

    def by_words(limit: int, offset: int = 0) -> list[SearchHit]:
        return search(
            library,
            query,
            filters,
            limit=limit,
            offset=offset,
            highlight=highlight,
            ellipsis=ellipsis,
            snippet_tokens=snippet_tokens,
        )

    if _by_words_only(query, meaning_search, mode, filters):
        return by_words(limit, offset)
    assert meaning_search is not None  # _by_words_only says so
    limit, offset = max(0, int(limit)), max(0, int(offset))
    if limit == 0:
        return []
    if mode == "meaning":
        return meaning_only(
            library, query, meaning_search, filters, offset + limit, min_similarity=-1.0, words=False
        )[offset:]
    if rerank:
        fts_hits = by_words(min(MAX_DEPTH, offset + limit))
        return _reranked(library, query, meaning_search, filters, fts_hits, (limit, offset), min_similarity)
    # The word matches, in bm25 order, page by page as search() serves them; the page where they
    # run out is filled with matches by meaning, and later pages hold only those.
    page = by_words(limit, offset)
    if len(page) == limit:
        return page
    # How many word matches there are; past the last one, counted on the pages before.
    words = offset + len(page) if page or offset == 0 else len(by_words(offset))
    start = offset + len(page) - words
    found = meaning_only(
        library, query, meaning_search, filters, start + limit - len(page), min_similarity=min_similarity
    )
    return page + found[start:]


def count_hybrid(
    library: Library,
    query: str,
    meaning_search: MeaningSearch | None,
    filters: SearchFilters | None = None,
    *,
    mode: SearchMode = "hybrid",
    limit: int | None = None,
    min_similarity: float = MIN_SIMILARITY,
) -> int:
    """How many photos :func:`hybrid_search` returns for these arguments without a limit: the word
    matches (counted up to ``limit``, see :func:`~photoscribe.core.library.search.count_matches`)
    and the matches by meaning only (at most :data:`MAX_DEPTH`).

    Raises:
        LibraryError: the database could not run the count.
        MeaningSearchUnavailableError: meaning search was asked for and the extra is not installed.
    """
    filters = filters or NO_FILTERS
    if _by_words_only(query, meaning_search, mode, filters):
        return count_matches(library, query, filters, limit=limit)
    assert meaning_search is not None  # _by_words_only says so
    if mode == "meaning":
        return len(
            meaning_only(library, query, meaning_search, filters, MAX_DEPTH, min_similarity=-1.0, words=False)
        )
    found = meaning_only(library, query, meaning_search, filters, MAX_DEPTH, min_similarity=min_similarity)
    return count_matches(library, query, filters, limit=limit) + len(found)


def meaning_only(
    library: Library,
    query: str,
    meaning_search: MeaningSearch,
    filters: SearchFilters,
    count: int,
    *,
    min_similarity: float = MIN_SIMILARITY,
    words: bool = True,
) -> list[SearchHit]:
    """The first ``count`` photos found by meaning (at most :data:`MAX_DEPTH`), most similar first.

    With ``words``, photos whose captions match the query's words are left
    out (hybrid search lists them first). Only photos that pass ``filters`` are found.
    """
    count = min(MAX_DEPTH, count)
    if count <= 0:
        return []
    index = meaning_search.index
    vector = meaning.encode_query(meaning_search.embedder, meaning_text(query))
    # Nearest captions, best per photo; a photo may have several near captions, so look deeper.
    # Only the caption a photo shows counts (not a discarded model's, nor one a person replaced).
    near: list[tuple[int, int, float]] = []
    for caption_id, photo_id, score in index.nearest(vector, 4 * count + 64):
        if score < min_similarity:
            break
        near.append((caption_id, photo_id, score))
    shown = {pid: c.id for pid, c in library.best_captions(sorted({p for _, p, _ in near})).items()}
    nearest: dict[int, tuple[float, int]] = {}
    for caption_id, photo_id, score in near:
        if photo_id not in nearest and shown.get(photo_id) == caption_id:
            nearest[photo_id] = (score, caption_id)
    allowed = _allowed(
        library, index.model, query if words else meaning_text(query), nearest, filters, words=words
    )
    return _meaning_hits(library, [(p, *nearest[p]) for p in nearest if p in allowed][:count])


def _reranked(
    library: Library,
    query: str,
    meaning_search: MeaningSearch,
    filters: SearchFilters,
    fts_hits: list[SearchHit],
    page: tuple[int, int],
    min_similarity: float,
) -> list[SearchHit]:
    """The ``rerank=True`` order of the word matches ``fts_hits`` (the first :data:`MAX_DEPTH`),
    then the matches by meaning; the page ``(limit, offset)`` of it (for the benchmark)."""
    limit, offset = page
    vector = meaning.encode_query(meaning_search.embedder, meaning_text(query))
    similarity = meaning_search.index.scores_for_photos(vector, sorted(h.photo_id for h in fts_hits))
    fused = _fuse(fts_hits, similarity) + meaning_only(
        library, query, meaning_search, filters, min(MAX_DEPTH, offset + limit), min_similarity=min_similarity
    )
    return fused[offset : offset + limit]


def _fuse(fts_hits: list[SearchHit], similarity: dict[int, float]) -> list[SearchHit]:
    """Reorder the word matches by reciprocal rank fusion of bm25 rank and meaning rank."""
    by_meaning = sorted(fts_hits, key=lambda h: (-similarity.get(h.photo_id, -1.0), h.photo_id))
    meaning_rank = {hit.photo_id: rank for rank, hit in enumerate(by_meaning, 1)}
    scored = [
        (1.0 / (RRF_K + rank) + 1.0 / (RRF_K + meaning_rank[hit.photo_id]), -rank, hit)
        for rank, hit in enumerate(fts_hits, 1)
    ]
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [replace(hit, similarity=similarity.get(hit.photo_id)) for _, _, hit in scored]


def _allowed(
    library: Library,
    model: str,
    query: str,
    nearest: dict[int, tuple[float, int]],
    filters: SearchFilters,
    *,
    words: bool = True,
) -> set[int]:
    """The candidate photos that pass the filters, are not excluded by ``-words``, whose matched
    caption still has this embedding (not edited or deleted since it was indexed), and, with
    ``words``, that the query's words do not match (those are listed before, by full-text search)."""
    if not nearest:
        return set()
    caption_ids = [caption_id for _, caption_id in nearest.values()]
    stmt = (
        select(Photo.id)
        .join(Caption, Caption.photo_id == Photo.id)
        .where(Caption.id.in_(caption_ids), Photo.id.in_(list(nearest)))
        .where(
            text(
                "EXISTS (SELECT 1 FROM caption_embeddings AS e WHERE e.caption_id = captions.id AND e.model = :m)"
            )
        )
        .params(m=model)
    )
    clause = filters.clause()
    if clause is not None:
        stmt = stmt.where(clause)
    exclude = parse_query(query).exclude
    if exclude:
        stmt = stmt.where(
            text(
                "NOT EXISTS (SELECT 1 FROM captions_fts WHERE captions_fts MATCH :ex"
                " AND captions_fts.rowid = photos.id)"
            )
        ).params(ex=" OR ".join(exclude))
    match = build_match_query(query) if words else None
    if match is not None:
        stmt = stmt.where(
            text(
                "NOT EXISTS (SELECT 1 FROM captions_fts WHERE captions_fts MATCH :words"
                " AND captions_fts.rowid = photos.id)"
            )
        ).params(words=match)
    with library.session() as session:
        return {int(photo_id) for photo_id in session.scalars(stmt)}


def _meaning_hits(library: Library, ranked: list[tuple[int, float, int]]) -> list[SearchHit]:
    """Search hits for ``(photo id, cosine, matched caption id)``, in that order, flagged ``by_meaning``."""
    if not ranked:
        return []
    ids = [photo_id for photo_id, _, _ in ranked]
    with library.session() as session:
        photos = {
            p.id: PhotoInfo.from_orm(p) for p in session.scalars(select(Photo).where(Photo.id.in_(ids)))
        }
        rows = session.execute(
            select(Caption.id, Caption.text).where(Caption.id.in_([c for _, _, c in ranked]))
        ).all()
        matched = {int(row[0]): str(row[1]) for row in rows}
        best = best_captions(session, ids)
        keywords = keywords_by_photo(session, ids)
    hits = []
    for photo_id, score, caption_id in ranked:
        photo = photos.get(photo_id)
        if photo is None:
            continue
        caption = best.get(photo_id)
        snippet = matched.get(caption_id) or (caption.text if caption else "")
        words = tuple(k.word for k in keywords.get(photo_id, []))
        hits.append(
            SearchHit(photo, caption, snippet, -score, by_meaning=True, similarity=score, keywords=words)
        )
    return hits
